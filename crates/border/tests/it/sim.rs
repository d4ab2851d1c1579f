//! The traffic simulator and the congestion forecast, on SQLite and PostgreSQL.

use crate::{count, env};
use sqlx::Row;
use std::collections::HashMap;
use tinhso_border::forecast;
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
        r.declared + r.corrected,
        "one version per declaration and one per correction"
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
    // Late trucks took their one extension (a second ask refused), checked at the end.
    assert!(r.grace_extended > 0, "no late truck took its extension");
    assert_eq!(r.grace_second_refused, r.grace_extended);
    assert_eq!(r.invariants.as_ref().unwrap().grace_trips, r.grace_extended);
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM border_bookings WHERE grace_used = 1"
        )
        .await as usize,
        r.grace_extended
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'border.slot_grace'"
        )
        .await as usize,
        r.grace_extended
    );
    // Some enterprises paid at booking time; checked at the end too.
    assert!(r.fees_prepaid > 0, "nobody prepaid");
    assert_eq!(r.invariants.as_ref().unwrap().prepaid_trips, r.fees_prepaid);
    // No-shows' slots went to the standby queue (those trips then cancelled by their
    // enterprise), trucks without a slot joined it, and standby trucks took free seats.
    assert!(
        r.no_shows_swept > 0 && r.no_shows_cancelled > 0,
        "no-shows to standby"
    );
    assert!(
        r.standby_joined > 0 && r.standby_seated > 0,
        "standby seats"
    );
    assert!(r.invariants.as_ref().unwrap().standby_trips >= r.standby_joined);
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM border_bookings WHERE source = 'from_standby'"
        )
        .await as usize,
        r.standby_seated
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM border_bookings WHERE status = 'no_show'"
        )
        .await as usize,
        r.no_shows_swept
    );
}

/// The crisis at Cốc Nam (the smallest yard, 80 trucks): exports cut to 15 % from day 2, the
/// queue passes the yard capacity, the forecast raises an alert, and announcing twice emits the
/// alert and the advisory once.
#[tokio::test]
async fn crisis_overflows_the_yard_and_alerts_once() {
    let t = env().await;
    let db = &t.db;
    let opts = Options {
        gates: vec!["CN".into()],
        ..small(Scenario::Crisis, 4, 1.5)
    };
    let r = sim::run(db, &opts).await.unwrap();
    eprintln!("{r}");
    let cn = &r.gates[0];
    assert_eq!(cn.gate, "CN");
    assert!(r.capacity_overrides > 0);
    assert!(
        cn.peak_queue as i64 > cn.yard_capacity,
        "peak {} vs yard {}",
        cn.peak_queue,
        cn.yard_capacity
    );
    assert_eq!(r.events_wrong_trip, 0);
    let at = sim::end_of(&opts) - 6 * 3_600_000_000;
    let p = forecast::Params::default();
    let f = forecast::forecast(db, Some("CN"), at, &p).await.unwrap();
    assert_eq!(f.len(), 1);
    assert!(!f[0].alerts.is_empty(), "queue {:?}", f[0].total_queue);
    let a = &f[0].alerts[0];
    assert!(a.peak_queue > 80.0);
    assert!(a.advice_vi.contains("bãi chờ") && a.advice_en.contains("staging"));
    let before = count(
        db,
        "SELECT COUNT(*) FROM outbox WHERE topic = 'border.congestion_alert'",
    )
    .await;
    let sent = forecast::announce(db, &crate::sys(), at, &p).await.unwrap();
    assert_eq!(sent.len(), 1);
    let again = forecast::announce(db, &crate::sys(), at + 3_600_000_000, &p)
        .await
        .unwrap();
    assert!(again.is_empty(), "the same window is not announced twice");
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'border.congestion_alert'"
        )
        .await,
        before + 1
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'border.advisory'"
        )
        .await,
        1
    );
    // A gate that does not exist is a field error.
    let e = forecast::forecast(db, Some("XX"), at, &p)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 422);
    pages_read_the_kept_forecast(db, at + 3_600_000_000, &p).await;
}

/// What the pages read ([`forecast::current`]) after the job kept the gates' forecasts at
/// `kept` ([`forecast::announce`] did): the kept forecast while it is fresh and in its hour,
/// a forecast computed now otherwise — which replaces the kept one only when it is newer.
async fn pages_read_the_kept_forecast(db: &tinhso_store::Db, kept: i64, p: &forecast::Params) {
    const MIN: i64 = 60_000_000;
    let as_of = |f: &[forecast::GateForecast]| f.iter().map(|g| g.as_of).collect::<Vec<_>>();
    let stored = || async { count(db, "SELECT COUNT(*) FROM border_forecast_snapshots").await };
    let truth = forecast::forecast(db, None, kept, p).await.unwrap();
    assert!(!truth.is_empty());
    assert_eq!(
        stored().await as usize,
        truth.len(),
        "one snapshot per road gate"
    );
    // Fresh: the kept forecast, whole (as_of tells it was not computed again).
    let read = forecast::current(db, kept + 2 * MIN, p).await.unwrap();
    assert_eq!(read, truth);
    // Other settings: computed with them, not the kept one.
    let other = forecast::Params {
        horizon_hours: 24,
        ..p.clone()
    };
    let read = forecast::current(db, kept + 2 * MIN, &other).await.unwrap();
    assert!(read
        .iter()
        .all(|g| g.as_of == kept + 2 * MIN && g.total_queue.len() == 24));
    // Stale: computed now and kept.
    let later = kept + 11 * MIN;
    let read = forecast::current(db, later, p).await.unwrap();
    assert_eq!(as_of(&read), vec![later; truth.len()]);
    assert_eq!(read, forecast::forecast(db, None, later, p).await.unwrap());
    assert_eq!(
        count(
            db,
            &format!("SELECT COUNT(*) FROM border_forecast_snapshots WHERE as_of = {later}")
        )
        .await as usize,
        truth.len()
    );
    // Before the kept one (a page on a past date): computed for that time, the newer kept.
    let read = forecast::current(db, kept - 30 * MIN, p).await.unwrap();
    assert_eq!(as_of(&read), vec![kept - 30 * MIN; truth.len()]);
    assert_eq!(
        count(
            db,
            &format!("SELECT COUNT(*) FROM border_forecast_snapshots WHERE as_of = {later}")
        )
        .await as usize,
        truth.len()
    );
    // Five minutes old but from the previous hour: the hours it starts from are gone.
    let next_hour = kept + 60 * MIN;
    forecast::refresh(db, next_hour - 3 * MIN, p).await.unwrap();
    let read = forecast::current(db, next_hour + 2 * MIN, p).await.unwrap();
    assert_eq!(as_of(&read), vec![next_hour + 2 * MIN; truth.len()]);
    // Five minutes old in the same hour: kept.
    let read = forecast::current(db, next_hour + 7 * MIN, p).await.unwrap();
    assert_eq!(as_of(&read), vec![next_hour + 2 * MIN; truth.len()]);
}

/// Forecast accuracy on held-out simulated data: three weeks of Hữu Nghị history, then the
/// 72 hours after are forecast and compared with what the simulation produced, against the
/// seasonal naive baseline (same hour last week). The model must beat the baseline on both
/// arrivals and queue (mean absolute error).
#[tokio::test]
async fn forecast_beats_seasonal_naive() {
    let t = env().await;
    let db = &t.db;
    let opts = Options {
        gates: vec!["HN".into()],
        booking_share: 0.1,
        ..small(Scenario::Normal, 24, 0.25)
    };
    let r = sim::run(db, &opts).await.unwrap();
    eprintln!("{r}");
    let at = sim::end_of(&opts) - 3 * 86_400_000_000;
    let acc = forecast::evaluate(db, at, &forecast::Params::default())
        .await
        .unwrap();
    let hn = acc.iter().find(|a| a.gate == "HN").unwrap();
    eprintln!("{hn:?}");
    for (k, (a, q)) in hn.arrivals.iter().zip(&hn.queue).enumerate() {
        eprintln!(
            "{k:>3} arrivals {:6.1} {:6.1} {:6.1}  queue {:6.1} {:6.1} {:6.1}",
            a.0, a.1, a.2, q.0, q.1, q.2
        );
    }
    assert!(hn.mean_arrivals > 2.0);
    assert!(
        hn.arrivals_mae < 0.85 * hn.baseline_arrivals_mae,
        "arrivals MAE {} vs baseline {}",
        hn.arrivals_mae,
        hn.baseline_arrivals_mae
    );
    assert!(
        hn.queue_mae < hn.baseline_queue_mae,
        "queue MAE {} vs baseline {}",
        hn.queue_mae,
        hn.baseline_queue_mae
    );
}
