//! The leaders' border dashboard against a hand-computed case.

use crate::declarations::durian_export;
use crate::sys;
use tinhso_border::journey::{self, Source, Stage};
use tinhso_border::{dashboard, declaration};

const MIN: i64 = 60_000_000;

#[tokio::test]
async fn crossings_yards_and_dwell_times_as_computed_by_hand() {
    let t = crate::env().await;
    let now = tinhso_store::now_micros();
    // Three trucks at Hữu Nghị: two crossed (dwell 30 and 90 minutes from staging), one in the
    // inspection yard; one more at the staging area of Tân Thanh.
    let mut trips = Vec::new();
    for (i, plate) in ["12C-111.11", "12C-222.22", "12C-333.33", "12C-444.44"]
        .iter()
        .enumerate()
    {
        let mut d = durian_export(plate);
        if i == 3 {
            d.gate = "TT".into();
        }
        trips.push(
            declaration::declare(&t.db, &sys(), "u-1", &d)
                .await
                .unwrap(),
        );
    }
    let start = now - 200 * MIN;
    let plan: [(usize, &[(Stage, i64)]); 4] = [
        (
            0,
            &[
                (Stage::Staging, 0),
                (Stage::Yard, 10),
                (Stage::Checked, 20),
                (Stage::Paid, 25),
                (Stage::Crossed, 30),
            ],
        ),
        (
            1,
            &[
                (Stage::Staging, 0),
                (Stage::Yard, 40),
                (Stage::Checked, 60),
                (Stage::Paid, 70),
                (Stage::Crossed, 90),
            ],
        ),
        (2, &[(Stage::Staging, 0), (Stage::Yard, 5)]),
        (3, &[(Stage::Staging, 0)]),
    ];
    for (i, stages) in plan {
        let mut tx = t.db.begin_write().await.unwrap();
        for (s, m) in stages {
            journey::advance(&mut tx, &trips[i].id, *s, start + m * MIN, Source::Camera)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    let d = dashboard::compute(&t.db, now, 7).await.unwrap();
    assert_eq!(d.days.len(), 7);
    let hn_export = &d.crossings["HN"]["export"];
    assert_eq!(hn_export.iter().sum::<i64>(), 2);
    assert_eq!(
        d.at_border_now, 2,
        "one in the yard at HN, one at staging at TT"
    );
    let yard = |gate: &str, kind: &str| -> i64 {
        d.yards
            .iter()
            .filter(|y| y.gate == gate && y.kind == kind)
            .map(|y| y.trucks)
            .sum()
    };
    assert_eq!(yard("HN", "yard"), 1);
    assert_eq!(yard("HN", "staging"), 0);
    assert_eq!(yard("TT", "staging"), 1);
    let seg = |k: &str| d.dwell.iter().find(|w| w.segment == k).unwrap().clone();
    let total = seg("arrival→crossed");
    assert_eq!(total.trips, 2);
    // 30 and 90 minutes, interpolated: p50 60, p90 30 + 0.9 × 60 = 84.
    assert!(
        (total.p50_minutes - 60.0).abs() < 1e-9,
        "{}",
        total.p50_minutes
    );
    assert!(
        (total.p90_minutes - 84.0).abs() < 1e-9,
        "{}",
        total.p90_minutes
    );
    // 10 and 40 minutes: p90 37.
    assert!((seg("staging→yard").p90_minutes - 37.0).abs() < 1e-9);
    assert_eq!(seg("paid→crossed").trips, 2);
}
