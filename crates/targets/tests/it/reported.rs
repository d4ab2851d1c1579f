//! Reported values: every rule refuses with its name, nothing is written on a refusal, each
//! entry is a new version and the current value is the newest version of the latest period.

use super::*;
use tinhso_targets::engine::{OrgUnit, Registry};
use tinhso_targets::period::Period;
use tinhso_targets::reported::{self, NewValue};

fn value(indicator: &str, period: &str, org: &str, v: &str) -> NewValue {
    NewValue {
        indicator: indicator.into(),
        period: period.into(),
        org: org.into(),
        value: v.into(),
        ..Default::default()
    }
}

/// `(field, rule)` of every refusal.
async fn refused(db: &Db, v: NewValue) -> Vec<(String, &'static str)> {
    let e = reported::check(db, &v).await.unwrap_err();
    for f in &e.fields {
        assert!(!f.message_vi.is_empty() && !f.message_en.is_empty());
        assert!(f.message_en.starts_with("Rule “"), "{}", f.message_en);
        assert!(f.message_vi.starts_with("Quy tắc «"), "{}", f.message_vi);
    }
    e.fields.iter().map(|f| (f.field.clone(), f.code)).collect()
}

const EPAY: &str = "reported.soc.e-payment-accounts";
const DTI: &str = "reported.overall.dti-top10";

#[tokio::test]
async fn every_rule_is_named() {
    let t = env().await;
    let db = &t.db;
    let r = |f: &str, c: &'static str| vec![(f.to_string(), c)];
    assert_eq!(
        refused(db, value(EPAY, "2025", "province", "nhiều")).await,
        r("value", "number")
    );
    assert_eq!(
        refused(db, value(EPAY, "2025", "province", "120")).await,
        r("value", "range")
    );
    assert_eq!(
        refused(db, value(DTI, "2025", "province", "4,5")).await,
        r("value", "rank")
    );
    assert_eq!(
        refused(
            db,
            value("reported.border.modern-tech", "2025", "province", "50")
        )
        .await,
        r("value", "boolean")
    );
    assert_eq!(
        refused(db, value("services.online", "2025", "province", "50")).await,
        r("indicator", "indicator_live")
    );
    assert_eq!(
        refused(db, value("reported.nothing", "2025", "province", "50")).await,
        r("indicator", "indicator_unknown")
    );
    assert_eq!(
        refused(db, value(EPAY, "2025-H1", "province", "50")).await,
        r("period", "period")
    );
    assert_eq!(
        refused(db, value(EPAY, "2025", "district:001", "50")).await,
        r("org", "org")
    );
    assert_eq!(
        refused(db, value(EPAY, "2025", "commune:99999", "50")).await,
        r("org", "org")
    );
    assert_eq!(
        refused(db, value(EPAY, "2025", "agency:000.00.99.H99", "50")).await,
        r("org", "org")
    );
    let mut v = value(EPAY, "2025", "province", "50");
    v.numerator = Some("600".into());
    v.denominator = Some("500".into());
    assert_eq!(refused(db, v.clone()).await, r("numerator", "share"));
    v.numerator = Some("260".into());
    assert_eq!(refused(db, v.clone()).await, r("value", "consistent"));
    v.denominator = Some("0".into());
    assert_eq!(
        refused(db, v.clone()).await,
        r("denominator", "denominator")
    );
    v.denominator = Some("x".into());
    assert_eq!(refused(db, v.clone()).await, r("denominator", "number"));
    v.denominator = None;
    v.numerator = None;
    v.note = "x".repeat(1001);
    assert_eq!(refused(db, v).await, r("note", "length"));
    // Several at once.
    let all = refused(db, value(EPAY, "2025-13", "nowhere", "abc")).await;
    assert_eq!(
        all,
        [
            ("period".to_string(), "period"),
            ("org".to_string(), "org"),
            ("value".to_string(), "number")
        ]
    );
    assert_eq!(count(db, "SELECT COUNT(*) FROM reported_values").await, 0);
    // Consistent numbers pass: 260 / 500 = 52 %.
    let mut ok = value(EPAY, "2025", "province", "52");
    ok.numerator = Some("260".into());
    ok.denominator = Some("500".into());
    assert!(reported::check(db, &ok).await.is_ok());
}

#[tokio::test]
async fn values_are_versioned_never_overwritten() {
    let t = env().await;
    let db = &t.db;
    let ctx = |who: &str| Ctx {
        actor: who.into(),
        request_id: "req-test".into(),
    };
    let record = |v: NewValue, who: &'static str| async move {
        let c = reported::check(db, &v).await.unwrap();
        reported::record(db, &ctx(who), &c).await.unwrap()
    };
    let v1 = record(value(EPAY, "2025", "province", "41,5"), "user:a").await;
    assert_eq!(
        (v1.version, v1.value, v1.org.as_str()),
        (1, 41.5, "province")
    );
    let v2 = record(value(EPAY, "2025", "province", "43"), "user:b").await;
    assert_eq!(v2.version, 2);
    // Another period and another unit start their own versions.
    let c1 = record(value(EPAY, "2025", "commune:05986", "60"), "user:c").await;
    assert_eq!((c1.version, c1.org.as_str()), (1, "commune:05986"));
    let old = record(value(EPAY, "2024", "province", "35"), "user:a").await;
    assert_eq!(old.version, 1);
    // With its numerator and denominator (a nullable double between null ones).
    let mut nine = value(EPAY, "2025-9M", "province", "52");
    nine.numerator = Some("260".into());
    nine.denominator = Some("500".into());
    let n = record(nine, "user:a").await;
    assert_eq!((n.numerator, n.denominator), (Some(260.0), Some(500.0)));
    let mut half = value(EPAY, "2025-6M", "province", "50");
    half.denominator = Some("500".into());
    assert_eq!(record(half, "user:a").await.numerator, None);

    let p = OrgUnit::Province;
    let hist = reported::history(db, EPAY, &p).await.unwrap();
    let seen: Vec<(String, i64, f64)> = hist
        .iter()
        .map(|v| (v.period.clone(), v.version, v.value))
        .collect();
    assert_eq!(
        seen,
        [
            ("2024".to_string(), 1, 35.0),
            ("2025".to_string(), 2, 43.0),
            ("2025".to_string(), 1, 41.5),
            ("2025-6M".to_string(), 1, 50.0),
            ("2025-9M".to_string(), 1, 52.0)
        ]
    );
    assert_eq!(
        (hist[4].numerator, hist[4].denominator),
        (Some(260.0), Some(500.0))
    );
    assert_eq!(
        (hist[3].numerator, hist[3].denominator),
        (None, Some(500.0))
    );
    assert_eq!(hist[1].reported_by, "user:b");
    // The current value of a period is its newest version; the latest period wins.
    let cur = reported::current(db, EPAY, Period::parse("2025").unwrap(), &p)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((cur.version, cur.value), (2, 43.0));
    let latest = reported::latest(db, EPAY, &p).await.unwrap().unwrap();
    assert_eq!((latest.period.as_str(), latest.value), ("2025", 43.0));
    // Through the engine.
    let o = Registry::standard()
        .observe(db, EPAY, Period::parse("2025").unwrap(), &p)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (o.value, o.version, o.source.as_str()),
        (Some(43.0), Some(2), "reported")
    );
    // Every version audited, with an outbox event.
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'indicator.report'"
        )
        .await,
        6
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'indicator.reported'"
        )
        .await,
        6
    );
}
