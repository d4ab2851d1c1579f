//! E-mail notifications to applicants, end to end: dossiers change state, the outbox
//! dispatcher runs the notifier, `lettre` speaks SMTP over TCP to the local sink, and the
//! notifications ledger records what happened.

use super::*;
use tinhso_notify::ledger::{self, Status};
use tinhso_notify::smtp_sink::{ReceivedMail, SmtpSink};
use tinhso_notify::SmtpMailer;
use tinhso_services::notify::{Notifier, CONSUMER};
use tinhso_store::outbox::Dispatcher;

const PUBLIC_URL: &str = "https://dichvucong.langson.gov.vn/";
const MAI: &str = "hoangthimai@example.vn";

/// A fresh database with the notifications table too, seeded like [`env`].
async fn env_with_notify() -> TestDb {
    let t = fresh(&[
        STORE_MIGRATIONS,
        tinhso_identity::MIGRATIONS,
        tinhso_refdata::MIGRATIONS,
        tinhso_services::MIGRATIONS,
        tinhso_notify::MIGRATIONS,
    ])
    .await;
    tinhso_refdata::agencies::seed(&t.db, &sys()).await.unwrap();
    tinhso_services::catalogue::seed(&t.db, &sys())
        .await
        .unwrap();
    t
}

async fn setup() -> (TestDb, SmtpSink, Dispatcher) {
    let t = env_with_notify().await;
    let sink = SmtpSink::start().await.unwrap();
    let mailer = SmtpMailer::from_url(
        &sink.url(),
        "Cổng dịch vụ công tỉnh Lạng Sơn <noreply@langson.gov.vn>",
    )
    .unwrap();
    let dispatcher = Notifier::new(t.db.clone(), mailer, PUBLIC_URL)
        .subscribe(Dispatcher::builder(t.db.clone()))
        .build();
    (t, sink, dispatcher)
}

fn with_email(mut s: Submission) -> Submission {
    s.applicant.email = MAI.into();
    s
}

fn last(sink: &SmtpSink) -> ReceivedMail {
    sink.messages().pop().expect("a message")
}

fn tracking(code: &str) -> String {
    format!(
        "https://dichvucong.langson.gov.vn/tra-cuu?ma_ho_so={code}&ma={}",
        dossier::lookup_code(code)
    )
}

#[tokio::test]
async fn the_applicant_gets_a_vietnamese_mail_for_each_change_that_concerns_them() {
    let (t, sink, dispatcher) = setup().await;
    let db = &t.db;
    let s = tam_thanh_staff(db).await;
    let code = submit_anon(db, &with_email(building_permit()))
        .await
        .dossier
        .code;
    assert!(sink.messages().is_empty(), "nothing is sent in the request");
    assert_eq!(dispatcher.run_once().await.unwrap(), 1);
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.envelope_to, vec![MAI.to_string()]);
    assert_eq!(m.envelope_from, "noreply@langson.gov.vn");
    assert_eq!(
        m.subject,
        format!("Hồ sơ {code} đã được gửi đến Ủy ban nhân dân phường Tam Thanh")
    );
    assert!(m.header("To").unwrap().contains("Hoàng Thị Mai"));
    assert!(m.text.starts_with("Kính gửi Hoàng Thị Mai,"), "{}", m.text);
    assert!(m.text.contains("Cấp giấy phép xây dựng"), "{}", m.text);
    assert!(m.text.contains(&tracking(&code)), "{}", m.text);
    assert!(m
        .text
        .contains(&format!("Mã tra cứu: {}", dossier::lookup_code(&code))));

    // Accepted: the promised date is in the subject.
    let d = act(db, &s.one_stop, &code, "accept", "").await.unwrap();
    dispatcher.run_once().await.unwrap();
    assert_eq!(sink.messages().len(), 2);
    let due = chrono::NaiveDate::parse_from_str(d.due_date.as_deref().unwrap(), "%Y-%m-%d")
        .unwrap()
        .format("%d/%m/%Y")
        .to_string();
    let m = last(&sink);
    assert_eq!(
        m.subject,
        format!("Hồ sơ {code} đã được tiếp nhận, hẹn trả kết quả ngày {due}")
    );
    assert!(m.text.contains(&format!("Ngày hẹn trả kết quả: {due}.")));

    // Forwarded to the appraising officer: an internal step, no mail.
    act(db, &s.one_stop, &code, "forward", "").await.unwrap();
    dispatcher.run_once().await.unwrap();
    assert_eq!(
        sink.messages().len(),
        2,
        "forwarding is not the applicant's business"
    );

    // Supplement requested: the officer's reason is in the mail.
    let reason = "Bổ sung bản vẽ mặt bằng móng có chữ ký của đơn vị thiết kế";
    act(db, &s.officer, &code, "request_supplement", reason)
        .await
        .unwrap();
    dispatcher.run_once().await.unwrap();
    let m = last(&sink);
    assert_eq!(m.subject, format!("Hồ sơ {code} cần bổ sung, hoàn thiện"));
    assert!(
        m.text.contains(&format!("Nội dung cần bổ sung: {reason}")),
        "{}",
        m.text
    );
    assert_eq!(sink.messages().len(), 3);

    // Payment requested on another dossier: the amount and the payment page.
    let paying = submit_anon(db, &with_email(building_permit()))
        .await
        .dossier
        .code;
    act(db, &s.one_stop, &paying, "accept", "").await.unwrap();
    act(db, &s.one_stop, &paying, "request_payment", "")
        .await
        .unwrap();
    dispatcher.run_once().await.unwrap();
    let got = sink.messages();
    assert_eq!(got.len(), 6);
    assert_eq!(
        got[5].subject,
        format!("Hồ sơ {paying}: đề nghị nộp phí, lệ phí 75.000 đồng")
    );
    assert!(got[5].text.contains(&format!(
        "https://dichvucong.langson.gov.vn/tra-cuu/thanh-toan?ma_ho_so={paying}&ma={}",
        dossier::lookup_code(&paying)
    )));

    // A refusal of another dossier carries its reason.
    let other = submit_anon(db, &with_email(birth(TAM_THANH)))
        .await
        .dossier
        .code;
    act(
        db,
        &s.one_stop,
        &other,
        "refuse",
        "Người nộp không phải cha, mẹ hoặc người thân thích của trẻ",
    )
    .await
    .unwrap();
    dispatcher.run_once().await.unwrap();
    let got = sink.messages();
    assert_eq!(got.len(), 8);
    assert_eq!(
        got[7].subject,
        format!("Hồ sơ {other} không được tiếp nhận")
    );
    assert!(got[7]
        .text
        .contains("Lý do: Người nộp không phải cha, mẹ hoặc người thân thích của trẻ"));

    let rows = ledger::for_reference(db, &code).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .all(|r| r.status == Status::Sent && r.attempts == 1 && r.recipient == MAI));
    assert_eq!(count(db, "notifications").await, 8);
}

#[tokio::test]
async fn a_temporary_failure_is_retried_later_and_delivered_exactly_once() {
    let (t, sink, dispatcher) = setup().await;
    let db = &t.db;
    sink.fail_next(1);
    let code = submit_anon(db, &with_email(birth(TAM_THANH)))
        .await
        .dossier
        .code;
    assert_eq!(
        dispatcher.run_once().await.unwrap(),
        0,
        "the handler failed"
    );
    assert_eq!(sink.temporary_failures(), 1);
    assert!(sink.messages().is_empty());
    let rows = ledger::for_reference(db, &code).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].status, rows[0].attempts), (Status::Retrying, 1));
    assert!(rows[0].last_error.as_deref().unwrap().contains("451"));
    assert!(rows[0].sent_at.is_none(), "nothing is marked sent");

    // Backing off: an immediate second run does not try again.
    assert_eq!(dispatcher.run_once().await.unwrap(), 0);
    assert_eq!(sink.temporary_failures(), 1);
    assert!(sink.messages().is_empty());

    // Later (the back-off has passed): delivered.
    sqlx::query("UPDATE outbox_failures SET next_attempt_at = 0 WHERE consumer = $1")
        .bind(CONSUMER)
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(dispatcher.run_once().await.unwrap(), 1);
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    assert!(got[0].subject.contains(&code));
    let rows = ledger::for_reference(db, &code).await.unwrap();
    assert_eq!((rows[0].status, rows[0].attempts), (Status::Sent, 2));
    assert!(rows[0].sent_at.is_some());

    assert_eq!(dispatcher.run_once().await.unwrap(), 0);
    assert_eq!(sink.messages().len(), 1, "exactly once");
}

#[tokio::test]
async fn a_redelivered_event_is_not_sent_again() {
    let (t, sink, dispatcher) = setup().await;
    let db = &t.db;
    let s = tam_thanh_staff(db).await;
    let code = submit_anon(db, &with_email(birth(TAM_THANH)))
        .await
        .dossier
        .code;
    act(db, &s.one_stop, &code, "accept", "").await.unwrap();
    assert_eq!(dispatcher.run_once().await.unwrap(), 2);
    assert_eq!(sink.messages().len(), 2);
    // The consumer's progress is lost (a crash before it was stored): every event comes again.
    sqlx::query("UPDATE outbox_consumers SET last_seq = 0 WHERE consumer = $1")
        .bind(CONSUMER)
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(dispatcher.run_once().await.unwrap(), 2, "handled again");
    assert_eq!(sink.messages().len(), 2, "but not sent again");
    let rows = ledger::for_reference(db, &code).await.unwrap();
    assert!(rows.iter().all(|r| r.attempts == 1), "{rows:?}");
    // The unique key holds in the database, whatever the code does.
    let dup = sqlx::query(
        "INSERT INTO notifications (id, event_id, topic, channel, recipient, reference, subject, status, \
         attempts, created_at, updated_at) SELECT 'x', event_id, topic, channel, recipient, reference, \
         subject, status, attempts, created_at, updated_at FROM notifications WHERE reference = $1 LIMIT 1",
    )
    .bind(&code)
    .execute(db.pool())
    .await;
    assert!(dup.is_err(), "(event, channel, recipient) is unique");
}

#[tokio::test]
async fn no_email_address_is_recorded_as_skipped() {
    let (t, sink, dispatcher) = setup().await;
    let db = &t.db;
    let code = submit_anon(db, &birth(TAM_THANH)).await.dossier.code;
    assert_eq!(dispatcher.run_once().await.unwrap(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(sink.messages().is_empty());
    let rows = ledger::for_reference(db, &code).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, Status::Skipped);
    assert_eq!((rows[0].recipient.as_str(), rows[0].attempts), ("", 0));
    assert_eq!(rows[0].channel, "email");
    assert!(rows[0].subject.contains(&code));
}

#[tokio::test]
async fn turning_mail_on_later_does_not_mail_about_past_events() {
    let (t, sink, dispatcher) = setup().await;
    let db = &t.db;
    let old = submit_anon(db, &with_email(birth(TAM_THANH)))
        .await
        .dossier
        .code;
    assert!(tinhso_services::notify::start_at_newest_event_if_new(db)
        .await
        .unwrap());
    assert_eq!(dispatcher.run_once().await.unwrap(), 0);
    assert!(sink.messages().is_empty());
    assert!(ledger::for_reference(db, &old).await.unwrap().is_empty());
    let new = submit_anon(db, &with_email(birth(TAM_THANH)))
        .await
        .dossier
        .code;
    // Progress already made is kept.
    assert!(!tinhso_services::notify::start_at_newest_event_if_new(db)
        .await
        .unwrap());
    assert_eq!(dispatcher.run_once().await.unwrap(), 1);
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    assert!(got[0].subject.contains(&new));
}

#[tokio::test]
async fn a_payment_request_handled_after_the_payment_is_not_mailed() {
    let (t, sink, dispatcher) = setup().await;
    let db = &t.db;
    let s = tam_thanh_staff(db).await;
    let code = submit_anon(db, &with_email(building_permit()))
        .await
        .dossier
        .code;
    act(db, &s.one_stop, &code, "accept", "").await.unwrap();
    act(db, &s.one_stop, &code, "request_payment", "")
        .await
        .unwrap();
    // Paid before the dispatcher got to the event (e.g. the relay was down meanwhile).
    sqlx::query("UPDATE dossiers SET paid_vnd = fee_vnd WHERE code = $1")
        .bind(&code)
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(dispatcher.run_once().await.unwrap(), 3);
    let got = sink.messages();
    assert_eq!(got.len(), 2, "submitted and accepted only");
    let rows = ledger::for_reference(db, &code).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2].status, Status::Skipped);
    assert_eq!(rows[2].recipient, MAI);
    assert!(rows[2].last_error.as_deref().unwrap().contains("paid"));
}
