//! What every submission reads, kept in memory between submissions (bộ nhớ đệm đọc): the
//! working-day calendar with its overrides and each procedure's current version.
//!
//! Correct across nodes sharing one database: triggers (migration 4015) bump a generation in
//! `services_read_generations` in the same transaction as any change to `calendar_overrides` or
//! `procedure_current`. A submission reads that one row first ([`generations`]), then uses a
//! node's copy only if it was read under the same generation. A copy is always read *after* the
//! generation it is filed under was seen, so it is never older than that generation: a change
//! committed before the generation was read has either bumped it (the copy is not used) or
//! is already in the copy. Generations only grow (see the migration), so a copy read under a
//! newer one replaces an older one and never the other way round.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};
use tinhso_kernel::calendar::WorkingCalendar;
use tinhso_kernel::AppError;
use tinhso_store::copies::Copies;
use tinhso_store::Db;

/// The generations read at the start of one submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Generations {
    /// Of the calendar overrides (điều chỉnh lịch).
    pub calendar: i64,
    /// Of the procedures' current versions (phiên bản hiện hành).
    pub catalogue: i64,
}

/// Read the generations: one short indexed read (natively on a SQLite file).
pub(crate) async fn generations(db: &Db) -> Result<Generations, AppError> {
    db.read_rows(
        "SELECT calendar, catalogue FROM services_read_generations WHERE id = 1",
        &[],
        |r| {
            Ok(Generations {
                calendar: r.int(0)?,
                catalogue: r.int(1)?,
            })
        },
    )
    .await?
    .into_iter()
    .next()
    .ok_or_else(|| AppError::internal("services_read_generations has no row"))
}

/// A copy of something read under one generation.
struct Copy<T> {
    generation: i64,
    value: T,
}

/// Copies per database (keyed by its URL, so that two databases in one process keep apart).
type PerDb<T> = LazyLock<RwLock<HashMap<Arc<str>, Copy<T>>>>;

static CALENDARS: LazyLock<Copies<Arc<WorkingCalendar>>> = LazyLock::new(Default::default);

/// The current version and whether it is offered, per procedure code.
type CurrentRows = HashMap<String, Option<(i64, bool)>>;

static CURRENT: PerDb<CurrentRows> = LazyLock::new(Default::default);

/// At most this many procedure codes are kept per database (the map is emptied when full).
const CURRENT_MAX: usize = 16_384;

/// The working calendar with the stored overrides, read from the database only when the
/// calendar's generation moved since this node last read it.
pub(crate) async fn working_calendar(
    db: &Db,
    gens: Generations,
) -> Result<Arc<WorkingCalendar>, AppError> {
    if let Some(c) = CALENDARS.get(db.url(), gens.calendar) {
        return Ok(c);
    }
    let calendar = Arc::new(tinhso_refdata::calendar::working_calendar(db).await?);
    CALENDARS.put(db.url(), gens.calendar, calendar.clone());
    Ok(calendar)
}

/// The `procedure_current` row of `code` (version, offered), or `None` for an unknown code,
/// read from the database only when the catalogue's generation moved since this node last
/// read it.
pub(crate) async fn current_row(
    db: &Db,
    gens: Generations,
    code: &str,
) -> Result<Option<(i64, bool)>, AppError> {
    {
        let map = CURRENT.read().unwrap_or_else(|e| e.into_inner());
        if let Some(row) = map
            .get(db.url())
            .filter(|c| c.generation == gens.catalogue)
            .and_then(|c| c.value.get(code))
        {
            return Ok(*row);
        }
    }
    let row = crate::catalogue::current_row(db, code).await?;
    let mut map = CURRENT.write().unwrap_or_else(|e| e.into_inner());
    match map.get_mut(db.url()) {
        Some(c) if c.generation == gens.catalogue => {
            if c.value.len() >= CURRENT_MAX {
                c.value.clear();
            }
            c.value.insert(code.to_string(), row);
        }
        Some(c) if c.generation > gens.catalogue => {}
        _ => {
            map.insert(
                Arc::from(db.url()),
                Copy {
                    generation: gens.catalogue,
                    value: HashMap::from([(code.to_string(), row)]),
                },
            );
        }
    }
    Ok(row)
}
