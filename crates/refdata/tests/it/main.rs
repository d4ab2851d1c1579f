//! Reference-data tests: the agency tree, contact updates, search, calendar overrides and the
//! authorization matrix over real agencies. They run on SQLite by default and on PostgreSQL
//! when `TINHSO_TEST_PG_URL` is set (each test in a fresh database).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agencies;
mod authz;
mod calendar;

use tinhso_refdata::agencies::{self as ag, Agency};
use tinhso_store::audit::{self, AuditEntry, AuditFilter, Ctx};
use tinhso_store::migrate::STORE_MIGRATIONS;
use tinhso_store::test_support::{fresh, TestDb};
use tinhso_store::Db;

/// The province People's Committee, root of the provincial administration.
pub const ROOT: &str = "000.00.00.H37";

pub async fn db() -> TestDb {
    fresh(&[
        STORE_MIGRATIONS,
        tinhso_identity::MIGRATIONS,
        tinhso_refdata::MIGRATIONS,
    ])
    .await
}

/// A fresh database with the agency tree seeded.
pub async fn seeded() -> TestDb {
    let t = db().await;
    assert_eq!(ag::seed(&t.db, &ctx()).await.unwrap(), 95);
    t
}

pub fn ctx() -> Ctx {
    Ctx {
        actor: "cli:test".into(),
        request_id: "req-test".into(),
    }
}

pub async fn count(db: &Db, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(db.pool())
        .await
        .unwrap()
}

/// Every agency, in list order.
pub async fn all(db: &Db) -> Vec<Agency> {
    ag::list(
        db,
        &ag::AgencyFilter {
            limit: Some(2000),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// The commune People's Committee of an administrative unit.
pub async fn ubnd_xa(db: &Db, admin_unit_code: &str) -> Agency {
    let found: Vec<Agency> = all(db)
        .await
        .into_iter()
        .filter(|a| a.kind == "ubnd_xa" && a.admin_unit_code.as_deref() == Some(admin_unit_code))
        .collect();
    assert_eq!(found.len(), 1, "one ubnd_xa for {admin_unit_code}");
    found.into_iter().next().unwrap()
}

/// Audit entries with this action, oldest first.
pub async fn audited(db: &Db, action: &str) -> Vec<AuditEntry> {
    let mut v = audit::list(
        db,
        &AuditFilter {
            action: Some(action.into()),
            limit: Some(500),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    v.reverse();
    v
}

/// `(field, code)` of every field error, in order.
pub fn fields(e: &tinhso_kernel::AppError) -> Vec<(String, &'static str)> {
    e.fields.iter().map(|f| (f.field.clone(), f.code)).collect()
}
