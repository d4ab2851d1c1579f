//! The digital border gate (nền tảng cửa khẩu số, issue #4).
//!
//! - [`gates`]: the gates of Lạng Sơn (cửa khẩu) with their lanes, yards, opening hours,
//!   crossing capacity per direction and the agencies present, as data (`data/gates.toml`).
//! - [`plate`]: Vietnamese and Chinese number plates (biển số) parsed into one canonical form;
//!   [`matching`]: camera reads matched to active trips despite misreads.
//! - [`hs`]: the goods nomenclature (AHTN/HS 8-digit codes) searchable by Vietnamese words.
//! - [`registry`]: enterprises (by MST), drivers, vehicles and trailers.
//! - [`declaration`]: the trip declaration (tờ khai), corrected in place and versioned.
//! - [`pass`]: the QR pass signed by the platform, verifiable offline.
//! - [`slots`]: crossing slots per gate, direction and hour, and the queue.
//! - [`waittimes`]: the open wait-time feed per gate and direction.
//! - [`fees`]: the infrastructure fee (phí sử dụng công trình kết cấu hạ tầng) as dated data;
//!   [`fee_payment`]: the fee assessed per trip, paid with VietQR, receipts, daily reconciliation;
//!   [`fee_refund`]: refunds (hoàn phí) of prepaid fees of trips that never crossed.
//! - [`checks`]: the agencies' workbench: each agency's check per trip (pass, hold, reject),
//!   the customs release received from customs, service times per agency.
//! - [`indicators`]: the shares the plan's border targets are measured by.
//! - [`sim`]: the traffic simulator (mô phỏng giao thông cửa khẩu); [`forecast`]: congestion
//!   forecasting (dự báo ùn tắc).
//! - [`web`]: pages (Vietnamese, Chinese, English for drivers) and the JSON API.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod bulk;
pub mod checks;
pub mod dashboard;
pub mod declaration;
pub mod events;
pub mod fee_payment;
pub mod fee_refund;
pub mod fees;
pub mod forecast;
pub mod gates;
pub mod hs;
pub mod indicators;
pub mod journey;
pub mod matching;
pub mod misread;
pub mod pass;
pub mod plate;
pub mod registry;
pub mod sim;
pub mod slots;
pub mod svg;
pub mod waittimes;
pub mod web;

use tinhso_store::migrate::Migration;

/// The module's migrations (the 8000s).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 8001,
        name: "border gates, enterprises, drivers, vehicles, trip declarations and their versions",
        sql: include_str!("../migrations/8001_border.sql"),
    },
    Migration {
        version: 8002,
        name: "border crossing slots, bookings, standby queue and queue calls",
        sql: include_str!("../migrations/8002_slots.sql"),
    },
    Migration {
        version: 8003,
        name: "border sensors (cameras, QR readers, geofences), events and the review queue",
        sql: include_str!("../migrations/8003_events.sql"),
    },
    Migration {
        version: 8004,
        name: "border infrastructure fee assessments, payments and receipts",
        sql: include_str!("../migrations/8004_fees.sql"),
    },
    Migration {
        version: 8005,
        name: "border agency checks, their decisions and customs release decisions",
        sql: include_str!("../migrations/8005_checks.sql"),
    },
    Migration {
        version: 8006,
        name: "border indexes for the indicators: bookings and fee payments by trip",
        sql: include_str!("../migrations/8006_indicator_indexes.sql"),
    },
    Migration {
        version: 8007,
        name: "daily roll-up of the border gate's counts",
        sql: include_str!("../migrations/8007_indicator_rollup.sql"),
    },
    Migration {
        version: 8008,
        name: "border fee assessments by trip code",
        sql: include_str!("../migrations/8008_fee_trip_code.sql"),
    },
    Migration {
        version: 8009,
        name: "border roll-up in summing order; trips by gate and expected arrival",
        sql: include_str!("../migrations/8009_rollup_order.sql"),
    },
    Migration {
        version: 8010,
        name: "the latest congestion forecast of each gate",
        sql: include_str!("../migrations/8010_forecast_snapshots.sql"),
    },
    Migration {
        version: 8011,
        name: "statement-level roll-up triggers on PostgreSQL",
        sql: include_str!("../migrations/8011_rollup_statement_triggers.sql"),
    },
    Migration {
        version: 8014,
        name: "border camera reads: the scoring rule's reason (match_note)",
        sql: include_str!("../migrations/8014_match_note.sql"),
    },
    Migration {
        version: 8015,
        name: "border refunds of prepaid infrastructure fees",
        sql: include_str!("../migrations/8015_fee_refunds.sql"),
    },
    Migration {
        version: 8016,
        name: "border trips that ended, by when, for the refund job",
        sql: include_str!("../migrations/8016_ended_trips.sql"),
    },
    Migration {
        version: 8017,
        name: "border fee assessments and refunds by trip id",
        sql: include_str!("../migrations/8017_fee_trip_id.sql"),
    },
    Migration {
        version: 8018,
        name: "border standby: the gates and directions with trucks waiting, by a partial index",
        sql: include_str!("../migrations/8018_standby_waiting_pairs.sql"),
    },
    Migration {
        version: 8020,
        name: "border camera events: drop the unread (gate, time) index",
        sql: include_str!("../migrations/8020_events_one_index_less.sql"),
    },
    Migration {
        version: 8021,
        name: "border trips that ended, by stage and when, for the refund job",
        sql: include_str!("../migrations/8021_ended_trips_by_stage.sql"),
    },
    Migration {
        version: 8022,
        name: "border fee top-ups and rate-change refunds of a paid fee",
        sql: include_str!("../migrations/8022_fee_topups.sql"),
    },
    Migration {
        version: 8025,
        name: "border camera events: drop the unread (trip, time) index",
        sql: include_str!("../migrations/8025_events_trip_index_dropped.sql"),
    },
];
