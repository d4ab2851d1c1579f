//! The plan's targets measured live (issue #5, first slice): plans and targets as data
//! ([`plan`]), the indicators engine with Decree 09/2019 periods ([`period`], [`engine`]),
//! the live providers of the public-services module ([`live`]) and the border gate
//! ([`live_border`]), values reported by agencies
//! ([`reported`]), the targets board with its status rule ([`board`]) and the module's pages,
//! API and access rules ([`web`]); the leaders' operations centre ([`ops`], its communes map
//! [`geo`], its page and API [`ops_web`]).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod board;
pub mod engine;
pub mod geo;
pub mod live;
pub mod live_border;
pub mod ops;
pub mod ops_web;
pub mod period;
pub mod plan;
pub mod reported;
pub mod web;

use tinhso_store::migrate::Migration;

/// The module's migrations (the 7000s).
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 7001,
    name: "plans, plan targets, reported indicator values",
    sql: include_str!("../migrations/7001_targets.sql"),
}];
