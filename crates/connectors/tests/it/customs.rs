//! Customs decisions in the customs system's format, recorded on the border trip through the
//! border crate; unknown trips, other vehicles, other declarations and bad messages refused
//! with nothing written; the customs simulator emitting decisions for several trips.

use crate::{count, sys};
use chrono::{Duration, Utc};
use tinhso_border::declaration::{self, DeclarationInput, GoodsLineInput, Trip};
use tinhso_border::registry::DriverInput;
use tinhso_connectors::customs::{self, Message};
use tinhso_connectors::simulator::customs as sim;
use tinhso_identity::authz::{AuthMethod, RoleAssignment};
use tinhso_identity::{Principal, Role, Scope};
use tinhso_kernel::ErrorCode;
use tinhso_store::{now_micros, Db};

/// Customs at Hữu Nghị, and the border guard there.
const HN_CUSTOMS: &str = "000.01.01.Z37";
const TT_CUSTOMS: &str = "000.02.01.Z37";

fn officer(agency: &str) -> Principal {
    Principal {
        user_id: format!("u-{agency}"),
        username: format!("officer.{agency}"),
        display_name: "Cán bộ hải quan".into(),
        kind: "staff".into(),
        agency_code: Some(agency.into()),
        roles: vec![RoleAssignment {
            role: Role::BorderOfficer,
            scope: Scope::Agency(agency.into()),
        }],
        method: AuthMethod::Session,
    }
}

fn tomorrow_at(hhmm: &str) -> String {
    let d = (Utc::now() + Duration::hours(7) + Duration::days(1)).date_naive();
    format!("{}T{hhmm}", d.format("%Y-%m-%d"))
}

async fn declare(db: &Db, plate: &str, declaration_no: &str) -> Trip {
    let input = DeclarationInput {
        enterprise_mst: "0100109106".into(),
        enterprise_name: "Công ty TNHH Nông sản Xứ Lạng".into(),
        enterprise_phone: "0205 3812 345".into(),
        gate: "HN".into(),
        direction: "export".into(),
        expected_arrival: tomorrow_at("09:00"),
        vehicle_plate: plate.into(),
        vehicle_plate_colour: "yellow".into(),
        vehicle_payload_kg: 15_000,
        trailer_plate: String::new(),
        trailer_payload_kg: 0,
        driver: DriverInput {
            id_kind: "cccd".into(),
            id_number: "020090001234".into(),
            full_name: "Hoàng Văn Bình".into(),
            phone: "0912 345 678".into(),
            nationality: String::new(),
        },
        customs_declaration: declaration_no.into(),
        goods: vec![GoodsLineInput {
            hs_code: "0810.60.00".into(),
            description: String::new(),
            quantity: 600.0,
            unit: "thùng".into(),
            weight_kg: 12_000,
        }],
    };
    declaration::declare(db, &sys(), "u-1", &input)
        .await
        .unwrap()
}

async fn footprint(db: &Db) -> [i64; 4] {
    [
        count(db, "SELECT COUNT(*) FROM border_customs_releases").await,
        count(db, "SELECT COUNT(*) FROM border_checks").await,
        count(db, "SELECT COUNT(*) FROM audit_log").await,
        count(db, "SELECT COUNT(*) FROM outbox").await,
    ]
}

fn fields(e: &tinhso_kernel::AppError) -> Vec<(String, &'static str)> {
    e.fields.iter().map(|f| (f.field.clone(), f.code)).collect()
}

#[tokio::test]
async fn a_release_is_recorded_on_the_trip_once() {
    let t = crate::env().await;
    let trip = declare(&t.db, "12C-123.45", "305123456789").await;
    let hq = officer(HN_CUSTOMS);
    let now = now_micros();
    // As customs writes it: spaces in the number, the plate typed another way.
    let mut m = sim::message_for(&trip, "TQ", now - 60_000_000, "HQ-HN-0042");
    m.so_to_khai = "3051 2345 6789".into();
    m.bien_so_phuong_tien = "12c 12345".into();
    let before = footprint(&t.db).await;
    let r = customs::receive(&t.db, &crate::ctx_of(&hq), &hq, &m, now)
        .await
        .unwrap();
    assert_eq!(
        (
            r.outcome.as_str(),
            r.decision.as_str(),
            r.trip_code.as_str()
        ),
        ("recorded", "released", trip.code.as_str())
    );
    let after = footprint(&t.db).await;
    assert_eq!(after[0], before[0] + 1, "one release row");
    assert!(
        after[2] > before[2] && after[3] > before[3],
        "audited and emitted"
    );
    let (decision, officer_ref): (String, String) = sqlx::query_as(
        "SELECT decision, officer_ref FROM border_customs_releases WHERE customs_declaration = '305123456789'",
    )
    .fetch_one(t.db.pool())
    .await
    .unwrap();
    assert_eq!(
        (decision.as_str(), officer_ref.as_str()),
        ("released", "HQ-HN-0042")
    );
    // The same message again changes nothing.
    let again = customs::receive(&t.db, &crate::ctx_of(&hq), &hq, &m, now)
        .await
        .unwrap();
    assert_eq!(again.outcome, "duplicate");
    assert_eq!(footprint(&t.db).await, after);
}

#[tokio::test]
async fn unknown_trips_other_vehicles_and_bad_messages_are_refused_with_nothing_written() {
    let t = crate::env().await;
    let trip = declare(&t.db, "12C-123.46", "305123456780").await;
    let hq = officer(HN_CUSTOMS);
    let now = now_micros();
    let good = sim::message_for(&trip, "GPH", now - 60_000_000, "HQ-HN-0042");
    let before = footprint(&t.db).await;
    let ctx = crate::ctx_of(&hq);

    let unknown = Message {
        ma_chuyen: "HN-260101-99999".into(),
        ..good.clone()
    };
    let e = customs::receive(&t.db, &ctx, &hq, &unknown, now)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::ValidationFailed);
    assert_eq!(fields(&e), [("MaChuyen".to_string(), "trip_unknown")]);
    assert!(e.fields[0].message_en.contains("HN-260101-99999"));

    let other_vehicle = Message {
        bien_so_phuong_tien: "12C-999.99".into(),
        ..good.clone()
    };
    let e = customs::receive(&t.db, &ctx, &hq, &other_vehicle, now)
        .await
        .unwrap_err();
    assert_eq!(
        fields(&e),
        [("BienSoPhuongTien".to_string(), "plate_other")]
    );

    let other_declaration = Message {
        so_to_khai: "305000000001".into(),
        ..good.clone()
    };
    let e = customs::receive(&t.db, &ctx, &hq, &other_declaration, now)
        .await
        .unwrap_err();
    assert_eq!(
        fields(&e),
        [("SoToKhai".to_string(), "customs_declaration_other")]
    );

    let bad = Message {
        so_to_khai: "30512345".into(),
        ma_quyet_dinh: "OK".into(),
        ngay_gio_quyet_dinh: "2026-12-01T08:30".into(),
        bien_so_phuong_tien: "not a plate".into(),
        ma_chuyen: String::new(),
        ma_cong_chuc: String::new(),
    };
    let e = customs::receive(&t.db, &ctx, &hq, &bad, now)
        .await
        .unwrap_err();
    assert_eq!(e.fields.len(), 6, "{:?}", fields(&e));
    assert!(e
        .fields
        .iter()
        .all(|f| !f.message_vi.is_empty() && !f.message_en.is_empty()));

    // A decision dated in the future (the sender's clock is off): the border crate's check.
    let future = sim::message_for(&trip, "TQ", now + 3_600_000_000, "HQ-HN-0042");
    let e = customs::receive(&t.db, &ctx, &hq, &future, now)
        .await
        .unwrap_err();
    assert_eq!(
        fields(&e),
        [("NgayGioQuyetDinh".to_string(), "decided_at_future")]
    );

    // Customs of another gate may not release a Hữu Nghị trip.
    let tt = officer(TT_CUSTOMS);
    let e = customs::receive(&t.db, &crate::ctx_of(&tt), &tt, &good, now)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);

    assert_eq!(footprint(&t.db).await, before, "no partial write");
}

#[tokio::test]
async fn the_customs_simulator_emits_decisions_for_trips() {
    let t = crate::env().await;
    let mut trips = Vec::new();
    for i in 0..10 {
        trips.push(
            declare(
                &t.db,
                &format!("12C-200.{i:02}"),
                &format!("30512345{i:04}"),
            )
            .await,
        );
    }
    let hq = officer(HN_CUSTOMS);
    let out = sim::emit(
        &t.db,
        &crate::ctx_of(&hq),
        &hq,
        &trips,
        "HQ-HN-0001",
        now_micros(),
    )
    .await;
    let decisions: Vec<String> = out.into_iter().map(|r| r.unwrap().decision).collect();
    // i = 9 is held (TD); the others released (TQ / GPH).
    let held = decisions.iter().filter(|d| *d == "held").count();
    assert_eq!((decisions.len(), held), (10, 1));
    assert_eq!(decisions[9], "held");
    assert_eq!(
        count(&t.db, "SELECT COUNT(*) FROM border_customs_releases").await,
        10
    );
}

#[tokio::test]
async fn decisions_pulled_from_the_customs_queue_simulator_are_recorded_once() {
    use tinhso_connectors::customs_pull::{self, Puller};
    let t = crate::env().await;
    let mut trips = Vec::new();
    for i in 0..3 {
        trips.push(
            declare(
                &t.db,
                &format!("12C-300.{i:02}"),
                &format!("30598765{i:04}"),
            )
            .await,
        );
    }
    let q = sim::QueueSimulator::start("khoa-hai-quan").await.unwrap();
    let now = now_micros();
    let at = (now / 1_000_000 - 60) * 1_000_000;
    for (i, trip) in trips.iter().enumerate() {
        q.push(sim::message_for(trip, sim::code_for(i), at, "HQ-HN-0042"));
    }
    // A bad message in the middle of the queue does not hold up the rest.
    let bad_at = q.push(Message {
        ma_chuyen: "HN-260101-99999".into(),
        ..sim::message_for(&trips[0], "TQ", at, "HQ-HN-0042")
    });
    let mut cfg = q.config();
    cfg.page = 2;
    let puller = Puller::new(t.db.clone(), cfg).unwrap();
    let releases = || count(&t.db, "SELECT COUNT(*) FROM border_customs_releases");

    // Two pages of two: three recorded, one refused and kept; all four acknowledged.
    let r1 = puller.run_once().await.unwrap();
    assert_eq!(
        (r1.recorded, r1.refused, r1.acked, r1.position.as_str()),
        (2, 0, 2, "2")
    );
    let r2 = puller.run_once().await.unwrap();
    assert_eq!(
        (r2.recorded, r2.refused, r2.acked, r2.position.as_str()),
        (1, 1, 2, "4")
    );
    assert_eq!(releases().await, 3);
    assert_eq!(q.unacked(), 0);
    let refused = customs_pull::refused(&t.db, 10).await.unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].position, bad_at);
    assert_eq!(refused[0].error["errors"][0]["code"], "trip_unknown");
    // Nothing new: nothing written.
    let before = footprint(&t.db).await;
    let r3 = puller.run_once().await.unwrap();
    assert_eq!((r3.recorded, r3.duplicates, r3.refused), (0, 0, 0));
    assert_eq!(footprint(&t.db).await, before);

    // The queue down, or the wrong key: an error kept, the position unchanged.
    q.set_down(true);
    let e = puller.run_once().await.unwrap_err();
    assert!(e.contains("503"), "{e}");
    let st = customs_pull::status(&t.db).await.unwrap();
    assert_eq!(st.position, "4");
    assert!(st.last_error.as_deref().unwrap_or_default().contains("503"));
    q.set_down(false);
    let mut wrong = q.config();
    wrong.endpoint.api_key = "sai".into();
    let e = Puller::new(t.db.clone(), wrong)
        .unwrap()
        .run_once()
        .await
        .unwrap_err();
    assert!(e.contains("401"), "{e}");
    // Back: a new decision is pulled, the error cleared.
    let late = declare(&t.db, "12C-300.09", "305987650009").await;
    q.push(sim::message_for(&late, "TD", at, "HQ-HN-0042"));
    let r = puller.run_once().await.unwrap();
    assert_eq!((r.recorded, r.acked, r.position.as_str()), (1, 1, "5"));
    let st = customs_pull::status(&t.db).await.unwrap();
    assert_eq!((st.last_error, st.refused), (None, 1));
    assert_eq!(releases().await, 4);
}

/// Two nodes pull the same queue at once: each decision goes to one of them (no duplicate);
/// a node that dies holding a lease, or after storing but before acknowledging, loses nothing:
/// the decisions come back when the lease runs out and are stored once.
#[tokio::test]
async fn two_nodes_never_both_apply_a_decision_and_a_crash_loses_none() {
    use tinhso_connectors::customs_pull::{Puller, Stored};
    let t = crate::env().await;
    let q = sim::QueueSimulator::start("khoa-hai-quan").await.unwrap();
    let at = (now_micros() / 1_000_000 - 60) * 1_000_000;
    for i in 0..6 {
        let trip = declare(
            &t.db,
            &format!("12C-400.{i:02}"),
            &format!("30598766{i:04}"),
        )
        .await;
        q.push(sim::message_for(&trip, sim::code_for(i), at, "HQ-HN-0042"));
    }
    let node = || {
        let mut cfg = q.config();
        cfg.page = 2;
        cfg.lease = std::time::Duration::from_secs(1);
        Puller::new(t.db.clone(), cfg).unwrap()
    };
    let (crashed, b, c) = (node(), node(), node());
    let releases = || count(&t.db, "SELECT COUNT(*) FROM border_customs_releases");

    // A node leases the first two and dies before storing them.
    let held = crashed.lease().await.unwrap();
    assert_eq!(positions(&held), ["1", "2"]);
    // Two nodes at once get the other four between them, never the same one.
    let (rb, rc) = tokio::join!(b.run_once(), c.run_once());
    let (rb, rc) = (rb.unwrap(), rc.unwrap());
    assert_eq!(rb.recorded + rc.recorded, 4, "{rb:?} {rc:?}");
    assert_eq!(rb.duplicates + rc.duplicates, 0, "no decision went to both");
    assert_eq!(rb.acked + rc.acked, 4);
    // The dead node's two stay invisible while its lease lasts.
    let r = b.run_once().await.unwrap();
    assert_eq!((r.recorded, r.duplicates), (0, 0));
    assert_eq!((q.unacked(), releases().await), (2, 4));

    // The lease runs out: handed out again. This node stores the first and dies before
    // acknowledging.
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let again = crashed.lease().await.unwrap();
    assert_eq!(positions(&again), ["1", "2"]);
    assert!(again.iter().all(|d| d.deliveries == 2));
    let ctx = tinhso_store::audit::Ctx {
        actor: "system:customs-queue".into(),
        request_id: "test".into(),
    };
    assert_eq!(
        crashed.store(&ctx, &again[0]).await.unwrap(),
        Stored::Recorded
    );
    assert_eq!(releases().await, 5);

    // Out again: the stored one answers duplicate (nothing written twice), the other is
    // recorded, both acknowledged; the dead node's old receipts acknowledge nothing.
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let r = c.run_once().await.unwrap();
    assert_eq!((r.recorded, r.duplicates, r.acked), (1, 1, 2), "{r:?}");
    assert_eq!(q.deliveries("1"), 3);
    assert_eq!((q.unacked(), releases().await), (0, 6));
    let stale: Vec<String> = again.iter().map(|d| d.receipt.clone()).collect();
    assert_eq!(crashed.ack(&stale).await.unwrap(), 0);
    let r = b.run_once().await.unwrap();
    assert_eq!((r.recorded, r.duplicates, r.refused), (0, 0, 0));
}

fn positions(page: &[tinhso_connectors::customs_pull::Queued]) -> Vec<&str> {
    page.iter().map(|d| d.position.as_str()).collect()
}
