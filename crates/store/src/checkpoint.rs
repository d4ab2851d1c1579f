//! WAL checkpoints off the writer (điểm kiểm tra WAL ngoài luồng ghi), SQLite only.
//!
//! SQLite copies the write-ahead log back into the database file (a checkpoint: the pages,
//! then an `fsync` of the log and one of the file) in the connection that commits once the log
//! holds 1,000 pages. That connection is the one writer, so every write queued behind it —
//! every group-commit batch — waited for the copy and the two `fsync`s (measured on the
//! development machine: 1–31 ms per `fsync`, in the writer's thread, about every 250
//! submissions). Here a thread of its own, with a connection of its own, runs a passive
//! checkpoint ([`INTERVAL`]) whenever another connection has committed since the last one
//! (`PRAGMA data_version`); a passive checkpoint never waits for the writer or the readers,
//! and the writer goes on appending to the log meanwhile. The writer keeps SQLite's own
//! checkpoint only as a backstop, at [`WRITER_BACKSTOP_PAGES`]. `TINHSO_SQLITE_BACKGROUND_CHECKPOINT=0`
//! leaves checkpoints to the writer, as before.
//!
//! **Starting the log again (bắt đầu lại nhật ký).** SQLite writes the log from its beginning
//! again only when a write begins while every page of the log is already in the database file.
//! Under a steady stream of commits that never happens by itself: each passive checkpoint copies
//! the log as it was when the checkpoint began, and the writer has appended more by the time it
//! ends. The log then grew to the writer's backstop, and the writer's own checkpoint — the
//! pages of the last round and two `fsync`s, 30–60 ms in the writer's thread — held up every
//! write behind it (the p99 of submissions under load). So once the log holds
//! [`RESTART_AT_PAGES`], the thread catches up without stopping anyone, writes what it copied
//! to the disk, then takes the one-writer permit (`exec::NativeWriter::permit`) for one last
//! checkpoint of the few pages left, SQLite's `RESTART`: it waits (at most [`READERS_WAIT`])
//! for readers that still read pages from the log and starts the log again itself. Writers
//! wait only for those few pages and readers.

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often the checkpoint thread looks for new commits.
pub(crate) const INTERVAL: Duration = Duration::from_millis(200);

/// The shortest wait between two rounds. While the log grows, the thread looks again when it
/// should reach the size at which it is started again (at the rate it grew since the round
/// before), between this and [`INTERVAL`]: under a stream of commits the log grows by
/// [`RESTART_AT_PAGES`] in a fraction of [`INTERVAL`], and checking more often than needed
/// costs two `fsync`s a round.
const SHORTEST_INTERVAL: Duration = Duration::from_millis(20);

/// The wait before the next round: until a log of `log` pages, growing at `pages_per_sec`,
/// reaches `restart_at` pages, within [`SHORTEST_INTERVAL`]..=[`INTERVAL`].
fn next_pause(log: i64, restart_at: i64, pages_per_sec: f64) -> Duration {
    if pages_per_sec <= 0.0 || !pages_per_sec.is_finite() {
        return INTERVAL;
    }
    let secs = (restart_at - log).max(0) as f64 / pages_per_sec;
    Duration::from_secs_f64(secs.min(INTERVAL.as_secs_f64())).max(SHORTEST_INTERVAL)
}

/// The writer's own automatic checkpoint (`PRAGMA wal_autocheckpoint`, pages) while the
/// thread runs: only when the thread falls behind (SQLite's default is 1,000).
pub(crate) const WRITER_BACKSTOP_PAGES: u32 = 10_000;

/// Pages in the log (16 MiB) past which the thread has the log started again (see the module
/// documentation); well under [`WRITER_BACKSTOP_PAGES`].
pub(crate) const RESTART_AT_PAGES: i64 = 4_096;

/// Pages left to copy at which the thread stops catching up and takes the one-writer permit
/// for the rest (1 MiB: a short wait for the writers).
const CATCH_UP_PAGES: i64 = 256;

/// Passive checkpoints at most, without the permit, to catch up before taking it.
const CATCH_UP_ROUNDS: usize = 8;

/// The one-writer permit of a SQLite file (`exec::NativeWriter::permit`).
pub(crate) type WritePermit = Arc<tokio::sync::Mutex<()>>;

/// Stop flag and its wake-ups: the condition variable for the pauses between rounds, the
/// [`tokio::sync::Notify`] for a wait for the one-writer permit (which must end when the
/// database is closed: the task that closes it may hold a write transaction itself).
#[derive(Default)]
struct StopSignal {
    stopped: Mutex<bool>,
    wake: Condvar,
    wake_async: tokio::sync::Notify,
}

impl StopSignal {
    fn is_set(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

type Stop = Arc<StopSignal>;

/// The checkpoint thread of one database file; stopped when dropped or closed.
pub(crate) struct Checkpointer {
    stop: Stop,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Checkpointer {
    /// Start the thread for the SQLite file at `url`; `None` for a database in memory or when
    /// the thread cannot start (the writer then checkpoints, as SQLite does by default).
    /// `permit`: the one-writer permit every write transaction holds (`None` when writes do not
    /// take one; the log is then started again only when the writers pause by themselves).
    pub(crate) fn start(url: &str, permit: Option<WritePermit>) -> Option<Self> {
        let path = crate::audit::sqlite_file_of(url)?;
        let stop: Stop = Arc::default();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("tinhso-wal-checkpoint".into())
            .spawn(move || run(path, &flag, permit.as_ref()));
        match thread {
            Ok(t) => Some(Self {
                stop,
                thread: Mutex::new(Some(t)),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint thread not started; the writer checkpoints");
                None
            }
        }
    }

    fn signal(&self) {
        *self
            .stop
            .stopped
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.stop.wake.notify_all();
        self.stop.wake_async.notify_waiters();
    }

    /// Stop the thread and wait until its connection is closed.
    pub(crate) async fn close(&self) {
        self.signal();
        let t = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = t {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.signal();
    }
}

/// What a passive checkpoint reports.
#[derive(Debug, Clone, Copy)]
struct Copied {
    /// Another checkpoint (the writer's backstop) held SQLite's checkpoint lock: nothing was
    /// done, and the page counts are -1.
    busy: bool,
    /// Pages in the log (since it was last started again).
    log: i64,
    /// Pages of it now in the database file.
    copied: i64,
}

/// `PRAGMA wal_checkpoint(<mode>)`: (busy, pages in the log, pages copied).
fn checkpoint(conn: &Connection, pragma: &str) -> rusqlite::Result<Copied> {
    conn.query_row(pragma, [], |r| {
        Ok(Copied {
            busy: r.get::<_, i64>(0)? != 0,
            log: r.get(1)?,
            copied: r.get(2)?,
        })
    })
}

/// A passive checkpoint: it never waits for the writer or the readers; busy when another
/// checkpoint runs.
fn passive(conn: &Connection) -> rusqlite::Result<Copied> {
    checkpoint(conn, "PRAGMA wal_checkpoint(PASSIVE)")
}

/// The last checkpoint of [`copy_all`], with the one-writer permit held: the rest of the log,
/// then SQLite's `RESTART` — it waits ([`readers_busy`], at most [`READERS_WAIT`]) until no
/// reader still reads pages from the log, and starts the log again itself. A passive
/// checkpoint left that to the writer's next commit, which cannot start the log again while a
/// reader that began before the checkpoint ended still reads it: under a stream of look-ups it
/// often could not, the log grew past the writer's backstop, and the writer's own checkpoint
/// (40–60 ms) held up every write (docs/benchmarks.md, twentieth round). `busy` when a reader
/// kept it longer: the pages are copied all the same and the log goes on from its end.
fn restart(conn: &Connection) -> rusqlite::Result<Copied> {
    checkpoint(conn, "PRAGMA wal_checkpoint(RESTART)")
}

/// The longest wait of [`restart`] for the readers of the log, with the writers waiting too.
const READERS_WAIT: Duration = Duration::from_millis(10);

/// The wait between two looks at the readers in [`restart`].
const READERS_POLL: Duration = Duration::from_micros(100);

/// SQLite's busy handler of the thread's connection (only [`restart`] waits: a passive
/// checkpoint never calls it): look again every [`READERS_POLL`], until [`READERS_WAIT`].
fn readers_busy(calls: i32) -> bool {
    let waited = READERS_POLL * u32::try_from(calls).unwrap_or(u32::MAX);
    if waited >= READERS_WAIT {
        return false;
    }
    std::thread::sleep(READERS_POLL);
    true
}

/// Wait for the one-writer permit on this (non-async) thread, or until the thread is told to
/// stop: `None` then. A plain `blocking_lock` could wait for ever when the task closing the
/// database holds a write transaction (the close waits for this thread).
fn permit_unless_stopped<'a>(
    waiter: &tokio::runtime::Runtime,
    permit: &'a WritePermit,
    stop: &StopSignal,
) -> Option<tokio::sync::MutexGuard<'a, ()>> {
    waiter.block_on(async {
        let stopping = stop.wake_async.notified();
        tokio::pin!(stopping);
        // Registered before the flag is read: a stop signalled in between still wakes it.
        stopping.as_mut().enable();
        if stop.is_set() {
            return None;
        }
        tokio::select! {
            guard = permit.lock() => Some(guard),
            () = stopping => None,
        }
    })
}

/// Write what the catch-up rounds left in the operating system's cache to the disk
/// (`fdatasync` of the database file, then of the log), before the one-writer permit is taken.
/// The last checkpoint, with the permit held, ends with an `fsync` of each. Passive rounds that
/// stop short of the log's end do not sync the database file, so without this the `fsync` under
/// the permit would write every page the catch-up copied (megabytes) while the writers wait.
/// Errors are only logged: SQLite's own `fsync`s still follow.
fn flush_to_disk(path: &Path) {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    for file in [path.as_os_str(), wal.as_os_str()] {
        let synced = std::fs::OpenOptions::new()
            .read(true)
            .open(file)
            .and_then(|f| f.sync_data());
        if let Err(e) = synced {
            tracing::debug!(error = %e, file = ?file, "WAL checkpoint: early fdatasync failed");
        }
    }
}

/// Copy all of a long log into the database file and start it again: passive checkpoints while
/// more than [`CATCH_UP_PAGES`] are left, then [`restart`] with the one-writer permit held, so
/// that nothing is appended meanwhile. Without the permit (the thread is stopping) the last
/// round is skipped.
fn copy_all(
    conn: &Connection,
    path: &Path,
    permit: &WritePermit,
    waiter: &tokio::runtime::Runtime,
    stop: &StopSignal,
    mut last: Copied,
) -> rusqlite::Result<Copied> {
    for _ in 0..CATCH_UP_ROUNDS {
        let next = passive(conn)?;
        if next.busy {
            // The writer checkpoints itself: its next commit starts the log again anyway.
            return Ok(next);
        }
        let appended = next.log - last.log;
        last = next;
        if appended <= CATCH_UP_PAGES {
            break;
        }
    }
    flush_to_disk(path);
    let Some(_writers_wait) = permit_unless_stopped(waiter, permit, stop) else {
        return Ok(last);
    };
    let held = Instant::now();
    let done = restart(conn)?;
    tracing::debug!(
        held_us = held.elapsed().as_micros() as u64,
        log = done.log,
        copied = done.copied,
        "WAL checkpoint: the last pages copied with the one-writer permit held"
    );
    if done.busy || done.copied < done.log {
        // A reader still reads an older state of the file: the log goes on from its end.
        tracing::debug!(
            log = done.log,
            copied = done.copied,
            "WAL checkpoint: a reader keeps the log from starting again"
        );
    }
    Ok(done)
}

/// The thread: every [`INTERVAL`], a passive checkpoint if someone committed since the last;
/// past [`RESTART_AT_PAGES`] in the log, [`copy_all`].
fn run(path: PathBuf, stop: &Stop, permit: Option<&WritePermit>) {
    let conn = match Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "WAL checkpoint thread: cannot open the database");
            return;
        }
    };
    if let Err(e) = conn.busy_handler(Some(readers_busy)) {
        tracing::debug!(error = %e, "WAL checkpoint thread: no busy handler; the log is started again only when no reader reads it");
    }
    // The permit, with where the wait for it runs (a runtime of this thread alone, no I/O).
    // Without that runtime the thread goes on as without the permit.
    let permit = permit.and_then(|p| {
        match tokio::runtime::Builder::new_current_thread().build() {
            Ok(rt) => Some((p, rt)),
            Err(e) => {
                tracing::warn!(error = %e,
                    "WAL checkpoint thread: no runtime to wait for the writer; the log is started again only when the writers pause");
                None
            }
        }
    });
    let mut seen: Option<i64> = None;
    // The log size at which to copy it all next: when a reader kept the writer from starting
    // the log again, not at every round after (each costs the writers a short wait).
    let mut restart_at = RESTART_AT_PAGES;
    let mut last_log = 0;
    let mut pause = INTERVAL;
    let mut last_round = Instant::now();
    loop {
        {
            let guard = stop.stopped.lock().unwrap_or_else(PoisonError::into_inner);
            let (guard, _) = stop
                .wake
                .wait_timeout_while(guard, pause, |s| !*s)
                .unwrap_or_else(PoisonError::into_inner);
            if *guard {
                return;
            }
        }
        let version = conn.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0));
        match version {
            Ok(v) if seen != Some(v) => {
                seen = Some(v);
                let done = passive(&conn).and_then(|c| {
                    if c.busy {
                        pause = INTERVAL;
                        return Ok(c);
                    }
                    let grew = if c.log < last_log {
                        // Started again since the last round.
                        restart_at = RESTART_AT_PAGES;
                        c.log
                    } else {
                        c.log - last_log
                    };
                    let rate = grew as f64 / last_round.elapsed().as_secs_f64();
                    last_round = Instant::now();
                    last_log = c.log;
                    let done = match &permit {
                        Some((p, waiter)) if c.log >= restart_at => {
                            restart_at = c.log + RESTART_AT_PAGES / 2;
                            copy_all(&conn, &path, p, waiter, stop, c)
                        }
                        _ => Ok(c),
                    };
                    // Without the permit the log is not started again here: no hurry.
                    pause = match permit {
                        Some(_) => next_pause(c.log, restart_at, rate),
                        None => INTERVAL,
                    };
                    done
                });
                if let Err(e) = done {
                    tracing::debug!(error = %e, "WAL checkpoint skipped");
                }
            }
            Ok(_) => pause = INTERVAL,
            Err(e) => tracing::debug!(error = %e, "WAL checkpoint thread: data_version"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_round_comes_when_the_log_should_reach_its_restart_size() {
        // 2,000 pages to go at 20,000 pages a second: 100 ms.
        assert_eq!(
            next_pause(2_096, 4_096, 20_000.0),
            Duration::from_millis(100)
        );
        // Idle, or far from it: the usual interval.
        assert_eq!(next_pause(0, 4_096, 0.0), INTERVAL);
        assert_eq!(next_pause(0, 4_096, 100.0), INTERVAL);
        // Past it, or about to be: the shortest wait.
        assert_eq!(next_pause(5_000, 4_096, 20_000.0), SHORTEST_INTERVAL);
        assert_eq!(next_pause(4_000, 4_096, 20_000.0), SHORTEST_INTERVAL);
    }
}
