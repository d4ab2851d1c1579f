//! The gates (cửa khẩu) and what each can take: lanes, yards (bãi) with their capacity, opening
//! hours, crossing capacity per direction, and the agencies present.
//!
//! The starting values ship as `data/gates.toml` and are written once into the database
//! ([`seed`]); from then on the database is the truth, so the management board's changes
//! survive restarts.

use chrono::{NaiveTime, Timelike};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::sync::{Arc, LazyLock};
use tinhso_kernel::AppError;
use tinhso_store::copies::Copies;
use tinhso_store::native::Param;
use tinhso_store::{now_micros, Db, DbError};

/// The gates file shipped with the crate.
pub const GATES_TOML: &str = include_str!("../data/gates.toml");

/// Which way goods cross (loại hình).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Xuất khẩu.
    Export,
    /// Nhập khẩu.
    Import,
    /// Quá cảnh.
    Transit,
    /// Chuyển tải (goods moved between vehicles in the yard).
    Transshipment,
}

impl Direction {
    pub const ALL: [Direction; 4] = [
        Direction::Export,
        Direction::Import,
        Direction::Transit,
        Direction::Transshipment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Export => "export",
            Direction::Import => "import",
            Direction::Transit => "transit",
            Direction::Transshipment => "transshipment",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s.trim())
    }

    pub fn name_vi(self) -> &'static str {
        match self {
            Direction::Export => "Xuất khẩu",
            Direction::Import => "Nhập khẩu",
            Direction::Transit => "Quá cảnh",
            Direction::Transshipment => "Chuyển tải",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Direction::Export => "Export",
            Direction::Import => "Import",
            Direction::Transit => "Transit",
            Direction::Transshipment => "Transshipment",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Direction::Export => "出口",
            Direction::Import => "进口",
            Direction::Transit => "过境",
            Direction::Transshipment => "转运",
        }
    }
}

/// The check an agency at the gate makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Hải quan: the platform receives its release decision, it does not process declarations.
    Customs,
    /// Biên phòng.
    BorderGuard,
    /// Kiểm dịch thực vật.
    PlantQuarantine,
    /// Kiểm dịch động vật.
    AnimalQuarantine,
    /// Kiểm dịch y tế.
    HealthQuarantine,
    /// Ban quản lý khu kinh tế cửa khẩu (yards, fees, traffic).
    ManagementBoard,
}

impl CheckKind {
    pub const ALL: [CheckKind; 6] = [
        CheckKind::Customs,
        CheckKind::BorderGuard,
        CheckKind::PlantQuarantine,
        CheckKind::AnimalQuarantine,
        CheckKind::HealthQuarantine,
        CheckKind::ManagementBoard,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Customs => "customs",
            CheckKind::BorderGuard => "border_guard",
            CheckKind::PlantQuarantine => "plant_quarantine",
            CheckKind::AnimalQuarantine => "animal_quarantine",
            CheckKind::HealthQuarantine => "health_quarantine",
            CheckKind::ManagementBoard => "management_board",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s.trim())
    }

    pub fn name_vi(self) -> &'static str {
        match self {
            CheckKind::Customs => "Hải quan",
            CheckKind::BorderGuard => "Biên phòng",
            CheckKind::PlantQuarantine => "Kiểm dịch thực vật",
            CheckKind::AnimalQuarantine => "Kiểm dịch động vật",
            CheckKind::HealthQuarantine => "Kiểm dịch y tế",
            CheckKind::ManagementBoard => "Ban Quản lý Khu kinh tế cửa khẩu",
        }
    }
}

/// Crossing capacity for one direction.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Capacity {
    pub direction: Direction,
    pub per_hour: i64,
    pub per_day: i64,
}

/// A yard (bãi).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Yard {
    pub code: String,
    pub name_vi: String,
    /// `staging` (bãi chờ, further back) or `yard` (at the gate).
    pub kind: String,
    pub capacity: i64,
}

/// An agency present at a gate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GateAgency {
    pub check: CheckKind,
    pub agency: String,
}

/// A gate with its settings.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Gate {
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    pub name_zh: String,
    /// `road` or `rail`.
    pub kind: String,
    pub commune_code: String,
    /// `HH:MM`, local time.
    pub opens: String,
    pub closes: String,
    pub lanes: i64,
    pub capacity: Vec<Capacity>,
    pub yards: Vec<Yard>,
    pub agencies: Vec<GateAgency>,
}

impl Gate {
    /// The capacity for a direction; None when the gate does not take it.
    pub fn capacity_for(&self, d: Direction) -> Option<&Capacity> {
        self.capacity.iter().find(|c| c.direction == d)
    }

    /// Whether a local time of day falls within opening hours.
    pub fn is_open_at(&self, t: NaiveTime) -> bool {
        let m = (t.hour() * 60 + t.minute()) as i64;
        match (minute_of(&self.opens), minute_of(&self.closes)) {
            (Some(o), Some(c)) => m >= o && m < c,
            _ => false,
        }
    }

    pub fn name(&self, lang: &str) -> &str {
        match lang {
            "en" => &self.name_en,
            "zh" => &self.name_zh,
            _ => &self.name_vi,
        }
    }

    /// The agency making a check at this gate.
    pub fn agency_for(&self, check: CheckKind) -> Option<&str> {
        self.agencies
            .iter()
            .find(|a| a.check == check)
            .map(|a| a.agency.as_str())
    }
}

fn minute_of(hhmm: &str) -> Option<i64> {
    NaiveTime::parse_from_str(hhmm, "%H:%M")
        .ok()
        .map(|t| (t.hour() * 60 + t.minute()) as i64)
}

fn hhmm(minute: i64) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

#[derive(Deserialize)]
struct GatesFile {
    gate: Vec<GateFile>,
}

#[derive(Deserialize)]
struct GateFile {
    code: String,
    name_vi: String,
    name_en: String,
    name_zh: String,
    kind: String,
    commune_code: String,
    opens: String,
    closes: String,
    lanes: i64,
    capacity: Vec<Capacity>,
    yards: Vec<Yard>,
    agencies: Vec<GateAgency>,
}

/// Parse and check a gates file: every error names the gate and the field.
pub fn parse(toml_text: &str) -> Result<Vec<Gate>, String> {
    let file: GatesFile = toml::from_str(toml_text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for g in file.gate {
        let o = minute_of(&g.opens)
            .ok_or_else(|| format!("gate {}: opens {:?} is not HH:MM", g.code, g.opens))?;
        let c = minute_of(&g.closes)
            .ok_or_else(|| format!("gate {}: closes {:?} is not HH:MM", g.code, g.closes))?;
        if c <= o {
            return Err(format!("gate {}: closes before it opens", g.code));
        }
        if g.lanes < 1 {
            return Err(format!("gate {}: lanes must be at least 1", g.code));
        }
        if !matches!(g.kind.as_str(), "road" | "rail") {
            return Err(format!("gate {}: kind must be road or rail", g.code));
        }
        for cap in &g.capacity {
            if cap.per_hour < 1 || cap.per_day < cap.per_hour {
                return Err(format!(
                    "gate {}: capacity {}: per_hour must be ≥ 1 and per_day ≥ per_hour",
                    g.code,
                    cap.direction.as_str()
                ));
            }
        }
        for y in &g.yards {
            if y.capacity < 1 || !matches!(y.kind.as_str(), "yard" | "staging") {
                return Err(format!("gate {}: yard {} is not valid", g.code, y.code));
            }
        }
        if out.iter().any(|x: &Gate| x.code == g.code) {
            return Err(format!("gate {} appears twice", g.code));
        }
        out.push(Gate {
            code: g.code,
            name_vi: g.name_vi,
            name_en: g.name_en,
            name_zh: g.name_zh,
            kind: g.kind,
            commune_code: g.commune_code,
            opens: g.opens,
            closes: g.closes,
            lanes: g.lanes,
            capacity: g.capacity,
            yards: g.yards,
            agencies: g.agencies,
        });
    }
    Ok(out)
}

/// Write the shipped gates into an empty registry; a registry that has gates is left as it is.
/// Returns how many gates were written.
pub async fn seed(db: &Db) -> Result<usize, AppError> {
    let n = tinhso_store::db::count(db, "SELECT COUNT(*) FROM border_gates").await?;
    if n > 0 {
        return Ok(0);
    }
    let gates = parse(GATES_TOML).map_err(AppError::internal)?;
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    for (i, g) in gates.iter().enumerate() {
        sqlx::query(
            "INSERT INTO border_gates (code, name_vi, name_en, name_zh, kind, commune_code, \
             opens_minute, closes_minute, lanes, position, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&g.code)
        .bind(&g.name_vi)
        .bind(&g.name_en)
        .bind(&g.name_zh)
        .bind(&g.kind)
        .bind(&g.commune_code)
        .bind(minute_of(&g.opens).unwrap_or(0))
        .bind(minute_of(&g.closes).unwrap_or(0))
        .bind(g.lanes)
        .bind(i as i64)
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
        for c in &g.capacity {
            sqlx::query(
                "INSERT INTO border_gate_capacity (gate_code, direction, per_hour, per_day) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&g.code)
            .bind(c.direction.as_str())
            .bind(c.per_hour)
            .bind(c.per_day)
            .execute(tx.conn())
            .await
            .map_err(DbError::from)?;
        }
        for y in &g.yards {
            sqlx::query(
                "INSERT INTO border_yards (gate_code, code, name_vi, kind, capacity) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&g.code)
            .bind(&y.code)
            .bind(&y.name_vi)
            .bind(&y.kind)
            .bind(y.capacity)
            .execute(tx.conn())
            .await
            .map_err(DbError::from)?;
        }
        for a in &g.agencies {
            sqlx::query(
                "INSERT INTO border_gate_agencies (gate_code, check_kind, agency_code) \
                 VALUES ($1, $2, $3)",
            )
            .bind(&g.code)
            .bind(a.check.as_str())
            .bind(&a.agency)
            .execute(tx.conn())
            .await
            .map_err(DbError::from)?;
        }
    }
    changed(tx.conn()).await?;
    tx.commit().await?;
    Ok(gates.len())
}

/// The counter in `border_counters` that every change to the registry bumps: the registry's
/// generation (thế hệ sổ cửa khẩu). No row yet reads as 0.
const GENERATION: &str = "gates.generation";

/// Mark the gate registry changed (bump its generation), in the transaction of the change:
/// every writer of `border_gates`, `border_gate_capacity`, `border_yards` or
/// `border_gate_agencies` calls it, so that every node sharing the database reads the change at
/// its next [`list`].
pub async fn changed(conn: &mut sqlx::AnyConnection) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO border_counters (name, value) VALUES ($1, 1) \
         ON CONFLICT (name) DO UPDATE SET value = border_counters.value + 1",
    )
    .bind(GENERATION)
    .execute(conn)
    .await?;
    Ok(())
}

/// The registry's generation: one short indexed read (natively on a SQLite file).
async fn generation(db: &Db) -> Result<i64, DbError> {
    let rows = db
        .read_rows(
            "SELECT value FROM border_counters WHERE name = $1",
            &[Param::Text(GENERATION)],
            |r| r.int(0),
        )
        .await?;
    Ok(rows.into_iter().next().unwrap_or(0))
}

/// This node's copy of each database's registry, filed under its generation.
static COPIES: LazyLock<Copies<Arc<Vec<Gate>>>> = LazyLock::new(Default::default);

/// Every gate, in the registry's order. Each call reads the registry's generation (one short
/// statement) and uses this node's copy while the generation has not moved ([`changed`]);
/// the four statements of [`read_all`] run only after a change. Inside a page view
/// ([`tinhso_store::rollup::View`]: the operations centre, whose queue, forecast and
/// indicators each need the gates) it is read once per view ([`tinhso_store::rollup::once`]).
pub async fn list(db: &Db) -> Result<Vec<Gate>, AppError> {
    tinhso_store::rollup::once("border.gates", current(db)).await
}

/// The registry under its current generation: this node's copy, or read and kept.
async fn current(db: &Db) -> Result<Vec<Gate>, AppError> {
    let g = generation(db).await?;
    if let Some(gates) = COPIES.get(db.url(), g) {
        return Ok(gates.as_ref().clone());
    }
    let gates = read_all(db).await?;
    COPIES.put(db.url(), g, Arc::new(gates.clone()));
    Ok(gates)
}

/// The gates as stored: four statements (gates, capacities, yards, agencies).
async fn read_all(db: &Db) -> Result<Vec<Gate>, AppError> {
    let mut conn = db.read_conn().await?;
    let rows = sqlx::query(
        "SELECT code, name_vi, name_en, name_zh, kind, commune_code, opens_minute, closes_minute, lanes \
         FROM border_gates ORDER BY position",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(DbError::from)?;
    let mut gates = Vec::with_capacity(rows.len());
    for r in rows {
        gates.push(Gate {
            code: r.try_get(0).map_err(DbError::from)?,
            name_vi: r.try_get(1).map_err(DbError::from)?,
            name_en: r.try_get(2).map_err(DbError::from)?,
            name_zh: r.try_get(3).map_err(DbError::from)?,
            kind: r.try_get(4).map_err(DbError::from)?,
            commune_code: r.try_get(5).map_err(DbError::from)?,
            opens: hhmm(r.try_get(6).map_err(DbError::from)?),
            closes: hhmm(r.try_get(7).map_err(DbError::from)?),
            lanes: r.try_get(8).map_err(DbError::from)?,
            capacity: Vec::new(),
            yards: Vec::new(),
            agencies: Vec::new(),
        });
    }
    let caps =
        sqlx::query("SELECT gate_code, direction, per_hour, per_day FROM border_gate_capacity")
            .fetch_all(&mut *conn)
            .await
            .map_err(DbError::from)?;
    for r in caps {
        let gate: String = r.try_get(0).map_err(DbError::from)?;
        let dir: String = r.try_get(1).map_err(DbError::from)?;
        if let (Some(g), Some(direction)) = (
            gates.iter_mut().find(|g| g.code == gate),
            Direction::parse(&dir),
        ) {
            g.capacity.push(Capacity {
                direction,
                per_hour: r.try_get(2).map_err(DbError::from)?,
                per_day: r.try_get(3).map_err(DbError::from)?,
            });
        }
    }
    let yards = sqlx::query(
        "SELECT gate_code, code, name_vi, kind, capacity FROM border_yards ORDER BY gate_code, code",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(DbError::from)?;
    for r in yards {
        let gate: String = r.try_get(0).map_err(DbError::from)?;
        if let Some(g) = gates.iter_mut().find(|g| g.code == gate) {
            g.yards.push(Yard {
                code: r.try_get(1).map_err(DbError::from)?,
                name_vi: r.try_get(2).map_err(DbError::from)?,
                kind: r.try_get(3).map_err(DbError::from)?,
                capacity: r.try_get(4).map_err(DbError::from)?,
            });
        }
    }
    let agencies =
        sqlx::query("SELECT gate_code, check_kind, agency_code FROM border_gate_agencies")
            .fetch_all(&mut *conn)
            .await
            .map_err(DbError::from)?;
    for r in agencies {
        let gate: String = r.try_get(0).map_err(DbError::from)?;
        let kind: String = r.try_get(1).map_err(DbError::from)?;
        if let (Some(g), Some(check)) = (
            gates.iter_mut().find(|g| g.code == gate),
            CheckKind::parse(&kind),
        ) {
            g.agencies.push(GateAgency {
                check,
                agency: r.try_get(2).map_err(DbError::from)?,
            });
        }
    }
    for g in &mut gates {
        g.capacity.sort_by_key(|c| c.direction);
    }
    Ok(gates)
}

/// One gate by code.
pub async fn get(db: &Db, code: &str) -> Result<Option<Gate>, AppError> {
    Ok(list(db).await?.into_iter().find(|g| g.code == code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_gates_parse() {
        let gates = parse(GATES_TOML).unwrap();
        let codes: Vec<_> = gates.iter().map(|g| g.code.as_str()).collect();
        assert_eq!(codes, ["HN", "TT", "CM", "CN", "DD"]);
        let hn = &gates[0];
        assert!(hn.is_open_at(NaiveTime::from_hms_opt(7, 0, 0).unwrap()));
        assert!(!hn.is_open_at(NaiveTime::from_hms_opt(23, 0, 0).unwrap()));
        assert_eq!(hn.agency_for(CheckKind::Customs), Some("000.01.01.Z37"));
        assert!(gates[3].capacity_for(Direction::Transit).is_none());
    }

    #[test]
    fn bad_files_name_the_gate() {
        let bad = GATES_TOML.replacen("opens = \"07:00\"", "opens = \"7h\"", 1);
        assert!(parse(&bad).unwrap_err().contains("gate HN"));
        let twice = format!(
            "{GATES_TOML}\n{}",
            &GATES_TOML[GATES_TOML.find("[[gate]]").unwrap()..]
        );
        assert!(parse(&twice).unwrap_err().contains("twice"));
    }
}
