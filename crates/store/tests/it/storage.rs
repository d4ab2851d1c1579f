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

/// Copy a directory tree as a backup would (`rsync -a files/ backup/files/`).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn blobs_of_the_two_level_layout_are_still_read_listed_and_backed_up() {
    use sha2::{Digest, Sha256};
    let t = super::db().await;
    let root = t.dir.path().join("files");
    let store = FileStore::local(&root, 1024);
    // A blob stored by an earlier release under `ab/cd/<sha>`.
    let old = b"%PDF-1.4\nstored under the old layout\n".to_vec();
    let old_sha = hex::encode(Sha256::digest(&old));
    let old_path = root
        .join(&old_sha[0..2])
        .join(&old_sha[2..4])
        .join(&old_sha);
    std::fs::create_dir_all(old_path.parent().unwrap()).unwrap();
    std::fs::write(&old_path, &old).unwrap();
    assert_eq!(store.get(&old_sha).await.unwrap(), old);
    // Storing the same bytes again finds them there and writes no second copy.
    let again = store
        .put(&t.db, "tep", &old, &[MediaType::Pdf])
        .await
        .unwrap();
    assert_eq!(again.sha256, old_sha);
    assert!(!root.join(&old_sha[0..2]).join(&old_sha).exists());
    // A new blob goes to `ab/<sha>`, beside the old one's directory.
    let new = b"%PDF-1.4\nstored under the new layout\n".to_vec();
    let new_ref = store
        .put(&t.db, "tep", &new, &[MediaType::Pdf])
        .await
        .unwrap();
    let new_path = root.join(&new_ref.sha256[0..2]).join(&new_ref.sha256);
    assert_eq!(std::fs::read(&new_path).unwrap(), new);
    assert_eq!(store.get(&new_ref.sha256).await.unwrap(), new);
    // Listed once each, whatever the layout; no temporary file is left behind.
    let mut both = vec![old_sha.clone(), new_ref.sha256.clone()];
    both.sort();
    assert_eq!(store.list().await.unwrap(), both);
    let leftovers: Vec<_> = std::fs::read_dir(new_path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A copy of the directory (the documented backup) serves both blobs.
    let copy_root = t.dir.path().join("backup-files");
    copy_tree(&root, &copy_root);
    let restored = FileStore::local(&copy_root, 1024);
    assert_eq!(restored.list().await.unwrap(), both);
    assert_eq!(restored.get(&old_sha).await.unwrap(), old);
    assert_eq!(restored.get(&new_ref.sha256).await.unwrap(), new);
    // An empty or missing store lists nothing.
    let empty = FileStore::local(t.dir.path().join("none"), 1024);
    assert!(empty.list().await.unwrap().is_empty());
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
