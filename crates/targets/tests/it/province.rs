//! The province's figure from the agencies' approved values: only approved reports count, a
//! share is combined from the agencies' counts, counts are added up, coverage is told, and the
//! board and the operations centre use the figure. Values hand-computed in the comments.

use super::*;
use std::collections::BTreeMap;
use tinhso_targets::engine::{OrgUnit, Registry};
use tinhso_targets::period::Period;
use tinhso_targets::province;
use tinhso_targets::regimes::{self, Combine};
use tinhso_targets::reports::{self, AgencyAction, EntryInput, ReviewAction};

const SHARE: &str = "reported.gov.work-online-all";
const TAM_THANH: &str = "000.00.23.H37";
const FINANCE: &str = "000.00.03.H37";
const OFFICE: &str = "000.00.01.H37";

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

/// Submit `values` for the agency's task of (regime, period), then approve or return it.
async fn report(
    db: &Db,
    regime: &str,
    period: &str,
    agency: &str,
    values: &[(&str, &str)],
    decision: ReviewAction,
) {
    let id = reports::task_id(regime, period, agency);
    let task = reports::get(db, &id).await.unwrap().unwrap();
    reports::agency_act(
        db,
        &sys(),
        &task,
        AgencyAction::Submit,
        &input(values),
        ymd(2026, 11, 10),
    )
    .await
    .unwrap();
    let task = reports::get(db, &id).await.unwrap().unwrap();
    let comment = match decision {
        ReviewAction::Approve => "",
        ReviewAction::Return => "Số liệu chưa khớp",
    };
    reports::review(db, &sys(), &task, decision, comment)
        .await
        .unwrap();
}

fn yearly(
    online: &'static str,
    all: &'static str,
    share: &'static str,
) -> Vec<(&'static str, &'static str)> {
    vec![
        ("ho_so_cong_viec", all),
        ("ho_so_cong_viec_tren_mang", online),
        ("ty_le_ho_so_cong_viec_tren_mang", share),
        ("dich_vu_24_7", "có"),
        ("ket_qua_noi_bat", "Triển khai hệ thống quản lý văn bản"),
    ]
}

#[tokio::test]
async fn the_province_share_is_the_approved_agencies_counts_combined() {
    let t = env().await;
    let db = &t.db;
    regimes::seed(db, &sys()).await.unwrap();
    let y = regimes::get(db, "KH226-NAM").await.unwrap().unwrap();
    let e = y.element("ty_le_ho_so_cong_viec_tren_mang").unwrap();
    assert_eq!(e.combine(), Combine::Ratio);
    let cal = tinhso_refdata::calendar::working_calendar(db)
        .await
        .unwrap();
    let year = Period::Year { year: 2026 };
    assert_eq!(
        reports::open_period(db, &sys(), &y, year, &cal)
            .await
            .unwrap(),
        80
    );
    // Nothing approved yet: no figure.
    assert_eq!(province::figure(db, SHARE, year).await.unwrap(), None);
    // A share that is not its counts' ratio is refused on submission, naming the rule.
    let id = reports::task_id("KH226-NAM", "2026", TAM_THANH);
    let task = reports::get(db, &id).await.unwrap().unwrap();
    let err = reports::agency_act(
        db,
        &sys(),
        &task,
        AgencyAction::Submit,
        &input(&yearly("150", "200", "80")),
        ymd(2026, 11, 10),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (err.fields[0].field.as_str(), err.fields[0].code),
        ("ty_le_ho_so_cong_viec_tren_mang", "consistent")
    );
    // Tam Thanh 150/200 (75 %) and Finance 30/100 (30 %) approved; the Office's 90/100 returned.
    report(
        db,
        "KH226-NAM",
        "2026",
        TAM_THANH,
        &yearly("150", "200", "75"),
        ReviewAction::Approve,
    )
    .await;
    report(
        db,
        "KH226-NAM",
        "2026",
        FINANCE,
        &yearly("30", "100", "30"),
        ReviewAction::Approve,
    )
    .await;
    report(
        db,
        "KH226-NAM",
        "2026",
        OFFICE,
        &yearly("90", "100", "90"),
        ReviewAction::Return,
    )
    .await;
    // (150 + 30) / (200 + 100) × 100 = 60 — not the mean 52.5, and without the returned 90 %
    // (with it: 270 / 400 = 67.5).
    let f = province::figure(db, SHARE, year).await.unwrap().unwrap();
    assert_eq!(
        (f.value, f.numerator, f.denominator),
        (60.0, Some(180.0), Some(300.0))
    );
    assert_eq!(
        (f.coverage.reported, f.coverage.expected, f.coverage.combine),
        (2, 80, Combine::Ratio)
    );
    assert_eq!(
        f.coverage.label(true),
        "2/80 cơ quan đã báo cáo (tổng tử số / tổng mẫu số của các cơ quan)"
    );
    // A value typed for the Office by hand is not an approved one: nothing changes.
    let c = tinhso_targets::reported::check(
        db,
        &tinhso_targets::reported::NewValue {
            indicator: SHARE.into(),
            period: "2026".into(),
            org: format!("agency:{OFFICE}"),
            value: "10".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tinhso_targets::reported::record(db, &sys(), &c)
        .await
        .unwrap();
    let again = province::figure(db, SHARE, year).await.unwrap().unwrap();
    assert_eq!((again.value, again.coverage.reported), (60.0, 2));

    // The board (and so the annual review and the digest) and the operations centre use it.
    let today = ymd(2026, 11, 29);
    let lines = tinhso_targets::board::board_for(db, &Registry::standard(), today, year)
        .await
        .unwrap();
    let l = lines
        .iter()
        .find(|l| l.target.indicator_key == SHARE)
        .unwrap();
    let cur = l.current.clone().unwrap();
    assert_eq!((cur.value, cur.period.as_str()), (Some(60.0), "2026"));
    assert_eq!(cur.coverage.as_ref().map(|c| c.reported), Some(2));
    let centre = tinhso_targets::ops::centre(db, &Registry::standard(), today, 0)
        .await
        .unwrap();
    let tv = centre
        .targets
        .iter()
        .find(|t| t.line.target.indicator_key == SHARE)
        .unwrap();
    assert_eq!(tv.line.current.as_ref().and_then(|c| c.value), Some(60.0));
    let points: Vec<(&str, f64)> = tv
        .trend
        .iter()
        .map(|p| (p.period.as_str(), p.value))
        .collect();
    assert_eq!(points, [("2026", 60.0)]);
    // The engine's province observation for the period is the figure too.
    let o = Registry::standard()
        .observe(db, SHARE, year, &OrgUnit::Province)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((o.value, o.numerator), (Some(60.0), Some(180.0)));
    // So is the export for the Government reporting system, with its coverage.
    let export = tinhso_targets::export::export(db, &Registry::standard(), year, None)
        .await
        .unwrap();
    let e = export.values.iter().find(|v| v.indicator == SHARE).unwrap();
    assert_eq!(
        (e.value, e.numerator, e.denominator),
        (Some(60.0), Some(180.0), Some(300.0))
    );
    assert_eq!(e.coverage.as_ref().map(|c| c.reported), Some(2));
    assert_eq!(e.version, None);
    let json = serde_json::to_value(e).unwrap();
    assert_eq!(json["coverage"]["reported"], 2);
    let other = export
        .values
        .iter()
        .find(|v| v.indicator != SHARE && v.source == "reported")
        .unwrap();
    assert!(serde_json::to_value(other)
        .unwrap()
        .get("coverage")
        .is_none());

    // The Office corrects and is approved: (150 + 30 + 45) / (200 + 100 + 100) = 56.25 → 56.3.
    report(
        db,
        "KH226-NAM",
        "2026",
        OFFICE,
        &yearly("45", "100", "45"),
        ReviewAction::Approve,
    )
    .await;
    let f = province::figure(db, SHARE, year).await.unwrap().unwrap();
    assert_eq!((f.value, f.coverage.reported), (56.3, 3));
}

#[tokio::test]
async fn counts_add_up_and_an_indicator_combines_one_way() {
    let t = env().await;
    let db = &t.db;
    regimes::seed(db, &sys()).await.unwrap();
    // A reported indicator that is not a share (kind `rate`), counted by three agencies.
    let key: String = sqlx::query_scalar(
        "SELECT indicator_key FROM plan_targets WHERE kind = 'rate' \
         AND indicator_key LIKE 'reported.%' ORDER BY indicator_key LIMIT 1",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    let src = format!(
        "[regime]\ncode = \"T-DEM\"\nname_vi = \"Thử đếm\"\nname_en = \"Count test\"\n\
         content = \"Nội dung\"\nlegal_basis = \"Căn cứ\"\nfrequency = \"year\"\n\
         recipient = \"000.00.06.H37\"\nreporters = [\"{TAM_THANH}\", \"{FINANCE}\", \"{OFFICE}\"]\n\
         deadline_working_days = 5\ntemplate = [\"I. Kết quả\"]\n\n\
         [[element]]\nkey = \"so_dich_vu\"\nvi = \"Số dịch vụ\"\nen = \"Services\"\n\
         type = \"integer\"\nmin = 0\nrequired = true\nindicator = \"{key}\"\n"
    );
    let r = regimes::parse("t-dem.toml", &src).unwrap();
    assert_eq!(r.elements[0].combine(), Combine::Sum);
    regimes::import(db, &sys(), &r).await.unwrap();
    let cal = tinhso_refdata::calendar::working_calendar(db)
        .await
        .unwrap();
    let year = Period::Year { year: 2026 };
    reports::open_period(db, &sys(), &r, year, &cal)
        .await
        .unwrap();
    report(
        db,
        "T-DEM",
        "2026",
        TAM_THANH,
        &[("so_dich_vu", "12")],
        ReviewAction::Approve,
    )
    .await;
    report(
        db,
        "T-DEM",
        "2026",
        FINANCE,
        &[("so_dich_vu", "5")],
        ReviewAction::Return,
    )
    .await;
    report(
        db,
        "T-DEM",
        "2026",
        OFFICE,
        &[("so_dich_vu", "7")],
        ReviewAction::Approve,
    )
    .await;
    // 12 + 7 = 19; Finance's returned 5 is not in it.
    let f = province::figure(db, &key, year).await.unwrap().unwrap();
    assert_eq!(
        (f.value, f.coverage.reported, f.coverage.expected),
        (19.0, 2, 3)
    );
    assert_eq!(
        f.coverage.label(false),
        "2 of 3 agencies reported (sum over the agencies)"
    );

    // A second regime combining the plan's share another way is refused whole.
    let other = regimes::SHIPPED[0]
        .1
        .replace("KH226-NAM", "KH226-KHAC")
        .replace("combine = \"ratio\"", "combine = \"mean\"");
    let e = regimes::import_text(db, &sys(), "khac.toml", &other)
        .await
        .unwrap_err();
    assert_eq!(e.fields.len(), 1, "{:?}", e.fields);
    assert!(
        e.fields[0]
            .field
            .ends_with(":element.ty_le_ho_so_cong_viec_tren_mang.indicator"),
        "{:?}",
        e.fields
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM report_regimes WHERE code = 'KH226-KHAC'"
        )
        .await,
        0
    );
}
