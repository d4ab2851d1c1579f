//! Report tasks (nhiệm vụ báo cáo) of the reporting regimes: for each regime and period one
//! task per reporting agency, opened idempotently ([`open_reports`]), due on the regime's
//! deadline, pre-filled with live values ([`prefill`]). The agency saves drafts, attaches
//! evidence and submits; the recipient approves or returns it with comments; the agency
//! corrects and resubmits. Every save, submission, return and approval is a new immutable row
//! of `report_versions`, audited and emitted (`report.saved`, `report.submitted`,
//! `report.returned`, `report.approved`); a submission after the deadline is accepted and
//! marked late; an overdue task is escalated once (`report.overdue`). On approval, elements
//! mapped to a reported indicator are recorded through [`crate::reported::record_in`].
//!
//! Status: `open` → (`draft`)* → `submitted` → `approved`, or → `returned` → … → `submitted`.
//! Authorization is the web layer's ([`crate::web_reports`]).
//!
//! Value rules, each named in the refusal (vi + en): `required` (on submission), `number`,
//! `integer`, `min`, `max`, `boolean`, `length`, `override_reason` (a pre-filled value
//! changed without a reason), `consistency` (a cross-field rule of the regime),
//! `unknown_element`.

use crate::engine::{OrgUnit, Registry};
use crate::period::Period;
use crate::regimes::{self, ElementType, Part, Regime, Term};
use crate::reported::{self, parse_number, NewValue};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::BTreeMap;
use tinhso_identity::{authorize, Permission, Principal, ResourceScope, Scope};
use tinhso_kernel::{text, AppError, FieldErrors, Invalid};
use tinhso_refdata::{agencies, calendar};
use tinhso_store::audit::Ctx;
use tinhso_store::files::{FileStore, MediaType};
use tinhso_store::{now_micros, Db, DbError};

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

/// Statuses in which the reporting agency may still edit and submit.
pub const EDITABLE: &[&str] = &["open", "draft", "returned"];
/// Largest evidence file accepted (10 MB).
pub const MAX_EVIDENCE: usize = 10 * 1024 * 1024;

/// A report task.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Task {
    pub id: String,
    pub regime_code: String,
    /// Period key (`2026`, `2026-Q3`, …).
    pub period: String,
    /// The reporting agency.
    pub agency_code: String,
    pub recipient_code: String,
    /// Last day of the cut-off window (YYYY-MM-DD).
    pub cutoff_last_day: String,
    /// Deadline (YYYY-MM-DD).
    pub due_date: String,
    /// `open`, `draft`, `submitted`, `returned`, `approved`.
    pub status: String,
    /// Latest version (0: none yet).
    pub version: i64,
    /// A submission came after the deadline.
    pub late: bool,
    /// Escalated to the recipient as overdue.
    pub escalated: bool,
    /// Unix microseconds.
    pub opened_at: i64,
    /// The version of the regime the task was opened with (an edit of the regime applies to
    /// periods opened after it).
    pub regime_version: i64,
}

impl Task {
    pub fn editable(&self) -> bool {
        EDITABLE.contains(&self.status.as_str())
    }

    /// Past its deadline and not submitted.
    pub fn overdue(&self, today: NaiveDate) -> bool {
        self.editable() && self.due_date < today.format("%Y-%m-%d").to_string()
    }
}

/// One element's value in a version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entry {
    /// A number, `true`/`false`, a text, or `null` when not given.
    #[schema(value_type = Object)]
    pub value: Value,
    /// The live value it was pre-filled with (giá trị tự động), if any.
    #[serde(default)]
    pub auto: Option<f64>,
    /// Why the pre-filled value was changed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// One immutable version of a report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Version {
    pub version: i64,
    /// `save`, `submit`, `return`, `approve`.
    pub action: String,
    /// The status it left the task in.
    pub status: String,
    pub values: BTreeMap<String, Entry>,
    /// The recipient's comment (return, approval).
    pub comment: String,
    /// A late submission.
    pub late: bool,
    pub actor: String,
    /// Unix microseconds.
    pub at: i64,
}

/// A value as entered: a number, a text (`12,5`), `true`/`false`; `reason` when a pre-filled
/// value is changed.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct EntryInput {
    #[serde(default)]
    #[schema(value_type = Object)]
    pub value: Value,
    #[serde(default)]
    pub reason: String,
}

/// Evidence attached to a report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Evidence {
    pub seq: i64,
    pub sha256: String,
    pub file_name: String,
    pub media_type: String,
    pub size: i64,
    pub uploaded_by: String,
    pub uploaded_at: i64,
}

const TASK_COLUMNS: &str = "t.id, t.regime_code, t.period, t.agency_code, t.recipient_code, \
     t.cutoff_last_day, t.due_date, t.status, t.version, t.late, t.opened_at, \
     CAST(CASE WHEN e.task_id IS NULL THEN 0 ELSE 1 END AS BIGINT), t.regime_version";

fn task_row(r: &sqlx::any::AnyRow) -> Result<Task, AppError> {
    Ok(Task {
        id: r.try_get(0).map_err(db_err)?,
        regime_code: r.try_get(1).map_err(db_err)?,
        period: r.try_get(2).map_err(db_err)?,
        agency_code: r.try_get(3).map_err(db_err)?,
        recipient_code: r.try_get(4).map_err(db_err)?,
        cutoff_last_day: r.try_get(5).map_err(db_err)?,
        due_date: r.try_get(6).map_err(db_err)?,
        status: r.try_get(7).map_err(db_err)?,
        version: r.try_get(8).map_err(db_err)?,
        late: r.try_get::<i64, _>(9).map_err(db_err)? != 0,
        opened_at: r.try_get(10).map_err(db_err)?,
        escalated: r.try_get::<i64, _>(11).map_err(db_err)? != 0,
        regime_version: r.try_get(12).map_err(db_err)?,
    })
}

/// The deterministic id of a task: the same (regime, period, agency) always gives the same id.
pub fn task_id(regime: &str, period: &str, agency: &str) -> String {
    let h = Sha256::digest(format!("{regime}|{period}|{agency}").as_bytes());
    format!("bc-{}", &hex::encode(h)[..16])
}

/// One task.
pub async fn get(db: &Db, id: &str) -> Result<Option<Task>, AppError> {
    let row = sqlx::query(&format!(
        "SELECT {TASK_COLUMNS} FROM report_tasks t LEFT JOIN report_escalations e \
         ON e.task_id = t.id WHERE t.id = $1"
    ))
    .bind(id)
    .fetch_optional(db.pool())
    .await
    .map_err(db_err)?;
    row.as_ref().map(task_row).transpose()
}

/// Filter of [`list`].
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct TaskFilter {
    /// Regime code (`KH226-NAM`, `TTHC-QUY`).
    pub regime: Option<String>,
    /// Period key.
    pub period: Option<String>,
    /// `open`, `draft`, `submitted`, `returned`, `approved`.
    pub status: Option<String>,
    /// Reporting agency code.
    pub agency: Option<String>,
    /// Recipient agency code.
    pub recipient: Option<String>,
}

/// Tasks matching the filter, latest deadline first (no authorization: the caller filters).
pub async fn list(db: &Db, f: &TaskFilter) -> Result<Vec<Task>, AppError> {
    let mut sql = format!(
        "SELECT {TASK_COLUMNS} FROM report_tasks t LEFT JOIN report_escalations e \
         ON e.task_id = t.id WHERE 1=1"
    );
    let mut binds: Vec<String> = Vec::new();
    for (col, v) in [
        ("t.regime_code", &f.regime),
        ("t.period", &f.period),
        ("t.status", &f.status),
        ("t.agency_code", &f.agency),
        ("t.recipient_code", &f.recipient),
    ] {
        if let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            binds.push(v.to_string());
            sql.push_str(&format!(" AND {col} = ${}", binds.len()));
        }
    }
    sql.push_str(" ORDER BY t.due_date DESC, t.regime_code, t.agency_code");
    let mut q = sqlx::query(&sql);
    for b in &binds {
        q = q.bind(b);
    }
    let rows = q.fetch_all(db.pool()).await.map_err(db_err)?;
    rows.iter().map(task_row).collect()
}

/// Where an agency's reports sit, for authorization (its chain, its commune for a commune
/// People's Committee).
pub async fn agency_scope(db: &Db, code: &str) -> Result<ResourceScope, AppError> {
    match agencies::get(db, code).await? {
        Some(a) => Ok(agencies::scope_of(db, &a).await?),
        None => Err(AppError::not_found()),
    }
}

/// Whether the caller is staff (cán bộ) of the agency whose scope is `scope`, for reading a
/// report before approval: `BackOffice` through a role held over that agency or its commune, or
/// through a province-wide role that directs (`LeaderDashboard`: the province's leaders, the
/// administrators). A province-wide technical role (the hub's administrators, `ExchangeAdmin`)
/// also holds `BackOffice` everywhere but is neither the reporting agency nor the recipient, so
/// it does not count. Used by the report pages and API and by the operations centre's list of
/// report versions — one rule.
pub fn staff_over(principal: Option<&Principal>, scope: &ResourceScope) -> bool {
    let Some(p) = principal else {
        return false;
    };
    let mut seated = p.clone();
    seated.roles.retain(|a| {
        a.scope != Scope::Province || a.role.permissions().contains(&Permission::LeaderDashboard)
    });
    authorize(Some(&seated), Permission::BackOffice, scope).is_ok()
}

/// Who reads reports before approval (người xem báo cáo chưa duyệt): [`staff_over`] for one
/// caller, each agency's answer read once (one request's lists, the review, the drill-down).
pub struct Viewer<'a> {
    principal: Option<&'a Principal>,
    /// Staff over the whole province: sees every report.
    everywhere: bool,
    over: BTreeMap<String, bool>,
}

impl<'a> Viewer<'a> {
    pub fn new(principal: Option<&'a Principal>) -> Self {
        Viewer {
            principal,
            everywhere: staff_over(principal, &ResourceScope::province()),
            over: BTreeMap::new(),
        }
    }

    /// [`staff_over`] the agency `code`.
    pub async fn staff_over(&mut self, db: &Db, code: &str) -> Result<bool, AppError> {
        if self.everywhere {
            return Ok(true);
        }
        if let Some(v) = self.over.get(code) {
            return Ok(*v);
        }
        let v = staff_over(self.principal, &agency_scope(db, code).await?);
        self.over.insert(code.to_string(), v);
        Ok(v)
    }

    /// Whether the caller may see a report of `agency` to `recipient` — or its standing — in
    /// the status `status`: anyone once approved, otherwise staff over either agency.
    pub async fn sees(
        &mut self,
        db: &Db,
        status: &str,
        agency: &str,
        recipient: &str,
    ) -> Result<bool, AppError> {
        Ok(status == "approved"
            || self.staff_over(db, agency).await?
            || self.staff_over(db, recipient).await?)
    }
}

/// What [`open_reports`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Opened {
    /// Tasks opened now (existing ones are left alone).
    pub opened: usize,
    /// Overdue tasks escalated now (each task at most once).
    pub escalated: usize,
}

/// The periods a regime has tasks for on `today`: the one whose cut-off window contains it,
/// and the one before while its deadline has not passed.
pub fn periods_on(
    r: &Regime,
    today: NaiveDate,
    cal: &tinhso_kernel::calendar::WorkingCalendar,
) -> Vec<Period> {
    let current = Period::containing(r.frequency, today);
    let mut out = Vec::new();
    if let Some(prev) = current
        .window()
        .and_then(|w| w.start.pred_opt())
        .map(|d| Period::containing(r.frequency, d))
    {
        if prev != current && r.due_date(prev, cal).is_some_and(|due| today <= due) {
            out.push(prev);
        }
    }
    out.push(current);
    out
}

/// Open the report tasks due on `today` for every regime (idempotent), then escalate the
/// overdue ones. Run by `tinhso targets open-reports` and hourly by `tinhso serve`.
pub async fn open_reports(db: &Db, ctx: &Ctx, today: NaiveDate) -> Result<Opened, AppError> {
    let cal = calendar::working_calendar(db).await?;
    let mut opened = 0;
    for r in regimes::all(db).await? {
        for p in periods_on(&r, today, &cal) {
            opened += open_period(db, ctx, &r, p, &cal).await?;
        }
    }
    let escalated = escalate_overdue(db, ctx, today).await?;
    Ok(Opened { opened, escalated })
}

/// Open one period's tasks of a regime; returns how many were new.
pub async fn open_period(
    db: &Db,
    ctx: &Ctx,
    r: &Regime,
    p: Period,
    cal: &tinhso_kernel::calendar::WorkingCalendar,
) -> Result<usize, AppError> {
    let (Some(w), Some(due)) = (p.window(), r.due_date(p, cal)) else {
        return Ok(0);
    };
    let period = p.to_string();
    let (last, due) = (
        w.last_day().format("%Y-%m-%d").to_string(),
        due.format("%Y-%m-%d").to_string(),
    );
    let reporters = regimes::reporters(db, r).await?;
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    let mut events = Vec::new();
    for a in &reporters {
        let id = task_id(&r.code, &period, a);
        let done = sqlx::query(
            "INSERT INTO report_tasks (id, regime_code, period, agency_code, recipient_code, \
             cutoff_last_day, due_date, status, version, late, opened_at, regime_version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', 0, 0, $8, $9) \
             ON CONFLICT (regime_code, period, agency_code) DO NOTHING",
        )
        .bind(&id)
        .bind(&r.code)
        .bind(&period)
        .bind(a)
        .bind(&r.recipient)
        .bind(&last)
        .bind(&due)
        .bind(now)
        .bind(r.version.max(1))
        .execute(tx.conn())
        .await
        .map_err(db_err)?;
        if done.rows_affected() > 0 {
            events.push(
                serde_json::json!({"task": id, "regime": r.code, "period": period,
                "agency": a, "recipient": r.recipient, "due_date": due}),
            );
        }
    }
    if events.is_empty() {
        return Ok(0);
    }
    tx.audit(&ctx.entry(
        "report.open",
        "report_regime",
        &format!("{}@{period}", r.code),
        &r.recipient,
        serde_json::json!({"regime": r.code, "period": period, "due_date": due,
            "tasks": events.len()}),
    ))
    .await?;
    tx.emit_many("report.opened", &events).await?;
    tx.commit().await?;
    Ok(events.len())
}

/// Escalate every task past its deadline and not yet submitted, once per task: an escalation
/// row, an audit entry and a `report.overdue` event to the recipient.
pub async fn escalate_overdue(db: &Db, ctx: &Ctx, today: NaiveDate) -> Result<usize, AppError> {
    let day = today.format("%Y-%m-%d").to_string();
    let rows = sqlx::query(
        "SELECT t.id, t.regime_code, t.period, t.agency_code, t.recipient_code, t.due_date \
         FROM report_tasks t WHERE t.status IN ('open', 'draft', 'returned') AND t.due_date < $1 \
         AND NOT EXISTS (SELECT 1 FROM report_escalations e WHERE e.task_id = t.id) \
         ORDER BY t.id",
    )
    .bind(&day)
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    if rows.is_empty() {
        return Ok(0);
    }
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    let (mut audits, mut events) = (Vec::new(), Vec::new());
    for r in &rows {
        let id: String = r.try_get(0).map_err(db_err)?;
        let due: String = r.try_get(5).map_err(db_err)?;
        let done = sqlx::query(
            "INSERT INTO report_escalations (task_id, due_date, escalated_on, escalated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (task_id) DO NOTHING",
        )
        .bind(&id)
        .bind(&due)
        .bind(&day)
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            continue;
        }
        let payload = serde_json::json!({"task": id,
            "regime": r.try_get::<String, _>(1).map_err(db_err)?,
            "period": r.try_get::<String, _>(2).map_err(db_err)?,
            "agency": r.try_get::<String, _>(3).map_err(db_err)?,
            "recipient": r.try_get::<String, _>(4).map_err(db_err)?,
            "due_date": due, "escalated_on": day});
        let agency: String = r.try_get(3).map_err(db_err)?;
        audits.push(ctx.entry("report.overdue", "report", &id, &agency, payload.clone()));
        events.push(payload);
    }
    tx.audit_many(&audits).await?;
    tx.emit_many("report.overdue", &events).await?;
    tx.commit().await?;
    Ok(events.len())
}

/// Every version of a task, oldest first.
pub async fn versions(db: &Db, task: &str) -> Result<Vec<Version>, AppError> {
    let rows = sqlx::query(
        "SELECT version, action, status, report_values, comment, late, actor, at \
         FROM report_versions WHERE task_id = $1 ORDER BY version",
    )
    .bind(task)
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            let values: String = r.try_get(3).map_err(db_err)?;
            Ok(Version {
                version: r.try_get(0).map_err(db_err)?,
                action: r.try_get(1).map_err(db_err)?,
                status: r.try_get(2).map_err(db_err)?,
                values: serde_json::from_str(&values).map_err(AppError::internal)?,
                comment: r.try_get(4).map_err(db_err)?,
                late: r.try_get::<i64, _>(5).map_err(db_err)? != 0,
                actor: r.try_get(6).map_err(db_err)?,
                at: r.try_get(7).map_err(db_err)?,
            })
        })
        .collect()
}

/// The live values that pre-fill a task's elements (giá trị tự động), by element key: the
/// regime's `prefill` indicators observed for the period and the reporting agency.
pub async fn prefill(db: &Db, r: &Regime, task: &Task) -> Result<BTreeMap<String, f64>, AppError> {
    let Some(period) = Period::parse(&task.period) else {
        return Ok(BTreeMap::new());
    };
    let org = OrgUnit::Agency(task.agency_code.clone());
    let registry = Registry::standard();
    let mut seen: BTreeMap<String, Option<crate::engine::Observation>> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for e in &r.elements {
        let Some(p) = &e.prefill else { continue };
        if !seen.contains_key(&p.indicator) {
            let o = registry.observe(db, &p.indicator, period, &org).await?;
            seen.insert(p.indicator.clone(), o);
        }
        let Some(Some(o)) = seen.get(&p.indicator) else {
            continue;
        };
        let v = match p.part {
            Part::Value => o.value,
            Part::Numerator => o.numerator,
            Part::Denominator => o.denominator,
        };
        if let Some(v) = v {
            out.insert(e.key.clone(), v);
        }
    }
    Ok(out)
}

fn input_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some(String::new()),
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "true" } else { "false" }.into()),
        _ => None,
    }
}

/// `có`/`không`, `yes`/`no`, `true`/`false`, `1`/`0`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match text::fold(s.trim()).as_str() {
        "co" | "yes" | "true" | "1" | "dat" => Some(true),
        "khong" | "no" | "false" | "0" | "chua dat" => Some(false),
        _ => None,
    }
}

/// A text as entered: each line cleaned (NFC, spaces collapsed), lines kept.
fn clean_text(s: &str) -> String {
    s.lines()
        .map(text::clean)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

fn num(v: f64) -> String {
    let s = if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    };
    s.replace('.', ",")
}

/// Check the values entered for a regime's elements; on submission required elements must
/// be given. All problems are reported together, each naming its rule (vi + en), on the
/// element's key.
pub fn check_values(
    r: &Regime,
    input: &BTreeMap<String, EntryInput>,
    auto: &BTreeMap<String, f64>,
    submitting: bool,
) -> Result<BTreeMap<String, Entry>, AppError> {
    let mut errs = FieldErrors::new();
    for k in input.keys() {
        if r.element(k).is_none() {
            errs.push(
                k,
                Invalid::new(
                    "unknown_element",
                    format!(
                        "Quy tắc «chỉ tiêu»: chế độ báo cáo {} không có chỉ tiêu «{k}»",
                        r.code
                    ),
                    format!("Rule “element”: the regime {} has no element “{k}”", r.code),
                ),
            );
        }
    }
    let mut out = BTreeMap::new();
    let mut numbers: BTreeMap<&str, f64> = BTreeMap::new();
    for e in &r.elements {
        let given = input.get(&e.key);
        let reason = given.map(|g| text::clean(&g.reason)).unwrap_or_default();
        let raw = match given.map(|g| input_text(&g.value)) {
            None => String::new(),
            Some(Some(s)) => s,
            Some(None) => {
                errs.push(
                    &e.key,
                    Invalid::new(
                        "number",
                        format!("Quy tắc «kiểu dữ liệu»: «{}» phải là một số, một đoạn chữ hoặc có/không", e.name_vi),
                        format!("Rule “type”: “{}” must be a number, a text or yes/no", e.name_en),
                    ),
                );
                continue;
            }
        };
        let raw = raw.trim();
        let auto_v = auto.get(&e.key).copied();
        if raw.is_empty() {
            if e.required && submitting {
                errs.push(
                    &e.key,
                    Invalid::new(
                        "required",
                        format!("Quy tắc «bắt buộc»: cần nhập «{}»", e.name_vi),
                        format!("Rule “required”: “{}” must be given", e.name_en),
                    ),
                );
            }
            out.insert(
                e.key.clone(),
                Entry {
                    value: Value::Null,
                    auto: auto_v,
                    reason,
                },
            );
            continue;
        }
        let value = match e.kind {
            ElementType::Text => {
                let t = clean_text(raw);
                if t.chars().count() > e.max_length {
                    errs.push(
                        &e.key,
                        Invalid::new(
                            "length",
                            format!(
                                "Quy tắc «độ dài»: «{}» tối đa {} ký tự",
                                e.name_vi, e.max_length
                            ),
                            format!(
                                "Rule “length”: “{}” is at most {} characters",
                                e.name_en, e.max_length
                            ),
                        ),
                    );
                }
                Value::String(t)
            }
            ElementType::Boolean => match parse_bool(raw) {
                Some(b) => Value::Bool(b),
                None => {
                    errs.push(
                        &e.key,
                        Invalid::new(
                            "boolean",
                            format!(
                                "Quy tắc «có/không»: «{}» phải là «có» hoặc «không»",
                                e.name_vi
                            ),
                            format!("Rule “yes or no”: “{}” must be yes or no", e.name_en),
                        ),
                    );
                    continue;
                }
            },
            ElementType::Integer | ElementType::Number | ElementType::Percent => {
                let Some(x) = parse_number(raw) else {
                    errs.push(
                        &e.key,
                        Invalid::new(
                            "number",
                            format!(
                                "Quy tắc «số»: «{}» phải là một số, ví dụ 12,5 (đã nhập «{raw}»)",
                                e.name_vi
                            ),
                            format!(
                                "Rule “number”: “{}” must be a number, e.g. 12.5 (entered “{raw}”)",
                                e.name_en
                            ),
                        ),
                    );
                    continue;
                };
                // Only values that pass their own rules enter the cross-field checks.
                let mut own_ok = false;
                if e.kind == ElementType::Integer && x.fract() != 0.0 {
                    errs.push(
                        &e.key,
                        Invalid::new(
                            "integer",
                            format!(
                                "Quy tắc «số nguyên»: «{}» phải là số nguyên (đã nhập {})",
                                e.name_vi,
                                num(x)
                            ),
                            format!(
                                "Rule “whole number”: “{}” must be a whole number (entered {x})",
                                e.name_en
                            ),
                        ),
                    );
                } else if let Some(min) = e.min.filter(|m| x < *m) {
                    errs.push(
                        &e.key,
                        Invalid::new(
                            "min",
                            format!(
                                "Quy tắc «tối thiểu»: «{}» phải từ {} trở lên (đã nhập {})",
                                e.name_vi,
                                num(min),
                                num(x)
                            ),
                            format!(
                                "Rule “minimum”: “{}” must be at least {min} (entered {x})",
                                e.name_en
                            ),
                        ),
                    );
                } else if let Some(max) = e.max.filter(|m| x > *m) {
                    errs.push(
                        &e.key,
                        Invalid::new(
                            "max",
                            format!(
                                "Quy tắc «tối đa»: «{}» không được vượt quá {} (đã nhập {})",
                                e.name_vi,
                                num(max),
                                num(x)
                            ),
                            format!(
                                "Rule “maximum”: “{}” must be at most {max} (entered {x})",
                                e.name_en
                            ),
                        ),
                    );
                } else if let Some(a) = auto_v.filter(|a| (a - x).abs() > 1e-9) {
                    own_ok = true;
                    if reason.is_empty() {
                        errs.push(
                            &e.key,
                            Invalid::new(
                                "override_reason",
                                format!("Quy tắc «sửa giá trị tự động»: «{}» khác giá trị tự động {}; cần ghi lý do", e.name_vi, num(a)),
                                format!("Rule “override”: “{}” differs from the automatic value {a}; give a reason", e.name_en),
                            ),
                        );
                    }
                } else {
                    own_ok = true;
                }
                if reason.chars().count() > 1000 {
                    errs.push(
                        &e.key,
                        Invalid::new(
                            "length",
                            "Quy tắc «độ dài»: lý do tối đa 1000 ký tự",
                            "Rule “length”: the reason is at most 1000 characters",
                        ),
                    );
                }
                if own_ok {
                    numbers.insert(e.key.as_str(), x);
                }
                serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
            }
        };
        out.insert(
            e.key.clone(),
            Entry {
                value,
                auto: auto_v,
                reason,
            },
        );
    }
    for rule in &r.rules {
        let sum = |side: &[Term]| -> Option<f64> {
            side.iter()
                .map(|t| match t {
                    Term::Const(c) => Some(*c),
                    Term::Key(k) => numbers.get(k.as_str()).copied(),
                })
                .sum()
        };
        let (Some(a), Some(b)) = (sum(&rule.lhs), sum(&rule.rhs)) else {
            continue;
        };
        if rule.op.holds(a, b) {
            continue;
        }
        let names = |side: &[Term], vi: bool| -> String {
            side.iter()
                .map(|t| match t {
                    Term::Const(c) => num(*c),
                    Term::Key(k) => r
                        .element(k)
                        .map(|e| format!("«{}»", if vi { &e.name_vi } else { &e.name_en }))
                        .unwrap_or_default(),
                })
                .collect::<Vec<_>>()
                .join(" + ")
        };
        let field = rule
            .lhs
            .iter()
            .find_map(|t| match t {
                Term::Key(k) => Some(k.clone()),
                Term::Const(_) => None,
            })
            .unwrap_or_default();
        let why_vi = if rule.message_vi.is_empty() {
            String::new()
        } else {
            format!(" — {}", rule.message_vi)
        };
        let why_en = if rule.message_en.is_empty() {
            String::new()
        } else {
            format!(" — {}", rule.message_en)
        };
        errs.push(
            &field,
            Invalid::new(
                "consistency",
                format!(
                    "Quy tắc «nhất quán» ({}): {} {} {} ({} so với {}){why_vi}",
                    rule.check,
                    names(&rule.lhs, true),
                    rule.op.symbol(),
                    names(&rule.rhs, true),
                    num(a),
                    num(b)
                ),
                format!(
                    "Rule “consistent” ({}): {} {} {} ({a} against {b}){why_en}",
                    rule.check,
                    names(&rule.lhs, false),
                    rule.op.symbol(),
                    names(&rule.rhs, false),
                ),
            ),
        );
    }
    // A percentage recorded with its counts is their ratio: the province's figure sums the
    // counts, so the share and its counts must agree (as for values reported directly).
    for e in &r.elements {
        let (Some(nk), Some(dk)) = (&e.numerator, &e.denominator) else {
            continue;
        };
        let (Some(x), Some(n), Some(d)) = (
            numbers.get(e.key.as_str()),
            numbers.get(nk.as_str()),
            numbers.get(dk.as_str()),
        ) else {
            continue;
        };
        let share = crate::engine::ratio(*n, *d, 100.0);
        let ok = match share {
            Some(s) => *n <= *d && (s - x).abs() <= 0.1 + 1e-9,
            None => *n == 0.0,
        };
        if !ok {
            let (nv, dv) = (
                r.element(nk).map_or(nk.as_str(), |e| e.name_vi.as_str()),
                r.element(dk).map_or(dk.as_str(), |e| e.name_vi.as_str()),
            );
            let (ne, de) = (
                r.element(nk).map_or(nk.as_str(), |e| e.name_en.as_str()),
                r.element(dk).map_or(dk.as_str(), |e| e.name_en.as_str()),
            );
            let expected = share.map_or_else(|| "—".to_string(), num);
            errs.push(
                &e.key,
                Invalid::new(
                    "consistent",
                    format!(
                        "Quy tắc «nhất quán»: «{}» phải bằng «{nv}» / «{dv}» × 100 = {expected} (đã nhập {})",
                        e.name_vi,
                        num(*x)
                    ),
                    format!(
                        "Rule “consistent”: “{}” must equal “{ne}” / “{de}” × 100 = {expected} (entered {x})",
                        e.name_en
                    ),
                ),
            );
        }
    }
    errs.into_result()?;
    Ok(out)
}

/// What the agency does with a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgencyAction {
    /// Save a draft (lưu nháp).
    Save,
    /// Submit to the recipient (gửi báo cáo).
    Submit,
}

/// What the recipient does with a submitted report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewAction {
    /// Approve (duyệt): elements mapped to an indicator are recorded.
    Approve,
    /// Return for correction (trả lại), with a comment.
    Return,
}

fn not_in(status: &str, vi: &str, en: &str) -> AppError {
    AppError::conflict(
        format!("Báo cáo đang ở trạng thái «{}»: {vi}", status_vi(status)),
        format!("The report is “{status}”: {en}"),
    )
}

/// Vietnamese name of a status.
pub fn status_vi(s: &str) -> &'static str {
    match s {
        "open" => "chưa lập",
        "draft" => "đang soạn",
        "submitted" => "đã gửi, chờ duyệt",
        "returned" => "bị trả lại",
        "approved" => "đã duyệt",
        _ => "không rõ",
    }
}

/// Write a new version and move the task to `status`, in the caller's transaction, checking
/// the version it read is still the latest.
#[allow(clippy::too_many_arguments)]
async fn write_version(
    tx: &mut tinhso_store::WriteTx,
    ctx: &Ctx,
    task: &Task,
    action: &str,
    status: &str,
    values: &BTreeMap<String, Entry>,
    comment: &str,
    late: bool,
) -> Result<Version, AppError> {
    let version = task.version + 1;
    let now = now_micros();
    let json = serde_json::to_string(values).map_err(AppError::internal)?;
    let moved = sqlx::query(
        "UPDATE report_tasks SET status = $1, version = $2, late = $3 \
         WHERE id = $4 AND version = $5",
    )
    .bind(status)
    .bind(version)
    .bind(i64::from(late || task.late))
    .bind(&task.id)
    .bind(task.version)
    .execute(tx.conn())
    .await
    .map_err(db_err)?;
    if moved.rows_affected() != 1 {
        return Err(AppError::conflict(
            "Báo cáo vừa được người khác cập nhật; hãy tải lại trang",
            "Someone else just updated the report; reload the page",
        ));
    }
    sqlx::query(
        "INSERT INTO report_versions (task_id, version, action, status, report_values, comment, \
         late, actor, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&task.id)
    .bind(version)
    .bind(action)
    .bind(status)
    .bind(&json)
    .bind(comment)
    .bind(i64::from(late))
    .bind(&ctx.actor)
    .bind(now)
    .execute(tx.conn())
    .await
    .map_err(db_err)?;
    let payload = serde_json::json!({"task": task.id, "regime": task.regime_code,
        "period": task.period, "agency": task.agency_code, "recipient": task.recipient_code,
        "version": version, "status": status, "late": late});
    tx.audit(&ctx.entry(
        &format!("report.{action}"),
        "report",
        &task.id,
        &task.agency_code,
        payload.clone(),
    ))
    .await?;
    let topic = match action {
        "save" => "report.saved",
        "submit" => "report.submitted",
        "return" => "report.returned",
        _ => "report.approved",
    };
    tx.emit(topic, &payload).await?;
    Ok(Version {
        version,
        action: action.into(),
        status: status.into(),
        values: values.clone(),
        comment: comment.into(),
        late,
        actor: ctx.actor.clone(),
        at: now,
    })
}

/// The reporting agency saves or submits its report: checked in full (nothing written on a
/// refusal), then a new version. A submission after the deadline is accepted and marked late.
pub async fn agency_act(
    db: &Db,
    ctx: &Ctx,
    task: &Task,
    action: AgencyAction,
    input: &BTreeMap<String, EntryInput>,
    today: NaiveDate,
) -> Result<Version, AppError> {
    if !task.editable() {
        return Err(not_in(
            &task.status,
            "không thể sửa hoặc gửi lại",
            "it cannot be edited or submitted again",
        ));
    }
    let r = regimes::for_task(db, task)
        .await?
        .ok_or_else(|| AppError::internal(format!("regime {} missing", task.regime_code)))?;
    let auto = prefill(db, &r, task).await?;
    let submitting = action == AgencyAction::Submit;
    let values = check_values(&r, input, &auto, submitting)?;
    let late = submitting && task.overdue(today);
    let (name, status) = match action {
        AgencyAction::Save => ("save", "draft"),
        AgencyAction::Submit => ("submit", "submitted"),
    };
    let mut tx = db.begin_write().await?;
    let v = write_version(&mut tx, ctx, task, name, status, &values, "", late).await?;
    tx.commit().await?;
    Ok(v)
}

/// The recipient approves or returns a submitted report. A return needs a comment. On
/// approval, every element mapped to a reported indicator is recorded as the agency's value
/// for the period, in the same transaction.
pub async fn review(
    db: &Db,
    ctx: &Ctx,
    task: &Task,
    action: ReviewAction,
    comment: &str,
) -> Result<Version, AppError> {
    if task.status != "submitted" {
        return Err(not_in(
            &task.status,
            "chỉ duyệt hoặc trả lại báo cáo đã gửi",
            "only a submitted report can be approved or returned",
        ));
    }
    let comment = clean_text(comment);
    if action == ReviewAction::Return && comment.is_empty() {
        return Err(AppError::field(
            "comment",
            Invalid::new(
                "required",
                "Quy tắc «bắt buộc»: khi trả lại cần ghi ý kiến để cơ quan sửa",
                "Rule “required”: a return needs a comment telling the agency what to correct",
            ),
        ));
    }
    if comment.chars().count() > 4000 {
        return Err(AppError::field(
            "comment",
            Invalid::new(
                "length",
                "Quy tắc «độ dài»: ý kiến tối đa 4000 ký tự",
                "Rule “length”: the comment is at most 4000 characters",
            ),
        ));
    }
    let last = versions(db, &task.id)
        .await?
        .pop()
        .ok_or_else(|| AppError::internal("submitted report without a version"))?;
    let mut recorded = Vec::new();
    if action == ReviewAction::Approve {
        let r = regimes::for_task(db, task)
            .await?
            .ok_or_else(|| AppError::internal(format!("regime {} missing", task.regime_code)))?;
        for e in &r.elements {
            let (Some(ind), Some(x)) = (
                &e.indicator,
                last.values.get(&e.key).and_then(|v| v.value.as_f64()),
            ) else {
                continue;
            };
            // A share's counts travel with it, so that the province can add them up.
            let count = |k: &Option<String>| {
                k.as_deref()
                    .and_then(|k| last.values.get(k))
                    .and_then(|v| v.value.as_f64())
                    .map(|c| c.to_string())
            };
            let (numerator, denominator) = match (count(&e.numerator), count(&e.denominator)) {
                (Some(n), Some(d)) if parse_number(&d).is_some_and(|d| d > 0.0) => {
                    (Some(n), Some(d))
                }
                _ => (None, None),
            };
            let input = NewValue {
                indicator: ind.clone(),
                period: task.period.clone(),
                org: format!("agency:{}", task.agency_code),
                value: x.to_string(),
                numerator,
                denominator,
                note: format!(
                    "Báo cáo {} kỳ {}, phiên bản {} (đã duyệt)",
                    task.regime_code, task.period, last.version
                ),
            };
            recorded.push(reported::check(db, &input).await?);
        }
    }
    let (name, status) = match action {
        ReviewAction::Approve => ("approve", "approved"),
        ReviewAction::Return => ("return", "returned"),
    };
    let mut tx = db.begin_write().await?;
    let v = write_version(
        &mut tx,
        ctx,
        task,
        name,
        status,
        &last.values,
        &comment,
        false,
    )
    .await?;
    for c in &recorded {
        let rv = reported::record_in(&mut tx, ctx, c).await?;
        sqlx::query(
            "INSERT INTO report_recorded_values (task_id, report_version, indicator_key, period, \
             org_kind, org_code, value_version) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&task.id)
        .bind(v.version)
        .bind(&rv.indicator)
        .bind(&rv.period)
        .bind(c.org.kind())
        .bind(c.org.code())
        .bind(rv.version)
        .execute(tx.conn())
        .await
        .map_err(db_err)?;
    }
    tx.commit().await?;
    Ok(v)
}

/// Attach evidence (PDF, JPEG, PNG — the type read from the bytes, at most
/// [`MAX_EVIDENCE`]) while the report is editable. The same file attached twice is kept once.
pub async fn attach(
    db: &Db,
    files: &FileStore,
    ctx: &Ctx,
    task: &Task,
    file_name: &str,
    bytes: &[u8],
) -> Result<Evidence, AppError> {
    if !task.editable() {
        return Err(not_in(
            &task.status,
            "không thể đính kèm thêm minh chứng",
            "no more evidence can be attached",
        ));
    }
    if bytes.len() > MAX_EVIDENCE {
        return Err(
            AppError::new(tinhso_kernel::ErrorCode::PayloadTooLarge).with_detail(
                format!("Tệp minh chứng tối đa {} MB", MAX_EVIDENCE / 1024 / 1024),
                format!(
                    "Evidence files are at most {} MB",
                    MAX_EVIDENCE / 1024 / 1024
                ),
            ),
        );
    }
    let name: String = text::clean(file_name).chars().take(200).collect();
    let name = if name.is_empty() {
        "minh-chung".to_string()
    } else {
        name
    };
    let f = files
        .put(
            db,
            "file",
            bytes,
            &[MediaType::Pdf, MediaType::Jpeg, MediaType::Png],
        )
        .await?;
    if let Some(e) = evidence(db, &task.id)
        .await?
        .into_iter()
        .find(|e| e.sha256 == f.sha256)
    {
        return Ok(e);
    }
    let mut tx = db.begin_write().await?;
    let seq: Option<i64> =
        sqlx::query_scalar("SELECT MAX(seq) FROM report_evidence WHERE task_id = $1")
            .bind(&task.id)
            .fetch_one(tx.conn())
            .await
            .map_err(db_err)?;
    let seq = seq.unwrap_or(0) + 1;
    let now = now_micros();
    sqlx::query(
        "INSERT INTO report_evidence (task_id, seq, sha256, file_name, media_type, size, \
         uploaded_by, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&task.id)
    .bind(seq)
    .bind(&f.sha256)
    .bind(&name)
    .bind(&f.media_type)
    .bind(f.size)
    .bind(&ctx.actor)
    .bind(now)
    .execute(tx.conn())
    .await
    .map_err(db_err)?;
    let payload = serde_json::json!({"task": task.id, "seq": seq, "sha256": f.sha256,
        "file_name": name, "media_type": f.media_type, "size": f.size});
    tx.audit(&ctx.entry(
        "report.attach",
        "report",
        &task.id,
        &task.agency_code,
        payload.clone(),
    ))
    .await?;
    tx.emit("report.evidence_attached", &payload).await?;
    tx.commit().await?;
    Ok(Evidence {
        seq,
        sha256: f.sha256,
        file_name: name,
        media_type: f.media_type,
        size: f.size,
        uploaded_by: ctx.actor.clone(),
        uploaded_at: now,
    })
}

/// The evidence of a task, in the order attached.
pub async fn evidence(db: &Db, task: &str) -> Result<Vec<Evidence>, AppError> {
    let rows = sqlx::query(
        "SELECT seq, sha256, file_name, media_type, size, uploaded_by, uploaded_at \
         FROM report_evidence WHERE task_id = $1 ORDER BY seq",
    )
    .bind(task)
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            Ok(Evidence {
                seq: r.try_get(0).map_err(db_err)?,
                sha256: r.try_get(1).map_err(db_err)?,
                file_name: r.try_get(2).map_err(db_err)?,
                media_type: r.try_get(3).map_err(db_err)?,
                size: r.try_get(4).map_err(db_err)?,
                uploaded_by: r.try_get(5).map_err(db_err)?,
                uploaded_at: r.try_get(6).map_err(db_err)?,
            })
        })
        .collect()
}

/// What changed from one version's values to the next: (element key, before, after).
pub fn changes(
    before: Option<&BTreeMap<String, Entry>>,
    after: &BTreeMap<String, Entry>,
) -> Vec<(String, Value, Value)> {
    let mut out = Vec::new();
    for (k, e) in after {
        let old = before
            .and_then(|b| b.get(k))
            .map_or(Value::Null, |o| o.value.clone());
        if old != e.value {
            out.push((k.clone(), old, e.value.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_as_people_write_them() {
        for (s, b) in [
            ("có", Some(true)),
            ("Không", Some(false)),
            ("yes", Some(true)),
            ("0", Some(false)),
            ("maybe", None),
        ] {
            assert_eq!(parse_bool(s), b, "{s}");
        }
    }

    #[test]
    fn task_ids_are_deterministic() {
        assert_eq!(task_id("A", "2026", "x"), task_id("A", "2026", "x"));
        assert_ne!(task_id("A", "2026", "x"), task_id("A", "2026-Q1", "x"));
        assert_eq!(task_id("A", "2026", "x").len(), 19);
    }
}
