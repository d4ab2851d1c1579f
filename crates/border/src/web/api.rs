//! `/api/v1/border/…`: the border gate's JSON API (problem+json errors with field messages in
//! Vietnamese and English).

use super::{own_trip, trip_for, TripAccess};
use crate::declaration::{self, DeclarationInput, Trip};
use crate::gates::{self, Gate};
use crate::slots::{self, Booking, BookingInput, Queues};
use crate::{fee_payment, hs, pass, waittimes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use tinhso_http::error::{ApiError, Problem};
use tinhso_http::{ApiJson, AppState, ReqCtx};
use tinhso_kernel::{AppError, Invalid};
use tinhso_store::now_micros;
use utoipa::{IntoParams, OpenApi, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/border/gates", get(api_gates))
        .route("/api/v1/border/hs", get(api_hs))
        .route("/api/v1/border/pass-keys", get(api_pass_keys))
        .route("/api/v1/border/wait-times", get(api_wait_times))
        .route("/api/v1/border/slots", get(api_slots))
        .route("/api/v1/border/trips", post(api_declare))
        .route(
            "/api/v1/border/trips/{code}",
            get(api_trip).put(api_correct),
        )
        .route("/api/v1/border/trips/{code}/versions", get(api_versions))
        .route("/api/v1/border/trips/{code}/pass", get(api_pass))
        .route("/api/v1/border/trips/{code}/queue", get(api_queue))
        .route(
            "/api/v1/border/trips/{code}/booking",
            post(api_book).delete(api_cancel_booking),
        )
        .route(
            "/api/v1/border/trips/{code}/booking/extension",
            post(api_extend),
        )
        .route("/api/v1/border/trips/{code}/standby", post(api_standby))
        .route("/api/v1/border/passes/check", post(api_check_pass))
        .route(
            "/api/v1/border/trips/{code}/fee",
            get(api_fee).post(api_assess),
        )
        .route(
            "/api/v1/border/trips/{code}/fee/payment",
            post(api_fee_payment),
        )
        .route("/api/v1/border/fees/receipts/{no}", get(api_receipt))
        .route("/api/v1/border/fees/callback", post(api_fee_callback))
        .route(
            "/api/v1/border/fees/reconciliation",
            get(api_reconciliation),
        )
}

#[derive(OpenApi)]
#[openapi(
    paths(api_gates, api_hs, api_pass_keys, api_wait_times, api_slots, api_declare, api_trip,
        api_correct, api_versions, api_pass, api_queue, api_book, api_cancel_booking, api_extend,
        api_standby, api_check_pass, api_fee,
        api_assess, api_fee_payment, api_receipt, api_fee_callback, api_reconciliation),
    components(schemas(DeclarationInput, Trip, Correction, SlotRequest, PassCheckRequest, FeeRequest,
        pass::PublishedKey, Problem)),
    tags((name = "border", description = "Digital border gate: gates, goods codes, trip declarations with versioned corrections, signed QR passes, crossing slots, the queue and the open wait-time feed"))
)]
pub struct BorderApiDoc;

#[utoipa::path(get, path = "/api/v1/border/gates", tag = "border",
    responses((status = 200, description = "Every gate with lanes, opening hours, crossing capacity per direction, yards and agencies")))]
async fn api_gates(State(state): State<AppState>) -> Result<Json<Vec<Gate>>, ApiError> {
    Ok(Json(gates::list(&state.db).await?))
}

#[derive(Deserialize, IntoParams)]
struct HsQuery {
    /// Vietnamese words (diacritics optional), English or Chinese words, or a code prefix.
    q: String,
    /// At most this many (default 10, at most 50).
    limit: Option<usize>,
}

#[derive(Serialize)]
struct HsOut {
    code: String,
    /// `0810.60.00`.
    dotted: String,
    name_vi: String,
    name_en: String,
    name_zh: String,
    perishable: bool,
    quarantine: String,
}

#[utoipa::path(get, path = "/api/v1/border/hs", tag = "border", params(HsQuery),
    responses((status = 200, description = "Matching 8-digit AHTN codes, best first")))]
async fn api_hs(Query(q): Query<HsQuery>) -> Json<Vec<HsOut>> {
    let limit = q.limit.unwrap_or(10).clamp(1, 50);
    Json(
        hs::search(&q.q, limit)
            .into_iter()
            .map(|e| HsOut {
                code: e.code.clone(),
                dotted: hs::dotted(&e.code),
                name_vi: e.name_vi.clone(),
                name_en: e.name_en.clone(),
                name_zh: e.name_zh.clone(),
                perishable: e.perishable,
                quarantine: e.quarantine.clone(),
            })
            .collect(),
    )
}

#[utoipa::path(get, path = "/api/v1/border/pass-keys", tag = "border",
    responses((status = 200, body = [pass::PublishedKey], description = "The Ed25519 keys that sign QR passes (active and revoked): what an offline verifier stores")))]
async fn api_pass_keys(
    State(state): State<AppState>,
) -> Result<Json<Vec<pass::PublishedKey>>, ApiError> {
    Ok(Json(pass::published_keys(&state.db).await?))
}

#[utoipa::path(get, path = "/api/v1/border/wait-times", tag = "border",
    responses((status = 200, description = "Per gate and direction: status, current_wait_minutes, queue_length, lanes_open, capacity_per_hour, crossings_last_hour, updated_at (see docs/border.md)")))]
async fn api_wait_times(
    State(state): State<AppState>,
    Extension(queues): Extension<Queues>,
) -> Result<Response, ApiError> {
    let feed = waittimes::feed(&state.db, queues.policy(), now_micros()).await?;
    Ok(([(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")], Json(feed)).into_response())
}

#[derive(Deserialize, IntoParams)]
struct SlotsQuery {
    gate: String,
    direction: String,
    /// Local date `YYYY-MM-DD`.
    date: String,
}

fn bad_date() -> AppError {
    AppError::field(
        "date",
        Invalid::new(
            "date",
            "Ngày theo dạng năm-tháng-ngày, ví dụ 2026-12-01",
            "A date as year-month-day, e.g. 2026-12-01",
        ),
    )
}

/// A local date → the local day number the slots module counts in.
pub fn day_of_date(date: &str) -> Result<i64, AppError> {
    let d = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").map_err(|_| bad_date())?;
    let start = slots::hour_start_of(d, 0).ok_or_else(bad_date)?;
    Ok(slots::local_day(start))
}

#[utoipa::path(get, path = "/api/v1/border/slots", tag = "border", params(SlotsQuery),
    responses((status = 200, description = "The day's hours with capacity, seats held for perishables, booked and available seats"),
        (status = 422, body = Problem)))]
async fn api_slots(
    State(state): State<AppState>,
    Extension(queues): Extension<Queues>,
    Query(q): Query<SlotsQuery>,
) -> Result<Response, ApiError> {
    let day = day_of_date(&q.date)?;
    let plan = slots::capacity::day_plan(
        &state.db,
        queues.policy(),
        q.gate.trim(),
        q.direction.trim(),
        day,
        now_micros(),
    )
    .await?;
    Ok(Json(plan).into_response())
}

#[utoipa::path(post, path = "/api/v1/border/trips", tag = "border", request_body = DeclarationInput,
    responses((status = 201, body = Trip), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem, description = "The vehicle already has an active trip"),
        (status = 422, body = Problem, description = "Field errors, every one at once")))]
async fn api_declare(
    State(state): State<AppState>,
    ctx: ReqCtx,
    ApiJson(input): ApiJson<DeclarationInput>,
) -> Result<Response, ApiError> {
    let user = ctx.principal()?.user_id.clone();
    let trip = declaration::declare(&state.db, &ctx.audit(), &user, &input).await?;
    let location = format!("/api/v1/border/trips/{}", trip.code);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(trip),
    )
        .into_response())
}

#[derive(Serialize)]
struct TripOut {
    #[serde(flatten)]
    trip: Trip,
    /// (stage, at, source) in order.
    stages: Vec<(String, i64, String)>,
    booking: Option<Booking>,
    /// `owner` or `officer`.
    access: &'static str,
}

#[utoipa::path(get, path = "/api/v1/border/trips/{code}", tag = "border",
    params(("code" = String, Path, description = "Trip code, e.g. HN-261129-00001")),
    responses((status = 200, description = "The trip, its stages and its booking"),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn api_trip(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> Result<Json<TripOut>, ApiError> {
    let (trip, access) = trip_for(&state, &ctx, &code).await?;
    let stages = declaration::stages(&state.db, &trip.id).await?;
    let booking = slots::booking::active_booking(&state.db, &trip.id).await?;
    Ok(Json(TripOut {
        stages,
        booking,
        access: match access {
            TripAccess::Owner => "owner",
            TripAccess::Officer => "officer",
        },
        trip,
    }))
}

/// A correction: the version corrected, why, and the whole declaration as it should be.
#[derive(Deserialize, ToSchema)]
pub struct Correction {
    pub version: i64,
    pub reason: String,
    pub declaration: DeclarationInput,
}

#[utoipa::path(put, path = "/api/v1/border/trips/{code}", tag = "border", request_body = Correction,
    params(("code" = String, Path, description = "Trip code")),
    responses((status = 200, body = Trip), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "A stale version, or the trip is over"),
        (status = 422, body = Problem)))]
async fn api_correct(
    State(state): State<AppState>,
    Extension(queues): Extension<Queues>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    ApiJson(c): ApiJson<Correction>,
) -> Result<Json<Trip>, ApiError> {
    let trip = own_trip(&state, &ctx, &code).await?;
    let user = ctx.principal()?.user_id.clone();
    let t = declaration::correct(
        &state.db,
        &ctx.audit(),
        &declaration::Correction {
            user_id: &user,
            code: &trip.code,
            version: c.version,
            input: &c.declaration,
            reason: &c.reason,
        },
    )
    .await?;
    queues.invalidate();
    Ok(Json(t))
}

#[utoipa::path(get, path = "/api/v1/border/trips/{code}/versions", tag = "border",
    params(("code" = String, Path, description = "Trip code")),
    responses((status = 200, description = "Every version: number, changes (field → [before, after]), reason, who, when"),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn api_versions(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let (trip, _) = trip_for(&state, &ctx, &code).await?;
    Ok(Json(declaration::versions(&state.db, &trip.id).await?).into_response())
}

#[derive(Serialize)]
struct PassOut {
    text: String,
    payload: pass::PassPayload,
    public_key: String,
    /// The QR code as an SVG element.
    svg: String,
}

#[utoipa::path(get, path = "/api/v1/border/trips/{code}/pass", tag = "border",
    params(("code" = String, Path, description = "Trip code")),
    responses((status = 200, description = "The signed pass text (what the QR code holds), its payload and the QR code as SVG"),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn api_pass(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> Result<Json<PassOut>, ApiError> {
    let trip = own_trip(&state, &ctx, &code).await?;
    let p = pass::issue(&state.db, &trip, trip.created_at / 1_000_000).await?;
    let svg =
        tinhso_pdf::qr_svg(&p.text, &format!("QR {}", trip.code)).map_err(AppError::internal)?;
    Ok(Json(PassOut {
        text: p.text,
        payload: p.payload,
        public_key: p.public_key,
        svg,
    }))
}

#[derive(Serialize)]
struct QueueOut {
    booking: Option<Booking>,
    /// Null when the truck is not in a queue (not arrived yet, or already through).
    queue: Option<slots::QueuePosition>,
}

#[utoipa::path(get, path = "/api/v1/border/trips/{code}/queue", tag = "border",
    params(("code" = String, Path, description = "Trip code")),
    responses((status = 200, description = "The booking and the live queue position with the estimated crossing time"),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn api_queue(
    State(state): State<AppState>,
    Extension(queues): Extension<Queues>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> Result<Json<QueueOut>, ApiError> {
    let (trip, _) = trip_for(&state, &ctx, &code).await?;
    Ok(Json(QueueOut {
        booking: slots::booking::active_booking(&state.db, &trip.id).await?,
        queue: queues.position(&state.db, &trip.id, now_micros()).await?,
    }))
}

/// A slot wanted for a trip: the local date and hour at the trip's gate and direction.
#[derive(Deserialize, ToSchema)]
pub struct SlotRequest {
    /// `YYYY-MM-DD`, local.
    pub date: String,
    /// 0–23, local.
    pub hour: u32,
}

/// Book (or move) a trip's crossing slot; shared by the API and the trip page.
pub async fn book_slot(
    state: &AppState,
    queues: &Queues,
    ctx: &ReqCtx,
    trip: &Trip,
    date: &str,
    hour: u32,
) -> Result<Booking, AppError> {
    let d = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").map_err(|_| bad_date())?;
    let hour_start = slots::hour_start_of(d, hour).ok_or_else(|| {
        AppError::field(
            "hour",
            Invalid::new("hour", "Giờ từ 0 đến 23", "An hour from 0 to 23"),
        )
    })?;
    let input = BookingInput {
        trip_id: trip.id.clone(),
        gate_code: trip.gate.clone(),
        direction: trip.direction.clone(),
        hour_start,
    };
    let now = now_micros();
    let b = match slots::booking::active_booking(&state.db, &trip.id).await? {
        Some(_) => {
            slots::booking::reschedule(
                &state.db,
                &ctx.audit(),
                queues.policy(),
                &trip.id,
                hour_start,
                now,
            )
            .await?
        }
        None => slots::booking::book(&state.db, &ctx.audit(), queues.policy(), &input, now).await?,
    };
    queues.invalidate();
    Ok(b)
}

#[utoipa::path(post, path = "/api/v1/border/trips/{code}/booking", tag = "border", request_body = SlotRequest,
    params(("code" = String, Path, description = "Trip code")),
    responses((status = 200, description = "The booking (a trip that held one is moved: the new seat is taken before the old is released)"),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The hour or the day is full, or its seats are held for perishables"),
        (status = 422, body = Problem)))]
async fn api_book(
    State(state): State<AppState>,
    Extension(queues): Extension<Queues>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    ApiJson(r): ApiJson<SlotRequest>,
) -> Result<Json<Booking>, ApiError> {
    let trip = own_trip(&state, &ctx, &code).await?;
    Ok(Json(
        book_slot(&state, &queues, &ctx, &trip, &r.date, r.hour).await?,
    ))
}

/// A scanned pass to check online.
#[derive(Deserialize, ToSchema)]
pub struct PassCheckRequest {
    /// The text the QR code holds (`TSB1.…`).
    pub text: String,
}

#[derive(Serialize)]
struct PassCheckOut {
    valid: bool,
    /// `malformed`, `unknown_key`, `bad_signature`, `revoked_key`, `not_yet_valid`, `expired`,
    /// `superseded` (a newer version of the declaration exists) or `trip_over`.
    problem: Option<String>,
    message_vi: String,
    message_en: String,
    payload: Option<pass::PassPayload>,
    current_version: Option<i64>,
    stage: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/border/passes/check", tag = "border", request_body = PassCheckRequest,
    responses((status = 200, description = "Whether the pass is genuine, valid now and for the declaration's current version"),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn api_check_pass(
    State(state): State<AppState>,
    ApiJson(r): ApiJson<PassCheckRequest>,
) -> Result<Json<PassCheckOut>, ApiError> {
    let keys = pass::published_keys(&state.db).await?;
    let now = now_micros() / 1_000_000;
    let out = match pass::verify(&r.text, &keys, now) {
        Err(p) => PassCheckOut {
            valid: false,
            problem: Some(
                serde_json::to_value(p)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            ),
            message_vi: p.message_vi().into(),
            message_en: p.message_en().into(),
            payload: None,
            current_version: None,
            stage: None,
        },
        Ok(payload) => {
            let trip = declaration::get(&state.db, &payload.c).await?;
            let (problem, vi, en) = match &trip {
                None => (
                    Some("unknown_trip"),
                    "Không tìm thấy chuyến của thẻ",
                    "The pass's trip is not found",
                ),
                Some(t) if t.stage().is_over() => {
                    (Some("trip_over"), "Chuyến đã kết thúc", "The trip is over")
                }
                Some(t) if t.version != payload.v => (
                    Some("superseded"),
                    "Tờ khai đã được sửa sau khi cấp thẻ: đối chiếu phiên bản mới",
                    "The declaration was corrected after this pass: check the new version",
                ),
                Some(_) => (None, "Thẻ hợp lệ", "The pass is valid"),
            };
            PassCheckOut {
                valid: problem.is_none(),
                problem: problem.map(str::to_string),
                message_vi: vi.into(),
                message_en: en.into(),
                current_version: trip.as_ref().map(|t| t.version),
                stage: trip.map(|t| t.stage),
                payload: Some(payload),
            }
        }
    };
    Ok(Json(out))
}

#[derive(Serialize)]
struct FeeOut {
    /// The current assessment (null before the fee is assessed).
    assessment: Option<fee_payment::Assessment>,
    /// Top-ups of a paid fee whose price went up (thu bổ sung): due or paid.
    topups: Vec<fee_payment::Assessment>,
    payments: Vec<fee_payment::FeePayment>,
}

#[utoipa::path(get, path = "/api/v1/border/trips/{code}/fee", tag = "border",
    params(("code" = String, Path, description = "Trip code")),
    responses((status = 200, description = "The current fee assessment and its payment requests"),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn api_fee(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> Result<Json<FeeOut>, ApiError> {
    let (trip, _) = trip_for(&state, &ctx, &code).await?;
    Ok(Json(FeeOut {
        assessment: fee_payment::current(&state.db, &trip.code).await?,
        topups: fee_payment::topups(&state.db, &trip.code).await?,
        payments: fee_payment::payments_for_trip(&state.db, &trip.code).await?,
    }))
}

/// How the fee is assessed: the schedule's journey (empty: from the direction) and the
/// container size when the goods travel in one.
#[derive(Deserialize, ToSchema, Default)]
pub struct FeeRequest {
    #[serde(default)]
    pub journey: String,
    /// `20ft`, `40ft` or empty.
    #[serde(default)]
    pub container: String,
}

#[utoipa::path(post, path = "/api/v1/border/trips/{code}/fee", tag = "border", request_body = FeeRequest,
    params(("code" = String, Path, description = "Trip code")),
    responses((status = 200, description = "The assessment: amount, rate row, multipliers, the collector's and the budget's shares, whether every figure is confirmed"),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Already paid"), (status = 422, body = Problem)))]
async fn api_assess(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    ApiJson(r): ApiJson<FeeRequest>,
) -> Result<Json<fee_payment::Assessment>, ApiError> {
    let (trip, _) = trip_for(&state, &ctx, &code).await?;
    let input = fee_payment::AssessInput {
        trip_code: trip.code,
        journey: r.journey,
        container: r.container,
    };
    Ok(Json(
        fee_payment::assess(&state.db, &ctx.audit(), &input).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/border/trips/{code}/fee/payment", tag = "border",
    params(("code" = String, Path, description = "Trip code")),
    responses((status = 200, description = "The payment request with its VietQR payload (the same pending request when asked twice)"),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn api_fee_payment(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> Result<Json<fee_payment::FeePayment>, ApiError> {
    let (trip, _) = trip_for(&state, &ctx, &code).await?;
    Ok(Json(
        fee_payment::request_payment(&state.db, &ctx.audit(), &trip.code).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/border/fees/receipts/{no}", tag = "border",
    params(("no" = String, Path, description = "Receipt number BLP-yyyy-nnnnnn; add .pdf for the PDF")),
    responses((status = 200, description = "The electronic receipt (JSON, or PDF for a .pdf path)"),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn api_receipt(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(no): Path<String>,
) -> Result<Response, ApiError> {
    let (number, pdf) = match no.strip_suffix(".pdf") {
        Some(n) => (n.to_string(), true),
        None => (no.clone(), false),
    };
    let r = fee_payment::receipt(&state.db, &number)
        .await?
        .ok_or_else(AppError::not_found)?;
    // Only the trip's declarer or an officer at its gate.
    trip_for(&state, &ctx, &r.trip_code).await?;
    if pdf {
        Ok((
            [
                (header::CONTENT_TYPE, "application/pdf".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"{number}.pdf\""),
                ),
            ],
            fee_payment::receipt_pdf(&r),
        )
            .into_response())
    } else {
        Ok(Json(r).into_response())
    }
}

#[utoipa::path(post, path = "/api/v1/border/fees/callback", tag = "border",
    responses((status = 200, description = "The payment as settled (or as first settled, for a replay)"),
        (status = 401, body = Problem, description = "Bad signature or stale X-Timestamp"),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "Already paid, wrong amount, cancelled")))]
async fn api_fee_callback(
    State(state): State<AppState>,
    Extension(queues): Extension<Queues>,
    ctx: ReqCtx,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let r = fee_payment::callback(
        &state.db,
        &ctx.audit(),
        &body,
        h("x-signature").as_deref(),
        h("x-timestamp").as_deref(),
        now_micros() / 1_000_000,
    )
    .await?;
    queues.invalidate();
    Ok(Json(serde_json::json!({"payment": r.payment, "replayed": r.replayed})).into_response())
}

#[derive(Deserialize, IntoParams)]
struct ReconQuery {
    /// Local date `YYYY-MM-DD`.
    date: String,
    /// A gate code; all gates when absent.
    gate: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/border/fees/reconciliation", tag = "border", params(ReconQuery),
    responses((status = 200, description = "Per gate: fees assessed for the day's crossings (expected, paid, outstanding) and money received (collector's and budget's shares)"),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn api_reconciliation(
    State(state): State<AppState>,
    Query(q): Query<ReconQuery>,
) -> Result<Response, ApiError> {
    let d = chrono::NaiveDate::parse_from_str(q.date.trim(), "%Y-%m-%d").map_err(|_| bad_date())?;
    let r = fee_payment::reconciliation(&state.db, d, q.gate.as_deref().map(str::trim)).await?;
    Ok(Json(r).into_response())
}

#[utoipa::path(delete, path = "/api/v1/border/trips/{code}/booking", tag = "border",
    params(("code" = String, Path, description = "Trip code")),
    responses((status = 200, description = "The cancelled booking (its seat is free again)"),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn api_cancel_booking(
    State(state): State<AppState>,
    Extension(queues): Extension<Queues>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> Result<Json<Booking>, ApiError> {
    let trip = own_trip(&state, &ctx, &code).await?;
    let b = slots::booking::cancel(&state.db, &ctx.audit(), &trip.id, now_micros()).await?;
    queues.invalidate();
    Ok(Json(b))
}

#[utoipa::path(post, path = "/api/v1/border/trips/{code}/booking/extension", tag = "border",
    params(("code" = String, Path, description = "Trip code")),
    responses((status = 200, description = "The booking with its arrival deadline extended (once per trip)"),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The extension was already used, or the truck is not late")))]
async fn api_extend(
    State(state): State<AppState>,
    Extension(queues): Extension<Queues>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> Result<Json<Booking>, ApiError> {
    let trip = own_trip(&state, &ctx, &code).await?;
    let b = slots::booking::extend_grace(
        &state.db,
        &ctx.audit(),
        queues.policy(),
        &trip.id,
        now_micros(),
    )
    .await?;
    queues.invalidate();
    Ok(Json(b))
}

#[utoipa::path(post, path = "/api/v1/border/trips/{code}/standby", tag = "border",
    params(("code" = String, Path, description = "Trip code")),
    responses((status = 204, description = "The trip waits on the standby queue for a freed seat"),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The trip holds a booking, or is over")))]
async fn api_standby(
    State(state): State<AppState>,
    Extension(queues): Extension<Queues>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> Result<StatusCode, ApiError> {
    let trip = own_trip(&state, &ctx, &code).await?;
    slots::booking::join_standby(&state.db, &ctx.audit(), &trip.id, now_micros()).await?;
    queues.invalidate();
    Ok(StatusCode::NO_CONTENT)
}
