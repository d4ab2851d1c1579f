//! Paying a dossier's fees: the applicant's payment page with its VietQR code
//! (`/tra-cuu/thanh-toan`), the demo-only simulated payment, and the payments API (request,
//! the PayGov callback, the daily reconciliation). See [`crate::payment`].

use super::portal::applicant_dossier;
use super::view;
use crate::payment::{self, simulator, Payment};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tinhso_http::error::{ApiError, PageError};
use tinhso_http::layout::{render, url_encode, Chrome};
use tinhso_http::{AppState, ReqCtx};
use tinhso_identity::Permission;
use tinhso_kernel::{AppError, ErrorCode, Invalid};
use utoipa::IntoParams;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/tra-cuu/thanh-toan", get(pay_page))
        .route("/tra-cuu/thanh-toan/mo-phong", post(simulate_post))
        .route("/api/v1/dossiers/{code}/payments", post(create_payment))
        .route("/api/v1/payments/callback", post(callback))
        .route("/api/v1/payments/reconciliation", get(reconciliation))
}

/// The page's address for a dossier.
pub fn pay_path(code: &str, lookup: &str) -> String {
    format!(
        "/tra-cuu/thanh-toan?ma_ho_so={}&ma={}",
        url_encode(code),
        url_encode(lookup)
    )
}

#[derive(Deserialize)]
pub(super) struct PayQuery {
    #[serde(default)]
    ma_ho_so: String,
    #[serde(default)]
    ma: String,
    /// Set after the simulated payment.
    #[serde(default)]
    da_mo_phong: String,
}

#[derive(Template)]
#[template(path = "pay.html")]
struct PayPage {
    c: Chrome,
    code: String,
    lookup: String,
    procedure_name: String,
    amount: String,
    /// Số tiền bằng chữ (the amount due in words).
    amount_words: String,
    p: Option<Payment>,
    qr_svg: String,
    paid: Vec<Payment>,
    demo: bool,
    simulated: bool,
    track_path: String,
}

/// The payment page: the amount due and the VietQR code to pay it (the pending request is
/// created on first view and reused after), or the receipts once paid.
async fn pay_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<PayQuery>,
) -> Result<Response, PageError> {
    let d = applicant_dossier(&state, &ctx, &q.ma_ho_so, &q.ma)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let due = payment::amount_due(&d);
    let p = if due > 0 {
        Some(
            payment::request(&state.db, &ctx.audit(), &d.code)
                .await
                .map_err(|e| ctx.page_err(e))?,
        )
    } else {
        None
    };
    let qr_svg = match &p {
        Some(p) => view::qr_svg(&p.qr_payload, "VietQR").map_err(|e| ctx.page_err(e))?,
        None => String::new(),
    };
    let paid = payment::for_dossier(&state.db, &d.code)
        .await
        .map_err(|e| ctx.page_err(e))?
        .into_iter()
        .filter(|p| p.status == "paid")
        .collect();
    Ok(render(&PayPage {
        c: Chrome::of(&ctx),
        track_path: super::view::tracking_path(&d.code, q.ma.trim()),
        code: d.code.clone(),
        lookup: q.ma.trim().to_string(),
        procedure_name: d.procedure_name.clone(),
        amount: view::vnd(due),
        amount_words: tinhso_kernel::money::Vnd(due).in_words(),
        qr_svg,
        p,
        paid,
        demo: state.config.demo,
        simulated: !q.da_mo_phong.is_empty(),
    }))
}

/// Demo only: the simulated gateway pays the pending request with a correctly signed
/// callback, checked exactly as a real one.
async fn simulate_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    body: Bytes,
) -> Result<Response, PageError> {
    if !state.config.demo {
        return Err(ctx.page_err(AppError::not_found()));
    }
    let pairs = view::parse_form(&body).map_err(|e| ctx.page_err(e))?;
    let code = view::form_get(&pairs, "ma_ho_so");
    let lookup = view::form_get(&pairs, "ma");
    let d = applicant_dossier(&state, &ctx, &code, &lookup)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let p = payment::for_dossier(&state.db, &d.code)
        .await
        .map_err(|e| ctx.page_err(e))?
        .into_iter()
        .find(|p| p.status == "pending")
        .ok_or_else(|| ctx.page_err(AppError::not_found()))?;
    let now = chrono::Utc::now().timestamp();
    let txn = format!("SIM-{}", uuid::Uuid::new_v4().simple());
    let (body, headers) = simulator::signed_callback(&p, &txn, now);
    let h = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    payment::callback(
        &state.db,
        &tinhso_store::audit::Ctx::system(ctx.audit().request_id),
        &body,
        h("X-Signature"),
        h("X-Timestamp"),
        now,
    )
    .await
    .map_err(|e| ctx.page_err(e))?;
    Ok(Redirect::to(&format!("{}&da_mo_phong=1", pay_path(&d.code, &lookup))).into_response())
}

#[derive(Deserialize, IntoParams)]
pub(crate) struct LookupQuery {
    /// The lookup code (mã tra cứu) printed on the receipt; or sign in as the owner.
    #[serde(default)]
    lookup: String,
}

/// Ask for a payment of what is due on a dossier: its applicant (lookup code or owner). A
/// pending request for the same amount is returned again. The answer carries the VietQR
/// payload to the (demo) collection account.
#[utoipa::path(post, path = "/api/v1/dossiers/{code}/payments", tag = "services",
    params(("code" = String, Path), LookupQuery),
    responses((status = 201, description = "The pending payment request", body = Payment),
        (status = 404, body = tinhso_http::error::Problem),
        (status = 409, body = tinhso_http::error::Problem, description = "Nothing is due")))]
pub(crate) async fn create_payment(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    Query(q): Query<LookupQuery>,
) -> Result<Response, ApiError> {
    if ctx.principal.is_none() && q.lookup.trim().is_empty() {
        return Err(AppError::new(ErrorCode::Unauthenticated).into());
    }
    let d = applicant_dossier(&state, &ctx, &code, &q.lookup).await?;
    let p = payment::request(&state.db, &ctx.audit(), &d.code).await?;
    Ok((StatusCode::CREATED, Json(p)).into_response())
}

/// The payment platform's confirmation (PayGov contract). Authenticated by
/// `X-Signature: hex(HMAC-SHA256(shared secret, body))` and `X-Timestamp` (Unix seconds,
/// at most 5 minutes off); no session, no CSRF. Idempotent on `txn_id`.
#[utoipa::path(post, path = "/api/v1/payments/callback", tag = "services",
    request_body = payment::Callback,
    params(("X-Signature" = String, Header, description = "hex HMAC-SHA256 of the body"),
        ("X-Timestamp" = String, Header, description = "Unix seconds")),
    responses((status = 200, description = "Processed (or a replay: `replayed: true`)", body = payment::CallbackResult),
        (status = 401, body = tinhso_http::error::Problem, description = "Bad signature or stale timestamp"),
        (status = 404, body = tinhso_http::error::Problem, description = "Unknown payment"),
        (status = 409, body = tinhso_http::error::Problem, description = "Wrong amount, or not pending")))]
pub(crate) async fn callback(
    State(state): State<AppState>,
    ctx: ReqCtx,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<payment::CallbackResult>, ApiError> {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    Ok(Json(
        payment::callback(
            &state.db,
            &ctx.audit(),
            &body,
            h("x-signature"),
            h("x-timestamp"),
            chrono::Utc::now().timestamp(),
        )
        .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
pub(crate) struct ReconciliationQuery {
    /// Local date, `YYYY-MM-DD`.
    date: String,
    /// Only this agency (within the caller's scope).
    agency: Option<String>,
}

/// Count and sum of paid payments per agency on a day (agencies in the caller's scope).
#[utoipa::path(get, path = "/api/v1/payments/reconciliation", tag = "services",
    params(ReconciliationQuery),
    responses((status = 200, description = "Per agency: date, agency_code, count, total_vnd", body = [payment::Reconciliation]),
        (status = 401, body = tinhso_http::error::Problem), (status = 403, body = tinhso_http::error::Problem),
        (status = 422, body = tinhso_http::error::Problem)))]
pub(crate) async fn reconciliation(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<ReconciliationQuery>,
) -> Result<Json<Vec<payment::Reconciliation>>, ApiError> {
    let p = ctx.principal()?;
    let date = chrono::NaiveDate::parse_from_str(q.date.trim(), "%Y-%m-%d").map_err(|_| {
        AppError::field(
            "date",
            Invalid::new(
                "date_format",
                "Ngày theo dạng YYYY-MM-DD",
                "The date is YYYY-MM-DD",
            ),
        )
    })?;
    let readable = super::readable_agencies(&state, p, Permission::DossierRead).await?;
    let wanted: Option<Vec<String>> = match (q.agency.as_deref().map(str::trim), readable) {
        (Some(a), Some(r)) if !a.is_empty() => {
            if !r.iter().any(|c| c == a) {
                return Err(AppError::forbidden().into());
            }
            Some(vec![a.to_string()])
        }
        (Some(a), None) if !a.is_empty() => Some(vec![a.to_string()]),
        (_, r) => r,
    };
    Ok(Json(
        payment::reconciliation(&state.db, date, wanted.as_deref()).await?,
    ))
}
