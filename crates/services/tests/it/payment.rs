//! Payments: a request with its VietQR code, the signed PayGov callback, replays, refusals
//! and the daily reconciliation.

use super::*;
use tinhso_services::payment::{self, simulator};
use tinhso_services::vietqr;

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Payments, receipt counters, dossiers' paid amounts and statuses, events, outbox.
async fn state(
    db: &Db,
) -> (
    Vec<(String, String, Option<String>)>,
    Vec<(i64, i64)>,
    [i64; 5],
) {
    let p: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT id, status, receipt_no FROM payments ORDER BY id")
            .fetch_all(db.pool())
            .await
            .unwrap();
    let d: Vec<(i64, i64)> = sqlx::query_as("SELECT status, paid_vnd FROM dossiers ORDER BY code")
        .fetch_all(db.pool())
        .await
        .unwrap();
    let f = [
        count(db, "dossier_events").await,
        count(db, "outbox").await,
        count(db, "payment_receipt_counters").await,
        count(db, "payments").await,
        count(db, "dossiers").await,
    ];
    (p, d, f)
}

async fn rejected_count(db: &Db) -> usize {
    audit::list(
        db,
        &AuditFilter {
            action: Some("payment.callback_rejected".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .len()
}

/// A building permit accepted (75 000 đ due) and put in status 6.
async fn waiting_for_payment(db: &Db) -> String {
    let s = tam_thanh_staff(db).await;
    let code = submit_anon(db, &building_permit()).await.dossier.code;
    act(db, &s.one_stop, &code, "accept", "").await.unwrap();
    let d = act(db, &s.one_stop, &code, "request_payment", "")
        .await
        .unwrap();
    assert_eq!(d.status, 6);
    code
}

async fn send(
    db: &Db,
    body: &[u8],
    headers: &[(String, String)],
) -> Result<payment::CallbackResult, AppError> {
    let h = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    payment::callback(
        db,
        &Ctx::system("req-callback"),
        body,
        h("X-Signature"),
        h("X-Timestamp"),
        now_secs(),
    )
    .await
}

#[tokio::test]
async fn a_signed_callback_pays_the_dossier() {
    let t = env().await;
    let code = waiting_for_payment(&t.db).await;
    let p = payment::request(&t.db, &sys(), &code).await.unwrap();
    assert_eq!((p.amount_vnd, p.status.as_str()), (75_000, "pending"));
    assert_eq!(p.purpose, code);
    // The QR pays the demo account the amount due, with the dossier code as purpose.
    let qr = vietqr::parse(&p.qr_payload).unwrap();
    assert_eq!(qr.bin, payment::DEMO_BANK_BIN);
    assert_eq!(qr.account, payment::DEMO_ACCOUNT);
    assert_eq!(qr.amount_vnd, Some(75_000));
    assert_eq!(qr.purpose.as_deref(), Some(code.as_str()));
    // Asking again returns the same pending request.
    assert_eq!(
        payment::request(&t.db, &sys(), &code).await.unwrap().id,
        p.id
    );

    let (body, headers) = simulator::signed_callback(&p, "PG-0001", now_secs());
    let r = send(&t.db, &body, &headers).await.unwrap();
    assert!(!r.replayed);
    assert_eq!(r.payment.status, "paid");
    let year = dossier::today_local().format("%Y").to_string();
    assert_eq!(r.payment.receipt_no, Some(format!("BL-{year}-000001")));
    assert_eq!(r.payment.gateway_txn_id.as_deref(), Some("PG-0001"));
    let d = dossier::get(&t.db, &code).await.unwrap().unwrap();
    assert_eq!((d.status, d.paid_vnd), (4, 75_000));
    let last = d.events.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.from_status, last.to_status),
        ("payment_received", 6, 4)
    );
    assert!(!last.signed);
    // Nothing more is due.
    assert_code(
        payment::request(&t.db, &sys(), &code).await,
        ErrorCode::Conflict,
    );

    // A replay returns the same result and changes nothing.
    let before = state(&t.db).await;
    let again = send(&t.db, &body, &headers).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.payment, r.payment);
    assert_eq!(state(&t.db).await, before);
}

#[tokio::test]
async fn bad_callbacks_are_refused_and_change_nothing() {
    let t = env().await;
    let code = waiting_for_payment(&t.db).await;
    let p = payment::request(&t.db, &sys(), &code).await.unwrap();
    let before = state(&t.db).await;

    // Forged signature.
    let (body, mut headers) = simulator::signed_callback(&p, "PG-0002", now_secs());
    headers[1].1 = payment::sign(b"not the secret", &body);
    assert_code(
        send(&t.db, &body, &headers).await,
        ErrorCode::Unauthenticated,
    );
    // Missing signature.
    assert_code(
        send(&t.db, &body, &headers[..1]).await,
        ErrorCode::Unauthenticated,
    );
    // Stale timestamp (10 minutes old), correctly signed.
    let (body, headers) = simulator::signed_callback(&p, "PG-0002", now_secs() - 600);
    assert_code(
        send(&t.db, &body, &headers).await,
        ErrorCode::Unauthenticated,
    );
    // Wrong amount, correctly signed.
    let mut wrong = p.clone();
    wrong.amount_vnd = 70_000;
    let (body, headers) = simulator::signed_callback(&wrong, "PG-0003", now_secs());
    let e = assert_code(send(&t.db, &body, &headers).await, ErrorCode::Conflict);
    assert!(e.detail_en.unwrap().contains("75000"));
    // Unknown payment, correctly signed.
    let mut unknown = p.clone();
    unknown.id = "TT-khong-co".into();
    let (body, headers) = simulator::signed_callback(&unknown, "PG-0004", now_secs());
    assert_code(send(&t.db, &body, &headers).await, ErrorCode::NotFound);
    // A tampered body with the original signature.
    let (body, headers) = simulator::signed_callback(&p, "PG-0005", now_secs());
    let tampered = String::from_utf8(body).unwrap().replace("75000", "7500");
    assert_code(
        send(&t.db, tampered.as_bytes(), &headers).await,
        ErrorCode::Unauthenticated,
    );

    assert_eq!(state(&t.db).await, before);
    assert_eq!(rejected_count(&t.db).await, 6);
    let d = dossier::get(&t.db, &code).await.unwrap().unwrap();
    assert_eq!((d.status, d.paid_vnd), (6, 0));
}

#[tokio::test]
async fn reconciliation_sums_per_agency_and_day() {
    let t = env().await;
    let a = waiting_for_payment(&t.db).await;
    let s = tam_thanh_staff_again(&t.db).await;
    let b = submit_anon(&t.db, &building_permit()).await.dossier.code;
    act(&t.db, &s, &b, "accept", "").await.unwrap();
    // b: accepted, fee due without a payment request (status 2).
    for (i, code) in [a, b.clone()].iter().enumerate() {
        let p = payment::request(&t.db, &sys(), code).await.unwrap();
        let (body, headers) = simulator::signed_callback(&p, &format!("PG-R{i}"), now_secs());
        send(&t.db, &body, &headers).await.unwrap();
    }
    let d = dossier::get(&t.db, &b).await.unwrap().unwrap();
    assert_eq!((d.status, d.paid_vnd), (2, 75_000));
    // One pending payment that does not count.
    let c = waiting_for_payment_no_staff(&t.db, &s).await;
    payment::request(&t.db, &sys(), &c).await.unwrap();

    let today = dossier::today_local();
    let r = payment::reconciliation(&t.db, today, None).await.unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].agency_code, UBND_TAM_THANH);
    assert_eq!((r[0].count, r[0].total_vnd), (2, 150_000));
    let other = payment::reconciliation(&t.db, today, Some(&[UBND_DONG_KINH.to_string()]))
        .await
        .unwrap();
    assert!(other.is_empty());
    let yesterday = today.pred_opt().unwrap();
    assert!(payment::reconciliation(&t.db, yesterday, None)
        .await
        .unwrap()
        .is_empty());
}

/// The one-stop officer of Tam Thanh, created once per database by `waiting_for_payment`.
async fn tam_thanh_staff_again(db: &Db) -> Principal {
    let a = acc::get_by_username(db, "motcua.tamthanh")
        .await
        .unwrap()
        .unwrap();
    acc::principal_of(&a, AuthMethod::Session)
}

async fn waiting_for_payment_no_staff(db: &Db, s: &Principal) -> String {
    let code = submit_anon(db, &building_permit()).await.dossier.code;
    act(db, s, &code, "accept", "").await.unwrap();
    act(db, s, &code, "request_payment", "").await.unwrap();
    code
}

/// A signed callback reporting `p` as failed.
fn failed_callback(p: &payment::Payment, txn_id: &str) -> (Vec<u8>, Vec<(String, String)>) {
    let cb = payment::Callback {
        payment_id: p.id.clone(),
        txn_id: txn_id.into(),
        amount_vnd: p.amount_vnd,
        status: "failed".into(),
        paid_at: chrono::Utc::now().to_rfc3339(),
    };
    let body = serde_json::to_vec(&cb).unwrap();
    let headers = vec![
        ("X-Timestamp".to_string(), now_secs().to_string()),
        (
            "X-Signature".to_string(),
            payment::sign(&payment::shared_secret(), &body),
        ),
    ];
    (body, headers)
}

#[tokio::test]
async fn a_failed_payment_is_recorded_once_and_the_dossier_still_waits() {
    let t = env().await;
    let code = waiting_for_payment(&t.db).await;
    let p = payment::request(&t.db, &sys(), &code).await.unwrap();
    let (body, headers) = failed_callback(&p, "PG-F001");
    let r = send(&t.db, &body, &headers).await.unwrap();
    assert!(!r.replayed);
    assert_eq!(
        (
            r.payment.status.as_str(),
            r.payment.gateway_txn_id.as_deref(),
            r.payment.receipt_no.as_deref(),
            r.payment.paid_at
        ),
        ("failed", Some("PG-F001"), None, None)
    );
    let d = dossier::get(&t.db, &code).await.unwrap().unwrap();
    assert_eq!((d.status, d.paid_vnd), (6, 0), "still waiting for payment");
    let failed = audited(&t.db, "payment.failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].target_id, p.id);
    assert!(
        failed[0].summary.contains("PG-F001"),
        "{}",
        failed[0].summary
    );
    assert!(audited(&t.db, "payment.paid").await.is_empty());
    assert_eq!(count(&t.db, "payment_receipt_counters").await, 0);

    // The same callback again: a replay, nothing changes.
    let before = state(&t.db).await;
    let again = send(&t.db, &body, &headers).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.payment, r.payment);
    assert_eq!(state(&t.db).await, before);
    // A paid callback for the failed request is refused: it is no longer pending.
    let (body, headers) = simulator::signed_callback(&p, "PG-F002", now_secs());
    assert_code(send(&t.db, &body, &headers).await, ErrorCode::Conflict);
    assert_eq!(state(&t.db).await, before);
    // The applicant asks again: a new pending request, which pays the dossier.
    let p2 = payment::request(&t.db, &sys(), &code).await.unwrap();
    assert_ne!(p2.id, p.id);
    let (body, headers) = simulator::signed_callback(&p2, "PG-F003", now_secs());
    assert_eq!(
        send(&t.db, &body, &headers).await.unwrap().payment.status,
        "paid"
    );
    let d = dossier::get(&t.db, &code).await.unwrap().unwrap();
    assert_eq!((d.status, d.paid_vnd), (4, 75_000));
    assert_eq!(audit::verify(&t.db).await.unwrap().first_broken, None);
}
