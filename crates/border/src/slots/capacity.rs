//! Capacity per gate, direction and hour (sức chứa theo khung giờ), the management board's
//! per-hour overrides, and the day plan a booking page shows.

use super::{db_err, floor_hour, local_day, local_label, local_minute, Policy, HOUR};
use crate::gates::{self, CheckKind, Direction, Gate};
use chrono::{NaiveTime, Timelike};
use serde::Serialize;
use sqlx::Row;
use tinhso_kernel::{text, AppError, FieldErrors, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::Db;

/// The most an override may set for one hour.
pub const MAX_OVERRIDE: i64 = 10_000;

/// The gate's opening window in local minutes after midnight.
pub fn open_window(gate: &Gate) -> Option<(i64, i64)> {
    let m = |s: &str| {
        NaiveTime::parse_from_str(s, "%H:%M")
            .ok()
            .map(|t| i64::from(t.hour() * 60 + t.minute()))
    };
    Some((m(&gate.opens)?, m(&gate.closes)?))
}

/// Minutes of the hour starting at `hour_start` during which the gate is open.
pub fn open_minutes(gate: &Gate, hour_start: i64) -> i64 {
    open_minutes_in(open_window(gate), hour_start)
}

/// [`open_minutes`] with the opening window already parsed (for loops over many hours).
pub fn open_minutes_in(window: Option<(i64, i64)>, hour_start: i64) -> i64 {
    let Some((opens, closes)) = window else {
        return 0;
    };
    let start = local_minute(hour_start);
    let end = start + 60;
    (end.min(closes) - start.max(opens)).max(0)
}

/// The capacity of one hour without overrides: `per_hour` prorated by the open minutes.
pub fn nominal_capacity(gate: &Gate, direction: Direction, hour_start: i64) -> i64 {
    match gate.capacity_for(direction) {
        Some(c) => c.per_hour * open_minutes(gate, hour_start) / 60,
        None => 0,
    }
}

/// An hour's capacity: the override when the board set one, else the nominal capacity.
pub fn hour_capacity(
    gate: &Gate,
    direction: Direction,
    hour_start: i64,
    override_cap: Option<i64>,
) -> i64 {
    override_cap.unwrap_or_else(|| nominal_capacity(gate, direction, hour_start))
}

/// Seats of `capacity` held for perishables.
pub fn reserved_seats(policy: &Policy, capacity: i64) -> i64 {
    (capacity * policy.perishable_reserve_percent.clamp(0, 100) / 100).max(0)
}

/// Whether the held seats of the hour are still held at `now`.
pub fn reserve_held(policy: &Policy, hour_start: i64, now: i64) -> bool {
    now < hour_start - policy.reserve_release_hours * HOUR
}

/// One hour of a day plan.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HourSlot {
    /// UTC instant the hour starts, Unix microseconds (what [`super::booking::book`] takes).
    pub hour_start: i64,
    /// Local `YYYY-MM-DD HH:MM`.
    pub local: String,
    /// Seats this hour.
    pub capacity: i64,
    /// Seats held for perishables while the hold lasts (0 once released).
    pub reserved_perishable: i64,
    pub booked: i64,
    pub booked_perishable: i64,
    /// Seats an ordinary truck can book now (0 when the day is full).
    pub available: i64,
    /// Seats a perishable truck can book now.
    pub available_perishable: i64,
    /// The board's reason when it set this hour's capacity.
    pub override_reason: Option<String>,
}

/// A gate's slots for one direction and local day.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DayPlan {
    pub gate_code: String,
    pub direction: Direction,
    /// Local day, days since 1970-01-01.
    pub day: i64,
    pub per_day: i64,
    pub day_booked: i64,
    /// The day's seats: the lesser of `per_day` and the sum of the hours.
    pub day_capacity: i64,
    /// Hours with capacity, or with bookings left over after an override closed them.
    pub hours: Vec<HourSlot>,
}

pub(crate) async fn load_gate(db: &Db, code: &str) -> Result<Gate, AppError> {
    gates::get(db, code)
        .await?
        .ok_or_else(|| unknown_gate(code))
}

/// The field error for a gate code that names no gate.
pub(crate) fn unknown_gate(code: &str) -> AppError {
    AppError::field(
        "gate_code",
        Invalid::new(
            "gate_unknown",
            format!("Không có cửa khẩu mã {code}"),
            format!("There is no gate with code {code}"),
        ),
    )
}

pub(crate) fn parse_direction(gate: &Gate, s: &str) -> Result<Direction, Invalid> {
    let d = Direction::parse(s).ok_or_else(|| {
        Invalid::new(
            "direction",
            "Loại hình phải là export, import, transit hoặc transshipment",
            "The direction must be export, import, transit or transshipment",
        )
    })?;
    if gate.capacity_for(d).is_none() {
        return Err(Invalid::new(
            "direction_not_taken",
            format!("{} không tiếp nhận loại hình {}", gate.name_vi, d.name_vi()),
            format!(
                "{} does not take {}",
                gate.name_en,
                d.name_en().to_lowercase()
            ),
        ));
    }
    Ok(d)
}

/// The scope of audit entries about a gate: its management board, else the gate code.
pub(crate) fn gate_scope(gate: &Gate) -> String {
    gate.agency_for(CheckKind::ManagementBoard)
        .unwrap_or(&gate.code)
        .to_string()
}

/// The overrides of a gate and direction with `from <= hour_start < to`.
pub async fn overrides(
    db: &Db,
    gate_code: &str,
    direction: Direction,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64, String)>, AppError> {
    sqlx::query_as(
        "SELECT hour_start, capacity, reason FROM border_slot_overrides \
         WHERE gate_code = $1 AND direction = $2 AND hour_start >= $3 AND hour_start < $4 \
         ORDER BY hour_start",
    )
    .bind(gate_code)
    .bind(direction.as_str())
    .bind(from)
    .bind(to)
    .fetch_all(db.pool())
    .await
    .map_err(db_err)
}

/// The slots of a gate, direction and local day (`day` as from [`super::local_day`]).
pub async fn day_plan(
    db: &Db,
    policy: &Policy,
    gate_code: &str,
    direction: &str,
    day: i64,
    now: i64,
) -> Result<DayPlan, AppError> {
    let gate = load_gate(db, gate_code).await?;
    let direction =
        parse_direction(&gate, direction).map_err(|e| AppError::field("direction", e))?;
    let from = day * super::DAY - super::VN_OFFSET;
    let to = from + super::DAY;
    let ovr = overrides(db, &gate.code, direction, from, to).await?;
    let rows = sqlx::query(
        "SELECT hour_start, booked, booked_perishable FROM border_slots \
         WHERE gate_code = $1 AND direction = $2 AND hour_start >= $3 AND hour_start < $4",
    )
    .bind(&gate.code)
    .bind(direction.as_str())
    .bind(from)
    .bind(to)
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    let mut booked = std::collections::HashMap::new();
    for r in rows {
        let h: i64 = r.try_get(0).map_err(db_err)?;
        let b: i64 = r.try_get(1).map_err(db_err)?;
        let p: i64 = r.try_get(2).map_err(db_err)?;
        booked.insert(h, (b, p));
    }
    let day_booked: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(booked), 0) FROM border_slot_days \
         WHERE gate_code = $1 AND direction = $2 AND day = $3",
    )
    .bind(&gate.code)
    .bind(direction.as_str())
    .bind(day)
    .fetch_one(db.pool())
    .await
    .map_err(db_err)?;
    let per_day = gate.capacity_for(direction).map(|c| c.per_day).unwrap_or(0);
    let day_left = (per_day - day_booked).max(0);
    let mut hours = Vec::new();
    let mut sum = 0;
    for i in 0..24 {
        let h = from + i * HOUR;
        let o = ovr.iter().find(|(oh, _, _)| *oh == h);
        let cap = hour_capacity(&gate, direction, h, o.map(|x| x.1));
        let (b, p) = booked.get(&h).copied().unwrap_or((0, 0));
        if cap == 0 && b == 0 && o.is_none() {
            continue;
        }
        sum += cap;
        let reserved = if reserve_held(policy, h, now) {
            reserved_seats(policy, cap)
        } else {
            0
        };
        let open_hour = h + HOUR > now;
        let per_left = if open_hour { (cap - b).max(0) } else { 0 };
        let ordinary_left = per_left.min((cap - reserved - (b - p)).max(0));
        hours.push(HourSlot {
            hour_start: h,
            local: local_label(h),
            capacity: cap,
            reserved_perishable: reserved,
            booked: b,
            booked_perishable: p,
            available: ordinary_left.min(day_left),
            available_perishable: per_left.min(day_left),
            override_reason: o.map(|x| x.2.clone()),
        });
    }
    Ok(DayPlan {
        gate_code: gate.code,
        direction,
        day,
        per_day,
        day_booked,
        day_capacity: per_day.min(sum),
        hours,
    })
}

/// What [`set_override`] did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OverrideOutcome {
    pub gate_code: String,
    pub direction: Direction,
    pub hour_start: i64,
    pub capacity: i64,
    /// Active bookings beyond the new capacity: the board reschedules them (they are kept).
    pub over_booked: i64,
}

/// Set (or, with `capacity: None`, remove) the capacity of one hour, as the management board
/// (no access check here). Bookings already made are kept; `over_booked` says how many exceed
/// the new capacity. Audited (`border.slot_override`) and announced (`border.slot_override`).
pub async fn set_override(
    db: &Db,
    ctx: &Ctx,
    gate_code: &str,
    direction: &str,
    hour_start: i64,
    capacity: Option<i64>,
    reason: &str,
) -> Result<OverrideOutcome, AppError> {
    let gate = load_gate(db, gate_code).await?;
    let mut errs = FieldErrors::new();
    let dir = errs.check("direction", parse_direction(&gate, direction));
    if hour_start != floor_hour(hour_start) {
        errs.push(
            "hour_start",
            Invalid::new(
                "hour_start",
                "Khung giờ phải bắt đầu đúng giờ (phút 00)",
                "A slot starts on the hour (minute 00)",
            ),
        );
    }
    if let Some(c) = capacity {
        if !(0..=MAX_OVERRIDE).contains(&c) {
            errs.push(
                "capacity",
                Invalid::new(
                    "capacity",
                    format!("Số xe mỗi giờ phải từ 0 đến {MAX_OVERRIDE}"),
                    format!("Vehicles per hour must be from 0 to {MAX_OVERRIDE}"),
                ),
            );
        }
    }
    let reason = text::clean(reason);
    if reason.is_empty() || reason.chars().count() > 500 {
        errs.push(
            "reason",
            Invalid::new(
                "reason",
                "Cần ghi lý do (tối đa 500 ký tự)",
                "Give a reason (at most 500 characters)",
            ),
        );
    }
    errs.into_result()?;
    let Some(dir) = dir else {
        return Err(AppError::internal("direction checked above"));
    };
    let now = tinhso_store::now_micros();
    let mut tx = db.begin_write().await?;
    match capacity {
        Some(c) => {
            sqlx::query(
                "INSERT INTO border_slot_overrides \
                 (gate_code, direction, hour_start, capacity, reason, set_by, set_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (gate_code, direction, hour_start) DO UPDATE SET \
                 capacity = excluded.capacity, reason = excluded.reason, \
                 set_by = excluded.set_by, set_at = excluded.set_at",
            )
            .bind(&gate.code)
            .bind(dir.as_str())
            .bind(hour_start)
            .bind(c)
            .bind(&reason)
            .bind(&ctx.actor)
            .bind(now)
            .execute(tx.conn())
            .await
            .map_err(db_err)?;
        }
        None => {
            sqlx::query(
                "DELETE FROM border_slot_overrides \
                 WHERE gate_code = $1 AND direction = $2 AND hour_start = $3",
            )
            .bind(&gate.code)
            .bind(dir.as_str())
            .bind(hour_start)
            .execute(tx.conn())
            .await
            .map_err(db_err)?;
        }
    }
    let booked: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(booked), 0) FROM border_slots \
         WHERE gate_code = $1 AND direction = $2 AND hour_start = $3",
    )
    .bind(&gate.code)
    .bind(dir.as_str())
    .bind(hour_start)
    .fetch_one(tx.conn())
    .await
    .map_err(db_err)?;
    let cap = hour_capacity(&gate, dir, hour_start, capacity);
    let out = OverrideOutcome {
        gate_code: gate.code.clone(),
        direction: dir,
        hour_start,
        capacity: cap,
        over_booked: (booked - cap).max(0),
    };
    let summary = serde_json::json!({
        "gate_code": gate.code, "direction": dir.as_str(), "hour_start": hour_start,
        "local": local_label(hour_start), "override": capacity, "capacity": cap,
        "over_booked": out.over_booked, "reason": reason,
    });
    let target = format!("{}:{}:{}", gate.code, dir.as_str(), hour_start);
    tx.audit(&ctx.entry(
        "border.slot_override",
        "border_slot",
        &target,
        &gate_scope(&gate),
        summary.clone(),
    ))
    .await?;
    tx.emit("border.slot_override", &summary).await?;
    tx.commit().await?;
    Ok(out)
}

/// The local day of an hour, re-exported for callers building day plans.
pub fn day_of(hour_start: i64) -> i64 {
    local_day(hour_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(code: &str) -> Gate {
        crate::gates::parse(crate::gates::GATES_TOML)
            .unwrap()
            .into_iter()
            .find(|g| g.code == code)
            .unwrap()
    }

    fn at(h: u32, m: u32) -> i64 {
        let d = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        super::super::hour_start_of(d, h).unwrap() + i64::from(m) * 60_000_000
    }

    #[test]
    fn hours_are_prorated_by_opening_minutes() {
        let cm = gate("CM"); // 07:30–19:00, export 15/h
        assert_eq!(nominal_capacity(&cm, Direction::Export, at(6, 0)), 0);
        assert_eq!(nominal_capacity(&cm, Direction::Export, at(7, 0)), 7);
        assert_eq!(nominal_capacity(&cm, Direction::Export, at(8, 0)), 15);
        assert_eq!(nominal_capacity(&cm, Direction::Export, at(18, 0)), 15);
        assert_eq!(nominal_capacity(&cm, Direction::Export, at(19, 0)), 0);
        assert_eq!(nominal_capacity(&cm, Direction::Transit, at(9, 0)), 0);
        assert_eq!(hour_capacity(&cm, Direction::Export, at(9, 0), Some(0)), 0);
        assert_eq!(hour_capacity(&cm, Direction::Export, at(20, 0), Some(5)), 5);
    }

    #[test]
    fn reserve_is_a_share_held_until_release() {
        let p = Policy::default();
        assert_eq!(reserved_seats(&p, 50), 10);
        assert_eq!(reserved_seats(&p, 4), 0);
        let h = at(10, 0);
        assert!(reserve_held(&p, h, h - 13 * HOUR));
        assert!(!reserve_held(&p, h, h - 12 * HOUR));
    }
}
