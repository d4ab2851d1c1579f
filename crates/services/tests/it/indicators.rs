//! Decision 766 indicators from dossiers with known outcomes: on time, late (by date, across
//! local midnight, by a second supplement request), online and counter, fees paid and unpaid,
//! electronic and paper results; two agencies, the province, the agency filter, an empty period.

use super::*;
use tinhso_services::indicators::{self, AgencyIndicators, Report};

/// What a dossier becomes after submission (set by SQL).
struct Outcome {
    status: i64,
    channel: i64,
    submitted: i64,
    finished: Option<i64>,
    returned: Option<i64>,
    due: Option<&'static str>,
    supplements: i64,
    fee: i64,
    paid: i64,
}

impl Default for Outcome {
    fn default() -> Self {
        Outcome {
            status: 1,
            channel: 2,
            submitted: local_micros(2026, 1, 5, 9, 0),
            finished: None,
            returned: None,
            due: None,
            supplements: 0,
            fee: 0,
            paid: 0,
        }
    }
}

async fn set(db: &Db, code: &str, o: Outcome) {
    sqlx::query(
        "UPDATE dossiers SET status = $1, channel = $2, submitted_at = $3, finished_at = $4, \
         returned_at = $5, due_date = $6, supplement_count = $7, fee_vnd = $8, paid_vnd = $9 \
         WHERE code = $10",
    )
    .bind(o.status)
    .bind(o.channel)
    .bind(o.submitted)
    .bind(o.finished)
    .bind(o.returned)
    .bind(o.due)
    .bind(o.supplements)
    .bind(o.fee)
    .bind(o.paid)
    .bind(code)
    .execute(db.pool())
    .await
    .unwrap();
}

async fn new_dossier(db: &Db, s: &Submission, o: Outcome) -> String {
    let code = submit_anon(db, s).await.dossier.code;
    set(db, &code, o).await;
    code
}

/// A birth registration at Tam Thanh taken through the whole life cycle by `transition`, its
/// electronic result issued at the approval; returns its code.
async fn returned(db: &Db, s: &Staff) -> String {
    let code = submit_anon(db, &birth(TAM_THANH)).await.dossier.code;
    for (p, a) in [
        (&s.one_stop, "accept"),
        (&s.one_stop, "forward"),
        (&s.officer, "forward"),
        (&s.leader, "approve"),
        (&s.one_stop, "return_result"),
    ] {
        act(db, p, &code, a, "").await.unwrap();
    }
    code
}

/// Eight dossiers at UBND phường Tam Thanh and three at Sở Tài chính (see the expectations).
async fn world(db: &Db) {
    // T1: the whole life cycle through `transition`, then dated into January 2026: finished on
    // its due date, paid online, returned (electronic result).
    let s = tam_thanh_staff(db).await;
    let t1 = returned(db, &s).await;
    let d = dossier::get(db, &t1).await.unwrap().unwrap();
    assert_eq!((d.status, d.fee_vnd), (10, 8000));
    set(
        db,
        &t1,
        Outcome {
            status: 10,
            submitted: local_micros(2026, 1, 5, 10, 0),
            finished: Some(local_micros(2026, 1, 10, 16, 0)),
            returned: Some(local_micros(2026, 1, 11, 8, 0)),
            due: Some("2026-01-10"),
            fee: 8000,
            paid: 8000,
            ..Default::default()
        },
    )
    .await;
    // T2: at the counter, paid (not online); finished at 01:00 on the 12th local time — still
    // the 11th in UTC — one day after its due date: late.
    new_dossier(
        db,
        &birth(TAM_THANH),
        Outcome {
            status: 9,
            channel: 1,
            submitted: local_micros(2026, 1, 6, 9, 0),
            finished: Some(local_micros(2026, 1, 12, 1, 0)),
            due: Some("2026-01-11"),
            fee: 75000,
            paid: 75000,
            ..Default::default()
        },
    )
    .await;
    // T3: well before its due date but after two supplement requests: late; returned under a
    // procedure whose result is on paper (2.000884); fee unpaid.
    let t3 = new_dossier(
        db,
        &birth(TAM_THANH),
        Outcome {
            status: 10,
            submitted: local_micros(2026, 1, 7, 9, 0),
            finished: Some(local_micros(2026, 1, 8, 9, 0)),
            returned: Some(local_micros(2026, 1, 9, 9, 0)),
            due: Some("2026-01-20"),
            supplements: 2,
            fee: 8000,
            ..Default::default()
        },
    )
    .await;
    sqlx::query(
        "UPDATE dossiers SET procedure_code = '2.000884', procedure_version = 1 WHERE code = $1",
    )
    .bind(&t3)
    .execute(db.pool())
    .await
    .unwrap();
    // T4: still processing.
    new_dossier(
        db,
        &birth(TAM_THANH),
        Outcome {
            status: 4,
            submitted: local_micros(2026, 1, 8, 9, 0),
            due: Some("2026-01-09"),
            ..Default::default()
        },
    )
    .await;
    // T5: submitted in December, finished and returned in January on time after one
    // supplement request (one is allowed). Entered at the counter with no scan attached, taken
    // through the real life cycle: its electronic result is issued, but it is not digitised.
    let t5 = returned(db, &s).await;
    set(
        db,
        &t5,
        Outcome {
            status: 10,
            channel: 1,
            submitted: local_micros(2025, 12, 28, 9, 0),
            finished: Some(local_micros(2026, 1, 3, 9, 0)),
            returned: Some(local_micros(2026, 1, 3, 10, 0)),
            due: Some("2026-01-05"),
            supplements: 1,
            ..Default::default()
        },
    )
    .await;
    // T6: finished at 00:30 on 1 February local time (31 January in UTC): outside the period.
    new_dossier(
        db,
        &birth(TAM_THANH),
        Outcome {
            status: 9,
            submitted: local_micros(2026, 1, 20, 9, 0),
            finished: Some(local_micros(2026, 2, 1, 0, 30)),
            due: Some("2026-01-10"),
            ..Default::default()
        },
    )
    .await;
    // T7: finished at 23:30 on its due date: on time.
    new_dossier(
        db,
        &birth(TAM_THANH),
        Outcome {
            status: 9,
            submitted: local_micros(2026, 1, 21, 9, 0),
            finished: Some(local_micros(2026, 1, 31, 23, 30)),
            due: Some("2026-01-31"),
            ..Default::default()
        },
    )
    .await;
    // T8: refused (finished_at set, but not a settled dossier).
    new_dossier(
        db,
        &birth(TAM_THANH),
        Outcome {
            status: 3,
            submitted: local_micros(2026, 1, 15, 9, 0),
            finished: Some(local_micros(2026, 1, 15, 10, 0)),
            ..Default::default()
        },
    )
    .await;
    // S1: on time, paid online, returned.
    new_dossier(
        db,
        &enterprise(),
        Outcome {
            status: 10,
            submitted: local_micros(2026, 1, 10, 9, 0),
            finished: Some(local_micros(2026, 1, 14, 9, 0)),
            returned: Some(local_micros(2026, 1, 15, 9, 0)),
            due: Some("2026-01-15"),
            fee: 150000,
            paid: 150000,
            ..Default::default()
        },
    )
    .await;
    // S2: late, unpaid.
    new_dossier(
        db,
        &enterprise(),
        Outcome {
            status: 9,
            submitted: local_micros(2026, 1, 11, 9, 0),
            finished: Some(local_micros(2026, 1, 20, 9, 0)),
            due: Some("2026-01-16"),
            fee: 150000,
            ..Default::default()
        },
    )
    .await;
    // S3: at the counter, paid there, accepted.
    new_dossier(
        db,
        &enterprise(),
        Outcome {
            status: 2,
            channel: 1,
            submitted: local_micros(2026, 1, 12, 9, 0),
            due: Some("2026-01-16"),
            fee: 150000,
            paid: 150000,
            ..Default::default()
        },
    )
    .await;
}

/// (numerator, denominator, value) of every indicator, in order.
type Row = (Option<i64>, Option<i64>, Option<f64>);

fn values(a: &AgencyIndicators) -> Vec<(&'static str, Row)> {
    a.indicators
        .iter()
        .map(|i| (i.key, (i.numerator, i.denominator, i.value)))
        .collect()
}

fn expect(rows: [Row; 7]) -> Vec<(&'static str, Row)> {
    [
        "on_time",
        "online",
        "fully_online_procedures",
        "online_payment",
        "electronic_result",
        "digitisation",
        "satisfaction",
    ]
    .into_iter()
    .zip(rows)
    .collect()
}

fn agency<'a>(r: &'a Report, code: &str) -> &'a AgencyIndicators {
    r.agencies
        .iter()
        .find(|a| a.agency_code.as_deref() == Some(code))
        .unwrap_or_else(|| panic!("{code} listed"))
}

fn tam_thanh() -> Vec<(&'static str, Row)> {
    expect([
        (Some(3), Some(5), Some(60.0)),
        (Some(6), Some(7), Some(85.7)),
        (Some(21), Some(28), Some(75.0)),
        (Some(1), Some(3), Some(33.3)),
        (Some(2), Some(3), Some(66.7)),
        // T1 only: filed online with its result issued; T5's result is issued but it came in
        // at the counter without scans; T3's result is on paper.
        (Some(1), Some(3), Some(33.3)),
        (Some(3), Some(5), Some(60.0)),
    ])
}

fn period() -> (chrono::NaiveDate, chrono::NaiveDate) {
    (ymd(2026, 1, 1), ymd(2026, 2, 1))
}

#[tokio::test]
async fn indicators_per_agency_and_for_the_province() {
    let t = env().await;
    world(&t.db).await;
    let (from, to) = period();
    let r = indicators::report(&t.db, from, to, None).await.unwrap();
    assert_eq!(
        (r.from.as_str(), r.to.as_str(), r.scope),
        ("2026-01-01", "2026-02-01", "province")
    );
    let listed: Vec<_> = r
        .agencies
        .iter()
        .filter_map(|a| a.agency_code.as_deref())
        .collect();
    assert_eq!(listed, [SO_TAI_CHINH, UBND_TAM_THANH]);

    assert_eq!(values(agency(&r, UBND_TAM_THANH)), tam_thanh());
    assert_eq!(
        values(agency(&r, SO_TAI_CHINH)),
        expect([
            (Some(1), Some(2), Some(50.0)),
            (Some(2), Some(3), Some(66.7)),
            (Some(1), Some(1), Some(100.0)),
            (Some(1), Some(3), Some(33.3)),
            // S1 was returned without an electronic result being issued.
            (Some(0), Some(1), Some(0.0)),
            (Some(0), Some(1), Some(0.0)),
            (Some(1), Some(2), Some(50.0)),
        ])
    );
    assert_eq!(r.total.agency_code, None);
    assert_eq!(
        values(&r.total),
        expect([
            (Some(4), Some(7), Some(57.1)),
            (Some(8), Some(10), Some(80.0)),
            (Some(33), Some(48), Some(68.8)),
            (Some(2), Some(6), Some(33.3)),
            (Some(2), Some(4), Some(50.0)),
            (Some(1), Some(4), Some(25.0)),
            (Some(4), Some(7), Some(57.1)),
        ])
    );
    // Scores only where the notes give weight and threshold: digitisation (22 points at 80%)
    // and satisfaction (18 points at 90%).
    let scored: Vec<_> = r
        .total
        .indicators
        .iter()
        .filter_map(|i| i.score.map(|s| (i.key, s)))
        .collect();
    assert_eq!(scored, [("digitisation", 6.88), ("satisfaction", 11.42)]);
    assert_eq!(
        agency(&r, UBND_TAM_THANH)
            .get("satisfaction")
            .unwrap()
            .score,
        Some(12.0)
    );
    let sat = r.total.get("satisfaction").unwrap();
    assert_eq!(sat.complaints_counted, Some(true));
    assert_eq!(sat.complaints, Some(0));
    let dig = r.total.get("digitisation").unwrap();
    assert!(dig.not_measured_reason.is_none());

    // The JSON shape.
    let j = serde_json::to_value(&r.total).unwrap();
    let dig = &j["indicators"][5];
    assert_eq!(dig["key"], "digitisation");
    assert_eq!(
        (dig["numerator"].as_i64(), dig["denominator"].as_i64()),
        (Some(1), Some(4))
    );
}

#[tokio::test]
async fn agency_filter_and_empty_period() {
    let t = env().await;
    world(&t.db).await;
    let (from, to) = period();

    let only = [UBND_TAM_THANH.to_string()];
    let r = indicators::report(&t.db, from, to, Some(&only))
        .await
        .unwrap();
    assert_eq!(r.scope, "agencies");
    assert_eq!(r.agencies.len(), 1);
    assert_eq!(values(&r.agencies[0]), tam_thanh());
    assert_eq!(values(&r.total), tam_thanh());

    // An agency without dossiers is listed, with null rates.
    let noi_vu = [SO_NOI_VU.to_string(), SO_TAI_CHINH.to_string()];
    let r = indicators::report(&t.db, from, to, Some(&noi_vu))
        .await
        .unwrap();
    let nv = agency(&r, SO_NOI_VU);
    assert_eq!(
        values(nv),
        expect([
            (Some(0), Some(0), None),
            (Some(0), Some(0), None),
            (Some(4), Some(4), Some(100.0)),
            (Some(0), Some(0), None),
            (Some(0), Some(0), None),
            (Some(0), Some(0), None),
            (Some(0), Some(0), None),
        ])
    );
    assert_eq!(r.total.get("on_time").unwrap().value, Some(50.0));
    assert_eq!(
        r.total.get("fully_online_procedures").unwrap().denominator,
        Some(5)
    );

    // No agency at all (a scope with nothing in it): nothing counted.
    let r = indicators::report(&t.db, from, to, Some(&[]))
        .await
        .unwrap();
    assert!(r.agencies.is_empty());
    assert_eq!(r.total.get("online").unwrap().denominator, Some(0));

    // An empty period: nothing listed, every dossier rate null.
    let r = indicators::report(&t.db, ymd(2025, 6, 1), ymd(2025, 7, 1), None)
        .await
        .unwrap();
    assert!(r.agencies.is_empty());
    for i in &r.total.indicators {
        if i.key == "fully_online_procedures" {
            assert_eq!(
                i.value,
                Some(68.8),
                "the catalogue does not depend on the period"
            );
        } else {
            assert_eq!(i.value, None, "{}", i.key);
            assert_eq!(i.score, None, "{}", i.key);
        }
    }
}

/// Counts of every agency over `[from, to)` from the roll-up and from the raw rows.
async fn both(
    db: &Db,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> (
    std::collections::BTreeMap<String, indicators::Counts>,
    std::collections::BTreeMap<String, indicators::Counts>,
) {
    (
        indicators::counts(db, from, to, None).await.unwrap(),
        indicators::counts_from_dossiers(db, from, to, None)
            .await
            .unwrap(),
    )
}

/// The daily roll-up follows every kind of change made after it was built — by any writer,
/// here plain SQL: a dossier finished on another day, a result revoked, a complaint filed, a
/// rating given, a scan attached — and always equals the counts from the raw rows.
#[tokio::test]
async fn the_daily_rollup_follows_every_change() {
    let t = env().await;
    world(&t.db).await;
    let windows = [
        period(),
        (ymd(2026, 1, 10), ymd(2026, 1, 11)),
        (ymd(2026, 1, 12), ymd(2026, 1, 13)),
        (ymd(2025, 12, 1), ymd(2026, 3, 1)),
    ];
    for (from, to) in windows {
        let (rolled, raw) = both(&t.db, from, to).await;
        assert_eq!(rolled, raw, "{from}..{to} before the changes");
    }
    let (before, _) = both(&t.db, period().0, period().1).await;
    assert_eq!(
        indicators::refresh_rollup(&t.db).await.unwrap(),
        0,
        "nothing left to refresh after a read"
    );

    // The first returned Tam Thanh dossier with an electronic result.
    let (code, agency): (String, String) = sqlx::query_as(
        "SELECT d.code, d.agency_code FROM dossiers d JOIN dossier_results r \
         ON r.dossier_code = d.code WHERE d.status = 10 ORDER BY d.code LIMIT 1",
    )
    .fetch_one(t.db.pool())
    .await
    .unwrap();
    let at = local_micros(2026, 1, 20, 10, 0);
    for sql in [
        "UPDATE dossier_results SET revoked_at = $2 WHERE dossier_code = $1",
        "UPDATE dossiers SET finished_at = $2 WHERE code = $1",
        "INSERT INTO dossier_ratings (dossier_code, agency_code, level, comment, rated_at) \
         SELECT code, agency_code, 1, '', $2 FROM dossiers WHERE code = $1",
        "INSERT INTO feedback (code, kind, status, agency_code, dossier_code, sender_name, \
         sender_phone, sender_email, subject, content, answer, reason, handler_name, \
         received_at, due_date, updated_at) SELECT 'PAKN-T', 'kien_nghi', 'received', \
         agency_code, code, 'Nguyễn Văn A', '', '', 'Trễ hạn', '', '', '', '', $2, \
         '2026-02-01', $2 FROM dossiers WHERE code = $1",
        "DELETE FROM dossier_ratings WHERE dossier_code = $1 AND rated_at = $2",
    ] {
        sqlx::query(sql)
            .bind(&code)
            .bind(at)
            .execute(t.db.pool())
            .await
            .unwrap();
        for (from, to) in windows {
            let (rolled, raw) = both(&t.db, from, to).await;
            assert_eq!(rolled, raw, "{from}..{to} after {sql}");
        }
    }
    let (after, _) = both(&t.db, period().0, period().1).await;
    assert_ne!(
        before[&agency], after[&agency],
        "the changes moved the counts"
    );
    assert_eq!(after[&agency].electronic + 1, before[&agency].electronic);
    assert_eq!(after[&agency].complained, 1);
}
