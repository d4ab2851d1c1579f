//! Reference data (dữ liệu danh mục) of Tỉnh số.
//!
//! - [`units`]: the 34 provinces and their commune-level units after the 2025 reform, and Lạng
//!   Sơn's pre-reform districts and communes, embedded from `data/` (generated from public
//!   PyPI packages by `scripts/refdata/generate.py`; see `data/ATTRIBUTION.md`).
//! - [`address`]: converting a pre-1 July 2025 address to the new units.
//! - [`agencies`]: the organisation tree with QCVN 102:2016 identifier codes.
//! - [`calendar`]: the working-day calendar with the admin-editable yearly overrides.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod address;
pub mod agencies;
pub mod calendar;
pub mod units;

use tinhso_store::migrate::Migration;

/// The reference-data tables.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 3001,
    name: "agencies, calendar overrides",
    sql: include_str!("../migrations/3001_refdata.sql"),
}];
