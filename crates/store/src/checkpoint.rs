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

use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// How often the checkpoint thread looks for new commits.
pub(crate) const INTERVAL: Duration = Duration::from_millis(200);

/// The writer's own automatic checkpoint (`PRAGMA wal_autocheckpoint`, pages) while the
/// thread runs: only when the thread falls behind (SQLite's default is 1,000).
pub(crate) const WRITER_BACKSTOP_PAGES: u32 = 10_000;

/// Stop flag and its wake-up.
type Stop = Arc<(Mutex<bool>, Condvar)>;

/// The checkpoint thread of one database file; stopped when dropped or closed.
pub(crate) struct Checkpointer {
    stop: Stop,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Checkpointer {
    /// Start the thread for the SQLite file at `url`; `None` for a database in memory or when
    /// the thread cannot start (the writer then checkpoints, as SQLite does by default).
    pub(crate) fn start(url: &str) -> Option<Self> {
        let path = crate::audit::sqlite_file_of(url)?;
        let stop: Stop = Arc::default();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("tinhso-wal-checkpoint".into())
            .spawn(move || run(path, &flag));
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
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
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

/// The thread: every [`INTERVAL`], a passive checkpoint if someone committed since the last.
fn run(path: PathBuf, stop: &Stop) {
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
    let mut seen: Option<i64> = None;
    let (stopped, wake) = &**stop;
    loop {
        {
            let guard = stopped.lock().unwrap_or_else(PoisonError::into_inner);
            let (guard, _) = wake
                .wait_timeout_while(guard, INTERVAL, |s| !*s)
                .unwrap_or_else(PoisonError::into_inner);
            if *guard {
                return;
            }
        }
        let version = conn.query_row("PRAGMA data_version", [], |r| r.get::<_, i64>(0));
        match version {
            Ok(v) if seen != Some(v) => {
                seen = Some(v);
                // (busy, pages in the log, pages copied); busy when another checkpoint runs.
                if let Err(e) =
                    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0))
                {
                    tracing::debug!(error = %e, "WAL checkpoint skipped");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "WAL checkpoint thread: data_version"),
        }
    }
}
