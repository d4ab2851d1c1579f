//! WAL checkpoints off the writer (SQLite): the writer keeps SQLite's own checkpoint only as a
//! backstop, and a thread of its own copies the committed pages into the database file.

use tinhso_store::Backend;

#[tokio::test]
async fn committed_pages_reach_the_database_file_without_the_writer_checkpointing() {
    let t = super::db().await;
    if t.db.backend() != Backend::Sqlite {
        return;
    }
    let db = &t.db;
    let file = t.dir.path().join("tinhso.db");
    let mut tx = db.begin_write().await.unwrap();
    // The writer checkpoints only past 10,000 pages (SQLite's default is 1,000).
    let pages: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(pages, 10_000);
    // About 2,000 pages (8 MiB) in one commit: under the writer's backstop.
    sqlx::query("CREATE TABLE bulk (n BIGINT, filler BLOB)")
        .execute(tx.conn())
        .await
        .unwrap();
    sqlx::query(
        "WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < 2000) \
         INSERT INTO bulk SELECT n, randomblob(4000) FROM k",
    )
    .execute(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // Within a few of the thread's rounds the pages are in the database file itself.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let len = std::fs::metadata(&file).unwrap().len();
        if len > 8_000_000 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the database file is still {len} bytes: no checkpoint"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    db.close().await;
}
