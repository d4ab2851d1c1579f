use tinhso_store::audit::{self, AuditFilter, NewAuditEntry};

fn entry(i: usize) -> NewAuditEntry {
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
