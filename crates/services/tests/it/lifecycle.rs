//! The one-stop life cycle through `transition`, with real staff principals.

use super::*;
use tinhso_services::status::Status;

async fn status_of(db: &Db, code: &str) -> i64 {
    dossier::get(db, code).await.unwrap().unwrap().status
}

#[tokio::test]
async fn a_birth_registration_from_submission_to_result() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let code = submit_anon(&t.db, &birth(TAM_THANH)).await.dossier.code;

    let d = act(&t.db, &s.one_stop, &code, "accept", "").await.unwrap();
    assert_eq!(d.status, Status::Accepted.code());
    assert_eq!(d.fee_vnd, 8000, "fee computed from the procedure");
    assert_eq!(d.paid_vnd, 0);
    let accepted = d.accepted_at.expect("accepted_at");
    assert!(accepted >= d.submitted_at);
    assert!(d.due_date.is_some());
    assert_eq!(d.step, "tiep_nhan");
    assert_eq!(
        d.allowed_actions,
        [
            "request_supplement",
            "forward",
            "request_payment",
            "withdraw",
            "stop"
        ]
    );

    let d = act(&t.db, &s.one_stop, &code, "forward", "").await.unwrap();
    assert_eq!((d.status, d.step.as_str()), (4, "tham_dinh"));
    assert_eq!(d.step_name, "Thẩm định, xử lý hồ sơ");
    let d = act(&t.db, &s.officer, &code, "forward", "").await.unwrap();
    assert_eq!((d.status, d.step.as_str()), (4, "phe_duyet"));
    // Approval is the last processing step: forward stops there.
    let e = assert_code(
        act(&t.db, &s.officer, &code, "forward", "").await,
        ErrorCode::Conflict,
    );
    assert!(e.detail_en.unwrap().contains("approve"));

    // Approving needs DossierApprove in the dossier's agency.
    let before = footprint(&t.db).await;
    for p in [&s.specialist, &s.officer, &s.one_stop, &s.other_commune] {
        let e = assert_code(
            act(&t.db, p, &code, "approve", "").await,
            ErrorCode::Forbidden,
        );
        assert_eq!(e.status(), 403);
    }
    let dong_kinh_leader = staff(
        &t.db,
        "lanhdao.dongkinh",
        UBND_DONG_KINH,
        Role::DepartmentLeader,
        Scope::Agency(UBND_DONG_KINH.into()),
    )
    .await;
    let before_leader = footprint(&t.db).await;
    assert_eq!(before_leader[..3], before[..3]);
    assert_code(
        act(&t.db, &dong_kinh_leader, &code, "approve", "").await,
        ErrorCode::Forbidden,
    );
    assert_eq!(footprint(&t.db).await, before_leader);
    assert_eq!(status_of(&t.db, &code).await, 4);

    let d = act(&t.db, &s.leader, &code, "approve", "").await.unwrap();
    assert_eq!(d.status, Status::Done.code());
    assert!(d.finished_at.is_some());
    assert_eq!(d.step, "tra_ket_qua");
    assert_eq!(d.allowed_actions, ["return_result"]);

    let d = act(&t.db, &s.one_stop, &code, "return_result", "")
        .await
        .unwrap();
    assert_eq!(d.status, 10);
    assert_eq!(d.status_vi, "Đã trả kết quả");
    assert!(d.returned_at.is_some());
    assert!(d.allowed_actions.is_empty());

    let trail: Vec<(i64, &str, i64, i64, &str)> = d
        .events
        .iter()
        .map(|e| {
            (
                e.seq,
                e.action.as_str(),
                e.from_status,
                e.to_status,
                e.step.as_str(),
            )
        })
        .collect();
    assert_eq!(
        trail,
        [
            (1, "submit", 0, 1, "tiep_nhan"),
            (2, "accept", 1, 2, "tiep_nhan"),
            (3, "forward", 2, 4, "tham_dinh"),
            (4, "forward", 4, 4, "phe_duyet"),
            (5, "approve", 4, 9, "tra_ket_qua"),
            (6, "return_result", 9, 10, "tra_ket_qua"),
        ]
    );
    assert_eq!(d.events[1].actor_name, s.one_stop.display_name);
    assert_eq!(d.events[3].actor_name, s.officer.display_name);
    assert_eq!(d.events[4].actor_name, s.leader.display_name);

    // A final status allows nothing, and says so.
    for action in ["accept", "forward", "return_result", "stop"] {
        let e = assert_code(
            act(&t.db, &s.leader, &code, action, "Lý do bất kỳ").await,
            ErrorCode::Conflict,
        );
        assert!(
            e.detail_en
                .as_deref()
                .unwrap()
                .contains("none (the dossier is closed)"),
            "{e}"
        );
        assert!(e.detail_vi.as_deref().unwrap().contains("không có"));
    }
    assert_code(
        applicant_act(&t.db, &code, &input("withdraw", "Không cần nữa")).await,
        ErrorCode::Conflict,
    );
}

#[tokio::test]
async fn approval_waits_for_the_approval_step() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let code = submit_anon(&t.db, &birth(TAM_THANH)).await.dossier.code;
    act(&t.db, &s.one_stop, &code, "accept", "").await.unwrap();
    let d = act(&t.db, &s.one_stop, &code, "forward", "").await.unwrap();
    assert_eq!(d.step, "tham_dinh");
    // The leader cannot skip the appraisal step.
    let before = footprint(&t.db).await;
    let e = assert_code(
        act(&t.db, &s.leader, &code, "approve", "").await,
        ErrorCode::Conflict,
    );
    assert!(e.detail_en.unwrap().contains("forward"));
    assert_eq!(footprint(&t.db).await, before);
    act(&t.db, &s.officer, &code, "forward", "").await.unwrap();
    let d = act(&t.db, &s.leader, &code, "approve", "").await.unwrap();
    assert_eq!(d.status, 9);
}

#[tokio::test]
async fn refusal_needs_a_reason_and_ends_the_dossier() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let code = submit_anon(&t.db, &birth(TAM_THANH)).await.dossier.code;
    let before = footprint(&t.db).await;
    for reason in ["", "   ", "abc", " a   b ", "thiế"] {
        let e = assert_code(
            act(&t.db, &s.one_stop, &code, "refuse", reason).await,
            ErrorCode::ValidationFailed,
        );
        assert_eq!(e.status(), 422);
        assert_eq!(fields(&e), [("reason".to_string(), "reason_required")]);
    }
    assert_eq!(footprint(&t.db).await, before);
    let d = act(
        &t.db,
        &s.one_stop,
        &code,
        "refuse",
        "  Hồ sơ không thuộc   thẩm quyền ",
    )
    .await
    .unwrap();
    assert_eq!(d.status, Status::Refused.code());
    assert!(d.finished_at.is_some());
    assert!(d.allowed_actions.is_empty());
    assert_eq!(d.events[1].reason, "Hồ sơ không thuộc thẩm quyền");
    assert_code(
        act(&t.db, &s.one_stop, &code, "accept", "").await,
        ErrorCode::Conflict,
    );
    // Stop needs a reason too.
    let code = submit_anon(&t.db, &birth(TAM_THANH)).await.dossier.code;
    act(&t.db, &s.one_stop, &code, "accept", "").await.unwrap();
    assert_code(
        act(&t.db, &s.officer, &code, "stop", "").await,
        ErrorCode::ValidationFailed,
    );
    let d = act(&t.db, &s.officer, &code, "stop", "Người nộp đã chết")
        .await
        .unwrap();
    assert_eq!(d.status, 8);
    assert!(d.allowed_actions.is_empty());
}

#[tokio::test]
async fn an_illegal_transition_names_the_legal_ones() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let code = submit_anon(&t.db, &birth(TAM_THANH)).await.dossier.code;
    let before = footprint(&t.db).await;
    let e = assert_code(
        act(&t.db, &s.leader, &code, "approve", "").await,
        ErrorCode::Conflict,
    );
    assert_eq!(e.status(), 409);
    let en = e.detail_en.unwrap();
    assert!(
        en.contains("Allowed: accept, refuse, request_supplement, withdraw"),
        "{en}"
    );
    assert!(en.contains("Submitted"), "{en}");
    let vi = e.detail_vi.unwrap();
    assert!(
        vi.contains("accept, refuse, request_supplement, withdraw"),
        "{vi}"
    );
    assert!(vi.contains("Mới đăng ký"), "{vi}");
    for action in [
        "forward",
        "return_result",
        "payment_received",
        "request_payment",
    ] {
        assert_code(
            act(&t.db, &s.one_stop, &code, action, "").await,
            ErrorCode::Conflict,
        );
    }
    // The applicant's own action from the wrong status.
    let e = assert_code(
        applicant_act(&t.db, &code, &input("supplement", "")).await,
        ErrorCode::Conflict,
    );
    assert!(e.detail_en.unwrap().contains("Allowed:"));
    // An unknown action.
    let e = assert_code(
        act(&t.db, &s.one_stop, &code, "frobnicate", "").await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(fields(&e), [("action".to_string(), "action_unknown")]);
    // An unknown dossier.
    assert_code(
        act(
            &t.db,
            &s.one_stop,
            "000.00.23.H37-990101-0001",
            "accept",
            "",
        )
        .await,
        ErrorCode::NotFound,
    );
    assert_eq!(footprint(&t.db).await, before);
    assert_eq!(status_of(&t.db, &code).await, 1);
}

#[tokio::test]
async fn only_staff_of_the_dossiers_agency_may_act() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let code = submit_anon(&t.db, &birth(TAM_THANH)).await.dossier.code;
    let so_noi_vu = staff(
        &t.db,
        "chuyenvien.noivu",
        SO_NOI_VU,
        Role::Specialist,
        Scope::Agency(SO_NOI_VU.into()),
    )
    .await;
    let province_leader = staff(
        &t.db,
        "lanhdao.tinh",
        "000.00.00.H37",
        Role::ProvinceLeader,
        Scope::Province,
    )
    .await;
    let mai = citizen(&t.db, CCCD, "Hoàng Thị Mai").await;
    let before = footprint(&t.db).await;
    for p in [&s.other_commune, &so_noi_vu, &province_leader] {
        for action in ["accept", "refuse", "request_supplement", "withdraw"] {
            let e = assert_code(
                act(&t.db, p, &code, action, "Lý do đầy đủ").await,
                ErrorCode::Forbidden,
            );
            assert_eq!(e.status(), 403);
        }
    }
    // A citizen acting as the applicant cannot take an officer's action.
    for action in ["accept", "refuse", "forward", "approve"] {
        let e = dossier::transition(
            &t.db,
            issuing(),
            &ctx_of(&mai),
            &code,
            ActingAs::Applicant {
                principal: Some(&mai),
                name: "Hoàng Thị Mai",
            },
            &input(action, "Lý do đầy đủ"),
        )
        .await;
        assert_code(e, ErrorCode::Forbidden);
    }
    assert_eq!(footprint(&t.db).await, before);
    assert_eq!(status_of(&t.db, &code).await, 1);
    // The commune officer of Tam Thanh may.
    let d = act(&t.db, &s.officer, &code, "accept", "").await.unwrap();
    assert_eq!(d.status, 2);
}

#[tokio::test]
async fn a_provincial_dossier_is_processed_by_its_department() {
    let t = env().await;
    let centre = staff(
        &t.db,
        "motcua.tinh",
        "000.00.16.H37",
        Role::OneStopOfficer,
        Scope::Agency("000.00.16.H37".into()),
    )
    .await;
    let specialist = staff(
        &t.db,
        "chuyenvien.taichinh",
        SO_TAI_CHINH,
        Role::Specialist,
        Scope::Agency(SO_TAI_CHINH.into()),
    )
    .await;
    let director = staff(
        &t.db,
        "giamdoc.taichinh",
        SO_TAI_CHINH,
        Role::DepartmentLeader,
        Scope::Agency(SO_TAI_CHINH.into()),
    )
    .await;
    let other_director = staff(
        &t.db,
        "giamdoc.noivu",
        SO_NOI_VU,
        Role::DepartmentLeader,
        Scope::Agency(SO_NOI_VU.into()),
    )
    .await;
    let code = submit_anon(&t.db, &enterprise()).await.dossier.code;
    assert_code(
        act(&t.db, &other_director, &code, "accept", "").await,
        ErrorCode::Forbidden,
    );
    let d = act(&t.db, &centre, &code, "accept", "").await.unwrap();
    assert_eq!(d.fee_vnd, 150_000);
    act(&t.db, &specialist, &code, "forward", "").await.unwrap();
    act(&t.db, &specialist, &code, "forward", "").await.unwrap();
    assert_code(
        act(&t.db, &specialist, &code, "approve", "").await,
        ErrorCode::Forbidden,
    );
    assert_code(
        act(&t.db, &other_director, &code, "approve", "").await,
        ErrorCode::Forbidden,
    );
    let d = act(&t.db, &director, &code, "approve", "").await.unwrap();
    assert_eq!(d.status, 9);
    let d = act(&t.db, &centre, &code, "return_result", "")
        .await
        .unwrap();
    assert_eq!(d.status, 10);
}

#[tokio::test]
async fn payment_request_and_receipt() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let code = submit_anon(&t.db, &building_permit()).await.dossier.code;
    let d = act(&t.db, &s.one_stop, &code, "accept", "").await.unwrap();
    assert_eq!(d.fee_vnd, 75_000);
    let d = act(&t.db, &s.one_stop, &code, "request_payment", "")
        .await
        .unwrap();
    assert_eq!(d.status, 6);
    let d = act(&t.db, &s.one_stop, &code, "payment_received", "")
        .await
        .unwrap();
    assert_eq!((d.status, d.paid_vnd), (4, 75_000));
    // Nothing left to pay.
    let e = assert_code(
        act(&t.db, &s.one_stop, &code, "request_payment", "").await,
        ErrorCode::Conflict,
    );
    assert!(e.detail_en.unwrap().contains("Nothing is left to pay"));
}

#[tokio::test]
async fn the_applicant_may_withdraw() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let code = submit_anon(&t.db, &birth(TAM_THANH)).await.dossier.code;
    act(&t.db, &s.one_stop, &code, "accept", "").await.unwrap();
    let before = footprint(&t.db).await;
    let e = assert_code(
        applicant_act(&t.db, &code, &input("withdraw", "")).await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(fields(&e), [("reason".to_string(), "reason_required")]);
    assert_eq!(footprint(&t.db).await, before);
    let d = applicant_act(&t.db, &code, &input("withdraw", "Đã nộp nhầm thủ tục"))
        .await
        .unwrap();
    assert_eq!(d.status, Status::Withdrawn.code());
    assert!(d.finished_at.is_some());
    assert!(d.allowed_actions.is_empty());
    let e = d.events.last().unwrap();
    assert_eq!(e.action, "withdraw");
    assert_eq!(e.actor_name, "Hoàng Thị Mai");
    assert_eq!(e.reason, "Đã nộp nhầm thủ tục");
    assert!(!e.signed);
    assert_eq!(e.signature, None);
    // Staff may record a withdrawal made at the counter (signed, by them).
    let code = submit_anon(&t.db, &birth(TAM_THANH)).await.dossier.code;
    let d = act(
        &t.db,
        &s.one_stop,
        &code,
        "withdraw",
        "Công dân rút tại quầy",
    )
    .await
    .unwrap();
    assert_eq!(d.status, 7);
    assert!(d.events.last().unwrap().signed);
    // ... but only staff of the agency.
    let code = submit_anon(&t.db, &birth(TAM_THANH)).await.dossier.code;
    assert_code(
        act(
            &t.db,
            &s.other_commune,
            &code,
            "withdraw",
            "Công dân rút tại quầy",
        )
        .await,
        ErrorCode::Forbidden,
    );
}

async fn paused_since(db: &Db, code: &str) -> Option<i64> {
    sqlx::query_scalar("SELECT paused_since FROM dossiers WHERE code = $1")
        .bind(code)
        .fetch_one(db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_supplement_stops_the_clock_and_pushes_the_due_date() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let calendar = tinhso_refdata::calendar::working_calendar(&t.db)
        .await
        .unwrap();
    let code = submit_anon(&t.db, &building_permit()).await.dossier.code;
    act(&t.db, &s.one_stop, &code, "accept", "").await.unwrap();
    let d = act(&t.db, &s.one_stop, &code, "forward", "").await.unwrap();
    assert_eq!((d.status, d.step.as_str()), (4, "tham_dinh"));
    let due_before = d.due_date.clone().unwrap();

    assert_code(
        act(&t.db, &s.officer, &code, "request_supplement", " thiế ").await,
        ErrorCode::ValidationFailed,
    );
    let d = act(
        &t.db,
        &s.officer,
        &code,
        "request_supplement",
        "Bổ sung bản vẽ mặt bằng công trình",
    )
    .await
    .unwrap();
    assert_eq!(d.status, Status::SupplementRequested.code());
    assert_eq!(d.supplement_count, 1);
    assert_eq!(d.allowed_actions, ["supplement", "withdraw", "stop"]);
    assert_eq!(d.due_date.as_deref(), Some(due_before.as_str()));
    assert!(paused_since(&t.db, &code).await.is_some());
    // The applicant cannot take an officer's action meanwhile.
    assert_code(
        applicant_act(&t.db, &code, &input("forward", "")).await,
        ErrorCode::Forbidden,
    );

    // Ten calendar days pass while the applicant gathers the papers.
    let since = dossier::today_local() - chrono::Days::new(10);
    let since_micros = since
        .and_hms_opt(3, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros();
    sqlx::query("UPDATE dossiers SET paused_since = $1 WHERE code = $2")
        .bind(since_micros)
        .bind(&code)
        .execute(t.db.pool())
        .await
        .unwrap();
    let paused = calendar.working_days_between(since, dossier::today_local());
    assert!((1..=8).contains(&paused), "{paused}");

    // An invalid answer changes nothing.
    let before = footprint(&t.db).await;
    let mut bad = input("supplement", "");
    bad.form = form(&[("so_tang", "12"), ("xa_phuong", "00000")]);
    let e = assert_code(
        applicant_act(&t.db, &code, &bad).await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(
        fields(&e),
        [
            ("form.xa_phuong".to_string(), "admin_unit_unknown"),
            ("form.so_tang".to_string(), "number_max"),
        ]
    );
    assert_eq!(footprint(&t.db).await, before);
    assert_eq!(status_of(&t.db, &code).await, 5);

    let mut answer = input("supplement", "");
    answer.form = form(&[("so_tang", "4"), ("chieu_cao", "15")]);
    let d = applicant_act(&t.db, &code, &answer).await.unwrap();
    assert_eq!(d.status, 4, "back where it was");
    assert_eq!(d.step, "tham_dinh");
    assert_eq!(d.paused_working_days, paused);
    let expected = calendar
        .add_working_days(
            chrono::NaiveDate::parse_from_str(&due_before, "%Y-%m-%d").unwrap(),
            u32::try_from(paused).unwrap(),
        )
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(d.due_date.as_deref(), Some(expected.as_str()));
    assert!(expected > due_before);
    // The answers are merged into the form and normalised; the rest is kept.
    assert_eq!(d.form["so_tang"], 4.0);
    assert_eq!(d.form["chieu_cao"], 15.0);
    assert_eq!(d.form["dien_tich_xay_dung"], 80.0);
    assert_eq!(d.form["xa_phuong"], TAM_THANH);
    assert_eq!(d.form["ho_ten_chu_dau_tu"], "Hoàng Thị Mai");
    assert_eq!(paused_since(&t.db, &code).await, None);
    let ev = d.events.last().unwrap();
    assert_eq!(
        (ev.action.as_str(), ev.from_status, ev.to_status),
        ("supplement", 5, 4)
    );
    assert!(!ev.signed);

    // A second request: the count goes on; answering at once pauses nothing more.
    let d = act(
        &t.db,
        &s.officer,
        &code,
        "request_supplement",
        "Bổ sung giấy tờ về quyền sử dụng đất",
    )
    .await
    .unwrap();
    assert_eq!(d.supplement_count, 2);
    let d = applicant_act(&t.db, &code, &input("supplement", ""))
        .await
        .unwrap();
    assert_eq!(d.status, 4);
    assert_eq!(d.paused_working_days, paused);
    assert_eq!(d.due_date.as_deref(), Some(expected.as_str()));
    assert_eq!(d.supplement_count, 2);
}

#[tokio::test]
async fn a_supplement_requested_before_acceptance_returns_to_submitted() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let code = submit_anon(&t.db, &birth(TAM_THANH)).await.dossier.code;
    let d = act(
        &t.db,
        &s.one_stop,
        &code,
        "request_supplement",
        "Thiếu giấy chứng sinh",
    )
    .await
    .unwrap();
    assert_eq!(d.status, 5);
    let d = applicant_act(&t.db, &code, &input("supplement", ""))
        .await
        .unwrap();
    assert_eq!(d.status, 1);
    assert_eq!(d.supplement_count, 1);
    let d = act(&t.db, &s.one_stop, &code, "accept", "").await.unwrap();
    assert_eq!(d.status, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transitions_one_wins() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    for round in 0..3 {
        // Two officers accept the same dossier at the same moment.
        let code = submit_anon(&t.db, &birth(TAM_THANH)).await.dossier.code;
        let results = race(
            &t.db,
            &code,
            [&s.one_stop, &s.officer],
            ["accept", "accept"],
        )
        .await;
        one_won(&t.db, &code, &results, 2, round).await;
        // Two officers forward the same dossier (4 → 4: only the step changes).
        act(&t.db, &s.one_stop, &code, "forward", "").await.unwrap();
        let results = race(
            &t.db,
            &code,
            [&s.officer, &s.one_stop],
            ["forward", "forward"],
        )
        .await;
        one_won(&t.db, &code, &results, 4, round).await;
        assert_eq!(
            dossier::get(&t.db, &code).await.unwrap().unwrap().step,
            "phe_duyet"
        );
        // Different actions from the same status.
        let results = race(
            &t.db,
            &code,
            [&s.leader, &s.officer],
            ["approve", "request_supplement"],
        )
        .await;
        one_won(&t.db, &code, &results, 5, round).await;
    }
}

async fn race(
    db: &Db,
    code: &str,
    who: [&Principal; 2],
    actions: [&str; 2],
) -> Vec<Result<Dossier, AppError>> {
    let mut handles = Vec::new();
    for (p, a) in who.into_iter().zip(actions) {
        let (db, code, p, a) = (db.clone(), code.to_string(), p.clone(), a.to_string());
        handles.push(tokio::spawn(async move {
            act(&db, &p, &code, &a, "Bổ sung giấy tờ còn thiếu").await
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

async fn one_won(
    db: &Db,
    code: &str,
    results: &[Result<Dossier, AppError>],
    events: usize,
    round: usize,
) {
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "round {round}: {results:?}");
    for r in results {
        if let Err(e) = r {
            assert_eq!(e.code, ErrorCode::Conflict, "round {round}: {e}");
            // Whether it lost before or after reading the dossier, the loser is told why.
            let detail = e.detail_en.as_deref().unwrap_or_default();
            assert!(
                detail.contains("changed by someone else")
                    || detail.starts_with("Cannot ")
                    || detail.contains("at the approval step"),
                "round {round}: {e}"
            );
        }
    }
    let d = dossier::get(db, code).await.unwrap().unwrap();
    let won = results.iter().find_map(|r| r.as_ref().ok()).unwrap();
    assert_eq!(d.status, won.status);
    assert_eq!(d.events.len(), events, "round {round}");
    // One event per successful transition, numbered without gaps.
    let seqs: Vec<i64> = d.events.iter().map(|e| e.seq).collect();
    let expected: Vec<i64> = (1..=d.events.len() as i64).collect();
    assert_eq!(seqs, expected);
    assert_eq!(d.events.last().unwrap().to_status, d.status);
    assert!(tinhso_store::audit::verify(db)
        .await
        .unwrap()
        .first_broken
        .is_none());
}

/// The public look-up reads the dossier, its agency and its history in one query: after every
/// committed transition it shows the new status, step and the whole history in order — the
/// same as the officers' view — and never an older state.
#[tokio::test]
async fn tracking_shows_each_transition_once_committed() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let r = submit_anon(&t.db, &birth(TAM_THANH)).await;
    let (code, lookup) = (r.dossier.code.clone(), r.lookup_code.clone());
    let tracked = dossier::track(&t.db, &code, &lookup).await.unwrap();
    assert_eq!(tracked.status, Status::Submitted.code());
    assert_eq!(tracked.events.len(), 1);
    assert!(!tracked.agency_name.is_empty());
    assert!(!tracked.procedure_name.is_empty());
    for (action, status, by) in [
        ("accept", Status::Accepted, &s.one_stop),
        ("forward", Status::Processing, &s.one_stop),
        ("forward", Status::Processing, &s.officer),
        ("approve", Status::Done, &s.leader),
    ] {
        let after = act(&t.db, by, &code, action, "").await.unwrap();
        let tracked = dossier::track(&t.db, &code, &lookup).await.unwrap();
        assert_eq!(tracked.status, status.code(), "after {action}");
        assert_eq!(tracked.step, after.step, "after {action}");
        assert_eq!(tracked.step_name, after.step_name, "after {action}");
        let seqs: Vec<i64> = tracked.events.iter().map(|e| e.seq).collect();
        let expected: Vec<i64> = (1..=after.events.len() as i64).collect();
        assert_eq!(
            seqs, expected,
            "after {action}: the whole history, in order"
        );
        assert_eq!(
            tracked.events.last().map(|e| e.action.as_str()),
            Some(action)
        );
        let officers = dossier::get(&t.db, &code).await.unwrap().unwrap();
        assert_eq!(
            serde_json::to_value(&tracked).unwrap(),
            serde_json::to_value(&officers).unwrap()
        );
    }
    // A wrong lookup code still answers like an unknown dossier.
    let wrong = if lookup.starts_with('A') { "B" } else { "A" };
    let wrong = format!("{wrong}{}", &lookup[1..]);
    assert_code(
        dossier::track(&t.db, &code, &wrong).await,
        ErrorCode::NotFound,
    );
}

/// Every transition answers with the dossier as a read after it finds it (the answer is built
/// from what was written, not read again): through accept, supplement request and answer,
/// payment, forwarding, the approval that issues the signed result, and the return.
#[tokio::test]
async fn each_transition_returns_the_dossier_as_read_back() {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let code = submit_anon(&t.db, &birth(TAM_THANH)).await.dossier.code;
    let same = |got: &dossier::Dossier, read: &dossier::Dossier, step: &str| {
        assert_eq!(
            serde_json::to_value(got).unwrap(),
            serde_json::to_value(read).unwrap(),
            "after {step}"
        );
        assert_eq!(
            (got.files_bytes, got.files_count),
            (read.files_bytes, read.files_count),
            "after {step}"
        );
    };
    let steps: [(&Principal, &str, &str); 8] = [
        (&s.one_stop, "accept", ""),
        (
            &s.one_stop,
            "request_supplement",
            "Bổ sung bản sao giấy chứng sinh",
        ),
        (&s.one_stop, "request_payment", ""),
        (&s.one_stop, "payment_received", ""),
        (&s.one_stop, "forward", ""),
        (&s.officer, "forward", ""),
        (&s.leader, "approve", ""),
        (&s.one_stop, "return_result", ""),
    ];
    for (i, (p, action, reason)) in steps.into_iter().enumerate() {
        if i == 2 {
            // The applicant answers the supplement request first.
            let got = applicant_act(&t.db, &code, &input("supplement", ""))
                .await
                .unwrap();
            same(
                &got,
                &dossier::get(&t.db, &code).await.unwrap().unwrap(),
                "supplement",
            );
        }
        let got = act(&t.db, p, &code, action, reason).await.unwrap();
        same(
            &got,
            &dossier::get(&t.db, &code).await.unwrap().unwrap(),
            action,
        );
        if action == "approve" {
            assert_eq!(got.status, Status::Done.code());
            assert!(
                got.events.last().unwrap().signed,
                "the leader's event is signed"
            );
            assert!(
                tinhso_services::results::of_dossier(&t.db, &code)
                    .await
                    .unwrap()
                    .is_some(),
                "the result was issued"
            );
        }
    }
    assert_eq!(status_of(&t.db, &code).await, Status::Returned.code());
}
