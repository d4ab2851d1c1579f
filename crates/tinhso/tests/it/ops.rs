//! Operations endpoints, request ids and security headers.

use crate::{client, problem, spawn_app, text};
use reqwest::StatusCode;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    let c = client();

    let (status, body) = text(app.get(&c, "/healthz").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "ok");
    let (status, body) = text(app.get(&c, "/readyz").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "ready");

    for _ in 0..3 {
        assert_eq!(app.get(&c, "/healthz").await.status(), StatusCode::OK);
    }
    assert_eq!(
        app.get(&c, "/api/v1/provinces").await.status(),
        StatusCode::OK
    );
    let resp = app.get(&c, "/metrics").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let metrics = resp.text().await.unwrap();
    let requests: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("tinhso_http_requests"))
        .collect();
    let healthz = requests
        .iter()
        .find(|l| l.contains("route=\"/healthz\"") && l.contains("status=\"200\""))
        .unwrap_or_else(|| panic!("no /healthz counter in:\n{metrics}"));
    // Four requests to /healthz so far (one before the loop, three in it).
    assert!(
        healthz.starts_with("tinhso_http_requests_total{") && healthz.ends_with(" 4"),
        "{healthz}"
    );
    assert!(
        requests
            .iter()
            .any(|l| l.contains("route=\"/api/v1/provinces\"") && l.contains("method=\"GET\"")),
        "{metrics}"
    );
    assert!(metrics.contains("tinhso_http_request_duration_seconds"));
    // The exchange hub's time per stage, before the closing `# EOF` (no exchange yet).
    for line in [
        "# TYPE tinhso_exchange_stage_seconds histogram",
        "tinhso_exchange_stage_seconds_bucket{stage=\"log_wait\",le=\"0.016384\"} 0",
        "tinhso_exchange_stage_seconds_count{stage=\"total\"} 0",
        "# TYPE tinhso_exchange_log_batch_entries histogram",
        "tinhso_exchange_log_batch_entries_bucket{le=\"+Inf\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");
}

#[tokio::test]
async fn readyz_fails_when_the_database_is_gone() {
    let app = spawn_app().await;
    let c = client();
    assert_eq!(app.get(&c, "/readyz").await.status(), StatusCode::OK);
    app.db.close().await;
    let (status, p) = problem(app.get(&c, "/readyz").await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(p["code"], "unavailable");
    assert_eq!(p["detail"], "The database is unreachable");
    // Liveness does not depend on the database.
    assert_eq!(app.get(&c, "/healthz").await.status(), StatusCode::OK);
}

/// Requests whose responses must all carry a request id and the security headers: pages,
/// API, errors from the router, the access rules and the body limit.
#[tokio::test]
async fn request_ids_and_security_headers_on_every_response() {
    let app = spawn_app().await;
    let c = client();
    let big = vec![b'x'; 2 * 1024 * 1024 + 1];
    let cases: Vec<(&str, reqwest::RequestBuilder, StatusCode)> = vec![
        ("healthz", c.get(app.url("/healthz")), StatusCode::OK),
        ("home page", c.get(app.url("/")), StatusCode::OK),
        ("API", c.get(app.url("/api/v1/provinces")), StatusCode::OK),
        (
            "unknown page",
            c.get(app.url("/khong-co-trang-nay")),
            StatusCode::NOT_FOUND,
        ),
        (
            "unknown API route",
            c.get(app.url("/api/v1/khong-co")),
            StatusCode::NOT_FOUND,
        ),
        (
            "signed-out API call",
            c.get(app.url("/api/v1/me")),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "signed-out page",
            c.get(app.url("/nghiep-vu")),
            StatusCode::SEE_OTHER,
        ),
        (
            "garbage bearer",
            c.get(app.url("/api/v1/users")).bearer_auth("tsk_garbage"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "body too large",
            c.post(app.url("/api/v1/address/convert"))
                .header("content-type", "application/json")
                .body(big),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (what, req, expected) in cases {
        let resp = req.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(resp.status(), expected, "{what}");
        let h = resp.headers();
        let id = h
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no x-request-id"));
        assert!(!id.is_empty(), "{what}");
        let csp = h
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no CSP"));
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        assert!(csp.contains("default-src 'self'"), "{what}: {csp}");
        assert_eq!(h["x-frame-options"], "DENY", "{what}");
        assert_eq!(
            h["referrer-policy"], "strict-origin-when-cross-origin",
            "{what}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    }

    // Ids are fresh per request, and a supplied one is echoed.
    let a = app.get(&c, "/healthz").await;
    let b = app.get(&c, "/healthz").await;
    assert_ne!(a.headers()["x-request-id"], b.headers()["x-request-id"]);
    for path in ["/healthz", "/", "/api/v1/khong-co", "/api/v1/me"] {
        let resp = c
            .get(app.url(path))
            .header("x-request-id", "e2e-req-42")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["x-request-id"], "e2e-req-42", "{path}");
    }
    // An unusable id (control characters, too long) is replaced, not echoed.
    let long = "a".repeat(101);
    let resp = c
        .get(app.url("/healthz"))
        .header("x-request-id", &long)
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(id, long);
    assert!(!id.is_empty());
}

/// The id a request was served under is the one its audit entries carry.
#[tokio::test]
async fn request_id_reaches_the_audit_trail() {
    let app = spawn_app().await;
    let c = client();
    let resp = c
        .post(app.url("/api/v1/auth/login"))
        .header("x-request-id", "e2e-login-1")
        .json(&serde_json::json!({"username": "congchuc.tamthanh", "password": tinhso::demo::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-request-id"], "e2e-login-1");
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login' AND request_id = 'e2e-login-1'",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(n, 1);
}
