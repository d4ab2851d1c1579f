//! Crossing slots, the queue and the wait-time feed on a real database (SQLite, or PostgreSQL
//! with TINHSO_TEST_PG_URL). Trips are inserted by a local fixture.

use std::sync::atomic::{AtomicU64, Ordering};
use tinhso_border::gates::Direction;
use tinhso_border::slots::booking::{self, BookingInput};
use tinhso_border::slots::capacity;
use tinhso_border::slots::queue::{self, Queues};
use tinhso_border::slots::{hour_start_of, local_day, Policy, HOUR};
use tinhso_border::waittimes;
use tinhso_store::Db;

const MIN: i64 = 60_000_000;

/// Local time on 1 December 2026 (+ `day` days).
fn at(day: u64, h: u32, m: i64) -> i64 {
    let d = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap() + chrono::Days::new(day);
    hour_start_of(d, h).unwrap() + m * MIN
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Insert a declared trip (enterprise, driver and vehicle too); returns its id.
async fn trip(db: &Db, gate: &str, dir: &str, perishable: bool) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let id = format!("trip-{n}");
    let plate = format!("12C-{:03}.{:02}", n / 100, n % 100);
    let now = at(0, 0, 0);
    sqlx::query(
        "INSERT INTO border_enterprises (mst, name, name_folded, phone, created_by, created_at) \
         VALUES ('0101234567', 'Công ty TNHH Nông sản Lạng Sơn', 'cong ty tnhh nong san lang son', \
         '0912345678', 'test', $1) ON CONFLICT (mst) DO NOTHING",
    )
    .bind(now)
    .execute(db.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO border_drivers (id, id_kind, id_number, full_name, phone, nationality, created_at) \
         VALUES ($1, 'cccd', $2, 'Nguyễn Văn Đức', '0987654321', 'VN', $3)",
    )
    .bind(format!("drv-{n}"))
    .bind(format!("020{n:09}"))
    .bind(now)
    .execute(db.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO border_vehicles (plate, country, vehicle_kind, plate_colour, owner_mst, payload_kg, created_at) \
         VALUES ($1, 'vn', 'truck', 'yellow', '0101234567', 15000, $2)",
    )
    .bind(&plate)
    .bind(now)
    .execute(db.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO border_trips (id, code, version, enterprise_mst, gate_code, direction, \
         vehicle_plate, trailer_plate, driver_id, expected_arrival, customs_declaration, \
         total_weight_kg, perishable, quarantine, stage, stage_at, created_by, created_at, updated_at) \
         VALUES ($1, $2, 1, '0101234567', $3, $4, $5, NULL, $6, $7, '305123456789', 12000, $8, \
         'plant', 'declared', $7, 'test', $7, $7)",
    )
    .bind(&id)
    .bind(format!("TK-{gate}-261201-{n:05}"))
    .bind(gate)
    .bind(dir)
    .bind(&plate)
    .bind(format!("drv-{n}"))
    .bind(now)
    .bind(i64::from(perishable))
    .execute(db.pool())
    .await
    .unwrap();
    id
}

/// The trip reaches `stage` at `when` (as the journey module records it).
async fn stage(db: &Db, id: &str, stage: &str, when: i64) {
    sqlx::query("UPDATE border_trips SET stage = $2, stage_at = $3 WHERE id = $1")
        .bind(id)
        .bind(stage)
        .bind(when)
        .execute(db.pool())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO border_trip_stages (trip_id, stage, at, source) VALUES ($1, $2, $3, 'camera')",
    )
    .bind(id)
    .bind(stage)
    .bind(when)
    .execute(db.pool())
    .await
    .unwrap();
}

fn input(trip: &str, gate: &str, dir: &str, hour: i64) -> BookingInput {
    BookingInput {
        trip_id: trip.into(),
        gate_code: gate.into(),
        direction: dir.into(),
        hour_start: hour,
    }
}

async fn book(
    db: &Db,
    trip: &str,
    gate: &str,
    dir: &str,
    hour: i64,
    now: i64,
) -> Result<booking::Booking, tinhso_kernel::AppError> {
    booking::book(
        db,
        &crate::sys(),
        &Policy::default(),
        &input(trip, gate, dir, hour),
        now,
    )
    .await
}

async fn set_cap(db: &Db, gate: &str, dir: &str, hour: i64, cap: i64) {
    capacity::set_override(db, &crate::sys(), gate, dir, hour, Some(cap), "Kiểm thử")
        .await
        .unwrap();
}

async fn per_day(db: &Db, gate: &str, dir: &str, n: i64) {
    crate::gates::change(
        db,
        &format!(
            "UPDATE border_gate_capacity SET per_day = {n} \
             WHERE gate_code = '{gate}' AND direction = '{dir}'"
        ),
    )
    .await;
}

#[tokio::test]
async fn capacity_per_hour_and_per_day() {
    let t = crate::env().await;
    let db = &t.db;
    let now = at(0, 6, 0);
    // Cốc Nam imports: 4 an hour, 07:30–18:00; the day capped at 5 for the test.
    per_day(db, "CN", "import", 5).await;
    let plan = capacity::day_plan(db, &Policy::default(), "CN", "import", local_day(now), now)
        .await
        .unwrap();
    assert_eq!(plan.hours.len(), 11);
    assert_eq!(plan.hours[0].local, "2026-12-01 07:00");
    assert_eq!(plan.hours[0].capacity, 2, "07:00 hour is open 30 minutes");
    assert_eq!(plan.hours[1].capacity, 4);
    assert_eq!(plan.day_capacity, 5);
    let mut trips = Vec::new();
    for _ in 0..7 {
        trips.push(trip(db, "CN", "import", false).await);
    }
    for tr in &trips[..4] {
        book(db, tr, "CN", "import", at(0, 8, 0), now)
            .await
            .unwrap();
    }
    let full = book(db, &trips[4], "CN", "import", at(0, 8, 0), now)
        .await
        .unwrap_err();
    assert_eq!(full.status(), 409);
    assert!(
        full.detail_vi.as_deref().unwrap().contains("hết chỗ"),
        "{full}"
    );
    assert!(
        full.detail_en.as_deref().unwrap().contains("full"),
        "{full}"
    );
    book(db, &trips[4], "CN", "import", at(0, 9, 0), now)
        .await
        .unwrap();
    let day_full = book(db, &trips[5], "CN", "import", at(0, 10, 0), now)
        .await
        .unwrap_err();
    assert_eq!(day_full.status(), 409);
    assert!(
        day_full
            .detail_en
            .as_deref()
            .unwrap()
            .contains("choose another day"),
        "{day_full}"
    );
    // The next day has seats.
    book(db, &trips[5], "CN", "import", at(1, 10, 0), now)
        .await
        .unwrap();
    let plan = capacity::day_plan(db, &Policy::default(), "CN", "import", local_day(now), now)
        .await
        .unwrap();
    assert_eq!(plan.day_booked, 5);
    assert_eq!(plan.hours[1].booked, 4);
    assert_eq!(plan.hours[1].available, 0);
    assert!(
        plan.hours.iter().all(|h| h.available == 0),
        "the day is full"
    );
    assert_eq!(
        crate::count(
            db,
            "SELECT COUNT(*) FROM border_bookings WHERE status = 'active'"
        )
        .await,
        6
    );
}

#[tokio::test]
async fn a_seat_refused_in_a_new_hour_leaves_no_counter_rows() {
    let t = crate::env().await;
    let db = &t.db;
    let now = at(0, 6, 0);
    // Every seat held for perishables: an ordinary truck is refused in an hour nobody booked.
    let policy = Policy {
        perishable_reserve_percent: 100,
        ..Policy::default()
    };
    let plain = trip(db, "CN", "import", false).await;
    let fresh = trip(db, "CN", "import", true).await;
    let inputs = vec![
        input(&plain, "CN", "import", at(1, 9, 0)),
        input(&fresh, "CN", "import", at(1, 10, 0)),
    ];
    let out = booking::book_many(db, &crate::sys(), &policy, &inputs, now)
        .await
        .unwrap();
    let statuses: Vec<u16> = out
        .iter()
        .map(|r| r.as_ref().map(|_| 200).unwrap_or_else(|e| e.status()))
        .collect();
    assert_eq!(statuses, [409, 200]);
    let hours = "SELECT COUNT(*) FROM border_slots WHERE gate_code = 'CN'";
    assert_eq!(
        crate::count(db, hours).await,
        1,
        "only the booked hour's row"
    );
    let days = "SELECT COUNT(*) FROM border_slot_days WHERE gate_code = 'CN' AND booked = 1";
    assert_eq!(crate::count(db, days).await, 1);
    let all_days = "SELECT COUNT(*) FROM border_slot_days WHERE gate_code = 'CN'";
    assert_eq!(crate::count(db, all_days).await, 1);
}

#[tokio::test]
async fn a_batch_books_each_in_its_place_and_a_refused_one_leaves_no_trace() {
    let t = crate::env().await;
    let db = &t.db;
    let now = at(0, 6, 0);
    // Cốc Nam imports: 4 an hour; the day capped at 6 for the test.
    per_day(db, "CN", "import", 6).await;
    let mut trips = Vec::new();
    for _ in 0..8 {
        trips.push(trip(db, "CN", "import", false).await);
    }
    let inputs = vec![
        input(&trips[0], "CN", "import", at(0, 9, 0)),
        input(&trips[1], "CN", "import", at(0, 9, 0)),
        input(&trips[6], "CN", "import", at(0, 10, 0)),
        input(&trips[2], "CN", "import", at(0, 9, 0)),
        input(&trips[3], "CN", "import", at(0, 9, 0)),
        // The fifth of the 09:00 hour: the day counter moves to 6, then the hour is full;
        // the savepoint must give the day its seat back.
        input(&trips[4], "CN", "import", at(0, 9, 0)),
        input(&trips[5], "CN", "import", at(0, 8, 0)),
        // The day is full by then (8:00, 4 × 9:00, 10:00).
        input(&trips[7], "CN", "import", at(0, 11, 0)),
        // Booked twice in the batch.
        input(&trips[0], "CN", "import", at(0, 12, 0)),
        input(&trips[7], "XX", "import", at(0, 11, 0)),
        input(&trips[7], "CN", "sideways", at(0, 11, 0)),
    ];
    let out = booking::book_many(db, &crate::sys(), &Policy::default(), &inputs, now)
        .await
        .unwrap();
    let statuses: Vec<u16> = out
        .iter()
        .map(|r| r.as_ref().map(|_| 200).unwrap_or_else(|e| e.status()))
        .collect();
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 409, 200, 409, 409, 422, 422]
    );
    for (r, i) in out.iter().zip(&inputs) {
        if let Ok(b) = r {
            assert_eq!(
                (b.trip_id.as_str(), b.hour_start),
                (i.trip_id.as_str(), i.hour_start)
            );
        }
    }
    let full = out[5].as_ref().unwrap_err();
    assert!(
        full.detail_en.as_deref().unwrap().contains("full"),
        "{full}"
    );
    let day_full = out[7].as_ref().unwrap_err();
    assert!(
        day_full
            .detail_en
            .as_deref()
            .unwrap()
            .contains("choose another day"),
        "{day_full}"
    );
    let plan = capacity::day_plan(db, &Policy::default(), "CN", "import", local_day(now), now)
        .await
        .unwrap();
    assert_eq!(
        plan.day_booked, 6,
        "the refused fifth 09:00 booking gave its day seat back"
    );
    let nine = plan
        .hours
        .iter()
        .find(|h| h.local == "2026-12-01 09:00")
        .unwrap();
    assert_eq!(nine.booked, 4);
    let active = "SELECT COUNT(*) FROM border_bookings WHERE status = 'active'";
    assert_eq!(crate::count(db, active).await, 6);
    let audited = "SELECT COUNT(*) FROM audit_log WHERE action = 'border.slot_book'";
    assert_eq!(crate::count(db, audited).await, 6);
    let announced = "SELECT COUNT(*) FROM outbox WHERE topic = 'border.slot_booked'";
    assert_eq!(crate::count(db, announced).await, 6);
    // The audit chain still verifies after the rolled-back savepoints.
    let chain = tinhso_store::audit::verify(db).await.unwrap();
    assert_eq!(chain.first_broken, None);
    // A single booking after the batch sees the same counters.
    let again = book(db, &trips[4], "CN", "import", at(0, 9, 0), now)
        .await
        .unwrap_err();
    assert_eq!(again.status(), 409);
}

#[tokio::test]
async fn bad_input_and_closed_hours_are_refused_without_writing() {
    let t = crate::env().await;
    let db = &t.db;
    let now = at(0, 6, 0);
    let tr = trip(db, "CN", "import", false).await;
    let field = |e: tinhso_kernel::AppError| {
        assert_eq!(e.status(), 422, "{e}");
        (
            e.fields[0].field.clone(),
            e.fields[0].code,
            e.fields[0].message_vi.clone(),
        )
    };
    let (f, c, vi) = field(
        book(db, &tr, "CN", "import", at(0, 20, 0), now)
            .await
            .unwrap_err(),
    );
    assert_eq!((f.as_str(), c), ("hour_start", "slot_closed"));
    assert!(
        vi.contains("ngoài giờ mở cửa") && vi.contains("07:30"),
        "{vi}"
    );
    let (_, c, _) = field(
        book(db, &tr, "CN", "import", at(0, 6, 0), now)
            .await
            .unwrap_err(),
    );
    assert_eq!(c, "slot_closed");
    let (_, c, _) = field(
        book(db, &tr, "CN", "import", at(0, 9, 30), now)
            .await
            .unwrap_err(),
    );
    assert_eq!(c, "hour_start");
    let (_, c, _) = field(
        book(db, &tr, "CN", "import", at(0, 9, 0), at(0, 10, 0))
            .await
            .unwrap_err(),
    );
    assert_eq!(c, "slot_past");
    let (_, c, _) = field(
        book(db, &tr, "CN", "import", at(30, 9, 0), now)
            .await
            .unwrap_err(),
    );
    assert_eq!(c, "slot_too_far");
    let (f, c, _) = field(
        book(db, &tr, "CN", "transit", at(0, 9, 0), now)
            .await
            .unwrap_err(),
    );
    assert_eq!((f.as_str(), c), ("direction", "direction_not_taken"));
    let (f, c, _) = field(
        book(db, &tr, "XX", "import", at(0, 9, 0), now)
            .await
            .unwrap_err(),
    );
    assert_eq!((f.as_str(), c), ("gate_code", "gate_unknown"));
    let (f, c, _) = field(
        book(db, &tr, "HN", "import", at(0, 9, 0), now)
            .await
            .unwrap_err(),
    );
    assert_eq!((f.as_str(), c), ("gate_code", "trip_gate"));
    let e = book(db, "no-such-trip", "CN", "import", at(0, 9, 0), now)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 404);
    // The board closes 09:00 (the Chinese side stops) and opens 19:00 for two trucks.
    capacity::set_override(
        db,
        &crate::sys(),
        "CN",
        "import",
        at(0, 9, 0),
        Some(0),
        "Phía Trung Quốc tạm dừng thông quan",
    )
    .await
    .unwrap();
    let (_, c, vi) = field(
        book(db, &tr, "CN", "import", at(0, 9, 0), now)
            .await
            .unwrap_err(),
    );
    assert_eq!(c, "slot_closed");
    assert!(vi.contains("Phía Trung Quốc tạm dừng"), "{vi}");
    let bad = capacity::set_override(
        db,
        &crate::sys(),
        "CN",
        "import",
        at(0, 9, 0),
        Some(-1),
        " ",
    )
    .await
    .unwrap_err();
    let fields: Vec<_> = bad.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["capacity", "reason"]);
    assert_eq!(
        crate::count(db, "SELECT COUNT(*) FROM border_bookings").await,
        0
    );
    assert_eq!(
        crate::count(db, "SELECT COUNT(*) FROM border_slots WHERE booked <> 0").await,
        0
    );
    assert_eq!(
        crate::count(
            db,
            "SELECT COUNT(*) FROM border_slot_days WHERE booked <> 0"
        )
        .await,
        0
    );
    set_cap(db, "CN", "import", at(0, 19, 0), 2).await;
    let b = book(db, &tr, "CN", "import", at(0, 19, 0), now)
        .await
        .unwrap();
    assert_eq!(b.local, "2026-12-01 19:00");
    // Lowering an hour below its bookings keeps them and says how many are over.
    let o = capacity::set_override(
        db,
        &crate::sys(),
        "CN",
        "import",
        at(0, 19, 0),
        Some(0),
        "Mưa lớn",
    )
    .await
    .unwrap();
    assert_eq!(o.over_booked, 1);
    assert!(booking::active_booking(db, &tr).await.unwrap().is_some());
    assert_eq!(
        crate::count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'border.slot_override'"
        )
        .await,
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_enterprises_one_last_seat_exactly_one_wins() {
    let t = crate::env().await;
    let now = at(0, 6, 0);
    for round in 0..6u32 {
        let hour = at(0, 8 + round, 0);
        set_cap(&t.db, "HN", "export", hour, 1).await;
        let a = trip(&t.db, "HN", "export", false).await;
        let b = trip(&t.db, "HN", "export", false).await;
        let (da, db_) = (t.db.clone(), t.db.clone());
        let ja = tokio::spawn(async move { book(&da, &a, "HN", "export", hour, now).await });
        let jb = tokio::spawn(async move { book(&db_, &b, "HN", "export", hour, now).await });
        let results = [ja.await.unwrap(), jb.await.unwrap()];
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {results:?}");
        let lost = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert_eq!(lost.status(), 409);
        assert!(lost.detail_vi.as_deref().unwrap().contains("hết chỗ"));
    }
    assert_eq!(
        crate::count(&t.db, "SELECT COUNT(*) FROM border_bookings").await,
        6
    );
    assert_eq!(
        crate::count(&t.db, "SELECT COUNT(*) FROM border_slots WHERE booked <> 1").await,
        0
    );
    assert_eq!(
        crate::count(&t.db, "SELECT MAX(booked) FROM border_slot_days").await,
        6
    );
    // One trip racing itself for two hours: one booking.
    let c = trip(&t.db, "HN", "export", false).await;
    let (d1, d2, c1, c2) = (t.db.clone(), t.db.clone(), c.clone(), c.clone());
    let j1 = tokio::spawn(async move { book(&d1, &c1, "HN", "export", at(0, 15, 0), now).await });
    let j2 = tokio::spawn(async move { book(&d2, &c2, "HN", "export", at(0, 16, 0), now).await });
    let r = [j1.await.unwrap(), j2.await.unwrap()];
    assert_eq!(r.iter().filter(|x| x.is_ok()).count(), 1, "{r:?}");
    assert_eq!(
        r.iter().find_map(|x| x.as_ref().err()).unwrap().status(),
        409
    );
    assert_eq!(
        crate::count(
            &t.db,
            &format!("SELECT COUNT(*) FROM border_bookings WHERE trip_id = '{c}'")
        )
        .await,
        1
    );
    assert_eq!(
        crate::count(&t.db, "SELECT MAX(booked) FROM border_slot_days").await,
        7
    );
}

#[tokio::test]
async fn double_booking_is_refused() {
    let t = crate::env().await;
    let now = at(0, 6, 0);
    let a = trip(&t.db, "TT", "export", false).await;
    book(&t.db, &a, "TT", "export", at(0, 9, 0), now)
        .await
        .unwrap();
    let e = book(&t.db, &a, "TT", "export", at(0, 10, 0), now)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 409);
    assert!(
        e.detail_vi.as_deref().unwrap().contains("đã có khung giờ"),
        "{e}"
    );
    assert!(
        e.detail_en.as_deref().unwrap().contains("reschedule"),
        "{e}"
    );
    let e = booking::join_standby(&t.db, &crate::sys(), &a, now)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 409);
    // A cancelled booking frees the trip (and the seat) to book again.
    booking::cancel(&t.db, &crate::sys(), &a, now)
        .await
        .unwrap();
    book(&t.db, &a, "TT", "export", at(0, 10, 0), now)
        .await
        .unwrap();
    assert_eq!(
        crate::count(&t.db, "SELECT COUNT(*) FROM border_slots WHERE booked = 1").await,
        1
    );
    assert_eq!(
        crate::count(&t.db, "SELECT MAX(booked) FROM border_slot_days").await,
        1
    );
    // A trip that has crossed cannot book.
    let c = trip(&t.db, "TT", "export", false).await;
    stage(&t.db, &c, "crossed", now).await;
    let e = book(&t.db, &c, "TT", "export", at(0, 11, 0), now)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 409);
    assert!(
        e.detail_vi.as_deref().unwrap().contains("đã qua cửa khẩu"),
        "{e:?}"
    );
}

#[tokio::test]
async fn perishables_have_held_seats_until_release() {
    let t = crate::env().await;
    let db = &t.db;
    // Five seats, one (20 %) held for perishables until 12 hours before.
    let hour = at(1, 10, 0);
    set_cap(db, "HN", "export", hour, 5).await;
    let early = hour - 24 * HOUR;
    for _ in 0..4 {
        let o = trip(db, "HN", "export", false).await;
        book(db, &o, "HN", "export", hour, early).await.unwrap();
    }
    let o5 = trip(db, "HN", "export", false).await;
    let e = book(db, &o5, "HN", "export", hour, early)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 409);
    assert!(
        e.detail_vi.as_deref().unwrap().contains("hàng tươi sống"),
        "{e}"
    );
    let plan = capacity::day_plan(
        db,
        &Policy::default(),
        "HN",
        "export",
        local_day(hour),
        early,
    )
    .await
    .unwrap();
    let h = plan.hours.iter().find(|h| h.hour_start == hour).unwrap();
    assert_eq!(
        (
            h.capacity,
            h.reserved_perishable,
            h.available,
            h.available_perishable
        ),
        (5, 1, 0, 1)
    );
    let fresh = trip(db, "HN", "export", true).await;
    let b = book(db, &fresh, "HN", "export", hour, early).await.unwrap();
    assert!(b.perishable);
    // Another hour: once the hold is released, an ordinary truck takes the fifth seat.
    let hour2 = hour + HOUR;
    set_cap(db, "HN", "export", hour2, 5).await;
    for _ in 0..4 {
        let o = trip(db, "HN", "export", false).await;
        book(db, &o, "HN", "export", hour2, early).await.unwrap();
    }
    assert_eq!(
        book(db, &o5, "HN", "export", hour2, hour2 - 13 * HOUR)
            .await
            .unwrap_err()
            .status(),
        409
    );
    book(db, &o5, "HN", "export", hour2, hour2 - 12 * HOUR)
        .await
        .unwrap();
    let late_fresh = trip(db, "HN", "export", true).await;
    assert_eq!(
        book(db, &late_fresh, "HN", "export", hour2, hour2 - HOUR)
            .await
            .unwrap_err()
            .status(),
        409
    );
}

#[tokio::test]
async fn queue_order_eta_and_calls() {
    let t = crate::env().await;
    let db = &t.db;
    let ctx = crate::sys();
    let now = at(0, 10, 0);
    let booked_at = at(0, 6, 0);
    let a = trip(db, "HN", "export", false).await;
    let b = trip(db, "HN", "export", true).await;
    let c = trip(db, "HN", "export", false).await;
    let d = trip(db, "HN", "export", false).await;
    let e = trip(db, "HN", "export", false).await;
    book(db, &a, "HN", "export", at(0, 10, 0), booked_at)
        .await
        .unwrap();
    book(db, &b, "HN", "export", at(0, 10, 0), booked_at)
        .await
        .unwrap();
    book(db, &c, "HN", "export", at(0, 11, 0), booked_at)
        .await
        .unwrap();
    book(db, &e, "HN", "export", at(0, 10, 0), booked_at)
        .await
        .unwrap();
    stage(db, &a, "staging", at(0, 9, 0)).await;
    stage(db, &b, "staging", at(0, 9, 30)).await;
    stage(db, &c, "staging", at(0, 8, 0)).await;
    stage(db, &d, "staging", at(0, 7, 0)).await; // no booking
                                                 // e has not arrived: not in the queue.
    let policy = Policy {
        call_position: 2,
        ..Policy::default()
    };
    let queues = Queues::new(policy);
    let snap = queues.refresh(db, now).await.unwrap();
    let q = snap.queue("HN", Direction::Export);
    let order: Vec<_> = q.iter().map(|x| x.trip_id.clone()).collect();
    assert_eq!(order, [b.clone(), a.clone(), c.clone(), d.clone()]);
    // Hữu Nghị exports: 50 an hour (6 lanes × 20 = 120 does not bind): one every 72 s.
    let etas: Vec<_> = q
        .iter()
        .map(|x| (x.eta.unwrap() - now) / 1_000_000)
        .collect();
    assert_eq!(etas, [0, 72, 3600, 3672]);
    let pa = queues.cached_position(&a).unwrap();
    assert_eq!(
        (
            pa.entry.position,
            pa.ahead,
            pa.queue_length,
            pa.wait_minutes
        ),
        (2, 1, 4, Some(2))
    );
    assert!(queues.cached_position(&e).is_none());
    assert_eq!(
        queues
            .position(db, &d, now)
            .await
            .unwrap()
            .unwrap()
            .entry
            .position,
        4
    );
    // The first two are called once; a second tick calls no one again.
    let r = queue::tick(db, &ctx, &queues, now).await.unwrap();
    let mut called: Vec<_> = r.calls.iter().map(|c| c.trip_id.clone()).collect();
    called.sort();
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(called, want);
    assert_eq!(r.queued, 4);
    // A snapshot read before those calls says neither was called: the insert skips both.
    assert!(
        queue::call_forward(db, &ctx, queues.policy(), &snap, now + MIN)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(queue::tick(db, &ctx, &queues, now + MIN)
        .await
        .unwrap()
        .calls
        .is_empty());
    // b crosses: c becomes second and is called.
    stage(db, &b, "crossed", now + 2 * MIN).await;
    let r = queue::tick(db, &ctx, &queues, now + 3 * MIN).await.unwrap();
    assert_eq!(r.calls.len(), 1);
    assert_eq!(r.calls[0].trip_id, c);
    assert_eq!(r.calls[0].position, 2);
    assert_eq!(
        crate::count(
            db,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'border.queue_call'"
        )
        .await,
        3
    );
    assert_eq!(
        crate::count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'border.queue_call'"
        )
        .await,
        3
    );
    // The snapshot is versioned and rebuilt after invalidation.
    let v = queues.current().version;
    queues.invalidate();
    assert!(queues.is_stale());
    queues.snapshot(db, now + 4 * MIN).await.unwrap();
    assert_eq!(queues.current().version, v + 1);
    assert_eq!(queues.cached_position(&a).unwrap().entry.position, 1);
}

#[tokio::test]
async fn one_grace_extension_then_no_show_to_standby() {
    let t = crate::env().await;
    let db = &t.db;
    let ctx = crate::sys();
    let p = Policy::default();
    let hour = at(0, 9, 0);
    let a = trip(db, "TT", "export", false).await;
    book(db, &a, "TT", "export", hour, at(0, 6, 0))
        .await
        .unwrap();
    // Late: asks at 10:10 for the one extension: must arrive by 10:30 + 60 min.
    let g = booking::extend_grace(db, &ctx, &p, &a, at(0, 10, 10))
        .await
        .unwrap();
    assert_eq!(g.arrive_by, at(0, 11, 30));
    let again = booking::extend_grace(db, &ctx, &p, &a, at(0, 10, 20))
        .await
        .unwrap_err();
    assert_eq!(again.status(), 409);
    assert!(again
        .detail_vi
        .as_deref()
        .unwrap()
        .contains("đã được gia hạn một lần"));
    // Not a no-show before the extended deadline; a no-show after it.
    assert!(booking::sweep_no_shows(db, &ctx, at(0, 11, 0))
        .await
        .unwrap()
        .is_empty());
    let r = booking::sweep_no_shows(db, &ctx, at(0, 11, 31))
        .await
        .unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, "no_show");
    assert!(booking::active_booking(db, &a).await.unwrap().is_none());
    let sb = booking::standby(db, "TT", Direction::Export).await.unwrap();
    assert_eq!(sb.len(), 1);
    assert_eq!(
        (sb[0].trip_id.as_str(), sb[0].reason.as_str()),
        (a.as_str(), "no_show")
    );
    assert_eq!(
        crate::count(db, "SELECT COUNT(*) FROM border_slots WHERE booked <> 0").await,
        0
    );
    // A truck that arrived on time is never a no-show, and needs no extension.
    let b = trip(db, "TT", "export", false).await;
    book(db, &b, "TT", "export", at(0, 12, 0), at(0, 6, 0))
        .await
        .unwrap();
    stage(db, &b, "staging", at(0, 12, 5)).await;
    assert_eq!(
        booking::extend_grace(db, &ctx, &p, &b, at(0, 12, 10))
            .await
            .unwrap_err()
            .status(),
        409
    );
    assert!(booking::sweep_no_shows(db, &ctx, at(0, 20, 0))
        .await
        .unwrap()
        .is_empty());
    // Once it has crossed, its booking is closed as used and its seat stays counted.
    stage(db, &b, "crossed", at(0, 12, 40)).await;
    let r = booking::sweep_no_shows(db, &ctx, at(0, 12, 41))
        .await
        .unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].booking.trip_id.as_str(), r[0].status.as_str()),
        (b.as_str(), "used")
    );
    assert_eq!(
        crate::count(db, "SELECT COUNT(*) FROM border_slots WHERE booked = 1").await,
        1
    );
    // Past the deadline an extension is refused.
    let c = trip(db, "TT", "export", false).await;
    book(db, &c, "TT", "export", at(0, 13, 0), at(0, 6, 0))
        .await
        .unwrap();
    assert_eq!(
        booking::extend_grace(db, &ctx, &p, &c, at(0, 14, 31))
            .await
            .unwrap_err()
            .status(),
        409
    );
    assert_eq!(
        crate::count(
            db,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'border.slot_no_show'"
        )
        .await,
        1
    );
    assert_eq!(
        crate::count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'border.slot_grace'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn freed_seats_go_to_standby_perishables_first_then_first_come() {
    let t = crate::env().await;
    let db = &t.db;
    let ctx = crate::sys();
    let queues = Queues::new(Policy::default());
    let s1 = trip(db, "CM", "export", false).await;
    let s2 = trip(db, "CM", "export", true).await;
    let n = trip(db, "CM", "export", false).await;
    booking::join_standby(db, &ctx, &s1, at(0, 7, 0))
        .await
        .unwrap();
    booking::join_standby(db, &ctx, &s2, at(0, 7, 5))
        .await
        .unwrap();
    book(db, &n, "CM", "export", at(0, 9, 0), at(0, 7, 0))
        .await
        .unwrap();
    // At 10:31, n has not arrived: a no-show. Of the next hours only 11:00 has a seat.
    let now = at(0, 10, 31);
    set_cap(db, "CM", "export", at(0, 10, 0), 0).await;
    set_cap(db, "CM", "export", at(0, 11, 0), 1).await;
    set_cap(db, "CM", "export", at(0, 12, 0), 0).await;
    let r = queue::tick(db, &ctx, &queues, now).await.unwrap();
    assert_eq!(r.released.len(), 1);
    assert_eq!(r.released[0].booking.trip_id, n);
    assert_eq!(r.seated.len(), 1);
    assert_eq!(
        r.seated[0].trip_id, s2,
        "the perishable standby truck is seated first"
    );
    assert_eq!(r.seated[0].source, "from_standby");
    assert_eq!(r.seated[0].hour_start, at(0, 11, 0));
    let waiting: Vec<_> = booking::standby(db, "CM", Direction::Export)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.trip_id)
        .collect();
    assert_eq!(waiting, [s1.clone(), n.clone()]);
    // s2 gives its seat back: the first-come standby truck gets it, not the later no-show.
    booking::cancel(db, &ctx, &s2, now + MIN).await.unwrap();
    let r = queue::tick(db, &ctx, &queues, now + 2 * MIN).await.unwrap();
    assert_eq!(r.seated.len(), 1);
    assert_eq!(r.seated[0].trip_id, s1);
    let waiting: Vec<_> = booking::standby(db, "CM", Direction::Export)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.trip_id)
        .collect();
    assert_eq!(waiting, std::slice::from_ref(&n));
    assert_eq!(
        crate::count(db, "SELECT COUNT(*) FROM border_slots WHERE booked > 1").await,
        0
    );
    assert_eq!(
        crate::count(
            db,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'border.standby_seated'"
        )
        .await,
        2
    );
    // A standby trip that is cancelled leaves the standby queue at the next tick, whatever
    // its gate and direction (one round reads every gate's standby trucks).
    let o = trip(db, "HN", "import", false).await;
    booking::join_standby(db, &ctx, &o, now + MIN)
        .await
        .unwrap();
    stage(db, &n, "cancelled", now + 3 * MIN).await;
    stage(db, &o, "cancelled", now + 3 * MIN).await;
    let r = queue::tick(db, &ctx, &queues, now + 4 * MIN).await.unwrap();
    assert!(r.seated.is_empty());
    assert!(booking::standby(db, "CM", Direction::Export)
        .await
        .unwrap()
        .is_empty());
    assert!(booking::standby(db, "HN", Direction::Import)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        crate::count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'border.standby_leave'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn reschedule_takes_the_new_seat_before_releasing_the_old() {
    let t = crate::env().await;
    let db = &t.db;
    let ctx = crate::sys();
    let p = Policy::default();
    let now = at(0, 6, 0);
    let a = trip(db, "CN", "export", false).await;
    let b = trip(db, "CN", "export", false).await;
    book(db, &a, "CN", "export", at(0, 9, 0), now)
        .await
        .unwrap();
    set_cap(db, "CN", "export", at(0, 10, 0), 1).await;
    book(db, &b, "CN", "export", at(0, 10, 0), now)
        .await
        .unwrap();
    let e = booking::reschedule(db, &ctx, &p, &a, at(0, 10, 0), now)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 409);
    let kept = booking::active_booking(db, &a).await.unwrap().unwrap();
    assert_eq!(kept.hour_start, at(0, 9, 0));
    let slot = |h: i64| {
        format!("SELECT booked FROM border_slots WHERE gate_code = 'CN' AND direction = 'export' AND hour_start = {h}")
    };
    assert_eq!(crate::count(db, &slot(at(0, 9, 0))).await, 1);
    assert_eq!(crate::count(db, &slot(at(0, 10, 0))).await, 1);
    // The day is full (2 of 2): moving within the day still works, its count unchanged.
    per_day(db, "CN", "export", 2).await;
    let moved = booking::reschedule(db, &ctx, &p, &a, at(0, 11, 0), now)
        .await
        .unwrap();
    assert_eq!(
        (moved.hour_start, moved.source.as_str()),
        (at(0, 11, 0), "reschedule")
    );
    assert_eq!(crate::count(db, &slot(at(0, 9, 0))).await, 0);
    assert_eq!(crate::count(db, &slot(at(0, 11, 0))).await, 1);
    assert_eq!(
        crate::count(db, "SELECT MAX(booked) FROM border_slot_days").await,
        2
    );
    // Moving to another day counts there and frees today.
    booking::reschedule(db, &ctx, &p, &a, at(1, 11, 0), now)
        .await
        .unwrap();
    assert_eq!(
        crate::count(
            db,
            &format!(
                "SELECT booked FROM border_slot_days WHERE gate_code = 'CN' AND day = {}",
                local_day(at(0, 9, 0))
            )
        )
        .await,
        1
    );
    let hist: Vec<_> = booking::bookings_of_trip(db, &a)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.status)
        .collect();
    assert_eq!(hist, ["rescheduled", "rescheduled", "active"]);
    let same = booking::reschedule(db, &ctx, &p, &a, at(1, 11, 0), now)
        .await
        .unwrap_err();
    assert_eq!(same.fields[0].code, "slot_same");
    assert_eq!(
        crate::count(
            db,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'border.slot_rescheduled'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn wait_time_feed_matches_a_hand_computed_case() {
    let t = crate::env().await;
    let db = &t.db;
    let now = at(0, 10, 0);
    // Hữu Nghị exports: 12 queued, 20 crossed in the last hour (3 more before that).
    for i in 0..12 {
        let x = trip(db, "HN", "export", false).await;
        stage(db, &x, "yard", now - (i + 1) * MIN).await;
    }
    for i in 0..23 {
        let x = trip(db, "HN", "export", false).await;
        let when = if i < 20 {
            now - i * 2 * MIN
        } else {
            now - 2 * HOUR
        };
        stage(db, &x, "crossed", when).await;
    }
    // Hữu Nghị imports: 3 queued, no crossings: planned 30 an hour.
    for _ in 0..3 {
        let x = trip(db, "HN", "import", false).await;
        stage(db, &x, "staging", now - 5 * MIN).await;
    }
    // Declared but not arrived: not queued.
    trip(db, "HN", "import", false).await;
    let feed = waittimes::feed(db, &Policy::default(), now).await.unwrap();
    let get = |g: &str, d: Direction| {
        feed.gates
            .iter()
            .find(|w| w.gate_code == g && w.direction == d)
            .unwrap()
            .clone()
    };
    let hx = get("HN", Direction::Export);
    assert_eq!(
        (
            hx.status.as_str(),
            hx.queue_length,
            hx.crossings_last_hour,
            hx.rate_per_hour,
            hx.rate_basis.as_str(),
            hx.current_wait_minutes
        ),
        ("open", 12, 20, 20, "observed", Some(36))
    );
    assert_eq!((hx.lanes_open, hx.capacity_per_hour), (6, 50));
    assert_eq!(hx.updated_at, "2026-12-01T10:00:00+07:00");
    let hi = get("HN", Direction::Import);
    assert_eq!(
        (
            hi.queue_length,
            hi.rate_per_hour,
            hi.rate_basis.as_str(),
            hi.current_wait_minutes
        ),
        (3, 30, "planned", Some(6))
    );
    assert_eq!(feed.gates.len(), 4 + 3 + 2 + 2 + 3);
    // Chi Ma at 07:45: open 15 minutes into a half-open hour, 7 seats planned.
    let early = waittimes::feed(db, &Policy::default(), at(0, 7, 45))
        .await
        .unwrap();
    let cm = early
        .gates
        .iter()
        .find(|w| w.gate_code == "CM" && w.direction == Direction::Export)
        .unwrap();
    assert_eq!(
        (
            cm.status.as_str(),
            cm.capacity_per_hour,
            cm.current_wait_minutes
        ),
        ("open", 7, Some(0))
    );
    let before = waittimes::feed(db, &Policy::default(), at(0, 7, 10))
        .await
        .unwrap();
    let cm = before
        .gates
        .iter()
        .find(|w| w.gate_code == "CM" && w.direction == Direction::Export)
        .unwrap();
    assert_eq!(
        (cm.status.as_str(), cm.lanes_open, cm.current_wait_minutes),
        ("closed", 0, None)
    );
    // Cốc Nam at 20:00: closed; the board closing Hữu Nghị's exports closes them in the feed.
    set_cap(db, "HN", "export", at(0, 10, 0), 0).await;
    let feed = waittimes::feed(db, &Policy::default(), now).await.unwrap();
    let hx = feed
        .gates
        .iter()
        .find(|w| w.gate_code == "HN" && w.direction == Direction::Export)
        .unwrap();
    assert_eq!(
        (hx.status.as_str(), hx.current_wait_minutes, hx.queue_length),
        ("closed", None, 12)
    );
    let json = serde_json::to_value(&feed).unwrap();
    assert_eq!(json["unit"], "minutes");
    assert_eq!(json["gates"][0]["direction"], "export");
}

#[tokio::test]
async fn bench_queue_reads_every_truck() {
    let t = crate::env().await;
    let r = tinhso_border::slots::bench_queue(&t.db, 300, 20_000, 2)
        .await
        .unwrap();
    assert_eq!((r.trucks, r.misses, r.cached_queries), (300, 0, 20_000));
    assert!(r.cached_per_sec > 0.0 && r.async_per_sec > 0.0);
    assert!(r.cached_p50 <= r.cached_p99);
    println!("{r}");
}

/// The figures for docs/benchmarks.md (run with `--ignored --nocapture`; debug build).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_queue_figures() {
    let t = crate::env().await;
    let r = tinhso_border::slots::bench_queue(&t.db, 6_200, 2_000_000, 2)
        .await
        .unwrap();
    assert_eq!(r.misses, 0);
    println!("{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_reschedules_both_succeed() {
    let t = crate::env().await;
    let now = at(0, 6, 0);
    for round in 0..12u64 {
        let (h1, h2) = (at(round, 8, 0), at(round + 1, 9, 0));
        set_cap(&t.db, "TT", "import", h1, 2).await;
        set_cap(&t.db, "TT", "import", h2, 2).await;
        let a = trip(&t.db, "TT", "import", false).await;
        let b = trip(&t.db, "TT", "import", false).await;
        book(&t.db, &a, "TT", "import", h1, now).await.unwrap();
        book(&t.db, &b, "TT", "import", h2, now).await.unwrap();
        let (d1, d2) = (t.db.clone(), t.db.clone());
        let (a2, b2) = (a.clone(), b.clone());
        let ja = tokio::spawn(async move {
            booking::reschedule(&d1, &crate::sys(), &Policy::default(), &a2, h2, now).await
        });
        let jb = tokio::spawn(async move {
            booking::reschedule(&d2, &crate::sys(), &Policy::default(), &b2, h1, now).await
        });
        let (ra, rb) = (ja.await.unwrap(), jb.await.unwrap());
        assert!(ra.is_ok() && rb.is_ok(), "round {round}: {ra:?} {rb:?}");
        let slot = |h: i64| {
            format!("SELECT booked FROM border_slots WHERE gate_code = 'TT' AND direction = 'import' AND hour_start = {h}")
        };
        assert_eq!(crate::count(&t.db, &slot(h1)).await, 1);
        assert_eq!(crate::count(&t.db, &slot(h2)).await, 1);
    }
}

#[tokio::test]
async fn a_cancelled_rebuild_does_not_stop_later_rebuilds() {
    let t = crate::env().await;
    let a = trip(&t.db, "HN", "import", false).await;
    let queues = Queues::new(Policy::default());
    let now = at(0, 10, 0);
    queues.snapshot(&t.db, now).await.unwrap();
    assert!(queues.cached_position(&a).is_none());
    stage(&t.db, &a, "yard", now).await;
    queues.invalidate();
    // A reader whose request is dropped while it rebuilds (polled once, then dropped).
    let _ = tokio::time::timeout(std::time::Duration::ZERO, queues.snapshot(&t.db, now)).await;
    let v = queues.current().version;
    queues.invalidate();
    let s = queues.snapshot(&t.db, now).await.unwrap();
    assert!(s.version > v);
    assert_eq!(queues.cached_position(&a).unwrap().entry.position, 1);
}

/// The queue job run every hour (as the simulator runs it; `tinhso serve` runs it every
/// minute): each no-show is released at the first run after its deadline, once, and running
/// again — the same hour or later — releases nothing more (idempotent).
#[tokio::test]
async fn hourly_sweeps_release_each_no_show_once() {
    let t = crate::env().await;
    let db = &t.db;
    let ctx = crate::sys();
    let queues = Queues::new(Policy::default());
    let a = trip(db, "TT", "export", false).await;
    let b = trip(db, "TT", "export", false).await;
    book(db, &a, "TT", "export", at(0, 9, 0), at(0, 6, 0))
        .await
        .unwrap();
    book(db, &b, "TT", "export", at(0, 10, 0), at(0, 6, 0))
        .await
        .unwrap();
    // Deadlines: slot end + 30 min grace = 10:30 for a, 11:30 for b. (A no-show on standby
    // may be seated again in a free seat, and that new booking may lapse in its turn.)
    let mut released: Vec<(i64, String, String)> = Vec::new();
    for h in 8..15 {
        for again in [0, 1, 59] {
            let now = at(0, h, again);
            let r = queue::tick(db, &ctx, &queues, now).await.unwrap();
            for x in r.released.iter().filter(|x| x.status == "no_show") {
                released.push((now, x.booking.trip_id.clone(), x.booking.id.clone()));
            }
        }
    }
    let first = |trip: &str| released.iter().find(|r| r.1 == trip).map(|r| r.0);
    assert_eq!(first(&a), Some(at(0, 10, 59)), "a: first run past 10:30");
    assert_eq!(first(&b), Some(at(0, 11, 59)), "b: first run past 11:30");
    let mut ids: Vec<&str> = released.iter().map(|r| r.2.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        released.len(),
        "a booking released twice: {released:?}"
    );
    let n = released.len() as i64;
    for (sql, want) in [
        (
            "SELECT COUNT(*) FROM border_bookings WHERE status = 'no_show'",
            n,
        ),
        (
            "SELECT COUNT(*) FROM audit_log WHERE action = 'border.slot_no_show'",
            n,
        ),
    ] {
        assert_eq!(crate::count(db, sql).await, want, "{sql}");
    }
}
