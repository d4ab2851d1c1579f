//! The queue (hàng chờ qua cửa khẩu): trucks that have arrived, their live position and
//! estimated crossing time, read from an in-memory snapshot; the call when a truck becomes
//! N-th in line; the periodic [`tick`].
//!
//! **Order.** Per gate and direction: slot hour (trucks without a booking after every booked
//! truck), then perishables first when the policy says so, then arrival time (the first
//! `staging` or `yard` stage time stamp, else the trip's stage time), then the trip code.
//!
//! **Estimated crossing time (thời gian dự kiến qua).** Trucks cross in queue order, spread
//! evenly over each hour at that hour's capacity (`per_hour` prorated by opening minutes, or
//! the board's override) capped by `lanes × Policy::lane_vehicles_per_hour`; no truck is
//! estimated before `now` or before its slot hour starts; closed hours are skipped. Hours
//! left unused by a booked truck that has not arrived are not given to later trucks, so the
//! estimate errs late. Trucks with no open hour within 14 days get no estimate.
//!
//! **Snapshot.** [`Queues`] keeps one snapshot of every gate's queues (rebuilt in one query),
//! versioned; reads are a read-lock and a hash lookup. It is rebuilt when marked stale
//! ([`Queues::invalidate`], which routes should call after a booking change or a stage change)
//! or older than `Policy::snapshot_max_age_ms`, so changes made by other processes show within
//! that age.

use super::booking::{seat_waiting, sweep_no_shows_at, waiting_standby, Booking, Released};
use super::capacity::{gate_scope, open_minutes_in, open_window};
use super::{floor_hour, local_label, returned_ids, store_err, Policy, DAY, HOUR};
use crate::bulk::{json_rows, rows_sql, Col};
use crate::gates::{self, Direction, Gate};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;
use tinhso_kernel::AppError;
use tinhso_store::audit::Ctx;
use tinhso_store::native::Param;
use tinhso_store::Db;

/// Trip stages of a truck in the queue (arrived, not yet crossed).
pub const QUEUE_STAGES: [&str; 4] = ["staging", "yard", "checked", "paid"];

/// The furthest an estimate looks for an open hour.
const ETA_HORIZON_HOURS: i64 = 14 * 24;

/// A truck in the queue.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueueEntry {
    pub trip_id: String,
    pub trip_code: String,
    pub vehicle_plate: String,
    pub driver_id: String,
    pub gate_code: String,
    pub direction: Direction,
    pub perishable: bool,
    /// `staging`, `yard`, `checked` or `paid`.
    pub stage: String,
    /// The booked hour, if the truck holds a booking.
    pub slot_hour: Option<i64>,
    /// When it arrived (Unix microseconds).
    pub arrived_at: i64,
    /// 1 is next to cross.
    pub position: i64,
    /// Estimated crossing time (Unix microseconds), if an open hour is in sight.
    pub eta: Option<i64>,
}

/// A truck's place in its queue, as the driver's page shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueuePosition {
    pub entry: QueueEntry,
    /// Trucks in the same gate and direction's queue.
    pub queue_length: i64,
    /// Trucks ahead of this one.
    pub ahead: i64,
    /// Estimated wait in minutes from the snapshot's time (rounded up), if estimated.
    pub wait_minutes: Option<i64>,
    /// When the snapshot was computed (Unix microseconds).
    pub as_of: i64,
    /// The snapshot's version.
    pub version: u64,
}

/// Every gate's queues at one moment.
#[derive(Debug)]
pub struct QueueSnapshot {
    /// The `now` the snapshot was computed for (Unix microseconds).
    pub as_of: i64,
    pub version: u64,
    queues: HashMap<(String, Direction), Vec<QueueEntry>>,
    index: HashMap<String, (String, Direction, usize)>,
    /// The queued trips already called forward when the snapshot was read (calls are never
    /// taken back): [`call_forward`] asks the database only about the others.
    called: HashSet<String>,
    built: Instant,
}

impl QueueSnapshot {
    fn empty() -> Self {
        Self {
            as_of: 0,
            version: 0,
            queues: HashMap::new(),
            index: HashMap::new(),
            called: HashSet::new(),
            built: Instant::now(),
        }
    }

    /// The queue of a gate and direction, first truck first.
    pub fn queue(&self, gate_code: &str, direction: Direction) -> &[QueueEntry] {
        self.queues
            .get(&(gate_code.to_string(), direction))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The gates and directions that have a queue.
    pub fn keys(&self) -> impl Iterator<Item = &(String, Direction)> {
        self.queues.keys()
    }

    /// Trucks in all queues.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// A trip's place, if its truck is in a queue.
    pub fn position(&self, trip_id: &str) -> Option<QueuePosition> {
        let (gate, dir, i) = self.index.get(trip_id)?;
        let q = self.queues.get(&(gate.clone(), *dir))?;
        let e = q.get(*i)?;
        Some(QueuePosition {
            entry: e.clone(),
            queue_length: q.len() as i64,
            ahead: e.position - 1,
            wait_minutes: e
                .eta
                .map(|t| ((t - self.as_of).max(0) + 59_999_999) / 60_000_000),
            as_of: self.as_of,
            version: self.version,
        })
    }
}

/// Sort a queue and fill positions and estimated times. `cap_of(hour_start)` is the number of
/// trucks that can cross in that hour.
pub fn order_and_estimate(
    entries: &mut [QueueEntry],
    policy: &Policy,
    now: i64,
    cap_of: impl Fn(i64) -> i64,
) {
    entries.sort_by(|a, b| {
        let pa = policy.perishable_first_in_slot && a.perishable;
        let pb = policy.perishable_first_in_slot && b.perishable;
        a.slot_hour
            .unwrap_or(i64::MAX)
            .cmp(&b.slot_hour.unwrap_or(i64::MAX))
            .then(pb.cmp(&pa))
            .then(a.arrived_at.cmp(&b.arrived_at))
            .then(a.trip_code.cmp(&b.trip_code))
    });
    let mut next = now;
    let mut exhausted = false;
    for (i, e) in entries.iter_mut().enumerate() {
        e.position = i as i64 + 1;
        e.eta = None;
        if exhausted {
            continue;
        }
        if let Some(s) = e.slot_hour {
            next = next.max(s);
        }
        let limit = floor_hour(now) + ETA_HORIZON_HOURS * HOUR;
        loop {
            let h = floor_hour(next);
            if h >= limit {
                exhausted = true;
                break;
            }
            let cap = cap_of(h);
            if cap <= 0 {
                next = h + HOUR;
                continue;
            }
            let interval = HOUR / cap;
            let k = (next - h + interval - 1) / interval;
            if k >= cap {
                next = h + HOUR;
                continue;
            }
            let t = h + k * interval;
            e.eta = Some(t);
            next = t + interval;
            break;
        }
    }
}

/// Build the snapshot of every queue at `now`.
pub async fn build(
    db: &Db,
    policy: &Policy,
    now: i64,
    version: u64,
) -> Result<QueueSnapshot, AppError> {
    build_with(db, &gates::list(db).await?, policy, now, version).await
}

/// [`build`] with the gates already read.
async fn build_with(
    db: &Db,
    gates: &[Gate],
    policy: &Policy,
    now: i64,
    version: u64,
) -> Result<QueueSnapshot, AppError> {
    let from = floor_hour(now);
    let to = from + ETA_HORIZON_HOURS * HOUR + DAY;
    // Both reads natively on a SQLite file (`Db::read_rows`): short and indexed — the queued
    // trips through `border_trips_stage`, each one's arrival, booking and call by key.
    let ovr_rows = db
        .read_rows(
            "SELECT gate_code, direction, hour_start, capacity FROM border_slot_overrides \
             WHERE hour_start >= $1 AND hour_start < $2",
            &[Param::Int(from), Param::Int(to)],
            |r| Ok((r.text(0)?, r.text(1)?, r.int(2)?, r.int(3)?)),
        )
        .await
        .map_err(store_err)?;
    let mut ovr: HashMap<(String, String), HashMap<i64, i64>> = HashMap::new();
    for (gate_code, dir, hour, capacity) in ovr_rows {
        ovr.entry((gate_code, dir))
            .or_default()
            .insert(hour, capacity);
    }
    let rows = db
        .read_rows(
            "SELECT t.id, t.code, t.vehicle_plate, t.driver_id, t.gate_code, t.direction, \
             t.perishable, t.stage, t.stage_at, \
             (SELECT MIN(s.at) FROM border_trip_stages s WHERE s.trip_id = t.id \
              AND s.stage IN ('staging', 'yard')), b.hour_start, c.called_at \
             FROM border_trips t \
             LEFT JOIN border_bookings b ON b.trip_id = t.id AND b.status = 'active' \
             LEFT JOIN border_queue_calls c ON c.trip_id = t.id \
             WHERE t.stage IN ('staging', 'yard', 'checked', 'paid')",
            &[],
            |r| {
                let dir = r.text(5)?;
                let Some(direction) = Direction::parse(&dir) else {
                    return Ok(None);
                };
                let stage_at = r.int(8)?;
                let arrived = r.opt_int(9)?;
                let entry = QueueEntry {
                    trip_id: r.text(0)?,
                    trip_code: r.text(1)?,
                    vehicle_plate: r.text(2)?,
                    driver_id: r.text(3)?,
                    gate_code: r.text(4)?,
                    direction,
                    perishable: r.int(6)? != 0,
                    stage: r.text(7)?,
                    slot_hour: r.opt_int(10)?,
                    arrived_at: arrived.unwrap_or(stage_at),
                    position: 0,
                    eta: None,
                };
                Ok(Some((entry, r.opt_int(11)?.is_some())))
            },
        )
        .await
        .map_err(store_err)?;
    let mut queues: HashMap<(String, Direction), Vec<QueueEntry>> = HashMap::new();
    let mut called = HashSet::new();
    for (entry, was_called) in rows.into_iter().flatten() {
        if was_called {
            called.insert(entry.trip_id.clone());
        }
        queues
            .entry((entry.gate_code.clone(), entry.direction))
            .or_default()
            .push(entry);
    }
    let mut index = HashMap::new();
    for ((gate_code, dir), q) in queues.iter_mut() {
        // Parsed once per queue: the estimate asks for many hours.
        let gate: Option<&Gate> = gates.iter().find(|g| &g.code == gate_code);
        let lane_cap = gate
            .map(|g| g.lanes * policy.lane_vehicles_per_hour)
            .unwrap_or(0);
        let per_hour = gate
            .and_then(|g| g.capacity_for(*dir))
            .map(|c| c.per_hour)
            .unwrap_or(0);
        let window = gate.and_then(open_window);
        let none = HashMap::new();
        let hours = ovr
            .get(&(gate_code.clone(), dir.as_str().to_string()))
            .unwrap_or(&none);
        order_and_estimate(q, policy, now, |h| {
            hours
                .get(&h)
                .copied()
                .unwrap_or_else(|| per_hour * open_minutes_in(window, h) / 60)
                .min(lane_cap)
        });
        for (i, e) in q.iter().enumerate() {
            index.insert(e.trip_id.clone(), (gate_code.clone(), *dir, i));
        }
    }
    Ok(QueueSnapshot {
        as_of: now,
        version,
        queues,
        index,
        called,
        built: Instant::now(),
    })
}

struct Inner {
    policy: Policy,
    snap: RwLock<Arc<QueueSnapshot>>,
    dirty: AtomicBool,
    rebuilding: AtomicBool,
    version: AtomicU64,
}

struct Rebuilding<'a>(&'a AtomicBool);

impl Drop for Rebuilding<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The shared queue snapshot holder (one per process, cloned into the app state).
#[derive(Clone)]
pub struct Queues {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Queues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queues")
            .field("version", &self.inner.version.load(Ordering::Relaxed))
            .finish()
    }
}

impl Queues {
    /// An empty holder; the first read builds the snapshot.
    pub fn new(policy: Policy) -> Self {
        Self {
            inner: Arc::new(Inner {
                policy,
                snap: RwLock::new(Arc::new(QueueSnapshot::empty())),
                dirty: AtomicBool::new(true),
                rebuilding: AtomicBool::new(false),
                version: AtomicU64::new(0),
            }),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// Mark the snapshot stale: the next read rebuilds it.
    pub fn invalidate(&self) {
        self.inner.dirty.store(true, Ordering::Release);
    }

    /// The snapshot as it is, without rebuilding.
    pub fn current(&self) -> Arc<QueueSnapshot> {
        match self.inner.snap.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Whether the next read would rebuild.
    pub fn is_stale(&self) -> bool {
        self.inner.dirty.load(Ordering::Acquire)
            || self.current().built.elapsed().as_millis()
                > u128::from(self.inner.policy.snapshot_max_age_ms)
    }

    /// Rebuild now, at `now`.
    pub async fn refresh(&self, db: &Db, now: i64) -> Result<Arc<QueueSnapshot>, AppError> {
        self.refresh_with(db, &gates::list(db).await?, now).await
    }

    /// [`Queues::refresh`] with the gates already read.
    async fn refresh_with(
        &self,
        db: &Db,
        gates: &[Gate],
        now: i64,
    ) -> Result<Arc<QueueSnapshot>, AppError> {
        self.inner.dirty.store(false, Ordering::Release);
        let version = self.inner.version.fetch_add(1, Ordering::AcqRel) + 1;
        let built = match build_with(db, gates, &self.inner.policy, now, version).await {
            Ok(s) => Arc::new(s),
            Err(e) => {
                self.inner.dirty.store(true, Ordering::Release);
                return Err(e);
            }
        };
        let mut g = match self.inner.snap.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if g.version < built.version {
            *g = built.clone();
        }
        Ok(g.clone())
    }

    /// A fresh-enough snapshot: rebuilt when stale by one caller at a time while the others
    /// read the previous one (before the first build, every caller builds: none gets an empty
    /// queue).
    pub async fn snapshot(&self, db: &Db, now: i64) -> Result<Arc<QueueSnapshot>, AppError> {
        if !self.is_stale() {
            return Ok(self.current());
        }
        if self.current().version == 0 {
            return self.refresh(db, now).await;
        }
        if self
            .inner
            .rebuilding
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // Reset even when this future is dropped half-way (a cancelled request).
            let _guard = Rebuilding(&self.inner.rebuilding);
            return self.refresh(db, now).await;
        }
        Ok(self.current())
    }

    /// A trip's place in its queue (None when its truck is not queued).
    pub async fn position(
        &self,
        db: &Db,
        trip_id: &str,
        now: i64,
    ) -> Result<Option<QueuePosition>, AppError> {
        Ok(self.snapshot(db, now).await?.position(trip_id))
    }

    /// A trip's place from the current snapshot, without touching the database.
    pub fn cached_position(&self, trip_id: &str) -> Option<QueuePosition> {
        self.current().position(trip_id)
    }
}

/// A truck called forward.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueueCall {
    pub trip_id: String,
    pub trip_code: String,
    pub gate_code: String,
    pub direction: Direction,
    pub position: i64,
    pub eta: Option<i64>,
}

/// Call forward every truck at position ≤ `Policy::call_position` that has not been called:
/// one `border.queue_call` outbox event per trip, ever (audited `border.queue_call`). The
/// trucks already called are found in one read, the new calls written in one insert: a round
/// costs what changed, not the length of the queues' heads.
pub async fn call_forward(
    db: &Db,
    ctx: &Ctx,
    policy: &Policy,
    snap: &QueueSnapshot,
    now: i64,
) -> Result<Vec<QueueCall>, AppError> {
    call_forward_with(db, ctx, &gates::list(db).await?, policy, snap, now).await
}

/// [`call_forward`] with the gates already read.
async fn call_forward_with(
    db: &Db,
    ctx: &Ctx,
    gates: &[Gate],
    policy: &Policy,
    snap: &QueueSnapshot,
    now: i64,
) -> Result<Vec<QueueCall>, AppError> {
    let n = usize::try_from(policy.call_position.max(0)).unwrap_or(0);
    let candidates: Vec<&QueueEntry> = snap
        .queues
        .values()
        .flat_map(|q| q.iter().take(n))
        .collect();
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    // The candidates not called when the snapshot was read (most were called at an earlier
    // round); one called since is skipped by the insert.
    let fresh: Vec<&QueueEntry> = candidates
        .into_iter()
        .filter(|e| !snap.called.contains(&e.trip_id))
        .collect();
    if fresh.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.backend();
    // Native on SQLite: the statements run on this thread (see `tinhso_store::exec`).
    let mut tx = db.begin_native().await?;
    tx.defer_audit_and_outbox();
    // One insert for all; a trip another round called meanwhile is skipped (no conflict).
    let rows = json_rows(
        fresh
            .iter()
            .map(|e| serde_json::json!([e.trip_id, e.position])),
    );
    let sql = format!(
        "INSERT INTO border_queue_calls (trip_id, position, called_at) \
         SELECT r.id, r.pos, $2 FROM ({}) r WHERE true \
         ON CONFLICT (trip_id) DO NOTHING RETURNING trip_id",
        rows_sql(backend, 1, &[("id", Col::Text), ("pos", Col::Int)])
    );
    let inserted = returned_ids(&mut tx, &sql, rows, now).await?;
    let mut calls = Vec::new();
    for e in fresh {
        if !inserted.contains(&e.trip_id) {
            continue;
        }
        let ev = serde_json::json!({
            "trip_id": e.trip_id, "trip_code": e.trip_code, "vehicle_plate": e.vehicle_plate,
            "driver_id": e.driver_id, "gate_code": e.gate_code, "direction": e.direction.as_str(),
            "position": e.position, "eta": e.eta, "eta_local": e.eta.map(local_label),
        });
        let scope = gates
            .iter()
            .find(|g| g.code == e.gate_code)
            .map(gate_scope)
            .unwrap_or_else(|| e.gate_code.clone());
        tx.audit(&ctx.entry(
            "border.queue_call",
            "border_trip",
            &e.trip_id,
            &scope,
            ev.clone(),
        ))
        .await?;
        tx.emit("border.queue_call", &ev).await?;
        calls.push(QueueCall {
            trip_id: e.trip_id.clone(),
            trip_code: e.trip_code.clone(),
            gate_code: e.gate_code.clone(),
            direction: e.direction,
            position: e.position,
            eta: e.eta,
        });
    }
    tx.commit().await?;
    Ok(calls)
}

/// What one [`tick`] did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TickReport {
    pub released: Vec<Released>,
    pub seated: Vec<Booking>,
    pub calls: Vec<QueueCall>,
    /// Trucks queued after the tick.
    pub queued: usize,
}

/// The periodic job (run it every minute): release no-shows to standby, seat standby trucks in
/// free seats, rebuild the snapshot, call trucks forward.
pub async fn tick(db: &Db, ctx: &Ctx, queues: &Queues, now: i64) -> Result<TickReport, AppError> {
    let policy = queues.policy().clone();
    // The gates read once for the whole round.
    let gates = gates::list(db).await?;
    let released = sweep_no_shows_at(db, ctx, &gates, now).await?;
    // Every waiting standby truck and its trip's facts in one read, seated gate by gate.
    let mut seated = Vec::new();
    for w in waiting_standby(db).await? {
        let g = gates
            .iter()
            .find(|g| g.code == w.gate_code)
            .ok_or_else(|| super::capacity::unknown_gate(&w.gate_code))?;
        seated.extend(
            seat_waiting(db, ctx, &policy, g, w.direction, w.entries, &w.known, now).await?,
        );
    }
    queues.invalidate();
    let snap = queues.refresh_with(db, &gates, now).await?;
    let calls = call_forward_with(db, ctx, &gates, &policy, &snap, now).await?;
    Ok(TickReport {
        released,
        seated,
        calls,
        queued: snap.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(code: &str, slot: Option<i64>, perishable: bool, arrived: i64) -> QueueEntry {
        QueueEntry {
            trip_id: code.into(),
            trip_code: code.into(),
            vehicle_plate: String::new(),
            driver_id: String::new(),
            gate_code: "HN".into(),
            direction: Direction::Export,
            perishable,
            stage: "yard".into(),
            slot_hour: slot,
            arrived_at: arrived,
            position: 0,
            eta: None,
        }
    }

    #[test]
    fn order_is_slot_then_perishable_then_arrival() {
        let h = 100 * HOUR;
        let mut q = vec![
            entry("none", None, true, 1),
            entry("late-slot", Some(h + HOUR), false, 2),
            entry("a", Some(h), false, 3),
            entry("b-fresh", Some(h), true, 9),
            entry("c", Some(h), false, 4),
        ];
        order_and_estimate(&mut q, &Policy::default(), h, |_| 60);
        let codes: Vec<_> = q.iter().map(|e| e.trip_code.as_str()).collect();
        assert_eq!(codes, ["b-fresh", "a", "c", "late-slot", "none"]);
        // 60 an hour: one a minute from now; the late slot waits for its hour.
        assert_eq!(q[0].eta, Some(h));
        assert_eq!(q[2].eta, Some(h + 2 * 60_000_000));
        assert_eq!(q[3].eta, Some(h + HOUR));
        assert_eq!(q[4].eta, Some(h + HOUR + 60_000_000));
        // Without the perishable rule, arrival decides.
        let p = Policy {
            perishable_first_in_slot: false,
            ..Policy::default()
        };
        order_and_estimate(&mut q, &p, h, |_| 60);
        assert_eq!(q[0].trip_code, "a");
    }

    proptest::proptest! {
        /// Whatever the queue and the hourly capacities: positions are 1..n in order, no truck
        /// is estimated before now or its slot, estimates never go back in time, and no hour
        /// gets more trucks than its capacity.
        #[test]
        fn estimates_respect_capacity_and_order(
            trucks in proptest::collection::vec((proptest::option::of(0i64..30), proptest::bool::ANY, 0i64..1000), 0..120),
            caps in proptest::collection::vec(0i64..8, 24),
            offset in 0i64..HOUR,
        ) {
            let base = 1000 * HOUR;
            let now = base + offset;
            let mut q: Vec<_> = trucks
                .iter()
                .enumerate()
                .map(|(i, (slot, p, arr))| entry(&format!("t{i:03}"), slot.map(|s| base + s * HOUR), *p, *arr))
                .collect();
            let cap_of = |h: i64| caps[((h - base) / HOUR).rem_euclid(24) as usize];
            order_and_estimate(&mut q, &Policy::default(), now, cap_of);
            let mut per_hour: HashMap<i64, i64> = HashMap::new();
            let mut last = i64::MIN;
            for (i, e) in q.iter().enumerate() {
                proptest::prop_assert_eq!(e.position, i as i64 + 1);
                if let Some(t) = e.eta {
                    proptest::prop_assert!(t >= now && t >= e.slot_hour.unwrap_or(now));
                    proptest::prop_assert!(t >= last);
                    last = t;
                    *per_hour.entry(floor_hour(t)).or_default() += 1;
                } else {
                    // Once one truck has no estimate, no later truck has one.
                    proptest::prop_assert!(q[i..].iter().all(|x| x.eta.is_none()));
                }
            }
            for (h, n) in per_hour {
                proptest::prop_assert!(n <= cap_of(h), "hour {} got {} > {}", h, n, cap_of(h));
            }
        }
    }

    #[test]
    fn estimates_skip_closed_hours_and_fill_hours_to_capacity() {
        let h = 100 * HOUR;
        let mut q: Vec<_> = (0..5)
            .map(|i| entry(&format!("t{i}"), None, false, i))
            .collect();
        // Now is 30 minutes into hour h, 4 an hour (every 15 min), the next hour closed.
        let now = h + 30 * 60_000_000;
        order_and_estimate(&mut q, &Policy::default(), now, |x| {
            if x == h + HOUR {
                0
            } else {
                4
            }
        });
        let m = |t: i64| (t - h) / 60_000_000;
        let etas: Vec<_> = q.iter().map(|e| m(e.eta.unwrap())).collect();
        assert_eq!(etas, [30, 45, 120, 135, 150]);
        // No open hour at all: no estimate, never a loop.
        order_and_estimate(&mut q, &Policy::default(), now, |_| 0);
        assert!(q.iter().all(|e| e.eta.is_none()));
    }
}
