//! `tinhso bench border`: the border gate's figures (the measuring code lives in the border
//! crate: `events::bench_ingest`, `slots::bench::bench_queue`, `misread::evaluate`).
//!
//! Each phase prints its throughput, p50/p99 latency where it has one, and the process's peak
//! memory during it; the plate-matching phase prints its accuracy. Databases are scratch ones
//! (a temporary SQLite file, or a new PostgreSQL database dropped at the end).

use crate::bench::{
    memory_kib, mib, on_scratch_db, reset_peak_rss, BackendChoice, Target, DEFAULT_PG_URL,
};
use std::time::Instant;
use tinhso_store::migrate;

/// Options of `tinhso bench border`.
#[derive(Debug, Clone, clap::Args)]
pub struct BorderArgs {
    /// Database engine(s) for the phases that use one.
    #[arg(long, value_enum, default_value_t = BackendChoice::Sqlite)]
    pub backend: BackendChoice,
    /// PostgreSQL server for `--backend postgres|both` (a fresh database is created and dropped).
    #[arg(long, env = "TINHSO_BENCH_PG_URL", default_value = DEFAULT_PG_URL)]
    pub pg_url: String,
    /// Active trips whose plates the cameras read.
    #[arg(long, default_value_t = 10_000)]
    pub trips: usize,
    /// Camera events ingested in batches (5% are re-sent duplicates, misreads at the simulated
    /// rates).
    #[arg(long, default_value_t = 200_000)]
    pub events: usize,
    /// Events per batch.
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
    /// Single events (one transaction each) timed for the latency figures.
    #[arg(long, default_value_t = 2_000)]
    pub single: usize,
    /// Trucks queued for the queue-position phase (December 2021: 4,550–6,200).
    #[arg(long, default_value_t = 6_200)]
    pub queue_trucks: usize,
    /// Queue-position reads.
    #[arg(long, default_value_t = 2_000_000)]
    pub queries: usize,
    /// Threads reading queue positions.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Active plates and camera reads for the matching-accuracy phase.
    #[arg(long, default_value_t = 10_000)]
    pub plates: usize,
    #[arg(long, default_value_t = 100_000)]
    pub reads: usize,
    /// Simulated days of traffic timed end to end (`tinhso border simulate`, normal scenario);
    /// 0 skips the phase.
    #[arg(long, default_value_t = 30)]
    pub sim_days: u32,
    /// Volume of the simulated traffic (1.0: the province's ~1,250 vehicles a day × the
    /// month's harvest factor).
    #[arg(long, default_value_t = 1.0)]
    pub sim_scale: f64,
    /// Seed of the generated plates, misreads and events.
    #[arg(long, default_value_t = 20_261_129)]
    pub seed: u64,
    /// Run only the plate-matching accuracy phase (no database; minutes in a debug build).
    #[arg(long)]
    pub matching_only: bool,
}

fn targets(args: &BorderArgs) -> Vec<Target> {
    match args.backend {
        BackendChoice::Sqlite => vec![Target::Sqlite(None)],
        BackendChoice::Postgres => vec![Target::Postgres(args.pg_url.clone())],
        BackendChoice::Both => vec![Target::Sqlite(None), Target::Postgres(args.pg_url.clone())],
    }
}

fn peak() -> String {
    mib(memory_kib().1)
}

pub async fn run(args: &BorderArgs) -> anyhow::Result<()> {
    if args.batch == 0 || args.trips == 0 || args.plates == 0 || args.threads == 0 {
        anyhow::bail!("--batch, --trips, --plates and --threads must be at least 1");
    }
    let mut results: Vec<String> = Vec::new();

    // Plate matching: no database.
    reset_peak_rss();
    let t = Instant::now();
    let acc = tinhso_border::misread::evaluate(args.plates, args.reads, args.seed);
    println!(
        "plate matching: {} active plates, {} reads ({} of declared trucks) in {:.2} s",
        acc.active,
        acc.reads,
        acc.declared_reads,
        t.elapsed().as_secs_f64()
    );
    let line = format!(
        "border plate matching: {:.2}% right, {} wrong, {:.2}% to review; undeclared trucks {} of {} attached; \
         {:.0} reads/s (one thread), p50 {:.1} µs, p99 {:.1} µs; index of {} plates built in {:.0} ms; peak {}",
        acc.right_rate * 100.0,
        acc.wrong,
        acc.review as f64 * 100.0 / acc.declared_reads.max(1) as f64,
        acc.undeclared_attached,
        acc.undeclared_reads,
        1e9 / acc.read_ns_mean.max(1.0),
        acc.read_ns_p50 as f64 / 1e3,
        acc.read_ns_p99 as f64 / 1e3,
        acc.active,
        acc.index_build_ms,
        peak()
    );
    println!("  {line}");
    println!(
        "  reads in time order; {:.0} plates in the index on average when a read came, {} trips left it after their last read (crossed)",
        acc.active_mean, acc.crossed
    );
    println!(
        "  scoring rule (confidence, expected hour or present at the gate): {} ambiguous reads settled right, {} wrong, {} undeclared; still in review by reason: {:?}",
        acc.settled, acc.settled_wrong, acc.undeclared_settled, acc.review_why
    );
    println!("  declared trucks' reads in review, by cause:");
    for (cause, n) in &acc.review_cause {
        println!(
            "    {cause}: {n} ({:.2}% of declared reads)",
            *n as f64 * 100.0 / acc.declared_reads.max(1) as f64
        );
    }
    println!(
        "  … by candidate plates weighed (0: none): {:?}",
        acc.review_candidates
    );
    for k in &acc.by_kind {
        println!(
            "    {}: {} reads, {} right, {} wrong, {} review {:?}; undeclared {} of {} attached",
            k.kind,
            k.reads,
            k.right,
            k.wrong,
            k.review,
            k.review_why,
            k.undeclared_attached,
            k.undeclared_reads
        );
    }
    for w in &acc.wrong_examples {
        println!("  wrong: {w:?}");
    }
    results.push(line);
    // The same reads with every trip a candidate throughout (the evaluation before
    // 2026-11-30), for comparison.
    let st = tinhso_border::misread::evaluate_with(
        args.plates,
        args.reads,
        args.seed,
        tinhso_border::misread::Timeline::Static,
    );
    let line = format!(
        "border plate matching, static timeline (every trip a candidate for every read, never present): {:.2}% right, {} wrong, {:.2}% to review; undeclared trucks {} of {} attached; in review {:?}",
        st.right_rate * 100.0,
        st.wrong,
        st.review as f64 * 100.0 / st.declared_reads.max(1) as f64,
        st.undeclared_attached,
        st.undeclared_reads,
        st.review_cause
    );
    println!("  {line}");
    results.push(line);

    let targets = if args.matching_only {
        Vec::new()
    } else {
        targets(args)
    };
    for target in targets {
        // Camera events.
        reset_peak_rss();
        let (ing, backend, desc) = on_scratch_db(&target, |db, _dir| async move {
            migrate::run(&db, &crate::all_migrations()).await?;
            crate::prepare(&db).await?;
            let r = tinhso_border::events::bench_ingest(
                &db,
                args.trips,
                args.events,
                args.batch,
                args.single,
                args.seed,
            )
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
            Ok(r)
        })
        .await?;
        println!("camera events on {backend} ({desc})");
        let line = format!(
            "border camera events [{backend}]: {:.0} events/s in batches of {} ({} events, {} trips: {} attached, {} to review, {} duplicates); \
             single event p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} events); \
             {} at a time: {:.0} events/s, p50 {:.2} ms, p99 {:.2} ms, {} write transactions for {} events; peak {}",
            ing.batch_events_per_s,
            ing.batch,
            ing.events,
            ing.trips,
            ing.batch_attached,
            ing.batch_review,
            ing.batch_duplicates,
            ing.single_p50_us as f64 / 1e3,
            ing.single_p99_us as f64 / 1e3,
            ing.single_max_us as f64 / 1e3,
            ing.single_events,
            tinhso_border::events::CONCURRENT_SENDERS,
            ing.concurrent_events_per_s,
            ing.concurrent_p50_us as f64 / 1e3,
            ing.concurrent_p99_us as f64 / 1e3,
            ing.concurrent_transactions,
            ing.concurrent_events,
            peak()
        );
        println!("  {line}");
        results.push(line);

        // Queue positions.
        reset_peak_rss();
        let (q, backend, _) = on_scratch_db(&target, |db, _dir| async move {
            migrate::run(&db, &crate::all_migrations()).await?;
            crate::prepare(&db).await?;
            tinhso_border::slots::bench::bench_queue(
                &db,
                args.queue_trucks,
                args.queries,
                args.threads,
            )
            .await
            .map_err(|e| anyhow::anyhow!(e))
        })
        .await?;
        let line = format!(
            "border queue positions [{backend}]: {:.0} reads/s on {} threads, p50 {:.2} µs, p99 {:.2} µs ({} reads, {} trucks queued, {} misses); \
             through the async path {:.0} reads/s, p99 {:.2} µs; snapshot rebuild p50 {:.1} ms, max {:.1} ms; peak {}",
            q.cached_per_sec,
            q.threads,
            q.cached_p50.as_secs_f64() * 1e6,
            q.cached_p99.as_secs_f64() * 1e6,
            q.cached_queries,
            q.trucks,
            q.misses,
            q.async_per_sec,
            q.async_p99.as_secs_f64() * 1e6,
            q.rebuild_p50.as_secs_f64() * 1e3,
            q.rebuild_max.as_secs_f64() * 1e3,
            peak()
        );
        println!("  {line}");
        results.push(line);

        if args.sim_days > 0 {
            reset_peak_rss();
            let (r, backend, _) = on_scratch_db(&target, |db, _dir| async move {
                migrate::run(&db, &crate::all_migrations()).await?;
                crate::prepare(&db).await?;
                let mut o = tinhso_border::sim::Options::new(tinhso_border::sim::Scenario::Normal);
                o.days = args.sim_days;
                o.scale = args.sim_scale;
                tinhso_border::sim::run(&db, &o)
                    .await
                    .map_err(|e| anyhow::anyhow!(e))
            })
            .await?;
            let checks: usize = r
                .checks
                .values()
                .map(|c| c.started + c.passed + c.held + c.rejected)
                .sum();
            let line = format!(
                "border simulation [{backend}]: {} days at scale {} in {:.1} s ({} trips declared, {} corrected, {} bookings cancelled, {} rescheduled, {} crossed, {} turned back, \
                 {} check calls, {} fees paid, {} events: {} attached, {} to review, {} on a wrong trip, {} undeclared attached; \
                 declare {:.1} s, book {:.1} s, changes {:.1} s, ingest {:.1} s, checks {:.1} s, fees {:.1} s, queue job {:.1} s, invariants {:.1} s, other {:.1} s; invariants held; wall per day {}; CPU per day {}); peak {}",
                r.days,
                r.scale,
                r.elapsed_s,
                r.declared,
                r.corrected,
                r.bookings_cancelled,
                r.rescheduled,
                r.crossed,
                r.returned,
                checks,
                r.fees_paid_online + r.fees_paid_at_gate,
                r.events_sent,
                r.events_attached,
                r.events_review,
                r.events_wrong_trip,
                r.undeclared_attached,
                r.secs_declare,
                r.secs_book,
                r.secs_changes,
                r.secs_ingest,
                r.secs_checks,
                r.secs_fees,
                r.secs_queue,
                r.secs_invariants,
                r.secs_other,
                r.secs_per_day
                    .iter()
                    .map(|s| format!("{s:.1}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                r.days_detail
                    .iter()
                    .map(|d| d.cpu.map_or("?".into(), |c| format!("{c:.1}")))
                    .collect::<Vec<_>>()
                    .join(" "),
                peak()
            );
            println!("  {line}");
            results.push(line);
        }
    }
    println!();
    println!("# results (one line per measurement, for docs/benchmarks.md)");
    for r in results {
        println!("{r}");
    }
    Ok(())
}
