//! The fee officer's refunds (hoàn phí, [`crate::fee_refund`]): the page
//! `/nghiep-vu/cua-khau/hoan-phi` (list, open, approve, record the payment back; forms with
//! the session's CSRF token) and the JSON API under `/api/v1/border/fees/refunds`.
//!
//! Access: every route needs `BorderManage`; inside, each refund is checked against the
//! agencies of its trip's gate ([`tinhso_http::context::require`]), and the list shows only the
//! gates the caller manages.

use crate::fee_refund::{self, Refund, RefundFilter, RefundInput};
use crate::gates;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::collections::HashMap;
use tinhso_http::context::require;
use tinhso_http::error::ApiError;
use tinhso_http::layout::{render, Chrome};
use tinhso_http::{ApiJson, AppState, Lang, ReqCtx};
use tinhso_identity::{authorize, Permission};
use tinhso_kernel::{AppError, Invalid};
use tinhso_store::now_micros;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/nghiep-vu/cua-khau/hoan-phi", get(page).post(open_post))
        .route("/nghiep-vu/cua-khau/hoan-phi/{id}/{step}", post(step_post))
        .route("/api/v1/border/fees/refunds", get(api_list))
        .route("/api/v1/border/trips/{code}/fee/refund", post(api_open))
        .route(
            "/api/v1/border/fees/refunds/{id}/approval",
            post(api_approve),
        )
        .route("/api/v1/border/fees/refunds/{id}/payment", post(api_paid))
}

/// May the caller manage the fees of this gate?
async fn manages(state: &AppState, ctx: &ReqCtx, gate_code: &str) -> Result<bool, AppError> {
    let Some(gate) = gates::get(&state.db, gate_code).await? else {
        return Ok(false);
    };
    let scope = super::officer::gate_scope(&state.db, &gate).await?;
    Ok(authorize(ctx.principal.as_ref(), Permission::BorderManage, &scope).is_ok())
}

/// Refused (and the denial logged) unless the caller manages the fees of this gate.
async fn require_gate(
    state: &AppState,
    ctx: &ReqCtx,
    gate_code: &str,
    target: &str,
) -> Result<(), AppError> {
    let gate = gates::get(&state.db, gate_code)
        .await?
        .ok_or_else(AppError::not_found)?;
    let scope = super::officer::gate_scope(&state.db, &gate).await?;
    require(state, ctx, Permission::BorderManage, &scope, target).await
}

async fn refund_for(state: &AppState, ctx: &ReqCtx, id: &str) -> Result<Refund, AppError> {
    let r = fee_refund::get(&state.db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    require_gate(
        state,
        ctx,
        &r.gate_code,
        &format!("border_fee_refund:{}", r.id),
    )
    .await?;
    Ok(r)
}

async fn open_for(
    state: &AppState,
    ctx: &ReqCtx,
    code: &str,
    input: &RefundInput,
) -> Result<Refund, AppError> {
    let trip = crate::declaration::get(&state.db, code)
        .await?
        .ok_or_else(AppError::not_found)?;
    require_gate(
        state,
        ctx,
        &trip.gate,
        &format!("border_trip:{}:refund", trip.code),
    )
    .await?;
    fee_refund::open(&state.db, &ctx.audit(), &trip.code, input, now_micros()).await
}

/// The refunds matching `filter` at the gates the caller manages (each gate's scope checked once).
async fn visible(
    state: &AppState,
    ctx: &ReqCtx,
    filter: &RefundFilter,
) -> Result<Vec<Refund>, AppError> {
    let mut managed: HashMap<String, bool> = HashMap::new();
    let mut out = Vec::new();
    for r in fee_refund::list_filtered(&state.db, filter, LIST_LIMIT).await? {
        let ok = match managed.get(&r.gate_code) {
            Some(ok) => *ok,
            None => {
                let ok = manages(state, ctx, &r.gate_code).await?;
                managed.insert(r.gate_code.clone(), ok);
                ok
            }
        };
        if ok {
            out.push(r);
        }
    }
    Ok(out)
}

/// At most this many refunds are listed (the newest).
const LIST_LIMIT: i64 = 500;

fn bad_date(field: &str) -> AppError {
    AppError::field(
        field,
        Invalid::new(
            "date",
            "Ngày theo dạng năm-tháng-ngày, ví dụ 2026-12-01",
            "A date as year-month-day, e.g. 2026-12-01",
        ),
    )
}

/// A local date (`YYYY-MM-DD`, empty = none) → its local midnight, or the next day's when
/// `end` (the period's end is inclusive of its day).
fn local_day_edge(text: &str, field: &str, end: bool) -> Result<Option<i64>, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let mut d = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| bad_date(field))?;
    if end {
        d = d.succ_opt().ok_or_else(|| bad_date(field))?;
    }
    crate::slots::hour_start_of(d, 0)
        .map(Some)
        .ok_or_else(|| bad_date(field))
}

// ------------------------------------------------------------------ the JSON API

#[utoipa::path(get, path = "/api/v1/border/fees/refunds", tag = "border", params(FilterForm),
    responses((status = 200, body = Vec<Refund>, description = "The refunds (hoàn phí) of the gates the caller manages, newest first"),
        (status = 403, body = tinhso_http::error::Problem), (status = 422, body = tinhso_http::error::Problem, description = "Unknown status or reason, a date not YYYY-MM-DD, an end before the start")))]
/// `GET /api/v1/border/fees/refunds?status=&gate=&reason=&trip=&from=&to=`: the refunds of the
/// gates the caller manages, newest first (at most 500).
pub(super) async fn api_list(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<FilterForm>,
) -> Result<Json<Vec<Refund>>, ApiError> {
    let filter = q.filter()?;
    Ok(Json(visible(&state, &ctx, &filter).await?))
}

#[utoipa::path(post, path = "/api/v1/border/trips/{code}/fee/refund", tag = "border", request_body = RefundInput,
    params(("code" = String, Path, description = "Trip code")),
    responses((status = 201, body = Refund, description = "The refund opened (requested)"),
        (status = 403, body = tinhso_http::error::Problem), (status = 404, body = tinhso_http::error::Problem),
        (status = 409, body = tinhso_http::error::Problem, description = "Refunded already, fee not paid, trip crossed or not over"),
        (status = 422, body = tinhso_http::error::Problem, description = "amount_vnd (≤ 0 or above what was paid), reason, note")))]
/// `POST /api/v1/border/trips/{code}/fee/refund` `{amount_vnd?, reason, note?}`: open a refund.
pub(super) async fn api_open(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<RefundInput>,
) -> Result<(StatusCode, Json<Refund>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(open_for(&state, &ctx, &code, &input).await?),
    ))
}

#[utoipa::path(post, path = "/api/v1/border/fees/refunds/{id}/approval", tag = "border",
    params(("id" = String, Path, description = "Refund id")),
    responses((status = 200, body = Refund, description = "The refund, approved"),
        (status = 403, body = tinhso_http::error::Problem), (status = 404, body = tinhso_http::error::Problem),
        (status = 409, body = tinhso_http::error::Problem, description = "Not requested, or approved by the one who asked")))]
/// `POST /api/v1/border/fees/refunds/{id}/approval`: approve a requested refund.
pub(super) async fn api_approve(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(id): Path<String>,
) -> Result<Json<Refund>, ApiError> {
    let r = refund_for(&state, &ctx, &id).await?;
    Ok(Json(
        fee_refund::approve(&state.db, &ctx.audit(), &r.id, now_micros()).await?,
    ))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
pub(super) struct PaidBody {
    /// The refund transfer's reference (mã giao dịch hoàn tiền).
    #[serde(default)]
    reference: String,
}

#[utoipa::path(post, path = "/api/v1/border/fees/refunds/{id}/payment", tag = "border", request_body = PaidBody,
    params(("id" = String, Path, description = "Refund id")),
    responses((status = 200, body = Refund, description = "The refund, paid back; the fee reads refunded"),
        (status = 403, body = tinhso_http::error::Problem), (status = 404, body = tinhso_http::error::Problem),
        (status = 409, body = tinhso_http::error::Problem, description = "Not approved yet, or paid already"),
        (status = 422, body = tinhso_http::error::Problem, description = "reference missing, too long or used before")))]
/// `POST /api/v1/border/fees/refunds/{id}/payment` `{reference}`: the refund was paid back.
pub(super) async fn api_paid(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<PaidBody>,
) -> Result<Json<Refund>, ApiError> {
    let r = refund_for(&state, &ctx, &id).await?;
    Ok(Json(
        fee_refund::mark_paid(&state.db, &ctx.audit(), &r.id, &b.reference, now_micros()).await?,
    ))
}

// ------------------------------------------------------------------ the page

struct RefundRow {
    id: String,
    trip_code: String,
    gate_code: String,
    amount: String,
    reason: String,
    note: String,
    refund_to: String,
    status: String,
    status_code: String,
    requested: String,
    reference: String,
}

#[derive(Template)]
#[template(path = "officer_refunds.html")]
struct RefundsPage {
    c: Chrome,
    rows: Vec<RefundRow>,
    message: String,
    ok: String,
    /// The filter as typed (kept in the form).
    q: FilterForm,
    /// The gates the caller may pick in the filter.
    gates: Vec<(String, String)>,
    /// Per status shown: (name, count, total).
    totals: Vec<(String, usize, String)>,
    /// The list stopped at [`LIST_LIMIT`].
    truncated: bool,
}

/// The refunds list's filter (bộ lọc), as typed: the API's query and the page's form.
#[derive(Deserialize, Default, Clone, utoipa::IntoParams)]
pub(super) struct FilterForm {
    /// `requested`, `approved` or `paid`; all when absent.
    #[serde(default)]
    status: String,
    /// A gate code; all the caller manages when absent.
    #[serde(default)]
    gate: String,
    /// `cancelled`, `no_show`, `returned` or `other`.
    #[serde(default)]
    reason: String,
    /// Part of a trip code, any case.
    #[serde(default)]
    trip: String,
    /// Requested on or after this local date (`YYYY-MM-DD`).
    #[serde(default)]
    from: String,
    /// Requested on or before this local date (`YYYY-MM-DD`).
    #[serde(default)]
    to: String,
}

impl FilterForm {
    fn filter(&self) -> Result<RefundFilter, AppError> {
        let some = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
        let filter = RefundFilter {
            status: some(&self.status),
            gate: some(&self.gate),
            reason: some(&self.reason),
            trip: some(&self.trip),
            from_micros: local_day_edge(&self.from, "from", false)?,
            until_micros: local_day_edge(&self.to, "to", true)?,
        };
        filter.check()?;
        Ok(filter)
    }
}

/// Count and sum of the listed refunds per status, in the statuses' order.
fn totals_of(refunds: &[Refund], t: Lang) -> Vec<(String, usize, String)> {
    fee_refund::STATUSES
        .iter()
        .filter_map(|s| {
            let of: Vec<&Refund> = refunds.iter().filter(|r| r.status == *s).collect();
            if of.is_empty() {
                return None;
            }
            let (vi, en) = fee_refund::status_name(s);
            let sum: i64 = of.iter().map(|r| r.amount_vnd).sum();
            Some((
                t.s(vi, en).to_string(),
                of.len(),
                tinhso_kernel::money::Vnd(sum).to_string(),
            ))
        })
        .collect()
}

fn when(micros: i64) -> String {
    crate::declaration::local(micros)
        .format("%d/%m/%Y %H:%M")
        .to_string()
}

fn row(r: Refund, t: Lang) -> RefundRow {
    let (rv, re) = fee_refund::reason_name(&r.reason);
    let (sv, se) = fee_refund::status_name(&r.status);
    RefundRow {
        amount: tinhso_kernel::money::Vnd(r.amount_vnd).to_string(),
        reason: t.s(rv, re).to_string(),
        status: t.s(sv, se).to_string(),
        requested: format!("{} · {}", when(r.requested_at), r.requested_by),
        reference: r.reference.unwrap_or_default(),
        id: r.id,
        trip_code: r.trip_code,
        gate_code: r.gate_code,
        note: r.note,
        refund_to: r.refund_to,
        status_code: r.status,
    }
}

#[derive(Deserialize, Default)]
struct PageQuery {
    #[serde(default)]
    ok: String,
    #[serde(flatten)]
    filter: FilterForm,
}

async fn view(
    state: &AppState,
    ctx: &ReqCtx,
    message: String,
    ok: String,
    q: FilterForm,
) -> Result<RefundsPage, AppError> {
    let (refunds, message) = match q.filter() {
        Ok(filter) => (visible(state, ctx, &filter).await?, message),
        // A filter that does not parse lists nothing and says which field to fix.
        Err(e) => (Vec::new(), super::officer::error_text(&e, ctx.lang)),
    };
    let mut gates = Vec::new();
    for g in gates::list(&state.db).await? {
        if manages(state, ctx, &g.code).await? {
            let name = ctx.lang.s(&g.name_vi, &g.name_en).to_string();
            gates.push((g.code, name));
        }
    }
    let truncated = refunds.len() as i64 >= LIST_LIMIT;
    let totals = totals_of(&refunds, ctx.lang);
    let rows = refunds.into_iter().map(|r| row(r, ctx.lang)).collect();
    Ok(RefundsPage {
        c: Chrome::of(ctx),
        rows,
        message,
        ok,
        q,
        gates,
        totals,
        truncated,
    })
}

async fn page(State(state): State<AppState>, ctx: ReqCtx, Query(q): Query<PageQuery>) -> Response {
    let ok = match q.ok.as_str() {
        "mo" => ctx
            .lang
            .s("Đã mở đề nghị hoàn phí.", "The refund was opened."),
        "duyet" => ctx.lang.s("Đã duyệt hoàn phí.", "The refund was approved."),
        "chi" => ctx.lang.s(
            "Đã ghi nhận chi hoàn phí.",
            "The refund was recorded as paid.",
        ),
        _ => "",
    }
    .to_string();
    let bad_filter = q.filter.filter().is_err();
    match view(&state, &ctx, String::new(), ok, q.filter).await {
        Ok(v) if bad_filter => {
            let mut resp = render(&v);
            *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            resp
        }
        Ok(v) => render(&v),
        Err(e) => ctx.page_err(e).into_response(),
    }
}

async fn failed(state: &AppState, ctx: &ReqCtx, e: AppError) -> Response {
    super::officer::refused_form(ctx, e, |msg| {
        view(state, ctx, msg, String::new(), FilterForm::default())
    })
    .await
}

#[derive(Deserialize, Default)]
struct OpenForm {
    #[serde(default)]
    trip_code: String,
    /// Empty: the whole amount paid.
    #[serde(default)]
    amount_vnd: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    note: String,
}

async fn open_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Form(f): Form<OpenForm>,
) -> Response {
    let r = async {
        let amount = match f.amount_vnd.trim().replace(['.', ' '], "") {
            a if a.is_empty() => None,
            a => Some(a.parse::<i64>().map_err(|_| {
                AppError::field(
                    "amount_vnd",
                    Invalid::new(
                        "refund_amount",
                        "Số tiền hoàn phải là số đồng (ví dụ 100000)",
                        "The amount must be a whole number of đồng (e.g. 100000)",
                    ),
                )
            })?),
        };
        let input = RefundInput {
            amount_vnd: amount,
            reason: f.reason.clone(),
            note: f.note.clone(),
        };
        open_for(&state, &ctx, f.trip_code.trim(), &input).await
    }
    .await;
    match r {
        Ok(_) => Redirect::to("/nghiep-vu/cua-khau/hoan-phi?ok=mo").into_response(),
        Err(e) => failed(&state, &ctx, e).await,
    }
}

/// `POST /nghiep-vu/cua-khau/hoan-phi/{id}/duyet` (approve) or `…/chi` (paid back, with the
/// form's `reference`).
async fn step_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path((id, step)): Path<(String, String)>,
    Form(f): Form<PaidBody>,
) -> Response {
    let r = async {
        let r = refund_for(&state, &ctx, &id).await?;
        match step.as_str() {
            "duyet" => fee_refund::approve(&state.db, &ctx.audit(), &r.id, now_micros()).await,
            "chi" => {
                fee_refund::mark_paid(&state.db, &ctx.audit(), &r.id, &f.reference, now_micros())
                    .await
            }
            _ => Err(AppError::not_found()),
        }
    }
    .await;
    match r {
        Ok(_) => Redirect::to(&format!("/nghiep-vu/cua-khau/hoan-phi?ok={step}")).into_response(),
        Err(e) => failed(&state, &ctx, e).await,
    }
}
