//! The hub dies between forwarding and logging (sập giữa chuyển tiếp và ghi nhật ký): the hub
//! runs on a tokio runtime of its own with its own connection pool — its "process" — and the
//! provider, on the test's runtime, stops that runtime dead while it holds the forwarded
//! request: after the nonce (and the exchange's in-flight row) was committed, before the log
//! entry. A hub started again on the same database — or another node that was running all
//! along and is asked nothing — must log that exchange (`interrupted`, status 0, signed), keep
//! the chain whole and refuse the request's replay without calling the provider again.
//! SQLite or PostgreSQL (`TINHSO_TEST_PG_URL`), nonces written before forwarding
//! (PostgreSQL's default, forced on here for both).

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

/// The members, the service and the right; a provider that tells the test which exchange
/// reached it (`reached`, `ids`), then never answers.
struct Setup {
    reached: Arc<AtomicUsize>,
    ids: tokio::sync::mpsc::UnboundedReceiver<String>,
    cfg: HubConfig,
    http: reqwest::Client,
}

/// The hub's settings: nonces before forwarding, a provider time-out the test never reaches,
/// an in-flight row counts as cut off after 500 ms; the sweep every `sweep`.
async fn setup(db: &Db, sweep: Duration) -> Setup {
    register(db, CLIENT, "UBND phường Tam Thanh", 1).await;
    register(db, PROVIDER, "Sở Tư pháp — hệ thống hộ tịch", 3).await;
    let reached = Arc::new(AtomicUsize::new(0));
    let (tx, ids) = tokio::sync::mpsc::unbounded_channel::<String>();
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
    Setup {
        reached,
        ids,
        cfg: HubConfig {
            nonces_before_forwarding: Some(true),
            timeout: Duration::from_secs(30),
            interrupted_after: Duration::from_millis(500),
            inflight_sweep: sweep,
            ..Default::default()
        },
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
    }
}

/// An exchange `hub` forwarded and died holding.
struct CutOff {
    exchange_id: String,
    request_sha256: String,
    /// The same signed request, to replay.
    replay: reqwest::Request,
}

const PATH: &str = "/lgsp/v1/000.00.19.H37-HOTICH/trich-luc-khai-sinh/echo";

/// Send a signed request to `hub`, kill `hub` once the provider holds it; the client got no
/// answer, nothing was logged, the in-flight row is there.
async fn cut_off(s: &mut Setup, db: &Db, hub: &mut HubProcess) -> CutOff {
    let body = br#"{"so_dinh_danh":"020190001234"}"#.to_vec();
    let request = s
        .http
        .post(format!("{}{PATH}", hub.base))
        .header("content-type", "application/json")
        .body(body.clone());
    let signed = signed_now(request, &key(1), CLIENT, "POST", PATH, &body)
        .build()
        .unwrap();
    let replay = signed.try_clone().unwrap();
    let header = |n: &str| signed.headers()[n].to_str().unwrap().to_string();
    let request_sha256 = signing::sha256_hex(
        signing::request_text(
            "POST",
            PATH,
            header(signing::H_TIMESTAMP).parse().unwrap(),
            &header(signing::H_NONCE),
            &signing::sha256_hex(&body),
        )
        .as_bytes(),
    );
    let sent = tokio::spawn(s.http.execute(signed));
    let exchange_id = tokio::time::timeout(Duration::from_secs(20), s.ids.recv())
        .await
        .expect("the request reached the provider")
        .unwrap();
    hub.kill();
    assert!(sent.await.unwrap().is_err(), "the client got no answer");
    assert_eq!(
        log::recent(db, 10).await.unwrap().len(),
        0,
        "nothing logged"
    );
    assert_eq!(inflight(db).await, 1, "the exchange left its in-flight row");
    CutOff {
        exchange_id,
        request_sha256,
        replay,
    }
}

async fn inflight(db: &Db) -> i64 {
    tinhso_store::db::count(db, "SELECT COUNT(*) FROM exchange_inflight")
        .await
        .unwrap()
}

/// Wait (at most `within`) for the cut-off exchange's entry, and check it: `interrupted`,
/// status 0, the hash of what the client signed, the hub's signature over "no answer", the
/// in-flight row gone, the provider called once.
async fn logged_as_interrupted(s: &Setup, db: &Db, cut: &CutOff, within: Duration) -> log::Entry {
    let deadline = Instant::now() + within;
    let entry = loop {
        let found = log::recent(db, 10)
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.exchange_id == cut.exchange_id);
        if let Some(e) = found {
            break e;
        }
        assert!(
            Instant::now() < deadline,
            "the interrupted exchange was not logged within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        s.reached.load(Ordering::SeqCst),
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
    assert_eq!(entry.request_sha256, cut.request_sha256);
    // Not before it counts as cut off.
    assert!(
        u128::try_from(entry.latency_us).unwrap() >= s.cfg.interrupted_after.as_micros(),
        "logged after {} µs",
        entry.latency_us
    );
    let response_text = signing::response_text(
        &entry.exchange_id,
        0,
        &entry.request_sha256,
        &signing::sha256_hex(b""),
    );
    assert!(signing::verify(
        &hub_public_key(),
        &response_text,
        &entry.hub_signature
    ));
    assert_eq!(inflight(db).await, 0);
    entry
}

fn hub_public_key() -> String {
    signing::public_key_b64(&tinhso_exchange::hub::hub_key())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exchange_cut_off_between_forwarding_and_logging_is_logged_after_a_restart() {
    let t = support::db().await;
    let db = &t.db;
    let mut s = setup(db, HubConfig::default().inflight_sweep).await;
    let mut first = HubProcess::start(t.url(), s.cfg.clone());
    let cut = cut_off(&mut s, db, &mut first).await;

    // Started again: the cut-off exchange is logged as interrupted, the row closed.
    let second = HubProcess::start(t.url(), s.cfg.clone());
    // The replay (same nonce) is refused, not forwarded.
    let mut replay = cut.replay.try_clone().unwrap();
    *replay.url_mut() = format!("{}{PATH}", second.base).parse().unwrap();
    let r = s.http.execute(replay).await.unwrap();
    assert_eq!(r.status(), 401);
    let problem: serde_json::Value = r.json().await.unwrap();
    assert_eq!(problem["code"], "lgsp_replayed");
    logged_as_interrupted(&s, db, &cut, Duration::from_secs(15)).await;
    // The refused replay is logged too; the chain is whole.
    let v = log::verify(db, Some(&hub_public_key())).await.unwrap();
    assert_eq!((v.entries_checked, v.first_broken), (2, None));
    let outcomes: Vec<String> = log::recent(db, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.outcome)
        .collect();
    assert!(outcomes.contains(&"replayed".to_string()), "{outcomes:?}");
}

/// Another node, serving since before the crash and asked nothing, logs the exchange by its
/// periodic sweep (`HubConfig::inflight_sweep`): a sweep only at start (and once
/// `interrupted_after` later) would never see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_node_logs_an_exchange_cut_off_by_another_nodes_crash() {
    let t = support::db().await;
    let db = &t.db;
    let mut s = setup(db, Duration::from_millis(200)).await;
    // Long enough that the other node, sweeping all along, cannot log the exchange before
    // `cut_off` has checked that nothing is logged yet, on a loaded machine too (at 500 ms it
    // did, now and then, under the whole suite).
    s.cfg.interrupted_after = Duration::from_secs(3);
    let other = HubProcess::start(t.url(), s.cfg.clone());
    let mut first = HubProcess::start(t.url(), s.cfg.clone());
    // Past the other node's start and its first sweep.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let cut = cut_off(&mut s, db, &mut first).await;
    logged_as_interrupted(&s, db, &cut, Duration::from_secs(15)).await;
    let v = log::verify(db, Some(&hub_public_key())).await.unwrap();
    assert_eq!((v.entries_checked, v.first_broken), (1, None));
    drop(other);
}

/// Nodes sweeping at the same moment (every node of a cluster sweeps) log each cut-off
/// exchange once: a row another sweep closed first is left out, not logged twice (the log's
/// unique exchange id would fail that sweep's whole batch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeps_at_the_same_time_log_each_cut_off_exchange_once() {
    let t = support::db().await;
    let db = &t.db;
    let long_ago = tinhso_store::now_micros() - 3_600_000_000;
    let mut tx = db.begin_write().await.unwrap();
    for i in 0..40 {
        log::InFlight {
            exchange_id: format!("cut-{i:02}"),
            client: CLIENT.into(),
            provider: PROVIDER.into(),
            service: SERVICE.into(),
            method: "POST".into(),
            path: PATH.into(),
            request_sha256: signing::sha256_hex(format!("request {i}").as_bytes()),
            client_signature: "c2lnbmF0dXJl".into(),
        }
        .write(&mut tx, long_ago + i)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let key = tinhso_exchange::hub::hub_key();
    let before = tinhso_store::now_micros();
    let sweeps: Vec<_> = (0..4)
        .map(|_| {
            let (db, key) = (db.clone(), key.clone());
            tokio::spawn(async move { log::close_interrupted(&db, &key, before).await })
        })
        .collect();
    let mut logged = 0;
    for s in sweeps {
        logged += s.await.unwrap().expect("no sweep fails").len();
    }
    assert_eq!(logged, 40);
    assert_eq!(inflight(db).await, 0);
    let v = log::verify(db, Some(&hub_public_key())).await.unwrap();
    assert_eq!((v.entries_checked, v.first_broken), (40, None));
}
