//! Booking a crossing slot (đặt khung giờ thông quan), cancelling and rescheduling it, the one
//! grace extension (gia hạn), no-shows, and the standby queue (hàng chờ dự phòng).

use super::capacity::{
    gate_scope, hour_capacity, load_gate, parse_direction, reserve_held, reserved_seats,
    unknown_gate,
};
use super::{
    db_err, floor_hour, is_concurrent, local_day, local_label, returned_ids, store_err, Policy,
    DAY, HOUR,
};
use crate::bulk::{json_rows, rows_sql, Col, Refusal};
use crate::gates::{Direction, Gate};
use crate::journey::Journal;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::{HashMap, HashSet};
use tinhso_kernel::{AppError, FieldErrors, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::native::{Param, RowRead};
use tinhso_store::{Backend, Db, DbError, Exec};

/// A booking request: the declared trip and the slot (gate, direction, hour) it wants.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct BookingInput {
    /// `border_trips.id` of the declaration.
    pub trip_id: String,
    /// Must be the trip's declared gate.
    pub gate_code: String,
    /// Must be the trip's declared direction (`export`, `import`, `transit`, `transshipment`).
    pub direction: String,
    /// The UTC instant the local hour starts, Unix microseconds, on the hour
    /// (see [`super::hour_start_of`]).
    pub hour_start: i64,
}

/// A booking (lượt đặt chỗ).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Booking {
    pub id: String,
    pub trip_id: String,
    pub gate_code: String,
    pub direction: Direction,
    pub hour_start: i64,
    /// Local `YYYY-MM-DD HH:MM` of the hour.
    pub local: String,
    pub perishable: bool,
    /// `active`, `cancelled`, `rescheduled`, `no_show`, `released` or `used`.
    pub status: String,
    /// The trip's one extension has been used.
    pub grace_used: bool,
    /// The truck must have arrived by then, or the booking is a no-show.
    pub arrive_by: i64,
    /// `booking`, `reschedule` or `from_standby`.
    pub source: String,
    pub created_at: i64,
}

const BOOKING_COLS: &str = "id, trip_id, gate_code, direction, hour_start, perishable, status, \
                            grace_used, arrive_by, source, created_at";

/// A booking from the first 11 columns of a row ([`BOOKING_COLS`]), on either engine.
fn booking_of(r: &dyn RowRead) -> Result<Booking, DbError> {
    let dir = r.text(3)?;
    let hour_start = r.int(4)?;
    Ok(Booking {
        id: r.text(0)?,
        trip_id: r.text(1)?,
        gate_code: r.text(2)?,
        direction: Direction::parse(&dir)
            .ok_or_else(|| DbError::Invalid(format!("booking direction {dir}")))?,
        hour_start,
        local: local_label(hour_start),
        perishable: r.int(5)? != 0,
        status: r.text(6)?,
        grace_used: r.int(7)? != 0,
        arrive_by: r.int(8)?,
        source: r.text(9)?,
        created_at: r.int(10)?,
    })
}

/// The trip fields booking needs.
#[derive(Debug, Clone)]
pub(crate) struct TripInfo {
    pub id: String,
    pub code: String,
    pub gate_code: String,
    pub direction: String,
    pub perishable: bool,
    pub stage: String,
}

/// Stages in which a trip may hold or take a slot.
pub const BOOKABLE_STAGES: [&str; 5] = ["declared", "staging", "yard", "checked", "paid"];

pub(crate) async fn load_trip<E: Exec>(tx: &mut E, trip_id: &str) -> Result<TripInfo, AppError> {
    let row = tx
        .row(
            "SELECT id, code, gate_code, direction, perishable, stage FROM border_trips WHERE id = $1",
            &[Param::Text(trip_id)],
            |r| {
                Ok(TripInfo {
                    id: r.text(0)?,
                    code: r.text(1)?,
                    gate_code: r.text(2)?,
                    direction: r.text(3)?,
                    perishable: r.int(4)? != 0,
                    stage: r.text(5)?,
                })
            },
        )
        .await
        .map_err(store_err)?;
    row.ok_or_else(|| {
        AppError::not_found().with_detail(
            format!("Không có tờ khai chuyến xe {trip_id}"),
            format!("There is no trip declaration {trip_id}"),
        )
    })
}

/// A trip stage (migration 8001) in Vietnamese, for messages.
pub fn stage_vi(stage: &str) -> &str {
    match stage {
        "declared" => "đã khai báo",
        "staging" => "ở bãi chờ",
        "yard" => "trong bãi kiểm hoá",
        "checked" => "đã kiểm tra xong",
        "paid" => "đã nộp phí",
        "crossed" => "đã qua cửa khẩu",
        "returned" => "đã quay đầu",
        "exited" => "đã ra khỏi khu cửa khẩu",
        "cancelled" => "đã huỷ",
        other => other,
    }
}

fn check_bookable(trip: &TripInfo) -> Result<(), AppError> {
    if BOOKABLE_STAGES.contains(&trip.stage.as_str()) {
        Ok(())
    } else {
        Err(AppError::conflict(
            format!(
                "Chuyến {} {}: không đặt hay đổi khung giờ được",
                trip.code,
                stage_vi(&trip.stage)
            ),
            format!(
                "Trip {} is at stage {}: its slot cannot be booked or changed",
                trip.code, trip.stage
            ),
        ))
    }
}

/// The active booking of a trip, read inside a transaction.
async fn active_in<E: Exec>(tx: &mut E, trip_id: &str) -> Result<Option<Booking>, AppError> {
    tx.row(&active_sql(), &[Param::Text(trip_id)], booking_of)
        .await
        .map_err(store_err)
}

fn active_sql() -> String {
    format!("SELECT {BOOKING_COLS} FROM border_bookings WHERE trip_id = $1 AND status = 'active'")
}

/// The active booking of a trip, if any.
pub async fn active_booking(db: &Db, trip_id: &str) -> Result<Option<Booking>, AppError> {
    Ok(db
        .read_rows(&active_sql(), &[Param::Text(trip_id)], booking_of)
        .await?
        .pop())
}

/// Every booking of a trip, oldest first (its slot history).
pub async fn bookings_of_trip(db: &Db, trip_id: &str) -> Result<Vec<Booking>, AppError> {
    let rows = sqlx::query(&format!(
        "SELECT {BOOKING_COLS} FROM border_bookings WHERE trip_id = $1 ORDER BY created_at, id"
    ))
    .bind(trip_id)
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|r| booking_of(r).map_err(AppError::from))
        .collect()
}

fn double_booking(code: &str) -> AppError {
    AppError::conflict(
        format!(
            "Chuyến {code} đã có khung giờ; hãy đổi khung giờ thay vì đặt thêm (mỗi chuyến chỉ giữ một chỗ)"
        ),
        format!("Trip {code} already holds a slot; reschedule it instead (a trip holds one slot)"),
    )
}

/// Check an hour for booking at `now`: on the hour, not over, not too far ahead.
fn check_hour(policy: &Policy, hour_start: i64, now: i64) -> Result<(), Invalid> {
    if hour_start != floor_hour(hour_start) {
        return Err(Invalid::new(
            "hour_start",
            "Khung giờ phải bắt đầu đúng giờ (phút 00)",
            "A slot starts on the hour (minute 00)",
        ));
    }
    if hour_start + HOUR <= now {
        return Err(Invalid::new(
            "slot_past",
            format!("Khung giờ {} đã qua", local_label(hour_start)),
            format!("The {} slot is over", local_label(hour_start)),
        ));
    }
    if hour_start > now + policy.max_days_ahead * DAY {
        return Err(Invalid::new(
            "slot_too_far",
            format!("Chỉ đặt trước tối đa {} ngày", policy.max_days_ahead),
            format!(
                "Slots are booked at most {} days ahead",
                policy.max_days_ahead
            ),
        ));
    }
    Ok(())
}

async fn override_in<E: Exec>(
    tx: &mut E,
    gate: &str,
    dir: Direction,
    hour_start: i64,
) -> Result<Option<(i64, String)>, AppError> {
    tx.row(
        "SELECT capacity, reason FROM border_slot_overrides \
         WHERE gate_code = $1 AND direction = $2 AND hour_start = $3",
        &[
            Param::Text(gate),
            Param::Text(dir.as_str()),
            Param::Int(hour_start),
        ],
        |r| Ok((r.int(0)?, r.text(1)?)),
    )
    .await
    .map_err(store_err)
}

/// Take one seat in the hour (and its local day unless `skip_day`), or say why not. A refusal
/// leaves no trace: a refused hour undoes the day's increment and the counter rows this call
/// created are deleted, so callers may go on in the same transaction, without a savepoint.
#[allow(clippy::too_many_arguments)]
async fn take_seat<E: Exec>(
    tx: &mut E,
    policy: &Policy,
    gate: &Gate,
    dir: Direction,
    hour_start: i64,
    perishable: bool,
    skip_day: bool,
    now: i64,
) -> Result<(), AppError> {
    let ovr = override_in(tx, &gate.code, dir, hour_start).await?;
    let cap = hour_capacity(gate, dir, hour_start, ovr.as_ref().map(|o| o.0));
    if cap <= 0 {
        let (vi, en) = match &ovr {
            Some((_, reason)) => (
                format!(
                    "Khung giờ {} tại {} đã bị Ban Quản lý đóng: {reason}",
                    local_label(hour_start),
                    gate.name_vi
                ),
                format!(
                    "The {} slot at {} was closed by the management board: {reason}",
                    local_label(hour_start),
                    gate.name_en
                ),
            ),
            None => (
                format!(
                    "{} chỉ làm việc từ {} đến {}: khung giờ {} nằm ngoài giờ mở cửa",
                    gate.name_vi,
                    gate.opens,
                    gate.closes,
                    local_label(hour_start)
                ),
                format!(
                    "{} is open from {} to {}: the {} slot is outside opening hours",
                    gate.name_en,
                    gate.opens,
                    gate.closes,
                    local_label(hour_start)
                ),
            ),
        };
        return Err(AppError::field(
            "hour_start",
            Invalid::new("slot_closed", vi, en),
        ));
    }
    let per_day = gate.capacity_for(dir).map(|c| c.per_day).unwrap_or(0);
    let day = local_day(hour_start);
    let mut fresh = Fresh::default();
    if !skip_day {
        fresh.day = tx.execute(
        "INSERT INTO border_slot_days (gate_code, direction, day, booked) VALUES ($1, $2, $3, 0) \
             ON CONFLICT (gate_code, direction, day) DO NOTHING",
        &[Param::Text(&gate.code), Param::Text(dir.as_str()), Param::Int(day)],
    )
    .await
    .map_err(store_err)? == 1;
        let n = tx
            .execute(
                "UPDATE border_slot_days SET booked = booked + 1 \
             WHERE gate_code = $1 AND direction = $2 AND day = $3 AND booked < $4",
                &[
                    Param::Text(&gate.code),
                    Param::Text(dir.as_str()),
                    Param::Int(day),
                    Param::Int(per_day),
                ],
            )
            .await
            .map_err(store_err)?;
        if n == 0 {
            fresh.forget(tx, &gate.code, dir, day, hour_start).await?;
            return Err(AppError::conflict(
                format!(
                    "{} đã đủ {per_day} xe {} trong ngày {}: hãy chọn ngày khác",
                    gate.name_vi,
                    dir.name_vi().to_lowercase(),
                    &local_label(hour_start)[..10]
                ),
                format!(
                    "{} has its {per_day} {} vehicles for {}: choose another day",
                    gate.name_en,
                    dir.as_str(),
                    &local_label(hour_start)[..10]
                ),
            ));
        }
    }
    let reserved = if reserve_held(policy, hour_start, now) {
        reserved_seats(policy, cap)
    } else {
        0
    };
    fresh.hour = tx
        .execute(
            "INSERT INTO border_slots (gate_code, direction, hour_start, booked, booked_perishable) \
         VALUES ($1, $2, $3, 0, 0) ON CONFLICT (gate_code, direction, hour_start) DO NOTHING",
            &[
                Param::Text(&gate.code),
                Param::Text(dir.as_str()),
                Param::Int(hour_start),
            ],
        )
        .await
        .map_err(store_err)?
        == 1;
    let p = i64::from(perishable);
    let n = tx.execute(
        "UPDATE border_slots SET booked = booked + 1, booked_perishable = booked_perishable + $4 \
         WHERE gate_code = $1 AND direction = $2 AND hour_start = $3 AND booked < $5 \
         AND ($4 = 1 OR booked - booked_perishable < $6)",
        &[Param::Text(&gate.code), Param::Text(dir.as_str()), Param::Int(hour_start), Param::Int(p), Param::Int(cap), Param::Int(cap - reserved)],
    )
    .await
    .map_err(store_err)?;
    if n == 1 {
        return Ok(());
    }
    if !skip_day {
        tx.execute(
            "UPDATE border_slot_days SET booked = booked - 1 \
             WHERE gate_code = $1 AND direction = $2 AND day = $3",
            &[
                Param::Text(&gate.code),
                Param::Text(dir.as_str()),
                Param::Int(day),
            ],
        )
        .await
        .map_err(store_err)?;
    }
    let booked = tx
        .row(
            "SELECT booked FROM border_slots WHERE gate_code = $1 AND direction = $2 AND hour_start = $3",
            &[Param::Text(&gate.code), Param::Text(dir.as_str()), Param::Int(hour_start)],
            |r| r.int(0),
        )
        .await
        .map_err(store_err)?
        .ok_or_else(|| AppError::internal("the hour's counter row is missing"))?;
    fresh.forget(tx, &gate.code, dir, day, hour_start).await?;
    if booked >= cap {
        Err(AppError::conflict(
            format!(
                "Khung giờ {} tại {} đã hết chỗ ({cap} xe): hãy chọn khung giờ khác hoặc vào hàng chờ dự phòng",
                local_label(hour_start),
                gate.name_vi
            ),
            format!(
                "The {} slot at {} is full ({cap} vehicles): choose another slot or join the standby queue",
                local_label(hour_start),
                gate.name_en
            ),
        ))
    } else {
        Err(AppError::conflict(
            format!(
                "Các chỗ còn lại của khung giờ {} được dành cho hàng tươi sống đến {}",
                local_label(hour_start),
                local_label(hour_start - policy.reserve_release_hours * HOUR)
            ),
            format!(
                "The remaining seats of the {} slot are held for perishable goods until {}",
                local_label(hour_start),
                local_label(hour_start - policy.reserve_release_hours * HOUR)
            ),
        ))
    }
}

/// The counter rows a [`take_seat`] created (hàng đếm mới tạo).
#[derive(Default)]
struct Fresh {
    day: bool,
    hour: bool,
}

impl Fresh {
    /// Delete the rows created, still at 0: the seat was refused.
    async fn forget<E: Exec>(
        &self,
        tx: &mut E,
        gate: &str,
        dir: Direction,
        day: i64,
        hour_start: i64,
    ) -> Result<(), AppError> {
        for (created, sql, at) in [
            (
                self.day,
                "DELETE FROM border_slot_days WHERE gate_code = $1 AND direction = $2 AND day = $3 \
                 AND booked = 0",
                day,
            ),
            (
                self.hour,
                "DELETE FROM border_slots WHERE gate_code = $1 AND direction = $2 \
                 AND hour_start = $3 AND booked = 0",
                hour_start,
            ),
        ] {
            if created {
                tx.execute(
                    sql,
                    &[Param::Text(gate), Param::Text(dir.as_str()), Param::Int(at)],
                )
                .await
                .map_err(store_err)?;
            }
        }
        Ok(())
    }
}

/// Give back the seat of a booking (day unless `skip_day`, then hour: the same lock order as
/// [`take_seat`]).
async fn free_seat<E: Exec>(tx: &mut E, b: &Booking, skip_day: bool) -> Result<(), AppError> {
    if !skip_day {
        tx.execute(
            "UPDATE border_slot_days SET booked = booked - 1 \
             WHERE gate_code = $1 AND direction = $2 AND day = $3",
            &[
                Param::Text(&b.gate_code),
                Param::Text(b.direction.as_str()),
                Param::Int(local_day(b.hour_start)),
            ],
        )
        .await
        .map_err(store_err)?;
    }
    tx.execute(
        "UPDATE border_slots SET booked = booked - 1, booked_perishable = booked_perishable - $4 \
         WHERE gate_code = $1 AND direction = $2 AND hour_start = $3",
        &[
            Param::Text(&b.gate_code),
            Param::Text(b.direction.as_str()),
            Param::Int(b.hour_start),
            Param::Int(i64::from(b.perishable)),
        ],
    )
    .await
    .map_err(store_err)?;
    Ok(())
}

/// Lock the counter rows of two hours (and their days) in one global order — days before
/// hours, earlier first — so that two reschedules crossing each other cannot deadlock on
/// PostgreSQL. (On SQLite writers are serialised anyway.)
async fn lock_in_order<E: Exec>(
    tx: &mut E,
    gate: &str,
    dir: Direction,
    a: i64,
    b: i64,
) -> Result<(), AppError> {
    let mut days = vec![local_day(a), local_day(b)];
    days.sort_unstable();
    days.dedup();
    for d in days {
        tx.execute(
        "INSERT INTO border_slot_days (gate_code, direction, day, booked) VALUES ($1, $2, $3, 0) \
             ON CONFLICT (gate_code, direction, day) DO NOTHING",
        &[Param::Text(gate), Param::Text(dir.as_str()), Param::Int(d)],
    )
    .await
    .map_err(store_err)?;
        tx.execute(
            "UPDATE border_slot_days SET booked = booked \
             WHERE gate_code = $1 AND direction = $2 AND day = $3",
            &[Param::Text(gate), Param::Text(dir.as_str()), Param::Int(d)],
        )
        .await
        .map_err(store_err)?;
    }
    for h in [a.min(b), a.max(b)] {
        tx.execute(
        "INSERT INTO border_slots (gate_code, direction, hour_start, booked, booked_perishable) \
             VALUES ($1, $2, $3, 0, 0) ON CONFLICT (gate_code, direction, hour_start) DO NOTHING",
        &[Param::Text(gate), Param::Text(dir.as_str()), Param::Int(h)],
    )
    .await
    .map_err(store_err)?;
        tx.execute(
            "UPDATE border_slots SET booked = booked \
             WHERE gate_code = $1 AND direction = $2 AND hour_start = $3",
            &[Param::Text(gate), Param::Text(dir.as_str()), Param::Int(h)],
        )
        .await
        .map_err(store_err)?;
    }
    Ok(())
}

fn arrive_by(policy: &Policy, hour_start: i64) -> i64 {
    hour_start + HOUR + policy.arrival_grace_minutes * 60_000_000
}

#[allow(clippy::too_many_arguments)]
async fn insert_booking<E: Exec>(
    tx: &mut E,
    ctx: &Ctx,
    policy: &Policy,
    trip: &TripInfo,
    gate: &Gate,
    dir: Direction,
    hour_start: i64,
    grace_used: bool,
    source: &str,
    now: i64,
) -> Result<Booking, AppError> {
    let b = Booking {
        id: uuid::Uuid::now_v7().to_string(),
        trip_id: trip.id.clone(),
        gate_code: gate.code.clone(),
        direction: dir,
        hour_start,
        local: local_label(hour_start),
        perishable: trip.perishable,
        status: "active".into(),
        grace_used,
        arrive_by: arrive_by(policy, hour_start),
        source: source.into(),
        created_at: now,
    };
    let r = tx
        .execute(
            "INSERT INTO border_bookings (id, trip_id, gate_code, direction, hour_start, perishable, \
             status, grace_used, arrive_by, source, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $9, $10, $11, $11)",
            &[
                Param::Text(&b.id),
                Param::Text(&b.trip_id),
                Param::Text(&b.gate_code),
                Param::Text(dir.as_str()),
                Param::Int(hour_start),
                Param::Int(i64::from(b.perishable)),
                Param::Int(i64::from(grace_used)),
                Param::Int(b.arrive_by),
                Param::Text(source),
                Param::Text(&ctx.actor),
                Param::Int(now),
            ],
        )
        .await;
    match r {
        Ok(_) => {}
        Err(e) => {
            return Err(if e.is_unique_violation() {
                double_booking(&trip.code)
            } else {
                e.into()
            });
        }
    }
    // A trip with a seat is off the standby queue.
    tx.execute(
        "UPDATE border_standby SET status = 'seated', updated_at = $2 \
         WHERE trip_id = $1 AND status = 'waiting'",
        &[Param::Text(&trip.id), Param::Int(now)],
    )
    .await
    .map_err(store_err)?;
    Ok(b)
}

fn event(b: &Booking, trip_code: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut v = serde_json::json!({
        "booking_id": b.id, "trip_id": b.trip_id, "trip_code": trip_code,
        "gate_code": b.gate_code, "direction": b.direction.as_str(),
        "hour_start": b.hour_start, "local": b.local, "perishable": b.perishable,
        "status": b.status, "arrive_by": b.arrive_by,
    });
    if let (Some(m), serde_json::Value::Object(x)) = (v.as_object_mut(), extra) {
        m.extend(x);
    }
    v
}

/// Book a slot for a declared trip. Bad input gives field errors (`gate_code`, `direction`,
/// `hour_start`, including `slot_closed` outside opening hours) and writes nothing; a full
/// hour or day, seats held for perishables, a trip that already holds a slot or has crossed
/// are 409 conflicts. Audited `border.slot_book`, announced `border.slot_booked`.
pub async fn book(
    db: &Db,
    ctx: &Ctx,
    policy: &Policy,
    input: &BookingInput,
    now: i64,
) -> Result<Booking, AppError> {
    let gate = load_gate(db, input.gate_code.trim()).await?;
    let dir = check_request(policy, &gate, input, now)?;
    let mut tx = db.begin_native().await?;
    let b = book_in(&mut tx, ctx, policy, &gate, dir, input, now).await?;
    tx.commit().await?;
    Ok(b)
}

/// Book many slots in one transaction (the simulator, a bulk import): each booking is the one
/// [`book`] makes, behind a savepoint, so a refused one (409 or 422, its error in its place of
/// the answer) leaves no trace and the others stand. Bookings are taken in (gate, direction,
/// hour) order — the order the counter rows are locked in — whatever the input order; the
/// answer follows the input order. Any other error rolls the whole batch back.
pub async fn book_many(
    db: &Db,
    ctx: &Ctx,
    policy: &Policy,
    inputs: &[BookingInput],
    now: i64,
) -> Result<Vec<Result<Booking, AppError>>, AppError> {
    let gates: HashMap<String, Gate> = crate::gates::list(db)
        .await?
        .into_iter()
        .map(|g| (g.code.clone(), g))
        .collect();
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&inputs[a], &inputs[b]);
        (x.gate_code.trim(), x.direction.trim(), x.hour_start).cmp(&(
            y.gate_code.trim(),
            y.direction.trim(),
            y.hour_start,
        ))
    });
    let answers = if db.backend() == Backend::Sqlite {
        book_decided(db, ctx, policy, &gates, inputs, &order, now).await?
    } else {
        book_behind_savepoints(db, ctx, policy, &gates, inputs, &order, now).await?
    };
    let mut out: Vec<Option<Result<Booking, AppError>>> = inputs.iter().map(|_| None).collect();
    for (i, answer) in order.into_iter().zip(answers) {
        out[i] = Some(answer);
    }
    Ok(out
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(AppError::internal("booking left unanswered"))))
        .collect())
}

/// [`book_many`] on PostgreSQL: each booking behind a savepoint (a concurrent writer may take
/// a seat or book the trip under it).
async fn book_behind_savepoints(
    db: &Db,
    ctx: &Ctx,
    policy: &Policy,
    gates: &HashMap<String, Gate>,
    inputs: &[BookingInput],
    order: &[usize],
    now: i64,
) -> Result<Vec<Result<Booking, AppError>>, AppError> {
    crate::bulk::each_behind_savepoint(db, (), order.iter().copied(), |mut tx, (), i| async move {
        let input = &inputs[i];
        let r = match gate_and_direction(policy, gates, input, now) {
            Err(e) => Err(Refusal::Item(e)),
            Ok((gate, dir)) => book_in(&mut tx, ctx, policy, gate, dir, input, now)
                .await
                .map_err(|e| match e.status() {
                    409 | 422 => Refusal::Item(e),
                    _ => Refusal::Batch(e),
                }),
        };
        (tx, (), r)
    })
    .await
}

/// A batch's request: its gate among `gates`, and its own fields checked ([`check_request`]).
fn gate_and_direction<'g>(
    policy: &Policy,
    gates: &'g HashMap<String, Gate>,
    input: &BookingInput,
    now: i64,
) -> Result<(&'g Gate, Direction), AppError> {
    let code = input.gate_code.trim();
    let gate = gates.get(code).ok_or_else(|| unknown_gate(code))?;
    Ok((gate, check_request(policy, gate, input, now)?))
}

/// The request's own fields against the gate and the policy (nothing read from the database).
fn check_request(
    policy: &Policy,
    gate: &Gate,
    input: &BookingInput,
    now: i64,
) -> Result<Direction, AppError> {
    let mut errs = FieldErrors::new();
    let dir = errs.check("direction", parse_direction(gate, &input.direction));
    errs.check("hour_start", check_hour(policy, input.hour_start, now));
    errs.into_result()?;
    dir.ok_or_else(|| AppError::internal("direction checked above"))
}

/// A booking's reads and checks inside `tx`, nothing written: the trip must match the request,
/// be at a bookable stage and hold no slot.
async fn bookable_trip<E: Exec>(
    tx: &mut E,
    gate: &Gate,
    dir: Direction,
    input: &BookingInput,
) -> Result<TripInfo, AppError> {
    let trip = load_trip(tx, input.trip_id.trim()).await?;
    let mut errs = FieldErrors::new();
    if trip.gate_code != gate.code {
        errs.push(
            "gate_code",
            Invalid::new(
                "trip_gate",
                format!(
                    "Chuyến {} đã khai qua cửa khẩu {}",
                    trip.code, trip.gate_code
                ),
                format!(
                    "Trip {} was declared for gate {}",
                    trip.code, trip.gate_code
                ),
            ),
        );
    }
    if trip.direction != dir.as_str() {
        errs.push(
            "direction",
            Invalid::new(
                "trip_direction",
                format!(
                    "Chuyến {} đã khai loại hình {}",
                    trip.code,
                    Direction::parse(&trip.direction)
                        .map(|d| d.name_vi().to_lowercase())
                        .unwrap_or_else(|| trip.direction.clone())
                ),
                format!("Trip {} was declared as {}", trip.code, trip.direction),
            ),
        );
    }
    errs.into_result()?;
    check_bookable(&trip)?;
    if active_in(tx, &trip.id).await?.is_some() {
        return Err(double_booking(&trip.code));
    }
    Ok(trip)
}

/// A booking's writes once its seat is taken: the booking, audited `border.slot_book` and
/// announced `border.slot_booked`.
#[allow(clippy::too_many_arguments)]
async fn write_booking<E: Journal>(
    tx: &mut E,
    ctx: &Ctx,
    policy: &Policy,
    gate: &Gate,
    dir: Direction,
    input: &BookingInput,
    trip: &TripInfo,
    now: i64,
) -> Result<Booking, AppError> {
    let b = insert_booking(
        tx,
        ctx,
        policy,
        trip,
        gate,
        dir,
        input.hour_start,
        false,
        "booking",
        now,
    )
    .await?;
    let ev = event(&b, &trip.code, serde_json::json!({}));
    tx.audit(&ctx.entry(
        "border.slot_book",
        "border_trip",
        &trip.id,
        &gate_scope(gate),
        ev.clone(),
    ))
    .await?;
    tx.emit("border.slot_booked", &ev).await?;
    Ok(b)
}

/// The booking itself, inside `tx`: [`bookable_trip`], a seat taken ([`take_seat`]),
/// [`write_booking`].
async fn book_in<E: Journal>(
    tx: &mut E,
    ctx: &Ctx,
    policy: &Policy,
    gate: &Gate,
    dir: Direction,
    input: &BookingInput,
    now: i64,
) -> Result<Booking, AppError> {
    let trip = bookable_trip(tx, gate, dir, input).await?;
    take_seat(
        tx,
        policy,
        gate,
        dir,
        input.hour_start,
        trip.perishable,
        false,
        now,
    )
    .await?;
    write_booking(tx, ctx, policy, gate, dir, input, &trip, now).await
}

/// [`book_many`] on SQLite (one writer: nothing changes under the batch), in one native
/// transaction without savepoints (quyết trước, ghi sau): a booking is refused by its checks
/// (reads) or by [`take_seat`], which leaves no trace, so a refused one has written nothing.
/// An error once the seat is taken fails the batch.
async fn book_decided(
    db: &Db,
    ctx: &Ctx,
    policy: &Policy,
    gates: &HashMap<String, Gate>,
    inputs: &[BookingInput],
    order: &[usize],
    now: i64,
) -> Result<Vec<Result<Booking, AppError>>, AppError> {
    if order.is_empty() {
        return Ok(Vec::new());
    }
    let refused = |e: &AppError| matches!(e.status(), 409 | 422);
    let mut tx = db.begin_native().await?;
    let mut out = Vec::with_capacity(order.len());
    for &i in order {
        let input = &inputs[i];
        let (gate, dir) = match gate_and_direction(policy, gates, input, now) {
            Ok(x) => x,
            Err(e) => {
                out.push(Err(e));
                continue;
            }
        };
        let seat = match bookable_trip(&mut tx, gate, dir, input).await {
            Ok(trip) => take_seat(
                &mut tx,
                policy,
                gate,
                dir,
                input.hour_start,
                trip.perishable,
                false,
                now,
            )
            .await
            .map(|()| trip),
            Err(e) => Err(e),
        };
        match seat {
            Ok(trip) => out.push(Ok(write_booking(
                &mut tx, ctx, policy, gate, dir, input, &trip, now,
            )
            .await?)),
            Err(e) if refused(&e) => out.push(Err(e)),
            Err(e) => return Err(e),
        }
    }
    tx.commit().await?;
    Ok(out)
}

fn no_active(trip_id: &str) -> AppError {
    AppError::conflict(
        format!("Chuyến {trip_id} không có khung giờ đang giữ"),
        format!("Trip {trip_id} holds no slot"),
    )
}

async fn set_status<E: Exec>(
    tx: &mut E,
    b: &Booking,
    status: &str,
    now: i64,
) -> Result<(), AppError> {
    let n = tx.execute(
        "UPDATE border_bookings SET status = $2, updated_at = $3 WHERE id = $1 AND status = 'active'",
        &[Param::Text(&b.id), Param::Text(status), Param::Int(now)],
    )
    .await
    .map_err(store_err)?;
    if n == 1 {
        Ok(())
    } else {
        Err(no_active(&b.trip_id))
    }
}

/// Cancel a trip's booking and free its seat. Audited `border.slot_cancel`, announced
/// `border.slot_cancelled`.
pub async fn cancel(db: &Db, ctx: &Ctx, trip_id: &str, now: i64) -> Result<Booking, AppError> {
    let mut tx = db.begin_native().await?;
    let trip = load_trip(&mut tx, trip_id.trim()).await?;
    let mut b = active_in(&mut tx, &trip.id)
        .await?
        .ok_or_else(|| no_active(&trip.code))?;
    set_status(&mut tx, &b, "cancelled", now).await?;
    free_seat(&mut tx, &b, false).await?;
    b.status = "cancelled".into();
    let gate = load_gate(db, &b.gate_code).await?;
    let ev = event(&b, &trip.code, serde_json::json!({}));
    tx.audit(&ctx.entry(
        "border.slot_cancel",
        "border_trip",
        &trip.id,
        &gate_scope(&gate),
        ev.clone(),
    ))
    .await?;
    tx.emit("border.slot_cancelled", &ev).await?;
    tx.commit().await?;
    Ok(b)
}

/// Move a trip's booking to another hour at the same gate and direction: the new seat is taken
/// first, then the old one released, in one transaction, so a full new slot (409) keeps the old
/// booking untouched. The trip's one grace extension, if used, stays used. Audited
/// `border.slot_reschedule`, announced `border.slot_rescheduled`.
pub async fn reschedule(
    db: &Db,
    ctx: &Ctx,
    policy: &Policy,
    trip_id: &str,
    new_hour_start: i64,
    now: i64,
) -> Result<Booking, AppError> {
    let old = active_booking(db, trip_id.trim())
        .await?
        .ok_or_else(|| no_active(trip_id))?;
    if old.hour_start == new_hour_start {
        return Err(AppError::field(
            "hour_start",
            Invalid::new(
                "slot_same",
                "Chuyến đã giữ đúng khung giờ này",
                "The trip already holds this slot",
            ),
        ));
    }
    check_hour(policy, new_hour_start, now).map_err(|e| AppError::field("hour_start", e))?;
    let gate = load_gate(db, &old.gate_code).await?;
    let mut tx = db.begin_native().await?;
    let trip = load_trip(&mut tx, &old.trip_id).await?;
    check_bookable(&trip)?;
    // Re-read inside the transaction: the booking may have changed since.
    let old = active_in(&mut tx, &trip.id)
        .await?
        .ok_or_else(|| no_active(&trip.code))?;
    let same_day = local_day(old.hour_start) == local_day(new_hour_start);
    lock_in_order(
        &mut tx,
        &gate.code,
        old.direction,
        old.hour_start,
        new_hour_start,
    )
    .await?;
    take_seat(
        &mut tx,
        policy,
        &gate,
        old.direction,
        new_hour_start,
        trip.perishable,
        same_day,
        now,
    )
    .await?;
    set_status(&mut tx, &old, "rescheduled", now).await?;
    free_seat(&mut tx, &old, same_day).await?;
    let b = insert_booking(
        &mut tx,
        ctx,
        policy,
        &trip,
        &gate,
        old.direction,
        new_hour_start,
        old.grace_used,
        "reschedule",
        now,
    )
    .await?;
    let ev = event(
        &b,
        &trip.code,
        serde_json::json!({"from_hour_start": old.hour_start, "from_local": old.local,
                           "from_booking_id": old.id}),
    );
    tx.audit(&ctx.entry(
        "border.slot_reschedule",
        "border_trip",
        &trip.id,
        &gate_scope(&gate),
        ev.clone(),
    ))
    .await?;
    tx.emit("border.slot_rescheduled", &ev).await?;
    tx.commit().await?;
    Ok(b)
}

/// The one extension for a truck late for its slot: `arrive_by` moves by the policy's
/// extension. A second request, a truck that has already arrived, or one past its deadline is
/// a 409. Audited `border.slot_grace`, announced `border.slot_grace`.
pub async fn extend_grace(
    db: &Db,
    ctx: &Ctx,
    policy: &Policy,
    trip_id: &str,
    now: i64,
) -> Result<Booking, AppError> {
    let mut tx = db.begin_native().await?;
    let trip = load_trip(&mut tx, trip_id.trim()).await?;
    let mut b = active_in(&mut tx, &trip.id)
        .await?
        .ok_or_else(|| no_active(&trip.code))?;
    if b.grace_used {
        return Err(AppError::conflict(
            format!(
                "Chuyến {} đã được gia hạn một lần; không gia hạn thêm",
                trip.code
            ),
            format!(
                "Trip {} has had its one extension; no further extension",
                trip.code
            ),
        ));
    }
    if trip.stage != "declared" {
        return Err(AppError::conflict(
            format!(
                "Xe của chuyến {} đã đến cửa khẩu: không cần gia hạn",
                trip.code
            ),
            format!(
                "The truck of trip {} has arrived: no extension needed",
                trip.code
            ),
        ));
    }
    if now > b.arrive_by {
        return Err(AppError::conflict(
            format!(
                "Đã quá hạn đến ({}): khung giờ của chuyến {} bị huỷ, hãy vào hàng chờ dự phòng",
                local_label(b.arrive_by),
                trip.code
            ),
            format!(
                "The arrival deadline ({}) has passed: trip {}'s slot is lost, join the standby queue",
                local_label(b.arrive_by),
                trip.code
            ),
        ));
    }
    let new_by = b.arrive_by + policy.extension_minutes * 60_000_000;
    tx.execute(
        "UPDATE border_bookings SET grace_used = 1, arrive_by = $2, updated_at = $3 \
         WHERE id = $1 AND status = 'active' AND grace_used = 0",
        &[Param::Text(&b.id), Param::Int(new_by), Param::Int(now)],
    )
    .await
    .map_err(store_err)?;
    let before = b.arrive_by;
    b.arrive_by = new_by;
    b.grace_used = true;
    let gate = load_gate(db, &b.gate_code).await?;
    let ev = event(
        &b,
        &trip.code,
        serde_json::json!({"arrive_by_before": before}),
    );
    tx.audit(&ctx.entry(
        "border.slot_grace",
        "border_trip",
        &trip.id,
        &gate_scope(&gate),
        ev.clone(),
    ))
    .await?;
    tx.emit("border.slot_grace", &ev).await?;
    tx.commit().await?;
    Ok(b)
}

async fn upsert_standby<E: Exec>(
    tx: &mut E,
    trip: &TripInfo,
    reason: &str,
    now: i64,
) -> Result<(), AppError> {
    tx.execute(
        "INSERT INTO border_standby (trip_id, gate_code, direction, perishable, since, reason, \
         status, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'waiting', $5) \
         ON CONFLICT (trip_id) DO UPDATE SET gate_code = excluded.gate_code, \
         direction = excluded.direction, perishable = excluded.perishable, since = excluded.since, \
         reason = excluded.reason, status = 'waiting', updated_at = excluded.updated_at",
        &[
            Param::Text(&trip.id),
            Param::Text(&trip.gate_code),
            Param::Text(&trip.direction),
            Param::Int(i64::from(trip.perishable)),
            Param::Int(now),
            Param::Text(reason),
        ],
    )
    .await
    .map_err(store_err)?;
    Ok(())
}

/// What a sweep released.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Released {
    pub booking: Booking,
    pub trip_code: String,
    /// `no_show` (moved to standby), `released` (the trip was cancelled, the seat is freed)
    /// or `used` (the truck crossed, returned or exited: the seat stays counted).
    pub status: String,
}

/// Release the bookings whose truck has not arrived by `arrive_by` (no-show: the trip moves to
/// the standby queue) and those of cancelled trips, and close as `used` those of trips that
/// have crossed (so the set of active bookings stays the trips in flight). Each is audited
/// (`border.slot_no_show`, `border.slot_release`, `border.slot_used`) and announced, all in
/// one transaction. Rows are handled in (gate, direction, hour) order, the lock order of every
/// seat change.
pub async fn sweep_no_shows(db: &Db, ctx: &Ctx, now: i64) -> Result<Vec<Released>, AppError> {
    sweep_no_shows_at(db, ctx, &crate::gates::list(db).await?, now).await
}

/// [`sweep_no_shows`] with the gates already read (the queue job reads them once a round).
/// The bookings of trips over (crossed, returned, exited) are closed as `used` in one
/// statement; no-shows and released seats one by one (each frees its seat); the audit entries
/// and events are written at the commit, one statement each.
pub(crate) async fn sweep_no_shows_at(
    db: &Db,
    ctx: &Ctx,
    gates: &[Gate],
    now: i64,
) -> Result<Vec<Released>, AppError> {
    let cols = BOOKING_COLS
        .split(", ")
        .map(|c| format!("b.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    // Native on SQLite: the sweep's statements run on this thread (see `tinhso_store::exec`).
    let mut tx = db.begin_native().await?;
    tx.defer_audit_and_outbox();
    let rows = tx
        .rows(
            &format!(
                "SELECT {cols}, t.stage, t.code FROM border_bookings b JOIN border_trips t ON t.id = b.trip_id \
                 WHERE b.status = 'active' AND ((t.stage = 'declared' AND b.arrive_by < $1) \
                 OR t.stage IN ('cancelled', 'crossed', 'returned', 'exited')) \
                 ORDER BY b.gate_code, b.direction, b.hour_start, b.id"
            ),
            &[Param::Int(now)],
            |r| Ok((booking_of(r)?, r.text(11)?, r.text(12)?)),
        )
        .await
        .map_err(store_err)?;
    // First every seat change, then every audit entry and event: the audit chain's head is
    // locked from the first entry to the commit, and must be taken after the counter rows
    // (the order every booking uses), never before.
    let mut out = Vec::new();
    let mut used: Vec<String> = Vec::new();
    for (mut b, stage, code) in rows {
        let status = match stage.as_str() {
            "declared" => "no_show",
            "cancelled" => "released",
            _ => "used",
        };
        if status == "used" {
            used.push(b.id.clone());
        } else {
            set_status(&mut tx, &b, status, now).await?;
            free_seat(&mut tx, &b, false).await?;
        }
        b.status = status.into();
        if status == "no_show" {
            let trip = load_trip(&mut tx, &b.trip_id).await?;
            upsert_standby(&mut tx, &trip, "no_show", now).await?;
        }
        out.push(Released {
            booking: b,
            trip_code: code,
            status: status.into(),
        });
    }
    if !used.is_empty() {
        let sql = format!(
            "UPDATE border_bookings SET status = 'used', updated_at = $2 \
             WHERE id IN (SELECT id FROM ({}) AS j) AND status = 'active' RETURNING id",
            rows_sql(tx.backend(), 1, &[("id", Col::Text)])
        );
        let ids = json_rows(used.iter().map(|id| serde_json::json!([id])));
        let closed = returned_ids(&mut tx, &sql, ids, now).await?;
        // A booking changed meanwhile by another transaction: as `set_status` would say.
        if let Some(x) = out
            .iter()
            .find(|x| x.status == "used" && !closed.contains(&x.booking.id))
        {
            return Err(no_active(&x.booking.trip_id));
        }
    }
    for x in &out {
        let b = &x.booking;
        let gate = gates
            .iter()
            .find(|g| g.code == b.gate_code)
            .ok_or_else(|| unknown_gate(&b.gate_code))?;
        let ev = event(b, &x.trip_code, serde_json::json!({}));
        let (action, topic) = match x.status.as_str() {
            "no_show" => ("border.slot_no_show", "border.slot_no_show"),
            "released" => ("border.slot_release", "border.slot_released"),
            _ => ("border.slot_used", "border.slot_used"),
        };
        tx.audit(&ctx.entry(
            action,
            "border_trip",
            &b.trip_id,
            &gate_scope(gate),
            ev.clone(),
        ))
        .await?;
        tx.emit(topic, &ev).await?;
    }
    tx.commit().await?;
    Ok(out)
}

/// Put a trip without a slot on the standby queue of its gate and direction (e.g. a truck that
/// arrived without booking, or found every slot full). A trip holding a slot is a 409.
/// Audited `border.standby_join`, announced `border.standby_joined`.
pub async fn join_standby(db: &Db, ctx: &Ctx, trip_id: &str, now: i64) -> Result<(), AppError> {
    let mut tx = db.begin_native().await?;
    let trip = load_trip(&mut tx, trip_id.trim()).await?;
    check_bookable(&trip)?;
    if active_in(&mut tx, &trip.id).await?.is_some() {
        return Err(double_booking(&trip.code));
    }
    upsert_standby(&mut tx, &trip, "joined", now).await?;
    let gate = load_gate(db, &trip.gate_code).await?;
    let ev = serde_json::json!({"trip_id": trip.id, "trip_code": trip.code,
        "gate_code": trip.gate_code, "direction": trip.direction, "perishable": trip.perishable});
    tx.audit(&ctx.entry(
        "border.standby_join",
        "border_trip",
        &trip.id,
        &gate_scope(&gate),
        ev.clone(),
    ))
    .await?;
    tx.emit("border.standby_joined", &ev).await?;
    tx.commit().await?;
    Ok(())
}

/// A standby entry.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StandbyEntry {
    pub trip_id: String,
    pub perishable: bool,
    pub since: i64,
    /// `no_show` or `joined`.
    pub reason: String,
}

/// The waiting standby trucks of a gate and direction, in seating order (perishables first,
/// then first-come).
pub async fn standby(
    db: &Db,
    gate_code: &str,
    direction: Direction,
) -> Result<Vec<StandbyEntry>, AppError> {
    let rows = sqlx::query(
        "SELECT trip_id, perishable, since, reason FROM border_standby \
         WHERE gate_code = $1 AND direction = $2 AND status = 'waiting' \
         ORDER BY perishable DESC, since, trip_id",
    )
    .bind(gate_code)
    .bind(direction.as_str())
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            Ok(StandbyEntry {
                trip_id: r.try_get(0).map_err(db_err)?,
                perishable: r.try_get::<i64, _>(1).map_err(db_err)? != 0,
                since: r.try_get(2).map_err(db_err)?,
                reason: r.try_get(3).map_err(db_err)?,
            })
        })
        .collect()
}

/// Give free seats of the current hour and the policy's next hours to standby trucks, in
/// standby order; each seat is its own transaction (audited `border.standby_seat`, announced
/// `border.standby_seated`). Returns the new bookings. Trucks whose trip crossed, was cancelled
/// or holds a slot leave the queue (`border.standby_leave`). A round only takes seats, so an
/// hour refused to a perishable truck (or closed) is refused to every later one, and an hour
/// refused to an ordinary truck to every later ordinary one: those hours are not asked again
/// in the round, and a truck with no hour left to ask costs no statement.
pub async fn seat_standby(
    db: &Db,
    ctx: &Ctx,
    policy: &Policy,
    gate_code: &str,
    direction: Direction,
    now: i64,
) -> Result<Vec<Booking>, AppError> {
    let gates = crate::gates::list(db).await?;
    match gates.iter().find(|g| g.code == gate_code) {
        Some(gate) => seat_standby_at(db, ctx, policy, gate, direction, now).await,
        None if standby(db, gate_code, direction).await?.is_empty() => Ok(Vec::new()),
        None => Err(unknown_gate(gate_code)),
    }
}

/// [`seat_standby`] with the gate already read.
pub(crate) async fn seat_standby_at(
    db: &Db,
    ctx: &Ctx,
    policy: &Policy,
    gate: &Gate,
    direction: Direction,
    now: i64,
) -> Result<Vec<Booking>, AppError> {
    let waiting = standby(db, &gate.code, direction).await?;
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT s.trip_id, t.perishable, {} FROM border_standby s \
         JOIN border_trips t ON t.id = s.trip_id \
         WHERE s.gate_code = $1 AND s.direction = $2 AND s.status = 'waiting'",
        may_leave_sql()
    );
    let known = db
        .read_rows(
            &sql,
            &[Param::Text(&gate.code), Param::Text(direction.as_str())],
            |r| Ok((r.text(0)?, (r.int(1)? != 0, r.int(2)? != 0))),
        )
        .await
        .map_err(store_err)?
        .into_iter()
        .collect();
    seat_waiting(db, ctx, policy, gate, direction, waiting, &known, now).await
}

/// Whether a waiting truck may leave the standby queue (its trip's stage no longer bookable,
/// or a slot held; read again in its own transaction before it leaves): a column of a read of
/// `border_standby s` joined with `border_trips t`, 1 or 0.
fn may_leave_sql() -> String {
    format!(
        "CASE WHEN t.stage NOT IN ({}) OR EXISTS (SELECT 1 FROM border_bookings b \
         WHERE b.trip_id = s.trip_id AND b.status = 'active') THEN 1 ELSE 0 END",
        BOOKABLE_STAGES
            .iter()
            .map(|st| format!("'{st}'"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The waiting standby trucks of one gate and direction, with what the round knows of each
/// trip (perishable, may leave).
pub(crate) struct Waiting {
    pub(crate) gate_code: String,
    pub(crate) direction: Direction,
    pub(crate) entries: Vec<StandbyEntry>,
    pub(crate) known: HashMap<String, (bool, bool)>,
}

/// Every waiting standby truck, grouped by gate and direction (in that order, each group in
/// seating order), with its trip's facts: the queue job's one standby read per round. A
/// direction that does not parse is left out, as the round never seats it.
pub(crate) async fn waiting_standby(db: &Db) -> Result<Vec<Waiting>, AppError> {
    let sql = format!(
        "SELECT s.gate_code, s.direction, s.trip_id, s.perishable, s.since, s.reason, t.id, \
         t.perishable, {} FROM border_standby s \
         LEFT JOIN border_trips t ON t.id = s.trip_id WHERE s.status = 'waiting' \
         ORDER BY s.gate_code, s.direction, s.perishable DESC, s.since, s.trip_id",
        may_leave_sql()
    );
    let rows = db
        .read_rows(&sql, &[], |r| {
            let trip = match r.opt_text(6)? {
                Some(_) => Some((r.opt_int(7)?.unwrap_or(0) != 0, r.int(8)? != 0)),
                None => None,
            };
            Ok((
                r.text(0)?,
                r.text(1)?,
                StandbyEntry {
                    trip_id: r.text(2)?,
                    perishable: r.int(3)? != 0,
                    since: r.int(4)?,
                    reason: r.text(5)?,
                },
                trip,
            ))
        })
        .await
        .map_err(store_err)?;
    let mut out: Vec<Waiting> = Vec::new();
    for (gate_code, dir, entry, trip) in rows {
        let Some(direction) = Direction::parse(&dir) else {
            continue;
        };
        let same = out
            .last()
            .is_some_and(|w| w.gate_code == gate_code && w.direction.as_str() == dir);
        if !same {
            out.push(Waiting {
                gate_code,
                direction,
                entries: Vec::new(),
                known: HashMap::new(),
            });
        }
        let Some(w) = out.last_mut() else { continue };
        if let Some(t) = trip {
            w.known.insert(entry.trip_id.clone(), t);
        }
        w.entries.push(entry);
    }
    Ok(out)
}

/// Seat the `waiting` trucks of a gate and direction (in that order; `known`: per trip,
/// whether it is perishable and whether it may leave the queue).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn seat_waiting(
    db: &Db,
    ctx: &Ctx,
    policy: &Policy,
    gate: &Gate,
    direction: Direction,
    waiting: Vec<StandbyEntry>,
    known: &HashMap<String, (bool, bool)>,
    now: i64,
) -> Result<Vec<Booking>, AppError> {
    let first = floor_hour(now);
    let hours: Vec<i64> = (0..=policy.standby_horizon_hours.max(0))
        .map(|i| first + i * HOUR)
        .collect();
    // Hours refused this round: to everyone, and to ordinary trucks.
    let mut full_for_all: HashSet<i64> = HashSet::new();
    let mut full_for_ordinary: HashSet<i64> = HashSet::new();
    let mut seated = Vec::new();
    for w in waiting {
        // A standby entry without its trip: the 404 of `load_trip`.
        let Some(&(perishable, may_leave)) = known.get(&w.trip_id) else {
            return Err(AppError::not_found().with_detail(
                format!("Không có tờ khai chuyến xe {}", w.trip_id),
                format!("There is no trip declaration {}", w.trip_id),
            ));
        };
        let open: Vec<i64> = hours
            .iter()
            .copied()
            .filter(|h| !full_for_all.contains(h) && (perishable || !full_for_ordinary.contains(h)))
            .collect();
        if open.is_empty() && !may_leave {
            continue;
        }
        // Native on SQLite: the seat's statements run on this thread.
        let mut tx = db.begin_native().await?;
        let trip = load_trip(&mut tx, &w.trip_id).await?;
        if check_bookable(&trip).is_err() || active_in(&mut tx, &trip.id).await?.is_some() {
            tx.execute(
                "UPDATE border_standby SET status = 'left', updated_at = $2 WHERE trip_id = $1",
                &[Param::Text(&trip.id), Param::Int(now)],
            )
            .await
            .map_err(store_err)?;
            let ev = serde_json::json!({"trip_id": trip.id, "trip_code": trip.code,
                "gate_code": trip.gate_code, "direction": trip.direction, "stage": trip.stage});
            tx.audit(&ctx.entry(
                "border.standby_leave",
                "border_trip",
                &trip.id,
                &gate_scope(gate),
                ev.clone(),
            ))
            .await?;
            tx.emit("border.standby_left", &ev).await?;
            tx.commit().await?;
            continue;
        }
        let mut got = None;
        for h in open {
            match take_seat(
                &mut tx,
                policy,
                gate,
                direction,
                h,
                trip.perishable,
                false,
                now,
            )
            .await
            {
                Ok(()) => {
                    got = Some(h);
                    break;
                }
                Err(e) if (e.status() == 409 && !is_concurrent(&e)) || e.status() == 422 => {
                    if trip.perishable || e.status() == 422 {
                        full_for_all.insert(h);
                    } else {
                        full_for_ordinary.insert(h);
                    }
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        let Some(h) = got else { continue };
        let grace_used = tx
            .row(
                "SELECT COUNT(*) FROM border_bookings WHERE trip_id = $1 AND grace_used = 1",
                &[Param::Text(&trip.id)],
                |r| r.int(0),
            )
            .await
            .map_err(store_err)?
            .unwrap_or(0)
            > 0;
        let b = insert_booking(
            &mut tx,
            ctx,
            policy,
            &trip,
            gate,
            direction,
            h,
            grace_used,
            "from_standby",
            now,
        )
        .await?;
        let ev = event(
            &b,
            &trip.code,
            serde_json::json!({"standby_since": w.since}),
        );
        tx.audit(&ctx.entry(
            "border.standby_seat",
            "border_trip",
            &trip.id,
            &gate_scope(gate),
            ev.clone(),
        ))
        .await?;
        tx.emit("border.standby_seated", &ev).await?;
        tx.commit().await?;
        seated.push(b);
    }
    Ok(seated)
}
