//! Native write transactions ([`Db::begin_native`]): the same calls on both engines.

use tinhso_store::audit::{self, NewAuditEntry};
use tinhso_store::native::Param;
use tinhso_store::{Backend, Db, DbError, Exec, Tx, WriteTx};

fn entry(i: usize) -> NewAuditEntry {
    NewAuditEntry {
        actor: "system".into(),
        action: "probe.write".into(),
        target_type: "probe".into(),
        target_id: format!("p{i}"),
        scope: "20".into(),
        request_id: format!("req-{i}"),
        summary: serde_json::json!({"i": i, "ten": "Thử"}),
    }
}

async fn make_table(db: &Db) {
    let mut tx = db.begin_write().await.unwrap();
    tx.execute(
        "CREATE TABLE probe (k TEXT PRIMARY KEY, n BIGINT NOT NULL, note TEXT)",
        &[],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// One function for every kind of transaction: an insert, a read in the transaction, an audit
/// entry and an event are written by the caller.
async fn put<E: Exec>(tx: &mut E, k: &str, n: i64) -> Result<i64, DbError> {
    tx.execute(
        "INSERT INTO probe (k, n, note) VALUES ($1, $2, $3)",
        &[Param::Text(k), Param::Int(n), Param::OptText(None)],
    )
    .await?;
    let total = tx
        .row(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM probe WHERE n >= $1",
            &[Param::Int(0)],
            |r| r.int(0),
        )
        .await?;
    Ok(total.unwrap_or(0))
}

async fn count(db: &Db, sql: &str) -> i64 {
    tinhso_store::db::count(db, sql).await.unwrap()
}

#[tokio::test]
async fn commit_writes_rows_audit_and_events_in_order() {
    let t = super::db().await;
    make_table(&t.db).await;
    audit::append(&t.db, &entry(0)).await.unwrap();
    let mut tx: Tx = t.db.begin_native().await.unwrap();
    assert_eq!(tx.is_native(), t.db.backend() == Backend::Sqlite);
    assert_eq!(put(&mut tx, "a", 2).await.unwrap(), 2);
    assert_eq!(
        put(&mut tx, "b", 3).await.unwrap(),
        5,
        "reads see the transaction"
    );
    let inserted = tx
        .insert_rows(
            "probe",
            &["k", "n", "note"],
            &[Param::Text("x"), Param::Int(0), Param::OptText(Some("một"))],
        )
        .await
        .unwrap();
    assert_eq!(inserted, 1);
    let keys: Vec<String> = (0..250).map(|i| format!("m{i:03}")).collect();
    let params: Vec<Param<'_>> = keys
        .iter()
        .enumerate()
        .flat_map(|(i, k)| [Param::Text(k), Param::Int(i as i64), Param::OptText(None)])
        .collect();
    assert_eq!(
        tx.insert_rows("probe", &["k", "n", "note"], &params)
            .await
            .unwrap(),
        250,
        "several multi-row statements"
    );
    tx.audit(&entry(1)).await.unwrap();
    tx.emit("probe.first", &serde_json::json!({"i": 1}))
        .await
        .unwrap();
    tx.audit_many(&[entry(2), entry(3)]).await.unwrap();
    tx.emit("probe.second", &serde_json::json!({"i": 2}))
        .await
        .unwrap();
    let events = tx.commit().await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(count(&t.db, "SELECT COUNT(*) FROM probe").await, 253);
    let targets: Vec<String> = sqlx::query_scalar("SELECT target_id FROM audit_log ORDER BY seq")
        .fetch_all(t.db.pool())
        .await
        .unwrap();
    assert_eq!(targets, ["p0", "p1", "p2", "p3"]);
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM outbox ORDER BY seq")
        .fetch_all(t.db.pool())
        .await
        .unwrap();
    assert_eq!(ids, events);
    let r = audit::verify(&t.db).await.unwrap();
    assert_eq!(
        (r.entries_checked, r.head_seq, r.first_broken),
        (4, 4, None)
    );
    // The chain goes on through sqlx after the native commit.
    audit::append(&t.db, &entry(4)).await.unwrap();
    assert_eq!(audit::verify(&t.db).await.unwrap().first_broken, None);
}

/// A commit of many entries and events (on SQLite: statements of 256, 32, 8 and 4 entries and
/// of 64, 8, 4 and 1 events, kept prepared) writes them all, chained and numbered in order; a
/// second commit of other sizes reuses and adds shapes and continues both sequences.
#[tokio::test]
async fn a_commit_of_many_entries_and_events_keeps_the_chain_and_the_order() {
    let t = super::db().await;
    audit::append(&t.db, &entry(0)).await.unwrap();
    let mut all_events = Vec::new();
    let mut next = 1;
    for (entries, events) in [(300, 77), (5, 130)] {
        let mut tx: Tx = t.db.begin_native().await.unwrap();
        let batch: Vec<_> = (next..next + entries).map(entry).collect();
        next += entries;
        tx.audit_many(&batch).await.unwrap();
        for i in 0..events {
            tx.emit("probe.many", &serde_json::json!({ "i": i }))
                .await
                .unwrap();
        }
        all_events.extend(tx.commit().await.unwrap());
    }
    let targets: Vec<String> = sqlx::query_scalar("SELECT target_id FROM audit_log ORDER BY seq")
        .fetch_all(t.db.pool())
        .await
        .unwrap();
    let expected: Vec<String> = (0..next).map(|i| format!("p{i}")).collect();
    assert_eq!(targets, expected);
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM outbox ORDER BY seq")
        .fetch_all(t.db.pool())
        .await
        .unwrap();
    assert_eq!(ids.len(), 77 + 130);
    assert_eq!(ids, all_events);
    let r = audit::verify(&t.db).await.unwrap();
    assert_eq!(
        (r.entries_checked, r.head_seq, r.first_broken),
        (next as i64, next as i64, None)
    );
}

#[tokio::test]
async fn an_error_or_a_panic_rolls_back_and_frees_the_writer() {
    let t = super::db().await;
    make_table(&t.db).await;
    audit::append(&t.db, &entry(0)).await.unwrap();
    // An error half-way: returned with `?`, the transaction is dropped.
    async fn fails(db: &Db) -> Result<(), DbError> {
        let mut tx = db.begin_native().await?;
        put(&mut tx, "a", 1).await?;
        tx.audit(&entry(1)).await?;
        tx.emit("probe.lost", &serde_json::json!({})).await?;
        put(&mut tx, "a", 2).await?;
        tx.commit().await?;
        Ok(())
    }
    let e = fails(&t.db).await.unwrap_err();
    assert!(e.is_unique_violation(), "{e}");
    // A panic while the transaction is open.
    let db = t.db.clone();
    let panicked = tokio::spawn(async move {
        let mut tx = db.begin_native().await.unwrap();
        put(&mut tx, "b", 1).await.unwrap();
        tx.audit(&entry(2)).await.unwrap();
        panic!("in the middle of a transaction");
    })
    .await;
    assert!(panicked.is_err());
    assert_eq!(count(&t.db, "SELECT COUNT(*) FROM probe").await, 0);
    assert_eq!(count(&t.db, "SELECT COUNT(*) FROM outbox").await, 0);
    let r = audit::verify(&t.db).await.unwrap();
    assert_eq!((r.entries_checked, r.first_broken), (1, None));
    // The writer is free: both kinds of transaction go on.
    let mut tx = t.db.begin_write().await.unwrap();
    put(&mut tx, "c", 1).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = t.db.begin_native().await.unwrap();
    put(&mut tx, "d", 1).await.unwrap();
    tx.audit(&entry(3)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(count(&t.db, "SELECT COUNT(*) FROM probe").await, 2);
    let r = audit::verify(&t.db).await.unwrap();
    assert_eq!((r.entries_checked, r.first_broken), (2, None));
}

/// Native transactions, sqlx transactions and group commits (native and sqlx items) from many
/// tasks at once: every
/// write lands, the audit chain is one chain and the outbox sequence has no gap.
#[tokio::test]
async fn interleaves_with_sqlx_writers_and_group_commit() {
    let t = super::db().await;
    make_table(&t.db).await;
    let mut tasks = Vec::new();
    for w in 0..12usize {
        let db = t.db.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..15usize {
                let k = format!("w{w}-{i}");
                let n = (w * 100 + i) as i64;
                match w % 4 {
                    0 => {
                        let mut tx = db.begin_native().await.unwrap();
                        put(&mut tx, &k, n).await.unwrap();
                        tx.audit(&entry(w * 100 + i)).await.unwrap();
                        tx.emit("probe.native", &serde_json::json!({"k": k}))
                            .await
                            .unwrap();
                        tx.commit().await.unwrap();
                    }
                    1 => {
                        let mut tx: WriteTx = db.begin_write().await.unwrap();
                        put(&mut tx, &k, n).await.unwrap();
                        tx.audit(&entry(w * 100 + i)).await.unwrap();
                        tx.emit("probe.sqlx", &serde_json::json!({"k": k}))
                            .await
                            .unwrap();
                        tx.commit().await.unwrap();
                    }
                    2 => {
                        let e = entry(w * 100 + i);
                        db.write_grouped_native(move |tx| {
                            Box::pin(async move {
                                put(tx, &k, n).await?;
                                tx.audit(&e).await?;
                                tx.emit("probe.group_native", &serde_json::json!({"k": k}))
                                    .await?;
                                Ok::<_, DbError>(())
                            })
                        })
                        .await
                        .unwrap();
                    }
                    _ => {
                        let e = entry(w * 100 + i);
                        db.write_grouped(move |tx| {
                            Box::pin(async move {
                                put(tx, &k, n).await?;
                                tx.audit(&e).await?;
                                tx.emit("probe.group", &serde_json::json!({"k": k})).await?;
                                Ok::<_, DbError>(())
                            })
                        })
                        .await
                        .unwrap();
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(count(&t.db, "SELECT COUNT(*) FROM probe").await, 180);
    let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM outbox ORDER BY seq")
        .fetch_all(t.db.pool())
        .await
        .unwrap();
    assert_eq!(seqs, (1..=180).collect::<Vec<i64>>());
    let r = audit::verify(&t.db).await.unwrap();
    assert_eq!(
        (r.entries_checked, r.head_seq, r.first_broken),
        (180, 180, None)
    );
}

/// Real numbers (số thực) and their NULLs go in through both kinds of transaction and come
/// back unchanged — within the transaction, after commit through `read_rows`, and compared in
/// SQL against a bound real — on either engine.
#[tokio::test]
async fn floats_round_trip_through_both_kinds_of_transaction() {
    let t = super::db().await;
    let mut tx = t.db.begin_write().await.unwrap();
    tx.execute(
        "CREATE TABLE probe_real (k TEXT PRIMARY KEY, x DOUBLE PRECISION NOT NULL, y DOUBLE PRECISION)",
        &[],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // Whole, fractional, negative, tiny, huge: none may be rounded on the way.
    let values = [500.0, 0.1, -2.5, 1e-300, 1.7976931348623157e308, 1234.5678];
    async fn put_and_read<E: Exec>(
        tx: &mut E,
        k: &str,
        x: f64,
        y: Option<f64>,
    ) -> (f64, Option<f64>) {
        tx.execute(
            "INSERT INTO probe_real (k, x, y) VALUES ($1, $2, $3)",
            &[Param::Text(k), Param::Float(x), Param::OptFloat(y)],
        )
        .await
        .unwrap();
        tx.row(
            "SELECT x, y FROM probe_real WHERE k = $1 AND x = $2",
            &[Param::Text(k), Param::Float(x)],
            |r| Ok((r.float(0)?, r.opt_float(1)?)),
        )
        .await
        .unwrap()
        .expect("the row just written, found by its real value")
    }
    for (i, x) in values.iter().enumerate() {
        let y = (i % 2 == 0).then_some(-x / 3.0);
        let k = format!("n{i}");
        let mut native = t.db.begin_native().await.unwrap();
        assert_eq!(put_and_read(&mut native, &k, *x, y).await, (*x, y));
        native.commit().await.unwrap();
        let k = format!("s{i}");
        let mut sqlx_tx = t.db.begin_write().await.unwrap();
        assert_eq!(put_and_read(&mut sqlx_tx, &k, *x, y).await, (*x, y));
        sqlx_tx.commit().await.unwrap();
    }
    let read =
        t.db.read_rows(
            "SELECT k, x, y FROM probe_real WHERE k LIKE $1 ORDER BY k",
            &[Param::Text("n%")],
            |r| Ok((r.text(0)?, r.float(1)?, r.opt_float(2)?)),
        )
        .await
        .unwrap();
    let expected: Vec<(String, f64, Option<f64>)> = values
        .iter()
        .enumerate()
        .map(|(i, x)| (format!("n{i}"), *x, (i % 2 == 0).then_some(-x / 3.0)))
        .collect();
    assert_eq!(read, expected);
    // The two writers stored the same values.
    let same = tinhso_store::db::count(
        &t.db,
        "SELECT COUNT(*) FROM probe_real n JOIN probe_real s ON s.k = 's' || substr(n.k, 2) \
         WHERE n.k LIKE 'n%' AND s.x = n.x AND (s.y = n.y OR (s.y IS NULL AND n.y IS NULL))",
    )
    .await
    .unwrap();
    assert_eq!(same, values.len() as i64);
}

async fn keys(db: &Db, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sql).fetch_all(db.pool()).await.unwrap()
}

/// Savepoints of a [`Tx`] (native on SQLite): rolling back to one undoes the rows, audit entries
/// and outbox events written after it — also after a failed statement — releasing keeps them,
/// they nest, and the audit chain stays whole across what was undone.
#[tokio::test]
async fn savepoints_undo_rows_audit_and_events_and_nest() {
    let t = super::db().await;
    make_table(&t.db).await;
    audit::append(&t.db, &entry(0)).await.unwrap();
    let mut tx: Tx = t.db.begin_native().await.unwrap();
    assert_eq!(tx.is_native(), t.db.backend() == Backend::Sqlite);
    // Writes `k` with its audit entry `i` and an event.
    async fn write(tx: &mut Tx, k: &str, i: usize) -> Result<(), DbError> {
        put(tx, k, i as i64).await?;
        tx.audit(&entry(i)).await?;
        tx.emit("probe.sp", &serde_json::json!({ "k": k })).await?;
        Ok(())
    }
    write(&mut tx, "a", 1).await.unwrap();
    // Nested: the inner one rolled back, the outer one released.
    let outer = tx.savepoint().await.unwrap();
    write(&mut tx, "b", 2).await.unwrap();
    let inner = tx.savepoint().await.unwrap();
    write(&mut tx, "c", 3).await.unwrap();
    tx.rollback_to(inner).await.unwrap();
    assert_eq!(
        put(&mut tx, "probe", 0).await.unwrap(),
        3,
        "c is gone: a + b"
    );
    tx.execute("DELETE FROM probe WHERE k = 'probe'", &[])
        .await
        .unwrap();
    tx.release(outer).await.unwrap();
    // A failed statement (a duplicate key), then back to the savepoint: the transaction goes on
    // (on PostgreSQL it is aborted until then).
    let sp = tx.savepoint().await.unwrap();
    write(&mut tx, "d", 4).await.unwrap();
    let dup = write(&mut tx, "a", 5).await.unwrap_err();
    assert!(dup.is_unique_violation(), "{dup}");
    tx.rollback_to(sp).await.unwrap();
    // Release and reopen in one: what came before it stays, what came after is undone.
    let sp = tx.savepoint().await.unwrap();
    write(&mut tx, "e", 6).await.unwrap();
    let sp = tx.release_and_reopen(sp).await.unwrap();
    write(&mut tx, "f", 7).await.unwrap();
    tx.rollback_to(sp).await.unwrap();
    // Only the newest savepoint may be closed.
    let older = tx.savepoint().await.unwrap();
    let newer = tx.savepoint().await.unwrap();
    assert!(tx.release(older).await.is_err());
    write(&mut tx, "g", 8).await.unwrap();
    tx.release(newer).await.unwrap();
    let events = tx.commit().await.unwrap();
    assert_eq!(events.len(), 4, "a, b, e and g announced");
    assert_eq!(
        keys(&t.db, "SELECT k FROM probe ORDER BY k").await,
        ["a", "b", "e", "g"]
    );
    assert_eq!(
        keys(&t.db, "SELECT target_id FROM audit_log ORDER BY seq").await,
        ["p0", "p1", "p2", "p6", "p8"]
    );
    let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM outbox ORDER BY seq")
        .fetch_all(t.db.pool())
        .await
        .unwrap();
    assert_eq!(seqs, [1, 2, 3, 4], "no gap in the outbox sequence");
    let r = audit::verify(&t.db).await.unwrap();
    assert_eq!(
        (r.entries_checked, r.head_seq, r.first_broken),
        (5, 5, None)
    );
}

/// Rolling back to the first savepoint of a transaction that had appended nothing yet leaves no
/// audit entry and no event behind, and the next append reads the chain's head afresh.
#[tokio::test]
async fn rolling_back_everything_leaves_the_chain_as_it_was() {
    let t = super::db().await;
    make_table(&t.db).await;
    audit::append(&t.db, &entry(0)).await.unwrap();
    let mut tx = t.db.begin_native().await.unwrap();
    let sp = tx.savepoint().await.unwrap();
    put(&mut tx, "x", 1).await.unwrap();
    tx.audit(&entry(1)).await.unwrap();
    tx.emit("probe.sp", &serde_json::json!({})).await.unwrap();
    tx.rollback_to(sp).await.unwrap();
    tx.audit(&entry(2)).await.unwrap();
    assert!(tx.commit().await.unwrap().is_empty(), "no event kept");
    assert_eq!(count(&t.db, "SELECT COUNT(*) FROM probe").await, 0);
    assert_eq!(
        keys(&t.db, "SELECT target_id FROM audit_log ORDER BY seq").await,
        ["p0", "p2"]
    );
    let r = audit::verify(&t.db).await.unwrap();
    assert_eq!((r.entries_checked, r.first_broken), (2, None));
}

/// SQLite's one writer between the two kinds of transaction: a native transaction waits while
/// a sqlx one is open and the other way round (on a SQLite file they share one permit instead
/// of sqlx's writer connection). PostgreSQL has no one-writer rule: both are sqlx transactions
/// on the pool, writing at once.
#[tokio::test]
async fn a_native_and_a_sqlx_transaction_never_write_at_once() {
    use std::time::Duration;
    let t = super::db().await;
    if t.db.backend() != Backend::Sqlite {
        return;
    }
    make_table(&t.db).await;
    let mut sqlx_tx = t.db.begin_write().await.unwrap();
    put(&mut sqlx_tx, "a", 1).await.unwrap();
    let db = t.db.clone();
    let native = tokio::spawn(async move {
        let mut tx = db.begin_native().await.unwrap();
        put(&mut tx, "b", 2).await.unwrap();
        tx.commit().await.unwrap();
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !native.is_finished(),
        "the native transaction must wait for the sqlx one"
    );
    sqlx_tx.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), native)
        .await
        .unwrap()
        .unwrap();

    let mut native_tx = t.db.begin_native().await.unwrap();
    put(&mut native_tx, "c", 3).await.unwrap();
    let db = t.db.clone();
    let sqlx_side = tokio::spawn(async move {
        let mut tx = db.begin_write().await.unwrap();
        put(&mut tx, "d", 4).await.unwrap();
        tx.commit().await.unwrap();
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !sqlx_side.is_finished(),
        "the sqlx transaction must wait for the native one"
    );
    native_tx.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), sqlx_side)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(count(&t.db, "SELECT COUNT(*) FROM probe").await, 4);
}
