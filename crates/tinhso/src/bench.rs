//! Benchmarks (đo hiệu năng): commands that print throughput, p50/p99 latency and peak memory.
//!
//! `tinhso bench kernel` works on a throw-away database (a SQLite file in a new temporary
//! directory, or a new PostgreSQL database `tinhso_bench_<uuid>` that is dropped at the end),
//! starts the real web server in-process on 127.0.0.1 and measures:
//!
//! 1. authenticated API reads (`GET /api/v1/agencies/{code}/staff` with a bearer token) and a
//!    public list (`GET /api/v1/agencies`) from N concurrent keep-alive HTTP/1.1 clients;
//! 2. audit appends: one transaction per append (1 writer, then W concurrent writers) and
//!    batched (many appends per transaction: a few transactions of `WriteTx::audit` calls,
//!    then `WriteTx::audit_many` until the chain is long enough);
//! 3. verification of the whole hash chain, with a breakdown (hasher threads, the portable
//!    reader, hashing alone) when it is slower than one million entries per second.
//!
//! Every phase is bounded in time and in count; all traffic goes to 127.0.0.1.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tinhso_identity::Permission;
use tinhso_store::audit::{self, Ctx, NewAuditEntry};
use tinhso_store::Db;

/// PostgreSQL server used by `--backend postgres|both` when no postgres URL is given.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432";

/// Verification speed below which the breakdown (fetch / decode / hash) is printed.
const VERIFY_TARGET_PER_SEC: f64 = 1_000_000.0;

/// Which database engines to benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    Sqlite,
    Postgres,
    /// SQLite, then PostgreSQL.
    Both,
}

/// Benchmark subcommands.
#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Kernel: authenticated API reads, audit appends and chain verification.
    Kernel(KernelArgs),
    /// Services: dossier submissions with an attachment, status look-ups over HTTP, and the
    /// Decision 766 indicators over many dossiers.
    Services(ServicesArgs),
    /// Exchange hub: signed, logged exchanges per second on loopback with p50/p99 latency, and
    /// outbox events published to NATS JetStream per second.
    Exchange(crate::bench_exchange::ExchangeArgs),
    /// Border gate: camera events ingested and matched per second (batches and single-event
    /// latency), queue-position reads per second, plate-matching accuracy on generated
    /// misreads, and 30 simulated days end to end.
    Border(crate::bench_border::BorderArgs),
    /// The leaders' operations centre: every indicator on its screen and the communes map over
    /// two years of synthetic dossiers and border traffic, cold and warm, beside DuckDB.
    Targets(crate::bench_targets::TargetsArgs),
}

/// Options of `tinhso bench kernel`.
#[derive(Debug, Clone, clap::Args)]
pub struct KernelArgs {
    /// `postgres://user@host:port`: a fresh database `tinhso_bench_<uuid>` is created on that
    /// server and dropped at the end. `sqlite://path`: a new SQLite file (must not exist).
    /// Default: a fresh SQLite file in a temporary directory, removed at the end.
    #[arg(long)]
    pub database_url: Option<String>,
    /// sqlite, postgres or both (SQLite then PostgreSQL) [default: from --database-url, else
    /// sqlite].
    #[arg(long, value_enum)]
    pub backend: Option<BackendChoice>,
    /// PostgreSQL server for `--backend postgres|both` when --database-url is not a postgres URL.
    #[arg(long, env = "TINHSO_BENCH_PG_URL", default_value = DEFAULT_PG_URL)]
    pub pg_url: String,
    /// With several backends, run them all in this process (default: one child process per
    /// backend, so each one's memory figures are its own).
    #[arg(long)]
    pub same_process: bool,
    /// Concurrent HTTP clients (one keep-alive connection each).
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Measured seconds per API endpoint.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Warm-up seconds per API endpoint (not measured).
    #[arg(long, default_value_t = 2)]
    pub warmup_seconds: u64,
    /// Upper bound on measured requests per API endpoint.
    #[arg(long, default_value_t = 2_000_000)]
    pub max_requests: u64,
    /// Audit entries the chain holds at least when it is verified (batched appends fill up).
    #[arg(long, default_value_t = 100_000)]
    pub audit_entries: u64,
    /// Appends with one transaction each (run once by 1 writer, once split over --writers).
    #[arg(long, default_value_t = 5_000)]
    pub appends: u64,
    /// Concurrent writers for the one-transaction-per-append run.
    #[arg(long, default_value_t = 16)]
    pub writers: usize,
    /// Appends per transaction in the batched run.
    #[arg(long, default_value_t = 1_000)]
    pub batch: u64,
    /// Hard time limit of each audit phase, in seconds (the phase stops early and says so).
    #[arg(long, default_value_t = 300)]
    pub phase_limit_seconds: u64,
}

pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Kernel(args) => kernel(&args).await,
        BenchCommand::Services(args) => services(&args).await,
        BenchCommand::Exchange(args) => crate::bench_exchange::run(&args).await,
        BenchCommand::Border(args) => crate::bench_border::run(&args).await,
        BenchCommand::Targets(args) => crate::bench_targets::run(&args).await,
    }
}

// ---------------------------------------------------------------------------------------------
// Plan: which databases
// ---------------------------------------------------------------------------------------------

/// One database to benchmark.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// SQLite; `Some(path)` when the user named the (new) file.
    Sqlite(Option<PathBuf>),
    /// PostgreSQL server URL (any database path in it is ignored).
    Postgres(String),
}

fn is_pg(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn plan(args: &KernelArgs) -> anyhow::Result<Vec<Target>> {
    let url = args.database_url.as_deref();
    let sqlite_file = match url {
        Some(u) if u.starts_with("sqlite:") => {
            let path = u
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:")
                .split('?')
                .next()
                .unwrap_or_default();
            if path.is_empty() || path.contains(":memory:") {
                bail!("--database-url {u:?}: give a file path, e.g. sqlite:///tmp/bench.db");
            }
            let path = PathBuf::from(path);
            if path.exists() {
                bail!(
                    "--database-url: {} exists; the benchmark writes {}+ audit entries, so it \
                     only runs on a new file",
                    path.display(),
                    args.audit_entries
                );
            }
            Some(path)
        }
        Some(u) if is_pg(u) => None,
        Some(u) => bail!(
            "--database-url {:?} must start with postgres:// or sqlite://",
            crate::config::redact(u)
        ),
        None => None,
    };
    let pg_server = match url {
        Some(u) if is_pg(u) => u.to_string(),
        _ => args.pg_url.clone(),
    };
    if !is_pg(&pg_server) {
        bail!("--pg-url must start with postgres://");
    }
    let choice = args.backend.unwrap_or(match url {
        Some(u) if is_pg(u) => BackendChoice::Postgres,
        _ => BackendChoice::Sqlite,
    });
    if choice == BackendChoice::Sqlite && url.is_some_and(is_pg) {
        bail!("--backend sqlite contradicts a postgres --database-url");
    }
    if choice == BackendChoice::Postgres && sqlite_file.is_some() {
        bail!("--backend postgres contradicts a sqlite --database-url");
    }
    Ok(match choice {
        BackendChoice::Sqlite => vec![Target::Sqlite(sqlite_file)],
        BackendChoice::Postgres => vec![Target::Postgres(pg_server)],
        BackendChoice::Both => vec![Target::Sqlite(sqlite_file), Target::Postgres(pg_server)],
    })
}

fn check_args(args: &KernelArgs) -> anyhow::Result<()> {
    if !(1..=1024).contains(&args.clients) {
        bail!("--clients must be 1 to 1024");
    }
    if !(1..=600).contains(&args.seconds) || args.warmup_seconds > 60 {
        bail!("--seconds must be 1 to 600 and --warmup-seconds at most 60");
    }
    if args.max_requests == 0 {
        bail!("--max-requests must be at least 1");
    }
    if args.audit_entries > 10_000_000 || args.appends > 1_000_000 {
        bail!("--audit-entries is at most 10 000 000 and --appends at most 1 000 000");
    }
    if !(1..=256).contains(&args.writers) || !(1..=100_000).contains(&args.batch) {
        bail!("--writers must be 1 to 256 and --batch 1 to 100 000");
    }
    if !(1..=3600).contains(&args.phase_limit_seconds) {
        bail!("--phase-limit-seconds must be 1 to 3600");
    }
    Ok(())
}

/// `postgres://u@h:p/db?x=y` → (`postgres://u@h:p`, `?x=y`).
fn pg_server_parts(url: &str) -> anyhow::Result<(String, String)> {
    let (main, query) = match url.split_once('?') {
        Some((m, q)) => (m, format!("?{q}")),
        None => (url, String::new()),
    };
    let start = main.find("://").context("a postgres URL has ://")? + 3;
    let base = match main[start..].find('/') {
        Some(i) => &main[..start + i],
        None => main,
    };
    Ok((base.to_string(), query))
}

// ---------------------------------------------------------------------------------------------
// Throw-away resources
// ---------------------------------------------------------------------------------------------

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<Self> {
        let p =
            std::env::temp_dir().join(format!("tinhso-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&p).with_context(|| format!("cannot create {}", p.display()))?;
        Ok(Self(p))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn admin_exec(admin_url: &str, sql: &str) -> anyhow::Result<()> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect(admin_url)
        .await
        .with_context(|| format!("cannot connect to {}", crate::config::redact(admin_url)))?;
    let r = sqlx::query(sql).execute(&pool).await;
    pool.close().await;
    r.with_context(|| format!("{sql} on {}", crate::config::redact(admin_url)))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Statistics and memory
// ---------------------------------------------------------------------------------------------

/// Latency percentiles (nearest rank).
#[derive(Debug, Clone, Copy, Default)]
struct Lat {
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
}

fn lat_of(mut nanos: Vec<u64>) -> Lat {
    if nanos.is_empty() {
        return Lat::default();
    }
    nanos.sort_unstable();
    let at = |p: f64| {
        let rank = ((p * nanos.len() as f64).ceil() as usize).clamp(1, nanos.len());
        Duration::from_nanos(nanos[rank - 1])
    };
    Lat {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: at(1.0),
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn per_sec(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

/// `VmRSS` and `VmHWM` of this process, in KiB (Linux; zeros elsewhere).
pub(crate) fn memory_kib() -> (u64, u64) {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return (0, 0);
    };
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Reset the peak-RSS mark (`VmHWM`) so each backend reports its own peak.
pub(crate) fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

pub(crate) fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

/// One measured line.
#[derive(Debug, Clone)]
struct Line {
    key: &'static str,
    label: String,
    count: u64,
    rate: f64,
    unit: &'static str,
    lat: Lat,
    /// What the latency is per ("request", "append", "transaction").
    lat_of: &'static str,
    errors: u64,
    note: String,
}

/// Everything measured on one backend.
struct Report {
    backend: &'static str,
    description: String,
    prepare: Duration,
    lines: Vec<Line>,
    verify_profile: Option<String>,
    /// (after which phase, VmRSS KiB, VmHWM KiB).
    marks: Vec<(&'static str, u64, u64)>,
    rss_before: u64,
    rss_after: u64,
    /// Peak RSS from start-up to the end of verify.
    peak: u64,
    peak_reset: bool,
    /// `/proc/loadavg` (1, 5, 15 min) at the start and at the end.
    load_start: String,
    load_end: String,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn print_report(r: &Report) {
    println!();
    println!(
        "== tinhso bench kernel — {} ({}) ==",
        r.backend, r.description
    );
    println!(
        "machine: {} CPUs; load average {} at the start, {} at the end (client and server \
         share this process)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        r.load_start,
        r.load_end
    );
    println!(
        "prepare (migrations, reference data, demo accounts, token): {:.2} s",
        r.prepare.as_secs_f64()
    );
    println!(
        "{:<44} {:>9} {:>18} {:>11} {:>11} {:>11} {:>11} {:>6}",
        "measurement", "count", "throughput", "p50", "p90", "p99", "max", "errors"
    );
    for l in &r.lines {
        println!(
            "{:<44} {:>9} {:>18} {:>11} {:>11} {:>11} {:>11} {:>6}",
            l.label,
            l.count,
            format!("{:.0} {}", l.rate, l.unit),
            ms(l.lat.p50),
            ms(l.lat.p90),
            ms(l.lat.p99),
            ms(l.lat.max),
            l.errors
        );
        if !l.note.is_empty() {
            println!("    {}", l.note);
        }
    }
    if let Some(p) = &r.verify_profile {
        println!("{p}");
    }
    let marks: Vec<String> = r
        .marks
        .iter()
        .map(|(phase, rss, hwm)| format!("{phase} {} / {}", mib(*hwm), mib(*rss)))
        .collect();
    println!(
        "memory per phase (peak during, VmHWM / RSS at its end): {}",
        marks.join("; ")
    );
    println!(
        "memory: peak RSS {} (start-up to the end of verify); RSS before {}, after {}{}",
        mib(r.peak),
        mib(r.rss_before),
        mib(r.rss_after),
        if r.peak_reset {
            ""
        } else {
            " (VmHWM could not be reset: peaks are for the whole process)"
        }
    );
}

fn print_results(reports: &[Report]) {
    println!();
    println!("# results (one line per measurement, for docs/benchmarks.md)");
    for r in reports {
        for l in &r.lines {
            let lat = if l.key == "verify" {
                format!("total {}", ms(l.lat.max))
            } else {
                format!(
                    "p50 {}, p90 {}, p99 {}, max {} per {}",
                    ms(l.lat.p50),
                    ms(l.lat.p90),
                    ms(l.lat.p99),
                    ms(l.lat.max),
                    l.lat_of
                )
            };
            println!(
                "RESULT {} {}: {:.0} {} ({} in all), {lat}, errors {}",
                r.backend, l.key, l.rate, l.unit, l.count, l.errors
            );
        }
        println!(
            "RESULT {} memory: peak RSS {}, RSS before {}, after {}; load average {} -> {}",
            r.backend,
            mib(r.peak),
            mib(r.rss_before),
            mib(r.rss_after),
            r.load_start,
            r.load_end
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The benchmark
// ---------------------------------------------------------------------------------------------

async fn kernel(args: &KernelArgs) -> anyhow::Result<()> {
    check_args(args)?;
    let targets = plan(args)?;
    if targets.len() > 1 && !args.same_process {
        let mut results = Vec::new();
        for t in &targets {
            results.extend(run_child(t, args).await?);
        }
        println!();
        println!("# results, all backends (one line per measurement, for docs/benchmarks.md)");
        for r in results {
            println!("{r}");
        }
        return Ok(());
    }
    let mut reports = Vec::new();
    for t in &targets {
        let r = run_target(t, args).await?;
        print_report(&r);
        reports.push(r);
    }
    print_results(&reports);
    Ok(())
}

/// Run one backend in a child process (`tinhso bench kernel --backend …` with the same
/// settings), echo its report and return its `RESULT` lines.
async fn run_child(target: &Target, args: &KernelArgs) -> anyhow::Result<Vec<String>> {
    let exe = std::env::current_exe().context("cannot find the tinhso executable")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["bench", "kernel", "--backend"]);
    match target {
        Target::Sqlite(file) => {
            cmd.arg("sqlite");
            if let Some(f) = file {
                cmd.arg("--database-url")
                    .arg(format!("sqlite://{}", f.display()));
            }
        }
        Target::Postgres(url) => {
            // Through the environment, so a password does not show in the process list.
            cmd.arg("postgres").env("TINHSO_BENCH_PG_URL", url);
        }
    }
    for (flag, v) in [
        ("--clients", args.clients as u64),
        ("--seconds", args.seconds),
        ("--warmup-seconds", args.warmup_seconds),
        ("--max-requests", args.max_requests),
        ("--audit-entries", args.audit_entries),
        ("--appends", args.appends),
        ("--writers", args.writers as u64),
        ("--batch", args.batch),
        ("--phase-limit-seconds", args.phase_limit_seconds),
    ] {
        cmd.arg(flag).arg(v.to_string());
    }
    child_results(cmd).await
}

/// Run a benchmark child process, echo its report and return its `RESULT` lines.
async fn child_results(mut cmd: std::process::Command) -> anyhow::Result<Vec<String>> {
    use std::io::BufRead;
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    tokio::task::spawn_blocking(move || {
        let mut child = cmd
            .spawn()
            .context("cannot start the benchmark child process")?;
        let mut results = Vec::new();
        if let Some(out) = child.stdout.take() {
            let mut in_results = false;
            for line in std::io::BufReader::new(out).lines() {
                let line = line?;
                if line.starts_with("RESULT ") {
                    results.push(line);
                } else if line.starts_with("# results") {
                    in_results = true;
                } else if !in_results {
                    println!("{line}");
                }
            }
        }
        let status = child.wait()?;
        if !status.success() {
            bail!("the benchmark child process failed ({status})");
        }
        Ok(results)
    })
    .await?
}

/// Run `measure` on a throw-away database: a SQLite file in a new temporary directory (or the
/// file the target names), or a new PostgreSQL database `tinhso_bench_<uuid>`, dropped at the
/// end whatever `measure` returned. `measure` gets the database and the temporary directory;
/// the result comes back with the backend's name and a description of the database.
pub(crate) async fn on_scratch_db<T, F, Fut>(
    target: &Target,
    measure: F,
) -> anyhow::Result<(T, &'static str, String)>
where
    F: FnOnce(Db, PathBuf) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let dir = TempDir::new()?;
    let (url, description, pg, backend) = match target {
        Target::Sqlite(file) => {
            let path = file.clone().unwrap_or_else(|| dir.path().join("tinhso.db"));
            (
                format!("sqlite://{}", path.display()),
                format!("new file {}", path.display()),
                None,
                "sqlite",
            )
        }
        Target::Postgres(server) => {
            let (base, query) = pg_server_parts(server)?;
            let name = format!("tinhso_bench_{}", uuid::Uuid::new_v4().simple());
            let admin = format!("{base}/postgres{query}");
            admin_exec(&admin, &format!("CREATE DATABASE {name}")).await?;
            (
                format!("{base}/{name}{query}"),
                format!(
                    "new database {name} on {}, dropped at the end",
                    crate::config::redact(&base)
                ),
                Some((admin, name)),
                "postgres",
            )
        }
    };
    eprintln!("bench: {backend}: {description}");
    let result = async {
        let db = Db::connect(&url, &Default::default())
            .await
            .with_context(|| format!("cannot open {}", crate::config::redact(&url)))?;
        let r = measure(db.clone(), dir.path().to_path_buf()).await;
        db.close().await;
        r
    }
    .await;
    if let Some((admin, name)) = pg {
        if let Err(e) = admin_exec(
            &admin,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
        .await
        {
            eprintln!("bench: could not drop database {name}: {e:#} — drop it by hand");
        }
    }
    drop(dir);
    Ok((result?, backend, description))
}

async fn run_target(target: &Target, args: &KernelArgs) -> anyhow::Result<Report> {
    let load_start = loadavg();
    let peak_reset = reset_peak_rss();
    let (rss_before, _) = memory_kib();
    let (m, backend, description) =
        on_scratch_db(
            target,
            |db, dir| async move { measure(&db, &dir, args).await },
        )
        .await?;
    let (rss_after, _) = memory_kib();
    // The verify breakdown (a diagnostic that holds extra pages) is left out of the peak.
    let peak = m
        .marks
        .iter()
        .filter(|(phase, _, _)| *phase != "verify breakdown")
        .map(|(_, _, hwm)| *hwm)
        .max()
        .unwrap_or(0);
    Ok(Report {
        backend,
        description,
        prepare: m.prepare,
        lines: m.lines,
        verify_profile: m.verify_profile,
        marks: m.marks,
        rss_before,
        rss_after,
        peak,
        peak_reset,
        load_start,
        load_end: loadavg(),
    })
}

struct Measured {
    lines: Vec<Line>,
    prepare: Duration,
    verify_profile: Option<String>,
    marks: Vec<(&'static str, u64, u64)>,
}

/// Record RSS now and the peak since the last mark, then reset the peak for the next phase.
fn mark(marks: &mut Vec<(&'static str, u64, u64)>, phase: &'static str) {
    let (rss, hwm) = memory_kib();
    marks.push((phase, rss, hwm));
    reset_peak_rss();
}

async fn measure(db: &Db, dir: &Path, args: &KernelArgs) -> anyhow::Result<Measured> {
    let t = Instant::now();
    crate::prepare(db).await?;
    let files = tinhso_http::file_store(dir);
    crate::demo::load(
        db,
        tinhso_services::results::Issuing {
            files: &files,
            public_url: "http://localhost",
            tsa: None,
        },
    )
    .await?;
    let admin = tinhso_identity::accounts::get_by_username(db, "quantri")
        .await?
        .context("demo account quantri is missing")?;
    let agency = admin
        .agency_code
        .clone()
        .context("demo account quantri has no agency")?;
    let ctx = Ctx {
        actor: "cli:bench".into(),
        request_id: format!("bench-{}", uuid::Uuid::now_v7()),
    };
    let (token, _) = tinhso_identity::auth::create_token(
        db,
        &ctx,
        &admin.id,
        "bench",
        &[Permission::AgencyRead, Permission::UserRead],
        1,
    )
    .await?;
    let prepare = t.elapsed();
    let mut marks = Vec::new();
    mark(&mut marks, "prepare");

    let mut lines = Vec::new();
    // 1. API reads through the real server.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = tinhso_web::AppState::new(
        db.clone(),
        tinhso_web::WebConfig {
            secure_cookies: false,
            data_dir: dir.to_path_buf(),
            demo: true,
            ..Default::default()
        },
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(tinhso_web::serve(listener, state, async move {
        let _ = stop_rx.await;
    }));
    let base = format!("http://{addr}");
    let api = async {
        let staff = http_load(
            args,
            format!("{base}/api/v1/agencies/{agency}/staff"),
            Some(token.clone()),
        )
        .await?;
        lines.push(staff.line(
            "api_staff",
            format!("GET /api/v1/agencies/{{code}}/staff ({} rows)", staff.rows),
            args,
        ));
        let list = http_load(args, format!("{base}/api/v1/agencies"), None).await?;
        lines.push(list.line(
            "api_agencies",
            format!("GET /api/v1/agencies ({} rows)", list.rows),
            args,
        ));
        anyhow::Ok(())
    }
    .await;
    let _ = stop_tx.send(());
    match tokio::time::timeout(Duration::from_secs(10), &mut server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => eprintln!("bench: server: {e}"),
        Ok(Err(e)) => eprintln!("bench: server task: {e}"),
        Err(_) => {
            eprintln!("bench: server did not stop within 10 s; aborting it");
            server.abort();
        }
    }
    api?;
    mark(&mut marks, "API");

    // 2. Audit appends.
    let limit = Duration::from_secs(args.phase_limit_seconds);
    lines.push(appends_one_tx(db, &agency, args.appends, 1, limit).await?);
    lines.push(appends_one_tx(db, &agency, args.appends, args.writers, limit).await?);
    lines.push(appends_batched_loop(db, &agency, args, limit).await?);
    lines.push(appends_batched(db, &agency, args, limit).await?);
    lines.push(statement_round_trip(db).await?);
    mark(&mut marks, "appends");

    // 3. Verification.
    let (line, rate) = verify_line(db).await?;
    lines.push(line);
    mark(&mut marks, "verify");
    let verify_profile = if rate < VERIFY_TARGET_PER_SEC {
        let p = profile_verify(db).await?;
        mark(&mut marks, "verify breakdown");
        Some(p)
    } else {
        None
    };
    Ok(Measured {
        lines,
        prepare,
        verify_profile,
        marks,
    })
}

// ---------------------------------------------------------------------------------------------
// 1. HTTP load
// ---------------------------------------------------------------------------------------------

struct HttpResult {
    rows: usize,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
    lat: Lat,
}

impl HttpResult {
    fn line(&self, key: &'static str, label: String, args: &KernelArgs) -> Line {
        let mut note = format!(
            "{} clients, {} s after {} s warm-up",
            args.clients, args.seconds, args.warmup_seconds
        );
        if let Some(e) = &self.first_error {
            note.push_str(&format!("; first error: {e}"));
        }
        Line {
            key,
            label,
            count: self.ok,
            rate: per_sec(self.ok, self.elapsed),
            unit: "req/s",
            lat: self.lat,
            lat_of: "request",
            errors: self.errors,
            note,
        }
    }
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(10))
        .build()?)
}

/// One request; `Ok(body length)` on 200.
async fn get_once(
    client: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
) -> Result<usize, String> {
    let mut req = client.get(url);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    if status != reqwest::StatusCode::OK {
        return Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ));
    }
    Ok(body.len())
}

struct PhaseOut {
    lat: Vec<u64>,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
}

/// What one client task of an HTTP phase reports: latencies, error count, first error.
type ClientResult = (Vec<u64>, u64, Option<String>);

/// Join a phase's client tasks into one result.
async fn collect_phase(
    tasks: Vec<tokio::task::JoinHandle<ClientResult>>,
    start: Instant,
) -> anyhow::Result<PhaseOut> {
    let mut out = PhaseOut {
        lat: Vec::new(),
        ok: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (lat, errors, first_error) = t.await?;
        out.ok += lat.len() as u64;
        out.lat.extend(lat);
        out.errors += errors;
        if out.first_error.is_none() {
            out.first_error = first_error;
        }
    }
    out.elapsed = start.elapsed();
    Ok(out)
}

async fn http_phase(
    clients: &[reqwest::Client],
    url: &str,
    bearer: Option<&str>,
    duration: Duration,
    max_requests: u64,
) -> anyhow::Result<PhaseOut> {
    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(clients.len());
    for c in clients {
        let c = c.clone();
        let url = url.to_string();
        let bearer = bearer.map(str::to_string);
        let issued = issued.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(4096);
            let mut errors = 0u64;
            let mut first_error = None;
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max_requests
            {
                let t = Instant::now();
                match get_once(&c, &url, bearer.as_deref()).await {
                    Ok(_) => lat.push(nanos(t.elapsed())),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (lat, errors, first_error)
        }));
    }
    collect_phase(tasks, start).await
}

async fn http_load(
    args: &KernelArgs,
    url: String,
    bearer: Option<String>,
) -> anyhow::Result<HttpResult> {
    let clients = (0..args.clients)
        .map(|_| http_client())
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Sanity check: the endpoint answers 200 with a non-empty JSON array.
    let probe = {
        let mut req = clients[0].get(&url);
        if let Some(b) = &bearer {
            req = req.bearer_auth(b);
        }
        req.send().await.with_context(|| format!("GET {url}"))?
    };
    let status = probe.status();
    let body = probe.text().await?;
    if status != reqwest::StatusCode::OK {
        bail!("GET {url}: HTTP {status}: {body}");
    }
    let rows = match serde_json::from_str::<serde_json::Value>(&body)? {
        serde_json::Value::Array(a) if !a.is_empty() => a.len(),
        _ => bail!("GET {url}: expected a non-empty JSON array, got {body:.200}"),
    };
    eprintln!(
        "bench: {url}: {rows} rows, {} bytes; warm-up {} s, then {} s with {} clients",
        body.len(),
        args.warmup_seconds,
        args.seconds,
        args.clients
    );
    if args.warmup_seconds > 0 {
        http_phase(
            &clients,
            &url,
            bearer.as_deref(),
            Duration::from_secs(args.warmup_seconds),
            args.max_requests,
        )
        .await?;
    }
    let p = http_phase(
        &clients,
        &url,
        bearer.as_deref(),
        Duration::from_secs(args.seconds),
        args.max_requests,
    )
    .await?;
    Ok(HttpResult {
        rows,
        ok: p.ok,
        errors: p.errors,
        first_error: p.first_error,
        elapsed: p.elapsed,
        lat: lat_of(p.lat),
    })
}

// ---------------------------------------------------------------------------------------------
// 2. Audit appends
// ---------------------------------------------------------------------------------------------

/// A realistic entry: a user acting on a record of an agency, with a small before/after.
fn bench_entry(run: &str, i: u64, scope: &str) -> NewAuditEntry {
    NewAuditEntry {
        actor: format!("user:{run}"),
        action: "bench.append".into(),
        target_type: "bench_record".into(),
        target_id: format!("{run}-{i}"),
        scope: scope.into(),
        request_id: format!("bench-{run}-{i}"),
        summary: serde_json::json!({
            "before": {"status": "received"},
            "after": {"status": "processing", "i": i, "note": "Hồ sơ đã chuyển xử lý"}
        }),
    }
}

async fn appends_one_tx(
    db: &Db,
    scope: &str,
    total: u64,
    writers: usize,
    limit: Duration,
) -> anyhow::Result<Line> {
    let start = Instant::now();
    let deadline = start + limit;
    let mut tasks = Vec::with_capacity(writers);
    let writers_u = writers as u64;
    for w in 0..writers_u {
        let n = total / writers_u + u64::from(w < total % writers_u);
        let db = db.clone();
        let scope = scope.to_string();
        tasks.push(tokio::spawn(async move {
            let run = uuid::Uuid::now_v7().simple().to_string();
            let mut lat = Vec::with_capacity(n as usize);
            for i in 0..n {
                if Instant::now() >= deadline {
                    break;
                }
                let e = bench_entry(&run, i, &scope);
                let t = Instant::now();
                audit::append(&db, &e).await?;
                lat.push(nanos(t.elapsed()));
            }
            anyhow::Ok(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let elapsed = start.elapsed();
    let count = lat.len() as u64;
    Ok(Line {
        key: if writers == 1 {
            "audit_append_1tx_1w"
        } else {
            "audit_append_1tx_nw"
        },
        label: format!(
            "audit append, 1 tx each, {writers} writer{}",
            if writers == 1 { "" } else { "s" }
        ),
        count,
        rate: per_sec(count, elapsed),
        unit: "appends/s",
        lat: lat_of(lat),
        lat_of: "append (own transaction)",
        errors: 0,
        note: if count < total {
            format!("stopped by the time limit after {count} of {total}")
        } else {
            String::new()
        },
    })
}

/// Transactions of `--batch` appends made one `WriteTx::audit` call at a time (the head is
/// held in the transaction: `--batch` + 2 statements each). A few, for comparison with
/// `audit_many`.
async fn appends_batched_loop(
    db: &Db,
    scope: &str,
    args: &KernelArgs,
    limit: Duration,
) -> anyhow::Result<Line> {
    const TRANSACTIONS: u64 = 5;
    let run = uuid::Uuid::now_v7().simple().to_string();
    let start = Instant::now();
    let deadline = start + limit;
    let mut lat = Vec::with_capacity(TRANSACTIONS as usize);
    let mut i = 0u64;
    for _ in 0..TRANSACTIONS {
        if Instant::now() >= deadline {
            break;
        }
        let entries: Vec<_> = (0..args.batch)
            .map(|k| bench_entry(&run, i + k, scope))
            .collect();
        let t = Instant::now();
        let mut tx = db.begin_write().await?;
        for e in &entries {
            tx.audit(e).await?;
        }
        tx.commit().await?;
        lat.push(nanos(t.elapsed()));
        i += args.batch;
    }
    let elapsed = start.elapsed();
    let done = lat.len() as u64;
    Ok(Line {
        key: "audit_append_batched_loop",
        label: format!(
            "audit append, {} per tx (audit() each), 1 writer",
            args.batch
        ),
        count: i,
        rate: per_sec(i, elapsed),
        unit: "appends/s",
        lat: lat_of(lat),
        lat_of: "transaction",
        errors: 0,
        note: format!(
            "{done} transactions of {} WriteTx::audit calls; latency is per transaction",
            args.batch
        ),
    })
}

/// Transactions of `--batch` appends through `WriteTx::audit_many` (multi-row INSERTs), until
/// the chain holds `--audit-entries`.
async fn appends_batched(
    db: &Db,
    scope: &str,
    args: &KernelArgs,
    limit: Duration,
) -> anyhow::Result<Line> {
    let have = u64::try_from(tinhso_store::db::count(db, "SELECT COUNT(*) FROM audit_log").await?)
        .unwrap_or(0);
    let needed = args.audit_entries.saturating_sub(have);
    let batches = needed.div_ceil(args.batch).max(1);
    let run = uuid::Uuid::now_v7().simple().to_string();
    let start = Instant::now();
    let deadline = start + limit;
    let mut lat = Vec::with_capacity(batches as usize);
    let mut i = 0u64;
    for _ in 0..batches {
        if Instant::now() >= deadline {
            break;
        }
        let entries: Vec<_> = (0..args.batch)
            .map(|k| bench_entry(&run, i + k, scope))
            .collect();
        let t = Instant::now();
        let mut tx = db.begin_write().await?;
        tx.audit_many(&entries).await?;
        tx.commit().await?;
        lat.push(nanos(t.elapsed()));
        i += args.batch;
    }
    let elapsed = start.elapsed();
    let done = lat.len() as u64;
    Ok(Line {
        key: "audit_append_batched",
        label: format!("audit append, {} per tx (audit_many), 1 writer", args.batch),
        count: i,
        rate: per_sec(i, elapsed),
        unit: "appends/s",
        lat: lat_of(lat),
        lat_of: "transaction",
        errors: 0,
        note: if done < batches {
            format!("stopped by the time limit after {done} of {batches} transactions")
        } else {
            format!(
                "{done} transactions; latency is per transaction of {}",
                args.batch
            )
        },
    })
}

/// The floor under every append: one trivial statement inside a write transaction. An append
/// in its own transaction is four round trips (BEGIN, take the head, INSERT that also stores
/// the head, COMMIT).
async fn statement_round_trip(db: &Db) -> anyhow::Result<Line> {
    const N: u64 = 3_000;
    let mut lat = Vec::with_capacity(N as usize);
    let start = Instant::now();
    let mut tx = db.begin_write().await?;
    for _ in 0..N {
        let t = Instant::now();
        sqlx::query("SELECT 1").execute(tx.conn()).await?;
        lat.push(nanos(t.elapsed()));
    }
    drop(tx); // rolls back: nothing was written
    let elapsed = start.elapsed();
    Ok(Line {
        key: "statement_round_trip",
        label: "`SELECT 1` in a write tx (floor)".into(),
        count: N,
        rate: per_sec(N, elapsed),
        unit: "stmts/s",
        lat: lat_of(lat),
        lat_of: "statement",
        errors: 0,
        note: "an append in its own transaction is 4 round trips (BEGIN, head, INSERT, COMMIT)"
            .into(),
    })
}

// ---------------------------------------------------------------------------------------------
// 3. Verification
// ---------------------------------------------------------------------------------------------

/// Sizes of the SQLite database file and its write-ahead log, in MiB (None on PostgreSQL).
fn sqlite_sizes(db: &Db) -> Option<(f64, f64)> {
    let path = db
        .url()
        .strip_prefix("sqlite://")?
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let size = |p: &str| std::fs::metadata(p).map_or(0.0, |m| m.len() as f64 / 1048576.0);
    Some((size(&path), size(&format!("{path}-wal"))))
}

async fn verify_line(db: &Db) -> anyhow::Result<(Line, f64)> {
    let sizes = sqlite_sizes(db);
    let t = Instant::now();
    let r = audit::verify(db).await?;
    let elapsed = t.elapsed();
    if let Some(b) = &r.first_broken {
        bail!("audit chain broken at {}: {}", b.seq, b.reason);
    }
    let n = u64::try_from(r.entries_checked).unwrap_or(0);
    let rate = per_sec(n, elapsed);
    // A second run shows how much of the first was cold caches (or, on SQLite, the WAL).
    let t = Instant::now();
    audit::verify(db).await?;
    let again = per_sec(n, t.elapsed());
    let line = Line {
        key: "verify",
        label: "audit verify (whole chain)".into(),
        count: n,
        rate,
        unit: "entries/s",
        lat: Lat {
            p50: elapsed,
            p90: elapsed,
            p99: elapsed,
            max: elapsed,
        },
        lat_of: "run",
        errors: 0,
        note: format!(
            "first run: {:.3} s in all (the latency columns show it); a second run right \
             after: {again:.0} entries/s{}",
            elapsed.as_secs_f64(),
            sizes.map_or(String::new(), |(db, wal)| format!(
                "; database file {db:.1} MiB, WAL {wal:.1} MiB at the start"
            ))
        ),
    };
    Ok((line, rate))
}

/// An audit row as fetched for verification.
struct Fetched {
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    target_type: String,
    target_id: String,
    scope: String,
    request_id: String,
    summary: String,
    prev_hash: String,
}

fn decode_row<R>(r: &R) -> Result<Fetched, sqlx::Error>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(Fetched {
        seq: r.try_get(0)?,
        at: r.try_get(1)?,
        actor: r.try_get(2)?,
        action: r.try_get(3)?,
        target_type: r.try_get(4)?,
        target_id: r.try_get(5)?,
        scope: r.try_get(6)?,
        request_id: r.try_get(7)?,
        summary: r.try_get(8)?,
        prev_hash: r.try_get(9)?,
    })
}

fn hash_of(e: &Fetched) -> String {
    audit::entry_hash(
        e.seq,
        e.at,
        &e.actor,
        &e.action,
        &e.target_type,
        &e.target_id,
        &e.scope,
        &e.request_id,
        &e.summary,
        &e.prev_hash,
    )
}

/// One page of entries for the hashing-only figure.
const PROFILE_PAGE: i64 = 20_000;
const PROFILE_SQL: &str = "SELECT seq, at, actor, action, target_type, target_id, scope, \
    request_id, summary, prev_hash, hash FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2";

/// Best of two runs of `audit::verify_with(opts)`, in entries/s.
async fn verify_rate(db: &Db, opts: &audit::VerifyOptions) -> anyhow::Result<f64> {
    let mut best = 0f64;
    for _ in 0..2 {
        let t = Instant::now();
        let r = audit::verify_with(db, opts).await?;
        let n = u64::try_from(r.entries_checked).unwrap_or(0);
        best = best.max(per_sec(n, t.elapsed()));
    }
    Ok(best)
}

async fn profile_verify(db: &Db) -> anyhow::Result<String> {
    let default = audit::VerifyOptions::default();
    let native = match db.backend() {
        tinhso_store::Backend::Sqlite => "read-only rusqlite connection",
        tinhso_store::Backend::Postgres => "COPY … TO STDOUT (FORMAT binary)",
    };
    let mut out = vec![format!(
        "verify is below {VERIFY_TARGET_PER_SEC:.0} entries/s; the same walk with other \
         options (best of 2 runs each):"
    )];
    let mut variants = vec![
        (
            format!("{} hasher threads (the default)", default.hash_threads),
            default.clone(),
        ),
        (
            "1 hasher thread".to_string(),
            audit::VerifyOptions {
                hash_threads: 1,
                ..default.clone()
            },
        ),
    ];
    if db.backend() == tinhso_store::Backend::Postgres {
        variants[0].0 = format!(
            "{} ranges copied at once, {} hasher threads (the default)",
            default.read_parts, default.hash_threads
        );
        variants.push((
            format!(
                "1 range (one connection), {} hasher threads",
                default.hash_threads
            ),
            audit::VerifyOptions {
                read_parts: 1,
                ..default.clone()
            },
        ));
    }
    for (what, opts) in &variants {
        out.push(format!(
            "  native reader ({native}), {what}: {:.0} entries/s",
            verify_rate(db, opts).await?
        ));
    }
    let portable = audit::VerifyOptions {
        portable: true,
        ..default.clone()
    };
    out.push(format!(
        "  portable reader (sqlx Any pool, streamed), {} hasher threads: {:.0} entries/s",
        default.hash_threads,
        verify_rate(db, &portable).await?
    ));
    // Hashing alone, on one page held in memory, repeated: the ceiling of a single thread.
    let rows = sqlx::query(PROFILE_SQL)
        .bind(1i64)
        .bind(PROFILE_PAGE)
        .fetch_all(db.pool())
        .await?;
    let page = rows.iter().map(decode_row).collect::<Result<Vec<_>, _>>()?;
    drop(rows);
    let bytes: usize = page
        .iter()
        .map(|e| {
            16 + e.actor.len()
                + e.action.len()
                + e.target_type.len()
                + e.target_id.len()
                + e.scope.len()
                + e.request_id.len()
                + e.summary.len()
                + e.prev_hash.len()
                + 80
        })
        .sum();
    let t = Instant::now();
    let mut hashed = 0u64;
    while t.elapsed() < Duration::from_millis(500) {
        for e in &page {
            std::hint::black_box(hash_of(std::hint::black_box(e)));
        }
        hashed += page.len() as u64;
    }
    let hash_rate = per_sec(hashed, t.elapsed());
    out.push(format!(
        "  hashing only (in memory, 1 thread): {hash_rate:.0} entries/s (~{} bytes hashed per \
         entry)",
        bytes / page.len().max(1)
    ));
    Ok(out.join("\n"))
}

// ---------------------------------------------------------------------------------------------
// tinhso bench services
// ---------------------------------------------------------------------------------------------

/// Online commune-level procedure submitted over HTTP (birth registration, đăng ký khai sinh).
const SVC_PROCEDURE: &str = "1.001193";
/// Phường Tam Thanh, whose People's Committee receives the submissions.
const SVC_COMMUNE: &str = "05986";
/// The component the attachment is filed under.
const SVC_COMPONENT: &str = "giay_chung_sinh";
const SVC_BOUNDARY: &str = "----tinhso-bench-boundary-4f1c2a";

/// Options of `tinhso bench services`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServicesArgs {
    /// sqlite, postgres or both (SQLite then PostgreSQL, one child process each).
    #[arg(long, value_enum, default_value = "sqlite")]
    pub backend: BackendChoice,
    /// PostgreSQL server: a fresh database `tinhso_bench_<uuid>` is created there and dropped
    /// at the end.
    #[arg(long, env = "TINHSO_BENCH_PG_URL", default_value = DEFAULT_PG_URL)]
    pub pg_url: String,
    /// With several backends, run them all in this process.
    #[arg(long)]
    pub same_process: bool,
    /// Concurrent HTTP clients (one keep-alive connection each).
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Measured seconds per HTTP phase.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Warm-up seconds per HTTP phase (not measured).
    #[arg(long, default_value_t = 2)]
    pub warmup_seconds: u64,
    /// Upper bound on measured operations per HTTP phase.
    #[arg(long, default_value_t = 2_000_000)]
    pub max_requests: u64,
    /// Synthetic dossiers bulk-inserted before the indicators are timed.
    #[arg(long, default_value_t = 1_000_000)]
    pub dossiers_for_indicators: u64,
    /// Timed runs of the indicator report.
    #[arg(long, default_value_t = 5)]
    pub indicator_runs: u32,
    /// Dossiers approved one after another with their signed result issued (0: skip).
    #[arg(long, default_value_t = 200)]
    pub approvals: u64,
    /// Which submissions to measure: the dossier with its file in one request, the old pair
    /// (JSON submission, then the upload), or both (one request first).
    #[arg(long, value_enum, default_value = "both")]
    pub submit: SubmitChoice,
}

/// `tinhso bench services --submit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SubmitChoice {
    OneRequest,
    Pair,
    Both,
}

impl SubmitChoice {
    fn ways(self) -> &'static [Submit] {
        match self {
            SubmitChoice::OneRequest => &[Submit::OneRequest],
            SubmitChoice::Pair => &[Submit::Pair],
            SubmitChoice::Both => &[Submit::OneRequest, Submit::Pair],
        }
    }

    fn arg(self) -> &'static str {
        match self {
            SubmitChoice::OneRequest => "one-request",
            SubmitChoice::Pair => "pair",
            SubmitChoice::Both => "both",
        }
    }
}

async fn services(args: &ServicesArgs) -> anyhow::Result<()> {
    if !(1..=1024).contains(&args.clients) {
        bail!("--clients must be 1 to 1024");
    }
    if !(1..=600).contains(&args.seconds) || args.warmup_seconds > 60 || args.max_requests == 0 {
        bail!("--seconds must be 1 to 600, --warmup-seconds at most 60, --max-requests ≥ 1");
    }
    if args.dossiers_for_indicators > 20_000_000 || !(1..=100).contains(&args.indicator_runs) {
        bail!("--dossiers-for-indicators is at most 20 000 000 and --indicator-runs 1 to 100");
    }
    if !is_pg(&args.pg_url) {
        bail!("--pg-url must start with postgres://");
    }
    let targets = match args.backend {
        BackendChoice::Sqlite => vec![Target::Sqlite(None)],
        BackendChoice::Postgres => vec![Target::Postgres(args.pg_url.clone())],
        BackendChoice::Both => vec![Target::Sqlite(None), Target::Postgres(args.pg_url.clone())],
    };
    if targets.len() > 1 && !args.same_process {
        let mut results = Vec::new();
        for t in &targets {
            let exe = std::env::current_exe().context("cannot find the tinhso executable")?;
            let mut cmd = std::process::Command::new(exe);
            cmd.args(["bench", "services", "--backend"]);
            match t {
                Target::Sqlite(_) => {
                    cmd.arg("sqlite");
                }
                Target::Postgres(url) => {
                    cmd.arg("postgres").env("TINHSO_BENCH_PG_URL", url);
                }
            }
            for (flag, v) in [
                ("--clients", args.clients as u64),
                ("--seconds", args.seconds),
                ("--warmup-seconds", args.warmup_seconds),
                ("--max-requests", args.max_requests),
                ("--dossiers-for-indicators", args.dossiers_for_indicators),
                ("--indicator-runs", u64::from(args.indicator_runs)),
                ("--approvals", args.approvals),
            ] {
                cmd.arg(flag).arg(v.to_string());
            }
            cmd.arg("--submit").arg(args.submit.arg());
            results.extend(child_results(cmd).await?);
        }
        println!();
        println!("# results, all backends (one line per measurement, for docs/benchmarks.md)");
        for r in results {
            println!("{r}");
        }
        return Ok(());
    }
    let mut all = Vec::new();
    for t in &targets {
        let lines = services_target(t, args).await?;
        all.extend(lines);
    }
    println!();
    println!("# results (one line per measurement, for docs/benchmarks.md)");
    for l in all {
        println!("{l}");
    }
    Ok(())
}

/// One backend: a fresh database, the measurements, clean-up. Returns its `RESULT` lines.
async fn services_target(target: &Target, args: &ServicesArgs) -> anyhow::Result<Vec<String>> {
    let load_start = loadavg();
    let peak_reset = reset_peak_rss();
    let (m, backend, description) = on_scratch_db(target, |db, dir| async move {
        services_measure(&db, &dir, args).await
    })
    .await?;
    let peak = m.marks.iter().map(|(_, _, hwm)| *hwm).max().unwrap_or(0);

    println!();
    println!("== tinhso bench services — {backend} ({description}) ==");
    println!(
        "machine: {} CPUs; load average {load_start} at the start, {} at the end (client and \
         server share this process)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    println!(
        "{:<50} {:>9} {:>16} {:>11} {:>11} {:>11} {:>11} {:>6}",
        "measurement", "count", "throughput", "p50", "p90", "p99", "max", "errors"
    );
    for l in &m.lines {
        println!(
            "{:<50} {:>9} {:>16} {:>11} {:>11} {:>11} {:>11} {:>6}",
            l.label,
            l.count,
            format!("{:.0} {}", l.rate, l.unit),
            ms(l.lat.p50),
            ms(l.lat.p90),
            ms(l.lat.p99),
            ms(l.lat.max),
            l.errors
        );
        if !l.note.is_empty() {
            println!("    {}", l.note);
        }
    }
    for l in &m.stages {
        println!("{l}");
    }
    println!("{}", m.indicators);
    let marks: Vec<String> = m
        .marks
        .iter()
        .map(|(phase, rss, hwm)| format!("{phase} {} / {}", mib(*hwm), mib(*rss)))
        .collect();
    println!(
        "memory per phase (peak during, VmHWM / RSS at its end): {}",
        marks.join("; ")
    );
    println!(
        "memory: peak RSS {}{}",
        mib(peak),
        if peak_reset {
            ""
        } else {
            " (VmHWM could not be reset: the peak is for the whole process)"
        }
    );

    let mut results = Vec::new();
    for l in &m.lines {
        results.push(format!(
            "RESULT {backend} {}: {:.0} {} ({} in all), p50 {}, p90 {}, p99 {}, max {} per {}, \
             errors {}",
            l.key,
            l.rate,
            l.unit,
            l.count,
            ms(l.lat.p50),
            ms(l.lat.p90),
            ms(l.lat.p99),
            ms(l.lat.max),
            l.lat_of,
            l.errors
        ));
    }
    results.push(format!(
        "RESULT {backend} indicators: {}",
        m.indicators_short
    ));
    results.push(format!("RESULT {backend} memory: peak RSS {}", mib(peak)));
    Ok(results)
}

struct ServicesMeasured {
    lines: Vec<Line>,
    /// The submissions' time per step inside the server (printed after the table).
    stages: Vec<String>,
    indicators: String,
    indicators_short: String,
    marks: Vec<(&'static str, u64, u64)>,
}

async fn services_measure(
    db: &Db,
    dir: &Path,
    args: &ServicesArgs,
) -> anyhow::Result<ServicesMeasured> {
    let t = Instant::now();
    crate::prepare(db).await?;
    eprintln!(
        "bench: migrations and reference data in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let mut marks = Vec::new();
    mark(&mut marks, "prepare");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // `[services]` from the environment as `serve` reads it (the inline limit of attachments,
    // `TINHSO_SERVICES_INLINE_FILE_MAX_KIB`, to compare both ways).
    let services =
        crate::services_config::ServicesSettings::resolve(None, &|k| std::env::var(k).ok())?;
    let state = tinhso_web::AppState::new(
        db.clone(),
        tinhso_web::WebConfig {
            secure_cookies: false,
            data_dir: dir.to_path_buf(),
            demo: false,
            lookup_budgets: services.lookup,
            inline_file_max: services.inline_file_max,
            ..Default::default()
        },
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(tinhso_web::serve(listener, state, async move {
        let _ = stop_rx.await;
    }));
    let base = format!("http://{addr}");
    let mut lines = Vec::new();
    let mut stages = Vec::new();
    let http = async {
        let clients = (0..args.clients)
            .map(|_| http_client())
            .collect::<anyhow::Result<Vec<_>>>()?;
        // Probes: a submission with its file in one request, and the old pair, must succeed.
        let mut created = Vec::new();
        for &way in args.submit.ways() {
            let (code, lookup, _) = way
                .once(&clients[0], &base, 0)
                .await
                .map_err(|e| anyhow::anyhow!("probe submission ({}): {e}", way.name()))?;
            created.push((code, lookup));
        }
        let pdf_len = bench_pdf(0).len();
        for &way in args.submit.ways() {
            if args.warmup_seconds > 0 {
                let w = submit_phase(&clients, &base, args, args.warmup_seconds, way).await?;
                created.extend(w.created);
            }
            let group_before = db.group_stats();
            let times_before = db.group_times();
            tinhso_services::timing::start();
            let p = submit_phase(&clients, &base, args, args.seconds, way).await?;
            let samples = tinhso_services::timing::stop();
            let group_after = db.group_stats();
            stages.extend(submission_stages(
                way,
                &samples,
                db.group_times(),
                times_before,
            ));
            created.extend(p.created.iter().cloned());
            let mut note = format!(
                "{} clients, {} s after {} s warm-up; {}",
                args.clients,
                args.seconds,
                args.warmup_seconds,
                match way {
                    Submit::OneRequest => format!(
                        "each submission (unique Idempotency-Key) carries a {pdf_len}-byte PDF \
                         in the same multipart request"
                    ),
                    Submit::Pair => format!(
                        "the old way, for comparison: each submission (unique Idempotency-Key, \
                         JSON) is followed by a {pdf_len}-byte PDF upload"
                    ),
                }
            );
            note.push_str(&if services.inline_file_max >= pdf_len {
                format!(
                    "; kept in the database (attachments up to {} KiB)",
                    services.inline_file_max / 1024
                )
            } else {
                "; written to the file store".to_string()
            });
            let (batches, items) = (
                group_after.0 - group_before.0,
                group_after.1 - group_before.1,
            );
            if batches > 0 {
                note.push_str(&format!(
                    "; group commit: {items} writes in {batches} transactions ({:.1} a transaction)",
                    items as f64 / batches as f64
                ));
            }
            if let Some(e) = &p.first_error {
                note.push_str(&format!("; first error: {e}"));
            }
            match way {
                Submit::OneRequest => lines.push(Line {
                    key: "submissions",
                    label: format!(
                        "submission with a PDF, one request ({SVC_PROCEDURE} at {SVC_COMMUNE})"
                    ),
                    count: p.done,
                    rate: per_sec(p.done, p.elapsed),
                    unit: "submissions/s",
                    lat: lat_of(p.lat),
                    lat_of: "submission",
                    errors: p.errors,
                    note,
                }),
                Submit::Pair => {
                    lines.push(Line {
                        key: "submit_with_file",
                        label: "old way: submission, then attachment (2 requests)".into(),
                        count: p.done,
                        rate: per_sec(p.done, p.elapsed),
                        unit: "pairs/s",
                        lat: lat_of(p.lat),
                        lat_of: "pair",
                        errors: p.errors,
                        note,
                    });
                    lines.push(Line {
                        key: "submit",
                        label: "  POST /api/v1/dossiers (JSON)".into(),
                        count: p.done,
                        rate: per_sec(p.done, p.elapsed),
                        unit: "req/s",
                        lat: lat_of(p.submit_lat),
                        lat_of: "request",
                        errors: 0,
                        note: String::new(),
                    });
                    lines.push(Line {
                        key: "upload",
                        label: "  POST /api/v1/dossiers/{code}/files".into(),
                        count: p.done,
                        rate: per_sec(p.done, p.elapsed),
                        unit: "req/s",
                        lat: lat_of(p.upload_lat),
                        lat_of: "request",
                        errors: 0,
                        note: String::new(),
                    });
                }
            }
        }
        mark(&mut marks, "submissions");

        let created = Arc::new(created);
        if args.warmup_seconds > 0 {
            track_phase(&clients, &base, &created, args, args.warmup_seconds).await?;
        }
        let tr = track_phase(&clients, &base, &created, args, args.seconds).await?;
        let mut note = format!(
            "{} clients, {} s after {} s warm-up, over the {} dossiers created above",
            args.clients,
            args.seconds,
            args.warmup_seconds,
            created.len()
        );
        if let Some(e) = &tr.first_error {
            note.push_str(&format!("; first error: {e}"));
        }
        lines.push(Line {
            key: "track",
            label: "GET /api/v1/dossiers/{code}/track?lookup=".into(),
            count: tr.ok,
            rate: per_sec(tr.ok, tr.elapsed),
            unit: "req/s",
            lat: lat_of(tr.lat),
            lat_of: "request",
            errors: tr.errors,
            note,
        });
        mark(&mut marks, "look-ups");
        anyhow::Ok(())
    }
    .await;
    let _ = stop_tx.send(());
    match tokio::time::timeout(Duration::from_secs(10), &mut server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => eprintln!("bench: server: {e}"),
        Ok(Err(e)) => eprintln!("bench: server task: {e}"),
        Err(_) => {
            eprintln!("bench: server did not stop within 10 s; aborting it");
            server.abort();
        }
    }
    http?;

    if args.approvals > 0 {
        lines.extend(results_phase(db, dir, args.approvals).await?);
        mark(&mut marks, "results");
    }
    let (indicators, indicators_short) = indicators_phase(db, args, &mut marks).await?;
    Ok(ServicesMeasured {
        lines,
        stages,
        indicators,
        indicators_short,
        marks,
    })
}

/// The table of a submission phase's time per step inside the server
/// ([`tinhso_services::timing`]) and of the group committer's batches over it (`before`:
/// the committer's figures when the phase started).
fn submission_stages(
    way: Submit,
    samples: &[tinhso_services::timing::Sample],
    after: tinhso_store::group::GroupTimes,
    before: tinhso_store::group::GroupTimes,
) -> Vec<String> {
    let figures = tinhso_services::timing::summarize(samples);
    if figures.is_empty() {
        return Vec::new();
    }
    let mut out = vec![
        format!(
            "time per step of a submission in the server ({}: {} submissions written, µs; \
             'slowest 1 %': mean over those whose total is at or above the p99)",
            way.name(),
            samples.len()
        ),
        format!(
            "  {:<30} {:>9} {:>8} {:>8} {:>8} {:>8} {:>15}",
            "step", "mean", "p50", "p90", "p99", "max", "slowest 1 %"
        ),
    ];
    for f in &figures {
        out.push(format!(
            "  {:<30} {:>9.0} {:>8} {:>8} {:>8} {:>8} {:>15.0}",
            f.stage.name(),
            f.mean,
            f.p50,
            f.p90,
            f.p99,
            f.max,
            f.tail_mean
        ));
    }
    let batches = after.batches.saturating_sub(before.batches);
    if batches > 0 {
        let per = |a: u64, b: u64| a.saturating_sub(b) as f64 / batches as f64;
        out.push(format!(
            "  group commit over the phase (every kind of write): {batches} transactions; \
             per transaction: begin {:.0} µs, items {:.0} µs, commit {:.0} µs",
            per(after.begin_us, before.begin_us),
            per(after.write_us, before.write_us),
            per(after.commit_us, before.commit_us)
        ));
    }
    out
}

/// Signed electronic results: `n` dossiers are filed and taken to the approval step in
/// process (not timed), then approved one after another by the demo leader — each approval
/// issues the result in its transaction (number, two ed25519 signatures, the PDF written to
/// the file store). Also times rendering the result PDF alone.
async fn results_phase(db: &Db, dir: &Path, n: u64) -> anyhow::Result<Vec<Line>> {
    use tinhso_services::dossier::{self, ActingAs, TransitionInput};
    let files = tinhso_http::file_store(dir);
    let issuing = tinhso_services::results::Issuing {
        files: &files,
        public_url: "http://localhost",
        tsa: None,
    };
    crate::demo::load(db, issuing).await?;
    let principal = |name: &'static str| async move {
        let acc = tinhso_identity::accounts::get_by_username(db, name)
            .await?
            .with_context(|| format!("demo account {name} is missing"))?;
        anyhow::Ok(tinhso_identity::accounts::principal_of(
            &acc,
            tinhso_identity::authz::AuthMethod::Session,
        ))
    };
    let officer = principal("congchuc.tamthanh").await?;
    let leader = principal("lanhdao.tamthanh").await?;
    let ctx = |p: &tinhso_identity::Principal| tinhso_store::audit::Ctx {
        actor: p.actor(),
        request_id: "bench".into(),
    };
    let act = |action: &str| TransitionInput {
        action: action.into(),
        reason: String::new(),
        form: Default::default(),
    };
    let mut codes = Vec::new();
    for i in 0..n {
        let s: tinhso_services::dossier::Submission =
            serde_json::from_value(bench_submission(1_000_000 + i))?;
        let code = dossier::submit(db, &ctx(&officer), None, &s)
            .await?
            .dossier
            .code;
        for a in ["accept", "forward", "forward"] {
            dossier::transition(
                db,
                issuing,
                &ctx(&officer),
                &code,
                ActingAs::Staff(&officer),
                &act(a),
            )
            .await?;
        }
        codes.push(code);
    }
    let mut lat = Vec::with_capacity(codes.len());
    let start = Instant::now();
    for code in &codes {
        let t = Instant::now();
        dossier::transition(
            db,
            issuing,
            &ctx(&leader),
            code,
            ActingAs::Staff(&leader),
            &act("approve"),
        )
        .await?;
        lat.push(t.elapsed().as_nanos() as u64);
    }
    let elapsed = start.elapsed();
    let issued = tinhso_services::results::of_dossier(db, &codes[0])
        .await?
        .context("the first approval issued no result")?;
    let pdf_bytes = issued.file_size;

    // Rendering alone: the same document laid out and written again and again.
    let doc = sample_result_doc();
    let rounds = 300u64;
    let mut render_lat = Vec::with_capacity(rounds as usize);
    let r0 = Instant::now();
    for _ in 0..rounds {
        let t = Instant::now();
        std::hint::black_box(tinhso_services::documents::result_pdf(&doc));
        render_lat.push(t.elapsed().as_nanos() as u64);
    }
    let render_elapsed = r0.elapsed();
    Ok(vec![
        Line {
            key: "approve_with_result",
            label: "approval issuing a signed result (in process, one at a time)".into(),
            count: n,
            rate: per_sec(n, elapsed),
            unit: "results/s",
            lat: lat_of(lat),
            lat_of: "approval",
            errors: 0,
            note: format!(
                "{n} dossiers; each approval writes the number, two ed25519 signatures and a \
                 {} KB PDF in its group-commit item",
                pdf_bytes / 1024
            ),
        },
        Line {
            key: "render_result_pdf",
            label: "  result PDF rendering alone".into(),
            count: rounds,
            rate: per_sec(rounds, render_elapsed),
            unit: "PDFs/s",
            lat: lat_of(render_lat),
            lat_of: "PDF",
            errors: 0,
            note: "one core; layout, QR code, page compression (fonts compressed once)".into(),
        },
    ])
}

fn sample_result_doc() -> tinhso_services::documents::ResultDoc {
    use tinhso_services::documents::{Issuer, Line as DocLine, ResultDoc};
    ResultDoc {
        issuer: Issuer {
            parent_name: "Ủy ban nhân dân tỉnh Lạng Sơn".into(),
            name: "Ủy ban nhân dân phường Tam Thanh".into(),
            place: "Lạng Sơn".into(),
        },
        number: "00001/2026/KQĐT".into(),
        title: "Giấy khai sinh".into(),
        date: (29, 11, 2026),
        procedure: "Đăng ký khai sinh".into(),
        procedure_code: "1.001193".into(),
        dossier_code: "000.00.23.H37-261129-0001".into(),
        holder: "Hoàng Thị Mai".into(),
        submitted: "29/11/2026".into(),
        decision: "Chấp thuận đề nghị của Hoàng Thị Mai theo hồ sơ số 000.00.23.H37-261129-0001."
            .into(),
        details: (0..8)
            .map(|i| {
                DocLine::new(
                    &format!("Thông tin {i}"),
                    "Nguyễn Minh Châu, Bệnh viện Đa khoa tỉnh Lạng Sơn",
                )
            })
            .collect(),
        signer_heading: "TM. Ủy ban nhân dân".into(),
        signer_name: "Hoàng Văn Thắng".into(),
        signed_at: "10:00:00 ngày 29/11/2026 (UTC+7)".into(),
        agency_key: "E8191AF8674F0CE9".into(),
        signer_key: "777376C92343B00C".into(),
        verify_url: "https://dichvucong.langson.gov.vn/xac-thuc/DT2Q7K91MS4TFYMHMQAG".into(),
        verify_code: "DT2Q7-K91MS-4TFYM-HMQAG".into(),
        embedded: vec![("TinhSoResultId".into(), "DT2Q7K91MS4TFYMHMQAG".into())],
    }
}

/// A small, valid PDF of a few KB, different for each `n` (files are content-addressed).
fn bench_pdf(n: u64) -> Vec<u8> {
    let mut b =
        format!("%PDF-1.4\n% ho so {n}\n1 0 obj << /Type /Catalog >> endobj\n").into_bytes();
    for i in 0..60 {
        b.extend_from_slice(
            format!("% giay chung sinh - dong {i:03} - noi dung mo phong cho do hieu nang\n")
                .as_bytes(),
        );
    }
    b.extend_from_slice(b"trailer << /Root 1 0 R >>\n%%EOF\n");
    b
}

/// The old upload's body: `component_id` and `file`.
fn bench_multipart(pdf: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(pdf.len() + 512);
    body.extend_from_slice(
        format!(
            "--{SVC_BOUNDARY}\r\nContent-Disposition: form-data; name=\"component_id\"\r\n\r\n\
             {SVC_COMPONENT}\r\n--{SVC_BOUNDARY}\r\nContent-Disposition: form-data; \
             name=\"file\"; filename=\"giay-chung-sinh.pdf\"\r\nContent-Type: application/pdf\
             \r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(pdf);
    body.extend_from_slice(format!("\r\n--{SVC_BOUNDARY}--\r\n").as_bytes());
    body
}

/// A submission with its PDF in one body: the `dossier` part and `files.<component>`.
fn bench_submission_multipart(n: u64, pdf: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(pdf.len() + 1024);
    body.extend_from_slice(
        format!(
            "--{SVC_BOUNDARY}\r\nContent-Disposition: form-data; name=\"dossier\"\r\n\
             Content-Type: application/json\r\n\r\n{}\r\n--{SVC_BOUNDARY}\r\n\
             Content-Disposition: form-data; name=\"files.{SVC_COMPONENT}\"; \
             filename=\"giay-chung-sinh.pdf\"\r\nContent-Type: application/pdf\r\n\r\n",
            bench_submission(n)
        )
        .as_bytes(),
    );
    body.extend_from_slice(pdf);
    body.extend_from_slice(format!("\r\n--{SVC_BOUNDARY}--\r\n").as_bytes());
    body
}

fn bench_submission(n: u64) -> serde_json::Value {
    serde_json::json!({
        "procedure_code": SVC_PROCEDURE,
        "commune_code": SVC_COMMUNE,
        "applicant": {"kind": 0, "name": "Hoàng Thị Mai", "id_number": "020190000123",
            "phone": "0912 345 678"},
        "form": {"ho_ten_tre": format!("Hoàng Minh An {}", n % 1000), "ngay_sinh_tre": "10/01/2026",
            "gioi_tinh": "nam", "dan_toc": "tay", "noi_sinh": "Bệnh viện Đa khoa tỉnh Lạng Sơn",
            "que_quan": SVC_COMMUNE, "so_ban_sao": "2", "so_dien_thoai": "0912345678"},
        "channel": "online"
    })
}

/// How the bench submits a dossier with its attachment.
#[derive(Debug, Clone, Copy)]
enum Submit {
    /// `POST /api/v1/dossiers` as `multipart/form-data`, the file in the same request.
    OneRequest,
    /// The old way: the JSON submission, then `POST /api/v1/dossiers/{code}/files`.
    Pair,
}

impl Submit {
    fn name(self) -> &'static str {
        match self {
            Submit::OneRequest => "one request",
            Submit::Pair => "pair",
        }
    }

    /// One submission: (code, lookup, the pair's two request times, empty for one request).
    async fn once(
        self,
        c: &reqwest::Client,
        base: &str,
        n: u64,
    ) -> Result<(String, String, Option<(u64, u64)>), String> {
        match self {
            Submit::OneRequest => {
                let (code, lookup) = submit_one(c, base, n).await?;
                Ok((code, lookup, None))
            }
            Submit::Pair => {
                let (code, lookup, s, u) = submit_pair(c, base, n).await?;
                Ok((code, lookup, Some((s, u))))
            }
        }
    }
}

/// The code and lookup code of a 201 receipt, or why not.
fn receipt_codes(
    what: &str,
    status: reqwest::StatusCode,
    body: &[u8],
) -> Result<(String, String), String> {
    if status != reqwest::StatusCode::CREATED {
        return Err(format!(
            "{what}: HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    match (v["code"].as_str(), v["lookup_code"].as_str()) {
        (Some(code), Some(lookup)) => Ok((code.to_string(), lookup.to_string())),
        _ => Err(format!("{what}: no code or lookup_code in {v}")),
    }
}

/// One submission with its PDF in one multipart request: (code, lookup).
async fn submit_one(c: &reqwest::Client, base: &str, n: u64) -> Result<(String, String), String> {
    let resp = c
        .post(format!("{base}/api/v1/dossiers"))
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={SVC_BOUNDARY}"),
        )
        .body(bench_submission_multipart(n, &bench_pdf(n)))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    receipt_codes("submit", status, &body)
}

/// One submission then its attachment: (code, lookup, submit ns, upload ns).
async fn submit_pair(
    c: &reqwest::Client,
    base: &str,
    n: u64,
) -> Result<(String, String, u64, u64), String> {
    let t = Instant::now();
    let resp = c
        .post(format!("{base}/api/v1/dossiers"))
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .json(&bench_submission(n))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    let submit_ns = nanos(t.elapsed());
    let (code, lookup) = receipt_codes("submit", status, &body)?;
    let t = Instant::now();
    let resp = c
        .post(format!(
            "{base}/api/v1/dossiers/{code}/files?lookup={lookup}"
        ))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={SVC_BOUNDARY}"),
        )
        .body(bench_multipart(&bench_pdf(n)))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    let upload_ns = nanos(t.elapsed());
    if status != reqwest::StatusCode::CREATED {
        return Err(format!(
            "upload: HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    Ok((code, lookup, submit_ns, upload_ns))
}

/// What a submission phase measured: each submission's time (both requests for a pair) and,
/// for pairs, each request's.
#[derive(Default)]
struct SubmitOut {
    created: Vec<(String, String)>,
    lat: Vec<u64>,
    submit_lat: Vec<u64>,
    upload_lat: Vec<u64>,
    done: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
}

async fn submit_phase(
    clients: &[reqwest::Client],
    base: &str,
    args: &ServicesArgs,
    seconds: u64,
    way: Submit,
) -> anyhow::Result<SubmitOut> {
    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let max = args.max_requests;
    let mut tasks = Vec::with_capacity(clients.len());
    for c in clients {
        let c = c.clone();
        let base = base.to_string();
        let issued = issued.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = SubmitOut::default();
            while Instant::now() < deadline {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if n >= max {
                    break;
                }
                let t = Instant::now();
                match way.once(&c, &base, n).await {
                    Ok((code, lookup, parts)) => {
                        out.lat.push(nanos(t.elapsed()));
                        if let Some((s, u)) = parts {
                            out.submit_lat.push(s);
                            out.upload_lat.push(u);
                        }
                        out.created.push((code, lookup));
                        out.done += 1;
                    }
                    Err(e) => {
                        out.errors += 1;
                        out.first_error.get_or_insert(e);
                    }
                }
            }
            out
        }));
    }
    let mut all = SubmitOut::default();
    for t in tasks {
        let o = t.await?;
        all.created.extend(o.created);
        all.lat.extend(o.lat);
        all.submit_lat.extend(o.submit_lat);
        all.upload_lat.extend(o.upload_lat);
        all.done += o.done;
        all.errors += o.errors;
        if all.first_error.is_none() {
            all.first_error = o.first_error;
        }
    }
    all.elapsed = start.elapsed();
    Ok(all)
}

async fn track_phase(
    clients: &[reqwest::Client],
    base: &str,
    created: &Arc<Vec<(String, String)>>,
    args: &ServicesArgs,
    seconds: u64,
) -> anyhow::Result<PhaseOut> {
    if created.is_empty() {
        bail!("no dossier was created, nothing to look up");
    }
    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let max = args.max_requests;
    let mut tasks = Vec::with_capacity(clients.len());
    for c in clients {
        let c = c.clone();
        let base = base.to_string();
        let issued = issued.clone();
        let created = created.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(4096);
            let mut errors = 0u64;
            let mut first_error = None;
            while Instant::now() < deadline {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if n >= max {
                    break;
                }
                // A stride through the list, so consecutive requests hit different dossiers.
                let i = (n.wrapping_mul(7919) % created.len() as u64) as usize;
                let (code, lookup) = &created[i];
                let url = format!("{base}/api/v1/dossiers/{code}/track?lookup={lookup}");
                let t = Instant::now();
                match get_once(&c, &url, None).await {
                    Ok(_) => lat.push(nanos(t.elapsed())),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (lat, errors, first_error)
        }));
    }
    collect_phase(tasks, start).await
}

/// splitmix64: a small deterministic generator for the synthetic dossiers.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub(crate) const DAY_US: i64 = 86_400_000_000;
pub(crate) const HOUR_US: i64 = 3_600_000_000;

/// Bulk-insert `n` synthetic dossiers over the year starting `from` (not measured), then time
/// the province-wide indicator report. Returns (the printed block, the `RESULT` summary).
async fn indicators_phase(
    db: &Db,
    args: &ServicesArgs,
    marks: &mut Vec<(&'static str, u64, u64)>,
) -> anyhow::Result<(String, String)> {
    use sqlx::Row;
    let from = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).context("date")?;
    let to = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).context("date")?;
    let agency_rows = sqlx::query("SELECT code FROM agencies ORDER BY code")
        .fetch_all(db.pool())
        .await?;
    let mut agencies = Vec::new();
    for r in &agency_rows {
        agencies.push(r.try_get::<String, _>(0)?);
    }
    agencies.truncate(85);
    let proc_rows = sqlx::query(
        "SELECT c.code, c.version FROM procedure_current c WHERE c.active = 1 ORDER BY c.code",
    )
    .fetch_all(db.pool())
    .await?;
    let mut procedures = Vec::new();
    for r in &proc_rows {
        procedures.push((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?));
    }
    if agencies.is_empty() || procedures.is_empty() {
        bail!("no agencies or procedures to spread the synthetic dossiers over");
    }
    let n = args.dossiers_for_indicators;
    let rows_per_insert = 1000u64;
    let rows_per_tx = 50_000u64;
    let insert = insert_synthetic_dossiers(db, n, from, to, &agencies, &procedures).await?;
    let t = Instant::now();
    sqlx::query("ANALYZE").execute(db.pool()).await?;
    let analyze = t.elapsed();
    // The daily roll-up the indicators read: the insert's triggers marked the days, and the
    // server brings them up to date once a minute; built here, timed on its own, so the runs
    // below time what a page view costs.
    let t = Instant::now();
    let rollup_days = tinhso_services::indicators::refresh_rollup(db)
        .await
        .map_err(|e| anyhow::anyhow!("services roll-up: {e:?}"))?;
    let rollup = t.elapsed();
    mark(marks, "bulk insert");

    let mut runs = Vec::new();
    let mut agencies_listed = 0usize;
    for _ in 0..args.indicator_runs {
        let t = Instant::now();
        let r = tinhso_services::indicators::report(db, from, to, None)
            .await
            .map_err(|e| anyhow::anyhow!("indicators::report: {e:?}"))?;
        runs.push(t.elapsed());
        agencies_listed = r.agencies.len();
    }
    mark(marks, "indicators");
    runs.sort();
    let min = runs.first().copied().unwrap_or_default();
    let max = runs.last().copied().unwrap_or_default();
    let median = runs.get(runs.len() / 2).copied().unwrap_or_default();
    let short = format!(
        "{} runs over {n} dossiers: min {}, median {}, max {} (province, {from} to {to}, \
         {agencies_listed} agencies listed)",
        runs.len(),
        ms(min),
        ms(median),
        ms(max)
    );
    let block = format!(
        "Decision 766 indicators, province-wide, {from} to {to}: {short}\n    setup (not \
         measured): {n} synthetic dossiers over {} agencies and {} procedures inserted in {:.1} \
         s ({:.0} rows/s, {rows_per_insert}-row INSERTs, {rows_per_tx} rows per transaction), \
         ANALYZE {:.2} s, daily roll-up {rollup_days} agency-days in {:.1} s (the server's \
         minute job)",
        agencies.len(),
        procedures.len(),
        insert.as_secs_f64(),
        per_sec(n, insert),
        analyze.as_secs_f64(),
        rollup.as_secs_f64()
    );
    Ok((block, short))
}

/// Bulk-insert `n` synthetic dossiers submitted between `from` and `to` (local dates), spread
/// over `agencies` and `procedures` (code, version) with a fixed seed: 62 % finished (most of
/// them returned), 85 % of those on time, 55 % online, 40 % with a fee. Returns the time taken.
/// For benchmarks only: the rows bypass the services module.
pub(crate) async fn insert_synthetic_dossiers(
    db: &Db,
    n: u64,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    agencies: &[String],
    procedures: &[(String, i64)],
) -> anyhow::Result<Duration> {
    let lo = tinhso_services::indicators::local_midnight_micros(from);
    let span_us = tinhso_services::indicators::local_midnight_micros(to) - lo;
    let offset_us = 7 * HOUR_US;
    let t = Instant::now();
    let mut rng = Rng(0x7469_6e68_736f);
    let rows_per_insert = 1000u64;
    let rows_per_tx = 50_000u64;
    let mut i = 0u64;
    while i < n {
        let mut tx = db.pool().begin().await?;
        let tx_end = (i + rows_per_tx).min(n);
        while i < tx_end {
            let end = (i + rows_per_insert).min(tx_end);
            let mut sql = String::with_capacity(400 * (end - i) as usize);
            sql.push_str(
                "INSERT INTO dossiers (code, procedure_code, procedure_version, agency_code, \
                 applicant_kind, applicant_name, applicant_id_number, applicant_phone, \
                 applicant_email, channel, status, step, form_data, submitted_at, accepted_at, \
                 due_date, finished_at, returned_at, supplement_count, fee_vnd, paid_vnd, \
                 request_hash, updated_at) VALUES ",
            );
            for k in i..end {
                let agency = &agencies[rng.below(agencies.len() as u64) as usize];
                let (pcode, pver) = &procedures[rng.below(procedures.len() as u64) as usize];
                let submitted = lo + rng.below(span_us as u64) as i64;
                let accepted = submitted + (1 + rng.below(8)) as i64 * HOUR_US;
                let days_allowed = [1i64, 3, 5, 7, 10, 15, 20][rng.below(7) as usize];
                let due = chrono::DateTime::from_timestamp_micros(accepted + offset_us)
                    .map(|d| d.date_naive() + chrono::Days::new(days_allowed as u64 + 1))
                    .unwrap_or(from);
                let roll = rng.below(100);
                // 62 % finished (of which most returned), the rest still open.
                let status = match roll {
                    0..=44 => 10,
                    45..=61 => 9,
                    62..=71 => 4,
                    72..=81 => 3,
                    82..=86 => 5,
                    87..=91 => 2,
                    92..=95 => 8,
                    _ => 7,
                };
                // 85 % within the allowed days, the rest up to 10 days late.
                let took_days = if rng.below(100) < 85 {
                    rng.below(days_allowed as u64 + 1) as i64
                } else {
                    days_allowed + 1 + rng.below(10) as i64
                };
                let finished = accepted + took_days * DAY_US + rng.below(8) as i64 * HOUR_US;
                let (finished, returned) = match status {
                    10 => (
                        Some(finished),
                        Some(finished + rng.below(3) as i64 * DAY_US + HOUR_US),
                    ),
                    9 => (Some(finished), None),
                    _ => (None, None),
                };
                let channel = match rng.below(100) {
                    0..=54 => 2,
                    55..=94 => 1,
                    _ => 3,
                };
                let fee = if rng.below(100) < 40 {
                    [10_000i64, 20_000, 50_000, 100_000, 500_000][rng.below(5) as usize]
                } else {
                    0
                };
                let paid = if fee > 0 && rng.below(100) < 70 {
                    fee
                } else {
                    0
                };
                let supplements = match rng.below(100) {
                    0..=86 => 0,
                    87..=96 => 1,
                    _ => 2,
                };
                let opt = |v: Option<i64>| v.map_or("NULL".to_string(), |x| x.to_string());
                if k > i {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "('BENCH-{k:09}','{pcode}',{pver},'{agency}',0,'Nguyễn Văn A',\
                     '020190{:06}','0912345678','',{channel},{status},'xu_ly','{{}}',\
                     {submitted},{accepted},'{}',{},{},{supplements},{fee},{paid},'bench',\
                     {submitted})",
                    k % 1_000_000,
                    due.format("%Y-%m-%d"),
                    opt(finished),
                    opt(returned),
                ));
            }
            // Not kept in the statement cache: each of these statements is large and used once.
            sqlx::query(&sql)
                .persistent(false)
                .execute(&mut *tx)
                .await?;
            i = end;
        }
        tx.commit().await?;
        if i.is_multiple_of(200_000) || i == n {
            eprintln!(
                "bench: {i}/{n} synthetic dossiers inserted ({:.1} s)",
                t.elapsed().as_secs_f64()
            );
        }
    }
    Ok(t.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        let l = lat_of(v);
        assert_eq!(l.p50, Duration::from_nanos(50));
        assert_eq!(l.p90, Duration::from_nanos(90));
        assert_eq!(l.p99, Duration::from_nanos(99));
        assert_eq!(l.max, Duration::from_nanos(100));
        assert_eq!(lat_of(Vec::new()).max, Duration::ZERO);
    }

    #[test]
    fn pg_url_keeps_server_and_query() -> anyhow::Result<()> {
        assert_eq!(
            pg_server_parts("postgres://postgres@127.0.0.1:5432")?,
            ("postgres://postgres@127.0.0.1:5432".into(), String::new())
        );
        assert_eq!(
            pg_server_parts("postgres://u:p@h:1/db?sslmode=disable")?,
            ("postgres://u:p@h:1".into(), "?sslmode=disable".into())
        );
        Ok(())
    }
}
