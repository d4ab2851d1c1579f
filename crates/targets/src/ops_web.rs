//! The operations centre's pages and API (trung tâm điều hành):
//!
//! - `/lanh-dao/dieu-hanh`: one screen — counters, alerts, every target with a sparkline of
//!   its trend, its projection and status, and the communes map shaded by a chosen indicator
//!   (`chi_so`: any live indicator or a plan's reported one; the reason instead of the map when
//!   no commune has a value). The live part is re-fetched every 60 s from
//!   `/lanh-dao/dieu-hanh/so-lieu` and swapped in place (a small script; without it, the page
//!   is still whole and a meta refresh-free reload shows the same).
//! - `/lanh-dao/dieu-hanh/chi-so?indicator=…&org=…&ky=…`: drill-down, province → commune →
//!   agency → the records behind the number, each linking to its back-office page; for a
//!   reported indicator, the values reported for each unit.
//! - `/api/v1/operations` and `/api/v1/operations/drill`: the same numbers as JSON.
//!
//! Access: every route needs `LeaderDashboard` (RULES). A commune's or an agency's values,
//! and the records behind them, also need `DossierRead` over that unit (as
//! `/api/v1/observations`) — or, for a border indicator's commune, `BorderManage` over an
//! agency at one of its gates ([`crate::ops_access`]); on the province page and its commune
//! table, a commune the caller may not read is shown without a value.

use crate::board::Status;
use crate::engine::{Direction, Kind, Observation, OrgUnit, Registry, Source};
use crate::geo::{self, Legend, Place};
use crate::ops::{self, Centre, Child, CommuneMap, MapIndicator, Message, RecordRow, TargetView};
use crate::period::{Frequency, Period};
use crate::report_trail::{self, TrailRow};
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
use tinhso_kernel::{AppError, ErrorCode};
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

/// The map's indicator (`None` or empty: [`DEFAULT_MAP_INDICATOR`]): any live indicator or
/// reported indicator of a plan ([`ops::map_indicator`]).
async fn map_key(
    state: &AppState,
    registry: &Registry,
    key: Option<&str>,
) -> Result<MapIndicator, AppError> {
    let key = key
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_MAP_INDICATOR);
    ops::map_indicator(&state.db, registry, key).await
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

/// The communes map of `key`, the communes the caller may not read emptied; when that leaves
/// no value the reason says so.
async fn communes_for(
    state: &AppState,
    ctx: &ReqCtx,
    registry: &Registry,
    key: &str,
    period: Period,
) -> Result<CommuneMap, AppError> {
    let mut m = ops::commune_map(&state.db, registry, key, period).await?;
    let everything = authorize(
        ctx.principal.as_ref(),
        Permission::DossierRead,
        &ResourceScope::province(),
    )
    .is_ok();
    if !everything {
        let had = m.has_values();
        // In the page's view: a border indicator's check reads the gates once, not per commune.
        let hidden = registry
            .in_view(async {
                let mut hidden = Vec::new();
                for (i, r) in m.communes.iter().enumerate() {
                    let org = OrgUnit::parse(&r.org).ok_or_else(bad_org)?;
                    if !may_read(state, ctx, key, &org).await? {
                        hidden.push(i);
                    }
                }
                Ok::<_, AppError>(hidden)
            })
            .await?;
        for i in hidden {
            if let Some(r) = m.communes.get_mut(i) {
                r.observation = None;
            }
        }
        if had && !m.has_values() {
            m.empty = Some(Message {
                vi: "Bạn không có quyền xem số liệu theo xã, phường của chỉ số này.".into(),
                en: "You may not see this indicator's values by commune.".into(),
            });
        }
    }
    Ok(m)
}

// ---------------------------------------------------------------- API

#[derive(Deserialize, IntoParams)]
struct OpsQuery {
    /// The indicator the communes are given for (default `services.online`): a live indicator
    /// or a plan's reported indicator.
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
    /// `percent`, `rate`, `rank` or `boolean`.
    kind: Kind,
    direction: Direction,
    /// `live` or `reported`.
    source: Source,
    period: String,
    communes: Vec<Child>,
    /// Why no commune has a value (`vi`, `en`), when none has; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    empty: Option<Message>,
}

impl MapOut {
    fn of(m: CommuneMap) -> Self {
        MapOut {
            indicator: m.indicator.key,
            kind: m.indicator.kind,
            direction: m.indicator.direction,
            source: m.indicator.source,
            period: m.period,
            communes: m.communes,
            empty: m.empty,
        }
    }
}

/// The operations centre: `as_of`, `period` (of the targets' live values), `counters`
/// (`received_today`, `on_time` over the month window, `overdue`, `at_border`, `queue`,
/// `review_open`, `off_track`, `at_risk`), `alerts`, `targets` (each as `/api/v1/targets`
/// gives it, plus `trend` — points `{period, x (years), value}`, `projection` to the end of the
/// horizon year by least squares over the trend, and `overall`, the status corrected by the
/// projection), and `map`: the chosen indicator's value per commune (`observation` null where
/// nothing is measured or reported, or the caller may not read the commune), with its `kind`,
/// `direction` and `source`, and `empty` (`vi`, `en`) saying why when no commune has a value.
#[utoipa::path(get, path = "/api/v1/operations", tag = "operations", params(OpsQuery),
    responses((status = 200, description = "The operations centre's numbers"),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn api_operations(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<OpsQuery>,
) -> Result<Response, ApiError> {
    let registry = Registry::standard();
    let m = map_key(&state, &registry, q.chi_so.as_deref()).await?;
    let period = period_of(q.ky.as_deref())?;
    let centre = ops::centre(&state.db, &registry, today(), tinhso_store::now_micros()).await?;
    let map = communes_for(&state, &ctx, &registry, &m.key, period).await?;
    Ok(Json(OpsOut {
        centre,
        map: MapOut::of(map),
    })
    .into_response())
}

#[derive(Deserialize, IntoParams)]
struct DrillQuery {
    /// An indicator key: live (`services.on_time`, `border.declared_crossings`, …) or a plan's
    /// reported indicator (`reported.soc.fibre-households`: the values reported for the unit).
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
    /// On the province: why no commune has a value, when none has.
    #[serde(skip_serializing_if = "Option::is_none")]
    communes_empty: Option<Message>,
    /// The records behind the number (an agency's dossiers, a commune's border trips), at most
    /// 200; `null` when the indicator has no list at this level.
    records: Option<Vec<RecordRow>>,
    /// A reported indicator: every version of the reports recording it for the unit's agencies
    /// and the period (saved, submitted, returned, approved: who, when, the value, the
    /// comment), newest first, at most 200, those the caller may see; `null` for a live one.
    reports: Option<Vec<TrailRow>>,
    /// The value broken down by each disaggregation (phân tổ) the indicator supports here:
    /// the total and one value per category; empty when it supports none.
    disaggregations: Vec<crate::engine::Disaggregated>,
}

async fn drill(state: &AppState, ctx: &ReqCtx, q: &DrillQuery) -> Result<Drill, AppError> {
    let registry = Registry::standard();
    // Any indicator of the map: live, or reported (a commune's or an agency's own values).
    let m = ops::map_indicator(&state.db, &registry, q.indicator.trim()).await?;
    let key = m.key.as_str();
    let period = period_of(q.ky.as_deref())?;
    let org = OrgUnit::parse(&q.org).ok_or_else(bad_org)?;
    if org != OrgUnit::Province {
        // DossierRead over the unit; a border indicator's commune also to its gates' managers.
        let (perm, scope) =
            crate::ops_access::read_grant(&state.db, ctx.principal.as_ref(), key, &org).await?;
        require(state, ctx, perm, &scope, &format!("operations:{key}@{org}")).await?;
    }
    let observation = registry.observe(&state.db, key, period, &org).await?;
    let mut communes_empty = None;
    let children = match &org {
        OrgUnit::Province => {
            let m = communes_for(state, ctx, &registry, key, period).await?;
            communes_empty = m.empty;
            m.communes
        }
        OrgUnit::Commune(c)
            if key.starts_with("services.")
                || key.starts_with("reported.")
                || key == crate::live_sync::DVCQG_SYNC =>
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
    let reports = if key.starts_with("reported.") {
        let agencies = match &org {
            OrgUnit::Province => None,
            OrgUnit::Commune(c) => Some(
                ops::agencies_in(&state.db, c)
                    .await?
                    .into_iter()
                    .map(|a| a.code)
                    .collect(),
            ),
            OrgUnit::Agency(a) => Some(vec![a.clone()]),
        };
        let rows = report_trail::behind(&state.db, key, period, agencies.as_deref(), 200).await?;
        Some(reports_seen(state, ctx, rows).await?)
    } else {
        None
    };
    let mut disaggregations = Vec::new();
    if observation.is_some() {
        for by in registry.disaggregations(key) {
            disaggregations.push(
                registry
                    .observe_by(&state.db, key, period, &org, by.key)
                    .await?,
            );
        }
    }
    Ok(Drill {
        indicator: key.to_string(),
        period: period.to_string(),
        org: org.to_string(),
        disaggregations,
        observation,
        children,
        communes_empty,
        records,
        reports,
    })
}

/// The report versions the caller may see, as on the report's own page: an approved report's
/// to anyone who may open the drill-down; one not yet approved only to staff over the reporting
/// agency or the recipient ([`crate::reports::Viewer`]).
async fn reports_seen(
    state: &AppState,
    ctx: &ReqCtx,
    rows: Vec<TrailRow>,
) -> Result<Vec<TrailRow>, AppError> {
    let mut viewer = crate::reports::Viewer::new(ctx.principal.as_ref());
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        if viewer
            .sees(&state.db, &r.task_status, &r.agency_code, &r.recipient_code)
            .await?
        {
            out.push(r);
        }
    }
    Ok(out)
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

/// How a map shades its values (thang màu): classes in value order, each with its colour and
/// label. Shares: five fixed classes of 20 points; done-or-not: two; growth rates and anything
/// else: five equal classes between the smallest and the largest value shown. The colours run
/// from worst to best in the indicator's direction (for an "at most" indicator the lowest
/// values are green).
pub struct Scale {
    /// The lower edge of each class, ascending (the first class also takes anything below).
    edges: Vec<f64>,
    classes: Vec<(&'static str, String)>,
}

impl Scale {
    pub fn new(kind: Kind, direction: Direction, values: &[f64], lang: Lang) -> Self {
        let (edges, labels): (Vec<f64>, Vec<String>) = match kind {
            Kind::Percent => (0..5)
                .map(|i| (f64::from(i) * 20.0, format!("{}–{}%", i * 20, i * 20 + 20)))
                .unzip(),
            Kind::Boolean => (
                vec![0.0, 100.0],
                vec![
                    lang.s("chưa đạt", "not done").to_string(),
                    lang.s("đạt", "done").to_string(),
                ],
            ),
            Kind::Rate | Kind::Rank => {
                let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                if !lo.is_finite() || hi - lo < 1e-9 {
                    let v = if lo.is_finite() { lo } else { 0.0 };
                    (vec![v], vec![crate::web::with_unit(v, kind, lang)])
                } else {
                    let step = (hi - lo) / 5.0;
                    (0..5)
                        .map(|i| {
                            let a = lo + step * f64::from(i);
                            let b = a + step;
                            (
                                a,
                                format!(
                                    "{} – {}",
                                    num(a, lang),
                                    crate::web::with_unit(b, kind, lang)
                                ),
                            )
                        })
                        .unzip()
                }
            }
        };
        let n = labels.len();
        // Colours spread over the palette, worst to best in the indicator's direction.
        let colour = |i: usize| {
            let at = if n <= 1 {
                PALETTE.len() - 1
            } else {
                i * (PALETTE.len() - 1) / (n - 1)
            };
            match direction {
                Direction::AtLeast => PALETTE[at],
                Direction::AtMost => PALETTE[PALETTE.len() - 1 - at],
            }
        };
        Scale {
            edges,
            classes: labels
                .into_iter()
                .enumerate()
                .map(|(i, l)| (colour(i), l))
                .collect(),
        }
    }

    /// The class of `v`: the last class whose lower edge is at most `v` (rounding slack 1e-9).
    pub fn class(&self, v: f64) -> usize {
        self.edges.iter().rposition(|e| v + 1e-9 >= *e).unwrap_or(0)
    }

    /// The classes, in value order: (colour, label).
    pub fn classes(&self) -> &[(&'static str, String)] {
        &self.classes
    }
}

fn drill_href(key: &str, org: &str, period: &str) -> String {
    format!("/lanh-dao/dieu-hanh/chi-so?indicator={key}&org={org}&ky={period}")
}

/// The communes map (SVG) of `m`'s values, shaded by its [`Scale`]; each cell links to the
/// commune's drill-down.
pub fn map(m: &MapIndicator, period: &str, communes: &[Child], lang: Lang) -> String {
    let all = ops::communes();
    let value_of = |code: &str| {
        let org = format!("commune:{code}");
        communes
            .iter()
            .find(|r| r.org == org)
            .and_then(|r| r.observation.as_ref())
    };
    let values: Vec<f64> = communes
        .iter()
        .filter_map(|r| r.observation.as_ref().and_then(|o| o.value))
        .collect();
    let scale = Scale::new(m.kind, m.direction, &values, lang);
    let places: Vec<Place> = all
        .iter()
        .map(|c| {
            let obs = value_of(&c.code);
            let value = obs.and_then(|o| o.value);
            let shown = match (value, obs) {
                (Some(v), Some(o)) => {
                    let counts = match (o.numerator, o.denominator) {
                        (Some(n), Some(d)) => format!(" ({n}/{d})"),
                        _ => String::new(),
                    };
                    format!("{}{counts}", crate::web::with_unit(v, m.kind, lang))
                }
                _ => lang.s("chưa có số liệu", "no value").to_string(),
            };
            Place {
                code: c.code.clone(),
                name: c.name.clone(),
                lat: c.lat,
                lng: c.lng,
                class: value.map(|v| scale.class(v)),
                title: format!("{}: {shown}", c.name),
                href: drill_href(&m.key, &format!("commune:{}", c.code), period),
            }
        })
        .collect();
    let name = lang.s(&m.name_vi, &m.name_en);
    let title = format!("{name} ({period})");
    geo::map_svg(
        &format!(
            "{}: {title}",
            lang.s("Bản đồ xã, phường", "Map of the communes")
        ),
        &places,
        &Legend {
            title: &title,
            classes: scale.classes(),
            none: (NO_VALUE, lang.s("chưa có số liệu", "no value")),
        },
    )
}

/// The map of `m`, or — when no commune has a value the caller may see — the reason, as
/// `(svg, message)`: exactly one of the two is not empty.
pub fn map_or_reason(m: &CommuneMap, lang: Lang) -> (String, String) {
    match &m.empty {
        Some(msg) => (String::new(), lang.s(&msg.vi, &msg.en).to_string()),
        None => (
            map(&m.indicator, &m.period, &m.communes, lang),
            String::new(),
        ),
    }
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
    /// Why there is no map (no commune has a value), instead of an empty one.
    map_empty: String,
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
    registry: &Registry,
    key: &str,
    map_period: Period,
) -> Result<LiveFragment, AppError> {
    let lang = ctx.lang;
    let c = ops::centre(&state.db, registry, today(), tinhso_store::now_micros()).await?;
    let communes = communes_for(state, ctx, registry, key, map_period).await?;
    let name = lang
        .s(&communes.indicator.name_vi, &communes.indicator.name_en)
        .to_string();
    let (map_svg, map_empty) = map_or_reason(&communes, lang);
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
                drill: drill_href(&tg.indicator_key, "province", &c.period),
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
        map_svg,
        map_empty,
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
    /// (key, label, selected) of every indicator the map can show (live, then reported).
    indicators: Vec<(String, String, bool)>,
    ky: String,
    src: String,
    live: String,
}

/// The chosen indicator and period, and the live part rendered.
async fn live_html(
    state: &AppState,
    ctx: &ReqCtx,
    registry: &Registry,
    q: &PageQuery,
) -> Result<(String, Period, String), AppError> {
    let m = map_key(state, registry, q.chi_so.as_deref()).await?;
    let period = period_of(q.ky.as_deref())?;
    let html = live_fragment(state, ctx, registry, &m.key, period)
        .await?
        .render()
        .map_err(AppError::internal)?;
    Ok((m.key, period, html))
}

async fn page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    let registry = Registry::standard();
    let (key, period, live) = live_html(&state, &ctx, &registry, &q)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let lang = ctx.lang;
    let choices = ops::map_indicators(&state.db, &registry)
        .await
        .map_err(|e| ctx.page_err(e))?;
    Ok(render(&OpsPage {
        c: Chrome::of(&ctx),
        indicators: choices
            .into_iter()
            .map(|m| {
                let name = lang.s(&m.name_vi, &m.name_en);
                let label = match m.source {
                    Source::Live => name.to_string(),
                    Source::Reported => format!("{name} ({})", lang.s("báo cáo", "reported")),
                };
                (m.key.clone(), label, m.key == key)
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
    let (_, _, html) = live_html(&state, &ctx, &Registry::standard(), &q)
        .await
        .map_err(|e| ctx.page_err(e))?;
    Ok(Html(html).into_response())
}

/// A disaggregation as the drill-down shows it: a table of its categories with a bar each.
struct BreakdownView {
    id: String,
    title: String,
    rows: Vec<BreakdownRow>,
}

struct BreakdownRow {
    label: String,
    value: String,
    fraction: String,
    /// An SVG bar of the value (0–100), "" without one.
    bar: String,
}

/// A horizontal bar of a share (0–100 %), 100 px wide at 100 %.
fn share_bar(v: f64) -> String {
    let w = crate::engine::round1(v.clamp(0.0, 100.0));
    format!(
        "<svg class=\"ops-bar\" width=\"100\" height=\"10\" viewBox=\"0 0 100 10\" aria-hidden=\"true\">\
         <rect width=\"100\" height=\"10\" fill=\"#e6e6e6\"/><rect width=\"{w}\" height=\"10\" fill=\"#1f5fa8\"/></svg>"
    )
}

fn breakdowns(list: &[crate::engine::Disaggregated], kind: Kind, lang: Lang) -> Vec<BreakdownView> {
    list.iter()
        .map(|d| BreakdownView {
            id: format!("phan-to-{}", d.by),
            title: format!(
                "{} {}",
                lang.s("Phân tổ theo", "By"),
                lang.s(&d.name_vi, &d.name_en).to_lowercase()
            ),
            rows: d
                .categories
                .iter()
                .map(|c| BreakdownRow {
                    label: lang.s(&c.label_vi, &c.label_en).to_string(),
                    value: c
                        .value
                        .map(|v| crate::web::with_unit(v, kind, lang))
                        .unwrap_or_else(|| "—".into()),
                    fraction: match (c.numerator, c.denominator) {
                        (Some(n), Some(d)) => format!("{n} / {d}"),
                        _ => String::new(),
                    },
                    bar: match c.value {
                        Some(v) if kind == Kind::Percent => share_bar(v),
                        _ => String::new(),
                    },
                })
                .collect(),
        })
        .collect()
}

struct ChildRow {
    name: String,
    value: String,
    fraction: String,
    href: String,
}

/// A report version as the drill-down shows it.
struct TrailView {
    at: String,
    /// The reporting agency, the regime and the report's period.
    report: String,
    href: String,
    version: i64,
    action: String,
    actor: String,
    value: String,
    comment: String,
    late: bool,
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
    has_reports: bool,
    reports: Vec<TrailView>,
    /// The disaggregations' tables.
    breakdowns: Vec<BreakdownView>,
    map_svg: String,
    /// Why there is no communes map (no commune has a value).
    map_empty: String,
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
    let m = ops::map_indicator(&state.db, &registry, &d.indicator)
        .await
        .map_err(|e| ctx.page_err(e))?;
    // A live indicator names its numerator and denominator; a reported one carries its own.
    let (numerator_vi, denominator_vi) = match registry.definition(&d.indicator) {
        Some(def) => (def.numerator_vi, def.denominator_vi),
        None => ("tử số báo cáo", "mẫu số báo cáo"),
    };
    let shown = |v: f64| crate::web::with_unit(v, m.kind, lang);
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
                .map(shown)
                .unwrap_or_else(|| "—".into()),
            fraction: fraction(c.observation.as_ref()),
            href: if c.observation.is_some() || org == OrgUnit::Province {
                drill_href(&d.indicator, &c.org, &d.period)
            } else {
                String::new()
            },
        })
        .collect();
    let name = lang.s(&m.name_vi, &m.name_en).to_string();
    let (map_svg, map_empty) = if org == OrgUnit::Province {
        let m = CommuneMap {
            indicator: m.clone(),
            period: d.period.clone(),
            communes: d.children.clone(),
            empty: d.communes_empty.clone(),
        };
        map_or_reason(&m, lang)
    } else {
        (String::new(), String::new())
    };
    let page = DrillPage {
        c: Chrome::of(&ctx),
        indicator: d.indicator.clone(),
        numerator_vi: numerator_vi.to_string(),
        denominator_vi: denominator_vi.to_string(),
        period: d.period.clone(),
        crumbs,
        value: d
            .observation
            .as_ref()
            .and_then(|o| o.value)
            .map(shown)
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
        breakdowns: breakdowns(&d.disaggregations, m.kind, lang),
        has_records: d.records.is_some(),
        records: d.records.unwrap_or_default(),
        has_reports: d.reports.is_some(),
        reports: d
            .reports
            .unwrap_or_default()
            .into_iter()
            .map(|r| TrailView {
                at: tinhso_http::layout::local_time(r.at),
                report: format!("{} · {} · {}", r.agency_name, r.regime_code, r.period),
                href: r.href,
                version: r.version,
                action: crate::web_reports::action_label(&r.action, lang),
                actor: r.actor_name.unwrap_or(r.actor),
                value: match r.value.as_f64() {
                    Some(v) => shown(v),
                    None => crate::web_reports::show(&r.value, lang),
                },
                comment: r.comment,
                late: r.late,
            })
            .collect(),
        name,
        unit,
        map_svg,
        map_empty,
    };
    Ok(render(&page))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indicator(key: &str, kind: Kind, direction: Direction, source: Source) -> MapIndicator {
        MapIndicator {
            key: key.into(),
            name_vi: "Chỉ số thử".into(),
            name_en: "Test indicator".into(),
            kind,
            direction,
            source,
        }
    }

    fn obs(code: &str, value: f64, counts: Option<(f64, f64)>) -> Observation {
        Observation {
            indicator: "x".into(),
            period: "2026".into(),
            org: format!("commune:{code}"),
            source: Source::Live,
            numerator: counts.map(|c| c.0),
            denominator: counts.map(|c| c.1),
            value: Some(value),
            version: None,
            note: None,
            note_en: None,
            coverage: None,
        }
    }

    /// Every commune, the first ones with `values` as reported (no counts), the rest without.
    fn reported_rows(values: &[f64]) -> (Vec<ops::Commune>, Vec<Child>) {
        let communes = ops::communes();
        let rows = communes
            .iter()
            .enumerate()
            .map(|(i, c)| Child {
                org: format!("commune:{}", c.code),
                name: c.name.clone(),
                observation: values.get(i).map(|v| obs(&c.code, *v, None)),
            })
            .collect();
        (communes, rows)
    }

    /// The fill of commune `code`'s cell.
    fn fill_of<'a>(svg: &'a str, code: &str) -> &'a str {
        let at = svg.find(&format!("data-commune=\"{code}\"")).unwrap();
        let fill_at = svg[at..].find("fill=\"").unwrap() + at + 6;
        &svg[fill_at..fill_at + 7]
    }

    /// The legend's (colour, label) pairs, in order, the "no value" one last.
    fn legend(svg: &str) -> Vec<(String, String)> {
        svg.split("<rect class=\"legend\"")
            .skip(1)
            .map(|part| {
                let f = part.find("fill=\"").unwrap() + 6;
                let colour = part[f..f + 7].to_string();
                let l = part.find("fill=\"currentColor\">").unwrap() + 20;
                let label = part[l..part[l..].find("</text>").unwrap() + l].to_string();
                (colour, label)
            })
            .collect()
    }

    #[test]
    fn classes_of_percentages() {
        let s = Scale::new(Kind::Percent, Direction::AtLeast, &[], Lang::Vi);
        assert_eq!(s.class(0.0), 0);
        assert_eq!(s.class(19.9), 0);
        assert_eq!(s.class(20.0), 1);
        assert_eq!(s.class(79.9), 3);
        assert_eq!(s.class(80.0), 4);
        assert_eq!(s.class(100.0), 4);
        assert_eq!(s.classes().len(), 5);
        // Lower is better: the same classes, green first.
        let low = Scale::new(Kind::Percent, Direction::AtMost, &[], Lang::Vi);
        assert_eq!(low.classes()[0].0, PALETTE[4]);
        assert_eq!(low.classes()[4].0, PALETTE[0]);
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
                observation: (i % 3 != 0).then(|| {
                    obs(
                        &c.code,
                        ((i % 11) * 10) as f64,
                        Some(((i % 11) as f64, 10.0)),
                    )
                }),
            })
            .collect();
        let m = indicator(
            "services.online",
            Kind::Percent,
            Direction::AtLeast,
            Source::Live,
        );
        let svg = map(&m, "2026", &rows, Lang::Vi);
        assert_eq!(svg.matches("<path class=\"cell\"").count(), 65);
        for c in &communes {
            assert_eq!(
                svg.matches(&format!("data-commune=\"{}\"", c.code)).count(),
                1
            );
        }
        // Each cell's fill is the class of its value (20 points each), or the no-value grey.
        for (i, c) in communes.iter().enumerate() {
            let want = if i % 3 == 0 {
                NO_VALUE
            } else {
                PALETTE[((i % 11) * 10 / 20).min(4)]
            };
            assert_eq!(fill_of(&svg, &c.code), want, "{}", c.code);
        }
        // The legend: five classes and "no value".
        let l = legend(&svg);
        assert_eq!(l.len(), 6);
        assert_eq!(l[0], (PALETTE[0].to_string(), "0–20%".to_string()));
        assert_eq!(l[4], (PALETTE[4].to_string(), "80–100%".to_string()));
        assert_eq!(l[5], (NO_VALUE.to_string(), "chưa có số liệu".to_string()));
        assert!(svg.contains("<title>Phường Tam Thanh: "));
        assert!(svg.contains(
            "href=\"/lanh-dao/dieu-hanh/chi-so?indicator=services.online&amp;org=commune:"
        ));
    }

    #[test]
    fn a_reported_growth_rate_is_shaded_between_its_smallest_and_largest_value() {
        // Three communes reported −10, 15 and 40 %/year (no counts); the rest nothing.
        let (communes, rows) = reported_rows(&[-10.0, 15.0, 40.0]);
        let m = indicator(
            "reported.econ.growth",
            Kind::Rate,
            Direction::AtLeast,
            Source::Reported,
        );
        let svg = map(&m, "2025", &rows, Lang::Vi);
        // Five classes of 10 points from −10 to 40: −10 the worst, 15 the middle, 40 the best.
        let l = legend(&svg);
        assert_eq!(l.len(), 6);
        assert_eq!(l[0].1, "-10 – 0%/năm");
        assert_eq!(l[2].1, "10 – 20%/năm");
        assert_eq!(l[4].1, "30 – 40%/năm");
        assert_eq!(fill_of(&svg, &communes[0].code), PALETTE[0]);
        assert_eq!(fill_of(&svg, &communes[1].code), PALETTE[2]);
        assert_eq!(fill_of(&svg, &communes[2].code), PALETTE[4]);
        assert_eq!(fill_of(&svg, &communes[3].code), NO_VALUE);
        // Its value with its unit, no "(0/0)"; the cell drills down like a live one's.
        assert!(svg.contains(&format!("<title>{}: 15%/năm</title>", communes[1].name)));
        assert!(svg.contains(&format!(
            "<a href=\"/lanh-dao/dieu-hanh/chi-so?indicator=reported.econ.growth&amp;org=commune:{}&amp;ky=2025\">",
            communes[1].code
        )));
        // Lower is better: the colours turn round.
        let m = indicator(
            "reported.x",
            Kind::Rate,
            Direction::AtMost,
            Source::Reported,
        );
        let svg = map(&m, "2025", &rows, Lang::En);
        assert_eq!(fill_of(&svg, &communes[0].code), PALETTE[4]);
        assert_eq!(fill_of(&svg, &communes[2].code), PALETTE[0]);
        assert_eq!(legend(&svg)[5].1, "no value");
    }

    #[test]
    fn done_or_not_has_two_classes() {
        // Two communes: not done (0) and done (100); the rest nothing.
        let (communes, rows) = reported_rows(&[0.0, 100.0]);
        let m = indicator(
            "reported.gov.done",
            Kind::Boolean,
            Direction::AtLeast,
            Source::Reported,
        );
        let svg = map(&m, "2025", &rows, Lang::En);
        let l = legend(&svg);
        assert_eq!(
            l,
            [
                (PALETTE[0].to_string(), "not done".to_string()),
                (PALETTE[4].to_string(), "done".to_string()),
                (NO_VALUE.to_string(), "no value".to_string())
            ]
        );
        assert_eq!(fill_of(&svg, &communes[0].code), PALETTE[0]);
        assert_eq!(fill_of(&svg, &communes[1].code), PALETTE[4]);
    }

    #[test]
    fn without_commune_values_the_reason_replaces_the_map() {
        let m = CommuneMap {
            indicator: indicator(
                "reported.overall.dti-top10",
                Kind::Rank,
                Direction::AtMost,
                Source::Reported,
            ),
            period: "2026".into(),
            communes: Vec::new(),
            empty: Some(Message {
                vi: "không có theo xã".into(),
                en: "none by commune".into(),
            }),
        };
        assert_eq!(
            map_or_reason(&m, Lang::En),
            (String::new(), "none by commune".to_string())
        );
        let shown = CommuneMap { empty: None, ..m };
        let (svg, msg) = map_or_reason(&shown, Lang::Vi);
        assert!(svg.starts_with("<svg class=\"ops-map\"") && msg.is_empty());
    }
}
