//! The operations centre's pages and API (trung tâm điều hành):
//!
//! - `/lanh-dao/dieu-hanh`: one screen — counters, alerts, every target with a sparkline of
//!   its trend, its projection and status, and the communes map shaded by a chosen live
//!   indicator (`chi_so`). The live part is re-fetched every 60 s from
//!   `/lanh-dao/dieu-hanh/so-lieu` and swapped in place (a small script; without it, the page
//!   is still whole and a meta refresh-free reload shows the same).
//! - `/lanh-dao/dieu-hanh/chi-so?indicator=…&org=…&ky=…`: drill-down, province → commune →
//!   agency → the records behind the number, each linking to its back-office page.
//! - `/api/v1/operations` and `/api/v1/operations/drill`: the same numbers as JSON.
//!
//! Access: every route needs `LeaderDashboard` (RULES). A commune's or an agency's values,
//! and the records behind them, also need `DossierRead` over that unit (as
//! `/api/v1/observations`) — or, for a border indicator's commune, `BorderManage` over an
//! agency at one of its gates ([`crate::ops_access`]); on the province page and its commune
//! table, a commune the caller may not read is shown without a value.

use crate::board::Status;
use crate::engine::{Observation, OrgUnit, Registry};
use crate::geo::{self, Legend, Place};
use crate::ops::{self, Centre, Child, RecordRow, TargetView};
use crate::period::{Frequency, Period};
use crate::web::{bad_org, bad_period, num, with_unit};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tinhso_http::access::{Access, Rule};
use tinhso_http::context::require;
use tinhso_http::error::{ApiError, PageError, Problem};
use tinhso_http::layout::{render, Chrome};
use tinhso_http::{AppState, Lang, ReqCtx};
use tinhso_identity::{authorize, Permission, ResourceScope};
use tinhso_kernel::{AppError, ErrorCode, Invalid};
use utoipa::{IntoParams, OpenApi};

/// (method, route template, rule) of every route of the operations centre.
pub const RULES: &[Rule] = {
    use Access::*;
    use Permission::*;
    &[
        ("GET", "/lanh-dao/dieu-hanh", Perm(LeaderDashboard)),
        ("GET", "/lanh-dao/dieu-hanh/so-lieu", Perm(LeaderDashboard)),
        // A commune's or an agency's values also need DossierRead over it (inside).
        ("GET", "/lanh-dao/dieu-hanh/chi-so", Perm(LeaderDashboard)),
        ("GET", "/lanh-dao/dieu-hanh/tai-nguyen/{file}", Public),
        ("GET", "/api/v1/operations", Perm(LeaderDashboard)),
        // A commune's or an agency's values also need DossierRead over it (inside).
        ("GET", "/api/v1/operations/drill", Perm(LeaderDashboard)),
    ]
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/lanh-dao/dieu-hanh", get(page))
        .route("/lanh-dao/dieu-hanh/so-lieu", get(fragment))
        .route("/lanh-dao/dieu-hanh/chi-so", get(drill_page))
        .route("/lanh-dao/dieu-hanh/tai-nguyen/{file}", get(asset))
        .route("/api/v1/operations", get(api_operations))
        .route("/api/v1/operations/drill", get(api_drill))
}

#[derive(OpenApi)]
#[openapi(
    paths(api_operations, api_drill),
    components(schemas(Problem)),
    tags((name = "operations", description = "The leaders' operations centre: targets with trend, projection and status, live counters, alerts, values by commune, drill-down to records"))
)]
pub struct OperationsApiDoc;

const OPS_JS: &str = include_str!("../static/ops.js");
const OPS_CSS: &str = include_str!("../static/ops.css");

/// The page's script (the 60 s refresh) and style sheet (the content security policy allows
/// neither inline).
async fn asset(Path(file): Path<String>) -> Response {
    match file.as_str() {
        "ops.js" => (
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
            OPS_JS,
        )
            .into_response(),
        "ops.css" => ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], OPS_CSS).into_response(),
        _ => tinhso_http::error::problem_response(&AppError::new(ErrorCode::RouteNotFound)),
    }
}

// ---------------------------------------------------------------- shared

fn bad_indicator(key: &str) -> AppError {
    AppError::field(
        "indicator",
        Invalid::new(
            "indicator_live",
            format!("Quy tắc «chỉ số trực tiếp»: «{key}» không phải chỉ số nền tảng tự đo"),
            format!("Rule “live indicator”: “{key}” is not measured by the platform"),
        ),
    )
}

/// The map's default indicator.
pub const DEFAULT_MAP_INDICATOR: &str = "services.online";

fn today() -> chrono::NaiveDate {
    tinhso_services::dossier::today_local()
}

fn period_of(ky: Option<&str>) -> Result<Period, AppError> {
    match ky.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(Period::containing(Frequency::Year, today())),
        Some(p) => Period::parse(p).ok_or_else(bad_period),
    }
}

fn live_key(registry: &Registry, key: Option<&str>) -> Result<&'static str, AppError> {
    let key = key
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_MAP_INDICATOR);
    registry
        .definition(key)
        .map(|d| d.key)
        .ok_or_else(|| bad_indicator(key))
}

/// Whether the caller may read `org`'s values of `key` (no audit: used to filter lists; the
/// rule is [`crate::ops_access`]).
async fn may_read(
    state: &AppState,
    ctx: &ReqCtx,
    key: &str,
    org: &OrgUnit,
) -> Result<bool, AppError> {
    crate::ops_access::may_read(&state.db, ctx.principal.as_ref(), key, org).await
}

/// The communes' values, those the caller may not read emptied.
async fn communes_for(
    state: &AppState,
    ctx: &ReqCtx,
    registry: &Registry,
    key: &str,
    period: Period,
) -> Result<Vec<Child>, AppError> {
    let mut rows = ops::by_commune(&state.db, registry, key, period).await?;
    let everything = authorize(
        ctx.principal.as_ref(),
        Permission::DossierRead,
        &ResourceScope::province(),
    )
    .is_ok();
    if !everything {
        for r in &mut rows {
            let org = OrgUnit::parse(&r.org).ok_or_else(bad_org)?;
            if !may_read(state, ctx, key, &org).await? {
                r.observation = None;
            }
        }
    }
    Ok(rows)
}

// ---------------------------------------------------------------- API

#[derive(Deserialize, IntoParams)]
struct OpsQuery {
    /// The live indicator the communes are given for (default `services.online`).
    chi_so: Option<String>,
    /// The period of the communes' values (default: the Decree 09 year window containing today).
    ky: Option<String>,
}

#[derive(Serialize)]
struct OpsOut {
    #[serde(flatten)]
    centre: Centre,
    map: MapOut,
}

#[derive(Serialize)]
struct MapOut {
    indicator: String,
    period: String,
    communes: Vec<Child>,
}

/// The operations centre: `as_of`, `period` (of the targets' live values), `counters`
/// (`received_today`, `on_time` over the month window, `overdue`, `at_border`, `queue`,
/// `review_open`, `off_track`, `at_risk`), `alerts`, `targets` (each as `/api/v1/targets`
/// gives it, plus `trend` — points `{period, x (years), value}`, `projection` to the end of the
/// horizon year by least squares over the trend, and `overall`, the status corrected by the
/// projection), and `map`: the chosen indicator's value per commune (`observation` null where
/// nothing is measured or the caller may not read the commune).
#[utoipa::path(get, path = "/api/v1/operations", tag = "operations", params(OpsQuery),
    responses((status = 200, description = "The operations centre's numbers"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn api_operations(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<OpsQuery>,
) -> Result<Response, ApiError> {
    let registry = Registry::standard();
    let key = live_key(&registry, q.chi_so.as_deref())?;
    let period = period_of(q.ky.as_deref())?;
    let centre = ops::centre(&state.db, &registry, today(), tinhso_store::now_micros()).await?;
    let communes = communes_for(&state, &ctx, &registry, key, period).await?;
    Ok(Json(OpsOut {
        centre,
        map: MapOut {
            indicator: key.to_string(),
            period: period.to_string(),
            communes,
        },
    })
    .into_response())
}

#[derive(Deserialize, IntoParams)]
struct DrillQuery {
    /// A live indicator key (`services.on_time`, `border.declared_crossings`, …).
    indicator: String,
    /// `province` (default), `commune:05986`, `agency:000.00.23.H37`.
    #[serde(default)]
    org: String,
    /// Period key (default: the Decree 09 year window containing today).
    ky: Option<String>,
}

#[derive(Serialize)]
struct Drill {
    indicator: String,
    period: String,
    org: String,
    observation: Option<Observation>,
    /// The units below: communes (province), agencies located in the commune (commune).
    children: Vec<Child>,
    /// The records behind the number (an agency's dossiers, a commune's border trips), at most
    /// 200; `null` when the indicator has no list at this level.
    records: Option<Vec<RecordRow>>,
}

async fn drill(state: &AppState, ctx: &ReqCtx, q: &DrillQuery) -> Result<Drill, AppError> {
    let registry = Registry::standard();
    let key = live_key(&registry, Some(&q.indicator))?;
    let period = period_of(q.ky.as_deref())?;
    let org = OrgUnit::parse(&q.org).ok_or_else(bad_org)?;
    if org != OrgUnit::Province {
        // DossierRead over the unit; a border indicator's commune also to its gates' managers.
        let (perm, scope) =
            crate::ops_access::read_grant(&state.db, ctx.principal.as_ref(), key, &org).await?;
        require(state, ctx, perm, &scope, &format!("operations:{key}@{org}")).await?;
    }
    let observation = registry.observe(&state.db, key, period, &org).await?;
    let children = match &org {
        OrgUnit::Province => communes_for(state, ctx, &registry, key, period).await?,
        OrgUnit::Commune(c)
            if key.starts_with("services.") || key == crate::live_sync::DVCQG_SYNC =>
        {
            let mut out = Vec::new();
            for a in ops::agencies_in(&state.db, c).await? {
                let unit = OrgUnit::Agency(a.code.clone());
                let observation = if may_read(state, ctx, key, &unit).await? {
                    registry.observe(&state.db, key, period, &unit).await?
                } else {
                    None
                };
                out.push(Child {
                    org: unit.to_string(),
                    name: a.name,
                    observation,
                });
            }
            out
        }
        _ => Vec::new(),
    };
    let records = ops::records(&state.db, key, period, &org, 200).await?;
    Ok(Drill {
        indicator: key.to_string(),
        period: period.to_string(),
        org: org.to_string(),
        observation,
        children,
        records,
    })
}

/// Drill-down: the indicator's value for a unit (`province`, a commune, an agency), the values
/// of the units below it (communes of the province; agencies located in a commune) and the
/// records behind the number (an agency's dossiers for services indicators, with `counted`
/// when in the numerator and a link to the back-office page; the trips crossed at a commune's
/// gates for border indicators). A commune or an agency needs `dossier_read` over it.
#[utoipa::path(get, path = "/api/v1/operations/drill", tag = "operations", params(DrillQuery),
    responses((status = 200, description = "`observation`, `children`, `records`"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn api_drill(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<DrillQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(drill(&state, &ctx, &q).await?).into_response())
}

// ---------------------------------------------------------------- SVG

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A sparkline of the trend (dots and line), the target (dotted) and the projection (dashed,
/// from the line fitted at the last point to the end of the horizon year), 200 × 56.
pub fn sparkline(t: &TargetView, label: &str) -> String {
    let (w, h, pad) = (200.0_f64, 56.0_f64, 6.0_f64);
    let target = t.line.target.target_value;
    let horizon_end = f64::from(t.line.target.horizon_year + 1);
    let mut out = format!(
        "<svg class=\"spark\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        esc(label)
    );
    if t.trend.is_empty() {
        out.push_str("</svg>");
        return out;
    }
    let x0 = t.trend[0].x;
    let x1 = match t.projection {
        Some(_) => horizon_end,
        None => t.trend[t.trend.len() - 1].x,
    }
    .max(x0 + 1e-6);
    let mut lo = target;
    let mut hi = target;
    for p in &t.trend {
        lo = lo.min(p.value);
        hi = hi.max(p.value);
    }
    if let Some(p) = t.projection {
        lo = lo.min(p);
        hi = hi.max(p);
    }
    if hi - lo < 1e-9 {
        hi += 1.0;
        lo -= 1.0;
    }
    let sx = |x: f64| pad + (x - x0) / (x1 - x0) * (w - 2.0 * pad);
    let sy = |v: f64| h - pad - (v - lo) / (hi - lo) * (h - 2.0 * pad);
    out.push_str(&format!(
        "<line class=\"target\" x1=\"{pad}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#94a3b8\" stroke-dasharray=\"2 3\"/>",
        w - pad,
        y = sy(target)
    ));
    let pts: Vec<String> = t
        .trend
        .iter()
        .map(|p| format!("{:.1},{:.1}", sx(p.x), sy(p.value)))
        .collect();
    out.push_str(&format!(
        "<polyline class=\"trend\" points=\"{}\" fill=\"none\" stroke=\"#38bdf8\" stroke-width=\"2.5\"/>",
        pts.join(" ")
    ));
    for p in &t.trend {
        out.push_str(&format!(
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"#38bdf8\"><title>{}: {}</title></circle>",
            sx(p.x),
            sy(p.value),
            esc(&p.period),
            p.value
        ));
    }
    if let (Some(proj), Some(last)) = (t.projection, t.trend.last()) {
        let pts: Vec<(f64, f64)> = t.trend.iter().map(|p| (p.x, p.value)).collect();
        let from = ops::least_squares(&pts).map_or(last.value, |(a, b)| a * last.x + b);
        out.push_str(&format!(
            "<line class=\"projection\" x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#f59e0b\" stroke-width=\"2\" stroke-dasharray=\"5 4\"/>",
            sx(last.x),
            sy(from),
            sx(horizon_end),
            sy(proj)
        ));
    }
    out.push_str("</svg>");
    out
}

/// The map's palette, worst to best (red to green).
const PALETTE: [&str; 5] = ["#d73027", "#fc8d59", "#fee08b", "#91cf60", "#1a9850"];
const NO_VALUE: &str = "#64748b";

/// The shading class of a percentage: 0–20, 20–40, 40–60, 60–80, 80–100.
pub fn class_of(v: f64) -> usize {
    ((v / 20.0).floor().max(0.0) as usize).min(PALETTE.len() - 1)
}

fn drill_href(key: &str, org: &str, period: &str) -> String {
    format!("/lanh-dao/dieu-hanh/chi-so?indicator={key}&org={org}&ky={period}")
}

/// The communes map (SVG) of `key`'s values; each cell links to the commune's drill-down.
pub fn map(key: &str, name: &str, period: &str, communes: &[Child], lang: Lang) -> String {
    let all = ops::communes();
    let places: Vec<Place> = all
        .iter()
        .map(|c| {
            let org = format!("commune:{}", c.code);
            let obs = communes
                .iter()
                .find(|r| r.org == org)
                .and_then(|r| r.observation.as_ref());
            let value = obs.and_then(|o| o.value);
            let shown = match (value, obs) {
                (Some(v), Some(o)) => format!(
                    "{}% ({}/{})",
                    num(v, lang),
                    o.numerator.unwrap_or(0.0),
                    o.denominator.unwrap_or(0.0)
                ),
                _ => lang.s("chưa có số liệu", "no value").to_string(),
            };
            Place {
                code: c.code.clone(),
                name: c.name.clone(),
                lat: c.lat,
                lng: c.lng,
                class: value.map(class_of),
                title: format!("{}: {shown}", c.name),
                href: drill_href(key, &org, period),
            }
        })
        .collect();
    let classes: Vec<(&str, String)> = PALETTE
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (a, b) = (i * 20, i * 20 + 20);
            (*c, format!("{a}–{b}%"))
        })
        .collect();
    let title = format!("{name} ({period})");
    geo::map_svg(
        &format!(
            "{}: {title}",
            lang.s("Bản đồ xã, phường", "Map of the communes")
        ),
        &places,
        &Legend {
            title: &title,
            classes: &classes,
            none: (NO_VALUE, lang.s("chưa có số liệu", "no value")),
        },
    )
}

// ---------------------------------------------------------------- pages

struct Card {
    id: String,
    name: String,
    pillar: String,
    current: String,
    target: String,
    projection: String,
    status: String,
    status_class: &'static str,
    spark: String,
    /// The drill-down of a live indicator ("" for reported ones).
    drill: String,
    live: bool,
    /// A province figure from agencies' reports: "12/18 cơ quan đã báo cáo (…)".
    coverage: String,
}

struct Counter {
    id: &'static str,
    value: String,
    label: String,
    href: String,
}

#[derive(Template)]
#[template(path = "operations_live.html")]
struct LiveFragment {
    t: Lang,
    as_of: String,
    period: String,
    counters: Vec<Counter>,
    alerts: Vec<(String, String, &'static str)>,
    cards: Vec<Card>,
    map_title: String,
    map_svg: String,
}

fn status_class(s: Status) -> &'static str {
    match s {
        Status::OnTrack => "ok",
        Status::AtRisk => "warn",
        Status::OffTrack => "bad",
        Status::NoData => "none",
    }
}

async fn live_fragment(
    state: &AppState,
    ctx: &ReqCtx,
    key: &'static str,
    map_period: Period,
) -> Result<LiveFragment, AppError> {
    let lang = ctx.lang;
    let registry = Registry::standard();
    let c = ops::centre(&state.db, &registry, today(), tinhso_store::now_micros()).await?;
    let communes = communes_for(state, ctx, &registry, key, map_period).await?;
    let def = registry.definition(key).ok_or_else(|| bad_indicator(key))?;
    let name = lang.s(def.name_vi, def.name_en);
    let k = &c.counters;
    let on_time = k.on_time.as_ref();
    let counters = vec![
        Counter {
            id: "dem-ho-so-hom-nay",
            value: k.received_today.to_string(),
            label: lang
                .s("hồ sơ tiếp nhận hôm nay", "dossiers received today")
                .into(),
            href: "/nghiep-vu/ho-so".into(),
        },
        Counter {
            id: "dem-dung-han",
            value: on_time
                .and_then(|o| o.value)
                .map(|v| format!("{}%", num(v, lang)))
                .unwrap_or_else(|| "—".into()),
            label: format!(
                "{} ({})",
                lang.s("hồ sơ giải quyết đúng hạn", "dossiers settled on time"),
                on_time.map(|o| o.period.as_str()).unwrap_or_default()
            ),
            href: drill_href(
                "services.on_time",
                "province",
                on_time.map(|o| o.period.as_str()).unwrap_or_default(),
            ),
        },
        Counter {
            id: "dem-qua-han",
            value: k.overdue.to_string(),
            label: lang.s("hồ sơ quá hạn", "overdue dossiers").into(),
            href: "/nghiep-vu/ho-so?qua_han=1".into(),
        },
        Counter {
            id: "dem-xe-cua-khau",
            value: k.at_border.to_string(),
            label: lang
                .s("xe đang ở cửa khẩu", "trucks at the border now")
                .into(),
            href: "/lanh-dao/cua-khau".into(),
        },
        Counter {
            id: "dem-hang-cho",
            value: k.queue.to_string(),
            label: lang
                .s(
                    "xe trong hàng chờ qua cửa khẩu",
                    "trucks in the crossing queues",
                )
                .into(),
            href: "/lanh-dao/cua-khau".into(),
        },
        Counter {
            id: "dem-chi-tieu-cham",
            value: format!("{} / {}", k.off_track, k.at_risk),
            label: lang
                .s("chỉ tiêu chậm / có nguy cơ", "targets off track / at risk")
                .into(),
            href: "#chi-tieu".into(),
        },
    ];
    let alerts = c
        .alerts
        .iter()
        .map(|a| (a.key.to_string(), lang.s(&a.vi, &a.en).to_string(), a.href))
        .collect();
    let cards = c
        .targets
        .iter()
        .map(|t| {
            let tg = &t.line.target;
            let live = t.line.source == crate::engine::Source::Live;
            let current = match t.line.current.as_ref().and_then(|o| o.value) {
                Some(v) => with_unit(v, tg.kind, lang),
                None => lang.s("chưa có", "none yet").to_string(),
            };
            let (vi, en) = t.overall.name();
            let name = lang.s(&tg.name_vi, &tg.name_en).to_string();
            let target = format!(
                "{} {} ({})",
                match tg.direction {
                    crate::engine::Direction::AtLeast => "≥",
                    crate::engine::Direction::AtMost => "≤",
                },
                with_unit(tg.target_value, tg.kind, lang),
                tg.horizon_year
            );
            Card {
                coverage: t
                    .line
                    .current
                    .as_ref()
                    .and_then(|o| o.coverage.as_ref())
                    .map(|c| c.label(!lang.is_en()))
                    .unwrap_or_default(),
                id: format!("chi-tieu-{}", tg.id.replace('.', "-")),
                spark: sparkline(t, &format!("{}: {name}", lang.s("Xu hướng", "Trend"))),
                name,
                pillar: tg.pillar.clone(),
                current,
                target,
                projection: t
                    .projection
                    .map(|p| with_unit(p, tg.kind, lang))
                    .unwrap_or_default(),
                status: lang.s(vi, en).to_string(),
                status_class: status_class(t.overall),
                drill: if live {
                    drill_href(&tg.indicator_key, "province", &c.period)
                } else {
                    String::new()
                },
                live,
            }
        })
        .collect();
    Ok(LiveFragment {
        t: lang,
        as_of: c.as_of.clone(),
        period: c.period.clone(),
        counters,
        alerts,
        cards,
        map_title: format!("{name} — {map_period}"),
        map_svg: map(key, name, &map_period.to_string(), &communes, lang),
    })
}

#[derive(Deserialize)]
struct PageQuery {
    chi_so: Option<String>,
    ky: Option<String>,
}

#[derive(Template)]
#[template(path = "operations.html")]
struct OpsPage {
    c: Chrome,
    /// (key, label, selected) of every live indicator.
    indicators: Vec<(String, String, bool)>,
    ky: String,
    src: String,
    live: String,
}

/// The chosen indicator and period, and the live part rendered.
async fn live_html(
    state: &AppState,
    ctx: &ReqCtx,
    q: &PageQuery,
) -> Result<(&'static str, Period, String), AppError> {
    let registry = Registry::standard();
    let key = live_key(&registry, q.chi_so.as_deref())?;
    let period = period_of(q.ky.as_deref())?;
    let html = live_fragment(state, ctx, key, period)
        .await?
        .render()
        .map_err(AppError::internal)?;
    Ok((key, period, html))
}

async fn page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    let (key, period, live) = live_html(&state, &ctx, &q)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let lang = ctx.lang;
    Ok(render(&OpsPage {
        c: Chrome::of(&ctx),
        indicators: Registry::standard()
            .definitions()
            .into_iter()
            .map(|d| {
                (
                    d.key.to_string(),
                    lang.s(d.name_vi, d.name_en).to_string(),
                    d.key == key,
                )
            })
            .collect(),
        ky: period.to_string(),
        src: format!("/lanh-dao/dieu-hanh/so-lieu?chi_so={key}&ky={period}"),
        live,
    }))
}

/// The live part alone, for the page's refresh.
async fn fragment(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    let (_, _, html) = live_html(&state, &ctx, &q)
        .await
        .map_err(|e| ctx.page_err(e))?;
    Ok(Html(html).into_response())
}

struct ChildRow {
    name: String,
    value: String,
    fraction: String,
    href: String,
}

#[derive(Template)]
#[template(path = "operations_drill.html")]
struct DrillPage {
    c: Chrome,
    indicator: String,
    name: String,
    numerator_vi: String,
    denominator_vi: String,
    period: String,
    /// (label, href) from the province down to the unit shown.
    crumbs: Vec<(String, String)>,
    unit: String,
    value: String,
    fraction: String,
    note: String,
    children_title: String,
    children: Vec<ChildRow>,
    has_records: bool,
    records: Vec<RecordRow>,
    map_svg: String,
}

fn unit_name(org: &OrgUnit, lang: Lang) -> String {
    match org {
        OrgUnit::Province => lang.s("Tỉnh Lạng Sơn", "Lạng Sơn province").to_string(),
        OrgUnit::Commune(c) => tinhso_refdata::units::units()
            .commune(c)
            .map(|u| u.full_name.clone())
            .unwrap_or_else(|| c.clone()),
        OrgUnit::Agency(a) => a.clone(),
    }
}

fn fraction(o: Option<&Observation>) -> String {
    match o.and_then(|o| Some((o.numerator?, o.denominator?))) {
        Some((n, d)) => format!("{n} / {d}"),
        None => String::new(),
    }
}

async fn drill_page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<DrillQuery>,
) -> Result<Response, PageError> {
    let lang = ctx.lang;
    let d = drill(&state, &ctx, &q).await.map_err(|e| ctx.page_err(e))?;
    let registry = Registry::standard();
    let def = registry
        .definition(&d.indicator)
        .ok_or_else(|| ctx.page_err(bad_indicator(&d.indicator)))?;
    let org = OrgUnit::parse(&d.org).ok_or_else(|| ctx.page_err(bad_org()))?;
    let mut crumbs = vec![(
        lang.s("Tỉnh", "Province").to_string(),
        drill_href(&d.indicator, "province", &d.period),
    )];
    let mut unit = unit_name(&org, lang);
    if let OrgUnit::Agency(a) = &org {
        if let Some(ag) = tinhso_refdata::agencies::get(&state.db, a)
            .await
            .map_err(|e| ctx.page_err(e))?
        {
            unit = ag.name.clone();
            if let Some(c) = ag.admin_unit_code.filter(|c| c.len() == 5) {
                let corg = OrgUnit::Commune(c);
                crumbs.push((
                    unit_name(&corg, lang),
                    drill_href(&d.indicator, &corg.to_string(), &d.period),
                ));
            }
        }
    }
    if org != OrgUnit::Province {
        crumbs.push((unit.clone(), drill_href(&d.indicator, &d.org, &d.period)));
    }
    let children = d
        .children
        .iter()
        .map(|c| ChildRow {
            name: c.name.clone(),
            value: c
                .observation
                .as_ref()
                .and_then(|o| o.value)
                .map(|v| format!("{}%", num(v, lang)))
                .unwrap_or_else(|| "—".into()),
            fraction: fraction(c.observation.as_ref()),
            href: if c.observation.is_some() || org == OrgUnit::Province {
                drill_href(&d.indicator, &c.org, &d.period)
            } else {
                String::new()
            },
        })
        .collect();
    let name = lang.s(def.name_vi, def.name_en).to_string();
    let map_svg = if org == OrgUnit::Province {
        map(&d.indicator, &name, &d.period, &d.children, lang)
    } else {
        String::new()
    };
    let page = DrillPage {
        c: Chrome::of(&ctx),
        indicator: d.indicator.clone(),
        numerator_vi: def.numerator_vi.to_string(),
        denominator_vi: def.denominator_vi.to_string(),
        period: d.period.clone(),
        crumbs,
        value: d
            .observation
            .as_ref()
            .and_then(|o| o.value)
            .map(|v| format!("{}%", num(v, lang)))
            .unwrap_or_else(|| lang.s("chưa có số liệu", "no value").to_string()),
        fraction: fraction(d.observation.as_ref()),
        // The note in the page's language (the services module's notes come in both).
        note: d
            .observation
            .as_ref()
            .and_then(|o| o.note_in(lang == Lang::En))
            .unwrap_or_default()
            .to_string(),
        children_title: match org {
            OrgUnit::Province => lang.s("Theo xã, phường", "By commune").to_string(),
            _ => lang
                .s("Cơ quan đặt tại xã, phường", "Agencies in the commune")
                .to_string(),
        },
        children,
        has_records: d.records.is_some(),
        records: d.records.unwrap_or_default(),
        name,
        unit,
        map_svg,
    };
    Ok(render(&page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_of_percentages() {
        assert_eq!(class_of(0.0), 0);
        assert_eq!(class_of(19.9), 0);
        assert_eq!(class_of(20.0), 1);
        assert_eq!(class_of(79.9), 3);
        assert_eq!(class_of(80.0), 4);
        assert_eq!(class_of(100.0), 4);
    }

    #[test]
    fn the_map_has_one_shaded_cell_per_commune() {
        let communes = ops::communes();
        // Every third commune has no value; the others 0, 10, …, 100 %.
        let rows: Vec<Child> = communes
            .iter()
            .enumerate()
            .map(|(i, c)| Child {
                org: format!("commune:{}", c.code),
                name: c.name.clone(),
                observation: (i % 3 != 0).then(|| Observation {
                    indicator: "services.online".into(),
                    period: "2026".into(),
                    org: format!("commune:{}", c.code),
                    source: crate::engine::Source::Live,
                    numerator: Some((i % 11) as f64),
                    denominator: Some(10.0),
                    value: Some(((i % 11) * 10) as f64),
                    version: None,
                    note: None,
                    note_en: None,
                    coverage: None,
                }),
            })
            .collect();
        let svg = map(
            "services.online",
            "Hồ sơ trực tuyến",
            "2026",
            &rows,
            Lang::Vi,
        );
        assert_eq!(svg.matches("<path class=\"cell\"").count(), 65);
        for c in &communes {
            assert_eq!(
                svg.matches(&format!("data-commune=\"{}\"", c.code)).count(),
                1
            );
        }
        // Each cell's fill is the class of its value, or the no-value grey.
        for (i, c) in communes.iter().enumerate() {
            let at = svg.find(&format!("data-commune=\"{}\"", c.code)).unwrap();
            let fill_at = svg[at..].find("fill=\"").unwrap() + at + 6;
            let fill = &svg[fill_at..fill_at + 7];
            let want = if i % 3 == 0 {
                NO_VALUE
            } else {
                PALETTE[class_of(((i % 11) * 10) as f64)]
            };
            assert_eq!(fill, want, "{}", c.code);
        }
        // The legend: five classes and "no value".
        assert_eq!(svg.matches("class=\"legend\"").count(), 6);
        assert!(svg.contains("<title>Phường Tam Thanh: "));
        assert!(svg.contains(
            "href=\"/lanh-dao/dieu-hanh/chi-so?indicator=services.online&amp;org=commune:"
        ));
    }
}
