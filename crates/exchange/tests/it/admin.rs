//! The administrators' API and the hub page, behind a stand-in for the request-context layer
//! (a signed-in administrator, or a citizen).

use crate::support::{self, get_json, page_with, post_json, principal, public_key, signed_in};
use std::sync::Arc;
use std::time::Duration;
use tinhso_exchange::Hub;
use tinhso_identity::Role;

/// The administrators' and the members' routes, with every request signed in as `role`.
async fn server(role: Role) -> (tinhso_store::test_support::TestDb, String) {
    server_as(principal(role)).await
}

/// The same routes with every request made by `p`.
async fn server_as(p: tinhso_identity::Principal) -> (tinhso_store::test_support::TestDb, String) {
    let t = support::db().await;
    let hub = Arc::new(Hub::new(t.db.clone(), Default::default()));
    let state = tinhso_http::AppState::new(t.db.clone(), tinhso_http::WebConfig::default());
    let app = signed_in(
        tinhso_exchange::web::routes(hub.clone()).merge(tinhso_exchange::web::member_routes(hub)),
        p,
    )
    .with_state(state);
    (t, format!("http://{}", support::serve(app).await))
}

/// An administrator registers member `code` through the API, with the public key of `seed`.
async fn register_member(http: &reqwest::Client, base: &str, code: &str, name: &str, seed: u8) {
    let r = post_json(
        http,
        format!("{base}/api/v1/exchange/members"),
        serde_json::json!({ "code": code, "name": name, "public_key": public_key(seed) }),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

/// An administrator sets (or, with `{}`, resets) the rate limit of `member`.
async fn set_rate(
    http: &reqwest::Client,
    base: &str,
    member: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    post_json(
        http,
        format!("{base}/api/v1/exchange/members/{member}/rate-limit"),
        body,
    )
    .await
}

#[tokio::test]
async fn administrators_register_grant_and_see_the_hub_page() {
    let (t, base) = server(Role::Admin).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for (code, name, seed) in [
        ("000.00.23.H37", "UBND phường Tam Thanh", 1),
        ("000.00.19.H37", "Sở Tư pháp", 2),
    ] {
        register_member(&http, &base, code, name, seed).await;
    }
    // A malformed OpenAPI document is refused with the parser's message.
    let r = post_json(
        &http,
        format!("{base}/api/v1/exchange/services"),
        serde_json::json!({
            "provider": "000.00.19.H37", "code": "ho-tich", "name": "Tra cứu hộ tịch",
            "endpoint": "http://127.0.0.1:9/api", "classification": "internal",
            "openapi": "{\"openapi\": \"3.1.0\", \"paths\": {,}}"
        }),
    )
    .await;
    assert_eq!(r.status(), 422);
    let problem: serde_json::Value = r.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "openapi");
    assert!(problem["errors"][0]["message_en"]
        .as_str()
        .unwrap()
        .contains("key must be a string"));
    let r = post_json(
        &http,
        format!("{base}/api/v1/exchange/services"),
        serde_json::json!({
            "provider": "000.00.19.H37", "code": "ho-tich", "name": "Tra cứu hộ tịch",
            "endpoint": "http://127.0.0.1:9/api", "classification": "internal",
            "openapi": { "openapi": "3.1.0", "info": {}, "paths": { "/a": { "get": { "summary": "Trích lục khai sinh" } }, "/b": {} } }
        }),
    )
    .await;
    assert_eq!(r.status(), 201);
    let r = post_json(&http, format!("{base}/api/v1/exchange/rights"), serde_json::json!({ "client": "000.00.23.H37", "provider": "000.00.19.H37", "service": "ho-tich" })).await;
    assert_eq!(r.status(), 204);
    let rights: serde_json::Value = get_json(&http, format!("{base}/api/v1/exchange/rights")).await;
    assert_eq!(rights[0]["granted_by"], "user:u1");
    // One refused exchange, so the log and the figures have something.
    let r = http
        .get(format!("{base}/lgsp/v1/000.00.19.H37/ho-tich/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let html = page_with(
        &http,
        format!("{base}/quan-tri/truc-lien-thong"),
        &[
            "Trục liên thông",
            "000.00.23.H37",
            "UBND phường Tam Thanh",
            "Tra cứu hộ tịch",
            "<td>2</td>", // OpenAPI paths
            "1 / 1",      // requests / errors
            "401 unsigned",
            // By client member: none of the members sent anything yet (the refusal was unsigned).
            "Yêu cầu đã gửi / lỗi",
            "<td>0 / 0</td><td>—</td>",
        ],
    )
    .await;
    // The catalogue links each service to its page: the operations and the document.
    assert!(html.contains("href=\"/quan-tri/truc-lien-thong/dich-vu/000.00.19.H37/ho-tich\""));
    page_with(
        &http,
        format!("{base}/quan-tri/truc-lien-thong/dich-vu/000.00.19.H37/ho-tich"),
        &[
            "Tra cứu hộ tịch",
            "/lgsp/v1/000.00.19.H37/ho-tich/…",
            "Thao tác (theo tài liệu OpenAPI)",
            "<code>GET</code>",
            "Trích lục khai sinh",
            "3.1.0",
        ],
    )
    .await;
    let missing = http
        .get(format!(
            "{base}/quan-tri/truc-lien-thong/dich-vu/000.00.19.H37/khong-co"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let v: serde_json::Value =
        get_json(&http, format!("{base}/api/v1/exchange/log/verification")).await;
    assert_eq!(v["entries_checked"], 1);
    assert!(v["first_broken"].is_null());
    // A refusal before the service was known keeps no body.
    let entries: serde_json::Value =
        get_json(&http, format!("{base}/api/v1/exchange/log?limit=1")).await;
    let refused_id = entries[0]["exchange_id"].as_str().unwrap();
    let r = http
        .get(format!("{base}/api/v1/exchange/log/{refused_id}/bodies"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let p: serde_json::Value = r.json().await.unwrap();
    assert!(
        p["detail_en"]
            .as_str()
            .unwrap_or_default()
            .contains(refused_id)
            || p.to_string().contains(refused_id),
        "{p}"
    );
    // Registry changes are audited.
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'exchange.%'")
            .fetch_one(t.db.pool())
            .await
            .unwrap();
    assert_eq!(n, 4, "two members, one service, one grant");
}

#[tokio::test]
async fn others_are_refused() {
    let (_t, base) = server(Role::Auditor).await;
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{base}/api/v1/exchange/members"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = post_json(
        &http,
        format!("{base}/api/v1/exchange/rights"),
        serde_json::json!({ "client": "a", "provider": "b", "service": "c" }),
    )
    .await;
    assert_eq!(r.status(), 403);
}

/// The hub's administration needs `exchange_manage`: the system administrator's rights
/// narrowed to everything else (`user_manage` included) are refused the API and the page; the
/// hub administrator's role (no `user_manage`) gets in.
#[tokio::test]
async fn the_hub_needs_exchange_manage_not_user_manage() {
    use tinhso_identity::authz::AuthMethod;
    use tinhso_identity::Permission;
    let mut narrowed = principal(Role::Admin);
    narrowed.method = AuthMethod::Token {
        token_id: "t".into(),
        scopes: Permission::ALL
            .iter()
            .copied()
            .filter(|p| *p != Permission::ExchangeManage)
            .collect(),
    };
    assert!(narrowed.can_somewhere(Permission::UserManage));
    let http = reqwest::Client::new();
    let member = serde_json::json!({ "code": "000.00.23.H37", "name": "UBND phường Tam Thanh", "public_key": public_key(1) });
    let (_t, base) = server_as(narrowed).await;
    for path in ["/api/v1/exchange/members", "/quan-tri/truc-lien-thong"] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    let r = post_json(
        &http,
        format!("{base}/api/v1/exchange/members"),
        member.clone(),
    )
    .await;
    assert_eq!(r.status(), 403);

    let hub_admin = principal(Role::ExchangeAdmin);
    assert!(!hub_admin.can_somewhere(Permission::UserManage));
    let (_t, base) = server_as(hub_admin).await;
    let r = post_json(&http, format!("{base}/api/v1/exchange/members"), member).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    for path in ["/api/v1/exchange/members", "/quan-tri/truc-lien-thong"] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.text().await.unwrap().contains("000.00.23.H37"), "{path}");
    }
}

/// A signed GET to a service that does not exist: 404 while the member's bucket has tokens
/// (the rate is checked before the service), 429 when it is empty.
async fn signed_get(http: &reqwest::Client, base: &str, key: &ed25519_dalek::SigningKey) -> u16 {
    let path = "/lgsp/v1/000.00.19.H37/khong-co/x";
    let r = support::signed_now(
        http.get(format!("{base}{path}")),
        key,
        "000.00.23.H37",
        "GET",
        path,
        b"",
    );
    r.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn an_administrator_sets_a_members_rate_applied_without_restart() {
    let (t, base) = server(Role::Admin).await;
    let http = reqwest::Client::new();
    let client_key = support::key(1);
    register_member(&http, &base, "000.00.23.H37", "UBND phường Tam Thanh", 1).await;
    // The default (200 at once) lets 10 through.
    for _ in 0..10 {
        assert_eq!(signed_get(&http, &base, &client_key).await, 404);
    }
    // Bad input: field errors, nothing stored.
    let r = set_rate(
        &http,
        &base,
        "000.00.23.H37",
        serde_json::json!({ "burst": 0, "per_second": -1 }),
    )
    .await;
    assert_eq!(r.status(), 422);
    let p: serde_json::Value = r.json().await.unwrap();
    let fields = support::error_fields(&p);
    assert_eq!(fields, ["burst", "per_second"], "{p}");
    let r = set_rate(
        &http,
        &base,
        "000.00.23.H37",
        serde_json::json!({ "burst": 5 }),
    )
    .await;
    assert_eq!(r.status(), 422);
    let r = set_rate(
        &http,
        &base,
        "000.00.24.H37",
        serde_json::json!({ "burst": 5, "per_second": 1 }),
    )
    .await;
    assert_eq!(r.status(), 404, "unknown member");
    // 3 at once, then (almost) nothing: the 4th request is refused, without a restart.
    let r = set_rate(
        &http,
        &base,
        "000.00.23.H37",
        serde_json::json!({ "burst": 3, "per_second": 0.001 }),
    )
    .await;
    assert_eq!(r.status(), 204);
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(signed_get(&http, &base, &client_key).await);
        }
        v
    };
    assert_eq!(statuses, [404, 404, 404, 429]);
    let limits: serde_json::Value =
        get_json(&http, format!("{base}/api/v1/exchange/rate-limits")).await;
    assert_eq!(limits[0]["member"], "000.00.23.H37");
    assert_eq!(limits[0]["burst"], 3);
    assert_eq!(limits[0]["updated_by"], "user:u1");
    let html = http
        .get(format!("{base}/quan-tri/truc-lien-thong"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<td>3 / 0.001</td>"),
        "the member's own rate on the hub page"
    );
    // Back to the default: the bucket refills to 200 at 100 a second.
    let r = set_rate(&http, &base, "000.00.23.H37", serde_json::json!({})).await;
    assert_eq!(r.status(), 204);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(signed_get(&http, &base, &client_key).await, 404);
    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT summary FROM audit_log WHERE action = 'exchange.rate_limit' ORDER BY seq",
    )
    .fetch_all(t.db.pool())
    .await
    .unwrap();
    assert_eq!(audited.len(), 2, "set, then back to default: {audited:?}");
    assert!(audited[0].contains("\"burst\":3"), "{}", audited[0]);
}
