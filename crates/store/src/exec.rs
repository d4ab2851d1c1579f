//! Write transactions run natively on SQLite (giao dịch ghi trực tiếp), with one calling code
//! for both engines.
//!
//! sqlx runs each SQLite connection on a worker thread of its own: every statement of a write
//! transaction is handed to that thread and its result handed back (two thread wake-ups or
//! more per statement). [`Db::begin_native`] opens a [`Tx`] that, on a SQLite file, runs its
//! statements on the calling thread instead, through a read-write rusqlite connection of its
//! own to the same file (the `libsqlite3-sys` that sqlx links), with the PRAGMAs of sqlx's
//! writer. On PostgreSQL, and for a SQLite database that is not a file, the same [`Tx`] is an
//! ordinary [`WriteTx`]. Callers write against [`Exec`] (statements with [`Param`]s, rows mapped
//! through [`RowRead`]), which [`WriteTx`] implements too, so one function serves both kinds of
//! transaction on both engines.
//!
//! Rules kept by the native transaction:
//! - **one writer**: it holds the connection of sqlx's one-writer pool from `BEGIN` to the end,
//!   so no sqlx transaction and no group commit ([`crate::group`]) runs meanwhile — they wait in
//!   the pool's queue, never in SQLite's busy handler;
//! - `BEGIN IMMEDIATE`: the write lock is taken at the start;
//! - audit entries and outbox events are chained and numbered as they are appended (the store's
//!   code: [`crate::audit`], [`crate::outbox`]) and written at commit in multi-row statements,
//!   as a group transaction does: nothing in the transaction may read `audit_log` or `outbox`
//!   expecting its own entries;
//! - dropped without [`Tx::commit`] (an error returned with `?`, a panic, a cancelled future),
//!   it rolls back.
//!
//! Savepoints (điểm lưu, [`Tx::savepoint`]) work as [`WriteTx`]'s do: rolling back to one also
//! drops the audit entries and outbox events appended after it. The group committer
//! ([`crate::group`], [`Db::write_grouped_native`]) runs its batches in a [`Tx`], each item
//! behind one. Statements run synchronously on the async thread: use it for short
//! transactions of indexed statements. `TINHSO_NATIVE_WRITES=0` turns it off (every [`Tx`] is
//! then a [`WriteTx`]), to compare.

use crate::audit::{AuditEntry, HeldHead, NewAuditEntry};
use crate::db::{Backend, Db, DbError, Deferred, Savepoint, WriteTx};
use crate::native::{execute_native, rows_native, Param, RowRead};
use crate::outbox::PendingEvent;
use rusqlite::{Connection, OpenFlags};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// Bind `params` to a sqlx query, in order.
pub(crate) fn bind_sqlx<'q>(
    mut q: Query<'q, Any, AnyArguments<'q>>,
    params: &[Param<'q>],
) -> Query<'q, Any, AnyArguments<'q>> {
    for p in params {
        q = match *p {
            Param::Text(t) => q.bind(t),
            Param::Int(n) => q.bind(n),
            Param::OptText(t) => q.bind(t),
            Param::OptInt(n) => q.bind(n),
            Param::Float(x) => q.bind(x),
            Param::OptFloat(Some(x)) => q.bind(x),
            // sqlx 0.8.6's `Any` swaps the two real types of a NULL (any/arguments.rs: a NULL
            // f64 goes to PostgreSQL as a float4 NULL, and a float4 NULL as a float8 one). A
            // statement prepared with a float4 NULL then refuses a float8 value ("incorrect
            // binary data format"). A NULL f32 reaches PostgreSQL as the float8 NULL the column
            // takes; SQLite has one NULL. The round-trip test binds both on one statement.
            Param::OptFloat(None) => q.bind(None::<f32>),
            Param::OptBytes(b) => q.bind(b),
        };
    }
    q
}

/// Something that runs statements in a write transaction (bộ thực thi): a [`WriteTx`] (sqlx)
/// or a [`Tx`] (native on a SQLite file, else sqlx). Parameters are `$1`, `$2`, … in the SQL.
pub trait Exec: Send {
    fn backend(&self) -> Backend;

    /// Run a statement that returns no rows; the number of rows it changed.
    fn execute(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<u64, DbError>> + Send;

    /// Run a query (or a statement with `RETURNING`) and map every row.
    fn rows<T, F>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        map: F,
    ) -> impl Future<Output = Result<Vec<T>, DbError>> + Send
    where
        T: Send,
        F: FnMut(&dyn RowRead) -> Result<T, DbError> + Send;

    /// The first row of a query, mapped, if there is one.
    fn row<T, F>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        map: F,
    ) -> impl Future<Output = Result<Option<T>, DbError>> + Send
    where
        T: Send,
        F: FnMut(&dyn RowRead) -> Result<T, DbError> + Send,
    {
        async move { Ok(self.rows(sql, params, map).await?.into_iter().next()) }
    }

    /// Insert rows of `columns.len()` values each (`params` row after row) into `table`, in
    /// multi-row `INSERT`s of at most 500 parameters (on SQLite, of a power of two rows:
    /// `native::row_pieces`); the rows inserted.
    fn insert_rows(
        &mut self,
        table: &str,
        columns: &[&str],
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<u64, DbError>> + Send {
        async move {
            let width = columns.len();
            if width == 0 || !params.len().is_multiple_of(width) {
                return Err(DbError::Invalid(format!(
                    "insert into {table}: {} values for rows of {width} columns",
                    params.len()
                )));
            }
            let rows_per_statement = (500 / width).max(1);
            let mut inserted = 0;
            let mut rest = params;
            // On SQLite, statements of a few fixed sizes that stay prepared
            // (`native::row_pieces`); on PostgreSQL, full ones and the remainder.
            let pieces: Vec<usize> = match self.backend() {
                Backend::Sqlite => {
                    crate::native::row_pieces(params.len() / width, rows_per_statement).collect()
                }
                Backend::Postgres => params
                    .chunks(rows_per_statement * width)
                    .map(|c| c.len() / width)
                    .collect(),
            };
            for rows in pieces {
                let (chunk, tail) = rest.split_at(rows * width);
                rest = tail;
                let sql = insert_rows_sql(self.backend(), table, columns, rows);
                inserted += self.execute(&sql, chunk).await?;
            }
            Ok(inserted)
        }
    }
}

/// `INSERT INTO table (columns) VALUES ($1, …), (…)` for `rows` rows (`?` on SQLite:
/// [`Backend::push_param`]).
fn insert_rows_sql(backend: Backend, table: &str, columns: &[&str], rows: usize) -> String {
    let width = columns.len();
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 1..=width {
            if c > 1 {
                sql.push_str(", ");
            }
            backend.push_param(&mut sql, r * width + c);
        }
        sql.push(')');
    }
    sql
}

impl Exec for WriteTx {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, DbError> {
        Ok(bind_sqlx(sqlx::query(sql), params)
            .execute(self.conn())
            .await?
            .rows_affected())
    }

    async fn rows<T, F>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        mut map: F,
    ) -> Result<Vec<T>, DbError>
    where
        T: Send,
        F: FnMut(&dyn RowRead) -> Result<T, DbError> + Send,
    {
        let rows = bind_sqlx(sqlx::query(sql), params)
            .fetch_all(self.conn())
            .await?;
        rows.iter().map(|r| map(r)).collect()
    }
}

/// The native write connection to one SQLite file, kept open between transactions.
pub(crate) struct NativeWriter {
    path: PathBuf,
    /// The PRAGMAs of sqlx's writer ([`crate::db::sqlite_pragmas`]).
    pragmas: String,
    idle: Mutex<Option<Connection>>,
    /// The one-writer permit (quyền ghi): held by every write transaction on this file, native
    /// or sqlx ([`crate::Db::begin_write`]), so that one writes at a time. A lock of its own
    /// rather than sqlx's writer connection: sqlx pings a pooled connection on its worker
    /// thread each time it is given back, and the next native batch waited for that.
    permit: crate::checkpoint::WritePermit,
    /// Set by [`NativeWriter::close`]: a connection given back afterwards (a transaction that
    /// outlived the close) is closed, not kept.
    closed: std::sync::atomic::AtomicBool,
}

/// Statements kept prepared by the native writer (rusqlite's default is 16), the few shapes of
/// each multi-row statement included (`native::row_pieces`).
const NATIVE_STATEMENT_CACHE: usize = 256;

impl NativeWriter {
    /// The native writer of the database at `url`, with the file's one-writer `permit`;
    /// `None` when it is not a file (in memory).
    pub(crate) fn for_url(
        url: &str,
        pragmas: String,
        permit: crate::checkpoint::WritePermit,
    ) -> Option<Self> {
        Some(Self {
            path: crate::audit::sqlite_file_of(url)?,
            pragmas,
            idle: Mutex::new(None),
            permit,
            closed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Wait for the one-writer permit.
    pub(crate) async fn permit(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.permit.clone().lock_owned().await
    }

    fn take(&self) -> Result<Connection, DbError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(c) = idle {
            return Ok(c);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch(&self.pragmas)?;
        conn.set_prepared_statement_cache_capacity(NATIVE_STATEMENT_CACHE);
        Ok(conn)
    }

    /// Keep a connection that is out of any transaction for the next one.
    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        // Read under the lock `close` takes after setting the flag: either the close sees this
        // connection in the slot, or this sees the flag.
        if !self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            *idle = Some(conn);
        }
    }

    /// Close the idle connection, and any given back later.
    pub(crate) fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

/// A native write transaction on a SQLite file (see the module documentation).
struct NativeTx {
    /// `None` once it is over.
    conn: Option<Connection>,
    home: Arc<NativeWriter>,
    /// The one-writer permit ([`NativeWriter::permit`]), held so that nothing else writes
    /// meanwhile. Released after `conn` has committed or rolled back (fields drop after
    /// [`Drop::drop`]).
    _permit: tokio::sync::OwnedMutexGuard<()>,
    /// Ids of the outbox events appended, returned by commit.
    events: Vec<String>,
    deferred: Deferred,
    audit_head: Option<HeldHead>,
    outbox_notify: Arc<tokio::sync::Notify>,
    /// Savepoints open (their names are `tinhso_sp<depth>`, as [`WriteTx`]'s).
    savepoints: usize,
}

fn over() -> DbError {
    DbError::Invalid("native transaction: already over".into())
}

impl NativeTx {
    fn begin(
        home: &Arc<NativeWriter>,
        permit: tokio::sync::OwnedMutexGuard<()>,
        outbox_notify: Arc<tokio::sync::Notify>,
    ) -> Result<Self, DbError> {
        let conn = home.take()?;
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            if conn.is_autocommit() {
                home.give_back(conn);
            }
            return Err(e.into());
        }
        Ok(Self {
            conn: Some(conn),
            home: home.clone(),
            _permit: permit,
            events: Vec::new(),
            deferred: Deferred::default(),
            audit_head: None,
            outbox_notify,
            savepoints: 0,
        })
    }

    fn conn(&self) -> Result<&Connection, DbError> {
        self.conn.as_ref().ok_or_else(over)
    }

    /// The savepoint just opened at `depth`, with what rolling back to it restores.
    fn savepoint_at(&self, depth: usize) -> Savepoint {
        Savepoint {
            depth,
            events: self.events.len(),
            audit_head: self.audit_head.clone(),
            deferred: (self.deferred.audit.len(), self.deferred.events.len()),
        }
    }

    fn savepoint(&mut self) -> Result<Savepoint, DbError> {
        let depth = self.savepoints + 1;
        self.conn()?
            .execute_batch(&format!("SAVEPOINT tinhso_sp{depth}"))?;
        self.savepoints = depth;
        Ok(self.savepoint_at(depth))
    }

    fn expect_newest(&self, sp: &Savepoint) -> Result<(), DbError> {
        sp.expect_newest(self.savepoints)
    }

    fn rollback_to(&mut self, sp: Savepoint) -> Result<(), DbError> {
        self.expect_newest(&sp)?;
        let name = format!("tinhso_sp{}", sp.depth);
        self.conn()?.execute_batch(&format!(
            "ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}"
        ))?;
        self.savepoints = sp.depth - 1;
        self.events.truncate(sp.events);
        self.audit_head = sp.audit_head;
        self.deferred.audit.truncate(sp.deferred.0);
        self.deferred.events.truncate(sp.deferred.1);
        Ok(())
    }

    fn release(&mut self, sp: Savepoint) -> Result<(), DbError> {
        self.expect_newest(&sp)?;
        self.conn()?
            .execute_batch(&format!("RELEASE SAVEPOINT tinhso_sp{}", sp.depth))?;
        self.savepoints = sp.depth - 1;
        Ok(())
    }

    fn release_and_reopen(&mut self, sp: Savepoint) -> Result<Savepoint, DbError> {
        self.expect_newest(&sp)?;
        let depth = sp.depth;
        self.conn()?.execute_batch(&format!(
            "RELEASE SAVEPOINT tinhso_sp{depth}; SAVEPOINT tinhso_sp{depth}"
        ))?;
        Ok(self.savepoint_at(depth))
    }

    fn audit_many(&mut self, entries: &[NewAuditEntry]) -> Result<Vec<AuditEntry>, DbError> {
        let mut head = match self.audit_head.take() {
            Some(h) => h,
            // One writer holds the write lock: reading the head is enough.
            None => rows_native(
                self.conn()?,
                "SELECT seq, hash FROM audit_head WHERE id = 1",
                &[],
                |r| Ok(HeldHead::read(r.int(0)?, r.text(1)?)),
            )?
            .pop()
            .ok_or_else(|| DbError::Invalid("audit: the chain head row is missing".into()))?,
        };
        let out = crate::audit::chain(entries, &mut head);
        self.deferred.audit.extend(out.iter().cloned());
        self.audit_head = Some(head);
        Ok(out)
    }

    fn emit(&mut self, topic: &str, payload: &serde_json::Value) -> String {
        let e = PendingEvent::new(topic, payload);
        let id = e.id().to_string();
        self.deferred.events.push(e);
        self.events.push(id.clone());
        id
    }

    /// Write the kept audit entries (then the head) and outbox events, and commit.
    fn commit(mut self) -> Result<Vec<String>, DbError> {
        let d = std::mem::take(&mut self.deferred);
        let conn = self.conn()?;
        // In statements of a few fixed sizes, each kept prepared (`native::row_pieces`).
        let mut rest = &d.audit[..];
        for n in crate::native::row_pieces(rest.len(), crate::audit::NATIVE_ROWS_PER_INSERT) {
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            let sql = crate::audit::insert_sql(n, Backend::Sqlite, false);
            let params: Vec<Param<'_>> = chunk.iter().flat_map(AuditEntry::params).collect();
            execute_native(conn, &sql, &params)?;
        }
        if let (Some(head), false) = (&self.audit_head, d.audit.is_empty()) {
            let (seq, hash) = head.position();
            execute_native(
                conn,
                "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1",
                &[Param::Int(seq), Param::Text(hash)],
            )?;
        }
        if !d.events.is_empty() {
            let n = d.events.len() as i64;
            let last = rows_native(
                conn,
                "UPDATE outbox_seq SET seq = seq + $1 WHERE id = 1 RETURNING seq",
                &[Param::Int(n)],
                |r| r.int(0),
            )?
            .pop()
            .ok_or_else(|| DbError::Invalid("outbox: the sequence row is missing".into()))?;
            for (sql, params) in
                crate::outbox::insert_statements(Backend::Sqlite, last - n + 1, &d.events)
            {
                execute_native(conn, &sql, &params)?;
            }
        }
        conn.execute_batch("COMMIT")?;
        let events = std::mem::take(&mut self.events);
        if !events.is_empty() {
            self.outbox_notify.notify_waiters();
            self.outbox_notify.notify_one();
        }
        Ok(events)
    }
}

impl Drop for NativeTx {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        // Not committed: roll back. A connection that cannot is closed, not reused.
        if conn.is_autocommit() || conn.execute_batch("ROLLBACK").is_ok() {
            self.home.give_back(conn);
        }
    }
}

/// A write transaction from [`Db::begin_native`]: native on a SQLite file, a [`WriteTx`]
/// otherwise. Run statements through [`Exec`]; commit with [`Tx::commit`]; dropping it rolls
/// back.
pub struct Tx(Inner);

enum Inner {
    Sqlx(WriteTx),
    Native(NativeTx),
}

impl Db {
    /// Start a write transaction that runs natively on a SQLite file (see [`crate::exec`]),
    /// through sqlx otherwise. It waits for sqlx's one writer first, like [`Db::begin_write`].
    pub async fn begin_native(&self) -> Result<Tx, DbError> {
        match self.native_writer() {
            Some(home) => {
                let permit = home.permit().await;
                Ok(Tx(Inner::Native(NativeTx::begin(
                    home,
                    permit,
                    self.outbox_notify(),
                )?)))
            }
            None => Ok(Tx(Inner::Sqlx(self.begin_write().await?))),
        }
    }
}

impl Tx {
    /// A group committer's transaction: native when `native` (the opener's native writer) is
    /// given, else a [`WriteTx`] that keeps its audit entries and outbox events to commit.
    pub(crate) async fn begin_group(o: &crate::group::Opener, native: bool) -> Result<Tx, DbError> {
        match o.native.as_ref().filter(|_| native) {
            Some(home) => {
                let permit = home.permit().await;
                Ok(Tx(Inner::Native(NativeTx::begin(
                    home,
                    permit,
                    o.outbox_notify.clone(),
                )?)))
            }
            None => Ok(Tx(Inner::Sqlx(WriteTx::begin_on(o).await?))),
        }
    }

    /// Whether its statements run natively (a SQLite file).
    pub fn is_native(&self) -> bool {
        matches!(self.0, Inner::Native(_))
    }

    /// The sqlx transaction, when it is one.
    pub fn as_write_tx(&mut self) -> Option<&mut WriteTx> {
        match &mut self.0 {
            Inner::Sqlx(tx) => Some(tx),
            Inner::Native(_) => None,
        }
    }

    /// Open a savepoint ([`WriteTx::savepoint`]). Savepoints nest: release or roll back the
    /// newest first.
    pub async fn savepoint(&mut self) -> Result<Savepoint, DbError> {
        match &mut self.0 {
            Inner::Sqlx(tx) => tx.savepoint().await,
            Inner::Native(tx) => tx.savepoint(),
        }
    }

    /// Undo everything written since `sp` — rows, audit entries, outbox events — and close it
    /// ([`WriteTx::rollback_to`]).
    pub async fn rollback_to(&mut self, sp: Savepoint) -> Result<(), DbError> {
        match &mut self.0 {
            Inner::Sqlx(tx) => tx.rollback_to(sp).await,
            Inner::Native(tx) => tx.rollback_to(sp),
        }
    }

    /// Keep what was written since `sp` and close it ([`WriteTx::release`]).
    pub async fn release(&mut self, sp: Savepoint) -> Result<(), DbError> {
        match &mut self.0 {
            Inner::Sqlx(tx) => tx.release(sp).await,
            Inner::Native(tx) => tx.release(sp),
        }
    }

    /// Release `sp` and open a new savepoint in its place ([`WriteTx::release_and_reopen`]).
    pub async fn release_and_reopen(&mut self, sp: Savepoint) -> Result<Savepoint, DbError> {
        match &mut self.0 {
            Inner::Sqlx(tx) => tx.release_and_reopen(sp).await,
            Inner::Native(tx) => tx.release_and_reopen(sp),
        }
    }

    /// [`WriteTx::defer_audit_and_outbox`]; a native transaction always keeps them to commit.
    pub fn defer_audit_and_outbox(&mut self) {
        if let Inner::Sqlx(tx) = &mut self.0 {
            tx.defer_audit_and_outbox();
        }
    }

    /// Append an audit entry ([`WriteTx::audit`]).
    pub async fn audit(&mut self, e: &NewAuditEntry) -> Result<AuditEntry, DbError> {
        match &mut self.0 {
            Inner::Sqlx(tx) => tx.audit(e).await,
            Inner::Native(tx) => tx
                .audit_many(std::slice::from_ref(e))?
                .pop()
                .ok_or_else(|| DbError::Invalid("audit: the entry was not written".into())),
        }
    }

    /// Append several audit entries, in order ([`WriteTx::audit_many`]).
    pub async fn audit_many(
        &mut self,
        entries: &[NewAuditEntry],
    ) -> Result<Vec<AuditEntry>, DbError> {
        match &mut self.0 {
            Inner::Sqlx(tx) => tx.audit_many(entries).await,
            Inner::Native(tx) => tx.audit_many(entries),
        }
    }

    /// Write an outbox event ([`WriteTx::emit`]). Returns its id.
    pub async fn emit(
        &mut self,
        topic: &str,
        payload: &serde_json::Value,
    ) -> Result<String, DbError> {
        match &mut self.0 {
            Inner::Sqlx(tx) => tx.emit(topic, payload).await,
            Inner::Native(tx) => Ok(tx.emit(topic, payload)),
        }
    }

    /// Write several events of one topic, in order ([`WriteTx::emit_many`]). Returns their ids.
    pub async fn emit_many(
        &mut self,
        topic: &str,
        payloads: &[serde_json::Value],
    ) -> Result<Vec<String>, DbError> {
        match &mut self.0 {
            Inner::Sqlx(tx) => tx.emit_many(topic, payloads).await,
            Inner::Native(tx) => Ok(payloads.iter().map(|p| tx.emit(topic, p)).collect()),
        }
    }

    /// Commit. Returns the ids of outbox events written in the transaction.
    pub async fn commit(self) -> Result<Vec<String>, DbError> {
        match self.0 {
            Inner::Sqlx(tx) => tx.commit().await,
            Inner::Native(tx) => tx.commit(),
        }
    }
}

impl Exec for Tx {
    fn backend(&self) -> Backend {
        match &self.0 {
            Inner::Sqlx(tx) => tx.backend(),
            Inner::Native(_) => Backend::Sqlite,
        }
    }

    async fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, DbError> {
        match &mut self.0 {
            Inner::Sqlx(tx) => tx.execute(sql, params).await,
            Inner::Native(tx) => execute_native(tx.conn()?, sql, params),
        }
    }

    async fn rows<T, F>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        map: F,
    ) -> Result<Vec<T>, DbError>
    where
        T: Send,
        F: FnMut(&dyn RowRead) -> Result<T, DbError> + Send,
    {
        match &mut self.0 {
            Inner::Sqlx(tx) => tx.rows(sql, params, map).await,
            Inner::Native(tx) => rows_native(tx.conn()?, sql, params, map),
        }
    }
}

/// A write transaction that also keeps the audit trail and the outbox (giao dịch ghi có nhật
/// ký): [`WriteTx`] (sqlx) or [`Tx`] (native on a SQLite file, else sqlx), so that one function
/// writes a change with its audit entry and outbox event in either.
pub trait Journal: Exec {
    /// Append an audit entry.
    fn audit(
        &mut self,
        e: &NewAuditEntry,
    ) -> impl Future<Output = Result<AuditEntry, DbError>> + Send;

    /// Write an outbox event; its id.
    fn emit(
        &mut self,
        topic: &str,
        payload: &serde_json::Value,
    ) -> impl Future<Output = Result<String, DbError>> + Send;
}

impl Journal for WriteTx {
    async fn audit(&mut self, e: &NewAuditEntry) -> Result<AuditEntry, DbError> {
        WriteTx::audit(self, e).await
    }
    async fn emit(&mut self, topic: &str, payload: &serde_json::Value) -> Result<String, DbError> {
        WriteTx::emit(self, topic, payload).await
    }
}

impl Journal for Tx {
    async fn audit(&mut self, e: &NewAuditEntry) -> Result<AuditEntry, DbError> {
        Tx::audit(self, e).await
    }
    async fn emit(&mut self, topic: &str, payload: &serde_json::Value) -> Result<String, DbError> {
        Tx::emit(self, topic, payload).await
    }
}
