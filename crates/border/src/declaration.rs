//! The trip declaration (tờ khai phương tiện, hàng hoá qua cửa khẩu): declared once from a
//! phone, corrected in place and versioned.
//!
//! A declaration names the enterprise (MST), the gate and the direction (xuất khẩu, nhập khẩu,
//! quá cảnh, chuyển tải), the expected arrival, the truck or tractor, an optional trailer, the
//! driver, the customs declaration number (số tờ khai hải quan, 12 digits in VNACCS) and the
//! goods lines (8-digit AHTN code, quantity, unit, weight). Perishability and quarantine come
//! from the goods catalogue ([`crate::hs`]), not from the declarer.
//!
//! **Corrections** ([`correct`]) rewrite the declaration in place, keep the earlier version in
//! `border_trip_versions` with the fields that changed (field → before, after), and put the
//! change on the audit trail — nothing is redone. The caller states the version it corrects;
//! a correction of a stale version is a 409. Once the truck has reached the gate the gate and
//! the direction are fixed; once it has crossed nothing changes.
//!
//! Validation collects every field error before answering (Vietnamese and English), and
//! writes nothing when there is one: unknown HS codes, an arrival outside the gate's opening
//! hours, goods heavier than the vehicle may carry, a trailer plate given as the truck, a
//! vehicle that already has an active trip (409).

use crate::gates::{self, Direction, Gate};
use crate::hs;
use crate::registry::{self, Driver, DriverInput, Vehicle};
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::BTreeMap;
use tinhso_identity::ResourceScope;
use tinhso_kernel::{validate, AppError, ErrorCode, FieldErrors, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::native::{Param, RowRead};
use tinhso_store::{now_micros, Db, DbError, Exec};

/// Most goods lines on one declaration.
pub const MAX_GOODS_LINES: usize = 30;
/// How far ahead a trip may be declared.
pub const MAX_DAYS_AHEAD: i64 = 30;
/// How far in the past an expected arrival may be (a phone whose clock is a little off, a
/// truck declaring on arrival).
pub const PAST_TOLERANCE_MINUTES: i64 = 60;

pub use crate::journey::Stage;

/// One goods line as declared.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct GoodsLineInput {
    /// 8-digit AHTN code; dots and spaces are ignored (`0810.60.00`).
    pub hs_code: String,
    /// Free description; the catalogue's name when empty.
    #[serde(default)]
    pub description: String,
    pub quantity: f64,
    /// Đơn vị tính: `kg`, `tấn`, `thùng`, `kiện`, `container`, …
    pub unit: String,
    /// Gross weight, kilograms.
    pub weight_kg: i64,
}

/// A declaration as the enterprise or driver sends it (also the body of a correction).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct DeclarationInput {
    /// Mã số thuế of the enterprise (10 digits, or 13 with a branch suffix).
    pub enterprise_mst: String,
    pub enterprise_name: String,
    #[serde(default)]
    pub enterprise_phone: String,
    /// Gate code: `HN`, `TT`, `CM`, `CN`, `DD`.
    pub gate: String,
    /// `export`, `import`, `transit` or `transshipment`.
    pub direction: String,
    /// Local time (Asia/Ho_Chi_Minh) `YYYY-MM-DDTHH:MM`.
    pub expected_arrival: String,
    /// The truck's or tractor's plate, typed any way.
    pub vehicle_plate: String,
    /// `white`, `yellow` (default), `blue`, `green`, `red`.
    #[serde(default)]
    pub vehicle_plate_colour: String,
    /// Tải trọng hàng hoá cho phép of the truck (for a tractor: of the trailer), kilograms.
    pub vehicle_payload_kg: i64,
    /// The trailer's plate (series R), if any.
    #[serde(default)]
    pub trailer_plate: String,
    #[serde(default)]
    pub trailer_payload_kg: i64,
    #[schema(value_type = Object)]
    pub driver: DriverInput,
    /// Số tờ khai hải quan (VNACCS, 12 digits).
    pub customs_declaration: String,
    pub goods: Vec<GoodsLineInput>,
}

/// A checked goods line.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GoodsLine {
    pub hs_code: String,
    pub description: String,
    pub quantity: f64,
    pub unit: String,
    pub weight_kg: i64,
    pub perishable: bool,
    pub quarantine: String,
}

/// A declaration that passed every check.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub enterprise_mst: String,
    pub enterprise_name: String,
    pub enterprise_phone: String,
    pub gate: Gate,
    pub direction: Direction,
    pub expected_arrival: i64,
    pub vehicle: Vehicle,
    pub trailer: Option<Vehicle>,
    pub driver: Driver,
    pub customs_declaration: String,
    pub goods: Vec<GoodsLine>,
    pub total_weight_kg: i64,
    pub perishable: bool,
    pub quarantine: String,
}

/// Vietnam's offset (UTC+7, no daylight saving).
pub fn vn() -> FixedOffset {
    tinhso_http::layout::vn_offset()
}

/// Local `YYYY-MM-DDTHH:MM` (or with a space, or with seconds) → Unix microseconds.
pub fn parse_local(s: &str) -> Option<i64> {
    let s = s.trim();
    let naive = [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())?;
    vn().from_local_datetime(&naive)
        .single()
        .map(|t| t.timestamp_micros())
}

/// Unix microseconds → local time.
pub fn local(micros: i64) -> DateTime<FixedOffset> {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .unwrap_or_default()
        .with_timezone(&vn())
}

fn customs_number(s: &str) -> Result<String, Invalid> {
    let t: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if t.len() == 12 && t.chars().all(|c| c.is_ascii_digit()) {
        Ok(t)
    } else {
        Err(Invalid::new(
            "customs_declaration",
            "Số tờ khai hải quan gồm 12 chữ số (hệ thống VNACCS), ví dụ 105123456789",
            "The customs declaration number has 12 digits (VNACCS), e.g. 105123456789",
        ))
    }
}

fn thousands(n: i64) -> String {
    tinhso_kernel::money::Vnd(n)
        .to_string()
        .trim_end_matches(" ₫")
        .to_string()
}

/// Check a declaration against the registry of gates and the goods catalogue at `now`.
pub async fn check(db: &Db, input: &DeclarationInput, now: i64) -> Result<Checked, AppError> {
    let gate = gates::get(db, input.gate.trim()).await?;
    check_with(gate, input, now)
}

/// [`check`] with the declared gate already looked up (`None`: no such gate), for callers
/// that check many declarations (the simulator's bulk path).
pub fn check_with(
    gate: Option<Gate>,
    input: &DeclarationInput,
    now: i64,
) -> Result<Checked, AppError> {
    let mut errs = FieldErrors::new();
    let mst = errs
        .check("enterprise_mst", validate::mst(&input.enterprise_mst))
        .map(|m| m.canonical);
    let name = errs.check(
        "enterprise_name",
        validate::required(&input.enterprise_name).and_then(|n| validate::length(&n, 2, 200)),
    );
    let enterprise_phone = if input.enterprise_phone.trim().is_empty() {
        Some(String::new())
    } else {
        errs.check(
            "enterprise_phone",
            registry::driver_phone(&input.enterprise_phone),
        )
    };
    if gate.is_none() {
        errs.push(
            "gate",
            Invalid::new(
                "gate",
                "Chọn cửa khẩu: Hữu Nghị, Tân Thanh, Chi Ma, Cốc Nam hoặc ga Đồng Đăng",
                "Choose a gate: Huu Nghi, Tan Thanh, Chi Ma, Coc Nam or Dong Dang station",
            ),
        );
    }
    let direction = Direction::parse(&input.direction);
    match (&gate, direction) {
        (_, None) => errs.push(
            "direction",
            Invalid::new(
                "direction",
                "Chọn loại hình: xuất khẩu, nhập khẩu, quá cảnh hoặc chuyển tải",
                "Choose export, import, transit or transshipment",
            ),
        ),
        (Some(g), Some(d)) if g.capacity_for(d).is_none() => errs.push(
            "direction",
            Invalid::new(
                "direction_at_gate",
                format!(
                    "{} không làm thủ tục {}",
                    g.name_vi,
                    d.name_vi().to_lowercase()
                ),
                format!(
                    "{} does not handle {}",
                    g.name_en,
                    d.name_en().to_lowercase()
                ),
            ),
        ),
        _ => {}
    }
    let arrival = parse_local(&input.expected_arrival);
    match arrival {
        None => errs.push(
            "expected_arrival",
            Invalid::new(
                "datetime",
                "Nhập thời gian dự kiến đến theo dạng năm-tháng-ngày giờ:phút, ví dụ 2026-12-01T08:30",
                "Enter the expected arrival as year-month-day hour:minute, e.g. 2026-12-01T08:30",
            ),
        ),
        Some(t) if t < now - PAST_TOLERANCE_MINUTES * 60_000_000 => errs.push(
            "expected_arrival",
            Invalid::new(
                "arrival_past",
                "Thời gian dự kiến đến đã qua; hãy nhập thời gian sắp tới",
                "The expected arrival is in the past; enter a time to come",
            ),
        ),
        Some(t) if t > now + MAX_DAYS_AHEAD * 86_400_000_000 => errs.push(
            "expected_arrival",
            Invalid::new(
                "arrival_far",
                format!("Chỉ khai báo trước tối đa {MAX_DAYS_AHEAD} ngày"),
                format!("Trips are declared at most {MAX_DAYS_AHEAD} days ahead"),
            ),
        ),
        Some(t) => {
            if let Some(g) = &gate {
                if !g.is_open_at(local(t).time()) {
                    errs.push(
                        "expected_arrival",
                        Invalid::new(
                            "gate_closed",
                            format!(
                                "{} làm việc từ {} đến {}; hãy chọn giờ đến trong thời gian này",
                                g.name_vi, g.opens, g.closes
                            ),
                            format!(
                                "{} is open from {} to {}; choose an arrival within these hours",
                                g.name_en, g.opens, g.closes
                            ),
                        ),
                    );
                }
            }
        }
    }
    let vehicle = registry::check_vehicle(
        &input.vehicle_plate,
        &input.vehicle_plate_colour,
        input.vehicle_payload_kg,
        false,
        "vehicle",
        &mut errs,
    );
    let trailer = if input.trailer_plate.trim().is_empty() {
        None
    } else {
        registry::check_vehicle(
            &input.trailer_plate,
            &input.vehicle_plate_colour,
            input.trailer_payload_kg,
            true,
            "trailer",
            &mut errs,
        )
    };
    let driver = registry::check_driver(&input.driver, "driver", &mut errs);
    let customs = errs.check(
        "customs_declaration",
        customs_number(&input.customs_declaration),
    );
    if input.goods.is_empty() || input.goods.len() > MAX_GOODS_LINES {
        errs.push(
            "goods",
            Invalid::new(
                "goods_count",
                format!("Khai từ 1 đến {MAX_GOODS_LINES} dòng hàng"),
                format!("Declare 1 to {MAX_GOODS_LINES} goods lines"),
            ),
        );
    }
    let mut goods = Vec::new();
    for (i, g) in input.goods.iter().enumerate() {
        let f = |k: &str| format!("goods[{i}].{k}");
        let entry = hs::lookup(&g.hs_code);
        if entry.is_none() {
            let hint = hs::search(&g.description, 1)
                .first()
                .map(|e| format!(" (gợi ý: {} {})", e.code, e.name_vi))
                .unwrap_or_default();
            errs.push(
                &f("hs_code"),
                Invalid::new(
                    "hs_code",
                    format!(
                        "Mã HS \"{}\" không có trong danh mục; tìm mã theo tên hàng{hint}",
                        g.hs_code.trim()
                    ),
                    format!(
                        "HS code \"{}\" is not in the nomenclature; search by the goods' name",
                        g.hs_code.trim()
                    ),
                ),
            );
        }
        if !(g.quantity.is_finite() && g.quantity > 0.0) {
            errs.push(
                &f("quantity"),
                Invalid::new(
                    "quantity",
                    "Số lượng phải lớn hơn 0",
                    "Quantity must be above 0",
                ),
            );
        }
        let unit = errs.check(
            &f("unit"),
            validate::required(&g.unit).and_then(|u| validate::length(&u, 1, 20)),
        );
        if !(1..=80_000).contains(&g.weight_kg) {
            errs.push(
                &f("weight_kg"),
                Invalid::new(
                    "weight",
                    "Khối lượng tính bằng kg, từ 1 đến 80.000",
                    "Weight is in kilograms, from 1 to 80,000",
                ),
            );
        }
        let description = errs.check(&f("description"), validate::length(&g.description, 0, 300));
        if let (Some(e), Some(unit), Some(description)) = (entry, unit, description) {
            goods.push(GoodsLine {
                hs_code: e.code.clone(),
                description: if description.is_empty() {
                    e.name_vi.clone()
                } else {
                    description
                },
                quantity: g.quantity,
                unit,
                weight_kg: g.weight_kg,
                perishable: e.perishable,
                quarantine: e.quarantine.clone(),
            });
        }
    }
    let total: i64 = input.goods.iter().map(|g| g.weight_kg.max(0)).sum();
    if let Some(v) = &vehicle {
        let capacity = v.payload_kg + trailer.as_ref().map_or(0, |t| t.payload_kg);
        if total > capacity {
            errs.push(
                "goods",
                Invalid::new(
                    "overweight",
                    format!(
                        "Tổng khối lượng hàng {} kg vượt tải trọng cho phép của phương tiện ({} kg)",
                        thousands(total),
                        thousands(capacity)
                    ),
                    format!(
                        "The goods weigh {total} kg, more than the vehicle may carry ({capacity} kg)"
                    ),
                ),
            );
        }
    }
    // Goods that need a quarantine the gate has no office for cannot cross there.
    if let Some(g) = &gate {
        for (i, line) in goods.iter().enumerate() {
            for q in line.quarantine.split(',').filter(|q| !q.is_empty()) {
                let (kind, vi, en) = match q {
                    "animal" => (
                        gates::CheckKind::AnimalQuarantine,
                        "kiểm dịch động vật",
                        "animal quarantine",
                    ),
                    _ => (
                        gates::CheckKind::PlantQuarantine,
                        "kiểm dịch thực vật",
                        "plant quarantine",
                    ),
                };
                if g.agency_for(kind).is_none() {
                    errs.push(
                        &format!("goods[{i}].hs_code"),
                        Invalid::new(
                            "quarantine_at_gate",
                            format!(
                                "Hàng này cần {vi}, nhưng {} không có cơ quan {vi}; hãy chọn cửa khẩu khác",
                                g.name_vi
                            ),
                            format!(
                                "These goods need {en}, which {} does not have; choose another gate",
                                g.name_en
                            ),
                        ),
                    );
                }
            }
        }
    }
    errs.into_result()?;
    let missing = || AppError::internal("declaration field missing after validation");
    let mut quarantine: Vec<&str> = goods
        .iter()
        .flat_map(|g| g.quarantine.split(','))
        .filter(|q| !q.is_empty())
        .collect();
    quarantine.sort_unstable();
    quarantine.dedup();
    Ok(Checked {
        enterprise_mst: mst.ok_or_else(missing)?,
        enterprise_name: name.ok_or_else(missing)?,
        enterprise_phone: enterprise_phone.ok_or_else(missing)?,
        gate: gate.ok_or_else(missing)?,
        direction: direction.ok_or_else(missing)?,
        expected_arrival: arrival.ok_or_else(missing)?,
        vehicle: vehicle.ok_or_else(missing)?,
        trailer,
        driver: driver.ok_or_else(missing)?,
        customs_declaration: customs.ok_or_else(missing)?,
        perishable: goods.iter().any(|g| g.perishable),
        quarantine: quarantine.join(","),
        total_weight_kg: total,
        goods,
    })
}

/// The declaration as flat `field → value` pairs: what a version stores and what a
/// correction's diff compares.
pub fn flatten(c: &Checked) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_string(), v);
    };
    put("enterprise_mst", c.enterprise_mst.clone());
    put("enterprise_name", c.enterprise_name.clone());
    put("enterprise_phone", c.enterprise_phone.clone());
    put("gate", c.gate.code.clone());
    put("direction", c.direction.as_str().to_string());
    put(
        "expected_arrival",
        local(c.expected_arrival)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
    );
    put("vehicle.plate", c.vehicle.plate.canonical.clone());
    put("vehicle.plate_colour", c.vehicle.plate_colour.clone());
    put("vehicle.payload_kg", c.vehicle.payload_kg.to_string());
    put(
        "trailer.plate",
        c.trailer
            .as_ref()
            .map(|t| t.plate.canonical.clone())
            .unwrap_or_default(),
    );
    put(
        "trailer.payload_kg",
        c.trailer
            .as_ref()
            .map(|t| t.payload_kg.to_string())
            .unwrap_or_default(),
    );
    put("driver.id", c.driver.id());
    put("driver.full_name", c.driver.full_name.clone());
    put("driver.phone", c.driver.phone.clone());
    put("driver.nationality", c.driver.nationality.clone());
    put("customs_declaration", c.customs_declaration.clone());
    for (i, g) in c.goods.iter().enumerate() {
        put(&format!("goods[{i}].hs_code"), g.hs_code.clone());
        put(&format!("goods[{i}].description"), g.description.clone());
        put(&format!("goods[{i}].quantity"), g.quantity.to_string());
        put(&format!("goods[{i}].unit"), g.unit.clone());
        put(&format!("goods[{i}].weight_kg"), g.weight_kg.to_string());
    }
    m
}

/// What changed between two flattened versions: field → (before, after); a field missing on
/// one side is an empty string there.
pub fn diff(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for k in before.keys().chain(after.keys()) {
        let b = before.get(k).cloned().unwrap_or_default();
        let a = after.get(k).cloned().unwrap_or_default();
        if a != b {
            out.insert(k.clone(), (b, a));
        }
    }
    out
}

/// A stored trip (chuyến) with its current declaration.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Trip {
    pub id: String,
    /// `HN-261129-00001`.
    pub code: String,
    pub version: i64,
    pub enterprise_mst: String,
    pub enterprise_name: String,
    pub gate: String,
    pub direction: String,
    /// Unix microseconds.
    pub expected_arrival: i64,
    pub vehicle_plate: String,
    pub trailer_plate: Option<String>,
    pub driver_id: String,
    pub driver_name: String,
    pub driver_phone: String,
    pub customs_declaration: String,
    pub total_weight_kg: i64,
    pub perishable: bool,
    pub quarantine: String,
    pub stage: String,
    pub stage_at: i64,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    #[schema(value_type = Vec<Object>)]
    pub goods: Vec<GoodsLine>,
}

impl Trip {
    pub fn stage(&self) -> Stage {
        Stage::parse(&self.stage).unwrap_or(Stage::Declared)
    }

    pub fn direction(&self) -> Option<Direction> {
        Direction::parse(&self.direction)
    }
}

/// One version of a declaration.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Version {
    pub version: i64,
    /// field → [before, after]; empty for the first version.
    pub changes: BTreeMap<String, (String, String)>,
    pub reason: String,
    pub changed_by: String,
    pub changed_at: i64,
}

/// Where a trip sits for authorization: its declarer owns it; the agencies at its gate (and
/// their parents) reach it.
pub async fn scope_of(db: &Db, t: &Trip) -> Result<ResourceScope, AppError> {
    let mut agencies = Vec::new();
    if let Some(g) = gates::get(db, &t.gate).await? {
        for a in &g.agencies {
            for code in tinhso_refdata::agencies::ancestors(db, &a.agency).await? {
                if !agencies.contains(&code) {
                    agencies.push(code);
                }
            }
        }
    }
    Ok(ResourceScope {
        agencies,
        commune: None,
        owner_user_id: Some(t.created_by.clone()),
    })
}

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

async fn next_code<E: Exec>(tx: &mut E, gate: &str, now: i64) -> Result<String, AppError> {
    let day = local(now).format("%y%m%d").to_string();
    let name = format!("trip:{gate}:{day}");
    let n = crate::bulk::take_numbers(tx, &name, 1).await?;
    Ok(format!("{gate}-{day}-{n:05}"))
}

async fn write_registries<E: Exec>(
    tx: &mut E,
    c: &Checked,
    user_id: &str,
) -> Result<String, AppError> {
    registry::upsert_enterprise(
        tx,
        &c.enterprise_mst,
        &c.enterprise_name,
        &c.enterprise_phone,
        user_id,
    )
    .await?;
    registry::upsert_vehicle(tx, &c.vehicle, &c.enterprise_mst).await?;
    if let Some(t) = &c.trailer {
        registry::upsert_vehicle(tx, t, &c.enterprise_mst).await?;
    }
    registry::upsert_driver(tx, &c.driver).await
}

/// Replace a trip's goods lines (dòng hàng) with `goods`, numbered from 1.
async fn write_goods<E: Exec>(
    tx: &mut E,
    trip_id: &str,
    goods: &[GoodsLine],
) -> Result<(), AppError> {
    tx.execute(
        "DELETE FROM border_goods_lines WHERE trip_id = $1",
        &[Param::Text(trip_id)],
    )
    .await?;
    let params: Vec<Param<'_>> = goods
        .iter()
        .enumerate()
        .flat_map(|(i, g)| {
            [
                Param::Text(trip_id),
                Param::Int(i as i64 + 1),
                Param::Text(&g.hs_code),
                Param::Text(&g.description),
                Param::Float(g.quantity),
                Param::Text(&g.unit),
                Param::Int(g.weight_kg),
                Param::Int(i64::from(g.perishable)),
                Param::Text(&g.quarantine),
            ]
        })
        .collect();
    tx.insert_rows(
        "border_goods_lines",
        &[
            "trip_id",
            "line_no",
            "hs_code",
            "description",
            "quantity",
            "unit",
            "weight_kg",
            "perishable",
            "quarantine",
        ],
        &params,
    )
    .await?;
    Ok(())
}

/// The declared columns of `border_trips`, in the order both the insert of a declaration and
/// the update of a correction bind them: enterprise, gate, direction, vehicle, trailer, driver,
/// expected arrival, customs declaration, total weight, perishable, quarantine.
fn declared_params<'a>(c: &'a Checked, driver_id: &'a str) -> [Param<'a>; 11] {
    [
        Param::Text(&c.enterprise_mst),
        Param::Text(&c.gate.code),
        Param::Text(c.direction.as_str()),
        Param::Text(&c.vehicle.plate.canonical),
        Param::OptText(c.trailer.as_ref().map(|t| t.plate.canonical.as_str())),
        Param::Text(driver_id),
        Param::Int(c.expected_arrival),
        Param::Text(&c.customs_declaration),
        Param::Int(c.total_weight_kg),
        Param::Int(i64::from(c.perishable)),
        Param::Text(&c.quarantine),
    ]
}

fn vehicle_busy(plate: &str) -> AppError {
    AppError::conflict(
        format!("Xe {plate} đang có một chuyến chưa kết thúc; hãy sửa tờ khai đó thay vì khai mới"),
        format!("Vehicle {plate} has a trip that is not over; correct that declaration instead of declaring anew"),
    )
}

/// Declare a trip: registries, the trip, its goods, version 1, the `declared` stage, the audit
/// entry (`border.trip.declare`) and the outbox event (`border.trip.declared`), in one
/// transaction.
pub async fn declare(
    db: &Db,
    ctx: &Ctx,
    user_id: &str,
    input: &DeclarationInput,
) -> Result<Trip, AppError> {
    let now = now_micros();
    let c = check(db, input, now).await?;
    let id = uuid::Uuid::now_v7().to_string();
    // Native on SQLite: the statements run on this thread (see `tinhso_store::exec`).
    let mut tx = db.begin_native().await?;
    if active_trip_of(&mut tx, &c.vehicle.plate.canonical)
        .await?
        .is_some()
    {
        return Err(vehicle_busy(&c.vehicle.plate.canonical));
    }
    let driver_id = write_registries(&mut tx, &c, user_id).await?;
    let code = next_code(&mut tx, &c.gate.code, now).await?;
    let inserted = tx
        .execute(
            "INSERT INTO border_trips (id, code, version, enterprise_mst, gate_code, direction, vehicle_plate, \
             trailer_plate, driver_id, expected_arrival, customs_declaration, total_weight_kg, perishable, \
             quarantine, stage, stage_at, created_by, created_at, updated_at) \
             VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'declared', $14, $15, $14, $14)",
            &[
                &[Param::Text(&id), Param::Text(&code)][..],
                &declared_params(&c, &driver_id),
                &[Param::Int(now), Param::Text(user_id)],
            ]
            .concat(),
        )
        .await;
    if let Err(e) = inserted {
        // The partial unique index on active trips per vehicle: a concurrent declaration won.
        return Err(if e.is_unique_violation() {
            vehicle_busy(&c.vehicle.plate.canonical)
        } else {
            e.into()
        });
    }
    write_goods(&mut tx, &id, &c.goods).await?;
    let snapshot = flatten(&c);
    insert_version(
        &mut tx,
        &NewVersion {
            trip_id: &id,
            version: 1,
            snapshot: &snapshot,
            changes: &BTreeMap::new(),
            reason: "",
            user_id,
            now,
        },
    )
    .await?;
    tx.execute(
        "INSERT INTO border_trip_stages (trip_id, stage, at, source) VALUES ($1, 'declared', $2, 'declaration')",
        &[Param::Text(&id), Param::Int(now)],
    )
    .await?;
    tx.audit(&ctx.entry(
        "border.trip.declare",
        "border_trip",
        &code,
        &c.gate.code,
        serde_json::json!({"after": {"gate": c.gate.code, "direction": c.direction.as_str(),
            "vehicle": c.vehicle.plate.canonical, "goods_lines": c.goods.len(),
            "total_weight_kg": c.total_weight_kg}}),
    ))
    .await?;
    tx.emit(
        "border.trip.declared",
        &serde_json::json!({"code": code, "gate": c.gate.code, "direction": c.direction.as_str(),
            "expected_arrival": c.expected_arrival, "perishable": c.perishable}),
    )
    .await?;
    tx.commit().await?;
    get(db, &code)
        .await?
        .ok_or_else(|| AppError::internal("trip vanished after declaring"))
}

/// One row of `border_trip_versions`: the declaration at `version` and what changed from the
/// version before.
struct NewVersion<'a> {
    trip_id: &'a str,
    version: i64,
    snapshot: &'a BTreeMap<String, String>,
    changes: &'a BTreeMap<String, (String, String)>,
    reason: &'a str,
    user_id: &'a str,
    now: i64,
}

async fn insert_version<E: Exec>(tx: &mut E, v: &NewVersion<'_>) -> Result<(), AppError> {
    let snapshot = serde_json::to_string(v.snapshot).map_err(AppError::internal)?;
    let changes = serde_json::to_string(v.changes).map_err(AppError::internal)?;
    tx.execute(
        "INSERT INTO border_trip_versions (trip_id, version, snapshot, changes, reason, changed_by, changed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            Param::Text(v.trip_id),
            Param::Int(v.version),
            Param::Text(&snapshot),
            Param::Text(&changes),
            Param::Text(v.reason),
            Param::Text(v.user_id),
            Param::Int(v.now),
        ],
    )
    .await?;
    Ok(())
}

async fn active_trip_of<E: Exec>(tx: &mut E, plate: &str) -> Result<Option<String>, AppError> {
    Ok(tx
        .row(
            "SELECT code FROM border_trips WHERE vehicle_plate = $1 \
             AND stage NOT IN ('crossed', 'returned', 'exited', 'cancelled')",
            &[Param::Text(plate)],
            |r| r.text(0),
        )
        .await?)
}

/// A correction of a declaration (sửa tờ khai): who corrects which trip, from which version,
/// to what, and why.
#[derive(Debug, Clone, Copy)]
pub struct Correction<'a> {
    /// The user correcting (`changed_by` of the new version).
    pub user_id: &'a str,
    /// The trip's code (`HN-261129-00001`).
    pub code: &'a str,
    /// The version the corrector saw: a stale one is a 409.
    pub version: i64,
    /// The whole declaration as corrected.
    pub input: &'a DeclarationInput,
    /// Why (lý do sửa), required, 3 to 500 characters.
    pub reason: &'a str,
}

/// Correct a declaration in place. Returns the trip at its new version.
pub async fn correct(db: &Db, ctx: &Ctx, c: &Correction<'_>) -> Result<Trip, AppError> {
    correct_at(db, ctx, c, now_micros()).await
}

/// [`correct`] on a given clock (`now`, Unix µs): the traffic simulator corrects declarations
/// in simulated time.
pub async fn correct_at(
    db: &Db,
    ctx: &Ctx,
    c: &Correction<'_>,
    now: i64,
) -> Result<Trip, AppError> {
    let gate = gates::get(db, c.input.gate.trim()).await?;
    correct_with(db, ctx, c, now, gate).await
}

/// [`correct_at`] with the declared gate already looked up (`None`: no such gate), as
/// [`check_with`]: for a caller that holds the gate registry (the simulator). The writes run
/// in one transaction, natively on a SQLite file ([`Db::begin_native`]).
pub async fn correct_with(
    db: &Db,
    ctx: &Ctx,
    correction: &Correction<'_>,
    now: i64,
    gate: Option<Gate>,
) -> Result<Trip, AppError> {
    let Correction {
        user_id,
        code,
        version,
        input,
        reason,
    } = *correction;
    // The trip and its current version's snapshot in one read (the update below applies only
    // if the version is still the one corrected, so the snapshot is that version's).
    let (trip, before) = head_and_snapshot(db, code)
        .await?
        .ok_or_else(AppError::not_found)?;
    let reason = validate::required(reason)
        .and_then(|r| validate::length(&r, 3, 500))
        .map_err(|e| AppError::field("reason", e))?;
    if trip.stage().is_over() {
        return Err(AppError::new(ErrorCode::Conflict).with_detail(
            format!(
                "Chuyến {code} đã kết thúc ({}); không sửa được tờ khai",
                trip.stage().name_vi()
            ),
            format!(
                "Trip {code} is over ({}); its declaration cannot be corrected",
                trip.stage().name_en()
            ),
        ));
    }
    // A correction may be sent before the truck's arrival time has passed; after that, the
    // original arrival stays acceptable.
    let c = check_with(gate, input, now.min(trip.expected_arrival))?;
    if trip.stage().arrived()
        && (c.gate.code != trip.gate || c.direction.as_str() != trip.direction)
    {
        return Err(AppError::field(
            "gate",
            Invalid::new(
                "gate_fixed",
                "Xe đã đến cửa khẩu: không đổi cửa khẩu hoặc loại hình được nữa",
                "The truck has reached the gate: the gate and the direction can no longer change",
            ),
        ));
    }
    let after = flatten(&c);
    let changes = diff(&before, &after);
    if changes.is_empty() {
        return Err(AppError::new(ErrorCode::ValidationFailed).with_detail(
            "Tờ khai không có gì thay đổi",
            "Nothing in the declaration changed",
        ));
    }
    // Native on SQLite: the statements run on this thread (see `tinhso_store::exec`).
    let mut tx = db.begin_native().await?;
    if c.vehicle.plate.canonical != trip.vehicle_plate {
        if let Some(other) = active_trip_of(&mut tx, &c.vehicle.plate.canonical).await? {
            if other != trip.code {
                return Err(vehicle_busy(&c.vehicle.plate.canonical));
            }
        }
    }
    let driver_id = write_registries(&mut tx, &c, user_id).await?;
    let new_version = trip.version + 1;
    // The stage as it is now (what a re-read after the commit gave): the trip is returned
    // from what was written, without reading it again.
    let updated = tx
        .row(
            "UPDATE border_trips SET version = $1, enterprise_mst = $2, gate_code = $3, direction = $4, \
             vehicle_plate = $5, trailer_plate = $6, driver_id = $7, expected_arrival = $8, \
             customs_declaration = $9, total_weight_kg = $10, perishable = $11, quarantine = $12, \
             updated_at = $13 WHERE id = $14 AND version = $15 RETURNING stage, stage_at",
            &[
                &[Param::Int(new_version)][..],
                &declared_params(&c, &driver_id),
                &[Param::Int(now), Param::Text(&trip.id), Param::Int(version)],
            ]
            .concat(),
            |r| Ok((r.text(0)?, r.int(1)?)),
        )
        .await;
    let stage = match updated {
        Ok(r) => r,
        Err(e) if e.is_unique_violation() => return Err(vehicle_busy(&c.vehicle.plate.canonical)),
        Err(e) => return Err(e.into()),
    };
    let Some((stage, stage_at)) = stage else {
        return Err(AppError::conflict(
            format!(
                "Tờ khai đã được sửa (nay là phiên bản {}); hãy tải lại rồi sửa tiếp",
                trip.version
            ),
            format!(
                "The declaration was changed meanwhile (now version {}); reload and correct again",
                trip.version
            ),
        ));
    };
    write_goods(&mut tx, &trip.id, &c.goods).await?;
    insert_version(
        &mut tx,
        &NewVersion {
            trip_id: &trip.id,
            version: new_version,
            snapshot: &after,
            changes: &changes,
            reason: &reason,
            user_id,
            now,
        },
    )
    .await?;
    tx.audit(&ctx.entry(
        "border.trip.correct",
        "border_trip",
        code,
        &c.gate.code,
        serde_json::json!({"version": new_version, "reason": reason, "changes": changes}),
    ))
    .await?;
    tx.emit(
        "border.trip.corrected",
        &serde_json::json!({"code": code, "version": new_version,
            "fields": changes.keys().collect::<Vec<_>>()}),
    )
    .await?;
    tx.commit().await?;
    Ok(Trip {
        version: new_version,
        enterprise_mst: c.enterprise_mst,
        enterprise_name: c.enterprise_name,
        gate: c.gate.code,
        direction: c.direction.as_str().to_string(),
        expected_arrival: c.expected_arrival,
        vehicle_plate: c.vehicle.plate.canonical,
        trailer_plate: c.trailer.map(|t| t.plate.canonical),
        driver_id,
        driver_name: c.driver.full_name,
        driver_phone: c.driver.phone,
        customs_declaration: c.customs_declaration,
        total_weight_kg: c.total_weight_kg,
        perishable: c.perishable,
        quarantine: c.quarantine,
        stage,
        stage_at,
        updated_at: now,
        goods: c.goods,
        ..trip
    })
}

/// The trip `code` without its goods lines, and its current version's snapshot (field →
/// value), in one statement: what a correction compares against. Read natively on a SQLite
/// file ([`Db::read_rows`]).
async fn head_and_snapshot(
    db: &Db,
    code: &str,
) -> Result<Option<(Trip, BTreeMap<String, String>)>, AppError> {
    let row = db
        .read_rows(
            &format!(
                "SELECT {TRIP_COLUMNS}, v.snapshot FROM border_trips t \
                 JOIN border_enterprises e ON e.mst = t.enterprise_mst \
                 JOIN border_drivers d ON d.id = t.driver_id \
                 LEFT JOIN border_trip_versions v ON v.trip_id = t.id AND v.version = t.version \
                 WHERE t.code = $1"
            ),
            &[Param::Text(code.trim())],
            |r| Ok((trip_from(r)?, r.opt_text(22)?)),
        )
        .await?
        .pop();
    let Some((trip, snapshot)) = row else {
        return Ok(None);
    };
    let snapshot = snapshot.ok_or_else(|| {
        AppError::internal(format!("trip {}: no version {}", trip.code, trip.version))
    })?;
    let before = serde_json::from_str(&snapshot).map_err(AppError::internal)?;
    Ok(Some((trip, before)))
}

/// Cancel a declaration that has not reached the gate.
pub async fn cancel(db: &Db, ctx: &Ctx, code: &str, reason: &str) -> Result<Trip, AppError> {
    cancel_at(db, ctx, code, reason, now_micros()).await
}

/// [`cancel`] on a given clock (`now`, Unix µs), for the traffic simulator.
pub async fn cancel_at(
    db: &Db,
    ctx: &Ctx,
    code: &str,
    reason: &str,
    now: i64,
) -> Result<Trip, AppError> {
    let trip = get(db, code).await?.ok_or_else(AppError::not_found)?;
    let reason = validate::required(reason).map_err(|e| AppError::field("reason", e))?;
    if trip.stage() != Stage::Declared {
        return Err(AppError::conflict(
            "Chỉ huỷ được tờ khai khi xe chưa đến cửa khẩu",
            "Only a trip that has not reached the gate can be cancelled",
        ));
    }
    // Native on SQLite: the statements run on this thread (see `tinhso_store::exec`).
    let mut tx = db.begin_native().await?;
    let n = tx
        .execute(
            "UPDATE border_trips SET stage = 'cancelled', stage_at = $1, updated_at = $1 \
             WHERE id = $2 AND stage = 'declared'",
            &[Param::Int(now), Param::Text(&trip.id)],
        )
        .await?;
    if n != 1 {
        return Err(AppError::conflict(
            "Trạng thái chuyến vừa thay đổi; hãy tải lại",
            "The trip's state just changed; reload",
        ));
    }
    tx.execute(
        "INSERT INTO border_trip_stages (trip_id, stage, at, source) VALUES ($1, 'cancelled', $2, 'declaration')",
        &[Param::Text(&trip.id), Param::Int(now)],
    )
    .await?;
    tx.audit(&ctx.entry(
        "border.trip.cancel",
        "border_trip",
        code,
        &trip.gate,
        serde_json::json!({"reason": reason}),
    ))
    .await?;
    tx.emit("border.trip.cancelled", &serde_json::json!({"code": code}))
        .await?;
    tx.commit().await?;
    get(db, code)
        .await?
        .ok_or_else(|| AppError::internal("trip vanished after cancelling"))
}

/// The tables [`TRIP_COLUMNS`] reads (`t`, `e`, `d`).
const TRIP_FROM: &str = "FROM border_trips t \
    JOIN border_enterprises e ON e.mst = t.enterprise_mst \
    JOIN border_drivers d ON d.id = t.driver_id";

const TRIP_COLUMNS: &str =
    "t.id, t.code, t.version, t.enterprise_mst, e.name, t.gate_code, t.direction, \
    t.expected_arrival, t.vehicle_plate, t.trailer_plate, t.driver_id, d.full_name, d.phone, \
    t.customs_declaration, t.total_weight_kg, t.perishable, t.quarantine, t.stage, t.stage_at, \
    t.created_by, t.created_at, t.updated_at";

fn trip_of(r: &sqlx::any::AnyRow) -> Result<Trip, AppError> {
    Ok(trip_from(r)?)
}

/// A trip from the columns of [`TRIP_COLUMNS`] (goods left empty), on either engine's rows.
fn trip_from(r: &dyn RowRead) -> Result<Trip, DbError> {
    Ok(Trip {
        id: r.text(0)?,
        code: r.text(1)?,
        version: r.int(2)?,
        enterprise_mst: r.text(3)?,
        enterprise_name: r.text(4)?,
        gate: r.text(5)?,
        direction: r.text(6)?,
        expected_arrival: r.int(7)?,
        vehicle_plate: r.text(8)?,
        trailer_plate: r.opt_text(9)?,
        driver_id: r.text(10)?,
        driver_name: r.text(11)?,
        driver_phone: r.text(12)?,
        customs_declaration: r.text(13)?,
        total_weight_kg: r.int(14)?,
        perishable: r.int(15)? != 0,
        quarantine: r.text(16)?,
        stage: r.text(17)?,
        stage_at: r.int(18)?,
        created_by: r.text(19)?,
        created_at: r.int(20)?,
        updated_at: r.int(21)?,
        goods: Vec::new(),
    })
}

/// A trip by its code, with its goods lines.
pub async fn get(db: &Db, code: &str) -> Result<Option<Trip>, AppError> {
    let mut conn = db.read_conn().await?;
    get_in(&mut conn, code).await
}

/// [`get`] on a given connection (a write transaction's, to see what it wrote).
pub async fn get_in(conn: &mut sqlx::AnyConnection, code: &str) -> Result<Option<Trip>, AppError> {
    let Some(mut trip) = get_head_in(conn, code).await? else {
        return Ok(None);
    };
    let lines = sqlx::query(
        "SELECT hs_code, description, quantity, unit, weight_kg, perishable, quarantine \
         FROM border_goods_lines WHERE trip_id = $1 ORDER BY line_no",
    )
    .bind(&trip.id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for r in lines {
        trip.goods.push(GoodsLine {
            hs_code: r.try_get(0).map_err(db_err)?,
            description: r.try_get(1).map_err(db_err)?,
            quantity: r.try_get(2).map_err(db_err)?,
            unit: r.try_get(3).map_err(db_err)?,
            weight_kg: r.try_get(4).map_err(db_err)?,
            perishable: r.try_get::<i64, _>(5).map_err(db_err)? != 0,
            quarantine: r.try_get(6).map_err(db_err)?,
        });
    }
    Ok(Some(trip))
}

/// [`get_in`] without the goods lines (`goods` left empty): for callers that need the trip's
/// own columns only — the agencies' checks read the quarantine class, stage and gate, once per
/// decision, and save a statement each.
pub(crate) async fn get_head_in(
    conn: &mut sqlx::AnyConnection,
    code: &str,
) -> Result<Option<Trip>, AppError> {
    let row = sqlx::query(&format!(
        "SELECT {TRIP_COLUMNS} {TRIP_FROM} WHERE t.code = $1"
    ))
    .bind(code.trim())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(trip_of(&row)?))
}

/// [`get_head_in`] in a write transaction of either kind ([`Exec`]).
pub(crate) async fn head_in(tx: &mut impl Exec, code: &str) -> Result<Option<Trip>, AppError> {
    Ok(tx
        .row(
            &format!("SELECT {TRIP_COLUMNS} {TRIP_FROM} WHERE t.code = $1"),
            &[Param::Text(code.trim())],
            trip_from,
        )
        .await?)
}

/// [`get_head_in`] of many trips in one statement (đọc chuyến theo lô), by code: the codes go
/// in as one JSON parameter ([`crate::bulk::rows_sql`]); a code with no trip is absent.
pub(crate) async fn heads_in(
    tx: &mut impl Exec,
    codes: &[String],
) -> Result<std::collections::HashMap<String, Trip>, AppError> {
    if codes.is_empty() {
        return Ok(Default::default());
    }
    let named = crate::bulk::codes_sql(tx.backend());
    let body = crate::bulk::codes_json(codes)?;
    let trips = tx
        .rows(
            &format!("SELECT {TRIP_COLUMNS} {TRIP_FROM} WHERE t.code IN ({named})"),
            &[Param::Text(&body)],
            trip_from,
        )
        .await?;
    Ok(trips.into_iter().map(|t| (t.code.clone(), t)).collect())
}

/// Trips declared by a user, newest first.
pub async fn list_mine(db: &Db, user_id: &str, limit: i64) -> Result<Vec<Trip>, AppError> {
    let rows = sqlx::query(&format!(
        "SELECT {TRIP_COLUMNS} FROM border_trips t \
         JOIN border_enterprises e ON e.mst = t.enterprise_mst \
         JOIN border_drivers d ON d.id = t.driver_id WHERE t.created_by = $1 \
         ORDER BY t.created_at DESC LIMIT $2"
    ))
    .bind(user_id)
    .bind(limit)
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    rows.iter().map(trip_of).collect()
}

/// Every version of a trip's declaration, oldest first.
pub async fn versions(db: &Db, trip_id: &str) -> Result<Vec<Version>, AppError> {
    let rows = sqlx::query(
        "SELECT version, changes, reason, changed_by, changed_at FROM border_trip_versions \
         WHERE trip_id = $1 ORDER BY version",
    )
    .bind(trip_id)
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    rows.into_iter()
        .map(|r| {
            Ok(Version {
                version: r.try_get(0).map_err(db_err)?,
                changes: serde_json::from_str(&r.try_get::<String, _>(1).map_err(db_err)?)
                    .map_err(AppError::internal)?,
                reason: r.try_get(2).map_err(db_err)?,
                changed_by: r.try_get(3).map_err(db_err)?,
                changed_at: r.try_get(4).map_err(db_err)?,
            })
        })
        .collect()
}

/// When each stage was reached: (stage, at, source), in journey order.
pub async fn stages(db: &Db, trip_id: &str) -> Result<Vec<(String, i64, String)>, AppError> {
    sqlx::query_as(
        "SELECT stage, at, source FROM border_trip_stages WHERE trip_id = $1 ORDER BY at",
    )
    .bind(trip_id)
    .fetch_all(db.pool())
    .await
    .map_err(db_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_are_vietnam_time() {
        let t = parse_local("2026-12-01T08:30").unwrap();
        assert_eq!(
            local(t).format("%Y-%m-%d %H:%M").to_string(),
            "2026-12-01 08:30"
        );
        assert_eq!(parse_local("2026-12-01 08:30"), Some(t));
        assert_eq!(t, 1_796_088_600_000_000);
        assert!(parse_local("1/12/2026").is_none());
    }

    #[test]
    fn diff_names_changed_fields_only() {
        let a: BTreeMap<String, String> = [("gate", "HN"), ("goods[0].weight_kg", "1000")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut b = a.clone();
        b.insert("goods[0].weight_kg".into(), "1200".into());
        b.insert("goods[1].hs_code".into(), "08106000".into());
        let d = diff(&a, &b);
        assert_eq!(d.len(), 2);
        assert_eq!(
            d["goods[0].weight_kg"],
            ("1000".to_string(), "1200".to_string())
        );
        assert_eq!(
            d["goods[1].hs_code"],
            (String::new(), "08106000".to_string())
        );
    }
}
