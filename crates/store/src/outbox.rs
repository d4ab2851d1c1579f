//! Transactional outbox (hộp thư đi) and in-process dispatcher.
//!
//! A module writes its events with [`WriteTx::emit`] in the same transaction as the change, so
//! an event exists if and only if the change committed. The [`Dispatcher`] delivers events to
//! registered consumers in commit order, at least once: a consumer's progress is stored after
//! its handler succeeds, so a crash in between re-delivers. Consumers must be idempotent (the
//! event id is stable). A failing consumer is retried with exponential back-off and does not
//! hold up the others. The sequence is allocated under a row lock held to commit, so sequence
//! order is commit order on PostgreSQL too and no event is skipped.

use crate::db::{now_micros, Backend, Db, DbError, WriteTx};
use crate::exec::bind_sqlx;
use crate::native::Param;
use serde::Serialize;
use sqlx::Row;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// An event as delivered.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub seq: i64,
    pub topic: String,
    pub payload: serde_json::Value,
    pub created_at: i64,
}

impl WriteTx {
    /// Write an event to the outbox in this transaction. Returns its id.
    ///
    /// One round trip: the sequence row is bumped (its lock held to commit) and the event
    /// takes the new number in the same statement — a data-modifying `WITH` on PostgreSQL, two
    /// statements sent together on SQLite.
    pub async fn emit(
        &mut self,
        topic: &str,
        payload: &serde_json::Value,
    ) -> Result<String, DbError> {
        if let Some(d) = self.deferred.as_mut() {
            let e = PendingEvent::new(topic, payload);
            let id = e.id.clone();
            d.events.push(e);
            self.events.push(id.clone());
            return Ok(id);
        }
        let id = uuid::Uuid::now_v7().to_string();
        let sql = match self.backend {
            Backend::Sqlite => {
                "UPDATE outbox_seq SET seq = seq + 1 WHERE id = 1; \
                 INSERT INTO outbox (id, seq, topic, payload, created_at) \
                 SELECT ?, seq, ?, ?, ? FROM outbox_seq WHERE id = 1"
            }
            Backend::Postgres => {
                "WITH s AS (UPDATE outbox_seq SET seq = seq + 1 WHERE id = 1 RETURNING seq) \
                 INSERT INTO outbox (id, seq, topic, payload, created_at) \
                 SELECT $1, s.seq, $2, $3, $4 FROM s"
            }
        };
        let written = sqlx::query(sql)
            .bind(&id)
            .bind(topic)
            .bind(payload.to_string())
            .bind(now_micros())
            .execute(self.conn())
            .await?
            .rows_affected();
        if written == 0 {
            return Err(DbError::Invalid(
                "outbox: the sequence row is missing".into(),
            ));
        }
        self.events.push(id.clone());
        Ok(id)
    }
}

impl WriteTx {
    /// Write several events of one topic in this transaction, in order: the sequence is taken
    /// once for all of them and the rows go in multi-row inserts (for bulk writers such as the
    /// border gate's traffic simulator). Returns their ids.
    pub async fn emit_many(
        &mut self,
        topic: &str,
        payloads: &[serde_json::Value],
    ) -> Result<Vec<String>, DbError> {
        if payloads.is_empty() {
            return Ok(Vec::new());
        }
        if self.deferred.is_some() {
            let mut ids = Vec::with_capacity(payloads.len());
            for p in payloads {
                ids.push(self.emit(topic, p).await?);
            }
            return Ok(ids);
        }
        let n = payloads.len() as i64;
        let row = sqlx::query("UPDATE outbox_seq SET seq = seq + $1 WHERE id = 1 RETURNING seq")
            .bind(n)
            .fetch_one(self.conn())
            .await?;
        let last: i64 = row.try_get(0)?;
        let first = last - n + 1;
        let now = now_micros();
        let rows: Vec<PendingEvent> = payloads
            .iter()
            .map(|p| PendingEvent {
                id: uuid::Uuid::now_v7().to_string(),
                topic: topic.to_string(),
                payload: p.to_string(),
                created_at: now,
            })
            .collect();
        self.insert_rows(first, &rows).await?;
        let ids: Vec<String> = rows.into_iter().map(|e| e.id).collect();
        self.events.extend(ids.iter().cloned());
        Ok(ids)
    }
}

/// An outbox event a group transaction writes at commit (see [`WriteTx::commit`]).
pub(crate) struct PendingEvent {
    id: String,
    topic: String,
    payload: String,
    created_at: i64,
}

impl PendingEvent {
    /// A new event (its id and time taken now), numbered when it is written.
    pub(crate) fn new(topic: &str, payload: &serde_json::Value) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            topic: topic.to_string(),
            payload: payload.to_string(),
            created_at: now_micros(),
        }
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Its parameters in an [`insert_sql`] row, numbered `seq`.
    fn params(&self, seq: i64) -> [Param<'_>; 5] {
        [
            Param::Text(&self.id),
            Param::Int(seq),
            Param::Text(&self.topic),
            Param::Text(&self.payload),
            Param::Int(self.created_at),
        ]
    }
}

/// Outbox rows per `INSERT` of [`insert_sql`].
pub(crate) const ROWS_PER_INSERT: usize = 100;

/// `INSERT` of `rows` outbox rows (5 parameters each, `$1`…; `?` on SQLite:
/// [`Backend::push_param`]).
fn insert_sql(backend: Backend, rows: usize) -> String {
    let mut sql = String::from("INSERT INTO outbox (id, seq, topic, payload, created_at) VALUES ");
    for i in 0..rows {
        sql.push_str(if i == 0 { "(" } else { ", (" });
        for c in 1..=5 {
            if c > 1 {
                sql.push_str(", ");
            }
            backend.push_param(&mut sql, i * 5 + c);
        }
        sql.push(')');
    }
    sql
}

/// The statements that write `events` numbered from `first`: (SQL, parameters) per chunk of
/// [`ROWS_PER_INSERT`] on PostgreSQL, of 64, 32, …, 1 rows on SQLite.
pub(crate) fn insert_statements(
    backend: Backend,
    first: i64,
    events: &[PendingEvent],
) -> impl Iterator<Item = (String, Vec<Param<'_>>)> {
    // On SQLite, statements of a few fixed sizes (64, 32, …, 1 rows) that the native writer
    // keeps prepared (`native::row_pieces`).
    let pieces: Vec<usize> = match backend {
        Backend::Sqlite => crate::native::row_pieces(events.len(), 64).collect(),
        Backend::Postgres => events.chunks(ROWS_PER_INSERT).map(<[_]>::len).collect(),
    };
    let mut start = 0;
    pieces.into_iter().map(move |n| {
        let chunk = &events[start..start + n];
        let params = chunk
            .iter()
            .enumerate()
            .flat_map(|(i, e)| e.params(first + (start + i) as i64))
            .collect();
        start += n;
        (insert_sql(backend, n), params)
    })
}

impl WriteTx {
    /// Insert `events` as outbox rows numbered from `first` ([`insert_statements`]). On
    /// PostgreSQL batch sizes vary, so only the one-event statement is kept prepared; SQLite's
    /// come in a few sizes, all kept.
    async fn insert_rows(&mut self, first: i64, events: &[PendingEvent]) -> Result<(), DbError> {
        let sqlite = self.backend() == Backend::Sqlite;
        for (sql, params) in insert_statements(self.backend(), first, events) {
            let keep = sqlite || params.len() == 5;
            bind_sqlx(sqlx::query(&sql).persistent(keep), &params)
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }

    /// Write the events a group transaction kept, in order: the sequence is taken once for all
    /// of them (its row lock held to commit, as [`WriteTx::emit`] does) and the rows go in
    /// multi-row inserts.
    pub(crate) async fn write_deferred_events(
        &mut self,
        events: Vec<PendingEvent>,
    ) -> Result<(), DbError> {
        if events.is_empty() {
            return Ok(());
        }
        let n = events.len() as i64;
        let row = sqlx::query("UPDATE outbox_seq SET seq = seq + $1 WHERE id = 1 RETURNING seq")
            .bind(n)
            .fetch_optional(self.conn())
            .await?
            .ok_or_else(|| DbError::Invalid("outbox: the sequence row is missing".into()))?;
        let last: i64 = row.try_get(0)?;
        let first = last - n + 1;
        self.insert_rows(first, &events).await?;
        Ok(())
    }
}

/// Make consumer `name` start after the newest event already in the outbox if it has never run
/// (a consumer turned on for an existing installation — e-mail, webhooks — must not act on
/// every past event). Progress already stored is kept. `true` when it was new.
pub async fn start_at_newest_event_if_new(db: &Db, name: &str) -> Result<bool, DbError> {
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(
        "INSERT INTO outbox_consumers (consumer, last_seq, updated_at) \
         SELECT $1, COALESCE(MAX(seq), 0), $2 FROM outbox WHERE true ON CONFLICT (consumer) DO NOTHING",
    )
    .bind(name)
    .bind(now_micros())
    .execute(tx.conn())
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(n > 0)
}

/// Events with `seq > after`, oldest first, whose topic starts with `topic_prefix`.
pub async fn read_after(
    db: &Db,
    after: i64,
    topic_prefix: &str,
    limit: i64,
) -> Result<Vec<Event>, DbError> {
    let rows = sqlx::query(
        "SELECT id, seq, topic, payload, created_at FROM outbox WHERE seq > $1 AND topic LIKE $2 \
         ORDER BY seq LIMIT $3",
    )
    .bind(after)
    .bind(format!("{}%", topic_prefix.replace(['%', '_'], "")))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let payload: String = r.try_get(3)?;
            Ok(Event {
                id: r.try_get(0)?,
                seq: r.try_get(1)?,
                topic: r.try_get(2)?,
                payload: serde_json::from_str(&payload)
                    .map_err(|e| DbError::Invalid(format!("outbox payload: {e}")))?,
                created_at: r.try_get(4)?,
            })
        })
        .collect()
}

/// The future a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
/// An event handler.
pub type Handler = Arc<dyn Fn(Event) -> HandlerFuture + Send + Sync>;

/// The future a batch handler returns: `Ok(())` when every event of the batch was handled,
/// else the index of the first one that was not (those before it were) and why.
pub type BatchFuture = Pin<Box<dyn Future<Output = Result<(), (usize, String)>> + Send>>;
/// A handler of events in batches (in order, oldest first).
pub type BatchHandler = Arc<dyn Fn(Vec<Event>) -> BatchFuture + Send + Sync>;

enum Handling {
    /// One event at a time, its progress stored after each.
    One(Handler),
    /// Up to this many events at once, progress stored once per batch.
    Batch(BatchHandler, i64),
}

struct Consumer {
    name: String,
    topic_prefix: String,
    handler: Handling,
}

/// Delivers outbox events to in-process consumers.
#[derive(Clone)]
pub struct Dispatcher {
    db: Db,
    consumers: Arc<Vec<Consumer>>,
}

/// Builder for a [`Dispatcher`].
pub struct DispatcherBuilder {
    db: Db,
    consumers: Vec<Consumer>,
}

impl Dispatcher {
    pub fn builder(db: Db) -> DispatcherBuilder {
        DispatcherBuilder {
            db,
            consumers: Vec::new(),
        }
    }

    /// Deliver everything pending once; returns how many deliveries succeeded.
    pub async fn run_once(&self) -> Result<usize, DbError> {
        let mut delivered = 0;
        for c in self.consumers.iter() {
            delivered += self.drain(c).await?;
        }
        Ok(delivered)
    }

    async fn drain(&self, c: &Consumer) -> Result<usize, DbError> {
        let handler = match &c.handler {
            Handling::One(h) => h,
            Handling::Batch(h, size) => return self.drain_batches(c, h, *size).await,
        };
        let mut delivered = 0;
        loop {
            let events =
                read_after(&self.db, self.last_seq(c).await?, &c.topic_prefix, 100).await?;
            if events.is_empty() {
                return Ok(delivered);
            }
            for ev in events {
                let now = now_micros();
                let attempts = match self.failure(c, &ev.id).await? {
                    Some((_, next)) if next > now => return Ok(delivered), // back off: retry later, keep order
                    Some((attempts, _)) => attempts,
                    None => 0,
                };
                let seq = ev.seq;
                let id = ev.id.clone();
                let outcome = handler(ev).await;
                let mut tx = self.db.begin_write().await?;
                match outcome {
                    Ok(()) => {
                        save_progress(&mut tx, &c.name, seq).await?;
                        clear_failure(&mut tx, &c.name, &id).await?;
                        tx.commit().await?;
                        delivered += 1;
                    }
                    Err(err) => {
                        record_failure(&mut tx, &c.name, &id, attempts + 1, &err, now).await?;
                        tx.commit().await?;
                        return Ok(delivered);
                    }
                }
            }
        }
    }

    /// [`Self::drain`] for a batch consumer: read up to `size` events, hand them over at once,
    /// store the progress once (up to the last one handled), record a failure like a single
    /// consumer's (same back-off, the order kept: the failed event heads the next batch).
    async fn drain_batches(
        &self,
        c: &Consumer,
        handler: &BatchHandler,
        size: i64,
    ) -> Result<usize, DbError> {
        let mut delivered = 0;
        loop {
            let events = read_after(
                &self.db,
                self.last_seq(c).await?,
                &c.topic_prefix,
                size.max(1),
            )
            .await?;
            let Some(head) = events.first() else {
                return Ok(delivered);
            };
            // Progress stops at a failed event, so only the batch's first can have a failure.
            let now = now_micros();
            let head_id = head.id.clone();
            let failure = self.failure(c, &head_id).await?;
            let head_attempts = match failure {
                Some((_, next)) if next > now => return Ok(delivered),
                Some((attempts, _)) => attempts,
                None => 0,
            };
            let keys: Vec<(i64, String)> = events.iter().map(|e| (e.seq, e.id.clone())).collect();
            let outcome = handler(events).await;
            let done = match &outcome {
                Ok(()) => keys.len(),
                Err((i, _)) => (*i).min(keys.len()),
            };
            let mut tx = self.db.begin_write().await?;
            if let Some((seq, _)) = done.checked_sub(1).and_then(|i| keys.get(i)) {
                save_progress(&mut tx, &c.name, *seq).await?;
                if failure.is_some() {
                    clear_failure(&mut tx, &c.name, &head_id).await?;
                }
            }
            if let Err((_, err)) = outcome {
                let id = keys.get(done).map(|k| k.1.clone()).unwrap_or_default();
                let attempts = if done == 0 { head_attempts + 1 } else { 1 };
                record_failure(&mut tx, &c.name, &id, attempts, &err, now).await?;
                tx.commit().await?;
                return Ok(delivered + done);
            }
            tx.commit().await?;
            delivered += done;
        }
    }

    /// The consumer's progress: the `seq` of the last event it handled (0 before the first).
    async fn last_seq(&self, c: &Consumer) -> Result<i64, DbError> {
        Ok(
            sqlx::query_scalar("SELECT last_seq FROM outbox_consumers WHERE consumer = $1")
                .bind(&c.name)
                .fetch_optional(self.db.pool())
                .await?
                .unwrap_or(0),
        )
    }

    /// The failure recorded for the consumer and an event: its attempts so far and when the
    /// next may be made (Unix µs).
    async fn failure(&self, c: &Consumer, event_id: &str) -> Result<Option<(i64, i64)>, DbError> {
        let row = sqlx::query(
            "SELECT attempts, next_attempt_at FROM outbox_failures WHERE consumer = $1 AND event_id = $2",
        )
        .bind(&c.name)
        .bind(event_id)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// Run until `shutdown` resolves: deliver on every commit that wrote events, and at least
    /// every second (for retries and events written by other nodes).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let notify = self.db.outbox_notify();
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.run_once().await {
                tracing::error!(error = %e, "outbox dispatch failed");
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = notify.notified() => {},
                _ = tokio::time::sleep(Duration::from_secs(1)) => {},
            }
        }
    }
}

impl DispatcherBuilder {
    /// Register a consumer. `name` must be stable: it keys the consumer's progress.
    pub fn subscribe<F, Fut>(mut self, name: &str, topic_prefix: &str, handler: F) -> Self
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.consumers.push(Consumer {
            name: name.to_string(),
            topic_prefix: topic_prefix.to_string(),
            handler: Handling::One(Arc::new(move |ev| Box::pin(handler(ev)))),
        });
        self
    }

    /// Register a consumer that takes up to `batch` events at once (in order); its progress
    /// is stored once per batch, up to the last event it handled. For handlers that can
    /// overlap the work of several events (NATS publishes awaiting their acknowledgements
    /// together). `name` must be stable: it keys the consumer's progress.
    pub fn subscribe_batch<F, Fut>(
        mut self,
        name: &str,
        topic_prefix: &str,
        batch: usize,
        handler: F,
    ) -> Self
    where
        F: Fn(Vec<Event>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), (usize, String)>> + Send + 'static,
    {
        self.consumers.push(Consumer {
            name: name.to_string(),
            topic_prefix: topic_prefix.to_string(),
            handler: Handling::Batch(
                Arc::new(move |evs| Box::pin(handler(evs))),
                i64::try_from(batch.max(1)).unwrap_or(i64::MAX),
            ),
        });
        self
    }

    pub fn build(self) -> Dispatcher {
        Dispatcher {
            db: self.db,
            consumers: Arc::new(self.consumers),
        }
    }
}

/// Store a consumer's progress (the `seq` of the last event handled) in `tx`.
async fn save_progress(tx: &mut WriteTx, consumer: &str, seq: i64) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO outbox_consumers (consumer, last_seq, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (consumer) DO UPDATE SET last_seq = excluded.last_seq, updated_at = excluded.updated_at",
    )
    .bind(consumer)
    .bind(seq)
    .bind(now_micros())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Forget a consumer's failure on an event (it was handled).
async fn clear_failure(tx: &mut WriteTx, consumer: &str, event_id: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM outbox_failures WHERE consumer = $1 AND event_id = $2")
        .bind(consumer)
        .bind(event_id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Record the `attempts`-th failure of a consumer on an event, with the next attempt after
/// 2^attempts seconds (1 s, 2 s, 4 s … capped at 10 minutes).
async fn record_failure(
    tx: &mut WriteTx,
    consumer: &str,
    event_id: &str,
    attempts: i64,
    err: &str,
    now: i64,
) -> Result<(), DbError> {
    let backoff_s = 1i64 << attempts.clamp(0, 10);
    let next = now + backoff_s.min(600) * 1_000_000;
    tracing::warn!(consumer = %consumer, event = %event_id, attempts, error = %err, "event handler failed");
    sqlx::query(
        "INSERT INTO outbox_failures (consumer, event_id, attempts, last_error, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (consumer, event_id) DO UPDATE SET \
         attempts = excluded.attempts, last_error = excluded.last_error, next_attempt_at = excluded.next_attempt_at",
    )
    .bind(consumer)
    .bind(event_id)
    .bind(attempts)
    .bind(err)
    .bind(next)
    .execute(tx.conn())
    .await?;
    Ok(())
}
