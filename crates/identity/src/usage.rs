//! How staff use the platform, as counts for the plan's live indicators (số liệu sử dụng nền
//! tảng của cán bộ): staff accounts with a verified digital identity ([`staff_identity`]) and
//! the agencies whose staff acted on the platform in a time range ([`agencies_acting`]). The
//! targets module reads them; this module knows nothing of targets.

use std::collections::{BTreeMap, BTreeSet};
use tinhso_store::{Db, DbError};

/// Staff accounts and those with a verified digital identity (định danh số của cán bộ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StaffIdentity {
    /// Active staff accounts (kind `staff`, not disabled).
    pub staff: i64,
    /// Of those, the accounts with all three: a CCCD number recorded on the account (checked
    /// for its structure when entered — province, century and sex digits — not verified against
    /// the national population database), a TOTP second factor in use (a secret set and at
    /// least one code accepted at sign-in) and an active personal signing key.
    pub verified: i64,
}

/// ` AND {column} IN ($first, …)` for `agencies` (`None`: no filter).
fn agency_clause(agencies: Option<&[String]>, first: usize, column: &str) -> String {
    match agencies {
        None => String::new(),
        Some([]) => " AND 1 = 0".to_string(),
        Some(list) => {
            let marks: Vec<String> = (0..list.len()).map(|i| format!("${}", first + i)).collect();
            format!(" AND {column} IN ({})", marks.join(", "))
        }
    }
}

/// [`StaffIdentity`] of the staff of `agencies` (`None`: every agency). The accounts as they are
/// now: the identity tables keep no history of enrolments.
pub async fn staff_identity(
    db: &Db,
    agencies: Option<&[String]>,
) -> Result<StaffIdentity, DbError> {
    let sql = staff_identity_sql(agencies, "", "");
    let mut q = sqlx::query_as::<_, (i64, i64)>(&sql);
    for a in agencies.unwrap_or_default() {
        q = q.bind(a);
    }
    let (staff, verified) = q.fetch_one(db.pool()).await?;
    Ok(StaffIdentity { staff, verified })
}

/// [`StaffIdentity`] of each of `agencies` on its own, in one statement grouped by agency (the
/// operations centre's map of 65 People's Committees): the same counts as [`staff_identity`]
/// asked for each agency alone; an agency without active staff is `0 / 0`.
pub async fn staff_identity_by_agency(
    db: &Db,
    agencies: &[String],
) -> Result<BTreeMap<String, StaffIdentity>, DbError> {
    let mut out: BTreeMap<String, StaffIdentity> = agencies
        .iter()
        .map(|a| (a.clone(), StaffIdentity::default()))
        .collect();
    let sql = staff_identity_sql(Some(agencies), "u.agency_code, ", " GROUP BY u.agency_code");
    let mut q = sqlx::query_as::<_, (String, i64, i64)>(&sql);
    for a in agencies {
        q = q.bind(a);
    }
    for (agency, staff, verified) in q.fetch_all(db.pool()).await? {
        out.insert(agency, StaffIdentity { staff, verified });
    }
    Ok(out)
}

/// The one text of the staff-identity count: `key` columns before the counts, `group` after
/// the filter.
fn staff_identity_sql(agencies: Option<&[String]>, key: &str, group: &str) -> String {
    let filter = agency_clause(agencies, 1, "u.agency_code");
    format!(
        "SELECT {key}CAST(COUNT(*) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN u.cccd IS NOT NULL AND u.cccd <> '' \
              AND u.totp_secret IS NOT NULL AND u.totp_last_step > 0 \
              AND EXISTS (SELECT 1 FROM signing_keys k WHERE k.user_id = u.id \
                          AND k.revoked_at IS NULL) \
              THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM users u WHERE u.kind = 'staff' AND u.disabled = 0{filter}{group}"
    )
}

/// The agencies (codes) whose staff did at least one piece of work on the platform in
/// `[from, to)` (microseconds): an entry of the audit trail by a staff account of the agency —
/// processing a dossier, approving a report, editing data, … — but not signing in or out or
/// managing one's own API tokens (`auth.*`, `token.*`), which is not work.
pub async fn agencies_acting(db: &Db, from: i64, to: i64) -> Result<BTreeSet<String>, DbError> {
    Ok(agencies_acting_windows(db, &[(from, to)])
        .await?
        .pop()
        .unwrap_or_default())
}

/// [`agencies_acting`] for several windows `[from, to)` at once, in the order given, in one
/// statement (the windows are rows of a derived table joined to the audit trail,
/// [`tinhso_store::rollup::windows_sql`]): a screen's year, quarters, month and day cost one
/// round trip.
pub async fn agencies_acting_windows(
    db: &Db,
    windows: &[(i64, i64)],
) -> Result<Vec<BTreeSet<String>>, DbError> {
    let mut out = vec![BTreeSet::new(); windows.len()];
    if windows.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT DISTINCT w.i, u.agency_code FROM ({}) w JOIN audit_log a \
         ON a.at >= w.lo AND a.at < w.hi \
         JOIN users u ON a.actor = 'user:' || u.id \
         WHERE u.kind = 'staff' AND u.agency_code IS NOT NULL \
         AND a.action NOT LIKE 'auth.%' AND a.action NOT LIKE 'token.%'",
        tinhso_store::rollup::windows_sql(windows.len(), 1)
    );
    let mut q = sqlx::query_as::<_, (i64, String)>(&sql);
    for (from, to) in windows {
        q = q.bind(*from).bind(*to);
    }
    for (i, code) in q.fetch_all(db.pool()).await? {
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| out.get_mut(i)) {
            slot.insert(code);
        }
    }
    Ok(out)
}
