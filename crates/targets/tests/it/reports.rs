//! Reporting regimes and report tasks on a real database: shipped regimes imported once,
//! deadlines from the cut-off and the working-day calendar (across the year boundary), tasks
//! opened idempotently, overdue tasks escalated once, values refused with the rule named,
//! late submissions marked, every version kept, approved values recorded as reported values.

use super::*;
use std::collections::BTreeMap;
use tinhso_targets::period::Period;
use tinhso_targets::regimes::{self, Deadline, Imported, Regime};
use tinhso_targets::reports::{self, AgencyAction, EntryInput, ReviewAction};

const TAM_THANH: &str = "000.00.23.H37";

async fn regime(db: &Db, code: &str) -> Regime {
    regimes::get(db, code).await.unwrap().unwrap()
}

async fn setup() -> TestDb {
    let t = env().await;
    assert_eq!(regimes::seed(&t.db, &sys()).await.unwrap(), 3);
    // Unchanged files are skipped.
    assert_eq!(regimes::seed(&t.db, &sys()).await.unwrap(), 0);
    t
}

fn input(pairs: &[(&str, &str)]) -> BTreeMap<String, EntryInput> {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                EntryInput {
                    value: serde_json::Value::String(v.to_string()),
                    reason: String::new(),
                },
            )
        })
        .collect()
}

#[tokio::test]
async fn deadlines_follow_the_cut_off_and_the_working_days() {
    let t = setup().await;
    let cal = tinhso_refdata::calendar::working_calendar(&t.db)
        .await
        .unwrap();
    let q = regime(&t.db, "TTHC-QUY").await;
    let due = |r: &Regime, p: &str| r.due_date(Period::parse(p).unwrap(), &cal).unwrap();
    // Q1 2026 ends Saturday 14 March: 5 working days → Friday 20 March.
    assert_eq!(due(&q, "2026-Q1"), ymd(2026, 3, 20));
    // Q4 2026 ends Monday 14 December → Monday 21 December.
    assert_eq!(due(&q, "2026-Q4"), ymd(2026, 12, 21));
    // Q4 2025 ends Sunday 14 December 2025 → Friday 19 December 2025.
    assert_eq!(due(&q, "2025-Q4"), ymd(2025, 12, 19));
    // Across the year boundary: 15 working days after 14 December 2026 skip the weekends and
    // New Year's Day → Tuesday 5 January 2027.
    let mut long = q.clone();
    long.deadline = Deadline::WorkingDays(15);
    assert_eq!(due(&long, "2026-Q4"), ymd(2027, 1, 5));
    // The plan's yearly report: 20 November of the report year.
    let y = regime(&t.db, "KH226-NAM").await;
    assert_eq!(due(&y, "2026"), ymd(2026, 11, 20));
    // Its consolidation by the recipient: 15 December.
    let c = regime(&t.db, "KH226-TONG-HOP").await;
    assert_eq!(due(&c, "2026"), ymd(2026, 12, 15));
    assert_eq!(
        (c.reporters.as_slice(), c.recipient.as_str()),
        (&["000.00.06.H37".to_string()][..], "000.00.00.H37")
    );
    // Periods with tasks on a day: the current one, and the previous until its deadline.
    let on = |r: &Regime, d| -> Vec<String> {
        reports::periods_on(r, d, &cal)
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(on(&q, ymd(2026, 12, 16)), ["2026-Q4", "2027-Q1"]);
    assert_eq!(on(&q, ymd(2026, 12, 21)), ["2026-Q4", "2027-Q1"]);
    assert_eq!(on(&q, ymd(2026, 12, 22)), ["2027-Q1"]);
    assert_eq!(on(&y, ymd(2026, 11, 29)), ["2026"]);
    assert_eq!(on(&y, ymd(2026, 12, 15)), ["2027"]);
}

#[tokio::test]
async fn tasks_open_once_and_overdue_ones_are_escalated_once() {
    let t = setup().await;
    let db = &t.db;
    // 1 March 2026: the plan's 2026 report (15 agencies + 65 communes), its consolidation
    // (Sở KH&CN) and the first quarter's procedures report (the service centre + 65 communes).
    let r = reports::open_reports(db, &sys(), ymd(2026, 3, 1))
        .await
        .unwrap();
    assert_eq!((r.opened, r.escalated), (80 + 1 + 66, 0));
    let again = reports::open_reports(db, &sys(), ymd(2026, 3, 1))
        .await
        .unwrap();
    assert_eq!((again.opened, again.escalated), (0, 0));
    assert_eq!(count(db, "SELECT COUNT(*) FROM report_tasks").await, 147);
    let id = reports::task_id("TTHC-QUY", "2026-Q1", TAM_THANH);
    let task = reports::get(db, &id).await.unwrap().unwrap();
    assert_eq!(
        (
            task.due_date.as_str(),
            task.cutoff_last_day.as_str(),
            task.status.as_str()
        ),
        ("2026-03-20", "2026-03-14", "open")
    );
    // One commune saves a draft, one submits: neither is escalated; the other 64 open ones are.
    let dong_kinh = reports::task_id("TTHC-QUY", "2026-Q1", "000.00.21.H37");
    let dk = reports::get(db, &dong_kinh).await.unwrap().unwrap();
    let values = input(&[
        ("tiep_nhan", "0"),
        ("tiep_nhan_truc_tuyen", "0"),
        ("da_giai_quyet", "0"),
        ("dung_han", "0"),
    ]);
    reports::agency_act(
        db,
        &sys(),
        &dk,
        AgencyAction::Submit,
        &values,
        ymd(2026, 3, 18),
    )
    .await
    .unwrap();
    reports::agency_act(
        db,
        &sys(),
        &task,
        AgencyAction::Save,
        &values,
        ymd(2026, 3, 18),
    )
    .await
    .unwrap();
    let r = reports::open_reports(db, &sys(), ymd(2026, 3, 23))
        .await
        .unwrap();
    // The second quarter opens; the first quarter's 65 unsent reports (the draft included)
    // are escalated.
    assert_eq!((r.opened, r.escalated), (66, 65));
    let r = reports::open_reports(db, &sys(), ymd(2026, 3, 24))
        .await
        .unwrap();
    assert_eq!((r.opened, r.escalated), (0, 0));
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM report_escalations").await,
        65
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'report.overdue'"
        )
        .await,
        65
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'report.overdue'"
        )
        .await,
        65
    );
    assert!(reports::get(db, &id).await.unwrap().unwrap().escalated);
    assert!(
        !reports::get(db, &dong_kinh)
            .await
            .unwrap()
            .unwrap()
            .escalated
    );
}

async fn refused(
    r: &Regime,
    pairs: &[(&str, &str)],
    submitting: bool,
) -> Vec<(String, &'static str)> {
    let auto = BTreeMap::from([("tiep_nhan".to_string(), 7.0)]);
    let e = reports::check_values(r, &input(pairs), &auto, submitting).unwrap_err();
    for f in &e.fields {
        assert!(f.message_vi.starts_with("Quy tắc «"), "{}", f.message_vi);
        assert!(f.message_en.starts_with("Rule “"), "{}", f.message_en);
    }
    e.fields.iter().map(|f| (f.field.clone(), f.code)).collect()
}

#[tokio::test]
async fn values_are_refused_with_the_rule_named() {
    let t = setup().await;
    let q = regime(&t.db, "TTHC-QUY").await;
    let ok = [
        ("tiep_nhan", "7"),
        ("tiep_nhan_truc_tuyen", "5"),
        ("da_giai_quyet", "6"),
        ("dung_han", "6"),
    ];
    let with = |k: &str, v: &'static str| -> Vec<(&'static str, &'static str)> {
        let mut out: Vec<(&str, &str)> = ok.iter().copied().filter(|(x, _)| *x != k).collect();
        let k: &'static str = Box::leak(k.to_string().into_boxed_str());
        out.push((k, v));
        out
    };
    let r = |f: &str, c: &'static str| vec![(f.to_string(), c)];
    assert_eq!(
        refused(&q, &with("da_giai_quyet", "nhiều"), false).await,
        r("da_giai_quyet", "number")
    );
    assert_eq!(
        refused(&q, &with("da_giai_quyet", "6,5"), false).await,
        r("da_giai_quyet", "integer")
    );
    assert_eq!(
        refused(&q, &with("da_giai_quyet", "-1"), false).await,
        r("da_giai_quyet", "min")
    );
    assert_eq!(
        refused(&q, &with("ty_le_dung_han", "101"), false).await,
        r("ty_le_dung_han", "max")
    );
    assert_eq!(
        refused(&q, &with("dung_han", "9"), false).await,
        r("dung_han", "consistency")
    );
    assert_eq!(
        refused(&q, &with("tiep_nhan", "8"), false).await,
        r("tiep_nhan", "override_reason")
    );
    assert_eq!(
        refused(&q, &with("bia", "1"), false).await,
        r("bia", "unknown_element")
    );
    // Required elements: only on submission.
    assert_eq!(
        refused(&q, &[("tiep_nhan", "7")], true).await,
        [
            ("tiep_nhan_truc_tuyen".to_string(), "required"),
            ("da_giai_quyet".to_string(), "required"),
            ("dung_han".to_string(), "required"),
        ]
    );
    let auto = BTreeMap::from([("tiep_nhan".to_string(), 7.0)]);
    assert!(reports::check_values(&q, &input(&[("tiep_nhan", "7")]), &auto, false).is_ok());
    // A changed automatic value with its reason is accepted, and keeps both.
    let mut changed = input(&ok);
    changed.get_mut("tiep_nhan").unwrap().value = "8".into();
    changed.get_mut("tiep_nhan").unwrap().reason = "Một hồ sơ nhận bằng bưu chính chưa nhập".into();
    let v = reports::check_values(&q, &changed, &auto, true).unwrap();
    assert_eq!(v["tiep_nhan"].value, serde_json::json!(8.0));
    assert_eq!(v["tiep_nhan"].auto, Some(7.0));
    // The message names the rule and the elements.
    let e = reports::check_values(&q, &input(&with("dung_han", "9")), &auto, false).unwrap_err();
    assert!(
        e.fields[0]
            .message_vi
            .contains("«Số hồ sơ giải quyết đúng hạn» ≤ «Số hồ sơ đã giải quyết xong»"),
        "{}",
        e.fields[0].message_vi
    );
    // Yearly report: booleans and texts.
    let y = regime(&t.db, "KH226-NAM").await;
    let e = reports::check_values(
        &y,
        &input(&[("dich_vu_24_7", "có lẽ")]),
        &BTreeMap::new(),
        false,
    )
    .unwrap_err();
    assert_eq!(e.fields[0].code, "boolean");
}

#[tokio::test]
async fn a_cycle_keeps_every_version_and_records_the_approved_value() {
    let t = setup().await;
    let db = &t.db;
    let y = regime(db, "KH226-NAM").await;
    let cal = tinhso_refdata::calendar::working_calendar(db)
        .await
        .unwrap();
    assert_eq!(
        reports::open_period(db, &sys(), &y, Period::Year { year: 2027 }, &cal)
            .await
            .unwrap(),
        80
    );
    let id = reports::task_id("KH226-NAM", "2027", TAM_THANH);
    let get = || async { reports::get(db, &id).await.unwrap().unwrap() };
    let full = [
        ("ho_so_cong_viec", "200"),
        ("ho_so_cong_viec_tren_mang", "150"),
        ("ty_le_ho_so_cong_viec_tren_mang", "75"),
        ("dich_vu_24_7", "có"),
        ("ket_qua_noi_bat", "Triển khai hệ thống quản lý văn bản"),
    ];
    // Submitted after 20 November 2027: accepted, marked late.
    let v = reports::agency_act(
        db,
        &sys(),
        &get().await,
        AgencyAction::Submit,
        &input(&full),
        ymd(2027, 11, 23),
    )
    .await
    .unwrap();
    assert!(v.late);
    assert!(get().await.late);
    // Approval is refused before submission elsewhere; a return needs a comment.
    let e = reports::review(db, &sys(), &get().await, ReviewAction::Return, " ")
        .await
        .unwrap_err();
    assert_eq!(e.fields[0].code, "required");
    reports::review(
        db,
        &sys(),
        &get().await,
        ReviewAction::Return,
        "Tỷ lệ chưa khớp",
    )
    .await
    .unwrap();
    // Editing a submitted report is a conflict; after the return the agency corrects.
    let mut fixed = full;
    fixed[1] = ("ho_so_cong_viec_tren_mang", "151");
    fixed[2] = ("ty_le_ho_so_cong_viec_tren_mang", "75,5");
    reports::agency_act(
        db,
        &sys(),
        &get().await,
        AgencyAction::Submit,
        &input(&fixed),
        ymd(2027, 11, 24),
    )
    .await
    .unwrap();
    let e = reports::agency_act(
        db,
        &sys(),
        &get().await,
        AgencyAction::Save,
        &input(&fixed),
        ymd(2027, 11, 24),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, tinhso_kernel::ErrorCode::Conflict);
    reports::review(db, &sys(), &get().await, ReviewAction::Approve, "")
        .await
        .unwrap();
    let task = get().await;
    assert_eq!(
        (task.status.as_str(), task.version, task.late),
        ("approved", 4, true)
    );
    let vs = reports::versions(db, &id).await.unwrap();
    let actions: Vec<&str> = vs.iter().map(|v| v.action.as_str()).collect();
    assert_eq!(actions, ["submit", "return", "submit", "approve"]);
    assert_eq!(
        vs[0].values["ty_le_ho_so_cong_viec_tren_mang"].value,
        serde_json::json!(75.0)
    );
    let ch = reports::changes(Some(&vs[1].values), &vs[2].values);
    let changed: Vec<&str> = ch.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(
        changed,
        [
            "ho_so_cong_viec_tren_mang",
            "ty_le_ho_so_cong_viec_tren_mang"
        ]
    );
    // The approved share is the agency's reported value for 2027.
    let org = tinhso_targets::engine::OrgUnit::Agency(TAM_THANH.into());
    let rv = tinhso_targets::reported::current(
        db,
        "reported.gov.work-online-all",
        Period::Year { year: 2027 },
        &org,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!((rv.value, rv.version), (75.5, 1));
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'report.approved'"
        )
        .await,
        1
    );
    assert_eq!(count(db, "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'report.%' AND action <> 'report.open'").await, 4);
}

#[tokio::test]
async fn a_regime_naming_unknown_agencies_or_indicators_is_refused_whole() {
    let t = setup().await;
    let src = regimes::SHIPPED[0]
        .1
        .replace(
            "recipient = \"000.00.06.H37\"",
            "recipient = \"000.00.99.H37\"",
        )
        .replace("reported.gov.work-online-all", "reported.gov.nothing")
        .replace("KH226-NAM", "KH226-THU");
    let e = regimes::import_text(&t.db, &sys(), "thu.toml", &src)
        .await
        .unwrap_err();
    let fields: Vec<&str> = e.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields.len(), 2, "{fields:?}");
    assert!(
        fields[0].starts_with("thu.toml:") && fields[0].ends_with(":regime.recipient"),
        "{fields:?}"
    );
    assert!(
        fields[1].ends_with(":element.ty_le_ho_so_cong_viec_tren_mang.indicator"),
        "{fields:?}"
    );
    assert_eq!(
        count(
            &t.db,
            "SELECT COUNT(*) FROM report_regimes WHERE code = 'KH226-THU'"
        )
        .await,
        0
    );
    assert_eq!(
        regimes::import_text(&t.db, &sys(), regimes::SHIPPED[1].0, regimes::SHIPPED[1].1)
            .await
            .unwrap(),
        Imported::Unchanged
    );
}
