use tinhso_store::files::{FileStore, MediaType};
use tinhso_store::{backup, migrate, Backend};

#[tokio::test]
async fn migrations_are_idempotent() {
    let t = super::db().await;
    let again = migrate::run(&t.db, &[migrate::STORE_MIGRATIONS])
        .await
        .unwrap();
    assert!(again.is_empty());
    let versions: Vec<i64> = migrate::STORE_MIGRATIONS
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(migrate::applied(&t.db).await.unwrap(), versions);
}

#[tokio::test]
async fn files_are_content_addressed_and_sniffed() {
    let t = super::db().await;
    let store = FileStore::local(t.dir.path().join("files"), 1024);
    let pdf = b"%PDF-1.4\n1 0 obj\n".to_vec();
    let a = store
        .put(&t.db, "tep", &pdf, &[MediaType::Pdf])
        .await
        .unwrap();
    let b = store
        .put(&t.db, "tep", &pdf, &[MediaType::Pdf])
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(a.media_type, "application/pdf");
    assert_eq!(store.get(&a.sha256).await.unwrap(), pdf);
    // an executable renamed .pdf is refused by its bytes
    let err = store
        .put(&t.db, "tep", b"MZ\x90\x00rest", &[MediaType::Pdf])
        .await
        .unwrap_err();
    assert_eq!(err.status(), 422);
    assert_eq!(err.fields[0].code, "file_type");
    let err = store
        .put(&t.db, "tep", &vec![b'%'; 2048], &[MediaType::Pdf])
        .await
        .unwrap_err();
    assert_eq!(err.fields[0].code, "file_too_large");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM files")
        .fetch_one(t.db.pool())
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        store.get("../../etc/passwd").await.unwrap_err().status(),
        404
    );
}

#[tokio::test]
async fn sqlite_backup_while_writing_then_restore() {
    let t = super::db().await;
    if t.db.backend() != Backend::Sqlite {
        return; // PostgreSQL backups are pg_dump's job (docs/operations.md)
    }
    for i in 0..50 {
        tinhso_store::audit::append(
            &t.db,
            &tinhso_store::audit::NewAuditEntry {
                actor: "test".into(),
                action: "x.y".into(),
                target_id: i.to_string(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let writer_db = t.db.clone();
    let writer = tokio::spawn(async move {
        for i in 0..200 {
            tinhso_store::audit::append(
                &writer_db,
                &tinhso_store::audit::NewAuditEntry {
                    actor: "bg".into(),
                    action: "x.y".into(),
                    target_id: i.to_string(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        }
    });
    let snap = t.dir.path().join("snap.db");
    backup::backup_to(&t.db, &snap).await.unwrap();
    writer.await.unwrap();
    assert!(backup::check_snapshot(&snap).await.unwrap().is_empty());
    // The snapshot is a consistent cut: its own chain verifies.
    let snap_db =
        tinhso_store::Db::connect(&format!("sqlite://{}", snap.display()), &Default::default())
            .await
            .unwrap();
    let r = tinhso_store::audit::verify(&snap_db).await.unwrap();
    assert_eq!(r.first_broken, None);
    assert!(r.entries_checked >= 50);
    let in_snapshot = r.entries_checked;
    snap_db.close().await;
    // Restore over a copy of the live file.
    let live = t.dir.path().join("restored.db");
    std::fs::write(&live, b"junk").unwrap();
    backup::restore_sqlite(&snap, &live).await.unwrap();
    let restored =
        tinhso_store::Db::connect(&format!("sqlite://{}", live.display()), &Default::default())
            .await
            .unwrap();
    assert_eq!(
        tinhso_store::audit::verify(&restored)
            .await
            .unwrap()
            .entries_checked,
        in_snapshot
    );
    assert!(
        backup::backup_to(&t.db, &snap).await.is_err(),
        "never overwrite a backup"
    );
}
