//! Notification tests over real TCP: `lettre` talks SMTP to the crate's own sink on a
//! loopback port; the ledger runs on a fresh database (SQLite, or PostgreSQL when
//! `TINHSO_TEST_PG_URL` is set).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use tinhso_notify::ledger::{self, Key, Outcome, SendPolicy, Status};
use tinhso_notify::smtp_sink::SmtpSink;
use tinhso_notify::{Email, SendError, SmtpConfig, SmtpMailer};
use tinhso_store::migrate::STORE_MIGRATIONS;
use tinhso_store::test_support::fresh;

const FROM: &str = "Cổng dịch vụ công Lạng Sơn <noreply@langson.gov.vn>";

fn mail(to: &str) -> Email {
    Email {
        to: to.into(),
        to_name: "Hoàng Thị Mai".into(),
        subject: "Hồ sơ 000.00.23.H37-261129-0001 đã được tiếp nhận — hẹn trả 02/12/2026".into(),
        text: "Kính gửi bà Hoàng Thị Mai,\n\n\
               Ủy ban nhân dân phường Tam Thanh đã tiếp nhận hồ sơ đăng ký khai sinh của bà.\n\
               .Dòng bắt đầu bằng dấu chấm vẫn nguyên vẹn.\n\
               .\n\
               Trân trọng."
            .into(),
        html: None,
    }
}

#[tokio::test]
async fn vietnamese_mail_arrives_intact_over_smtp() {
    let sink = SmtpSink::start().await.unwrap();
    let mailer = SmtpMailer::from_url(&sink.url(), FROM).unwrap();
    let m = mail("mai@example.vn");
    mailer.send(&m).await.unwrap();
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.envelope_from, "noreply@langson.gov.vn");
    assert_eq!(r.envelope_to, vec!["mai@example.vn".to_string()]);
    assert_eq!(r.subject, m.subject);
    assert_eq!(r.text, m.text, "dot-stuffed lines come back as written");
    assert!(r.html.is_none());
    assert!(r.raw.is_ascii(), "7-bit on the wire: {}", r.raw);
    assert!(r.header("To").unwrap().contains("Hoàng Thị Mai"));
    assert!(r
        .header("From")
        .unwrap()
        .contains("Cổng dịch vụ công Lạng Sơn"));
    assert!(r.header("Content-Type").unwrap().contains("utf-8"));
    assert!(r.header("Date").is_some() && r.header("Message-ID").is_some());
}

#[tokio::test]
async fn html_alternative_and_credentials() {
    let sink = SmtpSink::start().await.unwrap();
    let url = format!(
        "smtp://thongbao%40langson.gov.vn:m%E1%BA%ADt-kh%E1%BA%A9u@{}?tls=none",
        sink.addr()
    );
    let mailer = SmtpMailer::from_url(&url, "noreply@langson.gov.vn").unwrap();
    assert!(!format!("{mailer:?}").contains("khẩu"));
    let mut m = mail("mai@example.vn");
    m.html = Some("<p>Kính gửi bà <b>Hoàng Thị Mai</b></p>".into());
    mailer.send(&m).await.unwrap();
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].auth_user.as_deref(), Some("thongbao@langson.gov.vn"));
    assert_eq!(got[0].text, m.text);
    assert_eq!(got[0].html, m.html);
    assert!(got[0]
        .header("Content-Type")
        .unwrap()
        .starts_with("multipart/alternative"));
}

#[tokio::test]
async fn temporary_and_permanent_failures_are_told_apart() {
    let sink = SmtpSink::start().await.unwrap();
    let mailer = SmtpMailer::from_url(&sink.url(), FROM).unwrap();
    sink.fail_next(1);
    let e = mailer.send(&mail("mai@example.vn")).await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(e.to_string().contains("451"), "{e}");
    assert!(sink.messages().is_empty());
    mailer.send(&mail("mai@example.vn")).await.unwrap();
    assert_eq!(sink.wait_for(1, Duration::from_secs(5)).await.len(), 1);
    sink.reject_recipient("nobody@example.vn");
    let e = mailer.send(&mail("nobody@example.vn")).await.unwrap_err();
    assert!(matches!(e, SendError::Permanent(_)), "{e}");
    // Nobody listening: a connection failure is temporary.
    let addr = sink.addr();
    drop(sink);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let cfg = SmtpConfig::parse(&format!("smtp://{addr}?tls=none&timeout=2")).unwrap();
    let e = SmtpMailer::new(&cfg, FROM)
        .unwrap()
        .send(&mail("mai@example.vn"))
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e}");
}

#[tokio::test]
async fn the_ledger_sends_once_retries_temporary_failures_and_gives_up_on_permanent_ones() {
    let t = fresh(&[STORE_MIGRATIONS, tinhso_notify::MIGRATIONS]).await;
    let db = &t.db;
    let sink = SmtpSink::start().await.unwrap();
    let mailer = SmtpMailer::from_url(&sink.url(), FROM).unwrap();
    let m = mail("mai@example.vn");
    let key = Key {
        event_id: "evt-1".into(),
        topic: "dossier.status_changed".into(),
        channel: "email".into(),
        recipient: m.to.clone(),
        reference: "000.00.23.H37-261129-0001".into(),
        subject: m.subject.clone(),
    };
    let policy = SendPolicy::default();

    sink.fail_next(1);
    let e = ledger::send_email_once(db, &mailer, &key, &m, policy)
        .await
        .unwrap_err();
    assert!(e.contains("451"), "{e}");
    let row = ledger::get(db, "evt-1", "email", &m.to)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.status, row.attempts), (Status::Retrying, 1));
    assert!(row.last_error.unwrap().contains("451"));
    assert!(row.sent_at.is_none());

    let o = ledger::send_email_once(db, &mailer, &key, &m, policy)
        .await
        .unwrap();
    assert_eq!(o, Outcome::Sent);
    let row = ledger::get(db, "evt-1", "email", &m.to)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.status, row.attempts), (Status::Sent, 2));
    assert!(row.sent_at.is_some() && row.last_error.is_none());

    // Redelivery of the same event: nothing sent again.
    let o = ledger::send_email_once(db, &mailer, &key, &m, policy)
        .await
        .unwrap();
    assert_eq!(o, Outcome::AlreadyDone(Status::Sent));
    assert_eq!(sink.wait_for(1, Duration::from_secs(5)).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sink.messages().len(), 1);

    // A permanent refusal is recorded and not retried.
    sink.reject_recipient("nobody@example.vn");
    let mut bad = m.clone();
    bad.to = "nobody@example.vn".into();
    let bad_key = Key {
        recipient: bad.to.clone(),
        ..key.clone()
    };
    let o = ledger::send_email_once(db, &mailer, &bad_key, &bad, policy)
        .await
        .unwrap();
    assert!(
        matches!(o, Outcome::GaveUp(ref e) if e.contains("550")),
        "{o:?}"
    );
    let o = ledger::send_email_once(db, &mailer, &bad_key, &bad, policy)
        .await
        .unwrap();
    assert_eq!(o, Outcome::AlreadyDone(Status::Failed));

    // Attempts run out: given up, so later notifications are not held back.
    let key3 = Key {
        event_id: "evt-3".into(),
        ..key.clone()
    };
    sink.fail_next(2);
    let few = SendPolicy { max_attempts: 2 };
    assert!(ledger::send_email_once(db, &mailer, &key3, &m, few)
        .await
        .is_err());
    let o = ledger::send_email_once(db, &mailer, &key3, &m, few)
        .await
        .unwrap();
    assert!(matches!(o, Outcome::GaveUp(_)), "{o:?}");
    let row = ledger::get(db, "evt-3", "email", &m.to)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.status, row.attempts), (Status::Failed, 2));
    assert_eq!(sink.temporary_failures(), 3);

    // The unique key holds in the database itself.
    let skipped = Key {
        event_id: "evt-4".into(),
        recipient: String::new(),
        ..key.clone()
    };
    ledger::record(db, &skipped, Status::Skipped, false, None)
        .await
        .unwrap();
    let again = ledger::record(db, &skipped, Status::Skipped, false, None)
        .await
        .unwrap();
    assert_eq!(again.attempts, 0);
    let all = ledger::for_reference(db, &key.reference).await.unwrap();
    assert_eq!(all.len(), 4);
}

#[tokio::test]
async fn two_workers_on_the_same_event_send_once() {
    let t = fresh(&[STORE_MIGRATIONS, tinhso_notify::MIGRATIONS]).await;
    let sink = SmtpSink::start().await.unwrap();
    let mailer = SmtpMailer::from_url(&sink.url(), FROM).unwrap();
    let m = mail("mai@example.vn");
    let key = Key {
        event_id: "evt-race".into(),
        topic: "dossier.status_changed".into(),
        channel: "email".into(),
        recipient: m.to.clone(),
        reference: "000.00.23.H37-261129-0009".into(),
        subject: m.subject.clone(),
    };
    let run = || {
        let (db, mailer, key, m) = (t.db.clone(), mailer.clone(), key.clone(), m.clone());
        tokio::spawn(async move {
            ledger::send_email_once(&db, &mailer, &key, &m, SendPolicy::default()).await
        })
    };
    let (a, b) = (run(), run());
    let results = [a.await.unwrap(), b.await.unwrap()];
    let sent = results
        .iter()
        .filter(|r| matches!(r, Ok(Outcome::Sent)))
        .count();
    assert_eq!(sent, 1, "{results:?}");
    // The other one saw the claim (and will be retried) or the sent row.
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(e) if e.contains("another worker"))
                || matches!(r, Ok(Outcome::AlreadyDone(Status::Sent)))),
        "{results:?}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sink.messages().len(), 1);
    // A claim left by a worker that died mid-send is taken over once stale.
    let dead = Key {
        event_id: "evt-dead".into(),
        ..key.clone()
    };
    assert_eq!(
        ledger::claim(&t.db, &dead).await.unwrap(),
        ledger::Claim::Mine { attempts: 0 }
    );
    assert_eq!(
        ledger::claim(&t.db, &dead).await.unwrap(),
        ledger::Claim::Busy
    );
    sqlx::query(
        "UPDATE notifications SET updated_at = updated_at - $1 WHERE event_id = 'evt-dead'",
    )
    .bind(ledger::STALE_CLAIM_MICROS + 1)
    .execute(t.db.pool())
    .await
    .unwrap();
    let o = ledger::send_email_once(&t.db, &mailer, &dead, &m, SendPolicy::default())
        .await
        .unwrap();
    assert_eq!(o, Outcome::Sent);
    assert_eq!(sink.messages().len(), 2);
}
