//! The data exchange hub of Tỉnh số (nền tảng tích hợp, chia sẻ dữ liệu — LGSP).
//!
//! - [`events`]: the kernel's outbox published to NATS JetStream (subjects `tinhso.<topic>`),
//!   durable pull consumers for members.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod events;

pub use async_nats;
pub use events::{EventBridge, NatsConfig, NatsError};

use tinhso_store::migrate::Migration;

/// The exchange hub's tables (version range 5000–5999).
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 5001,
    name: "exchange hub: members, keys, services, rights, nonces, message log",
    sql: include_str!("../migrations/5001_exchange.sql"),
}];
