//! Routes of the annual review (PDF and spreadsheet, `/nghiep-vu/muc-tieu/bao-cao-nam.pdf`
//! and `.xlsx`, and its JSON), the export for the Government reporting system
//! (`/api/v1/targets/export`) and the DTI self-assessment (`/nghiep-vu/dti`, `/api/v1/dti`).
//!
//! Reading needs `BackOffice` (aggregates of the province, as the targets page). Entering a
//! DTI value needs `LeaderDashboard` over the province: the self-assessment is the province's.

use crate::dti::{self, NewEntry};
use crate::engine::Registry;
use crate::export::{self, Export, PeriodOut, Province, Value as ExportValue};
use crate::reported::ReportedValue;
use crate::review::{self, Counts};
use askama::Template;
use axum::extract::Form;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tinhso_http::access::{Access, Rule};
use tinhso_http::context::require;
use tinhso_http::error::{ApiError, PageError, Problem};
use tinhso_http::layout::{render, Chrome};
use tinhso_http::{ApiJson, AppState, Lang, ReqCtx};
use tinhso_identity::{Permission, ResourceScope};
use tinhso_kernel::AppError;
use utoipa::{IntoParams, OpenApi};

/// (method, route template, rule) of every route of this part of the module.
pub const RULES: &[Rule] = {
    use Access::*;
    use Permission::*;
    &[
        (
            "GET",
            "/nghiep-vu/muc-tieu/bao-cao-nam.pdf",
            Perm(BackOffice),
        ),
        (
            "GET",
            "/nghiep-vu/muc-tieu/bao-cao-nam.xlsx",
            Perm(BackOffice),
        ),
        ("GET", "/api/v1/targets/annual-review", Perm(BackOffice)),
        ("GET", "/api/v1/targets/export", Perm(BackOffice)),
        ("GET", "/nghiep-vu/dti", Perm(BackOffice)),
        ("GET", "/api/v1/dti", Perm(BackOffice)),
        // Province-wide scope checked inside (require).
        ("POST", "/api/v1/dti/values", Perm(LeaderDashboard)),
        // Province-wide scope checked inside (require).
        ("POST", "/nghiep-vu/dti/so-lieu", Perm(LeaderDashboard)),
    ]
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/nghiep-vu/muc-tieu/bao-cao-nam.pdf", get(review_pdf))
        .route("/nghiep-vu/muc-tieu/bao-cao-nam.xlsx", get(review_xlsx))
        .route("/api/v1/targets/annual-review", get(api_review))
        .route("/api/v1/targets/export", get(api_export))
        .route("/nghiep-vu/dti", get(dti_page))
        .route("/api/v1/dti", get(api_dti))
        .route("/api/v1/dti/values", post(api_dti_enter))
        .route("/nghiep-vu/dti/so-lieu", post(dti_post))
}

#[derive(OpenApi)]
#[openapi(
    paths(api_review, api_export, api_dti, api_dti_enter),
    components(schemas(Export, Province, PeriodOut, ExportValue, NewEntry, ReportedValue, Problem)),
    tags((name = "targets", description = "The plan's targets, the indicators that measure them and values reported by agencies"))
)]
pub struct ReviewApiDoc;

#[derive(Deserialize, IntoParams)]
struct ReviewQuery {
    /// The year reviewed, e.g. `2026` (its Decree 09 window: 15 Dec 2025 – 14 Dec 2026).
    year: Option<String>,
    /// The plan's code (default: the latest plan made by that year).
    plan: Option<String>,
}

/// The review as the caller may see it: a report's standing before approval only for staff
/// over the reporting agency or the recipient (`Reporting::as_seen_by`).
async fn build(
    state: &AppState,
    ctx: &ReqCtx,
    q: &ReviewQuery,
) -> Result<review::Review, AppError> {
    let (plan, year) = review::resolve(&state.db, q.year.as_deref(), q.plan.as_deref()).await?;
    let mut r = review::review(
        &state.db,
        &Registry::standard(),
        plan,
        year,
        tinhso_services::dossier::today_local(),
    )
    .await?;
    if let Some(rep) = r.reporting.take() {
        r.reporting = Some(rep.as_seen_by(&state.db, ctx.principal.as_ref()).await?);
    }
    Ok(r)
}

fn file_response(bytes: Vec<u8>, content_type: &'static str, name: &str) -> Response {
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    if let Ok(v) = format!("attachment; filename=\"{name}\"").parse() {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, no-store"),
    );
    resp
}

/// The review as a file: `pdf` or `xlsx`.
async fn review_file(
    state: &AppState,
    ctx: &ReqCtx,
    q: &ReviewQuery,
    pdf: bool,
) -> Result<Response, PageError> {
    let r = build(state, ctx, q).await.map_err(|e| ctx.page_err(e))?;
    Ok(if pdf {
        file_response(
            review::pdf(&r),
            "application/pdf",
            &format!("bao-cao-nam-{}.pdf", r.year),
        )
    } else {
        file_response(
            review::xlsx(&r),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            &format!("bao-cao-nam-{}.xlsx", r.year),
        )
    })
}

async fn review_pdf(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<ReviewQuery>,
) -> Result<Response, PageError> {
    review_file(&state, &ctx, &q, true).await
}

async fn review_xlsx(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<ReviewQuery>,
) -> Result<Response, PageError> {
    review_file(&state, &ctx, &q, false).await
}

#[derive(Serialize)]
struct ReviewOut {
    plan: crate::plan::StoredPlan,
    year: i32,
    period: String,
    as_of: String,
    counts: Vec<Counts>,
    total: Counts,
    targets: Vec<crate::board::Line>,
    /// The values taken from approved agency reports and each agency's yearly report standing.
    reporting: Option<crate::review_reports::Reporting>,
}

/// The annual review of a plan for a year as JSON: the counts per pillar (on track, at risk,
/// off track, no data), the total, every target's line as `/api/v1/targets` gives it, and
/// `reporting` (values of approved agency reports with their report, each agency's yearly
/// report standing — `withheld`, with no dates, for a report not yet approved unless the caller
/// is staff over the reporting agency or the recipient). The same figures as the PDF
/// (`/nghiep-vu/muc-tieu/bao-cao-nam.pdf?year=`) and the spreadsheet (`.xlsx`).
#[utoipa::path(get, path = "/api/v1/targets/annual-review", tag = "targets", params(ReviewQuery),
    responses((status = 200, description = "`plan`, `year`, `period`, `as_of`, `counts`, `total`, `targets`"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn api_review(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<ReviewQuery>,
) -> Result<Response, ApiError> {
    let r = build(&state, &ctx, &q).await?;
    let (counts, total) = r.counts();
    let plan = r
        .plans
        .first()
        .cloned()
        .ok_or_else(|| AppError::internal("review without a plan"))?;
    Ok(Json(ReviewOut {
        plan,
        year: r.year,
        period: r.period.to_string(),
        as_of: r.as_of.format("%Y-%m-%d").to_string(),
        counts,
        total,
        targets: r.lines,
        reporting: r.reporting,
    })
    .into_response())
}

#[derive(Deserialize, IntoParams)]
struct ExportQuery {
    /// Required. `2026` (year), `2026-9M`, `2026-6M`, `2026-Q3`, `2026-10` (month), or a day
    /// `2026-10-31`; a period that has not begun is refused.
    period: Option<String>,
    /// Only this plan's targets (default: every imported plan).
    plan: Option<String>,
    /// The organisation unit (đơn vị): a commune code (`05986`), an agency code
    /// (`000.00.23.H37`), `province` (the default) or `all` (the province, every commune, every
    /// agency). An unknown unit is refused (`unit_unknown`).
    unit: Option<String>,
}

/// The indicator values of a period for the Government reporting information system, format
/// `tinhso.indicator-values/1` (every field documented in docs/targets/review-exports-dti.md):
/// plan, target, indicator, period, organisation unit, value, numerator, denominator, source
/// (`live` or `reported`), reported version and time, and the SHA-256 of the values.
/// `unit` chooses the organisation unit (a commune, an agency, or `all`; default the province).
/// Refusals (422): `required` (no period), `period` (not a period key), `period_future` (not
/// begun), `plan_unknown`, `unit_unknown`.
#[utoipa::path(get, path = "/api/v1/targets/export", tag = "targets", params(ExportQuery),
    responses((status = 200, body = Export),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn api_export(
    State(state): State<AppState>,
    Query(q): Query<ExportQuery>,
) -> Result<Json<Export>, ApiError> {
    Ok(Json(export_for(&state.db, &q).await?))
}

async fn export_for(db: &tinhso_store::Db, q: &ExportQuery) -> Result<Export, AppError> {
    let period =
        export::check_period(q.period.as_deref(), tinhso_services::dossier::today_local())?;
    let plan = q.plan.as_deref().map(str::trim).filter(|p| !p.is_empty());
    if let Some(code) = plan {
        if !crate::plan::plans(db).await?.iter().any(|p| p.code == code) {
            return Err(AppError::field(
                "plan",
                tinhso_kernel::Invalid::new(
                    "plan_unknown",
                    format!("Không có kế hoạch số «{code}»"),
                    format!("There is no plan “{code}”"),
                ),
            ));
        }
    }
    let units = export::check_unit(db, q.unit.as_deref()).await?;
    export::export_units(db, &Registry::standard(), period, plan, &units).await
}

/// The export as a provider service behind the exchange hub (nền tảng LGSP): the hub
/// authenticates the calling member, checks its right and signs the answer; this router is
/// served where only the hub reaches it (see docs/targets/review-exports-dti.md). It answers
/// `GET /targets/export?period=…[&plan=…][&unit=…]` with the same document as
/// `/api/v1/targets/export`, and
/// refuses calls that did not come through the hub (no `x-lgsp-client` header).
pub fn exchange_provider(db: tinhso_store::Db) -> axum::Router {
    async fn handler(
        State(db): State<tinhso_store::Db>,
        headers: axum::http::HeaderMap,
        Query(q): Query<ExportQuery>,
    ) -> Response {
        if headers.get("x-lgsp-client").is_none() {
            return tinhso_http::error::problem_response(&AppError::forbidden().with_detail(
                "Chỉ nhận yêu cầu qua trục liên thông",
                "Only requests through the exchange hub are answered",
            ));
        }
        match export_for(&db, &q).await {
            Ok(e) => Json(e).into_response(),
            Err(e) => tinhso_http::error::problem_response(&e),
        }
    }
    axum::Router::new()
        .route("/targets/export", get(handler))
        .with_state(db)
}

// ---------------------------------------------------------------- DTI

#[derive(Deserialize, IntoParams)]
struct DtiQuery {
    /// The assessment year (default: the last ended Decree 09 year).
    year: Option<String>,
}

fn dti_year(q: &DtiQuery) -> Result<i32, AppError> {
    match q.year.as_deref().map(str::trim).filter(|y| !y.is_empty()) {
        None => Ok(dti::default_year(tinhso_services::dossier::today_local())),
        Some(y) => y
            .parse::<i32>()
            .ok()
            .filter(|y| (2020..=2100).contains(y))
            .ok_or_else(|| {
                AppError::field(
                    "year",
                    tinhso_kernel::Invalid::new(
                        "year",
                        "Quy tắc «năm đánh giá»: một năm từ 2020 đến 2100",
                        "Rule “year”: a year from 2020 to 2100",
                    ),
                )
            }),
    }
}

/// The DTI self-assessment of a year: the structure's pillars, the overall index entered for
/// the year, every main indicator (`entered`: the current version, who entered it and when;
/// `live`: the platform's value over the year's Decree 09 window) and the rank history
/// (`published` ranks of the data file with their source, `entered` ranks for later years).
#[utoipa::path(get, path = "/api/v1/dti", tag = "targets", params(DtiQuery),
    responses((status = 200, description = "`year`, `pillars`, `index`, `indicators`, `ranks`"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn api_dti(
    State(state): State<AppState>,
    Query(q): Query<DtiQuery>,
) -> Result<Response, ApiError> {
    let year = dti_year(&q)?;
    Ok(Json(dti::assessment(&state.db, &Registry::standard(), year).await?).into_response())
}

/// Enter a DTI value by hand (the overall index `dti.index`, the rank `reported.overall.dti-top10` (the plan's DTI target's indicator), or an
/// entered main indicator) for a year: stored as a new version with who entered it; earlier
/// versions stay. Refusals name the rule (`indicator_unknown`, `indicator_live`, `year`,
/// `number`, `score` 0–1, `rank` 1–63, `length`). Needs `leader_dashboard` province-wide.
#[utoipa::path(post, path = "/api/v1/dti/values", tag = "targets", request_body = NewEntry,
    responses((status = 201, body = ReportedValue, description = "Recorded as a new version"),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn api_dti_enter(
    State(state): State<AppState>,
    ctx: ReqCtx,
    ApiJson(e): ApiJson<NewEntry>,
) -> Result<Response, ApiError> {
    let stored = dti_record(&state, &ctx, &e).await?;
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

/// Check, authorise (leader_dashboard province-wide) and record an entry.
async fn dti_record(
    state: &AppState,
    ctx: &ReqCtx,
    e: &NewEntry,
) -> Result<ReportedValue, AppError> {
    let checked = dti::check(e)?;
    require(
        state,
        ctx,
        Permission::LeaderDashboard,
        &ResourceScope::province(),
        &format!("dti:{}@{}", checked.indicator, checked.period),
    )
    .await?;
    crate::reported::record(&state.db, &ctx.audit(), &checked).await
}

/// The page's entry form: 303 back to the page (the year entered) on success; the page with
/// the refusals, each naming its rule, and 422 otherwise.
async fn dti_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Form(e): Form<NewEntry>,
) -> Result<Response, PageError> {
    match dti_record(&state, &ctx, &e).await {
        Ok(v) => Ok(Redirect::to(&format!(
            "/nghiep-vu/dti?year={}&ghi={}&phien_ban={}#nhap-dti",
            v.period, v.indicator, v.version
        ))
        .into_response()),
        Err(err) if err.code == tinhso_kernel::ErrorCode::Forbidden => Err(ctx.page_err(err)),
        Err(err) => {
            let year = e
                .year
                .trim()
                .parse::<i32>()
                .ok()
                .filter(|y| (2020..=2100).contains(y))
                .unwrap_or_else(|| dti::default_year(tinhso_services::dossier::today_local()));
            let status =
                StatusCode::from_u16(err.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            dti_render(&state, &ctx, year, e, Some(err), String::new(), status).await
        }
    }
}

struct DtiRow {
    key: String,
    name: String,
    live: bool,
    value: String,
    detail: String,
}

struct DtiPillar {
    id: String,
    title: String,
    rows: Vec<DtiRow>,
}

#[derive(Template)]
#[template(path = "dti.html")]
struct DtiPage {
    c: Chrome,
    can_enter: bool,
    /// (key, name) of what can be entered by hand.
    enterable: Vec<(String, String)>,
    form: NewEntry,
    errors: Vec<(String, String)>,
    saved: String,
    year: i32,
    index: String,
    pillars: Vec<DtiPillar>,
    chart: String,
    /// (year, rank, origin, source) of the history, for the table beside the chart.
    ranks: Vec<(i32, i64, String, String)>,
}

fn score(v: f64, lang: Lang) -> String {
    let s = format!("{v:.4}");
    match lang {
        Lang::Vi => s.replace('.', ","),
        Lang::En => s,
    }
}

#[derive(Deserialize)]
struct DtiPageQuery {
    year: Option<String>,
    /// After an entry: its indicator and version.
    ghi: Option<String>,
    phien_ban: Option<i64>,
}

async fn dti_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<DtiPageQuery>,
) -> Result<Response, PageError> {
    let year = dti_year(&DtiQuery { year: q.year }).map_err(|e| ctx.page_err(e))?;
    let saved = match (q.ghi, q.phien_ban) {
        (Some(k), Some(v)) => format!(
            "{} {k}, {} {v}.",
            ctx.lang.s("Đã ghi", "Recorded"),
            ctx.lang.s("phiên bản", "version")
        ),
        _ => String::new(),
    };
    let form = NewEntry {
        year: year.to_string(),
        ..Default::default()
    };
    dti_render(&state, &ctx, year, form, None, saved, StatusCode::OK).await
}

async fn dti_render(
    state: &AppState,
    ctx: &ReqCtx,
    year: i32,
    form: NewEntry,
    error: Option<AppError>,
    saved: String,
    status: StatusCode,
) -> Result<Response, PageError> {
    let lang = ctx.lang;
    let a = dti::assessment(&state.db, &Registry::standard(), year)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let errors: Vec<(String, String)> = error
        .map(|e| {
            e.fields
                .iter()
                .map(|f| {
                    (
                        f.field.clone(),
                        lang.s(&f.message_vi, &f.message_en).to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let s = dti::structure();
    let mut enterable: Vec<(String, String)> = vec![
        (
            s.index.key.clone(),
            lang.s(&s.index.name_vi, &s.index.name_en).to_string(),
        ),
        (
            s.index.rank_key.clone(),
            lang.s("Thứ hạng DTI của tỉnh", "The province's DTI rank")
                .to_string(),
        ),
    ];
    enterable.extend(
        s.indicator
            .iter()
            .filter(|i| i.measure == "entered")
            .map(|i| (i.key.clone(), lang.s(&i.name_vi, &i.name_en).to_string())),
    );
    let none = lang.s("chưa có", "none yet").to_string();
    let pillars = a
        .pillars
        .iter()
        .map(|p| DtiPillar {
            id: format!("dti-{}", p.key),
            title: lang.s(&p.name_vi, &p.name_en).to_string(),
            rows: a
                .indicators
                .iter()
                .filter(|i| i.pillar == p.key)
                .map(|i| {
                    let live = i.measure == "live";
                    let value = match (i.value, live) {
                        (None, _) => none.clone(),
                        (Some(v), true) => format!("{}%", crate::web::num(v, lang)),
                        (Some(v), false) => score(v, lang),
                    };
                    let detail = if live {
                        format!(
                            "{} {} ({})",
                            lang.s("Nền tảng đo trực tiếp:", "Measured live by the platform:"),
                            i.live.clone().unwrap_or_default(),
                            i.period.clone().unwrap_or_default()
                        )
                    } else {
                        match (i.version, &i.entered_by, i.entered_at) {
                            (Some(v), Some(by), Some(at)) => format!(
                                "{} v{v}, {by}, {}",
                                lang.s("Nhập tay:", "Entered:"),
                                tinhso_http::layout::local_time(at)
                            ),
                            _ => lang.s("Nhập tay", "Entered by hand").to_string(),
                        }
                    };
                    DtiRow {
                        key: i.key.clone(),
                        name: lang.s(&i.name_vi, &i.name_en).to_string(),
                        live,
                        value,
                        detail,
                    }
                })
                .collect(),
        })
        .collect();
    let title = lang
        .s(
            "Thứ hạng DTI của tỉnh Lạng Sơn qua các năm (hạng 1 ở trên cùng)",
            "Lạng Sơn's DTI rank by year (1st at the top)",
        )
        .to_string();
    let page = DtiPage {
        c: Chrome::of(ctx),
        can_enter: ctx
            .principal
            .as_ref()
            .is_some_and(|p| p.can_somewhere(Permission::LeaderDashboard)),
        enterable,
        form,
        errors,
        saved,
        year,
        index: a.index.map(|v| score(v, lang)).unwrap_or(none),
        pillars,
        chart: dti::rank_chart(&a.ranks, &title),
        ranks: a
            .ranks
            .iter()
            .map(|r| (r.year, r.rank, r.origin.clone(), r.source.clone()))
            .collect(),
    };
    Ok((status, render(&page)).into_response())
}
