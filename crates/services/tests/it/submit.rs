//! Submitting dossiers: online (anonymous and signed in), at the counter, validation that
//! reports everything at once and writes nothing, idempotency, tracking by lookup code.

use super::*;
use tinhso_services::status::Status;

/// `<agency code>-<yymmdd>-<nnnn>` with today's local date.
fn assert_code_format(code: &str, agency: &str, n: u32) {
    let today = dossier::today_local().format("%y%m%d").to_string();
    assert_eq!(code, format!("{agency}-{today}-{n:04}"));
}

fn assert_lookup_format(l: &str) {
    assert_eq!(l.len(), 8, "{l}");
    assert!(
        l.bytes()
            .all(|b| b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789".contains(&b)),
        "{l}"
    );
}

#[tokio::test]
async fn anonymous_online_submission() {
    let t = env().await;
    let r = submit_anon(&t.db, &birth(TAM_THANH)).await;
    let d = &r.dossier;
    assert!(!r.replayed);
    assert_eq!(d.status, Status::Submitted.code());
    assert_eq!(d.status, 1);
    assert_eq!(d.status_vi, "Mới đăng ký");
    assert_code_format(&d.code, UBND_TAM_THANH, 1);
    assert_eq!(d.agency_code, UBND_TAM_THANH);
    assert_eq!(d.agency_name, "Ủy ban nhân dân phường Tam Thanh");
    assert_eq!(d.commune_code.as_deref(), Some(TAM_THANH));
    assert_eq!(d.procedure_code, KHAI_SINH);
    assert_eq!(d.procedure_version, 1);
    assert_eq!(d.procedure_name, "Đăng ký khai sinh");
    assert_eq!(d.channel, 2);
    assert_eq!(d.applicant_user_id, None);
    assert_eq!(d.applicant.name, "Hoàng Thị Mai");
    // Normalised on the way in.
    assert_eq!(d.applicant.phone, "0912345678");
    assert_eq!(d.form["ngay_sinh_tre"], "2026-01-10");
    assert_eq!(d.form["que_quan"], TAM_THANH);
    assert_eq!(d.form["so_ban_sao"], 2.0);
    assert_eq!(d.step, "tiep_nhan");
    assert_eq!(d.accepted_at, None);
    assert!(d.due_date.is_some());
    // on_submit: the fee (8 000 VND for copies) is known at once.
    assert_eq!(d.fee_vnd, 8000);
    assert_eq!(
        d.allowed_actions,
        ["accept", "refuse", "request_supplement", "withdraw"]
    );
    assert_eq!(d.events.len(), 1);
    let e = &d.events[0];
    assert_eq!(
        (e.seq, e.action.as_str(), e.from_status, e.to_status),
        (1, "submit", 0, 1)
    );
    assert!(!e.signed);
    assert_eq!(e.actor_name, "Hoàng Thị Mai");

    assert_lookup_format(&r.lookup_code);
    assert_eq!(r.lookup_code, dossier::lookup_code(&d.code));
    let tracked = dossier::track(&t.db, &d.code, &r.lookup_code)
        .await
        .unwrap();
    assert_eq!(tracked.code, d.code);
    // As people type it: lower case, grouped, padded.
    let typed = format!(
        " {}-{} ",
        r.lookup_code[..4].to_lowercase(),
        &r.lookup_code[4..]
    );
    assert_eq!(
        dossier::track(&t.db, &format!(" {} ", d.code), &typed)
            .await
            .unwrap()
            .code,
        d.code
    );

    let a = audited(&t.db, "dossier.submit").await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].target_id, d.code);
    assert_eq!(a[0].scope, UBND_TAM_THANH);
    assert_eq!(a[0].actor, "anonymous");

    // The next dossier of the day at the same agency.
    let r2 = submit_anon(&t.db, &birth(TAM_THANH)).await;
    assert_code_format(&r2.dossier.code, UBND_TAM_THANH, 2);
    assert_ne!(r2.lookup_code, r.lookup_code);
    // Another agency counts on its own.
    let r3 = submit_anon(&t.db, &birth(DONG_KINH)).await;
    assert_code_format(&r3.dossier.code, UBND_DONG_KINH, 1);
    assert_eq!(r3.dossier.commune_code.as_deref(), Some(DONG_KINH));
}

#[tokio::test]
async fn signed_in_submission_belongs_to_the_citizen() {
    let t = env().await;
    let mai = citizen(&t.db, CCCD, "Hoàng Thị Mai").await;
    let r = dossier::submit(&t.db, &ctx_of(&mai), Some(&mai), &birth(TAM_THANH))
        .await
        .unwrap();
    assert_eq!(r.dossier.status, 1);
    assert_eq!(
        r.dossier.applicant_user_id.as_deref(),
        Some(mai.user_id.as_str())
    );
    assert_code_format(&r.dossier.code, UBND_TAM_THANH, 1);
    assert!(!r.dossier.events[0].signed);
    let a = audited(&t.db, "dossier.submit").await;
    assert_eq!(a[0].actor, mai.actor());
    let tracked = dossier::track(&t.db, &r.dossier.code, &r.lookup_code)
        .await
        .unwrap();
    assert_eq!(tracked.applicant_user_id, Some(mai.user_id.clone()));
}

#[tokio::test]
async fn the_handling_agency_follows_the_procedure_level() {
    let t = env().await;
    // A province-level procedure goes to the department named in the catalogue, whatever
    // commune the applicant lives in.
    let r = submit_anon(&t.db, &enterprise()).await;
    assert_eq!(r.dossier.agency_code, SO_TAI_CHINH);
    assert_eq!(r.dossier.agency_name, "Sở Tài chính");
    assert_code_format(&r.dossier.code, SO_TAI_CHINH, 1);
    // 50 000 + 100 000 VND, on submission.
    assert_eq!(r.dossier.fee_vnd, 150_000);
    // A commune-level procedure goes to the chosen commune's People's Committee.
    let r = submit_anon(&t.db, &birth(DONG_KINH)).await;
    assert_eq!(r.dossier.agency_code, UBND_DONG_KINH);
    // ... which must be chosen, and must exist.
    let before = footprint(&t.db).await;
    let mut s = birth(TAM_THANH);
    s.commune_code = None;
    let e = assert_code(
        dossier::submit(&t.db, &anon(), None, &s).await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(fields(&e), [("commune_code".to_string(), "required")]);
    s.commune_code = Some("99999".into());
    let e = assert_code(
        dossier::submit(&t.db, &anon(), None, &s).await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(
        fields(&e),
        [("commune_code".to_string(), "commune_unknown")]
    );
    // An unknown procedure.
    let mut s = birth(TAM_THANH);
    s.procedure_code = "1.999999".into();
    let e = assert_code(
        dossier::submit(&t.db, &anon(), None, &s).await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(
        fields(&e),
        [("procedure_code".to_string(), "procedure_unknown")]
    );
    assert_eq!(footprint(&t.db).await, before);
}

#[tokio::test]
async fn a_wrong_lookup_code_looks_like_an_unknown_dossier() {
    let t = env().await;
    let r = submit_anon(&t.db, &birth(TAM_THANH)).await;
    let other = submit_anon(&t.db, &birth(TAM_THANH)).await;
    let code = &r.dossier.code;
    let mut wrong = r.lookup_code.clone().into_bytes();
    wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
    let wrong = String::from_utf8(wrong).unwrap();
    let errors = [
        dossier::track(&t.db, code, &wrong).await.unwrap_err(),
        dossier::track(&t.db, code, &other.lookup_code)
            .await
            .unwrap_err(),
        dossier::track(&t.db, code, "").await.unwrap_err(),
        dossier::track(&t.db, code, &r.lookup_code[..7])
            .await
            .unwrap_err(),
        dossier::track(&t.db, code, &format!("{}A", r.lookup_code))
            .await
            .unwrap_err(),
        dossier::track(&t.db, "000.00.23.H37-991231-0001", &r.lookup_code)
            .await
            .unwrap_err(),
        dossier::track(
            &t.db,
            "000.00.23.H37-991231-0001",
            &dossier::lookup_code("000.00.23.H37-991231-0001"),
        )
        .await
        .unwrap_err(),
    ];
    let first = format!("{:?}", errors[0]);
    for e in &errors {
        assert_eq!(e.code, ErrorCode::NotFound);
        assert_eq!(e.status(), 404);
        assert_eq!(format!("{e:?}"), first, "identical errors");
    }
}

#[tokio::test]
async fn every_error_is_reported_at_once_and_nothing_is_written() {
    let t = env().await;
    let before = footprint(&t.db).await;
    let mut s = birth(TAM_THANH);
    s.commune_code = None;
    s.applicant = Applicant {
        kind: 0,
        name: "A".into(),
        id_number: "12345".into(),
        phone: "abc".into(),
        email: "not-an-email".into(),
    };
    s.form = form(&[
        ("ngay_sinh_tre", "31/02/2026"),
        ("gioi_tinh", "khac"),
        ("dan_toc", "kinh"),
        ("noi_sinh", "Bệnh viện Đa khoa tỉnh Lạng Sơn"),
        ("que_quan", "99999"),
        ("so_dinh_danh_me", "123"),
        ("so_ban_sao", "25"),
        ("so_dien_thoai", "12"),
    ]);
    let e = assert_code(
        dossier::submit(&t.db, &anon(), None, &s).await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(e.status(), 422);
    let got = fields(&e);
    let names: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        names,
        [
            "applicant.name",
            "applicant.id_number",
            "applicant.phone",
            "applicant.email",
            "form.ho_ten_tre",
            "form.ngay_sinh_tre",
            "form.gioi_tinh",
            "form.que_quan",
            "form.so_dinh_danh_me",
            "form.so_ban_sao",
            "form.so_dien_thoai",
            "commune_code",
        ]
    );
    let code_of = |f: &str| got.iter().find(|(n, _)| n == f).unwrap().1;
    assert_eq!(code_of("form.ho_ten_tre"), "required");
    assert_eq!(code_of("form.ngay_sinh_tre"), "date_format");
    assert_eq!(code_of("form.gioi_tinh"), "select_option");
    assert_eq!(code_of("form.que_quan"), "admin_unit_unknown");
    assert_eq!(code_of("form.so_ban_sao"), "number_max");
    assert_eq!(code_of("commune_code"), "required");
    // Messages say what to fix, in both languages.
    let sel = e
        .fields
        .iter()
        .find(|f| f.field == "form.gioi_tinh")
        .unwrap();
    assert!(sel.message_vi.contains("Nam, Nữ"), "{}", sel.message_vi);
    assert!(sel.message_en.contains("Nam, Nữ"), "{}", sel.message_en);
    assert_eq!(footprint(&t.db).await, before);

    // Staff at the counter get the same treatment.
    let officer = staff(
        &t.db,
        "motcua.tamthanh",
        UBND_TAM_THANH,
        Role::OneStopOfficer,
        Scope::Agency(UBND_TAM_THANH.into()),
    )
    .await;
    let before = footprint(&t.db).await;
    let mut s = birth(TAM_THANH);
    s.channel = Channel::InPerson;
    s.form.remove("gioi_tinh");
    s.applicant.id_number = "020190001".into();
    let e = assert_code(
        dossier::submit(&t.db, &ctx_of(&officer), Some(&officer), &s).await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(
        fields(&e),
        [
            ("applicant.id_number".to_string(), "cccd_length"),
            ("form.gioi_tinh".to_string(), "required"),
        ]
    );
    assert_eq!(footprint(&t.db).await, before);
}

#[tokio::test]
async fn an_enterprise_applicant_is_checked_by_tax_code() {
    let t = env().await;
    let mut s = enterprise();
    s.applicant.kind = 1;
    s.applicant.id_number = "4900123467".into();
    s.applicant.name = "Công ty TNHH Xuất nhập khẩu Hữu Nghị".into();
    let r = submit_anon(&t.db, &s).await;
    assert_eq!(r.dossier.applicant.kind, 1);
    assert_eq!(r.dossier.applicant.id_number, "4900123467");
    // A CCCD is not an enterprise tax code with a bad check digit; a wrong kind is refused.
    s.applicant.id_number = "4900123468".into();
    s.applicant.kind = 7;
    let e = assert_code(
        dossier::submit(&t.db, &anon(), None, &s).await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(
        fields(&e),
        [("applicant.kind".to_string(), "applicant_kind")]
    );
    s.applicant.kind = 2;
    let e = assert_code(
        dossier::submit(&t.db, &anon(), None, &s).await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(e.fields[0].field, "applicant.id_number");
}

#[tokio::test]
async fn idempotency_keys() {
    let t = env().await;
    let mut s = birth(TAM_THANH);
    s.idempotency_key = Some("8f14e45f-ceea-4e7a-9f0b-5c5d2f1b1d01".into());
    let first = submit_anon(&t.db, &s).await;
    assert!(!first.replayed);
    let after_first = footprint(&t.db).await;
    // The same request again (a retry after a lost response): the same dossier.
    let again = submit_anon(&t.db, &s).await;
    assert!(again.replayed);
    assert_eq!(again.dossier.code, first.dossier.code);
    assert_eq!(again.lookup_code, first.lookup_code);
    assert_eq!(footprint(&t.db).await, after_first);
    // The same key with a different body is a client error.
    let mut other = s.clone();
    other
        .form
        .insert("ho_ten_tre".into(), "Hoàng Minh Bình".into());
    let e = assert_code(
        dossier::submit(&t.db, &anon(), None, &other).await,
        ErrorCode::IdempotencyConflict,
    );
    assert_eq!(e.status(), 409);
    assert_eq!(e.code.as_str(), "idempotency_conflict");
    assert_eq!(footprint(&t.db).await, after_first);
    // Another key: a new dossier.
    other.idempotency_key = Some("another-key".into());
    let second = submit_anon(&t.db, &other).await;
    assert!(!second.replayed);
    assert_ne!(second.dossier.code, first.dossier.code);
    // A key that is too long.
    let mut long = birth(TAM_THANH);
    long.idempotency_key = Some("k".repeat(101));
    let e = assert_code(
        dossier::submit(&t.db, &anon(), None, &long).await,
        ErrorCode::ValidationFailed,
    );
    assert_eq!(fields(&e), [("idempotency_key".to_string(), "too_long")]);
    // An empty key is no key: two submissions, two dossiers.
    let mut empty = birth(TAM_THANH);
    empty.idempotency_key = Some(String::new());
    let a = submit_anon(&t.db, &empty).await;
    let b = submit_anon(&t.db, &empty).await;
    assert_ne!(a.dossier.code, b.dossier.code);
    assert!(!b.replayed);
}

#[tokio::test]
async fn counter_entry_needs_an_officer_of_the_handling_agency() {
    let t = env().await;
    let mut s = birth(TAM_THANH);
    s.channel = Channel::InPerson;
    let before = footprint(&t.db).await;
    // Nobody signed in, or a citizen: forbidden.
    assert_code(
        dossier::submit(&t.db, &anon(), None, &s).await,
        ErrorCode::Forbidden,
    );
    let mai = citizen(&t.db, CCCD, "Hoàng Thị Mai").await;
    let before_citizen = footprint(&t.db).await;
    let e = assert_code(
        dossier::submit(&t.db, &ctx_of(&mai), Some(&mai), &s).await,
        ErrorCode::Forbidden,
    );
    assert_eq!(e.status(), 403);
    assert_eq!(footprint(&t.db).await, before_citizen);
    // An officer of another commune: forbidden.
    let dong_kinh = staff(
        &t.db,
        "motcua.dongkinh",
        UBND_DONG_KINH,
        Role::OneStopOfficer,
        Scope::Agency(UBND_DONG_KINH.into()),
    )
    .await;
    let right = staff(
        &t.db,
        "motcua.tamthanh",
        UBND_TAM_THANH,
        Role::OneStopOfficer,
        Scope::Agency(UBND_TAM_THANH.into()),
    )
    .await;
    let before_staff = footprint(&t.db).await;
    assert!(before_staff[3] > before[3]);
    assert_code(
        dossier::submit(&t.db, &ctx_of(&dong_kinh), Some(&dong_kinh), &s).await,
        ErrorCode::Forbidden,
    );
    s.channel = Channel::Post;
    assert_code(
        dossier::submit(&t.db, &ctx_of(&dong_kinh), Some(&dong_kinh), &s).await,
        ErrorCode::Forbidden,
    );
    assert_eq!(footprint(&t.db).await, before_staff);
    // The right officer: accepted at once.
    s.channel = Channel::InPerson;
    let r = dossier::submit(&t.db, &ctx_of(&right), Some(&right), &s)
        .await
        .unwrap();
    let d = &r.dossier;
    assert_eq!(d.status, 2);
    assert_eq!(d.channel, 1);
    assert_code_format(&d.code, UBND_TAM_THANH, 1);
    let accepted = d.accepted_at.expect("accepted at once");
    assert_eq!(accepted, d.submitted_at);
    let calendar = tinhso_refdata::calendar::working_calendar(&t.db)
        .await
        .unwrap();
    let p = tinhso_services::catalogue::current(&t.db, KHAI_SINH)
        .await
        .unwrap()
        .unwrap()
        .procedure;
    let due = dossier::due_date(&calendar, accepted, p.time_limit);
    assert_eq!(
        d.due_date.as_deref(),
        Some(due.format("%Y-%m-%d").to_string().as_str())
    );
    assert_eq!(d.fee_vnd, 8000);
    assert_eq!(d.holder_user_id.as_deref(), Some(right.user_id.as_str()));
    assert_eq!(d.applicant_user_id, None);
    assert_eq!(d.events.len(), 1);
    assert_eq!(d.events[0].action, "receive_at_counter");
    assert_eq!((d.events[0].from_status, d.events[0].to_status), (0, 2));
    assert!(d.events[0].signed);
    assert_eq!(d.events[0].actor_name, right.display_name);
    let a = audited(&t.db, "dossier.receive_at_counter").await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].scope, UBND_TAM_THANH);
    assert_eq!(a[0].actor, right.actor());
}

#[tokio::test]
async fn the_provincial_one_stop_centre_receives_for_the_departments() {
    let t = env().await;
    let centre = staff(
        &t.db,
        "motcua.tinh",
        "000.00.16.H37",
        Role::OneStopOfficer,
        Scope::Agency("000.00.16.H37".into()),
    )
    .await;
    let noi_vu = staff(
        &t.db,
        "chuyenvien.noivu",
        SO_NOI_VU,
        Role::Specialist,
        Scope::Agency(SO_NOI_VU.into()),
    )
    .await;
    let mut s = enterprise();
    s.channel = Channel::InPerson;
    // A specialist of another department may not enter it.
    assert_code(
        dossier::submit(&t.db, &ctx_of(&noi_vu), Some(&noi_vu), &s).await,
        ErrorCode::Forbidden,
    );
    let r = dossier::submit(&t.db, &ctx_of(&centre), Some(&centre), &s)
        .await
        .unwrap();
    assert_eq!(r.dossier.agency_code, SO_TAI_CHINH);
    assert_eq!(r.dossier.status, 2);
    // The centre's officers may not receive a commune's dossiers.
    let mut s = birth(TAM_THANH);
    s.channel = Channel::InPerson;
    assert_code(
        dossier::submit(&t.db, &ctx_of(&centre), Some(&centre), &s).await,
        ErrorCode::Forbidden,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_racing_the_first_request_gets_the_same_dossier() {
    let t = env().await;
    for round in 0..4 {
        let mut s = birth(TAM_THANH);
        s.idempotency_key = Some(format!("retry-{round}"));
        let mut handles = Vec::new();
        for _ in 0..2 {
            let (db, s) = (t.db.clone(), s.clone());
            handles.push(tokio::spawn(async move {
                dossier::submit(&db, &anon(), None, &s).await
            }));
        }
        let mut receipts = Vec::new();
        for h in handles {
            receipts.push(
                h.await
                    .unwrap()
                    .unwrap_or_else(|e| panic!("round {round}: {e}")),
            );
        }
        assert_eq!(receipts[0].dossier.code, receipts[1].dossier.code);
        assert_eq!(
            receipts.iter().filter(|r| r.replayed).count(),
            1,
            "round {round}"
        );
    }
    assert_eq!(count(&t.db, "dossiers").await, 4);
}
