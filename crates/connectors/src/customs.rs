//! Hải quan — receiving customs' release decisions (quyết định thông quan) for border-gate
//! trips, in the customs system's message format, and recording them on the trip through the
//! border crate's public API ([`tinhso_border::checks::receive_release`], the function behind
//! `POST /api/v1/border/customs-releases`).
//!
//! The message ([`Message`]) carries the VNACCS declaration number (số tờ khai, 12 digits),
//! the decision code, its time, the vehicle plate and the platform's trip reference. Decision
//! codes: `TQ` thông quan and `GPH` giải phóng hàng → released; `TD` tạm dừng thông quan →
//! held; `KTQ` không thông quan → rejected. VNACCS/VASSCM's own message specification is not
//! public; these field names and codes are this project's (see `docs/connectors.md`).
//!
//! [`parse`] checks every field first (errors in Vietnamese and English, all at once); then
//! the trip must exist and carry this plate (its vehicle or its trailer) — a refusal writes
//! nothing — and the border crate checks the declaration number against the trip, authorizes
//! the caller (customs at the trip's gate) and records the decision with its audit entry and
//! outbox event in one transaction, idempotently.

use chrono::{NaiveDateTime, TimeZone};
use serde::{Deserialize, Serialize};
use tinhso_border::checks::{self, ReleaseInput, ReleaseOutcome};
use tinhso_border::{declaration, plate};
use tinhso_identity::Principal;
use tinhso_kernel::error::Invalid;
use tinhso_kernel::{AppError, FieldErrors};
use tinhso_store::audit::Ctx;
use tinhso_store::Db;
use utoipa::ToSchema;

/// A release decision as the customs system sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    /// Số tờ khai hải quan (VNACCS, 12 digits).
    #[serde(rename = "SoToKhai", default)]
    pub so_to_khai: String,
    /// `TQ`, `GPH`, `TD` or `KTQ`.
    #[serde(rename = "MaQuyetDinh", default)]
    pub ma_quyet_dinh: String,
    /// `dd/MM/yyyy HH:mm:ss`, Vietnam time.
    #[serde(rename = "NgayGioQuyetDinh", default)]
    pub ngay_gio_quyet_dinh: String,
    /// Biển số phương tiện (Vietnamese or Chinese plate).
    #[serde(rename = "BienSoPhuongTien", default)]
    pub bien_so_phuong_tien: String,
    /// Mã chuyến: the platform's trip code, e.g. `HN-261201-00001`.
    #[serde(rename = "MaChuyen", default)]
    pub ma_chuyen: String,
    /// Mã công chức hải quan quyết định.
    #[serde(rename = "MaCongChuc", default)]
    pub ma_cong_chuc: String,
}

/// A checked message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub declaration: String,
    /// `released`, `held` or `rejected` (the border crate's words).
    pub decision: &'static str,
    /// Unix µs.
    pub decided_at: i64,
    /// Canonical plate.
    pub plate: String,
    pub trip_code: String,
    pub officer_ref: String,
}

/// The decision a code stands for.
pub fn decision_of(code: &str) -> Option<&'static str> {
    match code.trim().to_ascii_uppercase().as_str() {
        "TQ" | "GPH" => Some("released"),
        "TD" => Some("held"),
        "KTQ" => Some("rejected"),
        _ => None,
    }
}

/// The time format of a message, Vietnam time.
pub fn parse_time(s: &str) -> Option<i64> {
    let t = NaiveDateTime::parse_from_str(s.trim(), "%d/%m/%Y %H:%M:%S").ok()?;
    let vn = chrono::FixedOffset::east_opt(7 * 3600)?;
    vn.from_local_datetime(&t)
        .single()
        .map(|d| d.timestamp_micros())
}

/// Format a time as a message writes it.
pub fn format_time(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros + 7 * 3_600 * 1_000_000)
        .map(|d| d.naive_utc().format("%d/%m/%Y %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// Check every field of a message (all errors at once).
pub fn parse(m: &Message) -> Result<Decision, AppError> {
    let mut errs = FieldErrors::new();
    let number: String = m
        .so_to_khai
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if !(number.len() == 12 && number.bytes().all(|b| b.is_ascii_digit())) {
        errs.push(
            "SoToKhai",
            Invalid::new(
                "so_to_khai",
                "Số tờ khai hải quan gồm 12 chữ số (VNACCS)",
                "The customs declaration number has 12 digits (VNACCS)",
            ),
        );
    }
    let decision = decision_of(&m.ma_quyet_dinh);
    if decision.is_none() {
        errs.push(
            "MaQuyetDinh",
            Invalid::new(
                "ma_quyet_dinh",
                "Mã quyết định là TQ, GPH, TD hoặc KTQ",
                "The decision code is TQ, GPH, TD or KTQ",
            ),
        );
    }
    let at = parse_time(&m.ngay_gio_quyet_dinh);
    if at.is_none() {
        errs.push(
            "NgayGioQuyetDinh",
            Invalid::new(
                "ngay_gio_quyet_dinh",
                "Thời điểm quyết định theo dạng dd/MM/yyyy HH:mm:ss (giờ Việt Nam)",
                "The decision time as dd/MM/yyyy HH:mm:ss (Vietnam time)",
            ),
        );
    }
    let plate = errs.check("BienSoPhuongTien", plate::parse(&m.bien_so_phuong_tien));
    let trip = m.ma_chuyen.trim().to_string();
    if trip.is_empty() || trip.len() > 40 {
        errs.push(
            "MaChuyen",
            Invalid::new(
                "ma_chuyen",
                "Cần mã chuyến (ví dụ HN-261201-00001)",
                "The trip code is required (e.g. HN-261201-00001)",
            ),
        );
    }
    let officer = m.ma_cong_chuc.trim().to_string();
    if officer.is_empty() || officer.chars().count() > 100 {
        errs.push(
            "MaCongChuc",
            Invalid::new(
                "ma_cong_chuc",
                "Cần mã công chức hải quan (tối đa 100 ký tự)",
                "The customs officer's code is required (at most 100 characters)",
            ),
        );
    }
    errs.into_result()?;
    match (decision, at, plate) {
        (Some(decision), Some(decided_at), Some(p)) => Ok(Decision {
            declaration: number,
            decision,
            decided_at,
            plate: p.canonical,
            trip_code: trip,
            officer_ref: officer,
        }),
        _ => Err(AppError::internal("customs message checked")),
    }
}

/// Receive one message: check it, find the trip and its plate, then record the decision
/// through the border crate (which checks the declaration number and the caller's right).
pub async fn receive(
    db: &Db,
    ctx: &Ctx,
    principal: &Principal,
    m: &Message,
    now: i64,
) -> Result<ReleaseOutcome, AppError> {
    let d = parse(m)?;
    let trip = declaration::get(db, &d.trip_code).await?.ok_or_else(|| {
        AppError::field(
            "MaChuyen",
            Invalid::new(
                "trip_unknown",
                format!("Không có chuyến {}", d.trip_code),
                format!("No trip {}", d.trip_code),
            ),
        )
    })?;
    let on_trip = trip.vehicle_plate == d.plate || trip.trailer_plate.as_deref() == Some(&d.plate);
    if !on_trip {
        return Err(AppError::field(
            "BienSoPhuongTien",
            Invalid::new(
                "plate_other",
                format!(
                    "Chuyến {} khai phương tiện {}, không phải {}",
                    trip.code, trip.vehicle_plate, d.plate
                ),
                format!(
                    "Trip {} declares vehicle {}, not {}",
                    trip.code, trip.vehicle_plate, d.plate
                ),
            ),
        ));
    }
    let input = ReleaseInput {
        customs_declaration: d.declaration.clone(),
        trip_code: trip.code.clone(),
        decision: d.decision.into(),
        decided_at: chrono::DateTime::from_timestamp_micros(d.decided_at)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        officer_ref: d.officer_ref.clone(),
    };
    // The border crate names its own fields; say them in the message's words.
    checks::receive_release(db, ctx, principal, &input, now)
        .await
        .map_err(rename_fields)
}

fn rename_fields(mut e: AppError) -> AppError {
    for f in &mut e.fields {
        let to = match f.field.as_str() {
            "customs_declaration" => "SoToKhai",
            "trip_code" => "MaChuyen",
            "decision" => "MaQuyetDinh",
            "decided_at" => "NgayGioQuyetDinh",
            "officer_ref" => "MaCongChuc",
            _ => continue,
        };
        f.field = to.into();
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn good() -> Message {
        Message {
            so_to_khai: "305123456789".into(),
            ma_quyet_dinh: "TQ".into(),
            ngay_gio_quyet_dinh: "01/12/2026 08:30:00".into(),
            bien_so_phuong_tien: "12C-123.45".into(),
            ma_chuyen: "HN-261201-00001".into(),
            ma_cong_chuc: "HQ-HN-0042".into(),
        }
    }

    #[test]
    fn a_good_message_maps_onto_the_border_words() {
        let d = parse(&good()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.decision, "released");
        assert_eq!(d.plate, "12C-123.45");
        assert_eq!(format_time(d.decided_at), "01/12/2026 08:30:00");
        assert_eq!(decision_of("gph"), Some("released"));
        assert_eq!(decision_of("TD"), Some("held"));
        assert_eq!(decision_of("KTQ"), Some("rejected"));
        assert_eq!(decision_of("OK"), None);
    }

    #[test]
    fn every_bad_field_is_named() {
        let e = parse(&Message::default())
            .err()
            .unwrap_or_else(|| AppError::internal("x"));
        let fields: Vec<&str> = e.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "SoToKhai",
                "MaQuyetDinh",
                "NgayGioQuyetDinh",
                "BienSoPhuongTien",
                "MaChuyen",
                "MaCongChuc"
            ]
        );
    }

    proptest! {
        #[test]
        fn the_parser_never_panics(a in ".{0,40}", b in ".{0,8}", c in ".{0,30}", d in ".{0,20}", e in ".{0,50}", f in ".{0,120}") {
            let m = Message { so_to_khai: a, ma_quyet_dinh: b, ngay_gio_quyet_dinh: c, bien_so_phuong_tien: d, ma_chuyen: e, ma_cong_chuc: f };
            if let Ok(d) = parse(&m) {
                prop_assert_eq!(d.declaration.len(), 12);
                prop_assert!(!d.trip_code.is_empty());
            }
        }

        #[test]
        fn times_round_trip(secs in 0i64..4_102_444_800) {
            let micros = secs * 1_000_000;
            prop_assert_eq!(parse_time(&format_time(micros)), Some(micros));
        }
    }
}
