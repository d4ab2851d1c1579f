//! E-mail on report events (thư thông báo về nhiệm vụ báo cáo), from the outbox.
//!
//! [`ReportMailer`] is an outbox consumer ([`CONSUMER`], topics starting with
//! [`TOPIC_PREFIX`]) written as the dossier notifier is (`tinhso_services::notify`): for each
//! report event it works out the people concerned, renders a Vietnamese subject and body with
//! a link to the report's page, and sends through [`ledger::send_email_once`] — one e-mail per
//! event and address, recorded in the `notifications` ledger, never twice when an event is
//! delivered again.
//!
//! | event | who |
//! |---|---|
//! | `report.opened` (a task opened) | the reporting agency's staff who may fill it in |
//! | `report.returned` (returned with comments) | the reporting agency's staff, with the comment |
//! | `report.approved` | the reporting agency's staff |
//! | `report.overdue` (escalated as late) | the reporting agency's staff; the recipient's approvers get one summary per regime, period and day listing the late agencies |
//!
//! "Staff who may fill it in": active staff accounts of that agency (their `agency_code`) with
//! an e-mail address and the back-office permission on the agency's scope, as the report page
//! requires to edit. "Approvers": active staff of the recipient agency with the leaders'
//! permission on the recipient's scope, as approval requires. Province-wide accounts of other
//! agencies (administrators, the province's leaders) are not mailed about every agency's
//! report. An event nobody can be mailed about is recorded as `skipped`.

use crate::regimes;
use crate::reports::{self, Task};
use chrono::NaiveDate;
use sqlx::Row;
use std::collections::BTreeMap;
use tinhso_identity::authz::AuthMethod;
use tinhso_identity::{accounts, authorize, Permission};
use tinhso_kernel::AppError;
use tinhso_notify::ledger::{self, Key, SendPolicy, Status as Sent};
use tinhso_notify::{Email, SmtpMailer};
use tinhso_refdata::agencies;
use tinhso_services::notify::fill;
use tinhso_store::outbox::{DispatcherBuilder, Event};
use tinhso_store::{Db, DbError};

/// The consumer's name (keys its progress in the outbox).
pub const CONSUMER: &str = "notify.reports";
/// The topics it reads.
pub const TOPIC_PREFIX: &str = "report.";
/// The ledger's channel name for e-mail.
pub const CHANNEL: &str = "email";

/// A report event people are told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Nhiệm vụ báo cáo mới.
    Opened,
    /// Bị trả lại để chỉnh sửa.
    Returned,
    /// Đã được duyệt.
    Approved,
    /// Quá hạn chưa gửi.
    Overdue,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Opened, Kind::Returned, Kind::Approved, Kind::Overdue];

    /// The kind of an outbox topic; `None` for the events nobody is mailed about (a draft
    /// saved, a submission — the recipient sees it in its inbox).
    pub fn of(topic: &str) -> Option<Kind> {
        match topic {
            "report.opened" => Some(Kind::Opened),
            "report.returned" => Some(Kind::Returned),
            "report.approved" => Some(Kind::Approved),
            "report.overdue" => Some(Kind::Overdue),
            _ => None,
        }
    }

    /// The template: the subject on the first line, a blank line, the body.
    pub fn template(self) -> &'static str {
        match self {
            Kind::Opened => {
                "Nhiệm vụ báo cáo mới: {che_do} kỳ {ky}, hạn gửi {han}\n\n\
Kính gửi {ho_ten},\n\n\
Hệ thống Tỉnh số đã mở nhiệm vụ báo cáo «{ten_che_do}» kỳ {ky} cho {co_quan}.\n\
Cơ quan nhận báo cáo: {co_quan_nhan}.\n\
Hạn gửi báo cáo: {han}.\n\n\
Lập, đính kèm minh chứng và gửi báo cáo tại:\n{link}\n"
            }
            Kind::Returned => {
                "Báo cáo {che_do} kỳ {ky} bị trả lại để chỉnh sửa\n\n\
Kính gửi {ho_ten},\n\n\
Báo cáo «{ten_che_do}» kỳ {ky} của {co_quan} đã bị {co_quan_nhan} trả lại lúc {thoi_gian}.\n\
Ý kiến của cơ quan nhận báo cáo:\n{y_kien}\n\n\
Hạn gửi báo cáo: {han}. Chỉnh sửa và gửi lại tại:\n{link}\n"
            }
            Kind::Approved => {
                "Báo cáo {che_do} kỳ {ky} đã được duyệt\n\n\
Kính gửi {ho_ten},\n\n\
Báo cáo «{ten_che_do}» kỳ {ky} của {co_quan} đã được {co_quan_nhan} duyệt lúc {thoi_gian}.\n\
Số liệu của báo cáo đã được ghi nhận vào hệ thống chỉ tiêu.\n\n\
Xem báo cáo tại:\n{link}\n"
            }
            Kind::Overdue => {
                "Báo cáo {che_do} kỳ {ky} của {co_quan} quá hạn\n\n\
Kính gửi {ho_ten},\n\n\
Báo cáo «{ten_che_do}» kỳ {ky} của {co_quan} gửi {co_quan_nhan} có hạn gửi {han}, \
đến ngày {ngay} chưa được gửi.\n\n\
Xem nhiệm vụ báo cáo tại:\n{link}\n"
            }
        }
    }
}

/// The footer appended to every body.
const FOOTER: &str = "\n--\nThư tự động của nền tảng Tỉnh số (UBND tỉnh Lạng Sơn). \
Vui lòng không trả lời thư này.\n";

/// Render a template: `(subject, body)`.
pub fn render(kind: Kind, values: &BTreeMap<&str, String>) -> Result<(String, String), String> {
    let filled = fill(kind.template(), values)?;
    let (subject, body) = filled
        .split_once("\n\n")
        .ok_or_else(|| format!("template {kind:?} has no blank line after the subject"))?;
    Ok((subject.trim().to_string(), format!("{body}{FOOTER}")))
}

/// The link to a report's page.
pub fn report_link(public_url: &str, task: &str) -> String {
    format!(
        "{}/nghiep-vu/bao-cao/{task}",
        public_url.trim_end_matches('/')
    )
}

/// A person mailed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub user_id: String,
    pub name: String,
    pub email: String,
}

/// Active staff of `agency` with an e-mail address who hold `perm` on the agency's scope, by
/// address.
pub async fn concerned(db: &Db, agency: &str, perm: Permission) -> Result<Vec<Person>, AppError> {
    let scope = reports::agency_scope(db, agency).await?;
    let rows = sqlx::query(
        "SELECT id FROM users WHERE kind = 'staff' AND disabled = 0 AND agency_code = $1 \
         AND email IS NOT NULL AND email <> '' ORDER BY email, id",
    )
    .bind(agency)
    .fetch_all(db.pool())
    .await
    .map_err(|e| AppError::from(DbError::from(e)))?;
    let mut out: Vec<Person> = Vec::new();
    for r in &rows {
        let id: String = r.try_get(0).map_err(|e| AppError::from(DbError::from(e)))?;
        let Some(acc) = accounts::get(db, &id).await? else {
            continue;
        };
        let p = accounts::principal_of(&acc, AuthMethod::Session);
        if authorize(Some(&p), perm, &scope).is_err() {
            continue;
        }
        let email = acc.email.clone().unwrap_or_default().trim().to_string();
        if !email.is_empty() && !out.iter().any(|o| o.email == email) {
            out.push(Person {
                user_id: acc.id.clone(),
                name: acc.display_name.clone(),
                email,
            });
        }
    }
    Ok(out)
}

async fn agency_name(db: &Db, code: &str) -> Result<String, AppError> {
    Ok(agencies::get(db, code)
        .await?
        .map(|a| a.name)
        .unwrap_or_else(|| code.to_string()))
}

fn date_vi(ymd: &str) -> String {
    NaiveDate::parse_from_str(ymd, "%Y-%m-%d")
        .map(|d| d.format("%d/%m/%Y").to_string())
        .unwrap_or_else(|_| ymd.to_string())
}

/// The values of the templates for one event (without the addressee's name).
async fn values(
    db: &Db,
    kind: Kind,
    task: &Task,
    ev: &Event,
    public_url: &str,
) -> Result<BTreeMap<&'static str, String>, AppError> {
    let regime = regimes::for_task(db, task).await?;
    let label = crate::period::Period::parse(&task.period)
        .map(|p| p.label().0)
        .unwrap_or_else(|| task.period.clone());
    let mut v = BTreeMap::from([
        ("che_do", task.regime_code.clone()),
        (
            "ten_che_do",
            regime
                .map(|r| r.name_vi)
                .unwrap_or_else(|| task.regime_code.clone()),
        ),
        ("ky", label),
        ("han", date_vi(&task.due_date)),
        ("co_quan", agency_name(db, &task.agency_code).await?),
        ("co_quan_nhan", agency_name(db, &task.recipient_code).await?),
        ("link", report_link(public_url, &task.id)),
        ("thoi_gian", crate::review_reports::when(ev.created_at)),
        (
            "ngay",
            ev.payload["escalated_on"]
                .as_str()
                .map(date_vi)
                .unwrap_or_default(),
        ),
        ("y_kien", String::new()),
    ]);
    if kind == Kind::Returned {
        let version = ev.payload["version"].as_i64().unwrap_or(-1);
        let comment = reports::versions(db, &task.id)
            .await?
            .into_iter()
            .find(|x| x.version == version)
            .map(|x| x.comment)
            .unwrap_or_default();
        v.insert("y_kien", comment);
    }
    Ok(v)
}

/// Make the consumer start at the newest outbox event if it has never run, so that turning
/// e-mail on for an existing installation does not mail about every past report event.
/// Returns true when it did.
pub async fn start_at_newest_event_if_new(db: &Db) -> Result<bool, DbError> {
    tinhso_store::outbox::start_at_newest_event_if_new(db, CONSUMER).await
}

/// Sends the report e-mails from the outbox.
#[derive(Clone, Debug)]
pub struct ReportMailer {
    db: Db,
    mailer: SmtpMailer,
    public_url: String,
    policy: SendPolicy,
}

impl ReportMailer {
    /// `public_url` is where staff reach the platform (the report pages' links).
    pub fn new(db: Db, mailer: SmtpMailer, public_url: &str) -> Self {
        Self {
            db,
            mailer,
            public_url: public_url.trim_end_matches('/').to_string(),
            policy: SendPolicy::default(),
        }
    }

    pub fn with_policy(mut self, policy: SendPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Register as the outbox consumer [`CONSUMER`].
    pub fn subscribe(self, builder: DispatcherBuilder) -> DispatcherBuilder {
        builder.subscribe(CONSUMER, TOPIC_PREFIX, move |ev| {
            let n = self.clone();
            async move { n.handle(&ev).await }
        })
    }

    /// Handle one event. `Err` asks the dispatcher to retry it later (the ledger keeps the
    /// addresses already sent from being sent again).
    pub async fn handle(&self, ev: &Event) -> Result<(), String> {
        let Some(kind) = Kind::of(&ev.topic) else {
            return Ok(());
        };
        let id = ev.payload["task"].as_str().unwrap_or_default();
        let task = match reports::get(&self.db, id).await {
            Ok(Some(t)) => t,
            Ok(None) => {
                tracing::warn!(event = %ev.id, task = id, "report e-mail for an unknown task dropped");
                return Ok(());
            }
            Err(e) => return Err(format!("loading report {id}: {e}")),
        };
        let err = |e: AppError| format!("report e-mail for {id}: {e}");
        let people = concerned(&self.db, &task.agency_code, Permission::BackOffice)
            .await
            .map_err(err)?;
        let mut values = values(&self.db, kind, &task, ev, &self.public_url)
            .await
            .map_err(err)?;
        if kind == Kind::Overdue {
            // The recipient's approvers get one summary per regime, period and day of
            // escalation listing every agency still late, not one e-mail per agency.
            let approvers = concerned(&self.db, &task.recipient_code, Permission::LeaderDashboard)
                .await
                .map_err(err)?;
            let approvers: Vec<Person> = approvers
                .into_iter()
                .filter(|a| !people.iter().any(|p| p.email == a.email))
                .collect();
            if !approvers.is_empty() {
                self.overdue_summary(ev, &task, &values, approvers)
                    .await
                    .map_err(|e| format!("report e-mail for {id}: {e}"))?;
            }
        }
        if people.is_empty() {
            values.insert("ho_ten", String::new());
            let subject = render(kind, &values).map(|r| r.0).unwrap_or_default();
            let key = Key {
                event_id: ev.id.clone(),
                topic: ev.topic.clone(),
                channel: CHANNEL.into(),
                recipient: String::new(),
                reference: task.id.clone(),
                subject,
            };
            ledger::record(
                &self.db,
                &key,
                Sent::Skipped,
                false,
                Some("no staff with an e-mail address concerned"),
            )
            .await
            .map_err(|e| format!("notifications ledger: {e}"))?;
            return Ok(());
        }
        for p in people {
            values.insert("ho_ten", p.name.clone());
            // A template error is a bug; retrying would not fix it (the unit tests fail instead).
            let (subject, text) = match render(kind, &values) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(event = %ev.id, ?kind, error = %e, "report e-mail template broken");
                    return Ok(());
                }
            };
            let key = Key {
                event_id: ev.id.clone(),
                topic: ev.topic.clone(),
                channel: CHANNEL.into(),
                recipient: p.email.clone(),
                reference: task.id.clone(),
                subject: subject.clone(),
            };
            let mail = Email {
                to: p.email.clone(),
                to_name: p.name.clone(),
                subject,
                text,
                html: None,
            };
            ledger::send_email_once(&self.db, &self.mailer, &key, &mail, self.policy).await?;
        }
        Ok(())
    }
}

impl ReportMailer {
    /// The approvers' summary of the late reports of `task`'s regime, period and recipient on
    /// the day it was escalated: sent once per approver and day (ledger key
    /// `report.overdue:<regime>:<period>:<recipient>:<day>`), listing the agencies whose reports
    /// are still not sent when the first escalation of the day is handled.
    async fn overdue_summary(
        &self,
        ev: &Event,
        task: &Task,
        values: &BTreeMap<&'static str, String>,
        approvers: Vec<Person>,
    ) -> Result<(), String> {
        let day = ev.payload["escalated_on"].as_str().unwrap_or_default();
        let late = reports::list(
            &self.db,
            &reports::TaskFilter {
                regime: Some(task.regime_code.clone()),
                period: Some(task.period.clone()),
                recipient: Some(task.recipient_code.clone()),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|t| t.escalated && reports::EDITABLE.contains(&t.status.as_str()))
        .collect::<Vec<_>>();
        let mut names = Vec::with_capacity(late.len());
        for t in &late {
            names.push(format!(
                "- {}",
                agency_name(&self.db, &t.agency_code)
                    .await
                    .map_err(|e| e.to_string())?
            ));
        }
        let mut values = values.clone();
        values.insert("so_bao_cao", late.len().max(1).to_string());
        values.insert("danh_sach", names.join("\n"));
        values.insert(
            "link",
            format!(
                "{}/nghiep-vu/bao-cao/hop-thu",
                self.public_url.trim_end_matches('/')
            ),
        );
        for p in approvers {
            values.insert("ho_ten", p.name.clone());
            let (subject, text) = fill_summary(&values);
            let key = Key {
                event_id: format!(
                    "report.overdue:{}:{}:{}:{day}",
                    task.regime_code, task.period, task.recipient_code
                ),
                topic: ev.topic.clone(),
                channel: CHANNEL.into(),
                recipient: p.email.clone(),
                reference: format!("{} {}", task.regime_code, task.period),
                subject: subject.clone(),
            };
            let mail = Email {
                to: p.email.clone(),
                to_name: p.name.clone(),
                subject,
                text,
                html: None,
            };
            ledger::send_email_once(&self.db, &self.mailer, &key, &mail, self.policy).await?;
        }
        Ok(())
    }
}

/// The approvers' summary of late reports: `(subject, body)`.
fn fill_summary(values: &BTreeMap<&str, String>) -> (String, String) {
    let get = |k: &str| values.get(k).cloned().unwrap_or_default();
    let subject = format!(
        "{} báo cáo {} kỳ {} quá hạn chưa gửi",
        get("so_bao_cao"),
        get("che_do"),
        get("ky")
    );
    let text = format!(
        "Kính gửi {},\n\n{} cơ quan chưa gửi báo cáo «{}» kỳ {} cho {} (hạn gửi {}, đến ngày {}):\n{}\n\n\
         Xem hộp thư báo cáo tại:\n{}\n{FOOTER}",
        get("ho_ten"),
        get("so_bao_cao"),
        get("ten_che_do"),
        get("ky"),
        get("co_quan_nhan"),
        get("han"),
        get("ngay"),
        get("danh_sach"),
        get("link"),
    );
    (subject, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("ho_ten", "Hoàng Thị Mai".to_string()),
            ("che_do", "KH226-NAM".to_string()),
            (
                "ten_che_do",
                "Báo cáo kết quả thực hiện Kế hoạch".to_string(),
            ),
            ("ky", "năm 2027".to_string()),
            ("han", "20/11/2027".to_string()),
            ("co_quan", "Ủy ban nhân dân phường Tam Thanh".to_string()),
            ("co_quan_nhan", "Sở Khoa học và Công nghệ".to_string()),
            ("link", "https://x/nghiep-vu/bao-cao/bc-1".to_string()),
            ("thoi_gian", "30/11/2027 09:00".to_string()),
            ("ngay", "23/11/2027".to_string()),
            ("y_kien", "Tỷ lệ {chưa} khớp".to_string()),
        ])
    }

    #[test]
    fn every_template_renders_with_every_placeholder_known() {
        for kind in Kind::ALL {
            let (subject, body) = render(kind, &sample()).unwrap();
            assert!(
                subject.contains("KH226-NAM kỳ năm 2027"),
                "{kind:?}: {subject}"
            );
            assert!(
                !subject.contains('{') && !subject.contains('\n'),
                "{kind:?}"
            );
            assert!(
                body.starts_with("Kính gửi Hoàng Thị Mai,"),
                "{kind:?}: {body}"
            );
            assert!(
                body.contains("https://x/nghiep-vu/bao-cao/bc-1"),
                "{kind:?}"
            );
            assert!(body.ends_with("không trả lời thư này.\n"), "{kind:?}");
        }
        let (_, body) = render(Kind::Returned, &sample()).unwrap();
        assert!(
            body.contains("Tỷ lệ {chưa} khớp"),
            "values are not rescanned"
        );
    }

    #[test]
    fn which_events_are_mailed() {
        assert_eq!(Kind::of("report.opened"), Some(Kind::Opened));
        assert_eq!(Kind::of("report.returned"), Some(Kind::Returned));
        assert_eq!(Kind::of("report.approved"), Some(Kind::Approved));
        assert_eq!(Kind::of("report.overdue"), Some(Kind::Overdue));
        assert_eq!(Kind::of("report.saved"), None);
        assert_eq!(Kind::of("report.submitted"), None);
    }
}
