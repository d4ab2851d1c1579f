//! The VFS that keeps a connection's memory map when another connection commits (SQLite,
//! `keep_map.rs`): the map is kept, and a reader still sees every commit, pages past its map
//! and a file that shrank.

use rusqlite::Connection;
use tinhso_store::keep_map;

const MAP: &str = "PRAGMA mmap_size = 268435456";

fn open(path: &std::path::Path) -> Connection {
    let c = Connection::open(path).unwrap();
    c.execute_batch(MAP).unwrap();
    c
}

/// Rows `from..=to`, each 1,000 characters of one letter that depends on `n`.
fn insert(c: &Connection, from: i64, to: i64) {
    c.execute(
        "WITH RECURSIVE k(n) AS (SELECT ?1 UNION ALL SELECT n + 1 FROM k WHERE n < ?2) \
         INSERT INTO t (n, filler) SELECT n, printf('%.*c', 1000, char(65 + n % 26)) FROM k",
        (from, to),
    )
    .unwrap();
}

/// What `read` must return for rows `1..=last`.
fn expected(last: i64) -> (i64, i64, i64) {
    let letters: i64 = (1..=last).map(|n| 65 + n % 26).sum();
    (last, last * (last + 1) / 2, letters)
}

/// Count, sum of keys, and a character of every row's page content.
fn read(c: &Connection) -> (i64, i64, i64) {
    c.query_row(
        "SELECT count(*), coalesce(sum(n), 0), \
                coalesce(sum(unicode(substr(filler, 1 + n % 1000, 1))), 0) FROM t",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap()
}

fn checkpoint(c: &Connection) {
    let busy: i64 = c
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
        .unwrap();
    assert_eq!(busy, 0, "the checkpoint could not finish");
}

/// A WAL file with rows 1..=1000 checkpointed into it, its writer, and a reader that has read
/// them all (so it holds a map of the file).
fn writer_and_reader(path: &std::path::Path) -> (Connection, Connection) {
    let writer = open(path);
    writer
        .execute_batch(
            "PRAGMA journal_mode = WAL; \
             CREATE TABLE t (n INTEGER PRIMARY KEY, filler TEXT NOT NULL)",
        )
        .unwrap();
    insert(&writer, 1, 1000);
    checkpoint(&writer);
    let reader = open(path);
    assert_eq!(read(&reader), expected(1000));
    (writer, reader)
}

fn off() -> bool {
    matches!(
        std::env::var("TINHSO_SQLITE_KEEP_MAP").ok().as_deref(),
        Some("0" | "false" | "off")
    )
}

#[test]
fn a_reader_keeps_its_map_across_commits_and_sees_each_of_them() {
    assert!(keep_map::register() || off());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keep.db");
    let (writer, reader) = writer_and_reader(&path);
    let (kept_before, _) = keep_map::counts();
    for last in 1001..=1050 {
        insert(&writer, last, last);
        assert_eq!(read(&reader), expected(last));
    }
    let (kept_after, _) = keep_map::counts();
    if !off() {
        // Each of the reader's 50 reads began after another connection's commit, with the
        // file's size unchanged (the new pages are in the WAL): each kept the map.
        assert!(
            kept_after - kept_before >= 50,
            "kept {} of 50 maps",
            kept_after - kept_before
        );
    }
}

#[test]
fn a_reader_reads_past_its_map_then_remaps_when_the_file_grows_or_shrinks() {
    assert!(keep_map::register() || off());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grow.db");
    let size = || std::fs::metadata(&path).unwrap().len();
    let (writer, reader) = writer_and_reader(&path);
    let mapped = size();

    // About 2 MB more, checkpointed into the file: less than the growth that remaps, so the
    // new pages are read past the end of the reader's map.
    insert(&writer, 1001, 3000);
    checkpoint(&writer);
    assert!(size() > mapped + 1_000_000 && size() < mapped + 4_000_000);
    let (kept, _) = keep_map::counts();
    assert_eq!(read(&reader), expected(3000));
    if !off() {
        assert!(keep_map::counts().0 > kept, "the map was not kept");
    }

    // The ~670 pages past the map are read with `pread` at each read after a commit: once
    // more than `PAST_MAP_BUDGET` of them have been, the next changed read maps the file again.
    let (_, dropped) = keep_map::counts();
    let pages_past_map = (size() - mapped) / 4096;
    let reads = keep_map::PAST_MAP_BUDGET / pages_past_map + 2;
    for last in 3001..3001 + reads as i64 {
        insert(&writer, last, last);
        assert_eq!(read(&reader), expected(last));
    }
    if !off() {
        assert!(keep_map::counts().1 > dropped, "the map was not dropped");
    }
    let last = 3000 + reads as i64;

    // About 10 MB more: past the growth allowed, the reader maps the file again.
    let (_, dropped) = keep_map::counts();
    insert(&writer, last + 1, 13_000);
    checkpoint(&writer);
    assert_eq!(read(&reader), expected(13_000));
    if !off() {
        assert!(keep_map::counts().1 > dropped, "the map was not dropped");
    }

    // The file shrinks: most rows deleted, the file vacuumed and checkpointed.
    let big = size();
    writer.execute("DELETE FROM t WHERE n > 100", []).unwrap();
    writer.execute_batch("VACUUM").unwrap();
    checkpoint(&writer);
    assert!(
        size() < big / 10,
        "the file did not shrink: {} bytes",
        size()
    );
    let (_, dropped) = keep_map::counts();
    assert_eq!(read(&reader), expected(100));
    if !off() {
        assert!(keep_map::counts().1 > dropped, "the map was not dropped");
    }

    // And it grows again, within the allowance of the small map.
    insert(&writer, 101, 600);
    checkpoint(&writer);
    assert_eq!(read(&reader), expected(600));
}
