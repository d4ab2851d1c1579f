//! Pages and API of the report tasks (báo cáo định kỳ): the agency's task list
//! (`/nghiep-vu/bao-cao`), the recipient's inbox (`/nghiep-vu/bao-cao/hop-thu`), the report
//! form with its evidence, review box and version history (`/nghiep-vu/bao-cao/{id}`), and the
//! JSON API under `/api/v1/reports` and `/api/v1/report-regimes`.
//!
//! Access (deny by default, each route in [`RULES`], then one scope check): before approval a
//! report is seen only by staff (`BackOffice`) whose scope covers the reporting agency or the
//! recipient agency — a province-wide role covers both, as everywhere in the platform; once
//! approved, by every staff member, like other reported values. Saving a draft and attaching
//! evidence need `BackOffice` over the reporting agency; submitting needs `LeaderDashboard`
//! over it (the head signs the report, Decree 09/2019 art. 8); approving or returning needs
//! `LeaderDashboard` over the recipient.

use crate::period::Period;
use crate::regime_edit::{self, ElementInput, RegimeInput};
use crate::regimes::{self, ElementType, Regime};
use crate::reports::{
    self, AgencyAction, Entry, EntryInput, Evidence, ReviewAction, Task, TaskFilter, Version,
};
use askama::Template;
use axum::extract::{Form, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use tinhso_http::access::{Access, Rule};
use tinhso_http::context::{log_denial, require};
use tinhso_http::error::{ApiError, PageError, Problem};
use tinhso_http::layout::{attachment, local_time, render, Chrome};
use tinhso_http::{ApiJson, AppState, Lang, ReqCtx};
use tinhso_identity::{authorize, Permission, ResourceScope};
use tinhso_kernel::{AppError, ErrorCode, Invalid};
use tinhso_refdata::agencies;
use utoipa::{IntoParams, OpenApi, ToSchema};

/// (method, route template, rule) of every route of the report tasks.
pub const RULES: &[Rule] = {
    use Access::*;
    use Permission::*;
    &[
        ("GET", "/nghiep-vu/bao-cao", Perm(BackOffice)),
        ("GET", "/nghiep-vu/bao-cao/hop-thu", Perm(BackOffice)),
        // The report's own scope is checked inside (one check: reporter, recipient, approved).
        ("GET", "/nghiep-vu/bao-cao/{id}", Perm(BackOffice)),
        // Save: BackOffice over the reporting agency; submit: LeaderDashboard over it (inside).
        ("POST", "/nghiep-vu/bao-cao/{id}", Perm(BackOffice)),
        // LeaderDashboard over the recipient (inside).
        (
            "POST",
            "/nghiep-vu/bao-cao/{id}/duyet",
            Perm(LeaderDashboard),
        ),
        (
            "POST",
            "/nghiep-vu/bao-cao/{id}/minh-chung",
            Perm(BackOffice),
        ),
        (
            "GET",
            "/nghiep-vu/bao-cao/{id}/minh-chung/{seq}",
            Perm(BackOffice),
        ),
        ("GET", "/api/v1/report-regimes", Perm(BackOffice)),
        // Regimes created and edited in the platform: LeaderDashboard over the recipient
        // agency (and, for an edit, over the stored one) — checked inside.
        ("GET", "/nghiep-vu/che-do-bao-cao", Perm(BackOffice)),
        (
            "GET",
            "/nghiep-vu/che-do-bao-cao/moi",
            Perm(LeaderDashboard),
        ),
        (
            "POST",
            "/nghiep-vu/che-do-bao-cao/moi",
            Perm(LeaderDashboard),
        ),
        (
            "GET",
            "/nghiep-vu/che-do-bao-cao/{code}",
            Perm(LeaderDashboard),
        ),
        (
            "POST",
            "/nghiep-vu/che-do-bao-cao/{code}",
            Perm(LeaderDashboard),
        ),
        ("POST", "/api/v1/report-regimes", Perm(LeaderDashboard)),
        (
            "PUT",
            "/api/v1/report-regimes/{code}",
            Perm(LeaderDashboard),
        ),
        (
            "GET",
            "/api/v1/report-regimes/{code}/versions",
            Perm(BackOffice),
        ),
        ("GET", "/api/v1/reports", Perm(BackOffice)),
        ("GET", "/api/v1/reports/{id}", Perm(BackOffice)),
        ("POST", "/api/v1/reports/{id}/versions", Perm(BackOffice)),
        ("POST", "/api/v1/reports/{id}/review", Perm(LeaderDashboard)),
        ("POST", "/api/v1/reports/{id}/evidence", Perm(BackOffice)),
        (
            "GET",
            "/api/v1/reports/{id}/evidence/{seq}",
            Perm(BackOffice),
        ),
    ]
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/nghiep-vu/bao-cao", get(list_page))
        .route("/nghiep-vu/bao-cao/hop-thu", get(inbox_page))
        .route(
            "/nghiep-vu/bao-cao/{id}",
            get(report_page).post(report_post),
        )
        .route("/nghiep-vu/bao-cao/{id}/duyet", post(review_post))
        .route("/nghiep-vu/bao-cao/{id}/minh-chung", post(evidence_post))
        .route(
            "/nghiep-vu/bao-cao/{id}/minh-chung/{seq}",
            get(evidence_get),
        )
        .route(
            "/api/v1/report-regimes",
            get(api_regimes).post(api_regime_create),
        )
        .route("/api/v1/report-regimes/{code}", put(api_regime_edit))
        .route(
            "/api/v1/report-regimes/{code}/versions",
            get(api_regime_versions),
        )
        .route("/nghiep-vu/che-do-bao-cao", get(regimes_page))
        .route(
            "/nghiep-vu/che-do-bao-cao/moi",
            get(regime_new_page).post(regime_new_post),
        )
        .route(
            "/nghiep-vu/che-do-bao-cao/{code}",
            get(regime_edit_page).post(regime_edit_post),
        )
        .route("/api/v1/reports", get(api_list))
        .route("/api/v1/reports/{id}", get(api_get))
        .route("/api/v1/reports/{id}/versions", post(api_version))
        .route("/api/v1/reports/{id}/review", post(api_review))
        .route("/api/v1/reports/{id}/evidence", post(api_evidence))
        .route("/api/v1/reports/{id}/evidence/{seq}", get(evidence_get))
}

#[derive(OpenApi)]
#[openapi(
    paths(api_regimes, api_regime_create, api_regime_edit, api_regime_versions, api_list,
        api_get, api_version, api_review, api_evidence, evidence_get),
    components(schemas(Task, Version, Entry, EntryInput, Evidence, AgencyAction, ReviewAction,
        VersionInput, ReviewInput, Problem, RegimeInput, ElementInput, regimes::VersionInfo)),
    tags((name = "reports", description = "Reporting regimes (chế độ báo cáo) and report tasks: fill in, submit, approve or return, versions"))
)]
pub struct ReportsApiDoc;

// ---------------------------------------------------------------- access

/// Where the caller stands towards a report.
#[derive(Debug, Clone, Copy, Default)]
struct Seat {
    /// Staff over the reporting agency.
    reporter: bool,
    /// Staff over the recipient agency.
    recipient: bool,
}

/// Scopes of agencies, read once per request.
#[derive(Default)]
struct Scopes(HashMap<String, ResourceScope>);

impl Scopes {
    async fn of(&mut self, state: &AppState, code: &str) -> Result<ResourceScope, AppError> {
        if let Some(s) = self.0.get(code) {
            return Ok(s.clone());
        }
        let s = reports::agency_scope(&state.db, code).await?;
        self.0.insert(code.to_string(), s.clone());
        Ok(s)
    }

    async fn seat(&mut self, state: &AppState, ctx: &ReqCtx, t: &Task) -> Result<Seat, AppError> {
        let p = ctx.principal.as_ref();
        let rep = self.of(state, &t.agency_code).await?;
        let rec = self.of(state, &t.recipient_code).await?;
        Ok(Seat {
            reporter: reports::staff_over(p, &rep),
            recipient: reports::staff_over(p, &rec),
        })
    }
}

/// The task, if the caller may see it: the reporting agency's and the recipient's staff
/// ([`reports::staff_over`]), and every staff member once approved. Otherwise 403 (logged and
/// audited; 401 for nobody signed in) — or 404 when it does not exist.
async fn visible(state: &AppState, ctx: &ReqCtx, id: &str) -> Result<(Task, Seat), AppError> {
    let t = reports::get(&state.db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let seat = Scopes::default().seat(state, ctx, &t).await?;
    if seat.reporter || seat.recipient || t.status == "approved" {
        return Ok((t, seat));
    }
    log_denial(state, ctx, Permission::BackOffice, &format!("report:{id}")).await;
    Err(match ctx.principal {
        Some(_) => AppError::forbidden(),
        None => AppError::new(ErrorCode::Unauthenticated),
    })
}

async fn require_on(
    state: &AppState,
    ctx: &ReqCtx,
    perm: Permission,
    agency: &str,
    id: &str,
) -> Result<(), AppError> {
    let scope = reports::agency_scope(&state.db, agency).await?;
    require(state, ctx, perm, &scope, &format!("report:{id}")).await
}

/// The tasks of `f` the caller sees as reporter (`inbox` false) or as recipient.
async fn seen(
    state: &AppState,
    ctx: &ReqCtx,
    f: &TaskFilter,
    view: View,
) -> Result<Vec<Task>, AppError> {
    let mut scopes = Scopes::default();
    let mut out = Vec::new();
    for t in reports::list(&state.db, f).await? {
        let s = scopes.seat(state, ctx, &t).await?;
        let keep = match view {
            View::Mine => s.reporter,
            View::Inbox => s.recipient,
            View::Approved => t.status == "approved",
        };
        if keep {
            out.push(t);
        }
    }
    Ok(out)
}

fn today() -> chrono::NaiveDate {
    tinhso_services::dossier::today_local()
}

// ---------------------------------------------------------------- API

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum View {
    /// Reports of the agencies in my scope (default).
    #[default]
    Mine,
    /// Reports sent to the agencies in my scope.
    Inbox,
    /// Approved reports of every agency.
    Approved,
}

#[derive(Deserialize, IntoParams)]
struct ListQuery {
    /// `mine` (default: my agencies' reports), `inbox` (reports sent to my agencies),
    /// `approved` (every approved report).
    #[serde(default)]
    #[param(value_type = Option<String>)]
    view: View,
    regime: Option<String>,
    period: Option<String>,
    status: Option<String>,
    agency: Option<String>,
}

/// The imported reporting regimes: elements with their types and rules, reporting agencies,
/// recipient, frequency, deadline, template headings.
#[utoipa::path(get, path = "/api/v1/report-regimes", tag = "reports",
    responses((status = 200, description = "Every regime"), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn api_regimes(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(regimes::all(&state.db).await?).into_response())
}

/// Report tasks the caller may see, latest deadline first: each with its period, reporting
/// agency, recipient, deadline, status, latest version, `late` (a submission after the
/// deadline) and `escalated` (reported overdue to the recipient).
#[utoipa::path(get, path = "/api/v1/reports", tag = "reports", params(ListQuery),
    responses((status = 200, body = [Task]), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn api_list(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<Task>>, ApiError> {
    let f = TaskFilter {
        regime: q.regime,
        period: q.period,
        status: q.status,
        agency: q.agency,
        recipient: None,
    };
    Ok(Json(seen(&state, &ctx, &f, q.view).await?))
}

#[derive(Serialize)]
struct ReportOut {
    task: Task,
    regime: Regime,
    /// Live values pre-filling the elements (giá trị tự động), by element key.
    prefill: BTreeMap<String, f64>,
    versions: Vec<Version>,
    evidence: Vec<Evidence>,
}

/// One report: the task, its regime, the live pre-filled values, every version (oldest
/// first) and the evidence. Before approval only the reporting agency's and the recipient's
/// staff see it (403 otherwise).
#[utoipa::path(get, path = "/api/v1/reports/{id}", tag = "reports", params(("id" = String, Path)),
    responses((status = 200, description = "`task`, `regime`, `prefill`, `versions`, `evidence`"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn api_get(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (task, _) = visible(&state, &ctx, &id).await?;
    let regime = regimes::for_task(&state.db, &task)
        .await?
        .ok_or_else(AppError::not_found)?;
    let prefill = reports::prefill(&state.db, &regime, &task).await?;
    Ok(Json(ReportOut {
        versions: reports::versions(&state.db, &id).await?,
        evidence: reports::evidence(&state.db, &id).await?,
        task,
        regime,
        prefill,
    })
    .into_response())
}

/// A new version from the reporting agency.
#[derive(Debug, Deserialize, ToSchema)]
struct VersionInput {
    /// `save` (draft) or `submit`.
    action: AgencyAction,
    /// By element key.
    #[serde(default)]
    values: BTreeMap<String, EntryInput>,
}

/// Save a draft or submit the report (a new version either way; earlier ones stay). Values
/// are checked in full; refusals name the rule per element (`required` on submission,
/// `number`, `integer`, `min`, `max`, `boolean`, `length`, `override_reason`, `consistency`,
/// `unknown_element`) in Vietnamese and English, with 422 and nothing written. A submission
/// after the deadline is accepted with `late: true`. Saving needs `back_office` over the
/// reporting agency, submitting `leader_dashboard`.
#[utoipa::path(post, path = "/api/v1/reports/{id}/versions", tag = "reports", params(("id" = String, Path)),
    request_body = VersionInput,
    responses((status = 201, body = Version), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "Not editable in its status"),
        (status = 422, body = Problem)))]
async fn api_version(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<VersionInput>,
) -> Result<Response, ApiError> {
    let v = agency_do(&state, &ctx, &id, input.action, &input.values).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn agency_do(
    state: &AppState,
    ctx: &ReqCtx,
    id: &str,
    action: AgencyAction,
    values: &BTreeMap<String, EntryInput>,
) -> Result<Version, AppError> {
    let (task, _) = visible(state, ctx, id).await?;
    let perm = match action {
        AgencyAction::Save => Permission::BackOffice,
        AgencyAction::Submit => Permission::LeaderDashboard,
    };
    require_on(state, ctx, perm, &task.agency_code, id).await?;
    reports::agency_act(&state.db, &ctx.audit(), &task, action, values, today()).await
}

/// The recipient's decision.
#[derive(Debug, Deserialize, ToSchema)]
struct ReviewInput {
    /// `approve` or `return`.
    action: ReviewAction,
    /// Required to return.
    #[serde(default)]
    comment: String,
}

/// Approve or return a submitted report (a new version). Approval records every element
/// mapped to a reported indicator as the agency's value for the period. Needs
/// `leader_dashboard` over the recipient agency.
#[utoipa::path(post, path = "/api/v1/reports/{id}/review", tag = "reports", params(("id" = String, Path)),
    request_body = ReviewInput,
    responses((status = 201, body = Version), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "Not submitted"),
        (status = 422, body = Problem)))]
async fn api_review(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ReviewInput>,
) -> Result<Response, ApiError> {
    let v = review_do(&state, &ctx, &id, input.action, &input.comment).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn review_do(
    state: &AppState,
    ctx: &ReqCtx,
    id: &str,
    action: ReviewAction,
    comment: &str,
) -> Result<Version, AppError> {
    let (task, _) = visible(state, ctx, id).await?;
    require_on(
        state,
        ctx,
        Permission::LeaderDashboard,
        &task.recipient_code,
        id,
    )
    .await?;
    reports::review(&state.db, &ctx.audit(), &task, action, comment).await
}

/// Multipart upload (`file`).
#[derive(ToSchema)]
#[allow(dead_code)]
struct EvidenceUpload {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Attach evidence (PDF, JPEG or PNG, read from the bytes; at most 10 MB) to a report the
/// agency may still edit. Needs `back_office` over the reporting agency.
#[utoipa::path(post, path = "/api/v1/reports/{id}/evidence", tag = "reports", params(("id" = String, Path)),
    request_body(content = EvidenceUpload, content_type = "multipart/form-data"),
    responses((status = 201, body = Evidence), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem),
        (status = 422, body = Problem, description = "Empty file or a type other than PDF, JPEG, PNG")))]
async fn api_evidence(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(id): Path<String>,
    m: Multipart,
) -> Result<Response, ApiError> {
    let e = evidence_do(&state, &ctx, &id, m).await?;
    Ok((StatusCode::CREATED, Json(e)).into_response())
}

async fn evidence_do(
    state: &AppState,
    ctx: &ReqCtx,
    id: &str,
    mut m: Multipart,
) -> Result<Evidence, AppError> {
    let (task, _) = visible(state, ctx, id).await?;
    require_on(state, ctx, Permission::BackOffice, &task.agency_code, id).await?;
    let bad = |e: axum::extract::multipart::MultipartError| -> AppError {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::new(ErrorCode::PayloadTooLarge)
        } else {
            AppError::new(ErrorCode::BadRequest).with_detail(
                format!("Nội dung multipart không hợp lệ: {}", e.body_text()),
                format!("Invalid multipart body: {}", e.body_text()),
            )
        }
    };
    let mut file = None;
    while let Some(field) = m.next_field().await.map_err(bad)? {
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or_default().to_string();
            file = Some((name, field.bytes().await.map_err(bad)?));
        }
    }
    let Some((name, bytes)) = file else {
        return Err(AppError::field(
            "file",
            Invalid::new(
                "required",
                "Thiếu tệp minh chứng",
                "The evidence file is missing",
            ),
        ));
    };
    reports::attach(&state.db, &state.files, &ctx.audit(), &task, &name, &bytes).await
}

/// Download one evidence file of a report the caller may see.
#[utoipa::path(get, path = "/api/v1/reports/{id}/evidence/{seq}", tag = "reports",
    params(("id" = String, Path), ("seq" = i64, Path)),
    responses((status = 200, description = "The file"), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn evidence_get(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path((id, seq)): Path<(String, i64)>,
) -> Result<Response, ApiError> {
    let (task, _) = visible(&state, &ctx, &id).await?;
    let e = reports::evidence(&state.db, &task.id)
        .await?
        .into_iter()
        .find(|e| e.seq == seq)
        .ok_or_else(AppError::not_found)?;
    let bytes = state.files.get(&e.sha256).await?;
    Ok(attachment(&e.file_name, &e.media_type, bytes))
}

// ---------------------------------------------------------------- pages

struct ListRow {
    id: String,
    regime: String,
    period: String,
    agency: String,
    due: String,
    status: String,
    status_class: &'static str,
    late: bool,
    overdue: bool,
    escalated: bool,
}

#[derive(Template)]
#[template(path = "reports_list.html")]
struct ListPage {
    c: Chrome,
    inbox: bool,
    rows: Vec<ListRow>,
    /// (code, label, selected) of the status filter.
    statuses: Vec<(String, String, bool)>,
}

fn dmy(ymd: &str) -> String {
    chrono::NaiveDate::parse_from_str(ymd, "%Y-%m-%d")
        .map(|d| d.format("%d/%m/%Y").to_string())
        .unwrap_or_else(|_| ymd.to_string())
}

fn status_label(s: &str, lang: Lang) -> String {
    let en = match s {
        "open" => "not started",
        "draft" => "draft",
        "submitted" => "submitted, awaiting review",
        "returned" => "returned",
        "approved" => "approved",
        _ => "unknown",
    };
    lang.s(reports::status_vi(s), en).to_string()
}

fn status_class(s: &str) -> &'static str {
    match s {
        "approved" => "ok",
        "submitted" => "warn",
        "returned" => "bad",
        _ => "",
    }
}

fn period_label(p: &str, lang: Lang) -> String {
    Period::parse(p).map_or(p.to_string(), |p| {
        let (vi, en) = p.label();
        lang.s(&vi, &en).to_string()
    })
}

/// Agency names, read once per page.
#[derive(Default)]
struct Names(HashMap<String, String>);

impl Names {
    async fn of(&mut self, state: &AppState, code: &str) -> Result<String, AppError> {
        if let Some(n) = self.0.get(code) {
            return Ok(n.clone());
        }
        let n = agencies::get(&state.db, code)
            .await?
            .map_or_else(|| code.to_string(), |a| a.name);
        self.0.insert(code.to_string(), n.clone());
        Ok(n)
    }
}

#[derive(Deserialize)]
struct ListPageQuery {
    trang_thai: Option<String>,
}

async fn list_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<ListPageQuery>,
) -> Result<Response, PageError> {
    list(&state, &ctx, View::Mine, q.trang_thai).await
}

async fn inbox_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<ListPageQuery>,
) -> Result<Response, PageError> {
    list(&state, &ctx, View::Inbox, q.trang_thai).await
}

async fn list(
    state: &AppState,
    ctx: &ReqCtx,
    view: View,
    status: Option<String>,
) -> Result<Response, PageError> {
    let lang = ctx.lang;
    let run = async {
        let f = TaskFilter {
            status: status.clone(),
            ..Default::default()
        };
        let tasks = seen(state, ctx, &f, view).await?;
        let mut names = Names::default();
        let mut regime_names: HashMap<String, String> = HashMap::new();
        for r in regimes::all(&state.db).await? {
            regime_names.insert(r.code.clone(), lang.s(&r.name_vi, &r.name_en).to_string());
        }
        let today = today();
        let mut rows = Vec::new();
        for t in tasks {
            rows.push(ListRow {
                regime: regime_names
                    .get(&t.regime_code)
                    .cloned()
                    .unwrap_or_default(),
                period: period_label(&t.period, lang),
                agency: names.of(state, &t.agency_code).await?,
                due: dmy(&t.due_date),
                status: status_label(&t.status, lang),
                status_class: status_class(&t.status),
                late: t.late,
                overdue: t.overdue(today),
                escalated: t.escalated,
                id: t.id,
            });
        }
        Ok::<_, AppError>(rows)
    };
    let rows = run.await.map_err(|e| ctx.page_err(e))?;
    let page = ListPage {
        c: Chrome::of(ctx),
        inbox: view == View::Inbox,
        rows,
        statuses: ["open", "draft", "submitted", "returned", "approved"]
            .iter()
            .map(|s| {
                (
                    s.to_string(),
                    status_label(s, lang),
                    status.as_deref() == Some(*s),
                )
            })
            .collect(),
    };
    Ok(render(&page))
}

struct FieldView {
    key: String,
    name: String,
    unit: String,
    required: bool,
    is_text: bool,
    is_bool: bool,
    value: String,
    auto: String,
    reason: String,
    error: String,
}

struct HistView {
    version: i64,
    action: String,
    status: String,
    actor: String,
    at: String,
    late: bool,
    comment: String,
    /// (element, before, after).
    changes: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    c: Chrome,
    id: String,
    regime_name: String,
    regime_code: String,
    content: String,
    legal_basis: String,
    template: Vec<String>,
    period: String,
    agency: String,
    recipient: String,
    due: String,
    status: String,
    status_class: &'static str,
    late: bool,
    overdue: bool,
    escalated: bool,
    fields: Vec<FieldView>,
    errors: Vec<(String, String)>,
    general: String,
    saved: String,
    can_edit: bool,
    can_submit: bool,
    can_review: bool,
    review_comment: String,
    last_comment: String,
    evidence: Vec<(i64, String, String, String)>,
    history: Vec<HistView>,
}

/// An element's value as shown (numbers with a decimal comma in Vietnamese, có/không).
pub(crate) fn show(v: &Value, lang: Lang) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(true) => lang.s("có", "yes").to_string(),
        Value::Bool(false) => lang.s("không", "no").to_string(),
        Value::Number(n) => {
            let s = n.as_f64().map_or_else(
                || n.to_string(),
                |x| {
                    if x.fract() == 0.0 {
                        format!("{x:.0}")
                    } else {
                        format!("{x}")
                    }
                },
            );
            match lang {
                Lang::Vi => s.replace('.', ","),
                Lang::En => s,
            }
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What a version did (lưu nháp, gửi, trả lại, duyệt).
pub(crate) fn action_label(a: &str, lang: Lang) -> String {
    match a {
        "save" => lang.s("Lưu nháp", "Saved as draft"),
        "submit" => lang.s("Gửi báo cáo", "Submitted"),
        "return" => lang.s("Trả lại", "Returned"),
        "approve" => lang.s("Duyệt", "Approved"),
        _ => a,
    }
    .to_string()
}

/// What the page shows besides the stored report: the form as entered and the refusals.
#[derive(Default)]
struct Shown {
    entered: Option<BTreeMap<String, EntryInput>>,
    error: Option<AppError>,
    saved: String,
    comment: String,
}

async fn page(
    state: &AppState,
    ctx: &ReqCtx,
    id: &str,
    shown: Shown,
    status: StatusCode,
) -> Result<Response, PageError> {
    let lang = ctx.lang;
    let run = async {
        let (task, seat) = visible(state, ctx, id).await?;
        let regime = regimes::for_task(&state.db, &task)
            .await?
            .ok_or_else(AppError::not_found)?;
        let auto = reports::prefill(&state.db, &regime, &task).await?;
        let versions = reports::versions(&state.db, id).await?;
        let last = versions.last();
        let p = ctx.principal.as_ref();
        let rep = reports::agency_scope(&state.db, &task.agency_code).await?;
        let rec = reports::agency_scope(&state.db, &task.recipient_code).await?;
        let (errors, general) = shown
            .error
            .as_ref()
            .map(|e| crate::web::error_parts(e, lang))
            .unwrap_or_default();
        let mut fields = Vec::new();
        for e in &regime.elements {
            let auto_v = auto.get(&e.key).copied();
            let (value, reason) = match (&shown.entered, last.and_then(|l| l.values.get(&e.key))) {
                (Some(m), _) => m.get(&e.key).map_or((String::new(), String::new()), |g| {
                    (show(&g.value, Lang::Vi), g.reason.clone())
                }),
                (None, Some(stored)) => (show(&stored.value, lang), stored.reason.clone()),
                (None, None) => (
                    auto_v
                        .map(|a| show(&Value::from(a), lang))
                        .unwrap_or_default(),
                    String::new(),
                ),
            };
            let error = errors
                .iter()
                .filter(|(f, _)| f == &e.key)
                .map(|(_, m)| m.clone())
                .collect::<Vec<_>>()
                .join(" ");
            fields.push(FieldView {
                key: e.key.clone(),
                name: lang.s(&e.name_vi, &e.name_en).to_string(),
                unit: e.unit.clone(),
                required: e.required,
                is_text: e.kind == ElementType::Text,
                is_bool: e.kind == ElementType::Boolean,
                value,
                auto: auto_v
                    .map(|a| show(&Value::from(a), lang))
                    .unwrap_or_default(),
                reason,
                error,
            });
        }
        let mut names = Names::default();
        let mut history = Vec::new();
        let mut before: Option<&BTreeMap<String, Entry>> = None;
        for v in &versions {
            let changes = reports::changes(before, &v.values)
                .into_iter()
                .map(|(k, a, b)| {
                    let name = regime
                        .element(&k)
                        .map_or(k.clone(), |e| lang.s(&e.name_vi, &e.name_en).to_string());
                    (name, show(&a, lang), show(&b, lang))
                })
                .collect();
            history.push(HistView {
                version: v.version,
                action: action_label(&v.action, lang),
                status: status_label(&v.status, lang),
                actor: v.actor.clone(),
                at: local_time(v.at),
                late: v.late,
                comment: v.comment.clone(),
                changes,
            });
            before = Some(&v.values);
        }
        history.reverse();
        let evidence = reports::evidence(&state.db, id)
            .await?
            .into_iter()
            .map(|e| {
                (
                    e.seq,
                    e.file_name,
                    e.media_type,
                    format!("{} KB", (e.size + 1023) / 1024),
                )
            })
            .collect();
        let last_comment = versions
            .iter()
            .rev()
            .find(|v| v.action == "return")
            .filter(|_| task.status == "returned")
            .map(|v| v.comment.clone())
            .unwrap_or_default();
        Ok::<_, AppError>(ReportPage {
            c: Chrome::of(ctx),
            id: task.id.clone(),
            regime_name: lang.s(&regime.name_vi, &regime.name_en).to_string(),
            regime_code: regime.code.clone(),
            content: regime.content.clone(),
            legal_basis: regime.legal_basis.clone(),
            template: regime.template.clone(),
            period: period_label(&task.period, lang),
            agency: names.of(state, &task.agency_code).await?,
            recipient: names.of(state, &task.recipient_code).await?,
            due: dmy(&task.due_date),
            status: status_label(&task.status, lang),
            status_class: status_class(&task.status),
            late: task.late,
            overdue: task.overdue(today()),
            escalated: task.escalated,
            fields,
            errors,
            general,
            saved: shown.saved,
            can_edit: seat.reporter && task.editable(),
            can_submit: task.editable() && authorize(p, Permission::LeaderDashboard, &rep).is_ok(),
            can_review: task.status == "submitted"
                && authorize(p, Permission::LeaderDashboard, &rec).is_ok(),
            review_comment: shown.comment,
            last_comment,
            evidence,
            history,
        })
    };
    let page = run.await.map_err(|e| ctx.page_err(e))?;
    Ok((status, render(&page)).into_response())
}

#[derive(Deserialize)]
struct ReportPageQuery {
    da_ghi: Option<String>,
}

async fn report_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(id): Path<String>,
    Query(q): Query<ReportPageQuery>,
) -> Result<Response, PageError> {
    let saved = match q.da_ghi.as_deref() {
        Some("luu") => ctx.lang.s("Đã lưu nháp.", "Draft saved."),
        Some("gui") => ctx.lang.s("Đã gửi báo cáo.", "Report submitted."),
        Some("duyet") => ctx.lang.s("Đã duyệt báo cáo.", "Report approved."),
        Some("tra-lai") => ctx.lang.s("Đã trả lại báo cáo.", "Report returned."),
        Some("minh-chung") => ctx.lang.s("Đã đính kèm minh chứng.", "Evidence attached."),
        _ => "",
    };
    let shown = Shown {
        saved: saved.to_string(),
        ..Default::default()
    };
    page(&state, &ctx, &id, shown, StatusCode::OK).await
}

/// Refusals re-show the page with their messages (422, 409, 413); a denial is the error page.
async fn after(
    state: &AppState,
    ctx: &ReqCtx,
    id: &str,
    result: Result<&'static str, AppError>,
    shown: Shown,
) -> Result<Response, PageError> {
    match result {
        Ok(done) => {
            Ok(Redirect::to(&format!("/nghiep-vu/bao-cao/{id}?da_ghi={done}")).into_response())
        }
        Err(e)
            if matches!(
                e.code,
                ErrorCode::ValidationFailed | ErrorCode::Conflict | ErrorCode::PayloadTooLarge
            ) =>
        {
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            page(
                state,
                ctx,
                id,
                Shown {
                    error: Some(e),
                    ..shown
                },
                status,
            )
            .await
        }
        Err(e) => Err(ctx.page_err(e)),
    }
}

/// The report form: `v_<element>` values, `r_<element>` reasons, `action` = `luu` | `gui`.
async fn report_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let mut values: BTreeMap<String, EntryInput> = BTreeMap::new();
    let mut action = AgencyAction::Save;
    for (k, v) in pairs {
        if let Some(key) = k.strip_prefix("v_") {
            values.entry(key.to_string()).or_default().value = Value::String(v);
        } else if let Some(key) = k.strip_prefix("r_") {
            values.entry(key.to_string()).or_default().reason = v;
        } else if k == "action" && v == "gui" {
            action = AgencyAction::Submit;
        }
    }
    let result = agency_do(&state, &ctx, &id, action, &values)
        .await
        .map(|_| match action {
            AgencyAction::Save => "luu",
            AgencyAction::Submit => "gui",
        });
    let shown = Shown {
        entered: Some(values),
        ..Default::default()
    };
    after(&state, &ctx, &id, result, shown).await
}

#[derive(Deserialize)]
struct ReviewForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    comment: String,
}

async fn review_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(id): Path<String>,
    Form(f): Form<ReviewForm>,
) -> Result<Response, PageError> {
    let action = if f.action == "duyet" {
        ReviewAction::Approve
    } else {
        ReviewAction::Return
    };
    let result = review_do(&state, &ctx, &id, action, &f.comment)
        .await
        .map(|_| match action {
            ReviewAction::Approve => "duyet",
            ReviewAction::Return => "tra-lai",
        });
    let shown = Shown {
        comment: f.comment,
        ..Default::default()
    };
    after(&state, &ctx, &id, result, shown).await
}

async fn evidence_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(id): Path<String>,
    m: Multipart,
) -> Result<Response, PageError> {
    let result = evidence_do(&state, &ctx, &id, m)
        .await
        .map(|_| "minh-chung");
    after(&state, &ctx, &id, result, Shown::default()).await
}

// ---------------------------------------------------------------- regimes edited in the platform

/// Who may create or edit a regime: the leaders (`LeaderDashboard`) of its recipient agency —
/// the ones who approve its reports — and province-wide roles (the administrator). An edit
/// also needs that over the recipient stored before it.
async fn require_regime(
    state: &AppState,
    ctx: &ReqCtx,
    recipient: &str,
    code: &str,
) -> Result<(), AppError> {
    let scope = reports::agency_scope(&state.db, recipient).await?;
    require(
        state,
        ctx,
        Permission::LeaderDashboard,
        &scope,
        &format!("report_regime:{code}"),
    )
    .await
}

/// Check, authorize over the checked recipient, then save (a new regime or a new version).
async fn regime_save(
    state: &AppState,
    ctx: &ReqCtx,
    input: &RegimeInput,
    editing: Option<&str>,
) -> Result<(Regime, regimes::Imported), AppError> {
    if let Some(code) = editing {
        let stored = regimes::get(&state.db, code)
            .await?
            .ok_or_else(AppError::not_found)?;
        require_regime(state, ctx, &stored.recipient, code).await?;
    }
    let r = regime_edit::prepare(&state.db, input, editing).await?;
    require_regime(state, ctx, &r.recipient, &r.code).await?;
    let done = regimes::import(&state.db, &ctx.audit(), &r).await?;
    let stored = regimes::get(&state.db, &r.code)
        .await?
        .ok_or_else(|| AppError::internal("regime just saved"))?;
    Ok((stored, done))
}

/// Create a reporting regime: the same checks as a regime file's import, each problem on its
/// field (`name_vi`, `elements.0.type`, `rules`, …). The regime is its version 1. Needs
/// `leader_dashboard` over the recipient agency.
#[utoipa::path(post, path = "/api/v1/report-regimes", tag = "reports", request_body = RegimeInput,
    responses((status = 201, description = "The regime as stored, with its version"),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem, description = "Field errors, nothing written")))]
async fn api_regime_create(
    State(state): State<AppState>,
    ctx: ReqCtx,
    ApiJson(input): ApiJson<RegimeInput>,
) -> Result<Response, ApiError> {
    let (r, _) = regime_save(&state, &ctx, &input, None).await?;
    Ok((StatusCode::CREATED, Json(r)).into_response())
}

/// Edit a reporting regime: a new version (earlier ones are kept); report tasks already
/// opened keep the version they were opened with, periods opened later use the new one. The
/// same content again writes nothing (200 with the current version).
#[utoipa::path(put, path = "/api/v1/report-regimes/{code}", tag = "reports",
    params(("code" = String, Path, description = "Regime code")), request_body = RegimeInput,
    responses((status = 201, description = "A new version"), (status = 200, description = "Unchanged"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "Field errors, nothing written")))]
async fn api_regime_edit(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<RegimeInput>,
) -> Result<Response, ApiError> {
    let (r, done) = regime_save(&state, &ctx, &input, Some(&code)).await?;
    let status = match done {
        regimes::Imported::Written => StatusCode::CREATED,
        regimes::Imported::Unchanged => StatusCode::OK,
    };
    Ok((status, Json(r)).into_response())
}

/// Every version of a regime, oldest first: source (file, or `nền tảng` for an edit in the
/// platform), SHA-256, who wrote it, when.
#[utoipa::path(get, path = "/api/v1/report-regimes/{code}/versions", tag = "reports",
    params(("code" = String, Path, description = "Regime code")),
    responses((status = 200, body = [regimes::VersionInfo]), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn api_regime_versions(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let v = regimes::versions(&state.db, &code).await?;
    if v.is_empty() {
        return Err(AppError::not_found().into());
    }
    Ok(Json(v).into_response())
}

#[derive(Template)]
#[template(path = "regimes_list.html")]
struct RegimesPage {
    c: Chrome,
    /// (code, name, version, frequency)
    rows: Vec<(String, String, i64, String)>,
}

async fn regimes_page(State(state): State<AppState>, ctx: ReqCtx) -> Result<Response, PageError> {
    let run = async {
        let rows = regimes::all(&state.db)
            .await?
            .into_iter()
            .map(|r| {
                let f = r.frequency.as_str().to_string();
                (
                    r.code,
                    ctx.lang.s(&r.name_vi, &r.name_en).to_string(),
                    r.version,
                    f,
                )
            })
            .collect();
        Ok::<_, AppError>(RegimesPage {
            c: Chrome::of(&ctx),
            rows,
        })
    };
    let page = run.await.map_err(|e| ctx.page_err(e))?;
    Ok(render(&page))
}

/// One input of an element row: (id and name, label, value, message).
type FormInput = (String, String, String, String);

#[derive(Template)]
#[template(path = "regime_form.html")]
struct RegimeForm {
    c: Chrome,
    /// The regime's code when editing ("" for a new one).
    editing: String,
    version: i64,
    f: RegimeInput,
    /// The element rows: (number, required, inputs).
    rows: Vec<(usize, bool, Vec<FormInput>)>,
    /// (value, label, selected)
    frequencies: Vec<(&'static str, String, bool)>,
    /// Field → message in the page's language.
    errors: Vec<(String, String)>,
    general: String,
    saved: String,
}

impl RegimeForm {
    fn err(&self, field: &str) -> String {
        self.errors
            .iter()
            .filter(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Blank rows offered under the elements, to add some without scripts.
const BLANK_ROWS: usize = 3;

fn form_page(
    ctx: &ReqCtx,
    editing: &str,
    version: i64,
    mut f: RegimeInput,
    error: Option<AppError>,
    saved: &str,
) -> RegimeForm {
    f.elements
        .extend((0..BLANK_ROWS).map(|_| ElementInput::default()));
    let lang = ctx.lang;
    let (errors, general) = match error {
        Some(e) => (
            e.fields
                .iter()
                .map(|x| {
                    (
                        x.field.clone(),
                        lang.s(&x.message_vi, &x.message_en).to_string(),
                    )
                })
                .collect(),
            match (&e.detail_vi, &e.detail_en) {
                (Some(vi), Some(en)) => lang.s(vi, en).to_string(),
                _ => lang
                    .s("Chế độ báo cáo chưa được ghi", "The regime was not saved")
                    .to_string(),
            },
        ),
        None => (Vec::new(), String::new()),
    };
    let err = |field: &str| -> String {
        errors
            .iter()
            .filter(|(f, _)| f == field)
            .map(|(_, m): &(String, String)| m.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let rows = f
        .elements
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let inputs = [
                (
                    "key",
                    "Mã (chữ thường, chữ số, gạch dưới)",
                    "Key (a–z, 0–9, _)",
                    &e.key,
                ),
                ("vi", "Tên tiếng Việt", "Vietnamese name", &e.vi),
                ("en", "Tên tiếng Anh", "English name", &e.en),
                ("type", "Kiểu", "Type", &e.kind),
                ("unit", "Đơn vị", "Unit", &e.unit),
                ("min", "Tối thiểu", "Minimum", &e.min),
                ("max", "Tối đa", "Maximum", &e.max),
                (
                    "max_length",
                    "Độ dài tối đa (text)",
                    "Max length (text)",
                    &e.max_length,
                ),
                (
                    "prefill",
                    "Giá trị tự động (chỉ số trực tiếp)",
                    "Pre-filled from (live indicator)",
                    &e.prefill,
                ),
                (
                    "indicator",
                    "Ghi vào chỉ số báo cáo",
                    "Recorded as reported indicator",
                    &e.indicator,
                ),
                (
                    "combine",
                    "Cách tổng hợp của tỉnh",
                    "Province figure",
                    &e.combine,
                ),
                (
                    "numerator",
                    "Tử số (mã chỉ tiêu)",
                    "Numerator (element key)",
                    &e.numerator,
                ),
                (
                    "denominator",
                    "Mẫu số (mã chỉ tiêu)",
                    "Denominator (element key)",
                    &e.denominator,
                ),
            ]
            .into_iter()
            .map(|(name, vi, en, v)| {
                let id = format!("elements.{i}.{name}");
                let msg = err(&id);
                (id, lang.s(vi, en).to_string(), v.clone(), msg)
            })
            .collect();
            (i, e.required, inputs)
        })
        .collect();
    let frequencies = [
        ("month", "tháng", "month"),
        ("quarter", "quý", "quarter"),
        ("six_months", "6 tháng", "6 months"),
        ("nine_months", "9 tháng", "9 months"),
        ("year", "năm", "year"),
    ]
    .into_iter()
    .map(|(v, vi, en)| (v, lang.s(vi, en).to_string(), f.frequency == v))
    .collect();
    RegimeForm {
        c: Chrome::of(ctx),
        rows,
        frequencies,
        editing: editing.to_string(),
        version,
        f,
        errors,
        general,
        saved: saved.to_string(),
    }
}

/// The form's fields (`code`, …, `elements.<n>.<field>`, `rules`) as a regime input; the
/// checkboxes are present only when ticked.
fn form_input(pairs: Vec<(String, String)>) -> RegimeInput {
    let mut f = RegimeInput::default();
    let mut els: BTreeMap<usize, ElementInput> = BTreeMap::new();
    for (k, v) in pairs {
        if let Some(rest) = k.strip_prefix("elements.") {
            let Some((i, field)) = rest.split_once('.') else {
                continue;
            };
            let Ok(i) = i.parse::<usize>() else { continue };
            if i >= 200 {
                continue;
            }
            let e = els.entry(i).or_default();
            match field {
                "key" => e.key = v,
                "vi" => e.vi = v,
                "en" => e.en = v,
                "type" => e.kind = v,
                "unit" => e.unit = v,
                "required" => e.required = true,
                "min" => e.min = v,
                "max" => e.max = v,
                "max_length" => e.max_length = v,
                "prefill" => e.prefill = v,
                "indicator" => e.indicator = v,
                "combine" => e.combine = v,
                "numerator" => e.numerator = v,
                "denominator" => e.denominator = v,
                _ => {}
            }
            continue;
        }
        match k.as_str() {
            "code" => f.code = v,
            "name_vi" => f.name_vi = v,
            "name_en" => f.name_en = v,
            "content" => f.content = v,
            "legal_basis" => f.legal_basis = v,
            "frequency" => f.frequency = v,
            "recipient" => f.recipient = v,
            "reporters" => f.reporters = v,
            "every_commune" => f.every_commune = true,
            "deadline_working_days" => f.deadline_working_days = v,
            "deadline_date" => f.deadline_date = v,
            "template" => f.template = v,
            "rules" => f.rules = v,
            _ => {}
        }
    }
    // Rows keep their numbers (errors name them); missing numbers are blank rows.
    let n = els.keys().next_back().map_or(0, |m| m + 1);
    f.elements = (0..n).map(|i| els.remove(&i).unwrap_or_default()).collect();
    f
}

#[derive(Deserialize)]
struct RegimeQuery {
    da_ghi: Option<String>,
}

async fn regime_new_page(ctx: ReqCtx) -> Result<Response, PageError> {
    let f = RegimeInput {
        frequency: "year".into(),
        elements: Vec::new(),
        ..Default::default()
    };
    Ok(render(&form_page(&ctx, "", 0, f, None, "")))
}

async fn regime_edit_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    Query(q): Query<RegimeQuery>,
) -> Result<Response, PageError> {
    let run = async {
        let r = regimes::get(&state.db, &code)
            .await?
            .ok_or_else(AppError::not_found)?;
        require_regime(&state, &ctx, &r.recipient, &code).await?;
        let saved = match q.da_ghi.as_deref() {
            Some("moi") => ctx.lang.s(
                "Đã ghi phiên bản mới; kỳ báo cáo mở từ nay dùng phiên bản này.",
                "New version saved; periods opened from now on use it.",
            ),
            Some("khong-doi") => ctx.lang.s("Không có gì thay đổi.", "Nothing changed."),
            _ => "",
        };
        Ok::<_, AppError>(form_page(
            &ctx,
            &code,
            r.version,
            RegimeInput::from_regime(&r),
            None,
            saved,
        ))
    };
    let page = run.await.map_err(|e| ctx.page_err(e))?;
    Ok(render(&page))
}

/// After a form post: to the regime's page, or the form again with what was typed and the
/// messages (422, 409); a denial is the error page.
async fn regime_after(
    state: &AppState,
    ctx: &ReqCtx,
    editing: Option<&str>,
    input: RegimeInput,
    result: Result<(Regime, regimes::Imported), AppError>,
) -> Result<Response, PageError> {
    match result {
        Ok((r, done)) => {
            let flag = match done {
                regimes::Imported::Written => "moi",
                regimes::Imported::Unchanged => "khong-doi",
            };
            Ok(Redirect::to(&format!(
                "/nghiep-vu/che-do-bao-cao/{}?da_ghi={flag}",
                r.code
            ))
            .into_response())
        }
        Err(e) if matches!(e.code, ErrorCode::ValidationFailed | ErrorCode::Conflict) => {
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let version = match editing {
                Some(code) => regimes::get(&state.db, code)
                    .await
                    .map_err(|e| ctx.page_err(e))?
                    .map_or(0, |r| r.version),
                None => 0,
            };
            let page = form_page(ctx, editing.unwrap_or(""), version, input, Some(e), "");
            Ok((status, render(&page)).into_response())
        }
        Err(e) => Err(ctx.page_err(e)),
    }
}

async fn regime_new_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let input = form_input(pairs);
    let result = regime_save(&state, &ctx, &input, None).await;
    regime_after(&state, &ctx, None, input, result).await
}

async fn regime_edit_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Path(code): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let input = form_input(pairs);
    let result = regime_save(&state, &ctx, &input, Some(&code)).await;
    regime_after(&state, &ctx, Some(&code), input, result).await
}
