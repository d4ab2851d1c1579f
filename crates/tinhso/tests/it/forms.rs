//! Forms 02, 03, 04, 06, 07 and procedure editing over HTTP: the applicant downloads the
//! supplement request, the refusal and the apology with the lookup code; the officer records
//! the apology through the dossier page's form (CSRF), gets field errors with the input kept,
//! reads form 06, exports the register as CSV (BOM, header, one row per dossier) and PDF; an
//! administrator saves a procedure edit through the page.

use crate::{client, hidden_field, json, location, spawn_app, text, TestApp};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const TAM_THANH_UBND: &str = "000.00.23.H37";

/// A birth registration at Phường Tam Thanh filed through the API: (code, lookup code).
async fn file(app: &TestApp, name: &str) -> (String, String) {
    let body = json!({
        "procedure_code": "1.001193",
        "commune_code": "05986",
        "channel": "online",
        "applicant": {"kind": 0, "name": name, "id_number": "020090012345",
            "phone": "0912345678", "email": ""},
        "form": {"ho_ten_tre": "Nguyễn Minh Châu", "ngay_sinh_tre": "2026-01-05", "gioi_tinh": "nu",
            "dan_toc": "kinh", "noi_sinh": "Bệnh viện Đa khoa tỉnh Lạng Sơn", "que_quan": "05986",
            "so_ban_sao": "1", "so_dien_thoai": "0912345678"}
    });
    let resp = client()
        .post(app.url("/api/v1/dossiers"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, v) = json(resp).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    (
        v["code"].as_str().unwrap().to_string(),
        v["lookup_code"].as_str().unwrap().to_string(),
    )
}

/// An officer's action through the dossier page's form; asserts the redirect.
async fn act(app: &TestApp, c: &Client, code: &str, action: &str, reason: &str) {
    let (status, html) = text(app.get(c, &format!("/nghiep-vu/ho-so/{code}")).await).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let csrf = hidden_field(&html, "csrf").unwrap();
    let resp = c
        .post(app.url(&format!("/nghiep-vu/ho-so/{code}/xu-ly")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("action", action),
            ("reason", reason),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{action}");
}

/// GET a PDF: 200, `application/pdf`, `%PDF-`.
async fn pdf(app: &TestApp, c: &Client, path: &str) {
    let resp = app.get(c, path).await;
    let status = resp.status();
    let ct = crate::content_type(resp.headers());
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(
        status,
        StatusCode::OK,
        "{path}: {}",
        String::from_utf8_lossy(&bytes)
    );
    assert_eq!(ct, "application/pdf", "{path}");
    assert!(bytes.starts_with(b"%PDF-"), "{path}");
}

#[tokio::test]
async fn notices_apology_slip_and_register_over_http() {
    let app = spawn_app().await;
    let officer = app.signed_in("congchuc.tamthanh").await;
    let (a, la) = file(&app, "Nguyễn Thị Hoa").await;
    let (b, lb) = file(&app, "Trần Văn Bình").await;
    let (c, lc) = file(&app, "Lò Thị Châu").await;

    // Form 02: the applicant downloads it with the lookup code, and finds it on the tracking
    // page; a wrong lookup code is not found.
    act(
        &app,
        &officer,
        &a,
        "request_supplement",
        "Bổ sung giấy chứng sinh bản rõ nét",
    )
    .await;
    pdf(&app, &client(), &format!("/ho-so/{a}/mau-02.pdf?ma={la}")).await;
    let resp = app
        .get(&client(), &format!("/ho-so/{a}/mau-02.pdf?ma=AAAAAAAA"))
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = app.get(&client(), &format!("/ho-so/{a}/mau-02.pdf")).await;
    assert_eq!(
        resp.status(),
        StatusCode::NOT_FOUND,
        "no lookup code, not signed in"
    );
    let (_, html) = text(
        app.get(&client(), &format!("/tra-cuu?ma_ho_so={a}&ma={la}"))
            .await,
    )
    .await;
    assert!(
        html.contains(&format!("/ho-so/{a}/mau-02.pdf?ma={la}")),
        "{html}"
    );
    // No refusal on it: form 03 is not found.
    let resp = app
        .get(&client(), &format!("/ho-so/{a}/mau-03.pdf?ma={la}"))
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // The officer in scope downloads it without the lookup code; through the API too.
    pdf(&app, &officer, &format!("/ho-so/{a}/mau-02.pdf")).await;
    pdf(
        &app,
        &client(),
        &format!("/api/v1/dossiers/{a}/forms/02?lookup={la}"),
    )
    .await;

    // Form 03 from the refusal.
    act(
        &app,
        &officer,
        &b,
        "refuse",
        "Hồ sơ không thuộc thẩm quyền của phường",
    )
    .await;
    pdf(&app, &client(), &format!("/ho-so/{b}/mau-03.pdf?ma={lb}")).await;

    // Form 04: an accepted dossier already past its promised date.
    act(&app, &officer, &c, "accept", "").await;
    let today = tinhso_services::dossier::today_local();
    let yesterday = today.pred_opt().unwrap();
    sqlx::query("UPDATE dossiers SET due_date = $1 WHERE code = $2")
        .bind(yesterday.format("%Y-%m-%d").to_string())
        .bind(&c)
        .execute(app.db.pool())
        .await
        .unwrap();
    let (status, page) = text(app.get(&officer, &format!("/nghiep-vu/ho-so/{c}")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!("action=\"/nghiep-vu/ho-so/{c}/xin-loi\"")),
        "the form is on the dossier page"
    );
    let csrf = hidden_field(&page, "csrf").unwrap();
    let events = app
        .count(&format!(
            "SELECT COUNT(*) FROM dossier_events WHERE dossier_code = '{c}'"
        ))
        .await;
    // Not a working day: 422, the message beside the field, what was typed kept.
    let cal = tinhso_refdata::calendar::working_calendar(&app.db)
        .await
        .unwrap();
    let mut day_off = today.succ_opt().unwrap();
    while cal.is_working_day(day_off) {
        day_off = day_off.succ_opt().unwrap();
    }
    let reason = "Chờ xác minh thông tin hộ tịch tại địa phương khác";
    let resp = officer
        .post(app.url(&format!("/nghiep-vu/ho-so/{c}/xin-loi")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("reason", reason),
            ("new_due_date", &day_off.format("%Y-%m-%d").to_string()),
        ])
        .send()
        .await
        .unwrap();
    let (status, html) = text(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("new_due_date-err") && html.contains("không phải ngày làm việc"),
        "{html}"
    );
    assert!(html.contains(reason), "the reason as typed");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM dossier_events WHERE dossier_code = '{c}'"
        ))
        .await,
        events,
        "nothing written"
    );
    // Without the CSRF token: refused.
    let new_due = cal.add_working_days(today, 2);
    let resp = officer
        .post(app.url(&format!("/nghiep-vu/ho-so/{c}/xin-loi")))
        .form(&[
            ("reason", reason),
            ("new_due_date", &new_due.format("%Y-%m-%d").to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // Another commune's officer: 403.
    let other = app.signed_in("congchuc.dongkinh").await;
    let (_, own) = text(app.get(&other, "/nghiep-vu/ho-so").await).await;
    let other_csrf = hidden_field(&own, "csrf").unwrap();
    let resp = other
        .post(app.url(&format!("/nghiep-vu/ho-so/{c}/xin-loi")))
        .form(&[
            ("csrf", other_csrf.as_str()),
            ("reason", reason),
            ("new_due_date", &new_due.format("%Y-%m-%d").to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // A good one: back to the dossier, the new date promised, the history says so.
    let resp = officer
        .post(app.url(&format!("/nghiep-vu/ho-so/{c}/xin-loi")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("reason", reason),
            ("new_due_date", &new_due.format("%Y-%m-%d").to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(location(&resp).starts_with(&format!("/nghiep-vu/ho-so/{c}")));
    let (_, v) = json(
        app.get(
            &client(),
            &format!("/api/v1/dossiers/{c}/track?lookup={lc}"),
        )
        .await,
    )
    .await;
    assert_eq!(v["due_date"], new_due.format("%Y-%m-%d").to_string());
    assert_eq!(v["status"], 2, "the status does not change");
    let (_, html) = text(
        app.get(&client(), &format!("/tra-cuu?ma_ho_so={c}&ma={lc}"))
            .await,
    )
    .await;
    assert!(
        html.contains("Xin lỗi, hẹn lại ngày trả kết quả"),
        "history on the tracking page"
    );
    pdf(&app, &client(), &format!("/ho-so/{c}/mau-04.pdf?ma={lc}")).await;
    assert_eq!(app.audit_count("dossier.apologise").await, 1);

    // Form 06, page and PDF, for officers.
    let (status, html) = text(
        app.get(&officer, &format!("/nghiep-vu/ho-so/{c}/mau-06"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"ban-giao\""));
    pdf(&app, &officer, &format!("/nghiep-vu/ho-so/{c}/mau-06.pdf")).await;
    pdf(&app, &officer, &format!("/api/v1/dossiers/{c}/forms/06")).await;
    let resp = app
        .get(&other, &format!("/nghiep-vu/ho-so/{c}/mau-06"))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // Form 07: today's register of the commune, as CSV and PDF.
    let day = today.format("%Y-%m-%d").to_string();
    let query = format!("agency={TAM_THANH_UBND}&from={day}&to={day}");
    let resp = app
        .get(&officer, &format!("/nghiep-vu/so-theo-doi.csv?{query}"))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        crate::content_type(resp.headers()),
        "text/csv; charset=utf-8"
    );
    let bytes = resp.bytes().await.unwrap();
    assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "UTF-8 BOM");
    let csv = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(
        lines[0].starts_with("STT,Mã hồ sơ,Mã thủ tục,Tên thủ tục,Người nộp"),
        "{}",
        lines[0]
    );
    let since = tinhso_services::indicators::local_midnight_micros(today);
    let received = app
        .count(&format!(
            "SELECT COUNT(*) FROM dossiers WHERE agency_code = '{TAM_THANH_UBND}' AND submitted_at >= {since}"
        ))
        .await;
    assert_eq!(
        lines.len() as i64,
        received + 1,
        "one row per dossier: {csv}"
    );
    for code in [&a, &b, &c] {
        assert_eq!(
            lines.iter().filter(|l| l.contains(code.as_str())).count(),
            1,
            "{code}"
        );
    }
    let late_row = lines.iter().find(|l| l.contains(c.as_str())).unwrap();
    assert!(
        late_row.contains(&yesterday.format("%d/%m/%Y").to_string()),
        "the first promised date: {late_row}"
    );
    pdf(
        &app,
        &officer,
        &format!("/nghiep-vu/so-theo-doi.pdf?{query}"),
    )
    .await;
    let (status, html) = text(
        app.get(&officer, &format!("/nghiep-vu/so-theo-doi?{query}"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&a) && html.contains("tai-csv"));
    let (status, _) = text(
        app.get(
            &officer,
            &format!("/nghiep-vu/so-theo-doi?agency={TAM_THANH_UBND}&from=2026-13-01&to={day}"),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let resp = app
        .get(&other, &format!("/nghiep-vu/so-theo-doi.csv?{query}"))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let (status, v) = json(
        app.get(&officer, &format!("/api/v1/dossier-register?{query}"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["rows"].as_array().unwrap().len() as i64, received);
}

/// The procedure's definition as the editing form posts it.
fn form_of(p: &Value, csrf: &str) -> Vec<(String, String)> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut f = vec![
        ("csrf".to_string(), csrf.to_string()),
        ("name".into(), s(&p["name"])),
        ("sector".into(), s(&p["sector"])),
        ("level".into(), s(&p["level"])),
        ("time_value".into(), p["time_limit"]["value"].to_string()),
        ("time_unit".into(), s(&p["time_limit"]["unit"])),
        ("online_level".into(), s(&p["online_level"])),
        ("fee_timing".into(), s(&p["fee_timing"])),
        ("result_name".into(), s(&p["result"]["name"])),
        ("fees".into(), p["fees"].to_string()),
        ("components".into(), p["components"].to_string()),
        ("eform".into(), p["eform"].to_string()),
        ("workflow".into(), p["workflow"].to_string()),
    ];
    if p["result"]["electronic"] == true {
        f.push(("result_electronic".into(), "1".into()));
    }
    f
}

#[tokio::test]
async fn an_administrator_edits_a_procedure_through_the_page() {
    let app = spawn_app().await;
    let admin = app.signed_in("quantri").await;
    let path = "/quan-tri/thu-tuc/1.001193";
    let (status, html) = text(app.get(&admin, path).await).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let csrf = hidden_field(&html, "csrf").unwrap();
    let (_, v1) = json(app.get(&client(), "/api/v1/procedures/1.001193").await).await;
    assert_eq!(v1["version"], 1);
    let p = &v1["procedure"];

    // Broken input: every problem beside its field, what was typed kept, nothing saved.
    let mut bad = form_of(p, &csrf);
    for (k, v) in &mut bad {
        match k.as_str() {
            "time_value" => *v = "mười".into(),
            "eform" => *v = "[{\"name\": ".into(),
            "workflow" => *v = "[]".into(),
            _ => {}
        }
    }
    let resp = admin.post(app.url(path)).form(&bad).send().await.unwrap();
    let (status, html) = text(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("id=\"time_value-err\"") && html.contains("id=\"eform-err\""),
        "{html}"
    );
    assert!(html.contains("value=\"mười\""), "typed value kept");
    assert!(
        html.contains("[{&#34;name&#34;: ") || html.contains("[{&quot;name&quot;: "),
        "typed JSON kept"
    );
    // The JSON is fine but the workflow is empty: the catalogue's own check says so.
    let mut empty_flow = form_of(p, &csrf);
    for (k, v) in &mut empty_flow {
        if k == "workflow" {
            *v = "[]".into();
        }
    }
    let resp = admin
        .post(app.url(path))
        .form(&empty_flow)
        .send()
        .await
        .unwrap();
    let (status, html) = text(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"workflow-err\""), "{html}");
    let (_, still) = json(app.get(&client(), "/api/v1/procedures/1.001193").await).await;
    assert_eq!(still["version"], 1);

    // A good edit: a new version, listed on the page.
    let mut good = form_of(p, &csrf);
    for (k, v) in &mut good {
        if k == "time_value" {
            *v = "16".into();
        }
    }
    let resp = admin.post(app.url(path)).form(&good).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), format!("{path}?luu=2"));
    let (_, v2) = json(app.get(&client(), "/api/v1/procedures/1.001193").await).await;
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["procedure"]["time_limit"]["value"], 16);
    assert_eq!(v2["procedure"]["eform"], p["eform"], "the rest unchanged");
    let (_, html) = text(app.get(&admin, &format!("{path}?luu=2")).await).await;
    assert!(html.contains("id=\"da-luu\"") && html.contains("?version=1"));

    // Not an administrator: 403.
    let officer = app.signed_in("congchuc.tamthanh").await;
    let resp = app.get(&officer, path).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_back_office_links_administration_only_for_administrators() {
    let app = spawn_app().await;
    let admin = app.signed_in("quantri").await;
    let (status, html) = text(app.get(&admin, "/nghiep-vu").await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("href=\"/quan-tri/thu-tuc\""), "{html}");
    assert!(html.contains("href=\"/quan-tri/truc-lien-thong\""));
    let officer = app.signed_in("congchuc.tamthanh").await;
    let (_, html) = text(app.get(&officer, "/nghiep-vu").await).await;
    assert!(!html.contains("href=\"/quan-tri/thu-tuc\""));
    assert!(
        html.contains("href=\"/nghiep-vu/so-theo-doi\""),
        "officers keep the register"
    );
    // And the page itself still refuses them: the link is a convenience, not the check.
    let resp = app.get(&officer, "/quan-tri/thu-tuc").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}
