//! Every staff transition is signed with the actor's key; every transition is audited and
//! announced on the outbox, in the same transaction.

use super::*;
use tinhso_identity::keys;

/// Run a dossier through its whole life with a supplement round, by staff and applicant.
async fn full_history(db: &Db, s: &Staff) -> String {
    let code = submit_anon(db, &birth(TAM_THANH)).await.dossier.code;
    act(db, &s.one_stop, &code, "accept", "").await.unwrap();
    act(db, &s.one_stop, &code, "forward", "").await.unwrap();
    act(
        db,
        &s.officer,
        &code,
        "request_supplement",
        "Bổ sung giấy chứng sinh",
    )
    .await
    .unwrap();
    applicant_act(db, &code, &input("supplement", ""))
        .await
        .unwrap();
    act(db, &s.officer, &code, "forward", "").await.unwrap();
    act(db, &s.leader, &code, "approve", "").await.unwrap();
    act(db, &s.one_stop, &code, "return_result", "")
        .await
        .unwrap();
    code
}

#[tokio::test]
async fn staff_transitions_are_signed_and_applicant_actions_are_not() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let code = full_history(&t.db, &s).await;
    let d = dossier::get(&t.db, &code).await.unwrap().unwrap();
    let actions: Vec<&str> = d.events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "submit",
            "accept",
            "forward",
            "request_supplement",
            "supplement",
            "forward",
            "approve",
            "return_result"
        ]
    );
    let signers = [
        None,
        Some(&s.one_stop),
        Some(&s.one_stop),
        Some(&s.officer),
        None,
        Some(&s.officer),
        Some(&s.leader),
        Some(&s.one_stop),
    ];
    for (e, signer) in d.events.iter().zip(signers) {
        let payload: serde_json::Value = serde_json::from_str(&e.signed_payload).unwrap();
        // The payload states what was decided.
        assert_eq!(payload["dossier"], code.as_str());
        assert_eq!(payload["seq"], e.seq);
        assert_eq!(payload["action"], e.action.as_str());
        assert_eq!(payload["from"], e.from_status);
        assert_eq!(payload["to"], e.to_status);
        assert_eq!(payload["step"], e.step.as_str());
        assert_eq!(payload["reason"], e.reason.as_str());
        assert_eq!(payload["at"], e.at);
        match signer {
            None => {
                assert!(!e.signed, "{}", e.action);
                assert_eq!(e.signature, None);
                assert_eq!(e.public_key, None);
                assert_eq!(payload["actor"], serde_json::Value::Null);
            }
            Some(p) => {
                assert!(e.signed, "{}", e.action);
                assert_eq!(payload["actor"], p.user_id.as_str());
                let pk = e.public_key.as_deref().unwrap();
                let sig = e.signature.as_deref().unwrap();
                // The key is the actor's registered key.
                let registered: String =
                    sqlx::query_scalar("SELECT public_key FROM signing_keys WHERE user_id = $1")
                        .bind(&p.user_id)
                        .fetch_one(t.db.pool())
                        .await
                        .unwrap();
                assert_eq!(pk, registered);
                assert!(
                    keys::verify(pk, e.signed_payload.as_bytes(), sig),
                    "{}",
                    e.action
                );
                // Any change to what was signed breaks the signature.
                let tampered = e
                    .signed_payload
                    .replace(&format!("\"to\":{}", e.to_status), "\"to\":10");
                let tampered = if tampered == e.signed_payload {
                    e.signed_payload.replace("\"to\":10", "\"to\":9")
                } else {
                    tampered
                };
                assert_ne!(tampered, e.signed_payload);
                assert!(!keys::verify(pk, tampered.as_bytes(), sig));
                assert!(!keys::verify(
                    pk,
                    format!("{} ", e.signed_payload).as_bytes(),
                    sig
                ));
                // Another person's key does not verify it.
                let other: String =
                    sqlx::query_scalar("SELECT public_key FROM signing_keys WHERE user_id = $1")
                        .bind(&s.other_commune.user_id)
                        .fetch_one(t.db.pool())
                        .await
                        .unwrap();
                assert!(!keys::verify(&other, e.signed_payload.as_bytes(), sig));
            }
        }
    }
    // Signatures are not interchangeable between events.
    let (a, b) = (&d.events[1], &d.events[2]);
    assert!(!keys::verify(
        a.public_key.as_deref().unwrap(),
        b.signed_payload.as_bytes(),
        a.signature.as_deref().unwrap()
    ));
}

#[tokio::test]
async fn every_transition_is_audited_under_the_agency() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let code = full_history(&t.db, &s).await;
    let entries: Vec<_> = tinhso_store::audit::list(
        &t.db,
        &AuditFilter {
            target_id: Some(code.clone()),
            limit: Some(100),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .into_iter()
    .rev()
    .collect();
    let got: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| (e.action.as_str(), e.scope.as_str(), e.target_type.as_str()))
        .collect();
    let expected: Vec<(&str, &str, &str)> = [
        "dossier.submit",
        "dossier.accept",
        "dossier.forward",
        "dossier.request_supplement",
        "dossier.supplement",
        "dossier.forward",
        "dossier.approve",
        "result.issue",
        "dossier.return_result",
    ]
    .into_iter()
    .map(|a| (a, UBND_TAM_THANH, "dossier"))
    .collect();
    assert_eq!(got, expected);
    let actors: Vec<&str> = entries.iter().map(|e| e.actor.as_str()).collect();
    let one_stop = s.one_stop.actor();
    let officer = s.officer.actor();
    let leader = s.leader.actor();
    assert_eq!(
        actors,
        [
            "anonymous",
            one_stop.as_str(),
            one_stop.as_str(),
            officer.as_str(),
            "anonymous",
            officer.as_str(),
            leader.as_str(),
            leader.as_str(),
            one_stop.as_str()
        ]
    );
    let approve: serde_json::Value = serde_json::from_str(&entries[6].summary).unwrap();
    assert_eq!(approve["before"]["status"], 4);
    assert_eq!(approve["after"]["status"], 9);
    assert_eq!(approve["before"]["step"], "phe_duyet");
    let rs: serde_json::Value = serde_json::from_str(&entries[3].summary).unwrap();
    assert_eq!(rs["reason"], "Bổ sung giấy chứng sinh");
    assert_eq!(rs["after"]["status"], 5);
    // Browsing by the agency's scope finds them.
    let scoped = tinhso_store::audit::list(
        &t.db,
        &AuditFilter {
            scope_prefix: Some(UBND_TAM_THANH.into()),
            action: Some("dossier.forward".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(scoped.len(), 2);
    // Refused and failed attempts leave no trace.
    let before = count(&t.db, "audit_log").await;
    let _ = act(&t.db, &s.one_stop, &code, "accept", "")
        .await
        .unwrap_err();
    let _ = act(&t.db, &s.other_commune, &code, "accept", "")
        .await
        .unwrap_err();
    assert_eq!(count(&t.db, "audit_log").await, before);
    let r = tinhso_store::audit::verify(&t.db).await.unwrap();
    assert_eq!(r.first_broken, None);
    assert_eq!(r.entries_checked, before);
}

#[tokio::test]
async fn status_changes_are_announced_on_the_outbox() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let code = full_history(&t.db, &s).await;
    let events = tinhso_store::outbox::read_after(&t.db, 0, "dossier.", 1000)
        .await
        .unwrap();
    assert!(events.iter().all(|e| e.topic == "dossier.status_changed"));
    let got: Vec<(i64, i64, &str)> = events
        .iter()
        .map(|e| {
            assert_eq!(e.payload["code"], code.as_str());
            assert_eq!(e.payload["agency"], UBND_TAM_THANH);
            (
                e.payload["from"].as_i64().unwrap(),
                e.payload["to"].as_i64().unwrap(),
                e.payload["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (0, 1, "submit"),
            (1, 2, "accept"),
            (2, 4, "forward"),
            (4, 5, "request_supplement"),
            (5, 4, "supplement"),
            (4, 4, "forward"),
            (4, 9, "approve"),
            (9, 10, "return_result"),
        ]
    );
    assert_eq!(events[0].payload["channel"], 2);
    // Sequence order is the order of the transitions.
    for w in events.windows(2) {
        assert!(w[0].seq < w[1].seq);
    }
}

#[tokio::test]
async fn a_transition_that_cannot_be_signed_changes_nothing() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let code = submit_anon(&t.db, &birth(TAM_THANH)).await.dossier.code;
    // The officer's key has been revoked (and no new one issued).
    sqlx::query("UPDATE signing_keys SET revoked_at = $1 WHERE user_id = $2")
        .bind(tinhso_store::now_micros())
        .bind(&s.one_stop.user_id)
        .execute(t.db.pool())
        .await
        .unwrap();
    let before = footprint(&t.db).await;
    let e = assert_code(
        act(&t.db, &s.one_stop, &code, "accept", "").await,
        ErrorCode::Forbidden,
    );
    assert!(e.detail_en.unwrap().contains("signing key"));
    // The dossier update, the event, the audit entry and the outbox event all rolled back.
    assert_eq!(footprint(&t.db).await, before);
    let d = dossier::get(&t.db, &code).await.unwrap().unwrap();
    assert_eq!((d.status, d.accepted_at, d.events.len()), (1, None, 1));
    // Another officer of the agency can still accept it.
    let d = act(&t.db, &s.officer, &code, "accept", "").await.unwrap();
    assert_eq!(d.status, 2);
    assert!(d.events[1].signed);
}
