//! The board: every target wired, live and reported values, the status rule.

use super::*;
use tinhso_targets::board::{self, Status};
use tinhso_targets::engine::{Registry, Source};
use tinhso_targets::reported::{self, NewValue};

async fn report(db: &Db, indicator: &str, period: &str, v: &str) {
    let c = reported::check(
        db,
        &NewValue {
            indicator: indicator.into(),
            period: period.into(),
            org: "province".into(),
            value: v.into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    reported::record(db, &sys(), &c).await.unwrap();
}

#[tokio::test]
async fn every_target_is_on_the_board_with_its_status() {
    let t = env().await;
    let db = &t.db;
    let today = ymd(2026, 11, 29);
    let lines = board::board(db, &Registry::standard(), today)
        .await
        .unwrap();
    assert_eq!(lines.len(), 43);
    let live: Vec<&str> = lines
        .iter()
        .filter(|l| l.source == Source::Live)
        .map(|l| l.target.id.as_str())
        .collect();
    assert_eq!(
        live,
        ["gov.online-services-level4", "gov.records-electronic"]
    );
    let line = |lines: &[board::Line], id: &str| {
        lines.iter().find(|l| l.target.id == id).cloned().unwrap()
    };
    // Live: the catalogue's fully-online share for year 2026 (15 Dec 2025 – 14 Dec 2026).
    let l = line(&lines, "gov.online-services-level4");
    let c = l.current.clone().unwrap();
    assert_eq!(c.period, "2026");
    assert!(c.denominator.unwrap() >= 48.0, "{c:?}");
    assert_eq!(l.progress, 1.0);
    assert_eq!(l.expected, 100.0);
    // No dossier returned yet: no electronic-result value.
    let l = line(&lines, "gov.records-electronic");
    assert_eq!((l.current.unwrap().value, l.status), (None, Status::NoData));
    // Reported, nothing yet.
    assert_eq!(line(&lines, "overall.dti-top10").status, Status::NoData);

    // Reported values: DTI rank 4 (≤ 10): on track; e-payment accounts 2025 past its horizon:
    // 46 % is within 10 % of 50 (at risk), 40 % is off track; the 2030 target (80 %) shares the
    // value: 46 at progress 0.6 (expected 48, tolerance 8) is at risk.
    report(db, "reported.overall.dti-top10", "2023", "4").await;
    report(db, "reported.soc.e-payment-accounts", "2025", "46").await;
    let lines = board::board(db, &Registry::standard(), today)
        .await
        .unwrap();
    let dti = line(&lines, "overall.dti-top10");
    assert_eq!(
        (dti.status, dti.current.unwrap().value),
        (Status::OnTrack, Some(4.0))
    );
    assert_eq!(
        line(&lines, "soc.e-payment-accounts-2025").status,
        Status::AtRisk
    );
    let l2030 = line(&lines, "soc.e-payment-accounts-2030");
    assert!((l2030.progress - 0.59).abs() < 0.01, "{}", l2030.progress);
    assert_eq!(l2030.status, Status::AtRisk);
    report(db, "reported.soc.e-payment-accounts", "2025", "40").await;
    let lines = board::board(db, &Registry::standard(), today)
        .await
        .unwrap();
    let l = line(&lines, "soc.e-payment-accounts-2025");
    assert_eq!(
        (l.status, l.current.unwrap().version),
        (Status::OffTrack, Some(2))
    );
}
