//! Targets tests on a real database: plan import (idempotence, a second plan, errors), the
//! live services and border indicators against hand-computed values on fixed data sets, reported
//! values (validation, versions) and the board. SQLite by default, PostgreSQL when
//! `TINHSO_TEST_PG_URL` is set (a fresh database per test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod board;
mod border;
mod digest;
mod dvcqg_sync;
mod export_units;
mod hub;
mod import;
mod indicators;
mod ops;
mod platform;
mod province;
mod report_mail;
mod reported;
mod reports;
mod review;
mod windows;

use tinhso_store::audit::Ctx;
use tinhso_store::migrate::STORE_MIGRATIONS;
use tinhso_store::test_support::{fresh, TestDb};
use tinhso_store::Db;

/// A fresh database with every table this module reads, the agency tree, the procedure
/// catalogue and the shipped plan, as `tinhso::prepare` leaves it.
pub async fn env() -> TestDb {
    let t = fresh(&[
        STORE_MIGRATIONS,
        tinhso_identity::MIGRATIONS,
        tinhso_refdata::MIGRATIONS,
        tinhso_services::MIGRATIONS,
        tinhso_targets::MIGRATIONS,
        tinhso_border::MIGRATIONS,
        // The DVCQG sync state, read by the live indicator `connectors.dvcqg_sync`.
        tinhso_connectors::MIGRATIONS,
        // The hub's message log, read by the live indicator `exchange.agencies_connected`.
        tinhso_exchange::MIGRATIONS,
    ])
    .await;
    tinhso_refdata::agencies::seed(&t.db, &sys()).await.unwrap();
    tinhso_services::catalogue::seed(&t.db, &sys())
        .await
        .unwrap();
    assert_eq!(
        tinhso_targets::plan::seed(&t.db, &sys()).await.unwrap(),
        tinhso_targets::plan::Imported::Written(43)
    );
    t
}

pub fn sys() -> Ctx {
    Ctx {
        actor: "cli:test".into(),
        request_id: "req-test".into(),
    }
}

pub async fn count(db: &Db, sql: &str) -> i64 {
    tinhso_store::db::count(db, sql).await.unwrap()
}

pub fn ymd(y: i32, m: u32, d: u32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Unix microseconds of a Vietnam local time (UTC+7).
pub fn local_micros(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    ymd(y, m, d)
        .and_hms_opt(h, min, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros()
        - 7 * 3600 * 1_000_000
}

/// Report a value for the province (checked, then recorded as a new version).
pub async fn report_value(
    db: &Db,
    indicator: &str,
    period: &str,
    value: &str,
    numerator: Option<&str>,
    denominator: Option<&str>,
) {
    let c = tinhso_targets::reported::check(
        db,
        &tinhso_targets::reported::NewValue {
            indicator: indicator.into(),
            period: period.into(),
            org: "province".into(),
            value: value.into(),
            numerator: numerator.map(str::to_string),
            denominator: denominator.map(str::to_string),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tinhso_targets::reported::record(db, &sys(), &c)
        .await
        .unwrap();
}

/// People's Committee of Phường Tam Thanh (commune 05986), where the fixtures' dossiers are.
pub const UBND_TAM_THANH: &str = "000.00.23.H37";

/// A commune's People's Committee other than Tam Thanh's (it has a commune), and its commune
/// code.
pub async fn another_committee(
    r: &tinhso_targets::engine::Registry,
    db: &Db,
) -> (tinhso_refdata::agencies::Agency, String) {
    let a = r
        .units()
        .committees(db)
        .await
        .unwrap()
        .iter()
        .find(|a| a.code != UBND_TAM_THANH && a.admin_unit_code.is_some())
        .cloned()
        .unwrap();
    let commune = a.admin_unit_code.clone().unwrap();
    (a, commune)
}

/// The value of `org` (`commune:…`) on a communes map; panics when it has none.
pub fn map_value<'a>(
    rows: &'a [tinhso_targets::ops::Child],
    org: &str,
) -> &'a tinhso_targets::engine::Observation {
    rows.iter()
        .find(|c| c.org == org)
        .and_then(|c| c.observation.as_ref())
        .unwrap_or_else(|| panic!("{org}: no value on the map"))
}

/// Each commune's value and note on a communes map (`ops::by_commune`) are the engine's for that
/// commune asked alone from a fresh registry; a commune without a People's Committee has no
/// value on the map and the engine refuses it on `org`.
pub async fn assert_map_is_the_engines(
    db: &Db,
    rows: &[tinhso_targets::ops::Child],
    key: &str,
    period: tinhso_targets::period::Period,
) {
    use tinhso_targets::engine::{OrgUnit, Registry};
    for c in rows {
        let org = OrgUnit::parse(&c.org).unwrap();
        let engine = Registry::standard().observe(db, key, period, &org).await;
        match (&c.observation, engine) {
            (Some(map), Ok(engine)) => {
                assert_eq!(Some(map), engine.as_ref(), "{key} {period} {}", c.org)
            }
            (None, Err(e)) => assert_eq!(e.fields[0].field, "org", "{}", c.org),
            (map, engine) => panic!("{key} {}: map {map:?}, engine {engine:?}", c.org),
        }
    }
}
