//! Converting pre-reform addresses (chuyển đổi địa chỉ): "Xã Tân Thanh, Huyện Văn Lãng, Tỉnh
//! Lạng Sơn" → "Xã Hoàng Văn Thụ, Tỉnh Lạng Sơn" (or the several units a split commune went to).
//! Records dated before 1 July 2025 keep their old unit; this gives the new one.

use crate::units::{units, Commune, LegacyCommune, LegacyDistrict};
use serde::Serialize;
use tinhso_kernel::{text, AppError, Invalid};

/// Result of a conversion.
#[derive(Debug, Clone, Serialize)]
pub struct Conversion {
    pub input: String,
    /// Street, hamlet or house number kept as typed (the part before the commune).
    pub detail: String,
    pub old_commune: LegacyCommune,
    pub old_district: LegacyDistrict,
    /// The new unit(s); several when the old commune was split.
    pub new_units: Vec<NewUnit>,
    /// The converted address, for the first (or only) new unit.
    pub new_address: String,
}

/// A new unit in a conversion result.
#[derive(Debug, Clone, Serialize)]
pub struct NewUnit {
    pub commune: Commune,
    /// False when only part of the old commune went to this unit.
    pub whole: bool,
}

const COMMUNE_PREFIXES: &[&str] = &["xa", "phuong", "thi tran", "tt", "p", "x"];
const DISTRICT_PREFIXES: &[&str] = &["huyen", "thi xa", "thanh pho", "tp", "quan", "h", "tx"];
const PROVINCE_PREFIXES: &[&str] = &["tinh", "thanh pho", "tp", "t"];

fn strip_prefix(folded: &str, prefixes: &[&str]) -> String {
    let s = folded.trim().trim_end_matches('.');
    for p in prefixes {
        if let Some(rest) = s.strip_prefix(p) {
            let rest = rest.trim_start_matches('.').trim();
            if rest.len() < s.len()
                && (s.as_bytes().get(p.len()) == Some(&b' ')
                    || s.as_bytes().get(p.len()) == Some(&b'.'))
            {
                return rest.to_string();
            }
        }
    }
    s.to_string()
}

fn not_found(what_vi: &str, what_en: &str, value: &str) -> AppError {
    AppError::field(
        "address",
        Invalid::new(
            "address_unit_not_found",
            format!("Không tìm thấy {what_vi} \"{value}\" trong danh mục đơn vị hành chính trước 01/7/2025 của tỉnh Lạng Sơn"),
            format!("No {what_en} \"{value}\" among Lạng Sơn's units before 1 July 2025"),
        ),
    )
}

/// Convert a pre-reform address of Lạng Sơn. The address is read from the end: province
/// (optional), district, commune; what comes before the commune is kept as the detail.
pub fn convert(address: &str) -> Result<Conversion, AppError> {
    let input = text::clean(address);
    let parts: Vec<&str> = input
        .split([',', ';', '-'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() < 2 {
        return Err(AppError::field(
            "address",
            Invalid::new(
                "address_format",
                "Nhập địa chỉ cũ gồm ít nhất xã/phường/thị trấn và huyện/thành phố, cách nhau bởi dấu phẩy, ví dụ: \"Xã Tân Thanh, Huyện Văn Lãng, Tỉnh Lạng Sơn\"",
                "Enter the old address with at least the commune and the district separated by commas, e.g. \"Xã Tân Thanh, Huyện Văn Lãng, Tỉnh Lạng Sơn\"",
            ),
        ));
    }
    let u = units();
    let mut idx = parts.len();
    // Province (optional, must be Lạng Sơn when given).
    let last = strip_prefix(&text::fold(parts[idx - 1]), PROVINCE_PREFIXES);
    if last == "lang son" && parts.len() >= 3 {
        idx -= 1;
    } else if u.provinces.iter().any(|p| text::fold(&p.name) == last) && last != "lang son" {
        return Err(AppError::field(
            "address",
            Invalid::new(
                "address_province_unsupported",
                "Hiện chỉ chuyển đổi được địa chỉ cũ thuộc tỉnh Lạng Sơn",
                "Only old addresses in Lạng Sơn province can be converted for now",
            ),
        ));
    }
    let district_raw = parts[idx - 1];
    let district_name = strip_prefix(&text::fold(district_raw), DISTRICT_PREFIXES);
    let district = u
        .legacy_districts
        .iter()
        .find(|d| {
            text::fold(&d.name) == district_name
                || text::fold(&d.full_name) == text::fold(district_raw)
        })
        .ok_or_else(|| not_found("huyện/thành phố", "district", district_raw))?;
    idx -= 1;
    if idx == 0 {
        return Err(not_found("xã/phường/thị trấn", "commune", ""));
    }
    let commune_raw = parts[idx - 1];
    let folded_commune = text::fold(commune_raw);
    let commune_name = strip_prefix(&folded_commune, COMMUNE_PREFIXES);
    let candidates: Vec<&LegacyCommune> = u
        .legacy_communes
        .iter()
        .filter(|c| c.district_code == district.code)
        .filter(|c| {
            text::fold(&c.name) == commune_name || text::fold(&c.full_name) == folded_commune
        })
        .collect();
    // "Xã Tân Thanh" and "Thị trấn Tân Thanh" could coexist: prefer the one whose kind matches.
    let old = match candidates.as_slice() {
        [] => return Err(not_found("xã/phường/thị trấn", "commune", commune_raw)),
        [one] => *one,
        many => many
            .iter()
            .find(|c| text::fold(&c.full_name) == folded_commune)
            .copied()
            .unwrap_or(many[0]),
    };
    let new_units: Vec<NewUnit> = u
        .successors(&old.code)
        .into_iter()
        .map(|(row, c)| NewUnit {
            commune: c.clone(),
            whole: row.whole,
        })
        .collect();
    let Some(first) = new_units.first() else {
        return Err(AppError::internal(format!(
            "legacy commune {} has no successor",
            old.code
        )));
    };
    let detail = parts[..idx - 1].join(", ");
    let province = u
        .province(&first.commune.province_code)
        .map(|p| p.full_name.clone())
        .unwrap_or_default();
    let new_address = [
        detail.as_str(),
        first.commune.full_name.as_str(),
        province.as_str(),
    ]
    .iter()
    .filter(|s| !s.is_empty())
    .copied()
    .collect::<Vec<_>>()
    .join(", ");
    Ok(Conversion {
        input,
        detail,
        old_commune: old.clone(),
        old_district: district.clone(),
        new_units,
        new_address,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_every_legacy_commune_written_in_full() {
        let u = units();
        for c in &u.legacy_communes {
            let d = u.legacy_district(&c.district_code).unwrap();
            let addr = format!(
                "Thôn Bản A, {}, {}, Tỉnh Lạng Sơn",
                c.full_name, d.full_name
            );
            let conv = convert(&addr).unwrap_or_else(|e| panic!("{addr}: {e}"));
            assert_eq!(conv.old_commune.code, c.code, "{addr}");
            assert_eq!(conv.detail, "Thôn Bản A");
            assert!(conv.new_address.ends_with("Tỉnh Lạng Sơn"));
        }
    }

    #[test]
    fn example_from_the_issue_and_without_diacritics() {
        let a = convert("Xã Tân Thanh, Huyện Văn Lãng, Tỉnh Lạng Sơn").unwrap();
        assert_eq!(a.old_district.name, "Văn Lãng");
        assert!(!a.new_units.is_empty());
        let b = convert("xa tan thanh, huyen van lang, lang son").unwrap();
        assert_eq!(a.old_commune.code, b.old_commune.code);
    }

    #[test]
    fn clear_errors() {
        assert_eq!(
            convert("Tân Thanh").unwrap_err().fields[0].code,
            "address_format"
        );
        assert_eq!(
            convert("Xã Không Có, Huyện Văn Lãng, Tỉnh Lạng Sơn")
                .unwrap_err()
                .fields[0]
                .code,
            "address_unit_not_found"
        );
        assert_eq!(
            convert("Xã A, Huyện B, Tỉnh Cao Bằng").unwrap_err().fields[0].code,
            "address_province_unsupported"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            let _ = convert(&s);
        }
    }
}
