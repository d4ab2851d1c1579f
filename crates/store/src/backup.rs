//! Backup and restore (sao lưu, khôi phục).
//!
//! SQLite: `VACUUM INTO` writes a consistent snapshot while the server keeps serving (it reads
//! one transaction's view). Restore checks the snapshot's integrity before it replaces the live
//! database (keeping the old file), and refuses while a server holds the data directory; the
//! command then verifies the restored audit chain and reports it.
//! PostgreSQL: use `pg_dump`/`pg_restore` (see docs/operations.md).

use crate::db::{Backend, Db, DbError};
use std::path::Path;

/// Write a consistent snapshot of the database to `to` (which must not exist).
pub async fn backup_to(db: &Db, to: &Path) -> Result<u64, DbError> {
    if db.backend() != Backend::Sqlite {
        return Err(DbError::Invalid(
            "backup of PostgreSQL is done with pg_dump (see docs/operations.md)".into(),
        ));
    }
    if to.exists() {
        return Err(DbError::Invalid(format!(
            "{} already exists: choose a new file name",
            to.display()
        )));
    }
    let target = to
        .to_str()
        .ok_or_else(|| DbError::Invalid("backup path is not valid UTF-8".into()))?;
    sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(db.pool())
        .await?;
    Ok(std::fs::metadata(to).map(|m| m.len()).unwrap_or(0))
}

/// Check a snapshot file: SQLite integrity check. Returns the problems found (empty when fine).
pub async fn check_snapshot(path: &Path) -> Result<Vec<String>, DbError> {
    if !path.is_file() {
        return Err(DbError::Invalid(format!(
            "{} is not a file",
            path.display()
        )));
    }
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=ro", path.display());
    let pool = sqlx::AnyPool::connect(&url).await?;
    let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&pool)
        .await?;
    pool.close().await;
    Ok(rows.into_iter().filter(|r| r != "ok").collect())
}

/// Replace the SQLite database file `live` with the snapshot `from`. The caller must hold the
/// data directory lock (no server running). The old database is kept as `<live>.before-restore`.
pub async fn restore_sqlite(from: &Path, live: &Path) -> Result<(), DbError> {
    let problems = check_snapshot(from).await?;
    if !problems.is_empty() {
        return Err(DbError::Invalid(format!(
            "the snapshot is damaged: {}",
            problems.join("; ")
        )));
    }
    let io = |e: std::io::Error| DbError::Invalid(format!("restore: {e}"));
    if live.exists() {
        let keep = live.with_extension("db.before-restore");
        std::fs::rename(live, &keep).map_err(io)?;
    }
    for suffix in ["-wal", "-shm"] {
        let side = format!("{}{suffix}", live.display());
        let _ = std::fs::remove_file(side);
    }
    let tmp = live.with_extension("db.restoring");
    std::fs::copy(from, &tmp).map_err(io)?;
    std::fs::rename(&tmp, live).map_err(io)?;
    Ok(())
}
