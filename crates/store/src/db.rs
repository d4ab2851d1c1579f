//! Database handle (cơ sở dữ liệu): SQLite or PostgreSQL behind one API.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Executor, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tinhso_kernel::AppError;

/// Which database engine is behind a [`Db`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// Append the `n`-th (from 1) parameter's placeholder (tham số) to `sql`, for a statement
    /// whose parameters each appear once, in order: `?` on SQLite, `$n` on PostgreSQL. SQLite
    /// looks a named parameter (`$n`) up in a list when it prepares the statement and again
    /// when each value is bound, which is quadratic in a statement of hundreds of parameters;
    /// an anonymous `?` takes the next number without a look-up.
    pub fn push_param(self, sql: &mut String, n: usize) {
        use std::fmt::Write as _;
        match self {
            Backend::Sqlite => sql.push('?'),
            Backend::Postgres => {
                let _ = write!(sql, "${n}");
            }
        }
    }
}

/// Storage failure. Converts into [`AppError`]: unique violations become `conflict`,
/// everything else `internal` (the cause is logged, not shown).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("database (SQLite): {0}")]
    Native(#[from] rusqlite::Error),
    #[error("{0}")]
    Invalid(String),
}

impl DbError {
    /// True when the error is a unique-constraint violation.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            DbError::Sqlx(sqlx::Error::Database(e)) => e.is_unique_violation(),
            // The codes sqlx's SQLite driver reports as unique violations.
            DbError::Native(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ),
            _ => false,
        }
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        if e.is_unique_violation() {
            AppError::conflict(
                "Dữ liệu đã tồn tại (trùng khóa)",
                "The record already exists (duplicate key)",
            )
        } else {
            AppError::internal(e)
        }
    }
}

/// How much of a SQLite database file each connection maps into memory by default
/// (`PRAGMA mmap_size`, 4 GiB): reads of mapped pages skip the `pread` system call. The file is
/// mapped, not loaded, so this is address space, not memory; pages beyond it are read as usual.
/// The price: in WAL mode SQLite drops a connection's whole map when it starts a read after
/// another connection committed, so on a node that alternates small commits and reads (webhook
/// deliveries) every read maps the file again (measured: 29,705 `munmap` calls instead of 37,
/// system CPU 9.7 s instead of 7.5–7.9 s). `TINHSO_SQLITE_MMAP_MIB` sets it (0 turns it off).
const SQLITE_MMAP_DEFAULT_MIB: u64 = 4 << 10;

/// `TINHSO_SQLITE_MMAP_MIB`, else [`SQLITE_MMAP_DEFAULT_MIB`], in bytes.
fn sqlite_mmap_bytes() -> Result<u64, DbError> {
    let mib = match std::env::var("TINHSO_SQLITE_MMAP_MIB") {
        Ok(v) => v.trim().parse::<u64>().map_err(|_| {
            DbError::Invalid(format!(
                "TINHSO_SQLITE_MMAP_MIB={v:?}: not a whole number of MiB (0 turns the memory map off)"
            ))
        })?,
        Err(_) => SQLITE_MMAP_DEFAULT_MIB,
    };
    Ok(mib.saturating_mul(1 << 20))
}
/// The SQLite writer's page cache (`PRAGMA cache_size`, KiB): the writer walks the B-trees of
/// every index it updates, and a cache of the default 2 MiB makes a long-lived database's
/// writes re-read the same interior pages from the file.
const SQLITE_WRITER_CACHE_KIB: u32 = 64 * 1024;
/// Each SQLite reader's page cache (KiB); readers mostly go through the memory map.
const SQLITE_READER_CACHE_KIB: u32 = 8 * 1024;

/// The PRAGMAs of every read-write SQLite connection: sqlx's (readers and the one writer) and
/// the native writer of [`Db::begin_native`], so that both writers behave alike.
pub(crate) fn sqlite_pragmas(
    busy_ms: u128,
    mmap_bytes: u64,
    cache_kib: u32,
    autocheckpoint: u32,
) -> String {
    format!(
        "PRAGMA busy_timeout = {busy_ms}; PRAGMA foreign_keys = ON; \
         PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY; \
         PRAGMA mmap_size = {mmap_bytes}; PRAGMA cache_size = -{cache_kib}; \
         PRAGMA wal_autocheckpoint = {autocheckpoint};"
    )
}

/// Pool sizes and timeouts.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// SQLite busy timeout (readers waiting for a checkpoint, other processes).
    pub busy_timeout: Duration,
    /// Group commit for [`Db::write_grouped`]. `None`: the environment variable
    /// `TINHSO_GROUP_COMMIT` (`0` off, `1` on), else on. Off, each item runs in a transaction
    /// of its own (for comparison, and a choice for PostgreSQL).
    pub group_commit: Option<bool>,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
            busy_timeout: Duration::from_secs(10),
            group_commit: None,
        }
    }
}

/// The database handle shared by every module.
///
/// Reads use `pool`. Writes go through [`Db::begin_write`]: on SQLite that is a pool of
/// exactly one connection, so write transactions queue in order instead of failing with
/// `SQLITE_BUSY` (one-writer discipline); on PostgreSQL it is the same pool as reads.
#[derive(Clone)]
pub struct Db {
    backend: Backend,
    pool: AnyPool,
    writer: AnyPool,
    url: Arc<str>,
    outbox_notify: Arc<tokio::sync::Notify>,
    /// The group committer behind [`Db::write_grouped`]; `None` when it is off.
    group: Option<Arc<crate::group::Group>>,
    /// Native readers of a SQLite file for [`Db::read_rows`]; `None` on PostgreSQL, for a
    /// database in memory, or when turned off (`TINHSO_NATIVE_READS=0`).
    native: Option<Arc<crate::native::NativeReaders>>,
    /// The native writer of a SQLite file for [`Db::begin_native`]; `None` on PostgreSQL, for a
    /// database in memory, or when turned off (`TINHSO_NATIVE_WRITES=0`).
    native_writer: Option<Arc<crate::exec::NativeWriter>>,
    /// The thread that checkpoints a SQLite file's write-ahead log off the writer
    /// (`checkpoint.rs`); `None` on PostgreSQL, in memory, or when turned off
    /// (`TINHSO_SQLITE_BACKGROUND_CHECKPOINT=0`).
    checkpointer: Option<Arc<crate::checkpoint::Checkpointer>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish()
    }
}

/// Current time in Unix microseconds, the storage format of every timestamp.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

impl Db {
    /// Connect to `url`: `sqlite://path/to/file.db` (created if missing) or `postgres://…`.
    pub async fn connect(url: &str, opts: &DbOptions) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(DbError::Invalid(format!(
                "unsupported database URL scheme in {url:?}: use sqlite:// or postgres://"
            )));
        };
        match backend {
            Backend::Sqlite => {
                // Before any connection opens: the profile hooks connections as they open, and
                // a connection keeps the VFS it was opened with.
                crate::sql_profile::start_from_env()?;
                crate::keep_map::register();
                let url = if url.contains('?') {
                    url.to_string()
                } else {
                    format!("{url}?mode=rwc")
                };
                let busy_ms = opts.busy_timeout.as_millis();
                let mmap_bytes = sqlite_mmap_bytes()?;
                // `cache_kib`: the connection's own page cache. The one writer gets a large one
                // (it reads the indexes it updates); readers share the file through the memory
                // map, so a page read is a memory access, not a `pread` system call each time.
                // The writer's own checkpoints: only a backstop while a thread of its own
                // checkpoints (`checkpoint.rs`); SQLite's default otherwise.
                let background_checkpoint =
                    background_checkpoint_from_env().unwrap_or(true) && !url.contains(":memory:");
                let writer_autocheckpoint = if background_checkpoint {
                    crate::checkpoint::WRITER_BACKSTOP_PAGES
                } else {
                    1000
                };
                let make = |max: u32, cache_kib: u32, autocheckpoint: u32| {
                    AnyPoolOptions::new()
                        .max_connections(max)
                        .min_connections(1)
                        .acquire_timeout(opts.acquire_timeout)
                        // A SQLite connection is a local file handle: it cannot go stale the way
                        // a network connection can, so no `SELECT 1` round trip to the
                        // connection's worker thread before each use.
                        .test_before_acquire(false)
                        .after_connect(move |conn, _meta| {
                            Box::pin(async move {
                                conn.execute(
                                    sqlite_pragmas(busy_ms, mmap_bytes, cache_kib, autocheckpoint)
                                        .as_str(),
                                )
                                .await?;
                                Ok(())
                            })
                        })
                };
                let connect_opts = AnyConnectOptions::from_str(&url)?;
                let writer = make(1, SQLITE_WRITER_CACHE_KIB, writer_autocheckpoint)
                    .connect_with(connect_opts.clone())
                    .await?;
                // WAL is persistent in the file; set it once through the writer.
                sqlx::query("PRAGMA journal_mode = WAL")
                    .execute(&writer)
                    .await?;
                let pool = make(opts.max_connections.max(2), SQLITE_READER_CACHE_KIB, 1000)
                    .connect_with(connect_opts)
                    .await?;
                let outbox_notify = Arc::default();
                let native = native_reads_from_env()
                    .unwrap_or(true)
                    .then(|| {
                        crate::native::NativeReaders::for_url(
                            &url,
                            SQLITE_READER_CACHE_KIB,
                            mmap_bytes,
                            opts.max_connections.max(2) as usize,
                        )
                    })
                    .flatten()
                    .map(Arc::new);
                // The one-writer permit: the native writer's, which the checkpoint thread takes
                // for a moment to have the log started again (`checkpoint.rs`).
                let native_writes = switch_from_env("TINHSO_NATIVE_WRITES").unwrap_or(true);
                let permit = crate::checkpoint::WritePermit::default();
                let checkpointer = background_checkpoint
                    .then(|| {
                        crate::checkpoint::Checkpointer::start(
                            &url,
                            native_writes.then(|| permit.clone()),
                        )
                    })
                    .flatten()
                    .map(Arc::new);
                let writer_autocheckpoint = if checkpointer.is_some() {
                    writer_autocheckpoint
                } else {
                    1000
                };
                if background_checkpoint && checkpointer.is_none() {
                    // No thread after all: the writer checkpoints at SQLite's default again.
                    sqlx::query("PRAGMA wal_autocheckpoint = 1000")
                        .execute(&writer)
                        .await?;
                }
                // The native writer is the same one writer's second connection: the same
                // checkpoint rule.
                let native_writer = native_writes
                    .then(|| {
                        crate::exec::NativeWriter::for_url(
                            &url,
                            sqlite_pragmas(
                                busy_ms,
                                mmap_bytes,
                                SQLITE_WRITER_CACHE_KIB,
                                writer_autocheckpoint,
                            ),
                            permit,
                        )
                    })
                    .flatten()
                    .map(Arc::new);
                // The group committer writes its batches through the native writer too.
                let group = opts
                    .group_commit
                    .or_else(group_commit_from_env)
                    .unwrap_or(true)
                    .then(|| group_of(backend, &writer, &outbox_notify, native_writer.clone()));
                Ok(Self {
                    backend,
                    pool,
                    writer,
                    url: url.into(),
                    outbox_notify,
                    group,
                    native,
                    native_writer,
                    checkpointer,
                })
            }
            Backend::Postgres => {
                if std::env::var_os(crate::sql_profile::ENV).is_some_and(|p| !p.is_empty()) {
                    tracing::warn!(
                        "{} profiles SQLite only: use pg_stat_statements on PostgreSQL",
                        crate::sql_profile::ENV
                    );
                }
                let pool = AnyPoolOptions::new()
                    .max_connections(opts.max_connections)
                    .acquire_timeout(opts.acquire_timeout)
                    .connect(url)
                    .await?;
                let outbox_notify = Arc::default();
                let group = opts
                    .group_commit
                    .or_else(group_commit_from_env)
                    .unwrap_or(true)
                    .then(|| group_of(backend, &pool, &outbox_notify, None));
                Ok(Self {
                    backend,
                    writer: pool.clone(),
                    pool,
                    url: url.into(),
                    outbox_notify,
                    group,
                    native: None,
                    native_writer: None,
                    checkpointer: None,
                })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL this handle was opened with (contains no secrets for SQLite; for PostgreSQL it
    /// may hold a password: do not log it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The read pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Connections in use and idle, for `/metrics`.
    pub fn pool_stats(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    /// Start a write transaction. Everything that changes state (the change, its audit entry,
    /// its outbox event) goes through one of these and commits together or not at all.
    pub async fn begin_write(&self) -> Result<WriteTx, DbError> {
        let permit = match &self.native_writer {
            Some(w) => Some(w.permit().await),
            None => None,
        };
        let tx = self.writer.begin().await?;
        Ok(WriteTx {
            _permit: permit,
            tx,
            backend: self.backend,
            events: Vec::new(),
            outbox_notify: self.outbox_notify.clone(),
            audit_head: None,
            savepoints: 0,
            deferred: None,
        })
    }

    /// Run `f` in a write transaction shared with other concurrent callers (group commit, see
    /// [`crate::group`]) and return its result once that transaction is committed. `f` runs
    /// inside its own savepoint: when it returns `Err`, everything it wrote is undone and the
    /// error is returned, while the others' items commit. With group commit off
    /// ([`DbOptions::group_commit`]) `f` runs in a transaction of its own. `f` should only
    /// write: its reads and checks belong before, since every other writer waits while it runs.
    ///
    /// ```ignore
    /// let code = db.write_grouped(move |tx| Box::pin(async move { write(tx, &item).await })).await?;
    /// ```
    ///
    /// The item gets the sqlx transaction: for items written with `sqlx` queries. Items written
    /// through [`crate::Exec`] use [`Db::write_grouped_native`], which is native on a SQLite file.
    pub async fn write_grouped<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: for<'t> FnOnce(&'t mut WriteTx) -> crate::group::ItemFuture<'t, T, E> + Send + 'static,
    {
        match &self.group {
            Some(g) => g.write_sqlx(f).await,
            None => {
                let mut tx = self.begin_write().await?;
                let v = f(&mut tx).await?;
                tx.commit().await?;
                Ok(v)
            }
        }
    }

    /// [`Db::write_grouped`] for an item written through [`crate::Exec`] and
    /// [`crate::Journal`] (ghi gộp trực tiếp): on a SQLite file its batch runs natively (a
    /// native [`crate::Tx`], see [`crate::exec`]: no hand-over to sqlx's thread per statement),
    /// elsewhere in a [`WriteTx`]. Same rules: its own savepoint, arrival order, answered after
    /// the commit. Native items and [`Db::write_grouped`]'s sqlx items never share a batch on
    /// a SQLite file: a run of one kind is written, then the next.
    ///
    /// ```ignore
    /// let code = db.write_grouped_native(move |tx| Box::pin(async move { write(tx, &item).await })).await?;
    /// ```
    pub async fn write_grouped_native<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: for<'t> FnOnce(&'t mut crate::Tx) -> crate::group::ItemFuture<'t, T, E> + Send + 'static,
    {
        match &self.group {
            Some(g) => g.write(f).await,
            None => {
                let mut tx = self.begin_native().await?;
                let v = f(&mut tx).await?;
                tx.commit().await?;
                Ok(v)
            }
        }
    }

    /// Whether [`Db::write_grouped`] shares transactions between callers.
    pub fn group_commit(&self) -> bool {
        self.group.is_some()
    }

    /// Group commit so far: (transactions, items); (0, 0) when it is off.
    pub fn group_stats(&self) -> (u64, u64) {
        self.group.as_ref().map_or((0, 0), |g| g.stats())
    }

    /// Group commit so far: batches and the time spent opening, writing and committing them
    /// (all 0 when it is off).
    pub fn group_times(&self) -> crate::group::GroupTimes {
        self.group
            .as_ref()
            .map_or_else(Default::default, |g| g.times())
    }

    /// Group commit: items queued behind the writer now (hàng đợi ghi); 0 when it is off.
    pub fn group_queued(&self) -> usize {
        self.group.as_ref().map_or(0, |g| g.queued())
    }

    /// A read connection, for several queries in a row.
    pub async fn read_conn(&self) -> Result<PoolConnection<Any>, DbError> {
        Ok(self.pool.acquire().await?)
    }

    /// `SELECT 1`, for `/readyz`.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Woken whenever a transaction that wrote outbox events commits.
    pub fn outbox_notify(&self) -> Arc<tokio::sync::Notify> {
        self.outbox_notify.clone()
    }

    /// The native SQLite readers behind [`Db::read_rows`], when in use.
    pub(crate) fn native(&self) -> Option<&crate::native::NativeReaders> {
        self.native.as_deref()
    }

    /// The native SQLite writer behind [`Db::begin_native`], when in use.
    pub(crate) fn native_writer(&self) -> Option<&Arc<crate::exec::NativeWriter>> {
        self.native_writer.as_ref()
    }

    /// Close every connection (đóng mọi kết nối), and wait until they are closed.
    pub async fn close(&self) {
        if let Some(n) = &self.native {
            n.close();
        }
        if let Some(w) = &self.native_writer {
            w.close();
        }
        if let Some(c) = &self.checkpointer {
            c.close().await;
        }
        for pool in [&self.pool, &self.writer] {
            close_pool(pool).await;
        }
        if let Err(e) = crate::sql_profile::dump() {
            tracing::warn!(error = %e, "SQL profile not written");
        }
    }

    /// A handle like this one whose writes ([`Db::begin_write`]) go through a write connection
    /// of its own (kết nối ghi riêng), opened in the runtime this is awaited in: for a writer
    /// on a thread and runtime of its own, whose connection must be driven by that runtime
    /// (a PostgreSQL connection's socket belongs to the runtime that opened it; awaited from
    /// another, each read waits for that runtime's reactor). On PostgreSQL a pool of one new
    /// connection; on SQLite the one writer every handle shares — its connection works on a
    /// thread of its own whichever runtime awaits it — so the one-writer discipline holds.
    /// Reads still go through this handle's read pool. Close it with [`OwnWriter::close`].
    pub async fn own_writer(&self) -> Result<OwnWriter, DbError> {
        match self.backend {
            Backend::Sqlite => Ok(OwnWriter {
                db: self.clone(),
                own: false,
            }),
            Backend::Postgres => {
                let writer = AnyPoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(&self.url)
                    .await?;
                Ok(OwnWriter {
                    db: Self {
                        writer,
                        ..self.clone()
                    },
                    own: true,
                })
            }
        }
    }
}

/// A [`Db`] handle with a write connection of its own ([`Db::own_writer`]).
pub struct OwnWriter {
    db: Db,
    /// Whether the write connection is this handle's own (PostgreSQL), closed with it.
    own: bool,
}

impl OwnWriter {
    /// The handle: writes through the own connection, reads through the shared pool.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Close the own write connection (a shared one is left open), and wait until it is.
    pub async fn close(self) {
        if self.own {
            close_pool(&self.db.writer).await;
        }
    }
}

/// Close `pool` and wait until its connections are closed.
async fn close_pool(pool: &AnyPool) {
    pool.close().await;
    // sqlx 0.8's close does not wait for a connection on its way back to the pool: it is
    // pinged first, then put in the idle queue even though the pool has closed meanwhile,
    // where it stays open as long as a clone of this handle lives (on PostgreSQL a session
    // left in the database: `CREATE DATABASE … TEMPLATE` then fails). Wait for it (a round
    // trip; at most 5 s) and close again.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while pool.size() > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
        pool.close().await;
    }
}

/// An on/off environment variable: `0`/`false`/`off` or `1`/`true`/`on`; `None` otherwise.
pub(crate) fn switch_from_env(name: &str) -> Option<bool> {
    match std::env::var(name).ok()?.trim() {
        "0" | "false" | "off" => Some(false),
        "1" | "true" | "on" => Some(true),
        _ => None,
    }
}

/// `TINHSO_GROUP_COMMIT`.
fn group_commit_from_env() -> Option<bool> {
    switch_from_env("TINHSO_GROUP_COMMIT")
}

/// `TINHSO_SQLITE_BACKGROUND_CHECKPOINT`: off leaves WAL checkpoints to the writer's commits.
fn background_checkpoint_from_env() -> Option<bool> {
    switch_from_env("TINHSO_SQLITE_BACKGROUND_CHECKPOINT")
}

/// `TINHSO_NATIVE_READS`: off reads everything through sqlx (to compare).
fn native_reads_from_env() -> Option<bool> {
    switch_from_env("TINHSO_NATIVE_READS")
}

fn group_of(
    backend: Backend,
    writer: &AnyPool,
    outbox_notify: &Arc<tokio::sync::Notify>,
    native: Option<Arc<crate::exec::NativeWriter>>,
) -> Arc<crate::group::Group> {
    Arc::new(crate::group::Group::new(crate::group::Opener {
        backend,
        writer: writer.clone(),
        outbox_notify: outbox_notify.clone(),
        native,
    }))
}

/// Run a `SELECT COUNT(*) …` (or any query returning one BIGINT) on the read pool.
pub async fn count(db: &Db, sql: &str) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(db.pool())
        .await?)
}

/// A write transaction. Commit with [`WriteTx::commit`]; dropping it rolls back.
pub struct WriteTx {
    pub(crate) tx: Transaction<'static, Any>,
    pub(crate) backend: Backend,
    /// Outbox event ids written in this transaction, announced to the dispatcher on commit.
    pub(crate) events: Vec<String>,
    outbox_notify: Arc<tokio::sync::Notify>,
    /// The audit chain head, held from this transaction's first append to its commit.
    pub(crate) audit_head: Option<crate::audit::HeldHead>,
    /// Savepoints open in this transaction (their names are `tinhso_sp<depth>`).
    savepoints: usize,
    /// The group committer's transactions keep their audit entries and outbox events here
    /// (already chained and numbered in order) and write them at commit, one multi-row
    /// statement each for the whole batch instead of one or two per item. `None`: written at
    /// once, as every other transaction does.
    pub(crate) deferred: Option<Deferred>,
    /// The one-writer permit shared with the native writer of a SQLite file
    /// (`NativeWriter::permit`); `None` without one. Last, so that it is released after the
    /// transaction.
    _permit: Option<tokio::sync::OwnedMutexGuard<()>>,
}

/// Audit entries and outbox events a group transaction writes at commit.
#[derive(Default)]
pub(crate) struct Deferred {
    pub(crate) audit: Vec<crate::audit::AuditEntry>,
    pub(crate) events: Vec<crate::outbox::PendingEvent>,
}

/// A savepoint (điểm lưu) in a write transaction: [`WriteTx::rollback_to`] undoes what the
/// transaction wrote after it, including its audit entries and outbox events, and keeps what it
/// wrote before — one refused item of a batch without losing the others.
#[must_use = "release the savepoint or roll back to it"]
pub struct Savepoint {
    pub(crate) depth: usize,
    pub(crate) events: usize,
    pub(crate) audit_head: Option<crate::audit::HeldHead>,
    /// Lengths of the deferred audit entries and outbox events when it was opened.
    pub(crate) deferred: (usize, usize),
}

impl Savepoint {
    /// `Ok` when it is the newest of the `open` savepoints of its transaction (the only one
    /// that may be closed).
    pub(crate) fn expect_newest(&self, open: usize) -> Result<(), DbError> {
        if self.depth == open {
            Ok(())
        } else {
            Err(DbError::Invalid(format!(
                "savepoint {} closed while {open} is open",
                self.depth
            )))
        }
    }
}

impl WriteTx {
    /// The savepoint just opened at `depth`, with what it must restore if rolled back to.
    fn savepoint_at(&self, depth: usize) -> Savepoint {
        Savepoint {
            depth,
            events: self.events.len(),
            audit_head: self.audit_head.clone(),
            deferred: self
                .deferred
                .as_ref()
                .map_or((0, 0), |d| (d.audit.len(), d.events.len())),
        }
    }

    /// A write transaction for the group committer's writer task.
    pub(crate) async fn begin_on(o: &crate::group::Opener) -> Result<WriteTx, DbError> {
        let permit = match &o.native {
            Some(w) => Some(w.permit().await),
            None => None,
        };
        let tx = o.writer.begin().await?;
        Ok(WriteTx {
            _permit: permit,
            tx,
            backend: o.backend,
            events: Vec::new(),
            outbox_notify: o.outbox_notify.clone(),
            audit_head: None,
            savepoints: 0,
            deferred: Some(Deferred::default()),
        })
    }

    /// From now on keep this transaction's audit entries and outbox events (chained and
    /// numbered as they are appended) and write them at commit, one multi-row statement each,
    /// as a group transaction does (hoãn ghi nhật ký và hộp thư đi đến lúc cam kết). For
    /// batch writers with many items behind savepoints: [`WriteTx::rollback_to`] still drops
    /// a refused item's entries. What was written before stays written; nothing written in
    /// the transaction may then read `audit_log` or `outbox` expecting its own entries.
    pub fn defer_audit_and_outbox(&mut self) {
        if self.deferred.is_none() {
            self.deferred = Some(Deferred::default());
        }
    }

    /// The connection, to run queries: `sqlx::query(..).execute(tx.conn())`.
    pub fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Open a savepoint. Savepoints nest: release or roll back the newest first.
    pub async fn savepoint(&mut self) -> Result<Savepoint, DbError> {
        let depth = self.savepoints + 1;
        sqlx::query(&format!("SAVEPOINT tinhso_sp{depth}"))
            .execute(&mut *self.tx)
            .await?;
        self.savepoints = depth;
        Ok(self.savepoint_at(depth))
    }

    /// Undo everything written since `sp` (rows, audit entries, outbox events) and close it.
    /// On PostgreSQL this also clears an error raised after it.
    pub async fn rollback_to(&mut self, sp: Savepoint) -> Result<(), DbError> {
        self.expect_newest(&sp)?;
        let name = format!("tinhso_sp{}", sp.depth);
        sqlx::query(&format!("ROLLBACK TO SAVEPOINT {name}"))
            .execute(&mut *self.tx)
            .await?;
        sqlx::query(&format!("RELEASE SAVEPOINT {name}"))
            .execute(&mut *self.tx)
            .await?;
        self.savepoints = sp.depth - 1;
        self.events.truncate(sp.events);
        self.audit_head = sp.audit_head;
        if let Some(d) = self.deferred.as_mut() {
            d.audit.truncate(sp.deferred.0);
            d.events.truncate(sp.deferred.1);
        }
        Ok(())
    }

    /// Keep what was written since `sp` and close it.
    pub async fn release(&mut self, sp: Savepoint) -> Result<(), DbError> {
        self.expect_newest(&sp)?;
        sqlx::query(&format!("RELEASE SAVEPOINT tinhso_sp{}", sp.depth))
            .execute(&mut *self.tx)
            .await?;
        self.savepoints = sp.depth - 1;
        Ok(())
    }

    /// [`WriteTx::release`] `sp` and open a new savepoint in its place, in one round trip on
    /// SQLite: for batch writers that put each of many items behind its own savepoint.
    pub async fn release_and_reopen(&mut self, sp: Savepoint) -> Result<Savepoint, DbError> {
        self.expect_newest(&sp)?;
        let depth = sp.depth;
        let name = format!("tinhso_sp{depth}");
        match self.backend {
            // Two statements sent together, as `emit` does.
            Backend::Sqlite => {
                sqlx::query(&format!("RELEASE SAVEPOINT {name}; SAVEPOINT {name}"))
                    .execute(&mut *self.tx)
                    .await?;
            }
            // A prepared statement holds one command: two round trips.
            Backend::Postgres => {
                sqlx::query(&format!("RELEASE SAVEPOINT {name}"))
                    .execute(&mut *self.tx)
                    .await?;
                sqlx::query(&format!("SAVEPOINT {name}"))
                    .execute(&mut *self.tx)
                    .await?;
            }
        }
        Ok(self.savepoint_at(depth))
    }

    fn expect_newest(&self, sp: &Savepoint) -> Result<(), DbError> {
        sp.expect_newest(self.savepoints)
    }

    /// Commit. Returns the ids of outbox events written in the transaction.
    pub async fn commit(mut self) -> Result<Vec<String>, DbError> {
        if let Some(d) = self.deferred.take() {
            self.write_deferred_audit(d.audit).await?;
            self.write_deferred_events(d.events).await?;
        }
        self.store_audit_head().await?;
        self.tx.commit().await?;
        if !self.events.is_empty() {
            self.outbox_notify.notify_waiters();
            self.outbox_notify.notify_one();
        }
        Ok(self.events)
    }
}
