//! Decision 766 service indicators: the JSON API (`GET /api/v1/indicators/dossiers`) and the
//! back-office page (`/nghiep-vu/chi-so`) with a table per agency and bar charts drawn on the
//! server as SVG (no script). Both are limited to the agencies whose dossiers the caller may
//! read ([`super::readable_agencies`]); province-wide callers see every agency.

use super::view::FormErrors;
use crate::indicators::{self, Report};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tinhso_http::context::log_denial;
use tinhso_http::error::{ApiError, PageError};
use tinhso_http::layout::{render, Chrome};
use tinhso_http::{AppState, ReqCtx};
use tinhso_identity::Permission;
use tinhso_kernel::{AppError, Invalid};
use tinhso_refdata::agencies;
use utoipa::IntoParams;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/indicators/dossiers", get(dossier_indicators))
        .route("/nghiep-vu/chi-so", get(indicators_page))
}

#[derive(Deserialize, IntoParams, Default)]
pub(crate) struct IndicatorQuery {
    /// First day, local date `YYYY-MM-DD` (included); default: the first day of this month.
    from: Option<String>,
    /// Last day, local date `YYYY-MM-DD` (excluded); default: tomorrow.
    to: Option<String>,
    /// Agency code, or several separated by commas; default: every agency in the caller's scope.
    agency: Option<String>,
}

/// The agencies to count: the wanted ones within the caller's scope, or the whole scope.
async fn agency_scope(
    state: &AppState,
    ctx: &ReqCtx,
    wanted: Option<&str>,
) -> Result<Option<Vec<String>>, AppError> {
    let p = ctx.principal()?;
    let readable = super::readable_agencies(state, p, Permission::DossierRead).await?;
    let wanted: Vec<String> = wanted
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if wanted.is_empty() {
        return Ok(readable);
    }
    for code in &wanted {
        if agencies::get(&state.db, code).await?.is_none() {
            return Err(AppError::field(
                "agency",
                Invalid::new(
                    "agency_unknown",
                    format!("Không có cơ quan mã {code}"),
                    format!("No agency has the code {code}"),
                ),
            ));
        }
    }
    if let Some(r) = &readable {
        if let Some(out) = wanted.iter().find(|c| !r.contains(c)) {
            log_denial(
                state,
                ctx,
                Permission::DossierRead,
                &format!("indicators:{out}"),
            )
            .await;
            return Err(AppError::forbidden());
        }
    }
    Ok(Some(wanted))
}

async fn compute(state: &AppState, ctx: &ReqCtx, q: &IndicatorQuery) -> Result<Report, AppError> {
    let (from, to) = indicators::parse_period(q.from.as_deref(), q.to.as_deref())?;
    let codes = agency_scope(state, ctx, q.agency.as_deref()).await?;
    indicators::report(&state.db, from, to, codes.as_deref()).await
}

/// Decision 766/QĐ-TTg service indicators computed from the dossiers, per agency and in
/// total, for the period `[from, to)` (local dates). Each indicator gives its numerator,
/// denominator, value (percent, one decimal, null when the denominator is 0), formula (vi, en)
/// and its 766 points group; `score` only where the notes give both weight and threshold.
/// Digitisation is not measured yet (`null` with `not_measured_reason`); satisfaction is
/// 100% − (late rate + rate of finished dossiers with a complaint) (`complaints_counted: true`,
/// `complaints`) and carries the applicants' `ratings` by level; online payment is
/// approximated (see its `note`).
#[utoipa::path(get, path = "/api/v1/indicators/dossiers", tag = "services", params(IndicatorQuery),
    responses((status = 200, description = "`from`, `to`, `scope`, `agencies` (each with `agency_code`, `agency_name`, `indicators`), `total`"),
        (status = 401, body = tinhso_http::error::Problem), (status = 403, body = tinhso_http::error::Problem),
        (status = 422, body = tinhso_http::error::Problem, description = "Bad dates, empty period or unknown agency (field errors)")))]
pub(crate) async fn dossier_indicators(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<IndicatorQuery>,
) -> Result<Json<Report>, ApiError> {
    Ok(Json(compute(&state, &ctx, &q).await?))
}

// ---------------------------------------------------------------- page

/// Width of a full (100%) bar, in SVG units.
const BAR: f64 = 240.0;

struct IndicatorRow {
    name: String,
    formula: String,
    count: String,
    value: String,
    /// Bar width, and the full-marks mark (0: none).
    bar: String,
    mark: String,
    has_mark: bool,
    measured: bool,
    note: String,
    score: String,
}

struct Block {
    id: String,
    title: String,
    rows: Vec<IndicatorRow>,
}

#[derive(Template)]
#[template(path = "indicators.html")]
struct IndicatorsPage {
    c: Chrome,
    from: String,
    to: String,
    agency: String,
    agencies: Vec<(String, String)>,
    errors: FormErrors,
    blocks: Vec<Block>,
    scope_note: String,
}

fn pct(v: f64, lang: tinhso_http::i18n::Lang) -> String {
    let s = format!("{v:.1}%");
    match lang {
        tinhso_http::i18n::Lang::Vi => s.replace('.', ","),
        tinhso_http::i18n::Lang::En => s,
    }
}

fn block(a: &indicators::AgencyIndicators, title: String, lang: tinhso_http::i18n::Lang) -> Block {
    Block {
        id: a
            .agency_code
            .as_deref()
            .map(|c| format!("co-quan-{}", c.replace('.', "-")))
            .unwrap_or_else(|| "tong".into()),
        title,
        rows: a
            .indicators
            .iter()
            .map(|i| IndicatorRow {
                name: lang.s(i.name_vi, i.name_en).to_string(),
                formula: lang.s(i.formula_vi, i.formula_en).to_string(),
                count: match (i.numerator, i.denominator) {
                    (Some(n), Some(d)) => format!("{n} / {d}"),
                    _ => "—".into(),
                },
                value: i
                    .value
                    .map(|v| pct(v, lang))
                    .unwrap_or_else(|| lang.s("chưa có", "n/a").to_string()),
                bar: format!(
                    "{:.1}",
                    i.value.unwrap_or(0.0).clamp(0.0, 100.0) * BAR / 100.0
                ),
                mark: format!("{:.1}", i.points.full_marks_at.unwrap_or(0.0) * BAR / 100.0),
                has_mark: i.points.full_marks_at.is_some(),
                measured: i.value.is_some(),
                note: {
                    // The note in the page's language (the English one if no Vietnamese).
                    let note = i
                        .not_measured_reason
                        .or(match (i.note_vi, i.note) {
                            (Some(vi), Some(en)) => Some(lang.s(vi, en)),
                            (vi, en) => en.or(vi),
                        })
                        .map(str::to_string)
                        .unwrap_or_default();
                    match (i.complaints, i.ratings) {
                        (Some(k), Some(r)) => format!(
                            "{} {k}. {} {} {}, {} {}, {} {}. {note}",
                            lang.s("Hồ sơ có kiến nghị:", "Dossiers complained about:"),
                            lang.s("Đánh giá trong kỳ:", "Ratings in the period:"),
                            r.rat_hai_long,
                            lang.s("rất hài lòng", "very satisfied"),
                            r.hai_long,
                            lang.s("hài lòng", "satisfied"),
                            r.khong_hai_long,
                            lang.s("không hài lòng", "not satisfied"),
                        ),
                        _ => note,
                    }
                },
                score: i
                    .score
                    .map(|s| format!("{s:.2} / {}", i.points.group_weight))
                    .unwrap_or_default(),
            })
            .collect(),
    }
}

pub(super) async fn indicators_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<IndicatorQuery>,
) -> Result<Response, PageError> {
    let lang = ctx.lang;
    let p = ctx.principal().map_err(|e| ctx.page_err(e))?;
    let readable = super::readable_agencies(&state, p, Permission::DossierRead)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let all = agencies::list(
        &state.db,
        &agencies::AgencyFilter {
            limit: Some(2000),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| ctx.page_err(e))?;
    let options: Vec<(String, String)> = all
        .iter()
        .filter(|a| readable.as_ref().is_none_or(|r| r.contains(&a.code)))
        .map(|a| (a.code.clone(), a.name.clone()))
        .collect();
    let (report, errors, status) = match compute(&state, &ctx, &q).await {
        Ok(r) => (Some(r), FormErrors::default(), StatusCode::OK),
        Err(e) if !e.fields.is_empty() => (
            None,
            FormErrors::of(&e, lang),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => return Err(ctx.page_err(e)),
    };
    let mut blocks = Vec::new();
    let (mut from, mut to) = (
        q.from.clone().unwrap_or_default(),
        q.to.clone().unwrap_or_default(),
    );
    if let Some(r) = &report {
        from.clone_from(&r.from);
        to.clone_from(&r.to);
        let total_title = if r.scope == "province" {
            lang.s("Toàn tỉnh", "Whole province")
        } else {
            lang.s("Tổng các cơ quan đã chọn", "Total of the chosen agencies")
        };
        blocks.push(block(&r.total, total_title.to_string(), lang));
        for a in &r.agencies {
            let title = if a.agency_name.is_empty() {
                a.agency_code.clone().unwrap_or_default()
            } else {
                a.agency_name.clone()
            };
            blocks.push(block(a, title, lang));
        }
    }
    let scope_note = match &readable {
        None => lang.s("Phạm vi: toàn tỉnh.", "Scope: the whole province."),
        Some(_) => lang.s(
            "Phạm vi: các cơ quan bạn phụ trách.",
            "Scope: the agencies in your charge.",
        ),
    }
    .to_string();
    let page = IndicatorsPage {
        c: Chrome::of(&ctx),
        from,
        to,
        agency: q.agency.clone().unwrap_or_default(),
        agencies: options,
        errors,
        blocks,
        scope_note,
    };
    Ok((status, render(&page)).into_response())
}
