//! Members' event pulls through the hub (`/lgsp/v1/_events/pull|ack`), gated by topic rights:
//! denied by default, granted and revoked by an administrator through the API (audited), a
//! revocation refusing the very next pull. In-process (the outbox, SQLite or PostgreSQL) and
//! with NATS JetStream at 127.0.0.1:4222 (a durable consumer per member × prefix, which
//! remembers acknowledgements across a restart of the hub).

use crate::nats::{bridge, Cleanup};
use crate::support::{self, post_json, MEMBER, OTHER};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tinhso_exchange::{Hub, HubConfig, NatsConfig};
use tinhso_store::outbox::Dispatcher;
use tinhso_store::test_support::TestDb;

struct World {
    t: TestDb,
    base: String,
    http: reqwest::Client,
}

/// The hub's members' routes and the administrators' API (a signed-in administrator), two
/// members; `nats`: the JetStream the pulls read.
async fn world(nats: Option<NatsConfig>) -> World {
    let t = support::two_members().await;
    let base = hub_on(&t, nats).await;
    World {
        t,
        base,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap(),
    }
}

/// A hub (a fresh one: a restarted server) on its own port over `t`'s database.
async fn hub_on(t: &TestDb, nats: Option<NatsConfig>) -> String {
    let hub = Hub::new(
        t.db.clone(),
        HubConfig {
            nats,
            ..Default::default()
        },
    );
    support::serve_hub(t, Arc::new(hub)).await
}

impl World {
    async fn signed(
        &self,
        base: &str,
        action: &str,
        body: Value,
        member: &str,
    ) -> reqwest::Response {
        let seed = if member == MEMBER { 1 } else { 2 };
        let path = format!("/lgsp/v1/_events/{action}");
        let body = body.to_string().into_bytes();
        support::send_signed(&self.http, base, "POST", &path, &body, (member, seed)).await
    }

    /// Pull as `member`: the status and the JSON answer.
    async fn pull_at(&self, base: &str, member: &str, prefix: &str, max: u32) -> (u16, Value) {
        let r = self
            .signed(
                base,
                "pull",
                json!({ "topic_prefix": prefix, "max": max, "wait_ms": 300 }),
                member,
            )
            .await;
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn pull(&self, member: &str, prefix: &str, max: u32) -> (u16, Value) {
        self.pull_at(&self.base, member, prefix, max).await
    }

    async fn ack_at(&self, base: &str, member: &str, prefix: &str, acks: Vec<Value>) -> u16 {
        self.signed(
            base,
            "ack",
            json!({ "topic_prefix": prefix, "acks": acks }),
            member,
        )
        .await
        .status()
        .as_u16()
    }

    /// The administrators' API: grant (or revoke) a topic right.
    async fn right(&self, grant: bool, member: &str, prefix: &str) {
        let path = if grant {
            "/api/v1/exchange/topic-rights"
        } else {
            "/api/v1/exchange/topic-rights/revocation"
        };
        let r = post_json(
            &self.http,
            format!("{}{path}", self.base),
            json!({ "member": member, "topic_prefix": prefix }),
        )
        .await;
        assert_eq!(r.status(), 204, "{path}");
    }

    async fn emit(&self, topic: &str, n: i64) {
        for i in 0..n {
            let mut tx = self.t.db.begin_write().await.unwrap();
            tx.emit(topic, &json!({ "i": i })).await.unwrap();
            tx.commit().await.unwrap();
        }
    }

    async fn count(&self, sql: &str) -> i64 {
        tinhso_store::db::count(&self.t.db, sql).await.unwrap()
    }
}

fn topics(answer: &Value) -> Vec<String> {
    answer["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{}#{}", e["topic"].as_str().unwrap(), e["payload"]["i"]))
        .collect()
}

fn acks(answer: &Value) -> Vec<Value> {
    answer["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ack"].clone())
        .collect()
}

#[tokio::test]
async fn pulls_from_the_outbox_only_what_the_member_was_granted() {
    let w = world(None).await;
    w.emit("dossier.status_changed", 2).await;
    w.emit("border.trip.declared", 1).await;
    w.emit("dossier.attach", 1).await;

    // Denied by default, logged as such.
    let (status, problem) = w.pull(MEMBER, "dossier.", 10).await;
    assert_eq!(status, 403);
    assert_eq!(problem["code"], "lgsp_topic_forbidden");
    assert_eq!(
        w.count("SELECT COUNT(*) FROM exchange_log WHERE service = '_events' AND outcome = 'topic_forbidden'")
            .await,
        1
    );

    // Granted by an administrator, on the audit trail.
    w.right(true, MEMBER, "dossier.").await;
    assert_eq!(
        w.count("SELECT COUNT(*) FROM audit_log WHERE action = 'exchange.topic_grant'")
            .await,
        1
    );
    // A narrower prefix is covered by the grant; a wider or other one is not.
    let (status, a) = w.pull(MEMBER, "dossier.status", 10).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["source"], "outbox");
    assert_eq!(
        topics(&a),
        ["dossier.status_changed#0", "dossier.status_changed#1"]
    );
    assert_eq!(w.pull(MEMBER, "border.", 10).await.0, 403);
    // The other member holds nothing.
    assert_eq!(w.pull(OTHER, "dossier.", 10).await.0, 403);

    // In order, `max` at a time, handed out again until acknowledged.
    let (_, a) = w.pull(MEMBER, "dossier.", 2).await;
    assert_eq!(
        topics(&a),
        ["dossier.status_changed#0", "dossier.status_changed#1"]
    );
    let (_, again) = w.pull(MEMBER, "dossier.", 2).await;
    assert_eq!(topics(&again), topics(&a));
    assert_eq!(w.ack_at(&w.base, MEMBER, "dossier.", acks(&a)).await, 204);
    let (_, next) = w.pull(MEMBER, "dossier.", 2).await;
    assert_eq!(topics(&next), ["dossier.attach#0"]);
    // A late acknowledgement of older events does not move the cursor back.
    assert_eq!(
        w.ack_at(&w.base, MEMBER, "dossier.", vec![json!("outbox:1")])
            .await,
        204
    );
    assert_eq!(
        topics(&w.pull(MEMBER, "dossier.", 2).await.1),
        ["dossier.attach#0"]
    );
    // Tokens that are not outbox acknowledgements: 422 on `acks`.
    let r = w
        .signed(
            &w.base,
            "ack",
            json!({ "topic_prefix": "dossier.", "acks": ["$JS.ACK.X.Y.1"] }),
            MEMBER,
        )
        .await;
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "acks", "{p}");
    // Bad fields: every error at once.
    let r = w
        .signed(
            &w.base,
            "pull",
            json!({ "topic_prefix": "Hồ sơ", "max": 0, "wait_ms": 60000 }),
            MEMBER,
        )
        .await;
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["max", "wait_ms", "topic_prefix"], "{p}");

    // Revoked: the very next pull and acknowledgement are refused.
    w.right(false, MEMBER, "dossier.").await;
    assert_eq!(w.pull(MEMBER, "dossier.", 2).await.0, 403);
    assert_eq!(w.pull(MEMBER, "dossier.status", 2).await.0, 403);
    assert_eq!(
        w.ack_at(&w.base, MEMBER, "dossier.", acks(&next)).await,
        403
    );
    assert_eq!(
        w.count("SELECT COUNT(*) FROM audit_log WHERE action = 'exchange.topic_revoke'")
            .await,
        1
    );

    // Unsigned: 401.
    let r = w
        .http
        .post(format!("{}/lgsp/v1/_events/pull", w.base))
        .json(&json!({ "topic_prefix": "dossier." }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn pulls_through_a_durable_nats_consumer_gated_by_topic_rights() {
    let b = bridge("").await;
    let _cleanup = Cleanup(b.clone());
    let cfg = b.config().clone();
    let w = world(Some(cfg.clone())).await;
    w.emit("dossier.status_changed", 3).await;
    w.emit("border.trip.declared", 1).await;
    w.emit("dossier.attach", 1).await;
    let dispatcher = b.subscribe(Dispatcher::builder(w.t.db.clone())).build();
    while dispatcher.run_once().await.unwrap() > 0 {}

    assert_eq!(w.pull(MEMBER, "dossier.status", 10).await.0, 403);
    w.right(true, MEMBER, "dossier.").await;
    // The consumer filters on whole subject tokens (`dossier.>`); the rest of the prefix is
    // matched on the topic: `dossier.attach` is not handed out for `dossier.status`.
    let (status, a) = w.pull(MEMBER, "dossier.status", 2).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["source"], "nats");
    assert_eq!(
        topics(&a),
        ["dossier.status_changed#0", "dossier.status_changed#1"]
    );
    let tokens = acks(&a);
    assert!(tokens[0].as_str().unwrap().starts_with("$JS.ACK."));
    // The other member cannot acknowledge this member's events (once granted the prefix).
    w.right(true, OTHER, "dossier.").await;
    assert_eq!(
        w.ack_at(&w.base, OTHER, "dossier.status", tokens.clone())
            .await,
        422
    );
    assert_eq!(
        w.ack_at(&w.base, MEMBER, "dossier.status", tokens).await,
        204
    );

    // A restarted hub: the durable consumer remembers what was acknowledged.
    let restarted = hub_on(&w.t, Some(cfg.clone())).await;
    let (status, a) = w.pull_at(&restarted, MEMBER, "dossier.status", 10).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(topics(&a), ["dossier.status_changed#2"]);
    assert_eq!(
        w.ack_at(&restarted, MEMBER, "dossier.status", acks(&a))
            .await,
        204
    );
    let (_, empty) = w.pull_at(&restarted, MEMBER, "dossier.status", 10).await;
    assert_eq!(topics(&empty), Vec::<String>::new());
    // The member's consumer exists on the stream, named per member × prefix.
    let stream = b.jetstream().get_stream(&cfg.stream).await.unwrap();
    let name = tinhso_exchange::hub::event_consumer_name(MEMBER, "dossier.status");
    let info = stream.consumer_info(&name).await.unwrap();
    assert_eq!(
        info.config.filter_subject,
        format!("{}.dossier.>", cfg.subject_prefix)
    );

    // Revoked: refused at once, though the consumer still holds events.
    w.emit("dossier.status_changed", 1).await;
    while dispatcher.run_once().await.unwrap() > 0 {}
    w.right(false, MEMBER, "dossier.").await;
    assert_eq!(
        w.pull_at(&restarted, MEMBER, "dossier.status", 10).await.0,
        403
    );
    assert_eq!(w.pull(MEMBER, "dossier.", 10).await.0, 403);
}
