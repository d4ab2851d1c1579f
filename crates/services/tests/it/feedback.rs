//! Satisfaction ratings and PAKN (phản ánh, kiến nghị): one rating per finished dossier by its
//! applicant, the PAKN life cycle with its audit and outbox, officers of another agency refused,
//! a wrong lookup code answered like an unknown dossier, and complaints lowering the Decision
//! 766 satisfaction indicator.

use super::*;
use tinhso_services::feedback::{self, ActionInput, NewFeedback, RatingInput};
use tinhso_services::indicators;

/// A birth registration at Tam Thanh taken to "result returned" (10) through `transition`.
async fn returned_dossier(db: &Db, s: &Staff) -> Receipt {
    let r = submit_anon(db, &birth(TAM_THANH)).await;
    for (p, a) in [
        (&s.one_stop, "accept"),
        (&s.one_stop, "forward"),
        (&s.officer, "forward"),
        (&s.leader, "approve"),
        (&s.one_stop, "return_result"),
    ] {
        act(db, p, &r.dossier.code, a, "").await.unwrap();
    }
    r
}

fn applicant() -> ActingAs<'static> {
    ActingAs::Applicant {
        principal: None,
        name: "Hoàng Thị Mai",
    }
}

fn rating(level: &str, comment: &str) -> RatingInput {
    RatingInput {
        level: level.into(),
        comment: comment.into(),
    }
}

async fn outbox_topic(db: &Db, topic: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE topic = $1")
        .bind(topic)
        .fetch_one(db.pool())
        .await
        .unwrap()
}

/// A complaint about a dossier, proven by its lookup code.
fn complaint(code: &str, lookup: &str) -> NewFeedback {
    NewFeedback {
        kind: "kien_nghi".into(),
        name: "Hoàng Thị Mai".into(),
        phone: "0912 345 678".into(),
        email: String::new(),
        agency_code: String::new(),
        dossier_code: code.into(),
        lookup_code: lookup.into(),
        subject: "Trả kết quả chậm".into(),
        content: "Tôi phải đến ba lần mới nhận được kết quả đăng ký khai sinh.".into(),
    }
}

#[tokio::test]
async fn a_finished_dossier_is_rated_once_by_its_applicant() {
    let t = env().await;
    let db = &t.db;
    let s = tam_thanh_staff(db).await;

    // Not finished yet: 409, nothing written.
    let open = submit_anon(db, &birth(TAM_THANH)).await.dossier;
    let e = assert_code(
        feedback::rate(db, &anon(), &open, applicant(), &rating("hai_long", "")).await,
        ErrorCode::Conflict,
    );
    assert!(e.detail_vi.unwrap_or_default().contains("giải quyết xong"));

    let r = returned_dossier(db, &s).await;
    let d = dossier::get(db, &r.dossier.code).await.unwrap().unwrap();
    assert_eq!(d.status, 10);
    let before = (count(db, "dossier_ratings").await, footprint(db).await);

    // Bad input: every field error at once, nothing written.
    let e = assert_code(
        feedback::rate(
            db,
            &anon(),
            &d,
            applicant(),
            &rating("tuyệt vời", &"x".repeat(2001)),
        )
        .await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(
        fields(&e),
        [("level".into(), "level"), ("comment".into(), "too_long")]
    );
    // Staff do not rate on the applicant's behalf.
    assert_code(
        feedback::rate(
            db,
            &ctx_of(&s.one_stop),
            &d,
            ActingAs::Staff(&s.one_stop),
            &rating("rat_hai_long", ""),
        )
        .await,
        ErrorCode::Forbidden,
    );
    assert_eq!(
        (count(db, "dossier_ratings").await, footprint(db).await),
        before
    );

    let got = feedback::rate(
        db,
        &anon(),
        &d,
        applicant(),
        &rating("rat_hai_long", "  Cán bộ hướng dẫn tận tình  "),
    )
    .await
    .unwrap();
    assert_eq!(
        (got.level.as_str(), got.level_code, got.level_vi.as_str()),
        ("rat_hai_long", 3, "Rất hài lòng")
    );
    assert_eq!(got.comment, "Cán bộ hướng dẫn tận tình");
    assert_eq!(got.agency_code, UBND_TAM_THANH);
    assert_eq!(
        feedback::rating(db, &d.code).await.unwrap(),
        Some(got.clone())
    );
    let audit = audited(db, "dossier.rate").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].target_id, d.code);
    assert_eq!(outbox_topic(db, "dossier.rated").await, 1);

    // A second rating, even a different one: 409, the first one stays.
    let e = assert_code(
        feedback::rate(db, &anon(), &d, applicant(), &rating("1", "")).await,
        ErrorCode::Conflict,
    );
    assert!(e
        .detail_en
        .unwrap_or_default()
        .contains("already been rated"));
    assert_eq!(feedback::rating(db, &d.code).await.unwrap(), Some(got));
    assert_eq!(count(db, "dossier_ratings").await, 1);
    assert_eq!(outbox_topic(db, "dossier.rated").await, 1);
}

#[tokio::test]
async fn pakn_goes_from_received_to_closed_audited_and_announced() {
    let t = env().await;
    let db = &t.db;
    let s = tam_thanh_staff(db).await;
    let r = returned_dossier(db, &s).await;

    let sent = feedback::send(
        db,
        &anon(),
        None,
        &complaint(&r.dossier.code.to_lowercase(), &r.lookup_code),
    )
    .await
    .unwrap();
    let f = &sent.feedback;
    assert!(f.code.starts_with("PAKN-"), "{}", f.code);
    assert_eq!(f.code.len(), "PAKN-261129-0001".len());
    assert_eq!(sent.lookup_code, feedback::lookup_code(&f.code));
    assert_eq!(
        (f.status.as_str(), f.kind.as_str(), f.agency_code.as_str()),
        ("received", "kien_nghi", UBND_TAM_THANH)
    );
    assert_eq!(f.dossier_code.as_deref(), Some(r.dossier.code.as_str()));
    assert_eq!(f.sender_phone, "0912345678");
    // Due in 10 working days on the working calendar.
    let cal = tinhso_refdata::calendar::working_calendar(db)
        .await
        .unwrap();
    let due = cal.add_working_days(dossier::today_local(), 10);
    assert_eq!(f.due_date, due.format("%Y-%m-%d").to_string());
    assert_eq!(f.allowed_actions, ["start", "answer", "reject"]);
    assert_eq!(audited(db, "feedback.send").await.len(), 1);
    assert_eq!(outbox_topic(db, "feedback.received").await, 1);

    // The sender tracks it with the lookup code (any case, with a dash).
    let lower = format!(
        "{}-{}",
        &sent.lookup_code[..4].to_lowercase(),
        &sent.lookup_code[4..]
    );
    let tracked = feedback::track(db, &f.code.to_lowercase(), &lower)
        .await
        .unwrap();
    assert_eq!(tracked.code, f.code);
    // A wrong lookup code looks exactly like an unknown PAKN.
    let wrong = assert_code(
        feedback::track(db, &f.code, "AAAAAAAA").await,
        ErrorCode::NotFound,
    );
    let unknown = assert_code(
        feedback::track(db, "PAKN-000101-0001", &sent.lookup_code).await,
        ErrorCode::NotFound,
    );
    assert_eq!(wrong.to_string(), unknown.to_string());

    let action = |a: &str, text: &str| ActionInput {
        action: a.into(),
        text: text.into(),
    };
    let officer = &s.officer;
    let f1 = feedback::act(db, &ctx_of(officer), &f.code, officer, &action("start", ""))
        .await
        .unwrap();
    assert_eq!(f1.status, "processing");
    // An answer too short: field error, nothing changes.
    let e = assert_code(
        feedback::act(
            db,
            &ctx_of(officer),
            &f.code,
            officer,
            &action("answer", "Đã xem"),
        )
        .await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(fields(&e), [("text".into(), "too_short")]);
    assert_eq!(
        feedback::get(db, &f.code).await.unwrap().unwrap().status,
        "processing"
    );
    let answer =
        "UBND phường đã kiểm tra và chấn chỉnh bộ phận một cửa; xin lỗi bà vì sự chậm trễ.";
    let f2 = feedback::act(
        db,
        &ctx_of(officer),
        &f.code,
        officer,
        &action("answer", answer),
    )
    .await
    .unwrap();
    assert_eq!(
        (f2.status.as_str(), f2.answer.as_str()),
        ("answered", answer)
    );
    assert_eq!(f2.handler_name, officer.display_name);
    assert!(f2.answered_at.is_some());
    // Closing, then nothing more: 409 naming no legal action.
    let f3 = feedback::act(db, &ctx_of(officer), &f.code, officer, &action("close", ""))
        .await
        .unwrap();
    assert_eq!(f3.status, "closed");
    assert!(f3.allowed_actions.is_empty() && f3.closed_at.is_some());
    let e = assert_code(
        feedback::act(
            db,
            &ctx_of(officer),
            &f.code,
            officer,
            &action("answer", answer),
        )
        .await,
        ErrorCode::Conflict,
    );
    assert!(e.detail_vi.unwrap_or_default().contains("đã kết thúc"));
    for a in ["feedback.start", "feedback.answer", "feedback.close"] {
        let entries = audited(db, a).await;
        assert_eq!(entries.len(), 1, "{a}");
        assert_eq!(entries[0].actor, officer.actor());
    }
    assert_eq!(outbox_topic(db, "feedback.status_changed").await, 3);
    // The sender reads the answer.
    let seen = feedback::track(db, &f.code, &sent.lookup_code)
        .await
        .unwrap();
    assert_eq!(
        (seen.status.as_str(), seen.answer.as_str()),
        ("closed", answer)
    );

    // Rejection needs a reason, and ends it.
    let other = feedback::send(
        db,
        &anon(),
        None,
        &NewFeedback {
            kind: "phan_anh".into(),
            agency_code: UBND_TAM_THANH.into(),
            dossier_code: String::new(),
            lookup_code: String::new(),
            phone: String::new(),
            email: "mai@example.vn".into(),
            ..complaint("", "")
        },
    )
    .await
    .unwrap()
    .feedback;
    assert_eq!(other.dossier_code, None);
    let e = assert_code(
        feedback::act(
            db,
            &ctx_of(officer),
            &other.code,
            officer,
            &action("reject", ""),
        )
        .await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(fields(&e), [("text".into(), "too_short")]);
    let rej = feedback::act(
        db,
        &ctx_of(officer),
        &other.code,
        officer,
        &action("reject", "Nội dung trùng phản ánh đã trả lời"),
    )
    .await
    .unwrap();
    assert_eq!(rej.status, "rejected");
    assert_eq!(rej.reason, "Nội dung trùng phản ánh đã trả lời");
}

#[tokio::test]
async fn bad_pakn_names_every_field_and_writes_nothing() {
    let t = env().await;
    let db = &t.db;
    let r = submit_anon(db, &birth(TAM_THANH)).await;
    let before = (count(db, "feedback").await, footprint(db).await);

    let e = assert_code(
        feedback::send(
            db,
            &anon(),
            None,
            &NewFeedback {
                kind: "to_cao".into(),
                name: "M".into(),
                phone: "12345".into(),
                email: "mai@".into(),
                agency_code: String::new(),
                dossier_code: String::new(),
                lookup_code: String::new(),
                subject: "Hỏi".into(),
                content: "Ngắn".into(),
            },
        )
        .await,
        ErrorCode::ValidationFailed,
    );
    let got: Vec<String> = fields(&e).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        got,
        [
            "kind",
            "name",
            "phone",
            "email",
            "subject",
            "content",
            "agency_code"
        ]
    );
    // Neither phone nor e-mail.
    let e = assert_code(
        feedback::send(
            db,
            &anon(),
            None,
            &NewFeedback {
                phone: String::new(),
                ..complaint(&r.dossier.code, &r.lookup_code)
            },
        )
        .await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(fields(&e), [("phone".into(), "contact_required")]);
    // An unknown agency.
    let e = assert_code(
        feedback::send(
            db,
            &anon(),
            None,
            &NewFeedback {
                agency_code: "000.99.99.H37".into(),
                ..complaint("", "")
            },
        )
        .await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(fields(&e), [("agency_code".into(), "agency_unknown")]);
    // About a dossier: the lookup code is required; a wrong one is answered exactly like an
    // unknown dossier.
    let e = assert_code(
        feedback::send(db, &anon(), None, &complaint(&r.dossier.code, "")).await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(fields(&e), [("lookup_code".into(), "required")]);
    let wrong = assert_code(
        feedback::send(db, &anon(), None, &complaint(&r.dossier.code, "ZZZZZZZZ")).await,
        ErrorCode::ValidationFailed,
    );
    let unknown = assert_code(
        feedback::send(
            db,
            &anon(),
            None,
            &complaint("000.00.23.H37-000101-0001", &r.lookup_code),
        )
        .await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(
        fields(&wrong),
        [("dossier_code".into(), "dossier_not_found")]
    );
    assert_eq!(wrong.fields, unknown.fields);
    assert_eq!(
        (count(db, "feedback").await, footprint(db).await),
        before,
        "a refused PAKN leaves no trace"
    );
}

#[tokio::test]
async fn officers_of_another_agency_cannot_handle_a_pakn() {
    let t = env().await;
    let db = &t.db;
    let s = tam_thanh_staff(db).await;
    let r = submit_anon(db, &birth(TAM_THANH)).await;
    let f = feedback::send(
        db,
        &anon(),
        None,
        &complaint(&r.dossier.code, &r.lookup_code),
    )
    .await
    .unwrap()
    .feedback;
    let audit_before = count(db, "audit_log").await;
    let e = assert_code(
        feedback::act(
            db,
            &ctx_of(&s.other_commune),
            &f.code,
            &s.other_commune,
            &ActionInput {
                action: "start".into(),
                text: String::new(),
            },
        )
        .await,
        ErrorCode::Forbidden,
    );
    assert_eq!(e.code.http_status(), 403);
    assert_eq!(
        feedback::get(db, &f.code).await.unwrap().unwrap().status,
        "received"
    );
    assert_eq!(count(db, "audit_log").await, audit_before);
    // A citizen is no officer either.
    let citizen = citizen(db, "020090012345", "Nguyễn Văn Bình").await;
    assert_code(
        feedback::act(
            db,
            &ctx_of(&citizen),
            &f.code,
            &citizen,
            &ActionInput {
                action: "start".into(),
                text: String::new(),
            },
        )
        .await,
        ErrorCode::Forbidden,
    );
    // The queue of Tam Thanh lists it; Đông Kinh's does not.
    let tam_thanh = feedback::list(
        db,
        &feedback::FeedbackFilter {
            agency_codes: Some(vec![UBND_TAM_THANH.into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(tam_thanh.len(), 1);
    let dong_kinh = feedback::list(
        db,
        &feedback::FeedbackFilter {
            agency_codes: Some(vec![UBND_DONG_KINH.into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(dong_kinh.is_empty());
}

#[tokio::test]
async fn a_complaint_about_a_dossier_lowers_satisfaction() {
    let t = env().await;
    let db = &t.db;
    let s = tam_thanh_staff(db).await;
    let a = returned_dossier(db, &s).await;
    let b = returned_dossier(db, &s).await;
    let today = dossier::today_local();
    let (from, to) = (today, today.succ_opt().unwrap());
    let only = [UBND_TAM_THANH.to_string()];
    let satisfaction = || async {
        indicators::report(db, from, to, Some(&only))
            .await
            .unwrap()
            .total
            .get("satisfaction")
            .unwrap()
            .clone()
    };
    let sat = satisfaction().await;
    assert_eq!(
        (sat.numerator, sat.denominator, sat.value),
        (Some(2), Some(2), Some(100.0))
    );
    assert_eq!(sat.complaints, Some(0));

    // Feedback (phản ánh) about a dossier is not a complaint: unchanged.
    feedback::send(
        db,
        &anon(),
        None,
        &NewFeedback {
            kind: "phan_anh".into(),
            ..complaint(&a.dossier.code, &a.lookup_code)
        },
    )
    .await
    .unwrap();
    assert_eq!(satisfaction().await.value, Some(100.0));

    // A complaint (kiến nghị) about one of the two: 100% − 50%.
    let k = feedback::send(
        db,
        &anon(),
        None,
        &complaint(&a.dossier.code, &a.lookup_code),
    )
    .await
    .unwrap()
    .feedback;
    let sat = satisfaction().await;
    assert_eq!(
        (sat.numerator, sat.denominator, sat.value, sat.complaints),
        (Some(1), Some(2), Some(50.0), Some(1))
    );
    assert_eq!(sat.complaints_counted, Some(true));
    assert_eq!(sat.score, Some(10.0));
    // A second complaint about the same dossier counts the dossier once.
    feedback::send(
        db,
        &anon(),
        None,
        &complaint(&a.dossier.code, &a.lookup_code),
    )
    .await
    .unwrap();
    assert_eq!(satisfaction().await.complaints, Some(1));

    // Ratings show beside it.
    let db_a = dossier::get(db, &b.dossier.code).await.unwrap().unwrap();
    feedback::rate(
        db,
        &anon(),
        &db_a,
        applicant(),
        &rating("khong_hai_long", ""),
    )
    .await
    .unwrap();
    let r = satisfaction().await.ratings.unwrap();
    assert_eq!((r.khong_hai_long, r.total), (1, 1));

    // Rejected complaints do not count: reject both about A and it is back to 100%.
    let all = feedback::list(
        db,
        &feedback::FeedbackFilter {
            dossier_code: Some(a.dossier.code.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(all.len(), 3);
    for f in all.iter().filter(|f| f.kind == "kien_nghi") {
        feedback::act(
            db,
            &ctx_of(&s.officer),
            &f.code,
            &s.officer,
            &ActionInput {
                action: "reject".into(),
                text: "Đã giải quyết tại quầy".into(),
            },
        )
        .await
        .unwrap();
    }
    assert!(all.iter().any(|f| f.code == k.code));
    assert_eq!(satisfaction().await.value, Some(100.0));
}
