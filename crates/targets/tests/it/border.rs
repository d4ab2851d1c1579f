//! The border-gate provider against hand-computed values. Four trips and four review items,
//! written by SQL at fixed local times (the border tests' own fixtures go through the whole
//! journey; here only the rows the counts read matter):
//!
//! | trip | gate | quarantine | crossed (local) | booking used | fee paid | checks decided (needed) |
//! |---|---|---|---|---|---|---|
//! | T1 | HN (06184) | plant | 2026-01-05 10:00 | yes | yes | border guard, plant, customs (3 of 3) |
//! | T2 | HN | — | 2026-01-10 09:00 | no | no (assessed only) | customs (1 of 2; border guard pending) |
//! | T3 | TT (06172) | plant,animal | 2026-01-14 23:30 | yes | no | customs, plant, + health, not needed (2 of 4) |
//! | T4 | TT | — | 2026-01-15 00:30 | yes | yes | customs (1 of 2) |
//! | T5 | HN | — | not crossed (in the yard) | | | |
//!
//! Review queue: R1 HN crossing read `no_match`, open (an undeclared crossing); R2 the same,
//! attached by an officer (not one); R3 HN crossing read `ambiguous` (not one); R4 TT yard
//! read `no_match` (not a crossing).
//!
//! Month 2026-01 (15 Dec 2025 – 14 Jan 2026): T1, T2, T3 crossed. Declared crossings 3 of
//! 3 + 1 = 75 %; booked 2/3 = 66.7 %; fee paid online 1/3 = 33.3 %; checks recorded 6 of
//! 3 + 2 + 4 = 9 = 66.7 %; agencies at the five gates: 11, of which 4 decided a check in the
//! window (HN border guard, HN customs, plant quarantine, TT customs; the health check's
//! agency is not at the gates) = 36.4 %. Commune 06184 (HN, DD): crossings 2 of 3 = 66.7 %,
//! agencies 3 of 6 = 50 %; commune 06172 (TT, CN): 1 of 1 = 100 %; a commune without a gate:
//! no value. Year 2026 adds T4: declared 4/5 = 80 %.

use super::indicators::obs;
use super::local_micros;
use super::*;
use tinhso_targets::engine::{OrgUnit, Registry};
use tinhso_targets::period::Period;

async fn exec(db: &Db, sql: &str) {
    sqlx::query(sql)
        .execute(db.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// One trip: its row, its `crossed` stage, its booking, fee and checks.
struct Trip<'a> {
    n: u32,
    gate: &'a str,
    quarantine: &'a str,
    crossed: Option<i64>,
    booked: bool,
    paid: bool,
    /// (check kind, agency, decided).
    checks: &'a [(&'a str, &'a str, bool)],
}

async fn trip(db: &Db, t: &Trip<'_>) {
    let (id, code, plate) = (
        format!("trip-{}", t.n),
        format!("TK-{}-260101-0000{}", t.gate, t.n),
        format!("12C-000.0{}", t.n),
    );
    let at = t.crossed.unwrap_or(local_micros(2026, 1, 12, 8, 0));
    let stage = if t.crossed.is_some() {
        "crossed"
    } else {
        "yard"
    };
    exec(db, &format!("INSERT INTO border_vehicles (plate, country, vehicle_kind, plate_colour, owner_mst, payload_kg, created_at) VALUES ('{plate}', 'vn', 'truck', 'yellow', '4900123467', 30000, 0)")).await;
    exec(db, &format!("INSERT INTO border_trips (id, code, version, enterprise_mst, gate_code, direction, vehicle_plate, trailer_plate, driver_id, expected_arrival, customs_declaration, total_weight_kg, perishable, quarantine, stage, stage_at, created_by, created_at, updated_at) VALUES ('{id}', '{code}', 1, '4900123467', '{}', 'export', '{plate}', NULL, 'drv-1', {at}, '305123456789', 18000, 0, '{}', '{stage}', {at}, 'test', 0, 0)", t.gate, t.quarantine)).await;
    if let Some(c) = t.crossed {
        exec(db, &format!("INSERT INTO border_trip_stages (trip_id, stage, at, source) VALUES ('{id}', 'crossed', {c}, 'camera')")).await;
    }
    if t.booked {
        exec(db, &format!("INSERT INTO border_bookings (id, trip_id, gate_code, direction, hour_start, perishable, status, grace_used, arrive_by, source, created_by, created_at, updated_at) VALUES ('bk-{}', '{id}', '{}', 'export', {at}, 0, 'used', 0, {at}, 'booking', 'test', 0, 0)", t.n, t.gate)).await;
    }
    if t.crossed.is_some() {
        exec(db, &format!("INSERT INTO border_fee_assessments (id, trip_id, trip_code, trip_version, gate_code, fee_date, schedule_id, journey, vehicle_class, category, amount_vnd, collector_vnd, budget_vnd, confirmed, quote, status, assessed_by, assessed_at, paid_at) VALUES ('fa-{}', '{id}', '{code}', 1, '{}', '2026-01-05', 's', 'j', 'v', 'c', 500000, 0, 500000, 1, '{{}}', 'assessed', 'test', 0, NULL)", t.n, t.gate)).await;
        let status = if t.paid { "paid" } else { "pending" };
        exec(db, &format!("INSERT INTO border_fee_payments (id, assessment_id, trip_code, gate_code, amount_vnd, purpose, status, gateway, gateway_txn_id, qr_payload, created_by, created_at, paid_at, receipt_no, collector_vnd, budget_vnd) VALUES ('fp-{}', 'fa-{}', '{code}', '{}', 500000, 'phí', '{status}', 'vietqr', NULL, 'qr', 'test', 0, NULL, NULL, 0, 500000)", t.n, t.n, t.gate)).await;
    }
    for (kind, agency, decided) in t.checks {
        let decided_at = if *decided {
            (at - 3_600_000_000).to_string()
        } else {
            "NULL".into()
        };
        let status = if *decided { "passed" } else { "pending" };
        exec(db, &format!("INSERT INTO border_checks (trip_id, kind, gate_code, agency_code, status, reason, started_at, decided_at, decided_by, updated_at) VALUES ('{id}', '{kind}', '{}', '{agency}', '{status}', NULL, 0, {decided_at}, 'test', 0)", t.gate)).await;
    }
}

async fn review(db: &Db, n: u32, gate: &str, stage: &str, reason: &str, status: &str, at: i64) {
    exec(db, &format!("INSERT INTO border_events (event_id, kind, sensor_id, gate_code, stage, at, plate_text, confidence, ref, trip_id, outcome, received_at) VALUES ('ev-{n}', 'camera', 'cam-{gate}', '{gate}', '{stage}', {at}, '99X99999', 0.9, NULL, NULL, '{reason}', {at})")).await;
    exec(db, &format!("INSERT INTO border_review_queue (event_id, gate_code, stage, at, plate_text, reason, candidates, status, resolved_trip_id, resolved_by, resolved_reason, resolved_at, created_at) VALUES ('ev-{n}', '{gate}', '{stage}', {at}, '99X99999', '{reason}', '[]', '{status}', NULL, NULL, NULL, NULL, {at})")).await;
}

pub async fn fixture(db: &Db) {
    tinhso_border::gates::seed(db).await.unwrap();
    exec(db, "INSERT INTO border_enterprises (mst, name, name_folded, phone, created_by, created_at) VALUES ('4900123467', 'Công ty Hữu Nghị', 'cong ty huu nghi', '0912345678', 'test', 0)").await;
    exec(db, "INSERT INTO border_drivers (id, id_kind, id_number, full_name, phone, nationality, created_at) VALUES ('drv-1', 'cccd', '020090001234', 'Hoàng Văn Bình', '0912345678', 'VN', 0)").await;
    for gate in ["HN", "TT"] {
        exec(db, &format!("INSERT INTO border_sensors (id, kind, gate_code, stage, name_vi, created_at) VALUES ('cam-{gate}', 'camera', '{gate}', 'crossed', 'Camera', 0)")).await;
    }
    let (bg_hn, cu_hn, cu_tt, plant) = (
        "000.01.02.Z37",
        "000.01.01.Z37",
        "000.02.01.Z37",
        "000.00.03.Z37",
    );
    for t in [
        Trip {
            n: 1,
            gate: "HN",
            quarantine: "plant",
            crossed: Some(local_micros(2026, 1, 5, 10, 0)),
            booked: true,
            paid: true,
            checks: &[
                ("border_guard", bg_hn, true),
                ("plant_quarantine", plant, true),
                ("customs", cu_hn, true),
            ],
        },
        Trip {
            n: 2,
            gate: "HN",
            quarantine: "",
            crossed: Some(local_micros(2026, 1, 10, 9, 0)),
            booked: false,
            paid: false,
            checks: &[("border_guard", bg_hn, false), ("customs", cu_hn, true)],
        },
        Trip {
            n: 3,
            gate: "TT",
            quarantine: "plant,animal",
            crossed: Some(local_micros(2026, 1, 14, 23, 30)),
            booked: true,
            paid: false,
            checks: &[
                ("customs", cu_tt, true),
                ("plant_quarantine", plant, true),
                ("health_quarantine", "000.99.99.Z37", true),
            ],
        },
        Trip {
            n: 4,
            gate: "TT",
            quarantine: "",
            crossed: Some(local_micros(2026, 1, 15, 0, 30)),
            booked: true,
            paid: true,
            checks: &[("customs", cu_tt, true)],
        },
        Trip {
            n: 5,
            gate: "HN",
            quarantine: "",
            crossed: None,
            booked: false,
            paid: false,
            checks: &[],
        },
    ] {
        trip(db, &t).await;
    }
    let at = local_micros(2026, 1, 8, 12, 0);
    review(db, 1, "HN", "crossed", "no_match", "open", at).await;
    review(db, 2, "HN", "crossed", "no_match", "attached", at).await;
    review(db, 3, "HN", "crossed", "ambiguous", "open", at).await;
    review(db, 4, "TT", "yard", "no_match", "open", at).await;
}

#[tokio::test]
async fn border_shares_match_hand_computed_values() {
    let t = env().await;
    let db = &t.db;
    fixture(db).await;
    let p = OrgUnit::Province;
    assert_eq!(
        obs(db, "border.declared_crossings", "2026-01", &p).await,
        (Some(3.0), Some(4.0), Some(75.0))
    );
    assert_eq!(
        obs(db, "border.booked_crossings", "2026-01", &p).await,
        (Some(2.0), Some(3.0), Some(66.7))
    );
    assert_eq!(
        obs(db, "border.fees_online", "2026-01", &p).await,
        (Some(1.0), Some(3.0), Some(33.3))
    );
    assert_eq!(
        obs(db, "border.checks_on_platform", "2026-01", &p).await,
        (Some(6.0), Some(9.0), Some(66.7))
    );
    assert_eq!(
        obs(db, "border.agencies_active", "2026-01", &p).await,
        (Some(4.0), Some(11.0), Some(36.4))
    );
    assert_eq!(
        obs(db, "border.declared_crossings", "2026", &p).await,
        (Some(4.0), Some(5.0), Some(80.0))
    );
    let hn = OrgUnit::Commune("06184".into());
    assert_eq!(
        obs(db, "border.declared_crossings", "2026-01", &hn).await,
        (Some(2.0), Some(3.0), Some(66.7))
    );
    assert_eq!(
        obs(db, "border.agencies_active", "2026-01", &hn).await,
        (Some(3.0), Some(6.0), Some(50.0))
    );
    let tt = OrgUnit::Commune("06172".into());
    assert_eq!(
        obs(db, "border.declared_crossings", "2026-01", &tt).await,
        (Some(1.0), Some(1.0), Some(100.0))
    );
    let none = OrgUnit::Commune("05986".into());
    assert_eq!(
        obs(db, "border.declared_crossings", "2026-01", &none).await,
        (Some(0.0), Some(0.0), None)
    );
    // Not broken down by agency.
    let o = Registry::standard()
        .observe(
            db,
            "border.fees_online",
            Period::parse("2026-01").unwrap(),
            &OrgUnit::Agency("000.01.01.Z37".into()),
        )
        .await
        .unwrap();
    assert!(o.is_none());
    // The trips behind the January number, newest first.
    let trips =
        tinhso_border::indicators::crossed_trips(db, ymd(2025, 12, 15), ymd(2026, 1, 15), None, 10)
            .await
            .unwrap();
    let codes: Vec<(&str, bool, bool)> = trips
        .iter()
        .map(|t| (t.code.as_str(), t.booked, t.fee_paid))
        .collect();
    assert_eq!(
        codes,
        [
            ("TK-TT-260101-00003", true, false),
            ("TK-HN-260101-00002", false, false),
            ("TK-HN-260101-00001", true, true)
        ]
    );
}

#[tokio::test]
async fn the_border_targets_are_wired_live() {
    let t = env().await;
    let targets = tinhso_targets::plan::targets(&t.db).await.unwrap();
    let key = |id: &str| {
        targets
            .iter()
            .find(|t| t.id == id)
            .unwrap()
            .indicator_key
            .clone()
    };
    assert_eq!(
        key("border.services-on-one-platform"),
        "border.declared_crossings"
    );
    assert_eq!(
        key("border.agencies-on-one-platform"),
        "border.agencies_active"
    );
    assert_eq!(
        key("border.supervision-on-platform"),
        "border.checks_on_platform"
    );
    assert_eq!(key("border.modern-tech"), "reported.border.modern-tech");
}

/// The border's daily roll-up follows changes made after it was built — by plain SQL here: a
/// crossing moved across local midnight, a fee paid, a pending check decided, a booking
/// cancelled, an undeclared read attached, a trip's quarantine corrected — and always equals
/// the counts from the raw rows, for the province and a commune.
#[tokio::test]
async fn the_border_rollup_follows_every_change() {
    use tinhso_border::indicators::{refresh_rollup, shares, shares_from_rows};
    let t = env().await;
    let db = &t.db;
    fixture(db).await;
    let d = |y, m, day| chrono::NaiveDate::from_ymd_opt(y, m, day).unwrap();
    let windows = [
        (d(2025, 12, 15), d(2026, 1, 15)),
        (d(2026, 1, 14), d(2026, 1, 15)),
        (d(2026, 1, 15), d(2026, 1, 16)),
        (d(2026, 1, 1), d(2027, 1, 1)),
    ];
    let check = |what: &'static str| async move {
        for (from, to) in windows {
            for commune in [None, Some("06184"), Some("06172")] {
                assert_eq!(
                    shares(db, from, to, commune).await.unwrap(),
                    shares_from_rows(db, from, to, commune).await.unwrap(),
                    "{from}..{to} {commune:?} {what}"
                );
            }
        }
    };
    check("before the changes").await;
    let before = shares(db, d(2026, 1, 1), d(2027, 1, 1), None)
        .await
        .unwrap();
    assert_eq!(
        refresh_rollup(db).await.unwrap(),
        0,
        "nothing left after a read"
    );
    let late = local_micros(2026, 1, 15, 0, 10);
    for sql in [
        format!("UPDATE border_trip_stages SET at = {late} WHERE trip_id = 'trip-3'"),
        "UPDATE border_fee_payments SET status = 'paid' WHERE id = 'fp-2'".to_string(),
        format!(
            "UPDATE border_checks SET status = 'passed', decided_at = {late} \
             WHERE trip_id = 'trip-2' AND kind = 'border_guard'"
        ),
        "UPDATE border_bookings SET status = 'cancelled' WHERE id = 'bk-4'".to_string(),
        "UPDATE border_review_queue SET status = 'attached' WHERE event_id = 'ev-1'".to_string(),
        "UPDATE border_trips SET quarantine = 'plant' WHERE id = 'trip-2'".to_string(),
        "DELETE FROM border_checks WHERE trip_id = 'trip-4'".to_string(),
    ] {
        exec(db, &sql).await;
        check("after a change").await;
    }
    let after = shares(db, d(2026, 1, 1), d(2027, 1, 1), None)
        .await
        .unwrap();
    assert_eq!(after.crossed_fee_paid, before.crossed_fee_paid + 1);
    assert_eq!(after.crossed_booked, before.crossed_booked - 1);
    assert_eq!(after.undeclared_crossings, before.undeclared_crossings - 1);
}

/// `key` for `period` and `org` broken down `by`: (category, numerator, denominator, value)
/// per category, after checking that the categories' numerators and denominators add up to
/// the undivided value's.
async fn by(
    db: &Db,
    key: &str,
    period: &str,
    org: &OrgUnit,
    by: &str,
) -> Vec<(String, f64, f64, Option<f64>)> {
    let d = Registry::standard()
        .observe_by(db, key, Period::parse(period).unwrap(), org, by)
        .await
        .unwrap();
    assert_eq!((d.indicator.as_str(), d.by.as_str()), (key, by));
    let total = d.total.unwrap();
    let rows: Vec<(String, f64, f64, Option<f64>)> = d
        .categories
        .iter()
        .map(|c| {
            (
                c.category.clone(),
                c.numerator.unwrap(),
                c.denominator.unwrap(),
                c.value,
            )
        })
        .collect();
    let (n, den): (f64, f64) = rows
        .iter()
        .map(|r| (r.1, r.2))
        .fold((0.0, 0.0), |a, r| (a.0 + r.0, a.1 + r.1));
    assert_eq!(
        (Some(n), Some(den)),
        (total.numerator, total.denominator),
        "{key} by {by} for {period} at {org}: the categories add up to the total"
    );
    rows
}

fn row(c: &str, n: f64, d: f64, v: Option<f64>) -> (String, f64, f64, Option<f64>) {
    (c.to_string(), n, d, v)
}

/// The fixture's month 2026-01 broken down by hand (see the table at the top): by gate, HN has
/// T1, T2 and the open undeclared read R1; TT has T3; the other three gates nothing (gates in
/// the module's order). By
/// quarantine class: T2 none, T1 plant, T3 plant + animal.
#[tokio::test]
async fn border_shares_by_gate_and_quarantine_match_hand_computed_values() {
    let t = env().await;
    let db = &t.db;
    fixture(db).await;
    let p = OrgUnit::Province;
    let empty = |g: &str| row(g, 0.0, 0.0, None);
    assert_eq!(
        by(db, "border.declared_crossings", "2026-01", &p, "gate").await,
        [
            row("HN", 2.0, 3.0, Some(66.7)),
            row("TT", 1.0, 1.0, Some(100.0)),
            empty("CM"),
            empty("CN"),
            empty("DD"),
        ]
    );
    let gate = |rows: Vec<(String, f64, f64, Option<f64>)>| -> Vec<_> {
        rows.into_iter().filter(|r| r.2 > 0.0).collect()
    };
    assert_eq!(
        gate(by(db, "border.booked_crossings", "2026-01", &p, "gate").await),
        [
            row("HN", 1.0, 2.0, Some(50.0)),
            row("TT", 1.0, 1.0, Some(100.0))
        ]
    );
    assert_eq!(
        gate(by(db, "border.fees_online", "2026-01", &p, "gate").await),
        [
            row("HN", 1.0, 2.0, Some(50.0)),
            row("TT", 0.0, 1.0, Some(0.0))
        ]
    );
    assert_eq!(
        gate(by(db, "border.checks_on_platform", "2026-01", &p, "gate").await),
        [
            row("HN", 4.0, 5.0, Some(80.0)),
            row("TT", 2.0, 4.0, Some(50.0))
        ]
    );
    assert_eq!(
        by(db, "border.booked_crossings", "2026-01", &p, "quarantine").await,
        [
            row("none", 0.0, 1.0, Some(0.0)),
            row("plant", 1.0, 1.0, Some(100.0)),
            row("plant,animal", 1.0, 1.0, Some(100.0)),
        ]
    );
    assert_eq!(
        by(db, "border.checks_on_platform", "2026-01", &p, "quarantine").await,
        [
            row("none", 1.0, 2.0, Some(50.0)),
            row("plant", 3.0, 3.0, Some(100.0)),
            row("plant,animal", 2.0, 4.0, Some(50.0)),
        ]
    );
    // The year adds T4 (TT, no quarantine, booked, paid): declared 4 of 5.
    assert_eq!(
        gate(by(db, "border.declared_crossings", "2026", &p, "gate").await),
        [
            row("HN", 2.0, 3.0, Some(66.7)),
            row("TT", 2.0, 2.0, Some(100.0))
        ]
    );
    assert_eq!(
        by(db, "border.fees_online", "2026", &p, "quarantine").await,
        [
            row("none", 1.0, 2.0, Some(50.0)),
            row("plant", 1.0, 1.0, Some(100.0)),
            row("plant,animal", 0.0, 1.0, Some(0.0)),
        ]
    );
    // A commune: only its gates (06184 holds HN and DD).
    let hn = OrgUnit::Commune("06184".into());
    assert_eq!(
        by(db, "border.declared_crossings", "2026-01", &hn, "gate").await,
        [row("HN", 2.0, 3.0, Some(66.7)), empty("DD")]
    );
    // Labels in both languages: the gate's name, the quarantine class.
    let d = Registry::standard()
        .observe_by(
            db,
            "border.checks_on_platform",
            Period::parse("2026-01").unwrap(),
            &p,
            "quarantine",
        )
        .await
        .unwrap();
    let labels: Vec<(&str, &str)> = d
        .categories
        .iter()
        .map(|c| (c.label_vi.as_str(), c.label_en.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("không cần kiểm dịch", "no quarantine"),
            ("thực vật", "plant"),
            ("thực vật + động vật", "plant + animal")
        ]
    );
}

#[tokio::test]
async fn an_unsupported_disaggregation_is_refused_naming_the_supported_ones() {
    let t = env().await;
    let db = &t.db;
    fixture(db).await;
    let ask = |key: &'static str, by: &'static str| async move {
        Registry::standard()
            .observe_by(
                db,
                key,
                Period::parse("2026-01").unwrap(),
                &OrgUnit::Province,
                by,
            )
            .await
            .unwrap_err()
    };
    // An undeclared camera read has no quarantine class: the declared share is by gate only.
    let e = ask("border.declared_crossings", "quarantine").await;
    assert_eq!(e.status(), 422);
    let f = &e.fields[0];
    assert_eq!((f.field.as_str(), f.code), ("by", "disaggregation"));
    assert!(
        f.message_vi.contains("chỉ phân tổ theo gate"),
        "{}",
        f.message_vi
    );
    assert!(f.message_en.contains("only by gate"), "{}", f.message_en);
    let e = ask("border.fees_online", "sex").await;
    assert!(e.fields[0].message_en.contains("only by gate, quarantine"));
    // A distinct count of agencies does not split: none supported.
    let e = ask("border.agencies_active", "gate").await;
    assert_eq!(e.fields[0].field, "by");
    assert!(e.fields[0].message_en.contains("has no disaggregation"));
    assert!(e.fields[0].message_vi.contains("không phân tổ được"));
    // An unknown indicator is still named as such.
    let e = ask("border.nothing", "gate").await;
    assert_eq!(e.fields[0].code, "indicator_unknown");
}
