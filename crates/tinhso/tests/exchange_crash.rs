//! The exchange hub's message log survives a crash (nhật ký trao đổi không mất khi sập): the
//! real `tinhso serve` binary on a SQLite file (or a fresh PostgreSQL database when
//! `TINHSO_TEST_PG_URL` is set), a provider and a client member registered, signed exchanges
//! sent concurrently, the server killed with SIGKILL in the middle of the load, restarted;
//! then `tinhso exchange verify` must pass and every exchange whose answer the client received
//! must be in the log under its `x-lgsp-exchange-id`.
//!
//! No timing guesses: the kill happens once a given number of answers has arrived while every
//! worker still has a request in flight, and readiness is polled, not slept for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::HeaderMap;
use axum::routing::post;
use ed25519_dalek::SigningKey;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tinhso_exchange::signing::{self, client_headers, new_nonce};
use tinhso_exchange::{log, registry};
use tinhso_store::audit::Ctx;
use tinhso_store::now_micros;
use tinhso_store::test_support::fresh;

#[path = "support/server.rs"]
mod server;
use server::{free_port, start_server, tinhso};

const CLIENT: &str = "000.00.23.H37";
const PROVIDER: &str = "000.00.19.H37-HOTICH";
const SERVICE: &str = "trich-luc-khai-sinh";
/// Concurrent client workers.
const WORKERS: usize = 12;
/// Answers received before the kill (below the default burst of 200 per member, so none is a
/// 429).
const ANSWERS_BEFORE_KILL: usize = 150;

fn ctx() -> Ctx {
    Ctx {
        actor: "user:quantri".into(),
        request_id: "crash-test".into(),
    }
}

/// The provider: answers with what it received.
async fn provider() -> std::net::SocketAddr {
    async fn echo(headers: HeaderMap, body: String) -> axum::Json<serde_json::Value> {
        axum::Json(serde_json::json!({
            "exchange": headers.get("x-lgsp-exchange-id").and_then(|v| v.to_str().ok()),
            "body": body,
        }))
    }
    let app = axum::Router::new().route("/api/echo", post(echo));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    addr
}

/// One signed exchange; `Ok((status, exchange id))` once the whole answer has been read.
async fn exchange(
    http: &reqwest::Client,
    base: &str,
    key: &SigningKey,
    n: usize,
) -> Result<(u16, String), reqwest::Error> {
    let path = format!("/lgsp/v1/{PROVIDER}/{SERVICE}/echo");
    let body = serde_json::json!({ "so_dinh_danh": format!("0201900{n:05}") }).to_string();
    let headers = client_headers(
        key,
        CLIENT,
        "POST",
        &path,
        body.as_bytes(),
        now_micros() / 1_000_000,
        &new_nonce(),
    );
    let mut r = http
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        r = r.header(k, v);
    }
    let resp = r.send().await?;
    let status = resp.status().as_u16();
    let id = resp
        .headers()
        .get(signing::H_EXCHANGE_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    resp.bytes().await?;
    Ok((status, id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_message_log_keeps_every_answered_exchange_across_a_kill() {
    let started = Instant::now();
    let t = fresh(&tinhso::all_migrations()).await;
    let url = t.url();
    let data = t.dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let db = t.db.clone();
    let key = SigningKey::from_bytes(&[7; 32]);
    registry::register_member(
        &db,
        &ctx(),
        CLIENT,
        "UBND phường Tam Thanh",
        &signing::public_key_b64(&key),
    )
    .await
    .unwrap();
    registry::register_member(
        &db,
        &ctx(),
        PROVIDER,
        "Sở Tư pháp — hệ thống hộ tịch",
        &signing::public_key_b64(&SigningKey::from_bytes(&[8; 32])),
    )
    .await
    .unwrap();
    let p = provider().await;
    registry::register_service(
        &db,
        &ctx(),
        &registry::NewService {
            provider: PROVIDER.into(),
            code: SERVICE.into(),
            name: "Trích lục khai sinh".into(),
            endpoint: format!("http://{p}/api"),
            openapi: serde_json::json!({
                "openapi": "3.1.0", "info": {"title": "t", "version": "1"},
                "paths": {"/echo": {"post": {"responses": {"200": {"description": "ok"}}}}}
            }),
            classification: "internal".into(),
        },
    )
    .await
    .unwrap();
    registry::grant(&db, &ctx(), CLIENT, PROVIDER, SERVICE)
        .await
        .unwrap();

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start_server(&data, &url, port, Duration::from_secs(30)).await;

    // The load: workers send signed exchanges back to back until their connection fails.
    let answered: Arc<Mutex<Vec<(u16, String)>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let kill_now = Arc::new(tokio::sync::Notify::new());
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (answered, count, failed, killed, kill_now) = (
            answered.clone(),
            count.clone(),
            failed.clone(),
            killed.clone(),
            kill_now.clone(),
        );
        let (base, key) = (base.clone(), key.clone());
        workers.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap();
            let mut n = w * 100_000;
            loop {
                n += 1;
                match exchange(&http, &base, &key, n).await {
                    Ok((status, id)) => {
                        assert!(!id.is_empty(), "every answer names its exchange");
                        answered.lock().unwrap().push((status, id));
                        if count.fetch_add(1, Ordering::SeqCst) + 1 == ANSWERS_BEFORE_KILL {
                            kill_now.notify_one();
                        }
                    }
                    Err(_) => {
                        // Only after the kill may a request fail.
                        assert!(
                            killed.load(Ordering::SeqCst),
                            "a request failed before the kill"
                        );
                        failed.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                }
            }
        }));
    }
    tokio::time::timeout(Duration::from_secs(20), kill_now.notified())
        .await
        .expect("the load reached the kill point");
    killed.store(true, Ordering::SeqCst);
    server.kill().expect("SIGKILL tinhso serve"); // Child::kill is SIGKILL on Unix
    server.wait().unwrap();
    for w in workers {
        w.await.unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    let failures = failed.load(Ordering::SeqCst);
    assert_eq!(failures, WORKERS, "every worker was cut off by the kill");
    assert!(answered.len() >= ANSWERS_BEFORE_KILL);
    assert!(
        answered.iter().all(|(s, _)| *s == 200),
        "all exchanges went through: {:?}",
        answered
            .iter()
            .filter(|(s, _)| *s != 200)
            .take(3)
            .collect::<Vec<_>>()
    );

    // Restart on the same database: the log is intact and holds every answered exchange.
    let mut server = start_server(&data, &url, port, Duration::from_secs(30)).await;
    let o = tinhso(&["exchange", "verify"], &data, &url)
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("exchange message log intact"), "{out}");
    let logged: std::collections::HashSet<String> = log::recent(&db, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.exchange_id)
        .collect();
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM exchange_log")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert!(total < 1000, "the whole log was read ({total} entries)");
    let missing: Vec<_> = answered
        .iter()
        .filter(|(_, id)| !logged.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} answered exchanges are not in the log, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    // Entries committed whose answers were cut off by the kill may be there too, never fewer.
    assert!(total as usize >= answered.len());
    // Every exchange went to an `internal` service: each entry's bodies were kept and checked.
    assert!(
        out.contains(&format!(
            "{total} entries and {total} stored bodies verified"
        )),
        "{out}"
    );

    // The restarted hub carries on the same chain.
    let http = reqwest::Client::new();
    let (status, id) = exchange(&http, &base, &key, 999_999).await.unwrap();
    assert_eq!(status, 200);
    let o = tinhso(&["exchange", "verify"], &data, &url)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let newest = &log::recent(&db, 1).await.unwrap()[0];
    assert_eq!(newest.exchange_id, id);
    assert_eq!(newest.seq, total + 1);
    server.kill().unwrap();
    server.wait().unwrap();
    eprintln!(
        "crash test: {} answers before the kill, {} entries in the log after it, {:.1} s",
        answered.len(),
        total,
        started.elapsed().as_secs_f64()
    );
}
