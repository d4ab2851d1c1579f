//! The notifications ledger (sổ thông báo): what was sent, to whom, for which event.
//!
//! One row per (outbox event, channel, recipient), unique: an outbox consumer that is handed
//! the same event again (the outbox delivers at least once) finds the row and sends nothing.
//! A crash between the relay accepting a message and the row being written can still send a
//! message twice; nothing short of the relay's cooperation closes that window.
//!
//! Statuses: `sending` (đang gửi: claimed by a worker), `sent` (đã gửi), `retrying` (lỗi tạm
//! thời: the consumer returns an error and the outbox dispatcher retries with back-off),
//! `failed` (lỗi vĩnh viễn, or [`SendPolicy::max_attempts`] reached: given up so later
//! notifications are not held back), `skipped` (bỏ qua: nothing to send, e.g. the applicant
//! gave no e-mail address).
//!
//! A worker claims a row (`sending`) before it talks to the relay, in its own transaction, so
//! two servers handling the same event at once do not both send: the second finds the claim
//! and retries later, by which time the row is final. A claim older than
//! [`STALE_CLAIM_MICROS`] belongs to a worker that died mid-send and is taken over.
//!
//! Rows are operational records like the outbox's own progress, not audited changes of state:
//! they are written in their own transaction without an audit entry.

use crate::email::{Attachment, Email, SendError, SmtpMailer};
use serde::Serialize;
use sqlx::Row;
use tinhso_store::{now_micros, Db, DbError};

/// A notification's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Sending,
    Sent,
    Retrying,
    Failed,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Retrying => "retrying",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Status::Sending,
            Status::Sent,
            Status::Retrying,
            Status::Failed,
            Status::Skipped,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// Nothing more will be attempted.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Sent | Status::Failed | Status::Skipped)
    }
}

/// What a notification is: the event it answers, the channel and the recipient (the unique
/// key), the topic, what it is about and its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub event_id: String,
    pub topic: String,
    /// `email`, `sms`, `zalo`.
    pub channel: String,
    /// The address or number; empty for a skipped notification with no recipient.
    pub recipient: String,
    /// What it is about, e.g. a dossier code.
    pub reference: String,
    pub subject: String,
}

/// A ledger row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub id: String,
    pub event_id: String,
    pub topic: String,
    pub channel: String,
    pub recipient: String,
    pub reference: String,
    pub subject: String,
    pub status: Status,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub sent_at: Option<i64>,
}

const COLUMNS: &str =
    "id, event_id, topic, channel, recipient, reference, subject, status, attempts, \
    last_error, created_at, updated_at, sent_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Notification, DbError> {
    let status: String = r.try_get(7)?;
    Ok(Notification {
        id: r.try_get(0)?,
        event_id: r.try_get(1)?,
        topic: r.try_get(2)?,
        channel: r.try_get(3)?,
        recipient: r.try_get(4)?,
        reference: r.try_get(5)?,
        subject: r.try_get(6)?,
        status: Status::parse(&status)
            .ok_or_else(|| DbError::Invalid(format!("notification status {status:?}")))?,
        attempts: r.try_get(8)?,
        last_error: r.try_get(9)?,
        created_at: r.try_get(10)?,
        updated_at: r.try_get(11)?,
        sent_at: r.try_get(12)?,
    })
}

/// The row for (event, channel, recipient), if any.
pub async fn get(
    db: &Db,
    event_id: &str,
    channel: &str,
    recipient: &str,
) -> Result<Option<Notification>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM notifications WHERE event_id = $1 AND channel = $2 AND recipient = $3"
    ))
    .bind(event_id)
    .bind(channel)
    .bind(recipient)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every notification about `reference` (e.g. a dossier), oldest first.
pub async fn for_reference(db: &Db, reference: &str) -> Result<Vec<Notification>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM notifications WHERE reference = $1 ORDER BY created_at, id"
    ))
    .bind(reference)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Record an attempt (or a skip): insert the row, or update it and count one more attempt.
/// `attempted` is false for a skip (no attempt is counted).
pub async fn record(
    db: &Db,
    key: &Key,
    status: Status,
    attempted: bool,
    error: Option<&str>,
) -> Result<Notification, DbError> {
    let now = now_micros();
    let sent_at = (status == Status::Sent).then_some(now);
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO notifications (id, event_id, topic, channel, recipient, reference, subject, status, \
         attempts, last_error, created_at, updated_at, sent_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12) \
         ON CONFLICT (event_id, channel, recipient) DO UPDATE SET status = excluded.status, \
         subject = excluded.subject, attempts = notifications.attempts + excluded.attempts, \
         last_error = excluded.last_error, updated_at = excluded.updated_at, sent_at = excluded.sent_at",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&key.event_id)
    .bind(&key.topic)
    .bind(&key.channel)
    .bind(&key.recipient)
    .bind(&key.reference)
    .bind(&key.subject)
    .bind(status.as_str())
    .bind(i64::from(attempted))
    .bind(error)
    .bind(now)
    .bind(sent_at)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    get(db, &key.event_id, &key.channel, &key.recipient)
        .await?
        .ok_or_else(|| DbError::Invalid("notification row vanished".into()))
}

/// A claim older than this (15 minutes, far beyond any SMTP time-out) is taken over.
pub const STALE_CLAIM_MICROS: i64 = 15 * 60 * 1_000_000;

/// The result of [`claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This worker may send; `attempts` were made before.
    Mine { attempts: i64 },
    /// Final already: nothing to do.
    Done(Status),
    /// Another worker is sending it now.
    Busy,
}

/// Claim (event, channel, recipient) for sending: create the row as `sending`, or take over a
/// `retrying` row or a stale claim.
pub async fn claim(db: &Db, key: &Key) -> Result<Claim, DbError> {
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO notifications (id, event_id, topic, channel, recipient, reference, subject, status, \
         attempts, last_error, created_at, updated_at, sent_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'sending', 0, NULL, $8, $8, NULL) \
         ON CONFLICT (event_id, channel, recipient) DO NOTHING",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&key.event_id)
    .bind(&key.topic)
    .bind(&key.channel)
    .bind(&key.recipient)
    .bind(&key.reference)
    .bind(&key.subject)
    .bind(now)
    .execute(tx.conn())
    .await?
    .rows_affected();
    let taken = if inserted == 1 {
        true
    } else {
        sqlx::query(
            "UPDATE notifications SET status = 'sending', updated_at = $1 \
             WHERE event_id = $2 AND channel = $3 AND recipient = $4 \
             AND (status = 'retrying' OR (status = 'sending' AND updated_at < $5))",
        )
        .bind(now)
        .bind(&key.event_id)
        .bind(&key.channel)
        .bind(&key.recipient)
        .bind(now - STALE_CLAIM_MICROS)
        .execute(tx.conn())
        .await?
        .rows_affected()
            == 1
    };
    tx.commit().await?;
    let row = get(db, &key.event_id, &key.channel, &key.recipient)
        .await?
        .ok_or_else(|| DbError::Invalid("notification row vanished".into()))?;
    Ok(if taken {
        Claim::Mine {
            attempts: row.attempts,
        }
    } else if row.status.is_final() {
        Claim::Done(row.status)
    } else {
        Claim::Busy
    })
}

/// How hard to try before giving up on one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendPolicy {
    /// Attempts after which a message that keeps failing temporarily is marked `failed` and
    /// the consumer moves on. With the outbox's back-off (2 s doubling, capped at 10 min),
    /// 20 attempts span about two hours.
    pub max_attempts: i64,
}

impl Default for SendPolicy {
    fn default() -> Self {
        Self { max_attempts: 20 }
    }
}

/// What [`send_email_once`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Sent now.
    Sent,
    /// Already in a final state for this event: nothing sent.
    AlreadyDone(Status),
    /// Permanently refused, or attempts exhausted: marked `failed`, nothing more to do.
    GaveUp(String),
}

/// Send `email` for `key` unless the ledger says this was already done, and record the
/// outcome. A temporary failure is recorded as `retrying` and returned as `Err`, so the outbox
/// dispatcher retries the event later; `key.recipient` must be `email.to`.
pub async fn send_email_once(
    db: &Db,
    mailer: &SmtpMailer,
    key: &Key,
    email: &Email,
    policy: SendPolicy,
) -> Result<Outcome, String> {
    send_email_once_with(db, mailer, key, email, &[], policy).await
}

/// [`send_email_once`] with files attached (e.g. the weekly digest's PDF).
pub async fn send_email_once_with(
    db: &Db,
    mailer: &SmtpMailer,
    key: &Key,
    email: &Email,
    attachments: &[Attachment],
    policy: SendPolicy,
) -> Result<Outcome, String> {
    let db_err = |e: DbError| format!("notifications ledger: {e}");
    let prior_attempts = match claim(db, key).await.map_err(db_err)? {
        Claim::Mine { attempts } => attempts,
        Claim::Done(status) => return Ok(Outcome::AlreadyDone(status)),
        Claim::Busy => {
            return Err(format!(
                "e-mail to {} is being sent by another worker; checked again later",
                key.recipient
            ))
        }
    };
    match mailer.send_with(email, attachments).await {
        Ok(()) => {
            record(db, key, Status::Sent, true, None)
                .await
                .map_err(db_err)?;
            tracing::info!(event = %key.event_id, reference = %key.reference, to = %key.recipient, "e-mail sent");
            Ok(Outcome::Sent)
        }
        Err(SendError::Permanent(e)) => {
            record(db, key, Status::Failed, true, Some(&e))
                .await
                .map_err(db_err)?;
            tracing::warn!(event = %key.event_id, to = %key.recipient, error = %e, "e-mail refused for good");
            Ok(Outcome::GaveUp(e))
        }
        Err(SendError::Transient(e)) => {
            let attempts = prior_attempts + 1;
            if attempts >= policy.max_attempts {
                record(db, key, Status::Failed, true, Some(&e))
                    .await
                    .map_err(db_err)?;
                tracing::warn!(event = %key.event_id, to = %key.recipient, attempts, error = %e, "e-mail given up");
                return Ok(Outcome::GaveUp(e));
            }
            record(db, key, Status::Retrying, true, Some(&e))
                .await
                .map_err(db_err)?;
            Err(format!("e-mail to {}: {e}", key.recipient))
        }
    }
}
