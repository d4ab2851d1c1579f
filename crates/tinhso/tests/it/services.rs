//! Online public services over HTTP: the catalogue, e-form submission and its receipt,
//! tracking with the lookup code, the one-stop back office and its signed decisions, the
//! applicant's actions, and the JSON API.

use crate::{client, hidden_field, json, location, problem, spawn_app, text, TestApp};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const KHAI_SINH: &str = "1.001193";
const TAM_THANH: &str = "05986";

/// The lookup code and dossier code of a receipt location (`/ho-so/{code}/bien-nhan?ma=…`).
fn receipt_of(loc: &str) -> (String, String) {
    let rest = loc
        .strip_prefix("/ho-so/")
        .unwrap_or_else(|| panic!("not a receipt location: {loc}"));
    let (code, query) = rest.split_once("/bien-nhan?ma=").expect("receipt path");
    (code.to_string(), query.to_string())
}

/// A valid birth registration at Phường Tam Thanh, as the portal form sends it.
fn birth_form(name: &str) -> Vec<(&'static str, String)> {
    [
        ("applicant.kind", "0"),
        ("applicant.name", name),
        ("applicant.id_number", "020090012345"),
        ("applicant.phone", "0912345678"),
        ("applicant.email", ""),
        ("commune_code", TAM_THANH),
        ("form.ho_ten_tre", "Nguyễn Minh Châu"),
        ("form.ngay_sinh_tre", "2026-01-05"),
        ("form.gioi_tinh", "nu"),
        ("form.dan_toc", "kinh"),
        ("form.noi_sinh", "Bệnh viện Đa khoa tỉnh Lạng Sơn"),
        ("form.que_quan", TAM_THANH),
        ("form.ho_ten_me", ""),
        ("form.so_dinh_danh_me", ""),
        ("form.ho_ten_cha", ""),
        ("form.so_dinh_danh_cha", ""),
        ("form.so_ban_sao", "1"),
        ("form.so_dien_thoai", "0912345678"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect()
}

/// GET the e-form of `code`: its CSRF token and idempotency key.
async fn open_form(app: &TestApp, c: &Client, code: &str) -> (String, String, String) {
    let (status, html) = text(app.get(c, &format!("/dich-vu-cong/{code}/nop")).await).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let csrf = hidden_field(&html, "csrf").expect("csrf field");
    let idem = hidden_field(&html, "idem").expect("idempotency key field");
    assert!(!idem.is_empty());
    (csrf, idem, html)
}

async fn post_form(
    app: &TestApp,
    c: &Client,
    path: &str,
    fields: &[(&str, String)],
) -> reqwest::Response {
    c.post(app.url(path))
        .form(fields)
        .send()
        .await
        .expect("POST")
}

/// File a birth registration through the portal; returns (dossier code, lookup code).
pub(crate) async fn file_birth(app: &TestApp, c: &Client, name: &str) -> (String, String) {
    let (csrf, idem, _) = open_form(app, c, KHAI_SINH).await;
    let mut f = birth_form(name);
    f.push(("csrf", csrf));
    f.push(("idem", idem));
    let resp = post_form(app, c, &format!("/dich-vu-cong/{KHAI_SINH}/nop"), &f).await;
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        resp.text().await
    );
    receipt_of(&location(&resp))
}

/// The dossier as the API shows it to its lookup-code holder.
async fn track(app: &TestApp, code: &str, lookup: &str) -> Value {
    let resp = client()
        .get(app.url(&format!("/api/v1/dossiers/{code}/track")))
        .query(&[("lookup", lookup)])
        .send()
        .await
        .unwrap();
    let (status, v) = json(resp).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

/// An officer's action through the back-office form; returns the response.
pub(crate) async fn office_action(
    app: &TestApp,
    c: &Client,
    code: &str,
    action: &str,
    reason: &str,
) -> reqwest::Response {
    let (status, html) = text(app.get(c, &format!("/nghiep-vu/ho-so/{code}")).await).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let csrf = hidden_field(&html, "csrf").expect("csrf");
    post_form(
        app,
        c,
        &format!("/nghiep-vu/ho-so/{code}/xu-ly"),
        &[
            ("csrf", csrf),
            ("action", action.to_string()),
            ("reason", reason.to_string()),
        ],
    )
    .await
}

pub(crate) async fn expect_action(
    app: &TestApp,
    c: &Client,
    code: &str,
    action: &str,
    reason: &str,
) {
    let resp = office_action(app, c, code, action, reason).await;
    let status = resp.status();
    let loc = location(&resp);
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::SEE_OTHER, "{action}: {body}");
    assert_eq!(loc, format!("/nghiep-vu/ho-so/{code}"));
}

#[tokio::test]
async fn catalogue_search_ranks_the_right_procedure_first() {
    let app = spawn_app().await;
    let c = client();
    for (q, want) in [
        ("khai sinh", KHAI_SINH),
        ("giay phep xay dung", "1.013225"),
        ("ho kinh doanh", "1.001612"),
        ("Khai Sinh", KHAI_SINH),
    ] {
        // The API.
        let resp = c
            .get(app.url("/api/v1/procedures"))
            .query(&[("q", q)])
            .send()
            .await
            .unwrap();
        let (status, v) = json(resp).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(v[0]["code"], want, "{q}: {v}");
        // The page lists the same procedure first.
        let resp = c
            .get(app.url("/dich-vu-cong"))
            .query(&[("q", q)])
            .send()
            .await
            .unwrap();
        let (status, html) = text(resp).await;
        assert_eq!(status, StatusCode::OK);
        let list = &html[html.find("class=\"svc-results\"").expect("results")..];
        let first = list.find("href=\"/dich-vu-cong/").expect("a result") + 20;
        assert_eq!(&list[first..first + 8], want, "{q}");
    }
    // Filters: level and sector.
    let (_, v) = json(
        c.get(app.url("/api/v1/procedures"))
            .query(&[("q", "giay phep xay dung"), ("level", "tinh")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["code"], "9.999002");
    let (status, html) = text(
        c.get(app.url("/dich-vu-cong"))
            .query(&[("linh_vuc", "Hộ tịch"), ("cap", "xa")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Đăng ký khai sinh"));
    assert!(!html.contains("Đăng ký thành lập hộ kinh doanh"));
    // Results show level, online level, time limit and fee.
    assert!(html.contains("Cấp xã") && html.contains("Toàn trình"));
    assert!(html.contains("8 giờ làm việc"));

    // The detail page: agency, components, workflow, the submit button; and the notice on a
    // placeholder code.
    let (status, html) = text(app.get(&c, &format!("/dich-vu-cong/{KHAI_SINH}")).await).await;
    assert_eq!(status, StatusCode::OK);
    for needle in [
        "Giấy chứng sinh",
        "Lãnh đạo UBND xã ký, phê duyệt",
        "Luật Hộ tịch 2014",
        "Nộp hồ sơ trực tuyến",
        "8.000 ₫",
    ] {
        assert!(html.contains(needle), "{needle}");
    }
    assert!(!html.contains("Mã thủ tục chưa được xác minh"));
    let (_, html) = text(app.get(&c, "/dich-vu-cong/9.999002").await).await;
    assert!(html.contains("Mã thủ tục chưa được xác minh"));
    let (status, _) = text(app.get(&c, "/dich-vu-cong/1.999999").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn invalid_submission_names_every_field_keeps_input_and_writes_nothing() {
    let app = spawn_app().await;
    let c = client();
    let (csrf, idem, html) = open_form(&app, &c, KHAI_SINH).await;
    // The form: labels tied to inputs, the commune select with Lạng Sơn's 65 units.
    assert!(html.contains("for=\"form-ngay_sinh_tre\""));
    assert!(html.contains("id=\"form-ngay_sinh_tre\""));
    let communes = &html[html.find("id=\"commune_code\"").unwrap()..];
    let communes = &communes[..communes.find("</select>").unwrap()];
    assert_eq!(communes.matches("<option value=\"0").count(), 65);

    let dossiers = app.count("SELECT COUNT(*) FROM dossiers").await;
    let audit = app.count("SELECT COUNT(*) FROM audit_log").await;
    let outbox = app.count("SELECT COUNT(*) FROM outbox").await;
    let bad = [
        ("csrf", csrf.as_str()),
        ("idem", idem.as_str()),
        ("applicant.kind", "0"),
        ("applicant.name", ""),
        ("applicant.id_number", "12345"),
        ("applicant.phone", "12ab"),
        ("applicant.email", "khong-phai-email"),
        ("commune_code", ""),
        ("form.ho_ten_tre", ""),
        ("form.ngay_sinh_tre", "31/02/2026"),
        ("form.gioi_tinh", "khac"),
        ("form.dan_toc", ""),
        ("form.noi_sinh", ""),
        ("form.que_quan", "99999"),
        ("form.so_ban_sao", "nhiều"),
        ("form.so_dien_thoai", ""),
    ];
    let resp = c
        .post(app.url(&format!("/dich-vu-cong/{KHAI_SINH}/nop")))
        .form(&bad)
        .send()
        .await
        .unwrap();
    let (status, html) = text(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for id in [
        "applicant-name",
        "applicant-id_number",
        "applicant-phone",
        "applicant-email",
        "commune_code",
        "form-ho_ten_tre",
        "form-ngay_sinh_tre",
        "form-gioi_tinh",
        "form-dan_toc",
        "form-noi_sinh",
        "form-que_quan",
        "form-so_ban_sao",
        "form-so_dien_thoai",
    ] {
        // The message sits beside the field, tied to it, and in the summary.
        assert!(
            html.contains(&format!("id=\"{id}-err\"")),
            "no error for {id}"
        );
        assert!(
            html.contains(&format!("aria-describedby=\"{id}-err\""))
                || html.contains(&format!("-help {id}-err\"")),
            "{id} not described by its error"
        );
        assert!(
            html.contains(&format!("href=\"#{id}\"")),
            "{id} not in the summary"
        );
    }
    // Fields typed correctly raise nothing.
    assert!(!html.contains("id=\"applicant-kind-err\""));
    // What was typed is kept.
    for typed in ["31/02/2026", "12345", "12ab", "khong-phai-email", "nhiều"] {
        assert!(html.contains(&format!("value=\"{typed}\"")), "{typed} lost");
    }
    // The same idempotency key is kept for the corrected form.
    assert_eq!(hidden_field(&html, "idem").as_deref(), Some(idem.as_str()));
    // Nothing written.
    assert_eq!(app.count("SELECT COUNT(*) FROM dossiers").await, dossiers);
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_log").await, audit);
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, outbox);

    // English messages for an English visitor.
    let resp = c
        .post(app.url(&format!("/dich-vu-cong/{KHAI_SINH}/nop?lang=en")))
        .form(&bad)
        .send()
        .await
        .unwrap();
    let (status, html) = text(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Please correct the following"));
}

#[tokio::test]
async fn submission_gives_a_receipt_and_a_retry_the_same_one() {
    let app = spawn_app().await;
    let c = client();
    let dossiers = app.count("SELECT COUNT(*) FROM dossiers").await;
    let (csrf, idem, _) = open_form(&app, &c, KHAI_SINH).await;
    let mut f = birth_form("Nguyễn Văn An");
    f.push(("csrf", csrf));
    f.push(("idem", idem));
    let path = format!("/dich-vu-cong/{KHAI_SINH}/nop");
    let first = post_form(&app, &c, &path, &f).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let loc = location(&first);
    let (code, lookup) = receipt_of(&loc);
    assert!(code.starts_with("000.00.23.H37-"), "{code}");
    assert_eq!(lookup.len(), 8);
    // The browser retries (a double click, a lost response): the same receipt.
    let again = post_form(&app, &c, &path, &f).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&again), loc);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM dossiers").await,
        dossiers + 1
    );

    // The receipt (form 01).
    let (status, html) = text(app.get(&client(), &loc).await).await;
    assert_eq!(status, StatusCode::OK);
    let d = track(&app, &code, &lookup).await;
    let due = d["due_date"].as_str().unwrap();
    let due_vn = format!("{}/{}/{}", &due[8..10], &due[5..7], &due[0..4]);
    for needle in [
        "Giấy tiếp nhận hồ sơ và hẹn trả kết quả",
        code.as_str(),
        lookup.as_str(),
        "Đăng ký khai sinh",
        "Ủy ban nhân dân phường Tam Thanh",
        "Nguyễn Văn An",
        due_vn.as_str(),
        "8.000 ₫",
        "Giấy chứng sinh",
        "<svg role=\"img\"",
    ] {
        assert!(html.contains(needle), "receipt lacks {needle}");
    }
    // The QR code and the link open the tracking page.
    assert!(html.contains(&format!("/tra-cuu?ma_ho_so={code}&#38;ma={lookup}")));
    // The full identity number is not printed.
    assert!(!html.contains("020090012345"));

    // A changed form under the same key is refused, not silently replayed.
    let mut changed = f.clone();
    for (k, v) in changed.iter_mut() {
        if *k == "applicant.name" {
            *v = "Nguyễn Văn Bình".into();
        }
    }
    let resp = post_form(&app, &c, &path, &changed).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM dossiers").await,
        dossiers + 1
    );

    // The JSON API: the header key overrides the body's; a replay answers 200, same receipt.
    let body = json!({
        "procedure_code": KHAI_SINH,
        "commune_code": TAM_THANH,
        "applicant": {"kind": 0, "name": "Trần Thị Hoa", "id_number": "020195004567", "phone": "0987654321"},
        "form": {"ho_ten_tre": "Trần Gia Bảo", "ngay_sinh_tre": "05/01/2026", "gioi_tinh": "nam",
                 "dan_toc": "nung", "noi_sinh": "Trạm y tế phường Tam Thanh", "que_quan": TAM_THANH,
                 "so_dien_thoai": "0987654321"},
        "channel": "online",
        "idempotency_key": "ignored-body-key"
    });
    let mut receipts = Vec::new();
    for expected in [StatusCode::CREATED, StatusCode::OK] {
        let resp = client()
            .post(app.url("/api/v1/dossiers"))
            .header("Idempotency-Key", "api-retry-1")
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, v) = json(resp).await;
        assert_eq!(status, expected, "{v}");
        receipts.push(v);
    }
    assert_eq!(receipts[0]["code"], receipts[1]["code"]);
    assert_eq!(receipts[0]["lookup_code"], receipts[1]["lookup_code"]);
    assert_eq!(receipts[1]["replayed"], true);
    assert!(receipts[0]["due_date"].is_string());
    assert_eq!(
        app.count("SELECT COUNT(*) FROM dossiers").await,
        dossiers + 2
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM dossiers WHERE idempotency_key = 'api-retry-1'")
            .await,
        1
    );
    // Invalid JSON submissions are problems naming the fields.
    let resp = client()
        .post(app.url("/api/v1/dossiers"))
        .json(&json!({"procedure_code": KHAI_SINH, "applicant": {"kind": 0, "name": "", "id_number": "1", "phone": "1"}, "channel": "online"}))
        .send()
        .await
        .unwrap();
    let (status, p) = problem(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "applicant.name",
        "applicant.id_number",
        "commune_code",
        "form.ho_ten_tre",
    ] {
        assert!(fields.contains(&f), "{f} missing in {fields:?}");
    }
}

#[tokio::test]
async fn a_wrong_lookup_code_looks_like_an_unknown_dossier() {
    let app = spawn_app().await;
    let (code, lookup) = file_birth(&app, &client(), "Nguyễn Văn An").await;
    let wrong = if lookup.starts_with('A') {
        "BBBBBBBB"
    } else {
        "AAAAAAAA"
    };
    let unknown = "000.00.23.H37-991231-9999";
    // API.
    let mut answers = Vec::new();
    for (c, l) in [(code.as_str(), wrong), (unknown, lookup.as_str())] {
        let resp = client()
            .get(app.url(&format!("/api/v1/dossiers/{c}/track")))
            .query(&[("lookup", l)])
            .send()
            .await
            .unwrap();
        answers.push(text(resp).await);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, StatusCode::NOT_FOUND);
    // The receipt page.
    let mut pages = Vec::new();
    for (c, l) in [(code.as_str(), wrong), (unknown, lookup.as_str())] {
        pages.push(
            text(
                app.get(&client(), &format!("/ho-so/{c}/bien-nhan?ma={l}"))
                    .await,
            )
            .await,
        );
    }
    assert_eq!(pages[0], pages[1]);
    assert_eq!(pages[0].0, StatusCode::NOT_FOUND);
    // The tracking page: the same status and message.
    for (c, l) in [(code.as_str(), wrong), (unknown, lookup.as_str())] {
        let (status, html) = text(
            client()
                .get(app.url("/tra-cuu"))
                .query(&[("ma_ho_so", c), ("ma", l)])
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(html.contains("id=\"khong-thay\""));
        assert!(!html.contains("Quá trình xử lý"));
    }
    // The right code, typed loosely (lower case, spaces), finds it.
    let loose = format!("{} {}", &lookup[..4], &lookup[4..]).to_lowercase();
    let (status, html) = text(
        client()
            .get(app.url("/tra-cuu"))
            .query(&[("ma_ho_so", code.as_str()), ("ma", loose.as_str())])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Mới đăng ký"));
    // A signed-in stranger does not see it either.
    let (stranger, _) = app.api_signed_in("4900123467").await;
    let (status, _) = problem(
        app.get(&stranger, &format!("/api/v1/dossiers/{code}"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn one_stop_workflow_with_signed_decisions() {
    let app = spawn_app().await;
    let (code, lookup) = file_birth(&app, &client(), "Nguyễn Văn An").await;
    let officer = app.signed_in("congchuc.tamthanh").await;

    // The queue of the commune lists it, newest first; the other commune's does not.
    let (status, html) = text(app.get(&officer, "/nghiep-vu/ho-so").await).await;
    assert_eq!(status, StatusCode::OK);
    let first = html.find("/nghiep-vu/ho-so/000").expect("a row");
    assert!(html[first..].starts_with(&format!("/nghiep-vu/ho-so/{code}\"")));
    let (_, html) = text(app.get(&officer, "/nghiep-vu/ho-so?trang_thai=1").await).await;
    assert!(html.contains(&code));
    let (_, html) = text(app.get(&officer, "/nghiep-vu/ho-so?trang_thai=4").await).await;
    assert!(!html.contains(&code));
    let (_, html) = text(app.get(&officer, "/nghiep-vu/ho-so?qua_han=1").await).await;
    assert!(!html.contains(&code));
    let other = app.signed_in("congchuc.dongkinh").await;
    let (status, html) = text(app.get(&other, "/nghiep-vu/ho-so").await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains(&code));

    // Another commune's officer: 403 on the page, on the action and on the API, each audited.
    let denied = app.audit_count("authz.denied").await;
    let (status, _) = text(app.get(&other, &format!("/nghiep-vu/ho-so/{code}")).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, own_page) = text(app.get(&other, "/nghiep-vu/ho-so").await).await;
    let csrf = hidden_field(&own_page, "csrf").unwrap();
    let resp = post_form(
        &app,
        &other,
        &format!("/nghiep-vu/ho-so/{code}/xu-ly"),
        &[
            ("csrf", csrf),
            ("action", "accept".into()),
            ("reason", String::new()),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let (api_other, _) = app.api_signed_in("congchuc.dongkinh").await;
    let (status, _) = problem(
        app.get(&api_other, &format!("/api/v1/dossiers/{code}"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.audit_count("authz.denied").await, denied + 3);
    assert_eq!(track(&app, &code, &lookup).await["status"], 1);

    // The officer accepts and forwards twice (appraisal, then the leader's approval step).
    let (_, html) = text(app.get(&officer, &format!("/nghiep-vu/ho-so/{code}")).await).await;
    assert!(html.contains("Họ, chữ đệm và tên của trẻ"));
    assert!(html.contains("Nguyễn Minh Châu"));
    assert!(html.contains("value=\"accept\"") && html.contains("value=\"refuse\""));
    assert!(
        !html.contains("value=\"approve\""),
        "a commune officer cannot approve"
    );
    expect_action(&app, &officer, &code, "accept", "").await;
    assert_eq!(track(&app, &code, &lookup).await["status"], 2);

    // An illegal transition: 409 naming the legal actions, on the page and in the API.
    let resp = office_action(&app, &officer, &code, "return_result", "").await;
    let (status, html) = text(resp).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        html.contains("Thao tác hợp lệ: request_supplement, forward"),
        "{html}"
    );
    let (api_officer, api_csrf) = app.api_signed_in("congchuc.tamthanh").await;
    let resp = api_officer
        .post(app.url(&format!("/api/v1/dossiers/{code}/transitions")))
        .header("X-CSRF-Token", &api_csrf)
        .json(&json!({"action": "approve"}))
        .send()
        .await
        .unwrap();
    let (status, _) = problem(resp).await;
    // Approval needs the approval right: the commune officer has none.
    assert_eq!(status, StatusCode::FORBIDDEN);
    let resp = api_officer
        .post(app.url(&format!("/api/v1/dossiers/{code}/transitions")))
        .header("X-CSRF-Token", &api_csrf)
        .json(&json!({"action": "return_result"}))
        .send()
        .await
        .unwrap();
    let (status, p) = problem(resp).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let detail = p["detail"].as_str().unwrap();
    for a in [
        "request_supplement",
        "forward",
        "request_payment",
        "withdraw",
        "stop",
    ] {
        assert!(detail.contains(a), "{detail}");
    }
    expect_action(&app, &officer, &code, "forward", "").await;
    expect_action(&app, &officer, &code, "forward", "").await;
    let d = track(&app, &code, &lookup).await;
    assert_eq!(d["status"], 4);
    assert_eq!(d["step"], "phe_duyet");

    // The commune's leader approves (second factor at sign-in), the officer returns.
    let approvals = app.audit_count("dossier.approve").await;
    let leader = app.signed_in("lanhdao.tamthanh").await;
    let (_, html) = text(app.get(&leader, &format!("/nghiep-vu/ho-so/{code}")).await).await;
    assert!(html.contains("value=\"approve\""));
    expect_action(&app, &leader, &code, "approve", "").await;
    expect_action(&app, &officer, &code, "return_result", "").await;
    let d = track(&app, &code, &lookup).await;
    assert_eq!(d["status"], 10);
    assert!(d["allowed_actions"].as_array().unwrap().is_empty());

    // Every officer's decision is signed, and the signatures verify.
    let (status, full) = json(
        app.get(&api_officer, &format!("/api/v1/dossiers/{code}"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let events = full["events"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "submit",
            "accept",
            "forward",
            "forward",
            "approve",
            "return_result"
        ]
    );
    for e in &events[1..] {
        assert_eq!(e["signed"], true, "{e}");
        let pk = e["public_key"].as_str().unwrap();
        let payload = e["signed_payload"].as_str().unwrap();
        let sig = e["signature"].as_str().unwrap();
        assert!(
            tinhso_identity::keys::verify(pk, payload.as_bytes(), sig),
            "{e}"
        );
        assert!(!tinhso_identity::keys::verify(
            pk,
            payload
                .replace(&code, "000.00.21.H37-000000-0001")
                .as_bytes(),
            sig
        ));
        assert!(payload.contains(&code));
    }
    // The anonymous submission is not signed; the history page says which are.
    assert_eq!(events[0]["signed"], false);
    let (_, html) = text(
        client()
            .get(app.url("/tra-cuu"))
            .query(&[("ma_ho_so", code.as_str()), ("ma", lookup.as_str())])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(html.matches("đã ký số").count(), 5);
    assert!(html.contains("Hoàng Văn Thắng"));
    assert!(html.contains("Đã trả kết quả"));
    assert_eq!(app.audit_count("dossier.approve").await, approvals + 1);
}

#[tokio::test]
async fn applicant_withdraws_and_supplements_with_the_lookup_code() {
    let app = spawn_app().await;
    let visitor = client();
    let (code, lookup) = file_birth(&app, &visitor, "Nguyễn Văn An").await;
    let track_path = format!("/tra-cuu?ma_ho_so={code}&ma={lookup}");

    // Supplement: the officer accepts and asks for more; the clock stops.
    let officer = app.signed_in("congchuc.tamthanh").await;
    expect_action(&app, &officer, &code, "accept", "").await;
    // A supplement request needs a reason.
    let resp = office_action(&app, &officer, &code, "request_supplement", "").await;
    let (status, html) = text(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"reason-request_supplement-err\""));
    expect_action(
        &app,
        &officer,
        &code,
        "request_supplement",
        "Ghi rõ nơi sinh theo Giấy chứng sinh",
    )
    .await;
    let before = track(&app, &code, &lookup).await;
    assert_eq!(before["status"], 5);
    let due_before = before["due_date"].as_str().unwrap().to_string();
    // The request waited a week (working days elapse while the applicant has the dossier).
    let week = 7 * 24 * 3600 * 1_000_000_i64;
    sqlx::query("UPDATE dossiers SET paused_since = paused_since - $1 WHERE code = $2")
        .bind(week)
        .bind(&code)
        .execute(app.db.pool())
        .await
        .unwrap();

    // The applicant sees the request and the e-form prefilled.
    let (status, html) = text(app.get(&visitor, &track_path).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Ghi rõ nơi sinh theo Giấy chứng sinh"));
    assert!(html.contains("value=\"Bệnh viện Đa khoa tỉnh Lạng Sơn\""));
    assert!(html.contains("value=\"2026-01-05\""));
    let csrf = hidden_field(&html, "csrf").unwrap();
    let mut answer: Vec<(&str, String)> = birth_form("Nguyễn Văn An")
        .into_iter()
        .filter(|(k, _)| k.starts_with("form."))
        .collect();
    for (k, v) in answer.iter_mut() {
        if *k == "form.noi_sinh" {
            *v = String::new();
        }
    }
    answer.push(("csrf", csrf.clone()));
    answer.push(("ma_ho_so", code.clone()));
    answer.push(("ma", lookup.clone()));
    // An invalid answer is shown with its error, nothing changes.
    let resp = post_form(&app, &visitor, "/tra-cuu/bo-sung", &answer).await;
    let (status, html) = text(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"form-noi_sinh-err\""));
    assert_eq!(track(&app, &code, &lookup).await["status"], 5);
    for (k, v) in answer.iter_mut() {
        if *k == "form.noi_sinh" {
            *v = "Bệnh viện Đa khoa tỉnh Lạng Sơn, số 1 đường Lê Lợi".into();
        }
    }
    let resp = post_form(&app, &visitor, "/tra-cuu/bo-sung", &answer).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let after = track(&app, &code, &lookup).await;
    assert_eq!(after["status"], 2, "back where it was");
    assert_eq!(
        after["form"]["noi_sinh"],
        "Bệnh viện Đa khoa tỉnh Lạng Sơn, số 1 đường Lê Lợi"
    );
    let due_after = after["due_date"].as_str().unwrap().to_string();
    assert!(
        due_after > due_before,
        "the promised date moves by the paused working days: {due_before} → {due_after}"
    );

    // Withdrawal: a reason is needed; a wrong lookup code is "not found".
    let (_, html) = text(app.get(&visitor, &track_path).await).await;
    let csrf = hidden_field(&html, "csrf").unwrap();
    let resp = post_form(
        &app,
        &visitor,
        "/tra-cuu/rut-ho-so",
        &[
            ("csrf", csrf.clone()),
            ("ma_ho_so", code.clone()),
            ("ma", "ZZZZZZZZ".into()),
            ("reason", "Tôi nộp nhầm thủ tục".into()),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = post_form(
        &app,
        &visitor,
        "/tra-cuu/rut-ho-so",
        &[
            ("csrf", csrf.clone()),
            ("ma_ho_so", code.clone()),
            ("ma", lookup.clone()),
            ("reason", "".into()),
        ],
    )
    .await;
    let (status, html) = text(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"reason-err\""));
    let resp = post_form(
        &app,
        &visitor,
        "/tra-cuu/rut-ho-so",
        &[
            ("csrf", csrf),
            ("ma_ho_so", code.clone()),
            ("ma", lookup.clone()),
            ("reason", "Tôi nộp nhầm thủ tục".into()),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), track_path);
    let d = track(&app, &code, &lookup).await;
    assert_eq!(d["status"], 7);
    let last = d["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "withdraw");
    assert_eq!(last["actor_name"], "Nguyễn Văn An");
    assert_eq!(last["reason"], "Tôi nộp nhầm thủ tục");
    // Withdrawn is final: the API names no legal action.
    let resp = client()
        .post(app.url(&format!(
            "/api/v1/dossiers/{code}/transitions?lookup={lookup}"
        )))
        .json(&json!({"action": "withdraw", "reason": "Lần nữa cho chắc"}))
        .send()
        .await
        .unwrap();
    let (status, p) = problem(resp).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(p["detail"].as_str().unwrap().contains("none"));
}

#[tokio::test]
async fn signed_in_citizen_owns_the_dossier() {
    let app = spawn_app().await;
    let citizen = app.signed_in("020190001234").await;
    // The applicant block is prefilled from the account.
    let (csrf, idem, html) = open_form(&app, &citizen, KHAI_SINH).await;
    assert!(html.contains("value=\"Hoàng Thị Mai\""));
    assert!(html.contains("value=\"020190001234\""));
    let mut f = birth_form("Hoàng Thị Mai");
    for (k, v) in f.iter_mut() {
        if *k == "applicant.id_number" {
            *v = "020190001234".into();
        }
    }
    f.push(("csrf", csrf));
    f.push(("idem", idem));
    let resp = post_form(
        &app,
        &citizen,
        &format!("/dich-vu-cong/{KHAI_SINH}/nop"),
        &f,
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (code, _) = receipt_of(&location(&resp));
    let (status, html) = text(app.get(&citizen, "/ho-so-cua-toi").await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&code));
    // The API: the owner reads it and lists only their own.
    let (api, csrf) = app.api_signed_in("020190001234").await;
    let (status, d) = json(app.get(&api, &format!("/api/v1/dossiers/{code}")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(d["code"], code.as_str());
    let (_, list) = json(app.get(&api, "/api/v1/dossiers").await).await;
    let list = list.as_array().unwrap();
    assert!(list.iter().any(|r| r["code"] == code.as_str()));
    let own = app
        .count("SELECT COUNT(*) FROM dossiers d JOIN users u ON u.id = d.applicant_user_id WHERE u.cccd = '020190001234'")
        .await;
    assert_eq!(list.len() as i64, own);
    // The owner withdraws without the lookup code.
    let resp = api
        .post(app.url(&format!("/api/v1/dossiers/{code}/transitions")))
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"action": "withdraw", "reason": "Đã đăng ký ở nơi khác"}))
        .send()
        .await
        .unwrap();
    let (status, d) = json(resp).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["status"], 7);
    // Anonymous visitors must sign in for "my dossiers".
    let resp = app.get(&client(), "/ho-so-cua-toi").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn provincial_centre_queue_and_counter_entry() {
    let app = spawn_app().await;
    let motcua = app.signed_in("motcua.tinh").await;
    // The demo's provincial dossiers wait at the centre.
    let (status, html) = text(app.get(&motcua, "/nghiep-vu/ho-so").await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("000.00.03.H37-"), "Sở Tài chính's dossier");
    assert!(html.contains("000.00.08.H37-"), "Sở VHTTDL's dossier");
    assert!(!html.contains("000.00.23.H37-"), "no commune dossier");
    // Counter entry: pick a procedure, fill in, get the receipt; accepted at once.
    let (status, html) = text(
        app.get(
            &motcua,
            "/nghiep-vu/ho-so/tiep-nhan-truc-tiep?thu_tuc=1.004623",
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let csrf = hidden_field(&html, "csrf").unwrap();
    let idem = hidden_field(&html, "idem").unwrap();
    let f: Vec<(&str, String)> = [
        ("csrf", csrf.as_str()),
        ("idem", idem.as_str()),
        ("procedure_code", "1.004623"),
        ("channel", "in_person"),
        ("applicant.kind", "0"),
        ("applicant.name", "Đặng Thu Hà"),
        ("applicant.id_number", "020198007654"),
        ("applicant.phone", "0915222333"),
        ("form.ho_ten_nguoi_yeu_cau", "Đặng Thu Hà"),
        ("form.so_dinh_danh_nguoi_yeu_cau", "020198007654"),
        ("form.ngay_sinh", "20/06/1998"),
        ("form.trinh_do", "Cử nhân Du lịch"),
        ("form.so_chung_chi", "HDV-2025-0001"),
        ("form.so_dien_thoai", "0915222333"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    let resp = post_form(&app, &motcua, "/nghiep-vu/ho-so/tiep-nhan-truc-tiep", &f).await;
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        resp.text().await
    );
    let (code, lookup) = receipt_of(&location(&resp));
    let d = track(&app, &code, &lookup).await;
    assert_eq!(d["status"], 2);
    assert_eq!(d["events"][0]["action"], "receive_at_counter");
    assert_eq!(d["events"][0]["signed"], true);
    // A commune officer cannot enter a provincial dossier.
    let officer = app.signed_in("congchuc.tamthanh").await;
    let (_, html) = text(
        app.get(
            &officer,
            "/nghiep-vu/ho-so/tiep-nhan-truc-tiep?thu_tuc=1.004623",
        )
        .await,
    )
    .await;
    let mut f2 = f.clone();
    for (k, v) in f2.iter_mut() {
        match *k {
            "csrf" => *v = hidden_field(&html, "csrf").unwrap(),
            "idem" => *v = hidden_field(&html, "idem").unwrap(),
            _ => {}
        }
    }
    let resp = post_form(&app, &officer, "/nghiep-vu/ho-so/tiep-nhan-truc-tiep", &f2).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // Citizens have no back office.
    let citizen = app.signed_in("020190001234").await;
    let resp = app.get(&citizen, "/nghiep-vu/ho-so").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn procedures_are_versioned_through_the_api() {
    let app = spawn_app().await;
    let (_, v1) = json(
        app.get(&client(), &format!("/api/v1/procedures/{KHAI_SINH}"))
            .await,
    )
    .await;
    assert_eq!(v1["version"], 1);
    let mut def = v1["procedure"].clone();
    def["time_limit"]["value"] = json!(16);
    // Without the right: 403 (audited).
    let (officer, csrf) = app.api_signed_in("congchuc.tamthanh").await;
    let resp = officer
        .put(app.url(&format!("/api/v1/procedures/{KHAI_SINH}")))
        .header("X-CSRF-Token", &csrf)
        .json(&def)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(resp).await.0, StatusCode::FORBIDDEN);
    let (admin, csrf) = app.api_signed_in("quantri").await;
    let resp = admin
        .put(app.url(&format!("/api/v1/procedures/{KHAI_SINH}")))
        .header("X-CSRF-Token", &csrf)
        .json(&def)
        .send()
        .await
        .unwrap();
    let (status, v2) = json(resp).await;
    assert_eq!(status, StatusCode::OK, "{v2}");
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["procedure"]["time_limit"]["value"], 16);
    let (_, old) = json(
        app.get(
            &client(),
            &format!("/api/v1/procedures/{KHAI_SINH}?version=1"),
        )
        .await,
    )
    .await;
    assert_eq!(old["procedure"]["time_limit"]["value"], 8);
    assert_eq!(old["current"], false);
    // A definition for another code, or an invalid one, is refused.
    let resp = admin
        .put(app.url("/api/v1/procedures/1.000656"))
        .header("X-CSRF-Token", &csrf)
        .json(&def)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(resp).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    def["workflow"] = json!([]);
    let resp = admin
        .put(app.url(&format!("/api/v1/procedures/{KHAI_SINH}")))
        .header("X-CSRF-Token", &csrf)
        .json(&def)
        .send()
        .await
        .unwrap();
    let (status, p) = problem(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "workflow");
}

#[tokio::test]
async fn services_pages_render_in_both_languages() {
    let app = spawn_app().await;
    let (code, lookup) = file_birth(&app, &client(), "Nguyễn Văn An").await;
    let officer = app.signed_in("congchuc.tamthanh").await;
    let pages: Vec<(String, &str, &str)> = vec![
        (
            "/dich-vu-cong".into(),
            "Dịch vụ công trực tuyến",
            "Online public services",
        ),
        (
            format!("/dich-vu-cong/{KHAI_SINH}"),
            "Thành phần hồ sơ",
            "Dossier components",
        ),
        (
            format!("/dich-vu-cong/{KHAI_SINH}/nop"),
            "Người nộp hồ sơ",
            "Applicant",
        ),
        (
            format!("/ho-so/{code}/bien-nhan?ma={lookup}"),
            "Mã tra cứu",
            "Lookup code",
        ),
        (
            format!("/tra-cuu?ma_ho_so={code}&ma={lookup}"),
            "Quá trình xử lý",
            "Processing history",
        ),
        (
            "/nghiep-vu/ho-so".into(),
            "Hồ sơ một cửa",
            "One-stop dossiers",
        ),
        (format!("/nghiep-vu/ho-so/{code}"), "Tờ khai", "Declaration"),
        (
            "/nghiep-vu/ho-so/tiep-nhan-truc-tiep".into(),
            "Tiếp nhận hồ sơ trực tiếp",
            "Counter entry",
        ),
    ];
    for (path, vi, en) in pages {
        for (lang, needle) in [("vi", vi), ("en", en)] {
            let sep = if path.contains('?') { '&' } else { '?' };
            let resp = app.get(&officer, &format!("{path}{sep}lang={lang}")).await;
            let (status, html) = text(resp).await;
            assert_eq!(status, StatusCode::OK, "{path} ({lang})");
            assert!(html.contains(needle), "{path} ({lang}) lacks {needle}");
            assert!(html.contains(&format!("<html lang=\"{lang}\"")));
            // No scripts; every page form carries the CSRF field.
            assert!(!html.contains("<script"), "{path}");
            for form in html.split("<form").skip(1) {
                let form = &form[..form.find("</form>").unwrap()];
                if form.contains("method=\"post\"") {
                    assert!(
                        form.contains("name=\"csrf\""),
                        "{path}: a form without csrf"
                    );
                }
            }
        }
    }
    // The portal home and the back-office home link here.
    let (_, home) = text(app.get(&client(), "/").await).await;
    assert!(home.contains("href=\"/dich-vu-cong\""));
    let (_, bo) = text(app.get(&officer, "/nghiep-vu").await).await;
    assert!(bo.contains("href=\"/nghiep-vu/ho-so\""));
    // The module's stylesheet.
    let resp = app.get(&client(), "/tai-nguyen/dich-vu-cong.css").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(crate::content_type(resp.headers()).starts_with("text/css"));
    // The OpenAPI document has the module's routes.
    let (_, doc) = json(app.get(&client(), "/api/openapi.json").await).await;
    for p in [
        "/api/v1/procedures",
        "/api/v1/procedures/{code}",
        "/api/v1/dossiers",
        "/api/v1/dossiers/{code}",
        "/api/v1/dossiers/{code}/track",
        "/api/v1/dossiers/{code}/transitions",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} not documented");
    }
}
