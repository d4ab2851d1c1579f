//! Declarations: declare, every kind of bad input (nothing written), one active trip per
//! vehicle, corrections in place with versions and diffs, passes signed and verified.

use crate::{count, sys};
use chrono::{Duration, Utc};
use tinhso_border::declaration::{self, DeclarationInput, GoodsLineInput};
use tinhso_border::journey::Stage;
use tinhso_border::pass;
use tinhso_border::registry::DriverInput;
use tinhso_kernel::ErrorCode;
use tinhso_store::{now_micros, Db};

/// Tomorrow at `hh:mm`, Vietnam time, as the form sends it.
pub fn tomorrow_at(hhmm: &str) -> String {
    let d = (Utc::now() + Duration::hours(7) + Duration::days(1)).date_naive();
    format!("{}T{hhmm}", d.format("%Y-%m-%d"))
}

/// A valid export declaration of fresh durian at Hữu Nghị.
pub fn durian_export(plate: &str) -> DeclarationInput {
    DeclarationInput {
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
        customs_declaration: "305123456789".into(),
        goods: vec![GoodsLineInput {
            hs_code: "0810.60.00".into(),
            description: String::new(),
            quantity: 600.0,
            unit: "thùng".into(),
            weight_kg: 12_000,
        }],
    }
}

async fn footprint(db: &Db) -> Vec<i64> {
    let mut v = Vec::new();
    for t in [
        "border_trips",
        "border_goods_lines",
        "border_trip_versions",
        "border_vehicles",
        "border_drivers",
        "border_enterprises",
        "audit_log",
        "outbox",
    ] {
        v.push(count(db, &format!("SELECT COUNT(*) FROM {t}")).await);
    }
    v
}

#[tokio::test]
async fn declare_a_trip_once_with_registries_audit_and_event() {
    let t = crate::env().await;
    let trip = declaration::declare(&t.db, &sys(), "u-1", &durian_export("12c 123 45"))
        .await
        .unwrap();
    assert!(trip.code.starts_with("HN-"), "{}", trip.code);
    assert_eq!(trip.version, 1);
    assert_eq!(trip.vehicle_plate, "12C-123.45");
    assert_eq!(trip.stage, "declared");
    assert!(trip.perishable, "durian is perishable by the catalogue");
    assert_eq!(trip.quarantine, "plant");
    assert_eq!(trip.goods[0].description, "Quả sầu riêng tươi");
    assert_eq!(trip.driver_name, "Hoàng Văn Bình");
    assert_eq!(
        count(
            &t.db,
            "SELECT COUNT(*) FROM border_trip_stages WHERE stage = 'declared'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &t.db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'border.trip.declare'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &t.db,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'border.trip.declared'"
        )
        .await,
        1
    );
    // Codes count per gate and day.
    let second = declaration::declare(&t.db, &sys(), "u-1", &durian_export("12C-123.46"))
        .await
        .unwrap();
    assert_eq!(&second.code[..10], &trip.code[..10]);
    assert!(second.code.ends_with("00002"), "{}", second.code);
}

#[tokio::test]
async fn bad_declarations_name_every_field_and_write_nothing() {
    let t = crate::env().await;
    let before = footprint(&t.db).await;
    let mut bad = durian_export("12C-123.45");
    bad.enterprise_mst = "0100109107".into(); // wrong check digit
    bad.gate = "XX".into();
    bad.vehicle_plate = "12R-012.34".into(); // a trailer as the truck
    bad.driver.id_number = "12".into();
    bad.customs_declaration = "123".into();
    bad.goods[0].hs_code = "99999999".into();
    bad.goods[0].weight_kg = 0;
    let e = declaration::declare(&t.db, &sys(), "u-1", &bad)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::ValidationFailed);
    let fields: Vec<&str> = e.fields.iter().map(|f| f.field.as_str()).collect();
    for f in [
        "enterprise_mst",
        "gate",
        "vehicle.plate",
        "driver.id_number",
        "customs_declaration",
        "goods[0].hs_code",
        "goods[0].weight_kg",
    ] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    assert!(e
        .fields
        .iter()
        .all(|f| !f.message_vi.is_empty() && !f.message_en.is_empty()));

    // Arrival outside opening hours (Hữu Nghị opens 07:00–23:00).
    let mut night = durian_export("12C-123.45");
    night.expected_arrival = tomorrow_at("03:00");
    let e = declaration::declare(&t.db, &sys(), "u-1", &night)
        .await
        .unwrap_err();
    assert_eq!(e.fields[0].field, "expected_arrival");
    assert!(
        e.fields[0].message_vi.contains("07:00"),
        "{}",
        e.fields[0].message_vi
    );

    // Goods heavier than the vehicle may carry.
    let mut heavy = durian_export("12C-123.45");
    heavy.goods[0].weight_kg = 16_000;
    let e = declaration::declare(&t.db, &sys(), "u-1", &heavy)
        .await
        .unwrap_err();
    assert_eq!(e.fields[0].field, "goods");
    assert_eq!(e.fields[0].code, "overweight");

    // A direction the gate does not take (Cốc Nam: no transit).
    let mut transit = durian_export("12C-123.45");
    transit.gate = "CN".into();
    transit.direction = "transit".into();
    let e = declaration::declare(&t.db, &sys(), "u-1", &transit)
        .await
        .unwrap_err();
    assert_eq!(e.fields[0].code, "direction_at_gate");

    assert_eq!(
        footprint(&t.db).await,
        before,
        "a refused declaration writes nothing"
    );
}

#[tokio::test]
async fn one_active_trip_per_vehicle() {
    let t = crate::env().await;
    let first = declaration::declare(&t.db, &sys(), "u-1", &durian_export("12C-123.45"))
        .await
        .unwrap();
    let e = declaration::declare(&t.db, &sys(), "u-2", &durian_export("12C12345"))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);
    // Once the first trip is over, the truck declares again.
    declaration::cancel(&t.db, &sys(), &first.code, "Đổi lịch")
        .await
        .unwrap();
    declaration::declare(&t.db, &sys(), "u-2", &durian_export("12C-123.45"))
        .await
        .unwrap();
}

/// A correction by user `u-1`.
fn by_u1<'a>(
    code: &'a str,
    version: i64,
    input: &'a DeclarationInput,
    reason: &'a str,
) -> declaration::Correction<'a> {
    declaration::Correction {
        user_id: "u-1",
        code,
        version,
        input,
        reason,
    }
}

#[tokio::test]
async fn corrections_are_in_place_versioned_and_checked() {
    let t = crate::env().await;
    let trip = declaration::declare(&t.db, &sys(), "u-1", &durian_export("12C-123.45"))
        .await
        .unwrap();
    let mut fixed = durian_export("12C-123.45");
    fixed.goods[0].weight_kg = 12_500;
    fixed.goods.push(GoodsLineInput {
        hs_code: "08109010".into(),
        description: "Nhãn lồng Hưng Yên".into(),
        quantity: 50.0,
        unit: "thùng".into(),
        weight_kg: 1_000,
    });
    let v2 = declaration::correct(&t.db, &sys(), &by_u1(&trip.code, 1, &fixed, "Cân lại hàng"))
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.code, trip.code, "the same declaration, not a new one");
    assert_eq!(v2.goods.len(), 2);
    assert_eq!(v2.total_weight_kg, 13_500);
    assert_eq!(
        Some(&v2),
        declaration::get(&t.db, &trip.code).await.unwrap().as_ref(),
        "the trip returned is the trip stored"
    );
    let versions = declaration::versions(&t.db, &trip.id).await.unwrap();
    assert_eq!(versions.len(), 2);
    let changes = &versions[1].changes;
    assert_eq!(
        changes["goods[0].weight_kg"],
        ("12000".into(), "12500".into())
    );
    assert_eq!(
        changes["goods[1].hs_code"],
        (String::new(), "08109010".into())
    );
    assert!(!changes.contains_key("vehicle.plate"));
    assert_eq!(versions[1].reason, "Cân lại hàng");
    assert_eq!(
        count(
            &t.db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'border.trip.correct'"
        )
        .await,
        1
    );

    // A correction of a stale version is refused and changes nothing.
    let mut stale = fixed.clone();
    stale.goods[0].weight_kg = 11_000;
    let e = declaration::correct(&t.db, &sys(), &by_u1(&trip.code, 1, &stale, "Sửa lại"))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);
    // Nothing changed: refused.
    let e = declaration::correct(&t.db, &sys(), &by_u1(&trip.code, 2, &fixed, "Không đổi"))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::ValidationFailed);
    // A reason is required.
    let e = declaration::correct(&t.db, &sys(), &by_u1(&trip.code, 2, &stale, " "))
        .await
        .unwrap_err();
    assert_eq!(e.fields[0].field, "reason");
    // With the gate looked up by the caller (`correct_with`): no such gate is the gate
    // field's error, and nothing is written.
    let e = declaration::correct_with(
        &t.db,
        &sys(),
        &by_u1(&trip.code, 2, &stale, "Sửa lại"),
        now_micros(),
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(e.fields[0].field, "gate");
    assert_eq!(
        declaration::versions(&t.db, &trip.id).await.unwrap().len(),
        2
    );

    // At the gate the gate cannot change; after crossing nothing can.
    sqlx::query("UPDATE border_trips SET stage = 'yard' WHERE code = $1")
        .bind(&trip.code)
        .execute(t.db.pool())
        .await
        .unwrap();
    let mut moved = fixed.clone();
    moved.gate = "TT".into();
    let e = declaration::correct(&t.db, &sys(), &by_u1(&trip.code, 2, &moved, "Đổi cửa khẩu"))
        .await
        .unwrap_err();
    assert_eq!(e.fields[0].code, "gate_fixed");
    // In the yard the goods can still be corrected: the trip returned is at its stage.
    let v3 = declaration::correct(&t.db, &sys(), &by_u1(&trip.code, 2, &stale, "Cân tại bãi"))
        .await
        .unwrap();
    assert_eq!((v3.version, v3.stage()), (3, Stage::Yard));
    assert_eq!(
        Some(&v3),
        declaration::get(&t.db, &trip.code).await.unwrap().as_ref()
    );
    sqlx::query("UPDATE border_trips SET stage = 'crossed' WHERE code = $1")
        .bind(&trip.code)
        .execute(t.db.pool())
        .await
        .unwrap();
    let e = declaration::correct(
        &t.db,
        &sys(),
        &by_u1(&trip.code, 3, &fixed, "Sửa sau khi qua"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);
    assert_eq!(
        declaration::get(&t.db, &trip.code)
            .await
            .unwrap()
            .unwrap()
            .version,
        3
    );
}

#[tokio::test]
async fn the_pass_is_signed_and_verifies_offline_with_published_keys() {
    let t = crate::env().await;
    let trip = declaration::declare(&t.db, &sys(), "u-1", &durian_export("12C-123.45"))
        .await
        .unwrap();
    let now = Utc::now().timestamp();
    let p = pass::issue(&t.db, &trip, now).await.unwrap();
    assert!(p.text.starts_with("TSB1."));
    let keys = pass::published_keys(&t.db).await.unwrap();
    assert_eq!(keys.len(), 1, "the management board's key");
    let payload = pass::verify(&p.text, &keys, now + 60).unwrap();
    assert_eq!(payload.c, trip.code);
    assert_eq!(payload.p, "12C-123.45");
    assert_eq!(payload.e, 1);
    // The same trip version and time give the same pass.
    assert_eq!(pass::issue(&t.db, &trip, now).await.unwrap().text, p.text);
    // Tampering breaks it.
    let tampered = p.text.replacen('A', "B", 1);
    assert!(pass::verify(&tampered, &keys, now + 60).is_err());
    // Expired a day after the expected arrival.
    assert_eq!(
        pass::verify(
            &p.text,
            &keys,
            trip.expected_arrival / 1_000_000 + 2 * 86_400
        ),
        Err(pass::PassProblem::Expired)
    );
}
