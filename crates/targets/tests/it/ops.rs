//! The operations centre against hand-computed values, on the services dossiers of
//! [`super::indicators::world`] and the border trips of [`super::border::fixture`]:
//! the records behind a number, the values by commune, the trend, projection and status of a
//! target, and the live counters.

use super::*;
use tinhso_targets::board::Status;
use tinhso_targets::engine::{OrgUnit, Registry};
use tinhso_targets::ops;
use tinhso_targets::period::Period;
use tinhso_targets::reported::{self, NewValue};

fn counted(rows: &[tinhso_services::indicators::Record]) -> Vec<bool> {
    rows.iter().map(|r| r.counted).collect()
}

#[tokio::test]
async fn the_records_behind_the_numbers() {
    let t = env().await;
    let db = &t.db;
    super::indicators::world(db).await;
    let (from, to) = (ymd(2025, 12, 15), ymd(2026, 1, 15));
    let tt = [UBND_TAM_THANH.to_string()];
    let list = |key: &'static str| {
        let tt = tt.clone();
        async move {
            tinhso_services::indicators::records(db, key, from, to, Some(&tt), 100)
                .await
                .unwrap()
        }
    };
    // On time: B finished 13 Jan (late), A 10 Jan (on time): newest first.
    assert_eq!(counted(&list("on_time").await.unwrap()), [false, true]);
    // Online: B (counter, 6 Jan), A (online, 5 Jan), C (online, 20 Dec).
    assert_eq!(counted(&list("online").await.unwrap()), [false, true, true]);
    // With a fee: B (paid at the counter), A (paid online).
    assert_eq!(
        counted(&list("online_payment").await.unwrap()),
        [false, true]
    );
    // Returned: A, without an electronic result.
    assert_eq!(counted(&list("electronic_result").await.unwrap()), [false]);
    assert!(list("satisfaction").await.is_none());
    // The counts agree with the engine: numerator = the ticked rows, denominator = all rows.
    let jan = Period::parse("2026-01").unwrap();
    let agency = OrgUnit::Agency(UBND_TAM_THANH.into());
    for key in ["on_time", "online", "online_payment", "electronic_result"] {
        let rows = list(key).await.unwrap();
        let o = Registry::standard()
            .observe(db, &format!("services.{key}"), jan, &agency)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(o.denominator, Some(rows.len() as f64), "{key}");
        assert_eq!(
            o.numerator,
            Some(rows.iter().filter(|r| r.counted).count() as f64),
            "{key}"
        );
    }
    // Through the operations centre: links to the back-office pages.
    let rows = ops::records(db, "services.online", jan, &agency, 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .all(|r| r.href == format!("/nghiep-vu/ho-so/{}", r.code)));
    // A province has no single list.
    assert!(
        ops::records(db, "services.online", jan, &OrgUnit::Province, 10)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn values_by_commune_match_the_engine() {
    let t = env().await;
    let db = &t.db;
    super::indicators::world(db).await;
    super::border::fixture(db).await;
    let r = Registry::standard();
    let jan = Period::parse("2026-01").unwrap();
    let rows = ops::by_commune(db, &r, "services.online", jan)
        .await
        .unwrap();
    assert_eq!(rows.len(), 65);
    let get = |rows: &[ops::Child], org: &str| {
        rows.iter()
            .find(|c| c.org == org)
            .unwrap()
            .observation
            .clone()
    };
    // Tam Thanh: A, B, C received, two online (66.7 %), as the engine says.
    let tt = get(&rows, "commune:05986").unwrap();
    assert_eq!(
        (tt.numerator, tt.denominator, tt.value),
        (Some(2.0), Some(3.0), Some(66.7))
    );
    let engine = r
        .observe(
            db,
            "services.online",
            jan,
            &OrgUnit::Commune("05986".into()),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tt.value, engine.value);
    // Another commune: nothing received, no value.
    assert_eq!(get(&rows, "commune:06184").unwrap().value, None);
    // Border: only the communes with a gate.
    let rows = ops::by_commune(db, &r, "border.declared_crossings", jan)
        .await
        .unwrap();
    assert_eq!(get(&rows, "commune:06184").unwrap().value, Some(66.7));
    assert_eq!(get(&rows, "commune:06172").unwrap().value, Some(100.0));
    assert!(get(&rows, "commune:05986").is_none());
    assert_eq!(rows.iter().filter(|c| c.observation.is_some()).count(), 3);
    // The trips behind a commune's border number.
    let trips = ops::records(
        db,
        "border.booked_crossings",
        jan,
        &OrgUnit::Commune("06184".into()),
        10,
    )
    .await
    .unwrap()
    .unwrap();
    let got: Vec<(&str, bool)> = trips.iter().map(|t| (t.code.as_str(), t.counted)).collect();
    assert_eq!(
        got,
        [("TK-HN-260101-00002", false), ("TK-HN-260101-00001", true)]
    );
    // A rank among the provinces has no value by commune; an unknown key is refused.
    let rank = ops::by_commune(db, &r, "reported.overall.dti-top10", jan)
        .await
        .unwrap();
    assert_eq!(rank.len(), 65);
    assert!(rank.iter().all(|c| c.observation.is_none()));
    assert!(ops::by_commune(db, &r, "reported.no-such", jan)
        .await
        .is_err());
}

async fn report_for(db: &Db, indicator: &str, period: &str, org: &str, value: &str) {
    let c = reported::check(
        db,
        &NewValue {
            indicator: indicator.into(),
            period: period.into(),
            org: org.into(),
            value: value.into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    reported::record(db, &sys(), &c).await.unwrap();
}

#[tokio::test]
async fn every_indicator_with_communes_has_a_map_and_the_others_say_why() {
    let t = env().await;
    let db = &t.db;
    super::indicators::world(db).await;
    super::border::fixture(db).await;
    let r = Registry::standard();
    let p = |s: &str| Period::parse(s).unwrap();
    let key = "reported.soc.e-payment-accounts";
    // A People's Committee other than Tam Thanh's, and its commune.
    let (other, other_commune) = another_committee(&r, db).await;
    // Tam Thanh reports for itself (30, corrected to 35) and its committee 99: the commune's
    // own current value wins; the other commune only through its committee (50).
    report_for(db, key, "2025", "commune:05986", "30").await;
    report_for(db, key, "2025", "commune:05986", "35").await;
    report_for(db, key, "2025", &format!("agency:{UBND_TAM_THANH}"), "99").await;
    report_for(db, key, "2025", &format!("agency:{}", other.code), "50").await;
    // The province's own value is not a commune's.
    report_for(db, key, "2025", "province", "42").await;
    let m = ops::commune_map(db, &r, key, p("2025")).await.unwrap();
    assert_eq!(m.indicator.source, tinhso_targets::engine::Source::Reported);
    assert_eq!(m.indicator.kind, tinhso_targets::engine::Kind::Percent);
    assert!(m.empty.is_none());
    let value = |m: &ops::CommuneMap, org: &str| {
        m.communes
            .iter()
            .find(|c| c.org == org)
            .and_then(|c| c.observation.as_ref())
            .and_then(|o| o.value)
    };
    assert_eq!(value(&m, "commune:05986"), Some(35.0));
    assert_eq!(value(&m, &format!("commune:{other_commune}")), Some(50.0));
    let shown = m
        .communes
        .iter()
        .filter(|c| c.observation.is_some())
        .count();
    assert_eq!(shown, 2);
    // Another period: no value, and the reason names the periods that have some.
    let m = ops::commune_map(db, &r, key, p("2026")).await.unwrap();
    assert!(!m.has_values());
    let why = m.empty.unwrap();
    assert!(
        why.vi.contains("kỳ 2026") && why.vi.contains("2025"),
        "{}",
        why.vi
    );
    assert!(
        why.en.contains("for 2026") && why.en.ends_with("2025."),
        "{}",
        why.en
    );
    // Reported for the province only: no commune has, said so.
    report_for(
        db,
        "reported.soc.fibre-households",
        "2025",
        "province",
        "40",
    )
    .await;
    let why = ops::commune_map(db, &r, "reported.soc.fibre-households", p("2025"))
        .await
        .unwrap()
        .empty
        .unwrap();
    assert!(why.en.starts_with("No commune has reported"), "{}", why.en);
    // A rank: no commune dimension.
    let why = ops::commune_map(db, &r, "reported.overall.dti-top10", p("2025"))
        .await
        .unwrap()
        .empty
        .unwrap();
    assert!(why.en.contains("rank among the provinces"), "{}", why.en);

    // Live indicators beyond public services: the border's (communes with a gate), the DVCQG
    // sync rate and the platform's use (each commune's People's Committee).
    let jan = p("2026-01");
    let b = ops::commune_map(db, &r, "border.declared_crossings", jan)
        .await
        .unwrap();
    assert!(b.empty.is_none());
    assert_eq!(value(&b, "commune:06184"), Some(66.7));
    let b = ops::commune_map(db, &r, "border.declared_crossings", p("2024"))
        .await
        .unwrap();
    assert!(b
        .empty
        .unwrap()
        .en
        .contains("Only the communes with a border gate"));
    for key in [
        "connectors.dvcqg_sync",
        "identity.staff_digital_identity",
        "platform.agencies_active",
        "exchange.agencies_connected",
        "reports.regimes_digital",
    ] {
        let m = ops::commune_map(db, &r, key, jan).await.unwrap();
        assert_eq!(m.communes.len(), 65, "{key}");
        // Each commune's value is the engine's for that commune.
        for c in m.communes.iter().take(5) {
            let org = OrgUnit::parse(&c.org).unwrap();
            let engine = r.observe(db, key, jan, &org).await.unwrap();
            assert_eq!(
                c.observation.as_ref().map(|o| (o.numerator, o.denominator)),
                engine.as_ref().map(|o| (o.numerator, o.denominator)),
                "{key} {}",
                c.org
            );
        }
        assert_eq!(m.empty.is_none(), m.has_values(), "{key}");
    }
    // The sync rate: Tam Thanh's committee received A, B, C in January's window, none
    // synchronised (no sync state).
    let s = ops::commune_map(db, &r, "connectors.dvcqg_sync", jan)
        .await
        .unwrap();
    let tt = s
        .communes
        .iter()
        .find(|c| c.org == "commune:05986")
        .and_then(|c| c.observation.clone())
        .unwrap();
    assert_eq!((tt.numerator, tt.denominator), (Some(0.0), Some(3.0)));
    // The map's choices: every live indicator, then the plans' reported ones, once each.
    let all = ops::map_indicators(db, &r).await.unwrap();
    let first_reported = all
        .iter()
        .position(|m| m.source == tinhso_targets::engine::Source::Reported)
        .unwrap();
    assert!(all[..first_reported]
        .iter()
        .all(|m| m.source == tinhso_targets::engine::Source::Live));
    assert!(all[first_reported..]
        .iter()
        .all(|m| m.source == tinhso_targets::engine::Source::Reported));
    assert!(all.iter().any(|m| m.key == "connectors.dvcqg_sync"));
    assert!(all.iter().any(|m| m.key == key));
    let mut keys: Vec<&str> = all.iter().map(|m| m.key.as_str()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), all.len());
    let e = ops::commune_map(db, &r, "services.nothing", jan)
        .await
        .unwrap_err();
    assert_eq!(e.fields[0].field, "indicator");
}

#[tokio::test]
async fn a_screen_reads_the_border_gates_once() {
    let t = env().await;
    let db = &t.db;
    super::border::fixture(db).await;
    let today = ymd(2026, 1, 14);
    let now = tinhso_services::indicators::local_midnight_micros(today) + 12 * 3_600_000_000;
    let r = Registry::standard();
    ops::centre(db, &r, today, now).await.unwrap();
    // Renamed after the screen: the screen's view kept the gates it read once (its queue,
    // forecast and border indicators shared them) and a later part of the same page sees the
    // same; a new page view reads the change.
    let mut tx = db.begin_write().await.unwrap();
    sqlx::query("UPDATE border_gates SET name_vi = 'Đã đổi tên' WHERE code = 'HN'")
        .execute(tx.conn())
        .await
        .unwrap();
    tinhso_border::gates::changed(tx.conn()).await.unwrap();
    tx.commit().await.unwrap();
    let name = |gates: Vec<tinhso_border::gates::Gate>| {
        gates
            .into_iter()
            .find(|g| g.code == "HN")
            .map(|g| g.name_vi)
            .unwrap()
    };
    let kept = r.in_view(tinhso_border::gates::list(db)).await.unwrap();
    assert_ne!(name(kept), "Đã đổi tên");
    let fresh = Registry::standard()
        .in_view(tinhso_border::gates::list(db))
        .await
        .unwrap();
    assert_eq!(name(fresh), "Đã đổi tên");
    // Outside a page view: read at each call.
    assert_eq!(
        name(tinhso_border::gates::list(db).await.unwrap()),
        "Đã đổi tên"
    );
}

#[tokio::test]
async fn trends_projections_statuses_and_counters() {
    let t = env().await;
    let db = &t.db;
    super::indicators::world(db).await;
    super::border::fixture(db).await;
    // E-payment accounts, reported: 44 % (2023), 43 (2024), 42 (2025); 2024 corrected from 50.
    for (period, value) in [
        ("2023", "44"),
        ("2024", "50"),
        ("2024", "43"),
        ("2025", "42"),
    ] {
        report_for(
            db,
            "reported.soc.e-payment-accounts",
            period,
            "province",
            value,
        )
        .await;
    }
    let today = ymd(2026, 1, 14);
    let now = tinhso_services::indicators::local_midnight_micros(today) + 12 * 3_600_000_000;
    let c = ops::centre(db, &Registry::standard(), today, now)
        .await
        .unwrap();
    assert_eq!(c.targets.len(), 43);
    assert_eq!(c.period, "2026");
    let target = |id: &str| c.targets.iter().find(|t| t.line.target.id == id).unwrap();

    // The trend: the current versions, one point a year (x ≈ the window's middle).
    let t30 = target("soc.e-payment-accounts-2030");
    let values: Vec<f64> = t30.trend.iter().map(|p| p.value).collect();
    assert_eq!(values, [44.0, 43.0, 42.0]);
    assert!((t30.trend[2].x - 2025.452).abs() < 0.001, "{:?}", t30.trend);
    // −1 point a year: at the end of 2030 (x = 2031.0), 42 − 5.548 = 36.5 %.
    assert_eq!(t30.projection, Some(36.5));
    // Now: 42 % against an expected 80 × 0.504 = 40.3 %: on track on the board; projected far
    // short of 80 % (beyond the 8-point tolerance): at risk.
    assert_eq!(t30.line.status, Status::OnTrack);
    assert_eq!(t30.overall, Status::AtRisk);
    // The 2025 target is past its horizon: no projection; 42 against 50 (tolerance 5): off.
    let t25 = target("soc.e-payment-accounts-2025");
    assert_eq!(t25.projection, None);
    assert_eq!(
        (t25.line.status, t25.overall),
        (Status::OffTrack, Status::OffTrack)
    );

    // A live target's trend: quarters 2024-Q4 … 2026-Q1; only 2026-Q1 (15 Dec – 14 Mar) has
    // crossings: T1–T4 and one undeclared read, 80 %.
    let b = target("border.services-on-one-platform");
    assert_eq!(b.trend.len(), 1);
    assert_eq!(
        (b.trend[0].period.as_str(), b.trend[0].value),
        ("2026-Q1", 80.0)
    );
    assert_eq!(b.projection, None);

    // Counters: E was received on 14 Jan; month 2026-01 on time 1 of 2; T5 in the yard; three
    // reads open for review (R1, R3, R4); nothing overdue (C has no promised date).
    let k = &c.counters;
    assert_eq!(k.received_today, 1);
    let on_time = k.on_time.as_ref().unwrap();
    assert_eq!(
        (on_time.period.as_str(), on_time.value),
        ("2026-01", Some(50.0))
    );
    assert_eq!((k.at_border, k.review_open, k.overdue), (1, 3, 0));
    assert_eq!(k.queue, 1);
    assert!(c
        .alerts
        .iter()
        .any(|a| a.key == "border_review" && a.count == 3));
    assert!(!c.alerts.iter().any(|a| a.key == "overdue"));
    // One truck in a yard: no congestion forecast.
    assert!(!c.alerts.iter().any(|a| a.key == "border_congestion"));
}
