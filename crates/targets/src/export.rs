//! The export of indicator values for the Government reporting information system (Hệ thống
//! thông tin báo cáo Chính phủ): for one period, the value of every indicator a target of an
//! imported plan is wired to, for the province — or for one commune, one agency, or every unit
//! ([`check_unit`], [`export_units`]) — in a documented JSON format
//! (`tinhso.indicator-values/1`, described field by field in docs/targets/review-exports-dti.md).
//!
//! Live indicators are computed over the period's Decree 09 window; reported ones are the
//! current version reported for exactly that period (no carrying over of another period's
//! value: the receiving system aggregates periods itself). The `content_sha256` is the SHA-256
//! of the compact JSON of `values`, so the receiver can check what it stored and two exports
//! with the same figures have the same hash.

use crate::engine::{OrgUnit, Registry, Source};
use crate::period::Period;
use crate::plan;
use chrono::NaiveDate;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::HashMap;
use tinhso_kernel::{AppError, Invalid};
use tinhso_store::{Db, DbError};

/// The format's name and version.
pub const FORMAT: &str = "tinhso.indicator-values/1";
/// The reporting province (Lạng Sơn, code 20).
pub const PROVINCE_CODE: &str = "20";
pub const PROVINCE_NAME: &str = "Lạng Sơn";

/// The exported document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Export {
    pub format: String,
    pub province: Province,
    pub period: PeriodOut,
    /// One entry per target of every imported plan (or of the chosen plan), in plan order.
    pub values: Vec<Value>,
    /// SHA-256 (hex) of the compact JSON of `values`.
    pub content_sha256: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Province {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PeriodOut {
    /// The period key (`2026`, `2026-9M`, `2026-6M`, `2026-Q3`, `2026-10`, `2026-10-31`).
    pub key: String,
    /// `year`, `nine_months`, `six_months`, `quarter`, `month`, `day`.
    pub frequency: String,
    /// First and last day of its Decree 09/2019 window (inclusive), `YYYY-MM-DD`.
    pub start: String,
    pub end: String,
}

/// One indicator value.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Value {
    /// The plan's code, e.g. `226/KH-UBND`.
    pub plan: String,
    pub target: String,
    pub indicator: String,
    /// The period key of the value (the exported period).
    pub period: String,
    /// `province`, `commune:<code>` or `agency:<code>`.
    pub org_unit: String,
    /// `percent`, `rate`, `rank`, `boolean` (100 = done).
    pub kind: String,
    pub unit: String,
    /// `null` when nothing is known for the period.
    pub value: Option<f64>,
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    /// `live` or `reported`.
    pub source: String,
    /// Reported values: the version and when it was recorded (RFC 3339, UTC).
    pub version: Option<i64>,
    pub reported_at: Option<String>,
    /// Only on the province's reported values made from the agencies' approved reports
    /// (`province::figure`): how many agencies it covers and how they were combined; the
    /// entry then has no `version` nor `reported_at`. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<crate::province::Coverage>,
}

/// The refusal of a bad `period` parameter; `got` is what was given.
pub fn bad_period(got: &str) -> AppError {
    AppError::field(
        "period",
        Invalid::new(
            "period",
            format!("Quy tắc «kỳ báo cáo»: «{got}» không phải là kỳ; dùng 2026 (năm), 2026-9M, 2026-6M, 2026-Q1 (quý), 2026-01 (tháng) hoặc 2026-01-31 (ngày)"),
            format!("Rule “period”: “{got}” is not a period; use 2026 (year), 2026-9M, 2026-6M, 2026-Q1 (quarter), 2026-01 (month) or 2026-01-31 (day)"),
        ),
    )
}

/// Check the `period` parameter: required, a period key, and begun by `today` (a period whose
/// window starts later has no values yet).
pub fn check_period(raw: Option<&str>, today: NaiveDate) -> Result<Period, AppError> {
    let raw = raw.map(str::trim).unwrap_or_default();
    if raw.is_empty() {
        return Err(AppError::field(
            "period",
            Invalid::new(
                "required",
                "Thiếu tham số period (kỳ báo cáo), ví dụ ?period=2026-Q3",
                "The period parameter is missing, e.g. ?period=2026-Q3",
            ),
        ));
    }
    let p = Period::parse(raw).ok_or_else(|| bad_period(raw))?;
    let w = p.window().ok_or_else(|| bad_period(raw))?;
    if w.start > today {
        return Err(AppError::field(
            "period",
            Invalid::new(
                "period_future",
                format!(
                    "Quy tắc «kỳ đã bắt đầu»: kỳ {raw} bắt đầu ngày {}, chưa có số liệu",
                    w.start.format("%d/%m/%Y")
                ),
                format!(
                    "Rule “period begun”: period {raw} starts on {}; there are no values yet",
                    w.start.format("%Y-%m-%d")
                ),
            ),
        ));
    }
    Ok(p)
}

fn frequency_name(p: Period) -> &'static str {
    match p {
        Period::Day(_) => "day",
        Period::Month { .. } => "month",
        Period::Quarter { .. } => "quarter",
        Period::SixMonths { .. } => "six_months",
        Period::NineMonths { .. } => "nine_months",
        Period::Year { .. } => "year",
    }
}

/// SHA-256 (hex) of the compact JSON of the values.
pub fn content_hash(values: &[Value]) -> Result<String, AppError> {
    let bytes = serde_json::to_vec(values).map_err(AppError::internal)?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

fn rfc3339(micros: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// The export for `period`, of one plan or of every plan, for the province.
pub async fn export(
    db: &Db,
    registry: &Registry,
    period: Period,
    plan_code: Option<&str>,
) -> Result<Export, AppError> {
    export_units(db, registry, period, plan_code, &[OrgUnit::Province]).await
}

/// The value `all` of the `unit` parameter: the province, every commune, every agency.
pub const ALL_UNITS: &str = "all";

fn unit_unknown(got: &str) -> AppError {
    AppError::field(
        "unit",
        Invalid::new(
            "unit_unknown",
            format!(
                "Quy tắc «đơn vị»: «{got}» không phải mã xã (5 chữ số, có Ủy ban nhân dân \
                 trong danh mục cơ quan), mã cơ quan trong danh mục, province hoặc all"
            ),
            format!(
                "Rule “unit”: “{got}” is not a commune code (5 digits, with a People's Committee \
                 in the agency tree), an agency code of the agency tree, province or all"
            ),
        ),
    )
}

/// Check the `unit` parameter (đơn vị: xã hoặc cơ quan) and give the units it covers, in the
/// export's order: none, empty or `province` → the province; a commune code (`05986`, or
/// `commune:05986`) whose People's Committee is in the agency tree → that commune; an agency
/// code of the agency tree (`000.00.23.H37`, or `agency:000.00.23.H37`) → that agency;
/// [`ALL_UNITS`] → the province, then every commune (by code), then every agency (by code).
/// Anything else is refused: field `unit`, code `unit_unknown`.
pub async fn check_unit(db: &Db, raw: Option<&str>) -> Result<Vec<OrgUnit>, AppError> {
    let raw = raw.map(str::trim).unwrap_or_default();
    let committees = crate::live::commune_committees(db).await?;
    let mut communes: Vec<String> = committees
        .iter()
        .filter_map(|a| a.admin_unit_code.clone())
        .collect();
    communes.sort();
    communes.dedup();
    if raw.is_empty() || raw == "province" {
        return Ok(vec![OrgUnit::Province]);
    }
    if raw == ALL_UNITS {
        let mut agencies: Vec<String> = tinhso_refdata::agencies::list(
            db,
            &tinhso_refdata::agencies::AgencyFilter {
                limit: Some(5000),
                ..Default::default()
            },
        )
        .await?
        .into_iter()
        .map(|a| a.code)
        .collect();
        agencies.sort();
        let mut out = vec![OrgUnit::Province];
        out.extend(communes.into_iter().map(OrgUnit::Commune));
        out.extend(agencies.into_iter().map(OrgUnit::Agency));
        return Ok(out);
    }
    let is_commune = |c: &str| c.len() == 5 && c.bytes().all(|b| b.is_ascii_digit());
    let (commune, agency) = match raw.split_once(':') {
        Some(("commune", c)) => (Some(c), None),
        Some(("agency", a)) => (None, Some(a)),
        _ if is_commune(raw) => (Some(raw), None),
        _ => (None, Some(raw)),
    };
    if let Some(c) = commune {
        return match communes.iter().find(|k| k.as_str() == c) {
            Some(k) => Ok(vec![OrgUnit::Commune(k.clone())]),
            None => Err(unit_unknown(raw)),
        };
    }
    match agency.filter(|a| !a.is_empty() && a.len() <= 40) {
        Some(a) => match tinhso_refdata::agencies::get(db, a).await? {
            Some(found) => Ok(vec![OrgUnit::Agency(found.code)]),
            None => Err(unit_unknown(raw)),
        },
        None => Err(unit_unknown(raw)),
    }
}

/// The current (highest) version reported for exactly `period`, of every indicator and unit:
/// (indicator, unit) → (value, numerator, denominator, version, reported at, Unix µs).
type Reported = HashMap<(String, String), (f64, Option<f64>, Option<f64>, i64, i64)>;

async fn reported_for(db: &Db, period: Period) -> Result<Reported, AppError> {
    let rows = sqlx::query(
        "SELECT indicator_key, org_kind, org_code, version, value, numerator, denominator, \
         reported_at FROM reported_values WHERE period = $1",
    )
    .bind(period.to_string())
    .fetch_all(db.pool())
    .await
    .map_err(|e| AppError::from(DbError::from(e)))?;
    let mut out: Reported = HashMap::new();
    for r in &rows {
        let get = |e: sqlx::Error| AppError::from(DbError::from(e));
        let key: String = r.try_get(0).map_err(get)?;
        let kind: String = r.try_get(1).map_err(get)?;
        let code: String = r.try_get(2).map_err(get)?;
        let org = match kind.as_str() {
            "commune" => OrgUnit::Commune(code),
            "agency" => OrgUnit::Agency(code),
            _ => OrgUnit::Province,
        };
        let version: i64 = r.try_get(3).map_err(get)?;
        let v = (
            r.try_get(4).map_err(get)?,
            r.try_get(5).map_err(get)?,
            r.try_get(6).map_err(get)?,
            version,
            r.try_get(7).map_err(get)?,
        );
        let slot = out.entry((key, org.to_string())).or_insert(v);
        if slot.3 < version {
            *slot = v;
        }
    }
    Ok(out)
}

/// The export for `period`, of one plan or of every plan, for `units` (from [`check_unit`]):
/// for each unit in order, one entry per target in plan order.
pub async fn export_units(
    db: &Db,
    registry: &Registry,
    period: Period,
    plan_code: Option<&str>,
    units: &[OrgUnit],
) -> Result<Export, AppError> {
    let window = period
        .window()
        .ok_or_else(|| AppError::internal(format!("period {period} has no window")))?;
    let targets: Vec<plan::Target> = plan::targets(db)
        .await?
        .into_iter()
        .filter(|t| plan_code.is_none_or(|c| c == t.plan_code))
        .collect();
    let reported = reported_for(db, period).await?;
    let mut values = Vec::new();
    for org in units {
        values.extend(unit_values(db, registry, period, org, &targets, &reported).await?);
    }
    Ok(Export {
        format: FORMAT.into(),
        province: Province {
            code: PROVINCE_CODE.into(),
            name: PROVINCE_NAME.into(),
        },
        period: PeriodOut {
            key: period.to_string(),
            frequency: frequency_name(period).into(),
            start: window.start.format("%Y-%m-%d").to_string(),
            end: window.last_day().format("%Y-%m-%d").to_string(),
        },
        content_sha256: content_hash(&values)?,
        values,
    })
}

/// One unit's entries, one per target.
async fn unit_values(
    db: &Db,
    registry: &Registry,
    period: Period,
    org: &OrgUnit,
    targets: &[plan::Target],
    reported: &Reported,
) -> Result<Vec<Value>, AppError> {
    let mut values = Vec::new();
    for t in targets {
        let mut v = Value {
            plan: t.plan_code.clone(),
            target: t.id.clone(),
            indicator: t.indicator_key.clone(),
            period: period.to_string(),
            org_unit: org.to_string(),
            kind: t.kind.as_str().to_string(),
            unit: t.unit.clone(),
            value: None,
            numerator: None,
            denominator: None,
            source: String::new(),
            version: None,
            reported_at: None,
            coverage: None,
        };
        if t.indicator_key.starts_with("reported.") {
            v.source = Source::Reported.as_str().to_string();
            // The province's value is the agencies' approved values combined when they
            // reported the period (as on the board); else the province's own entry.
            let combined = match org {
                OrgUnit::Province => crate::province::figure(db, &t.indicator_key, period).await?,
                _ => None,
            };
            if let Some(f) = combined {
                v.value = Some(f.value);
                v.numerator = f.numerator;
                v.denominator = f.denominator;
                v.coverage = Some(f.coverage);
            } else if let Some(&(value, numerator, denominator, version, at)) =
                reported.get(&(t.indicator_key.clone(), org.to_string()))
            {
                v.value = Some(value);
                v.numerator = numerator;
                v.denominator = denominator;
                v.version = Some(version);
                v.reported_at = rfc3339(at);
            }
        } else {
            v.source = Source::Live.as_str().to_string();
            if let Some(o) = registry.observe(db, &t.indicator_key, period, org).await? {
                v.value = o.value;
                v.numerator = o.numerator;
                v.denominator = o.denominator;
            }
        }
        values.push(v);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn the_period_is_required_well_formed_and_begun() {
        let today = d(2026, 11, 29);
        let code = |r: Result<Period, AppError>| r.unwrap_err().fields[0].code;
        assert_eq!(code(check_period(None, today)), "required");
        assert_eq!(code(check_period(Some("  "), today)), "required");
        assert_eq!(code(check_period(Some("2026-13"), today)), "period");
        assert_eq!(code(check_period(Some("Q3-2026"), today)), "period");
        // 2027 starts on 15 Dec 2026.
        assert_eq!(code(check_period(Some("2027"), today)), "period_future");
        assert_eq!(
            check_period(Some("2027"), d(2026, 12, 15)).unwrap(),
            Period::Year { year: 2027 }
        );
        assert_eq!(
            check_period(Some(" 2026-Q3 "), today).unwrap(),
            Period::Quarter {
                year: 2026,
                quarter: 3
            }
        );
    }
}
