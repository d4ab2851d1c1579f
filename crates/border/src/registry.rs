//! The registries a declaration draws on: enterprises (doanh nghiệp, by MST), drivers (lái xe,
//! by CCCD or passport) and vehicles (phương tiện: trucks, tractors and trailers, by canonical
//! plate). A declaration writes them in its own transaction, so nobody registers anything
//! before declaring: a second trip with the same truck and driver just reuses the rows (and
//! updates a changed phone number or payload).

use crate::plate::{self, Plate};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use tinhso_kernel::{text, validate, AppError, FieldErrors, Invalid};
use tinhso_store::native::Param;
use tinhso_store::{now_micros, Db, DbError, Exec};

/// How a driver is identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    /// Căn cước công dân (Vietnamese citizens).
    Cccd,
    /// Hộ chiếu (passport; Chinese drivers).
    Passport,
}

impl IdKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdKind::Cccd => "cccd",
            IdKind::Passport => "passport",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "cccd" => Some(IdKind::Cccd),
            "passport" => Some(IdKind::Passport),
            _ => None,
        }
    }
}

/// A driver as declared.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DriverInput {
    /// `cccd` or `passport`.
    pub id_kind: String,
    pub id_number: String,
    pub full_name: String,
    pub phone: String,
    /// `VN`, `CN`, … (ISO 3166 alpha-2); empty means VN for a CCCD, CN for a passport.
    #[serde(default)]
    pub nationality: String,
}

/// A checked driver.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Driver {
    pub id_kind: IdKind,
    pub id_number: String,
    pub full_name: String,
    pub phone: String,
    pub nationality: String,
}

impl Driver {
    /// The registry key: stable for the same document.
    pub fn id(&self) -> String {
        format!("{}:{}", self.id_kind.as_str(), self.id_number)
    }
}

/// A passport number: 1–2 letters then 7–8 digits (Vietnamese `C1234567`, Chinese
/// `E12345678`, `EA1234567`), or 9 alphanumerics for other countries.
pub fn passport(s: &str) -> Result<String, Invalid> {
    let t: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect();
    let ok = (6..=9).contains(&t.len())
        && t.chars().all(|c| c.is_ascii_alphanumeric())
        && t.chars().any(|c| c.is_ascii_digit());
    if ok {
        Ok(t)
    } else {
        Err(Invalid::new(
            "passport",
            "Số hộ chiếu gồm 6–9 chữ cái và chữ số, ví dụ C1234567 hoặc E12345678",
            "A passport number has 6–9 letters and digits, e.g. C1234567 or E12345678",
        ))
    }
}

/// A driver's phone: a Vietnamese number (national form) or an international one starting
/// with `+` (Chinese drivers: `+86 138 0013 8000`), kept as `+<digits>`.
pub fn driver_phone(s: &str) -> Result<String, Invalid> {
    let t: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
        .collect();
    if let Some(rest) = t.strip_prefix('+').filter(|r| !r.starts_with("84")) {
        if (8..=15).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_digit()) {
            return Ok(format!("+{rest}"));
        }
        return Err(Invalid::new(
            "phone_international",
            "Số điện thoại quốc tế gồm dấu + và 8–15 chữ số, ví dụ +86 138 0013 8000",
            "An international number is + and 8–15 digits, e.g. +86 138 0013 8000",
        ));
    }
    validate::phone(s)
}

/// Check a declared driver; errors are reported under `prefix.<field>`.
pub fn check_driver(d: &DriverInput, prefix: &str, errs: &mut FieldErrors) -> Option<Driver> {
    let kind = IdKind::parse(&d.id_kind);
    if kind.is_none() {
        errs.push(
            &format!("{prefix}.id_kind"),
            Invalid::new(
                "id_kind",
                "Chọn loại giấy tờ: CCCD hoặc hộ chiếu",
                "Choose the document: CCCD or passport",
            ),
        );
    }
    let number = match kind {
        Some(IdKind::Cccd) => errs
            .check(&format!("{prefix}.id_number"), validate::cccd(&d.id_number))
            .map(|c| c.number),
        Some(IdKind::Passport) => {
            errs.check(&format!("{prefix}.id_number"), passport(&d.id_number))
        }
        None => None,
    };
    let name = errs.check(
        &format!("{prefix}.full_name"),
        validate::required(&d.full_name).and_then(|n| validate::length(&n, 2, 100)),
    );
    let phone = errs.check(&format!("{prefix}.phone"), driver_phone(&d.phone));
    let nationality = match d.nationality.trim() {
        "" => match kind {
            Some(IdKind::Passport) => "CN".to_string(),
            _ => "VN".to_string(),
        },
        n if n.len() == 2 && n.chars().all(|c| c.is_ascii_alphabetic()) => n.to_ascii_uppercase(),
        _ => {
            errs.push(
                &format!("{prefix}.nationality"),
                Invalid::new(
                    "nationality",
                    "Quốc tịch là mã 2 chữ cái, ví dụ VN hoặc CN",
                    "Nationality is a 2-letter code, e.g. VN or CN",
                ),
            );
            return None;
        }
    };
    Some(Driver {
        id_kind: kind?,
        id_number: number?,
        full_name: name?,
        phone: phone?,
        nationality,
    })
}

/// Kind of vehicle (loại phương tiện).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VehicleKind {
    /// Xe tải.
    Truck,
    /// Xe đầu kéo (pulls a trailer).
    Tractor,
    /// Rơ moóc, sơ mi rơ moóc.
    Trailer,
}

impl VehicleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VehicleKind::Truck => "truck",
            VehicleKind::Tractor => "tractor",
            VehicleKind::Trailer => "trailer",
        }
    }
}

/// A checked vehicle.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Vehicle {
    pub plate: Plate,
    pub kind: VehicleKind,
    /// `white`, `yellow` (commercial transport), … for Vietnamese plates; `blue`/`yellow`/
    /// `green` for Chinese ones.
    pub plate_colour: String,
    /// The most goods it may carry (tải trọng), kilograms.
    pub payload_kg: i64,
}

const COLOURS: &[&str] = &["white", "yellow", "blue", "green", "red"];

/// Check a declared vehicle (a truck/tractor when `trailer` is false, a trailer otherwise).
pub fn check_vehicle(
    plate_text: &str,
    colour: &str,
    payload_kg: i64,
    trailer: bool,
    prefix: &str,
    errs: &mut FieldErrors,
) -> Option<Vehicle> {
    let plate = errs.check(&format!("{prefix}.plate"), plate::parse(plate_text));
    if let Some(p) = &plate {
        if p.trailer != trailer {
            errs.push(
                &format!("{prefix}.plate"),
                if trailer {
                    Invalid::new(
                        "not_trailer",
                        "Biển số rơ moóc có chữ R (ví dụ 12R-012.34)",
                        "A trailer plate has the series R (e.g. 12R-012.34)",
                    )
                } else {
                    Invalid::new(
                        "is_trailer",
                        "Đây là biển số rơ moóc; hãy nhập biển số xe tải hoặc đầu kéo, rơ moóc nhập ở ô riêng",
                        "This is a trailer plate; enter the truck's or tractor's plate, and the trailer in its own field",
                    )
                },
            );
        }
    }
    let colour = match colour.trim() {
        "" => Some("yellow".to_string()),
        c if COLOURS.contains(&c) => Some(c.to_string()),
        _ => {
            errs.push(
                &format!("{prefix}.plate_colour"),
                Invalid::new(
                    "plate_colour",
                    "Màu biển số: trắng, vàng, xanh, xanh lá hoặc đỏ",
                    "Plate colour: white, yellow, blue, green or red",
                ),
            );
            None
        }
    };
    if !(100..=80_000).contains(&payload_kg) {
        errs.push(
            &format!("{prefix}.payload_kg"),
            Invalid::new(
                "payload",
                "Tải trọng tính bằng kg, từ 100 đến 80.000",
                "Payload is in kilograms, from 100 to 80,000",
            ),
        );
    }
    let plate = plate?;
    let kind = if trailer {
        VehicleKind::Trailer
    } else {
        VehicleKind::Truck
    };
    Some(Vehicle {
        kind,
        plate,
        plate_colour: colour?,
        payload_kg,
    })
}

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

/// Write or refresh an enterprise in `tx` (either kind of write transaction).
pub async fn upsert_enterprise<E: Exec>(
    tx: &mut E,
    mst: &str,
    name: &str,
    phone: &str,
    user_id: &str,
) -> Result<(), AppError> {
    tx.execute(
        "INSERT INTO border_enterprises (mst, name, name_folded, phone, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (mst) DO UPDATE SET name = excluded.name, name_folded = excluded.name_folded, \
         phone = excluded.phone",
        &[
            Param::Text(mst),
            Param::Text(name),
            Param::Text(&text::fold(name)),
            Param::Text(phone),
            Param::Text(user_id),
            Param::Int(now_micros()),
        ],
    )
    .await?;
    Ok(())
}

/// Write or refresh a driver in `tx`; returns the registry key.
pub async fn upsert_driver<E: Exec>(tx: &mut E, d: &Driver) -> Result<String, AppError> {
    let id = d.id();
    tx.execute(
        "INSERT INTO border_drivers (id, id_kind, id_number, full_name, phone, nationality, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (id) DO UPDATE SET full_name = excluded.full_name, phone = excluded.phone, \
         nationality = excluded.nationality",
        &[
            Param::Text(&id),
            Param::Text(d.id_kind.as_str()),
            Param::Text(&d.id_number),
            Param::Text(&d.full_name),
            Param::Text(&d.phone),
            Param::Text(&d.nationality),
            Param::Int(now_micros()),
        ],
    )
    .await?;
    Ok(id)
}

/// Write or refresh a vehicle in `tx`.
pub async fn upsert_vehicle<E: Exec>(
    tx: &mut E,
    v: &Vehicle,
    owner_mst: &str,
) -> Result<(), AppError> {
    tx.execute(
        "INSERT INTO border_vehicles (plate, country, vehicle_kind, plate_colour, owner_mst, payload_kg, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (plate) DO UPDATE SET plate_colour = excluded.plate_colour, \
         owner_mst = excluded.owner_mst, payload_kg = excluded.payload_kg",
        &[
            Param::Text(&v.plate.canonical),
            Param::Text(v.plate.country.as_str()),
            Param::Text(v.kind.as_str()),
            Param::Text(&v.plate_colour),
            Param::Text(owner_mst),
            Param::Int(v.payload_kg),
            Param::Int(now_micros()),
        ],
    )
    .await?;
    Ok(())
}

/// Enterprises whose name (diacritics optional) or MST contains `q`, at most `limit`.
pub async fn find_enterprises(
    db: &Db,
    q: &str,
    limit: i64,
) -> Result<Vec<(String, String)>, AppError> {
    let like = format!("%{}%", text::fold(q).replace(['%', '_'], ""));
    let rows = sqlx::query(
        "SELECT mst, name FROM border_enterprises WHERE name_folded LIKE $1 OR mst LIKE $1 \
         ORDER BY name_folded LIMIT $2",
    )
    .bind(&like)
    .bind(limit)
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    rows.into_iter()
        .map(|r| Ok((r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passports_and_phones() {
        assert_eq!(passport("e 1234 5678").unwrap(), "E12345678");
        assert!(passport("ABCDEFGH").is_err());
        assert!(passport("12").is_err());
        assert_eq!(driver_phone("+86 138 0013 8000").unwrap(), "+8613800138000");
        assert_eq!(driver_phone("0912 345 678").unwrap(), "0912345678");
        assert_eq!(driver_phone("+84 912 345 678").unwrap(), "0912345678");
        assert!(driver_phone("+86 12").is_err());
    }

    #[test]
    fn driver_errors_name_their_field() {
        let mut errs = FieldErrors::new();
        let d = DriverInput {
            id_kind: "cccd".into(),
            id_number: "123".into(),
            full_name: "".into(),
            phone: "abc".into(),
            nationality: "".into(),
        };
        assert!(check_driver(&d, "driver", &mut errs).is_none());
        let e = errs.into_result().unwrap_err();
        let fields: Vec<_> = e.fields.iter().map(|f| f.field.as_str()).collect();
        assert!(fields.contains(&"driver.id_number"), "{fields:?}");
        assert!(fields.contains(&"driver.full_name"), "{fields:?}");
        assert!(fields.contains(&"driver.phone"), "{fields:?}");
    }
}
