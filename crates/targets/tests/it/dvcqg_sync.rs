//! The DVCQG sync provider (`connectors.dvcqg_sync`) against hand-computed values. The six
//! dossiers of [`super::indicators::world`], each with a sync state written by SQL as the
//! connectors' sync worker leaves it (`dvcqg_sync`, one row per dossier, `received_at` = the
//! dossier's `submitted_at`):
//!
//! | | agency | submitted (local) | sync state |
//! |---|---|---|---|
//! | A | UBND Tam Thanh | 2026-01-05 | up to date (on the portal, nothing pending) |
//! | B | UBND Tam Thanh | 2026-01-06 | on the portal, but the last update failed twice (pending) |
//! | C | UBND Tam Thanh | 2025-12-20 | up to date |
//! | D | UBND Tam Thanh | 2025-12-10 | up to date |
//! | E | Sở Tài chính | 2026-01-14 23:00 | queued, never sent (not on the portal) |
//! | F | UBND Tam Thanh | 2026-01-15 00:30 | no row (the worker never saw it) |
//!
//! Month 2026-01 (15 Dec 2025 – 14 Jan 2026): A, B, C, E received, A and C synced: 2/4 = 50 %.
//! Commune Tam Thanh (its People's Committee): A, B, C: 2/3 = 66.7 %. Sở Tài chính: E: 0/1 =
//! 0 %. Month 2025-12: D: 1/1 = 100 %. Year 2026 (from 15 Dec 2025): A, B, C, E, F: A and C
//! synced: 2/5 = 40 %. An empty month: 0/0, no value.

use super::indicators::{obs, world};
use super::*;
use tinhso_targets::engine::{OrgUnit, Registry};
use tinhso_targets::period::Period;

const KEY: &str = "connectors.dvcqg_sync";

/// The sync row of the dossier submitted at `submitted`: (on the portal, pending, attempts).
async fn sync_state(db: &Db, submitted: i64, on_portal: i64, pending: i64, attempts: i64) {
    let n = sqlx::query(
        "INSERT INTO dvcqg_sync (dossier_code, agency_code, received_at, on_portal, synced_seq, \
         pending, attempts, next_attempt_at, updated_at) \
         SELECT code, agency_code, submitted_at, $2, $2, $3, $4, 0, 0 FROM dossiers \
         WHERE submitted_at = $1",
    )
    .bind(submitted)
    .bind(on_portal)
    .bind(pending)
    .bind(attempts)
    .execute(db.pool())
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(n, 1, "one dossier submitted at {submitted}");
}

async fn sync_world(db: &Db) {
    world(db).await;
    sync_state(db, local_micros(2026, 1, 5, 10, 0), 1, 0, 0).await; // A
    sync_state(db, local_micros(2026, 1, 6, 9, 0), 1, 1, 2).await; // B
    sync_state(db, local_micros(2025, 12, 20, 9, 0), 1, 0, 0).await; // C
    sync_state(db, local_micros(2025, 12, 10, 9, 0), 1, 0, 0).await; // D
    sync_state(db, local_micros(2026, 1, 14, 23, 0), 0, 1, 0).await; // E
}

#[tokio::test]
async fn the_sync_rate_is_a_live_indicator_with_hand_computed_values() {
    let t = env().await;
    let db = &t.db;
    sync_world(db).await;
    let p = OrgUnit::Province;
    assert_eq!(
        obs(db, KEY, "2026-01", &p).await,
        (Some(2.0), Some(4.0), Some(50.0))
    );
    assert_eq!(
        obs(db, KEY, "2026-01", &OrgUnit::Commune("05986".into())).await,
        (Some(2.0), Some(3.0), Some(66.7))
    );
    assert_eq!(
        obs(db, KEY, "2026-01", &OrgUnit::Agency("000.00.03.H37".into())).await,
        (Some(0.0), Some(1.0), Some(0.0))
    );
    assert_eq!(
        obs(db, KEY, "2025-12", &p).await,
        (Some(1.0), Some(1.0), Some(100.0))
    );
    assert_eq!(
        obs(db, KEY, "2026", &p).await,
        (Some(2.0), Some(5.0), Some(40.0))
    );
    assert_eq!(
        obs(db, KEY, "2025-06", &p).await,
        (Some(0.0), Some(0.0), None)
    );

    // B's update goes through: 3/4 in January.
    sqlx::query("UPDATE dvcqg_sync SET pending = 0, attempts = 0 WHERE attempts = 2")
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(obs(db, KEY, "2026-01", &p).await.2, Some(75.0));

    // The engine's value agrees with the connectors' own figure for the same window.
    let rate = tinhso_connectors::sync::sync_rate(db, ymd(2025, 12, 15), ymd(2026, 1, 15), None)
        .await
        .unwrap();
    assert_eq!((rate.synced, rate.received), (3, 4));
    assert_eq!(rate.rate_percent, Some(75.0));

    // Registered in the standard registry, a live indicator (not reportable), and an unknown
    // commune is refused naming the field.
    let r = Registry::standard();
    assert_eq!(r.provider(KEY).unwrap().name(), "connectors");
    assert!(r.definitions().iter().any(|d| d.key == KEY));
    assert!(tinhso_targets::engine::live_indicator(KEY).is_some());
    let err = r
        .observe(
            db,
            KEY,
            Period::parse("2026-01").unwrap(),
            &OrgUnit::Commune("99999".into()),
        )
        .await
        .unwrap_err();
    assert_eq!(err.fields[0].field, "org");

    // The operations centre's communes: each commune's People's Committee, not only the
    // communes with a border gate.
    let rows = tinhso_targets::ops::by_commune(db, &r, KEY, Period::parse("2026-01").unwrap())
        .await
        .unwrap();
    let tam_thanh = rows.iter().find(|c| c.org == "commune:05986").unwrap();
    let o = tam_thanh.observation.as_ref().unwrap();
    assert_eq!(
        (o.numerator, o.denominator, o.value),
        (Some(3.0), Some(3.0), Some(100.0))
    );
    // Every other commune is measured too, and received nothing.
    assert!(rows.len() > 1);
    for c in rows.iter().filter(|c| c.org != "commune:05986") {
        let o = c
            .observation
            .as_ref()
            .unwrap_or_else(|| panic!("{}", c.org));
        assert_eq!((o.denominator, o.value), (Some(0.0), None), "{}", c.org);
    }
}

#[tokio::test]
async fn the_communes_map_reads_every_committee_at_once_and_agrees_with_the_engine() {
    let t = env().await;
    let db = &t.db;
    sync_world(db).await;
    let r = Registry::standard();
    let (other, other_commune) = another_committee(&r, db).await;
    let other_commune = format!("commune:{other_commune}");
    // E (14 Jan) moves to another commune's People's Committee and reaches the portal: that
    // commune 1/1; Tam Thanh keeps A, B, C with A and C synced: 2/3.
    let e = local_micros(2026, 1, 14, 23, 0);
    for table in ["dossiers", "dvcqg_sync"] {
        let at = if table == "dossiers" {
            "submitted_at"
        } else {
            "received_at"
        };
        sqlx::query(&format!(
            "UPDATE {table} SET agency_code = $1 WHERE {at} = $2"
        ))
        .bind(&other.code)
        .bind(e)
        .execute(db.pool())
        .await
        .unwrap();
    }
    sqlx::query("UPDATE dvcqg_sync SET on_portal = 1, pending = 0 WHERE received_at = $1")
        .bind(e)
        .execute(db.pool())
        .await
        .unwrap();
    let jan = Period::parse("2026-01").unwrap();
    let rows = tinhso_targets::ops::by_commune(db, &r, KEY, jan)
        .await
        .unwrap();
    assert_eq!(rows.len(), 65);
    let counts = |org: &str| {
        let o = map_value(&rows, org);
        (o.numerator, o.denominator, o.value)
    };
    assert_eq!(counts("commune:05986"), (Some(2.0), Some(3.0), Some(66.7)));
    assert_eq!(counts(&other_commune), (Some(1.0), Some(1.0), Some(100.0)));
    // Every commune's value (and its note) is the engine's for that commune, asked alone.
    assert_map_is_the_engines(db, &rows, KEY, jan).await;
    // The grouped read answers every agency asked, 0 of 0 for one that received nothing.
    let none = "000.00.99.H37".to_string();
    let by_agency = tinhso_connectors::sync::sync_rate_by_agency(
        db,
        ymd(2025, 12, 15),
        ymd(2026, 1, 15),
        &[UBND_TAM_THANH.to_string(), other.code.clone(), none.clone()],
    )
    .await
    .unwrap();
    let got: Vec<(i64, i64)> = by_agency.values().map(|r| (r.synced, r.received)).collect();
    assert_eq!(by_agency.len(), 3);
    assert_eq!((by_agency[&none].synced, by_agency[&none].received), (0, 0));
    assert_eq!(by_agency[&none].rate_percent, None);
    assert_eq!(
        (
            by_agency[UBND_TAM_THANH].synced,
            by_agency[UBND_TAM_THANH].received
        ),
        (2, 3)
    );
    assert!(got.contains(&(1, 1)));
}
