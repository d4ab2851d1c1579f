//! The log writer's multi-row statements: batches larger than one statement, nonces new and
//! already recorded, kept bodies beside their entries — the chain stays verifiable.

use super::support::db;
use std::sync::Arc;
use tinhso_exchange::bodies::Sealed;
use tinhso_exchange::log::{self, Appender, NewEntry};
use tinhso_store::{now_micros, Db};

fn entry(i: usize, kept: bool) -> NewEntry {
    let id = format!("ex-{i:05}");
    NewEntry {
        exchange_id: id.clone(),
        client: format!("000.00.{:02}.H37", i % 7),
        provider: "000.00.19.H37".into(),
        service: "echo".into(),
        method: "POST".into(),
        path: format!("/lgsp/v1/000.00.19.H37/echo/{i}"),
        status: 200,
        outcome: "ok".into(),
        latency_us: i as i64,
        request_sha256: format!("{i:064x}"),
        response_sha256: format!("{:064x}", i + 1),
        client_signature: format!("sig-{i}"),
        hub_signature: format!("hub-{i}"),
        kept: kept.then(|| Sealed {
            client_timestamp: 1_700_000_000 + i as i64,
            client_nonce: format!("nonce-kept-{i:05}"),
            request: format!("req-{i}"),
            response: format!("resp-{i}"),
        }),
    }
}

/// The in-flight row of the exchange logged by `e` ([`log::InFlight`]).
fn in_flight(e: &NewEntry) -> log::InFlight {
    log::InFlight {
        exchange_id: e.exchange_id.clone(),
        client: e.client.clone(),
        provider: e.provider.clone(),
        service: e.service.clone(),
        method: e.method.clone(),
        path: e.path.clone(),
        request_sha256: e.request_sha256.clone(),
        client_signature: e.client_signature.clone(),
    }
}

/// `writers` log writers (appenders) on `db`, each with `callers` tasks running
/// `caller(appender, writer, caller)`.
fn writers_with_callers<T, F, Fut>(
    db: &Db,
    writers: usize,
    callers: usize,
    caller: F,
) -> (Vec<Arc<Appender>>, Vec<tokio::task::JoinHandle<T>>)
where
    F: Fn(Arc<Appender>, usize, usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut appenders = Vec::new();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let appender = Arc::new(Appender::new(db.clone()));
        appenders.push(appender.clone());
        for c in 0..callers {
            tasks.push(tokio::spawn(caller(appender.clone(), w, c)));
        }
    }
    (appenders, tasks)
}

async fn count(db: &Db, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db.pool()).await.unwrap()
}

#[tokio::test]
async fn a_batch_larger_than_one_statement_is_chained_in_order_with_its_bodies() {
    let t = db().await;
    let entries: Vec<NewEntry> = (0..237).map(|i| entry(i, i % 3 == 0)).collect();
    let written = log::append_many(&t.db, &entries).await.unwrap();
    assert_eq!(written.len(), 237);
    for (i, e) in written.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1);
        assert_eq!(e.exchange_id, entries[i].exchange_id, "in the order given");
        assert_eq!(e.hash, e.computed_hash());
        if i > 0 {
            assert_eq!(
                e.prev_hash,
                written[i - 1].hash,
                "chained to the one before"
            );
        }
    }
    let more = log::append_many(&t.db, &entries_from(237, 3))
        .await
        .unwrap();
    assert_eq!(
        more[0].prev_hash, written[236].hash,
        "the head moved to the last"
    );
    let v = log::verify(&t.db, None).await.unwrap();
    assert_eq!((v.entries_checked, v.first_broken), (240, None));
    assert_eq!(count(&t.db, "SELECT COUNT(*) FROM exchange_log").await, 240);
    // Every third entry kept its bodies, beside the right entry.
    assert_eq!(
        count(&t.db, "SELECT COUNT(*) FROM exchange_bodies").await,
        79
    );
    let (id, nonce, req): (String, String, String) = sqlx::query_as(
        "SELECT exchange_id, client_nonce, request_body FROM exchange_bodies WHERE exchange_id = 'ex-00123'",
    )
    .fetch_one(t.db.pool())
    .await
    .unwrap();
    assert_eq!(
        (id.as_str(), nonce.as_str(), req.as_str()),
        ("ex-00123", "nonce-kept-00123", "req-123")
    );
}

fn entries_from(first: usize, n: usize) -> Vec<NewEntry> {
    (first..first + n).map(|i| entry(i, false)).collect()
}

#[tokio::test]
async fn concurrent_appends_with_nonces_are_all_logged_and_a_recorded_nonce_is_kept_as_it_was() {
    let t = db().await;
    let expires = now_micros() + 300_000_000;
    // Recorded before (by another node, or before a restart).
    sqlx::query(
        "INSERT INTO exchange_nonces (member_code, nonce, expires_at) VALUES ('m1', 'n-00007', $1)",
    )
    .bind(expires + 1)
    .execute(t.db.pool())
    .await
    .unwrap();
    let appender = Arc::new(Appender::new(t.db.clone()));
    let mut tasks = Vec::new();
    for i in 0..300usize {
        let a = appender.clone();
        tasks.push(tokio::spawn(async move {
            a.append_with_nonce(
                entry(i, false),
                Some(("m1".into(), format!("n-{i:05}"), expires)),
            )
            .await
        }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap().unwrap().seq);
    }
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=300).collect::<Vec<i64>>(),
        "every entry written once"
    );
    assert_eq!(
        count(&t.db, "SELECT COUNT(*) FROM exchange_nonces").await,
        300
    );
    let kept: i64 = sqlx::query_scalar(
        "SELECT expires_at FROM exchange_nonces WHERE member_code = 'm1' AND nonce = 'n-00007'",
    )
    .fetch_one(t.db.pool())
    .await
    .unwrap();
    assert_eq!(kept, expires + 1, "the earlier record is kept as it was");
    let v = log::verify(&t.db, None).await.unwrap();
    assert_eq!((v.entries_checked, v.first_broken), (300, None));
}

/// Several hubs on one database, each with its log writer on a thread of its own (on
/// PostgreSQL with its own connection): every entry logged once, each hub's entries in the
/// order it handed them over, the chain intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_writers_on_one_database_chain_every_entry_in_order() {
    let t = db().await;
    const WRITERS: usize = 3;
    const CALLERS: usize = 8;
    const EACH: usize = 25;
    let expires = now_micros() + 300_000_000;
    let (appenders, tasks) = writers_with_callers(&t.db, WRITERS, CALLERS, |a, w, c| async move {
        let mut seqs = Vec::new();
        // One caller's entries one after another: each is committed before the next.
        for i in 0..EACH {
            let n = (w * CALLERS + c) * EACH + i;
            let e = a
                .append_with_nonce(
                    entry(n, n.is_multiple_of(5)),
                    Some((format!("m{w}"), format!("n-{n:05}"), expires)),
                )
                .await
                .unwrap();
            assert_eq!(e.exchange_id, format!("ex-{n:05}"));
            seqs.push(e.seq);
        }
        seqs
    });
    let mut all = Vec::new();
    for task in tasks {
        let seqs = task.await.unwrap();
        assert!(
            seqs.windows(2).all(|p| p[0] < p[1]),
            "a caller's entries in the order given: {seqs:?}"
        );
        all.extend(seqs);
    }
    let total = WRITERS * CALLERS * EACH;
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=total as i64).collect::<Vec<_>>(),
        "each entry once"
    );
    for a in &appenders {
        a.close().await;
    }
    assert_eq!(
        count(&t.db, "SELECT COUNT(*) FROM exchange_nonces").await,
        total as i64
    );
    assert_eq!(
        count(&t.db, "SELECT COUNT(*) FROM exchange_bodies").await,
        (total / 5) as i64
    );
    let v = log::verify(&t.db, None).await.unwrap();
    assert_eq!((v.entries_checked, v.first_broken), (total as i64, None));
}

/// Closing the appender (shutdown) commits every entry handed over before it, answers each,
/// and refuses what comes after; nothing answered is missing from the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_writer_commits_what_was_handed_over_then_refuses() {
    let t = db().await;
    let appender = Arc::new(Appender::new(t.db.clone()));
    let mut tasks = Vec::new();
    for i in 0..400usize {
        let a = appender.clone();
        tasks.push(tokio::spawn(async move { a.append(entry(i, false)).await }));
    }
    // Close once the first batch is committed, while others are still coming.
    while count(&t.db, "SELECT COUNT(*) FROM exchange_log").await == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    appender.close().await;
    let mut answered = Vec::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(e) => answered.push(e),
            Err(e) => {
                assert!(e.to_string().contains("stopped"), "{e}");
                refused += 1;
            }
        }
    }
    assert_eq!(answered.len() + refused, 400);
    assert!(
        !answered.is_empty(),
        "a batch was committed before the close"
    );
    let err = appender.append(entry(400, false)).await.unwrap_err();
    assert!(err.to_string().contains("appender stopped"), "{err}");
    // Every answered entry is in the database with what the caller was told.
    let logged: Vec<(i64, String)> =
        sqlx::query_as("SELECT seq, exchange_id FROM exchange_log ORDER BY seq")
            .fetch_all(t.db.pool())
            .await
            .unwrap();
    let mut told: Vec<(i64, String)> = answered
        .iter()
        .map(|e| (e.seq, e.exchange_id.clone()))
        .collect();
    told.sort_unstable();
    assert_eq!(logged, told, "the log holds exactly the answered entries");
    let v = log::verify(&t.db, None).await.unwrap();
    assert_eq!(
        (v.entries_checked, v.first_broken),
        (answered.len() as i64, None)
    );
}

/// Nonces taken before forwarding (shared database): several hubs' writers take nonces — some
/// the same nonce at once — and then log each exchange that took one, closing its in-flight
/// row. On PostgreSQL takes and entries go out in statements of their own, several in flight,
/// the entries prepared from the head the writer's previous batch left while other writers
/// move it. Each nonce is taken once, each taken exchange logged once in its caller's order,
/// no in-flight row left, the chain intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonces_taken_before_forwarding_then_logged_through_several_writers() {
    let t = db().await;
    const WRITERS: usize = 3;
    const CALLERS: usize = 6;
    const EACH: usize = 20;
    let expires = now_micros() + 300_000_000;
    let (appenders, tasks) = writers_with_callers(&t.db, WRITERS, CALLERS, |a, w, c| async move {
        let mut logged = Vec::new();
        for i in 0..EACH {
            let n = (w * CALLERS + c) * EACH + i;
            // Callers 0 and 1 of every writer send the same nonces: a replay racing
            // its original through all the hubs at once.
            let nonce = if c < 2 {
                format!("same-{i:03}")
            } else {
                format!("n-{n:05}")
            };
            let e = entry(n, n.is_multiple_of(4));
            let flight = in_flight(&e);
            let new = a
                .take_nonce(("m".into(), nonce.clone(), expires), flight, now_micros())
                .await
                .unwrap();
            if new {
                let written = a.append_closing(e).await.unwrap();
                assert_eq!(written.exchange_id, format!("ex-{n:05}"));
                logged.push((nonce, written.seq));
            }
        }
        logged
    });
    let mut seqs = Vec::new();
    let mut nonces = Vec::new();
    for task in tasks {
        let logged = task.await.unwrap();
        assert!(
            logged.windows(2).all(|p| p[0].1 < p[1].1),
            "a caller's entries in the order given: {logged:?}"
        );
        for (nonce, seq) in logged {
            nonces.push(nonce);
            seqs.push(seq);
        }
    }
    for a in &appenders {
        a.close().await;
    }
    nonces.sort_unstable();
    let taken = nonces.len();
    nonces.dedup();
    assert_eq!(nonces.len(), taken, "each nonce taken once");
    // The shared nonces once each, every other caller's all.
    let expected = EACH + WRITERS * (CALLERS - 2) * EACH;
    assert_eq!(taken, expected);
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=expected as i64).collect::<Vec<_>>(),
        "each entry once"
    );
    assert_eq!(
        count(&t.db, "SELECT COUNT(*) FROM exchange_nonces").await,
        expected as i64
    );
    assert_eq!(
        count(&t.db, "SELECT COUNT(*) FROM exchange_inflight").await,
        0,
        "every in-flight row closed by its entry"
    );
    let v = log::verify(&t.db, None).await.unwrap();
    assert_eq!((v.entries_checked, v.first_broken), (expected as i64, None));
}

/// The writer's first batch purges expired nonces (every 64th does), also when it holds log
/// entries and no nonce taken before forwarding: on PostgreSQL the takes go out as a batch of
/// their own, and the purge must not leave with an empty one (it was lost so, and expired
/// nonces stayed for ever). A nonce not yet expired stays.
#[tokio::test]
async fn expired_nonces_are_purged_by_a_batch_without_takes() {
    let t = db().await;
    let now = now_micros();
    for (nonce, expires) in [("old", now - 1_000_000), ("live", now + 300_000_000)] {
        sqlx::query(
            "INSERT INTO exchange_nonces (member_code, nonce, expires_at) VALUES ($1, $2, $3)",
        )
        .bind("m")
        .bind(nonce)
        .bind(expires)
        .execute(t.db.pool())
        .await
        .unwrap();
    }
    let a = Appender::new(t.db.clone());
    a.append(entry(1, false)).await.unwrap();
    a.close().await;
    let left: Vec<String> = sqlx::query_scalar("SELECT nonce FROM exchange_nonces ORDER BY nonce")
        .fetch_all(t.db.pool())
        .await
        .unwrap();
    assert_eq!(left, ["live"]);
}

/// On PostgreSQL the writer's statements stay prepared on its connections, and the server
/// keeps the plan it made after a statement's first executions, made while
/// `exchange_inflight` and `exchange_nonces` were nearly empty: such a plan scanned the whole
/// table on every batch (each batch's in-flight delete, each purge of expired nonces). The
/// writer's connections plan without sequential scans: after some 300 batches, neither table
/// was scanned once. PostgreSQL's plans only: on SQLite there is nothing to count.
#[tokio::test]
async fn the_writer_reaches_nonces_and_inflight_rows_by_key_on_postgresql() {
    let t = db().await;
    if t.db.backend() != tinhso_store::Backend::Postgres {
        return;
    }
    const N: i64 = 150;
    let expires = now_micros() + 300_000_000;
    let a = Appender::new(t.db.clone());
    for i in 0..N as usize {
        let e = entry(i, false);
        let flight = in_flight(&e);
        let nonce = ("m".to_string(), format!("n-{i:05}"), expires);
        assert!(a.take_nonce(nonce, flight, now_micros()).await.unwrap());
        a.append_closing(e).await.unwrap();
    }
    a.close().await;
    // A server process publishes its table counters when its connection ends (the writer's
    // ended above, asynchronously): wait until every nonce the writer inserted and every
    // in-flight row it deleted shows, whichever of its connections did it.
    let started = std::time::Instant::now();
    loop {
        let (inserted, deleted, nonces_scanned, inflight_scanned): (i64, i64, i64, i64) =
            sqlx::query_as(
                "SELECT n.n_tup_ins, f.n_tup_del, n.seq_scan, f.seq_scan \
                 FROM pg_stat_user_tables n, pg_stat_user_tables f \
                 WHERE n.relname = 'exchange_nonces' AND f.relname = 'exchange_inflight'",
            )
            .fetch_one(t.db.pool())
            .await
            .unwrap();
        if inserted >= N && deleted >= N {
            assert_eq!(
                (nonces_scanned, inflight_scanned),
                (0, 0),
                "sequential scans of exchange_nonces and exchange_inflight"
            );
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the writer's counters never showed: {inserted} nonces and {deleted} in-flight \
             rows of {N}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // (Counted after the counters: this count scans the table.)
    assert_eq!(
        count(&t.db, "SELECT COUNT(*) FROM exchange_inflight").await,
        0
    );
}
