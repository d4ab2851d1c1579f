//! Paying a dossier over HTTP: the payment request API, the payment page with its VietQR
//! code and the demo's simulated payment, the PayGov callback endpoint (signed, no session,
//! no CSRF; replays, forgeries, stale and wrong amounts), and the reconciliation API.

use crate::{client, hidden_field, json, location, problem, spawn_app, text, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tinhso_services::payment::{self, simulator};

const CCCD: &str = "020190001234";

/// A building permit (75 000 đ) submitted through the API, accepted and put in status 6 by
/// the Tam Thanh officer. Returns (code, lookup).
async fn waiting_for_payment(app: &TestApp) -> (String, String) {
    let resp = client()
        .post(app.url("/api/v1/dossiers"))
        .json(&json!({
            "procedure_code": "1.013225",
            "commune_code": "05986",
            "applicant": {"kind": 0, "name": "Hoàng Thị Mai", "id_number": CCCD, "phone": "0912345678"},
            "form": {
                "ho_ten_chu_dau_tu": "Hoàng Thị Mai", "so_dinh_danh": CCCD,
                "dia_diem": "Thửa 112, tờ bản đồ 7, khối 3", "xa_phuong": "05986",
                "loai_cong_trinh": "nha_o_rieng_le", "dien_tich_xay_dung": "80",
                "tong_dien_tich_san": "240", "so_tang": "3", "chieu_cao": "12,5",
                "so_dien_thoai": "0912345678"
            },
            "channel": "online"
        }))
        .send()
        .await
        .unwrap();
    let (status, r) = json(resp).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let code = r["code"].as_str().unwrap().to_string();
    let lookup = r["lookup_code"].as_str().unwrap().to_string();
    let (officer, csrf) = app.api_signed_in("congchuc.tamthanh").await;
    for action in ["accept", "request_payment"] {
        let resp = officer
            .post(app.url(&format!("/api/v1/dossiers/{code}/transitions")))
            .header("X-CSRF-Token", &csrf)
            .json(&json!({"action": action}))
            .send()
            .await
            .unwrap();
        let (status, v) = json(resp).await;
        assert_eq!(status, StatusCode::OK, "{action}: {v}");
    }
    (code, lookup)
}

async fn post_callback(
    app: &TestApp,
    body: &[u8],
    headers: &[(String, String)],
) -> reqwest::Response {
    let mut req = client().post(app.url("/api/v1/payments/callback"));
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req.body(body.to_vec()).send().await.unwrap()
}

async fn dossier_state(app: &TestApp, code: &str) -> (i64, i64) {
    sqlx::query_as("SELECT status, paid_vnd FROM dossiers WHERE code = $1")
        .bind(code)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

fn as_payment(v: &Value) -> payment::Payment {
    payment::Payment {
        id: v["id"].as_str().unwrap().into(),
        dossier_code: v["dossier_code"].as_str().unwrap().into(),
        agency_code: v["agency_code"].as_str().unwrap().into(),
        amount_vnd: v["amount_vnd"].as_i64().unwrap(),
        purpose: v["purpose"].as_str().unwrap().into(),
        status: v["status"].as_str().unwrap().into(),
        gateway: v["gateway"].as_str().unwrap().into(),
        gateway_txn_id: None,
        qr_payload: v["qr_payload"].as_str().unwrap().into(),
        created_at: v["created_at"].as_i64().unwrap(),
        paid_at: None,
        receipt_no: None,
        bank_bin: payment::DEMO_BANK_BIN.into(),
        bank_name: payment::DEMO_BANK_NAME.into(),
        account: payment::DEMO_ACCOUNT.into(),
        account_name: payment::DEMO_ACCOUNT_NAME.into(),
    }
}

#[tokio::test]
async fn the_callback_endpoint_pays_once_and_refuses_forgeries() {
    let app = spawn_app().await;
    let (code, lookup) = waiting_for_payment(&app).await;
    // The applicant asks for the payment (lookup code, no session).
    let url = app.url(&format!("/api/v1/dossiers/{code}/payments"));
    let resp = client().post(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = client()
        .post(&url)
        .query(&[("lookup", "AAAAAAAA")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = client()
        .post(&url)
        .query(&[("lookup", lookup.as_str())])
        .send()
        .await
        .unwrap();
    let (status, v) = json(resp).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["amount_vnd"], 75_000);
    let p = as_payment(&v);
    let now = chrono::Utc::now().timestamp();

    // Forged, stale and wrong-amount callbacks are refused; nothing changes.
    let (body, mut headers) = simulator::signed_callback(&p, "PG-H1", now);
    headers[1].1 = payment::sign(b"forged", &body);
    let (status, _) = problem(post_callback(&app, &body, &headers).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (body, headers) = simulator::signed_callback(&p, "PG-H1", now - 3600);
    let (status, _) = problem(post_callback(&app, &body, &headers).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut wrong = p.clone();
    wrong.amount_vnd = 1_000;
    let (body, headers) = simulator::signed_callback(&wrong, "PG-H1", now);
    let (status, _) = problem(post_callback(&app, &body, &headers).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(dossier_state(&app, &code).await, (6, 0));
    assert_eq!(app.audit_count("payment.callback_rejected").await, 3);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM payments WHERE status = 'pending'")
            .await,
        1
    );

    // A correctly signed callback, with no session and no CSRF token, pays the dossier.
    let (body, headers) = simulator::signed_callback(&p, "PG-H2", now);
    let (status, r) = json(post_callback(&app, &body, &headers).await).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["replayed"], false);
    assert_eq!(r["payment"]["status"], "paid");
    let receipt = r["payment"]["receipt_no"].as_str().unwrap().to_string();
    assert!(
        receipt.starts_with("BL-") && receipt.len() == "BL-2026-000001".len(),
        "{receipt}"
    );
    assert_eq!(dossier_state(&app, &code).await, (4, 75_000));
    // Replayed: same answer, nothing new.
    let events = app.count("SELECT COUNT(*) FROM dossier_events").await;
    let (status, again) = json(post_callback(&app, &body, &headers).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["replayed"], true);
    assert_eq!(again["payment"], r["payment"]);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM dossier_events").await,
        events
    );

    // Reconciliation: staff with DossierRead; anonymous callers are refused.
    let date = tinhso_services::dossier::today_local()
        .format("%Y-%m-%d")
        .to_string();
    let resp = client()
        .get(app.url("/api/v1/payments/reconciliation"))
        .query(&[("date", date.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let (officer, _) = app.api_signed_in("congchuc.tamthanh").await;
    let resp = officer
        .get(app.url("/api/v1/payments/reconciliation"))
        .query(&[("date", date.as_str())])
        .send()
        .await
        .unwrap();
    let (status, rec) = json(resp).await;
    assert_eq!(status, StatusCode::OK, "{rec}");
    assert_eq!(rec[0]["count"], 1);
    assert_eq!(rec[0]["total_vnd"], 75_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_pays_over_http() {
    let app = spawn_app().await;
    let (code, lookup) = waiting_for_payment(&app).await;
    let resp = client()
        .post(app.url(&format!("/api/v1/dossiers/{code}/payments")))
        .query(&[("lookup", lookup.as_str())])
        .send()
        .await
        .unwrap();
    let (status, v) = json(resp).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let p = as_payment(&v);
    let base = app.base.clone();
    let answer =
        tokio::task::spawn_blocking(move || simulator::pay_over_http(&base, &p, "SIM-HTTP-1"))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body.contains("\"receipt_no\":\"BL-"),
        "{}",
        answer.body
    );
    assert_eq!(dossier_state(&app, &code).await, (4, 75_000));
}

#[tokio::test]
async fn the_payment_page_shows_the_qr_and_the_demo_pays() {
    let app = spawn_app().await;
    let (code, lookup) = waiting_for_payment(&app).await;
    let c = client();
    // Tracking links to the payment page.
    let (status, html) = text(
        app.get(&c, &format!("/tra-cuu?ma_ho_so={code}&ma={lookup}"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"thanh-toan\""), "{html}");
    // A wrong lookup code: not found.
    let resp = app
        .get(
            &c,
            &format!("/tra-cuu/thanh-toan?ma_ho_so={code}&ma=AAAAAAAA"),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let (status, html) = text(
        app.get(
            &c,
            &format!("/tra-cuu/thanh-toan?ma_ho_so={code}&ma={lookup}"),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<svg") && html.contains("75.000 ₫"), "{html}");
    assert!(
        html.contains("<em lang=\"vi\">Bảy mươi lăm nghìn đồng</em>"),
        "{html}"
    );
    assert!(html.contains(payment::DEMO_ACCOUNT));
    assert!(html.contains("Thanh toán thử (mô phỏng)"));
    let csrf = hidden_field(&html, "csrf").unwrap();
    let resp = c
        .post(app.url("/tra-cuu/thanh-toan/mo-phong"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("ma_ho_so", &code),
            ("ma", &lookup),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = location(&resp);
    assert!(to.contains("da_mo_phong=1"), "{to}");
    assert_eq!(dossier_state(&app, &code).await, (4, 75_000));
    let (_, html) = text(app.get(&c, &to).await).await;
    assert!(html.contains("class=\"bien-lai\">BL-"), "{html}");
    assert!(html.contains("id=\"khong-no\""));
}
