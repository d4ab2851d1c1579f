//! Settings (cấu hình): flags > environment (`TINHSO_*`) > `tinhso.toml` > defaults. A bad
//! setting stops start-up with a message naming the setting and what is wrong.

use anyhow::{bail, Context};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Values from the command line or the environment (clap reads both).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SettingArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "TINHSO_LISTEN")]
    pub listen: Option<String>,
    /// Data directory: SQLite database, files, master key [default: ./data].
    #[arg(long, env = "TINHSO_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL; `postgres://…` switches to PostgreSQL [default: SQLite in the data dir].
    #[arg(long, env = "TINHSO_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Log format: `text` or `json` [default: text].
    #[arg(long, env = "TINHSO_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Mark cookies Secure: `auto` (unless listening on loopback), `true` or `false` [default: auto].
    #[arg(long, env = "TINHSO_COOKIE_SECURE")]
    pub cookie_secure: Option<String>,
    /// SMTP relay for e-mail notifications: smtp://user:pass@host:587 (STARTTLS),
    /// smtps://user:pass@host:465 (TLS), smtp://host:25?tls=none [default: no e-mail].
    #[arg(long, env = "TINHSO_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender of e-mail notifications, e.g. "Cổng dịch vụ công <noreply@example.gov.vn>".
    #[arg(long, env = "TINHSO_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// The portal's public address, for links in e-mails and the QR codes of signed results,
    /// e.g. https://dichvucong.langson.gov.vn [default: http://<listen>].
    #[arg(long, env = "TINHSO_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// NATS server for publishing events to JetStream, e.g. nats://127.0.0.1:4222
    /// [default: none — events stay in-process].
    #[arg(long, env = "TINHSO_NATS_URL", hide_env_values = true)]
    pub nats_url: Option<String>,
    /// Publish only these topic prefixes to NATS, comma-separated, e.g. "dossier.,feedback."
    /// [default: every event].
    #[arg(long, env = "TINHSO_NATS_TOPICS")]
    pub nats_topics: Option<String>,
    /// When the leaders' weekly digest of the targets is e-mailed, Vietnam time: a weekday
    /// and an hour, e.g. "mon 07:00" (the default), or "off".
    #[arg(long, env = "TINHSO_DIGEST_SCHEDULE")]
    pub digest_schedule: Option<String>,
    /// Where to serve the targets export as a provider service behind the exchange hub
    /// (register `http://<this address>` as the service's endpoint), e.g. "127.0.0.1:8091";
    /// an address only the hub reaches [default: not served].
    #[arg(long, env = "TINHSO_TARGETS_PROVIDER_LISTEN")]
    pub targets_provider_listen: Option<String>,
    /// Settings file [default: ./tinhso.toml when it exists].
    #[arg(long, env = "TINHSO_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The `tinhso.toml` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    log_format: Option<String>,
    cookie_secure: Option<String>,
    demo: Option<bool>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    public_url: Option<String>,
    nats_url: Option<String>,
    nats_topics: Option<String>,
    digest_schedule: Option<String>,
    targets_provider_listen: Option<String>,
    /// `[exchange]` and `[exchange.webhooks]`: the hub's limits and the webhooks' retries.
    exchange: Option<crate::exchange_config::ExchangeFile>,
    /// `[pades]`: the TSA of PAdES-B-T result signatures.
    pades: Option<crate::pades_config::PadesFile>,
    /// `[services]`: the limits on wrong look-up codes.
    services: Option<crate::services_config::ServicesFile>,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub json_logs: bool,
    /// `Some(true|false)` when set explicitly; `None` means: secure unless on loopback.
    pub cookie_secure: Option<bool>,
    /// `demo = true` in the file (the flag is read separately).
    pub file_demo: bool,
    /// The SMTP relay; `None`: no e-mail (with `--demo`, a local sink instead).
    pub smtp: Option<tinhso_notify::SmtpConfig>,
    /// The sender of e-mails (required with `smtp`).
    pub mail_from: Option<String>,
    /// The portal's address for links in e-mails, without a trailing slash.
    pub public_url: String,
    /// Whether `public_url` was set (not derived from `listen`).
    pub public_url_set: bool,
    /// Outbox events to NATS JetStream; `None`: events stay in-process.
    pub nats: Option<tinhso_exchange::NatsConfig>,
    /// The weekly digest's schedule; `None`: off.
    pub digest: Option<tinhso_targets::digest::Schedule>,
    /// Where the targets export is served for the exchange hub; `None`: not served.
    pub targets_provider_listen: Option<SocketAddr>,
    /// The exchange hub's limits, webhook retries, retention of kept bodies.
    pub exchange: crate::exchange_config::ExchangeSettings,
    /// The TSA of PAdES-B-T result signatures and the TSA certificates trusted.
    pub pades: crate::pades_config::PadesSettings,
    /// The limits on wrong look-up codes of dossiers and PAKN.
    pub services: crate::services_config::ServicesSettings,
}

impl Settings {
    pub fn resolve(args: &SettingArgs) -> anyhow::Result<Self> {
        Self::resolve_with_env(args, &|k| std::env::var(k).ok())
    }

    /// [`Settings::resolve`] with the environment read through `env` (tests give their own);
    /// only the `[exchange]`, `[pades]` and `[services]` settings read it here, the others
    /// come through clap.
    pub fn resolve_with_env(
        args: &SettingArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let (file, file_path) = match &args.config {
            Some(p) => (read_file(p)?, Some(p.clone())),
            None if Path::new("tinhso.toml").exists() => (
                read_file(Path::new("tinhso.toml"))?,
                Some(PathBuf::from("tinhso.toml")),
            ),
            None => (FileSettings::default(), None),
        };
        let from = |flag: bool| {
            if flag {
                "--listen / TINHSO_LISTEN"
            } else {
                "listen in tinhso.toml"
            }
        };
        let listen_raw = args
            .listen
            .clone()
            .map(|v| (v, from(true)))
            .or(file.listen.clone().map(|v| (v, from(false))))
            .unwrap_or_else(|| ("127.0.0.1:8080".into(), "default"));
        let listen: SocketAddr = listen_raw.0.parse().map_err(|_| {
            anyhow::anyhow!(
                "setting `listen` ({}): {:?} is not an address with a port, e.g. 127.0.0.1:8080 or 0.0.0.0:8080",
                listen_raw.1,
                listen_raw.0
            )
        })?;
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("./data"));
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("setting `data_dir`: cannot create {}", data_dir.display()))?;
        if std::fs::metadata(&data_dir)
            .map(|m| m.permissions().readonly())
            .unwrap_or(true)
        {
            bail!("setting `data_dir`: {} is not writable", data_dir.display());
        }
        let database_url = match args.database_url.clone().or(file.database_url.clone()) {
            Some(u) => {
                if !(u.starts_with("postgres://")
                    || u.starts_with("postgresql://")
                    || u.starts_with("sqlite:"))
                {
                    bail!(
                        "setting `database_url`: {:?} must start with postgres:// (PostgreSQL) or sqlite:// (SQLite)",
                        redact(&u)
                    );
                }
                u
            }
            None => format!("sqlite://{}", data_dir.join("tinhso.db").display()),
        };
        let log_format = args
            .log_format
            .clone()
            .or(file.log_format.clone())
            .unwrap_or_else(|| "text".into());
        let json_logs = match log_format.as_str() {
            "text" => false,
            "json" => true,
            other => bail!("setting `log_format`: {other:?} must be `text` or `json`"),
        };
        let cookie_secure = match args
            .cookie_secure
            .clone()
            .or(file.cookie_secure.clone())
            .as_deref()
        {
            None | Some("auto") => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                bail!("setting `cookie_secure`: {other:?} must be `auto`, `true` or `false`")
            }
        };
        let smtp = match args.smtp_url.clone().or(file.smtp_url.clone()) {
            None => None,
            Some(u) if u.trim().is_empty() => None,
            Some(u) => Some(
                tinhso_notify::SmtpConfig::parse(&u)
                    .map_err(|e| anyhow::anyhow!("setting `smtp_url`: {e}"))?,
            ),
        };
        let mail_from = args
            .mail_from
            .clone()
            .or(file.mail_from.clone())
            .filter(|f| !f.trim().is_empty());
        if let Some(f) = &mail_from {
            tinhso_notify::check_sender(f)
                .map_err(|e| anyhow::anyhow!("setting `mail_from`: {e}"))?;
        } else if smtp.is_some() {
            bail!("setting `mail_from`: required with `smtp_url`, e.g. \"Cổng dịch vụ công <noreply@example.gov.vn>\"");
        }
        let public_url_raw = args.public_url.clone().or(file.public_url.clone());
        let public_url_set = public_url_raw.is_some();
        let public_url = match public_url_raw {
            Some(u) => {
                let u = u.trim().trim_end_matches('/').to_string();
                let rest = u
                    .strip_prefix("https://")
                    .or_else(|| u.strip_prefix("http://"))
                    .unwrap_or_default();
                if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
                    bail!(
                        "setting `public_url`: {u:?} must be http(s)://host[:port] with no path, e.g. https://dichvucong.langson.gov.vn"
                    );
                }
                u
            }
            // A wildcard listen address is not an address to give anyone: use localhost.
            None if listen.ip().is_unspecified() => format!("http://localhost:{}", listen.port()),
            None => format!("http://{listen}"),
        };
        let nats = match args.nats_url.clone().or(file.nats_url.clone()) {
            None => None,
            Some(u) if u.trim().is_empty() => None,
            Some(u) => {
                let u = u.trim().to_string();
                let host_port = u
                    .strip_prefix("nats://")
                    .or_else(|| u.strip_prefix("tls://"))
                    .map(|rest| rest.rsplit('@').next().unwrap_or_default())
                    .unwrap_or_default();
                if host_port.is_empty() || host_port.contains(['/', ' ', '?']) {
                    bail!(
                        "setting `nats_url`: {:?} must be nats://host:port (or tls://host:port), e.g. nats://127.0.0.1:4222",
                        redact(&u)
                    );
                }
                let topics = args
                    .nats_topics
                    .clone()
                    .or(file.nats_topics.clone())
                    .unwrap_or_default();
                Some(tinhso_exchange::NatsConfig::new(u).with_topics(&topics))
            }
        };
        if let Some(p) = file_path {
            tracing::debug!(file = %p.display(), "settings file read");
        }
        let digest = match args
            .digest_schedule
            .clone()
            .or(file.digest_schedule.clone())
        {
            None => Some(tinhso_targets::digest::Schedule::default()),
            Some(raw) => tinhso_targets::digest::Schedule::parse(&raw)
                .map_err(|e| anyhow::anyhow!("setting `digest_schedule`: {e}"))?,
        };
        let targets_provider_listen = match args
            .targets_provider_listen
            .clone()
            .or(file.targets_provider_listen.clone())
        {
            None => None,
            Some(raw) => Some(raw.trim().parse::<SocketAddr>().map_err(|e| {
                anyhow::anyhow!(
                    "setting `targets_provider_listen`: {raw:?} is not an address and port, e.g. \"127.0.0.1:8091\" ({e})"
                )
            })?),
        };
        let mut exchange =
            crate::exchange_config::ExchangeSettings::resolve(file.exchange.as_ref(), env)?;
        let pades = crate::pades_config::PadesSettings::resolve(file.pades.as_ref(), env)?;
        let services =
            crate::services_config::ServicesSettings::resolve(file.services.as_ref(), env)?;
        // Members' pulls through the hub read the same JetStream the outbox is published to.
        exchange.hub.nats = nats.clone();
        Ok(Self {
            exchange,
            pades,
            services,
            listen,
            data_dir,
            database_url,
            json_logs,
            cookie_secure,
            file_demo: file.demo.unwrap_or(false),
            smtp,
            mail_from,
            public_url,
            public_url_set,
            nats,
            digest,
            targets_provider_listen,
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("settings file {}: cannot read it", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("settings file {}: {e}", path.display()))
}

/// An environment of `pairs` (name, value) for the settings' tests, in place of the process's.
#[cfg(test)]
pub(crate) fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| m.get(k).cloned()
}

/// A database URL with any password hidden, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn args(dir: &Path) -> SettingArgs {
        SettingArgs {
            data_dir: Some(dir.join("data")),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_and_sqlite_in_the_data_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Settings::resolve(&args(tmp.path())).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert!(s.database_url.starts_with("sqlite://"));
        assert!(s.database_url.ends_with("data/tinhso.db"));
        assert!(!s.json_logs);
    }

    #[test]
    fn file_is_used_and_flags_win_over_it() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("tinhso.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\nlog_format = \"json\"\ndemo = true\n",
        )
        .unwrap();
        let mut a = args(tmp.path());
        a.config = Some(file.clone());
        let s = Settings::resolve(&a).unwrap();
        assert_eq!(s.listen.to_string(), "0.0.0.0:9000");
        assert!(s.json_logs);
        assert!(s.file_demo);
        a.listen = Some("127.0.0.1:7000".into());
        a.log_format = Some("text".into());
        let s = Settings::resolve(&a).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:7000");
        assert!(!s.json_logs);
    }

    #[test]
    fn mail_settings() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Settings::resolve(&args(tmp.path())).unwrap();
        assert!(s.smtp.is_none() && s.mail_from.is_none());
        assert_eq!(s.public_url, "http://127.0.0.1:8080");
        assert!(!s.public_url_set);
        let file = tmp.path().join("tinhso.toml");
        std::fs::write(
            &file,
            "smtp_url = \"smtps://thu:secret@mail.example.gov.vn\"\nmail_from = \"Cổng dịch vụ công <noreply@example.gov.vn>\"\npublic_url = \"https://dichvucong.example.gov.vn/\"\n",
        )
        .unwrap();
        let mut a = args(tmp.path());
        a.config = Some(file);
        let s = Settings::resolve(&a).unwrap();
        let smtp = s.smtp.unwrap();
        assert_eq!(smtp.redacted(), "smtps://thu:***@mail.example.gov.vn:465");
        assert_eq!(s.public_url, "https://dichvucong.example.gov.vn");
        assert!(s.public_url_set);
        // Flags win over the file.
        a.smtp_url = Some("smtp://relay.local:25?tls=none".into());
        let s = Settings::resolve(&a).unwrap();
        assert_eq!(s.smtp.unwrap().port, 25);

        let mut a = args(tmp.path());
        a.smtp_url = Some("smtp://u:secret@relay.local".into());
        let e = Settings::resolve(&a).unwrap_err().to_string();
        assert!(e.contains("`mail_from`"), "{e}");
        a.mail_from = Some("not an address".into());
        let e = Settings::resolve(&a).unwrap_err().to_string();
        assert!(e.contains("`mail_from`"), "{e}");
        a.mail_from = Some("noreply@example.gov.vn".into());
        a.smtp_url = Some("imap://u:secret@relay.local".into());
        let e = Settings::resolve(&a).unwrap_err().to_string();
        assert!(e.contains("`smtp_url`") && !e.contains("secret"), "{e}");
        a.smtp_url = None;
        a.public_url = Some("dichvucong.example.gov.vn".into());
        let e = Settings::resolve(&a).unwrap_err().to_string();
        assert!(e.contains("`public_url`"), "{e}");
    }

    #[test]
    fn nats_settings() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Settings::resolve(&args(tmp.path())).unwrap();
        assert!(s.nats.is_none(), "no NATS unless configured");
        let file = tmp.path().join("tinhso.toml");
        std::fs::write(
            &file,
            "nats_url = \"nats://10.0.0.5:4222\"\nnats_topics = \"dossier., feedback.\"\n",
        )
        .unwrap();
        let mut a = args(tmp.path());
        a.config = Some(file);
        let n = Settings::resolve(&a).unwrap().nats.unwrap();
        assert_eq!(n.url, "nats://10.0.0.5:4222");
        assert_eq!(n.topic_prefixes, vec!["dossier.", "feedback."]);
        assert_eq!(n.stream, "TINHSO_EVENTS");
        a.nats_url = Some("nats://127.0.0.1:4222".into());
        let n = Settings::resolve(&a).unwrap().nats.unwrap();
        assert_eq!(
            n.url, "nats://127.0.0.1:4222",
            "the flag wins over the file"
        );
        a.nats_url = Some("http://u:secret@127.0.0.1:4222".into());
        let e = Settings::resolve(&a).unwrap_err().to_string();
        assert!(e.contains("`nats_url`") && !e.contains("secret"), "{e}");
    }

    #[test]
    fn exchange_section_of_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("tinhso.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\n[exchange]\nmax_body = 4096\n[exchange.webhooks]\nmax_attempts = 2\n",
        )
        .unwrap();
        let mut a = args(tmp.path());
        a.config = Some(file.clone());
        let s = Settings::resolve_with_env(&a, &|_| None).unwrap();
        assert_eq!(s.exchange.hub.max_body, 4096);
        assert_eq!(s.exchange.webhooks.max_attempts, 2);
        let s = Settings::resolve_with_env(&a, &|k| {
            (k == "TINHSO_EXCHANGE_MAX_BODY").then(|| "8192".to_string())
        })
        .unwrap();
        assert_eq!(s.exchange.hub.max_body, 8192, "the environment wins");
        std::fs::write(&file, "[exchange]\nmax_body = 1\n").unwrap();
        let e = Settings::resolve_with_env(&a, &|_| None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`exchange.max_body`"), "{e}");
        std::fs::write(&file, "[exchange]\nretries = 1\n").unwrap();
        let e = Settings::resolve_with_env(&a, &|_| None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("retries"), "unknown keys are reported: {e}");
    }

    #[test]
    fn the_sample_file_is_valid_and_states_the_defaults() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("tinhso.toml");
        std::fs::write(&file, include_str!("../../../docs/tinhso.example.toml")).unwrap();
        let mut a = args(tmp.path());
        a.config = Some(file);
        let s = Settings::resolve_with_env(&a, &|_| None).unwrap();
        let (hub, hooks) = (
            tinhso_exchange::HubConfig::default(),
            tinhso_exchange::WebhookConfig::default(),
        );
        let e = &s.exchange;
        assert_eq!(
            (
                e.hub.max_body,
                e.hub.clock_skew,
                e.hub.timeout,
                e.hub.breaker_threshold
            ),
            (
                hub.max_body,
                hub.clock_skew,
                hub.timeout,
                hub.breaker_threshold
            )
        );
        assert_eq!(
            (
                e.hub.breaker_cooldown,
                e.hub.rate_burst,
                e.hub.rate_per_second,
                e.hub.rate_refresh
            ),
            (
                hub.breaker_cooldown,
                hub.rate_burst,
                hub.rate_per_second,
                hub.rate_refresh
            )
        );
        assert_eq!(e.kept_bodies_days, None);
        assert_eq!(
            (
                e.webhooks.timeout,
                e.webhooks.max_attempts,
                e.webhooks.base_delay,
                e.webhooks.factor
            ),
            (
                hooks.timeout,
                hooks.max_attempts,
                hooks.base_delay,
                hooks.factor
            )
        );
        assert_eq!(
            (
                e.webhooks.max_delay,
                e.webhooks.jitter,
                e.webhooks.concurrency
            ),
            (hooks.max_delay, hooks.jitter, hooks.concurrency)
        );
        assert_eq!(
            s.services,
            crate::services_config::ServicesSettings::default()
        );
    }

    #[test]
    fn services_section_of_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("tinhso.toml");
        std::fs::write(&file, "[services]\nlookup_wrong_tries_per_item = 4\n").unwrap();
        let mut a = args(tmp.path());
        a.config = Some(file.clone());
        let s = Settings::resolve_with_env(&a, &|_| None).unwrap();
        assert_eq!(s.services.lookup.per_item, 4);
        assert_eq!(
            s.services.lookup.per_address, 30,
            "the others keep their default"
        );
        std::fs::write(&file, "[services]\nlookup_window_secs = 5\n").unwrap();
        let e = Settings::resolve_with_env(&a, &|_| None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`services.lookup_window_secs`"), "{e}");
    }

    #[test]
    fn bad_settings_name_the_setting() {
        let tmp = tempfile::tempdir().unwrap();
        let mut a = args(tmp.path());
        a.listen = Some("localhost".into());
        let e = Settings::resolve(&a).unwrap_err().to_string();
        assert!(e.contains("`listen`") && e.contains("localhost"), "{e}");
        let mut a = args(tmp.path());
        a.database_url = Some("mysql://u:secret@h/db".into());
        let e = Settings::resolve(&a).unwrap_err().to_string();
        assert!(e.contains("`database_url`"), "{e}");
        assert!(!e.contains("secret"), "the password is never printed: {e}");
        let mut a = args(tmp.path());
        a.log_format = Some("xml".into());
        let e = Settings::resolve(&a).unwrap_err().to_string();
        assert!(e.contains("`log_format`"), "{e}");
        let file = tmp.path().join("bad.toml");
        std::fs::write(&file, "listn = \"x\"\n").unwrap();
        let mut a = args(tmp.path());
        a.config = Some(file);
        let e = Settings::resolve(&a).unwrap_err().to_string();
        assert!(e.contains("listn"), "unknown keys are reported: {e}");
    }
}
