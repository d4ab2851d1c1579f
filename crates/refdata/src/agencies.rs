//! Agencies (cơ quan, đơn vị) as an organisation tree. Each has an identifier code in the
//! QCVN 102:2016 structure, used by the exchange hub. The tree is seeded from
//! `data/agencies-lang-son.json`; contact details are edited by the agencies themselves.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::HashMap;
use tinhso_identity::ResourceScope;
use tinhso_kernel::{text, validate, AppError, FieldErrors, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::native::{Param, RowRead};
use tinhso_store::{now_micros, Db, DbError};

/// An agency as seeded from the data file.
#[derive(Debug, Clone, Deserialize)]
struct SeedAgency {
    code: String,
    name: String,
    short_name: Option<String>,
    kind: String,
    parent_code: Option<String>,
    admin_unit_code: Option<String>,
    code_source: Option<String>,
}

/// An agency.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Agency {
    pub code: String,
    pub name: String,
    pub short_name: String,
    pub kind: String,
    pub parent_code: Option<String>,
    pub admin_unit_code: Option<String>,
    /// `published` when the code comes from an official decision, `generated` otherwise.
    pub code_source: String,
    pub address: String,
    pub phone: String,
    pub email: String,
    pub website: String,
    pub working_hours: String,
}

const COLUMNS: &str = "code, name, short_name, kind, parent_code, admin_unit_code, code_source, \
                       address, phone, email, website, working_hours";

fn from_row(r: &dyn RowRead) -> Result<Agency, DbError> {
    Ok(Agency {
        code: r.text(0)?,
        name: r.text(1)?,
        short_name: r.text(2)?,
        kind: r.text(3)?,
        parent_code: r.opt_text(4)?,
        admin_unit_code: r.opt_text(5)?,
        code_source: r.text(6)?,
        address: r.text(7)?,
        phone: r.text(8)?,
        email: r.text(9)?,
        website: r.text(10)?,
        working_hours: r.text(11)?,
    })
}

/// The one agency (or none) that `sql` with `params` finds: a short indexed read, natively on
/// a SQLite file (`Db::read_rows`); every submission resolves its handling agency this way.
async fn one(db: &Db, sql: &str, params: &[Param<'_>]) -> Result<Option<Agency>, DbError> {
    Ok(db
        .read_rows(sql, params, from_row)
        .await?
        .into_iter()
        .next())
}

fn seed_data() -> Result<Vec<SeedAgency>, AppError> {
    serde_json::from_str(include_str!("../data/agencies-lang-son.json"))
        .map_err(|e| AppError::internal(format!("agencies-lang-son.json: {e}")))
}

/// Insert the agencies of the data file that are missing and refresh the reference fields
/// (name, kind, parent) of the others, leaving contact details alone. Idempotent; parents are
/// written before children. Returns how many rows were inserted.
pub async fn seed(db: &Db, ctx: &Ctx) -> Result<usize, AppError> {
    let mut pending = seed_data()?;
    let mut ordered = Vec::with_capacity(pending.len());
    let mut placed: std::collections::HashSet<String> = std::collections::HashSet::new();
    while !pending.is_empty() {
        let before = pending.len();
        let (ready, rest): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|a| a.parent_code.as_ref().is_none_or(|p| placed.contains(p)));
        for a in &ready {
            placed.insert(a.code.clone());
        }
        ordered.extend(ready);
        pending = rest;
        if pending.len() == before {
            return Err(AppError::internal(
                "agency tree has a cycle or a missing parent",
            ));
        }
    }
    let existing: std::collections::HashSet<String> =
        sqlx::query_scalar::<_, String>("SELECT code FROM agencies")
            .fetch_all(db.pool())
            .await
            .map_err(DbError::from)?
            .into_iter()
            .collect();
    let now = now_micros();
    let mut inserted = 0;
    let mut tx = db.begin_write().await?;
    for a in &ordered {
        let short = a.short_name.clone().unwrap_or_else(|| a.name.clone());
        let key = text::fold(&format!("{} {} {}", a.name, short, a.code));
        if existing.contains(&a.code) {
            sqlx::query(
                "UPDATE agencies SET name = $1, short_name = $2, kind = $3, parent_code = $4, \
                 admin_unit_code = $5, code_source = $6, search_key = $7 WHERE code = $8",
            )
            .bind(&a.name)
            .bind(&short)
            .bind(&a.kind)
            .bind(&a.parent_code)
            .bind(&a.admin_unit_code)
            .bind(a.code_source.as_deref().unwrap_or("generated"))
            .bind(&key)
            .bind(&a.code)
            .execute(tx.conn())
            .await
            .map_err(DbError::from)?;
        } else {
            sqlx::query(
                "INSERT INTO agencies (code, name, short_name, kind, parent_code, admin_unit_code, \
                 code_source, search_key, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
            )
            .bind(&a.code)
            .bind(&a.name)
            .bind(&short)
            .bind(&a.kind)
            .bind(&a.parent_code)
            .bind(&a.admin_unit_code)
            .bind(a.code_source.as_deref().unwrap_or("generated"))
            .bind(&key)
            .bind(now)
            .execute(tx.conn())
            .await
            .map_err(DbError::from)?;
            inserted += 1;
        }
    }
    if inserted > 0 {
        tx.audit(&ctx.entry(
            "agency.seed",
            "agency",
            "*",
            "",
            serde_json::json!({"inserted": inserted, "total": ordered.len()}),
        ))
        .await?;
    }
    tx.commit().await?;
    Ok(inserted)
}

/// An agency by code.
pub async fn get(db: &Db, code: &str) -> Result<Option<Agency>, DbError> {
    one(
        db,
        &format!("SELECT {COLUMNS} FROM agencies WHERE code = $1"),
        &[Param::Text(code)],
    )
    .await
}

/// The agency of `kind` for administrative unit `admin_unit_code` (e.g. the People's Committee
/// of a commune: `ubnd_xa`): one small query, not [`list`]'s whole sorted tree.
pub async fn for_admin_unit(
    db: &Db,
    kind: &str,
    admin_unit_code: &str,
) -> Result<Option<Agency>, DbError> {
    one(
        db,
        &format!(
            "SELECT {COLUMNS} FROM agencies WHERE kind = $1 AND admin_unit_code = $2 ORDER BY code LIMIT 1"
        ),
        &[Param::Text(kind), Param::Text(admin_unit_code)],
    )
    .await
}

/// The agency named exactly `name` (names are unique in the seeded tree).
pub async fn by_name(db: &Db, name: &str) -> Result<Option<Agency>, DbError> {
    one(
        db,
        &format!("SELECT {COLUMNS} FROM agencies WHERE name = $1 ORDER BY code LIMIT 1"),
        &[Param::Text(name)],
    )
    .await
}

/// Filter for [`list`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AgencyFilter {
    pub q: Option<String>,
    pub kind: Option<String>,
    pub parent_code: Option<String>,
    pub limit: Option<i64>,
}

/// Search agencies (diacritics ignored), in Vietnamese order.
pub async fn list(db: &Db, f: &AgencyFilter) -> Result<Vec<Agency>, DbError> {
    let mut sql = format!("SELECT {COLUMNS} FROM agencies WHERE 1=1");
    let mut binds = Vec::new();
    if let Some(q) = f.q.as_deref().map(text::fold).filter(|q| !q.is_empty()) {
        for w in q.split(' ') {
            binds.push(format!("%{}%", w.replace(['%', '_'], "")));
            sql.push_str(&format!(" AND search_key LIKE ${}", binds.len()));
        }
    }
    if let Some(k) = &f.kind {
        binds.push(k.clone());
        sql.push_str(&format!(" AND kind = ${}", binds.len()));
    }
    if let Some(p) = &f.parent_code {
        binds.push(p.clone());
        sql.push_str(&format!(" AND parent_code = ${}", binds.len()));
    }
    let mut q = sqlx::query(&sql);
    for b in &binds {
        q = q.bind(b);
    }
    let rows = q.fetch_all(db.pool()).await?;
    let mut out: Vec<Agency> = rows.iter().map(|r| from_row(r)).collect::<Result<_, _>>()?;
    // Each Vietnamese sort key is built once per row, not once per comparison.
    out.sort_by_cached_key(|a| (kind_rank(&a.kind), text::sort_key(&a.name)));
    out.truncate(f.limit.unwrap_or(500).clamp(1, 2000) as usize);
    Ok(out)
}

fn kind_rank(kind: &str) -> u8 {
    match kind {
        "ubnd_tinh" => 0,
        "so" | "van_phong" | "thanh_tra" => 1,
        "ban" | "trung_tam" => 2,
        "ubnd_xa" => 3,
        _ => 4,
    }
}

/// Parent links of every agency (small: hundreds of rows).
async fn parents(db: &Db) -> Result<HashMap<String, Option<String>>, DbError> {
    let rows = sqlx::query("SELECT code, parent_code FROM agencies")
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>(0)?,
                r.try_get::<Option<String>, _>(1)?,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(DbError::from)
}

/// Links followed at most when walking up the tree (a guard against a cycle in the data).
const MAX_DEPTH: i64 = 64;

/// The agency and its ancestors, nearest first. One recursive query over the primary key,
/// instead of reading the whole table, since it runs on every authorisation check.
pub async fn ancestors(db: &Db, code: &str) -> Result<Vec<String>, DbError> {
    let rows = sqlx::query(
        "WITH RECURSIVE up(code, parent_code, depth) AS ( \
           SELECT code, parent_code, 0 FROM agencies WHERE code = $1 \
           UNION ALL \
           SELECT a.code, a.parent_code, up.depth + 1 FROM agencies a \
             JOIN up ON a.code = up.parent_code WHERE up.depth < $2 \
         ) SELECT code FROM up ORDER BY depth",
    )
    .bind(code)
    .bind(MAX_DEPTH)
    .fetch_all(db.pool())
    .await?;
    let mut out: Vec<String> = Vec::with_capacity(rows.len());
    for r in &rows {
        let c: String = r.try_get(0)?;
        // A cycle repeats codes: stop at the first repeat, as the walk always did.
        if out.contains(&c) {
            break;
        }
        out.push(c);
    }
    Ok(out)
}

/// The agency and every agency below it.
pub async fn subtree(db: &Db, code: &str) -> Result<Vec<String>, DbError> {
    let links = parents(db).await?;
    let mut out = vec![code.to_string()];
    let mut i = 0;
    while i < out.len() {
        let cur = out[i].clone();
        for (child, parent) in &links {
            if parent.as_deref() == Some(cur.as_str()) && !out.contains(child) {
                out.push(child.clone());
            }
        }
        i += 1;
    }
    Ok(out)
}

/// Where an agency sits, for authorization. Only a commune People's Committee (`ubnd_xa`)
/// belongs to its commune: other agencies located there (central customs, border-guard
/// stations) are not under the commune's authority, so commune-scoped roles do not reach them.
pub async fn scope_of(db: &Db, agency: &Agency) -> Result<ResourceScope, DbError> {
    Ok(ResourceScope {
        agencies: ancestors(db, &agency.code).await?,
        commune: agency
            .admin_unit_code
            .clone()
            .filter(|c| c.len() == 5 && agency.kind == "ubnd_xa"),
        owner_user_id: None,
    })
}

/// Editable contact details (thông tin liên hệ).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ContactPatch {
    pub address: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
    pub working_hours: Option<String>,
}

/// Update an agency's contact details, validated and audited with before/after.
pub async fn update_contact(
    db: &Db,
    ctx: &Ctx,
    code: &str,
    patch: &ContactPatch,
) -> Result<Agency, AppError> {
    let before = get(db, code).await?.ok_or_else(AppError::not_found)?;
    let mut errs = FieldErrors::new();
    let mut after = before.clone();
    if let Some(v) = &patch.address {
        if let Some(v) = errs.check("address", validate::length(v, 0, 300)) {
            after.address = v;
        }
    }
    if let Some(v) = &patch.phone {
        if v.trim().is_empty() {
            after.phone = String::new();
        } else if let Some(v) = errs.check("phone", validate::phone(v)) {
            after.phone = v;
        }
    }
    if let Some(v) = &patch.email {
        if v.trim().is_empty() {
            after.email = String::new();
        } else if let Some(v) = errs.check("email", validate::email(v)) {
            after.email = v;
        }
    }
    if let Some(v) = &patch.website {
        let v = text::clean(v);
        if !v.is_empty() && !v.starts_with("https://") && !v.starts_with("http://") {
            errs.push(
                "website",
                Invalid::new(
                    "url_scheme",
                    "Địa chỉ trang web phải bắt đầu bằng https://",
                    "The website address must start with https://",
                ),
            );
        } else if let Some(v) = errs.check("website", validate::length(&v, 0, 200)) {
            after.website = v;
        }
    }
    if let Some(v) = &patch.working_hours {
        if let Some(v) = errs.check("working_hours", validate::length(v, 0, 200)) {
            after.working_hours = v;
        }
    }
    errs.into_result()?;
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE agencies SET address = $1, phone = $2, email = $3, website = $4, working_hours = $5, \
         updated_at = $6 WHERE code = $7",
    )
    .bind(&after.address)
    .bind(&after.phone)
    .bind(&after.email)
    .bind(&after.website)
    .bind(&after.working_hours)
    .bind(now_micros())
    .bind(code)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    let changed = |a: &Agency| {
        serde_json::json!({"address": a.address, "phone": a.phone, "email": a.email,
            "website": a.website, "working_hours": a.working_hours})
    };
    tx.audit(&ctx.entry(
        "agency.update_contact",
        "agency",
        code,
        code,
        serde_json::json!({"before": changed(&before), "after": changed(&after)}),
    ))
    .await?;
    tx.emit("agency.updated", &serde_json::json!({"code": code}))
        .await?;
    tx.commit().await?;
    Ok(after)
}
