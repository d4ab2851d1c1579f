//! The data exchange hub of Tỉnh số (nền tảng tích hợp, chia sẻ dữ liệu — LGSP).
//!
//! - [`events`]: the kernel's outbox published to NATS JetStream (subjects `tinhso.<topic>`),
//!   durable pull consumers for members.
//! - [`registry`]: members (agency codes, ed25519 keys: rotate, revoke), services (endpoint,
//!   OpenAPI document, data classification), access rights client × service (deny by default).
//! - [`signing`]: what a client signs and what the hub signs on its answers.
//! - [`hub`]: the exchange endpoint `/lgsp/v1/{provider}/{service}/{path..}` — authentication,
//!   replay guard, rights, forwarding with time-out and circuit breaker, signed answers.
//! - [`direct`]: direct member-to-member calls (gọi trực tiếp): the hub's signed registry
//!   snapshot, a member's node that keeps it and serves its services as a gateway, the client.
//! - [`log`]: the hash-chained message log and its verification (`tinhso exchange verify`).
//! - [`tsa`]: RFC 3161 time-stamps on the log's anchors (a TSA client and token verification).
//! - [`bodies`]: request and response bodies kept encrypted at rest when the service's
//!   classification allows, read back by administrators (audited), checked by verification.
//! - [`retention`]: the daily purges of kept bodies and of delivered webhooks.
//! - [`metrics`]: requests and latency per service, member and outcome for `/metrics`.
//! - [`webhooks`]: topic rights, members' webhook subscriptions (made through the hub with a
//!   signed request), HMAC-signed deliveries with retries, the dead-letter list and replay.
//! - [`web`]: routes, access rules and the administration API.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod bench;
pub mod bodies;
pub mod certificate;
pub mod direct;
pub mod events;
pub mod hub;
pub mod log;
pub mod metrics;
pub mod registry;
pub mod retention;
pub mod signing;
pub mod stages;
/// RFC 3161 time-stamps: the shared client in `tinhso-tsa` (also used by PAdES-B-T).
pub use tinhso_tsa as tsa;
pub mod web;
pub mod webhooks;

pub use async_nats;
pub use events::{EventBridge, NatsConfig, NatsError};
pub use hub::{Hub, HubConfig};
pub use webhooks::{WebhookConfig, Webhooks};

use tinhso_store::migrate::Migration;

/// The exchange hub's tables (version range 5000–5999).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 5001,
        name: "exchange hub: members, keys, services, rights, nonces, message log",
        sql: include_str!("../migrations/5001_exchange.sql"),
    },
    Migration {
        version: 5002,
        name: "exchange hub: topic rights, webhook subscriptions, deliveries, dead letters",
        sql: include_str!("../migrations/5002_webhooks.sql"),
    },
    Migration {
        version: 5010,
        name: "exchange hub: per-operation rights",
        sql: include_str!("../migrations/5010_right_operations.sql"),
    },
    Migration {
        version: 5011,
        name: "exchange hub: per-member rate limits",
        sql: include_str!("../migrations/5011_member_rate_limits.sql"),
    },
    Migration {
        version: 5012,
        name: "exchange hub: bodies kept encrypted at rest",
        sql: include_str!("../migrations/5012_exchange_bodies.sql"),
    },
    Migration {
        version: 5013,
        name: "exchange hub: kept bodies by age, for their retention",
        sql: include_str!("../migrations/5013_exchange_bodies_created.sql"),
    },
    Migration {
        version: 5014,
        name: "exchange hub: webhook deliveries by status and age, for their retention",
        sql: include_str!("../migrations/5014_webhook_deliveries_done.sql"),
    },
    Migration {
        version: 5020,
        name: "exchange hub: registry snapshots for direct member-to-member calls",
        sql: include_str!("../migrations/5020_direct_calls.sql"),
    },
    Migration {
        version: 5030,
        name: "exchange hub: RFC 3161 time-stamps on the log's anchors",
        sql: include_str!("../migrations/5030_anchor_timestamps.sql"),
    },
    Migration {
        version: 5034,
        name: "exchange hub: members' event pulls without NATS (acknowledged sequence)",
        sql: include_str!("../migrations/5034_event_cursors.sql"),
    },
    Migration {
        version: 5035,
        name: "exchange hub: versions of the kept bodies' key (rotation)",
        sql: include_str!("../migrations/5035_body_keys.sql"),
    },
    Migration {
        version: 5036,
        name: "exchange hub: members' gateway addresses for direct calls",
        sql: include_str!("../migrations/5036_member_gateways.sql"),
    },
    Migration {
        version: 5037,
        name: "exchange hub: exchanges in flight, so a crash between forwarding and logging is logged as interrupted",
        sql: include_str!("../migrations/5037_exchange_inflight.sql"),
    },
    Migration {
        version: 5038,
        name: "exchange hub: members' X.509 certificates (PEM, fingerprint, validity) beside their keys",
        sql: include_str!("../migrations/5038_member_certificates.sql"),
    },
];
