//! Events between systems (sự kiện liên thông): the kernel's outbox published to NATS
//! JetStream.
//!
//! [`EventBridge`] is an outbox consumer ([`tinhso_store::outbox::Dispatcher`]): every event
//! (or only those whose topic starts with one of the configured prefixes) is published to the
//! subject `<subject_prefix>.<topic>` (`tinhso.dossier.status_changed`) with the event id as
//! `Nats-Msg-Id`. Events go in batches of up to [`PUBLISH_BATCH`], in order: all of a batch are
//! sent without waiting, then their acknowledgements are awaited together, and the outbox
//! stores its progress once, up to the last event acknowledged in sequence. An error (no
//! connection, no stream, time-out) is returned to the dispatcher with the first event not
//! acknowledged, which retries from there with its back-off. Because the outbox delivers at
//! least once, the same event can be published again (a crash between the acknowledgements
//! and the stored progress, or later events of a failed batch that were stored): the stream's
//! duplicate window (2 hours, far longer than the outbox's longest back-off) makes JetStream
//! drop the copy, so each event is stored once. The one cost of pipelining: if an event in
//! the middle of a batch is lost while later ones are stored, the retry stores it after them.
//!
//! The stream (`TINHSO_EVENTS`, subjects `tinhso.>`) is created or updated idempotently when
//! the bridge starts (and again before a publish if that failed): file storage, limits
//! retention — messages are kept until they are 30 days old or the stream holds 1 GiB, then
//! the oldest go first. Members read through durable pull consumers
//! ([`EventBridge::durable_consumer`]), which remember what each has acknowledged across
//! restarts of either side.
//!
//! Without a NATS URL none of this runs: the same topics are delivered in-process by the
//! dispatcher to the platform's own consumers.

use async_nats::jetstream::{self, consumer, stream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tinhso_store::outbox::{DispatcherBuilder, Event};

/// Events published per batch before awaiting their acknowledgements together.
pub const PUBLISH_BATCH: usize = 256;

/// Header carrying the outbox topic (the subject has it too, sanitised).
pub const TOPIC_HEADER: &str = "Tinhso-Topic";

/// Where and what to publish.
#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// `nats://host:4222` (or `host:port`).
    pub url: String,
    /// Stream name (`TINHSO_EVENTS`).
    pub stream: String,
    /// First subject token (`tinhso`): events go to `<prefix>.<topic>`, the stream holds
    /// `<prefix>.>`.
    pub subject_prefix: String,
    /// Publish only topics starting with one of these; empty: every event.
    pub topic_prefixes: Vec<String>,
    /// Oldest message kept.
    pub max_age: Duration,
    /// Largest stream size in bytes.
    pub max_bytes: i64,
    /// JetStream de-duplication window for `Nats-Msg-Id`.
    pub duplicate_window: Duration,
    /// How long to wait for a publish acknowledgement.
    pub ack_timeout: Duration,
}

impl NatsConfig {
    /// The platform's defaults for a server URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            stream: "TINHSO_EVENTS".into(),
            subject_prefix: "tinhso".into(),
            topic_prefixes: Vec::new(),
            max_age: Duration::from_secs(30 * 24 * 3600),
            max_bytes: 1 << 30,
            duplicate_window: Duration::from_secs(2 * 3600),
            ack_timeout: Duration::from_secs(5),
        }
    }

    /// Parse a comma-separated list of topic prefixes (`dossier.,feedback.`); empty: all.
    pub fn with_topics(mut self, list: &str) -> Self {
        self.topic_prefixes = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        self
    }
}

/// A NATS or JetStream failure.
#[derive(Debug, thiserror::Error)]
#[error("NATS: {0}")]
pub struct NatsError(pub String);

fn err(e: impl std::fmt::Display) -> NatsError {
    NatsError(e.to_string())
}

/// Publishes outbox events to JetStream.
#[derive(Clone)]
pub struct EventBridge {
    cfg: Arc<NatsConfig>,
    js: jetstream::Context,
    stream_ready: Arc<AtomicBool>,
}

/// The subject token for a topic: NATS subjects may not contain white space, `*` or `>`, and
/// empty tokens are not allowed.
pub fn subject_for(prefix: &str, topic: &str) -> String {
    let cleaned: Vec<String> = topic
        .split('.')
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.chars()
                .map(|c| {
                    if c.is_whitespace() || c == '*' || c == '>' {
                        '_'
                    } else {
                        c
                    }
                })
                .collect()
        })
        .collect();
    if cleaned.is_empty() {
        format!("{prefix}._")
    } else {
        format!("{prefix}.{}", cleaned.join("."))
    }
}

/// A durable consumer name NATS accepts.
pub fn durable_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == '.' || c == '*' || c == '>' || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

impl EventBridge {
    /// Connect (in the background when the server is not up yet: publishing then fails and
    /// the outbox retries) and create or update the stream if the server answers.
    pub async fn connect(cfg: NatsConfig) -> Result<Self, NatsError> {
        let client = async_nats::ConnectOptions::new()
            .name("tinhso")
            .connection_timeout(Duration::from_secs(5))
            .retry_on_initial_connect()
            .connect(cfg.url.as_str())
            .await
            .map_err(err)?;
        let js = jetstream::ContextBuilder::new()
            .timeout(cfg.ack_timeout)
            .build(client);
        let bridge = Self {
            cfg: Arc::new(cfg),
            js,
            stream_ready: Arc::default(),
        };
        if let Err(e) = bridge.ensure_stream().await {
            tracing::warn!(error = %e, "NATS JetStream stream not ready yet; events wait in the outbox");
        }
        Ok(bridge)
    }

    /// Connect and require the stream now (tests, `tinhso` commands).
    pub async fn connect_strict(cfg: NatsConfig) -> Result<Self, NatsError> {
        let client = async_nats::ConnectOptions::new()
            .name("tinhso")
            .connection_timeout(Duration::from_secs(5))
            .connect(cfg.url.as_str())
            .await
            .map_err(|e| NatsError(format!("cannot connect to {}: {e}", cfg.url)))?;
        let js = jetstream::ContextBuilder::new()
            .timeout(cfg.ack_timeout)
            .build(client);
        let bridge = Self {
            cfg: Arc::new(cfg),
            js,
            stream_ready: Arc::default(),
        };
        bridge.ensure_stream().await?;
        Ok(bridge)
    }

    pub fn config(&self) -> &NatsConfig {
        &self.cfg
    }

    /// The JetStream context (members' tooling, tests).
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// Create the stream, or bring its configuration up to date (idempotent).
    pub async fn ensure_stream(&self) -> Result<(), NatsError> {
        let c = &self.cfg;
        self.js
            .create_or_update_stream(stream::Config {
                name: c.stream.clone(),
                description: Some("Tỉnh số outbox events".into()),
                subjects: vec![format!("{}.>", c.subject_prefix)],
                storage: stream::StorageType::File,
                retention: stream::RetentionPolicy::Limits,
                discard: stream::DiscardPolicy::Old,
                max_age: c.max_age,
                max_bytes: c.max_bytes,
                duplicate_window: c.duplicate_window,
                num_replicas: 1,
                ..Default::default()
            })
            .await
            .map_err(|e| NatsError(format!("stream {}: {e}", c.stream)))?;
        self.stream_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Publish one event and wait for its acknowledgement. `Ok(true)`: stored now;
    /// `Ok(false)`: JetStream already had it (a redelivery inside the duplicate window).
    pub async fn publish(&self, ev: &Event) -> Result<bool, NatsError> {
        if !self.stream_ready.load(Ordering::Acquire) {
            self.ensure_stream().await?;
        }
        let subject = subject_for(&self.cfg.subject_prefix, &ev.topic);
        let body = serde_json::to_vec(ev).map_err(err)?;
        let msg = jetstream::message::PublishMessage::build()
            .payload(body.into())
            .message_id(&ev.id)
            .header(TOPIC_HEADER, ev.topic.as_str());
        let ack = self
            .js
            .send_publish(subject.clone(), msg)
            .await
            .map_err(|e| NatsError(format!("publish {subject}: {e}")))?
            .await
            .map_err(|e| {
                // The stream may have been deleted under us: re-create it on the retry.
                self.stream_ready.store(false, Ordering::Release);
                NatsError(format!("publish {subject}: no acknowledgement: {e}"))
            })?;
        Ok(!ack.duplicate)
    }

    /// Publish `events` in order without waiting in between, then await every
    /// acknowledgement together (pipelined: one round trip per batch, not per event).
    /// `Err((i, e))`: events before `i` are acknowledged, `i` is not (it and those after it
    /// are published again by the retry; the duplicate window drops those already stored).
    pub async fn publish_batch(&self, events: &[Event]) -> Result<(), (usize, NatsError)> {
        if !self.stream_ready.load(Ordering::Acquire) {
            self.ensure_stream().await.map_err(|e| (0, e))?;
        }
        let mut acks = Vec::with_capacity(events.len());
        let mut sent = Err((events.len(), NatsError(String::new())));
        for (i, ev) in events.iter().enumerate() {
            let subject = subject_for(&self.cfg.subject_prefix, &ev.topic);
            let body = match serde_json::to_vec(ev) {
                Ok(b) => b,
                Err(e) => {
                    sent = Err((i, err(e)));
                    break;
                }
            };
            let msg = jetstream::message::PublishMessage::build()
                .payload(body.into())
                .message_id(&ev.id)
                .header(TOPIC_HEADER, ev.topic.as_str());
            match self.js.send_publish(subject.clone(), msg).await {
                Ok(ack) => acks.push((subject, ack)),
                Err(e) => {
                    sent = Err((i, NatsError(format!("publish {subject}: {e}"))));
                    break;
                }
            }
        }
        if acks.len() == events.len() {
            sent = Ok(());
        }
        let results = futures_util::future::join_all(
            acks.into_iter()
                .map(|(subject, ack)| async move { ack.await.map_err(|e| (subject, e)) }),
        )
        .await;
        for (i, r) in results.into_iter().enumerate() {
            if let Err((subject, e)) = r {
                // The stream may have been deleted under us: re-create it on the retry.
                self.stream_ready.store(false, Ordering::Release);
                return Err((
                    i,
                    NatsError(format!("publish {subject}: no acknowledgement: {e}")),
                ));
            }
        }
        sent
    }

    /// Outbox consumer names: `nats` for every event, `nats:<prefix>` per configured prefix.
    pub fn consumer_names(&self) -> Vec<(String, String)> {
        if self.cfg.topic_prefixes.is_empty() {
            vec![("nats".into(), String::new())]
        } else {
            self.cfg
                .topic_prefixes
                .iter()
                .map(|p| (format!("nats:{p}"), p.clone()))
                .collect()
        }
    }

    /// Register the bridge with the outbox dispatcher: batches of up to [`PUBLISH_BATCH`]
    /// events, published pipelined ([`Self::publish_batch`]); the outbox stores the progress
    /// once per batch, after its acknowledgements.
    pub fn subscribe(&self, mut builder: DispatcherBuilder) -> DispatcherBuilder {
        for (name, prefix) in self.consumer_names() {
            let bridge = self.clone();
            builder = builder.subscribe_batch(&name, &prefix, PUBLISH_BATCH, move |evs| {
                let bridge = bridge.clone();
                async move {
                    let n = evs.len();
                    match bridge.publish_batch(&evs).await {
                        Ok(()) => {
                            tracing::debug!(events = n, "events published to NATS");
                            Ok(())
                        }
                        Err((i, e)) => Err((i, e.to_string())),
                    }
                }
            });
        }
        builder
    }

    /// A durable pull consumer for a member (created if missing, its configuration kept if it
    /// exists): `filter` is a subject filter such as `tinhso.dossier.>` (empty: every event).
    /// Messages must be acknowledged explicitly; an unacknowledged message is delivered
    /// again after `ack_wait`. Consumer names cannot hold `.`, `*`, `>` or white space: they
    /// become `_` (`member-000.00.23.H37` → `member-000_00_23_H37`).
    pub async fn durable_consumer(
        &self,
        name: &str,
        filter: &str,
        ack_wait: Duration,
    ) -> Result<consumer::PullConsumer, NatsError> {
        let name = &durable_name(name);
        let stream = self
            .js
            .get_stream(&self.cfg.stream)
            .await
            .map_err(|e| NatsError(format!("stream {}: {e}", self.cfg.stream)))?;
        stream
            .get_or_create_consumer(
                name,
                consumer::pull::Config {
                    durable_name: Some(name.to_string()),
                    filter_subject: filter.to_string(),
                    ack_policy: consumer::AckPolicy::Explicit,
                    deliver_policy: consumer::DeliverPolicy::All,
                    ack_wait,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| NatsError(format!("consumer {name}: {e}")))
    }

    /// Delete the stream (tests clean up after themselves).
    pub async fn delete_stream(&self) -> Result<(), NatsError> {
        self.js
            .delete_stream(&self.cfg.stream)
            .await
            .map_err(err)
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_clean() {
        assert_eq!(
            subject_for("tinhso", "dossier.status_changed"),
            "tinhso.dossier.status_changed"
        );
        assert_eq!(subject_for("tinhso", "a..b *>"), "tinhso.a.b___");
        assert_eq!(subject_for("tinhso", ""), "tinhso._");
    }

    #[test]
    fn topic_list() {
        let c = NatsConfig::new("nats://x").with_topics(" dossier., ,feedback.");
        assert_eq!(c.topic_prefixes, vec!["dossier.", "feedback."]);
    }
}
