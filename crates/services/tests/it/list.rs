//! Dossier lists: filters by agency, status, lateness and applicant; newest first; paging.

use super::*;
use tinhso_services::dossier::{DossierFilter, DossierRow};

async fn rows(db: &Db, f: &DossierFilter) -> Vec<DossierRow> {
    dossier::list(db, f).await.unwrap()
}

fn codes(r: &[DossierRow]) -> Vec<&str> {
    r.iter().map(|r| r.code.as_str()).collect()
}

async fn set_due(db: &Db, code: &str, due: &str) {
    sqlx::query("UPDATE dossiers SET due_date = $1 WHERE code = $2")
        .bind(due)
        .bind(code)
        .execute(db.pool())
        .await
        .unwrap();
}

async fn set_submitted(db: &Db, code: &str, at: i64) {
    sqlx::query("UPDATE dossiers SET submitted_at = $1 WHERE code = $2")
        .bind(at)
        .bind(code)
        .execute(db.pool())
        .await
        .unwrap();
}

/// Five dossiers, oldest first: Tam Thanh (anonymous), Sở Tài chính, Tam Thanh (Mai, signed
/// in), Đông Kinh, Tam Thanh (anonymous).
struct World {
    t: TestDb,
    s: Staff,
    mai: Principal,
    codes: Vec<String>,
}

async fn world() -> World {
    let t = env().await;
    let s = tam_thanh_staff(&t.db).await;
    let mai = citizen(&t.db, CCCD, "Hoàng Thị Mai").await;
    let mut codes = Vec::new();
    codes.push(submit_anon(&t.db, &birth(TAM_THANH)).await.dossier.code);
    codes.push(submit_anon(&t.db, &enterprise()).await.dossier.code);
    codes.push(
        dossier::submit(&t.db, &ctx_of(&mai), Some(&mai), &birth(TAM_THANH))
            .await
            .unwrap()
            .dossier
            .code,
    );
    codes.push(submit_anon(&t.db, &birth(DONG_KINH)).await.dossier.code);
    codes.push(submit_anon(&t.db, &birth(TAM_THANH)).await.dossier.code);
    // Distinct, increasing submission times one minute apart (the clock may not tick between
    // fast submissions).
    let base = tinhso_store::now_micros() - 3_600_000_000;
    for (i, c) in codes.iter().enumerate() {
        set_submitted(&t.db, c, base + i as i64 * 60_000_000).await;
    }
    World { t, s, mai, codes }
}

#[tokio::test]
async fn newest_first_with_agency_and_applicant_filters() {
    let w = world().await;
    let db = &w.t.db;
    let all = rows(db, &DossierFilter::default()).await;
    let newest_first: Vec<&str> = w.codes.iter().rev().map(String::as_str).collect();
    assert_eq!(codes(&all), newest_first);
    for pair in all.windows(2) {
        assert!(pair[0].submitted_at > pair[1].submitted_at);
    }
    assert_eq!(all[0].status, 1);
    assert_eq!(all[0].status_vi, "Mới đăng ký");
    assert_eq!(all[0].channel, 2);
    assert_eq!(all[0].procedure_code, KHAI_SINH);
    assert_eq!(all[0].applicant_name, "Hoàng Thị Mai");
    assert_eq!(all[0].step, "tiep_nhan");

    let tam_thanh = rows(
        db,
        &DossierFilter {
            agency_codes: Some(vec![UBND_TAM_THANH.into()]),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        codes(&tam_thanh),
        [
            w.codes[4].as_str(),
            w.codes[2].as_str(),
            w.codes[0].as_str()
        ]
    );
    assert!(tam_thanh.iter().all(|r| r.agency_code == UBND_TAM_THANH));
    let two = rows(
        db,
        &DossierFilter {
            agency_codes: Some(vec![UBND_DONG_KINH.into(), SO_TAI_CHINH.into()]),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(codes(&two), [w.codes[3].as_str(), w.codes[1].as_str()]);
    // An empty scope sees nothing (not everything).
    assert!(rows(
        db,
        &DossierFilter {
            agency_codes: Some(vec![]),
            ..Default::default()
        },
    )
    .await
    .is_empty());

    let mine = rows(
        db,
        &DossierFilter {
            applicant_user_id: Some(w.mai.user_id.clone()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(codes(&mine), [w.codes[2].as_str()]);
    let by_procedure = rows(
        db,
        &DossierFilter {
            procedure_code: Some(DNTN.into()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(codes(&by_procedure), [w.codes[1].as_str()]);
    let limited = rows(
        db,
        &DossierFilter {
            limit: Some(2),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(codes(&limited), newest_first[..2]);
}

#[tokio::test]
async fn status_filter() {
    let w = world().await;
    let db = &w.t.db;
    act(db, &w.s.one_stop, &w.codes[0], "accept", "")
        .await
        .unwrap();
    act(db, &w.s.one_stop, &w.codes[4], "accept", "")
        .await
        .unwrap();
    act(
        db,
        &w.s.one_stop,
        &w.codes[2],
        "refuse",
        "Không thuộc thẩm quyền",
    )
    .await
    .unwrap();
    let accepted = rows(
        db,
        &DossierFilter {
            status: Some(2),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(codes(&accepted), [w.codes[4].as_str(), w.codes[0].as_str()]);
    assert!(accepted.iter().all(|r| r.status == 2));
    let submitted = rows(
        db,
        &DossierFilter {
            status: Some(1),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        codes(&submitted),
        [w.codes[3].as_str(), w.codes[1].as_str()]
    );
    // Status together with the other filters (placeholders numbered right).
    let f = DossierFilter {
        agency_codes: Some(vec![UBND_TAM_THANH.into(), UBND_DONG_KINH.into()]),
        applicant_user_id: None,
        procedure_code: Some(KHAI_SINH.into()),
        status: Some(1),
        limit: Some(10),
        ..Default::default()
    };
    assert_eq!(codes(&rows(db, &f).await), [w.codes[3].as_str()]);
    let f = DossierFilter {
        applicant_user_id: Some(w.mai.user_id.clone()),
        status: Some(3),
        ..Default::default()
    };
    assert_eq!(codes(&rows(db, &f).await), [w.codes[2].as_str()]);
    assert!(rows(
        db,
        &DossierFilter {
            status: Some(9),
            ..Default::default()
        }
    )
    .await
    .is_empty());
}

#[tokio::test]
async fn overdue_filter() {
    let w = world().await;
    let db = &w.t.db;
    let yesterday = (dossier::today_local() - chrono::Days::new(1))
        .format("%Y-%m-%d")
        .to_string();
    let today = dossier::today_local().format("%Y-%m-%d").to_string();
    // Open and late: submitted (0) and accepted (4).
    set_due(db, &w.codes[0], "2025-12-31").await;
    act(db, &w.s.one_stop, &w.codes[4], "accept", "")
        .await
        .unwrap();
    set_due(db, &w.codes[4], &yesterday).await;
    // Due today is not late yet.
    set_due(db, &w.codes[3], &today).await;
    // Late but closed (refused) or paused (waiting for the applicant): not overdue.
    act(
        db,
        &w.s.one_stop,
        &w.codes[2],
        "refuse",
        "Không thuộc thẩm quyền",
    )
    .await
    .unwrap();
    set_due(db, &w.codes[2], "2025-01-01").await;
    let fin = staff(
        db,
        "motcua.tinh",
        "000.00.16.H37",
        Role::OneStopOfficer,
        Scope::Agency("000.00.16.H37".into()),
    )
    .await;
    act(db, &fin, &w.codes[1], "request_supplement", "Thiếu điều lệ")
        .await
        .unwrap();
    set_due(db, &w.codes[1], "2025-01-01").await;

    let late = rows(
        db,
        &DossierFilter {
            overdue: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(codes(&late), [w.codes[4].as_str(), w.codes[0].as_str()]);
    // With the other filters.
    let late_accepted = rows(
        db,
        &DossierFilter {
            overdue: true,
            status: Some(2),
            agency_codes: Some(vec![UBND_TAM_THANH.into()]),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(codes(&late_accepted), [w.codes[4].as_str()]);
    assert!(rows(
        db,
        &DossierFilter {
            overdue: true,
            agency_codes: Some(vec![UBND_DONG_KINH.into()]),
            ..Default::default()
        },
    )
    .await
    .is_empty());
}

#[tokio::test]
async fn paging_visits_every_dossier_once_in_order() {
    let w = world().await;
    let db = &w.t.db;
    // Two dossiers submitted in the same microsecond: the code breaks the tie.
    let same: i64 = sqlx::query_scalar("SELECT submitted_at FROM dossiers WHERE code = $1")
        .bind(&w.codes[2])
        .fetch_one(db.pool())
        .await
        .unwrap();
    set_submitted(db, &w.codes[3], same).await;
    let all = codes(&rows(db, &DossierFilter::default()).await)
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
    assert_eq!(all.len(), 5);
    // 000.00.23… sorts after 000.00.21… in the tie.
    assert_eq!(all[1..3], [w.codes[2].clone(), w.codes[3].clone()]);
    for page in 1..=3 {
        let mut seen: Vec<String> = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let got = rows(
                db,
                &DossierFilter {
                    limit: Some(page),
                    before_code: before.clone(),
                    ..Default::default()
                },
            )
            .await;
            if got.is_empty() {
                break;
            }
            assert!(seen.len() <= all.len(), "page size {page}: {seen:?}");
            before = got.last().map(|r| r.code.clone());
            seen.extend(got.into_iter().map(|r| r.code));
        }
        assert_eq!(seen, all, "page size {page}");
    }
}
