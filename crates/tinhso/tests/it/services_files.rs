//! Attachments over HTTP: the e-form posted as a real `multipart/form-data` body (the CSRF
//! token on the action URL), a program renamed .pdf refused with nothing written, the receipt
//! listing the files, downloads for the applicant and the officers in scope only, and the
//! upload API's problems.

use crate::{client, hidden_field, location, problem, spawn_app, text, TestApp};
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use reqwest::{Client, StatusCode};

const KHAI_SINH: &str = "1.001193";
const TAM_THANH: &str = "05986";
const BOUNDARY: &str = "----tinhso-test-boundary-7MA4YWxkTrZu0gW";

pub(crate) fn pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n".to_vec()
}

fn exe() -> Vec<u8> {
    let mut b = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff".to_vec();
    b.extend_from_slice(&[0u8; 100]);
    b
}

/// A part of a multipart body: a text field, or a file (name, content type, bytes).
pub(crate) enum Part {
    Text(&'static str, String),
    File(&'static str, &'static str, &'static str, Vec<u8>),
}

pub(crate) fn multipart(parts: &[Part]) -> Vec<u8> {
    let mut body = Vec::new();
    for p in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match p {
            Part::Text(name, value) => {
                body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                );
                body.extend_from_slice(value.as_bytes());
            }
            Part::File(name, file_name, ct, bytes) => {
                body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: {ct}\r\n\r\n"
                    )
                    .as_bytes(),
                );
                body.extend_from_slice(bytes);
            }
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

pub(crate) fn birth_fields(name: &str, idem: &str, csrf: &str) -> Vec<Part> {
    [
        ("csrf", csrf),
        ("idem", idem),
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
        ("form.so_ban_sao", "1"),
        ("form.so_dien_thoai", "0912345678"),
    ]
    .into_iter()
    .map(|(k, v)| Part::Text(k, v.to_string()))
    .collect()
}

pub(crate) async fn post_multipart(
    app: &TestApp,
    c: &Client,
    path: &str,
    parts: &[Part],
) -> reqwest::Response {
    c.post(app.url(path))
        .header(
            CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart(parts))
        .send()
        .await
        .expect("POST multipart")
}

async fn footprint(app: &TestApp) -> [i64; 4] {
    [
        app.count("SELECT COUNT(*) FROM dossiers").await,
        app.count("SELECT COUNT(*) FROM dossier_files").await,
        app.count("SELECT COUNT(*) FROM files").await,
        app.count("SELECT COUNT(*) FROM audit_log").await,
    ]
}

/// The first `href` in `html` that starts with `prefix` (HTML-unescaped `&amp;`).
pub(crate) fn link(html: &str, prefix: &str) -> Option<String> {
    let marker = format!("href=\"{prefix}");
    let start = html.find(&marker)? + "href=\"".len();
    let len = html[start..].find('"')?;
    Some(
        html[start..start + len]
            .replace("&amp;", "&")
            .replace("&#38;", "&"),
    )
}

#[tokio::test]
async fn eform_with_files_over_http() {
    let app = spawn_app().await;
    let c = client();
    let form_path = format!("/dich-vu-cong/{KHAI_SINH}/nop");
    let (status, html) = text(app.get(&c, &form_path).await).await;
    assert_eq!(status, StatusCode::OK);
    let csrf = hidden_field(&html, "csrf").expect("csrf");
    let idem = hidden_field(&html, "idem").expect("idem");
    // One file input per component to upload, labelled, typed, the required one marked.
    assert!(html.contains("enctype=\"multipart/form-data\""), "{html}");
    let action = format!("{form_path}?csrf={csrf}");
    assert!(
        html.contains(&format!("action=\"{action}\"")),
        "form action"
    );
    assert!(html.contains(
        "type=\"file\" id=\"files-giay_chung_sinh\" name=\"files.giay_chung_sinh\" accept=\".pdf,.jpg,.jpeg,.png\" multiple aria-required=\"true\""
    ));
    assert!(html.contains("<label for=\"files-giay_chung_sinh\">Giấy chứng sinh"));
    assert!(html.contains("name=\"files.giay_to_tuy_than\""));
    // The declaration is the e-form itself.
    assert!(!html.contains("name=\"files.to_khai\""));

    // Without the token on the URL: refused before anything runs.
    let before = footprint(&app).await;
    let mut parts = birth_fields("Nguyễn Văn An", &idem, &csrf);
    parts.push(Part::File(
        "files.giay_chung_sinh",
        "giay-chung-sinh.pdf",
        "application/pdf",
        pdf(),
    ));
    let resp = post_multipart(&app, &c, &form_path, &parts).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(footprint(&app).await, before);

    // A program renamed .pdf beside a good PDF: 422, the message beside its input naming what
    // it is, what was typed kept, nothing written.
    parts.push(Part::File(
        "files.giay_to_tuy_than",
        "cccd.pdf",
        "application/pdf",
        exe(),
    ));
    let resp = post_multipart(&app, &c, &action, &parts).await;
    let (status, html) = text(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    let err = crate::element_text(&html, "files-giay_to_tuy_than-err").unwrap_or_default();
    assert!(html.contains("id=\"files-giay_to_tuy_than-err\""), "{html}");
    assert!(html.contains("application/x-msdownload"), "{err}");
    assert!(html
        .contains("aria-describedby=\"files-giay_to_tuy_than-help files-giay_to_tuy_than-err\""));
    assert!(
        html.contains("href=\"#files-giay_to_tuy_than\""),
        "in the summary"
    );
    assert!(html.contains("value=\"Nguyễn Văn An\""), "typed name kept");
    assert!(
        html.contains("id=\"chon-lai-tep\""),
        "asks to choose the files again"
    );
    assert_eq!(hidden_field(&html, "idem").as_deref(), Some(idem.as_str()));
    assert_eq!(footprint(&app).await, before);

    // The required copy missing: 422 beside its input.
    let parts = birth_fields("Nguyễn Văn An", &idem, &csrf);
    let (status, html) = text(post_multipart(&app, &c, &action, &parts).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"files-giay_chung_sinh-err\""), "{html}");
    assert_eq!(footprint(&app).await, before);

    // The good submission: a receipt listing the file, whose link returns the exact bytes.
    let mut parts = birth_fields("Nguyễn Văn An", &idem, &csrf);
    parts.push(Part::File(
        "files.giay_chung_sinh",
        "giấy chứng sinh.pdf",
        "application/pdf",
        pdf(),
    ));
    // An input left empty, as browsers send it.
    parts.push(Part::File(
        "files.giay_to_tuy_than",
        "",
        "application/octet-stream",
        Vec::new(),
    ));
    let resp = post_multipart(&app, &c, &action, &parts).await;
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        resp.text().await
    );
    let receipt = location(&resp);
    let code = receipt
        .strip_prefix("/ho-so/")
        .and_then(|r| r.split('/').next())
        .expect("dossier code")
        .to_string();
    assert_eq!(app.count("SELECT COUNT(*) FROM dossier_files").await, 1);
    assert_eq!(app.audit_count("dossier.attach").await, 1);
    let (status, html) = text(app.get(&client(), &receipt).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("giấy chứng sinh.pdf"), "{html}");
    assert!(html.contains(">PDF<"));
    assert!(html.contains("Đã đính kèm bản điện tử"));
    let href = link(&html, &format!("/api/v1/dossiers/{code}/files/")).expect("download link");
    assert!(href.contains("?lookup="), "{href}");
    let resp = client().get(app.url(&href)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(crate::content_type(resp.headers()), "application/pdf");
    let disposition = resp
        .headers()
        .get(CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''gi%E1%BA%A5y"),
        "{disposition}"
    );
    assert_eq!(resp.bytes().await.unwrap().to_vec(), pdf());

    // The tracking page lists it too.
    let lookup = receipt.split("ma=").nth(1).unwrap_or_default().to_string();
    let (status, html) = text(
        app.get(&client(), &format!("/tra-cuu?ma_ho_so={code}&ma={lookup}"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("giấy chứng sinh.pdf"));

    // Downloads: a wrong lookup code or no one is nothing; the officer in scope gets it; an
    // officer of another agency is refused (403, audited).
    let sha = href
        .split("/files/")
        .nth(1)
        .and_then(|s| s.split('?').next())
        .unwrap()
        .to_string();
    let file_path = format!("/api/v1/dossiers/{code}/files/{sha}");
    let (status, _) = problem(
        client()
            .get(app.url(&format!("{file_path}?lookup=AAAAAAAA")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = problem(client().get(app.url(&file_path)).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let officer = app.signed_in("congchuc.tamthanh").await;
    let resp = officer.get(app.url(&file_path)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap().to_vec(), pdf());
    let (status, html) = text(app.get(&officer, &format!("/nghiep-vu/ho-so/{code}")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&format!("href=\"{file_path}\"")),
        "office page lists it"
    );
    let denials = app.audit_count("authz.denied").await;
    let other = app.signed_in("congchuc.dongkinh").await;
    let (status, _) = problem(other.get(app.url(&file_path)).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.audit_count("authz.denied").await, denials + 1);
}

#[tokio::test]
async fn upload_api_answers_problems() {
    let app = spawn_app().await;
    let c = client();
    // A dossier filed through the JSON API, without files.
    let resp = c
        .post(app.url("/api/v1/dossiers"))
        .json(&serde_json::json!({
            "procedure_code": KHAI_SINH,
            "commune_code": TAM_THANH,
            "applicant": {"kind": 0, "name": "Hoàng Thị Mai", "id_number": "020190001234", "phone": "0912345678"},
            "form": {"ho_ten_tre": "Hoàng Minh An", "ngay_sinh_tre": "10/01/2026", "gioi_tinh": "nam",
                "dan_toc": "tay", "noi_sinh": "Bệnh viện Đa khoa tỉnh Lạng Sơn", "que_quan": TAM_THANH,
                "so_ban_sao": "2", "so_dien_thoai": "0912345678"},
            "channel": "online"
        }))
        .send()
        .await
        .unwrap();
    let (status, v) = crate::json(resp).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let code = v["code"].as_str().unwrap().to_string();
    let lookup = v["lookup_code"].as_str().unwrap().to_string();
    let path = format!("/api/v1/dossiers/{code}/files?lookup={lookup}");
    let upload = |component: &'static str, name: &'static str, bytes: Vec<u8>| {
        let c = c.clone();
        let url = app.url(&path);
        async move {
            c.post(url)
                .header(
                    CONTENT_TYPE,
                    format!("multipart/form-data; boundary={BOUNDARY}"),
                )
                .body(multipart(&[
                    Part::Text("component_id", component.to_string()),
                    Part::File("file", name, "application/pdf", bytes),
                ]))
                .send()
                .await
                .unwrap()
        }
    };

    // A wrong type: 422 naming the sniffed type.
    let (status, p) = problem(upload("giay_chung_sinh", "cccd.pdf", exe()).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["code"], "file_type");
    assert!(
        p["errors"][0]["message_en"]
            .as_str()
            .unwrap()
            .contains("application/x-msdownload"),
        "{p}"
    );
    // An unknown component, named.
    let (status, p) = problem(upload("so_do", "a.pdf", pdf()).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p["errors"][0]["message_en"]
            .as_str()
            .unwrap()
            .contains("\"so_do\""),
        "{p}"
    );
    // Over the 10 MiB a file: 413, nothing attached.
    let mut big = pdf();
    big.resize(11 * 1024 * 1024, b' ');
    let (status, _) = problem(upload("giay_chung_sinh", "big.pdf", big).await).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.count("SELECT COUNT(*) FROM dossier_files").await, 0);
    // A 3 MiB scan is over the 2 MiB limit of ordinary requests but fine as an upload…
    let mut scan = pdf();
    scan.resize(3 * 1024 * 1024, b' ');
    let (status, v) = crate::json(upload("giay_chung_sinh", "scan.pdf", scan).await).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(app.count("SELECT COUNT(*) FROM dossier_files").await, 1);
    // …while a 3 MiB JSON body is refused.
    let resp = c
        .post(app.url("/api/v1/dossiers"))
        .header(CONTENT_TYPE, "application/json")
        .body(vec![b' '; 3 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // A good one: 201 with the attachment; downloadable with the lookup code.
    let (status, v) = crate::json(upload("giay_chung_sinh", "cs.pdf", pdf()).await).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["media_type"], "application/pdf");
    let sha = v["sha256"].as_str().unwrap();
    assert_downloads(
        &app,
        &c,
        &format!("{code}/files/{sha}?lookup={lookup}"),
        &pdf(),
    )
    .await;
}

#[tokio::test]
async fn answering_a_supplement_adds_files() {
    let app = spawn_app().await;
    let c = client();
    let form_path = format!("/dich-vu-cong/{KHAI_SINH}/nop");
    let (_, html) = text(app.get(&c, &form_path).await).await;
    let csrf = hidden_field(&html, "csrf").expect("csrf");
    let idem = hidden_field(&html, "idem").expect("idem");
    let mut parts = birth_fields("Nguyễn Văn An", &idem, &csrf);
    parts.push(Part::File(
        "files.giay_chung_sinh",
        "cs.pdf",
        "application/pdf",
        pdf(),
    ));
    let resp = post_multipart(&app, &c, &format!("{form_path}?csrf={csrf}"), &parts).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let receipt = location(&resp);
    let code = receipt
        .strip_prefix("/ho-so/")
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_string();
    let lookup = receipt.split("ma=").nth(1).unwrap().to_string();

    // The officer asks for a supplement.
    let (officer, token) = app.api_signed_in("congchuc.tamthanh").await;
    let resp = officer
        .post(app.url(&format!("/api/v1/dossiers/{code}/transitions")))
        .header("x-csrf-token", token)
        .json(&serde_json::json!({"action": "request_supplement", "reason": "Bổ sung bản chụp căn cước"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{:?}", resp.text().await);

    // The tracking page offers a multipart supplement form with file inputs.
    let c = client();
    let track = format!("/tra-cuu?ma_ho_so={code}&ma={lookup}");
    let (status, html) = text(app.get(&c, &track).await).await;
    assert_eq!(status, StatusCode::OK);
    let csrf = hidden_field(&html, "csrf").expect("csrf");
    let action = format!("/tra-cuu/bo-sung?csrf={csrf}");
    assert!(html.contains(&format!("action=\"{action}\"")), "{html}");
    assert!(html.contains("name=\"files.giay_to_tuy_than\""));

    // A bad file: nothing attached, the supplement not sent.
    let base = |file: Part| {
        let mut p: Vec<Part> = birth_fields("", "", &csrf)
            .into_iter()
            .filter(|p| matches!(p, Part::Text(n, _) if n.starts_with("form.")))
            .collect();
        p.push(Part::Text("ma_ho_so", code.clone()));
        p.push(Part::Text("ma", lookup.clone()));
        p.push(Part::Text("reason", String::new()));
        p.push(file);
        p
    };
    let resp = post_multipart(
        &app,
        &c,
        &action,
        &base(Part::File(
            "files.giay_to_tuy_than",
            "cccd.pdf",
            "application/pdf",
            exe(),
        )),
    )
    .await;
    let (status, html) = text(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("id=\"files-giay_to_tuy_than-err\""));
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM dossier_files WHERE dossier_code = '{code}'"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM dossiers WHERE status = 5 AND code = '{code}'"
        ))
        .await,
        1
    );

    // A good one: attached and the supplement sent.
    let mut scan = b"\xff\xd8\xff\xe0 a tiny jpeg".to_vec();
    scan.extend_from_slice(&[0u8; 32]);
    let resp = post_multipart(
        &app,
        &c,
        &action,
        &base(Part::File(
            "files.giay_to_tuy_than",
            "cccd.jpg",
            "image/jpeg",
            scan.clone(),
        )),
    )
    .await;
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        resp.text().await
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM dossier_files").await, 2);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM dossiers WHERE status = 5 AND code = '{code}'"
        ))
        .await,
        0
    );
    let (_, html) = text(app.get(&c, &track).await).await;
    assert!(
        html.contains("cccd.jpg") && html.contains(">JPEG<"),
        "{html}"
    );
}

/// The JSON submission of the tests' birth registration, with idempotency key `key`.
fn birth_json(key: &str) -> String {
    serde_json::json!({
        "procedure_code": KHAI_SINH,
        "commune_code": TAM_THANH,
        "applicant": {"kind": 0, "name": "Hoàng Thị Mai", "id_number": "020190001234", "phone": "0912345678"},
        "form": {"ho_ten_tre": "Hoàng Minh An", "ngay_sinh_tre": "10/01/2026", "gioi_tinh": "nam",
            "dan_toc": "tay", "noi_sinh": "Bệnh viện Đa khoa tỉnh Lạng Sơn", "que_quan": TAM_THANH,
            "so_ban_sao": "2", "so_dien_thoai": "0912345678"},
        "channel": "online",
        "idempotency_key": key
    })
    .to_string()
}

/// `GET /api/v1/dossiers/{path}` answers 200 with `bytes`.
async fn assert_downloads(app: &TestApp, c: &Client, path: &str, bytes: &[u8]) {
    let resp = c
        .get(app.url(&format!("/api/v1/dossiers/{path}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap().to_vec(), bytes);
}

/// The first field error's message `key` contains `text`.
fn assert_first_error_says(p: &serde_json::Value, key: &str, text: &str) {
    let message = p["errors"][0][key].as_str().unwrap_or_default();
    assert!(message.contains(text), "{key} should say {text:?}: {p}");
}

/// `POST /api/v1/dossiers` as `multipart/form-data`: the dossier and its files in one request,
/// checked together and written together; problems answered field by field with nothing
/// stored; a retry with the same key answers the same dossier and stores nothing.
#[tokio::test]
async fn a_submission_with_its_files_in_one_request() {
    let app = spawn_app().await;
    let c = client();
    let post = |parts: Vec<Part>| {
        let c = c.clone();
        let url = app.url("/api/v1/dossiers");
        async move {
            c.post(url)
                .header(
                    CONTENT_TYPE,
                    format!("multipart/form-data; boundary={BOUNDARY}"),
                )
                .body(multipart(&parts))
                .send()
                .await
                .unwrap()
        }
    };
    let dossier = |key: &str| Part::Text("dossier", birth_json(key));
    let birth_cert = |name: &'static str, bytes: Vec<u8>| {
        Part::File("files.giay_chung_sinh", name, "application/pdf", bytes)
    };
    let before = footprint(&app).await;

    // A program renamed .pdf: 422 on the component's field, naming what it is; nothing stored.
    let (status, p) = problem(post(vec![dossier("k1"), birth_cert("cs.pdf", exe())]).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["field"], "files.giay_chung_sinh", "{p}");
    assert_eq!(p["errors"][0]["code"], "file_type", "{p}");
    assert_first_error_says(&p, "message_vi", "cs.pdf");
    assert_eq!(footprint(&app).await, before);

    // Over 10 MiB: 413 with the field kept; nothing stored.
    let mut big = pdf();
    big.resize(11 * 1024 * 1024, b' ');
    let (status, p) = problem(post(vec![dossier("k2"), birth_cert("big.pdf", big)]).await).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{p}");
    assert_eq!(p["errors"][0]["field"], "files.giay_chung_sinh", "{p}");
    assert_eq!(p["errors"][0]["code"], "file_too_large", "{p}");
    assert_eq!(footprint(&app).await, before);

    // The required birth certificate missing, and the applicant's phone wrong: both at once.
    let mut bad_phone: serde_json::Value = serde_json::from_str(&birth_json("k3")).unwrap();
    bad_phone["applicant"]["phone"] = "12ab".into();
    let (status, p) = problem(post(vec![Part::Text("dossier", bad_phone.to_string())]).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let errors = crate::field_codes(&p);
    assert!(
        errors.contains(&("files.giay_chung_sinh".into(), "file_required".into())),
        "{p}"
    );
    assert!(errors.iter().any(|(f, _)| f == "applicant.phone"), "{p}");
    assert!(
        p["errors"][0]["message_vi"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{p}"
    );
    assert_eq!(footprint(&app).await, before);

    // A file for a component the procedure does not have: refused, named.
    let (status, p) = problem(
        post(vec![
            dossier("k4"),
            birth_cert("cs.pdf", pdf()),
            Part::File("files.so_do", "so-do.pdf", "application/pdf", pdf()),
        ])
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["code"], "component_unknown", "{p}");
    assert_first_error_says(&p, "message_en", "\"so_do\"");
    assert_eq!(footprint(&app).await, before);

    // A part under another name, or no dossier part: field errors, nothing stored.
    let (status, p) = problem(
        post(vec![
            dossier("k5"),
            Part::File("file", "cs.pdf", "application/pdf", pdf()),
        ])
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["field"], "file", "{p}");
    assert_eq!(p["errors"][0]["code"], "part_unknown", "{p}");
    let (status, p) = problem(post(vec![birth_cert("cs.pdf", pdf())]).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["field"], "dossier", "{p}");
    let (status, _) = problem(
        post(vec![
            Part::Text("dossier", "{not json".into()),
            birth_cert("a.pdf", pdf()),
        ])
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(footprint(&app).await, before);

    // A good one: 201, the receipt with its file, downloadable with the lookup code.
    let (status, v) = crate::json(
        post(vec![
            dossier("k6"),
            birth_cert("giấy chứng sinh.pdf", pdf()),
        ])
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["replayed"], false);
    assert_eq!(v["files"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["files"][0]["component_id"], "giay_chung_sinh");
    assert_eq!(v["files"][0]["media_type"], "application/pdf");
    assert_eq!(v["files"][0]["file_name"], "giấy chứng sinh.pdf");
    let code = v["code"].as_str().unwrap().to_string();
    let lookup = v["lookup_code"].as_str().unwrap().to_string();
    let sha = v["files"][0]["sha256"].as_str().unwrap().to_string();
    assert_downloads(
        &app,
        &c,
        &format!("{code}/files/{sha}?lookup={lookup}"),
        &pdf(),
    )
    .await;
    let after_good = footprint(&app).await;
    assert_eq!(after_good[0], before[0] + 1);
    assert_eq!(after_good[1], before[1] + 1);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE target_id = '{code}' AND action = 'dossier.attach'"
        ))
        .await,
        1
    );

    // The same key again: 200, the same dossier and file, nothing written — even with other
    // bytes in the retry.
    let mut other = pdf();
    other.extend_from_slice(b"% a retry's other bytes\n");
    let retry = post(vec![
        dossier("k6"),
        birth_cert("giấy chứng sinh.pdf", other),
    ])
    .await;
    let (status, again) = crate::json(retry).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["replayed"], true);
    assert_eq!(again["code"], code.as_str());
    assert_eq!(again["files"], v["files"]);
    assert_eq!(footprint(&app).await, after_good);
}
