//! A per-statement time profile of SQLite (profil thời gian từng câu lệnh SQL), off by default.
//!
//! With `TINHSO_SQL_PROFILE=/path/file.tsv` set when a SQLite [`crate::Db`] is opened (or after
//! [`start`]), every SQLite connection the process opens from then on — sqlx's pooled ones,
//! the native readers and writer (`native.rs`, `exec.rs`) and the checkpointer's — reports each
//! statement it runs: SQLite's `sqlite3_trace_v2` calls back when a statement starts
//! (`SQLITE_TRACE_STMT`) and when it ends (`SQLITE_TRACE_PROFILE`). The profile adds up, per
//! statement text and per bucket ([`mark`]: the simulator starts one per simulated day), the
//! calls, the wall time between start and end (monotonic clock, ns), the longest call, and
//! SQLite's own work counters of the statement (`sqlite3_stmt_status`: virtual machine steps,
//! full-scan steps, sorts, automatic indexes), which do not depend on the machine's load: a
//! statement whose steps per call grow from day to day reads more as the data grows.
//! [`dump`] writes the whole profile as TSV (also done by [`crate::Db::close`]).
//!
//! Off (the default), nothing is registered with SQLite and nothing runs: no cost at all.
//! The hook is process-wide (`sqlite3_auto_extension`) because sqlx's `Any` pool gives its
//! `after_connect` hook no way to the `sqlite3` handle; connections opened before [`start`]
//! are not profiled. PostgreSQL is not profiled (use `pg_stat_statements` there).
//!
//! Statement text is normalised before it is reported: whitespace collapsed, `$n` written `?`,
//! a list of two parameters or more `?, ?, …` written `?…`, and repeated identical row tuples
//! `(…), (…)` written once (multi-row inserts of any size are one line).
//!
//! The only `unsafe` of the crate is here: the two C callbacks and the calls into SQLite's C
//! API they need, each with the reason it is sound.
#![allow(unsafe_code)]

use crate::db::DbError;
use rusqlite::ffi;
use std::collections::HashMap;
use std::ffi::CStr;
use std::io::Write;
use std::os::raw::{c_char, c_int, c_uint, c_void};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

/// The environment variable naming the TSV file of the profile.
pub const ENV: &str = "TINHSO_SQL_PROFILE";

/// One statement's totals in one bucket.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub calls: u64,
    /// Wall time from the statement's first step to its end (last step, reset or finalize).
    pub total_ns: u64,
    pub max_ns: u64,
    /// SQLite virtual machine steps (`SQLITE_STMTSTATUS_VM_STEP`), triggers included.
    pub vm_steps: u64,
    /// Steps of full table or index scans (`SQLITE_STMTSTATUS_FULLSCAN_STEP`).
    pub fullscan_steps: u64,
    /// Sorts (`SQLITE_STMTSTATUS_SORT`).
    pub sorts: u64,
    /// Rows put in automatic (transient) indexes (`SQLITE_STMTSTATUS_AUTOINDEX`).
    pub autoindex_rows: u64,
    /// Pages the connection read into its page cache since its previous statement ended
    /// (`SQLITE_DBSTATUS_CACHE_MISS`; pages read through the memory map by a read-only
    /// transaction are not counted by SQLite).
    pub cache_misses: u64,
    /// Pages the connection wrote since its previous statement ended
    /// (`SQLITE_DBSTATUS_CACHE_WRITE`: a `COMMIT`'s pages to the write-ahead log).
    pub pages_written: u64,
}

impl Stat {
    fn add(&mut self, o: &Stat) {
        self.calls += o.calls;
        self.total_ns += o.total_ns;
        self.max_ns = self.max_ns.max(o.max_ns);
        self.vm_steps += o.vm_steps;
        self.fullscan_steps += o.fullscan_steps;
        self.sorts += o.sorts;
        self.autoindex_rows += o.autoindex_rows;
        self.cache_misses += o.cache_misses;
        self.pages_written += o.pages_written;
    }
}

struct State {
    path: Option<PathBuf>,
    /// The current bucket's label and its statements by raw SQL text.
    bucket: String,
    current: HashMap<String, Stat>,
    /// Closed buckets, in order.
    done: Vec<(String, HashMap<String, Stat>)>,
    /// Start time of each running statement, by its `sqlite3_stmt` address.
    started: HashMap<usize, Instant>,
}

fn state() -> &'static Mutex<State> {
    static STATE: OnceLock<Mutex<State>> = OnceLock::new();
    STATE.get_or_init(|| {
        Mutex::new(State {
            path: None,
            bucket: "start".into(),
            current: HashMap::new(),
            done: Vec::new(),
            started: HashMap::new(),
        })
    })
}

fn lock() -> MutexGuard<'static, State> {
    // A panic while holding the lock leaves plain counters: keep using them.
    state().lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether the profile is on (set once, never turned off: connections keep their hook).
static ON: OnceLock<()> = OnceLock::new();

/// Whether the profile is on in this process.
pub fn is_on() -> bool {
    ON.get().is_some()
}

/// Start the profile if [`ENV`] names a file (empty: off). Called by [`crate::Db::connect`]
/// before it opens a SQLite database.
pub fn start_from_env() -> Result<bool, DbError> {
    match std::env::var_os(ENV) {
        Some(p) if !p.is_empty() => start(Path::new(&p)).map(|()| true),
        _ => Ok(false),
    }
}

/// Profile every SQLite connection opened from now on; [`dump`] writes to `path` (a later
/// call only changes the file).
pub fn start(path: &Path) -> Result<(), DbError> {
    if path.as_os_str().is_empty() || path.is_dir() {
        return Err(DbError::Invalid(format!(
            "{ENV}: {} is not a file name",
            path.display()
        )));
    }
    lock().path = Some(path.to_path_buf());
    if ON.get().is_none() {
        // SAFETY: `on_open` has the signature SQLite calls auto-extensions with; it opens no
        // database, closes none and does not touch the list of auto-extensions (the three
        // conditions of `register_auto_extension`). Registering twice is a no-op in SQLite.
        unsafe { rusqlite::auto_extension::register_auto_extension(on_open) }
            .map_err(|e| DbError::Invalid(format!("{ENV}: cannot hook SQLite connections: {e}")))?;
        let _ = ON.set(());
    }
    Ok(())
}

/// Close the current bucket and start one named `label` (e.g. `day 3`). Nothing when off.
pub fn mark(label: &str) {
    if !is_on() {
        return;
    }
    let mut s = lock();
    let current = std::mem::take(&mut s.current);
    let old = std::mem::replace(&mut s.bucket, label.to_string());
    if !current.is_empty() {
        s.done.push((old, current));
    }
}

/// Every bucket's statements, normalised, in bucket order; within one, by total time, longest
/// first.
pub fn snapshot() -> Vec<(String, Vec<(String, Stat)>)> {
    // Copied, then normalised without the lock (statements wait on it).
    let buckets: Vec<(String, HashMap<String, Stat>)> = {
        let s = lock();
        let mut b = s.done.clone();
        b.push((s.bucket.clone(), s.current.clone()));
        b
    };
    let mut out = Vec::new();
    for (label, stats) in &buckets {
        let mut merged: HashMap<String, Stat> = HashMap::new();
        for (sql, st) in stats {
            merged.entry(normalise(sql)).or_default().add(st);
        }
        if merged.is_empty() {
            continue;
        }
        let mut rows: Vec<(String, Stat)> = merged.into_iter().collect();
        rows.sort_by(|a, b| b.1.total_ns.cmp(&a.1.total_ns).then(a.0.cmp(&b.0)));
        out.push((label.clone(), rows));
    }
    out
}

/// Write the profile to its file (the whole profile so far, replacing the file): one line per
/// bucket and statement, tab-separated, with a header line. Nothing when off.
pub fn dump() -> Result<(), DbError> {
    if !is_on() {
        return Ok(());
    }
    // One dump at a time (they share the file beside the profile).
    static DUMPING: Mutex<()> = Mutex::new(());
    let _one = DUMPING.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(path) = lock().path.clone() else {
        return Ok(());
    };
    let mut text = String::from(
        "bucket\tcalls\ttotal_ns\tmax_ns\tmean_ns\tvm_steps_per_call\tfullscan_steps\tsorts\tautoindex_rows\tcache_misses\tpages_written\tstatement\n",
    );
    for (label, rows) in snapshot() {
        for (sql, st) in rows {
            let calls = st.calls.max(1);
            text.push_str(&format!(
                "{label}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{sql}\n",
                st.calls,
                st.total_ns,
                st.max_ns,
                st.total_ns / calls,
                st.vm_steps / calls,
                st.fullscan_steps,
                st.sorts,
                st.autoindex_rows,
                st.cache_misses,
                st.pages_written,
            ));
        }
    }
    // Written beside the file, then renamed over it: a reader never sees half a profile.
    let io = |e: std::io::Error| DbError::Invalid(format!("{ENV}: {}: {e}", path.display()));
    let mut tmp = path.clone().into_os_string();
    tmp.push(".part");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(())
}

/// The statement text a profile line stands for (see the module's documentation).
pub fn normalise(sql: &str) -> String {
    // Whitespace collapsed, `$n` → `?`.
    let mut s = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if !s.is_empty() {
                s.push(' ');
            }
        } else if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            s.push('?');
        } else {
            s.push(c);
        }
    }
    let s = s.trim_end().to_string();
    collapse_runs(&collapse_runs(&s, "?"), "")
}

/// Collapse runs of `item, item, …` separated by `,` (spaces optional) into `item…`. With an
/// empty `item`, the runs are of identical parenthesised groups `(…)`, written once (one row
/// or many: the same statement).
fn collapse_runs(s: &str, item: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while !rest.is_empty() {
        let unit = if item.is_empty() {
            group_at(rest)
        } else {
            rest.starts_with(item).then_some(item)
        };
        let Some(unit) = unit else {
            let mut it = rest.chars();
            if let Some(c) = it.next() {
                out.push(c);
            }
            rest = it.as_str();
            continue;
        };
        let mut after = &rest[unit.len()..];
        let mut repeated = false;
        loop {
            let next = after.trim_start_matches(' ');
            let Some(next) = next.strip_prefix(',') else {
                break;
            };
            let next = next.trim_start_matches(' ');
            if next.starts_with(unit) && (item.is_empty() || !continues_word(&next[unit.len()..])) {
                after = &next[unit.len()..];
                repeated = true;
            } else {
                break;
            }
        }
        out.push_str(unit);
        if repeated && !item.is_empty() {
            out.push('…');
        }
        rest = after;
    }
    out
}

/// Whether `s` goes on with what would make the `?` before it part of a longer token.
fn continues_word(s: &str) -> bool {
    s.starts_with(|c: char| c.is_alphanumeric() || c == '_')
}

/// The parenthesised group `(…)` at the start of `s` (nested parentheses matched), if any.
fn group_at(s: &str) -> Option<&str> {
    if !s.starts_with('(') {
        return None;
    }
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&s[..=i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// The auto-extension SQLite runs for every connection it opens: hook the connection's trace.
unsafe extern "C" fn on_open(
    db: *mut ffi::sqlite3,
    _err: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: `db` is the connection being opened, valid for this call; `on_trace` has the
    // callback signature `sqlite3_trace_v2` expects and uses no context pointer.
    unsafe {
        ffi::sqlite3_trace_v2(
            db,
            (ffi::SQLITE_TRACE_STMT | ffi::SQLITE_TRACE_PROFILE) as c_uint,
            Some(on_trace),
            std::ptr::null_mut(),
        );
    }
    ffi::SQLITE_OK
}

/// SQLite's trace callback: `p` is the statement; `x` its text (start) or its elapsed
/// nanoseconds (end).
unsafe extern "C" fn on_trace(
    event: c_uint,
    _ctx: *mut c_void,
    p: *mut c_void,
    x: *mut c_void,
) -> c_int {
    let now = Instant::now();
    let stmt = p.cast::<ffi::sqlite3_stmt>();
    if stmt.is_null() {
        return 0;
    }
    if event == ffi::SQLITE_TRACE_STMT as c_uint {
        // A trigger's program starting reports a text beginning with `--`: the statement
        // itself is already timed.
        // SAFETY: for SQLITE_TRACE_STMT, `x` is a NUL-terminated string SQLite owns for the
        // duration of the callback (or null).
        let trigger = !x.is_null()
            && unsafe { CStr::from_ptr(x.cast::<c_char>()) }
                .to_bytes()
                .starts_with(b"--");
        if !trigger {
            lock().started.insert(stmt as usize, now);
        }
        return 0;
    }
    if event != ffi::SQLITE_TRACE_PROFILE as c_uint {
        return 0;
    }
    // SAFETY: for SQLITE_TRACE_PROFILE, `p` is a live statement of the connection and `x`
    // points to its elapsed time as a 64-bit integer; `sqlite3_sql` returns the statement's
    // text, valid while the statement lives (this call); `sqlite3_stmt_status` and
    // `sqlite3_db_status` only read (and reset) counters of the statement and of its
    // connection (`sqlite3_db_handle`, open while its statement is).
    let (sqlite_ns, sql, counters) = unsafe {
        let ns = if x.is_null() { 0 } else { *x.cast::<i64>() };
        let text = ffi::sqlite3_sql(stmt);
        if text.is_null() {
            return 0;
        }
        let counter = |op: c_int| ffi::sqlite3_stmt_status(stmt, op, 1).max(0) as u64;
        let db = ffi::sqlite3_db_handle(stmt);
        let db_counter = |op: c_int| {
            let (mut cur, mut high) = (0, 0);
            if db.is_null() || ffi::sqlite3_db_status(db, op, &mut cur, &mut high, 1) != 0 {
                return 0;
            }
            cur.max(0) as u64
        };
        (
            ns,
            CStr::from_ptr(text),
            [
                counter(ffi::SQLITE_STMTSTATUS_VM_STEP),
                counter(ffi::SQLITE_STMTSTATUS_FULLSCAN_STEP),
                counter(ffi::SQLITE_STMTSTATUS_SORT),
                counter(ffi::SQLITE_STMTSTATUS_AUTOINDEX),
                db_counter(ffi::SQLITE_DBSTATUS_CACHE_MISS),
                db_counter(ffi::SQLITE_DBSTATUS_CACHE_WRITE),
            ],
        )
    };
    let sql = sql.to_string_lossy();
    let mut s = lock();
    // SQLite's own figure has millisecond resolution: only when the start was not seen.
    let ns = match s.started.remove(&(stmt as usize)) {
        Some(t0) => u64::try_from(now.duration_since(t0).as_nanos()).unwrap_or(u64::MAX),
        None => sqlite_ns.max(0) as u64,
    };
    let one = Stat {
        calls: 1,
        total_ns: ns,
        max_ns: ns,
        vm_steps: counters[0],
        fullscan_steps: counters[1],
        sorts: counters[2],
        autoindex_rows: counters[3],
        cache_misses: counters[4],
        pages_written: counters[5],
    };
    match s.current.get_mut(sql.as_ref()) {
        Some(st) => st.add(&one),
        None => {
            s.current.insert(sql.into_owned(), one);
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_collapses_parameters_and_rows() {
        assert_eq!(
            normalise("SELECT a\n   FROM t WHERE id = $1 AND b IN ($2, $3,$4)"),
            "SELECT a FROM t WHERE id = ? AND b IN (?…)"
        );
        assert_eq!(
            normalise("INSERT INTO t (a, b) VALUES ($1, $2, 0), ($3, $4, 0), ($5, $6, 0)"),
            "INSERT INTO t (a, b) VALUES (?…, 0)"
        );
        assert_eq!(
            normalise("INSERT INTO t (a, b) VALUES (?, ?)"),
            normalise("INSERT INTO t (a, b) VALUES (?, ?), (?, ?)")
        );
        // Different groups stay apart; a lone `?` is kept.
        assert_eq!(normalise("f(x), f(y) ?"), "f(x), f(y) ?");
    }
}
