//! Administrative units (đơn vị hành chính), embedded in the binary. Read-only and versioned
//! with the release, so every node answers the same.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::OnceLock;
use tinhso_kernel::text;

/// A province-level unit (tỉnh, thành phố trực thuộc trung ương), after 12 June 2025.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Province {
    pub code: String,
    pub name: String,
    pub full_name: String,
    pub kind: String,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
}

/// A commune-level unit (xã, phường, đặc khu), from 1 July 2025.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Commune {
    pub code: String,
    pub name: String,
    pub full_name: String,
    pub kind: String,
    pub province_code: String,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
}

/// A district-level unit before 1 July 2025 (huyện, thị xã, thành phố thuộc tỉnh).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LegacyDistrict {
    pub code: String,
    pub name: String,
    pub full_name: String,
    pub kind: String,
}

/// A commune-level unit before 1 July 2025 (xã, phường, thị trấn).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LegacyCommune {
    pub code: String,
    pub name: String,
    pub full_name: String,
    pub kind: String,
    pub district_code: String,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
struct LegacyFile {
    districts: Vec<LegacyDistrict>,
    communes: Vec<LegacyCommune>,
}

/// One row of the legacy → 2025 mapping.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConversionRow {
    pub old_code: String,
    pub new_code: String,
    /// False when the old commune was split among several new units.
    pub whole: bool,
}

/// All embedded units, with indexes.
#[derive(Debug)]
pub struct Units {
    pub provinces: Vec<Province>,
    pub communes: Vec<Commune>,
    pub legacy_province_code: &'static str,
    pub legacy_districts: Vec<LegacyDistrict>,
    pub legacy_communes: Vec<LegacyCommune>,
    pub conversion: Vec<ConversionRow>,
    commune_index: HashMap<String, usize>,
    /// Folded "name full_name" per commune, for search.
    commune_keys: Vec<String>,
}

static UNITS: OnceLock<Units> = OnceLock::new();

fn parse<T: serde::de::DeserializeOwned>(name: &str, json: &str) -> T {
    // The files are part of the source tree and checked by tests: a parse failure is a build
    // defect, not a run-time condition.
    #[allow(clippy::panic)]
    serde_json::from_str(json).unwrap_or_else(|e| panic!("embedded {name} is invalid: {e}"))
}

/// The embedded units (parsed once).
pub fn units() -> &'static Units {
    UNITS.get_or_init(|| {
        let provinces: Vec<Province> =
            parse("provinces.json", include_str!("../data/provinces.json"));
        let communes: Vec<Commune> = parse("communes.json", include_str!("../data/communes.json"));
        let legacy: LegacyFile = parse(
            "lang-son-legacy.json",
            include_str!("../data/lang-son-legacy.json"),
        );
        let conversion: Vec<ConversionRow> = parse(
            "lang-son-conversion.json",
            include_str!("../data/lang-son-conversion.json"),
        );
        let commune_index = communes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.code.clone(), i))
            .collect();
        let commune_keys = communes
            .iter()
            .map(|c| text::fold(&format!("{} {}", c.full_name, c.code)))
            .collect();
        Units {
            provinces,
            communes,
            legacy_province_code: "20",
            legacy_districts: legacy.districts,
            legacy_communes: legacy.communes,
            conversion,
            commune_index,
            commune_keys,
        }
    })
}

impl Units {
    pub fn province(&self, code: &str) -> Option<&Province> {
        self.provinces.iter().find(|p| p.code == code)
    }

    pub fn commune(&self, code: &str) -> Option<&Commune> {
        self.commune_index.get(code).map(|&i| &self.communes[i])
    }

    /// Communes of a province, in Vietnamese order.
    pub fn communes_of(&self, province_code: &str) -> Vec<&Commune> {
        let mut v: Vec<&Commune> = self
            .communes
            .iter()
            .filter(|c| c.province_code == province_code)
            .collect();
        v.sort_by(|a, b| text::cmp_vi(&a.name, &b.name));
        v
    }

    /// Search commune-level units by name or code, diacritics and case ignored; every word of
    /// the query must match. Optional province filter.
    pub fn search(&self, q: &str, province_code: Option<&str>, limit: usize) -> Vec<&Commune> {
        let q = text::fold(q);
        let words: Vec<&str> = q.split(' ').filter(|w| !w.is_empty()).collect();
        let mut hits: Vec<(u8, &Commune)> = self
            .communes
            .iter()
            .zip(&self.commune_keys)
            .filter(|(c, _)| province_code.is_none_or(|p| c.province_code == p))
            .filter(|(_, key)| words.iter().all(|w| key.contains(w)))
            .map(|(c, _)| {
                // exact name first, then prefix, then anywhere
                let name = text::fold(&c.name);
                let rank = if name == q {
                    0
                } else if name.starts_with(&q) {
                    1
                } else {
                    2
                };
                (rank, c)
            })
            .collect();
        hits.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| text::cmp_vi(&a.1.name, &b.1.name))
        });
        hits.into_iter().take(limit).map(|(_, c)| c).collect()
    }

    pub fn legacy_district(&self, code: &str) -> Option<&LegacyDistrict> {
        self.legacy_districts.iter().find(|d| d.code == code)
    }

    pub fn legacy_commune(&self, code: &str) -> Option<&LegacyCommune> {
        self.legacy_communes.iter().find(|c| c.code == code)
    }

    /// The new unit(s) a legacy commune became.
    pub fn successors(&self, old_code: &str) -> Vec<(&ConversionRow, &Commune)> {
        self.conversion
            .iter()
            .filter(|r| r.old_code == old_code)
            .filter_map(|r| self.commune(&r.new_code).map(|c| (r, c)))
            .collect()
    }

    /// The legacy communes merged into a new unit.
    pub fn predecessors(&self, new_code: &str) -> Vec<&LegacyCommune> {
        self.conversion
            .iter()
            .filter(|r| r.new_code == new_code)
            .filter_map(|r| self.legacy_commune(&r.old_code))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_four_provinces_and_lang_son_has_65_units() {
        let u = units();
        assert_eq!(u.provinces.len(), 34);
        let ls = u.communes_of("20");
        assert_eq!(ls.len(), 65);
        assert_eq!(ls.iter().filter(|c| c.kind == "phuong").count(), 4);
        assert_eq!(ls.iter().filter(|c| c.kind == "xa").count(), 61);
        for ward in ["Tam Thanh", "Lương Văn Tri", "Kỳ Lừa", "Đông Kinh"] {
            assert!(
                ls.iter().any(|c| c.name == ward && c.kind == "phuong"),
                "{ward}"
            );
        }
        assert!(u.communes.len() > 3000);
    }

    #[test]
    fn names_are_nfc_and_codes_unique() {
        let u = units();
        let mut seen = std::collections::HashSet::new();
        for c in &u.communes {
            assert_eq!(c.name, text::nfc(&c.name));
            assert!(seen.insert(&c.code), "duplicate {}", c.code);
            assert!(u.province(&c.province_code).is_some());
        }
    }

    #[test]
    fn legacy_lang_son_is_complete_and_maps_onto_new_units() {
        let u = units();
        assert_eq!(u.legacy_districts.len(), 11);
        assert!(u.legacy_communes.len() > 150);
        for c in &u.legacy_communes {
            assert!(u.legacy_district(&c.district_code).is_some());
            let succ = u.successors(&c.code);
            assert!(!succ.is_empty(), "{} has no successor", c.full_name);
            assert!(succ.iter().all(|(_, n)| n.province_code == "20"));
        }
        for c in u.communes_of("20") {
            assert!(
                !u.predecessors(&c.code).is_empty(),
                "{} has no predecessor",
                c.name
            );
        }
    }

    #[test]
    fn search_ignores_diacritics() {
        let u = units();
        let hits = u.search("dong dang", Some("20"), 10);
        assert!(hits.iter().any(|c| c.name == "Đồng Đăng"), "{hits:?}");
        let hits = u.search("LƯƠNG VĂN TRI", None, 10);
        assert_eq!(hits[0].name, "Lương Văn Tri");
    }
}
