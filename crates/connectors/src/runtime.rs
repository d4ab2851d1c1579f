//! Which national endpoints this process talks to, decided once at start ([`start`]): the
//! real ones from the environment (`TINHSO_DVCQG_URL`, `TINHSO_POPULATION_URL`, …; see
//! `docs/connectors.md`), or — with `tinhso serve --demo` only — the local simulators started
//! on loopback. The admin page says which.

use crate::simulator::customs::QueueSimulator;
use crate::simulator::dvcqg::DvcqgSimulator;
use crate::simulator::population::{self as pop_sim, PopulationSimulator};
use crate::sync::SyncWorker;
use crate::{dvcqg, population};
use std::sync::{Arc, OnceLock};
use tinhso_kernel::AppError;
use tinhso_store::files::FileStore;
use tinhso_store::outbox::DispatcherBuilder;
use tinhso_store::Db;

/// The connectors of this process.
pub struct Runtime {
    pub dvcqg: Option<Arc<dvcqg::Client>>,
    /// The DVCQG endpoint is the local simulator (demo).
    pub dvcqg_simulated: bool,
    pub population: Option<Arc<population::Client>>,
    /// The population endpoint is the local simulator (demo).
    pub population_simulated: bool,
    /// Customs' decision queue is read (`TINHSO_CUSTOMS_URL`, or the simulator in the demo).
    pub customs_queue: bool,
    /// Customs' decision queue is the local simulator (demo).
    pub customs_simulated: bool,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The connectors installed at start (`None` before [`start`], e.g. in tests of other crates).
pub fn get() -> Option<&'static Runtime> {
    RUNTIME.get()
}

/// What [`start`] keeps alive: the simulators (demo) and the sync worker.
pub struct Started {
    pub worker: Option<SyncWorker>,
    customs: Option<crate::customs_pull::Config>,
    db: Db,
    _dvcqg_sim: Option<DvcqgSimulator>,
    _population_sim: Option<PopulationSimulator>,
    _customs_sim: Option<QueueSimulator>,
}

impl Started {
    /// Spawn the sync worker's retries (every 30 s) until `shutdown` resolves.
    pub fn spawn_retries(
        &self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let w = self.worker.clone()?;
        Some(tokio::spawn(
            w.run_retries(std::time::Duration::from_secs(30), shutdown),
        ))
    }

    /// Spawn the reading of customs' decision queue (every 30 s) until `shutdown` resolves;
    /// `None` when no queue is configured.
    pub fn spawn_customs_pull(
        &self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let cfg = self.customs.clone()?;
        let puller = match crate::customs_pull::Puller::new(self.db.clone(), cfg) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "customs queue reader not started");
                return None;
            }
        };
        Some(tokio::spawn(
            puller.run(std::time::Duration::from_secs(30), shutdown),
        ))
    }
}

/// The demo's population database: the simulator on loopback, registered on this server's
/// hub at `hub_url` (members, service, the platform's right: [`PopulationSimulator::
/// register_on_hub`], idempotent) so that each check is a signed, access-checked, logged
/// exchange of member [`pop_sim::HUB_PLATFORM`] through the hub — directly only when the hub
/// fails and `TINHSO_POPULATION_FALLBACK_DIRECT` allows it. Without `hub_url`, or when the
/// registration fails (logged), the checks go to the simulator directly.
pub async fn demo_population(
    db: &Db,
    hub_url: Option<&str>,
) -> Result<(population::Config, PopulationSimulator), AppError> {
    let sim = PopulationSimulator::start(&secret(), pop_sim::seeded())
        .await
        .map_err(AppError::internal)?;
    let mut cfg = sim.config();
    let Some(hub_url) = hub_url else {
        tracing::info!(url = %sim.url(), "population database connector points at the local SIMULATOR directly (demo only)");
        return Ok((cfg, sim));
    };
    let ctx = tinhso_store::audit::Ctx::system("demo-population-hub");
    let platform = pop_sim::HUB_PLATFORM;
    let platform_key =
        tinhso_exchange::signing::public_key_b64(&tinhso_exchange::direct::member_key(platform));
    let registered = async {
        sim.register_on_hub(db, &ctx, platform, &platform_key)
            .await?;
        tinhso_exchange::registry::grant(
            db,
            &ctx,
            platform,
            pop_sim::HUB_PROVIDER,
            pop_sim::HUB_SERVICE,
        )
        .await
    };
    match registered.await {
        Ok(()) => {
            let mut route = population::HubRoute::new(
                hub_url,
                platform,
                pop_sim::HUB_PROVIDER,
                pop_sim::HUB_SERVICE,
            );
            route.fallback_direct = population::fallback_direct_from_env();
            tracing::info!(hub = %hub_url, member = platform,
                service = %format!("{}/{}", pop_sim::HUB_PROVIDER, pop_sim::HUB_SERVICE),
                simulator = %sim.url(),
                "population checks go through this server's exchange hub to the local SIMULATOR (demo only)");
            cfg.hub = Some(route);
        }
        Err(e) => tracing::warn!(error = ?e, url = %sim.url(),
            "the population simulator could not be registered on the hub: checks go to it directly (demo only)"),
    }
    Ok((cfg, sim))
}

fn secret() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::thread_rng().gen();
    hex::encode(bytes)
}

/// Set up the connectors: with `demo`, start the simulators on loopback and point the
/// connectors at them — the population checks through this server's own hub at `hub_url`
/// when given ([`demo_population`]); otherwise read the real endpoints from the environment
/// (a connector without its URL stays off). Subscribes the DVCQG sync worker on `outbox`.
pub async fn start(
    db: &Db,
    demo: bool,
    hub_url: Option<&str>,
    files: Option<FileStore>,
    outbox: DispatcherBuilder,
) -> Result<(DispatcherBuilder, Started), AppError> {
    let (dvcqg_cfg, dvcqg_sim) = if demo {
        let sim = DvcqgSimulator::start("tinhso-demo", &secret(), "H37")
            .await
            .map_err(AppError::internal)?;
        tracing::info!(url = %sim.url(), "DVCQG connector points at the local SIMULATOR (demo only)");
        (Some(sim.config()), Some(sim))
    } else {
        (dvcqg::Config::from_env(), None)
    };
    let (pop_cfg, pop_sim) = if demo {
        let (cfg, sim) = demo_population(db, hub_url).await?;
        (Some(cfg), Some(sim))
    } else {
        (population::Config::from_env(), None)
    };
    let (customs_cfg, customs_sim) = if demo {
        let sim = QueueSimulator::start(&secret())
            .await
            .map_err(AppError::internal)?;
        tracing::info!(url = %sim.url(), "customs decision queue points at the local SIMULATOR (demo only)");
        (Some(sim.config()), Some(sim))
    } else {
        (crate::customs_pull::Config::from_env(), None)
    };
    let dvcqg_client = match dvcqg_cfg {
        Some(c) => Some(Arc::new(dvcqg::Client::new(c).map_err(AppError::internal)?)),
        None => None,
    };
    let pop_client = match pop_cfg {
        Some(c) => Some(Arc::new(population::Client::new(c)?)),
        None => None,
    };
    let worker = dvcqg_client
        .clone()
        .map(|c| SyncWorker::new(db.clone(), c, files));
    let outbox = match &worker {
        Some(w) => w.clone().subscribe(outbox),
        None => {
            tracing::info!("DVCQG sync is off (TINHSO_DVCQG_URL not set)");
            outbox
        }
    };
    let _ = RUNTIME.set(Runtime {
        dvcqg: dvcqg_client,
        dvcqg_simulated: dvcqg_sim.is_some(),
        population: pop_client,
        population_simulated: pop_sim.is_some(),
        customs_queue: customs_cfg.is_some(),
        customs_simulated: customs_sim.is_some(),
    });
    Ok((
        outbox,
        Started {
            worker,
            customs: customs_cfg,
            db: db.clone(),
            _dvcqg_sim: dvcqg_sim,
            _population_sim: pop_sim,
            _customs_sim: customs_sim,
        },
    ))
}
