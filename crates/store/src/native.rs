//! Native SQLite reads (đọc trực tiếp SQLite) for the hottest read paths.
//!
//! sqlx runs each SQLite connection on a worker thread of its own: every statement is handed
//! to that thread and every row handed back, two thread wake-ups or more per statement, and
//! its `Any` driver copies each row into owned values. For a look-up that is one short query,
//! that hand-over costs more than the query (release profile of the look-ups: ~45 % of the CPU
//! in kernel scheduling). [`Db::read_rows`] instead runs the query on the calling thread, with
//! a read-only connection of its own to the same database file (rusqlite, on the same
//! `libsqlite3-sys` that sqlx links), from a small pool of idle ones. On PostgreSQL, and for a
//! SQLite database that is not a file, it goes through sqlx as every other read does.
//!
//! The caller maps rows through [`RowRead`], which both engines' rows implement, so one mapping
//! serves both. Reads see what is committed when the statement starts (WAL snapshots), exactly
//! like sqlx's read pool. A query runs synchronously on the async thread that calls it: use
//! this only for short, indexed reads (microseconds), never for scans.

use crate::db::{Db, DbError};
use rusqlite::{Connection, OpenFlags};
use sqlx::Row;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// A bound parameter of [`Db::read_rows`] and of [`crate::exec::Exec`], numbered `$1`, `$2`, …
/// in the SQL (or anonymous `?` on SQLite, bound in order).
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    Text(&'a str),
    Int(i64),
    /// A text or NULL.
    OptText(Option<&'a str>),
    /// A whole number or NULL.
    OptInt(Option<i64>),
    /// A real number (số thực): `DOUBLE PRECISION` on PostgreSQL, `REAL` on SQLite.
    Float(f64),
    /// A real number or NULL.
    OptFloat(Option<f64>),
    /// Bytes (a BLOB on SQLite, BYTEA on PostgreSQL) or NULL.
    OptBytes(Option<&'a [u8]>),
}

/// Bind `params` to a native statement: the n-th to `$n`, or to the n-th `?`.
pub(crate) fn bind_native(
    st: &mut rusqlite::Statement<'_>,
    sql: &str,
    params: &[Param<'_>],
) -> Result<(), DbError> {
    for (i, p) in params.iter().enumerate() {
        let n = i + 1;
        // SQLite numbers parameters in order of first appearance: `$n` is usually the n-th,
        // and an anonymous `?` has no name. Otherwise look the name up (a linear search).
        let at = match st.parameter_name(n) {
            None => n,
            Some(name) if name.strip_prefix('$').and_then(|d| d.parse().ok()) == Some(n) => n,
            Some(_) => {
                let name = format!("${n}");
                st.parameter_index(&name)?
                    .ok_or_else(|| DbError::Invalid(format!("no parameter {name} in {sql}")))?
            }
        };
        match *p {
            Param::Text(t) => st.raw_bind_parameter(at, t)?,
            Param::Int(v) => st.raw_bind_parameter(at, v)?,
            Param::OptText(t) => st.raw_bind_parameter(at, t)?,
            Param::OptInt(v) => st.raw_bind_parameter(at, v)?,
            Param::Float(v) => st.raw_bind_parameter(at, v)?,
            Param::OptFloat(v) => st.raw_bind_parameter(at, v)?,
            Param::OptBytes(b) => st.raw_bind_parameter(at, b)?,
        }
    }
    Ok(())
}

/// Run a query natively and map every row (statements of few parameters are kept prepared).
pub(crate) fn rows_native<T>(
    conn: &Connection,
    sql: &str,
    params: &[Param<'_>],
    mut map: impl FnMut(&dyn RowRead) -> Result<T, DbError>,
) -> Result<Vec<T>, DbError> {
    with_statement(conn, sql, params, |st| {
        let mut rows = st.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(map(row)?);
        }
        Ok(out)
    })
}

/// Run a statement that returns no rows natively; the rows it changed.
pub(crate) fn execute_native(
    conn: &Connection,
    sql: &str,
    params: &[Param<'_>],
) -> Result<u64, DbError> {
    with_statement(conn, sql, params, |st| Ok(st.raw_execute()? as u64))
}

/// Statements with more parameters than this are prepared each time instead of taking a place
/// in the connection's statement cache. Multi-row statements come in a few fixed shapes
/// ([`row_pieces`]: 256, 128, …, 1 rows; the largest, 256 border events of 13 columns, has
/// 3,328), so they stay prepared: compiling one afresh each time cost more than running it
/// (6 % of a simulated border day's instructions went to `sqlite3_prepare`). An `IN (…)` list of
/// another length takes a place for a while and is pushed out by the ones in use (LRU).
const CACHED_MAX_PARAMS: usize = 4_096;

/// The row counts of the statements that write `rows` rows, at most `max` each (a power of
/// two): `max` while that many are left, then the powers of two of the remainder, largest first
/// (1,000 rows at most 256: 256, 256, 256, 128, 64, 32, 8). So a multi-row statement has at
/// most `log2(max) + 1` shapes, each kept prepared, whatever the batch sizes (phân đoạn theo lũy
/// thừa của hai).
pub fn row_pieces(rows: usize, max: usize) -> impl Iterator<Item = usize> {
    let max = max.max(1);
    let max = if max.is_power_of_two() {
        max
    } else {
        1 << max.ilog2()
    };
    let mut left = rows;
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let n = max.min(1 << left.ilog2());
        left -= n;
        Some(n)
    })
}

fn with_statement<R>(
    conn: &Connection,
    sql: &str,
    params: &[Param<'_>],
    f: impl FnOnce(&mut rusqlite::Statement<'_>) -> Result<R, DbError>,
) -> Result<R, DbError> {
    if params.len() <= CACHED_MAX_PARAMS {
        let mut st = conn.prepare_cached(sql)?;
        bind_native(&mut st, sql, params)?;
        f(&mut st)
    } else {
        let mut st = conn.prepare(sql)?;
        bind_native(&mut st, sql, params)?;
        f(&mut st)
    }
}

/// A result row of either engine, read by column index.
pub trait RowRead {
    fn text(&self, i: usize) -> Result<String, DbError>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, DbError>;
    fn int(&self, i: usize) -> Result<i64, DbError>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, DbError>;
    /// A real number (a `DOUBLE PRECISION` column).
    fn float(&self, i: usize) -> Result<f64, DbError>;
    fn opt_float(&self, i: usize) -> Result<Option<f64>, DbError>;
}

impl RowRead for sqlx::any::AnyRow {
    fn text(&self, i: usize) -> Result<String, DbError> {
        Ok(self.try_get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, DbError> {
        Ok(self.try_get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64, DbError> {
        Ok(self.try_get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, DbError> {
        Ok(self.try_get(i)?)
    }
    fn float(&self, i: usize) -> Result<f64, DbError> {
        Ok(self.try_get(i)?)
    }
    fn opt_float(&self, i: usize) -> Result<Option<f64>, DbError> {
        Ok(self.try_get(i)?)
    }
}

impl RowRead for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<String, DbError> {
        Ok(self.get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, DbError> {
        Ok(self.get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64, DbError> {
        Ok(self.get(i)?)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, DbError> {
        Ok(self.get(i)?)
    }
    fn float(&self, i: usize) -> Result<f64, DbError> {
        Ok(self.get(i)?)
    }
    fn opt_float(&self, i: usize) -> Result<Option<f64>, DbError> {
        Ok(self.get(i)?)
    }
}

/// Idle native read connections to one SQLite file.
pub(crate) struct NativeReaders {
    path: PathBuf,
    /// Page cache of each connection (KiB); reads mostly go through the memory map.
    cache_kib: u32,
    mmap_bytes: u64,
    idle: Mutex<Vec<Connection>>,
    /// Idle connections kept; more are opened when more readers run at once, and closed after.
    max_idle: usize,
}

impl NativeReaders {
    /// Native readers of the database at `url`; `None` when it is not a file (in memory).
    pub(crate) fn for_url(
        url: &str,
        cache_kib: u32,
        mmap_bytes: u64,
        max_idle: usize,
    ) -> Option<Self> {
        let path = crate::audit::sqlite_file_of(url)?;
        Some(Self {
            path,
            cache_kib,
            mmap_bytes,
            idle: Mutex::new(Vec::new()),
            max_idle,
        })
    }

    fn open(&self) -> Result<Connection, DbError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Never wait on the async thread: a busy database answers at once, and the read is
        // then made through sqlx, whose own thread may wait (see `Db::read_rows`).
        conn.busy_timeout(Duration::ZERO)?;
        conn.execute_batch(&format!(
            "PRAGMA mmap_size = {}; PRAGMA cache_size = -{}; PRAGMA query_only = ON;",
            self.mmap_bytes, self.cache_kib
        ))?;
        Ok(conn)
    }

    /// Run `f` with an idle connection (or a new one), then keep it for the next reader.
    fn with<R>(&self, f: impl FnOnce(&Connection) -> Result<R, DbError>) -> Result<R, DbError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(c) => c,
            None => self.open()?,
        };
        let r = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.max_idle {
            idle.push(conn);
        }
        r
    }

    /// Close every idle connection.
    pub(crate) fn close(&self) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// Whether SQLite answered "busy" or "locked" (a checkpoint that resets the log, a backup).
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

impl Db {
    /// Run a short read query and map its rows, natively on a SQLite file (see the module
    /// documentation), through sqlx's read pool otherwise — and also when SQLite answers "busy"
    /// natively, so that the async thread never waits for a lock. Parameters are `$1`, `$2`, … in
    /// the SQL, bound from `params` in that order.
    pub async fn read_rows<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        mut map: impl FnMut(&dyn RowRead) -> Result<T, DbError>,
    ) -> Result<Vec<T>, DbError> {
        if let Some(native) = self.native() {
            let read = native.with(|conn| rows_native(conn, sql, params, &mut map));
            // "Busy" comes from the first step, when the read takes its snapshot, before any row
            // is mapped: reading again through sqlx maps every row once.
            match read {
                Err(DbError::Native(e)) if is_busy(&e) => {}
                r => return r,
            }
        }
        let rows = crate::exec::bind_sqlx(sqlx::query(sql), params)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| map(r)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::fresh;

    /// The pieces add up to the rows, none is above the cap or is not a power of two, and
    /// whatever the batch sizes only `log2(max) + 1` sizes occur.
    #[test]
    fn row_pieces_cover_the_rows_in_few_shapes() {
        let pieces = |n, max| row_pieces(n, max).collect::<Vec<_>>();
        assert_eq!(pieces(0, 256), Vec::<usize>::new());
        assert_eq!(pieces(1, 256), vec![1]);
        assert_eq!(pieces(1_000, 256), vec![256, 256, 256, 128, 64, 32, 8]);
        assert_eq!(pieces(7, 4), vec![4, 2, 1]);
        // A cap that is not a power of two is rounded down to one.
        assert_eq!(pieces(300, 100), vec![64, 64, 64, 64, 32, 8, 4]);
        assert_eq!(pieces(3, 0), vec![1, 1, 1]);
        let mut shapes = std::collections::BTreeSet::new();
        for n in 0..3_000 {
            let p = pieces(n, 256);
            assert_eq!(p.iter().sum::<usize>(), n, "rows {n}");
            assert!(
                p.iter().all(|k| k.is_power_of_two() && *k <= 256),
                "rows {n}: {p:?}"
            );
            assert!(p.windows(2).all(|w| w[0] >= w[1]), "largest first: {p:?}");
            shapes.extend(p);
        }
        assert_eq!(shapes.len(), 9);
    }

    /// Rows written through sqlx's writer are read back natively (SQLite) or through sqlx
    /// (PostgreSQL) the same way, NULLs and parameters included, and a later commit is seen
    /// by the next read.
    #[tokio::test]
    async fn read_rows_sees_committed_rows_on_either_engine() {
        let t = fresh(&[]).await;
        let db = &t.db;
        let mut tx = db.begin_write().await.unwrap();
        sqlx::query("CREATE TABLE native_probe (k TEXT PRIMARY KEY, n BIGINT, note TEXT)")
            .execute(tx.conn())
            .await
            .unwrap();
        sqlx::query("INSERT INTO native_probe (k, n, note) VALUES ('a', 1, 'một'), ('b', 2, NULL)")
            .execute(tx.conn())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let read = |min: i64| async move {
            db.read_rows(
                "SELECT k, n, note FROM native_probe WHERE n >= $2 AND k <> $1 ORDER BY k",
                &[Param::Text("z"), Param::Int(min)],
                |r| Ok((r.text(0)?, r.int(1)?, r.opt_text(2)?)),
            )
            .await
            .unwrap()
        };
        assert_eq!(
            read(1).await,
            vec![
                ("a".to_string(), 1, Some("một".to_string())),
                ("b".to_string(), 2, None)
            ]
        );
        assert_eq!(read(2).await.len(), 1);
        let mut tx = db.begin_write().await.unwrap();
        sqlx::query("INSERT INTO native_probe (k, n) VALUES ('c', 3)")
            .execute(tx.conn())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(read(2).await.len(), 2, "the later commit is seen");
        assert_eq!(
            db.native().is_some(),
            db.backend() == crate::Backend::Sqlite,
            "test databases on SQLite are files, so they are read natively"
        );
    }
}
