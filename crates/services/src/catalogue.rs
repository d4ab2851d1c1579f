//! The procedure catalogue (danh mục thủ tục hành chính). Procedures are data: the demo
//! catalogue ships in `data/procedures.json` (see `data/SOURCES.md`) and is loaded as version 1;
//! an administrator's edit writes a new version, and dossiers keep the version they were filed
//! under.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use tinhso_kernel::{text, AppError, FieldErrors, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::native::Param;
use tinhso_store::{now_micros, Db, DbError};

/// Who handles a procedure.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgencyRef {
    /// `ubnd_xa`: the People's Committee of the applicant's commune.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A named provincial agency (as in the agency tree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Statutory time limit (thời hạn giải quyết).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct TimeLimit {
    /// `working_days` or `working_hours`.
    pub unit: TimeUnit,
    pub value: u32,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    WorkingDays,
    WorkingHours,
}

/// A fee or charge (phí, lệ phí), in integer VND.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Fee {
    pub name: String,
    pub amount_vnd: i64,
    #[serde(default)]
    pub note: Option<String>,
}

/// The result a procedure issues (kết quả).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResultKind {
    pub name: String,
    pub electronic: bool,
}

/// A required or optional component of the dossier (thành phần hồ sơ).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Component {
    pub id: String,
    pub name: String,
    /// `electronic`, `original`, `copy`, `original_or_copy`.
    pub form: String,
    pub required: bool,
    /// Kind of paper in the personal data store that can stand in for an upload.
    #[serde(default)]
    pub reusable: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// One typed field of the e-form.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Field {
    pub name: String,
    pub label: String,
    /// text, textarea, date, number, select, checkbox, cccd, mst, phone, email, admin_unit.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub min_length: Option<usize>,
    #[serde(default)]
    pub max_length: Option<usize>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default)]
    pub options: Option<Vec<SelectOption>>,
    #[serde(default)]
    pub help: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SelectOption {
    pub value: String,
    pub label: String,
}

/// A step of the workflow template (quy trình nội bộ).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Step {
    pub step: String,
    pub name: String,
    /// Role that handles the step.
    pub role: String,
    /// Share of the time limit, percent.
    pub share_percent: u32,
}

/// A procedure as defined (one version).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Procedure {
    pub code: String,
    #[serde(default = "yes")]
    pub code_verified: bool,
    /// Why a code is unverified, or where it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_note: Option<String>,
    pub name: String,
    pub sector: String,
    /// `xa` (commune) or `tinh` (province).
    pub level: String,
    pub agency: AgencyRef,
    pub time_limit: TimeLimit,
    /// The legal wording of the time limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_note: Option<String>,
    #[serde(default)]
    pub fees: Vec<Fee>,
    /// `toan_trinh` (fully online) or `mot_phan` (partly).
    pub online_level: String,
    pub result: ResultKind,
    #[serde(default)]
    pub components: Vec<Component>,
    #[serde(default)]
    pub eform: Vec<Field>,
    pub workflow: Vec<Step>,
    /// `on_accept` or `on_submit`.
    #[serde(default = "on_accept")]
    pub fee_timing: String,
    #[serde(default)]
    pub legal_basis: Vec<String>,
    #[serde(default)]
    pub sources: Vec<String>,
}

fn yes() -> bool {
    true
}

fn on_accept() -> String {
    "on_accept".into()
}

impl Procedure {
    /// Total fee in VND.
    pub fn total_fee(&self) -> i64 {
        self.fees.iter().map(|f| f.amount_vnd.max(0)).sum()
    }

    pub fn fully_online(&self) -> bool {
        self.online_level == "toan_trinh"
    }

    /// Check a definition before it is stored (an administrator's edit, or the shipped data).
    pub fn check(&self) -> Result<(), AppError> {
        let mut errs = FieldErrors::new();
        let code_ok = self.code.len() == 8
            && self.code.as_bytes()[1] == b'.'
            && self
                .code
                .bytes()
                .enumerate()
                .all(|(i, b)| i == 1 || b.is_ascii_digit());
        if !code_ok {
            errs.push(
                "code",
                Invalid::new(
                    "procedure_code",
                    "Mã thủ tục phải có dạng N.NNNNNN, ví dụ 1.001193",
                    "The procedure code must look like N.NNNNNN, e.g. 1.001193",
                ),
            );
        }
        errs.check("name", tinhso_kernel::validate::length(&self.name, 3, 500));
        if self.level != "xa" && self.level != "tinh" {
            errs.push(
                "level",
                Invalid::new(
                    "level",
                    "Cấp thực hiện phải là xa hoặc tinh",
                    "Level must be xa or tinh",
                ),
            );
        }
        if self.online_level != "toan_trinh" && self.online_level != "mot_phan" {
            errs.push(
                "online_level",
                Invalid::new(
                    "online_level",
                    "Mức độ trực tuyến phải là toan_trinh hoặc mot_phan",
                    "Online level must be toan_trinh or mot_phan",
                ),
            );
        }
        if self.workflow.is_empty()
            || self.workflow.iter().map(|s| s.share_percent).sum::<u32>() != 100
        {
            errs.push(
                "workflow",
                Invalid::new(
                    "workflow_shares",
                    "Quy trình phải có ít nhất một bước và tổng tỷ lệ thời gian các bước bằng 100%",
                    "The workflow needs at least one step and its time shares must add up to 100%",
                ),
            );
        }
        if self.fees.iter().any(|f| f.amount_vnd < 0) {
            errs.push(
                "fees",
                Invalid::new(
                    "fee_negative",
                    "Phí, lệ phí không được âm",
                    "Fees cannot be negative",
                ),
            );
        }
        let mut names = std::collections::HashSet::new();
        for (i, f) in self.eform.iter().enumerate() {
            if !crate::eform::KNOWN_TYPES.contains(&f.kind.as_str()) {
                errs.push(
                    &format!("eform[{i}].type"),
                    Invalid::new(
                        "field_type",
                        format!("Kiểu trường \"{}\" không được hỗ trợ", f.kind),
                        format!("Unsupported field type \"{}\"", f.kind),
                    ),
                );
            }
            if f.kind == "select" && f.options.as_deref().is_none_or(|o| o.is_empty()) {
                errs.push(
                    &format!("eform[{i}].options"),
                    Invalid::new(
                        "select_without_options",
                        format!("Trường chọn \"{}\" phải có ít nhất một lựa chọn", f.name),
                        format!("The select field \"{}\" needs at least one option", f.name),
                    ),
                );
            }
            if !names.insert(f.name.as_str()) {
                errs.push(
                    &format!("eform[{i}].name"),
                    Invalid::new(
                        "field_duplicate",
                        format!("Trường \"{}\" bị trùng tên", f.name),
                        format!("Duplicate field name \"{}\"", f.name),
                    ),
                );
            }
        }
        errs.into_result()
    }
}

/// The shipped demo catalogue.
pub fn shipped() -> Result<Vec<Procedure>, AppError> {
    serde_json::from_str(include_str!("../data/procedures.json"))
        .map_err(|e| AppError::internal(format!("data/procedures.json: {e}")))
}

/// Load the shipped catalogue as version 1 of every procedure not yet in the database.
/// Idempotent. Returns how many procedures were added.
pub async fn seed(db: &Db, ctx: &Ctx) -> Result<usize, AppError> {
    let existing: std::collections::HashSet<String> =
        sqlx::query_scalar::<_, String>("SELECT code FROM procedure_current")
            .fetch_all(db.pool())
            .await
            .map_err(DbError::from)?
            .into_iter()
            .collect();
    let mut added = 0;
    let mut tx = db.begin_write().await?;
    for p in shipped()? {
        if existing.contains(&p.code) {
            continue;
        }
        p.check()?;
        insert_version(&mut tx, &p, 1, &ctx.actor).await?;
        sqlx::query("INSERT INTO procedure_current (code, version, active) VALUES ($1, 1, 1)")
            .bind(&p.code)
            .execute(tx.conn())
            .await
            .map_err(DbError::from)?;
        added += 1;
    }
    if added > 0 {
        tx.audit(&ctx.entry(
            "procedure.seed",
            "procedure",
            "*",
            "",
            serde_json::json!({"added": added}),
        ))
        .await?;
    }
    tx.commit().await?;
    Ok(added)
}

async fn insert_version(
    tx: &mut tinhso_store::WriteTx,
    p: &Procedure,
    version: i64,
    by: &str,
) -> Result<(), AppError> {
    let definition = serde_json::to_string(p).map_err(AppError::internal)?;
    sqlx::query(
        "INSERT INTO procedures (code, version, name, search_key, sector, level, online_level, definition, created_at, created_by) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
    )
    .bind(&p.code)
    .bind(version)
    .bind(&p.name)
    .bind(text::fold(&format!("{} {} {}", p.name, p.sector, p.code)))
    .bind(&p.sector)
    .bind(&p.level)
    .bind(&p.online_level)
    .bind(definition)
    .bind(now_micros())
    .bind(by)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    Ok(())
}

/// A procedure with its version.
#[derive(Debug, Clone, Serialize)]
pub struct Versioned {
    pub version: i64,
    pub active: bool,
    pub procedure: Procedure,
}

fn parse_definition(s: &str) -> Result<Procedure, AppError> {
    serde_json::from_str(s).map_err(|e| AppError::internal(format!("stored procedure: {e}")))
}

/// Parsed procedure versions, shared by every request of the process. A stored version is
/// never changed (an edit writes a new version), so an entry never goes stale; it is keyed by
/// the database's URL as well, so that two databases in one process (tests, benchmarks) keep
/// apart. Only committed rows are cached (they are read through the pool).
type VersionKey = (std::sync::Arc<str>, String, i64);

static VERSIONS: std::sync::LazyLock<
    std::sync::RwLock<std::collections::HashMap<VersionKey, std::sync::Arc<Procedure>>>,
> = std::sync::LazyLock::new(Default::default);

/// At most this many parsed versions are kept (the province's catalogue has a few thousand
/// procedures; the map is emptied and refilled when it overflows).
const VERSIONS_MAX: usize = 8192;

fn cached_version(db: &Db, code: &str, version: i64) -> Option<std::sync::Arc<Procedure>> {
    let map = VERSIONS.read().unwrap_or_else(|e| e.into_inner());
    map.get(&(std::sync::Arc::from(db.url()), code.to_string(), version))
        .cloned()
}

fn remember_version(db: &Db, code: &str, version: i64, p: Procedure) -> std::sync::Arc<Procedure> {
    let p = std::sync::Arc::new(p);
    let mut map = VERSIONS.write().unwrap_or_else(|e| e.into_inner());
    if map.len() >= VERSIONS_MAX {
        map.clear();
    }
    map.insert(
        (std::sync::Arc::from(db.url()), code.to_string(), version),
        p.clone(),
    );
    p
}

/// The current version of a procedure.
pub async fn current(db: &Db, code: &str) -> Result<Option<Versioned>, AppError> {
    Ok(current_shared(db, code).await?.map(|c| Versioned {
        version: c.version,
        active: c.active,
        procedure: (*c.procedure).clone(),
    }))
}

/// [`Versioned`] with the parsed definition shared from the cache of versions (not copied):
/// what a submission reads.
pub(crate) struct SharedVersion {
    pub version: i64,
    pub active: bool,
    pub procedure: std::sync::Arc<Procedure>,
}

/// [`current`] without copying the definition. The small `procedure_current` row is read on
/// every call (natively on a SQLite file, `Db::read_rows`: an edit on another node is seen at
/// once); the definition only when this version was never parsed here.
pub(crate) async fn current_shared(db: &Db, code: &str) -> Result<Option<SharedVersion>, AppError> {
    let Some((version, active)) = current_row(db, code).await? else {
        return Ok(None);
    };
    shared_version(db, code, version, active).await
}

/// The `procedure_current` row of `code`: its version and whether it is offered (natively on
/// a SQLite file).
pub(crate) async fn current_row(db: &Db, code: &str) -> Result<Option<(i64, bool)>, AppError> {
    Ok(db
        .read_rows(
            "SELECT version, active FROM procedure_current WHERE code = $1",
            &[Param::Text(code)],
            |r| Ok((r.int(0)?, r.int(1)? != 0)),
        )
        .await?
        .into_iter()
        .next())
}

/// [`current_shared`] through the node's copy of the `procedure_current` rows, valid for the
/// catalogue generation in `gens` (read by the caller first): what a submission reads.
pub(crate) async fn current_cached(
    db: &Db,
    gens: crate::read_cache::Generations,
    code: &str,
) -> Result<Option<SharedVersion>, AppError> {
    let Some((version, active)) = crate::read_cache::current_row(db, gens, code).await? else {
        return Ok(None);
    };
    shared_version(db, code, version, active).await
}

async fn shared_version(
    db: &Db,
    code: &str,
    version: i64,
    active: bool,
) -> Result<Option<SharedVersion>, AppError> {
    Ok(version_arc(db, code, version)
        .await?
        .map(|procedure| SharedVersion {
            version,
            active,
            procedure,
        }))
}

/// A given version of a procedure (what a dossier was filed under).
pub async fn version(db: &Db, code: &str, version: i64) -> Result<Option<Procedure>, AppError> {
    Ok(version_arc(db, code, version).await?.map(|p| (*p).clone()))
}

/// [`version`], shared: parsed once per process (versions are immutable).
pub async fn version_arc(
    db: &Db,
    code: &str,
    version: i64,
) -> Result<Option<std::sync::Arc<Procedure>>, AppError> {
    if let Some(p) = cached_version(db, code, version) {
        return Ok(Some(p));
    }
    let def = db
        .read_rows(
            "SELECT definition FROM procedures WHERE code = $1 AND version = $2",
            &[Param::Text(code), Param::Int(version)],
            |r| r.text(0),
        )
        .await?
        .into_iter()
        .next();
    match def {
        None => Ok(None),
        Some(d) => Ok(Some(remember_version(
            db,
            code,
            version,
            parse_definition(&d)?,
        ))),
    }
}

/// Store an edited procedure as a new version, audited with what changed.
pub async fn update(db: &Db, ctx: &Ctx, p: &Procedure) -> Result<i64, AppError> {
    let mut errs = FieldErrors::new();
    if let Err(e) = p.check() {
        if e.fields.is_empty() {
            return Err(e);
        }
        for f in e.fields {
            errs.push(&f.field, Invalid::new(f.code, f.message_vi, f.message_en));
        }
    }
    // The handling agency must exist, or every submission would fail.
    let agency_known = p.agency.kind.as_deref() == Some("ubnd_xa")
        || tinhso_refdata::agencies::list(db, &Default::default())
            .await?
            .iter()
            .any(|a| Some(a.name.as_str()) == p.agency.name.as_deref());
    if !agency_known {
        errs.push(
            "agency.name",
            Invalid::new(
                "agency_unknown",
                "Cơ quan giải quyết không có trong danh mục cơ quan",
                "The handling agency is not in the agency list",
            ),
        );
    }
    errs.into_result()?;
    let before = current(db, &p.code)
        .await?
        .ok_or_else(AppError::not_found)?;
    if before.procedure == *p {
        return Ok(before.version);
    }
    let next = before.version + 1;
    let mut tx = db.begin_write().await?;
    insert_version(&mut tx, p, next, &ctx.actor).await?;
    sqlx::query("UPDATE procedure_current SET version = $1 WHERE code = $2")
        .bind(next)
        .bind(&p.code)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
    tx.audit(&ctx.entry(
        "procedure.update",
        "procedure",
        &p.code,
        "",
        serde_json::json!({"before": {"version": before.version, "time_limit": before.procedure.time_limit, "fees": before.procedure.fees},
                           "after": {"version": next, "time_limit": p.time_limit, "fees": p.fees}}),
    ))
    .await?;
    tx.emit(
        "procedure.updated",
        &serde_json::json!({"code": p.code, "version": next}),
    )
    .await?;
    tx.commit().await?;
    Ok(next)
}

/// A row of the catalogue list.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub code: String,
    pub version: i64,
    pub name: String,
    pub sector: String,
    pub level: String,
    pub online_level: String,
}

/// Words that mark a procedure derived from another one (re-issuing, copying, renewing,
/// changing, suspending or ending what the original procedure created). Folded.
const DERIVED_WORDS: &[&str] = &[
    " lai ",
    " ban sao ",
    " gia han ",
    " thay doi ",
    " cham dut ",
    " tam ngung ",
    " cap nhat ",
    " sua doi ",
    " dieu chinh ",
    " cai chinh ",
];

fn is_derived(folded_name: &str) -> bool {
    let padded = format!(" {} ", folded_name.replace([',', ';', '(', ')'], " "));
    DERIVED_WORDS.iter().any(|w| padded.contains(w))
}

#[derive(Deserialize)]
struct VerifiedOnly {
    #[serde(default = "yes")]
    code_verified: bool,
}

/// Search the active catalogue. Every word must match (diacritics ignored). Results rank names
/// that start with the query, then names containing it as a phrase, then names containing
/// every word, then the rest (matches in the sector or code). Within a rank, the procedure
/// that creates something comes before those derived from it (re-issue, copy, renewal, change,
/// suspension, end), a verified national code before a placeholder, an earlier match before
/// a later one, and a shorter name before a longer one: "khai sinh" finds "Đăng ký khai sinh"
/// before "Đăng ký lại khai sinh", "hộ kinh doanh" finds "Đăng ký thành lập hộ kinh doanh"
/// before "Chấm dứt hoạt động hộ kinh doanh". Without a query the list is in Vietnamese order.
pub async fn search(
    db: &Db,
    q: &str,
    level: Option<&str>,
    sector: Option<&str>,
) -> Result<Vec<Summary>, AppError> {
    let rows = sqlx::query(
        "SELECT p.code, p.version, p.name, p.sector, p.level, p.online_level, p.search_key, p.definition \
         FROM procedure_current c JOIN procedures p ON p.code = c.code AND p.version = c.version \
         WHERE c.active = 1",
    )
    .fetch_all(db.pool())
    .await
    .map_err(DbError::from)?;
    let query = text::fold(q);
    let words: Vec<&str> = query.split(' ').filter(|w| !w.is_empty()).collect();
    let mut hits = Vec::new();
    for r in rows {
        let key: String = r.try_get(6).map_err(DbError::from)?;
        if !words.iter().all(|w| key.contains(w)) {
            continue;
        }
        let s = Summary {
            code: r.try_get(0).map_err(DbError::from)?,
            version: r.try_get(1).map_err(DbError::from)?,
            name: r.try_get(2).map_err(DbError::from)?,
            sector: r.try_get(3).map_err(DbError::from)?,
            level: r.try_get(4).map_err(DbError::from)?,
            online_level: r.try_get(5).map_err(DbError::from)?,
        };
        if level.is_some_and(|l| l != s.level) || sector.is_some_and(|x| x != s.sector) {
            continue;
        }
        let name = text::fold(&s.name);
        let rank: (u8, u8, u8, usize, usize) = if query.is_empty() {
            (3, 0, 0, 0, 0)
        } else {
            let tier = if name.starts_with(&query) {
                0
            } else if name.contains(&query) {
                1
            } else if words.iter().all(|w| name.contains(w)) {
                2
            } else {
                3
            };
            let def: String = r.try_get(7).map_err(DbError::from)?;
            let verified = serde_json::from_str::<VerifiedOnly>(&def)
                .map(|v| v.code_verified)
                .unwrap_or(true);
            let position = name
                .find(&query)
                .or_else(|| words.first().and_then(|w| name.find(w)))
                .unwrap_or(usize::MAX);
            (
                tier,
                u8::from(is_derived(&name)),
                u8::from(!verified),
                position,
                name.len(),
            )
        };
        hits.push((rank, s));
    }
    hits.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| text::cmp_vi(&a.1.name, &b.1.name))
    });
    Ok(hits.into_iter().map(|(_, s)| s).collect())
}

/// One stored version of a procedure, for the version list of the editing page.
#[derive(Debug, Clone, Serialize)]
pub struct VersionInfo {
    pub version: i64,
    pub name: String,
    pub created_at: i64,
    pub created_by: String,
}

/// Every version of a procedure, newest first.
pub async fn versions(db: &Db, code: &str) -> Result<Vec<VersionInfo>, AppError> {
    let rows = sqlx::query(
        "SELECT version, name, created_at, created_by FROM procedures WHERE code = $1 ORDER BY version DESC",
    )
    .bind(code)
    .fetch_all(db.pool())
    .await
    .map_err(DbError::from)?;
    rows.iter()
        .map(|r| {
            Ok(VersionInfo {
                version: r.try_get(0)?,
                name: r.try_get(1)?,
                created_at: r.try_get(2)?,
                created_by: r.try_get(3)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| DbError::from(e).into())
}
