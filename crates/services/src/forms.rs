//! The one-stop forms of Circular 01/2018/TT-VPCP beyond the receipt (form 01 is in
//! [`crate::documents`]), built from what the platform already records:
//!
//! - **02** phiếu yêu cầu bổ sung, hoàn thiện hồ sơ — from a `request_supplement` event;
//! - **03** phiếu từ chối tiếp nhận giải quyết hồ sơ — from a `refuse` event;
//! - **04** phiếu xin lỗi và hẹn lại ngày trả kết quả — from an `apologise` event, which
//!   [`apologise`] records (signed, audited, on the outbox as `dossier.apologised`; the status
//!   does not change). The new promised date replaces `due_date`; the first promised date is
//!   kept in `original_due_date` and stays the measure of the Decision 766 on-time rate, so an
//!   apologised dossier finished by its new date still counts as late;
//! - **06** phiếu kiểm soát quá trình giải quyết hồ sơ — every handover of the dossier's
//!   history, timed against the step's share of the time limit ([`control_slip`]);
//! - **07** sổ theo dõi hồ sơ — one row per dossier an agency received in a period
//!   ([`register`]), as CSV and PDF, capped at [`REGISTER_MAX_ROWS`] rows.
//!
//! Each form is data first (what the page shows and the API returns) and then a PDF laid out
//! like form 01 (the same heading), deterministic: the same data gives the same bytes.

use crate::catalogue::{Procedure, TimeUnit};
use crate::documents::{self, Issuer, Line};
use crate::dossier::{self, Dossier, Event};
use crate::status::Status;
use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::HashMap;
use tinhso_identity::{authorize, Permission, Principal, Role};
use tinhso_kernel::calendar::WorkingCalendar;
use tinhso_kernel::{text, AppError, FieldErrors, Invalid};
use tinhso_pdf::{Align, Block, Document, Meta, Para, Qr, Style};
use tinhso_store::audit::Ctx;
use tinhso_store::native::Param;
use tinhso_store::{now_micros, Db, DbError, Exec};

const VN_OFFSET_MICROS: i64 = 7 * 3600 * 1_000_000;
/// Side of the QR codes, in points (as on form 01).
const QR_SIZE: f32 = 80.0;

/// Local (UTC+7) time of a timestamp in microseconds.
pub fn local_datetime(micros: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp_micros(micros + VN_OFFSET_MICROS)
        .map(|d| d.naive_utc())
        .unwrap_or_default()
}

fn local_date(micros: i64) -> NaiveDate {
    local_datetime(micros).date()
}

fn ymd(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

fn vn(d: NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

/// `YYYY-MM-DD` as `DD/MM/YYYY` (unchanged when it is something else).
fn vn_text(s: &str) -> String {
    ymd(s).map(vn).unwrap_or_else(|| s.to_string())
}

fn time_vn(micros: i64) -> String {
    local_datetime(micros).format("%H:%M %d/%m/%Y").to_string()
}

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

// ---------------------------------------------------------------- form 04: the apology

/// The event action of an apology.
pub const APOLOGY_ACTION: &str = "apologise";
/// An apology may be recorded once the promised date is at most this many working days away
/// (or past): Decree 61/2018/NĐ-CP art. 19 asks for the apology letter before the deadline
/// expires ("chậm nhất 01 ngày trước ngày hết hạn"); three days leave the office room to act
/// on time. **To be confirmed** against Decree 118/2025/NĐ-CP.
pub const APOLOGY_NOTICE_WORKING_DAYS: u32 = 3;
/// Statuses in which a dossier is being processed by the agency (accepted, processing,
/// payment requested): the clock runs, an apology makes sense.
pub const APOLOGY_STATUSES: [Status; 3] = [
    Status::Accepted,
    Status::Processing,
    Status::PaymentRequested,
];

/// What an officer records for form 04.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ApologyInput {
    /// Why the dossier is (or will be) late.
    #[serde(default)]
    pub reason: String,
    /// The new promised return date, `YYYY-MM-DD`: a working day after the current one.
    #[serde(default)]
    pub new_due_date: String,
}

/// Whether the apology form applies to `d` today: open in the agency's hands with a promised
/// date at most [`APOLOGY_NOTICE_WORKING_DAYS`] working days away, or already past.
pub fn apology_open(d: &Dossier, cal: &WorkingCalendar, today: NaiveDate) -> bool {
    let open = Status::from_code(d.status).is_some_and(|s| APOLOGY_STATUSES.contains(&s));
    let due = d.due_date.as_deref().and_then(ymd);
    open && due.is_some_and(|due| due <= cal.add_working_days(today, APOLOGY_NOTICE_WORKING_DAYS))
}

/// Record form 04 for dossier `code`: an officer allowed to process the dossier
/// (`dossier_process` on its agency, else 403) apologises and sets a new promised date. Every
/// problem is reported at once as field errors (`reason`; `new_due_date`: the dossier is not
/// late nor about to be, the date is missing, malformed, not after the current promised date,
/// in the past, or not a working day) and nothing is written. A closed dossier, or one waiting
/// for the applicant, is a 409. Then, in one transaction: `due_date` becomes the new date,
/// `original_due_date` keeps the first promised date (first apology only), the signed
/// `apologise` event (status unchanged), the audit entry and the `dossier.apologised` event.
pub async fn apologise(
    db: &Db,
    ctx: &Ctx,
    code: &str,
    by: &Principal,
    input: &ApologyInput,
) -> Result<Dossier, AppError> {
    let d = dossier::get(db, code)
        .await?
        .ok_or_else(AppError::not_found)?;
    let scope = dossier::scope_of(db, &d).await?;
    authorize(Some(by), Permission::DossierProcess, &scope)?;
    let status = Status::from_code(d.status).ok_or_else(|| AppError::internal("bad status"))?;
    if !APOLOGY_STATUSES.contains(&status) {
        return Err(AppError::conflict(
            format!(
                "Chỉ lập phiếu xin lỗi cho hồ sơ đang được giải quyết; hồ sơ đang ở trạng thái \"{}\"",
                status.name_vi()
            ),
            format!(
                "An apology is only for a dossier being processed; this one is \"{}\"",
                status.name_en()
            ),
        ));
    }
    let due = d.due_date.as_deref().and_then(ymd).ok_or_else(|| {
        AppError::conflict(
            "Hồ sơ chưa có ngày hẹn trả kết quả",
            "The dossier has no promised return date",
        )
    })?;
    let cal = tinhso_refdata::calendar::working_calendar(db).await?;
    let today = dossier::today_local();
    let mut errs = FieldErrors::new();
    let reason = text::clean(&input.reason);
    if reason.chars().filter(|c| !c.is_whitespace()).count() < 10 {
        errs.push(
            "reason",
            Invalid::new(
                "reason_required",
                "Vui lòng ghi rõ lý do chậm trả kết quả (ít nhất 10 ký tự)",
                "Please give the reason for the delay (at least 10 characters)",
            ),
        );
    } else if reason.chars().count() > 2000 {
        errs.push(
            "reason",
            Invalid::new(
                "too_long",
                "Lý do tối đa 2.000 ký tự",
                "The reason has at most 2,000 characters",
            ),
        );
    }
    let mut new_due = None;
    let latest = cal.add_working_days(today, APOLOGY_NOTICE_WORKING_DAYS);
    if due > latest {
        errs.push(
            "new_due_date",
            Invalid::new(
                "not_overdue",
                format!(
                    "Hồ sơ hẹn trả ngày {}: chưa quá hạn và còn hơn {} ngày làm việc nữa mới đến hạn, chưa lập phiếu xin lỗi",
                    vn(due),
                    APOLOGY_NOTICE_WORKING_DAYS
                ),
                format!(
                    "The dossier is due on {}: not late, and more than {} working days ahead; no apology yet",
                    vn(due),
                    APOLOGY_NOTICE_WORKING_DAYS
                ),
            ),
        );
    } else {
        let typed = input.new_due_date.trim();
        match ymd(typed).filter(|_| typed.len() == 10) {
            None if typed.is_empty() => errs.push(
                "new_due_date",
                Invalid::new(
                    "required",
                    "Vui lòng chọn ngày hẹn trả kết quả mới",
                    "Choose the new return date",
                ),
            ),
            None => errs.push(
                "new_due_date",
                Invalid::new(
                    "date",
                    "Ngày phải có dạng YYYY-MM-DD, ví dụ 2026-01-31",
                    "The date must look like YYYY-MM-DD, e.g. 2026-01-31",
                ),
            ),
            Some(nd) if nd <= due => errs.push(
                "new_due_date",
                Invalid::new(
                    "not_after_due",
                    format!("Ngày hẹn mới phải sau ngày hẹn trả hiện tại ({})", vn(due)),
                    format!(
                        "The new date must be after the current promised date ({})",
                        vn(due)
                    ),
                ),
            ),
            Some(nd) if nd < today => errs.push(
                "new_due_date",
                Invalid::new(
                    "in_past",
                    format!("Ngày hẹn mới không được trước hôm nay ({})", vn(today)),
                    format!("The new date cannot be before today ({})", vn(today)),
                ),
            ),
            Some(nd) if !cal.is_working_day(nd) => errs.push(
                "new_due_date",
                Invalid::new(
                    "not_working_day",
                    format!(
                        "Ngày {} không phải ngày làm việc; ngày làm việc kế tiếp là {}",
                        vn(nd),
                        vn(cal.next_working_day(nd))
                    ),
                    format!(
                        "{} is not a working day; the next working day is {}",
                        vn(nd),
                        vn(cal.next_working_day(nd))
                    ),
                ),
            ),
            Some(nd) => new_due = Some(nd),
        }
    }
    errs.into_result()?;
    let new_due = new_due.ok_or_else(|| AppError::internal("date missing after validation"))?;
    let (old_text, new_text) = (
        due.format("%Y-%m-%d").to_string(),
        new_due.format("%Y-%m-%d").to_string(),
    );
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(
        "UPDATE dossiers SET original_due_date = COALESCE(original_due_date, due_date), due_date = $1, \
         updated_at = $2 WHERE code = $3 AND status = $4 AND due_date = $5",
    )
    .bind(&new_text)
    .bind(now)
    .bind(&d.code)
    .bind(status.code())
    .bind(&old_text)
    .execute(tx.conn())
    .await
    .map_err(db_err)?
    .rows_affected();
    dossier::updated_as_loaded(n, dossier::DOSSIER)?;
    let original: Option<String> =
        sqlx::query_scalar("SELECT original_due_date FROM dossiers WHERE code = $1")
            .bind(&d.code)
            .fetch_one(tx.conn())
            .await
            .map_err(db_err)?;
    let seq: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(MAX(seq), 0) + 1 AS BIGINT) FROM dossier_events WHERE dossier_code = $1",
    )
    .bind(&d.code)
    .fetch_one(tx.conn())
    .await
    .map_err(db_err)?;
    let shown = format!(
        "Hẹn lại ngày trả kết quả: {} (hẹn trước: {}). Lý do: {reason}",
        vn(new_due),
        vn(due)
    );
    let payload = serde_json::json!({
        "dossier": d.code, "seq": seq, "action": APOLOGY_ACTION, "from": status.code(),
        "to": status.code(), "step": d.step, "reason": shown, "at": now,
        "actor": by.user_id,
        "apology": {"reason": reason, "old_due": old_text, "new_due": new_text,
            "original_due": original},
    })
    .to_string();
    let sig = tinhso_identity::keys::sign(db, &by.user_id, payload.as_bytes()).await?;
    sqlx::query(
        "INSERT INTO dossier_events (dossier_code, seq, at, action, from_status, to_status, step, actor_user_id, \
         actor_name, holder_user_id, reason, signed_payload, signature, public_key) \
         VALUES ($1,$2,$3,$4,$5,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
    )
    .bind(&d.code)
    .bind(seq)
    .bind(now)
    .bind(APOLOGY_ACTION)
    .bind(status.code())
    .bind(&d.step)
    .bind(&by.user_id)
    .bind(&by.display_name)
    .bind(None::<String>)
    .bind(&shown)
    .bind(&payload)
    .bind(&sig.signature)
    .bind(&sig.public_key)
    .execute(tx.conn())
    .await
    .map_err(db_err)?;
    tx.audit(&ctx.entry(
        "dossier.apologise",
        "dossier",
        &d.code,
        &d.agency_code,
        serde_json::json!({"before": {"due_date": old_text},
            "after": {"due_date": new_text, "original_due_date": original}, "reason": reason}),
    ))
    .await?;
    tx.emit(
        "dossier.apologised",
        &serde_json::json!({"code": d.code, "agency": d.agency_code, "seq": seq,
            "action": APOLOGY_ACTION, "from": status.code(), "to": status.code(),
            "old_due": old_text, "new_due": new_text, "original_due": original}),
    )
    .await?;
    tx.commit().await?;
    dossier::get(db, &d.code)
        .await?
        .ok_or_else(AppError::not_found)
}

/// Move an apologised dossier's first promised date by the working days a supplement kept it
/// with the applicant, as `due_date` moves (called by [`dossier::transition`] in its
/// transaction); nothing happens to a dossier never apologised for.
pub(crate) async fn shift_original_due(
    tx: &mut impl Exec,
    cal: &WorkingCalendar,
    code: &str,
    days: i64,
) -> Result<(), AppError> {
    if days <= 0 {
        return Ok(());
    }
    let current = tx
        .row(
            "SELECT original_due_date FROM dossiers WHERE code = $1",
            &[Param::Text(code)],
            |r| r.opt_text(0),
        )
        .await?
        .ok_or_else(|| DbError::Invalid(format!("dossier {code}: its row is missing")))?;
    if let Some(d) = current.as_deref().and_then(ymd) {
        let moved = cal.add_working_days(d, u32::try_from(days).unwrap_or(u32::MAX));
        tx.execute(
            "UPDATE dossiers SET original_due_date = $1 WHERE code = $2",
            &[
                Param::Text(&moved.format("%Y-%m-%d").to_string()),
                Param::Text(code),
            ],
        )
        .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- forms 02, 03, 04

/// The notices drawn from one event of the dossier's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Notice {
    /// Form 02, phiếu yêu cầu bổ sung, hoàn thiện hồ sơ.
    Supplement,
    /// Form 03, phiếu từ chối tiếp nhận giải quyết hồ sơ.
    Refusal,
    /// Form 04, phiếu xin lỗi và hẹn lại ngày trả kết quả.
    Apology,
}

impl Notice {
    pub const ALL: [Notice; 3] = [Notice::Supplement, Notice::Refusal, Notice::Apology];

    /// The form's number, `02`, `03`, `04`.
    pub fn number(self) -> &'static str {
        match self {
            Notice::Supplement => "02",
            Notice::Refusal => "03",
            Notice::Apology => "04",
        }
    }

    /// `02` or `2` → form 02.
    pub fn parse(s: &str) -> Option<Notice> {
        let n = s.trim().trim_start_matches('0');
        Notice::ALL
            .into_iter()
            .find(|k| k.number().trim_start_matches('0') == n && !n.is_empty())
    }

    /// The event it is drawn from.
    pub fn action(self) -> &'static str {
        match self {
            Notice::Supplement => "request_supplement",
            Notice::Refusal => "refuse",
            Notice::Apology => APOLOGY_ACTION,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Notice::Supplement => "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ",
            Notice::Refusal => "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ",
            Notice::Apology => "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ",
        }
    }

    pub fn name_vi(self) -> &'static str {
        match self {
            Notice::Supplement => "Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ",
            Notice::Refusal => "Phiếu từ chối tiếp nhận giải quyết hồ sơ",
            Notice::Apology => "Phiếu xin lỗi và hẹn lại ngày trả kết quả",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Notice::Supplement => "Supplement request",
            Notice::Refusal => "Refusal to accept",
            Notice::Apology => "Apology and new return date",
        }
    }
}

/// What a form 02, 03 or 04 says, from its event.
#[derive(Debug, Clone, Serialize)]
pub struct NoticeData {
    /// `02`, `03`, `04`.
    pub form: &'static str,
    pub dossier_code: String,
    pub procedure: String,
    pub procedure_code: String,
    pub applicant_name: String,
    pub agency_code: String,
    pub agency_name: String,
    /// The event's sequence number in the dossier's history.
    pub seq: i64,
    /// When the officer decided (micros).
    pub at: i64,
    pub officer: String,
    /// The decision carries the officer's signature.
    pub signed: bool,
    /// What to add (02), why refused (03), why late (04).
    pub reason: String,
    /// When the dossier was received (accepted, else submitted).
    pub received_at: i64,
    /// Form 04: the promised date before the apology and the new one (`YYYY-MM-DD`).
    pub old_due: Option<String>,
    pub new_due: Option<String>,
}

/// The `(form, seq)` of every notice in a dossier's history, oldest first.
pub fn notices(d: &Dossier) -> Vec<(Notice, i64)> {
    d.events
        .iter()
        .filter_map(|e| {
            Notice::ALL
                .into_iter()
                .find(|k| k.action() == e.action)
                .map(|k| (k, e.seq))
        })
        .collect()
}

/// Form `kind` of `d` from the event `seq` (the latest such event when `None`).
pub fn notice(d: &Dossier, kind: Notice, seq: Option<i64>) -> Option<NoticeData> {
    let e: &Event = d
        .events
        .iter()
        .rev()
        .filter(|e| e.action == kind.action())
        .find(|e| seq.is_none_or(|s| s == e.seq))?;
    let (mut reason, mut old_due, mut new_due) = (e.reason.clone(), None, None);
    if kind == Notice::Apology {
        let v: serde_json::Value = serde_json::from_str(&e.signed_payload).ok()?;
        let a = &v["apology"];
        reason = a["reason"].as_str().unwrap_or_default().to_string();
        old_due = a["old_due"].as_str().map(str::to_string);
        new_due = a["new_due"].as_str().map(str::to_string);
    }
    Some(NoticeData {
        form: kind.number(),
        dossier_code: d.code.clone(),
        procedure: d.procedure_name.clone(),
        procedure_code: d.procedure_code.clone(),
        applicant_name: d.applicant.name.clone(),
        agency_code: d.agency_code.clone(),
        agency_name: d.agency_name.clone(),
        seq: e.seq,
        at: e.at,
        officer: e.actor_name.clone(),
        signed: e.signed,
        reason,
        received_at: d.accepted_at.unwrap_or(d.submitted_at),
        old_due,
        new_due,
    })
}

/// A notice ready to print.
#[derive(Debug, Clone)]
pub struct NoticeDoc {
    pub issuer: Issuer,
    pub data: NoticeData,
    /// The applicant's tracking page (with the lookup code), printed as a QR code.
    pub tracking_url: String,
    /// Form 02: the components the procedure requires, as a reminder.
    pub components: Vec<String>,
}

fn date_of(micros: i64) -> (u32, u32, i32) {
    use chrono::Datelike;
    let d = local_date(micros);
    (d.day(), d.month(), d.year())
}

fn para(text: &str) -> Para {
    Para::new(text, Style::Regular, 12.0).after(4.0)
}

/// Form 02, 03 or 04 as PDF.
pub fn notice_pdf(n: &NoticeDoc) -> Vec<u8> {
    let k = &n.data;
    let kind = Notice::parse(k.form).unwrap_or(Notice::Supplement);
    let mut d = Document::new(Meta {
        title: format!("{} {}", kind.name_vi(), k.dossier_code),
        author: n.issuer.name.clone(),
        subject: k.procedure.clone(),
        keywords: format!("{} Mẫu số {}", k.dossier_code, k.form),
        footer: format!(
            "Mã hồ sơ {} · Mẫu số {}, Thông tư 01/2018/TT-VPCP",
            k.dossier_code, k.form
        ),
        ..Default::default()
    });
    d.columns(documents::heading(&n.issuer, None, date_of(k.at)));
    d.space(10.0);
    d.para(
        Para::new(kind.title(), Style::Bold, 14.0)
            .align(Align::Center)
            .after(2.0),
    );
    d.para(
        Para::new("Mã hồ sơ: ", Style::Regular, 12.0)
            .then(&k.dossier_code, Style::Bold)
            .align(Align::Center)
            .after(10.0),
    );
    d.para(
        Para::new("Kính gửi: ", Style::Regular, 12.0)
            .then(&k.applicant_name, Style::Bold)
            .after(6.0),
    );
    let received = local_datetime(k.received_at)
        .format("%H giờ %M phút, ngày %d/%m/%Y")
        .to_string();
    d.para(para(&format!(
        "{} tiếp nhận hồ sơ của ông/bà/tổ chức {} lúc {}, đề nghị giải quyết thủ tục: {} (mã {}).",
        n.issuer.name, k.applicant_name, received, k.procedure, k.procedure_code
    )));
    match kind {
        Notice::Supplement => {
            d.para(para(
                "Sau khi xem xét, hồ sơ cần được bổ sung, hoàn thiện các nội dung sau:",
            ));
            d.para(
                Para::new(&k.reason, Style::Bold, 12.0)
                    .indent(20.0)
                    .after(6.0),
            );
            if !n.components.is_empty() {
                d.para(para("Thành phần hồ sơ theo quy định của thủ tục:"));
                for c in &n.components {
                    d.para(
                        Para::new(&format!("– {c}"), Style::Regular, 11.0)
                            .indent(20.0)
                            .after(1.0),
                    );
                }
            }
            d.para(
                para(&format!(
                "Thời hạn giải quyết tạm dừng từ {} cho đến khi cơ quan nhận đủ hồ sơ bổ sung. \
                 Ông/bà bổ sung trực tuyến tại trang tra cứu hồ sơ (quét mã QR dưới đây) hoặc \
                 tại Bộ phận Một cửa.",
                time_vn(k.at)
            ))
                .before(4.0),
            );
            d.para(para("Xin trân trọng thông báo."));
        }
        Notice::Refusal => {
            d.para(para(&format!(
                "Sau khi xem xét, {} không tiếp nhận giải quyết hồ sơ này, với lý do:",
                n.issuer.name
            )));
            d.para(
                Para::new(&k.reason, Style::Bold, 12.0)
                    .indent(20.0)
                    .after(6.0),
            );
            d.para(para(
                "Xin thông báo để ông/bà/tổ chức biết và thực hiện theo quy định.",
            ));
        }
        Notice::Apology => {
            let old = k.old_due.as_deref().map(vn_text).unwrap_or_default();
            let new = k.new_due.as_deref().map(vn_text).unwrap_or_default();
            d.para(para(&format!(
                "Ngày hẹn trả kết quả giải quyết hồ sơ là ngày {old}. Tuy nhiên, đến nay {} \
                 chưa trả được kết quả giải quyết hồ sơ đúng hạn, với lý do:",
                n.issuer.name
            )));
            d.para(
                Para::new(&k.reason, Style::Bold, 12.0)
                    .indent(20.0)
                    .after(6.0),
            );
            d.para(para(&format!(
                "Sự chậm trễ này đã gây phiền hà cho ông/bà/tổ chức. {} xin lỗi ông/bà/tổ \
                 chức và hẹn lại thời gian trả kết quả vào ngày:",
                n.issuer.name
            )));
            d.para(
                Para::new(&new, Style::Bold, 13.0)
                    .align(Align::Center)
                    .after(6.0),
            );
            d.para(para("Rất mong nhận được sự thông cảm của ông/bà/tổ chức."));
        }
    }
    d.space(6.0);
    let mut qr_col = Vec::new();
    if let Ok(qr) = Qr::new(&n.tracking_url, QR_SIZE) {
        qr_col.push(Block::Qr {
            qr,
            align: Align::Left,
        });
    }
    qr_col.push(Block::Para(
        Para::new("Quét mã để tra cứu hồ sơ", Style::Italic, 9.0).gray(0.3),
    ));
    let signer = vec![
        Block::Para(
            Para::new(
                if kind == Notice::Apology {
                    "THỦ TRƯỞNG CƠ QUAN (NGƯỜI LẬP PHIẾU)"
                } else {
                    "NGƯỜI LẬP PHIẾU"
                },
                Style::Bold,
                11.0,
            )
            .align(Align::Center),
        ),
        Block::Para(
            Para::new(
                if k.signed {
                    "(Đã ký số)"
                } else {
                    "(Ký và ghi rõ họ tên)"
                },
                Style::Italic,
                10.0,
            )
            .align(Align::Center)
            .after(24.0),
        ),
        Block::Para(Para::new(&k.officer, Style::Bold, 11.0).align(Align::Center)),
        Block::Para(
            Para::new(&time_vn(k.at), Style::Regular, 9.0)
                .align(Align::Center)
                .gray(0.3),
        ),
    ];
    d.columns(vec![(1.0, qr_col), (1.2, signer)]);
    d.finish()
}

// ---------------------------------------------------------------- form 06

/// How a handover stands against its step's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    Early,
    OnTime,
    Late,
    /// No deadline applies (reception, the applicant's part) or none can be computed.
    NotApplicable,
}

impl Timing {
    pub fn label_vi(self) -> &'static str {
        match self {
            Timing::Early => "Trước hạn",
            Timing::OnTime => "Đúng hạn",
            Timing::Late => "Quá hạn",
            Timing::NotApplicable => "—",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Timing::Early => "Early",
            Timing::OnTime => "On time",
            Timing::Late => "Late",
            Timing::NotApplicable => "—",
        }
    }
}

/// One handover of the dossier (giao, nhận hồ sơ).
#[derive(Debug, Clone, Serialize)]
pub struct Handover {
    pub no: usize,
    /// When it was handed over (micros).
    pub at: i64,
    /// The unit (step) and the person who gave it.
    pub giver_unit: String,
    pub giver: String,
    /// The unit (step) and the person who received it (the next to act on it; the step's
    /// role while nobody has).
    pub receiver_unit: String,
    pub receiver: String,
    /// The giver's step deadline, as printed, when the workflow gives it a share.
    pub deadline: String,
    pub timing: Timing,
    pub note: String,
}

/// Form 06: the process control slip.
#[derive(Debug, Clone, Serialize)]
pub struct ControlSlip {
    pub dossier_code: String,
    pub procedure: String,
    pub procedure_code: String,
    pub applicant_name: String,
    pub agency_name: String,
    pub agency_code: String,
    pub received_at: Option<i64>,
    pub time_limit: String,
    /// The promised date now, and the first one when an apology moved it.
    pub due: Option<String>,
    pub original_due: Option<String>,
    /// The workflow gives each step a share of the time limit (deadlines per step).
    pub shares: bool,
    pub rows: Vec<Handover>,
}

const APPLICANT_UNIT: &str = "Người nộp hồ sơ";

fn role_name(role: &str) -> String {
    Role::parse(role)
        .map(|r| r.name_vi().to_string())
        .unwrap_or_else(|| role.to_string())
}

/// Form 06 of `d`, drawn from its history: every handover between the applicant and the
/// workflow's steps (reception, each forward, approval, supplement requests and answers, the
/// refusal, the result handed back). A step's deadline is the acceptance time plus its
/// cumulative share of the time limit (rounded up to whole working days or hours), moved by
/// the working days supplements kept the dossier with the applicant before the handover.
pub fn control_slip(d: &Dossier, p: Option<&Procedure>, cal: &WorkingCalendar) -> ControlSlip {
    let steps = p.map(|p| p.workflow.as_slice()).unwrap_or_default();
    let shares = !steps.is_empty() && steps.iter().map(|s| s.share_percent).sum::<u32>() == 100;
    let step_name = |s: &str| {
        steps
            .iter()
            .find(|w| w.step == s)
            .map(|w| w.name.clone())
            .unwrap_or_else(|| s.to_string())
    };
    let deadline = |step: &str, paused: i64| -> Option<NaiveDateTime> {
        let p = p?;
        let start = d.accepted_at?;
        if !shares {
            return None;
        }
        let idx = steps.iter().position(|w| w.step == step)?;
        let cum: u32 = steps[..=idx].iter().map(|w| w.share_percent).sum();
        let units = (p.time_limit.value * cum).div_ceil(100);
        let paused = u32::try_from(paused.max(0)).unwrap_or(0);
        let shift = |dt: NaiveDateTime| {
            if paused == 0 {
                dt
            } else {
                cal.add_working_days(dt.date(), paused).and_time(dt.time())
            }
        };
        Some(match p.time_limit.unit {
            TimeUnit::WorkingDays => shift(
                cal.add_working_days(local_date(start), units)
                    .and_hms_opt(23, 59, 59)
                    .unwrap_or_default(),
            ),
            TimeUnit::WorkingHours => shift(cal.add_working_hours(local_datetime(start), units)),
        })
    };
    let hours = p.is_some_and(|p| p.time_limit.unit == TimeUnit::WorkingHours);
    let judge = |dl: Option<NaiveDateTime>, at: i64| -> (String, Timing) {
        let Some(dl) = dl else {
            return (String::new(), Timing::NotApplicable);
        };
        let at = local_datetime(at);
        let text = if hours {
            dl.format("%H:%M %d/%m/%Y").to_string()
        } else {
            vn(dl.date())
        };
        let t = if at > dl {
            Timing::Late
        } else if at.date() < dl.date() {
            Timing::Early
        } else {
            Timing::OnTime
        };
        (text, t)
    };
    // The next person to act after event `i` (apologies are not handling).
    let receiver_after = |i: usize, unit_role: &str| -> String {
        d.events
            .iter()
            .skip(i + 1)
            .find(|e| e.action != APOLOGY_ACTION)
            .map(|e| e.actor_name.clone())
            .unwrap_or_else(|| format!("(chờ xử lý: {})", role_name(unit_role)))
    };
    let role_of = |s: &str| {
        steps
            .iter()
            .find(|w| w.step == s)
            .map(|w| w.role.clone())
            .unwrap_or_default()
    };
    let mut rows = Vec::new();
    let mut prev_step = String::new();
    let mut paused_since: Option<i64> = None;
    let mut paused: i64 = 0;
    let mut original_due = None;
    for (i, e) in d.events.iter().enumerate() {
        let mut push = |giver_unit: String,
                        giver: String,
                        receiver_unit: String,
                        receiver: String,
                        (deadline, timing): (String, Timing),
                        note: String| {
            rows.push(Handover {
                no: rows.len() + 1,
                at: e.at,
                giver_unit,
                giver,
                receiver_unit,
                receiver,
                deadline,
                timing,
                note,
            })
        };
        match e.action.as_str() {
            "accept" | "receive_at_counter" => push(
                APPLICANT_UNIT.into(),
                d.applicant.name.clone(),
                step_name(&e.step),
                e.actor_name.clone(),
                (String::new(), Timing::NotApplicable),
                if e.action == "accept" {
                    "Tiếp nhận hồ sơ trực tuyến".into()
                } else {
                    "Tiếp nhận hồ sơ tại Bộ phận Một cửa".into()
                },
            ),
            "forward" | "approve" => push(
                step_name(&prev_step),
                e.actor_name.clone(),
                step_name(&e.step),
                receiver_after(i, &role_of(&e.step)),
                judge(deadline(&prev_step, paused), e.at),
                if e.action == "approve" {
                    "Phê duyệt, chuyển trả kết quả".into()
                } else {
                    String::new()
                },
            ),
            "request_supplement" => {
                paused_since = Some(e.at);
                push(
                    step_name(&prev_step),
                    e.actor_name.clone(),
                    APPLICANT_UNIT.into(),
                    d.applicant.name.clone(),
                    judge(deadline(&prev_step, paused), e.at),
                    format!("Yêu cầu bổ sung: {}", e.reason),
                )
            }
            "supplement" => {
                if let Some(since) = paused_since.take() {
                    paused += cal
                        .working_days_between(local_date(since), local_date(e.at))
                        .max(0);
                }
                push(
                    APPLICANT_UNIT.into(),
                    e.actor_name.clone(),
                    step_name(&e.step),
                    receiver_after(i, &role_of(&e.step)),
                    (String::new(), Timing::NotApplicable),
                    "Bổ sung hồ sơ (thời gian chờ bổ sung không tính)".into(),
                )
            }
            "refuse" => push(
                step_name(&prev_step),
                e.actor_name.clone(),
                APPLICANT_UNIT.into(),
                d.applicant.name.clone(),
                (String::new(), Timing::NotApplicable),
                format!("Từ chối tiếp nhận: {}", e.reason),
            ),
            "return_result" => push(
                step_name(&e.step),
                e.actor_name.clone(),
                APPLICANT_UNIT.into(),
                d.applicant.name.clone(),
                judge(deadline(&e.step, paused), e.at),
                "Trả kết quả".into(),
            ),
            APOLOGY_ACTION if original_due.is_none() => {
                original_due = serde_json::from_str::<serde_json::Value>(&e.signed_payload)
                    .ok()
                    .and_then(|v| v["apology"]["old_due"].as_str().map(str::to_string));
            }
            _ => {}
        }
        prev_step = e.step.clone();
    }
    ControlSlip {
        dossier_code: d.code.clone(),
        procedure: d.procedure_name.clone(),
        procedure_code: d.procedure_code.clone(),
        applicant_name: d.applicant.name.clone(),
        agency_name: d.agency_name.clone(),
        agency_code: d.agency_code.clone(),
        received_at: d.accepted_at,
        time_limit: p
            .map(|p| match p.time_limit.unit {
                TimeUnit::WorkingDays => format!("{} ngày làm việc", p.time_limit.value),
                TimeUnit::WorkingHours => format!("{} giờ làm việc", p.time_limit.value),
            })
            .unwrap_or_default(),
        due: d.due_date.clone(),
        original_due,
        shares,
        rows,
    }
}

/// Form 06 as PDF, dated `date` (day, month, year).
pub fn control_slip_pdf(s: &ControlSlip, issuer: &Issuer, date: (u32, u32, i32)) -> Vec<u8> {
    let mut d = Document::new(Meta {
        title: format!(
            "Phiếu kiểm soát quá trình giải quyết hồ sơ {}",
            s.dossier_code
        ),
        author: issuer.name.clone(),
        subject: s.procedure.clone(),
        keywords: format!("{} Mẫu số 06", s.dossier_code),
        footer: format!(
            "Mã hồ sơ {} · Mẫu số 06, Thông tư 01/2018/TT-VPCP",
            s.dossier_code
        ),
        ..Default::default()
    });
    d.columns(documents::heading(issuer, None, date));
    d.space(10.0);
    d.para(
        Para::new(
            "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ",
            Style::Bold,
            14.0,
        )
        .align(Align::Center)
        .after(2.0),
    );
    d.para(
        Para::new("Mã hồ sơ: ", Style::Regular, 12.0)
            .then(&s.dossier_code, Style::Bold)
            .align(Align::Center)
            .after(8.0),
    );
    let mut lines = vec![
        Line::new("Người nộp hồ sơ", &s.applicant_name),
        Line::new(
            "Thủ tục",
            &format!("{} (mã {})", s.procedure, s.procedure_code),
        ),
        Line::new("Cơ quan giải quyết", &s.agency_name),
        Line::new(
            "Tiếp nhận lúc",
            &s.received_at.map(time_vn).unwrap_or_else(|| "—".into()),
        ),
        Line::new("Thời hạn giải quyết", &s.time_limit),
        Line::new(
            "Hẹn trả kết quả",
            &s.due.as_deref().map(vn_text).unwrap_or_else(|| "—".into()),
        ),
    ];
    if let Some(o) = &s.original_due {
        lines.push(Line::new(
            "Ngày hẹn ban đầu (trước khi xin lỗi)",
            &vn_text(o),
        ));
    }
    for l in &lines {
        d.para(documents::labelled(l, 11.0).after(2.0));
    }
    d.space(6.0);
    let cell = |t: &str| Para::new(t, Style::Regular, 9.5);
    let rows = s
        .rows
        .iter()
        .map(|r| {
            vec![
                cell(&r.no.to_string()).align(Align::Center),
                cell(&format!(
                    "Giao: {} – {}\nNhận: {} – {}",
                    r.giver_unit, r.giver, r.receiver_unit, r.receiver
                )),
                cell(&time_vn(r.at)),
                cell(if r.deadline.is_empty() {
                    "—"
                } else {
                    &r.deadline
                }),
                cell(r.timing.label_vi()),
                cell(&r.note),
            ]
        })
        .collect();
    let head = |t: &str| Para::new(t, Style::Bold, 9.5);
    d.table(
        &[0.45, 3.0, 1.3, 1.2, 1.1, 2.0],
        Some(vec![
            head("TT").align(Align::Center),
            head("Giao, nhận hồ sơ (bộ phận – người)"),
            head("Thời gian giao, nhận"),
            head("Hạn của bước"),
            head("Kết quả (trước hạn / đúng hạn / quá hạn)"),
            head("Ghi chú"),
        ]),
        rows,
    );
    if !s.shares {
        d.para(
            Para::new(
                "Quy trình của thủ tục không chia thời hạn cho từng bước: không đánh giá đúng hạn từng bước.",
                Style::Italic,
                9.0,
            )
            .before(4.0),
        );
    }
    d.finish()
}

// ---------------------------------------------------------------- form 07

/// The most rows one register holds; a longer period is cut there and says so.
pub const REGISTER_MAX_ROWS: usize = 5000;

/// How a registered dossier ended, as the Decision 766 on-time indicator counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Finished (9, 10) by the first promised date, at most one supplement request.
    OnTime,
    /// Finished late (after the first promised date — an apology does not move it — or with
    /// more than one supplement request).
    Late,
    /// Still open, within its promised date.
    InProgress,
    /// Still open, past its promised date.
    Overdue,
    /// Refused, withdrawn or stopped: not counted.
    Closed,
}

impl Outcome {
    pub fn label_vi(self) -> &'static str {
        match self {
            Outcome::OnTime => "Đúng hạn",
            Outcome::Late => "Trễ hạn",
            Outcome::InProgress => "Đang giải quyết",
            Outcome::Overdue => "Đang giải quyết, quá hạn",
            Outcome::Closed => "Không tính",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Outcome::OnTime => "On time",
            Outcome::Late => "Late",
            Outcome::InProgress => "In progress",
            Outcome::Overdue => "In progress, overdue",
            Outcome::Closed => "Not counted",
        }
    }
}

/// One dossier of the register.
#[derive(Debug, Clone, Serialize)]
pub struct RegisterRow {
    pub code: String,
    pub procedure_code: String,
    pub procedure: String,
    pub applicant_name: String,
    pub channel: i64,
    pub submitted_at: i64,
    pub accepted_at: Option<i64>,
    /// The promised date now (`YYYY-MM-DD`), and the first one when an apology moved it.
    pub due_date: Option<String>,
    pub original_due_date: Option<String>,
    pub finished_at: Option<i64>,
    pub returned_at: Option<i64>,
    pub status: i64,
    pub status_vi: String,
    pub supplement_count: i64,
    pub outcome: Outcome,
}

/// Form 07: the dossiers an agency received in `[from, to)`.
#[derive(Debug, Clone, Serialize)]
pub struct Register {
    pub agency_code: String,
    pub agency_name: String,
    /// First day, included; last day, excluded (`YYYY-MM-DD`).
    pub from: String,
    pub to: String,
    pub rows: Vec<RegisterRow>,
    /// More dossiers were received in the period than [`Register::cap`]: the first `cap` are
    /// listed.
    pub truncated: bool,
    pub cap: usize,
}

fn outcome_of(
    status: i64,
    finished_at: Option<i64>,
    measured_due: Option<&str>,
    supplements: i64,
    today: NaiveDate,
) -> Outcome {
    let due = measured_due.and_then(ymd);
    match status {
        9 | 10 => match (finished_at, due) {
            (Some(f), Some(due)) if supplements <= 1 && local_date(f) <= due => Outcome::OnTime,
            _ => Outcome::Late,
        },
        3 | 7 | 8 => Outcome::Closed,
        _ => match due {
            Some(due) if due < today && status != 5 => Outcome::Overdue,
            _ => Outcome::InProgress,
        },
    }
}

/// Form 07 for `agency_code` over `[from, to)` (local dates), for `by`, who must hold
/// `dossier_read` on the agency (else 403). Oldest first, at most `cap` rows (and never more
/// than [`REGISTER_MAX_ROWS`]).
pub async fn register(
    db: &Db,
    by: &Principal,
    agency_code: &str,
    from: NaiveDate,
    to: NaiveDate,
    cap: usize,
) -> Result<Register, AppError> {
    let agency = tinhso_refdata::agencies::get(db, agency_code)
        .await?
        .ok_or_else(|| {
            AppError::field(
                "agency",
                Invalid::new("agency_unknown", "Không có cơ quan này", "No such agency"),
            )
        })?;
    let scope = dossier::agency_scope(db, &agency).await?;
    authorize(Some(by), Permission::DossierRead, &scope)?;
    let cap = cap.clamp(1, REGISTER_MAX_ROWS);
    let rows = sqlx::query(
        "SELECT code, procedure_code, procedure_version, applicant_name, channel, submitted_at, accepted_at, \
         due_date, original_due_date, finished_at, returned_at, status, supplement_count \
         FROM dossiers WHERE agency_code = $1 AND submitted_at >= $2 AND submitted_at < $3 \
         ORDER BY submitted_at, code LIMIT $4",
    )
    .bind(&agency.code)
    .bind(crate::indicators::local_midnight_micros(from))
    .bind(crate::indicators::local_midnight_micros(to))
    .bind(i64::try_from(cap).unwrap_or(i64::MAX) + 1)
    .fetch_all(db.pool())
    .await
    .map_err(db_err)?;
    let truncated = rows.len() > cap;
    let today = dossier::today_local();
    let mut names: HashMap<(String, i64), String> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len().min(cap));
    for r in rows.iter().take(cap) {
        let procedure_code: String = r.try_get(1).map_err(db_err)?;
        let version: i64 = r.try_get(2).map_err(db_err)?;
        let key = (procedure_code.clone(), version);
        if !names.contains_key(&key) {
            let name = crate::catalogue::version(db, &procedure_code, version)
                .await?
                .map(|p| p.name)
                .unwrap_or_default();
            names.insert(key.clone(), name);
        }
        let status: i64 = r.try_get(11).map_err(db_err)?;
        let due_date: Option<String> = r.try_get(7).map_err(db_err)?;
        let original_due_date: Option<String> = r.try_get(8).map_err(db_err)?;
        let finished_at: Option<i64> = r.try_get(9).map_err(db_err)?;
        let supplement_count: i64 = r.try_get(12).map_err(db_err)?;
        out.push(RegisterRow {
            code: r.try_get(0).map_err(db_err)?,
            procedure: names.get(&key).cloned().unwrap_or_default(),
            procedure_code,
            applicant_name: r.try_get(3).map_err(db_err)?,
            channel: r.try_get(4).map_err(db_err)?,
            submitted_at: r.try_get(5).map_err(db_err)?,
            accepted_at: r.try_get(6).map_err(db_err)?,
            outcome: outcome_of(
                status,
                finished_at,
                original_due_date.as_deref().or(due_date.as_deref()),
                supplement_count,
                today,
            ),
            due_date,
            original_due_date,
            finished_at,
            returned_at: r.try_get(10).map_err(db_err)?,
            status_vi: Status::from_code(status)
                .map(|s| s.name_vi().to_string())
                .unwrap_or_default(),
            status,
            supplement_count,
        });
    }
    Ok(Register {
        agency_code: agency.code,
        agency_name: agency.name,
        from: from.format("%Y-%m-%d").to_string(),
        to: to.format("%Y-%m-%d").to_string(),
        rows: out,
        truncated,
        cap,
    })
}

fn channel_vi(c: i64) -> &'static str {
    match c {
        1 => "Trực tiếp",
        2 => "Trực tuyến",
        3 => "Bưu chính công ích",
        _ => "—",
    }
}

/// The header row of the register's CSV.
pub const REGISTER_CSV_HEADER: [&str; 14] = [
    "STT",
    "Mã hồ sơ",
    "Mã thủ tục",
    "Tên thủ tục",
    "Người nộp",
    "Kênh",
    "Ngày nộp",
    "Ngày tiếp nhận",
    "Hẹn trả kết quả",
    "Hẹn trả ban đầu",
    "Ngày giải quyết xong",
    "Ngày trả kết quả",
    "Trạng thái",
    "Kết quả (đúng hạn/trễ hạn)",
];

/// A CSV field: quoted when it holds a separator, a quote or a line break (quotes doubled);
/// a leading `=`, `+`, `-`, `@` gets an apostrophe so spreadsheets do not run it as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r', ';']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Form 07 as CSV: UTF-8 with a byte-order mark (so Excel reads Vietnamese correctly),
/// comma-separated, CRLF line ends (RFC 4180), one header row, one row per dossier, and a last
/// line saying so when the period was cut at the cap.
pub fn register_csv(r: &Register) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    let line = |fields: Vec<String>| {
        fields
            .iter()
            .map(|f| csv_field(f))
            .collect::<Vec<_>>()
            .join(",")
            + "\r\n"
    };
    out.push_str(&line(
        REGISTER_CSV_HEADER.iter().map(|s| s.to_string()).collect(),
    ));
    let opt_time = |t: Option<i64>| t.map(time_vn).unwrap_or_default();
    for (i, row) in r.rows.iter().enumerate() {
        out.push_str(&line(vec![
            (i + 1).to_string(),
            row.code.clone(),
            row.procedure_code.clone(),
            row.procedure.clone(),
            row.applicant_name.clone(),
            channel_vi(row.channel).to_string(),
            time_vn(row.submitted_at),
            opt_time(row.accepted_at),
            row.due_date.as_deref().map(vn_text).unwrap_or_default(),
            row.original_due_date
                .as_deref()
                .map(vn_text)
                .unwrap_or_default(),
            opt_time(row.finished_at),
            opt_time(row.returned_at),
            row.status_vi.clone(),
            row.outcome.label_vi().to_string(),
        ]));
    }
    if r.truncated {
        out.push_str(&line(vec![format!(
            "Chỉ liệt kê {} hồ sơ đầu tiên của kỳ; chọn kỳ ngắn hơn để xem tiếp",
            r.cap
        )]));
    }
    out.into_bytes()
}

/// Form 07 as PDF (portrait A4, the table repeats its header on every page), dated `date`.
pub fn register_pdf(r: &Register, issuer: &Issuer, date: (u32, u32, i32)) -> Vec<u8> {
    let to_incl = ymd(&r.to)
        .and_then(|d| d.pred_opt())
        .map(vn)
        .unwrap_or_default();
    let mut d = Document::new(Meta {
        title: format!("Sổ theo dõi hồ sơ {} {} – {}", r.agency_code, r.from, r.to),
        author: issuer.name.clone(),
        subject: "Sổ theo dõi hồ sơ".into(),
        keywords: format!("{} Mẫu số 07", r.agency_code),
        footer: format!(
            "Sổ theo dõi hồ sơ · {} · Mẫu số 07, Thông tư 01/2018/TT-VPCP",
            r.agency_code
        ),
        ..Default::default()
    });
    d.columns(documents::heading(issuer, None, date));
    d.space(10.0);
    d.para(
        Para::new("SỔ THEO DÕI HỒ SƠ", Style::Bold, 14.0)
            .align(Align::Center)
            .after(2.0),
    );
    d.para(
        Para::new(
            &format!("Từ ngày {} đến ngày {}", vn_text(&r.from), to_incl),
            Style::Italic,
            11.0,
        )
        .align(Align::Center)
        .after(8.0),
    );
    let cell = |t: &str| Para::new(t, Style::Regular, 8.0);
    let date_only = |t: Option<i64>| t.map(|t| vn(local_date(t))).unwrap_or_default();
    let rows = r
        .rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let due = match (&row.due_date, &row.original_due_date) {
                (Some(d), Some(o)) => format!("{}\n(ban đầu {})", vn_text(d), vn_text(o)),
                (Some(d), None) => vn_text(d),
                _ => String::new(),
            };
            vec![
                cell(&(i + 1).to_string()).align(Align::Center),
                cell(&row.code),
                cell(&format!("{} ({})", row.procedure, row.procedure_code)),
                cell(&row.applicant_name),
                cell(&date_only(row.accepted_at.or(Some(row.submitted_at)))),
                cell(&due),
                cell(&format!(
                    "{}{}",
                    date_only(row.finished_at),
                    row.returned_at
                        .map(|t| format!("\ntrả {}", vn(local_date(t))))
                        .unwrap_or_default()
                )),
                cell(&format!("{}\n{}", row.status_vi, row.outcome.label_vi())),
            ]
        })
        .collect();
    let head = |t: &str| Para::new(t, Style::Bold, 8.0);
    d.table(
        &[0.4, 1.9, 2.2, 1.3, 1.25, 1.25, 1.25, 1.3],
        Some(vec![
            head("TT").align(Align::Center),
            head("Mã hồ sơ"),
            head("Thủ tục"),
            head("Người nộp"),
            head("Tiếp nhận"),
            head("Hẹn trả"),
            head("Xong / trả"),
            head("Trạng thái, kết quả"),
        ]),
        rows,
    );
    let mut note = format!("Tổng số: {} hồ sơ.", r.rows.len());
    if r.truncated {
        note.push_str(&format!(
            " Kỳ này có hơn {} hồ sơ: sổ chỉ liệt kê {} hồ sơ đầu tiên; chọn kỳ ngắn hơn để xem tiếp.",
            r.cap, r.cap
        ));
    }
    d.para(Para::new(&note, Style::Italic, 9.5).before(6.0));
    d.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("Nguyễn Văn A"), "Nguyễn Văn A");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_field("x\ny"), "\"x\ny\"");
    }

    #[test]
    fn notice_numbers_parse() {
        assert_eq!(Notice::parse("02"), Some(Notice::Supplement));
        assert_eq!(Notice::parse("3"), Some(Notice::Refusal));
        assert_eq!(Notice::parse("04"), Some(Notice::Apology));
        assert_eq!(Notice::parse("06"), None);
        assert_eq!(Notice::parse("0"), None);
        assert_eq!(Notice::parse(""), None);
    }

    #[test]
    fn outcome_uses_the_first_promised_date() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        let fin = crate::indicators::local_midnight_micros(today) + 3_600_000_000;
        assert_eq!(
            outcome_of(10, Some(fin), Some("2026-03-10"), 1, today),
            Outcome::OnTime
        );
        assert_eq!(
            outcome_of(10, Some(fin), Some("2026-03-09"), 0, today),
            Outcome::Late
        );
        assert_eq!(
            outcome_of(9, Some(fin), Some("2026-03-20"), 2, today),
            Outcome::Late
        );
        assert_eq!(
            outcome_of(4, None, Some("2026-03-09"), 0, today),
            Outcome::Overdue
        );
        assert_eq!(outcome_of(3, None, None, 0, today), Outcome::Closed);
    }
}
