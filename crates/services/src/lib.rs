//! Online public services (dịch vụ công trực tuyến).
//!
//! - [`catalogue`]: administrative procedures (thủ tục hành chính) as versioned data: code,
//!   sector, level, competent agency, time limit, fees, components, e-form, workflow.
//! - [`eform`]: validating a procedure's e-form (biểu mẫu điện tử) from its field definitions.
//! - [`status`]: the national portal's dossier status codes 1–10 and the legal transitions.
//! - [`dossier`]: submitting, tracking and processing dossiers (hồ sơ) in the one-stop
//!   workflow (một cửa), with working-day deadlines and signed decisions.
//! - [`vietqr`]: VietQR (EMVCo) payment codes: building, parsing, CRC-16/CCITT-FALSE.
//! - [`documents`]: form 01 and the electronic result as PDF with correct Vietnamese text.
//! - [`results`]: electronic results signed by the agency and the leader, their public
//!   verification and revocation, and the personal data store (kho dữ liệu) they go into.
//! - [`feedback`]: satisfaction ratings of finished dossiers, and feedback and complaints
//!   (phản ánh, kiến nghị) with their officer life cycle.
//! - [`forms`]: the one-stop forms of Circular 01/2018/TT-VPCP beyond the receipt: 02
//!   (supplement request), 03 (refusal), 04 (apology and new date, with its rules), 06 (process
//!   control slip) and 07 (dossier register), as data and as PDF.
//! - [`payment`]: paying a dossier's fees: requests with a VietQR code, the signed PayGov
//!   callback, electronic receipts, the daily reconciliation, and a gateway simulator.
//! - [`timing`]: where a submission's time goes inside the server, step by step, while
//!   `tinhso bench services` measures.
//! - `testing` (tests and the `testing` feature only): shared test set-up for the crates
//!   whose tests drive dossiers.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod catalogue;
pub mod documents;
pub mod dossier;
pub mod eform;
pub mod feedback;
pub mod forms;
pub mod indicators;
pub mod notify;
pub mod pades;
pub mod payment;
mod read_cache;
pub mod results;
pub mod revocation;
pub mod signing_certs;
pub mod status;
pub mod test_ca;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod timing;
pub mod vietqr;
pub mod web;

use tinhso_store::migrate::Migration;

/// The services tables.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 4001,
        name: "procedures, dossiers, dossier events and files",
        sql: include_str!("../migrations/4001_services.sql"),
    },
    Migration {
        version: 4002,
        name: "covering indexes for the Decision 766 indicators",
        sql: include_str!("../migrations/4002_indicator_indexes.sql"),
    },
    Migration {
        version: 4003,
        name: "payments of fees and charges, receipt counters",
        sql: include_str!("../migrations/4003_payments.sql"),
    },
    Migration {
        version: 4004,
        name: "signed electronic results, result numbers, personal data store",
        sql: include_str!("../migrations/4004_results.sql"),
    },
    Migration {
        version: 4005,
        name: "satisfaction ratings, feedback and complaints (PAKN)",
        sql: include_str!("../migrations/4005_feedback.sql"),
    },
    Migration {
        version: 4006,
        name: "original promised date of apologised dossiers (form 04)",
        sql: include_str!("../migrations/4006_forms.sql"),
    },
    Migration {
        version: 4007,
        name: "daily roll-up of the Decision 766 counts",
        sql: include_str!("../migrations/4007_indicator_rollup.sql"),
    },
    Migration {
        version: 4008,
        name: "statement-level roll-up triggers on PostgreSQL",
        sql: include_str!("../migrations/4008_rollup_statement_triggers.sql"),
    },
    Migration {
        version: 4010,
        name: "agency signing certificates and the PAdES trust list",
        sql: include_str!("../migrations/4010_signing_certificates.sql"),
    },
    Migration {
        version: 4011,
        name: "attachment totals on the dossier row",
        sql: include_str!("../migrations/4011_dossier_file_totals.sql"),
    },
    Migration {
        version: 4014,
        name: "PAdES-B-T time-stamps of results and certificate revocation lists",
        sql: include_str!("../migrations/4014_pades_timestamps_and_crls.sql"),
    },
    Migration {
        version: 4015,
        name: "generations of the calendar overrides and current procedure versions",
        sql: include_str!("../migrations/4015_read_generations.sql"),
    },
    Migration {
        version: 4016,
        name: "small attachments kept on their dossier_files row",
        sql: include_str!("../migrations/4016_inline_attachments.sql"),
    },
];
