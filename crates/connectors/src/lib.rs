//! Connectors to national systems (kết nối hệ thống quốc gia), each built against the
//! system's contract and each with a local conformance simulator (`simulator`) used only in
//! tests and `tinhso serve --demo`:
//!
//! * [`dvcqg`] + [`sync`] — the national public service portal (Cổng DVCQG): a typed client
//!   for the synchronisation flow and the sync worker that sends every dossier on every status
//!   change, keeps per-dossier state (`dvcqg_sync`, migration 9001) and computes the sync rate
//!   (a Decision 766 figure);
//! * [`population`] — the national population database (CSDLQG về dân cư): verify a CCCD and
//!   a name (and date of birth), audited;
//! * [`customs`] — customs' release decisions for border-gate trips, recorded through the
//!   border crate; [`customs_pull`] — the same decisions read from customs' queue;
//! * [`web`] — the admin page, the APIs and their access rules; [`runtime`] — which endpoints
//!   (real or simulated) this process talks to.
//!
//! Documentation: `docs/connectors.md`.

pub mod customs;
pub mod customs_pull;
pub mod dvcqg;
pub mod endpoint;
pub mod population;
pub mod runtime;
pub mod simulator;
pub mod sync;
pub mod web;

use tinhso_store::migrate::Migration;

/// The connectors' tables (9000s).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 9001,
        name: "connectors: DVCQG per-dossier sync state",
        sql: include_str!("../migrations/9001_connectors.sql"),
    },
    Migration {
        version: 9002,
        name: "connectors: customs' decision queue position and refused decisions",
        sql: include_str!("../migrations/9002_customs_pull.sql"),
    },
];
