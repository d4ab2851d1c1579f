//! The hub dies between forwarding and logging (sập giữa chuyển tiếp và ghi nhật ký): the hub
//! runs on a tokio runtime of its own with its own connection pool — its "process" — and the
//! provider, on the test's runtime, stops that runtime dead while it holds the forwarded
//! request: after the nonce (and the exchange's in-flight row) was committed, before the log
//! entry. A hub started again on the same database must log that exchange (`interrupted`,
//! status 0, signed), keep the chain whole and refuse the request's replay without calling the
//! provider again. SQLite or PostgreSQL (`TINHSO_TEST_PG_URL`), nonces written before
//! forwarding (PostgreSQL's default, forced on here for both).

use crate::support::{self, grant, key, register, serve, signed_now};
use axum::http::HeaderMap;
use axum::routing::post;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tinhso_exchange::{log, signing, Hub, HubConfig};
use tinhso_store::db::DbOptions;
use tinhso_store::Db;

const CLIENT: &str = "000.00.23.H37";
const PROVIDER: &str = "000.00.19.H37-HOTICH";
const SERVICE: &str = "trich-luc-khai-sinh";

/// A hub on a runtime of its own (its "process"), over its own pool on the database at `url`.
struct HubProcess {
    rt: Option<tokio::runtime::Runtime>,
    base: String,
}

impl HubProcess {
    fn start(url: String, cfg: HubConfig) -> Self {
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let base = rt.block_on(async move {
                let db = Db::connect(&url, &DbOptions::default()).await.unwrap();
                let state =
                    tinhso_http::AppState::new(db.clone(), tinhso_http::WebConfig::default());
                let hub = Arc::new(Hub::new(db, cfg));
                let app = tinhso_exchange::web::member_routes(hub).with_state(state);
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = l.local_addr().unwrap();
                tokio::spawn(async move { axum::serve(l, app).await });
                format!("http://{addr}")
            });
            Self { rt: Some(rt), base }
        })
        .join()
        .unwrap()
    }

    /// Stop every task of the hub where it stands (nothing after this point runs).
    fn kill(&mut self) {
        if let Some(rt) = self.rt.take() {
            std::thread::spawn(move || rt.shutdown_background())
                .join()
                .unwrap();
        }
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exchange_cut_off_between_forwarding_and_logging_is_logged_after_a_restart() {
    let t = support::db().await;
    let db = &t.db;
    register(db, CLIENT, "UBND phường Tam Thanh", 1).await;
    register(db, PROVIDER, "Sở Tư pháp — hệ thống hộ tịch", 3).await;
    // The provider: tells the test which exchange reached it, then never answers.
    let reached = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let app = {
        let reached = reached.clone();
        axum::Router::new().route(
            "/api/echo",
            post(move |headers: HeaderMap| {
                let (reached, tx) = (reached.clone(), tx.clone());
                async move {
                    reached.fetch_add(1, Ordering::SeqCst);
                    let id = headers
                        .get(signing::H_EXCHANGE_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let _ = tx.send(id);
                    std::future::pending::<()>().await;
                    "never"
                }
            }),
        )
    };
    let provider = serve(app).await;
    support::register_service(
        db,
        PROVIDER,
        SERVICE,
        "Trích lục khai sinh",
        format!("http://{provider}/api"),
        serde_json::json!({
            "openapi": "3.1.0", "info": {"title": "t", "version": "1"},
            "paths": {"/echo": {"post": {"responses": {"200": {"description": "ok"}}}}}
        }),
        "internal",
    )
    .await;
    grant(db, CLIENT, PROVIDER, SERVICE).await;
    let cfg = HubConfig {
        nonces_before_forwarding: Some(true),
        timeout: Duration::from_secs(30),
        interrupted_after: Duration::from_millis(500),
        ..Default::default()
    };

    // The signed request, sent to the first hub, which dies holding it.
    let path = format!("/lgsp/v1/{PROVIDER}/{SERVICE}/echo");
    let body = br#"{"so_dinh_danh":"020190001234"}"#.to_vec();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let request = |base: &str| {
        http.post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body.clone())
    };
    let mut first = HubProcess::start(t.url(), cfg.clone());
    let signed = signed_now(request(&first.base), &key(1), CLIENT, "POST", &path, &body)
        .build()
        .unwrap();
    let replay = signed.try_clone().unwrap();
    let header = |n: &str| signed.headers()[n].to_str().unwrap().to_string();
    let request_sha256 = signing::sha256_hex(
        signing::request_text(
            "POST",
            &path,
            header(signing::H_TIMESTAMP).parse().unwrap(),
            &header(signing::H_NONCE),
            &signing::sha256_hex(&body),
        )
        .as_bytes(),
    );
    let sent = tokio::spawn(http.execute(signed));
    let exchange_id = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("the request reached the provider")
        .unwrap();
    first.kill();
    assert!(sent.await.unwrap().is_err(), "the client got no answer");
    assert_eq!(
        log::recent(db, 10).await.unwrap().len(),
        0,
        "nothing logged"
    );
    let inflight = tinhso_store::db::count(db, "SELECT COUNT(*) FROM exchange_inflight")
        .await
        .unwrap();
    assert_eq!(inflight, 1, "the exchange left its in-flight row");

    // Started again: the cut-off exchange is logged as interrupted, the row closed.
    let second = HubProcess::start(t.url(), cfg);
    let hub_public_key = signing::public_key_b64(&tinhso_exchange::hub::hub_key());
    // The replay (same nonce) also starts the hub's sweep; it is refused, not forwarded.
    let mut replay = replay;
    *replay.url_mut() = format!("{}{path}", second.base).parse().unwrap();
    let r = http.execute(replay).await.unwrap();
    assert_eq!(r.status(), 401);
    let problem: serde_json::Value = r.json().await.unwrap();
    assert_eq!(problem["code"], "lgsp_replayed");
    let deadline = Instant::now() + Duration::from_secs(15);
    let entry = loop {
        let found = log::recent(db, 10)
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.exchange_id == exchange_id);
        if let Some(e) = found {
            break e;
        }
        assert!(
            Instant::now() < deadline,
            "the interrupted exchange was never logged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        reached.load(Ordering::SeqCst),
        1,
        "the provider was called once"
    );
    assert_eq!(
        (entry.outcome.as_str(), entry.status, entry.client.as_str()),
        (log::INTERRUPTED, 0, CLIENT)
    );
    assert_eq!(
        (entry.provider.as_str(), entry.service.as_str()),
        (PROVIDER, SERVICE)
    );
    // The hash of what the client signed, and the hub's signature over "no answer".
    assert_eq!(entry.request_sha256, request_sha256);
    let response_text = signing::response_text(
        &entry.exchange_id,
        0,
        &entry.request_sha256,
        &signing::sha256_hex(b""),
    );
    assert!(signing::verify(
        &hub_public_key,
        &response_text,
        &entry.hub_signature
    ));
    assert_eq!(
        tinhso_store::db::count(db, "SELECT COUNT(*) FROM exchange_inflight")
            .await
            .unwrap(),
        0
    );
    // The refused replay is logged after it; the chain is whole.
    let v = log::verify(db, Some(&hub_public_key)).await.unwrap();
    assert_eq!((v.entries_checked, v.first_broken), (2, None));
    let outcomes: Vec<String> = log::recent(db, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.outcome)
        .collect();
    assert!(outcomes.contains(&"replayed".to_string()), "{outcomes:?}");
}
