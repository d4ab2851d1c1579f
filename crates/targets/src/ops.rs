//! The leaders' operations centre (trung tâm thông tin chỉ đạo, điều hành): every target with
//! its current value, trend, projection to the horizon and status; live counters and alerts;
//! the communes map; drill-down from the province to the records behind a number. Computed
//! through the indicators engine and the modules' public APIs, never their tables.
//!
//! **Trend.** Live indicators: the value over each of the last [`TREND_QUARTERS`] Decree 09
//! quarter windows, the current (unfinished) one included. Reported indicators: the current
//! version of every period the province reported (the last [`TREND_REPORTED`]).
//!
//! **Projection** ([`projection`]): the least-squares line through the trend points, with x
//! the middle of each period's window in years (for the current quarter, the middle of the
//! part elapsed), evaluated at the end of the horizon year and held to the kind's range. It
//! needs two points at different times; there is none once the horizon is past.
//!
//! **Status** ([`with_projection`]): the board's rule ([`crate::board::status`]: the value
//! against the linear path from the base year), corrected by the projection when the trend has
//! at least three points: *on track* now but projected to miss the target by more than the
//! tolerance (10 % of |target − base|) → *at risk*; *off track* now but projected to reach
//! the target → *at risk*. Otherwise the board's status stands.

use crate::board::{self, Line, Status};
use crate::engine::{round1, Direction, Kind, Observation, OrgUnit, Registry, Source};
use crate::period::{Frequency, Period};
use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use tinhso_kernel::{AppError, Invalid};
use tinhso_refdata::agencies;
use tinhso_refdata::units::units;
use tinhso_store::Db;

/// Lạng Sơn's province code in the reference data.
pub const PROVINCE_CODE: &str = "20";
/// Quarters in a live indicator's trend.
pub const TREND_QUARTERS: usize = 6;
/// The live indicator whose denominator is the dossiers received (the counter of today's).
const RECEIVED: &str = "services.online";
/// Reported periods in a reported indicator's trend.
pub const TREND_REPORTED: usize = 8;

/// One point of a trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendPoint {
    pub period: String,
    /// The time of the point, in years (2026.5 = the middle of 2026).
    pub x: f64,
    pub value: f64,
}

/// A target on the operations centre.
#[derive(Debug, Clone, Serialize)]
pub struct TargetView {
    #[serde(flatten)]
    pub line: Line,
    /// Oldest first.
    pub trend: Vec<TrendPoint>,
    /// The value the trend reaches at the end of the horizon year.
    pub projection: Option<f64>,
    /// The board's status corrected by the projection (see the module notes); `line.status`
    /// is the board's own.
    pub overall: Status,
}

/// The live counters.
#[derive(Debug, Clone, Serialize)]
pub struct Counters {
    /// Dossiers received today (local day).
    pub received_today: i64,
    /// The on-time rate over the Decree 09 month window containing today.
    pub on_time: Option<Observation>,
    /// Open dossiers past their promised date.
    pub overdue: i64,
    /// Trucks at the border now (staging yard to paid).
    pub at_border: i64,
    /// Trucks in the crossing queues now.
    pub queue: i64,
    /// Camera reads waiting for an officer's review.
    pub review_open: i64,
    pub off_track: usize,
    pub at_risk: usize,
}

/// An alert: something waiting for someone.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub key: &'static str,
    pub vi: String,
    pub en: String,
    pub count: i64,
    /// Where to act on it.
    pub href: &'static str,
}

/// Everything the operations centre shows but the map.
#[derive(Debug, Clone, Serialize)]
pub struct Centre {
    pub as_of: String,
    /// The period of the live values (Decree 09 year window containing today).
    pub period: String,
    pub counters: Counters,
    pub alerts: Vec<Alert>,
    pub targets: Vec<TargetView>,
}

/// The quarter before `p` (`p` a quarter).
fn previous_quarter(p: Period) -> Period {
    match p {
        Period::Quarter { year, quarter: 1 } => Period::Quarter {
            year: year - 1,
            quarter: 4,
        },
        Period::Quarter { year, quarter } => Period::Quarter {
            year,
            quarter: quarter - 1,
        },
        other => other,
    }
}

/// The last `n` quarters up to the one containing `today`, oldest first.
pub fn last_quarters(today: NaiveDate, n: usize) -> Vec<Period> {
    let mut p = Period::containing(Frequency::Quarter, today);
    let mut out = vec![p];
    for _ in 1..n {
        p = previous_quarter(p);
        out.push(p);
    }
    out.reverse();
    out
}

/// A date as years (1 January 2026 = 2026.0).
pub fn years(d: NaiveDate) -> f64 {
    let days = if d.leap_year() { 366.0 } else { 365.0 };
    f64::from(d.year()) + f64::from(d.ordinal0()) / days
}

/// The time of a period's point: the middle of its window, or of its part up to `today`.
pub fn point_x(p: Period, today: NaiveDate) -> Option<f64> {
    let w = p.window()?;
    let end = w.last_day().min(today);
    if end < w.start {
        return None;
    }
    Some((years(w.start) + years(end)) / 2.0)
}

/// The least-squares line `(slope, intercept)` through the points; `None` with fewer than two
/// points at different times.
pub fn least_squares(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx < 1e-12 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = sxy / sxx;
    Some((slope, my - slope * mx))
}

/// The kind's range.
fn clamp(kind: Kind, v: f64) -> f64 {
    match kind {
        Kind::Percent | Kind::Boolean => v.clamp(0.0, 100.0),
        Kind::Rate => v.clamp(-100.0, 1000.0),
        Kind::Rank => v.clamp(1.0, 63.0),
    }
}

/// The trend's value at the end of `horizon_year`, one decimal; `None` when the horizon is past
/// on `today` or the trend has no line.
pub fn projection(
    trend: &[TrendPoint],
    kind: Kind,
    horizon_year: i32,
    today: NaiveDate,
) -> Option<f64> {
    if today.year() > horizon_year {
        return None;
    }
    let pts: Vec<(f64, f64)> = trend.iter().map(|p| (p.x, p.value)).collect();
    let (a, b) = least_squares(&pts)?;
    Some(round1(clamp(kind, a * f64::from(horizon_year + 1) + b)))
}

/// The board's status corrected by the projection (see the module notes).
pub fn with_projection(
    board_status: Status,
    direction: Direction,
    base: Option<f64>,
    target: f64,
    projection: Option<f64>,
    points: usize,
) -> Status {
    let Some(p) = projection.filter(|_| points >= 3) else {
        return board_status;
    };
    let tolerance = 0.1 * (target - base.unwrap_or(0.0)).abs();
    let shortfall = match direction {
        Direction::AtLeast => target - p,
        Direction::AtMost => p - target,
    };
    match board_status {
        Status::OnTrack if shortfall > tolerance + 1e-9 => Status::AtRisk,
        Status::OffTrack if shortfall <= 1e-9 => Status::AtRisk,
        s => s,
    }
}

/// The trend of an indicator for the province.
pub async fn trend(
    db: &Db,
    registry: &Registry,
    key: &str,
    today: NaiveDate,
) -> Result<Vec<TrendPoint>, AppError> {
    let mut out = Vec::new();
    if key.starts_with("reported.") {
        let mut seen: BTreeMap<String, f64> = BTreeMap::new();
        let pre = registry.province_reported(db).await?;
        // Newest version first within a period: keep the first.
        for v in pre.history(key) {
            seen.entry(v.period).or_insert(v.value);
        }
        // The agencies' approved figure of a period wins over a value entered for the province.
        for (period, f) in crate::province::all_among(db, key, pre.periods(key)).await? {
            seen.insert(period, f.value);
        }
        for (period, value) in seen {
            if let Some(x) = Period::parse(&period).and_then(|p| point_x(p, today)) {
                out.push(TrendPoint { period, x, value });
            }
        }
        out.sort_by(|a, b| a.x.total_cmp(&b.x));
        let skip = out.len().saturating_sub(TREND_REPORTED);
        out.drain(..skip);
    } else {
        for p in last_quarters(today, TREND_QUARTERS) {
            let (Some(x), Some(o)) = (
                point_x(p, today),
                registry.observe(db, key, p, &OrgUnit::Province).await?,
            ) else {
                continue;
            };
            if let Some(value) = o.value {
                out.push(TrendPoint {
                    period: p.to_string(),
                    x,
                    value,
                });
            }
        }
    }
    Ok(out)
}

/// The operations centre as of `today` (`now`: Unix microseconds, for the queues). Computed in
/// the registry's page view: each roll-up is checked once, and what several parts read alike
/// (the border gates: the queue, the forecast, the border indicators) is read once.
pub async fn centre(
    db: &Db,
    registry: &Registry,
    today: NaiveDate,
    now: i64,
) -> Result<Centre, AppError> {
    registry
        .in_view(async move {
            let period = Period::containing(Frequency::Year, today);
            // Every window the screen shows — the year (the board), the trend's quarters, the
            // month and the day (the counters) — computed ahead by each live provider on it, one
            // statement per provider instead of one or more per window.
            let mut keys: Vec<String> = crate::plan::targets(db)
                .await?
                .into_iter()
                .map(|t| t.indicator_key)
                .filter(|k| !k.starts_with("reported."))
                .collect();
            keys.extend(
                board::RELATED_LIVE
                    .iter()
                    .map(|(_, live)| live.to_string())
                    .chain(["services.on_time".to_string(), RECEIVED.to_string()]),
            );
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let mut periods = vec![period];
            periods.extend(last_quarters(today, TREND_QUARTERS));
            periods.push(Period::containing(Frequency::Month, today));
            periods.push(Period::Day(today));
            registry
                .prefetch(db, &keys, &periods, &OrgUnit::Province)
                .await?;
            let lines = board::board(db, registry, today).await?;
            let mut trends: HashMap<String, Vec<TrendPoint>> = HashMap::new();
            let mut targets = Vec::with_capacity(lines.len());
            for line in lines {
                let key = line.target.indicator_key.clone();
                if !trends.contains_key(&key) {
                    let t = trend(db, registry, &key, today).await?;
                    trends.insert(key.clone(), t);
                }
                let trend = trends.get(&key).cloned().unwrap_or_default();
                let t = &line.target;
                let projection = projection(&trend, t.kind, t.horizon_year, today);
                let overall = with_projection(
                    line.status,
                    t.direction,
                    t.base_value,
                    t.target_value,
                    projection,
                    trend.len(),
                );
                targets.push(TargetView {
                    line,
                    trend,
                    projection,
                    overall,
                });
            }
            // Dossiers received today: the denominator of the online share over today's window.
            let received_today = registry
                .observe(db, RECEIVED, Period::Day(today), &OrgUnit::Province)
                .await?
                .and_then(|o| o.denominator)
                .unwrap_or(0.0) as i64;
            let on_time = registry
                .observe(
                    db,
                    "services.on_time",
                    Period::containing(Frequency::Month, today),
                    &OrgUnit::Province,
                )
                .await?;
            let overdue = tinhso_services::indicators::overdue_open(db, today).await?;
            let border = tinhso_border::indicators::now(db).await?;
            let queue = tinhso_border::slots::queue::build(
                db,
                &tinhso_border::slots::Policy::default(),
                now,
                0,
            )
            .await?
            .len() as i64;
            let counters = Counters {
                received_today,
                on_time,
                overdue,
                at_border: border.at_border,
                queue,
                review_open: border.review_open,
                off_track: targets
                    .iter()
                    .filter(|t| t.overall == Status::OffTrack)
                    .count(),
                at_risk: targets
                    .iter()
                    .filter(|t| t.overall == Status::AtRisk)
                    .count(),
            };
            let mut alerts = Vec::new();
            if overdue > 0 {
                alerts.push(Alert {
                    key: "overdue",
                    vi: format!("{overdue} hồ sơ quá hạn chưa giải quyết"),
                    en: format!("{overdue} open dossiers past their due date"),
                    count: overdue,
                    href: "/nghiep-vu/ho-so?qua_han=1",
                });
            }
            if border.review_open > 0 {
                alerts.push(Alert {
                    key: "border_review",
                    vi: format!(
                        "{} lượt camera cửa khẩu chờ cán bộ xem xét",
                        border.review_open
                    ),
                    en: format!(
                        "{} border camera reads waiting for review",
                        border.review_open
                    ),
                    count: border.review_open,
                    href: "/lanh-dao/cua-khau",
                });
            }
            // Congestion alerts of the border forecast (the next 72 hours), as the leaders' border
            // page shows them.
            for g in tinhso_border::forecast::current(db, now, &Default::default()).await? {
                for a in &g.alerts {
                    alerts.push(Alert {
                        key: "border_congestion",
                        vi: format!(
                            "Dự báo ùn tắc tại {}: {} – {}, đỉnh {:.0} xe / sức chứa {}",
                            g.name_vi, a.from_local, a.to_local, a.peak_queue, a.yard_capacity
                        ),
                        en: format!(
                            "Congestion forecast at {}: {} – {}, peak {:.0} trucks / capacity {}",
                            g.gate, a.from_local, a.to_local, a.peak_queue, a.yard_capacity
                        ),
                        count: a.peak_queue.round() as i64,
                        href: "/lanh-dao/cua-khau",
                    });
                }
            }
            if counters.off_track > 0 {
                alerts.push(Alert {
                    key: "off_track",
                    vi: format!("{} chỉ tiêu chậm tiến độ", counters.off_track),
                    en: format!("{} targets off track", counters.off_track),
                    count: counters.off_track as i64,
                    href: "/nghiep-vu/muc-tieu",
                });
            }
            Ok(Centre {
                as_of: today.format("%Y-%m-%d").to_string(),
                period: period.to_string(),
                counters,
                alerts,
                targets,
            })
        })
        .await
}

// ---------------------------------------------------------------- communes and drill-down

/// A commune of the province with its centre.
#[derive(Debug, Clone, Serialize)]
pub struct Commune {
    pub code: String,
    pub name: String,
    pub lat: f64,
    pub lng: f64,
}

/// The province's communes that have a centre, in the reference data's order.
pub fn communes() -> Vec<Commune> {
    units()
        .communes_of(PROVINCE_CODE)
        .into_iter()
        .filter_map(|c| {
            Some(Commune {
                code: c.code.clone(),
                name: c.full_name.clone(),
                lat: c.lat?,
                lng: c.lng?,
            })
        })
        .collect()
}

/// An indicator's value for one organisation unit below the one drilled into.
#[derive(Debug, Clone, Serialize)]
pub struct Child {
    /// `commune:…` or `agency:…`.
    pub org: String,
    pub name: String,
    /// `None`: nothing measured for the unit.
    pub observation: Option<Observation>,
}

fn bad_indicator(key: &str) -> AppError {
    AppError::field(
        "indicator",
        Invalid::new(
            "indicator_live",
            format!("Quy tắc «chỉ số trực tiếp»: {key} không phải chỉ số nền tảng tự đo"),
            format!("Rule “live indicator”: {key} is not measured by the platform"),
        ),
    )
}

/// An indicator the communes map can be shaded by (chỉ số tô màu bản đồ): every live indicator
/// and every reported indicator a target of an imported plan is wired to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapIndicator {
    pub key: String,
    pub name_vi: String,
    pub name_en: String,
    pub kind: Kind,
    /// Whether higher (at least) or lower (at most) is better: the map's colours follow it.
    pub direction: Direction,
    pub source: Source,
}

/// Every indicator the map can show: the live ones, then the reported ones in the plans' order
/// (named after the first target wired to each).
pub async fn map_indicators(db: &Db, registry: &Registry) -> Result<Vec<MapIndicator>, AppError> {
    let mut out: Vec<MapIndicator> = registry
        .definitions()
        .into_iter()
        .map(|d| MapIndicator {
            key: d.key.to_string(),
            name_vi: d.name_vi.to_string(),
            name_en: d.name_en.to_string(),
            kind: d.kind,
            direction: d.kind.default_direction(),
            source: Source::Live,
        })
        .collect();
    for t in crate::plan::targets(db).await? {
        if t.indicator_key.starts_with("reported.") && !out.iter().any(|m| m.key == t.indicator_key)
        {
            out.push(MapIndicator {
                key: t.indicator_key,
                name_vi: t.name_vi,
                name_en: t.name_en,
                kind: t.kind,
                direction: t.direction,
                source: Source::Reported,
            });
        }
    }
    Ok(out)
}

/// The map indicator `key`; an unknown key is refused on `indicator` (rule `indicator_unknown`).
pub async fn map_indicator(
    db: &Db,
    registry: &Registry,
    key: &str,
) -> Result<MapIndicator, AppError> {
    map_indicators(db, registry)
        .await?
        .into_iter()
        .find(|m| m.key == key)
        .ok_or_else(|| unknown_indicator(key))
}

fn unknown_indicator(key: &str) -> AppError {
    AppError::field(
        "indicator",
        Invalid::new(
            "indicator_unknown",
            format!(
                "Quy tắc «chỉ số»: không có chỉ số «{key}» đo trực tiếp hoặc trong kế hoạch nào"
            ),
            format!("Rule “indicator”: no live or planned indicator has the key “{key}”"),
        ),
    )
}

/// A message in Vietnamese and English.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub vi: String,
    pub en: String,
}

/// The communes map of one indicator and period: every commune's value, and — when no commune
/// has one — why, to be shown instead of an empty map.
#[derive(Debug, Clone, Serialize)]
pub struct CommuneMap {
    pub indicator: MapIndicator,
    pub period: String,
    pub communes: Vec<Child>,
    /// Why no commune has a value (`None` when one has).
    pub empty: Option<Message>,
}

impl CommuneMap {
    /// Whether a commune has a value.
    pub fn has_values(&self) -> bool {
        self.communes
            .iter()
            .any(|c| c.observation.as_ref().and_then(|o| o.value).is_some())
    }
}

/// The communes map of `key` over `period` ([`by_commune`]), with the reason when it is empty.
pub async fn commune_map(
    db: &Db,
    registry: &Registry,
    key: &str,
    period: Period,
) -> Result<CommuneMap, AppError> {
    let indicator = map_indicator(db, registry, key).await?;
    let communes = by_commune(db, registry, key, period).await?;
    let mut map = CommuneMap {
        indicator,
        period: period.to_string(),
        communes,
        empty: None,
    };
    if !map.has_values() {
        map.empty = Some(empty_reason(db, registry, &map.indicator, period).await?);
    }
    Ok(map)
}

/// Why no commune has a value of `m` for `period`.
async fn empty_reason(
    db: &Db,
    registry: &Registry,
    m: &MapIndicator,
    period: Period,
) -> Result<Message, AppError> {
    let (nvi, nen) = (&m.name_vi, &m.name_en);
    Ok(if m.kind == Kind::Rank {
        Message {
            vi: format!("«{nvi}» là thứ hạng của cả tỉnh so với các tỉnh, thành phố: chỉ số này không có số liệu theo xã, phường."),
            en: format!("“{nen}” is the province's rank among the provinces: it has no value by commune."),
        }
    } else if m.source == Source::Reported {
        let committees: Vec<String> = registry
            .units()
            .committees(db)
            .await?
            .iter()
            .map(|a| a.code.clone())
            .collect();
        let periods = crate::reported::periods_below_province(db, &m.key, &committees).await?;
        if periods.is_empty() {
            Message {
                vi: format!("Chưa xã, phường nào báo cáo «{nvi}» (nếu có, mới là số liệu của cả tỉnh), nên chưa có bản đồ theo xã."),
                en: format!("No commune has reported “{nen}” yet (only figures for the whole province, if any), so there is no map by commune."),
            }
        } else {
            let list = periods.join(", ");
            Message {
                vi: format!("Chưa xã, phường nào báo cáo «{nvi}» cho kỳ {period}. Các kỳ đã có số liệu theo xã: {list}."),
                en: format!("No commune has reported “{nen}” for {period}. Periods with values by commune: {list}."),
            }
        }
    } else if m.key.starts_with("border.") {
        Message {
            vi: format!("Chỉ các xã, phường có cửa khẩu có số liệu «{nvi}», và trong kỳ {period} chưa có số liệu nào ở đó."),
            en: format!("Only the communes with a border gate have values of “{nen}”, and none has one for {period}."),
        }
    } else {
        Message {
            vi: format!("Kỳ {period} chưa có số liệu «{nvi}» của xã, phường nào (chưa phát sinh trong kỳ)."),
            en: format!("No commune has a value of “{nen}” for {period} yet (nothing counted in the period)."),
        }
    })
}

/// The value of an indicator for every commune, over `period`, in the registry's page view.
/// Services indicators come from one report over the communes' People's Committees (the
/// engine's commune unit); border indicators from the engine, for the communes that have a gate
/// (the others have none); the other live indicators (the DVCQG sync rate, the platform's use)
/// from the engine for each commune's People's Committee; reported indicators from the values
/// reported for the commune itself, else for its People's Committee (a rank among provinces has
/// none).
pub async fn by_commune(
    db: &Db,
    registry: &Registry,
    key: &str,
    period: Period,
) -> Result<Vec<Child>, AppError> {
    registry
        .in_view(async move {
            if key.starts_with("reported.") {
                return reported_by_commune(db, registry, key, period).await;
            }
            let def = registry.definition(key).ok_or_else(|| bad_indicator(key))?;
            let window = period
                .window()
                .ok_or_else(|| AppError::internal(format!("period {period} has no window")))?;
            let all = communes();
            let mut out = Vec::with_capacity(all.len());
            if let Some(short) = key.strip_prefix("services.") {
                let ubnd = registry.units().committees(db).await?;
                let of_commune: HashMap<&str, &str> = ubnd
                    .iter()
                    .filter_map(|a| Some((a.admin_unit_code.as_deref()?, a.code.as_str())))
                    .collect();
                let codes: Vec<String> = all
                    .iter()
                    .filter_map(|c| of_commune.get(c.code.as_str()).map(|a| a.to_string()))
                    .collect();
                let report =
                    tinhso_services::indicators::report(db, window.start, window.end, Some(&codes))
                        .await?;
                let per_agency: HashMap<&str, &tinhso_services::indicators::AgencyIndicators> =
                    report
                        .agencies
                        .iter()
                        .filter_map(|a| Some((a.agency_code.as_deref()?, a)))
                        .collect();
                for c in all {
                    let org = OrgUnit::Commune(c.code.clone());
                    let observation = of_commune
                        .get(c.code.as_str())
                        .and_then(|a| per_agency.get(a))
                        .and_then(|a| a.get(short))
                        .map(|i| {
                            Observation::live(
                                def,
                                period,
                                &org,
                                i.numerator.map(|n| n as f64),
                                i.denominator.map(|d| d as f64),
                                None,
                            )
                        });
                    out.push(Child {
                        org: org.to_string(),
                        name: c.name,
                        observation,
                    });
                }
            } else if !key.starts_with("border.") {
                // Other live indicators (the DVCQG sync rate, the platform's use): each commune's
                // People's Committee (the first found, as the engine's commune unit).
                let ubnd = registry.units().committees(db).await?;
                let committee_of = |commune: &str| {
                    ubnd.iter()
                        .find(|a| a.admin_unit_code.as_deref() == Some(commune))
                        .map(|a| a.code.clone())
                };
                // The sync rate and the platform's use: every committee's counts grouped by
                // agency (two statements at most), not one read or two per commune.
                let codes: Vec<String> = all.iter().filter_map(|c| committee_of(&c.code)).collect();
                let sync = if key == crate::live_sync::DVCQG_SYNC {
                    Some(
                        tinhso_connectors::sync::sync_rate_by_agency(
                            db,
                            window.start,
                            window.end,
                            &codes,
                        )
                        .await?,
                    )
                } else {
                    None
                };
                let platform = if sync.is_none() {
                    crate::live_platform::counts_by_agency(db, key, &window, &codes).await?
                } else {
                    None
                };
                for c in all {
                    let org = OrgUnit::Commune(c.code.clone());
                    let observation = match (committee_of(&c.code), &sync, &platform) {
                        (None, _, _) => None,
                        (Some(a), Some(rates), _) => rates
                            .get(&a)
                            .map(|r| crate::live_sync::observation(def, period, &org, r)),
                        (Some(a), None, Some(counts)) => counts.get(&a).map(|(n, d)| {
                            crate::live_platform::observation(def, period, &org, *n, *d)
                        }),
                        (Some(_), None, None) => registry.observe(db, key, period, &org).await?,
                    };
                    out.push(Child {
                        org: org.to_string(),
                        name: c.name,
                        observation,
                    });
                }
            } else {
                let gate_communes: Vec<String> = tinhso_border::gates::list(db)
                    .await?
                    .into_iter()
                    .map(|g| g.commune_code)
                    .collect();
                for c in all {
                    let org = OrgUnit::Commune(c.code.clone());
                    let observation = if gate_communes.contains(&c.code) {
                        registry.observe(db, key, period, &org).await?
                    } else {
                        None
                    };
                    out.push(Child {
                        org: org.to_string(),
                        name: c.name,
                        observation,
                    });
                }
            }
            Ok(out)
        })
        .await
}

/// A reported indicator by commune: the current version reported for the commune itself for
/// `period`, else its People's Committee's (an approved report of the committee records its
/// values for the committee), in one statement. A rank among the provinces has no commune value.
async fn reported_by_commune(
    db: &Db,
    registry: &Registry,
    key: &str,
    period: Period,
) -> Result<Vec<Child>, AppError> {
    let kind = crate::reported::kind_of(db, key)
        .await?
        .ok_or_else(|| unknown_indicator(key))?;
    let mut values: HashMap<String, Observation> = HashMap::new();
    if kind != Kind::Rank {
        let ubnd = registry.units().committees(db).await?;
        let commune_of: HashMap<String, &str> = ubnd
            .iter()
            .filter_map(|a| Some((format!("agency:{}", a.code), a.admin_unit_code.as_deref()?)))
            .collect();
        // A commune's own value wins over its People's Committee's.
        let mut committee: HashMap<String, Observation> = HashMap::new();
        for v in crate::reported::current_below_province(db, key, period).await? {
            if let Some(code) = v.org.strip_prefix("commune:") {
                values.insert(code.to_string(), crate::reported::observation(v));
            } else if let Some(code) = commune_of.get(&v.org) {
                committee.insert(code.to_string(), crate::reported::observation(v));
            }
        }
        for (code, o) in committee {
            values.entry(code).or_insert(o);
        }
    }
    Ok(communes()
        .into_iter()
        .map(|c| {
            let org = OrgUnit::Commune(c.code.clone());
            Child {
                observation: values.remove(&c.code),
                org: org.to_string(),
                name: c.name,
            }
        })
        .collect())
}

/// The agencies located in a commune (their administrative unit is the commune): its People's
/// Committee and the provincial or central agencies' local offices.
pub async fn agencies_in(db: &Db, commune: &str) -> Result<Vec<agencies::Agency>, AppError> {
    Ok(crate::live::all_agencies(db)
        .await?
        .into_iter()
        .filter(|a| a.admin_unit_code.as_deref() == Some(commune))
        .collect())
}

/// A record behind a number.
#[derive(Debug, Clone, Serialize)]
pub struct RecordRow {
    /// Dossier code or trip code.
    pub code: String,
    /// Its back-office page.
    pub href: String,
    /// Agency or gate.
    pub unit: String,
    /// Local date and time it entered the denominator.
    pub at: String,
    /// Whether it is in the numerator.
    pub counted: bool,
}

/// The records behind the number of `key` for `org` over `period` (at most `limit`): dossiers
/// of an agency (services indicators listed by the services module), trips that crossed at a
/// commune's gates (border indicators about crossings). `None`: no list for this indicator and
/// unit.
pub async fn records(
    db: &Db,
    key: &str,
    period: Period,
    org: &OrgUnit,
    limit: i64,
) -> Result<Option<Vec<RecordRow>>, AppError> {
    let window = period
        .window()
        .ok_or_else(|| AppError::internal(format!("period {period} has no window")))?;
    if let (Some(short), OrgUnit::Agency(a)) = (key.strip_prefix("services."), org) {
        let list = tinhso_services::indicators::records(
            db,
            short,
            window.start,
            window.end,
            Some(std::slice::from_ref(a)),
            limit,
        )
        .await?;
        return Ok(list.map(|rows| {
            rows.into_iter()
                .map(|r| RecordRow {
                    href: format!("/nghiep-vu/ho-so/{}", r.code),
                    code: r.code,
                    unit: r.agency_code,
                    at: tinhso_http::layout::local_time(r.at),
                    counted: r.counted,
                })
                .collect()
        }));
    }
    let counted_by = |t: &tinhso_border::indicators::CrossedTrip| match key {
        "border.booked_crossings" => Some(t.booked),
        "border.fees_online" => Some(t.fee_paid),
        "border.declared_crossings" => Some(true),
        _ => None,
    };
    if let (true, OrgUnit::Commune(c)) = (key.starts_with("border."), org) {
        let trips =
            tinhso_border::indicators::crossed_trips(db, window.start, window.end, Some(c), limit)
                .await?;
        let mut out = Vec::new();
        for t in &trips {
            let Some(counted) = counted_by(t) else {
                return Ok(None);
            };
            out.push(RecordRow {
                code: t.code.clone(),
                href: format!("/nghiep-vu/cua-khau/chuyen/{}", t.code),
                unit: t.gate_code.clone(),
                at: tinhso_http::layout::local_time(t.crossed_at),
                counted,
            });
        }
        return Ok(Some(out));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn quarters_go_back_across_years() {
        let q: Vec<String> = last_quarters(d(2026, 2, 1), 3)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(q, ["2025-Q3", "2025-Q4", "2026-Q1"]);
        // From 15 December the window is next year's first quarter.
        assert_eq!(last_quarters(d(2026, 12, 15), 1)[0].to_string(), "2027-Q1");
    }

    #[test]
    fn least_squares_by_hand() {
        // y = 2x + 1 exactly.
        let (a, b) = least_squares(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]).unwrap();
        assert!((a - 2.0).abs() < 1e-12 && (b - 1.0).abs() < 1e-12);
        // (0,0) (1,1) (2,1): mean x 1, mean y 2/3, sxy = 1, sxx = 2: slope 0.5, b = 1/6.
        let (a, b) = least_squares(&[(0.0, 0.0), (1.0, 1.0), (2.0, 1.0)]).unwrap();
        assert!((a - 0.5).abs() < 1e-12 && (b - 1.0 / 6.0).abs() < 1e-12);
        assert!(least_squares(&[(1.0, 1.0)]).is_none());
        assert!(least_squares(&[(1.0, 1.0), (1.0, 2.0)]).is_none());
    }

    #[test]
    fn projection_to_the_end_of_the_horizon_year() {
        let p = |x: f64, value: f64| TrendPoint {
            period: String::new(),
            x,
            value,
        };
        // +10 points a year from 40 at 2026.0: 2030 ends at 2031.0 → 90.
        let t = [p(2026.0, 40.0), p(2026.5, 45.0), p(2027.0, 50.0)];
        assert_eq!(
            projection(&t, Kind::Percent, 2030, d(2026, 11, 29)),
            Some(90.0)
        );
        // Held to 0–100 %.
        assert_eq!(
            projection(&t, Kind::Percent, 2040, d(2026, 11, 29)),
            Some(100.0)
        );
        // Horizon past: none.
        assert_eq!(projection(&t, Kind::Percent, 2025, d(2026, 11, 29)), None);
    }

    #[test]
    fn the_projection_corrects_the_status() {
        use Status::*;
        let w = |s, p, n| with_projection(s, Direction::AtLeast, None, 80.0, p, n);
        // Tolerance 8 points.
        assert_eq!(w(OnTrack, Some(71.0), 3), AtRisk);
        assert_eq!(w(OnTrack, Some(72.0), 3), OnTrack);
        assert_eq!(w(OffTrack, Some(80.0), 3), AtRisk);
        assert_eq!(w(OffTrack, Some(79.0), 3), OffTrack);
        // Too few points: the board's status.
        assert_eq!(w(OnTrack, Some(10.0), 2), OnTrack);
        assert_eq!(w(NoData, None, 0), NoData);
        // At most (ranks): projected 12 against ≤ 10 from base 16, tolerance 0.6.
        assert_eq!(
            with_projection(OnTrack, Direction::AtMost, Some(16.0), 10.0, Some(12.0), 4),
            AtRisk
        );
    }

    #[test]
    fn the_province_has_65_communes_with_a_centre() {
        assert_eq!(communes().len(), 65);
    }
}
