//! The report versions behind a reported value (các phiên bản báo cáo đứng sau số liệu): for a
//! reported indicator, every version — saved, submitted, returned, approved — of the report
//! tasks whose regime records it ([`crate::regimes::Element::indicator`]), for the periods within
//! a period and the agencies of a unit: who acted and when, the value of the recording element
//! in that version, the recipient's comment, newest first. Reporting regimes keep every
//! version ([`crate::reports::Version`]); the operations centre's drill-down lists them under a
//! reported indicator's value, each linking to its report.
//!
//! Two statements whatever the number of tasks: the regimes' versions (which element records
//! the indicator in which version of which regime), then the versions joined with their task,
//! agency and actor.

use crate::period::Period;
use crate::regimes::Regime;
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use std::collections::HashMap;
use tinhso_kernel::AppError;
use tinhso_store::{Db, DbError};

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

/// One version of a report behind a reported value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrailRow {
    /// The report task (`bc-…`).
    pub task_id: String,
    /// Its page (`/nghiep-vu/bao-cao/{id}`).
    pub href: String,
    pub regime_code: String,
    /// The report's period key (`2026`, `2026-Q3`, …).
    pub period: String,
    pub agency_code: String,
    pub agency_name: String,
    /// The agency the report goes to.
    pub recipient_code: String,
    /// The report's status now (`open`, `draft`, `submitted`, `returned`, `approved`).
    pub task_status: String,
    pub version: i64,
    /// `save`, `submit`, `return`, `approve`.
    pub action: String,
    /// The status this version left the report in.
    pub status: String,
    /// `user:…` (or `cli:…`).
    pub actor: String,
    /// The account's display name, when the actor is an account.
    pub actor_name: Option<String>,
    /// Unix microseconds.
    pub at: i64,
    /// The recording element's value in this version (`null` when not given).
    pub value: Value,
    /// The recipient's comment (return, approval).
    pub comment: String,
    /// A submission after the deadline.
    pub late: bool,
}

/// The element recording `indicator` in each regime version that has one, by (code, version).
async fn recording_elements(
    db: &Db,
    indicator: &str,
) -> Result<HashMap<(String, i64), String>, AppError> {
    let rows = sqlx::query("SELECT code, version, definition FROM report_regime_versions")
        .fetch_all(db.pool())
        .await
        .map_err(db_err)?;
    let mut out = HashMap::new();
    for r in &rows {
        let definition: String = r.try_get(2).map_err(db_err)?;
        let regime: Regime = serde_json::from_str(&definition).map_err(AppError::internal)?;
        if let Some(e) = regime
            .elements
            .iter()
            .find(|e| e.indicator.as_deref() == Some(indicator))
        {
            out.insert(
                (r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?),
                e.key.clone(),
            );
        }
    }
    Ok(out)
}

/// Every version of the reports recording `indicator` for periods within `period` (a report
/// of a quarter is within its year; a yearly report is not within a quarter), of `agencies`
/// (`None`: every agency), newest first, at most `limit`.
pub async fn behind(
    db: &Db,
    indicator: &str,
    period: Period,
    agencies: Option<&[String]>,
    limit: usize,
) -> Result<Vec<TrailRow>, AppError> {
    let window = period
        .window()
        .ok_or_else(|| AppError::internal(format!("period {period} has no window")))?;
    let elements = recording_elements(db, indicator).await?;
    if elements.is_empty() || agencies.is_some_and(|a| a.is_empty()) {
        return Ok(Vec::new());
    }
    let mut codes: Vec<&str> = elements.keys().map(|(c, _)| c.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    let marks = |first: usize, n: usize| {
        (first..first + n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let agency_filter = agencies.map_or(String::new(), |a| {
        format!(
            " AND t.agency_code IN ({})",
            marks(codes.len() + 1, a.len())
        )
    });
    let sql = format!(
        "SELECT t.id, t.regime_code, t.regime_version, t.period, t.agency_code, \
         COALESCE(a.name, t.agency_code), t.status, v.version, v.action, v.status, \
         v.report_values, v.comment, v.late, v.actor, u.display_name, v.at, t.recipient_code \
         FROM report_versions v JOIN report_tasks t ON t.id = v.task_id \
         LEFT JOIN agencies a ON a.code = t.agency_code \
         LEFT JOIN users u ON 'user:' || u.id = v.actor \
         WHERE t.regime_code IN ({}){agency_filter} \
         ORDER BY v.at DESC, t.id, v.version DESC",
        marks(1, codes.len())
    );
    let mut q = sqlx::query(&sql);
    for c in &codes {
        q = q.bind(*c);
    }
    for a in agencies.unwrap_or_default() {
        q = q.bind(a);
    }
    let mut out = Vec::new();
    for r in q.fetch_all(db.pool()).await.map_err(db_err)? {
        let regime_code: String = r.try_get(1).map_err(db_err)?;
        let Some(element) = elements.get(&(regime_code.clone(), r.try_get(2).map_err(db_err)?))
        else {
            continue;
        };
        let task_period: String = r.try_get(3).map_err(db_err)?;
        let within = Period::parse(&task_period)
            .and_then(|p| p.window())
            .is_some_and(|w| w.start >= window.start && w.end <= window.end);
        if !within {
            continue;
        }
        let values: String = r.try_get(10).map_err(db_err)?;
        let values: HashMap<String, crate::reports::Entry> =
            serde_json::from_str(&values).map_err(AppError::internal)?;
        let task_id: String = r.try_get(0).map_err(db_err)?;
        out.push(TrailRow {
            href: format!("/nghiep-vu/bao-cao/{task_id}"),
            task_id,
            regime_code,
            period: task_period,
            agency_code: r.try_get(4).map_err(db_err)?,
            agency_name: r.try_get(5).map_err(db_err)?,
            task_status: r.try_get(6).map_err(db_err)?,
            version: r.try_get(7).map_err(db_err)?,
            action: r.try_get(8).map_err(db_err)?,
            status: r.try_get(9).map_err(db_err)?,
            value: values.get(element).map_or(Value::Null, |e| e.value.clone()),
            comment: r.try_get(11).map_err(db_err)?,
            late: r.try_get::<i64, _>(12).map_err(db_err)? != 0,
            actor: r.try_get(13).map_err(db_err)?,
            actor_name: r.try_get(14).map_err(db_err)?,
            at: r.try_get(15).map_err(db_err)?,
            recipient_code: r.try_get(16).map_err(db_err)?,
        });
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}
