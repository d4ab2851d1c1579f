//! The plan's targets measured live (issue #5, first slice): plans and targets as data
//! ([`plan`]), the indicators engine with Decree 09/2019 periods ([`period`], [`engine`]),
//! the live providers of the public-services module ([`live`]) and the border gate
//! ([`live_border`]), the DVCQG sync rate of the connectors ([`live_sync`]), the platform's own
//! use — staff identity, agencies active, data exchange, digital reports ([`live_platform`]) —
//! values reported by agencies ([`reported`]), the targets board with its
//! status rule ([`board`]), the module's pages, API and access rules ([`web`]), reporting
//! regimes ([`regimes`]) with their report tasks ([`reports`], pages and API in
//! [`web_reports`]); the annual review as PDF and spreadsheet ([`review`], [`xlsx`]), the
//! export for the Government reporting system ([`export`]), the DTI self-assessment ([`dti`]),
//! the leaders' weekly digest ([`digest`]) and their routes ([`web_review`]); the leaders'
//! operations centre ([`ops`], its communes map [`geo`], its page and API [`ops_web`]); the
//! province's figure of a reported indicator from the agencies' approved values ([`province`]).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod board;
pub mod digest;
pub mod dti;
pub mod engine;
pub mod export;
pub mod geo;
pub mod live;
pub mod live_border;
pub mod live_platform;
pub mod live_sync;
pub mod ops;
pub mod ops_access;
pub mod ops_web;
pub mod period;
pub mod plan;
pub mod province;
pub mod regime_edit;
pub mod regimes;
pub mod report_mail;
pub mod report_trail;
pub mod reported;
pub mod reports;
pub mod review;
pub mod review_reports;
pub mod web;
pub mod web_reports;
pub mod web_review;
pub mod xlsx;

use tinhso_store::migrate::Migration;

/// The module's migrations (the 7000s).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 7001,
        name: "plans, plan targets, reported indicator values",
        sql: include_str!("../migrations/7001_targets.sql"),
    },
    Migration {
        version: 7002,
        name: "reporting regimes, report tasks, versions, evidence, escalations",
        sql: include_str!("../migrations/7002_regimes.sql"),
    },
    Migration {
        version: 7003,
        name: "which approved report each reported value came from",
        sql: include_str!("../migrations/7003_report_sources.sql"),
    },
    Migration {
        version: 7004,
        name: "versions of reporting regimes; the version each report task was opened with",
        sql: include_str!("../migrations/7004_regime_versions.sql"),
    },
    Migration {
        version: 7005,
        name: "partial index of the open dossiers by due date, for the operations centre's overdue counter",
        sql: include_str!("../migrations/7005_open_dossiers_due.sql"),
    },
];
