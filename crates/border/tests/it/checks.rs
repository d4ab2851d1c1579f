//! The agencies' workbench: required checks per goods, decisions by each agency, customs
//! releases received (idempotent), the trip advancing to `checked` or turned back, officers of
//! another gate refused, service times against a hand-computed case.

use crate::declarations::durian_export;
use crate::{count, sys};
use chrono::NaiveDate;
use tinhso_border::checks::{self, DecisionInput, ReleaseInput};
use tinhso_border::declaration::{self, GoodsLineInput, Trip};
use tinhso_border::fee_payment::{self, AssessInput, FeePayment};
use tinhso_border::gates::{self, CheckKind};
use tinhso_border::journey::{self, Source, Stage};
use tinhso_identity::authz::{AuthMethod, RoleAssignment};
use tinhso_identity::{Principal, Role, Scope};
use tinhso_kernel::ErrorCode;
use tinhso_services::payment::{shared_secret, sign, Callback};
use tinhso_store::{now_micros, Db};

const HN_CUSTOMS: &str = "000.01.01.Z37";
const HN_GUARD: &str = "000.01.02.Z37";
const TT_GUARD: &str = "000.02.02.Z37";
const PLANT: &str = "000.00.03.Z37";
const ANIMAL: &str = "000.00.04.Z37";
/// The regional customs office above every gate's customs office.
const CUSTOMS_REGION: &str = "000.00.01.Z37";

fn officer(agency: &str) -> Principal {
    Principal {
        user_id: format!("u-{agency}"),
        username: format!("officer.{agency}"),
        display_name: "Cán bộ".into(),
        kind: "staff".into(),
        agency_code: Some(agency.into()),
        roles: vec![RoleAssignment {
            role: Role::BorderOfficer,
            scope: Scope::Agency(agency.into()),
        }],
        method: AuthMethod::Session,
    }
}

async fn declare(db: &Db, plate: &str, hs: &[&str]) -> Trip {
    declaration::declare(db, &sys(), "u-1", &goods_of(plate, hs))
        .await
        .unwrap()
}

/// The durian export declaration of `plate` with one 1 t line per HS code.
fn goods_of(plate: &str, hs: &[&str]) -> declaration::DeclarationInput {
    let mut input = durian_export(plate);
    input.goods = hs
        .iter()
        .map(|c| GoodsLineInput {
            hs_code: (*c).into(),
            description: String::new(),
            quantity: 10.0,
            unit: "thùng".into(),
            weight_kg: 1_000,
        })
        .collect();
    input
}

async fn into_yard(db: &Db, trip: &Trip, at: i64) {
    let mut tx = db.begin_write().await.unwrap();
    journey::advance(&mut tx, &trip.id, Stage::Yard, at, Source::Camera)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Two durian trucks declared and in the yard since an hour ago (the time returned).
async fn two_in_yard(db: &Db, plates: [&str; 2]) -> (Trip, Trip, i64) {
    let a = declare(db, plates[0], &["08106000"]).await;
    let b = declare(db, plates[1], &["08106000"]).await;
    let t0 = now_micros() - 3_600_000_000;
    into_yard(db, &a, t0).await;
    into_yard(db, &b, t0).await;
    (a, b, t0)
}

async fn stage(db: &Db, code: &str) -> Stage {
    declaration::get(db, code).await.unwrap().unwrap().stage()
}

fn release(trip: &Trip, decision: &str, at: &str) -> ReleaseInput {
    ReleaseInput {
        customs_declaration: trip.customs_declaration.clone(),
        trip_code: trip.code.clone(),
        decision: decision.into(),
        decided_at: at.into(),
        officer_ref: "HQ-HN-0042".into(),
    }
}

fn kinds(r: &[checks::Required]) -> Vec<CheckKind> {
    r.iter().map(|x| x.kind).collect()
}

#[tokio::test]
async fn required_checks_follow_the_goods_and_the_gate() {
    let t = crate::env().await;
    let hn = gates::get(&t.db, "HN").await.unwrap().unwrap();
    let cn = gates::get(&t.db, "CN").await.unwrap().unwrap();
    let durian = declare(&t.db, "12C-123.45", &["08106000"]).await;
    assert_eq!(durian.quarantine, "plant");
    assert_eq!(
        kinds(&checks::required(&hn, &durian)),
        [
            CheckKind::BorderGuard,
            CheckKind::PlantQuarantine,
            CheckKind::Customs
        ]
    );
    let mixed = declare(&t.db, "12C-123.46", &["08106000", "03046200"]).await;
    assert_eq!(mixed.quarantine, "animal,plant");
    assert_eq!(
        kinds(&checks::required(&hn, &mixed)),
        [
            CheckKind::BorderGuard,
            CheckKind::PlantQuarantine,
            CheckKind::AnimalQuarantine,
            CheckKind::Customs
        ]
    );
    let ore = declare(&t.db, "12C-123.47", &["26011100"]).await;
    assert_eq!(
        kinds(&checks::required(&hn, &ore)),
        [CheckKind::BorderGuard, CheckKind::Customs]
    );
    // Cốc Nam has no border guard post in the registry and no animal quarantine: fish still
    // needs animal quarantine, with no agency to make it.
    let r = checks::required_for(&cn, "animal");
    assert_eq!(kinds(&r), [CheckKind::AnimalQuarantine, CheckKind::Customs]);
    assert_eq!(r[0].agency, None);
    // The kinds each officer records at Hữu Nghị; a parent agency reaches its children.
    assert_eq!(
        checks::kinds_for(&t.db, &officer(HN_GUARD), &hn)
            .await
            .unwrap(),
        [CheckKind::BorderGuard]
    );
    assert_eq!(
        checks::kinds_for(&t.db, &officer(CUSTOMS_REGION), &hn)
            .await
            .unwrap(),
        [CheckKind::Customs]
    );
    assert!(checks::kinds_for(&t.db, &officer(TT_GUARD), &hn)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn every_agency_passes_and_customs_releases_then_checked() {
    let t = crate::env().await;
    let db = &t.db;
    let trip = declare(db, "12C-123.45", &["08106000"]).await;
    let t0 = now_micros() - 3_600_000_000;
    into_yard(db, &trip, t0).await;
    let pass = DecisionInput::new("pass", "");

    let o = checks::decide(
        db,
        &sys(),
        &officer(HN_GUARD),
        &trip.code,
        CheckKind::BorderGuard,
        &pass,
        t0 + 60_000_000,
    )
    .await
    .unwrap();
    assert_eq!(
        (o.status.as_str(), o.stage, o.all_clear),
        ("passed", Stage::Yard, false)
    );
    // Passing twice: the check is closed.
    let e = checks::decide(
        db,
        &sys(),
        &officer(HN_GUARD),
        &trip.code,
        CheckKind::BorderGuard,
        &pass,
        t0 + 70_000_000,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);
    // Customs is not decided on the platform.
    let e = checks::decide(
        db,
        &sys(),
        &officer(HN_CUSTOMS),
        &trip.code,
        CheckKind::Customs,
        &pass,
        t0,
    )
    .await
    .unwrap_err();
    assert_eq!(e.fields[0].code, "check_customs");

    let at = declaration::local(t0 + 120_000_000).to_rfc3339();
    let r = checks::receive_release(
        db,
        &sys(),
        &officer(HN_CUSTOMS),
        &release(&trip, "released", &at),
        now_micros(),
    )
    .await
    .unwrap();
    assert_eq!(
        (r.outcome.as_str(), r.stage.as_str(), r.all_clear),
        ("recorded", "yard", false)
    );

    let o = checks::decide(
        db,
        &sys(),
        &officer(PLANT),
        &trip.code,
        CheckKind::PlantQuarantine,
        &pass,
        t0 + 300_000_000,
    )
    .await
    .unwrap();
    assert_eq!((o.stage, o.all_clear), (Stage::Checked, true));
    assert_eq!(stage(db, &trip.code).await, Stage::Checked);
    let times = journey::stage_times(db, &trip.id).await.unwrap();
    let checked = times.iter().find(|s| s.stage == Stage::Checked).unwrap();
    assert_eq!(
        (checked.at, checked.source.as_str()),
        (t0 + 300_000_000, "officer")
    );

    // Audited and on the outbox.
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'border.check.pass'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'border.check.customs'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'border.check.decided'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'border.check.customs'"
        )
        .await,
        1
    );
    let (states, clear) = checks::states(db, &gates::get(db, "HN").await.unwrap().unwrap(), &trip)
        .await
        .unwrap();
    assert!(clear);
    assert_eq!(states.len(), 3);
    // Customs measured from the yard arrival to the release.
    let customs = states
        .iter()
        .find(|s| s.kind == CheckKind::Customs)
        .unwrap();
    let c = customs.check.as_ref().unwrap();
    assert_eq!(
        (c.started_at, c.decided_at),
        (Some(t0), Some(t0 + 120_000_000))
    );
}

#[tokio::test]
async fn the_last_two_passes_at_once_still_reach_checked() {
    let t = crate::env().await;
    let db = &t.db;
    for round in 0..5 {
        let trip = declare(db, &format!("12C-123.{:02}", 50 + round), &["08106000"]).await;
        let t0 = now_micros() - 3_600_000_000;
        into_yard(db, &trip, t0).await;
        let at = declaration::local(t0 + 60_000_000).to_rfc3339();
        checks::receive_release(
            db,
            &sys(),
            &officer(HN_CUSTOMS),
            &release(&trip, "released", &at),
            now_micros(),
        )
        .await
        .unwrap();
        let pass = DecisionInput::new("pass", "");
        let (guard, plant, ctx) = (officer(HN_GUARD), officer(PLANT), sys());
        let (a, b) = tokio::join!(
            checks::decide(
                db,
                &ctx,
                &guard,
                &trip.code,
                CheckKind::BorderGuard,
                &pass,
                t0 + 120_000_000
            ),
            checks::decide(
                db,
                &ctx,
                &plant,
                &trip.code,
                CheckKind::PlantQuarantine,
                &pass,
                t0 + 120_000_000
            ),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(
            a.all_clear || b.all_clear,
            "round {round}: one of them sees both passes"
        );
        assert_eq!(stage(db, &trip.code).await, Stage::Checked, "round {round}");
    }
}

#[tokio::test]
async fn hold_then_pass_and_reject_turns_the_trip_back() {
    let t = crate::env().await;
    let db = &t.db;
    let trip = declare(db, "12C-123.45", &["08106000"]).await;
    let t0 = now_micros() - 3_600_000_000;
    into_yard(db, &trip, t0).await;
    let plant = officer(PLANT);

    // Hold without a reason: refused, nothing written.
    let e = checks::decide(
        db,
        &sys(),
        &plant,
        &trip.code,
        CheckKind::PlantQuarantine,
        &DecisionInput::new("hold", " "),
        t0,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::ValidationFailed);
    assert_eq!(e.fields[0].field, "reason");
    assert_eq!(count(db, "SELECT COUNT(*) FROM border_checks").await, 0);

    checks::start(
        db,
        &sys(),
        &plant,
        &trip.code,
        CheckKind::PlantQuarantine,
        t0 + 10_000_000,
    )
    .await
    .unwrap();
    let o = checks::decide(
        db,
        &sys(),
        &plant,
        &trip.code,
        CheckKind::PlantQuarantine,
        &DecisionInput::new("hold", "Lấy mẫu kiểm tra sâu bệnh"),
        t0 + 20_000_000,
    )
    .await
    .unwrap();
    assert_eq!(o.status, "held");
    let c = checks::checks_of(db, &trip.id).await.unwrap().remove(0);
    assert_eq!(
        (c.started_at, c.decided_at, c.reason.as_deref()),
        (
            Some(t0 + 10_000_000),
            None,
            Some("Lấy mẫu kiểm tra sâu bệnh")
        )
    );
    let o = checks::decide(
        db,
        &sys(),
        &plant,
        &trip.code,
        CheckKind::PlantQuarantine,
        &DecisionInput::new("pass", ""),
        t0 + 900_000_000,
    )
    .await
    .unwrap();
    assert_eq!(o.status, "passed");
    let c = checks::checks_of(db, &trip.id).await.unwrap().remove(0);
    assert_eq!(
        (c.started_at, c.decided_at),
        (Some(t0 + 10_000_000), Some(t0 + 900_000_000))
    );
    let ds: Vec<String> = checks::decisions(db, &trip.id)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.decision)
        .collect();
    assert_eq!(ds, ["start", "hold", "pass"]);

    // The border guard rejects: the trip is turned back, with the reason on the audit trail.
    let o = checks::decide(
        db,
        &sys(),
        &officer(HN_GUARD),
        &trip.code,
        CheckKind::BorderGuard,
        &DecisionInput::new("reject", "Lái xe không có hộ chiếu hợp lệ"),
        t0 + 950_000_000,
    )
    .await
    .unwrap();
    assert_eq!((o.status.as_str(), o.stage), ("rejected", Stage::Returned));
    assert_eq!(stage(db, &trip.code).await, Stage::Returned);
    let reason: String =
        sqlx::query_scalar("SELECT summary FROM audit_log WHERE action = 'border.check.reject'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert!(reason.contains("hộ chiếu"), "{reason}");
    // The journey is over: no more checks.
    let e = checks::decide(
        db,
        &sys(),
        &plant,
        &trip.code,
        CheckKind::PlantQuarantine,
        &DecisionInput::new("pass", ""),
        t0,
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);
}

#[tokio::test]
async fn another_gates_agency_and_checks_not_needed_are_refused() {
    let t = crate::env().await;
    let db = &t.db;
    let trip = declare(db, "12C-123.45", &["08106000"]).await;
    let pass = DecisionInput::new("pass", "");
    let e = checks::decide(
        db,
        &sys(),
        &officer(TT_GUARD),
        &trip.code,
        CheckKind::BorderGuard,
        &pass,
        now_micros(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
    // The border guard does not record plant quarantine.
    let e = checks::decide(
        db,
        &sys(),
        &officer(HN_GUARD),
        &trip.code,
        CheckKind::PlantQuarantine,
        &pass,
        now_micros(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
    // Durian needs no animal quarantine.
    let e = checks::decide(
        db,
        &sys(),
        &officer(ANIMAL),
        &trip.code,
        CheckKind::AnimalQuarantine,
        &pass,
        now_micros(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.fields[0].code, "check_not_required");
    // Tân Thanh's customs cannot release a Hữu Nghị trip.
    let at = declaration::local(now_micros()).to_rfc3339();
    let e = checks::receive_release(
        db,
        &sys(),
        &officer("000.02.01.Z37"),
        &release(&trip, "released", &at),
        now_micros(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::Forbidden);
    assert_eq!(count(db, "SELECT COUNT(*) FROM border_checks").await, 0);
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM border_customs_releases").await,
        0
    );
}

#[tokio::test]
async fn customs_releases_are_idempotent_and_the_latest_wins() {
    let t = crate::env().await;
    let db = &t.db;
    let trip = declare(db, "12C-123.45", &["26011100"]).await;
    let t0 = now_micros() - 7_200_000_000;
    into_yard(db, &trip, t0).await;
    let hq = officer(HN_CUSTOMS);
    let now = now_micros();
    let held_at = declaration::local(t0 + 600_000_000).to_rfc3339();
    let rel_at = declaration::local(t0 + 1_200_000_000).to_rfc3339();

    // Bad input: every field named, nothing written.
    let bad = ReleaseInput {
        customs_declaration: "305".into(),
        trip_code: trip.code.clone(),
        decision: "ok".into(),
        decided_at: declaration::local(now + 3_600_000_000).to_rfc3339(),
        officer_ref: String::new(),
    };
    let e = checks::receive_release(db, &sys(), &hq, &bad, now)
        .await
        .unwrap_err();
    let fields: Vec<&str> = e.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "customs_declaration",
            "decision",
            "decided_at",
            "officer_ref"
        ]
    );
    let mut other = release(&trip, "released", &rel_at);
    other.customs_declaration = "305000000001".into();
    let e = checks::receive_release(db, &sys(), &hq, &other, now)
        .await
        .unwrap_err();
    assert_eq!(e.fields[0].code, "customs_declaration_other");
    let mut unknown = release(&trip, "released", &rel_at);
    unknown.trip_code = "HN-000000-99999".into();
    let e = checks::receive_release(db, &sys(), &hq, &unknown, now)
        .await
        .unwrap_err();
    assert_eq!(e.fields[0].code, "trip_unknown");
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM border_customs_releases").await,
        0
    );

    let r = checks::receive_release(db, &sys(), &hq, &release(&trip, "held", &held_at), now)
        .await
        .unwrap();
    assert_eq!(r.outcome, "recorded");
    let r = checks::receive_release(db, &sys(), &hq, &release(&trip, "held", &held_at), now)
        .await
        .unwrap();
    assert_eq!(r.outcome, "duplicate");
    let r = checks::receive_release(db, &sys(), &hq, &release(&trip, "released", &rel_at), now)
        .await
        .unwrap();
    assert_eq!(
        (r.outcome.as_str(), r.decision.as_str()),
        ("recorded", "released")
    );
    // The hold arriving again late does not undo the release.
    let r = checks::receive_release(db, &sys(), &hq, &release(&trip, "held", &held_at), now)
        .await
        .unwrap();
    assert_eq!(
        (r.outcome.as_str(), r.decision.as_str()),
        ("superseded", "released")
    );
    let r = checks::receive_release(db, &sys(), &hq, &release(&trip, "released", &rel_at), now)
        .await
        .unwrap();
    assert_eq!(r.outcome, "duplicate");
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM border_customs_releases").await,
        1
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'border.check.customs'"
        )
        .await,
        2
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'border.check.customs'"
        )
        .await,
        2
    );
    // Ore needs border guard and customs: the guard's pass completes it. A parent agency
    // (the regional customs office) also reaches the gate's customs.
    let o = checks::decide(
        db,
        &sys(),
        &officer(HN_GUARD),
        &trip.code,
        CheckKind::BorderGuard,
        &DecisionInput::new("pass", ""),
        t0 + 1_500_000_000,
    )
    .await
    .unwrap();
    assert_eq!(o.stage, Stage::Checked);
    let r = checks::receive_release(
        db,
        &sys(),
        &officer(CUSTOMS_REGION),
        &release(&trip, "released", &rel_at),
        now,
    )
    .await
    .unwrap();
    assert_eq!(r.outcome, "duplicate");

    // Customs rejecting another trip turns it back.
    let other = declare(db, "12C-123.46", &["26011100"]).await;
    let r = checks::receive_release(db, &sys(), &hq, &release(&other, "rejected", &rel_at), now)
        .await
        .unwrap();
    assert_eq!(r.stage, "returned");
}

#[tokio::test]
async fn service_times_per_agency_match_a_hand_computed_day() {
    let t = crate::env().await;
    let db = &t.db;
    // 2026-11-20, Vietnam time.
    let day = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    let morning = declaration::parse_local("2026-11-20T08:00").unwrap();
    // Border guard: 5 checks taking 60, 120, 180, 240, 600 s → p50 = 180 s (rank 3),
    // p90 = 600 s (rank ⌈4.5⌉ = 5).
    let guard = [60, 120, 180, 240, 600];
    // Plant quarantine: 2 checks, 300 and 900 s → p50 = 300 (rank 1), p90 = 900 (rank 2).
    let plant = [300, 900];
    let mut plates = 0;
    let mut trips = Vec::new();
    for i in 0..guard.len().max(plant.len()) {
        plates += 1;
        let trip = declare(db, &format!("12C-123.{:02}", 40 + plates), &["08106000"]).await;
        trips.push((i, trip));
    }
    for (i, trip) in &trips {
        let start = morning + *i as i64 * 3_600_000_000;
        // Write the checks' times directly (the clock of the test is today).
        if let Some(s) = guard.get(*i) {
            set_check(
                db,
                trip,
                "border_guard",
                HN_GUARD,
                start,
                start + s * 1_000_000,
                "passed",
            )
            .await;
        }
        if let Some(s) = plant.get(*i) {
            set_check(
                db,
                trip,
                "plant_quarantine",
                PLANT,
                start,
                start + s * 1_000_000,
                "passed",
            )
            .await;
        }
    }
    // Not counted: held (not closed), and a check closed the next day.
    set_check(
        db,
        &trips[2].1,
        "customs",
        HN_CUSTOMS,
        morning,
        morning + 10_000_000,
        "held",
    )
    .await;
    let tomorrow = declaration::parse_local("2026-11-21T00:30").unwrap();
    set_check(
        db,
        &trips[3].1,
        "customs",
        HN_CUSTOMS,
        tomorrow - 3_600_000_000,
        tomorrow,
        "passed",
    )
    .await;

    let st = checks::service_times(db, Some("HN"), day).await.unwrap();
    let got: Vec<(CheckKind, usize, i64, i64)> = st
        .iter()
        .map(|s| (s.kind, s.checks, s.p50_s, s.p90_s))
        .collect();
    assert_eq!(
        got,
        [
            (CheckKind::BorderGuard, 5, 180, 600),
            (CheckKind::PlantQuarantine, 2, 300, 900)
        ]
    );
    let next = checks::service_times(db, None, day.succ_opt().unwrap())
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!((next[0].kind, next[0].p50_s), (CheckKind::Customs, 3_600));
    assert!(checks::service_times(db, Some("TT"), day)
        .await
        .unwrap()
        .is_empty());
}

async fn set_check(
    db: &Db,
    trip: &Trip,
    kind: &str,
    agency: &str,
    started: i64,
    decided: i64,
    status: &str,
) {
    let mut tx = db.begin_write().await.unwrap();
    sqlx::query(
        "INSERT INTO border_checks (trip_id, kind, gate_code, agency_code, status, started_at, \
         decided_at, updated_at) VALUES ($1, $2, 'HN', $3, $4, $5, $6, $7)",
    )
    .bind(&trip.id)
    .bind(kind)
    .bind(agency)
    .bind(status)
    .bind(started)
    .bind((status != "held").then_some(decided))
    .bind(decided)
    .execute(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// A batch of starts, decisions and releases in one transaction: results in input order, a
/// later item sees an earlier one (a hold then a pass; a rejection, then the trip is over),
/// refused items write nothing (checks, decisions, audit, outbox) and the audit chain holds.
#[tokio::test]
async fn a_batch_of_checks_keeps_order_and_refused_items_change_nothing() {
    use checks::{CheckDone, CheckOp, DecideItem};
    let t = crate::env().await;
    let db = &t.db;
    let (a, b, t0) = two_in_yard(db, ["12C-123.45", "12C-123.46"]).await;
    let (plant, guard, other_guard, customs) = (
        officer(PLANT),
        officer(HN_GUARD),
        officer(TT_GUARD),
        officer(HN_CUSTOMS),
    );
    let decide = |p, trip: &Trip, kind, d: &str, why: &str, at| CheckOp::Decide {
        principal: p,
        trip_code: trip.code.clone(),
        kind,
        input: DecisionInput::new(d, why),
        at,
    };
    let audit_before = count(db, "SELECT COUNT(*) FROM audit_log").await;
    let outbox_before = count(db, "SELECT COUNT(*) FROM outbox").await;
    let release_at = declaration::local(t0 + 120_000_000).to_rfc3339();
    let ops = vec![
        CheckOp::Start {
            principal: &plant,
            trip_code: a.code.clone(),
            kind: CheckKind::PlantQuarantine,
            at: t0 + 10_000_000,
        },
        decide(
            &plant,
            &a,
            CheckKind::PlantQuarantine,
            "hold",
            "Lấy mẫu",
            t0 + 20_000_000,
        ),
        // After the hold in the same batch: closes it.
        decide(
            &plant,
            &a,
            CheckKind::PlantQuarantine,
            "pass",
            "",
            t0 + 30_000_000,
        ),
        // Another gate's border guard: 403.
        decide(
            &other_guard,
            &a,
            CheckKind::BorderGuard,
            "pass",
            "",
            t0 + 40_000_000,
        ),
        // A hold without a reason: 422.
        decide(
            &plant,
            &b,
            CheckKind::PlantQuarantine,
            "hold",
            " ",
            t0 + 40_000_000,
        ),
        decide(
            &plant,
            &b,
            CheckKind::PlantQuarantine,
            "reject",
            "Sâu đục quả",
            t0 + 50_000_000,
        ),
        // The trip was turned back by the item before: 409.
        decide(
            &guard,
            &b,
            CheckKind::BorderGuard,
            "pass",
            "",
            t0 + 60_000_000,
        ),
        CheckOp::Release {
            principal: &customs,
            input: release(&a, "released", &release_at),
            now: now_micros(),
        },
        // Another declaration number than the trip's: 422.
        CheckOp::Release {
            principal: &customs,
            input: ReleaseInput {
                customs_declaration: "999999999999".into(),
                ..release(&a, "released", &release_at)
            },
            now: now_micros(),
        },
        // The same release again: a duplicate, nothing written.
        CheckOp::Release {
            principal: &customs,
            input: release(&a, "released", &release_at),
            now: now_micros(),
        },
        decide(
            &guard,
            &a,
            CheckKind::BorderGuard,
            "pass",
            "",
            t0 + 300_000_000,
        ),
    ];
    let out = checks::record_many(db, &sys(), &ops).await.unwrap();
    let statuses: Vec<u16> = out
        .iter()
        .map(|r| r.as_ref().map(|_| 200).unwrap_or_else(|e| e.status()))
        .collect();
    assert_eq!(
        statuses,
        [200, 200, 200, 403, 422, 200, 409, 200, 422, 200, 200]
    );
    match &out[2] {
        Ok(CheckDone::Decided(o)) => {
            assert_eq!((o.status.as_str(), o.all_clear), ("passed", false))
        }
        other => panic!("{other:?}"),
    }
    match &out[5] {
        Ok(CheckDone::Decided(o)) => assert_eq!(o.stage, Stage::Returned),
        other => panic!("{other:?}"),
    }
    match &out[9] {
        Ok(CheckDone::Released(o)) => assert_eq!(o.outcome, "duplicate"),
        other => panic!("{other:?}"),
    }
    match &out[10] {
        Ok(CheckDone::Decided(o)) => {
            assert_eq!(
                (o.trip_code.as_str(), o.stage, o.all_clear),
                (a.code.as_str(), Stage::Checked, true)
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(stage(db, &a.code).await, Stage::Checked);
    assert_eq!(stage(db, &b.code).await, Stage::Returned);
    // Written: A's plant (start, hold, pass), B's reject, A's release and guard pass.
    let audits = [
        ("border.check.start", 1),
        ("border.check.hold", 1),
        ("border.check.pass", 2),
        ("border.check.reject", 1),
        ("border.check.customs", 1),
    ];
    for (action, n) in audits {
        let sql = format!("SELECT COUNT(*) FROM audit_log WHERE action = '{action}'");
        assert_eq!(count(db, &sql).await, n, "{action}");
    }
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM audit_log").await - audit_before,
        6
    );
    // Outbox: started, 4 decided, customs, and the stage moves (A checked, B returned).
    let topics = [
        ("border.check.started", 1),
        ("border.check.decided", 4),
        ("border.check.customs", 1),
    ];
    for (topic, n) in topics {
        let sql = format!("SELECT COUNT(*) FROM outbox WHERE topic = '{topic}'");
        assert_eq!(count(db, &sql).await, n, "{topic}");
    }
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM outbox").await - outbox_before,
        8
    );
    assert_eq!(
        count(
            db,
            &format!(
                "SELECT COUNT(*) FROM border_checks WHERE trip_id = '{}'",
                b.id
            )
        )
        .await,
        1,
        "B has its refused plant check only: the refused guard pass wrote no row"
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM border_check_decisions").await,
        6,
        "start, hold, pass, reject, customs release, pass"
    );
    let chain = tinhso_store::audit::verify(db).await.unwrap();
    assert_eq!(chain.first_broken, None);

    // The thin batch functions answer in input order too.
    let c = declare(db, "12C-123.47", &["08106000"]).await;
    into_yard(db, &c, t0).await;
    let items = vec![
        DecideItem {
            principal: &guard,
            trip_code: "HN-000000-00000".into(),
            kind: CheckKind::BorderGuard,
            input: DecisionInput::new("pass", ""),
            at: t0,
        },
        DecideItem {
            principal: &guard,
            trip_code: c.code.clone(),
            kind: CheckKind::BorderGuard,
            input: DecisionInput::new("pass", ""),
            at: t0 + 1,
        },
    ];
    let out = checks::decide_many(db, &sys(), &items).await.unwrap();
    assert_eq!(out[0].as_ref().unwrap_err().status(), 404);
    assert_eq!(out[1].as_ref().unwrap().trip_code, c.code);
    let out = checks::receive_release_many(
        db,
        &sys(),
        &customs,
        &[
            release(&c, "held", &release_at),
            release(&c, "maybe", &release_at),
        ],
        now_micros(),
    )
    .await
    .unwrap();
    assert_eq!(out[0].as_ref().unwrap().decision, "held");
    assert_eq!(out[1].as_ref().unwrap_err().status(), 422);
    let chain = tinhso_store::audit::verify(db).await.unwrap();
    assert_eq!(chain.first_broken, None);
}

/// Prepayment (nộp phí trước): a fee assessed and paid for a trip before the truck arrives
/// leaves the journey at `declared` (the truck is not counted as arrived); when its checks
/// clear it goes to `checked` and on to `paid` at that moment, and nothing asks for the fee
/// again.
/// The batch reads every trip it names in one statement: a code with no trip in the middle
/// of the batch (a decision: 404; a release: 422) is refused and writes nothing, the trips
/// before and after it are found and kept, and a code sent with spaces is the same trip.
#[tokio::test]
async fn a_batch_naming_an_unknown_trip_refuses_that_item_only() {
    use checks::{CheckDone, CheckOp};
    let t = crate::env().await;
    let db = &t.db;
    let (a, b, t0) = two_in_yard(db, ["12C-223.45", "12C-223.46"]).await;
    let (plant, customs) = (officer(PLANT), officer(HN_CUSTOMS));
    let unknown = "HN-000101-99999".to_string();
    let audit_before = count(db, "SELECT COUNT(*) FROM audit_log").await;
    let outbox_before = count(db, "SELECT COUNT(*) FROM outbox").await;
    let release_at = declaration::local(t0 + 120_000_000).to_rfc3339();
    let ops = vec![
        CheckOp::Start {
            principal: &plant,
            trip_code: a.code.clone(),
            kind: CheckKind::PlantQuarantine,
            at: t0 + 10_000_000,
        },
        CheckOp::Decide {
            principal: &plant,
            trip_code: unknown.clone(),
            kind: CheckKind::PlantQuarantine,
            input: DecisionInput::new("pass", ""),
            at: t0 + 20_000_000,
        },
        CheckOp::Release {
            principal: &customs,
            input: ReleaseInput {
                trip_code: unknown.clone(),
                ..release(&a, "released", &release_at)
            },
            now: now_micros(),
        },
        CheckOp::Decide {
            principal: &plant,
            trip_code: format!("  {} ", b.code),
            kind: CheckKind::PlantQuarantine,
            input: DecisionInput::new("pass", ""),
            at: t0 + 30_000_000,
        },
        CheckOp::Decide {
            principal: &plant,
            trip_code: a.code.clone(),
            kind: CheckKind::PlantQuarantine,
            input: DecisionInput::new("pass", ""),
            at: t0 + 40_000_000,
        },
    ];
    let out = checks::record_many(db, &sys(), &ops).await.unwrap();
    let statuses: Vec<u16> = out
        .iter()
        .map(|r| r.as_ref().map(|_| 200).unwrap_or_else(|e| e.status()))
        .collect();
    assert_eq!(statuses, [200, 404, 422, 200, 200]);
    match &out[3] {
        Ok(CheckDone::Decided(o)) => {
            assert_eq!(
                (o.trip_code.as_str(), o.status.as_str()),
                (b.code.as_str(), "passed")
            )
        }
        other => panic!("{other:?}"),
    }
    // Kept: A's start and pass, B's pass — three audit entries, three events.
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM audit_log").await - audit_before,
        3
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM outbox").await - outbox_before,
        3
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM border_check_decisions").await,
        3,
        "A's start and pass, B's pass: nothing of the unknown trip's items"
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM border_customs_releases").await,
        0
    );
    for trip in [&a, &b] {
        let rows = checks::checks_of(db, &trip.id).await.unwrap();
        let plant: Vec<&str> = rows
            .iter()
            .filter(|r| r.kind == CheckKind::PlantQuarantine)
            .map(|r| r.status.as_str())
            .collect();
        assert_eq!(plant, ["passed"], "{}", trip.code);
    }
}

#[tokio::test]
async fn a_fee_paid_before_arrival_moves_the_trip_to_paid_when_its_checks_clear() {
    let t = crate::env().await;
    let db = &t.db;
    let trip = declare(db, "12C-123.45", &["08106000"]).await;
    let input = AssessInput {
        trip_code: trip.code.clone(),
        ..AssessInput::default()
    };
    fee_payment::assess(db, &sys(), &input).await.unwrap();
    let p = fee_payment::request_payment(db, &sys(), &trip.code)
        .await
        .unwrap();
    let r = pay_at(db, &p, "TXN-PRE", now_micros() - 2 * 3_600_000_000)
        .await
        .unwrap();
    assert_eq!(r.payment.status, "paid");
    assert_eq!(stage(db, &trip.code).await, Stage::Declared);
    let t0 = now_micros() - 3_600_000_000;
    into_yard(db, &trip, t0).await;
    assert_eq!(stage(db, &trip.code).await, Stage::Yard);
    let pass = DecisionInput::new("pass", "");
    for (who, kind, at) in [
        (HN_GUARD, CheckKind::BorderGuard, t0 + 60_000_000),
        (PLANT, CheckKind::PlantQuarantine, t0 + 120_000_000),
    ] {
        let o = checks::decide(db, &sys(), &officer(who), &trip.code, kind, &pass, at)
            .await
            .unwrap();
        assert_eq!(o.stage, Stage::Yard);
    }
    let released = t0 + 300_000_000;
    let r = checks::receive_release(
        db,
        &sys(),
        &officer(HN_CUSTOMS),
        &release(
            &trip,
            "released",
            &declaration::local(released).to_rfc3339(),
        ),
        now_micros(),
    )
    .await
    .unwrap();
    assert_eq!((r.stage.as_str(), r.all_clear), ("paid", true));
    assert_eq!(stage(db, &trip.code).await, Stage::Paid);
    let times = journey::stage_times(db, &trip.id).await.unwrap();
    let at = |s: Stage| {
        let x = times.iter().find(|x| x.stage == s).unwrap();
        (x.at, x.source.clone())
    };
    assert_eq!(at(Stage::Checked), (released, "customs".to_string()));
    assert_eq!(at(Stage::Paid), (released, "payment".to_string()));
    // Nothing asks for the fee again; assessing it again with nothing changed writes
    // nothing.
    let e = fee_payment::request_payment(db, &sys(), &trip.code)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 409);
    let again = fee_payment::assess(db, &sys(), &input).await.unwrap();
    assert_eq!((again.id, again.status.as_str()), (p.assessment_id, "paid"));
    assert_eq!(fee_payment::history(db, &trip.code).await.unwrap().len(), 1);
}

/// The gateway's signed `paid` callback for `p`, paid at `paid_at` (Unix µs).
async fn pay_at(
    db: &Db,
    p: &FeePayment,
    txn: &str,
    paid_at: i64,
) -> Result<fee_payment::CallbackResult, tinhso_kernel::AppError> {
    let cb = Callback {
        payment_id: p.id.clone(),
        txn_id: txn.into(),
        amount_vnd: p.amount_vnd,
        status: "paid".into(),
        paid_at: declaration::local(paid_at).to_rfc3339(),
    };
    let body = serde_json::to_vec(&cb).unwrap();
    let sig = sign(&shared_secret(), &body);
    let now_s = now_micros() / 1_000_000;
    fee_payment::callback(
        db,
        &sys(),
        &body,
        Some(&sig),
        Some(&now_s.to_string()),
        now_s,
    )
    .await
}

/// A trip whose fee was paid before arrival, and whose declaration then gains a line of ore
/// (×5): assessing it again asks for a top-up (thu bổ sung) of the difference, with its own
/// VietQR request `PHI HT <trip> BS`; until the top-up is paid the trip is not cleared to
/// cross (its checks clear to `checked`, not `paid`); the gateway's callback pays it, with its
/// own receipt, and the trip moves on to `paid` and is cleared. Replays change nothing.
#[tokio::test]
async fn a_paid_trip_whose_declaration_gains_a_line_pays_a_top_up_before_it_is_cleared() {
    use tinhso_border::sim;
    let t = crate::env().await;
    let db = &t.db;
    let plate = "12C-135.79";
    let trip = declare(db, plate, &["08106000"]).await;
    let input = AssessInput {
        trip_code: trip.code.clone(),
        ..AssessInput::default()
    };
    let base = fee_payment::assess(db, &sys(), &input).await.unwrap();
    let p = fee_payment::request_payment(db, &sys(), &trip.code)
        .await
        .unwrap();
    pay_at(db, &p, "TXN-BASE", now_micros() - 2 * 3_600_000_000)
        .await
        .unwrap();
    // The declaration gains a line of iron ore.
    let corrected = declaration::correct(
        db,
        &sys(),
        &declaration::Correction {
            user_id: "u-1",
            code: &trip.code,
            version: trip.version,
            input: &goods_of(plate, &["08106000", "26011100"]),
            reason: "Bổ sung dòng hàng quặng sắt",
        },
    )
    .await
    .unwrap();
    let topup = fee_payment::assess(db, &sys(), &input).await.unwrap();
    assert_eq!(topup.topup_of.as_deref(), Some(base.id.as_str()));
    assert_eq!(topup.status, "due");
    assert_eq!(topup.trip_version, corrected.version);
    assert!(topup.quote.amount.0 > base.amount_vnd, "ore costs more");
    assert_eq!(topup.amount_vnd, topup.quote.amount.0 - base.amount_vnd);
    assert_eq!(
        topup.collector_vnd + topup.budget_vnd,
        topup.amount_vnd,
        "shares add up"
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'border.fee.assess' \
             AND summary LIKE '%declaration_corrected%'"
        )
        .await,
        1
    );
    // The same again: nothing new.
    let same = fee_payment::assess(db, &sys(), &input).await.unwrap();
    assert_eq!(same.id, topup.id);
    // The top-up's own request, the same when asked twice.
    let ask = fee_payment::request_payment(db, &sys(), &trip.code)
        .await
        .unwrap();
    assert_eq!(ask.purpose, format!("PHI HT {} BS", trip.code));
    assert_eq!(
        (ask.assessment_id.as_str(), ask.amount_vnd),
        (topup.id.as_str(), topup.amount_vnd)
    );
    let again = fee_payment::request_payment(db, &sys(), &trip.code)
        .await
        .unwrap();
    assert_eq!(again.id, ask.id);
    // The truck comes; its checks clear, but the top-up is due: `checked`, not cleared.
    let t0 = now_micros() - 3_600_000_000;
    into_yard(db, &trip, t0).await;
    let pass = DecisionInput::new("pass", "");
    for (who, kind, at) in [
        (HN_GUARD, CheckKind::BorderGuard, t0 + 60_000_000),
        (PLANT, CheckKind::PlantQuarantine, t0 + 120_000_000),
    ] {
        checks::decide(db, &sys(), &officer(who), &trip.code, kind, &pass, at)
            .await
            .unwrap();
    }
    let released = declaration::local(t0 + 300_000_000).to_rfc3339();
    let r = checks::receive_release(
        db,
        &sys(),
        &officer(HN_CUSTOMS),
        &release(&trip, "released", &released),
        now_micros(),
    )
    .await
    .unwrap();
    assert_eq!((r.stage.as_str(), r.all_clear), ("checked", true));
    let gate_list = gates::list(db).await.unwrap();
    let cleared = sim::cleared_to_cross(db, &gate_list).await.unwrap();
    assert!(!cleared.contains(&trip.id), "a top-up is due");
    // The top-up paid by the gateway: its receipt, the trip paid and cleared.
    let paid = pay_at(db, &ask, "TXN-TOPUP", now_micros()).await.unwrap();
    assert!(!paid.replayed);
    let no = paid.payment.receipt_no.clone().unwrap();
    let receipt = fee_payment::receipt(db, &no).await.unwrap().unwrap();
    assert_eq!(receipt.amount_vnd, topup.amount_vnd);
    assert_eq!(stage(db, &trip.code).await, Stage::Paid);
    let cleared = sim::cleared_to_cross(db, &gate_list).await.unwrap();
    assert!(cleared.contains(&trip.id));
    // Replays: the same callback changes nothing; nothing more is asked for.
    let replay = pay_at(db, &ask, "TXN-TOPUP", now_micros()).await.unwrap();
    assert!(replay.replayed);
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM border_fee_payments WHERE status = 'paid'"
        )
        .await,
        2
    );
    assert_eq!(
        fee_payment::request_payment(db, &sys(), &trip.code)
            .await
            .unwrap_err()
            .status(),
        409
    );
    let topups = fee_payment::topups(db, &trip.code).await.unwrap();
    assert_eq!(topups.len(), 1);
    assert_eq!(topups[0].status, "paid");
}
