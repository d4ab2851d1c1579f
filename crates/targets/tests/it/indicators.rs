//! The live provider against hand-computed values. Six dossiers, submitted through
//! `tinhso_services::dossier::submit` and then dated by SQL (as the services tests do):
//!
//! | | agency | channel | submitted (local) | status | finished | due | fee / paid | returned |
//! |---|---|---|---|---|---|---|---|---|
//! | A | UBND Tam Thanh | online | 2026-01-05 | 10 | 2026-01-10 16:00 | 2026-01-10 | 8 000 / 8 000 | 2026-01-11 |
//! | B | UBND Tam Thanh | counter | 2026-01-06 | 9 | 2026-01-13 01:00 | 2026-01-12 | 75 000 / 75 000 | |
//! | C | UBND Tam Thanh | online | 2025-12-20 | 4 | | | 0 | |
//! | D | UBND Tam Thanh | online | 2025-12-10 | 10 | 2025-12-12 | 2025-12-12 | 0 | 2025-12-13 |
//! | E | Sở Tài chính | online | 2026-01-14 23:00 | 1 | | | 150 000 / 0 | |
//! | F | UBND Tam Thanh | online | 2026-01-15 00:30 | 1 | | | 0 | |
//!
//! Month 2026-01 (15 Dec 2025 – 14 Jan 2026) holds A, B, C, E: 4 received, 3 online (75 %);
//! 3 with a fee, 1 paid online (33.3 %); 2 finished (A, B), 1 on time (50 %); 1 returned
//! (A), with no electronic result issued — its status was set directly, not by an approval —
//! so 0 %; satisfaction 50 %. Month 2025-12 holds D only; F opens February.

use super::*;
use std::collections::BTreeMap;
use tinhso_services::dossier::{self, Applicant, Channel, Submission};
use tinhso_targets::engine::{OrgUnit, Registry};
use tinhso_targets::period::Period;

const TAM_THANH: &str = "05986";
const SO_TAI_CHINH: &str = "000.00.03.H37";

fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn mai() -> Applicant {
    Applicant {
        kind: 0,
        name: "Hoàng Thị Mai".into(),
        id_number: "020190001234".into(),
        phone: "0912 345 678".into(),
        email: String::new(),
    }
}

fn birth() -> Submission {
    Submission {
        procedure_code: "1.001193".into(),
        commune_code: Some(TAM_THANH.into()),
        applicant: mai(),
        form: form(&[
            ("ho_ten_tre", "Hoàng Minh An"),
            ("ngay_sinh_tre", "10/01/2026"),
            ("gioi_tinh", "nam"),
            ("dan_toc", "tay"),
            ("noi_sinh", "Bệnh viện Đa khoa tỉnh Lạng Sơn"),
            ("que_quan", TAM_THANH),
            ("so_ban_sao", "2"),
            ("so_dien_thoai", "0912345678"),
        ]),
        channel: Channel::Online,
        idempotency_key: None,
    }
}

fn enterprise() -> Submission {
    Submission {
        procedure_code: "2.001610".into(),
        commune_code: None,
        applicant: mai(),
        form: form(&[
            ("ten_doanh_nghiep", "Doanh nghiệp tư nhân Hoàng Mai"),
            ("ho_ten_chu_dn", "Hoàng Thị Mai"),
            ("so_dinh_danh_chu_dn", "020190001234"),
            ("tru_so", "Số 5 đường Lê Lợi"),
            ("xa_phuong_tru_so", TAM_THANH),
            ("nganh_nghe", "4711 Bán lẻ lương thực, thực phẩm"),
            ("von_dau_tu", "500000000"),
            ("so_dien_thoai", "0912345678"),
        ]),
        channel: Channel::Online,
        idempotency_key: None,
    }
}

struct Outcome {
    status: i64,
    channel: i64,
    submitted: i64,
    finished: Option<i64>,
    returned: Option<i64>,
    due: Option<&'static str>,
    fee: i64,
    paid: i64,
}

async fn dossier_with(db: &Db, s: &Submission, o: Outcome) -> String {
    let anon = Ctx {
        actor: "anonymous".into(),
        request_id: "req-test".into(),
    };
    let code = dossier::submit(db, &anon, None, s)
        .await
        .unwrap()
        .dossier
        .code;
    sqlx::query(
        "UPDATE dossiers SET status = $1, channel = $2, submitted_at = $3, finished_at = $4, \
         returned_at = $5, due_date = $6, supplement_count = 0, fee_vnd = $7, paid_vnd = $8 \
         WHERE code = $9",
    )
    .bind(o.status)
    .bind(o.channel)
    .bind(o.submitted)
    .bind(o.finished)
    .bind(o.returned)
    .bind(o.due)
    .bind(o.fee)
    .bind(o.paid)
    .bind(&code)
    .execute(db.pool())
    .await
    .unwrap();
    code
}

pub async fn world(db: &Db) {
    let o = |status, channel, submitted| Outcome {
        status,
        channel,
        submitted,
        finished: None,
        returned: None,
        due: None,
        fee: 0,
        paid: 0,
    };
    dossier_with(
        db,
        &birth(),
        Outcome {
            finished: Some(local_micros(2026, 1, 10, 16, 0)),
            returned: Some(local_micros(2026, 1, 11, 8, 0)),
            due: Some("2026-01-10"),
            fee: 8000,
            paid: 8000,
            ..o(10, 2, local_micros(2026, 1, 5, 10, 0))
        },
    )
    .await;
    dossier_with(
        db,
        &birth(),
        Outcome {
            finished: Some(local_micros(2026, 1, 13, 1, 0)),
            due: Some("2026-01-12"),
            fee: 75000,
            paid: 75000,
            ..o(9, 1, local_micros(2026, 1, 6, 9, 0))
        },
    )
    .await;
    dossier_with(db, &birth(), o(4, 2, local_micros(2025, 12, 20, 9, 0))).await;
    dossier_with(
        db,
        &birth(),
        Outcome {
            finished: Some(local_micros(2025, 12, 12, 10, 0)),
            returned: Some(local_micros(2025, 12, 13, 10, 0)),
            due: Some("2025-12-12"),
            ..o(10, 2, local_micros(2025, 12, 10, 9, 0))
        },
    )
    .await;
    dossier_with(
        db,
        &enterprise(),
        Outcome {
            fee: 150000,
            ..o(1, 2, local_micros(2026, 1, 14, 23, 0))
        },
    )
    .await;
    dossier_with(db, &birth(), o(1, 2, local_micros(2026, 1, 15, 0, 30))).await;
}

/// (numerator, denominator, value) of `key` for `period` and `org`.
pub async fn obs(
    db: &Db,
    key: &str,
    period: &str,
    org: &OrgUnit,
) -> (Option<f64>, Option<f64>, Option<f64>) {
    let o = Registry::standard()
        .observe(db, key, Period::parse(period).unwrap(), org)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.period, period);
    assert_eq!(o.source.as_str(), "live");
    (o.numerator, o.denominator, o.value)
}

#[tokio::test]
async fn live_values_match_hand_computed_ones() {
    let t = env().await;
    let db = &t.db;
    world(db).await;
    let p = OrgUnit::Province;
    let jan = "2026-01";
    assert_eq!(
        obs(db, "services.online", jan, &p).await,
        (Some(3.0), Some(4.0), Some(75.0))
    );
    assert_eq!(
        obs(db, "services.online_payment", jan, &p).await,
        (Some(1.0), Some(3.0), Some(33.3))
    );
    assert_eq!(
        obs(db, "services.on_time", jan, &p).await,
        (Some(1.0), Some(2.0), Some(50.0))
    );
    assert_eq!(
        obs(db, "services.electronic_result", jan, &p).await,
        (Some(0.0), Some(1.0), Some(0.0))
    );
    assert_eq!(
        obs(db, "services.satisfaction", jan, &p).await,
        (Some(1.0), Some(2.0), Some(50.0))
    );
    // December's window (15 Nov – 14 Dec 2025) holds D only.
    assert_eq!(
        obs(db, "services.online", "2025-12", &p).await,
        (Some(1.0), Some(1.0), Some(100.0))
    );
    assert_eq!(
        obs(db, "services.on_time", "2025-12", &p).await.2,
        Some(100.0)
    );
    // The year 2026 and its first quarter start on 15 Dec 2025: A, B, C, E and F.
    assert_eq!(
        obs(db, "services.online", "2026", &p).await,
        (Some(4.0), Some(5.0), Some(80.0))
    );
    assert_eq!(
        obs(db, "services.online", "2026-Q1", &p).await.2,
        Some(80.0)
    );
    // One day: 14 Jan 2026 holds E only (23:00 local is still the 14th).
    assert_eq!(
        obs(db, "services.online", "2026-01-14", &p).await,
        (Some(1.0), Some(1.0), Some(100.0))
    );
    // An empty period: no value, a zero denominator.
    assert_eq!(
        obs(db, "services.online", "2025-06", &p).await,
        (Some(0.0), Some(0.0), None)
    );

    // By commune (its People's Committee) and by agency.
    let tam_thanh = OrgUnit::Commune(TAM_THANH.into());
    assert_eq!(
        obs(db, "services.online", jan, &tam_thanh).await,
        (Some(2.0), Some(3.0), Some(66.7))
    );
    assert_eq!(
        obs(db, "services.online_payment", jan, &tam_thanh).await.2,
        Some(50.0)
    );
    assert_eq!(
        obs(
            db,
            "services.online",
            jan,
            &OrgUnit::Agency(UBND_TAM_THANH.into())
        )
        .await
        .2,
        Some(66.7)
    );
    let stc = OrgUnit::Agency(SO_TAI_CHINH.into());
    assert_eq!(
        obs(db, "services.online", jan, &stc).await,
        (Some(1.0), Some(1.0), Some(100.0))
    );
    assert_eq!(
        obs(db, "services.online_payment", jan, &stc).await.2,
        Some(0.0)
    );
    assert_eq!(obs(db, "services.on_time", jan, &stc).await.2, None);

    // The engine's ratio agrees with the services module's own value.
    let (from, to) = (ymd(2025, 12, 15), ymd(2026, 1, 15));
    let report = tinhso_services::indicators::report(db, from, to, None)
        .await
        .unwrap();
    for key in [
        "online",
        "online_payment",
        "on_time",
        "electronic_result",
        "satisfaction",
        "fully_online_procedures",
    ] {
        let own = report.total.get(key).unwrap().value;
        assert_eq!(
            obs(db, &format!("services.{key}"), jan, &p).await.2,
            own,
            "{key}"
        );
    }
    // The catalogue share does not depend on the period.
    assert_eq!(
        obs(db, "services.fully_online_procedures", "2025-06", &p).await,
        obs(db, "services.fully_online_procedures", jan, &p).await
    );
}

#[tokio::test]
async fn unknown_units_and_indicators_are_refused() {
    let t = env().await;
    let db = &t.db;
    let r = Registry::standard();
    let jan = Period::parse("2026-01").unwrap();
    let e = r
        .observe(
            db,
            "services.online",
            jan,
            &OrgUnit::Commune("99999".into()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.fields[0].field, "org");
    let e = r
        .observe(
            db,
            "services.online",
            jan,
            &OrgUnit::Agency("000.00.99.H99".into()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.fields[0].code, "agency_unknown");
    let e = r
        .observe(db, "nothing.here", jan, &OrgUnit::Province)
        .await
        .unwrap_err();
    assert_eq!(e.fields[0].code, "indicator_unknown");
    // A reported indicator with nothing reported: no value.
    assert!(r
        .observe(db, "reported.gov.services-24x7", jan, &OrgUnit::Province)
        .await
        .unwrap()
        .is_none());
}

/// One category's (key, numerator, denominator, value).
type CategoryRow = (String, Option<f64>, Option<f64>, Option<f64>);

/// The services indicators by agency level on the fixed data set (table at the top), month
/// 2026-01: the commune level is UBND Tam Thanh (A, B, C), the province level Sở Tài chính (E).
/// Received 3 (2 online) and 1 (1 online); with a fee 2 (A paid online) and 1 (not paid);
/// finished 2 (A on time) and 0. Each level's numerators and denominators add up to the total.
#[tokio::test]
async fn services_values_by_agency_level_match_hand_computed_ones() {
    let t = env().await;
    let db = &t.db;
    world(db).await;
    let jan = Period::parse("2026-01").unwrap();
    let level = |key: &'static str| async move {
        let d = Registry::standard()
            .observe_by(db, key, jan, &OrgUnit::Province, "level")
            .await
            .unwrap();
        let total = d.total.unwrap();
        let rows: Vec<CategoryRow> = d
            .categories
            .iter()
            .map(|c| (c.category.clone(), c.numerator, c.denominator, c.value))
            .collect();
        let n: f64 = rows.iter().filter_map(|r| r.1).sum();
        let den: f64 = rows.iter().filter_map(|r| r.2).sum();
        assert_eq!(
            (Some(n), Some(den)),
            (total.numerator, total.denominator),
            "{key}"
        );
        rows
    };
    let row = |c: &str, n: f64, d: f64, v: Option<f64>| -> CategoryRow {
        (c.to_string(), Some(n), Some(d), v)
    };
    assert_eq!(
        level("services.online").await,
        [
            row("commune", 2.0, 3.0, Some(66.7)),
            row("province", 1.0, 1.0, Some(100.0))
        ]
    );
    assert_eq!(
        level("services.online_payment").await,
        [
            row("commune", 1.0, 2.0, Some(50.0)),
            row("province", 0.0, 1.0, Some(0.0))
        ]
    );
    assert_eq!(
        level("services.on_time").await,
        [
            row("commune", 1.0, 2.0, Some(50.0)),
            row("province", 0.0, 0.0, None)
        ]
    );
    // The procedures offered fully online are a distinct count: not split.
    let e = Registry::standard()
        .observe_by(
            db,
            "services.fully_online_procedures",
            jan,
            &OrgUnit::Province,
            "level",
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.fields[0].field.as_str(), e.fields[0].code),
        ("by", "disaggregation")
    );
    // A commune has only its People's Committee: the province level is empty.
    let d = Registry::standard()
        .observe_by(
            db,
            "services.online",
            jan,
            &OrgUnit::Commune(TAM_THANH.into()),
            "level",
        )
        .await
        .unwrap();
    let counts: Vec<(Option<f64>, Option<f64>)> = d
        .categories
        .iter()
        .map(|c| (c.numerator, c.denominator))
        .collect();
    assert_eq!(counts, [(Some(2.0), Some(3.0)), (Some(0.0), Some(0.0))]);
}
