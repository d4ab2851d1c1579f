//! Audit trail (nhật ký kiểm toán): append-only and hash-chained.
//!
//! Each entry stores `hash = SHA-256(canonical(entry) || prev_hash)` where the canonical
//! encoding is every field length-prefixed (8-byte big-endian length, then UTF-8 bytes), so no
//! two different entries encode alike. Entries are written inside the [`WriteTx`] of the change
//! they record. [`verify`] walks the chain and finds the first broken link: an edited row
//! (its hash no longer matches), a deleted row (a gap in `seq` or a `prev_hash` that does not
//! link) or deleted newest rows (the chain head no longer matches the last entry).

use crate::db::{now_micros, Db, DbError, WriteTx};
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
    let mut h = Sha256::new();
    let seq_s = seq.to_be_bytes();
    let at_s = at.to_be_bytes();
    for field in [
        &seq_s[..],
        &at_s[..],
        actor.as_bytes(),
        action.as_bytes(),
        target_type.as_bytes(),
        target_id.as_bytes(),
        scope.as_bytes(),
        request_id.as_bytes(),
        summary.as_bytes(),
        prev_hash.as_bytes(),
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field);
    }
    hex::encode(h.finalize())
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

impl WriteTx {
    /// Append an audit entry in this transaction.
    pub async fn audit(&mut self, e: &NewAuditEntry) -> Result<AuditEntry, DbError> {
        // Taking the head row's lock first serialises appenders (PostgreSQL); SQLite has one
        // writer anyway.
        let head =
            sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
                .fetch_one(self.conn())
                .await?;
        let seq: i64 = head.try_get(0)?;
        let prev_hash: String = head.try_get(1)?;
        let summary = e.summary.to_string();
        let entry = AuditEntry {
            seq,
            at: now_micros(),
            actor: e.actor.clone(),
            action: e.action.clone(),
            target_type: e.target_type.clone(),
            target_id: e.target_id.clone(),
            scope: e.scope.clone(),
            request_id: e.request_id.clone(),
            summary,
            prev_hash,
            hash: String::new(),
        };
        let hash = entry.computed_hash();
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, action, target_type, target_id, scope, \
             request_id, summary, prev_hash, hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
        )
        .bind(entry.seq)
        .bind(entry.at)
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target_type)
        .bind(&entry.target_id)
        .bind(&entry.scope)
        .bind(&entry.request_id)
        .bind(&entry.summary)
        .bind(&entry.prev_hash)
        .bind(&hash)
        .execute(self.conn())
        .await?;
        sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
            .bind(&hash)
            .execute(self.conn())
            .await?;
        Ok(AuditEntry { hash, ..entry })
    }
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

/// Walk the whole chain in `seq` order, in pages, and report the first broken link.
pub async fn verify(db: &Db) -> Result<VerifyReport, DbError> {
    const PAGE: i64 = 20_000;
    let mut expected_seq = 1i64;
    let mut prev_hash = GENESIS_HASH.to_string();
    let mut checked = 0i64;
    loop {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2"
        ))
        .bind(expected_seq)
        .bind(PAGE)
        .fetch_all(db.pool())
        .await?;
        let n = rows.len() as i64;
        for r in &rows {
            let e = AuditEntry::from_row(r)?;
            let broken = |reason: String| {
                Ok(VerifyReport {
                    entries_checked: checked,
                    head_seq: 0,
                    first_broken: Some(BrokenLink { seq: e.seq, reason }),
                })
            };
            if e.seq != expected_seq {
                return broken(format!(
                    "entries {expected_seq}..{} are missing (deleted)",
                    e.seq - 1
                ));
            }
            if e.prev_hash != prev_hash {
                return broken("prev_hash does not link to the previous entry".into());
            }
            if e.computed_hash() != e.hash {
                return broken("content does not match its hash (entry edited)".into());
            }
            prev_hash = e.hash;
            expected_seq += 1;
            checked += 1;
        }
        if n < PAGE {
            break;
        }
    }
    // Also catch entries whose seq is below 1 (inserted) — they would be skipped above.
    let stray: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE seq < 1")
        .fetch_one(db.pool())
        .await?;
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(db.pool())
        .await?;
    let head_seq: i64 = head.try_get(0)?;
    let head_hash: String = head.try_get(1)?;
    let last_seq = expected_seq - 1;
    let first_broken = if stray > 0 {
        Some(BrokenLink {
            seq: 0,
            reason: format!("{stray} entries with seq < 1 (inserted outside the trail)"),
        })
    } else if head_seq != last_seq || head_hash != prev_hash {
        Some(BrokenLink {
            seq: last_seq + 1,
            reason: format!(
                "chain head is at entry {head_seq} but the trail ends at {last_seq} (newest entries deleted or head edited)"
            ),
        })
    } else {
        None
    };
    Ok(VerifyReport {
        entries_checked: checked,
        head_seq,
        first_broken,
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
