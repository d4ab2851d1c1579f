//! Connector tests on a real database (SQLite by default, PostgreSQL when
//! `TINHSO_TEST_PG_URL` is set), against the loopback simulators: the DVCQG sync of dossiers
//! through several statuses, retries, refusals and the sync rate; population verification;
//! customs decisions recorded on border trips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod customs;
mod dvcqg;
mod population;

use tinhso_identity::accounts::{self as acc, NewAccount};
use tinhso_identity::authz::{AuthMethod, RoleAssignment};
use tinhso_identity::{Principal, Role, Scope};
use tinhso_store::audit::Ctx;
use tinhso_store::migrate::STORE_MIGRATIONS;
use tinhso_store::test_support::{fresh, TestDb};
use tinhso_store::Db;

pub const PW: &str = "Mật khẩu Lạng Sơn 2026";

/// A fresh database with every table the connectors touch, the agency tree, the procedure
/// catalogue and the border gates.
pub async fn env() -> TestDb {
    let t = fresh(&[
        STORE_MIGRATIONS,
        tinhso_identity::MIGRATIONS,
        tinhso_refdata::MIGRATIONS,
        tinhso_services::MIGRATIONS,
        tinhso_border::MIGRATIONS,
        tinhso_connectors::MIGRATIONS,
    ])
    .await;
    tinhso_refdata::agencies::seed(&t.db, &sys()).await.unwrap();
    tinhso_services::catalogue::seed(&t.db, &sys())
        .await
        .unwrap();
    tinhso_border::gates::seed(&t.db).await.unwrap();
    t
}

pub fn sys() -> Ctx {
    Ctx {
        actor: "cli:test".into(),
        request_id: "req-test".into(),
    }
}

pub fn ctx_of(p: &Principal) -> Ctx {
    Ctx {
        actor: p.actor(),
        request_id: "req-test".into(),
    }
}

pub async fn count(db: &Db, sql: &str) -> i64 {
    tinhso_store::db::count(db, sql).await.unwrap()
}

/// A staff member of `agency` holding `role` in `scope` (with a signing key).
pub async fn staff(db: &Db, username: &str, agency: &str, role: Role, scope: Scope) -> Principal {
    let created = acc::create(
        db,
        &sys(),
        &NewAccount {
            username: Some(username.into()),
            display_name: format!("Cán bộ {username}"),
            kind: "staff".into(),
            agency_code: Some(agency.into()),
            password: PW.into(),
            roles: vec![RoleAssignment { role, scope }],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    acc::principal_of(&created.account, AuthMethod::Session)
}
