//! Fee assessment, payment through the gateway, receipts and reconciliation, on SQLite and
//! PostgreSQL.

use tinhso_border::declaration::{self, DeclarationInput, GoodsLineInput, Trip};
use tinhso_border::fee_payment::{self, AssessInput, Assessment, FeePayment};
use tinhso_border::registry::DriverInput;
use tinhso_kernel::validate::mst_check_digit;
use tinhso_services::payment::{shared_secret, sign, Callback};
use tinhso_services::vietqr;
use tinhso_store::{now_micros, Db};

fn mst() -> String {
    let first9 = [4u8, 9, 0, 0, 1, 2, 3, 4, 5];
    let mut nine = first9;
    // Find a 9-digit prefix with a valid check digit.
    for last in 0..10u8 {
        nine[8] = last;
        if let Some(c) = mst_check_digit(&nine) {
            return nine
                .iter()
                .chain([c].iter())
                .map(|d| d.to_string())
                .collect();
        }
    }
    unreachable!("some prefix has a check digit")
}

/// Tomorrow at 09:00, Vietnam time.
fn tomorrow_9am() -> String {
    declaration::local(now_micros() + 86_400_000_000)
        .format("%Y-%m-%dT09:00")
        .to_string()
}

async fn declare(
    db: &Db,
    gate: &str,
    direction: &str,
    plate: &str,
    payload_kg: i64,
    goods: &[(&str, i64)],
) -> Trip {
    let input = declaration_input(gate, direction, plate, payload_kg, goods);
    declaration::declare(db, &crate::sys(), "user:test", &input)
        .await
        .unwrap()
}

/// A declaration of `plate` (its payload) at `gate` with goods lines (HS code, kg).
fn declaration_input(
    gate: &str,
    direction: &str,
    plate: &str,
    payload_kg: i64,
    goods: &[(&str, i64)],
) -> DeclarationInput {
    DeclarationInput {
        enterprise_mst: mst(),
        enterprise_name: "Công ty TNHH Nông sản Biên giới".into(),
        enterprise_phone: String::new(),
        gate: gate.into(),
        direction: direction.into(),
        expected_arrival: tomorrow_9am(),
        vehicle_plate: plate.into(),
        vehicle_plate_colour: String::new(),
        vehicle_payload_kg: payload_kg,
        trailer_plate: String::new(),
        trailer_payload_kg: 0,
        driver: DriverInput {
            id_kind: "cccd".into(),
            id_number: "020090001234".into(),
            full_name: "Hoàng Văn Lái".into(),
            phone: "0912345678".into(),
            nationality: String::new(),
        },
        customs_declaration: "105000000001".into(),
        goods: goods
            .iter()
            .map(|(hs, kg)| GoodsLineInput {
                hs_code: hs.to_string(),
                description: String::new(),
                quantity: *kg as f64,
                unit: "kg".into(),
                weight_kg: *kg,
            })
            .collect(),
    }
}

fn assess_input(trip: &Trip) -> AssessInput {
    AssessInput {
        trip_code: trip.code.clone(),
        journey: String::new(),
        container: String::new(),
    }
}

fn now_secs() -> i64 {
    now_micros() / 1_000_000
}

fn signed(p: &FeePayment, txn: &str, amount: i64, status: &str) -> (Vec<u8>, String, String) {
    let cb = Callback {
        payment_id: p.id.clone(),
        txn_id: txn.into(),
        amount_vnd: amount,
        status: status.into(),
        paid_at: chrono::Utc::now().to_rfc3339(),
    };
    let body = serde_json::to_vec(&cb).unwrap();
    let sig = sign(&shared_secret(), &body);
    (body, sig, now_secs().to_string())
}

async fn pay(db: &Db, p: &FeePayment, txn: &str) -> fee_payment::CallbackResult {
    let (body, sig, ts) = signed(p, txn, p.amount_vnd, "paid");
    fee_payment::callback(db, &crate::sys(), &body, Some(&sig), Some(&ts), now_secs())
        .await
        .unwrap()
}

/// Payment request `id` is cancelled, and a paid callback for it is refused (409).
async fn cancelled_and_refused(db: &Db, id: &str, txn: &str) {
    let p = fee_payment::payment(db, id).await.unwrap().unwrap();
    assert_eq!(p.status, "cancelled");
    let (body, sig, ts) = signed(&p, txn, p.amount_vnd, "paid");
    let e = fee_payment::callback(db, &crate::sys(), &body, Some(&sig), Some(&ts), now_secs())
        .await
        .unwrap_err();
    assert_eq!(e.status(), 409);
}

/// The HTTP status of each result of a batch (200 for one kept).
fn statuses<T>(out: &[Result<T, tinhso_kernel::AppError>]) -> Vec<u16> {
    out.iter()
        .map(|r| r.as_ref().map(|_| 200).unwrap_or_else(|e| e.status()))
        .collect()
}

async fn outbox_count(db: &Db, topic: &str) -> i64 {
    crate::count(
        db,
        &format!("SELECT COUNT(*) FROM outbox WHERE topic = '{topic}'"),
    )
    .await
}

async fn audit_count(db: &Db, action: &str) -> i64 {
    crate::count(
        db,
        &format!("SELECT COUNT(*) FROM audit_log WHERE action = '{action}'"),
    )
    .await
}

/// The trip's fee assessed by the system, as declared.
async fn assessed(db: &Db, trip: &Trip) -> Assessment {
    fee_payment::assess(db, &crate::sys(), &assess_input(trip))
        .await
        .unwrap()
}

/// A 1.5 t truck of durian (sầu riêng, 1.2 t) declared for export at Hữu Nghị as `plate`,
/// and its fee assessed.
async fn durian_assessed(db: &Db, plate: &str) -> (Trip, Assessment) {
    let trip = declare(db, "HN", "export", plate, 1500, &[("0810.60.00", 1200)]).await;
    let a = assessed(db, &trip).await;
    (trip, a)
}

#[tokio::test]
async fn durian_under_2t_pays_100_000_by_vietqr_and_gets_a_receipt() {
    let t = crate::env().await;
    let (trip, a) = durian_assessed(&t.db, "12C-123.45").await;
    assert_eq!(a.amount_vnd, 100_000);
    assert_eq!(a.collector_vnd + a.budget_vnd, a.amount_vnd);
    assert_eq!(a.collector_vnd, 10_000);
    assert_eq!(a.journey, "export");
    assert_eq!(a.vehicle_class, "under_2t");
    assert_eq!(a.schedule_id, "NQ-09-2025-LS");
    assert!(a.confirmed);
    assert_eq!(a.status, "due");
    // Assessing again with nothing changed gives the same assessment.
    let again = assessed(&t.db, &trip).await;
    assert_eq!(again.id, a.id);

    let p = fee_payment::request_payment(&t.db, &crate::sys(), &trip.code)
        .await
        .unwrap();
    assert_eq!(p.status, "pending");
    let qr = vietqr::parse(&p.qr_payload).unwrap();
    assert_eq!(qr.amount_vnd, Some(100_000));
    assert_eq!(qr.purpose, Some(format!("PHI HT {}", trip.code)));
    // Asking twice gives the same request.
    let same = fee_payment::request_payment(&t.db, &crate::sys(), &trip.code)
        .await
        .unwrap();
    assert_eq!(same.id, p.id);
    assert!(fee_payment::paid_receipt_for_trip(&t.db, &trip.code)
        .await
        .unwrap()
        .is_none());

    let r = pay(&t.db, &p, "TXN-0001").await;
    assert!(!r.replayed);
    assert_eq!(r.payment.status, "paid");
    // Paid before the truck came (prepaid): the journey stays "declared" (the truck is not
    // counted as arrived); it moves to "fee paid" when its checks clear (tested with the checks).
    assert_eq!(
        crate::count(
            &t.db,
            &format!(
                "SELECT COUNT(*) FROM border_trips t WHERE t.code = '{}' AND t.stage = 'declared' \
                 AND NOT EXISTS (SELECT 1 FROM border_trip_stages s WHERE s.trip_id = t.id \
                 AND s.stage = 'paid')",
                trip.code
            )
        )
        .await,
        1
    );
    let no = r.payment.receipt_no.clone().unwrap();
    assert!(no.starts_with("BLP-") && no.ends_with("-000001"), "{no}");
    assert_eq!(
        fee_payment::paid_receipt_for_trip(&t.db, &trip.code)
            .await
            .unwrap(),
        Some(no.clone())
    );
    let a = fee_payment::current(&t.db, &trip.code)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.status, "paid");
    let receipt = fee_payment::receipt(&t.db, &no).await.unwrap().unwrap();
    assert_eq!(receipt.amount_vnd, 100_000);
    assert_eq!(receipt.collector_vnd, 10_000);
    assert_eq!(receipt.budget_vnd, 90_000);
    assert_eq!(receipt.trip_code, trip.code);
    assert_eq!(receipt.vehicle_plate, "12C-123.45");
    assert_eq!(receipt.gateway_txn_id, "TXN-0001");
    assert!(receipt.collector_vi.contains("Trung tâm Quản lý cửa khẩu"));
    assert!(receipt.explanation_vi.contains("100.000 ₫"));
    let pdf = fee_payment::receipt_pdf(&receipt);
    assert!(pdf.starts_with(b"%PDF"));
    // The amount in words (bằng chữ) as a reader of the PDF sees it.
    let words = tinhso_pdf::test_support::words(&tinhso_pdf::test_support::pdftotext(&pdf, false));
    assert!(words.contains("Bằng chữ Một trăm nghìn đồng"), "{words}");
    assert_eq!(
        tinhso_pdf::custom_entry(&pdf, "TinhSoFeeReceipt"),
        Some(no.clone())
    );
    assert!(fee_payment::receipt(&t.db, "BLP-1999-000001")
        .await
        .unwrap()
        .is_none());
    assert_eq!(audit_count(&t.db, "border.fee.assess").await, 1);
    assert_eq!(audit_count(&t.db, "border.fee.paid").await, 1);
    assert_eq!(
        crate::count(
            &t.db,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'border.fee.paid'"
        )
        .await,
        1
    );
    // Assessed again with nothing changed, a paid fee stays as it is, and no new payment is
    // asked for.
    let same = assessed(&t.db, &trip).await;
    assert_eq!(
        (same.id.as_str(), same.status.as_str()),
        (a.id.as_str(), "paid")
    );
    assert_eq!(audit_count(&t.db, "border.fee.assess").await, 1);
    assert_eq!(
        fee_payment::request_payment(&t.db, &crate::sys(), &trip.code)
            .await
            .unwrap_err()
            .status(),
        409
    );
}

#[tokio::test]
async fn a_replayed_callback_changes_nothing_and_a_double_payment_is_refused() {
    let t = crate::env().await;
    let trip = declare(
        &t.db,
        "HN",
        "export",
        "12C-234.56",
        1500,
        &[("0810.60.00", 1000)],
    )
    .await;
    assessed(&t.db, &trip).await;
    let p = fee_payment::request_payment(&t.db, &crate::sys(), &trip.code)
        .await
        .unwrap();
    // A second pending request for the same assessment, as if a second QR had been issued
    // (e.g. by another counter) and both were paid.
    sqlx::query(
        "INSERT INTO border_fee_payments (id, assessment_id, trip_code, gate_code, amount_vnd, purpose, \
         status, gateway, gateway_txn_id, qr_payload, created_by, created_at, paid_at, receipt_no, \
         collector_vnd, budget_vnd) SELECT 'PF-second', assessment_id, trip_code, gate_code, amount_vnd, \
         purpose, 'pending', gateway, NULL, qr_payload, created_by, created_at, NULL, NULL, collector_vnd, \
         budget_vnd FROM border_fee_payments WHERE id = $1",
    )
    .bind(&p.id)
    .execute(t.db.pool())
    .await
    .unwrap();
    let second = fee_payment::payment(&t.db, "PF-second")
        .await
        .unwrap()
        .unwrap();

    let first = pay(&t.db, &p, "TXN-A").await;
    let replay = pay(&t.db, &p, "TXN-A").await;
    assert!(replay.replayed);
    assert_eq!(replay.payment, first.payment);

    // The other request paid too: refused, nothing written but the audit entry.
    let (body, sig, ts) = signed(&second, "TXN-B", second.amount_vnd, "paid");
    let e = fee_payment::callback(
        &t.db,
        &crate::sys(),
        &body,
        Some(&sig),
        Some(&ts),
        now_secs(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 409);
    assert!(e.detail_vi.unwrap().contains("đã được nộp"));
    let second = fee_payment::payment(&t.db, "PF-second")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.status, "pending");
    assert!(second.receipt_no.is_none() && second.gateway_txn_id.is_none());
    assert_eq!(
        crate::count(
            &t.db,
            "SELECT COUNT(*) FROM border_fee_payments WHERE status = 'paid'"
        )
        .await,
        1
    );
    assert_eq!(
        crate::count(
            &t.db,
            "SELECT COUNT(*) FROM border_counters WHERE name LIKE 'fee-receipt:%' AND value = 1"
        )
        .await,
        1,
        "the refused payment did not take a receipt number"
    );
    assert_eq!(audit_count(&t.db, "border.fee.paid").await, 1);
    assert_eq!(audit_count(&t.db, "border.fee.callback_rejected").await, 1);
    // The same payment paid again under another transaction id: refused as well.
    let (body, sig, ts) = signed(&p, "TXN-C", p.amount_vnd, "paid");
    let e = fee_payment::callback(
        &t.db,
        &crate::sys(),
        &body,
        Some(&sig),
        Some(&ts),
        now_secs(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 409);
    assert_eq!(audit_count(&t.db, "border.fee.paid").await, 1);
}

#[tokio::test]
async fn a_failed_payment_changes_nothing_and_the_fee_can_still_be_paid() {
    let t = crate::env().await;
    let trip = declare(
        &t.db,
        "TT",
        "export",
        "12C-345.67",
        1500,
        &[("0810.90.92", 1000)],
    )
    .await;
    let a = assessed(&t.db, &trip).await;
    let p = fee_payment::request_payment(&t.db, &crate::sys(), &trip.code)
        .await
        .unwrap();
    let (body, sig, ts) = signed(&p, "TXN-FAIL", p.amount_vnd, "failed");
    let r = fee_payment::callback(
        &t.db,
        &crate::sys(),
        &body,
        Some(&sig),
        Some(&ts),
        now_secs(),
    )
    .await
    .unwrap();
    assert_eq!(r.payment.status, "failed");
    assert!(r.payment.receipt_no.is_none());
    assert_eq!(
        crate::count(
            &t.db,
            &format!(
                "SELECT COUNT(*) FROM border_trips WHERE code = '{}' AND stage = 'paid'",
                trip.code
            )
        )
        .await,
        0,
        "a failed payment does not move the journey"
    );
    let still = fee_payment::current(&t.db, &trip.code)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.status, "due");
    assert_eq!(still.id, a.id);
    assert!(fee_payment::paid_receipt_for_trip(&t.db, &trip.code)
        .await
        .unwrap()
        .is_none());
    let today = declaration::local(now_micros()).date_naive();
    let rec = fee_payment::reconciliation(&t.db, today, Some("TT"))
        .await
        .unwrap();
    assert_eq!(rec.len(), 1);
    assert_eq!(
        (rec[0].payments, rec[0].received_vnd, rec[0].failed),
        (0, 0, 1)
    );
    // A new request, paid this time.
    let p2 = fee_payment::request_payment(&t.db, &crate::sys(), &trip.code)
        .await
        .unwrap();
    assert_ne!(p2.id, p.id);
    assert_eq!(pay(&t.db, &p2, "TXN-OK").await.payment.status, "paid");
}

#[tokio::test]
async fn bad_callbacks_are_refused_and_change_nothing() {
    let t = crate::env().await;
    let trip = declare(
        &t.db,
        "HN",
        "export",
        "12C-456.78",
        1500,
        &[("0810.60.00", 1000)],
    )
    .await;
    assessed(&t.db, &trip).await;
    let p = fee_payment::request_payment(&t.db, &crate::sys(), &trip.code)
        .await
        .unwrap();
    let sys = crate::sys();
    // Wrong signature.
    let (body, _, ts) = signed(&p, "TXN-1", p.amount_vnd, "paid");
    let e = fee_payment::callback(&t.db, &sys, &body, Some("00ff"), Some(&ts), now_secs())
        .await
        .unwrap_err();
    assert_eq!(e.status(), 401);
    // Stale timestamp.
    let (body, sig, _) = signed(&p, "TXN-1", p.amount_vnd, "paid");
    let stale = (now_secs() - 3600).to_string();
    let e = fee_payment::callback(&t.db, &sys, &body, Some(&sig), Some(&stale), now_secs())
        .await
        .unwrap_err();
    assert_eq!(e.status(), 401);
    // Wrong amount.
    let (body, sig, ts) = signed(&p, "TXN-1", p.amount_vnd - 1, "paid");
    let e = fee_payment::callback(&t.db, &sys, &body, Some(&sig), Some(&ts), now_secs())
        .await
        .unwrap_err();
    assert_eq!(e.status(), 409);
    // Unknown payment.
    let mut other = p.clone();
    other.id = "PF-nope".into();
    let (body, sig, ts) = signed(&other, "TXN-1", p.amount_vnd, "paid");
    let e = fee_payment::callback(&t.db, &sys, &body, Some(&sig), Some(&ts), now_secs())
        .await
        .unwrap_err();
    assert_eq!(e.status(), 404);
    assert_eq!(audit_count(&t.db, "border.fee.callback_rejected").await, 4);
    let p = fee_payment::payment(&t.db, &p.id).await.unwrap().unwrap();
    assert_eq!(p.status, "pending");
    assert!(p.gateway_txn_id.is_none());
    assert_eq!(
        fee_payment::current(&t.db, &trip.code)
            .await
            .unwrap()
            .unwrap()
            .status,
        "due"
    );
}

#[tokio::test]
async fn reassessment_supersedes_an_unpaid_fee_and_cancels_its_payment_request() {
    let t = crate::env().await;
    let trip = declare(
        &t.db,
        "HN",
        "import",
        "12C-567.89",
        30_000,
        &[("0808.10.00", 20_000)],
    )
    .await;
    let first = assessed(&t.db, &trip).await;
    assert_eq!(first.journey, "import");
    assert_eq!(first.vehicle_class, "18t_plus");
    let p = fee_payment::request_payment(&t.db, &crate::sys(), &trip.code)
        .await
        .unwrap();
    // The officer finds the apples go inland: 130 %.
    let inland = fee_payment::assess(
        &t.db,
        &crate::sys(),
        &AssessInput {
            journey: "import_inland".into(),
            ..assess_input(&trip)
        },
    )
    .await
    .unwrap();
    assert_ne!(inland.id, first.id);
    assert_eq!(inland.amount_vnd * 100, first.amount_vnd * 130);
    let history = fee_payment::history(&t.db, &trip.code).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|a| a.status.as_str())
            .collect::<Vec<_>>(),
        ["superseded", "due"]
    );
    // Paying the cancelled request is refused.
    cancelled_and_refused(&t.db, &p.id, "TXN-OLD").await;
    // The new request is for the new amount.
    let p2 = fee_payment::request_payment(&t.db, &crate::sys(), &trip.code)
        .await
        .unwrap();
    assert_eq!(p2.amount_vnd, inland.amount_vnd);
}

#[tokio::test]
async fn mixed_loads_pay_the_highest_rate_and_containers_by_size() {
    let t = crate::env().await;
    let ore_only = declare(
        &t.db,
        "CM",
        "export",
        "12C-678.90",
        8_000,
        &[("2601.11.00", 7_000)],
    )
    .await;
    let mixed = declare(
        &t.db,
        "CM",
        "export",
        "12C-789.01",
        8_000,
        &[
            ("0810.60.00", 3_000),
            ("2601.11.00", 3_000),
            ("8517.13.00", 500),
        ],
    )
    .await;
    let ore = assessed(&t.db, &ore_only).await;
    let mix = assessed(&t.db, &mixed).await;
    assert_eq!(mix.category, "ore");
    assert_eq!(mix.amount_vnd, ore.amount_vnd);
    assert_eq!(ore.quote.multipliers[0].basis_points, 50_000);
    // The same durian trip in a 40-ft container of temporarily imported goods: 4.000.000 đ.
    let tn = declare(
        &t.db,
        "HN",
        "transit",
        "12C-890.12",
        28_000,
        &[("0810.60.00", 20_000)],
    )
    .await;
    let c40 = fee_payment::assess(
        &t.db,
        &crate::sys(),
        &AssessInput {
            journey: "temporary_reexport".into(),
            container: "40ft".into(),
            ..assess_input(&tn)
        },
    )
    .await
    .unwrap();
    assert_eq!(c40.amount_vnd, 4_000_000);
    assert_eq!(c40.vehicle_class, "container_40");
    assert!(c40.confirmed);
}

#[tokio::test]
async fn bad_assessments_get_field_errors_and_write_nothing() {
    let t = crate::env().await;
    let trip = declare(
        &t.db,
        "HN",
        "export",
        "12C-901.23",
        1500,
        &[("0810.60.00", 1000)],
    )
    .await;
    let sys = crate::sys();
    let e = fee_payment::assess(
        &t.db,
        &sys,
        &AssessInput {
            trip_code: "HN-000000-99999".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.fields[0].field, "trip_code");
    let e = fee_payment::assess(
        &t.db,
        &sys,
        &AssessInput {
            container: "45ft".into(),
            ..assess_input(&trip)
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.fields[0].field, "container");
    let e = fee_payment::assess(
        &t.db,
        &sys,
        &AssessInput {
            journey: "smuggling".into(),
            ..assess_input(&trip)
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.fields[0].field, "journey");
    assert!(!e.fields[0].message_vi.is_empty() && !e.fields[0].message_en.is_empty());
    assert_eq!(
        crate::count(&t.db, "SELECT COUNT(*) FROM border_fee_assessments").await,
        0
    );
    let e = fee_payment::request_payment(&t.db, &sys, &trip.code)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 409);
}

#[tokio::test]
async fn daily_reconciliation_per_gate() {
    let t = crate::env().await;
    let sys = crate::sys();
    let a1 = declare(
        &t.db,
        "HN",
        "export",
        "12C-111.11",
        1500,
        &[("0810.60.00", 1000)],
    )
    .await;
    let a2 = declare(
        &t.db,
        "HN",
        "export",
        "12C-222.22",
        1500,
        &[("0810.60.00", 1000)],
    )
    .await;
    let b1 = declare(
        &t.db,
        "TT",
        "export",
        "12C-333.33",
        1500,
        &[("0810.60.00", 1000)],
    )
    .await;
    for trip in [&a1, &a2, &b1] {
        fee_payment::assess(&t.db, &sys, &assess_input(trip))
            .await
            .unwrap();
    }
    for (trip, txn) in [(&a1, "R-1"), (&b1, "R-2")] {
        let p = fee_payment::request_payment(&t.db, &sys, &trip.code)
            .await
            .unwrap();
        pay(&t.db, &p, txn).await;
    }
    let crossing_day = declaration::local(a1.expected_arrival).date_naive();
    let today = declaration::local(now_micros()).date_naive();
    let by_crossing = fee_payment::reconciliation(&t.db, crossing_day, None)
        .await
        .unwrap();
    assert_eq!(by_crossing.len(), 5, "every gate, even with nothing");
    let hn = by_crossing.iter().find(|r| r.gate_code == "HN").unwrap();
    assert_eq!((hn.assessed, hn.expected_vnd), (2, 200_000));
    assert_eq!(
        (hn.paid_for_day_vnd, hn.outstanding_vnd),
        (100_000, 100_000)
    );
    let cm = by_crossing.iter().find(|r| r.gate_code == "CM").unwrap();
    assert_eq!((cm.assessed, cm.expected_vnd, cm.received_vnd), (0, 0, 0));
    // The money came in today (the crossings are tomorrow).
    let rec = fee_payment::reconciliation(&t.db, today, Some("HN"))
        .await
        .unwrap();
    assert_eq!(rec.len(), 1);
    assert_eq!((rec[0].payments, rec[0].received_vnd), (1, 100_000));
    assert_eq!((rec[0].collector_vnd, rec[0].budget_vnd), (10_000, 90_000));
    let all_today = fee_payment::reconciliation(&t.db, today, None)
        .await
        .unwrap();
    let received: i64 = all_today.iter().map(|r| r.received_vnd).sum();
    let shares: i64 = all_today
        .iter()
        .map(|r| r.collector_vnd + r.budget_vnd)
        .sum();
    assert_eq!(received, 200_000);
    assert_eq!(shares, received);
}

#[tokio::test]
async fn concurrent_assessments_leave_one_current_fee() {
    let t = crate::env().await;
    let trip = declare(
        &t.db,
        "HN",
        "export",
        "12C-135.79",
        1500,
        &[("0810.60.00", 1000)],
    )
    .await;
    let sys = crate::sys();
    let plain = assess_input(&trip);
    let c20 = AssessInput {
        container: "20ft".into(),
        ..assess_input(&trip)
    };
    let (a, b) = tokio::join!(
        fee_payment::assess(&t.db, &sys, &plain),
        fee_payment::assess(&t.db, &sys, &c20)
    );
    for r in [&a, &b] {
        if let Err(e) = r {
            assert_eq!(e.status(), 409, "{e}");
        }
    }
    assert!(a.is_ok() || b.is_ok());
    assert_eq!(
        crate::count(
            &t.db,
            "SELECT COUNT(*) FROM border_fee_assessments WHERE status <> 'superseded'"
        )
        .await,
        1
    );
}

/// A batch of assessments that supersedes a due fee (cancelling its payment request), keeps
/// the assessment it has just made when asked again, and, in a second batch, finds a paid fee
/// unchanged (priced again: the same amount) beside a new one — on SQLite the second batch
/// runs in a sqlx transaction, the first natively.
#[tokio::test]
async fn batched_assessments_supersede_keep_and_reprice() {
    let t = crate::env().await;
    let db = &t.db;
    let (x, _) = durian_assessed(db, "12C-345.01").await;
    let px = fee_payment::request_payment(db, &crate::sys(), &x.code)
        .await
        .unwrap();
    pay(db, &px, "TXN-X").await;
    let y = declare(
        db,
        "HN",
        "import",
        "12C-345.02",
        30_000,
        &[("0808.10.00", 20_000)],
    )
    .await;
    let first = assessed(db, &y).await;
    let py = fee_payment::request_payment(db, &crate::sys(), &y.code)
        .await
        .unwrap();
    let z = declare(
        db,
        "HN",
        "export",
        "12C-345.03",
        1500,
        &[("0810.60.00", 1000)],
    )
    .await;
    let w = declare(
        db,
        "HN",
        "export",
        "12C-345.04",
        1500,
        &[("0810.60.00", 1000)],
    )
    .await;
    let inland = AssessInput {
        journey: "import_inland".into(),
        ..assess_input(&y)
    };
    let before = audit_count(db, "border.fee.assess").await;
    let now = now_micros();
    let out = fee_payment::assess_many(
        db,
        &crate::sys(),
        &[
            (inland.clone(), now),
            (assess_input(&z), now),
            (inland, now + 1),
        ],
    )
    .await
    .unwrap();
    let new = out[0].as_ref().unwrap();
    assert_ne!(new.id, first.id);
    assert_eq!(new.amount_vnd * 100, first.amount_vnd * 130);
    assert_eq!(out[1].as_ref().unwrap().status, "due");
    assert_eq!(out[2].as_ref().unwrap().id, new.id);
    assert_eq!(audit_count(db, "border.fee.assess").await, before + 2);
    let history = fee_payment::history(db, &y.code).await.unwrap();
    let statuses: Vec<&str> = history.iter().map(|a| a.status.as_str()).collect();
    assert_eq!(statuses, ["superseded", "due"]);
    cancelled_and_refused(db, &py.id, "TXN-Y").await;

    let paid = fee_payment::current(db, &x.code).await.unwrap().unwrap();
    assert_eq!(paid.status, "paid");
    let out = fee_payment::assess_many(
        db,
        &crate::sys(),
        &[(assess_input(&x), now + 2), (assess_input(&w), now + 2)],
    )
    .await
    .unwrap();
    assert_eq!(out[0].as_ref().unwrap().id, paid.id);
    assert_eq!(out[0].as_ref().unwrap().status, "paid");
    assert_eq!(out[1].as_ref().unwrap().trip_code, w.code);
    assert_eq!(audit_count(db, "border.fee.assess").await, before + 3);
    assert_eq!(fee_payment::history(db, &x.code).await.unwrap().len(), 1);
}

/// Assessments, payment requests and gateway callbacks in batches: one transaction each,
/// results in input order, a refused item writes nothing but (for a callback) its refusal on
/// the audit trail, and the audit chain holds.
#[tokio::test]
async fn batched_fees_keep_order_and_refused_items_change_nothing() {
    let t = crate::env().await;
    let db = &t.db;
    let x = declare(
        db,
        "HN",
        "export",
        "12C-234.56",
        1500,
        &[("0810.60.00", 1000)],
    )
    .await;
    let y = declare(
        db,
        "HN",
        "export",
        "12C-234.57",
        1500,
        &[("0810.60.00", 1000)],
    )
    .await;
    let now = now_micros();
    let unknown = AssessInput {
        trip_code: "HN-000000-00000".into(),
        ..AssessInput::default()
    };
    let out = fee_payment::assess_many(
        db,
        &crate::sys(),
        &[
            (assess_input(&x), now),
            (unknown, now),
            (assess_input(&y), now + 1),
        ],
    )
    .await
    .unwrap();
    assert_eq!(out[0].as_ref().unwrap().trip_code, x.code);
    assert_eq!(out[1].as_ref().unwrap_err().status(), 422);
    assert_eq!(out[2].as_ref().unwrap().trip_code, y.code);
    assert_eq!(out[2].as_ref().unwrap().assessed_at, now + 1);
    assert_eq!(audit_count(db, "border.fee.assess").await, 2);

    let out = fee_payment::request_payment_many(
        db,
        &crate::sys(),
        &[
            (x.code.clone(), now),
            ("HN-000000-00000".into(), now),
            (y.code.clone(), now),
            // Asked twice: the same pending request.
            (x.code.clone(), now + 5),
        ],
    )
    .await
    .unwrap();
    let px = out[0].as_ref().unwrap().clone();
    assert_eq!(out[1].as_ref().unwrap_err().status(), 409);
    let py = out[2].as_ref().unwrap().clone();
    assert_eq!(out[3].as_ref().unwrap().id, px.id);
    assert_eq!(audit_count(db, "border.fee.payment_requested").await, 2);

    let outbox_before = crate::count(db, "SELECT COUNT(*) FROM outbox").await;
    let call = |(body, sig, ts): (Vec<u8>, String, String)| fee_payment::GatewayCall {
        body,
        signature: Some(sig),
        timestamp: Some(ts),
    };
    let mut forged = call(signed(&py, "TXN-F", py.amount_vnd, "paid"));
    forged.signature = Some("00".repeat(32));
    let calls = vec![
        call(signed(&px, "TXN-1", px.amount_vnd, "paid")),
        forged,
        // The same fee paid again under another transaction id.
        call(signed(&px, "TXN-3", px.amount_vnd, "paid")),
        call(signed(&py, "TXN-2", py.amount_vnd, "failed")),
        // The first callback again: a replay.
        call(signed(&px, "TXN-1", px.amount_vnd, "paid")),
    ];
    let out = fee_payment::callback_many(db, &crate::sys(), &calls, now_secs())
        .await
        .unwrap();
    let statuses = statuses(&out);
    assert_eq!(statuses[0], 200);
    assert!((400..500).contains(&statuses[1]), "{statuses:?}");
    assert_eq!(statuses[2], 409);
    assert_eq!(&statuses[3..], [200, 200]);
    let first = out[0].as_ref().unwrap();
    assert_eq!(first.payment.status, "paid");
    assert!(!first.replayed);
    assert_eq!(out[3].as_ref().unwrap().payment.status, "failed");
    assert!(out[4].as_ref().unwrap().replayed);
    assert_eq!(out[4].as_ref().unwrap().payment, first.payment);
    // One fee paid, one receipt number taken, one payment failed, two refusals audited.
    assert_eq!(audit_count(db, "border.fee.paid").await, 1);
    assert_eq!(audit_count(db, "border.fee.payment_failed").await, 1);
    assert_eq!(audit_count(db, "border.fee.callback_rejected").await, 2);
    assert_eq!(
        crate::count(
            db,
            "SELECT COUNT(*) FROM border_counters WHERE name LIKE 'fee-receipt:%' AND value = 1"
        )
        .await,
        1
    );
    // On the outbox: the payment only (prepaid before arrival: no journey move); nothing of
    // the refusals.
    assert_eq!(outbox_count(db, "border.fee.paid").await, 1);
    assert_eq!(
        crate::count(db, "SELECT COUNT(*) FROM outbox").await - outbox_before,
        1
    );
    assert_eq!(
        fee_payment::current(db, &y.code)
            .await
            .unwrap()
            .unwrap()
            .status,
        "due"
    );
    let chain = tinhso_store::audit::verify(db).await.unwrap();
    assert_eq!(chain.first_broken, None);

    // Y pays again: a new request, settled.
    let out = fee_payment::request_payment_many(db, &crate::sys(), &[(y.code.clone(), now)])
        .await
        .unwrap();
    let again = out[0].as_ref().unwrap().clone();
    assert_ne!(again.id, py.id);
    let out = fee_payment::callback_many(
        db,
        &crate::sys(),
        &[call(signed(&again, "TXN-4", again.amount_vnd, "paid"))],
        now_secs(),
    )
    .await
    .unwrap();
    assert_eq!(out[0].as_ref().unwrap().payment.status, "paid");
    assert_eq!(
        fee_payment::current(db, &y.code)
            .await
            .unwrap()
            .unwrap()
            .status,
        "paid"
    );
    let chain = tinhso_store::audit::verify(db).await.unwrap();
    assert_eq!(chain.first_broken, None);
}

/// A batch of callbacks numbers its receipts (số biên lai) from the year's counter in order,
/// a refused callback takes no number, the counter is left at the batch's last number and a
/// single callback afterwards takes the next one.
#[tokio::test]
async fn a_batch_of_callbacks_numbers_receipts_in_order() {
    let t = crate::env().await;
    let db = &t.db;
    let mut requests = Vec::new();
    for plate in ["12C-345.61", "12C-345.62", "12C-345.63", "12C-345.64"] {
        let trip = declare(db, "HN", "export", plate, 1500, &[("0810.60.00", 1000)]).await;
        assessed(db, &trip).await;
        let p = fee_payment::request_payment(db, &crate::sys(), &trip.code).await;
        requests.push(p.unwrap());
    }
    let call = |p: &FeePayment, txn: &str| {
        let (body, sig, ts) = signed(p, txn, p.amount_vnd, "paid");
        fee_payment::GatewayCall {
            body,
            signature: Some(sig),
            timestamp: Some(ts),
        }
    };
    let mut forged = call(&requests[1], "TXN-B0");
    forged.signature = Some("00".repeat(32));
    let calls = [
        call(&requests[0], "TXN-A"),
        forged,
        call(&requests[1], "TXN-B"),
        // The first fee paid again under another transaction: refused.
        call(&requests[0], "TXN-A2"),
        call(&requests[2], "TXN-C"),
    ];
    let out = fee_payment::callback_many(db, &crate::sys(), &calls, now_secs())
        .await
        .unwrap();
    let receipts: Vec<Option<String>> = out
        .iter()
        .map(|r| r.as_ref().ok().and_then(|c| c.payment.receipt_no.clone()))
        .collect();
    let year = declaration::local(now_micros()).format("%Y").to_string();
    let no = |n: u32| Some(format!("BLP-{year}-{n:06}"));
    assert_eq!(receipts, [no(1), None, no(2), None, no(3)]);
    assert_eq!(
        crate::count(
            db,
            "SELECT value FROM border_counters WHERE name LIKE 'fee-receipt:%'"
        )
        .await,
        3
    );
    assert_eq!(
        pay(db, &requests[3], "TXN-D").await.payment.receipt_no,
        no(4)
    );
}

/// A batch of callbacks settles fees as single callbacks do: a trip whose checks are done moves
/// to "fee paid" at the payment's time, a prepaid one stays where it is; a refused callback in
/// the middle (a wrong amount, a transaction id already used in the batch) changes nothing of
/// its own — its payment stays pending and is paid later in the same batch — and keeps the
/// others; what each callback answers is what was stored.
#[tokio::test]
async fn a_batch_of_callbacks_moves_checked_trips_and_a_refusal_keeps_the_others() {
    use tinhso_border::declaration::Stage;
    use tinhso_border::journey::{self, Source};
    let t = crate::env().await;
    let db = &t.db;
    let mut trips = Vec::new();
    for plate in ["12C-456.71", "12C-456.72", "12C-456.73"] {
        let trip = declare(db, "HN", "export", plate, 1500, &[("0810.60.00", 1000)]).await;
        assessed(db, &trip).await;
        trips.push(trip);
    }
    let (a, b, c) = (&trips[0], &trips[1], &trips[2]);
    // A and C have their checks done; B pays before it arrives (prepaid).
    let checked_at = now_micros() - 60_000_000;
    for trip in [a, c] {
        let mut tx = db.begin_write().await.unwrap();
        journey::advance(
            &mut tx,
            &trip.id,
            Stage::Checked,
            checked_at,
            Source::Officer,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let now = now_micros();
    let asked: Vec<FeePayment> = fee_payment::request_payment_many(
        db,
        &crate::sys(),
        &[
            (a.code.clone(), now),
            (b.code.clone(), now),
            (c.code.clone(), now),
        ],
    )
    .await
    .unwrap()
    .into_iter()
    .map(Result::unwrap)
    .collect();
    let (pa, pb, pc) = (&asked[0], &asked[1], &asked[2]);
    let call = |p: &FeePayment, txn: &str, amount: i64| {
        let (body, sig, ts) = signed(p, txn, amount, "paid");
        fee_payment::GatewayCall {
            body,
            signature: Some(sig),
            timestamp: Some(ts),
        }
    };
    let calls = [
        call(pa, "TXN-A", pa.amount_vnd),
        // B with the wrong amount: refused.
        call(pb, "TXN-B0", pb.amount_vnd - 1),
        // C under the transaction id A was just paid with: refused.
        call(pc, "TXN-A", pc.amount_vnd),
        call(pc, "TXN-C", pc.amount_vnd),
        call(pb, "TXN-B", pb.amount_vnd),
    ];
    let out = fee_payment::callback_many(db, &crate::sys(), &calls, now_secs())
        .await
        .unwrap();
    let statuses = statuses(&out);
    assert_eq!(statuses, [200, 409, 409, 200, 200]);
    let year = declaration::local(now_micros()).format("%Y").to_string();
    for (k, p, txn, n) in [
        (0, pa, "TXN-A", 1),
        (3, pc, "TXN-C", 2),
        (4, pb, "TXN-B", 3),
    ] {
        let got = &out[k].as_ref().unwrap().payment;
        let stored = fee_payment::payment(db, &p.id).await.unwrap().unwrap();
        assert_eq!(got, &stored, "callback {k} answers what was stored");
        assert_eq!(stored.status, "paid");
        assert_eq!(stored.gateway_txn_id.as_deref(), Some(txn));
        assert_eq!(stored.receipt_no, Some(format!("BLP-{year}-{n:06}")));
    }
    for trip in [a, b, c] {
        let fee = fee_payment::current(db, &trip.code).await.unwrap().unwrap();
        assert_eq!(fee.status, "paid");
    }
    // A and C moved to "fee paid" at their payments' times; B stays declared.
    for (trip, p) in [(a, &out[0]), (c, &out[3])] {
        let paid_at = p.as_ref().unwrap().payment.paid_at.unwrap();
        let got = declaration::get(db, &trip.code).await.unwrap().unwrap();
        assert_eq!(got.stage(), Stage::Paid);
        let times = journey::stage_times(db, &trip.id).await.unwrap();
        let paid = times.iter().find(|s| s.stage == Stage::Paid).unwrap();
        assert_eq!((paid.at, paid.source.as_str()), (paid_at, "payment"));
    }
    let got = declaration::get(db, &b.code).await.unwrap().unwrap();
    assert_eq!(got.stage(), Stage::Declared);
    assert!(journey::stage_times(db, &b.id)
        .await
        .unwrap()
        .iter()
        .all(|s| s.stage != Stage::Paid));
    // Nothing of the refusals but their audit entries.
    assert_eq!(
        crate::count(
            db,
            "SELECT COUNT(*) FROM border_fee_payments WHERE gateway_txn_id = 'TXN-B0'"
        )
        .await,
        0
    );
    assert_eq!(audit_count(db, "border.fee.paid").await, 3);
    assert_eq!(audit_count(db, "border.fee.callback_rejected").await, 2);
    assert_eq!(outbox_count(db, "border.fee.paid").await, 3);
    assert_eq!(
        crate::count(
            db,
            "SELECT value FROM border_counters WHERE name LIKE 'fee-receipt:%'"
        )
        .await,
        3
    );
    let chain = tinhso_store::audit::verify(db).await.unwrap();
    assert_eq!(chain.first_broken, None);
}

// ------------------------------------------------------------------ refunds (hoàn phí)

use tinhso_border::fee_refund::{self, RefundInput};
use tinhso_store::audit::Ctx;

/// Another fee officer than `crate::sys()` (the four-eyes rule).
fn officer() -> Ctx {
    Ctx {
        actor: "user:fee-officer-2".into(),
        request_id: "req-officer".into(),
    }
}

/// A trip with its fee paid before arrival (nộp phí trước).
async fn prepaid(db: &Db, plate: &str, txn: &str) -> (Trip, FeePayment) {
    let (trip, _) = durian_assessed(db, plate).await;
    let p = fee_payment::request_payment(db, &crate::sys(), &trip.code)
        .await
        .unwrap();
    let paid = pay(db, &p, txn).await;
    assert_eq!(paid.payment.status, "paid");
    (trip, paid.payment)
}

async fn refund_rows(db: &Db) -> i64 {
    crate::count(db, "SELECT COUNT(*) FROM border_fee_refunds").await
}

#[tokio::test]
async fn a_prepaid_fee_of_a_cancelled_trip_is_refunded_once_requested_approved_paid() {
    let t = crate::env().await;
    let db = &t.db;
    let (trip, payment) = prepaid(db, "12C-555.01", "TXN-R-1").await;
    let (other, _) = prepaid(db, "12C-555.02", "TXN-R-2").await;
    // Under way: nothing to refund yet.
    assert!(fee_refund::open_due(db, &crate::sys(), now_micros())
        .await
        .unwrap()
        .is_empty());
    declaration::cancel(db, &crate::sys(), &trip.code, "Đơn hàng bị huỷ")
        .await
        .unwrap();
    let now = now_micros();
    let opened = fee_refund::open_due(db, &crate::sys(), now).await.unwrap();
    assert_eq!(opened.len(), 1, "only the cancelled trip");
    let r = &opened[0];
    assert_eq!(r.trip_code, trip.code);
    assert_eq!(r.payment_id, payment.id);
    assert_eq!(r.amount_vnd, payment.amount_vnd);
    assert_eq!(r.collector_vnd, payment.collector_vnd);
    assert_eq!(r.budget_vnd, payment.budget_vnd);
    assert_eq!(r.reason, "cancelled");
    assert_eq!(r.status, "requested");
    assert_eq!(r.refund_to, format!("{}:TXN-R-1", payment.gateway));
    // Idempotent: a second sweep opens nothing, and asking by hand is a refund twice.
    assert!(fee_refund::open_due(db, &crate::sys(), now + 1)
        .await
        .unwrap()
        .is_empty());
    let twice = fee_refund::open(
        db,
        &crate::sys(),
        &trip.code,
        &RefundInput {
            amount_vnd: None,
            reason: "other".into(),
            note: String::new(),
        },
        now,
    )
    .await
    .unwrap_err();
    assert_eq!(twice.status(), 409);
    assert!(twice
        .detail_vi
        .as_deref()
        .unwrap()
        .contains("không hoàn lần nữa"));
    assert!(twice
        .detail_en
        .as_deref()
        .unwrap()
        .contains("not refunded twice"));
    assert_eq!(refund_rows(db).await, 1);
    // Not paid before it is approved; the one who asked does not approve (four eyes) —
    // the sweep's actor here is the test's CLI actor, not "system".
    let early = fee_refund::mark_paid(db, &officer(), &r.id, "HT-0001", now)
        .await
        .unwrap_err();
    assert_eq!(early.status(), 409);
    let own = fee_refund::approve(db, &crate::sys(), &r.id, now)
        .await
        .unwrap_err();
    assert_eq!(own.status(), 409);
    let a = fee_refund::approve(db, &officer(), &r.id, now + 10)
        .await
        .unwrap();
    assert_eq!(a.status, "approved");
    assert_eq!(a.approved_by.as_deref(), Some("user:fee-officer-2"));
    assert_eq!(
        fee_refund::approve(db, &officer(), &r.id, now + 20)
            .await
            .unwrap_err()
            .status(),
        409
    );
    // A reference is required.
    let e = fee_refund::mark_paid(db, &officer(), &r.id, "  ", now + 30)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 422);
    assert_eq!(e.fields[0].field, "reference");
    let paid = fee_refund::mark_paid(db, &officer(), &r.id, "HT-0001", now + 40)
        .await
        .unwrap();
    assert_eq!(paid.status, "paid");
    assert_eq!(paid.reference.as_deref(), Some("HT-0001"));
    assert_eq!(
        fee_refund::mark_paid(db, &officer(), &r.id, "HT-0002", now + 50)
            .await
            .unwrap_err()
            .status(),
        409,
        "paid twice"
    );
    // The fee shows refunded; it is neither asked for again nor reassessed.
    let fee = fee_payment::current(db, &trip.code).await.unwrap().unwrap();
    assert_eq!(fee.status, "refunded");
    assert_eq!(
        fee_payment::request_payment(db, &crate::sys(), &trip.code)
            .await
            .unwrap_err()
            .status(),
        409
    );
    assert_eq!(
        fee_refund::of_trip(db, &trip.code).await.unwrap(),
        Some(paid.clone())
    );
    assert!(fee_refund::of_trip(db, &other.code)
        .await
        .unwrap()
        .is_none());
    // Audited and announced, once each.
    assert_eq!(audit_count(db, "border.fee.refund_request").await, 1);
    assert_eq!(audit_count(db, "border.fee.refund_approve").await, 1);
    assert_eq!(audit_count(db, "border.fee.refund_pay").await, 1);
    assert_eq!(outbox_count(db, "border.fee.refunded").await, 1);
    // The day's reconciliation nets the refund: two fees received, one given back.
    let day = declaration::local(now + 40).date_naive();
    let rec = fee_payment::reconciliation(db, day, Some("HN"))
        .await
        .unwrap();
    let hn = &rec[0];
    assert_eq!(hn.received_vnd, 2 * payment.amount_vnd);
    assert_eq!(hn.refunds, 1);
    assert_eq!(hn.refunded_vnd, payment.amount_vnd);
    assert_eq!(hn.net_received_vnd, payment.amount_vnd);
    assert_eq!(
        hn.net_collector_vnd + hn.net_budget_vnd,
        hn.net_received_vnd
    );
    // The list, by status.
    assert_eq!(
        fee_refund::list(db, Some("paid"), None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(fee_refund::list(db, Some("requested"), None, 10)
        .await
        .unwrap()
        .is_empty());
    let bad = fee_refund::list(db, Some("done"), None, 10)
        .await
        .unwrap_err();
    assert_eq!(bad.status(), 422);
}

#[tokio::test]
async fn bad_refunds_are_refused_with_messages_and_write_nothing() {
    let t = crate::env().await;
    let db = &t.db;
    let now = now_micros();
    let input = |amount: Option<i64>, reason: &str| RefundInput {
        amount_vnd: amount,
        reason: reason.into(),
        note: String::new(),
    };
    // A trip still under way: not refunded.
    let (going, payment) = prepaid(db, "12C-555.11", "TXN-R-11").await;
    let e = fee_refund::open(
        db,
        &crate::sys(),
        &going.code,
        &input(None, "cancelled"),
        now,
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 409);
    assert!(e.detail_vi.as_deref().unwrap().contains("chưa kết thúc"));
    // A cancelled trip whose fee was assessed but never paid: nothing to refund.
    let (unpaid, _) = durian_assessed(db, "12C-555.12").await;
    declaration::cancel(db, &crate::sys(), &unpaid.code, "Huỷ")
        .await
        .unwrap();
    let e = fee_refund::open(
        db,
        &crate::sys(),
        &unpaid.code,
        &input(None, "cancelled"),
        now,
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 409);
    assert!(e.detail_vi.as_deref().unwrap().contains("chưa được nộp"));
    assert!(e
        .detail_en
        .as_deref()
        .unwrap()
        .contains("nothing to refund"));
    // The sweep passes it over too.
    assert!(fee_refund::open_due(db, &crate::sys(), now)
        .await
        .unwrap()
        .is_empty());
    // A cancelled prepaid trip: amount above what was paid, zero, an unknown reason.
    declaration::cancel(db, &crate::sys(), &going.code, "Huỷ")
        .await
        .unwrap();
    let e = fee_refund::open(
        db,
        &crate::sys(),
        &going.code,
        &input(Some(payment.amount_vnd + 1), "cancelled"),
        now,
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 422);
    assert_eq!(e.fields[0].field, "amount_vnd");
    assert!(e.fields[0].message_vi.contains("lớn hơn số đã nộp"));
    assert!(e.fields[0].message_en.contains("more than the"));
    let e = fee_refund::open(
        db,
        &crate::sys(),
        &going.code,
        &input(Some(0), "lý do"),
        now,
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 422);
    let mut fields: Vec<&str> = e.fields.iter().map(|f| f.field.as_str()).collect();
    fields.sort();
    assert_eq!(
        fields,
        ["amount_vnd", "reason"],
        "every field error at once"
    );
    // An unknown trip.
    assert_eq!(
        fee_refund::open(
            db,
            &crate::sys(),
            "HN-000000-99999",
            &input(None, "other"),
            now
        )
        .await
        .unwrap_err()
        .status(),
        404
    );
    assert_eq!(refund_rows(db).await, 0);
    assert_eq!(audit_count(db, "border.fee.refund_request").await, 0);
    // A partial refund by hand: shares pro rata; a reference used twice is refused.
    let r = fee_refund::open(
        db,
        &crate::sys(),
        &going.code,
        &input(Some(40_000), "other"),
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        (r.amount_vnd, r.collector_vnd, r.budget_vnd),
        (40_000, 4_000, 36_000)
    );
    // A crossed trip keeps its fee, whatever its stage says now.
    let (crossed, _) = prepaid(db, "12C-555.13", "TXN-R-13").await;
    sqlx::query("UPDATE border_trips SET stage = 'exited' WHERE code = $1")
        .bind(&crossed.code)
        .execute(db.pool())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO border_trip_stages (trip_id, stage, at, source) VALUES ($1, 'crossed', $2, 'camera')",
    )
    .bind(&crossed.id)
    .bind(now)
    .execute(db.pool())
    .await
    .unwrap();
    let e = fee_refund::open(db, &crate::sys(), &crossed.code, &input(None, "other"), now)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 409);
    assert!(e.detail_en.as_deref().unwrap().contains("crossed"));
    assert!(fee_refund::open_due(db, &crate::sys(), now)
        .await
        .unwrap()
        .iter()
        .all(|r| r.trip_code != crossed.code));
    let (third, _) = prepaid(db, "12C-555.14", "TXN-R-14").await;
    declaration::cancel(db, &crate::sys(), &third.code, "Huỷ")
        .await
        .unwrap();
    let r3 = fee_refund::open_due(db, &crate::sys(), now).await.unwrap();
    assert_eq!(r3.len(), 1);
    for id in [&r.id, &r3[0].id] {
        fee_refund::approve(db, &officer(), id, now).await.unwrap();
    }
    fee_refund::mark_paid(db, &officer(), &r.id, "HT-DUP", now)
        .await
        .unwrap();
    let e = fee_refund::mark_paid(db, &officer(), &r3[0].id, "HT-DUP", now)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 422);
    assert_eq!(e.fields[0].field, "reference");
    assert_eq!(
        fee_refund::get(db, &r3[0].id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "approved",
        "nothing written"
    );
}

/// The shipped schedule ended the day before `from`, and a next resolution from `from` that
/// prices fresh produce under 2 t at 120.000 đ instead of 100.000 đ (a change of rate).
fn next_resolution_from(from: &str) -> Vec<tinhso_border::fees::Schedule> {
    next_resolution_at(from, 120_000)
}

/// [`next_resolution_from`] with fresh produce under 2 t at `amount` đồng.
fn next_resolution_at(from: &str, amount: i64) -> Vec<tinhso_border::fees::Schedule> {
    use tinhso_border::fees::{parse_all, SCHEDULE_FILES};
    let day = chrono::NaiveDate::parse_from_str(from, "%Y-%m-%d").unwrap();
    let before = day.pred_opt().unwrap().format("%Y-%m-%d").to_string();
    let first = SCHEDULE_FILES[0].1.replace(
        "# effective_to = \"YYYY-MM-DD\"   (the day before the next resolution takes effect)",
        &format!("effective_to = \"{before}\""),
    );
    let next = SCHEDULE_FILES[0]
        .1
        .replace("id = \"NQ-09-2025-LS\"", "id = \"NQ-NEXT\"")
        .replace(
            "effective_from = \"2025-05-08\"",
            &format!("effective_from = \"{from}\""),
        )
        .replace(
            "amount = 100000, confirmed = true",
            &format!("amount = {amount}, confirmed = true"),
        );
    parse_all(&[("first", &first), ("next", &next)]).unwrap()
}

/// The payment of `trip`'s fee asked for now under `schedules`.
async fn ask_under(db: &Db, trip: &str, schedules: &[tinhso_border::fees::Schedule]) -> FeePayment {
    fee_payment::request_payment_under(db, &crate::sys(), trip, now_micros(), schedules)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_new_rate_between_assessment_and_payment_is_asked_for_instead_of_the_old() {
    let t = crate::env().await;
    let (trip, old) = durian_assessed(&t.db, "12C-246.80").await;
    assert_eq!(
        (old.amount_vnd, old.schedule_id.as_str()),
        (100_000, "NQ-09-2025-LS")
    );
    let asked = fee_payment::request_payment(&t.db, &crate::sys(), &trip.code)
        .await
        .unwrap();
    assert_eq!(asked.amount_vnd, 100_000);
    // A new resolution takes effect on the trip's fee day before the fee is paid.
    let schedules = next_resolution_from(&old.fee_date);
    let p = ask_under(&t.db, &trip.code, &schedules).await;
    assert_ne!(p.id, asked.id);
    assert_eq!(p.amount_vnd, 120_000);
    assert_eq!((p.collector_vnd, p.budget_vnd), (12_000, 108_000));
    let history = fee_payment::history(&t.db, &trip.code).await.unwrap();
    let states: Vec<(&str, &str, i64)> = history
        .iter()
        .map(|a| (a.schedule_id.as_str(), a.status.as_str(), a.amount_vnd))
        .collect();
    assert_eq!(
        states,
        [
            ("NQ-09-2025-LS", "superseded", 100_000),
            ("NQ-NEXT", "due", 120_000)
        ]
    );
    assert_eq!(history[1].fee_date, old.fee_date);
    assert_eq!(
        crate::count(
            &t.db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'border.fee.assess' \
             AND summary LIKE '%schedule_changed%'"
        )
        .await,
        1
    );
    // The request for the old amount is cancelled: paying it is refused, nothing changes.
    cancelled_and_refused(&t.db, &asked.id, "TXN-OLD-RATE").await;
    // Asked again under the same schedules: the same request, no second reassessment.
    let again = ask_under(&t.db, &trip.code, &schedules).await;
    assert_eq!(again.id, p.id);
    assert_eq!(
        fee_payment::history(&t.db, &trip.code).await.unwrap().len(),
        2
    );
    // The new amount is paid and receipted.
    let paid = pay(&t.db, &p, "TXN-NEW-RATE").await;
    assert_eq!(paid.payment.status, "paid");
    let current = fee_payment::current(&t.db, &trip.code)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (current.status.as_str(), current.amount_vnd),
        ("paid", 120_000)
    );
}

/// `trip` (an HN export by a 1.5 t truck) corrected from `version` to carry `goods`: the
/// trip at its new version.
async fn corrected(db: &Db, trip: &Trip, version: i64, goods: &[(&str, i64)]) -> Trip {
    let input = declaration_input("HN", "export", &trip.vehicle_plate, 1500, goods);
    declaration::correct(
        db,
        &crate::sys(),
        &declaration::Correction {
            user_id: "user:test",
            code: &trip.code,
            version,
            input: &input,
            reason: "Sửa dòng hàng quặng",
        },
    )
    .await
    .unwrap()
}

/// [`corrected`], then assessed again: the trip at its new version and what the assessment
/// returned.
async fn correct_and_assess(
    db: &Db,
    trip: &Trip,
    version: i64,
    goods: &[(&str, i64)],
) -> (Trip, fee_payment::Assessment) {
    let t = corrected(db, trip, version, goods).await;
    let a = assessed(db, trip).await;
    (t, a)
}

/// A trip (an HN export by a 1.5 t truck carrying `goods`) with its fee assessed and paid
/// (`txn`): the trip and its fee.
async fn paid_with(db: &Db, plate: &str, goods: &[(&str, i64)], txn: &str) -> (Trip, Assessment) {
    let trip = declare(db, "HN", "export", plate, 1500, goods).await;
    let fee = assessed(db, &trip).await;
    let p = fee_payment::request_payment(db, &crate::sys(), &trip.code)
        .await
        .unwrap();
    pay(db, &p, txn).await;
    (trip, fee)
}

/// A batch of assessments that meets paid fees prices them again in its own transaction
/// (natively on a SQLite file, no second run through sqlx): a paid fee priced lower opens
/// its rate-change refund, one priced higher gets its top-up, each with its audit entry and
/// event, in the same batch as new fees; the refused items (an unknown trip, a cancelled
/// one) write nothing and the others are kept; the same trip again in the batch sees what
/// the batch wrote (no second refund). The top-up is then asked for in a batch of payment
/// requests beside a paid fee (refused alone).
#[tokio::test]
async fn a_batch_reprices_paid_fees_with_their_refunds_and_a_refused_item_writes_nothing() {
    let t = crate::env().await;
    let db = &t.db;
    let with_ore = [("0810.60.00", 1000), ("2601.11.00", 400)];
    let durian_only = [("0810.60.00", 1000)];
    let (lower, lower_fee) = paid_with(db, "12C-975.01", &with_ore, "TXN-LOW").await;
    let (higher, higher_fee) = paid_with(db, "12C-975.02", &durian_only, "TXN-HIGH").await;
    let diff = lower_fee.amount_vnd - higher_fee.amount_vnd;
    assert!(diff > 0, "ore costs more: {diff}");
    let fresh = declare(db, "HN", "export", "12C-975.03", 1500, &durian_only).await;
    let gone = declare(db, "HN", "export", "12C-975.04", 1500, &durian_only).await;
    declaration::cancel(db, &crate::sys(), &gone.code, "Đối tác huỷ đơn hàng")
        .await
        .unwrap();
    corrected(db, &lower, lower.version, &durian_only).await;
    corrected(db, &higher, higher.version, &with_ore).await;
    let assessed_before = audit_count(db, "border.fee.assess").await;
    let events_before = outbox_count(db, "border.fee.assessed").await;
    let unknown = AssessInput {
        trip_code: "HN-000000-00000".into(),
        ..AssessInput::default()
    };
    let now = now_micros();
    let out = fee_payment::assess_many(
        db,
        &crate::sys(),
        &[
            (assess_input(&lower), now),
            (unknown, now),
            (assess_input(&higher), now),
            (assess_input(&gone), now),
            (assess_input(&fresh), now),
            (assess_input(&lower), now + 1),
        ],
    )
    .await
    .unwrap();
    assert_eq!(statuses(&out), [200, 422, 200, 409, 200, 200]);
    let kept = out[0].as_ref().unwrap();
    assert_eq!(
        (kept.id.as_str(), kept.status.as_str()),
        (lower_fee.id.as_str(), "paid")
    );
    let topup = out[2].as_ref().unwrap();
    assert_eq!(
        (
            topup.topup_of.as_deref(),
            topup.status.as_str(),
            topup.amount_vnd
        ),
        (Some(higher_fee.id.as_str()), "due", diff)
    );
    assert_eq!(out[4].as_ref().unwrap().status, "due");
    assert_eq!(out[5].as_ref().unwrap().id, lower_fee.id);
    let refund = fee_refund::of_trip(db, &lower.code).await.unwrap().unwrap();
    assert_eq!(
        (
            refund.reason.as_str(),
            refund.amount_vnd,
            refund.refund_to.as_str(),
            refund.status.as_str()
        ),
        ("rate_change", diff, "paygov:TXN-LOW", "requested")
    );
    assert_eq!(refund_rows(db).await, 1);
    assert_eq!(audit_count(db, "border.fee.refund_request").await, 1);
    assert_eq!(outbox_count(db, "border.fee.refund_requested").await, 1);
    // The top-up and the new fee; nothing of the refused items.
    assert_eq!(
        audit_count(db, "border.fee.assess").await,
        assessed_before + 2
    );
    assert_eq!(
        outbox_count(db, "border.fee.assessed").await,
        events_before + 2
    );
    assert!(fee_payment::history(db, &gone.code)
        .await
        .unwrap()
        .is_empty());
    let chain = tinhso_store::audit::verify(db).await.unwrap();
    assert_eq!(chain.first_broken, None);

    let asked = fee_payment::request_payment_many(
        db,
        &crate::sys(),
        &[(higher.code.clone(), now), (lower.code.clone(), now)],
    )
    .await
    .unwrap();
    let ask = asked[0].as_ref().unwrap();
    assert_eq!(
        (ask.assessment_id.as_str(), ask.amount_vnd),
        (topup.id.as_str(), diff)
    );
    assert_eq!(ask.purpose, format!("PHI HT {} BS", higher.code));
    assert_eq!(asked[1].as_ref().unwrap_err().status(), 409);
}

/// A paid trip whose declaration loses its ore line (×5) is priced lower: the difference is
/// refunded (reason `rate_change`, through the payment's transaction), the fee stays paid,
/// and assessing again refunds nothing more. A second correction that puts the ore back
/// asks for a top-up of the difference from what was kept; the day's reconciliation nets
/// both. When the trip is then cancelled, the refund job gives back what is left (the fee
/// and its top-up, less the partial refund), and the simulator's books balance.
#[tokio::test]
async fn a_paid_fee_priced_lower_is_refunded_in_part_and_the_reconciliation_nets_both() {
    let t = crate::env().await;
    let db = &t.db;
    let plate = "12C-864.20";
    let with_ore = [("0810.60.00", 1000), ("2601.11.00", 400)];
    let durian_only = [("0810.60.00", 1000)];
    let trip = declare(db, "HN", "export", plate, 1500, &with_ore).await;
    let base = assessed(db, &trip).await;
    assert!(
        base.amount_vnd > 100_000,
        "ore costs more: {}",
        base.amount_vnd
    );
    let p = fee_payment::request_payment(db, &crate::sys(), &trip.code)
        .await
        .unwrap();
    pay(db, &p, "TXN-ORE").await;
    // The ore line was declared by mistake.
    let (v2, kept) = correct_and_assess(db, &trip, trip.version, &durian_only).await;
    assert_eq!(
        (kept.id.as_str(), kept.status.as_str()),
        (base.id.as_str(), "paid")
    );
    let refund = fee_refund::of_trip(db, &trip.code).await.unwrap().unwrap();
    assert_eq!(refund.reason, "rate_change");
    assert_eq!(refund.amount_vnd, base.amount_vnd - 100_000);
    assert_eq!(refund.collector_vnd, base.collector_vnd - 10_000);
    assert_eq!(refund.collector_vnd + refund.budget_vnd, refund.amount_vnd);
    assert_eq!(
        (
            refund.payment_id.as_str(),
            refund.refund_to.as_str(),
            refund.status.as_str()
        ),
        (p.id.as_str(), "paygov:TXN-ORE", "requested")
    );
    assert_eq!(outbox_count(db, "border.fee.refund_requested").await, 1);
    // Replays: assessing again, or asking to pay, refunds nothing more and asks for nothing.
    assessed(db, &trip).await;
    assert_eq!(refund_rows(db).await, 1);
    assert_eq!(
        fee_payment::request_payment(db, &crate::sys(), &trip.code)
            .await
            .unwrap_err()
            .status(),
        409
    );
    let now = now_micros();
    fee_refund::approve(db, &officer(), &refund.id, now)
        .await
        .unwrap();
    fee_refund::mark_paid(db, &officer(), &refund.id, "HT-RC-0001", now)
        .await
        .unwrap();
    let fee = fee_payment::current(db, &trip.code).await.unwrap().unwrap();
    assert_eq!(fee.status, "paid", "a partial refund leaves the fee paid");
    // The ore was real after all: a top-up of the difference from the 100.000 đ kept.
    let (_, topup) = correct_and_assess(db, &trip, v2.version, &with_ore).await;
    assert_eq!(topup.topup_of.as_deref(), Some(base.id.as_str()));
    assert_eq!(topup.amount_vnd, base.amount_vnd - 100_000);
    let ask = fee_payment::request_payment(db, &crate::sys(), &trip.code)
        .await
        .unwrap();
    assert_eq!(ask.purpose, format!("PHI HT {} BS", trip.code));
    vietqr::clean_purpose(&ask.purpose).unwrap();
    pay(db, &ask, "TXN-ORE-BS").await;
    // The fee's day: one fee, the final price, nothing outstanding.
    let fee_day = chrono::NaiveDate::parse_from_str(&base.fee_date, "%Y-%m-%d").unwrap();
    let rec = fee_payment::reconciliation(db, fee_day, Some("HN"))
        .await
        .unwrap();
    assert_eq!(
        (rec[0].assessed, rec[0].expected_vnd, rec[0].outstanding_vnd),
        (1, base.amount_vnd, 0)
    );
    // Today's money: the fee and its top-up received, the difference given back.
    let today = declaration::local(now_micros()).date_naive();
    let rec = fee_payment::reconciliation(db, today, Some("HN"))
        .await
        .unwrap();
    let hn = &rec[0];
    assert_eq!(hn.payments, 2);
    assert_eq!(hn.received_vnd, base.amount_vnd + topup.amount_vnd);
    assert_eq!((hn.refunds, hn.refunded_vnd), (1, refund.amount_vnd));
    assert_eq!(hn.net_received_vnd, base.amount_vnd);
    assert_eq!(
        hn.net_collector_vnd + hn.net_budget_vnd,
        hn.net_received_vnd
    );
    // Cancelled: the refund job gives back what was kept, through both transactions.
    declaration::cancel(db, &crate::sys(), &trip.code, "Đối tác huỷ đơn hàng")
        .await
        .unwrap();
    let opened = fee_refund::open_due(db, &crate::sys(), now_micros())
        .await
        .unwrap();
    assert_eq!(opened.len(), 1);
    let whole = &opened[0];
    assert_eq!(
        (whole.reason.as_str(), whole.amount_vnd),
        ("cancelled", base.amount_vnd)
    );
    assert_eq!(whole.refund_to, "paygov:TXN-ORE,paygov:TXN-ORE-BS");
    assert!(fee_refund::open_due(db, &crate::sys(), now_micros())
        .await
        .unwrap()
        .is_empty());
    fee_refund::approve(db, &officer(), &whole.id, now_micros())
        .await
        .unwrap();
    fee_refund::mark_paid(db, &officer(), &whole.id, "HT-HUY-0001", now_micros())
        .await
        .unwrap();
    let states: Vec<String> = fee_payment::history(db, &trip.code)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.status)
        .collect();
    assert_eq!(states, ["refunded", "refunded"]);
    assert_eq!(tinhso_border::sim::check_refunds(db).await.unwrap(), 1);
}

/// A new resolution in force on a paid trip's fee day: a higher rate is asked for as a top-up
/// of the difference when the payment is asked for (audit `schedule_changed`); a lower one
/// opens a refund of the difference and asks for nothing (409). A bad reassessment of a paid
/// fee is a field error that writes nothing.
#[tokio::test]
async fn a_new_rate_after_payment_asks_for_a_top_up_or_refunds_the_difference() {
    let t = crate::env().await;
    let db = &t.db;
    let (up, _) = prepaid(db, "12C-975.31", "TXN-UP").await;
    let (down, paid_down) = prepaid(db, "12C-975.32", "TXN-DOWN").await;
    let fee_date = fee_payment::current(db, &up.code)
        .await
        .unwrap()
        .unwrap()
        .fee_date;
    // A bad container on a paid fee: a field error, nothing written.
    let before = (
        crate::count(db, "SELECT COUNT(*) FROM border_fee_assessments").await,
        audit_count(db, "border.fee.assess").await,
    );
    let e = fee_payment::assess(
        db,
        &crate::sys(),
        &AssessInput {
            container: "60ft".into(),
            ..assess_input(&up)
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.status(), 422);
    let f = &e.fields[0];
    assert_eq!(f.field, "container");
    assert!(f.message_vi.contains("không hợp lệ") && f.message_en.contains("not valid"));
    assert_eq!(
        before,
        (
            crate::count(db, "SELECT COUNT(*) FROM border_fee_assessments").await,
            audit_count(db, "border.fee.assess").await,
        )
    );
    // 120.000 đ from the fee day: a top-up of 20.000 đ.
    let higher = next_resolution_at(&fee_date, 120_000);
    let ask = ask_under(db, &up.code, &higher).await;
    assert_eq!(
        (ask.amount_vnd, ask.purpose.clone()),
        (20_000, format!("PHI HT {} BS", up.code))
    );
    assert_eq!((ask.collector_vnd, ask.budget_vnd), (2_000, 18_000));
    assert_eq!(
        crate::count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'border.fee.assess' \
             AND summary LIKE '%schedule_changed%' AND summary LIKE '%topup_of%PA-%'"
        )
        .await,
        1
    );
    assert_eq!(
        ask_under(db, &up.code, &higher).await.id,
        ask.id,
        "asked twice"
    );
    let paid = pay(db, &ask, "TXN-UP-BS").await;
    assert!(paid.payment.receipt_no.is_some());
    let e = fee_payment::request_payment_under(db, &crate::sys(), &up.code, now_micros(), &higher)
        .await
        .unwrap_err();
    assert_eq!(e.status(), 409);
    // 80.000 đ from the fee day: 20.000 đ back, nothing asked for; once only.
    let lower = next_resolution_at(&fee_date, 80_000);
    for _ in 0..2 {
        let e =
            fee_payment::request_payment_under(db, &crate::sys(), &down.code, now_micros(), &lower)
                .await
                .unwrap_err();
        assert_eq!(e.status(), 409);
        assert!(e.detail_vi.unwrap().contains("không thu thêm"));
    }
    let back = fee_refund::of_trip(db, &down.code).await.unwrap().unwrap();
    assert_eq!(
        (back.reason.as_str(), back.amount_vnd, back.collector_vnd),
        ("rate_change", 20_000, 2_000)
    );
    assert_eq!(back.payment_id, paid_down.id);
    assert_eq!(refund_rows(db).await, 1);
    assert_eq!(
        fee_payment::current(db, &down.code)
            .await
            .unwrap()
            .unwrap()
            .status,
        "paid"
    );
}
