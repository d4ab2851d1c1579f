//! Direct member-to-member calls on loopback: the hub (its own database) publishes the signed
//! registry snapshot; two members' nodes, each with its own database, fetch it; the provider's
//! node serves its service as a gateway, the client's node calls it directly. SQLite or
//! PostgreSQL (`TINHSO_TEST_PG_URL`) for all three databases.

use crate::support::{self, ctx, grant, key, register, serve, with_headers};
use axum::http::HeaderMap;
use axum::routing::post;
use std::sync::Arc;
use std::time::Duration;
use tinhso_exchange::direct::{self, CallError, DirectRequest, Node, NodeConfig, SnapshotError};
use tinhso_exchange::signing::{self, client_headers, new_nonce};
use tinhso_exchange::{log, registry, Hub, HubConfig};
use tinhso_store::test_support::TestDb;
use tinhso_store::{now_micros, Db};

const CLIENT: &str = "000.00.23.H37"; // a commune People's Committee
const OTHER: &str = "000.00.24.H37"; // another one, without a right
const PROVIDER: &str = "000.00.19.H37-HOTICH"; // the civil-status system
const SERVICE: &str = "trich-luc-khai-sinh";

struct World {
    hub_db: TestDb,
    hub_url: String,
    hub_key: String,
    /// The provider's node and its gateway's address.
    provider: Arc<Node>,
    provider_db: TestDb,
    gateway: String,
    client: Arc<Node>,
    client_db: TestDb,
    other: Arc<Node>,
    other_db: TestDb,
}

fn openapi() -> serde_json::Value {
    serde_json::json!({
        "openapi": "3.1.0",
        "info": { "title": "Trích lục khai sinh", "version": "1" },
        "paths": {
            "/echo": { "post": { "responses": { "200": { "description": "ok" } } } },
            "/records/{id}": { "get": { "responses": { "200": { "description": "ok" } } } }
        }
    })
}

/// The provider's own service behind its gateway: echoes who called and what it got.
async fn provider_service() -> std::net::SocketAddr {
    async fn echo(headers: HeaderMap, body: String) -> axum::Json<serde_json::Value> {
        axum::Json(serde_json::json!({
            "client": headers.get("x-lgsp-client").and_then(|v| v.to_str().ok()),
            "body": body,
        }))
    }
    serve(
        axum::Router::new()
            .route("/api/echo", post(echo))
            .route("/api/records/{id}", axum::routing::get(echo)),
    )
    .await
}

fn node_config(member: &str, hub_url: &str, hub_key: &str) -> NodeConfig {
    NodeConfig {
        member: member.into(),
        hub_url: hub_url.into(),
        hub_key: hub_key.into(),
        refresh: Duration::from_secs(3600),
        max_age: Duration::from_secs(600),
        timeout: Duration::from_secs(5),
    }
}

/// A member's node on a fresh database of its own, with the snapshot fetched once.
async fn node(cfg: NodeConfig, seed: u8) -> (Arc<Node>, TestDb) {
    let t = support::db().await;
    let n = Node::open(t.db.clone(), key(seed), cfg).await.unwrap();
    n.refresh().await.unwrap();
    (Arc::new(n), t)
}

async fn world() -> World {
    let hub_db = support::db().await;
    let db = &hub_db.db;
    register(db, CLIENT, "UBND phường Tam Thanh", 1).await;
    register(db, OTHER, "UBND phường Đông Kinh", 2).await;
    register(db, PROVIDER, "Sở Tư pháp — hệ thống hộ tịch", 3).await;
    let service = provider_service().await;
    support::register_service(
        db,
        PROVIDER,
        SERVICE,
        "Trích lục khai sinh",
        format!("http://{service}/api"),
        openapi(),
        "internal",
    )
    .await;
    grant(db, CLIENT, PROVIDER, SERVICE).await;
    let hub = Arc::new(Hub::new(db.clone(), HubConfig::default()));
    let hub_key = hub.public_key();
    let state = tinhso_http::AppState::new(db.clone(), tinhso_http::WebConfig::default());
    let addr = serve(tinhso_exchange::web::member_routes(hub).with_state(state)).await;
    let hub_url = format!("http://{addr}");
    let (provider, provider_db) = node(node_config(PROVIDER, &hub_url, &hub_key), 3).await;
    let gw = Arc::new(Hub::gateway(
        provider_db.db.clone(),
        HubConfig::default(),
        provider.clone(),
    ));
    let gateway = format!("http://{}", serve(direct::gateway_routes(gw)).await);
    let (client, client_db) = node(node_config(CLIENT, &hub_url, &hub_key), 1).await;
    let (other, other_db) = node(node_config(OTHER, &hub_url, &hub_key), 2).await;
    World {
        hub_db,
        hub_url,
        hub_key,
        provider,
        provider_db,
        gateway,
        client,
        client_db,
        other,
        other_db,
    }
}

impl World {
    /// The status of the client's granted echo call.
    async fn client_status(&self) -> u16 {
        let a = self.client.call(&self.gateway, echo(b"{}")).await.unwrap();
        a.status
    }

    /// Revokes the client's right on the hub.
    async fn revoke_client(&self) {
        registry::revoke(&self.hub_db.db, &ctx(), CLIENT, PROVIDER, SERVICE)
            .await
            .unwrap();
    }
}

fn echo(body: &[u8]) -> DirectRequest<'_> {
    DirectRequest {
        method: "POST",
        provider: PROVIDER,
        service: SERVICE,
        rest: "/echo?nam=2026",
        body,
        content_type: Some("application/json"),
    }
}

fn code(a: &direct::Answer) -> String {
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    v["code"].as_str().unwrap_or_default().to_string()
}

async fn assert_chain_intact(db: &Db) {
    assert_eq!(log::verify(db, None).await.unwrap().first_broken, None);
}

async fn last_entry(db: &Db) -> log::Entry {
    log::recent(db, 1).await.unwrap().pop().unwrap()
}

#[tokio::test]
async fn a_granted_direct_call_is_answered_signed_and_logged_on_both_nodes() {
    let w = world().await;
    let body = serde_json::json!({ "so_dinh_danh": "020190001234", "ho_ten": "Hoàng Thị Mai" })
        .to_string();
    let a = w
        .client
        .call(&w.gateway, echo(body.as_bytes()))
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    let got: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(
        got["client"], CLIENT,
        "the provider's service learns who calls"
    );
    assert_eq!(got["body"], body, "the body arrives unchanged");

    // The provider's node logged it in its own chain, signed with the provider's key.
    let p = last_entry(&w.provider_db.db).await;
    assert_eq!(p.exchange_id, a.exchange_id);
    assert_eq!((p.client.as_str(), p.outcome.as_str()), (CLIENT, "ok"));
    assert_eq!(
        p.path,
        format!("/lgsp/v1/{PROVIDER}/{SERVICE}/echo?nam=2026")
    );
    assert!(signing::verify(
        &support::public_key(3),
        &signing::response_text(&p.exchange_id, 200, &p.request_sha256, &p.response_sha256),
        &p.hub_signature
    ));
    // Anchored with the provider's key, as its node does every 10 minutes.
    assert!(log::anchor(&w.provider_db.db, &key(3))
        .await
        .unwrap()
        .is_some());
    let v = log::verify(&w.provider_db.db, Some(&support::public_key(3)))
        .await
        .unwrap();
    assert_eq!(v.first_broken, None);
    assert!(v.entries_checked >= 1);
    assert_eq!(
        v.bodies_checked, 1,
        "an internal service's bodies are kept, and check"
    );

    // The client's node logged the same exchange with the provider's signature as evidence.
    let c = last_entry(&w.client_db.db).await;
    assert_eq!(c.exchange_id, a.exchange_id);
    assert_eq!(c.request_sha256, p.request_sha256);
    assert_eq!(c.response_sha256, p.response_sha256);
    assert_eq!(c.hub_signature, p.hub_signature);
    assert_chain_intact(&w.client_db.db).await;

    // The hub saw the snapshot fetches only, never the exchange itself.
    let on_hub = log::recent(&w.hub_db.db, 100).await.unwrap();
    assert_eq!(on_hub.len(), 3, "one signed snapshot fetch per node");
    assert!(on_hub
        .iter()
        .all(|e| e.service == "_registry" && e.outcome == "ok"));

    // Asking this gateway for a service of another member (here CLIENT's own): the gateway
    // answers 404 signed with the provider's key, which is not the key of the member the
    // client meant to call, so the client refuses the answer as unsigned.
    let r = w
        .client
        .call(
            &w.gateway,
            DirectRequest {
                provider: CLIENT,
                ..echo(b"{}")
            },
        )
        .await;
    assert!(
        matches!(r, Err(CallError::Unsigned { status: 404 })),
        "{r:?}"
    );
    assert_eq!(
        last_entry(&w.provider_db.db).await.outcome,
        "unknown_service"
    );
}

#[tokio::test]
async fn without_a_right_the_gateway_answers_403_and_a_revocation_applies_at_the_next_fetch() {
    let w = world().await;
    let a = w.other.call(&w.gateway, echo(b"{}")).await.unwrap();
    assert_eq!((a.status, code(&a).as_str()), (403, "lgsp_forbidden"));
    assert_eq!(last_entry(&w.provider_db.db).await.outcome, "forbidden");
    assert_eq!(last_entry(&w.other_db.db).await.outcome, "forbidden");

    // A right narrowed to one operation: another operation is refused, naming it.
    registry::grant_operations(
        &w.hub_db.db,
        &ctx(),
        OTHER,
        PROVIDER,
        SERVICE,
        &["GET /records/{id}".to_string()],
    )
    .await
    .unwrap();
    let before = w.provider.current().unwrap().snapshot.version;
    assert!(
        w.provider.refresh().await.unwrap() > before,
        "a changed registry is a new version"
    );
    let get = DirectRequest {
        method: "GET",
        rest: "/records/42",
        body: b"",
        content_type: None,
        ..echo(b"")
    };
    assert_eq!(w.other.call(&w.gateway, get).await.unwrap().status, 200);
    let a = w.other.call(&w.gateway, echo(b"{}")).await.unwrap();
    assert_eq!(a.status, 403);
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(v["operation"], "POST /echo");

    // Revoked on the hub: the provider's node still holds the old snapshot, so the call still
    // passes until the next fetch (the window is `refresh`), then it is refused.
    assert_eq!(w.client_status().await, 200);
    w.revoke_client().await;
    assert_eq!(w.client_status().await, 200);
    w.provider.refresh().await.unwrap();
    let a = w.client.call(&w.gateway, echo(b"{}")).await.unwrap();
    assert_eq!((a.status, code(&a).as_str()), (403, "lgsp_forbidden"));

    // Suspending the client member on the hub: its key is no longer accepted (401).
    registry::set_member_active(&w.hub_db.db, &ctx(), OTHER, false)
        .await
        .unwrap();
    w.provider.refresh().await.unwrap();
    let a = w.other.call(&w.gateway, get).await.unwrap();
    assert_eq!((a.status, code(&a).as_str()), (401, "lgsp_unknown_member"));
}

#[tokio::test]
async fn a_replayed_or_stale_or_forged_request_is_refused_401() {
    let w = world().await;
    let http = reqwest::Client::new();
    let path = format!("/lgsp/v1/{PROVIDER}/{SERVICE}/echo");
    let send = |ts: i64, nonce: String, seed: u8| {
        let req = http
            .post(format!("{}{path}", w.gateway))
            .body(b"{}".to_vec());
        with_headers(
            req,
            client_headers(&key(seed), CLIENT, "POST", &path, b"{}", ts, &nonce),
        )
        .send()
    };
    let now = now_micros() / 1_000_000;
    let nonce = new_nonce();
    assert_eq!(send(now, nonce.clone(), 1).await.unwrap().status(), 200);
    let again = send(now, nonce, 1).await.unwrap();
    assert_eq!(again.status(), 401);
    assert!(
        again.headers().contains_key(signing::H_PROVIDER_SIGNATURE),
        "refusals are signed by the provider too"
    );
    let v: serde_json::Value = again.json().await.unwrap();
    assert_eq!(v["code"], "lgsp_replayed");
    let old = send(now - 3600, new_nonce(), 1).await.unwrap();
    assert_eq!(old.status(), 401);
    let v: serde_json::Value = old.json().await.unwrap();
    assert_eq!(v["code"], "lgsp_expired");
    let wrong_key = send(now, new_nonce(), 9).await.unwrap();
    let v: serde_json::Value = wrong_key.json().await.unwrap();
    assert_eq!(v["code"], "lgsp_bad_signature");
    let outcomes: Vec<String> = log::recent(&w.provider_db.db, 4)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .map(|e| e.outcome)
        .collect();
    assert_eq!(outcomes, ["ok", "replayed", "expired", "bad_signature"]);
    assert_chain_intact(&w.provider_db.db).await;
}

#[tokio::test]
async fn a_forged_or_older_snapshot_is_refused_and_the_last_good_one_is_kept() {
    let w = world().await;
    let held = w.provider.current().unwrap().snapshot.clone();
    // Signed by someone else than the hub (a member's key): refused.
    let mut forged = held.clone();
    forged.version += 10;
    forged.issued_at = now_micros();
    forged.rights.clear();
    let body = serde_json::to_vec(&forged).unwrap();
    let sig = signing::sign(
        &key(3),
        &signing::registry_text(&signing::sha256_hex(&body)),
    );
    let r = w.provider.accept(&body, &sig).await;
    assert!(matches!(r, Err(SnapshotError::BadSignature)), "{r:?}");
    // A real snapshot altered after signing: refused.
    let (real, real_sig) = direct::publish(&w.hub_db.db, &tinhso_exchange::hub::hub_key())
        .await
        .unwrap();
    let mut altered = real.clone();
    let at = altered.iter().position(|b| *b == b'1').unwrap();
    altered[at] = b'2';
    let r = w.provider.accept(&altered, &real_sig).await;
    assert!(matches!(r, Err(SnapshotError::BadSignature)), "{r:?}");
    // The last good one is still in force: the granted call goes through.
    assert_eq!(w.provider.current().unwrap().snapshot, held);
    assert_eq!(w.client_status().await, 200);

    // An older version than the one held (a replayed snapshot): refused.
    w.revoke_client().await;
    let newer = w.provider.refresh().await.unwrap();
    let r = w.provider.accept(&real, &real_sig).await;
    assert!(
        matches!(r, Err(SnapshotError::Rollback { held, .. }) if held == newer),
        "{r:?}"
    );

    // A node configured with another hub key accepts nothing from this hub, and with no
    // snapshot it decides nothing: 503.
    let t = support::db().await;
    let wrong = signing::public_key_b64(&key(7));
    let n = Node::open(
        t.db.clone(),
        key(3),
        node_config(PROVIDER, &w.hub_url, &wrong),
    )
    .await
    .unwrap();
    assert!(matches!(
        n.refresh().await,
        Err(SnapshotError::BadSignature)
    ));
    assert_eq!(n.current().err(), Some(direct::Stale::Missing));

    // A restarted node takes the kept snapshot back from its database (it still verifies).
    let again = Node::open(
        w.provider_db.db.clone(),
        key(3),
        node_config(PROVIDER, &w.hub_url, &w.hub_key),
    )
    .await
    .unwrap();
    assert_eq!(again.current().unwrap().snapshot.version, newer);
}

#[tokio::test]
async fn a_snapshot_older_than_the_maximum_age_stops_every_call_with_503() {
    let w = world().await;
    let mut cfg = node_config(PROVIDER, &w.hub_url, &w.hub_key);
    cfg.max_age = Duration::from_millis(400);
    let t = support::db().await;
    let provider = Arc::new(Node::open(t.db.clone(), key(3), cfg).await.unwrap());
    provider.refresh().await.unwrap();
    let gw = Arc::new(Hub::gateway(
        t.db.clone(),
        HubConfig::default(),
        provider.clone(),
    ));
    let gateway = format!("http://{}", serve(direct::gateway_routes(gw)).await);
    assert_eq!(
        w.client.call(&gateway, echo(b"{}")).await.unwrap().status,
        200
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(matches!(
        provider.current(),
        Err(direct::Stale::TooOld { .. })
    ));
    let a = w.client.call(&gateway, echo(b"{}")).await.unwrap();
    assert_eq!((a.status, code(&a).as_str()), (503, "lgsp_registry_stale"));
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert!(v["title_en"]
        .as_str()
        .unwrap()
        .contains("older than allowed"));
    assert!(v["title_vi"].as_str().unwrap().contains("quá thời hạn"));
    assert_eq!(last_entry(&t.db).await.outcome, "registry_stale");
    // A fresh fetch lifts it.
    provider.refresh().await.unwrap();
    assert_eq!(
        w.client.call(&gateway, echo(b"{}")).await.unwrap().status,
        200
    );

    // The client side fails closed the same way: no call goes out on a stale snapshot.
    let mut cfg = node_config(CLIENT, &w.hub_url, &w.hub_key);
    cfg.max_age = Duration::from_millis(1);
    let c = Node::open(w.client_db.db.clone(), key(1), cfg)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let r = c.call(&gateway, echo(b"{}")).await;
    assert!(matches!(r, Err(CallError::Stale(_))), "{r:?}");
}

#[tokio::test]
async fn a_gateway_address_registered_on_the_hub_reaches_the_nodes_in_the_snapshot() {
    let w = world().await;
    let db = &w.hub_db.db;
    w.client.refresh().await.unwrap();
    let before = w.client.current().unwrap().snapshot.version;
    assert_eq!(w.client.gateway_of(PROVIDER), None, "none registered yet");
    // Refused with the field named; nothing written.
    for bad in [
        "ftp://x",
        "https://user:pw@host",
        "https://",
        "https://h/?q=1",
    ] {
        let e = registry::set_gateway(db, &ctx(), PROVIDER, bad)
            .await
            .unwrap_err();
        assert_eq!(
            (e.status(), e.fields[0].field.as_str()),
            (422, "gateway_url"),
            "{bad}"
        );
    }
    let e = registry::set_gateway(db, &ctx(), "000.00.99.H37", &w.gateway)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 404);
    registry::set_gateway(db, &ctx(), PROVIDER, &format!("{}/", w.gateway))
        .await
        .unwrap();
    assert_eq!(
        tinhso_store::db::count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'exchange.member_gateway'"
        )
        .await
        .unwrap(),
        1
    );
    // The next snapshot carries it (a new version); the client's node calls by it.
    w.client.refresh().await.unwrap();
    let held = w.client.current().unwrap();
    assert!(held.snapshot.version > before);
    let gateway = w.client.gateway_of(PROVIDER).unwrap();
    assert_eq!(gateway, w.gateway, "stored without the trailing /");
    assert_eq!(
        w.client.call(&gateway, echo(b"{}")).await.unwrap().status,
        200
    );
    // Removed: gone from the next snapshot.
    registry::set_gateway(db, &ctx(), PROVIDER, "")
        .await
        .unwrap();
    w.client.refresh().await.unwrap();
    assert_eq!(w.client.gateway_of(PROVIDER), None);
}
