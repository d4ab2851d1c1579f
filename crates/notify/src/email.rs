//! E-mail (thư điện tử) over SMTP.
//!
//! The relay is given as a URL:
//!
//! | URL | connection | default port |
//! |---|---|---|
//! | `smtp://user:pass@host:587` | STARTTLS, required (`?tls=starttls`, the default) | 587 |
//! | `smtps://user:pass@host:465` | implicit TLS (SMTPS) | 465 |
//! | `smtp://host:25?tls=none` | no encryption: a relay on the same host or a test sink only | 25 |
//! | `smtp://host?tls=opportunistic` | STARTTLS when offered, else plain (open to downgrade) | 587 |
//!
//! User name and password are percent-decoded (`%40` for `@`). TLS uses rustls with Mozilla's
//! root certificates (`webpki-roots`): a relay whose certificate comes from a private CA is not
//! trusted (put a relay with a public certificate in front, or use `tls=none` to a relay on
//! the same host).
//!
//! Subjects and display names are sent as RFC 2047 encoded words, bodies as UTF-8 with
//! quoted-printable or base64 transfer encoding (whichever `lettre` finds shorter), so
//! Vietnamese survives any relay, 8-bit clean or not.

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::fmt;
use std::time::Duration;

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain text: only to a relay on the same host, or a test sink.
    None,
    /// STARTTLS, required: the mail is not sent when the relay does not offer it.
    StartTls,
    /// STARTTLS when the relay offers it (open to a downgrade by an attacker on the path).
    Opportunistic,
    /// Implicit TLS from the first byte (SMTPS, port 465).
    Tls,
}

/// A bad SMTP setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Where and how to reach the SMTP relay. The password is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    password: Option<String>,
    /// Connect, command and data timeout.
    pub timeout: Duration,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("url", &self.redacted())
            .finish()
    }
}

impl SmtpConfig {
    /// Parse `smtp://[user[:pass]@]host[:port][?tls=starttls|none|opportunistic]` or
    /// `smtps://[user[:pass]@]host[:port]`.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let url = url::Url::parse(raw.trim()).map_err(|e| {
            // Not echoed: an unparsable value may hold a password anywhere.
            ConfigError(format!(
                "not a URL ({e}); expected smtp://user:pass@host:587 or smtps://user:pass@host:465"
            ))
        })?;
        let implicit = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => {
                return Err(ConfigError(format!(
                    "scheme {other:?} is not smtp:// or smtps://"
                )))
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| ConfigError(format!("{:?} names no host", redact(raw))))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let mut security = if implicit {
            Security::Tls
        } else {
            Security::StartTls
        };
        let mut timeout = Duration::from_secs(30);
        for (k, v) in url.query_pairs() {
            match (k.as_ref(), v.as_ref()) {
                ("tls", _) if implicit => {
                    return Err(ConfigError(
                        "smtps:// is always TLS: drop ?tls=, or use smtp:// with ?tls=starttls"
                            .into(),
                    ))
                }
                ("tls", "starttls" | "required") => security = Security::StartTls,
                ("tls", "none") => security = Security::None,
                ("tls", "opportunistic") => security = Security::Opportunistic,
                ("tls", other) => {
                    return Err(ConfigError(format!(
                        "tls={other:?}: use starttls, none or opportunistic"
                    )))
                }
                ("timeout", secs) => {
                    let s: u64 = secs
                        .parse()
                        .ok()
                        .filter(|s| (1..=600).contains(s))
                        .ok_or_else(|| {
                            ConfigError(format!("timeout={secs:?}: seconds from 1 to 600"))
                        })?;
                    timeout = Duration::from_secs(s);
                }
                (other, _) => {
                    return Err(ConfigError(format!(
                        "unknown parameter {other:?}: only tls= and timeout= are understood"
                    )))
                }
            }
        }
        let port = url.port().unwrap_or(match security {
            Security::Tls => 465,
            Security::None => 25,
            Security::StartTls | Security::Opportunistic => 587,
        });
        let decode = |s: &str| -> Result<String, ConfigError> {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|v| v.into_owned())
                .map_err(|_| ConfigError("the user name or password is not UTF-8".into()))
        };
        let username = match url.username() {
            "" => None,
            u => Some(decode(u)?),
        };
        let password = url.password().map(decode).transpose()?;
        if password.is_some() && username.is_none() {
            return Err(ConfigError("a password without a user name".into()));
        }
        Ok(Self {
            host,
            port,
            security,
            username,
            password,
            timeout,
        })
    }

    /// The URL with the password hidden, for logs and messages.
    pub fn redacted(&self) -> String {
        let scheme = if self.security == Security::Tls {
            "smtps"
        } else {
            "smtp"
        };
        let creds = match (&self.username, &self.password) {
            (Some(u), Some(_)) => format!("{u}:***@"),
            (Some(u), None) => format!("{u}@"),
            _ => String::new(),
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let tls = match self.security {
            Security::None => "?tls=none",
            Security::Opportunistic => "?tls=opportunistic",
            Security::StartTls | Security::Tls => "",
        };
        format!("{scheme}://{creds}{host}:{}{tls}", self.port)
    }
}

/// A URL with any password replaced by `***` (for messages about unparsable URLs).
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

/// Check a sender (`addr@domain` or `Tên <addr@domain>`) as [`SmtpMailer::new`] will.
pub fn check_sender(from: &str) -> Result<(), ConfigError> {
    parse_sender(from).map(|_| ())
}

fn parse_sender(from: &str) -> Result<Mailbox, ConfigError> {
    from.trim().parse().map_err(|e| {
        ConfigError(format!(
            "sender {from:?} is not an e-mail address ({e}); e.g. \"Cổng dịch vụ công <noreply@example.gov.vn>\""
        ))
    })
}

/// One e-mail to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// Recipient address.
    pub to: String,
    /// Recipient's name (may be empty).
    pub to_name: String,
    pub subject: String,
    /// Plain-text body (always sent).
    pub text: String,
    /// Optional HTML alternative of the same content.
    pub html: Option<String>,
}

/// A file attached to an e-mail (tệp đính kèm), e.g. a PDF report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    /// e.g. `application/pdf`.
    pub content_type: String,
    pub data: Vec<u8>,
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later: a 4xx reply, a connection or TLS problem, a time-out.
    #[error("lỗi tạm thời (temporary failure): {0}")]
    Transient(String),
    /// Retrying will not help: a 5xx reply (e.g. unknown mailbox) or a malformed address.
    #[error("lỗi vĩnh viễn (permanent failure): {0}")]
    Permanent(String),
}

impl SendError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }
}

/// Sends e-mail through one SMTP relay. Cheap to clone; every send opens its own connection
/// (notifications are few; no idle connections to the relay).
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    relay: String,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("relay", &self.relay)
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl SmtpMailer {
    /// A mailer for `config` sending as `from` (`addr@domain` or `Tên <addr@domain>`).
    pub fn new(config: &SmtpConfig, from: &str) -> Result<Self, ConfigError> {
        let from = parse_sender(from)?;
        let tls_params = || {
            TlsParameters::new(config.host.clone())
                .map_err(|e| ConfigError(format!("TLS for {}: {e}", config.host)))
        };
        let tls = match config.security {
            Security::None => Tls::None,
            Security::StartTls => Tls::Required(tls_params()?),
            Security::Opportunistic => Tls::Opportunistic(tls_params()?),
            Security::Tls => Tls::Wrapper(tls_params()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout));
        if let Some(user) = &config.username {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                config.password.clone().unwrap_or_default(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            relay: config.redacted(),
        })
    }

    /// [`SmtpConfig::parse`] then [`SmtpMailer::new`].
    pub fn from_url(url: &str, from: &str) -> Result<Self, ConfigError> {
        Self::new(&SmtpConfig::parse(url)?, from)
    }

    /// The relay, password hidden.
    pub fn relay(&self) -> &str {
        &self.relay
    }

    /// The message as it will be sent (headers, MIME structure, encodings).
    pub fn message(&self, email: &Email) -> Result<Message, SendError> {
        self.message_with(email, &[])
    }

    /// The message with files attached (multipart/mixed: the body, then each file).
    pub fn message_with(
        &self,
        email: &Email,
        attachments: &[Attachment],
    ) -> Result<Message, SendError> {
        let addr: Address = email.to.trim().parse().map_err(|e| {
            SendError::Permanent(format!("recipient {:?} is not an address: {e}", email.to))
        })?;
        let name = email.to_name.trim();
        let to = Mailbox::new((!name.is_empty()).then(|| name.to_string()), addr);
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            // In the sender's domain, as relays expect of their senders.
            .message_id(Some(format!(
                "<{}@{}>",
                uuid::Uuid::new_v4().simple(),
                self.from.email.domain()
            )));
        let plain = || {
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(email.text.clone())
        };
        let built = if attachments.is_empty() {
            match &email.html {
                None => builder.singlepart(plain()),
                Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                    email.text.clone(),
                    html.clone(),
                )),
            }
        } else {
            let mut mixed = match &email.html {
                None => MultiPart::mixed().singlepart(plain()),
                Some(html) => MultiPart::mixed().multipart(MultiPart::alternative_plain_html(
                    email.text.clone(),
                    html.clone(),
                )),
            };
            for a in attachments {
                let ct = ContentType::parse(&a.content_type).map_err(|e| {
                    SendError::Permanent(format!("attachment type {:?}: {e}", a.content_type))
                })?;
                mixed = mixed.singlepart(
                    lettre::message::Attachment::new(a.filename.clone()).body(a.data.clone(), ct),
                );
            }
            builder.multipart(mixed)
        };
        built.map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))
    }

    /// Send one e-mail.
    pub async fn send(&self, email: &Email) -> Result<(), SendError> {
        self.send_with(email, &[]).await
    }

    /// Send one e-mail with files attached.
    pub async fn send_with(
        &self,
        email: &Email,
        attachments: &[Attachment],
    ) -> Result<(), SendError> {
        let message = self.message_with(email, attachments)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
            Err(e) => Err(SendError::Transient(format!("{} ({})", e, self.relay))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_their_defaults() {
        let c = SmtpConfig::parse("smtp://thu:b%C3%AD%40m%E1%BA%ADt@mail.langson.gov.vn").unwrap();
        assert_eq!(c.host, "mail.langson.gov.vn");
        assert_eq!(c.port, 587);
        assert_eq!(c.security, Security::StartTls);
        assert_eq!(c.username.as_deref(), Some("thu"));
        assert_eq!(c.password.as_deref(), Some("bí@mật"));
        assert_eq!(c.redacted(), "smtp://thu:***@mail.langson.gov.vn:587");
        assert!(!format!("{c:?}").contains("mật"));

        let c = SmtpConfig::parse("smtps://u:p@relay.example:2465").unwrap();
        assert_eq!((c.port, c.security), (2465, Security::Tls));
        let c = SmtpConfig::parse("smtps://relay.example").unwrap();
        assert_eq!(c.port, 465);
        let c = SmtpConfig::parse("smtp://127.0.0.1?tls=none").unwrap();
        assert_eq!((c.port, c.security), (25, Security::None));
        let c = SmtpConfig::parse("smtp://h:2525?tls=starttls&timeout=5").unwrap();
        assert_eq!((c.port, c.security), (2525, Security::StartTls));
        assert_eq!(c.timeout, Duration::from_secs(5));
        let c = SmtpConfig::parse("smtp://[::1]:2525?tls=opportunistic").unwrap();
        assert_eq!(
            (c.host.as_str(), c.security),
            ("::1", Security::Opportunistic)
        );
        assert_eq!(c.redacted(), "smtp://[::1]:2525?tls=opportunistic");
        let c = SmtpConfig::parse("smtp://a+b:x+y@h").unwrap();
        assert_eq!(c.username.as_deref(), Some("a+b"));
        assert_eq!(c.password.as_deref(), Some("x+y"));
    }

    #[test]
    fn bad_urls_are_refused_without_printing_the_password() {
        for bad in [
            "http://h",
            "smtp://",
            "smtp://h?tls=maybe",
            "smtps://h?tls=none",
            "smtp://h?port=1",
            "smtp://h?timeout=0",
            "smtp://:secret@h",
            "not a url with secret",
        ] {
            let e = SmtpConfig::parse(bad).unwrap_err();
            assert!(!e.0.contains("secret"), "{bad}: {e}");
        }
        let e = SmtpConfig::parse("smtp//u:secret@h").unwrap_err();
        assert!(!e.0.contains("secret"), "{e}");
    }

    #[test]
    fn senders_and_recipients_are_checked() {
        let c = SmtpConfig::parse("smtp://127.0.0.1:2525?tls=none").unwrap();
        assert!(SmtpMailer::new(&c, "not an address").is_err());
        let m = SmtpMailer::new(&c, "Cổng dịch vụ công Lạng Sơn <noreply@langson.gov.vn>").unwrap();
        let bad = Email {
            to: "mai at example".into(),
            to_name: String::new(),
            subject: "x".into(),
            text: "x".into(),
            html: None,
        };
        assert!(matches!(m.message(&bad), Err(SendError::Permanent(_))));
        let ok = Email {
            to: "mai@example.vn".into(),
            to_name: "Hoàng Thị Mai".into(),
            subject: "Hồ sơ đã được tiếp nhận".into(),
            text: "Kính gửi bà Hoàng Thị Mai".into(),
            html: None,
        };
        let raw = String::from_utf8(m.message(&ok).unwrap().formatted()).unwrap();
        assert!(raw.contains("Subject: =?utf-8?"), "{raw}");
        assert!(raw.is_ascii(), "headers and body are 7-bit encoded: {raw}");
    }
}
