//! `tinhso bench targets`: the leaders' operations centre over two years of data.
//!
//! Set-up (not measured): a scratch database with the platform's reference data, N synthetic
//! dossiers (default 1,000,000) over the last two years and every agency (the 65 communes'
//! People's Committees among them), and synthetic border traffic over the same two years —
//! trips with their journey stages, bookings, agency checks, fees paid, and the camera, QR and
//! GPS events behind them (default 5,000,000 events). The rows bypass the modules: this is a
//! read benchmark.
//!
//! Measured: the time to compute every indicator on the operations-centre screen
//! ([`tinhso_targets::ops::centre`]: each target's value, trend and projection, the counters)
//! and the communes map ([`tinhso_targets::ops::by_commune`]), first on a freshly opened
//! database handle ("cold": no statement cache, nothing memoised; the OS page cache is warm
//! from the set-up), then warm. The indicators read the daily roll-ups
//! ([`tinhso_store::rollup`]), which the set-up builds after loading (their build time from the
//! raw rows is printed on its own). Then, unless `--no-duckdb`, the same aggregations in DuckDB
//! (`scripts/bench_duckdb.py`, the `duckdb` package from PyPI) over the same rows exported to
//! CSV, side by side, with the ratio.

use crate::bench::{
    insert_synthetic_dossiers, mib, on_scratch_db, reset_peak_rss, BackendChoice, Rng, Target,
    DAY_US, DEFAULT_PG_URL, HOUR_US,
};
use anyhow::{bail, Context};
use chrono::{Datelike, NaiveDate};
use sqlx::{Connection, Row};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tinhso_store::Db;

/// Options of `tinhso bench targets`.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetsArgs {
    /// Database engine(s).
    #[arg(long, value_enum, default_value_t = BackendChoice::Sqlite)]
    pub backend: BackendChoice,
    /// PostgreSQL server for `--backend postgres|both` (a fresh database is created and dropped).
    #[arg(long, env = "TINHSO_BENCH_PG_URL", default_value = DEFAULT_PG_URL)]
    pub pg_url: String,
    /// Synthetic dossiers over the two years.
    #[arg(long, default_value_t = 1_000_000)]
    pub dossiers: u64,
    /// Synthetic border events over the two years (six per trip: the trips follow).
    #[arg(long, default_value_t = 5_000_000)]
    pub border_events: u64,
    /// Screen computations after the cold one.
    #[arg(long, default_value_t = 3)]
    pub warm_runs: usize,
    /// The day the screen is computed for (the data ends the day before).
    #[arg(long, default_value = "2026-11-29")]
    pub today: String,
    /// Write the SQLite database to this (new) file and keep it, to look into afterwards.
    #[arg(long)]
    pub sqlite_file: Option<PathBuf>,
    /// Skip the DuckDB comparison.
    #[arg(long)]
    pub no_duckdb: bool,
    /// The Python that has the `duckdb` package (`pip install duckdb`).
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// PostgreSQL: copy the loaded database to this new database (letters, digits, `_`) before
    /// the measured part, and keep the copy, so `--screen-only` can measure again without the
    /// set-up. Drop it yourself afterwards.
    #[arg(long)]
    pub keep_pg_copy: Option<String>,
    /// The indicator the communes map shows (any key of the map's choice: `services.on_time`,
    /// `connectors.dvcqg_sync`, `reported.soc.fibre-households`, …).
    #[arg(long, default_value = "services.on_time")]
    pub map: String,
    /// Measure only the screen (cold, then `--warm-runs`) on this already loaded database — a
    /// copy kept by `--keep-pg-copy`, or `sqlite://FILE` of a `--sqlite-file` run. Pending
    /// migrations are applied first; no set-up, no DuckDB.
    #[arg(long)]
    pub screen_only: Option<String>,
}

pub async fn run(args: &TargetsArgs) -> anyhow::Result<()> {
    if args.dossiers > 20_000_000 || args.border_events > 50_000_000 || args.warm_runs > 50 {
        bail!("--dossiers is at most 20 000 000, --border-events 50 000 000, --warm-runs 50");
    }
    let today = NaiveDate::parse_from_str(&args.today, "%Y-%m-%d")
        .with_context(|| format!("--today: use YYYY-MM-DD (got {:?})", args.today))?;
    if let Some(url) = &args.screen_only {
        let db = Db::connect(url, &Default::default()).await?;
        crate::prepare(&db).await?;
        db.close().await;
        let now = tinhso_services::indicators::local_midnight_micros(today) + 10 * HOUR_US;
        let (lines, cold, warm) = screen(url, args, today, now).await?;
        println!(
            "== tinhso bench targets --screen-only {} ==",
            crate::config::redact(url)
        );
        for l in &lines {
            println!("{l}");
        }
        println!("RESULT targets screen only: cold {cold:.0} ms, warm median {warm:.0} ms");
        return Ok(());
    }
    if let Some(name) = &args.keep_pg_copy {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            bail!("--keep-pg-copy: a new database name of lower-case letters, digits and _");
        }
    }
    let targets: Vec<Target> = match args.backend {
        BackendChoice::Sqlite => vec![Target::Sqlite(args.sqlite_file.clone())],
        BackendChoice::Postgres => vec![Target::Postgres(args.pg_url.clone())],
        BackendChoice::Both => vec![
            Target::Sqlite(args.sqlite_file.clone()),
            Target::Postgres(args.pg_url.clone()),
        ],
    };
    let mut results = Vec::new();
    for target in &targets {
        let peak_reset = reset_peak_rss();
        let (lines, backend, description) = on_scratch_db(target, |db, dir| async move {
            measure(db, &dir, args, today).await
        })
        .await?;
        println!();
        println!("== tinhso bench targets — {backend} ({description}) ==");
        for l in &lines {
            println!("{l}");
        }
        let (_, hwm) = crate::bench::memory_kib();
        println!(
            "memory: peak RSS {}{}",
            mib(hwm),
            if peak_reset { "" } else { " (whole process)" }
        );
        results.extend(lines.iter().filter(|l| l.starts_with("RESULT")).cloned());
    }
    println!();
    for r in results {
        println!("{r}");
    }
    Ok(())
}

async fn measure(
    db: Db,
    dir: &Path,
    args: &TargetsArgs,
    today: NaiveDate,
) -> anyhow::Result<Vec<String>> {
    let url = db.url().to_string();
    crate::prepare(&db).await?;
    let from = NaiveDate::from_ymd_opt(today.year() - 2, today.month(), 1)
        .context("two years before --today")?;
    let mut out = Vec::new();

    // Set-up: dossiers over every agency and procedure.
    let agencies: Vec<String> = sqlx::query_scalar("SELECT code FROM agencies ORDER BY code")
        .fetch_all(db.pool())
        .await?;
    let procedures: Vec<(String, i64)> =
        sqlx::query("SELECT code, version FROM procedure_current WHERE active = 1 ORDER BY code")
            .fetch_all(db.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()?;
    let took =
        insert_synthetic_dossiers(&db, args.dossiers, from, today, &agencies, &procedures).await?;
    out.push(format!(
        "setup: {} dossiers over {} agencies, {from} to {today}, in {:.1} s",
        args.dossiers,
        agencies.len(),
        took.as_secs_f64()
    ));
    let t = Instant::now();
    let border = insert_border_traffic(&db, args.border_events, from, today).await?;
    out.push(format!(
        "setup: {} border trips, {} stages, {} events, {} checks, {} bookings, {} fees paid, in \
         {:.1} s",
        border.trips,
        border.stages,
        border.events,
        border.checks,
        border.bookings,
        border.fees,
        t.elapsed().as_secs_f64()
    ));
    // The daily roll-ups: the triggers marked every day the rows touched while they were
    // written; building them is the write path's deferred share, reported on its own.
    let t = Instant::now();
    let services_days = tinhso_services::indicators::refresh_rollup(&db)
        .await
        .map_err(|e| anyhow::anyhow!("services roll-up: {e:?}"))?;
    let services_took = t.elapsed();
    let t = Instant::now();
    let border_days = tinhso_border::indicators::refresh_rollup(&db)
        .await
        .map_err(|e| anyhow::anyhow!("border roll-up: {e:?}"))?;
    out.push(format!(
        "setup: daily roll-ups built from the raw rows: {services_days} agency-days in {:.1} s, \
         {border_days} gate-days in {:.1} s",
        services_took.as_secs_f64(),
        t.elapsed().as_secs_f64()
    ));
    // PostgreSQL: VACUUM as well, as autovacuum does on a running server soon after a load
    // (`rollup_marks` after every 1,000 changed rows, migration 1003). Without it the screen
    // measured the load's leftovers, not the screen: each roll-up's pending check walked the
    // 180,000–250,000 dead entries the refresh left in `rollup_marks_pending` (15–100 ms each
    // instead of under 1 ms), and the overdue counter read 3,500 heap pages to check
    // visibility (10–640 ms instead of a 3 ms index-only scan; 100,000 dossiers, dev build).
    let t = Instant::now();
    let maintenance = match db.backend() {
        tinhso_store::Backend::Postgres => "VACUUM (ANALYZE)",
        tinhso_store::Backend::Sqlite => "ANALYZE",
    };
    sqlx::query(maintenance).execute(db.pool()).await?;
    out.push(format!(
        "setup: {maintenance} {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    // The server's forecast job (every five minutes in `serve`): the gates' 72-hour
    // congestion forecasts kept for the pages, as of the moment the screen is looked at.
    let now = tinhso_services::indicators::local_midnight_micros(today) + 10 * HOUR_US;
    let t = Instant::now();
    let kept = tinhso_border::forecast::refresh(&db, now, &Default::default())
        .await
        .map_err(|e| anyhow::anyhow!("border forecast: {e:?}"))?;
    out.push(format!(
        "setup: the forecast job kept {} gates' forecasts in {:.0} ms (the server's work every \
         five minutes, not a page's)",
        kept.len(),
        t.elapsed().as_secs_f64() * 1000.0
    ));
    db.close().await;
    if let (Some(name), Some((base, scratch))) = (&args.keep_pg_copy, url.rsplit_once('/')) {
        if !url.starts_with("sqlite:") {
            let scratch = scratch.split('?').next().unwrap_or(scratch);
            let mut admin = sqlx::AnyConnection::connect(&format!("{base}/postgres")).await?;
            let t = Instant::now();
            // A template must have no other session: autovacuum may be in it for a moment.
            let mut copied = Err(anyhow::anyhow!("not tried"));
            for _ in 0..30 {
                copied = sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE {scratch}"))
                    .execute(&mut admin)
                    .await
                    .map(|_| ())
                    .map_err(anyhow::Error::from);
                if copied.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            out.push(match copied {
                Ok(()) => format!(
                    "setup: loaded database copied to {name} (kept) in {:.1} s",
                    t.elapsed().as_secs_f64()
                ),
                Err(e) => format!(
                    "setup: the copy to {name} failed, measuring anyway: {e}; sessions in \
                     {scratch}: {}",
                    sessions_in(&mut admin, scratch).await
                ),
            });
        }
    }

    // Measured: the screen on a fresh handle, then warm.
    let (lines, cold, warm_median) = screen(&url, args, today, now).await?;
    out.extend(lines);

    let backend = if url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    let mut result = format!(
        "RESULT {backend} targets screen: cold {cold:.0} ms, warm median {warm_median:.0} ms \
         ({} dossiers, {} border events)",
        args.dossiers, border.events
    );
    if !args.no_duckdb {
        let db = Db::connect(&url, &Default::default()).await?;
        let duck = duckdb_side_by_side(&db, dir, args, from, today).await?;
        db.close().await;
        out.push(format!(
            "duckdb {}: cold {:.0} ms, warm median {:.0} ms for the same aggregations (load of \
             the CSV not counted: {:.1} s)",
            duck.version, duck.cold_ms, duck.warm_ms, duck.load_s
        ));
        out.push(format!(
            "ratio tinhso / duckdb: cold {:.1}×, warm {:.1}× (aim ≤ 1.5×)",
            cold / duck.cold_ms,
            warm_median / duck.warm_ms
        ));
        result.push_str(&format!(
            "; duckdb cold {:.0} ms, warm {:.0} ms; ratio cold {:.1}×, warm {:.1}×",
            duck.cold_ms,
            duck.warm_ms,
            cold / duck.cold_ms,
            warm_median / duck.warm_ms
        ));
    }
    out.push(result);
    Ok(out)
}

/// The sessions connected to database `name` (pid, type, application, state, query), to say
/// what holds a template copy back.
async fn sessions_in(admin: &mut sqlx::AnyConnection, name: &str) -> String {
    let rows = sqlx::query(
        "SELECT CAST(pid AS BIGINT), COALESCE(backend_type, ''), COALESCE(application_name, ''), \
         COALESCE(state, ''), COALESCE(LEFT(query, 100), '') FROM pg_stat_activity \
         WHERE datname = $1",
    )
    .bind(name)
    .fetch_all(admin)
    .await;
    match rows {
        Ok(rows) => rows
            .iter()
            .map(|r| {
                format!(
                    "[pid {} {} {:?} {} {:?}]",
                    r.try_get::<i64, _>(0).unwrap_or_default(),
                    r.try_get::<String, _>(1).unwrap_or_default(),
                    r.try_get::<String, _>(2).unwrap_or_default(),
                    r.try_get::<String, _>(3).unwrap_or_default(),
                    r.try_get::<String, _>(4).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join(" "),
        Err(e) => format!("(pg_stat_activity: {e})"),
    }
}

/// The measured part: the screen (centre + communes map) on a freshly opened handle, then
/// `--warm-runs` more times, each with a new [`tinhso_targets::engine::Registry`] as each page
/// view has. Returns the lines to print, the cold time and the warm median (ms).
async fn screen(
    url: &str,
    args: &TargetsArgs,
    today: NaiveDate,
    now: i64,
) -> anyhow::Result<(Vec<String>, f64, f64)> {
    let db = Db::connect(url, &Default::default()).await?;
    let mut runs: Vec<(Duration, Duration)> = Vec::new();
    let mut summary = String::new();
    for i in 0..=args.warm_runs {
        // A new registry each time, as each page view makes: nothing memoised between runs.
        let registry = tinhso_targets::engine::Registry::standard();
        let t = Instant::now();
        let centre = tinhso_targets::ops::centre(&db, &registry, today, now)
            .await
            .map_err(|e| anyhow::anyhow!("ops::centre: {e:?}"))?;
        let screen = t.elapsed();
        let t = Instant::now();
        let period = tinhso_targets::period::Period::parse(&today.year().to_string())
            .context("the year's period")?;
        let map = tinhso_targets::ops::by_commune(&db, &registry, &args.map, period)
            .await
            .map_err(|e| anyhow::anyhow!("ops::by_commune: {e:?}"))?;
        let map_t = t.elapsed();
        if i == 0 {
            summary = format!(
                "{} targets ({} with a live trend), {} communes on the map of {}; counters: {} \
                 received today, {} trucks at the border",
                centre.targets.len(),
                centre
                    .targets
                    .iter()
                    .filter(|t| !t.trend.is_empty())
                    .count(),
                map.len(),
                args.map,
                centre.counters.received_today,
                centre.counters.at_border
            );
        }
        runs.push((screen, map_t));
    }
    db.close().await;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (cold_screen, cold_map) = runs[0];
    let cold = ms(cold_screen) + ms(cold_map);
    let mut warm: Vec<f64> = runs[1..].iter().map(|(a, b)| ms(*a) + ms(*b)).collect();
    warm.sort_by(f64::total_cmp);
    let warm_median = warm.get(warm.len() / 2).copied().unwrap_or(f64::NAN);
    let lines = vec![
        format!("screen: {summary}"),
        format!(
            "screen cold: {cold:.0} ms (centre {:.0} ms + communes map {:.0} ms); warm median \
             {warm_median:.0} ms over {} runs (aim ≤ 300 ms cold)",
            ms(cold_screen),
            ms(cold_map),
            warm.len()
        ),
    ];
    Ok((lines, cold, warm_median))
}

/// What [`insert_border_traffic`] wrote.
struct BorderRows {
    trips: u64,
    stages: u64,
    events: u64,
    checks: u64,
    bookings: u64,
    fees: u64,
}

/// Rows gathered for one multi-row `INSERT`. The pool tables flush themselves every `ROWS`
/// rows; the traffic tables are flushed together, parents first, every [`TRIPS_PER_FLUSH`]
/// trips (the foreign keys hold at every statement).
struct Batch {
    head: &'static str,
    rows: Vec<String>,
    written: u64,
}

const ROWS: usize = 1_000;
const TRIPS_PER_FLUSH: u64 = 150;

impl Batch {
    fn new(head: &'static str) -> Self {
        Self {
            head,
            rows: Vec::with_capacity(ROWS),
            written: 0,
        }
    }

    async fn push(&mut self, conn: &mut sqlx::AnyConnection, row: String) -> anyhow::Result<()> {
        self.rows.push(row);
        if self.rows.len() >= ROWS {
            self.flush(conn).await?;
        }
        Ok(())
    }

    /// Keep a row for the next [`Batch::flush`].
    fn add(&mut self, row: String) {
        self.rows.push(row);
    }

    /// Rows written plus rows waiting.
    fn written_and_kept(&self) -> u64 {
        self.written + self.rows.len() as u64
    }

    async fn flush(&mut self, conn: &mut sqlx::AnyConnection) -> anyhow::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let sql = format!("{} VALUES {}", self.head, self.rows.join(","));
        // Large statements used once: not kept in the statement cache.
        sqlx::query(&sql).persistent(false).execute(conn).await?;
        self.written += self.rows.len() as u64;
        self.rows.clear();
        Ok(())
    }
}

/// Synthetic border traffic between `from` and `to`: `events / 6` trips over the gates
/// (Hữu Nghị busiest), each declared, at the staging yard, in the inspection yard, checked,
/// paid and crossed (the last two days' trips partly still on the way), with the checks its
/// gate and goods need, a booking for 30 %, a fee paid online for 70 %, and six sensor events.
async fn insert_border_traffic(
    db: &Db,
    events: u64,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<BorderRows> {
    use tinhso_border::checks::required_for;
    tinhso_border::events::seed_sensors(db)
        .await
        .map_err(|e| anyhow::anyhow!("sensors: {e:?}"))?;
    let gates = tinhso_border::gates::list(db)
        .await
        .map_err(|e| anyhow::anyhow!("gates: {e:?}"))?;
    if gates.is_empty() {
        bail!("no gates seeded");
    }
    let sensors = tinhso_border::events::sensors(db)
        .await
        .map_err(|e| anyhow::anyhow!("sensors: {e:?}"))?;
    // Per gate: the sensor for each stage (first one found).
    let sensor_for = |gate: &str, stage: &str, kind: &str| -> Option<String> {
        sensors
            .iter()
            .find(|s| s.gate_code == gate && s.stage.as_str() == stage && s.kind.as_str() == kind)
            .map(|s| s.id.clone())
    };
    let weights: Vec<(usize, u64)> = gates
        .iter()
        .enumerate()
        .map(|(i, g)| {
            (
                i,
                match g.code.as_str() {
                    "HN" => 50,
                    "TT" => 30,
                    "CM" => 10,
                    _ => 5,
                },
            )
        })
        .collect();
    let total_weight: u64 = weights.iter().map(|w| w.1).sum();
    let lo = tinhso_services::indicators::local_midnight_micros(from);
    let hi = tinhso_services::indicators::local_midnight_micros(to);
    let span = (hi - lo).max(DAY_US) as u64;
    let trips = (events / 6).max(1);
    let mut rng = Rng(0x6269_656e_6769_6f69);
    let mut tx = db.pool().begin().await?;
    let now = hi;
    // Enterprises, drivers and vehicles: a pool the trips share.
    let pool_size = 20_000u64.min(trips);
    let mut ent = Batch::new(
        "INSERT INTO border_enterprises (mst, name, name_folded, phone, created_by, created_at)",
    );
    for e in 0..200u64 {
        ent.push(
            &mut tx,
            format!("('89{e:08}','Công ty {e}','cong ty {e}','0912345678','bench',{now})"),
        )
        .await?;
    }
    ent.flush(&mut tx).await?;
    let mut drv = Batch::new(
        "INSERT INTO border_drivers (id, id_kind, id_number, full_name, phone, nationality, created_at)",
    );
    let mut veh = Batch::new(
        "INSERT INTO border_vehicles (plate, country, vehicle_kind, plate_colour, owner_mst, payload_kg, created_at)",
    );
    for v in 0..pool_size {
        drv.push(
            &mut tx,
            format!("('bd-{v}','cccd','020{v:09}','Nguyễn Văn {v}','0912345678','VN',{now})"),
        )
        .await?;
        veh.push(
            &mut tx,
            format!(
                "('12C-{:03}.{:02}','vn','truck','yellow','89{:08}',30000,{now})",
                v / 100,
                v % 100,
                v % 200
            ),
        )
        .await?;
    }
    drv.flush(&mut tx).await?;
    veh.flush(&mut tx).await?;
    tx.commit().await?;

    let mut own_veh = Batch::new(
        "INSERT INTO border_vehicles (plate, country, vehicle_kind, plate_colour, owner_mst, payload_kg, created_at)",
    );
    let mut trip_b = Batch::new(
        "INSERT INTO border_trips (id, code, version, enterprise_mst, gate_code, direction, \
         vehicle_plate, trailer_plate, driver_id, expected_arrival, customs_declaration, \
         total_weight_kg, perishable, quarantine, stage, stage_at, created_by, created_at, updated_at)",
    );
    let mut stage_b = Batch::new("INSERT INTO border_trip_stages (trip_id, stage, at, source)");
    let mut event_b = Batch::new(
        "INSERT INTO border_events (event_id, kind, sensor_id, gate_code, stage, at, plate_text, \
         confidence, ref, trip_id, outcome, received_at)",
    );
    let mut check_b = Batch::new(
        "INSERT INTO border_checks (trip_id, kind, gate_code, agency_code, status, reason, \
         started_at, decided_at, decided_by, updated_at)",
    );
    let mut booking_b = Batch::new(
        "INSERT INTO border_bookings (id, trip_id, gate_code, direction, hour_start, perishable, \
         status, grace_used, arrive_by, source, created_by, created_at, updated_at)",
    );
    let mut assess_b = Batch::new(
        "INSERT INTO border_fee_assessments (id, trip_id, trip_code, trip_version, gate_code, \
         fee_date, schedule_id, journey, vehicle_class, category, amount_vnd, collector_vnd, \
         budget_vnd, confirmed, quote, status, assessed_by, assessed_at, paid_at)",
    );
    let mut pay_b = Batch::new(
        "INSERT INTO border_fee_payments (id, assessment_id, trip_code, gate_code, amount_vnd, \
         purpose, status, gateway, gateway_txn_id, qr_payload, created_by, created_at, paid_at, \
         receipt_no, collector_vnd, budget_vnd)",
    );
    let stages = ["declared", "staging", "yard", "checked", "paid", "crossed"];
    let mut tx = db.pool().begin().await?;
    let mut ev_no = 0u64;
    for n in 0..trips {
        let mut pick = rng.below(total_weight);
        let mut gi = 0;
        for (i, w) in &weights {
            if pick < *w {
                gi = *i;
                break;
            }
            pick -= w;
        }
        let gate = &gates[gi];
        let direction = if rng.below(100) < 70 {
            "export"
        } else {
            "import"
        };
        let quarantine = match rng.below(100) {
            0..=44 => "plant",
            45..=49 => "animal",
            _ => "",
        };
        let arrive = lo + rng.below(span) as i64;
        // Stage times: declared a day before, then through the yards within hours.
        let mut at = [0i64; 6];
        at[0] = arrive - DAY_US;
        at[1] = arrive;
        at[2] = at[1] + (1 + rng.below(4) as i64) * HOUR_US;
        at[3] = at[2] + (1 + rng.below(3) as i64) * HOUR_US;
        at[4] = at[3] + rng.below(60) as i64 * 60_000_000;
        at[5] = at[4] + (1 + rng.below(3) as i64) * HOUR_US;
        // The furthest stage reached by now.
        let reached = at.iter().rposition(|t| *t <= now).unwrap_or(0);
        let v = n % pool_size;
        let mut plate = format!("12C-{:03}.{:02}", v / 100, v % 100);
        if reached < 5 {
            // A truck still on its way has no other active trip: a vehicle of its own.
            plate = format!(
                "12D-{:03}.{:02}",
                own_veh.written_and_kept() / 100,
                own_veh.written_and_kept() % 100
            );
            own_veh.add(format!(
                "('{plate}','vn','truck','yellow','89{:08}',30000,{now})",
                n % 200
            ));
        }
        let id = format!("bt-{n}");
        let code = format!("{}-B{n:08}", gate.code);
        trip_b.add(format!(
            "('{id}','{code}',1,'89{:08}','{}','{direction}','{plate}',NULL,'bd-{v}',{},\
                     '30{n:010}',20000,{},'{quarantine}','{}',{},'bench',{},{})",
            n % 200,
            gate.code,
            at[1],
            i64::from(quarantine == "plant"),
            stages[reached],
            at[reached],
            at[0],
            at[reached]
        ));
        for (s, stage) in stages.iter().enumerate().take(reached + 1) {
            let source = match s {
                0 => "declaration",
                1 => "gps",
                2 => "qr",
                3 => "officer",
                4 => "payment",
                _ => "camera",
            };
            stage_b.add(format!("('{id}','{stage}',{},'{source}')", at[s]));
        }
        // Six sensor events: camera + GPS at staging, camera + QR at the yard, camera + QR at
        // the crossing (those that happened by now).
        let plan = [
            (1, "camera"),
            (1, "geofence"),
            (2, "camera"),
            (2, "qr"),
            (5, "camera"),
            (5, "qr"),
        ];
        for (s, kind) in plan {
            if s > reached {
                continue;
            }
            let Some(sensor) = sensor_for(&gate.code, stages[s], kind) else {
                continue;
            };
            let t = at[s] + rng.below(120) as i64 * 1_000_000;
            let (text, conf, reference, outcome) = match kind {
                "camera" => (
                    format!("'{}'", plate.replace(['-', '.'], "")),
                    "0.9",
                    "NULL".to_string(),
                    "exact",
                ),
                "qr" => ("NULL".to_string(), "NULL", format!("'{code}'"), "qr"),
                _ => ("NULL".to_string(), "NULL", format!("'{id}'"), "gps"),
            };
            let kind_col = if kind == "geofence" { "gps" } else { kind };
            event_b.add(format!(
                "('be-{ev_no}','{kind_col}','{sensor}','{}','{}',{t},{text},{conf},\
                         {reference},'{id}','{outcome}',{t})",
                gate.code, stages[s]
            ));
            ev_no += 1;
        }
        if reached >= 3 {
            for r in required_for(gate, quarantine) {
                let agency = r.agency.unwrap_or_default();
                let decided = at[3] - rng.below(50) as i64 * 60_000_000;
                check_b.add(format!(
                    "('{id}','{}','{}','{agency}','passed',NULL,{},{decided},'bench',{decided})",
                    r.kind.as_str(),
                    gate.code,
                    at[2]
                ));
            }
        }
        if rng.below(100) < 30 {
            let hour = at[1] - at[1].rem_euclid(HOUR_US);
            let status = if reached >= 5 { "used" } else { "active" };
            booking_b.add(format!(
                "('bb-{n}','{id}','{}','{direction}',{hour},0,'{status}',0,{},'booking',\
                         'bench',{},{})",
                gate.code,
                hour + 2 * HOUR_US,
                at[0],
                at[reached]
            ));
        }
        if reached >= 4 && rng.below(100) < 70 {
            let day = chrono::DateTime::from_timestamp_micros(at[4] + 7 * HOUR_US)
                .map(|d| d.date_naive().format("%Y-%m-%d").to_string())
                .unwrap_or_default();
            assess_b.add(format!(
                "('ba-{n}','{id}','{code}',1,'{}','{day}','bench','export','truck',\
                         'goods',500000,400000,100000,1,'{{}}','paid','bench',{},{})",
                gate.code, at[3], at[4]
            ));
            pay_b.add(format!(
                "('bp-{n}','ba-{n}','{code}','{}',500000,'fee','paid','vietqr','bt{n}',\
                         'bench','bench',{},{},'R{n:010}',400000,100000)",
                gate.code, at[3], at[4]
            ));
        }
        // Parents first, every few trips; a commit every 50,000 and at the end.
        let commit = n % 50_000 == 49_999 || n + 1 == trips;
        if n % TRIPS_PER_FLUSH == TRIPS_PER_FLUSH - 1 || commit {
            for b in [
                &mut own_veh,
                &mut trip_b,
                &mut stage_b,
                &mut event_b,
                &mut check_b,
                &mut booking_b,
                &mut assess_b,
                &mut pay_b,
            ] {
                b.flush(&mut tx).await?;
            }
        }
        if commit {
            std::mem::replace(&mut tx, db.pool().begin().await?)
                .commit()
                .await?;
            if n % 200_000 == 199_999 {
                eprintln!("bench: {}/{trips} border trips", n + 1);
            }
        }
    }
    Ok(BorderRows {
        trips: trip_b.written,
        stages: stage_b.written,
        events: event_b.written,
        checks: check_b.written,
        bookings: booking_b.written,
        fees: pay_b.written,
    })
}

/// DuckDB's figures: version, the first run, the median of the next, the CSV load.
struct Duck {
    version: String,
    cold_ms: f64,
    warm_ms: f64,
    load_s: f64,
}

/// Export the rows the screen reads to CSV, run `scripts/bench_duckdb.py` on them and read its
/// one-line JSON answer.
async fn duckdb_side_by_side(
    db: &Db,
    dir: &Path,
    args: &TargetsArgs,
    from: NaiveDate,
    today: NaiveDate,
) -> anyhow::Result<Duck> {
    let tables: &[(&str, &str)] = &[
        (
            "dossiers",
            "SELECT agency_code, status, channel, submitted_at, finished_at, returned_at, \
             due_date, supplement_count, fee_vnd, paid_vnd FROM dossiers",
        ),
        (
            "agencies",
            "SELECT code, COALESCE(admin_unit_code, '') FROM agencies",
        ),
        (
            "trips",
            "SELECT id, code, gate_code, quarantine, stage FROM border_trips",
        ),
        (
            "stages",
            "SELECT trip_id, stage, at FROM border_trip_stages",
        ),
        ("bookings", "SELECT trip_id, status FROM border_bookings"),
        (
            "payments",
            "SELECT trip_code, status FROM border_fee_payments",
        ),
        (
            "checks",
            "SELECT trip_id, kind, agency_code, decided_at FROM border_checks",
        ),
    ];
    let t = Instant::now();
    for (name, sql) in tables {
        export_csv(db, sql, &dir.join(format!("{name}.csv"))).await?;
    }
    eprintln!("bench: CSV export {:.1} s", t.elapsed().as_secs_f64());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench_duckdb.py");
    let output = std::process::Command::new(&args.python)
        .arg(&script)
        .arg(dir)
        .arg(from.to_string())
        .arg(today.to_string())
        .arg(args.warm_runs.to_string())
        .output()
        .with_context(|| format!("cannot run {} {}", args.python, script.display()))?;
    if !output.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let v: serde_json::Value = serde_json::from_slice(
        output
            .stdout
            .split(|b| *b == b'\n')
            .rfind(|l| !l.is_empty())
            .unwrap_or_default(),
    )
    .context("bench_duckdb.py printed no JSON")?;
    let num = |k: &str| v[k].as_f64().with_context(|| format!("duckdb: no {k}"));
    Ok(Duck {
        version: v["version"].as_str().unwrap_or("?").to_string(),
        cold_ms: num("cold_ms")?,
        warm_ms: num("warm_ms")?,
        load_s: num("load_s")?,
    })
}

/// Write a query's rows as CSV (numbers as they are, text quoted, NULL empty).
async fn export_csv(db: &Db, sql: &str, path: &PathBuf) -> anyhow::Result<()> {
    use futures_util::TryStreamExt;
    use sqlx::{TypeInfo, ValueRef};
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut rows = sqlx::query(sql).fetch(db.pool());
    while let Some(r) = rows.try_next().await? {
        for i in 0..r.columns().len() {
            if i > 0 {
                w.write_all(b",")?;
            }
            let raw = r.try_get_raw(i)?;
            if raw.is_null() {
                continue;
            }
            let ty = raw.type_info().name().to_ascii_uppercase();
            if ty.contains("INT") {
                write!(w, "{}", r.try_get::<i64, _>(i)?)?;
            } else {
                let s: String = r.try_get(i)?;
                write!(w, "\"{}\"", s.replace('"', "\"\""))?;
            }
        }
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(())
}
