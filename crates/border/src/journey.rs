//! A trip's journey (hành trình của chuyến xe): one state machine over `border_trips.stage`,
//! with the first time each stage was reached, and what said so, in `border_trip_stages`.
//!
//! declared (đã khai) → staging (vào bãi chờ) → yard (vào bãi kiểm hoá) → checked (các cơ quan
//! kiểm tra xong) → paid (đã nộp phí) → crossed (đã qua cửa khẩu) → returned (quay lại) |
//! exited (rời khu cửa khẩu). `cancelled` (đã huỷ) is set by the declaration, not here.
//!
//! Events only move a trip forward (stages may be skipped: a staging camera that missed the
//! truck does not hold it back). A late or out-of-order event still records its stage's time
//! (the earliest time seen is kept), but never moves the trip backwards. Officers may move a
//! trip anywhere ([`override_stage`]), with a mandatory reason, on the audit trail.

use serde::Serialize;
use sqlx::Row;
use tinhso_kernel::{AppError, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::native::Param;
use tinhso_store::{now_micros, Backend, Db, DbError, Exec, WriteTx};

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

/// A write transaction that also keeps the audit trail and the outbox: the store's
/// [`tinhso_store::Journal`], which the journey's and the fee batches' writes use.
pub(crate) use tinhso_store::Journal;

/// A stage of the journey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Đã khai báo.
    Declared,
    /// Đã đến bãi chờ.
    Staging,
    /// Đã vào bãi kiểm hoá.
    Yard,
    /// Các cơ quan đã kiểm tra xong.
    Checked,
    /// Đã nộp phí hạ tầng.
    Paid,
    /// Đã qua cửa khẩu.
    Crossed,
    /// Quay lại (không qua được).
    Returned,
    /// Đã rời khu cửa khẩu.
    Exited,
    /// Đã huỷ.
    Cancelled,
}

impl Stage {
    pub const ALL: [Stage; 9] = [
        Stage::Declared,
        Stage::Staging,
        Stage::Yard,
        Stage::Checked,
        Stage::Paid,
        Stage::Crossed,
        Stage::Returned,
        Stage::Exited,
        Stage::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Declared => "declared",
            Stage::Staging => "staging",
            Stage::Yard => "yard",
            Stage::Checked => "checked",
            Stage::Paid => "paid",
            Stage::Crossed => "crossed",
            Stage::Returned => "returned",
            Stage::Exited => "exited",
            Stage::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Checked parse, for input.
    pub fn parse_input(s: &str) -> Result<Stage, Invalid> {
        Stage::parse(s.trim()).ok_or_else(|| {
            Invalid::new(
                "stage",
                "Giai đoạn không hợp lệ (declared, staging, yard, checked, paid, crossed, returned, exited, cancelled)",
                "Unknown stage (declared, staging, yard, checked, paid, crossed, returned, exited, cancelled)",
            )
        })
    }

    pub fn name_vi(self) -> &'static str {
        match self {
            Stage::Declared => "Đã khai báo",
            Stage::Staging => "Đã đến bãi chờ",
            Stage::Yard => "Đã vào bãi kiểm hoá",
            Stage::Checked => "Đã kiểm tra xong",
            Stage::Paid => "Đã nộp phí",
            Stage::Crossed => "Đã qua cửa khẩu",
            Stage::Returned => "Quay lại",
            Stage::Exited => "Đã rời cửa khẩu",
            Stage::Cancelled => "Đã huỷ",
        }
    }

    /// The order of the journey; `returned` and `exited` are both last, `cancelled` is outside.
    fn rank(self) -> u8 {
        match self {
            Stage::Declared => 0,
            Stage::Staging => 1,
            Stage::Yard => 2,
            Stage::Checked => 3,
            Stage::Paid => 4,
            Stage::Crossed => 5,
            Stage::Returned | Stage::Exited => 6,
            Stage::Cancelled => 7,
        }
    }

    /// Whether the journey is over (no event moves it any more).
    pub fn is_final(self) -> bool {
        matches!(self, Stage::Returned | Stage::Exited | Stage::Cancelled)
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Stage::Declared => "Declared",
            Stage::Staging => "At the staging area",
            Stage::Yard => "In the inspection yard",
            Stage::Checked => "Checks done",
            Stage::Paid => "Fee paid",
            Stage::Crossed => "Crossed",
            Stage::Returned => "Turned back",
            Stage::Exited => "Left the gate area",
            Stage::Cancelled => "Cancelled",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Stage::Declared => "已申报",
            Stage::Staging => "在等候停车场",
            Stage::Yard => "在查验场",
            Stage::Checked => "查验完毕",
            Stage::Paid => "已缴费",
            Stage::Crossed => "已通关",
            Stage::Returned => "已返回",
            Stage::Exited => "已离开口岸",
            Stage::Cancelled => "已取消",
        }
    }

    /// The trip is over for its declarer: crossed, turned back, left or cancelled (no
    /// correction, no booking, no pass).
    pub fn is_over(self) -> bool {
        !self.is_active()
    }

    /// The truck has reached the gate area (and not been cancelled).
    pub fn arrived(self) -> bool {
        !matches!(self, Stage::Declared | Stage::Cancelled)
    }

    /// Whether camera reads may still be attached (the trip is still on this side).
    pub fn is_active(self) -> bool {
        self.rank() < Stage::Crossed.rank()
    }

    /// Whether an event at `to` moves a trip now at `self`.
    pub fn moves_to(self, to: Stage) -> bool {
        !self.is_final() && to != Stage::Cancelled && to.rank() > self.rank()
    }
}

/// What said a stage was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Declaration,
    Camera,
    Qr,
    Gps,
    Officer,
    Customs,
    /// The fee payment's settlement (the gateway's confirmation).
    Payment,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Declaration => "declaration",
            Source::Camera => "camera",
            Source::Qr => "qr",
            Source::Gps => "gps",
            Source::Officer => "officer",
            Source::Customs => "customs",
            Source::Payment => "payment",
        }
    }
}

/// What [`advance`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Advance {
    pub trip_id: String,
    /// The trip's stage before.
    pub from: Stage,
    /// The trip's stage after (`from` when it did not move).
    pub to: Stage,
    /// The trip moved forward.
    pub moved: bool,
    /// The stage's time was written (first seen, or earlier than the one recorded).
    pub time_recorded: bool,
}

/// The trip's current stage, `None` when there is no such trip.
pub async fn current(tx: &mut WriteTx, trip_id: &str) -> Result<Option<Stage>, AppError> {
    let row = sqlx::query("SELECT stage FROM border_trips WHERE id = $1")
        .bind(trip_id)
        .fetch_optional(tx.conn())
        .await
        .map_err(db_err)?;
    match row {
        None => Ok(None),
        Some(r) => {
            let s: String = r.try_get(0).map_err(db_err)?;
            Stage::parse(&s)
                .map(Some)
                .ok_or_else(|| AppError::internal(format!("trip {trip_id}: unknown stage {s}")))
        }
    }
}

fn no_trip(trip_id: &str) -> AppError {
    AppError::not_found().with_detail(
        format!("Không có chuyến {trip_id}"),
        format!("No trip {trip_id}"),
    )
}

/// Record the time `trip_id` reached `stage` (kept if earlier than one already recorded) and
/// move the trip forward if `stage` is ahead of where it is. Never moves it back; a trip whose
/// journey is over (returned, exited, cancelled) only gets the time recorded. Call it inside
/// the caller's write transaction (agency checks, fees, events).
pub async fn advance(
    tx: &mut WriteTx,
    trip_id: &str,
    stage: Stage,
    at_micros: i64,
    source: Source,
) -> Result<Advance, AppError> {
    let from = current(tx, trip_id)
        .await?
        .ok_or_else(|| no_trip(trip_id))?;
    advance_from(tx, trip_id, from, stage, at_micros, source).await
}

/// [`advance`] when the caller already knows the trip's stage (read in this transaction).
pub(crate) async fn advance_from(
    tx: &mut WriteTx,
    trip_id: &str,
    from: Stage,
    stage: Stage,
    at_micros: i64,
    source: Source,
) -> Result<Advance, AppError> {
    advance_from_in(tx, None, trip_id, from, stage, at_micros, source).await
}

/// Stage times and trip moves a batch keeps to write before its commit
/// ([`StageWrites::write`]), a few multi-row statements instead of two per move (ghi dồn
/// hành trình). Only for a transaction that is the trip rows' only writer and that keeps
/// their stages itself (on SQLite the agencies' checks, [`crate::checks::record_many`], and
/// the fee callbacks, [`crate::fee_payment::callback_many`]):
/// nothing in it may read `border_trips.stage` or `border_trip_stages` of a trip it moved.
#[derive(Debug, Default)]
pub(crate) struct StageWrites {
    /// The earliest time per (trip, stage), with what said so.
    times: std::collections::BTreeMap<(String, Stage), (i64, Source)>,
    /// Per trip: the stage it was at before the batch's first move, and its last move's
    /// stage and time.
    moves: std::collections::BTreeMap<String, (Stage, Stage, i64)>,
}

impl StageWrites {
    /// As [`record_time`]: whether the time would be written (first seen, or earlier).
    fn time(&mut self, trip_id: &str, stage: Stage, at: i64, source: Source) -> bool {
        match self.times.entry((trip_id.to_string(), stage)) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert((at, source));
                true
            }
            std::collections::btree_map::Entry::Occupied(mut o) => {
                let earlier = at < o.get().0;
                if earlier {
                    o.insert((at, source));
                }
                earlier
            }
        }
    }

    fn moved(&mut self, trip_id: &str, from: Stage, to: Stage, at: i64) {
        self.moves
            .entry(trip_id.to_string())
            .and_modify(|m| (m.1, m.2) = (to, at))
            .or_insert((from, to, at));
    }

    /// Write the kept stage times (the earliest kept, as [`record_time`]) and moves (each
    /// trip from the stage it was at, as [`advance_from`]'s update; a trip found elsewhere
    /// fails the batch).
    pub(crate) async fn write(&self, tx: &mut impl Exec) -> Result<(), AppError> {
        use crate::bulk::{rows_sql, Col};
        let times: Vec<(&str, &str, i64, &str)> = self
            .times
            .iter()
            .map(|((trip, stage), (at, source))| {
                (trip.as_str(), stage.as_str(), *at, source.as_str())
            })
            .collect();
        let cols = [
            ("trip_id", Col::Text),
            ("stage", Col::Text),
            ("at", Col::Int),
            ("source", Col::Text),
        ];
        crate::bulk::insert_rows(
            tx,
            "border_trip_stages",
            &cols,
            "WHERE true ON CONFLICT (trip_id, stage) DO UPDATE SET at = excluded.at, \
             source = excluded.source WHERE excluded.at < border_trip_stages.at",
            &times,
        )
        .await?;
        if !self.moves.is_empty() {
            let rows: Vec<(&str, &str, &str, i64)> = self
                .moves
                .iter()
                .map(|(trip, (from, to, at))| (trip.as_str(), from.as_str(), to.as_str(), *at))
                .collect();
            let source = rows_sql(
                tx.backend(),
                1,
                &[
                    ("id", Col::Text),
                    ("from_stage", Col::Text),
                    ("stage", Col::Text),
                    ("at", Col::Int),
                ],
            );
            let body = serde_json::to_string(&rows).map_err(AppError::internal)?;
            let n = tx
                .execute(
                    &format!(
                        "UPDATE border_trips SET stage = j.stage, stage_at = j.at, updated_at = $2 \
                         FROM ({source}) AS j WHERE border_trips.id = j.id \
                         AND border_trips.stage = j.from_stage"
                    ),
                    &[Param::Text(&body), Param::Int(now_micros())],
                )
                .await
                .map_err(AppError::from)?;
            if n != rows.len() as u64 {
                return Err(AppError::internal(format!(
                    "stage moves: {n} of {} trips updated",
                    rows.len()
                )));
            }
        }
        Ok(())
    }
}

/// [`advance_from`], its writes kept in `later` when given ([`StageWrites`]); the event
/// `border.trip.stage` is emitted at once either way (in the order of the moves).
pub(crate) async fn advance_from_in(
    tx: &mut impl Journal,
    later: Option<&mut StageWrites>,
    trip_id: &str,
    from: Stage,
    stage: Stage,
    at_micros: i64,
    source: Source,
) -> Result<Advance, AppError> {
    if let Some(later) = later {
        let time_recorded = later.time(trip_id, stage, at_micros, source);
        let moved = from.moves_to(stage);
        if moved {
            later.moved(trip_id, from, stage, at_micros);
            emit_stage(tx, trip_id, from, stage, at_micros, source).await?;
        }
        return Ok(Advance {
            trip_id: trip_id.to_string(),
            from,
            to: if moved { stage } else { from },
            moved,
            time_recorded,
        });
    }
    let time_recorded = record_time(tx, trip_id, stage, at_micros, source).await?;
    let moved = if from.moves_to(stage) {
        let n = tx
            .execute(
                "UPDATE border_trips SET stage = $1, stage_at = $2, updated_at = $3 \
                 WHERE id = $4 AND stage = $5",
                &[
                    Param::Text(stage.as_str()),
                    Param::Int(at_micros),
                    Param::Int(now_micros()),
                    Param::Text(trip_id),
                    Param::Text(from.as_str()),
                ],
            )
            .await
            .map_err(AppError::from)?;
        if n != 1 {
            return Err(AppError::conflict(
                "Chuyến vừa được cập nhật bởi thao tác khác, hãy thử lại",
                "The trip was just changed by someone else: try again",
            ));
        }
        emit_stage(tx, trip_id, from, stage, at_micros, source).await?;
        true
    } else {
        false
    };
    Ok(Advance {
        trip_id: trip_id.to_string(),
        from,
        to: if moved { stage } else { from },
        moved,
        time_recorded,
    })
}

/// The event `border.trip.stage` of one move.
async fn emit_stage(
    tx: &mut impl Journal,
    trip_id: &str,
    from: Stage,
    to: Stage,
    at: i64,
    source: Source,
) -> Result<(), AppError> {
    tx.emit(
        "border.trip.stage",
        &serde_json::json!({"trip_id": trip_id, "from": from.as_str(), "to": to.as_str(), "at": at, "source": source.as_str()}),
    )
    .await?;
    Ok(())
}

/// One event's say on a trip's stage, for [`advance_many`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageEvent {
    pub trip_id: String,
    pub stage: Stage,
    pub at: i64,
    pub source: Source,
}

/// Rows per multi-row statement in [`advance_many`].
const ROWS: usize = 2_000;

/// [`advance`] for many events at once, with a few multi-row statements (for batch
/// ingestion): every stage's earliest time recorded; each trip moved once, to the furthest
/// stage ahead of it; one outbox event `border.trip.stages` listing the moves. Events of
/// unknown trips are skipped. Returns one [`Advance`] per trip.
pub async fn advance_many(
    tx: &mut impl Journal,
    events: &[StageEvent],
) -> Result<Vec<Advance>, AppError> {
    advance_many_known(tx, events, |_| false).await
}

/// [`advance_many`] for a caller that remembers the stage times it wrote (the
/// [`crate::events::Ingestor`]): `recorded(e)` says that `e`'s stage already has a time at or
/// before `e.at` in `border_trip_stages`, so its upsert could not change anything and is not
/// sent. (Stage times only ever move earlier and are never deleted, so a time remembered from
/// a committed write is an upper bound of the stored one.) The trips are moved as by
/// [`advance_many`]; `time_recorded` is false for the skipped ones, as the upsert would have
/// said. Only trips with a time sent or a move made come back (one [`Advance`] each): a trip
/// whose every time is known and whose stage is already at or past the batch's furthest is
/// not read back.
pub async fn advance_many_known(
    tx: &mut impl Journal,
    events: &[StageEvent],
    recorded: impl Fn(&StageEvent) -> bool,
) -> Result<Vec<Advance>, AppError> {
    use crate::bulk::{rows_sql, Col};
    use std::collections::HashMap;
    // The earliest time per (trip, stage), and whether it is known to be stored already.
    let mut first: HashMap<(&str, Stage), (i64, Source, bool)> = HashMap::new();
    for e in events {
        let known = recorded(e);
        let v = first
            .entry((e.trip_id.as_str(), e.stage))
            .or_insert((e.at, e.source, known));
        if e.at < v.0 {
            *v = (e.at, e.source, known);
        }
    }
    type Pair<'a> = ((&'a str, Stage), (i64, Source, bool));
    let mut pairs: Vec<Pair> = first.into_iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    // Per trip: whether a stage time is to be sent (its existence is then needed), and the
    // furthest stage the batch shows (a trip whose stage is at or past it does not move).
    let mut trips: Vec<(&str, bool, i64)> = Vec::new();
    for ((trip, stage), (_, _, known)) in &pairs {
        let rank = if *stage == Stage::Cancelled {
            -1
        } else {
            i64::from(stage.rank())
        };
        match trips.last_mut() {
            Some(t) if t.0 == *trip => {
                t.1 |= !known;
                t.2 = t.2.max(rank);
            }
            _ => trips.push((trip, !known, rank)),
        }
    }
    // Current stages of the trips that may move or need a time sent — the others are not sent
    // back through the driver — locked on PostgreSQL (SQLite's writer is already exclusive).
    // The `CASE` is [`Stage::moves_to`] in SQL: a final stage never moves.
    let lock = if tx.backend() == Backend::Postgres {
        " FOR UPDATE OF t"
    } else {
        ""
    };
    let rank_of: String = Stage::ALL
        .iter()
        .filter(|s| !s.is_final())
        .map(|s| format!(" WHEN '{}' THEN {}", s.as_str(), s.rank()))
        .collect();
    let mut current: HashMap<String, Stage> = HashMap::new();
    let id_rows = rows_sql(
        tx.backend(),
        1,
        &[("id", Col::Text), ("need", Col::Int), ("rank", Col::Int)],
    );
    let sql = format!(
        "SELECT t.id, t.stage FROM ({id_rows}) AS j JOIN border_trips t ON t.id = j.id \
         WHERE j.need = 1 OR j.rank > CASE t.stage{rank_of} ELSE 99 END{lock}"
    );
    for chunk in trips.chunks(ROWS) {
        // Rows serialised straight from the borrowed fields (no `serde_json::Value` per row).
        let rows: Vec<(&str, u8, i64)> = chunk
            .iter()
            .map(|(id, need, rank)| (*id, u8::from(*need), *rank))
            .collect();
        let body = serde_json::to_string(&rows).map_err(AppError::internal)?;
        for (id, st) in tx
            .rows(&sql, &[Param::Text(&body)], |r| {
                Ok((r.text(0)?, r.text(1)?))
            })
            .await?
        {
            let st = Stage::parse(&st)
                .ok_or_else(|| AppError::internal(format!("trip {id}: unknown stage {st}")))?;
            current.insert(id, st);
        }
    }
    pairs.retain(|p| current.contains_key(p.0 .0));
    // Stage times: multi-row upsert keeping the earliest.
    let mut recorded: std::collections::HashSet<String> = std::collections::HashSet::new();
    let stage_rows = rows_sql(
        tx.backend(),
        1,
        &[
            ("trip_id", Col::Text),
            ("stage", Col::Text),
            ("at", Col::Int),
            ("source", Col::Text),
        ],
    );
    let upsert = format!(
        "INSERT INTO border_trip_stages (trip_id, stage, at, source) {stage_rows} WHERE true \
         ON CONFLICT (trip_id, stage) DO UPDATE SET at = excluded.at, \
         source = excluded.source WHERE excluded.at < border_trip_stages.at RETURNING trip_id"
    );
    let unknown: Vec<&Pair> = pairs.iter().filter(|p| !p.1 .2).collect();
    for chunk in unknown.chunks(ROWS) {
        let rows: Vec<(&str, &str, i64, &str)> = chunk
            .iter()
            .map(|((trip, stage), (at, source, _))| (*trip, stage.as_str(), *at, source.as_str()))
            .collect();
        let body = serde_json::to_string(&rows).map_err(AppError::internal)?;
        recorded.extend(
            tx.rows(&upsert, &[Param::Text(&body)], |r| r.text(0))
                .await?,
        );
    }
    // Each trip's furthest stage ahead of it.
    let mut target: HashMap<&str, (Stage, i64, Source)> = HashMap::new();
    for ((trip, stage), (at, source, _)) in &pairs {
        let Some(from) = current.get(*trip) else {
            continue;
        };
        if from.moves_to(*stage) {
            let t = target.entry(trip).or_insert((*stage, *at, *source));
            if stage.rank() > t.0.rank() {
                *t = (*stage, *at, *source);
            }
        }
    }
    let mut moving: Vec<(&str, Stage, Stage, i64, Source)> = target
        .iter()
        .filter_map(|(trip, (to, at, source))| {
            current
                .get(*trip)
                .map(|from| (*trip, *from, *to, *at, *source))
        })
        .collect();
    moving.sort_by(|a, b| a.0.cmp(b.0));
    let now = now_micros();
    let move_rows = rows_sql(
        tx.backend(),
        1,
        &[("id", Col::Text), ("stage", Col::Text), ("at", Col::Int)],
    );
    let update = format!(
        "UPDATE border_trips SET stage = j.stage, stage_at = j.at, updated_at = $2 \
         FROM ({move_rows}) AS j WHERE border_trips.id = j.id"
    );
    for chunk in moving.chunks(ROWS) {
        let n = chunk.len();
        let rows: Vec<(&str, &str, i64)> = chunk
            .iter()
            .map(|(trip, _, to, at, _)| (*trip, to.as_str(), *at))
            .collect();
        let body = serde_json::to_string(&rows).map_err(AppError::internal)?;
        let done = tx
            .execute(&update, &[Param::Text(&body), Param::Int(now)])
            .await?;
        if done != n as u64 {
            return Err(AppError::internal(format!(
                "advance_many: {done} of {n} trips updated"
            )));
        }
    }
    if !moving.is_empty() {
        let list: Vec<serde_json::Value> = moving
            .iter()
            .map(|(trip, from, to, at, source)| {
                serde_json::json!({"trip_id": trip, "from": from.as_str(), "to": to.as_str(), "at": at, "source": source.as_str()})
            })
            .collect();
        tx.emit("border.trip.stages", &serde_json::json!({ "moves": list }))
            .await?;
    }
    let mut out: Vec<Advance> = current
        .iter()
        .map(|(trip, from)| {
            let to = target.get(trip.as_str()).map(|t| t.0);
            Advance {
                trip_id: trip.clone(),
                from: *from,
                to: to.unwrap_or(*from),
                moved: to.is_some(),
                time_recorded: recorded.contains(trip),
            }
        })
        .collect();
    out.sort_by(|a, b| a.trip_id.cmp(&b.trip_id));
    Ok(out)
}

/// Write the stage's first time (or an earlier one). Returns whether anything was written.
async fn record_time(
    tx: &mut impl Exec,
    trip_id: &str,
    stage: Stage,
    at: i64,
    source: Source,
) -> Result<bool, AppError> {
    let n = tx
        .execute(
            "INSERT INTO border_trip_stages (trip_id, stage, at, source) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (trip_id, stage) DO UPDATE SET at = excluded.at, source = excluded.source \
             WHERE excluded.at < border_trip_stages.at",
            &[
                Param::Text(trip_id),
                Param::Text(stage.as_str()),
                Param::Int(at),
                Param::Text(source.as_str()),
            ],
        )
        .await
        .map_err(AppError::from)?;
    Ok(n > 0)
}

/// The reason an officer gives: required, at most 500 characters.
pub fn reason(s: &str) -> Result<String, Invalid> {
    let t = tinhso_kernel::text::nfc(s.trim());
    if t.is_empty() {
        return Err(Invalid::new(
            "reason_required",
            "Cần ghi lý do",
            "A reason is required",
        ));
    }
    if t.chars().count() > 500 {
        return Err(Invalid::new(
            "reason_length",
            "Lý do dài tối đa 500 ký tự",
            "The reason is at most 500 characters",
        ));
    }
    Ok(t)
}

/// An officer moves a trip to any stage (forward or back), with a reason, on the audit trail.
/// The stage's time is recorded as now if it was not recorded yet.
pub async fn override_stage(
    db: &Db,
    ctx: &Ctx,
    trip_id: &str,
    stage: Stage,
    why: &str,
) -> Result<Advance, AppError> {
    let why = reason(why).map_err(|e| AppError::field("reason", e))?;
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    let from = current(&mut tx, trip_id)
        .await?
        .ok_or_else(|| no_trip(trip_id))?;
    let gate: String = sqlx::query_scalar("SELECT gate_code FROM border_trips WHERE id = $1")
        .bind(trip_id)
        .fetch_one(tx.conn())
        .await
        .map_err(db_err)?;
    let time_recorded = sqlx::query(
        "INSERT INTO border_trip_stages (trip_id, stage, at, source) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (trip_id, stage) DO NOTHING",
    )
    .bind(trip_id)
    .bind(stage.as_str())
    .bind(now)
    .bind(Source::Officer.as_str())
    .execute(tx.conn())
    .await
    .map_err(db_err)?
    .rows_affected()
        > 0;
    let moved = from != stage;
    if moved {
        sqlx::query(
            "UPDATE border_trips SET stage = $1, stage_at = $2, updated_at = $2 WHERE id = $3",
        )
        .bind(stage.as_str())
        .bind(now)
        .bind(trip_id)
        .execute(tx.conn())
        .await
        .map_err(db_err)?;
    }
    tx.audit(&ctx.entry(
        "border.trip.override",
        "border_trip",
        trip_id,
        &format!("gate:{gate}"),
        serde_json::json!({"before": {"stage": from.as_str()}, "after": {"stage": stage.as_str()}, "reason": why}),
    ))
    .await?;
    if moved {
        tx.emit(
            "border.trip.stage",
            &serde_json::json!({"trip_id": trip_id, "from": from.as_str(), "to": stage.as_str(), "at": now, "source": "officer", "reason": why}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Advance {
        trip_id: trip_id.to_string(),
        from,
        to: stage,
        moved,
        time_recorded,
    })
}

/// One recorded stage time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageTime {
    pub stage: Stage,
    pub at: i64,
    pub source: String,
}

/// The recorded stage times of a trip, in journey order.
pub async fn stage_times(db: &Db, trip_id: &str) -> Result<Vec<StageTime>, AppError> {
    let rows = sqlx::query("SELECT stage, at, source FROM border_trip_stages WHERE trip_id = $1")
        .bind(trip_id)
        .fetch_all(db.pool())
        .await
        .map_err(db_err)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let s: String = r.try_get(0).map_err(db_err)?;
        let Some(stage) = Stage::parse(&s) else {
            continue;
        };
        out.push(StageTime {
            stage,
            at: r.try_get(1).map_err(db_err)?,
            source: r.try_get(2).map_err(db_err)?,
        });
    }
    out.sort_by_key(|t| (t.stage, t.at));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_only() {
        use Stage::*;
        assert!(Declared.moves_to(Staging));
        assert!(Declared.moves_to(Yard));
        assert!(Paid.moves_to(Crossed));
        assert!(Crossed.moves_to(Exited));
        assert!(Crossed.moves_to(Returned));
        assert!(!Yard.moves_to(Staging));
        assert!(!Yard.moves_to(Yard));
        assert!(!Exited.moves_to(Returned));
        assert!(!Returned.moves_to(Exited));
        assert!(!Cancelled.moves_to(Yard));
        assert!(!Declared.moves_to(Cancelled));
        assert!(Yard.is_active() && !Crossed.is_active() && !Cancelled.is_active());
        for s in Stage::ALL {
            assert_eq!(Stage::parse(s.as_str()), Some(s));
        }
        assert_eq!(Stage::parse_input(" yard ").unwrap(), Yard);
        assert_eq!(Stage::parse_input("bãi").unwrap_err().code, "stage");
        assert_eq!(reason("  ").unwrap_err().code, "reason_required");
        assert_eq!(reason(&"a".repeat(501)).unwrap_err().code, "reason_length");
        assert_eq!(reason(" Camera hỏng ").unwrap(), "Camera hỏng");
    }
}
