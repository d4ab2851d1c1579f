//! The back-office page of certificate revocation lists (danh sách thu hồi chứng thư, CRL,
//! `/nghiep-vu/danh-sach-thu-hoi`): the CRLs the PAdES verifier checks signers against —
//! issuer, this and next update, number of revoked serials, imported or fetched — and a form
//! to import one (DER or PEM file; CSRF token on the URL, as for certificates). Access: the
//! route needs [`Permission::AgencyManage`]; [`crate::revocation::import`] and the list check
//! it over the province (administrators), refusals audited by [`require`]; imports audited.

use super::upload_page::{self, Notice};
use super::view::FormErrors;
use askama::Template;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use tinhso_http::error::PageError;
use tinhso_http::layout::{local_time, render, Chrome};
use tinhso_http::{context::require, AppState, ReqCtx};
use tinhso_identity::{Permission, ResourceScope};
use tinhso_kernel::{AppError, ErrorCode, Invalid};
use tinhso_store::now_micros;

pub const PATH: &str = "/nghiep-vu/danh-sach-thu-hoi";

pub fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(page).post(import))
}

#[derive(Template)]
#[template(path = "crls.html")]
struct CrlsPage {
    c: Chrome,
    rows: Vec<CrlRow>,
    upload_action: String,
    notice: String,
    errors: FormErrors,
}

struct CrlRow {
    issuer: String,
    this_update: String,
    next_update: String,
    /// The next update has passed: the list is stale.
    stale: bool,
    revoked: i64,
    /// `imported` or `fetched`.
    source: String,
    fingerprint: String,
}

async fn allowed(state: &AppState, ctx: &ReqCtx) -> Result<(), AppError> {
    require(
        state,
        ctx,
        Permission::AgencyManage,
        &ResourceScope::province(),
        "pades_crls",
    )
    .await
}

async fn render_page(
    state: &AppState,
    ctx: &ReqCtx,
    notice: String,
    errors: FormErrors,
) -> Result<Response, AppError> {
    let now = now_micros();
    let rows = crate::revocation::list(&state.db)
        .await?
        .into_iter()
        .map(|c| CrlRow {
            issuer: c.issuer,
            this_update: local_time(c.this_update),
            next_update: c.next_update.map(local_time).unwrap_or_else(|| "—".into()),
            stale: c.next_update.is_some_and(|n| n < now),
            revoked: c.revoked_count,
            source: c.source,
            fingerprint: c.fingerprint.chars().take(16).collect(),
        })
        .collect();
    Ok((
        upload_page::status(&errors),
        render(&CrlsPage {
            c: Chrome::of(ctx),
            rows,
            upload_action: upload_page::action(PATH, ctx),
            notice,
            errors,
        }),
    )
        .into_response())
}

pub async fn page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<Notice>,
) -> Result<Response, PageError> {
    allowed(&state, &ctx).await.map_err(|e| ctx.page_err(e))?;
    let notice = q.text(
        ctx.lang,
        &[(
            "nap",
            "Đã nạp danh sách thu hồi. Từ nay chữ ký của các chứng thư trong danh sách được báo là đã thu hồi.",
            "Revocation list imported. Signatures by the certificates it lists are reported as revoked from now on.",
        )],
    );
    render_page(&state, &ctx, notice, FormErrors::default())
        .await
        .map_err(|e| ctx.page_err(e))
}

/// Import a CRL (multipart: `crl`, a DER or PEM file; CSRF token on the URL). A file that is
/// not a CRL, one signed by no known CA, or one imported already re-shows the form with the
/// problem under the field; nothing is stored.
pub async fn import(
    State(state): State<AppState>,
    ctx: ReqCtx,
    form: Multipart,
) -> Result<Response, PageError> {
    allowed(&state, &ctx).await.map_err(|e| ctx.page_err(e))?;
    let crl = upload_page::parts(form)
        .await
        .map_err(|e| ctx.page_err(e))?
        .into_iter()
        .rfind(|(name, _)| name == "crl")
        .map(|(_, bytes)| bytes)
        .unwrap_or_default();
    let result = async {
        let p = ctx.principal()?;
        if crl.is_empty() {
            return Err(AppError::field(
                "crl",
                Invalid::new(
                    "file_missing",
                    "Chọn tệp danh sách thu hồi (CRL, dạng DER hoặc PEM)",
                    "Choose the revocation list file (CRL, DER or PEM)",
                ),
            ));
        }
        crate::revocation::import(&state.db, &ctx.audit(), p, &crl).await
    }
    .await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!("{PATH}?ok=nap")).into_response()),
        Err(e) if e.code == ErrorCode::ValidationFailed => {
            render_page(&state, &ctx, String::new(), FormErrors::of(&e, ctx.lang))
                .await
                .map_err(|e| ctx.page_err(e))
        }
        Err(e) if e.code == ErrorCode::Conflict => {
            // Imported already: shown under the field like the other refusals.
            let msg = AppError::field(
                "crl",
                Invalid::new(
                    "crl_duplicate",
                    e.detail_vi.clone().unwrap_or_default(),
                    e.detail_en.clone().unwrap_or_default(),
                ),
            );
            let mut resp = render_page(&state, &ctx, String::new(), FormErrors::of(&msg, ctx.lang))
                .await
                .map_err(|e| ctx.page_err(e))?;
            *resp.status_mut() = StatusCode::CONFLICT;
            Ok(resp)
        }
        Err(e) => Err(ctx.page_err(e)),
    }
}
