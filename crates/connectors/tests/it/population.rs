//! Population database verification against the simulator: match, mismatch (which field),
//! not found, unavailable; bad input refused before anything is asked; audited without the
//! name, the date of birth or the number.

use crate::{count, sys};
use tinhso_connectors::population::{self, Client, Verification, VerifyInput};
use tinhso_connectors::simulator::population::{seeded, PopulationSimulator};
use tinhso_kernel::ErrorCode;

fn ask(cccd: &str, name: &str, dob: &str) -> VerifyInput {
    VerifyInput {
        cccd: cccd.into(),
        full_name: name.into(),
        date_of_birth: dob.into(),
        purpose: "000.00.23.H37-261129-0001".into(),
    }
}

#[tokio::test]
async fn match_mismatch_not_found_and_unavailable() {
    let t = crate::env().await;
    let sim = PopulationSimulator::start("khoa-bi-mat", seeded())
        .await
        .unwrap();
    let client = Client::new(sim.config()).unwrap();
    let v = |i: VerifyInput| {
        let (db, c) = (t.db.clone(), &client);
        async move { population::verify(&db, &sys(), Some(c), &i).await.unwrap() }
    };

    // The same name in capitals, typed with combining marks and extra spaces: a match.
    assert_eq!(
        v(ask("020 190 001 234", "HOÀNG THỊ MAI", "")).await,
        Verification::Match
    );
    assert_eq!(
        v(ask(
            "020190001234",
            "Hoa\u{0300}ng  Thi\u{0323} Mai",
            "05/03/1990"
        ))
        .await,
        Verification::Match
    );
    // Without diacritics it is another name; a wrong day of birth is reported as such.
    assert_eq!(
        v(ask("020190001234", "Hoang Thi Mai", "")).await,
        Verification::Mismatch {
            fields: vec!["full_name".into()]
        }
    );
    assert_eq!(
        v(ask("020190001234", "Hoàng Thị Mai", "1990-03-06")).await,
        Verification::Mismatch {
            fields: vec!["date_of_birth".into()]
        }
    );
    assert_eq!(
        v(ask("020085004321", "Nguyễn Văn Ân", "18/08/1985")).await,
        Verification::Mismatch {
            fields: vec!["full_name".into(), "date_of_birth".into()]
        }
    );
    // A well-formed number nobody holds.
    assert_eq!(
        v(ask("020190009999", "Hoàng Thị Mai", "")).await,
        Verification::NotFound
    );
    // The database is down, or refuses our key: unavailable, never a guess.
    sim.set_down(true);
    assert!(matches!(
        v(ask("020190001234", "Hoàng Thị Mai", "")).await,
        Verification::Unavailable { .. }
    ));
    sim.set_down(false);
    let mut wrong_key = sim.config();
    wrong_key.direct.as_mut().unwrap().api_key = "sai".into();
    let other = Client::new(wrong_key).unwrap();
    let r = population::verify(
        &t.db,
        &sys(),
        Some(&other),
        &ask("020190001234", "Hoàng Thị Mai", ""),
    )
    .await
    .unwrap();
    assert!(
        matches!(r, Verification::Unavailable { ref reason } if reason.contains("401")),
        "{r:?}"
    );
    // Not configured at all.
    let r = population::verify(
        &t.db,
        &sys(),
        None,
        &ask("020190001234", "Hoàng Thị Mai", ""),
    )
    .await
    .unwrap();
    assert!(matches!(r, Verification::Unavailable { .. }));

    // Every verification audited: who, a digest of the number, the result; no personal data.
    let audited = count(
        &t.db,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'connectors.population.verify'",
    )
    .await;
    assert_eq!(audited, 9);
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT target_id, summary FROM audit_log WHERE action = 'connectors.population.verify'",
    )
    .fetch_all(t.db.pool())
    .await
    .unwrap();
    for (target, summary) in &rows {
        assert!(target.starts_with("cccd-digest:"), "{target}");
        for secret in [
            "020190001234",
            "020085004321",
            "Hoàng",
            "HOÀNG",
            "Mai",
            "1990",
            "1985",
        ] {
            assert!(
                !summary.contains(secret) && !target.contains(secret),
                "{summary}"
            );
        }
    }
    assert!(rows
        .iter()
        .any(|(_, s)| s.contains("\"mismatch\"") && s.contains("date_of_birth")));
}

#[tokio::test]
async fn bad_input_is_refused_before_asking_and_not_audited() {
    let t = crate::env().await;
    let sim = PopulationSimulator::start("khoa", seeded()).await.unwrap();
    let client = Client::new(sim.config()).unwrap();
    let before = count(&t.db, "SELECT COUNT(*) FROM audit_log").await;
    for (input, field) in [
        (ask("02019000123", "Hoàng Thị Mai", ""), "cccd"),
        (ask("999190001234", "Hoàng Thị Mai", ""), "cccd"),
        (ask("020190001234", " ", ""), "full_name"),
        (
            ask("020190001234", "Hoàng Thị Mai", "31/02/1990"),
            "date_of_birth",
        ),
        (
            ask("020190001234", "Hoàng Thị Mai", "05/03/1991"),
            "date_of_birth",
        ),
    ] {
        let e = population::verify(&t.db, &sys(), Some(&client), &input)
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::ValidationFailed);
        assert_eq!(e.fields[0].field, field, "{input:?}");
        assert!(!e.fields[0].message_vi.is_empty() && !e.fields[0].message_en.is_empty());
    }
    assert_eq!(sim.requests(), 0, "nothing malformed leaves the platform");
    assert_eq!(count(&t.db, "SELECT COUNT(*) FROM audit_log").await, before);
}

/// The hub on loopback (its members' routes), the population simulator behind it registered as
/// `PROVIDER`/`SERVICE`, this platform registered as `PLATFORM` with `key`.
mod through_hub {
    use super::*;
    use std::sync::Arc;
    use tinhso_connectors::population::{Config, HubRoute};
    pub use tinhso_connectors::simulator::population::{
        HUB_PLATFORM as PLATFORM, HUB_PROVIDER as PROVIDER, HUB_SERVICE as SERVICE,
    };
    use tinhso_exchange::{log, registry, signing, Hub};
    use tinhso_store::audit::Ctx;

    fn admin() -> Ctx {
        Ctx {
            actor: "user:quantri".into(),
            request_id: "test".into(),
        }
    }

    pub struct Hubbed {
        pub hub_url: String,
        pub hub_public_key: String,
        pub key: ed25519_dalek::SigningKey,
    }

    /// The hub's members' routes on loopback over `db`; its base URL and public key.
    pub async fn serve_hub(db: &tinhso_store::Db) -> (String, String) {
        let hub = Arc::new(Hub::new(db.clone(), Default::default()));
        let hub_public_key = hub.public_key();
        let state = tinhso_http::AppState::new(db.clone(), tinhso_http::WebConfig::default());
        let app = tinhso_exchange::web::member_routes(hub).with_state(state);
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });
        (format!("http://{addr}"), hub_public_key)
    }

    pub async fn hub(db: &tinhso_store::Db, sim: &PopulationSimulator) -> Hubbed {
        let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        sim.register_on_hub(db, &admin(), PLATFORM, &signing::public_key_b64(&key))
            .await
            .unwrap();
        let (hub_url, hub_public_key) = serve_hub(db).await;
        Hubbed {
            hub_url,
            hub_public_key,
            key,
        }
    }

    pub fn route(h: &Hubbed, hub_url: &str, fallback: bool) -> HubRoute {
        let mut r = HubRoute::new(hub_url, PLATFORM, PROVIDER, SERVICE);
        r.key = h.key.clone();
        r.hub_public_key = h.hub_public_key.clone();
        r.fallback_direct = fallback;
        r.timeout = std::time::Duration::from_secs(5);
        r
    }

    pub fn config(sim: &PopulationSimulator, route: HubRoute) -> Config {
        Config {
            direct: sim.config().direct,
            hub: Some(route),
        }
    }

    pub async fn outcomes(db: &tinhso_store::Db) -> Vec<(String, String)> {
        log::recent(db, 100)
            .await
            .unwrap()
            .into_iter()
            .rev()
            .map(|e| (e.exchange_id, e.outcome))
            .collect()
    }

    pub async fn grant(db: &tinhso_store::Db) {
        registry::grant(db, &admin(), PLATFORM, PROVIDER, SERVICE)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn through_the_hub_the_check_is_access_checked_logged_and_falls_back_only_when_allowed() {
    use through_hub::*;
    let t = crate::env().await;
    let db = &t.db;
    let sim = PopulationSimulator::start("khoa-bi-mat", seeded())
        .await
        .unwrap();
    let h = hub(db, &sim).await;
    let check = |cfg: population::Config| {
        let db = db.clone();
        async move {
            let client = Client::new(cfg).unwrap();
            population::verify(
                &db,
                &sys(),
                Some(&client),
                &ask("020190001234", "Hoàng Thị Mai", ""),
            )
            .await
            .unwrap()
        }
    };
    let summaries = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT summary FROM audit_log WHERE action = 'connectors.population.verify' ORDER BY seq",
        )
        .fetch_all(db.pool())
        .await
        .unwrap()
        .into_iter()
        .map(|s| serde_json::from_str::<serde_json::Value>(&s).unwrap())
        .collect::<Vec<_>>()
    };

    // No right yet: the hub refuses (403, logged), and even with the fallback allowed the
    // database is not asked directly: a refusal is not a failure.
    let r = check(config(&sim, route(&h, &h.hub_url, true))).await;
    assert!(
        matches!(&r, Verification::Unavailable { reason } if reason.contains("lgsp_forbidden")),
        "{r:?}"
    );
    assert_eq!((sim.requests(), sim.hub_requests()), (0, 0));
    let logged = outcomes(db).await;
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].1, "forbidden");

    // Granted: the check is a signed exchange, logged, answered by the database behind the hub.
    grant(db).await;
    assert_eq!(
        check(config(&sim, route(&h, &h.hub_url, false))).await,
        Verification::Match
    );
    assert_eq!((sim.requests(), sim.hub_requests()), (1, 1));
    let logged = outcomes(db).await;
    assert_eq!(logged.len(), 2);
    assert_eq!(logged[1].1, "ok");
    let audited = summaries().await;
    assert_eq!(audited[1]["via"], "hub");
    assert_eq!(
        audited[1]["exchange_id"],
        logged[1].0.as_str(),
        "the audit names the logged exchange"
    );
    assert_eq!(audited[0]["exchange_id"], logged[0].0.as_str());
    // A number nobody holds, through the hub.
    let client = Client::new(config(&sim, route(&h, &h.hub_url, false))).unwrap();
    let v = population::verify(
        db,
        &sys(),
        Some(&client),
        &ask("020190009999", "Hoàng Thị Mai", ""),
    )
    .await
    .unwrap();
    assert_eq!(v, Verification::NotFound);

    // An answer not signed by the hub's key is not believed.
    let mut wrong = route(&h, &h.hub_url, true);
    wrong.hub_public_key = signing_key_b64(9);
    let r = check(config(&sim, wrong)).await;
    assert!(
        matches!(&r, Verification::Unavailable { reason } if reason.contains("not signed")),
        "{r:?}"
    );
    let direct_before = sim.requests() - sim.hub_requests();
    assert_eq!(direct_before, 0, "no fallback for an unsigned answer");

    // The hub down: unavailable without the fallback; with it, the database directly.
    let down = "http://127.0.0.1:9";
    let r = check(config(&sim, route(&h, down, false))).await;
    assert!(matches!(r, Verification::Unavailable { .. }), "{r:?}");
    assert_eq!(sim.requests() - sim.hub_requests(), 0);
    assert_eq!(
        check(config(&sim, route(&h, down, true))).await,
        Verification::Match
    );
    assert_eq!(
        sim.requests() - sim.hub_requests(),
        1,
        "asked directly once"
    );
    let audited = summaries().await;
    assert_eq!(audited.last().unwrap()["via"], "hub_failed_direct");
    // Only through the hub (no direct adapter): nothing to fall back to.
    let mut only_hub = config(&sim, route(&h, down, true));
    only_hub.direct = None;
    assert!(matches!(
        check(only_hub).await,
        Verification::Unavailable { .. }
    ));
    assert_eq!(sim.requests() - sim.hub_requests(), 1);
}

/// `tinhso serve --demo`: the population simulator is registered on the server's own hub and
/// every check goes through it — signed as the platform's member, logged, the simulator asked
/// only by the hub. Started again (a new simulator on a new port), nothing is registered twice
/// and the service follows the simulator.
#[tokio::test]
async fn the_demo_registers_the_population_service_and_checks_through_the_hub() {
    use through_hub::*;
    let t = crate::env().await;
    let db = &t.db;
    let (hub_url, _) = serve_hub(db).await;
    let members = || count(db, "SELECT COUNT(*) FROM exchange_members");
    for start in 1..=2 {
        let (cfg, sim) = tinhso_connectors::runtime::demo_population(db, Some(&hub_url))
            .await
            .unwrap();
        let route = cfg.hub.as_ref().expect("through the hub");
        assert_eq!(
            (
                route.member.as_str(),
                route.provider.as_str(),
                route.service.as_str()
            ),
            (PLATFORM, PROVIDER, SERVICE)
        );
        let service = tinhso_exchange::registry::get_service(db, PROVIDER, SERVICE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(service.endpoint, sim.url(), "start {start}");
        let client = Client::new(cfg).unwrap();
        let v = population::verify(
            db,
            &sys(),
            Some(&client),
            &ask("020085004321", "NGUYỄN VĂN AN", "17/08/1985"),
        )
        .await
        .unwrap();
        assert_eq!(v, Verification::Match, "start {start}");
        assert_eq!(
            (sim.requests(), sim.hub_requests()),
            (1, 1),
            "start {start}"
        );
        let logged = outcomes(db).await;
        assert_eq!(logged.len(), start, "one exchange logged per check");
        assert_eq!(logged[start - 1].1, "ok");
        let via: String = sqlx::query_scalar(
            "SELECT summary FROM audit_log WHERE action = 'connectors.population.verify' ORDER BY seq DESC LIMIT 1",
        )
        .fetch_one(db.pool())
        .await
        .unwrap();
        let via: serde_json::Value = serde_json::from_str(&via).unwrap();
        assert_eq!(via["via"], "hub");
        assert_eq!(via["exchange_id"], logged[start - 1].0.as_str());
        assert_eq!(members().await, 2, "start {start}");
    }
    let keys = count(
        db,
        "SELECT COUNT(*) FROM exchange_member_keys WHERE revoked_at IS NULL",
    )
    .await;
    assert_eq!(keys, 2, "no key rotated in again");
    let grants = count(
        db,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'exchange.right_grant'",
    )
    .await;
    assert_eq!(grants, 1, "the right granted once");

    // Without the hub's address: the simulator directly, as before.
    let (cfg, _sim) = tinhso_connectors::runtime::demo_population(db, None)
        .await
        .unwrap();
    assert!(cfg.hub.is_none() && cfg.direct.is_some());
}

fn signing_key_b64(seed: u8) -> String {
    tinhso_exchange::signing::public_key_b64(&ed25519_dalek::SigningKey::from_bytes(&[seed; 32]))
}
