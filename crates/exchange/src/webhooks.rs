//! Event subscriptions through the hub (đăng ký nhận sự kiện qua trục) and HMAC-signed
//! webhooks (gọi lại có ký HMAC), with a dead-letter list (danh sách thư chết).
//!
//! - **Topic rights** ([`grant_topic`], [`revoke_topic`]): an administrator grants a member a
//!   topic prefix (`dossier.`, `border.`, …). Nothing is delivered without a grant covering the
//!   event's topic; revoking stops delivery at once (pending deliveries are dropped when due).
//! - **Subscriptions** ([`create_subscription`]): a member, with its signed request through
//!   `/lgsp/v1/_subscriptions`, names a topic prefix it was granted and an `http(s)` URL; the
//!   hub answers with the secret, once. The secret is not stored: it is derived from the
//!   platform's master key and a random salt kept with the subscription.
//! - **Delivery**: [`Webhooks::subscribe`] registers an outbox consumer that writes one
//!   delivery per matching subscription × event (idempotent: the outbox delivers at least
//!   once). The worker ([`Webhooks::run`]) posts each subscription's oldest pending delivery
//!   (in event order per subscription, several subscriptions at once, each call with a
//!   time-out, so a slow receiver holds up only its own queue) with the headers
//!   [`H_EVENT_ID`], [`H_DELIVERY_ID`], [`H_TOPIC`], [`H_TIMESTAMP`] and [`H_SIGNATURE`]
//!   `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` (see [`sign`], [`verify`]).
//!   A time-out, connection error or non-2xx answer is retried with exponential back-off and
//!   jitter ([`WebhookConfig`]); after [`WebhookConfig::max_attempts`] the delivery is **dead**.
//!   `410 Gone` disables the subscription at once (the delivery is dead; an administrator
//!   can resume it).
//! - **Dead-letter list** ([`dead_letters`], [`replay`], [`replay_subscription`]): an
//!   administrator sees the last error and attempts, and replays one or all — audited.

use crate::registry;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tinhso_kernel::{AppError, FieldErrors, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::outbox::{DispatcherBuilder, Event};
use tinhso_store::{now_micros, Db, DbError};

/// The event's id (the outbox id: stable across retries and replays — deduplicate on it).
pub const H_EVENT_ID: &str = "x-lgsp-webhook-id";
/// This delivery's id (one per subscription × event).
pub const H_DELIVERY_ID: &str = "x-lgsp-webhook-delivery";
/// The event's topic.
pub const H_TOPIC: &str = "x-lgsp-webhook-topic";
/// Unix seconds when this attempt was signed.
pub const H_TIMESTAMP: &str = "x-lgsp-webhook-timestamp";
/// `sha256=<lower-case hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub const H_SIGNATURE: &str = "x-lgsp-webhook-signature";

/// Topic families a member may be granted (the first segment of a topic). Account events
/// (`user.`) carry personal data and are not offered.
pub const TOPIC_ROOTS: &[&str] = &[
    "border",
    "catalogue",
    "dossier",
    "exchange",
    "feedback",
    "indicator",
    "payment",
    "report",
    "result",
    "target",
];

/// The outbox consumer that writes deliveries.
pub const CONSUMER: &str = "webhooks";

/// On the first start with this consumer, begin after the newest event already in the outbox:
/// no subscription can predate the consumer, so past events have nobody to go to, and a large
/// outbox is not walked event by event. `true` when it was new.
pub async fn start_at_newest_event_if_new(db: &Db) -> Result<bool, DbError> {
    tinhso_store::outbox::start_at_newest_event_if_new(db, CONSUMER).await
}

/// Most subscriptions a member may hold (active or suspended).
pub const MAX_SUBSCRIPTIONS_PER_MEMBER: i64 = 50;

/// A topic prefix: `a–z 0–9 _ .`, 1–100 characters, first segment one of [`TOPIC_ROOTS`].
pub fn topic_prefix(s: &str) -> Result<String, Invalid> {
    let s = s.trim();
    let shape = (1..=100).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'.')
        && !s.starts_with('.')
        && !s.contains("..");
    if !shape {
        return Err(Invalid::new(
            "topic_prefix",
            "Chủ đề gồm 1–100 ký tự a–z, 0–9, _ và dấu chấm, ví dụ dossier. hoặc border.trip.",
            "A topic prefix has 1–100 characters a–z, 0–9, _ and dots, e.g. dossier. or border.trip.",
        ));
    }
    let root = s.split('.').next().unwrap_or_default();
    if !TOPIC_ROOTS.contains(&root) {
        return Err(Invalid::new(
            "topic_unknown",
            format!(
                "Không có nhóm chủ đề \"{root}\"; các nhóm: {}",
                TOPIC_ROOTS.join(", ")
            ),
            format!(
                "No topic family \"{root}\"; the families: {}",
                TOPIC_ROOTS.join(", ")
            ),
        ));
    }
    Ok(s.to_string())
}

/// A receiver URL: `http://` or `https://` with a host, no user name or password, at most
/// 2,000 characters.
pub fn webhook_url(s: &str) -> Result<String, Invalid> {
    let s = s.trim();
    let bad = || {
        Invalid::new(
            "webhook_url",
            "Địa chỉ nhận phải là URL http:// hoặc https:// có tên máy, không kèm tên đăng nhập hay mật khẩu",
            "The receiver address must be an http:// or https:// URL with a host, without user name or password",
        )
    };
    if s.len() > 2000 {
        return Err(bad());
    }
    match reqwest::Url::parse(s) {
        Ok(u)
            if (u.scheme() == "http" || u.scheme() == "https")
                && u.host_str().is_some_and(|h| !h.is_empty())
                && u.username().is_empty()
                && u.password().is_none() =>
        {
            Ok(u.to_string())
        }
        _ => Err(bad()),
    }
}

type HmacSha256 = Hmac<sha2::Sha256>;

fn mac_of(secret: &str, timestamp: &str, body: &[u8]) -> Option<HmacSha256> {
    let mut m = HmacSha256::new_from_slice(secret.as_bytes()).ok()?;
    m.update(timestamp.as_bytes());
    m.update(b".");
    m.update(body);
    Some(m)
}

/// The value of [`H_SIGNATURE`]: `sha256=` and the lower-case hex HMAC-SHA256, keyed with the
/// subscription's secret (its UTF-8 bytes, `whsec_` included), of the decimal timestamp, a
/// dot, and the body's exact bytes.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let hex = mac_of(secret, &timestamp.to_string(), body)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default();
    format!("sha256={hex}")
}

/// For receivers: check a delivery. `timestamp` and `signature` are the values of
/// [`H_TIMESTAMP`] and [`H_SIGNATURE`], `body` the raw body as received (before any JSON
/// parsing), `now` the receiver's clock in Unix seconds; attempts signed more than
/// `tolerance_s` seconds away from it are refused (a replayed capture). Comparison in
/// constant time.
pub fn verify(
    secret: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: i64,
    tolerance_s: i64,
) -> bool {
    let Ok(ts) = timestamp.trim().parse::<i64>() else {
        return false;
    };
    if (now - ts).abs() > tolerance_s {
        return false;
    }
    let Some(hex_sig) = signature.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(raw) = hex::decode(hex_sig) else {
        return false;
    };
    mac_of(secret, timestamp.trim(), body).is_some_and(|m| m.verify_slice(&raw).is_ok())
}

/// The secret of a subscription: derived from the master key (not in the database) and the
/// subscription's salt.
fn secret_for(salt: &str) -> String {
    use base64::Engine;
    let raw = tinhso_identity::keys::mac("tinhso.exchange.webhook-secret", salt.as_bytes());
    format!(
        "whsec_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    )
}

fn new_salt() -> String {
    crate::signing::new_nonce()
}

// ---------------------------------------------------------------------------------------
// Topic rights

/// A member's right to receive a topic prefix.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TopicRight {
    pub member: String,
    pub topic_prefix: String,
    pub granted_at: i64,
    pub granted_by: String,
}

/// Every topic right, by member.
pub async fn list_topic_rights(db: &Db) -> Result<Vec<TopicRight>, DbError> {
    sqlx::query(
        "SELECT member_code, topic_prefix, granted_at, granted_by FROM exchange_topic_rights \
         ORDER BY member_code, topic_prefix",
    )
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        Ok(TopicRight {
            member: r.try_get(0)?,
            topic_prefix: r.try_get(1)?,
            granted_at: r.try_get(2)?,
            granted_by: r.try_get(3)?,
        })
    })
    .collect()
}

async fn granted_prefixes(db: &Db, member: &str) -> Result<Vec<String>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT topic_prefix FROM exchange_topic_rights WHERE member_code = $1")
            .bind(member)
            .fetch_all(db.pool())
            .await?,
    )
}

/// Is `topic` (an event topic or a subscription's prefix) covered by one of `grants`?
fn covered(grants: &[String], topic: &str) -> bool {
    grants.iter().any(|g| topic.starts_with(g.as_str()))
}

/// Does `member` hold a topic right covering `topic` (an event's topic or a prefix)? Read
/// from the database every time, so a revocation applies to the very next request.
pub async fn topic_granted(db: &Db, member: &str, topic: &str) -> Result<bool, DbError> {
    Ok(covered(&granted_prefixes(db, member).await?, topic))
}

/// Grant `member` the right to receive topics starting with `prefix` (idempotent).
pub async fn grant_topic(db: &Db, ctx: &Ctx, member: &str, prefix: &str) -> Result<(), AppError> {
    let mut errs = FieldErrors::new();
    let member_ok = errs.check("member", registry::member_code(member));
    let prefix = errs.check("topic_prefix", topic_prefix(prefix));
    errs.into_result()?;
    let (Some(member), Some(prefix)) = (member_ok, prefix) else {
        return Err(AppError::internal("validation"));
    };
    registry::require_member(db, &member).await?;
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(
        "INSERT INTO exchange_topic_rights (member_code, topic_prefix, granted_at, granted_by) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (member_code, topic_prefix) DO NOTHING",
    )
    .bind(&member)
    .bind(&prefix)
    .bind(now_micros())
    .bind(&ctx.actor)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?
    .rows_affected();
    topic_right_changed(tx, ctx, n, "grant", "granted", &member, &prefix).await
}

/// Finish a grant or revocation of a topic right in `tx`: when it changed something (`n`
/// rows), its audit entry (`exchange.topic_{what}`) and event (`exchange.topic_{done}`), then
/// the commit; otherwise nothing (idempotent).
async fn topic_right_changed(
    mut tx: tinhso_store::WriteTx,
    ctx: &Ctx,
    n: u64,
    what: &str,
    done: &str,
    member: &str,
    prefix: &str,
) -> Result<(), AppError> {
    if n == 0 {
        return Ok(());
    }
    let summary = serde_json::json!({ "member": member, "topic_prefix": prefix });
    tx.audit(&ctx.entry(
        &format!("exchange.topic_{what}"),
        "exchange_member",
        member,
        member,
        summary.clone(),
    ))
    .await?;
    tx.emit(&format!("exchange.topic_{done}"), &summary).await?;
    tx.commit().await?;
    Ok(())
}

/// Revoke a topic right (idempotent). Deliveries still pending for topics no longer covered
/// are dropped by the worker instead of being sent.
pub async fn revoke_topic(db: &Db, ctx: &Ctx, member: &str, prefix: &str) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(
        "DELETE FROM exchange_topic_rights WHERE member_code = $1 AND topic_prefix = $2",
    )
    .bind(member.trim())
    .bind(prefix.trim())
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?
    .rows_affected();
    topic_right_changed(
        tx,
        ctx,
        n,
        "revoke",
        "revoked",
        member.trim(),
        prefix.trim(),
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Subscriptions

/// A webhook subscription (without its secret).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Subscription {
    pub id: String,
    pub member: String,
    pub topic_prefix: String,
    pub url: String,
    /// `active`, `suspended` (by an administrator) or `disabled` (the receiver answered
    /// 410 Gone).
    pub status: String,
    pub status_reason: Option<String>,
    pub created_at: i64,
    /// Deliveries waiting to be sent (or retried).
    pub pending: i64,
    /// Deliveries on the dead-letter list.
    pub dead: i64,
}

/// What a member sends to subscribe.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewSubscription {
    /// A prefix of the topics wanted, covered by one of the member's topic rights.
    #[serde(default)]
    pub topic_prefix: String,
    /// Where to post: `https://…` (or `http://` inside the province's network).
    #[serde(default)]
    pub url: String,
}

/// A new subscription with its secret — shown this once, never again.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedSubscription {
    #[serde(flatten)]
    pub subscription: Subscription,
    /// The HMAC key of [`H_SIGNATURE`]; keep it: the hub does not show it again.
    pub secret: String,
}

const SUBSCRIPTION_SELECT: &str = "SELECT s.id, s.member_code, s.topic_prefix, s.url, s.status, s.status_reason, s.created_at, \
     (SELECT COUNT(*) FROM exchange_webhook_deliveries d WHERE d.subscription_id = s.id AND d.status = 'pending'), \
     (SELECT COUNT(*) FROM exchange_webhook_deliveries d WHERE d.subscription_id = s.id AND d.status = 'dead') \
     FROM exchange_webhook_subscriptions s WHERE s.status <> 'deleted'";

fn subscription_from_row(r: &sqlx::any::AnyRow) -> Result<Subscription, DbError> {
    Ok(Subscription {
        id: r.try_get(0)?,
        member: r.try_get(1)?,
        topic_prefix: r.try_get(2)?,
        url: r.try_get(3)?,
        status: r.try_get(4)?,
        status_reason: r.try_get(5)?,
        created_at: r.try_get(6)?,
        pending: r.try_get(7)?,
        dead: r.try_get(8)?,
    })
}

/// Subscriptions (not deleted) of one member, or of every member; oldest first.
pub async fn list_subscriptions(
    db: &Db,
    member: Option<&str>,
) -> Result<Vec<Subscription>, DbError> {
    let rows = match member {
        Some(m) => {
            sqlx::query(&format!(
                "{SUBSCRIPTION_SELECT} AND s.member_code = $1 ORDER BY s.created_at, s.id"
            ))
            .bind(m)
            .fetch_all(db.pool())
            .await?
        }
        None => {
            sqlx::query(&format!(
                "{SUBSCRIPTION_SELECT} ORDER BY s.member_code, s.created_at, s.id"
            ))
            .fetch_all(db.pool())
            .await?
        }
    };
    rows.iter().map(subscription_from_row).collect()
}

/// One subscription (not deleted).
pub async fn get_subscription(db: &Db, id: &str) -> Result<Option<Subscription>, DbError> {
    sqlx::query(&format!("{SUBSCRIPTION_SELECT} AND s.id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(subscription_from_row)
        .transpose()
}

/// The error of a subscription to a topic the member was not granted (403).
pub fn topic_forbidden(prefix: &str) -> AppError {
    AppError::forbidden().with_detail(
        format!("Thành viên chưa được cấp quyền nhận sự kiện chủ đề {prefix}"),
        format!("The member has no right to receive topic {prefix}"),
    )
}

/// Subscribe `member` (already authenticated by its signature) to a topic prefix: fields
/// checked (422 with every field error), the prefix must be covered by a topic right (403),
/// at most [`MAX_SUBSCRIPTIONS_PER_MEMBER`] (409). Audited; returns the secret once.
pub async fn create_subscription(
    db: &Db,
    ctx: &Ctx,
    member: &str,
    new: &NewSubscription,
) -> Result<CreatedSubscription, AppError> {
    let mut errs = FieldErrors::new();
    let prefix = errs.check("topic_prefix", topic_prefix(&new.topic_prefix));
    let url = errs.check("url", webhook_url(&new.url));
    errs.into_result()?;
    let (Some(prefix), Some(url)) = (prefix, url) else {
        return Err(AppError::internal("validation"));
    };
    let grants = granted_prefixes(db, member).await?;
    if !covered(&grants, &prefix) {
        return Err(topic_forbidden(&prefix));
    }
    let held: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM exchange_webhook_subscriptions WHERE member_code = $1 AND status <> 'deleted'",
    )
    .bind(member)
    .fetch_one(db.pool())
    .await
    .map_err(DbError::from)?;
    if held >= MAX_SUBSCRIPTIONS_PER_MEMBER {
        return Err(AppError::conflict(
            format!("Thành viên đã có {held} đăng ký (tối đa {MAX_SUBSCRIPTIONS_PER_MEMBER})"),
            format!("The member already holds {held} subscriptions (at most {MAX_SUBSCRIPTIONS_PER_MEMBER})"),
        ));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let salt = new_salt();
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO exchange_webhook_subscriptions (id, member_code, topic_prefix, url, secret_salt, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'active', $6, $6)",
    )
    .bind(&id)
    .bind(member)
    .bind(&prefix)
    .bind(&url)
    .bind(&salt)
    .bind(now)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.audit(&ctx.entry(
        "exchange.subscription_create",
        "exchange_subscription",
        &id,
        member,
        serde_json::json!({ "member": member, "topic_prefix": prefix, "url": url }),
    ))
    .await?;
    tx.commit().await?;
    Ok(CreatedSubscription {
        subscription: Subscription {
            id,
            member: member.to_string(),
            topic_prefix: prefix,
            url,
            status: "active".into(),
            status_reason: None,
            created_at: now,
            pending: 0,
            dead: 0,
        },
        secret: secret_for(&salt),
    })
}

/// Delete a member's own subscription: nothing more is written for it, deliveries still
/// pending are dropped (the dead-letter list keeps its entries). 404 when it is not the
/// member's.
pub async fn delete_subscription(
    db: &Db,
    ctx: &Ctx,
    member: &str,
    id: &str,
) -> Result<(), AppError> {
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(
        "UPDATE exchange_webhook_subscriptions SET status = 'deleted', updated_at = $1 \
         WHERE id = $2 AND member_code = $3 AND status <> 'deleted'",
    )
    .bind(now)
    .bind(id)
    .bind(member)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?
    .rows_affected();
    if n == 0 {
        return Err(AppError::not_found().with_detail(
            format!("Thành viên không có đăng ký {id}"),
            format!("The member has no subscription {id}"),
        ));
    }
    sqlx::query(
        "UPDATE exchange_webhook_deliveries SET status = 'dropped', last_error = 'subscription deleted', updated_at = $1 \
         WHERE subscription_id = $2 AND status = 'pending'",
    )
    .bind(now)
    .bind(id)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.audit(&ctx.entry(
        "exchange.subscription_delete",
        "exchange_subscription",
        id,
        member,
        serde_json::json!({ "member": member }),
    ))
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Suspend (`active = false`: nothing new is written for it, pending deliveries wait) or
/// resume a subscription — also one the receiver disabled with 410 Gone. Administrators.
pub async fn set_subscription_active(
    db: &Db,
    ctx: &Ctx,
    id: &str,
    active: bool,
) -> Result<(), AppError> {
    let Some(sub) = get_subscription(db, id).await? else {
        return Err(AppError::not_found());
    };
    let status = if active { "active" } else { "suspended" };
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE exchange_webhook_subscriptions SET status = $1, status_reason = NULL, updated_at = $2 WHERE id = $3",
    )
    .bind(status)
    .bind(now_micros())
    .bind(id)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.audit(&ctx.entry(
        "exchange.subscription_status",
        "exchange_subscription",
        id,
        &sub.member,
        serde_json::json!({ "status": status, "previous": sub.status }),
    ))
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Deliveries and the dead-letter list

/// One delivery (subscription × event).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Delivery {
    pub id: String,
    pub subscription_id: String,
    pub member: String,
    pub event_id: String,
    pub topic: String,
    /// `pending`, `delivered`, `dead` or `dropped`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    /// HTTP status of the last answer, if there was one.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const DELIVERY_COLUMNS: &str =
    "id, subscription_id, member_code, event_id, topic, status, attempts, next_attempt_at, \
     last_status, last_error, created_at, updated_at";

fn delivery_from_row(r: &sqlx::any::AnyRow) -> Result<Delivery, DbError> {
    Ok(Delivery {
        id: r.try_get(0)?,
        subscription_id: r.try_get(1)?,
        member: r.try_get(2)?,
        event_id: r.try_get(3)?,
        topic: r.try_get(4)?,
        status: r.try_get(5)?,
        attempts: r.try_get(6)?,
        next_attempt_at: r.try_get(7)?,
        last_status: r.try_get(8)?,
        last_error: r.try_get(9)?,
        created_at: r.try_get(10)?,
        updated_at: r.try_get(11)?,
    })
}

/// The dead-letter list, newest first (of one subscription, or all).
pub async fn dead_letters(
    db: &Db,
    subscription: Option<&str>,
    limit: i64,
) -> Result<Vec<Delivery>, DbError> {
    let limit = limit.clamp(1, 1000);
    let rows = match subscription {
        Some(s) => {
            sqlx::query(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM exchange_webhook_deliveries WHERE status = 'dead' \
                 AND subscription_id = $1 ORDER BY updated_at DESC, id DESC LIMIT $2"
            ))
            .bind(s)
            .bind(limit)
            .fetch_all(db.pool())
            .await?
        }
        None => {
            sqlx::query(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM exchange_webhook_deliveries WHERE status = 'dead' \
                 ORDER BY updated_at DESC, id DESC LIMIT $1"
            ))
            .bind(limit)
            .fetch_all(db.pool())
            .await?
        }
    };
    rows.iter().map(delivery_from_row).collect()
}

/// Deliveries of an event (every subscription), for tests and support.
pub async fn deliveries_of_event(db: &Db, event_id: &str) -> Result<Vec<Delivery>, DbError> {
    sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM exchange_webhook_deliveries WHERE event_id = $1 ORDER BY id"
    ))
    .bind(event_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(delivery_from_row)
    .collect()
}

/// One delivery.
pub async fn get_delivery(db: &Db, id: &str) -> Result<Option<Delivery>, DbError> {
    sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM exchange_webhook_deliveries WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db.pool())
    .await?
    .as_ref()
    .map(delivery_from_row)
    .transpose()
}

/// Put one dead delivery back in the queue (attempts start again). Audited. 404 when it is
/// not on the dead-letter list.
pub async fn replay(db: &Db, ctx: &Ctx, delivery_id: &str) -> Result<(), AppError> {
    let Some(d) = get_delivery(db, delivery_id).await? else {
        return Err(AppError::not_found());
    };
    if get_subscription(db, &d.subscription_id).await?.is_none() {
        return Err(AppError::not_found().with_detail(
            "Đăng ký của lần gửi này đã bị xóa",
            "The subscription of this delivery was deleted",
        ));
    }
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(
        "UPDATE exchange_webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, updated_at = $1 \
         WHERE id = $2 AND status = 'dead'",
    )
    .bind(now)
    .bind(delivery_id)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?
    .rows_affected();
    if n == 0 {
        return Err(AppError::not_found().with_detail(
            "Lần gửi này không nằm trong danh sách thư chết",
            "This delivery is not on the dead-letter list",
        ));
    }
    tx.audit(&ctx.entry(
        "exchange.webhook_replay",
        "exchange_subscription",
        &d.subscription_id,
        &d.member,
        serde_json::json!({ "deliveries": [delivery_id], "event_id": d.event_id, "last_error": d.last_error }),
    ))
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The retention of delivered webhooks, by the time of delivery; only `delivered` ones.
pub const DELIVERED: crate::retention::Purge = crate::retention::Purge {
    delete:
        "DELETE FROM exchange_webhook_deliveries WHERE status = 'delivered' AND updated_at < $1",
    action: "exchange.webhooks_purge",
    target_type: "exchange_subscription",
    target_id: "deliveries",
    job: "exchange-webhooks-retention",
    what: "delivered webhooks",
};

/// Retention of delivered webhooks (thời hạn lưu lần gửi thành công): delete the deliveries
/// delivered more than `days` before `now` (Unix microseconds; by the time of delivery).
/// Pending, dead-lettered and dropped deliveries are never deleted here. A purge that deletes
/// something is audited (`exchange.webhooks_purge`, with the count and the cut-off) in the
/// same transaction. Returns how many were deleted.
pub async fn purge_delivered_older_than(
    db: &Db,
    ctx: &Ctx,
    days: u32,
    now: i64,
) -> Result<u64, DbError> {
    crate::retention::purge(db, ctx, &DELIVERED, days, now).await
}

/// The retention job of delivered webhooks: [`purge_delivered_older_than`] at start and then
/// daily, until `stop` resolves.
pub async fn purge_delivered_every_day(
    db: Db,
    days: u32,
    stop: impl std::future::Future<Output = ()>,
) {
    crate::retention::daily(db, &DELIVERED, days, stop).await;
}

/// Put every dead delivery of a subscription back in the queue. Audited (with their ids).
/// Returns how many.
pub async fn replay_subscription(
    db: &Db,
    ctx: &Ctx,
    subscription_id: &str,
) -> Result<usize, AppError> {
    let Some(sub) = get_subscription(db, subscription_id).await? else {
        return Err(AppError::not_found());
    };
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM exchange_webhook_deliveries WHERE subscription_id = $1 AND status = 'dead' ORDER BY event_seq",
    )
    .bind(subscription_id)
    .fetch_all(tx.conn())
    .await
    .map_err(DbError::from)?;
    if ids.is_empty() {
        return Ok(0);
    }
    sqlx::query(
        "UPDATE exchange_webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, updated_at = $1 \
         WHERE subscription_id = $2 AND status = 'dead'",
    )
    .bind(now)
    .bind(subscription_id)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.audit(&ctx.entry(
        "exchange.webhook_replay",
        "exchange_subscription",
        subscription_id,
        &sub.member,
        serde_json::json!({ "deliveries": ids }),
    ))
    .await?;
    tx.commit().await?;
    Ok(ids.len())
}

/// The JSON body posted for an event (the same bytes on every attempt).
pub fn body_for(ev: &Event) -> String {
    let occurred_at = chrono::DateTime::from_timestamp_micros(ev.created_at)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default();
    serde_json::json!({
        "id": ev.id,
        "topic": ev.topic,
        "sequence": ev.seq,
        "occurred_at": occurred_at,
        "payload": ev.payload,
    })
    .to_string()
}

/// Write one delivery per active subscription whose prefix matches the event's topic and
/// whose member is active and holds a covering topic right. Idempotent (the outbox may hand
/// over the same event again). Returns how many were written now.
pub async fn enqueue(db: &Db, ev: &Event) -> Result<usize, DbError> {
    enqueue_at(db, ev, now_micros()).await
}

/// [`enqueue`] with the deliveries due at `now` (Unix microseconds).
pub async fn enqueue_at(db: &Db, ev: &Event, now: i64) -> Result<usize, DbError> {
    let rows = sqlx::query(
        "SELECT s.id, s.member_code, s.topic_prefix FROM exchange_webhook_subscriptions s \
         JOIN exchange_members m ON m.code = s.member_code \
         WHERE s.status = 'active' AND m.status = 'active'",
    )
    .fetch_all(db.pool())
    .await?;
    let mut targets = Vec::new();
    let mut grants: Option<HashMap<String, Vec<String>>> = None;
    for r in &rows {
        let id: String = r.try_get(0)?;
        let member: String = r.try_get(1)?;
        let prefix: String = r.try_get(2)?;
        if !ev.topic.starts_with(prefix.as_str()) {
            continue;
        }
        // Every topic right in one read (a small table), only when a subscription matches.
        if grants.is_none() {
            let mut all: HashMap<String, Vec<String>> = HashMap::new();
            for g in sqlx::query("SELECT member_code, topic_prefix FROM exchange_topic_rights")
                .fetch_all(db.pool())
                .await?
            {
                all.entry(g.try_get(0)?).or_default().push(g.try_get(1)?);
            }
            grants = Some(all);
        }
        if grants
            .as_ref()
            .and_then(|g| g.get(&member))
            .is_some_and(|g| covered(g, &ev.topic))
        {
            targets.push((id, member));
        }
    }
    if targets.is_empty() {
        return Ok(0);
    }
    let body = body_for(ev);
    let mut tx = db.begin_write().await?;
    let mut written = 0;
    for (sub, member) in targets {
        written += sqlx::query(
            "INSERT INTO exchange_webhook_deliveries (id, subscription_id, member_code, event_id, event_seq, topic, body, \
             status, attempts, next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8, $8) \
             ON CONFLICT (subscription_id, event_id) DO NOTHING",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&sub)
        .bind(&member)
        .bind(&ev.id)
        .bind(ev.seq)
        .bind(&ev.topic)
        .bind(&body)
        .bind(now)
        .execute(tx.conn())
        .await?
        .rows_affected() as usize;
    }
    tx.commit().await?;
    Ok(written)
}

// ---------------------------------------------------------------------------------------
// The worker

/// Retries, time-outs and concurrency of deliveries.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Time-out of one call to a receiver (connection included).
    pub timeout: Duration,
    /// Attempts before a delivery goes to the dead-letter list.
    pub max_attempts: u32,
    /// Wait after the first failure; each further failure multiplies it by `factor`.
    pub base_delay: Duration,
    pub factor: u32,
    /// Longest wait between two attempts.
    pub max_delay: Duration,
    /// Random spread of each wait: ± this fraction (0.2 = ±20 %).
    pub jitter: f64,
    /// Most calls in flight at once (one per subscription at a time).
    pub concurrency: usize,
    /// How often the worker looks for due deliveries when nothing wakes it.
    pub poll: Duration,
}

impl Default for WebhookConfig {
    /// 8 attempts: waits of 1, 3, 9, 27, 81 minutes, 4 h 3 min and 12 h (capped) — the last
    /// attempt about 18 h after the first, ±20 % each.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_attempts: 8,
            base_delay: Duration::from_secs(60),
            factor: 3,
            max_delay: Duration::from_secs(12 * 3600),
            jitter: 0.2,
            concurrency: 32,
            poll: Duration::from_secs(1),
        }
    }
}

impl WebhookConfig {
    /// The wait after the `failures`-th failed attempt, before jitter.
    pub fn delay_after(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let mult = u64::from(self.factor.max(1))
            .checked_pow(exp)
            .unwrap_or(u64::MAX);
        let ms = u64::try_from(self.base_delay.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_mul(mult);
        Duration::from_millis(ms).min(self.max_delay)
    }

    /// The wait with jitter; `unit` is a random number in [0, 1).
    pub fn jittered(&self, failures: u32, unit: f64) -> Duration {
        let d = self.delay_after(failures).as_secs_f64();
        let spread = self.jitter.clamp(0.0, 1.0);
        Duration::from_secs_f64((d * (1.0 + spread * (2.0 * unit - 1.0))).max(0.0))
    }
}

/// The clock of the worker in Unix microseconds (a test moves it by hand).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What one round of the worker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub delivered: usize,
    pub failed: usize,
    pub dead: usize,
    pub dropped: usize,
}

struct Due {
    id: String,
    subscription_id: String,
    member: String,
    event_id: String,
    topic: String,
    body: String,
    attempts: i64,
    next_attempt_at: i64,
    url: String,
    salt: String,
}

enum Outcome {
    Delivered,
    Failed,
    Dead,
    Dropped,
}

/// The webhook deliverer: outbox consumer and worker.
#[derive(Clone)]
pub struct Webhooks {
    db: Db,
    http: reqwest::Client,
    cfg: Arc<WebhookConfig>,
    clock: Clock,
    in_flight: Arc<Mutex<HashSet<String>>>,
    wake: Arc<tokio::sync::Notify>,
}

impl Webhooks {
    pub fn new(db: Db, cfg: WebhookConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("tinhso-lgsp-webhooks/1")
            .build()
            .unwrap_or_default();
        Self {
            db,
            http,
            cfg: Arc::new(cfg),
            clock: Arc::new(now_micros),
            in_flight: Arc::default(),
            wake: Arc::default(),
        }
    }

    /// Use another clock (tests: back-off without waiting).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.cfg
    }

    /// Register the outbox consumer `webhooks` (every topic) that writes the deliveries and
    /// wakes the worker. Works the same with or without NATS.
    pub fn subscribe(&self, builder: DispatcherBuilder) -> DispatcherBuilder {
        let me = self.clone();
        builder.subscribe(CONSUMER, "", move |ev| {
            let me = me.clone();
            async move {
                match enqueue_at(&me.db, &ev, (me.clock)()).await {
                    Ok(n) => {
                        if n > 0 {
                            me.wake.notify_one();
                        }
                        Ok(())
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
        })
    }

    /// Each subscription's oldest pending delivery, if it is due and its subscription is not
    /// being called already. One indexed look-up per active subscription (status,
    /// subscription, event order), however long the queues are.
    async fn due(&self, limit: usize) -> Result<Vec<Due>, DbError> {
        let now = (self.clock)();
        let subscriptions = sqlx::query(
            "SELECT s.id, s.url, s.secret_salt FROM exchange_webhook_subscriptions s \
             JOIN exchange_members m ON m.code = s.member_code \
             WHERE s.status = 'active' AND m.status = 'active' ORDER BY s.id",
        )
        .fetch_all(self.db.pool())
        .await?;
        let busy = self.in_flight.lock().map(|s| s.clone()).unwrap_or_default();
        let mut out = Vec::new();
        for s in &subscriptions {
            if out.len() >= limit {
                break;
            }
            let sub: String = s.try_get(0)?;
            if busy.contains(&sub) {
                continue;
            }
            let Some(r) = sqlx::query(
                "SELECT id, member_code, event_id, topic, body, attempts, next_attempt_at \
                 FROM exchange_webhook_deliveries WHERE status = 'pending' AND subscription_id = $1 \
                 ORDER BY event_seq LIMIT 1",
            )
            .bind(&sub)
            .fetch_optional(self.db.pool())
            .await?
            else {
                continue;
            };
            let next_attempt_at: i64 = r.try_get(6)?;
            if next_attempt_at > now {
                continue; // backing off: the later ones wait too (order)
            }
            out.push(Due {
                id: r.try_get(0)?,
                subscription_id: sub,
                member: r.try_get(1)?,
                event_id: r.try_get(2)?,
                topic: r.try_get(3)?,
                body: r.try_get(4)?,
                attempts: r.try_get(5)?,
                next_attempt_at,
                url: s.try_get(1)?,
                salt: s.try_get(2)?,
            });
        }
        Ok(out)
    }

    /// Take the delivery for this worker: its next attempt moved past the call's time-out,
    /// so another node (or a restart after a crash) does not call at the same time.
    async fn claim(&self, d: &Due) -> Result<bool, DbError> {
        let lease = (self.clock)()
            + i64::try_from(self.cfg.timeout.as_micros()).unwrap_or(i64::MAX / 4)
            + 5_000_000;
        let n = sqlx::query(
            "UPDATE exchange_webhook_deliveries SET next_attempt_at = $1 \
             WHERE id = $2 AND status = 'pending' AND next_attempt_at = $3",
        )
        .bind(lease)
        .bind(&d.id)
        .bind(d.next_attempt_at)
        .execute(self.db.pool())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn record(
        &self,
        d: &Due,
        status: &str,
        attempts: i64,
        next: i64,
        http_status: Option<i64>,
        error: Option<String>,
    ) -> Result<(), DbError> {
        self.record_query(d, status, attempts, next, http_status, error)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// The statement of [`Self::record`], to run where the caller chooses (in a transaction
    /// with other writes).
    fn record_query<'q>(
        &self,
        d: &'q Due,
        status: &'q str,
        attempts: i64,
        next: i64,
        http_status: Option<i64>,
        error: Option<String>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        sqlx::query(
            "UPDATE exchange_webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, \
             last_status = $4, last_error = $5, updated_at = $6 WHERE id = $7 AND status = 'pending'",
        )
        .bind(status)
        .bind(attempts)
        .bind(next)
        .bind(http_status)
        .bind(error)
        .bind((self.clock)())
        .bind(&d.id)
    }

    /// One attempt at one delivery.
    async fn attempt(&self, d: Due) -> Result<Outcome, DbError> {
        // Revoked since it was written: dropped, not sent.
        let grants = granted_prefixes(&self.db, &d.member).await?;
        if !covered(&grants, &d.topic) {
            self.record(
                &d,
                "dropped",
                d.attempts,
                d.next_attempt_at,
                None,
                Some("topic right revoked".into()),
            )
            .await?;
            return Ok(Outcome::Dropped);
        }
        let now_s = (self.clock)().div_euclid(1_000_000);
        let secret = secret_for(&d.salt);
        let signature = sign(&secret, now_s, d.body.as_bytes());
        let sent = self
            .http
            .post(&d.url)
            .header("content-type", "application/json")
            .header(H_EVENT_ID, &d.event_id)
            .header(H_DELIVERY_ID, &d.id)
            .header(H_TOPIC, &d.topic)
            .header(H_TIMESTAMP, now_s.to_string())
            .header(H_SIGNATURE, signature)
            .body(d.body.clone())
            .send()
            .await;
        let attempts = d.attempts + 1;
        let (http_status, error) = match sent {
            Ok(resp) if resp.status().is_success() => {
                self.record(
                    &d,
                    "delivered",
                    attempts,
                    (self.clock)(),
                    Some(i64::from(resp.status().as_u16())),
                    None,
                )
                .await?;
                metrics().count(&d.member, "ok");
                return Ok(Outcome::Delivered);
            }
            Ok(resp) if resp.status() == reqwest::StatusCode::GONE => {
                // The receiver says the subscription is gone: disable it and put this delivery
                // on the dead-letter list in one transaction, so that a crash (or a stop) between
                // the two never leaves a disabled subscription with its delivery still pending.
                let now = (self.clock)();
                let mut tx = self.db.begin_write().await?;
                sqlx::query(
                    "UPDATE exchange_webhook_subscriptions SET status = 'disabled', status_reason = $1, updated_at = $2 \
                     WHERE id = $3 AND status = 'active'",
                )
                .bind("410 Gone")
                .bind(now)
                .bind(&d.subscription_id)
                .execute(tx.conn())
                .await?;
                tx.audit(&Ctx::system("webhooks").entry(
                    "exchange.subscription_status",
                    "exchange_subscription",
                    &d.subscription_id,
                    &d.member,
                    serde_json::json!({ "status": "disabled", "reason": "the receiver answered 410 Gone" }),
                ))
                .await?;
                self.record_query(
                    &d,
                    "dead",
                    attempts,
                    now,
                    Some(410),
                    Some("HTTP 410 Gone: subscription disabled".into()),
                )
                .execute(tx.conn())
                .await?;
                tx.commit().await?;
                metrics().count(&d.member, "dead");
                tracing::warn!(subscription = %d.subscription_id, "webhook receiver answered 410 Gone: subscription disabled");
                return Ok(Outcome::Dead);
            }
            Ok(resp) => (
                Some(i64::from(resp.status().as_u16())),
                format!("HTTP {}", resp.status()),
            ),
            Err(e) if e.is_timeout() => (None, format!("time-out after {:?}", self.cfg.timeout)),
            Err(e) => (None, format!("connection error: {e}")),
        };
        let now = (self.clock)();
        if attempts >= i64::from(self.cfg.max_attempts) {
            self.record(&d, "dead", attempts, now, http_status, Some(error.clone()))
                .await?;
            metrics().count(&d.member, "dead");
            tracing::warn!(delivery = %d.id, subscription = %d.subscription_id, attempts, error = %error, "webhook delivery dead");
            Ok(Outcome::Dead)
        } else {
            use rand::Rng;
            let unit: f64 = rand::thread_rng().gen();
            let failures = u32::try_from(attempts).unwrap_or(u32::MAX);
            let wait = self.cfg.jittered(failures, unit);
            let next = now + i64::try_from(wait.as_micros()).unwrap_or(i64::MAX / 4);
            self.record(
                &d,
                "pending",
                attempts,
                next,
                http_status,
                Some(error.clone()),
            )
            .await?;
            metrics().count(&d.member, "failed");
            tracing::debug!(delivery = %d.id, attempts, error = %error, "webhook delivery failed; retried later");
            Ok(Outcome::Failed)
        }
    }

    /// Claim and send one delivery, marking its subscription busy meanwhile.
    async fn send_one(&self, d: Due) -> Result<Option<Outcome>, DbError> {
        if !self.claim(&d).await? {
            return Ok(None);
        }
        let sub = d.subscription_id.clone();
        if let Ok(mut s) = self.in_flight.lock() {
            s.insert(sub.clone());
        }
        let r = self.attempt(d).await;
        if let Ok(mut s) = self.in_flight.lock() {
            s.remove(&sub);
        }
        r.map(Some)
    }

    /// Send every due delivery once (one per subscription, all subscriptions at once) and
    /// wait for the answers.
    pub async fn run_once(&self) -> Result<Round, DbError> {
        let due = self.due(self.cfg.concurrency.max(1)).await?;
        let results =
            futures_util::future::join_all(due.into_iter().map(|d| self.send_one(d))).await;
        let mut round = Round::default();
        for r in results {
            match r? {
                Some(Outcome::Delivered) => round.delivered += 1,
                Some(Outcome::Failed) => round.failed += 1,
                Some(Outcome::Dead) => round.dead += 1,
                Some(Outcome::Dropped) => round.dropped += 1,
                None => {}
            }
        }
        Ok(round)
    }

    /// Run until `shutdown` resolves: each due delivery is sent in its own task (at most
    /// [`WebhookConfig::concurrency`] at once, one per subscription), so a slow receiver
    /// holds up only its own subscription's queue.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send) {
        let permits = Arc::new(tokio::sync::Semaphore::new(self.cfg.concurrency.max(1)));
        tokio::pin!(shutdown);
        loop {
            let free = permits.available_permits();
            if free > 0 {
                match self.due(free).await {
                    Ok(due) => {
                        for d in due {
                            let Ok(permit) = permits.clone().try_acquire_owned() else {
                                break;
                            };
                            // Busy before the task starts, so the next round skips it.
                            if let Ok(mut s) = self.in_flight.lock() {
                                s.insert(d.subscription_id.clone());
                            }
                            let me = self.clone();
                            tokio::spawn(async move {
                                let sub = d.subscription_id.clone();
                                let r = match me.claim(&d).await {
                                    Ok(true) => me.attempt(d).await.map(|_| ()),
                                    Ok(false) => Ok(()),
                                    Err(e) => Err(e),
                                };
                                if let Err(e) = r {
                                    tracing::error!(error = %e, "webhook delivery: database error");
                                }
                                if let Ok(mut s) = me.in_flight.lock() {
                                    s.remove(&sub);
                                }
                                drop(permit);
                                me.wake.notify_one();
                            });
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "webhook worker: database error"),
                }
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.wake.notified() => {},
                _ = tokio::time::sleep(self.cfg.poll) => {},
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Metrics

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// The subscribing member's code, from the registry.
    pub member: String,
    /// `ok`, `failed` (will be retried) or `dead`.
    pub outcome: String,
}

/// `tinhso_exchange_webhook_deliveries_total{member, outcome}`.
pub struct WebhookMetrics {
    registry: Mutex<prometheus_client::registry::Registry>,
    pub deliveries: Family<DeliveryLabels, Counter>,
}

impl WebhookMetrics {
    fn new() -> Self {
        let mut registry = prometheus_client::registry::Registry::with_prefix("tinhso_exchange");
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts by subscribing member and outcome (ok, failed and retried, dead)",
            deliveries.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            deliveries,
        }
    }

    fn count(&self, member: &str, outcome: &str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                member: member.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The series in the text exposition format, without `# EOF`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(reg) = self.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &reg);
        }
        match out.trim_end().strip_suffix("# EOF") {
            Some(body) => body.to_string(),
            None => out,
        }
    }
}

/// The process's webhook counters (member codes come from subscriptions, which only
/// registered members can make).
pub fn metrics() -> &'static WebhookMetrics {
    static M: OnceLock<WebhookMetrics> = OnceLock::new();
    M.get_or_init(WebhookMetrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        let body = br#"{"id":"1"}"#;
        let s = sign("whsec_abc", 1_700_000_000, body);
        assert!(s.starts_with("sha256=") && s.len() == 7 + 64);
        assert!(verify(
            "whsec_abc",
            "1700000000",
            body,
            &s,
            1_700_000_010,
            300
        ));
        assert!(!verify(
            "whsec_abd",
            "1700000000",
            body,
            &s,
            1_700_000_010,
            300
        ));
        assert!(!verify(
            "whsec_abc",
            "1700000001",
            body,
            &s,
            1_700_000_010,
            300
        ));
        assert!(!verify(
            "whsec_abc",
            "1700000000",
            b"{}",
            &s,
            1_700_000_010,
            300
        ));
        assert!(!verify(
            "whsec_abc",
            "1700000000",
            body,
            &s,
            1_700_001_000,
            300
        ));
        assert!(!verify(
            "whsec_abc",
            "1700000000",
            body,
            &s[7..],
            1_700_000_010,
            300
        ));
        // The known answer: HMAC-SHA256("key", "1.x") computed independently (Python hmac).
        assert_eq!(
            sign("key", 1, b"x"),
            "sha256=fc4913c41a7bf793267e2a384f3261c9436ec2cd097bd745e7b0d99113f510ec"
        );
    }

    /// The same code as the verifier printed in docs/exchange/webhooks.md: it must agree with
    /// the hub's signature.
    pub fn verify_lgsp_webhook(
        secret: &str,
        timestamp: &str,
        body: &[u8],
        signature: &str,
        now: i64,
    ) -> bool {
        let Ok(ts) = timestamp.trim().parse::<i64>() else {
            return false;
        };
        if (now - ts).abs() > 300 {
            return false; // outside ±5 minutes: a replay
        }
        let Some(Ok(sig)) = signature.trim().strip_prefix("sha256=").map(hex::decode) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(timestamp.trim().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(&sig).is_ok() // constant time
    }

    #[test]
    fn the_documented_verifier_agrees() {
        let body = br#"{"id":"e1","topic":"dossier.status_changed","payload":{}}"#;
        let sig = sign("whsec_0123", 1_795_951_531, body);
        assert!(verify_lgsp_webhook(
            "whsec_0123",
            "1795951531",
            body,
            &sig,
            1_795_951_600
        ));
        assert!(!verify_lgsp_webhook(
            "whsec_0124",
            "1795951531",
            body,
            &sig,
            1_795_951_600
        ));
        assert!(!verify_lgsp_webhook(
            "whsec_0123",
            "1795951531",
            body,
            &sig,
            1_795_952_000
        ));
    }

    #[test]
    fn back_off() {
        let c = WebhookConfig::default();
        let mins: Vec<u64> = (1..8).map(|k| c.delay_after(k).as_secs() / 60).collect();
        assert_eq!(mins, vec![1, 3, 9, 27, 81, 243, 720]);
        let total: u64 = (1..8).map(|k| c.delay_after(k).as_secs()).sum();
        assert!((17 * 3600..19 * 3600).contains(&total), "{total}");
        assert_eq!(c.jittered(1, 0.0).as_secs(), 48);
        assert_eq!(c.jittered(1, 0.5).as_secs(), 60);
        assert_eq!(c.jittered(1, 0.9999).as_secs(), 71);
    }

    #[test]
    fn inputs() {
        assert!(topic_prefix("dossier.").is_ok());
        assert!(topic_prefix("border.trip.").is_ok());
        assert_eq!(topic_prefix("nothing.").unwrap_err().code, "topic_unknown");
        assert_eq!(topic_prefix("user.").unwrap_err().code, "topic_unknown");
        assert_eq!(topic_prefix("Dossier").unwrap_err().code, "topic_prefix");
        assert_eq!(topic_prefix("").unwrap_err().code, "topic_prefix");
        assert!(webhook_url("https://example.vn/hook").is_ok());
        assert!(webhook_url("http://10.0.0.5:8080/h?x=1").is_ok());
        assert!(webhook_url("ftp://example.vn/").is_err());
        assert!(webhook_url("https://u:p@example.vn/").is_err());
        assert!(webhook_url("not a url").is_err());
        assert!(webhook_url("file:///etc/passwd").is_err());
        let g = vec!["dossier.".to_string()];
        assert!(covered(&g, "dossier.status_changed"));
        assert!(!covered(&g, "border.trip"));
    }
}
