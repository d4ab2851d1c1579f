//! The verification pipeline shared by every reader: a reader (one database snapshot, rows in
//! `seq` order) fills [`Batch`]es of consecutive rows; hasher threads check each batch on its
//! own (its internal links and every entry's own hash); [`join`] then checks the joins
//! between consecutive batches (batch k's last entry against batch k+1's first) and reports
//! the lowest broken link, exactly as a single walk in `seq` order would.
//!
//! A reader may also split the trail into consecutive `seq` ranges ([`Part`]s) read at the
//! same time (in one shared snapshot); parts are joined exactly like batches.

use super::{digest, BrokenLink, GENESIS_HASH};
use crate::db::DbError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use tokio::sync::mpsc as tmpsc;

/// Text fields of a row, in column order after `seq` and `at`.
pub(super) const TEXT_FIELDS: usize = 9;
const PREV_HASH: usize = 7;
const HASH: usize = 8;

/// Upper bound on the bytes buffered in one batch (large summaries make fewer rows per batch).
const BATCH_BYTES: usize = 4 << 20;
/// Batches queued per hasher thread.
const QUEUE: usize = 2;

/// One row: `seq`, `at` and where its text fields end in [`Batch::data`].
#[derive(Debug, Clone, Copy)]
struct RowMeta {
    seq: i64,
    at: i64,
    start: usize,
    ends: [usize; TEXT_FIELDS],
}

/// Consecutive rows, their text fields packed in one buffer.
#[derive(Debug, Default)]
pub(super) struct Batch {
    index: usize,
    rows: Vec<RowMeta>,
    data: Vec<u8>,
}

impl Batch {
    /// Append a row; `fields` are actor, action, target_type, target_id, scope, request_id,
    /// summary, prev_hash and hash, as stored.
    pub(super) fn push(&mut self, seq: i64, at: i64, fields: [&[u8]; TEXT_FIELDS]) {
        let start = self.data.len();
        let mut ends = [0usize; TEXT_FIELDS];
        for (end, f) in ends.iter_mut().zip(fields) {
            self.data.extend_from_slice(f);
            *end = self.data.len();
        }
        self.rows.push(RowMeta {
            seq,
            at,
            start,
            ends,
        });
    }

    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    fn is_full(&self, rows: usize) -> bool {
        self.rows.len() >= rows || self.data.len() >= BATCH_BYTES
    }

    fn field(&self, r: &RowMeta, i: usize) -> &[u8] {
        let from = if i == 0 { r.start } else { r.ends[i - 1] };
        &self.data[from..r.ends[i]]
    }

    fn clear(&mut self) {
        self.rows.clear();
        self.data.clear();
    }
}

/// Why a row breaks the chain (the reasons are those of a walk in `seq` order).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// The row's seq is not the one after the previous row's.
    Missing { expected: i64 },
    /// Its prev_hash is not the previous row's hash.
    Link,
    /// Its content does not hash to its stored hash.
    Edited,
}

/// What a hasher found in one batch.
#[derive(Debug)]
struct Outcome {
    index: usize,
    count: usize,
    first_seq: i64,
    first_prev_hash: Vec<u8>,
    last_seq: i64,
    last_hash: Vec<u8>,
    /// The first problem inside: the row's position (entries before it), its seq and why.
    /// The first row's links to what comes before are checked by [`join`], not here.
    problem: Option<(usize, i64, Kind)>,
}

/// The checked outcome of one `seq` range (`None`: no entries in it).
#[derive(Debug)]
pub(super) struct Part(Option<Outcome>);

fn own_hash_matches(b: &Batch, r: &RowMeta) -> bool {
    let d = digest(
        r.seq,
        r.at,
        [
            b.field(r, 0),
            b.field(r, 1),
            b.field(r, 2),
            b.field(r, 3),
            b.field(r, 4),
            b.field(r, 5),
            b.field(r, 6),
            b.field(r, PREV_HASH),
        ],
    );
    let mut hex_buf = [0u8; 64];
    // 32 bytes always fit in 64 hex digits.
    hex::encode_to_slice(d, &mut hex_buf).is_ok() && b.field(r, HASH) == hex_buf
}

fn check(b: &Batch) -> Option<Outcome> {
    let first = b.rows.first()?;
    let last = b.rows.last()?;
    let mut problem = None;
    for (i, r) in b.rows.iter().enumerate() {
        if i > 0 {
            let p = &b.rows[i - 1];
            if r.seq != p.seq + 1 {
                problem = Some((
                    i,
                    r.seq,
                    Kind::Missing {
                        expected: p.seq + 1,
                    },
                ));
                break;
            }
            if b.field(r, PREV_HASH) != b.field(p, HASH) {
                problem = Some((i, r.seq, Kind::Link));
                break;
            }
        }
        if !own_hash_matches(b, r) {
            problem = Some((i, r.seq, Kind::Edited));
            break;
        }
    }
    Some(Outcome {
        index: b.index,
        count: b.rows.len(),
        first_seq: first.seq,
        first_prev_hash: b.field(first, PREV_HASH).to_vec(),
        last_seq: last.seq,
        last_hash: b.field(last, HASH).to_vec(),
        problem,
    })
}

/// Where the walk ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Walk {
    pub entries_checked: i64,
    /// The first broken link, if the walk found one.
    pub broken: Option<BrokenLink>,
    /// Seq and hash of the last entry (0 and the genesis hash for an empty trail).
    pub last_seq: i64,
    pub last_hash: Vec<u8>,
}

fn reason(kind: &Kind, seq: i64) -> String {
    match kind {
        Kind::Missing { expected } => {
            format!("entries {expected}..{} are missing (deleted)", seq - 1)
        }
        Kind::Link => "prev_hash does not link to the previous entry".into(),
        Kind::Edited => "content does not match its hash (entry edited)".into(),
    }
}

fn worker_failed() -> DbError {
    DbError::Invalid("audit verification: a worker thread failed".into())
}

/// Chain `next` after `acc`: check the links between them (in the order of a walk) and keep
/// the first problem. Returns false once there is a problem (later outcomes cannot matter).
fn extend(acc: &mut Outcome, next: Outcome) -> bool {
    if acc.problem.is_some() {
        return false;
    }
    let kind = if next.first_seq != acc.last_seq + 1 {
        Some(Kind::Missing {
            expected: acc.last_seq + 1,
        })
    } else if next.first_prev_hash != acc.last_hash {
        Some(Kind::Link)
    } else {
        None
    };
    if let Some(kind) = kind {
        acc.problem = Some((acc.count, next.first_seq, kind));
        return false;
    }
    if let Some((at, seq, kind)) = next.problem {
        acc.problem = Some((acc.count + at, seq, kind));
        return false;
    }
    acc.count += next.count;
    acc.last_seq = next.last_seq;
    acc.last_hash = next.last_hash;
    true
}

/// Join the outcomes of `batches` consecutive batches (in any order) into one.
fn join(mut outcomes: Vec<Outcome>, batches: usize) -> Result<Part, DbError> {
    outcomes.sort_by_key(|o| o.index);
    let mut acc: Option<Outcome> = None;
    let mut next = 0usize;
    for o in outcomes {
        if o.index != next {
            return Err(worker_failed());
        }
        next += 1;
        match acc.as_mut() {
            None => acc = Some(o),
            Some(a) => {
                if !extend(a, o) {
                    break;
                }
            }
        }
    }
    // Batches after a broken one may be left unread (see `Hashers::should_stop`); without a
    // break, every batch must be there.
    if acc.as_ref().is_none_or(|a| a.problem.is_none()) && next != batches {
        return Err(worker_failed());
    }
    Ok(Part(acc))
}

/// Join consecutive parts, starting from the genesis, into the result of the whole walk.
pub(super) fn walk(parts: Vec<Part>) -> Walk {
    let mut acc = Outcome {
        index: 0,
        count: 0,
        first_seq: 0,
        first_prev_hash: Vec::new(),
        last_seq: 0,
        last_hash: GENESIS_HASH.as_bytes().to_vec(),
        problem: None,
    };
    for Part(o) in parts {
        if let Some(o) = o {
            if !extend(&mut acc, o) {
                break;
            }
        }
    }
    match acc.problem {
        Some((at, seq, kind)) => Walk {
            entries_checked: at as i64,
            broken: Some(BrokenLink {
                seq,
                reason: reason(&kind, seq),
            }),
            last_seq: 0,
            last_hash: Vec::new(),
        },
        None => Walk {
            entries_checked: acc.count as i64,
            broken: None,
            last_seq: acc.last_seq,
            last_hash: acc.last_hash,
        },
    }
}

/// Hasher threads fed by a reader. The reader calls [`Hashers::add`] (then
/// [`Hashers::send`]) or [`Hashers::push_blocking`] for every row, in `seq` order, then
/// [`Hashers::finish`] or [`Hashers::finish_blocking`].
pub(super) struct Hashers {
    senders: Vec<tmpsc::Sender<Batch>>,
    outcomes: tmpsc::UnboundedReceiver<Outcome>,
    recycled: mpsc::Receiver<Batch>,
    /// The lowest batch index with a problem inside it: later batches need not be read.
    stop: Arc<AtomicUsize>,
    current: Batch,
    batch_rows: usize,
    sent: usize,
}

impl Hashers {
    pub(super) fn new(threads: usize, batch_rows: usize) -> Result<Self, DbError> {
        let threads = threads.max(1);
        let (outcome_tx, outcomes) = tmpsc::unbounded_channel();
        let (recycle_tx, recycled) = mpsc::channel::<Batch>();
        let stop = Arc::new(AtomicUsize::new(usize::MAX));
        let mut senders = Vec::with_capacity(threads);
        for n in 0..threads {
            let (tx, mut rx) = tmpsc::channel::<Batch>(QUEUE);
            let outcome_tx = outcome_tx.clone();
            let recycle_tx = recycle_tx.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("audit-verify-{n}"))
                .spawn(move || {
                    while let Some(mut batch) = rx.blocking_recv() {
                        if let Some(o) = check(&batch) {
                            if o.problem.is_some() {
                                stop.fetch_min(o.index, Ordering::Relaxed);
                            }
                            if outcome_tx.send(o).is_err() {
                                return;
                            }
                        }
                        batch.clear();
                        let _ = recycle_tx.send(batch);
                    }
                })
                .map_err(|e| DbError::Invalid(format!("audit verification: {e}")))?;
            senders.push(tx);
        }
        Ok(Self {
            senders,
            outcomes,
            recycled,
            stop,
            current: Batch::default(),
            batch_rows: batch_rows.max(1),
            sent: 0,
        })
    }

    /// True once a batch already handed over has a broken link: the rest of the trail cannot
    /// change the report, so the reader may stop.
    pub(super) fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed) < self.sent
    }

    /// Add a row (in `seq` order). Returns the batch to hand over with [`Hashers::send`] when
    /// this row filled it.
    pub(super) fn add(&mut self, seq: i64, at: i64, fields: [&[u8]; TEXT_FIELDS]) -> Option<Batch> {
        self.current.push(seq, at, fields);
        if !self.current.is_full(self.batch_rows) {
            return None;
        }
        let fresh = self.recycled.try_recv().unwrap_or_default();
        let mut full = std::mem::replace(&mut self.current, fresh);
        full.index = self.sent;
        self.sent += 1;
        Some(full)
    }

    fn sender(&self, index: usize) -> Result<&tmpsc::Sender<Batch>, DbError> {
        self.senders
            .get(index % self.senders.len().max(1))
            .ok_or_else(worker_failed)
    }

    /// Hand a full batch to its hasher, from async code. (`&mut self`: the future stays
    /// `Send`, since `Hashers` is not `Sync`.)
    pub(super) async fn send(&mut self, batch: Batch) -> Result<(), DbError> {
        self.sender(batch.index)?
            .send(batch)
            .await
            .map_err(|_| worker_failed())
    }

    /// Hand a full batch to its hasher, from a blocking thread (not from async code).
    pub(super) fn send_blocking(&self, batch: Batch) -> Result<(), DbError> {
        self.sender(batch.index)?
            .blocking_send(batch)
            .map_err(|_| worker_failed())
    }

    /// [`Hashers::add`] then [`Hashers::send_blocking`].
    pub(super) fn push_blocking(
        &mut self,
        seq: i64,
        at: i64,
        fields: [&[u8]; TEXT_FIELDS],
    ) -> Result<(), DbError> {
        match self.add(seq, at, fields) {
            Some(full) => self.send_blocking(full),
            None => Ok(()),
        }
    }

    /// Hand over the last, partly filled batch and close the queues; returns what is needed
    /// to collect the result with [`Pending::part`].
    fn close(mut self) -> (Vec<tmpsc::Sender<Batch>>, Option<Batch>, Pending) {
        let last = if self.current.len() > 0 {
            let mut b = std::mem::take(&mut self.current);
            b.index = self.sent;
            self.sent += 1;
            Some(b)
        } else {
            None
        };
        let pending = Pending {
            outcomes: self.outcomes,
            batches: self.sent,
        };
        (self.senders, last, pending)
    }

    /// [`Hashers::close`] for a blocking reader.
    pub(super) fn finish_blocking(self) -> Result<Pending, DbError> {
        let (senders, last, pending) = self.close();
        if let Some(b) = last {
            let i = b.index % senders.len().max(1);
            if let Some(s) = senders.get(i) {
                let _ = s.blocking_send(b);
            }
        }
        Ok(pending)
    }

    /// [`Hashers::close`] for async code.
    pub(super) async fn finish(self) -> Result<Pending, DbError> {
        let (senders, last, pending) = self.close();
        if let Some(b) = last {
            let i = b.index % senders.len().max(1);
            if let Some(s) = senders.get(i) {
                let _ = s.send(b).await;
            }
        }
        Ok(pending)
    }
}

/// Outcomes still arriving from the hasher threads.
pub(super) struct Pending {
    outcomes: tmpsc::UnboundedReceiver<Outcome>,
    batches: usize,
}

impl Pending {
    /// Wait for every hasher (they stop when their queue is closed and empty) and join.
    pub(super) async fn part(mut self) -> Result<Part, DbError> {
        let mut all = Vec::with_capacity(self.batches);
        while let Some(o) = self.outcomes.recv().await {
            all.push(o);
        }
        join(all, self.batches)
    }

    /// [`Pending::part`] for a blocking caller.
    pub(super) fn part_blocking(mut self) -> Result<Part, DbError> {
        let mut all = Vec::with_capacity(self.batches);
        while let Some(o) = self.outcomes.blocking_recv() {
            all.push(o);
        }
        join(all, self.batches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<(i64, i64, Vec<String>)> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let f: Vec<String> = vec![
                    "a".into(),
                    "b".into(),
                    "c".into(),
                    format!("t{seq}"),
                    "s".into(),
                    "r".into(),
                    "{}".into(),
                    prev.clone(),
                ];
                let h = super::super::entry_hash(
                    seq, 7, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7],
                );
                prev = h.clone();
                let mut all = f;
                all.push(h);
                (seq, 7, all)
            })
            .collect()
    }

    fn part(rows: &[(i64, i64, Vec<String>)], batch: usize) -> Part {
        let mut h = Hashers::new(2, batch).unwrap();
        for (seq, at, f) in rows {
            let fields: [&[u8]; TEXT_FIELDS] = std::array::from_fn(|i| f[i].as_bytes());
            h.push_blocking(*seq, *at, fields).unwrap();
        }
        h.finish_blocking().unwrap().part_blocking().unwrap()
    }

    /// The walk with the rows split into parts at `cuts` (positions), each in batches.
    fn walk_split(rows: &[(i64, i64, Vec<String>)], batch: usize, cuts: &[usize]) -> Walk {
        let mut parts = Vec::new();
        let mut from = 0;
        for &c in cuts.iter().chain([&rows.len()]) {
            parts.push(part(&rows[from..c.max(from)], batch));
            from = c.max(from);
        }
        super::walk(parts)
    }

    fn walk(rows: &[(i64, i64, Vec<String>)], batch: usize) -> Walk {
        walk_split(rows, batch, &[])
    }

    #[test]
    fn same_report_for_every_batch_size() {
        let rows = chain(40);
        let whole = walk(&rows, 1000);
        assert_eq!(whole.broken, None);
        assert_eq!(whole.entries_checked, 40);
        assert_eq!(whole.last_seq, 40);
        for b in [1, 2, 3, 7, 10, 39, 40, 41] {
            assert_eq!(walk(&rows, b), whole, "batch {b}");
            assert_eq!(walk_split(&rows, b, &[0, 13, 13, 27]), whole, "batch {b}");
        }
        let mut edited = rows.clone();
        edited[19].2[0] = "x".into(); // seq 20
        let mut gap = rows.clone();
        gap.remove(9); // seq 10
        let mut relinked = rows.clone();
        relinked[30].2[7] = "0".repeat(64); // seq 31
        for (case, seq) in [(edited, 20), (gap, 11), (relinked, 31)] {
            let whole = walk(&case, 1000);
            assert_eq!(whole.broken.as_ref().map(|b| b.seq), Some(seq));
            for b in [1, 2, 3, 9, 10, 11, 19, 20, 21, 30, 31] {
                assert_eq!(walk(&case, b), whole, "batch {b}, break at {seq}");
                for cuts in [
                    &[0][..],
                    &[5],
                    &[9, 10],
                    &[19],
                    &[20, 21],
                    &[30, 30, 35],
                    &[39],
                ] {
                    assert_eq!(
                        walk_split(&case, b, cuts),
                        whole,
                        "batch {b}, parts cut at {cuts:?}, break at {seq}"
                    );
                }
            }
        }
    }

    #[test]
    fn empty_trail() {
        let w = walk(&[], 10);
        assert_eq!(w.entries_checked, 0);
        assert_eq!(w.last_seq, 0);
        assert_eq!(w.last_hash, GENESIS_HASH.as_bytes());
    }
}
