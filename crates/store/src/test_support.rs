//! Fresh databases for tests (hỗ trợ kiểm thử). Not used by the product at run time.
//!
//! By default each test gets a new SQLite file in its own temporary directory. When
//! `TINHSO_TEST_PG_URL` is set (e.g. `postgres://postgres@127.0.0.1:5432`), each test gets a
//! new PostgreSQL database instead, dropped when the [`TestDb`] is dropped. The same tests
//! therefore run on both engines.

use crate::db::{Backend, Db, DbOptions};
use crate::migrate::{self, Migration};

/// Environment variable that switches the test suites to PostgreSQL.
pub const PG_ENV: &str = "TINHSO_TEST_PG_URL";

/// A test database; dropping it removes the database.
pub struct TestDb {
    pub db: Db,
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl TestDb {
    /// The URL of this test database.
    pub fn url(&self) -> String {
        self.db.url().to_string()
    }
}

/// The backend the test suite runs on.
pub fn test_backend() -> Backend {
    if std::env::var(PG_ENV)
        .map(|v| !v.is_empty())
        .unwrap_or(false)
    {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

/// A URL for a new, empty database (not yet migrated) plus what is needed to drop it.
pub async fn fresh_url(dir: &std::path::Path) -> (String, Option<(String, String)>) {
    match std::env::var(PG_ENV) {
        Ok(admin) if !admin.is_empty() => {
            let name = format!("tinhso_t_{}", uuid::Uuid::new_v4().simple());
            let admin_db = format!("{}/postgres", admin.trim_end_matches('/'));
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&admin_db)
                .await
                .unwrap_or_else(|e| panic!("{PG_ENV}={admin}: cannot connect: {e}"));
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("create test database: {e}"));
            pool.close().await;
            (
                format!("{}/{name}", admin.trim_end_matches('/')),
                Some((admin_db, name)),
            )
        }
        _ => (format!("sqlite://{}/tinhso.db", dir.display()), None),
    }
}

/// A fresh, migrated database. Panics (it is for tests) when it cannot be made.
pub async fn fresh(migrations: &[&[Migration]]) -> TestDb {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let (url, pg) = fresh_url(dir.path()).await;
    let db = Db::connect(&url, &DbOptions::default())
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    migrate::run(&db, migrations)
        .await
        .unwrap_or_else(|e| panic!("migrate: {e}"));
    TestDb { db, dir, pg }
}

/// Drop a PostgreSQL test database (used by [`TestDb`]'s drop and by server test harnesses).
pub fn drop_pg_database(admin_db: &str, name: &str) {
    let admin_db = admin_db.to_string();
    let name = name.to_string();
    // Drop may run inside a runtime: do the async work on a thread of its own.
    let _ = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            if let Ok(pool) = sqlx::AnyPool::connect(&admin_db).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&pool)
                    .await;
                pool.close().await;
            }
        });
    })
    .join();
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg.take() {
            drop_pg_database(&admin, &name);
        }
    }
}
