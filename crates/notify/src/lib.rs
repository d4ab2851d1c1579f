//! Notifications (thông báo) of Tỉnh số.
//!
//! - [`email`]: e-mail (thư điện tử) over SMTP with `lettre`: the relay's URL
//!   (`smtp://…`, `smtps://…`, `?tls=starttls|none|opportunistic`), UTF-8 subjects and bodies
//!   (plain text, optionally an HTML alternative) that show Vietnamese correctly.
//! - [`channel`]: the adapter interface for SMS (tin nhắn SMS thương hiệu, brandname SMS) and
//!   Zalo ZNS (Zalo Notification Service) messages, documented against the shape of the
//!   providers' published contracts. There is no real provider implementation here: only
//!   [`channel::RecordingChannel`], which logs and keeps what it was given.
//! - [`ledger`]: the `notifications` table (sổ thông báo): one row per (event, channel,
//!   recipient) with its status, attempts and last error, so a redelivered outbox event never
//!   sends twice; [`ledger::send_email_once`] is the idempotent send used by outbox consumers.
//! - [`smtp_sink`]: a real SMTP server on a local port that stores what it receives, for the
//!   tests and the demo (hộp thư giả lập). Never a production relay.
//!
//! What to send and to whom is decided by the module that owns the events (for dossiers:
//! `tinhso_services::notify`).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod channel;
pub mod email;
pub mod ledger;
pub mod smtp_sink;

pub use email::{check_sender, Attachment, Email, SendError, SmtpConfig, SmtpMailer};

use tinhso_store::migrate::Migration;

/// The notifications tables (version range 6000–6999).
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 6001,
    name: "notifications ledger",
    sql: include_str!("../migrations/6001_notifications.sql"),
}];
