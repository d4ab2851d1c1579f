//! The board: every target wired, live and reported values, the status rule.

use super::*;
use tinhso_targets::board::{self, Status};
use tinhso_targets::engine::{Registry, Source};

async fn report(db: &Db, indicator: &str, period: &str, v: &str) {
    report_value(db, indicator, period, v, None, None).await;
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
        [
            "gov.online-services-level4",
            "gov.staff-digital-identity",
            "gov.reports-connected",
            "gov.unified-management-platform",
            "gov.records-electronic",
            "gov.shared-databases-connected",
            "border.services-on-one-platform",
            "border.agencies-on-one-platform",
            "border.supervision-on-platform"
        ]
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

#[tokio::test]
async fn the_board_for_a_chosen_period() {
    let t = env().await;
    let db = &t.db;
    let today = ymd(2026, 11, 29);
    report(db, "reported.soc.e-payment-accounts", "2025", "46").await;
    report(db, "reported.soc.e-payment-accounts", "2026-Q1", "70").await;
    report(db, "reported.soc.e-payment-accounts", "2025-Q4", "44").await;
    let line = |lines: &[board::Line], id: &str| {
        lines.iter().find(|l| l.target.id == id).cloned().unwrap()
    };
    // Today: the latest period (2026-Q1) counts.
    let now = board::board(db, &Registry::standard(), today)
        .await
        .unwrap();
    let l = line(&now, "soc.e-payment-accounts-2025");
    assert_eq!(
        (l.current.unwrap().period.as_str(), l.status),
        ("2026-Q1", Status::OnTrack)
    );
    // Year 2025: periods ending by 15 Dec 2025; the year and its last quarter end together and
    // the year (the longer period) wins. Status as of 14 Dec 2025.
    let y2025 = tinhso_targets::period::Period::parse("2025").unwrap();
    let then = board::board_for(db, &Registry::standard(), today, y2025)
        .await
        .unwrap();
    let l = line(&then, "soc.e-payment-accounts-2025");
    let c = l.current.unwrap();
    assert_eq!((c.period.as_str(), c.value), ("2025", Some(46.0)));
    assert_eq!(l.status, Status::AtRisk);
    let l = line(&then, "gov.online-services-level4");
    assert_eq!(l.current.unwrap().period, "2025");
    // The 2030 target's progress as of 14 Dec 2025: 1,808 of 3,651 days (1 Jan 2021 –
    // 31 Dec 2030).
    let l = line(&then, "soc.e-payment-accounts-2030");
    assert_eq!(l.progress, 0.495);
}
