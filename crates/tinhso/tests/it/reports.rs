//! Report tasks over HTTP (báo cáo định kỳ): a full cycle through the JSON API and the pages —
//! open → pre-filled → save → submit → return → resubmit → approve → the value among the
//! reported values — with refusals that name the rule (422, nothing written), a late
//! submission, evidence, and visibility (a third agency sees nothing before approval).

use crate::services_files::{post_multipart, Part};
use crate::{hidden_field, json, problem, text, TestApp};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use tinhso_targets::period::Period;
use tinhso_targets::{regimes, reports};

pub(crate) const TAM_THANH: &str = "000.00.23.H37";

/// Open `regime`'s tasks for `period` (as the hourly job does).
pub(crate) async fn open(app: &TestApp, regime: &str, period: &str) {
    let r = regimes::get(&app.db, regime).await.unwrap().unwrap();
    let cal = tinhso_refdata::calendar::working_calendar(&app.db)
        .await
        .unwrap();
    let ctx = tinhso_store::audit::Ctx::system("test");
    reports::open_period(&app.db, &ctx, &r, Period::parse(period).unwrap(), &cal)
        .await
        .unwrap();
}

/// POST `body` as JSON with the session's CSRF token.
pub(crate) async fn post(
    app: &TestApp,
    c: &Client,
    csrf: &str,
    path: &str,
    body: Value,
) -> reqwest::Response {
    c.post(app.url(path))
        .header("x-csrf-token", csrf)
        .json(&body)
        .send()
        .await
        .expect("POST")
}

/// Assert a POST answered 201, showing the body otherwise.
async fn created(r: reqwest::Response) {
    let s = r.status();
    assert_eq!(
        s,
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap_or_default()
    );
}

/// A report's values as entered, by element key.
pub(crate) fn values(pairs: &[(&str, &str)]) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in pairs {
        m.insert((*k).into(), json!({"value": v}));
    }
    Value::Object(m)
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("list")
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

/// Every element of a yearly KH226-NAM report, consistent (150 of 200 records online, 75 %).
pub(crate) const FULL: &[(&str, &str)] = &[
    ("ho_so_cong_viec", "200"),
    ("ho_so_cong_viec_tren_mang", "150"),
    ("ty_le_ho_so_cong_viec_tren_mang", "75"),
    ("dich_vu_24_7", "có"),
    (
        "ket_qua_noi_bat",
        "Triển khai phần mềm quản lý văn bản và hồ sơ công việc",
    ),
];

#[tokio::test]
async fn a_full_reporting_cycle_over_http() {
    let app = crate::spawn_app().await;
    open(&app, "KH226-NAM", "2031").await;
    let id = reports::task_id("KH226-NAM", "2031", TAM_THANH);
    let versions = || app.count("SELECT COUNT(*) FROM report_versions");

    let (officer, officer_csrf) = app.api_signed_in("congchuc.tamthanh").await;
    let (head, head_csrf) = app.api_signed_in("lanhdao.tamthanh").await;
    let (sokhcn, sokhcn_csrf) = app.api_signed_in("lanhdao.sokhcn").await;
    let (other, _) = app.api_signed_in("congchuc.dongkinh").await;

    // The commune's officer sees the task; the regime is the plan's yearly report.
    let (s, list) = json(
        app.get(&officer, "/api/v1/reports?regime=KH226-NAM&period=2031")
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(ids(&list), std::slice::from_ref(&id));
    assert_eq!(list[0]["due_date"], "2031-11-20");
    assert_eq!(list[0]["status"], "open");
    assert_eq!(list[0]["recipient_code"], "000.00.06.H37");
    // A third agency sees neither the task nor the report.
    let (_, l) = json(
        app.get(&other, "/api/v1/reports?regime=KH226-NAM&period=2031")
            .await,
    )
    .await;
    assert!(!ids(&l).contains(&id), "{l}");
    let (_, l) = json(app.get(&other, "/api/v1/reports?view=inbox").await).await;
    assert!(!ids(&l).contains(&id));
    let (s, _) = problem(app.get(&other, &format!("/api/v1/reports/{id}")).await).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The recipient sees it in the inbox.
    let (_, l) = json(
        app.get(&sokhcn, "/api/v1/reports?view=inbox&period=2031")
            .await,
    )
    .await;
    assert!(ids(&l).contains(&id));

    // Bad values: 422 naming each rule, nothing written.
    let bad = values(&[
        ("ho_so_cong_viec", "hai trăm"),
        ("ho_so_cong_viec_tren_mang", "10,5"),
        ("ty_le_ho_so_cong_viec_tren_mang", "120"),
        ("dich_vu_24_7", "có lẽ"),
    ]);
    let path = format!("/api/v1/reports/{id}/versions");
    let (s, p) = problem(
        post(
            &app,
            &officer,
            &officer_csrf,
            &path,
            json!({"action": "save", "values": bad}),
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let codes = crate::field_codes(&p);
    assert_eq!(
        codes,
        [
            ("ho_so_cong_viec".to_string(), "number".to_string()),
            ("ho_so_cong_viec_tren_mang".into(), "integer".into()),
            ("ty_le_ho_so_cong_viec_tren_mang".into(), "max".into()),
            ("dich_vu_24_7".into(), "boolean".into()),
        ],
        "{p}"
    );
    assert!(
        p["errors"][0]["message_vi"]
            .as_str()
            .unwrap()
            .starts_with("Quy tắc «số»"),
        "{p}"
    );
    // Inconsistent: more records online than records.
    let incons = values(&[
        ("ho_so_cong_viec", "100"),
        ("ho_so_cong_viec_tren_mang", "150"),
    ]);
    let (s, p) = problem(
        post(
            &app,
            &officer,
            &officer_csrf,
            &path,
            json!({"action": "save", "values": incons}),
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["code"], "consistency", "{p}");
    assert_eq!(versions().await, 0);

    // The officer saves a draft but may not submit: the head does.
    let (s, v) = json(
        post(
            &app,
            &officer,
            &officer_csrf,
            &path,
            json!({"action": "save", "values": values(FULL)}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, v["version"].as_i64(), v["status"].as_str()),
        (StatusCode::CREATED, Some(1), Some("draft")),
        "{v}"
    );
    let (s, _) = problem(
        post(
            &app,
            &officer,
            &officer_csrf,
            &path,
            json!({"action": "submit", "values": values(FULL)}),
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = json(
        post(
            &app,
            &head,
            &head_csrf,
            &path,
            json!({"action": "submit", "values": values(FULL)}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, v["status"].as_str(), v["late"].as_bool()),
        (StatusCode::CREATED, Some("submitted"), Some(false)),
        "{v}"
    );
    // Submitted: no more edits.
    let (s, _) = problem(
        post(
            &app,
            &head,
            &head_csrf,
            &path,
            json!({"action": "save", "values": values(FULL)}),
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // The reporting agency cannot review its own report; the recipient returns it.
    let review = format!("/api/v1/reports/{id}/review");
    let (s, _) = problem(
        post(
            &app,
            &head,
            &head_csrf,
            &review,
            json!({"action": "approve"}),
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, p) = problem(
        post(
            &app,
            &sokhcn,
            &sokhcn_csrf,
            &review,
            json!({"action": "return", "comment": ""}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, p["errors"][0]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("required"))
    );
    let (s, v) = json(
        post(
            &app,
            &sokhcn,
            &sokhcn_csrf,
            &review,
            json!({"action": "return", "comment": "Đề nghị rà soát lại tỷ lệ"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::CREATED, Some("returned")),
        "{v}"
    );

    // The page shows the comment; the head corrects and resubmits through the form.
    // The API session is also the page session (one sign-in: the TOTP code is single-use).
    let head_page = head.clone();
    let (s, html) = text(
        app.get(&head_page, &format!("/nghiep-vu/bao-cao/{id}"))
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Đề nghị rà soát lại tỷ lệ"));
    let csrf = hidden_field(&html, "csrf").unwrap();
    let mut form: Vec<(String, String)> = FULL
        .iter()
        .map(|(k, v)| (format!("v_{k}"), v.to_string()))
        .collect();
    form.push(("csrf".into(), csrf.clone()));
    form.push(("action".into(), "gui".into()));
    // A bad value re-shows the form with the message, 422, nothing written.
    let mut bad_form = form.clone();
    bad_form[2].1 = "75%".into();
    let resp = head_page
        .post(app.url(&format!("/nghiep-vu/bao-cao/{id}")))
        .form(&bad_form)
        .send()
        .await
        .unwrap();
    let (s, html) = text(resp).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains(
            "Quy tắc «số»: «Tỷ lệ hồ sơ công việc được xử lý trên môi trường mạng» phải là một số"
        ),
        "{html}"
    );
    assert!(html.contains("value=\"75%\""), "the entered value is kept");
    assert_eq!(versions().await, 3);
    // The share with its counts (151 of 200): submission checks they agree.
    form[1].1 = "151".into();
    form[2].1 = "75,5".into();
    let resp = head_page
        .post(app.url(&format!("/nghiep-vu/bao-cao/{id}")))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);

    // Evidence cannot be added once the report is submitted again.
    let upload = format!("/nghiep-vu/bao-cao/{id}/minh-chung?csrf={csrf}");
    let resp = post_multipart(
        &app,
        &head_page,
        &upload,
        &[Part::File(
            "file",
            "bao-cao.pdf",
            "application/pdf",
            b"%PDF-1.7\n1 0 obj\n".to_vec(),
        )],
    )
    .await;
    // Submitted again: the report takes no more files.
    assert_eq!(resp.status(), StatusCode::CONFLICT);

    // The recipient approves; the value is the agency's reported value for 2031.
    let (s, v) = json(
        post(
            &app,
            &sokhcn,
            &sokhcn_csrf,
            &review,
            json!({"action": "approve"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, v["status"].as_str(), v["version"].as_i64()),
        (StatusCode::CREATED, Some("approved"), Some(5)),
        "{v}"
    );
    let (s, vals) = json(app.get(&sokhcn, &format!("/api/v1/indicator-values?indicator=reported.gov.work-online-all&org=agency:{TAM_THANH}")).await).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(vals.as_array().unwrap().len(), 1, "{vals}");
    assert_eq!(
        (vals[0]["period"].as_str(), vals[0]["value"].as_f64()),
        (Some("2031"), Some(75.5))
    );
    let (s, o) = json(app.get(&head, &format!("/api/v1/observations?indicator=reported.gov.work-online-all&period=2031&org=agency:{TAM_THANH}")).await).await;
    assert_eq!(
        (s, o["value"].as_f64(), o["source"].as_str()),
        (StatusCode::OK, Some(75.5), Some("reported")),
        "{o}"
    );

    // Every version kept, with what changed; approved reports are visible to all staff.
    let (s, r) = json(app.get(&other, &format!("/api/v1/reports/{id}")).await).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let actions: Vec<&str> = r["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["save", "submit", "return", "submit", "approve"]);
    assert_eq!(
        r["versions"][1]["values"]["ty_le_ho_so_cong_viec_tren_mang"]["value"],
        75.0
    );
    assert_eq!(
        r["versions"][3]["values"]["ty_le_ho_so_cong_viec_tren_mang"]["value"],
        75.5
    );
    let (_, html) = text(
        app.get(&head_page, &format!("/nghiep-vu/bao-cao/{id}"))
            .await,
    )
    .await;
    assert!(html.contains("<del>75</del> → <ins>75,5</ins>"), "{html}");
    for (action, n) in [
        ("report.save", 1),
        ("report.submit", 2),
        ("report.return", 1),
        ("report.approve", 1),
    ] {
        assert_eq!(app.audit_count(action).await, n, "{action}");
    }
    for (topic, n) in [
        ("report.saved", 1),
        ("report.submitted", 2),
        ("report.returned", 1),
        ("report.approved", 1),
    ] {
        let c: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE topic = $1")
            .bind(topic)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        assert_eq!(c, n, "{topic}");
    }
}

#[tokio::test]
async fn late_reports_are_marked_and_pages_show_prefilled_values() {
    let app = crate::spawn_app().await;
    // The 2020 report was due on 20 November 2020: submitting now is accepted, marked late.
    open(&app, "KH226-NAM", "2020").await;
    let id = reports::task_id("KH226-NAM", "2020", TAM_THANH);
    let (head, csrf) = app.api_signed_in("lanhdao.tamthanh").await;
    let path = format!("/api/v1/reports/{id}/versions");
    let (s, v) = json(
        post(
            &app,
            &head,
            &csrf,
            &path,
            json!({"action": "submit", "values": values(FULL)}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, v["late"].as_bool()),
        (StatusCode::CREATED, Some(true)),
        "{v}"
    );
    let page = app.signed_in("congchuc.tamthanh").await;
    let (_, html) = text(
        app.get(&page, "/nghiep-vu/bao-cao?trang_thai=submitted")
            .await,
    )
    .await;
    assert!(html.contains(&format!("id=\"{id}\"")), "{html}");
    assert!(html.contains("data-flag=\"late\""));
    // The other agencies' 2020 reports were never sent: escalated once, flagged in the
    // recipient's inbox; the submitted one is not.
    let ctx = tinhso_store::audit::Ctx::system("test");
    let today = tinhso_services::dossier::today_local();
    let first = reports::escalate_overdue(&app.db, &ctx, today)
        .await
        .unwrap();
    assert!(first >= 79, "{first}");
    assert_eq!(
        reports::escalate_overdue(&app.db, &ctx, today)
            .await
            .unwrap(),
        0
    );
    let dong_kinh = reports::task_id("KH226-NAM", "2020", "000.00.21.H37");
    let recipient = app.signed_in("lanhdao.sokhcn").await;
    let (s, inbox) = text(app.get(&recipient, "/nghiep-vu/bao-cao/hop-thu").await).await;
    assert_eq!(s, StatusCode::OK);
    let row = |html: &str, id: &str| -> String {
        let at = html
            .find(&format!("<tr id=\"{id}\""))
            .unwrap_or_else(|| panic!("{id} listed"));
        html[at..at + html[at..].find("</tr>").unwrap()].to_string()
    };
    assert!(row(&inbox, &dong_kinh).contains("data-flag=\"escalated\""));
    assert!(!row(&inbox, &id).contains("data-flag=\"escalated\""));
    assert!(row(&inbox, &id).contains("data-flag=\"late\""));
    // The recipient returns it through the form: without a comment, 422 and the message.
    let (_, html) = text(
        app.get(&recipient, &format!("/nghiep-vu/bao-cao/{id}"))
            .await,
    )
    .await;
    let rcsrf = hidden_field(&html, "csrf").unwrap();
    let review = format!("/nghiep-vu/bao-cao/{id}/duyet");
    let form = [
        ("csrf", rcsrf.as_str()),
        ("action", "tra_lai"),
        ("comment", ""),
    ];
    let (s, html) = text(
        recipient
            .post(app.url(&review))
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("Quy tắc «bắt buộc»: khi trả lại cần ghi ý kiến"),
        "{html}"
    );
    let form = [
        ("csrf", rcsrf.as_str()),
        ("action", "tra_lai"),
        ("comment", "Thiếu số liệu kinh phí"),
    ];
    let resp = recipient
        .post(app.url(&review))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let (_, html) = text(app.get(&page, &format!("/nghiep-vu/bao-cao/{id}")).await).await;
    assert!(html.contains("Thiếu số liệu kinh phí"));

    // The quarter's procedures report is pre-filled from the commune's own dossiers (the demo
    // data files some in Tam Thanh today), as the live provider counts them.
    let today = tinhso_services::dossier::today_local();
    let q = Period::containing(tinhso_targets::period::Frequency::Quarter, today);
    open(&app, "TTHC-QUY", &q.to_string()).await;
    let qid = reports::task_id("TTHC-QUY", &q.to_string(), TAM_THANH);
    let org = tinhso_targets::engine::OrgUnit::Agency(TAM_THANH.into());
    let live = tinhso_targets::engine::Registry::standard()
        .observe(&app.db, "services.online", q, &org)
        .await
        .unwrap()
        .unwrap();
    let received = live.denominator.unwrap();
    assert!(
        received >= 1.0,
        "the demo files dossiers in Tam Thanh today: {live:?}"
    );
    let (s, r) = json(app.get(&head, &format!("/api/v1/reports/{qid}")).await).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["prefill"]["tiep_nhan"].as_f64(), Some(received));
    assert_eq!(
        r["prefill"]["tiep_nhan_truc_tuyen"].as_f64(),
        live.numerator
    );
    let (_, html) = text(app.get(&page, &format!("/nghiep-vu/bao-cao/{qid}")).await).await;
    assert!(html.contains("data-auto=\"tiep_nhan\""), "{html}");
    // Changing an automatic value needs a reason.
    let (officer, ocsrf) = app.api_signed_in("congchuc.tamthanh").await;
    let path = format!("/api/v1/reports/{qid}/versions");
    let more = format!("{}", received + 1.0);
    let body = json!({"action": "save", "values": {"tiep_nhan": {"value": more}}});
    let (s, p) = problem(post(&app, &officer, &ocsrf, &path, body).await).await;
    assert_eq!(
        (s, p["errors"][0]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("override_reason")),
        "{p}"
    );
    let body = json!({"action": "save", "values": {"tiep_nhan": {"value": more, "reason": "Một hồ sơ nhận qua bưu chính"}}});
    let (s, v) = json(post(&app, &officer, &ocsrf, &path, body).await).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["values"]["tiep_nhan"]["auto"].as_f64(), Some(received));
    // Evidence while editable: a PNG is kept; a text file is refused by its content.
    let (_, html) = text(app.get(&page, &format!("/nghiep-vu/bao-cao/{qid}")).await).await;
    let csrf = hidden_field(&html, "csrf").unwrap();
    let upload = format!("/nghiep-vu/bao-cao/{qid}/minh-chung?csrf={csrf}");
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let resp = post_multipart(
        &app,
        &page,
        &upload,
        &[Part::File("file", "anh.png", "image/png", png)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let resp = post_multipart(
        &app,
        &page,
        &upload,
        &[Part::File(
            "file",
            "ghi-chu.pdf",
            "application/pdf",
            b"just text".to_vec(),
        )],
    )
    .await;
    let (s, html) = text(resp).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("anh.png"), "the evidence list stays");
    assert_eq!(app.count("SELECT COUNT(*) FROM report_evidence").await, 1);
    // The file is served to the agency, not to a third one before approval.
    let (s, _) = text(
        app.get(&page, &format!("/nghiep-vu/bao-cao/{qid}/minh-chung/1"))
            .await,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let third = app.signed_in("congchuc.dongkinh").await;
    assert_eq!(
        app.get(&third, &format!("/nghiep-vu/bao-cao/{qid}/minh-chung/1"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&third, &format!("/nghiep-vu/bao-cao/{qid}"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let (_, html) = text(app.get(&third, "/nghiep-vu/bao-cao").await).await;
    assert!(!html.contains(&qid) && !html.contains(&id));
}

/// Before approval a report — its page, its API record with every version, its evidence, its
/// place in the lists and in the operations centre's list of report versions — is read only by
/// the reporting agency's staff and the recipient's (and the province's leaders, who direct
/// both). Refused: nobody signed in (401), an officer of a third commune, the leader of a third
/// agency (the border economic zone's board, which holds `leader_dashboard`), and the hub's
/// administrator, whose province-wide `back_office` is technical. Once approved, every staff
/// member reads it and the third agency's leader sees its versions behind the value.
#[tokio::test]
async fn before_approval_only_the_reporter_and_the_recipient_read_a_report() {
    let app = crate::spawn_app().await;
    open(&app, "KH226-NAM", "2031").await;
    let id = reports::task_id("KH226-NAM", "2031", TAM_THANH);
    let (officer, officer_csrf) = app.api_signed_in("congchuc.tamthanh").await;
    let (head, head_csrf) = app.api_signed_in("lanhdao.tamthanh").await;
    let (sokhcn, sokhcn_csrf) = app.api_signed_in("lanhdao.sokhcn").await;
    let (province, _) = app.api_signed_in("lanhdao.tinh").await;
    let (third, _) = app.api_signed_in("congchuc.dongkinh").await;
    let (third_leader, _) = app.api_signed_in("bql.cuakhau").await;
    let (hub_admin, _) = app.api_signed_in("quantri.lgsp").await;
    let anonymous = crate::client();

    // Saved with evidence, then submitted: not approved yet.
    let versions = format!("/api/v1/reports/{id}/versions");
    let save = json!({"action": "save", "values": values(FULL)});
    created(post(&app, &officer, &officer_csrf, &versions, save).await).await;
    let (_, html) = text(app.get(&officer, &format!("/nghiep-vu/bao-cao/{id}")).await).await;
    let csrf = hidden_field(&html, "csrf").unwrap();
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let resp = post_multipart(
        &app,
        &officer,
        &format!("/nghiep-vu/bao-cao/{id}/minh-chung?csrf={csrf}"),
        &[Part::File("file", "bien-ban.png", "image/png", png)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let submit = json!({"action": "submit", "values": values(FULL)});
    created(post(&app, &head, &head_csrf, &versions, submit).await).await;

    let reads = [
        format!("/api/v1/reports/{id}"),
        format!("/nghiep-vu/bao-cao/{id}"),
        format!("/api/v1/reports/{id}/evidence/1"),
        format!("/nghiep-vu/bao-cao/{id}/minh-chung/1"),
    ];
    // The report's versions behind the value, on the operations centre's province drill-down.
    let drill =
        "/api/v1/operations/drill?indicator=reported.gov.work-online-all&org=province&ky=2031";
    let trail = |v: &Value| -> Vec<String> {
        v["reports"]
            .as_array()
            .unwrap_or_else(|| panic!("no reports list: {v}"))
            .iter()
            .filter(|r| r["task_id"] == id.as_str())
            .map(|r| r["action"].as_str().unwrap().to_string())
            .collect()
    };
    // Reporter, recipient and the province's leader read everything.
    for (who, c) in [
        ("officer", &officer),
        ("head", &head),
        ("recipient", &sokhcn),
        ("province", &province),
    ] {
        for path in &reads {
            let s = app.get(c, path).await.status();
            assert_eq!(s, StatusCode::OK, "{who} {path}");
        }
    }
    let (s, v) = json(app.get(&province, drill).await).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(trail(&v), ["submit", "save"]);
    let (_, v) = json(
        app.get(&sokhcn, "/api/v1/reports?view=inbox&period=2031")
            .await,
    )
    .await;
    assert!(ids(&v).contains(&id));

    // Nobody signed in: 401 on the API, no page.
    for path in &reads {
        let s = app.get(&anonymous, path).await.status();
        if path.starts_with("/api/") {
            assert_eq!(s, StatusCode::UNAUTHORIZED, "anonymous {path}");
        } else {
            assert!(
                s.is_redirection() || s == StatusCode::UNAUTHORIZED,
                "anonymous {path}: {s}"
            );
        }
    }
    let s = app.get(&anonymous, drill).await.status();
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A third commune's officer, a third agency's leader, the hub's administrator: 403, and
    // the report is in none of their lists.
    let denied_before = app
        .count("SELECT COUNT(*) FROM audit_log WHERE action = 'authz.denied'")
        .await;
    for (who, c) in [
        ("third", &third),
        ("third_leader", &third_leader),
        ("hub_admin", &hub_admin),
    ] {
        for path in &reads {
            let s = app.get(c, path).await.status();
            assert_eq!(s, StatusCode::FORBIDDEN, "{who} {path}");
        }
        for view in ["mine", "inbox", "approved"] {
            let (s, l) = json(
                app.get(c, &format!("/api/v1/reports?view={view}&period=2031"))
                    .await,
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{who} {view}: {l}");
            assert!(!ids(&l).contains(&id), "{who} {view}: {l}");
        }
        let (_, html) = text(app.get(c, "/nghiep-vu/bao-cao/hop-thu").await).await;
        assert!(!html.contains(&id), "{who}: inbox page");
    }
    // Each refusal is audited (4 reads × 3 callers).
    let denied = app
        .count("SELECT COUNT(*) FROM audit_log WHERE action = 'authz.denied'")
        .await;
    assert!(denied - denied_before >= 12, "{denied_before} → {denied}");
    // The third agency's leader may open the province drill-down but not see the report's
    // versions; the hub's administrator holds no leader_dashboard at all.
    let (s, v) = json(app.get(&third_leader, drill).await).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(trail(&v).is_empty(), "{v}");
    let s = app.get(&hub_admin, drill).await.status();
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Approved: every staff member reads it; the third agency's leader sees every version.
    let review = format!("/api/v1/reports/{id}/review");
    let approve = json!({"action": "approve"});
    created(post(&app, &sokhcn, &sokhcn_csrf, &review, approve).await).await;
    for c in [&third, &third_leader, &hub_admin] {
        for path in &reads {
            assert_eq!(app.get(c, path).await.status(), StatusCode::OK, "{path}");
        }
    }
    let (_, v) = json(app.get(&third_leader, drill).await).await;
    assert_eq!(trail(&v), ["approve", "submit", "save"]);
    for s in [
        app.get(&anonymous, &reads[0]).await.status(),
        app.get(&anonymous, &reads[2]).await.status(),
    ] {
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
}

/// The words of a PDF's text (`pdftotext`, poppler-utils), one space apart.
fn pdf_words(pdf: &[u8]) -> String {
    tinhso_pdf::test_support::words(&tinhso_pdf::test_support::pdftotext(pdf, true))
}

#[tokio::test]
async fn before_approval_the_annual_review_shows_a_reports_standing_only_to_its_reporter_and_recipient(
) {
    const DONG_KINH: &str = "000.00.21.H37";
    const BORDER_BOARD: &str = "000.00.15.H37";
    let app = crate::spawn_app().await;
    open(&app, "KH226-NAM", "2026").await;
    let id = reports::task_id("KH226-NAM", "2026", TAM_THANH);
    let (head, head_csrf) = app.api_signed_in("lanhdao.tamthanh").await;
    let (sokhcn, sokhcn_csrf) = app.api_signed_in("lanhdao.sokhcn").await;
    // Tam Thanh submits (after the 20 November deadline: late); the others have not.
    let versions = format!("/api/v1/reports/{id}/versions");
    let submit = json!({"action": "submit", "values": values(FULL)});
    created(post(&app, &head, &head_csrf, &versions, submit).await).await;

    let review = "/api/v1/targets/annual-review?year=2026";
    // Each agency's standing in the caller's review, by agency code.
    let standings = |v: &Value| -> std::collections::BTreeMap<String, Value> {
        v["reporting"]["agencies"]
            .as_array()
            .unwrap_or_else(|| panic!("no agencies: {v}"))
            .iter()
            .map(|a| (a["agency_code"].as_str().unwrap().to_string(), a.clone()))
            .collect()
    };
    // Each account signs in once (a TOTP code is accepted once).
    let mut clients = std::collections::BTreeMap::new();
    for who in [
        "congchuc.tamthanh",
        "lanhdao.tinh",
        "congchuc.dongkinh",
        "bql.cuakhau",
        "quantri.lgsp",
    ] {
        clients.insert(who, app.api_signed_in(who).await.0);
    }
    clients.insert("lanhdao.tamthanh", head.clone());
    clients.insert("lanhdao.sokhcn", sokhcn.clone());
    let standing_of = async |who: &str, agency: &str| -> Value {
        let c = &clients[who];
        let (s, v) = json(app.get(c, review).await).await;
        assert_eq!(s, StatusCode::OK, "{who}: {v}");
        let all = standings(&v);
        assert_eq!(all.len(), 80, "{who}: every reporting agency is listed");
        all.get(agency)
            .cloned()
            .unwrap_or_else(|| panic!("{who}: no {agency}"))
    };

    // The reporter, the recipient and the province's leader see the submission and its dates.
    for who in [
        "congchuc.tamthanh",
        "lanhdao.tamthanh",
        "lanhdao.sokhcn",
        "lanhdao.tinh",
    ] {
        let a = standing_of(who, TAM_THANH).await;
        assert_eq!(a["standing"], "submitted", "{who}: {a}");
        assert_eq!(a["submitted_late"], true, "{who}: {a}");
        assert!(a["submitted_at"].is_i64(), "{who}: {a}");
    }
    // A third commune's officer, a third agency's leader, the hub's administrator: the report
    // is only "not approved", with no date; each still sees its own agency's standing.
    for (who, own) in [
        ("congchuc.dongkinh", Some(DONG_KINH)),
        ("bql.cuakhau", Some(BORDER_BOARD)),
        ("quantri.lgsp", None),
    ] {
        let a = standing_of(who, TAM_THANH).await;
        assert_eq!(a["standing"], "withheld", "{who}: {a}");
        assert_eq!(a["submitted_late"], false, "{who}: {a}");
        assert!(a["submitted_at"].is_null() && a["escalated_on"].is_null());
        if let Some(own) = own {
            let a = standing_of(who, own).await;
            assert_eq!(a["standing"], "late", "{who}: own {a}");
        }
    }
    // Every standing but the approved ones is withheld from the hub's administrator; the
    // counts say so.
    let hub = &clients["quantri.lgsp"];
    let (_, v) = json(app.get(hub, review).await).await;
    assert!(standings(&v).values().all(|a| a["standing"] == "withheld"));
    // The PDF and the spreadsheet are made from the same review.
    let resp = app
        .get(hub, "/nghiep-vu/muc-tieu/bao-cao-nam.pdf?year=2026")
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let w = pdf_words(&resp.bytes().await.unwrap());
    assert!(
        w.contains("80 cơ quan phải báo cáo. Đã duyệt: 0; Đã gửi, chờ duyệt: 0; Bị trả lại: 0; Quá hạn, chưa gửi: 0; Chưa gửi: 0; Chưa duyệt (không được xem tình hình): 80."),
        "{w}"
    );
    assert!(
        !w.contains("Gửi muộn") && !w.contains("đã báo quá hạn"),
        "{w}"
    );
    let resp = app
        .get(
            &clients["lanhdao.tinh"],
            "/nghiep-vu/muc-tieu/bao-cao-nam.pdf?year=2026",
        )
        .await;
    let w = pdf_words(&resp.bytes().await.unwrap());
    assert!(
        w.contains("Đã gửi, chờ duyệt: 1; Bị trả lại: 0; Quá hạn, chưa gửi: 79"),
        "{w}"
    );

    // Approved: every staff member sees it approved.
    let approve = json!({"action": "approve"});
    let path = format!("/api/v1/reports/{id}/review");
    created(post(&app, &sokhcn, &sokhcn_csrf, &path, approve).await).await;
    for who in ["congchuc.dongkinh", "bql.cuakhau", "quantri.lgsp"] {
        let a = standing_of(who, TAM_THANH).await;
        assert_eq!(a["standing"], "approved", "{who}: {a}");
        assert_eq!(a["submitted_late"], true, "{who}: {a}");
    }
}
