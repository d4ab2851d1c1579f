//! The back-office page of agency signing certificates (chứng thư số của cơ quan,
//! `/nghiep-vu/chung-thu-so`): the certificates of the agencies whose results the user may
//! approve, with subject, issuer, serial and validity; a form to import a certificate chain
//! and its private key (PEM files); in demo mode, a button to have the provincial test CA
//! issue one. Access: [`Permission::DossierApprove`] over the agency — its leaders and the
//! administrators — checked by [`require`] (refusals audited); imports audited.

use super::upload_page::{self, Notice};
use super::view::FormErrors;
use crate::signing_certs::{self, StoredCertificate};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use tinhso_http::error::PageError;
use tinhso_http::layout::{local_time, render, Chrome};
use tinhso_http::{context::require, AppState, ReqCtx};
use tinhso_identity::{authorize, Permission};
use tinhso_kernel::{AppError, ErrorCode, Invalid};
use tinhso_refdata::agencies::{self, Agency, AgencyFilter};
use tinhso_store::now_micros;

pub const PATH: &str = "/nghiep-vu/chung-thu-so";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(page).post(import))
        .route("/nghiep-vu/chung-thu-so/thu-nghiem", post(issue_test))
}

#[derive(Template)]
#[template(path = "certificates.html")]
struct CertificatesPage {
    c: Chrome,
    agencies: Vec<(String, String)>,
    selected: String,
    rows: Vec<CertRow>,
    upload_action: String,
    demo: bool,
    /// The user may manage the revocation lists (a link to their page).
    crls: bool,
    notice: String,
    errors: FormErrors,
}

struct CertRow {
    agency: String,
    subject: String,
    issuer: String,
    serial: String,
    valid_from: String,
    valid_to: String,
    algorithm: String,
    source: String,
    /// `ok`, `expired`, `not_yet`.
    state: &'static str,
    /// The one that signs the agency's results now.
    active: bool,
}

/// The agencies whose certificates `ctx`'s user may manage.
async fn manageable(state: &AppState, ctx: &ReqCtx) -> Result<Vec<Agency>, AppError> {
    let p = ctx.principal()?;
    let all = agencies::list(&state.db, &AgencyFilter::default())
        .await
        .map_err(AppError::from)?;
    let mut out = Vec::new();
    for a in all {
        let scope = agencies::scope_of(&state.db, &a)
            .await
            .map_err(AppError::from)?;
        if authorize(Some(p), Permission::DossierApprove, &scope).is_ok() {
            out.push(a);
        }
    }
    Ok(out)
}

async fn render_page(
    state: &AppState,
    ctx: &ReqCtx,
    selected: &str,
    notice: String,
    errors: FormErrors,
) -> Result<Response, AppError> {
    let agencies = manageable(state, ctx).await?;
    let now = now_micros();
    let certs: Vec<StoredCertificate> = signing_certs::list(&state.db).await?;
    let mut rows = Vec::new();
    for a in &agencies {
        let mut active_seen = false;
        for c in certs.iter().filter(|c| c.agency_code == a.code) {
            let state_ = if c.expired(now) {
                "expired"
            } else if c.not_yet_valid(now) {
                "not_yet"
            } else {
                "ok"
            };
            // Listed by expiry, latest first: the first valid one signs.
            let active = state_ == "ok" && !active_seen;
            active_seen |= active;
            rows.push(CertRow {
                agency: a.name.clone(),
                subject: c.subject.clone(),
                issuer: c.issuer.clone(),
                serial: c.serial.clone(),
                valid_from: local_time(c.not_before),
                valid_to: local_time(c.not_after),
                algorithm: c.key_algorithm.clone(),
                source: c.source.clone(),
                state: state_,
                active,
            });
        }
    }
    Ok((
        upload_page::status(&errors),
        render(&CertificatesPage {
            c: Chrome::of(ctx),
            agencies: agencies
                .iter()
                .map(|a| (a.code.clone(), a.name.clone()))
                .collect(),
            selected: selected.to_string(),
            rows,
            upload_action: upload_page::action(PATH, ctx),
            demo: state.config.demo,
            crls: ctx
                .principal
                .as_ref()
                .is_some_and(|p| p.can_somewhere(Permission::AgencyManage)),
            notice,
            errors,
        }),
    )
        .into_response())
}

pub async fn page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    axum::extract::Query(q): axum::extract::Query<Notice>,
) -> Result<Response, PageError> {
    let notice = q.text(
        ctx.lang,
        &[
            (
                "nap",
                "Đã nạp chứng thư số. Kết quả cấp từ nay được ký bằng chứng thư này.",
                "Certificate imported. Results issued from now on are signed with it.",
            ),
            (
                "thu-nghiem",
                "Đã cấp chứng thư thử nghiệm (chỉ dùng cho bản trình diễn).",
                "Test certificate issued (for the demo only).",
            ),
        ],
    );
    render_page(&state, &ctx, "", notice, FormErrors::default())
        .await
        .map_err(|e| ctx.page_err(e))
}

async fn agency_in_scope(state: &AppState, ctx: &ReqCtx, code: &str) -> Result<Agency, AppError> {
    let a = agencies::get(&state.db, code)
        .await
        .map_err(AppError::from)?
        .ok_or_else(|| {
            AppError::field(
                "agency",
                Invalid::new("agency_unknown", "Chọn cơ quan", "Choose the agency"),
            )
        })?;
    let scope = agencies::scope_of(&state.db, &a)
        .await
        .map_err(AppError::from)?;
    require(
        state,
        ctx,
        Permission::DossierApprove,
        &scope,
        &format!("agency:{code}"),
    )
    .await?;
    Ok(a)
}

/// Import a certificate chain and key (multipart: `agency`, `chain`, `key` as files or
/// pasted text; CSRF token on the URL). Field errors re-show the form; nothing is stored.
pub async fn import(
    State(state): State<AppState>,
    ctx: ReqCtx,
    form: Multipart,
) -> Result<Response, PageError> {
    let mut agency = String::new();
    let mut chain = String::new();
    let mut key = String::new();
    for (name, bytes) in upload_page::parts(form)
        .await
        .map_err(|e| ctx.page_err(e))?
    {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        match name.as_str() {
            "agency" => agency = text.trim().to_string(),
            "chain" | "chain_text" if !text.trim().is_empty() => chain = text,
            "key" | "key_text" if !text.trim().is_empty() => key = text,
            _ => {}
        }
    }
    let result = async {
        let a = agency_in_scope(&state, &ctx, &agency).await?;
        let p = ctx.principal()?;
        signing_certs::import(&state.db, &ctx.audit(), p, &a.code, &key, &chain).await
    }
    .await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!("{PATH}?ok=nap")).into_response()),
        Err(e) if e.code == ErrorCode::ValidationFailed || e.code == ErrorCode::Conflict => {
            render_page(
                &state,
                &ctx,
                &agency,
                String::new(),
                FormErrors::of(&e, ctx.lang),
            )
            .await
            .map_err(|e| ctx.page_err(e))
        }
        Err(e) => Err(ctx.page_err(e)),
    }
}

#[derive(Deserialize)]
pub struct TestForm {
    #[serde(default)]
    agency: String,
}

/// Demo only: the provincial test CA issues the agency a one-year certificate marked
/// "(THỬ NGHIỆM)". Refused (404) outside demo mode.
pub async fn issue_test(
    State(state): State<AppState>,
    ctx: ReqCtx,
    body: Bytes,
) -> Result<Response, PageError> {
    if !state.config.demo {
        return Err(ctx.page_err(AppError::not_found()));
    }
    let f: TestForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ctx.page_err(AppError::new(ErrorCode::BadRequest)))?;
    let a = agency_in_scope(&state, &ctx, &f.agency)
        .await
        .map_err(|e| ctx.page_err(e))?;
    signing_certs::issue_test_certificate(&state.db, &ctx.audit(), &a.code, 365)
        .await
        .map_err(|e| ctx.page_err(e))?;
    Ok(Redirect::to(&format!("{PATH}?ok=thu-nghiem")).into_response())
}
