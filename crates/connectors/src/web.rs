//! Routes of the connectors: the admin page (`/quan-tri/ket-noi-quoc-gia`), the DVCQG sync
//! status and re-queue API, the officers' population verification API and the customs
//! decisions API, with their access rules. `tinhso-web` composes [`RULES`], [`routes`] and
//! [`ConnectorsApiDoc`].
//!
//! Administration needs `user_manage` over the whole province (like the exchange hub); the
//! population check needs `dossier_process` (officers receiving dossiers); customs decisions
//! need `border_inspect` over the trip's gate customs office (checked by the border crate).

use crate::sync::{self, SyncRate, SyncStatus};
use crate::{customs, population, runtime};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use tinhso_border::checks::ReleaseOutcome;
use tinhso_http::access::{Access, Rule};
use tinhso_http::error::{ApiError, Problem};
use tinhso_http::{context, ApiJson, AppState, ReqCtx};
use tinhso_identity::{Permission, ResourceScope};
use tinhso_kernel::error::Invalid;
use tinhso_kernel::{AppError, ErrorCode};
use tinhso_store::now_micros;
use utoipa::{IntoParams, OpenApi, ToSchema};

/// (method, route template, rule) of every route of the connectors.
pub const RULES: &[Rule] = {
    use Access::*;
    use Permission::*;
    &[
        ("GET", "/quan-tri/ket-noi-quoc-gia", Perm(UserManage)),
        (
            "GET",
            "/api/v1/connectors/dvcqg/sync-status",
            Perm(UserManage),
        ),
        ("POST", "/api/v1/connectors/dvcqg/resync", Perm(UserManage)),
        (
            "POST",
            "/api/v1/connectors/population/verifications",
            Perm(DossierProcess),
        ),
        (
            "POST",
            "/api/v1/connectors/customs/decisions",
            Perm(BorderInspect),
        ),
        // The dossier page's "check the population record" button (CSRF checked by the
        // context layer like every page form; the dossier's own scope checked inside).
        (
            "POST",
            "/nghiep-vu/ho-so/{code}/kiem-tra-dan-cu",
            Perm(DossierProcess),
        ),
        ("GET", "/api/v1/connectors/customs/queue", Perm(UserManage)),
    ]
};

/// The routes (behind the request-context layer).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/quan-tri/ket-noi-quoc-gia", get(page))
        .route("/api/v1/connectors/dvcqg/sync-status", get(api_sync_status))
        .route("/api/v1/connectors/dvcqg/resync", post(api_resync))
        .route(
            "/api/v1/connectors/population/verifications",
            post(api_verify),
        )
        .route("/api/v1/connectors/customs/decisions", post(api_customs))
        .route("/api/v1/connectors/customs/queue", get(api_customs_queue))
        .route(
            "/nghiep-vu/ho-so/{code}/kiem-tra-dan-cu",
            post(dossier_population_check),
        )
}

/// `POST /nghiep-vu/ho-so/{code}/kiem-tra-dan-cu`: the officer's button on a citizen's
/// dossier. Asks the population database with the applicant's CCCD and name (the purpose
/// `dossier:<code>`, audited like every verification) and goes back to the dossier page,
/// which shows the verdict from the audit entry (`tinhso_services::web`'s population check):
/// match, mismatch, not found or unavailable — never the record itself. The officer needs
/// `dossier_process` over the dossier's own agency.
async fn dossier_population_check(
    State(state): State<AppState>,
    ctx: ReqCtx,
    axum::extract::Path(code): axum::extract::Path<String>,
) -> Result<Response, tinhso_http::error::PageError> {
    let d = tinhso_services::dossier::get(&state.db, &code)
        .await
        .map_err(|e| ctx.page_err(e))?
        .ok_or_else(|| ctx.page_err(AppError::not_found()))?;
    let scope = tinhso_services::dossier::scope_of(&state.db, &d)
        .await
        .map_err(|e| ctx.page_err(e))?;
    context::require(
        &state,
        &ctx,
        Permission::DossierProcess,
        &scope,
        &format!("dossier:{code}"),
    )
    .await
    .map_err(|e| ctx.page_err(e))?;
    if d.applicant.kind != 0 {
        return Err(ctx.page_err(AppError::field(
            "applicant",
            Invalid::new(
                "not_citizen",
                "Người nộp là tổ chức: không đối chiếu CSDL dân cư",
                "The applicant is an organisation: there is no population record to check",
            ),
        )));
    }
    let client = runtime::get().and_then(|r| r.population.as_deref());
    let input = population::VerifyInput {
        cccd: d.applicant.id_number.clone(),
        full_name: d.applicant.name.clone(),
        date_of_birth: String::new(),
        purpose: format!("dossier:{}", d.code),
    };
    population::verify(&state.db, &ctx.audit(), client, &input)
        .await
        .map_err(|e| ctx.page_err(e))?;
    Ok(axum::response::Redirect::to(&format!(
        "/nghiep-vu/ho-so/{}#dan-cu",
        tinhso_http::layout::url_encode(&d.code)
    ))
    .into_response())
}

/// Customs' decision queue: the position read up to, how many were pulled, the last error,
/// and the newest decisions refused for good.
#[derive(Serialize, ToSchema)]
pub struct CustomsQueue {
    /// A queue is read (`TINHSO_CUSTOMS_URL`, or the simulator in the demo).
    pub configured: bool,
    pub simulated: bool,
    pub status: crate::customs_pull::Status,
    pub refused: Vec<crate::customs_pull::Refused>,
}

/// `GET /api/v1/connectors/customs/queue`: the state of the reading of customs' queue.
#[utoipa::path(get, path = "/api/v1/connectors/customs/queue", tag = "connectors",
    responses((status = 200, body = CustomsQueue), (status = 403, body = Problem)))]
async fn api_customs_queue(
    State(state): State<AppState>,
    ctx: ReqCtx,
) -> Result<Json<CustomsQueue>, ApiError> {
    admin(&state, &ctx, "customs_queue").await?;
    let rt = runtime::get();
    Ok(Json(CustomsQueue {
        configured: rt.is_some_and(|r| r.customs_queue),
        simulated: rt.is_some_and(|r| r.customs_simulated),
        status: crate::customs_pull::status(&state.db)
            .await
            .map_err(AppError::from)?,
        refused: crate::customs_pull::refused(&state.db, 50)
            .await
            .map_err(AppError::from)?,
    }))
}

async fn admin(state: &AppState, ctx: &ReqCtx, target: &str) -> Result<(), AppError> {
    context::require(
        state,
        ctx,
        Permission::UserManage,
        &ResourceScope::province(),
        target,
    )
    .await
}

/// The period of the sync rate.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PeriodQuery {
    /// First day (YYYY-MM-DD, Vietnam time); default 1 January of this year.
    pub from: Option<String>,
    /// Day after the last (YYYY-MM-DD); default tomorrow.
    pub to: Option<String>,
}

fn period(q: &PeriodQuery) -> Result<(NaiveDate, NaiveDate), AppError> {
    let today = tinhso_services::dossier::today_local();
    let day = |s: &Option<String>, field: &str, default: NaiveDate| match s.as_deref() {
        None | Some("") => Ok(default),
        Some(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
            AppError::field(
                field,
                Invalid::new("date", "Ngày theo dạng YYYY-MM-DD", "A date as YYYY-MM-DD"),
            )
        }),
    };
    let from = day(
        &q.from,
        "from",
        NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today),
    )?;
    let to = day(&q.to, "to", today + chrono::Duration::days(1))?;
    if to <= from {
        return Err(AppError::field(
            "to",
            Invalid::new(
                "period",
                "Ngày kết thúc phải sau ngày bắt đầu",
                "The end must be after the start",
            ),
        ));
    }
    Ok((from, to))
}

/// The sync status and rate.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncReport {
    /// Whether a DVCQG endpoint is configured.
    pub configured: bool,
    /// The endpoint is the local simulator (`tinhso serve --demo`), not the portal.
    pub simulated: bool,
    pub status: SyncStatus,
    pub rate: SyncRate,
}

async fn report(state: &AppState, q: &PeriodQuery) -> Result<SyncReport, AppError> {
    let (from, to) = period(q)?;
    let rt = runtime::get();
    Ok(SyncReport {
        configured: rt.is_some_and(|r| r.dvcqg.is_some()),
        simulated: rt.is_some_and(|r| r.dvcqg_simulated),
        status: sync::status(&state.db, 100).await?,
        rate: sync::sync_rate(&state.db, from, to, None).await?,
    })
}

/// `GET /api/v1/connectors/dvcqg/sync-status`: counts of the sync state, the failing
/// dossiers and the sync rate of a period.
#[utoipa::path(get, path = "/api/v1/connectors/dvcqg/sync-status", tag = "connectors", params(PeriodQuery),
    responses((status = 200, body = SyncReport), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn api_sync_status(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<PeriodQuery>,
) -> Result<Json<SyncReport>, ApiError> {
    admin(&state, &ctx, "dvcqg_sync").await?;
    Ok(Json(report(&state, &q).await?))
}

/// How many dossiers were re-queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct Requeued {
    pub requeued: u64,
}

/// `POST /api/v1/connectors/dvcqg/resync`: re-queue every failing dossier for an attempt now.
#[utoipa::path(post, path = "/api/v1/connectors/dvcqg/resync", tag = "connectors",
    responses((status = 200, body = Requeued), (status = 403, body = Problem)))]
async fn api_resync(
    State(state): State<AppState>,
    ctx: ReqCtx,
) -> Result<Json<Requeued>, ApiError> {
    admin(&state, &ctx, "dvcqg_sync").await?;
    let n = sync::requeue_failed(&state.db, &ctx.audit()).await?;
    Ok(Json(Requeued { requeued: n }))
}

/// `POST /api/v1/connectors/population/verifications`: verify a CCCD and a name (+ date of
/// birth) against the national population database. 200 with `match`, `mismatch` (and the
/// fields) or `not_found`; 503 when the database cannot be asked. Audited.
#[utoipa::path(post, path = "/api/v1/connectors/population/verifications", tag = "connectors",
    request_body = population::VerifyInput,
    responses((status = 200, body = population::Verification), (status = 403, body = Problem),
        (status = 422, body = Problem, description = "Field errors (cccd, full_name, date_of_birth, purpose)"),
        (status = 503, body = Problem, description = "The population database could not be asked")))]
async fn api_verify(
    State(state): State<AppState>,
    ctx: ReqCtx,
    ApiJson(input): ApiJson<population::VerifyInput>,
) -> Result<Json<population::Verification>, ApiError> {
    ctx.principal()?;
    let client = runtime::get().and_then(|r| r.population.as_deref());
    let v = population::verify(&state.db, &ctx.audit(), client, &input).await?;
    if let population::Verification::Unavailable { reason } = &v {
        return Err(AppError::new(ErrorCode::Unavailable)
            .with_detail(
                format!("Không kết nối được CSDL quốc gia về dân cư: {reason}"),
                format!("The national population database could not be asked: {reason}"),
            )
            .into());
    }
    Ok(Json(v))
}

/// `POST /api/v1/connectors/customs/decisions`: a release decision in the customs system's
/// format. 201 when recorded, 200 for a duplicate or superseded one (nothing written).
#[utoipa::path(post, path = "/api/v1/connectors/customs/decisions", tag = "connectors",
    request_body = customs::Message,
    responses((status = 201, body = ReleaseOutcome), (status = 200, body = ReleaseOutcome),
        (status = 403, body = Problem, description = "Not the customs office at the trip's gate (or above it)"),
        (status = 422, body = Problem, description = "Field errors (SoToKhai, MaQuyetDinh, NgayGioQuyetDinh, BienSoPhuongTien, MaChuyen, MaCongChuc): bad values, unknown trip, another vehicle or declaration")))]
async fn api_customs(
    State(state): State<AppState>,
    ctx: ReqCtx,
    ApiJson(m): ApiJson<customs::Message>,
) -> Result<(StatusCode, Json<ReleaseOutcome>), ApiError> {
    let principal = ctx.principal()?;
    let r = customs::receive(&state.db, &ctx.audit(), principal, &m, now_micros()).await?;
    let status = if r.outcome == "recorded" {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(r)))
}

struct FailingRow {
    code: String,
    agency: String,
    synced_status: String,
    attempts: i64,
    error: String,
}

#[derive(askama::Template)]
#[template(path = "connectors.html")]
struct ConnectorsPage {
    c: tinhso_http::layout::Chrome,
    dvcqg_configured: bool,
    dvcqg_simulated: bool,
    population_configured: bool,
    population_simulated: bool,
    tracked: i64,
    synced: i64,
    queued: i64,
    failing: i64,
    from: String,
    to: String,
    received: i64,
    rate_synced: i64,
    rate: String,
    failing_rows: Vec<FailingRow>,
}

/// `GET /quan-tri/ket-noi-quoc-gia`: the connectors, whether each is real or simulated, the
/// DVCQG sync state and rate, the failing dossiers.
async fn page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<PeriodQuery>,
) -> Result<Response, tinhso_http::PageError> {
    admin(&state, &ctx, "connectors")
        .await
        .map_err(|e| ctx.page_err(e))?;
    let r = report(&state, &q).await.map_err(|e| ctx.page_err(e))?;
    let rt = runtime::get();
    let page = ConnectorsPage {
        c: tinhso_http::layout::Chrome::of(&ctx),
        dvcqg_configured: r.configured,
        dvcqg_simulated: r.simulated,
        population_configured: rt.is_some_and(|x| x.population.is_some()),
        population_simulated: rt.is_some_and(|x| x.population_simulated),
        tracked: r.status.tracked,
        synced: r.status.synced,
        queued: r.status.queued,
        failing: r.status.failing,
        from: r.rate.from.clone(),
        to: r.rate.to.clone(),
        received: r.rate.received,
        rate_synced: r.rate.synced,
        rate: r
            .rate
            .rate_percent
            .map(|p| format!("{p:.1}%"))
            .unwrap_or_else(|| "—".into()),
        failing_rows: r
            .status
            .failing_dossiers
            .into_iter()
            .map(|f| FailingRow {
                code: f.dossier_code,
                agency: f.agency_code,
                synced_status: f
                    .synced_status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "—".into()),
                attempts: f.attempts,
                error: f.last_error.unwrap_or_default(),
            })
            .collect(),
    };
    Ok(tinhso_http::layout::render(&page))
}

#[derive(OpenApi)]
#[openapi(
    paths(api_sync_status, api_resync, api_verify, api_customs, api_customs_queue),
    components(schemas(SyncReport, SyncStatus, SyncRate, sync::FailingDossier, Requeued,
        population::VerifyInput, population::Verification, customs::Message, ReleaseOutcome, Problem,
        CustomsQueue, crate::customs_pull::Status, crate::customs_pull::Refused)),
    tags((name = "connectors", description = "Connectors to national systems: DVCQG dossier sync, population database verification, customs release decisions"))
)]
pub struct ConnectorsApiDoc;
