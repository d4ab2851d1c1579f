//! The message log (nhật ký trao đổi): every exchange through the hub — accepted or refused —
//! as one append-only, hash-chained entry: who, which service, when, the hashes of request and
//! response, both signatures, the status and the latency.
//!
//! `hash = SHA-256(every field length-prefixed ‖ prev_hash)`, the same construction as the
//! audit trail: each field is preceded by its length as 8 big-endian bytes, integers are
//! 8 big-endian bytes. The `exchange_log_head` row holds the newest `seq` and `hash`; its row
//! lock (taken first in the appending transaction) serialises appenders on PostgreSQL, and
//! comparing it with the last entry detects deleted newest entries. An entry is written and
//! committed before the answer leaves the hub, so an answered exchange is always logged.
//!
//! A hash chain alone does not stop someone who can write to the database from rewriting it
//! whole. [`anchor`] therefore signs the chain head with the hub's key — derived from the master
//! key, which is not in the database — into `exchange_log_anchors` (`tinhso serve` does it
//! every 10 minutes when the log has grown); [`verify`] checks that each anchored entry still
//! has the anchored hash and, given the hub's public key, that each anchor's signature holds.
//!
//! The hub's key proves nothing against whoever holds the master key: they could rewrite the
//! chain and sign new anchors. With `[exchange] tsa_url` set, each anchor is also sent to a
//! time-stamp authority ([`crate::tsa`], RFC 3161) whose token — over the SHA-256 of the
//! anchor text, signed by a key the hub does not hold, dated by the TSA — is kept beside the
//! anchor ([`timestamp_pending`]); [`verify_with`] checks each token against the trusted TSA
//! certificate, so a later rewrite fails the imprint even with the anchors re-signed.

use futures_util::TryStreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{Connection as _, Row};
use tinhso_store::audit::GENESIS_HASH;
use tinhso_store::native::Param;
use tinhso_store::{now_micros, Backend, Db, DbError, Exec};

/// What the hub records about one exchange.
#[derive(Debug, Clone, Default)]
pub struct NewEntry {
    /// The hub's id of the exchange (`x-lgsp-exchange-id`), unique.
    pub exchange_id: String,
    /// The client member (as claimed when the request was refused before authentication).
    pub client: String,
    pub provider: String,
    pub service: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    /// `ok`, `unsigned`, `bad_signature`, `expired`, `replayed`, `unknown_member`,
    /// `rate_limited`, `forbidden`, `unknown_service`, `too_large`, `timeout`,
    /// `provider_error`, `circuit_open`, `interrupted` ([`close_interrupted`]).
    pub outcome: String,
    pub latency_us: i64,
    pub request_sha256: String,
    pub response_sha256: String,
    pub client_signature: String,
    pub hub_signature: String,
    /// Bodies kept encrypted beside the entry (same transaction), when the service's
    /// classification allows ([`crate::bodies`]).
    pub kept: Option<crate::bodies::Sealed>,
}

/// A stored entry.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Entry {
    pub seq: i64,
    /// Unix microseconds.
    pub at: i64,
    pub exchange_id: String,
    pub client: String,
    pub provider: String,
    pub service: String,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub outcome: String,
    pub latency_us: i64,
    pub request_sha256: String,
    pub response_sha256: String,
    pub client_signature: String,
    pub hub_signature: String,
    pub prev_hash: String,
    pub hash: String,
}

impl Entry {
    /// The hash this entry must carry.
    pub fn computed_hash(&self) -> String {
        let mut h = Sha256::new();
        let ints = [self.seq, self.at, self.status, self.latency_us];
        for i in ints {
            let b = i.to_be_bytes();
            h.update((b.len() as u64).to_be_bytes());
            h.update(b);
        }
        for f in [
            &self.exchange_id,
            &self.client,
            &self.provider,
            &self.service,
            &self.method,
            &self.path,
            &self.outcome,
            &self.request_sha256,
            &self.response_sha256,
            &self.client_signature,
            &self.hub_signature,
            &self.prev_hash,
        ] {
            h.update((f.len() as u64).to_be_bytes());
            h.update(f.as_bytes());
        }
        hex::encode(h.finalize())
    }

    fn from_row(r: &sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            seq: r.try_get(0)?,
            at: r.try_get(1)?,
            exchange_id: r.try_get(2)?,
            client: r.try_get(3)?,
            provider: r.try_get(4)?,
            service: r.try_get(5)?,
            method: r.try_get(6)?,
            path: r.try_get(7)?,
            status: r.try_get(8)?,
            outcome: r.try_get(9)?,
            latency_us: r.try_get(10)?,
            request_sha256: r.try_get(11)?,
            response_sha256: r.try_get(12)?,
            client_signature: r.try_get(13)?,
            hub_signature: r.try_get(14)?,
            prev_hash: r.try_get(15)?,
            hash: r.try_get(16)?,
        })
    }
}

const COLUMNS: &str =
    "seq, at, exchange_id, client, provider, service, method, path, status, outcome, \
     latency_us, request_sha256, response_sha256, client_signature, hub_signature, prev_hash, hash";

/// Cut a client-supplied value to a sane length for the log.
fn cut(s: &str, max: usize) -> String {
    cut_str(s, max).to_string()
}

/// [`cut`], borrowed.
fn cut_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Append one entry (its own transaction, committed before returning).
pub async fn append(db: &Db, e: &NewEntry) -> Result<Entry, DbError> {
    append_many(db, std::slice::from_ref(e))
        .await?
        .pop()
        .ok_or_else(|| DbError::Invalid("exchange log: the entry was not written".into()))
}

/// Append several entries, in order, in one transaction (one commit for all).
pub async fn append_many(db: &Db, entries: &[NewEntry]) -> Result<Vec<Entry>, DbError> {
    Ok(write_batch(db, entries, &[], &[], &[], Closing::Own, false)
        .await?
        .0)
}

/// How [`write_batch`] treats an entry flagged as closing an in-flight row that is no longer
/// there.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Closing {
    /// The exchange's own log entry: written all the same.
    Own,
    /// A sweep's `interrupted` entry ([`close_interrupted`]): left out, the row was closed
    /// meanwhile (by another node's sweep, or by the exchange itself).
    Claim,
}

/// A request's nonce as the hub records it: member, nonce, expiry (Unix microseconds).
pub type NonceRecord = (String, String, i64);

/// A nonce taken before forwarding ([`Appender::take_nonce`]): the nonce, the exchange's
/// in-flight row and when it started (µs), written together when the nonce is new.
type Take = (NonceRecord, InFlight, i64);

/// Append `entries` and record `nonces` (`exchange_nonces`) in one transaction, first purging
/// expired nonces when `purge`; the entries flagged in `inflight` (same index; missing: not)
/// close their exchange's in-flight row ([`InFlight`]) in the same transaction (`closing`
/// says what to do when the row is gone). Returns the entries written and, per nonce, whether
/// it was new in the database (`false`: another node — or this one before a restart —
/// recorded it first). `takes`: nonces taken before forwarding, in the same transaction,
/// each with its in-flight row when new; per take, in order, whether its nonce was new.
async fn write_batch(
    db: &Db,
    entries: &[NewEntry],
    nonces: &[NonceRecord],
    takes: &[Take],
    inflight: &[bool],
    closing: Closing,
    purge: bool,
) -> Result<Written, DbError> {
    if entries.is_empty() && nonces.is_empty() && takes.is_empty() {
        return Ok((Vec::new(), Vec::new(), Vec::new()));
    }
    // Native on a SQLite file (no hand-over to sqlx's connection thread per statement).
    let mut tx = db.begin_native().await?;
    if purge {
        tx.execute(
            "DELETE FROM exchange_nonces WHERE expires_at < $1",
            &[Param::Int(now_micros())],
        )
        .await?;
    }
    let fresh = insert_nonces(&mut tx, nonces.iter()).await?;
    let taken = insert_nonces(&mut tx, takes.iter().map(|t| &t.0)).await?;
    let opened: Vec<(&InFlight, i64)> = takes
        .iter()
        .zip(&taken)
        .filter(|(_, new)| **new)
        .map(|((_, flight, at), _)| (flight, *at))
        .collect();
    insert_inflight(&mut tx, &opened).await?;
    if entries.is_empty() {
        tx.commit().await?;
        return Ok((Vec::new(), fresh, taken));
    }
    let (mut seq, mut prev_hash) = tx
        .row(
            "UPDATE exchange_log_head SET seq = seq WHERE id = 1 RETURNING seq, hash",
            &[],
            |r| Ok((r.int(0)?, r.text(1)?)),
        )
        .await?
        .ok_or_else(|| DbError::Invalid("exchange log: the chain head row is missing".into()))?;
    // After the head row's lock: a concurrent sweep deleting the same rows has committed (or
    // not started) by now, so what this deletes is final.
    let closing_ids: Vec<&str> = entries
        .iter()
        .zip(inflight)
        .filter(|(_, c)| **c)
        .map(|(e, _)| e.exchange_id.as_str())
        .collect();
    let closed = close_rows(&mut tx, &closing_ids).await?;
    let mut out = Vec::with_capacity(entries.len());
    let mut kept = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if inflight.get(i).copied().unwrap_or(false)
            && closing == Closing::Claim
            && !closed.contains(e.exchange_id.as_str())
        {
            continue;
        }
        seq += 1;
        let entry = chained(e, seq, std::mem::take(&mut prev_hash));
        prev_hash.clone_from(&entry.hash);
        if let Some(k) = &e.kept {
            kept.push((out.len(), k));
        }
        out.push(entry);
    }
    insert_entries(&mut tx, &out).await?;
    insert_kept(&mut tx, &out, &kept).await?;
    tx.execute(
        "UPDATE exchange_log_head SET seq = $1, hash = $2 WHERE id = 1",
        &[Param::Int(seq), Param::Text(&prev_hash)],
    )
    .await?;
    tx.commit().await?;
    Ok((out, fresh, taken))
}

/// `e` as the entry `seq` of the chain, after the entry whose hash is `prev_hash`: its values
/// cut to the log's lengths, stamped now, hashed.
fn chained(e: &NewEntry, seq: i64, prev_hash: String) -> Entry {
    let mut entry = Entry {
        seq,
        at: now_micros(),
        exchange_id: cut(&e.exchange_id, 128),
        client: cut(&e.client, 64),
        provider: cut(&e.provider, 64),
        service: cut(&e.service, 64),
        method: cut(&e.method, 16),
        path: cut(&e.path, 2048),
        status: i64::from(e.status),
        outcome: e.outcome.clone(),
        latency_us: e.latency_us,
        request_sha256: e.request_sha256.clone(),
        response_sha256: e.response_sha256.clone(),
        client_signature: cut(&e.client_signature, 128),
        hub_signature: e.hub_signature.clone(),
        prev_hash,
        hash: String::new(),
    };
    entry.hash = entry.computed_hash();
    entry
}

/// What [`write_batch`] wrote: the entries, whether each nonce was new, whether each take's
/// nonce was new.
type Written = (Vec<Entry>, Vec<bool>, Vec<bool>);

/// Turns the SQLite log writer gives the runtime's other tasks, under load, for a batch to
/// fill ([`Batch::gather_more`]).
const GATHER_YIELDS: usize = 8;

/// Jobs in a batch past which the SQLite log writer waits no more ([`Batch::gather_more`]).
const GATHER_ENOUGH: usize = 16;

/// Rows per multi-row statement of the nonces and in-flight deletions at most (a power of
/// two, [`statement_chunks`]): far below SQLite's (32,766) and PostgreSQL's (65,535)
/// bound-parameter limits; a full batch ([`Appender::MAX_BATCH`]) takes 4 statements.
const ROWS_PER_STATEMENT: usize = 64;

/// `items` in the row counts of [`tinhso_store::native::row_pieces`] (powers of two, at most
/// [`ROWS_PER_STATEMENT`]), as [`Exec::insert_rows`] cuts plain inserts: each of the log's
/// statements that insert does not cover (nonces with `RETURNING`, the in-flight `DELETE`)
/// comes in a few shapes only, so the native writer's statement cache (shared with the group
/// committer) and PostgreSQL's named statements keep a handful of them.
fn statement_chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    tinhso_store::native::row_pieces(items.len(), ROWS_PER_STATEMENT).map(move |n| {
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        chunk
    })
}

/// `{head} VALUES (…), (…)` for `rows` rows of `cols` parameters, then `tail`: anonymous `?`
/// on SQLite (it finds a numbered parameter by a linear search), `$n` on PostgreSQL.
fn rows_sql(head: &str, cols: usize, rows: usize, backend: Backend, tail: &str) -> String {
    use std::fmt::Write as _;
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * cols * 5 + 16);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 1..=cols {
            if c > 1 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    let _ = write!(sql, "${}", r * cols + c);
                }
            }
        }
        sql.push(')');
    }
    sql.push_str(tail);
    sql
}

/// Record new nonces (`exchange_nonces`) in `tx`, with multi-row inserts that keep what the
/// database had (insert-or-nothing on the unique key); per nonce, in order, whether it was new.
/// A nonce twice in `nonces` is new at most once (its first time). The rows go in sorted by
/// key, so two hubs' batches sharing nonces wait for each other instead of deadlocking.
async fn insert_nonces<'n>(
    tx: &mut impl Exec,
    nonces: impl Iterator<Item = &'n NonceRecord> + Clone,
) -> Result<Vec<bool>, DbError> {
    let mut sorted: Vec<&NonceRecord> = nonces.clone().collect();
    sorted.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    sorted.dedup_by(|a, b| (&a.0, &a.1) == (&b.0, &b.1));
    let mut new = std::collections::HashSet::new();
    for chunk in statement_chunks(&sorted) {
        let sql = rows_sql(
            "INSERT INTO exchange_nonces (member_code, nonce, expires_at)",
            3,
            chunk.len(),
            tx.backend(),
            " ON CONFLICT (member_code, nonce) DO NOTHING RETURNING member_code, nonce",
        );
        let mut params = Vec::with_capacity(chunk.len() * 3);
        for (member, nonce, expires) in chunk {
            params.extend([
                Param::Text(member),
                Param::Text(nonce),
                Param::Int(*expires),
            ]);
        }
        new.extend(
            tx.rows(&sql, &params, |r| Ok((r.text(0)?, r.text(1)?)))
                .await?,
        );
    }
    Ok(nonces
        .map(|(m, n, _)| new.remove(&(m.clone(), n.clone())))
        .collect())
}

/// Insert in-flight rows ([`InFlight`], each with its start in µs) in `tx`, multi-row
/// ([`Exec::insert_rows`]).
async fn insert_inflight(tx: &mut impl Exec, rows: &[(&InFlight, i64)]) -> Result<(), DbError> {
    let mut params = Vec::with_capacity(rows.len() * 9);
    for (f, at) in rows {
        params.extend([
            Param::Text(&f.exchange_id),
            Param::Text(cut_str(&f.client, 64)),
            Param::Text(cut_str(&f.provider, 64)),
            Param::Text(cut_str(&f.service, 64)),
            Param::Text(cut_str(&f.method, 16)),
            Param::Text(cut_str(&f.path, 2048)),
            Param::Text(&f.request_sha256),
            Param::Text(cut_str(&f.client_signature, 128)),
            Param::Int(*at),
        ]);
    }
    tx.insert_rows(
        "exchange_inflight",
        &[
            "exchange_id",
            "client",
            "provider",
            "service",
            "method",
            "path",
            "request_sha256",
            "client_signature",
            "started_at",
        ],
        &params,
    )
    .await?;
    Ok(())
}

/// Delete the in-flight rows of `ids` ([`InFlight`]) in `tx`; the ids whose row was there.
async fn close_rows(
    tx: &mut impl Exec,
    ids: &[&str],
) -> Result<std::collections::HashSet<String>, DbError> {
    let mut closed = std::collections::HashSet::new();
    for chunk in statement_chunks(ids) {
        let mut sql = String::from("DELETE FROM exchange_inflight WHERE exchange_id IN (");
        for i in 1..=chunk.len() {
            if i > 1 {
                sql.push_str(", ");
            }
            tx.backend().push_param(&mut sql, i);
        }
        sql.push_str(") RETURNING exchange_id");
        let params: Vec<Param<'_>> = chunk.iter().map(|id| Param::Text(id)).collect();
        closed.extend(tx.rows(&sql, &params, |r| r.text(0)).await?);
    }
    Ok(closed)
}

/// Insert chained entries in `tx`, multi-row ([`Exec::insert_rows`]).
async fn insert_entries(tx: &mut impl Exec, rows: &[Entry]) -> Result<(), DbError> {
    let mut params = Vec::with_capacity(rows.len() * 17);
    for e in rows {
        params.extend([
            Param::Int(e.seq),
            Param::Int(e.at),
            Param::Text(&e.exchange_id),
            Param::Text(&e.client),
            Param::Text(&e.provider),
            Param::Text(&e.service),
            Param::Text(&e.method),
            Param::Text(&e.path),
            Param::Int(e.status),
            Param::Text(&e.outcome),
            Param::Int(e.latency_us),
            Param::Text(&e.request_sha256),
            Param::Text(&e.response_sha256),
            Param::Text(&e.client_signature),
            Param::Text(&e.hub_signature),
            Param::Text(&e.prev_hash),
            Param::Text(&e.hash),
        ]);
    }
    let columns: Vec<&str> = COLUMNS.split(',').map(str::trim).collect();
    tx.insert_rows("exchange_log", &columns, &params).await?;
    Ok(())
}

/// Insert the kept (encrypted) bodies of entries in `tx`: (index in `rows`, bodies),
/// multi-row ([`Exec::insert_rows`]).
async fn insert_kept(
    tx: &mut impl Exec,
    rows: &[Entry],
    kept: &[(usize, &crate::bodies::Sealed)],
) -> Result<(), DbError> {
    let mut params = Vec::with_capacity(kept.len() * 6);
    for (i, k) in kept {
        let e = rows
            .get(*i)
            .ok_or_else(|| DbError::Invalid("exchange log: kept bodies without entry".into()))?;
        params.extend([
            Param::Text(&e.exchange_id),
            Param::Int(k.client_timestamp),
            Param::Text(&k.client_nonce),
            Param::Text(&k.request),
            Param::Text(&k.response),
            Param::Int(e.at),
        ]);
    }
    tx.insert_rows(
        "exchange_bodies",
        &[
            "exchange_id",
            "client_timestamp",
            "client_nonce",
            "request_body",
            "response_body",
            "created_at",
        ],
        &params,
    )
    .await?;
    Ok(())
}

/// A chain head (seq, hash), when known ([`PgPipeline`]).
type Head = Option<(i64, String)>;

/// A nonce row of [`BATCH_PG`] (member, nonce, expiry in µs).
#[derive(Serialize)]
struct NonceRow<'a> {
    m: &'a str,
    n: &'a str,
    e: i64,
}

/// An in-flight row of [`BATCH_PG`] ([`InFlight`]), with its nonce (`m`, `n`): written only
/// when the nonce is new.
#[derive(Serialize)]
struct FlightRow<'a> {
    m: &'a str,
    n: &'a str,
    exchange_id: &'a str,
    client: String,
    provider: String,
    service: String,
    method: String,
    path: String,
    request_sha256: &'a str,
    client_signature: String,
    started_at: i64,
}

/// A kept-bodies row of [`BATCH_PG`] (`exchange_bodies`' columns).
#[derive(Serialize)]
struct KeptRow<'a> {
    exchange_id: &'a str,
    client_timestamp: i64,
    client_nonce: &'a str,
    request_body: &'a str,
    response_body: &'a str,
    created_at: i64,
}

/// The log writer's whole batch on PostgreSQL as one statement, which commits on its own (one
/// round trip; prepared once per connection, its text the same whatever the batch's size —
/// the rows go as JSON arrays). In the order [`write_batch`] takes its locks: the nonces (new
/// ones returned, `n`), the in-flight rows of the new taken nonces (`f`); then the chain head,
/// moved from the head the writer last committed (`$3`, `$4`) to the batch's last entry (`$5`,
/// `$6`) only if it is still that head (`h`: row lock; under READ COMMITTED a head another
/// hub moved meanwhile is re-read after its commit and no longer matches); only then the
/// closed in-flight rows, the entries and their kept bodies. Returns `('n', member, nonce)`
/// per new nonce and `('h', '', '')` when the head moved (the entries are written). A batch of
/// takes alone (`$11`) commits without waiting for the WAL flush (`synchronous_commit` off for
/// its own transaction): the log entry of an answered exchange commits synchronously later and
/// its flush carries the take's record before it; only a PostgreSQL or machine crash can lose
/// the take of an exchange not yet answered (see docs on the hub's durability).
const BATCH_PG: &str = "WITH n AS ( \
     INSERT INTO exchange_nonces (member_code, nonce, expires_at) \
     SELECT m, n, e FROM json_to_recordset($1::json) AS x(m TEXT, n TEXT, e BIGINT) \
     ON CONFLICT (member_code, nonce) DO NOTHING RETURNING member_code, nonce), \
   f AS ( \
     INSERT INTO exchange_inflight (exchange_id, client, provider, service, method, path, \
       request_sha256, client_signature, started_at) \
     SELECT x.exchange_id, x.client, x.provider, x.service, x.method, x.path, \
       x.request_sha256, x.client_signature, x.started_at \
     FROM json_to_recordset($2::json) AS x(m TEXT, n TEXT, exchange_id TEXT, client TEXT, \
       provider TEXT, service TEXT, method TEXT, path TEXT, request_sha256 TEXT, \
       client_signature TEXT, started_at BIGINT) \
     JOIN n ON n.member_code = x.m AND n.nonce = x.n), \
   h AS ( \
     UPDATE exchange_log_head SET seq = $5, hash = $6 \
     WHERE $7 AND id = 1 AND seq = $3 AND hash = $4 AND (SELECT COUNT(*) FROM n) >= 0 \
     RETURNING id), \
   c AS ( \
     DELETE FROM exchange_inflight \
     WHERE exchange_id IN (SELECT json_array_elements_text($8::json)) \
       AND EXISTS (SELECT 1 FROM h)), \
   l AS ( \
     INSERT INTO exchange_log (seq, at, exchange_id, client, provider, service, method, path, \
       status, outcome, latency_us, request_sha256, response_sha256, client_signature, \
       hub_signature, prev_hash, hash) \
     SELECT seq, at, exchange_id, client, provider, service, method, path, status, outcome, \
       latency_us, request_sha256, response_sha256, client_signature, hub_signature, \
       prev_hash, hash \
     FROM json_populate_recordset(NULL::exchange_log, $9::json) \
     WHERE EXISTS (SELECT 1 FROM h)), \
   b AS ( \
     INSERT INTO exchange_bodies (exchange_id, client_timestamp, client_nonce, request_body, \
       response_body, created_at) \
     SELECT exchange_id, client_timestamp, client_nonce, request_body, response_body, \
       created_at \
     FROM json_populate_recordset(NULL::exchange_bodies, $10::json) \
     WHERE EXISTS (SELECT 1 FROM h)) \
 SELECT 'n', member_code, nonce FROM n UNION ALL SELECT 'h', '', '' FROM h \
 UNION ALL SELECT 's', '', set_config('synchronous_commit', 'off', true) WHERE $11";

/// A batch of the log writer made ready for [`BATCH_PG`] from the chain head it follows: the
/// statement's parameters (JSON rows), the entries as they will be stored, and whether each
/// nonce and take is its key's first in the batch (a nonce counts as new once: the nonces
/// first, then the takes).
struct Prepared {
    nonces_json: String,
    flights_json: String,
    closing_json: String,
    entries_json: String,
    kept_json: String,
    out: Vec<Entry>,
    /// The head the batch follows and the head it leaves.
    from: (i64, String),
    to: (i64, String),
    nonce_first: Vec<bool>,
    take_first: Vec<bool>,
}

impl Prepared {
    fn new(b: &Batch, from: (i64, String)) -> Result<Self, DbError> {
        // Each nonce once (its first time), sorted by key so two hubs' batches sharing
        // nonces wait for each other instead of deadlocking.
        let mut first = std::collections::HashSet::new();
        let nonce_first: Vec<bool> = b
            .nonces
            .iter()
            .map(|(m, n, _)| first.insert((m.as_str(), n.as_str())))
            .collect();
        let take_first: Vec<bool> = b
            .takes
            .iter()
            .map(|((m, n, _), _, _)| first.insert((m.as_str(), n.as_str())))
            .collect();
        let mut rows: Vec<NonceRow> = b
            .nonces
            .iter()
            .zip(&nonce_first)
            .chain(b.takes.iter().map(|t| &t.0).zip(&take_first))
            .filter(|(_, f)| **f)
            .map(|((m, n, e), _)| NonceRow { m, n, e: *e })
            .collect();
        rows.sort_by(|a, b| (a.m, a.n).cmp(&(b.m, b.n)));
        let flights: Vec<FlightRow> = b
            .takes
            .iter()
            .zip(&take_first)
            .filter(|(_, f)| **f)
            .map(|(((m, n, _), f, at), _)| FlightRow {
                m,
                n,
                exchange_id: &f.exchange_id,
                client: cut(&f.client, 64),
                provider: cut(&f.provider, 64),
                service: cut(&f.service, 64),
                method: cut(&f.method, 16),
                path: cut(&f.path, 2048),
                request_sha256: &f.request_sha256,
                client_signature: cut(&f.client_signature, 128),
                started_at: *at,
            })
            .collect();
        let (mut seq, mut prev_hash) = from.clone();
        let mut out = Vec::with_capacity(b.entries.len());
        for e in &b.entries {
            seq += 1;
            let entry = chained(e, seq, std::mem::take(&mut prev_hash));
            prev_hash.clone_from(&entry.hash);
            out.push(entry);
        }
        let kept: Vec<KeptRow> = b
            .entries
            .iter()
            .zip(&out)
            .filter_map(|(e, entry)| {
                e.kept.as_ref().map(|k| KeptRow {
                    exchange_id: &entry.exchange_id,
                    client_timestamp: k.client_timestamp,
                    client_nonce: &k.client_nonce,
                    request_body: &k.request,
                    response_body: &k.response,
                    created_at: entry.at,
                })
            })
            .collect();
        let closing: Vec<&str> = b
            .entries
            .iter()
            .zip(&b.inflight)
            .filter(|(_, c)| **c)
            .map(|(e, _)| e.exchange_id.as_str())
            .collect();
        Ok(Self {
            nonces_json: json_of(&rows)?,
            flights_json: json_of(&flights)?,
            closing_json: json_of(&closing)?,
            entries_json: json_of(&out)?,
            kept_json: json_of(&kept)?,
            out,
            from,
            to: (seq, prev_hash),
            nonce_first,
            take_first,
        })
    }
}

/// What a batch on PostgreSQL did with the chain head.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HeadMove {
    /// Nothing to log: the head was not touched.
    Untouched,
    /// Moved from the head the batch was prepared from, in its one statement.
    AsPrepared,
    /// Written after another head (read by the batch, or by [`write_batch`] when the prepared
    /// one no longer held); or not written (an error).
    Otherwise,
}

/// [`write_batch`] for the log writer on PostgreSQL (its own entries: [`Closing::Own`]) on
/// `conn`, a connection of its own outside any transaction: one round trip ([`BATCH_PG`]),
/// prepared from the chain head `from` (the head the batches before it leave; read first when
/// `None`). When that is no longer the head (another hub on the database moved it, or a batch
/// before this one failed), the entries go through [`write_batch`] on `db`, which reads the
/// head under its lock. The guarantees are [`write_batch`]'s: entries, their nonces, taken
/// nonces with their in-flight rows all commit together or not at all. One difference: when
/// the head had moved, the batch's nonces commit in the statement and its entries in a second
/// transaction right after (a failure between them leaves nonces recorded for exchanges that
/// are then not answered — as a nonce taken before forwarding is). Returns what was written,
/// what happened to the head and the head the batch left (when known).
async fn write_batch_pg(
    conn: &mut sqlx::AnyConnection,
    db: &Db,
    b: &Batch,
    from: Option<Prepared>,
) -> Result<(Written, HeadMove, Head), DbError> {
    let prepared = match from {
        Some(p) => p,
        None => {
            let head = if b.entries.is_empty() {
                // Takes alone do not touch the head: any value does.
                (0, String::new())
            } else {
                sqlx::query_as("SELECT seq, hash FROM exchange_log_head WHERE id = 1")
                    .fetch_one(&mut *conn)
                    .await?
            };
            Prepared::new(b, head)?
        }
    };
    if b.purge {
        sqlx::query("DELETE FROM exchange_nonces WHERE expires_at < $1")
            .bind(now_micros())
            .execute(&mut *conn)
            .await?;
    }
    let Prepared {
        nonces_json,
        flights_json,
        closing_json,
        entries_json,
        kept_json,
        out,
        from,
        to,
        nonce_first,
        take_first,
    } = prepared;
    let result: Vec<(String, String, String)> = sqlx::query_as(BATCH_PG)
        .bind(nonces_json)
        .bind(flights_json)
        .bind(from.0)
        .bind(from.1)
        .bind(to.0)
        .bind(to.1.clone())
        .bind(!b.entries.is_empty())
        .bind(closing_json)
        .bind(entries_json)
        .bind(kept_json)
        .bind(!b.takes.is_empty() && b.entries.is_empty())
        .fetch_all(&mut *conn)
        .await?;
    let mut new = std::collections::HashSet::new();
    let mut moved = false;
    for (kind, m, n) in result {
        if kind == "h" {
            moved = true;
        } else if kind == "n" {
            new.insert((m, n));
        }
    }
    let is_new =
        |(m, n, _): &NonceRecord, first: bool| first && new.contains(&(m.clone(), n.clone()));
    let fresh: Vec<bool> = b
        .nonces
        .iter()
        .zip(nonce_first)
        .map(|(r, f)| is_new(r, f))
        .collect();
    let taken: Vec<bool> = b
        .takes
        .iter()
        .zip(take_first)
        .map(|(t, f)| is_new(&t.0, f))
        .collect();
    if b.entries.is_empty() {
        return Ok(((out, fresh, taken), HeadMove::Untouched, None));
    }
    if moved {
        return Ok(((out, fresh, taken), HeadMove::AsPrepared, Some(to)));
    }
    // The head is not the one prepared from: the entries after it, its lock taken first.
    let (out, _, _) =
        write_batch(db, &b.entries, &[], &[], &b.inflight, Closing::Own, false).await?;
    let left = out.last().map(|e| (e.seq, e.hash.clone()));
    Ok(((out, fresh, taken), HeadMove::Otherwise, left))
}

/// `v` as JSON text, for a statement's parameter.
fn json_of<T: Serialize + ?Sized>(v: &T) -> Result<String, DbError> {
    serde_json::to_string(v).map_err(|e| DbError::Invalid(format!("exchange log batch: {e}")))
}

/// Batches of the PostgreSQL log writer in flight at once ([`PgPipeline`]), each on a
/// connection of its own: while a batch of entries waits for its commit's WAL flush, the
/// nonces taken meanwhile go out. Two, not more: on two cores shared with the server, each
/// batch more in flight splits the same rows into smaller batches and more server processes
/// competing for the cores (`tinhso bench exchange` on PostgreSQL, 2026-12-03, alternated:
/// 6 in flight 4,707–4,714 exchanges/s, p99 26–29 ms; 3: 5,351–5,400/s, p99 21–22 ms; 2:
/// 5,565–5,863/s, p99 18.5–20.8 ms). One in flight measured slightly faster still
/// (5,844–5,947/s, p99 17.6–19.1 ms) but makes every nonce wait for the WAL flush of the
/// entries before it, which on a slower disk than this one's (0.13 ms per flush) would be
/// added to every exchange.
const PG_PIPELINE: usize = 2;

/// A connection of the PostgreSQL log writer ([`PgPipeline`]), planning without sequential
/// scans (`enable_seqscan = off`, this connection only). Its statements reach rows by key —
/// the in-flight rows an entry closes, the expired nonces of a purge — in tables that fill
/// and empty faster than their statistics follow. It keeps each statement prepared for its
/// whole life, and after a statement's first executions PostgreSQL keeps one plan for it:
/// made while a table was nearly empty (a new hub, a fresh database), that plan would scan
/// the whole table on every batch from then on. Measured (`tinhso bench exchange` on
/// PostgreSQL, 2026-12-03): the entries' batch scanned `exchange_inflight` (its dead rows
/// too) and every purge scanned all of `exchange_nonces`, 3.8 million rows read in 10 s.
async fn writer_connection(url: &str) -> Result<sqlx::AnyConnection, sqlx::Error> {
    let mut conn = sqlx::AnyConnection::connect(url).await?;
    if let Err(e) = sqlx::query("SET enable_seqscan = off")
        .execute(&mut conn)
        .await
    {
        let _ = conn.close().await;
        return Err(e);
    }
    Ok(conn)
}

/// What a batch in flight hands back: its connection (none after an error) and what it did
/// with the head.
struct PgDone {
    conn: Option<sqlx::AnyConnection>,
    moved: HeadMove,
    left: Head,
}

/// The PostgreSQL log writer's batches in flight ([`PG_PIPELINE`] at most), each a statement
/// on a connection of its own: nonces taken before forwarding go out at once, in batches of
/// their own, while one batch with entries at a time commits; the entries handed over
/// meanwhile wait for it and then go out together. Each batch with entries is prepared from
/// the head the one before it left (read by the first), which its statement checks
/// ([`write_batch_pg`]; another hub may have moved it).
struct PgPipeline {
    url: String,
    idle: Vec<sqlx::AnyConnection>,
    in_flight: futures_util::stream::FuturesUnordered<
        std::pin::Pin<Box<dyn std::future::Future<Output = PgDone> + Send>>,
    >,
    /// Batches with entries among those in flight.
    logging: usize,
    /// The head the next batch with entries follows; `None`: read by that batch.
    head: Head,
    /// Entries waiting for the batch with entries in flight (one at a time: each is prepared
    /// from the head the one before it left).
    pending: Option<Batch>,
    /// Where a batch's transaction goes when it needs one ([`write_batch`]).
    slow: Option<Db>,
}

impl PgPipeline {
    fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
            idle: Vec::new(),
            in_flight: futures_util::stream::FuturesUnordered::new(),
            logging: 0,
            head: None,
            pending: None,
            slow: None,
        }
    }

    /// Take over a gathered batch: its takes go out at once, as a batch of their own; its
    /// entries join those waiting for the batch with entries in flight, and go out with them
    /// once none is (group commit: entries gather while the one before commits). `slow`: for
    /// transactions ([`write_batch`]).
    async fn hand(
        &mut self,
        mut b: Batch,
        slow: &Db,
        stages: &std::sync::Arc<crate::stages::Stages>,
    ) {
        self.slow = Some(slow.clone());
        let takes = b.split_takes();
        if !takes.is_empty() {
            self.send(takes, stages.clone()).await;
        }
        if !b.is_empty() {
            match &mut self.pending {
                Some(p) => p.extend(b),
                None => self.pending = Some(b),
            }
        }
        self.flush(stages).await;
    }

    /// Send the waiting entries unless a batch with entries is in flight.
    async fn flush(&mut self, stages: &std::sync::Arc<crate::stages::Stages>) {
        if self.logging == 0 {
            if let Some(p) = self.pending.take() {
                self.send(p, stages.clone()).await;
            }
        }
    }

    fn full(&self) -> bool {
        self.in_flight.len() >= PG_PIPELINE
    }

    /// Take back a finished batch's connection and what it did with the head.
    fn finished(&mut self, done: PgDone) {
        if let Some(c) = done.conn {
            self.idle.push(c);
        }
        if done.moved == HeadMove::Untouched {
            return;
        }
        self.logging = self.logging.saturating_sub(1);
        if done.moved == HeadMove::Otherwise || self.head.is_none() {
            // Not the head it was prepared from (`None` after an error: read by the next), or
            // the head it read itself.
            self.head = done.left;
        }
    }

    /// Wait for one batch in flight to finish.
    async fn next(&mut self) {
        use futures_util::StreamExt as _;
        if let Some(done) = self.in_flight.next().await {
            self.finished(done);
        }
    }

    /// Send `b` (written through `db` when it cannot have a connection of its own); returns
    /// once it is in flight.
    async fn send(&mut self, mut b: Batch, stages: std::sync::Arc<crate::stages::Stages>) {
        let Some(db) = self.slow.clone() else {
            b.answer(Err(DbError::Invalid(
                "exchange log writer: no database".into(),
            )));
            return;
        };
        let logs = !b.entries.is_empty();
        while self.full() {
            self.next().await;
        }
        b.record_sent(&stages);
        // Its write from now (entries may have waited for the batch before).
        b.began = std::time::Instant::now();
        let conn = match self.idle.pop() {
            Some(c) => c,
            None => match writer_connection(&self.url).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e,
                        "exchange log writer: no connection for one-statement batches, writing in a transaction");
                    while !self.in_flight.is_empty() {
                        self.next().await;
                    }
                    let r = write_batch(
                        &db,
                        &b.entries,
                        &b.nonces,
                        &b.takes,
                        &b.inflight,
                        Closing::Own,
                        b.purge,
                    )
                    .await;
                    self.head = None;
                    stages.since(crate::stages::Stage::LogBatch, b.began);
                    b.answer(r);
                    return;
                }
            },
        };
        // Prepared now from the head the batches before it leave, when known.
        let prepared = match self.head.take() {
            Some(from) if logs => match Prepared::new(&b, from) {
                Ok(p) => {
                    self.head = Some(p.to.clone());
                    Some(p)
                }
                Err(e) => {
                    self.idle.push(conn);
                    b.answer(Err(e));
                    return;
                }
            },
            head => {
                self.head = head;
                None
            }
        };
        if logs {
            self.logging += 1;
        }
        self.in_flight.push(Box::pin(async move {
            let mut conn = conn;
            let r = write_batch_pg(&mut conn, &db, &b, prepared).await;
            stages.since(crate::stages::Stage::LogBatch, b.began);
            let (conn, moved, left, r) = match r {
                Ok((w, moved, left)) => (Some(conn), moved, left, Ok(w)),
                Err(e) => {
                    // Its state unknown after an error: a new one for the next batch.
                    let _ = conn.close().await;
                    let moved = if logs {
                        HeadMove::Otherwise
                    } else {
                        HeadMove::Untouched
                    };
                    (None, moved, None, Err(e))
                }
            };
            b.answer(r);
            PgDone { conn, moved, left }
        }));
    }

    /// Send what waits, wait for every batch in flight, then close the connections.
    async fn close(mut self, stages: &std::sync::Arc<crate::stages::Stages>) {
        while !self.in_flight.is_empty() || self.pending.is_some() {
            self.flush(stages).await;
            self.next().await;
        }
        for c in self.idle.drain(..) {
            let _ = c.close().await;
        }
    }
}

type Pending = (
    NewEntry,
    Option<NonceRecord>,
    bool,
    tokio::sync::oneshot::Sender<Result<Entry, String>>,
    std::time::Instant,
);

/// What the log writer is handed: an entry, a nonce to take before forwarding (answered
/// with whether it was new), or the order to stop once what came before it is committed
/// (answered when done). Not boxed: an entry or a nonce is sent per exchange, the stop once.
#[allow(clippy::large_enum_variant)]
enum Job {
    Append(Pending),
    Take(Take, tokio::sync::oneshot::Sender<Result<bool, String>>),
    Stop(tokio::sync::oneshot::Sender<()>),
}

/// Group commit for the log (ghi nhật ký theo lô): concurrent exchanges hand their entries to
/// one writer, which writes whatever has queued up (up to [`Appender::MAX_BATCH`]) in one
/// transaction and answers each caller once the commit is done. An exchange is still answered
/// only after its entry is committed; under load many share one commit instead of queueing
/// for one each.
///
/// On PostgreSQL the writer runs on a thread of its own (`exchange-log-writer`) with a runtime
/// of its own and connections of its own opened in that runtime: each batch resumes at once
/// instead of queueing behind the request tasks on the server's runtime. There a batch is one
/// statement, and several are in flight ([`PgPipeline`]: nonces taken before forwarding at
/// once, one batch of entries at a time); a batch that needs a transaction goes through
/// [`Db::own_writer`]. On SQLite it is a task of the caller's runtime (the database connection
/// has its own thread already; a second thread measured slower in release). Several
/// appenders (hubs) on one database each have their writer; the head row's lock orders them.
/// Dropping the appender, or [`Appender::close`], lets the writer commit what was handed to it
/// and stop.
pub struct Appender {
    db: Db,
    tx: std::sync::OnceLock<tokio::sync::mpsc::Sender<Job>>,
    /// Set by [`Appender::close`]: later appends are refused.
    closed: std::sync::atomic::AtomicBool,
    /// The writer's timings: how long entries queue before their batch, the batches' writes
    /// and sizes ([`crate::stages`]).
    stages: std::sync::Arc<crate::stages::Stages>,
}

impl Appender {
    pub const MAX_BATCH: usize = 256;

    /// The writer starts with the first append.
    pub fn new(db: Db) -> Self {
        Self::with_stages(db, std::sync::Arc::default())
    }

    /// An appender that records its timings in `stages`.
    pub fn with_stages(db: Db, stages: std::sync::Arc<crate::stages::Stages>) -> Self {
        Self {
            db,
            tx: std::sync::OnceLock::new(),
            closed: std::sync::atomic::AtomicBool::new(false),
            stages,
        }
    }

    fn sender(&self) -> &tokio::sync::mpsc::Sender<Job> {
        self.tx.get_or_init(|| {
            let (tx, rx) = tokio::sync::mpsc::channel::<Job>(4 * Self::MAX_BATCH);
            let (db, stages) = (self.db.clone(), self.stages.clone());
            // SQLite: the batch runs natively in the writer's task (`Db::begin_native`), a
            // fraction of a millisecond; a thread of its own would be one more hand-over per
            // batch (release, ninth round, then through sqlx: 3–5 % fewer exchanges). Its task
            // stays on the caller's runtime.
            let on_runtime = |rx, db, stages| match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn(write_log(rx, db, stages, false))),
                Err(e) => tracing::error!(error = %e, "exchange log writer: no runtime"),
            };
            if db.backend() == Backend::Sqlite && tokio::runtime::Handle::try_current().is_ok() {
                on_runtime(rx, db, stages);
                return tx;
            }
            // PostgreSQL: a thread and a runtime of its own, with its own connection.
            let (thread_tx, thread_rx) =
                tokio::sync::oneshot::channel::<tokio::sync::mpsc::Receiver<Job>>();
            let started = std::thread::Builder::new()
                .name("exchange-log-writer".into())
                .spawn(move || {
                    let Ok(rx) = thread_rx.blocking_recv() else {
                        return;
                    };
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt.block_on(write_log(rx, db, stages, true)),
                        Err(e) => tracing::error!(error = %e, "exchange log writer: no runtime"),
                    }
                });
            match started {
                Ok(_) => {
                    if thread_tx.send(rx).is_err() {
                        tracing::error!("exchange log writer: its thread stopped at once");
                    }
                }
                Err(e) => {
                    // Without a thread of its own, a task on the caller's runtime.
                    tracing::warn!(error = %e, "exchange log writer: no thread of its own");
                    on_runtime(rx, self.db.clone(), self.stages.clone());
                }
            }
            tx
        })
    }

    /// Commit every entry handed over so far, then stop the writer (drain on shutdown); later
    /// appends fail with "exchange log appender stopped". Returns once the writer has stopped.
    pub async fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let Some(tx) = self.tx.get() else {
            return;
        };
        let (done, stopped) = tokio::sync::oneshot::channel();
        if tx.send(Job::Stop(done)).await.is_ok() {
            let _ = stopped.await;
        }
    }

    /// Append one entry; returns once it is committed.
    pub async fn append(&self, e: NewEntry) -> Result<Entry, DbError> {
        self.append_with_nonce(e, None).await
    }

    /// Append the entry of an exchange whose in-flight row ([`InFlight`]) was written before
    /// forwarding; the row is deleted in the entry's transaction.
    pub async fn append_closing(&self, e: NewEntry) -> Result<Entry, DbError> {
        self.send(e, None, true).await
    }

    /// Append one entry and record the request's nonce in the same transaction (the hub keeps
    /// nonces in memory and writes them with the log instead of a commit of their own);
    /// returns once both are committed.
    pub async fn append_with_nonce(
        &self,
        e: NewEntry,
        nonce: Option<NonceRecord>,
    ) -> Result<Entry, DbError> {
        self.send(e, nonce, false).await
    }

    /// Take a nonce before forwarding (shared database, [`crate::hub::HubConfig`]'s
    /// `nonces_before_forwarding`): record it with the exchange's in-flight row `flight`
    /// (started at `now`, µs) unless the database has it. Batched with whatever else the writer
    /// has queued — other exchanges' nonces and log entries — in one transaction, with one
    /// multi-row insert; returns once that is committed: `true` when the nonce was new (the
    /// in-flight row is written), `false` when it was there already (a replay; nothing
    /// written).
    pub async fn take_nonce(
        &self,
        nonce: NonceRecord,
        flight: InFlight,
        now: i64,
    ) -> Result<bool, DbError> {
        self.ask(|reply| Job::Take((nonce, flight, now), reply))
            .await
    }

    /// Hand the writer the job `job` makes with the reply channel; its answer once the job's
    /// batch is committed (refused once the appender is closed or its writer stopped).
    async fn ask<T>(
        &self,
        job: impl FnOnce(tokio::sync::oneshot::Sender<Result<T, String>>) -> Job,
    ) -> Result<T, DbError> {
        let stopped = || DbError::Invalid("exchange log appender stopped".into());
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(stopped());
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.sender()
            .send(job(reply))
            .await
            .map_err(|_| stopped())?;
        answer
            .await
            .map_err(|_| stopped())?
            .map_err(DbError::Invalid)
    }

    async fn send(
        &self,
        e: NewEntry,
        nonce: Option<NonceRecord>,
        inflight: bool,
    ) -> Result<Entry, DbError> {
        let queued = std::time::Instant::now();
        self.ask(|reply| Job::Append((e, nonce, inflight, reply, queued)))
            .await
    }
}

/// A batch of the log writer: what was handed over, written together ([`write_batch`], or
/// [`write_batch_pg`] on PostgreSQL), and who to answer once it is committed.
struct Batch {
    entries: Vec<NewEntry>,
    nonces: Vec<NonceRecord>,
    inflight: Vec<bool>,
    replies: Vec<tokio::sync::oneshot::Sender<Result<Entry, String>>>,
    takes: Vec<Take>,
    take_replies: Vec<tokio::sync::oneshot::Sender<Result<bool, String>>>,
    /// When each entry was handed over.
    queued: Vec<std::time::Instant>,
    /// Purge expired nonces first.
    purge: bool,
    /// When the batch's write began: its first job taken, or (SQLite) the gathering over
    /// ([`Batch::gather_more`]); the start of [`crate::stages::Stage::LogBatch`].
    began: std::time::Instant,
}

impl Batch {
    /// `first` and whatever else has queued behind it (without waiting), up to
    /// [`Appender::MAX_BATCH`]; with the order to stop, when one came (nothing after it).
    fn gather(
        first: Job,
        rx: &mut tokio::sync::mpsc::Receiver<Job>,
    ) -> (Self, Option<tokio::sync::oneshot::Sender<()>>) {
        let mut b = Self::empty(std::time::Instant::now());
        let mut next = Some(first);
        while let Some(job) = next.take() {
            if let Some(done) = b.add(job) {
                return (b, Some(done));
            }
            if !b.full() {
                next = rx.try_recv().ok();
            }
        }
        (b, None)
    }

    /// Add `job`; the order to stop, when it is one (nothing may follow it).
    fn add(&mut self, job: Job) -> Option<tokio::sync::oneshot::Sender<()>> {
        match job {
            Job::Append((entry, nonce, open, reply, queued)) => {
                self.queued.push(queued);
                self.entries.push(entry);
                self.nonces.extend(nonce);
                self.inflight.push(open);
                self.replies.push(reply);
            }
            Job::Take(take, reply) => {
                self.takes.push(take);
                self.take_replies.push(reply);
            }
            Job::Stop(done) => return Some(done),
        }
        None
    }

    fn full(&self) -> bool {
        self.entries.len() + self.takes.len() >= Appender::MAX_BATCH
    }

    /// Under load, let the runtime's other tasks run (up to [`GATHER_YIELDS`] times) while
    /// each turn brings more jobs, until the batch holds [`GATHER_ENOUGH`]; the order to stop,
    /// when one came. No timer: when nobody else is about to hand an entry over, the first
    /// turn brings nothing and the batch goes at once.
    async fn gather_more(
        &mut self,
        rx: &mut tokio::sync::mpsc::Receiver<Job>,
    ) -> Option<tokio::sync::oneshot::Sender<()>> {
        for _ in 0..GATHER_YIELDS {
            if self.entries.len() + self.takes.len() >= GATHER_ENOUGH {
                break;
            }
            tokio::task::yield_now().await;
            let mut came = false;
            while !self.full() {
                let Ok(job) = rx.try_recv() else {
                    break;
                };
                came = true;
                if let Some(done) = self.add(job) {
                    return Some(done);
                }
            }
            if !came {
                break;
            }
        }
        None
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.takes.is_empty()
    }

    /// A batch with no job yet, begun at `began`.
    fn empty(began: std::time::Instant) -> Self {
        Self {
            entries: Vec::new(),
            nonces: Vec::new(),
            inflight: Vec::new(),
            replies: Vec::new(),
            takes: Vec::new(),
            take_replies: Vec::new(),
            queued: Vec::new(),
            purge: false,
            began,
        }
    }

    /// The takes, as a batch of their own (with the purge), leaving the entries.
    fn split_takes(&mut self) -> Self {
        Self {
            // The purge goes with the takes only when there are takes: a batch of none is
            // never sent, and the purge would be lost with it (read before the takes move).
            purge: !self.takes.is_empty() && std::mem::take(&mut self.purge),
            takes: std::mem::take(&mut self.takes),
            take_replies: std::mem::take(&mut self.take_replies),
            ..Self::empty(self.began)
        }
    }

    /// `other`'s jobs after this batch's.
    fn extend(&mut self, other: Self) {
        self.entries.extend(other.entries);
        self.nonces.extend(other.nonces);
        self.inflight.extend(other.inflight);
        self.replies.extend(other.replies);
        self.takes.extend(other.takes);
        self.take_replies.extend(other.take_replies);
        self.queued.extend(other.queued);
        self.purge |= other.purge;
    }

    /// Record, as the batch goes out, how long its entries waited for it and its size.
    fn record_sent(&self, stages: &crate::stages::Stages) {
        let now = std::time::Instant::now();
        for q in &self.queued {
            stages.record(
                crate::stages::Stage::LogQueue,
                u64::try_from(now.saturating_duration_since(*q).as_micros()).unwrap_or(u64::MAX),
            );
        }
        stages.record(
            crate::stages::Stage::LogBatchSize,
            self.entries.len() as u64,
        );
    }

    /// Answer every caller: what was written, or the error.
    fn answer(self, result: Result<Written, DbError>) {
        match result {
            Ok((written, fresh, taken)) => {
                for (reply, new) in self.take_replies.into_iter().zip(taken) {
                    let _ = reply.send(Ok(new));
                }
                for (nonce, new) in self.nonces.iter().zip(fresh) {
                    if !new {
                        // Refused in memory on this node, so recorded by another node sharing
                        // the database, or before a restart.
                        tracing::warn!(member = %nonce.0, nonce = %nonce.1,
                            "nonce already in the database: a replay through another hub node");
                    }
                }
                for (reply, e) in self.replies.into_iter().zip(written) {
                    let _ = reply.send(Ok(e));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for reply in self.replies {
                    let _ = reply.send(Err(msg.clone()));
                }
                for reply in self.take_replies {
                    let _ = reply.send(Err(msg.clone()));
                }
            }
        }
    }
}

/// The log writer's loop ([`Appender`]): batches what has queued, writes it in one transaction
/// ([`write_batch`]; on PostgreSQL one statement, several batches in flight: [`PgPipeline`])
/// and answers each entry's caller once its batch is committed; ends when every sender is gone
/// or on [`Job::Stop`], after committing what came before. `own_connection`: write
/// transactions through a connection opened in the runtime this runs in ([`Db::own_writer`];
/// when it cannot be opened, the shared one, tried again at the next batch).
async fn write_log(
    mut rx: tokio::sync::mpsc::Receiver<Job>,
    db: Db,
    stages: std::sync::Arc<crate::stages::Stages>,
    own_connection: bool,
) {
    let mut own: Option<tinhso_store::OwnWriter> = None;
    let mut batches = 0u64;
    let mut last_batch_len = 0usize;
    let mut pg = (db.backend() == Backend::Postgres).then(|| PgPipeline::new(db.url()));
    let mut stop = None;
    while stop.is_none() {
        let job = match pg.as_mut() {
            // Batches in flight: the next job, or one of them finishing.
            Some(p) if !p.in_flight.is_empty() => {
                use futures_util::StreamExt as _;
                tokio::select! {
                    done = p.in_flight.next() => {
                        if let Some(done) = done {
                            p.finished(done);
                        }
                        p.flush(&stages).await;
                        continue;
                    }
                    job = rx.recv(), if !p.full() => job,
                }
            }
            _ => rx.recv().await,
        };
        let Some(first) = job else {
            break;
        };
        let (mut batch, stopped) = Batch::gather(first, &mut rx);
        stop = stopped;
        // SQLite under load: a native batch is written in a fraction of a millisecond, so the
        // batches that gather by themselves are of one or two entries, each a commit of its
        // own; wait a moment for more (the batch before this one was not alone: load).
        if pg.is_none() && stop.is_none() && last_batch_len > 1 {
            stop = batch.gather_more(&mut rx).await;
            // The batch's write is timed from here ([`crate::stages::Stage::LogBatch`]).
            batch.began = std::time::Instant::now();
        }
        last_batch_len = batch.entries.len() + batch.takes.len();
        if batch.is_empty() {
            continue;
        }
        if own_connection && own.is_none() {
            match db.own_writer().await {
                Ok(w) => own = Some(w),
                Err(e) => tracing::warn!(error = %e,
                    "exchange log writer: no connection of its own, writing through the shared one"),
            }
        }
        let target = own.as_ref().map_or(&db, |w| w.db());
        batches += 1;
        // Expired nonces are purged every 64th batch.
        batch.purge = batches % 64 == 1;
        if let Some(p) = pg.as_mut() {
            p.hand(batch, target, &stages).await;
            continue;
        }
        batch.record_sent(&stages);
        let result = write_batch(
            target,
            &batch.entries,
            &batch.nonces,
            &batch.takes,
            &batch.inflight,
            Closing::Own,
            batch.purge,
        )
        .await;
        stages.since(crate::stages::Stage::LogBatch, batch.began);
        batch.answer(result);
    }
    if let Some(p) = pg {
        p.close(&stages).await;
    }
    // Entries handed over after the stop are answered "stopped" (their callers' replies are
    // dropped with the channel): none of them is answered as logged.
    drop(rx);
    if let Some(w) = own {
        w.close().await;
    }
    if let Some(done) = stop {
        let _ = done.send(());
    }
}

/// An exchange the hub took in (its nonce written before forwarding) and has not logged yet
/// (trao đổi đang xử lý): written in the nonce's transaction, deleted in its log entry's. A row
/// older than any exchange can last is one a crash cut off: [`close_interrupted`] logs it.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    pub exchange_id: String,
    pub client: String,
    pub provider: String,
    pub service: String,
    pub method: String,
    pub path: String,
    pub request_sha256: String,
    pub client_signature: String,
}

impl InFlight {
    /// Write the row in `tx` (with the nonce), at `now` (µs).
    pub async fn write(&self, tx: &mut tinhso_store::WriteTx, now: i64) -> Result<(), DbError> {
        insert_inflight(tx, &[(self, now)]).await
    }
}

/// The outcome logged for an exchange cut off by a crash after its nonce was written (it may
/// or may not have reached the provider; the client got no answer). Status 0: none was given.
pub const INTERRUPTED: &str = "interrupted";

/// Log every in-flight exchange started before `before` (µs) as [`INTERRUPTED`] (status 0,
/// the response hash of an empty body, signed by `key` like any answer) and delete its row,
/// in one transaction, oldest first, at most [`CLOSE_BATCH`] at a time. Returns the entries
/// written. Rows of exchanges still running on another node are younger than `before` when
/// the caller allows for the longest exchange. A row another sweep (another node's) closed
/// meanwhile is left out, so two nodes sweeping at once log each exchange once.
pub async fn close_interrupted(
    db: &Db,
    key: &ed25519_dalek::SigningKey,
    before: i64,
) -> Result<Vec<Entry>, DbError> {
    let rows = sqlx::query(
        "SELECT exchange_id, client, provider, service, method, path, request_sha256, \
         client_signature, started_at FROM exchange_inflight WHERE started_at < $1 \
         ORDER BY started_at, exchange_id LIMIT $2",
    )
    .bind(before)
    .bind(CLOSE_BATCH)
    .fetch_all(db.pool())
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let empty = crate::signing::sha256_hex(b"");
    let mut entries = Vec::with_capacity(rows.len());
    for r in &rows {
        let exchange_id: String = r.try_get(0)?;
        let request_sha256: String = r.try_get(6)?;
        let started_at: i64 = r.try_get(8)?;
        let text = crate::signing::response_text(&exchange_id, 0, &request_sha256, &empty);
        entries.push(NewEntry {
            hub_signature: crate::signing::sign(key, &text),
            exchange_id,
            client: r.try_get(1)?,
            provider: r.try_get(2)?,
            service: r.try_get(3)?,
            method: r.try_get(4)?,
            path: r.try_get(5)?,
            status: 0,
            outcome: INTERRUPTED.into(),
            latency_us: (now_micros() - started_at).max(0),
            request_sha256,
            response_sha256: empty.clone(),
            client_signature: r.try_get(7)?,
            kept: None,
        });
    }
    let closing = vec![true; entries.len()];
    Ok(
        write_batch(db, &entries, &[], &[], &closing, Closing::Claim, false)
            .await?
            .0,
    )
}

/// In-flight rows [`close_interrupted`] logs in one transaction.
pub const CLOSE_BATCH: i64 = 1000;

/// Sweep the exchanges a crash cut off (trao đổi bị gián đoạn): [`close_interrupted`] for
/// those in flight for longer than `after`, at once, again `after` later when that comes
/// before `every` (what a crash just before this start left is then old enough), then every
/// `every`, until `shutdown` resolves. Each round goes on while rows are left, so a backlog
/// is cleared in one round.
pub async fn close_interrupted_every(
    db: Db,
    key: ed25519_dalek::SigningKey,
    after: std::time::Duration,
    every: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let limit = i64::try_from(after.as_micros()).unwrap_or(i64::MAX);
    let mut wait = after.min(every);
    loop {
        loop {
            match close_interrupted(&db, &key, now_micros().saturating_sub(limit)).await {
                Ok(closed) if !closed.is_empty() => tracing::warn!(
                    count = closed.len(),
                    first = %closed[0].exchange_id,
                    "exchanges cut off by a crash between forwarding and logging logged as interrupted (status 0)"
                ),
                Ok(_) => break,
                Err(e) => {
                    tracing::error!(error = %e, "in-flight exchanges not closed; retried next round");
                    break;
                }
            }
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = every;
    }
}

/// The newest entries, newest first.
pub async fn recent(db: &Db, limit: i64) -> Result<Vec<Entry>, DbError> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM exchange_log ORDER BY seq DESC LIMIT $1"
    ))
    .bind(limit.clamp(1, 1000))
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| Entry::from_row(r).map_err(DbError::from))
    .collect()
}

/// The agencies (codes) that took part — as the calling member or as the provider — in at
/// least one successful exchange (outcome `ok`, status below 400) in `[from, to)`
/// (microseconds): a member `000.00.23.H37-HETHONG` counts for its agency `000.00.23.H37`.
/// Refused calls do not count: their client is only claimed. Read by the plan's live indicator
/// of agencies connected through the hub (liên thông qua trục LGSP).
pub async fn agencies_exchanging(
    db: &Db,
    from: i64,
    to: i64,
) -> Result<std::collections::BTreeSet<String>, DbError> {
    Ok(agencies_exchanging_windows(db, &[(from, to)])
        .await?
        .pop()
        .unwrap_or_default())
}

/// [`agencies_exchanging`] for several windows `[from, to)` at once, in the order given, in one
/// statement (the windows joined to the log, [`tinhso_store::rollup::windows_sql`]).
pub async fn agencies_exchanging_windows(
    db: &Db,
    windows: &[(i64, i64)],
) -> Result<Vec<std::collections::BTreeSet<String>>, DbError> {
    let mut out = vec![std::collections::BTreeSet::new(); windows.len()];
    if windows.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT DISTINCT w.i, l.client, l.provider FROM ({}) w JOIN exchange_log l \
         ON l.at >= w.lo AND l.at < w.hi WHERE l.outcome = 'ok' AND l.status < 400",
        tinhso_store::rollup::windows_sql(windows.len(), 1)
    );
    let mut q = sqlx::query_as::<_, (i64, String, String)>(&sql);
    for (from, to) in windows {
        q = q.bind(*from).bind(*to);
    }
    let agency = |m: &str| m.split_once('-').map_or(m, |(a, _)| a).to_string();
    for (i, c, p) in q.fetch_all(db.pool()).await? {
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| out.get_mut(i)) {
            slot.insert(agency(&c));
            slot.insert(agency(&p));
        }
    }
    Ok(out)
}

/// The first broken link found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Broken {
    pub seq: i64,
    pub reason: String,
}

/// Result of [`verify`].
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct VerifyReport {
    /// Entries found intact before the first broken one (all of them when intact).
    pub entries_checked: i64,
    /// Stored bodies found to hash to their entries' hashes (checked with the hub's key only,
    /// after the chain).
    pub bodies_checked: i64,
    pub first_broken: Option<Broken>,
    /// Anchors (neo) in the log, and how many of them hold a TSA time-stamp token.
    pub anchors: i64,
    pub anchors_timestamped: i64,
    /// Tokens checked against the trusted TSA certificate (0 when none is configured: the
    /// tokens are then counted, not checked).
    pub timestamps_verified: i64,
    /// The newest verified time-stamp: everything up to `seq` existed, as it is, at `gen_time`.
    pub latest_timestamp: Option<AnchorStamp>,
}

/// One anchor's verified time-stamp (dấu thời gian của neo).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AnchorStamp {
    pub seq: i64,
    /// The TSA's `genTime`, Unix microseconds.
    pub gen_time: i64,
    /// The TSA's certificate subject.
    pub tsa_name: String,
}

/// One anchor as the hub page lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AnchorRow {
    pub seq: i64,
    /// When the hub signed it, Unix microseconds.
    pub at: i64,
    /// The TSA's name and `genTime` as stored, when the anchor is externally time-stamped.
    pub tsa_name: Option<String>,
    pub tsa_gen_time: Option<i64>,
}

/// The newest anchors, newest first.
pub async fn recent_anchors(db: &Db, limit: i64) -> Result<Vec<AnchorRow>, DbError> {
    sqlx::query(
        "SELECT seq, at, tsa_name, tsa_gen_time FROM exchange_log_anchors ORDER BY seq DESC LIMIT $1",
    )
    .bind(limit.clamp(1, 1000))
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        Ok(AnchorRow {
            seq: r.try_get(0)?,
            at: r.try_get(1)?,
            tsa_name: r.try_get(2)?,
            tsa_gen_time: r.try_get(3)?,
        })
    })
    .collect()
}

/// The text an anchor's signature covers.
pub fn anchor_text(seq: i64, hash: &str, at: i64) -> String {
    format!("TINHSO-LGSP-1-ANCHOR\n{seq}\n{hash}\n{at}")
}

/// Sign the current chain head into `exchange_log_anchors` unless it is anchored already.
/// Returns the anchored `seq`, or `None` when there was nothing new.
pub async fn anchor(db: &Db, key: &ed25519_dalek::SigningKey) -> Result<Option<i64>, DbError> {
    let mut tx = db.begin_write().await?;
    let row =
        sqlx::query("UPDATE exchange_log_head SET seq = seq WHERE id = 1 RETURNING seq, hash")
            .fetch_one(tx.conn())
            .await?;
    let seq: i64 = row.try_get(0)?;
    let hash: String = row.try_get(1)?;
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM exchange_log_anchors")
        .fetch_one(tx.conn())
        .await?;
    if seq == 0 || last.is_some_and(|l| l >= seq) {
        return Ok(None);
    }
    let at = now_micros();
    let signature = crate::signing::sign(key, &anchor_text(seq, &hash, at));
    sqlx::query(
        "INSERT INTO exchange_log_anchors (seq, hash, at, signature) VALUES ($1, $2, $3, $4)",
    )
    .bind(seq)
    .bind(&hash)
    .bind(at)
    .bind(&signature)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(Some(seq))
}

/// What one round of [`timestamp_pending`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StampRound {
    /// Anchors that received a token this round.
    pub stamped: Vec<i64>,
    /// The TSA's failure that stopped the round (the anchor stays without a token and the next
    /// round asks again).
    pub failed: Option<(i64, crate::tsa::TsaError)>,
}

/// Asks the TSA for a token on each anchor that has none, newest first, at most `limit` per
/// round, and stores each checked token with the anchor. A TSA failure stops the round and is
/// returned (to be logged); it never touches the log itself. The request is made outside any
/// transaction.
pub async fn timestamp_pending(
    db: &Db,
    tsa: &crate::tsa::TsaClient,
    limit: i64,
) -> Result<StampRound, DbError> {
    use base64::Engine;
    let pending = sqlx::query(
        "SELECT seq, hash, at FROM exchange_log_anchors WHERE tsa_token IS NULL ORDER BY seq DESC LIMIT $1",
    )
    .bind(limit.clamp(1, 1000))
    .fetch_all(db.pool())
    .await?;
    let mut round = StampRound::default();
    for r in pending {
        let seq: i64 = r.try_get(0)?;
        let hash: String = r.try_get(1)?;
        let at: i64 = r.try_get(2)?;
        match tsa.stamp(&anchor_text(seq, &hash, at)).await {
            Ok((token, stamp)) => {
                sqlx::query(
                    "UPDATE exchange_log_anchors SET tsa_token = $1, tsa_name = $2, tsa_gen_time = $3 \
                     WHERE seq = $4 AND tsa_token IS NULL",
                )
                .bind(base64::engine::general_purpose::STANDARD.encode(&token))
                .bind(&stamp.tsa_name)
                .bind(stamp.gen_time)
                .bind(seq)
                .execute(db.pool())
                .await?;
                round.stamped.push(seq);
            }
            Err(e) => {
                round.failed = Some((seq, e));
                break;
            }
        }
    }
    Ok(round)
}

/// Anchor every `every` until `shutdown` resolves (errors are logged and retried next time);
/// with a TSA, time-stamp the anchors that have no token yet. A TSA failure is logged and
/// retried next round; the exchange itself never waits for it.
pub async fn anchor_every(
    db: Db,
    key: ed25519_dalek::SigningKey,
    tsa: Option<crate::tsa::TsaClient>,
    every: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(every) => {
                match anchor(&db, &key).await {
                    Ok(Some(seq)) => tracing::debug!(seq, "exchange log anchored"),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "exchange log anchor failed"),
                }
                if let Some(tsa) = &tsa {
                    match timestamp_pending(&db, tsa, 10).await {
                        Ok(round) => {
                            for seq in &round.stamped {
                                tracing::info!(seq, "exchange log anchor time-stamped by the TSA");
                            }
                            if let Some((seq, e)) = round.failed {
                                tracing::warn!(seq, tsa = %tsa.url(), code = e.code, error = %e,
                                    "time-stamping the exchange log anchor failed; retried next round");
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "time-stamping the exchange log anchors failed"),
                    }
                }
            }
        }
    }
}

/// Walk the chain from the first entry: each entry's hash must match its content, link to
/// the one before, and the sequence must have no gap; at the end the head must name the last
/// entry; every anchor must name an entry with the anchored hash and, with `hub_key` (the
/// hub's public key, base64), carry a valid signature. Reports the first broken entry.
/// Time-stamp tokens are counted, not checked: see [`verify_with`].
pub async fn verify(db: &Db, hub_key: Option<&str>) -> Result<VerifyReport, DbError> {
    verify_with(db, hub_key, None).await
}

/// [`verify`], and with `tsa` (the trusted TSA certificates) every stored time-stamp token
/// must be a valid RFC 3161 token from a trusted TSA over that anchor's text.
pub async fn verify_with(
    db: &Db,
    hub_key: Option<&str>,
    tsa: Option<&crate::tsa::TrustedTsa>,
) -> Result<VerifyReport, DbError> {
    use base64::Engine;
    let mut anchors = std::collections::BTreeMap::new();
    let mut anchor_count = 0i64;
    let mut timestamped = 0i64;
    for r in sqlx::query(
        "SELECT seq, hash, at, signature, tsa_token FROM exchange_log_anchors ORDER BY seq",
    )
    .fetch_all(db.pool())
    .await?
    {
        let seq: i64 = r.try_get(0)?;
        let hash: String = r.try_get(1)?;
        let at: i64 = r.try_get(2)?;
        let sig: String = r.try_get(3)?;
        let token: Option<String> = r.try_get(4)?;
        anchor_count += 1;
        if token.is_some() {
            timestamped += 1;
        }
        anchors.insert(seq, (hash, at, sig, token));
    }
    let mut stamps_verified = 0i64;
    let mut latest: Option<AnchorStamp> = None;
    let counts = |mut r: VerifyReport, verified: i64, latest: Option<AnchorStamp>| {
        r.anchors = anchor_count;
        r.anchors_timestamped = timestamped;
        r.timestamps_verified = verified;
        r.latest_timestamp = latest;
        r
    };
    let mut conn = db.read_conn().await?;
    let sql = format!("SELECT {COLUMNS} FROM exchange_log ORDER BY seq");
    let mut rows = sqlx::query(&sql).fetch(&mut *conn);
    let mut prev_seq = 0i64;
    let mut prev_hash = GENESIS_HASH.to_string();
    let mut checked = 0i64;
    let broken = |seq: i64, reason: String, checked: i64| VerifyReport {
        entries_checked: checked,
        bodies_checked: 0,
        first_broken: Some(Broken { seq, reason }),
        anchors: anchor_count,
        anchors_timestamped: timestamped,
        timestamps_verified: 0,
        latest_timestamp: None,
    };
    while let Some(row) = rows.try_next().await? {
        let e = Entry::from_row(&row)?;
        if e.seq != prev_seq + 1 {
            return Ok(broken(
                prev_seq + 1,
                format!(
                    "entry {} is missing (the next one is {})",
                    prev_seq + 1,
                    e.seq
                ),
                checked,
            ));
        }
        if e.prev_hash != prev_hash {
            return Ok(broken(
                e.seq,
                "prev_hash does not link to the entry before".into(),
                checked,
            ));
        }
        if e.computed_hash() != e.hash {
            return Ok(broken(
                e.seq,
                "content changed: the hash does not match".into(),
                checked,
            ));
        }
        if let Some((hash, at, sig, token)) = anchors.remove(&e.seq) {
            if hash != e.hash {
                return Ok(broken(
                    e.seq,
                    "the entry's hash differs from the signed anchor: the chain was rewritten"
                        .into(),
                    checked,
                ));
            }
            if let Some(pk) = hub_key {
                if !crate::signing::verify(pk, &anchor_text(e.seq, &hash, at), &sig) {
                    return Ok(broken(
                        e.seq,
                        "the anchor's signature does not verify with the hub's key".into(),
                        checked,
                    ));
                }
            }
            if let (Some(trust), Some(token)) = (tsa, token) {
                let checked_stamp = base64::engine::general_purpose::STANDARD
                    .decode(token.trim())
                    .map_err(|e| crate::tsa::TsaError {
                        code: "malformed",
                        vi: format!("dấu thời gian lưu không phải base64 ({e})"),
                        en: format!("the stored time-stamp is not base64 ({e})"),
                    })
                    .and_then(|der| {
                        crate::tsa::verify_token(
                            &der,
                            &crate::tsa::imprint(&anchor_text(e.seq, &hash, at)),
                            None,
                            trust,
                        )
                    });
                match checked_stamp {
                    Ok(st) => {
                        stamps_verified += 1;
                        latest = Some(AnchorStamp {
                            seq: e.seq,
                            gen_time: st.gen_time,
                            tsa_name: st.tsa_name,
                        });
                    }
                    Err(te) => {
                        return Ok(counts(
                            broken(
                                e.seq,
                                format!("the anchor's TSA time-stamp is refused: {te}"),
                                checked,
                            ),
                            stamps_verified,
                            latest,
                        ));
                    }
                }
            }
        }
        prev_seq = e.seq;
        prev_hash = e.hash;
        checked += 1;
    }
    drop(rows);
    if let Some((seq, _)) = anchors.iter().next() {
        return Ok(counts(
            broken(
                *seq,
                format!("entry {seq} was anchored (signed) but is no longer in the log"),
                checked,
            ),
            stamps_verified,
            latest,
        ));
    }
    let head = sqlx::query("SELECT seq, hash FROM exchange_log_head WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?;
    let head_seq: i64 = head.try_get(0)?;
    let head_hash: String = head.try_get(1)?;
    if head_seq != prev_seq || head_hash != prev_hash {
        return Ok(counts(
            broken(
                prev_seq + 1,
                format!(
                    "the chain head names entry {head_seq} but the last entry is {prev_seq}: newest entries deleted"
                ),
                checked,
            ),
            stamps_verified,
            latest,
        ));
    }
    drop(conn);
    // The bodies kept at rest: their key comes from the master key, like the hub's key.
    let mut bodies_checked = 0;
    if hub_key.is_some() {
        let (n, bad) = crate::bodies::verify(db).await?;
        bodies_checked = n;
        if let Some((seq, reason)) = bad {
            return Ok(counts(
                VerifyReport {
                    entries_checked: checked,
                    bodies_checked,
                    first_broken: Some(Broken { seq, reason }),
                    anchors: 0,
                    anchors_timestamped: 0,
                    timestamps_verified: 0,
                    latest_timestamp: None,
                },
                stamps_verified,
                latest,
            ));
        }
    }
    Ok(counts(
        VerifyReport {
            entries_checked: checked,
            bodies_checked,
            first_broken: None,
            anchors: 0,
            anchors_timestamped: 0,
            timestamps_verified: 0,
            latest_timestamp: None,
        },
        stamps_verified,
        latest,
    ))
}

/// Exchanges per service from the log: how many, how many refused or failed (status ≥ 400),
/// mean and worst latency.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ServiceStats {
    pub provider: String,
    pub service: String,
    pub requests: i64,
    pub errors: i64,
    pub mean_latency_us: i64,
    pub max_latency_us: i64,
}

/// [`ServiceStats`] of every service that has log entries (refusals before a service was
/// identified count under the requested provider and service names).
pub async fn stats_by_service(db: &Db) -> Result<Vec<ServiceStats>, DbError> {
    Ok(stats_grouped(db, "provider, service")
        .await?
        .into_iter()
        .map(|(mut keys, t)| ServiceStats {
            service: keys.pop().unwrap_or_default(),
            provider: keys.pop().unwrap_or_default(),
            requests: t.requests,
            errors: t.errors,
            mean_latency_us: t.mean_latency_us,
            max_latency_us: t.max_latency_us,
        })
        .collect())
}

/// Requests, errors (status 400 and above) and latency of one client member's exchanges
/// (theo thành viên gọi), every service together.
#[derive(Debug, Clone)]
pub struct ClientStats {
    pub client: String,
    pub totals: Totals,
}

/// [`ClientStats`] of every client named in the log (a refusal before the member was
/// authenticated counts under the member code it claimed).
pub async fn stats_by_client(db: &Db) -> Result<Vec<ClientStats>, DbError> {
    let grouped = stats_grouped(db, "client").await?;
    Ok(grouped
        .into_iter()
        .map(|(keys, totals)| ClientStats {
            client: keys.concat(),
            totals,
        })
        .collect())
}

/// Totals of a group of log entries: how many, how many with status 400 and above, mean and
/// worst latency (µs).
#[derive(Debug, Clone)]
pub struct Totals {
    pub requests: i64,
    pub errors: i64,
    pub mean_latency_us: i64,
    pub max_latency_us: i64,
}

/// The log's entries grouped by `columns` (a fixed list of text columns, comma-separated):
/// each group's column values, then its [`Totals`].
async fn stats_grouped(
    db: &Db,
    columns: &'static str,
) -> Result<Vec<(Vec<String>, Totals)>, DbError> {
    let keys = columns.split(',').count();
    sqlx::query(&format!(
        "SELECT {columns}, COUNT(*), \
         CAST(SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(latency_us) AS BIGINT), CAST(MAX(latency_us) AS BIGINT) \
         FROM exchange_log GROUP BY {columns} ORDER BY {columns}"
    ))
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        let values = (0..keys)
            .map(|i| r.try_get::<String, _>(i))
            .collect::<Result<Vec<_>, _>>()?;
        let requests: i64 = r.try_get(keys)?;
        let total: i64 = r.try_get(keys + 2)?;
        Ok((
            values,
            Totals {
                requests,
                errors: r.try_get(keys + 1)?,
                mean_latency_us: if requests > 0 { total / requests } else { 0 },
                max_latency_us: r.try_get(keys + 3)?,
            },
        ))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tinhso_store::migrate::STORE_MIGRATIONS;
    use tinhso_store::test_support::fresh;

    fn take(i: usize) -> Take {
        let flight = InFlight {
            exchange_id: format!("ex-{i}"),
            client: "000.00.01.H37".into(),
            provider: "000.00.19.H37".into(),
            service: "echo".into(),
            method: "POST".into(),
            path: "/lgsp/v1/000.00.19.H37/echo".into(),
            request_sha256: format!("{i:064x}"),
            client_signature: format!("sig-{i}"),
        };
        let nonce = ("m".into(), format!("n-{i}"), now_micros() + 300_000_000);
        (nonce, flight, now_micros())
    }

    fn batch_of_takes(takes: Vec<Take>) -> Batch {
        Batch {
            takes,
            ..Batch::empty(std::time::Instant::now())
        }
    }

    /// `synchronous_commit` as the batch left it in its own transaction.
    async fn commit_mode_after(db: &Db, b: &Batch) -> String {
        let mut tx = db.pool().begin().await.unwrap();
        write_batch_pg(&mut tx, db, b, None).await.unwrap();
        let mode: String = sqlx::query_scalar("SELECT current_setting('synchronous_commit')")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        mode
    }

    /// A batch of takes alone turns `synchronous_commit` off for its own transaction (its
    /// commit does not wait for the WAL flush); a batch with log entries leaves it on, and
    /// the setting does not outlive the transaction. PostgreSQL only: SQLite has no such
    /// setting and writes batches in transactions ([`write_batch`]); CI runs this suite on
    /// PostgreSQL.
    #[tokio::test]
    async fn only_a_batch_of_takes_commits_without_waiting_for_the_wal_flush() {
        let t = fresh(&[STORE_MIGRATIONS, crate::MIGRATIONS]).await;
        if t.db.backend() != Backend::Postgres {
            return;
        }
        let takes = batch_of_takes(vec![take(1), take(2)]);
        assert_eq!(commit_mode_after(&t.db, &takes).await, "off");
        let mut with_entry = batch_of_takes(vec![take(3)]);
        with_entry.entries.push(NewEntry {
            exchange_id: "ex-3".into(),
            client: "000.00.01.H37".into(),
            provider: "000.00.19.H37".into(),
            service: "echo".into(),
            method: "POST".into(),
            path: "/lgsp/v1/000.00.19.H37/echo".into(),
            status: 200,
            outcome: "ok".into(),
            latency_us: 1,
            request_sha256: format!("{:064x}", 3),
            response_sha256: format!("{:064x}", 4),
            client_signature: "sig-3".into(),
            hub_signature: "hub-3".into(),
            kept: None,
        });
        assert_eq!(commit_mode_after(&t.db, &with_entry).await, "on");
        // Committed this time: the takes are written, and the next transaction is synchronous.
        let mut conn = t.db.pool().acquire().await.unwrap();
        let (_, _, _) = write_batch_pg(&mut conn, &t.db, &batch_of_takes(vec![take(5)]), None)
            .await
            .unwrap();
        let (mode, rows): (String, i64) = sqlx::query_as(
            "SELECT current_setting('synchronous_commit'), \
             (SELECT COUNT(*) FROM exchange_inflight WHERE exchange_id = 'ex-5')",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_eq!((mode.as_str(), rows), ("on", 1));
    }
}
