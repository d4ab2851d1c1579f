//! Promised return dates (ngày hẹn trả) on the working-day calendar, in local time (UTC+7).

use super::*;
use tinhso_kernel::calendar::WorkingCalendar;
use tinhso_refdata::calendar::{self, OverrideInput};
use tinhso_services::catalogue::{TimeLimit, TimeUnit};

fn days(n: u32) -> TimeLimit {
    TimeLimit {
        unit: TimeUnit::WorkingDays,
        value: n,
    }
}

fn hours(n: u32) -> TimeLimit {
    TimeLimit {
        unit: TimeUnit::WorkingHours,
        value: n,
    }
}

#[test]
fn tet_2026_is_skipped() {
    let cal = WorkingCalendar::default();
    // Friday 13 February 2026, 10:00 local; Tết Bính Ngọ: 16–20 February off.
    let fri = local_micros(2026, 2, 13, 10, 0);
    assert_eq!(dossier::due_date(&cal, fri, days(1)), ymd(2026, 2, 23));
    assert_eq!(dossier::due_date(&cal, fri, days(2)), ymd(2026, 2, 24));
    // 8 working hours from Friday 10:00: Friday's afternoon, then Monday 23 February.
    assert_eq!(dossier::due_date(&cal, fri, hours(8)), ymd(2026, 2, 23));
    // 4 working hours from Friday 10:00 end on Friday.
    assert_eq!(dossier::due_date(&cal, fri, hours(4)), ymd(2026, 2, 13));
}

#[tokio::test]
async fn the_governments_day_off_override_is_skipped() {
    let t = env().await;
    // Received Wednesday 31 December 2025 at 09:00 local.
    let received = local_micros(2025, 12, 31, 9, 0);
    let before = calendar::working_calendar(&t.db).await.unwrap();
    // 1 January is a holiday; without the override 2 January (Friday) counts.
    assert_eq!(
        dossier::due_date(&before, received, days(3)),
        ymd(2026, 1, 6)
    );
    calendar::set(
        &t.db,
        &sys(),
        "2026-01-02",
        &OverrideInput {
            kind: "day_off".into(),
            name_vi: "Nghỉ hoán đổi dịp Tết Dương lịch 2026".into(),
            name_en: "New Year 2026 swapped day off".into(),
        },
    )
    .await
    .unwrap();
    let after = calendar::working_calendar(&t.db).await.unwrap();
    assert_eq!(
        dossier::due_date(&after, received, days(3)),
        ymd(2026, 1, 7)
    );
    assert_eq!(
        dossier::due_date(&after, received, days(1)),
        ymd(2026, 1, 5)
    );
    // The make-up Saturday (10 January) is a working day when the government says so.
    assert_eq!(
        dossier::due_date(&after, received, days(7)),
        ymd(2026, 1, 13)
    );
    calendar::set(
        &t.db,
        &sys(),
        "2026-01-10",
        &OverrideInput {
            kind: "working_day".into(),
            name_vi: "Làm bù cho ngày 02/01/2026".into(),
            name_en: String::new(),
        },
    )
    .await
    .unwrap();
    let swapped = calendar::working_calendar(&t.db).await.unwrap();
    assert_eq!(
        dossier::due_date(&swapped, received, days(7)),
        ymd(2026, 1, 12)
    );
}

#[test]
fn working_hours_run_over_the_weekend() {
    let cal = WorkingCalendar::default();
    // Friday 6 March 2026, 16:00 local: one hour left that day, seven more on Monday.
    let fri = local_micros(2026, 3, 6, 16, 0);
    assert_eq!(dossier::due_date(&cal, fri, hours(8)), ymd(2026, 3, 9));
    assert_eq!(dossier::due_date(&cal, fri, hours(1)), ymd(2026, 3, 6));
    // "Trong ngày": 8 hours from Monday 07:30 end on Monday at 17:00 (8 h of office time per
    // day); 9 h spill into Tuesday.
    let mon = local_micros(2026, 3, 9, 7, 30);
    assert_eq!(dossier::due_date(&cal, mon, hours(8)), ymd(2026, 3, 9));
    assert_eq!(dossier::due_date(&cal, mon, hours(9)), ymd(2026, 3, 10));
    // Received Saturday: the clock starts on Monday.
    let sat = local_micros(2026, 3, 7, 9, 0);
    assert_eq!(dossier::due_date(&cal, sat, hours(8)), ymd(2026, 3, 9));
    assert_eq!(dossier::due_date(&cal, sat, hours(9)), ymd(2026, 3, 10));
    assert_eq!(dossier::due_date(&cal, sat, days(1)), ymd(2026, 3, 9));
}

#[test]
fn the_local_date_is_used_not_utc() {
    let cal = WorkingCalendar::default();
    // Thursday 5 March 2026 23:30 UTC is Friday 6 March 06:30 in Lạng Sơn.
    let micros = local_micros(2026, 3, 6, 6, 30);
    assert_eq!(
        chrono::DateTime::from_timestamp_micros(micros)
            .unwrap()
            .date_naive(),
        ymd(2026, 3, 5)
    );
    assert_eq!(dossier::due_date(&cal, micros, days(1)), ymd(2026, 3, 9));
    // Friday 06:30 local is before office hours: 8 h fill Friday, a ninth spills to Monday.
    assert_eq!(dossier::due_date(&cal, micros, hours(8)), ymd(2026, 3, 6));
    assert_eq!(dossier::due_date(&cal, micros, hours(9)), ymd(2026, 3, 9));
    // Friday 23:30 local (16:30 UTC, still Friday in UTC too) counts from Monday.
    let late = local_micros(2026, 3, 6, 23, 30);
    assert_eq!(dossier::due_date(&cal, late, hours(1)), ymd(2026, 3, 9));
    assert_eq!(dossier::due_date(&cal, late, days(1)), ymd(2026, 3, 9));
}

#[tokio::test]
async fn acceptance_sets_the_due_date_from_the_procedure() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let cal = calendar::working_calendar(&t.db).await.unwrap();
    // Working hours (birth registration, 8 h) and working days (building permit, 15 days).
    for (sub, limit) in [(birth(TAM_THANH), hours(8)), (building_permit(), days(15))] {
        let code = submit_anon(&t.db, &sub).await.dossier.code;
        let d = act(&t.db, &s.one_stop, &code, "accept", "").await.unwrap();
        let due = dossier::due_date(&cal, d.accepted_at.unwrap(), limit);
        assert_eq!(
            d.due_date.as_deref(),
            Some(due.format("%Y-%m-%d").to_string().as_str())
        );
        // Accepted before office hours on a working day, an 8-hour limit ends that same day.
        assert!(due >= dossier::today_local());
        assert!(cal.is_working_day(due));
    }
}
