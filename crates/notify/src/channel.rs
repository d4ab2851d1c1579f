//! Message channels other than e-mail: SMS (tin nhắn thương hiệu, brandname SMS) and Zalo ZNS
//! (Zalo Notification Service, tin nhắn thông báo qua Zalo).
//!
//! This module is the **interface** an adapter for a real provider implements, and the
//! message types in the shape those providers publish. No real provider is implemented: each
//! needs a contract, credentials and templates registered with the provider first. The only
//! implementation here is [`RecordingChannel`], which sends nothing — it logs each message
//! and keeps it in memory, for tests and the demo.
//!
//! ## The providers' contract shape
//!
//! **Brandname SMS** (carriers and their resellers): a request carries the registered
//! brand name (sender id, e.g. `LANGSON`), the recipient in international form without `+`
//! (`84912345678`), the text — which must match a template registered with the carrier for
//! customer-care messages — and a client request id the gateway uses to refuse duplicates.
//! Text without diacritics costs one segment per 160 GSM-7 characters; text with Vietnamese
//! diacritics is sent as UCS-2, 70 characters a segment. The answer is an error code plus the
//! gateway's message id.
//!
//! **Zalo ZNS**: `POST` a JSON body with the recipient's phone (`84…`), the `template_id` of a
//! template approved for the Official Account, `template_data` (the template's named
//! parameters, all strings), and a `tracking_id` chosen by the sender for reconciliation
//! (and deduplication); `mode: "development"` sends a sample to the OA's administrators only.
//! The answer carries an error code (0 = accepted), the `msg_id` and the send time. The access
//! token belongs to the Official Account and expires: an adapter refreshes it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// A brandname SMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsMessage {
    /// Registered sender id (tên thương hiệu).
    pub brandname: String,
    /// Recipient in international form without `+`, e.g. `84912345678`.
    pub phone: String,
    /// The text; for customer-care messages it must match a registered template.
    pub text: String,
    /// The sender's id for this message; the same id must not be sent twice.
    pub request_id: String,
}

/// A Zalo ZNS template message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZnsMessage {
    /// Recipient in international form without `+`, e.g. `84912345678`.
    pub phone: String,
    /// Id of a template approved for the Official Account.
    pub template_id: String,
    /// The template's named parameters.
    pub template_data: BTreeMap<String, String>,
    /// The sender's id for reconciliation and deduplication.
    pub tracking_id: String,
    /// Send a sample to the Official Account's administrators only.
    #[serde(default)]
    pub development: bool,
}

/// One outgoing message on a non-e-mail channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum OutboundMessage {
    Sms(SmsMessage),
    #[serde(rename = "zalo")]
    Zns(ZnsMessage),
}

impl OutboundMessage {
    /// The channel's name as stored in the notifications ledger (`sms`, `zalo`).
    pub fn channel(&self) -> &'static str {
        match self {
            OutboundMessage::Sms(_) => "sms",
            OutboundMessage::Zns(_) => "zalo",
        }
    }

    /// The recipient as stored in the ledger.
    pub fn recipient(&self) -> &str {
        match self {
            OutboundMessage::Sms(m) => &m.phone,
            OutboundMessage::Zns(m) => &m.phone,
        }
    }
}

/// What the provider answered when it accepted a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accepted {
    /// The provider's message id (`msg_id` for ZNS).
    pub provider_id: String,
}

/// Why a channel did not accept a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// Worth retrying: the provider is unreachable, rate-limited or answered a temporary error.
    #[error("lỗi tạm thời (temporary failure): {0}")]
    Transient(String),
    /// Retrying will not help: unknown number, template not approved, not a Zalo user…
    #[error("lỗi vĩnh viễn (permanent failure): {0}")]
    Permanent(String),
    /// This channel does not carry this kind of message.
    #[error("kênh không hỗ trợ loại tin này (unsupported message)")]
    Unsupported,
}

/// The future a channel returns.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<Accepted, ChannelError>> + Send + 'a>>;

/// A provider adapter (SMS gateway, Zalo OA). Implementations must be safe to call again
/// with the same `request_id` / `tracking_id` (the outbox delivers at least once).
pub trait Channel: Send + Sync {
    /// The channel's name, e.g. `sms` or `zalo`.
    fn name(&self) -> &str;
    /// Hand one message to the provider.
    fn send<'a>(&'a self, message: &'a OutboundMessage) -> SendFuture<'a>;
}

/// A channel that sends **nothing**: it logs each message and keeps it in memory. For tests
/// and the demo, where no SMS gateway or Zalo Official Account is contracted.
#[derive(Debug, Clone, Default)]
pub struct RecordingChannel {
    name: String,
    sent: Arc<Mutex<Vec<OutboundMessage>>>,
}

impl RecordingChannel {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            sent: Arc::default(),
        }
    }

    /// Every message recorded so far, oldest first.
    pub fn recorded(&self) -> Vec<OutboundMessage> {
        self.sent.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Channel for RecordingChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'a>(&'a self, message: &'a OutboundMessage) -> SendFuture<'a> {
        Box::pin(async move {
            tracing::info!(
                channel = %self.name,
                kind = message.channel(),
                recipient = message.recipient(),
                "message recorded, not sent (recording channel)"
            );
            let mut sent = self
                .sent
                .lock()
                .map_err(|_| ChannelError::Transient("recording channel poisoned".into()))?;
            sent.push(message.clone());
            Ok(Accepted {
                provider_id: format!("recorded-{}", sent.len()),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_recording_channel_keeps_what_it_is_given() {
        let ch = RecordingChannel::new("zalo");
        let dyn_ch: &dyn Channel = &ch;
        let msg = OutboundMessage::Zns(ZnsMessage {
            phone: "84912345678".into(),
            template_id: "248155".into(),
            template_data: BTreeMap::from([(
                "ma_ho_so".into(),
                "000.00.23.H37-261129-0001".into(),
            )]),
            tracking_id: "evt-1".into(),
            development: true,
        });
        let a = dyn_ch.send(&msg).await.unwrap();
        assert_eq!(a.provider_id, "recorded-1");
        assert_eq!(ch.recorded(), vec![msg.clone()]);
        assert_eq!(msg.channel(), "zalo");
        assert_eq!(msg.recipient(), "84912345678");
        let json = serde_json::to_value(&msg).unwrap();
        assert_eq!(json["channel"], "zalo");
        assert_eq!(
            json["template_data"]["ma_ho_so"],
            "000.00.23.H37-261129-0001"
        );
    }
}
