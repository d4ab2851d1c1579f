//! Accounts (tài khoản): citizens, enterprises, household businesses and staff, with roles.

use crate::authz::{AuthMethod, Principal, Role, RoleAssignment, Scope};
use crate::password;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use tinhso_kernel::{text, validate, AppError, FieldErrors, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::{now_micros, Db, DbError, WriteTx};

/// Kind of account holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// Công dân — user name is the CCCD number.
    Citizen,
    /// Doanh nghiệp — user name is the tax code (MST).
    Enterprise,
    /// Hộ kinh doanh — user name is the tax code (MST).
    HouseholdBusiness,
    /// Cán bộ, công chức — a chosen user name; belongs to an agency.
    Staff,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Citizen => "citizen",
            AccountKind::Enterprise => "enterprise",
            AccountKind::HouseholdBusiness => "household_business",
            AccountKind::Staff => "staff",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            AccountKind::Citizen,
            AccountKind::Enterprise,
            AccountKind::HouseholdBusiness,
            AccountKind::Staff,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    pub fn name_vi(self) -> &'static str {
        match self {
            AccountKind::Citizen => "Công dân",
            AccountKind::Enterprise => "Doanh nghiệp",
            AccountKind::HouseholdBusiness => "Hộ kinh doanh",
            AccountKind::Staff => "Cán bộ, công chức",
        }
    }
}

/// Input to [`create`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NewAccount {
    /// Staff only: the chosen user name. Citizens sign in with their CCCD, enterprises with
    /// their MST.
    pub username: Option<String>,
    pub display_name: String,
    pub kind: String,
    pub cccd: Option<String>,
    pub mst: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub agency_code: Option<String>,
    pub title: Option<String>,
    pub password: String,
    #[serde(default)]
    pub roles: Vec<RoleAssignment>,
}

/// A stored account (never includes secrets).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub kind: String,
    pub cccd: Option<String>,
    pub mst: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub agency_code: Option<String>,
    pub title: Option<String>,
    pub disabled: bool,
    pub totp_enabled: bool,
    pub roles: Vec<RoleAssignment>,
    pub created_at: i64,
}

const COLUMNS: &str = "id, username, display_name, kind, cccd, mst, phone, email, agency_code, \
                       title, disabled, totp_secret IS NOT NULL, created_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Account, sqlx::Error> {
    let disabled: i64 = r.try_get(10)?;
    let totp: bool = match r.try_get::<bool, _>(11) {
        Ok(b) => b,
        Err(_) => r.try_get::<i64, _>(11)? != 0,
    };
    Ok(Account {
        id: r.try_get(0)?,
        username: r.try_get(1)?,
        display_name: r.try_get(2)?,
        kind: r.try_get(3)?,
        cccd: r.try_get(4)?,
        mst: r.try_get(5)?,
        phone: r.try_get(6)?,
        email: r.try_get(7)?,
        agency_code: r.try_get(8)?,
        title: r.try_get(9)?,
        disabled: disabled != 0,
        totp_enabled: totp,
        roles: Vec::new(),
        created_at: r.try_get(12)?,
    })
}

fn normalise_username(s: &str) -> String {
    text::clean(s).to_lowercase()
}

fn check_staff_username(s: &str) -> Result<String, Invalid> {
    let u = normalise_username(s);
    let ok = (3..=40).contains(&u.len())
        && u.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && u.as_bytes()[0].is_ascii_alphabetic();
    if ok {
        Ok(u)
    } else {
        Err(Invalid::new(
            "username_format",
            "Tên đăng nhập gồm 3–40 ký tự a–z, 0–9, dấu chấm, gạch ngang hoặc gạch dưới, bắt đầu bằng chữ cái",
            "The user name needs 3–40 characters a–z, 0–9, '.', '-' or '_', starting with a letter",
        ))
    }
}

fn opt(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// What [`create`] returns: the account, and for accounts that must use TOTP the
/// provisioning URI to show once (otpauth://…).
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub account: Account,
    pub totp_uri: Option<String>,
}

/// Validate and create an account with its roles, audited, in one transaction. Staff whose
/// roles require a second factor get a TOTP secret at once.
pub async fn create(db: &Db, ctx: &Ctx, new: &NewAccount) -> Result<Created, AppError> {
    let mut errs = FieldErrors::new();
    let kind = errs.check(
        "kind",
        AccountKind::parse(new.kind.trim()).ok_or_else(|| {
            Invalid::new(
                "kind_unknown",
                "Loại tài khoản phải là citizen, enterprise, household_business hoặc staff",
                "Account kind must be citizen, enterprise, household_business or staff",
            )
        }),
    );
    let display_name = errs.check("display_name", validate::length(&new.display_name, 2, 200));
    let cccd = opt(&new.cccd).and_then(|v| errs.check("cccd", validate::cccd(v).map(|c| c.number)));
    let mst = opt(&new.mst).and_then(|v| errs.check("mst", validate::mst(v).map(|m| m.canonical)));
    let phone = opt(&new.phone).and_then(|v| errs.check("phone", validate::phone(v)));
    let email = opt(&new.email).and_then(|v| errs.check("email", validate::email(v)));
    let username = match kind {
        Some(AccountKind::Citizen) => {
            if cccd.is_none() && opt(&new.cccd).is_none() {
                errs.push(
                    "cccd",
                    Invalid::new(
                        "required",
                        "Công dân đăng ký bằng số CCCD: vui lòng nhập số CCCD",
                        "Citizens register with their CCCD number: please enter it",
                    ),
                );
            }
            cccd.clone()
        }
        Some(AccountKind::Enterprise | AccountKind::HouseholdBusiness) => {
            if mst.is_none() && opt(&new.mst).is_none() {
                errs.push(
                    "mst",
                    Invalid::new(
                        "required",
                        "Doanh nghiệp, hộ kinh doanh đăng ký bằng mã số thuế: vui lòng nhập MST",
                        "Enterprises and household businesses register with their tax code",
                    ),
                );
            }
            mst.clone()
        }
        Some(AccountKind::Staff) => {
            if opt(&new.agency_code).is_none() {
                errs.push(
                    "agency_code",
                    Invalid::new(
                        "required",
                        "Cán bộ phải thuộc một cơ quan: vui lòng chọn cơ quan",
                        "Staff must belong to an agency: please choose one",
                    ),
                );
            }
            match opt(&new.username) {
                Some(u) => errs.check("username", check_staff_username(u)),
                None => {
                    errs.push(
                        "username",
                        Invalid::new(
                            "required",
                            "Vui lòng nhập tên đăng nhập",
                            "Please enter a user name",
                        ),
                    );
                    None
                }
            }
        }
        None => None,
    };
    // Checked even when the identifier is invalid, so that every problem is reported at once
    // (the "must not contain the user name" rule then waits for a valid identifier).
    errs.check(
        "password",
        password::check_policy(&new.password, username.as_deref().unwrap_or_default()),
    );
    if let Some(k) = kind {
        for (i, a) in new.roles.iter().enumerate() {
            if k != AccountKind::Staff && a.role.is_staff() {
                errs.push(
                    &format!("roles[{i}]"),
                    Invalid::new(
                        "role_not_for_kind",
                        format!("Vai trò \"{}\" chỉ dành cho cán bộ", a.role.name_vi()),
                        format!("The role {} is for staff accounts only", a.role.as_str()),
                    ),
                );
            }
        }
    }
    errs.into_result()?;
    let (Some(kind), Some(display_name), Some(username)) = (kind, display_name, username) else {
        return Err(AppError::internal("validated account lacks a field"));
    };
    let password_hash = password::hash(&new.password)?;
    let mut roles = new.roles.clone();
    if roles.is_empty() {
        roles.push(RoleAssignment {
            role: match kind {
                AccountKind::Citizen => Role::Citizen,
                AccountKind::Enterprise | AccountKind::HouseholdBusiness => Role::Enterprise,
                AccountKind::Staff => Role::Specialist,
            },
            scope: match kind {
                AccountKind::Staff => {
                    Scope::Agency(opt(&new.agency_code).unwrap_or_default().to_string())
                }
                _ => Scope::Own,
            },
        });
    }
    let totp_secret = roles
        .iter()
        .any(|a| a.role.requires_totp())
        .then(crate::auth::new_totp_secret);
    let id = uuid::Uuid::now_v7().to_string();
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    let insert = sqlx::query(
        "INSERT INTO users (id, username, display_name, search_key, kind, cccd, mst, phone, email, \
         agency_code, title, password_hash, totp_secret, disabled, created_at, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,0,$14,$14)",
    )
    .bind(&id)
    .bind(&username)
    .bind(&display_name)
    .bind(format!("{} {}", text::fold(&display_name), username))
    .bind(kind.as_str())
    .bind(&cccd)
    .bind(&mst)
    .bind(&phone)
    .bind(&email)
    .bind(opt(&new.agency_code))
    .bind(opt(&new.title).map(text::clean))
    .bind(&password_hash)
    .bind(&totp_secret)
    .bind(now)
    .execute(tx.conn())
    .await
    .map_err(DbError::from);
    if let Err(e) = insert {
        if e.is_unique_violation() {
            let field = match kind {
                AccountKind::Citizen => "cccd",
                AccountKind::Enterprise | AccountKind::HouseholdBusiness => "mst",
                AccountKind::Staff => "username",
            };
            return Err(AppError::field(
                field,
                Invalid::new(
                    "already_registered",
                    "Đã có tài khoản với định danh này",
                    "An account with this identifier already exists",
                ),
            ));
        }
        return Err(e.into());
    }
    for a in &roles {
        insert_role(&mut tx, &id, a).await?;
    }
    if kind == AccountKind::Staff {
        crate::keys::generate_in(&mut tx, &id).await?;
    }
    let scope = opt(&new.agency_code).unwrap_or_default().to_string();
    tx.audit(&ctx.entry(
        "user.create",
        "user",
        &id,
        &scope,
        serde_json::json!({"after": {"username": username, "kind": kind.as_str(), "display_name": display_name,
            "roles": roles.iter().map(|a| format!("{}@{}:{}", a.role.as_str(), a.scope.kind(), a.scope.code())).collect::<Vec<_>>()}}),
    ))
    .await?;
    tx.emit(
        "identity.user_created",
        &serde_json::json!({"user_id": id, "kind": kind.as_str()}),
    )
    .await?;
    tx.commit().await?;
    let account = get(db, &id).await?.ok_or_else(AppError::not_found)?;
    let totp_uri = totp_secret
        .as_deref()
        .map(|s| crate::auth::totp_uri(s, &account.username));
    Ok(Created { account, totp_uri })
}

async fn insert_role(tx: &mut WriteTx, user_id: &str, a: &RoleAssignment) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO role_assignments (user_id, role, scope_kind, scope_code) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .bind(a.role.as_str())
    .bind(a.scope.kind())
    .bind(a.scope.code())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Roles of an account.
pub async fn roles_of(db: &Db, user_id: &str) -> Result<Vec<RoleAssignment>, DbError> {
    let rows = sqlx::query(
        "SELECT role, scope_kind, scope_code FROM role_assignments WHERE user_id = $1 ORDER BY role, scope_code",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let role: String = r.try_get(0)?;
        let kind: String = r.try_get(1)?;
        let code: String = r.try_get(2)?;
        if let (Some(role), Some(scope)) = (Role::parse(&role), Scope::from_parts(&kind, &code)) {
            out.push(RoleAssignment { role, scope });
        }
    }
    Ok(out)
}

/// An account by id, with its roles.
pub async fn get(db: &Db, id: &str) -> Result<Option<Account>, DbError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    match row {
        Some(r) => {
            let mut a = from_row(&r)?;
            a.roles = roles_of(db, &a.id).await?;
            Ok(Some(a))
        }
        None => Ok(None),
    }
}

/// The stored form of a user name as typed: a CCCD or tax code in its canonical form (spaces,
/// dots and dashes as the person typed them do not matter), a staff name in lower case.
pub fn canonical_username(typed: &str) -> String {
    let cleaned = normalise_username(typed);
    if let Ok(c) = validate::cccd(&cleaned) {
        return c.number;
    }
    if let Ok(m) = validate::mst(&cleaned) {
        return m.canonical;
    }
    cleaned.replace(' ', "")
}

/// An account by user name (CCCD, MST or staff user name; case and separators ignored).
pub async fn get_by_username(db: &Db, username: &str) -> Result<Option<Account>, DbError> {
    let u = canonical_username(username);
    let id: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(&u)
        .fetch_optional(db.pool())
        .await?;
    match id {
        Some(id) => get(db, &id).await,
        None => Ok(None),
    }
}

/// Filter for [`list`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AccountFilter {
    /// Words in the name or user name, diacritics ignored.
    pub q: Option<String>,
    pub kind: Option<String>,
    /// Only accounts of these agencies (the caller's authorised subtree).
    pub agency_codes: Option<Vec<String>>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Search accounts, sorted by name in Vietnamese order.
pub async fn list(db: &Db, f: &AccountFilter) -> Result<Vec<Account>, DbError> {
    let mut sql = format!("SELECT {COLUMNS} FROM users WHERE 1=1");
    let mut binds: Vec<String> = Vec::new();
    if let Some(q) = f.q.as_deref().map(text::fold).filter(|q| !q.is_empty()) {
        for word in q.split(' ') {
            binds.push(format!("%{}%", word.replace(['%', '_'], "")));
            sql.push_str(&format!(" AND search_key LIKE ${}", binds.len()));
        }
    }
    if let Some(k) = &f.kind {
        binds.push(k.clone());
        sql.push_str(&format!(" AND kind = ${}", binds.len()));
    }
    if let Some(codes) = &f.agency_codes {
        if codes.is_empty() {
            return Ok(Vec::new());
        }
        let mut marks = Vec::new();
        for c in codes {
            binds.push(c.clone());
            marks.push(format!("${}", binds.len()));
        }
        sql.push_str(&format!(" AND agency_code IN ({})", marks.join(",")));
    }
    sql.push_str(" ORDER BY search_key");
    let mut q = sqlx::query(&sql);
    for b in &binds {
        q = q.bind(b);
    }
    let rows = q.fetch_all(db.pool()).await?;
    let mut out: Vec<Account> = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    // Each Vietnamese sort key is built once per row, not once per comparison.
    out.sort_by_cached_key(|a| text::sort_key(&a.display_name));
    let offset = f.offset.unwrap_or(0).max(0) as usize;
    let limit = f.limit.unwrap_or(50).clamp(1, 500) as usize;
    let mut page: Vec<Account> = out.into_iter().skip(offset).take(limit).collect();
    for a in &mut page {
        a.roles = roles_of(db, &a.id).await?;
    }
    Ok(page)
}

/// Disable or re-enable an account. Disabling ends its sessions and revokes its tokens.
pub async fn set_disabled(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    disabled: bool,
) -> Result<Account, AppError> {
    let before = get(db, id).await?.ok_or_else(AppError::not_found)?;
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
        .bind(i64::from(disabled))
        .bind(now)
        .bind(id)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
    if disabled {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(tx.conn())
            .await
            .map_err(DbError::from)?;
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
    }
    tx.audit(&ctx.entry(
        if disabled { "user.disable" } else { "user.enable" },
        "user",
        id,
        before.agency_code.as_deref().unwrap_or_default(),
        serde_json::json!({"before": {"disabled": before.disabled}, "after": {"disabled": disabled}}),
    ))
    .await?;
    tx.commit().await?;
    get(db, id).await?.ok_or_else(AppError::not_found)
}

/// Set a new password (by an administrator or by the user), ending other sessions and
/// clearing any lockout.
pub async fn reset_password(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    new_password: &str,
) -> Result<(), AppError> {
    let acc = get(db, id).await?.ok_or_else(AppError::not_found)?;
    password::check_policy(new_password, &acc.username)
        .map_err(|e| AppError::field("password", e))?;
    let hash = password::hash(new_password)?;
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(&hash)
        .bind(now_micros())
        .bind(id)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(id)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
    sqlx::query("DELETE FROM login_throttle WHERE username = $1")
        .bind(&acc.username)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
    tx.audit(&ctx.entry(
        "user.reset_password",
        "user",
        id,
        acc.agency_code.as_deref().unwrap_or_default(),
        serde_json::json!({"after": {"password": "changed"}}),
    ))
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Grant a role within a scope.
pub async fn assign_role(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    a: &RoleAssignment,
) -> Result<Account, AppError> {
    let acc = get(db, id).await?.ok_or_else(AppError::not_found)?;
    if acc.kind != AccountKind::Staff.as_str() && a.role.is_staff() {
        return Err(AppError::field(
            "role",
            Invalid::new(
                "role_not_for_kind",
                format!("Vai trò \"{}\" chỉ dành cho cán bộ", a.role.name_vi()),
                format!("The role {} is for staff accounts only", a.role.as_str()),
            ),
        ));
    }
    let mut tx = db.begin_write().await?;
    insert_role(&mut tx, id, a).await?;
    if a.role.requires_totp() && !acc.totp_enabled {
        sqlx::query("UPDATE users SET totp_secret = $1 WHERE id = $2")
            .bind(crate::auth::new_totp_secret())
            .bind(id)
            .execute(tx.conn())
            .await
            .map_err(DbError::from)?;
    }
    tx.audit(&ctx.entry(
        "user.assign_role",
        "user",
        id,
        acc.agency_code.as_deref().unwrap_or_default(),
        serde_json::json!({"after": {"role": a.role.as_str(), "scope": a.scope}}),
    ))
    .await?;
    tx.commit().await?;
    get(db, id).await?.ok_or_else(AppError::not_found)
}

/// The principal for an account that has just authenticated.
pub fn principal_of(acc: &Account, method: AuthMethod) -> Principal {
    Principal {
        user_id: acc.id.clone(),
        username: acc.username.clone(),
        display_name: acc.display_name.clone(),
        kind: acc.kind.clone(),
        agency_code: acc.agency_code.clone(),
        roles: acc.roles.clone(),
        method,
    }
}
