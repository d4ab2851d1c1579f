//! The weekly digest (bản tin tuần) of the targets board, e-mailed to the leaders as a PDF.
//!
//! **When.** Once per ISO week, at a configurable weekday and hour in Vietnam time (UTC+7),
//! by default Monday 07:00 ([`Schedule`], setting `digest_schedule`, e.g. `mon 07:00`, or
//! `off`). The server checks every minute; from the scheduled time until the end of the week the
//! week's digest is due, so a server that was down at 07:00 sends it when it comes back.
//!
//! **Once.** Each message is a row of the notifications ledger keyed by
//! (`targets.digest:<ISO week>`, `email`, recipient) ([`tinhso_notify::ledger`]): a restart, a
//! second server or a second tick find the row and send nothing again; a temporary failure is
//! retried at the next tick.
//!
//! **To whom.** Active staff accounts holding a leader role ([`LEADER_ROLES`]: Lãnh đạo tỉnh,
//! Lãnh đạo cơ quan) in any scope, with an e-mail address.
//!
//! **What.** The board over the Decree 09 year window containing today, every plan: counts per
//! pillar, a table per pillar (target, base, target value, current value, source, status) and
//! the targets without data ([`crate::review::document`]).

use crate::engine::Registry;
use crate::period::{Frequency, Period};
use crate::review::{self, Doc, Review};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Weekday};
use sqlx::Row;
use tinhso_kernel::AppError;
use tinhso_notify::ledger::{self, Key, Outcome, SendPolicy};
use tinhso_notify::{Attachment, Email, SmtpMailer};
use tinhso_store::{Db, DbError};

/// Roles whose holders receive the digest.
pub const LEADER_ROLES: &[&str] = &["province_leader", "department_leader"];

/// The ledger topic (and event id prefix).
pub const TOPIC: &str = "targets.digest";

/// Vietnam's offset from UTC, in hours.
const VN_OFFSET_HOURS: i64 = 7;

/// When the digest goes out: a weekday and an hour, Vietnam time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub weekday: Weekday,
    pub hour: u32,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            weekday: Weekday::Mon,
            hour: 7,
        }
    }
}

impl Schedule {
    /// `mon 07:00`, `fri 16`, `thu 8:00`; `off`/`none` → `Ok(None)`.
    pub fn parse(s: &str) -> Result<Option<Schedule>, String> {
        let t = s.trim().to_lowercase();
        if t == "off" || t == "none" {
            return Ok(None);
        }
        let bad = || {
            format!(
                "digest schedule {s:?}: use a weekday and an hour, e.g. \"mon 07:00\", or \"off\""
            )
        };
        let (day, time) = t.split_once(' ').ok_or_else(bad)?;
        let weekday: Weekday = day.parse().map_err(|_| bad())?;
        let hour_part = time.trim().split(':').next().unwrap_or_default();
        let minutes_ok = time
            .trim()
            .split_once(':')
            .is_none_or(|(_, m)| m == "00" || m == "0");
        let hour: u32 = hour_part.parse().map_err(|_| bad())?;
        if hour > 23 || !minutes_ok {
            return Err(bad());
        }
        Ok(Some(Schedule { weekday, hour }))
    }
}

/// Local (Vietnam) time of a Unix-microsecond instant.
pub fn local(now_micros: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp_micros(now_micros + VN_OFFSET_HOURS * 3_600_000_000)
        .map(|t| t.naive_utc())
        .unwrap_or_default()
}

/// The ISO week of a date, `2026-W48`.
pub fn week_key(d: NaiveDate) -> String {
    let w = d.iso_week();
    format!("{:04}-W{:02}", w.year(), w.week())
}

/// The week whose digest is due at local time `now`, if its scheduled time has come.
pub fn due(now: NaiveDateTime, s: Schedule) -> Option<String> {
    let d = now.date();
    let monday = d - Duration::days(i64::from(d.weekday().num_days_from_monday()));
    let day = monday + Duration::days(i64::from(s.weekday.num_days_from_monday()));
    let at = day.and_hms_opt(s.hour, 0, 0)?;
    (now >= at).then(|| week_key(d))
}

/// A recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    pub user_id: String,
    pub name: String,
    pub email: String,
}

/// Active staff with a leader role and an e-mail address, by address.
pub async fn recipients(db: &Db) -> Result<Vec<Leader>, DbError> {
    let roles = LEADER_ROLES
        .iter()
        .map(|r| format!("'{r}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = sqlx::query(&format!(
        "SELECT DISTINCT u.id, u.display_name, u.email FROM users u \
         JOIN role_assignments r ON r.user_id = u.id \
         WHERE r.role IN ({roles}) AND u.kind = 'staff' AND u.disabled = 0 \
         AND u.email IS NOT NULL AND u.email <> '' ORDER BY u.email"
    ))
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Leader {
                user_id: r.try_get(0)?,
                name: r.try_get(1)?,
                email: r.try_get::<String, _>(2)?.trim().to_string(),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(DbError::from)
}

/// The board of every plan as of `today`, over the year window containing it.
pub async fn snapshot(db: &Db, registry: &Registry, today: NaiveDate) -> Result<Review, AppError> {
    let period = Period::containing(Frequency::Year, today);
    let lines = crate::board::board_for(db, registry, today, period).await?;
    Ok(Review {
        plans: crate::plan::plans(db).await?,
        year: period.year(),
        period,
        as_of: today,
        made_on: today,
        lines,
        reporting: None,
    })
}

/// The digest's PDF for `week`.
pub fn pdf(r: &Review, week: &str) -> Vec<u8> {
    review::document(
        r,
        &Doc {
            title: format!(
                "Tiến độ các mục tiêu chuyển đổi số, tuần {week} (ngày {})",
                r.as_of.format("%d/%m/%Y")
            ),
            kind: "BẢN TIN TUẦN".into(),
            number: None,
            subject: "Bản tin tuần về tiến độ các mục tiêu chuyển đổi số".into(),
        },
    )
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The week, when due (or forced).
    pub week: Option<String>,
    pub recipients: usize,
    pub sent: usize,
    /// Already sent (or given up) this week: nothing done.
    pub already: usize,
    pub failed: usize,
    /// Temporary failures, retried at the next run.
    pub retrying: usize,
}

/// Send the digest of the week due at `now_micros` (or of the current week when `force`) to
/// every leader who has not had it yet.
pub async fn run(
    db: &Db,
    mailer: &SmtpMailer,
    registry: &Registry,
    schedule: Schedule,
    now_micros: i64,
    force: bool,
) -> Result<Report, AppError> {
    let now = local(now_micros);
    let week = match (due(now, schedule), force) {
        (Some(w), _) => w,
        (None, true) => week_key(now.date()),
        (None, false) => return Ok(Report::default()),
    };
    let leaders = recipients(db).await?;
    let event_id = format!("{TOPIC}:{week}");
    // Who still needs it (no final row): the PDF is built only when someone does.
    let mut pending = Vec::new();
    let mut report = Report {
        week: Some(week.clone()),
        recipients: leaders.len(),
        ..Default::default()
    };
    for l in leaders {
        match ledger::get(db, &event_id, "email", &l.email).await? {
            Some(n) if n.status.is_final() => report.already += 1,
            _ => pending.push(l),
        }
    }
    if pending.is_empty() {
        return Ok(report);
    }
    let snap = snapshot(db, registry, now.date()).await?;
    let file = pdf(&snap, &week);
    let (counts, total) = snap.counts();
    let mut text = format!(
        "Kính gửi đồng chí,\n\nBản tin tuần {week} về tiến độ các mục tiêu chuyển đổi số của tỉnh (số liệu đến ngày {}) được gửi kèm dưới dạng PDF.\n\nTổng số mục tiêu: {}; đúng tiến độ: {}; có nguy cơ chậm: {}; chậm tiến độ: {}; chưa có số liệu: {}.\n",
        snap.as_of.format("%d/%m/%Y"),
        total.targets,
        total.on_track,
        total.at_risk,
        total.off_track,
        total.no_data
    );
    for c in &counts {
        text.push_str(&format!(
            "- {}: {} mục tiêu, đúng tiến độ {}, nguy cơ chậm {}, chậm {}, chưa có số liệu {}\n",
            crate::web::pillar_title(&c.pillar, tinhso_http::Lang::Vi),
            c.targets,
            c.on_track,
            c.at_risk,
            c.off_track,
            c.no_data
        ));
    }
    text.push_str("\nThư này do nền tảng Tỉnh số gửi tự động mỗi tuần.\n");
    let subject = format!("Bản tin tuần {week}: tiến độ mục tiêu chuyển đổi số");
    let attachment = Attachment {
        filename: format!("ban-tin-tuan-{week}.pdf"),
        content_type: "application/pdf".into(),
        data: file,
    };
    for l in pending {
        let key = Key {
            event_id: event_id.clone(),
            topic: TOPIC.into(),
            channel: "email".into(),
            recipient: l.email.clone(),
            reference: week.clone(),
            subject: subject.clone(),
        };
        let email = Email {
            to: l.email.clone(),
            to_name: l.name.clone(),
            subject: subject.clone(),
            text: text.clone(),
            html: None,
        };
        match ledger::send_email_once_with(
            db,
            mailer,
            &key,
            &email,
            std::slice::from_ref(&attachment),
            SendPolicy::default(),
        )
        .await
        {
            Ok(Outcome::Sent) => report.sent += 1,
            Ok(Outcome::AlreadyDone(_)) => report.already += 1,
            Ok(Outcome::GaveUp(_)) => report.failed += 1,
            Err(e) => {
                tracing::warn!(week = %week, to = %l.email, error = %e, "digest not sent yet");
                report.retrying += 1;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap()
    }

    #[test]
    fn schedules_parse() {
        assert_eq!(
            Schedule::parse("mon 07:00").unwrap(),
            Some(Schedule::default())
        );
        assert_eq!(
            Schedule::parse("Fri 16").unwrap(),
            Some(Schedule {
                weekday: Weekday::Fri,
                hour: 16
            })
        );
        assert_eq!(Schedule::parse("off").unwrap(), None);
        assert!(Schedule::parse("mon 24:00").is_err());
        assert!(Schedule::parse("mon 07:30").is_err());
        assert!(Schedule::parse("someday 07").is_err());
        assert!(Schedule::parse("07:00").is_err());
    }

    #[test]
    fn the_week_is_due_from_its_scheduled_time() {
        let s = Schedule::default();
        // Monday 30 Nov 2026 is in ISO week 49.
        assert_eq!(due(at(2026, 11, 30, 6, 59), s), None);
        assert_eq!(due(at(2026, 11, 30, 7, 0), s).as_deref(), Some("2026-W49"));
        // Still due later in the week (a server down on Monday morning sends on Wednesday).
        assert_eq!(due(at(2026, 12, 2, 10, 0), s).as_deref(), Some("2026-W49"));
        assert_eq!(due(at(2026, 12, 6, 23, 59), s).as_deref(), Some("2026-W49"));
        // A Friday schedule: not due on Thursday.
        let fri = Schedule {
            weekday: Weekday::Fri,
            hour: 16,
        };
        assert_eq!(due(at(2026, 12, 3, 23, 0), fri), None);
        assert_eq!(
            due(at(2026, 12, 4, 16, 0), fri).as_deref(),
            Some("2026-W49")
        );
        // ISO weeks across the year: 1 Jan 2027 (Friday) is in 2026-W53.
        assert_eq!(
            week_key(NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()),
            "2026-W53"
        );
        assert_eq!(
            week_key(NaiveDate::from_ymd_opt(2027, 1, 4).unwrap()),
            "2027-W01"
        );
    }

    #[test]
    fn local_time_is_utc_plus_seven() {
        // 2026-11-30 00:00 UTC = 07:00 in Vietnam.
        let micros = chrono::NaiveDate::from_ymd_opt(2026, 11, 30)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_micros();
        assert_eq!(local(micros), at(2026, 11, 30, 7, 0));
    }
}
