//! Measuring queue-position reads (đo tốc độ tra cứu vị trí trong hàng chờ), for the benchmark
//! command. WRITES SYNTHETIC TRIPS: run it on a scratch database only.

use super::queue::Queues;
use super::{db_err, floor_hour, Policy, HOUR};
use crate::gates;
use std::time::{Duration, Instant};
use tinhso_kernel::AppError;
use tinhso_store::Db;

/// What [`bench_queue`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// Trucks queued (synthetic, across every gate and direction).
    pub trucks: usize,
    /// Snapshot rebuilds timed, and their median and slowest time.
    pub rebuilds: usize,
    pub rebuild_p50: Duration,
    pub rebuild_max: Duration,
    /// In-memory reads ([`Queues::cached_position`]) on `threads` threads.
    pub threads: usize,
    pub cached_queries: usize,
    pub cached_per_sec: f64,
    pub cached_p50: Duration,
    pub cached_p99: Duration,
    /// Reads through [`Queues::position`] (staleness check, rebuild when older than the
    /// policy's maximum age) on one task.
    pub async_queries: usize,
    pub async_per_sec: f64,
    pub async_p50: Duration,
    pub async_p99: Duration,
    /// The slowest async read (one that rebuilt the snapshot, if any did).
    pub async_max: Duration,
    /// Lookups that did not find their truck (must be 0).
    pub misses: usize,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "queue snapshot: {} trucks, rebuild p50 {:.1} ms, max {:.1} ms ({} rebuilds)",
            self.trucks,
            self.rebuild_p50.as_secs_f64() * 1e3,
            self.rebuild_max.as_secs_f64() * 1e3,
            self.rebuilds
        )?;
        writeln!(
            f,
            "queue position (snapshot, {} threads): {:.0} queries/s, p50 {:.2} µs, p99 {:.2} µs ({} queries)",
            self.threads,
            self.cached_per_sec,
            self.cached_p50.as_secs_f64() * 1e6,
            self.cached_p99.as_secs_f64() * 1e6,
            self.cached_queries
        )?;
        write!(
            f,
            "queue position (async, 1 task): {:.0} queries/s, p50 {:.2} µs, p99 {:.2} µs, max {:.1} ms ({} queries, misses {})",
            self.async_per_sec,
            self.async_p50.as_secs_f64() * 1e6,
            self.async_p99.as_secs_f64() * 1e6,
            self.async_max.as_secs_f64() * 1e3,
            self.async_queries,
            self.misses
        )
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Insert `trucks` synthetic arrived trips with bookings, spread over every gate and direction
/// and the 24 hours from `now`. Returns their ids.
pub async fn seed_synthetic_queue(
    db: &Db,
    trucks: usize,
    now: i64,
) -> Result<Vec<String>, AppError> {
    gates::seed(db).await?;
    let gates = gates::list(db).await?;
    let pairs: Vec<(String, &'static str)> = gates
        .iter()
        .flat_map(|g| {
            g.capacity
                .iter()
                .map(move |c| (g.code.clone(), c.direction.as_str()))
        })
        .collect();
    if pairs.is_empty() {
        return Err(AppError::internal("no gates to queue at"));
    }
    let run = uuid::Uuid::new_v4().simple().to_string();
    let run = &run[..8];
    let mst = format!("B{run}");
    let driver = format!("bench-drv-{run}");
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO border_enterprises (mst, name, name_folded, phone, created_by, created_at) \
         VALUES ($1, 'Doanh nghiệp đo tải', 'doanh nghiep do tai', '0900000000', 'bench', $2)",
    )
    .bind(&mst)
    .bind(now)
    .execute(tx.conn())
    .await
    .map_err(db_err)?;
    sqlx::query(
        "INSERT INTO border_drivers (id, id_kind, id_number, full_name, phone, nationality, created_at) \
         VALUES ($1, 'passport', $1, 'Lái xe đo tải', '0900000000', 'VN', $2)",
    )
    .bind(&driver)
    .bind(now)
    .execute(tx.conn())
    .await
    .map_err(db_err)?;
    let mut ids = Vec::with_capacity(trucks);
    for i in 0..trucks {
        let (gate, dir) = &pairs[i % pairs.len()];
        let id = format!("bench-{run}-{i}");
        let plate = format!("BENCH{run}{i}");
        let arrived = now - ((i as i64 * 7) % 600) * 60_000_000;
        sqlx::query(
            "INSERT INTO border_vehicles (plate, country, vehicle_kind, plate_colour, owner_mst, payload_kg, created_at) \
             VALUES ($1, 'vn', 'truck', 'yellow', $2, 15000, $3)",
        )
        .bind(&plate)
        .bind(&mst)
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO border_trips (id, code, version, enterprise_mst, gate_code, direction, \
             vehicle_plate, trailer_plate, driver_id, expected_arrival, customs_declaration, \
             total_weight_kg, perishable, quarantine, stage, stage_at, created_by, created_at, updated_at) \
             VALUES ($1, $1, 1, $2, $3, $4, $5, NULL, $6, $7, '', 10000, $8, '', 'yard', $7, 'bench', $7, $7)",
        )
        .bind(&id)
        .bind(&mst)
        .bind(gate)
        .bind(*dir)
        .bind(&plate)
        .bind(&driver)
        .bind(arrived)
        .bind(i64::from(i % 5 == 0))
        .execute(tx.conn())
        .await
        .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO border_trip_stages (trip_id, stage, at, source) VALUES ($1, 'yard', $2, 'camera')",
        )
        .bind(&id)
        .bind(arrived)
        .execute(tx.conn())
        .await
        .map_err(db_err)?;
        if i % 10 != 9 {
            let hour = floor_hour(now) + (i as i64 % 24) * HOUR;
            sqlx::query(
                "INSERT INTO border_bookings (id, trip_id, gate_code, direction, hour_start, perishable, \
                 status, grace_used, arrive_by, source, created_by, created_at, updated_at) \
                 VALUES ($1, $1, $2, $3, $4, $5, 'active', 0, $6, 'booking', 'bench', $7, $7)",
            )
            .bind(&id)
            .bind(gate)
            .bind(*dir)
            .bind(hour)
            .bind(i64::from(i % 5 == 0))
            .bind(hour + 2 * HOUR)
            .bind(now)
            .execute(tx.conn())
            .await
            .map_err(db_err)?;
        }
        ids.push(id);
    }
    tx.commit().await?;
    Ok(ids)
}

/// Seed `trucks` synthetic queued trucks, then time snapshot rebuilds, `queries` in-memory
/// position reads on `threads` OS threads, and position reads through the async path.
/// WRITES SYNTHETIC TRIPS: call it on a scratch database only.
pub async fn bench_queue(
    db: &Db,
    trucks: usize,
    queries: usize,
    threads: usize,
) -> Result<BenchReport, AppError> {
    let now = tinhso_store::now_micros();
    let ids = seed_synthetic_queue(db, trucks.max(1), now).await?;
    let queues = Queues::new(Policy::default());
    let mut rebuilds = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        queues.refresh(db, now).await?;
        rebuilds.push(t.elapsed());
    }
    rebuilds.sort();
    let threads = threads.max(1);
    let per_thread = queries.max(1).div_ceil(threads);
    let started = Instant::now();
    let results: Vec<(Vec<Duration>, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let queues = &queues;
                let ids = &ids;
                s.spawn(move || {
                    let mut lat = Vec::with_capacity(per_thread);
                    let mut misses = 0;
                    for q in 0..per_thread {
                        let id = &ids[(q * 7919 + t * 104_729) % ids.len()];
                        let t0 = Instant::now();
                        let p = queues.cached_position(id);
                        lat.push(t0.elapsed());
                        if p.is_none() {
                            misses += 1;
                        }
                    }
                    (lat, misses)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let wall = started.elapsed();
    let mut misses = 0;
    let mut lat: Vec<Duration> = Vec::with_capacity(per_thread * threads);
    for (l, m) in results {
        lat.extend(l);
        misses += m;
    }
    lat.sort();
    let cached_queries = lat.len();
    let async_n = (queries / 10).clamp(1, 200_000);
    let mut alat = Vec::with_capacity(async_n);
    let astart = Instant::now();
    for q in 0..async_n {
        let id = &ids[(q * 7919) % ids.len()];
        let t0 = Instant::now();
        let p = queues.position(db, id, now).await?;
        alat.push(t0.elapsed());
        if p.is_none() {
            misses += 1;
        }
    }
    let awall = astart.elapsed();
    alat.sort();
    Ok(BenchReport {
        trucks: ids.len(),
        rebuilds: rebuilds.len(),
        rebuild_p50: pct(&rebuilds, 0.5),
        rebuild_max: rebuilds.last().copied().unwrap_or_default(),
        threads,
        cached_queries,
        cached_per_sec: cached_queries as f64 / wall.as_secs_f64().max(1e-9),
        cached_p50: pct(&lat, 0.5),
        cached_p99: pct(&lat, 0.99),
        async_queries: async_n,
        async_per_sec: async_n as f64 / awall.as_secs_f64().max(1e-9),
        async_p50: pct(&alat, 0.5),
        async_p99: pct(&alat, 0.99),
        async_max: alat.last().copied().unwrap_or_default(),
        misses,
    })
}
