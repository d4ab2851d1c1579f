//! `tinhso bench exchange`: signed, logged exchanges per second through the hub on loopback,
//! with their latency, and outbox events published to NATS JetStream per second.
//!
//! Everything runs in one process on loopback: a provider (an axum echo service), the hub's
//! member endpoint, and `clients` concurrent clients (one keep-alive connection each) that
//! sign every request (ed25519) and check every answer's status. Each exchange therefore
//! costs the client's signature, the hub's verification, its nonce write, the forward, the
//! hub's signature and the message-log append (a write transaction each). The rate limit is
//! lifted for the run.

use crate::{log, registry, signing, Hub, HubConfig};
use ed25519_dalek::SigningKey;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tinhso_store::audit::Ctx;
use tinhso_store::{now_micros, Db};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    pub clients: usize,
    pub duration: Duration,
    /// Publish this many events to NATS (at this URL) after the exchanges; `None`: skip.
    pub nats_url: Option<String>,
    pub events: usize,
    /// Events for the webhook phase (each delivered to every one of 8 subscriptions); 0: skip.
    pub webhook_events: usize,
    /// Requests each client signs before the clock starts (then inline), to take the
    /// clients' signing off the measured cores; 0: every request signed when sent.
    pub presign: usize,
    /// Clients check the hub's signature on every answer (as a real member would).
    pub verify_answers: bool,
    /// A fixed amount of work: this many exchanges in all, however long they take (`duration`
    /// is then ignored); 0: as many as fit in `duration`.
    pub exchanges: usize,
    /// The echo service's data classification (phân loại dữ liệu): `internal` or `public`
    /// keep both bodies sealed beside each log entry, `restricted` keeps the hashes only
    /// ([`crate::bodies::kept_for`]).
    pub classification: String,
}

/// What was measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub exchanges: usize,
    pub failures: usize,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub log_entries_verified: i64,
    /// Kept bodies opened and checked against their entries' hashes.
    pub bodies_verified: i64,
    pub log_intact: bool,
    /// CPU seconds the clients spent signing requests and verifying answers inside the
    /// measured window (on the same cores as the hub).
    pub client_crypto_seconds: f64,
    /// Answers whose hub signature did not verify (with `verify_answers`; must be 0).
    pub bad_answers: usize,
    /// CPU seconds in the measured window by side: the clients' threads, the provider's, and
    /// the rest (the hub with its database and log writer); `None` off Linux.
    pub cpu: Option<(f64, f64, f64)>,
    /// (events, seconds) published to NATS.
    pub nats: Option<(usize, f64)>,
    pub webhooks: Option<WebhookReport>,
    /// Time per stage inside the hub during the exchanges ([`crate::stages`]).
    pub stages: Vec<crate::stages::StageSummary>,
}

/// The webhook phase: deliveries written from the outbox, then posted (signed) to a receiver
/// on loopback that verifies every signature.
#[derive(Debug, Clone)]
pub struct WebhookReport {
    pub subscriptions: usize,
    pub events: usize,
    /// Seconds for the outbox consumer to write every delivery.
    pub enqueue_seconds: f64,
    pub deliveries: usize,
    /// Seconds for the worker to post them all (2xx answers).
    pub deliver_seconds: f64,
    /// Deliveries whose signature the receiver could not verify (must be 0).
    pub bad_signatures: usize,
}

impl Report {
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![
            format!(
                "exchanges: {} in {:.1} s = {:.0}/s (signed, verified, forwarded, signed back, logged); failures {}",
                self.exchanges,
                self.seconds,
                self.exchanges as f64 / self.seconds.max(1e-9),
                self.failures
            ),
            format!(
                "latency: p50 {:.2} ms, p99 {:.2} ms",
                self.p50_ms, self.p99_ms
            ),
            format!(
                "clients' own crypto in the window: {:.2} s of CPU ({:.0}% of 2 cores x {:.1} s); answers with a bad hub signature: {}",
                self.client_crypto_seconds,
                100.0 * self.client_crypto_seconds / (2.0 * self.seconds.max(1e-9)),
                self.seconds,
                self.bad_answers
            ),
            match self.cpu {
                Some((c, p, h)) => {
                    let per = |s: f64| 1e6 * s / (self.exchanges.max(1) as f64);
                    format!(
                        "CPU in the window: hub (and database) {h:.2} s = {:.0} us/exchange; clients {c:.2} s = {:.0} us/exchange; provider {p:.2} s = {:.0} us/exchange",
                        per(h),
                        per(c),
                        per(p)
                    )
                }
                None => "CPU in the window: not measured (no /proc)".into(),
            },
            "time per stage in the hub (successful exchanges; log writer per batch):".into(),
        ];
        out.extend(self.stages.iter().map(|s| format!("  {}", s.line())));
        out.extend([format!(
            "message log: {} entries and {} kept bodies verified, {}",
            self.log_entries_verified,
            self.bodies_verified,
            if self.log_intact { "intact" } else { "BROKEN" }
        )]);
        if let Some((n, s)) = self.nats {
            out.push(format!(
                "NATS JetStream: {n} events published (acknowledged) in {s:.2} s = {:.0}/s",
                n as f64 / s.max(1e-9)
            ));
        }
        if let Some(w) = &self.webhooks {
            out.push(format!(
                "webhooks: {} events x {} subscriptions: deliveries written in {:.2} s = {:.0}/s; {} posted (HMAC-signed, verified by the receiver, one at a time per subscription) in {:.2} s = {:.0}/s; bad signatures {}",
                w.events,
                w.subscriptions,
                w.enqueue_seconds,
                w.deliveries as f64 / w.enqueue_seconds.max(1e-9),
                w.deliveries,
                w.deliver_seconds,
                w.deliveries as f64 / w.deliver_seconds.max(1e-9),
                w.bad_signatures
            ));
        }
        out
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A runtime of its own, on threads named `name`, for one side of the bench (clients or
/// provider): their CPU is then told apart from the hub's ([`cpu_by_thread`]).
fn side_runtime(name: &str) -> Result<Side, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .map(|rt| Side(Some(rt)))
        .map_err(|e| e.to_string())
}

/// A side's runtime, shut down without blocking when dropped (a runtime may not be dropped
/// the ordinary way inside another one).
struct Side(Option<tokio::runtime::Runtime>);

impl Side {
    fn spawn<F>(&self, f: F) -> Result<tokio::task::JoinHandle<F::Output>, String>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.0
            .as_ref()
            .map(|rt| rt.spawn(f))
            .ok_or_else(|| "bench runtime stopped".to_string())
    }
}

impl Drop for Side {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// CPU seconds used so far by this process's threads (user + system, from
/// `/proc/self/task/*/stat`), split by thread name: (`bench-client`, `bench-provider`, every
/// other thread — the hub, its database connections and the rest). `None` off Linux.
fn cpu_by_thread() -> Option<(f64, f64, f64)> {
    let mut ticks = [0u64; 3];
    for t in std::fs::read_dir("/proc/self/task").ok()? {
        let Ok(t) = t else { continue };
        // A thread may end between the listing and the read.
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        // After the name: state is field 3, utime 14, stime 15.
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let used = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let side = if comm.starts_with("bench-client") {
            0
        } else if comm.starts_with("bench-provider") {
            1
        } else {
            2
        };
        ticks[side] += used;
    }
    // USER_HZ is 100 on Linux.
    let s = |t: u64| t as f64 / 100.0;
    Some((s(ticks[0]), s(ticks[1]), s(ticks[2])))
}

async fn provider(rt: &Side) -> Result<std::net::SocketAddr, String> {
    async fn echo(body: String) -> String {
        body
    }
    let app = axum::Router::new().route("/api/echo", axum::routing::post(echo));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    let l = l.into_std().map_err(|e| e.to_string())?;
    rt.spawn(async move {
        match tokio::net::TcpListener::from_std(l) {
            Ok(l) => {
                let _ = axum::serve(l, app).await;
            }
            Err(e) => tracing::error!(error = %e, "bench provider"),
        }
    })?;
    Ok(addr)
}

/// The hub's signature on an answer covers its exchange id, status, request hash and the hash
/// of the body received.
fn answer_verifies(
    hub_key: &ed25519_dalek::VerifyingKey,
    h: &reqwest::header::HeaderMap,
    body: &[u8],
) -> bool {
    use base64::Engine;
    use ed25519_dalek::Verifier;
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let text = signing::response_text(
        get(signing::H_EXCHANGE_ID),
        200,
        get(signing::H_REQUEST_SHA256),
        &signing::sha256_hex(body),
    );
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(get(signing::H_HUB_SIGNATURE))
    else {
        return false;
    };
    let Ok(sig) = ed25519_dalek::Signature::from_slice(&raw) else {
        return false;
    };
    hub_key.verify(text.as_bytes(), &sig).is_ok()
}

/// Run the benchmark on `db` (migrated, with the exchange tables, preferably empty).
pub async fn run(db: &Db, opts: &Options) -> Result<Report, String> {
    let ctx = Ctx::system("bench");
    let err = |e: tinhso_kernel::AppError| format!("{e:?}");
    let provider_code = "000.00.19.H37-BENCH";
    let members = 8usize;
    let mut keys = Vec::new();
    registry::register_member(
        db,
        &ctx,
        provider_code,
        "Provider (benchmark)",
        &signing::public_key_b64(&SigningKey::from_bytes(&[200; 32])),
    )
    .await
    .map_err(err)?;
    let provider_rt = side_runtime("bench-provider")?;
    let client_rt = side_runtime("bench-client")?;
    let p = provider(&provider_rt).await?;
    registry::register_service(
        db,
        &ctx,
        &registry::NewService {
            provider: provider_code.into(),
            code: "echo".into(),
            name: "Echo".into(),
            endpoint: format!("http://{p}/api"),
            openapi: serde_json::json!({"openapi": "3.1.0", "info": {}, "paths": {"/echo": {}}}),
            classification: opts.classification.clone(),
        },
    )
    .await
    .map_err(err)?;
    for i in 0..members {
        let code = format!("000.00.{:02}.H37", 30 + i);
        let key = SigningKey::from_bytes(&[u8::try_from(i + 1).unwrap_or(1); 32]);
        registry::register_member(
            db,
            &ctx,
            &code,
            "Client (benchmark)",
            &signing::public_key_b64(&key),
        )
        .await
        .map_err(err)?;
        registry::grant(db, &ctx, &code, provider_code, "echo")
            .await
            .map_err(err)?;
        keys.push((code, key));
    }
    let hub = Arc::new(Hub::new(
        db.clone(),
        HubConfig {
            rate_burst: 1e12,
            rate_per_second: 1e12,
            ..Default::default()
        },
    ));
    let state = tinhso_http::AppState::new(db.clone(), tinhso_http::WebConfig::default());
    let app = crate::web::member_routes(hub.clone()).with_state(state);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let hub_addr = l.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move { axum::serve(l, app).await });
    let path = format!("/lgsp/v1/{provider_code}/echo/echo");
    let url = format!("http://{hub_addr}{path}");
    let keys = Arc::new(keys);
    let hub_key = signing::parse_public_key(&signing::public_key_b64(&crate::hub::hub_key()))
        .ok_or("the hub's key")?;
    // Requests signed before the clock (the timestamp stays inside the hub's ±5 min window).
    let body_of =
        |c: usize| format!("{{\"client\":{c},\"ho_ten\":\"Hoàng Thị Mai\"}}").into_bytes();
    let mut presigned: Vec<Vec<Vec<(&'static str, String)>>> = Vec::new();
    for c in 0..opts.clients.max(1) {
        let (code, key) = &keys[c % keys.len()];
        let body = body_of(c);
        let ts = now_micros() / 1_000_000;
        presigned.push(
            (0..opts.presign)
                .map(|_| {
                    signing::client_headers(
                        key,
                        code,
                        "POST",
                        &path,
                        &body,
                        ts,
                        &signing::new_nonce(),
                    )
                })
                .collect(),
        );
    }
    let verify_answers = opts.verify_answers;
    // With a fixed amount of work, each request takes one of these tickets first.
    let tickets = Arc::new(std::sync::atomic::AtomicUsize::new(opts.exchanges));
    let by_count = opts.exchanges > 0;
    hub.stages().reset();
    let cpu_before = cpu_by_thread();
    let start = Instant::now();
    let deadline = start + opts.duration;
    let mut tasks = Vec::new();
    for (c, mut ready) in presigned.into_iter().enumerate() {
        let keys = keys.clone();
        let url = url.clone();
        let path = path.clone();
        let body = body_of(c);
        let tickets = tickets.clone();
        tasks.push(client_rt.spawn(async move {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap_or_default();
            let (code, key) = &keys[c % keys.len()];
            let mut lat = Vec::new();
            let mut failures = 0usize;
            let mut bad = 0usize;
            let mut crypto = Duration::ZERO;
            ready.reverse();
            let more = || {
                if by_count {
                    tickets
                        .fetch_update(
                            std::sync::atomic::Ordering::Relaxed,
                            std::sync::atomic::Ordering::Relaxed,
                            |n| n.checked_sub(1),
                        )
                        .is_ok()
                } else {
                    Instant::now() < deadline
                }
            };
            while more() {
                let t0 = Instant::now();
                let headers = match ready.pop() {
                    Some(h) => h,
                    None => {
                        let h = signing::client_headers(
                            key,
                            code,
                            "POST",
                            &path,
                            &body,
                            now_micros() / 1_000_000,
                            &signing::new_nonce(),
                        );
                        crypto += t0.elapsed();
                        h
                    }
                };
                let mut r = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone());
                for (k, v) in headers {
                    r = r.header(k, v);
                }
                match r.send().await {
                    Ok(resp) if resp.status() == 200 => {
                        let h = resp.headers().clone();
                        let bytes = resp.bytes().await.unwrap_or_default();
                        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                        if verify_answers {
                            let t1 = Instant::now();
                            if !answer_verifies(&hub_key, &h, &bytes) {
                                bad += 1;
                            }
                            crypto += t1.elapsed();
                        }
                    }
                    _ => failures += 1,
                }
            }
            (lat, failures, bad, crypto)
        })?);
    }
    let mut all = Vec::new();
    let mut failures = 0;
    let mut bad_answers = 0;
    let mut crypto = Duration::ZERO;
    for t in tasks {
        let (lat, f, b, c) = t.await.map_err(|e| e.to_string())?;
        all.extend(lat);
        failures += f;
        bad_answers += b;
        crypto += c;
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu_by_thread()
        .zip(cpu_before)
        .map(|(a, b)| (a.0 - b.0, a.1 - b.1, a.2 - b.2));
    let stages = hub.stages().summary();
    drop(client_rt);
    drop(provider_rt);
    all.sort_by(f64::total_cmp);
    // With the hub's key, so the kept bodies are opened and checked too.
    let v = log::verify(db, Some(&signing::public_key_b64(&crate::hub::hub_key())))
        .await
        .map_err(|e| e.to_string())?;
    let nats = match &opts.nats_url {
        Some(u) => Some(nats_phase(db, u, opts.events).await?),
        None => None,
    };
    let webhooks = if opts.webhook_events > 0 {
        Some(webhook_phase(db, &keys, opts.webhook_events).await?)
    } else {
        None
    };
    Ok(Report {
        exchanges: all.len(),
        failures,
        seconds,
        p50_ms: percentile(&all, 50.0),
        p99_ms: percentile(&all, 99.0),
        log_entries_verified: v.entries_checked,
        bodies_verified: v.bodies_checked,
        log_intact: v.first_broken.is_none(),
        client_crypto_seconds: crypto.as_secs_f64(),
        cpu,
        bad_answers,
        nats,
        webhooks,
        stages,
    })
}

/// Every client member subscribes (a topic right, a subscription each, to its own path on
/// one receiver); `n` events are written, the outbox consumer writes the deliveries, the
/// worker posts them.
async fn webhook_phase(
    db: &Db,
    members: &[(String, SigningKey)],
    n: usize,
) -> Result<WebhookReport, String> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let ctx = Ctx::system("bench");
    let err = |e: tinhso_kernel::AppError| format!("{e:?}");
    #[derive(Clone)]
    struct Rx {
        secrets: Arc<std::sync::Mutex<Vec<String>>>,
        ok: Arc<AtomicUsize>,
        bad: Arc<AtomicUsize>,
    }
    async fn receive(
        axum::extract::State(rx): axum::extract::State<Rx>,
        axum::extract::Path(i): axum::extract::Path<usize>,
        headers: axum::http::HeaderMap,
        body: axum::body::Bytes,
    ) -> axum::http::StatusCode {
        let h = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let secret = rx
            .secrets
            .lock()
            .ok()
            .and_then(|s| s.get(i).cloned())
            .unwrap_or_default();
        let ok = crate::webhooks::verify(
            &secret,
            &h(crate::webhooks::H_TIMESTAMP),
            &body,
            &h(crate::webhooks::H_SIGNATURE),
            now_micros() / 1_000_000,
            300,
        );
        if ok { &rx.ok } else { &rx.bad }.fetch_add(1, Ordering::Relaxed);
        axum::http::StatusCode::NO_CONTENT
    }
    let rx = Rx {
        secrets: Arc::default(),
        ok: Arc::default(),
        bad: Arc::default(),
    };
    let app = axum::Router::new()
        .route("/hook/{i}", axum::routing::post(receive))
        .with_state(rx.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move { axum::serve(l, app).await });
    for (i, (code, _)) in members.iter().enumerate() {
        crate::webhooks::grant_topic(db, &ctx, code, "dossier.")
            .await
            .map_err(err)?;
        let created = crate::webhooks::create_subscription(
            db,
            &ctx,
            code,
            &crate::webhooks::NewSubscription {
                topic_prefix: "dossier.".into(),
                url: format!("http://{addr}/hook/{i}"),
            },
        )
        .await
        .map_err(err)?;
        if let Ok(mut s) = rx.secrets.lock() {
            s.push(created.secret);
        }
    }
    let hooks = crate::webhooks::Webhooks::new(
        db.clone(),
        crate::webhooks::WebhookConfig {
            poll: Duration::from_millis(5),
            ..Default::default()
        },
    );
    // The consumer starts after the events of earlier phases (so they are not counted); then
    // the events, then the outbox consumer alone.
    let newest: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM outbox")
        .fetch_one(db.pool())
        .await
        .map_err(|e| e.to_string())?;
    sqlx::query(
        "INSERT INTO outbox_consumers (consumer, last_seq, updated_at) VALUES ('webhooks', $1, $2) \
         ON CONFLICT (consumer) DO UPDATE SET last_seq = excluded.last_seq",
    )
    .bind(newest)
    .bind(now_micros())
    .execute(db.pool())
    .await
    .map_err(|e| e.to_string())?;
    let mut written = 0;
    while written < n {
        let mut tx = db.begin_write().await.map_err(|e| e.to_string())?;
        for _ in 0..(n - written).min(1000) {
            tx.emit(
                "dossier.bench_status_changed",
                &serde_json::json!({ "i": written, "status": "Đã tiếp nhận" }),
            )
            .await
            .map_err(|e| e.to_string())?;
            written += 1;
        }
        tx.commit().await.map_err(|e| e.to_string())?;
    }
    let d = hooks
        .subscribe(tinhso_store::outbox::Dispatcher::builder(db.clone()))
        .build();
    let start = Instant::now();
    loop {
        if d.run_once().await.map_err(|e| e.to_string())? == 0 {
            break;
        }
    }
    let enqueue_seconds = start.elapsed().as_secs_f64();
    let deliveries = usize::try_from(
        tinhso_store::db::count(db, "SELECT COUNT(*) FROM exchange_webhook_deliveries")
            .await
            .map_err(|e| e.to_string())?,
    )
    .unwrap_or(0);
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let start = Instant::now();
    let worker = tokio::spawn(hooks.run(async move {
        let _ = stop_rx.changed().await;
    }));
    let limit = Instant::now() + Duration::from_secs(600);
    while rx.ok.load(Ordering::Relaxed) + rx.bad.load(Ordering::Relaxed) < deliveries {
        if Instant::now() > limit {
            return Err("webhook deliveries did not finish in 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let deliver_seconds = start.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    let _ = worker.await;
    Ok(WebhookReport {
        subscriptions: members.len(),
        events: n,
        enqueue_seconds,
        deliveries,
        deliver_seconds,
        bad_signatures: rx.bad.load(Ordering::Relaxed),
    })
}

/// Write `n` events to the outbox (1,000 a transaction), then time the dispatcher publishing
/// them to a stream of the run's own (deleted afterwards), each one acknowledged.
async fn nats_phase(db: &Db, url: &str, n: usize) -> Result<(usize, f64), String> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut cfg = crate::NatsConfig::new(url);
    cfg.stream = format!("BENCH_{id}");
    cfg.subject_prefix = format!("bench{id}");
    cfg.topic_prefixes = vec!["bench.".into()];
    let bridge = crate::EventBridge::connect_strict(cfg)
        .await
        .map_err(|e| e.to_string())?;
    let mut written = 0;
    while written < n {
        let mut tx = db.begin_write().await.map_err(|e| e.to_string())?;
        for _ in 0..(n - written).min(1000) {
            tx.emit(
                "bench.event",
                &serde_json::json!({ "i": written, "text": "Hồ sơ đã được tiếp nhận" }),
            )
            .await
            .map_err(|e| e.to_string())?;
            written += 1;
        }
        tx.commit().await.map_err(|e| e.to_string())?;
    }
    let d = bridge
        .subscribe(tinhso_store::outbox::Dispatcher::builder(db.clone()))
        .build();
    let start = Instant::now();
    let mut delivered = 0;
    while delivered < n {
        let k = d.run_once().await.map_err(|e| e.to_string())?;
        if k == 0 {
            let _ = bridge.delete_stream().await;
            return Err(format!("NATS publishing stopped after {delivered} events"));
        }
        delivered += k;
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = bridge.delete_stream().await;
    Ok((delivered, secs))
}
