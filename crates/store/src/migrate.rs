//! Migrations (di chuyển lược đồ): each module crate contributes a slice of [`Migration`]s
//! with its own version range (store 1000–1999, identity 2000–2999, refdata 3000–3999, …).
//! SQL is portable between SQLite and PostgreSQL; the token `{blob}` becomes `BLOB` or `BYTEA`.
//! Where the two dialects cannot share a text (triggers: SQLite writes the body inline,
//! PostgreSQL calls a PL/pgSQL function), a line `--@ sqlite` or `--@ postgres` starts a section
//! kept only on that engine, and `--@ all` returns to the shared text.
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

/// The store's own tables: migrations ledger, audit trail, outbox, files, idempotency keys,
/// the daily roll-ups' change marks.
pub const STORE_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1001,
        name: "audit trail, outbox, files, idempotency",
        sql: include_str!("../migrations/1001_store.sql"),
    },
    Migration {
        version: 1002,
        name: "daily roll-up change marks",
        sql: include_str!("../migrations/1002_rollups.sql"),
    },
    Migration {
        version: 1003,
        name: "roll-up change marks vacuumed every thousand changes (PostgreSQL)",
        sql: include_str!("../migrations/1003_rollup_marks_vacuum.sql"),
    },
    Migration {
        version: 1004,
        name: "audit trail and outbox keyed by rowid (SQLite)",
        sql: include_str!("../migrations/1004_rowid_keys.sql"),
    },
];

/// The text of `sql` for `backend`: `{blob}` replaced, the other engine's sections dropped.
pub fn render(sql: &str, backend: Backend) -> String {
    let (blob, mine) = match backend {
        Backend::Sqlite => ("BLOB", "sqlite"),
        Backend::Postgres => ("BYTEA", "postgres"),
    };
    let mut keep = true;
    let mut out = String::with_capacity(sql.len());
    for line in sql.lines() {
        if let Some(section) = line.trim().strip_prefix("--@") {
            let section = section.trim();
            keep = section == "all" || section == mine;
            continue;
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.replace("{blob}", blob)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keep_only_the_engines_text() {
        let sql = "CREATE TABLE t (b {blob});\n--@ sqlite\nCREATE TRIGGER a;\n--@ postgres\nCREATE FUNCTION f();\n--@ all\nSELECT 1;\n";
        assert_eq!(
            render(sql, Backend::Sqlite),
            "CREATE TABLE t (b BLOB);\nCREATE TRIGGER a;\nSELECT 1;\n"
        );
        assert_eq!(
            render(sql, Backend::Postgres),
            "CREATE TABLE t (b BYTEA);\nCREATE FUNCTION f();\nSELECT 1;\n"
        );
    }
}
