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

const UBND_TAM_THANH: &str = "000.00.23.H37";

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
    // A reported indicator has no map.
    assert!(ops::by_commune(db, &r, "reported.overall.dti-top10", jan)
        .await
        .is_err());
}

async fn report(db: &Db, period: &str, value: &str) {
    let c = reported::check(
        db,
        &NewValue {
            indicator: "reported.soc.e-payment-accounts".into(),
            period: period.into(),
            org: "province".into(),
            value: value.into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    reported::record(db, &sys(), &c).await.unwrap();
}

#[tokio::test]
async fn trends_projections_statuses_and_counters() {
    let t = env().await;
    let db = &t.db;
    super::indicators::world(db).await;
    super::border::fixture(db).await;
    // E-payment accounts, reported: 44 % (2023), 43 (2024), 42 (2025); 2024 corrected from 50.
    report(db, "2023", "44").await;
    report(db, "2024", "50").await;
    report(db, "2024", "43").await;
    report(db, "2025", "42").await;
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
