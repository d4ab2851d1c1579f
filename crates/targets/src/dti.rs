//! The DTI self-assessment (tự đánh giá Chỉ số chuyển đổi số cấp tỉnh): the index's structure
//! from `data/dti.toml` (pillars, main indicators, each measured live by the platform or
//! entered by hand), the entered values and Lạng Sơn's rank history, drawn as an SVG chart
//! with the rank axis inverted (1st at the top).
//!
//! Entered values are stored like agencies' reported values ([`crate::reported::record`]):
//! each entry a new version of (indicator, year, province) with who entered it and when,
//! audited, nothing overwritten. Index values run from 0 to 1; the rank (`reported.overall.dti-top10`, the plan's own DTI target's indicator) is a whole
//! number from 1 to the number of provinces. Later ranks are entered the same way and join
//! the published history of the data file.

use crate::engine::{Kind, OrgUnit, Registry};
use crate::period::{Frequency, Period};
use crate::reported::{self, Checked, ReportedValue};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use tinhso_kernel::{AppError, FieldErrors, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::Db;

/// The structure file, as shipped.
pub const SOURCE: &str = include_str!("../data/dti.toml");

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Structure {
    pub index: IndexDef,
    pub pillar: Vec<PillarDef>,
    pub indicator: Vec<IndicatorDef>,
    pub rank: Vec<Rank>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct IndexDef {
    pub key: String,
    pub name_vi: String,
    pub name_en: String,
    pub rank_key: String,
    /// How many provinces are ranked.
    pub provinces: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PillarDef {
    pub key: String,
    pub name_vi: String,
    pub name_en: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct IndicatorDef {
    pub key: String,
    pub pillar: String,
    pub name_vi: String,
    pub name_en: String,
    /// `entered` or `live`.
    pub measure: String,
    /// The platform indicator, for `live`.
    #[serde(default)]
    pub live: Option<String>,
}

/// A published rank.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Rank {
    pub year: i32,
    pub rank: i64,
    pub source: String,
}

/// Parse and check a structure file: unique keys, known pillars, live indicators the platform
/// has, entered ones without a live key.
pub fn parse(src: &str) -> Result<Structure, String> {
    let s: Structure = toml::from_str(src).map_err(|e| e.to_string())?;
    let mut seen = std::collections::HashSet::new();
    for i in &s.indicator {
        if !seen.insert(i.key.as_str()) || i.key == s.index.key || i.key == s.index.rank_key {
            return Err(format!("indicator {}: key used twice", i.key));
        }
        if !i.key.starts_with("dti.") {
            return Err(format!("indicator {}: keys start with dti.", i.key));
        }
        if !s.pillar.iter().any(|p| p.key == i.pillar) {
            return Err(format!("indicator {}: unknown pillar {}", i.key, i.pillar));
        }
        match (i.measure.as_str(), i.live.as_deref()) {
            ("entered", None) => {}
            ("live", Some(k)) if crate::engine::live_indicator(k).is_some() => {}
            _ => {
                return Err(format!(
                    "indicator {}: measure is `entered`, or `live` with a platform indicator",
                    i.key
                ))
            }
        }
    }
    Ok(s)
}

/// The shipped structure (checked by a test; an unreadable file leaves an empty structure
/// and an error in the log rather than a crash).
pub fn structure() -> &'static Structure {
    static S: OnceLock<Structure> = OnceLock::new();
    S.get_or_init(|| match parse(SOURCE) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "data/dti.toml");
            Structure {
                index: IndexDef {
                    key: "dti.index".into(),
                    name_vi: String::new(),
                    name_en: String::new(),
                    rank_key: "reported.overall.dti-top10".into(),
                    provinces: 63,
                },
                pillar: Vec::new(),
                indicator: Vec::new(),
                rank: Vec::new(),
            }
        }
    })
}

/// Whether `key` can be entered by hand: the overall index, the rank, or an `entered` main
/// indicator.
pub fn enterable(s: &Structure, key: &str) -> bool {
    key == s.index.key
        || key == s.index.rank_key
        || s.indicator
            .iter()
            .any(|i| i.key == key && i.measure == "entered")
}

/// A value as entered (JSON or form), numbers as text.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default)]
pub struct NewEntry {
    /// `dti.index`, `reported.overall.dti-top10` (the rank) or an entered main indicator (`dti.foundation.awareness`, …).
    pub indicator: String,
    /// The assessment year, e.g. `2024`.
    pub year: String,
    /// Index value 0–1 (`0,6961` or `0.6961`); for the rank, a whole number.
    pub value: String,
    /// Where the figure comes from (the Ministry's report, a self-assessment file).
    #[serde(default)]
    pub note: String,
}

/// Check an entry in full (all problems together, each naming its rule).
pub fn check(e: &NewEntry) -> Result<Checked, AppError> {
    let s = structure();
    let mut errs = FieldErrors::new();
    let key = e.indicator.trim().to_string();
    if !enterable(s, &key) {
        let live = s.indicator.iter().any(|i| i.key == key);
        errs.push(
            "indicator",
            if live {
                Invalid::new(
                    "indicator_live",
                    format!("Quy tắc «đo trực tiếp»: chỉ số {key} do nền tảng tự đo, không nhập tay"),
                    format!("Rule “measured live”: the platform measures {key} itself; it cannot be entered"),
                )
            } else {
                Invalid::new(
                    "indicator_unknown",
                    format!("Quy tắc «chỉ số»: bộ chỉ số DTI không có chỉ số «{key}»"),
                    format!("Rule “indicator”: the DTI structure has no indicator “{key}”"),
                )
            },
        );
    }
    let year = match e.year.trim().parse::<i32>() {
        Ok(y) if (2020..=2100).contains(&y) => Some(y),
        _ => {
            errs.push(
                "year",
                Invalid::new(
                    "year",
                    "Quy tắc «năm đánh giá»: một năm từ 2020 (năm đầu tiên đánh giá DTI) đến 2100",
                    "Rule “year”: a year from 2020 (the first DTI assessment) to 2100",
                ),
            );
            None
        }
    };
    let value = reported::parse_number(&e.value);
    let is_rank = key == s.index.rank_key;
    match value {
        None => errs.push(
            "value",
            Invalid::new(
                "number",
                "Quy tắc «số»: giá trị phải là một số, ví dụ 0,6961",
                "Rule “number”: the value must be a number, e.g. 0.6961",
            ),
        ),
        Some(v) if is_rank && (v.fract() != 0.0 || v < 1.0 || v > s.index.provinces as f64) => errs
            .push(
                "value",
                Invalid::new(
                    "rank",
                    format!(
                        "Quy tắc «thứ hạng»: số nguyên từ 1 đến {}",
                        s.index.provinces
                    ),
                    format!(
                        "Rule “rank”: a whole number from 1 to {}",
                        s.index.provinces
                    ),
                ),
            ),
        Some(v) if !is_rank && !(0.0..=1.0).contains(&v) => errs.push(
            "value",
            Invalid::new(
                "score",
                "Quy tắc «giá trị chỉ số»: từ 0 đến 1, ví dụ 0,6961",
                "Rule “index value”: from 0 to 1, e.g. 0.6961",
            ),
        ),
        Some(_) => {}
    }
    let note = tinhso_kernel::text::clean(&e.note);
    if note.chars().count() > 1000 {
        errs.push(
            "note",
            Invalid::new(
                "length",
                "Quy tắc «độ dài»: ghi chú tối đa 1000 ký tự",
                "Rule “length”: the note has at most 1000 characters",
            ),
        );
    }
    errs.into_result()?;
    match (year, value) {
        (Some(year), Some(value)) => Ok(Checked {
            indicator: key,
            kind: if is_rank { Kind::Rank } else { Kind::Percent },
            period: Period::Year { year },
            org: OrgUnit::Province,
            value,
            numerator: None,
            denominator: None,
            note,
        }),
        _ => Err(AppError::internal("dti: unchecked entry")),
    }
}

/// Check and record an entry as a new version.
pub async fn enter(db: &Db, ctx: &Ctx, e: &NewEntry) -> Result<ReportedValue, AppError> {
    let c = check(e)?;
    reported::record(db, ctx, &c).await
}

/// One main indicator with its value for the year.
#[derive(Debug, Clone, Serialize)]
pub struct IndicatorValue {
    pub key: String,
    pub pillar: String,
    pub name_vi: String,
    pub name_en: String,
    /// `entered` or `live`.
    pub measure: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<String>,
    /// Entered: the index value (0–1); live: the platform's percentage.
    pub value: Option<f64>,
    /// Entered: the current version, who entered it, when (Unix µs).
    pub version: Option<i64>,
    pub entered_by: Option<String>,
    pub entered_at: Option<i64>,
    /// Live: the period it was computed over.
    pub period: Option<String>,
}

/// A point of the rank history.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RankPoint {
    pub year: i32,
    pub rank: i64,
    /// `published` (the data file, with its source) or `entered` (version).
    pub origin: String,
    pub source: String,
}

/// The self-assessment for a year.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    pub year: i32,
    pub pillars: Vec<PillarDef>,
    pub index: Option<f64>,
    pub indicators: Vec<IndicatorValue>,
    pub ranks: Vec<RankPoint>,
}

/// The rank history: the published ranks of the data file, and entered ranks (current
/// version) for years the file does not have.
pub async fn ranks(db: &Db) -> Result<Vec<RankPoint>, AppError> {
    let s = structure();
    let mut out: Vec<RankPoint> = s
        .rank
        .iter()
        .map(|r| RankPoint {
            year: r.year,
            rank: r.rank,
            origin: "published".into(),
            source: r.source.clone(),
        })
        .collect();
    let mut entered: Vec<ReportedValue> =
        reported::history(db, &s.index.rank_key, &OrgUnit::Province).await?;
    // Newest version first within a period: keep the first of each.
    entered.dedup_by(|a, b| a.period == b.period);
    for v in entered {
        let Some(Period::Year { year }) = Period::parse(&v.period) else {
            continue;
        };
        if out.iter().any(|p| p.year == year) {
            continue;
        }
        out.push(RankPoint {
            year,
            rank: v.value.round() as i64,
            origin: "entered".into(),
            source: format!("v{} · {}", v.version, v.reported_by),
        });
    }
    out.sort_by_key(|p| p.year);
    Ok(out)
}

/// The assessment of `year`: entered values (current version of that year) and live values
/// (over the Decree 09 year window).
pub async fn assessment(db: &Db, registry: &Registry, year: i32) -> Result<Assessment, AppError> {
    let s = structure();
    let period = Period::Year { year };
    let mut indicators = Vec::new();
    for i in &s.indicator {
        let mut v = IndicatorValue {
            key: i.key.clone(),
            pillar: i.pillar.clone(),
            name_vi: i.name_vi.clone(),
            name_en: i.name_en.clone(),
            measure: i.measure.clone(),
            live: i.live.clone(),
            value: None,
            version: None,
            entered_by: None,
            entered_at: None,
            period: None,
        };
        match &i.live {
            Some(live) => {
                if let Some(o) = registry
                    .observe(db, live, period, &OrgUnit::Province)
                    .await?
                {
                    v.value = o.value;
                    v.period = Some(o.period);
                }
            }
            None => {
                if let Some(r) = reported::current(db, &i.key, period, &OrgUnit::Province).await? {
                    v.value = Some(r.value);
                    v.version = Some(r.version);
                    v.entered_by = Some(r.reported_by);
                    v.entered_at = Some(r.reported_at);
                }
            }
        }
        indicators.push(v);
    }
    let index = reported::current(db, &s.index.key, period, &OrgUnit::Province)
        .await?
        .map(|r| r.value);
    Ok(Assessment {
        year,
        pillars: s.pillar.clone(),
        index,
        indicators,
        ranks: ranks(db).await?,
    })
}

/// The default year: that of the Decree 09 year window containing `today`, less one (the
/// Ministry assesses a year after it ends).
pub fn default_year(today: chrono::NaiveDate) -> i32 {
    Period::containing(Frequency::Year, today).year() - 1
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The rank history as an inline SVG line chart: years left to right, rank 1 at the top (the
/// axis inverted), the scale from 1 to the worst rank rounded up to 5 (at least 20).
pub fn rank_chart(points: &[RankPoint], title: &str) -> String {
    let (w, h) = (560.0_f64, 260.0_f64);
    let (left, right, top, bottom) = (48.0, 16.0, 20.0, 36.0);
    let worst = points.iter().map(|p| p.rank).max().unwrap_or(1).max(20);
    let max_rank = ((worst + 4) / 5 * 5) as f64;
    let (y0, y1) = (
        points.iter().map(|p| p.year).min().unwrap_or(2020),
        points.iter().map(|p| p.year).max().unwrap_or(2020),
    );
    let span = f64::from((y1 - y0).max(1));
    let x = |year: i32| left + (w - left - right) * f64::from(year - y0) / span;
    let y = |rank: f64| top + (h - top - bottom) * (rank - 1.0) / (max_rank - 1.0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" role=\"img\" \
         aria-labelledby=\"dti-rank-title\" class=\"dti-rank\"><title id=\"dti-rank-title\">{}</title>",
        esc(title)
    );
    // Grid and rank axis: 1, then every 5.
    let mut ticks = vec![1.0];
    let mut t = 5.0;
    while t <= max_rank {
        ticks.push(t);
        t += 5.0;
    }
    for t in ticks {
        s.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#d1d5db\" stroke-width=\"1\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#374151\">{t}</text>",
            w - right,
            y(t),
            y(t),
            left - 6.0,
            y(t) + 4.0
        ));
    }
    for p in points {
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#374151\">{}</text>",
            x(p.year),
            h - bottom + 18.0,
            p.year
        ));
    }
    let line: Vec<String> = points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.year), y(p.rank as f64)))
        .collect();
    if line.len() > 1 {
        s.push_str(&format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#1d4ed8\" stroke-width=\"2.5\"/>",
            line.join(" ")
        ));
    }
    for p in points {
        let (cx, cy) = (x(p.year), y(p.rank as f64));
        s.push_str(&format!(
            "<g class=\"diem\"><circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"5\" fill=\"{}\"><title>{}: {}</title></circle>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" font-weight=\"bold\" text-anchor=\"middle\" fill=\"#111827\">{}</text></g>",
            if p.origin == "published" { "#1d4ed8" } else { "#b45309" },
            p.year,
            p.rank,
            // Right of the first point, so the label clears the rank axis.
            if p.year == y0 { cx + 12.0 } else { cx },
            cy - 9.0,
            p.rank
        ));
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_structure_reads_and_has_the_three_pillars() {
        let s = parse(SOURCE).unwrap();
        let pillars: Vec<&str> = s.pillar.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(pillars, ["foundation", "government", "economy", "society"]);
        // 8 main indicators entered by hand (5 foundation + 3 activity) and live ones.
        assert_eq!(
            s.indicator
                .iter()
                .filter(|i| i.measure == "entered")
                .count(),
            8
        );
        assert!(s.indicator.iter().filter(|i| i.measure == "live").count() >= 1);
        let ranks: Vec<(i32, i64)> = s.rank.iter().map(|r| (r.year, r.rank)).collect();
        assert_eq!(ranks, [(2020, 16), (2021, 5), (2022, 6), (2023, 4)]);
        assert!(s.rank.iter().all(|r| r.source.starts_with("https://")));
    }

    #[test]
    fn bad_structures_are_refused() {
        let bad = SOURCE.replace("live = \"services.online\"", "live = \"services.nothing\"");
        assert!(parse(&bad)
            .unwrap_err()
            .contains("dti.government.online-dossiers"));
        let bad = SOURCE.replace("pillar = \"economy\"", "pillar = \"space\"");
        assert!(parse(&bad).unwrap_err().contains("unknown pillar"));
    }

    #[test]
    fn entries_are_checked_and_name_their_rule() {
        let e = |k: &str, y: &str, v: &str| NewEntry {
            indicator: k.into(),
            year: y.into(),
            value: v.into(),
            note: String::new(),
        };
        let c = check(&e("dti.index", "2024", "0,6961")).unwrap();
        assert_eq!((c.value, c.period), (0.6961, Period::Year { year: 2024 }));
        assert_eq!(
            check(&e("reported.overall.dti-top10", "2024", "4"))
                .unwrap()
                .value,
            4.0
        );
        let codes = |r: Result<Checked, AppError>| -> Vec<&'static str> {
            r.unwrap_err().fields.iter().map(|f| f.code).collect()
        };
        assert_eq!(codes(check(&e("dti.index", "2024", "1,2"))), ["score"]);
        assert_eq!(
            codes(check(&e("reported.overall.dti-top10", "2024", "4.5"))),
            ["rank"]
        );
        assert_eq!(
            codes(check(&e("reported.overall.dti-top10", "2024", "64"))),
            ["rank"]
        );
        assert_eq!(
            codes(check(&e("dti.government.online-dossiers", "19", "x"))),
            ["indicator_live", "year", "number"]
        );
        assert_eq!(
            codes(check(&e("dti.nothing", "2024", "0.5"))),
            ["indicator_unknown"]
        );
    }

    #[test]
    fn the_chart_puts_the_best_rank_highest() {
        let pts: Vec<RankPoint> = [(2020, 16), (2021, 5), (2022, 6), (2023, 4)]
            .into_iter()
            .map(|(year, rank)| RankPoint {
                year,
                rank,
                origin: "published".into(),
                source: String::new(),
            })
            .collect();
        let svg = rank_chart(&pts, "Thứ hạng DTI");
        // Scale 1..20 over 204 units from y = 20: rank 4 at 52.2, rank 16 at 181.1.
        assert!(svg.contains("cx=\"48.0\" cy=\"181.1\""), "{svg}");
        assert!(svg.contains("cx=\"544.0\" cy=\"52.2\""), "{svg}");
        assert!(svg.contains("<polyline points=\"48.0,181.1 213.3,62.9 378.7,73.7 544.0,52.2\""));
    }
}
