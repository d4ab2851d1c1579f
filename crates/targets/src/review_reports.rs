//! The agencies' reports behind the annual review (báo cáo của các cơ quan): for each value an
//! approved report recorded and the review uses, the report it came from (agency, regime,
//! period, version, approved when and by whom, [`Source`]); and the state of the year's
//! reports under the plan's yearly regime ([`YEARLY_REGIME`]) for each reporting agency
//! ([`AgencyReport`]: approved / submitted awaiting approval / returned / late / not
//! submitted, with its dates).
//!
//! Only approved reports feed values: a value is listed only through the link the approval
//! writes in its own transaction (`report_recorded_values`) to the approval's version, so a
//! report submitted or returned but not approved contributes nothing.

use crate::digest::local;
use crate::period::Period;
use crate::reports::{self, TaskFilter, Viewer};
use chrono::NaiveDate;
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use tinhso_identity::Principal;
use tinhso_kernel::AppError;
use tinhso_refdata::agencies;
use tinhso_store::{Db, DbError};

/// The plan's yearly regime: agencies report by 20 November (Kế hoạch 226/KH-UBND).
pub const YEARLY_REGIME: &str = "KH226-NAM";

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

/// A value recorded from an approved report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    pub indicator: String,
    /// The reporting agency.
    pub agency_code: String,
    pub agency_name: String,
    pub value: f64,
    /// The version of the reported value (of indicator, period, agency).
    pub value_version: i64,
    pub regime_code: String,
    /// The report's period key.
    pub period: String,
    pub task_id: String,
    /// The approval's version of the report.
    pub report_version: i64,
    /// Unix microseconds.
    pub approved_at: i64,
    /// The approver as recorded (`user:…`, `cli:…`).
    pub approved_by: String,
    /// The approver's display name, for a user.
    pub approved_by_name: Option<String>,
}

impl Source {
    /// "Nguyễn Văn A (user:…)" or the actor alone.
    pub fn approver(&self) -> String {
        match &self.approved_by_name {
            Some(n) => format!("{n} ({})", self.approved_by),
            None => self.approved_by.clone(),
        }
    }
}

/// Where an agency's report of the year stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Đã duyệt.
    Approved,
    /// Đã gửi, chờ duyệt.
    Submitted,
    /// Bị trả lại (to correct).
    Returned,
    /// Quá hạn chưa gửi.
    Late,
    /// Chưa gửi (deadline not passed).
    NotSubmitted,
    /// Chưa duyệt, not shown: the caller is staff over neither the reporting agency nor the
    /// recipient ([`crate::reports::staff_over`]), so it sees only that the report is not
    /// approved — as the approved list already tells every staff member.
    Withheld,
}

impl Standing {
    pub fn name(self) -> (&'static str, &'static str) {
        match self {
            Standing::Approved => ("Đã duyệt", "Approved"),
            Standing::Submitted => ("Đã gửi, chờ duyệt", "Submitted, awaiting approval"),
            Standing::Returned => ("Bị trả lại", "Returned"),
            Standing::Late => ("Quá hạn, chưa gửi", "Late, not submitted"),
            Standing::NotSubmitted => ("Chưa gửi", "Not submitted"),
            Standing::Withheld => (
                "Chưa duyệt (không được xem tình hình)",
                "Not approved (standing not shown)",
            ),
        }
    }
}

/// One agency's report of the year.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgencyReport {
    pub agency_code: String,
    pub agency_name: String,
    pub task_id: String,
    /// The agency the report goes to.
    pub recipient_code: String,
    pub standing: Standing,
    /// Deadline (YYYY-MM-DD).
    pub due_date: String,
    /// A submission came after the deadline.
    pub submitted_late: bool,
    /// The last submission (Unix microseconds).
    pub submitted_at: Option<i64>,
    /// The approval or return (Unix microseconds).
    pub decided_at: Option<i64>,
    /// When it was escalated as overdue (YYYY-MM-DD).
    pub escalated_on: Option<String>,
}

/// The agencies' reports behind one review.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reporting {
    pub regime: String,
    pub period: String,
    /// Values from approved reports, by indicator then agency.
    pub sources: Vec<Source>,
    /// Every agency due to report under [`YEARLY_REGIME`] for the year, by agency code.
    pub agencies: Vec<AgencyReport>,
}

impl Reporting {
    /// How many agencies stand at each standing, in [`Standing`] order.
    pub fn tally(&self) -> Vec<(Standing, usize)> {
        [
            Standing::Approved,
            Standing::Submitted,
            Standing::Returned,
            Standing::Late,
            Standing::NotSubmitted,
            Standing::Withheld,
        ]
        .into_iter()
        .filter(|&s| s != Standing::Withheld || self.agencies.iter().any(|a| a.standing == s))
        .map(|s| (s, self.agencies.iter().filter(|a| a.standing == s).count()))
        .collect()
    }
}

impl Reporting {
    /// The reporting as `principal` may see it: the standing of a report not yet approved
    /// (submitted, returned, late, dates, escalation) only for staff over the reporting agency
    /// or the recipient ([`crate::reports::Viewer`]); for the others it becomes
    /// [`Standing::Withheld`] with no dates. Values come from approved reports only and stay.
    pub async fn as_seen_by(
        mut self,
        db: &Db,
        principal: Option<&Principal>,
    ) -> Result<Reporting, AppError> {
        let mut viewer = Viewer::new(principal);
        for a in &mut self.agencies {
            let status = match a.standing {
                Standing::Approved => "approved",
                _ => "not_approved",
            };
            if !viewer
                .sees(db, status, &a.agency_code, &a.recipient_code)
                .await?
            {
                a.standing = Standing::Withheld;
                a.submitted_late = false;
                a.submitted_at = None;
                a.decided_at = None;
                a.escalated_on = None;
            }
        }
        Ok(self)
    }
}

/// Local date and time of an instant, `dd/mm/yyyy HH:MM`.
pub fn when(micros: i64) -> String {
    local(micros).format("%d/%m/%Y %H:%M").to_string()
}

async fn names(db: &Db, codes: &BTreeSet<String>) -> Result<BTreeMap<String, String>, AppError> {
    let mut out = BTreeMap::new();
    for c in codes {
        if let Some(a) = agencies::get(db, c).await? {
            out.insert(c.clone(), a.name);
        }
    }
    Ok(out)
}

async fn user_name(db: &Db, actor: &str) -> Result<Option<String>, AppError> {
    let Some(id) = actor.strip_prefix("user:") else {
        return Ok(None);
    };
    sqlx::query_scalar("SELECT display_name FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await
        .map_err(db_err)
}

/// The reporting behind the review of `year`: values of approved reports for `indicators`
/// over periods within the year's Decree 09 window, and the state of every agency's
/// [`YEARLY_REGIME`] report of the year as of `today`.
pub async fn reporting(
    db: &Db,
    year: i32,
    indicators: &BTreeSet<String>,
    today: NaiveDate,
) -> Result<Reporting, AppError> {
    let window = Period::Year { year }
        .window()
        .ok_or_else(|| AppError::internal(format!("year {year} has no window")))?;
    let rows = sqlx::query(
        "SELECT s.indicator_key, s.org_code, rv.value, s.value_version, t.regime_code, t.period, \
         s.task_id, s.report_version, v.at, v.actor \
         FROM report_recorded_values s \
         JOIN report_tasks t ON t.id = s.task_id \
         JOIN report_versions v ON v.task_id = s.task_id AND v.version = s.report_version \
         JOIN reported_values rv ON rv.indicator_key = s.indicator_key AND rv.period = s.period \
           AND rv.org_kind = s.org_kind AND rv.org_code = s.org_code \
           AND rv.version = s.value_version \
         WHERE v.action = 'approve' AND v.status = 'approved' AND s.org_kind = 'agency' \
         ORDER BY s.indicator_key, s.org_code, t.period, s.report_version",
    )
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    let mut sources = Vec::new();
    for r in &rows {
        let indicator: String = r.try_get(0).map_err(db_err)?;
        let period: String = r.try_get(5).map_err(db_err)?;
        let within = Period::parse(&period)
            .and_then(|p| p.window())
            .is_some_and(|w| w.start >= window.start && w.end <= window.end);
        if !indicators.contains(&indicator) || !within {
            continue;
        }
        let approved_by: String = r.try_get(9).map_err(db_err)?;
        sources.push(Source {
            indicator,
            agency_code: r.try_get(1).map_err(db_err)?,
            agency_name: String::new(),
            value: r.try_get(2).map_err(db_err)?,
            value_version: r.try_get(3).map_err(db_err)?,
            regime_code: r.try_get(4).map_err(db_err)?,
            period,
            task_id: r.try_get(6).map_err(db_err)?,
            report_version: r.try_get(7).map_err(db_err)?,
            approved_at: r.try_get(8).map_err(db_err)?,
            approved_by_name: user_name(db, &approved_by).await?,
            approved_by,
        });
    }

    let tasks = reports::list(
        db,
        &TaskFilter {
            regime: Some(YEARLY_REGIME.into()),
            period: Some(year.to_string()),
            ..Default::default()
        },
    )
    .await?;
    let day = today.format("%Y-%m-%d").to_string();
    let mut agencies_due = Vec::new();
    for t in tasks {
        let versions = reports::versions(db, &t.id).await?;
        let submitted_at = versions
            .iter()
            .rfind(|v| v.action == "submit")
            .map(|v| v.at);
        let decided_at = versions
            .iter()
            .rfind(|v| v.action == "approve" || v.action == "return")
            .map(|v| v.at);
        let standing = match t.status.as_str() {
            "approved" => Standing::Approved,
            "submitted" => Standing::Submitted,
            "returned" => Standing::Returned,
            _ if t.due_date < day => Standing::Late,
            _ => Standing::NotSubmitted,
        };
        let escalated_on: Option<String> = if t.escalated {
            sqlx::query_scalar("SELECT escalated_on FROM report_escalations WHERE task_id = $1")
                .bind(&t.id)
                .fetch_optional(db.pool())
                .await
                .map_err(db_err)?
        } else {
            None
        };
        agencies_due.push(AgencyReport {
            agency_code: t.agency_code.clone(),
            agency_name: String::new(),
            task_id: t.id.clone(),
            recipient_code: t.recipient_code.clone(),
            standing,
            due_date: t.due_date.clone(),
            submitted_late: t.late,
            submitted_at,
            decided_at,
            escalated_on,
        });
    }
    agencies_due.sort_by(|a, b| a.agency_code.cmp(&b.agency_code));

    let codes: BTreeSet<String> = sources
        .iter()
        .map(|s| s.agency_code.clone())
        .chain(agencies_due.iter().map(|a| a.agency_code.clone()))
        .collect();
    let names = names(db, &codes).await?;
    let name = |c: &str| names.get(c).cloned().unwrap_or_else(|| c.to_string());
    for s in &mut sources {
        s.agency_name = name(&s.agency_code);
    }
    for a in &mut agencies_due {
        a.agency_name = name(&a.agency_code);
    }
    Ok(Reporting {
        regime: YEARLY_REGIME.into(),
        period: year.to_string(),
        sources,
        agencies: agencies_due,
    })
}
