//! Invalid input is refused with every problem named, and changes nothing.

use crate::{problem, spawn_app};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn invalid_contact_details_change_nothing() {
    let app = spawn_app().await;
    let code = app.agency("tam thanh", "ubnd_xa").await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let (c, csrf) = app.api_signed_in("congchuc.tamthanh").await;
    let before = app.agency_row(&code).await;
    assert!(!before.phone.is_empty(), "demo data sets the phone");
    let audit = app.count("SELECT COUNT(*) FROM audit_log").await;
    let outbox = app.count("SELECT COUNT(*) FROM outbox").await;

    let resp = c
        .patch(app.url(&format!("/api/v1/agencies/{code}")))
        .header("x-csrf-token", &csrf)
        .json(&json!({
            "phone": "12345",
            "email": "khong-phai-email",
            "address": "Số 5 đường Lê Lợi",
        }))
        .send()
        .await
        .unwrap();
    let (status, p) = problem(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["code"], "validation_failed");
    let mut fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["email", "phone"], "{p}");
    for e in p["errors"].as_array().unwrap() {
        assert!(!e["message_vi"].as_str().unwrap().is_empty());
        assert!(!e["message_en"].as_str().unwrap().is_empty());
    }
    // The valid address in the same request was not applied either.
    assert_eq!(app.agency_row(&code).await, before);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log").await, audit);
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, outbox);

    // A website without a scheme is refused too.
    let resp = c
        .patch(app.url(&format!("/api/v1/agencies/{code}")))
        .header("x-csrf-token", &csrf)
        .json(&json!({"website": "javascript:alert(1)"}))
        .send()
        .await
        .unwrap();
    let (status, p) = problem(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "website");
    assert_eq!(app.agency_row(&code).await, before);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log").await, audit);

    // A valid change is applied, audited once and announced once.
    let resp = c
        .patch(app.url(&format!("/api/v1/agencies/{code}")))
        .header("x-csrf-token", &csrf)
        .json(&json!({"email": "ubnd.tamthanh@langson.gov.vn"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let after = app.agency_row(&code).await;
    assert_eq!(after.email, "ubnd.tamthanh@langson.gov.vn");
    assert_eq!(after.phone, before.phone);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log").await, audit + 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, outbox + 1);
}

#[tokio::test]
async fn invalid_new_account_is_not_created() {
    let app = spawn_app().await;
    let (c, csrf) = app.api_signed_in("quantri").await;
    let users = app.count("SELECT COUNT(*) FROM users").await;
    let audit = app.count("SELECT COUNT(*) FROM audit_log").await;

    let resp = c
        .post(app.url("/api/v1/users"))
        .header("x-csrf-token", &csrf)
        .json(&json!({
            "kind": "citizen",
            "display_name": "Nguyễn Văn A",
            "cccd": "123",
            "password": "Mật khẩu Lạng Sơn 2026",
        }))
        .send()
        .await
        .unwrap();
    let (status, p) = problem(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "cccd", "{p}");
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, users);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log").await, audit);

    // Several problems at once are all reported.
    let resp = c
        .post(app.url("/api/v1/users"))
        .header("x-csrf-token", &csrf)
        .json(&json!({
            "kind": "citizen",
            "display_name": "A",
            "cccd": "123",
            "email": "sai",
            "password": "123",
        }))
        .send()
        .await
        .unwrap();
    let (status, p) = problem(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["cccd", "display_name", "email", "password"], "{p}");
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, users);

    // An existing CCCD is a field problem, not a server error.
    let resp = c
        .post(app.url("/api/v1/users"))
        .header("x-csrf-token", &csrf)
        .json(&json!({
            "kind": "citizen",
            "display_name": "Hoàng Thị Mai",
            "cccd": "020190001234",
            "password": "Mật khẩu Lạng Sơn 2026",
        }))
        .send()
        .await
        .unwrap();
    let (status, p) = problem(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["code"], "already_registered");
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, users);

    // And a valid one is created.
    let resp = c
        .post(app.url("/api/v1/users"))
        .header("x-csrf-token", &csrf)
        .json(&json!({
            "kind": "citizen",
            "display_name": "Nguyễn Văn A",
            "cccd": "020090001235",
            "password": "Mật khẩu Lạng Sơn 2026",
        }))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, users + 1);
}
