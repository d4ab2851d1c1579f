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
}
