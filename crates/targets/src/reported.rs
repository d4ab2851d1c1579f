//! Values reported by agencies, for indicators the platform cannot observe itself. Each entry
//! is a new version of the value of (indicator, period, organisation unit): nothing is ever
//! updated or deleted, the current value is the highest version. Input is checked in full
//! before anything is written, and every refusal names its rule, in Vietnamese and English:
//!
//! | rule | what |
//! |---|---|
//! | `indicator_unknown` | the indicator is not one a target of an imported plan is wired to |
//! | `indicator_live` | the platform measures it itself: it cannot be reported |
//! | `period` | the period key is one of `2026-01-31`, `2026-01`, `2026-Q1`, `2026-6M`, `2026-9M`, `2026` |
//! | `org` | `province`, `commune:<5 digits>` of a known unit, `agency:<code>` of a known agency |
//! | `number` | the value (and numerator, denominator) are numbers (`12,5` or `12.5`) |
//! | `range` / `rank` / `boolean` | within the kind's range (see [`crate::engine::Kind::rule`]) |
//! | `denominator` | a denominator is above 0 |
//! | `share` | for a share, the numerator is at most the denominator |
//! | `consistent` | with both numerator and denominator, the value is their ratio × 100 (±0.1) |
//! | `length` | the note is at most 1000 characters |

use crate::engine::{ratio, IndicatorDef, Kind, Observation, OrgUnit, Provider, Source};
use crate::period::Period;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use tinhso_identity::ResourceScope;
use tinhso_kernel::{text, AppError, FieldErrors, Invalid};
use tinhso_refdata::agencies;
use tinhso_store::audit::Ctx;
use tinhso_store::{now_micros, Db, DbError, WriteTx};

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

/// A value as entered (form or JSON): numbers as text, so that bad input is reported, not
/// rejected by the decoder.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct NewValue {
    /// The reported indicator (`reported.…`, see each target's `indicator`).
    pub indicator: String,
    /// Period key: `2026`, `2026-9M`, `2026-6M`, `2026-Q3`, `2026-10`, `2026-10-31`.
    pub period: String,
    /// `province` (default), `commune:05986`, `agency:000.00.23.H37`.
    #[serde(default)]
    pub org: String,
    /// The value, in the indicator's unit (`12,5` or `12.5`).
    pub value: String,
    #[serde(default)]
    pub numerator: Option<String>,
    #[serde(default)]
    pub denominator: Option<String>,
    /// Where the figure comes from (source document, method).
    #[serde(default)]
    pub note: String,
}

/// A checked value.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub indicator: String,
    pub kind: Kind,
    pub period: Period,
    pub org: OrgUnit,
    pub value: f64,
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    pub note: String,
}

/// One stored version.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReportedValue {
    pub indicator: String,
    pub period: String,
    pub org: String,
    pub version: i64,
    pub value: f64,
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    pub note: String,
    pub reported_by: String,
    /// Unix microseconds.
    pub reported_at: i64,
}

/// The kind of a reported indicator: that of the targets wired to it.
pub async fn kind_of(db: &Db, indicator: &str) -> Result<Option<Kind>, AppError> {
    let k: Option<String> =
        sqlx::query_scalar("SELECT kind FROM plan_targets WHERE indicator_key = $1 LIMIT 1")
            .bind(indicator)
            .fetch_optional(db.pool())
            .await
            .map_err(db_err)?;
    Ok(k.as_deref().and_then(Kind::parse))
}

/// A number as people write it: `12,5`, `12.5`, ` 80 `.
pub fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim().replace(',', ".");
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+')
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn rule(code: &'static str, vi: impl Into<String>, en: impl Into<String>) -> Invalid {
    Invalid::new(code, vi, en)
}

fn number_rule(what_vi: &str, what_en: &str) -> Invalid {
    rule(
        "number",
        format!("Quy tắc «số»: {what_vi} phải là một số, ví dụ 12,5"),
        format!("Rule “number”: the {what_en} must be a number, e.g. 12.5"),
    )
}

/// Check a value in full; all problems are reported together as field errors.
pub async fn check(db: &Db, v: &NewValue) -> Result<Checked, AppError> {
    let mut errs = FieldErrors::new();
    let key = v.indicator.trim().to_string();
    let mut kind = None;
    if crate::engine::live_indicator(&key).is_some() {
        errs.push(
            "indicator",
            rule(
                "indicator_live",
                format!("Quy tắc «đo trực tiếp»: chỉ số {key} do nền tảng tự đo, không nhập tay"),
                format!("Rule “measured live”: the platform measures {key} itself; it cannot be reported"),
            ),
        );
    } else {
        kind = kind_of(db, &key).await?;
        if kind.is_none() {
            errs.push(
                "indicator",
                rule(
                    "indicator_unknown",
                    format!("Quy tắc «chỉ số»: không có chỉ số báo cáo «{key}» trong kế hoạch nào"),
                    format!("Rule “indicator”: no plan has the reported indicator “{key}”"),
                ),
            );
        }
    }
    let period = Period::parse(&v.period);
    if period.is_none() {
        errs.push(
            "period",
            rule(
                "period",
                "Quy tắc «kỳ báo cáo»: dùng 2026 (năm), 2026-9M, 2026-6M, 2026-Q1 (quý), 2026-01 (tháng) hoặc 2026-01-31 (ngày)",
                "Rule “period”: use 2026 (year), 2026-9M, 2026-6M, 2026-Q1 (quarter), 2026-01 (month) or 2026-01-31 (day)",
            ),
        );
    }
    let org = match OrgUnit::parse(&v.org) {
        Some(OrgUnit::Commune(c)) if tinhso_refdata::units::units().commune(&c).is_none() => {
            errs.push(
                "org",
                rule(
                    "org",
                    format!("Quy tắc «đơn vị»: không có đơn vị hành chính cấp xã mã {c}"),
                    format!("Rule “unit”: no commune-level unit has the code {c}"),
                ),
            );
            None
        }
        Some(OrgUnit::Agency(a)) if agencies::get(db, &a).await?.is_none() => {
            errs.push(
                "org",
                rule(
                    "org",
                    format!("Quy tắc «đơn vị»: không có cơ quan mã {a}"),
                    format!("Rule “unit”: no agency has the code {a}"),
                ),
            );
            None
        }
        Some(o) => Some(o),
        None => {
            errs.push(
                "org",
                rule(
                    "org",
                    "Quy tắc «đơn vị»: dùng province, commune:<mã xã> hoặc agency:<mã cơ quan>",
                    "Rule “unit”: use province, commune:<unit code> or agency:<agency code>",
                ),
            );
            None
        }
    };
    let value = parse_number(&v.value);
    if value.is_none() {
        errs.push("value", number_rule("giá trị", "value"));
    }
    let mut part = |field: &str, s: &Option<String>, vi: &str, en: &str| -> Option<f64> {
        let s = s.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
        let n = parse_number(s);
        if n.is_none() {
            errs.push(field, number_rule(vi, en));
        }
        n
    };
    let numerator = part("numerator", &v.numerator, "tử số", "numerator");
    let denominator = part("denominator", &v.denominator, "mẫu số", "denominator");
    if let (Some(k), Some(x)) = (kind, value) {
        if let Some((code, vi, en)) = k.rule(x) {
            errs.push("value", rule(code, vi, en));
        }
    }
    if let Some(d) = denominator {
        if d <= 0.0 {
            errs.push(
                "denominator",
                rule(
                    "denominator",
                    "Quy tắc «mẫu số»: mẫu số phải lớn hơn 0",
                    "Rule “denominator”: the denominator must be above 0",
                ),
            );
        }
    }
    if let (Some(n), Some(d)) = (numerator, denominator.filter(|d| *d > 0.0)) {
        if n < 0.0 || (kind == Some(Kind::Percent) && n > d) {
            errs.push(
                "numerator",
                rule(
                    "share",
                    "Quy tắc «tỷ lệ»: tử số phải từ 0 đến mẫu số",
                    "Rule “share”: the numerator must be between 0 and the denominator",
                ),
            );
        } else if let (Some(r), Some(x)) = (ratio(n, d, 100.0), value) {
            if (r - x).abs() > 0.1 + 1e-9 && matches!(kind, Some(Kind::Percent)) {
                errs.push(
                    "value",
                    rule(
                        "consistent",
                        format!("Quy tắc «nhất quán»: giá trị phải bằng tử số / mẫu số × 100 = {r}"),
                        format!("Rule “consistent”: the value must equal numerator / denominator × 100 = {r}"),
                    ),
                );
            }
        }
    }
    let note = text::clean(&v.note);
    if note.chars().count() > 1000 {
        errs.push(
            "note",
            rule(
                "length",
                "Quy tắc «độ dài»: ghi chú tối đa 1000 ký tự",
                "Rule “length”: the note is at most 1000 characters",
            ),
        );
    }
    errs.into_result()?;
    match (kind, period, org, value) {
        (Some(kind), Some(period), Some(org), Some(value)) => Ok(Checked {
            indicator: key,
            kind,
            period,
            org,
            value,
            numerator,
            denominator,
            note,
        }),
        _ => Err(AppError::internal("reported value check")),
    }
}

/// Where a value of `org` sits, for authorization: the province (province-wide roles only),
/// an agency (its chain), a commune (its People's Committee's chain and the commune).
pub async fn scope_of(db: &Db, org: &OrgUnit) -> Result<ResourceScope, AppError> {
    match org {
        OrgUnit::Province => Ok(ResourceScope::province()),
        OrgUnit::Agency(code) => match agencies::get(db, code).await? {
            Some(a) => Ok(agencies::scope_of(db, &a).await?),
            None => Err(AppError::field(
                "org",
                Invalid::new(
                    "org",
                    format!("Quy tắc «đơn vị»: không có cơ quan mã {code}"),
                    format!("Rule “unit”: no agency has the code {code}"),
                ),
            )),
        },
        OrgUnit::Commune(c) => {
            let codes = crate::live::agencies_of(db, org).await?.unwrap_or_default();
            let mut chain = Vec::new();
            for code in &codes {
                chain.extend(agencies::ancestors(db, code).await?);
            }
            Ok(ResourceScope {
                agencies: chain,
                commune: Some(c.clone()),
                owner_user_id: None,
            })
        }
    }
}

/// Record a checked value as a new version (never overwriting), with its audit entry.
pub async fn record(db: &Db, ctx: &Ctx, c: &Checked) -> Result<ReportedValue, AppError> {
    let mut tx = db.begin_write().await?;
    let v = record_in(&mut tx, ctx, c).await?;
    tx.commit().await?;
    Ok(v)
}

/// As [`record`], inside the caller's transaction (an approved report records its values in
/// the approval's transaction).
pub async fn record_in(
    tx: &mut WriteTx,
    ctx: &Ctx,
    c: &Checked,
) -> Result<ReportedValue, AppError> {
    let (period, org_kind, org_code) = (c.period.to_string(), c.org.kind(), c.org.code());
    let last: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(version) FROM reported_values WHERE indicator_key = $1 AND period = $2 \
         AND org_kind = $3 AND org_code = $4",
    )
    .bind(&c.indicator)
    .bind(&period)
    .bind(org_kind)
    .bind(org_code)
    .fetch_one(tx.conn())
    .await
    .map_err(db_err)?;
    let version = last.unwrap_or(0) + 1;
    let now = now_micros();
    // Missing numerator or denominator are written as the literal NULL: sqlx's Any driver binds
    // a null double as float4 on PostgreSQL, which then refuses later doubles.
    let mut next = 9;
    let mut slot = |v: Option<f64>| match v {
        Some(_) => {
            next += 1;
            format!("${next}")
        }
        None => "NULL".to_string(),
    };
    let (num, den) = (slot(c.numerator), slot(c.denominator));
    let sql = format!(
        "INSERT INTO reported_values (indicator_key, period, org_kind, org_code, version, value, \
         note, reported_by, reported_at, numerator, denominator) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, {num}, {den})"
    );
    let mut q = sqlx::query(&sql)
        .bind(&c.indicator)
        .bind(&period)
        .bind(org_kind)
        .bind(org_code)
        .bind(version)
        .bind(c.value)
        .bind(&c.note)
        .bind(&ctx.actor)
        .bind(now);
    for v in [c.numerator, c.denominator].into_iter().flatten() {
        q = q.bind(v);
    }
    let inserted = q.execute(tx.conn()).await;
    if let Err(e) = inserted {
        let e = DbError::from(e);
        if e.is_unique_violation() {
            return Err(AppError::conflict(
                "Một phiên bản khác của số liệu này vừa được ghi; hãy tải lại và nhập lại",
                "Another version of this figure was just recorded; reload and enter it again",
            ));
        }
        return Err(e.into());
    }
    tx.audit(&ctx.entry(
        "indicator.report",
        "reported_value",
        &format!("{}@{period}@{}", c.indicator, c.org),
        org_code,
        serde_json::json!({"indicator": c.indicator, "period": period, "org": c.org.to_string(),
            "version": version, "value": c.value, "numerator": c.numerator,
            "denominator": c.denominator}),
    ))
    .await?;
    tx.emit(
        "indicator.reported",
        &serde_json::json!({"indicator": c.indicator, "period": period,
            "org": c.org.to_string(), "version": version}),
    )
    .await?;
    Ok(ReportedValue {
        indicator: c.indicator.clone(),
        period,
        org: c.org.to_string(),
        version,
        value: c.value,
        numerator: c.numerator,
        denominator: c.denominator,
        note: c.note.clone(),
        reported_by: ctx.actor.clone(),
        reported_at: now,
    })
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<ReportedValue, AppError> {
    let org_kind: String = r.try_get(2).map_err(db_err)?;
    let org_code: String = r.try_get(3).map_err(db_err)?;
    Ok(ReportedValue {
        indicator: r.try_get(0).map_err(db_err)?,
        period: r.try_get(1).map_err(db_err)?,
        org: if org_kind == "province" {
            org_kind
        } else {
            format!("{org_kind}:{org_code}")
        },
        version: r.try_get(4).map_err(db_err)?,
        value: r.try_get(5).map_err(db_err)?,
        numerator: r.try_get(6).map_err(db_err)?,
        denominator: r.try_get(7).map_err(db_err)?,
        note: r.try_get(8).map_err(db_err)?,
        reported_by: r.try_get(9).map_err(db_err)?,
        reported_at: r.try_get(10).map_err(db_err)?,
    })
}

const COLUMNS: &str = "indicator_key, period, org_kind, org_code, version, value, numerator, \
                       denominator, note, reported_by, reported_at";

/// Every version of (indicator, org), all periods, newest version first within a period.
pub async fn history(
    db: &Db,
    indicator: &str,
    org: &OrgUnit,
) -> Result<Vec<ReportedValue>, AppError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM reported_values WHERE indicator_key = $1 AND org_kind = $2 \
         AND org_code = $3 ORDER BY period, version DESC"
    ))
    .bind(indicator)
    .bind(org.kind())
    .bind(org.code())
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    rows.iter().map(from_row).collect()
}

/// Every version reported for the province, of every indicator, and the periods with an
/// approved agency value of each — read in two statements, for a page that shows every
/// target (the board, the operations centre) instead of two or more per indicator. Kept by
/// the [`crate::engine::Registry`] for the life of the page.
#[derive(Debug, Clone, Default)]
pub struct ProvinceReported {
    values: std::collections::HashMap<String, Vec<ReportedValue>>,
    periods: std::collections::HashMap<String, Vec<Period>>,
}

impl ProvinceReported {
    /// Read both.
    pub async fn load(db: &Db) -> Result<Self, AppError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM reported_values WHERE org_kind = $1 AND org_code = $2 \
             ORDER BY indicator_key, period, version DESC"
        ))
        .bind(OrgUnit::Province.kind())
        .bind(OrgUnit::Province.code())
        .fetch_all(db.pool())
        .await
        .map_err(db_err)?;
        let mut values: std::collections::HashMap<String, Vec<ReportedValue>> =
            std::collections::HashMap::new();
        for r in &rows {
            let v = from_row(r)?;
            values.entry(v.indicator.clone()).or_default().push(v);
        }
        Ok(ProvinceReported {
            values,
            periods: crate::province::periods_by_indicator(db).await?,
        })
    }

    /// [`history`] of `indicator` for the province.
    pub fn history(&self, indicator: &str) -> Vec<ReportedValue> {
        self.values.get(indicator).cloned().unwrap_or_default()
    }

    /// [`crate::province::periods`] of `indicator`.
    pub fn periods(&self, indicator: &str) -> Vec<Period> {
        self.periods.get(indicator).cloned().unwrap_or_default()
    }
}

/// The current (highest) version of `indicator` for `period` of every commune and every agency
/// that has one (the communes map: a commune's own value or its People's Committee's), in one
/// statement.
pub async fn current_below_province(
    db: &Db,
    indicator: &str,
    period: Period,
) -> Result<Vec<ReportedValue>, AppError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM reported_values WHERE indicator_key = $1 AND period = $2 \
         AND org_kind IN ('commune', 'agency') ORDER BY org_kind, org_code, version DESC"
    ))
    .bind(indicator)
    .bind(period.to_string())
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    let mut out: Vec<ReportedValue> = Vec::new();
    for r in &rows {
        let v = from_row(r)?;
        // Newest version first within a unit: keep the first.
        if out.last().is_none_or(|last| last.org != v.org) {
            out.push(v);
        }
    }
    Ok(out)
}

/// The periods in which `indicator` has a value for a commune or one of `agencies`, oldest
/// first.
pub async fn periods_below_province(
    db: &Db,
    indicator: &str,
    agencies: &[String],
) -> Result<Vec<String>, AppError> {
    let rows = sqlx::query(
        "SELECT DISTINCT period, org_kind, org_code FROM reported_values \
         WHERE indicator_key = $1 AND org_kind IN ('commune', 'agency')",
    )
    .bind(indicator)
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    let mut out: Vec<(chrono::NaiveDate, String)> = Vec::new();
    for r in &rows {
        let (period, kind, code): (String, String, String) = (
            r.try_get(0).map_err(db_err)?,
            r.try_get(1).map_err(db_err)?,
            r.try_get(2).map_err(db_err)?,
        );
        let Some(w) = Period::parse(&period).and_then(|p| p.window()) else {
            continue;
        };
        if (kind == "commune" || agencies.contains(&code)) && !out.iter().any(|p| p.1 == period) {
            out.push((w.end, period));
        }
    }
    out.sort();
    Ok(out.into_iter().map(|(_, p)| p).collect())
}

/// The current (highest) version for one period.
pub async fn current(
    db: &Db,
    indicator: &str,
    period: Period,
    org: &OrgUnit,
) -> Result<Option<ReportedValue>, AppError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM reported_values WHERE indicator_key = $1 AND period = $2 \
         AND org_kind = $3 AND org_code = $4 ORDER BY version DESC LIMIT 1"
    ))
    .bind(indicator)
    .bind(period.to_string())
    .bind(org.kind())
    .bind(org.code())
    .fetch_optional(db.pool())
    .await
    .map_err(db_err)?;
    row.as_ref().map(from_row).transpose()
}

/// The current version of the latest period reported (by the end of its window; on a tie the
/// longer period, e.g. the year over its last quarter), if any.
pub async fn latest(
    db: &Db,
    indicator: &str,
    org: &OrgUnit,
) -> Result<Option<ReportedValue>, AppError> {
    latest_until(db, indicator, org, None).await
}

/// As [`latest`], among the periods whose window ends by `until` (excluded end, as windows).
pub async fn latest_until(
    db: &Db,
    indicator: &str,
    org: &OrgUnit,
    until: Option<chrono::NaiveDate>,
) -> Result<Option<ReportedValue>, AppError> {
    Ok(latest_among(history(db, indicator, org).await?, until))
}

/// [`latest_until`] among the versions of one (indicator, org), as [`history`] gives them.
fn latest_among(
    all: Vec<ReportedValue>,
    until: Option<chrono::NaiveDate>,
) -> Option<ReportedValue> {
    // Key: (window end, window length in days, version) — the largest wins.
    let mut best: Option<((chrono::NaiveDate, i64, i64), ReportedValue)> = None;
    for v in all {
        let Some(w) = Period::parse(&v.period).and_then(|p| p.window()) else {
            continue;
        };
        if until.is_some_and(|u| w.end > u) {
            continue;
        }
        let key = (w.end, w.days(), v.version);
        if best.as_ref().is_none_or(|(k, _)| key > *k) {
            best = Some((key, v));
        }
    }
    best.map(|(_, v)| v)
}

/// The latest reported value as an observation (see [`latest_until`]). For the province, the
/// figure made from the agencies' approved values ([`crate::province::latest`]) when its
/// period is as late as that of a value reported for the province itself (on the same
/// period, the agencies' figure wins).
pub async fn latest_observation(
    db: &Db,
    indicator: &str,
    org: &OrgUnit,
    until: Option<chrono::NaiveDate>,
) -> Result<Option<Observation>, AppError> {
    let own = latest_until(db, indicator, org, until).await?;
    if *org != OrgUnit::Province {
        return Ok(own.map(observation));
    }
    let periods = crate::province::periods(db, indicator).await?;
    province_latest(db, indicator, own, periods, until).await
}

/// [`latest_observation`] for the province from a [`ProvinceReported`] read once per page.
pub async fn province_latest_observation(
    db: &Db,
    pre: &ProvinceReported,
    indicator: &str,
    until: Option<chrono::NaiveDate>,
) -> Result<Option<Observation>, AppError> {
    let own = latest_among(pre.history(indicator), until);
    province_latest(db, indicator, own, pre.periods(indicator), until).await
}

/// The province's latest: its own value `own` or the agencies' figure of the latest of
/// `periods` (approved agency values), whichever is later.
async fn province_latest(
    db: &Db,
    indicator: &str,
    own: Option<ReportedValue>,
    periods: Vec<Period>,
    until: Option<chrono::NaiveDate>,
) -> Result<Option<Observation>, AppError> {
    let Some(f) = crate::province::latest_among(db, indicator, periods, until).await? else {
        return Ok(own.map(observation));
    };
    let key = |p: &str| {
        Period::parse(p)
            .and_then(|p| p.window())
            .map(|w| (w.end, w.days()))
    };
    match own {
        Some(v) if key(&v.period) > key(&f.period) => Ok(Some(observation(v))),
        _ => Ok(Some(figure_observation(f))),
    }
}

/// The province's value for one period: the agencies' approved figure, else the value
/// reported for the province itself.
pub async fn province_observation(
    db: &Db,
    indicator: &str,
    period: Period,
) -> Result<Option<Observation>, AppError> {
    if let Some(f) = crate::province::figure(db, indicator, period).await? {
        return Ok(Some(figure_observation(f)));
    }
    Ok(current(db, indicator, period, &OrgUnit::Province)
        .await?
        .map(observation))
}

fn figure_observation(f: crate::province::Figure) -> Observation {
    Observation {
        indicator: f.indicator,
        period: f.period,
        org: OrgUnit::Province.to_string(),
        source: Source::Reported,
        numerator: f.numerator,
        denominator: f.denominator,
        value: Some(f.value),
        version: None,
        note: None,
        note_en: None,
        coverage: Some(f.coverage),
    }
}

pub(crate) fn observation(v: ReportedValue) -> Observation {
    Observation {
        coverage: None,
        indicator: v.indicator,
        period: v.period,
        org: v.org,
        source: Source::Reported,
        numerator: v.numerator,
        denominator: v.denominator,
        value: Some(v.value),
        version: Some(v.version),
        note: (!v.note.is_empty()).then_some(v.note),
        note_en: None,
    }
}

/// Reported values as a provider: answers for every `reported.…` indicator.
pub struct ReportedProvider;

impl Provider for ReportedProvider {
    fn name(&self) -> &'static str {
        "reported"
    }

    fn indicators(&self) -> &'static [IndicatorDef] {
        &[]
    }

    fn handles(&self, key: &str) -> bool {
        key.starts_with("reported.")
    }

    fn observe<'a>(
        &'a self,
        db: &'a Db,
        _units: &'a crate::live::Units,
        key: &'a str,
        period: Period,
        org: &'a OrgUnit,
    ) -> BoxFuture<'a, Result<Option<Observation>, AppError>> {
        async move {
            if *org == OrgUnit::Province {
                return province_observation(db, key, period).await;
            }
            Ok(current(db, key, period, org).await?.map(observation))
        }
        .boxed()
    }
}

/// Lạng Sơn's DTI rank by assessed year, as issue #5 gives it (not checked against the
/// ministry's publications): demo data only.
pub const DEMO_DTI_RANKS: &[(&str, &str)] =
    &[("2020", "16"), ("2021", "5"), ("2022", "6"), ("2023", "4")];

/// Demo data: the DTI ranks as values reported for the province, once (a period that has a
/// value is left alone). Returns how many were recorded.
pub async fn load_demo(db: &Db, ctx: &Ctx) -> Result<usize, AppError> {
    let mut n = 0;
    for (period, rank) in DEMO_DTI_RANKS {
        let input = NewValue {
            indicator: "reported.overall.dti-top10".into(),
            period: (*period).into(),
            org: "province".into(),
            value: (*rank).into(),
            note: "Dữ liệu minh hoạ: thứ hạng DTI theo issue #5, chưa đối chiếu công bố của Bộ"
                .into(),
            ..Default::default()
        };
        let checked = check(db, &input).await?;
        if current(db, &checked.indicator, checked.period, &checked.org)
            .await?
            .is_none()
        {
            record(db, ctx, &checked).await?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_people_write_them() {
        assert_eq!(parse_number("12,5"), Some(12.5));
        assert_eq!(parse_number(" 80 "), Some(80.0));
        assert_eq!(parse_number("-3.25"), Some(-3.25));
        for bad in ["", "abc", "12%", "1e400", "NaN", "inf", "1 000"] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
    }
}
