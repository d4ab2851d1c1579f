//! Targets tests on a real database: plan import (idempotence, a second plan, errors), the
//! live services and border indicators against hand-computed values on fixed data sets, reported
//! values (validation, versions) and the board. SQLite by default, PostgreSQL when
//! `TINHSO_TEST_PG_URL` is set (a fresh database per test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod board;
mod border;
mod import;
mod indicators;
mod ops;
mod reported;

use tinhso_store::audit::Ctx;
use tinhso_store::migrate::STORE_MIGRATIONS;
use tinhso_store::test_support::{fresh, TestDb};
use tinhso_store::Db;

/// A fresh database with every table this module reads, the agency tree, the procedure
/// catalogue and the shipped plan, as `tinhso::prepare` leaves it.
pub async fn env() -> TestDb {
    let t = fresh(&[
        STORE_MIGRATIONS,
        tinhso_identity::MIGRATIONS,
        tinhso_refdata::MIGRATIONS,
        tinhso_services::MIGRATIONS,
        tinhso_targets::MIGRATIONS,
        tinhso_border::MIGRATIONS,
    ])
    .await;
    tinhso_refdata::agencies::seed(&t.db, &sys()).await.unwrap();
    tinhso_services::catalogue::seed(&t.db, &sys())
        .await
        .unwrap();
    assert_eq!(
        tinhso_targets::plan::seed(&t.db, &sys()).await.unwrap(),
        tinhso_targets::plan::Imported::Written(43)
    );
    t
}

pub fn sys() -> Ctx {
    Ctx {
        actor: "cli:test".into(),
        request_id: "req-test".into(),
    }
}

pub async fn count(db: &Db, sql: &str) -> i64 {
    tinhso_store::db::count(db, sql).await.unwrap()
}

pub fn ymd(y: i32, m: u32, d: u32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap()
}
