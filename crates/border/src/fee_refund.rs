//! Refunds of prepaid infrastructure fees (hoàn phí sử dụng công trình kết cấu hạ tầng): a
//! fee paid before the truck arrived ([`crate::fee_payment`], nộp phí trước) for a trip that
//! then never crossed — the declaration cancelled, a no-show cancelled after its slot, a truck
//! turned back — is paid back.
//!
//! - [`open_due`] finds such trips (stage `cancelled`, `returned` or `exited` with no
//!   `crossed` stage, a paid fee, no refund yet) and opens a refund for the whole amount;
//!   idempotent, run by `tinhso serve` with the queue job and by the simulator every hour.
//!   [`open`] is the fee officer's own request (a smaller amount, reason `other`, a note).
//! - A refund (`border_fee_refunds`, migration 8015) records the amount, the collector's and
//!   the budget's shares given back (pro rata of the payment's), the reason, and where the
//!   money goes back: the gateway transaction that paid it (`<gateway>:<transaction id>` —
//!   the gateway's callback carries no payer account, so the refund is made against the
//!   original transaction, as payment gateways refund).
//! - `requested` → [`approve`] (a fee officer other than the one who asked) → `approved` →
//!   [`mark_paid`] with the transfer's reference → `paid`; the fee's assessment is then
//!   `refunded`. Every step is audited (`border.fee.refund_request`, `…_approve`, `…_pay`)
//!   and announced (`border.fee.refund_requested`, `…_approved`, `border.fee.refunded`).
//! - Refused, with nothing written: a trip that crossed or is still under way, a fee not paid,
//!   a fee already refunded or being refunded, an amount ≤ 0 or above what was paid, an unknown
//!   reason, approving or paying out of turn, a missing or reused reference.

use crate::bulk::Refusal;
use crate::declaration;
use crate::fee_payment::{unique_as, unique_db_as};
use serde::{Deserialize, Serialize};
use tinhso_kernel::{AppError, FieldErrors, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::native::{Param, RowRead};
use tinhso_store::{Db, DbError, Exec, Journal, Tx, WriteTx};

/// Why a fee is refunded (lý do hoàn phí): the trip never crossed (`cancelled`, `no_show`,
/// `returned`, `other` — a fee officer may open these), or its paid fee was priced lower
/// afterwards (`rate_change`, hoàn phần chênh lệch: opened only by the repricing of
/// [`crate::fee_payment`]).
pub const REASONS: [&str; 5] = ["cancelled", "no_show", "returned", "other", "rate_change"];

/// The reasons a fee officer may give by hand ([`open`]).
pub const OFFICER_REASONS: [&str; 4] = ["cancelled", "no_show", "returned", "other"];

/// Refund states: đã đề nghị, đã duyệt, đã chi.
pub const STATUSES: [&str; 3] = ["requested", "approved", "paid"];

/// A refund of a paid fee (hoàn phí).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Refund {
    pub id: String,
    pub payment_id: String,
    pub assessment_id: String,
    pub trip_id: String,
    pub trip_code: String,
    pub gate_code: String,
    pub amount_vnd: i64,
    pub collector_vnd: i64,
    pub budget_vnd: i64,
    /// `cancelled`, `no_show`, `returned` or `other`.
    pub reason: String,
    pub note: String,
    /// The gateway transaction the money goes back through (`<gateway>:<transaction id>`).
    pub refund_to: String,
    /// `requested`, `approved` or `paid`.
    pub status: String,
    pub requested_by: String,
    pub requested_at: i64,
    pub approved_by: Option<String>,
    pub approved_at: Option<i64>,
    pub paid_by: Option<String>,
    pub paid_at: Option<i64>,
    /// The refund transfer's reference, once paid.
    pub reference: Option<String>,
}

/// A fee officer's refund request.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RefundInput {
    /// What to refund (đồng); absent: everything paid.
    #[serde(default)]
    pub amount_vnd: Option<i64>,
    /// One of [`REASONS`].
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub note: String,
}

/// The reason's Vietnamese and English names.
pub fn reason_name(reason: &str) -> (&'static str, &'static str) {
    match reason {
        "cancelled" => ("Huỷ chuyến", "Trip cancelled"),
        "no_show" => ("Xe không đến", "No-show"),
        "returned" => (
            "Xe quay lại, không qua cửa khẩu",
            "Turned back, did not cross",
        ),
        "rate_change" => (
            "Mức phí mới thấp hơn số đã nộp",
            "Priced lower after payment",
        ),
        _ => ("Lý do khác", "Other reason"),
    }
}

/// The status's Vietnamese and English names.
pub fn status_name(status: &str) -> (&'static str, &'static str) {
    match status {
        "requested" => ("Đã đề nghị", "Requested"),
        "approved" => ("Đã duyệt", "Approved"),
        "paid" => ("Đã chi trả", "Paid back"),
        _ => ("Không rõ", "Unknown"),
    }
}

fn db_err(e: sqlx::Error) -> AppError {
    AppError::from(DbError::from(e))
}

const COLUMNS: &str = "id, payment_id, assessment_id, trip_id, trip_code, gate_code, amount_vnd, \
    collector_vnd, budget_vnd, reason, note, refund_to, status, requested_by, requested_at, \
    approved_by, approved_at, paid_by, paid_at, reference";

fn refund_of(r: &sqlx::any::AnyRow) -> Result<Refund, AppError> {
    Ok(refund_at(r)?)
}

/// A refund row of [`COLUMNS`], read through either engine.
fn refund_at(r: &dyn RowRead) -> Result<Refund, DbError> {
    Ok(Refund {
        id: r.text(0)?,
        payment_id: r.text(1)?,
        assessment_id: r.text(2)?,
        trip_id: r.text(3)?,
        trip_code: r.text(4)?,
        gate_code: r.text(5)?,
        amount_vnd: r.int(6)?,
        collector_vnd: r.int(7)?,
        budget_vnd: r.int(8)?,
        reason: r.text(9)?,
        note: r.text(10)?,
        refund_to: r.text(11)?,
        status: r.text(12)?,
        requested_by: r.text(13)?,
        requested_at: r.int(14)?,
        approved_by: r.opt_text(15)?,
        approved_at: r.opt_int(16)?,
        paid_by: r.opt_text(17)?,
        paid_at: r.opt_int(18)?,
        reference: r.opt_text(19)?,
    })
}

async fn by_id_in(conn: &mut sqlx::AnyConnection, id: &str) -> Result<Option<Refund>, AppError> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM border_fee_refunds WHERE id = $1"
    ))
    .bind(id.trim())
    .fetch_optional(conn)
    .await
    .map_err(db_err)?
    .as_ref()
    .map(refund_of)
    .transpose()
}

/// A refund by id.
pub async fn get(db: &Db, id: &str) -> Result<Option<Refund>, AppError> {
    let mut conn = db.read_conn().await?;
    by_id_in(&mut conn, id).await
}

/// The refund of a trip's fee, if one was opened.
pub async fn of_trip(db: &Db, trip_code: &str) -> Result<Option<Refund>, AppError> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM border_fee_refunds WHERE trip_code = $1 \
         ORDER BY requested_at DESC, id DESC"
    ))
    .bind(trip_code.trim())
    .fetch_optional(db.pool())
    .await
    .map_err(db_err)?
    .as_ref()
    .map(refund_of)
    .transpose()
}

/// What the refunds list is narrowed to (bộ lọc danh sách hoàn phí). Every field is optional;
/// text fields are trimmed and an empty one means "any".
#[derive(Debug, Clone, Default)]
pub struct RefundFilter {
    /// `requested`, `approved` or `paid`.
    pub status: Option<String>,
    /// A gate code (mã cửa khẩu).
    pub gate: Option<String>,
    /// `cancelled`, `no_show`, `returned` or `other`.
    pub reason: Option<String>,
    /// Part of a trip code, any case.
    pub trip: Option<String>,
    /// Requested at or after (micro-seconds since the epoch).
    pub from_micros: Option<i64>,
    /// Requested before (micro-seconds since the epoch).
    pub until_micros: Option<i64>,
}

fn given(v: &Option<String>) -> &str {
    v.as_deref().map(str::trim).unwrap_or("")
}

impl RefundFilter {
    /// Refuses an unknown status or reason, a trip text longer than a trip code, and a period
    /// that ends before it starts, each naming its field.
    pub fn check(&self) -> Result<(), AppError> {
        let status = given(&self.status);
        if !status.is_empty() && !STATUSES.contains(&status) {
            return Err(AppError::field(
                "status",
                Invalid::new(
                    "refund_status",
                    format!("Trạng thái «{status}» không có; dùng requested, approved hoặc paid"),
                    format!("No status {status:?}; use requested, approved or paid"),
                ),
            ));
        }
        let reason = given(&self.reason);
        if !reason.is_empty() && !REASONS.contains(&reason) {
            return Err(AppError::field(
                "reason",
                Invalid::new(
                    "refund_reason",
                    format!(
                        "Lý do «{reason}» không có; dùng cancelled, no_show, returned, other hoặc rate_change"
                    ),
                    format!(
                        "No reason {reason:?}; use cancelled, no_show, returned, other or rate_change"
                    ),
                ),
            ));
        }
        if given(&self.trip).chars().count() > 40 {
            return Err(AppError::field(
                "trip",
                Invalid::new(
                    "refund_trip",
                    "Mã chuyến tìm kiếm dài quá 40 ký tự",
                    "The trip code searched for is longer than 40 characters",
                ),
            ));
        }
        if let (Some(a), Some(b)) = (self.from_micros, self.until_micros) {
            if b <= a {
                return Err(AppError::field(
                    "to",
                    Invalid::new(
                        "refund_period",
                        "Ngày kết thúc phải từ ngày bắt đầu trở đi",
                        "The end date must not be before the start date",
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The refunds, newest first, narrowed by a status and a gate (either may be absent).
pub async fn list(
    db: &Db,
    status: Option<&str>,
    gate: Option<&str>,
    limit: i64,
) -> Result<Vec<Refund>, AppError> {
    let filter = RefundFilter {
        status: status.map(str::to_string),
        gate: gate.map(str::to_string),
        ..RefundFilter::default()
    };
    list_filtered(db, &filter, limit).await
}

/// The refunds matching a filter, newest first, at most `limit` (1–1000).
pub async fn list_filtered(
    db: &Db,
    filter: &RefundFilter,
    limit: i64,
) -> Result<Vec<Refund>, AppError> {
    filter.check()?;
    let trip = given(&filter.trip).to_uppercase();
    let trip_like = if trip.is_empty() {
        String::new()
    } else {
        let escaped = trip
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    };
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM border_fee_refunds \
         WHERE ($1 = '' OR status = $1) AND ($2 = '' OR gate_code = $2) \
           AND ($3 = '' OR reason = $3) \
           AND ($4 = '' OR UPPER(trip_code) LIKE $4 ESCAPE '\\') \
           AND requested_at >= $5 AND requested_at < $6 \
         ORDER BY requested_at DESC, id DESC LIMIT $7"
    ))
    .bind(given(&filter.status))
    .bind(given(&filter.gate))
    .bind(given(&filter.reason))
    .bind(trip_like)
    .bind(filter.from_micros.unwrap_or(i64::MIN))
    .bind(filter.until_micros.unwrap_or(i64::MAX))
    .bind(limit.clamp(1, 1000))
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    rows.iter().map(refund_of).collect()
}

/// The paid fee of a trip: (payment id, assessment id, amount, collector's share, gateway,
/// gateway transaction id, assessment status).
struct PaidFee {
    payment_id: String,
    assessment_id: String,
    amount_vnd: i64,
    collector_vnd: i64,
    refund_to: String,
}

/// Open a refund of a trip's paid fee (the fee officer's request): audited
/// `border.fee.refund_request`, announced `border.fee.refund_requested`.
pub async fn open(
    db: &Db,
    ctx: &Ctx,
    trip_code: &str,
    input: &RefundInput,
    now: i64,
) -> Result<Refund, AppError> {
    let mut tx = db.begin_write().await?;
    let r = open_in(&mut tx, ctx, trip_code, input, now).await?;
    tx.commit().await?;
    Ok(r)
}

/// How far back the server's minute job and the simulator look for trips that ended
/// ([`open_due_since`]): a week, so a server stopped for a few days still opens theirs;
/// `tinhso serve` sweeps every trip ([`open_due`]) once at start.
pub const OPEN_DUE_LOOKBACK: i64 = 7 * 86_400_000_000;

/// Open refunds for every trip over without crossing whose fee was paid and has no refund
/// (reason from the trip: `no_show` when its booking was a no-show, else `cancelled` or
/// `returned`), each behind a savepoint. Idempotent: a second run opens nothing. Reads every
/// ended trip: the server does it once at start, then [`open_due_since`].
pub async fn open_due(db: &Db, ctx: &Ctx, now: i64) -> Result<Vec<Refund>, AppError> {
    open_due_since(db, ctx, now, i64::MIN).await
}

/// [`open_due`] for the trips that ended at or after `since` (their `stage_at`), read through
/// the partial index of ended trips (migration 8016) — so the minute job reads the last week,
/// not every trip the gate ever had.
pub async fn open_due_since(
    db: &Db,
    ctx: &Ctx,
    now: i64,
    since: i64,
) -> Result<Vec<Refund>, AppError> {
    // Natively on a SQLite file (`Db::read_rows`, on this thread): the minute job's read of
    // the last week is short through the partial index of ended trips; the one over every
    // ended trip runs once, at start.
    let rows = db.read_rows(
        "SELECT t.code, t.stage, \
         (SELECT COUNT(*) FROM border_bookings b WHERE b.trip_id = t.id AND b.status = 'no_show') \
         FROM border_trips t \
         JOIN border_fee_assessments a ON a.trip_id = t.id AND a.status = 'paid' \
         AND a.topup_of IS NULL \
         WHERE t.stage IN ('cancelled', 'returned', 'exited') AND t.stage_at >= $1 \
         AND NOT EXISTS (SELECT 1 FROM border_trip_stages s WHERE s.trip_id = t.id AND s.stage = 'crossed') \
         AND NOT EXISTS (SELECT 1 FROM border_fee_refunds f WHERE f.trip_id = t.id \
           AND f.reason <> 'rate_change') \
         ORDER BY t.code",
        &[Param::Int(since)],
        |r| Ok((r.text(0)?, r.text(1)?, r.int(2)?)),
    )
    .await
    .map_err(crate::slots::store_err)?;
    let mut due = Vec::with_capacity(rows.len());
    for (code, stage, no_show) in rows {
        let reason = match (stage.as_str(), no_show > 0) {
            ("cancelled", true) => "no_show",
            ("cancelled", false) => "cancelled",
            _ => "returned",
        };
        due.push((
            code,
            RefundInput {
                amount_vnd: None,
                reason: reason.into(),
                note: "Mở tự động: chuyến kết thúc mà không qua cửa khẩu".into(),
            },
        ));
    }
    let opened = match crate::fee_payment::sqlite_decides_first(db) {
        // Every refusal of [`open_in`] comes before its insert (decided before written): on
        // SQLite natively, no savepoint per trip.
        crate::bulk::Guard::DecideFirst => {
            crate::bulk::each_decided(
                db,
                (),
                &due,
                |tx: Tx, (), item| open_item(tx, ctx, item, now),
                |tx, e| std::future::ready((tx, Ok(e))),
                |tx, ()| std::future::ready((tx, Ok(()))),
            )
            .await?
        }
        crate::bulk::Guard::Savepoint => {
            crate::bulk::each_behind_savepoint(db, (), &due, |tx: WriteTx, (), item| {
                open_item(tx, ctx, item, now)
            })
            .await?
        }
    };
    // A trip refused here (e.g. refunded meanwhile by an officer) is simply not opened.
    Ok(opened.into_iter().filter_map(Result::ok).collect())
}

/// One trip of [`open_due_since`] in either kind of transaction: a client error refuses the
/// trip alone (it wrote nothing), anything else fails the batch.
async fn open_item<X: Journal>(
    mut tx: X,
    ctx: &Ctx,
    (code, input): &(String, RefundInput),
    now: i64,
) -> (X, (), Result<Refund, Refusal<AppError>>) {
    let r = open_in(&mut tx, ctx, code, input, now).await;
    (tx, (), r.map_err(Refusal::below_500))
}

/// [`open`] inside `tx` (either kind): every refusal is decided on what it read before its
/// one insert ([`insert_in`]).
async fn open_in(
    tx: &mut impl Journal,
    ctx: &Ctx,
    trip_code: &str,
    input: &RefundInput,
    now: i64,
) -> Result<Refund, AppError> {
    let mut errs = FieldErrors::new();
    let reason = input.reason.trim();
    if !OFFICER_REASONS.contains(&reason) {
        errs.push(
            "reason",
            Invalid::new(
                "refund_reason",
                "Chọn lý do hoàn phí: huỷ chuyến, xe không đến, xe quay lại hoặc lý do khác",
                "Choose the refund's reason: cancelled, no_show, returned or other",
            ),
        );
    }
    let note: String =
        unicode_normalization::UnicodeNormalization::nfc(input.note.trim()).collect();
    if note.chars().count() > 500 {
        errs.push(
            "note",
            Invalid::new(
                "refund_note",
                "Ghi chú dài quá 500 ký tự",
                "The note is longer than 500 characters",
            ),
        );
    }
    if let Some(a) = input.amount_vnd {
        if a <= 0 {
            errs.push(
                "amount_vnd",
                Invalid::new(
                    "refund_amount",
                    "Số tiền hoàn phải lớn hơn 0 đồng",
                    "The amount to refund must be more than 0 VND",
                ),
            );
        }
    }
    errs.into_result()?;
    let trip = declaration::head_in(tx, trip_code)
        .await?
        .ok_or_else(AppError::not_found)?;
    let crossed = tx
        .row(
            "SELECT COUNT(*) FROM border_trip_stages WHERE trip_id = $1 AND stage = 'crossed'",
            &[Param::Text(&trip.id)],
            |r| r.int(0),
        )
        .await?
        .unwrap_or(0);
    if crossed > 0 {
        return Err(AppError::conflict(
            format!("Chuyến {} đã qua cửa khẩu; phí không được hoàn", trip.code),
            format!(
                "Trip {} crossed the border: its fee is not refunded",
                trip.code
            ),
        ));
    }
    if !matches!(trip.stage.as_str(), "cancelled" | "returned" | "exited") {
        return Err(AppError::conflict(
            format!(
                "Chuyến {} chưa kết thúc (đang ở bước «{}»); chỉ hoàn phí khi chuyến đã huỷ hoặc xe đã quay lại",
                trip.code,
                trip.stage().name_vi()
            ),
            format!(
                "Trip {} is not over (stage {}); a fee is refunded only once the trip is cancelled or turned back",
                trip.code, trip.stage
            ),
        ));
    }
    let prior = tx
        .row(
            "SELECT id, status FROM border_fee_refunds WHERE trip_id = $1 AND reason <> 'rate_change'",
            &[Param::Text(&trip.id)],
            |r| Ok((r.text(0)?, r.text(1)?)),
        )
        .await?;
    if let Some((id, status)) = prior {
        let (vi, en) = status_name(&status);
        return Err(AppError::conflict(
            format!(
                "Phí của chuyến {} đã có đề nghị hoàn {id} ({}); không hoàn lần nữa",
                trip.code,
                vi.to_lowercase()
            ),
            format!(
                "The fee of trip {} already has refund {id} ({}); it is not refunded twice",
                trip.code,
                en.to_lowercase()
            ),
        ));
    }
    let paid = tx
        .row(
            "SELECT p.id, a.id, p.amount_vnd, p.collector_vnd, p.gateway, p.gateway_txn_id \
             FROM border_fee_payments p JOIN border_fee_assessments a ON a.id = p.assessment_id \
             WHERE a.trip_id = $1 AND a.status = 'paid' AND a.topup_of IS NULL AND p.status = 'paid'",
            &[Param::Text(&trip.id)],
            |r| {
                Ok(PaidFee {
                    payment_id: r.text(0)?,
                    assessment_id: r.text(1)?,
                    amount_vnd: r.int(2)?,
                    collector_vnd: r.int(3)?,
                    refund_to: refund_to(r, 4)?,
                })
            },
        )
        .await?;
    let Some(mut fee) = paid else {
        return Err(AppError::conflict(
            format!(
                "Phí của chuyến {} chưa được nộp; không có gì để hoàn",
                trip.code
            ),
            format!(
                "The fee of trip {} has not been paid: there is nothing to refund",
                trip.code
            ),
        ));
    };
    // Paid top-ups (thu bổ sung) are given back with the fee, through their own
    // transactions, less what rate-change refunds already gave back.
    let topups = tx
        .rows(
            "SELECT p.amount_vnd, p.collector_vnd, p.gateway, p.gateway_txn_id \
             FROM border_fee_payments p JOIN border_fee_assessments a ON a.id = p.assessment_id \
             WHERE a.trip_id = $1 AND a.status = 'paid' AND a.topup_of IS NOT NULL \
             AND p.status = 'paid' ORDER BY p.paid_at, p.id",
            &[Param::Text(&trip.id)],
            |r| Ok((r.int(0)?, r.int(1)?, refund_to(r, 2)?)),
        )
        .await?;
    for (amount, collector, to) in topups {
        fee.amount_vnd += amount;
        fee.collector_vnd += collector;
        fee.refund_to = format!("{},{to}", fee.refund_to);
    }
    let (back, back_collector) = rate_change_refunded_in(tx, &trip.id).await?;
    fee.amount_vnd -= back;
    fee.collector_vnd -= back_collector;
    let amount = input.amount_vnd.unwrap_or(fee.amount_vnd);
    if amount > fee.amount_vnd {
        return Err(AppError::field(
            "amount_vnd",
            Invalid::new(
                "refund_above_paid",
                format!(
                    "Số tiền hoàn {} đồng lớn hơn số đã nộp {} đồng",
                    amount, fee.amount_vnd
                ),
                format!(
                    "The refund of {} VND is more than the {} VND paid",
                    amount, fee.amount_vnd
                ),
            ),
        ));
    }
    let (collector, budget) = shares(amount, fee.amount_vnd, fee.collector_vnd);
    insert_in(
        tx,
        ctx,
        TripRef::of(&trip),
        &fee,
        (amount, collector, budget),
        (reason, &note),
        now,
    )
    .await
}

/// Where a paid transaction's money goes back (`<gateway>:<transaction id>`), from the
/// gateway and transaction id columns at `i` and `i + 1`.
fn refund_to(r: &dyn RowRead, i: usize) -> Result<String, DbError> {
    Ok(format!(
        "{}:{}",
        r.text(i)?,
        r.opt_text(i + 1)?.unwrap_or_default()
    ))
}

/// The rate-change refunds (hoàn phần chênh lệch) opened for a trip, whatever their state:
/// (amount, the collector's share).
pub(crate) async fn rate_change_refunded_in(
    tx: &mut impl Exec,
    trip_id: &str,
) -> Result<(i64, i64), AppError> {
    tx.row(
        "SELECT CAST(COALESCE(SUM(amount_vnd), 0) AS BIGINT), \
         CAST(COALESCE(SUM(collector_vnd), 0) AS BIGINT) \
         FROM border_fee_refunds WHERE trip_id = $1 AND reason = 'rate_change'",
        &[Param::Text(trip_id)],
        |r| Ok((r.int(0)?, r.int(1)?)),
    )
    .await?
    .ok_or_else(|| AppError::internal("rate-change refunds: no sum returned"))
}

/// The trip a refund is opened for (chuyến được hoàn phí): its id, code and gate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TripRef<'a> {
    pub(crate) id: &'a str,
    pub(crate) code: &'a str,
    pub(crate) gate: &'a str,
}

impl<'a> TripRef<'a> {
    fn of(trip: &'a declaration::Trip) -> Self {
        Self {
            id: &trip.id,
            code: &trip.code,
            gate: &trip.gate,
        }
    }
}

/// Open a refund of `amount` (with `collector` of it the collector's share) of a paid fee
/// priced lower afterwards (reason `rate_change`; [`crate::fee_payment`] calls it when a
/// correction or a new schedule lowers a paid trip's fee). The money goes back through the
/// trip's latest paid transaction; the trip may have crossed. A trip may get several (one
/// per decrease): the one-refund-per-payment rule is for trips that never crossed.
pub(crate) async fn open_rate_change_in(
    tx: &mut impl Journal,
    ctx: &Ctx,
    trip: TripRef<'_>,
    (amount, collector): (i64, i64),
    note: String,
    now: i64,
) -> Result<Refund, AppError> {
    let fee = tx
        .row(
            "SELECT p.id, a.id, p.gateway, p.gateway_txn_id \
             FROM border_fee_payments p JOIN border_fee_assessments a ON a.id = p.assessment_id \
             WHERE a.trip_id = $1 AND a.status = 'paid' AND p.status = 'paid' \
             ORDER BY p.paid_at DESC, p.id DESC",
            &[Param::Text(trip.id)],
            |r| {
                Ok(PaidFee {
                    payment_id: r.text(0)?,
                    assessment_id: r.text(1)?,
                    amount_vnd: amount,
                    collector_vnd: collector,
                    refund_to: refund_to(r, 2)?,
                })
            },
        )
        .await?
        .ok_or_else(|| AppError::internal("a rate-change refund without a paid fee"))?;
    insert_in(
        tx,
        ctx,
        trip,
        &fee,
        (amount, collector, amount - collector),
        ("rate_change", &note),
        now,
    )
    .await
}

/// Write a requested refund of `fee` (amount and shares, reason and note) with its audit
/// entry `border.fee.refund_request` and event `border.fee.refund_requested`.
async fn insert_in(
    tx: &mut impl Journal,
    ctx: &Ctx,
    trip: TripRef<'_>,
    fee: &PaidFee,
    (amount, collector, budget): (i64, i64, i64),
    (reason, note): (&str, &str),
    now: i64,
) -> Result<Refund, AppError> {
    let id = format!("PR-{}", uuid::Uuid::now_v7().simple());
    tx.execute(
        "INSERT INTO border_fee_refunds (id, payment_id, assessment_id, trip_id, trip_code, gate_code, \
         amount_vnd, collector_vnd, budget_vnd, reason, note, refund_to, status, requested_by, requested_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'requested', $13, $14)",
        &[
            Param::Text(&id),
            Param::Text(&fee.payment_id),
            Param::Text(&fee.assessment_id),
            Param::Text(trip.id),
            Param::Text(trip.code),
            Param::Text(trip.gate),
            Param::Int(amount),
            Param::Int(collector),
            Param::Int(budget),
            Param::Text(reason),
            Param::Text(note),
            Param::Text(&fee.refund_to),
            Param::Text(&ctx.actor),
            Param::Int(now),
        ],
    )
    .await
    .map_err(|e| {
        unique_db_as(e, || {
            AppError::conflict(
                format!("Phí của chuyến {} vừa được đề nghị hoàn; hãy tải lại", trip.code),
                format!("A refund of trip {}'s fee was just opened; reload", trip.code),
            )
        })
    })?;
    let summary = serde_json::json!({
        "id": id, "trip": trip.code, "gate": trip.gate, "payment": fee.payment_id,
        "amount_vnd": amount, "reason": reason, "refund_to": fee.refund_to,
    });
    tx.audit(&ctx.entry(
        "border.fee.refund_request",
        "border_fee_refund",
        &id,
        trip.gate,
        summary.clone(),
    ))
    .await?;
    tx.emit("border.fee.refund_requested", &summary).await?;
    tx.row(
        &format!("SELECT {COLUMNS} FROM border_fee_refunds WHERE id = $1"),
        &[Param::Text(&id)],
        refund_at,
    )
    .await?
    .ok_or_else(|| AppError::internal("refund vanished"))
}

/// The collector's and the budget's shares of a refund of `amount` out of a payment of
/// `paid` whose collector's share was `collector`: pro rata, rounded down for the collector;
/// the budget's is the rest (so the two add up to the amount).
pub fn shares(amount: i64, paid: i64, collector: i64) -> (i64, i64) {
    if paid <= 0 {
        return (0, amount);
    }
    let c =
        i64::try_from(i128::from(amount) * i128::from(collector) / i128::from(paid)).unwrap_or(0);
    (c, amount - c)
}

fn not_found_refund(id: &str) -> AppError {
    AppError::not_found().with_detail(
        format!("Không có đề nghị hoàn phí «{}»", id.trim()),
        format!("There is no refund {:?}", id.trim()),
    )
}

/// Approve a requested refund (duyệt hoàn phí): audited `border.fee.refund_approve`,
/// announced `border.fee.refund_approved`. The officer who asked for it cannot approve it
/// (a refund opened by the system can be approved by any fee officer).
pub async fn approve(db: &Db, ctx: &Ctx, id: &str, now: i64) -> Result<Refund, AppError> {
    let mut tx = db.begin_write().await?;
    let r = by_id_in(tx.conn(), id)
        .await?
        .ok_or_else(|| not_found_refund(id))?;
    if r.status != "requested" {
        let (vi, en) = status_name(&r.status);
        return Err(AppError::conflict(
            format!(
                "Đề nghị hoàn phí {} đã ở trạng thái «{vi}»; không duyệt lại",
                r.id
            ),
            format!(
                "Refund {} is already {}; it is not approved again",
                r.id,
                en.to_lowercase()
            ),
        ));
    }
    if r.requested_by == ctx.actor && ctx.actor != "system" {
        return Err(AppError::conflict(
            "Người đề nghị hoàn phí không tự duyệt; cần một cán bộ thu phí khác duyệt",
            "The officer who asked for a refund cannot approve it; another fee officer must",
        ));
    }
    let n = sqlx::query(
        "UPDATE border_fee_refunds SET status = 'approved', approved_by = $1, approved_at = $2 \
         WHERE id = $3 AND status = 'requested'",
    )
    .bind(&ctx.actor)
    .bind(now)
    .bind(&r.id)
    .execute(tx.conn())
    .await
    .map_err(db_err)?
    .rows_affected();
    let summary = serde_json::json!({"id": r.id, "trip": r.trip_code, "amount_vnd": r.amount_vnd});
    step_done(
        tx,
        ctx,
        &r,
        n,
        ("border.fee.refund_approve", "border.fee.refund_approved"),
        summary,
    )
    .await
}

/// The end of a step ([`approve`], [`mark_paid`]) once its update ran (`updated` rows): the
/// step audited and announced, the refund read back, all committed; no row updated means
/// another request changed the refund first (409).
async fn step_done(
    mut tx: WriteTx,
    ctx: &Ctx,
    r: &Refund,
    updated: u64,
    (action, topic): (&str, &str),
    summary: serde_json::Value,
) -> Result<Refund, AppError> {
    if updated != 1 {
        return Err(AppError::conflict(
            "Đề nghị hoàn phí vừa thay đổi; hãy tải lại",
            "The refund just changed; reload",
        ));
    }
    tx.audit(&ctx.entry(
        action,
        "border_fee_refund",
        &r.id,
        &r.gate_code,
        summary.clone(),
    ))
    .await?;
    tx.emit(topic, &summary).await?;
    let out = by_id_in(tx.conn(), &r.id)
        .await?
        .ok_or_else(|| AppError::internal("refund vanished"))?;
    tx.commit().await?;
    Ok(out)
}

/// Record that an approved refund was paid back (đã chi hoàn phí) with the transfer's
/// reference: the refund is `paid`, the fee's assessment `refunded`; audited
/// `border.fee.refund_pay`, announced `border.fee.refunded`.
pub async fn mark_paid(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    reference: &str,
    now: i64,
) -> Result<Refund, AppError> {
    let reference: String =
        unicode_normalization::UnicodeNormalization::nfc(reference.trim()).collect();
    if reference.is_empty() || reference.chars().count() > 64 {
        return Err(AppError::field(
            "reference",
            Invalid::new(
                "refund_reference",
                "Nhập mã giao dịch hoàn tiền (tối đa 64 ký tự)",
                "Give the refund transfer's reference (at most 64 characters)",
            ),
        ));
    }
    let mut tx = db.begin_write().await?;
    let r = by_id_in(tx.conn(), id)
        .await?
        .ok_or_else(|| not_found_refund(id))?;
    match r.status.as_str() {
        "approved" => {}
        "requested" => {
            return Err(AppError::conflict(
                format!("Đề nghị hoàn phí {} chưa được duyệt; chưa chi được", r.id),
                format!(
                    "Refund {} has not been approved: it cannot be paid yet",
                    r.id
                ),
            ))
        }
        _ => {
            return Err(AppError::conflict(
                format!("Đề nghị hoàn phí {} đã chi trả; không chi lần nữa", r.id),
                format!("Refund {} has been paid: it is not paid twice", r.id),
            ))
        }
    }
    let n = sqlx::query(
        "UPDATE border_fee_refunds SET status = 'paid', paid_by = $1, paid_at = $2, reference = $3 \
         WHERE id = $4 AND status = 'approved'",
    )
    .bind(&ctx.actor)
    .bind(now)
    .bind(&reference)
    .bind(&r.id)
    .execute(tx.conn())
    .await
    .map_err(|e| {
        unique_as(e, || {
            AppError::field(
                "reference",
                Invalid::new(
                    "refund_reference_used",
                    format!("Mã giao dịch «{reference}» đã dùng cho một khoản hoàn phí khác"),
                    format!("The reference {reference:?} was used for another refund"),
                ),
            )
        })
    })?
    .rows_affected();
    // A trip's fee given back whole is `refunded` (its own assessment and its top-ups); a
    // rate-change refund leaves the fee paid.
    if n == 1 && r.reason != "rate_change" {
        sqlx::query(
            "UPDATE border_fee_assessments SET status = 'refunded' WHERE trip_id = $1 AND status = 'paid'",
        )
        .bind(&r.trip_id)
        .execute(tx.conn())
        .await
        .map_err(db_err)?;
    }
    let summary = serde_json::json!({
        "id": r.id, "trip": r.trip_code, "gate": r.gate_code, "amount_vnd": r.amount_vnd,
        "collector_vnd": r.collector_vnd, "budget_vnd": r.budget_vnd,
        "reference": reference, "paid_at": now,
    });
    step_done(
        tx,
        ctx,
        &r,
        n,
        ("border.fee.refund_pay", "border.fee.refunded"),
        summary,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_follow_the_payment() {
        // 10 % to the collector, as Nghị quyết 09/2025 sets.
        assert_eq!(shares(100_000, 100_000, 10_000), (10_000, 90_000));
        assert_eq!(shares(33_333, 100_000, 10_000), (3_333, 30_000));
        assert_eq!(shares(5, 0, 0), (0, 5));
        for amount in [1, 7, 99_999, 4_000_000] {
            let (c, b) = shares(amount, 4_000_000, 400_000);
            assert_eq!(c + b, amount);
            assert!(c * 10 <= amount);
        }
    }

    #[test]
    fn every_reason_and_status_has_names() {
        for r in REASONS {
            assert!(!reason_name(r).0.is_empty());
        }
        for s in STATUSES {
            assert_ne!(status_name(s).0, "Không rõ");
        }
    }
}
