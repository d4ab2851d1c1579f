//! What submissions keep in memory between calls (the working calendar, the procedures'
//! current versions) is never stale: an edit by the admin pages or by plain SQL (another
//! node, a script) is seen by the very next submission.

use super::*;
use tinhso_refdata::calendar::{self, OverrideInput};
use tinhso_services::catalogue::{self, TimeLimit, TimeUnit};

fn due_of(r: &dossier::Receipt) -> chrono::NaiveDate {
    let due = r.dossier.due_date.as_deref().unwrap();
    chrono::NaiveDate::parse_from_str(due, "%Y-%m-%d").unwrap()
}

#[tokio::test]
async fn a_calendar_override_is_seen_by_the_next_submission() {
    let t = env().await;
    // The first submission reads the calendar and keeps it.
    let first = submit_anon(&t.db, &birth(TAM_THANH)).await;
    let due = due_of(&first);
    assert_eq!(due_of(&submit_anon(&t.db, &birth(TAM_THANH)).await), due);
    // The promised day becomes a day off: the next submission's date moves past it.
    calendar::set(
        &t.db,
        &sys(),
        &due.format("%Y-%m-%d").to_string(),
        &OverrideInput {
            kind: "day_off".into(),
            name_vi: "Nghỉ bù theo quyết định của Chính phủ".into(),
            name_en: "Day off by government decision".into(),
        },
    )
    .await
    .unwrap();
    let moved = due_of(&submit_anon(&t.db, &birth(TAM_THANH)).await);
    assert!(moved > due, "{moved} should be after {due}");
    // Removed by plain SQL (another node, a script): seen at once too.
    sqlx::query("DELETE FROM calendar_overrides")
        .execute(t.db.pool())
        .await
        .unwrap();
    assert_eq!(due_of(&submit_anon(&t.db, &birth(TAM_THANH)).await), due);
    // And added back by plain SQL.
    sqlx::query(
        "INSERT INTO calendar_overrides (day, kind, name_vi, name_en, updated_at) \
         VALUES ($1, 'day_off', 'Nghỉ', 'Off', 0)",
    )
    .bind(due.format("%Y-%m-%d").to_string())
    .execute(t.db.pool())
    .await
    .unwrap();
    assert_eq!(due_of(&submit_anon(&t.db, &birth(TAM_THANH)).await), moved);
}

#[tokio::test]
async fn a_procedure_edit_or_withdrawal_is_seen_by_the_next_submission() {
    let t = env().await;
    let first = submit_anon(&t.db, &birth(TAM_THANH)).await;
    assert_eq!(first.dossier.procedure_version, 1);
    // A new version through the catalogue (the admin page's path).
    let mut p = catalogue::current(&t.db, KHAI_SINH)
        .await
        .unwrap()
        .unwrap()
        .procedure;
    p.time_limit = TimeLimit {
        unit: TimeUnit::WorkingDays,
        value: 30,
    };
    assert_eq!(catalogue::update(&t.db, &sys(), &p).await.unwrap(), 2);
    let second = submit_anon(&t.db, &birth(TAM_THANH)).await;
    assert_eq!(second.dossier.procedure_version, 2);
    assert!(due_of(&second) > due_of(&first));
    // Withdrawn by plain SQL: the next submission is refused on the field.
    sqlx::query("UPDATE procedure_current SET active = 0 WHERE code = $1")
        .bind(KHAI_SINH)
        .execute(t.db.pool())
        .await
        .unwrap();
    let dossiers = count(&t.db, "dossiers").await;
    let e = dossier::submit(&t.db, &anon(), None, &birth(TAM_THANH))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::ValidationFailed);
    assert_eq!(e.fields[0].field, "procedure_code");
    assert_eq!(e.fields[0].code, "procedure_unknown");
    assert_eq!(count(&t.db, "dossiers").await, dossiers);
    // Offered again: accepted, under version 2.
    sqlx::query("UPDATE procedure_current SET active = 1 WHERE code = $1")
        .bind(KHAI_SINH)
        .execute(t.db.pool())
        .await
        .unwrap();
    let again = submit_anon(&t.db, &birth(TAM_THANH)).await;
    assert_eq!(again.dossier.procedure_version, 2);
}
