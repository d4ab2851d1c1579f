//! Border gate tests on a real database: SQLite by default, PostgreSQL when
//! `TINHSO_TEST_PG_URL` is set (a fresh database per test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod checks;
mod dashboard;
mod declarations;
mod endchecks;
mod events;
mod fees;
mod gates;
mod plates;
mod sim;
mod simgate;
mod slots;

use tinhso_store::audit::Ctx;
use tinhso_store::migrate::STORE_MIGRATIONS;
use tinhso_store::test_support::{fresh, TestDb};
use tinhso_store::Db;

/// A fresh database with the border tables, the agency tree and the shipped gates, as
/// `tinhso::prepare` leaves it.
pub async fn env() -> TestDb {
    let t = fresh(&[
        STORE_MIGRATIONS,
        tinhso_identity::MIGRATIONS,
        tinhso_refdata::MIGRATIONS,
        tinhso_border::MIGRATIONS,
    ])
    .await;
    tinhso_refdata::agencies::seed(&t.db, &sys()).await.unwrap();
    assert_eq!(tinhso_border::gates::seed(&t.db).await.unwrap(), 5);
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
