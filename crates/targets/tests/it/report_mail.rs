//! E-mail on report events through a real SMTP server (the notify crate's sink): a task
//! opened, returned with comments, approved, escalated as late — each mailed to the people
//! concerned, once per event and address, in Vietnamese with a link to the report.

use super::*;
use std::collections::BTreeMap;
use tinhso_identity::accounts::{self, NewAccount};
use tinhso_identity::authz::RoleAssignment;
use tinhso_identity::{Role, Scope};
use tinhso_notify::ledger;
use tinhso_notify::smtp_sink::SmtpSink;
use tinhso_notify::SmtpMailer;
use tinhso_store::outbox::Dispatcher;
use tinhso_targets::period::Period;
use tinhso_targets::regimes;
use tinhso_targets::report_mail::{ReportMailer, CONSUMER};
use tinhso_targets::reports::{self, AgencyAction, EntryInput, ReviewAction};

const TAM_THANH: &str = "000.00.23.H37";
const SKHCN: &str = "000.00.06.H37";
const URL: &str = "https://tinhso.langson.gov.vn";

async fn staff(db: &Db, username: &str, agency: &str, email: Option<&str>, role: Role) -> String {
    accounts::create(
        db,
        &sys(),
        &NewAccount {
            username: Some(username.into()),
            display_name: format!("Đồng chí {username}"),
            kind: "staff".into(),
            email: email.map(str::to_string),
            agency_code: Some(agency.into()),
            password: "Mat-khau-rat-dai-2026!".into(),
            roles: vec![RoleAssignment {
                role,
                scope: Scope::Agency(agency.into()),
            }],
            ..NewAccount::default()
        },
    )
    .await
    .unwrap()
    .account
    .id
}

fn full() -> BTreeMap<String, EntryInput> {
    [
        ("ho_so_cong_viec", "200"),
        ("ho_so_cong_viec_tren_mang", "150"),
        ("ty_le_ho_so_cong_viec_tren_mang", "75"),
        ("dich_vu_24_7", "có"),
        ("ket_qua_noi_bat", "Triển khai hệ thống quản lý văn bản"),
    ]
    .into_iter()
    .map(|(k, v)| {
        (
            k.to_string(),
            EntryInput {
                value: serde_json::Value::String(v.into()),
                reason: String::new(),
            },
        )
    })
    .collect()
}

#[tokio::test]
async fn report_events_are_mailed_once_to_the_people_concerned() {
    let t = env().await;
    let db = &t.db;
    tinhso_store::migrate::run(db, &[tinhso_notify::MIGRATIONS])
        .await
        .unwrap();
    regimes::seed(db, &sys()).await.unwrap();
    // Tam Thanh: an officer with an address (mailed), one without, a disabled one. The
    // recipient (Sở KH&CN): a leader (an approver) and a specialist (not an approver). Another
    // agency's officer is never mailed about Tam Thanh's report.
    staff(
        db,
        "tt.cb",
        TAM_THANH,
        Some("canbo@tamthanh.langson.gov.vn"),
        Role::CommuneOfficer,
    )
    .await;
    staff(db, "tt.khong", TAM_THANH, None, Role::CommuneOfficer).await;
    let gone = staff(
        db,
        "tt.nghi",
        TAM_THANH,
        Some("nghi@tamthanh.langson.gov.vn"),
        Role::CommuneOfficer,
    )
    .await;
    accounts::set_disabled(db, &sys(), &gone, true)
        .await
        .unwrap();
    staff(
        db,
        "khcn.ld",
        SKHCN,
        Some("giamdoc@skhcn.langson.gov.vn"),
        Role::DepartmentLeader,
    )
    .await;
    staff(
        db,
        "khcn.cv",
        SKHCN,
        Some("chuyenvien@skhcn.langson.gov.vn"),
        Role::Specialist,
    )
    .await;

    let sink = SmtpSink::start().await.unwrap();
    let mailer = SmtpMailer::from_url(&sink.url(), "Tỉnh số <noreply@langson.gov.vn>").unwrap();
    let dispatcher = ReportMailer::new(db.clone(), mailer, URL)
        .subscribe(Dispatcher::builder(db.clone()))
        .build();

    // Opened: one event per task (80); only the Tam Thanh officer is mailed (Sở KH&CN is the
    // recipient of KH226-NAM, not a reporter; the other agencies have no staff here).
    let y = regimes::get(db, "KH226-NAM").await.unwrap().unwrap();
    let cal = tinhso_refdata::calendar::working_calendar(db)
        .await
        .unwrap();
    assert_eq!(
        reports::open_period(db, &sys(), &y, Period::Year { year: 2027 }, &cal)
            .await
            .unwrap(),
        80
    );
    assert_eq!(dispatcher.run_once().await.unwrap(), 80);
    let got = sink.wait_for(1, std::time::Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let id = reports::task_id("KH226-NAM", "2027", TAM_THANH);
    let m = &got[0];
    assert_eq!(m.envelope_to, ["canbo@tamthanh.langson.gov.vn"]);
    assert_eq!(
        m.subject,
        "Nhiệm vụ báo cáo mới: KH226-NAM kỳ năm 2027, hạn gửi 20/11/2027"
    );
    let body = m.text.replace("\r\n", "\n");
    assert!(body.starts_with("Kính gửi Đồng chí tt.cb,"), "{body}");
    assert!(
        body.contains("cho Ủy ban nhân dân phường Tam Thanh"),
        "{body}"
    );
    assert!(
        body.contains("Cơ quan nhận báo cáo: Sở Khoa học và Công nghệ."),
        "{body}"
    );
    assert!(
        body.contains(&format!("{URL}/nghiep-vu/bao-cao/{id}")),
        "{body}"
    );
    // The other 79 events had nobody to mail: recorded as skipped.
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM notifications WHERE status = 'skipped' AND topic = 'report.opened'").await,
        79
    );

    // Submitted (not mailed), returned with a comment (mailed to the agency).
    let get = || async { reports::get(db, &id).await.unwrap().unwrap() };
    reports::agency_act(
        db,
        &sys(),
        &get().await,
        AgencyAction::Submit,
        &full(),
        ymd(2027, 11, 10),
    )
    .await
    .unwrap();
    reports::review(
        db,
        &sys(),
        &get().await,
        ReviewAction::Return,
        "Tỷ lệ chưa khớp số hồ sơ",
    )
    .await
    .unwrap();
    assert_eq!(dispatcher.run_once().await.unwrap(), 2);
    let got = sink.wait_for(2, std::time::Duration::from_secs(5)).await;
    assert_eq!(got.len(), 2);
    let m = &got[1];
    assert_eq!(m.envelope_to, ["canbo@tamthanh.langson.gov.vn"]);
    assert_eq!(
        m.subject,
        "Báo cáo KH226-NAM kỳ năm 2027 bị trả lại để chỉnh sửa"
    );
    assert!(m.text.contains("Tỷ lệ chưa khớp số hồ sơ"), "{}", m.text);
    assert!(
        m.text.contains("đã bị Sở Khoa học và Công nghệ trả lại"),
        "{}",
        m.text
    );

    // Escalated as late (80 tasks past 20 November, one event each): the recipient's leader
    // gets one summary listing the late agencies, Tam Thanh's officer is told of Tam Thanh's;
    // the specialist is not an approver.
    assert_eq!(
        reports::escalate_overdue(db, &sys(), ymd(2027, 11, 23))
            .await
            .unwrap(),
        80
    );
    assert_eq!(dispatcher.run_once().await.unwrap(), 80);
    sink.wait_for(4, std::time::Duration::from_secs(10)).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let got = sink.messages();
    assert_eq!(got.len(), 4, "one summary and one agency mail, no more");
    let late = &got[2..];
    let to = |addr: &str| late.iter().filter(|m| m.envelope_to == [addr]).count();
    assert_eq!(to("giamdoc@skhcn.langson.gov.vn"), 1);
    assert_eq!(to("canbo@tamthanh.langson.gov.vn"), 1);
    assert_eq!(to("chuyenvien@skhcn.langson.gov.vn"), 0);
    let m = late
        .iter()
        .find(|m| m.envelope_to[0].starts_with("giamdoc"))
        .unwrap();
    assert_eq!(
        m.subject,
        "80 báo cáo KH226-NAM kỳ năm 2027 quá hạn chưa gửi"
    );
    assert!(
        m.text.contains("hạn gửi 20/11/2027, đến ngày 23/11/2027")
            && m.text.contains("- Ủy ban nhân dân phường Tam Thanh")
            && m.text.starts_with("Kính gửi Đồng chí khcn.ld,"),
        "{}",
        m.text
    );
    let m = late
        .iter()
        .find(|m| m.envelope_to[0].starts_with("canbo"))
        .unwrap();
    assert_eq!(
        m.subject,
        "Báo cáo KH226-NAM kỳ năm 2027 của Ủy ban nhân dân phường Tam Thanh quá hạn"
    );
    assert!(
        m.text
            .contains("có hạn gửi 20/11/2027, đến ngày 23/11/2027 chưa được gửi"),
        "{}",
        m.text
    );

    // Resubmitted late and approved: the agency is told.
    reports::agency_act(
        db,
        &sys(),
        &get().await,
        AgencyAction::Submit,
        &full(),
        ymd(2027, 11, 24),
    )
    .await
    .unwrap();
    reports::review(db, &sys(), &get().await, ReviewAction::Approve, "")
        .await
        .unwrap();
    dispatcher.run_once().await.unwrap();
    let got = sink.wait_for(5, std::time::Duration::from_secs(5)).await;
    assert_eq!(got.len(), 5);
    assert_eq!(
        got[4].subject,
        "Báo cáo KH226-NAM kỳ năm 2027 đã được duyệt"
    );
    assert_eq!(got[4].envelope_to, ["canbo@tamthanh.langson.gov.vn"]);

    // Every event delivered again (progress lost): nothing is sent twice.
    sqlx::query("UPDATE outbox_consumers SET last_seq = 0 WHERE consumer = $1")
        .bind(CONSUMER)
        .execute(db.pool())
        .await
        .unwrap();
    dispatcher.run_once().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 5, "not sent again");
    // Tam Thanh's report: opened, returned, overdue (the officer; the leader's summary is
    // the period's), approved.
    let rows = ledger::for_reference(db, &id).await.unwrap();
    assert_eq!(
        rows.iter()
            .filter(|r| r.status == ledger::Status::Sent)
            .count(),
        4
    );
    assert!(rows.iter().all(|r| r.attempts <= 1), "{rows:?}");
}
