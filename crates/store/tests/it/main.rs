//! Storage tests. They run on SQLite by default and on PostgreSQL when `TINHSO_TEST_PG_URL`
//! is set (each test in a fresh database).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod checkpoint;
mod close;
mod exec;
mod group;
mod keep_map;
mod migrate;
mod outbox;
mod rollup;
mod sql_profile;
mod storage;

use tinhso_store::migrate::STORE_MIGRATIONS;
use tinhso_store::test_support::{fresh, TestDb};

pub async fn db() -> TestDb {
    fresh(&[STORE_MIGRATIONS]).await
}
