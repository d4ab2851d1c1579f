//! Where a submission's time goes inside the server (thời gian từng bước của một lần nộp hồ
//! sơ): `POST /api/v1/dossiers` notes the time ([`Instant`]) as it passes each step — the
//! request read and parsed, the checks and reads done, its group-commit item queued, the item
//! written in its batch, the batch committed and answered, the receipt built, the response
//! built — and, while a measurement runs ([`start`] … [`stop`], only `tinhso bench services`
//! starts one), keeps one [`Sample`] per submission. Outside a measurement nothing is kept: a
//! relaxed atomic load per request and a few clock reads.
//!
//! A submission answered without a write (a replay of its idempotency key, a refusal) leaves no
//! sample: only those that went through the group committer are counted.

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// A step of a submission, in order; each [`Sample`] holds the time spent in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// From the handler's start to the submission parsed (the multipart body or JSON read).
    ReadParse,
    /// The checks and reads before its write is queued (idempotency key, procedure, e-form,
    /// commune and agency, calendar; a file over the inline limit written to the file store).
    Checks,
    /// From queued to its own item starting: the writer busy with earlier batches, then with
    /// the items before it in its batch.
    Queue,
    /// Its own item's statements (savepoint included in the batch's next one).
    Item,
    /// From its item done to its caller woken: the batch's later items, the commit, the answer.
    AfterItem,
    /// From the answer to the receipt built (no read: built from what was written).
    Receipt,
    /// From the receipt to the response built (the JSON written).
    Response,
    /// The whole, from the handler's start to the response built.
    Total,
}

impl Stage {
    pub const ALL: [Stage; 8] = [
        Stage::ReadParse,
        Stage::Checks,
        Stage::Queue,
        Stage::Item,
        Stage::AfterItem,
        Stage::Receipt,
        Stage::Response,
        Stage::Total,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::ReadParse => "request read + parsed",
            Stage::Checks => "checks and reads",
            Stage::Queue => "group commit: queued",
            Stage::Item => "group commit: own item",
            Stage::AfterItem => "group commit: rest + commit",
            Stage::Receipt => "receipt built",
            Stage::Response => "response built",
            Stage::Total => "total in handler",
        }
    }
}

/// One submission's time per [`Stage`], in µs, in [`Stage::ALL`]'s order.
pub type Sample = [u64; Stage::ALL.len()];

/// The instants a submission passes; `None` until it gets there.
#[derive(Debug, Clone, Copy, Default)]
struct Marks {
    start: Option<Instant>,
    parsed: Option<Instant>,
    queued: Option<Instant>,
    item_start: Option<Instant>,
    item_end: Option<Instant>,
    answered: Option<Instant>,
    receipt: Option<Instant>,
}

impl Marks {
    /// The sample, when every step was reached, ending at `end`.
    fn sample(&self, end: Instant) -> Option<Sample> {
        let at = [
            self.start?,
            self.parsed?,
            self.queued?,
            self.item_start?,
            self.item_end?,
            self.answered?,
            self.receipt?,
            end,
        ];
        let us = |a: Instant, b: Instant| {
            u64::try_from(b.saturating_duration_since(a).as_micros()).unwrap_or(u64::MAX)
        };
        let mut s = [0; Stage::ALL.len()];
        for (i, w) in at.windows(2).enumerate() {
            s[i] = us(w[0], w[1]);
        }
        s[Stage::ALL.len() - 1] = us(at[0], end);
        Some(s)
    }
}

/// A step reached, for [`mark`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    Parsed,
    Queued,
    Answered,
    Receipt,
}

tokio::task_local! {
    static MARKS: Cell<Marks>;
}

static ON: AtomicBool = AtomicBool::new(false);
static SAMPLES: Mutex<Vec<Sample>> = Mutex::new(Vec::new());

/// Start a measurement: forget earlier samples, keep one per submission from now on.
pub fn start() {
    SAMPLES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
    ON.store(true, Ordering::Relaxed);
}

/// End the measurement: the samples kept since [`start`].
pub fn stop() -> Vec<Sample> {
    ON.store(false, Ordering::Relaxed);
    std::mem::take(&mut *SAMPLES.lock().unwrap_or_else(PoisonError::into_inner))
}

/// Run a submission's handler `f`, timing its steps while a measurement runs.
pub(crate) async fn timed<T>(f: impl Future<Output = T>) -> T {
    if !ON.load(Ordering::Relaxed) {
        return f.await;
    }
    let marks = Marks {
        start: Some(Instant::now()),
        ..Marks::default()
    };
    let (out, marks) = MARKS
        .scope(Cell::new(marks), async {
            let out = f.await;
            (out, MARKS.with(Cell::get))
        })
        .await;
    if let Some(s) = marks.sample(Instant::now()) {
        if ON.load(Ordering::Relaxed) {
            SAMPLES
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(s);
        }
    }
    out
}

fn update(f: impl FnOnce(&mut Marks)) {
    let _ = MARKS.try_with(|c| {
        let mut m = c.get();
        f(&mut m);
        c.set(m);
    });
}

/// Note that the submission reached `m` now (nothing outside [`timed`]).
pub(crate) fn mark(m: Mark) {
    let now = Instant::now();
    update(|s| {
        let slot = match m {
            Mark::Parsed => &mut s.parsed,
            Mark::Queued => &mut s.queued,
            Mark::Answered => &mut s.answered,
            Mark::Receipt => &mut s.receipt,
        };
        *slot = Some(now);
    });
}

/// Note when the submission's own group-commit item ran (measured by the item, on the
/// writer's task).
pub(crate) fn item_ran(start: Instant, end: Instant) {
    update(|s| {
        s.item_start = Some(start);
        s.item_end = Some(end);
    });
}

/// One stage's figures over a measurement, in µs.
#[derive(Debug, Clone, PartialEq)]
pub struct StageFigures {
    pub stage: Stage,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
    /// The mean over the submissions whose total is at or above the totals' 99th percentile:
    /// what the slowest 1 % spent in this stage.
    pub tail_mean: f64,
}

/// The nearest-rank percentile `p` of sorted values.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Each stage's figures over `samples` (empty when there are none).
pub fn summarize(samples: &[Sample]) -> Vec<StageFigures> {
    if samples.is_empty() {
        return Vec::new();
    }
    let total = Stage::ALL.len() - 1;
    let mut totals: Vec<u64> = samples.iter().map(|s| s[total]).collect();
    totals.sort_unstable();
    let p99_total = percentile(&totals, 99.0);
    let tail: Vec<&Sample> = samples.iter().filter(|s| s[total] >= p99_total).collect();
    let mean = |v: &mut dyn Iterator<Item = u64>, n: usize| {
        v.map(|x| x as f64).sum::<f64>() / n.max(1) as f64
    };
    Stage::ALL
        .iter()
        .enumerate()
        .map(|(i, &stage)| {
            let mut v: Vec<u64> = samples.iter().map(|s| s[i]).collect();
            v.sort_unstable();
            StageFigures {
                stage,
                mean: mean(&mut v.iter().copied(), v.len()),
                p50: percentile(&v, 50.0),
                p90: percentile(&v, 90.0),
                p99: percentile(&v, 99.0),
                max: v.last().copied().unwrap_or(0),
                tail_mean: mean(&mut tail.iter().map(|s| s[i]), tail.len()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_sample_is_the_time_between_marks_and_needs_every_mark() {
        let t0 = Instant::now();
        let at = |us: u64| t0 + Duration::from_micros(us);
        let mut m = Marks {
            start: Some(at(0)),
            parsed: Some(at(10)),
            queued: Some(at(30)),
            item_start: Some(at(60)),
            item_end: Some(at(100)),
            answered: Some(at(150)),
            receipt: None,
        };
        assert_eq!(m.sample(at(300)), None, "a step not reached: no sample");
        m.receipt = Some(at(210));
        assert_eq!(m.sample(at(300)), Some([10, 20, 30, 40, 50, 60, 90, 300]));
    }

    #[test]
    fn figures_and_the_slowest_percent() {
        // 100 submissions: totals 1..=100 ms, all in the queue except 1 ms of checks; the
        // slowest (100 ms) spent 99 ms queued.
        let samples: Vec<Sample> = (1..=100u64)
            .map(|t| [0, 1_000, (t - 1) * 1_000, 0, 0, 0, 0, t * 1_000])
            .collect();
        let f = summarize(&samples);
        assert_eq!(f.len(), Stage::ALL.len());
        let queue = &f[2];
        assert_eq!(queue.stage, Stage::Queue);
        assert_eq!((queue.p50, queue.p99, queue.max), (49_000, 98_000, 99_000));
        assert!((queue.mean - 49_500.0).abs() < 1e-9);
        // p99 of the totals is 99 ms: the tail holds the 99 ms and 100 ms submissions.
        assert!(
            (queue.tail_mean - 98_500.0).abs() < 1e-9,
            "{}",
            queue.tail_mean
        );
        assert!((f[1].tail_mean - 1_000.0).abs() < 1e-9);
        assert!(summarize(&[]).is_empty());
    }

    #[tokio::test]
    async fn only_a_measurement_keeps_samples_and_only_complete_ones() {
        let run = || {
            timed(async {
                for m in [Mark::Parsed, Mark::Queued] {
                    mark(m);
                }
                let t = Instant::now();
                item_ran(t, t);
                for m in [Mark::Answered, Mark::Receipt] {
                    mark(m);
                }
            })
        };
        run().await;
        start();
        run().await;
        timed(async { mark(Mark::Parsed) }).await;
        run().await;
        let kept = stop();
        run().await;
        assert_eq!(kept.len(), 2, "two complete submissions while measuring");
        assert!(stop().is_empty());
        // Outside a submission's scope a mark is ignored.
        mark(Mark::Parsed);
    }
}
