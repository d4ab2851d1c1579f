//! The digital border gate over HTTP: public gate list, goods search, wait-time feed and pass
//! keys; an enterprise declares, books, corrects and gets its pass; the officer at the gate
//! reads the trip and checks passes; nobody else reaches the trip; the declaration pages in
//! three languages.

use crate::{hidden_field, json, spawn_app, text, TestApp};
use chrono::{Duration, Utc};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const ENTERPRISE: &str = "4900123467";
const OFFICER: &str = "haiquan.huunghi";

fn tomorrow() -> String {
    (Utc::now() + Duration::hours(7) + Duration::days(1))
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}

fn declaration(plate: &str) -> Value {
    json!({
        "enterprise_mst": ENTERPRISE,
        "enterprise_name": "Công ty TNHH Xuất nhập khẩu Hữu Nghị",
        "gate": "HN",
        "direction": "export",
        "expected_arrival": format!("{}T10:00", tomorrow()),
        "vehicle_plate": plate,
        "vehicle_payload_kg": 20000,
        "driver": {"id_kind": "cccd", "id_number": "020090001234", "full_name": "Hoàng Văn Bình", "phone": "0912345678"},
        "customs_declaration": "305123456789",
        "goods": [{"hs_code": "0810.60.00", "quantity": 800, "unit": "thùng", "weight_kg": 16000}]
    })
}

async fn declare(app: &TestApp, c: &Client, csrf: &str, body: &Value) -> (StatusCode, Value) {
    let resp = c
        .post(app.url("/api/v1/border/trips"))
        .header("x-csrf-token", csrf)
        .json(body)
        .send()
        .await
        .unwrap();
    json(resp).await
}

#[tokio::test]
async fn public_gate_goods_wait_times_and_keys() {
    let app = spawn_app().await;
    let c = crate::client();
    let (s, gates) = json(app.get(&c, "/api/v1/border/gates").await).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(gates.as_array().unwrap().len(), 5);
    let (s, hs) = json(app.get(&c, "/api/v1/border/hs?q=sau%20rieng").await).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(hs[0]["code"], "08106000", "{hs}");
    let (s, feed) = json(app.get(&c, "/api/v1/border/wait-times").await).await;
    assert_eq!(s, StatusCode::OK);
    assert!(feed["gates"].as_array().unwrap().len() >= 5, "{feed}");
    let (_, home) = text(app.get(&c, "/cua-khau?lang=zh").await).await;
    assert!(home.contains("谅山数字口岸平台"), "Chinese page");
    assert!(home.contains("友谊"), "gate names in Chinese");
    let (_, home) = text(app.get(&c, "/cua-khau?lang=vi").await).await;
    assert!(home.contains("Cửa khẩu quốc tế Hữu Nghị"));
    // Declaring needs an account.
    let resp = c
        .post(app.url("/api/v1/border/trips"))
        .json(&declaration("12C-123.45"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn declare_book_correct_and_check_the_pass() {
    let app = spawn_app().await;
    let (ent, csrf) = app.api_signed_in(ENTERPRISE).await;

    // Bad input: every field named, 422, nothing written.
    let mut bad = declaration("12 C 123");
    bad["goods"][0]["hs_code"] = json!("12345678");
    bad["expected_arrival"] = json!(format!("{}T02:00", tomorrow()));
    let (s, p) = declare(&app, &ent, &csrf, &bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in ["vehicle.plate", "goods[0].hs_code", "expected_arrival"] {
        assert!(fields.contains(&f), "{f} not in {fields:?}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM border_trips").await, 0);

    let (s, trip) = declare(&app, &ent, &csrf, &declaration("12c-123.45")).await;
    assert_eq!(s, StatusCode::CREATED, "{trip}");
    let code = trip["code"].as_str().unwrap().to_string();
    assert_eq!(trip["vehicle_plate"], "12C-123.45");
    assert_eq!(trip["perishable"], true);

    // The same truck again: 409.
    let (s, _) = declare(&app, &ent, &csrf, &declaration("12C12345")).await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Book 10:00 tomorrow.
    let resp = ent
        .post(app.url(&format!("/api/v1/border/trips/{code}/booking")))
        .header("x-csrf-token", &csrf)
        .json(&json!({"date": tomorrow(), "hour": 10}))
        .send()
        .await
        .unwrap();
    let (s, b) = json(resp).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "active");

    // The pass, before any correction.
    let (s, pass_v1) = json(
        ent.get(app.url(&format!("/api/v1/border/trips/{code}/pass")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{pass_v1}");
    assert!(pass_v1["svg"].as_str().unwrap().starts_with("<svg"));
    let pass_v1 = pass_v1["text"].as_str().unwrap().to_string();

    // Correct the weight in place.
    let mut fixed = declaration("12C-123.45");
    fixed["goods"][0]["weight_kg"] = json!(15500);
    let resp = ent
        .put(app.url(&format!("/api/v1/border/trips/{code}")))
        .header("x-csrf-token", &csrf)
        .json(&json!({"version": 1, "reason": "Cân lại tại kho", "declaration": fixed}))
        .send()
        .await
        .unwrap();
    let (s, v2) = json(resp).await;
    assert_eq!(s, StatusCode::OK, "{v2}");
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["code"], code.as_str());
    let (_, versions) = json(
        ent.get(app.url(&format!("/api/v1/border/trips/{code}/versions")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        versions[1]["changes"]["goods[0].weight_kg"],
        json!(["16000", "15500"])
    );

    // The officer at Hữu Nghị reads the trip and checks passes; cannot correct it.
    let (off, off_csrf) = app.api_signed_in(OFFICER).await;
    let (s, seen) = json(
        off.get(app.url(&format!("/api/v1/border/trips/{code}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{seen}");
    assert_eq!(seen["access"], "officer");
    assert_eq!(seen["booking"]["status"], "active");
    let resp = off
        .put(app.url(&format!("/api/v1/border/trips/{code}")))
        .header("x-csrf-token", &off_csrf)
        .json(&json!({"version": 2, "reason": "x", "declaration": fixed}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let check = |t: String| {
        let off = off.clone();
        let url = app.url("/api/v1/border/passes/check");
        let csrf = off_csrf.clone();
        async move {
            json(
                off.post(url)
                    .header("x-csrf-token", csrf)
                    .json(&json!({"text": t}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
            .1
        }
    };
    let old = check(pass_v1.clone()).await;
    assert_eq!(old["valid"], false, "{old}");
    assert_eq!(old["problem"], "superseded");
    let (_, pass_v2) = json(
        ent.get(app.url(&format!("/api/v1/border/trips/{code}/pass")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let new = check(pass_v2["text"].as_str().unwrap().to_string()).await;
    assert_eq!(new["valid"], true, "{new}");
    assert_eq!(new["payload"]["p"], "12C-123.45");
    let forged = check(pass_v1.replacen("TSB1.e", "TSB1.f", 1)).await;
    assert_eq!(forged["valid"], false);

    // Someone else (a citizen) does not reach the trip.
    let (cit, _) = app.api_signed_in("020190001234").await;
    let resp = cit
        .get(app.url(&format!("/api/v1/border/trips/{code}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(app.audit_count("border.trip.correct").await >= 1);
}

#[tokio::test]
async fn the_declaration_pages_in_three_languages() {
    let app = spawn_app().await;
    let c = app.signed_in(ENTERPRISE).await;
    let (s, html) = text(app.get(&c, "/cua-khau/khai-bao?lang=zh").await).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("申报过境行程"), "Chinese form");
    let csrf = hidden_field(&html, "csrf").unwrap();
    // A form with mistakes comes back with the messages and the values kept.
    let mut form = vec![
        ("csrf", csrf.clone()),
        ("gate", "HN".into()),
        ("direction", "export".into()),
        ("expected_arrival", format!("{}T10:00", tomorrow())),
        ("enterprise_mst", ENTERPRISE.into()),
        (
            "enterprise_name",
            "Công ty TNHH Xuất nhập khẩu Hữu Nghị".into(),
        ),
        ("vehicle_plate", "桂A·12345".into()),
        ("vehicle_plate_colour", "yellow".into()),
        ("vehicle_payload_kg", "30000".into()),
        ("driver.id_kind", "passport".into()),
        ("driver.id_number", "E12345678".into()),
        ("driver.full_name", "王伟".into()),
        ("driver.phone", "+86 138 0013 8000".into()),
        ("customs_declaration", "105123456789".into()),
        ("goods[0].hs_code", "0810.60.00".into()),
        ("goods[0].quantity", "1000".into()),
        ("goods[0].unit", "thùng".into()),
        ("goods[0].weight_kg", "99000".into()),
    ];
    let resp = c
        .post(app.url("/cua-khau/khai-bao"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let (s, html) = text(resp).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("error-summary"));
    assert!(html.contains("value=\"99000\""), "values kept");
    // The rule in Chinese, the specifics in English after it.
    assert!(
        html.contains("货物重量超过车辆和挂车的载重量（"),
        "the overweight rule in Chinese"
    );
    form.retain(|(k, _)| *k != "goods[0].weight_kg");
    form.push(("goods[0].weight_kg", "20000".into()));
    let resp = c
        .post(app.url("/cua-khau/khai-bao"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with("/cua-khau/chuyen/HN-"), "{to}");
    let (s, page) = text(app.get(&c, &format!("{to}?lang=en")).await).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains("桂A·12345"), "Chinese plate kept canonical");
    assert!(page.contains("<svg"), "the QR pass");
    assert!(page.contains("TSB1."));
    // The officers' offline check page is public and carries the keys.
    let (s, check) = text(app.get(&crate::client(), "/cua-khau/kiem-tra-the").await).await;
    assert_eq!(s, StatusCode::OK);
    assert!(check.contains("pass-keys"));
}

#[tokio::test]
async fn the_fee_is_paid_by_vietqr_and_reconciled() {
    let app = spawn_app().await;
    let (ent, csrf) = app.api_signed_in(ENTERPRISE).await;
    let (s, trip) = declare(&app, &ent, &csrf, &declaration("12C-555.66")).await;
    assert_eq!(s, StatusCode::CREATED, "{trip}");
    let code = trip["code"].as_str().unwrap().to_string();
    let resp = ent
        .post(app.url(&format!("/api/v1/border/trips/{code}/fee")))
        .header("x-csrf-token", &csrf)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (s, a) = json(resp).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let amount = a["amount_vnd"].as_i64().unwrap();
    assert!(amount > 0);
    assert_eq!(
        a["collector_vnd"].as_i64().unwrap() + a["budget_vnd"].as_i64().unwrap(),
        amount
    );
    let resp = ent
        .post(app.url(&format!("/api/v1/border/trips/{code}/fee/payment")))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    let (s, p) = json(resp).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert!(p["qr_payload"].as_str().unwrap().starts_with("000201"));

    // The gateway's signed callback (no session).
    let now = Utc::now().timestamp();
    let cb = json!({"payment_id": p["id"], "txn_id": "PG-B1", "amount_vnd": amount, "status": "paid",
        "paid_at": Utc::now().to_rfc3339()});
    let body = serde_json::to_vec(&cb).unwrap();
    let sig = tinhso_services::payment::sign(&tinhso_services::payment::shared_secret(), &body);
    let send = |sig: String| {
        crate::client()
            .post(app.url("/api/v1/border/fees/callback"))
            .header("x-timestamp", now.to_string())
            .header("x-signature", sig)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    };
    let forged = send("00".repeat(32)).await.unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let (s, paid) = json(send(sig.clone()).await.unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{paid}");
    let receipt = paid["payment"]["receipt_no"].as_str().unwrap().to_string();
    let (_, replay) = json(send(sig).await.unwrap()).await;
    assert_eq!(replay["replayed"], true);

    // Paid before the truck came (prepaid): the journey stays "declared" until its checks
    // clear (then it goes on to "fee paid"); the receipt is the declarer's to read, as a PDF
    // too.
    let (_, seen) = json(
        ent.get(app.url(&format!("/api/v1/border/trips/{code}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(seen["stage"], "declared", "{seen}");
    let pdf = ent
        .get(app.url(&format!("/api/v1/border/fees/receipts/{receipt}.pdf")))
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), StatusCode::OK);
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF"));
    let (cit, _) = app.api_signed_in("020190001234").await;
    let other = cit
        .get(app.url(&format!("/api/v1/border/fees/receipts/{receipt}")))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::FORBIDDEN);

    // The management board reconciles the day; an enterprise may not.
    let day = seen["expected_arrival"].as_i64().unwrap();
    let date = tinhso_border::declaration::local(day)
        .format("%Y-%m-%d")
        .to_string();
    let today = tinhso_border::declaration::local(Utc::now().timestamp_micros())
        .format("%Y-%m-%d")
        .to_string();
    let (bql, _) = app.api_signed_in("bql.cuakhau").await;
    let (s, recon) = json(
        bql.get(app.url(&format!(
            "/api/v1/border/fees/reconciliation?date={date}&gate=HN"
        )))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{recon}");
    assert_eq!(recon[0]["gate_code"], "HN", "{recon}");
    let (s, recon_today) = json(
        bql.get(app.url(&format!(
            "/api/v1/border/fees/reconciliation?date={today}&gate=HN"
        )))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        recon_today.to_string().contains(&amount.to_string()),
        "money received today: {recon_today}"
    );
    let denied = ent
        .get(app.url(&format!("/api/v1/border/fees/reconciliation?date={date}")))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_leaders_border_page_draws_its_charts() {
    let app = spawn_app().await;
    let leader = app.signed_in("lanhdao.tinh").await;
    let (s, html) = text(app.get(&leader, "/lanh-dao/cua-khau?ngay=7").await).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("<svg class=\"chart\""),
        "SVG charts on the page"
    );
    assert!(html.contains("http-equiv=\"refresh\""), "refreshes itself");
    assert!(html.contains("Bãi kiểm hoá Hữu Nghị"), "yards listed");
    assert!(
        html.contains("hàng chờ dự báo 72 giờ"),
        "the 72-hour outlook per gate"
    );
    assert!(
        html.contains("id=\"no-alerts\""),
        "no congestion on the demo data"
    );
    let ent = app.signed_in(ENTERPRISE).await;
    let resp = app.get(&ent, "/lanh-dao/cua-khau").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn bookings_are_cancelled_extended_once_and_standby_joined() {
    let app = spawn_app().await;
    let (ent, csrf) = app.api_signed_in(ENTERPRISE).await;
    let (_, trip) = declare(&app, &ent, &csrf, &declaration("12C-777.88")).await;
    let code = trip["code"].as_str().unwrap().to_string();
    let url = |p: &str| app.url(&format!("/api/v1/border/trips/{code}{p}"));
    let (s, b) = json(
        ent.post(url("/booking"))
            .header("x-csrf-token", &csrf)
            .json(&json!({"date": tomorrow(), "hour": 9}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // A driver who will be late asks for the one extension; a second is refused.
    let (s, e) = json(
        ent.post(url("/booking/extension"))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!(e["grace_used"], true);
    assert!(e["arrive_by"].as_i64().unwrap() > b["arrive_by"].as_i64().unwrap());
    let (s, p) = json(
        ent.post(url("/booking/extension"))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");
    // Holding a booking: no standby.
    let (s, _) = json(
        ent.post(url("/standby"))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, c) = json(
        ent.delete(url("/booking"))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "cancelled");
    let resp = ent
        .post(url("/standby"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM border_bookings WHERE status = 'active'")
            .await,
        0
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM border_standby").await, 1);
}

/// A fee paid before the truck came, for a trip then cancelled, is refunded (hoàn phí): the
/// server's job opens the refund; the management board's fee officer approves it and records
/// the transfer on the API and the page; the declarer may not; the trip shows it refunded.
#[tokio::test]
async fn a_prepaid_fee_of_a_cancelled_trip_is_refunded_by_the_fee_officer() {
    let app = spawn_app().await;
    let (ent, csrf) = app.api_signed_in(ENTERPRISE).await;
    let (s, trip) = declare(&app, &ent, &csrf, &declaration("12C-555.77")).await;
    assert_eq!(s, StatusCode::CREATED, "{trip}");
    let code = trip["code"].as_str().unwrap().to_string();
    let (s, a) = json(
        ent.post(app.url(&format!("/api/v1/border/trips/{code}/fee")))
            .header("x-csrf-token", &csrf)
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    let (_, p) = json(
        ent.post(app.url(&format!("/api/v1/border/trips/{code}/fee/payment")))
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let amount = a["amount_vnd"].as_i64().unwrap();
    let cb = json!({"payment_id": p["id"], "txn_id": "PG-R1", "amount_vnd": amount,
        "status": "paid", "paid_at": Utc::now().to_rfc3339()});
    let body = serde_json::to_vec(&cb).unwrap();
    let sig = tinhso_services::payment::sign(&tinhso_services::payment::shared_secret(), &body);
    let paid = crate::client()
        .post(app.url("/api/v1/border/fees/callback"))
        .header("x-timestamp", Utc::now().timestamp().to_string())
        .header("x-signature", sig)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::OK);
    // The board's officer cannot refund a trip still under way.
    let (bql, bql_csrf) = app.api_signed_in("bql.cuakhau").await;
    let refund = |c: &Client, token: &str| {
        c.post(app.url(&format!("/api/v1/border/trips/{code}/fee/refund")))
            .header("x-csrf-token", token)
            .json(&json!({"reason": "cancelled"}))
            .send()
    };
    let (s, e) = json(refund(&bql, &bql_csrf).await.unwrap()).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    // The order falls through; the server's job opens the refund.
    let sys = tinhso_store::audit::Ctx::system("test");
    tinhso_border::declaration::cancel(&app.db, &sys, &code, "Đơn hàng bị huỷ")
        .await
        .unwrap();
    let opened = tinhso_border::fee_refund::open_due(&app.db, &sys, tinhso_store::now_micros())
        .await
        .unwrap();
    assert_eq!(opened.len(), 1);
    let id = opened[0].id.clone();
    // The declarer neither lists, opens nor approves refunds.
    let denied = ent
        .get(app.url("/api/v1/border/fees/refunds"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        refund(&ent, &csrf).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // A second refund of the same fee: refused, in both languages.
    let (s, e) = json(refund(&bql, &bql_csrf).await.unwrap()).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(e.to_string().contains("không hoàn lần nữa"), "{e}");
    // The board lists it, approves it, records the transfer.
    let (s, list) = json(
        bql.get(app.url("/api/v1/border/fees/refunds?status=requested"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["amount_vnd"], amount);
    assert_eq!(
        list[0]["refund_to"].as_str().unwrap().split(':').nth(1),
        Some("PG-R1")
    );
    let (s, r) = json(
        bql.post(app.url(&format!("/api/v1/border/fees/refunds/{id}/approval")))
            .header("x-csrf-token", &bql_csrf)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "approved");
    let pay_back = |reference: &str| {
        bql.post(app.url(&format!("/api/v1/border/fees/refunds/{id}/payment")))
            .header("x-csrf-token", &bql_csrf)
            .json(&json!({ "reference": reference }))
            .send()
    };
    let (s, e) = json(pay_back("").await.unwrap()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (s, r) = json(pay_back("HT-2026-0001").await.unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "paid");
    // The fee officer's page lists it; the declarer's trip page shows the fee refunded.
    let page = app.get(&bql, "/nghiep-vu/cua-khau/hoan-phi").await;
    let (s, html) = text(page).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains(&code) && html.contains("HT-2026-0001"),
        "{html}"
    );
    // Filters: part of the trip code in any case, the reason, the gate, the day it was asked.
    let gate = list[0]["gate_code"].as_str().unwrap().to_string();
    let today = tinhso_border::declaration::local(tinhso_store::now_micros())
        .format("%Y-%m-%d")
        .to_string();
    let part = code[code.len() - 6..].to_lowercase();
    let (bql_ref, app_ref) = (&bql, &app);
    let listed = move |query: String| {
        let (bql, app) = (bql_ref, app_ref);
        async move {
            let (s, v) = json(
                bql.get(app.url(&format!("/api/v1/border/fees/refunds?{query}")))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            (s, v)
        }
    };
    let hit =
        format!("trip={part}&reason=cancelled&gate={gate}&from={today}&to={today}&status=paid");
    let (s, v) = listed(hit).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    for miss in [
        "reason=no_show".to_string(),
        "from=2020-01-01&to=2020-01-31".to_string(),
        "trip=KHONG-CO".to_string(),
        "status=requested".to_string(),
    ] {
        let (s, v) = listed(miss.clone()).await;
        assert_eq!(s, StatusCode::OK, "{miss}: {v}");
        assert!(v.as_array().unwrap().is_empty(), "{miss}: {v}");
    }
    for (bad, field) in [
        ("from=30/11/2026", "from"),
        ("from=2026-12-02&to=2026-12-01", "to"),
        ("reason=lost", "reason"),
    ] {
        let (s, e) = listed(bad.to_string()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {e}");
        assert_eq!(e["errors"][0]["field"], field, "{bad}: {e}");
    }
    // The page keeps the filter, totals what it shows, and names a bad date.
    let page = app
        .get(
            &bql,
            &format!("/nghiep-vu/cua-khau/hoan-phi?status=paid&trip={part}"),
        )
        .await;
    let (s, html) = text(page).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("id=\"refund-totals\"") && html.contains(&code),
        "{html}"
    );
    assert!(html.contains(&format!("value=\"{part}\"")), "{html}");
    let page = app
        .get(&bql, "/nghiep-vu/cua-khau/hoan-phi?from=hom-qua")
        .await;
    let (s, html) = text(page).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("năm-tháng-ngày") && !html.contains(&code),
        "{html}"
    );
    let trip_page = app.get(&ent, &format!("/cua-khau/chuyen/{code}")).await;
    let (_, html) = text(trip_page).await;
    assert!(html.contains("đã hoàn phí"), "{html}");
}
