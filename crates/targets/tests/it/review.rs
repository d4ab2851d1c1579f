//! The annual review (PDF text through pdftotext, the .xlsx's sheet XML), the Government
//! export (hand-computed values, hash, versions) and the DTI entries, on a fixed data set.

use super::*;
use tinhso_targets::board::Status;
use tinhso_targets::engine::Registry;
use tinhso_targets::reported;
use tinhso_targets::{dti, export, review};

async fn report(
    db: &Db,
    indicator: &str,
    period: &str,
    v: &str,
    num: Option<&str>,
    den: Option<&str>,
) {
    report_value(db, indicator, period, v, num, den).await;
}

/// The fixed data set: the catalogue's fully-online share (live: 33 of 48 procedures), the DTI
/// rank 4 for 2025, and e-payment accounts 2026 reported twice (40 %, corrected to 46 %).
async fn fixture(db: &Db) {
    report(db, "reported.overall.dti-top10", "2025", "4", None, None).await;
    report(
        db,
        "reported.soc.e-payment-accounts",
        "2026",
        "40",
        None,
        None,
    )
    .await;
    report(
        db,
        "reported.soc.e-payment-accounts",
        "2026",
        "46",
        Some("368000"),
        Some("800000"),
    )
    .await;
}

async fn the_review(db: &Db) -> review::Review {
    let (plan, year) = review::resolve(db, Some("2026"), None).await.unwrap();
    assert_eq!((plan.code.as_str(), year), ("226/KH-UBND", 2026));
    review::review(db, &Registry::standard(), plan, year, ymd(2026, 11, 29))
        .await
        .unwrap()
}

fn pdftotext(pdf: &[u8]) -> String {
    tinhso_pdf::test_support::pdftotext(pdf, true)
}

/// Words of the text, one space apart.
use tinhso_pdf::test_support::words;

#[tokio::test]
async fn the_annual_review_pdf_and_spreadsheet_carry_the_figures() {
    let t = env().await;
    let db = &t.db;
    fixture(db).await;
    let r = the_review(db).await;
    // Hand-computed statuses as of 29 Nov 2026: fully-online 68.8 % against 100 % past its
    // horizon (short by 31.2 > 10): off track; rank 4 ≤ 10: on track; e-payment 46 % against
    // 50 % (2025, short by 4 ≤ 5): at risk, and against 80 % in 2030 (progress 2158/3651 days,
    // expected 47.3, short by 1.3 ≤ 8): at risk. No agency worked on the platform or exchanged
    // through the hub in the year: 0 of the agencies, 0 % against 100 %: off track (two more).
    // No staff account and no regime: no value. Nothing else has data.
    let (per, total) = r.counts();
    assert_eq!(
        (
            total.targets,
            total.on_track,
            total.at_risk,
            total.off_track,
            total.no_data
        ),
        (43, 1, 2, 3, 37)
    );
    let gov = per.iter().find(|c| c.pillar == "government").unwrap();
    assert_eq!((gov.on_track, gov.off_track), (1, 3));
    for id in [
        "gov.unified-management-platform",
        "gov.shared-databases-connected",
    ] {
        let l = r.lines.iter().find(|l| l.target.id == id).unwrap();
        assert_eq!(l.current.as_ref().unwrap().numerator, Some(0.0), "{id}");
        assert_eq!(l.status, Status::OffTrack, "{id}");
    }
    let soc = per.iter().find(|c| c.pillar == "society").unwrap();
    assert_eq!(soc.at_risk, 2);
    let line = |id: &str| r.lines.iter().find(|l| l.target.id == id).unwrap();
    assert_eq!(line("gov.online-services-level4").status, Status::OffTrack);
    assert_eq!(line("soc.e-payment-accounts-2030").status, Status::AtRisk);

    // Every character the document prints has a glyph in its faces (no empty boxes).
    for l in &r.lines {
        for cell in [
            review::target_text(l, tinhso_http::Lang::Vi),
            review::base_text(l, tinhso_http::Lang::Vi),
            review::current_text(l, tinhso_http::Lang::Vi),
            review::source_text(l, tinhso_http::Lang::Vi),
            l.target.name_vi.clone(),
        ] {
            for style in [tinhso_pdf::Style::Regular, tinhso_pdf::Style::Bold] {
                assert_eq!(style.font().missing(&cell), Vec::<char>::new(), "{cell}");
            }
        }
    }
    let text = pdftotext(&review::pdf(&r));
    for s in [
        "ỦY BAN NHÂN DÂN TỈNH LẠNG SƠN",
        "/BC-UBND",
        "Lạng Sơn, ngày 29 tháng 11 năm 2026",
        "BÁO CÁO",
        "Kết quả thực hiện Kế hoạch số 226/KH-UBND năm 2026",
        "I. TỔNG HỢP",
        "III. MỤC TIÊU CHƯA CÓ SỐ LIỆU",
    ] {
        assert!(text.contains(s), "{s:?} not in\n{text}");
    }
    let w = words(&text);
    // The summary's total row, and the values in the pillar tables.
    assert!(w.contains("Tổng cộng 43 1 2 3 37"), "{w}");
    assert!(w.contains("Chính quyền số 19 1 0 3 15"), "{w}");
    assert!(w.contains("Xã hội số 11 0 2 0 9"), "{w}");
    assert!(w.contains("68,8%"), "{w}");
    assert!(w.contains("tối thiểu 100%"), "{w}");
    assert!(w.contains("tối đa hạng 10"), "{w}");
    assert!(w.contains("hạng 4"), "{w}");
    assert!(w.contains("46%"), "{w}");
    assert!(w.contains("(v2)"), "the reported version is named: {w}");
    assert!(
        w.contains("reported.gov.services-24x7"),
        "targets without data are listed"
    );

    // The spreadsheet: row 2 is the first target (fully-online), column I its current value;
    // the e-payment rows carry 46 and the version 2.
    let xlsx = review::xlsx(&r);
    let dir = tempdir();
    let file = dir.join("r.xlsx");
    std::fs::write(&file, &xlsx).unwrap();
    let unzip = |part: &str| {
        let out = std::process::Command::new("unzip")
            .arg("-p")
            .arg(&file)
            .arg(part)
            .output()
            .expect("unzip is installed");
        assert!(out.status.success(), "{part}");
        String::from_utf8(out.stdout).unwrap()
    };
    let sheet = unzip("xl/worksheets/sheet1.xml");
    // unzip reads `[` as a wildcard: `[[]` is the literal.
    assert!(unzip("[[]Content_Types].xml").contains("spreadsheetml.sheet.main+xml"));
    assert!(unzip("xl/workbook.xml").contains("name=\"Năm 2026\""));
    assert!(sheet.contains("<c r=\"B2\" t=\"inlineStr\"><is><t xml:space=\"preserve\">gov.online-services-level4</t></is></c>"), "{sheet}");
    assert!(sheet.contains("<c r=\"I2\"><v>68.8</v></c>"), "{sheet}");
    assert!(sheet.contains("<c r=\"H2\"><v>100</v></c>"), "{sheet}");
    let rows: Vec<&str> = sheet.split("<row ").collect();
    let epay = rows
        .iter()
        .find(|r| r.contains("soc.e-payment-accounts-2030"))
        .unwrap();
    assert!(
        epay.contains("<v>46</v>") && epay.contains("<v>2</v>"),
        "{epay}"
    );
    assert!(epay.contains("Có nguy cơ chậm"), "{epay}");
    assert_eq!(rows.len() - 1, 44, "a header row and 43 targets");
    std::fs::remove_dir_all(dir).ok();
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "tinhso-review-{}-{}",
        std::process::id(),
        uuid_like()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[tokio::test]
async fn the_review_input_is_checked() {
    let t = env().await;
    let codes = |e: tinhso_kernel::AppError| -> Vec<(String, &'static str)> {
        e.fields.iter().map(|f| (f.field.clone(), f.code)).collect()
    };
    let e = review::resolve(&t.db, None, Some("9/KH"))
        .await
        .unwrap_err();
    assert_eq!(
        codes(e),
        [("year".into(), "required"), ("plan".into(), "plan_unknown")]
    );
    let e = review::resolve(&t.db, Some("20x6"), None)
        .await
        .unwrap_err();
    assert_eq!(codes(e), [("year".into(), "year")]);
    let e = review::resolve(&t.db, Some("1999"), None)
        .await
        .unwrap_err();
    assert_eq!(codes(e), [("year".into(), "year")]);
}

#[tokio::test]
async fn the_export_gives_the_period_s_values_with_their_versions_and_hash() {
    let t = env().await;
    let db = &t.db;
    fixture(db).await;
    // A quarter value for e-payment accounts: only it is exported for 2026-Q3.
    report(
        db,
        "reported.soc.e-payment-accounts",
        "2026-Q3",
        "45",
        Some("360000"),
        Some("800000"),
    )
    .await;
    let q3 = tinhso_targets::period::Period::parse("2026-Q3").unwrap();
    let e = export::export(db, &Registry::standard(), q3, None)
        .await
        .unwrap();
    assert_eq!(e.format, "tinhso.indicator-values/1");
    assert_eq!(
        (e.province.code.as_str(), e.province.name.as_str()),
        ("20", "Lạng Sơn")
    );
    assert_eq!(
        (
            e.period.key.as_str(),
            e.period.frequency.as_str(),
            e.period.start.as_str(),
            e.period.end.as_str()
        ),
        ("2026-Q3", "quarter", "2026-06-15", "2026-09-14")
    );
    assert_eq!(e.values.len(), 43);
    let v = |target: &str| e.values.iter().find(|v| v.target == target).unwrap();
    // Live: 33 of the catalogue's 48 procedures fully online = 68.75 → 68.8.
    let live = v("gov.online-services-level4");
    assert_eq!(
        (
            live.source.as_str(),
            live.value,
            live.numerator,
            live.denominator,
            live.version
        ),
        ("live", Some(68.8), Some(33.0), Some(48.0), None)
    );
    // Reported for exactly 2026-Q3 (not the year's 46 %): version 1, with its time.
    let epay = v("soc.e-payment-accounts-2030");
    assert_eq!(
        (
            epay.source.as_str(),
            epay.value,
            epay.numerator,
            epay.denominator,
            epay.version
        ),
        (
            "reported",
            Some(45.0),
            Some(360000.0),
            Some(800000.0),
            Some(1)
        )
    );
    assert!(epay.reported_at.as_deref().unwrap().ends_with('Z'));
    assert_eq!(
        (
            epay.plan.as_str(),
            epay.org_unit.as_str(),
            epay.period.as_str()
        ),
        ("226/KH-UBND", "province", "2026-Q3")
    );
    // Nothing reported for the quarter: null, not another period's value.
    let dti = v("overall.dti-top10");
    assert_eq!((dti.value, dti.version), (None, None));
    // The hash is the SHA-256 of the compact JSON of the values, and follows a new version.
    let hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(serde_json::to_vec(&e.values).unwrap()))
    };
    assert_eq!(e.content_sha256, hash);
    let again = export::export(db, &Registry::standard(), q3, None)
        .await
        .unwrap();
    assert_eq!(again.content_sha256, e.content_sha256);
    report(
        db,
        "reported.soc.e-payment-accounts",
        "2026-Q3",
        "45,5",
        None,
        None,
    )
    .await;
    let after = export::export(db, &Registry::standard(), q3, None)
        .await
        .unwrap();
    assert_ne!(after.content_sha256, e.content_sha256);
    let epay = after
        .values
        .iter()
        .find(|v| v.target == "soc.e-payment-accounts-2030")
        .unwrap();
    assert_eq!(
        (epay.value, epay.version, epay.numerator),
        (Some(45.5), Some(2), None)
    );
    // Another plan filter: an unknown plan gives nothing.
    let none = export::export(db, &Registry::standard(), q3, Some("9/KH"))
        .await
        .unwrap();
    assert!(none.values.is_empty());
}

#[tokio::test]
async fn dti_entries_are_versioned_with_their_reporter() {
    let t = env().await;
    let db = &t.db;
    let entry = |k: &str, y: &str, v: &str| dti::NewEntry {
        indicator: k.into(),
        year: y.into(),
        value: v.into(),
        note: "Báo cáo DTI 2024 của Bộ KH&CN".into(),
    };
    let v1 = dti::enter(db, &sys(), &entry("dti.index", "2024", "0,6961"))
        .await
        .unwrap();
    let v2 = dti::enter(db, &sys(), &entry("dti.index", "2024", "0,7012"))
        .await
        .unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!(v2.reported_by, "cli:test");
    dti::enter(
        db,
        &sys(),
        &entry("dti.foundation.awareness", "2024", "0.81"),
    )
    .await
    .unwrap();
    dti::enter(
        db,
        &sys(),
        &entry("reported.overall.dti-top10", "2024", "3"),
    )
    .await
    .unwrap();
    // A bad entry writes nothing.
    let before = count(db, "SELECT COUNT(*) FROM reported_values").await;
    let e = dti::enter(db, &sys(), &entry("dti.index", "2024", "7"))
        .await
        .unwrap_err();
    assert_eq!(e.fields[0].code, "score");
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM reported_values").await,
        before
    );

    let a = dti::assessment(db, &Registry::standard(), 2024)
        .await
        .unwrap();
    assert_eq!(a.index, Some(0.7012));
    let aw = a
        .indicators
        .iter()
        .find(|i| i.key == "dti.foundation.awareness")
        .unwrap();
    assert_eq!(
        (aw.value, aw.version, aw.entered_by.as_deref()),
        (Some(0.81), Some(1), Some("cli:test"))
    );
    let live = a
        .indicators
        .iter()
        .find(|i| i.key == "dti.government.fully-online-procedures")
        .unwrap();
    assert_eq!((live.measure.as_str(), live.value), ("live", Some(68.8)));
    let ranks: Vec<(i32, i64, &str)> = a
        .ranks
        .iter()
        .map(|r| (r.year, r.rank, r.origin.as_str()))
        .collect();
    assert_eq!(
        ranks,
        [
            (2020, 16, "published"),
            (2021, 5, "published"),
            (2022, 6, "published"),
            (2023, 4, "published"),
            (2024, 3, "entered")
        ]
    );
    // Both versions are kept, and each is audited.
    let history = reported::history(db, "dti.index", &tinhso_targets::engine::OrgUnit::Province)
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|h| h.value).collect::<Vec<_>>(),
        [0.7012, 0.6961]
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM audit_log WHERE action = 'indicator.report' AND target_id LIKE 'dti.index@%'").await,
        2
    );
}

/// The agencies' yearly reports of 2026 in every state: Tam Thanh approved (75,5 %), the
/// Finance department submitted late and approved (50 %), the Provincial Office submitted
/// (90 %) and Home Affairs returned (60 %) — neither approved —, every other agency late.
#[tokio::test]
async fn the_review_names_the_approved_reports_behind_its_values_and_each_agencys_report() {
    use std::collections::BTreeMap;
    use tinhso_targets::regimes;
    use tinhso_targets::reports::{self, AgencyAction, EntryInput, ReviewAction};
    use tinhso_targets::review_reports::Standing;
    let t = env().await;
    let db = &t.db;
    regimes::seed(db, &sys()).await.unwrap();
    let y = regimes::get(db, "KH226-NAM").await.unwrap().unwrap();
    let cal = tinhso_refdata::calendar::working_calendar(db)
        .await
        .unwrap();
    assert_eq!(
        reports::open_period(
            db,
            &sys(),
            &y,
            tinhso_targets::period::Period::Year { year: 2026 },
            &cal
        )
        .await
        .unwrap(),
        80
    );
    let approver = Ctx {
        actor: "user:duyet-skhcn".into(),
        request_id: "req-approve".into(),
    };
    // Each share with its counts (of 200 work records): 151 → 75,5; 100 → 50; 180 → 90; 120 → 60.
    let submit = |agency: &'static str, online: &'static str, share: &'static str, day: u32| async move {
        let id = reports::task_id("KH226-NAM", "2026", agency);
        let task = reports::get(db, &id).await.unwrap().unwrap();
        let input: BTreeMap<String, EntryInput> = [
            ("ho_so_cong_viec", "200"),
            ("ho_so_cong_viec_tren_mang", online),
            ("ty_le_ho_so_cong_viec_tren_mang", share),
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
        .collect();
        reports::agency_act(
            db,
            &sys(),
            &task,
            AgencyAction::Submit,
            &input,
            ymd(2026, 11, day),
        )
        .await
        .unwrap();
        id
    };
    let decide = |id: String, action: ReviewAction, comment: &'static str| {
        let approver = approver.clone();
        async move {
            let task = reports::get(db, &id).await.unwrap().unwrap();
            reports::review(db, &approver, &task, action, comment)
                .await
                .unwrap();
        }
    };
    let tam_thanh = submit("000.00.23.H37", "151", "75,5", 10).await;
    decide(tam_thanh.clone(), ReviewAction::Approve, "").await;
    let finance = submit("000.00.03.H37", "100", "50", 25).await;
    decide(finance.clone(), ReviewAction::Approve, "Đồng ý").await;
    let office = submit("000.00.01.H37", "180", "90", 12).await;
    let home = submit("000.00.02.H37", "120", "60", 13).await;
    decide(
        home.clone(),
        ReviewAction::Return,
        "Tỷ lệ chưa khớp số hồ sơ",
    )
    .await;
    // Overdue tasks are escalated on 23 November.
    assert_eq!(
        reports::escalate_overdue(db, &sys(), ymd(2026, 11, 23))
            .await
            .unwrap(),
        77,
        "the returned report and the 76 never submitted"
    );

    let r = the_review(db).await;
    let rep = r
        .reporting
        .clone()
        .expect("the annual review has its reporting");
    // Only the two approved reports feed values, each named with its approval.
    let got: Vec<(&str, f64, &str, &str, i64, i64)> = rep
        .sources
        .iter()
        .map(|s| {
            (
                s.agency_code.as_str(),
                s.value,
                s.regime_code.as_str(),
                s.period.as_str(),
                s.report_version,
                s.value_version,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("000.00.03.H37", 50.0, "KH226-NAM", "2026", 2, 1),
            ("000.00.23.H37", 75.5, "KH226-NAM", "2026", 2, 1),
        ]
    );
    for s in &rep.sources {
        assert_eq!(s.indicator, "reported.gov.work-online-all");
        assert_eq!(s.approved_by, "user:duyet-skhcn");
        assert!(s.approved_at > 0);
    }
    assert_eq!(
        rep.sources[1].agency_name,
        "Ủy ban nhân dân phường Tam Thanh"
    );
    // Each agency's standing.
    assert_eq!(rep.agencies.len(), 80);
    let standing = |id: &str| {
        rep.agencies
            .iter()
            .find(|a| a.task_id == id)
            .unwrap()
            .clone()
    };
    assert_eq!(standing(&tam_thanh).standing, Standing::Approved);
    let f = standing(&finance);
    assert_eq!((f.standing, f.submitted_late), (Standing::Approved, true));
    assert!(f.submitted_at.is_some() && f.decided_at.is_some());
    let o = standing(&office);
    assert_eq!((o.standing, o.decided_at), (Standing::Submitted, None));
    let h = standing(&home);
    assert_eq!(
        (h.standing, h.escalated_on.as_deref()),
        (Standing::Returned, Some("2026-11-23"))
    );
    assert_eq!(
        rep.tally(),
        [
            (Standing::Approved, 2),
            (Standing::Submitted, 1),
            (Standing::Returned, 1),
            (Standing::Late, 76),
            (Standing::NotSubmitted, 0),
        ]
    );

    let w = words(&pdftotext(&review::pdf(&r)));
    for s in [
        "IV. SỐ LIỆU TỪ BÁO CÁO CỦA CÁC CƠ QUAN (ĐÃ DUYỆT)",
        "75,5%",
        "PHỤ LỤC. TÌNH HÌNH BÁO CÁO CỦA CÁC CƠ QUAN",
        "80 cơ quan phải báo cáo. Đã duyệt: 2; Đã gửi, chờ duyệt: 1; Bị trả lại: 1; Quá hạn, chưa gửi: 76; Chưa gửi: 0.",
        "Sở Nội vụ Bị trả lại 20/11/2026",
        "user:duyet-skhcn",
    ] {
        assert!(w.contains(s), "{s:?} not in\n{w}");
    }
    // The targets tables print 90 % and 60 % as target values: look at section IV only.
    let iv = &w[w.find("IV. SỐ LIỆU").unwrap()..w.find("PHỤ LỤC").unwrap()];
    assert!(iv.contains("50%") && iv.contains("Sở Tài chính"), "{iv}");
    assert!(
        !iv.contains("90%") && !iv.contains("60%") && !iv.contains("Sở Nội vụ"),
        "values of reports not approved do not appear: {iv}"
    );

    // The spreadsheet's second and third sheets.
    let dir = tempdir();
    let file = dir.join("r.xlsx");
    std::fs::write(&file, review::xlsx(&r)).unwrap();
    let unzip = |part: &str| {
        let out = std::process::Command::new("unzip")
            .arg("-p")
            .arg(&file)
            .arg(part)
            .output()
            .expect("unzip is installed");
        assert!(out.status.success(), "{part}");
        String::from_utf8(out.stdout).unwrap()
    };
    let book = unzip("xl/workbook.xml");
    assert!(book.contains("name=\"Nguồn báo cáo\"") && book.contains("name=\"Tình hình báo cáo\""));
    let sources = unzip("xl/worksheets/sheet2.xml");
    assert_eq!(sources.matches("<row ").count(), 3, "{sources}");
    assert!(sources.contains("<c r=\"E3\"><v>75.5</v></c>"), "{sources}");
    assert!(!sources.contains("<v>90</v>") && !sources.contains("<v>60</v>"));
    let agencies = unzip("xl/worksheets/sheet3.xml");
    assert_eq!(agencies.matches("<row ").count(), 81);
    assert!(agencies.contains("Đã gửi, chờ duyệt"));
    std::fs::remove_dir_all(dir).ok();
}
