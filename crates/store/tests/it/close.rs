//! Closing a handle (đóng kết nối) leaves no connection open — also the connections being
//! handed back to the pool at that very moment (each is pinged on its way back: sqlx 0.8 then
//! puts it back in the idle queue of a pool that already closed, where it stays open while
//! any clone of the handle lives; on PostgreSQL that held `bench targets --keep-pg-copy` back:
//! "source database … is being accessed by other users").

use futures_util::future::join_all;
use tinhso_store::Db;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn close_leaves_no_connection_open_even_one_on_its_way_back() {
    let t = super::db().await;
    let url = t.db.url().to_string();
    for round in 0..60 {
        let db = Db::connect(&url, &Default::default()).await.unwrap();
        // Eight connections in use at once, all dropped just before the close: their return to
        // the pool (with its ping) races the close.
        let queries = (0..8).map(|_| sqlx::query("SELECT 1").execute(db.pool()));
        for r in join_all(queries).await {
            r.unwrap();
        }
        let kept = db.clone();
        db.close().await;
        // Connections still open (idle or in use) after the close.
        assert_eq!(
            kept.pool_stats().0,
            0,
            "round {round}: a connection left open"
        );
    }
}
