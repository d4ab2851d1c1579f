//! Paying the infrastructure fee (nộp phí hạ tầng cửa khẩu): the fee assessed for a trip
//! (thông báo số phí), paid through VietQR and the payment gateway shared with the public
//! services module, an electronic receipt (biên lai điện tử), and the daily reconciliation
//! per gate (đối soát).
//!
//! - [`assess`] prices a declared trip with [`crate::fees::quote`] (its vehicle, its goods
//!   lines' fee categories from [`crate::hs`], the journey, the day of the crossing) and stores
//!   the quote with the schedule that priced it. A trip has one current assessment; a
//!   reassessment after a correction supersedes an unpaid one (and cancels its pending
//!   payment requests). A **paid** one priced again (a correction of the declaration, a new
//!   schedule) gets a **top-up** (thu bổ sung) of the difference — its own assessment row
//!   (`topup_of` = the paid one) with its own VietQR request `PHI HT <trip> BS` — or, when
//!   the new price is lower, a refund of the difference (reason `rate_change`,
//!   [`crate::fee_refund`]). A trip with a top-up due is not cleared (its fee is not paid).
//! - [`request_payment`] gives the dynamic VietQR code for the amount due (the same pending
//!   request when asked twice). A due fee priced under a schedule that is no longer the one in
//!   force on its fee day (a new resolution between assessment and payment) is priced again
//!   first, superseding the old assessment, and the new amount is asked for.
//! - [`callback`] is the gateway's signed confirmation, checked exactly as the public services'
//!   payments are (`X-Timestamp` within 5 minutes, `X-Signature` = hex HMAC-SHA256 of the body
//!   with the shared secret, see [`tinhso_services::payment`]); a replay of the same
//!   transaction returns the first result. A paid callback settles in one transaction: the
//!   payment is paid, the assessment is paid, a receipt number `BLP-<yyyy>-<nnnnnn>` is
//!   issued, with an audit entry and the outbox event `border.fee.paid`. A second payment of
//!   an assessment already paid is refused (and a unique index refuses it again), a failed
//!   payment marks only that payment attempt failed, and every refusal changes nothing but the
//!   audit trail.
//! - The settlement moves the trip's journey to "fee paid" ([`crate::journey::advance`], source
//!   `payment`) in the same transaction when its checks are done (stage `checked`); a trip
//!   already further along keeps its stage and gets the payment's time recorded.
//! - **Prepayment (nộp phí trước).** A fee can be assessed and paid for a declared (e.g.
//!   booked) trip before the truck arrives, or while it is still being checked: the fee is
//!   paid and receipted at once, but the journey stays where it is (a prepaid truck is not
//!   counted as arrived); when its checks clear, [`crate::checks`] moves it to `checked` and
//!   on to `paid` at that moment (source `payment`). The crossing does not ask again: a paid
//!   assessment refuses a new payment request (unless a top-up is due).
//! - [`reconciliation`] gives, per gate and local day, the fees assessed for that day's
//!   crossings, what of them is paid and outstanding, and the money received that day with
//!   the collector's and the budget's shares.

use crate::bulk::{Guard, Refusal, Stop};
use crate::declaration::{self, Stage};
use crate::fees::{self, FeeInput, FeeQuote, VehicleInput, VehicleKind};
use crate::gates::Direction;
use crate::hs;
use crate::journey::Journal;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use tinhso_kernel::{AppError, ErrorCode, Invalid};
use tinhso_services::payment as gateway;
use tinhso_services::vietqr;
use tinhso_store::audit::Ctx;
use tinhso_store::native::{Param, RowRead};
use tinhso_store::{now_micros, Db, DbError, Exec, Tx, WriteTx};

/// Receipt numbers of border fees: `BLP-<yyyy>-<nnnnnn>` (biên lai phí), apart from the
/// public services' `BL-` receipts.
pub const RECEIPT_PREFIX: &str = "BLP";

fn db_err(e: sqlx::Error) -> AppError {
    AppError::from(DbError::from(e))
}

/// A database error, with a unique-index violation answered by `refused()` (a 409 or 422 the
/// caller words: a race lost, a number used twice) instead of a server error.
pub(crate) fn unique_as(e: sqlx::Error, refused: impl FnOnce() -> AppError) -> AppError {
    unique_db_as(DbError::from(e), refused)
}

/// [`unique_as`] for a statement run through [`Exec`] (either engine).
pub(crate) fn unique_db_as(e: DbError, refused: impl FnOnce() -> AppError) -> AppError {
    if e.is_unique_violation() {
        refused()
    } else {
        e.into()
    }
}

/// What an officer (or the declarer) gives to price a trip beyond its declaration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AssessInput {
    pub trip_code: String,
    /// A journey code of the fee schedule (`export`, `import_inland`, `wharf_transfer`, …);
    /// empty: from the trip's direction ([`default_journey`]).
    #[serde(default)]
    pub journey: String,
    /// `20ft` or `40ft` when the goods travel in a container; empty otherwise.
    #[serde(default)]
    pub container: String,
}

/// The fee assessed for a trip.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Assessment {
    pub id: String,
    pub trip_id: String,
    pub trip_code: String,
    pub trip_version: i64,
    pub gate_code: String,
    /// The local day of the crossing, `YYYY-MM-DD`.
    pub fee_date: String,
    pub schedule_id: String,
    pub journey: String,
    pub vehicle_class: String,
    pub category: String,
    pub amount_vnd: i64,
    pub collector_vnd: i64,
    pub budget_vnd: i64,
    pub confirmed: bool,
    pub quote: FeeQuote,
    /// `due`, `paid`, `superseded` or `refunded` (paid, then paid back:
    /// [`crate::fee_refund`]).
    pub status: String,
    pub assessed_by: String,
    pub assessed_at: i64,
    pub paid_at: Option<i64>,
    /// A top-up (thu bổ sung): the paid assessment whose price went up after payment (a
    /// correction of the declaration or a new schedule); its amount is the difference.
    /// `None` for the trip's own (base) assessment.
    pub topup_of: Option<String>,
}

/// A payment request for an assessment.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FeePayment {
    pub id: String,
    pub assessment_id: String,
    pub trip_code: String,
    pub gate_code: String,
    pub amount_vnd: i64,
    pub purpose: String,
    /// `pending`, `paid`, `failed` or `cancelled` (its assessment was superseded).
    pub status: String,
    pub gateway: String,
    pub gateway_txn_id: Option<String>,
    /// The VietQR payload (EMVCo) for the transfer.
    pub qr_payload: String,
    pub created_by: String,
    pub created_at: i64,
    pub paid_at: Option<i64>,
    pub receipt_no: Option<String>,
    pub collector_vnd: i64,
    pub budget_vnd: i64,
    pub bank_bin: String,
    pub bank_name: String,
    pub account: String,
    pub account_name: String,
}

/// What a callback did.
#[derive(Debug, Clone, Serialize)]
pub struct CallbackResult {
    pub payment: FeePayment,
    /// The same transaction had already been processed: nothing changed.
    pub replayed: bool,
}

/// The fee journey a direction implies when the assessor does not say: export → `export`,
/// import → `import`, transit → `transit`, transshipment (goods moved between vehicles in the
/// yard) → `wharf_transfer`.
pub fn default_journey(d: Direction) -> &'static str {
    match d {
        Direction::Export => "export",
        Direction::Import => "import",
        Direction::Transit => "transit",
        Direction::Transshipment => "wharf_transfer",
    }
}

/// The fee input of a trip (the rule of [`assess_many`]'s and [`assess_in`]'s reads): its
/// vehicle (a container by size; a tractor with a trailer by the trailer's payload — to be
/// confirmed against the resolution; a tractor alone as a tractor; a truck by its payload), its
/// goods' fee categories, the journey and the local day of its expected arrival — from the
/// trip's direction, expected arrival and goods' HS codes, and the (kind, payload) of its
/// vehicle and trailer.
fn fee_input_of(
    direction: Option<Direction>,
    expected_arrival: i64,
    codes: &[&str],
    vehicle: Option<(String, i64)>,
    trailer: Option<(String, i64)>,
    input: &AssessInput,
) -> Result<FeeInput, AppError> {
    let vehicle = match input.container.trim() {
        "40ft" | "40" => VehicleInput {
            kind: VehicleKind::Container40,
            payload_kg: 0,
        },
        "20ft" | "20" => VehicleInput {
            kind: VehicleKind::Container20,
            payload_kg: 0,
        },
        "" => {
            let (kind, payload) =
                vehicle.ok_or_else(|| AppError::internal("trip without its vehicle"))?;
            match (kind.as_str(), trailer) {
                ("tractor", Some((_, trailer_payload))) => VehicleInput {
                    kind: VehicleKind::Truck,
                    payload_kg: trailer_payload,
                },
                ("tractor", None) => VehicleInput {
                    kind: VehicleKind::Tractor,
                    payload_kg: 0,
                },
                _ => VehicleInput {
                    kind: VehicleKind::Truck,
                    payload_kg: payload,
                },
            }
        }
        other => {
            return Err(AppError::field(
                "container",
                Invalid::new(
                    "fee_container",
                    format!("Loại container «{other}» không hợp lệ: chọn 20ft, 40ft hoặc để trống"),
                    format!("Container {other:?} is not valid: use 20ft, 40ft or leave it empty"),
                ),
            ))
        }
    };
    let journey = match input.journey.trim() {
        "" => direction
            .map(default_journey)
            .ok_or_else(|| AppError::internal("trip with an unknown direction"))?
            .to_string(),
        j => j.to_string(),
    };
    Ok(FeeInput {
        date: declaration::local(expected_arrival).date_naive(),
        vehicle,
        journey,
        categories: hs::fee_categories(codes)?,
    })
}

const ASSESSMENT_COLUMNS: &str = "id, trip_id, trip_code, trip_version, gate_code, fee_date, \
    schedule_id, journey, vehicle_class, category, amount_vnd, collector_vnd, budget_vnd, \
    confirmed, quote, status, assessed_by, assessed_at, paid_at, topup_of";

fn assessment_of(r: &sqlx::any::AnyRow) -> Result<Assessment, AppError> {
    Ok(assessment_at(r)?)
}

/// An assessment row of [`ASSESSMENT_COLUMNS`], read through either engine.
fn assessment_at(r: &dyn RowRead) -> Result<Assessment, DbError> {
    let quote = r.text(14)?;
    Ok(Assessment {
        id: r.text(0)?,
        trip_id: r.text(1)?,
        trip_code: r.text(2)?,
        trip_version: r.int(3)?,
        gate_code: r.text(4)?,
        fee_date: r.text(5)?,
        schedule_id: r.text(6)?,
        journey: r.text(7)?,
        vehicle_class: r.text(8)?,
        category: r.text(9)?,
        amount_vnd: r.int(10)?,
        collector_vnd: r.int(11)?,
        budget_vnd: r.int(12)?,
        confirmed: r.int(13)? != 0,
        quote: serde_json::from_str(&quote)
            .map_err(|e| DbError::Invalid(format!("assessment quote: {e}")))?,
        status: r.text(15)?,
        assessed_by: r.text(16)?,
        assessed_at: r.int(17)?,
        paid_at: r.opt_int(18)?,
        topup_of: r.opt_text(19)?,
    })
}

/// The rows `query` returns on `conn`, each mapped by `of` (whole assessment or payment rows).
async fn fetch_mapped<'q, 'c, T>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    conn: impl sqlx::Executor<'c, Database = sqlx::Any>,
    of: fn(&sqlx::any::AnyRow) -> Result<T, AppError>,
) -> Result<Vec<T>, AppError> {
    query
        .fetch_all(conn)
        .await
        .map_err(db_err)?
        .iter()
        .map(of)
        .collect()
}

/// The current (not superseded) assessment of a trip: its own (base) assessment; top-ups
/// are read with [`topups`].
pub async fn current(db: &Db, trip_code: &str) -> Result<Option<Assessment>, AppError> {
    let mut conn = db.read_conn().await?;
    current_in(&mut conn, trip_code).await
}

/// [`current`] on a given connection (a write transaction's).
async fn current_in(
    conn: &mut sqlx::AnyConnection,
    trip_code: &str,
) -> Result<Option<Assessment>, AppError> {
    let row = sqlx::query(&format!(
        "SELECT {ASSESSMENT_COLUMNS} FROM border_fee_assessments \
         WHERE trip_code = $1 AND status <> 'superseded' AND topup_of IS NULL"
    ))
    .bind(trip_code.trim())
    .fetch_optional(conn)
    .await
    .map_err(db_err)?;
    row.as_ref().map(assessment_of).transpose()
}

/// The top-ups (thu bổ sung) of a trip's paid fee that are not superseded (due or paid),
/// oldest first.
pub async fn topups(db: &Db, trip_code: &str) -> Result<Vec<Assessment>, AppError> {
    let mut all = history(db, trip_code).await?;
    all.retain(|a| a.topup_of.is_some() && a.status != "superseded");
    Ok(all)
}

/// Every assessment of a trip, oldest first (superseded ones and top-ups included).
pub async fn history(db: &Db, trip_code: &str) -> Result<Vec<Assessment>, AppError> {
    let sql = format!(
        "SELECT {ASSESSMENT_COLUMNS} FROM border_fee_assessments \
         WHERE trip_code = $1 ORDER BY assessed_at, id"
    );
    fetch_mapped(
        sqlx::query(&sql).bind(trip_code.trim()),
        db.pool(),
        assessment_of,
    )
    .await
}

fn unknown_trip(code: &str) -> AppError {
    AppError::field(
        "trip_code",
        Invalid::new(
            "fee_trip_unknown",
            format!("Không có chuyến (tờ khai) mã «{}»", code.trim()),
            format!("There is no trip (declaration) {:?}", code.trim()),
        ),
    )
}

/// Price a trip and store the assessment (audit `border.fee.assess`, event
/// `border.fee.assessed`). Assessing again with nothing changed returns the current one.
pub async fn assess(db: &Db, ctx: &Ctx, input: &AssessInput) -> Result<Assessment, AppError> {
    assess_at(db, ctx, input, now_micros()).await
}

/// [`assess`] on a given clock (`now`, Unix µs: the assessment's time), for the traffic
/// simulator.
pub async fn assess_at(
    db: &Db,
    ctx: &Ctx,
    input: &AssessInput,
    now: i64,
) -> Result<Assessment, AppError> {
    let mut tx = db.begin_write().await?;
    let a = assess_in(
        &mut tx,
        ctx,
        input,
        now,
        fees::schedules()?,
        None,
        Guard::Savepoint,
    )
    .await
    .map_err(AppError::from)?;
    tx.commit().await?;
    Ok(a)
}

/// [`assess_at`] inside `tx`, of either kind: every rule of an assessment (shared by
/// [`assess_at`] and the reassessment of a payment request after a change of schedule),
/// priced under the schedules `schedules`; `why` goes on the audit entry (`reason`). The trip
/// is read and assessed as one item of [`assess_many`] ([`FeeBatch`]); `guard` says what a
/// failure after a write is ([`FeeBatch::assess`]).
#[allow(clippy::too_many_arguments)]
async fn assess_in(
    tx: &mut impl Journal,
    ctx: &Ctx,
    input: &AssessInput,
    now: i64,
    schedules: &[fees::Schedule],
    why: Option<&str>,
    guard: Guard,
) -> Result<Assessment, Refusal<AppError>> {
    let mut batch = FeeBatch::read(tx, &[input.trip_code.trim()])
        .await
        .map_err(Refusal::Batch)?;
    let a = batch
        .assess(tx, ctx, input, now, schedules, guard, why)
        .await?;
    batch.flush(tx).await.map_err(after_write(guard))?;
    Ok(a)
}

/// The trip's columns an assessment keeps (chuyến được tính phí).
#[derive(Clone)]
struct TripHead {
    id: String,
    code: String,
    version: i64,
    gate: String,
    stage: Stage,
}

/// What assessing a trip does, decided on what was read ([`assess_step`]). (One lives per
/// item for a moment: its size does not matter.)
#[allow(clippy::large_enum_variant)]
enum AssessStep {
    /// Nothing changed: the current assessment stands.
    Keep(Assessment),
    /// The trip's own assessment is paid: priced again against what was settled
    /// ([`reprice_paid_in`]).
    Reprice(Assessment, FeeQuote),
    /// A new due assessment at this quote, superseding the due one (if any).
    New {
        supersedes: Option<String>,
        quote: FeeQuote,
    },
}

/// The rule of an assessment (one for [`assess_in`] and [`assess_many`]): a cancelled trip
/// or a refunded fee is refused (409); a paid fee is priced again; the same quote on the same
/// version of the declaration keeps the current assessment; anything else is a new one.
fn assess_step(
    trip: &TripHead,
    prior: Option<Assessment>,
    quote: FeeQuote,
) -> Result<AssessStep, AppError> {
    if trip.stage == Stage::Cancelled {
        return Err(AppError::conflict(
            "Tờ khai đã huỷ, không tính phí",
            "The declaration was cancelled: no fee is assessed",
        ));
    }
    let Some(p) = prior else {
        return Ok(AssessStep::New {
            supersedes: None,
            quote,
        });
    };
    if p.status == "refunded" {
        return Err(AppError::conflict(
            format!("Phí của chuyến {} đã được hoàn; không tính lại", trip.code),
            format!(
                "The fee of trip {} was refunded; it is not reassessed",
                trip.code
            ),
        ));
    }
    if p.status == "paid" {
        return Ok(AssessStep::Reprice(p, quote));
    }
    if p.quote == quote && p.trip_version == trip.version {
        return Ok(AssessStep::Keep(p));
    }
    Ok(AssessStep::New {
        supersedes: Some(p.id),
        quote,
    })
}

/// A new due assessment of `trip` at `quote` for the fee day `date`.
fn new_assessment(
    trip: &TripHead,
    date: NaiveDate,
    quote: FeeQuote,
    ctx: &Ctx,
    now: i64,
) -> Assessment {
    Assessment {
        id: format!("PA-{}", uuid::Uuid::now_v7().simple()),
        trip_id: trip.id.clone(),
        trip_code: trip.code.clone(),
        trip_version: trip.version,
        gate_code: trip.gate.clone(),
        fee_date: date.format("%Y-%m-%d").to_string(),
        schedule_id: quote.schedule_id.clone(),
        journey: quote.journey.clone(),
        vehicle_class: quote.vehicle_class.clone(),
        category: quote.category.clone(),
        amount_vnd: quote.amount.0,
        collector_vnd: quote.collector_share.0,
        budget_vnd: quote.budget_share.0,
        confirmed: quote.confirmed,
        quote,
        status: "due".into(),
        assessed_by: ctx.actor.clone(),
        assessed_at: now,
        paid_at: None,
        topup_of: None,
    }
}

/// Write the new assessment `a` of an [`AssessStep::New`]: the due one it supersedes first.
async fn write_new(
    tx: &mut impl Journal,
    ctx: &Ctx,
    a: &Assessment,
    supersedes: Option<&str>,
    why: Option<&str>,
) -> Result<(), AppError> {
    if let Some(id) = supersedes {
        supersede_due(tx, id).await?;
    }
    insert_assessment(tx, ctx, a, supersedes, why).await
}

/// Supersede a due assessment (a base one or a top-up) and cancel its pending payment
/// requests (paying their QR codes is then refused, 409).
async fn supersede_due(tx: &mut impl Exec, id: &str) -> Result<(), AppError> {
    tx.execute(
        "UPDATE border_fee_assessments SET status = 'superseded' WHERE id = $1 AND status = 'due'",
        &[Param::Text(id)],
    )
    .await?;
    tx.execute(
        "UPDATE border_fee_payments SET status = 'cancelled' \
         WHERE assessment_id = $1 AND status = 'pending'",
        &[Param::Text(id)],
    )
    .await?;
    Ok(())
}

/// Write a new due assessment `a` (a trip's own or a top-up), with its audit entry
/// `border.fee.assess` (`supersedes`, `reason`, `topup_of`) and its event
/// `border.fee.assessed`.
async fn insert_assessment(
    tx: &mut impl Journal,
    ctx: &Ctx,
    a: &Assessment,
    supersedes: Option<&str>,
    why: Option<&str>,
) -> Result<(), AppError> {
    let quote_json = serde_json::to_string(&a.quote).map_err(AppError::internal)?;
    tx.execute(
        "INSERT INTO border_fee_assessments (id, trip_id, trip_code, trip_version, gate_code, fee_date, \
         schedule_id, journey, vehicle_class, category, amount_vnd, collector_vnd, budget_vnd, confirmed, \
         quote, status, assessed_by, assessed_at, paid_at, topup_of) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'due', $16, $17, NULL, $18)",
        &[
            Param::Text(&a.id),
            Param::Text(&a.trip_id),
            Param::Text(&a.trip_code),
            Param::Int(a.trip_version),
            Param::Text(&a.gate_code),
            Param::Text(&a.fee_date),
            Param::Text(&a.schedule_id),
            Param::Text(&a.journey),
            Param::Text(&a.vehicle_class),
            Param::Text(&a.category),
            Param::Int(a.amount_vnd),
            Param::Int(a.collector_vnd),
            Param::Int(a.budget_vnd),
            Param::Int(i64::from(a.confirmed)),
            Param::Text(&quote_json),
            Param::Text(&a.assessed_by),
            Param::Int(a.assessed_at),
            Param::OptText(a.topup_of.as_deref()),
        ],
    )
    .await
    .map_err(|e| {
        // Another assessment of the same trip committed first (a race on PostgreSQL).
        unique_db_as(e, || {
            AppError::conflict(
                format!("Chuyến {} vừa được tính phí; hãy tải lại", a.trip_code),
                format!("Trip {} was just assessed; reload it", a.trip_code),
            )
        })
    })?;
    assessment_entries(tx, ctx, a, supersedes, why).await
}

/// The columns of a new due assessment's row ([`assessment_row`]).
const ASSESSMENT_COLS: [(&str, crate::bulk::Col); 18] = [
    ("id", crate::bulk::Col::Text),
    ("trip_id", crate::bulk::Col::Text),
    ("trip_code", crate::bulk::Col::Text),
    ("trip_version", crate::bulk::Col::Int),
    ("gate_code", crate::bulk::Col::Text),
    ("fee_date", crate::bulk::Col::Text),
    ("schedule_id", crate::bulk::Col::Text),
    ("journey", crate::bulk::Col::Text),
    ("vehicle_class", crate::bulk::Col::Text),
    ("category", crate::bulk::Col::Text),
    ("amount_vnd", crate::bulk::Col::Int),
    ("collector_vnd", crate::bulk::Col::Int),
    ("budget_vnd", crate::bulk::Col::Int),
    ("confirmed", crate::bulk::Col::Int),
    ("quote", crate::bulk::Col::Text),
    ("status", crate::bulk::Col::Text),
    ("assessed_by", crate::bulk::Col::Text),
    ("assessed_at", crate::bulk::Col::Int),
];

/// A new due assessment's row (its own, not a top-up) in [`ASSESSMENT_COLS`]' order.
fn assessment_row(a: &Assessment) -> Result<serde_json::Value, AppError> {
    let quote = serde_json::to_string(&a.quote).map_err(AppError::internal)?;
    Ok(serde_json::json!([
        a.id,
        a.trip_id,
        a.trip_code,
        a.trip_version,
        a.gate_code,
        a.fee_date,
        a.schedule_id,
        a.journey,
        a.vehicle_class,
        a.category,
        a.amount_vnd,
        a.collector_vnd,
        a.budget_vnd,
        i64::from(a.confirmed),
        quote,
        "due",
        a.assessed_by,
        a.assessed_at
    ]))
}

/// The audit entry `border.fee.assess` (`supersedes`, `reason`, `topup_of`) and the event
/// `border.fee.assessed` of a new assessment `a`.
async fn assessment_entries(
    tx: &mut impl Journal,
    ctx: &Ctx,
    a: &Assessment,
    supersedes: Option<&str>,
    why: Option<&str>,
) -> Result<(), AppError> {
    tx.audit(&ctx.entry(
        "border.fee.assess",
        "border_fee_assessment",
        &a.id,
        &a.gate_code,
        serde_json::json!({
            "trip": a.trip_code, "version": a.trip_version, "amount_vnd": a.amount_vnd,
            "schedule": a.schedule_id, "journey": a.journey, "category": a.category,
            "vehicle_class": a.vehicle_class, "confirmed": a.confirmed,
            "supersedes": supersedes, "reason": why, "topup_of": a.topup_of,
            "fee_vnd": a.quote.amount.0,
        }),
    ))
    .await?;
    tx.emit(
        "border.fee.assessed",
        &serde_json::json!({"id": a.id, "trip": a.trip_code, "gate": a.gate_code,
            "amount_vnd": a.amount_vnd, "topup_of": a.topup_of}),
    )
    .await?;
    Ok(())
}

/// The new price `quote` of a trip whose own assessment `base` is paid (a correction of the
/// declaration, or a new schedule in force on its fee day): what was settled — `base` and
/// its paid top-ups, less the rate-change refunds already opened — is compared with the new
/// amount. The same amount (counting a top-up still due) changes nothing; otherwise a due
/// top-up is superseded (its pending request cancelled), and a higher amount gets a new
/// top-up of the difference (returned, due), a lower one a refund of the difference (reason
/// `rate_change`, [`crate::fee_refund`]; `base` is returned). `why` (or, when `None`,
/// `declaration_corrected` / `schedule_changed` / `reassessed`) goes on the audit entry.
#[allow(clippy::too_many_arguments)]
async fn reprice_paid_in(
    tx: &mut impl Journal,
    ctx: &Ctx,
    trip: &TripHead,
    base: &Assessment,
    quote: FeeQuote,
    fee_date: String,
    now: i64,
    why: Option<&str>,
) -> Result<Assessment, AppError> {
    let sql = format!(
        "SELECT {ASSESSMENT_COLUMNS} FROM border_fee_assessments \
         WHERE trip_id = $1 AND topup_of IS NOT NULL AND status <> 'superseded' \
         ORDER BY assessed_at, id"
    );
    let topups = tx
        .rows(&sql, &[Param::Text(&trip.id)], assessment_at)
        .await?;
    let (back, back_collector) = crate::fee_refund::rate_change_refunded_in(tx, &trip.id).await?;
    let paid: Vec<&Assessment> = topups.iter().filter(|t| t.status == "paid").collect();
    let settled = base.amount_vnd + paid.iter().map(|t| t.amount_vnd).sum::<i64>() - back;
    let settled_collector =
        base.collector_vnd + paid.iter().map(|t| t.collector_vnd).sum::<i64>() - back_collector;
    let due = topups.iter().find(|t| t.status == "due");
    let owed = settled + due.map_or(0, |d| d.amount_vnd);
    if quote.amount.0 == owed {
        return Ok(due.unwrap_or(base).clone());
    }
    let latest = topups.last().unwrap_or(base);
    let why = why.unwrap_or(if trip.version != latest.trip_version {
        "declaration_corrected"
    } else if quote.schedule_id != latest.schedule_id {
        "schedule_changed"
    } else {
        "reassessed"
    });
    if let Some(d) = due {
        supersede_due(tx, &d.id).await?;
    }
    let diff = quote.amount.0 - settled;
    if diff > 0 {
        let collector = (quote.collector_share.0 - settled_collector).clamp(0, diff);
        let a = Assessment {
            id: format!("PA-{}", uuid::Uuid::now_v7().simple()),
            trip_id: trip.id.clone(),
            trip_code: trip.code.clone(),
            trip_version: trip.version,
            gate_code: trip.gate.clone(),
            fee_date,
            schedule_id: quote.schedule_id.clone(),
            journey: quote.journey.clone(),
            vehicle_class: quote.vehicle_class.clone(),
            category: quote.category.clone(),
            amount_vnd: diff,
            collector_vnd: collector,
            budget_vnd: diff - collector,
            confirmed: quote.confirmed,
            quote,
            status: "due".into(),
            assessed_by: ctx.actor.clone(),
            assessed_at: now,
            paid_at: None,
            topup_of: Some(base.id.clone()),
        };
        insert_assessment(tx, ctx, &a, due.map(|d| d.id.as_str()), Some(why)).await?;
        return Ok(a);
    }
    if diff < 0 {
        let collector = (settled_collector - quote.collector_share.0).clamp(0, -diff);
        crate::fee_refund::open_rate_change_in(
            tx,
            ctx,
            crate::fee_refund::TripRef {
                id: &trip.id,
                code: &trip.code,
                gate: &trip.gate,
            },
            (-diff, collector),
            format!(
                "Giá mới {} đồng, đã nộp {} đồng ({why})",
                quote.amount.0, settled
            ),
            now,
        )
        .await?;
    }
    Ok(base.clone())
}

/// [`assess_at`] for many trips in one transaction, each (input, time) kept apart as
/// [`sqlite_decides_first`] says: a refused one (a 4xx error) leaves no row, audit entry or
/// event, the others are kept. Results in input order.
pub async fn assess_many(
    db: &Db,
    ctx: &Ctx,
    inputs: &[(AssessInput, i64)],
) -> Result<Vec<Result<Assessment, AppError>>, AppError> {
    let guard = sqlite_decides_first(db);
    let codes: Vec<&str> = inputs.iter().map(|(i, _)| i.trip_code.trim()).collect();
    let run = FeeRun {
        ctx,
        codes: &codes,
        schedules: fees::schedules()?,
        guard,
    };
    match guard {
        // Decided before written: natively on a SQLite file, a paid fee priced again
        // included ([`reprice_paid_in`]).
        Guard::DecideFirst => {
            crate::bulk::each_decided(
                db,
                None::<FeeBatch>,
                inputs,
                |tx: Tx, batch, item| assess_item(tx, batch, item, run),
                |tx, e| std::future::ready((tx, Ok(e))),
                flush_batch,
            )
            .await
        }
        Guard::Savepoint => {
            crate::bulk::each_guarded(
                db,
                guard,
                None::<FeeBatch>,
                inputs,
                |tx: WriteTx, batch, item| assess_item(tx, batch, item, run),
                |tx, e| std::future::ready((tx, Ok(e))),
                flush_batch,
            )
            .await
        }
    }
}

/// What every item of a fee batch ([`assess_many`], [`request_payment_many`]) shares.
#[derive(Clone, Copy)]
struct FeeRun<'a> {
    ctx: &'a Ctx,
    /// The batch's trip codes.
    codes: &'a [&'a str],
    schedules: &'a [fees::Schedule],
    guard: Guard,
}

/// One item of [`assess_many`] in either kind of transaction. The batch's trips, vehicles,
/// goods and current assessments are read in the transaction by its first item (three
/// statements for the batch).
async fn assess_item<X: Journal>(
    mut tx: X,
    batch: Option<FeeBatch>,
    (input, now): &(AssessInput, i64),
    run: FeeRun<'_>,
) -> (X, Option<FeeBatch>, Result<Assessment, Refusal<AppError>>) {
    let mut batch = match batch {
        Some(b) => b,
        None => match FeeBatch::read(&mut tx, run.codes).await {
            Ok(b) => b,
            Err(e) => return (tx, None, Err(Refusal::Batch(e))),
        },
    };
    let r = batch
        .assess(
            &mut tx,
            run.ctx,
            input,
            *now,
            run.schedules,
            run.guard,
            None,
        )
        .await;
    (tx, Some(batch), r)
}

/// The end of an [`assess_many`] batch: the new assessments kept are written.
async fn flush_batch<X: Exec>(mut tx: X, batch: Option<FeeBatch>) -> (X, Result<(), AppError>) {
    let written = match batch {
        Some(mut b) => b.flush(&mut tx).await,
        None => Ok(()),
    };
    (tx, written)
}

/// What fails once an item has written (after its rules passed): the batch, when no
/// savepoint can undo the item ([`Guard::DecideFirst`]); else the item alone if a client
/// error.
fn after_write(guard: Guard) -> fn(AppError) -> Refusal<AppError> {
    match guard {
        Guard::DecideFirst => Refusal::Batch,
        Guard::Savepoint => Refusal::below_500,
    }
}

/// How a fee batch keeps its items apart. On SQLite the batch's transaction is the only
/// writer and every refusal of an assessment or a payment request is decided on what it read
/// before the item writes ([`assess_step`], [`request_in`]): no savepoint per item. On
/// PostgreSQL a concurrent writer can still take a unique index first (the one current
/// assessment of a trip: the insert is refused, 409): each item keeps its savepoint.
pub(crate) fn sqlite_decides_first(db: &Db) -> crate::bulk::Guard {
    match db.backend() {
        tinhso_store::Backend::Sqlite => crate::bulk::Guard::DecideFirst,
        tinhso_store::Backend::Postgres => crate::bulk::Guard::Savepoint,
    }
}

/// What an assessment batch reads up front ([`assess_many`]): per trip code, the trip's
/// pricing facts and its current assessment, kept true by the batch's own new assessments.
struct FeeBatch {
    trips: std::collections::HashMap<String, FeeFacts>,
    /// The current (own, not superseded) assessment of each trip read.
    current: std::collections::HashMap<String, Assessment>,
    /// New assessments not yet written ([`FeeBatch::flush`]; SQLite only, where nothing else
    /// writes: kept while no item supersedes or reprices).
    rows: Vec<serde_json::Value>,
}

/// What pricing a trip reads (dữ liệu tính phí).
struct FeeFacts {
    head: TripHead,
    direction: Option<Direction>,
    expected_arrival: i64,
    vehicle: Option<(String, i64)>,
    trailer: Option<(String, i64)>,
    hs_codes: Vec<String>,
}

impl FeeBatch {
    /// Read the trips `codes` name, with their vehicle and trailer, their goods' HS codes and
    /// their current assessments: three statements whatever the number of trips.
    async fn read(tx: &mut impl Exec, codes: &[&str]) -> Result<Self, AppError> {
        use crate::bulk::{rows_sql, Col};
        let rows: Vec<[&str; 1]> = codes.iter().map(|c| [*c]).collect();
        let body = serde_json::to_string(&rows).map_err(AppError::internal)?;
        let named = rows_sql(tx.backend(), 1, &[("code", Col::Text)]);
        let facts = tx
            .rows(
                &format!(
                    "SELECT t.code, t.id, t.version, t.gate_code, t.stage, t.direction, \
                     t.expected_arrival, v.vehicle_kind, v.payload_kg, r.vehicle_kind, r.payload_kg \
                     FROM border_trips t \
                     LEFT JOIN border_vehicles v ON v.plate = t.vehicle_plate \
                     LEFT JOIN border_vehicles r ON r.plate = t.trailer_plate \
                     WHERE t.code IN (SELECT code FROM ({named}) AS j)"
                ),
                &[Param::Text(&body)],
                |r| {
                    let code = r.text(0)?;
                    let stage = r.text(4)?;
                    let direction = r.text(5)?;
                    let kind_payload = |k: usize| -> Result<Option<(String, i64)>, DbError> {
                        Ok(r.opt_text(k)?.zip(r.opt_int(k + 1)?))
                    };
                    let facts = FeeFacts {
                        head: TripHead {
                            id: r.text(1)?,
                            code: code.clone(),
                            version: r.int(2)?,
                            gate: r.text(3)?,
                            stage: Stage::parse(&stage).unwrap_or(Stage::Declared),
                        },
                        direction: Direction::parse(&direction),
                        expected_arrival: r.int(6)?,
                        vehicle: kind_payload(7)?,
                        trailer: kind_payload(9)?,
                        hs_codes: Vec::new(),
                    };
                    Ok((code, facts))
                },
            )
            .await?;
        let mut trips: std::collections::HashMap<String, FeeFacts> = facts.into_iter().collect();
        let goods = tx
            .rows(
                &format!(
                    "SELECT t.code, g.hs_code FROM border_goods_lines g \
                     JOIN border_trips t ON t.id = g.trip_id \
                     WHERE t.code IN (SELECT code FROM ({named}) AS j) ORDER BY t.code, g.line_no"
                ),
                &[Param::Text(&body)],
                |r| Ok((r.text(0)?, r.text(1)?)),
            )
            .await?;
        for (code, hs) in goods {
            if let Some(t) = trips.get_mut(&code) {
                t.hs_codes.push(hs);
            }
        }
        let sql = format!(
            "SELECT {ASSESSMENT_COLUMNS} FROM border_fee_assessments \
             WHERE trip_code IN (SELECT code FROM ({named}) AS j) \
             AND status <> 'superseded' AND topup_of IS NULL"
        );
        let current = tx
            .rows(&sql, &[Param::Text(&body)], assessment_at)
            .await?
            .into_iter()
            .map(|a| (a.trip_code.clone(), a))
            .collect();
        Ok(Self {
            trips,
            current,
            rows: Vec::new(),
        })
    }

    /// One item of [`assess_many`] (or [`assess_in`]): [`assess_step`] on what the batch
    /// read, then its writes; `why` goes on the audit entry. A paid fee priced again reads
    /// what was settled ([`reprice_paid_in`]). Every refusal comes before the item's first
    /// write; what fails after it is [`after_write`]`(guard)`.
    #[allow(clippy::too_many_arguments)]
    async fn assess(
        &mut self,
        tx: &mut impl Journal,
        ctx: &Ctx,
        input: &AssessInput,
        now: i64,
        schedules: &[fees::Schedule],
        guard: Guard,
        why: Option<&str>,
    ) -> Result<Assessment, Refusal<AppError>> {
        let code = input.trip_code.trim();
        let t = self
            .trips
            .get(code)
            .ok_or_else(|| Refusal::below_500(unknown_trip(&input.trip_code)))?;
        let decided = (|| {
            let codes: Vec<&str> = t.hs_codes.iter().map(String::as_str).collect();
            let fi = fee_input_of(
                t.direction,
                t.expected_arrival,
                &codes,
                t.vehicle.clone(),
                t.trailer.clone(),
                input,
            )?;
            let quote = fees::quote_in(schedules, &fi)?;
            Ok((
                fi.date,
                assess_step(&t.head, self.current.get(code).cloned(), quote)?,
            ))
        })();
        let (date, step) = decided.map_err(Refusal::below_500)?;
        let written = after_write(guard);
        match step {
            AssessStep::Keep(a) => Ok(a),
            // It reads what the batch wrote.
            AssessStep::Reprice(paid, quote) => {
                let head = t.head.clone();
                self.flush(tx).await.map_err(written)?;
                let fee_date = date.format("%Y-%m-%d").to_string();
                reprice_paid_in(tx, ctx, &head, &paid, quote, fee_date, now, why)
                    .await
                    .map_err(written)
            }
            AssessStep::New { supersedes, quote } => {
                let a = new_assessment(&t.head, date, quote, ctx, now);
                match (guard, supersedes) {
                    // Written with the batch's other new assessments, before the commit.
                    (Guard::DecideFirst, None) => {
                        assessment_entries(tx, ctx, &a, None, why)
                            .await
                            .map_err(written)?;
                        self.rows.push(assessment_row(&a).map_err(written)?);
                    }
                    (_, supersedes) => {
                        // The one it supersedes may be among those kept.
                        self.flush(tx).await.map_err(written)?;
                        write_new(tx, ctx, &a, supersedes.as_deref(), why)
                            .await
                            .map_err(written)?;
                    }
                }
                self.current.insert(code.to_string(), a.clone());
                Ok(a)
            }
        }
    }

    /// Write the new assessments kept: one statement.
    async fn flush(&mut self, tx: &mut impl Exec) -> Result<(), AppError> {
        let rows = std::mem::take(&mut self.rows);
        crate::bulk::insert_rows(tx, "border_fee_assessments", &ASSESSMENT_COLS, "", &rows).await?;
        Ok(())
    }
}

const PAYMENT_COLUMNS: &str = "id, assessment_id, trip_code, gate_code, amount_vnd, purpose, status, \
    gateway, gateway_txn_id, qr_payload, created_by, created_at, paid_at, receipt_no, collector_vnd, \
    budget_vnd";

fn payment_of(r: &sqlx::any::AnyRow) -> Result<FeePayment, AppError> {
    Ok(payment_at(r, 0)?)
}

/// `cols` (a comma-separated column list) qualified with table alias `t`.
fn prefixed(cols: &str, t: &str) -> String {
    cols.split(',')
        .map(|c| format!("{t}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A payment from the row's [`PAYMENT_COLUMNS`] starting at column `o`.
fn payment_at(r: &dyn RowRead, o: usize) -> Result<FeePayment, DbError> {
    Ok(FeePayment {
        id: r.text(o)?,
        assessment_id: r.text(o + 1)?,
        trip_code: r.text(o + 2)?,
        gate_code: r.text(o + 3)?,
        amount_vnd: r.int(o + 4)?,
        purpose: r.text(o + 5)?,
        status: r.text(o + 6)?,
        gateway: r.text(o + 7)?,
        gateway_txn_id: r.opt_text(o + 8)?,
        qr_payload: r.text(o + 9)?,
        created_by: r.text(o + 10)?,
        created_at: r.int(o + 11)?,
        paid_at: r.opt_int(o + 12)?,
        receipt_no: r.opt_text(o + 13)?,
        collector_vnd: r.int(o + 14)?,
        budget_vnd: r.int(o + 15)?,
        bank_bin: gateway::DEMO_BANK_BIN.into(),
        bank_name: gateway::DEMO_BANK_NAME.into(),
        account: gateway::DEMO_ACCOUNT.into(),
        account_name: gateway::DEMO_ACCOUNT_NAME.into(),
    })
}

/// A payment request by id.
pub async fn payment(db: &Db, id: &str) -> Result<Option<FeePayment>, AppError> {
    let mut conn = db.read_conn().await?;
    payment_in(&mut conn, id).await
}

/// [`payment`] on a given connection (a write transaction's).
async fn payment_in(
    conn: &mut sqlx::AnyConnection,
    id: &str,
) -> Result<Option<FeePayment>, AppError> {
    let row = sqlx::query(&format!(
        "SELECT {PAYMENT_COLUMNS} FROM border_fee_payments WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(db_err)?;
    row.as_ref().map(payment_of).transpose()
}

/// The payment requests of a trip, oldest first.
pub async fn payments_for_trip(db: &Db, trip_code: &str) -> Result<Vec<FeePayment>, AppError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM border_fee_payments WHERE trip_code = $1 \
         ORDER BY created_at, id"
    );
    fetch_mapped(
        sqlx::query(&sql).bind(trip_code.trim()),
        db.pool(),
        payment_of,
    )
    .await
}

/// The receipt number of a trip's paid fee: what the journey module checks before the
/// "fee paid" stage (the hook, see the module doc).
pub async fn paid_receipt_for_trip(db: &Db, trip_code: &str) -> Result<Option<String>, AppError> {
    let row = sqlx::query(
        "SELECT p.receipt_no FROM border_fee_payments p \
         JOIN border_fee_assessments a ON a.id = p.assessment_id \
         WHERE a.trip_code = $1 AND a.status = 'paid' AND a.topup_of IS NULL AND p.status = 'paid'",
    )
    .bind(trip_code.trim())
    .fetch_optional(db.pool())
    .await
    .map_err(db_err)?;
    match row {
        Some(r) => Ok(r.try_get(0).map_err(db_err)?),
        None => Ok(None),
    }
}

/// Ask for a payment of a trip's assessed fee: a pending request with its VietQR code (the
/// existing one when there is already a pending request for this assessment). When the fee
/// schedule in force on the fee's day is no longer the one that priced it (a new resolution
/// shipped between the assessment and the payment), the fee is priced again first: the new
/// assessment supersedes the old one (audit `border.fee.assess` with `supersedes` and
/// `reason: "schedule_changed"`), the old pending request is cancelled, and the new amount
/// is asked for.
pub async fn request_payment(db: &Db, ctx: &Ctx, trip_code: &str) -> Result<FeePayment, AppError> {
    request_payment_at(db, ctx, trip_code, now_micros()).await
}

/// [`request_payment`] on a given clock (`now`, Unix µs), for the traffic simulator.
pub async fn request_payment_at(
    db: &Db,
    ctx: &Ctx,
    trip_code: &str,
    now: i64,
) -> Result<FeePayment, AppError> {
    request_payment_under(db, ctx, trip_code, now, fees::schedules()?).await
}

/// [`request_payment_at`] with the fee schedules in force given (`tinhso` ships
/// [`fees::schedules`]; a test gives a later resolution): a due fee priced under another
/// schedule than the one now in force on its fee day is priced again first (see
/// [`request_payment`]).
pub async fn request_payment_under(
    db: &Db,
    ctx: &Ctx,
    trip_code: &str,
    now: i64,
    schedules: &[fees::Schedule],
) -> Result<FeePayment, AppError> {
    let mut tx = db.begin_write().await?;
    let p = request_in(&mut tx, ctx, trip_code, now, schedules, Guard::Savepoint)
        .await
        .map_err(AppError::from)?;
    tx.commit().await?;
    p.ok_or_else(|| nothing_more_to_pay(trip_code))
}

/// The answer when a paid fee, priced again, owes nothing more (the repricing itself — a
/// refund of the difference — is committed).
fn nothing_more_to_pay(trip_code: &str) -> AppError {
    AppError::conflict(
        format!(
            "Chuyến {} đã nộp phí; mức phí mới không cao hơn, không thu thêm",
            trip_code.trim()
        ),
        format!(
            "Trip {} has paid its fee; the new rate is not higher, nothing more is due",
            trip_code.trim()
        ),
    )
}

/// The transfer's purpose (nội dung chuyển khoản): `PHI HT <trip>`, a top-up `PHI HT <trip> BS`
/// (bổ sung).
fn payment_purpose(a: &Assessment) -> String {
    match a.topup_of {
        Some(_) => format!("PHI HT {} BS", a.trip_code),
        None => format!("PHI HT {}", a.trip_code),
    }
}

/// Per trip code: its assessments that are not superseded, each with its earliest pending
/// request ([`due_with_pending`]).
type DueByTrip = std::collections::HashMap<String, Vec<(Assessment, Option<FeePayment>)>>;

/// The assessments of a trip that are not superseded (its own and its top-ups), each with
/// its earliest pending request (nhu cầu thanh toán đang chờ), for many trips by code in one
/// statement (the join goes through the payments' (trip_code, status) index): per trip code
/// named, in the order read (a code without an assessment is there, empty).
async fn due_with_pending(tx: &mut impl Exec, codes: &[&str]) -> Result<DueByTrip, AppError> {
    use crate::bulk::{rows_sql, Col};
    let named: Vec<[&str; 1]> = codes.iter().map(|c| [c.trim()]).collect();
    let source = rows_sql(tx.backend(), 1, &[("code", Col::Text)]);
    let body = serde_json::to_string(&named).map_err(AppError::internal)?;
    const ASSESSMENT_WIDTH: usize = 20;
    let rows = tx
        .rows(
            &format!(
                "SELECT {}, {} FROM border_fee_assessments a \
                 LEFT JOIN border_fee_payments p ON p.trip_code = a.trip_code \
                 AND p.assessment_id = a.id AND p.status = 'pending' \
                 WHERE a.trip_code IN (SELECT code FROM ({source}) AS j) AND a.status <> 'superseded' \
                 ORDER BY p.created_at, p.id",
                prefixed(ASSESSMENT_COLUMNS, "a"),
                prefixed(PAYMENT_COLUMNS, "p"),
            ),
            &[Param::Text(&body)],
            |r| {
                let pending = match r.opt_text(ASSESSMENT_WIDTH)? {
                    Some(_) => Some(payment_at(r, ASSESSMENT_WIDTH)?),
                    None => None,
                };
                Ok((assessment_at(r)?, pending))
            },
        )
        .await?;
    let mut found: std::collections::HashMap<String, Vec<_>> = named
        .iter()
        .map(|[c]| (c.to_string(), Vec::new()))
        .collect();
    for (a, pending) in rows {
        found
            .entry(a.trip_code.clone())
            .or_default()
            .push((a, pending));
    }
    Ok(found)
}

/// What a payment request does, decided on the trip's assessments and their pending requests
/// ([`request_step`]). (One lives per item for a moment: its size does not matter.)
#[allow(clippy::large_enum_variant)]
enum RequestStep {
    /// The fee due already has a pending request: the same one.
    Pending(FeePayment),
    /// A new pending request for this (due) assessment.
    New(Assessment),
    /// A new schedule is in force on the fee's day: price the trip again with this input,
    /// then ask for what is due.
    Reprice(AssessInput),
}

/// The rule of a payment request (one for [`request_in`] and [`request_payment_many`]), on
/// the trip's assessments that are not superseded, each with its earliest pending request:
/// no assessment, a refunded fee or a paid one (under the schedule in force) is refused (409).
fn request_step(
    found: &[(Assessment, Option<FeePayment>)],
    schedules: &[fees::Schedule],
) -> Result<RequestStep, AppError> {
    // The fee to pay: a top-up still due, else the trip's own assessment.
    let Some(base) = found.iter().find(|(a, _)| a.topup_of.is_none()) else {
        return Err(AppError::conflict(
            "Chuyến này chưa được tính phí",
            "No fee has been assessed for this trip yet",
        ));
    };
    let topup = found
        .iter()
        .find(|(a, _)| a.topup_of.is_some() && a.status == "due");
    let (a, pending) = match (base.0.status.as_str(), topup) {
        ("refunded", _) => {
            return Err(AppError::conflict(
                "Phí của chuyến này đã được hoàn; không thu lại",
                "The fee of this trip was refunded: it is not collected again",
            ))
        }
        ("paid", Some(t)) => t,
        _ => base,
    };
    // The schedule of the trip's latest price: a top-up carries the whole new quote.
    let latest = found
        .iter()
        .map(|(x, _)| x)
        .filter(|x| x.status != "refunded")
        .max_by_key(|x| (x.assessed_at, x.id.clone()))
        .unwrap_or(&base.0);
    // A new resolution in force on the fee's day since it was assessed (thay đổi mức phí):
    // the fee due is the new schedule's. It is priced again, superseding this assessment (or
    // top-up) and cancelling its pending request (as a reassessment after a correction does),
    // and the new amount is asked for; a paid fee gets a top-up of the difference, or a
    // refund of it when the new rate is lower.
    let fee_day = NaiveDate::parse_from_str(&a.fee_date, "%Y-%m-%d").map_err(AppError::internal)?;
    let in_force = fees::schedule_in(schedules, fee_day)?;
    if in_force.id != latest.schedule_id {
        return Ok(RequestStep::Reprice(AssessInput {
            trip_code: a.trip_code.clone(),
            journey: a.journey.clone(),
            container: container_of(a, schedules).into(),
        }));
    }
    if a.status == "paid" {
        return Err(AppError::conflict(
            "Chuyến này đã nộp phí",
            "The fee of this trip has been paid",
        ));
    }
    Ok(match pending {
        Some(p) => RequestStep::Pending(p.clone()),
        None => RequestStep::New(a.clone()),
    })
}

/// [`request_payment_at`] inside `tx`, of either kind (shared by [`request_payment_under`]
/// and [`request_payment_many`]); `guard` says what a failure after a write of its
/// repricing is ([`assess_in`]).
async fn request_in(
    tx: &mut impl Journal,
    ctx: &Ctx,
    trip_code: &str,
    now: i64,
    schedules: &[fees::Schedule],
    guard: Guard,
) -> Result<Option<FeePayment>, Stop> {
    let found = due_with_pending(tx, &[trip_code]).await?;
    let found = found.get(trip_code.trim()).map_or(&[][..], Vec::as_slice);
    match request_step(found, schedules)? {
        RequestStep::Pending(p) => Ok(Some(p)),
        RequestStep::New(a) => request_write(tx, ctx, a, now)
            .await
            .map(Some)
            .map_err(Stop::Failed),
        RequestStep::Reprice(input) => {
            repriced_request(tx, ctx, &input, now, schedules, guard).await
        }
    }
}

/// A payment request under a new schedule ([`RequestStep::Reprice`]): the trip priced again
/// (audit reason `schedule_changed`), then a request for what is due (`None`: nothing more,
/// the new rate is not higher — a refund of the difference may have been opened).
async fn repriced_request(
    tx: &mut impl Journal,
    ctx: &Ctx,
    input: &AssessInput,
    now: i64,
    schedules: &[fees::Schedule],
    guard: Guard,
) -> Result<Option<FeePayment>, Stop> {
    // Its refusals come before its writes, and this request wrote nothing before it.
    let a = assess_in(
        tx,
        ctx,
        input,
        now,
        schedules,
        Some("schedule_changed"),
        guard,
    )
    .await?;
    if a.status == "paid" {
        return Ok(None);
    }
    request_write(tx, ctx, a, now)
        .await
        .map(Some)
        .map_err(Stop::Failed)
}

/// The writes of a payment request whose rules passed ([`request_in`]): the pending request
/// with its VietQR code and its audit entry (nothing here refuses the request).
async fn request_write(
    tx: &mut impl Journal,
    ctx: &Ctx,
    a: Assessment,
    now: i64,
) -> Result<FeePayment, AppError> {
    let p = pending_request(tx, ctx, &a, now).await?;
    crate::bulk::insert_rows(
        tx,
        "border_fee_payments",
        &REQUEST_COLS,
        "",
        &[request_row(&p)],
    )
    .await?;
    Ok(p)
}

/// The columns of a new payment request's row ([`request_row`]).
const REQUEST_COLS: [(&str, crate::bulk::Col); 13] = [
    ("id", crate::bulk::Col::Text),
    ("assessment_id", crate::bulk::Col::Text),
    ("trip_code", crate::bulk::Col::Text),
    ("gate_code", crate::bulk::Col::Text),
    ("amount_vnd", crate::bulk::Col::Int),
    ("purpose", crate::bulk::Col::Text),
    ("status", crate::bulk::Col::Text),
    ("gateway", crate::bulk::Col::Text),
    ("qr_payload", crate::bulk::Col::Text),
    ("created_by", crate::bulk::Col::Text),
    ("created_at", crate::bulk::Col::Int),
    ("collector_vnd", crate::bulk::Col::Int),
    ("budget_vnd", crate::bulk::Col::Int),
];

/// A new pending request's row in [`REQUEST_COLS`]' order.
fn request_row(p: &FeePayment) -> serde_json::Value {
    serde_json::json!([
        p.id,
        p.assessment_id,
        p.trip_code,
        p.gate_code,
        p.amount_vnd,
        p.purpose,
        p.status,
        p.gateway,
        p.qr_payload,
        p.created_by,
        p.created_at,
        p.collector_vnd,
        p.budget_vnd
    ])
}

/// A new pending request for `a` with its VietQR code, as it is to be written, and its audit
/// entry `border.fee.payment_requested` (the row itself is the caller's to write).
async fn pending_request(
    tx: &mut impl Journal,
    ctx: &Ctx,
    a: &Assessment,
    now: i64,
) -> Result<FeePayment, AppError> {
    let purpose = payment_purpose(a);
    let qr = vietqr::payload(
        gateway::DEMO_BANK_BIN,
        gateway::DEMO_ACCOUNT,
        a.amount_vnd,
        &purpose,
    )
    .map_err(|e| AppError::internal(e.en))?;
    let id = format!("PF-{}", uuid::Uuid::now_v7().simple());
    tx.audit(&ctx.entry(
        "border.fee.payment_requested",
        "border_fee_payment",
        &id,
        &a.gate_code,
        serde_json::json!({"trip": a.trip_code, "assessment": a.id, "amount_vnd": a.amount_vnd,
            "topup_of": a.topup_of}),
    ))
    .await?;
    Ok(FeePayment {
        id,
        assessment_id: a.id.clone(),
        trip_code: a.trip_code.clone(),
        gate_code: a.gate_code.clone(),
        amount_vnd: a.amount_vnd,
        purpose,
        status: "pending".into(),
        gateway: gateway::GATEWAY.into(),
        gateway_txn_id: None,
        qr_payload: qr,
        created_by: ctx.actor.clone(),
        created_at: now,
        paid_at: None,
        receipt_no: None,
        collector_vnd: a.collector_vnd,
        budget_vnd: a.budget_vnd,
        bank_bin: gateway::DEMO_BANK_BIN.into(),
        bank_name: gateway::DEMO_BANK_NAME.into(),
        account: gateway::DEMO_ACCOUNT.into(),
        account_name: gateway::DEMO_ACCOUNT_NAME.into(),
    })
}

/// The `container` an assessment was priced with (`20ft`, `40ft` or empty), from its vehicle
/// class in the schedule that priced it.
fn container_of(a: &Assessment, schedules: &[fees::Schedule]) -> &'static str {
    let shipped = fees::schedules().unwrap_or_default();
    let kind = schedules
        .iter()
        .chain(shipped)
        .find(|s| s.id == a.schedule_id)
        .and_then(|s| s.vehicle_classes.iter().find(|c| c.code == a.vehicle_class))
        .map(|c| c.kind);
    match kind {
        Some(VehicleKind::Container20) => "20ft",
        Some(VehicleKind::Container40) => "40ft",
        _ => "",
    }
}

/// [`request_payment_at`] for many (trip code, time) in one transaction, each kept apart as
/// [`sqlite_decides_first`] says (a refused one leaves no row or audit entry). Results in
/// input order.
pub async fn request_payment_many(
    db: &Db,
    ctx: &Ctx,
    requests: &[(String, i64)],
) -> Result<Vec<Result<FeePayment, AppError>>, AppError> {
    let guard = sqlite_decides_first(db);
    let codes: Vec<&str> = requests.iter().map(|(c, _)| c.as_str()).collect();
    let run = FeeRun {
        ctx,
        codes: &codes,
        schedules: fees::schedules()?,
        guard,
    };
    let asked = match guard {
        // Decided before written: natively on a SQLite file, a request priced again
        // ([`repriced_request`]) included.
        Guard::DecideFirst => {
            crate::bulk::each_decided(
                db,
                RequestBatch::default(),
                requests,
                |tx: Tx, batch, item| request_item(tx, batch, item, run),
                |tx, e| std::future::ready((tx, Ok(e))),
                flush_requests,
            )
            .await?
        }
        Guard::Savepoint => {
            crate::bulk::each_guarded(
                db,
                guard,
                RequestBatch::default(),
                requests,
                |tx: WriteTx, batch, item| request_item(tx, batch, item, run),
                |tx, e| std::future::ready((tx, Ok(e))),
                flush_requests,
            )
            .await?
        }
    };
    Ok(asked
        .into_iter()
        .zip(requests)
        .map(|(r, (code, _))| r.and_then(|p| p.ok_or_else(|| nothing_more_to_pay(code))))
        .collect())
}

/// One request of [`request_payment_many`] in either kind of transaction: decided on what
/// the batch read ([`RequestBatch::ask`]) under [`Guard::DecideFirst`], else on its own reads
/// behind its savepoint ([`request_in`]).
async fn request_item<X: Journal>(
    mut tx: X,
    mut batch: RequestBatch,
    (code, now): &(String, i64),
    run: FeeRun<'_>,
) -> (
    X,
    RequestBatch,
    Result<Option<FeePayment>, Refusal<AppError>>,
) {
    let r = match run.guard {
        Guard::DecideFirst => {
            batch
                .ask(&mut tx, run.ctx, code, *now, run.codes, run.schedules)
                .await
        }
        Guard::Savepoint => {
            request_in(&mut tx, run.ctx, code, *now, run.schedules, run.guard).await
        }
    };
    (tx, batch, r.map_err(|e| e.refusal_under(run.guard)))
}

/// The end of a [`request_payment_many`] batch: the new requests kept are written.
async fn flush_requests<X: Exec>(mut tx: X, mut batch: RequestBatch) -> (X, Result<(), AppError>) {
    let written = batch.flush(&mut tx).await;
    (tx, written)
}

/// A batch of payment requests decided before written (SQLite, where the batch's
/// transaction is the only writer): the trips' assessments and pending requests are read once
/// for every trip code of the batch ([`due_with_pending`]), each request is decided on them
/// ([`request_step`]) and the new requests are inserted in one statement before the commit
/// ([`RequestBatch::flush`]). A request under a new schedule (priced again) goes through
/// [`request_in`]'s path after the rows kept so far are written, and its trip is read again
/// by any later request of the batch.
#[derive(Default)]
struct RequestBatch {
    /// Per trip code read: its assessments with their pending requests, as the batch has
    /// left them; `None` before the first request.
    found: Option<DueByTrip>,
    /// New requests not yet written.
    rows: Vec<serde_json::Value>,
}

impl RequestBatch {
    /// One request of [`request_payment_many`]: [`request_step`] on what the batch read.
    async fn ask(
        &mut self,
        tx: &mut impl Journal,
        ctx: &Ctx,
        code: &str,
        now: i64,
        codes: &[&str],
        schedules: &[fees::Schedule],
    ) -> Result<Option<FeePayment>, Stop> {
        if self.found.is_none() {
            self.found = Some(due_with_pending(tx, codes).await?);
        }
        let Some(found) = self.found.as_mut().and_then(|f| f.get_mut(code.trim())) else {
            // Priced again earlier in this batch: read as it is now.
            self.flush(tx).await.map_err(Stop::Failed)?;
            return request_in(tx, ctx, code, now, schedules, Guard::DecideFirst).await;
        };
        match request_step(found, schedules)? {
            RequestStep::Pending(p) => Ok(Some(p)),
            RequestStep::New(a) => {
                let p = pending_request(tx, ctx, &a, now)
                    .await
                    .map_err(Stop::Failed)?;
                if let Some(slot) = found.iter_mut().find(|(x, _)| x.id == a.id) {
                    slot.1 = Some(p.clone());
                }
                self.rows.push(request_row(&p));
                Ok(Some(p))
            }
            RequestStep::Reprice(input) => {
                if let Some(f) = self.found.as_mut() {
                    f.remove(code.trim());
                }
                self.flush(tx).await.map_err(Stop::Failed)?;
                repriced_request(tx, ctx, &input, now, schedules, Guard::DecideFirst).await
            }
        }
    }

    /// Write the new requests kept: one statement.
    async fn flush(&mut self, tx: &mut impl Exec) -> Result<(), AppError> {
        let rows = std::mem::take(&mut self.rows);
        crate::bulk::insert_rows(tx, "border_fee_payments", &REQUEST_COLS, "", &rows).await?;
        Ok(())
    }
}

fn refused(code: ErrorCode, vi: &str, en: &str) -> AppError {
    AppError::new(code).with_detail(vi, en)
}

/// The audit entry of a refused callback.
fn rejection_entry(
    ctx: &Ctx,
    reason: &str,
    payment_id: &str,
) -> tinhso_store::audit::NewAuditEntry {
    ctx.entry(
        "border.fee.callback_rejected",
        "border_fee_payment",
        payment_id,
        "",
        serde_json::json!({"reason": reason}),
    )
}

/// Record a refused callback on the audit trail (and nothing else) and return the error.
async fn reject(db: &Db, ctx: &Ctx, reason: &str, payment_id: &str, err: AppError) -> AppError {
    let entry = rejection_entry(ctx, reason, payment_id);
    if let Err(e) = tinhso_store::audit::append(db, &entry).await {
        tracing::error!(error = %e, "could not record a rejected fee callback");
    }
    tracing::warn!(reason, payment_id, "border fee callback rejected");
    err
}

/// Why a callback did not go through.
enum CallbackError {
    /// Refused (bad signature, replayed transaction id for another payment, already paid, …):
    /// only the refusal goes on the audit trail.
    Refused {
        reason: &'static str,
        label: String,
        err: AppError,
    },
    /// Anything else (a database failure).
    Failed(AppError),
}

impl From<AppError> for CallbackError {
    fn from(e: AppError) -> Self {
        CallbackError::Failed(e)
    }
}

impl CallbackError {
    /// What it does to a batch ([`callback_many`]): a server error fails the batch, anything
    /// else refuses the callback alone.
    fn refusal(self) -> crate::bulk::Refusal<Self> {
        match self {
            CallbackError::Failed(e) if e.status() >= 500 => crate::bulk::Refusal::Batch(e),
            e => crate::bulk::Refusal::Item(e),
        }
    }
}

/// Process the payment gateway's callback for a border fee payment. The body is a
/// [`tinhso_services::payment::Callback`]; `now_secs` is the current Unix time.
pub async fn callback(
    db: &Db,
    ctx: &Ctx,
    body: &[u8],
    signature: Option<&str>,
    timestamp: Option<&str>,
    now_secs: i64,
) -> Result<CallbackResult, AppError> {
    let mut tx = db.begin_write().await?;
    let mut book = ReceiptBook::default();
    match callback_in(
        &mut tx, &mut book, ctx, body, signature, timestamp, now_secs,
    )
    .await
    {
        Ok(r) => {
            tx.commit().await?;
            Ok(r)
        }
        Err(CallbackError::Refused { reason, label, err }) => {
            drop(tx);
            Err(reject(db, ctx, reason, &label, err).await)
        }
        Err(CallbackError::Failed(e)) => Err(e),
    }
}

/// One gateway callback as received: the body and its `X-Signature` and `X-Timestamp`.
#[derive(Debug, Clone, Default)]
pub struct GatewayCall {
    pub body: Vec<u8>,
    pub signature: Option<String>,
    pub timestamp: Option<String>,
}

/// [`callback`] for many callbacks in one transaction (the fee settlement of a batch), each
/// kept apart as [`sqlite_decides_first`] says: a refused one changes nothing of its own (its
/// rows, audit entries and events) and only its refusal is put on the audit trail, as
/// [`callback`] does; the others are kept. On SQLite the batch reads its payments once and
/// decides every callback before it writes ([`CallbackBatch`]); on PostgreSQL each callback is
/// behind a savepoint (a concurrent callback may pay the same fee first). Results in input
/// order.
pub async fn callback_many(
    db: &Db,
    ctx: &Ctx,
    calls: &[GatewayCall],
    now_secs: i64,
) -> Result<Vec<Result<CallbackResult, AppError>>, AppError> {
    if sqlite_decides_first(db) == crate::bulk::Guard::DecideFirst {
        // Decided before written: natively on a SQLite file (no savepoint is needed).
        return crate::bulk::each_decided(
            db,
            CallbackBatch::new(),
            calls,
            |mut tx: Tx, mut batch, c| async move {
                let r = batch.decide(&mut tx, ctx, c, calls, now_secs).await;
                (tx, batch, r.map_err(CallbackError::refusal))
            },
            |tx, e| callback_refused(tx, ctx, e),
            |mut tx, batch| async move {
                let written = batch.write(&mut tx).await;
                (tx, written)
            },
        )
        .await;
    }
    crate::bulk::each_guarded(
        db,
        crate::bulk::Guard::Savepoint,
        CallbackBatch::new(),
        calls,
        |mut tx, mut batch, c| async move {
            // A refused callback's numbers are rolled back with its savepoint: given again.
            let kept = batch.book.clone();
            let r = callback_in(
                &mut tx,
                &mut batch.book,
                ctx,
                &c.body,
                c.signature.as_deref(),
                c.timestamp.as_deref(),
                now_secs,
            )
            .await;
            if r.is_err() {
                batch.book = kept;
            }
            (tx, batch, r.map_err(CallbackError::refusal))
        },
        |tx, e| callback_refused(tx, ctx, e),
        |mut tx, batch| async move {
            let written = batch.write(&mut tx).await;
            (tx, written)
        },
    )
    .await
}

/// The answer to a refused callback of [`callback_many`], after it is undone: a refusal of the
/// callback itself goes on the audit trail (`border.fee.callback_rejected`).
async fn callback_refused<X: Journal>(
    mut tx: X,
    ctx: &Ctx,
    e: CallbackError,
) -> (X, Result<AppError, AppError>) {
    let answer = match e {
        CallbackError::Refused { reason, label, err } => {
            match tx.audit(&rejection_entry(ctx, reason, &label)).await {
                Ok(_) => {
                    tracing::warn!(reason, payment_id = %label, "border fee callback rejected");
                    Ok(err)
                }
                Err(db) => Err(AppError::from(db)),
            }
        }
        CallbackError::Failed(e) => Ok(e),
    };
    (tx, answer)
}

/// A payment's update by a callback (a row of [`CallbackBatch::write`]'s statement): id,
/// status, transaction id, paid at, receipt number.
type PaymentUpdate = (String, &'static str, String, Option<i64>, Option<String>);

/// A batch of gateway callbacks decided before written (quyết trước, ghi sau; SQLite, where
/// the batch's transaction is the only writer): the payments the callbacks name (by request
/// id and by transaction id) are read once with their assessments and trips
/// ([`CallbackBatch::read`]), each callback is judged on what was read and what the earlier
/// callbacks of the batch did, and the rows are written before the commit in a few multi-row
/// statements ([`CallbackBatch::write`]): payments, assessments, the trips' stage times and
/// moves, the receipt counters. A refused callback has written nothing.
struct CallbackBatch {
    book: ReceiptBook,
    /// Read yet ([`CallbackBatch::read`], by the first callback).
    read: bool,
    /// Payments by id, as the batch has left them.
    payments: std::collections::HashMap<String, FeePayment>,
    /// Payment id by gateway transaction id.
    by_txn: std::collections::HashMap<String, String>,
    /// Assessment id → (status, trip id), as the batch has left them.
    assessments: std::collections::HashMap<String, (String, String)>,
    /// Trip id → its stage (`None`: no such trip), as the batch has left it.
    stages: std::collections::HashMap<String, Option<Stage>>,
    later: crate::journey::StageWrites,
    /// Payment updates, in order.
    settled: Vec<PaymentUpdate>,
    /// Assessments paid: (id, paid at).
    paid: Vec<(String, i64)>,
}

impl CallbackBatch {
    fn new() -> Self {
        Self {
            book: ReceiptBook::batch(),
            read: false,
            payments: Default::default(),
            by_txn: Default::default(),
            assessments: Default::default(),
            stages: Default::default(),
            later: Default::default(),
            settled: Vec::new(),
            paid: Vec::new(),
        }
    }

    /// Read every payment the batch's callbacks name (by request id or transaction id; a body
    /// that does not parse names none), with its assessment's status and trip and the trip's
    /// stage: one statement.
    async fn read(&mut self, tx: &mut impl Exec, calls: &[GatewayCall]) -> Result<(), AppError> {
        use crate::bulk::{rows_sql, Col};
        let named: Vec<[String; 2]> = calls
            .iter()
            .filter_map(|c| serde_json::from_slice::<gateway::Callback>(&c.body).ok())
            .map(|cb| [cb.payment_id, cb.txn_id])
            .collect();
        self.read = true;
        if named.is_empty() {
            return Ok(());
        }
        let source = rows_sql(tx.backend(), 1, &[("id", Col::Text), ("txn", Col::Text)]);
        let sql = format!(
            "SELECT {}, a.status, a.trip_id, t.stage FROM border_fee_payments p \
             JOIN border_fee_assessments a ON a.id = p.assessment_id \
             LEFT JOIN border_trips t ON t.id = a.trip_id \
             WHERE p.id IN (SELECT id FROM ({source}) AS j) \
             OR p.gateway_txn_id IN (SELECT txn FROM ({source}) AS k)",
            prefixed(PAYMENT_COLUMNS, "p"),
        );
        let body = serde_json::to_string(&named).map_err(AppError::internal)?;
        const PAYMENT_WIDTH: usize = 16;
        let rows = tx
            .rows(&sql, &[Param::Text(&body)], |r| {
                Ok((
                    payment_at(r, 0)?,
                    r.text(PAYMENT_WIDTH)?,
                    r.text(PAYMENT_WIDTH + 1)?,
                    r.opt_text(PAYMENT_WIDTH + 2)?,
                ))
            })
            .await
            .map_err(AppError::from)?;
        for (p, status, trip_id, stage) in rows {
            let stage = stage
                .map(|s| {
                    Stage::parse(&s).ok_or_else(|| {
                        AppError::internal(format!("trip {}: unknown stage {s}", p.trip_code))
                    })
                })
                .transpose()?;
            self.assessments
                .insert(p.assessment_id.clone(), (status, trip_id.clone()));
            self.stages.insert(trip_id, stage);
            if let Some(txn) = &p.gateway_txn_id {
                self.by_txn.insert(txn.clone(), p.id.clone());
            }
            self.payments.insert(p.id.clone(), p);
        }
        Ok(())
    }

    /// One callback of the batch: every rule of [`callback_in`], on what the batch read and
    /// did; its writes kept for [`CallbackBatch::write`] (a refusal comes before any of them).
    async fn decide(
        &mut self,
        tx: &mut impl Journal,
        ctx: &Ctx,
        c: &GatewayCall,
        calls: &[GatewayCall],
        now_secs: i64,
    ) -> Result<CallbackResult, CallbackError> {
        if !self.read {
            self.read(tx, calls).await?;
        }
        let (label, auth) = gateway::authenticate_callback(
            &c.body,
            c.signature.as_deref(),
            c.timestamp.as_deref(),
            now_secs,
        );
        let cb = match auth {
            Ok(cb) => cb,
            Err((reason, err)) => return Err(CallbackError::Refused { reason, label, err }),
        };
        let holding_txn = self.by_txn.get(&cb.txn_id);
        let rows = holding_txn
            .into_iter()
            .chain([&cb.payment_id])
            .filter_map(|id| self.payments.get(id).cloned())
            .collect();
        let (p, paid_at) = match judge(&cb, &label, rows)? {
            Judgement::Settle(p, paid_at) => (p, paid_at),
            Judgement::Replay(r) => return Ok(r),
        };
        let mut written = p.clone();
        written.gateway_txn_id = Some(cb.txn_id.clone());
        if cb.status == "failed" {
            failed_entry(tx, ctx, &p, &cb.txn_id).await?;
            written.status = "failed".into();
            self.settled
                .push((p.id.clone(), "failed", cb.txn_id.clone(), None, None));
        } else {
            let Some((status, trip_id)) = self.assessments.get_mut(&p.assessment_id) else {
                return Err(AppError::internal("payment without its assessment").into());
            };
            if status != "due" {
                return Err(CallbackError::Refused {
                    reason: "already_paid",
                    label,
                    err: double_payment(&p.trip_code),
                });
            }
            *status = "paid".into();
            let trip_id = trip_id.clone();
            let year = declaration::local(paid_at).year();
            let receipt = next_receipt(tx, &mut self.book, year).await?;
            self.paid.push((p.assessment_id.clone(), paid_at));
            self.settled.push((
                p.id.clone(),
                "paid",
                cb.txn_id.clone(),
                Some(paid_at),
                Some(receipt.clone()),
            ));
            if let Some(Some(stage)) = self.stages.get(&trip_id).copied() {
                let now =
                    move_when_paid(tx, Some(&mut self.later), &trip_id, stage, paid_at).await?;
                self.stages.insert(trip_id, Some(now));
            }
            paid_entries(tx, ctx, &p, &cb.txn_id, &receipt, paid_at).await?;
            written.status = "paid".into();
            written.paid_at = Some(paid_at);
            written.receipt_no = Some(receipt);
        }
        self.by_txn.insert(cb.txn_id.clone(), p.id.clone());
        self.payments.insert(p.id.clone(), written.clone());
        Ok(CallbackResult {
            payment: written,
            replayed: false,
        })
    }

    /// Write what the batch's callbacks decided, before the commit: the payments (paid or
    /// failed), the assessments paid, the trips' stage times and moves, the receipt counters.
    /// A row not found as it was read fails the batch.
    async fn write(&self, tx: &mut impl Exec) -> Result<(), AppError> {
        use crate::bulk::{update_each, Col};
        let cols = [
            ("id", Col::Text),
            ("status", Col::Text),
            ("txn", Col::Text),
            ("paid_at", Col::Int),
            ("receipt", Col::Text),
        ];
        update_each(
            tx,
            "border_fee_payments SET status = j.status, gateway_txn_id = j.txn, \
             paid_at = j.paid_at, receipt_no = j.receipt",
            &cols,
            // `|| ''`: found by id, not through the index of every pending request (SQLite
            // would walk them all, and unpaid requests pile up).
            "border_fee_payments.id = j.id AND border_fee_payments.status || '' = 'pending'",
            &self.settled,
        )
        .await?;
        update_each(
            tx,
            "border_fee_assessments SET status = 'paid', paid_at = j.paid_at",
            &[("id", Col::Text), ("paid_at", Col::Int)],
            "border_fee_assessments.id = j.id AND border_fee_assessments.status = 'due'",
            &self.paid,
        )
        .await?;
        self.later.write(tx).await?;
        self.book.write(tx).await
    }
}

/// [`callback`] inside `tx`: every rule of a callback (shared by [`callback`] and
/// [`callback_many`]).
async fn callback_in(
    tx: &mut WriteTx,
    book: &mut ReceiptBook,
    ctx: &Ctx,
    body: &[u8],
    signature: Option<&str>,
    timestamp: Option<&str>,
    now_secs: i64,
) -> Result<CallbackResult, CallbackError> {
    let (label, auth) = gateway::authenticate_callback(body, signature, timestamp, now_secs);
    let cb = match auth {
        Ok(cb) => cb,
        Err((reason, err)) => return Err(CallbackError::Refused { reason, label, err }),
    };
    // A replay (the same transaction already processed), or the request it settles: both
    // read in one statement.
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM border_fee_payments \
         WHERE gateway_txn_id = $1 OR id = $2"
    );
    let rows = fetch_mapped(
        sqlx::query(&sql).bind(&cb.txn_id).bind(&cb.payment_id),
        tx.conn(),
        payment_of,
    )
    .await?;
    let (p, paid_at) = match judge(&cb, &label, rows)? {
        Judgement::Settle(p, paid_at) => (p, paid_at),
        Judgement::Replay(r) => return Ok(r),
    };
    // What the row becomes when its update goes through (`None`: read it back).
    let mut written = p.clone();
    written.gateway_txn_id = Some(cb.txn_id.clone());
    let written = if cb.status == "failed" {
        let n = sqlx::query(
            "UPDATE border_fee_payments SET status = 'failed', gateway_txn_id = $1 \
             WHERE id = $2 AND status = 'pending'",
        )
        .bind(&cb.txn_id)
        .bind(&p.id)
        .execute(tx.conn())
        .await
        .map_err(db_err)?
        .rows_affected();
        failed_entry(tx, ctx, &p, &cb.txn_id).await?;
        written.status = "failed".into();
        (n == 1).then_some(written)
    } else {
        match settle_in(tx, book, ctx, &p, &cb.txn_id, paid_at).await {
            Ok(receipt) => {
                written.status = "paid".into();
                written.paid_at = Some(paid_at);
                written.receipt_no = Some(receipt);
                Some(written)
            }
            Err(e) if e.code == ErrorCode::Conflict => {
                return Err(CallbackError::Refused {
                    reason: "already_paid",
                    label,
                    err: e,
                });
            }
            Err(e) => return Err(e.into()),
        }
    };
    let payment = match written {
        Some(w) => w,
        None => payment_in(tx.conn(), &p.id)
            .await?
            .ok_or_else(|| AppError::internal("payment vanished"))?,
    };
    Ok(CallbackResult {
        payment,
        replayed: false,
    })
}

/// What an authenticated callback does ([`judge`]).
enum Judgement {
    /// The same transaction was already processed: the answer, its payment unchanged.
    Replay(CallbackResult),
    /// The pending request to settle, and the payment's time.
    Settle(FeePayment, i64),
}

/// [`gateway::judge_callback`] on the payment of `rows` holding the callback's transaction id
/// (a replay) or else the request it names, then its status and time ([`settled_at`]).
// The same error as [`callback_in`]'s (a refusal, the rare path).
#[allow(clippy::result_large_err)]
fn judge(
    cb: &gateway::Callback,
    label: &str,
    rows: Vec<FeePayment>,
) -> Result<Judgement, CallbackError> {
    let prior = rows
        .iter()
        .find(|p| p.gateway_txn_id.as_deref() == Some(cb.txn_id.as_str()))
        .cloned();
    let request = match prior {
        Some(_) => None,
        None => rows.into_iter().find(|p| p.id == cb.payment_id),
    };
    match gateway::judge_callback(cb, prior, request) {
        Ok(gateway::Judged::Replay(p)) => Ok(Judgement::Replay(CallbackResult {
            payment: p,
            replayed: true,
        })),
        Ok(gateway::Judged::Settle(p)) => match settled_at(cb) {
            Some(at) => Ok(Judgement::Settle(p, at)),
            None => Err(bad_body(label.to_string())),
        },
        Err((reason, err)) => Err(CallbackError::Refused {
            reason,
            label: label.to_string(),
            err,
        }),
    }
}

/// The payment's time of an authenticated callback whose status is `paid` or `failed`
/// (`None`: refused, [`bad_body`]).
fn settled_at(cb: &gateway::Callback) -> Option<i64> {
    let at = chrono::DateTime::parse_from_rfc3339(&cb.paid_at)
        .map(|t| t.timestamp_micros())
        .ok();
    at.filter(|_| cb.status == "paid" || cb.status == "failed")
}

/// The refusal of a callback whose status or time is not valid.
fn bad_body(label: String) -> CallbackError {
    CallbackError::Refused {
        reason: "bad_body",
        label,
        err: refused(
            ErrorCode::BadRequest,
            "Trạng thái hoặc thời điểm thanh toán không hợp lệ",
            "The status or paid_at is not valid",
        ),
    }
}

/// The audit entry of a failed payment attempt.
async fn failed_entry(
    tx: &mut impl Journal,
    ctx: &Ctx,
    p: &FeePayment,
    txn_id: &str,
) -> Result<(), AppError> {
    tx.audit(&ctx.entry(
        "border.fee.payment_failed",
        "border_fee_payment",
        &p.id,
        &p.gate_code,
        serde_json::json!({"trip": p.trip_code, "txn_id": txn_id}),
    ))
    .await?;
    Ok(())
}

/// The journey of a trip at `stage` whose fee is paid at `paid_at`: moved to "fee paid"
/// (source `payment`) when its checks are done, its writes kept in `later` when given
/// ([`crate::journey::advance_from_in`]). Returns the trip's stage after.
async fn move_when_paid(
    tx: &mut impl Journal,
    later: Option<&mut crate::journey::StageWrites>,
    trip_id: &str,
    stage: Stage,
    paid_at: i64,
) -> Result<Stage, AppError> {
    // Paid before the checks are done (prepaid, e.g. at booking time): the journey moves to
    // "fee paid" when the checks clear ([`crate::checks`]), not before the truck came.
    if matches!(stage, Stage::Declared | Stage::Staging | Stage::Yard) {
        return Ok(stage);
    }
    let moved = crate::journey::advance_from_in(
        tx,
        later,
        trip_id,
        stage,
        Stage::Paid,
        paid_at,
        crate::journey::Source::Payment,
    )
    .await?;
    Ok(moved.to)
}

/// The audit entry `border.fee.paid` and the event `border.fee.paid` of a settled payment.
async fn paid_entries(
    tx: &mut impl Journal,
    ctx: &Ctx,
    p: &FeePayment,
    txn_id: &str,
    receipt: &str,
    paid_at: i64,
) -> Result<(), AppError> {
    tx.audit(&ctx.entry(
        "border.fee.paid",
        "border_fee_payment",
        &p.id,
        &p.gate_code,
        serde_json::json!({
            "trip": p.trip_code, "assessment": p.assessment_id, "amount_vnd": p.amount_vnd,
            "collector_vnd": p.collector_vnd, "budget_vnd": p.budget_vnd,
            "txn_id": txn_id, "receipt_no": receipt,
        }),
    ))
    .await?;
    tx.emit(
        "border.fee.paid",
        &serde_json::json!({
            "trip": p.trip_code, "gate": p.gate_code, "payment": p.id,
            "amount_vnd": p.amount_vnd, "receipt_no": receipt, "paid_at": paid_at,
        }),
    )
    .await?;
    Ok(())
}

/// Whether the trip's current fee is paid, as `tx` sees it: its own assessment paid and no
/// top-up due (a truck with an unpaid top-up is not cleared).
pub(crate) async fn paid_in(tx: &mut impl Exec, trip_id: &str) -> Result<bool, AppError> {
    let paid = tx
        .row(
            &format!(
                "SELECT 1 FROM border_fee_assessments WHERE trip_id = $1 \
                 AND status IN ('paid', 'due') GROUP BY trip_id HAVING {FEE_PAID}"
            ),
            &[Param::Text(trip_id)],
            |_| Ok(()),
        )
        .await?;
    Ok(paid.is_some())
}

/// Over one trip's assessments that are paid or due: its own assessment is paid and no
/// top-up is due (the rule of [`paid_in`] and [`paid_among`]).
const FEE_PAID: &str = "SUM(CASE WHEN status = 'paid' AND topup_of IS NULL THEN 1 ELSE 0 END) > 0 \
    AND SUM(CASE WHEN status = 'due' AND topup_of IS NOT NULL THEN 1 ELSE 0 END) = 0";

/// [`paid_in`] for many trips by code, in one statement: the codes of those whose fee is paid.
pub(crate) async fn paid_among(
    tx: &mut impl Exec,
    codes: &[String],
) -> Result<std::collections::HashSet<String>, AppError> {
    use crate::bulk::{rows_sql, Col};
    if codes.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<[&str; 1]> = codes.iter().map(|c| [c.as_str()]).collect();
    let named = rows_sql(tx.backend(), 1, &[("code", Col::Text)]);
    let body = serde_json::to_string(&rows).map_err(AppError::internal)?;
    let paid = tx
        .rows(
            &format!(
                "SELECT trip_code FROM border_fee_assessments \
                 WHERE trip_code IN (SELECT code FROM ({named}) AS j) \
                 AND status IN ('paid', 'due') GROUP BY trip_code HAVING {FEE_PAID}"
            ),
            &[Param::Text(&body)],
            |r| r.text(0),
        )
        .await?;
    Ok(paid.into_iter().collect())
}

/// The receipt numbers (số biên lai) handed out in one transaction, per year: `None`, each
/// number is taken from the year's counter at once; in a batch ([`callback_many`]) the
/// year's first number is taken from the counter (which creates and locks its row), the
/// next ones follow it here, and the counter is set to the last one before the commit
/// ([`ReceiptBook::write`]): one statement per year and batch instead of one per receipt.
#[derive(Debug, Clone, Default)]
struct ReceiptBook(Option<std::collections::BTreeMap<i32, i64>>);

impl ReceiptBook {
    fn batch() -> Self {
        Self(Some(std::collections::BTreeMap::new()))
    }

    /// Set each year's counter to the last number the batch handed out.
    async fn write(&self, tx: &mut impl Exec) -> Result<(), AppError> {
        for (year, last) in self.0.iter().flatten() {
            let name = format!("fee-receipt:{year}");
            tx.execute(
                "UPDATE border_counters SET value = $1 WHERE name = $2",
                &[Param::Int(*last), Param::Text(&name)],
            )
            .await
            .map_err(AppError::from)?;
        }
        Ok(())
    }
}

async fn next_receipt(
    tx: &mut impl Exec,
    book: &mut ReceiptBook,
    year: i32,
) -> Result<String, AppError> {
    if let Some(last) = book.0.as_mut().and_then(|b| b.get_mut(&year)) {
        *last += 1;
        return Ok(format!("{RECEIPT_PREFIX}-{year}-{:06}", *last));
    }
    let name = format!("fee-receipt:{year}");
    let n = crate::bulk::take_numbers(tx, &name, 1).await?;
    if let Some(b) = book.0.as_mut() {
        b.insert(year, n);
    }
    Ok(format!("{RECEIPT_PREFIX}-{year}-{n:06}"))
}

fn double_payment(trip: &str) -> AppError {
    AppError::conflict(
        format!("Phí của chuyến {trip} đã được nộp; khoản thanh toán này bị từ chối"),
        format!("The fee of trip {trip} has already been paid; this payment is refused"),
    )
}

/// Mark a payment and its assessment paid and issue the receipt, in `tx`; a conflict (the
/// assessment is no longer due) is returned before anything else is written (the caller
/// rolls back). Returns the receipt number.
async fn settle_in(
    tx: &mut WriteTx,
    book: &mut ReceiptBook,
    ctx: &Ctx,
    p: &FeePayment,
    txn_id: &str,
    paid_at: i64,
) -> Result<String, AppError> {
    let year = declaration::local(paid_at).year();
    // The assessment paid, and its trip with the trip's stage in the same statement (a move
    // checks the stage it read is still the trip's: [`crate::journey::advance_from`]).
    let trip: Option<(String, Option<String>)> = sqlx::query_as(
        "UPDATE border_fee_assessments SET status = 'paid', paid_at = $1 \
         WHERE id = $2 AND status = 'due' \
         RETURNING trip_id, \
         (SELECT t.stage FROM border_trips t WHERE t.id = border_fee_assessments.trip_id)",
    )
    .bind(paid_at)
    .bind(&p.assessment_id)
    .fetch_optional(tx.conn())
    .await
    .map_err(db_err)?;
    let Some((trip_id, stage)) = trip else {
        return Err(double_payment(&p.trip_code));
    };
    let receipt = next_receipt(tx, book, year).await?;
    let updated = sqlx::query(
        "UPDATE border_fee_payments SET status = 'paid', gateway_txn_id = $1, paid_at = $2, \
         receipt_no = $3 WHERE id = $4 AND status = 'pending'",
    )
    .bind(txn_id)
    .bind(paid_at)
    .bind(&receipt)
    .bind(&p.id)
    .execute(tx.conn())
    .await;
    match updated {
        Ok(r) if r.rows_affected() == 1 => {}
        Ok(_) => return Err(double_payment(&p.trip_code)),
        Err(e) => {
            let e = DbError::from(e);
            if e.is_unique_violation() {
                return Err(double_payment(&p.trip_code));
            }
            return Err(e.into());
        }
    }
    if let Some(stage) = stage {
        let stage = Stage::parse(&stage).ok_or_else(|| {
            AppError::internal(format!("trip {}: unknown stage {stage}", p.trip_code))
        })?;
        move_when_paid(tx, None, &trip_id, stage, paid_at).await?;
    }
    paid_entries(tx, ctx, p, txn_id, &receipt, paid_at).await?;
    Ok(receipt)
}

impl gateway::Claimed for FeePayment {
    fn claim_id(&self) -> &str {
        &self.id
    }
    fn claim_amount(&self) -> i64 {
        self.amount_vnd
    }
    fn claim_status(&self) -> &str {
        &self.status
    }
}

/// The electronic receipt (biên lai điện tử) of a paid fee, as structured data.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Receipt {
    pub receipt_no: String,
    /// Unix microseconds.
    pub paid_at: i64,
    /// Đơn vị thu phí.
    pub collector_vi: String,
    pub payer_name: String,
    pub payer_mst: String,
    pub trip_code: String,
    pub vehicle_plate: String,
    pub gate_code: String,
    pub amount_vnd: i64,
    pub collector_vnd: i64,
    pub budget_vnd: i64,
    pub schedule_title_vi: String,
    pub explanation_vi: String,
    /// Every figure of the fee is confirmed against the resolution.
    pub confirmed: bool,
    pub payment_id: String,
    pub gateway: String,
    pub gateway_txn_id: String,
}

/// A receipt by its number.
pub async fn receipt(db: &Db, receipt_no: &str) -> Result<Option<Receipt>, AppError> {
    let row = sqlx::query(
        "SELECT p.id FROM border_fee_payments p WHERE p.receipt_no = $1 AND p.status = 'paid'",
    )
    .bind(receipt_no.trim())
    .fetch_optional(db.pool())
    .await
    .map_err(db_err)?;
    let Some(row) = row else { return Ok(None) };
    let id: String = row.try_get(0).map_err(db_err)?;
    let p = payment(db, &id)
        .await?
        .ok_or_else(|| AppError::internal("payment vanished"))?;
    let a = history(db, &p.trip_code)
        .await?
        .into_iter()
        .find(|a| a.id == p.assessment_id)
        .ok_or_else(|| AppError::internal("payment without its assessment"))?;
    let trip = declaration::get(db, &p.trip_code)
        .await?
        .ok_or_else(|| AppError::internal("payment without its trip"))?;
    let collector_vi = fees::schedules()?
        .iter()
        .find(|s| s.id == a.schedule_id)
        .map(|s| s.collector_vi.clone())
        .unwrap_or_default();
    Ok(Some(Receipt {
        receipt_no: p.receipt_no.clone().unwrap_or_default(),
        paid_at: p.paid_at.unwrap_or_default(),
        collector_vi,
        payer_name: trip.enterprise_name,
        payer_mst: trip.enterprise_mst,
        trip_code: trip.code,
        vehicle_plate: trip.vehicle_plate,
        gate_code: p.gate_code.clone(),
        amount_vnd: p.amount_vnd,
        collector_vnd: p.collector_vnd,
        budget_vnd: p.budget_vnd,
        schedule_title_vi: a.quote.schedule_title_vi.clone(),
        explanation_vi: a.quote.explanation_vi.clone(),
        confirmed: a.confirmed,
        payment_id: p.id,
        gateway: p.gateway,
        gateway_txn_id: p.gateway_txn_id.unwrap_or_default(),
    }))
}

/// The receipt as a PDF (A4, Vietnamese). The number is also stored in the document
/// information (`TinhSoFeeReceipt`) so a copy can be checked against [`receipt`].
///
/// The platform's record of the payment, not yet the legal e-receipt form: the form code and
/// series (mẫu số, ký hiệu) required of electronic receipts by Nghị định 123/2020/NĐ-CP and
/// Thông tư 78/2021/TT-BTC, and the tax authority's code, are to be confirmed with the
/// collector before this is issued as the receipt itself.
pub fn receipt_pdf(r: &Receipt) -> Vec<u8> {
    use tinhso_kernel::money::Vnd;
    use tinhso_pdf::{Align, Document, Meta, Para, Style};
    let paid = declaration::local(r.paid_at);
    let mut d = Document::new(Meta {
        title: format!("Biên lai thu phí hạ tầng cửa khẩu {}", r.receipt_no),
        author: r.collector_vi.clone(),
        subject: "Phí sử dụng công trình kết cấu hạ tầng khu vực cửa khẩu".into(),
        keywords: format!("{} {}", r.receipt_no, r.trip_code),
        custom: vec![("TinhSoFeeReceipt".into(), r.receipt_no.clone())],
        footer: format!("Biên lai {} · Chuyến {}", r.receipt_no, r.trip_code),
        ..Default::default()
    });
    d.para(Para::new(&r.collector_vi.to_uppercase(), Style::Bold, 10.0).align(Align::Center));
    d.space(8.0);
    d.para(
        Para::new("BIÊN LAI THU PHÍ (ĐIỆN TỬ)", Style::Bold, 14.0)
            .align(Align::Center)
            .after(2.0),
    );
    d.para(
        Para::new(
            "Phí sử dụng công trình kết cấu hạ tầng, công trình dịch vụ, tiện ích công cộng trong khu vực cửa khẩu",
            Style::Italic,
            10.0,
        )
        .align(Align::Center)
        .after(4.0),
    );
    d.para(
        Para::new("Số: ", Style::Regular, 11.0)
            .then(&r.receipt_no, Style::Bold)
            .align(Align::Center)
            .after(12.0),
    );
    let rows = [
        (
            "Người nộp phí",
            format!("{} (MST {})", r.payer_name, r.payer_mst),
        ),
        ("Chuyến (tờ khai)", r.trip_code.clone()),
        ("Biển số xe", r.vehicle_plate.clone()),
        ("Cửa khẩu", r.gate_code.clone()),
        ("Số tiền", Vnd(r.amount_vnd).to_string()),
        ("Bằng chữ", Vnd(r.amount_vnd).in_words()),
        ("Để lại đơn vị thu", Vnd(r.collector_vnd).to_string()),
        ("Nộp ngân sách nhà nước", Vnd(r.budget_vnd).to_string()),
        (
            "Thời điểm nộp",
            paid.format("%H:%M ngày %d/%m/%Y").to_string(),
        ),
        (
            "Hình thức",
            format!(
                "Chuyển khoản VietQR qua {} (giao dịch {})",
                r.gateway, r.gateway_txn_id
            ),
        ),
        ("Căn cứ", r.schedule_title_vi.clone()),
    ];
    d.table(
        &[0.32, 0.68],
        None,
        rows.iter()
            .map(|(k, v)| {
                vec![
                    Para::new(k, Style::Bold, 10.0),
                    Para::new(v, Style::Regular, 10.0),
                ]
            })
            .collect(),
    );
    d.space(8.0);
    d.para(Para::new(&r.explanation_vi, Style::Italic, 9.0));
    if !r.confirmed {
        d.para(
            Para::new(
                "Mức thu có số liệu chưa được đối chiếu với văn bản Nghị quyết (bản thử nghiệm).",
                Style::Bold,
                9.0,
            )
            .before(4.0),
        );
    }
    d.finish()
}

/// One gate's fees on one local day (đối soát ngày).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DailyReconciliation {
    pub date: String,
    pub gate_code: String,
    /// Fees assessed for that day's crossings (due or paid): count and amount expected (with
    /// their top-ups, less their rate-change refunds).
    pub assessed: i64,
    pub expected_vnd: i64,
    /// Of those, paid (on any day) and still outstanding.
    pub paid_for_day_vnd: i64,
    pub outstanding_vnd: i64,
    /// Money received that day (by payment time), whatever day the crossing was.
    pub payments: i64,
    pub received_vnd: i64,
    /// The collector's share (để lại) and the budget's share (nộp ngân sách) of it.
    pub collector_vnd: i64,
    pub budget_vnd: i64,
    /// Payment requests made that day that failed.
    pub failed: i64,
    /// Refunds paid back that day (hoàn phí, [`crate::fee_refund`]): count, amount and the
    /// shares given back.
    pub refunds: i64,
    pub refunded_vnd: i64,
    pub refunded_collector_vnd: i64,
    pub refunded_budget_vnd: i64,
    /// What the day collected net of its refunds: received − refunded, and its shares.
    pub net_received_vnd: i64,
    pub net_collector_vnd: i64,
    pub net_budget_vnd: i64,
}

/// The counts and sums (columns 1–4) of `gate`'s row among per-gate rows (column 0).
fn gate_row(rows: &[sqlx::any::AnyRow], gate: &str) -> Result<Option<[i64; 4]>, AppError> {
    for row in rows {
        if row.try_get::<String, _>(0).map_err(db_err)? == gate {
            let mut v = [0i64; 4];
            for (i, x) in v.iter_mut().enumerate() {
                *x = row.try_get(i + 1).map_err(db_err)?;
            }
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// The reconciliation of every gate (or one) for a local day.
pub async fn reconciliation(
    db: &Db,
    date: NaiveDate,
    gate: Option<&str>,
) -> Result<Vec<DailyReconciliation>, AppError> {
    let day = date.format("%Y-%m-%d").to_string();
    let start = date
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_micros() - 7 * 3600 * 1_000_000)
        .ok_or_else(|| AppError::internal("bad date"))?;
    let end = start + 24 * 3600 * 1_000_000;
    let mut conn = db.read_conn().await?;
    let gates: Vec<String> = sqlx::query("SELECT code FROM border_gates ORDER BY position")
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(db_err)?;
    // A trip's top-ups add to its fee (not to the count of fees); its rate-change refunds
    // (hoàn phần chênh lệch) take off what is expected and what was paid.
    let assessed = sqlx::query(
        "SELECT gate_code, \
         CAST(COALESCE(SUM(CASE WHEN topup_of IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(amount_vnd), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN status = 'paid' THEN amount_vnd ELSE 0 END), 0) AS BIGINT) \
         FROM border_fee_assessments WHERE fee_date = $1 AND status IN ('due', 'paid') \
         GROUP BY gate_code",
    )
    .bind(&day)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let rate_change = sqlx::query(
        "SELECT f.gate_code, CAST(COALESCE(SUM(f.amount_vnd), 0) AS BIGINT) \
         FROM border_fee_refunds f JOIN border_fee_assessments a ON a.id = f.assessment_id \
         WHERE a.fee_date = $1 AND f.reason = 'rate_change' GROUP BY f.gate_code",
    )
    .bind(&day)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    // Money received and money given back (refunds paid) that day, per gate: count, amount
    // and the two shares.
    let mut day_sums = Vec::with_capacity(2);
    for table in ["border_fee_payments", "border_fee_refunds"] {
        day_sums.push(
            sqlx::query(&format!(
                "SELECT gate_code, COUNT(*), CAST(COALESCE(SUM(amount_vnd), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(collector_vnd), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(budget_vnd), 0) AS BIGINT) \
                 FROM {table} WHERE status = 'paid' AND paid_at >= $1 AND paid_at < $2 \
                 GROUP BY gate_code"
            ))
            .bind(start)
            .bind(end)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?,
        );
    }
    let refunded = day_sums.pop().unwrap_or_default();
    let received = day_sums.pop().unwrap_or_default();
    let failed = sqlx::query(
        "SELECT gate_code, COUNT(*) FROM border_fee_payments \
         WHERE status = 'failed' AND created_at >= $1 AND created_at < $2 GROUP BY gate_code",
    )
    .bind(start)
    .bind(end)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut out = Vec::new();
    for g in gates {
        if gate.is_some_and(|want| want != g) {
            continue;
        }
        let mut r = DailyReconciliation {
            date: day.clone(),
            gate_code: g.clone(),
            assessed: 0,
            expected_vnd: 0,
            paid_for_day_vnd: 0,
            outstanding_vnd: 0,
            payments: 0,
            received_vnd: 0,
            collector_vnd: 0,
            budget_vnd: 0,
            failed: 0,
            refunds: 0,
            refunded_vnd: 0,
            refunded_collector_vnd: 0,
            refunded_budget_vnd: 0,
            net_received_vnd: 0,
            net_collector_vnd: 0,
            net_budget_vnd: 0,
        };
        for row in &assessed {
            if row.try_get::<String, _>(0).map_err(db_err)? == g {
                r.assessed = row.try_get(1).map_err(db_err)?;
                r.expected_vnd = row.try_get(2).map_err(db_err)?;
                r.paid_for_day_vnd = row.try_get(3).map_err(db_err)?;
            }
        }
        for row in &rate_change {
            if row.try_get::<String, _>(0).map_err(db_err)? == g {
                let back: i64 = row.try_get(1).map_err(db_err)?;
                r.expected_vnd -= back;
                r.paid_for_day_vnd -= back;
            }
        }
        r.outstanding_vnd = r.expected_vnd - r.paid_for_day_vnd;
        if let Some(v) = gate_row(&received, &g)? {
            (r.payments, r.received_vnd, r.collector_vnd, r.budget_vnd) = (v[0], v[1], v[2], v[3]);
        }
        for row in &failed {
            if row.try_get::<String, _>(0).map_err(db_err)? == g {
                r.failed = row.try_get(1).map_err(db_err)?;
            }
        }
        if let Some(v) = gate_row(&refunded, &g)? {
            (
                r.refunds,
                r.refunded_vnd,
                r.refunded_collector_vnd,
                r.refunded_budget_vnd,
            ) = (v[0], v[1], v[2], v[3]);
        }
        r.net_received_vnd = r.received_vnd - r.refunded_vnd;
        r.net_collector_vnd = r.collector_vnd - r.refunded_collector_vnd;
        r.net_budget_vnd = r.budget_vnd - r.refunded_budget_vnd;
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_map_to_fee_journeys_of_the_schedule() {
        let s = fees::schedules().unwrap().last().unwrap();
        for d in Direction::ALL {
            assert!(s.journey(default_journey(d)).is_some(), "{d:?}");
        }
    }

    #[test]
    fn the_payment_purpose_fits_vietqr() {
        let p = format!("PHI HT {}", "HN-261129-00001");
        assert_eq!(vietqr::clean_purpose(&p).unwrap(), p);
    }
}
