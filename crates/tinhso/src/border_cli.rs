//! `tinhso border …`: the border traffic simulator (mô phỏng) and the congestion forecast
//! (dự báo ùn tắc) from the command line.

use anyhow::Context;
use tinhso_border::forecast::{self, Params};
use tinhso_border::sim::{self, Options, Scenario};
use tinhso_kernel::{AppError, FieldErrors, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::db::DbOptions;
use tinhso_store::Db;

/// Border gate subcommands.
#[derive(clap::Subcommand)]
pub enum BorderCommand {
    /// Simulate border traffic through the platform's own functions (declarations, bookings,
    /// camera/QR/GPS events, checks) and print the report and the forecast from its end.
    Simulate {
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// normal | fruit_peak | crisis
        #[arg(long, default_value = "normal")]
        scenario: String,
        #[arg(long, default_value_t = 20_251_217)]
        seed: u64,
        /// First day, YYYY-MM-DD [default: 2025-07-01; crisis: 2025-12-15].
        #[arg(long)]
        start: Option<String>,
        /// Volume multiplier (1 = ~1,250 vehicles a day at month factor 1).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Only these gates (HN, TT, CM, CN), comma-separated.
        #[arg(long)]
        gates: Option<String>,
        /// Database to fill (migrated and seeded first) [default: a new SQLite file in the
        /// temporary directory, kept so `tinhso border forecast` can read it].
        #[arg(long)]
        database: Option<String>,
    },
    /// Print the 72-hour forecast of arrivals and queue per gate and direction, and the alerts.
    Forecast {
        /// One gate (HN, TT, CM, CN) [default: all road gates].
        #[arg(long)]
        gate: Option<String>,
        #[arg(long, env = "TINHSO_DATABASE_URL")]
        database: String,
        /// Forecast as of this local time, YYYY-MM-DDTHH:MM [default: now].
        #[arg(long)]
        at: Option<String>,
        /// Announce new alerts (outbox border.congestion_alert and border.advisory).
        #[arg(long)]
        announce: bool,
        /// Compare the forecast with what the database shows happened after --at, and with
        /// the seasonal naive baseline (same hour last week): MAE/RMSE per gate.
        #[arg(long)]
        evaluate: bool,
        /// Print every hour (default: every 3rd hour).
        #[arg(long)]
        hourly: bool,
    },
}

fn field_error(field: &'static str, vi: String, en: String) -> AppError {
    let mut errs = FieldErrors::new();
    errs.push(field, Invalid::new(field, vi, en));
    match errs.into_result() {
        Err(e) => e,
        Ok(()) => AppError::internal("field error"),
    }
}

async fn open(url: &str) -> anyhow::Result<Db> {
    open_with(url, &Default::default()).await
}

async fn open_with(url: &str, opts: &DbOptions) -> anyhow::Result<Db> {
    let db = Db::connect(url, opts)
        .await
        .with_context(|| format!("cannot open {}", tinhso::config::redact(url)))?;
    tinhso::prepare(&db).await?;
    Ok(db)
}

/// Run a `tinhso border` command; errors in the input are field errors (vi + en).
pub async fn run(cmd: BorderCommand) -> anyhow::Result<i32> {
    match cmd {
        BorderCommand::Simulate {
            days,
            scenario,
            seed,
            start,
            scale,
            gates,
            database,
        } => {
            let sc = Scenario::parse(&scenario).ok_or_else(|| {
                crate::print_app_error(&field_error(
                    "scenario",
                    format!(
                        "Kịch bản \"{scenario}\" không có; chọn normal, fruit_peak hoặc crisis"
                    ),
                    format!("No scenario \"{scenario}\"; choose normal, fruit_peak or crisis"),
                ))
            })?;
            let start = match start {
                None => sc.default_start(),
                Some(s) => chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
                    crate::print_app_error(&field_error(
                        "start",
                        format!("Ngày bắt đầu \"{s}\" phải có dạng năm-tháng-ngày, ví dụ 2025-07-01"),
                        format!("The start date \"{s}\" must be year-month-day, e.g. 2025-07-01"),
                    ))
                })?,
            };
            let opts = Options {
                days,
                start,
                scenario: sc,
                seed,
                scale,
                gates: gates
                    .map(|g| {
                        g.split(',')
                            .map(|s| s.trim().to_uppercase())
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
                ..Options::new(sc)
            };
            opts.check().map_err(|e| crate::print_app_error(&e))?;
            let url = match database {
                Some(u) => u,
                None => {
                    let path = std::env::temp_dir()
                        .join(format!("tinhso-sim-{}.db", uuid::Uuid::new_v4().simple()));
                    format!("sqlite://{}", path.display())
                }
            };
            eprintln!("border simulate: database {}", tinhso::config::redact(&url));
            // The simulator reads one statement at a time: two readers, not the server's 16.
            // Each SQLite reader maps the database file on its own, so the end checks' and the
            // forecast's reads of the whole history, spread over 16 connections, put the file
            // in memory once per connection (a 30-day run's peak was 4.7 GiB for a 0.8 GiB
            // database).
            let db = open_with(
                &url,
                &DbOptions {
                    max_connections: 2,
                    ..Default::default()
                },
            )
            .await?;
            let r = sim::run(&db, &opts)
                .await
                .map_err(|e| crate::print_app_error(&e))?;
            println!("{r}");
            let at = sim::end_of(&opts);
            let f = forecast::forecast(&db, None, at, &Params::default())
                .await
                .map_err(|e| crate::print_app_error(&e))?;
            print_summary(&f);
            println!(
                "forecast again or evaluate: tinhso border forecast --database '{}' --at {}",
                tinhso::config::redact(&url),
                tinhso_border::declaration::local(at).format("%Y-%m-%dT%H:%M")
            );
            db.close().await;
        }
        BorderCommand::Forecast {
            gate,
            database,
            at,
            announce,
            evaluate,
            hourly,
        } => {
            let now = match at {
                None => tinhso_store::now_micros(),
                Some(s) => tinhso_border::declaration::parse_local(&s).ok_or_else(|| {
                    crate::print_app_error(&field_error(
                        "at",
                        format!("Thời điểm \"{s}\" phải có dạng năm-tháng-ngàyTgiờ:phút, ví dụ 2025-07-29T00:00"),
                        format!("The time \"{s}\" must be year-month-dayThour:minute, e.g. 2025-07-29T00:00"),
                    ))
                })?,
            };
            let db = open(&database).await?;
            let p = Params::default();
            let gate = gate.map(|g| g.trim().to_uppercase());
            let f = forecast::forecast(&db, gate.as_deref(), now, &p)
                .await
                .map_err(|e| crate::print_app_error(&e))?;
            for g in &f {
                print_gate(g, hourly);
            }
            print_summary(&f);
            if announce {
                let ctx = Ctx {
                    actor: "cli:forecast".into(),
                    request_id: format!("cli-{}", uuid::Uuid::now_v7()),
                };
                let sent = forecast::announce(&db, &ctx, now, &p)
                    .await
                    .map_err(|e| crate::print_app_error(&e))?;
                println!("alerts announced now: {}", sent.len());
            }
            if evaluate {
                let acc = forecast::evaluate(&db, now, &p)
                    .await
                    .map_err(|e| crate::print_app_error(&e))?;
                println!(
                    "accuracy over {} h from {} (model vs seasonal naive; MAE / RMSE)",
                    p.horizon_hours,
                    tinhso_border::slots::local_label(now)
                );
                println!(
                    "{:<4} {:>9} {:>21} {:>21} {:>9} {:>21} {:>21}",
                    "gate",
                    "arr/h",
                    "arrivals model",
                    "arrivals baseline",
                    "queue",
                    "queue model",
                    "queue baseline"
                );
                for a in acc
                    .iter()
                    .filter(|a| gate.as_deref().is_none_or(|g| g == a.gate))
                {
                    println!(
                        "{:<4} {:>9.1} {:>10.2} / {:>8.2} {:>10.2} / {:>8.2} {:>9.1} {:>10.2} / {:>8.2} {:>10.2} / {:>8.2}",
                        a.gate,
                        a.mean_arrivals,
                        a.arrivals_mae,
                        a.arrivals_rmse,
                        a.baseline_arrivals_mae,
                        a.baseline_arrivals_rmse,
                        a.mean_queue,
                        a.queue_mae,
                        a.queue_rmse,
                        a.baseline_queue_mae,
                        a.baseline_queue_rmse
                    );
                }
            }
            db.close().await;
        }
    }
    Ok(0)
}

fn print_gate(g: &forecast::GateForecast, hourly: bool) {
    println!(
        "\n{} {} — yards and staging {} trucks; show rate {:.2}; median dwell {:.1} h",
        g.gate, g.name_vi, g.yard_capacity, g.show_rate, g.median_dwell_h
    );
    print!("{:<17}", "hour");
    for d in &g.directions {
        print!(" {:>24}", format!("{} arr/cap/queue", d.direction.as_str()));
    }
    println!(" {:>8}", "queue");
    let n = g.total_queue.len();
    for k in (0..n).filter(|k| hourly || k % 3 == 0) {
        let label = g
            .directions
            .first()
            .map(|d| d.hours[k].local.clone())
            .unwrap_or_default();
        print!("{label:<17}");
        for d in &g.directions {
            let h = &d.hours[k];
            print!(
                " {:>24}",
                format!("{:.1}/{}/{:.0}", h.arrivals, h.capacity, h.queue)
            );
        }
        let mark = if g.total_queue[k] > g.yard_capacity as f64 {
            " !"
        } else {
            ""
        };
        println!(" {:>8.0}{mark}", g.total_queue[k]);
    }
}

fn print_summary(f: &[forecast::GateForecast]) {
    println!("\nforecast summary (72 h)");
    for g in f {
        let peak = g.total_queue.iter().cloned().fold(0.0, f64::max);
        let now: usize = g.directions.iter().map(|d| d.queue_now).sum();
        println!(
            "{:<4} queue now {:>6}, projected peak {:>7.0}, yards and staging {:>5}, alerts {}",
            g.gate,
            now,
            peak,
            g.yard_capacity,
            g.alerts.len()
        );
        for a in &g.alerts {
            println!(
                "  ALERT {} → {}: peak {:.0} at {}; {} enterprises with trips in these hours",
                a.from_local,
                a.to_local,
                a.peak_queue,
                a.peak_at_local,
                a.enterprises.len()
            );
            println!("    {}", a.advice_vi);
            println!("    {}", a.advice_en);
        }
    }
}
