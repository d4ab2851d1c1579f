//! Storage of Tỉnh số (lưu trữ): one code path for SQLite (embedded default) and PostgreSQL
//! (production), through sqlx's `Any` driver with portable SQL (`$1` placeholders, BIGINT,
//! TEXT, timestamps as Unix microseconds).
//!
//! - [`Db`]: the pools and the one-writer discipline for SQLite.
//! - [`migrate`]: versioned migrations contributed by every module crate.
//! - [`audit`]: the append-only, hash-chained audit trail (nhật ký kiểm toán).
//! - [`outbox`]: the transactional outbox and the in-process event dispatcher.
//! - [`group`]: group commit — concurrent writers share one transaction, one savepoint each.
//! - [`files`]: content-addressed attachments (tệp đính kèm) with type sniffing.
//! - [`native`]: short reads run natively on a SQLite file, without sqlx's thread hand-over.
//! - [`exec`]: write transactions run natively on a SQLite file, one calling code for both
//!   engines ([`Exec`], [`Tx`]).
//! - [`rollup`]: daily roll-ups kept current by triggers and refreshed before reading.
//! - [`sql_profile`]: a per-statement time profile of SQLite (`TINHSO_SQL_PROFILE`), off by default.
//! - [`backup`]: consistent online snapshots and restore.
//! - [`copies`]: per-database copies of rarely changed data, kept while a generation in the
//!   database has not moved.
//! - `checkpoint`: a SQLite file's WAL checkpoints on a thread of their own, off the writer.
//! - [`keep_map`]: a VFS over SQLite's `unix` one that keeps a connection's memory map when
//!   another connection commits (`TINHSO_SQLITE_KEEP_MAP`).
//! - [`test_support`]: fresh databases for tests, on SQLite or PostgreSQL.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod audit;
pub mod backup;
mod checkpoint;
pub mod copies;
pub mod db;
pub mod exec;
pub mod files;
pub mod group;
pub mod keep_map;
pub mod migrate;
pub mod native;
pub mod outbox;
pub mod rollup;
pub mod sql_profile;
pub mod test_support;

pub use db::{now_micros, Backend, Db, DbError, OwnWriter, Savepoint, WriteTx};
pub use exec::{Exec, Journal, Tx};
pub use sqlx::{any::AnyRow, Row};

/// Result of store operations.
pub type StoreResult<T> = Result<T, DbError>;
