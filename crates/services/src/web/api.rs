//! The public-services JSON API (`/api/v1/procedures`, `/api/v1/dossiers`) and its OpenAPI
//! document, merged into the platform's by `tinhso-web`. Errors are problem details.

use super::portal::applicant_dossier;
use crate::catalogue::{self, Procedure};
use crate::dossier::{self, ActingAs, Dossier, Submission, TransitionInput};
use crate::results::Issuing;
use crate::status::{Action, Actor};
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tinhso_http::context::require;
use tinhso_http::error::{ApiError, Problem};
use tinhso_http::{ApiJson, AppState, ReqCtx};
use tinhso_identity::{authorize, Permission, ResourceScope};
use tinhso_kernel::{AppError, Invalid};
use utoipa::{IntoParams, OpenApi, ToSchema};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/procedures", get(list_procedures))
        .route(
            "/api/v1/procedures/{code}",
            get(get_procedure).put(put_procedure),
        )
        .route("/api/v1/dossiers", get(list_dossiers).post(submit_dossier))
        .route("/api/v1/dossiers/{code}", get(get_dossier))
        .route("/api/v1/dossiers/{code}/track", get(track_dossier))
        .route("/api/v1/dossiers/{code}/transitions", post(transition))
        .route("/api/v1/dossiers/{code}/files", post(upload_file))
        .route("/api/v1/dossiers/{code}/files/{sha256}", get(download_file))
}

/// The module's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        crate::web::indicators::dossier_indicators,
        list_procedures,
        get_procedure,
        put_procedure,
        submit_dossier,
        list_dossiers,
        get_dossier,
        track_dossier,
        transition,
        upload_file,
        download_file,
        crate::web::payment::create_payment,
        crate::web::payment::callback,
        crate::web::payment::reconciliation,
        crate::web::results::api_verify,
        crate::web::results::api_result,
        crate::web::results::api_result_pdf,
        crate::web::results::api_revoke,
        crate::web::results::api_documents,
        crate::web::results::api_pades,
        crate::web::results::api_crls,
        crate::web::results::api_crl_import
    ),
    components(schemas(SubmissionDoc, SubmissionWithFilesDoc, ApplicantDoc, TransitionBody, Problem, FileUploadDoc, AttachmentDoc,
        crate::payment::Payment, crate::payment::Callback, crate::payment::CallbackResult, crate::payment::Reconciliation,
        crate::web::results::ResultDoc, crate::web::results::VerificationDoc, crate::web::results::RevokeBody)),
    tags((name = "services", description = "Online public services: procedure catalogue, dossiers, one-stop workflow"))
)]
pub struct ApiDoc;

type ApiResult<T> = Result<Json<T>, ApiError>;

#[derive(Deserialize, IntoParams)]
struct ProcedureQuery {
    /// Words of the name, sector or code; diacritics optional.
    q: Option<String>,
    /// `xa` (commune level) or `tinh` (provincial level).
    level: Option<String>,
    /// Sector (lĩnh vực), exactly as listed.
    sector: Option<String>,
}

/// Search the procedure catalogue (best match first).
#[utoipa::path(get, path = "/api/v1/procedures", tag = "services", params(ProcedureQuery),
    responses((status = 200, description = "Procedures: code, version, name, sector, level, online_level")))]
async fn list_procedures(
    State(state): State<AppState>,
    Query(q): Query<ProcedureQuery>,
) -> ApiResult<Vec<catalogue::Summary>> {
    Ok(Json(
        catalogue::search(
            &state.db,
            q.q.as_deref().unwrap_or(""),
            q.level.as_deref().filter(|s| !s.is_empty()),
            q.sector.as_deref().filter(|s| !s.is_empty()),
        )
        .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
struct VersionQuery {
    /// An earlier version (what an older dossier was filed under); the current one otherwise.
    version: Option<i64>,
}

#[derive(Serialize)]
struct ProcedureOut {
    version: i64,
    active: bool,
    current: bool,
    procedure: Procedure,
}

/// One procedure: its current definition, or `?version=` an earlier one.
#[utoipa::path(get, path = "/api/v1/procedures/{code}", tag = "services", params(("code" = String, Path), VersionQuery),
    responses((status = 200, description = "The definition with its version"), (status = 404, body = Problem)))]
async fn get_procedure(
    State(state): State<AppState>,
    Path(code): Path<String>,
    Query(q): Query<VersionQuery>,
) -> ApiResult<ProcedureOut> {
    let current = catalogue::current(&state.db, &code)
        .await?
        .ok_or_else(AppError::not_found)?;
    match q.version {
        Some(v) if v != current.version => {
            let p = catalogue::version(&state.db, &code, v)
                .await?
                .ok_or_else(AppError::not_found)?;
            Ok(Json(ProcedureOut {
                version: v,
                active: current.active,
                current: false,
                procedure: p,
            }))
        }
        _ => Ok(Json(ProcedureOut {
            version: current.version,
            active: current.active,
            current: true,
            procedure: current.procedure,
        })),
    }
}

/// Replace a procedure's definition: stored as a new version (dossiers keep theirs).
#[utoipa::path(put, path = "/api/v1/procedures/{code}", tag = "services", params(("code" = String, Path)),
    request_body(content = Object, description = "The full definition, as returned by GET (`procedure`)"),
    responses((status = 200, description = "The new current version (unchanged when the definition is the same)"),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn put_procedure(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    ApiJson(p): ApiJson<Procedure>,
) -> ApiResult<ProcedureOut> {
    require(
        &state,
        &ctx,
        Permission::ProcedureManage,
        &ResourceScope::province(),
        &format!("procedure:{code}"),
    )
    .await?;
    if p.code != code {
        return Err(AppError::field(
            "code",
            Invalid::new(
                "code_mismatch",
                "Mã thủ tục trong nội dung phải trùng với mã trên địa chỉ",
                "The code in the body must be the code in the path",
            ),
        )
        .into());
    }
    let version = catalogue::update(&state.db, &ctx.audit(), &p).await?;
    let current = catalogue::current(&state.db, &code)
        .await?
        .ok_or_else(AppError::not_found)?;
    Ok(Json(ProcedureOut {
        version,
        active: current.active,
        current: true,
        procedure: current.procedure,
    }))
}

/// An applicant, as submitted (documentation of [`dossier::Applicant`]).
#[derive(ToSchema)]
#[allow(dead_code)]
struct ApplicantDoc {
    /// 0 citizen, 1 enterprise, 2 household business.
    kind: i64,
    name: String,
    /// CCCD for citizens, MST (tax code) for enterprises and household businesses.
    id_number: String,
    phone: String,
    email: Option<String>,
}

/// A submission (documentation of [`dossier::Submission`]).
#[derive(ToSchema)]
#[allow(dead_code)]
struct SubmissionDoc {
    /// e.g. `1.001193`.
    procedure_code: String,
    /// Commune code (5 digits) whose People's Committee handles a commune-level procedure.
    commune_code: Option<String>,
    applicant: ApplicantDoc,
    /// E-form values as typed, by field name.
    form: BTreeMap<String, String>,
    /// `online`; officers entering a paper dossier: `in_person` or `post`.
    channel: String,
    /// A retried submission with the same key returns the first dossier. The
    /// `Idempotency-Key` header takes precedence.
    idempotency_key: Option<String>,
}

/// A submission with its attachments in one request (`multipart/form-data`).
#[derive(ToSchema)]
#[allow(dead_code)]
struct SubmissionWithFilesDoc {
    /// The submission, the same JSON as an `application/json` body.
    dossier: SubmissionDoc,
    /// One part per file, named `files.` and the component's id (e.g.
    /// `files.giay_chung_sinh`), with a file name: PDF, JPEG or PNG (the type is read from the
    /// content), at most 10 MiB; a dossier's files total at most 50 MiB and 50 files. Online,
    /// every component the procedure requires as a copy must be given.
    #[schema(rename = "files.{component_id}", value_type = String, format = Binary)]
    files: Vec<u8>,
}

/// What the applicant keeps: form 01's content.
#[derive(Serialize)]
struct ReceiptOut {
    code: String,
    lookup_code: String,
    replayed: bool,
    status: i64,
    status_vi: String,
    status_en: String,
    agency_code: String,
    agency_name: String,
    procedure_code: String,
    procedure_name: String,
    submitted_at: i64,
    accepted_at: Option<i64>,
    due_date: Option<String>,
    fee_vnd: i64,
    receipt_url: String,
    tracking_url: String,
    /// The files attached to the dossier.
    files: Vec<dossier::Attachment>,
}

/// Submit a dossier (anonymous, signed in, or an officer's counter entry): as JSON, or as
/// `multipart/form-data` with its attachments in the same request — a `dossier` part (the same
/// JSON) and one part per file named `files.<component id>`. With files, the dossier and its
/// files are checked together (every problem at once, field by field) and written in one
/// transaction: on any error nothing is stored. Online, every component the procedure requires
/// as a copy must then be attached (a JSON submission may add its files afterwards, while it
/// awaits acceptance).
#[utoipa::path(post, path = "/api/v1/dossiers", tag = "services",
    request_body(content((SubmissionDoc = "application/json"), (SubmissionWithFilesDoc = "multipart/form-data"))),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry key; overrides the body's `idempotency_key`")),
    responses((status = 201, description = "Received: the receipt with its lookup code and the files attached"),
        (status = 200, description = "A replay of an earlier submission with the same key: the same receipt (nothing is written, no file stored again)"),
        (status = 400, body = Problem, description = "A malformed body or `dossier` part"),
        (status = 403, body = Problem), (status = 409, body = Problem, description = "Same key, different content"),
        (status = 413, body = Problem, description = "A file, or the dossier's files together, too large"),
        (status = 422, body = Problem, description = "Field errors: the applicant, the e-form, the commune, a file's type, an unknown or missing component")))]
async fn submit_dossier(
    State(state): State<AppState>,
    ctx: ReqCtx,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, ApiError> {
    // Its steps are timed while `tinhso bench services` measures (`crate::timing`).
    crate::timing::timed(submit_dossier_timed(state, ctx, headers, req)).await
}

/// [`submit_dossier`]'s work, inside its timing scope.
async fn submit_dossier_timed(
    state: AppState,
    ctx: ReqCtx,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, ApiError> {
    let multipart = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("multipart/form-data"));
    let (mut s, uploads) = if multipart {
        let m = axum::extract::Multipart::from_request(req, &state)
            .await
            .map_err(multipart_error)?;
        let (s, uploads) = submission_parts(m).await?;
        (s, Some(uploads))
    } else {
        let ApiJson(s) = ApiJson::<Submission>::from_request(req, &state).await?;
        (s, None)
    };
    if let Some(key) = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        s.idempotency_key = Some(key.to_string());
    }
    crate::timing::mark(crate::timing::Mark::Parsed);
    let (db, audit, by) = (&state.db, ctx.audit(), ctx.principal.as_ref());
    let r = match uploads {
        Some(u) => dossier::submit_with_files(db, &state.files, &audit, by, &s, &u)
            .await
            .map_err(upload_error)?,
        None => dossier::submit(db, &audit, by, &s).await?,
    };
    crate::timing::mark(crate::timing::Mark::Receipt);
    let d = &r.dossier;
    let out = ReceiptOut {
        code: d.code.clone(),
        lookup_code: r.lookup_code.clone(),
        replayed: r.replayed,
        status: d.status,
        status_vi: d.status_vi.clone(),
        status_en: d.status_en.clone(),
        agency_code: d.agency_code.clone(),
        agency_name: d.agency_name.clone(),
        procedure_code: d.procedure_code.clone(),
        procedure_name: d.procedure_name.clone(),
        submitted_at: d.submitted_at,
        accepted_at: d.accepted_at,
        due_date: d.due_date.clone(),
        fee_vnd: d.fee_vnd,
        receipt_url: super::view::receipt_path(&d.code, &r.lookup_code),
        tracking_url: super::view::tracking_path(&d.code, &r.lookup_code),
        files: r.files,
    };
    let status = if r.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(out)).into_response())
}

/// The most parts a submission with files may have: its `dossier` and a file per allowed file.
const MAX_SUBMISSION_PARTS: usize = dossier::MAX_DOSSIER_FILES as usize + 1;

/// A multipart body that cannot be read: 413 when over the upload limit, else 400.
fn multipart_error<E: MultipartFailure>(e: E) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::new(tinhso_kernel::ErrorCode::PayloadTooLarge).into()
    } else {
        AppError::new(tinhso_kernel::ErrorCode::BadRequest)
            .with_detail(
                format!("Nội dung multipart không hợp lệ: {}", e.body_text()),
                format!("Invalid multipart body: {}", e.body_text()),
            )
            .into()
    }
}

/// A multipart rejection or read error: its HTTP status and its text.
trait MultipartFailure {
    fn status(&self) -> StatusCode;
    fn body_text(&self) -> String;
}

impl MultipartFailure for axum::extract::multipart::MultipartError {
    fn status(&self) -> StatusCode {
        axum::extract::multipart::MultipartError::status(self)
    }
    fn body_text(&self) -> String {
        axum::extract::multipart::MultipartError::body_text(self)
    }
}

impl MultipartFailure for axum::extract::multipart::MultipartRejection {
    fn status(&self) -> StatusCode {
        axum::extract::multipart::MultipartRejection::status(self)
    }
    fn body_text(&self) -> String {
        axum::extract::multipart::MultipartRejection::body_text(self)
    }
}

/// The parts of a submission with files: the `dossier` JSON and the `files.<component>` files.
/// Any other part is a field error naming it (a file sent under another name would otherwise
/// be lost without a word).
async fn submission_parts(
    mut m: axum::extract::Multipart,
) -> Result<(Submission, Vec<dossier::Upload>), ApiError> {
    let mut submission = None;
    let mut uploads = Vec::new();
    let mut unknown = tinhso_kernel::FieldErrors::new();
    let mut parts = 0;
    while let Some(field) = m.next_field().await.map_err(multipart_error)? {
        parts += 1;
        if parts > MAX_SUBMISSION_PARTS {
            return Err(AppError::new(tinhso_kernel::ErrorCode::BadRequest)
                .with_detail(
                    format!("Tối đa {MAX_SUBMISSION_PARTS} phần: hồ sơ và các tệp"),
                    format!("At most {MAX_SUBMISSION_PARTS} parts: the dossier and its files"),
                )
                .into());
        }
        let name = field.name().unwrap_or_default().to_string();
        if name == "dossier" {
            let bytes = field.bytes().await.map_err(multipart_error)?;
            let s: Submission = serde_json::from_slice(&bytes).map_err(|e| {
                AppError::new(tinhso_kernel::ErrorCode::BadRequest).with_detail(
                    format!("Phần \"dossier\" không phải JSON hồ sơ hợp lệ: {e}"),
                    format!("The \"dossier\" part is not a valid submission JSON: {e}"),
                )
            })?;
            submission = Some(s);
        } else if let Some(component) = name.strip_prefix("files.") {
            let file_name = field.file_name().unwrap_or_default().to_string();
            let bytes = field.bytes().await.map_err(multipart_error)?;
            uploads.push(dossier::Upload {
                component_id: component.to_string(),
                file_name,
                bytes: bytes.to_vec(),
            });
        } else {
            unknown.push(
                &name,
                Invalid::new(
                    "part_unknown",
                    format!(
                        "Phần \"{name}\" không được nhận: gửi hồ sơ trong phần \"dossier\" và mỗi tệp trong phần \"files.<mã thành phần>\""
                    ),
                    format!(
                        "Part \"{name}\" is not accepted: send the dossier as part \"dossier\" and each file as part \"files.<component id>\""
                    ),
                ),
            );
        }
    }
    unknown.into_result()?;
    let s = submission.ok_or_else(|| {
        AppError::field(
            "dossier",
            Invalid::new(
                "required",
                "Thiếu phần \"dossier\" (nội dung hồ sơ dạng JSON)",
                "The \"dossier\" part (the submission as JSON) is missing",
            ),
        )
    })?;
    Ok((s, uploads))
}

#[derive(Deserialize, IntoParams)]
struct DossierQuery {
    /// National status code 1–10.
    status: Option<i64>,
    /// Only open dossiers past their promised date.
    #[serde(default)]
    overdue: bool,
    procedure_code: Option<String>,
    limit: Option<i64>,
    /// Paging: dossiers whose code sorts before this one.
    before_code: Option<String>,
}

/// Dossiers: staff see those of the agencies in their scope; citizens and enterprises their own.
#[utoipa::path(get, path = "/api/v1/dossiers", tag = "services", params(DossierQuery),
    responses((status = 200, description = "Dossiers, newest first"), (status = 401, body = Problem)))]
async fn list_dossiers(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<DossierQuery>,
) -> ApiResult<Vec<dossier::DossierRow>> {
    let p = ctx.principal()?;
    let mut f = dossier::DossierFilter {
        status: q.status,
        overdue: q.overdue,
        procedure_code: q.procedure_code,
        limit: q.limit,
        before_code: q.before_code,
        ..Default::default()
    };
    if p.can_somewhere(Permission::DossierRead) {
        f.agency_codes = super::readable_agencies(&state, p, Permission::DossierRead).await?;
    } else {
        f.applicant_user_id = Some(p.user_id.clone());
    }
    Ok(Json(dossier::list(&state.db, &f).await?))
}

/// One dossier with its history: staff within their scope, or its owner. For anyone else it
/// does not exist (404), except staff out of scope (403, audited).
#[utoipa::path(get, path = "/api/v1/dossiers/{code}", tag = "services", params(("code" = String, Path)),
    responses((status = 200, description = "The dossier"), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_dossier(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
) -> ApiResult<Dossier> {
    let p = ctx.principal()?;
    let d = dossier::get(&state.db, &code).await?;
    let Some(d) = d else {
        return Err(AppError::not_found().into());
    };
    if d.applicant_user_id.as_deref() == Some(p.user_id.as_str()) {
        return Ok(Json(d));
    }
    if !p.can_somewhere(Permission::DossierRead) {
        return Err(AppError::not_found().into());
    }
    let scope = dossier::scope_of(&state.db, &d).await?;
    require(
        &state,
        &ctx,
        Permission::DossierRead,
        &scope,
        &format!("dossier:{code}"),
    )
    .await?;
    Ok(Json(d))
}

#[derive(Deserialize, IntoParams)]
struct LookupQuery {
    /// The lookup code (mã tra cứu) printed on the receipt.
    #[serde(default)]
    lookup: String,
}

/// What the applicant sees when tracking.
#[derive(Serialize)]
struct PublicDossier {
    code: String,
    procedure_code: String,
    procedure_name: String,
    agency_code: String,
    agency_name: String,
    applicant_name: String,
    status: i64,
    status_vi: String,
    status_en: String,
    step: String,
    step_name: String,
    submitted_at: i64,
    accepted_at: Option<i64>,
    due_date: Option<String>,
    finished_at: Option<i64>,
    returned_at: Option<i64>,
    fee_vnd: i64,
    paid_vnd: i64,
    form: serde_json::Value,
    allowed_actions: Vec<String>,
    events: Vec<PublicEvent>,
}

#[derive(Serialize)]
struct PublicEvent {
    seq: i64,
    at: i64,
    action: String,
    from_status: i64,
    to_status: i64,
    step: String,
    actor_name: String,
    reason: String,
    signed: bool,
}

fn public_view(d: Dossier) -> PublicDossier {
    PublicDossier {
        allowed_actions: d
            .allowed_actions
            .iter()
            .filter(|a| Action::parse(a).is_some_and(|a| a.actor() == Actor::Applicant))
            .cloned()
            .collect(),
        events: d
            .events
            .into_iter()
            .map(|e| PublicEvent {
                seq: e.seq,
                at: e.at,
                action: e.action,
                from_status: e.from_status,
                to_status: e.to_status,
                step: e.step,
                actor_name: e.actor_name,
                reason: e.reason,
                signed: e.signed,
            })
            .collect(),
        code: d.code,
        procedure_code: d.procedure_code,
        procedure_name: d.procedure_name,
        agency_code: d.agency_code,
        agency_name: d.agency_name,
        applicant_name: d.applicant.name,
        status: d.status,
        status_vi: d.status_vi,
        status_en: d.status_en,
        step: d.step,
        step_name: d.step_name,
        submitted_at: d.submitted_at,
        accepted_at: d.accepted_at,
        due_date: d.due_date,
        finished_at: d.finished_at,
        returned_at: d.returned_at,
        fee_vnd: d.fee_vnd,
        paid_vnd: d.paid_vnd,
        form: d.form,
    }
}

/// Track a dossier with its lookup code. A wrong code answers exactly like an unknown dossier;
/// too many wrong codes for the dossier or from the client address answer 429 with
/// `Retry-After` (see `lookup_limit`).
#[utoipa::path(get, path = "/api/v1/dossiers/{code}/track", tag = "services", params(("code" = String, Path), LookupQuery),
    responses((status = 200, description = "Status, step, agency, promised date, history"), (status = 404, body = Problem),
        (status = 429, body = Problem, description = "Too many wrong lookup codes; see Retry-After")))]
async fn track_dossier(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    Query(q): Query<LookupQuery>,
) -> ApiResult<PublicDossier> {
    Ok(Json(public_view(
        super::lookup_limit::track(&state, &ctx.ip, &code, &q.lookup).await?,
    )))
}

/// A transition request.
#[derive(Deserialize, ToSchema)]
struct TransitionBody {
    /// accept, refuse, request_supplement, supplement, forward, request_payment,
    /// payment_received, approve, return_result, withdraw, stop.
    action: String,
    /// Required for refuse, request_supplement, withdraw and stop.
    #[serde(default)]
    reason: String,
    /// Supplement: e-form values to update.
    #[serde(default)]
    form: BTreeMap<String, String>,
}

/// Act on a dossier: staff of its agency (approve needs the approval right), or — for the
/// applicant's actions (withdraw, supplement) — its owner or the holder of its lookup code
/// (`?lookup=`). An illegal transition is a 409 naming the legal actions.
#[utoipa::path(post, path = "/api/v1/dossiers/{code}/transitions", tag = "services", params(("code" = String, Path), LookupQuery),
    request_body = TransitionBody,
    responses((status = 200, description = "The dossier after the transition"), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn transition(
    State(state): State<AppState>,
    ctx: ReqCtx,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<LookupQuery>,
    ApiJson(b): ApiJson<TransitionBody>,
) -> Result<Response, ApiError> {
    let input = TransitionInput {
        action: b.action,
        reason: b.reason,
        form: b.form,
    };
    let base = super::view::public_url(&state, &headers);
    let issuing = Issuing {
        files: &state.files,
        public_url: &base,
        tsa: state.config.pades_tsa.as_ref(),
    };
    let action = Action::parse(&input.action);
    let applicant_action = action.is_some_and(|a| a.actor() == Actor::Applicant);
    let staff = ctx
        .principal
        .as_ref()
        .filter(|p| p.can_somewhere(Permission::DossierProcess));
    // The applicant: with the lookup code, or signed in as the owner.
    if applicant_action && (!q.lookup.is_empty() || staff.is_none()) {
        if ctx.principal.is_none() && q.lookup.is_empty() {
            return Err(AppError::new(tinhso_kernel::ErrorCode::Unauthenticated).into());
        }
        let d = applicant_dossier(&state, &ctx, &code, &q.lookup).await?;
        let who = ActingAs::Applicant {
            principal: ctx.principal.as_ref(),
            name: &d.applicant.name,
        };
        let d = dossier::transition(&state.db, issuing, &ctx.audit(), &d.code, who, &input).await?;
        return Ok(Json(public_view(d)).into_response());
    }
    let Some(p) = staff else {
        return Err(match ctx.principal {
            None => AppError::new(tinhso_kernel::ErrorCode::Unauthenticated),
            // Not staff: an officer's action on a dossier they cannot see does not exist.
            Some(_) => AppError::not_found(),
        }
        .into());
    };
    let d = dossier::get(&state.db, &code)
        .await?
        .ok_or_else(AppError::not_found)?;
    let scope = dossier::scope_of(&state.db, &d).await?;
    let perm = if action == Some(Action::Approve) {
        Permission::DossierApprove
    } else {
        Permission::DossierProcess
    };
    if authorize(Some(p), perm, &scope).is_err() {
        require(&state, &ctx, perm, &scope, &format!("dossier:{code}")).await?;
    }
    let d = dossier::transition(
        &state.db,
        issuing,
        &ctx.audit(),
        &code,
        ActingAs::Staff(p),
        &input,
    )
    .await?;
    Ok(Json(d).into_response())
}

// ---------------------------------------------------------------- attachments

/// A file upload (`multipart/form-data`).
#[derive(ToSchema)]
#[allow(dead_code)]
struct FileUploadDoc {
    /// The component (thành phần hồ sơ) of the procedure, e.g. `giay_chung_sinh`.
    component_id: String,
    /// PDF, JPEG or PNG (the type is read from the content), at most 10 MiB; a dossier's files
    /// total at most 50 MiB.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// An attached file (documentation of [`dossier::Attachment`]).
#[derive(ToSchema)]
#[allow(dead_code)]
struct AttachmentDoc {
    component_id: String,
    component_name: String,
    /// The file's address: download it at `files/{sha256}`.
    sha256: String,
    /// `application/pdf`, `image/jpeg` or `image/png`, sniffed from the content.
    media_type: String,
    size: i64,
    file_name: String,
    /// Microseconds since the epoch.
    added_at: i64,
}

/// A domain error as the API answers it: a file (or the dossier's total) too large is a 413,
/// with the field errors kept.
fn upload_error(e: AppError) -> ApiError {
    let too_large = !e.fields.is_empty()
        && e.fields
            .iter()
            .all(|f| f.code == "file_too_large" || f.code == "files_total_too_large");
    if !too_large {
        return e.into();
    }
    let vi: Vec<String> = e.fields.iter().map(|f| f.message_vi.clone()).collect();
    let en: Vec<String> = e.fields.iter().map(|f| f.message_en.clone()).collect();
    let mut out = AppError::new(tinhso_kernel::ErrorCode::PayloadTooLarge)
        .with_detail(vi.join("; "), en.join("; "));
    out.fields = e.fields;
    out.into()
}

/// Attach a file to a component of a dossier: the applicant (`?lookup=` or signed in as the
/// owner) while the dossier is submitted (1) or answering a supplement request (5); officers
/// with the processing right on the dossier while it is open. The type is read from the
/// content: a file that is not PDF, JPEG or PNG is a 422 naming what it is.
#[utoipa::path(post, path = "/api/v1/dossiers/{code}/files", tag = "services", params(("code" = String, Path), LookupQuery),
    request_body(content = FileUploadDoc, content_type = "multipart/form-data"),
    responses((status = 201, description = "Attached (or already attached: the same attachment)", body = AttachmentDoc),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The dossier takes no files in its status"),
        (status = 413, body = Problem, description = "The file, or the dossier's total, is too large"),
        (status = 422, body = Problem, description = "Unknown component, empty file, or a type other than PDF, JPEG, PNG")))]
async fn upload_file(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    Query(q): Query<LookupQuery>,
    mut m: axum::extract::Multipart,
) -> Result<Response, ApiError> {
    let mut component_id = String::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    let bad = multipart_error::<axum::extract::multipart::MultipartError>;
    while let Some(field) = m.next_field().await.map_err(bad)? {
        match field.name().unwrap_or_default() {
            "component_id" => component_id = field.text().await.map_err(bad)?.trim().to_string(),
            "file" => {
                let name = field.file_name().unwrap_or_default().to_string();
                file = Some((name, field.bytes().await.map_err(bad)?.to_vec()));
            }
            _ => {}
        }
    }
    let Some((file_name, bytes)) = file else {
        return Err(AppError::field(
            "file",
            Invalid::new(
                "required",
                "Thiếu tệp (trường file)",
                "The file is missing (field `file`)",
            ),
        )
        .into());
    };
    let upload = dossier::Upload {
        component_id,
        file_name,
        bytes,
    };
    let staff = ctx
        .principal
        .as_ref()
        .filter(|p| p.can_somewhere(Permission::DossierProcess));
    let added = if !q.lookup.is_empty() || staff.is_none() {
        // The applicant: with the lookup code, or signed in as the owner.
        if ctx.principal.is_none() && q.lookup.is_empty() {
            return Err(AppError::new(tinhso_kernel::ErrorCode::Unauthenticated).into());
        }
        let d = applicant_dossier(&state, &ctx, &code, &q.lookup).await?;
        let who = ActingAs::Applicant {
            principal: ctx.principal.as_ref(),
            name: &d.applicant.name,
        };
        dossier::attach_to(&state.db, &state.files, &ctx.audit(), &d, who, &upload).await
    } else {
        let Some(p) = staff else {
            return Err(AppError::new(tinhso_kernel::ErrorCode::Unauthenticated).into());
        };
        let d = dossier::get(&state.db, &code)
            .await?
            .ok_or_else(AppError::not_found)?;
        let scope = dossier::scope_of(&state.db, &d).await?;
        require(
            &state,
            &ctx,
            Permission::DossierProcess,
            &scope,
            &format!("dossier:{code}"),
        )
        .await?;
        dossier::attach_to(
            &state.db,
            &state.files,
            &ctx.audit(),
            &d,
            ActingAs::Staff(p),
            &upload,
        )
        .await
    };
    let a = added.map_err(upload_error)?;
    Ok((StatusCode::CREATED, Json(a)).into_response())
}

/// Download an attached file: the applicant (`?lookup=` or signed in as the owner), or staff
/// who may read the dossier (403, audited, for staff out of scope). For anyone else the file
/// does not exist.
#[utoipa::path(get, path = "/api/v1/dossiers/{code}/files/{sha256}", tag = "services",
    params(("code" = String, Path), ("sha256" = String, Path, description = "The file's SHA-256 (hex)"), LookupQuery),
    responses((status = 200, description = "The file's bytes, as attachment, with its media type",
            content(("application/pdf"), ("image/jpeg"), ("image/png"))),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn download_file(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path((code, sha256)): Path<(String, String)>,
    Query(q): Query<LookupQuery>,
) -> Result<Response, ApiError> {
    let d = if !q.lookup.is_empty() {
        super::lookup_limit::track(&state, &ctx.ip, &code, &q.lookup).await?
    } else {
        let p = ctx.principal()?;
        let d = dossier::get(&state.db, &code)
            .await?
            .ok_or_else(AppError::not_found)?;
        if d.applicant_user_id.as_deref() != Some(p.user_id.as_str()) {
            if !p.can_somewhere(Permission::DossierRead) {
                return Err(AppError::not_found().into());
            }
            let scope = dossier::scope_of(&state.db, &d).await?;
            require(
                &state,
                &ctx,
                Permission::DossierRead,
                &scope,
                &format!("dossier:{code}"),
            )
            .await?;
        }
        d
    };
    let (a, bytes) = dossier::read_file(&state.db, &state.files, &d.code, &sha256).await?;
    Ok(tinhso_http::layout::attachment(
        &a.file_name,
        &a.media_type,
        bytes,
    ))
}
