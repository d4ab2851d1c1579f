//! Group commit (ghi gộp giao dịch): concurrent writers hand their work to one writer task,
//! which runs whatever has queued up in one write transaction — each item inside its own
//! savepoint, so an item that fails is undone (rows, audit entries, outbox events) and reported
//! to its caller while the others stand — and answers every caller only after the commit.
//!
//! Why: on SQLite every write transaction queues for the one writer connection anyway, and
//! under load the time goes to the hand-over of that connection between tasks, `BEGIN`,
//! reading and storing the audit chain's head and `COMMIT`, once per request. Items that queued
//! while the previous batch ran now share all of that. Items run in arrival order, so their
//! audit entries chain in that order; a batch of one runs without a savepoint.
//!
//! On a SQLite file a batch of [`Db::write_grouped_native`](crate::Db::write_grouped_native)
//! items runs in a native transaction ([`crate::Tx`], see [`crate::exec`]): its statements run
//! on the writer task's thread instead of being handed to sqlx's worker thread one by one.
//! Items of [`Db::write_grouped`](crate::Db::write_grouped) get a sqlx [`WriteTx`]; there, a
//! batch holds items of one kind only (the first item of the other kind starts the next
//! batch), so arrival order still holds. On PostgreSQL (or with native writes off) every batch
//! is a [`WriteTx`] and both kinds share it.
//!
//! Use [`Db::write_grouped_native`](crate::Db::write_grouped_native) (or
//! [`Db::write_grouped`](crate::Db::write_grouped) for sqlx items). The item must do all its reads and
//! checks before (it holds up every other writer while it runs) and only write in the
//! transaction; it must never wait for another write (`write_grouped`, `begin_write`), which
//! could only run after its own batch. A caller that goes away (a dropped request) does not
//! withdraw its item: it is written and committed like the others.

use crate::db::{Backend, DbError, WriteTx};
use crate::exec::{NativeWriter, Tx};
use sqlx::AnyPool;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// What an item's write returns: a future borrowing the shared transaction.
pub type ItemFuture<'t, T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 't>>;

/// Items in one transaction at most (the others wait for the next one).
pub const MAX_BATCH: usize = 128;

/// A batch smaller than this waits for more items (at most [`GATHER_YIELDS`] yields, and only
/// while items keep arriving).
const GATHER_UP_TO: usize = 16;

/// Yields of the writer task while gathering a small batch.
const GATHER_YIELDS: usize = 2;

type BoolFuture<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

/// One caller's item, type-erased for the queue.
trait Work: Send {
    /// Whether it needs a sqlx [`WriteTx`] ([`crate::Db::write_grouped`]).
    fn sqlx_only(&self) -> bool;
    /// Write the item in `tx`; `true` when it succeeded (its savepoint is then kept).
    fn write<'a>(&'a mut self, tx: &'a mut Tx) -> BoolFuture<'a>;
    /// Answer the caller once the batch's fate is known (`Err`: the batch was not committed).
    fn answer(self: Box<Self>, batch: Result<(), &str>);
}

/// An item of [`crate::Db::write_grouped_native`]: written through a [`Tx`].
struct Item<T, E, F> {
    f: Option<F>,
    result: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

/// An item of [`crate::Db::write_grouped`]: written through a [`WriteTx`].
struct SqlxItem<T, E, F>(Item<T, E, F>);

impl<T, E, F> Work for Item<T, E, F>
where
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
    F: for<'t> FnOnce(&'t mut Tx) -> ItemFuture<'t, T, E> + Send + 'static,
{
    fn sqlx_only(&self) -> bool {
        false
    }

    fn write<'a>(&'a mut self, tx: &'a mut Tx) -> BoolFuture<'a> {
        Box::pin(async move {
            let Some(f) = self.f.take() else {
                return false;
            };
            let r = f(tx).await;
            let ok = r.is_ok();
            self.result = Some(r);
            ok
        })
    }

    fn answer(self: Box<Self>, batch: Result<(), &str>) {
        (*self).answer_with(batch);
    }
}

impl<T, E, F> Work for SqlxItem<T, E, F>
where
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
    F: for<'t> FnOnce(&'t mut WriteTx) -> ItemFuture<'t, T, E> + Send + 'static,
{
    fn sqlx_only(&self) -> bool {
        true
    }

    fn write<'a>(&'a mut self, tx: &'a mut Tx) -> BoolFuture<'a> {
        Box::pin(async move {
            let Some(f) = self.0.f.take() else {
                return false;
            };
            let r = match tx.as_write_tx() {
                Some(tx) => f(tx).await,
                // The writer task never puts it in a native batch.
                None => Err(E::from(DbError::Invalid(
                    "group commit: a sqlx item in a native transaction".into(),
                ))),
            };
            let ok = r.is_ok();
            self.0.result = Some(r);
            ok
        })
    }

    fn answer(self: Box<Self>, batch: Result<(), &str>) {
        self.0.answer_with(batch);
    }
}

impl<T, E: From<DbError>, F> Item<T, E, F> {
    fn answer_with(self, batch: Result<(), &str>) {
        let this = self;
        let out = match (this.result, batch) {
            // The item's own failure: nothing of it was written either way.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), Ok(())) => Ok(v),
            (_, Err(why)) => Err(E::from(DbError::Invalid(format!(
                "group commit: the transaction failed: {why}"
            )))),
            (None, Ok(())) => Err(E::from(DbError::Invalid(
                "group commit: the item was not written".into(),
            ))),
        };
        let _ = this.reply.send(out);
    }
}

/// What the writer task needs to open write transactions (no [`crate::Db`], so that dropping
/// the last `Db` closes the queue and ends the task).
#[derive(Clone)]
pub(crate) struct Opener {
    pub(crate) backend: Backend,
    pub(crate) writer: AnyPool,
    pub(crate) outbox_notify: Arc<tokio::sync::Notify>,
    /// The native writer of a SQLite file: batches of native items run through it.
    pub(crate) native: Option<Arc<NativeWriter>>,
}

/// The group committer of one database, held by its [`crate::Db`].
pub(crate) struct Group {
    opener: Opener,
    queue: Mutex<Option<mpsc::Sender<Box<dyn Work>>>>,
    stats: Arc<Stats>,
}

/// Transactions and items written so far, and the time spent (µs) opening them, writing their
/// items and committing them.
#[derive(Default)]
struct Stats {
    batches: AtomicU64,
    items: AtomicU64,
    begin_us: AtomicU64,
    write_us: AtomicU64,
    commit_us: AtomicU64,
}

/// The group committer's work so far ([`crate::Db::group_times`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupTimes {
    /// Transactions (batches) written.
    pub batches: u64,
    /// µs from asking for the writer to the transaction open (`BEGIN`).
    pub begin_us: u64,
    /// µs writing the batches' items, savepoints included.
    pub write_us: u64,
    /// µs committing.
    pub commit_us: u64,
}

/// Add the µs since `since` to `to`.
fn add_since(to: &AtomicU64, since: Instant) {
    let us = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
    to.fetch_add(us, Ordering::Relaxed);
}

impl Group {
    pub(crate) fn new(opener: Opener) -> Self {
        Self {
            opener,
            queue: Mutex::new(None),
            stats: Arc::default(),
        }
    }

    /// (transactions, items) written so far.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (
            self.stats.batches.load(Ordering::Relaxed),
            self.stats.items.load(Ordering::Relaxed),
        )
    }

    /// Batches so far and the time spent in their steps.
    pub(crate) fn times(&self) -> GroupTimes {
        let s = &self.stats;
        GroupTimes {
            batches: s.batches.load(Ordering::Relaxed),
            begin_us: s.begin_us.load(Ordering::Relaxed),
            write_us: s.write_us.load(Ordering::Relaxed),
            commit_us: s.commit_us.load(Ordering::Relaxed),
        }
    }

    /// Items queued and not yet taken by the writer (0 when no writer runs).
    pub(crate) fn queued(&self) -> usize {
        let q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        q.as_ref()
            .filter(|s| !s.is_closed())
            .map_or(0, |s| s.max_capacity() - s.capacity())
    }

    /// The queue of the running writer task, started (again) when there is none: the first
    /// use, or after the task ended with its runtime.
    fn sender(&self) -> mpsc::Sender<Box<dyn Work>> {
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = q.as_ref().filter(|s| !s.is_closed()) {
            return s.clone();
        }
        let (s, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(self.opener.clone(), self.stats.clone(), rx));
        *q = Some(s.clone());
        s
    }

    /// Queue `f` and wait until its batch is committed (or `f` failed).
    pub(crate) async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> ItemFuture<'t, T, E> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let item = Item {
            f: Some(f),
            result: None,
            reply,
        };
        self.queue_and_wait(Box::new(item), answer).await
    }

    /// [`Group::write`] for an item that needs a sqlx [`WriteTx`].
    pub(crate) async fn write_sqlx<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: for<'t> FnOnce(&'t mut WriteTx) -> ItemFuture<'t, T, E> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let item = SqlxItem(Item {
            f: Some(f),
            result: None,
            reply,
        });
        self.queue_and_wait(Box::new(item), answer).await
    }

    async fn queue_and_wait<T, E: From<DbError>>(
        &self,
        item: Box<dyn Work>,
        answer: oneshot::Receiver<Result<T, E>>,
    ) -> Result<T, E> {
        let stopped = || E::from(DbError::Invalid("group commit: the writer stopped".into()));
        self.sender().send(item).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The writer task: take the first queued item, then whatever else is queued (up to
/// [`MAX_BATCH`], and on a SQLite file written natively only items of the first one's kind),
/// write them in one transaction, answer them all, repeat.
async fn run(opener: Opener, stats: Arc<Stats>, mut rx: mpsc::Receiver<Box<dyn Work>>) {
    let mut batch: Vec<Box<dyn Work>> = Vec::with_capacity(MAX_BATCH);
    // An item of the other kind, taken from the queue: the first of the next batch.
    let mut next: Option<Box<dyn Work>> = None;
    loop {
        let first = match next.take() {
            Some(w) => w,
            None => match rx.recv().await {
                Some(w) => w,
                None => break,
            },
        };
        let native = opener.native.is_some() && !first.sqlx_only();
        batch.push(first);
        // Gather (gom lô): while the batch is small and items keep coming, let the callers
        // that are ready run first (a yield, not a timer) — each commit costs more than an
        // item, so a writer that loops too fast writes many small batches.
        let mut yields = 0;
        loop {
            let before = batch.len();
            while batch.len() < MAX_BATCH && next.is_none() {
                match rx.try_recv() {
                    Ok(w) if opener.native.is_some() && w.sqlx_only() == native => {
                        next = Some(w);
                    }
                    Ok(w) => batch.push(w),
                    Err(_) => break,
                }
            }
            if next.is_some()
                || batch.len() >= GATHER_UP_TO
                || yields == GATHER_YIELDS
                || (yields > 0 && batch.len() == before)
            {
                break;
            }
            yields += 1;
            tokio::task::yield_now().await;
        }
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.items.fetch_add(batch.len() as u64, Ordering::Relaxed);
        let outcome = write_batch(&opener, &stats, native, &mut batch).await;
        if let Err(e) = &outcome {
            tracing::error!(error = %e, items = batch.len(), "group commit failed");
        }
        let why = outcome.as_ref().err().map(ToString::to_string);
        for w in batch.drain(..) {
            w.answer(match &why {
                None => Ok(()),
                Some(m) => Err(m),
            });
        }
    }
}

async fn write_batch(
    opener: &Opener,
    stats: &Stats,
    native: bool,
    batch: &mut [Box<dyn Work>],
) -> Result<(), DbError> {
    let t = Instant::now();
    let mut tx = Tx::begin_group(opener, native).await?;
    add_since(&stats.begin_us, t);
    let t = Instant::now();
    if let [only] = batch {
        // Alone: a failure rolls the whole transaction back (dropped), no savepoint needed.
        if only.write(&mut tx).await {
            add_since(&stats.write_us, t);
            let t = Instant::now();
            tx.commit().await?;
            add_since(&stats.commit_us, t);
        }
        return Ok(());
    }
    // Each item behind its own savepoint; on SQLite, releasing one and opening the next is one
    // call (`release_and_reopen`: one round trip through sqlx, or natively no hand-over at
    // all), so a batch of n items costs n + 1 of them, not 2n.
    let last = batch.len().saturating_sub(1);
    let mut sp = tx.savepoint().await?;
    for (i, w) in batch.iter_mut().enumerate() {
        if w.write(&mut tx).await {
            if i == last {
                tx.release(sp).await?;
                break;
            }
            sp = tx.release_and_reopen(sp).await?;
        } else {
            tx.rollback_to(sp).await?;
            if i == last {
                break;
            }
            sp = tx.savepoint().await?;
        }
    }
    add_since(&stats.write_us, t);
    let t = Instant::now();
    tx.commit().await?;
    add_since(&stats.commit_us, t);
    Ok(())
}
