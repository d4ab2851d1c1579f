//! The module's web layer: the targets page (`/nghiep-vu/muc-tieu`, a table per pillar with a
//! bullet chart drawn on the server as SVG), the JSON API (`/api/v1/targets`, reported values
//! under `/api/v1/indicator-values`), its OpenAPI document and its access rules.
//!
//! Reading needs `BackOffice` (every staff member: the targets are the province's and the
//! numbers are aggregates, no record behind them is shown); a commune's or an agency's values
//! from `/api/v1/observations` also need `DossierRead` over that unit, as the services
//! module's own indicators page does. Reporting a value needs
//! `LeaderDashboard` on the organisation unit it is for (the province: a province-wide role;
//! an agency or a commune: a role over it), since under Decree 09/2019 a report is the
//! agency's, signed by its head.

use crate::board::{self, Line, Status};
use crate::engine::{Kind, OrgUnit, Registry, Source};
use crate::plan::{self, StoredPlan};
use crate::reported::{self, NewValue, ReportedValue};
use askama::Template;
use axum::extract::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Redirect;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tinhso_http::access::{Access, Rule};
use tinhso_http::context::require;
use tinhso_http::error::{ApiError, PageError, Problem};
use tinhso_http::layout::{render, Chrome};
use tinhso_http::{ApiJson, AppState, Lang, ReqCtx};
use tinhso_identity::Permission;
use tinhso_kernel::{AppError, Invalid};
use utoipa::{IntoParams, OpenApi};

/// (method, route template, rule) of every route of the module.
pub const RULES: &[Rule] = {
    use Access::*;
    use Permission::*;
    &[
        ("GET", "/nghiep-vu/muc-tieu", Perm(BackOffice)),
        // The unit's own scope is checked inside (require).
        ("POST", "/nghiep-vu/muc-tieu/so-lieu", Perm(LeaderDashboard)),
        ("GET", "/api/v1/targets", Perm(BackOffice)),
        ("GET", "/api/v1/indicator-values", Perm(BackOffice)),
        // A commune's or an agency's live values also need DossierRead over it (inside).
        ("GET", "/api/v1/observations", Perm(BackOffice)),
        // The unit's own scope is checked inside (require).
        ("POST", "/api/v1/indicator-values", Perm(LeaderDashboard)),
    ]
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/nghiep-vu/muc-tieu", get(targets_page))
        .route("/nghiep-vu/muc-tieu/so-lieu", post(report_post))
        .route("/api/v1/targets", get(api_targets))
        .route("/api/v1/observations", get(api_observe))
        .route("/api/v1/indicator-values", get(api_values).post(api_report))
}

#[derive(OpenApi)]
#[openapi(
    paths(api_targets, api_observe, api_values, api_report),
    components(schemas(NewValue, ReportedValue, Problem)),
    tags((name = "targets", description = "The plan's targets, the indicators that measure them and values reported by agencies"))
)]
pub struct TargetsApiDoc;

/// The board as the API gives it.
#[derive(Serialize)]
struct BoardOut {
    /// Local date the board is computed for.
    as_of: String,
    /// The Decree 09 year window live values are computed over.
    live_period: String,
    plans: Vec<StoredPlan>,
    summary: Summary,
    targets: Vec<Line>,
}

#[derive(Serialize, Default)]
struct Summary {
    targets: usize,
    live: usize,
    reported: usize,
    on_track: usize,
    at_risk: usize,
    off_track: usize,
    no_data: usize,
}

fn summary(lines: &[Line]) -> Summary {
    let mut s = Summary {
        targets: lines.len(),
        ..Default::default()
    };
    for l in lines {
        match l.source {
            Source::Live => s.live += 1,
            Source::Reported => s.reported += 1,
        }
        match l.status {
            Status::OnTrack => s.on_track += 1,
            Status::AtRisk => s.at_risk += 1,
            Status::OffTrack => s.off_track += 1,
            Status::NoData => s.no_data += 1,
        }
    }
    s
}

pub(crate) fn bad_period() -> AppError {
    AppError::field(
        "period",
        Invalid::new(
            "period",
            "Quy tắc «kỳ báo cáo»: dùng 2026, 2026-9M, 2026-6M, 2026-Q1, 2026-01 hoặc 2026-01-31",
            "Rule “period”: use 2026, 2026-9M, 2026-6M, 2026-Q1, 2026-01 or 2026-01-31",
        ),
    )
}

/// The board for `period` (a key; default: the year window containing today).
async fn compute(state: &AppState, period: Option<&str>) -> Result<BoardOut, AppError> {
    let today = tinhso_services::dossier::today_local();
    let period = match period.map(str::trim).filter(|p| !p.is_empty()) {
        None => crate::period::Period::containing(crate::period::Frequency::Year, today),
        Some(p) => crate::period::Period::parse(p).ok_or_else(bad_period)?,
    };
    let lines = board::board_for(&state.db, &Registry::standard(), today, period).await?;
    let as_of = period.window().map_or(today, |w| today.min(w.last_day()));
    Ok(BoardOut {
        as_of: as_of.format("%Y-%m-%d").to_string(),
        live_period: period.to_string(),
        plans: plan::plans(&state.db).await?,
        summary: summary(&lines),
        targets: lines,
    })
}

/// Every target of every imported plan: pillar, horizon year, target value, unit, direction,
/// the indicator that measures it and whether it is `live` (measured by the platform over the
/// Decree 09 year window containing today, for the province) or `reported` (latest period the
/// province reported, current version), the current value (`current`: numerator, denominator,
/// value, period), the expected value now under a linear projection from the plan's base year
/// to the horizon, and the status (`on_track`, `at_risk`: short of the expected value by at
/// most 10 % of |target − base|, `off_track`, `no_data`).
#[utoipa::path(get, path = "/api/v1/targets", tag = "targets", params(BoardQuery),
    responses((status = 200, description = "`as_of`, `live_period`, `plans`, `summary` (counts by source and status), `targets`"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn api_targets(
    State(state): State<AppState>,
    Query(q): Query<BoardQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(compute(&state, q.period.as_deref()).await?).into_response())
}

#[derive(Deserialize, IntoParams)]
struct BoardQuery {
    /// Period key for the live values and the status date (default: the Decree 09 year window
    /// containing today): `2026`, `2026-9M`, `2026-6M`, `2026-Q1`, `2026-01`, `2026-01-31`.
    /// Reported values: the latest period ending by its end.
    period: Option<String>,
}

#[derive(Deserialize, IntoParams)]
struct ObserveQuery {
    /// Indicator key: a live one (`services.online`, `services.on_time`,
    /// `services.fully_online_procedures`, `services.online_payment`,
    /// `services.electronic_result`, `services.satisfaction`; the border gate's
    /// `border.declared_crossings`, `border.booked_crossings`, `border.fees_online`,
    /// `border.checks_on_platform`, `border.agencies_active`; the DVCQG sync rate
    /// `connectors.dvcqg_sync`; the platform's own use `identity.staff_digital_identity`,
    /// `platform.agencies_active`, `exchange.agencies_connected`, `reports.regimes_digital`)
    /// or a reported one (`reported.…`).
    indicator: String,
    /// Period key: `2026` (year: 15 Dec 2025 – 14 Dec 2026), `2026-9M`, `2026-6M`, `2026-Q1`,
    /// `2026-01` (15 Dec 2025 – 14 Jan 2026), `2026-01-31` (a day).
    period: String,
    /// `province` (default), `commune:05986`, `agency:000.00.23.H37`.
    #[serde(default)]
    org: String,
    /// A disaggregation (phân tổ): the value broken down by its categories. The border gate's
    /// `border.declared_crossings` by `gate`; `border.booked_crossings`, `border.fees_online`,
    /// `border.checks_on_platform` by `gate` or `quarantine`; the services indicators (but
    /// `services.fully_online_procedures`) by `level`, the handling agency's level (commune or
    /// province); any other → 422 naming those the indicator supports.
    by: Option<String>,
}

pub(crate) fn bad_org() -> AppError {
    AppError::field(
        "org",
        Invalid::new(
            "org",
            "Quy tắc «đơn vị»: dùng province, commune:<mã xã> hoặc agency:<mã cơ quan>",
            "Rule “unit”: use province, commune:<unit code> or agency:<agency code>",
        ),
    )
}

/// The value of one indicator for a period (Decree 09/2019 cut-off window) and an organisation
/// unit, from its provider: `numerator`, `denominator`, `value` (= numerator / denominator ×
/// factor, one decimal; `null` for an empty denominator), `source` (`live` or `reported`,
/// with the `version`). The body is `null` when nothing is known. With `by`, the value broken
/// down by a disaggregation: `{indicator, period, org, by, name_vi, name_en, total, categories:
/// [{category, label_vi, label_en, numerator, denominator, value}]}`, the categories'
/// numerators adding up to the total's. A commune's or an agency's value needs `dossier_read`
/// over it.
#[utoipa::path(get, path = "/api/v1/observations", tag = "targets", params(ObserveQuery),
    responses((status = 200, description = "The observation, or `null`"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn api_observe(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<ObserveQuery>,
) -> Result<Response, ApiError> {
    let period = crate::period::Period::parse(&q.period).ok_or_else(bad_period)?;
    let org = OrgUnit::parse(&q.org).ok_or_else(bad_org)?;
    if org != OrgUnit::Province {
        let scope = reported::scope_of(&state.db, &org).await?;
        require(
            &state,
            &ctx,
            Permission::DossierRead,
            &scope,
            &format!("indicator:{}@{org}", q.indicator.trim()),
        )
        .await?;
    }
    let registry = Registry::standard();
    if let Some(by) = q.by.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        let d = registry
            .observe_by(&state.db, q.indicator.trim(), period, &org, by)
            .await?;
        return Ok(Json(d).into_response());
    }
    let o = registry
        .observe(&state.db, q.indicator.trim(), period, &org)
        .await?;
    Ok(Json(o).into_response())
}

#[derive(Deserialize, IntoParams)]
struct ValuesQuery {
    /// The reported indicator (`reported.…`).
    indicator: String,
    /// `province` (default), `commune:05986`, `agency:000.00.23.H37`.
    #[serde(default)]
    org: String,
}

/// Every version of the values reported for an indicator and an organisation unit, by
/// period, newest version first. Nothing is ever overwritten: a correction is a new version.
#[utoipa::path(get, path = "/api/v1/indicator-values", tag = "targets", params(ValuesQuery),
    responses((status = 200, body = [ReportedValue]),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn api_values(
    State(state): State<AppState>,
    Query(q): Query<ValuesQuery>,
) -> Result<Json<Vec<ReportedValue>>, ApiError> {
    let org = OrgUnit::parse(&q.org).ok_or_else(bad_org)?;
    Ok(Json(
        reported::history(&state.db, q.indicator.trim(), &org).await?,
    ))
}

/// Report a value for an indicator the platform cannot measure (`reported.…`), a period and an
/// organisation unit. It is stored as a new version; earlier versions stay. Refusals name the
/// rule broken (`number`, `range`, `rank`, `boolean`, `denominator`, `share`, `consistent`,
/// `period`, `org`, `indicator_unknown`, `indicator_live`, `length`), in Vietnamese and English.
/// The caller needs `leader_dashboard` over the unit.
#[utoipa::path(post, path = "/api/v1/indicator-values", tag = "targets", request_body = NewValue,
    responses((status = 201, body = ReportedValue, description = "Recorded as a new version"),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn api_report(
    State(state): State<AppState>,
    ctx: ReqCtx,
    ApiJson(v): ApiJson<NewValue>,
) -> Result<Response, ApiError> {
    let checked = reported::check(&state.db, &v).await?;
    let scope = reported::scope_of(&state.db, &checked.org).await?;
    require(
        &state,
        &ctx,
        Permission::LeaderDashboard,
        &scope,
        &format!("indicator:{}@{}", checked.indicator, checked.org),
    )
    .await?;
    let stored = reported::record(&state.db, &ctx.audit(), &checked).await?;
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

// ---------------------------------------------------------------- page

/// Width of the chart's scale, in SVG units.
const W: f64 = 200.0;

struct Row {
    id: String,
    name: String,
    horizon: i32,
    target: String,
    current: String,
    period: String,
    live: bool,
    /// A related live value, for context ("" when none).
    related: String,
    indicator: String,
    measured_by: String,
    status: String,
    status_class: &'static str,
    expected: String,
    /// Chart: value bar width, expected mark, target mark, colour.
    bar: String,
    has_bar: bool,
    expected_x: String,
    target_x: String,
    colour: &'static str,
    chart_label: String,
}

struct Pillar {
    id: String,
    title: String,
    rows: Vec<Row>,
}

/// The reporting form (leaders): a value for a reported indicator.
#[derive(Deserialize, Default, Clone)]
struct ReportForm {
    #[serde(default)]
    indicator: String,
    #[serde(default)]
    period: String,
    #[serde(default)]
    org: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    numerator: String,
    #[serde(default)]
    denominator: String,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize)]
struct PageQuery {
    /// The board's period (see [`BoardQuery`]).
    period: Option<String>,
    /// After a value was recorded: its indicator and version.
    ghi: Option<String>,
    phien_ban: Option<i64>,
}

#[derive(Template)]
#[template(path = "targets.html")]
struct TargetsPage {
    c: Chrome,
    can_report: bool,
    /// (key, label) of every reported indicator.
    reported_indicators: Vec<(String, String)>,
    form: ReportForm,
    /// (field, message) of each refusal, and a message not tied to a field.
    errors: Vec<(String, String)>,
    general: String,
    saved: String,
    as_of: String,
    live_period: String,
    plans: Vec<String>,
    total: usize,
    live: usize,
    reported: usize,
    counts: Vec<(String, usize)>,
    pillars: Vec<Pillar>,
    /// The year of the board's period, for the annual review's links.
    review_year: i32,
    /// Values of the agencies' approved reports of that year (báo cáo đã duyệt): target,
    /// agency, value, report (regime, period, version), approved at.
    approved: Vec<[String; 5]>,
    /// Live indicators no target is wired to (see [`unwired_live`]).
    other_live: Vec<[String; 3]>,
}

pub(crate) fn num(v: f64, lang: Lang) -> String {
    let s = if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    };
    match lang {
        Lang::Vi => s.replace('.', ","),
        Lang::En => s,
    }
}

pub(crate) fn with_unit(v: f64, kind: Kind, lang: Lang) -> String {
    match kind {
        Kind::Percent => format!("{}%", num(v, lang)),
        Kind::Rate => format!("{}{}", num(v, lang), lang.s("%/năm", "% a year")),
        Kind::Rank => format!("{} {}", lang.s("hạng", "rank"), num(v, lang)),
        Kind::Boolean if v >= 100.0 => lang.s("đạt", "done").to_string(),
        Kind::Boolean => lang.s("chưa đạt", "not done").to_string(),
    }
}

pub(crate) fn pillar_title(p: &str, lang: Lang) -> String {
    match p {
        "government" => lang.s("Chính quyền số", "Digital government"),
        "economy" => lang.s("Kinh tế số", "Digital economy"),
        "society" => lang.s("Xã hội số", "Digital society"),
        "border" => lang.s("Cửa khẩu số", "Digital border gate"),
        _ => p,
    }
    .to_string()
}

fn row(l: &Line, lang: Lang) -> Row {
    let t = &l.target;
    let value = l.current.as_ref().and_then(|c| c.value);
    let scale = match t.kind {
        Kind::Percent | Kind::Boolean => 100.0,
        _ => {
            [t.target_value, l.expected, value.unwrap_or(0.0), 1.0]
                .into_iter()
                .fold(0.0_f64, f64::max)
                * 1.25
        }
    };
    let x = |v: f64| format!("{:.1}", (v / scale).clamp(0.0, 1.0) * W);
    let (vi, en) = l.status.name();
    let status = lang.s(vi, en).to_string();
    let current = match value {
        Some(v) => with_unit(v, t.kind, lang),
        None => lang.s("chưa có", "none yet").to_string(),
    };
    let target = format!(
        "{} {}",
        match t.direction {
            crate::engine::Direction::AtLeast => lang.s("≥", "≥"),
            crate::engine::Direction::AtMost => lang.s("≤", "≤"),
        },
        with_unit(t.target_value, t.kind, lang)
    );
    Row {
        id: format!("muc-tieu-{}", t.id.replace('.', "-")),
        name: lang.s(&t.name_vi, &t.name_en).to_string(),
        horizon: t.horizon_year,
        chart_label: format!(
            "{}: {current}; {}: {target}",
            lang.s("Hiện tại", "Now"),
            lang.s("mục tiêu", "target")
        ),
        target,
        current,
        period: l
            .current
            .as_ref()
            .map(|c| {
                let v = c.version.map(|v| format!(" (v{v})")).unwrap_or_default();
                let cov = c
                    .coverage
                    .as_ref()
                    .map(|k| format!(" · {}", k.label(!lang.is_en())))
                    .unwrap_or_default();
                format!("{}{v}{cov}", c.period)
            })
            .unwrap_or_default(),
        live: l.source == Source::Live,
        related: l
            .related
            .as_ref()
            .and_then(|r| {
                let def = crate::engine::live_indicator(&r.indicator)?;
                let v = r
                    .value
                    .map(|v| with_unit(v, def.kind, lang))
                    .unwrap_or_else(|| lang.s("chưa có", "none yet").to_string());
                Some(format!(
                    "{}: {} {v} ({})",
                    lang.s(
                        "Tham khảo trên nền tảng",
                        "Related, measured by the platform"
                    ),
                    lang.s(def.name_vi, def.name_en),
                    r.period
                ))
            })
            .unwrap_or_default(),
        indicator: t.indicator_key.clone(),
        measured_by: t.measured_by.clone(),
        status,
        status_class: match l.status {
            Status::OnTrack => "ok",
            Status::AtRisk => "warn",
            Status::OffTrack => "bad",
            Status::NoData => "",
        },
        expected: with_unit(l.expected, t.kind, lang),
        bar: value.map(&x).unwrap_or_default(),
        has_bar: value.is_some(),
        expected_x: x(l.expected),
        target_x: x(t.target_value),
        colour: match l.status {
            Status::OnTrack => "#15803d",
            Status::AtRisk => "#b45309",
            Status::OffTrack => "#b91c1c",
            Status::NoData => "#6b7280",
        },
    }
}

async fn targets_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    let saved = match (q.ghi, q.phien_ban) {
        (Some(key), Some(v)) => format!(
            "{} {key}, {} {v}.",
            ctx.lang.s("Đã ghi số liệu", "Recorded"),
            ctx.lang.s("phiên bản", "version")
        ),
        _ => String::new(),
    };
    let form = ReportForm {
        period: crate::period::Period::containing(
            crate::period::Frequency::Year,
            tinhso_services::dossier::today_local(),
        )
        .to_string(),
        org: "province".into(),
        ..Default::default()
    };
    page(
        &state,
        &ctx,
        q.period.as_deref(),
        form,
        &None,
        saved,
        StatusCode::OK,
    )
    .await
}

/// Record a reported value from the page's form: 303 back to the page on success, the page
/// with the refusals (each naming its rule) and 422 otherwise.
async fn report_post(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Form(f): Form<ReportForm>,
) -> Result<Response, PageError> {
    let opt = |s: &str| (!s.trim().is_empty()).then(|| s.to_string());
    let input = NewValue {
        indicator: f.indicator.clone(),
        period: f.period.clone(),
        org: f.org.clone(),
        value: f.value.clone(),
        numerator: opt(&f.numerator),
        denominator: opt(&f.denominator),
        note: f.note.clone(),
    };
    let result = async {
        let checked = reported::check(&state.db, &input).await?;
        let scope = reported::scope_of(&state.db, &checked.org).await?;
        require(
            &state,
            &ctx,
            Permission::LeaderDashboard,
            &scope,
            &format!("indicator:{}@{}", checked.indicator, checked.org),
        )
        .await?;
        reported::record(&state.db, &ctx.audit(), &checked).await
    }
    .await;
    match result {
        Ok(v) => Ok(Redirect::to(&format!(
            "/nghiep-vu/muc-tieu?ghi={}&phien_ban={}#nhap-so-lieu",
            v.indicator, v.version
        ))
        .into_response()),
        Err(e) if e.code == tinhso_kernel::ErrorCode::Forbidden => Err(ctx.page_err(e)),
        Err(e) => {
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            page(&state, &ctx, None, f, &Some(e), String::new(), status).await
        }
    }
}

/// A refusal as a page shows it: (field, message) of each field error, and the message not
/// tied to a field (the error's title and detail) when there is none.
pub(crate) fn error_parts(e: &AppError, lang: Lang) -> (Vec<(String, String)>, String) {
    let fields = e
        .fields
        .iter()
        .map(|f| {
            (
                f.field.clone(),
                lang.s(&f.message_vi, &f.message_en).to_string(),
            )
        })
        .collect();
    let general = if e.fields.is_empty() {
        let title = lang.s(e.code.title_vi(), e.code.title_en());
        match lang.s(
            e.detail_vi.as_deref().unwrap_or_default(),
            e.detail_en.as_deref().unwrap_or_default(),
        ) {
            "" => title.to_string(),
            d => format!("{title}. {d}"),
        }
    } else {
        String::new()
    };
    (fields, general)
}

async fn page(
    state: &AppState,
    ctx: &ReqCtx,
    period: Option<&str>,
    form: ReportForm,
    error: &Option<AppError>,
    saved: String,
    status: StatusCode,
) -> Result<Response, PageError> {
    let lang = ctx.lang;
    let (errors, general) = error
        .as_ref()
        .map(|e| error_parts(e, lang))
        .unwrap_or_default();
    let b = compute(state, period).await.map_err(|e| ctx.page_err(e))?;
    let mut reported_indicators: Vec<(String, String)> = Vec::new();
    for l in &b.targets {
        let key = &l.target.indicator_key;
        if l.source == Source::Reported && !reported_indicators.iter().any(|(k, _)| k == key) {
            let name = lang.s(&l.target.name_vi, &l.target.name_en);
            let short: String = name.chars().take(90).collect();
            let more = if short.len() < name.len() { "…" } else { "" };
            reported_indicators.push((key.clone(), format!("{short}{more} ({key})")));
        }
    }
    let mut pillars: Vec<Pillar> = Vec::new();
    for p in plan::PILLARS {
        let rows: Vec<Row> = b
            .targets
            .iter()
            .filter(|l| l.target.pillar == *p)
            .map(|l| row(l, lang))
            .collect();
        if !rows.is_empty() {
            pillars.push(Pillar {
                id: format!("tru-cot-{p}"),
                title: pillar_title(p, lang),
                rows,
            });
        }
    }
    let s = &b.summary;
    let counts = [
        (Status::OnTrack, s.on_track),
        (Status::AtRisk, s.at_risk),
        (Status::OffTrack, s.off_track),
        (Status::NoData, s.no_data),
    ]
    .into_iter()
    .map(|(st, n)| {
        let (vi, en) = st.name();
        (lang.s(vi, en).to_string(), n)
    })
    .collect();
    let review_year = crate::period::Period::parse(&b.live_period).map_or(
        chrono::Datelike::year(&tinhso_services::dossier::today_local()),
        |p| p.year(),
    );
    // Values reach the page from approved reports only (see `review_reports`).
    let keys = reported_indicators.iter().map(|(k, _)| k.clone()).collect();
    let rep = crate::review_reports::reporting(
        &state.db,
        review_year,
        &keys,
        tinhso_services::dossier::today_local(),
    )
    .await
    .map_err(|e| ctx.page_err(e))?;
    let approved = rep
        .sources
        .iter()
        .map(|src| {
            let line = b
                .targets
                .iter()
                .find(|l| l.target.indicator_key == src.indicator);
            let target = line
                .map(|l| lang.s(&l.target.name_vi, &l.target.name_en).to_string())
                .unwrap_or_else(|| src.indicator.clone());
            let value = line
                .map(|l| with_unit(src.value, l.target.kind, lang))
                .unwrap_or_else(|| num(src.value, lang));
            let period = crate::period::Period::parse(&src.period)
                .map(|p| {
                    let (vi, en) = p.label();
                    lang.s(&vi, &en).to_string()
                })
                .unwrap_or_else(|| src.period.clone());
            [
                target,
                src.agency_name.clone(),
                value,
                format!(
                    "{}, {period}, {} {}",
                    src.regime_code,
                    lang.s("phiên bản", "version"),
                    src.report_version
                ),
                crate::review_reports::when(src.approved_at),
            ]
        })
        .collect();
    let page = TargetsPage {
        c: Chrome::of(ctx),
        can_report: ctx
            .principal
            .as_ref()
            .is_some_and(|p| p.can_somewhere(Permission::LeaderDashboard)),
        reported_indicators,
        form,
        errors,
        general,
        saved,
        as_of: b.as_of.clone(),
        live_period: b.live_period.clone(),
        plans: b
            .plans
            .iter()
            .map(|p| format!("{} — {}", p.code, lang.s(&p.title_vi, &p.title_en)))
            .collect(),
        total: s.targets,
        live: s.live,
        reported: s.reported,
        counts,
        pillars,
        review_year,
        approved,
        other_live: unwired_live(state, &b, lang)
            .await
            .map_err(|e| ctx.page_err(e))?,
    };
    Ok((status, render(&page)).into_response())
}

/// The live indicators no target of an imported plan is wired to (chỉ số đo trực tiếp chưa gắn
/// chỉ tiêu, e.g. the DVCQG sync rate of Decision 766), with the province's value over the
/// board's period: (key, name, value with numerator/denominator or "no data").
async fn unwired_live(
    state: &AppState,
    b: &BoardOut,
    lang: Lang,
) -> Result<Vec<[String; 3]>, AppError> {
    let period = crate::period::Period::parse(&b.live_period).ok_or_else(bad_period)?;
    let registry = Registry::standard();
    let mut out = Vec::new();
    for d in registry.definitions() {
        if b.targets.iter().any(|l| l.target.indicator_key == d.key) {
            continue;
        }
        let o = registry
            .observe(&state.db, d.key, period, &OrgUnit::Province)
            .await?;
        let value = match o {
            Some(o) => match (o.value, o.numerator, o.denominator) {
                (Some(v), Some(n), Some(den)) => format!(
                    "{} ({}/{})",
                    with_unit(v, d.kind, lang),
                    num(n, lang),
                    num(den, lang)
                ),
                (Some(v), _, _) => with_unit(v, d.kind, lang),
                _ => lang.s("chưa có số liệu", "no data").to_string(),
            },
            None => lang.s("chưa có số liệu", "no data").to_string(),
        };
        out.push([
            d.key.to_string(),
            lang.s(d.name_vi, d.name_en).to_string(),
            value,
        ]);
    }
    Ok(out)
}
