//! Plans and their targets as data: a plan file (TOML: one `[plan]` table, one `[[target]]`
//! per target) is parsed and checked in full, then imported into `plans` and `plan_targets`.
//! Importing is idempotent (an unchanged file — same SHA-256 — writes nothing) and a changed
//! file replaces the plan's targets in one audited transaction. Every error names the file, the
//! line and the field.
//!
//! Each target is wired to the indicator that measures it: the target's own `indicator` key
//! when the file gives one, else [`LIVE_WIRING`] (what the platform observes itself), else a
//! reported indicator `reported.<id without its -YYYY horizon suffix>` — so the 2025 and 2030
//! targets of one measure share their reported values.

use crate::engine::{self, Direction, Kind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use tinhso_kernel::{text, AppError, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::{now_micros, Db, DbError};
use toml::Spanned;

/// The plan shipped with the platform: Kế hoạch 226/KH-UBND (Lạng Sơn, 2021).
pub const PLAN_226_FILE: &str = "targets.toml";
pub const PLAN_226: &str = include_str!("../data/targets.toml");

/// Targets the platform measures itself: (target id, live indicator key).
pub const LIVE_WIRING: &[(&str, &str)] = &[
    // Level-4 (now "toàn trình", Decree 42/2022) online services offered: the catalogue.
    (
        "gov.online-services-level4",
        "services.fully_online_procedures",
    ),
    // Dossiers and results kept as electronic data: results issued electronically.
    ("gov.records-electronic", "services.electronic_result"),
    // The border gate: crossings declared on the platform, inspections recorded on it, and the
    // gates' agencies deciding checks on it.
    (
        "border.services-on-one-platform",
        "border.declared_crossings",
    ),
    ("border.agencies-on-one-platform", "border.agencies_active"),
    (
        "border.supervision-on-platform",
        "border.checks_on_platform",
    ),
    // The platform's own use (crate::live_platform): staff carrying a verified digital
    // identity, agencies working on the platform, agencies exchanging data through the hub,
    // reporting regimes used digitally.
    (
        "gov.staff-digital-identity",
        "identity.staff_digital_identity",
    ),
    (
        "gov.unified-management-platform",
        "platform.agencies_active",
    ),
    (
        "gov.shared-databases-connected",
        "exchange.agencies_connected",
    ),
    ("gov.reports-connected", "reports.regimes_digital"),
];

pub const PILLARS: &[&str] = &["government", "economy", "society", "border"];

/// A checked plan, ready to import.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub code: String,
    pub title_vi: String,
    pub title_en: String,
    pub year: i32,
    /// The year the linear projection of every target starts from.
    pub base_year: i32,
    pub source: String,
    pub sha256: String,
    pub targets: Vec<Target>,
}

/// One target of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    pub id: String,
    pub plan_code: String,
    pub position: i64,
    pub pillar: String,
    pub horizon_year: i32,
    pub kind: Kind,
    pub name_vi: String,
    pub name_en: String,
    pub target_value: f64,
    pub unit: String,
    pub direction: Direction,
    /// The value at the plan's base year, when the plan gives it.
    pub base_value: Option<f64>,
    pub measured_by: String,
    pub indicator_key: String,
}

/// One problem in a plan file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub message_vi: String,
    pub message_en: String,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: field `{}`: {} ({})",
            self.file, self.line, self.field, self.message_en, self.message_vi
        )
    }
}

/// Every problem found in a plan file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanErrors(pub Vec<PlanError>);

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for PlanErrors {}

/// A 422 whose field errors are named `file:line:field`.
impl From<PlanErrors> for AppError {
    fn from(e: PlanErrors) -> Self {
        let file = e.0.first().map(|p| p.file.clone()).unwrap_or_default();
        AppError::fields(
            e.0.into_iter()
                .map(|p| {
                    Invalid::new("plan_file", p.message_vi, p.message_en)
                        .on(format!("{}:{}:{}", p.file, p.line, p.field))
                })
                .collect(),
        )
        .with_detail(
            format!("Tệp kế hoạch {file} có lỗi"),
            format!("The plan file {file} has errors"),
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    plan: Option<Spanned<RawPlan>>,
    #[serde(default)]
    target: Vec<Spanned<RawTarget>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    code: Spanned<String>,
    title_vi: Spanned<String>,
    title_en: Spanned<String>,
    year: Spanned<i64>,
    base_year: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    id: Spanned<String>,
    pillar: Spanned<String>,
    year: Spanned<i64>,
    kind: Spanned<String>,
    target: Spanned<f64>,
    vi: Spanned<String>,
    en: Spanned<String>,
    measured_by: Spanned<String>,
    direction: Option<Spanned<String>>,
    base: Option<Spanned<f64>>,
    indicator: Option<Spanned<String>>,
}

/// 1-based line of a byte offset.
pub(crate) fn line_of(src: &str, offset: usize) -> usize {
    src.get(..offset.min(src.len()))
        .map(|s| s.matches('\n').count() + 1)
        .unwrap_or(1)
}

/// The key written on the line of `offset` (`key = …`), if any.
fn key_on_line(src: &str, offset: usize) -> Option<String> {
    let start = src.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = src.get(start..)?.lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && !key.starts_with('[')).then(|| key.to_string())
}

/// A syntax or type error of the TOML reader, with its line and field.
pub(crate) fn toml_error(file: &str, src: &str, e: &toml::de::Error) -> PlanError {
    let offset = e.span().map_or(0, |s| s.start);
    let msg = e.message().to_string();
    let field = msg
        .split('`')
        .nth(1)
        .filter(|_| msg.starts_with("missing field") || msg.starts_with("unknown field"))
        .map(str::to_string)
        .or_else(|| key_on_line(src, offset))
        .unwrap_or_else(|| "-".into());
    let vi = if msg.starts_with("missing field") {
        format!("thiếu trường bắt buộc `{field}`")
    } else if msg.starts_with("unknown field") {
        format!("trường `{field}` không được phép")
    } else if msg.starts_with("invalid type") {
        format!("kiểu dữ liệu của `{field}` không đúng: {msg}")
    } else {
        format!("lỗi cú pháp TOML: {msg}")
    };
    PlanError {
        file: file.into(),
        line: line_of(src, offset),
        field,
        message_vi: vi,
        message_en: msg,
    }
}

pub(crate) struct Checker<'a> {
    pub(crate) file: &'a str,
    pub(crate) src: &'a str,
    pub(crate) errors: Vec<PlanError>,
}

impl Checker<'_> {
    pub(crate) fn push<T>(&mut self, at: &Spanned<T>, field: &str, vi: String, en: String) {
        self.errors.push(PlanError {
            file: self.file.into(),
            line: line_of(self.src, at.span().start),
            field: field.into(),
            message_vi: vi,
            message_en: en,
        });
    }

    pub(crate) fn text(&mut self, v: &Spanned<String>, field: &str, max: usize) -> String {
        let s = text::clean(v.get_ref());
        if s.is_empty() {
            self.push(
                v,
                field,
                "không được để trống".into(),
                "must not be empty".into(),
            );
        } else if s.chars().count() > max {
            self.push(
                v,
                field,
                format!("dài quá {max} ký tự"),
                format!("longer than {max} characters"),
            );
        }
        s
    }

    fn year(&mut self, v: &Spanned<i64>, field: &str, min: i64) -> i32 {
        let y = *v.get_ref();
        if !(min..=2100).contains(&y) {
            self.push(
                v,
                field,
                format!("năm phải trong khoảng {min}–2100"),
                format!("the year must be between {min} and 2100"),
            );
        }
        i32::try_from(y).unwrap_or_default()
    }
}

/// Parse and check a plan file. `file` names it in errors.
pub fn parse(file: &str, src: &str) -> Result<Plan, PlanErrors> {
    let raw: RawFile =
        toml::from_str(src).map_err(|e| PlanErrors(vec![toml_error(file, src, &e)]))?;
    let mut c = Checker {
        file,
        src,
        errors: Vec::new(),
    };
    let Some(rp) = raw.plan else {
        return Err(PlanErrors(vec![PlanError {
            file: file.into(),
            line: 1,
            field: "plan".into(),
            message_vi: "thiếu bảng [plan] (mã, tên và năm của kế hoạch)".into(),
            message_en: "the [plan] table (the plan's code, title and year) is missing".into(),
        }]));
    };
    let rp = rp.into_inner();
    let code = c.text(&rp.code, "plan.code", 60);
    let title_vi = c.text(&rp.title_vi, "plan.title_vi", 500);
    let title_en = c.text(&rp.title_en, "plan.title_en", 500);
    let year = c.year(&rp.year, "plan.year", 2000);
    let base_year = match &rp.base_year {
        Some(b) => c.year(b, "plan.base_year", 2000),
        None => year,
    };
    if raw.target.is_empty() {
        c.errors.push(PlanError {
            file: file.into(),
            line: line_of(src, src.len()),
            field: "target".into(),
            message_vi: "kế hoạch không có chỉ tiêu nào ([[target]])".into(),
            message_en: "the plan has no target ([[target]])".into(),
        });
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut kinds: BTreeMap<String, (Kind, String)> = BTreeMap::new();
    let mut targets = Vec::new();
    for (i, rt) in raw.target.iter().enumerate() {
        let rt = rt.get_ref();
        let id = c.text(&rt.id, "id", 80);
        if !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        {
            c.push(
                &rt.id,
                "id",
                "chỉ gồm chữ thường không dấu, chữ số, dấu chấm và gạch ngang".into(),
                "only lower-case ASCII letters, digits, dots and hyphens".into(),
            );
        }
        if let Some(first) = seen.insert(id.clone(), line_of(src, rt.id.span().start)) {
            c.push(
                &rt.id,
                "id",
                format!("mã chỉ tiêu `{id}` trùng với dòng {first}"),
                format!("the target id `{id}` repeats the one on line {first}"),
            );
        }
        let pillar = rt.pillar.get_ref().trim().to_string();
        if !PILLARS.contains(&pillar.as_str()) {
            c.push(
                &rt.pillar,
                "pillar",
                format!(
                    "trụ cột `{pillar}` không có; dùng một trong: {}",
                    PILLARS.join(", ")
                ),
                format!(
                    "unknown pillar `{pillar}`; use one of: {}",
                    PILLARS.join(", ")
                ),
            );
        }
        let horizon = c.year(&rt.year, "year", i64::from(year));
        let kind = match Kind::parse(rt.kind.get_ref().trim()) {
            Some(k) => k,
            None => {
                c.push(
                    &rt.kind,
                    "kind",
                    format!(
                        "loại `{}` không có; dùng percent, rate, rank hoặc boolean",
                        rt.kind.get_ref()
                    ),
                    format!(
                        "unknown kind `{}`; use percent, rate, rank or boolean",
                        rt.kind.get_ref()
                    ),
                );
                Kind::Percent
            }
        };
        let target_value = *rt.target.get_ref();
        if let Err(inv) = kind.check(target_value) {
            c.push(&rt.target, "target", inv.0, inv.1);
        }
        let base_value = rt.base.as_ref().map(|b| *b.get_ref());
        if let (Some(b), Some(v)) = (&rt.base, base_value) {
            if let Err(inv) = kind.check(v) {
                c.push(b, "base", inv.0, inv.1);
            }
        }
        let direction = match &rt.direction {
            None => kind.default_direction(),
            Some(d) => match Direction::parse(d.get_ref().trim()) {
                Some(d) => d,
                None => {
                    c.push(
                        d,
                        "direction",
                        "hướng phải là at_least (tối thiểu) hoặc at_most (tối đa)".into(),
                        "the direction must be at_least or at_most".into(),
                    );
                    kind.default_direction()
                }
            },
        };
        let indicator_key = match &rt.indicator {
            Some(k) => {
                let key = k.get_ref().trim().to_string();
                if key == "reported" {
                    reported_key(&id)
                } else if engine::live_indicator(&key).is_none() && !key.starts_with("reported.") {
                    c.push(
                        k,
                        "indicator",
                        format!("chỉ số `{key}` không có; dùng một chỉ số trực tuyến của nền tảng hoặc `reported`"),
                        format!("unknown indicator `{key}`; use a live indicator of the platform or `reported`"),
                    );
                    key
                } else {
                    key
                }
            }
            None => LIVE_WIRING
                .iter()
                .find(|(t, _)| *t == id)
                .map(|(_, k)| (*k).to_string())
                .unwrap_or_else(|| reported_key(&id)),
        };
        if indicator_key.starts_with("reported.") {
            match kinds.get(&indicator_key) {
                Some((k, other)) if *k != kind => c.push(
                    &rt.kind,
                    "kind",
                    format!("chỉ tiêu `{other}` đo cùng chỉ số `{indicator_key}` nhưng có loại khác"),
                    format!("target `{other}` is measured by the same indicator `{indicator_key}` with another kind"),
                ),
                Some(_) => {}
                None => {
                    kinds.insert(indicator_key.clone(), (kind, id.clone()));
                }
            }
        }
        targets.push(Target {
            id,
            plan_code: code.clone(),
            position: i64::try_from(i).unwrap_or_default() + 1,
            pillar,
            horizon_year: horizon,
            kind,
            name_vi: c.text(&rt.vi, "vi", 1000),
            name_en: c.text(&rt.en, "en", 1000),
            target_value,
            unit: kind.unit().to_string(),
            direction,
            base_value,
            measured_by: c.text(&rt.measured_by, "measured_by", 1000),
            indicator_key,
        });
    }
    if !c.errors.is_empty() {
        return Err(PlanErrors(c.errors));
    }
    Ok(Plan {
        code,
        title_vi,
        title_en,
        year,
        base_year,
        source: file.into(),
        sha256: hex::encode(Sha256::digest(src.as_bytes())),
        targets,
    })
}

/// `reported.<id>` without a trailing `-YYYY` horizon.
pub fn reported_key(id: &str) -> String {
    let stem = match id.rsplit_once('-') {
        Some((stem, y)) if y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()) => stem,
        _ => id,
    };
    format!("reported.{stem}")
}

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Imported {
    /// The same file was imported before: nothing written.
    Unchanged,
    /// The plan was new or changed: its targets were written (how many).
    Written(usize),
}

/// Import a checked plan: idempotent (same content → nothing written), otherwise the plan row
/// and all its targets are replaced in one transaction with one audit entry.
pub async fn import(db: &Db, ctx: &Ctx, plan: &Plan) -> Result<Imported, AppError> {
    let stored: Option<String> =
        sqlx::query_scalar("SELECT content_sha256 FROM plans WHERE code = $1")
            .bind(&plan.code)
            .fetch_optional(db.pool())
            .await
            .map_err(db_err)?;
    if stored.as_deref() == Some(plan.sha256.as_str()) {
        return Ok(Imported::Unchanged);
    }
    let mut tx = db.begin_write().await?;
    // On PostgreSQL, take the plan's row lock first (a no-op update) so that two servers
    // starting together import one after the other; SQLite's single writer already does.
    sqlx::query("UPDATE plans SET imported_at = imported_at WHERE code = $1")
        .bind(&plan.code)
        .execute(tx.conn())
        .await
        .map_err(db_err)?;
    // Checked again under the lock: a concurrent importer may have finished first.
    let again: Option<String> =
        sqlx::query_scalar("SELECT content_sha256 FROM plans WHERE code = $1")
            .bind(&plan.code)
            .fetch_optional(tx.conn())
            .await
            .map_err(db_err)?;
    if again.as_deref() == Some(plan.sha256.as_str()) {
        return Ok(Imported::Unchanged);
    }
    // A target id belongs to one plan.
    for t in &plan.targets {
        let other: Option<String> = sqlx::query_scalar(
            "SELECT plan_code FROM plan_targets WHERE target_id = $1 AND plan_code <> $2",
        )
        .bind(&t.id)
        .bind(&plan.code)
        .fetch_optional(tx.conn())
        .await
        .map_err(db_err)?;
        if let Some(other) = other {
            return Err(AppError::conflict(
                format!(
                    "{}: mã chỉ tiêu `{}` đã thuộc kế hoạch {other}",
                    plan.source, t.id
                ),
                format!(
                    "{}: the target id `{}` already belongs to plan {other}",
                    plan.source, t.id
                ),
            ));
        }
    }
    let now = now_micros();
    sqlx::query(
        "INSERT INTO plans (code, title_vi, title_en, plan_year, base_year, source, content_sha256, imported_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (code) DO UPDATE SET \
         title_vi = excluded.title_vi, title_en = excluded.title_en, plan_year = excluded.plan_year, \
         base_year = excluded.base_year, source = excluded.source, \
         content_sha256 = excluded.content_sha256, imported_at = excluded.imported_at",
    )
    .bind(&plan.code)
    .bind(&plan.title_vi)
    .bind(&plan.title_en)
    .bind(i64::from(plan.year))
    .bind(i64::from(plan.base_year))
    .bind(&plan.source)
    .bind(&plan.sha256)
    .bind(now)
    .execute(tx.conn())
    .await
    .map_err(db_err)?;
    let before: Vec<String> =
        sqlx::query_scalar("SELECT target_id FROM plan_targets WHERE plan_code = $1")
            .bind(&plan.code)
            .fetch_all(tx.conn())
            .await
            .map_err(db_err)?;
    sqlx::query("DELETE FROM plan_targets WHERE plan_code = $1")
        .bind(&plan.code)
        .execute(tx.conn())
        .await
        .map_err(db_err)?;
    for t in &plan.targets {
        // A missing base value is written as the literal NULL: sqlx's Any driver binds a null
        // double as float4 on PostgreSQL, which then refuses the next statement's doubles.
        let base = if t.base_value.is_some() {
            "$14"
        } else {
            "NULL"
        };
        let sql = format!(
            "INSERT INTO plan_targets (plan_code, target_id, position, pillar, horizon_year, kind, \
             name_vi, name_en, target_value, unit, direction, measured_by, indicator_key, base_value) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, {base})"
        );
        let mut q = sqlx::query(&sql)
            .bind(&plan.code)
            .bind(&t.id)
            .bind(t.position)
            .bind(&t.pillar)
            .bind(i64::from(t.horizon_year))
            .bind(t.kind.as_str())
            .bind(&t.name_vi)
            .bind(&t.name_en)
            .bind(t.target_value)
            .bind(&t.unit)
            .bind(t.direction.as_str())
            .bind(&t.measured_by)
            .bind(&t.indicator_key);
        if let Some(b) = t.base_value {
            q = q.bind(b);
        }
        q.execute(tx.conn()).await.map_err(db_err)?;
    }
    let now_ids: BTreeSet<&str> = plan.targets.iter().map(|t| t.id.as_str()).collect();
    let removed: Vec<&String> = before
        .iter()
        .filter(|id| !now_ids.contains(id.as_str()))
        .collect();
    tx.audit(&ctx.entry(
        "plan.import",
        "plan",
        &plan.code,
        "",
        serde_json::json!({"source": plan.source, "sha256": plan.sha256,
            "targets": plan.targets.len(), "previous_sha256": again, "removed": removed}),
    ))
    .await?;
    tx.commit().await?;
    Ok(Imported::Written(plan.targets.len()))
}

/// Parse and import a plan file's text.
pub async fn import_text(db: &Db, ctx: &Ctx, file: &str, src: &str) -> Result<Imported, AppError> {
    let plan = parse(file, src)?;
    import(db, ctx, &plan).await
}

/// Import the shipped plan (Kế hoạch 226/KH-UBND); idempotent, run by `tinhso::prepare`.
pub async fn seed(db: &Db, ctx: &Ctx) -> Result<Imported, AppError> {
    import_text(db, ctx, PLAN_226_FILE, PLAN_226).await
}

/// A stored plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredPlan {
    pub code: String,
    pub title_vi: String,
    pub title_en: String,
    pub year: i32,
    pub base_year: i32,
}

pub async fn plans(db: &Db) -> Result<Vec<StoredPlan>, AppError> {
    let rows = sqlx::query(
        "SELECT code, title_vi, title_en, plan_year, base_year FROM plans ORDER BY plan_year, code",
    )
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            Ok(StoredPlan {
                code: r.try_get(0).map_err(db_err)?,
                title_vi: r.try_get(1).map_err(db_err)?,
                title_en: r.try_get(2).map_err(db_err)?,
                year: i32::try_from(r.try_get::<i64, _>(3).map_err(db_err)?).unwrap_or_default(),
                base_year: i32::try_from(r.try_get::<i64, _>(4).map_err(db_err)?)
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Every stored target, by plan and position.
pub async fn targets(db: &Db) -> Result<Vec<Target>, AppError> {
    let rows = sqlx::query(
        "SELECT t.plan_code, t.target_id, t.position, t.pillar, t.horizon_year, t.kind, t.name_vi, \
         t.name_en, t.target_value, t.unit, t.direction, t.base_value, t.measured_by, t.indicator_key \
         FROM plan_targets t JOIN plans p ON p.code = t.plan_code \
         ORDER BY p.plan_year, t.plan_code, t.position",
    )
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            let kind: String = r.try_get(5).map_err(db_err)?;
            let direction: String = r.try_get(10).map_err(db_err)?;
            Ok(Target {
                plan_code: r.try_get(0).map_err(db_err)?,
                id: r.try_get(1).map_err(db_err)?,
                position: r.try_get(2).map_err(db_err)?,
                pillar: r.try_get(3).map_err(db_err)?,
                horizon_year: i32::try_from(r.try_get::<i64, _>(4).map_err(db_err)?)
                    .unwrap_or_default(),
                kind: Kind::parse(&kind)
                    .ok_or_else(|| AppError::internal(format!("stored kind {kind}")))?,
                name_vi: r.try_get(6).map_err(db_err)?,
                name_en: r.try_get(7).map_err(db_err)?,
                target_value: r.try_get(8).map_err(db_err)?,
                unit: r.try_get(9).map_err(db_err)?,
                direction: Direction::parse(&direction)
                    .ok_or_else(|| AppError::internal(format!("stored direction {direction}")))?,
                base_value: r.try_get(11).map_err(db_err)?,
                measured_by: r.try_get(12).map_err(db_err)?,
                indicator_key: r.try_get(13).map_err(db_err)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_plan_parses_with_every_target_wired() {
        let p = parse(PLAN_226_FILE, PLAN_226).unwrap();
        assert_eq!(p.code, "226/KH-UBND");
        assert_eq!((p.year, p.base_year), (2021, 2021));
        assert_eq!(p.targets.len(), 43);
        for t in &p.targets {
            assert!(
                t.indicator_key.starts_with("reported.")
                    || engine::live_indicator(&t.indicator_key).is_some(),
                "{}",
                t.id
            );
        }
        let t = |id: &str| p.targets.iter().find(|t| t.id == id).unwrap();
        assert_eq!(
            t("gov.online-services-level4").indicator_key,
            "services.fully_online_procedures"
        );
        assert_eq!(
            t("soc.e-payment-accounts-2025").indicator_key,
            t("soc.e-payment-accounts-2030").indicator_key
        );
        assert_eq!(t("overall.dti-top10").direction, Direction::AtMost);
        assert_eq!(t("eco.labour-productivity-2025").unit, "%/năm");
    }

    #[test]
    fn reported_keys_drop_the_horizon() {
        assert_eq!(
            reported_key("eco.labour-productivity-2030"),
            "reported.eco.labour-productivity"
        );
        assert_eq!(
            reported_key("gov.services-24x7"),
            "reported.gov.services-24x7"
        );
    }

    const HEAD: &str = "[plan]\ncode = \"01/KH-TEST\"\ntitle_vi = \"Kế hoạch thử\"\ntitle_en = \"Test plan\"\nyear = 2026\n";

    fn errs(src: &str) -> Vec<(usize, String)> {
        parse("thu.toml", src)
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| {
                assert_eq!(e.file, "thu.toml");
                assert!(!e.message_vi.is_empty() && !e.message_en.is_empty());
                (e.line, e.field)
            })
            .collect()
    }

    fn target(extra: &str) -> String {
        format!(
            "{HEAD}\n[[target]]\nid = \"a.b\"\npillar = \"government\"\nyear = 2030\nkind = \"percent\"\ntarget = 90\nvi = \"Chỉ tiêu\"\nen = \"Target\"\nmeasured_by = \"reported\"\n{extra}"
        )
    }

    #[test]
    fn errors_name_file_line_and_field() {
        // Semantic errors: each one, with its line.
        let src = target("").replace("pillar = \"government\"", "pillar = \"space\"");
        assert_eq!(errs(&src), [(9, "pillar".to_string())]);
        let src = target("").replace("target = 90", "target = 120");
        assert_eq!(errs(&src), [(12, "target".to_string())]);
        let src = target("").replace("year = 2030", "year = 2020");
        assert_eq!(errs(&src), [(10, "year".to_string())]);
        let src = target("direction = \"up\"\n");
        assert_eq!(errs(&src), [(16, "direction".to_string())]);
        let src = target("indicator = \"services.nothing\"\n");
        assert_eq!(errs(&src), [(16, "indicator".to_string())]);
        // All errors at once.
        let src = target("")
            .replace("kind = \"percent\"", "kind = \"share\"")
            .replace("vi = \"Chỉ tiêu\"", "vi = \"  \"");
        assert_eq!(
            errs(&src),
            [(11, "kind".to_string()), (13, "vi".to_string())]
        );
        // Duplicate id names the first line.
        let one = target("");
        let src = format!("{one}\n{}", &one[HEAD.len()..]);
        let e = parse("thu.toml", &src).unwrap_err();
        assert_eq!((e.0[0].line, e.0[0].field.as_str()), (19, "id"));
        assert!(e.0[0].message_en.contains("line 8"), "{}", e.0[0]);
    }

    #[test]
    fn reader_errors_name_line_and_field() {
        // A type error: the field is read from its line.
        let src = target("").replace("target = 90", "target = \"ninety\"");
        assert_eq!(errs(&src), [(12, "target".to_string())]);
        // A missing field.
        let src = target("").replace("en = \"Target\"\n", "");
        let e = errs(&src);
        assert_eq!(e[0].1, "en");
        // An unknown field.
        let src = target("colour = \"red\"\n");
        assert_eq!(errs(&src)[0], (16, "colour".to_string()));
        // Broken syntax.
        let src = target("").replace("year = 2030", "year = = 2030");
        assert_eq!(errs(&src)[0].0, 10);
        // No [plan].
        assert_eq!(errs(&target("")[HEAD.len()..])[0].1, "plan");
        let shown = parse("thu.toml", &target("colour = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(shown.starts_with("thu.toml:16: field `colour`"), "{shown}");
    }

    #[test]
    fn shared_reported_indicators_must_agree_on_kind() {
        let src = format!(
            "{HEAD}\n[[target]]\nid = \"x.y-2026\"\npillar = \"economy\"\nyear = 2026\nkind = \"percent\"\ntarget = 5\nvi = \"a\"\nen = \"a\"\nmeasured_by = \"reported\"\n\n[[target]]\nid = \"x.y-2030\"\npillar = \"economy\"\nyear = 2030\nkind = \"rate\"\ntarget = 5\nvi = \"a\"\nen = \"a\"\nmeasured_by = \"reported\"\n"
        );
        assert_eq!(errs(&src), [(21, "kind".to_string())]);
    }
}
