//! The audit trail over HTTP: written by every change and refusal, browsed by the auditor,
//! verified, and tampering found.

use crate::{json, problem, spawn_app};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn auditor_browses_and_verifies_the_trail() {
    let app = spawn_app().await;
    let tt = app.agency("tam thanh", "ubnd_xa").await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let dk = app.agency("dong kinh", "ubnd_xa").await["code"]
        .as_str()
        .unwrap()
        .to_string();

    // Some changes and refusals.
    let (officer, csrf) = app.api_signed_in("congchuc.tamthanh").await;
    for (code, expected) in [(&tt, StatusCode::OK), (&dk, StatusCode::FORBIDDEN)] {
        let resp = officer
            .patch(app.url(&format!("/api/v1/agencies/{code}")))
            .header("x-csrf-token", &csrf)
            .json(&json!({"working_hours": "Sáng 7:00–11:30"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), expected);
    }
    let report = tinhso_store::audit::verify(&app.db).await.unwrap();
    assert_eq!(report.first_broken, None);
    let total = app.count("SELECT COUNT(*) FROM audit_log").await;
    assert_eq!(report.entries_checked, total);
    assert_eq!(report.head_seq, total);

    // The auditor signs in without a second factor: the role does not require one.
    assert!(!tinhso_identity::Role::Auditor.requires_totp());
    let (auditor, csrf) = app.api_signed_in("kiemtoan").await;
    let (status, entries) = json(app.get(&auditor, "/api/v1/audit?limit=500").await).await;
    assert_eq!(status, StatusCode::OK, "{entries}");
    let entries = entries.as_array().unwrap();
    // Everything so far, plus the auditor's own sign-in.
    assert_eq!(entries.len() as i64, total + 1);
    let seqs: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seqs:?}"
    );
    assert_eq!(seqs[0], total + 1);
    assert_eq!(entries[0]["action"], "auth.login");
    assert_eq!(entries[1]["action"], "authz.denied");
    assert_eq!(entries[1]["target_id"], format!("agency:{dk}"));
    assert_eq!(entries[2]["action"], "agency.update_contact");
    assert_eq!(entries[2]["target_id"], tt.as_str());
    let summary: serde_json::Value =
        serde_json::from_str(entries[2]["summary"].as_str().unwrap()).unwrap();
    assert_eq!(summary["after"]["working_hours"], "Sáng 7:00–11:30");
    assert_ne!(summary["before"]["working_hours"], "Sáng 7:00–11:30");

    // Filters and paging.
    let (_, denied) = json(app.get(&auditor, "/api/v1/audit?action=authz.denied").await).await;
    assert_eq!(denied.as_array().unwrap().len(), 1);
    let (_, page) = json(
        app.get(
            &auditor,
            &format!("/api/v1/audit?before_seq={}&limit=2", seqs[0]),
        )
        .await,
    )
    .await;
    let page: Vec<i64> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(page, [seqs[1], seqs[2]]);

    // Verification over the API.
    let resp = auditor
        .post(app.url("/api/v1/audit/verify"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    let (status, v) = json(resp).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["first_broken"].is_null(), "{v}");
    assert_eq!(v["entries_checked"], total + 1);

    // The audit page shows the chain intact.
    let html = app
        .get(&auditor, "/quan-tri/nhat-ky")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Chuỗi băm toàn vẹn"), "{html}");

    // Tamper with one entry directly in the database.
    let victim = seqs[2];
    sqlx::query("UPDATE audit_log SET summary = '{}' WHERE seq = $1")
        .bind(victim)
        .execute(app.db.pool())
        .await
        .unwrap();
    let report = tinhso_store::audit::verify(&app.db).await.unwrap();
    assert_eq!(report.first_broken.as_ref().map(|b| b.seq), Some(victim));
    let resp = auditor
        .post(app.url("/api/v1/audit/verify"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    let (status, v) = json(resp).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["first_broken"]["seq"], victim, "{v}");
    assert!(v["first_broken"]["reason"]
        .as_str()
        .unwrap()
        .contains("edited"));
    let html = app
        .get(&auditor, "/quan-tri/nhat-ky")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&format!("Chuỗi băm bị phá vỡ tại bản ghi #{victim}")),
        "{html}"
    );
}

#[tokio::test]
async fn deleting_the_newest_entries_is_found() {
    let app = spawn_app().await;
    let (auditor, csrf) = app.api_signed_in("kiemtoan").await;
    let head = app.count("SELECT MAX(seq) FROM audit_log").await;
    sqlx::query("DELETE FROM audit_log WHERE seq = $1")
        .bind(head)
        .execute(app.db.pool())
        .await
        .unwrap();
    let resp = auditor
        .post(app.url("/api/v1/audit/verify"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    let (status, v) = json(resp).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["first_broken"]["seq"], head, "{v}");
}

/// Only auditors and administrators verify; a department leader reads within its agency.
#[tokio::test]
async fn who_may_read_and_verify_the_trail() {
    let app = spawn_app().await;
    let (leader, csrf) = app.api_signed_in("lanhdao.sokhcn").await;
    let (status, p) = problem(
        leader
            .post(app.url("/api/v1/audit/verify"))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(p["code"], "forbidden");
    let khcn = app.agency("khoa hoc va cong nghe", "so").await["code"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, v) = json(app.get(&leader, "/api/v1/audit?limit=500").await).await;
    assert_eq!(status, StatusCode::OK);
    let entries = v.as_array().unwrap();
    assert!(!entries.is_empty());
    for e in entries {
        assert!(
            e["scope"].as_str().unwrap().starts_with(&khcn),
            "outside the leader's agency: {e}"
        );
    }
}
