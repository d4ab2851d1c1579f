//! Journeys from camera, QR and GPS events, on SQLite and PostgreSQL.

use tinhso_border::events::{
    self, fixture_trips, review_attach, review_dismiss, review_get, review_open, EventBody,
    Ingestor, NewEvent,
};
use tinhso_border::journey::{self, Source, Stage};
use tinhso_border::plate;
use tinhso_store::Db;

const T0: i64 = 1_780_000_000_000_000;

fn cam(id: &str, camera: &str, text: &str, at: i64) -> NewEvent {
    NewEvent {
        event_id: id.into(),
        at,
        body: EventBody::Camera {
            camera_id: camera.into(),
            plate_text: text.into(),
            confidence: 0.9,
        },
    }
}

fn canon(p: &str) -> String {
    plate::parse(p).unwrap().canonical
}

/// Trips at Hữu Nghị for these plates, the sensors, and an ingestor.
async fn setup(db: &Db, plates: &[&str]) -> (Ingestor, Vec<String>) {
    assert!(events::seed_sensors(db).await.unwrap() > 0);
    assert_eq!(
        events::seed_sensors(db).await.unwrap(),
        0,
        "seeding twice adds nothing"
    );
    let plates: Vec<String> = plates.iter().map(|p| canon(p)).collect();
    let ids = fixture_trips(db, "HN", &plates).await.unwrap();
    let ing = Ingestor::load(db).await.unwrap();
    assert_eq!(ing.active_trips(), ids.len());
    (ing, ids)
}

async fn stage_of(db: &Db, trip: &str) -> String {
    sqlx::query_scalar("SELECT stage FROM border_trips WHERE id = $1")
        .bind(trip)
        .fetch_one(db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn camera_reads_move_the_journey_forward_and_duplicates_store_nothing() {
    let t = crate::env().await;
    let (ing, ids) = setup(&t.db, &["12C-123.45", "桂F·67890"]).await;
    let r = ing
        .ingest(&t.db, &cam("e1", "CAM-HN-S1", "12C12345", T0))
        .await
        .unwrap();
    assert_eq!(r.outcome, "exact");
    assert_eq!(r.trip_id.as_deref(), Some(ids[0].as_str()));
    assert_eq!(stage_of(&t.db, &ids[0]).await, "staging");
    // The same event again: duplicate, nothing new stored.
    let before = crate::count(&t.db, "SELECT COUNT(*) FROM border_events").await;
    let outbox = crate::count(&t.db, "SELECT COUNT(*) FROM outbox").await;
    let r = ing
        .ingest(&t.db, &cam("e1", "CAM-HN-Y1", "12C12345", T0 + 9))
        .await
        .unwrap();
    assert_eq!(r.outcome, "duplicate");
    assert_eq!(
        crate::count(&t.db, "SELECT COUNT(*) FROM border_events").await,
        before
    );
    assert_eq!(
        crate::count(&t.db, "SELECT COUNT(*) FROM outbox").await,
        outbox
    );
    assert_eq!(stage_of(&t.db, &ids[0]).await, "staging");
    // A batch with a duplicate inside it and one of an earlier batch.
    let rep = ing
        .ingest_batch(
            &t.db,
            &[
                cam("e2", "CAM-HN-Y1", "12C 123.45", T0 + 100),
                cam("e2", "CAM-HN-Y1", "12C 123.45", T0 + 100),
                cam("e1", "CAM-HN-S1", "12C12345", T0),
                cam("e3", "CAM-HN-Y1", "F67890", T0 + 200),
            ],
        )
        .await
        .unwrap();
    assert_eq!((rep.received, rep.duplicates, rep.attached), (4, 2, 2));
    assert_eq!(rep.results[3].outcome, "fuzzy");
    assert_eq!(stage_of(&t.db, &ids[0]).await, "yard");
    assert_eq!(stage_of(&t.db, &ids[1]).await, "yard");
    assert_eq!(
        crate::count(&t.db, "SELECT COUNT(*) FROM border_events").await,
        3
    );
    let times = journey::stage_times(&t.db, &ids[1]).await.unwrap();
    assert_eq!(
        times.len(),
        1,
        "the staging camera never saw it: skipped, not invented"
    );
    assert_eq!((times[0].stage, times[0].at), (Stage::Yard, T0 + 200));
    assert_eq!(times[0].source, "camera");
}

#[tokio::test]
async fn late_and_out_of_order_events_never_move_a_trip_back() {
    let t = crate::env().await;
    let (ing, ids) = setup(&t.db, &["98C-456.78"]).await;
    let trip = &ids[0];
    // The yard read arrives first, the staging read (earlier) later.
    ing.ingest(&t.db, &cam("y", "CAM-HN-Y1", "98C45678", T0 + 500))
        .await
        .unwrap();
    assert_eq!(stage_of(&t.db, trip).await, "yard");
    let r = ing
        .ingest(&t.db, &cam("s", "CAM-HN-S1", "98C45678", T0 + 100))
        .await
        .unwrap();
    assert_eq!(r.outcome, "exact");
    assert_eq!(stage_of(&t.db, trip).await, "yard", "not moved back");
    // A second yard read later does not overwrite the first time; an earlier one does.
    ing.ingest(&t.db, &cam("y2", "CAM-HN-Y1", "98C45678", T0 + 900))
        .await
        .unwrap();
    ing.ingest(&t.db, &cam("y0", "CAM-HN-Y1", "98C45678", T0 + 400))
        .await
        .unwrap();
    let times = journey::stage_times(&t.db, trip).await.unwrap();
    let at: Vec<(Stage, i64)> = times.iter().map(|t| (t.stage, t.at)).collect();
    assert_eq!(
        at,
        vec![(Stage::Staging, T0 + 100), (Stage::Yard, T0 + 400)]
    );
    // An ingestor loaded now knows the stored times (it sends no upsert for a later read) but
    // still writes an earlier one, in a batch with later reads of the same stage.
    let ing2 = Ingestor::load(&t.db).await.unwrap();
    let r = ing2
        .ingest_batch(
            &t.db,
            &[
                cam("y3", "CAM-HN-Y1", "98C45678", T0 + 950),
                cam("y-early", "CAM-HN-Y1", "98C45678", T0 + 300),
                cam("s-late", "CAM-HN-S1", "98C45678", T0 + 960),
            ],
        )
        .await
        .unwrap();
    assert_eq!(r.attached, 3);
    let times = journey::stage_times(&t.db, trip).await.unwrap();
    let at: Vec<(Stage, i64)> = times.iter().map(|t| (t.stage, t.at)).collect();
    assert_eq!(
        at,
        vec![(Stage::Staging, T0 + 100), (Stage::Yard, T0 + 300)]
    );
    // The first ingestor's remembered yard time (400) is above the stored one: a read at 350
    // is still sent and changes nothing stored; one at 200 lowers it.
    ing.ingest(&t.db, &cam("y350", "CAM-HN-Y1", "98C45678", T0 + 350))
        .await
        .unwrap();
    ing.ingest(&t.db, &cam("y200", "CAM-HN-Y1", "98C45678", T0 + 200))
        .await
        .unwrap();
    let times = journey::stage_times(&t.db, trip).await.unwrap();
    assert_eq!(times[1].at, T0 + 200);
    assert_eq!(stage_of(&t.db, trip).await, "yard");
    // advance() used by other modules: forward moves, backward only records.
    let mut tx = t.db.begin_write().await.unwrap();
    let a = journey::advance(&mut tx, trip, Stage::Checked, T0 + 1000, Source::Officer)
        .await
        .unwrap();
    assert!(a.moved && a.time_recorded);
    let b = journey::advance(&mut tx, trip, Stage::Staging, T0 + 50, Source::Gps)
        .await
        .unwrap();
    assert!(!b.moved && b.time_recorded && b.to == Stage::Checked);
    tx.commit().await.unwrap();
    assert_eq!(stage_of(&t.db, trip).await, "checked");
    // Crossing ends matching: later reads of the plate go to review.
    ing.ingest(&t.db, &cam("x", "CAM-HN-X", "98C45678", T0 + 2000))
        .await
        .unwrap();
    assert_eq!(stage_of(&t.db, trip).await, "crossed");
    assert_eq!(ing.active_trips(), 0);
    let r = ing
        .ingest(&t.db, &cam("after", "CAM-HN-Y1", "98C45678", T0 + 3000))
        .await
        .unwrap();
    assert_eq!(r.outcome, "no_match");
    // An unknown trip in advance() is an error, not a panic.
    let mut tx = t.db.begin_write().await.unwrap();
    assert!(
        journey::advance(&mut tx, "nope", Stage::Yard, T0, Source::Camera)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn misreads_ambiguity_and_unknown_plates_go_where_they_should() {
    let t = crate::env().await;
    let (ing, ids) = setup(
        &t.db,
        &[
            "12C-108.52",
            "14H-555.01",
            "29H-555.01",
            "桂A·77777",
            "云A·77777",
        ],
    )
    .await;
    // Misread: matched to the right truck.
    let r = ing
        .ingest(&t.db, &cam("m1", "CAM-HN-S1", "I2C-1O8.S2", T0))
        .await
        .unwrap();
    assert_eq!(
        (r.outcome, r.trip_id.as_deref()),
        ("fuzzy", Some(ids[0].as_str()))
    );
    // Only the bottom line, shared by two trucks: review with both candidates.
    let r = ing
        .ingest(&t.db, &cam("m2", "CAM-HN-S1", "555.01", T0 + 1))
        .await
        .unwrap();
    assert_eq!((r.outcome, r.trip_id), ("ambiguous", None));
    // Province lost, two trucks: review.
    let r = ing
        .ingest(&t.db, &cam("m3", "CAM-HN-Y1", "A77777", T0 + 2))
        .await
        .unwrap();
    assert_eq!(r.outcome, "ambiguous");
    // Unknown plate: review, no trip touched.
    let r = ing
        .ingest(&t.db, &cam("m4", "CAM-HN-Y1", "30K-999.99", T0 + 3))
        .await
        .unwrap();
    assert_eq!(r.outcome, "no_match");
    // A plate declared at another gate is not matched at this one.
    let other = fixture_trips(&t.db, "TT", &[canon("20C-246.80")])
        .await
        .unwrap();
    ing.track(&other[0], "TT", vec![canon("20C-246.80")])
        .unwrap();
    let r = ing
        .ingest(&t.db, &cam("m5", "CAM-HN-Y1", "20C24680", T0 + 4))
        .await
        .unwrap();
    assert_eq!(r.outcome, "no_match");
    let r = ing
        .ingest(&t.db, &cam("m6", "CAM-TT-Y1", "20C24680", T0 + 5))
        .await
        .unwrap();
    assert_eq!(r.trip_id.as_deref(), Some(other[0].as_str()));
    for id in &ids[1..] {
        assert_eq!(stage_of(&t.db, id).await, "declared", "{id}");
    }
    let open = review_open(&t.db, Some("HN"), 100).await.unwrap();
    let got: Vec<(&str, &str, usize)> = open
        .iter()
        .map(|i| (i.event_id.as_str(), i.reason.as_str(), i.candidates.len()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("m2", "ambiguous", 2),
            ("m3", "ambiguous", 2),
            ("m4", "no_match", 0),
            ("m5", "no_match", 0)
        ]
    );
    assert_eq!(
        crate::count(
            &t.db,
            "SELECT COUNT(*) FROM border_events WHERE trip_id IS NULL"
        )
        .await,
        4
    );
}

#[tokio::test]
async fn officers_resolve_the_review_queue_on_the_audit_trail() {
    let t = crate::env().await;
    let (ing, ids) = setup(&t.db, &["14H-555.01", "29H-555.01"]).await;
    ing.ingest(&t.db, &cam("r1", "CAM-HN-Y1", "555.01", T0))
        .await
        .unwrap();
    ing.ingest(&t.db, &cam("r2", "CAM-HN-Y1", "???", T0 + 1))
        .await
        .unwrap();
    let ctx = crate::sys();
    // A reason is required.
    let e = review_attach(&t.db, &ctx, "r1", &ids[1], "  ")
        .await
        .unwrap_err();
    assert_eq!(e.fields[0].field, "reason");
    // An unknown trip is refused and nothing changes.
    let e = review_attach(&t.db, &ctx, "r1", "nope", "Đối chiếu ảnh")
        .await
        .unwrap_err();
    assert_eq!(e.fields[0].field, "trip_id");
    assert_eq!(
        review_get(&t.db, "r1").await.unwrap().unwrap().status,
        "open"
    );
    let audit0 = crate::count(&t.db, "SELECT COUNT(*) FROM audit_log").await;
    let a = review_attach(&t.db, &ctx, "r1", &ids[1], "Đối chiếu ảnh camera: xe 29H")
        .await
        .unwrap();
    assert!(a.moved && a.to == Stage::Yard);
    assert_eq!(stage_of(&t.db, &ids[1]).await, "yard");
    assert_eq!(stage_of(&t.db, &ids[0]).await, "declared");
    let item = review_get(&t.db, "r1").await.unwrap().unwrap();
    assert_eq!(item.status, "attached");
    assert_eq!(item.resolved_trip_id.as_deref(), Some(ids[1].as_str()));
    let times = journey::stage_times(&t.db, &ids[1]).await.unwrap();
    assert_eq!((times[0].at, times[0].source.as_str()), (T0, "officer"));
    // Decided once only.
    assert!(review_attach(&t.db, &ctx, "r1", &ids[0], "lần hai")
        .await
        .is_err());
    review_dismiss(
        &t.db,
        &ctx,
        "r2",
        "Không đọc được biển, xe không thuộc chuyến nào",
    )
    .await
    .unwrap();
    assert!(review_dismiss(&t.db, &ctx, "r2", "lần hai").await.is_err());
    assert!(review_open(&t.db, None, 10).await.unwrap().is_empty());
    assert_eq!(
        crate::count(&t.db, "SELECT COUNT(*) FROM audit_log").await,
        audit0 + 2
    );
    // Officer override: any move, with a reason, audited.
    let e = journey::override_stage(&t.db, &ctx, &ids[1], Stage::Staging, "")
        .await
        .unwrap_err();
    assert_eq!(e.fields[0].code, "reason_required");
    let o = journey::override_stage(
        &t.db,
        &ctx,
        &ids[1],
        Stage::Staging,
        "Xe bị trả về bãi chờ do thiếu giấy tờ",
    )
    .await
    .unwrap();
    assert!(o.moved && o.from == Stage::Yard && o.to == Stage::Staging);
    assert_eq!(stage_of(&t.db, &ids[1]).await, "staging");
    assert_eq!(
        crate::count(&t.db, "SELECT COUNT(*) FROM audit_log").await,
        audit0 + 3
    );
}

#[tokio::test]
async fn qr_and_gps_events_and_bad_batches() {
    let t = crate::env().await;
    let (ing, ids) = setup(&t.db, &["12C-246.81"]).await;
    let code: String = sqlx::query_scalar("SELECT code FROM border_trips WHERE id = $1")
        .bind(&ids[0])
        .fetch_one(t.db.pool())
        .await
        .unwrap();
    let rep = ing
        .ingest_batch(
            &t.db,
            &[
                NewEvent {
                    event_id: "g1".into(),
                    at: T0,
                    body: EventBody::Gps {
                        geofence_id: "GEO-HN-S1".into(),
                        trip_id: ids[0].clone(),
                    },
                },
                NewEvent {
                    event_id: "q1".into(),
                    at: T0 + 10,
                    body: EventBody::Qr {
                        reader_id: "QR-HN-Y1".into(),
                        trip_code: code.clone(),
                        pass: None,
                    },
                },
                NewEvent {
                    event_id: "q2".into(),
                    at: T0 + 20,
                    body: EventBody::Qr {
                        reader_id: "QR-HN-Y1".into(),
                        trip_code: "TK-NOPE".into(),
                        pass: None,
                    },
                },
            ],
        )
        .await
        .unwrap();
    let outcomes: Vec<&str> = rep.results.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, vec!["gps", "qr", "unknown_trip"]);
    assert_eq!(rep.moved, 1, "one trip moved (to the furthest stage)");
    let times = journey::stage_times(&t.db, &ids[0]).await.unwrap();
    let got: Vec<(Stage, &str)> = times.iter().map(|t| (t.stage, t.source.as_str())).collect();
    assert_eq!(got, vec![(Stage::Staging, "gps"), (Stage::Yard, "qr")]);
    // A bad event rejects the whole batch, naming it; nothing is written.
    let n = crate::count(&t.db, "SELECT COUNT(*) FROM border_events").await;
    let e = ing
        .ingest_batch(
            &t.db,
            &[
                cam("ok", "CAM-HN-Y1", "12C24681", T0 + 30),
                cam("bad", "CAM-NOWHERE", "12C24681", T0 + 40),
                NewEvent {
                    event_id: " ".into(),
                    at: -1,
                    body: EventBody::Camera {
                        camera_id: "QR-HN-Y1".into(),
                        plate_text: "x".into(),
                        confidence: 7.0,
                    },
                },
            ],
        )
        .await
        .unwrap_err();
    let fields: Vec<&str> = e.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            "events[1].camera_id",
            "events[2].event_id",
            "events[2].at",
            "events[2].confidence",
            "events[2].camera_id"
        ]
    );
    assert!(e
        .fields
        .iter()
        .all(|f| !f.message_vi.is_empty() && !f.message_en.is_empty()));
    assert_eq!(
        crate::count(&t.db, "SELECT COUNT(*) FROM border_events").await,
        n
    );
    // Events arrive as JSON from the sensors.
    let j: NewEvent = serde_json::from_str(
        r#"{"event_id":"j1","at":1780000000000000,"kind":"camera","camera_id":"CAM-HN-Y1","plate_text":"12C-246.81","confidence":0.97}"#,
    )
    .unwrap();
    assert_eq!(ing.ingest(&t.db, &j).await.unwrap().outcome, "exact");
}

/// A batch larger than one statement of rows (SQLite writes 256, 128, …, 1 rows a statement),
/// with duplicates of an earlier batch spread through it: every new event is stored once with
/// all its columns, every earlier one is answered `duplicate` in its place.
#[tokio::test]
async fn a_large_batch_with_earlier_duplicates_stores_each_new_event_once() {
    let t = crate::env().await;
    let (ing, ids) = setup(&t.db, &["12C-123.45"]).await;
    let earlier: Vec<NewEvent> = (0..10)
        .map(|i| cam(&format!("a{i}"), "CAM-HN-S1", "12C12345", T0 + i))
        .collect();
    let rep = ing.ingest_batch(&t.db, &earlier).await.unwrap();
    assert_eq!((rep.attached, rep.duplicates), (10, 0));
    let mut batch: Vec<NewEvent> = Vec::new();
    for i in 0..291 {
        if i % 30 == 7 {
            batch.push(earlier[i / 30].clone());
        }
        batch.push(cam(
            &format!("b{i}"),
            "CAM-HN-Y1",
            "12C-123.45",
            T0 + 1_000 + i as i64,
        ));
    }
    assert_eq!(batch.len(), 301);
    let rep = ing.ingest_batch(&t.db, &batch).await.unwrap();
    assert_eq!((rep.received, rep.duplicates, rep.attached), (301, 10, 291));
    for (e, r) in batch.iter().zip(&rep.results) {
        assert_eq!(r.event_id, e.event_id);
        let dup = e.event_id.starts_with('a');
        assert_eq!(r.outcome == "duplicate", dup, "{r:?}");
    }
    assert_eq!(
        crate::count(&t.db, "SELECT COUNT(*) FROM border_events").await,
        301
    );
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM border_events WHERE event_id LIKE 'b%' AND kind = 'camera' \
         AND sensor_id = 'CAM-HN-Y1' AND gate_code = 'HN' AND stage = 'yard' \
         AND plate_text = '12C-123.45' AND confidence = 0.9 AND ref IS NULL AND trip_id = $1 \
         AND outcome = 'exact' AND at >= $2 AND received_at > 0 AND match_note IS NULL",
    )
    .bind(&ids[0])
    .bind(T0 + 1_000)
    .fetch_one(t.db.pool())
    .await
    .unwrap();
    assert_eq!(n, 291, "each new event stored once, every column as sent");
    assert_eq!(stage_of(&t.db, &ids[0]).await, "yard");
}

#[tokio::test]
async fn ingestion_bench_runs_small() {
    let t = crate::env().await;
    let b = events::bench_ingest(&t.db, 200, 2_000, 500, 50, 7)
        .await
        .unwrap();
    assert_eq!(b.events, 2_000);
    assert!(b.batch_duplicates > 0);
    assert_eq!(
        b.batch_attached + b.batch_review + b.batch_duplicates,
        2_000,
        "every camera event attached, sent to review or a duplicate: {b:?}"
    );
    assert!(b.batch_events_per_s > 0.0);
    eprintln!("{}", serde_json::to_string(&b).unwrap());
}

/// Single events sent at the same time (many cameras, a request each) share write
/// transactions through group commit (`Db::write_grouped_native`): fewer commits than events,
/// each event stored once and its trip moved.
#[tokio::test]
async fn concurrent_single_events_share_a_transaction() {
    use std::future::Future;
    let t = crate::env().await;
    let (ing, ids) = setup(&t.db, &["12C-123.45", "桂F·67890", "98C-456.78"]).await;
    let texts = ["12C12345", "桂F67890", "98C45678"];
    let evs: Vec<NewEvent> = (0..12)
        .map(|i| cam(&format!("c{i}"), "CAM-HN-S1", texts[i % 3], T0 + i as i64))
        .collect();
    let (tx0, items0) = t.db.group_stats();
    // Polled together on the test's one thread (a join): all queue before the writer runs.
    let mut futs: Vec<_> = evs
        .iter()
        .map(|e| Some(Box::pin(ing.ingest(&t.db, e))))
        .collect();
    let mut results = Vec::new();
    std::future::poll_fn(|cx| {
        for slot in futs.iter_mut() {
            if let Some(f) = slot {
                if let std::task::Poll::Ready(r) = f.as_mut().poll(cx) {
                    results.push(r.unwrap());
                    *slot = None;
                }
            }
        }
        if futs.iter().all(Option::is_none) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    assert_eq!(results.len(), 12);
    assert!(results.iter().all(|r| r.outcome == "exact"), "{results:?}");
    let (tx1, items1) = t.db.group_stats();
    if t.db.group_commit() {
        assert_eq!(items1 - items0, 12);
        assert!(tx1 - tx0 < 12, "{} transactions for 12 events", tx1 - tx0);
    }
    for id in &ids {
        assert_eq!(stage_of(&t.db, id).await, "staging");
    }
    assert_eq!(
        crate::count(&t.db, "SELECT COUNT(*) FROM border_events").await,
        12
    );
}

/// The ingestion benchmark at full size (slow in a debug build):
/// `cargo test -p tinhso-border --test it events::bench_full -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn bench_full() {
    let t = crate::env().await;
    let b = events::bench_ingest(&t.db, 10_000, 50_000, 1_000, 500, 11)
        .await
        .unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&b).unwrap());
}

/// A reader that sends the scanned pass: verified here with the published keys at the scan's
/// time. Good → attached; forged, expired, for another gate or naming another trip → review,
/// with the trip it claims as the candidate; nothing moves.
#[tokio::test]
async fn scanned_passes_are_verified_before_they_move_a_truck() {
    use tinhso_border::{declaration, pass};
    let t = crate::env().await;
    assert!(events::seed_sensors(&t.db).await.unwrap() > 0);
    let sys = crate::sys();
    let trip = declaration::declare(
        &t.db,
        &sys,
        "u-1",
        &crate::declarations::durian_export("12C-321.54"),
    )
    .await
    .unwrap();
    let other = declaration::declare(
        &t.db,
        &sys,
        "u-1",
        &crate::declarations::durian_export("12C-321.55"),
    )
    .await
    .unwrap();
    // The ingestor loads before the board's key exists: the first pass makes it, and the
    // ingestor must pick it up on its own.
    let ing = Ingestor::load(&t.db).await.unwrap();
    let now = chrono::Utc::now().timestamp();
    let good = pass::issue(&t.db, &trip, now).await.unwrap().text;
    let at = now * 1_000_000;
    let scan = |id: &str, reader: &str, code: &str, text: &str, at: i64| NewEvent {
        event_id: id.into(),
        at,
        body: EventBody::Qr {
            reader_id: reader.into(),
            trip_code: code.into(),
            pass: Some(text.into()),
        },
    };
    // One character of the signature changed.
    let (head, sig) = good.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let forged = format!("{head}.{flipped}{}", &sig[1..]);
    let expired_at =
        (trip.expected_arrival / 1_000_000 + pass::VALID_AFTER_ARRIVAL_SECS + 60) * 1_000_000;
    let rep = ing
        .ingest_batch(
            &t.db,
            &[
                scan("p-forged", "QR-HN-Y1", "", &forged, at),
                scan("p-late", "QR-HN-Y1", "", &good, expired_at),
                scan("p-mismatch", "QR-HN-Y1", &other.code, &good, at),
                scan("p-junk", "QR-HN-Y1", "", "hello", at),
            ],
        )
        .await
        .unwrap();
    let outcomes: Vec<&str> = rep.results.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            "pass_bad_signature",
            "pass_expired",
            "pass_mismatch",
            "pass_malformed"
        ]
    );
    assert_eq!(rep.moved, 0);
    assert_eq!(stage_of(&t.db, &trip.id).await, "declared");
    let queue = review_open(&t.db, Some("HN"), 50).await.unwrap();
    let forged_item = queue.iter().find(|r| r.event_id == "p-forged").unwrap();
    assert_eq!(
        forged_item.plate_text, "12C-321.54",
        "the plate the pass claims"
    );
    assert_eq!(forged_item.candidates.len(), 1);
    assert_eq!(forged_item.candidates[0].trip_id, trip.id);
    // The good pass, alone and then with the matching trip code, attaches.
    let rep = ing
        .ingest_batch(&t.db, &[scan("p-good", "QR-HN-Y1", "", &good, at)])
        .await
        .unwrap();
    assert_eq!(rep.results[0].outcome, "qr");
    assert_eq!(rep.results[0].trip_id.as_deref(), Some(trip.id.as_str()));
    assert_eq!(stage_of(&t.db, &trip.id).await, "yard");
    // A reader needs the pass or its trip code.
    let e = ing
        .ingest(
            &t.db,
            &NewEvent {
                event_id: "p-empty".into(),
                at,
                body: EventBody::Qr {
                    reader_id: "QR-HN-Y1".into(),
                    trip_code: " ".into(),
                    pass: None,
                },
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), 422);
}

// ------------------------------------------------ the scoring rule for ambiguous reads

const HOUR: i64 = 3_600_000_000;

fn cam_q(id: &str, text: &str, at: i64, confidence: f64) -> NewEvent {
    NewEvent {
        event_id: id.into(),
        at,
        body: EventBody::Camera {
            camera_id: "CAM-HN-S1".into(),
            plate_text: text.into(),
            confidence,
        },
    }
}

/// Trips for these plates expected at these times, and an ingestor that knows the times.
async fn expected_at(db: &Db, plates: &[(&str, i64)]) -> (Ingestor, Vec<String>) {
    let names: Vec<&str> = plates.iter().map(|p| p.0).collect();
    let (ing, ids) = setup(db, &names).await;
    for (id, (_, at)) in ids.iter().zip(plates) {
        sqlx::query("UPDATE border_trips SET expected_arrival = $1 WHERE id = $2")
            .bind(*at)
            .bind(id)
            .execute(db.pool())
            .await
            .unwrap();
    }
    ing.refresh(db).await.unwrap();
    (ing, ids)
}

async fn note_of(db: &Db, event: &str) -> serde_json::Value {
    let n: Option<String> =
        sqlx::query_scalar("SELECT match_note FROM border_events WHERE event_id = $1")
            .bind(event)
            .fetch_one(db.pool())
            .await
            .unwrap();
    serde_json::from_str(&n.expect("a match note")).unwrap()
}

#[tokio::test]
async fn the_expected_hour_settles_a_read_two_trucks_could_be() {
    let t = crate::env().await;
    // Two Chinese trucks that differ only by the province character, which the camera lost.
    let (ing, ids) = expected_at(&t.db, &[("桂A·77777", T0), ("云A·77777", T0 + 30 * HOUR)]).await;
    let r = ing
        .ingest(&t.db, &cam_q("h1", "A77777", T0 + HOUR / 2, 0.9))
        .await
        .unwrap();
    assert_eq!(
        (r.outcome, r.trip_id.as_deref()),
        ("scored", Some(ids[0].as_str()))
    );
    assert_eq!(stage_of(&t.db, &ids[0]).await, "staging");
    let n = note_of(&t.db, "h1").await;
    assert_eq!(n["why"], "settled");
    assert_eq!(n["best_trip"], ids[0].as_str());
    assert_eq!(n["runner_up_trip"], ids[1].as_str());
    assert!(n["best_score"].as_f64().unwrap() - n["runner_up_score"].as_f64().unwrap() >= 3.0);
    // The other truck's hour: it is the one. (The first is at the gate now, so near too —
    // equally likely: an officer decides.)
    let r = ing
        .ingest(&t.db, &cam_q("h2", "A77777", T0 + 30 * HOUR, 0.9))
        .await
        .unwrap();
    assert_eq!((r.outcome, r.trip_id), ("ambiguous", None));
    let item = review_get(&t.db, "h2").await.unwrap().unwrap();
    let note = item.match_note.expect("the reason kept for the officer");
    assert_eq!(note.why, "margin");
    assert_eq!(item.candidates.len(), 2);
    assert_eq!(stage_of(&t.db, &ids[1]).await, "declared");
}

#[tokio::test]
async fn a_read_near_no_trip_stays_in_review() {
    let t = crate::env().await;
    let (ing, ids) = expected_at(&t.db, &[("桂A·77777", T0), ("云A·77777", T0 + 30 * HOUR)]).await;
    // Fourteen hours after one, sixteen before the other: neither is near.
    let r = ing
        .ingest(&t.db, &cam_q("n1", "A77777", T0 + 14 * HOUR, 0.95))
        .await
        .unwrap();
    assert_eq!((r.outcome, r.trip_id), ("ambiguous", None));
    let item = review_get(&t.db, "n1").await.unwrap().unwrap();
    assert_eq!(item.match_note.unwrap().why, "not_near");
    for id in &ids {
        assert_eq!(stage_of(&t.db, id).await, "declared");
    }
}

#[tokio::test]
async fn the_camera_confidence_settles_a_clean_read_with_a_lost_digit_neighbour() {
    let t = crate::env().await;
    // 12C-1234 read exactly, or 12C-123.45 with its last digit lost; both expected now.
    let (ing, ids) = expected_at(&t.db, &[("12C-1234", T0), ("12C-123.45", T0)]).await;
    // The camera is unsure: a lost digit is likely enough, an officer looks.
    let r = ing
        .ingest(&t.db, &cam_q("c1", "12C-1234", T0, 0.6))
        .await
        .unwrap();
    assert_eq!((r.outcome, r.trip_id), ("ambiguous", None));
    let note = review_get(&t.db, "c1")
        .await
        .unwrap()
        .unwrap()
        .match_note
        .unwrap();
    assert_eq!(
        (note.why.as_str(), note.best_trip.as_deref()),
        ("margin", Some(ids[0].as_str()))
    );
    // The camera is sure: the plate as read.
    let r = ing
        .ingest(&t.db, &cam_q("c2", "12C-1234", T0 + 60_000_000, 0.98))
        .await
        .unwrap();
    assert_eq!(
        (r.outcome, r.trip_id.as_deref()),
        ("scored", Some(ids[0].as_str()))
    );
    assert_eq!(note_of(&t.db, "c2").await["why"], "settled");
    assert_eq!(stage_of(&t.db, &ids[1]).await, "declared");
}

#[tokio::test]
async fn equally_likely_candidates_stay_in_review() {
    let t = crate::env().await;
    // The bottom line both trucks share, both expected this hour, a confident camera.
    let (ing, ids) = expected_at(&t.db, &[("14H-555.01", T0), ("29H-555.01", T0 + HOUR)]).await;
    let r = ing
        .ingest(&t.db, &cam_q("q1", "555.01", T0 + HOUR / 2, 0.99))
        .await
        .unwrap();
    assert_eq!((r.outcome, r.trip_id), ("ambiguous", None));
    let item = review_get(&t.db, "q1").await.unwrap().unwrap();
    let note = item.match_note.unwrap();
    assert_eq!(note.why, "margin");
    assert_eq!(note.best_score, note.runner_up_score);
    // Deterministic: the same read again decides the same.
    let r = ing
        .ingest(&t.db, &cam_q("q2", "555.01", T0 + HOUR / 2, 0.99))
        .await
        .unwrap();
    assert_eq!(r.outcome, "ambiguous");
    assert_eq!(
        review_get(&t.db, "q2").await.unwrap().unwrap().match_note,
        Some(note)
    );
    for id in &ids {
        assert_eq!(stage_of(&t.db, id).await, "declared");
    }
}

#[tokio::test]
async fn an_undeclared_truck_read_with_low_confidence_is_never_attached() {
    let t = crate::env().await;
    let (ing, ids) = expected_at(&t.db, &[("12C-123.45", T0)]).await;
    // 29C-123.45 has no trip; the camera reads only its bottom line, unsure.
    let r = ing
        .ingest(&t.db, &cam_q("u1", "123.45", T0, 0.45))
        .await
        .unwrap();
    assert_eq!((r.outcome, r.trip_id), ("ambiguous", None));
    let note = review_get(&t.db, "u1")
        .await
        .unwrap()
        .unwrap()
        .match_note
        .unwrap();
    assert_eq!(note.why, "low_confidence");
    // 12C-1234 has no trip; read as it is (a valid plate), unsure or sure: 12C-123.45 that
    // lost a digit is offered to the officer, never settled by the score.
    for (id, q) in [("u2", 0.4), ("u3", 0.7), ("u5", 0.97)] {
        let r = ing
            .ingest(&t.db, &cam_q(id, "12C-1234", T0, q))
            .await
            .unwrap();
        assert_eq!((r.outcome, r.trip_id), ("no_match", None), "{id}");
        let item = review_get(&t.db, id).await.unwrap().unwrap();
        assert_eq!(item.match_note, None);
        assert_eq!(item.candidates.len(), 1);
    }
    // A bottom line read surely, but the trip is not expected near the read's time.
    let r = ing
        .ingest(&t.db, &cam_q("u4", "123.45", T0 + 72 * HOUR, 0.9))
        .await
        .unwrap();
    assert_eq!((r.outcome, r.trip_id), ("ambiguous", None));
    assert_eq!(stage_of(&t.db, &ids[0]).await, "declared");
    assert_eq!(
        crate::count(
            &t.db,
            "SELECT COUNT(*) FROM border_events WHERE trip_id IS NOT NULL"
        )
        .await,
        0
    );
}
