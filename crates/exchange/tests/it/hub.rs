//! The signed exchange end to end: two members, a provider service (an axum server on
//! loopback), the hub (its routes on another loopback port), on SQLite or PostgreSQL.

use crate::support::{self, ctx, grant, key, register, serve, signed_now, with_headers};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use ed25519_dalek::SigningKey;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tinhso_exchange::signing::{self, client_headers, new_nonce};
use tinhso_exchange::{log, registry, Hub, HubConfig};
use tinhso_store::now_micros;
use tinhso_store::test_support::TestDb;

const CLIENT: &str = "000.00.23.H37"; // a commune People's Committee
const OTHER: &str = "000.00.24.H37";
const PROVIDER: &str = "000.00.19.H37-HOTICH"; // the Department of Justice's civil-status system
const SERVICE: &str = "trich-luc-khai-sinh";

struct World {
    t: TestDb,
    hub: String,
    client_key: SigningKey,
    other_key: SigningKey,
    http: reqwest::Client,
    hub_public_key: String,
}

/// Registers `code` of [`PROVIDER`] on the hub, in front of `endpoint`.
async fn register_service(
    db: &tinhso_store::Db,
    code: &str,
    name: &str,
    endpoint: String,
    openapi: serde_json::Value,
    classification: &str,
) {
    support::register_service(db, PROVIDER, code, name, endpoint, openapi, classification).await;
}

/// Registers [`PROVIDER`] (key 3) as `name` and its echo service [`SERVICE`] in front of a
/// fresh [`provider`].
async fn echo_service(db: &tinhso_store::Db, name: &str) {
    register(db, PROVIDER, name, 3).await;
    let p = provider().await;
    register_service(
        db,
        SERVICE,
        "Trích lục khai sinh",
        format!("http://{p}/api"),
        openapi(),
        "internal",
    )
    .await;
}

/// The provider: echoes what it got, or sleeps.
async fn provider() -> SocketAddr {
    async fn echo(
        method: axum::http::Method,
        headers: HeaderMap,
        body: String,
    ) -> axum::Json<serde_json::Value> {
        axum::Json(serde_json::json!({
            "method": method.as_str(),
            "client": headers.get("x-lgsp-client").and_then(|v| v.to_str().ok()),
            "exchange": headers.get("x-lgsp-exchange-id").and_then(|v| v.to_str().ok()),
            "body": body,
        }))
    }
    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_secs(5)).await;
        "late"
    }
    async fn broken() -> (axum::http::StatusCode, &'static str) {
        (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom")
    }
    let app = axum::Router::new()
        .route("/api/echo", post(echo).get(echo))
        .route("/api/records/{id}", axum::routing::any(echo))
        .route("/api/slow", get(slow))
        .route("/api/broken", get(broken));
    serve(app).await
}

fn openapi() -> serde_json::Value {
    serde_json::json!({
        "openapi": "3.1.0",
        "info": { "title": "Trích lục khai sinh", "version": "1" },
        "paths": { "/echo": { "post": { "responses": { "200": { "description": "ok" } } } } }
    })
}

async fn world() -> World {
    let t = support::db().await;
    let db = &t.db;
    let client_key = key(1);
    let other_key = key(2);
    register(db, CLIENT, "UBND phường Tam Thanh", 1).await;
    register(db, OTHER, "UBND phường Đông Kinh", 2).await;
    echo_service(db, "Sở Tư pháp — hệ thống hộ tịch").await;
    let hub = Arc::new(Hub::new(
        db.clone(),
        HubConfig {
            timeout: Duration::from_millis(800),
            max_body: 64 * 1024,
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(60),
            ..Default::default()
        },
    ));
    let hub_public_key = hub.public_key();
    let state = tinhso_http::AppState::new(db.clone(), tinhso_http::WebConfig::default());
    let app = tinhso_exchange::web::member_routes(hub).with_state(state);
    let addr = serve(app).await;
    World {
        t,
        hub: format!("http://{addr}"),
        client_key,
        other_key,
        http: reqwest::Client::new(),
        hub_public_key,
    }
}

/// A signed request; `tamper` changes the body after signing.
struct Call<'a> {
    method: &'a str,
    path: String,
    body: Vec<u8>,
    member: &'a str,
    key: &'a SigningKey,
    ts: i64,
    nonce: String,
}

impl World {
    fn call<'a>(&'a self, method: &'a str, rest: &str, body: &[u8]) -> Call<'a> {
        Call {
            method,
            path: format!("/lgsp/v1/{PROVIDER}/{SERVICE}/{rest}"),
            body: body.to_vec(),
            member: CLIENT,
            key: &self.client_key,
            ts: now_micros() / 1_000_000,
            nonce: new_nonce(),
        }
    }

    /// The same signed request again (same time and nonce): a copy of a call, for replays.
    fn copy_of<'a>(
        &'a self,
        method: &'a str,
        path: String,
        body: &[u8],
        ts: i64,
        nonce: String,
    ) -> Call<'a> {
        Call {
            method,
            path,
            body: body.to_vec(),
            member: CLIENT,
            key: &self.client_key,
            ts,
            nonce,
        }
    }

    async fn send(&self, c: &Call<'_>, sent_body: Option<&[u8]>) -> reqwest::Response {
        self.send_via(&self.hub, c, sent_body).await
    }

    /// The request through the hub node at `base` (`http://host:port`).
    async fn send_via(
        &self,
        base: &str,
        c: &Call<'_>,
        sent_body: Option<&[u8]>,
    ) -> reqwest::Response {
        let headers = client_headers(c.key, c.member, c.method, &c.path, &c.body, c.ts, &c.nonce);
        let req = self
            .http
            .request(c.method.parse().unwrap(), format!("{base}{}", c.path))
            .header("content-type", "application/json")
            .body(sent_body.unwrap_or(&c.body).to_vec());
        with_headers(req, headers).send().await.unwrap()
    }

    async fn grant(&self, client: &str) {
        grant(&self.t.db, client, PROVIDER, SERVICE).await;
    }
}

/// The outcomes of the last `n` exchanges in the log, oldest first.
async fn outcomes(db: &tinhso_store::Db, n: i64) -> Vec<String> {
    log::recent(db, n)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .map(|e| e.outcome)
        .collect()
}

async fn problem_code(r: reqwest::Response) -> String {
    let v: serde_json::Value = r.json().await.unwrap();
    v["code"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_granted_call_goes_through_signed_both_ways_and_is_logged() {
    let w = world().await;
    w.grant(CLIENT).await;
    let body = serde_json::json!({ "so_dinh_danh": "020190001234", "ho_ten": "Hoàng Thị Mai" })
        .to_string();
    let c = w.call("POST", "echo?nam=2026", body.as_bytes());
    let r = w.send(&c, None).await;
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    let exchange_id = h["x-lgsp-exchange-id"].to_str().unwrap().to_string();
    let req_sha = h["x-lgsp-request-sha256"].to_str().unwrap().to_string();
    let resp_sha = h["x-lgsp-response-sha256"].to_str().unwrap().to_string();
    let hub_sig = h["x-lgsp-hub-signature"].to_str().unwrap().to_string();
    let bytes = r.bytes().await.unwrap();
    let got: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(got["client"], CLIENT, "the provider learns who calls");
    assert_eq!(got["body"], body, "the body arrives unchanged");
    assert_eq!(got["exchange"], exchange_id);
    // The hub's signature over the exchange, checked with its published key.
    let published: serde_json::Value = w
        .http
        .get(format!("{}/lgsp/v1/hub-key", w.hub))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(published["public_key"], w.hub_public_key);
    assert_eq!(resp_sha, signing::sha256_hex(&bytes));
    let expected_req = signing::sha256_hex(
        signing::request_text(
            "POST",
            &c.path,
            c.ts,
            &c.nonce,
            &signing::sha256_hex(body.as_bytes()),
        )
        .as_bytes(),
    );
    assert_eq!(req_sha, expected_req);
    assert!(signing::verify(
        &w.hub_public_key,
        &signing::response_text(&exchange_id, 200, &req_sha, &resp_sha),
        &hub_sig
    ));
    // The log entry holds both signatures and the hashes.
    let e = &log::recent(&w.t.db, 1).await.unwrap()[0];
    assert_eq!(
        (e.client.as_str(), e.provider.as_str(), e.service.as_str()),
        (CLIENT, PROVIDER, SERVICE)
    );
    assert_eq!((e.status, e.outcome.as_str()), (200, "ok"));
    assert_eq!(e.request_sha256, req_sha);
    assert_eq!(e.response_sha256, resp_sha);
    assert_eq!(e.hub_signature, hub_sig);
    assert!(!e.client_signature.is_empty());
    assert_eq!(e.path, c.path);
    assert_eq!(
        e.exchange_id, exchange_id,
        "the log names the exchange the answer names"
    );
    assert!(e.latency_us > 0);
    let v = log::verify(&w.t.db, None).await.unwrap();
    assert_eq!(v.first_broken, None);
    assert_eq!(v.entries_checked, 1);
}

#[tokio::test]
async fn access_is_denied_by_default_granted_then_revoked_and_audited() {
    let w = world().await;
    let r = w.send(&w.call("GET", "echo", b""), None).await;
    assert_eq!(r.status(), 403, "no right yet");
    assert_eq!(problem_code(r).await, "lgsp_forbidden");
    w.grant(CLIENT).await;
    w.grant(CLIENT).await; // idempotent
    assert_eq!(
        w.send(&w.call("GET", "echo", b""), None).await.status(),
        200
    );
    // The other member has no right of its own.
    let mut c = w.call("GET", "echo", b"");
    c.member = OTHER;
    c.key = &w.other_key;
    assert_eq!(w.send(&c, None).await.status(), 403);
    registry::revoke(&w.t.db, &ctx(), CLIENT, PROVIDER, SERVICE)
        .await
        .unwrap();
    assert_eq!(
        w.send(&w.call("GET", "echo", b""), None).await.status(),
        403,
        "revoked"
    );
    // Grants and revocations are on the audit trail (once each), the refusals in the log.
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE action LIKE 'exchange.right%' ORDER BY seq",
    )
    .fetch_all(w.t.db.pool())
    .await
    .unwrap();
    assert_eq!(
        actions,
        vec!["exchange.right_grant", "exchange.right_revoke"]
    );
    let outcomes = outcomes(&w.t.db, 10).await;
    assert_eq!(outcomes, vec!["forbidden", "ok", "forbidden", "forbidden"]);
}

#[tokio::test]
async fn bad_signatures_stale_times_and_replays_are_401_and_logged() {
    let w = world().await;
    w.grant(CLIENT).await;
    // Replay: the very same signed request twice.
    let c = w.call("POST", "echo", b"{\"a\":1}");
    assert_eq!(w.send(&c, None).await.status(), 200);
    let r = w.send(&c, None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(problem_code(r).await, "lgsp_replayed");
    // Tampered body: signed one thing, sent another.
    let c = w.call("POST", "echo", b"{\"a\":1}");
    let r = w.send(&c, Some(b"{\"a\":2}")).await;
    assert_eq!(r.status(), 401);
    assert_eq!(problem_code(r).await, "lgsp_bad_signature");
    // Signed by another member's key.
    let mut c = w.call("POST", "echo", b"{}");
    c.key = &w.other_key;
    assert_eq!(
        problem_code(w.send(&c, None).await).await,
        "lgsp_bad_signature"
    );
    // Outside the ±5 minute window.
    let mut c = w.call("POST", "echo", b"{}");
    c.ts -= 301;
    assert_eq!(problem_code(w.send(&c, None).await).await, "lgsp_expired");
    let mut c = w.call("POST", "echo", b"{}");
    c.ts += 400;
    assert_eq!(problem_code(w.send(&c, None).await).await, "lgsp_expired");
    // Unsigned.
    let r = w
        .http
        .post(format!("{}/lgsp/v1/{PROVIDER}/{SERVICE}/echo", w.hub))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(problem_code(r).await, "lgsp_unsigned");
    // Unknown member.
    let mut c = w.call("POST", "echo", b"{}");
    c.member = "000.00.99.H37";
    assert_eq!(
        problem_code(w.send(&c, None).await).await,
        "lgsp_unknown_member"
    );
    // Key rotation: the old key stops working, the new one works.
    let new_key = key(9);
    registry::rotate_key(&w.t.db, &ctx(), CLIENT, &signing::public_key_b64(&new_key))
        .await
        .unwrap();
    assert_eq!(
        problem_code(w.send(&w.call("GET", "echo", b""), None).await).await,
        "lgsp_bad_signature"
    );
    let mut c = w.call("GET", "echo", b"");
    c.key = &new_key;
    assert_eq!(w.send(&c, None).await.status(), 200);
    // A suspended member is refused.
    registry::set_member_active(&w.t.db, &ctx(), CLIENT, false)
        .await
        .unwrap();
    let mut c = w.call("GET", "echo", b"");
    c.key = &new_key;
    assert_eq!(
        problem_code(w.send(&c, None).await).await,
        "lgsp_unknown_member"
    );
    let outcomes = outcomes(&w.t.db, 20).await;
    assert_eq!(
        outcomes,
        vec![
            "ok",
            "replayed",
            "bad_signature",
            "bad_signature",
            "expired",
            "expired",
            "unsigned",
            "unknown_member",
            "bad_signature",
            "ok",
            "unknown_member"
        ]
    );
    assert_eq!(log::verify(&w.t.db, None).await.unwrap().first_broken, None);
}

#[tokio::test]
async fn unknown_service_oversized_timeout_and_circuit_breaker() {
    let w = world().await;
    w.grant(CLIENT).await;
    let mut c = w.call("GET", "echo", b"");
    c.path = format!("/lgsp/v1/{PROVIDER}/khong-co/echo");
    let r = w.send(&c, None).await;
    assert_eq!(r.status(), 404);
    assert_eq!(problem_code(r).await, "lgsp_unknown_service");
    // A withdrawn service is unknown to callers until it is back.
    registry::set_service_active(&w.t.db, &ctx(), PROVIDER, SERVICE, false)
        .await
        .unwrap();
    let r = w.send(&w.call("GET", "echo", b""), None).await;
    assert_eq!(problem_code(r).await, "lgsp_unknown_service");
    registry::set_service_active(&w.t.db, &ctx(), PROVIDER, SERVICE, true)
        .await
        .unwrap();
    let big = vec![b'x'; 65 * 1024];
    let r = w.send(&w.call("POST", "echo", &big), None).await;
    assert_eq!(r.status(), 413);
    let r = w.send(&w.call("GET", "slow", b""), None).await;
    assert_eq!(r.status(), 504);
    assert_eq!(problem_code(r).await, "lgsp_timeout");
    // Two more failures (5xx answers are passed on, and counted) open the breaker.
    let r = w.send(&w.call("GET", "broken", b""), None).await;
    assert_eq!(r.status(), 500);
    assert_eq!(r.text().await.unwrap(), "boom");
    assert_eq!(
        w.send(&w.call("GET", "broken", b""), None).await.status(),
        500
    );
    let r = w.send(&w.call("GET", "echo", b""), None).await;
    assert_eq!(r.status(), 503, "breaker open after 3 failures");
    assert_eq!(problem_code(r).await, "lgsp_circuit_open");
    let outcomes = outcomes(&w.t.db, 20).await;
    assert_eq!(
        outcomes,
        vec![
            "unknown_service",
            "unknown_service",
            "too_large",
            "timeout",
            "ok",
            "ok",
            "circuit_open"
        ]
    );
}

#[tokio::test]
async fn the_log_verifies_and_a_tampered_entry_is_found() {
    let w = world().await;
    w.grant(CLIENT).await;
    for _ in 0..4 {
        assert_eq!(
            w.send(&w.call("GET", "echo", b""), None).await.status(),
            200
        );
    }
    let v = log::verify(&w.t.db, None).await.unwrap();
    assert_eq!((v.entries_checked, v.first_broken.clone()), (4, None));
    // Someone edits entry 2 to hide who called.
    sqlx::query("UPDATE exchange_log SET client = '000.00.24.H37' WHERE seq = 2")
        .execute(w.t.db.pool())
        .await
        .unwrap();
    let v = log::verify(&w.t.db, None).await.unwrap();
    let b = v.first_broken.unwrap();
    assert_eq!((b.seq, v.entries_checked), (2, 1));
    assert!(b.reason.contains("content changed"), "{}", b.reason);
    sqlx::query("UPDATE exchange_log SET client = $1 WHERE seq = 2")
        .bind(CLIENT)
        .execute(w.t.db.pool())
        .await
        .unwrap();
    assert_eq!(log::verify(&w.t.db, None).await.unwrap().first_broken, None);
    // Deleting the newest entry is found through the head.
    sqlx::query("DELETE FROM exchange_log WHERE seq = 4")
        .execute(w.t.db.pool())
        .await
        .unwrap();
    let b = log::verify(&w.t.db, None)
        .await
        .unwrap()
        .first_broken
        .unwrap();
    assert!(b.reason.contains("newest entries deleted"), "{}", b.reason);
    // Deleting one in the middle is a gap.
    sqlx::query("DELETE FROM exchange_log WHERE seq = 2")
        .execute(w.t.db.pool())
        .await
        .unwrap();
    let b = log::verify(&w.t.db, None)
        .await
        .unwrap()
        .first_broken
        .unwrap();
    assert_eq!(b.seq, 2);
    assert!(b.reason.contains("missing"), "{}", b.reason);
}

#[tokio::test]
async fn registration_checks_its_input() {
    let w = world().await;
    let bad = registry::NewService {
        provider: PROVIDER.into(),
        code: "dich-vu-2".into(),
        name: "Dịch vụ".into(),
        endpoint: "ftp://x".into(),
        openapi: serde_json::Value::String("{\"openapi\": \"3.1.0\", \"paths\": ".into()),
        classification: "secret".into(),
    };
    let e = registry::register_service(&w.t.db, &ctx(), &bad)
        .await
        .unwrap_err();
    let fields: Vec<&str> = e.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, vec!["endpoint", "openapi", "classification"]);
    let openapi_err = &e.fields[1];
    assert!(
        openapi_err.message_en.contains("EOF while parsing"),
        "the parser's message: {}",
        openapi_err.message_en
    );
    let e = registry::register_member(&w.t.db, &ctx(), "H37", "x", "AAAA")
        .await
        .unwrap_err();
    assert_eq!(e.fields.len(), 2);
    // A member registered twice: conflict.
    let e = registry::register_member(
        &w.t.db,
        &ctx(),
        CLIENT,
        "x",
        &signing::public_key_b64(&key(5)),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 409);
    // Granting on an unknown service: not found.
    let e = registry::grant(&w.t.db, &ctx(), CLIENT, PROVIDER, "khong-co")
        .await
        .unwrap_err();
    assert_eq!(e.status(), 404);
}

#[tokio::test]
async fn a_member_over_its_rate_gets_429_and_metrics_count_by_service() {
    let t = support::db().await;
    let db = &t.db;
    let ck = key(1);
    register(db, CLIENT, "UBND phường Tam Thanh", 1).await;
    echo_service(db, "Sở Tư pháp").await;
    grant(db, CLIENT, PROVIDER, SERVICE).await;
    let hub = Arc::new(Hub::new(
        db.clone(),
        HubConfig {
            rate_burst: 3.0,
            rate_per_second: 0.01,
            ..Default::default()
        },
    ));
    let state = tinhso_http::AppState::new(db.clone(), tinhso_http::WebConfig::default());
    let app = tinhso_exchange::web::member_routes(hub.clone()).with_state(state);
    let addr = serve(app).await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let path = format!("/lgsp/v1/{PROVIDER}/{SERVICE}/echo");
        let r = http.get(format!("http://{addr}{path}"));
        let resp = signed_now(r, &ck, CLIENT, "GET", &path, b"")
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            assert_eq!(resp.headers()["retry-after"], "1");
        }
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, vec![200, 200, 200, 429]);
    // An unsigned request with a made-up service name does not create series of its own.
    http.get(format!("http://{addr}/lgsp/v1/made-up/names/x"))
        .send()
        .await
        .unwrap();
    let m = hub.render_metrics();
    assert!(
        m.contains(&format!(
            "tinhso_exchange_requests_total{{provider=\"{PROVIDER}\",service=\"{SERVICE}\",client=\"{CLIENT}\",outcome=\"ok\"}} 3"
        )),
        "{m}"
    );
    assert!(
        m.contains(&format!("client=\"{CLIENT}\",outcome=\"rate_limited\"}} 1")),
        "{m}"
    );
    assert!(
        m.contains("provider=\"-\",service=\"-\",client=\"-\",outcome=\"unsigned\"} 1"),
        "{m}"
    );
    assert!(!m.contains("made-up"), "{m}");
    // Latency by client member: its four exchanges (three answered, one refused for the rate),
    // and the unsigned one under `-`.
    for line in [
        format!("tinhso_exchange_client_duration_seconds_count{{client=\"{CLIENT}\"}} 4"),
        "tinhso_exchange_client_duration_seconds_count{client=\"-\"} 1".to_string(),
    ] {
        assert!(m.lines().any(|l| l == line), "{line} in:\n{m}");
    }
    // The same from the message log, for the hub page.
    let by_client = tinhso_exchange::log::stats_by_client(db).await.unwrap();
    let me = &by_client
        .iter()
        .find(|c| c.client == CLIENT)
        .unwrap()
        .totals;
    assert_eq!((me.requests, me.errors), (4, 1), "{by_client:?}");
    assert!(me.max_latency_us >= me.mean_latency_us && me.mean_latency_us > 0);
    // Time per stage: the three answered exchanges went to the provider; all five were logged.
    for line in [
        "tinhso_exchange_stage_seconds_count{stage=\"forward\"} 3",
        "tinhso_exchange_stage_seconds_bucket{stage=\"forward\",le=\"+Inf\"} 3",
        "tinhso_exchange_log_batch_entries_sum 5",
    ] {
        assert!(m.lines().any(|l| l == line), "{line} in:\n{m}");
    }
    assert!(!m.contains("# EOF"));
    let spliced = tinhso_exchange::metrics::splice("a 1\n# EOF\n", &m);
    assert!(spliced.ends_with("# EOF\n") && spliced.starts_with("a 1\n"));
    let outcomes = outcomes(db, 10).await;
    assert_eq!(outcomes, vec!["ok", "ok", "ok", "rate_limited", "unsigned"]);
}

#[tokio::test]
async fn concurrent_exchanges_keep_one_unbroken_chain() {
    let w = world().await;
    w.grant(CLIENT).await;
    let w = Arc::new(w);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            let body = format!("{{\"i\":{i}}}");
            w.send(&w.call("POST", "echo", body.as_bytes()), None)
                .await
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let v = log::verify(&w.t.db, None).await.unwrap();
    assert_eq!((v.entries_checked, v.first_broken), (40, None));
}

#[tokio::test]
async fn a_rewritten_chain_is_caught_by_the_signed_anchor() {
    let w = world().await;
    w.grant(CLIENT).await;
    for _ in 0..4 {
        assert_eq!(
            w.send(&w.call("GET", "echo", b""), None).await.status(),
            200
        );
    }
    let hub_key = tinhso_exchange::hub::hub_key();
    let pk = signing::public_key_b64(&hub_key);
    assert_eq!(log::anchor(&w.t.db, &hub_key).await.unwrap(), Some(4));
    assert_eq!(
        log::anchor(&w.t.db, &hub_key).await.unwrap(),
        None,
        "nothing new"
    );
    let v = log::verify(&w.t.db, Some(&pk)).await.unwrap();
    assert_eq!((v.entries_checked, v.first_broken), (4, None));
    // A wrong key does not verify the anchor.
    let other = signing::public_key_b64(&key(42));
    let b = log::verify(&w.t.db, Some(&other))
        .await
        .unwrap()
        .first_broken
        .unwrap();
    assert!(b.reason.contains("signature"), "{}", b.reason);
    // Someone with write access edits entry 2 and recomputes every hash after it and the
    // head: the chain is consistent again, but the anchor remembers entry 4's hash.
    sqlx::query("UPDATE exchange_log SET client = '000.00.24.H37' WHERE seq = 2")
        .execute(w.t.db.pool())
        .await
        .unwrap();
    let mut entries = log::recent(&w.t.db, 10).await.unwrap();
    entries.reverse();
    let mut prev = entries[0].hash.clone();
    for e in entries.iter_mut().skip(1) {
        e.prev_hash = prev.clone();
        e.hash = e.computed_hash();
        sqlx::query("UPDATE exchange_log SET prev_hash = $1, hash = $2 WHERE seq = $3")
            .bind(&e.prev_hash)
            .bind(&e.hash)
            .bind(e.seq)
            .execute(w.t.db.pool())
            .await
            .unwrap();
        prev = e.hash.clone();
    }
    sqlx::query("UPDATE exchange_log_head SET hash = $1 WHERE id = 1")
        .bind(&prev)
        .execute(w.t.db.pool())
        .await
        .unwrap();
    let b = log::verify(&w.t.db, None)
        .await
        .unwrap()
        .first_broken
        .unwrap();
    assert_eq!(b.seq, 4);
    assert!(b.reason.contains("rewritten"), "{}", b.reason);
    // Deleting the anchored entries is caught too.
    sqlx::query("DELETE FROM exchange_log WHERE seq >= 2")
        .execute(w.t.db.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE exchange_log_head SET seq = 1, hash = (SELECT hash FROM exchange_log WHERE seq = 1) WHERE id = 1")
        .execute(w.t.db.pool())
        .await
        .unwrap();
    let b = log::verify(&w.t.db, None)
        .await
        .unwrap()
        .first_broken
        .unwrap();
    assert!(b.reason.contains("anchored"), "{}", b.reason);
}

#[tokio::test]
async fn the_same_signed_request_sent_in_parallel_goes_through_once() {
    let w = Arc::new(world().await);
    w.grant(CLIENT).await;
    let c = w.call("POST", "echo", b"{\"mot_lan\":true}");
    let (path, ts, nonce) = (c.path.clone(), c.ts, c.nonce.clone());
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let w = w.clone();
        let (path, nonce) = (path.clone(), nonce.clone());
        tasks.push(tokio::spawn(async move {
            let c = w.copy_of("POST", path, b"{\"mot_lan\":true}", ts, nonce);
            w.send(&c, None).await.status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        19,
        "{statuses:?}"
    );
    let v = log::verify(&w.t.db, None).await.unwrap();
    assert_eq!((v.entries_checked, v.first_broken), (20, None));
}

#[tokio::test]
async fn a_right_limited_to_operations_refuses_the_others_naming_them() {
    let w = world().await;
    let db = &w.t.db;
    // A grant naming an operation the document does not declare is refused field by field.
    let e = registry::grant_operations(
        db,
        &ctx(),
        CLIENT,
        PROVIDER,
        SERVICE,
        &["POST /echo".into(), "GET /citizens/{id}".into()],
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 422);
    assert_eq!(e.fields.len(), 1, "{e:?}");
    assert_eq!(e.fields[0].field, "operations[1]");
    assert_eq!(e.fields[0].code, "operation_unknown");
    assert!(
        registry::right_scope(db, CLIENT, PROVIDER, SERVICE)
            .await
            .unwrap()
            .is_none(),
        "nothing was written"
    );

    registry::grant_operations(
        db,
        &ctx(),
        CLIENT,
        PROVIDER,
        SERVICE,
        &["post /echo".into()],
    )
    .await
    .unwrap();
    let rights = registry::list_rights(db).await.unwrap();
    assert_eq!(rights[0].operations, vec!["POST /echo".to_string()]);
    let r = w.send(&w.call("POST", "echo", b"{}"), None).await;
    assert_eq!(r.status(), 200, "the granted operation goes through");
    // GET /echo is served by the provider but not granted (nor declared).
    let r = w.send(&w.call("GET", "echo?x=1", b""), None).await;
    assert_eq!(r.status(), 403);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["code"], "lgsp_forbidden");
    assert_eq!(v["operation"], "GET /echo");
    assert!(
        v["detail_vi"].as_str().unwrap().contains("GET /echo"),
        "{v}"
    );
    let e = &log::recent(db, 1).await.unwrap()[0];
    assert_eq!((e.status, e.outcome.as_str()), (403, "forbidden"));

    // The grant and its operations are on the audit trail.
    let details: Vec<String> = sqlx::query_scalar(
        "SELECT summary FROM audit_log WHERE action = 'exchange.right_grant' ORDER BY seq",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(details.len(), 1);
    assert!(details[0].contains("POST /echo"), "{}", details[0]);

    // Granting the whole service again lifts the limit.
    w.grant(CLIENT).await;
    assert_eq!(
        registry::right_scope(db, CLIENT, PROVIDER, SERVICE)
            .await
            .unwrap(),
        Some(vec![])
    );
    let r = w.send(&w.call("GET", "echo", b""), None).await;
    assert_eq!(r.status(), 200);
    // Revoking removes the right with its operations.
    registry::grant_operations(
        db,
        &ctx(),
        CLIENT,
        PROVIDER,
        SERVICE,
        &["POST /echo".into()],
    )
    .await
    .unwrap();
    registry::revoke(db, &ctx(), CLIENT, PROVIDER, SERVICE)
        .await
        .unwrap();
    let r = w.send(&w.call("POST", "echo", b"{}"), None).await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn bodies_are_kept_encrypted_read_back_audited_and_verified() {
    let w = world().await;
    let db = &w.t.db;
    w.grant(CLIENT).await;
    let body = r#"{"so_dinh_danh":"020190001234","ho_ten":"Hoàng Thị Mai"}"#;
    let r = w
        .send(&w.call("POST", "echo?nam=2026", body.as_bytes()), None)
        .await;
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-lgsp-exchange-id"]
        .to_str()
        .unwrap()
        .to_string();
    let answer = r.text().await.unwrap();
    // Stored sealed: the citizen's number is not in the database in clear.
    let (req_sealed, resp_sealed): (String, String) = {
        let row: (String, String) = sqlx::query_as(
            "SELECT request_body, response_body FROM exchange_bodies WHERE exchange_id = $1",
        )
        .bind(&id)
        .fetch_one(db.pool())
        .await
        .unwrap();
        row
    };
    for sealed in [&req_sealed, &resp_sealed] {
        assert!(!sealed.contains("020190001234"));
        let raw =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, sealed).unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("020190001234"));
    }
    // An administrator reads them back; the reading is audited.
    let b = tinhso_exchange::bodies::read(db, &ctx(), &id)
        .await
        .unwrap();
    assert_eq!(b.request_text.as_deref(), Some(body));
    assert_eq!(b.response_text.as_deref(), Some(answer.as_str()));
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'exchange.body_read' AND target_id = $1",
    )
    .bind(&id)
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(n, 1);
    let v = log::verify(db, Some(&w.hub_public_key)).await.unwrap();
    assert_eq!(
        (v.bodies_checked, v.first_broken.clone()),
        (1, None),
        "{v:?}"
    );

    // A restricted service keeps hashes only.
    register_service(
        db,
        "ho-so-mat",
        "Hồ sơ mật",
        registry::get_service(db, PROVIDER, SERVICE)
            .await
            .unwrap()
            .unwrap()
            .endpoint,
        openapi(),
        "restricted",
    )
    .await;
    grant(db, CLIENT, PROVIDER, "ho-so-mat").await;
    let mut c = w.call("POST", "echo", body.as_bytes());
    c.path = format!("/lgsp/v1/{PROVIDER}/ho-so-mat/echo");
    let r = w.send(&c, None).await;
    assert_eq!(r.status(), 200);
    let restricted_id = r.headers()["x-lgsp-exchange-id"]
        .to_str()
        .unwrap()
        .to_string();
    let e = tinhso_exchange::bodies::read(db, &ctx(), &restricted_id)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 404);
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM exchange_bodies")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(kept, 1, "only the internal service's exchange");

    // An altered ciphertext is caught, and so is a body replaced by another sealed one.
    let seq: i64 = sqlx::query_scalar("SELECT seq FROM exchange_log WHERE exchange_id = $1")
        .bind(&id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    let mut altered = req_sealed.clone().into_bytes();
    let last = altered.len() - 3;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    sqlx::query("UPDATE exchange_bodies SET request_body = $1 WHERE exchange_id = $2")
        .bind(String::from_utf8(altered).unwrap())
        .bind(&id)
        .execute(db.pool())
        .await
        .unwrap();
    let v = log::verify(db, Some(&w.hub_public_key)).await.unwrap();
    let b = v.first_broken.expect("altered body caught");
    assert_eq!(b.seq, seq);
    assert!(b.reason.contains("does not decrypt"), "{}", b.reason);
    let forged =
        tinhso_exchange::bodies::seal(&id, "request", b"{\"so_dinh_danh\":\"0\"}").unwrap();
    sqlx::query("UPDATE exchange_bodies SET request_body = $1 WHERE exchange_id = $2")
        .bind(&forged)
        .bind(&id)
        .execute(db.pool())
        .await
        .unwrap();
    let v = log::verify(db, Some(&w.hub_public_key)).await.unwrap();
    let b = v.first_broken.expect("replaced body caught");
    assert_eq!(b.seq, seq);
    assert!(
        b.reason
            .contains("request body does not hash to the logged hash"),
        "{}",
        b.reason
    );
}

/// A service whose document declares every method on `/records/{id}`.
const RECORDS: &str = "so-ho-tich";

async fn records_service(w: &World) {
    let echo = registry::get_service(&w.t.db, PROVIDER, SERVICE)
        .await
        .unwrap()
        .unwrap();
    let op = serde_json::json!({ "responses": { "200": { "description": "ok" } } });
    register_service(
        &w.t.db,
        RECORDS,
        "Sổ hộ tịch",
        echo.endpoint,
        serde_json::json!({
            "openapi": "3.1.0",
            "info": { "title": "Sổ hộ tịch", "version": "1" },
            "paths": { "/records/{id}": {
                "get": op, "put": op, "patch": op, "delete": op } }
        }),
        "internal",
    )
    .await;
}

impl World {
    /// A request to the records service signed for `signed_as` and sent as `sent_as`.
    async fn records(&self, signed_as: &str, sent_as: &str, body: &[u8]) -> reqwest::Response {
        let path = format!("/lgsp/v1/{PROVIDER}/{RECORDS}/records/42");
        let req = self
            .http
            .request(sent_as.parse().unwrap(), format!("{}{path}", self.hub))
            .header("content-type", "application/json")
            .body(body.to_vec());
        signed_now(req, &self.client_key, CLIENT, signed_as, &path, body)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn put_patch_delete_and_head_pass_the_same_signature_rights_and_log() {
    let w = world().await;
    let db = &w.t.db;
    records_service(&w).await;
    // No right yet: a PUT is refused like a GET would be, and logged.
    let r = w.records("PUT", "PUT", b"{\"ten\":\"A\"}").await;
    assert_eq!(r.status(), 403);
    assert_eq!(problem_code(r).await, "lgsp_forbidden");

    registry::grant_operations(
        db,
        &ctx(),
        CLIENT,
        PROVIDER,
        RECORDS,
        &["PUT /records/{id}".into(), "GET /records/{id}".into()],
    )
    .await
    .unwrap();
    // PUT is granted: forwarded as a PUT with its body, answered and logged.
    let body = "{\"ho_ten\":\"Nông Văn Dũng\"}";
    let r = w.records("PUT", "PUT", body.as_bytes()).await;
    assert_eq!(r.status(), 200);
    let got: serde_json::Value = r.json().await.unwrap();
    assert_eq!(got["method"], "PUT", "the provider receives a PUT");
    assert_eq!(got["body"], body);
    // HEAD falls under the GET operation (the document declares no HEAD).
    let r = w.records("HEAD", "HEAD", b"").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-lgsp-hub-signature"));
    // DELETE and PATCH are served by the provider and declared, but not granted.
    let r = w.records("DELETE", "DELETE", b"").await;
    assert_eq!(r.status(), 403);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["operation"], "DELETE /records/{id}");
    let r = w.records("PATCH", "PATCH", b"{}").await;
    assert_eq!(r.status(), 403);

    // With the whole service granted, a DELETE goes through …
    grant(db, CLIENT, PROVIDER, RECORDS).await;
    let r = w.records("DELETE", "DELETE", b"").await;
    assert_eq!(r.status(), 200);
    let got: serde_json::Value = r.json().await.unwrap();
    assert_eq!(got["method"], "DELETE");
    // … but a request signed as a GET and sent as a DELETE does not: the signature covers
    // the method.
    let r = w.records("GET", "DELETE", b"").await;
    assert_eq!(r.status(), 401);
    assert_eq!(problem_code(r).await, "lgsp_bad_signature");

    let logged: Vec<(String, i64, String)> = log::recent(db, 10)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .map(|e| (e.method, e.status, e.outcome))
        .collect();
    let want = [
        ("PUT", 403, "forbidden"),
        ("PUT", 200, "ok"),
        ("HEAD", 200, "ok"),
        ("DELETE", 403, "forbidden"),
        ("PATCH", 403, "forbidden"),
        ("DELETE", 200, "ok"),
        ("DELETE", 401, "bad_signature"),
    ];
    assert_eq!(
        logged,
        want.iter()
            .map(|(m, s, o)| (m.to_string(), *s, o.to_string()))
            .collect::<Vec<_>>()
    );
    let v = log::verify(db, Some(&w.hub_public_key)).await.unwrap();
    assert_eq!(v.first_broken, None);
}

#[tokio::test]
async fn kept_bodies_past_their_retention_are_deleted_and_the_log_still_verifies() {
    let w = world().await;
    let db = &w.t.db;
    w.grant(CLIENT).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let r = w
            .send(
                &w.call("POST", "echo", format!("{{\"n\":{n}}}").as_bytes()),
                None,
            )
            .await;
        assert_eq!(r.status(), 200);
        ids.push(
            r.headers()["x-lgsp-exchange-id"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    // The first two were kept 40 and 31 days ago, the last one now.
    let now = now_micros();
    for (id, days) in [(&ids[0], 40), (&ids[1], 31)] {
        sqlx::query("UPDATE exchange_bodies SET created_at = $1 WHERE exchange_id = $2")
            .bind(now - days * 86_400_000_000)
            .bind(id)
            .execute(db.pool())
            .await
            .unwrap();
    }
    let admin = ctx();
    let purge = |days| tinhso_exchange::bodies::purge_older_than(db, &admin, days, now);
    assert_eq!(purge(60).await.unwrap(), 0, "nothing is that old");
    assert_eq!(purge(30).await.unwrap(), 2);
    assert_eq!(purge(30).await.unwrap(), 0, "already gone");
    let kept: Vec<String> = sqlx::query_scalar("SELECT exchange_id FROM exchange_bodies")
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert_eq!(kept, vec![ids[2].clone()]);
    // Reading a deleted body: 404; the kept one still reads.
    let e = tinhso_exchange::bodies::read(db, &ctx(), &ids[0])
        .await
        .unwrap_err();
    assert_eq!(e.status(), 404);
    assert!(tinhso_exchange::bodies::read(db, &ctx(), &ids[2])
        .await
        .is_ok());
    // The log is whole: every entry with its hashes, the chain and the kept body verify.
    let v = log::verify(db, Some(&w.hub_public_key)).await.unwrap();
    assert_eq!(
        (v.entries_checked, v.bodies_checked, v.first_broken.clone()),
        (3, 1, None),
        "{v:?}"
    );
    // The purge that deleted something is on the audit trail, once.
    let summaries: Vec<String> = sqlx::query_scalar(
        "SELECT summary FROM audit_log WHERE action = 'exchange.bodies_purge' ORDER BY seq",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert_eq!(summaries.len(), 1);
    assert!(summaries[0].contains("\"deleted\":2"), "{}", summaries[0]);
}

/// The hub keeps who may call what in memory; every change made through the registry applies
/// from the very next request (a revoked right, a paused service, a suspended member, a
/// rotated key), however warm the cache.
#[tokio::test]
async fn registry_changes_apply_to_the_next_request_despite_the_cache() {
    let w = world().await;
    let db = &w.t.db;
    w.grant(CLIENT).await;
    let status = |r: reqwest::Response| r.status().as_u16();
    for _ in 0..3 {
        assert_eq!(status(w.send(&w.call("GET", "echo", b""), None).await), 200);
    }
    registry::revoke(db, &ctx(), CLIENT, PROVIDER, SERVICE)
        .await
        .unwrap();
    let r = w.send(&w.call("GET", "echo", b""), None).await;
    assert_eq!(r.status(), 403, "a revoked right is refused at once");
    assert_eq!(problem_code(r).await, "lgsp_forbidden");
    w.grant(CLIENT).await;
    assert_eq!(status(w.send(&w.call("GET", "echo", b""), None).await), 200);

    registry::set_service_active(db, &ctx(), PROVIDER, SERVICE, false)
        .await
        .unwrap();
    assert_eq!(
        status(w.send(&w.call("GET", "echo", b""), None).await),
        404,
        "a paused service"
    );
    registry::set_service_active(db, &ctx(), PROVIDER, SERVICE, true)
        .await
        .unwrap();
    assert_eq!(status(w.send(&w.call("GET", "echo", b""), None).await), 200);

    registry::set_member_active(db, &ctx(), CLIENT, false)
        .await
        .unwrap();
    let r = w.send(&w.call("GET", "echo", b""), None).await;
    assert_eq!(r.status(), 401, "a suspended member");
    assert_eq!(problem_code(r).await, "lgsp_unknown_member");
    registry::set_member_active(db, &ctx(), CLIENT, true)
        .await
        .unwrap();
    assert_eq!(status(w.send(&w.call("GET", "echo", b""), None).await), 200);

    registry::rotate_key(db, &ctx(), CLIENT, &support::public_key(9))
        .await
        .unwrap();
    let r = w.send(&w.call("GET", "echo", b""), None).await;
    assert_eq!(r.status(), 401, "the key replaced by a rotation");
    assert_eq!(problem_code(r).await, "lgsp_bad_signature");
    let new_key = key(9);
    let mut c = w.call("GET", "echo", b"");
    c.key = &new_key;
    assert_eq!(status(w.send(&c, None).await), 200, "the new key");
    assert_eq!(
        outcomes(db, 11).await,
        vec![
            "ok",
            "ok",
            "ok",
            "forbidden",
            "ok",
            "unknown_service",
            "ok",
            "unknown_member",
            "ok",
            "bad_signature",
            "ok"
        ]
    );
}

/// Nonces are decided in memory and written with the log entries: a hub started again on the
/// same database (a restart) loads them and still refuses the replay.
#[tokio::test]
async fn a_replay_is_refused_after_the_hub_restarts() {
    let w = world().await;
    w.grant(CLIENT).await;
    let c = w.call("POST", "echo", b"{\"a\":1}");
    assert_eq!(w.send(&c, None).await.status(), 200);
    let nonces: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM exchange_nonces WHERE member_code = $1 AND nonce = $2",
    )
    .bind(CLIENT)
    .bind(&c.nonce)
    .fetch_one(w.t.db.pool())
    .await
    .unwrap();
    assert_eq!(nonces, 1, "the nonce is in the database with the log entry");
    let again = Arc::new(Hub::new(w.t.db.clone(), HubConfig::default()));
    let state = tinhso_http::AppState::new(w.t.db.clone(), tinhso_http::WebConfig::default());
    let addr = serve(tinhso_exchange::web::member_routes(again).with_state(state)).await;
    let again_url = format!("http://{addr}");
    let r = w.send_via(&again_url, &c, None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(problem_code(r).await, "lgsp_replayed");
    // A fresh request through the restarted hub goes through, and the chain holds.
    let fresh = w.call("POST", "echo", b"{\"a\":2}");
    assert_eq!(w.send_via(&again_url, &fresh, None).await.status(), 200);
    let v = log::verify(&w.t.db, None).await.unwrap();
    assert_eq!((v.entries_checked, v.first_broken), (3, None));
}

/// Two hub nodes on one database (PostgreSQL's default, `nonces_before_forwarding`): a request
/// answered by one node and replayed to the other, whose memory has never seen it, is refused
/// by the database's unique key before anything is forwarded.
#[tokio::test]
async fn a_replay_through_another_node_is_refused_before_forwarding() {
    let w = world().await;
    w.grant(CLIENT).await;
    let other = Arc::new(Hub::new(
        w.t.db.clone(),
        HubConfig {
            nonces_before_forwarding: Some(true),
            ..HubConfig::default()
        },
    ));
    let state = tinhso_http::AppState::new(w.t.db.clone(), tinhso_http::WebConfig::default());
    let addr = serve(tinhso_exchange::web::member_routes(other).with_state(state)).await;
    let other = format!("http://{addr}");
    // The other node has loaded its window (a first request of its own) before the replay.
    let first = w.call("POST", "echo", b"{\"n\":0}");
    assert_eq!(w.send_via(&other, &first, None).await.status(), 200);
    let c = w.call("POST", "echo", b"{\"a\":1}");
    assert_eq!(w.send(&c, None).await.status(), 200);
    let r = w.send_via(&other, &c, None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(problem_code(r).await, "lgsp_replayed");
    // Its own replay is refused too, and a fresh request still goes through.
    assert_eq!(w.send_via(&other, &first, None).await.status(), 401);
    let fresh = w.call("POST", "echo", b"{\"a\":2}");
    assert_eq!(w.send_via(&other, &fresh, None).await.status(), 200);
}

/// Two hub nodes on one database, both taking nonces before forwarding (batched by their log
/// writers): the same signed request sent at once to both, ten times to each, is forwarded
/// exactly once; every other copy is refused as a replay (401) and logged.
#[tokio::test]
async fn the_same_request_sent_at_once_to_two_nodes_goes_through_once() {
    let w = Arc::new(world().await);
    w.grant(CLIENT).await;
    let node = |db: tinhso_store::Db| async move {
        let hub = Arc::new(Hub::new(
            db.clone(),
            HubConfig {
                nonces_before_forwarding: Some(true),
                ..HubConfig::default()
            },
        ));
        let state = tinhso_http::AppState::new(db, tinhso_http::WebConfig::default());
        let addr = serve(tinhso_exchange::web::member_routes(hub).with_state(state)).await;
        format!("http://{addr}")
    };
    let nodes = [node(w.t.db.clone()).await, node(w.t.db.clone()).await];
    // Each node has loaded its window (a first request of its own), so neither asks memory
    // only: the database's unique key has to decide between them.
    for base in &nodes {
        let first = w.call("POST", "echo", b"{\"n\":0}");
        assert_eq!(w.send_via(base, &first, None).await.status(), 200);
    }
    let c = w.call("POST", "echo", b"{\"hai_nut\":true}");
    let (path, ts, nonce) = (c.path.clone(), c.ts, c.nonce.clone());
    let mut tasks = Vec::new();
    for i in 0..20 {
        let w = w.clone();
        let base = nodes[i % 2].clone();
        let (path, nonce) = (path.clone(), nonce.clone());
        tasks.push(tokio::spawn(async move {
            let c = w.copy_of("POST", path, b"{\"hai_nut\":true}", ts, nonce);
            let r = w.send_via(&base, &c, None).await;
            let status = r.status().as_u16();
            let code = if status == 401 {
                problem_code(r).await
            } else {
                String::new()
            };
            (status, code)
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    let replayed = answers
        .iter()
        .filter(|(s, code)| *s == 401 && code == "lgsp_replayed")
        .count();
    assert_eq!((ok, replayed), (1, 19), "{answers:?}");
    // 2 first requests + 20 copies, each logged once; one copy forwarded.
    let logged = outcomes(&w.t.db, 20).await;
    let count = |what: &str| logged.iter().filter(|o| o.as_str() == what).count();
    assert_eq!((count("ok"), count("replayed")), (1, 19), "{logged:?}");
    let v = log::verify(&w.t.db, None).await.unwrap();
    assert_eq!((v.entries_checked, v.first_broken), (22, None));
    let in_flight: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM exchange_inflight")
        .fetch_one(w.t.db.pool())
        .await
        .unwrap();
    assert_eq!(in_flight, 0, "every in-flight row closed by its log entry");
}

/// An exchange with the echo service (its bodies kept); its id.
async fn echo_kept(w: &World, n: usize) -> String {
    let r = w
        .send(
            &w.call("POST", "echo", format!("{{\"n\":{n}}}").as_bytes()),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    r.headers()["x-lgsp-exchange-id"]
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn rotating_the_body_key_re_seals_kept_bodies_and_old_ones_stay_readable() {
    use tinhso_exchange::bodies;
    let w = world().await;
    let db = &w.t.db;
    w.grant(CLIENT).await;
    let stored = |id: String| async move {
        sqlx::query_scalar::<_, String>(
            "SELECT request_body FROM exchange_bodies WHERE exchange_id = $1",
        )
        .bind(id)
        .fetch_one(db.pool())
        .await
        .unwrap()
    };
    // Sealed under version 1 before any rotation (as bodies kept before rotation existed).
    let old = echo_kept(&w, 0).await;
    let v1 = bodies::seal_with(1, &old, "request", b"{\"n\":0}").unwrap();
    sqlx::query(
        "UPDATE exchange_bodies SET request_body = $1, response_body = $2 WHERE exchange_id = $3",
    )
    .bind(&v1)
    .bind(bodies::seal_with(1, &old, "response", b"{\"n\":0}").unwrap())
    .bind(&old)
    .execute(db.pool())
    .await
    .unwrap();
    assert_eq!(bodies::newest_version(db).await.unwrap(), 1);

    let v = bodies::rotate(db, &ctx()).await.unwrap();
    assert_eq!(v, 2);
    assert!(bodies::current_version() >= 2);
    // Not yet re-sealed: the old body still opens under its own key id.
    assert_eq!(bodies::version_of(&stored(old.clone()).await), 1);
    assert_eq!(
        bodies::read(db, &ctx(), &old)
            .await
            .unwrap()
            .request_text
            .as_deref(),
        Some("{\"n\":0}")
    );
    // New bodies are sealed under the new version.
    let new = echo_kept(&w, 1).await;
    assert_eq!(bodies::version_of(&stored(new.clone()).await), 2);

    let r = bodies::reseal(db, &ctx(), 1).await.unwrap();
    assert_eq!((r.version, r.resealed, r.unreadable.len()), (2, 1, 0));
    let resealed = stored(old.clone()).await;
    assert!(resealed.starts_with("k2:"), "{resealed}");
    assert_ne!(resealed, v1);
    assert_eq!(
        bodies::read(db, &ctx(), &old)
            .await
            .unwrap()
            .request_text
            .as_deref(),
        Some("{\"n\":0}")
    );
    assert_eq!(bodies::count_by_version(db).await.unwrap(), vec![(2, 2)]);
    // Idempotent: nothing left under an older version.
    assert_eq!(bodies::reseal(db, &ctx(), 1).await.unwrap().resealed, 0);
    // An altered body is reported, left as it is, and caught by verification.
    let w2 = bodies::rotate(db, &ctx()).await.unwrap();
    assert_eq!(w2, 3);
    sqlx::query("UPDATE exchange_bodies SET request_body = 'k2:AAAA' WHERE exchange_id = $1")
        .bind(&new)
        .execute(db.pool())
        .await
        .unwrap();
    let r = bodies::reseal(db, &ctx(), 100).await.unwrap();
    assert_eq!((r.resealed, r.unreadable.clone()), (1, vec![new.clone()]));
    assert_eq!(bodies::version_of(&stored(old.clone()).await), 3);
    let v = log::verify(db, Some(&w.hub_public_key)).await.unwrap();
    assert!(v.first_broken.is_some());
    // On the audit trail: two rotations, two re-seals that changed something.
    assert_eq!(
        tinhso_store::db::count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'exchange.body_key_rotate'"
        )
        .await
        .unwrap(),
        2
    );
    assert_eq!(
        tinhso_store::db::count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'exchange.bodies_reseal'"
        )
        .await
        .unwrap(),
        2
    );
}
