//! The leaders' weekly digest through a real SMTP server (the sink): sent once per ISO week to
//! active leaders with an e-mail address, not before its scheduled hour, not twice after a
//! restart, again the next week.

use super::*;
use tinhso_identity::accounts::{self, NewAccount};
use tinhso_identity::authz::RoleAssignment;
use tinhso_identity::{Role, Scope};
use tinhso_notify::smtp_sink::SmtpSink;
use tinhso_notify::SmtpMailer;
use tinhso_targets::digest::{self, Schedule};
use tinhso_targets::engine::Registry;

async fn staff(db: &Db, username: &str, email: Option<&str>, role: Role, scope: Scope) -> String {
    accounts::create(
        db,
        &sys(),
        &NewAccount {
            username: Some(username.into()),
            display_name: format!("Đồng chí {username}"),
            kind: "staff".into(),
            email: email.map(str::to_string),
            agency_code: Some("000.00.01.H37".into()),
            password: "Mat-khau-rat-dai-2026!".into(),
            roles: vec![RoleAssignment { role, scope }],
            ..NewAccount::default()
        },
    )
    .await
    .unwrap()
    .account
    .id
}

#[tokio::test]
async fn the_digest_goes_once_a_week_to_the_leaders() {
    let t = env().await;
    let db = &t.db;
    tinhso_store::migrate::run(db, &[tinhso_notify::MIGRATIONS])
        .await
        .unwrap();
    // Recipients: a province leader and a department leader with addresses. Not: a leader
    // without an address, a disabled leader, a one-stop officer.
    staff(
        db,
        "ld.tinh",
        Some("chu.tich@langson.gov.vn"),
        Role::ProvinceLeader,
        Scope::Province,
    )
    .await;
    staff(
        db,
        "ld.so",
        Some("giam.doc@langson.gov.vn"),
        Role::DepartmentLeader,
        Scope::Agency("000.00.01.H37".into()),
    )
    .await;
    staff(
        db,
        "ld.khong.thu",
        None,
        Role::ProvinceLeader,
        Scope::Province,
    )
    .await;
    let gone = staff(
        db,
        "ld.nghi",
        Some("nghi@langson.gov.vn"),
        Role::ProvinceLeader,
        Scope::Province,
    )
    .await;
    accounts::set_disabled(db, &sys(), &gone, true)
        .await
        .unwrap();
    staff(
        db,
        "motcua.x",
        Some("motcua@langson.gov.vn"),
        Role::OneStopOfficer,
        Scope::Province,
    )
    .await;
    let to: Vec<String> = digest::recipients(db)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.email)
        .collect();
    assert_eq!(to, ["chu.tich@langson.gov.vn", "giam.doc@langson.gov.vn"]);

    let sink = SmtpSink::start().await.unwrap();
    let mailer = SmtpMailer::from_url(&sink.url(), "Tỉnh số <noreply@langson.gov.vn>").unwrap();
    let registry = Registry::standard();
    let s = Schedule::default();
    // Monday 30 Nov 2026 06:59: not yet.
    let r = digest::run(
        db,
        &mailer,
        &registry,
        s,
        local_micros(2026, 11, 30, 6, 59),
        false,
    )
    .await
    .unwrap();
    assert_eq!(r, digest::Report::default());
    assert!(sink.messages().is_empty());
    // 07:00: sent to both, with the PDF.
    let r = digest::run(
        db,
        &mailer,
        &registry,
        s,
        local_micros(2026, 11, 30, 7, 0),
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        (r.week.as_deref(), r.recipients, r.sent, r.already),
        (Some("2026-W49"), 2, 2, 0)
    );
    let got = sink.wait_for(2, std::time::Duration::from_secs(5)).await;
    assert_eq!(got.len(), 2);
    let mut rcpt: Vec<String> = got.iter().flat_map(|m| m.envelope_to.clone()).collect();
    rcpt.sort();
    assert_eq!(rcpt, ["chu.tich@langson.gov.vn", "giam.doc@langson.gov.vn"]);
    let m = &got[0];
    assert_eq!(
        m.subject,
        "Bản tin tuần 2026-W49: tiến độ mục tiêu chuyển đổi số"
    );
    assert!(
        m.raw.contains("filename=\"ban-tin-tuan-2026-W49.pdf\""),
        "{}",
        m.raw
    );
    assert!(m.raw.contains("Content-Type: application/pdf"));

    // A restart (a new run, as a new process would do) at 07:01 and on Wednesday: nothing more.
    for at in [
        local_micros(2026, 11, 30, 7, 1),
        local_micros(2026, 12, 2, 9, 0),
    ] {
        let r = digest::run(db, &mailer, &registry, s, at, false)
            .await
            .unwrap();
        assert_eq!((r.sent, r.already), (0, 2));
    }
    // Forced (`tinhso targets digest --send-now`) in the same week: still once.
    let r = digest::run(
        db,
        &mailer,
        &registry,
        s,
        local_micros(2026, 12, 3, 9, 0),
        true,
    )
    .await
    .unwrap();
    assert_eq!((r.sent, r.already), (0, 2));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(sink.messages().len(), 2);
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM notifications WHERE event_id = 'targets.digest:2026-W49' AND status = 'sent'").await,
        2
    );
    // The next week: again.
    let r = digest::run(
        db,
        &mailer,
        &registry,
        s,
        local_micros(2026, 12, 7, 7, 0),
        false,
    )
    .await
    .unwrap();
    assert_eq!((r.week.as_deref(), r.sent), (Some("2026-W50"), 2));
    assert_eq!(
        sink.wait_for(4, std::time::Duration::from_secs(5))
            .await
            .len(),
        4
    );
}

#[tokio::test]
async fn the_digest_pdf_shows_the_board() {
    let t = env().await;
    let db = &t.db;
    let snap = digest::snapshot(db, &Registry::standard(), ymd(2026, 11, 30))
        .await
        .unwrap();
    let pdf = digest::pdf(&snap, "2026-W49");
    let w = tinhso_pdf::test_support::words(&tinhso_pdf::test_support::pdftotext(&pdf, false));
    assert!(w.contains("BẢN TIN TUẦN"), "{w}");
    assert!(w.contains("tuần 2026-W49 (ngày 30/11/2026)"), "{w}");
    // Only the catalogue's fully-online share has a value (68.8 %: off track).
    assert!(w.contains("68,8%"), "{w}");
}
