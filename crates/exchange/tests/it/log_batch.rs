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
