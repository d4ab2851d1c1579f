//! The agencies' workbench (bàn làm việc của các lực lượng tại cửa khẩu): each agency at a gate
//! checks the trucks and records its decision (quyết định): pass (đạt), hold (tạm giữ, with a
//! reason; a later pass or reject closes it) or reject (không cho qua, with a reason: the trip
//! is turned back, `returned`).
//!
//! The checks a trip needs ([`required`]): border guard (biên phòng) where the gate has one,
//! plant and animal quarantine (kiểm dịch thực vật / động vật) when its goods need it, health
//! quarantine (kiểm dịch y tế) where the gate has one, and the customs release (thông quan).
//! An officer records the check kinds of the agencies they belong to (or of an agency below
//! theirs): the gate's `agencies` table maps check kind → agency.
//!
//! **Customs keeps the release decision.** The platform receives it ([`receive_release`]) from
//! customs (an officer of the customs office at the gate or a customs system with an API token)
//! and never processes customs declarations itself. One release record per (trip, customs
//! declaration number): a replay is answered `duplicate`, an older decision than the one held is
//! `superseded`, a newer one replaces it.
//!
//! When every required check has passed and customs released, the trip advances to `checked`
//! in the same transaction, and on to `paid` when its fee was paid before (prepayment, see
//! [`crate::fee_payment`]). Every check keeps `started_at` (the officer started, or first
//! decided) and `decided_at` (closed), so the service time per agency is measured
//! ([`service_times`], p50/p90 per agency per local day).

use chrono::{DateTime, NaiveDate};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use tinhso_identity::{authorize, Permission, Principal, ResourceScope};
use tinhso_kernel::{AppError, FieldErrors, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::native::Param;
use tinhso_store::{Backend, Db, DbError, Exec, Tx};
use utoipa::ToSchema;

use crate::bulk::{codes_json, codes_sql, Stop};
use crate::declaration::{self, Trip};
use crate::gates::{self, CheckKind, Gate};
use crate::journey::{self, Journal, Source, Stage};

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

/// The check kinds recorded on the workbench (the management board checks nothing here).
pub const CHECK_KINDS: [CheckKind; 5] = [
    CheckKind::Customs,
    CheckKind::BorderGuard,
    CheckKind::PlantQuarantine,
    CheckKind::AnimalQuarantine,
    CheckKind::HealthQuarantine,
];

/// An officer's decision (quyết định kiểm tra).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Đạt.
    Pass,
    /// Tạm giữ (with a reason).
    Hold,
    /// Không cho qua (with a reason): the trip is turned back.
    Reject,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Pass => "pass",
            Decision::Hold => "hold",
            Decision::Reject => "reject",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s.trim() {
            "pass" => Ok(Decision::Pass),
            "hold" => Ok(Decision::Hold),
            "reject" => Ok(Decision::Reject),
            _ => Err(Invalid::new(
                "decision",
                "Quyết định là đạt (pass), tạm giữ (hold) hoặc không cho qua (reject)",
                "The decision is pass, hold or reject",
            )),
        }
    }

    /// The check's status after this decision.
    fn status(self) -> &'static str {
        match self {
            Decision::Pass => "passed",
            Decision::Hold => "held",
            Decision::Reject => "rejected",
        }
    }
}

/// Customs' release decision (quyết định thông quan), as customs sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomsDecision {
    /// Thông quan / giải phóng hàng.
    Released,
    /// Tạm dừng thông quan.
    Held,
    /// Không thông quan.
    Rejected,
}

impl CustomsDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            CustomsDecision::Released => "released",
            CustomsDecision::Held => "held",
            CustomsDecision::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s.trim() {
            "released" => Ok(CustomsDecision::Released),
            "held" => Ok(CustomsDecision::Held),
            "rejected" => Ok(CustomsDecision::Rejected),
            _ => Err(Invalid::new(
                "decision",
                "Quyết định của hải quan là released, held hoặc rejected",
                "The customs decision is released, held or rejected",
            )),
        }
    }

    /// The customs check's status.
    fn status(self) -> &'static str {
        match self {
            CustomsDecision::Released => "passed",
            CustomsDecision::Held => "held",
            CustomsDecision::Rejected => "rejected",
        }
    }
}

/// A check a trip needs, and the agency at its gate that makes it (`None`: the gate has no
/// such agency, so only an officer's override moves the trip on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Required {
    pub kind: CheckKind,
    pub agency: Option<String>,
}

/// The checks `trip` needs at `gate`, customs last.
pub fn required(gate: &Gate, trip: &Trip) -> Vec<Required> {
    required_for(gate, &trip.quarantine)
}

/// The checks a trip needing `quarantine` (`plant`, `animal`, `plant,animal` or empty) needs at
/// `gate`.
pub fn required_for(gate: &Gate, quarantine: &str) -> Vec<Required> {
    let q: Vec<&str> = quarantine.split(',').map(str::trim).collect();
    let mut out = Vec::new();
    let mut need = |kind: CheckKind, always: bool| {
        let agency = gate.agency_for(kind).map(str::to_string);
        if always || agency.is_some() {
            out.push(Required { kind, agency });
        }
    };
    need(CheckKind::BorderGuard, false);
    if q.contains(&"plant") {
        need(CheckKind::PlantQuarantine, true);
    }
    if q.contains(&"animal") {
        need(CheckKind::AnimalQuarantine, true);
    }
    need(CheckKind::HealthQuarantine, false);
    need(CheckKind::Customs, true);
    out
}

/// Where an agency's records sit for authorization: the agency and its parents.
pub async fn agency_scope(db: &Db, agency: &str) -> Result<ResourceScope, AppError> {
    Ok(ResourceScope {
        agencies: tinhso_refdata::agencies::ancestors(db, agency).await?,
        commune: None,
        owner_user_id: None,
    })
}

/// The check kinds at `gate` that `principal` records (BorderInspect over the kind's agency).
pub async fn kinds_for(
    db: &Db,
    principal: &Principal,
    gate: &Gate,
) -> Result<Vec<CheckKind>, AppError> {
    let mut out = Vec::new();
    for kind in CHECK_KINDS {
        if let Some(a) = gate.agency_for(kind) {
            let scope = agency_scope(db, a).await?;
            if authorize(Some(principal), Permission::BorderInspect, &scope).is_ok() {
                out.push(kind);
            }
        }
    }
    Ok(out)
}

fn no_agency(gate: &Gate, kind: CheckKind) -> AppError {
    AppError::field(
        "check",
        Invalid::new(
            "check_no_agency",
            format!("{} không có lực lượng {}", gate.name_vi, kind.name_vi()),
            format!("{} has no {} agency", gate.name_en, kind.as_str()),
        ),
    )
}

/// The scope of `kind` at `gate`, for [`tinhso_http::context::require`] in the web layer.
pub async fn kind_scope(db: &Db, gate: &Gate, kind: CheckKind) -> Result<ResourceScope, AppError> {
    let agency = gate.agency_for(kind).ok_or_else(|| no_agency(gate, kind))?;
    agency_scope(db, agency).await
}

/// The parsed check kind (`check` field).
pub fn parse_kind(s: &str) -> Result<CheckKind, Invalid> {
    CheckKind::parse(s)
        .filter(|k| CHECK_KINDS.contains(k))
        .ok_or_else(|| {
            Invalid::new(
                "check",
                "Loại kiểm tra là border_guard, plant_quarantine, animal_quarantine, health_quarantine hoặc customs",
                "The check is border_guard, plant_quarantine, animal_quarantine, health_quarantine or customs",
            )
        })
}

/// One check of a trip as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckRow {
    pub kind: CheckKind,
    pub agency_code: String,
    /// `started`, `passed`, `held`, `rejected`.
    pub status: String,
    pub reason: Option<String>,
    pub started_at: Option<i64>,
    pub decided_at: Option<i64>,
    pub decided_by: Option<String>,
}

/// The recorded checks of a trip.
pub async fn checks_of(db: &Db, trip_id: &str) -> Result<Vec<CheckRow>, AppError> {
    let rows = sqlx::query(
        "SELECT kind, agency_code, status, reason, started_at, decided_at, decided_by \
         FROM border_checks WHERE trip_id = $1",
    )
    .bind(trip_id)
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let k: String = r.try_get(0).map_err(db_err)?;
        let Some(kind) = CheckKind::parse(&k) else {
            continue;
        };
        out.push(CheckRow {
            kind,
            agency_code: r.try_get(1).map_err(db_err)?,
            status: r.try_get(2).map_err(db_err)?,
            reason: r.try_get(3).map_err(db_err)?,
            started_at: r.try_get(4).map_err(db_err)?,
            decided_at: r.try_get(5).map_err(db_err)?,
            decided_by: r.try_get(6).map_err(db_err)?,
        });
    }
    Ok(out)
}

/// A required check and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckState {
    pub kind: CheckKind,
    pub agency: Option<String>,
    /// `pending` when nothing is recorded yet.
    pub status: String,
    pub check: Option<CheckRow>,
}

/// Every required check of a trip with its state, and whether all have passed.
pub async fn states(
    db: &Db,
    gate: &Gate,
    trip: &Trip,
) -> Result<(Vec<CheckState>, bool), AppError> {
    let rows = checks_of(db, &trip.id).await?;
    let mut out = Vec::new();
    for r in required(gate, trip) {
        let check = rows.iter().find(|c| c.kind == r.kind).cloned();
        out.push(CheckState {
            kind: r.kind,
            agency: r.agency,
            status: check
                .as_ref()
                .map(|c| c.status.clone())
                .unwrap_or_else(|| "pending".into()),
            check,
        });
    }
    let clear = out.iter().all(|c| c.status == "passed");
    Ok((out, clear))
}

/// One decision on a check, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionRow {
    pub kind: String,
    pub decision: String,
    pub reason: Option<String>,
    pub at: i64,
    pub actor: String,
}

/// Every decision on a trip's checks, oldest first.
pub async fn decisions(db: &Db, trip_id: &str) -> Result<Vec<DecisionRow>, AppError> {
    let rows = sqlx::query(
        "SELECT kind, decision, reason, at, actor FROM border_check_decisions \
         WHERE trip_id = $1 ORDER BY at, id",
    )
    .bind(trip_id)
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    rows.into_iter()
        .map(|r| {
            Ok(DecisionRow {
                kind: r.try_get(0).map_err(db_err)?,
                decision: r.try_get(1).map_err(db_err)?,
                reason: r.try_get(2).map_err(db_err)?,
                at: r.try_get(3).map_err(db_err)?,
                actor: r.try_get(4).map_err(db_err)?,
            })
        })
        .collect()
}

/// What a decision did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub trip_code: String,
    pub kind: CheckKind,
    /// The check's status after it.
    pub status: String,
    /// The trip's stage after it.
    pub stage: Stage,
    /// Every required check has passed (and customs released).
    pub all_clear: bool,
}

fn already_closed(kind: CheckKind, status: &str) -> AppError {
    AppError::conflict(
        format!(
            "{} đã quyết định ({status}); không sửa được quyết định đã đóng",
            kind.name_vi()
        ),
        format!(
            "The {} check is already closed ({status}); a closed decision is not changed",
            kind.as_str()
        ),
    )
}

fn trip_over(trip: &Trip) -> AppError {
    AppError::conflict(
        format!(
            "Chuyến {} đã kết thúc ({}), không kiểm tra nữa",
            trip.code,
            trip.stage().name_vi()
        ),
        format!(
            "Trip {} is over ({}): no more checks",
            trip.code,
            trip.stage().name_en()
        ),
    )
}

/// What a batch of check items reads once and keeps: the gates and the agencies' scopes
/// (neither changes while checks are recorded), and each trip as the batch's transaction
/// read it (chuyến đã đọc), kept true by the batch's own stage moves ([`Lookups::moved`]) (a
/// refused item wrote nothing: [`Stop`]).
pub(crate) struct Lookups {
    gates: Vec<Gate>,
    scopes: std::collections::HashMap<String, ResourceScope>,
    trips: std::collections::HashMap<String, Trip>,
    /// In a batch ([`record_many`]), on both engines: the trip codes it names (sorted, each
    /// once), whose trips are read in one statement at the first need
    /// ([`declaration::heads_in`]); `trips_read` once they were.
    codes: Vec<String>,
    trips_read: bool,
    /// On SQLite, each trip's check rows as the batch last left them, by trip code (on
    /// PostgreSQL they are read under a row lock by every decision).
    checks: std::collections::HashMap<String, TripChecks>,
    /// In a batch ([`record_many`]): the decision log's rows (nhật ký quyết định) of the items
    /// kept so far, written in one statement before the commit ([`write_decisions`]);
    /// `None`: each row is written at once.
    decisions: Option<Vec<DecisionLog>>,
    /// In a batch on SQLite: the check rows and the trips' stage times and moves of the items
    /// kept so far, written before the commit ([`Later::write`]); `None`: written at once.
    later: Option<Later>,
}

/// What a batch on SQLite writes before its commit instead of at once (ghi dồn): its
/// transaction is the only writer, and everything the batch reads of these rows comes from
/// `Lookups` (the trips' stages, the check rows), which the items keep true.
#[derive(Default)]
struct Later {
    /// The check rows by (trip id, kind), each as the upserts so far would have left it.
    checks: std::collections::BTreeMap<(String, &'static str), CheckWrite>,
    stages: journey::StageWrites,
    /// Of the trip codes the batch names ([`Lookups::codes`]), those whose fee is paid, read
    /// at the first need in one statement ([`crate::fee_payment::paid_among`]): no check
    /// writes a fee.
    paid: Option<std::collections::HashSet<String>>,
    /// Whether the check rows of every trip the batch names were read ([`Lookups::checks`]).
    checks_read: bool,
    /// Per trip code, the customs releases held and the yard arrival, read for every trip
    /// the batch names at its first release ([`Lookups::release_facts`]) and kept true by
    /// the batch's releases.
    releases: Option<std::collections::HashMap<String, TripReleases>>,
    /// The release rows to upsert, by (trip id, customs declaration number).
    release_rows: std::collections::BTreeMap<(String, String), ReleaseRow>,
}

/// A trip's customs releases held, by declaration number: (decision, decided_at,
/// officer_ref); and when it entered the yard.
#[derive(Default)]
struct TripReleases {
    held: std::collections::HashMap<String, (String, i64, String)>,
    yard: Option<i64>,
}

/// A `border_customs_releases` row to write (the newer decision replaces the row).
#[derive(serde::Serialize)]
struct ReleaseRow(String, String, String, i64, String, i64, String);

const RELEASE_COLUMNS: [(&str, crate::bulk::Col); 7] = [
    ("trip_id", crate::bulk::Col::Text),
    ("customs_declaration", crate::bulk::Col::Text),
    ("decision", crate::bulk::Col::Text),
    ("decided_at", crate::bulk::Col::Int),
    ("officer_ref", crate::bulk::Col::Text),
    ("received_at", crate::bulk::Col::Int),
    ("received_by", crate::bulk::Col::Text),
];

const RELEASE_UPSERT: &str = "ON CONFLICT (trip_id, customs_declaration) DO UPDATE SET \
    decision = excluded.decision, decided_at = excluded.decided_at, \
    officer_ref = excluded.officer_ref, received_at = excluded.received_at, \
    received_by = excluded.received_by";

/// The check rows of the trips `codes`, by trip code (one statement).
async fn read_checks(
    tx: &mut impl Exec,
    codes: &[String],
) -> Result<std::collections::HashMap<String, TripChecks>, AppError> {
    let body = codes_json(codes)?;
    let rows = tx
        .rows(
            &format!(
                "SELECT t.code, c.kind, c.status, c.started_at FROM border_checks c \
                 JOIN border_trips t ON t.id = c.trip_id WHERE t.code IN ({})",
                codes_sql(tx.backend())
            ),
            &[Param::Text(&body)],
            |r| Ok((r.text(0)?, r.text(1)?, r.text(2)?, r.opt_int(3)?)),
        )
        .await?;
    let mut out: std::collections::HashMap<String, TripChecks> = codes
        .iter()
        .map(|c| (c.clone(), TripChecks(Vec::new())))
        .collect();
    for (code, kind, status, started) in rows {
        out.entry(code)
            .or_insert_with(|| TripChecks(Vec::new()))
            .0
            .push((kind, status, started));
    }
    Ok(out)
}

/// The customs releases held and the yard arrival of the trips `codes` (two statements).
async fn read_releases(
    tx: &mut impl Exec,
    codes: &[String],
) -> Result<std::collections::HashMap<String, TripReleases>, AppError> {
    let body = codes_json(codes)?;
    let named = codes_sql(tx.backend());
    let held = tx
        .rows(
            &format!(
                "SELECT t.code, r.customs_declaration, r.decision, r.decided_at, r.officer_ref \
                 FROM border_customs_releases r JOIN border_trips t ON t.id = r.trip_id \
                 WHERE t.code IN ({named})"
            ),
            &[Param::Text(&body)],
            |r| Ok((r.text(0)?, r.text(1)?, r.text(2)?, r.int(3)?, r.text(4)?)),
        )
        .await?;
    // Driven from the named trips (code index, then the stages' (trip_id, stage) key): joined
    // the other way round, SQLite walked every yard stage ever recorded (index on stage), so a
    // batch late in a 30-day run cost three times the first day's.
    let yards = tx
        .rows(
            &format!(
                "SELECT t.code, (SELECT MIN(s.at) FROM border_trip_stages s \
                 WHERE s.trip_id = t.id AND s.stage = 'yard') \
                 FROM border_trips t WHERE t.code IN ({named})"
            ),
            &[Param::Text(&body)],
            |r| Ok((r.text(0)?, r.opt_int(1)?)),
        )
        .await?;
    let mut out: std::collections::HashMap<String, TripReleases> = Default::default();
    for (code, number, decision, at, officer) in held {
        out.entry(code)
            .or_default()
            .held
            .insert(number, (decision, at, officer));
    }
    for (code, yard) in yards.into_iter().filter(|(_, at)| at.is_some()) {
        out.entry(code).or_default().yard = yard;
    }
    Ok(out)
}

/// A `border_checks` upsert ([`upsert_check`]). On conflict it sets the status, the decision
/// and the time of the update, keeps a start already recorded, and sets the reason except
/// on the customs check (whose rows only releases write, without a reason).
#[derive(Clone)]
struct CheckWrite {
    trip_id: String,
    kind: CheckKind,
    gate: String,
    agency: String,
    status: String,
    reason: Option<String>,
    started_at: Option<i64>,
    decided_at: Option<i64>,
    decided_by: Option<String>,
    updated_at: i64,
}

impl CheckWrite {
    /// This upsert after `self` (both kept): what the row becomes.
    fn then(&mut self, w: CheckWrite) {
        self.status = w.status;
        if w.kind != CheckKind::Customs {
            self.reason = w.reason;
        }
        self.started_at = self.started_at.or(w.started_at);
        self.decided_at = w.decided_at;
        self.decided_by = w.decided_by;
        self.updated_at = w.updated_at;
    }

    /// The row as written (with no row before it).
    fn row(&self) -> CheckRow {
        CheckRow {
            kind: self.kind,
            agency_code: self.agency.clone(),
            status: self.status.clone(),
            reason: self.reason.clone(),
            started_at: self.started_at,
            decided_at: self.decided_at,
            decided_by: self.decided_by.clone(),
        }
    }
}

/// The upsert of check rows, one statement for `rows` (all of one side of [`CheckWrite`]'s
/// reason rule: customs or not).
async fn send_checks(
    tx: &mut impl Exec,
    rows: &[&CheckWrite],
    customs: bool,
) -> Result<(), AppError> {
    use crate::bulk::{insert_rows, Col};
    let reason = if customs {
        ""
    } else {
        "reason = excluded.reason, "
    };
    let body: Vec<serde_json::Value> = rows
        .iter()
        .map(|w| {
            serde_json::json!([
                w.trip_id,
                w.kind.as_str(),
                w.gate,
                w.agency,
                w.status,
                w.reason,
                w.started_at,
                w.decided_at,
                w.decided_by,
                w.updated_at
            ])
        })
        .collect();
    let cols = [
        ("trip_id", Col::Text),
        ("kind", Col::Text),
        ("gate_code", Col::Text),
        ("agency_code", Col::Text),
        ("status", Col::Text),
        ("reason", Col::Text),
        ("started_at", Col::Int),
        ("decided_at", Col::Int),
        ("decided_by", Col::Text),
        ("updated_at", Col::Int),
    ];
    let upsert = format!(
        "WHERE true ON CONFLICT (trip_id, kind) DO UPDATE SET status = excluded.status, \
         {reason}started_at = COALESCE(border_checks.started_at, excluded.started_at), \
         decided_at = excluded.decided_at, decided_by = excluded.decided_by, \
         updated_at = excluded.updated_at"
    );
    insert_rows(tx, "border_checks", &cols, &upsert, &body).await?;
    Ok(())
}

/// Upsert a check row ([`CheckWrite`]): at once, or kept in the batch ([`Later`]).
async fn upsert_check(
    tx: &mut impl Exec,
    look: &mut Lookups,
    w: CheckWrite,
) -> Result<(), AppError> {
    match look.later.as_mut() {
        Some(later) => {
            match later.checks.entry((w.trip_id.clone(), w.kind.as_str())) {
                std::collections::btree_map::Entry::Occupied(mut o) => o.get_mut().then(w),
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(w);
                }
            }
            Ok(())
        }
        None => send_checks(tx, &[&w], w.kind == CheckKind::Customs).await,
    }
}

impl Later {
    /// Write what the batch kept: the check rows (two statements: customs and the others),
    /// then the stage times and moves.
    async fn write(&self, tx: &mut impl Exec) -> Result<(), AppError> {
        let (customs, others): (Vec<&CheckWrite>, Vec<&CheckWrite>) = self
            .checks
            .values()
            .partition(|w| w.kind == CheckKind::Customs);
        send_checks(tx, &others, false).await?;
        send_checks(tx, &customs, true).await?;
        let releases: Vec<&ReleaseRow> = self.release_rows.values().collect();
        let upsert = format!("WHERE true {RELEASE_UPSERT}");
        crate::bulk::insert_rows(
            tx,
            "border_customs_releases",
            &RELEASE_COLUMNS,
            &upsert,
            &releases,
        )
        .await?;
        self.stages.write(tx).await
    }
}

/// A row of `border_check_decisions` not written yet.
struct DecisionLog {
    id: String,
    trip_id: String,
    kind: CheckKind,
    decision: String,
    reason: Option<String>,
    at: i64,
    actor: String,
}

impl Lookups {
    pub(crate) async fn load(db: &Db) -> Result<Self, AppError> {
        Ok(Self {
            gates: gates::list(db).await?,
            scopes: std::collections::HashMap::new(),
            trips: std::collections::HashMap::new(),
            codes: Vec::new(),
            trips_read: false,
            checks: std::collections::HashMap::new(),
            decisions: None,
            later: None,
        })
    }

    /// The trip `code` without its goods lines ([`declaration::get_head_in`]), read in `tx`
    /// the first time a batch names it — in a batch, every trip it names at once
    /// ([`declaration::heads_in`]). Only this batch writes the trip while its transaction
    /// runs on SQLite (one writer); on PostgreSQL the stage a decision moves from is read
    /// again under the row lock ([`lock_trip`]).
    async fn trip(&mut self, tx: &mut impl Exec, code: &str) -> Result<Option<Trip>, AppError> {
        let code = code.trim();
        if let Some(t) = self.trips.get(code) {
            return Ok(Some(t.clone()));
        }
        if !self.trips_read && !self.codes.is_empty() {
            self.trips_read = true;
            for (c, t) in declaration::heads_in(tx, &self.codes).await? {
                self.trips.entry(c).or_insert(t);
            }
            if let Some(t) = self.trips.get(code) {
                return Ok(Some(t.clone()));
            }
        }
        if self.trips_read
            && self
                .codes
                .binary_search_by(|c| c.as_str().cmp(code))
                .is_ok()
        {
            // Named by the batch and not found by its read: no such trip.
            return Ok(None);
        }
        let trip = declaration::head_in(tx, code).await?;
        if let Some(t) = &trip {
            self.trips.insert(code.to_string(), t.clone());
        }
        Ok(trip)
    }

    /// An item of the batch moved `trip` to `stage` at `at` ([`after_decision`]).
    fn moved(&mut self, trip: &Trip, stage: Stage, at: i64) {
        if stage == trip.stage() {
            return;
        }
        if let Some(t) = self.trips.get_mut(trip.code.as_str()) {
            t.stage = stage.as_str().to_string();
            t.stage_at = at;
        }
    }

    /// The trip's check rows ([`TripChecks::lock`]): on SQLite read once per batch (the
    /// batch's transaction is the only writer) and kept true by [`Lookups::keep_checks`]; on
    /// PostgreSQL read and locked every time.
    async fn checks(&mut self, tx: &mut impl Exec, trip: &Trip) -> Result<TripChecks, AppError> {
        if let Some(c) = self.checks.get(&trip.code) {
            return Ok(c.clone());
        }
        if let Some(later) = self.later.as_mut().filter(|l| !l.checks_read) {
            // The first need in a batch on SQLite: every trip the batch names, at once.
            later.checks_read = true;
            for (code, c) in read_checks(tx, &self.codes).await? {
                self.checks.entry(code).or_insert(c);
            }
            if let Some(c) = self.checks.get(&trip.code) {
                return Ok(c.clone());
            }
        }
        let c = TripChecks::lock(tx, &trip.id).await?;
        if tx.backend() == Backend::Sqlite {
            self.checks.insert(trip.code.clone(), c.clone());
        }
        Ok(c)
    }

    /// The release held for the trip's customs declaration `number` (decision, decided_at,
    /// officer_ref) and the truck's arrival in the yard (the customs check's start); in a
    /// batch on SQLite read once for every trip the batch names.
    #[allow(clippy::type_complexity)]
    async fn release_facts(
        &mut self,
        tx: &mut impl Exec,
        trip: &Trip,
        number: &str,
    ) -> Result<(Option<(String, i64, String)>, Option<i64>), AppError> {
        let Some(later) = self.later.as_mut() else {
            return release_facts_in(tx, trip, number).await;
        };
        if later.releases.is_none() {
            later.releases = Some(read_releases(tx, &self.codes).await?);
        }
        let t = later.releases.as_ref().and_then(|m| m.get(&trip.code));
        Ok((
            t.and_then(|t| t.held.get(number).cloned()),
            t.and_then(|t| t.yard),
        ))
    }

    /// Whether the trip's fee is paid ([`crate::fee_payment::paid_in`]); in a batch on SQLite
    /// read once for every trip the batch names.
    async fn paid(&mut self, tx: &mut impl Exec, trip: &Trip) -> Result<bool, AppError> {
        let Some(later) = self.later.as_mut() else {
            return crate::fee_payment::paid_in(tx, &trip.id).await;
        };
        if later.paid.is_none() {
            later.paid = Some(crate::fee_payment::paid_among(tx, &self.codes).await?);
        }
        Ok(later.paid.as_ref().is_some_and(|p| p.contains(&trip.code)))
    }

    /// The trip's check rows after an item wrote them (only kept where they were read once).
    fn keep_checks(&mut self, trip: &Trip, checks: &TripChecks) {
        if let Some(c) = self.checks.get_mut(&trip.code) {
            *c = checks.clone();
        }
    }

    fn gate(&self, trip: &Trip) -> Result<Gate, AppError> {
        self.gates
            .iter()
            .find(|g| g.code == trip.gate)
            .cloned()
            .ok_or_else(|| AppError::internal(format!("trip {}: no gate {}", trip.code, trip.gate)))
    }

    /// [`agency_scope`], read once per agency.
    async fn scope(&mut self, db: &Db, agency: &str) -> Result<ResourceScope, AppError> {
        if let Some(s) = self.scopes.get(agency) {
            return Ok(s.clone());
        }
        let s = agency_scope(db, agency).await?;
        self.scopes.insert(agency.to_string(), s.clone());
        Ok(s)
    }
}

/// Load a trip (in `tx`, so a batch sees its own earlier items; without its goods lines,
/// which no check reads: the quarantine class is on the trip), its gate and check that
/// `principal` records `kind` on it (404 unknown trip, 422 a check the trip does not need or
/// the gate lacks, 403 another agency's check).
async fn load_in(
    tx: &mut impl Exec,
    db: &Db,
    look: &mut Lookups,
    principal: &Principal,
    trip_code: &str,
    kind: CheckKind,
) -> Result<(Trip, Gate, String), AppError> {
    let trip = look
        .trip(tx, trip_code)
        .await?
        .ok_or_else(AppError::not_found)?;
    let gate = look.gate(&trip)?;
    let agency = gate
        .agency_for(kind)
        .ok_or_else(|| no_agency(&gate, kind))?
        .to_string();
    authorize(
        Some(principal),
        Permission::BorderInspect,
        &look.scope(db, &agency).await?,
    )?;
    if !required(&gate, &trip).iter().any(|r| r.kind == kind) {
        return Err(AppError::field(
            "check",
            Invalid::new(
                "check_not_required",
                format!("Chuyến {} không cần {}", trip.code, kind.name_vi()),
                format!(
                    "Trip {} does not need the {} check",
                    trip.code,
                    kind.as_str()
                ),
            ),
        ));
    }
    if !trip.stage().is_active() {
        return Err(trip_over(&trip));
    }
    Ok((trip, gate, agency))
}

/// Lock the trip's row for this transaction on PostgreSQL (SQLite's writer is already
/// exclusive), so that decisions on one trip are serialised: two agencies passing the last two
/// checks at once both see each other's pass, and one of them moves the trip to `checked`.
/// Returns the trip's stage as locked: on SQLite the one `trip` was read with in this
/// transaction (nothing else writes meanwhile), so no statement is sent.
async fn lock_trip(tx: &mut impl Exec, trip: &Trip) -> Result<Stage, AppError> {
    if tx.backend() == Backend::Postgres {
        let stage = tx
            .row(
                "SELECT stage FROM border_trips WHERE id = $1 FOR UPDATE",
                &[Param::Text(&trip.id)],
                |r| r.text(0),
            )
            .await?;
        let stage = stage.ok_or_else(AppError::not_found)?;
        return Stage::parse(&stage).ok_or_else(|| {
            AppError::internal(format!("trip {}: unknown stage {stage}", trip.code))
        });
    }
    Ok(trip.stage())
}

/// A trip's check rows as a transaction reads them: (kind, status, started_at).
#[derive(Clone)]
struct TripChecks(Vec<(String, String, Option<i64>)>);

impl TripChecks {
    /// The trip's checks, locked on PostgreSQL (the trip's row is locked first,
    /// [`lock_trip`], which serialises the decisions on one trip): one statement gives both
    /// the check a decision changes and what the all-clear needs.
    async fn lock(tx: &mut impl Exec, trip_id: &str) -> Result<Self, AppError> {
        let lock = if tx.backend() == Backend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let rows = tx
            .rows(
                &format!(
                    "SELECT kind, status, started_at FROM border_checks WHERE trip_id = $1{lock}"
                ),
                &[Param::Text(trip_id)],
                |r| Ok((r.text(0)?, r.text(1)?, r.opt_int(2)?)),
            )
            .await?;
        Ok(TripChecks(rows))
    }

    /// The (status, started_at) of check `kind`; `None`: not started.
    fn get(&self, kind: CheckKind) -> Option<(String, Option<i64>)> {
        self.0
            .iter()
            .find(|(k, _, _)| k == kind.as_str())
            .map(|(_, s, t)| (s.clone(), *t))
    }

    /// After this transaction wrote `status` for `kind`, starting it at `started_at` if it had
    /// no start (the upserts keep a start already recorded).
    fn set(&mut self, kind: CheckKind, status: &str, started_at: Option<i64>) {
        match self.0.iter_mut().find(|(k, _, _)| k == kind.as_str()) {
            Some(row) => {
                row.1 = status.to_string();
                row.2 = row.2.or(started_at);
            }
            None => self
                .0
                .push((kind.as_str().into(), status.into(), started_at)),
        }
    }

    /// Whether every required check of `trip` has passed.
    fn all_clear(&self, gate: &Gate, trip: &Trip) -> bool {
        required(gate, trip).iter().all(|r| {
            r.agency.is_some()
                && self
                    .0
                    .iter()
                    .any(|(k, s, _)| k == r.kind.as_str() && s == "passed")
        })
    }
}

/// Log a start or decision (`border_check_decisions`): at once, or in a batch kept in `look`
/// until [`write_decisions`].
#[allow(clippy::too_many_arguments)]
async fn log_decision(
    tx: &mut impl Exec,
    look: &mut Lookups,
    trip_id: &str,
    kind: CheckKind,
    decision: &str,
    reason: Option<&str>,
    at: i64,
    actor: &str,
) -> Result<(), AppError> {
    let row = DecisionLog {
        id: uuid::Uuid::new_v4().to_string(),
        trip_id: trip_id.to_string(),
        kind,
        decision: decision.to_string(),
        reason: reason.map(str::to_string),
        at,
        actor: actor.to_string(),
    };
    match look.decisions.as_mut() {
        Some(kept) => {
            kept.push(row);
            Ok(())
        }
        None => write_decisions(tx, &[row]).await,
    }
}

/// Write decision log rows, one statement for all of them ([`crate::bulk::insert_rows`]).
async fn write_decisions(tx: &mut impl Exec, rows: &[DecisionLog]) -> Result<(), AppError> {
    use crate::bulk::{insert_rows, Col};
    let body: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!([
                r.id,
                r.trip_id,
                r.kind.as_str(),
                r.decision,
                r.reason,
                r.at,
                r.actor
            ])
        })
        .collect();
    let cols = [
        ("id", Col::Text),
        ("trip_id", Col::Text),
        ("kind", Col::Text),
        ("decision", Col::Text),
        ("reason", Col::Text),
        ("at", Col::Int),
        ("actor", Col::Text),
    ];
    insert_rows(tx, "border_check_decisions", &cols, "", &body).await?;
    Ok(())
}

/// An officer starts a check (bắt đầu kiểm tra): the service time is measured from now. A
/// check already started keeps its first time.
pub async fn start(
    db: &Db,
    ctx: &Ctx,
    principal: &Principal,
    trip_code: &str,
    kind: CheckKind,
    at: i64,
) -> Result<CheckRow, AppError> {
    if kind == CheckKind::Customs {
        return Err(customs_on_platform());
    }
    let mut look = Lookups::load(db).await?;
    let mut tx = db.begin_write().await?;
    let row = start_in(&mut tx, db, &mut look, ctx, principal, trip_code, kind, at)
        .await
        .map_err(AppError::from)?;
    tx.commit().await?;
    Ok(row)
}

/// [`start`] inside `tx` (shared by [`start`] and [`record_many`]).
#[allow(clippy::too_many_arguments)]
async fn start_in(
    tx: &mut impl Journal,
    db: &Db,
    look: &mut Lookups,
    ctx: &Ctx,
    principal: &Principal,
    trip_code: &str,
    kind: CheckKind,
    at: i64,
) -> Result<CheckRow, Stop> {
    if kind == CheckKind::Customs {
        return Err(customs_on_platform().into());
    }
    let (trip, _gate, agency) = load_in(tx, db, look, principal, trip_code, kind).await?;
    start_write(tx, look, ctx, trip, kind, agency, at)
        .await
        .map_err(Stop::Failed)
}

/// The writes of [`start_in`] once its rules passed (nothing here refuses the start).
async fn start_write(
    tx: &mut impl Journal,
    look: &mut Lookups,
    ctx: &Ctx,
    trip: Trip,
    kind: CheckKind,
    agency: String,
    at: i64,
) -> Result<CheckRow, AppError> {
    // A row the batch keeps to write exists already: the start changes nothing.
    if let Some(w) = look
        .later
        .as_ref()
        .and_then(|l| l.checks.get(&(trip.id.clone(), kind.as_str())))
    {
        return Ok(w.row());
    }
    let created = if look.later.is_some() {
        // In a batch on SQLite the trip's check rows are known (read once per batch): a
        // check with no row gets one, written with the batch's others before the commit.
        let fresh = look.checks(tx, &trip).await?.get(kind).is_none();
        if fresh {
            let start = CheckWrite {
                trip_id: trip.id.clone(),
                kind,
                gate: trip.gate.clone(),
                agency: agency.clone(),
                status: "started".into(),
                reason: None,
                started_at: Some(at),
                decided_at: None,
                decided_by: None,
                updated_at: at,
            };
            upsert_check(tx, look, start).await?;
        }
        fresh
    } else {
        tx.execute(
            "INSERT INTO border_checks (trip_id, kind, gate_code, agency_code, status, \
             started_at, updated_at) VALUES ($1, $2, $3, $4, 'started', $5, $5) \
             ON CONFLICT (trip_id, kind) DO NOTHING",
            &[
                Param::Text(&trip.id),
                Param::Text(kind.as_str()),
                Param::Text(&trip.gate),
                Param::Text(&agency),
                Param::Int(at),
            ],
        )
        .await?
            > 0
    };
    if created {
        if let Some(c) = look.checks.get_mut(&trip.code) {
            c.set(kind, "started", Some(at));
        }
        log_decision(tx, look, &trip.id, kind, "start", None, at, &ctx.actor).await?;
        tx.audit(&ctx.entry(
            "border.check.start",
            "border_trip",
            &trip.id,
            &format!("gate:{}", trip.gate),
            serde_json::json!({"trip_code": trip.code, "check": kind.as_str(), "agency": agency}),
        ))
        .await?;
        tx.emit(
            "border.check.started",
            &serde_json::json!({"trip_id": trip.id, "trip_code": trip.code, "gate": trip.gate, "check": kind.as_str(), "agency": agency, "at": at}),
        )
        .await?;
        // The row just written, as written (not read back).
        return Ok(CheckRow {
            kind,
            agency_code: agency,
            status: "started".into(),
            reason: None,
            started_at: Some(at),
            decided_at: None,
            decided_by: None,
        });
    }
    let row = tx
        .row(
            "SELECT agency_code, status, reason, started_at, decided_at, decided_by \
             FROM border_checks WHERE trip_id = $1 AND kind = $2",
            &[Param::Text(&trip.id), Param::Text(kind.as_str())],
            |r| {
                Ok(CheckRow {
                    kind,
                    agency_code: r.text(0)?,
                    status: r.text(1)?,
                    reason: r.opt_text(2)?,
                    started_at: r.opt_int(3)?,
                    decided_at: r.opt_int(4)?,
                    decided_by: r.opt_text(5)?,
                })
            },
        )
        .await?;
    row.ok_or_else(|| {
        AppError::internal(format!(
            "trip {}: no {} check row",
            trip.code,
            kind.as_str()
        ))
    })
}

fn customs_on_platform() -> AppError {
    AppError::field(
        "check",
        Invalid::new(
            "check_customs",
            "Hải quan quyết định thông quan trên hệ thống của hải quan; nền tảng chỉ nhận quyết định (POST /api/v1/border/customs-releases)",
            "Customs decides the release in its own system; the platform only receives it (POST /api/v1/border/customs-releases)",
        ),
    )
}

/// An officer's decision as typed (form or JSON).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct DecisionInput {
    /// `pass`, `hold` or `reject`.
    #[serde(default)]
    pub decision: String,
    /// Required for hold and reject, at most 500 characters.
    #[serde(default)]
    pub reason: String,
}

impl DecisionInput {
    pub fn new(decision: &str, reason: &str) -> Self {
        Self {
            decision: decision.into(),
            reason: reason.into(),
        }
    }
}

/// Check an officer's decision input: the decision, and a reason for hold and reject.
pub fn check_input(decision: &str, reason: &str) -> Result<(Decision, Option<String>), AppError> {
    let mut errs = FieldErrors::new();
    let d = errs.check("decision", Decision::parse(decision));
    let why = match d {
        Some(Decision::Pass) if reason.trim().is_empty() => None,
        Some(_) => errs.check("reason", journey::reason(reason)),
        None => None,
    };
    errs.into_result()?;
    let d = d.ok_or_else(|| AppError::internal("decision"))?;
    Ok((d, why))
}

/// An officer records a decision on the check `kind` of a trip: `pass`, `hold` (reason), or
/// `reject` (reason: the trip goes to `returned`). The check's start is the first of its
/// explicit start and this decision; pass and reject close it (`decided_at`). When every
/// required check has passed, the trip advances to `checked` in the same transaction. Audited
/// (`border.check.pass|hold|reject`), emitted (`border.check.decided`).
pub async fn decide(
    db: &Db,
    ctx: &Ctx,
    principal: &Principal,
    trip_code: &str,
    kind: CheckKind,
    input: &DecisionInput,
    at: i64,
) -> Result<Outcome, AppError> {
    check_input(&input.decision, &input.reason)?;
    if kind == CheckKind::Customs {
        return Err(customs_on_platform());
    }
    let mut look = Lookups::load(db).await?;
    let mut tx = db.begin_write().await?;
    let o = decide_in(
        &mut tx, db, &mut look, ctx, principal, trip_code, kind, input, at,
    )
    .await
    .map_err(AppError::from)?;
    tx.commit().await?;
    Ok(o)
}

/// [`decide`] inside `tx`: every rule of a decision (shared by [`decide`] and
/// [`record_many`]).
#[allow(clippy::too_many_arguments)]
async fn decide_in(
    tx: &mut impl Journal,
    db: &Db,
    look: &mut Lookups,
    ctx: &Ctx,
    principal: &Principal,
    trip_code: &str,
    kind: CheckKind,
    input: &DecisionInput,
    at: i64,
) -> Result<Outcome, Stop> {
    let (d, why) = check_input(&input.decision, &input.reason)?;
    if kind == CheckKind::Customs {
        return Err(customs_on_platform().into());
    }
    let (trip, gate, agency) = load_in(tx, db, look, principal, trip_code, kind).await?;
    let from = lock_trip(tx, &trip).await?;
    if !from.is_active() {
        return Err(trip_over(&trip).into());
    }
    let checks = look.checks(tx, &trip).await?;
    // A check not started yet starts with this decision (as if started now).
    let (status, started) = checks
        .get(kind)
        .unwrap_or_else(|| ("started".to_string(), Some(at)));
    if matches!(status.as_str(), "passed" | "rejected") {
        return Err(already_closed(kind, &status).into());
    }
    let plan = DecisionPlan {
        trip,
        gate,
        agency,
        from,
        checks,
        kind,
        decision: d,
        why,
        status,
        started,
        at,
    };
    decide_write(tx, look, ctx, plan)
        .await
        .map_err(Stop::Failed)
}

/// A decision whose rules passed ([`decide_in`]): what its writes need.
struct DecisionPlan {
    trip: Trip,
    gate: Gate,
    agency: String,
    /// The trip's stage as locked.
    from: Stage,
    checks: TripChecks,
    kind: CheckKind,
    decision: Decision,
    why: Option<String>,
    /// The check's status before.
    status: String,
    started: Option<i64>,
    at: i64,
}

/// The writes of a decision whose rules passed: the check's upsert, its log row, the trip's
/// move, the audit entry and the event (nothing here refuses the decision).
async fn decide_write(
    tx: &mut impl Journal,
    look: &mut Lookups,
    ctx: &Ctx,
    plan: DecisionPlan,
) -> Result<Outcome, AppError> {
    let DecisionPlan {
        trip,
        gate,
        agency,
        from,
        mut checks,
        kind,
        decision: d,
        why,
        status,
        started,
        at,
    } = plan;
    let closes = d != Decision::Hold;
    upsert_check(
        tx,
        look,
        CheckWrite {
            trip_id: trip.id.clone(),
            kind,
            gate: trip.gate.clone(),
            agency: agency.clone(),
            status: d.status().to_string(),
            reason: why.clone(),
            started_at: Some(started.unwrap_or(at)),
            decided_at: closes.then_some(at),
            decided_by: Some(ctx.actor.clone()),
            updated_at: at,
        },
    )
    .await?;
    log_decision(
        tx,
        look,
        &trip.id,
        kind,
        d.as_str(),
        why.as_deref(),
        at,
        &ctx.actor,
    )
    .await?;
    checks.set(kind, d.status(), Some(started.unwrap_or(at)));
    look.keep_checks(&trip, &checks);
    let all_clear = checks.all_clear(&gate, &trip);
    let stage = after_decision(
        tx,
        look,
        &trip,
        from,
        all_clear,
        d.status(),
        at,
        Source::Officer,
    )
    .await?;
    look.moved(&trip, stage, at);
    tx.audit(&ctx.entry(
        &format!("border.check.{}", d.as_str()),
        "border_trip",
        &trip.id,
        &format!("gate:{}", trip.gate),
        serde_json::json!({"trip_code": trip.code, "check": kind.as_str(), "agency": agency,
            "before": {"status": status}, "after": {"status": d.status(), "stage": stage.as_str()},
            "reason": why}),
    ))
    .await?;
    tx.emit(
        "border.check.decided",
        &serde_json::json!({"trip_id": trip.id, "trip_code": trip.code, "gate": trip.gate,
            "check": kind.as_str(), "agency": agency, "decision": d.as_str(), "reason": why,
            "at": at, "stage": stage.as_str(), "all_clear": all_clear}),
    )
    .await?;
    Ok(Outcome {
        trip_code: trip.code,
        kind,
        status: d.status().to_string(),
        stage,
        all_clear,
    })
}

/// After a check's status changed to `status`: a rejection turns the trip back; when every
/// required check has passed (`all_clear`) the trip advances to `checked`. `from` is the
/// trip's stage as locked in this transaction ([`lock_trip`]). Returns the stage.
#[allow(clippy::too_many_arguments)]
async fn after_decision(
    tx: &mut impl Journal,
    look: &mut Lookups,
    trip: &Trip,
    from: Stage,
    all_clear: bool,
    status: &str,
    at: i64,
    source: Source,
) -> Result<Stage, AppError> {
    let target = if status == "rejected" {
        Some(Stage::Returned)
    } else if all_clear {
        Some(Stage::Checked)
    } else {
        None
    };
    let mut stage = match target {
        Some(s) => {
            let later = look.later.as_mut().map(|l| &mut l.stages);
            journey::advance_from_in(tx, later, &trip.id, from, s, at, source)
                .await?
                .to
        }
        None => from,
    };
    // A fee paid before the checks cleared (prepaid): the trip goes on to "fee paid" now.
    if stage == Stage::Checked && look.paid(tx, trip).await? {
        let later = look.later.as_mut().map(|l| &mut l.stages);
        stage =
            journey::advance_from_in(tx, later, &trip.id, stage, Stage::Paid, at, Source::Payment)
                .await?
                .to;
    }
    Ok(stage)
}

// ---------------------------------------------------------------- customs releases

/// A release decision as customs sends it (`POST /api/v1/border/customs-releases`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ReleaseInput {
    /// The customs declaration number (số tờ khai hải quan, 12 digits): the trip's.
    #[serde(default)]
    pub customs_declaration: String,
    /// The platform's trip code, e.g. `HN-261201-00001`.
    #[serde(default)]
    pub trip_code: String,
    /// `released`, `held` or `rejected`.
    #[serde(default)]
    pub decision: String,
    /// When customs decided: RFC 3339 (`2026-12-01T08:30:00+07:00`) or local Vietnam time
    /// `2026-12-01T08:30`.
    #[serde(default)]
    pub decided_at: String,
    /// The customs officer who decided, as customs identifies them.
    #[serde(default)]
    pub officer_ref: String,
}

/// Allowed clock skew of a customs system (a decision at most this far in the future).
pub const CLOCK_SKEW_MICROS: i64 = 5 * 60 * 1_000_000;

fn parse_time(s: &str) -> Option<i64> {
    let t = s.trim();
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.timestamp_micros())
        .or_else(|| declaration::parse_local(t))
}

/// The checked fields of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub customs_declaration: String,
    pub trip_code: String,
    pub decision: CustomsDecision,
    pub decided_at: i64,
    pub officer_ref: String,
}

/// Check a release's fields (every bad field named).
pub fn check_release(input: &ReleaseInput, now: i64) -> Result<Release, AppError> {
    let mut errs = FieldErrors::new();
    let number: String = input
        .customs_declaration
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if !(number.len() == 12 && number.chars().all(|c| c.is_ascii_digit())) {
        errs.push(
            "customs_declaration",
            Invalid::new(
                "customs_declaration",
                "Số tờ khai hải quan gồm 12 chữ số (hệ thống VNACCS)",
                "The customs declaration number has 12 digits (VNACCS)",
            ),
        );
    }
    let code = input.trip_code.trim().to_string();
    if code.is_empty() || code.len() > 40 {
        errs.push(
            "trip_code",
            Invalid::new(
                "trip_code",
                "Cần mã chuyến (ví dụ HN-261201-00001)",
                "A trip code is required (e.g. HN-261201-00001)",
            ),
        );
    }
    let decision = errs.check("decision", CustomsDecision::parse(&input.decision));
    let at = match parse_time(&input.decided_at) {
        None => {
            errs.push(
                "decided_at",
                Invalid::new(
                    "decided_at",
                    "Thời điểm quyết định theo RFC 3339, ví dụ 2026-12-01T08:30:00+07:00",
                    "The decision time in RFC 3339, e.g. 2026-12-01T08:30:00+07:00",
                ),
            );
            None
        }
        Some(t) if t > now + CLOCK_SKEW_MICROS => {
            errs.push(
                "decided_at",
                Invalid::new(
                    "decided_at_future",
                    "Thời điểm quyết định ở tương lai (đồng hồ của hệ thống gửi bị lệch?)",
                    "The decision time is in the future (is the sender's clock off?)",
                ),
            );
            None
        }
        Some(t) => Some(t),
    };
    let officer = input.officer_ref.trim().to_string();
    if officer.is_empty() || officer.chars().count() > 100 {
        errs.push(
            "officer_ref",
            Invalid::new(
                "officer_ref",
                "Cần mã cán bộ hải quan quyết định (tối đa 100 ký tự)",
                "The deciding customs officer's reference is required (at most 100 characters)",
            ),
        );
    }
    errs.into_result()?;
    match (decision, at) {
        (Some(decision), Some(decided_at)) => Ok(Release {
            customs_declaration: number,
            trip_code: code,
            decision,
            decided_at,
            officer_ref: officer,
        }),
        _ => Err(AppError::internal("release check")),
    }
}

/// What receiving a release did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReleaseOutcome {
    /// `recorded` (new or newer decision), `duplicate` (this decision was already received:
    /// nothing written), `superseded` (older than the decision held: nothing written).
    pub outcome: String,
    pub trip_code: String,
    /// The customs decision now held for the trip.
    pub decision: String,
    /// The trip's stage.
    pub stage: String,
    /// Every required check has passed and customs released.
    pub all_clear: bool,
}

/// Receive customs' release decision for a trip (customs officer of the gate, or a customs
/// system's API token: BorderInspect over the gate's customs office). Idempotent per (trip,
/// customs declaration number): the latest `decided_at` wins; a replay changes nothing.
/// `released` passes the customs check (and may advance the trip to `checked`), `held` holds
/// it, `rejected` turns the trip back. Audited (`border.check.customs`), emitted
/// (`border.check.customs`).
pub async fn receive_release(
    db: &Db,
    ctx: &Ctx,
    principal: &Principal,
    input: &ReleaseInput,
    now: i64,
) -> Result<ReleaseOutcome, AppError> {
    check_release(input, now)?;
    let mut look = Lookups::load(db).await?;
    let mut tx = db.begin_write().await?;
    let o = release_in(&mut tx, db, &mut look, ctx, principal, input, now)
        .await
        .map_err(AppError::from)?;
    tx.commit().await?;
    Ok(o)
}

/// [`receive_release`] inside `tx`: every rule of a release (shared by [`receive_release`]
/// and [`record_many`]). A duplicate or superseded release writes nothing.
async fn release_in(
    tx: &mut impl Journal,
    db: &Db,
    look: &mut Lookups,
    ctx: &Ctx,
    principal: &Principal,
    input: &ReleaseInput,
    now: i64,
) -> Result<ReleaseOutcome, Stop> {
    let r = check_release(input, now)?;
    let trip = look.trip(tx, &r.trip_code).await?.ok_or_else(|| {
        AppError::field(
            "trip_code",
            Invalid::new(
                "trip_unknown",
                format!("Không có chuyến {}", r.trip_code),
                format!("No trip {}", r.trip_code),
            ),
        )
    })?;
    let gate = look.gate(&trip)?;
    let agency = gate
        .agency_for(CheckKind::Customs)
        .ok_or_else(|| no_agency(&gate, CheckKind::Customs))?
        .to_string();
    authorize(
        Some(principal),
        Permission::BorderInspect,
        &look.scope(db, &agency).await?,
    )?;
    if trip.customs_declaration != r.customs_declaration {
        return Err(Stop::Refused(AppError::field(
            "customs_declaration",
            Invalid::new(
                "customs_declaration_other",
                format!(
                    "Chuyến {} khai tờ khai hải quan {}, không phải {}",
                    trip.code, trip.customs_declaration, r.customs_declaration
                ),
                format!(
                    "Trip {} declares customs declaration {}, not {}",
                    trip.code, trip.customs_declaration, r.customs_declaration
                ),
            ),
        )));
    }
    let from = lock_trip(tx, &trip).await?;
    let checks = look.checks(tx, &trip).await?;
    let (held, yard) = look
        .release_facts(tx, &trip, &r.customs_declaration)
        .await?;
    if let Some((d, at, who)) = held {
        let same = d == r.decision.as_str() && at == r.decided_at && who == r.officer_ref;
        if same || at >= r.decided_at {
            let all_clear = checks.all_clear(&gate, &trip);
            return Ok(ReleaseOutcome {
                outcome: if same { "duplicate" } else { "superseded" }.into(),
                trip_code: trip.code,
                decision: d,
                stage: from.as_str().into(),
                all_clear,
            });
        }
    }
    let plan = ReleasePlan {
        trip,
        gate,
        agency,
        from,
        checks,
        yard,
        release: r,
        now,
    };
    release_write(tx, look, ctx, plan)
        .await
        .map_err(Stop::Failed)
}

/// A customs release whose rules passed and that changes what is held ([`release_in`]).
struct ReleasePlan {
    trip: Trip,
    gate: Gate,
    agency: String,
    /// The trip's stage as locked.
    from: Stage,
    checks: TripChecks,
    /// The truck's arrival in the yard, when known.
    yard: Option<i64>,
    release: Release,
    now: i64,
}

/// The writes of a release ([`ReleasePlan`]): the release row, the customs check, its log
/// row, the trip's move, the audit entry and the event (nothing here refuses the release).
async fn release_write(
    tx: &mut impl Journal,
    look: &mut Lookups,
    ctx: &Ctx,
    plan: ReleasePlan,
) -> Result<ReleaseOutcome, AppError> {
    let ReleasePlan {
        trip,
        gate,
        agency,
        from,
        mut checks,
        yard,
        release: r,
        now,
    } = plan;
    let row = ReleaseRow(
        trip.id.clone(),
        r.customs_declaration.clone(),
        r.decision.as_str().to_string(),
        r.decided_at,
        r.officer_ref.clone(),
        now,
        ctx.actor.clone(),
    );
    match look.later.as_mut() {
        Some(later) => {
            if let Some(t) = later.releases.as_mut() {
                t.entry(trip.code.clone()).or_default().held.insert(
                    r.customs_declaration.clone(),
                    (row.2.clone(), row.3, row.4.clone()),
                );
            }
            later
                .release_rows
                .insert((row.0.clone(), row.1.clone()), row);
        }
        None => {
            crate::bulk::insert_rows(
                tx,
                "border_customs_releases",
                &RELEASE_COLUMNS,
                &format!("WHERE true {RELEASE_UPSERT}"),
                &[row],
            )
            .await?;
        }
    }
    // The customs check: measured from the truck's arrival in the yard, when known.
    let status = r.decision.status();
    let closes = r.decision != CustomsDecision::Held;
    let before: Option<String> = checks.get(CheckKind::Customs).map(|(s, _)| s);
    upsert_check(
        tx,
        look,
        CheckWrite {
            trip_id: trip.id.clone(),
            kind: CheckKind::Customs,
            gate: trip.gate.clone(),
            agency: agency.clone(),
            status: status.to_string(),
            reason: None,
            started_at: yard.filter(|y| *y <= r.decided_at),
            decided_at: closes.then_some(r.decided_at),
            decided_by: Some(format!("customs:{}", r.officer_ref)),
            updated_at: now,
        },
    )
    .await?;
    log_decision(
        tx,
        look,
        &trip.id,
        CheckKind::Customs,
        r.decision.as_str(),
        None,
        r.decided_at,
        &format!("customs:{}", r.officer_ref),
    )
    .await?;
    checks.set(
        CheckKind::Customs,
        status,
        yard.filter(|y| *y <= r.decided_at),
    );
    look.keep_checks(&trip, &checks);
    let (stage, all_clear) = if from.is_active() {
        let all_clear = checks.all_clear(&gate, &trip);
        let stage = after_decision(
            tx,
            look,
            &trip,
            from,
            all_clear,
            status,
            r.decided_at,
            Source::Customs,
        )
        .await?;
        look.moved(&trip, stage, r.decided_at);
        (stage, all_clear)
    } else {
        (from, false)
    };
    tx.audit(&ctx.entry(
        "border.check.customs",
        "border_trip",
        &trip.id,
        &format!("gate:{}", trip.gate),
        serde_json::json!({"trip_code": trip.code, "customs_declaration": r.customs_declaration,
            "before": {"status": before}, "after": {"status": status, "stage": stage.as_str()},
            "decision": r.decision.as_str(), "decided_at": r.decided_at, "officer_ref": r.officer_ref}),
    ))
    .await?;
    tx.emit(
        "border.check.customs",
        &serde_json::json!({"trip_id": trip.id, "trip_code": trip.code, "gate": trip.gate,
            "customs_declaration": r.customs_declaration, "decision": r.decision.as_str(),
            "decided_at": r.decided_at, "stage": stage.as_str(), "all_clear": all_clear}),
    )
    .await?;
    Ok(ReleaseOutcome {
        outcome: "recorded".into(),
        trip_code: trip.code,
        decision: r.decision.as_str().into(),
        stage: stage.as_str().into(),
        all_clear,
    })
}

/// [`Lookups::release_facts`] of one trip, one statement.
#[allow(clippy::type_complexity)]
async fn release_facts_in(
    tx: &mut impl Exec,
    trip: &Trip,
    number: &str,
) -> Result<(Option<(String, i64, String)>, Option<i64>), AppError> {
    let row = tx
        .row(
            "SELECT r.decision, r.decided_at, r.officer_ref, \
             (SELECT MIN(s.at) FROM border_trip_stages s WHERE s.trip_id = $1 AND s.stage = 'yard') \
             FROM (SELECT 1 AS one) AS o LEFT JOIN border_customs_releases r \
             ON r.trip_id = $1 AND r.customs_declaration = $2",
            &[Param::Text(&trip.id), Param::Text(number)],
            |r| {
                let held = match r.opt_text(0)? {
                    Some(d) => Some((d, r.int(1)?, r.text(2)?)),
                    None => None,
                };
                Ok((held, r.opt_int(3)?))
            },
        )
        .await?;
    row.ok_or_else(|| AppError::internal("release facts: no row"))
}

// ---------------------------------------------------------------- batches

/// One item of a batch of check records ([`record_many`]).
#[derive(Debug, Clone)]
pub enum CheckOp<'a> {
    /// [`start`].
    Start {
        principal: &'a Principal,
        trip_code: String,
        kind: CheckKind,
        at: i64,
    },
    /// [`decide`].
    Decide {
        principal: &'a Principal,
        trip_code: String,
        kind: CheckKind,
        input: DecisionInput,
        at: i64,
    },
    /// [`receive_release`], received at `now`.
    Release {
        principal: &'a Principal,
        input: ReleaseInput,
        now: i64,
    },
}

/// What one item of [`record_many`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckDone {
    Started(CheckRow),
    Decided(Outcome),
    Released(ReleaseOutcome),
}

/// Record a batch of check starts, decisions and customs releases in one transaction, in the
/// order given (a later item sees what an earlier one wrote: a hold then a pass of the same
/// check, a rejection before another check of the same trip). Each item goes through the same
/// rules as [`start`], [`decide`] and [`receive_release`], all of them checked before the item
/// writes: a refused item (a 4xx error) has written nothing — no rows, audit entries or outbox
/// events — so no savepoint is needed, and the others are kept. Results in input order; a
/// failure after an item's first write (the database's) fails the whole batch.
pub async fn record_many(
    db: &Db,
    ctx: &Ctx,
    ops: &[CheckOp<'_>],
) -> Result<Vec<Result<CheckDone, AppError>>, AppError> {
    if ops.is_empty() {
        return Ok(Vec::new());
    }
    let mut look = Lookups::load(db).await?;
    look.decisions = Some(Vec::new());
    look.codes = ops
        .iter()
        .map(|op| match op {
            CheckOp::Start { trip_code, .. } | CheckOp::Decide { trip_code, .. } => {
                trip_code.trim().to_string()
            }
            CheckOp::Release { input, .. } => input.trip_code.trim().to_string(),
        })
        .collect();
    look.codes.sort();
    look.codes.dedup();
    if db.backend() == Backend::Sqlite {
        look.later = Some(Later::default());
    }
    // No savepoint per item: a refused item wrote nothing ([`Stop`]), so the trips and check
    // rows `look` keeps stay true and its decision log holds only the kept items' rows.
    // On a SQLite file the statements run natively on this thread ([`Db::begin_native`]); on
    // PostgreSQL (or with native writes off) the same items run in a sqlx transaction.
    crate::bulk::each_decided(
        db,
        look,
        ops,
        |mut tx: Tx, mut look, op| async move {
            let done = match op {
                CheckOp::Start {
                    principal,
                    trip_code,
                    kind,
                    at,
                } => start_in(
                    &mut tx, db, &mut look, ctx, principal, trip_code, *kind, *at,
                )
                .await
                .map(CheckDone::Started),
                CheckOp::Decide {
                    principal,
                    trip_code,
                    kind,
                    input,
                    at,
                } => decide_in(
                    &mut tx, db, &mut look, ctx, principal, trip_code, *kind, input, *at,
                )
                .await
                .map(CheckDone::Decided),
                CheckOp::Release {
                    principal,
                    input,
                    now,
                } => release_in(&mut tx, db, &mut look, ctx, principal, input, *now)
                    .await
                    .map(CheckDone::Released),
            };
            (tx, look, done.map_err(Stop::refusal))
        },
        |tx, e| std::future::ready((tx, Ok(e))),
        |mut tx, look| async move {
            let mut written =
                write_decisions(&mut tx, look.decisions.as_deref().unwrap_or(&[])).await;
            if let (Ok(()), Some(later)) = (&written, &look.later) {
                written = later.write(&mut tx).await;
            }
            (tx, written)
        },
    )
    .await
}

/// One officer decision of a batch ([`decide_many`]).
#[derive(Debug, Clone)]
pub struct DecideItem<'a> {
    pub principal: &'a Principal,
    pub trip_code: String,
    pub kind: CheckKind,
    pub input: DecisionInput,
    pub at: i64,
}

/// [`decide`] for many decisions in one transaction ([`record_many`]): results in input
/// order, a refused decision changes nothing.
pub async fn decide_many(
    db: &Db,
    ctx: &Ctx,
    items: &[DecideItem<'_>],
) -> Result<Vec<Result<Outcome, AppError>>, AppError> {
    let ops: Vec<CheckOp> = items
        .iter()
        .map(|i| CheckOp::Decide {
            principal: i.principal,
            trip_code: i.trip_code.clone(),
            kind: i.kind,
            input: i.input.clone(),
            at: i.at,
        })
        .collect();
    Ok(record_many(db, ctx, &ops)
        .await?
        .into_iter()
        .map(|r| match r? {
            CheckDone::Decided(o) => Ok(o),
            _ => Err(AppError::internal("decision answered as another item")),
        })
        .collect())
}

/// [`receive_release`] for many releases from one sender in one transaction
/// ([`record_many`]): results in input order, a refused release changes nothing.
pub async fn receive_release_many(
    db: &Db,
    ctx: &Ctx,
    principal: &Principal,
    inputs: &[ReleaseInput],
    now: i64,
) -> Result<Vec<Result<ReleaseOutcome, AppError>>, AppError> {
    let ops: Vec<CheckOp> = inputs
        .iter()
        .map(|i| CheckOp::Release {
            principal,
            input: i.clone(),
            now,
        })
        .collect();
    Ok(record_many(db, ctx, &ops)
        .await?
        .into_iter()
        .map(|r| match r? {
            CheckDone::Released(o) => Ok(o),
            _ => Err(AppError::internal("release answered as another item")),
        })
        .collect())
}

// ---------------------------------------------------------------- the agency's queue

/// A truck waiting for an agency's check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueItem {
    pub trip_code: String,
    pub plate: String,
    pub trailer_plate: Option<String>,
    pub stage: String,
    /// When it reached the gate area (staging or yard), the earliest recorded.
    pub arrived_at: i64,
    pub perishable: bool,
    pub quarantine: String,
    /// The goods, described (HS code and description per line).
    pub goods: String,
    /// The check's status: `pending`, `started` or `held`.
    pub status: String,
}

/// The trucks at `gate` (staging or yard) that need `kind` and whose check is not closed,
/// oldest arrival first.
pub async fn agency_queue(
    db: &Db,
    gate: &Gate,
    kind: CheckKind,
    limit: usize,
) -> Result<Vec<QueueItem>, AppError> {
    let rows = sqlx::query(
        "SELECT t.code, t.id, t.vehicle_plate, t.trailer_plate, t.stage, t.perishable, \
         t.quarantine, c.status, \
         (SELECT MIN(s.at) FROM border_trip_stages s WHERE s.trip_id = t.id \
          AND s.stage IN ('staging', 'yard')) AS arrived, t.stage_at \
         FROM border_trips t LEFT JOIN border_checks c ON c.trip_id = t.id AND c.kind = $2 \
         WHERE t.gate_code = $1 AND t.stage IN ('staging', 'yard') \
         AND (c.status IS NULL OR c.status IN ('started', 'held'))",
    )
    .bind(&gate.code)
    .bind(kind.as_str())
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    let mut out = Vec::new();
    for r in rows {
        let quarantine: String = r.try_get(6).map_err(db_err)?;
        if !required_for(gate, &quarantine)
            .iter()
            .any(|x| x.kind == kind)
        {
            continue;
        }
        let code: String = r.try_get(0).map_err(db_err)?;
        let arrived: Option<i64> = r.try_get(8).map_err(db_err)?;
        let stage_at: i64 = r.try_get(9).map_err(db_err)?;
        out.push((
            r.try_get::<String, _>(1).map_err(db_err)?,
            QueueItem {
                trip_code: code,
                plate: r.try_get(2).map_err(db_err)?,
                trailer_plate: r.try_get(3).map_err(db_err)?,
                stage: r.try_get(4).map_err(db_err)?,
                arrived_at: arrived.unwrap_or(stage_at),
                perishable: r.try_get::<i64, _>(5).map_err(db_err)? != 0,
                quarantine,
                goods: String::new(),
                status: r
                    .try_get::<Option<String>, _>(7)
                    .map_err(db_err)?
                    .unwrap_or_else(|| "pending".into()),
            },
        ));
    }
    out.sort_by(|a, b| (a.1.arrived_at, &a.1.trip_code).cmp(&(b.1.arrived_at, &b.1.trip_code)));
    out.truncate(limit);
    let mut items = Vec::with_capacity(out.len());
    for (id, mut item) in out {
        let lines = sqlx::query(
            "SELECT hs_code, description FROM border_goods_lines WHERE trip_id = $1 \
             ORDER BY line_no",
        )
        .bind(&id)
        .fetch_all(db.pool())
        .await
        .map_err(db_err)?;
        let mut goods = Vec::new();
        for l in lines {
            let hs: String = l.try_get(0).map_err(db_err)?;
            let d: String = l.try_get(1).map_err(db_err)?;
            goods.push(format!("{hs} {d}").trim().to_string());
        }
        item.goods = goods.join("; ");
        items.push(item);
    }
    Ok(items)
}

// ---------------------------------------------------------------- service times

/// An agency's service time on one local day (thời gian phục vụ của lực lượng).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceTime {
    pub gate: String,
    pub kind: CheckKind,
    pub agency: String,
    /// Checks closed that day with a known start.
    pub checks: usize,
    /// Median and 90th percentile, seconds (nearest rank).
    pub p50_s: i64,
    pub p90_s: i64,
}

/// The `p`-th percentile (0–100) of sorted values by the nearest-rank method: the value at
/// rank ⌈p/100 · n⌉ (1-based). `None` for no values.
pub fn percentile(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = (p as usize * n).div_ceil(100).clamp(1, n);
    sorted.get(rank - 1).copied()
}

/// Service times (decided_at − started_at) of the checks closed (passed or rejected) on local
/// day `date` (Vietnam time), per gate and agency, for the dashboard. `gate` narrows to one
/// gate. Customs is measured from the truck's arrival in the yard to the release.
pub async fn service_times(
    db: &Db,
    gate: Option<&str>,
    date: NaiveDate,
) -> Result<Vec<ServiceTime>, AppError> {
    let start = crate::slots::hour_start_of(date, 0)
        .ok_or_else(|| AppError::internal(format!("no local midnight on {date}")))?;
    let end = start + 24 * 3_600_000_000;
    let rows = sqlx::query(
        "SELECT gate_code, kind, agency_code, decided_at - started_at FROM border_checks \
         WHERE decided_at >= $1 AND decided_at < $2 AND started_at IS NOT NULL \
         AND status IN ('passed', 'rejected') AND ($3 = '' OR gate_code = $3)",
    )
    .bind(start)
    .bind(end)
    .bind(gate.unwrap_or(""))
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    let mut by: std::collections::BTreeMap<(String, String, String), Vec<i64>> =
        std::collections::BTreeMap::new();
    for r in rows {
        let g: String = r.try_get(0).map_err(db_err)?;
        let k: String = r.try_get(1).map_err(db_err)?;
        let a: String = r.try_get(2).map_err(db_err)?;
        let d: i64 = r.try_get(3).map_err(db_err)?;
        by.entry((g, k, a)).or_default().push(d.max(0) / 1_000_000);
    }
    let mut out = Vec::new();
    for ((g, k, a), mut v) in by {
        let Some(kind) = CheckKind::parse(&k) else {
            continue;
        };
        v.sort_unstable();
        out.push(ServiceTime {
            gate: g,
            kind,
            agency: a,
            checks: v.len(),
            p50_s: percentile(&v, 50).unwrap_or(0),
            p90_s: percentile(&v, 90).unwrap_or(0),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
        assert_eq!(percentile(&v, 50), Some(50));
        assert_eq!(percentile(&v, 90), Some(90));
        assert_eq!(percentile(&[7], 90), Some(7));
        assert_eq!(percentile(&[1, 2, 3], 50), Some(2));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn inputs_name_their_fields() {
        assert_eq!(check_input("pass", "").unwrap(), (Decision::Pass, None));
        let e = check_input("hold", " ").unwrap_err();
        assert_eq!(e.fields[0].field, "reason");
        let e = check_input("maybe", "").unwrap_err();
        assert_eq!(e.fields[0].field, "decision");
        let bad = ReleaseInput {
            customs_declaration: "12".into(),
            decided_at: "yesterday".into(),
            decision: "ok".into(),
            ..ReleaseInput::default()
        };
        let e = check_release(&bad, 0).unwrap_err();
        let fields: Vec<&str> = e.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "customs_declaration",
                "trip_code",
                "decision",
                "decided_at",
                "officer_ref"
            ]
        );
    }
}
