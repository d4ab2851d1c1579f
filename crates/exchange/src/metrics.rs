//! The hub's own metrics, appended to `/metrics` by `tinhso-web`:
//! `tinhso_exchange_requests_total{provider, service, client, outcome}` and
//! `tinhso_exchange_duration_seconds{provider, service}` and, by client member,
//! `tinhso_exchange_client_duration_seconds{client}`.
//!
//! Label values come from the registry only: a request refused before its member was
//! authenticated counts under `client="-"`, one refused before its service was found under
//! `provider="-", service="-"`, so nobody can grow the series by sending made-up names.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Mutex;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExchangeLabels {
    pub provider: String,
    pub service: String,
    pub client: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabels {
    pub provider: String,
    pub service: String,
}

/// The client member of an exchange (thành viên gọi).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClientLabels {
    pub client: String,
}

pub struct HubMetrics {
    registry: Mutex<Registry>,
    pub requests: Family<ExchangeLabels, Counter>,
    pub duration: Family<ServiceLabels, Histogram>,
    /// Latency by client member, every service together (one histogram per member, not per
    /// member × service, to keep the series few).
    pub client_duration: Family<ClientLabels, Histogram>,
}

/// Buckets of the exchange latency histograms, seconds.
fn latency_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

impl Default for HubMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tinhso_exchange");
        let requests = Family::<ExchangeLabels, Counter>::default();
        let duration = Family::<ServiceLabels, Histogram>::new_with_constructor(latency_histogram);
        let client_duration =
            Family::<ClientLabels, Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "requests",
            "Exchanges through the hub by provider, service, client member and outcome",
            requests.clone(),
        );
        registry.register(
            "duration_seconds",
            "Exchange latency through the hub by service (answer logged and signed)",
            duration.clone(),
        );
        registry.register(
            "client_duration_seconds",
            "Exchange latency through the hub by client member, every service together",
            client_duration.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            requests,
            duration,
            client_duration,
        }
    }
}

impl HubMetrics {
    /// The metrics in the text exposition format, without the closing `# EOF` line, to be
    /// placed before the platform's own `# EOF`.
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

/// `extra` (no `# EOF`) inserted before the closing `# EOF` of `base`.
pub fn splice(base: &str, extra: &str) -> String {
    match base.trim_end().strip_suffix("# EOF") {
        Some(body) => format!("{body}{extra}# EOF\n"),
        None => format!("{base}{extra}"),
    }
}
