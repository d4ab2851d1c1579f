//! N small inserts in one write transaction, through sqlx ([`Db::begin_write`]) and natively
//! ([`Db::begin_native`]), alternately, on a fresh SQLite file (or the PostgreSQL database of
//! `TINHSO_BENCH_URL`, where both go through sqlx): microseconds per statement.
//!
//! `cargo run -p tinhso-store --example native_writes -- [N] [ROUNDS]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;
use tinhso_store::db::DbOptions;
use tinhso_store::native::Param;
use tinhso_store::{Db, Exec};

/// The calling code both transactions share: `n` single-row inserts.
async fn insert_n<E: Exec>(tx: &mut E, round: usize, n: usize) {
    for i in 0..n {
        let k = format!("r{round}-{i}");
        tx.execute(
            "INSERT INTO bench_probe (k, n, note) VALUES ($1, $2, $3)",
            &[
                Param::Text(&k),
                Param::Int(i as i64),
                Param::Text("ghi chú"),
            ],
        )
        .await
        .unwrap();
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(10_000, |a| a.parse().unwrap());
    let rounds: usize = args.next().map_or(5, |a| a.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("TINHSO_BENCH_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/bench.db", dir.path().display()));
    let db = Db::connect(&url, &DbOptions::default()).await.unwrap();
    let mut tx = db.begin_write().await.unwrap();
    tx.execute("DROP TABLE IF EXISTS bench_probe", &[])
        .await
        .unwrap();
    tx.execute(
        "CREATE TABLE bench_probe (k TEXT PRIMARY KEY, n BIGINT NOT NULL, note TEXT)",
        &[],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    println!("{} inserts a transaction, {rounds} rounds each, {url}", n);
    let (mut sqlx_us, mut native_us) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let t = Instant::now();
        let mut tx = db.begin_write().await.unwrap();
        insert_n(&mut tx, 2 * round, n).await;
        tx.commit().await.unwrap();
        sqlx_us.push(t.elapsed().as_secs_f64() * 1e6 / n as f64);
        let t = Instant::now();
        let mut tx = db.begin_native().await.unwrap();
        assert!(tx.is_native() || !url.starts_with("sqlite:"));
        insert_n(&mut tx, 2 * round + 1, n).await;
        tx.commit().await.unwrap();
        native_us.push(t.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("sqlx   µs/insert: {}", fmt(&sqlx_us));
    println!("native µs/insert: {}", fmt(&native_us));
    println!(
        "median: sqlx {:.2} µs, native {:.2} µs",
        median(&mut sqlx_us),
        median(&mut native_us)
    );
    db.close().await;
}
