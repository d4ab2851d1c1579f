//! Notifying applicants (thông báo cho người nộp hồ sơ) of the dossier events that concern
//! them, by e-mail, from the outbox.
//!
//! [`Notifier`] is an outbox consumer ([`CONSUMER`], topics starting with [`TOPIC_PREFIX`]).
//! For each `dossier.status_changed` event (`{code, agency, from, to, action}`, written by
//! [`crate::dossier`] and [`crate::payment`]) it decides whether the applicant is concerned
//! (submitted online, received at the counter, accepted with the promised date, refused,
//! supplement requested, payment requested, result ready, result returned, withdrawn,
//! stopped — not the internal steps; and `dossier.apologised`, form 04), loads the dossier, renders the Vietnamese template from
//! `templates/mail/` and sends it through [`tinhso_notify::ledger::send_email_once`]: one
//! e-mail per event and address, recorded in the `notifications` table. A dossier without an
//! e-mail address is recorded as `skipped`. A temporary SMTP failure returns `Err`, so the
//! dispatcher retries the event with back-off (and holds later events of this consumer back
//! meanwhile, keeping the mails in order).

use crate::dossier::{self, Dossier};
use crate::status::Status;
use std::collections::BTreeMap;
use tinhso_kernel::money::Vnd;
use tinhso_notify::ledger::{self, Key, SendPolicy, Status as Sent};
use tinhso_notify::{Email, SmtpMailer};
use tinhso_store::outbox::{DispatcherBuilder, Event};
use tinhso_store::Db;

/// The consumer's name (keys its progress in the outbox).
pub const CONSUMER: &str = "notify.email";
/// The topics it reads.
pub const TOPIC_PREFIX: &str = "dossier.";
/// The ledger's channel name for e-mail.
pub const CHANNEL: &str = "email";

/// A dossier event the applicant is told about, with its template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Nộp trực tuyến (0 → 1).
    Submitted,
    /// Tiếp nhận: accepted online (1 → 2) or entered at the counter (0 → 2).
    Accepted,
    /// Không tiếp nhận (→ 3).
    Refused,
    /// Yêu cầu bổ sung (→ 5).
    SupplementRequested,
    /// Yêu cầu nộp phí, lệ phí (→ 6).
    PaymentRequested,
    /// Đã có kết quả (→ 9).
    Done,
    /// Đã trả kết quả (→ 10).
    Returned,
    /// Rút hồ sơ (→ 7).
    Withdrawn,
    /// Dừng xử lý (→ 8).
    Stopped,
    /// Xin lỗi và hẹn lại ngày trả kết quả (form 04, `dossier.apologised`; status unchanged).
    Apologised,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Submitted,
        Kind::Accepted,
        Kind::Refused,
        Kind::SupplementRequested,
        Kind::PaymentRequested,
        Kind::Done,
        Kind::Returned,
        Kind::Withdrawn,
        Kind::Stopped,
        Kind::Apologised,
    ];

    /// The kind of a status change, or `None` when it does not concern the applicant
    /// (forwarding between steps, the applicant's own supplement, a payment received).
    pub fn of(action: &str, to: i64) -> Option<Kind> {
        let to = Status::from_code(to)?;
        Some(match (action, to) {
            (crate::forms::APOLOGY_ACTION, _) => Kind::Apologised,
            ("submit", Status::Submitted) => Kind::Submitted,
            ("accept" | "receive_at_counter", Status::Accepted) => Kind::Accepted,
            (_, Status::Refused) => Kind::Refused,
            ("request_supplement", Status::SupplementRequested) => Kind::SupplementRequested,
            ("request_payment", Status::PaymentRequested) => Kind::PaymentRequested,
            ("approve", Status::Done) => Kind::Done,
            (_, Status::Returned) => Kind::Returned,
            (_, Status::Withdrawn) => Kind::Withdrawn,
            (_, Status::Stopped) => Kind::Stopped,
            _ => return None,
        })
    }

    /// The template (subject line, blank line, body).
    pub fn template(self) -> &'static str {
        match self {
            Kind::Submitted => include_str!("../templates/mail/nop_truc_tuyen.txt"),
            Kind::Accepted => include_str!("../templates/mail/tiep_nhan.txt"),
            Kind::Refused => include_str!("../templates/mail/tu_choi.txt"),
            Kind::SupplementRequested => include_str!("../templates/mail/yeu_cau_bo_sung.txt"),
            Kind::PaymentRequested => include_str!("../templates/mail/yeu_cau_thanh_toan.txt"),
            Kind::Done => include_str!("../templates/mail/co_ket_qua.txt"),
            Kind::Returned => include_str!("../templates/mail/da_tra_ket_qua.txt"),
            Kind::Withdrawn => include_str!("../templates/mail/rut_ho_so.txt"),
            Kind::Stopped => include_str!("../templates/mail/dung_xu_ly.txt"),
            Kind::Apologised => include_str!("../templates/mail/xin_loi.txt"),
        }
    }
}

/// The footer appended to every body.
const FOOTER: &str = include_str!("../templates/mail/_chan_thu.txt");

/// Replace every `{name}` in `template` with its value, in one pass (values are not scanned
/// again). An unknown name is an error.
pub fn fill(template: &str, values: &BTreeMap<&str, String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed placeholder near {:?}", &rest[start..]))?;
        let name = &after[..end];
        let value = values
            .get(name)
            .ok_or_else(|| format!("unknown placeholder {{{name}}}"))?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Render a template: `(subject, body)`.
pub fn render(kind: Kind, values: &BTreeMap<&str, String>) -> Result<(String, String), String> {
    let filled = fill(kind.template(), values)?;
    let (first, body) = filled
        .split_once('\n')
        .ok_or_else(|| "template without a body".to_string())?;
    let subject = first
        .strip_prefix("Tiêu đề:")
        .ok_or_else(|| "a template starts with \"Tiêu đề: \"".to_string())?
        .trim()
        .to_string();
    let footer = fill(FOOTER, values)?;
    Ok((subject, format!("{}\n{}", body.trim(), footer.trim_end())))
}

fn local_time(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros + 7 * 3600 * 1_000_000)
        .map(|d| d.format("%H:%M ngày %d/%m/%Y").to_string())
        .unwrap_or_default()
}

fn date_vn(s: &str) -> String {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.format("%d/%m/%Y").to_string())
        .unwrap_or_else(|_| s.to_string())
}

/// The tracking page of a dossier, as the portal serves it (`/tra-cuu?ma_ho_so=…&ma=…`).
pub fn tracking_link(public_url: &str, code: &str, lookup: &str) -> String {
    use tinhso_http::layout::url_encode;
    format!(
        "{}/tra-cuu?ma_ho_so={}&ma={}",
        public_url.trim_end_matches('/'),
        url_encode(code),
        url_encode(lookup)
    )
}

/// The payment page of a dossier (`/tra-cuu/thanh-toan?ma_ho_so=…&ma=…`).
pub fn payment_link(public_url: &str, code: &str, lookup: &str) -> String {
    use tinhso_http::layout::url_encode;
    format!(
        "{}/tra-cuu/thanh-toan?ma_ho_so={}&ma={}",
        public_url.trim_end_matches('/'),
        url_encode(code),
        url_encode(lookup)
    )
}

/// The values of the templates for one event on a dossier.
pub fn values(
    d: &Dossier,
    action: &str,
    to: i64,
    event_at: i64,
    public_url: &str,
) -> BTreeMap<&'static str, String> {
    let lookup = dossier::lookup_code(&d.code);
    // The recorded transition this event announces: the latest one with its action and
    // status written no later than the event (the same transaction wrote both).
    let recorded = d
        .events
        .iter()
        .rev()
        .find(|e| e.action == action && e.to_status == to && e.at <= event_at)
        .or_else(|| d.events.iter().rev().find(|e| e.to_status == to));
    let status = Status::from_code(to).map(Status::name_vi).unwrap_or("");
    let due = (d.fee_vnd - d.paid_vnd).max(0);
    BTreeMap::from([
        ("ho_ten", d.applicant.name.clone()),
        ("ma_ho_so", d.code.clone()),
        ("ma_tra_cuu", lookup.clone()),
        ("thu_tuc", d.procedure_name.clone()),
        ("co_quan", d.agency_name.clone()),
        ("trang_thai", status.to_string()),
        (
            "thoi_gian",
            local_time(recorded.map(|e| e.at).unwrap_or(event_at)),
        ),
        (
            "ngay_hen_tra",
            d.due_date.as_deref().map(date_vn).unwrap_or_default(),
        ),
        (
            "ly_do",
            recorded
                .map(|e| e.reason.clone())
                .filter(|r| !r.trim().is_empty())
                .unwrap_or_else(|| "(không ghi lý do)".into()),
        ),
        ("so_tien", Vnd(due).to_string().replace('₫', "đồng")),
        ("link_tra_cuu", tracking_link(public_url, &d.code, &lookup)),
        (
            "link_thanh_toan",
            payment_link(public_url, &d.code, &lookup),
        ),
    ])
}

/// Make the consumer start at the newest outbox event if it has never run, so that turning
/// e-mail on for an existing installation does not mail applicants about every past event.
/// Returns true when it did. Progress already stored is kept.
pub async fn start_at_newest_event_if_new(db: &Db) -> Result<bool, tinhso_store::DbError> {
    tinhso_store::outbox::start_at_newest_event_if_new(db, CONSUMER).await
}

/// Sends applicants their e-mails from the outbox.
#[derive(Clone, Debug)]
pub struct Notifier {
    db: Db,
    mailer: SmtpMailer,
    public_url: String,
    policy: SendPolicy,
}

impl Notifier {
    /// `public_url` is where applicants reach the portal, e.g. `https://dichvucong.langson.gov.vn`.
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

    /// Register this notifier as the outbox consumer [`CONSUMER`].
    pub fn subscribe(self, builder: DispatcherBuilder) -> DispatcherBuilder {
        builder.subscribe(CONSUMER, TOPIC_PREFIX, move |ev| {
            let n = self.clone();
            async move { n.handle(&ev).await }
        })
    }

    /// Handle one event. `Err` asks the dispatcher to retry it later.
    pub async fn handle(&self, ev: &Event) -> Result<(), String> {
        if ev.topic != "dossier.status_changed" && ev.topic != "dossier.apologised" {
            return Ok(());
        }
        let code = ev.payload["code"].as_str().unwrap_or_default();
        let action = ev.payload["action"].as_str().unwrap_or_default();
        let to = ev.payload["to"].as_i64().unwrap_or(-1);
        let Some(kind) = Kind::of(action, to) else {
            return Ok(());
        };
        let d = match dossier::get(&self.db, code).await {
            Ok(Some(d)) => d,
            Ok(None) => {
                tracing::warn!(event = %ev.id, code, "notification for an unknown dossier dropped");
                return Ok(());
            }
            Err(e) => return Err(format!("loading dossier {code}: {e}")),
        };
        let values = values(&d, action, to, ev.created_at, &self.public_url);
        // Handled late (a backlog, a relay that was down): a request to pay what has been paid
        // meanwhile would only confuse.
        let paid_meanwhile = kind == Kind::PaymentRequested && d.fee_vnd <= d.paid_vnd;
        // A template error is a bug; retrying will not fix it, and holding every later
        // notification back would be worse. Fails the unit tests instead.
        let (subject, text) = match render(kind, &values) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(event = %ev.id, ?kind, error = %e, "e-mail template broken");
                return Ok(());
            }
        };
        let email = d.applicant.email.trim().to_string();
        let key = Key {
            event_id: ev.id.clone(),
            topic: ev.topic.clone(),
            channel: CHANNEL.into(),
            recipient: email.clone(),
            reference: d.code.clone(),
            subject: subject.clone(),
        };
        let skip = if email.is_empty() {
            Some("no e-mail address")
        } else if paid_meanwhile {
            Some("paid before the notification was sent")
        } else {
            None
        };
        if let Some(why) = skip {
            ledger::record(&self.db, &key, Sent::Skipped, false, Some(why))
                .await
                .map_err(|e| format!("notifications ledger: {e}"))?;
            return Ok(());
        }
        let mail = Email {
            to: email,
            to_name: d.applicant.name.clone(),
            subject,
            text,
            html: None,
        };
        ledger::send_email_once(&self.db, &self.mailer, &key, &mail, self.policy)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("ho_ten", "Hoàng Thị Mai".to_string()),
            ("ma_ho_so", "000.00.23.H37-261129-0001".to_string()),
            ("ma_tra_cuu", "ABCD2345".to_string()),
            ("thu_tuc", "Đăng ký khai sinh".to_string()),
            ("co_quan", "Ủy ban nhân dân phường Tam Thanh".to_string()),
            ("trang_thai", "Được tiếp nhận".to_string()),
            ("thoi_gian", "08:30 ngày 30/11/2026".to_string()),
            ("ngay_hen_tra", "02/12/2026".to_string()),
            ("ly_do", "Thiếu {bản sao} giấy chứng sinh".to_string()),
            ("so_tien", "75.000 đồng".to_string()),
            (
                "link_tra_cuu",
                "https://x/tra-cuu?ma_ho_so=a&ma=b".to_string(),
            ),
            (
                "link_thanh_toan",
                "https://x/tra-cuu/thanh-toan?ma_ho_so=a&ma=b".to_string(),
            ),
        ])
    }

    #[test]
    fn every_template_renders_with_every_placeholder_known() {
        for kind in Kind::ALL {
            let (subject, body) = render(kind, &sample()).unwrap();
            assert!(
                subject.contains("000.00.23.H37-261129-0001"),
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
            assert!(body.contains("Mã tra cứu: ABCD2345"), "{kind:?}");
            assert!(
                body.contains("https://x/tra-cuu?ma_ho_so=a&ma=b"),
                "{kind:?}"
            );
        }
        let (_, body) = render(Kind::SupplementRequested, &sample()).unwrap();
        assert!(
            body.contains("Thiếu {bản sao} giấy chứng sinh"),
            "values are not rescanned"
        );
        let (s, _) = render(Kind::PaymentRequested, &sample()).unwrap();
        assert!(s.ends_with("75.000 đồng"), "{s}");
        let (s, _) = render(Kind::Accepted, &sample()).unwrap();
        assert!(s.ends_with("02/12/2026"), "{s}");
    }

    #[test]
    fn unknown_placeholders_are_errors() {
        assert!(fill("Kính gửi {ten}", &sample()).is_err());
        assert!(fill("Kính gửi {ho_ten", &sample()).is_err());
        assert_eq!(fill("{ho_ten}!", &sample()).unwrap(), "Hoàng Thị Mai!");
    }

    #[test]
    fn which_changes_concern_the_applicant() {
        assert_eq!(Kind::of("submit", 1), Some(Kind::Submitted));
        assert_eq!(Kind::of("receive_at_counter", 2), Some(Kind::Accepted));
        assert_eq!(Kind::of("accept", 2), Some(Kind::Accepted));
        assert_eq!(Kind::of("refuse", 3), Some(Kind::Refused));
        assert_eq!(
            Kind::of("request_supplement", 5),
            Some(Kind::SupplementRequested)
        );
        assert_eq!(Kind::of("request_payment", 6), Some(Kind::PaymentRequested));
        assert_eq!(Kind::of("approve", 9), Some(Kind::Done));
        assert_eq!(Kind::of("return_result", 10), Some(Kind::Returned));
        assert_eq!(Kind::of("withdraw", 7), Some(Kind::Withdrawn));
        assert_eq!(Kind::of("stop", 8), Some(Kind::Stopped));
        assert_eq!(Kind::of("forward", 4), None);
        assert_eq!(Kind::of("supplement", 2), None);
        assert_eq!(Kind::of("payment_received", 4), None);
        assert_eq!(Kind::of("submit", 99), None);
    }
}
