//! Electronic results over HTTP: form 01 as PDF, the result issued at approval, the
//! applicant's download, the public verification page the QR code opens (with the file
//! check), the API, revocation by the approving authority, and the personal data store.

use crate::services::{expect_action, file_birth};
use crate::services_files::{link, post_multipart, Part};
use crate::{client, content_type, hidden_field, json, location, text, TestApp};
use reqwest::{Client, StatusCode};
use serde_json::Value;

async fn pdf(app: &TestApp, c: &Client, path: &str) -> Vec<u8> {
    let resp = app.get(c, path).await;
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    assert_eq!(content_type(resp.headers()), "application/pdf");
    let bytes = resp.bytes().await.unwrap().to_vec();
    assert!(bytes.starts_with(b"%PDF-"), "{path}");
    bytes
}

/// Officers take a dossier from submission to approval (the leader writes the decision);
/// returns the leader's session (a second sign-in in the same TOTP step would be a replay).
async fn to_approval(app: &TestApp, code: &str, decision: &str) -> Client {
    let officer = app.signed_in("congchuc.tamthanh").await;
    expect_action(app, &officer, code, "accept", "").await;
    expect_action(app, &officer, code, "forward", "").await;
    expect_action(app, &officer, code, "forward", "").await;
    let leader = app.signed_in("lanhdao.tamthanh").await;
    expect_action(app, &leader, code, "approve", decision).await;
    leader
}

/// The action URL (with its CSRF token) of the file-check form on a verification page.
fn upload_action(html: &str, id: &str) -> String {
    crate::csrf_action(html, &format!("/xac-thuc/{id}"))
}

#[tokio::test]
async fn from_receipt_pdf_to_a_verified_result() {
    let app = crate::spawn_app().await;
    let citizen = client();
    let (code, lookup) = file_birth(&app, &citizen, "Lục Thị Hoa").await;

    // Form 01 as PDF for the lookup-code holder; a wrong code finds nothing.
    let receipt = pdf(
        &app,
        &citizen,
        &format!("/ho-so/{code}/bien-nhan.pdf?ma={lookup}"),
    )
    .await;
    assert!(receipt.len() > 10_000, "fonts embedded");
    let resp = app
        .get(
            &citizen,
            &format!("/ho-so/{code}/bien-nhan.pdf?ma=ZZZZZZZZ"),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // Before approval there is no result to download.
    let resp = app
        .get(
            &citizen,
            &format!("/tra-cuu/ket-qua?ma_ho_so={code}&ma={lookup}"),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    let leader = to_approval(&app, &code, "Đăng ký khai sinh cho cháu Nguyễn Minh Châu").await;

    // The tracking page offers the signed result and its verification link.
    let (status, html) = text(
        app.get(&citizen, &format!("/tra-cuu?ma_ho_so={code}&ma={lookup}"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"ket-qua\""), "{html}");
    let download = link(&html, "/tra-cuu/ket-qua?").expect("download link");
    let verify = link(&html, "/xac-thuc/").expect("verification link");
    let id = verify.trim_start_matches("/xac-thuc/").to_string();
    let result = pdf(&app, &citizen, &download).await;
    assert_eq!(
        tinhso_pdf::custom_entry(&result, "TinhSoResultId").as_deref(),
        Some(id.as_str())
    );
    // The first download is recorded as delivery.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM dossier_results WHERE first_downloaded_at IS NOT NULL")
            .await,
        1
    );

    // The public verification page: valid, with what the document says.
    let stranger = client();
    let (status, page) = text(app.get(&stranger, &verify).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("HỢP LỆ"), "{page}");
    assert!(page.contains("Đăng ký khai sinh cho cháu Nguyễn Minh Châu"));
    assert!(page.contains("Lục Thị Hoa"));
    assert!(page.contains("Hoàng Văn Thắng"), "the signer");
    // A typed code with dashes and lower case finds the same page.
    let grouped: String = id
        .as_bytes()
        .chunks(5)
        .map(|c| String::from_utf8_lossy(c).to_lowercase())
        .collect::<Vec<_>>()
        .join("-");
    let resp = app.get(&stranger, &format!("/xac-thuc?ma={grouped}")).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), verify);
    // An unknown code: 404 with a message, nothing else.
    let (status, page404) = text(app.get(&stranger, "/xac-thuc/0000000000AAAAAAAAAA").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page404.contains("Không có văn bản nào với mã xác thực này"));

    // The file check: the original matches, an altered copy is called out; nothing stored.
    let files_before = app.count("SELECT COUNT(*) FROM files").await;
    let action = upload_action(&page, &id);
    let resp = post_multipart(
        &app,
        &stranger,
        &action,
        &[Part::File(
            "tep",
            "ket-qua.pdf",
            "application/pdf",
            result.clone(),
        )],
    )
    .await;
    let (status, checked) = text(resp).await;
    assert_eq!(status, StatusCode::OK);
    assert!(checked.contains("trùng khớp từng byte"), "{checked}");
    let mut altered = result.clone();
    let n = altered.len();
    altered[n - 30] ^= 0x20;
    let (_, checked) = text(
        post_multipart(
            &app,
            &stranger,
            &action,
            &[Part::File("tep", "ket-qua.pdf", "application/pdf", altered)],
        )
        .await,
    )
    .await;
    assert!(checked.contains("đã bị sửa đổi"), "{checked}");
    let (status, _) = text(post_multipart(&app, &stranger, &action, &[]).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT COUNT(*) FROM files").await, files_before);

    // The API says the same.
    let (status, v) = json(app.get(&stranger, &format!("/api/v1/results/{id}")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["valid"], true);
    assert_eq!(v["payload"]["dossier"], code.as_str());
    let (status, r) = json(
        app.get(
            &stranger,
            &format!("/api/v1/dossiers/{code}/result?lookup={lookup}"),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r["id"], id.as_str());
    let payload = r["payload"].as_str().unwrap();
    assert!(tinhso_identity::keys::verify(
        r["agency_public_key"].as_str().unwrap(),
        payload.as_bytes(),
        r["agency_signature"].as_str().unwrap()
    ));
    let (status, _) = json(
        app.get(
            &stranger,
            &format!("/api/v1/dossiers/{code}/result?lookup=ZZZZZZZZ"),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Revocation: not by the commune officer; by the leader, with a reason.
    let officer = app.signed_in("congchuc.tamthanh").await;
    let (_, office) = text(app.get(&officer, &format!("/nghiep-vu/ho-so/{code}")).await).await;
    assert!(office.contains("id=\"ket-qua\""));
    assert!(
        !office.contains("id=\"thu-hoi\""),
        "no revoke form for an officer"
    );
    let csrf = hidden_field(&office, "csrf").unwrap();
    let resp = officer
        .post(app.url(&format!("/nghiep-vu/ho-so/{code}/thu-hoi-ket-qua")))
        .form(&[("csrf", csrf.as_str()), ("reason", "Sai ngày sinh")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let (_, office) = text(app.get(&leader, &format!("/nghiep-vu/ho-so/{code}")).await).await;
    assert!(office.contains("id=\"thu-hoi\""));
    let csrf = hidden_field(&office, "csrf").unwrap();
    let resp = leader
        .post(app.url(&format!("/nghiep-vu/ho-so/{code}/thu-hoi-ket-qua")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("reason", "Ghi sai ngày sinh của trẻ"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, page) = text(app.get(&stranger, &verify).await).await;
    assert!(page.contains("ĐÃ THU HỒI"), "{page}");
    assert!(page.contains("Ghi sai ngày sinh của trẻ"));
    let (_, v): (StatusCode, Value) =
        json(app.get(&stranger, &format!("/api/v1/results/{id}")).await).await;
    assert_eq!(v["valid"], false);
    assert_eq!(v["revoked"], true);
    assert_eq!(app.audit_count("result.revoke").await, 1);
}

#[tokio::test]
async fn a_signed_in_citizens_result_lands_in_the_data_store() {
    let app = crate::spawn_app().await;
    let mai = app.signed_in("020190001234").await;
    let (code, _) = file_birth(&app, &mai, "Hoàng Thị Mai").await;
    let (status, html) = text(app.get(&mai, "/kho-du-lieu").await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"kho-trong\""), "empty at first");
    to_approval(&app, &code, "").await;
    let (_, html) = text(app.get(&mai, "/kho-du-lieu").await).await;
    assert!(html.contains(&code), "{html}");
    let href = link(&html, "/kho-du-lieu/").expect("document link");
    pdf(&app, &mai, &href).await;
    // The owner downloads through tracking without the lookup code.
    let (_, v) = json(app.get(&mai, "/api/v1/me/documents").await).await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["kind"], "result");
    // Someone else signed in sees neither the store entry nor the file.
    let other = app.signed_in("4900123467").await;
    let resp = app.get(&other, &href).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let (_, v) = json(app.get(&other, "/api/v1/me/documents").await).await;
    assert!(v.as_array().unwrap().is_empty());
    // Signed out: the store is behind sign-in.
    let resp = app.get(&client(), "/kho-du-lieu").await;
    assert!(resp.status() == StatusCode::SEE_OTHER || resp.status() == StatusCode::UNAUTHORIZED);
}

/// File a birth registration as `c` through the multipart form with `extra` parts; returns
/// the response.
async fn file_with(app: &TestApp, c: &Client, extra: Vec<Part>) -> reqwest::Response {
    let path = "/dich-vu-cong/1.001193/nop";
    let (_, html) = text(app.get(c, path).await).await;
    let csrf = hidden_field(&html, "csrf").unwrap();
    let idem = hidden_field(&html, "idem").unwrap();
    let mut parts = crate::services_files::birth_fields("Hoàng Thị Mai", &idem, &csrf);
    parts.extend(extra);
    post_multipart(app, c, &format!("{path}?csrf={csrf}"), &parts).await
}

#[tokio::test]
async fn papers_in_the_data_store_are_picked_instead_of_uploaded_again() {
    let app = crate::spawn_app().await;
    let mai = app.signed_in("020190001234").await;
    let scan = crate::services_files::pdf();
    // First dossier: the papers are uploaded, and kept in Mai's data store.
    let resp = file_with(
        &app,
        &mai,
        vec![
            Part::File(
                "files.giay_chung_sinh",
                "chung-sinh.pdf",
                "application/pdf",
                scan.clone(),
            ),
            Part::File(
                "files.giay_to_tuy_than",
                "cccd.pdf",
                "application/pdf",
                scan.clone(),
            ),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, docs) = json(app.get(&mai, "/api/v1/me/documents").await).await;
    let docs = docs.as_array().unwrap().clone();
    // The same scan for both components is one paper in the store.
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(docs[0]["kind"], "upload");
    let doc_id = docs[0]["id"].as_str().unwrap().to_string();

    // The form offers it on every file input.
    let (_, html) = text(app.get(&mai, "/dich-vu-cong/1.001193/nop").await).await;
    assert!(html.contains("name=\"reuse.giay_chung_sinh\""), "{html}");
    assert!(html.contains(&format!("value=\"{doc_id}\"")));

    // Second dossier: nothing uploaded, both papers picked from the store.
    let resp = file_with(
        &app,
        &mai,
        vec![
            Part::Text("reuse.giay_chung_sinh", doc_id.clone()),
            Part::Text("reuse.giay_to_tuy_than", doc_id.clone()),
        ],
    )
    .await;
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        resp.text().await
    );
    let receipt = location(&resp);
    let (_, page) = text(app.get(&mai, &receipt).await).await;
    assert!(page.contains("id=\"tep-dinh-kem\""), "{page}");
    assert_eq!(
        app.count("SELECT COUNT(DISTINCT dossier_code) FROM dossier_files")
            .await,
        2
    );

    // A pick that is not one's own: a field error, nothing written.
    let dossiers = app.count("SELECT COUNT(*) FROM dossiers").await;
    let other = app.signed_in("4900123467").await;
    let resp = file_with(
        &app,
        &other,
        vec![
            Part::Text("reuse.giay_chung_sinh", doc_id.clone()),
            Part::File(
                "files.giay_to_tuy_than",
                "cccd.pdf",
                "application/pdf",
                scan,
            ),
        ],
    )
    .await;
    let (status, html) = text(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("không có trong kho dữ liệu của bạn"),
        "{html}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM dossiers").await, dossiers);
}

#[tokio::test]
async fn a_certificate_imported_in_the_back_office_pades_signs_the_results() {
    use tinhso_services::pades;
    use tinhso_services::test_ca::TestCa;
    let app = crate::spawn_app().await;
    let leader = app.signed_in("lanhdao.tamthanh").await;
    let (status, page) = text(app.get(&leader, "/nghiep-vu/chung-thu-so").await).await;
    assert_eq!(status, StatusCode::OK);
    // The demo data gave Tam Thanh a certificate from the provincial test CA, signing now.
    assert!(
        page.contains("Ủy ban nhân dân phường Tam Thanh (THỬ NGHIỆM)"),
        "{page}"
    );
    assert!(page.contains("Đang dùng để ký"), "{page}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM agency_certificates").await,
        1
    );
    // In demo mode the test CA issues another on request (the form's hidden CSRF field).
    let action = crate::csrf_action(&page, "/nghiep-vu/chung-thu-so");
    let csrf = hidden_field(&page, "csrf").unwrap();
    let resp = leader
        .post(app.url("/nghiep-vu/chung-thu-so/thu-nghiem"))
        .form(&[("csrf", csrf.as_str()), ("agency", "000.00.23.H37")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM agency_certificates").await,
        2
    );
    // An officer who does not approve cannot open it.
    let officer = app.signed_in("congchuc.tamthanh").await;
    let resp = app.get(&officer, "/nghiep-vu/chung-thu-so").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ca = TestCa::generate(now).unwrap();
    let issue = |from: u64, to: u64| {
        let id = ca
            .issue(
                "Ủy ban nhân dân phường Tam Thanh",
                "000.00.23.H37",
                from,
                to,
            )
            .unwrap();
        (
            pades::chain_to_pem(&id.chain).into_bytes(),
            id.key.to_pkcs8_pem().unwrap().into_bytes(),
            pades::cert_info(&id.chain[0]).serial,
        )
    };
    let parts = |chain: Vec<u8>, key: Vec<u8>| {
        vec![
            Part::Text("agency", "000.00.23.H37".into()),
            Part::File("chain", "chung-thu.pem", "application/x-pem-file", chain),
            Part::File("key", "khoa.pem", "application/x-pem-file", key),
        ]
    };
    // An expired certificate: 422, the reason by the field, nothing stored.
    let (chain, key, _) = issue(now - 86_400 * 400, now - 86_400 * 2);
    let (status, html) =
        text(post_multipart(&app, &leader, &action, &parts(chain, key)).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("hết hạn"), "{html}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM agency_certificates").await,
        2
    );
    // Without the CSRF token: refused. (Valid longer than the test certificates, so it is the
    // one that signs once imported.)
    let (chain, key, serial) = issue(now - 60, now + 86_400 * 400);
    let resp = post_multipart(
        &app,
        &leader,
        "/nghiep-vu/chung-thu-so",
        &parts(chain.clone(), key.clone()),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // Imported: listed with its serial, signing now; audited.
    let resp = post_multipart(&app, &leader, &action, &parts(chain, key)).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, page) = text(app.get(&leader, &location(&resp)).await).await;
    assert!(page.contains(&serial), "{page}");
    let row = &page[page.find(&serial).unwrap()..];
    assert!(
        row[..row.find("</tr>").unwrap()].contains("Đang dùng để ký"),
        "{page}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'signing_certificate.import'")
            .await,
        1
    );

    // A result approved now carries the PAdES signature; the verification page and the API
    // show who signed, with which certificate, when.
    let citizen = client();
    let (code, lookup) = file_birth(&app, &citizen, "Lục Văn Bình").await;
    expect_action(&app, &officer, &code, "accept", "").await;
    expect_action(&app, &officer, &code, "forward", "").await;
    expect_action(&app, &officer, &code, "forward", "").await;
    expect_action(&app, &leader, &code, "approve", "").await;
    let (status, r) = json(
        app.get(
            &citizen,
            &format!("/api/v1/dossiers/{code}/result?lookup={lookup}"),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let id = r["id"].as_str().unwrap().to_string();
    let stranger = client();
    let (status, page) = text(app.get(&stranger, &format!("/xac-thuc/{id}")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Chữ ký PAdES hợp lệ"), "{page}");
    assert!(page.contains(&serial));
    assert!(
        page.contains("Ủy ban nhân dân phường Tam Thanh (THỬ NGHIỆM)"),
        "{page}"
    );
    let (status, v) = json(app.get(&stranger, &format!("/api/v1/results/{id}")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["pades"]["valid"], true, "{v}");
    assert_eq!(v["pades"]["signer"]["serial"], serial.as_str());
    assert!(v["pades"]["signing_time"].as_i64().is_some());

    // Anyone can check a PDF's embedded signature through the API (nothing stored).
    let result = pdf(
        &app,
        &citizen,
        &format!("/api/v1/dossiers/{code}/result/pdf?lookup={lookup}"),
    )
    .await;
    let check = |body: Vec<u8>| {
        stranger
            .post(app.url("/api/v1/pades/verification"))
            .header("content-type", "application/pdf")
            .body(body)
            .send()
    };
    let (status, v) = json(check(result.clone()).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["valid"], true, "{v}");
    let mut altered = result.clone();
    let at = altered
        .windows(10)
        .position(|w| w == b"tinhso-pdf")
        .unwrap();
    altered[at] = b'T';
    let (_, v) = json(check(altered.clone()).await.unwrap()).await;
    assert_eq!(v["valid"], false);
    assert_eq!(v["digest_ok"], false);
    let (_, v) = json(check(b"not a pdf at all".to_vec()).await.unwrap()).await;
    assert_eq!(v["present"], false);
    // The upload on the verification page says the same.
    let action = upload_action(&page, &id);
    let (_, checked) = text(
        post_multipart(
            &app,
            &stranger,
            &action,
            &[Part::File("tep", "ket-qua.pdf", "application/pdf", altered)],
        )
        .await,
    )
    .await;
    assert!(checked.contains("Chữ ký PAdES KHÔNG hợp lệ"), "{checked}");
}

/// Administrators list and import the CRLs the PAdES verifier checks signers against, through
/// the API: a leader may not; an empty body, garbage and a repeat are refused by name; the
/// import is audited.
#[tokio::test]
async fn administrators_import_crls_through_the_api() {
    let app = crate::spawn_app().await;
    let ca = tinhso_services::signing_certs::test_ca(&app.db)
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let crl = ca.crl(&[], now).unwrap();
    let (leader, leader_csrf) = app.api_signed_in("lanhdao.tamthanh").await;
    let resp = leader
        .get(app.url("/api/v1/pades/crls"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = leader
        .post(app.url("/api/v1/pades/crls"))
        .header("x-csrf-token", &leader_csrf)
        .body(crl.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let (admin, csrf) = app.api_signed_in("quantri").await;
    let import = |body: Vec<u8>| {
        admin
            .post(app.url("/api/v1/pades/crls"))
            .header("x-csrf-token", &csrf)
            .header("content-type", "application/pkix-crl")
            .body(body)
            .send()
    };
    for (body, code) in [
        (Vec::new(), "file_missing"),
        (b"not a CRL".to_vec(), "crl_invalid"),
    ] {
        let (s, e) = json(import(body).await.unwrap()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert_eq!(e["errors"][0]["field"], "crl", "{e}");
        assert_eq!(e["errors"][0]["code"], code, "{e}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM pades_crls").await, 0);
    let (s, stored) = json(import(crl.clone()).await.unwrap()).await;
    assert_eq!(s, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["source"], "imported");
    assert_eq!(stored["revoked_count"], 0);
    let (s, e) = json(import(crl).await.unwrap()).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    let (s, list) = json(
        admin
            .get(app.url("/api/v1/pades/crls"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["id"], stored["id"]);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'pades_crl.import'")
            .await,
        1
    );
}
