use tinhso_store::audit::{self, AuditFilter, NewAuditEntry};

/// The `i`-th test entry (also used by the migration tests).
pub(crate) fn entry(i: usize) -> NewAuditEntry {
    NewAuditEntry {
        actor: format!("user:{}", i % 3),
        action: "thing.update".into(),
        target_type: "thing".into(),
        target_id: format!("t{i}"),
        scope: if i.is_multiple_of(2) {
            "20.05977".into()
        } else {
            "20.06001".into()
        },
        request_id: format!("req-{i}"),
        summary: serde_json::json!({"before": {"ten": "Cũ"}, "after": {"ten": format!("Mới {i}")}}),
    }
}

async fn append_n(db: &tinhso_store::Db, n: usize) {
    for i in 0..n {
        audit::append(db, &entry(i)).await.unwrap();
    }
}

#[tokio::test]
async fn intact_chain_verifies() {
    let t = super::db().await;
    append_n(&t.db, 25).await;
    let r = audit::verify(&t.db).await.unwrap();
    assert_eq!(r.entries_checked, 25);
    assert_eq!(r.head_seq, 25);
    assert_eq!(r.first_broken, None);
}

#[tokio::test]
async fn edited_row_is_detected_at_its_seq() {
    let t = super::db().await;
    append_n(&t.db, 10).await;
    sqlx::query("UPDATE audit_log SET actor = 'user:evil' WHERE seq = 4")
        .execute(t.db.pool())
        .await
        .unwrap();
    let r = audit::verify(&t.db).await.unwrap();
    let b = r.first_broken.expect("edit must be detected");
    assert_eq!(b.seq, 4);
    assert!(b.reason.contains("edited"), "{}", b.reason);
}

#[tokio::test]
async fn edited_row_with_recomputed_hash_breaks_the_next_link() {
    let t = super::db().await;
    append_n(&t.db, 10).await;
    // A careful attacker recomputes the edited row's own hash: the next entry no longer links.
    let row: (i64, i64, String, String, String, String, String, String, String, String) = sqlx::query_as(
        "SELECT seq, at, actor, action, target_type, target_id, scope, request_id, summary, prev_hash FROM audit_log WHERE seq = 6",
    )
    .fetch_one(t.db.pool())
    .await
    .unwrap();
    let new_hash = audit::entry_hash(
        row.0,
        row.1,
        "user:evil",
        &row.3,
        &row.4,
        &row.5,
        &row.6,
        &row.7,
        &row.8,
        &row.9,
    );
    sqlx::query("UPDATE audit_log SET actor = 'user:evil', hash = $1 WHERE seq = 6")
        .bind(&new_hash)
        .execute(t.db.pool())
        .await
        .unwrap();
    let b = audit::verify(&t.db).await.unwrap().first_broken.unwrap();
    assert_eq!(b.seq, 7);
}

#[tokio::test]
async fn deleted_middle_row_is_detected() {
    let t = super::db().await;
    append_n(&t.db, 10).await;
    sqlx::query("DELETE FROM audit_log WHERE seq = 5")
        .execute(t.db.pool())
        .await
        .unwrap();
    let b = audit::verify(&t.db).await.unwrap().first_broken.unwrap();
    assert_eq!(b.seq, 6);
    assert!(b.reason.contains("missing"), "{}", b.reason);
}

#[tokio::test]
async fn deleted_newest_rows_are_detected() {
    let t = super::db().await;
    append_n(&t.db, 10).await;
    sqlx::query("DELETE FROM audit_log WHERE seq >= 9")
        .execute(t.db.pool())
        .await
        .unwrap();
    let b = audit::verify(&t.db).await.unwrap().first_broken.unwrap();
    assert_eq!(b.seq, 9);
}

#[tokio::test]
async fn audit_rolls_back_with_its_transaction() {
    let t = super::db().await;
    {
        let mut tx = t.db.begin_write().await.unwrap();
        tx.audit(&entry(1)).await.unwrap();
        tx.emit("thing.changed", &serde_json::json!({"id": 1}))
            .await
            .unwrap();
        // dropped without commit
    }
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
        .fetch_one(t.db.pool())
        .await
        .unwrap();
    assert_eq!(n, 0);
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(t.db.pool())
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(audit::verify(&t.db).await.unwrap().first_broken, None);
}

#[tokio::test]
async fn a_savepoint_rolls_back_its_audit_entries_and_events_only() {
    let t = super::db().await;
    append_n(&t.db, 2).await;
    let mut tx = t.db.begin_write().await.unwrap();
    tx.audit(&entry(10)).await.unwrap();
    tx.emit("thing.kept", &serde_json::json!({"id": 10}))
        .await
        .unwrap();
    // Refused: its entries, its event and its head position are undone.
    let sp = tx.savepoint().await.unwrap();
    tx.audit(&entry(11)).await.unwrap();
    tx.audit(&entry(12)).await.unwrap();
    tx.emit("thing.refused", &serde_json::json!({"id": 11}))
        .await
        .unwrap();
    tx.rollback_to(sp).await.unwrap();
    // Kept, in a nested pair: the inner one is rolled back, the outer released.
    let outer = tx.savepoint().await.unwrap();
    tx.audit(&entry(13)).await.unwrap();
    let inner = tx.savepoint().await.unwrap();
    tx.audit(&entry(14)).await.unwrap();
    tx.rollback_to(inner).await.unwrap();
    tx.release(outer).await.unwrap();
    let events = tx.commit().await.unwrap();
    assert_eq!(events.len(), 1);
    let targets: Vec<String> = sqlx::query_scalar("SELECT target_id FROM audit_log ORDER BY seq")
        .fetch_all(t.db.pool())
        .await
        .unwrap();
    assert_eq!(targets, ["t0", "t1", "t10", "t13"]);
    let topics: Vec<String> = sqlx::query_scalar("SELECT topic FROM outbox")
        .fetch_all(t.db.pool())
        .await
        .unwrap();
    assert_eq!(topics, ["thing.kept"]);
    let r = audit::verify(&t.db).await.unwrap();
    assert_eq!((r.entries_checked, r.first_broken), (4, None));
    // The chain goes on from the kept head.
    append_n(&t.db, 1).await;
    assert_eq!(audit::verify(&t.db).await.unwrap().first_broken, None);
}

#[tokio::test]
async fn deferred_entries_and_events_are_written_at_commit_in_order() {
    let t = super::db().await;
    append_n(&t.db, 1).await;
    let mut tx = t.db.begin_write().await.unwrap();
    // Written at once: before the switch.
    tx.audit(&entry(10)).await.unwrap();
    tx.emit("thing.first", &serde_json::json!({"id": 10}))
        .await
        .unwrap();
    tx.defer_audit_and_outbox();
    let sp = tx.savepoint().await.unwrap();
    tx.audit(&entry(11)).await.unwrap();
    tx.emit("thing.refused", &serde_json::json!({"id": 11}))
        .await
        .unwrap();
    tx.rollback_to(sp).await.unwrap();
    let sp = tx.savepoint().await.unwrap();
    tx.audit_many(&[entry(12), entry(13)]).await.unwrap();
    tx.emit("thing.kept", &serde_json::json!({"id": 12}))
        .await
        .unwrap();
    tx.emit_many(
        "thing.many",
        &[serde_json::json!({"id": 13}), serde_json::json!({"id": 14})],
    )
    .await
    .unwrap();
    tx.release(sp).await.unwrap();
    // Kept in the transaction, not yet in the tables it writes to.
    let in_tx: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(in_tx, 2);
    let in_tx: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(in_tx, 1);
    let events = tx.commit().await.unwrap();
    assert_eq!(events.len(), 4);
    let targets: Vec<String> = sqlx::query_scalar("SELECT target_id FROM audit_log ORDER BY seq")
        .fetch_all(t.db.pool())
        .await
        .unwrap();
    assert_eq!(targets, ["t0", "t10", "t12", "t13"]);
    let topics: Vec<String> = sqlx::query_scalar("SELECT topic FROM outbox ORDER BY seq")
        .fetch_all(t.db.pool())
        .await
        .unwrap();
    assert_eq!(
        topics,
        ["thing.first", "thing.kept", "thing.many", "thing.many"]
    );
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM outbox ORDER BY seq")
        .fetch_all(t.db.pool())
        .await
        .unwrap();
    assert_eq!(ids, events);
    let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM outbox ORDER BY seq")
        .fetch_all(t.db.pool())
        .await
        .unwrap();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    let r = audit::verify(&t.db).await.unwrap();
    assert_eq!((r.entries_checked, r.first_broken), (4, None));
    append_n(&t.db, 1).await;
    assert_eq!(audit::verify(&t.db).await.unwrap().first_broken, None);
}

#[tokio::test]
async fn concurrent_appends_keep_one_chain() {
    let t = super::db().await;
    let mut tasks = Vec::new();
    for w in 0..16 {
        let db = t.db.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                audit::append(&db, &entry(w * 100 + i)).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let r = audit::verify(&t.db).await.unwrap();
    assert_eq!(r.entries_checked, 320);
    assert_eq!(r.first_broken, None);
}

#[tokio::test]
async fn list_filters_and_pages() {
    let t = super::db().await;
    append_n(&t.db, 30).await;
    let all = audit::list(
        &t.db,
        &AuditFilter {
            limit: Some(100),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(all.len(), 30);
    assert!(all[0].seq > all[1].seq, "newest first");
    let by_actor = audit::list(
        &t.db,
        &AuditFilter {
            actor: Some("user:1".into()),
            limit: Some(100),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(by_actor.len(), 10);
    assert!(by_actor.iter().all(|e| e.actor == "user:1"));
    let scoped = audit::list(
        &t.db,
        &AuditFilter {
            scope_prefix: Some("20.0597".into()),
            limit: Some(100),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(scoped.len(), 15);
    let page2 = audit::list(
        &t.db,
        &AuditFilter {
            before_seq: Some(11),
            limit: Some(5),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        page2.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![10, 9, 8, 7, 6]
    );
}

// --- Batched appends and the parallel verifier ----------------------------------------------

use tinhso_store::audit::{VerifyOptions, VerifyReport};

/// Small batches, so that a few hundred entries make many units of parallel work.
fn small_batches(batch_rows: usize) -> VerifyOptions {
    VerifyOptions {
        batch_rows,
        hash_threads: 3,
        ..Default::default()
    }
}

/// One walk through the `Any` pool in one batch: the reference every other reading must match.
fn reference() -> VerifyOptions {
    VerifyOptions {
        batch_rows: usize::MAX,
        hash_threads: 1,
        read_parts: 1,
        portable: true,
    }
}

/// PostgreSQL: the trail copied as `parts` ranges at the same time (SQLite reads one range).
fn parts(read_parts: usize, batch_rows: usize) -> VerifyOptions {
    VerifyOptions {
        batch_rows,
        read_parts,
        ..Default::default()
    }
}

/// Verify with the default options and assert that small batches and the portable reader
/// report exactly the same.
async fn verify_all_ways(db: &tinhso_store::Db) -> VerifyReport {
    let r = audit::verify(db).await.unwrap();
    for opts in [
        small_batches(1),
        small_batches(100),
        parts(2, 100),
        parts(3, 100),
        parts(1, 100),
        reference(),
    ] {
        assert_eq!(audit::verify_with(db, &opts).await.unwrap(), r, "{opts:?}");
    }
    r
}

async fn append_many(db: &tinhso_store::Db, from: usize, n: usize) -> Vec<audit::AuditEntry> {
    let entries: Vec<_> = (from..from + n).map(entry).collect();
    let mut tx = db.begin_write().await.unwrap();
    let written = tx.audit_many(&entries).await.unwrap();
    tx.commit().await.unwrap();
    written
}

async fn set_actor_rehashed(db: &tinhso_store::Db, seq: i64, actor: &str) {
    let row: (i64, i64, String, String, String, String, String, String, String, String) = sqlx::query_as(
        "SELECT seq, at, actor, action, target_type, target_id, scope, request_id, summary, prev_hash FROM audit_log WHERE seq = $1",
    )
    .bind(seq)
    .fetch_one(db.pool())
    .await
    .unwrap();
    let hash = audit::entry_hash(
        row.0, row.1, actor, &row.3, &row.4, &row.5, &row.6, &row.7, &row.8, &row.9,
    );
    sqlx::query("UPDATE audit_log SET actor = $1, hash = $2 WHERE seq = $3")
        .bind(actor)
        .bind(&hash)
        .bind(seq)
        .execute(db.pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn audit_many_continues_the_chain_across_statements_and_transactions() {
    let t = super::db().await;
    append_n(&t.db, 3).await;
    // 2,500 entries take three INSERT statements; single appends before and after them in the
    // same transaction share the head it holds.
    let mut tx = t.db.begin_write().await.unwrap();
    let a = tx.audit(&entry(3)).await.unwrap();
    let entries: Vec<_> = (4..2_504).map(entry).collect();
    let many = tx.audit_many(&entries).await.unwrap();
    let b = tx.audit(&entry(2_504)).await.unwrap();
    assert!(tx.audit_many(&[]).await.unwrap().is_empty());
    tx.commit().await.unwrap();
    assert_eq!(a.seq, 4);
    assert_eq!(many.len(), 2_500);
    assert_eq!(many[0].prev_hash, a.hash);
    assert!(many
        .windows(2)
        .all(|w| w[1].seq == w[0].seq + 1 && w[1].prev_hash == w[0].hash));
    assert_eq!(b.seq, 2_505);
    assert_eq!(b.prev_hash, many[2_499].hash);
    let more = append_many(&t.db, 2_505, 10).await;
    assert_eq!(more[0].seq, 2_506);
    audit::append(&t.db, &entry(9_999)).await.unwrap();
    let r = verify_all_ways(&t.db).await;
    assert_eq!(r.entries_checked, 2_516);
    assert_eq!(r.head_seq, 2_516);
    assert_eq!(r.first_broken, None);
    let (seq, hash): (i64, String) = sqlx::query_as("SELECT seq, hash FROM audit_head")
        .fetch_one(t.db.pool())
        .await
        .unwrap();
    let last: String = sqlx::query_scalar("SELECT hash FROM audit_log WHERE seq = 2516")
        .fetch_one(t.db.pool())
        .await
        .unwrap();
    assert_eq!((seq, hash), (2_516, last));
}

#[tokio::test]
async fn audit_many_rolls_back_with_its_transaction() {
    let t = super::db().await;
    append_n(&t.db, 2).await;
    {
        let mut tx = t.db.begin_write().await.unwrap();
        let entries: Vec<_> = (0..1_500).map(entry).collect();
        tx.audit_many(&entries).await.unwrap();
        tx.audit(&entry(7)).await.unwrap();
        // dropped without commit
    }
    let r = verify_all_ways(&t.db).await;
    assert_eq!(
        (r.entries_checked, r.head_seq, r.first_broken),
        (2, 2, None)
    );
    append_many(&t.db, 2, 5).await;
    assert_eq!(audit::verify(&t.db).await.unwrap().head_seq, 7);
}

#[tokio::test]
async fn large_chain_verifies_intact() {
    let t = super::db().await;
    for k in 0..5 {
        append_many(&t.db, k * 10_000, 10_000).await;
    }
    let r = audit::verify(&t.db).await.unwrap();
    assert_eq!(r.entries_checked, 50_000);
    assert_eq!(r.head_seq, 50_000);
    assert_eq!(r.first_broken, None);
    let opts = VerifyOptions {
        batch_rows: 777,
        hash_threads: 4,
        ..Default::default()
    };
    assert_eq!(audit::verify_with(&t.db, &opts).await.unwrap(), r);
    assert_eq!(audit::verify_with(&t.db, &reference()).await.unwrap(), r);
}

#[tokio::test]
async fn break_in_the_middle_of_a_later_batch_is_reported_at_its_seq() {
    let t = super::db().await;
    append_many(&t.db, 0, 1_000).await;
    sqlx::query("UPDATE audit_log SET summary = '{}' WHERE seq = 750")
        .execute(t.db.pool())
        .await
        .unwrap();
    // An edit further on must not hide the first one.
    sqlx::query("UPDATE audit_log SET actor = 'user:evil' WHERE seq = 920")
        .execute(t.db.pool())
        .await
        .unwrap();
    let r = verify_all_ways(&t.db).await;
    let b = r.first_broken.expect("edit must be detected");
    assert_eq!(b.seq, 750);
    assert!(b.reason.contains("edited"), "{}", b.reason);
    assert_eq!(r.entries_checked, 749);
    assert_eq!(r.head_seq, 0);
}

#[tokio::test]
async fn break_at_a_batch_boundary_is_reported_at_its_seq() {
    // With batches of 100 entries, seq 600 ends a batch and seq 601 starts the next one.
    let t = super::db().await;
    append_many(&t.db, 0, 1_000).await;
    // The last entry of a batch edited with its own hash recomputed: the link breaks across
    // the boundary, at the first entry of the next batch.
    set_actor_rehashed(&t.db, 600, "user:evil").await;
    let b = verify_all_ways(&t.db).await.first_broken.unwrap();
    assert_eq!(b.seq, 601);
    assert!(b.reason.contains("prev_hash"), "{}", b.reason);

    // The first entry of a batch edited.
    let t = super::db().await;
    append_many(&t.db, 0, 1_000).await;
    sqlx::query("UPDATE audit_log SET scope = 'x' WHERE seq = 601")
        .execute(t.db.pool())
        .await
        .unwrap();
    let r = verify_all_ways(&t.db).await;
    assert_eq!(r.first_broken.unwrap().seq, 601);
    assert_eq!(r.entries_checked, 600);

    // The first entry of a batch deleted: the next batch starts one entry later.
    let t = super::db().await;
    append_many(&t.db, 0, 1_000).await;
    sqlx::query("DELETE FROM audit_log WHERE seq = 601")
        .execute(t.db.pool())
        .await
        .unwrap();
    let r = verify_all_ways(&t.db).await;
    let b = r.first_broken.unwrap();
    assert_eq!(b.seq, 602);
    assert_eq!(b.reason, "entries 601..601 are missing (deleted)");
    assert_eq!(r.entries_checked, 600);
}

#[tokio::test]
async fn break_where_two_read_ranges_meet_is_reported_at_its_seq() {
    // On PostgreSQL, 2 read ranges over 1..=1000 meet between 500 and 501.
    let t = super::db().await;
    append_many(&t.db, 0, 1_000).await;
    set_actor_rehashed(&t.db, 500, "user:evil").await;
    let r = audit::verify_with(&t.db, &parts(2, 100)).await.unwrap();
    assert_eq!(r, verify_all_ways(&t.db).await);
    assert_eq!(r.first_broken.unwrap().seq, 501);
    assert_eq!(r.entries_checked, 500);

    let t = super::db().await;
    append_many(&t.db, 0, 1_000).await;
    sqlx::query("DELETE FROM audit_log WHERE seq IN (501, 502)")
        .execute(t.db.pool())
        .await
        .unwrap();
    let r = audit::verify_with(&t.db, &parts(2, 100)).await.unwrap();
    assert_eq!(r, verify_all_ways(&t.db).await);
    let b = r.first_broken.unwrap();
    assert_eq!(
        (b.seq, b.reason.as_str()),
        (503, "entries 501..502 are missing (deleted)")
    );

    // A break in the second range and another one in the first: the first one is reported.
    let t = super::db().await;
    append_many(&t.db, 0, 1_000).await;
    for seq in [900, 120] {
        sqlx::query("UPDATE audit_log SET request_id = 'x' WHERE seq = $1")
            .bind(seq)
            .execute(t.db.pool())
            .await
            .unwrap();
    }
    let r = audit::verify_with(&t.db, &parts(2, 100)).await.unwrap();
    assert_eq!(r, verify_all_ways(&t.db).await);
    assert_eq!(r.first_broken.unwrap().seq, 120);
    assert_eq!(r.entries_checked, 119);
}

#[tokio::test]
async fn rows_stored_out_of_order_still_verify_in_seq_order() {
    let t = super::db().await;
    append_many(&t.db, 0, 300).await;
    // Delete an entry and put it back unchanged: it is now stored after the newest entries
    // (SQLite's table order), but the chain is intact.
    let cols = "seq, at, actor, action, target_type, target_id, scope, request_id, summary, prev_hash, hash";
    sqlx::query(&format!(
        "CREATE TABLE audit_keep AS SELECT {cols} FROM audit_log WHERE seq = 5"
    ))
    .execute(t.db.pool())
    .await
    .unwrap();
    sqlx::query("DELETE FROM audit_log WHERE seq = 5")
        .execute(t.db.pool())
        .await
        .unwrap();
    sqlx::query(&format!(
        "INSERT INTO audit_log ({cols}) SELECT {cols} FROM audit_keep"
    ))
    .execute(t.db.pool())
    .await
    .unwrap();
    let r = verify_all_ways(&t.db).await;
    assert_eq!(
        (r.entries_checked, r.head_seq, r.first_broken),
        (300, 300, None)
    );
}

#[tokio::test]
async fn entry_inserted_below_seq_1_is_reported() {
    let t = super::db().await;
    append_many(&t.db, 0, 20).await;
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, target_type, target_id, scope, \
         request_id, summary, prev_hash, hash) SELECT 0, at, actor, action, target_type, \
         target_id, scope, request_id, summary, prev_hash, hash FROM audit_log WHERE seq = 3",
    )
    .execute(t.db.pool())
    .await
    .unwrap();
    let r = verify_all_ways(&t.db).await;
    let b = r.first_broken.unwrap();
    assert_eq!(b.seq, 0);
    assert!(b.reason.contains("seq < 1"), "{}", b.reason);
    assert_eq!(r.entries_checked, 20);
}

#[tokio::test]
async fn a_reopened_savepoint_keeps_the_item_before_and_undoes_the_one_after() {
    // Written at once, the rows are undone by the database's savepoint; deferred, by the
    // transaction's own lists.
    for defer in [false, true] {
        let t = super::db().await;
        let mut tx = t.db.begin_write().await.unwrap();
        if defer {
            tx.defer_audit_and_outbox();
        }
        let sp = tx.savepoint().await.unwrap();
        tx.audit(&entry(1)).await.unwrap();
        tx.emit("thing.one", &serde_json::json!({"id": 1}))
            .await
            .unwrap();
        let sp = tx.release_and_reopen(sp).await.unwrap();
        tx.audit(&entry(2)).await.unwrap();
        tx.emit("thing.two", &serde_json::json!({"id": 2}))
            .await
            .unwrap();
        tx.rollback_to(sp).await.unwrap();
        let sp = tx.savepoint().await.unwrap();
        tx.audit(&entry(3)).await.unwrap();
        tx.release(sp).await.unwrap();
        let events = tx.commit().await.unwrap();
        assert_eq!(events.len(), 1);
        let targets: Vec<String> =
            sqlx::query_scalar("SELECT target_id FROM audit_log ORDER BY seq")
                .fetch_all(t.db.pool())
                .await
                .unwrap();
        assert_eq!(targets, ["t1", "t3"], "deferred: {defer}");
        let topics: Vec<String> = sqlx::query_scalar("SELECT topic FROM outbox ORDER BY seq")
            .fetch_all(t.db.pool())
            .await
            .unwrap();
        assert_eq!(topics, ["thing.one"], "deferred: {defer}");
        let r = audit::verify(&t.db).await.unwrap();
        assert_eq!((r.entries_checked, r.first_broken), (2, None));
    }
}
