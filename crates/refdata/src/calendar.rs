//! The working-day calendar (lịch ngày làm việc) with the overrides an administrator enters
//! when the government moves or adds days off.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tinhso_kernel::calendar::{DayOverride, WorkingCalendar};
use tinhso_kernel::{validate, AppError, FieldErrors, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::{now_micros, Db, DbError};

/// A stored override.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Override {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// `day_off` or `working_day`.
    pub kind: String,
    pub name_vi: String,
    pub name_en: String,
}

/// Every override, by date.
pub async fn overrides(db: &Db) -> Result<Vec<Override>, DbError> {
    // A short read of a small table, natively on a SQLite file (`Db::read_rows`): every
    // submission and transition computes its dates on this calendar.
    db.read_rows(
        "SELECT day, kind, name_vi, name_en FROM calendar_overrides ORDER BY day",
        &[],
        |r| {
            Ok(Override {
                day: r.text(0)?,
                kind: r.text(1)?,
                name_vi: r.text(2)?,
                name_en: r.text(3)?,
            })
        },
    )
    .await
}

/// The calendar with the stored overrides applied.
pub async fn working_calendar(db: &Db) -> Result<WorkingCalendar, DbError> {
    let list = overrides(db).await?;
    Ok(WorkingCalendar::new(list.into_iter().filter_map(|o| {
        let day = NaiveDate::parse_from_str(&o.day, "%Y-%m-%d").ok()?;
        let ov = if o.kind == "working_day" {
            DayOverride::WorkingDay {
                reason_vi: o.name_vi,
            }
        } else {
            DayOverride::DayOff {
                name_vi: o.name_vi,
                name_en: o.name_en,
            }
        };
        Some((day, ov))
    })))
}

/// Parse a `YYYY-MM-DD` date with a field error.
pub fn parse_day(field: &str, s: &str) -> Result<NaiveDate, AppError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        AppError::field(
            field,
            Invalid::new(
                "date_format",
                format!("Ngày \"{s}\" không hợp lệ: dùng dạng NNNN-TT-NN, ví dụ 2026-09-01"),
                format!("\"{s}\" is not a valid date: use YYYY-MM-DD, e.g. 2026-09-01"),
            ),
        )
    })
}

/// Input to [`set`].
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OverrideInput {
    pub kind: String,
    pub name_vi: String,
    #[serde(default)]
    pub name_en: String,
}

/// Create or replace the override of a day.
pub async fn set(
    db: &Db,
    ctx: &Ctx,
    day: &str,
    input: &OverrideInput,
) -> Result<Override, AppError> {
    let date = parse_day("day", day)?;
    let mut errs = FieldErrors::new();
    if input.kind != "day_off" && input.kind != "working_day" {
        errs.push(
            "kind",
            Invalid::new(
                "override_kind",
                "Loại điều chỉnh phải là day_off (nghỉ) hoặc working_day (làm việc)",
                "The kind must be day_off or working_day",
            ),
        );
    }
    let name_vi = errs.check("name_vi", validate::length(&input.name_vi, 2, 200));
    let name_en = errs.check("name_en", validate::length(&input.name_en, 0, 200));
    errs.into_result()?;
    let o = Override {
        day: date.format("%Y-%m-%d").to_string(),
        kind: input.kind.clone(),
        name_vi: name_vi.unwrap_or_default(),
        name_en: name_en.unwrap_or_default(),
    };
    let before = overrides(db).await?.into_iter().find(|x| x.day == o.day);
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO calendar_overrides (day, kind, name_vi, name_en, updated_at) VALUES ($1,$2,$3,$4,$5) \
         ON CONFLICT (day) DO UPDATE SET kind = excluded.kind, name_vi = excluded.name_vi, \
         name_en = excluded.name_en, updated_at = excluded.updated_at",
    )
    .bind(&o.day)
    .bind(&o.kind)
    .bind(&o.name_vi)
    .bind(&o.name_en)
    .bind(now_micros())
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.audit(&ctx.entry(
        "calendar.set_override",
        "calendar_day",
        &o.day,
        "",
        serde_json::json!({"before": before, "after": o}),
    ))
    .await?;
    tx.emit("calendar.changed", &serde_json::json!({"day": o.day}))
        .await?;
    tx.commit().await?;
    Ok(o)
}

/// Remove the override of a day.
pub async fn remove(db: &Db, ctx: &Ctx, day: &str) -> Result<(), AppError> {
    let date = parse_day("day", day)?.format("%Y-%m-%d").to_string();
    let before = overrides(db).await?.into_iter().find(|x| x.day == date);
    if before.is_none() {
        return Err(AppError::not_found());
    }
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM calendar_overrides WHERE day = $1")
        .bind(&date)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
    tx.audit(&ctx.entry(
        "calendar.remove_override",
        "calendar_day",
        &date,
        "",
        serde_json::json!({"before": before}),
    ))
    .await?;
    tx.emit("calendar.changed", &serde_json::json!({"day": date}))
        .await?;
    tx.commit().await?;
    Ok(())
}
