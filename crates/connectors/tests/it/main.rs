//! Connector tests on a real database (SQLite by default, PostgreSQL when
//! `TINHSO_TEST_PG_URL` is set), against the loopback simulators: the DVCQG sync of dossiers
//! through several statuses, retries, refusals and the sync rate; population verification;
//! customs decisions recorded on border trips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod customs;
mod dvcqg;
mod population;

use tinhso_store::migrate::STORE_MIGRATIONS;
use tinhso_store::test_support::{fresh, TestDb};
use tinhso_store::Db;

/// The audit contexts of the services crate's shared test set-up (its `testing` feature).
pub use tinhso_services::testing::{ctx_of, sys};

/// A fresh database with every table the connectors touch, the agency tree, the procedure
/// catalogue and the border gates.
pub async fn env() -> TestDb {
    let t = fresh(&[
        STORE_MIGRATIONS,
        tinhso_identity::MIGRATIONS,
        tinhso_refdata::MIGRATIONS,
        tinhso_services::MIGRATIONS,
        tinhso_border::MIGRATIONS,
        tinhso_exchange::MIGRATIONS,
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

pub async fn count(db: &Db, sql: &str) -> i64 {
    tinhso_store::db::count(db, sql).await.unwrap()
}
