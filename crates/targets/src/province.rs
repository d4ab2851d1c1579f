//! The province's figure of a reported indicator (số liệu tổng hợp của tỉnh), made from the
//! values the agencies' **approved** reports recorded (each approval links the values it wrote
//! in `report_recorded_values`; a value entered by hand for an agency, or a report submitted
//! or returned but not approved, counts for nothing).
//!
//! How the agencies' values combine is data: the `combine` of the regime element recording
//! the indicator ([`Combine`]: `sum`, `ratio` — Σ numerators / Σ denominators × 100, `mean`,
//! `latest`; default `ratio` for a percentage with its counts, `mean` for one without, `sum`
//! for counts). For `ratio`, if any agency's value came without its counts, the figure falls
//! back to the mean of the values and says so (`combine` of the [`Coverage`] is then `mean`).
//!
//! Every figure says how many agencies it covers (e.g. "12 of 18 agencies reported"): the
//! agencies with a report task of the period under a regime recording the indicator (or, before
//! tasks are opened, the regimes' reporting agencies), and those whose approved value it holds.

use crate::engine::{ratio, round1};
use crate::period::Period;
use crate::regimes::{self, Combine, Regime};
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use tinhso_kernel::AppError;
use tinhso_store::{Db, DbError};

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

/// How many agencies a province figure covers, and how it was combined.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Coverage {
    /// Agencies whose approved value is in the figure.
    pub reported: usize,
    /// Agencies due to report the period.
    pub expected: usize,
    /// The rule actually applied.
    pub combine: Combine,
}

impl Coverage {
    /// "12/18 cơ quan đã báo cáo (tổng của các cơ quan)", in Vietnamese or English.
    pub fn label(&self, vi: bool) -> String {
        let (cvi, cen) = self.combine.label();
        if vi {
            format!(
                "{}/{} cơ quan đã báo cáo ({cvi})",
                self.reported, self.expected
            )
        } else {
            format!(
                "{} of {} agencies reported ({cen})",
                self.reported, self.expected
            )
        }
    }
}

/// The province's figure of a reported indicator for one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    pub indicator: String,
    pub period: String,
    pub value: f64,
    /// For `ratio`: the sums of the agencies' numerators and denominators.
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    pub coverage: Coverage,
}

/// One agency's approved value (its latest approved version).
#[derive(Debug, Clone, PartialEq)]
struct Approved {
    agency: String,
    value: f64,
    numerator: Option<f64>,
    denominator: Option<f64>,
    reported_at: i64,
}

/// Each agency's latest approved value of (indicator, period).
async fn approved(db: &Db, indicator: &str, period: &str) -> Result<Vec<Approved>, AppError> {
    let rows = sqlx::query(
        "SELECT v.org_code, v.value, v.numerator, v.denominator, v.reported_at \
         FROM reported_values v JOIN report_recorded_values r \
           ON r.indicator_key = v.indicator_key AND r.period = v.period \
          AND r.org_kind = v.org_kind AND r.org_code = v.org_code AND r.value_version = v.version \
         WHERE v.indicator_key = $1 AND v.period = $2 AND v.org_kind = 'agency' \
         ORDER BY v.org_code, v.version DESC",
    )
    .bind(indicator)
    .bind(period)
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    let mut out: Vec<Approved> = Vec::new();
    for r in &rows {
        let agency: String = r.try_get(0).map_err(db_err)?;
        // Newest version first within an agency: keep the first.
        if out.last().is_some_and(|a| a.agency == agency) {
            continue;
        }
        out.push(Approved {
            agency,
            value: r.try_get(1).map_err(db_err)?,
            numerator: r.try_get(2).map_err(db_err)?,
            denominator: r.try_get(3).map_err(db_err)?,
            reported_at: r.try_get(4).map_err(db_err)?,
        });
    }
    Ok(out)
}

/// The regimes recording `indicator`, with the rule combining it (one per indicator: the
/// import refuses a second regime combining it otherwise).
async fn recording(db: &Db, indicator: &str) -> Result<(Vec<Regime>, Option<Combine>), AppError> {
    let mut combine = None;
    let mut out = Vec::new();
    for r in regimes::all(db).await? {
        if let Some(e) = r
            .elements
            .iter()
            .find(|e| e.indicator.as_deref() == Some(indicator))
        {
            combine.get_or_insert(e.combine());
            out.push(r);
        }
    }
    Ok((out, combine))
}

/// Combine agencies' values; `None` without any. Pure, for the tests.
fn combine(rule: Combine, values: &[Approved]) -> Option<(f64, Option<f64>, Option<f64>, Combine)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = || round1(values.iter().map(|a| a.value).sum::<f64>() / n);
    Some(match rule {
        Combine::Sum => (values.iter().map(|a| a.value).sum(), None, None, rule),
        Combine::Mean => (mean(), None, None, rule),
        Combine::Latest => {
            let last = values
                .iter()
                .max_by(|a, b| (a.reported_at, &a.agency).cmp(&(b.reported_at, &b.agency)))?;
            (last.value, None, None, rule)
        }
        Combine::Ratio => {
            let counts: Option<Vec<(f64, f64)>> = values
                .iter()
                .map(|a| a.numerator.zip(a.denominator))
                .collect();
            match counts {
                Some(c) => {
                    let (num, den) = c.iter().fold((0.0, 0.0), |(n, d), (a, b)| (n + a, d + b));
                    (ratio(num, den, 100.0)?, Some(num), Some(den), rule)
                }
                None => (mean(), None, None, Combine::Mean),
            }
        }
    })
}

/// The province's figure of `indicator` for `period`, from the agencies' approved values;
/// `None` when no regime records it or no agency's value was approved for the period.
pub async fn figure(db: &Db, indicator: &str, period: Period) -> Result<Option<Figure>, AppError> {
    let (regimes, Some(rule)) = recording(db, indicator).await? else {
        return Ok(None);
    };
    let period_key = period.to_string();
    let values = approved(db, indicator, &period_key).await?;
    let Some((value, numerator, denominator, applied)) = combine(rule, &values) else {
        return Ok(None);
    };
    let mut expected: BTreeSet<String> = BTreeSet::new();
    for r in &regimes {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT agency_code FROM report_tasks WHERE regime_code = $1 AND period = $2",
        )
        .bind(&r.code)
        .bind(&period_key)
        .fetch_all(db.pool())
        .await
        .map_err(db_err)?;
        expected.extend(rows);
    }
    if expected.is_empty() {
        for r in &regimes {
            expected.extend(regimes::reporters(db, r).await?);
        }
    }
    expected.extend(values.iter().map(|a| a.agency.clone()));
    Ok(Some(Figure {
        indicator: indicator.to_string(),
        period: period_key,
        value,
        numerator,
        denominator,
        coverage: Coverage {
            reported: values.len(),
            expected: expected.len(),
            combine: applied,
        },
    }))
}

/// The periods with an approved agency value of `indicator`.
pub async fn periods(db: &Db, indicator: &str) -> Result<Vec<Period>, AppError> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT period FROM report_recorded_values \
         WHERE indicator_key = $1 AND org_kind = 'agency'",
    )
    .bind(indicator)
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    Ok(rows.iter().filter_map(|p| Period::parse(p)).collect())
}

/// [`periods`] of every indicator, in one statement.
pub async fn periods_by_indicator(
    db: &Db,
) -> Result<std::collections::HashMap<String, Vec<Period>>, AppError> {
    let rows = sqlx::query(
        "SELECT DISTINCT indicator_key, period FROM report_recorded_values \
         WHERE org_kind = 'agency'",
    )
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    let mut out: std::collections::HashMap<String, Vec<Period>> = std::collections::HashMap::new();
    for r in &rows {
        let key: String = r.try_get(0).map_err(db_err)?;
        let period: String = r.try_get(1).map_err(db_err)?;
        if let Some(p) = Period::parse(&period) {
            out.entry(key).or_default().push(p);
        }
    }
    Ok(out)
}

/// The figure of the latest period with approved agency values whose window ends by `until`
/// (excluded end, as windows; on a tie the longer period), if any.
pub async fn latest(
    db: &Db,
    indicator: &str,
    until: Option<chrono::NaiveDate>,
) -> Result<Option<Figure>, AppError> {
    latest_among(db, indicator, periods(db, indicator).await?, until).await
}

/// [`latest`] among `periods` (the indicator's [`periods`], read beforehand).
pub async fn latest_among(
    db: &Db,
    indicator: &str,
    periods: Vec<Period>,
    until: Option<chrono::NaiveDate>,
) -> Result<Option<Figure>, AppError> {
    let mut best: Option<((chrono::NaiveDate, i64), Period)> = None;
    for p in periods {
        let Some(w) = p.window() else { continue };
        if until.is_some_and(|u| w.end > u) {
            continue;
        }
        let key = (w.end, w.days());
        if best.as_ref().is_none_or(|(k, _)| key > *k) {
            best = Some((key, p));
        }
    }
    match best {
        Some((_, p)) => figure(db, indicator, p).await,
        None => Ok(None),
    }
}

/// Every period's figure of `indicator`, by period key.
pub async fn all(db: &Db, indicator: &str) -> Result<BTreeMap<String, Figure>, AppError> {
    all_among(db, indicator, periods(db, indicator).await?).await
}

/// [`all`] over `periods` (the indicator's [`periods`], read beforehand).
pub async fn all_among(
    db: &Db,
    indicator: &str,
    periods: Vec<Period>,
) -> Result<BTreeMap<String, Figure>, AppError> {
    let mut out = BTreeMap::new();
    for p in periods {
        if let Some(f) = figure(db, indicator, p).await? {
            out.insert(f.period.clone(), f);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(agency: &str, value: f64, counts: Option<(f64, f64)>, at: i64) -> Approved {
        Approved {
            agency: agency.into(),
            value,
            numerator: counts.map(|c| c.0),
            denominator: counts.map(|c| c.1),
            reported_at: at,
        }
    }

    #[test]
    fn agencies_values_combine_by_the_rule() {
        // 150/200 and 30/100: the province's share is 180/300 = 60 %, not the mean 52,5 %.
        let shares = [
            a("A", 75.0, Some((150.0, 200.0)), 2),
            a("B", 30.0, Some((30.0, 100.0)), 1),
        ];
        assert_eq!(
            combine(Combine::Ratio, &shares),
            Some((60.0, Some(180.0), Some(300.0), Combine::Ratio))
        );
        assert_eq!(
            combine(Combine::Mean, &shares),
            Some((52.5, None, None, Combine::Mean))
        );
        assert_eq!(
            combine(Combine::Sum, &shares),
            Some((105.0, None, None, Combine::Sum))
        );
        // The value approved last (reported_at 2).
        assert_eq!(
            combine(Combine::Latest, &shares),
            Some((75.0, None, None, Combine::Latest))
        );
        // A share without its counts: the mean, said so.
        let mixed = [shares[0].clone(), a("C", 40.0, None, 3)];
        assert_eq!(
            combine(Combine::Ratio, &mixed),
            Some((57.5, None, None, Combine::Mean))
        );
        assert_eq!(combine(Combine::Sum, &[]), None);
    }
}
