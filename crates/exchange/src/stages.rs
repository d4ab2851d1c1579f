//! Where the hub's time goes (thời gian theo giai đoạn): a histogram per stage of an exchange —
//! verifying the client, taking its nonce, forwarding, signing the answer, waiting for the
//! message log — and of the log writer's batches, kept with atomics (a few per exchange, no
//! lock) so that they can stay on in production. `tinhso bench exchange` prints them; they
//! tell what makes the latency's tail.
//!
//! Values are whole microseconds (a batch's size for [`Stage::LogBatchSize`]), in buckets of
//! one eighth of a power of two: a percentile is exact below 8 and within 12.5 % above.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A stage of an exchange through the hub, or of the log writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading the request body.
    ReadBody,
    /// Hashing the request and checking the client's ed25519 signature, its key and clock.
    Verify,
    /// Taking the nonce (in memory, or written before forwarding).
    Nonce,
    /// The service and the right (registry, cached).
    Right,
    /// The call to the provider, its answer read.
    Forward,
    /// Hashing and signing the answer (and sealing kept bodies).
    Sign,
    /// From handing the entry to the log writer to its commit.
    LogWait,
    /// Of that, waiting before the entry's batch began (the writer busy with the one before).
    LogQueue,
    /// From the request's arrival to the answer built.
    Total,
    /// One batch of the log writer: its transaction, from begin to commit.
    LogBatch,
    /// Entries in one batch (a count, not microseconds).
    LogBatchSize,
}

impl Stage {
    pub const ALL: [Stage; 11] = [
        Stage::ReadBody,
        Stage::Verify,
        Stage::Nonce,
        Stage::Right,
        Stage::Forward,
        Stage::Sign,
        Stage::LogWait,
        Stage::LogQueue,
        Stage::Total,
        Stage::LogBatch,
        Stage::LogBatchSize,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::ReadBody => "read body",
            Stage::Verify => "verify client",
            Stage::Nonce => "take nonce",
            Stage::Right => "service and right",
            Stage::Forward => "forward to provider",
            Stage::Sign => "sign answer",
            Stage::LogWait => "log: wait for commit",
            Stage::LogQueue => "log: queued before batch",
            Stage::Total => "total in hub",
            Stage::LogBatch => "log writer: batch write",
            Stage::LogBatchSize => "log writer: entries/batch",
        }
    }

    /// The `stage` label on `/metrics` ([`Stages::render_prometheus`]).
    pub fn label(self) -> &'static str {
        match self {
            Stage::ReadBody => "read_body",
            Stage::Verify => "verify_client",
            Stage::Nonce => "take_nonce",
            Stage::Right => "service_and_right",
            Stage::Forward => "forward",
            Stage::Sign => "sign_answer",
            Stage::LogWait => "log_wait",
            Stage::LogQueue => "log_queue",
            Stage::Total => "total",
            Stage::LogBatch => "log_batch_write",
            Stage::LogBatchSize => "log_batch_entries",
        }
    }
}

/// Buckets: 0–7 exact, then 8 per power of two up to 2^40.
const BUCKETS: usize = 8 + 38 * 8;

fn bucket(v: u64) -> usize {
    if v < 8 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros() as usize; // ≥ 3
    let sub = ((v >> (e - 3)) & 7) as usize;
    (8 + (e - 3) * 8 + sub).min(BUCKETS - 1)
}

/// The largest value bucket `i` holds.
fn bucket_top(i: usize) -> u64 {
    if i < 8 {
        return i as u64;
    }
    let e = (i - 8) / 8 + 3;
    let sub = ((i - 8) % 8) as u64;
    ((8 + sub) << (e - 3)) + (1u64 << (e - 3)) - 1
}

struct Histogram {
    counts: Vec<AtomicU64>,
    sum: AtomicU64,
    max: AtomicU64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    fn record(&self, v: u64) {
        if let Some(c) = self.counts.get(bucket(v)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(v, Ordering::Relaxed);
        self.max.fetch_max(v, Ordering::Relaxed);
    }

    fn reset(&self) {
        for c in &self.counts {
            c.store(0, Ordering::Relaxed);
        }
        self.sum.store(0, Ordering::Relaxed);
        self.max.store(0, Ordering::Relaxed);
    }

    fn summary(&self, stage: Stage) -> StageSummary {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let n: u64 = counts.iter().sum();
        let max = self.max.load(Ordering::Relaxed);
        let at = |p: f64| {
            let rank = ((p / 100.0) * n as f64).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return bucket_top(i);
                }
            }
            0
        };
        StageSummary {
            stage,
            count: n,
            mean: if n == 0 {
                0.0
            } else {
                self.sum.load(Ordering::Relaxed) as f64 / n as f64
            },
            // A bucket's top may lie above the largest value recorded.
            p50: if n == 0 { 0 } else { at(50.0).min(max) },
            p99: if n == 0 { 0 } else { at(99.0).min(max) },
            max,
        }
    }
}

impl Histogram {
    /// Values up to `2^k - 1` for each `k` in `powers`, cumulated (Prometheus' `le`): exact,
    /// since `2^k - 1` is a bucket's top.
    fn cumulative(&self, powers: std::ops::RangeInclusive<u32>) -> Vec<(u32, u64)> {
        let mut seen = 0u64;
        let mut upto = 0usize;
        powers
            .map(|k| {
                let last = bucket((1u64 << k) - 1);
                while upto <= last {
                    seen += self
                        .counts
                        .get(upto)
                        .map_or(0, |c| c.load(Ordering::Relaxed));
                    upto += 1;
                }
                (k, seen)
            })
            .collect()
    }

    fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

/// One stage's figures (µs, or entries for [`Stage::LogBatchSize`]); percentiles are the top
/// of their bucket (at most the largest value).
#[derive(Debug, Clone, PartialEq)]
pub struct StageSummary {
    pub stage: Stage,
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl StageSummary {
    pub fn line(&self) -> String {
        let unit = if self.stage == Stage::LogBatchSize {
            ""
        } else {
            " us"
        };
        format!(
            "{:<26} n {:>7}  mean {:>8.1}{unit}  p50 {:>6}{unit}  p99 {:>6}{unit}  max {:>7}{unit}",
            self.stage.name(),
            self.count,
            self.mean,
            self.p50,
            self.p99,
            self.max
        )
    }
}

/// The histograms of every [`Stage`].
pub struct Stages {
    h: Vec<Histogram>,
}

impl Default for Stages {
    fn default() -> Self {
        Self {
            h: Stage::ALL.iter().map(|_| Histogram::new()).collect(),
        }
    }
}

impl Stages {
    fn of(&self, s: Stage) -> Option<&Histogram> {
        self.h.get(Stage::ALL.iter().position(|x| *x == s)?)
    }

    /// Record a value (µs, or a count for [`Stage::LogBatchSize`]).
    pub fn record(&self, s: Stage, v: u64) {
        if let Some(h) = self.of(s) {
            h.record(v);
        }
    }

    /// Record the time since `since`, in µs.
    pub fn since(&self, s: Stage, since: Instant) {
        self.record(
            s,
            u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX),
        );
    }

    /// Forget everything recorded (the start of a measured window).
    pub fn reset(&self) {
        for h in &self.h {
            h.reset();
        }
    }

    /// The histograms in the Prometheus text format (without `# EOF`), for `/metrics`:
    /// `tinhso_exchange_stage_seconds{stage}` — bounds at 2^k µs, 64 µs to 8.4 s, exact since
    /// values are whole µs in buckets whose tops include every 2^k − 1 — and
    /// `tinhso_exchange_log_batch_entries` (bounds 1, 2, 4 … 256 entries as `le` 0, 1, 3 …
    /// 255: a batch has a whole number of entries). [`Stages::reset`] (the bench) starts them
    /// again from zero, which Prometheus reads as a counter reset.
    pub fn render_prometheus(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(16 * 1024);
        out.push_str(
            "# HELP tinhso_exchange_stage_seconds Time per stage of an exchange through the hub \
             and of its message log writer\n# TYPE tinhso_exchange_stage_seconds histogram\n",
        );
        for (stage, h) in Stage::ALL.iter().zip(&self.h) {
            if *stage == Stage::LogBatchSize {
                continue;
            }
            let label = stage.label();
            for (k, n) in h.cumulative(6..=23) {
                let le = (1u64 << k) as f64 / 1e6;
                let _ = writeln!(
                    out,
                    "tinhso_exchange_stage_seconds_bucket{{stage=\"{label}\",le=\"{le}\"}} {n}"
                );
            }
            let total = h.total();
            let sum = h.sum.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "tinhso_exchange_stage_seconds_bucket{{stage=\"{label}\",le=\"+Inf\"}} {total}\n\
                 tinhso_exchange_stage_seconds_sum{{stage=\"{label}\"}} {sum}\n\
                 tinhso_exchange_stage_seconds_count{{stage=\"{label}\"}} {total}"
            );
        }
        out.push_str(
            "# HELP tinhso_exchange_log_batch_entries Entries per batch of the hub's message \
             log writer (one transaction each)\n# TYPE tinhso_exchange_log_batch_entries histogram\n",
        );
        if let Some(h) = self.of(Stage::LogBatchSize) {
            for (k, n) in h.cumulative(0..=8) {
                let _ = writeln!(
                    out,
                    "tinhso_exchange_log_batch_entries_bucket{{le=\"{}\"}} {n}",
                    (1u64 << k) - 1
                );
            }
            let total = h.total();
            let _ = writeln!(
                out,
                "tinhso_exchange_log_batch_entries_bucket{{le=\"+Inf\"}} {total}\n\
                 tinhso_exchange_log_batch_entries_sum {}\n\
                 tinhso_exchange_log_batch_entries_count {total}",
                h.sum.load(Ordering::Relaxed)
            );
        }
        out
    }

    /// Every stage with at least one value, in [`Stage::ALL`]'s order.
    pub fn summary(&self) -> Vec<StageSummary> {
        Stage::ALL
            .iter()
            .zip(&self.h)
            .map(|(s, h)| h.summary(*s))
            .filter(|s| s.count > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order_within_an_eighth() {
        let mut last = 0;
        for v in (0..5000u64).chain([1 << 20, (1 << 20) + 12345, u64::MAX / 2]) {
            let b = bucket(v);
            assert!(b >= last, "buckets go up with the value: {v}");
            last = b;
            let top = bucket_top(b);
            assert!(
                top >= v || b == BUCKETS - 1,
                "{v} in bucket {b} (top {top})"
            );
            if b < BUCKETS - 1 && v >= 8 {
                assert!(top - v <= v / 8, "{v}: top {top} within an eighth");
            }
        }
        assert_eq!(bucket(7), 7);
        assert_eq!(bucket_top(bucket(8)), 8);
    }

    #[test]
    fn percentiles_come_from_what_was_recorded() {
        let s = Stages::default();
        for v in 1..=100 {
            s.record(Stage::Verify, v * 10);
        }
        s.record(Stage::LogBatchSize, 3);
        let sum = s.summary();
        assert_eq!(sum.len(), 2, "stages without values are left out");
        let v = &sum[0];
        assert_eq!((v.stage, v.count, v.max), (Stage::Verify, 100, 1000));
        assert!((v.mean - 505.0).abs() < 1e-9);
        assert!((500..=500 + 500 / 8).contains(&v.p50), "{}", v.p50);
        assert!(
            (990..=1000).contains(&v.p99),
            "{}: at most the largest value",
            v.p99
        );
        s.reset();
        assert!(s.summary().is_empty());
    }

    #[test]
    fn prometheus_buckets_count_exactly_up_to_their_bound() {
        let s = Stages::default();
        // 63 µs is under the first bound (64 µs); 64 and 127 under 128 µs; 5 ms under 8.192 ms.
        for v in [63, 64, 127, 5_000, 9_000_000] {
            s.record(Stage::LogWait, v);
        }
        for n in [1, 2, 3, 200] {
            s.record(Stage::LogBatchSize, n);
        }
        let text = s.render_prometheus();
        let line = |start: &str| {
            text.lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("{start} in\n{text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_string()
        };
        let wait = "tinhso_exchange_stage_seconds_bucket{stage=\"log_wait\",le=";
        assert_eq!(line(&format!("{wait}\"0.000064\"}}")), "1");
        assert_eq!(line(&format!("{wait}\"0.000128\"}}")), "3");
        assert_eq!(line(&format!("{wait}\"0.004096\"}}")), "3");
        assert_eq!(line(&format!("{wait}\"0.008192\"}}")), "4");
        assert_eq!(line(&format!("{wait}\"8.388608\"}}")), "4");
        assert_eq!(line(&format!("{wait}\"+Inf\"}}")), "5");
        assert_eq!(
            line("tinhso_exchange_stage_seconds_sum{stage=\"log_wait\"}"),
            "9.005254"
        );
        assert_eq!(
            line("tinhso_exchange_stage_seconds_count{stage=\"verify_client\"}"),
            "0"
        );
        assert_eq!(
            line("tinhso_exchange_log_batch_entries_bucket{le=\"1\"}"),
            "1"
        );
        assert_eq!(
            line("tinhso_exchange_log_batch_entries_bucket{le=\"3\"}"),
            "3"
        );
        assert_eq!(
            line("tinhso_exchange_log_batch_entries_bucket{le=\"127\"}"),
            "3"
        );
        assert_eq!(
            line("tinhso_exchange_log_batch_entries_bucket{le=\"255\"}"),
            "4"
        );
        assert_eq!(line("tinhso_exchange_log_batch_entries_sum"), "206");
        assert!(!text.contains("stage=\"log_batch_entries\""));
    }
}
