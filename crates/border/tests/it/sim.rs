//! The traffic simulator and the congestion forecast, on SQLite and PostgreSQL.

use crate::{count, env};
use sqlx::Row;
use std::collections::HashMap;
use tinhso_border::sim::{self, Options, Scenario};

fn small(scenario: Scenario, days: u32, scale: f64) -> Options {
    Options {
        days,
        scale,
        seed: 42,
        ..Options::new(scenario)
    }
}

/// Two days at a tenth of the volume: counts agree with the database, every crossed trip went
/// through its stages in order, no event is attached to another trip than its own (the event
/// ID carries the true trip code), duplicates are counted and stored once.
#[tokio::test]
async fn short_run_is_consistent() {
    let t = env().await;
    let db = &t.db;
    let r = sim::run(db, &small(Scenario::Normal, 2, 0.1))
        .await
        .unwrap();
    eprintln!("{r}");
    assert_eq!(r.declare_refused, 0);
    assert!(r.declared > 150, "declared {}", r.declared);
    assert!(r.crossed > 50, "crossed {}", r.crossed);
    assert_eq!(r.events_wrong_trip, 0);
    assert_eq!(r.undeclared_attached, 0);
    assert!(r.events_duplicate > 0, "the sim re-sends some events");
    assert!(
        r.events_review > 0,
        "misreads and undeclared trucks go to review"
    );
    assert_eq!(
        r.events_sent,
        r.events_attached + r.events_review + r.events_duplicate + r.events_unknown
    );
    // Counts in the database.
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM border_trips").await as usize,
        r.declared
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM border_trip_versions").await as usize,
        r.declared
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM border_events").await as usize,
        r.events_sent - r.events_duplicate,
        "a duplicate is not stored twice"
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM border_review_queue").await as usize,
        r.events_review
    );
    // Every trip the sim saw cross is crossed in the database (its crossing read may have
    // gone to review, but the QR at the crossing or a later read moves it): at least 95 %.
    let crossed = count(
        db,
        "SELECT COUNT(*) FROM border_trips WHERE stage = 'crossed'",
    )
    .await as usize;
    assert!(
        crossed <= r.crossed && crossed * 100 >= r.crossed * 95,
        "db {crossed} sim {}",
        r.crossed
    );
    // Stages in order.
    let rows = sqlx::query(
        "SELECT s.trip_id, s.stage, s.at FROM border_trip_stages s \
         JOIN border_trips t ON t.id = s.trip_id WHERE t.stage = 'crossed'",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    let order = ["declared", "staging", "yard", "checked", "paid", "crossed"];
    let mut per: HashMap<String, Vec<(usize, i64)>> = HashMap::new();
    for r in &rows {
        let stage: String = r.get(1);
        let pos = order.iter().position(|s| *s == stage).unwrap();
        per.entry(r.get(0)).or_default().push((pos, r.get(2)));
    }
    assert_eq!(per.len(), crossed);
    for (trip, mut v) in per {
        v.sort();
        assert_eq!(v[0].0, 0, "{trip} declared first");
        assert_eq!(v.last().unwrap().0, 5, "{trip} ends crossed");
        assert!(v.iter().any(|s| s.0 == 3), "{trip} was checked");
        for w in v.windows(2) {
            assert!(w[0].1 <= w[1].1, "{trip}: stage times out of order {v:?}");
        }
    }
    // No event on a wrong trip: the event ID is `sim-<seed>-<true trip code>-<n>`.
    let wrong = count(
        db,
        "SELECT COUNT(*) FROM border_events e JOIN border_trips t ON t.id = e.trip_id \
         WHERE e.event_id NOT LIKE 'sim-42-' || t.code || '-%'",
    )
    .await;
    assert_eq!(wrong, 0, "events attached to another trip");
    let attached = count(
        db,
        "SELECT COUNT(*) FROM border_events WHERE trip_id IS NOT NULL",
    )
    .await;
    assert_eq!(attached as usize, r.events_attached);
}
