//! The back-office page of certificate revocation lists (`/nghiep-vu/danh-sach-thu-hoi`) over
//! HTTP: administrators only; the list with issuer, dates and revoked count; the upload form
//! with its CSRF token; refusals by field with nothing stored; Vietnamese and English.

use crate::services_files::{post_multipart, Part};
use crate::{csrf_action, location, text};
use reqwest::StatusCode;

const PAGE: &str = "/nghiep-vu/danh-sach-thu-hoi";

#[tokio::test]
async fn administrators_list_and_upload_crls_in_the_back_office() {
    let app = crate::spawn_app().await;
    // Not for a leader (who manages certificates, not the revocation lists), nor anonymous.
    let leader = app.signed_in("lanhdao.tamthanh").await;
    assert_eq!(app.get(&leader, PAGE).await.status(), StatusCode::FORBIDDEN);
    let (_, certs) = text(app.get(&leader, "/nghiep-vu/chung-thu-so").await).await;
    assert!(!certs.contains("id=\"lien-ket-crl\""));
    let anon = crate::client();
    let resp = app.get(&anon, PAGE).await;
    assert!(
        resp.status() == StatusCode::SEE_OTHER || resp.status() == StatusCode::UNAUTHORIZED,
        "{}",
        resp.status()
    );

    let admin = app.signed_in("quantri").await;
    let (status, page) = text(app.get(&admin, PAGE).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Danh sách thu hồi chứng thư"), "{page}");
    assert!(page.contains("id=\"chua-co\""), "{page}");
    let action = csrf_action(&page, PAGE);

    let ca = tinhso_services::signing_certs::test_ca(&app.db)
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Three certificates of the test CA, revoked a minute ago.
    let serials: Vec<_> = (0..3)
        .map(|i| {
            let id = ca
                .issue(
                    &format!("Cơ quan thử {i}"),
                    "000.00.23.H37",
                    now - 600,
                    now + 86_400,
                )
                .unwrap();
            (id.chain[0].tbs_certificate.serial_number.clone(), now - 60)
        })
        .collect();
    let crl = ca.crl(&serials, now).unwrap();
    let file = |bytes: Vec<u8>| {
        vec![Part::File(
            "crl",
            "ds-thu-hoi.crl",
            "application/pkix-crl",
            bytes,
        )]
    };

    // Without the CSRF token: refused, nothing stored.
    let resp = post_multipart(&app, &admin, PAGE, &file(crl.clone())).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // No file, or not a CRL: the form again, the problem under the field, nothing stored.
    for (bytes, says) in [
        (Vec::new(), "Chọn tệp danh sách thu hồi"),
        (b"not a CRL".to_vec(), "crl-loi"),
    ] {
        let (status, html) = text(post_multipart(&app, &admin, &action, &file(bytes)).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html.contains(says), "{html}");
        assert!(html.contains("aria-invalid=\"true\""), "{html}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM pades_crls").await, 0);

    // Uploaded: back to the list with a notice; issuer, dates and the revoked count shown.
    let resp = post_multipart(&app, &admin, &action, &file(crl.clone())).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (status, page) = text(app.get(&admin, &location(&resp)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"thong-bao\""), "{page}");
    let table = &page[page.find("id=\"danh-sach-crl\"").expect("the list")..];
    let stored = tinhso_services::revocation::list(&app.db).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(table.contains(&stored[0].issuer), "{table}");
    assert!(table.contains("<td class=\"num\">3</td>"), "{table}");
    assert!(
        table.contains(&tinhso_http::layout::local_time(stored[0].this_update)),
        "{table}"
    );
    assert!(table.contains("Quản trị viên nạp"), "{table}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'pades_crl.import'")
            .await,
        1
    );
    // The same list again: 409, said under the field.
    let (status, html) = text(post_multipart(&app, &admin, &action, &file(crl)).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("đã được nạp"), "{html}");
    assert_eq!(app.count("SELECT COUNT(*) FROM pades_crls").await, 1);
    // In English; and the certificates page links here for an administrator.
    let (_, en) = text(app.get(&admin, &format!("{PAGE}?lang=en")).await).await;
    assert!(en.contains("Certificate revocation lists"), "{en}");
    assert!(en.contains("Revoked serials"), "{en}");
    let (_, certs) = text(app.get(&admin, "/nghiep-vu/chung-thu-so").await).await;
    assert!(certs.contains("id=\"lien-ket-crl\""), "{certs}");
}
