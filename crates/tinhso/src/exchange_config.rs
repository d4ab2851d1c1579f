//! The exchange hub's settings (cấu hình trục liên thông): the `[exchange]` and
//! `[exchange.webhooks]` sections of `tinhso.toml`, each key overridable by a `TINHSO_EXCHANGE_*`
//! / `TINHSO_WEBHOOK_*` environment variable (environment > file > default). A value out of
//! range stops start-up with a message, in Vietnamese and English, naming the key and what is
//! allowed.

use crate::settings::{place, IntKey, Section, NO_UNIT, SECONDS};
use serde::Deserialize;
use std::time::Duration;
use tinhso_exchange::{HubConfig, WebhookConfig};

/// `[exchange]` in `tinhso.toml`: every key optional (the default applies).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeFile {
    max_body: Option<i64>,
    clock_skew_secs: Option<i64>,
    timeout_secs: Option<i64>,
    breaker_threshold: Option<i64>,
    breaker_cooldown_secs: Option<i64>,
    rate_burst: Option<i64>,
    rate_per_second: Option<f64>,
    rate_refresh_secs: Option<i64>,
    kept_bodies_days: Option<i64>,
    tsa_url: Option<String>,
    tsa_certificate: Option<String>,
    nonces_before_forwarding: Option<bool>,
    interrupted_after_secs: Option<i64>,
    inflight_sweep_secs: Option<i64>,
    webhooks: Option<WebhooksFile>,
    node: Option<NodeFile>,
}

/// `[exchange.node]` in `tinhso.toml`: a member's node for direct calls (`tinhso exchange
/// gateway|call`). Each key is overridden by its flag or `TINHSO_DIRECT_*` variable.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    pub member: Option<String>,
    pub hub_url: Option<String>,
    pub hub_key: Option<String>,
    pub refresh_secs: Option<u64>,
    pub max_age_secs: Option<u64>,
}

/// `[exchange.webhooks]` in `tinhso.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksFile {
    timeout_secs: Option<i64>,
    max_attempts: Option<i64>,
    base_delay_secs: Option<i64>,
    factor: Option<i64>,
    max_delay_secs: Option<i64>,
    jitter: Option<f64>,
    concurrency: Option<i64>,
    delivered_webhooks_days: Option<i64>,
}

/// The hub's resolved settings.
#[derive(Debug, Clone, Default)]
pub struct ExchangeSettings {
    pub hub: HubConfig,
    pub webhooks: WebhookConfig,
    /// Days the encrypted bodies of exchanges are kept (lưu giữ nội dung); `None`: for ever.
    pub kept_bodies_days: Option<u32>,
    /// Days delivered webhooks are kept (lưu giữ lần gửi thành công); `None`: for ever.
    /// Pending and dead-lettered deliveries are never deleted.
    pub delivered_webhooks_days: Option<u32>,
    /// `[exchange.node]` as written (checked when a node command starts).
    pub node: NodeFile,
}

/// Days delivered webhooks are kept when nothing says otherwise.
pub const DEFAULT_DELIVERED_WEBHOOKS_DAYS: u32 = 30;

fn secs(v: i64) -> Duration {
    Duration::from_secs(u64::try_from(v).unwrap_or(0))
}

fn usize_of(v: i64) -> usize {
    usize::try_from(v).unwrap_or(0)
}

fn u32_of(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

/// `tsa_url` and `tsa_certificate` (đơn vị cấp dấu thời gian): the client for the anchors when
/// both are set; the trusted certificates alone are enough to verify stored tokens.
fn tsa(
    f: &ExchangeFile,
    sec: Section<'_>,
) -> anyhow::Result<(
    Option<tinhso_exchange::tsa::TsaConfig>,
    Option<tinhso_exchange::tsa::TrustedTsa>,
)> {
    let url = sec.text(f.tsa_url.as_ref(), "TINHSO_EXCHANGE_TSA_URL");
    let cert = sec.text(
        f.tsa_certificate.as_ref(),
        "TINHSO_EXCHANGE_TSA_CERTIFICATE",
    );
    if let Some((u, from_env)) = &url {
        let ok = reqwest::Url::parse(u)
            .ok()
            .is_some_and(|p| matches!(p.scheme(), "http" | "https") && p.host_str().is_some());
        if !ok {
            anyhow::bail!(
                "setting `exchange.tsa_url` [{}]: {u:?} không hợp lệ — phải là địa chỉ http:// hoặc https:// / is not valid — must be an http:// or https:// address",
                place(*from_env, "TINHSO_EXCHANGE_TSA_URL")
            );
        }
        if cert.is_none() {
            anyhow::bail!(
                "setting `exchange.tsa_certificate`: cần tệp PEM chứng thư tin cậy của TSA khi đặt tsa_url / a PEM file with the TSA's trusted certificate is required when tsa_url is set"
            );
        }
    }
    let trust = match &cert {
        None => None,
        Some((path, from_env)) => {
            let where_ = place(*from_env, "TINHSO_EXCHANGE_TSA_CERTIFICATE");
            let pem = std::fs::read(path).map_err(|e| {
                anyhow::anyhow!(
                    "setting `exchange.tsa_certificate` [{where_}]: không đọc được {path:?} / cannot read {path:?}: {e}"
                )
            })?;
            Some(
                tinhso_exchange::tsa::TrustedTsa::from_pem(&pem).map_err(|e| {
                    anyhow::anyhow!("setting `exchange.tsa_certificate` [{where_}] {path:?}: {e}")
                })?,
            )
        }
    };
    let client = match (url, &trust) {
        (Some((url, _)), Some(trust)) => Some(tinhso_exchange::tsa::TsaConfig {
            url,
            trust: trust.clone(),
            timeout: Duration::from_secs(30),
        }),
        _ => None,
    };
    Ok((client, trust))
}

/// A retention in days (0–36500; 0 = for ever), as it was set (`None`: not set).
fn days(sec: Section<'_>, key: &str, var: &str, file: Option<i64>) -> anyhow::Result<Option<u32>> {
    let k = IntKey::new(
        key,
        var,
        (0, 36_500),
        (" (ngày; 0 = giữ mãi)", " (days; 0 = for ever)"),
    );
    Ok(sec.int(k, file)?.map(u32_of))
}

/// `[exchange]`'s and `[exchange.webhooks]`'s integer keys (tên khóa, biến môi trường, giới hạn).
const MAX_BODY: IntKey = IntKey::new(
    "max_body",
    "TINHSO_EXCHANGE_MAX_BODY",
    (1024, 64 * 1024 * 1024),
    (" (byte)", " (bytes)"),
);
const CLOCK_SKEW: IntKey = IntKey::new(
    "clock_skew_secs",
    "TINHSO_EXCHANGE_CLOCK_SKEW_SECS",
    (5, 3600),
    SECONDS,
);
const TIMEOUT: IntKey = IntKey::new(
    "timeout_secs",
    "TINHSO_EXCHANGE_TIMEOUT_SECS",
    (1, 300),
    SECONDS,
);
const BREAKER_THRESHOLD: IntKey = IntKey::new(
    "breaker_threshold",
    "TINHSO_EXCHANGE_BREAKER_THRESHOLD",
    (1, 1000),
    NO_UNIT,
);
const BREAKER_COOLDOWN: IntKey = IntKey::new(
    "breaker_cooldown_secs",
    "TINHSO_EXCHANGE_BREAKER_COOLDOWN_SECS",
    (1, 3600),
    SECONDS,
);
/// The same bounds as a member's own rate set through the API.
const RATE_BURST: IntKey = IntKey::new(
    "rate_burst",
    "TINHSO_EXCHANGE_RATE_BURST",
    (1, 100_000),
    NO_UNIT,
);
const RATE_REFRESH: IntKey = IntKey::new(
    "rate_refresh_secs",
    "TINHSO_EXCHANGE_RATE_REFRESH_SECS",
    (1, 3600),
    SECONDS,
);
const INFLIGHT_SWEEP: IntKey = IntKey::new(
    "inflight_sweep_secs",
    "TINHSO_EXCHANGE_INFLIGHT_SWEEP_SECS",
    (1, 3600),
    SECONDS,
);
const WEBHOOK_TIMEOUT: IntKey = IntKey::new(
    "webhooks.timeout_secs",
    "TINHSO_WEBHOOK_TIMEOUT_SECS",
    (1, 120),
    SECONDS,
);
const WEBHOOK_ATTEMPTS: IntKey = IntKey::new(
    "webhooks.max_attempts",
    "TINHSO_WEBHOOK_MAX_ATTEMPTS",
    (1, 50),
    NO_UNIT,
);
const WEBHOOK_BASE_DELAY: IntKey = IntKey::new(
    "webhooks.base_delay_secs",
    "TINHSO_WEBHOOK_BASE_DELAY_SECS",
    (1, 86_400),
    SECONDS,
);
const WEBHOOK_FACTOR: IntKey =
    IntKey::new("webhooks.factor", "TINHSO_WEBHOOK_FACTOR", (1, 10), NO_UNIT);
const WEBHOOK_MAX_DELAY: IntKey = IntKey::new(
    "webhooks.max_delay_secs",
    "TINHSO_WEBHOOK_MAX_DELAY_SECS",
    (1, 7 * 86_400),
    SECONDS,
);
const WEBHOOK_CONCURRENCY: IntKey = IntKey::new(
    "webhooks.concurrency",
    "TINHSO_WEBHOOK_CONCURRENCY",
    (1, 1024),
    NO_UNIT,
);

impl ExchangeSettings {
    /// The settings from the file's `[exchange]` section and the environment (which wins).
    pub fn resolve(
        file: Option<&ExchangeFile>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let empty = ExchangeFile::default();
        let f = file.unwrap_or(&empty);
        let mut hub = HubConfig::default();
        let sec = Section::new("exchange", env);
        sec.set_int(&mut hub.max_body, MAX_BODY, f.max_body, usize_of)?;
        sec.set_int(&mut hub.clock_skew, CLOCK_SKEW, f.clock_skew_secs, secs)?;
        sec.set_int(&mut hub.timeout, TIMEOUT, f.timeout_secs, secs)?;
        sec.set_int(
            &mut hub.breaker_threshold,
            BREAKER_THRESHOLD,
            f.breaker_threshold,
            u32_of,
        )?;
        sec.set_int(
            &mut hub.breaker_cooldown,
            BREAKER_COOLDOWN,
            f.breaker_cooldown_secs,
            secs,
        )?;
        sec.set_int(&mut hub.rate_burst, RATE_BURST, f.rate_burst, |v| v as f64)?;
        if let Some(v) = sec.float(
            "rate_per_second",
            "TINHSO_EXCHANGE_RATE_PER_SECOND",
            f.rate_per_second,
            (0.0, false, 100_000.0),
        )? {
            hub.rate_per_second = v;
        }
        sec.set_int(
            &mut hub.rate_refresh,
            RATE_REFRESH,
            f.rate_refresh_secs,
            secs,
        )?;
        let kept_bodies_days = days(
            sec,
            "kept_bodies_days",
            "TINHSO_EXCHANGE_KEPT_BODIES_DAYS",
            f.kept_bodies_days,
        )?
        .filter(|d| *d > 0);
        let (tsa, tsa_trust) = tsa(f, sec)?;
        hub.tsa = tsa;
        hub.tsa_trust = tsa_trust;
        hub.nonces_before_forwarding = match env("TINHSO_EXCHANGE_NONCES_BEFORE_FORWARDING")
            .as_deref()
            .map(str::trim)
        {
            None | Some("") => f.nonces_before_forwarding,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => anyhow::bail!(
                "thiết lập `nonces_before_forwarding` (TINHSO_EXCHANGE_NONCES_BEFORE_FORWARDING): \
                 {other:?} phải là true hoặc false / must be true or false"
            ),
        };
        // Exchanges cut off by a crash (with nonces written before forwarding): how old an
        // in-flight row must be to count as cut off — longer than any exchange, so at least
        // the provider time-out plus 5 s — and how often the hub looks.
        let least = hub.timeout.as_secs().saturating_add(5);
        let least = i64::try_from(least).unwrap_or(i64::MAX);
        let interrupted_after = IntKey::new(
            "interrupted_after_secs",
            "TINHSO_EXCHANGE_INTERRUPTED_AFTER_SECS",
            (least, 86_400),
            (
                " (giây; ít nhất timeout_secs + 5)",
                " (seconds; at least timeout_secs + 5)",
            ),
        );
        hub.interrupted_after = hub.interrupted_after.max(secs(least));
        sec.set_int(
            &mut hub.interrupted_after,
            interrupted_after,
            f.interrupted_after_secs,
            secs,
        )?;
        sec.set_int(
            &mut hub.inflight_sweep,
            INFLIGHT_SWEEP,
            f.inflight_sweep_secs,
            secs,
        )?;

        let w = f.webhooks.as_ref();
        let wf = |get: fn(&WebhooksFile) -> Option<i64>| w.and_then(get);
        let mut hooks = WebhookConfig::default();
        sec.set_int(
            &mut hooks.timeout,
            WEBHOOK_TIMEOUT,
            wf(|w| w.timeout_secs),
            secs,
        )?;
        sec.set_int(
            &mut hooks.max_attempts,
            WEBHOOK_ATTEMPTS,
            wf(|w| w.max_attempts),
            u32_of,
        )?;
        sec.set_int(
            &mut hooks.base_delay,
            WEBHOOK_BASE_DELAY,
            wf(|w| w.base_delay_secs),
            secs,
        )?;
        sec.set_int(&mut hooks.factor, WEBHOOK_FACTOR, wf(|w| w.factor), u32_of)?;
        sec.set_int(
            &mut hooks.max_delay,
            WEBHOOK_MAX_DELAY,
            wf(|w| w.max_delay_secs),
            secs,
        )?;
        if hooks.max_delay < hooks.base_delay {
            anyhow::bail!(
                "setting `exchange.webhooks.max_delay_secs`: {} nhỏ hơn base_delay_secs {} — phải lớn hơn hoặc bằng / is below base_delay_secs {} — must be at least that",
                hooks.max_delay.as_secs(),
                hooks.base_delay.as_secs(),
                hooks.base_delay.as_secs()
            );
        }
        if let Some(v) = sec.float(
            "webhooks.jitter",
            "TINHSO_WEBHOOK_JITTER",
            w.and_then(|w| w.jitter),
            (0.0, true, 1.0),
        )? {
            hooks.jitter = v;
        }
        sec.set_int(
            &mut hooks.concurrency,
            WEBHOOK_CONCURRENCY,
            wf(|w| w.concurrency),
            usize_of,
        )?;
        let delivered_webhooks_days = days(
            sec,
            "webhooks.delivered_webhooks_days",
            "TINHSO_WEBHOOK_DELIVERED_DAYS",
            wf(|w| w.delivered_webhooks_days),
        )?
        .unwrap_or(DEFAULT_DELIVERED_WEBHOOKS_DAYS);
        Ok(Self {
            hub,
            webhooks: hooks,
            kept_bodies_days,
            delivered_webhooks_days: Some(delivered_webhooks_days).filter(|d| *d > 0),
            node: f.node.clone().unwrap_or_default(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::env_of;

    fn parse(toml_text: &str) -> ExchangeFile {
        #[derive(Deserialize)]
        struct Wrap {
            exchange: ExchangeFile,
        }
        toml::from_str::<Wrap>(toml_text).unwrap().exchange
    }

    #[test]
    fn a_members_node_settings_from_the_file() {
        let f = parse(
            "[exchange.node]\nmember = \"000.00.19.H37-HOTICH\"\nhub_url = \"https://lgsp.example.vn\"\nhub_key = \"k\"\nrefresh_secs = 30\n",
        );
        let s = ExchangeSettings::resolve(Some(&f), &env_of(&[])).unwrap();
        assert_eq!(s.node.member.as_deref(), Some("000.00.19.H37-HOTICH"));
        assert_eq!(s.node.hub_url.as_deref(), Some("https://lgsp.example.vn"));
        assert_eq!((s.node.refresh_secs, s.node.max_age_secs), (Some(30), None));
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Wrap {
            exchange: ExchangeFile,
        }
        let e = toml::from_str::<Wrap>("[exchange.node]\nmembre = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("membre"), "{e}");
    }

    #[test]
    fn defaults_without_file_or_environment() {
        let s = ExchangeSettings::resolve(None, &env_of(&[])).unwrap();
        let d = HubConfig::default();
        assert_eq!(s.hub.max_body, d.max_body);
        assert_eq!(s.hub.clock_skew, d.clock_skew);
        assert_eq!(
            s.webhooks.max_attempts,
            WebhookConfig::default().max_attempts
        );
        assert_eq!(s.kept_bodies_days, None);
        assert_eq!(
            s.delivered_webhooks_days,
            Some(DEFAULT_DELIVERED_WEBHOOKS_DAYS),
            "delivered webhooks are kept 30 days unless told otherwise"
        );
    }

    #[test]
    fn nonces_before_forwarding_from_the_file_or_the_environment() {
        let none = |_: &str| None;
        let s = ExchangeSettings::resolve(None, &none).unwrap();
        assert_eq!(
            s.hub.nonces_before_forwarding, None,
            "decided by the backend"
        );
        let f = parse("[exchange]\nnonces_before_forwarding = false\n");
        let s = ExchangeSettings::resolve(Some(&f), &none).unwrap();
        assert_eq!(s.hub.nonces_before_forwarding, Some(false));
        let env =
            |k: &str| (k == "TINHSO_EXCHANGE_NONCES_BEFORE_FORWARDING").then(|| "true".into());
        let s = ExchangeSettings::resolve(Some(&f), &env).unwrap();
        assert_eq!(
            s.hub.nonces_before_forwarding,
            Some(true),
            "the environment wins"
        );
        let bad = |k: &str| (k == "TINHSO_EXCHANGE_NONCES_BEFORE_FORWARDING").then(|| "yes".into());
        let e = ExchangeSettings::resolve(None, &bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("true or false"), "{e}");
    }

    #[test]
    fn the_sweep_of_cut_off_exchanges_from_the_file_or_the_environment() {
        let s = ExchangeSettings::resolve(None, &env_of(&[])).unwrap();
        assert_eq!(s.hub.interrupted_after, Duration::from_secs(60));
        assert_eq!(s.hub.inflight_sweep, Duration::from_secs(30));
        let f = parse("[exchange]\ninterrupted_after_secs = 20\ninflight_sweep_secs = 5\n");
        let s = ExchangeSettings::resolve(Some(&f), &env_of(&[])).unwrap();
        assert_eq!(s.hub.interrupted_after, Duration::from_secs(20));
        assert_eq!(s.hub.inflight_sweep, Duration::from_secs(5));
        let s = ExchangeSettings::resolve(
            Some(&f),
            &env_of(&[
                ("TINHSO_EXCHANGE_TIMEOUT_SECS", "1"),
                ("TINHSO_EXCHANGE_INTERRUPTED_AFTER_SECS", "6"),
                ("TINHSO_EXCHANGE_INFLIGHT_SWEEP_SECS", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(s.hub.interrupted_after, Duration::from_secs(6));
        assert_eq!(s.hub.inflight_sweep, Duration::from_secs(1));
        // A long provider time-out moves the default past it.
        let s =
            ExchangeSettings::resolve(None, &env_of(&[("TINHSO_EXCHANGE_TIMEOUT_SECS", "120")]))
                .unwrap();
        assert_eq!(s.hub.interrupted_after, Duration::from_secs(125));
        // Shorter than an exchange may last: refused, naming the key and the bound.
        let e =
            ExchangeSettings::resolve(Some(&f), &env_of(&[("TINHSO_EXCHANGE_TIMEOUT_SECS", "30")]))
                .unwrap_err()
                .to_string();
        assert!(
            e.contains("`exchange.interrupted_after_secs`")
                && e.contains("từ 35 đến 86400")
                && e.contains("at least timeout_secs + 5"),
            "{e}"
        );
        let e = ExchangeSettings::resolve(
            None,
            &env_of(&[("TINHSO_EXCHANGE_INFLIGHT_SWEEP_SECS", "0")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`exchange.inflight_sweep_secs`")
                && e.contains("TINHSO_EXCHANGE_INFLIGHT_SWEEP_SECS"),
            "{e}"
        );
    }

    #[test]
    fn delivered_webhooks_days_from_the_file_or_the_environment() {
        let f = parse("[exchange.webhooks]\ndelivered_webhooks_days = 7\n");
        let s = ExchangeSettings::resolve(Some(&f), &env_of(&[])).unwrap();
        assert_eq!(s.delivered_webhooks_days, Some(7));
        let s = ExchangeSettings::resolve(
            Some(&f),
            &env_of(&[("TINHSO_WEBHOOK_DELIVERED_DAYS", "90")]),
        )
        .unwrap();
        assert_eq!(s.delivered_webhooks_days, Some(90), "the environment wins");
        let s =
            ExchangeSettings::resolve(Some(&f), &env_of(&[("TINHSO_WEBHOOK_DELIVERED_DAYS", "0")]))
                .unwrap();
        assert_eq!(s.delivered_webhooks_days, None, "0 keeps them for ever");
        let f = parse("[exchange.webhooks]\ndelivered_webhooks_days = 0\n");
        let s = ExchangeSettings::resolve(Some(&f), &env_of(&[])).unwrap();
        assert_eq!(s.delivered_webhooks_days, None);

        // A bad value stops start-up, naming the key (and the variable when it came from it).
        let f = parse("[exchange.webhooks]\ndelivered_webhooks_days = -3\n");
        let e = ExchangeSettings::resolve(Some(&f), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`exchange.webhooks.delivered_webhooks_days`")
                && e.contains("tinhso.toml")
                && e.contains("\"-3\"")
                && e.contains("0 = giữ mãi"),
            "{e}"
        );
        let e = ExchangeSettings::resolve(
            None,
            &env_of(&[("TINHSO_WEBHOOK_DELIVERED_DAYS", "một tháng")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`exchange.webhooks.delivered_webhooks_days`")
                && e.contains("TINHSO_WEBHOOK_DELIVERED_DAYS")
                && e.contains("\"một tháng\""),
            "{e}"
        );
        let e =
            ExchangeSettings::resolve(None, &env_of(&[("TINHSO_WEBHOOK_DELIVERED_DAYS", "40000")]))
                .unwrap_err()
                .to_string();
        assert!(e.contains("từ 0 đến 36500"), "{e}");
    }

    #[test]
    fn the_file_sets_and_the_environment_overrides() {
        let f = parse(
            "[exchange]\nmax_body = 2048\nclock_skew_secs = 60\nrate_burst = 50\nrate_per_second = 2.5\nkept_bodies_days = 90\n\
             [exchange.webhooks]\nmax_attempts = 3\nbase_delay_secs = 5\nmax_delay_secs = 600\njitter = 0.0\n",
        );
        let s = ExchangeSettings::resolve(Some(&f), &env_of(&[])).unwrap();
        assert_eq!(s.hub.max_body, 2048);
        assert_eq!(s.hub.clock_skew, Duration::from_secs(60));
        assert_eq!(s.hub.rate_burst, 50.0);
        assert_eq!(s.hub.rate_per_second, 2.5);
        assert_eq!(s.kept_bodies_days, Some(90));
        assert_eq!(s.webhooks.max_attempts, 3);
        assert_eq!(s.webhooks.base_delay, Duration::from_secs(5));
        assert_eq!(s.webhooks.max_delay, Duration::from_secs(600));
        assert_eq!(s.webhooks.jitter, 0.0);
        // Untouched keys keep their defaults.
        assert_eq!(s.hub.timeout, HubConfig::default().timeout);
        let s = ExchangeSettings::resolve(
            Some(&f),
            &env_of(&[
                ("TINHSO_EXCHANGE_MAX_BODY", "4096"),
                ("TINHSO_WEBHOOK_MAX_ATTEMPTS", "5"),
                ("TINHSO_EXCHANGE_KEPT_BODIES_DAYS", "0"),
            ]),
        )
        .unwrap();
        assert_eq!(s.hub.max_body, 4096, "the environment wins over the file");
        assert_eq!(s.webhooks.max_attempts, 5);
        assert_eq!(s.kept_bodies_days, None, "0 keeps bodies for ever");
        assert_eq!(s.hub.clock_skew, Duration::from_secs(60));
    }

    #[test]
    fn bad_values_name_the_key_and_what_is_allowed() {
        let f = parse("[exchange]\nmax_body = 10\n");
        let e = ExchangeSettings::resolve(Some(&f), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`exchange.max_body`"), "{e}");
        assert!(e.contains("tinhso.toml"), "{e}");
        assert!(e.contains("từ 1024 đến 67108864"), "{e}");
        assert!(e.contains("from 1024 to 67108864"), "{e}");

        let e = ExchangeSettings::resolve(
            None,
            &env_of(&[("TINHSO_EXCHANGE_RATE_PER_SECOND", "nhanh")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`exchange.rate_per_second`")
                && e.contains("TINHSO_EXCHANGE_RATE_PER_SECOND")
                && e.contains("\"nhanh\""),
            "{e}"
        );
        let e =
            ExchangeSettings::resolve(None, &env_of(&[("TINHSO_EXCHANGE_RATE_PER_SECOND", "0")]))
                .unwrap_err()
                .to_string();
        assert!(e.contains("lớn hơn 0"), "{e}");

        let f = parse("[exchange.webhooks]\njitter = 1.5\n");
        let e = ExchangeSettings::resolve(Some(&f), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`exchange.webhooks.jitter`"), "{e}");

        let f = parse("[exchange.webhooks]\nbase_delay_secs = 600\nmax_delay_secs = 60\n");
        let e = ExchangeSettings::resolve(Some(&f), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`exchange.webhooks.max_delay_secs`"), "{e}");

        let f = parse("[exchange]\nclock_skew_secs = -1\n");
        let e = ExchangeSettings::resolve(Some(&f), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`exchange.clock_skew_secs`") && e.contains("\"-1\""),
            "{e}"
        );

        // An unknown key is refused by the file reader (deny_unknown_fields).
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Wrap {
            exchange: ExchangeFile,
        }
        let e = toml::from_str::<Wrap>("[exchange]\nmax_bodyy = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_bodyy"), "{e}");
    }

    /// A self-signed P-256 certificate with the time-stamping key usage (made with
    /// `openssl req -x509 -newkey ec …`; only parsed here, never used to sign).
    const TSA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBtDCCAVmgAwIBAgIUGm+r2rAy/1ExfZ7D9wnfy2TCyGAwCgYIKoZIzj0EAwIw\nIzEUMBIGA1UEAwwLRml4dHVyZSBUU0ExCzAJBgNVBAYTAlZOMB4XDTI2MTEzMDAx\nMzgwNFoXDTM2MTEyNzAxMzgwNFowIzEUMBIGA1UEAwwLRml4dHVyZSBUU0ExCzAJ\nBgNVBAYTAlZOMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAESAiuV4/3Xu/xt2Sa\nur+SGfyrmqiDVOzYMT/sIcbiivY2ZKsYZcpkDaBzWo9Zm9IOm7113UVE3uvT6EuD\niPY2s6NrMGkwHQYDVR0OBBYEFIe98ypu8NIsZCc31MkfnJWJyoWaMB8GA1UdIwQY\nMBaAFIe98ypu8NIsZCc31MkfnJWJyoWaMA8GA1UdEwEB/wQFMAMBAf8wFgYDVR0l\nAQH/BAwwCgYIKwYBBQUHAwgwCgYIKoZIzj0EAwIDSQAwRgIhAOoH9ZSC2jEMM9sw\nadRu8pJgEgybXchu7qXeY5uBP3UaAiEAp724iZA5IInSW4tbGJV4pjEdY8O7Zq3r\nCY4uxu8cZug=\n-----END CERTIFICATE-----\n";

    #[test]
    fn the_time_stamp_authority_settings() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("tsa.pem");
        std::fs::write(&cert, TSA_PEM).unwrap();
        let cert_s = cert.display().to_string();
        // None by default: anchors are signed by the hub's key only.
        let s = ExchangeSettings::resolve(None, &env_of(&[])).unwrap();
        assert!(s.hub.tsa.is_none() && s.hub.tsa_trust.is_none());
        // URL and certificate from the file.
        let f = parse(&format!(
            "[exchange]\ntsa_url = \"https://tsa.example.vn/tsr\"\ntsa_certificate = {cert_s:?}\n"
        ));
        let s = ExchangeSettings::resolve(Some(&f), &env_of(&[])).unwrap();
        assert_eq!(s.hub.tsa.unwrap().url, "https://tsa.example.vn/tsr");
        assert!(s.hub.tsa_trust.is_some_and(|t| !t.is_empty()));
        // The environment wins.
        let s = ExchangeSettings::resolve(
            Some(&f),
            &env_of(&[("TINHSO_EXCHANGE_TSA_URL", "http://127.0.0.1:3161/")]),
        )
        .unwrap();
        assert_eq!(s.hub.tsa.unwrap().url, "http://127.0.0.1:3161/");
        // The certificate alone: stored tokens are checked, no new ones are asked for.
        let s = ExchangeSettings::resolve(
            None,
            &env_of(&[("TINHSO_EXCHANGE_TSA_CERTIFICATE", cert_s.as_str())]),
        )
        .unwrap();
        assert!(s.hub.tsa.is_none() && s.hub.tsa_trust.is_some());
        // A URL without a certificate, a bad URL, a missing or non-PEM file: refused.
        let e = ExchangeSettings::resolve(
            None,
            &env_of(&[("TINHSO_EXCHANGE_TSA_URL", "https://tsa.example.vn/")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`exchange.tsa_certificate`") && e.contains("required"),
            "{e}"
        );
        let e = ExchangeSettings::resolve(
            None,
            &env_of(&[
                ("TINHSO_EXCHANGE_TSA_URL", "ftp://tsa.example.vn/"),
                ("TINHSO_EXCHANGE_TSA_CERTIFICATE", cert_s.as_str()),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`exchange.tsa_url`") && e.contains("không hợp lệ"),
            "{e}"
        );
        let e = ExchangeSettings::resolve(
            None,
            &env_of(&[("TINHSO_EXCHANGE_TSA_CERTIFICATE", "/nonexistent/tsa.pem")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cannot read"), "{e}");
        std::fs::write(&cert, "not a certificate").unwrap();
        let e = ExchangeSettings::resolve(
            None,
            &env_of(&[("TINHSO_EXCHANGE_TSA_CERTIFICATE", cert_s.as_str())]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("no certificate") || e.contains("not valid PEM"),
            "{e}"
        );
    }
}
