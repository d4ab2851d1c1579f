//! The platform's own use (`crate::live_platform`) against hand-computed values on a small
//! fixed data set, written by SQL as the modules leave it. Agencies: Sở Tài chính (TC,
//! `000.00.03.H37`), UBND phường Tam Thanh (TT, `000.00.23.H37`, commune 05986), Văn phòng
//! UBND tỉnh (VP, `000.00.01.H37`). Month 2026-01 is 15 Dec 2025 – 14 Jan 2026, month 2026-02
//! is 15 Jan – 14 Feb 2026 (Decree 09 cut-off windows).
//!
//! **Staff identity** (CCCD on the account, TOTP used at least once, an active signing key):
//!
//! | user | agency | CCCD | TOTP used | key | counted |
//! |---|---|---|---|---|---|
//! | s1 | TC | yes | yes | active | verified |
//! | s2 | TC | yes | secret, never used | active | staff |
//! | s3 | TC | no | yes | active | staff |
//! | s4 | TT | yes | yes | revoked | staff |
//! | s5 | TT | yes | yes | active | verified |
//! | s6 | TT | yes | yes | active | disabled: not counted |
//! | c1 | — (citizen) | yes | — | — | not staff |
//!
//! Province 2/5 = 40 %; TC 1/3 = 33.3 %; commune Tam Thanh 1/2 = 50 %.
//!
//! **Agencies active** (audit entries): s1 `report.submit` 5 Jan (TC); s5 `auth.login` 6 Jan
//! (not work); s4 `dossier.receive` 14 Jan 23:30 (TT, the window's last day); s2
//! `dossier.receive` 15 Jan 00:10 (TC, next month); c1 `dossier.submit` 7 Jan (a citizen);
//! `cli:test` 8 Jan (not staff). Province 2026-01: {TC, TT} / all agencies; 2026-02: {TC};
//! commune Tam Thanh 2026-01 1/1, 2026-02 0/1; TC 2026-02 1/1.
//!
//! **Agencies connected** (hub log): TC-KETOAN → VP `ok` 200 on 3 Jan; TT → VP refused 403 on
//! 4 Jan; TT → TC `ok` but 502 on 5 Jan; TT → VP `ok` 200 on 20 Jan. Province 2026-01: {TC, VP}
//! / all agencies; commune Tam Thanh 2026-01 0/1, 2026-02 1/1; TC 2026-01 1/1.
//!
//! **Regimes digital**: regimes R1, R2, R3; tasks R1/TC, R1/TT, R2/TT; TC saves R1 on 2 Jan
//! and submits it on 4 Jan, TT submits R1 on 10 Jan and R2 on 20 Jan. Province 2026-01: {R1}
//! / 3 = 33.3 %, 2026-02: {R2} / 3; TC 2026-01: 1/1; Tam Thanh 2026-01: {R1} / {R1, R2} = 50 %,
//! 2026-02 50 %; an empty month 0/3.

use super::indicators::obs;
use super::*;
use tinhso_targets::engine::{OrgUnit, Registry};
use tinhso_targets::period::Period;

const TC: &str = "000.00.03.H37";
const TT: &str = "000.00.23.H37";
const VP: &str = "000.00.01.H37";

async fn exec(db: &Db, sql: &str) {
    sqlx::query(sql).execute(db.pool()).await.unwrap();
}

/// A staff account (or a citizen when `agency` is `None`) with its identity factors.
async fn user(
    db: &Db,
    id: &str,
    agency: Option<&str>,
    cccd: bool,
    totp: Option<i64>,
    key: Option<bool>,
    disabled: bool,
) {
    sqlx::query(
        "INSERT INTO users (id, username, display_name, search_key, kind, cccd, agency_code, \
         password_hash, totp_secret, totp_last_step, disabled, created_at, updated_at) \
         VALUES ($1, $1, $1, $1, $2, $3, $4, 'x', $5, $6, $7, 0, 0)",
    )
    .bind(id)
    .bind(if agency.is_some() { "staff" } else { "citizen" })
    .bind(cccd.then_some("020095000123"))
    .bind(agency)
    .bind(totp.map(|_| "JBSWY3DPEHPK3PXP"))
    .bind(totp.unwrap_or(0))
    .bind(i64::from(disabled))
    .execute(db.pool())
    .await
    .unwrap();
    if let Some(active) = key {
        sqlx::query(
            "INSERT INTO signing_keys (id, user_id, public_key, sealed_private_key, created_at, \
             revoked_at) VALUES ($1, $2, 'pk', 'sealed', 0, $3)",
        )
        .bind(format!("k-{id}"))
        .bind(id)
        .bind((!active).then_some(1_i64))
        .execute(db.pool())
        .await
        .unwrap();
    }
}

async fn audit(db: &Db, seq: i64, at: i64, actor: &str, action: &str) {
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, target_type, target_id, scope, \
         request_id, summary, prev_hash, hash) VALUES ($1, $2, $3, $4, 'x', 'x', '', 'r', '{}', \
         'p', 'h')",
    )
    .bind(seq + 1_000_000)
    .bind(at)
    .bind(actor)
    .bind(action)
    .execute(db.pool())
    .await
    .unwrap();
}

async fn exchange(
    db: &Db,
    seq: i64,
    at: i64,
    client: &str,
    provider: &str,
    status: i64,
    outcome: &str,
) {
    sqlx::query(
        "INSERT INTO exchange_log (seq, at, exchange_id, client, provider, service, method, \
         path, status, outcome, latency_us, request_sha256, response_sha256, client_signature, \
         hub_signature, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, 's', 'GET', '/', $6, $7, 1, '', '', '', '', '', '')",
    )
    .bind(seq)
    .bind(at)
    .bind(format!("x-{seq}"))
    .bind(client)
    .bind(provider)
    .bind(status)
    .bind(outcome)
    .execute(db.pool())
    .await
    .unwrap();
}

async fn task(db: &Db, id: &str, regime: &str, agency: &str) {
    sqlx::query(
        "INSERT INTO report_tasks (id, regime_code, period, agency_code, recipient_code, \
         cutoff_last_day, due_date, status, version, late, opened_at) \
         VALUES ($1, $2, '2026-01', $3, $4, '2026-01-14', '2026-01-20', 'submitted', 1, 0, 0)",
    )
    .bind(id)
    .bind(regime)
    .bind(agency)
    .bind(VP)
    .execute(db.pool())
    .await
    .unwrap();
}

async fn version(db: &Db, task: &str, v: i64, action: &str, at: i64) {
    sqlx::query(
        "INSERT INTO report_versions (task_id, version, action, status, report_values, comment, \
         late, actor, at) VALUES ($1, $2, $3, $3, '{}', '', 0, 'user:s1', $4)",
    )
    .bind(task)
    .bind(v)
    .bind(action)
    .bind(at)
    .execute(db.pool())
    .await
    .unwrap();
}

async fn platform_world(db: &Db) {
    user(db, "s1", Some(TC), true, Some(100), Some(true), false).await;
    user(db, "s2", Some(TC), true, Some(0), Some(true), false).await;
    user(db, "s3", Some(TC), false, Some(100), Some(true), false).await;
    user(db, "s4", Some(TT), true, Some(100), Some(false), false).await;
    user(db, "s5", Some(TT), true, Some(100), Some(true), false).await;
    user(db, "s6", Some(TT), true, Some(100), Some(true), true).await;
    user(db, "c1", None, true, None, None, false).await;

    // (seq, day of January 2026, hour, minute, actor, action).
    for (seq, day, h, m, actor, action) in [
        (1, 5, 9, 0, "user:s1", "report.submit"),
        (2, 6, 9, 0, "user:s5", "auth.login"),
        (3, 14, 23, 30, "user:s4", "dossier.receive"),
        (4, 15, 0, 10, "user:s2", "dossier.receive"),
        (5, 7, 9, 0, "user:c1", "dossier.submit"),
        (6, 8, 9, 0, "cli:test", "plan.import"),
    ] {
        audit(db, seq, local_micros(2026, 1, day, h, m), actor, action).await;
    }

    // (seq, day of January 2026, client, provider, status, outcome).
    let ketoan = format!("{TC}-KETOAN");
    for (seq, day, client, provider, status, outcome) in [
        (1, 3, ketoan.as_str(), VP, 200, "ok"),
        (2, 4, TT, VP, 403, "forbidden"),
        (3, 5, TT, TC, 502, "ok"),
        (4, 20, TT, VP, 200, "ok"),
    ] {
        let at = local_micros(2026, 1, day, 9, 0);
        exchange(db, seq, at, client, provider, status, outcome).await;
    }

    for r in ["R1", "R2", "R3"] {
        exec(
            db,
            &format!(
                "INSERT INTO report_regimes (code, name_vi, name_en, frequency, recipient_code, \
                 definition, source, content_sha256, imported_at) \
                 VALUES ('{r}', '{r}', '{r}', 'month', '{VP}', '{{}}', 'test', '', 0)"
            ),
        )
        .await;
    }
    task(db, "t1", "R1", TC).await;
    task(db, "t2", "R1", TT).await;
    task(db, "t3", "R2", TT).await;
    // (task, version, action, day of January 2026).
    for (t, v, action, day) in [
        ("t1", 1, "save", 2),
        ("t1", 2, "submit", 4),
        ("t2", 1, "submit", 10),
        ("t3", 1, "submit", 20),
    ] {
        version(db, t, v, action, local_micros(2026, 1, day, 9, 0)).await;
    }
}

#[tokio::test]
async fn the_platforms_own_use_has_hand_computed_values() {
    let t = env().await;
    let db = &t.db;
    platform_world(db).await;
    let all = count(db, "SELECT COUNT(*) FROM agencies").await as f64;
    assert!(all > 50.0, "the shipped agency list: {all}");
    let p = OrgUnit::Province;
    let tc = OrgUnit::Agency(TC.into());
    let tt = OrgUnit::Commune("05986".into());
    // (indicator, period, unit, numerator, denominator); the value is n / d × 100, one decimal.
    let (id, active, hub, regimes) = (
        "identity.staff_digital_identity",
        "platform.agencies_active",
        "exchange.agencies_connected",
        "reports.regimes_digital",
    );
    let cases: &[(&str, &str, &OrgUnit, f64, f64)] = &[
        // Staff with a verified digital identity: the accounts now, whatever the period.
        (id, "2026-01", &p, 2.0, 5.0),
        (id, "2025", &p, 2.0, 5.0),
        (id, "2026-01", &tc, 1.0, 3.0),
        (id, "2026-01", &tt, 1.0, 2.0),
        // Agencies working on the platform.
        (active, "2026-01", &p, 2.0, all),
        (active, "2026-02", &p, 1.0, all),
        (active, "2026-01", &tt, 1.0, 1.0),
        (active, "2026-02", &tt, 0.0, 1.0),
        (active, "2026-02", &tc, 1.0, 1.0),
        // Agencies exchanging data through the hub.
        (hub, "2026-01", &p, 2.0, all),
        (hub, "2026-01", &tt, 0.0, 1.0),
        (hub, "2026-02", &tt, 1.0, 1.0),
        (hub, "2026-01", &tc, 1.0, 1.0),
        // Reporting regimes used digitally.
        (regimes, "2026-01", &p, 1.0, 3.0),
        (regimes, "2026-02", &p, 1.0, 3.0),
        (regimes, "2026-03", &p, 0.0, 3.0),
        (regimes, "2026-01", &tc, 1.0, 1.0),
        (regimes, "2026-01", &tt, 1.0, 2.0),
    ];
    for &(key, period, org, n, d) in cases {
        let value = Some((n * 1000.0 / d).round() / 10.0);
        assert_eq!(
            obs(db, key, period, org).await,
            (Some(n), Some(d), value),
            "{key} {period} {org}"
        );
    }
    // The hand-computed shares, spelled out.
    assert_eq!(obs(db, id, "2026-01", &tc).await.2, Some(33.3));
    assert_eq!(obs(db, regimes, "2026-01", &tt).await.2, Some(50.0));

    // The operations centre's communes, from one registry (the window's agency set computed
    // once): Tam Thanh's committee acted in January, in February it did not.
    let r = Registry::standard();
    for (period, want) in [("2026-01", 100.0), ("2026-02", 0.0)] {
        let rows = tinhso_targets::ops::by_commune(db, &r, active, Period::parse(period).unwrap())
            .await
            .unwrap();
        let value = |code: &str| {
            let row = rows.iter().find(|c| c.org == code).unwrap();
            row.observation.as_ref().unwrap().value
        };
        assert_eq!(value("commune:05986"), Some(want), "{period}");
        let others = rows
            .iter()
            .filter(|c| c.org != "commune:05986")
            .filter_map(|c| c.observation.as_ref()?.value)
            .filter(|v| *v > 0.0)
            .count();
        assert_eq!(others, 0, "{period}");
    }

    // Each value carries its definition in both languages.
    let o = Registry::standard()
        .observe(db, regimes, Period::parse("2026-01").unwrap(), &p)
        .await
        .unwrap()
        .unwrap();
    assert!(o.note.as_deref().unwrap().contains("chế độ báo cáo"));
    assert!(o.note_in(true).unwrap().contains("regime"));
    // An unknown agency is refused, naming the field.
    let e = Registry::standard()
        .observe(
            db,
            active,
            Period::parse("2026-01").unwrap(),
            &OrgUnit::Agency("999.99.99.H37".into()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.fields[0].field, "org");
}

#[tokio::test]
async fn a_screens_windows_are_computed_ahead_and_kept() {
    let t = env().await;
    let db = &t.db;
    platform_world(db).await;
    let keys = [
        "platform.agencies_active",
        "exchange.agencies_connected",
        "reports.regimes_digital",
    ];
    let periods: Vec<Period> = ["2026-01", "2026-02", "2026-03", "2026-Q1", "2026"]
        .iter()
        .map(|p| Period::parse(p).unwrap())
        .collect();
    let units = [
        OrgUnit::Province,
        OrgUnit::Agency(TC.into()),
        OrgUnit::Commune("05986".into()),
    ];
    let fresh = |key: &'static str, p: Period, org: OrgUnit| async move {
        let o = Registry::standard()
            .observe(db, key, p, &org)
            .await
            .unwrap()
            .unwrap();
        (o.numerator, o.denominator)
    };
    let mut before = Vec::new();
    for org in &units {
        for &p in &periods {
            for key in keys {
                before.push(fresh(key, p, org.clone()).await);
            }
        }
    }
    let ahead = Registry::standard();
    let key_refs: Vec<&str> = keys.to_vec();
    for org in &units {
        ahead.prefetch(db, &key_refs, &periods, org).await.unwrap();
    }
    // The records go: a registry that computed ahead still has every window's values, the
    // same as each window alone gave; a new registry sees the records gone.
    exec(db, "DELETE FROM audit_log").await;
    exec(db, "DELETE FROM exchange_log").await;
    exec(db, "DELETE FROM report_versions").await;
    let mut kept = Vec::new();
    for org in &units {
        for &p in &periods {
            for key in keys {
                let o = ahead.observe(db, key, p, org).await.unwrap().unwrap();
                kept.push((o.numerator, o.denominator));
            }
        }
    }
    assert_eq!(kept, before);
    let jan = Period::parse("2026-01").unwrap();
    assert_eq!(
        fresh("platform.agencies_active", jan, OrgUnit::Province)
            .await
            .0,
        Some(0.0)
    );
}

/// The communes map of each platform indicator reads every People's Committee at once
/// (`live_platform::counts_by_agency`, grouped by agency) and gives, for each of the 65
/// communes, the engine's value and note for that commune asked alone. A second committee
/// (O, another commune) is added so that two communes differ: O's s7 is verified, acted on
/// 20 Jan (month 2026-02), called VP through the hub on 25 Jan and submitted R3 on 26 Jan.
#[tokio::test]
async fn the_communes_maps_read_every_committee_at_once_and_agree_with_the_engine() {
    let t = env().await;
    let db = &t.db;
    platform_world(db).await;
    let (o, o_commune) = another_committee(&Registry::standard(), db).await;
    user(db, "s7", Some(&o.code), true, Some(100), Some(true), false).await;
    audit(
        db,
        7,
        local_micros(2026, 1, 20, 9, 0),
        "user:s7",
        "dossier.receive",
    )
    .await;
    exchange(
        db,
        5,
        local_micros(2026, 1, 25, 9, 0),
        &o.code,
        VP,
        200,
        "ok",
    )
    .await;
    task(db, "t4", "R3", &o.code).await;
    version(db, "t4", 1, "submit", local_micros(2026, 1, 26, 9, 0)).await;

    let o_org = format!("commune:{o_commune}");
    // (indicator, period, Tam Thanh's (n, d), O's (n, d)), by hand from the module's table.
    let cases = [
        ("identity.staff_digital_identity", "2026-01", (1, 2), (1, 1)),
        ("platform.agencies_active", "2026-01", (1, 1), (0, 1)),
        ("platform.agencies_active", "2026-02", (0, 1), (1, 1)),
        ("exchange.agencies_connected", "2026-01", (0, 1), (0, 1)),
        ("exchange.agencies_connected", "2026-02", (1, 1), (1, 1)),
        ("reports.regimes_digital", "2026-01", (1, 2), (0, 1)),
        ("reports.regimes_digital", "2026-02", (1, 2), (1, 1)),
    ];
    for (key, period, tam_thanh, other) in cases {
        let period = Period::parse(period).unwrap();
        let rows = tinhso_targets::ops::by_commune(db, &Registry::standard(), key, period)
            .await
            .unwrap();
        assert_eq!(rows.len(), 65);
        let counts = |org: &str| {
            let o = map_value(&rows, org);
            (o.numerator, o.denominator)
        };
        let f = |(n, d): (i32, i32)| (Some(f64::from(n)), Some(f64::from(d)));
        assert_eq!(counts("commune:05986"), f(tam_thanh), "{key} {period}");
        assert_eq!(counts(&o_org), f(other), "{key} {period}");
        // Every commune's value and note are the engine's for that commune, asked alone.
        assert_map_is_the_engines(db, &rows, key, period).await;
    }
    // The grouped identity read answers every agency asked: 0 of 0 for one without staff.
    let none = "000.00.99.H37".to_string();
    let by_agency = tinhso_identity::usage::staff_identity_by_agency(
        db,
        &[TT.to_string(), TC.to_string(), none.clone()],
    )
    .await
    .unwrap();
    assert_eq!(by_agency.len(), 3);
    assert_eq!((by_agency[TC].verified, by_agency[TC].staff), (1, 3));
    assert_eq!((by_agency[TT].verified, by_agency[TT].staff), (1, 2));
    assert_eq!((by_agency[&none].verified, by_agency[&none].staff), (0, 0));
}
