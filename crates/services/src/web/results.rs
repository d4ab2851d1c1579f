//! Electronic results on the web: the public verification page (trang xác thực văn bản) the
//! QR code opens, with an upload check that a file is the issued original; the applicant's
//! download; the officers' download and revocation; the signed-in citizen's data store (kho
//! dữ liệu); and the JSON API for all of it.

use super::forms::office_dossier;
use super::portal::applicant_dossier;
use super::view::FormErrors;
use crate::dossier::{self, Dossier};
use crate::pades::PadesReport;
use crate::results::{self, FileCheck, PersonalDocument, ResultRecord, Verification};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tinhso_http::error::{ApiError, PageError};
use tinhso_http::layout::{local_time, render, url_encode, Chrome};
use tinhso_http::{context::require, AppState, ReqCtx};
use tinhso_identity::Permission;
use tinhso_kernel::{AppError, ErrorCode, Invalid};
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/xac-thuc", get(verify_lookup))
        .route("/xac-thuc/{id}", get(verify_page).post(verify_upload))
        .route("/tra-cuu/ket-qua", get(applicant_download))
        .route("/kho-du-lieu", get(data_store_page))
        .route("/kho-du-lieu/{id}", get(data_store_file))
        .route("/nghiep-vu/ho-so/{code}/ket-qua", get(office_download))
        .route(
            "/nghiep-vu/ho-so/{code}/thu-hoi-ket-qua",
            post(office_revoke),
        )
        .route("/api/v1/results/{id}", get(api_verify))
        .route("/api/v1/dossiers/{code}/result", get(api_result))
        .route("/api/v1/dossiers/{code}/result/pdf", get(api_result_pdf))
        .route(
            "/api/v1/dossiers/{code}/result/revocation",
            post(api_revoke),
        )
        .route("/api/v1/me/documents", get(api_documents))
        .route("/api/v1/pades/verification", post(api_pades))
        .route("/api/v1/pades/crls", get(api_crls).post(api_crl_import))
}

/// A PDF response, downloaded under `name` (ASCII).
pub fn pdf_response(bytes: Vec<u8>, name: &str, inline: bool) -> Response {
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/pdf"),
    );
    let disposition = format!(
        "{}; filename=\"{name}\"",
        if inline { "inline" } else { "attachment" }
    );
    if let Ok(v) = disposition.parse() {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, no-store"),
    );
    resp
}

fn file_name(r: &ResultRecord) -> String {
    let safe: String = r
        .dossier_code
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("ket-qua-{safe}.pdf")
}

/// What the tracking and office pages show of a dossier's result.
pub struct ResultLink {
    pub number: String,
    pub title: String,
    pub issued: String,
    pub signer: String,
    pub download_href: String,
    pub verify_href: String,
    pub verify_code: String,
    pub revoked: bool,
    pub revoked_reason: String,
}

impl ResultLink {
    pub fn of(r: &ResultRecord, download_href: String) -> ResultLink {
        ResultLink {
            number: r.number.clone(),
            title: r.title.clone(),
            issued: local_time(r.issued_at),
            signer: r.signer_name.clone(),
            download_href,
            verify_href: results::verify_path(&r.id),
            verify_code: results::grouped(&r.id),
            revoked: r.revoked_at.is_some(),
            revoked_reason: r.revoked_reason.clone().unwrap_or_default(),
        }
    }
}

/// The result link for the applicant's tracking page.
pub async fn for_applicant(state: &AppState, d: &Dossier) -> Result<Option<ResultLink>, AppError> {
    let lookup = dossier::lookup_code(&d.code);
    Ok(results::of_dossier(&state.db, &d.code).await?.map(|r| {
        ResultLink::of(
            &r,
            format!(
                "/tra-cuu/ket-qua?ma_ho_so={}&ma={}",
                url_encode(&d.code),
                url_encode(&lookup)
            ),
        )
    }))
}

/// The result link for the office dossier page.
pub async fn for_office(state: &AppState, d: &Dossier) -> Result<Option<ResultLink>, AppError> {
    Ok(results::of_dossier(&state.db, &d.code).await?.map(|r| {
        ResultLink::of(
            &r,
            format!("/nghiep-vu/ho-so/{}/ket-qua", url_encode(&d.code)),
        )
    }))
}

// ---------------------------------------------------------------- verification page

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage {
    c: Chrome,
    /// The code typed or scanned, as given.
    code: String,
    found: Option<VerifyView>,
    searched: bool,
    errors: FormErrors,
}

struct VerifyView {
    grouped: String,
    v: Verification,
    facts: Vec<(String, String)>,
    details: Vec<(String, String)>,
    revoked_at: String,
    agency_key: String,
    signer_key: String,
    sha256: String,
    upload_action: String,
    file_check: Option<FileCheck>,
    /// The PAdES signature of the issued file (None: issued without a certificate).
    pades: Option<PadesView>,
    /// The PAdES signature of an uploaded file.
    upload_pades: Option<PadesView>,
}

/// A PAdES verdict as the page shows it.
struct PadesView {
    valid: bool,
    present: bool,
    /// Not changed since signing, signature correct (trusted or not).
    intact: bool,
    trusted: bool,
    signer: String,
    subject: String,
    issuer: String,
    serial: String,
    signing_time: String,
    validity: String,
    problems: Vec<(String, String)>,
}

impl PadesView {
    fn of(r: &PadesReport) -> PadesView {
        let s = r.signer.as_ref();
        PadesView {
            valid: r.valid,
            present: r.present,
            intact: r.covers_whole_file && r.digest_ok && r.signature_ok,
            trusted: r.trusted,
            signer: s.map(|s| s.name.clone()).unwrap_or_default(),
            subject: s.map(|s| s.subject.clone()).unwrap_or_default(),
            issuer: s.map(|s| s.issuer.clone()).unwrap_or_default(),
            serial: s.map(|s| s.serial.clone()).unwrap_or_default(),
            signing_time: r.signing_time.map(local_time).unwrap_or_default(),
            validity: s
                .map(|s| format!("{} – {}", local_time(s.not_before), local_time(s.not_after)))
                .unwrap_or_default(),
            problems: r.problems.clone(),
        }
    }
}

fn facts(ctx: &ReqCtx, r: &ResultRecord, v: &Verification) -> Vec<(String, String)> {
    let t = |vi: &str, en: &str| ctx.lang.s(vi, en).to_string();
    let mut out = vec![
        (t("Số văn bản", "Number"), r.number.clone()),
        (t("Loại văn bản", "Document"), r.title.clone()),
    ];
    if let Some(p) = &v.payload {
        out.push((t("Cơ quan ban hành", "Issued by"), p.agency.clone()));
        out.push((t("Người ký", "Signed by"), p.signer.clone()));
        out.push((
            t("Thời điểm ký", "Signed at"),
            p.issued_at.replace('T', " "),
        ));
        out.push((t("Cấp cho", "Issued to"), p.holder.clone()));
        out.push((
            t("Thủ tục", "Procedure"),
            format!("{} ({})", p.procedure, p.procedure_code),
        ));
        out.push((t("Mã hồ sơ", "Dossier"), p.dossier.clone()));
        out.push((t("Nội dung", "Decision"), p.decision.clone()));
    }
    out
}

async fn verify_render(
    state: &AppState,
    ctx: &ReqCtx,
    code: &str,
    upload: Option<(FileCheck, PadesReport)>,
    errors: FormErrors,
) -> Result<Response, PageError> {
    let (file_check, upload_pades) = match upload {
        Some((k, p)) => (Some(k), Some(PadesView::of(&p))),
        None => (None, None),
    };
    let searched = !code.trim().is_empty();
    let record = if searched {
        results::by_id(&state.db, code)
            .await
            .map_err(|e| ctx.page_err(e))?
    } else {
        None
    };
    let found = match record {
        Some(r) => {
            let v = results::verify(&state.db, &r)
                .await
                .map_err(|e| ctx.page_err(e))?;
            let pades = match &r.pades_certificate_id {
                Some(_) => {
                    let bytes = results::pdf(&state.files, &r)
                        .await
                        .map_err(|e| ctx.page_err(e))?;
                    let report =
                        results::check_pades(&state.db, &bytes, &state.config.pades_tsa_trust)
                            .await
                            .map_err(|e| ctx.page_err(e))?;
                    Some(PadesView::of(&report))
                }
                None => None,
            };
            Some(VerifyView {
                grouped: results::grouped(&r.id),
                facts: facts(ctx, &r, &v),
                details: v
                    .payload
                    .as_ref()
                    .map(|p| p.details.clone())
                    .unwrap_or_default(),
                revoked_at: r.revoked_at.map(local_time).unwrap_or_default(),
                agency_key: r.agency_public_key.to_uppercase(),
                signer_key: r.signer_public_key.to_uppercase(),
                sha256: r.file_sha256.clone(),
                upload_action: format!(
                    "{}?csrf={}",
                    results::verify_path(&r.id),
                    url_encode(&ctx.csrf)
                ),
                v,
                file_check,
                pades,
                upload_pades,
            })
        }
        None => None,
    };
    let status = if searched && found.is_none() {
        StatusCode::NOT_FOUND
    } else if !errors.summary.is_empty() || !errors.general.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        render(&VerifyPage {
            c: Chrome::of(ctx),
            code: code.trim().to_string(),
            found,
            searched,
            errors,
        }),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct CodeQuery {
    #[serde(default)]
    ma: String,
}

/// `/xac-thuc?ma=…`: a typed code goes to its page (dashes and case forgiven).
pub async fn verify_lookup(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<CodeQuery>,
) -> Result<Response, PageError> {
    let id = q.ma.trim().replace(['-', ' '], "").to_uppercase();
    if results::is_id(&id) {
        return Ok(Redirect::to(&results::verify_path(&id)).into_response());
    }
    verify_render(&state, &ctx, &q.ma, None, FormErrors::default()).await
}

pub async fn verify_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    verify_render(&state, &ctx, &id, None, FormErrors::default()).await
}

/// Check an uploaded file against the issued original (multipart, CSRF token on the URL).
/// Nothing is stored.
pub async fn verify_upload(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(id): Path<String>,
    mut form: Multipart,
) -> Result<Response, PageError> {
    let r = results::by_id(&state.db, &id)
        .await
        .map_err(|e| ctx.page_err(e))?
        .ok_or_else(|| ctx.page_err(AppError::not_found()))?;
    let mut bytes: Option<Bytes> = None;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some("tep") {
            bytes = field.bytes().await.ok();
        }
    }
    match bytes.filter(|b| !b.is_empty()) {
        Some(b) => {
            let check = results::check_file(&r, &b);
            let report = results::check_pades(&state.db, &b, &state.config.pades_tsa_trust)
                .await
                .map_err(|e| ctx.page_err(e))?;
            verify_render(
                &state,
                &ctx,
                &r.id,
                Some((check, report)),
                FormErrors::default(),
            )
            .await
        }
        None => {
            let e = AppError::field(
                "tep",
                Invalid::new(
                    "file_missing",
                    "Chọn tệp PDF cần kiểm tra",
                    "Choose the PDF file to check",
                ),
            );
            verify_render(&state, &ctx, &r.id, None, FormErrors::of(&e, ctx.lang)).await
        }
    }
}

// ---------------------------------------------------------------- downloads

#[derive(Deserialize)]
pub struct TrackQuery {
    #[serde(default)]
    ma_ho_so: String,
    #[serde(default)]
    ma: String,
}

/// The applicant downloads the result (lookup code, or signed in as the owner).
pub async fn applicant_download(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<TrackQuery>,
) -> Result<Response, PageError> {
    let d = applicant_dossier(&state, &ctx, &q.ma_ho_so, &q.ma)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let r = results::of_dossier(&state.db, &d.code)
        .await
        .map_err(|e| ctx.page_err(e))?
        .ok_or_else(|| ctx.page_err(AppError::not_found()))?;
    let bytes = results::pdf(&state.files, &r)
        .await
        .map_err(|e| ctx.page_err(e))?;
    results::mark_downloaded(&state.db, &r)
        .await
        .map_err(|e| ctx.page_err(e))?;
    Ok(pdf_response(bytes, &file_name(&r), false))
}

pub async fn office_download(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> Result<Response, PageError> {
    let d = office_dossier(&state, &ctx, &code, Permission::DossierRead)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let r = results::of_dossier(&state.db, &d.code)
        .await
        .map_err(|e| ctx.page_err(e))?
        .ok_or_else(|| ctx.page_err(AppError::not_found()))?;
    let bytes = results::pdf(&state.files, &r)
        .await
        .map_err(|e| ctx.page_err(e))?;
    Ok(pdf_response(bytes, &file_name(&r), true))
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    reason: String,
}

/// Revoke from the office dossier page, then back to it (the error shown there as a notice).
pub async fn office_revoke(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let f: RevokeForm = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ctx.page_err(AppError::new(ErrorCode::BadRequest)))?;
    office_dossier(&state, &ctx, &code, Permission::DossierApprove)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let p = ctx.principal().map_err(|e| ctx.page_err(e))?;
    results::revoke(&state.db, &ctx.audit(), &code, p, &f.reason)
        .await
        .map_err(|e| ctx.page_err(e))?;
    Ok(Redirect::to(&format!("/nghiep-vu/ho-so/{}#ket-qua", url_encode(&code))).into_response())
}

// ---------------------------------------------------------------- personal data store

#[derive(Template)]
#[template(path = "data_store.html")]
struct DataStorePage {
    c: Chrome,
    docs: Vec<DocView>,
}

struct DocView {
    title: String,
    kind: String,
    added: String,
    size: String,
    href: String,
    verify_href: String,
    dossier: String,
}

pub async fn data_store_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
) -> Result<Response, PageError> {
    let p = ctx.principal().map_err(|e| ctx.page_err(e))?;
    let docs = results::personal_documents(&state.db, &p.user_id)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let docs = docs
        .into_iter()
        .map(|d| DocView {
            kind: match d.kind.as_str() {
                "result" => ctx
                    .lang
                    .s("Kết quả điện tử có chữ ký số", "Signed electronic result"),
                _ => ctx.lang.s("Giấy tờ đã số hóa", "Digitised paper"),
            }
            .to_string(),
            added: local_time(d.created_at),
            size: dossier::size_text(d.size),
            href: format!("/kho-du-lieu/{}", url_encode(&d.id)),
            verify_href: d
                .result_id
                .as_deref()
                .map(results::verify_path)
                .unwrap_or_default(),
            dossier: d.source_dossier.clone().unwrap_or_default(),
            title: d.title,
        })
        .collect();
    Ok(render(&DataStorePage {
        c: Chrome::of(&ctx),
        docs,
    }))
}

pub async fn data_store_file(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let p = ctx.principal().map_err(|e| ctx.page_err(e))?;
    let docs = results::personal_documents(&state.db, &p.user_id)
        .await
        .map_err(|e| ctx.page_err(e))?;
    // Someone else's document does not exist.
    let d = docs
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(|| ctx.page_err(AppError::not_found()))?;
    let bytes = results::document_bytes(&state.db, &state.files, &d)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let name = format!(
        "kho-du-lieu-{}.pdf",
        &d.file_sha256[..12.min(d.file_sha256.len())]
    );
    Ok(pdf_response(bytes, &name, false))
}

// ---------------------------------------------------------------- API

/// A result as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct ResultDoc {
    /// The verification code (in the QR code).
    id: String,
    dossier_code: String,
    number: String,
    title: String,
    holder_name: String,
    signer_name: String,
    /// Microseconds since the epoch.
    issued_at: i64,
    /// The PDF's SHA-256.
    sha256: String,
    size: i64,
    verify_url: String,
    revoked_at: Option<i64>,
    revoked_reason: Option<String>,
    /// The exact signed bytes (canonical JSON).
    payload: String,
    agency_public_key: String,
    agency_signature: String,
    signer_public_key: String,
    signer_signature: String,
}

impl From<ResultRecord> for ResultDoc {
    fn from(r: ResultRecord) -> Self {
        ResultDoc {
            verify_url: results::verify_path(&r.id),
            id: r.id,
            dossier_code: r.dossier_code,
            number: r.number,
            title: r.title,
            holder_name: r.holder_name,
            signer_name: r.signer_name,
            issued_at: r.issued_at,
            sha256: r.file_sha256,
            size: r.file_size,
            revoked_at: r.revoked_at,
            revoked_reason: r.revoked_reason,
            payload: r.payload,
            agency_public_key: r.agency_public_key,
            agency_signature: r.agency_signature,
            signer_public_key: r.signer_public_key,
            signer_signature: r.signer_signature,
        }
    }
}

/// The verdict the API gives.
#[derive(Serialize, ToSchema)]
pub struct VerificationDoc {
    valid: bool,
    agency_signature_ok: bool,
    signer_signature_ok: bool,
    revoked: bool,
    revoked_at: Option<i64>,
    revoked_reason: Option<String>,
    /// Problems found, Vietnamese.
    problems_vi: Vec<String>,
    /// Problems found, English.
    problems_en: Vec<String>,
    number: String,
    title: String,
    /// The facts the document shows, as signed.
    #[schema(value_type = Object)]
    payload: Option<serde_json::Value>,
    /// The PAdES signature embedded in the issued PDF (signer, issuer, serial, signing time,
    /// each check); absent when the agency had no certificate when it issued the result.
    #[schema(value_type = Object)]
    pades: Option<serde_json::Value>,
}

/// Verify a result by its code (public: the QR code on the document leads here).
#[utoipa::path(get, path = "/api/v1/results/{id}", tag = "services", params(("id" = String, Path, description = "Verification code, dashes optional")),
    responses((status = 200, body = VerificationDoc), (status = 404, body = tinhso_http::error::Problem)))]
pub(crate) async fn api_verify(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<VerificationDoc>, ApiError> {
    let r = results::by_id(&state.db, &id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let v = results::verify(&state.db, &r).await?;
    let pades = match &r.pades_certificate_id {
        Some(_) => {
            let bytes = results::pdf(&state.files, &r).await?;
            let report =
                results::check_pades(&state.db, &bytes, &state.config.pades_tsa_trust).await?;
            serde_json::to_value(report).ok()
        }
        None => None,
    };
    Ok(Json(VerificationDoc {
        pades,
        valid: v.valid,
        agency_signature_ok: v.agency_signature_ok,
        signer_signature_ok: v.signer_signature_ok,
        revoked: v.revoked,
        revoked_at: v.revoked_at,
        revoked_reason: v.revoked_reason,
        problems_vi: v.problems.iter().map(|p| p.0.clone()).collect(),
        problems_en: v.problems.iter().map(|p| p.1.clone()).collect(),
        number: r.number,
        title: r.title,
        payload: v.payload.and_then(|p| serde_json::to_value(p).ok()),
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct LookupQuery {
    /// The dossier's lookup code (the applicant without signing in).
    #[serde(default)]
    lookup: String,
}

/// The applicant (lookup code or owner) or staff allowed to read the dossier.
async fn readable(
    state: &AppState,
    ctx: &ReqCtx,
    code: &str,
    lookup: &str,
) -> Result<Dossier, AppError> {
    if !lookup.is_empty() {
        return super::lookup_limit::track(state, &ctx.ip, code, lookup).await;
    }
    let p = ctx.principal()?;
    let d = dossier::get(&state.db, code)
        .await?
        .ok_or_else(AppError::not_found)?;
    if d.applicant_user_id.as_deref() == Some(p.user_id.as_str()) {
        return Ok(d);
    }
    if !p.can_somewhere(Permission::DossierRead) {
        return Err(AppError::not_found());
    }
    let scope = dossier::scope_of(&state.db, &d).await?;
    require(
        state,
        ctx,
        Permission::DossierRead,
        &scope,
        &format!("dossier:{code}"),
    )
    .await?;
    Ok(d)
}

/// A dossier's electronic result: its record, signatures and signed payload.
#[utoipa::path(get, path = "/api/v1/dossiers/{code}/result", tag = "services", params(("code" = String, Path), LookupQuery),
    responses((status = 200, body = ResultDoc), (status = 401, body = tinhso_http::error::Problem),
        (status = 404, body = tinhso_http::error::Problem)))]
pub(crate) async fn api_result(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    Query(q): Query<LookupQuery>,
) -> Result<Json<ResultDoc>, ApiError> {
    let d = readable(&state, &ctx, &code, &q.lookup).await?;
    let r = results::of_dossier(&state.db, &d.code)
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok(Json(r.into()))
}

/// The result's PDF (the applicant's download counts as delivery).
#[utoipa::path(get, path = "/api/v1/dossiers/{code}/result/pdf", tag = "services", params(("code" = String, Path), LookupQuery),
    responses((status = 200, description = "The signed PDF", content_type = "application/pdf"),
        (status = 404, body = tinhso_http::error::Problem)))]
pub(crate) async fn api_result_pdf(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    Query(q): Query<LookupQuery>,
) -> Result<Response, ApiError> {
    let d = readable(&state, &ctx, &code, &q.lookup).await?;
    let r = results::of_dossier(&state.db, &d.code)
        .await?
        .ok_or_else(AppError::not_found)?;
    let bytes = results::pdf(&state.files, &r).await?;
    let by_applicant = !q.lookup.is_empty()
        || ctx
            .principal
            .as_ref()
            .is_some_and(|p| d.applicant_user_id.as_deref() == Some(p.user_id.as_str()));
    if by_applicant {
        results::mark_downloaded(&state.db, &r).await?;
    }
    Ok(pdf_response(bytes, &file_name(&r), false))
}

#[derive(Deserialize, ToSchema)]
pub struct RevokeBody {
    /// Why the result is revoked (at least 5 characters).
    reason: String,
}

/// Revoke a dossier's result (the approving authority of its agency).
#[utoipa::path(post, path = "/api/v1/dossiers/{code}/result/revocation", tag = "services", params(("code" = String, Path)),
    request_body = RevokeBody,
    responses((status = 200, body = ResultDoc), (status = 403, body = tinhso_http::error::Problem),
        (status = 404, body = tinhso_http::error::Problem), (status = 409, body = tinhso_http::error::Problem),
        (status = 422, body = tinhso_http::error::Problem)))]
pub(crate) async fn api_revoke(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    tinhso_http::ApiJson(b): tinhso_http::ApiJson<RevokeBody>,
) -> Result<Json<ResultDoc>, ApiError> {
    office_dossier(&state, &ctx, &code, Permission::DossierApprove).await?;
    let p = ctx.principal()?;
    let r = results::revoke(&state.db, &ctx.audit(), &code, p, &b.reason).await?;
    Ok(Json(r.into()))
}

/// Check the PAdES signature embedded in a PDF (the raw file as the body; nothing is
/// stored): whether the byte range covers the whole file, the digest, the CMS signature, the
/// chain to the trust list, and who signed, when, with which certificate.
#[utoipa::path(post, path = "/api/v1/pades/verification", tag = "services",
    request_body(content = Vec<u8>, content_type = "application/pdf"),
    responses((status = 200, description = "The verdict (valid, present, covers_whole_file, digest_ok, signature_ok, trusted, certificate_valid_at_signing, signer, signing_time, problems)"),
        (status = 422, body = tinhso_http::error::Problem)))]
pub(crate) async fn api_pades(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<PadesReport>, ApiError> {
    if body.is_empty() {
        return Err(AppError::field(
            "body",
            Invalid::new(
                "file_missing",
                "Gửi tệp PDF cần kiểm tra trong thân yêu cầu",
                "Send the PDF to check as the request body",
            ),
        )
        .into());
    }
    Ok(Json(
        results::check_pades(&state.db, &body, &state.config.pades_tsa_trust).await?,
    ))
}

/// The certificate revocation lists (danh sách thu hồi chứng thư, CRL) the PAdES verifier
/// checks signers against, newest first: administrators (`agency_manage` over the province).
#[utoipa::path(get, path = "/api/v1/pades/crls", tag = "services",
    responses((status = 200, description = "The stored CRLs (id, issuer, fingerprint, this_update, next_update, revoked_count, source imported|fetched, created_at), newest first"),
        (status = 401, body = tinhso_http::error::Problem), (status = 403, body = tinhso_http::error::Problem)))]
pub(crate) async fn api_crls(
    State(state): State<AppState>,
    ctx: ReqCtx,
) -> Result<Json<Vec<crate::revocation::StoredCrl>>, ApiError> {
    require(
        &state,
        &ctx,
        Permission::AgencyManage,
        &tinhso_identity::ResourceScope::province(),
        "pades_crls",
    )
    .await?;
    Ok(Json(crate::revocation::list(&state.db).await?))
}

/// Import a CRL (nạp danh sách thu hồi; the file, DER or PEM, as the body): it must be signed
/// by a CA of the trust list or of an imported chain; the same CRL twice is refused; audited.
/// Administrators only (`agency_manage` over the province).
#[utoipa::path(post, path = "/api/v1/pades/crls", tag = "services",
    request_body(content = Vec<u8>, content_type = "application/pkix-crl"),
    responses((status = 201, description = "The CRL stored"),
        (status = 401, body = tinhso_http::error::Problem), (status = 403, body = tinhso_http::error::Problem),
        (status = 409, body = tinhso_http::error::Problem, description = "Imported already"),
        (status = 422, body = tinhso_http::error::Problem, description = "Not a CRL, or signed by no known CA")))]
pub(crate) async fn api_crl_import(
    State(state): State<AppState>,
    ctx: ReqCtx,
    body: Bytes,
) -> Result<(StatusCode, Json<crate::revocation::StoredCrl>), ApiError> {
    let p = ctx.principal()?;
    if body.is_empty() {
        return Err(AppError::field(
            "crl",
            Invalid::new(
                "file_missing",
                "Gửi tệp CRL (DER hoặc PEM) trong thân yêu cầu",
                "Send the CRL file (DER or PEM) as the request body",
            ),
        )
        .into());
    }
    let stored = crate::revocation::import(&state.db, &ctx.audit(), p, &body).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// The signed-in user's personal data store (kho dữ liệu): results and digitised papers.
#[utoipa::path(get, path = "/api/v1/me/documents", tag = "services",
    responses((status = 200, description = "Documents, newest first"), (status = 401, body = tinhso_http::error::Problem)))]
pub(crate) async fn api_documents(
    State(state): State<AppState>,
    ctx: ReqCtx,
) -> Result<Json<Vec<PersonalDocument>>, ApiError> {
    let p = ctx.principal()?;
    Ok(Json(
        results::personal_documents(&state.db, &p.user_id).await?,
    ))
}
