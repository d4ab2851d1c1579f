//! Migrations (di chuyển lược đồ): each module crate contributes a slice of [`Migration`]s
//! with its own version range (store 1000–1999, identity 2000–2999, refdata 3000–3999, …).
//! SQL is portable between SQLite and PostgreSQL; the token `{blob}` becomes `BLOB` or `BYTEA`.
//! Every migration runs in its own transaction (both engines have transactional DDL).

use crate::db::{now_micros, Backend, Db, DbError};
use sqlx::{Executor, Row};

/// One schema change.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// The store's own tables: migrations ledger, audit trail, outbox, files, idempotency keys.
pub const STORE_MIGRATIONS: &[Migration] = &[Migration {
    version: 1001,
    name: "audit trail, outbox, files, idempotency",
    sql: include_str!("../migrations/1001_store.sql"),
}];

fn render(sql: &str, backend: Backend) -> String {
    let blob = match backend {
        Backend::Sqlite => "BLOB",
        Backend::Postgres => "BYTEA",
    };
    sql.replace("{blob}", blob)
}

/// Apply every migration not yet applied, in version order. Returns the versions applied now.
/// Safe to call from several processes at once: PostgreSQL serialises on an advisory lock,
/// SQLite on its single writer.
pub async fn run(db: &Db, sets: &[&[Migration]]) -> Result<Vec<i64>, DbError> {
    let mut all: Vec<Migration> = sets.iter().flat_map(|s| s.iter().copied()).collect();
    all.sort_by_key(|m| m.version);
    for pair in all.windows(2) {
        if pair[0].version == pair[1].version {
            return Err(DbError::Invalid(format!(
                "two migrations share version {}",
                pair[0].version
            )));
        }
    }
    {
        let mut tx = db.begin_write().await?;
        tx.conn()
            .execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, \
                 name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
            )
            .await?;
        tx.commit().await?;
    }
    let mut applied_now = Vec::new();
    for m in all {
        let mut tx = db.begin_write().await?;
        if db.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(72430115)")
                .execute(tx.conn())
                .await?;
        }
        let done = sqlx::query("SELECT version FROM schema_migrations WHERE version = $1")
            .bind(m.version)
            .fetch_optional(tx.conn())
            .await?;
        if done.is_some() {
            continue;
        }
        let sql = render(m.sql, db.backend());
        tx.conn().execute(sql.as_str()).await.map_err(|e| {
            DbError::Invalid(format!("migration {} ({}) failed: {e}", m.version, m.name))
        })?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(now_micros())
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "migration applied");
        applied_now.push(m.version);
    }
    Ok(applied_now)
}

/// Versions already applied, ascending.
pub async fn applied(db: &Db) -> Result<Vec<i64>, DbError> {
    let rows = sqlx::query("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| r.try_get::<i64, _>(0).map_err(DbError::from))
        .collect()
}
