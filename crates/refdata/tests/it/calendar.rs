use super::{audited, count, ctx, fields};
use chrono::NaiveDate;
use tinhso_kernel::calendar::HolidayKind;
use tinhso_kernel::ErrorCode;
use tinhso_refdata::calendar::{self as cal, Override, OverrideInput};
use tinhso_store::audit;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn input(kind: &str, name_vi: &str, name_en: &str) -> OverrideInput {
    OverrideInput {
        kind: kind.into(),
        name_vi: name_vi.into(),
        name_en: name_en.into(),
    }
}

#[tokio::test]
async fn day_off_override_makes_a_holiday() {
    let t = super::db().await;
    let day = d("2026-09-03"); // a Thursday, the day after National Day
    let cal0 = cal::working_calendar(&t.db).await.unwrap();
    assert!(cal0.is_working_day(day));
    assert_eq!(cal0.holiday(day), None);
    // by default the adjacent National Day holiday is 1/9
    assert!(!cal0.is_working_day(d("2026-09-01")));

    let o = cal::set(
        &t.db,
        &ctx(),
        " 2026-09-03 ",
        &input(
            "day_off",
            "Nghỉ Quốc khánh (ngày liền kề)",
            "National Day (adjacent day)",
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        o,
        Override {
            day: "2026-09-03".into(),
            kind: "day_off".into(),
            name_vi: "Nghỉ Quốc khánh (ngày liền kề)".into(),
            name_en: "National Day (adjacent day)".into(),
        }
    );
    assert_eq!(cal::overrides(&t.db).await.unwrap(), vec![o.clone()]);
    let c = cal::working_calendar(&t.db).await.unwrap();
    assert!(!c.is_working_day(day));
    let h = c.holiday(day).unwrap();
    assert_eq!(h.kind, HolidayKind::Override);
    assert_eq!(h.name_vi, "Nghỉ Quốc khánh (ngày liền kề)");
    assert_eq!(h.name_en, "National Day (adjacent day)");
    assert!(c
        .holidays(2026)
        .iter()
        .any(|h| h.date == day && h.kind == HolidayKind::Override));
    // deadlines move: Wednesday 2/9 + 1 working day is now Friday 4/9
    assert_eq!(c.next_working_day(d("2026-09-02")), d("2026-09-04"));
    assert_eq!(cal0.next_working_day(d("2026-09-02")), day);

    let set = audited(&t.db, "calendar.set_override").await;
    assert_eq!(set.len(), 1);
    assert_eq!(
        (set[0].target_type.as_str(), set[0].target_id.as_str()),
        ("calendar_day", "2026-09-03")
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&set[0].summary).unwrap(),
        serde_json::json!({"before": null, "after": {"day": "2026-09-03", "kind": "day_off",
            "name_vi": "Nghỉ Quốc khánh (ngày liền kề)", "name_en": "National Day (adjacent day)"}})
    );
    let events = tinhso_store::outbox::read_after(&t.db, 0, "calendar.", 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload, serde_json::json!({"day": "2026-09-03"}));
}

#[tokio::test]
async fn saturday_working_day_then_removed() {
    let t = super::db().await;
    let sat = d("2026-09-12");
    assert_eq!(chrono::Datelike::weekday(&sat), chrono::Weekday::Sat);
    assert!(!cal::working_calendar(&t.db)
        .await
        .unwrap()
        .is_working_day(sat));
    cal::set(
        &t.db,
        &ctx(),
        "2026-09-12",
        &input("working_day", "Làm bù cho ngày 3/9", ""),
    )
    .await
    .unwrap();
    let c = cal::working_calendar(&t.db).await.unwrap();
    assert!(c.is_working_day(sat));
    assert_eq!(c.holiday(sat), None);
    assert_eq!(c.next_working_day(d("2026-09-11")), sat);

    cal::remove(&t.db, &ctx(), "2026-09-12").await.unwrap();
    let c = cal::working_calendar(&t.db).await.unwrap();
    assert!(!c.is_working_day(sat));
    assert_eq!(c.next_working_day(d("2026-09-11")), d("2026-09-14"));
    assert!(cal::overrides(&t.db).await.unwrap().is_empty());
    // removing again: nothing to remove
    let e = cal::remove(&t.db, &ctx(), "2026-09-12").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);

    let removed = audited(&t.db, "calendar.remove_override").await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].target_id, "2026-09-12");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&removed[0].summary).unwrap(),
        serde_json::json!({"before": {"day": "2026-09-12", "kind": "working_day",
            "name_vi": "Làm bù cho ngày 3/9", "name_en": ""}})
    );
}

#[tokio::test]
async fn replacing_an_override_keeps_one_row_and_records_the_before() {
    let t = super::db().await;
    // a statutory holiday turned into a working day (the government chose 3/9 instead of 1/9)
    let day = d("2026-09-01");
    cal::set(
        &t.db,
        &ctx(),
        "2026-09-01",
        &input("day_off", "Nghỉ", "Off"),
    )
    .await
    .unwrap();
    cal::set(
        &t.db,
        &ctx(),
        "2026-09-01",
        &input("working_day", "Đổi sang nghỉ ngày 3/9", ""),
    )
    .await
    .unwrap();
    let list = cal::overrides(&t.db).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].kind, "working_day");
    let c = cal::working_calendar(&t.db).await.unwrap();
    assert!(c.is_working_day(day));
    assert!(
        !c.holidays(2026).iter().any(|h| h.date == day),
        "1/9 is no longer listed"
    );
    let set = audited(&t.db, "calendar.set_override").await;
    assert_eq!(set.len(), 2);
    let s: serde_json::Value = serde_json::from_str(&set[1].summary).unwrap();
    assert_eq!(s["before"]["kind"], "day_off");
    assert_eq!(s["after"]["kind"], "working_day");
}

#[tokio::test]
async fn invalid_input_is_refused_and_not_audited() {
    let t = super::db().await;
    for bad in ["2026-13-01", "2026-02-30", "03/09/2026", ""] {
        let e = cal::set(&t.db, &ctx(), bad, &input("day_off", "Nghỉ", "Off"))
            .await
            .unwrap_err();
        assert_eq!(e.status(), 422, "{bad:?}");
        assert_eq!(fields(&e), vec![("day".into(), "date_format")], "{bad:?}");
        let e = cal::remove(&t.db, &ctx(), bad).await.unwrap_err();
        assert_eq!(fields(&e), vec![("day".into(), "date_format")], "{bad:?}");
    }
    let e = cal::set(&t.db, &ctx(), "2026-09-03", &input("holiday", "N", ""))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::ValidationFailed);
    assert_eq!(
        fields(&e),
        vec![
            ("kind".into(), "override_kind"),
            ("name_vi".into(), "too_short")
        ]
    );
    let e = cal::set(
        &t.db,
        &ctx(),
        "2026-09-03",
        &input("DAY_OFF", "Nghỉ lễ", ""),
    )
    .await
    .unwrap_err();
    assert_eq!(fields(&e), vec![("kind".into(), "override_kind")]);
    assert_eq!(count(&t.db, "calendar_overrides").await, 0);
    assert_eq!(count(&t.db, "audit_log").await, 0);
    assert_eq!(count(&t.db, "outbox").await, 0);
}

#[tokio::test]
async fn every_change_is_audited_in_order() {
    let t = super::db().await;
    cal::set(
        &t.db,
        &ctx(),
        "2026-09-03",
        &input("day_off", "Nghỉ Quốc khánh", "National Day"),
    )
    .await
    .unwrap();
    cal::set(
        &t.db,
        &ctx(),
        "2026-09-12",
        &input("working_day", "Làm bù", ""),
    )
    .await
    .unwrap();
    cal::set(
        &t.db,
        &ctx(),
        "2026-09-03",
        &input("day_off", "Nghỉ lễ Quốc khánh", "National Day"),
    )
    .await
    .unwrap();
    cal::remove(&t.db, &ctx(), "2026-09-12").await.unwrap();
    cal::set(&t.db, &ctx(), "2026-13-01", &input("day_off", "Sai", ""))
        .await
        .unwrap_err();
    let mut trail = audit::list(&t.db, &audit::AuditFilter::default())
        .await
        .unwrap();
    trail.reverse();
    assert_eq!(
        trail
            .iter()
            .map(|e| (e.action.as_str(), e.target_id.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("calendar.set_override", "2026-09-03"),
            ("calendar.set_override", "2026-09-12"),
            ("calendar.set_override", "2026-09-03"),
            ("calendar.remove_override", "2026-09-12"),
        ]
    );
    assert!(trail
        .iter()
        .all(|e| e.actor == "cli:test" && e.request_id == "req-test"));
    assert_eq!(count(&t.db, "outbox").await, 4);
    let r = audit::verify(&t.db).await.unwrap();
    assert_eq!((r.entries_checked, r.first_broken), (4, None));
    assert_eq!(
        cal::overrides(&t.db)
            .await
            .unwrap()
            .iter()
            .map(|o| (o.day.as_str(), o.name_vi.as_str()))
            .collect::<Vec<_>>(),
        vec![("2026-09-03", "Nghỉ lễ Quốc khánh")]
    );
}
