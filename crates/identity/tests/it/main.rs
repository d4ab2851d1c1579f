//! Identity tests: accounts, sign-in, sessions, API tokens, signing keys and their audit trail.
//! They run on SQLite by default and on PostgreSQL when `TINHSO_TEST_PG_URL` is set (each test
//! in a fresh database).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod audit;
mod keys;
mod login;
mod sessions;
mod tokens;

use tinhso_identity::accounts::{self as acc, Created, NewAccount};
use tinhso_identity::auth::{self, LoginInput, NewSession};
use tinhso_identity::authz::RoleAssignment;
use tinhso_identity::{Role, Scope};
use tinhso_kernel::AppError;
use tinhso_store::audit::Ctx;
use tinhso_store::migrate::STORE_MIGRATIONS;
use tinhso_store::test_support::{fresh, TestDb};
use tinhso_store::Db;

/// A password that satisfies the policy for every user name used here.
pub const PW: &str = "Mật khẩu Lạng Sơn 2026";
/// A valid CCCD: birth registered in Lạng Sơn (020), woman born in 1990.
pub const CCCD: &str = "020190001234";
/// Agency codes (from the Lạng Sơn agency tree) used as staff homes.
pub const TAM_THANH: &str = "000.00.23.H37";
pub const SO_KHCN: &str = "000.00.06.H37";

/// A fresh database with the store and identity tables. (The refdata tables are not needed
/// here, and identity must not depend on refdata, not even for tests: refdata depends on it.)
pub async fn db() -> TestDb {
    fresh(&[STORE_MIGRATIONS, tinhso_identity::MIGRATIONS]).await
}

pub fn ctx() -> Ctx {
    Ctx {
        actor: "cli:test".into(),
        request_id: "req-test".into(),
    }
}

/// A valid 10-digit MST whose first nine digits are `0100` followed by `n` (5 digits), with
/// the check digit computed; skips the prefixes that have no valid check digit.
pub fn valid_mst(mut n: u32) -> String {
    loop {
        let s = format!("0100{n:05}");
        let mut d = [0u8; 9];
        for (i, b) in s.bytes().enumerate() {
            d[i] = b - b'0';
        }
        if let Some(c) = tinhso_kernel::validate::mst_check_digit(&d) {
            return format!("{s}{c}");
        }
        n += 1;
    }
}

pub fn citizen(cccd: &str) -> NewAccount {
    NewAccount {
        display_name: "Nguyễn Thị Lan".into(),
        kind: "citizen".into(),
        cccd: Some(cccd.into()),
        phone: Some("0912 345 678".into()),
        email: Some("lan.nguyen@example.vn".into()),
        password: PW.into(),
        ..Default::default()
    }
}

pub fn enterprise(mst: &str) -> NewAccount {
    NewAccount {
        display_name: "Công ty TNHH Hoa Hồi Xứ Lạng".into(),
        kind: "enterprise".into(),
        mst: Some(mst.into()),
        password: PW.into(),
        ..Default::default()
    }
}

pub fn staff(username: &str, agency: &str, roles: Vec<(Role, Scope)>) -> NewAccount {
    NewAccount {
        username: Some(username.into()),
        display_name: format!("Cán bộ {username}"),
        kind: "staff".into(),
        agency_code: Some(agency.into()),
        title: Some("Chuyên viên".into()),
        password: PW.into(),
        roles: roles
            .into_iter()
            .map(|(role, scope)| RoleAssignment { role, scope })
            .collect(),
        ..Default::default()
    }
}

pub async fn create(db: &Db, new: &NewAccount) -> Created {
    acc::create(db, &ctx(), new).await.unwrap_or_else(|e| {
        panic!(
            "create {:?}: {e}",
            new.username.as_ref().or(new.cccd.as_ref())
        )
    })
}

pub async fn count(db: &Db, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(db.pool())
        .await
        .unwrap()
}

/// Row counts of every table an account operation may write.
pub async fn counts(db: &Db) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for t in [
        "users",
        "role_assignments",
        "signing_keys",
        "sessions",
        "api_tokens",
        "login_throttle",
        "audit_log",
        "outbox",
    ] {
        out.push((t, count(db, t).await));
    }
    out
}

pub async fn login(
    db: &Db,
    username: &str,
    password: &str,
    totp: Option<&str>,
) -> Result<(acc::Account, NewSession), AppError> {
    auth::login(
        db,
        &ctx(),
        &LoginInput {
            username: username.into(),
            password: password.into(),
            totp: totp.map(str::to_string),
            ip: "203.0.113.7".into(),
            user_agent: "it-test".into(),
        },
    )
    .await
}

/// `(field, code)` of every field error, in order.
pub fn fields(e: &AppError) -> Vec<(String, &'static str)> {
    e.fields.iter().map(|f| (f.field.clone(), f.code)).collect()
}
