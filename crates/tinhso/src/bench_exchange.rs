//! `tinhso bench exchange`: the exchange hub's throughput and latency, and NATS publishing
//! (the measuring code is `tinhso_exchange::bench`).

use anyhow::Context;
use std::time::Duration;
use tinhso_store::{migrate, Db};

/// Options of `tinhso bench exchange`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExchangeArgs {
    /// An empty database to run on (`sqlite://new-file.db` or `postgres://…/empty_db`)
    /// [default: a new SQLite file in a temporary directory, removed at the end].
    #[arg(long)]
    pub database_url: Option<String>,
    /// Concurrent clients (one keep-alive connection each, 8 members among them).
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Measured seconds of exchanges.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// NATS server for the publishing phase (a stream of its own, deleted afterwards); none:
    /// skipped.
    #[arg(long, env = "TINHSO_NATS_URL")]
    pub nats_url: Option<String>,
    /// Events to publish in the NATS phase.
    #[arg(long, default_value_t = 20_000)]
    pub events: usize,
    /// Events in the webhook phase, each delivered to 8 subscriptions on loopback; 0: skipped.
    #[arg(long, default_value_t = 2_000)]
    pub webhook_events: usize,
    /// Requests each client signs before the clock starts (then inline): takes the clients'
    /// signing off the measured cores; 0: each request signed when sent.
    #[arg(long, default_value_t = 0)]
    pub presign: usize,
    /// Clients check the hub's signature on every answer (costs client CPU on the same cores).
    #[arg(long)]
    pub verify_answers: bool,
    /// A fixed amount of work: this many exchanges in all, however long they take
    /// (`--seconds` is then ignored); for CPU per exchange. 0: as many as fit in `--seconds`.
    #[arg(long, default_value_t = 0)]
    pub exchanges: usize,
    /// The echo service's data classification: `internal` (and `public`) keep both bodies of
    /// every exchange encrypted beside its log entry; `restricted` keeps only their hashes.
    /// Compare the two for what kept bodies cost.
    #[arg(long, default_value = "internal", value_parser = ["public", "internal", "restricted"])]
    pub classification: String,
}

pub async fn run(args: &ExchangeArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!(
        "tinhso-bench-exchange-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let own_dir = args.database_url.is_none();
    if own_dir {
        std::fs::create_dir_all(&dir)?;
    }
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.display()));
    let db = Db::connect(&url, &Default::default())
        .await
        .with_context(|| format!("--database-url {}", crate::config::redact(&url)))?;
    migrate::run(&db, &crate::all_migrations()).await?;
    println!(
        "tinhso bench exchange: {} ({}), {} clients, {:.0} s, service classified {}{}",
        db.backend().name(),
        crate::config::redact(&url),
        args.clients,
        args.seconds,
        args.classification,
        match &args.nats_url {
            Some(u) => format!(
                ", then {} events to NATS at {}",
                args.events,
                crate::config::redact(u)
            ),
            None => String::new(),
        }
    );
    let report = tinhso_exchange::bench::run(
        &db,
        &tinhso_exchange::bench::Options {
            clients: args.clients,
            duration: Duration::from_secs_f64(args.seconds.max(0.5)),
            nats_url: args.nats_url.clone(),
            events: args.events,
            webhook_events: args.webhook_events,
            presign: args.presign,
            verify_answers: args.verify_answers,
            exchanges: args.exchanges,
            classification: args.classification.clone(),
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!(e))?;
    for line in report.lines() {
        println!("  {line}");
    }
    db.close().await;
    if own_dir {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
