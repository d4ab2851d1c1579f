//! WAL checkpoints off the writer (SQLite): the writer keeps SQLite's own checkpoint only as a
//! backstop, and a thread of its own copies the committed pages into the database file.

use tinhso_store::test_support::TestDb;
use tinhso_store::Backend;

/// A fresh SQLite database with an empty table `name (n BIGINT, filler BLOB)`, committed; `None`
/// on PostgreSQL (no checkpoints there).
async fn sqlite_with_table(name: &str) -> Option<TestDb> {
    let t = super::db().await;
    if t.db.backend() != Backend::Sqlite {
        return None;
    }
    let mut tx = t.db.begin_write().await.unwrap();
    sqlx::query(&format!("CREATE TABLE {name} (n BIGINT, filler BLOB)"))
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    Some(t)
}

/// The native writer (and its one-writer permit) or the checkpoint thread turned off.
fn native_writes_or_thread_off() -> bool {
    let off =
        |name: &str| std::env::var(name).is_ok_and(|v| matches!(v.trim(), "0" | "false" | "off"));
    off("TINHSO_NATIVE_WRITES") || off("TINHSO_SQLITE_BACKGROUND_CHECKPOINT")
}

/// [`sqlite_with_table`] for the tests of the checkpoint thread: none when native writes or
/// the thread are turned off (the writer's backstop is then all there is).
async fn with_checkpoint_thread(name: &str) -> Option<TestDb> {
    if native_writes_or_thread_off() {
        return None;
    }
    sqlite_with_table(name).await
}

/// The most pages the log of `t` ever held: SQLite does not shorten the log file when it
/// starts it again, so its length (in frames of a page and a 24-byte header) is that most.
fn log_pages_at_most(t: &TestDb) -> u64 {
    let wal = t.dir.path().join("tinhso.db-wal");
    std::fs::metadata(wal).unwrap().len() / (4096 + 24)
}

/// `rows` rows of 4,000 random bytes (a page each) into `table`, in `tx`.
async fn insert_pages(tx: &mut tinhso_store::WriteTx, table: &str, rows: u32) {
    sqlx::query(&format!(
        "WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < {rows}) \
         INSERT INTO {table} SELECT n, randomblob(4000) FROM k"
    ))
    .execute(tx.conn())
    .await
    .unwrap();
}

/// 600 commits of 40 pages each into `table`, a millisecond apart; the pages written.
async fn commit_a_stream(db: &tinhso_store::Db, table: &str) -> u32 {
    let mut pages_written = 0;
    for _ in 0..600 {
        let mut tx = db.begin_write().await.unwrap();
        insert_pages(&mut tx, table, 40).await;
        tx.commit().await.unwrap();
        pages_written += 40;
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    pages_written
}

#[tokio::test]
async fn committed_pages_reach_the_database_file_without_the_writer_checkpointing() {
    let Some(t) = sqlite_with_table("bulk").await else {
        return;
    };
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
    insert_pages(&mut tx, "bulk", 2000).await;
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

/// Under a steady stream of commits (a millisecond apart, much less than a checkpoint's copy
/// and `fsync`s take) the log is still started again from
/// its beginning, so it stays far under the writer's backstop of 10,000 pages: the checkpoint
/// thread copies it all and holds the one-writer permit for the last few pages
/// (`checkpoint.rs`, "Starting the log again"). Without that, every passive checkpoint is one
/// commit behind, SQLite never starts the log again, and it grows to the backstop (40 MiB),
/// where the writer checkpoints in its own thread.
#[tokio::test]
async fn a_stream_of_commits_starts_the_log_again_before_the_backstop() {
    let Some(t) = with_checkpoint_thread("stream").await else {
        return;
    };
    let db = &t.db;
    // About 24,000 pages (96 MiB) in 600 commits of 40 rows of 4,000 bytes (a page each), a
    // millisecond apart: two and a half times the backstop. (Back to back, a writer that only
    // stores random bytes outruns the copy into the file on some machines; real writes do more
    // work per page.)
    let pages_written = commit_a_stream(db, "stream").await;
    let most = log_pages_at_most(&t);
    assert!(
        most < 9_000,
        "the log reached {most} pages while {pages_written} were written: it was not started again before the writer's backstop"
    );
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stream")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(rows, 24_000);
    db.close().await;
}

/// The same stream of commits while readers read the log all the time: a reader that began
/// before the thread's last checkpoint still reads pages from the log, and SQLite cannot start
/// the log again while one does. The thread's last checkpoint (SQLite's `RESTART`) waits for
/// those readers and starts the log again itself; before, that was left to the writer's next
/// commit, which such readers kept from doing it, so the log grew to the writer's backstop.
#[tokio::test]
async fn readers_reading_all_the_time_do_not_keep_the_log_from_starting_again() {
    let Some(t) = with_checkpoint_thread("read_stream").await else {
        return;
    };
    let db = t.db.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..3 {
        let (db, stop) = (db.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut reads = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // A read transaction of a couple of milliseconds (a report's query, say).
                let mut conn = db.pool().acquire().await.unwrap();
                sqlx::query("BEGIN").execute(&mut *conn).await.unwrap();
                let _: Option<i64> =
                    sqlx::query_scalar("SELECT n FROM read_stream ORDER BY rowid DESC LIMIT 1")
                        .fetch_optional(&mut *conn)
                        .await
                        .unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                sqlx::query("COMMIT").execute(&mut *conn).await.unwrap();
                reads += 1;
            }
            reads
        }));
    }
    commit_a_stream(&db, "read_stream").await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut reads = 0;
    for r in readers {
        reads += r.await.unwrap();
    }
    assert!(reads > 600, "the readers read only {reads} times");
    let most = log_pages_at_most(&t);
    // Measured: 5,400–9,200 pages; 13,196 when the writer's next commit was left to start
    // the log again (a passive last checkpoint).
    assert!(
        most < 10_000,
        "the log reached {most} pages (the writer's backstop is 10,000) while {reads} reads ran beside 24,000 pages written: readers kept it from starting again"
    );
    db.close().await;
}

/// Closing the database from a task that still holds a native write transaction ends, even
/// when the checkpoint thread is waiting for that transaction's one-writer permit to start a
/// long log again (the close stops the thread and waits for it). (A transaction of the sqlx
/// writer holds a connection of its pool, whose close waits for it in any case.)
#[tokio::test]
async fn closing_while_holding_a_write_transaction_does_not_wait_for_the_checkpoint_thread() {
    let Some(t) = with_checkpoint_thread("held").await else {
        return;
    };
    let db = &t.db;
    // A log past the size at which the thread has it started again (4,096 pages), in one
    // commit, then a write transaction held: the thread copies the log, then waits for the
    // permit this transaction holds.
    let mut tx = db.begin_write().await.unwrap();
    insert_pages(&mut tx, "held", 4_500).await;
    tx.commit().await.unwrap();
    let held = db.begin_native().await.unwrap();
    assert!(held.is_native());
    // The thread's rounds are at most 200 ms apart; the copy of 4,500 pages takes well under
    // a second here.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let closed = tokio::time::timeout(std::time::Duration::from_secs(30), db.close()).await;
    drop(held);
    assert!(
        closed.is_ok(),
        "the close waited 30 s for the checkpoint thread, which waited for this task's write transaction"
    );
}
