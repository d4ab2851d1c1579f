//! The agencies' workbench over HTTP: a camera read through the events API moves a truck into
//! the yard; customs' release arrives through the API (from the customs officer, replayed by a
//! customs system's token: a duplicate), other gates' customs are refused; the border guard and
//! plant quarantine decide on the trip page (here the `quantri` admin, whose roles reach every
//! agency) and the truck is `checked`; a read that lands in review is attached from the page;
//! an officer overrides a stage with a reason.

use crate::{hidden_field, json, spawn_app, text, TestApp};
use chrono::{Duration, Utc};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use tinhso_identity::accounts::{self, NewAccount};
use tinhso_identity::authz::RoleAssignment;
use tinhso_identity::{Permission, Role, Scope};
use tinhso_store::audit::Ctx;

const ENTERPRISE: &str = "4900123467";
const CUSTOMS: &str = "haiquan.huunghi";

fn tomorrow() -> String {
    (Utc::now() + Duration::hours(7) + Duration::days(1))
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}

fn declaration(plate: &str, driver_id: &str) -> Value {
    json!({
        "enterprise_mst": ENTERPRISE,
        "enterprise_name": "Công ty TNHH Xuất nhập khẩu Hữu Nghị",
        "gate": "HN",
        "direction": "export",
        "expected_arrival": format!("{}T10:00", tomorrow()),
        "vehicle_plate": plate,
        "vehicle_payload_kg": 20000,
        "driver": {"id_kind": "cccd", "id_number": driver_id, "full_name": "Hoàng Văn Bình", "phone": "0912345678"},
        "customs_declaration": "305123456789",
        "goods": [{"hs_code": "0810.60.00", "quantity": 800, "unit": "thùng", "weight_kg": 16000}]
    })
}

async fn declare(app: &TestApp, plate: &str, driver_id: &str) -> Value {
    let (ent, csrf) = app.api_signed_in(ENTERPRISE).await;
    let resp = ent
        .post(app.url("/api/v1/border/trips"))
        .header("x-csrf-token", &csrf)
        .json(&declaration(plate, driver_id))
        .send()
        .await
        .unwrap();
    let (s, trip) = json(resp).await;
    assert_eq!(s, StatusCode::CREATED, "{trip}");
    trip
}

async fn post_json(
    c: &Client,
    app: &TestApp,
    csrf: &str,
    path: &str,
    body: &Value,
) -> (StatusCode, Value) {
    json(
        c.post(app.url(path))
            .header("x-csrf-token", csrf)
            .json(body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A page form posted by the signed-in `c` to `path`, with the page's `csrf` field first.
async fn post_form(
    c: &Client,
    app: &TestApp,
    path: &str,
    csrf: &str,
    fields: &[(&str, &str)],
) -> Response {
    let mut form = vec![("csrf", csrf)];
    form.extend_from_slice(fields);
    c.post(app.url(path)).form(&form).send().await.unwrap()
}

/// JSON posted to `path` with the API token of a system (`None`: by nobody).
async fn post_as(app: &TestApp, token: Option<&str>, path: &str, body: &Value) -> Response {
    let mut req = crate::client().post(app.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.json(body).send().await.unwrap()
}

fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

async fn stage(app: &TestApp, code: &str) -> String {
    sqlx::query_scalar("SELECT stage FROM border_trips WHERE code = $1")
        .bind(code)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

/// A staff account of `agency` (BorderOfficer there) and an API token of it with
/// BorderInspect, as a customs system or a camera gateway would hold.
async fn officer_token(app: &TestApp, username: &str, agency: &str) -> String {
    let ctx = Ctx {
        actor: "cli:test".into(),
        request_id: "req-test".into(),
    };
    let created = accounts::create(
        &app.db,
        &ctx,
        &NewAccount {
            username: Some(username.into()),
            display_name: "Hệ thống của lực lượng".into(),
            kind: "staff".into(),
            agency_code: Some(agency.into()),
            password: "Mat-khau-rat-dai-2026!".into(),
            roles: vec![RoleAssignment {
                role: Role::BorderOfficer,
                scope: Scope::Agency(agency.into()),
            }],
            ..NewAccount::default()
        },
    )
    .await
    .unwrap();
    let (token, _) = tinhso_identity::auth::create_token(
        &app.db,
        &ctx,
        &created.account.id,
        "gateway",
        &[Permission::BorderInspect],
        30,
    )
    .await
    .unwrap();
    token
}

fn release(code: &str, decision: &str) -> Value {
    json!({
        "customs_declaration": "305123456789",
        "trip_code": code,
        "decision": decision,
        "decided_at": (Utc::now() - Duration::minutes(1)).to_rfc3339(),
        "officer_ref": "HQ-HN-0042"
    })
}

#[tokio::test]
async fn customs_release_and_agency_decisions_take_a_truck_to_checked() {
    let app = spawn_app().await;
    let trip = declare(&app, "12C-123.45", "020090001234").await;
    let code = trip["code"].as_str().unwrap().to_string();
    let trip_id = trip["id"].as_str().unwrap().to_string();
    let (hq, csrf) = app.api_signed_in(CUSTOMS).await;

    // The yard camera reads the plate: the truck is in the yard. The same event again: duplicate.
    let read = json!({"events": [{"event_id": "cam-hn-1", "at": now_micros() - 600_000_000, "kind": "camera",
        "camera_id": "CAM-HN-Y1", "plate_text": "12C12345", "confidence": 0.97}]});
    let (s, r) = post_json(&hq, &app, &csrf, "/api/v1/border/events", &read).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["results"][0]["outcome"], "exact", "{r}");
    assert_eq!(r["results"][0]["trip_id"], trip_id.as_str());
    let (_, r) = post_json(&hq, &app, &csrf, "/api/v1/border/events", &read).await;
    assert_eq!(r["results"][0]["outcome"], "duplicate", "{r}");
    assert_eq!(stage(&app, &code).await, "yard");

    // A bad release: every field named, nothing written.
    let (s, p) = post_json(
        &hq,
        &app,
        &csrf,
        "/api/v1/border/customs-releases",
        &json!({"trip_code": code, "decision": "ok"}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "customs_declaration",
            "decision",
            "decided_at",
            "officer_ref"
        ],
        "{p}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM border_customs_releases")
            .await,
        0
    );

    // The customs officer records the release; customs' own system replays it with its token.
    let body = release(&code, "released");
    let (s, r) = post_json(&hq, &app, &csrf, "/api/v1/border/customs-releases", &body).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(
        (r["outcome"].as_str(), r["stage"].as_str()),
        (Some("recorded"), Some("yard"))
    );
    let token = officer_token(&app, "vnaccs.huunghi", "000.01.01.Z37").await;
    let resp = post_as(&app, Some(&token), "/api/v1/border/customs-releases", &body).await;
    let (s, r) = json(resp).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["outcome"], "duplicate");
    // Tân Thanh's customs does not release a Hữu Nghị truck; nobody anonymous does.
    let tt = officer_token(&app, "vnaccs.tanthanh", "000.02.01.Z37").await;
    let resp = post_as(
        &app,
        Some(&tt),
        "/api/v1/border/customs-releases",
        &release(&code, "rejected"),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = post_as(&app, None, "/api/v1/border/customs-releases", &body).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM border_customs_releases")
            .await,
        1
    );
    assert_eq!(app.audit_count("border.check.customs").await, 1);

    // The customs officer sees the trip's checks but does not decide the border guard's.
    let hq_page = app.signed_in(CUSTOMS).await;
    let trip_path = format!("/nghiep-vu/cua-khau/chuyen/{code}");
    let (s, html) = text(app.get(&hq_page, &trip_path).await).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("Biên phòng") && html.contains("Kiểm dịch thực vật"),
        "{html}"
    );
    let check_path = format!("/nghiep-vu/cua-khau/chuyen/{code}/kiem-tra");
    let csrf_page =
        hidden_field(&text(app.get(&hq_page, &trip_path).await).await.1, "csrf").unwrap();
    let resp = post_form(
        &hq_page,
        &app,
        &check_path,
        &csrf_page,
        &[
            ("check", "border_guard"),
            ("decision", "pass"),
            ("reason", ""),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // The admin (every agency) decides: border guard passes; plant quarantine holds (a reason
    // is required), then passes: the truck is checked.
    let admin = app.signed_in("quantri").await;
    let csrf_admin =
        hidden_field(&text(app.get(&admin, &trip_path).await).await.1, "csrf").unwrap();
    let decide = |fields: &'static [(&'static str, &'static str)]| {
        post_form(&admin, &app, &check_path, &csrf_admin, fields)
    };
    let resp = decide(&[("check", "border_guard"), ("decision", "pass")]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let resp = decide(&[
        ("check", "plant_quarantine"),
        ("decision", "hold"),
        ("reason", " "),
    ])
    .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (_, html) = text(resp).await;
    assert!(html.contains("Cần ghi lý do"), "{html}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM border_checks WHERE kind = 'plant_quarantine'")
            .await,
        0
    );
    let resp = decide(&[("check", "plant_quarantine"), ("decision", "start")]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let resp = decide(&[
        ("check", "plant_quarantine"),
        ("decision", "hold"),
        ("reason", "Lấy mẫu kiểm tra sâu bệnh"),
    ])
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(stage(&app, &code).await, "yard");
    let resp = decide(&[("check", "plant_quarantine"), ("decision", "pass")]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(stage(&app, &code).await, "checked");
    assert_eq!(app.audit_count("border.check.pass").await, 2);
    assert_eq!(app.audit_count("border.check.hold").await, 1);
    assert_eq!(app.audit_count("border.check.start").await, 1);
    // A closed check is not decided again.
    let resp = decide(&[
        ("check", "border_guard"),
        ("decision", "reject"),
        ("reason", "Thử lại"),
    ])
    .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(stage(&app, &code).await, "checked");

    // The customs officer's gate page: the queue is empty now; today's customs time is measured.
    let (s, html) = text(app.get(&hq_page, "/nghiep-vu/cua-khau/HN").await).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("id=\"service-times\""), "{html}");
    assert!(!html.contains(&code), "checked trucks leave the queue");
    let (s, html) = text(app.get(&hq_page, "/nghiep-vu/cua-khau").await).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("/nghiep-vu/cua-khau/HN") && !html.contains("/nghiep-vu/cua-khau/TT"),
        "{html}"
    );
    // Another gate's page is refused.
    assert_eq!(
        app.get(&hq_page, "/nghiep-vu/cua-khau/TT").await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_camera_read_in_review_is_attached_from_the_page() {
    let app = spawn_app().await;
    let first = declare(&app, "14H-555.01", "020090001234").await;
    let second = declare(&app, "29H-555.01", "020090004321").await;
    let (code1, id1) = (
        first["code"].as_str().unwrap(),
        first["id"].as_str().unwrap(),
    );
    let code2 = second["code"].as_str().unwrap();
    let (hq, csrf) = app.api_signed_in(CUSTOMS).await;

    // Only the bottom line of a two-line plate was read: both trucks could be it.
    let at = now_micros() - 300_000_000;
    let batch = json!({"events": [
        {"event_id": "cam-r1", "at": at, "kind": "camera", "camera_id": "CAM-HN-Y1", "plate_text": "555.01", "confidence": 0.6},
        {"event_id": "cam-r2", "at": at + 1, "kind": "camera", "camera_id": "CAM-HN-Y1", "plate_text": "30K-999.99", "confidence": 0.9}
    ]});
    let (s, r) = post_json(&hq, &app, &csrf, "/api/v1/border/events", &batch).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["results"][0]["outcome"], "ambiguous", "{r}");
    assert_eq!(r["results"][0]["trip_id"], Value::Null);
    assert_eq!(r["results"][1]["outcome"], "no_match");
    assert_eq!(r["review"], 2);
    // Bad batches: an unknown camera (nothing written), an enterprise (no BorderInspect).
    let bad = json!({"events": [{"event_id": "x1", "at": at, "kind": "camera", "camera_id": "CAM-NOWHERE", "plate_text": "12C12345", "confidence": 0.9}]});
    let (s, p) = post_json(&hq, &app, &csrf, "/api/v1/border/events", &bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM border_events WHERE event_id = 'x1'")
            .await,
        0
    );
    let (ent, ent_csrf) = app.api_signed_in(ENTERPRISE).await;
    let (s, _) = post_json(&ent, &app, &ent_csrf, "/api/v1/border/events", &batch).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A Tân Thanh camera gateway may not send Hữu Nghị's cameras.
    let tt = officer_token(&app, "camera.tanthanh", "000.02.02.Z37").await;
    let resp = post_as(&app, Some(&tt), "/api/v1/border/events", &json!({"events": [{"event_id": "tt-1", "at": at, "kind": "camera", "camera_id": "CAM-HN-Y1", "plate_text": "14H55501", "confidence": 0.9}]})).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM border_events").await, 2);

    // The officer's gate page counts the open reads; the review page lists both candidates.
    let page = app.signed_in(CUSTOMS).await;
    let (_, html) = text(app.get(&page, "/nghiep-vu/cua-khau/HN").await).await;
    assert!(html.contains("(2)"), "{html}");
    let review = "/nghiep-vu/cua-khau/HN/xem-xet";
    let (s, html) = text(app.get(&page, review).await).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains(code1) && html.contains(code2) && html.contains("555.01"),
        "{html}"
    );
    let csrf_page = hidden_field(&html, "csrf").unwrap();
    let item = format!("{review}/cam-r1");
    // Not a candidate, or no reason: refused, nothing changed.
    let other_id = second["id"].as_str().unwrap();
    let resp = post_form(
        &page,
        &app,
        &item,
        &csrf_page,
        &[
            ("action", "attach"),
            ("trip_id", "some-other-trip"),
            ("reason", "Đối chiếu ảnh"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let resp = post_form(
        &page,
        &app,
        &item,
        &csrf_page,
        &[("action", "attach"), ("trip_id", other_id), ("reason", "")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(stage(&app, code2).await, "declared");
    // Attached to the first truck, with a reason: it is in the yard.
    let resp = post_form(
        &page,
        &app,
        &item,
        &csrf_page,
        &[
            ("action", "attach"),
            ("trip_id", id1),
            ("reason", "Đối chiếu ảnh camera: biển trên 14H"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(stage(&app, code1).await, "yard");
    assert_eq!(stage(&app, code2).await, "declared");
    assert_eq!(app.audit_count("border.review.attach").await, 1);
    // The unknown plate is dismissed.
    let resp = post_form(
        &page,
        &app,
        &format!("{review}/cam-r2"),
        &csrf_page,
        &[
            ("action", "dismiss"),
            ("reason", "Xe nội địa, không khai báo"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, html) = text(app.get(&page, review).await).await;
    assert!(html.contains("review-empty"), "{html}");

    // The second truck's stage is overridden by the officer: a reason is required.
    let over = format!("/nghiep-vu/cua-khau/chuyen/{code2}/giai-doan");
    let resp = post_form(
        &page,
        &app,
        &over,
        &csrf_page,
        &[("stage", "staging"), ("reason", "")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(stage(&app, code2).await, "declared");
    let resp = post_form(
        &page,
        &app,
        &over,
        &csrf_page,
        &[
            ("stage", "staging"),
            ("reason", "Camera bãi chờ hỏng, xác nhận bằng mắt"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(stage(&app, code2).await, "staging");
    assert_eq!(app.audit_count("border.trip.override").await, 1);
    // The border guard's handheld uses the JSON API (a token of a guard account).
    let guard = officer_token(&app, "bienphong.huunghi", "000.01.02.Z37").await;
    let checks_url = app.url(&format!("/api/v1/border/trips/{code1}/checks"));
    let (s, v) = json(
        crate::client()
            .get(&checks_url)
            .bearer_auth(&guard)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["mine"], json!(["border_guard"]), "{v}");
    assert_eq!(
        v["checks"].as_array().unwrap().len(),
        3,
        "guard, plant quarantine, customs: {v}"
    );
    let decide = |body: Value| {
        crate::client()
            .post(&checks_url)
            .bearer_auth(&guard)
            .json(&body)
            .send()
    };
    let (s, p) = json(
        decide(json!({"check": "border_guard", "decision": "reject"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["field"], "reason");
    let (s, _) = json(
        decide(json!({"check": "plant_quarantine", "decision": "pass"}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = json(decide(json!({"check": "border_guard", "decision": "hold", "reason": "Chờ đối chiếu hộ chiếu lái xe"})).await.unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["status"].as_str(), v["stage"].as_str()),
        (Some("held"), Some("yard"))
    );
    let tt_guard = crate::client()
        .post(&checks_url)
        .bearer_auth(&tt)
        .json(&json!({"check": "border_guard", "decision": "pass"}))
        .send()
        .await
        .unwrap();
    assert_eq!(tt_guard.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.audit_count("border.check.hold").await, 1);

    // Both trucks now wait in the customs queue, oldest first.
    let (_, html) = text(app.get(&page, "/nghiep-vu/cua-khau/HN").await).await;
    let (p1, p2) = (html.find(code1).unwrap(), html.find(code2).unwrap());
    assert!(p1 < p2, "the yard arrival (earlier) first");
}
