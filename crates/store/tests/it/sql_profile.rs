//! The SQL profile (`TINHSO_SQL_PROFILE`): every statement of every SQLite connection opened
//! after it starts — sqlx's pools and the native readers — is counted per bucket and written
//! as TSV. SQLite only; the test opens a SQLite file whatever the test backend.

use tinhso_store::db::DbOptions;
use tinhso_store::native::Param;
use tinhso_store::{sql_profile, Db};

/// The profile file's lines as (bucket, calls, total ns, VM steps per call, statement).
fn lines(text: &str) -> Vec<(String, u64, u64, u64, String)> {
    let mut rows = text.lines();
    assert_eq!(
        rows.next(),
        Some(
            "bucket\tcalls\ttotal_ns\tmax_ns\tmean_ns\tvm_steps_per_call\tfullscan_steps\tsorts\tautoindex_rows\tcache_misses\tpages_written\tstatement"
        )
    );
    rows.map(|l| {
        let f: Vec<&str> = l.split('\t').collect();
        assert_eq!(f.len(), 12, "{l}");
        (
            f[0].to_string(),
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
            f[5].parse().unwrap(),
            f[11].to_string(),
        )
    })
    .collect()
}

#[tokio::test]
async fn the_profile_writes_every_statement_run_per_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("profile.tsv");
    sql_profile::start(&file).unwrap();
    assert!(sql_profile::is_on());
    // Buckets are process-wide: one of this test's own, whatever ran before.
    sql_profile::mark("probe one");
    let url = format!("sqlite://{}/profiled.db", dir.path().display());
    let db = Db::connect(&url, &DbOptions::default()).await.unwrap();
    sqlx::query("CREATE TABLE sql_profile_probe (id BIGINT PRIMARY KEY, v TEXT NOT NULL)")
        .execute(db.pool())
        .await
        .unwrap();
    // Inserts of one row and of two rows: the same statement once normalised.
    sqlx::query("INSERT INTO sql_profile_probe (id, v) VALUES ($1, $2)")
        .bind(1_i64)
        .bind("a")
        .execute(db.pool())
        .await
        .unwrap();
    sqlx::query("INSERT INTO sql_profile_probe (id, v) VALUES ($1, $2), ($3, $4)")
        .bind(2_i64)
        .bind("b")
        .bind(3_i64)
        .bind("c")
        .execute(db.pool())
        .await
        .unwrap();
    // Native reads (rusqlite, a connection of their own).
    let read = |id: i64| {
        let db = db.clone();
        async move {
            db.read_rows(
                "SELECT v FROM sql_profile_probe WHERE id = $1",
                &[Param::Int(id)],
                |r| r.text(0),
            )
            .await
            .unwrap()
        }
    };
    for id in 1..=3 {
        assert_eq!(read(id).await.len(), 1);
    }
    sql_profile::mark("probe two");
    assert_eq!(read(2).await, vec!["b".to_string()]);
    db.close().await;
    sql_profile::dump().unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let rows = lines(&text);
    let find = |bucket: &str, sql: &str| {
        rows.iter()
            .find(|r| r.0 == bucket && r.4 == sql)
            .unwrap_or_else(|| panic!("no line for {sql:?} in {bucket:?}:\n{text}"))
    };
    let insert = find(
        "probe one",
        "INSERT INTO sql_profile_probe (id, v) VALUES (?…)",
    );
    assert_eq!(insert.1, 2);
    assert!(insert.2 > 0 && insert.3 > 0, "{insert:?}");
    let select = "SELECT v FROM sql_profile_probe WHERE id = ?";
    assert_eq!(find("probe one", select).1, 3);
    assert_eq!(find("probe two", select).1, 1);
    find(
        "probe one",
        "CREATE TABLE sql_profile_probe (id BIGINT PRIMARY KEY, v TEXT NOT NULL)",
    );
    // Only the one call of "probe two" (another test may run statements of its own there).
    assert!(!rows
        .iter()
        .any(|r| r.0 == "probe two" && r.4.starts_with("INSERT INTO sql_profile_probe")));
    // No file is left half-written beside the profile.
    assert!(!dir.path().join("profile.tsv.part").exists());
}
