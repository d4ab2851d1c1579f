//! `tinhso`: the one binary of the Tỉnh số platform.

use tinhso::{bench, config, demo};

/// mimalloc instead of the system allocator: a web request allocates and frees hundreds of
/// small buffers (headers, JSON, rows), and glibc's allocator spent ~12 % of a look-up's CPU
/// on it (`perf`, release, 2026-11-30).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod border_cli;
mod direct_cli;
mod targets_cli;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use config::{SettingArgs, Settings};
use std::fs::File;
use std::path::{Path, PathBuf};
use tinhso_store::audit::Ctx;
use tinhso_store::{migrate, Db};

#[derive(Parser)]
#[command(
    name = "tinhso",
    version,
    about = "Tỉnh số — nền tảng tỉnh số (digital-province platform)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// CLI arguments are parsed once; the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the web server (cổng dịch vụ, nghiệp vụ, API).
    Serve {
        #[command(flatten)]
        settings: SettingArgs,
        /// Load the demo data (idempotent).
        #[arg(long, env = "TINHSO_DEMO")]
        demo: bool,
    },
    /// Apply database migrations and seed the reference data.
    Migrate {
        #[command(flatten)]
        settings: SettingArgs,
    },
    /// Load the demo data into the database (idempotent).
    Demo {
        #[command(flatten)]
        settings: SettingArgs,
        /// Print the current TOTP code of a demo account (demo secret only).
        #[arg(long)]
        totp_for: Option<String>,
    },
    /// Audit trail tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Data exchange hub (LGSP) tools.
    Exchange {
        #[command(subcommand)]
        command: ExchangeCommand,
    },
    /// Write a consistent snapshot of the SQLite database while the server runs.
    Backup {
        #[command(flatten)]
        settings: SettingArgs,
        /// Snapshot file to create (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Replace the SQLite database with a snapshot (the server must be stopped).
    Restore {
        #[command(flatten)]
        settings: SettingArgs,
        /// Snapshot file made by `tinhso backup`.
        #[arg(long)]
        from: PathBuf,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Plans and their targets (kế hoạch, chỉ tiêu).
    Plan {
        #[command(subcommand)]
        command: PlanCommand,
    },
    /// The plan's annual review (PDF, spreadsheet), the Government reporting export and the
    /// leaders' weekly digest (báo cáo mục tiêu).
    Targets {
        #[command(subcommand)]
        command: targets_cli::TargetsCommand,
    },
    /// Connectors to national systems (kết nối hệ thống quốc gia).
    Connectors {
        #[command(subcommand)]
        command: ConnectorsCommand,
    },
    /// Digital border gate: traffic simulator and congestion forecast (cửa khẩu số).
    Border {
        #[command(subcommand)]
        command: border_cli::BorderCommand,
    },
    /// Benchmarks that print throughput, p50/p99 latency and peak memory.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

#[derive(Subcommand)]
enum PlanCommand {
    /// Import a plan file (TOML: a [plan] table and [[target]] entries, as
    /// crates/targets/data/targets.toml). Idempotent; a changed file replaces the plan's
    /// targets. Errors name the file, the line and the field; exit code 1 and nothing written.
    Import {
        #[command(flatten)]
        settings: SettingArgs,
        file: PathBuf,
    },
    /// List the imported plans and how many targets each has.
    List {
        #[command(flatten)]
        settings: SettingArgs,
    },
    /// The operations centre on the terminal (trung tâm điều hành): every target with its
    /// value, trend points, projection and status, the live counters, and the time it took.
    Operations {
        #[command(flatten)]
        settings: SettingArgs,
        /// The day to compute for, YYYY-MM-DD [default: today, Vietnam time].
        #[arg(long)]
        date: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain; exit code 1 and the first broken link when it is broken.
    Verify {
        #[command(flatten)]
        settings: SettingArgs,
    },
}

#[derive(Subcommand)]
enum ExchangeCommand {
    /// Walk the message log's hash chain; exit code 1 and the first broken entry when broken.
    Verify {
        #[command(flatten)]
        settings: SettingArgs,
    },
    /// Run this member's node for direct calls (nút thành viên): fetch the hub's signed
    /// registry snapshot and serve the member's services to other members at
    /// /lgsp/v1/{provider}/{service}/…, signed with the member's key, in the node's own log.
    Gateway {
        #[command(flatten)]
        settings: SettingArgs,
        #[command(flatten)]
        node: direct_cli::NodeArgs,
    },
    /// Print the public key of this node's member key (derived from the node's master key),
    /// to register for the member on the hub.
    MemberKey {
        #[command(flatten)]
        settings: SettingArgs,
        #[arg(long, env = "TINHSO_DIRECT_MEMBER")]
        member: String,
    },
    /// Rotate the key the hub's kept bodies are sealed with (xoay khóa mã hóa nội dung): a new
    /// key version (audited), then every kept body re-encrypted under it. Old versions stay
    /// readable by their id meanwhile; running servers seal under the new one within a
    /// minute. `--reseal-only`: no new version, re-encrypt what is still under an older one
    /// (what a server sealed before it noticed the rotation).
    RotateBodyKey {
        #[command(flatten)]
        settings: SettingArgs,
        #[arg(long)]
        reseal_only: bool,
        /// Exchanges re-encrypted per transaction.
        #[arg(long, default_value_t = 500)]
        batch: i64,
    },
    /// Call another member's service directly (gọi trực tiếp): the request signed with this
    /// node's member key, the answer's provider signature checked against the hub's snapshot.
    Call {
        #[command(flatten)]
        settings: SettingArgs,
        #[command(flatten)]
        node: direct_cli::NodeArgs,
        #[command(flatten)]
        call: direct_cli::CallArgs,
    },
}

#[derive(Subcommand)]
enum ConnectorsCommand {
    /// Re-queue every dossier whose sync to the national portal (DVCQG) failed, for an
    /// attempt at the server's next retry round (within 30 s). Audited.
    DvcqgResync {
        #[command(flatten)]
        settings: SettingArgs,
    },
}

#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum UserCommand {
    /// Create an account. Staff needing a second factor get a TOTP URI, printed once.
    Create {
        #[command(flatten)]
        settings: SettingArgs,
        /// citizen, enterprise, household_business or staff.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        name: String,
        /// Staff user name.
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        cccd: Option<String>,
        #[arg(long)]
        mst: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        /// Agency code (staff).
        #[arg(long)]
        agency: Option<String>,
        /// Role, e.g. admin, one_stop_officer, commune_officer (staff).
        #[arg(long)]
        role: Option<String>,
        /// Scope of the role: province, agency:<code>, commune:<unit code>, own.
        #[arg(long, default_value = "own")]
        scope: String,
        /// Password; read from TINHSO_NEW_PASSWORD when not given.
        #[arg(long, env = "TINHSO_NEW_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// Disable an account (ends its sessions, revokes its tokens).
    Disable {
        #[command(flatten)]
        settings: SettingArgs,
        username: String,
    },
    /// Re-enable an account.
    Enable {
        #[command(flatten)]
        settings: SettingArgs,
        username: String,
    },
    /// Set a new password (clears lockout, ends sessions).
    ResetPassword {
        #[command(flatten)]
        settings: SettingArgs,
        username: String,
        #[arg(long, env = "TINHSO_NEW_PASSWORD", hide_env_values = true)]
        password: String,
    },
    /// List accounts.
    List {
        #[command(flatten)]
        settings: SettingArgs,
        #[arg(long)]
        q: Option<String>,
    },
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TINHSO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

/// Exclusive lock on the data directory: one server (or restore) at a time.
fn lock_data_dir(dir: &Path) -> anyhow::Result<File> {
    let path = dir.join("tinhso.lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(_) => bail!(
            "the data directory {} is in use by another tinhso process (lock {})",
            dir.display(),
            path.display()
        ),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn serve(settings: Settings, demo: bool) -> anyhow::Result<()> {
    let _lock = lock_data_dir(&settings.data_dir)?;
    let db = tinhso::open(&settings).await?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("setting `listen`: cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    // Links that outlive a request (QR codes on signed results): the configured address, else
    // this server's own.
    let public_url = settings.public_url.clone();
    // The border queue job waits for the demo's border history: the simulator plays the last
    // 30 days up to now, and a queue round with the real clock in the middle of it would seat
    // its standby trucks behind its back.
    let border_history_done = std::sync::Arc::new(tokio::sync::Notify::new());
    if demo || settings.file_demo {
        let files = tinhso_http::file_store(&settings.data_dir);
        let issuing = tinhso_services::results::Issuing {
            files: &files,
            public_url: &public_url,
            tsa: None,
        };
        let n = demo::load(&db, issuing).await?;
        tracing::info!(created = n, "demo data loaded");
        // 30 days of border traffic through the simulator, beside the server (seconds).
        let history_db = db.clone();
        let done = border_history_done.clone();
        tokio::spawn(async move {
            if let Err(e) = demo::load_border_history(&history_db).await {
                tracing::error!(error = ?e, "demo border history failed");
            }
            done.notify_one();
        });
    } else {
        border_history_done.notify_one();
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut outbox = tinhso_store::outbox::Dispatcher::builder(db.clone()).subscribe(
        "log",
        "",
        |ev| async move {
            tracing::debug!(topic = %ev.topic, id = %ev.id, "event");
            Ok(())
        },
    );
    // Kept until the server stops.
    let (mailer, _demo_sink) = tinhso::mail::mailer(&settings, demo || settings.file_demo).await?;
    let mailer_for_digest = mailer.clone();
    if let Some(mailer) = mailer {
        if tinhso_services::notify::start_at_newest_event_if_new(&db).await? {
            tracing::info!("e-mail notifications start with the next event (none for past ones)");
        }
        outbox = tinhso_services::notify::Notifier::new(
            db.clone(),
            mailer.clone(),
            &settings.public_url,
        )
        .subscribe(outbox);
        // Report tasks opened, returned, approved or escalated: the staff concerned.
        if tinhso_targets::report_mail::start_at_newest_event_if_new(&db).await? {
            tracing::info!("report e-mails start with the next report event");
        }
        outbox = tinhso_targets::report_mail::ReportMailer::new(
            db.clone(),
            mailer,
            &settings.public_url,
        )
        .subscribe(outbox);
    }
    if let Some(nats) = settings.nats.clone() {
        let url = nats.url.clone();
        let bridge = tinhso_exchange::EventBridge::connect(nats)
            .await
            .with_context(|| format!("setting `nats_url`: {}", config::redact(&url)))?;
        tracing::info!(nats = %config::redact(&url), stream = %bridge.config().stream, "events are published to NATS JetStream");
        outbox = bridge.subscribe(outbox);
    }
    // The hub members' webhooks: deliveries written by an outbox consumer (with or without
    // NATS), posted by their own worker with retries and a dead-letter list.
    let webhooks = tinhso_exchange::Webhooks::new(db.clone(), settings.exchange.webhooks.clone());
    tinhso_exchange::webhooks::start_at_newest_event_if_new(&db).await?;
    outbox = webhooks.subscribe(outbox);
    // National connectors: the real endpoints from the environment, or with --demo the
    // local simulators on loopback (docs/connectors.md), the population simulator registered
    // on this server's own hub and asked through it.
    let own_hub = {
        let mut at = addr;
        if at.ip().is_unspecified() {
            at.set_ip(match at {
                std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        format!("http://{at}")
    };
    let (outbox, connectors) = tinhso_connectors::runtime::start(
        &db,
        demo || settings.file_demo,
        Some(&own_hub),
        Some(tinhso_http::file_store(&settings.data_dir)),
        outbox,
    )
    .await?;
    let mut connectors_rx = stop_rx.clone();
    let connectors_task = connectors.spawn_retries(async move {
        let _ = connectors_rx.changed().await;
    });
    // Customs' decision queue (TINHSO_CUSTOMS_URL, or the simulator with --demo): read every
    // 30 s, beside the decisions customs pushes to the API.
    let mut customs_rx = stop_rx.clone();
    let customs_task = connectors.spawn_customs_pull(async move {
        let _ = customs_rx.changed().await;
    });
    let dispatcher = outbox.build();
    // The kept bodies' key version: read now and every minute (a rotation made by the
    // `tinhso exchange rotate-body-key` command or on another node is picked up).
    let body_key_task = tokio::spawn(tinhso_exchange::bodies::refresh_every(
        db.clone(),
        std::time::Duration::from_secs(60),
        {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.changed().await;
            }
        },
    ));
    // The exchange hub's message log: its head signed every 10 minutes when it has grown.
    let mut anchor_rx = stop_rx.clone();
    let anchor_task = tokio::spawn(tinhso_exchange::log::anchor_every(
        db.clone(),
        tinhso_exchange::hub::hub_key(),
        settings
            .exchange
            .hub
            .tsa
            .clone()
            .map(tinhso_exchange::tsa::TsaClient::new),
        std::time::Duration::from_secs(600),
        async move {
            let _ = anchor_rx.changed().await;
        },
    ));
    // Retention jobs, daily; none when kept for ever: the hub's kept bodies (`[exchange]
    // kept_bodies_days`) and delivered webhooks (`[exchange.webhooks] delivered_webhooks_days`,
    // 30 by default; pending and dead-lettered deliveries stay).
    let stopped = |rx: &tokio::sync::watch::Receiver<bool>| {
        let mut rx = rx.clone();
        async move {
            let _ = rx.changed().await;
        }
    };
    let retention_task = settings.exchange.kept_bodies_days.map(|days| {
        tokio::spawn(tinhso_exchange::bodies::purge_every_day(
            db.clone(),
            days,
            stopped(&stop_rx),
        ))
    });
    let webhooks_retention_task = settings.exchange.delivered_webhooks_days.map(|days| {
        tokio::spawn(tinhso_exchange::webhooks::purge_delivered_every_day(
            db.clone(),
            days,
            stopped(&stop_rx),
        ))
    });
    // The border gate's queue job: no-shows to standby, standby trucks seated, trucks called
    // forward, once a minute (the pages' own snapshot is at most a second old anyway; each run
    // is idempotent). Then refunds (hoàn phí) opened for prepaid fees of trips over without
    // crossing, for the fee officers to approve and pay back (idempotent too).
    let mut tick_rx = stop_rx.clone();
    let tick_db = db.clone();
    let history_done = border_history_done.clone();
    let border_task = tokio::spawn(async move {
        tokio::select! {
            _ = history_done.notified() => {}
            _ = tick_rx.changed() => return,
        }
        let queues = tinhso_border::web::default_queues();
        let ctx = tinhso_store::audit::Ctx::system("border-queue-tick");
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        // Every ended trip once at start, then the last week each minute.
        let mut refunds_since = i64::MIN;
        loop {
            tokio::select! {
                _ = every.tick() => {
                    let now = tinhso_store::now_micros();
                    match tinhso_border::slots::queue::tick(&tick_db, &ctx, &queues, now).await {
                        Ok(r) if !r.released.is_empty() || !r.seated.is_empty() || !r.calls.is_empty() => tracing::info!(
                            released = r.released.len(), seated = r.seated.len(), called = r.calls.len(),
                            queued = r.queued, "border queue tick"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "border queue tick failed"),
                    }
                    match tinhso_border::fee_refund::open_due_since(&tick_db, &ctx, now, refunds_since).await {
                        Ok(r) => {
                            if !r.is_empty() {
                                tracing::info!(opened = r.len(), "border fee refunds opened");
                            }
                            refunds_since = now - tinhso_border::fee_refund::OPEN_DUE_LOOKBACK;
                        }
                        Err(e) => tracing::warn!(error = %e, "opening border fee refunds failed"),
                    }
                }
                _ = tick_rx.changed() => break,
            }
        }
    });
    // Report tasks (báo cáo định kỳ): the periods due are opened and overdue reports
    // escalated, at start and then hourly (idempotent).
    let mut reports_rx = stop_rx.clone();
    let reports_db = db.clone();
    let reports_task = tokio::spawn(async move {
        let ctx = tinhso_store::audit::Ctx::system("report-tasks");
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tokio::select! {
                _ = every.tick() => {
                    let today = tinhso_services::dossier::today_local();
                    match tinhso_targets::reports::open_reports(&reports_db, &ctx, today).await {
                        Ok(r) if r.opened > 0 || r.escalated > 0 => tracing::info!(
                            opened = r.opened, escalated = r.escalated, "report tasks"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "opening report tasks failed"),
                    }
                }
                _ = reports_rx.changed() => break,
            }
        }
    });
    // The indicators' daily roll-ups (services, border) brought up to date once a minute, so
    // the pages that read them seldom have days to recompute first.
    let mut rollup_rx = stop_rx.clone();
    let rollup_db = db.clone();
    let rollup_task = tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = every.tick() => {
                    let done = tokio::try_join!(
                        tinhso_services::indicators::refresh_rollup(&rollup_db),
                        tinhso_border::indicators::refresh_rollup(&rollup_db),
                    );
                    if let Err(e) = done {
                        tracing::warn!(error = %e, "refreshing the daily roll-ups failed");
                    }
                }
                _ = rollup_rx.changed() => break,
            }
        }
    });
    // The border congestion forecast (dự báo ùn tắc), every five minutes: kept as each gate's
    // snapshot for the leaders' pages and the operations centre, and each new alert window
    // announced once (outbox `border.congestion_alert`, `border.advisory`).
    let mut forecast_rx = stop_rx.clone();
    let forecast_db = db.clone();
    let forecast_task = tokio::spawn(async move {
        let ctx = tinhso_store::audit::Ctx::system("border-forecast");
        let params = tinhso_border::forecast::Params::default();
        let mut every = tokio::time::interval(std::time::Duration::from_secs(300));
        loop {
            tokio::select! {
                _ = every.tick() => {
                    let now = tinhso_store::now_micros();
                    match tinhso_border::forecast::announce(&forecast_db, &ctx, now, &params).await {
                        Ok(sent) if !sent.is_empty() => tracing::info!(
                            alerts = sent.len(), "border congestion alerts announced"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "border forecast failed"),
                    }
                }
                _ = forecast_rx.changed() => break,
            }
        }
    });
    // The leaders' weekly digest of the targets: checked once a minute, sent once per ISO
    // week from its scheduled time (the notifications ledger keeps it from going twice).
    let digest_task = match (mailer_for_digest, settings.digest) {
        (Some(mailer), Some(schedule)) => {
            let mut digest_rx = stop_rx.clone();
            let digest_db = db.clone();
            Some(tokio::spawn(async move {
                let registry = tinhso_targets::engine::Registry::standard();
                let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
                loop {
                    tokio::select! {
                        _ = every.tick() => {
                            let now = tinhso_store::now_micros();
                            match tinhso_targets::digest::run(&digest_db, &mailer, &registry, schedule, now, false).await {
                                Ok(r) if r.sent > 0 || r.failed > 0 || r.retrying > 0 => tracing::info!(
                                    week = ?r.week, sent = r.sent, failed = r.failed, retrying = r.retrying,
                                    "targets weekly digest"),
                                Ok(_) => {}
                                Err(e) => tracing::warn!(error = %e, "targets weekly digest failed"),
                            }
                        }
                        _ = digest_rx.changed() => break,
                    }
                }
            }))
        }
        _ => None,
    };
    // The targets export as a provider service behind the exchange hub, on its own address.
    let provider_task = match settings.targets_provider_listen {
        Some(at) => {
            let l = tokio::net::TcpListener::bind(at).await.with_context(|| {
                format!("setting `targets_provider_listen`: cannot listen on {at}")
            })?;
            tracing::info!(%at, "targets export served for the exchange hub at http://{at}/targets/export");
            let mut provider_rx = stop_rx.clone();
            let app = tinhso_targets::web_review::exchange_provider(db.clone());
            Some(tokio::spawn(async move {
                let _ = axum::serve(l, app)
                    .with_graceful_shutdown(async move {
                        let _ = provider_rx.changed().await;
                    })
                    .await;
            }))
        }
        None => None,
    };
    let mut rx = stop_rx.clone();
    let dispatcher_task = tokio::spawn(dispatcher.run(async move {
        let _ = rx.changed().await;
    }));
    let mut webhook_rx = stop_rx.clone();
    let webhook_task = tokio::spawn(webhooks.run(async move {
        let _ = webhook_rx.changed().await;
    }));
    let secure_cookies = settings.cookie_secure.unwrap_or(!addr.ip().is_loopback());
    let state = tinhso_web::AppState::new(
        db.clone(),
        tinhso_web::WebConfig {
            secure_cookies,
            data_dir: settings.data_dir.clone(),
            demo: demo || settings.file_demo,
            // Unset: each request's own host (the address the visitor actually used).
            public_url: if settings.public_url_set {
                settings.public_url.clone()
            } else {
                String::new()
            },
            pades_tsa: settings.pades.tsa.clone().map(tinhso_tsa::TsaClient::new),
            pades_tsa_trust: settings.pades.tsa_trust.clone(),
            lookup_budgets: settings.services.lookup,
            inline_file_max: settings.services.inline_file_max,
            ..Default::default()
        },
    );
    tracing::info!(%addr, database = db.backend().name(), "serving");
    println!("tinhso listening on http://{addr}");
    tinhso_web::serve_with_hub(
        listener,
        state,
        settings.exchange.hub.clone(),
        shutdown_signal(),
    )
    .await?;
    let _ = stop_tx.send(true);
    let _ = dispatcher_task.await;
    let _ = webhook_task.await;
    let _ = anchor_task.await;
    let _ = body_key_task.await;
    for t in [retention_task, webhooks_retention_task]
        .into_iter()
        .flatten()
    {
        let _ = t.await;
    }
    let _ = border_task.await;
    let _ = reports_task.await;
    let _ = rollup_task.await;
    let _ = forecast_task.await;
    for t in [digest_task, provider_task, connectors_task, customs_task]
        .into_iter()
        .flatten()
    {
        let _ = t.await;
    }
    db.close().await;
    Ok(())
}

fn parse_scope(s: &str) -> anyhow::Result<tinhso_identity::Scope> {
    let (kind, code) = s.split_once(':').unwrap_or((s, ""));
    tinhso_identity::Scope::from_parts(kind, code).with_context(|| {
        format!("--scope {s:?}: use province, agency:<code>, commune:<unit code> or own")
    })
}

fn print_app_error(e: &tinhso_kernel::AppError) -> anyhow::Error {
    if let Some(cause) = &e.cause {
        // Never in the message (it may hold internals), but in the log for the operator.
        tracing::error!(%cause, "{}", e.code.title_en());
    }
    let mut msg = format!("{} — {}", e.code.title_vi(), e.code.title_en());
    if let Some(d) = &e.detail_vi {
        msg.push_str(&format!(": {d}"));
    }
    for f in &e.fields {
        msg.push_str(&format!(
            "\n  {}: {} ({})",
            f.field, f.message_vi, f.message_en
        ));
    }
    anyhow::anyhow!(msg)
}

async fn find_user(db: &Db, username: &str) -> anyhow::Result<tinhso_identity::accounts::Account> {
    tinhso_identity::accounts::get_by_username(db, username)
        .await?
        .with_context(|| format!("no account with user name {username:?}"))
}

fn cli_ctx() -> Ctx {
    let who = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    Ctx {
        actor: format!("cli:{who}"),
        request_id: format!("cli-{}", uuid::Uuid::now_v7()),
    }
}

async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Serve { settings, demo } => {
            let s = Settings::resolve(&settings)?;
            init_logs(s.json_logs);
            serve(s, demo).await?;
        }
        Command::Migrate { settings } => {
            let s = Settings::resolve(&settings)?;
            init_logs(s.json_logs);
            let db = tinhso::open(&s).await?;
            let versions = migrate::applied(&db).await?;
            println!("migrations applied: {versions:?}");
        }
        Command::Demo { settings, totp_for } => {
            let s = Settings::resolve(&settings)?;
            init_logs(s.json_logs);
            let db = tinhso::open(&s).await?;
            if let Some(u) = totp_for {
                let acc = find_user(&db, &u).await?;
                let secret = tinhso_identity::auth::totp_secret_of(&db, &acc.id)
                    .await
                    .map_err(|e| print_app_error(&e))?;
                if secret.as_deref() != Some(demo::DEMO_TOTP_SECRET) {
                    bail!("{u} does not use the demo TOTP secret: its code is only in its owner's authenticator app");
                }
                println!(
                    "{}",
                    tinhso_identity::auth::totp_now(demo::DEMO_TOTP_SECRET).unwrap_or_default()
                );
            } else {
                let files = tinhso_http::file_store(&s.data_dir);
                let public_url = s.public_url.clone();
                let issuing = tinhso_services::results::Issuing {
                    files: &files,
                    public_url: &public_url,
                    tsa: None,
                };
                let n = demo::load(&db, issuing)
                    .await
                    .map_err(|e| print_app_error(&e))?;
                demo::load_border_history(&db)
                    .await
                    .map_err(|e| print_app_error(&e))?;
                println!("demo data loaded ({n} accounts created)");
            }
        }
        Command::Audit {
            command: AuditCommand::Verify { settings },
        } => {
            let s = Settings::resolve(&settings)?;
            init_logs(s.json_logs);
            let db = Db::connect(&s.database_url, &Default::default()).await?;
            let start = std::time::Instant::now();
            let r = tinhso_store::audit::verify(&db).await?;
            let secs = start.elapsed().as_secs_f64();
            match r.first_broken {
                None => {
                    println!(
                        "audit chain intact: {} entries verified in {:.3} s ({:.0} entries/s)",
                        r.entries_checked,
                        secs,
                        r.entries_checked as f64 / secs.max(1e-9)
                    );
                }
                Some(b) => {
                    eprintln!(
                        "audit chain BROKEN at entry {}: {} ({} entries verified before it)",
                        b.seq, b.reason, r.entries_checked
                    );
                    return Ok(1);
                }
            }
        }
        Command::Exchange {
            command: ExchangeCommand::Verify { settings },
        } => {
            let s = Settings::resolve(&settings)?;
            init_logs(s.json_logs);
            let db = Db::connect(&s.database_url, &Default::default()).await?;
            // The anchors' signatures need the hub's key, derived from the master key; never
            // create a master key here (a new one would fail every anchor).
            let key_path = s.data_dir.join("master.key");
            let hub_pk = if key_path.exists() {
                tinhso_identity::keys::load_master_key(&key_path).context("master key")?;
                Some(tinhso_exchange::signing::public_key_b64(
                    &tinhso_exchange::hub::hub_key(),
                ))
            } else {
                eprintln!(
                    "no master key at {}: the anchors' hashes are checked, their signatures are not",
                    key_path.display()
                );
                None
            };
            let start = std::time::Instant::now();
            let trust = s.exchange.hub.tsa_trust.as_ref();
            let r = tinhso_exchange::log::verify_with(&db, hub_pk.as_deref(), trust).await?;
            // Which anchors are externally time-stamped (RFC 3161), and whether the tokens
            // were checked against the trusted TSA certificate.
            let stamps = if r.anchors_timestamped == 0 {
                format!(
                    "{} anchors, none time-stamped by a TSA (signed by the hub's key only)",
                    r.anchors
                )
            } else if trust.is_none() {
                format!(
                    "{} anchors, {} time-stamped by a TSA — tokens NOT checked: set exchange.tsa_certificate",
                    r.anchors, r.anchors_timestamped
                )
            } else {
                let latest = r
                    .latest_timestamp
                    .as_ref()
                    .map(|l| {
                        format!(
                            "; newest: entry {} existed at {} (genTime) per {}",
                            l.seq,
                            chrono::DateTime::from_timestamp_micros(l.gen_time)
                                .map(|d| d.format("%Y-%m-%d %H:%M:%S%.f UTC").to_string())
                                .unwrap_or_default(),
                            l.tsa_name
                        )
                    })
                    .unwrap_or_default();
                format!(
                    "{} anchors, {} time-stamped by a TSA, {} tokens verified against the trusted certificate{latest}",
                    r.anchors, r.anchors_timestamped, r.timestamps_verified
                )
            };
            match r.first_broken {
                None => println!(
                    "exchange message log intact: {} entries and {} stored bodies verified in {:.3} s; {stamps}",
                    r.entries_checked,
                    r.bodies_checked,
                    start.elapsed().as_secs_f64()
                ),
                Some(b) => {
                    eprintln!(
                        "exchange message log BROKEN at entry {}: {} ({} entries verified before it)",
                        b.seq, b.reason, r.entries_checked
                    );
                    return Ok(1);
                }
            }
        }
        Command::Exchange {
            command:
                ExchangeCommand::RotateBodyKey {
                    settings,
                    reseal_only,
                    batch,
                },
        } => {
            let s = Settings::resolve(&settings)?;
            init_logs(s.json_logs);
            // The body keys derive from the master key: a new one would open nothing kept.
            let key_path = s.data_dir.join("master.key");
            if !key_path.exists() {
                eprintln!(
                    "no master key at {}: nothing sealed here to rotate (use the data directory of the hub)",
                    key_path.display()
                );
                return Ok(1);
            }
            let db = tinhso::open(&s).await?;
            let ctx = cli_ctx();
            if !reseal_only {
                let v = tinhso_exchange::bodies::rotate(&db, &ctx).await?;
                println!("body key version {v} recorded; servers seal new bodies under it within a minute");
            }
            let r = tinhso_exchange::bodies::reseal(&db, &ctx, batch).await?;
            let by = tinhso_exchange::bodies::count_by_version(&db)
                .await?
                .iter()
                .map(|(v, n)| format!("v{v}: {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            println!(
                "{} exchange(s) re-sealed under version {}; kept bodies by key version: {}",
                r.resealed,
                r.version,
                if by.is_empty() { "none".into() } else { by }
            );
            db.close().await;
            if !r.unreadable.is_empty() {
                eprintln!(
                    "{} exchange(s) whose bodies do not open were left as they are (first: {}); run `tinhso exchange verify`",
                    r.unreadable.len(),
                    r.unreadable[0]
                );
                return Ok(1);
            }
        }
        Command::Exchange {
            command: ExchangeCommand::Gateway { settings, node },
        } => {
            let s = Settings::resolve(&settings)?;
            init_logs(s.json_logs);
            let _lock = lock_data_dir(&s.data_dir)?;
            direct_cli::gateway(s, &node, shutdown_signal()).await?;
        }
        Command::Exchange {
            command: ExchangeCommand::MemberKey { settings, member },
        } => {
            let s = Settings::resolve(&settings)?;
            direct_cli::member_key(&s, &member)?;
        }
        Command::Exchange {
            command:
                ExchangeCommand::Call {
                    settings,
                    node,
                    call,
                },
        } => {
            let s = Settings::resolve(&settings)?;
            init_logs(s.json_logs);
            return direct_cli::call(s, &node, &call).await;
        }
        Command::Backup { settings, to } => {
            let s = Settings::resolve(&settings)?;
            init_logs(s.json_logs);
            let db = Db::connect(&s.database_url, &Default::default()).await?;
            let bytes = tinhso_store::backup::backup_to(&db, &to).await?;
            println!("snapshot written to {} ({bytes} bytes)", to.display());
            println!(
                "keep {} with it: it seals staff signing keys",
                s.data_dir.join("master.key").display()
            );
        }
        Command::Restore { settings, from } => {
            let s = Settings::resolve(&settings)?;
            init_logs(s.json_logs);
            if !s.database_url.starts_with("sqlite:") {
                bail!(
                    "restore works on SQLite; for PostgreSQL use pg_restore (docs/operations.md)"
                );
            }
            let _lock = lock_data_dir(&s.data_dir).context("stop the server before restoring")?;
            let live = PathBuf::from(
                s.database_url
                    .trim_start_matches("sqlite://")
                    .split('?')
                    .next()
                    .unwrap_or_default(),
            );
            tinhso_store::backup::restore_sqlite(&from, &live).await?;
            let db = Db::connect(&s.database_url, &Default::default()).await?;
            let r = tinhso_store::audit::verify(&db).await?;
            println!(
                "restored {} from {} (previous database kept as *.before-restore); audit chain: {}",
                live.display(),
                from.display(),
                match &r.first_broken {
                    None => format!("intact, {} entries", r.entries_checked),
                    Some(b) => format!("BROKEN at {}: {}", b.seq, b.reason),
                }
            );
        }
        Command::User { command } => return user(command).await,
        Command::Plan { command } => return plan(command).await,
        Command::Bench { command } => {
            // Quiet unless asked: `TINHSO_LOG="warn,sqlx::query=debug"` logs every statement
            // (to count them, docs/benchmarks.md).
            if std::env::var_os("TINHSO_LOG").is_some() {
                init_logs(false);
            }
            bench::run(command).await?
        }
        Command::Border { command } => {
            // Warnings (a refused simulated declaration) and the cause of an internal error
            // go to stderr; `TINHSO_LOG` chooses more.
            init_logs(false);
            return border_cli::run(command).await;
        }
        Command::Connectors {
            command: ConnectorsCommand::DvcqgResync { settings },
        } => {
            let s = Settings::resolve(&settings)?;
            init_logs(s.json_logs);
            let db = tinhso::open(&s).await?;
            let n = tinhso_connectors::sync::requeue_failed(&db, &cli_ctx())
                .await
                .map_err(|e| print_app_error(&e))?;
            let st = tinhso_connectors::sync::status(&db, 1)
                .await
                .map_err(|e| print_app_error(&e))?;
            println!(
                "re-queued {n} dossier(s); tracked {}, up to date {}, failing {}",
                st.tracked, st.synced, st.failing
            );
            db.close().await;
        }
        Command::Targets { command } => return targets_cli::run(command).await,
    }
    Ok(0)
}

async fn user(command: UserCommand) -> anyhow::Result<i32> {
    use tinhso_identity::accounts;
    match command {
        UserCommand::Create {
            settings,
            kind,
            name,
            username,
            cccd,
            mst,
            email,
            phone,
            agency,
            role,
            scope,
            password,
        } => {
            let s = Settings::resolve(&settings)?;
            init_logs(s.json_logs);
            let db = tinhso::open(&s).await?;
            let mut roles = Vec::new();
            if let Some(r) = role {
                let role = tinhso_identity::Role::parse(&r).with_context(|| {
                    format!(
                        "--role {r:?}: one of {}",
                        tinhso_identity::Role::ALL
                            .iter()
                            .map(|r| r.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
                roles.push(tinhso_identity::authz::RoleAssignment {
                    role,
                    scope: parse_scope(&scope)?,
                });
            }
            let new = accounts::NewAccount {
                username,
                display_name: name,
                kind,
                cccd,
                mst,
                phone,
                email,
                agency_code: agency,
                title: None,
                password,
                roles,
            };
            let created = accounts::create(&db, &cli_ctx(), &new)
                .await
                .map_err(|e| print_app_error(&e))?;
            println!(
                "created {} ({})",
                created.account.username, created.account.id
            );
            if let Some(uri) = created.totp_uri {
                println!("TOTP required — load this into the user's authenticator app now (shown once):\n{uri}");
            }
        }
        UserCommand::Disable { settings, username } => {
            let s = Settings::resolve(&settings)?;
            init_logs(s.json_logs);
            let db = tinhso::open(&s).await?;
            let acc = find_user(&db, &username).await?;
            accounts::set_disabled(&db, &cli_ctx(), &acc.id, true)
                .await
                .map_err(|e| print_app_error(&e))?;
            println!("{username} disabled");
        }
        UserCommand::Enable { settings, username } => {
            let s = Settings::resolve(&settings)?;
            init_logs(s.json_logs);
            let db = tinhso::open(&s).await?;
            let acc = find_user(&db, &username).await?;
            accounts::set_disabled(&db, &cli_ctx(), &acc.id, false)
                .await
                .map_err(|e| print_app_error(&e))?;
            println!("{username} enabled");
        }
        UserCommand::ResetPassword {
            settings,
            username,
            password,
        } => {
            let s = Settings::resolve(&settings)?;
            init_logs(s.json_logs);
            let db = tinhso::open(&s).await?;
            let acc = find_user(&db, &username).await?;
            accounts::reset_password(&db, &cli_ctx(), &acc.id, &password)
                .await
                .map_err(|e| print_app_error(&e))?;
            println!("password of {username} reset; its sessions were ended");
        }
        UserCommand::List { settings, q } => {
            let s = Settings::resolve(&settings)?;
            init_logs(s.json_logs);
            let db = tinhso::open(&s).await?;
            for a in accounts::list(
                &db,
                &accounts::AccountFilter {
                    q,
                    limit: Some(500),
                    ..Default::default()
                },
            )
            .await?
            {
                println!(
                    "{:<24} {:<20} {:<40} {}{}",
                    a.username,
                    a.kind,
                    a.display_name,
                    a.roles
                        .iter()
                        .map(|r| r.role.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    if a.disabled { " (disabled)" } else { "" }
                );
            }
        }
    }
    Ok(0)
}

async fn plan(command: PlanCommand) -> anyhow::Result<i32> {
    use tinhso_targets::plan::{self as plans, Imported};
    match command {
        PlanCommand::Import { settings, file } => {
            let s = Settings::resolve(&settings)?;
            init_logs(s.json_logs);
            let src = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let name = file.display().to_string();
            let parsed = match plans::parse(&name, &src) {
                Ok(p) => p,
                Err(errors) => {
                    eprintln!("{errors}");
                    return Ok(1);
                }
            };
            let db = tinhso::open(&s).await?;
            match plans::import(&db, &cli_ctx(), &parsed).await? {
                Imported::Unchanged => println!("{}: unchanged ({name})", parsed.code),
                Imported::Written(n) => {
                    println!("{}: {n} targets imported from {name}", parsed.code)
                }
            }
        }
        PlanCommand::Operations { settings, date } => {
            let s = Settings::resolve(&settings)?;
            init_logs(s.json_logs);
            let today = match date.as_deref() {
                None => tinhso_services::dossier::today_local(),
                Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .with_context(|| format!("--date {d}: use YYYY-MM-DD"))?,
            };
            let db = tinhso::open(&s).await?;
            let started = std::time::Instant::now();
            let c = tinhso_targets::ops::centre(
                &db,
                &tinhso_targets::engine::Registry::standard(),
                today,
                tinhso_store::now_micros(),
            )
            .await?;
            let took = started.elapsed();
            for t in &c.targets {
                let value = t.line.current.as_ref().and_then(|o| o.value);
                println!(
                    "{}\t{}\t{}\t{} points\tprojected {}\t{}",
                    t.line.target.id,
                    t.line.target.indicator_key,
                    value.map_or("-".into(), |v| v.to_string()),
                    t.trend.len(),
                    t.projection.map_or("-".into(), |v| v.to_string()),
                    t.overall.as_str()
                );
            }
            let k = &c.counters;
            println!(
                "counters: received today {}, on time {}, overdue {}, at the border {}, queue {}, review {}",
                k.received_today,
                k.on_time
                    .as_ref()
                    .and_then(|o| o.value)
                    .map_or("-".into(), |v| v.to_string()),
                k.overdue,
                k.at_border,
                k.queue,
                k.review_open
            );
            println!(
                "computed for {} (period {}) in {} ms",
                c.as_of,
                c.period,
                took.as_millis()
            );
        }
        PlanCommand::List { settings } => {
            let s = Settings::resolve(&settings)?;
            init_logs(s.json_logs);
            let db = tinhso::open(&s).await?;
            let targets = plans::targets(&db).await?;
            for p in plans::plans(&db).await? {
                let n = targets.iter().filter(|t| t.plan_code == p.code).count();
                println!("{}\t{}\t{n} targets\t{}", p.code, p.year, p.title_vi);
            }
        }
    }
    Ok(0)
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("tinhso: {e:#}");
            std::process::exit(2);
        }
    }
}
