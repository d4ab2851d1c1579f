//! Migration 1004 (khóa rowid): the audit trail and the outbox rebuilt on SQLite with `seq` as
//! the rowid, every row kept; PostgreSQL's schema unchanged.

use crate::audit::entry;
use tinhso_store::audit;
use tinhso_store::migrate::{self, STORE_MIGRATIONS};
use tinhso_store::test_support::{fresh, TestDb};
use tinhso_store::Backend;

type AuditRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);
type EventRow = (String, i64, String, String, i64);

/// A database with the store's migrations before 1004.
async fn before_1004() -> TestDb {
    let before: Vec<_> = STORE_MIGRATIONS
        .iter()
        .copied()
        .filter(|m| m.version < 1004)
        .collect();
    assert!(!before.is_empty() && before.len() < STORE_MIGRATIONS.len());
    fresh(&[&before]).await
}

async fn write(db: &tinhso_store::Db, from: usize, n: usize) {
    for i in from..from + n {
        audit::append(db, &entry(i)).await.unwrap();
        let mut tx = db.begin_write().await.unwrap();
        tx.emit("thing.updated", &serde_json::json!({ "i": i }))
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
}

async fn audit_rows(db: &tinhso_store::Db) -> Vec<AuditRow> {
    sqlx::query_as(
        "SELECT seq, at, actor, action, target_type, target_id, scope, request_id, summary, \
         prev_hash, hash FROM audit_log ORDER BY seq",
    )
    .fetch_all(db.pool())
    .await
    .unwrap()
}

async fn event_rows(db: &tinhso_store::Db) -> Vec<EventRow> {
    sqlx::query_as("SELECT id, seq, topic, payload, created_at FROM outbox ORDER BY seq")
        .fetch_all(db.pool())
        .await
        .unwrap()
}

/// Indexes SQLite made for a key or a unique constraint of `table` (none for a rowid key).
async fn key_indexes(db: &tinhso_store::Db, table: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 \
         AND name LIKE 'sqlite_autoindex_%'",
    )
    .bind(table)
    .fetch_one(db.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn rowid_keys_keep_every_entry_and_event_and_the_chain() {
    let t = before_1004().await;
    write(&t.db, 0, 40).await;
    let (entries, events) = (audit_rows(&t.db).await, event_rows(&t.db).await);
    assert_eq!((entries.len(), events.len()), (40, 40));
    if t.db.backend() == Backend::Sqlite {
        assert_eq!(key_indexes(&t.db, "audit_log").await, 1);
        assert_eq!(key_indexes(&t.db, "outbox").await, 2);
    }

    let applied = migrate::run(&t.db, &[STORE_MIGRATIONS]).await.unwrap();
    assert_eq!(applied, vec![1004]);
    assert_eq!(audit_rows(&t.db).await, entries);
    assert_eq!(event_rows(&t.db).await, events);
    if t.db.backend() == Backend::Sqlite {
        // `seq` is the rowid: no index of its own left; the outbox keeps its `id` one.
        assert_eq!(key_indexes(&t.db, "audit_log").await, 0);
        assert_eq!(key_indexes(&t.db, "outbox").await, 1);
    }
    let r = audit::verify(&t.db).await.unwrap();
    assert_eq!(
        (r.entries_checked, r.head_seq, r.first_broken),
        (40, 40, None)
    );

    // Appending goes on where it stopped, and the chain still links.
    write(&t.db, 40, 5).await;
    let r = audit::verify(&t.db).await.unwrap();
    assert_eq!(
        (r.entries_checked, r.head_seq, r.first_broken),
        (45, 45, None)
    );
    let seqs: Vec<i64> = event_rows(&t.db).await.iter().map(|e| e.1).collect();
    assert_eq!(seqs, (1..=45).collect::<Vec<i64>>());
    // A duplicate event id is still refused.
    let dup = sqlx::query(
        "INSERT INTO outbox (id, seq, topic, payload, created_at) VALUES ($1, 99, 't', '{}', 0)",
    )
    .bind(&events[0].0)
    .execute(t.db.pool())
    .await;
    assert!(dup.is_err());
}

#[tokio::test]
async fn an_entry_without_a_whole_number_seq_stops_the_migration_and_changes_nothing() {
    if tinhso_store::test_support::test_backend() != Backend::Sqlite {
        return; // PostgreSQL's BIGINT key holds nothing else; 1004 changes nothing there.
    }
    for bad in ["NULL", "'x'"] {
        let t = before_1004().await;
        write(&t.db, 0, 5).await;
        // A tampered row: SQLite's `BIGINT PRIMARY KEY` takes a NULL or a text.
        sqlx::query(&format!(
            "INSERT INTO audit_log (seq, at, actor, action, target_type, target_id, scope, \
             request_id, summary, prev_hash, hash) SELECT {bad}, at, actor, action, target_type, \
             target_id, scope, request_id, summary, prev_hash, hash FROM audit_log WHERE seq = 3"
        ))
        .execute(t.db.pool())
        .await
        .unwrap();
        let before = audit_rows_any(&t.db).await;
        let e = migrate::run(&t.db, &[STORE_MIGRATIONS])
            .await
            .expect_err(bad);
        assert!(e.to_string().contains("migration 1004"), "{e}");
        assert_eq!(audit_rows_any(&t.db).await, before, "{bad}");
        assert_eq!(key_indexes(&t.db, "audit_log").await, 1);
        assert!(!migrate::applied(&t.db).await.unwrap().contains(&1004));
    }
}

/// Every row as text (a tampered `seq` may be NULL or a text).
async fn audit_rows_any(db: &tinhso_store::Db) -> Vec<(Option<String>, String)> {
    sqlx::query_as("SELECT CAST(seq AS TEXT), hash FROM audit_log ORDER BY rowid")
        .fetch_all(db.pool())
        .await
        .unwrap()
}
