//! The simulator driving the whole gate (corrections, booking changes, agency checks, fees)
//! and the rules its invariants rest on, on SQLite and PostgreSQL: a cancelled booking frees
//! its seat, a reschedule keeps one booking per trip, fees are paid before the crossing, a held
//! check keeps the truck in the yard until it is released.

use crate::declarations::durian_export;
use crate::{count, sys};
use tinhso_border::checks::{self, DecisionInput, ReleaseInput};
use tinhso_border::declaration::{self, Trip};
use tinhso_border::fee_payment::{self, AssessInput};
use tinhso_border::gates::{self, CheckKind};
use tinhso_border::journey::{self, Source, Stage};
use tinhso_border::sim::{self, Options, Rates, Scenario};
use tinhso_border::slots::booking::{self, BookingInput};
use tinhso_border::slots::{capacity, floor_hour, Policy, HOUR};
use tinhso_services::payment::{shared_secret, sign, Callback};
use tinhso_store::{now_micros, Db};

/// Rates raised so that one short day shows every kind of event.
fn busy_rates() -> Rates {
    Rates {
        correction: 0.3,
        booking_cancel: 0.1,
        reschedule: 0.2,
        fee_online: 0.5,
        payment_failure: 0.1,
        guard_hold: 0.05,
        quarantine_hold: 0.1,
        quarantine_reject: 0.03,
        customs_hold: 0.15,
        customs_reject: 0.02,
        late_grace: 0.05,
        prepay: 0.3,
        prepaid_cancel: 0.3,
        standby_join: 0.2,
    }
}

/// One simulated day at Hữu Nghị and Tân Thanh with every stage: the report's figures are the
/// database's, the invariants hold, and every crossed trip paid before it crossed and had every
/// check its goods need passed before it.
#[tokio::test]
async fn a_simulated_day_runs_every_stage_and_keeps_the_invariants() {
    let t = crate::env().await;
    let db = &t.db;
    let opts = Options {
        days: 1,
        scale: 0.1,
        seed: 11,
        booking_share: 0.6,
        gates: vec!["HN".into(), "TT".into()],
        rates: busy_rates(),
        ..Options::new(Scenario::Normal)
    };
    let r = sim::run(db, &opts).await.unwrap();
    eprintln!("{r}");
    // Every stage happened.
    assert!(r.corrected > 0, "corrections");
    assert!(r.bookings_cancelled > 0 && r.trips_cancelled == r.bookings_cancelled);
    assert!(r.rescheduled > 0, "reschedules");
    assert!(r.fees_paid_online > 0 && r.fees_paid_at_gate > 0);
    assert!(r.payments_failed > 0, "declined payments");
    assert!(r.returned > 0, "refusals turn trucks back");
    for kind in ["border_guard", "plant_quarantine", "customs"] {
        let c = &r.checks[kind];
        assert!(c.passed > 0 && c.held > 0, "{kind}: {c:?}");
    }
    assert!(r.crossed > 30, "crossed {}", r.crossed);
    assert_eq!(r.calls_refused, 0);
    let inv = r.invariants.as_ref().expect("invariants checked");
    assert_eq!(inv.crossed_trips, r.crossed);
    assert!(inv.slots > 0 && inv.booked_trips > 0);
    // Late trucks took their one extension; some enterprises paid when booking.
    assert!(r.grace_extended > 0 && r.grace_second_refused == r.grace_extended);
    assert_eq!(inv.grace_trips, r.grace_extended);
    assert!(r.fees_prepaid > 0, "prepaid fees");
    assert_eq!(inv.prepaid_trips, r.fees_prepaid);
    // Trucks without a slot joined the standby queue and some got a free seat.
    assert!(r.standby_joined > 0 && r.standby_seated > 0, "standby");
    assert!(inv.standby_trips >= r.standby_joined);
    // The report is what the database holds.
    let n = |sql: &'static str| count(db, sql);
    assert_eq!(
        n("SELECT COUNT(*) FROM border_trip_versions").await as usize,
        r.declared + r.corrected
    );
    assert_eq!(
        n("SELECT COUNT(*) FROM border_trips WHERE stage = 'cancelled'").await as usize,
        r.trips_cancelled + r.no_shows_cancelled,
        "cancelled before their slot, or no-shows cancelled after the sweep"
    );
    assert_eq!(
        n("SELECT COUNT(*) FROM border_bookings WHERE status = 'cancelled'").await as usize,
        r.bookings_cancelled
    );
    assert_eq!(
        n("SELECT COUNT(*) FROM border_bookings WHERE status = 'rescheduled'").await as usize,
        r.rescheduled
    );
    assert_eq!(
        n("SELECT COUNT(*) FROM border_fee_assessments WHERE status IN ('paid', 'refunded')").await
            as usize,
        r.fees_paid_online + r.fees_paid_at_gate
    );
    // Prepaid trips cancelled after paying were refunded (hoàn phí), each once and in full,
    // settled by the fee officer; the books balance (checked by the run's invariants).
    assert!(r.prepaid_cancelled > 0, "cancellations after prepayment");
    assert!(r.refunds_opened >= r.prepaid_cancelled);
    assert_eq!(r.refunds_paid, r.refunds_opened);
    assert_eq!(inv.refunded_trips, r.refunds_opened);
    assert_eq!(
        n("SELECT COUNT(*) FROM border_fee_refunds WHERE status = 'paid'").await as usize,
        r.refunds_paid
    );
    assert_eq!(
        n("SELECT COUNT(*) FROM border_fee_assessments WHERE status = 'refunded'").await as usize,
        r.refunds_paid
    );
    assert_eq!(
        n("SELECT CAST(COALESCE(SUM(amount_vnd), 0) AS BIGINT) FROM border_fee_refunds").await,
        r.refunded_vnd
    );
    assert_eq!(
        n("SELECT COUNT(*) FROM audit_log WHERE action = 'border.fee.refund_pay'").await as usize,
        r.refunds_paid
    );
    // The queue job called waiting trucks forward, each once (checked by the invariants).
    assert!(r.queue_calls > 0, "queue calls");
    assert_eq!(inv.queue_calls, r.queue_calls);
    assert_eq!(
        n("SELECT COUNT(*) FROM border_queue_calls").await as usize,
        r.queue_calls
    );
    assert_eq!(
        n("SELECT COUNT(*) FROM audit_log WHERE action = 'border.queue_call'").await as usize,
        r.queue_calls
    );
    assert_eq!(
        n("SELECT COUNT(*) FROM border_fee_payments WHERE status = 'failed'").await as usize,
        r.payments_failed
    );
    assert_eq!(
        n("SELECT COUNT(*) FROM border_trips WHERE stage = 'returned'").await as usize,
        r.returned
    );
    assert_eq!(
        n("SELECT COUNT(*) FROM border_check_decisions WHERE decision IN ('hold', 'held')").await
            as usize,
        r.checks.values().map(|c| c.held).sum::<usize>()
    );
    // Independently of the simulator: no trip crossed before its fee was paid, or before
    // every check recorded on it passed.
    assert_eq!(
        n(
            "SELECT COUNT(*) FROM border_trip_stages s WHERE s.stage = 'crossed' AND NOT EXISTS \
           (SELECT 1 FROM border_fee_assessments a WHERE a.trip_id = s.trip_id \
            AND a.status = 'paid' AND a.paid_at <= s.at)"
        )
        .await,
        0,
        "a trip crossed without its fee paid before"
    );
    assert_eq!(
        n("SELECT COUNT(*) FROM border_trip_stages s JOIN border_checks c ON c.trip_id = s.trip_id \
           WHERE s.stage = 'crossed' AND (c.status <> 'passed' OR c.decided_at > s.at)")
        .await,
        0,
        "a trip crossed with a check not passed"
    );
    // Every crossed trip has its customs release and, for fruit, its plant quarantine.
    assert_eq!(
        n(
            "SELECT COUNT(*) FROM border_trip_stages s WHERE s.stage = 'crossed' AND NOT EXISTS \
           (SELECT 1 FROM border_customs_releases r WHERE r.trip_id = s.trip_id \
            AND r.decision = 'released')"
        )
        .await,
        0
    );
    // Holds were released before those trucks crossed: a held check that ended passed.
    assert!(
        n(
            "SELECT COUNT(*) FROM border_trip_stages s JOIN border_check_decisions d \
           ON d.trip_id = s.trip_id WHERE s.stage = 'crossed' AND d.decision = 'hold'"
        )
        .await
            > 0,
        "some held trucks crossed after their release"
    );
    // Bad rates are field errors.
    let bad = Options {
        rates: Rates {
            reschedule: 1.5,
            ..Rates::default()
        },
        ..Options::new(Scenario::Normal)
    };
    let e = bad.check().unwrap_err();
    assert_eq!(e.fields[0].field, "rates.reschedule");
}

async fn declare(db: &Db, plate: &str) -> Trip {
    declaration::declare(db, &sys(), "u-sim", &durian_export(plate))
        .await
        .unwrap()
}

fn book_input(trip: &Trip, hour: i64) -> BookingInput {
    BookingInput {
        trip_id: trip.id.clone(),
        gate_code: "HN".into(),
        direction: "export".into(),
        hour_start: hour,
    }
}

/// A cancelled booking frees its seat (the next truck gets it) and the counters stay equal to
/// the live bookings.
#[tokio::test]
async fn a_cancelled_booking_frees_its_seat() {
    let t = crate::env().await;
    let db = &t.db;
    let policy = Policy::default();
    let a = declare(db, "12C-201.01").await;
    let b = declare(db, "12C-201.02").await;
    let c = declare(db, "12C-201.03").await;
    let hour = floor_hour(a.expected_arrival);
    capacity::set_override(db, &sys(), "HN", "export", hour, Some(2), "Thử nghiệm")
        .await
        .unwrap();
    let now = now_micros();
    booking::book(db, &sys(), &policy, &book_input(&a, hour), now)
        .await
        .unwrap();
    booking::book(db, &sys(), &policy, &book_input(&b, hour), now)
        .await
        .unwrap();
    let full = booking::book(db, &sys(), &policy, &book_input(&c, hour), now)
        .await
        .unwrap_err();
    assert_eq!(full.status(), 409, "the hour is full");
    let cancelled = booking::cancel(db, &sys(), &a.id, now).await.unwrap();
    assert_eq!(cancelled.status, "cancelled");
    booking::book(db, &sys(), &policy, &book_input(&c, hour), now)
        .await
        .unwrap();
    let inv = sim::check_invariants(db, &[]).await.unwrap();
    assert_eq!((inv.slots, inv.slot_days, inv.booked_trips), (1, 1, 3));
    assert_eq!(
        count(db, "SELECT booked FROM border_slots").await,
        2,
        "two live bookings after the cancellation"
    );
    // A counter that disagrees with the bookings is caught.
    sqlx::query("UPDATE border_slots SET booked = booked + 1")
        .execute(db.pool())
        .await
        .unwrap();
    let e = sim::check_invariants(db, &[]).await.unwrap_err();
    assert!(format!("{e:?}").contains("live bookings 2"), "{e:?}");
}

/// Rescheduling twice leaves one active booking, the others `rescheduled` with their seats
/// freed.
#[tokio::test]
async fn a_reschedule_keeps_one_booking_per_trip() {
    let t = crate::env().await;
    let db = &t.db;
    let policy = Policy::default();
    let a = declare(db, "12C-202.01").await;
    let h9 = floor_hour(a.expected_arrival);
    let now = now_micros();
    booking::book(db, &sys(), &policy, &book_input(&a, h9), now)
        .await
        .unwrap();
    booking::reschedule(db, &sys(), &policy, &a.id, h9 + 2 * HOUR, now)
        .await
        .unwrap();
    let last = booking::reschedule(db, &sys(), &policy, &a.id, h9 + 4 * HOUR, now)
        .await
        .unwrap();
    let all = booking::bookings_of_trip(db, &a.id).await.unwrap();
    let mut statuses: Vec<&str> = all.iter().map(|b| b.status.as_str()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, ["active", "rescheduled", "rescheduled"]);
    assert_eq!(
        booking::active_booking(db, &a.id)
            .await
            .unwrap()
            .unwrap()
            .id,
        last.id
    );
    let inv = sim::check_invariants(db, &[]).await.unwrap();
    assert_eq!((inv.slots, inv.booked_trips), (3, 1));
    assert_eq!(
        count(db, "SELECT CAST(SUM(booked) AS BIGINT) FROM border_slots").await,
        1,
        "the old seats are freed"
    );
}

async fn pay(db: &Db, trip: &Trip, at: i64) -> i64 {
    fee_payment::assess_at(
        db,
        &sys(),
        &AssessInput {
            trip_code: trip.code.clone(),
            ..AssessInput::default()
        },
        at,
    )
    .await
    .unwrap();
    let p = fee_payment::request_payment_at(db, &sys(), &trip.code, at)
        .await
        .unwrap();
    let cb = Callback {
        payment_id: p.id.clone(),
        txn_id: format!("TXN-{}", trip.code),
        amount_vnd: p.amount_vnd,
        status: "paid".into(),
        paid_at: declaration::local(at).to_rfc3339(),
    };
    let body = serde_json::to_vec(&cb).unwrap();
    let secs = now_micros() / 1_000_000;
    fee_payment::callback(
        db,
        &sys(),
        &body,
        Some(&sign(&shared_secret(), &body)),
        Some(&secs.to_string()),
        secs,
    )
    .await
    .unwrap();
    p.amount_vnd
}

/// The barrier: a fruit truck in the Hữu Nghị yard with its fee paid, border guard passed and
/// customs released, but plant quarantine on hold, is not cleared; once quarantine passes, it
/// is. An unpaid fee keeps it too.
#[tokio::test]
async fn a_held_check_blocks_crossing_until_released() {
    let t = crate::env().await;
    let db = &t.db;
    let gates = gates::list(db).await.unwrap();
    let hn = gates.iter().find(|g| g.code == "HN").unwrap();
    let trip = declare(db, "12C-203.01").await;
    let unpaid = declare(db, "12C-203.02").await;
    let now = now_micros();
    for tr in [&trip, &unpaid] {
        let mut tx = db.begin_write().await.unwrap();
        journey::advance(&mut tx, &tr.id, Stage::Yard, now - 3 * HOUR, Source::Camera)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    assert!(pay(db, &trip, now - 2 * HOUR).await > 0);
    let officer = |kind: CheckKind| sim::officer_of(hn.agency_for(kind).unwrap());
    for tr in [&trip, &unpaid] {
        checks::decide(
            db,
            &sys(),
            &officer(CheckKind::BorderGuard),
            &tr.code,
            CheckKind::BorderGuard,
            &DecisionInput::new("pass", ""),
            now - 2 * HOUR,
        )
        .await
        .unwrap();
        let release = ReleaseInput {
            customs_declaration: tr.customs_declaration.clone(),
            trip_code: tr.code.clone(),
            decision: "released".into(),
            decided_at: declaration::local(now - 2 * HOUR).to_rfc3339(),
            officer_ref: "HQ-HN-0042".into(),
        };
        checks::receive_release(db, &sys(), &officer(CheckKind::Customs), &release, now)
            .await
            .unwrap();
    }
    let plant = officer(CheckKind::PlantQuarantine);
    let decide = |code: String, d: &'static str, reason: &'static str, at: i64| {
        let plant = plant.clone();
        async move {
            checks::decide(
                db,
                &sys(),
                &plant,
                &code,
                CheckKind::PlantQuarantine,
                &DecisionInput::new(d, reason),
                at,
            )
            .await
            .unwrap()
        }
    };
    let held = decide(
        trip.code.clone(),
        "hold",
        "Lấy mẫu gửi phòng thử nghiệm",
        now - HOUR,
    )
    .await;
    assert!(!held.all_clear);
    let cleared = sim::cleared_to_cross(db, &gates).await.unwrap();
    assert!(!cleared.contains(&trip.id), "a held check keeps the truck");
    let passed = decide(trip.code.clone(), "pass", "", now - HOUR / 2).await;
    assert!(passed.all_clear);
    let unpaid_passed = decide(unpaid.code.clone(), "pass", "", now - HOUR / 2).await;
    assert!(unpaid_passed.all_clear);
    let cleared = sim::cleared_to_cross(db, &gates).await.unwrap();
    assert!(cleared.contains(&trip.id), "released: the truck may cross");
    assert!(
        !cleared.contains(&unpaid.id),
        "checks passed, fee not paid: the truck stays"
    );
    // The invariant check agrees: crossing after the release is fine, before it is not.
    sim::check_invariants(db, &[(trip.id.clone(), now)])
        .await
        .unwrap();
    let e = sim::check_invariants(db, &[(trip.id.clone(), now - HOUR)])
        .await
        .unwrap_err();
    assert!(format!("{e:?}").contains("plant_quarantine passed after crossing"));
    let e = sim::check_invariants(db, &[(unpaid.id.clone(), now)])
        .await
        .unwrap_err();
    assert!(format!("{e:?}").contains("without a paid fee"));
}
