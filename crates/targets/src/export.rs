//! The export of indicator values for the Government reporting information system (Hệ thống
//! thông tin báo cáo Chính phủ): for one period, the value of every indicator a target of an
//! imported plan is wired to, for the province, in a documented JSON format
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
use tinhso_kernel::{AppError, Invalid};
use tinhso_store::Db;

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

/// The export for `period`, of one plan or of every plan.
pub async fn export(
    db: &Db,
    registry: &Registry,
    period: Period,
    plan_code: Option<&str>,
) -> Result<Export, AppError> {
    let window = period
        .window()
        .ok_or_else(|| AppError::internal(format!("period {period} has no window")))?;
    let org = OrgUnit::Province;
    let mut values = Vec::new();
    for t in plan::targets(db).await? {
        if plan_code.is_some_and(|c| c != t.plan_code) {
            continue;
        }
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
        };
        if t.indicator_key.starts_with("reported.") {
            v.source = Source::Reported.as_str().to_string();
            if let Some(r) = crate::reported::current(db, &t.indicator_key, period, &org).await? {
                v.value = Some(r.value);
                v.numerator = r.numerator;
                v.denominator = r.denominator;
                v.version = Some(r.version);
                v.reported_at = rfc3339(r.reported_at);
            }
        } else {
            v.source = Source::Live.as_str().to_string();
            if let Some(o) = registry.observe(db, &t.indicator_key, period, &org).await? {
                v.value = o.value;
                v.numerator = o.numerator;
                v.denominator = o.denominator;
            }
        }
        values.push(v);
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
