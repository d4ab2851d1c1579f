//! The simulation's end checks (`sim::check_*`, set-based SQL) on a real simulated day, on
//! SQLite and PostgreSQL: they accept what the simulator wrote, and each names the violation
//! when the database is broken on purpose (a check not passed, a fee paid after the crossing,
//! a counter off by one, a refund too many, a call before the truck arrived, …). Each
//! tampering is undone before the next.

use crate::count;
use tinhso_border::sim::{self, Options, Rates, Scenario};
use tinhso_border::slots::{Policy, HOUR};
use tinhso_store::Db;

async fn exec(db: &Db, sql: &str) {
    sqlx::query(sql).execute(db.pool()).await.unwrap();
}

async fn text(db: &Db, sql: &str) -> String {
    sqlx::query_scalar(sql).fetch_one(db.pool()).await.unwrap()
}

async fn pairs(db: &Db, sql: &str) -> Vec<(String, i64)> {
    sqlx::query_as(sql).fetch_all(db.pool()).await.unwrap()
}

/// `check` fails and its message contains `needle`.
fn fails_with<T: std::fmt::Debug>(r: Result<T, tinhso_kernel::AppError>, needle: &str) {
    let e = r.expect_err(needle);
    assert!(format!("{e:?}").contains(needle), "{needle}: {e:?}");
}

/// The inputs the simulator keeps in memory, read back from the database: crossed trips
/// (first crossing stage), prepaid trips (fee assessed before the truck arrived), graced
/// bookings (deadline before the extension), swept no-shows, trucks that joined standby.
struct Inputs {
    crossed: Vec<(String, i64)>,
    prepaid: Vec<String>,
    graced: Vec<(String, i64)>,
    swept: Vec<String>,
    joined: Vec<(String, i64)>,
    seated: usize,
}

async fn inputs(db: &Db, extension: i64) -> Inputs {
    let crossed = pairs(
        db,
        "SELECT trip_id, MIN(at) FROM border_trip_stages WHERE stage = 'crossed' \
         GROUP BY trip_id ORDER BY trip_id",
    )
    .await;
    let prepaid = pairs(
        db,
        "SELECT a.trip_id, a.assessed_at FROM border_fee_assessments a \
         WHERE a.topup_of IS NULL AND a.status IN ('paid', 'refunded') \
         AND NOT EXISTS (SELECT 1 FROM border_trip_stages s WHERE s.trip_id = a.trip_id \
           AND s.stage IN ('staging', 'yard') AND s.at <= a.assessed_at) \
         AND EXISTS (SELECT 1 FROM border_bookings b WHERE b.trip_id = a.trip_id) \
         ORDER BY a.trip_id",
    )
    .await
    .into_iter()
    .map(|(id, _)| id)
    .collect();
    let graced = pairs(
        db,
        "SELECT trip_id, arrive_by FROM border_bookings WHERE grace_used = 1 ORDER BY trip_id",
    )
    .await
    .into_iter()
    .map(|(id, by)| (id, by - extension))
    .collect();
    let swept = pairs(
        db,
        "SELECT DISTINCT trip_id, CAST(0 AS BIGINT) FROM border_bookings WHERE status = 'no_show' ORDER BY trip_id",
    )
    .await
    .into_iter()
    .map(|(id, _)| id)
    .collect();
    let joined = pairs(
        db,
        "SELECT trip_id, since FROM border_standby WHERE reason = 'joined' ORDER BY trip_id",
    )
    .await;
    let seated = count(
        db,
        "SELECT COUNT(*) FROM border_bookings WHERE source = 'from_standby'",
    )
    .await as usize;
    Inputs {
        crossed,
        prepaid,
        graced,
        swept,
        joined,
        seated,
    }
}

#[tokio::test]
async fn end_checks_accept_the_run_and_name_each_broken_invariant() {
    let t = crate::env().await;
    let db = &t.db;
    let opts = Options {
        days: 1,
        scale: 0.1,
        seed: 7,
        booking_share: 0.6,
        gates: vec!["HN".into(), "TT".into()],
        rates: Rates {
            late_grace: 0.05,
            prepay: 0.4,
            prepaid_cancel: 0.3,
            standby_join: 0.3,
            ..Rates::default()
        },
        ..Options::new(Scenario::Normal)
    };
    let r = sim::run(db, &opts).await.unwrap();
    let ext = Policy::default().extension_minutes * 60_000_000;
    let i = inputs(db, ext).await;
    assert!(i.crossed.len() > 50, "crossed {}", i.crossed.len());
    assert!(
        !i.prepaid.is_empty() && !i.graced.is_empty(),
        "prepaid, graced"
    );
    assert!(!i.swept.is_empty() && !i.joined.is_empty(), "swept, joined");
    assert!(r.queue_calls > 0 && r.refunds_paid > 0, "calls, refunds");

    // As written by the simulator, every check holds, with the report's figures.
    let inv = sim::check_invariants(db, &i.crossed).await.unwrap();
    assert_eq!(inv.crossed_trips, i.crossed.len());
    assert_eq!(inv.db_crossed_uncleared, 0);
    assert_eq!(
        inv.slots as i64,
        count(db, "SELECT COUNT(*) FROM border_slots").await
    );
    assert_eq!(
        inv.booked_trips as i64,
        count(db, "SELECT COUNT(DISTINCT trip_id) FROM border_bookings").await
    );
    let refunded = sim::check_refunds(db).await.unwrap();
    assert!(refunded > 0);
    let (calls, _) = sim::check_queue_calls(db).await.unwrap();
    assert_eq!(calls, r.queue_calls);
    assert_eq!(
        sim::check_grace(db, &i.graced, ext).await.unwrap(),
        i.graced.len()
    );
    assert_eq!(
        sim::check_prepaid(db, &i.prepaid).await.unwrap(),
        i.prepaid.len()
    );
    sim::check_standby(db, &i.swept, &i.joined, i.seated)
        .await
        .unwrap();

    // --- crossed only when cleared -----------------------------------------------------
    let (trip, at) = i.crossed[0].clone();
    let code = text(
        db,
        &format!("SELECT code FROM border_trips WHERE id = '{trip}'"),
    )
    .await;
    // A check no longer passed: "crossed without customs".
    exec(db, &format!("UPDATE border_checks SET status = 'held' WHERE trip_id = '{trip}' AND kind = 'customs'")).await;
    fails_with(
        sim::check_invariants(db, &i.crossed).await,
        &format!("{code}: crossed without customs"),
    );
    exec(db, &format!("UPDATE border_checks SET status = 'passed' WHERE trip_id = '{trip}' AND kind = 'customs'")).await;
    // Passed after the crossing.
    exec(db, &format!("UPDATE border_checks SET decided_at = decided_at + {} WHERE trip_id = '{trip}' AND kind = 'customs'", 100 * HOUR)).await;
    fails_with(
        sim::check_invariants(db, &i.crossed).await,
        &format!("{code}: customs passed after crossing"),
    );
    exec(db, &format!("UPDATE border_checks SET decided_at = decided_at - {} WHERE trip_id = '{trip}' AND kind = 'customs'", 100 * HOUR)).await;
    // The fee: paid after the crossing (a crossing time before the payment), then none.
    let paid_at = count(
        db,
        &format!("SELECT paid_at FROM border_fee_assessments WHERE trip_id = '{trip}' AND status = 'paid' AND topup_of IS NULL"),
    )
    .await;
    fails_with(
        sim::check_invariants(db, &[(trip.clone(), paid_at - 1)]).await,
        &format!("{code}: fee paid after crossing"),
    );
    exec(db, &format!("UPDATE border_fee_assessments SET status = 'due' WHERE trip_id = '{trip}' AND status = 'paid' AND topup_of IS NULL")).await;
    fails_with(
        sim::check_invariants(db, &i.crossed).await,
        &format!("{code}: crossed without a paid fee"),
    );
    // The same trip crossed in the database only: counted as uncleared, not failed.
    let inv = sim::check_invariants(db, &i.crossed[1..]).await.unwrap();
    assert_eq!(inv.db_crossed_uncleared, 1);
    exec(db, &format!("UPDATE border_fee_assessments SET status = 'paid' WHERE trip_id = '{trip}' AND status = 'due' AND topup_of IS NULL")).await;
    // A trip that does not exist.
    fails_with(
        sim::check_invariants(db, &[("no-such-trip".into(), at)]).await,
        "trip no-such-trip missing",
    );
    sim::check_invariants(db, &i.crossed).await.unwrap();

    // --- slots ---------------------------------------------------------------------------
    let (slot_gate, slot_hour) = pairs(
        db,
        "SELECT gate_code, hour_start FROM border_slots WHERE booked > 0 ORDER BY gate_code, hour_start",
    )
    .await[0]
        .clone();
    let slot = format!("gate_code = '{slot_gate}' AND hour_start = {slot_hour} AND direction = (SELECT MIN(direction) FROM border_slots WHERE gate_code = '{slot_gate}' AND hour_start = {slot_hour} AND booked > 0)");
    exec(
        db,
        &format!("UPDATE border_slots SET booked = booked + 1 WHERE {slot}"),
    )
    .await;
    fails_with(sim::check_invariants(db, &i.crossed).await, "live bookings");
    exec(
        db,
        &format!("UPDATE border_slots SET booked = booked - 1 WHERE {slot}"),
    )
    .await;
    exec(
        db,
        "UPDATE border_slot_days SET booked = booked + 1 WHERE booked > 0",
    )
    .await;
    fails_with(sim::check_invariants(db, &i.crossed).await, "slot day ");
    exec(
        db,
        "UPDATE border_slot_days SET booked = booked - 1 WHERE booked > 0",
    )
    .await;
    // The board closes a booked hour afterwards: its bookings are over capacity 0.
    exec(db, &format!("INSERT INTO border_slot_overrides (gate_code, direction, hour_start, capacity, reason, set_by, set_at) SELECT gate_code, direction, hour_start, 0, 'test', 'test', 0 FROM border_slots WHERE {slot}")).await;
    fails_with(
        sim::check_invariants(db, &i.crossed).await,
        "over capacity 0",
    );
    exec(
        db,
        "DELETE FROM border_slot_overrides WHERE reason = 'test'",
    )
    .await;
    sim::check_invariants(db, &i.crossed).await.unwrap();

    // --- refunds -------------------------------------------------------------------------
    let refund = text(db, "SELECT MIN(id) FROM border_fee_refunds").await;
    exec(
        db,
        &format!(
            "UPDATE border_fee_refunds SET amount_vnd = amount_vnd + 1000 WHERE id = '{refund}'"
        ),
    )
    .await;
    fails_with(
        sim::check_refunds(db).await,
        "over without crossing, 1 refunds",
    );
    exec(
        db,
        &format!(
            "UPDATE border_fee_refunds SET amount_vnd = amount_vnd - 1000 WHERE id = '{refund}'"
        ),
    )
    .await;
    // A crossed trip refunded.
    exec(db, &format!("INSERT INTO border_fee_refunds (id, payment_id, assessment_id, trip_id, trip_code, gate_code, amount_vnd, collector_vnd, budget_vnd, reason, note, refund_to, status, requested_by, requested_at) SELECT 'test-refund', p.id, p.assessment_id, a.trip_id, a.trip_code, a.gate_code, p.amount_vnd, p.collector_vnd, p.budget_vnd, 'other', 'test', 'test', 'paid', 'test', 0 FROM border_fee_payments p JOIN border_fee_assessments a ON a.id = p.assessment_id WHERE a.trip_id = '{trip}' AND p.status = 'paid' AND a.topup_of IS NULL")).await;
    fails_with(
        sim::check_refunds(db).await,
        &format!("trip {trip}: crossed, yet refunded"),
    );
    exec(
        db,
        "DELETE FROM border_fee_refunds WHERE id = 'test-refund'",
    )
    .await;
    assert_eq!(sim::check_refunds(db).await.unwrap(), refunded);

    // --- queue calls ---------------------------------------------------------------------
    let called = text(db, "SELECT MIN(trip_id) FROM border_queue_calls").await;
    exec(
        db,
        &format!(
            "UPDATE border_queue_calls SET called_at = called_at - {} WHERE trip_id = '{called}'",
            1000 * HOUR
        ),
    )
    .await;
    fails_with(
        sim::check_queue_calls(db).await,
        &format!("trip {called}: called before it arrived"),
    );
    exec(
        db,
        &format!(
            "UPDATE border_queue_calls SET called_at = called_at + {} WHERE trip_id = '{called}'",
            1000 * HOUR
        ),
    )
    .await;
    sim::check_queue_calls(db).await.unwrap();

    // --- grace, prepaid, standby ---------------------------------------------------------
    let (graced, _) = i.graced[0].clone();
    exec(db, &format!("UPDATE border_bookings SET arrive_by = arrive_by + 1 WHERE trip_id = '{graced}' AND grace_used = 1")).await;
    fails_with(
        sim::check_grace(db, &i.graced, ext).await,
        &format!("trip {graced}: extended deadlines"),
    );
    exec(db, &format!("UPDATE border_bookings SET arrive_by = arrive_by - 1 WHERE trip_id = '{graced}' AND grace_used = 1")).await;
    fails_with(
        sim::check_grace(db, &i.graced[1..], ext).await,
        &format!("trip {graced}: an extension the simulation did not ask for"),
    );
    fails_with(
        sim::check_grace(db, &[(trip.clone(), at)], ext).await,
        &format!("trip {trip}: no booking with its extension"),
    );
    let prepaid = i.prepaid[0].clone();
    exec(db, &format!("UPDATE border_fee_payments SET created_at = created_at + {} WHERE assessment_id = (SELECT id FROM border_fee_assessments WHERE trip_id = '{prepaid}' AND topup_of IS NULL AND status <> 'superseded')", 1000 * HOUR)).await;
    fails_with(
        sim::check_prepaid(db, &i.prepaid).await,
        &format!("trip {prepaid}: a payment was asked for after it was paid"),
    );
    exec(db, &format!("UPDATE border_fee_payments SET created_at = created_at - {} WHERE assessment_id = (SELECT id FROM border_fee_assessments WHERE trip_id = '{prepaid}' AND topup_of IS NULL AND status <> 'superseded')", 1000 * HOUR)).await;
    fails_with(
        sim::check_prepaid(db, &["no-such-trip".into()]).await,
        "prepaid, but no paid fee",
    );
    sim::check_prepaid(db, &i.prepaid).await.unwrap();
    fails_with(
        sim::check_standby(db, &i.swept, &i.joined, i.seated + 1).await,
        &format!("bookings from standby, {} seated", i.seated + 1),
    );
    let swept = i.swept[0].clone();
    exec(db, &format!("UPDATE border_bookings SET status = 'released' WHERE trip_id = '{swept}' AND status = 'no_show'")).await;
    fails_with(
        sim::check_standby(db, &i.swept, &i.joined, i.seated).await,
        &format!("trip {swept}: swept, but no booking marked no-show"),
    );
    fails_with(
        sim::check_standby(db, std::slice::from_ref(&trip), &[], i.seated).await,
        &format!("trip {trip}: swept, but not on standby as a no-show"),
    );
    fails_with(
        sim::check_standby(db, &[], &[(trip.clone(), at)], i.seated).await,
        &format!("trip {trip}: joined standby, no entry"),
    );
}
