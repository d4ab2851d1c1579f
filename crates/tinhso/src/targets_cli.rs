//! `tinhso targets …`: the plan's annual review as a file (PDF or spreadsheet), the export for
//! the Government reporting system, and the leaders' weekly digest.

use anyhow::Context;
use std::path::PathBuf;
use tinhso::config::{SettingArgs, Settings};
use tinhso_targets::engine::Registry;

/// Targets subcommands.
#[derive(clap::Subcommand)]
pub enum TargetsCommand {
    /// Open the report tasks due on a day (default: today, Vietnam time) for every regime —
    /// idempotent — and escalate the overdue ones once. `tinhso serve` does it hourly.
    OpenReports {
        #[command(flatten)]
        settings: SettingArgs,
        /// The day, YYYY-MM-DD.
        #[arg(long)]
        date: Option<String>,
    },
    /// Import a reporting regime file (TOML, as crates/targets/data/regimes/*.toml).
    /// Idempotent; errors name the file, the line and the field; exit code 1, nothing written.
    ImportRegime {
        #[command(flatten)]
        settings: SettingArgs,
        file: PathBuf,
    },
    /// Write the annual review (báo cáo đánh giá kết quả thực hiện kế hoạch) of a plan for a
    /// year: PDF or spreadsheet, by the extension of --out (.pdf, .xlsx).
    AnnualReview {
        #[command(flatten)]
        settings: SettingArgs,
        #[arg(long)]
        year: String,
        /// The plan's code [default: the latest plan made by that year].
        #[arg(long)]
        plan: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the indicator values of a period in the Government reporting format
    /// (tinhso.indicator-values/1).
    Export {
        #[command(flatten)]
        settings: SettingArgs,
        /// 2026, 2026-9M, 2026-6M, 2026-Q3, 2026-10, 2026-10-31.
        #[arg(long)]
        period: String,
        #[arg(long)]
        plan: Option<String>,
        /// The organisation unit: a commune code (05986), an agency code (000.00.23.H37),
        /// province (the default) or all (the province, every commune, every agency).
        #[arg(long)]
        unit: Option<String>,
    },
    /// The leaders' weekly digest: send this week's now (--send-now) to the leaders who have not
    /// had it; without --send-now, send only if the schedule says it is due. Never twice a week.
    Digest {
        #[command(flatten)]
        settings: SettingArgs,
        #[arg(long)]
        send_now: bool,
    },
}

fn print_error(e: &tinhso_kernel::AppError) {
    if e.fields.is_empty() {
        eprintln!("{e}");
    }
    for f in &e.fields {
        eprintln!("{}: {} ({})", f.field, f.message_en, f.message_vi);
    }
}

pub async fn run(command: TargetsCommand) -> anyhow::Result<i32> {
    use tinhso_targets::{regimes, reports};
    match command {
        TargetsCommand::OpenReports { settings, date } => {
            let s = Settings::resolve(&settings)?;
            crate::init_logs(s.json_logs);
            let day = match date {
                None => tinhso_services::dossier::today_local(),
                Some(d) => match chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d") {
                    Ok(d) => d,
                    Err(_) => {
                        eprintln!("--date: use YYYY-MM-DD, e.g. 2026-11-21 (got {d:?})");
                        return Ok(1);
                    }
                },
            };
            let db = tinhso::open(&s).await?;
            let r = reports::open_reports(&db, &crate::cli_ctx(), day).await?;
            println!(
                "{day}: {} report tasks opened, {} overdue escalated",
                r.opened, r.escalated
            );
        }
        TargetsCommand::ImportRegime { settings, file } => {
            let s = Settings::resolve(&settings)?;
            crate::init_logs(s.json_logs);
            let src = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let name = file.display().to_string();
            let parsed = match regimes::parse(&name, &src) {
                Ok(p) => p,
                Err(errors) => {
                    eprintln!("{errors}");
                    return Ok(1);
                }
            };
            let db = tinhso::open(&s).await?;
            match regimes::import(&db, &crate::cli_ctx(), &parsed).await {
                Ok(regimes::Imported::Unchanged) => println!("{}: unchanged ({name})", parsed.code),
                Ok(regimes::Imported::Written) => println!("{}: imported from {name}", parsed.code),
                Err(e) if !e.fields.is_empty() => {
                    for f in &e.fields {
                        eprintln!("{}: {} ({})", f.field, f.message_en, f.message_vi);
                    }
                    return Ok(1);
                }
                Err(e) => return Err(e.into()),
            }
        }
        TargetsCommand::AnnualReview {
            settings,
            year,
            plan,
            out,
        } => {
            let s = Settings::resolve(&settings)?;
            let ext = out
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            if !matches!(ext.as_deref(), Some("pdf" | "xlsx")) {
                eprintln!("--out: the file name ends in .pdf or .xlsx");
                return Ok(1);
            }
            let db = tinhso::open(&s).await?;
            let (plan, year) =
                match tinhso_targets::review::resolve(&db, Some(&year), plan.as_deref()).await {
                    Ok(v) => v,
                    Err(e) => {
                        print_error(&e);
                        return Ok(1);
                    }
                };
            let r = tinhso_targets::review::review(
                &db,
                &Registry::standard(),
                plan,
                year,
                tinhso_services::dossier::today_local(),
            )
            .await?;
            let bytes = if ext.as_deref() == Some("pdf") {
                tinhso_targets::review::pdf(&r)
            } else {
                tinhso_targets::review::xlsx(&r)
            };
            std::fs::write(&out, &bytes)
                .with_context(|| format!("cannot write {}", out.display()))?;
            let (_, total) = r.counts();
            println!(
                "{}: {} targets ({} on track, {} at risk, {} off track, {} without data), {} bytes",
                out.display(),
                total.targets,
                total.on_track,
                total.at_risk,
                total.off_track,
                total.no_data,
                bytes.len()
            );
        }
        TargetsCommand::Export {
            settings,
            period,
            plan,
            unit,
        } => {
            let s = Settings::resolve(&settings)?;
            let p = match tinhso_targets::export::check_period(
                Some(&period),
                tinhso_services::dossier::today_local(),
            ) {
                Ok(p) => p,
                Err(e) => {
                    print_error(&e);
                    return Ok(1);
                }
            };
            let db = tinhso::open(&s).await?;
            let units = match tinhso_targets::export::check_unit(&db, unit.as_deref()).await {
                Ok(u) => u,
                Err(e) => {
                    print_error(&e);
                    return Ok(1);
                }
            };
            let e = tinhso_targets::export::export_units(
                &db,
                &Registry::standard(),
                p,
                plan.as_deref(),
                &units,
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&e)?);
        }
        TargetsCommand::Digest { settings, send_now } => {
            let s = Settings::resolve(&settings)?;
            let Some(smtp) = &s.smtp else {
                eprintln!("setting `smtp_url`: required to send the digest");
                return Ok(1);
            };
            let mailer =
                tinhso_notify::SmtpMailer::new(smtp, s.mail_from.as_deref().unwrap_or_default())
                    .map_err(|e| anyhow::anyhow!("setting `smtp_url`: {e}"))?;
            let db = tinhso::open(&s).await?;
            let r = tinhso_targets::digest::run(
                &db,
                &mailer,
                &Registry::standard(),
                s.digest.unwrap_or_default(),
                tinhso_store::now_micros(),
                send_now,
            )
            .await?;
            match &r.week {
                None => println!("digest: not due yet this week (schedule {:?})", s.digest),
                Some(w) => println!(
                    "digest {w}: {} leaders, {} sent now, {} already had it, {} failed, {} to retry",
                    r.recipients, r.sent, r.already, r.failed, r.retrying
                ),
            }
            if r.retrying > 0 || r.failed > 0 {
                return Ok(1);
            }
        }
    }
    Ok(0)
}
