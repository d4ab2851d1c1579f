//! Exchange hub tests: NATS JetStream against the real server (127.0.0.1:4222, or
//! `TINHSO_TEST_NATS_URL`; a missing server FAILS these tests, it never skips them), and the
//! signed exchange through a real hub and a provider on loopback, on SQLite or PostgreSQL
//! (`TINHSO_TEST_PG_URL`); RFC 3161 time-stamps of the log's anchors against a loopback TSA
//! simulator and the openssl CLI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod catalogue;
mod certificates;
mod crash;
mod direct;
mod hub;
mod log_batch;
mod nats;
mod pull;
mod support;
mod tsa;
/// The loopback TSA simulator, shared with the PAdES-B-T tests of `tinhso-services`.
use tinhso_tsa::testing as tsa_simulator;
mod webhooks;
