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
    wrong_key.api_key = "sai".into();
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
