//! Sign-in (đăng nhập): passwords, TOTP, lockout with back-off, sessions and API tokens.

use crate::accounts::{self, Account};
use crate::authz::{AuthMethod, Permission, Principal};
use crate::password;
use base64::Engine;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use tinhso_kernel::{AppError, ErrorCode, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::{now_micros, Db, DbError};
use totp_rs::{Algorithm, Secret, TOTP};

/// Failures allowed before the account name is locked.
pub const LOCKOUT_THRESHOLD: i64 = 5;
/// A session ends after this long without use.
pub const SESSION_IDLE_MICROS: i64 = 2 * 3600 * 1_000_000;
/// A session ends this long after sign-in, whatever happens.
pub const SESSION_ABSOLUTE_MICROS: i64 = 12 * 3600 * 1_000_000;
/// Issuer shown in authenticator apps.
pub const TOTP_ISSUER: &str = "Tinh so";

fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// SHA-256 of a bearer secret; only this is stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new TOTP secret, base32 (RFC 4648, no padding), 160 bits.
pub fn new_totp_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    match Secret::Raw(bytes.to_vec()).to_encoded() {
        Secret::Encoded(s) => s,
        Secret::Raw(_) => String::new(),
    }
}

fn totp_for(secret_b32: &str) -> Option<TOTP> {
    let raw = Secret::Encoded(secret_b32.to_string()).to_bytes().ok()?;
    TOTP::new(Algorithm::SHA1, 6, 1, 30, raw).ok()
}

/// The otpauth:// URI to load a secret into an authenticator app.
pub fn totp_uri(secret_b32: &str, account: &str) -> String {
    format!(
        "otpauth://totp/{TOTP_ISSUER}:{account}?secret={secret_b32}&issuer=Tinh%20so&algorithm=SHA1&digits=6&period=30"
    )
}

/// The code for a secret at a Unix time (tests use the next step's code, which is also valid).
pub fn totp_at(secret_b32: &str, unix_secs: u64) -> Option<String> {
    Some(totp_for(secret_b32)?.generate(unix_secs))
}

/// The current code for a secret (used by the demo tooling and tests).
pub fn totp_now(secret_b32: &str) -> Option<String> {
    totp_for(secret_b32)?.generate_current().ok()
}

/// The 30-second step a code belongs to (the current one or one either side), if it is valid.
fn totp_step(secret_b32: &str, code: &str) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let totp = totp_for(secret_b32)?;
    let now = (now_micros() / 1_000_000) as u64;
    let step = now / 30;
    [step.saturating_sub(1), step, step + 1]
        .into_iter()
        .find(|s| totp.generate(s * 30) == code)
        .map(|s| s as i64)
}

/// Input to [`login`].
#[derive(Debug, Clone, Default)]
pub struct LoginInput {
    pub username: String,
    pub password: String,
    pub totp: Option<String>,
    pub ip: String,
    pub user_agent: String,
}

/// A new browser session. `token` goes into the cookie and is never stored.
#[derive(Debug, Clone, Serialize)]
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
    pub user_id: String,
    pub expires_at: i64,
}

async fn record_failure(db: &Db, ctx: &Ctx, username: &str, reason: &str) -> Result<(), AppError> {
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    let failures: i64 = sqlx::query_scalar(
        "INSERT INTO login_throttle (username, failures, locked_until) VALUES ($1, 1, 0) \
         ON CONFLICT (username) DO UPDATE SET failures = login_throttle.failures + 1 RETURNING failures",
    )
    .bind(username)
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    if failures >= LOCKOUT_THRESHOLD {
        // 30 s after the 5th failure, doubling with each further one, at most 1 hour.
        let secs = (30i64 << (failures - LOCKOUT_THRESHOLD).min(7)).min(3600);
        sqlx::query("UPDATE login_throttle SET locked_until = $1 WHERE username = $2")
            .bind(now + secs * 1_000_000)
            .bind(username)
            .execute(tx.conn())
            .await
            .map_err(DbError::from)?;
    }
    tx.audit(&ctx.entry(
        "auth.login_failed",
        "username",
        username,
        "",
        serde_json::json!({"reason": reason, "failures": failures}),
    ))
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Seconds the user name is still locked for, if it is.
async fn locked_for(db: &Db, username: &str) -> Result<Option<i64>, DbError> {
    let until: Option<i64> =
        sqlx::query_scalar("SELECT locked_until FROM login_throttle WHERE username = $1")
            .bind(username)
            .fetch_optional(db.pool())
            .await?;
    let now = now_micros();
    Ok(until
        .filter(|u| *u > now)
        .map(|u| (u - now) / 1_000_000 + 1))
}

async fn password_hash_and_totp(
    db: &Db,
    id: &str,
) -> Result<(String, Option<String>, i64), DbError> {
    let r =
        sqlx::query("SELECT password_hash, totp_secret, totp_last_step FROM users WHERE id = $1")
            .bind(id)
            .fetch_one(db.pool())
            .await?;
    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
}

/// Check credentials and open a session. Wrong user name and wrong password give the same
/// error and take the same time; five failures lock the name with a growing back-off.
pub async fn login(
    db: &Db,
    ctx: &Ctx,
    input: &LoginInput,
) -> Result<(Account, NewSession), AppError> {
    let username = accounts::canonical_username(&input.username);
    if username.is_empty() || input.password.is_empty() {
        let mut errs = tinhso_kernel::FieldErrors::new();
        if username.is_empty() {
            errs.push(
                "username",
                Invalid::new(
                    "required",
                    "Vui lòng nhập tên đăng nhập",
                    "Please enter your user name",
                ),
            );
        }
        if input.password.is_empty() {
            errs.push(
                "password",
                Invalid::new(
                    "required",
                    "Vui lòng nhập mật khẩu",
                    "Please enter your password",
                ),
            );
        }
        errs.into_result()?;
    }
    if let Some(secs) = locked_for(db, &username).await? {
        return Err(AppError::new(ErrorCode::AccountLocked).with_detail(
            format!("Vui lòng thử lại sau {secs} giây"),
            format!("Try again in {secs} seconds"),
        ));
    }
    let account = accounts::get_by_username(db, &username).await?;
    let Some(account) = account else {
        password::verify_dummy(&input.password);
        record_failure(db, ctx, &username, "unknown_user").await?;
        return Err(AppError::new(ErrorCode::InvalidCredentials));
    };
    let (hash, totp_secret, last_step) = password_hash_and_totp(db, &account.id).await?;
    if !password::verify(&input.password, &hash) {
        record_failure(db, ctx, &username, "wrong_password").await?;
        return Err(AppError::new(ErrorCode::InvalidCredentials));
    }
    if account.disabled {
        return Err(AppError::new(ErrorCode::AccountDisabled));
    }
    let mut used_step = None;
    if let Some(secret) = &totp_secret {
        match input
            .totp
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            None => return Err(AppError::new(ErrorCode::TotpRequired)),
            Some(code) => match totp_step(secret, code) {
                // A code is good once: a replay within its window is refused.
                Some(step) if step > last_step => used_step = Some(step),
                _ => {
                    record_failure(db, ctx, &username, "wrong_totp").await?;
                    return Err(AppError::new(ErrorCode::TotpInvalid));
                }
            },
        }
    }
    let now = now_micros();
    let session = NewSession {
        token: random_token("tss_"),
        csrf_token: random_token(""),
        user_id: account.id.clone(),
        expires_at: now + SESSION_ABSOLUTE_MICROS,
    };
    let ctx = Ctx {
        actor: format!("user:{}", account.id),
        request_id: ctx.request_id.clone(),
    };
    let mut tx = db.begin_write().await?;
    if let Some(step) = used_step {
        let n = sqlx::query(
            "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1",
        )
        .bind(step)
        .bind(&account.id)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?
        .rows_affected();
        if n == 0 {
            return Err(AppError::new(ErrorCode::TotpInvalid));
        }
    }
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, ip, user_agent) \
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
    )
    .bind(token_hash(&session.token))
    .bind(&account.id)
    .bind(&session.csrf_token)
    .bind(now)
    .bind(session.expires_at)
    .bind(&input.ip)
    .bind(input.user_agent.chars().take(300).collect::<String>())
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    sqlx::query("DELETE FROM login_throttle WHERE username = $1")
        .bind(&username)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
    tx.audit(&ctx.entry(
        "auth.login",
        "user",
        &account.id,
        account.agency_code.as_deref().unwrap_or_default(),
        serde_json::json!({"ip": input.ip, "second_factor": totp_secret.is_some()}),
    ))
    .await?;
    tx.commit().await?;
    Ok((account, session))
}

/// A live session, as seen by the web layer.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub principal: Principal,
    pub csrf_token: String,
}

/// Why a session cookie did not resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Missing,
    Expired,
}

/// Resolve a session cookie. Expired sessions are deleted; live ones slide their idle timer.
pub async fn session(db: &Db, token: &str) -> Result<Result<SessionInfo, SessionState>, AppError> {
    let h = token_hash(token);
    let row = sqlx::query(
        "SELECT user_id, csrf_token, last_seen_at, expires_at FROM sessions WHERE token_hash = $1",
    )
    .bind(&h)
    .fetch_optional(db.pool())
    .await
    .map_err(DbError::from)?;
    let Some(row) = row else {
        return Ok(Err(SessionState::Missing));
    };
    let user_id: String = row.try_get(0).map_err(DbError::from)?;
    let csrf_token: String = row.try_get(1).map_err(DbError::from)?;
    let last_seen: i64 = row.try_get(2).map_err(DbError::from)?;
    let expires: i64 = row.try_get(3).map_err(DbError::from)?;
    let now = now_micros();
    if now > expires || now - last_seen > SESSION_IDLE_MICROS {
        let mut tx = db.begin_write().await?;
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(&h)
            .execute(tx.conn())
            .await
            .map_err(DbError::from)?;
        tx.commit().await?;
        return Ok(Err(SessionState::Expired));
    }
    let Some(account) = accounts::get(db, &user_id).await? else {
        return Ok(Err(SessionState::Missing));
    };
    if account.disabled {
        return Ok(Err(SessionState::Missing));
    }
    // Slide the idle timer, at most once a minute (keeps reads from becoming writes).
    if now - last_seen > 60 * 1_000_000 {
        let mut tx = db.begin_write().await?;
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(&h)
            .execute(tx.conn())
            .await
            .map_err(DbError::from)?;
        tx.commit().await?;
    }
    Ok(Ok(SessionInfo {
        principal: accounts::principal_of(&account, AuthMethod::Session),
        csrf_token,
    }))
}

/// End a session.
pub async fn logout(db: &Db, ctx: &Ctx, token: &str) -> Result<(), AppError> {
    let h = token_hash(token);
    let mut tx = db.begin_write().await?;
    let user: Option<String> =
        sqlx::query_scalar("DELETE FROM sessions WHERE token_hash = $1 RETURNING user_id")
            .bind(&h)
            .fetch_optional(tx.conn())
            .await
            .map_err(DbError::from)?;
    if let Some(u) = user {
        tx.audit(&ctx.entry("auth.logout", "user", &u, "", serde_json::json!({})))
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A stored API token's metadata (the secret itself is shown once, at creation).
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Permission>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked: bool,
}

/// Issue an API token for `user_id` limited to `scopes`, valid `ttl_days` (1–365).
pub async fn create_token(
    db: &Db,
    ctx: &Ctx,
    user_id: &str,
    name: &str,
    scopes: &[Permission],
    ttl_days: i64,
) -> Result<(String, TokenInfo), AppError> {
    let mut errs = tinhso_kernel::FieldErrors::new();
    let name = errs.check("name", tinhso_kernel::validate::length(name, 1, 100));
    if scopes.is_empty() {
        errs.push(
            "scopes",
            Invalid::new(
                "required",
                "Chọn ít nhất một quyền cho mã truy cập",
                "Choose at least one scope",
            ),
        );
    }
    if !(1..=365).contains(&ttl_days) {
        errs.push(
            "ttl_days",
            Invalid::new(
                "range",
                "Thời hạn phải từ 1 đến 365 ngày",
                "The lifetime must be 1 to 365 days",
            ),
        );
    }
    errs.into_result()?;
    let name = name.unwrap_or_default();
    let acc = accounts::get(db, user_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    // A token can never carry more than its owner's roles grant.
    let principal = accounts::principal_of(&acc, AuthMethod::Session);
    if let Some(p) = scopes.iter().find(|p| !principal.can_somewhere(**p)) {
        return Err(AppError::field(
            "scopes",
            Invalid::new(
                "scope_not_held",
                format!(
                    "Bạn không có quyền {} nên không thể cấp cho mã truy cập",
                    p.as_str()
                ),
                format!("You do not hold {} so a token cannot carry it", p.as_str()),
            ),
        ));
    }
    let token = random_token("tsk_");
    let now = now_micros();
    let info = TokenInfo {
        id: uuid::Uuid::now_v7().to_string(),
        name,
        scopes: scopes.to_vec(),
        created_at: now,
        expires_at: now + ttl_days * 86_400 * 1_000_000,
        revoked: false,
    };
    let scopes_s = scopes
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, scopes, created_at, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
    )
    .bind(&info.id)
    .bind(user_id)
    .bind(&info.name)
    .bind(token_hash(&token))
    .bind(&scopes_s)
    .bind(now)
    .bind(info.expires_at)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.audit(&ctx.entry(
        "token.create",
        "api_token",
        &info.id,
        acc.agency_code.as_deref().unwrap_or_default(),
        serde_json::json!({"after": {"name": info.name, "scopes": scopes_s, "expires_at": info.expires_at}}),
    ))
    .await?;
    tx.commit().await?;
    Ok((token, info))
}

/// Resolve a bearer token into a principal restricted to the token's scopes.
pub async fn token_principal(db: &Db, token: &str) -> Result<Option<Principal>, AppError> {
    let row = sqlx::query(
        "SELECT id, user_id, scopes, expires_at, revoked_at FROM api_tokens WHERE token_hash = $1",
    )
    .bind(token_hash(token))
    .fetch_optional(db.pool())
    .await
    .map_err(DbError::from)?;
    let Some(r) = row else { return Ok(None) };
    let id: String = r.try_get(0).map_err(DbError::from)?;
    let user_id: String = r.try_get(1).map_err(DbError::from)?;
    let scopes: String = r.try_get(2).map_err(DbError::from)?;
    let expires: i64 = r.try_get(3).map_err(DbError::from)?;
    let revoked: Option<i64> = r.try_get(4).map_err(DbError::from)?;
    if revoked.is_some() || expires < now_micros() {
        return Ok(None);
    }
    let Some(acc) = accounts::get(db, &user_id).await? else {
        return Ok(None);
    };
    if acc.disabled {
        return Ok(None);
    }
    let scopes = scopes.split(' ').filter_map(Permission::parse).collect();
    Ok(Some(accounts::principal_of(
        &acc,
        AuthMethod::Token {
            token_id: id,
            scopes,
        },
    )))
}

/// Tokens of a user.
pub async fn list_tokens(db: &Db, user_id: &str) -> Result<Vec<TokenInfo>, AppError> {
    let rows = sqlx::query(
        "SELECT id, name, scopes, created_at, expires_at, revoked_at FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await
    .map_err(DbError::from)?;
    rows.iter()
        .map(|r| {
            let scopes: String = r.try_get(2)?;
            let revoked: Option<i64> = r.try_get(5)?;
            Ok(TokenInfo {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                scopes: scopes.split(' ').filter_map(Permission::parse).collect(),
                created_at: r.try_get(3)?,
                expires_at: r.try_get(4)?,
                revoked: revoked.is_some(),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| DbError::from(e).into())
}

/// Revoke a token of `user_id`.
pub async fn revoke_token(
    db: &Db,
    ctx: &Ctx,
    user_id: &str,
    token_id: &str,
) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
    )
    .bind(now_micros())
    .bind(token_id)
    .bind(user_id)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?
    .rows_affected();
    if n == 0 {
        return Err(AppError::not_found());
    }
    tx.audit(&ctx.entry(
        "token.revoke",
        "api_token",
        token_id,
        "",
        serde_json::json!({}),
    ))
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The TOTP secret of an account (for the operator's `tinhso user totp` and the demo).
pub async fn totp_secret_of(db: &Db, user_id: &str) -> Result<Option<String>, AppError> {
    Ok(password_hash_and_totp(db, user_id).await?.1)
}

/// Replace the TOTP secret of an account (enrolment, or the demo accounts' published secret).
pub async fn set_totp_secret(
    db: &Db,
    ctx: &Ctx,
    user_id: &str,
    secret_b32: &str,
) -> Result<(), AppError> {
    if totp_for(secret_b32).is_none() {
        return Err(AppError::field(
            "totp_secret",
            Invalid::new(
                "totp_secret",
                "Khóa TOTP không hợp lệ (base32, ít nhất 128 bit)",
                "Invalid TOTP secret (base32, at least 128 bits)",
            ),
        ));
    }
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE users SET totp_secret = $1, updated_at = $2 WHERE id = $3")
        .bind(secret_b32)
        .bind(now_micros())
        .bind(user_id)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
    tx.audit(&ctx.entry(
        "user.set_totp",
        "user",
        user_id,
        "",
        serde_json::json!({"after": {"totp": "enrolled"}}),
    ))
    .await?;
    tx.commit().await?;
    Ok(())
}
