//! Ratings and PAKN (phản ánh, kiến nghị) over HTTP: the rating form on the tracking page and
//! the public PAKN form posted with their CSRF tokens, the officers' answer page, another
//! commune's officer refused, and the JSON API with its lookup codes.

use crate::{
    client, element_text, hidden_field, json, location, problem, spawn_app, text, TestApp,
};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

/// A birth registration at Phường Tam Thanh filed through the API, then marked as returned
/// (status 10) in the database; returns (dossier code, lookup code).
async fn returned_dossier(app: &TestApp) -> (String, String) {
    let body = json!({
        "procedure_code": "1.001193",
        "commune_code": "05986",
        "channel": "online",
        "applicant": {"kind": 0, "name": "Nguyễn Thị Hoa", "id_number": "020090012345",
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
    let code = v["code"].as_str().unwrap().to_string();
    let lookup = v["lookup_code"].as_str().unwrap().to_string();
    let now = tinhso_store::now_micros();
    sqlx::query(
        "UPDATE dossiers SET status = 10, finished_at = $1, returned_at = $1 WHERE code = $2",
    )
    .bind(now)
    .bind(&code)
    .execute(app.db.pool())
    .await
    .unwrap();
    (code, lookup)
}

async fn page(app: &TestApp, c: &Client, path: &str) -> (StatusCode, String) {
    text(app.get(c, path).await).await
}

async fn post(app: &TestApp, c: &Client, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    c.post(app.url(path)).form(form).send().await.unwrap()
}

/// The satisfaction indicator of the whole scope of `officer` for this month.
async fn satisfaction(app: &TestApp, officer: &Client) -> Value {
    let (status, v) = json(app.get(officer, "/api/v1/indicators/dossiers").await).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["total"]["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == "satisfaction")
        .unwrap()
        .clone()
}

/// The query value of `key` in a location.
fn query_value(loc: &str, key: &str) -> String {
    let q = loc.split_once('?').map(|(_, q)| q).unwrap_or_default();
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.replace("%2E", ".").replace("%2D", "-"))
        .unwrap_or_default()
}

#[tokio::test]
async fn the_applicant_rates_once_and_sends_a_complaint_that_an_officer_answers() {
    let app = spawn_app().await;
    let (code, lookup) = returned_dossier(&app).await;
    let citizen = client();

    // The tracking page carries the rating form (finished dossier).
    let (status, html) = page(
        &app,
        &citizen,
        &format!("/tra-cuu?ma_ho_so={code}&ma={lookup}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("id=\"danh-gia\""),
        "rating form on the tracking page"
    );
    assert!(html.contains("action=\"/tra-cuu/danh-gia\""));
    let csrf = hidden_field(&html, "csrf").expect("csrf");

    // Without the CSRF token: refused, nothing written.
    let resp = post(
        &app,
        &citizen,
        "/tra-cuu/danh-gia",
        &[("ma_ho_so", &code), ("ma", &lookup), ("level", "hai_long")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // No level chosen: the field's message, the comment kept, nothing written.
    let resp = post(
        &app,
        &citizen,
        "/tra-cuu/danh-gia",
        &[
            ("csrf", &csrf),
            ("ma_ho_so", &code),
            ("ma", &lookup),
            ("level", ""),
            ("comment", "Cán bộ hướng dẫn rất kỹ"),
        ],
    )
    .await;
    let (status, html) = text(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"level-err\""), "{html}");
    assert!(html.contains("Vui lòng chọn mức độ hài lòng"));
    assert!(html.contains(">Cán bộ hướng dẫn rất kỹ</textarea>"));
    assert_eq!(app.count("SELECT COUNT(*) FROM dossier_ratings").await, 0);

    let form = [
        ("csrf", csrf.as_str()),
        ("ma_ho_so", code.as_str()),
        ("ma", lookup.as_str()),
        ("level", "hai_long"),
        ("comment", "Cán bộ hướng dẫn rất kỹ"),
    ];
    let resp = post(&app, &citizen, "/tra-cuu/danh-gia", &form).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let loc = location(&resp);
    assert!(loc.starts_with("/tra-cuu/danh-gia?"), "{loc}");
    let (status, html) = page(&app, &citizen, &loc).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(element_text(&html, "muc-do").as_deref(), Some("Hài lòng"));
    assert!(html.contains("id=\"cam-on\""));
    // Once only.
    let (status, html) = text(post(&app, &citizen, "/tra-cuu/danh-gia", &form).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("đã được đánh giá"), "{html}");
    assert_eq!(app.count("SELECT COUNT(*) FROM dossier_ratings").await, 1);
    assert_eq!(app.audit_count("dossier.rate").await, 1);

    let officer = app.signed_in("congchuc.tamthanh").await;
    let before = satisfaction(&app, &officer).await;

    // The PAKN form, from the tracking page's link: the dossier prefilled.
    let (status, html) = page(
        &app,
        &citizen,
        &format!("/phan-anh-kien-nghi?ma_ho_so={code}&ma={lookup}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!("value=\"{code}\"")));
    let csrf = hidden_field(&html, "csrf").expect("csrf");
    let subject = "Trả kết quả chậm hơn hẹn";
    let content = "Tôi đến nhận kết quả hai lần nhưng bộ phận một cửa chưa có.";
    let mut fields = vec![
        ("csrf", csrf.clone()),
        ("kind", "kien_nghi".to_string()),
        ("dossier_code", code.clone()),
        ("lookup_code", "ZZZZZZZZ".to_string()),
        ("agency_code", String::new()),
        ("name", "Nguyễn Thị Hoa".to_string()),
        ("phone", "123".to_string()),
        ("email", String::new()),
        ("subject", subject.to_string()),
        ("content", content.to_string()),
    ];
    // A bad phone and a wrong lookup code: both named, everything typed kept, nothing written.
    let (status, html) = page(&app, &citizen, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("href=\"/phan-anh-kien-nghi\""),
        "linked from the portal"
    );
    let (status, html) = page(&app, &client(), "/phan-anh-kien-nghi?lang=en").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Send feedback or a complaint"));
    let resp = citizen
        .post(app.url("/phan-anh-kien-nghi"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    let (status, html) = text(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"phone-err\""), "{html}");
    assert!(html.contains("Không tìm thấy hồ sơ với mã hồ sơ và mã tra cứu này"));
    assert!(html.contains(&format!("value=\"{subject}\"")));
    assert!(html.contains(content));
    assert!(html.contains("id=\"loai-kien_nghi\" name=\"kind\" value=\"kien_nghi\" aria-describedby=\"loai-kien_nghi-help\" checked"));
    assert_eq!(app.count("SELECT COUNT(*) FROM feedback").await, 0);

    fields[3].1 = lookup.clone();
    fields[6].1 = "0912 345 678".to_string();
    let resp = citizen
        .post(app.url("/phan-anh-kien-nghi"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let loc = location(&resp);
    assert!(
        loc.starts_with("/phan-anh-kien-nghi/tra-cuu?ma_pakn=PAKN-"),
        "{loc}"
    );
    let pakn = query_value(&loc, "ma_pakn");
    let pakn_lookup = query_value(&loc, "ma");
    let (status, html) = page(&app, &citizen, &loc).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"da-gui\""));
    assert_eq!(element_text(&html, "ma-pakn"), Some(pakn.clone()));
    assert_eq!(
        element_text(&html, "trang-thai").as_deref(),
        Some("Đã tiếp nhận")
    );
    // A wrong lookup code: not found, like an unknown code.
    let (status, html) = page(
        &app,
        &citizen,
        &format!("/phan-anh-kien-nghi/tra-cuu?ma_pakn={pakn}&ma=AAAAAAAA"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("id=\"khong-thay\""));

    // The complaint lowers the satisfaction indicator of the dossier's agency by one dossier
    // in `denominator` (the demo data has finished dossiers of its own).
    let after = satisfaction(&app, &officer).await;
    assert_eq!(after["complaints_counted"], true);
    assert_eq!(
        after["complaints"].as_i64(),
        before["complaints"].as_i64().map(|k| k + 1)
    );
    assert_eq!(after["denominator"], before["denominator"]);
    assert_eq!(
        after["numerator"].as_i64(),
        before["numerator"].as_i64().map(|n| n - 1)
    );
    let den = after["denominator"].as_f64().unwrap();
    let drop = before["value"].as_f64().unwrap() - after["value"].as_f64().unwrap();
    assert!((drop - 100.0 / den).abs() < 0.11, "{before} → {after}");
    assert_eq!(after["ratings"]["hai_long"], 1);
    let (status, html) = page(&app, &officer, "/nghiep-vu/chi-so").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Hồ sơ có kiến nghị:"), "{html}");
    // The indicators' notes in Vietnamese on the Vietnamese page.
    assert!(html.contains("đúng như công thức cộng hai tỷ lệ"), "{html}");
    assert!(!html.contains("as the formula adds them"), "{html}");

    // The commune officer of Tam Thanh sees it in the queue and answers.
    let (status, html) = page(&app, &officer, "/nghiep-vu/phan-anh-kien-nghi").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&pakn), "{html}");
    let (status, html) = page(
        &app,
        &officer,
        &format!("/nghiep-vu/phan-anh-kien-nghi?ma_ho_so={code}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Hài lòng — “Cán bộ hướng dẫn rất kỹ”"),
        "{html}"
    );
    let detail = format!("/nghiep-vu/phan-anh-kien-nghi/{pakn}");
    let (status, html) = page(&app, &officer, &detail).await;
    assert_eq!(status, StatusCode::OK);
    let csrf = hidden_field(&html, "csrf").expect("csrf");
    let action = format!("{detail}/xu-ly");
    let resp = post(
        &app,
        &officer,
        &action,
        &[("csrf", &csrf), ("action", "answer"), ("text", "Đã xem")],
    )
    .await;
    let (status, html) = text(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"text-answer-err\""), "{html}");
    assert!(html.contains(">Đã xem</textarea>"));
    let answer = "Bộ phận một cửa đã được nhắc nhở; kết quả đã trả đúng ngày 5.";
    let resp = post(
        &app,
        &officer,
        &action,
        &[("csrf", &csrf), ("action", "answer"), ("text", answer)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.audit_count("feedback.answer").await, 1);

    // The officer of another commune: 403, audited.
    let denied = app.audit_count("authz.denied").await;
    let other = app.signed_in("congchuc.dongkinh").await;
    let (status, _) = page(&app, &other, &detail).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.audit_count("authz.denied").await, denied + 1);
    let (_, html) = page(&app, &other, "/nghiep-vu/phan-anh-kien-nghi").await;
    assert!(!html.contains(&pakn));

    // The sender reads the answer.
    let (status, html) = page(
        &app,
        &client(),
        &format!("/phan-anh-kien-nghi/tra-cuu?ma_pakn={pakn}&ma={pakn_lookup}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        element_text(&html, "trang-thai").as_deref(),
        Some("Đã trả lời")
    );
    assert_eq!(element_text(&html, "tra-loi").as_deref(), Some(answer));
}

#[tokio::test]
async fn the_api_rates_sends_tracks_and_answers() {
    let app = spawn_app().await;
    let (code, lookup) = returned_dossier(&app).await;
    let c = client();

    // Rating: the lookup code proves the applicant; a wrong one looks like no dossier.
    let resp = c
        .post(app.url(&format!("/api/v1/dossiers/{code}/rating?lookup=AAAAAAAA")))
        .json(&json!({"level": "rat_hai_long"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(resp).await.0, StatusCode::NOT_FOUND);
    let resp = c
        .post(app.url(&format!("/api/v1/dossiers/{code}/rating?lookup={lookup}")))
        .json(&json!({"level": "5"}))
        .send()
        .await
        .unwrap();
    let (status, p) = problem(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "level");
    let resp = c
        .post(app.url(&format!("/api/v1/dossiers/{code}/rating?lookup={lookup}")))
        .json(&json!({"level": "rat_hai_long", "comment": "Nhanh"}))
        .send()
        .await
        .unwrap();
    let (status, v) = json(resp).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["level_code"], 3);
    let resp = c
        .post(app.url(&format!("/api/v1/dossiers/{code}/rating?lookup={lookup}")))
        .json(&json!({"level": "khong_hai_long"}))
        .send()
        .await
        .unwrap();
    let (status, p) = problem(resp).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        p["detail_vi"]
            .as_str()
            .unwrap_or_default()
            .contains("một lần"),
        "{p}"
    );
    let resp = c
        .get(app.url(&format!("/api/v1/dossiers/{code}/rating?lookup={lookup}")))
        .send()
        .await
        .unwrap();
    let (status, v) = json(resp).await;
    assert_eq!(
        (status, v["level"].as_str()),
        (StatusCode::OK, Some("rat_hai_long"))
    );

    // PAKN addressed to an agency, by e-mail only.
    let agency = app.agency("Tam Thanh", "ubnd_xa").await;
    let resp = c
        .post(app.url("/api/v1/feedback"))
        .json(
            &json!({"kind": "phan_anh", "name": "Lê Văn Nam", "email": "nam@example.vn",
            "agency_code": agency["code"], "subject": "Niêm yết thủ tục",
            "content": "Bảng niêm yết thủ tục tại trụ sở đã cũ, khó đọc."}),
        )
        .send()
        .await
        .unwrap();
    let (status, sent) = json(resp).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let pakn = sent["feedback"]["code"].as_str().unwrap().to_string();
    let pakn_lookup = sent["lookup_code"].as_str().unwrap().to_string();
    assert_eq!(sent["feedback"]["status"], "received");
    assert!(
        sent["feedback"].get("sender_email").is_none(),
        "no contact details"
    );
    let get = |path: String| {
        let c = c.clone();
        let url = app.url(&path);
        async move { c.get(url).send().await.unwrap() }
    };
    let (status, v) =
        json(get(format!("/api/v1/feedback/{pakn}?lookup={pakn_lookup}")).await).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::OK, Some(pakn.as_str()))
    );
    let wrong = problem(get(format!("/api/v1/feedback/{pakn}?lookup=AAAAAAAA")).await).await;
    let unknown = problem(
        get(format!(
            "/api/v1/feedback/PAKN-000101-0001?lookup={pakn_lookup}"
        ))
        .await,
    )
    .await;
    assert_eq!(wrong.0, StatusCode::NOT_FOUND);
    assert_eq!(wrong.1["detail"], unknown.1["detail"]);
    assert_eq!(wrong.1["code"], unknown.1["code"]);

    // Officers through the API: list in scope, act; another commune's officer is refused.
    let (officer, csrf) = app.api_signed_in("congchuc.tamthanh").await;
    let resp = officer
        .get(app.url("/api/v1/feedback"))
        .send()
        .await
        .unwrap();
    let (status, list) = json(resp).await;
    assert_eq!(status, StatusCode::OK);
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == pakn.as_str()));
    let (other, other_csrf) = app.api_signed_in("congchuc.dongkinh").await;
    let resp = other
        .post(app.url(&format!("/api/v1/feedback/{pakn}/actions")))
        .header("X-CSRF-Token", other_csrf)
        .json(&json!({"action": "start"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(resp).await.0, StatusCode::FORBIDDEN);
    let act = |action: &'static str, text: &'static str| {
        let officer = officer.clone();
        let csrf = csrf.clone();
        let url = app.url(&format!("/api/v1/feedback/{pakn}/actions"));
        async move {
            officer
                .post(url)
                .header("X-CSRF-Token", csrf)
                .json(&json!({"action": action, "text": text}))
                .send()
                .await
                .unwrap()
        }
    };
    let (status, v): (StatusCode, Value) = json(act("start", "").await).await;
    assert_eq!(
        (status, v["status"].as_str()),
        (StatusCode::OK, Some("processing"))
    );
    let (status, p) = problem(act("close", "").await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("answer, reject"),
        "{p}"
    );
    let (status, v) = json(act("answer", "Đã thay bảng niêm yết mới ngày 1/12.").await).await;
    assert_eq!(
        (status, v["status"].as_str()),
        (StatusCode::OK, Some("answered"))
    );
    assert_eq!(v["sender_email"], "nam@example.vn");
}
