//! The connectors over HTTP on the real app: the DVCQG sync status for administrators only,
//! population verification for officers only (unavailable without a configured endpoint, bad
//! input refused), customs decisions in the customs format recorded on a trip, and the admin
//! page. (The connectors' own behaviour against the simulators is tested in
//! crates/connectors/tests.)

use crate::{json, spawn_app, text, TestApp};
use chrono::{Duration, Utc};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

async fn post(
    c: &Client,
    app: &TestApp,
    csrf: &str,
    path: &str,
    body: &Value,
) -> (StatusCode, Value) {
    json(
        c.post(app.url(path))
            .header("x-csrf-token", csrf)
            .json(body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn sync_status_and_population_checks_are_for_the_right_people() {
    let app = spawn_app().await;
    let (admin, admin_csrf) = app.api_signed_in("quantri").await;
    let (s, v) = json(
        app.get(&admin, "/api/v1/connectors/dvcqg/sync-status")
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["configured"], false, "no endpoint in tests");
    assert_eq!(v["status"]["tracked"], 0);
    assert!(v["rate"]["received"].as_i64().unwrap() >= 0);
    let (s, v) = json(
        app.get(
            &admin,
            "/api/v1/connectors/dvcqg/sync-status?from=2026-13-01",
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = post(
        &admin,
        &app,
        &admin_csrf,
        "/api/v1/connectors/dvcqg/resync",
        &json!({}),
    )
    .await;
    assert_eq!((s, v["requeued"].as_i64()), (StatusCode::OK, Some(0)));
    let (s, html) = text(app.get(&admin, "/quan-tri/ket-noi-quoc-gia").await).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Kết nối hệ thống quốc gia") && html.contains("TINHSO_DVCQG_URL"));

    let (officer, csrf) = app.api_signed_in("congchuc.tamthanh").await;
    let (s, _) = json(
        app.get(&officer, "/api/v1/connectors/dvcqg/sync-status")
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A well-formed request with no endpoint configured: 503, audited.
    let before = app.audit_count("connectors.population.verify").await;
    let body = json!({"cccd": "020190001234", "full_name": "Hoàng Thị Mai", "purpose": "kiểm tra"});
    let (s, v) = post(
        &officer,
        &app,
        &csrf,
        "/api/v1/connectors/population/verifications",
        &body,
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(
        app.audit_count("connectors.population.verify").await,
        before + 1
    );
    // Bad input: 422 naming the fields, nothing audited.
    let (s, v) = post(
        &officer,
        &app,
        &csrf,
        "/api/v1/connectors/population/verifications",
        &json!({"cccd": "123", "full_name": ""}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        app.audit_count("connectors.population.verify").await,
        before + 1
    );
    // A citizen may not look people up.
    let (citizen, ccsrf) = app.api_signed_in("020190001234").await;
    let (s, _) = post(
        &citizen,
        &app,
        &ccsrf,
        "/api/v1/connectors/population/verifications",
        &body,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_customs_decision_in_the_customs_format_reaches_the_trip() {
    let app = spawn_app().await;
    let tomorrow = (Utc::now() + Duration::hours(7) + Duration::days(1)).date_naive();
    let (ent, ecsrf) = app.api_signed_in("4900123467").await;
    let (s, trip) = post(&ent, &app, &ecsrf, "/api/v1/border/trips", &json!({
        "enterprise_mst": "4900123467",
        "enterprise_name": "Công ty TNHH Xuất nhập khẩu Hữu Nghị",
        "gate": "HN",
        "direction": "export",
        "expected_arrival": format!("{}T10:00", tomorrow.format("%Y-%m-%d")),
        "vehicle_plate": "12C-345.67",
        "vehicle_payload_kg": 20000,
        "driver": {"id_kind": "cccd", "id_number": "020090001234", "full_name": "Hoàng Văn Bình", "phone": "0912345678"},
        "customs_declaration": "305123456789",
        "goods": [{"hs_code": "0810.60.00", "quantity": 800, "unit": "thùng", "weight_kg": 16000}]
    })).await;
    assert_eq!(s, StatusCode::CREATED, "{trip}");
    let code = trip["code"].as_str().unwrap();
    let at = (Utc::now() + Duration::hours(7) - Duration::minutes(5))
        .format("%d/%m/%Y %H:%M:%S")
        .to_string();
    let message = json!({"SoToKhai": "305123456789", "MaQuyetDinh": "TQ", "NgayGioQuyetDinh": at,
        "BienSoPhuongTien": "12C-345.67", "MaChuyen": code, "MaCongChuc": "HQ-HN-0042"});
    let (customs, csrf) = app.api_signed_in("haiquan.huunghi").await;
    let (s, v) = post(
        &customs,
        &app,
        &csrf,
        "/api/v1/connectors/customs/decisions",
        &message,
    )
    .await;
    assert_eq!(
        (s, v["decision"].as_str()),
        (StatusCode::CREATED, Some("released")),
        "{v}"
    );
    let (s, v) = post(
        &customs,
        &app,
        &csrf,
        "/api/v1/connectors/customs/decisions",
        &message,
    )
    .await;
    assert_eq!(
        (s, v["outcome"].as_str()),
        (StatusCode::OK, Some("duplicate"))
    );
    let mut unknown = message.clone();
    unknown["MaChuyen"] = json!("HN-260101-99999");
    let (s, v) = post(
        &customs,
        &app,
        &csrf,
        "/api/v1/connectors/customs/decisions",
        &unknown,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v.to_string().contains("MaChuyen"), "{v}");
    // The enterprise is no customs office.
    let (s, _) = post(
        &ent,
        &app,
        &ecsrf,
        "/api/v1/connectors/customs/decisions",
        &message,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_dossier_page_checks_the_population_record_and_shows_only_the_verdict() {
    use tinhso_connectors::population::{self, Citizen, Client as PopClient, VerifyInput};
    use tinhso_connectors::simulator::population::PopulationSimulator;
    let app = spawn_app().await;
    let (code, _) = crate::services::file_birth(&app, &crate::client(), "Lục Văn Bình").await;
    let page = format!("/nghiep-vu/ho-so/{code}");
    let officer = app.signed_in("congchuc.tamthanh").await;
    let (s, html) = text(app.get(&officer, &page).await).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains(&format!("{page}/kiem-tra-dan-cu")),
        "the button"
    );
    assert!(!html.contains("Đối chiếu CSDL dân cư:"), "no check yet");
    let csrf = crate::hidden_field(&html, "csrf").unwrap();

    // The button: no endpoint is configured in tests, so the verdict is "unavailable",
    // audited with the dossier as the purpose and a digest instead of the number.
    let before = app.audit_count("connectors.population.verify").await;
    let resp = officer
        .post(app.url(&format!("{page}/kiem-tra-dan-cu")))
        .form(&[("csrf", csrf.clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(crate::location(&resp), format!("{page}#dan-cu"));
    assert_eq!(
        app.audit_count("connectors.population.verify").await,
        before + 1
    );
    let summary: String = sqlx::query_scalar(
        "SELECT summary || ' ' || target_id FROM audit_log WHERE action = 'connectors.population.verify' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert!(summary.contains(&format!("dossier:{code}")) && summary.contains("cccd-digest:"));
    assert!(
        !summary.contains("020090012345") && !summary.contains("Lục Văn Bình"),
        "{summary}"
    );
    let (_, html) = text(app.get(&officer, &page).await).await;
    assert!(
        html.contains("Không kết nối được CSDL dân cư"),
        "unavailable shown"
    );
    // Without the form's CSRF token: refused, nothing asked.
    let resp = officer
        .post(app.url(&format!("{page}/kiem-tra-dan-cu")))
        .form(&[("csrf", "sai")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // An officer of another commune may not check this dossier.
    let (other, other_csrf) = app.api_signed_in("congchuc.dongkinh").await;
    let resp = other
        .post(app.url(&format!("{page}/kiem-tra-dan-cu")))
        .header("x-csrf-token", other_csrf.clone())
        .form(&[("csrf", other_csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.audit_count("connectors.population.verify").await,
        before + 1
    );

    // What the page shows when the database answers (the simulator asked the way the button
    // asks when an endpoint is configured): the verdict only, never the record.
    let d = tinhso_services::dossier::get(&app.db, &code)
        .await
        .unwrap()
        .unwrap();
    let ask = |name: &str| VerifyInput {
        cccd: d.applicant.id_number.clone(),
        full_name: name.into(),
        date_of_birth: String::new(),
        purpose: format!("dossier:{code}"),
    };
    let sim = PopulationSimulator::start(
        "khoa",
        vec![Citizen {
            so_dinh_danh: d.applicant.id_number.clone(),
            ho_va_ten: "Lục Văn Bình".into(),
            ngay_thang_nam_sinh: "14/07/1990".into(),
        }],
    )
    .await
    .unwrap();
    let pop = PopClient::new(sim.config()).unwrap();
    let ctx = tinhso_store::audit::Ctx::system("test");
    population::verify(&app.db, &ctx, Some(&pop), &ask("Lục Văn Bình"))
        .await
        .unwrap();
    let (_, html) = text(app.get(&officer, &page).await).await;
    assert!(html.contains("Khớp với CSDL dân cư"), "match shown");
    assert!(
        !html.contains("14/07/1990"),
        "the record's date of birth is not shown"
    );
    population::verify(&app.db, &ctx, Some(&pop), &ask("Lục Văn Bính"))
        .await
        .unwrap();
    let (_, html) = text(app.get(&officer, &page).await).await;
    assert!(
        html.contains("Không khớp") && html.contains("(họ tên)"),
        "mismatch shown"
    );
    // A check made for another dossier is not this dossier's verdict.
    let mut elsewhere = ask("Lục Văn Bình");
    elsewhere.purpose = "dossier:KHAC".into();
    population::verify(&app.db, &ctx, Some(&pop), &elsewhere)
        .await
        .unwrap();
    let (_, html) = text(app.get(&officer, &page).await).await;
    assert!(html.contains("Không khớp"), "still this dossier's latest");
}
