//! Group commit: items of concurrent callers share one transaction, each in its own savepoint.

use std::time::Duration;
use tinhso_kernel::AppError;
use tinhso_store::audit::{self, NewAuditEntry};
use tinhso_store::native::Param;
use tinhso_store::{Db, DbError, Exec, Tx, WriteTx};

fn entry(target: &str) -> NewAuditEntry {
    NewAuditEntry {
        actor: "test".into(),
        action: "thing.write".into(),
        target_type: "thing".into(),
        target_id: target.into(),
        scope: String::new(),
        request_id: String::new(),
        summary: serde_json::json!({}),
    }
}

/// Which group-commit call writes an item.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// `write_grouped_native`: a native transaction on a SQLite file.
    Native,
    /// `write_grouped`: a sqlx `WriteTx`.
    Sqlx,
}

/// [`item_sqlx`] or [`item_native`].
async fn item(db: &Db, kind: Kind, key: String, fail: bool) -> Result<String, AppError> {
    match kind {
        Kind::Native => item_native(db, key, fail).await,
        Kind::Sqlx => item_sqlx(db, key, fail).await,
    }
}

/// [`item_sqlx`] through `write_grouped_native` and [`Exec`].
async fn item_native(db: &Db, key: String, fail: bool) -> Result<String, AppError> {
    db.write_grouped_native(move |tx: &mut Tx| {
        Box::pin(async move {
            tx.emit("thing.written", &serde_json::json!({ "key": key }))
                .await?;
            tx.execute(
                "INSERT INTO outbox_consumers (consumer, last_seq, updated_at) VALUES ($1, 0, 0)",
                &[Param::Text(&key)],
            )
            .await?;
            tx.audit(&entry(&key)).await?;
            if fail {
                return Err(AppError::conflict("từ chối", "refused"));
            }
            Ok(key)
        })
    })
    .await
}

/// Write one audited item: an outbox event, a row in `outbox_consumers` named `key`, and its
/// audit entry; `fail` refuses it after everything is written.
async fn item_sqlx(db: &Db, key: String, fail: bool) -> Result<String, AppError> {
    db.write_grouped(move |tx: &mut WriteTx| {
        Box::pin(async move {
            tx.emit("thing.written", &serde_json::json!({ "key": key }))
                .await?;
            sqlx::query(
                "INSERT INTO outbox_consumers (consumer, last_seq, updated_at) VALUES ($1, 0, 0)",
            )
            .bind(&key)
            .execute(tx.conn())
            .await
            .map_err(DbError::from)?;
            tx.audit(&entry(&key)).await?;
            if fail {
                return Err(AppError::conflict("từ chối", "refused"));
            }
            Ok(key)
        })
    })
    .await
}

async fn rows(db: &Db, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sql).fetch_all(db.pool()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_items_share_transactions_and_a_refused_one_leaves_nothing() {
    concurrent_items(Kind::Sqlx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_native_items_share_transactions_and_a_refused_one_leaves_nothing() {
    concurrent_items(Kind::Native).await;
}

async fn concurrent_items(kind: Kind) {
    let t = super::db().await;
    if !t.db.group_commit() {
        eprintln!("group commit is off for this database: skipped");
        return;
    }
    // The first item holds the writer until the other 60 are queued behind it (a fixed sleep
    // was not always long enough on a loaded machine: the late ones made more transactions).
    let db = t.db.clone();
    let watcher = t.db.clone();
    let first = tokio::spawn(async move {
        let wait = move || async move {
            let start = std::time::Instant::now();
            while watcher.group_queued() < 60 && start.elapsed() < Duration::from_secs(30) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        match kind {
            Kind::Sqlx => {
                db.write_grouped(move |tx: &mut WriteTx| {
                    Box::pin(async move {
                        tx.audit(&entry("first")).await?;
                        wait().await;
                        Ok::<_, AppError>(())
                    })
                })
                .await
            }
            Kind::Native => {
                db.write_grouped_native(move |tx: &mut Tx| {
                    Box::pin(async move {
                        tx.audit(&entry("first")).await?;
                        wait().await;
                        Ok::<_, AppError>(())
                    })
                })
                .await
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let db = t.db.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("k{i:02}");
            // Every seventh is refused after writing; k04 and k05 write the same row (a
            // unique violation for whichever reaches the writer second — the tasks' order in
            // the queue is not fixed — which on PostgreSQL aborts the transaction until the
            // savepoint is rolled back).
            let name = if i == 5 {
                "k04".to_string()
            } else {
                key.clone()
            };
            (key, item(&db, kind, name, i % 7 == 3).await)
        }));
    }
    first.await.unwrap().unwrap();
    let mut kept = Vec::new();
    let mut collided = 0;
    for task in tasks {
        let (key, r) = task.await.unwrap();
        let i: usize = key[1..].parse().unwrap();
        match r {
            Ok(k) => {
                assert!(i % 7 != 3, "{key} should have failed");
                // k05 writes k04's row.
                assert_eq!(k, if i == 5 { "k04" } else { key.as_str() });
                kept.push(k);
            }
            Err(e) if i % 7 == 3 => assert_eq!(e.detail_en.as_deref(), Some("refused"), "{key}"),
            Err(e) if i == 4 || i == 5 => {
                assert!(e.to_string().contains("exists"), "{key}: {e}");
                collided += 1;
            }
            Err(e) => panic!("{key}: {e}"),
        }
    }
    assert_eq!(
        collided, 1,
        "exactly one of k04 and k05 loses the shared row"
    );
    kept.sort();
    assert_eq!(kept.len(), 60 - 9 - 1);
    let consumers = rows(
        &t.db,
        "SELECT consumer FROM outbox_consumers ORDER BY consumer",
    )
    .await;
    assert_eq!(consumers, kept);
    let mut audited = rows(
        &t.db,
        "SELECT target_id FROM audit_log WHERE target_id <> 'first' ORDER BY seq",
    )
    .await;
    audited.sort();
    assert_eq!(audited, kept);
    let events = rows(&t.db, "SELECT payload FROM outbox ORDER BY seq").await;
    assert_eq!(events.len(), kept.len());
    let r = audit::verify(&t.db).await.unwrap();
    assert_eq!(
        (r.entries_checked, r.first_broken),
        (kept.len() as i64 + 1, None)
    );
    // 61 items, of which 60 queued behind the first: two transactions.
    let (batches, items) = t.db.group_stats();
    assert_eq!(items, 61);
    assert_eq!(batches, 2, "{batches} transactions for {items} items");
}

#[tokio::test]
async fn an_item_alone_commits_or_rolls_back_whole() {
    for kind in [Kind::Sqlx, Kind::Native] {
        let t = super::db().await;
        assert_eq!(item(&t.db, kind, "a".into(), false).await.unwrap(), "a");
        assert!(item(&t.db, kind, "b".into(), true).await.is_err());
        assert_eq!(
            rows(&t.db, "SELECT consumer FROM outbox_consumers").await,
            ["a"],
            "{kind:?}"
        );
        assert_eq!(rows(&t.db, "SELECT target_id FROM audit_log").await, ["a"]);
        assert_eq!(audit::verify(&t.db).await.unwrap().first_broken, None);
    }
}

/// Native and sqlx items queued in turn: on a SQLite file written natively each run of one kind
/// is a transaction of its own, elsewhere they share one; either way every item is written in
/// arrival order (the audit chain's order) and a refused one leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_and_sqlx_items_keep_arrival_order() {
    let t = super::db().await;
    if !t.db.group_commit() {
        eprintln!("group commit is off for this database: skipped");
        return;
    }
    // Kinds in arrival order: runs of 1, 2 and 3.
    let kinds = [
        Kind::Sqlx,
        Kind::Native,
        Kind::Native,
        Kind::Sqlx,
        Kind::Sqlx,
        Kind::Sqlx,
        Kind::Native,
        Kind::Sqlx,
        Kind::Native,
        Kind::Native,
    ];
    let n = kinds.len();
    // Hold the writer until every item is queued and counted, then let them go (released by
    // the test itself: were the first item to let go when the count reaches n, the writer could
    // drain the queue before the test read the last count).
    let db = t.db.clone();
    let release = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let released = release.clone();
    let first = tokio::spawn(async move {
        db.write_grouped_native(move |tx: &mut Tx| {
            Box::pin(async move {
                tx.audit(&entry("first")).await?;
                let start = std::time::Instant::now();
                while !released.load(std::sync::atomic::Ordering::SeqCst)
                    && start.elapsed() < Duration::from_secs(30)
                {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Ok::<_, AppError>(())
            })
        })
        .await
    });
    while t.db.group_queued() > 0 || t.db.group_stats().0 == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut tasks = Vec::new();
    for (i, kind) in kinds.into_iter().enumerate() {
        let db = t.db.clone();
        // The fifth is refused.
        tasks.push(tokio::spawn(async move {
            item(&db, kind, format!("m{i}"), i == 4).await
        }));
        // The next one queues only once this one has.
        let start = std::time::Instant::now();
        while t.db.group_queued() < i + 1 && start.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(t.db.group_queued(), i + 1, "item {i} queued");
    }
    release.store(true, std::sync::atomic::Ordering::SeqCst);
    first.await.unwrap().unwrap();
    for (i, task) in tasks.into_iter().enumerate() {
        let r = task.await.unwrap();
        assert_eq!(r.is_ok(), i != 4, "m{i}: {r:?}");
    }
    let kept: Vec<String> = (0..n)
        .filter(|&i| i != 4)
        .map(|i| format!("m{i}"))
        .collect();
    assert_eq!(
        rows(
            &t.db,
            "SELECT target_id FROM audit_log WHERE target_id <> 'first' ORDER BY seq"
        )
        .await,
        kept,
        "the audit chain is in arrival order"
    );
    let mut consumers = rows(&t.db, "SELECT consumer FROM outbox_consumers").await;
    consumers.sort();
    assert_eq!(consumers, kept);
    let events: Vec<serde_json::Value> = rows(&t.db, "SELECT payload FROM outbox ORDER BY seq")
        .await
        .iter()
        .map(|p| serde_json::from_str(p).unwrap())
        .collect();
    let in_order: Vec<serde_json::Value> = kept
        .iter()
        .map(|k| serde_json::json!({ "key": k }))
        .collect();
    assert_eq!(events, in_order, "the outbox is in arrival order");
    let r = audit::verify(&t.db).await.unwrap();
    assert_eq!(
        (r.entries_checked, r.first_broken),
        (kept.len() as i64 + 1, None)
    );
    let (batches, items) = t.db.group_stats();
    assert_eq!(items, n as u64 + 1);
    // The holder; then on a native SQLite file one per run of a kind (6 runs), else one.
    let native = t.db.backend() == tinhso_store::Backend::Sqlite
        && std::env::var("TINHSO_NATIVE_WRITES").map_or(true, |v| v != "0");
    assert_eq!(batches, if native { 1 + 6 } else { 2 });
}
