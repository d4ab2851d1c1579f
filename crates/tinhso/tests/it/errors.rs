//! Errors are problem details on the API and pages in the browser, with stable codes.

use crate::{client, content_type, json, problem, spawn_app};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn unknown_routes_and_methods() {
    let app = spawn_app().await;
    let c = client();

    let (status, p) = problem(app.get(&c, "/api/v1/khong-co-dau").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(p["code"], "route_not_found");
    assert_eq!(p["type"], "/errors/route_not_found");
    assert_eq!(p["title_vi"], "Không có trang hoặc địa chỉ API này");

    let resp = app.get(&c, "/khong-co-trang-nay").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(content_type(resp.headers()).starts_with("text/html"));
    let html = resp.text().await.unwrap();
    assert!(html.contains("id=\"page-title\""));
    assert!(html.contains("Không có trang hoặc địa chỉ API này"));

    // A route that exists, with a method it does not have (an API client: no cookies).
    let c = client();
    for (method, path) in [
        (reqwest::Method::DELETE, "/api/v1/provinces"),
        (reqwest::Method::PUT, "/api/v1/agencies"),
        (reqwest::Method::GET, "/api/v1/auth/login"),
    ] {
        let resp = c
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        let allow = resp.headers()["allow"].to_str().unwrap().to_string();
        let (status, p) = problem(resp).await;
        assert_eq!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {p}"
        );
        assert_eq!(p["code"], "method_not_allowed", "{method} {path}");
        assert!(!allow.contains(method.as_str()), "{allow}");
    }
    // Refused before any handler: no denial recorded for a mere wrong method.
    assert_eq!(app.audit_count("authz.denied").await, 0);
    // A page route with a wrong method is a page, not a problem.
    let resp = c.delete(app.url("/co-quan")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(content_type(resp.headers()).starts_with("text/html"));
}

/// Sends a request head declaring a body over the limit, without the body: the server must
/// answer 413 from the declared length alone.
#[tokio::test]
async fn body_over_the_limit_is_refused() {
    let app = spawn_app().await;
    let addr = app.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let len = 2 * 1024 * 1024 + 1;
    let head = format!(
        "POST /api/v1/address/convert HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut raw));
    // The server may keep the connection open waiting for the body: read what arrived.
    let _ = read.await;
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(raw
        .to_ascii_lowercase()
        .contains("content-type: application/problem+json"));
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or_default();
    let p: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {raw}"));
    assert_eq!(p["code"], "payload_too_large");
    assert_eq!(p["status"], 413);

    // The same through an ordinary client sending the whole body.
    let big = format!("{{\"address\": \"{}\"}}", "x".repeat(len));
    let resp = client()
        .post(app.url("/api/v1/address/convert"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let (status, p) = problem(resp).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(p["code"], "payload_too_large");

    // Just under the limit is read (and then judged on its content).
    let ok = format!(
        "{{\"address\": \"Xã Tân Thanh, Huyện Văn Lãng, Tỉnh Lạng Sơn\"{}}}",
        " ".repeat(1024 * 1024)
    );
    let resp = client()
        .post(app.url("/api/v1/address/convert"))
        .header("content-type", "application/json")
        .body(ok)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn malformed_and_invalid_input() {
    let app = spawn_app().await;
    let c = client();

    let resp = c
        .post(app.url("/api/v1/address/convert"))
        .header("content-type", "application/json")
        .body("{\"address\": ")
        .send()
        .await
        .unwrap();
    let (status, p) = problem(resp).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(p["code"], "bad_request");
    assert!(
        p["detail_vi"]
            .as_str()
            .unwrap()
            .starts_with("Nội dung JSON không hợp lệ"),
        "{p}"
    );

    let (status, p) = problem(app.get(&c, "/api/v1/validate/cccd?value=123").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["code"], "validation_failed");
    let errors = p["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{p}");
    assert_eq!(errors[0]["field"], "value");
    let vi = errors[0]["message_vi"].as_str().unwrap();
    let en = errors[0]["message_en"].as_str().unwrap();
    assert!(vi.contains("CCCD"), "{vi}");
    assert!(!vi.is_ascii(), "Vietnamese message expected: {vi}");
    assert_ne!(vi, en);
    // And a valid one is accepted with its details.
    let (status, v) = json(
        app.get(&c, "/api/v1/validate/cccd?value=020190001234")
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["canonical"], "020190001234");
    assert_eq!(v["province_code"], 20);
    assert_eq!(v["birth_year"], 1990);
    assert_eq!(v["gender"], "female");

    // The example address of the issue: the old Xã Tân Thanh (Văn Lãng) was merged whole
    // into the new Xã Hoàng Văn Thụ.
    let resp = c
        .get(app.url("/api/v1/address/convert"))
        .query(&[("address", "Xã Tân Thanh, Huyện Văn Lãng, Tỉnh Lạng Sơn")])
        .send()
        .await
        .unwrap();
    let (status, v) = json(resp).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["old_district"]["name"], "Văn Lãng");
    let units = v["new_units"].as_array().unwrap();
    assert_eq!(units.len(), 1, "{v}");
    assert_eq!(units[0]["commune"]["code"], TAN_THANH_2025);
    assert_eq!(units[0]["commune"]["name"], "Hoàng Văn Thụ");
    assert_eq!(units[0]["whole"], true);
    assert_eq!(v["old_commune"]["code"], "06166");
    assert_eq!(v["new_address"], "Xã Hoàng Văn Thụ, Tỉnh Lạng Sơn");
    // POST gives the same.
    let resp = c
        .post(app.url("/api/v1/address/convert"))
        .json(&serde_json::json!({"address": "xa tan thanh, huyen van lang, lang son"}))
        .send()
        .await
        .unwrap();
    let (status, v) = json(resp).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["new_units"][0]["commune"]["code"], TAN_THANH_2025);

    for nonsense in [
        "Xã Không Có, Huyện Văn Lãng, Tỉnh Lạng Sơn",
        "blah blah",
        "Xã A, Huyện B, Tỉnh Cao Bằng",
    ] {
        let resp = c
            .get(app.url("/api/v1/address/convert"))
            .query(&[("address", nonsense)])
            .send()
            .await
            .unwrap();
        let (status, p) = problem(resp).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{nonsense}");
        assert_eq!(p["errors"][0]["field"], "address", "{nonsense}: {p}");
    }

    // A JSON body of the wrong shape is a validation problem, not a crash.
    let resp = c
        .post(app.url("/api/v1/address/convert"))
        .json(&serde_json::json!({"dia_chi": 1}))
        .send()
        .await
        .unwrap();
    let (status, p) = problem(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["code"], "validation_failed");

    // The error catalogue lists the codes used here.
    let (status, cat) = json(app.get(&c, "/api/v1/errors").await).await;
    assert_eq!(status, StatusCode::OK);
    for code in [
        "route_not_found",
        "method_not_allowed",
        "payload_too_large",
        "bad_request",
        "validation_failed",
    ] {
        assert!(
            cat.as_array().unwrap().iter().any(|e| e["code"] == code),
            "{code}"
        );
    }
}

/// The 2025 commune-level unit the old Xã Tân Thanh (Văn Lãng, 06166) became part of.
const TAN_THANH_2025: &str = "06172";
