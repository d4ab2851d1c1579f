//! Reporting regimes created and edited in the platform over HTTP: the API and the page run
//! the regime file's checks with each problem on its field (422, nothing written, the page
//! keeps what was typed), only the recipient's leaders (or province-wide roles) may save, a
//! form needs its CSRF token, and an edit is a new version: tasks opened before keep theirs.

use crate::{hidden_field, json, problem, text, TestApp};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tinhso_targets::period::Period;
use tinhso_targets::{regimes, reports};

const SKHCN: &str = "000.00.06.H37";
const TAM_THANH: &str = "000.00.23.H37";

fn regime(name_vi: &str, elements: Value) -> Value {
    json!({
        "code": "SKHCN-QUY-THU",
        "name_vi": name_vi,
        "name_en": "Quarterly test report",
        "content": "Số liệu chuyển đổi số hằng quý",
        "legal_basis": "Nghị định 09/2019/NĐ-CP",
        "frequency": "quarter",
        "recipient": SKHCN,
        "reporters": format!("{TAM_THANH}\n000.00.03.H37"),
        "deadline_working_days": "5",
        "template": "I. Kết quả\nII. Kiến nghị",
        "elements": elements,
        "rules": "",
    })
}

fn one_element() -> Value {
    json!([{"key": "so_vu", "vi": "Số vụ", "en": "Cases", "type": "integer", "required": true, "min": "0"}])
}

async fn send(
    app: &TestApp,
    c: &Client,
    csrf: &str,
    method: reqwest::Method,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    c.request(method, app.url(path))
        .header("x-csrf-token", csrf)
        .json(body)
        .send()
        .await
        .expect("request")
}

async fn open(app: &TestApp, code: &str, period: &str) -> reports::Task {
    let r = regimes::get(&app.db, code).await.unwrap().unwrap();
    let cal = tinhso_refdata::calendar::working_calendar(&app.db)
        .await
        .unwrap();
    let ctx = tinhso_store::audit::Ctx::system("test");
    reports::open_period(&app.db, &ctx, &r, Period::parse(period).unwrap(), &cal)
        .await
        .unwrap();
    let id = reports::task_id(code, period, TAM_THANH);
    reports::get(&app.db, &id).await.unwrap().unwrap()
}

#[tokio::test]
async fn regimes_are_created_and_edited_as_new_versions() {
    let app = crate::spawn_app().await;
    let (skhcn, csrf) = app.api_signed_in("lanhdao.sokhcn").await;
    let (ward, ward_csrf) = app.api_signed_in("lanhdao.tamthanh").await;
    let post = reqwest::Method::POST;
    let put = reqwest::Method::PUT;
    let regimes_before = app.count("SELECT COUNT(*) FROM report_regimes").await;

    // Field errors: each on its field, in Vietnamese, nothing written.
    let bad = regime(
        "",
        json!([{"key": "so_vu", "vi": "Số vụ", "en": "Cases", "type": "money", "min": "abc"}]),
    );
    let (s, p) = problem(
        send(
            &app,
            &skhcn,
            &csrf,
            post.clone(),
            "/api/v1/report-regimes",
            &bad,
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"name_vi"), "{p}");
    assert!(fields.contains(&"elements.0.type"), "{p}");
    assert!(fields.contains(&"elements.0.min"), "{p}");
    assert!(p.to_string().contains("không được để trống"), "{p}");
    // The database checks of the import: an unknown reporting agency.
    let mut unknown = regime("Báo cáo quý thử", one_element());
    unknown["reporters"] = json!("000.00.99.H37");
    let (s, p) = problem(
        send(
            &app,
            &skhcn,
            &csrf,
            post.clone(),
            "/api/v1/report-regimes",
            &unknown,
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["field"], "reporters", "{p}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM report_regimes").await,
        regimes_before
    );

    // A ward's leader may not make a regime Sở KH&CN receives: 403, nothing written.
    let good = regime("Báo cáo quý thử", one_element());
    let (s, _) = problem(
        send(
            &app,
            &ward,
            &ward_csrf,
            post.clone(),
            "/api/v1/report-regimes",
            &good,
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM report_regimes").await,
        regimes_before
    );

    // Sở KH&CN's leader creates it: version 1, audited.
    let audits = app.audit_count("report_regime.import").await;
    let (s, r) = json(
        send(
            &app,
            &skhcn,
            &csrf,
            post.clone(),
            "/api/v1/report-regimes",
            &good,
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(
        (r["code"].as_str(), r["version"].as_i64()),
        (Some("SKHCN-QUY-THU"), Some(1))
    );
    assert_eq!(app.audit_count("report_regime.import").await, audits + 1);
    // The same code again is refused on `code`.
    let (s, p) = problem(
        send(
            &app,
            &skhcn,
            &csrf,
            post.clone(),
            "/api/v1/report-regimes",
            &good,
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("code"))
    );

    // A task opened now keeps version 1 after the edit.
    let q1 = open(&app, "SKHCN-QUY-THU", "2026-Q1").await;
    assert_eq!(q1.regime_version, 1);
    let (s, _) = problem(
        send(
            &app,
            &ward,
            &ward_csrf,
            put.clone(),
            "/api/v1/report-regimes/SKHCN-QUY-THU",
            &good,
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // …and the refused edit wrote nothing: still version 1 only.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM report_regime_versions WHERE code = 'SKHCN-QUY-THU'")
            .await,
        1
    );
    let mut two = one_element();
    two.as_array_mut().unwrap().push(json!({"key": "so_vu_xong", "vi": "Số vụ đã xử lý", "en": "Cases settled", "type": "integer", "min": "0"}));
    let mut edited = regime("Báo cáo quý thử (sửa đổi)", two);
    edited["rules"] = json!("so_vu_xong <= so_vu | số vụ đã xử lý không vượt quá số vụ | settled cases cannot exceed cases");
    let (s, r) = json(
        send(
            &app,
            &skhcn,
            &csrf,
            put.clone(),
            "/api/v1/report-regimes/SKHCN-QUY-THU",
            &edited,
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["version"].as_i64(), Some(2));
    // The same content again: nothing written.
    let (s, r) = json(
        send(
            &app,
            &skhcn,
            &csrf,
            put.clone(),
            "/api/v1/report-regimes/SKHCN-QUY-THU",
            &edited,
        )
        .await,
    )
    .await;
    assert_eq!((s, r["version"].as_i64()), (StatusCode::OK, Some(2)));

    let q1 = reports::get(&app.db, &q1.id).await.unwrap().unwrap();
    let old = regimes::for_task(&app.db, &q1).await.unwrap().unwrap();
    assert_eq!(
        (old.version, old.elements.len(), old.name_vi.as_str()),
        (1, 1, "Báo cáo quý thử")
    );
    let q2 = open(&app, "SKHCN-QUY-THU", "2026-Q2").await;
    let new = regimes::for_task(&app.db, &q2).await.unwrap().unwrap();
    assert_eq!(
        (q2.regime_version, new.elements.len(), new.rules.len()),
        (2, 2, 1)
    );
    let (s, v) = json(
        app.get(&skhcn, "/api/v1/report-regimes/SKHCN-QUY-THU/versions")
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let got: Vec<(i64, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["version"].as_i64().unwrap(),
                x["source"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [(1, "nền tảng"), (2, "nền tảng")]);
}

#[tokio::test]
async fn the_page_keeps_what_was_typed_and_saves_a_new_version() {
    let app = crate::spawn_app().await;
    let (skhcn, _) = app.api_signed_in("lanhdao.sokhcn").await;
    // The back office leads to the regimes.
    let (s, html) = text(app.get(&skhcn, "/nghiep-vu").await).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(
        html.contains("href=\"/nghiep-vu/che-do-bao-cao\""),
        "{html}"
    );
    let (s, html) = text(app.get(&skhcn, "/nghiep-vu/che-do-bao-cao/KH226-NAM").await).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("phiên bản 1"), "{html}");
    assert!(html.contains("value=\"ho_so_cong_viec\""), "{html}");
    let csrf = hidden_field(&html, "csrf").unwrap();
    let form = |name_vi: &str, min: &str, with_csrf: bool| {
        let mut f: Vec<(String, String)> = vec![
            ("code".into(), "KH226-NAM".into()),
            ("name_vi".into(), name_vi.into()),
            ("name_en".into(), "Yearly report (edited)".into()),
            ("content".into(), "Kết quả thực hiện Kế hoạch".into()),
            ("legal_basis".into(), "Kế hoạch 226/KH-UBND".into()),
            ("frequency".into(), "year".into()),
            ("recipient".into(), SKHCN.into()),
            ("reporters".into(), TAM_THANH.into()),
            ("deadline_date".into(), "11-20".into()),
            ("template".into(), "I. Kết quả\nII. Kiến nghị".into()),
            ("elements.0.key".into(), "ho_so_cong_viec".into()),
            ("elements.0.vi".into(), "Tổng số hồ sơ công việc".into()),
            ("elements.0.en".into(), "Work records".into()),
            ("elements.0.type".into(), "integer".into()),
            ("elements.0.required".into(), "1".into()),
            ("elements.0.min".into(), min.into()),
            // A blank row of the form is no element.
            ("elements.1.key".into(), String::new()),
        ];
        if with_csrf {
            f.push(("csrf".into(), csrf.clone()));
        }
        f
    };
    let post = |f: Vec<(String, String)>| {
        let c = skhcn.clone();
        let url = app.url("/nghiep-vu/che-do-bao-cao/KH226-NAM");
        async move { c.post(url).form(&f).send().await.unwrap() }
    };
    // Without its CSRF token the form is refused and nothing is written.
    let resp = post(form("Báo cáo năm (sửa)", "0", false)).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // Errors re-show the form with the Vietnamese messages and what was typed.
    let (s, html) = text(post(form("", "mười", true)).await).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("không được để trống"), "{html}");
    assert!(
        html.contains("Quy tắc «số»: phải là một số, ví dụ 12,5 (đã nhập «mười»)"),
        "{html}"
    );
    assert!(html.contains("value=\"mười\""), "the typed value is kept");
    assert!(html.contains("value=\"Yearly report (edited)\""), "{html}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM report_regime_versions WHERE code = 'KH226-NAM'")
            .await,
        1
    );
    // A good one: a new version, the page says so.
    let resp = post(form("Báo cáo năm (sửa)", "0", true)).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, html) = text(app.get(&skhcn, &crate::location(&resp)).await).await;
    assert!(html.contains("Đã ghi phiên bản mới"), "{html}");
    assert!(html.contains("phiên bản 2"), "{html}");
    let r = regimes::get(&app.db, "KH226-NAM").await.unwrap().unwrap();
    assert_eq!((r.version, r.elements.len(), r.reporters.len()), (2, 1, 1));
    // A ward officer cannot open the edit page.
    let (ward, _) = app.api_signed_in("congchuc.tamthanh").await;
    let resp = app.get(&ward, "/nghiep-vu/che-do-bao-cao/KH226-NAM").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}
