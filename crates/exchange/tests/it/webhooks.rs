//! Webhooks end to end: topic rights, subscriptions made with signed requests through the hub,
//! deliveries from the outbox to a receiver on loopback that checks the HMAC, retries with a
//! hand-moved clock, the dead-letter list and its replay through the administrators' API.
//! SQLite or PostgreSQL (`TINHSO_TEST_PG_URL`).

use crate::support::{self, ctx, get_json, register, serve, MEMBER, OTHER};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tinhso_exchange::signing;
use tinhso_exchange::webhooks::{self, WebhookConfig, Webhooks};
use tinhso_exchange::Hub;
use tinhso_store::now_micros;
use tinhso_store::outbox::Dispatcher;
use tinhso_store::test_support::TestDb;

/// What the receiver got, and whether the signature verified under the secret it was given.
#[derive(Debug, Clone)]
struct Got {
    headers: HeaderMap,
    body: String,
    verified: bool,
}

/// A receiver on loopback: checks the HMAC with the secret the test hands it (against the
/// worker's clock), records every call, answers with the status set in `answer` (after
/// `delay_ms`, and not before `held` is cleared).
#[derive(Clone, Default)]
struct Receiver {
    secret: Arc<Mutex<String>>,
    got: Arc<Mutex<Vec<Got>>>,
    answer: Arc<AtomicU16>,
    delay_ms: Arc<AtomicI64>,
    /// While set, every call waits (recorded first) until the test clears it.
    held: Arc<AtomicBool>,
    clock: Arc<AtomicI64>,
}

impl Receiver {
    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let secret = r.secret.lock().unwrap().clone();
    let verified = webhooks::verify(
        &secret,
        &h(webhooks::H_TIMESTAMP),
        body.as_bytes(),
        &h(webhooks::H_SIGNATURE),
        r.clock.load(Ordering::SeqCst) / 1_000_000,
        300,
    );
    r.got.lock().unwrap().push(Got {
        headers: headers.clone(),
        body,
        verified,
    });
    let delay = r.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay as u64)).await;
    }
    while r.held.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    StatusCode::from_u16(r.answer.load(Ordering::SeqCst)).unwrap()
}

async fn receiver(clock: Arc<AtomicI64>) -> (Receiver, String) {
    let r = Receiver {
        clock,
        ..Default::default()
    };
    r.answer.store(200, Ordering::SeqCst);
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(r.clone());
    let addr = serve(app).await;
    (r, format!("http://{addr}/hook"))
}

struct World {
    t: TestDb,
    base: String,
    http: reqwest::Client,
    clock: Arc<AtomicI64>,
    webhooks: Webhooks,
    dispatcher: Dispatcher,
}

/// The hub's routes (members' and administrators', the latter behind a stand-in for the
/// request-context layer with a signed-in administrator), two members, the outbox dispatcher
/// with the webhook consumer, the worker on a hand-moved clock.
async fn world(cfg: WebhookConfig) -> World {
    let t = support::two_members().await;
    let base = support::serve_hub(&t, Arc::new(Hub::new(t.db.clone(), Default::default()))).await;
    let clock = Arc::new(AtomicI64::new(now_micros()));
    let c = clock.clone();
    let webhooks =
        Webhooks::new(t.db.clone(), cfg).with_clock(Arc::new(move || c.load(Ordering::SeqCst)));
    let dispatcher = webhooks
        .subscribe(Dispatcher::builder(t.db.clone()))
        .build();
    World {
        t,
        base,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        clock,
        webhooks,
        dispatcher,
    }
}

fn fast() -> WebhookConfig {
    WebhookConfig {
        timeout: Duration::from_millis(500),
        max_attempts: 3,
        base_delay: Duration::from_secs(10),
        factor: 2,
        max_delay: Duration::from_secs(3600),
        jitter: 0.2,
        concurrency: 8,
        poll: Duration::from_millis(50),
    }
}

impl World {
    /// An administrator's POST (no body) to `path` of the administrators' API.
    async fn post(&self, path: &str) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// A signed request of `member` to `/lgsp/v1/_subscriptions[/…]`.
    async fn signed(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        member: &str,
        seed: u8,
    ) -> reqwest::Response {
        support::send_signed(&self.http, &self.base, method, path, body, (member, seed)).await
    }

    async fn subscribe(&self, prefix: &str, url: &str) -> reqwest::Response {
        let body = serde_json::json!({ "topic_prefix": prefix, "url": url }).to_string();
        self.signed(
            "POST",
            "/lgsp/v1/_subscriptions",
            body.as_bytes(),
            MEMBER,
            1,
        )
        .await
    }

    /// A committed event, handed to the consumers.
    async fn event(&self, topic: &str, payload: serde_json::Value) -> String {
        let mut tx = self.t.db.begin_write().await.unwrap();
        let id = tx.emit(topic, &payload).await.unwrap();
        tx.commit().await.unwrap();
        self.dispatcher.run_once().await.unwrap();
        id
    }

    fn advance(&self, secs: i64) {
        self.clock.fetch_add(secs * 1_000_000, Ordering::SeqCst);
    }

    async fn count(&self, sql: &str) -> i64 {
        tinhso_store::db::count(&self.t.db, sql).await.unwrap()
    }
}

#[tokio::test]
async fn a_granted_subscription_receives_events_signed_and_in_order() {
    let w = world(fast()).await;
    let (rx, url) = receiver(w.clock.clone()).await;
    webhooks::grant_topic(&w.t.db, &ctx(), MEMBER, "dossier.")
        .await
        .unwrap();
    let r = w.subscribe("dossier.status", &url).await;
    assert_eq!(r.status(), 201);
    assert!(r.headers().contains_key(signing::H_HUB_SIGNATURE));
    let created: serde_json::Value = r.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_") && secret.len() > 40);
    *rx.secret.lock().unwrap() = secret.clone();
    let sub_id = created["id"].as_str().unwrap().to_string();
    // Listed for the member without the secret; audited as the member.
    let r = w
        .signed("GET", "/lgsp/v1/_subscriptions", b"", MEMBER, 1)
        .await;
    assert_eq!(r.status(), 200);
    let list: serde_json::Value = r.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], sub_id.as_str());
    assert!(list[0].get("secret").is_none());
    assert!(!list.to_string().contains(&secret));
    assert_eq!(
        w.count("SELECT COUNT(*) FROM audit_log WHERE action = 'exchange.subscription_create' AND actor = 'member:000.00.23.H37'").await,
        1
    );
    // The other member sees none of it.
    let r = w
        .signed("GET", "/lgsp/v1/_subscriptions", b"", OTHER, 2)
        .await;
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!([])
    );

    let first = w
        .event(
            "dossier.status_changed",
            serde_json::json!({"dossier": "H37.1", "status": "accepted"}),
        )
        .await;
    w.event("dossier.attach", serde_json::json!({"dossier": "H37.1"}))
        .await; // another topic
    w.event("border.trip.declared", serde_json::json!({"trip": 1}))
        .await;
    let second = w
        .event(
            "dossier.status_changed",
            serde_json::json!({"dossier": "H37.1", "status": "approved"}),
        )
        .await;
    assert_eq!(
        w.count("SELECT COUNT(*) FROM exchange_webhook_deliveries")
            .await,
        2
    );
    // Once per round and subscription, oldest first.
    assert_eq!(w.webhooks.run_once().await.unwrap().delivered, 1);
    assert_eq!(w.webhooks.run_once().await.unwrap().delivered, 1);
    assert_eq!(w.webhooks.run_once().await.unwrap().delivered, 0);
    let got = rx.got();
    assert_eq!(got.len(), 2);
    for (g, id) in got.iter().zip([&first, &second]) {
        assert!(g.verified, "signature must verify: {:?}", g.headers);
        let body: serde_json::Value = serde_json::from_str(&g.body).unwrap();
        assert_eq!(body["id"], id.as_str());
        assert_eq!(body["topic"], "dossier.status_changed");
        assert_eq!(body["payload"]["dossier"], "H37.1");
        assert!(body["occurred_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(g.headers[webhooks::H_EVENT_ID], id.as_str());
        assert_eq!(g.headers[webhooks::H_TOPIC], "dossier.status_changed");
        let sig = g.headers[webhooks::H_SIGNATURE].to_str().unwrap();
        let ts = g.headers[webhooks::H_TIMESTAMP].to_str().unwrap();
        // Exactly what the documentation says is signed.
        assert_eq!(
            sig,
            webhooks::sign(&secret, ts.parse().unwrap(), g.body.as_bytes())
        );
        assert!(!webhooks::verify(
            "whsec_wrong",
            ts,
            g.body.as_bytes(),
            sig,
            ts.parse().unwrap(),
            300
        ));
    }
    let first_body: serde_json::Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(first_body["payload"]["status"], "accepted");
    // Handing the same event over again (the outbox delivers at least once) writes nothing.
    let ev = tinhso_store::outbox::read_after(&w.t.db, 0, "dossier.status", 1)
        .await
        .unwrap();
    assert_eq!(webhooks::enqueue(&w.t.db, &ev[0]).await.unwrap(), 0);
    let m = webhooks::metrics().render();
    assert!(
        m.contains(
            "tinhso_exchange_webhook_deliveries_total{member=\"000.00.23.H37\",outcome=\"ok\"}"
        ),
        "{m}"
    );
}

#[tokio::test]
async fn no_grant_is_refused_and_a_revoked_grant_stops_delivery() {
    let w = world(fast()).await;
    let (rx, url) = receiver(w.clock.clone()).await;
    let r = w.subscribe("dossier.", &url).await;
    assert_eq!(r.status(), 403);
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["code"], "lgsp_topic_forbidden");
    assert_eq!(
        w.count("SELECT COUNT(*) FROM exchange_webhook_subscriptions")
            .await,
        0
    );
    // A grant on another family does not cover it either.
    webhooks::grant_topic(&w.t.db, &ctx(), MEMBER, "border.")
        .await
        .unwrap();
    assert_eq!(w.subscribe("dossier.", &url).await.status(), 403);
    webhooks::grant_topic(&w.t.db, &ctx(), MEMBER, "dossier.")
        .await
        .unwrap();
    let r = w.subscribe("dossier.", &url).await;
    assert_eq!(r.status(), 201);
    let secret = r.json::<serde_json::Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    *rx.secret.lock().unwrap() = secret;
    // Written while granted, revoked before it was sent: dropped, not sent.
    let before = w
        .event("dossier.submitted", serde_json::json!({"n": 1}))
        .await;
    webhooks::revoke_topic(&w.t.db, &ctx(), MEMBER, "dossier.")
        .await
        .unwrap();
    assert_eq!(
        w.count("SELECT COUNT(*) FROM audit_log WHERE action = 'exchange.topic_revoke'")
            .await,
        1
    );
    let round = w.webhooks.run_once().await.unwrap();
    assert_eq!((round.delivered, round.dropped), (0, 1));
    let d = webhooks::deliveries_of_event(&w.t.db, &before)
        .await
        .unwrap();
    assert_eq!(d[0].status, "dropped");
    // After the revocation nothing is written at all.
    let after = w
        .event("dossier.submitted", serde_json::json!({"n": 2}))
        .await;
    assert!(webhooks::deliveries_of_event(&w.t.db, &after)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(w.webhooks.run_once().await.unwrap(), Default::default());
    assert!(rx.got().is_empty());
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_back_off_then_dead_lettered_and_replayed() {
    let w = world(fast()).await;
    let (rx, url) = receiver(w.clock.clone()).await;
    webhooks::grant_topic(&w.t.db, &ctx(), MEMBER, "indicator.")
        .await
        .unwrap();
    let r = w.subscribe("indicator.", &url).await;
    assert_eq!(r.status(), 201);
    let created: serde_json::Value = r.json().await.unwrap();
    *rx.secret.lock().unwrap() = created["secret"].as_str().unwrap().to_string();
    let sub_id = created["id"].as_str().unwrap().to_string();
    rx.answer.store(503, Ordering::SeqCst);
    let ev = w
        .event(
            "indicator.value_published",
            serde_json::json!({"indicator": "dvc.online", "value": 0.82}),
        )
        .await;
    let delivery = |w: &World| {
        let db = w.t.db.clone();
        let ev = ev.clone();
        async move {
            webhooks::deliveries_of_event(&db, &ev)
                .await
                .unwrap()
                .remove(0)
        }
    };
    // Attempt 1 fails: the next in 10 s ± 20 %.
    let t0 = w.clock.load(Ordering::SeqCst);
    assert_eq!(w.webhooks.run_once().await.unwrap().failed, 1);
    let d = delivery(&w).await;
    assert_eq!(
        (d.status.as_str(), d.attempts, d.last_status),
        ("pending", 1, Some(503))
    );
    let wait = d.next_attempt_at - t0;
    assert!((8_000_000..=12_000_000).contains(&wait), "{wait}");
    // Not due yet: nothing sent.
    w.advance(7);
    assert_eq!(w.webhooks.run_once().await.unwrap(), Default::default());
    // Attempt 2 fails: 20 s ± 20 %.
    w.advance(6);
    let t1 = w.clock.load(Ordering::SeqCst);
    assert_eq!(w.webhooks.run_once().await.unwrap().failed, 1);
    let d = delivery(&w).await;
    assert_eq!(d.attempts, 2);
    let wait = d.next_attempt_at - t1;
    assert!((16_000_000..=24_000_000).contains(&wait), "{wait}");
    // Attempt 3 (the last) fails: dead.
    w.advance(25);
    assert_eq!(w.webhooks.run_once().await.unwrap().dead, 1);
    let got = rx.got();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|g| g.verified));
    // Every attempt is signed afresh (its own timestamp), the body is the same bytes.
    assert_ne!(
        got[0].headers[webhooks::H_TIMESTAMP],
        got[2].headers[webhooks::H_TIMESTAMP]
    );
    assert_eq!(got[0].body, got[2].body);
    w.advance(3600);
    assert_eq!(w.webhooks.run_once().await.unwrap(), Default::default());

    // The administrator sees it on the dead-letter list (API and page) …
    let dead: serde_json::Value = get_json(
        &w.http,
        format!(
            "{}/api/v1/exchange/dead-letters?subscription={sub_id}",
            w.base
        ),
    )
    .await;
    assert_eq!(dead.as_array().unwrap().len(), 1);
    assert_eq!(dead[0]["attempts"], 3);
    assert_eq!(dead[0]["last_status"], 503);
    assert!(dead[0]["last_error"].as_str().unwrap().contains("503"));
    let page = w
        .http
        .get(format!("{}/quan-tri/truc-lien-thong", w.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(dead[0]["id"].as_str().unwrap()),
        "dead letter on the page"
    );
    assert!(page.contains("indicator."));
    let subs: serde_json::Value =
        get_json(&w.http, format!("{}/api/v1/exchange/subscriptions", w.base)).await;
    assert_eq!(subs[0]["dead"], 1);
    // … replays it (audited) once the receiver is back: delivered.
    rx.answer.store(204, Ordering::SeqCst);
    let r = w
        .post(&format!(
            "/api/v1/exchange/dead-letters/{}/replay",
            dead[0]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        w.count("SELECT COUNT(*) FROM audit_log WHERE action = 'exchange.webhook_replay' AND actor = 'user:u1'").await,
        1
    );
    // Replaying what is not dead any more is a 404.
    let r = w
        .post(&format!(
            "/api/v1/exchange/dead-letters/{}/replay",
            dead[0]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(w.webhooks.run_once().await.unwrap().delivered, 1);
    let d = delivery(&w).await;
    assert_eq!((d.status.as_str(), d.attempts), ("delivered", 1));
    assert_eq!(rx.got().len(), 4);
    assert!(rx.got()[3].verified);

    // Replay of a whole subscription: two more dead (timeouts this time), both re-queued.
    rx.answer.store(200, Ordering::SeqCst);
    rx.delay_ms.store(1000, Ordering::SeqCst);
    w.event("indicator.value_published", serde_json::json!({"v": 1}))
        .await;
    w.event("indicator.value_published", serde_json::json!({"v": 2}))
        .await;
    for _ in 0..3 {
        let r = w.webhooks.run_once().await.unwrap();
        assert_eq!(r.failed + r.dead, 1);
        w.advance(3600);
    }
    let d = webhooks::dead_letters(&w.t.db, Some(&sub_id), 10)
        .await
        .unwrap();
    assert_eq!(d.len(), 1);
    assert!(
        d[0].last_error.as_deref().unwrap().contains("time-out"),
        "{d:?}"
    );
    assert_eq!(d[0].last_status, None);
    for _ in 0..3 {
        w.webhooks.run_once().await.unwrap();
        w.advance(3600);
    }
    rx.delay_ms.store(0, Ordering::SeqCst);
    let r: serde_json::Value = w
        .http
        .post(format!(
            "{}/api/v1/exchange/subscriptions/{sub_id}/replay",
            w.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["replayed"], 2);
    assert_eq!(w.webhooks.run_once().await.unwrap().delivered, 1);
    assert_eq!(w.webhooks.run_once().await.unwrap().delivered, 1);
    assert!(webhooks::dead_letters(&w.t.db, None, 10)
        .await
        .unwrap()
        .is_empty());
    let m = webhooks::metrics().render();
    assert!(
        m.contains("member=\"000.00.23.H37\",outcome=\"dead\""),
        "{m}"
    );
    assert!(
        m.contains("member=\"000.00.23.H37\",outcome=\"failed\""),
        "{m}"
    );
}

#[tokio::test]
async fn gone_disables_the_subscription_and_a_slow_receiver_holds_up_only_its_own() {
    // The slow receiver holds its first call until the test lets it go; the time-out is far
    // longer than the test, so only the worker's independence between subscriptions can let
    // the quick receiver have its events meanwhile (no wall-clock bound to flake under load).
    let mut cfg = fast();
    cfg.timeout = Duration::from_secs(120);
    let w = world(cfg).await;
    let (slow, slow_url) = receiver(w.clock.clone()).await;
    let (quick, quick_url) = receiver(w.clock.clone()).await;
    webhooks::grant_topic(&w.t.db, &ctx(), MEMBER, "border.")
        .await
        .unwrap();
    for (rx, url) in [(&slow, &slow_url), (&quick, &quick_url)] {
        let r = w.subscribe("border.", url).await;
        assert_eq!(r.status(), 201);
        *rx.secret.lock().unwrap() = r.json::<serde_json::Value>().await.unwrap()["secret"]
            .as_str()
            .unwrap()
            .to_string();
    }
    slow.held.store(true, Ordering::SeqCst);
    for n in 0..3 {
        w.event("border.trip.declared", serde_json::json!({"n": n}))
            .await;
    }
    // The worker in the background, on the real clock.
    w.clock.store(now_micros() + 1_000_000, Ordering::SeqCst);
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(w.webhooks.clone().run(async move {
        let _ = stop_rx.changed().await;
    }));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while (quick.got().len() < 3 || slow.got().is_empty()) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        quick.got().len(),
        3,
        "the quick receiver gets its 3 events while the slow one still holds its first"
    );
    assert_eq!(
        slow.got().len(),
        1,
        "the slow receiver's queue waits for its first answer"
    );
    assert!(quick.got().iter().all(|g| g.verified));
    // The slow receiver now answers 410 Gone: its subscription is disabled, the delivery dead.
    slow.answer.store(410, Ordering::SeqCst);
    slow.held.store(false, Ordering::SeqCst);
    while std::time::Instant::now() < deadline
        && w.count("SELECT COUNT(*) FROM exchange_webhook_subscriptions WHERE status = 'disabled'")
            .await
            == 0
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    task.await.unwrap();
    let subs = webhooks::list_subscriptions(&w.t.db, Some(MEMBER))
        .await
        .unwrap();
    let s = subs.iter().find(|s| s.url == slow_url).unwrap();
    assert_eq!(s.status, "disabled");
    assert_eq!(s.status_reason.as_deref(), Some("410 Gone"));
    assert_eq!(s.dead, 1);
    // Nothing new is written for a disabled subscription; an administrator can resume it.
    let ev = w
        .event("border.trip.declared", serde_json::json!({"n": 9}))
        .await;
    assert_eq!(
        webhooks::deliveries_of_event(&w.t.db, &ev)
            .await
            .unwrap()
            .len(),
        1
    );
    let r = w
        .http
        .post(format!(
            "{}/api/v1/exchange/subscriptions/{}/status",
            w.base, s.id
        ))
        .json(&serde_json::json!({ "active": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        webhooks::get_subscription(&w.t.db, &s.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "active"
    );
}

#[tokio::test]
async fn bad_input_is_refused_with_field_errors_and_nothing_written() {
    let w = world(fast()).await;
    webhooks::grant_topic(&w.t.db, &ctx(), MEMBER, "dossier.")
        .await
        .unwrap();
    let audit_before = w.count("SELECT COUNT(*) FROM audit_log").await;
    // Both fields wrong: both reported, in both languages.
    let r = w.subscribe("nothing.", "ftp://example.vn/hook").await;
    assert_eq!(r.status(), 422);
    let p: serde_json::Value = r.json().await.unwrap();
    let fields = support::error_fields(&p);
    assert_eq!(fields, vec!["topic_prefix", "url"]);
    assert_eq!(p["errors"][0]["code"], "topic_unknown");
    assert!(p["errors"][1]["message_vi"]
        .as_str()
        .unwrap()
        .contains("URL"));
    assert!(p["errors"][1]["message_en"]
        .as_str()
        .unwrap()
        .contains("http"));
    for (prefix, url, field) in [
        ("dossier.", "not a url", "url"),
        ("dossier.", "https://user:pw@example.vn/hook", "url"),
        ("dossier.", "javascript:alert(1)", "url"),
        ("Dossier.*", "https://example.vn/hook", "topic_prefix"),
        ("", "https://example.vn/hook", "topic_prefix"),
    ] {
        let r = w.subscribe(prefix, url).await;
        assert_eq!(r.status(), 422, "{prefix} {url}");
        let p: serde_json::Value = r.json().await.unwrap();
        assert_eq!(p["errors"][0]["field"], field, "{prefix} {url}");
    }
    let r = w
        .signed("POST", "/lgsp/v1/_subscriptions", b"{not json", MEMBER, 1)
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["errors"][0]["field"],
        "body"
    );
    // Unsigned, or signed by someone else's key: 401, whatever the body.
    let body = serde_json::json!({ "topic_prefix": "dossier.", "url": "https://example.vn/hook" })
        .to_string();
    let r = w
        .http
        .post(format!("{}/lgsp/v1/_subscriptions", w.base))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "lgsp_unsigned"
    );
    let r = w
        .signed(
            "POST",
            "/lgsp/v1/_subscriptions",
            body.as_bytes(),
            MEMBER,
            2,
        )
        .await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "lgsp_bad_signature"
    );
    assert_eq!(
        w.count("SELECT COUNT(*) FROM exchange_webhook_subscriptions")
            .await,
        0
    );
    assert_eq!(
        w.count("SELECT COUNT(*) FROM audit_log").await,
        audit_before
    );
    // Administrators' grants are checked too.
    let r = w
        .http
        .post(format!("{}/api/v1/exchange/topic-rights", w.base))
        .json(&serde_json::json!({ "member": MEMBER, "topic_prefix": "user." }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = w
        .http
        .post(format!("{}/api/v1/exchange/topic-rights", w.base))
        .json(&serde_json::json!({ "member": "000.00.99.H37", "topic_prefix": "dossier." }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        w.count("SELECT COUNT(*) FROM exchange_topic_rights").await,
        1
    );
    // Deleting: only one's own.
    let r = w.subscribe("dossier.", "https://example.vn/hook").await;
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/lgsp/v1/_subscriptions/{id}");
    assert_eq!(w.signed("DELETE", &path, b"", OTHER, 2).await.status(), 404);
    assert_eq!(
        w.signed("DELETE", &path, b"", MEMBER, 1).await.status(),
        204
    );
    assert_eq!(
        w.signed("DELETE", &path, b"", MEMBER, 1).await.status(),
        404
    );
    let ev = w.event("dossier.submitted", serde_json::json!({})).await;
    assert!(webhooks::deliveries_of_event(&w.t.db, &ev)
        .await
        .unwrap()
        .is_empty());
}

/// Retention of delivered webhooks: only deliveries delivered longer ago than the retention
/// are deleted — never pending, dead-lettered or dropped ones, whatever their age — the purge
/// is audited once, and the daily job does it at start and stops with the server.
#[tokio::test]
async fn delivered_webhooks_past_their_retention_are_deleted_and_nothing_else() {
    let t = support::db().await;
    let db = &t.db;
    register(db, MEMBER, "UBND phường Tam Thanh", 1).await;
    webhooks::grant_topic(db, &ctx(), MEMBER, "dossier.")
        .await
        .unwrap();
    let sub = webhooks::create_subscription(
        db,
        &ctx(),
        MEMBER,
        &webhooks::NewSubscription {
            topic_prefix: "dossier.".into(),
            url: "https://tamthanh.example.gov.vn/hook".into(),
        },
    )
    .await
    .unwrap()
    .subscription
    .id;
    let now = now_micros();
    let day = 86_400_000_000_i64;
    // (name, status, days since its last change)
    let rows = [
        ("delivered-40", "delivered", 40),
        ("delivered-31", "delivered", 31),
        ("delivered-10", "delivered", 10),
        ("pending-40", "pending", 40),
        ("dead-40", "dead", 40),
        ("dropped-40", "dropped", 40),
    ];
    for (seq, (name, status, days)) in rows.iter().enumerate() {
        sqlx::query(
            "INSERT INTO exchange_webhook_deliveries (id, subscription_id, member_code, event_id, event_seq, topic, body, \
             status, attempts, next_attempt_at, last_status, last_error, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'dossier.submitted', '{}', $6, 1, $7, NULL, NULL, $7, $7)",
        )
        .bind(*name)
        .bind(&sub)
        .bind(MEMBER)
        .bind(format!("event-{name}"))
        .bind(seq as i64 + 1)
        .bind(*status)
        .bind(now - days * day)
        .execute(db.pool())
        .await
        .unwrap();
    }
    let left = || async {
        let mut ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM exchange_webhook_deliveries ORDER BY id")
                .fetch_all(db.pool())
                .await
                .unwrap();
        ids.sort();
        ids
    };
    let audited = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT summary FROM audit_log WHERE action = 'exchange.webhooks_purge' ORDER BY seq",
        )
        .fetch_all(db.pool())
        .await
        .unwrap()
    };
    let admin = ctx();
    let purge = |days| webhooks::purge_delivered_older_than(db, &admin, days, now);
    assert_eq!(
        purge(60).await.unwrap(),
        0,
        "nothing delivered that long ago"
    );
    assert!(
        audited().await.is_empty(),
        "a purge that deletes nothing is not audited"
    );
    assert_eq!(purge(30).await.unwrap(), 2);
    assert_eq!(
        left().await,
        vec!["dead-40", "delivered-10", "dropped-40", "pending-40"],
        "only the delivered ones older than 30 days are gone"
    );
    assert_eq!(purge(30).await.unwrap(), 0, "already gone");
    let summaries = audited().await;
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    let s: serde_json::Value = serde_json::from_str(&summaries[0]).unwrap();
    assert_eq!(
        (s["deleted"].as_i64(), s["days"].as_i64()),
        (Some(2), Some(30))
    );
    // The dead-letter list still has its delivery, and it can still be replayed.
    let dead = webhooks::dead_letters(db, Some(&sub), 10).await.unwrap();
    assert_eq!(dead.len(), 1);

    // The daily job: a purge at start (7 days: the 10-day-old delivery goes), then it waits
    // for the next day until told to stop.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let job = tokio::spawn(webhooks::purge_delivered_every_day(
        db.clone(),
        7,
        async move {
            let _ = stop_rx.await;
        },
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while left().await.contains(&"delivered-10".to_string()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the job did not purge at start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        left().await,
        vec!["dead-40", "dropped-40", "pending-40"],
        "pending, dead and dropped deliveries are never deleted"
    );
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), job)
        .await
        .expect("the job stops when told")
        .unwrap();
    let summaries = audited().await;
    assert_eq!(summaries.len(), 2);
    let actor: String = sqlx::query_scalar(
        "SELECT actor FROM audit_log WHERE action = 'exchange.webhooks_purge' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(actor, "system");
}
