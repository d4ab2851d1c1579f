//! Members' event pulls through the hub (nhận sự kiện qua trục), gated by topic rights.
//!
//! `POST /lgsp/v1/_events/pull` (JSON [`PullRequest`]) and `POST /lgsp/v1/_events/ack` (JSON
//! [`AckRequest`]), each with the member's signed request (the same verifier as exchanges,
//! logged in the message log as service `-/_events`, answers signed by the hub). Both check,
//! on every request and from the database, that one of the member's topic rights covers the
//! prefix asked for: without one the answer is 403 `lgsp_topic_forbidden` (deny by default;
//! a revocation applies to the very next pull or acknowledgement).
//!
//! - **With NATS** (`nats_url`): the member reads its own JetStream durable pull consumer,
//!   one per member × prefix (`lgsp-<member>-<sha256(prefix)[..12]>`, filtered on the
//!   prefix's whole subject tokens, the rest of the prefix matched on the topic header).
//!   Each event comes with an `ack` token (the message's JetStream acknowledgement subject);
//!   the hub only acknowledges tokens of the member's own consumer. An event not acknowledged
//!   within `ack_wait` (30 s) is handed out again; the consumer remembers across restarts.
//! - **Without NATS**: the hub reads the outbox after the member's acknowledged sequence
//!   (`exchange_event_cursors`); the `ack` token is `outbox:<seq>` and an acknowledgement is
//!   cumulative (it covers every earlier event of that prefix). Unacknowledged events are
//!   handed out again on the next pull.
//!
//! Either way delivery is at least once and in order; the event id is stable.

use super::{Hub, Seen};
use crate::{webhooks, EventBridge};
use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::time::Duration;
use tinhso_kernel::{AppError, FieldErrors, Invalid};
use tinhso_store::{now_micros, Db, DbError};

/// Most events handed out by one pull.
pub const MAX_PULL: u32 = 256;
/// Longest a pull waits for events on NATS.
pub const MAX_WAIT_MS: u64 = 10_000;
/// How long NATS waits for an acknowledgement before handing an event out again.
pub const ACK_WAIT: Duration = Duration::from_secs(30);

/// A pull: the topic prefix (covered by one of the member's topic rights), at most `max`
/// events (1–256, default 64), waiting up to `wait_ms` for some on NATS (0–10,000, default
/// 1,000; without NATS a pull never waits).
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct PullRequest {
    pub topic_prefix: String,
    #[serde(default)]
    pub max: Option<u32>,
    #[serde(default)]
    pub wait_ms: Option<u64>,
}

/// One event handed to a member.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PulledEvent {
    pub id: String,
    pub seq: i64,
    pub topic: String,
    pub payload: serde_json::Value,
    pub created_at: i64,
    /// What to send back in [`AckRequest::acks`] once the event is handled.
    pub ack: String,
}

/// The answer to a pull: where the events came from (`nats` or `outbox`) and the events, in
/// order.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct PullAnswer {
    pub source: String,
    pub events: Vec<PulledEvent>,
}

/// Acknowledge events handled: the prefix they were pulled with and their `ack` tokens.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct AckRequest {
    pub topic_prefix: String,
    pub acks: Vec<String>,
}

/// The member's durable consumer for `prefix` (NATS names hold no `.`).
pub fn consumer_name(member: &str, prefix: &str) -> String {
    let digest = hex::encode(sha2::Sha256::digest(prefix.as_bytes()));
    crate::events::durable_name(&format!("lgsp-{member}-{}", &digest[..12]))
}

/// The subject filter for `prefix`: its whole tokens then `>` (`dossier.status` →
/// `tinhso.dossier.>`; the rest is matched on the topic header).
pub fn filter_subject(subject_prefix: &str, prefix: &str) -> String {
    let whole: Vec<&str> = if prefix.ends_with('.') {
        prefix.split('.').filter(|t| !t.is_empty()).collect()
    } else {
        let mut t: Vec<&str> = prefix.split('.').filter(|t| !t.is_empty()).collect();
        t.pop();
        t
    };
    if whole.is_empty() {
        format!("{subject_prefix}.>")
    } else {
        format!(
            "{}.>",
            crate::events::subject_for(subject_prefix, &whole.join("."))
        )
    }
}

fn body_error(shape: &str, e: impl std::fmt::Display) -> AppError {
    AppError::field(
        "body",
        Invalid::new(
            "json",
            format!("Nội dung phải là JSON {shape}: {e}"),
            format!("The body must be JSON {shape}: {e}"),
        ),
    )
}

/// The prefix checked for shape (422) and covered by a topic right of `member` (403).
async fn granted_prefix(db: &Db, member: &str, raw: &str) -> Result<String, AppError> {
    let prefix = webhooks::topic_prefix(raw).map_err(|e| AppError::field("topic_prefix", e))?;
    if !webhooks::topic_granted(db, member, &prefix).await? {
        return Err(webhooks::topic_forbidden(&prefix));
    }
    Ok(prefix)
}

fn unavailable(e: impl std::fmt::Display) -> AppError {
    tracing::warn!(error = %e, "event pull: NATS JetStream not usable");
    AppError::new(tinhso_kernel::ErrorCode::Unavailable).with_detail(
        "Máy chủ sự kiện (NATS) tạm thời không dùng được; thử lại sau",
        "The event server (NATS) is not usable for now; try again later",
    )
}

impl Hub {
    /// `POST /lgsp/v1/_events/pull` and `POST /lgsp/v1/_events/ack` (`action` is the last
    /// path segment).
    pub async fn events(
        &self,
        action: &str,
        path_and_query: String,
        headers: HeaderMap,
        body: Body,
    ) -> Response {
        let mut seen = Seen::new(
            &headers,
            &Method::POST,
            &path_and_query,
            "-".into(),
            "_events".into(),
        );
        let (member, body) = match self
            .member_request(
                &mut seen,
                &Method::POST,
                &path_and_query,
                &headers,
                body,
                256 * 1024,
            )
            .await
        {
            Ok(r) => r,
            Err(refused) => return refused,
        };
        let result = match action {
            "pull" => match serde_json::from_slice::<PullRequest>(&body) {
                Ok(req) => self
                    .pull(&member, &req)
                    .await
                    .map(|a| (StatusCode::OK, super::to_json(&a))),
                Err(e) => Err(body_error("{\"topic_prefix\", \"max\", \"wait_ms\"}", e)),
            },
            "ack" => match serde_json::from_slice::<AckRequest>(&body) {
                Ok(req) => self
                    .ack(&member, &req)
                    .await
                    .map(|()| (StatusCode::NO_CONTENT, Vec::new())),
                Err(e) => Err(body_error("{\"topic_prefix\", \"acks\"}", e)),
            },
            _ => Err(AppError::not_found()),
        };
        self.answer_result(&seen, result).await
    }

    /// The JetStream connection, made on first use; `None` without NATS.
    async fn bridge(&self) -> Result<Option<&EventBridge>, AppError> {
        let Some(cfg) = &self.cfg.nats else {
            return Ok(None);
        };
        self.events
            .get_or_try_init(|| EventBridge::connect_strict(cfg.clone()))
            .await
            .map(Some)
            .map_err(unavailable)
    }

    /// Hand `member` the next events of a prefix it holds a right to.
    pub async fn pull(&self, member: &str, req: &PullRequest) -> Result<PullAnswer, AppError> {
        let mut errs = FieldErrors::new();
        let max = req.max.unwrap_or(64);
        if !(1..=MAX_PULL).contains(&max) {
            errs.push(
                "max",
                Invalid::new(
                    "range",
                    format!("Số sự kiện mỗi lần từ 1 đến {MAX_PULL}"),
                    format!("Between 1 and {MAX_PULL} events a pull"),
                ),
            );
        }
        let wait_ms = req.wait_ms.unwrap_or(1_000);
        if wait_ms > MAX_WAIT_MS {
            errs.push(
                "wait_ms",
                Invalid::new(
                    "range",
                    format!("Thời gian chờ từ 0 đến {MAX_WAIT_MS} ms"),
                    format!("A wait of 0 to {MAX_WAIT_MS} ms"),
                ),
            );
        }
        errs.check("topic_prefix", webhooks::topic_prefix(&req.topic_prefix));
        errs.into_result()?;
        let prefix = granted_prefix(&self.db, member, &req.topic_prefix).await?;
        match self.bridge().await? {
            Some(bridge) => {
                let events = pull_nats(bridge, member, &prefix, max, wait_ms)
                    .await
                    .map_err(unavailable)?;
                Ok(PullAnswer {
                    source: "nats".into(),
                    events,
                })
            }
            None => Ok(PullAnswer {
                source: "outbox".into(),
                events: pull_outbox(&self.db, member, &prefix, max).await?,
            }),
        }
    }

    /// Acknowledge events `member` pulled with `req.topic_prefix`.
    pub async fn ack(&self, member: &str, req: &AckRequest) -> Result<(), AppError> {
        let prefix = granted_prefix(&self.db, member, &req.topic_prefix).await?;
        if req.acks.is_empty() || req.acks.len() > MAX_PULL as usize {
            return Err(AppError::field(
                "acks",
                Invalid::new(
                    "range",
                    format!("Từ 1 đến {MAX_PULL} mã xác nhận"),
                    format!("Between 1 and {MAX_PULL} acknowledgement tokens"),
                ),
            ));
        }
        match self.bridge().await? {
            Some(bridge) => ack_nats(bridge, member, &prefix, &req.acks).await,
            None => ack_outbox(&self.db, member, &prefix, &req.acks).await,
        }
    }
}

/// `POST /lgsp/v1/_events/{pull|ack}`: a member's pulls of events it holds a topic right to.
pub async fn events_handler(
    axum::extract::Extension(hub): axum::extract::Extension<std::sync::Arc<Hub>>,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    axum::extract::Path(action): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let pq = super::path_and_query(&uri);
    hub.events(&action, pq, headers, body).await
}

fn foreign_token(token: &str) -> AppError {
    AppError::field(
        "acks",
        Invalid::new(
            "ack_token",
            format!("Mã xác nhận {token:?} không phải của lần nhận sự kiện này"),
            format!("The acknowledgement token {token:?} is not from a pull of this prefix"),
        ),
    )
}

async fn pull_nats(
    bridge: &EventBridge,
    member: &str,
    prefix: &str,
    max: u32,
    wait_ms: u64,
) -> Result<Vec<PulledEvent>, crate::NatsError> {
    let filter = filter_subject(&bridge.config().subject_prefix, prefix);
    let consumer = bridge
        .durable_consumer(&consumer_name(member, prefix), &filter, ACK_WAIT)
        .await?;
    let wait = Duration::from_millis(wait_ms.max(100));
    let mut batch = consumer
        .batch()
        .max_messages(max as usize)
        .expires(wait)
        .messages()
        .await
        .map_err(|e| crate::NatsError(format!("pull: {e}")))?;
    let mut out = Vec::new();
    while let Some(msg) = batch.next().await {
        let msg = msg.map_err(|e| crate::NatsError(format!("pull: {e}")))?;
        let topic = msg
            .headers
            .as_ref()
            .and_then(|h| h.get(crate::events::TOPIC_HEADER))
            .map(|v| v.as_str().to_string())
            .unwrap_or_default();
        let ev: Option<tinhso_store::outbox::Event> = serde_json::from_slice(&msg.payload)
            .ok()
            .map(|v: StoredEvent| v.into());
        match (ev, msg.reply.as_ref()) {
            (Some(ev), Some(reply)) if topic.starts_with(prefix) => out.push(PulledEvent {
                id: ev.id,
                seq: ev.seq,
                topic: ev.topic,
                payload: ev.payload,
                created_at: ev.created_at,
                ack: reply.to_string(),
            }),
            // Not for this prefix (the filter is by whole tokens) or not an outbox event:
            // acknowledged so it is not handed out again.
            _ => {
                if let Err(e) = msg.ack().await {
                    tracing::warn!(error = %e, "event pull: skipped message not acknowledged");
                }
            }
        }
    }
    Ok(out)
}

/// An outbox event as published to NATS.
#[derive(Deserialize)]
struct StoredEvent {
    id: String,
    seq: i64,
    topic: String,
    payload: serde_json::Value,
    created_at: i64,
}

impl From<StoredEvent> for tinhso_store::outbox::Event {
    fn from(e: StoredEvent) -> Self {
        Self {
            id: e.id,
            seq: e.seq,
            topic: e.topic,
            payload: e.payload,
            created_at: e.created_at,
        }
    }
}

async fn ack_nats(
    bridge: &EventBridge,
    member: &str,
    prefix: &str,
    acks: &[String],
) -> Result<(), AppError> {
    // `$JS.ACK.<stream>.<consumer>.…` (or with a domain and account hash before the stream):
    // only the member's own consumer of this prefix on the platform's stream.
    let stream = &bridge.config().stream;
    let consumer = consumer_name(member, prefix);
    for token in acks {
        let parts: Vec<&str> = token.split('.').collect();
        let ours = token.starts_with("$JS.ACK.")
            && parts
                .windows(2)
                .any(|w| w[0] == stream.as_str() && w[1] == consumer.as_str());
        if !ours || token.contains(['*', '>', ' ']) {
            return Err(foreign_token(token));
        }
    }
    let client = bridge.jetstream().client();
    for token in acks {
        client
            .publish(token.clone(), "+ACK".into())
            .await
            .map_err(unavailable)?;
    }
    client.flush().await.map_err(unavailable)?;
    Ok(())
}

/// The member's acknowledged sequence for `prefix` (0: none yet).
async fn acked_seq(db: &Db, member: &str, prefix: &str) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT acked_seq FROM exchange_event_cursors WHERE member_code = $1 AND topic_prefix = $2",
    )
    .bind(member)
    .bind(prefix)
    .fetch_optional(db.pool())
    .await?
    .unwrap_or(0))
}

async fn pull_outbox(
    db: &Db,
    member: &str,
    prefix: &str,
    max: u32,
) -> Result<Vec<PulledEvent>, DbError> {
    let mut after = acked_seq(db, member, prefix).await?;
    // The outbox reads by a LIKE on the part before any `_` (LIKE's wildcard); the whole
    // prefix is matched here.
    let like = prefix.split('_').next().unwrap_or_default();
    let mut out = Vec::new();
    while out.len() < max as usize {
        let page = tinhso_store::outbox::read_after(db, after, like, i64::from(max)).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        let full = page.len() < max as usize;
        for ev in page {
            if ev.topic.starts_with(prefix) && out.len() < max as usize {
                out.push(PulledEvent {
                    ack: format!("outbox:{}", ev.seq),
                    id: ev.id,
                    seq: ev.seq,
                    topic: ev.topic,
                    payload: ev.payload,
                    created_at: ev.created_at,
                });
            }
        }
        if full {
            break;
        }
    }
    Ok(out)
}

async fn ack_outbox(db: &Db, member: &str, prefix: &str, acks: &[String]) -> Result<(), AppError> {
    let mut newest = 0i64;
    for token in acks {
        let seq = token
            .strip_prefix("outbox:")
            .and_then(|s| s.parse::<i64>().ok())
            .filter(|s| *s > 0)
            .ok_or_else(|| foreign_token(token))?;
        newest = newest.max(seq);
    }
    // Never moves back: an older acknowledgement arriving late changes nothing.
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO exchange_event_cursors (member_code, topic_prefix, acked_seq, updated_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (member_code, topic_prefix) DO UPDATE \
         SET acked_seq = excluded.acked_seq, updated_at = excluded.updated_at \
         WHERE exchange_event_cursors.acked_seq < excluded.acked_seq",
    )
    .bind(member)
    .bind(prefix)
    .bind(newest)
    .bind(now_micros())
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_whole_tokens() {
        assert_eq!(filter_subject("tinhso", "dossier."), "tinhso.dossier.>");
        assert_eq!(
            filter_subject("tinhso", "dossier.status"),
            "tinhso.dossier.>"
        );
        assert_eq!(
            filter_subject("tinhso", "border.trip."),
            "tinhso.border.trip.>"
        );
        assert_eq!(filter_subject("tinhso", "dossier"), "tinhso.>");
    }

    #[test]
    fn consumer_names_differ_per_member_and_prefix() {
        let a = consumer_name("000.00.23.H37", "dossier.a_b");
        let b = consumer_name("000.00.23.H37", "dossier.a.b");
        let c = consumer_name("000.00.24.H37", "dossier.a_b");
        assert!(a != b && a != c && b != c);
        assert!(!a.contains('.'));
    }
}
