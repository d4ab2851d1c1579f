//! The daily roll-ups' change marks: one check per page view, and PostgreSQL's vacuum settings
//! for the marks (migration 1003).

use tinhso_store::rollup::{pending, View};
use tinhso_store::Backend;

async fn mark(db: &tinhso_store::Db, rollup: &str, scope: &str, day: i64) {
    sqlx::query(
        "INSERT INTO rollup_marks (rollup, scope, day, gen, done) VALUES ($1, $2, $3, 1, 0) \
         ON CONFLICT (rollup, scope, day) DO UPDATE SET gen = rollup_marks.gen + 1",
    )
    .bind(rollup)
    .bind(scope)
    .bind(day)
    .execute(db.pool())
    .await
    .unwrap();
}

#[tokio::test]
async fn a_view_reads_each_rollups_marks_once() {
    let t = crate::db().await;
    let db = &t.db;
    mark(db, "services", "A", 20_000).await;
    mark(db, "services", "B", 19_999).await;
    mark(db, "border", "HN", 20_000).await;

    // Outside a view every refresh reads the marks, by day then scope.
    let days: Vec<(String, i64)> = pending(db, "services")
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.scope, m.day))
        .collect();
    assert_eq!(days, [("B".to_string(), 19_999), ("A".to_string(), 20_000)]);
    assert_eq!(pending(db, "services").await.unwrap().len(), 2);

    let view = View::new();
    let first = view.run(pending(db, "services")).await.unwrap();
    assert_eq!(first.len(), 2);
    // A change after the view's first check waits for the next view: the page is as fresh as
    // its start, and pays one check per roll-up.
    mark(db, "services", "C", 20_001).await;
    assert!(view.run(pending(db, "services")).await.unwrap().is_empty());
    // Another roll-up has its own first check in the same view.
    assert_eq!(view.run(pending(db, "border")).await.unwrap().len(), 1);
    assert_eq!(view.checked(), ["border", "services"]);
    // A new view, or no view, sees the change.
    assert_eq!(
        View::new()
            .run(pending(db, "services"))
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(pending(db, "services").await.unwrap().len(), 3);
}

#[tokio::test]
async fn postgres_vacuums_the_marks_every_thousand_changes() {
    let t = crate::db().await;
    if t.db.backend() != Backend::Postgres {
        return;
    }
    // The Any driver reads no arrays: the options as one text.
    let options: Option<String> = sqlx::query_scalar(
        "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = 'rollup_marks'",
    )
    .fetch_one(t.db.pool())
    .await
    .unwrap();
    let options: Vec<String> = options
        .unwrap_or_default()
        .split(',')
        .map(str::to_string)
        .collect();
    for o in [
        "autovacuum_vacuum_scale_factor=0",
        "autovacuum_vacuum_threshold=1000",
    ] {
        assert!(options.iter().any(|x| x == o), "{o} not in {options:?}");
    }
}
