//! The goods nomenclature (danh mục hàng hoá, AHTN/HS 8-digit codes) of the goods that cross
//! Lạng Sơn's gates, searchable by Vietnamese words with or without diacritics.
//!
//! SKELETON: contract only; the catalogue is being written (issue #4) and replaces this body.

use serde::Serialize;

/// One 8-digit code.
#[derive(Debug, Clone, Serialize)]
pub struct HsEntry {
    /// `08106000` (stored and compared without dots).
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    pub name_zh: String,
    /// Fresh goods that spoil (hàng tươi sống): priority in the queue.
    pub perishable: bool,
    /// `plant`, `animal` or empty: which quarantine (kiểm dịch) the goods need.
    pub quarantine: String,
}

/// The entry for an 8-digit code (dots and spaces ignored).
pub fn lookup(code: &str) -> Option<&'static HsEntry> {
    let _ = code;
    None
}

/// Entries whose name contains every word of `query` (diacritics optional), or whose code
/// starts with its digits; best first, at most `limit`.
pub fn search(query: &str, limit: usize) -> Vec<&'static HsEntry> {
    let _ = (query, limit);
    Vec::new()
}
