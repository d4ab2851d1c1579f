//! Forms 02, 03, 04, 06, 07 (Circular 01/2018/TT-VPCP): the notices drawn from their events,
//! the apology's rules (nothing written on any refusal, another agency refused), the apologised
//! dossier still counted late by the Decision 766 indicator and the register, the process
//! control slip's handovers, the register's CSV.

use super::*;
use tinhso_kernel::calendar::WorkingCalendar;
use tinhso_services::forms::{self, ApologyInput, Notice, Outcome, Timing};

async fn set_due(db: &Db, code: &str, due: chrono::NaiveDate) {
    sqlx::query("UPDATE dossiers SET due_date = $1 WHERE code = $2")
        .bind(due.format("%Y-%m-%d").to_string())
        .bind(code)
        .execute(db.pool())
        .await
        .unwrap();
}

async fn original_due(db: &Db, code: &str) -> Option<String> {
    sqlx::query_scalar("SELECT original_due_date FROM dossiers WHERE code = $1")
        .bind(code)
        .fetch_one(db.pool())
        .await
        .unwrap()
}

async fn outbox_count(db: &Db, topic: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE topic = $1")
        .bind(topic)
        .fetch_one(db.pool())
        .await
        .unwrap()
}

fn apology(reason: &str, date: chrono::NaiveDate) -> ApologyInput {
    ApologyInput {
        reason: reason.into(),
        new_due_date: date.format("%Y-%m-%d").to_string(),
    }
}

async fn calendar(db: &Db) -> WorkingCalendar {
    tinhso_refdata::calendar::working_calendar(db)
        .await
        .unwrap()
}

/// A building permit accepted by the one-stop desk of Tam Thanh.
async fn accepted_permit(db: &Db, s: &Staff) -> String {
    let code = submit_anon(db, &building_permit()).await.dossier.code;
    act(db, &s.one_stop, &code, "accept", "").await.unwrap();
    code
}

const REASON: &str = "Chờ ý kiến thẩm định của Sở Xây dựng về chỉ giới xây dựng";

#[tokio::test]
async fn apology_rules_refuse_with_field_errors_and_write_nothing() {
    let t = env().await;
    let db = &t.db;
    let s = tam_thanh_staff(db).await;
    let cal = calendar(db).await;
    let today = dossier::today_local();
    let code = accepted_permit(db, &s).await;
    // Fifteen working days away: not late, not about to be.
    let before = footprint(db).await;
    let far = cal.add_working_days(today, 20);
    let e = assert_code(
        forms::apologise(
            db,
            &ctx_of(&s.one_stop),
            &code,
            &s.one_stop,
            &apology(REASON, far),
        )
        .await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(fields(&e), [("new_due_date".to_string(), "not_overdue")]);
    // Late since yesterday: the date must be after the current promised date, not in the
    // past, and a working day; the reason must say something. All reported at once.
    let yesterday = today.pred_opt().unwrap();
    set_due(db, &code, yesterday).await;
    let e = assert_code(
        forms::apologise(
            db,
            &ctx_of(&s.one_stop),
            &code,
            &s.one_stop,
            &apology("trễ", yesterday),
        )
        .await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(
        fields(&e),
        [
            ("reason".to_string(), "reason_required"),
            ("new_due_date".to_string(), "not_after_due")
        ]
    );
    let mut day_off = today.succ_opt().unwrap();
    while cal.is_working_day(day_off) {
        day_off = day_off.succ_opt().unwrap();
    }
    let e = assert_code(
        forms::apologise(
            db,
            &ctx_of(&s.one_stop),
            &code,
            &s.one_stop,
            &apology(REASON, day_off),
        )
        .await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(
        fields(&e),
        [("new_due_date".to_string(), "not_working_day")]
    );
    assert!(
        e.fields[0].message_vi.contains("không phải ngày làm việc"),
        "{e}"
    );
    for bad in ["", "31/12/2026", "2026-02-30"] {
        let e = assert_code(
            forms::apologise(
                db,
                &ctx_of(&s.one_stop),
                &code,
                &s.one_stop,
                &ApologyInput {
                    reason: REASON.into(),
                    new_due_date: bad.into(),
                },
            )
            .await,
            ErrorCode::ValidationFailed,
        );
        assert_eq!(e.fields[0].field, "new_due_date", "{bad:?}");
    }
    // Another commune's officer: 403, whatever the input.
    let good = cal.add_working_days(today, 2);
    assert_code(
        forms::apologise(
            db,
            &ctx_of(&s.other_commune),
            &code,
            &s.other_commune,
            &apology(REASON, good),
        )
        .await,
        ErrorCode::Forbidden,
    );
    // A dossier not accepted yet: 409.
    let fresh = submit_anon(db, &building_permit()).await.dossier.code;
    set_due(db, &fresh, yesterday).await;
    let after_submit = footprint(db).await;
    assert_code(
        forms::apologise(
            db,
            &ctx_of(&s.one_stop),
            &fresh,
            &s.one_stop,
            &apology(REASON, good),
        )
        .await,
        ErrorCode::Conflict,
    );
    // Nothing written by any refusal (the second submission aside).
    assert_eq!(footprint(db).await, after_submit);
    assert_eq!(
        before[1] + 1,
        after_submit[1],
        "only the submit event was added"
    );
    let d = dossier::get(db, &code).await.unwrap().unwrap();
    assert_eq!(d.due_date, Some(yesterday.format("%Y-%m-%d").to_string()));
    assert_eq!(original_due(db, &code).await, None);
    assert!(d.events.iter().all(|e| e.action != "apologise"));
}

#[tokio::test]
async fn an_apologised_dossier_finished_by_its_new_date_still_counts_late() {
    let t = env().await;
    let db = &t.db;
    let s = tam_thanh_staff(db).await;
    let cal = calendar(db).await;
    let today = dossier::today_local();
    let yesterday = today.pred_opt().unwrap();
    let late = accepted_permit(db, &s).await;
    let on_time = accepted_permit(db, &s).await;
    set_due(db, &late, yesterday).await;
    let (audit0, outbox0) = (
        audited(db, "dossier.apologise").await.len(),
        outbox_count(db, "dossier.apologised").await,
    );
    let first = cal.add_working_days(today, 1);
    let d = forms::apologise(
        db,
        &ctx_of(&s.officer),
        &late,
        &s.officer,
        &apology(REASON, first),
    )
    .await
    .unwrap();
    // The status does not change; the promised date does; the first one is kept.
    assert_eq!(d.status, 2);
    assert_eq!(d.due_date, Some(first.format("%Y-%m-%d").to_string()));
    let y = yesterday.format("%Y-%m-%d").to_string();
    assert_eq!(original_due(db, &late).await.as_deref(), Some(y.as_str()));
    let e = d.events.last().unwrap();
    assert_eq!(
        (e.action.as_str(), e.from_status, e.to_status),
        ("apologise", 2, 2)
    );
    assert!(e.signed, "the apology is signed");
    assert!(tinhso_identity::keys::verify(
        e.public_key.as_deref().unwrap(),
        e.signed_payload.as_bytes(),
        e.signature.as_deref().unwrap()
    ));
    assert!(e.reason.contains(REASON) && e.reason.contains(&first.format("%d/%m/%Y").to_string()));
    assert_eq!(audited(db, "dossier.apologise").await.len(), audit0 + 1);
    assert_eq!(outbox_count(db, "dossier.apologised").await, outbox0 + 1);
    // A second apology moves the date again; the first promised date stays.
    let second = cal.add_working_days(first, 2);
    forms::apologise(
        db,
        &ctx_of(&s.officer),
        &late,
        &s.officer,
        &apology(REASON, second),
    )
    .await
    .unwrap();
    assert_eq!(original_due(db, &late).await.as_deref(), Some(y.as_str()));
    // Form 04 says what the last apology said.
    let d = dossier::get(db, &late).await.unwrap().unwrap();
    let n = forms::notice(&d, Notice::Apology, None).unwrap();
    assert_eq!(n.reason, REASON);
    assert_eq!(n.new_due, Some(second.format("%Y-%m-%d").to_string()));
    assert_eq!(n.old_due, Some(first.format("%Y-%m-%d").to_string()));
    assert_eq!(forms::notices(&d).len(), 2);
    // Both finished today: the apologised one by its new date, the other within its limit.
    for code in [&late, &on_time] {
        for (p, a) in [
            (&s.one_stop, "forward"),
            (&s.officer, "forward"),
            (&s.leader, "approve"),
        ] {
            act(db, p, code, a, "").await.unwrap();
        }
    }
    let tomorrow = today.succ_opt().unwrap();
    let codes = vec![UBND_TAM_THANH.to_string()];
    let counts = tinhso_services::indicators::counts(db, today, tomorrow, Some(&codes))
        .await
        .unwrap();
    let c = counts[UBND_TAM_THANH];
    assert_eq!(
        (c.finished, c.on_time),
        (2, 1),
        "the apologised dossier is late"
    );
    // The register says the same, row by row.
    let r = forms::register(db, &s.one_stop, UBND_TAM_THANH, today, tomorrow, 100)
        .await
        .unwrap();
    let row = |code: &str| r.rows.iter().find(|x| x.code == code).unwrap();
    assert_eq!(row(&late).outcome, Outcome::Late);
    assert_eq!(row(&late).original_due_date.as_deref(), Some(y.as_str()));
    assert_eq!(row(&on_time).outcome, Outcome::OnTime);
    // Form 06 of the apologised dossier: reception and three handovers, each timed against
    // its step's share of the 15 working days from acceptance today (so early or on time).
    let p = tinhso_services::catalogue::version(db, GPXD, 1)
        .await
        .unwrap();
    let slip = forms::control_slip(&d_of(db, &late).await, p.as_ref(), &cal);
    assert!(slip.shares);
    assert_eq!(slip.rows.len(), 4, "{:?}", slip.rows);
    assert_eq!(slip.rows[0].giver_unit, "Người nộp hồ sơ");
    assert_eq!(slip.rows[0].receiver, s.one_stop.display_name);
    assert_eq!(slip.rows[1].giver, s.one_stop.display_name);
    assert_eq!(slip.rows[1].receiver, s.officer.display_name);
    assert_eq!(slip.rows[3].giver, s.leader.display_name);
    for r in &slip.rows[1..] {
        assert!(matches!(r.timing, Timing::Early | Timing::OnTime), "{r:?}");
        assert!(!r.deadline.is_empty());
    }
    assert_eq!(slip.original_due.as_deref(), Some(y.as_str()));
    let issuer = tinhso_services::results::issuer_of(db, UBND_TAM_THANH)
        .await
        .unwrap()
        .1;
    let pdf = forms::control_slip_pdf(&slip, &issuer, (1, 12, 2026));
    assert!(pdf.starts_with(b"%PDF-"));
    dump("mau-06.pdf", &pdf);
    let d = d_of(db, &late).await;
    let n = forms::notice(&d, Notice::Apology, None).unwrap();
    dump(
        "mau-04.pdf",
        &forms::notice_pdf(&forms::NoticeDoc {
            issuer: issuer.clone(),
            data: n,
            tracking_url: "https://dichvucong.example/tra-cuu?ma_ho_so=X&ma=Y".into(),
            components: Vec::new(),
        }),
    );
    assert_eq!(pdf, forms::control_slip_pdf(&slip, &issuer, (1, 12, 2026)));
}

/// Save a PDF for a look when `TINHSO_DUMP_FORMS` names a directory.
fn dump(name: &str, bytes: &[u8]) {
    if let Ok(dir) = std::env::var("TINHSO_DUMP_FORMS") {
        std::fs::write(std::path::Path::new(&dir).join(name), bytes).unwrap();
    }
}

async fn d_of(db: &Db, code: &str) -> Dossier {
    dossier::get(db, code).await.unwrap().unwrap()
}

#[tokio::test]
async fn notices_come_from_their_events_and_the_register_exports_csv() {
    let t = env().await;
    let db = &t.db;
    let s = tam_thanh_staff(db).await;
    let today = dossier::today_local();
    // Form 02 from the supplement request, form 03 from the refusal.
    let a = submit_anon(db, &birth(TAM_THANH)).await.dossier.code;
    act(
        db,
        &s.one_stop,
        &a,
        "request_supplement",
        "Bổ sung giấy chứng sinh, bản sao rõ nét",
    )
    .await
    .unwrap();
    let b = submit_anon(db, &birth(TAM_THANH)).await.dossier.code;
    act(
        db,
        &s.one_stop,
        &b,
        "refuse",
        "Hồ sơ không thuộc thẩm quyền của phường",
    )
    .await
    .unwrap();
    let da = d_of(db, &a).await;
    assert!(forms::notice(&da, Notice::Refusal, None).is_none());
    let n = forms::notice(&da, Notice::Supplement, None).unwrap();
    assert_eq!(n.form, "02");
    assert_eq!(n.reason, "Bổ sung giấy chứng sinh, bản sao rõ nét");
    assert_eq!(n.officer, s.one_stop.display_name);
    assert!(n.signed);
    assert!(forms::notice(&da, Notice::Supplement, Some(n.seq + 5)).is_none());
    let issuer = tinhso_services::results::issuer_of(db, UBND_TAM_THANH)
        .await
        .unwrap()
        .1;
    let doc = forms::NoticeDoc {
        issuer: issuer.clone(),
        data: n,
        tracking_url: "https://dichvucong.example/tra-cuu".into(),
        components: vec!["Giấy chứng sinh".into()],
    };
    let pdf = forms::notice_pdf(&doc);
    assert!(pdf.starts_with(b"%PDF-"));
    dump("mau-02.pdf", &pdf);
    assert_eq!(pdf, forms::notice_pdf(&doc), "deterministic");
    let r = forms::notice(&d_of(db, &b).await, Notice::Refusal, None).unwrap();
    assert_eq!(
        (r.form, r.reason.as_str()),
        ("03", "Hồ sơ không thuộc thẩm quyền của phường")
    );
    assert!(forms::notice_pdf(&forms::NoticeDoc {
        issuer,
        data: r,
        tracking_url: String::new(),
        components: Vec::new(),
    })
    .starts_with(b"%PDF-"));
    // The register: both dossiers, oldest first; another commune's officer is refused; the
    // cap cuts and says so.
    let tomorrow = today.succ_opt().unwrap();
    let reg = forms::register(db, &s.officer, UBND_TAM_THANH, today, tomorrow, 100)
        .await
        .unwrap();
    let codes: Vec<&str> = reg.rows.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes, [a.as_str(), b.as_str()]);
    assert!(!reg.truncated);
    assert_eq!(reg.rows[1].outcome, Outcome::Closed);
    assert!(reg.rows[0].procedure.starts_with("Đăng ký khai sinh"));
    assert_code(
        forms::register(db, &s.other_commune, UBND_TAM_THANH, today, tomorrow, 100).await,
        ErrorCode::Forbidden,
    );
    let cut = forms::register(db, &s.officer, UBND_TAM_THANH, today, tomorrow, 1)
        .await
        .unwrap();
    assert!(cut.truncated && cut.rows.len() == 1);
    let csv = String::from_utf8(forms::register_csv(&reg)).unwrap();
    assert!(csv.starts_with('\u{feff}'), "BOM for Excel");
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').split("\r\n").collect();
    assert_eq!(
        lines.len(),
        2 + 2,
        "header, two rows, empty tail: {lines:?}"
    );
    assert!(lines[0].starts_with("STT,Mã hồ sơ,Mã thủ tục"));
    assert!(lines[1].starts_with(&format!("1,{a},1.001193,")));
    assert_eq!(lines[3], "");
    let cut_csv = String::from_utf8(forms::register_csv(&cut)).unwrap();
    assert!(cut_csv.contains("Chỉ liệt kê 1 hồ sơ đầu tiên"));
    let pdf = forms::register_pdf(&reg, &doc.issuer, (1, 12, 2026));
    assert!(pdf.starts_with(b"%PDF-"));
    dump("mau-07.pdf", &pdf);
}

#[tokio::test]
async fn a_supplement_pause_moves_the_first_promised_date_too() {
    let t = env().await;
    let db = &t.db;
    let s = tam_thanh_staff(db).await;
    let cal = calendar(db).await;
    let today = dossier::today_local();
    let yesterday = today.pred_opt().unwrap();
    let code = accepted_permit(db, &s).await;
    set_due(db, &code, yesterday).await;
    let new_due = cal.add_working_days(today, 1);
    forms::apologise(
        db,
        &ctx_of(&s.one_stop),
        &code,
        &s.one_stop,
        &apology(REASON, new_due),
    )
    .await
    .unwrap();
    act(
        db,
        &s.one_stop,
        &code,
        "request_supplement",
        "Bổ sung bản vẽ mặt cắt",
    )
    .await
    .unwrap();
    // The applicant answers ten days after the request.
    let asked = today - chrono::Duration::days(10);
    sqlx::query("UPDATE dossiers SET paused_since = $1 WHERE code = $2")
        .bind(local_micros(
            chrono::Datelike::year(&asked),
            chrono::Datelike::month(&asked),
            chrono::Datelike::day(&asked),
            9,
            0,
        ))
        .bind(&code)
        .execute(db.pool())
        .await
        .unwrap();
    applicant_act(db, &code, &input("supplement", ""))
        .await
        .unwrap();
    let days = cal.working_days_between(asked, today) as u32;
    assert!(days >= 6, "{days}");
    let d = d_of(db, &code).await;
    assert_eq!(
        d.due_date,
        Some(
            cal.add_working_days(new_due, days)
                .format("%Y-%m-%d")
                .to_string()
        )
    );
    assert_eq!(
        original_due(db, &code).await,
        Some(
            cal.add_working_days(yesterday, days)
                .format("%Y-%m-%d")
                .to_string()
        ),
        "the measure moves with the pause, as the promised date does"
    );
}

#[tokio::test]
async fn the_applicant_is_mailed_the_apology_and_new_date() {
    use tinhso_notify::smtp_sink::SmtpSink;
    use tinhso_store::outbox::Dispatcher;
    let t = fresh(&[
        STORE_MIGRATIONS,
        tinhso_identity::MIGRATIONS,
        tinhso_refdata::MIGRATIONS,
        tinhso_services::MIGRATIONS,
        tinhso_notify::MIGRATIONS,
    ])
    .await;
    let db = &t.db;
    tinhso_refdata::agencies::seed(db, &sys()).await.unwrap();
    tinhso_services::catalogue::seed(db, &sys()).await.unwrap();
    let sink = SmtpSink::start().await.unwrap();
    let mailer = tinhso_notify::SmtpMailer::from_url(
        &sink.url(),
        "Cổng dịch vụ công tỉnh Lạng Sơn <noreply@langson.gov.vn>",
    )
    .unwrap();
    let s = tam_thanh_staff(db).await;
    let mut sub = building_permit();
    sub.applicant.email = "hoangthimai@example.vn".into();
    let code = submit_anon(db, &sub).await.dossier.code;
    act(db, &s.one_stop, &code, "accept", "").await.unwrap();
    // Mails of the submission and the acceptance first.
    let dispatcher = tinhso_services::notify::Notifier::new(
        db.clone(),
        mailer,
        "https://dichvucong.langson.gov.vn",
    )
    .subscribe(Dispatcher::builder(db.clone()))
    .build();
    dispatcher.run_once().await.unwrap();
    let before = sink.messages().len();
    let cal = calendar(db).await;
    let today = dossier::today_local();
    set_due(db, &code, today.pred_opt().unwrap()).await;
    let new_due = cal.add_working_days(today, 2);
    forms::apologise(
        db,
        &ctx_of(&s.one_stop),
        &code,
        &s.one_stop,
        &apology(REASON, new_due),
    )
    .await
    .unwrap();
    assert_eq!(dispatcher.run_once().await.unwrap(), 1);
    let got = sink.messages();
    assert_eq!(got.len(), before + 1);
    let m = got.last().unwrap();
    let date = new_due.format("%d/%m/%Y").to_string();
    assert_eq!(
        m.subject,
        format!("Hồ sơ {code}: xin lỗi và hẹn lại ngày trả kết quả {date}")
    );
    assert!(m.text.contains(REASON), "{}", m.text);
    assert!(
        m.text
            .contains(&format!("Ngày hẹn trả kết quả mới: {date}.")),
        "{}",
        m.text
    );
}
