//! The `tinhso` application: settings, start-up (migrations and reference data), demo data and
//! benchmarks, shared by the binary and the end-to-end tests.

pub mod bench;
pub mod bench_border;
pub mod bench_exchange;
pub mod bench_targets;
pub mod config;
pub mod demo;
pub mod exchange_config;
pub mod mail;
pub mod pades_config;
pub mod services_config;
pub mod settings;

use anyhow::Context;
use config::{redact, Settings};
use tinhso_store::audit::Ctx;
use tinhso_store::{migrate, Db};

/// Open the database, apply migrations and seed reference data.
pub async fn open(settings: &Settings) -> anyhow::Result<Db> {
    tinhso_identity::keys::load_master_key(&settings.data_dir.join("master.key"))
        .context("master key")?;
    let db = Db::connect(&settings.database_url, &Default::default())
        .await
        .with_context(|| {
            format!(
                "setting `database_url`: cannot open {}",
                redact(&settings.database_url)
            )
        })?;
    prepare(&db).await?;
    Ok(db)
}

/// Apply every migration and seed the reference data (idempotent).
pub async fn prepare(db: &Db) -> anyhow::Result<()> {
    let applied = migrate::run(db, &all_migrations()).await?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    let ctx = Ctx::system("startup");
    let inserted = tinhso_refdata::agencies::seed(db, &ctx).await?;
    if inserted > 0 {
        tracing::info!(inserted, "agencies seeded");
    }
    let procedures = tinhso_services::catalogue::seed(db, &ctx).await?;
    if procedures > 0 {
        tracing::info!(procedures, "procedure catalogue seeded");
    }
    if let tinhso_targets::plan::Imported::Written(targets) =
        tinhso_targets::plan::seed(db, &ctx).await?
    {
        tracing::info!(targets, "plan 226/KH-UBND and its targets imported");
    }
    let regimes = tinhso_targets::regimes::seed(db, &ctx).await?;
    if regimes > 0 {
        tracing::info!(regimes, "reporting regimes imported");
    }
    let gates = tinhso_border::gates::seed(db).await?;
    if gates > 0 {
        tracing::info!(gates, "border gates seeded");
    }
    let sensors = tinhso_border::events::seed_sensors(db).await?;
    if sensors > 0 {
        tracing::info!(sensors, "border cameras, QR readers and geofences seeded");
    }
    Ok(())
}

/// Every module's migrations.
pub fn all_migrations() -> Vec<&'static [migrate::Migration]> {
    vec![
        migrate::STORE_MIGRATIONS,
        tinhso_identity::MIGRATIONS,
        tinhso_refdata::MIGRATIONS,
        tinhso_services::MIGRATIONS,
        tinhso_notify::MIGRATIONS,
        tinhso_targets::MIGRATIONS,
        tinhso_exchange::MIGRATIONS,
        tinhso_border::MIGRATIONS,
        tinhso_connectors::MIGRATIONS,
    ]
}
