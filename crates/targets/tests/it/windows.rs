//! A screen's overlapping windows summed in one pass over the daily roll-ups
//! (`tinhso_store::rollup::Segments`): every window equals its own count from the raw rows and
//! the hand-computed numbers, whatever other windows are asked with it.

use super::*;

#[tokio::test]
async fn overlapping_windows_sum_each_row_once() {
    let t = env().await;
    let db = &t.db;
    super::indicators::world(db).await;
    super::border::fixture(db).await;
    // The year 2026, its first quarter, the month 2026-01, the day 14 Jan, the month 2025-12,
    // a window across the month's end, the year again, and an empty one.
    let windows = [
        (ymd(2025, 12, 15), ymd(2026, 12, 15)),
        (ymd(2025, 12, 15), ymd(2026, 3, 15)),
        (ymd(2025, 12, 15), ymd(2026, 1, 15)),
        (ymd(2026, 1, 14), ymd(2026, 1, 15)),
        (ymd(2025, 11, 15), ymd(2025, 12, 15)),
        (ymd(2026, 1, 10), ymd(2026, 2, 1)),
        (ymd(2025, 12, 15), ymd(2026, 12, 15)),
        (ymd(2026, 1, 1), ymd(2026, 1, 1)),
    ];
    let all = tinhso_services::indicators::counts_windows(db, &windows, None)
        .await
        .unwrap();
    assert_eq!(all.len(), windows.len());
    for (w, got) in windows.iter().zip(&all) {
        let raw = tinhso_services::indicators::counts_from_dossiers(db, w.0, w.1, None)
            .await
            .unwrap();
        assert_eq!(got, &raw, "{w:?}");
    }
    // By hand: A, B, C, E, F received in the year and the quarter (F on 15 Jan, 00:30); A, B,
    // C, E in January's window; E on the 14th; D in December's; E, F from the 10th.
    let received: Vec<i64> = all
        .iter()
        .map(|per_agency| per_agency.values().map(|c| c.received).sum())
        .collect();
    assert_eq!(received, [5, 5, 4, 1, 1, 2, 5, 0]);
    // One agency's windows: the same.
    let tt = ["000.00.23.H37".to_string()];
    let one = tinhso_services::indicators::counts_windows(db, &windows, Some(&tt))
        .await
        .unwrap();
    for (w, got) in windows.iter().zip(&one) {
        let raw = tinhso_services::indicators::counts_from_dossiers(db, w.0, w.1, Some(&tt))
            .await
            .unwrap();
        assert_eq!(got, &raw, "{w:?}");
    }

    // The border's roll-up: every window equals the raw rows, for the province and a commune.
    for commune in [None, Some("06184"), Some("05986")] {
        let all = tinhso_border::indicators::shares_windows(db, &windows, commune)
            .await
            .unwrap();
        for (w, got) in windows.iter().zip(&all) {
            let raw = tinhso_border::indicators::shares_from_rows(db, w.0, w.1, commune)
                .await
                .unwrap();
            assert_eq!(got, &raw, "{w:?} {commune:?}");
        }
    }
    // By hand, the province: T1–T4 crossed in the year and the quarter, T1–T3 in January's
    // window, T3 on the 14th (23:30), none in December's, T2–T4 from the 10th.
    let crossed: Vec<i64> = tinhso_border::indicators::shares_windows(db, &windows, None)
        .await
        .unwrap()
        .iter()
        .map(|s| s.crossed)
        .collect();
    assert_eq!(crossed, [4, 4, 3, 1, 0, 3, 4, 0]);
}
