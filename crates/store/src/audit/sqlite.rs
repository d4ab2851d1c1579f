//! The SQLite reader for verification: its own read-only connection to the database file
//! (rusqlite, on the same `libsqlite3-sys` that sqlx links), one read transaction, and every
//! field borrowed straight from SQLite's row buffer instead of copied into sqlx rows.

use super::chain::{Hashers, TEXT_FIELDS};
use super::{Snapshot, VerifyOptions, COLUMNS};
use crate::db::DbError;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The database file behind a `sqlite:` URL; `None` when it is not a file (in memory).
pub(crate) fn file_of(url: &str) -> Option<PathBuf> {
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let path = opts.get_filename();
    path.is_file().then(|| path.to_path_buf())
}

fn err(e: rusqlite::Error) -> DbError {
    DbError::Invalid(format!("audit verification (SQLite): {e}"))
}

const TEXT_COLUMNS: [&str; TEXT_FIELDS] = [
    "actor",
    "action",
    "target_type",
    "target_id",
    "scope",
    "request_id",
    "summary",
    "prev_hash",
    "hash",
];

fn text<'a>(v: ValueRef<'a>, field: usize, seq: i64) -> Result<&'a [u8], DbError> {
    match v {
        ValueRef::Text(t) => Ok(t),
        other => Err(DbError::Invalid(format!(
            "audit_log entry {seq}: {} holds {:?}, not text",
            TEXT_COLUMNS.get(field).copied().unwrap_or("a column"),
            other.data_type()
        ))),
    }
}

fn int(v: ValueRef<'_>, what: &str) -> Result<i64, DbError> {
    match v {
        ValueRef::Integer(i) => Ok(i),
        other => Err(DbError::Invalid(format!(
            "audit_log: {what} holds {:?}, not an integer",
            other.data_type()
        ))),
    }
}

/// How rows are fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// Table order (rowid), which is `seq` order when entries were only ever appended: no
    /// lookup through the `seq` index per row. Abandoned as soon as a `seq` is out of order.
    Table,
    /// `ORDER BY seq` through the primary-key index.
    Seq,
}

/// Read the trail in one read transaction and check it.
pub(super) fn read(path: &Path, opts: &VerifyOptions) -> Result<Snapshot, DbError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(err)?;
    // One read transaction: the head, the stray count and every entry come from one snapshot.
    conn.execute_batch("BEGIN").map_err(err)?;
    let (head_seq, head_hash) = conn
        .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(err)?;
    let stray: i64 = conn
        .query_row("SELECT COUNT(*) FROM audit_log WHERE seq < 1", [], |r| {
            r.get(0)
        })
        .map_err(err)?;
    let walk = match walk(&conn, Order::Table, opts)? {
        Some(w) => w,
        None => walk(&conn, Order::Seq, opts)?
            .ok_or_else(|| DbError::Invalid("audit verification: rows out of order".into()))?,
    };
    conn.execute_batch("COMMIT").map_err(err)?;
    Ok(Snapshot {
        walk,
        stray,
        head_seq,
        head_hash: head_hash.into_bytes(),
    })
}

/// One pass over the entries with `seq >= 1`; `None` when `Order::Table` meets a `seq` out of
/// order (the caller then reads again in `seq` order).
fn walk(
    conn: &Connection,
    order: Order,
    opts: &VerifyOptions,
) -> Result<Option<super::chain::Walk>, DbError> {
    let sql = match order {
        // `+seq` keeps the planner on the table scan.
        Order::Table => format!("SELECT {COLUMNS} FROM audit_log WHERE +seq >= 1"),
        Order::Seq => format!("SELECT {COLUMNS} FROM audit_log WHERE seq >= 1 ORDER BY seq"),
    };
    let mut stmt = conn.prepare(&sql).map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    let mut hashers = Hashers::new(opts.hash_threads, opts.batch_rows)?;
    let mut last_seq = 0i64;
    while let Some(r) = rows.next().map_err(err)? {
        let seq = int(r.get_ref(0).map_err(err)?, "seq")?;
        if seq <= last_seq {
            return Ok(None);
        }
        last_seq = seq;
        let at = int(r.get_ref(1).map_err(err)?, "at")?;
        let mut fields: [&[u8]; TEXT_FIELDS] = [&[]; TEXT_FIELDS];
        for (i, f) in fields.iter_mut().enumerate() {
            *f = text(r.get_ref(i + 2).map_err(err)?, i, seq)?;
        }
        hashers.push_blocking(seq, at, fields)?;
        // In table order a later row may still belong before this one: read them all.
        if order == Order::Seq && hashers.should_stop() {
            break;
        }
    }
    Ok(Some(super::chain::walk(vec![hashers
        .finish_blocking()?
        .part_blocking()?])))
}
