//! Audit trail (nhật ký kiểm toán): append-only and hash-chained.
//!
//! Each entry stores `hash = SHA-256(canonical(entry) || prev_hash)` where the canonical
//! encoding is every field length-prefixed (8-byte big-endian length, then UTF-8 bytes), so no
//! two different entries encode alike. Entries are written inside the [`WriteTx`] of the change
//! they record. [`verify`] walks the chain and finds the first broken link: an edited row
//! (its hash no longer matches), a deleted row (a gap in `seq` or a `prev_hash` that does not
//! link) or deleted newest rows (the chain head no longer matches the last entry).
//!
//! Verification reads one snapshot with the engine's native reader (a read-only SQLite
//! connection, `COPY … TO STDOUT` on PostgreSQL), hands batches of consecutive entries to
//! hasher threads and joins their results in `seq` order (see `audit/chain.rs`).

mod chain;
mod pg;
mod sqlite;

/// The database file behind a `sqlite:` URL; `None` when it is not a file (in memory).
pub(crate) use sqlite::file_of as sqlite_file_of;

use crate::db::{now_micros, Backend, Db, DbError, WriteTx};
use crate::exec::bind_sqlx;
use crate::native::Param;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

/// The hash before the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who is acting and in which request: passed to every service call that changes state, so
/// its audit entry names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ctx {
    /// `user:<id>`, `user:<id>/token:<id>`, `cli:<name>`, `system`.
    pub actor: String,
    pub request_id: String,
}

impl Ctx {
    pub fn system(request_id: impl Into<String>) -> Self {
        Self {
            actor: "system".into(),
            request_id: request_id.into(),
        }
    }

    /// An entry by this actor in this request.
    pub fn entry(
        &self,
        action: &str,
        target_type: &str,
        target_id: &str,
        scope: &str,
        summary: serde_json::Value,
    ) -> NewAuditEntry {
        NewAuditEntry {
            actor: self.actor.clone(),
            action: action.into(),
            target_type: target_type.into(),
            target_id: target_id.into(),
            scope: scope.into(),
            request_id: self.request_id.clone(),
            summary,
        }
    }
}

/// What a caller records (the time, sequence and hashes are added by the trail).
#[derive(Debug, Clone, Default)]
pub struct NewAuditEntry {
    /// Who: `user:<id>`, `token:<id>`, `system`, `cli`.
    pub actor: String,
    /// What, as `module.verb`: `user.create`, `agency.update`, `authz.denied`.
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    /// Organisation scope of the target (agency code or admin-unit code), for filtering.
    pub scope: String,
    pub request_id: String,
    /// Before/after summary, as JSON.
    pub summary: serde_json::Value,
}

/// A stored entry.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    /// Unix microseconds.
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub scope: String,
    pub request_id: String,
    pub summary: String,
    pub prev_hash: String,
    pub hash: String,
}

/// SHA-256 of an entry's canonical encoding: `seq` and `at` as 8 big-endian bytes, then
/// `fields` (actor, action, target_type, target_id, scope, request_id, summary, prev_hash),
/// each field preceded by its length as 8 big-endian bytes.
pub(crate) fn digest(seq: i64, at: i64, fields: [&[u8]; 8]) -> [u8; 32] {
    let mut h = Sha256::new();
    let seq_s = seq.to_be_bytes();
    let at_s = at.to_be_bytes();
    for field in [&seq_s[..], &at_s[..]].into_iter().chain(fields) {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field);
    }
    h.finalize().into()
}

/// Hash of an entry's content chained to `prev_hash`.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    target_type: &str,
    target_id: &str,
    scope: &str,
    request_id: &str,
    summary: &str,
    prev_hash: &str,
) -> String {
    hex::encode(digest(
        seq,
        at,
        [
            actor.as_bytes(),
            action.as_bytes(),
            target_type.as_bytes(),
            target_id.as_bytes(),
            scope.as_bytes(),
            request_id.as_bytes(),
            summary.as_bytes(),
            prev_hash.as_bytes(),
        ],
    ))
}

impl AuditEntry {
    fn computed_hash(&self) -> String {
        entry_hash(
            self.seq,
            self.at,
            &self.actor,
            &self.action,
            &self.target_type,
            &self.target_id,
            &self.scope,
            &self.request_id,
            &self.summary,
            &self.prev_hash,
        )
    }

    fn from_row(r: &sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            seq: r.try_get(0)?,
            at: r.try_get(1)?,
            actor: r.try_get(2)?,
            action: r.try_get(3)?,
            target_type: r.try_get(4)?,
            target_id: r.try_get(5)?,
            scope: r.try_get(6)?,
            request_id: r.try_get(7)?,
            summary: r.try_get(8)?,
            prev_hash: r.try_get(9)?,
            hash: r.try_get(10)?,
        })
    }
}

const COLUMNS: &str =
    "seq, at, actor, action, target_type, target_id, scope, request_id, summary, prev_hash, hash";
/// Bound parameters per inserted entry (one per column).
const PARAMS_PER_ROW: usize = 11;
/// Bound-parameter limits: SQLite's `SQLITE_MAX_VARIABLE_NUMBER` (32,766 since 3.32) and
/// PostgreSQL's protocol limit (65,535).
const SQLITE_MAX_PARAMS: usize = 32_766;
const PG_MAX_PARAMS: usize = 65_535;
/// Entries per multi-row `INSERT`, below both limits. Larger statements gain little: the
/// round trip is already shared by this many rows.
const MAX_ROWS_PER_INSERT: usize = 1_000;

/// Entries per `INSERT` of the native SQLite writer's commit, at most: 256, 128, …, 1 rows a
/// statement (`native::row_pieces`), each shape kept prepared (2,816 parameters at most).
pub(crate) const NATIVE_ROWS_PER_INSERT: usize = 256;

/// Entries per `INSERT` statement on `backend` (2 parameters are kept for the head).
pub(crate) fn rows_per_insert(backend: Backend) -> usize {
    let params = match backend {
        Backend::Sqlite => SQLITE_MAX_PARAMS,
        Backend::Postgres => PG_MAX_PARAMS,
    };
    ((params - 2) / PARAMS_PER_ROW).min(MAX_ROWS_PER_INSERT)
}

/// `INSERT` of `rows` entries. With `store_head`, the same statement also stores the last
/// entry as the chain head.
///
/// - SQLite: anonymous `?` parameters (SQLite looks a numbered or named parameter up by a
///   linear search, which makes binding 11,000 `$n` parameters quadratic), and for the head a
///   second statement whose 2 parameters are bound after the rows'.
/// - PostgreSQL: `$n` parameters, and for the head a data-modifying `WITH` that reuses the
///   last row's `seq` and `hash` parameters.
pub(crate) fn insert_sql(rows: usize, backend: Backend, store_head: bool) -> String {
    use std::fmt::Write as _;
    let mut sql = String::with_capacity(160 + rows * 64);
    if store_head && backend == Backend::Postgres {
        sql.push_str("WITH ins AS (");
    }
    sql.push_str("INSERT INTO audit_log (");
    sql.push_str(COLUMNS);
    sql.push_str(") VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 1..=PARAMS_PER_ROW {
            if c > 1 {
                sql.push(',');
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    let _ = write!(sql, "${}", r * PARAMS_PER_ROW + c);
                }
            }
        }
        sql.push(')');
    }
    if store_head {
        match backend {
            Backend::Postgres => {
                let seq = (rows - 1) * PARAMS_PER_ROW + 1;
                let hash = rows * PARAMS_PER_ROW;
                let _ = write!(
                    sql,
                    ") UPDATE audit_head SET seq = ${seq}, hash = ${hash} WHERE id = 1"
                );
            }
            Backend::Sqlite => {
                sql.push_str("; UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1")
            }
        }
    }
    sql
}

/// The chain head while a write transaction holds it, from its first append to its commit.
#[derive(Debug, Clone)]
pub(crate) struct HeldHead {
    seq: i64,
    hash: String,
    /// The `audit_head` row does not yet hold `seq`/`hash`: [`WriteTx::commit`] must store it.
    dirty: bool,
    /// An `INSERT` of this transaction already stored the head along with its entries.
    stored_once: bool,
}

impl HeldHead {
    /// The head as read from `audit_head` at a transaction's first append.
    pub(crate) fn read(seq: i64, hash: String) -> Self {
        Self {
            seq,
            hash,
            dirty: false,
            stored_once: false,
        }
    }

    /// Where the head is: (seq, hash).
    pub(crate) fn position(&self) -> (i64, &str) {
        (self.seq, &self.hash)
    }
}

impl AuditEntry {
    /// The bound parameters of this entry in an [`insert_sql`] row, in [`COLUMNS`] order.
    pub(crate) fn params(&self) -> [Param<'_>; PARAMS_PER_ROW] {
        [
            Param::Int(self.seq),
            Param::Int(self.at),
            Param::Text(&self.actor),
            Param::Text(&self.action),
            Param::Text(&self.target_type),
            Param::Text(&self.target_id),
            Param::Text(&self.scope),
            Param::Text(&self.request_id),
            Param::Text(&self.summary),
            Param::Text(&self.prev_hash),
            Param::Text(&self.hash),
        ]
    }
}

impl WriteTx {
    /// Append an audit entry in this transaction.
    ///
    /// The first append of a transaction takes the chain head's row lock (`UPDATE audit_head
    /// … RETURNING`), which serialises appenders on PostgreSQL until commit; the head is then
    /// kept in the transaction and written back once, by [`WriteTx::commit`] (or by the first
    /// `INSERT` itself). A transaction with *k* appends therefore costs *k* + 2 statements at
    /// most (2 for a single append).
    pub async fn audit(&mut self, e: &NewAuditEntry) -> Result<AuditEntry, DbError> {
        let mut written = self.audit_many(std::slice::from_ref(e)).await?;
        written
            .pop()
            .ok_or_else(|| DbError::Invalid("audit: the entry was not written".into()))
    }

    /// Append several audit entries, in order, with multi-row `INSERT`s (up to 1,000 entries a
    /// statement, below SQLite's and PostgreSQL's bound-parameter limits). Same chain and
    /// locking as [`WriteTx::audit`]; returns the stored entries.
    pub async fn audit_many(
        &mut self,
        entries: &[NewAuditEntry],
    ) -> Result<Vec<AuditEntry>, DbError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut head = match self.audit_head.take() {
            Some(h) => h,
            None => {
                // Taking the head row's lock first serialises appenders (PostgreSQL); SQLite
                // has one writer anyway. `seq = seq` changes nothing: the row is rewritten
                // when the head moves.
                let row =
                    sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash")
                        .fetch_one(self.conn())
                        .await?;
                HeldHead::read(row.try_get(0)?, row.try_get(1)?)
            }
        };
        let result = self.insert_entries(entries, &mut head).await;
        self.audit_head = Some(head);
        result
    }

    async fn insert_entries(
        &mut self,
        entries: &[NewAuditEntry],
        head: &mut HeldHead,
    ) -> Result<Vec<AuditEntry>, DbError> {
        let before = (head.seq, head.hash.clone());
        let out = chain(entries, head);
        match self.deferred.as_mut() {
            // A group transaction writes them all at commit.
            Some(d) => d.audit.extend(out.iter().cloned()),
            None => {
                if let Err(e) = self.write_entries(&out, head).await {
                    // Nothing was appended: the head stays where it was.
                    (head.seq, head.hash) = before;
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// Write entries already chained by [`chain`] (the last one is `head`'s position) with
    /// multi-row `INSERT`s; the last `INSERT` of the first write also stores the head.
    async fn write_entries(
        &mut self,
        rows: &[AuditEntry],
        head: &mut HeldHead,
    ) -> Result<(), DbError> {
        let chunk_rows = rows_per_insert(self.backend);
        let chunks = rows.len().div_ceil(chunk_rows);
        for (i, chunk) in rows.chunks(chunk_rows).enumerate() {
            // The first INSERT of a transaction also stores the head, in the same round trip
            // (a single append then costs 2 statements); later ones leave it to commit, since
            // rewriting one row many times in a transaction is slow on PostgreSQL.
            let store_head = !head.stored_once && i + 1 == chunks;
            let sql = insert_sql(chunk.len(), self.backend, store_head);
            // Keep prepared only the statements that recur (one entry, a full chunk), not one
            // per batch size a caller happens to use.
            let recurring = chunk.len() == 1 || chunk.len() == chunk_rows;
            let mut params: Vec<Param<'_>> = chunk.iter().flat_map(AuditEntry::params).collect();
            if store_head && self.backend == Backend::Sqlite {
                if let Some(last) = chunk.last() {
                    params.extend([Param::Int(last.seq), Param::Text(&last.hash)]);
                }
            }
            bind_sqlx(sqlx::query(&sql).persistent(recurring), &params)
                .execute(self.conn())
                .await?;
            if store_head {
                head.stored_once = true;
                head.dirty = false;
            } else {
                head.dirty = true;
            }
        }
        Ok(())
    }

    /// Write the audit entries a group transaction kept (see [`WriteTx::commit`]).
    pub(crate) async fn write_deferred_audit(
        &mut self,
        rows: Vec<AuditEntry>,
    ) -> Result<(), DbError> {
        if rows.is_empty() {
            return Ok(());
        }
        let Some(mut head) = self.audit_head.take() else {
            return Err(DbError::Invalid(
                "audit: entries kept without the chain head".into(),
            ));
        };
        let result = self.write_entries(&rows, &mut head).await;
        self.audit_head = Some(head);
        result
    }

    /// Store the chain head held by this transaction, if its appends moved it. Called by
    /// [`WriteTx::commit`].
    pub(crate) async fn store_audit_head(&mut self) -> Result<(), DbError> {
        let Some(head) = self.audit_head.as_ref().filter(|h| h.dirty) else {
            return Ok(());
        };
        let (seq, hash) = (head.seq, head.hash.clone());
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(seq)
            .bind(hash)
            .execute(self.conn())
            .await?;
        if let Some(h) = self.audit_head.as_mut() {
            h.dirty = false;
        }
        Ok(())
    }
}

/// Number and hash `entries` after `head`, which moves to the last of them.
pub(crate) fn chain(entries: &[NewAuditEntry], head: &mut HeldHead) -> Vec<AuditEntry> {
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let mut entry = AuditEntry {
            seq: head.seq + 1,
            at: now_micros(),
            actor: e.actor.clone(),
            action: e.action.clone(),
            target_type: e.target_type.clone(),
            target_id: e.target_id.clone(),
            scope: e.scope.clone(),
            request_id: e.request_id.clone(),
            summary: e.summary.to_string(),
            prev_hash: std::mem::take(&mut head.hash),
            hash: String::new(),
        };
        entry.hash = entry.computed_hash();
        head.seq = entry.seq;
        head.hash = entry.hash.clone();
        out.push(entry);
    }
    out
}

/// Write one audit entry in its own transaction (for events that change nothing else, such as
/// a denied request).
pub async fn append(db: &Db, e: &NewAuditEntry) -> Result<AuditEntry, DbError> {
    let mut tx = db.begin_write().await?;
    let entry = tx.audit(e).await?;
    tx.commit().await?;
    Ok(entry)
}

/// Outcome of [`verify`].
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VerifyReport {
    pub entries_checked: i64,
    pub head_seq: i64,
    /// `None` when the chain is intact.
    pub first_broken: Option<BrokenLink>,
}

/// Where and why the chain breaks.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BrokenLink {
    pub seq: i64,
    pub reason: String,
}

/// How [`verify_with`] reads and checks the trail. [`verify`] uses the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Consecutive entries checked as one unit of work by a hasher thread.
    pub batch_rows: usize,
    /// Hasher threads (default: the available parallelism, at most 8).
    pub hash_threads: usize,
    /// PostgreSQL: consecutive `seq` ranges copied at the same time, each over its own
    /// connection, all in one exported snapshot (ranges are only split when each gets at
    /// least `batch_rows` entries). SQLite reads one range.
    pub read_parts: usize,
    /// Read through the product's sqlx `Any` pool instead of the engine's native reader
    /// (read-only SQLite connection, or `COPY … TO STDOUT` on PostgreSQL). Slower; for
    /// comparison and for SQLite databases that are not a file.
    pub portable: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            batch_rows: 1_024,
            hash_threads: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .clamp(1, 8),
            read_parts: 2,
            portable: false,
        }
    }
}

/// What a reader saw in one snapshot of the database.
pub(crate) struct Snapshot {
    walk: chain::Walk,
    /// Entries with `seq < 1`.
    stray: i64,
    head_seq: i64,
    head_hash: Vec<u8>,
}

/// Walk the whole chain in `seq` order and report the first broken link: an edited entry, a
/// missing entry or a broken `prev_hash` link, entries with `seq < 1`, or a chain head that
/// does not match the last entry. Everything is read in one snapshot of the database.
pub async fn verify(db: &Db) -> Result<VerifyReport, DbError> {
    verify_with(db, &VerifyOptions::default()).await
}

/// [`verify`] with explicit options. The report does not depend on them.
pub async fn verify_with(db: &Db, opts: &VerifyOptions) -> Result<VerifyReport, DbError> {
    let snap = match (db.backend(), opts.portable) {
        (Backend::Sqlite, false) => match sqlite::file_of(db.url()) {
            Some(path) => {
                let opts = opts.clone();
                tokio::task::spawn_blocking(move || sqlite::read(&path, &opts))
                    .await
                    .map_err(|e| DbError::Invalid(format!("audit verification: {e}")))??
            }
            None => read_portable(db, opts).await?,
        },
        (Backend::Postgres, false) => pg::read(db.url(), opts).await?,
        (_, true) => read_portable(db, opts).await?,
    };
    Ok(report(snap))
}

fn report(s: Snapshot) -> VerifyReport {
    let walk = s.walk;
    if let Some(b) = walk.broken {
        return VerifyReport {
            entries_checked: walk.entries_checked,
            head_seq: 0,
            first_broken: Some(b),
        };
    }
    let last_seq = walk.last_seq;
    let first_broken = if s.stray > 0 {
        Some(BrokenLink {
            seq: 0,
            reason: format!(
                "{} entries with seq < 1 (inserted outside the trail)",
                s.stray
            ),
        })
    } else if s.head_seq != last_seq || s.head_hash != walk.last_hash {
        Some(BrokenLink {
            seq: last_seq + 1,
            reason: format!(
                "chain head is at entry {} but the trail ends at {last_seq} (newest entries deleted or head edited)",
                s.head_seq
            ),
        })
    } else {
        None
    };
    VerifyReport {
        entries_checked: walk.entries_checked,
        head_seq: s.head_seq,
        first_broken,
    }
}

/// The walk through sqlx's `Any` pool: one read transaction, rows streamed in `seq` order.
async fn read_portable(db: &Db, opts: &VerifyOptions) -> Result<Snapshot, DbError> {
    use futures_util::TryStreamExt;
    let mut tx = db.pool().begin().await?;
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?;
    let head_seq: i64 = head.try_get(0)?;
    let head_hash: String = head.try_get(1)?;
    let stray: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE seq < 1")
        .fetch_one(&mut *tx)
        .await?;
    let mut hashers = chain::Hashers::new(opts.hash_threads, opts.batch_rows)?;
    {
        let sql = format!("SELECT {COLUMNS} FROM audit_log WHERE seq >= 1 ORDER BY seq");
        let mut rows = sqlx::query(&sql).fetch(&mut *tx);
        while let Some(r) = rows.try_next().await? {
            let mut text = [""; chain::TEXT_FIELDS];
            for (i, t) in text.iter_mut().enumerate() {
                *t = r.try_get(i + 2)?;
            }
            let full = hashers.add(r.try_get(0)?, r.try_get(1)?, text.map(str::as_bytes));
            if let Some(b) = full {
                hashers.send(b).await?;
            }
            if hashers.should_stop() {
                break;
            }
        }
    }
    tx.rollback().await?;
    let walk = chain::walk(vec![hashers.finish().await?.part().await?]);
    Ok(Snapshot {
        walk,
        stray,
        head_seq,
        head_hash: head_hash.into_bytes(),
    })
}

/// Filter for browsing the trail; newest first.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// Scope prefix: entries whose scope starts with it.
    pub scope_prefix: Option<String>,
    /// Only entries with seq below this (for paging).
    pub before_seq: Option<i64>,
    pub limit: Option<i64>,
}

/// Browse the trail, newest first.
pub async fn list(db: &Db, f: &AuditFilter) -> Result<Vec<AuditEntry>, DbError> {
    let mut sql = format!("SELECT {COLUMNS} FROM audit_log WHERE 1=1");
    let mut binds: Vec<String> = Vec::new();
    let mut add = |cond: &str, v: String, sql: &mut String| {
        binds.push(v);
        sql.push_str(&cond.replace('?', &format!("${}", binds.len())));
    };
    if let Some(v) = &f.actor {
        add(" AND actor = ?", v.clone(), &mut sql);
    }
    if let Some(v) = &f.action {
        add(" AND action = ?", v.clone(), &mut sql);
    }
    if let Some(v) = &f.target_type {
        add(" AND target_type = ?", v.clone(), &mut sql);
    }
    if let Some(v) = &f.target_id {
        add(" AND target_id = ?", v.clone(), &mut sql);
    }
    if let Some(v) = &f.scope_prefix {
        add(
            " AND scope LIKE ?",
            format!("{}%", v.replace(['%', '_'], "")),
            &mut sql,
        );
    }
    let before = f.before_seq.unwrap_or(i64::MAX);
    let limit = f.limit.unwrap_or(50).clamp(1, 500);
    sql.push_str(&format!(
        " AND seq < ${} ORDER BY seq DESC LIMIT ${}",
        binds.len() + 1,
        binds.len() + 2
    ));
    let mut q = sqlx::query(&sql);
    for b in &binds {
        q = q.bind(b);
    }
    let rows = q.bind(before).bind(limit).fetch_all(db.pool()).await?;
    rows.iter()
        .map(|r| AuditEntry::from_row(r).map_err(DbError::from))
        .collect()
}

/// Entries written at or after `since` (Unix microseconds).
pub async fn count_since(db: &Db, since: i64) -> Result<i64, DbError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE at >= $1")
            .bind(since)
            .fetch_one(db.pool())
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Web handlers need `Send` futures.
    #[allow(dead_code)]
    fn verify_is_send(db: &Db) {
        fn send<T: Send>(_: &T) {}
        send(&verify(db));
        send(&append(db, &NewAuditEntry::default()));
    }
}
