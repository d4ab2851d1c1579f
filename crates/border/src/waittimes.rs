//! The open wait-time feed (dữ liệu mở về thời gian chờ qua cửa khẩu), like the US CBP border
//! wait-time feed: per gate and direction, the current wait, the queue length, the lanes
//! open and the capacity per hour. Served publicly (no personal data) at
//! `/api/v1/border/wait-times`.
//!
//! ```json
//! {
//!   "generated_at": "2026-11-30T10:00:00+07:00",
//!   "generated_at_micros": 1796007600000000,
//!   "unit": "minutes",
//!   "gates": [
//!     {
//!       "gate_code": "HN", "gate_name_vi": "Cửa khẩu quốc tế Hữu Nghị",
//!       "gate_name_en": "Huu Nghi International Border Gate", "gate_name_zh": "…",
//!       "direction": "export", "direction_vi": "Xuất khẩu",
//!       "status": "open",
//!       "current_wait_minutes": 36,
//!       "queue_length": 12,
//!       "lanes_open": 6,
//!       "capacity_per_hour": 50,
//!       "crossings_last_hour": 20,
//!       "rate_per_hour": 20,
//!       "rate_basis": "observed",
//!       "updated_at": "2026-11-30T10:00:00+07:00"
//!     }
//!   ]
//! }
//! ```
//!
//! - `status`: `open` when the gate is open now and the hour has capacity for the direction,
//!   else `closed` (then `lanes_open` is 0 and `current_wait_minutes` is null).
//! - `queue_length`: trucks that have arrived and not crossed (trip stage `staging`, `yard`,
//!   `checked` or `paid`).
//! - `crossings_last_hour`: trips of the gate and direction whose `crossed` stage time stamp
//!   falls in the last 60 minutes.
//! - `rate_per_hour` and `rate_basis`: the crossing rate the wait is computed from —
//!   `observed` (crossings of the last hour) once there are at least
//!   `Policy::min_observed_crossings`, else `planned`: this hour's capacity (per hour, prorated
//!   by opening minutes, or the board's override) capped by `lanes × lane_vehicles_per_hour`.
//! - `current_wait_minutes` = ⌈`queue_length` × 60 ÷ `rate_per_hour`⌉: how long a truck
//!   joining the queue now waits to cross.
//! - `lanes_open`: the registry's lane count while the gate is open (there is no per-lane
//!   status yet; to be replaced when lanes report their state).

use crate::gates::{self, Direction};
use crate::slots::capacity::{hour_capacity, open_minutes};
use crate::slots::{db_err, floor_hour, Policy, HOUR, VN_OFFSET};
use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;
use tinhso_kernel::AppError;
use tinhso_store::Db;

/// One gate and direction in the feed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WaitTime {
    pub gate_code: String,
    pub gate_name_vi: String,
    pub gate_name_en: String,
    pub gate_name_zh: String,
    pub direction: Direction,
    pub direction_vi: String,
    /// `open` or `closed`.
    pub status: String,
    /// Minutes a truck joining the queue now waits; null when closed.
    pub current_wait_minutes: Option<i64>,
    pub queue_length: i64,
    pub lanes_open: i64,
    pub capacity_per_hour: i64,
    pub crossings_last_hour: i64,
    /// Vehicles per hour the wait is computed from.
    pub rate_per_hour: i64,
    /// `observed` or `planned`.
    pub rate_basis: String,
    /// RFC 3339, local time (+07:00).
    pub updated_at: String,
}

/// The whole feed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WaitTimeFeed {
    /// RFC 3339, local time (+07:00).
    pub generated_at: String,
    pub generated_at_micros: i64,
    /// Always `minutes`.
    pub unit: String,
    pub gates: Vec<WaitTime>,
}

fn rfc3339(t: i64) -> String {
    match (
        chrono::DateTime::from_timestamp_micros(t),
        chrono::FixedOffset::east_opt((VN_OFFSET / 1_000_000) as i32),
    ) {
        (Some(d), Some(off)) => d
            .with_timezone(&off)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        _ => t.to_string(),
    }
}

/// The wait in minutes for `queue` trucks at `rate` an hour (rounded up); None at rate 0.
pub fn wait_minutes(queue: i64, rate_per_hour: i64) -> Option<i64> {
    if rate_per_hour <= 0 {
        return None;
    }
    Some((queue.max(0) * 60 + rate_per_hour - 1) / rate_per_hour)
}

/// The feed at `now`: every gate, every direction it takes, in the registry's order.
pub async fn feed(db: &Db, policy: &Policy, now: i64) -> Result<WaitTimeFeed, AppError> {
    let gates = gates::list(db).await?;
    let hour = floor_hour(now);
    let mut conn = db.read_conn().await?;
    let queued = sqlx::query(
        "SELECT gate_code, direction, COUNT(*) FROM border_trips \
         WHERE stage IN ('staging', 'yard', 'checked', 'paid') GROUP BY gate_code, direction",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let crossed = sqlx::query(
        "SELECT t.gate_code, t.direction, COUNT(*) FROM border_trip_stages s \
         JOIN border_trips t ON t.id = s.trip_id \
         WHERE s.stage = 'crossed' AND s.at > $1 AND s.at <= $2 GROUP BY t.gate_code, t.direction",
    )
    .bind(now - HOUR)
    .bind(now)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let ovr = sqlx::query(
        "SELECT gate_code, direction, capacity FROM border_slot_overrides WHERE hour_start = $1",
    )
    .bind(hour)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut counts: HashMap<(String, String), (i64, i64)> = HashMap::new();
    for r in &queued {
        let k = (r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?);
        counts.entry(k).or_default().0 = r.try_get(2).map_err(db_err)?;
    }
    for r in &crossed {
        let k = (r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?);
        counts.entry(k).or_default().1 = r.try_get(2).map_err(db_err)?;
    }
    let mut overrides: HashMap<(String, String), i64> = HashMap::new();
    for r in &ovr {
        overrides.insert(
            (r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?),
            r.try_get(2).map_err(db_err)?,
        );
    }
    let updated_at = rfc3339(now);
    let mut out = Vec::new();
    for g in &gates {
        for c in &g.capacity {
            let d = c.direction;
            let key = (g.code.clone(), d.as_str().to_string());
            let (queue_length, crossings) = counts.get(&key).copied().unwrap_or((0, 0));
            let ovr = overrides.get(&key).copied();
            let cap = hour_capacity(g, d, hour, ovr);
            // Open now: inside opening hours (or an override opened the hour) with capacity.
            let open_now = cap > 0
                && (ovr.is_some() || {
                    let m = crate::slots::local_minute(now);
                    open_minutes(g, hour) > 0
                        && crate::slots::capacity::open_window(g)
                            .is_some_and(|(o, cl)| m >= o && m < cl)
                });
            let lanes_open = if open_now { g.lanes } else { 0 };
            let planned = cap.min(lanes_open * policy.lane_vehicles_per_hour);
            let (rate, basis) = if crossings >= policy.min_observed_crossings.max(1) {
                (crossings, "observed")
            } else {
                (planned, "planned")
            };
            out.push(WaitTime {
                gate_code: g.code.clone(),
                gate_name_vi: g.name_vi.clone(),
                gate_name_en: g.name_en.clone(),
                gate_name_zh: g.name_zh.clone(),
                direction: d,
                direction_vi: d.name_vi().into(),
                status: if open_now { "open" } else { "closed" }.into(),
                current_wait_minutes: if open_now {
                    wait_minutes(queue_length, rate)
                } else {
                    None
                },
                queue_length,
                lanes_open,
                capacity_per_hour: cap,
                crossings_last_hour: crossings,
                rate_per_hour: rate,
                rate_basis: basis.into(),
                updated_at: updated_at.clone(),
            });
        }
    }
    Ok(WaitTimeFeed {
        generated_at: updated_at,
        generated_at_micros: now,
        unit: "minutes".into(),
        gates: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_is_queue_over_rate_rounded_up() {
        assert_eq!(wait_minutes(12, 20), Some(36));
        assert_eq!(wait_minutes(1, 50), Some(2));
        assert_eq!(wait_minutes(0, 50), Some(0));
        assert_eq!(wait_minutes(5, 0), None);
        assert_eq!(rfc3339(0), "1970-01-01T07:00:00+07:00");
    }
}
