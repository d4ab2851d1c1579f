//! Truck journeys from events (sự kiện hành trình): plate-camera reads, QR pass scans and GPS
//! geofence events, each mapped to a stage by the place of its sensor ([`Sensor`]: which gate,
//! which stage), stored once per event ID (a duplicate is answered `duplicate` and stores
//! nothing new), and turned into journey moves through [`crate::journey::advance`].
//!
//! Camera reads are matched to the active trips of the camera's gate (declared, not yet
//! crossed) by [`crate::matching::PlateIndex`], kept in memory by the [`Ingestor`] and refreshed
//! from the database. A read that matches no trip, several plates, or a plate with several
//! active trips goes to the officers' review queue (`border_review_queue`) with its candidates,
//! where an officer attaches it to a trip with a reason or dismisses it — never silently.
//! Before that, the scoring rule ([`crate::matching::settle`]) may settle it: the read's
//! confidence, the misread edits and each candidate trip's expected time (booked slot or
//! expected arrival); its reason is kept with the event and the review item ([`MatchNote`]).
//!
//! A batch ([`Ingestor::ingest_batch`]) is one transaction: checked in full first (a bad event
//! rejects the batch with field errors `events[i].…`, nothing written), matched and prepared
//! in memory, then events inserted with multi-row statements, then one journey move per (trip,
//! stage) with the earliest time. A small batch (a single event: up to [`GROUPED_UP_TO`])
//! shares its transaction with other writers queued at the same moment (group commit,
//! [`Db::write_grouped_native`], inside its own savepoint), so cameras posting one read each
//! share `BEGIN` and `COMMIT`. The write ([`write_plan`]) goes through [`Exec`] and
//! [`Journal`]: on a SQLite file natively (no sqlx statement), elsewhere through sqlx.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use tinhso_kernel::{AppError, FieldErrors, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::native::Param;
use tinhso_store::{now_micros, Backend, Db, DbError, Exec};

use crate::journey::{self, Advance, Journal, Source, Stage};
use crate::matching::{self, Expected, MatchOutcome, PlateIndex, Timing};
use crate::pass::PublishedKey;

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

/// What kind of sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorKind {
    /// Camera đọc biển số.
    Camera,
    /// Đầu đọc mã QR (an officer's phone or a fixed reader).
    Qr,
    /// Vùng địa lý (geofence) for GPS events.
    Geofence,
}

impl SensorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SensorKind::Camera => "camera",
            SensorKind::Qr => "qr",
            SensorKind::Geofence => "geofence",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [SensorKind::Camera, SensorKind::Qr, SensorKind::Geofence]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A camera, QR reader or geofence: where it is and what an event there means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sensor {
    pub id: String,
    pub kind: SensorKind,
    pub gate_code: String,
    pub stage: Stage,
    pub name_vi: String,
}

/// Write the default sensors of every gate from the yard registry, those not there yet: at the
/// entrance of each yard a camera `CAM-<yard>`, a QR reader `QR-<yard>` and a geofence
/// `GEO-<yard>` (stage `staging` for a staging yard, `yard` for an inspection yard), and at the
/// crossing a camera `CAM-<gate>-X` and a QR reader `QR-<gate>-X` (stage `crossed`). The real
/// camera IDs replace these when the cameras are installed. Returns how many were written.
pub async fn seed_sensors(db: &Db) -> Result<usize, AppError> {
    let yards = sqlx::query("SELECT gate_code, code, name_vi, kind FROM border_yards")
        .fetch_all(db.pool())
        .await
        .map_err(db_err)?;
    let gates = sqlx::query("SELECT code, name_vi FROM border_gates")
        .fetch_all(db.pool())
        .await
        .map_err(db_err)?;
    let mut want: Vec<(String, SensorKind, String, Stage, String)> = Vec::new();
    for y in &yards {
        let gate: String = y.try_get(0).map_err(db_err)?;
        let code: String = y.try_get(1).map_err(db_err)?;
        let name: String = y.try_get(2).map_err(db_err)?;
        let kind: String = y.try_get(3).map_err(db_err)?;
        let stage = if kind == "staging" {
            Stage::Staging
        } else {
            Stage::Yard
        };
        want.push((
            format!("CAM-{code}"),
            SensorKind::Camera,
            gate.clone(),
            stage,
            format!("Camera cổng vào {name}"),
        ));
        want.push((
            format!("QR-{code}"),
            SensorKind::Qr,
            gate.clone(),
            stage,
            format!("Quét mã QR tại {name}"),
        ));
        want.push((
            format!("GEO-{code}"),
            SensorKind::Geofence,
            gate,
            stage,
            format!("Vùng GPS {name}"),
        ));
    }
    for g in &gates {
        let code: String = g.try_get(0).map_err(db_err)?;
        let name: String = g.try_get(1).map_err(db_err)?;
        want.push((
            format!("CAM-{code}-X"),
            SensorKind::Camera,
            code.clone(),
            Stage::Crossed,
            format!("Camera làn xuất cảnh {name}"),
        ));
        want.push((
            format!("QR-{code}-X"),
            SensorKind::Qr,
            code,
            Stage::Crossed,
            format!("Quét mã QR tại làn xuất cảnh {name}"),
        ));
    }
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    let mut n = 0;
    for (id, kind, gate, stage, name) in want {
        n += sqlx::query(
            "INSERT INTO border_sensors (id, kind, gate_code, stage, name_vi, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&id)
        .bind(kind.as_str())
        .bind(&gate)
        .bind(stage.as_str())
        .bind(&name)
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(db_err)?
        .rows_affected() as usize;
    }
    tx.commit().await?;
    Ok(n)
}

/// Every sensor.
pub async fn sensors(db: &Db) -> Result<Vec<Sensor>, AppError> {
    let rows = sqlx::query("SELECT id, kind, gate_code, stage, name_vi FROM border_sensors")
        .fetch_all(db.pool())
        .await
        .map_err(db_err)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let kind: String = r.try_get(1).map_err(db_err)?;
        let stage: String = r.try_get(3).map_err(db_err)?;
        out.push(Sensor {
            id: r.try_get(0).map_err(db_err)?,
            kind: SensorKind::parse(&kind)
                .ok_or_else(|| AppError::internal(format!("sensor kind {kind}")))?,
            gate_code: r.try_get(2).map_err(db_err)?,
            stage: Stage::parse(&stage)
                .ok_or_else(|| AppError::internal(format!("sensor stage {stage}")))?,
            name_vi: r.try_get(4).map_err(db_err)?,
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// An event as a sensor sends it (JSON: `{"event_id", "at", "kind": "camera", …}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// The sender's unique ID for the event (idempotency key), at most 100 characters.
    pub event_id: String,
    /// When it happened, Unix microseconds.
    pub at: i64,
    #[serde(flatten)]
    pub body: EventBody,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    /// A plate camera's read: the text as read and the camera's confidence (0–1).
    Camera {
        camera_id: String,
        plate_text: String,
        confidence: f64,
    },
    /// A QR pass scanned at a reader. A reader that sends the pass's text (`pass`, `TSB1.…`)
    /// has it verified here against the published keys at the scan's time; a reader that
    /// verified it itself sends the trip code it carries (`trip_code`). With both, they must
    /// agree.
    Qr {
        reader_id: String,
        #[serde(default)]
        trip_code: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pass: Option<String>,
    },
    /// A GPS tracker entered a geofence (the trip's tracking is linked to the trip).
    Gps {
        geofence_id: String,
        trip_id: String,
    },
}

impl EventBody {
    fn kind(&self) -> &'static str {
        match self {
            EventBody::Camera { .. } => "camera",
            EventBody::Qr { .. } => "qr",
            EventBody::Gps { .. } => "gps",
        }
    }

    fn sensor_id(&self) -> &str {
        match self {
            EventBody::Camera { camera_id, .. } => camera_id,
            EventBody::Qr { reader_id, .. } => reader_id,
            EventBody::Gps { geofence_id, .. } => geofence_id,
        }
    }

    fn sensor_kind(&self) -> SensorKind {
        match self {
            EventBody::Camera { .. } => SensorKind::Camera,
            EventBody::Qr { .. } => SensorKind::Qr,
            EventBody::Gps { .. } => SensorKind::Geofence,
        }
    }

    fn source(&self) -> Source {
        match self {
            EventBody::Camera { .. } => Source::Camera,
            EventBody::Qr { .. } => Source::Qr,
            EventBody::Gps { .. } => Source::Gps,
        }
    }
}

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventResult {
    pub event_id: String,
    /// `exact`, `fuzzy`, `scored` (settled by the scoring rule), `qr`, `gps` (attached);
    /// `ambiguous`, `no_match`, `several_trips`
    /// (sent to review); `unknown_trip` (a QR or GPS event of no known trip: stored only);
    /// `duplicate` (already received: nothing stored).
    pub outcome: &'static str,
    pub trip_id: Option<String>,
}

/// What a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchReport {
    pub received: usize,
    pub duplicates: usize,
    pub attached: usize,
    pub review: usize,
    pub unknown: usize,
    /// Trips moved forward (each once, to the furthest stage the batch shows).
    pub moved: usize,
    pub results: Vec<EventResult>,
}

/// The active trips of one gate and their plates.
#[derive(Debug, Default)]
struct GateIndex {
    plates: PlateIndex<String>,
    /// Canonical plate → the active trips with it (vehicle or trailer).
    trips: HashMap<String, Vec<String>>,
}

#[derive(Debug, Default)]
struct Active {
    gates: HashMap<String, GateIndex>,
    /// Trip → (gate, its plates), to remove it.
    trips: HashMap<String, (String, Vec<String>)>,
    /// Trip → when it is expected (booked slot or expected arrival): what the scoring rule
    /// weighs a candidate's time by ([`matching::expected_for_read`])…
    expected: HashMap<String, Expected>,
    /// … unless it is at the gate: trip → since when.
    present: HashMap<String, i64>,
    /// Trip → the stage times known to be stored (`border_trip_stages`: loaded by
    /// [`Ingestor::refresh`], then those this ingestor committed). Stored times only move
    /// earlier, so each is an upper bound of the stored one: a later read of that stage would
    /// not change it, and its upsert is not sent ([`journey::advance_many_known`]).
    times: HashMap<String, Vec<(Stage, i64)>>,
}

impl Active {
    fn add(&mut self, trip_id: &str, gate: &str, plates: Vec<String>, expected: Expected) {
        if self.trips.contains_key(trip_id) {
            return;
        }
        self.expected.insert(trip_id.to_string(), expected);
        let g = self.gates.entry(gate.to_string()).or_default();
        for p in &plates {
            g.plates.insert(p, p.clone());
            let v = g.trips.entry(p.clone()).or_default();
            if !v.iter().any(|t| t == trip_id) {
                v.push(trip_id.to_string());
            }
        }
        self.trips
            .insert(trip_id.to_string(), (gate.to_string(), plates));
    }

    /// A stage time of `trip_id` stored (or one later than the stored one).
    fn stored_time(&mut self, trip_id: &str, stage: Stage, at: i64) {
        if !self.trips.contains_key(trip_id) {
            return;
        }
        // Looked up before inserting: no key allocated for a trip already there (most moves).
        let v = match self.times.get_mut(trip_id) {
            Some(v) => v,
            None => self.times.entry(trip_id.to_string()).or_default(),
        };
        match v.iter_mut().find(|(s, _)| *s == stage) {
            Some(t) => t.1 = t.1.min(at),
            None => v.push((stage, at)),
        }
    }

    fn remove(&mut self, trip_id: &str) {
        self.expected.remove(trip_id);
        self.present.remove(trip_id);
        self.times.remove(trip_id);
        let Some((gate, plates)) = self.trips.remove(trip_id) else {
            return;
        };
        let Some(g) = self.gates.get_mut(&gate) else {
            return;
        };
        for p in plates {
            if let Some(v) = g.trips.get_mut(&p) {
                v.retain(|t| t != trip_id);
                if v.is_empty() {
                    g.trips.remove(&p);
                    g.plates.remove(&p);
                }
            }
        }
    }
}

/// A candidate trip for a read sent to review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub trip_id: String,
    pub plate: String,
}

/// Why the scoring rule attached a read or left it in review (lý do quyết định): stored as
/// JSON with the event and its review item (`match_note`), shown to the officer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchNote {
    /// [`crate::matching::Decision::why`]: `settled`, `margin`, `not_near`, `low_confidence`…
    pub why: String,
    pub confidence: f64,
    pub best_trip: Option<String>,
    pub best_score: Option<f64>,
    pub runner_up_trip: Option<String>,
    pub runner_up_score: Option<f64>,
    /// [`crate::matching::Decision::unseen_score`]: a truck with no trip, for digits read alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unseen_score: Option<f64>,
}

impl MatchNote {
    fn of(d: &matching::Decision<String>, confidence: f64) -> Self {
        let round = |x: Option<f64>| x.map(|v| (v * 1000.0).round() / 1000.0);
        MatchNote {
            why: d.why.to_string(),
            confidence,
            best_trip: d.best.clone(),
            best_score: round(d.best_score),
            runner_up_trip: d.runner_up.clone(),
            runner_up_score: round(d.runner_up_score),
            unseen_score: round(d.unseen_score),
        }
    }

    fn json(&self) -> Option<String> {
        serde_json::to_string(self).ok()
    }
}

/// The result of matching a read against a gate's active trips.
#[derive(Debug, Clone, PartialEq)]
enum Resolution {
    Attach {
        trip_id: String,
        how: &'static str,
        note: Option<MatchNote>,
    },
    Review {
        reason: &'static str,
        candidates: Vec<Candidate>,
        note: Option<MatchNote>,
    },
}

/// Receives events: the sensors and the active trips of every gate, in memory.
#[derive(Debug)]
pub struct Ingestor {
    sensors: HashMap<String, Sensor>,
    active: RwLock<Active>,
    /// The published pass keys, to verify scanned passes (reloaded by [`Ingestor::refresh`]).
    keys: RwLock<Vec<PublishedKey>>,
}

/// The trip code a QR scan names, and the review reason when its pass is not good: forged,
/// expired, for another gate, or naming another trip than the reader said.
fn qr_claim(
    trip_code: &str,
    pass: Option<&str>,
    keys: &[PublishedKey],
    gate: &str,
    at_secs: i64,
) -> (String, Option<&'static str>) {
    let Some(text) = pass.filter(|p| !p.trim().is_empty()) else {
        return (trip_code.to_string(), None);
    };
    match crate::pass::verify(text, keys, at_secs) {
        Ok(p) if p.g != gate => (p.c, Some("pass_other_gate")),
        Ok(p) if !trip_code.is_empty() && p.c != trip_code => (p.c, Some("pass_mismatch")),
        Ok(p) => (p.c, None),
        Err(problem) => (
            crate::pass::claimed(text)
                .map(|p| p.c)
                .unwrap_or_else(|| trip_code.to_string()),
            Some(problem.review_reason()),
        ),
    }
}

fn poisoned<T>(_: T) -> AppError {
    AppError::internal("border events: index lock poisoned")
}

/// The stages of the journey where a trip's plates are matched.
const ACTIVE_STAGES: &str = "('declared', 'staging', 'yard', 'checked', 'paid')";

impl Ingestor {
    /// Load the sensors and the active trips.
    pub async fn load(db: &Db) -> Result<Self, AppError> {
        let sensors = sensors(db)
            .await?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        let me = Self {
            sensors,
            active: RwLock::new(Active::default()),
            keys: RwLock::new(Vec::new()),
        };
        me.refresh(db).await?;
        Ok(me)
    }

    /// Rebuild the index of active trips from the database (new declarations, trips moved by
    /// other modules) and reload the published pass keys. Returns how many trips are active.
    pub async fn refresh(&self, db: &Db) -> Result<usize, AppError> {
        let keys = crate::pass::published_keys(db).await?;
        *self.keys.write().map_err(poisoned)? = keys;
        // At most one active booking per trip (a unique index).
        let rows = sqlx::query(&format!(
            "SELECT t.id, t.gate_code, t.vehicle_plate, t.trailer_plate, t.expected_arrival, \
             t.stage, t.stage_at, b.hour_start, b.arrive_by FROM border_trips t \
             LEFT JOIN border_bookings b ON b.trip_id = t.id AND b.status = 'active' \
             WHERE t.stage IN {ACTIVE_STAGES}"
        ))
        .fetch_all(db.pool())
        .await
        .map_err(db_err)?;
        let mut a = Active::default();
        for r in &rows {
            let id: String = r.try_get(0).map_err(db_err)?;
            let gate: String = r.try_get(1).map_err(db_err)?;
            let vehicle: String = r.try_get(2).map_err(db_err)?;
            let trailer: Option<String> = r.try_get(3).map_err(db_err)?;
            let expected_arrival: i64 = r.try_get(4).map_err(db_err)?;
            let stage: String = r.try_get(5).map_err(db_err)?;
            let stage_at: i64 = r.try_get(6).map_err(db_err)?;
            let hour_start: Option<i64> = r.try_get(7).map_err(db_err)?;
            let arrive_by: Option<i64> = r.try_get(8).map_err(db_err)?;
            // The booked slot and the declared arrival together.
            let expected = Expected::Window {
                from: hour_start.map_or(expected_arrival, |h| h.min(expected_arrival)),
                to: arrive_by.map_or(expected_arrival, |b| b.max(expected_arrival)),
            };
            let mut plates = vec![vehicle];
            plates.extend(trailer);
            a.add(&id, &gate, plates, expected);
            if stage != "declared" {
                a.present.insert(id, stage_at);
            }
        }
        // The stage times already stored, so that reads of a stage already timed send no
        // upsert.
        let rows = sqlx::query(&format!(
            "SELECT s.trip_id, s.stage, s.at FROM border_trip_stages s \
             JOIN border_trips t ON t.id = s.trip_id WHERE t.stage IN {ACTIVE_STAGES}"
        ))
        .fetch_all(db.pool())
        .await
        .map_err(db_err)?;
        for r in &rows {
            let id: String = r.try_get(0).map_err(db_err)?;
            let stage: String = r.try_get(1).map_err(db_err)?;
            let at: i64 = r.try_get(2).map_err(db_err)?;
            if let Some(stage) = Stage::parse(&stage) {
                a.stored_time(&id, stage, at);
            }
        }
        let n = a.trips.len();
        *self.active.write().map_err(poisoned)? = a;
        Ok(n)
    }

    /// Start matching a trip's plates (a new declaration) without a full refresh. Its time
    /// is not known until the next refresh: the scoring rule never attaches to it (it still
    /// competes); [`Ingestor::track_expected`] gives the time.
    pub fn track(&self, trip_id: &str, gate: &str, plates: Vec<String>) -> Result<(), AppError> {
        self.active
            .write()
            .map_err(poisoned)?
            .add(trip_id, gate, plates, Expected::Unknown);
        Ok(())
    }

    /// [`Ingestor::track`] with the trip's expected arrival (Unix microseconds).
    pub fn track_expected(
        &self,
        trip_id: &str,
        gate: &str,
        plates: Vec<String>,
        expected_arrival: i64,
    ) -> Result<(), AppError> {
        let e = Expected::Window {
            from: expected_arrival,
            to: expected_arrival,
        };
        self.active
            .write()
            .map_err(poisoned)?
            .add(trip_id, gate, plates, e);
        Ok(())
    }

    /// Stop matching a trip's plates.
    pub fn untrack(&self, trip_id: &str) -> Result<(), AppError> {
        self.active.write().map_err(poisoned)?.remove(trip_id);
        Ok(())
    }

    /// How many trips are matched.
    pub fn active_trips(&self) -> usize {
        self.active.read().map(|a| a.trips.len()).unwrap_or(0)
    }

    pub fn sensor(&self, id: &str) -> Option<&Sensor> {
        self.sensors.get(id)
    }

    /// Match a read; what the matcher leaves ambiguous (or matched to a plate with several
    /// trips) goes through the scoring
    /// rule ([`matching::settle`]: the read's confidence, the edits, each candidate trip's
    /// expected time), which attaches (`scored`) or leaves it in review with its reason.
    fn resolve_read(
        &self,
        a: &Active,
        gate: &str,
        text: &str,
        confidence: f64,
        at: i64,
    ) -> Resolution {
        let Some(g) = a.gates.get(gate) else {
            return Resolution::Review {
                reason: "no_match",
                candidates: Vec::new(),
                note: None,
            };
        };
        let trips_of = |plate: &str| -> Vec<Candidate> {
            g.trips
                .get(plate)
                .map(|v| {
                    v.iter()
                        .map(|t| Candidate {
                            trip_id: t.clone(),
                            plate: plate.to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        // The scoring rule over candidate trips.
        let settle = |cands: &[Candidate]| -> matching::Decision<String> {
            matching::settle(
                text,
                confidence,
                cands.iter().map(|c| {
                    let e = matching::expected_for_read(
                        text,
                        a.present.get(&c.trip_id).copied(),
                        a.expected
                            .get(&c.trip_id)
                            .copied()
                            .unwrap_or(Expected::Unknown),
                    );
                    (c.trip_id.clone(), c.plate.as_str(), Timing::of(e, at))
                }),
            )
        };
        let decided = |reason: &'static str, candidates: Vec<Candidate>| {
            let d = settle(&candidates);
            let note = Some(MatchNote::of(&d, confidence));
            match d.attach {
                Some(trip_id) => Resolution::Attach {
                    trip_id,
                    how: "scored",
                    note,
                },
                None => Resolution::Review {
                    reason,
                    candidates,
                    note,
                },
            }
        };
        let outcome = g.plates.match_read(text);
        let how = outcome.kind();
        if let Some(p) = outcome.key() {
            // One trip with the plate (most reads): its ID copied once, no candidate list.
            if let Some([t]) = g.trips.get(p).map(Vec::as_slice) {
                return Resolution::Attach {
                    trip_id: t.clone(),
                    how,
                    note: None,
                };
            }
            return decided("several_trips", trips_of(p));
        }
        let reason = match outcome {
            MatchOutcome::Ambiguous(_) => "ambiguous",
            _ => "no_match",
        };
        match g.plates.to_score(text, &outcome) {
            Some(plates) => decided(reason, plates.iter().flat_map(|p| trips_of(p)).collect()),
            None => Resolution::Review {
                reason,
                candidates: g
                    .plates
                    .candidates(text)
                    .iter()
                    .flat_map(|p| trips_of(p))
                    .collect(),
                note: None,
            },
        }
    }

    /// Check a batch in full; the sensor of each event.
    fn check<'a>(&'a self, events: &[NewEvent]) -> Result<Vec<&'a Sensor>, AppError> {
        let mut errs = FieldErrors::new();
        let mut out = Vec::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            let f = |name: &str| format!("events[{i}].{name}");
            let id = e.event_id.trim();
            if id.is_empty() || id.len() > 100 || id != e.event_id {
                errs.push(
                    &f("event_id"),
                    Invalid::new(
                        "event_id",
                        "Mã sự kiện bắt buộc, tối đa 100 ký tự, không có khoảng trắng ở đầu hay cuối",
                        "The event ID is required, at most 100 characters, without leading or trailing spaces",
                    ),
                );
            }
            if e.at <= 0 {
                errs.push(
                    &f("at"),
                    Invalid::new(
                        "at",
                        "Thời điểm phải là số micro giây Unix dương",
                        "The time must be positive Unix microseconds",
                    ),
                );
            }
            match &e.body {
                EventBody::Camera {
                    plate_text,
                    confidence,
                    ..
                } => {
                    if plate_text.len() > 64 {
                        errs.push(
                            &f("plate_text"),
                            Invalid::new(
                                "plate_text",
                                "Chuỗi biển số đọc được dài tối đa 64 byte",
                                "The plate text read is at most 64 bytes",
                            ),
                        );
                    }
                    if !(0.0..=1.0).contains(confidence) {
                        errs.push(
                            &f("confidence"),
                            Invalid::new(
                                "confidence",
                                "Độ tin cậy nằm trong khoảng 0 đến 1",
                                "The confidence is between 0 and 1",
                            ),
                        );
                    }
                }
                EventBody::Qr {
                    trip_code, pass, ..
                } => {
                    let no_pass = pass.as_deref().is_none_or(|p| p.trim().is_empty());
                    if (trip_code.trim().is_empty() && no_pass) || trip_code.len() > 100 {
                        errs.push(
                            &f("trip_code"),
                            Invalid::new(
                                "trip_code",
                                "Cần nội dung thẻ QR (pass) hoặc mã chuyến trên thẻ, tối đa 100 ký tự",
                                "The QR pass text (pass) or the trip code it carries is required, at most 100 characters",
                            ),
                        );
                    }
                    if pass.as_deref().is_some_and(|p| p.len() > 4_000) {
                        errs.push(
                            &f("pass"),
                            Invalid::new(
                                "pass",
                                "Nội dung thẻ QR tối đa 4.000 ký tự",
                                "The QR pass text is at most 4,000 characters",
                            ),
                        );
                    }
                }
                EventBody::Gps { trip_id, .. } => {
                    if trip_id.trim().is_empty() || trip_id.len() > 100 {
                        errs.push(
                            &f("trip_id"),
                            Invalid::new(
                                "trip_id",
                                "Mã chuyến bắt buộc, tối đa 100 ký tự",
                                "The trip ID is required, at most 100 characters",
                            ),
                        );
                    }
                }
            }
            let sid = e.body.sensor_id();
            let field = match e.body {
                EventBody::Camera { .. } => "camera_id",
                EventBody::Qr { .. } => "reader_id",
                EventBody::Gps { .. } => "geofence_id",
            };
            match self.sensors.get(sid) {
                Some(s) if s.kind == e.body.sensor_kind() => out.push(s),
                Some(s) => errs.push(
                    &f(field),
                    Invalid::new(
                        "sensor_kind",
                        format!(
                            "{sid} là thiết bị loại {}, không phải loại của sự kiện này",
                            s.kind.as_str()
                        ),
                        format!(
                            "{sid} is a {} sensor, not one for this kind of event",
                            s.kind.as_str()
                        ),
                    ),
                ),
                None => errs.push(
                    &f(field),
                    Invalid::new(
                        "sensor_unknown",
                        format!("Không có thiết bị {sid} trong danh mục"),
                        format!("No sensor {sid} is registered"),
                    ),
                ),
            }
        }
        errs.into_result()?;
        Ok(out)
    }

    /// Receive one event (a batch of one).
    pub async fn ingest(&self, db: &Db, event: &NewEvent) -> Result<EventResult, AppError> {
        let mut r = self.ingest_batch(db, std::slice::from_ref(event)).await?;
        r.results
            .pop()
            .ok_or_else(|| AppError::internal("ingest: no result"))
    }

    /// Receive a batch of events in one transaction. Events already received (by ID, also
    /// within the batch) are answered `duplicate` and store nothing new.
    pub async fn ingest_batch(
        &self,
        db: &Db,
        events: &[NewEvent],
    ) -> Result<BatchReport, AppError> {
        let sensors = self.check(events)?;
        let mut report = BatchReport {
            received: events.len(),
            ..BatchReport::default()
        };
        if events.is_empty() {
            return Ok(report);
        }
        // Duplicates within the batch: the first wins.
        let mut seen: HashSet<&str> = HashSet::with_capacity(events.len());
        let first: Vec<bool> = events
            .iter()
            .map(|e| seen.insert(e.event_id.as_str()))
            .collect();
        // Camera reads matched in memory, before the transaction.
        let mut resolutions: Vec<Option<Resolution>> = vec![None; events.len()];
        {
            let a = self.active.read().map_err(poisoned)?;
            for (i, e) in events.iter().enumerate() {
                if let EventBody::Camera {
                    plate_text,
                    confidence,
                    ..
                } = &e.body
                {
                    if first[i] {
                        resolutions[i] = Some(self.resolve_read(
                            &a,
                            &sensors[i].gate_code,
                            plate_text,
                            *confidence,
                            e.at,
                        ));
                    }
                }
            }
        }
        // QR passes verified against the published keys at the scan's time: the trip code
        // each QR event names, and why a scan goes to review instead.
        let mut qr: Vec<Option<(String, Option<&'static str>)>> = vec![None; events.len()];
        let unknown_key = {
            let keys = self.keys.read().map_err(poisoned)?;
            events.iter().any(|e| match &e.body {
                EventBody::Qr { pass: Some(p), .. } => {
                    crate::pass::claimed(p).is_some_and(|c| !keys.iter().any(|k| k.key_id == c.k))
                }
                _ => false,
            })
        };
        if unknown_key {
            // A key made since the last refresh (a board's first pass): reload before judging.
            let keys = crate::pass::published_keys(db).await?;
            *self.keys.write().map_err(poisoned)? = keys;
        }
        {
            let keys = self.keys.read().map_err(poisoned)?;
            for (i, e) in events.iter().enumerate() {
                if let EventBody::Qr {
                    trip_code, pass, ..
                } = &e.body
                {
                    if first[i] {
                        qr[i] = Some(qr_claim(
                            trip_code.trim(),
                            pass.as_deref(),
                            &keys,
                            &sensors[i].gate_code,
                            e.at.div_euclid(1_000_000),
                        ));
                    }
                }
            }
        }
        // QR and GPS events name their trip: look the trips up (committed trips, read before
        // the write so that the write can share a transaction with other writers).
        let codes: Vec<&str> = qr.iter().flatten().map(|(c, _)| c.as_str()).collect();
        let ids: Vec<&str> = events
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::Gps { trip_id, .. } => Some(trip_id.trim()),
                _ => None,
            })
            .collect();
        let by_code = lookup(db, "code", &codes).await?;
        let by_id = lookup(db, "id", &ids).await?;
        for (i, e) in events.iter().enumerate() {
            if !first[i] {
                continue;
            }
            match &e.body {
                EventBody::Qr { .. } => {
                    let Some((code, problem)) = &qr[i] else {
                        continue;
                    };
                    let trip = by_code.get(code.as_str());
                    resolutions[i] = match (problem, trip) {
                        (None, Some(t)) => Some(Resolution::Attach {
                            trip_id: t.clone(),
                            how: "qr",
                            note: None,
                        }),
                        (None, None) => None,
                        (Some(reason), t) => Some(Resolution::Review {
                            reason,
                            candidates: t
                                .map(|t| Candidate {
                                    trip_id: t.clone(),
                                    plate: String::new(),
                                })
                                .into_iter()
                                .collect(),
                            note: None,
                        }),
                    };
                }
                EventBody::Gps { trip_id, .. } => {
                    resolutions[i] = by_id.get(trip_id.trim()).map(|t| Resolution::Attach {
                        trip_id: t.clone(),
                        how: "gps",
                        note: None,
                    });
                }
                EventBody::Camera { .. } => {}
            }
        }
        // What to write, owned, so that the write runs in a transaction shared with other
        // writers (group commit: concurrent single events share BEGIN and COMMIT).
        let now = now_micros();
        let bodies = {
            let rows = events
                .iter()
                .enumerate()
                .filter(|(i, _)| first[*i])
                .map(|(i, e)| stored(e, sensors[i], resolutions[i].as_ref(), now));
            match db.backend() {
                Backend::Sqlite => EventRows::Values(rows.map(|r| r.owned()).collect()),
                Backend::Postgres => EventRows::Json(event_bodies(&rows.collect::<Vec<_>>())?),
            }
        };
        let mut plan = Plan {
            bodies,
            reviews: Vec::new(),
            moves: Vec::new(),
            known: HashMap::new(),
            now,
        };
        for (i, e) in events.iter().enumerate() {
            if !first[i] {
                continue;
            }
            match &resolutions[i] {
                Some(Resolution::Attach { trip_id, .. }) => plan.moves.push(PlannedMove {
                    event_id: e.event_id.clone(),
                    trip_id: trip_id.clone(),
                    stage: sensors[i].stage,
                    at: e.at,
                    source: e.body.source(),
                }),
                Some(Resolution::Review {
                    reason,
                    candidates,
                    note,
                }) => plan
                    .reviews
                    .push(review_row(e, sensors[i], reason, candidates, note)?),
                None => {}
            }
        }
        // The stage times this ingestor knows are stored (upper bounds): a move at or after
        // one sends no upsert.
        {
            let a = self.active.read().map_err(poisoned)?;
            for m in &plan.moves {
                if plan.known.contains_key(&m.trip_id) {
                    continue;
                }
                if let Some(v) = a.times.get(&m.trip_id) {
                    plan.known.insert(m.trip_id.clone(), v.clone());
                }
            }
        }
        let Written {
            seen,
            moves,
            mut advanced,
        } = if events.len() <= GROUPED_UP_TO {
            db.write_grouped_native(move |tx| Box::pin(async move { write_plan(tx, plan).await }))
                .await?
        } else {
            let mut tx = db.begin_native().await?;
            let w = write_plan(&mut tx, plan).await?;
            tx.commit().await?;
            w
        };
        for (i, e) in events.iter().enumerate() {
            if !first[i] || seen.contains(e.event_id.as_str()) {
                report.duplicates += 1;
                report.results.push(EventResult {
                    event_id: e.event_id.clone(),
                    outcome: "duplicate",
                    trip_id: None,
                });
                continue;
            }
            let (outcome, trip_id) = match &resolutions[i] {
                Some(Resolution::Attach { trip_id, how, .. }) => {
                    report.attached += 1;
                    (*how, Some(trip_id.clone()))
                }
                Some(Resolution::Review { reason, .. }) => {
                    report.review += 1;
                    (*reason, None)
                }
                None => {
                    report.unknown += 1;
                    ("unknown_trip", None)
                }
            };
            report.results.push(EventResult {
                event_id: e.event_id.clone(),
                outcome,
                trip_id,
            });
        }
        let mut ended: Vec<String> = Vec::new();
        // Trips now at the gate: near in time for any later read (the scoring rule).
        let mut arrived: Vec<(String, i64)> = Vec::new();
        let first_at: HashMap<&str, i64> = moves.iter().fold(HashMap::new(), |mut m, s| {
            let e = m.entry(s.trip_id.as_str()).or_insert(s.at);
            *e = (*e).min(s.at);
            m
        });
        // The trips the database has (an ID tracked before its declaration committed has no
        // stage time stored yet, and must not be remembered as having one).
        let found: HashSet<String> = advanced.iter().map(|a| a.trip_id.clone()).collect();
        for adv in advanced.iter_mut() {
            if adv.moved {
                report.moved += 1;
                if !adv.to.is_active() {
                    ended.push(std::mem::take(&mut adv.trip_id));
                } else if adv.from == Stage::Declared {
                    let at = first_at.get(adv.trip_id.as_str()).copied().unwrap_or(0);
                    arrived.push((std::mem::take(&mut adv.trip_id), at));
                }
            }
        }
        {
            let mut a = self.active.write().map_err(poisoned)?;
            for m in moves.iter().filter(|m| found.contains(&m.trip_id)) {
                a.stored_time(&m.trip_id, m.stage, m.at);
            }
            for t in &ended {
                a.remove(t);
            }
            for (t, at) in arrived {
                if a.trips.contains_key(&t) {
                    a.present.insert(t, at);
                }
            }
        }
        Ok(report)
    }
}

/// Trips by `column` (`id` or `code`) → id, for the given keys.
async fn lookup(db: &Db, column: &str, keys: &[&str]) -> Result<HashMap<String, String>, AppError> {
    let mut out = HashMap::new();
    let mut uniq: Vec<&str> = keys.to_vec();
    uniq.sort_unstable();
    uniq.dedup();
    for chunk in uniq.chunks(500) {
        let mut sql = format!("SELECT {column}, id FROM border_trips WHERE {column} IN (");
        for i in 1..=chunk.len() {
            if i > 1 {
                sql.push_str(", ");
            }
            db.backend().push_param(&mut sql, i);
        }
        sql.push(')');
        // Natively on a SQLite file (`Db::read_rows`): keys through unique indexes.
        let params: Vec<Param<'_>> = chunk.iter().map(|k| Param::Text(k)).collect();
        let rows = db
            .read_rows(&sql, &params, |r| Ok((r.text(0)?, r.text(1)?)))
            .await
            .map_err(crate::slots::store_err)?;
        out.extend(rows);
    }
    Ok(out)
}

/// One `border_events` row (hàng sự kiện): `S = &str` borrowed from the event, its sensor and
/// its resolution (nothing copied per event but the QR reference and the scoring rule's note);
/// `S = String` owned, for a write that binds each value ([`EventRows::Values`]).
struct Stored<S> {
    event_id: S,
    kind: &'static str,
    sensor_id: S,
    gate_code: S,
    stage: &'static str,
    at: i64,
    plate_text: Option<S>,
    confidence: Option<f64>,
    reference: Option<String>,
    trip_id: Option<S>,
    outcome: &'static str,
    received_at: i64,
    /// The scoring rule's reason ([`MatchNote`], JSON), when it decided.
    match_note: Option<String>,
}

impl Stored<&str> {
    fn owned(self) -> Stored<String> {
        Stored {
            event_id: self.event_id.to_owned(),
            kind: self.kind,
            sensor_id: self.sensor_id.to_owned(),
            gate_code: self.gate_code.to_owned(),
            stage: self.stage,
            at: self.at,
            plate_text: self.plate_text.map(str::to_owned),
            confidence: self.confidence,
            reference: self.reference,
            trip_id: self.trip_id.map(str::to_owned),
            outcome: self.outcome,
            received_at: self.received_at,
            match_note: self.match_note,
        }
    }
}

fn stored<'a>(
    e: &'a NewEvent,
    s: &'a Sensor,
    r: Option<&'a Resolution>,
    now: i64,
) -> Stored<&'a str> {
    let (plate_text, confidence, reference) = match &e.body {
        EventBody::Camera {
            plate_text,
            confidence,
            ..
        } => (Some(plate_text.as_str()), Some(*confidence), None),
        EventBody::Qr {
            trip_code, pass, ..
        } => {
            let claimed = pass
                .as_deref()
                .and_then(crate::pass::claimed)
                .map(|p| p.c)
                .unwrap_or_else(|| trip_code.trim().to_string());
            (None, None, Some(claimed))
        }
        EventBody::Gps { trip_id, .. } => (None, None, Some(trip_id.trim().to_string())),
    };
    let (trip_id, outcome, note) = match r {
        Some(Resolution::Attach { trip_id, how, note }) => (Some(trip_id.as_str()), *how, note),
        Some(Resolution::Review { reason, note, .. }) => (None, *reason, note),
        None => (None, "unknown_trip", &None),
    };
    Stored {
        event_id: &e.event_id,
        kind: e.body.kind(),
        sensor_id: &s.id,
        gate_code: &s.gate_code,
        stage: s.stage.as_str(),
        at: e.at,
        plate_text,
        confidence,
        reference,
        trip_id,
        outcome,
        received_at: now,
        match_note: note.as_ref().and_then(MatchNote::json),
    }
}

/// Batches of at most this many events share a write transaction with other writers (group
/// commit, [`Db::write_grouped_native`]): single events from many cameras then share `BEGIN` and
/// `COMMIT`. Larger batches have a transaction of their own (they already share it among
/// their events, and on PostgreSQL two of them may then run side by side).
pub const GROUPED_UP_TO: usize = 32;

/// Rows per multi-row `INSERT` (one JSON parameter per chunk of rows).
const ROWS_PER_INSERT: usize = 2_000;

/// The largest multi-row `VALUES` of events on SQLite (13 parameters a row: 3,328 `?`). A
/// batch is cut into statements of 256, 128, …, 1 rows, so that at most nine shapes of
/// statement exist and each stays prepared in the connection's statement cache.
const MAX_VALUES_ROWS: usize = 256;

/// The events' rows as the write sends them.
enum EventRows {
    /// PostgreSQL: one JSON array per statement and its number of rows ([`event_bodies`]),
    /// unpacked by `jsonb_array_elements`.
    Json(Vec<(String, usize)>),
    /// SQLite: owned rows bound as positional `?` parameters of multi-row `VALUES`. (Unpacking
    /// JSON rows with `json_each` turned each row's array back into text and parsed it again,
    /// about a fifth of the writer thread's work; anonymous `?` are bound by position, without
    /// the name look-up that made numbered parameters cost O(n²).)
    Values(Vec<Stored<String>>),
}

/// A journey move an attached event asks for (made only if the event is new).
struct PlannedMove {
    event_id: String,
    trip_id: String,
    stage: Stage,
    at: i64,
    source: Source,
}

/// What a batch writes, owned, prepared before its transaction ([`write_plan`]).
struct Plan {
    /// The events' rows ([`EventRows`]).
    bodies: EventRows,
    /// Review items: (event ID, its JSON row), written if the event is new.
    reviews: Vec<(String, String)>,
    moves: Vec<PlannedMove>,
    /// Trip → the stage times known to be stored (upper bounds of the stored ones).
    known: HashMap<String, Vec<(Stage, i64)>>,
    now: i64,
}

/// What [`write_plan`] wrote.
struct Written {
    /// The batch's events received before (the others were inserted).
    seen: HashSet<String>,
    /// One per (trip, stage), the earliest time of the batch's new events.
    moves: Vec<journey::StageEvent>,
    advanced: Vec<Advance>,
}

/// Write a batch: the events not received before, their review items, one journey move per
/// (trip, stage) with the earliest time. Only writes (and reads the trips' stages), so it
/// can run in a transaction shared with other writers ([`Db::write_grouped_native`]); any
/// transaction kind ([`Exec`] + [`Journal`]: native on a SQLite file, else sqlx).
async fn write_plan(tx: &mut impl Journal, plan: Plan) -> Result<Written, AppError> {
    let seen = insert_event_bodies(tx, &plan.bodies).await?;
    let reviews: Vec<&str> = plan
        .reviews
        .iter()
        .filter(|(id, _)| !seen.contains(id))
        .map(|(_, row)| row.as_str())
        .collect();
    insert_review_rows(tx, &reviews, plan.now).await?;
    let mut first: HashMap<(String, Stage), (i64, Source)> = HashMap::new();
    for m in plan.moves {
        if seen.contains(&m.event_id) {
            continue;
        }
        let v = first
            .entry((m.trip_id, m.stage))
            .or_insert((m.at, m.source));
        if m.at < v.0 {
            *v = (m.at, m.source);
        }
    }
    let moves: Vec<journey::StageEvent> = first
        .into_iter()
        .map(|((trip_id, stage), (at, source))| journey::StageEvent {
            trip_id,
            stage,
            at,
            source,
        })
        .collect();
    let known = &plan.known;
    let advanced = journey::advance_many_known(tx, &moves, |e| {
        known
            .get(e.trip_id.as_str())
            .is_some_and(|v| v.iter().any(|(s, t)| *s == e.stage && *t <= e.at))
    })
    .await?;
    Ok(Written {
        seen,
        moves,
        advanced,
    })
}

/// The events' rows as JSON arrays, one string per statement of [`ROWS_PER_INSERT`] rows,
/// serialised straight from the borrowed fields (no `serde_json::Value` tree).
fn event_bodies(rows: &[Stored<&str>]) -> Result<Vec<(String, usize)>, AppError> {
    rows.chunks(ROWS_PER_INSERT)
        .map(|chunk| {
            let json: Vec<_> = chunk
                .iter()
                .map(|r| {
                    (
                        r.event_id,
                        r.kind,
                        r.sensor_id,
                        r.gate_code,
                        r.stage,
                        r.at,
                        r.plate_text,
                        r.confidence,
                        r.reference.as_deref(),
                        r.trip_id,
                        r.outcome,
                        r.received_at,
                        r.match_note.as_deref(),
                    )
                })
                .collect();
            serde_json::to_string(&json)
                .map(|body| (body, chunk.len()))
                .map_err(AppError::internal)
        })
        .collect()
}

/// Insert the events not received before; returns the IDs of those received before (the
/// batch's duplicates of earlier batches: few, so only they come back from the database).
///
/// The IDs already stored are read first, in the same write transaction, then the rows go in
/// with `ON CONFLICT DO NOTHING` and no `RETURNING` (which sent one row per event back through
/// the driver). The count inserted must be the count read as new: otherwise another
/// transaction stored one of these IDs in between (PostgreSQL; SQLite has one writer), and the
/// batch is refused whole (409, nothing written) for the sender to retry, when its events are
/// answered `duplicate`.
async fn insert_event_bodies(
    tx: &mut impl Exec,
    bodies: &EventRows,
) -> Result<HashSet<String>, AppError> {
    use crate::bulk::{rows_sql, Col};
    let bodies = match bodies {
        EventRows::Json(bodies) => bodies,
        EventRows::Values(rows) => return insert_event_values(tx, rows).await,
    };
    let mut seen = HashSet::new();
    if bodies.is_empty() {
        return Ok(seen);
    }
    let cols = [
        ("event_id", Col::Text),
        ("kind", Col::Text),
        ("sensor_id", Col::Text),
        ("gate_code", Col::Text),
        ("stage", Col::Text),
        ("at", Col::Int),
        ("plate_text", Col::Text),
        ("confidence", Col::Real),
        ("ref", Col::Text),
        ("trip_id", Col::Text),
        ("outcome", Col::Text),
        ("received_at", Col::Int),
        ("match_note", Col::Text),
    ];
    // The first column of the same rows: the batch's event IDs.
    let ids = rows_sql(tx.backend(), 1, &cols[..1]);
    let existing = format!(
        "SELECT event_id FROM border_events WHERE event_id IN (SELECT event_id FROM ({ids}) AS j)"
    );
    let source = rows_sql(tx.backend(), 1, &cols);
    // `WHERE true`: SQLite needs it between a SELECT and an upsert clause.
    let insert = format!(
        "INSERT INTO border_events (event_id, kind, sensor_id, gate_code, stage, at, \
         plate_text, confidence, ref, trip_id, outcome, received_at, match_note) {source} WHERE true \
         ON CONFLICT (event_id) DO NOTHING"
    );
    for (body, rows) in bodies {
        let before = seen.len();
        seen.extend(
            tx.rows(&existing, &[Param::Text(body)], |r| r.text(0))
                .await?,
        );
        let new = rows.saturating_sub(seen.len() - before) as u64;
        let inserted = tx.execute(&insert, &[Param::Text(body)]).await?;
        if inserted != new {
            return Err(received_elsewhere());
        }
    }
    Ok(seen)
}

/// The batch's refusal when another connection stored one of its events in between (409).
fn received_elsewhere() -> AppError {
    AppError::conflict(
        "Một số sự kiện của lô vừa được nhận qua kết nối khác; hãy gửi lại lô",
        "Some events of the batch were just received through another connection: send the batch again",
    )
}

/// [`insert_event_bodies`] on SQLite: per statement of [`MAX_VALUES_ROWS`] rows or fewer
/// (256, 128, …, 1), the IDs already stored are read (`IN (?, …)`), then the rows go in as
/// multi-row `VALUES` with `ON CONFLICT DO NOTHING`; the count inserted must be the count
/// read as new (as on PostgreSQL).
async fn insert_event_values(
    tx: &mut impl Exec,
    rows: &[Stored<String>],
) -> Result<HashSet<String>, AppError> {
    const ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    let mut seen = HashSet::new();
    let mut rest = rows;
    while !rest.is_empty() {
        // The largest power of two not above the rows left (and the cap).
        let n = MAX_VALUES_ROWS.min(1 << rest.len().ilog2());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        let existing = format!(
            "SELECT event_id FROM border_events WHERE event_id IN (?{})",
            ", ?".repeat(n - 1)
        );
        let ids: Vec<Param> = chunk.iter().map(|r| Param::Text(&r.event_id)).collect();
        let before = seen.len();
        seen.extend(tx.rows(&existing, &ids, |r| r.text(0)).await?);
        let new = n.saturating_sub(seen.len() - before) as u64;
        let insert = format!(
            "INSERT INTO border_events (event_id, kind, sensor_id, gate_code, stage, at, \
             plate_text, confidence, ref, trip_id, outcome, received_at, match_note) \
             VALUES {} ON CONFLICT (event_id) DO NOTHING",
            vec![ROW; n].join(", ")
        );
        let mut params: Vec<Param> = Vec::with_capacity(n * 13);
        for r in chunk {
            params.extend([
                Param::Text(&r.event_id),
                Param::Text(r.kind),
                Param::Text(&r.sensor_id),
                Param::Text(&r.gate_code),
                Param::Text(r.stage),
                Param::Int(r.at),
                Param::OptText(r.plate_text.as_deref()),
                Param::OptFloat(r.confidence),
                Param::OptText(r.reference.as_deref()),
                Param::OptText(r.trip_id.as_deref()),
                Param::Text(r.outcome),
                Param::Int(r.received_at),
                Param::OptText(r.match_note.as_deref()),
            ]);
        }
        let inserted = tx.execute(&insert, &params).await?;
        if inserted != new {
            return Err(received_elsewhere());
        }
    }
    Ok(seen)
}

/// A read sent to the review queue: its event ID and its `border_review_queue` row as JSON.
fn review_row(
    e: &NewEvent,
    sensor: &Sensor,
    reason: &'static str,
    candidates: &[Candidate],
    note: &Option<MatchNote>,
) -> Result<(String, String), AppError> {
    // A refused pass: the plate it claims, for the officer to compare with the truck.
    let text: std::borrow::Cow<str> = match &e.body {
        EventBody::Camera { plate_text, .. } => plate_text.as_str().into(),
        EventBody::Qr { pass, .. } => pass
            .as_deref()
            .and_then(crate::pass::claimed)
            .map(|p| p.p)
            .unwrap_or_default()
            .into(),
        EventBody::Gps { .. } => "".into(),
    };
    let cands = serde_json::to_string(candidates).map_err(AppError::internal)?;
    let note = note.as_ref().and_then(MatchNote::json);
    let row = serde_json::to_string(&(
        &e.event_id,
        &sensor.gate_code,
        sensor.stage.as_str(),
        e.at,
        text,
        reason,
        cands,
        note,
    ))
    .map_err(AppError::internal)?;
    Ok((e.event_id.clone(), row))
}

/// Insert review items (JSON rows from [`review_row`]), one statement per
/// [`ROWS_PER_INSERT`].
async fn insert_review_rows(tx: &mut impl Exec, rows: &[&str], now: i64) -> Result<(), AppError> {
    use crate::bulk::{rows_sql, Col};
    if rows.is_empty() {
        return Ok(());
    }
    let source = rows_sql(
        tx.backend(),
        1,
        &[
            ("event_id", Col::Text),
            ("gate_code", Col::Text),
            ("stage", Col::Text),
            ("at", Col::Int),
            ("plate_text", Col::Text),
            ("reason", Col::Text),
            ("candidates", Col::Text),
            ("match_note", Col::Text),
        ],
    );
    let sql = format!(
        "INSERT INTO border_review_queue (event_id, gate_code, stage, at, plate_text, reason, \
         candidates, status, created_at, match_note) \
         SELECT event_id, gate_code, stage, at, plate_text, reason, candidates, 'open', $2, \
         match_note FROM ({source}) AS j"
    );
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut body = String::with_capacity(chunk.iter().map(|r| r.len() + 1).sum::<usize>() + 2);
        body.push('[');
        for (k, r) in chunk.iter().enumerate() {
            if k > 0 {
                body.push(',');
            }
            body.push_str(r);
        }
        body.push(']');
        tx.execute(&sql, &[Param::Text(&body), Param::Int(now)])
            .await?;
    }
    Ok(())
}

/// A read waiting for an officer (or decided).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewItem {
    pub event_id: String,
    pub gate_code: String,
    pub stage: String,
    pub at: i64,
    pub plate_text: String,
    pub reason: String,
    pub candidates: Vec<Candidate>,
    /// `open`, `attached`, `dismissed`.
    pub status: String,
    pub resolved_trip_id: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_reason: Option<String>,
    /// Why the scoring rule left it here (best and runner-up trips and scores), when it
    /// looked at it.
    pub match_note: Option<MatchNote>,
}

const REVIEW_COLUMNS: &str = "event_id, gate_code, stage, at, plate_text, reason, candidates, \
     status, resolved_trip_id, resolved_by, resolved_reason, match_note";

fn review_item(r: &sqlx::any::AnyRow) -> Result<ReviewItem, AppError> {
    let cands: String = r.try_get(6).map_err(db_err)?;
    Ok(ReviewItem {
        event_id: r.try_get(0).map_err(db_err)?,
        gate_code: r.try_get(1).map_err(db_err)?,
        stage: r.try_get(2).map_err(db_err)?,
        at: r.try_get(3).map_err(db_err)?,
        plate_text: r.try_get(4).map_err(db_err)?,
        reason: r.try_get(5).map_err(db_err)?,
        candidates: serde_json::from_str(&cands).unwrap_or_default(),
        status: r.try_get(7).map_err(db_err)?,
        resolved_trip_id: r.try_get(8).map_err(db_err)?,
        resolved_by: r.try_get(9).map_err(db_err)?,
        resolved_reason: r.try_get(10).map_err(db_err)?,
        match_note: r
            .try_get::<Option<String>, _>(11)
            .map_err(db_err)?
            .and_then(|n| serde_json::from_str(&n).ok()),
    })
}

/// The open review items of a gate (all gates with `None`), oldest first.
pub async fn review_open(
    db: &Db,
    gate: Option<&str>,
    limit: i64,
) -> Result<Vec<ReviewItem>, AppError> {
    let rows = match gate {
        Some(g) => {
            sqlx::query(&format!(
                "SELECT {REVIEW_COLUMNS} FROM border_review_queue WHERE status = 'open' \
             AND gate_code = $1 ORDER BY created_at, at, event_id LIMIT $2"
            ))
            .bind(g)
            .bind(limit)
            .fetch_all(db.pool())
            .await
        }
        None => {
            sqlx::query(&format!(
                "SELECT {REVIEW_COLUMNS} FROM border_review_queue WHERE status = 'open' \
             ORDER BY created_at, at, event_id LIMIT $1"
            ))
            .bind(limit)
            .fetch_all(db.pool())
            .await
        }
    }
    .map_err(db_err)?;
    rows.iter().map(review_item).collect()
}

/// One review item.
pub async fn review_get(db: &Db, event_id: &str) -> Result<Option<ReviewItem>, AppError> {
    let row = sqlx::query(&format!(
        "SELECT {REVIEW_COLUMNS} FROM border_review_queue WHERE event_id = $1"
    ))
    .bind(event_id)
    .fetch_optional(db.pool())
    .await
    .map_err(db_err)?;
    row.as_ref().map(review_item).transpose()
}

fn not_open() -> AppError {
    AppError::conflict(
        "Mục này đã được xử lý hoặc không có trong hàng chờ xem xét",
        "This item was already decided or is not in the review queue",
    )
}

/// An officer attaches a read from the review queue to a trip, with a reason: the event is
/// attached, the trip's journey advances as the read says (source `officer`), on the audit
/// trail.
pub async fn review_attach(
    db: &Db,
    ctx: &Ctx,
    event_id: &str,
    trip_id: &str,
    why: &str,
) -> Result<Advance, AppError> {
    let why = journey::reason(why).map_err(|e| AppError::field("reason", e))?;
    let item = review_get(db, event_id)
        .await?
        .filter(|i| i.status == "open")
        .ok_or_else(not_open)?;
    let stage = Stage::parse(&item.stage)
        .ok_or_else(|| AppError::internal(format!("review stage {}", item.stage)))?;
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(
        "UPDATE border_review_queue SET status = 'attached', resolved_trip_id = $1, \
         resolved_by = $2, resolved_reason = $3, resolved_at = $4 \
         WHERE event_id = $5 AND status = 'open'",
    )
    .bind(trip_id)
    .bind(&ctx.actor)
    .bind(&why)
    .bind(now)
    .bind(event_id)
    .execute(tx.conn())
    .await
    .map_err(db_err)?
    .rows_affected();
    if n != 1 {
        return Err(not_open());
    }
    let Some(from) = journey::current(&mut tx, trip_id).await? else {
        return Err(AppError::field(
            "trip_id",
            Invalid::new(
                "trip_unknown",
                format!("Không có chuyến {trip_id}"),
                format!("No trip {trip_id}"),
            ),
        ));
    };
    sqlx::query("UPDATE border_events SET trip_id = $1, outcome = 'officer' WHERE event_id = $2")
        .bind(trip_id)
        .bind(event_id)
        .execute(tx.conn())
        .await
        .map_err(db_err)?;
    let adv =
        journey::advance_from(&mut tx, trip_id, from, stage, item.at, Source::Officer).await?;
    tx.audit(&ctx.entry(
        "border.review.attach",
        "border_event",
        event_id,
        &format!("gate:{}", item.gate_code),
        serde_json::json!({"plate_text": item.plate_text, "reason_queued": item.reason, "after": {"trip_id": trip_id, "stage": adv.to.as_str()}, "reason": why}),
    ))
    .await?;
    tx.commit().await?;
    Ok(adv)
}

/// An officer dismisses a read from the review queue (not a truck of any trip, a bad read),
/// with a reason, on the audit trail.
pub async fn review_dismiss(db: &Db, ctx: &Ctx, event_id: &str, why: &str) -> Result<(), AppError> {
    let why = journey::reason(why).map_err(|e| AppError::field("reason", e))?;
    let item = review_get(db, event_id)
        .await?
        .filter(|i| i.status == "open")
        .ok_or_else(not_open)?;
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(
        "UPDATE border_review_queue SET status = 'dismissed', resolved_by = $1, \
         resolved_reason = $2, resolved_at = $3 WHERE event_id = $4 AND status = 'open'",
    )
    .bind(&ctx.actor)
    .bind(&why)
    .bind(now_micros())
    .bind(event_id)
    .execute(tx.conn())
    .await
    .map_err(db_err)?
    .rows_affected();
    if n != 1 {
        return Err(not_open());
    }
    tx.audit(&ctx.entry(
        "border.review.dismiss",
        "border_event",
        event_id,
        &format!("gate:{}", item.gate_code),
        serde_json::json!({"plate_text": item.plate_text, "reason_queued": item.reason, "reason": why}),
    ))
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------- fixture and benchmark

/// Trips written straight into the tables (an enterprise, a driver, one vehicle per plate and
/// a trip per plate at `gate`, stage `declared`), for benchmarks and tests until the
/// declaration API is used instead. Returns the trip IDs, in the order of `plates`.
pub async fn fixture_trips(
    db: &Db,
    gate: &str,
    plates: &[String],
) -> Result<Vec<String>, AppError> {
    let now = now_micros();
    let prefix = uuid::Uuid::new_v4().simple().to_string();
    let mst = format!(
        "9{}",
        &prefix[..9]
            .chars()
            .map(|c| ((c as u8) % 10 + b'0') as char)
            .collect::<String>()
    );
    let driver = format!("drv-{prefix}");
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO border_enterprises (mst, name, name_folded, phone, created_by, created_at) \
         VALUES ($1, 'Công ty Thử nghiệm', 'cong ty thu nghiem', '0912345678', 'fixture', $2) \
         ON CONFLICT (mst) DO NOTHING",
    )
    .bind(&mst)
    .bind(now)
    .execute(tx.conn())
    .await
    .map_err(db_err)?;
    sqlx::query(
        "INSERT INTO border_drivers (id, id_kind, id_number, full_name, phone, nationality, created_at) \
         VALUES ($1, 'cccd', $2, 'Nguyễn Văn Thử', '0912345678', 'VN', $3)",
    )
    .bind(&driver)
    .bind(&prefix[..12])
    .bind(now)
    .execute(tx.conn())
    .await
    .map_err(db_err)?;
    let mut ids = Vec::with_capacity(plates.len());
    for (n, p) in plates.iter().enumerate() {
        let country = if p.is_ascii() { "vn" } else { "cn" };
        sqlx::query(
            "INSERT INTO border_vehicles (plate, country, vehicle_kind, plate_colour, owner_mst, \
             payload_kg, created_at) VALUES ($1, $2, 'truck', 'yellow', $3, 15000, $4) \
             ON CONFLICT (plate) DO NOTHING",
        )
        .bind(p)
        .bind(country)
        .bind(&mst)
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(db_err)?;
        let id = format!("trip-{prefix}-{n}");
        sqlx::query(
            "INSERT INTO border_trips (id, code, version, enterprise_mst, gate_code, direction, \
             vehicle_plate, trailer_plate, driver_id, expected_arrival, customs_declaration, \
             total_weight_kg, perishable, quarantine, stage, stage_at, created_by, created_at, \
             updated_at) VALUES ($1, $2, 1, $3, $4, 'export', $5, NULL, $6, $7, '', 10000, 0, '', \
             'declared', $7, 'fixture', $7, $7)",
        )
        .bind(&id)
        .bind(format!("TK-{gate}-{}-{n:05}", &prefix[..6]))
        .bind(&mst)
        .bind(gate)
        .bind(p)
        .bind(&driver)
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(db_err)?;
        ids.push(id);
    }
    tx.commit().await?;
    Ok(ids)
}

/// What [`bench_ingest`] measured.
#[derive(Debug, Clone, Serialize)]
pub struct IngestBench {
    pub backend: &'static str,
    pub trips: usize,
    pub events: usize,
    pub batch: usize,
    /// Camera events per second through `ingest_batch` (including duplicates re-sent: 5%).
    pub batch_events_per_s: f64,
    pub batch_attached: usize,
    pub batch_review: usize,
    pub batch_duplicates: usize,
    pub batch_moved: usize,
    /// Single events through `ingest`, one transaction each: latency.
    pub single_events: usize,
    pub single_p50_us: u64,
    pub single_p99_us: u64,
    pub single_max_us: u64,
    /// Single events sent [`CONCURRENT_SENDERS`] at a time (cameras posting at once), each its
    /// own `ingest` call; they share write transactions through group commit.
    pub concurrent_events: usize,
    pub concurrent_events_per_s: f64,
    pub concurrent_p50_us: u64,
    pub concurrent_p99_us: u64,
    /// Write transactions the concurrent phase committed (group commit), when it is on.
    pub concurrent_transactions: u64,
}

/// Senders at once in the benchmark's concurrent phase.
pub const CONCURRENT_SENDERS: usize = 8;

/// Measure ingestion on `db` (a scratch database with the border tables and gates): `trips`
/// simulated trucks declared at Hữu Nghị (`HN`), then `events` simulated camera reads of them
/// (misreads as in [`crate::misread`], 5% re-sent duplicates) in batches of `batch`, then
/// `single` events one at a time.
pub async fn bench_ingest(
    db: &Db,
    trips: usize,
    events: usize,
    batch: usize,
    single: usize,
    seed: u64,
) -> Result<IngestBench, AppError> {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::future::Future;
    seed_sensors(db).await?;
    let mut rng = StdRng::seed_from_u64(seed);
    let plates = crate::misread::plates(trips, &mut rng);
    fixture_trips(db, "HN", &plates).await?;
    let ing = Ingestor::load(db).await?;
    let cams = ["CAM-HN-S1", "CAM-HN-Y1"];
    let t0 = now_micros();
    let make = |n: usize, rng: &mut StdRng, prefix: &str| -> Vec<NewEvent> {
        let mut out: Vec<NewEvent> = Vec::with_capacity(n);
        for i in 0..n {
            if i > 0 && rng.gen_bool(0.05) {
                let j = rng.gen_range(0..out.len());
                out.push(out[j].clone());
                continue;
            }
            let p = &plates[rng.gen_range(0..plates.len())];
            let kinds = if p.is_ascii() {
                crate::misread::VN_RATES
            } else {
                crate::misread::CN_RATES
            };
            let total: f64 = kinds.iter().map(|k| k.1).sum();
            let mut x = rng.gen::<f64>() * total;
            let mut kind = kinds[0].0;
            for (k, w) in kinds {
                if x < *w {
                    kind = *k;
                    break;
                }
                x -= w;
            }
            out.push(NewEvent {
                event_id: format!("{prefix}-{i}"),
                at: t0 + i as i64 * 1000,
                body: EventBody::Camera {
                    camera_id: cams[rng.gen_range(0..cams.len())].to_string(),
                    plate_text: crate::misread::misread(p, kind, rng),
                    confidence: rng.gen_range(0.5..1.0),
                },
            });
        }
        out
    };
    let evs = make(events, &mut rng, "bench");
    let (mut attached, mut review, mut dup, mut moved) = (0, 0, 0, 0);
    let t = Instant::now();
    for chunk in evs.chunks(batch.max(1)) {
        let r = ing.ingest_batch(db, chunk).await?;
        attached += r.attached;
        review += r.review;
        dup += r.duplicates;
        moved += r.moved;
    }
    let secs = t.elapsed().as_secs_f64();
    let singles = make(single, &mut rng, "single");
    let mut lat: Vec<u64> = Vec::with_capacity(single);
    for e in &singles {
        let t = Instant::now();
        ing.ingest(db, e).await?;
        lat.push(t.elapsed().as_micros() as u64);
    }
    lat.sort_unstable();
    fn q(lat: &[u64], p: f64) -> u64 {
        if lat.is_empty() {
            0
        } else {
            lat[((lat.len() - 1) as f64 * p).round() as usize]
        }
    }
    // The same number of single events, CONCURRENT_SENDERS at a time (joined on this task:
    // each is matched, then queues its write; the group writer commits what has queued).
    let conc = make(single, &mut rng, "conc");
    let mut clat: Vec<u64> = Vec::with_capacity(single);
    let (tx0, _) = db.group_stats();
    let tc = Instant::now();
    for group in conc.chunks(CONCURRENT_SENDERS) {
        let t = Instant::now();
        let mut futs: Vec<_> = group
            .iter()
            .map(|e| Some(Box::pin(ing.ingest(db, e))))
            .collect();
        let mut done: Vec<Result<EventResult, AppError>> = Vec::with_capacity(group.len());
        std::future::poll_fn(|cx| {
            for slot in futs.iter_mut() {
                if let Some(f) = slot {
                    if let std::task::Poll::Ready(r) = f.as_mut().poll(cx) {
                        done.push(r);
                        clat.push(t.elapsed().as_micros() as u64);
                        *slot = None;
                    }
                }
            }
            if futs.iter().all(Option::is_none) {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        for r in done {
            r?;
        }
    }
    let csecs = tc.elapsed().as_secs_f64();
    let (tx1, _) = db.group_stats();
    clat.sort_unstable();
    Ok(IngestBench {
        backend: match db.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        },
        trips,
        events,
        batch,
        batch_events_per_s: if secs > 0.0 {
            events as f64 / secs
        } else {
            0.0
        },
        batch_attached: attached,
        batch_review: review,
        batch_duplicates: dup,
        batch_moved: moved,
        single_events: single,
        single_p50_us: q(&lat, 0.5),
        single_p99_us: q(&lat, 0.99),
        single_max_us: lat.last().copied().unwrap_or(0),
        concurrent_events: single,
        concurrent_events_per_s: if csecs > 0.0 {
            single as f64 / csecs
        } else {
            0.0
        },
        concurrent_p50_us: q(&clat, 0.5),
        concurrent_p99_us: q(&clat, 0.99),
        concurrent_transactions: tx1 - tx0,
    })
}
