//! Crossing slots (khung giờ thông quan) per gate, direction and hour, their booking, the
//! queue (hàng chờ) and the standby queue (hàng chờ dự phòng).
//!
//! **Capacity** ([`capacity`]). A slot is one local clock hour (UTC+7) at a gate for a
//! direction. Its capacity is the direction's `per_hour` in `border_gate_capacity` (what the
//! Chinese side accepts), prorated by the minutes the gate is open in that hour (Chi Ma opens
//! at 07:30, so its 07:00 hour has half the seats); hours outside opening hours have none. The
//! management board may set an hour's capacity ([`capacity::set_override`], 0 closes the hour,
//! e.g. when the Chinese side closes it); an override replaces the computed value, so it can
//! also open an hour outside the usual opening hours. A local day's bookings never exceed the
//! direction's `per_day`, whatever the hours add up to.
//!
//! **Booking** ([`booking`]). An enterprise books a slot for a declared trip
//! (`border_trips`). The seat is taken with a conditional counter update
//! (`booked = booked + 1 WHERE booked < capacity`) in the booking's transaction, for the hour
//! and for the day, so two enterprises racing for the last seat cannot both win on SQLite or
//! PostgreSQL: the loser gets a 409 conflict. A trip holds at most one active booking (a unique
//! partial index, so a racing double booking is refused too).
//!
//! **Perishable priority policy** ([`Policy`], defaults in brackets, all configurable):
//! 1. A share of every hour's seats is held for perishable goods (hàng tươi sống, the trip's
//!    `perishable` flag) [20 %, rounded down] until some hours before the hour starts [12 h];
//!    from then on the held seats are open to every truck. Perishables may also take any
//!    ordinary seat.
//! 2. In the queue, among trucks of the same slot hour, perishables go first [on].
//! 3. On the standby queue perishables are seated first, then first-come.
//!
//! **Queue** ([`queue`]). Trucks that have arrived (trip stage `staging`, `yard`, `checked` or
//! `paid`) at a gate for a direction, ordered by slot hour, then priority, then arrival time;
//! trucks without a booking come after every booked truck. Each gets a live position and an
//! estimated crossing time from the hour capacities (with overrides) and the lanes. When a truck
//! becomes N-th in line [10] the outbox gets one `border.queue_call` for it (the notify crate
//! sends the SMS or e-mail). Positions are read from an in-memory snapshot ([`queue::Queues`]).
//!
//! **Lateness.** A booked truck that has not arrived by the slot's end plus an automatic
//! arrival grace [30 min] is a no-show: the seat is released and the trip goes to the standby
//! queue. A late truck may ask once for an extension [+60 min] ([`booking::extend_grace`]); a
//! second one is refused. Standby trucks are given free seats of the current hour and the next
//! hours [2] by [`booking::seat_standby`] (run by [`queue::tick`]). Rescheduling
//! ([`booking::reschedule`]) takes the new seat before releasing the old one in one transaction:
//! if the new slot is full, the old booking is kept.
//!
//! Every change writes an audit entry and an outbox event in the same transaction. Functions
//! take the current time (`now`, Unix microseconds) so that callers and tests control the
//! clock; the HTTP layer passes `tinhso_store::now_micros()`. No function here checks who the
//! caller is: routes authorize (the enterprise owning the trip, or the management board).

pub mod bench;
pub mod booking;
pub mod capacity;
pub mod queue;

use serde::{Deserialize, Serialize};
use tinhso_kernel::{AppError, FieldErrors, Invalid};
use tinhso_store::DbError;

pub use bench::{bench_queue, BenchReport};
pub use booking::{Booking, BookingInput};
pub use capacity::{DayPlan, HourSlot};
pub use queue::{QueueEntry, QueuePosition, QueueSnapshot, Queues};

/// One hour in microseconds.
pub const HOUR: i64 = 3_600_000_000;
/// One day in microseconds.
pub const DAY: i64 = 24 * HOUR;
/// Vietnam's offset from UTC (UTC+7, no daylight saving).
pub const VN_OFFSET: i64 = 7 * HOUR;

/// The slot and queue policy (chính sách ưu tiên). Every field is a setting; the defaults are
/// the platform's starting values, not legal figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// Percentage of each hour's seats held for perishables (rounded down).
    pub perishable_reserve_percent: i64,
    /// Hours before a slot starts when its held seats open to every truck.
    pub reserve_release_hours: i64,
    /// Perishables first among trucks of the same slot hour in the queue.
    pub perishable_first_in_slot: bool,
    /// A truck is called forward (`border.queue_call`) when its position is at most this.
    pub call_position: i64,
    /// Minutes after the slot's end a truck may still arrive before it is a no-show.
    pub arrival_grace_minutes: i64,
    /// Minutes the one extension (gia hạn) adds for a late truck.
    pub extension_minutes: i64,
    /// Standby trucks are seated in the current hour and this many following hours.
    pub standby_horizon_hours: i64,
    /// Vehicles one lane clears per hour through the checks: caps the crossing rate used for
    /// estimated times with `lanes × this` (to be confirmed by measurement at the gates; the
    /// Pingxiang smart lane claims under 15 s per truck, Vietnamese checks take longer).
    pub lane_vehicles_per_hour: i64,
    /// How many days ahead a slot may be booked.
    pub max_days_ahead: i64,
    /// The queue snapshot is rebuilt when older than this (changes made through this module
    /// mark it stale at once).
    pub snapshot_max_age_ms: u64,
    /// The wait-time feed uses the observed crossings of the last hour once there are at least
    /// this many; below, the planned hourly capacity.
    pub min_observed_crossings: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            perishable_reserve_percent: 20,
            reserve_release_hours: 12,
            perishable_first_in_slot: true,
            call_position: 10,
            arrival_grace_minutes: 30,
            extension_minutes: 60,
            standby_horizon_hours: 2,
            lane_vehicles_per_hour: 20,
            max_days_ahead: 14,
            snapshot_max_age_ms: 1000,
            min_observed_crossings: 5,
        }
    }
}

impl Policy {
    /// Check a policy read from settings: every problem as a field error.
    pub fn check(&self) -> Result<(), AppError> {
        let mut errs = FieldErrors::new();
        let mut range = |field: &str, v: i64, lo: i64, hi: i64| {
            if !(lo..=hi).contains(&v) {
                errs.push(
                    field,
                    Invalid::new(
                        "range",
                        format!("Giá trị phải từ {lo} đến {hi}"),
                        format!("The value must be from {lo} to {hi}"),
                    ),
                );
            }
        };
        range(
            "perishable_reserve_percent",
            self.perishable_reserve_percent,
            0,
            100,
        );
        range(
            "reserve_release_hours",
            self.reserve_release_hours,
            0,
            24 * 14,
        );
        range("call_position", self.call_position, 0, 1000);
        range(
            "arrival_grace_minutes",
            self.arrival_grace_minutes,
            0,
            24 * 60,
        );
        range("extension_minutes", self.extension_minutes, 0, 24 * 60);
        range("standby_horizon_hours", self.standby_horizon_hours, 0, 48);
        range(
            "lane_vehicles_per_hour",
            self.lane_vehicles_per_hour,
            1,
            3600,
        );
        range("max_days_ahead", self.max_days_ahead, 1, 90);
        range(
            "min_observed_crossings",
            self.min_observed_crossings,
            1,
            10_000,
        );
        errs.into_result()
    }
}

/// The start of the hour containing `t`.
pub fn floor_hour(t: i64) -> i64 {
    t.div_euclid(HOUR) * HOUR
}

/// The local day (days since 1970-01-01, UTC+7) containing `t`.
pub fn local_day(t: i64) -> i64 {
    (t + VN_OFFSET).div_euclid(DAY)
}

/// Minutes after local midnight of `t`.
pub fn local_minute(t: i64) -> i64 {
    (t + VN_OFFSET).rem_euclid(DAY) / 60_000_000
}

/// `t` as local `YYYY-MM-DD HH:MM`, for messages.
pub fn local_label(t: i64) -> String {
    chrono::DateTime::from_timestamp_micros(t + VN_OFFSET)
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| t.to_string())
}

/// The UTC instant of a local date and hour (for callers that take `2026-11-30` and `08`).
pub fn hour_start_of(date: chrono::NaiveDate, hour: u32) -> Option<i64> {
    let naive = date.and_hms_opt(hour, 0, 0)?;
    Some(naive.and_utc().timestamp_micros() - VN_OFFSET)
}

const CONCURRENT_VI: &str = "Một thay đổi khác về khung giờ diễn ra cùng lúc; hãy thử lại";
const CONCURRENT_EN: &str = "Another slot change happened at the same time; try again";

/// Whether an error is the retryable concurrency conflict of [`db_err`] (the transaction it
/// happened in is aborted and must not be used further).
pub(crate) fn is_concurrent(e: &AppError) -> bool {
    e.detail_en.as_deref() == Some(CONCURRENT_EN)
}

/// Run `sql` (a statement over the rows of JSON parameter `$1`, with `now` as `$2`, that
/// returns one id a row) in `tx` and gather the ids: the rows a set-based write touched.
pub(crate) async fn returned_ids<E: tinhso_store::Exec>(
    tx: &mut E,
    sql: &str,
    rows: String,
    now: i64,
) -> Result<std::collections::HashSet<String>, AppError> {
    Ok(tx
        .rows(
            sql,
            &[
                tinhso_store::native::Param::Text(&rows),
                tinhso_store::native::Param::Int(now),
            ],
            |r| r.text(0),
        )
        .await
        .map_err(store_err)?
        .into_iter()
        .collect())
}

/// [`db_err`] for the store's errors (either engine's).
pub(crate) fn store_err(e: DbError) -> AppError {
    match e {
        DbError::Sqlx(e) => db_err(e),
        e => e.into(),
    }
}

/// A database error as an [`AppError`]. PostgreSQL's deadlock (40P01) and serialisation
/// failure (40001) — two changes crossing each other — become a 409 the caller may retry, not
/// a 500.
pub(crate) fn db_err(e: sqlx::Error) -> AppError {
    let code = e
        .as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.to_string());
    if matches!(code.as_deref(), Some("40P01" | "40001")) {
        return AppError::conflict(CONCURRENT_VI, CONCURRENT_EN);
    }
    DbError::from(e).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_check_names_each_bad_field() {
        assert!(Policy::default().check().is_ok());
        let bad = Policy {
            perishable_reserve_percent: 120,
            lane_vehicles_per_hour: 0,
            ..Policy::default()
        };
        let e = bad.check().unwrap_err();
        let fields: Vec<_> = e.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            ["perishable_reserve_percent", "lane_vehicles_per_hour"]
        );
    }

    #[test]
    fn local_time_helpers() {
        let d = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let h = hour_start_of(d, 8).unwrap();
        assert_eq!(local_minute(h), 8 * 60);
        assert_eq!(local_label(h), "2026-11-30 08:00");
        assert_eq!(floor_hour(h + 59 * 60_000_000), h);
        // 06:59 local is still the same local day; 23:30 local too.
        assert_eq!(
            local_day(h - 61 * 60_000_000),
            local_day(h + 15 * HOUR + 30 * 60_000_000)
        );
        assert_eq!(local_day(h + 16 * HOUR), local_day(h) + 1);
    }
}
