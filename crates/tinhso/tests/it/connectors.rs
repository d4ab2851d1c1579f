//! The connectors over HTTP on the real app: the DVCQG sync status for administrators only,
//! population verification for officers only (unavailable without a configured endpoint, bad
//! input refused), customs decisions in the customs format recorded on a trip, and the admin
//! page. (The connectors' own behaviour against the simulators is tested in
//! crates/connectors/tests.)

use crate::{json, spawn_app, text, TestApp};
use chrono::{Duration, Utc};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

async fn post(
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

#[tokio::test]
async fn sync_status_and_population_checks_are_for_the_right_people() {
    let app = spawn_app().await;
    let (admin, admin_csrf) = app.api_signed_in("quantri").await;
    let (s, v) = json(
        app.get(&admin, "/api/v1/connectors/dvcqg/sync-status")
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["configured"], false, "no endpoint in tests");
    assert_eq!(v["status"]["tracked"], 0);
    assert!(v["rate"]["received"].as_i64().unwrap() >= 0);
    let (s, v) = json(
        app.get(
            &admin,
            "/api/v1/connectors/dvcqg/sync-status?from=2026-13-01",
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = post(
        &admin,
        &app,
        &admin_csrf,
        "/api/v1/connectors/dvcqg/resync",
        &json!({}),
    )
    .await;
    assert_eq!((s, v["requeued"].as_i64()), (StatusCode::OK, Some(0)));
    let (s, html) = text(app.get(&admin, "/quan-tri/ket-noi-quoc-gia").await).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Kết nối hệ thống quốc gia") && html.contains("TINHSO_DVCQG_URL"));

    let (officer, csrf) = app.api_signed_in("congchuc.tamthanh").await;
    let (s, _) = json(
        app.get(&officer, "/api/v1/connectors/dvcqg/sync-status")
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A well-formed request with no endpoint configured: 503, audited.
    let before = app.audit_count("connectors.population.verify").await;
    let body = json!({"cccd": "020190001234", "full_name": "Hoàng Thị Mai", "purpose": "kiểm tra"});
    let (s, v) = post(
        &officer,
        &app,
        &csrf,
        "/api/v1/connectors/population/verifications",
        &body,
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(
        app.audit_count("connectors.population.verify").await,
        before + 1
    );
    // Bad input: 422 naming the fields, nothing audited.
    let (s, v) = post(
        &officer,
        &app,
        &csrf,
        "/api/v1/connectors/population/verifications",
        &json!({"cccd": "123", "full_name": ""}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        app.audit_count("connectors.population.verify").await,
        before + 1
    );
    // A citizen may not look people up.
    let (citizen, ccsrf) = app.api_signed_in("020190001234").await;
    let (s, _) = post(
        &citizen,
        &app,
        &ccsrf,
        "/api/v1/connectors/population/verifications",
        &body,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_customs_decision_in_the_customs_format_reaches_the_trip() {
    let app = spawn_app().await;
    let tomorrow = (Utc::now() + Duration::hours(7) + Duration::days(1)).date_naive();
    let (ent, ecsrf) = app.api_signed_in("4900123467").await;
    let (s, trip) = post(&ent, &app, &ecsrf, "/api/v1/border/trips", &json!({
        "enterprise_mst": "4900123467",
        "enterprise_name": "Công ty TNHH Xuất nhập khẩu Hữu Nghị",
        "gate": "HN",
        "direction": "export",
        "expected_arrival": format!("{}T10:00", tomorrow.format("%Y-%m-%d")),
        "vehicle_plate": "12C-345.67",
        "vehicle_payload_kg": 20000,
        "driver": {"id_kind": "cccd", "id_number": "020090001234", "full_name": "Hoàng Văn Bình", "phone": "0912345678"},
        "customs_declaration": "305123456789",
        "goods": [{"hs_code": "0810.60.00", "quantity": 800, "unit": "thùng", "weight_kg": 16000}]
    })).await;
    assert_eq!(s, StatusCode::CREATED, "{trip}");
    let code = trip["code"].as_str().unwrap();
    let at = (Utc::now() + Duration::hours(7) - Duration::minutes(5))
        .format("%d/%m/%Y %H:%M:%S")
        .to_string();
    let message = json!({"SoToKhai": "305123456789", "MaQuyetDinh": "TQ", "NgayGioQuyetDinh": at,
        "BienSoPhuongTien": "12C-345.67", "MaChuyen": code, "MaCongChuc": "HQ-HN-0042"});
    let (customs, csrf) = app.api_signed_in("haiquan.huunghi").await;
    let (s, v) = post(
        &customs,
        &app,
        &csrf,
        "/api/v1/connectors/customs/decisions",
        &message,
    )
    .await;
    assert_eq!(
        (s, v["decision"].as_str()),
        (StatusCode::CREATED, Some("released")),
        "{v}"
    );
    let (s, v) = post(
        &customs,
        &app,
        &csrf,
        "/api/v1/connectors/customs/decisions",
        &message,
    )
    .await;
    assert_eq!(
        (s, v["outcome"].as_str()),
        (StatusCode::OK, Some("duplicate"))
    );
    let mut unknown = message.clone();
    unknown["MaChuyen"] = json!("HN-260101-99999");
    let (s, v) = post(
        &customs,
        &app,
        &csrf,
        "/api/v1/connectors/customs/decisions",
        &unknown,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v.to_string().contains("MaChuyen"), "{v}");
    // The enterprise is no customs office.
    let (s, _) = post(
        &ent,
        &app,
        &ecsrf,
        "/api/v1/connectors/customs/decisions",
        &message,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
