//! Satisfaction ratings (đánh giá mức độ hài lòng) and feedback and complaints (phản ánh,
//! kiến nghị — PAKN).
//!
//! **Ratings.** Once a dossier is finished (refused, withdrawn, stopped, processed or its result
//! returned: statuses 3, 7, 8, 9, 10) its applicant — signed in as its owner, or proven by the
//! lookup code (the caller checks, as for withdrawals) — rates the service once on the
//! three-level scale used by the one-stop information systems and the national portal: *rất
//! hài lòng* (3), *hài lòng* (2), *không hài lòng* (1), with an optional comment. A second
//! rating is a 409. (The three levels follow the evaluation forms of the provincial one-stop
//! systems; the exact legal wording — Circular 01/2018/TT-VPCP and its successors — is to be
//! confirmed.)
//!
//! **PAKN.** Anyone, signed in or not, sends a *phản ánh* (feedback on an administrative
//! regulation or an officer's behaviour) or a *kiến nghị* (complaint or proposal), addressed to
//! an agency or about a dossier (then the dossier's code and lookup code are required, and a
//! wrong lookup code is answered exactly like an unknown dossier). It gets a code
//! `PAKN-<yymmdd>-<nnnn>`, an 8-character lookup code (keyed digest of the code, like a
//! dossier's) and a due date 10 working days after receipt on the working calendar (Decree
//! 20/2008/NĐ-CP on receiving and handling PAKN about administrative regulations — the
//! 10-working-day limit is to be confirmed against the decree's text). Officers with the
//! dossier-processing right on the agency (the same scope as its dossiers, so the provincial
//! one-stop centre sees the provincial departments' PAKN) move it along
//! `received → processing → answered → closed`, or reject it with a reason; every change is
//! audited and announced on the outbox (`feedback.received`, `feedback.status_changed`).
//!
//! A *kiến nghị* about a dossier lowers that dossier agency's Decision 766 satisfaction
//! indicator ([`crate::indicators`]), unless it was rejected.

use crate::dossier::{self, ActingAs, Dossier};
use crate::status::Status;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use tinhso_identity::{authorize, Permission, Principal, ResourceScope};
use tinhso_kernel::{text, validate, AppError, ErrorCode, FieldErrors, Invalid};
use tinhso_refdata::agencies;
use tinhso_store::audit::Ctx;
use tinhso_store::native::Param;
use tinhso_store::{now_micros, Db, DbError, Exec};

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

// ---------------------------------------------------------------- ratings

/// A level of satisfaction (mức độ hài lòng).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 1 — không hài lòng.
    KhongHaiLong = 1,
    /// 2 — hài lòng.
    HaiLong = 2,
    /// 3 — rất hài lòng.
    RatHaiLong = 3,
}

impl Level {
    /// Best first, as forms list them.
    pub const ALL: [Level; 3] = [Level::RatHaiLong, Level::HaiLong, Level::KhongHaiLong];

    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(n: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.code() == n)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::RatHaiLong => "rat_hai_long",
            Level::HaiLong => "hai_long",
            Level::KhongHaiLong => "khong_hai_long",
        }
    }

    /// The level from its name (`rat_hai_long`…) or its number (`1`–`3`).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|l| l.as_str() == s || l.code().to_string() == s)
    }

    pub fn name_vi(self) -> &'static str {
        match self {
            Level::RatHaiLong => "Rất hài lòng",
            Level::HaiLong => "Hài lòng",
            Level::KhongHaiLong => "Không hài lòng",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Level::RatHaiLong => "Very satisfied",
            Level::HaiLong => "Satisfied",
            Level::KhongHaiLong => "Not satisfied",
        }
    }
}

/// What the applicant sends.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RatingInput {
    /// `rat_hai_long`, `hai_long` or `khong_hai_long` (or `3`, `2`, `1`).
    pub level: String,
    #[serde(default)]
    pub comment: String,
}

/// A recorded rating.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rating {
    pub dossier_code: String,
    pub agency_code: String,
    /// `rat_hai_long`, `hai_long`, `khong_hai_long`.
    pub level: String,
    /// 3, 2, 1.
    pub level_code: i64,
    pub level_vi: String,
    pub level_en: String,
    pub comment: String,
    /// Microseconds since the epoch.
    pub rated_at: i64,
}

/// The most characters of a rating comment.
pub const MAX_COMMENT: usize = 2000;

/// Whether a dossier in `status` may be rated: it is finished.
pub fn rateable(status: i64) -> bool {
    matches!(
        Status::from_code(status),
        Some(
            Status::Refused | Status::Withdrawn | Status::Stopped | Status::Done | Status::Returned
        )
    )
}

/// The rating of a dossier, if it has one (no access check: callers check).
pub async fn rating(db: &Db, dossier_code: &str) -> Result<Option<Rating>, AppError> {
    let row = sqlx::query(
        "SELECT dossier_code, agency_code, level, comment, rated_at FROM dossier_ratings WHERE dossier_code = $1",
    )
    .bind(dossier_code)
    .fetch_optional(db.pool())
    .await
    .map_err(db_err)?;
    let Some(r) = row else { return Ok(None) };
    let code: i64 = r.try_get(2).map_err(db_err)?;
    let level =
        Level::from_code(code).ok_or_else(|| AppError::internal(format!("bad level {code}")))?;
    Ok(Some(Rating {
        dossier_code: r.try_get(0).map_err(db_err)?,
        agency_code: r.try_get(1).map_err(db_err)?,
        level: level.as_str().into(),
        level_code: code,
        level_vi: level.name_vi().into(),
        level_en: level.name_en().into(),
        comment: r.try_get(3).map_err(db_err)?,
        rated_at: r.try_get(4).map_err(db_err)?,
    }))
}

fn already_rated() -> AppError {
    AppError::conflict(
        "Hồ sơ này đã được đánh giá; mỗi hồ sơ chỉ đánh giá một lần",
        "This dossier has already been rated; a dossier is rated once",
    )
}

/// Rate a finished dossier once, as its applicant (`who` must be [`ActingAs::Applicant`]: the
/// caller has proven it with the lookup code or the owner's session). Bad input gives field
/// errors (`level`, `comment`) and writes nothing; an unfinished dossier or a second rating is
/// a 409. The rating, its audit entry (`dossier.rate`) and the outbox event (`dossier.rated`)
/// are written in one transaction.
pub async fn rate(
    db: &Db,
    ctx: &Ctx,
    d: &Dossier,
    who: ActingAs<'_>,
    input: &RatingInput,
) -> Result<Rating, AppError> {
    let principal = match who {
        ActingAs::Applicant { principal, .. } => principal,
        ActingAs::Staff(_) => {
            return Err(AppError::forbidden().with_detail(
                "Chỉ người nộp hồ sơ mới đánh giá mức độ hài lòng",
                "Only the applicant rates their satisfaction",
            ))
        }
    };
    let mut errs = FieldErrors::new();
    let level = Level::parse(&input.level);
    if level.is_none() {
        errs.push(
            "level",
            Invalid::new(
                "level",
                "Vui lòng chọn mức độ hài lòng: rất hài lòng, hài lòng hoặc không hài lòng",
                "Choose a level: very satisfied, satisfied or not satisfied",
            ),
        );
    }
    let comment = errs
        .check("comment", validate::length(&input.comment, 0, MAX_COMMENT))
        .unwrap_or_default();
    errs.into_result()?;
    let level = level.ok_or_else(|| AppError::internal("level missing after validation"))?;
    if !rateable(d.status) {
        return Err(AppError::new(ErrorCode::Conflict).with_detail(
            "Chỉ đánh giá được khi hồ sơ đã giải quyết xong hoặc đã kết thúc",
            "A dossier can be rated only once it is settled or closed",
        ));
    }
    if rating(db, &d.code).await?.is_some() {
        return Err(already_rated());
    }
    let now = now_micros();
    let entry = ctx.entry(
        "dossier.rate",
        "dossier",
        &d.code,
        &d.agency_code,
        serde_json::json!({"after": {"level": level.as_str(), "comment_chars": comment.chars().count()}}),
    );
    let event = serde_json::json!({"code": d.code, "agency": d.agency_code, "level": level.as_str(), "level_code": level.code()});
    let (code, agency_code) = (d.code.clone(), d.agency_code.clone());
    let rater = principal.map(|p| p.user_id.clone());
    // Group commit. A rating of the same dossier that committed first, or that went before in
    // the same transaction, leaves nothing to insert: a 409 that undoes only this item.
    db.write_grouped_native(move |tx| {
        Box::pin(async move {
            let inserted = tx.execute(
                "INSERT INTO dossier_ratings (dossier_code, agency_code, level, comment, rated_by_user_id, rated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dossier_code) DO NOTHING",
                &[
                    Param::Text(&code),
                    Param::Text(&agency_code),
                    Param::Int(level.code()),
                    Param::Text(&comment),
                    Param::OptText(rater.as_deref()),
                    Param::Int(now),
                ],
            )
            .await?;
            if inserted == 0 {
                return Err(already_rated());
            }
            tx.audit(&entry).await?;
            tx.emit("dossier.rated", &event).await?;
            Ok(())
        })
    })
    .await?;
    rating(db, &d.code)
        .await?
        .ok_or_else(|| AppError::internal("rating vanished"))
}

// ---------------------------------------------------------------- PAKN

/// Processing time of a PAKN, in working days (Decree 20/2008/NĐ-CP; to be confirmed).
pub const PROCESSING_WORKING_DAYS: u32 = 10;

/// Kind of a PAKN.
pub const KINDS: [&str; 2] = ["phan_anh", "kien_nghi"];

pub fn kind_vi(kind: &str) -> &'static str {
    match kind {
        "phan_anh" => "Phản ánh",
        "kien_nghi" => "Kiến nghị",
        _ => "—",
    }
}

pub fn kind_en(kind: &str) -> &'static str {
    match kind {
        "phan_anh" => "Feedback",
        "kien_nghi" => "Complaint or proposal",
        _ => "—",
    }
}

/// Statuses of a PAKN, in life-cycle order.
pub const STATUSES: [&str; 5] = ["received", "processing", "answered", "closed", "rejected"];

pub fn status_vi(status: &str) -> &'static str {
    match status {
        "received" => "Đã tiếp nhận",
        "processing" => "Đang xử lý",
        "answered" => "Đã trả lời",
        "closed" => "Đã kết thúc",
        "rejected" => "Không xử lý (đã nêu lý do)",
        _ => "—",
    }
}

pub fn status_en(status: &str) -> &'static str {
    match status {
        "received" => "Received",
        "processing" => "Being processed",
        "answered" => "Answered",
        "closed" => "Closed",
        "rejected" => "Rejected (reason given)",
        _ => "—",
    }
}

/// What an officer does with a PAKN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackAction {
    /// Bắt đầu xử lý: received → processing.
    Start,
    /// Trả lời: received, processing → answered; the answer is required.
    Answer,
    /// Kết thúc: answered → closed.
    Close,
    /// Từ chối xử lý: received, processing → rejected; the reason is required.
    Reject,
}

impl FeedbackAction {
    pub const ALL: [FeedbackAction; 4] = [
        FeedbackAction::Start,
        FeedbackAction::Answer,
        FeedbackAction::Close,
        FeedbackAction::Reject,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackAction::Start => "start",
            FeedbackAction::Answer => "answer",
            FeedbackAction::Close => "close",
            FeedbackAction::Reject => "reject",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s.trim())
    }

    pub fn name_vi(self) -> &'static str {
        match self {
            FeedbackAction::Start => "Bắt đầu xử lý",
            FeedbackAction::Answer => "Trả lời",
            FeedbackAction::Close => "Kết thúc",
            FeedbackAction::Reject => "Từ chối xử lý",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            FeedbackAction::Start => "Start processing",
            FeedbackAction::Answer => "Answer",
            FeedbackAction::Close => "Close",
            FeedbackAction::Reject => "Reject",
        }
    }

    /// The statuses it applies to.
    pub fn from(self) -> &'static [&'static str] {
        match self {
            FeedbackAction::Start => &["received"],
            FeedbackAction::Answer | FeedbackAction::Reject => &["received", "processing"],
            FeedbackAction::Close => &["answered"],
        }
    }

    pub fn to(self) -> &'static str {
        match self {
            FeedbackAction::Start => "processing",
            FeedbackAction::Answer => "answered",
            FeedbackAction::Close => "closed",
            FeedbackAction::Reject => "rejected",
        }
    }

    /// The actions legal in `status`.
    pub fn allowed_from(status: &str) -> Vec<FeedbackAction> {
        Self::ALL
            .into_iter()
            .filter(|a| a.from().contains(&status))
            .collect()
    }
}

/// A new PAKN as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NewFeedback {
    /// `phan_anh` or `kien_nghi`.
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
    /// The agency addressed (required unless `dossier_code` is given).
    #[serde(default)]
    pub agency_code: String,
    /// The dossier it is about, if any; then `lookup_code` is required.
    #[serde(default)]
    pub dossier_code: String,
    #[serde(default)]
    pub lookup_code: String,
    pub subject: String,
    pub content: String,
}

/// A PAKN.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Feedback {
    pub code: String,
    pub kind: String,
    pub kind_vi: String,
    pub kind_en: String,
    pub status: String,
    pub status_vi: String,
    pub status_en: String,
    pub agency_code: String,
    pub agency_name: String,
    pub dossier_code: Option<String>,
    pub sender_user_id: Option<String>,
    pub sender_name: String,
    pub sender_phone: String,
    pub sender_email: String,
    pub subject: String,
    pub content: String,
    /// The agency's answer (empty until answered).
    pub answer: String,
    /// Why it was rejected (empty otherwise).
    pub reason: String,
    pub handler_name: String,
    pub received_at: i64,
    /// Local date `YYYY-MM-DD`, 10 working days after receipt.
    pub due_date: String,
    pub answered_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// Actions legal now (`start`, `answer`, `close`, `reject`).
    pub allowed_actions: Vec<String>,
}

/// What [`send`] returns: the PAKN and its lookup code, shown to the sender once.
#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    pub feedback: Feedback,
    pub lookup_code: String,
}

const LOOKUP_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// The lookup code of a PAKN (keyed digest of its code: nothing stored, nothing to guess).
pub fn lookup_code(code: &str) -> String {
    let mac = tinhso_identity::keys::mac("feedback-lookup", code.as_bytes());
    mac.iter()
        .take(8)
        .map(|b| LOOKUP_ALPHABET[(*b as usize) % LOOKUP_ALPHABET.len()] as char)
        .collect()
}

fn same_code(typed: &str, expected: &str) -> bool {
    let typed: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_uppercase();
    typed.len() == expected.len()
        && typed
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The field error of [`send`] for a dossier code and look-up code that do not match (the
/// web layer counts it as a wrong look-up code).
pub const DOSSIER_NOT_FOUND: &str = "dossier_not_found";

fn dossier_not_found() -> Invalid {
    Invalid::new(
        DOSSIER_NOT_FOUND,
        "Không tìm thấy hồ sơ với mã hồ sơ và mã tra cứu này",
        "No dossier with this code and lookup code",
    )
}

const COLUMNS: &str = "code, kind, status, agency_code, dossier_code, sender_user_id, sender_name, sender_phone, \
    sender_email, subject, content, answer, reason, handler_name, received_at, due_date, answered_at, closed_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Feedback, AppError> {
    let kind: String = r.try_get(1).map_err(db_err)?;
    let status: String = r.try_get(2).map_err(db_err)?;
    Ok(Feedback {
        code: r.try_get(0).map_err(db_err)?,
        kind_vi: kind_vi(&kind).into(),
        kind_en: kind_en(&kind).into(),
        kind,
        status_vi: status_vi(&status).into(),
        status_en: status_en(&status).into(),
        allowed_actions: FeedbackAction::allowed_from(&status)
            .iter()
            .map(|a| a.as_str().to_string())
            .collect(),
        status,
        agency_code: r.try_get(3).map_err(db_err)?,
        agency_name: String::new(),
        dossier_code: r.try_get(4).map_err(db_err)?,
        sender_user_id: r.try_get(5).map_err(db_err)?,
        sender_name: r.try_get(6).map_err(db_err)?,
        sender_phone: r.try_get(7).map_err(db_err)?,
        sender_email: r.try_get(8).map_err(db_err)?,
        subject: r.try_get(9).map_err(db_err)?,
        content: r.try_get(10).map_err(db_err)?,
        answer: r.try_get(11).map_err(db_err)?,
        reason: r.try_get(12).map_err(db_err)?,
        handler_name: r.try_get(13).map_err(db_err)?,
        received_at: r.try_get(14).map_err(db_err)?,
        due_date: r.try_get(15).map_err(db_err)?,
        answered_at: r.try_get(16).map_err(db_err)?,
        closed_at: r.try_get(17).map_err(db_err)?,
    })
}

/// A PAKN by code (no access check: callers check).
pub async fn get(db: &Db, code: &str) -> Result<Option<Feedback>, AppError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM feedback WHERE code = $1"))
        .bind(code.trim().to_uppercase())
        .fetch_optional(db.pool())
        .await
        .map_err(db_err)?;
    let Some(r) = row else { return Ok(None) };
    let mut f = from_row(&r)?;
    if let Some(a) = agencies::get(db, &f.agency_code).await? {
        f.agency_name = a.name;
    }
    Ok(Some(f))
}

/// A PAKN for its sender, proven by the lookup code. A wrong lookup code gives exactly the same
/// answer as an unknown code.
pub async fn track(db: &Db, code: &str, lookup: &str) -> Result<Feedback, AppError> {
    let code = code.trim().to_uppercase();
    if !same_code(lookup, &lookup_code(&code)) {
        return Err(AppError::not_found());
    }
    get(db, &code).await?.ok_or_else(AppError::not_found)
}

/// Where a PAKN sits, for authorization: the scope of the dossiers of its agency
/// ([`dossier::agency_scope`]).
pub async fn scope_of(db: &Db, f: &Feedback) -> Result<ResourceScope, AppError> {
    match agencies::get(db, &f.agency_code).await? {
        Some(a) => dossier::agency_scope(db, &a).await,
        None => Ok(ResourceScope::province()),
    }
}

fn today_of(micros: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_micros(micros + 7 * 3600 * 1_000_000)
        .map(|d| d.date_naive())
        .unwrap_or_else(dossier::today_local)
}

/// Send a PAKN. Everything is validated first and every problem reported at once (`kind`,
/// `name`, `phone`, `email`, `agency_code`, `dossier_code`, `subject`, `content`); nothing is
/// written on any error. A PAKN about a dossier goes to the dossier's agency.
pub async fn send(
    db: &Db,
    ctx: &Ctx,
    by: Option<&Principal>,
    input: &NewFeedback,
) -> Result<Sent, AppError> {
    let mut errs = FieldErrors::new();
    let kind = input.kind.trim();
    if !KINDS.contains(&kind) {
        errs.push(
            "kind",
            Invalid::new(
                "kind",
                "Vui lòng chọn loại: phản ánh hoặc kiến nghị",
                "Choose the kind: feedback or complaint",
            ),
        );
    }
    let name = errs
        .check("name", validate::length(&text::clean(&input.name), 2, 200))
        .unwrap_or_default();
    let phone = if input.phone.trim().is_empty() {
        String::new()
    } else {
        errs.check("phone", validate::phone(&input.phone))
            .unwrap_or_default()
    };
    let email = if input.email.trim().is_empty() {
        String::new()
    } else {
        errs.check("email", validate::email(&input.email))
            .unwrap_or_default()
    };
    if input.phone.trim().is_empty() && input.email.trim().is_empty() {
        errs.push(
            "phone",
            Invalid::new(
                "contact_required",
                "Vui lòng cho biết số điện thoại hoặc thư điện tử để cơ quan trả lời",
                "Give a phone number or an e-mail address for the answer",
            ),
        );
    }
    let subject = errs
        .check(
            "subject",
            validate::length(&text::clean(&input.subject), 5, 200),
        )
        .unwrap_or_default();
    let content = errs
        .check("content", validate::length(&input.content, 10, 5000))
        .unwrap_or_default();
    // The dossier (proven by its lookup code) or the agency addressed.
    let mut agency: Option<agencies::Agency> = None;
    let mut dossier_code: Option<String> = None;
    if !input.dossier_code.trim().is_empty() {
        if input.lookup_code.trim().is_empty() {
            errs.push(
                "lookup_code",
                Invalid::new(
                    "required",
                    "Vui lòng nhập mã tra cứu in trên giấy tiếp nhận hồ sơ",
                    "Enter the lookup code printed on the dossier's receipt",
                ),
            );
        } else {
            match dossier::track(db, &input.dossier_code, &input.lookup_code).await {
                Ok(d) => {
                    agency = agencies::get(db, &d.agency_code).await?;
                    dossier_code = Some(d.code);
                }
                Err(e) if e.code == ErrorCode::NotFound => {
                    errs.push("dossier_code", dossier_not_found())
                }
                Err(e) => return Err(e),
            }
        }
    } else if input.agency_code.trim().is_empty() {
        errs.push(
            "agency_code",
            Invalid::new(
                "required",
                "Vui lòng chọn cơ quan nhận phản ánh, kiến nghị (hoặc nhập mã hồ sơ liên quan)",
                "Choose the agency to address (or give the dossier it is about)",
            ),
        );
    } else {
        agency = agencies::get(db, input.agency_code.trim()).await?;
        if agency.is_none() {
            errs.push(
                "agency_code",
                Invalid::new(
                    "agency_unknown",
                    "Không có cơ quan này trên hệ thống",
                    "No such agency on the platform",
                ),
            );
        }
    }
    errs.into_result()?;
    let agency = agency.ok_or_else(|| AppError::internal("agency missing after validation"))?;
    let now = now_micros();
    let calendar = tinhso_refdata::calendar::working_calendar(db).await?;
    let due = calendar
        .add_working_days(today_of(now), PROCESSING_WORKING_DAYS)
        .format("%Y-%m-%d")
        .to_string();
    let day = today_of(now).format("%y%m%d").to_string();
    let kind = kind.to_string();
    let agency_code = agency.code.clone();
    let sender = by.filter(|p| !p.is_staff()).map(|p| p.user_id.clone());
    let ctx = ctx.clone();
    // Group commit: the number (from the day's counter) is taken in this item's savepoint,
    // so an item undone gives its number back.
    let code = db
        .write_grouped_native(move |tx| {
            Box::pin(async move {
                let n = tx
                    .row(
                        "INSERT INTO feedback_counters (day, n) VALUES ($1, 1) \
                         ON CONFLICT (day) DO UPDATE SET n = feedback_counters.n + 1 RETURNING n",
                        &[Param::Text(&day)],
                        |r| r.int(0),
                    )
                    .await?
                    .ok_or_else(|| DbError::Invalid("feedback counter: no number returned".into()))?;
                let code = format!("PAKN-{day}-{n:04}");
                tx.execute(
                    "INSERT INTO feedback (code, kind, status, agency_code, dossier_code, sender_user_id, sender_name, \
                     sender_phone, sender_email, subject, content, answer, reason, handler_user_id, handler_name, \
                     received_at, due_date, answered_at, closed_at, updated_at) \
                     VALUES ($1, $2, 'received', $3, $4, $5, $6, $7, $8, $9, $10, '', '', NULL, '', $11, $12, NULL, NULL, $11)",
                    &[
                        Param::Text(&code),
                        Param::Text(&kind),
                        Param::Text(&agency_code),
                        Param::OptText(dossier_code.as_deref()),
                        Param::OptText(sender.as_deref()),
                        Param::Text(&name),
                        Param::Text(&phone),
                        Param::Text(&email),
                        Param::Text(&subject),
                        Param::Text(&content),
                        Param::Int(now),
                        Param::Text(&due),
                    ],
                )
                .await?;
                tx.audit(&ctx.entry(
                    "feedback.send",
                    "feedback",
                    &code,
                    &agency_code,
                    serde_json::json!({"after": {"status": "received", "kind": kind, "dossier": dossier_code, "due_date": due}}),
                ))
                .await?;
                tx.emit(
                    "feedback.received",
                    &serde_json::json!({"code": code, "kind": kind, "agency": agency_code, "dossier": dossier_code, "due_date": due}),
                )
                .await?;
                Ok::<_, AppError>(code)
            })
        })
        .await?;
    let feedback = get(db, &code).await?.ok_or_else(AppError::not_found)?;
    Ok(Sent {
        lookup_code: lookup_code(&code),
        feedback,
    })
}

/// An officer's action on a PAKN.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ActionInput {
    /// `start`, `answer`, `close` or `reject`.
    pub action: String,
    /// The answer (`answer`, at least 10 characters) or the reason (`reject`, at least 5).
    #[serde(default)]
    pub text: String,
}

/// Apply an officer's action: the officer needs the dossier-processing right on the PAKN's
/// agency ([`scope_of`]); an illegal action is a 409 naming the legal ones; the answer or the
/// reason is checked; then the change, its audit entry (`feedback.<action>`) and its outbox
/// event (`feedback.status_changed`) are written in one transaction, on the status as loaded.
pub async fn act(
    db: &Db,
    ctx: &Ctx,
    code: &str,
    p: &Principal,
    input: &ActionInput,
) -> Result<Feedback, AppError> {
    let f = get(db, code).await?.ok_or_else(AppError::not_found)?;
    authorize(
        Some(p),
        Permission::DossierProcess,
        &scope_of(db, &f).await?,
    )?;
    let action = FeedbackAction::parse(&input.action).ok_or_else(|| {
        AppError::field(
            "action",
            Invalid::new(
                "action_unknown",
                format!("Không có thao tác \"{}\"", input.action),
                format!("Unknown action \"{}\"", input.action),
            ),
        )
    })?;
    if !action.from().contains(&f.status.as_str()) {
        let allowed: Vec<&str> = FeedbackAction::allowed_from(&f.status)
            .iter()
            .map(|a| a.as_str())
            .collect();
        let list = if allowed.is_empty() {
            None
        } else {
            Some(allowed.join(", "))
        };
        return Err(AppError::new(ErrorCode::Conflict).with_detail(
            format!(
                "Không thể \"{}\" khi phản ánh, kiến nghị đang ở trạng thái \"{}\". Thao tác hợp lệ: {}",
                action.name_vi(),
                status_vi(&f.status),
                list.clone().unwrap_or_else(|| "không có (đã kết thúc)".into())
            ),
            format!(
                "Cannot {} a PAKN that is \"{}\". Allowed: {}",
                action.as_str(),
                status_en(&f.status),
                list.unwrap_or_else(|| "none (it is closed)".into())
            ),
        ));
    }
    let typed = input.text.trim();
    let (answer, reason) = match action {
        FeedbackAction::Answer => {
            let a = validate::length(typed, 10, 10_000).map_err(|e| AppError::field("text", e))?;
            (a, f.reason.clone())
        }
        FeedbackAction::Reject => {
            let r = validate::length(typed, 5, 2000).map_err(|e| AppError::field("text", e))?;
            (f.answer.clone(), r)
        }
        _ => (f.answer.clone(), f.reason.clone()),
    };
    let now = now_micros();
    let to = action.to();
    let answered_at = if action == FeedbackAction::Answer {
        Some(now)
    } else {
        f.answered_at
    };
    let closed_at = if matches!(action, FeedbackAction::Close | FeedbackAction::Reject) {
        Some(now)
    } else {
        f.closed_at
    };
    let entry = ctx.entry(
        &format!("feedback.{}", action.as_str()),
        "feedback",
        &f.code,
        &f.agency_code,
        serde_json::json!({"before": {"status": f.status}, "after": {"status": to},
            "text_chars": typed.chars().count()}),
    );
    let event = serde_json::json!({"code": f.code, "agency": f.agency_code, "dossier": f.dossier_code,
        "from": f.status, "to": to, "action": action.as_str()});
    let (fcode, from, handler, handler_name) = (
        f.code.clone(),
        f.status.clone(),
        p.user_id.clone(),
        p.display_name.clone(),
    );
    // Group commit, on the status as loaded: a change made meanwhile undoes only this item.
    db.write_grouped_native(move |tx| {
        Box::pin(async move {
            let n = tx.execute(
                "UPDATE feedback SET status = $1, answer = $2, reason = $3, handler_user_id = $4, handler_name = $5, \
                 answered_at = $6, closed_at = $7, updated_at = $8 WHERE code = $9 AND status = $10",
                &[
                    Param::Text(to),
                    Param::Text(&answer),
                    Param::Text(&reason),
                    Param::Text(&handler),
                    Param::Text(&handler_name),
                    Param::OptInt(answered_at),
                    Param::OptInt(closed_at),
                    Param::Int(now),
                    Param::Text(&fcode),
                    Param::Text(&from),
                ],
            )
            .await?;
            dossier::updated_as_loaded(n, ("Phản ánh, kiến nghị", "PAKN"))?;
            tx.audit(&entry).await?;
            tx.emit("feedback.status_changed", &event).await?;
            Ok::<(), AppError>(())
        })
    })
    .await?;
    get(db, &f.code).await?.ok_or_else(AppError::not_found)
}

/// Filter for [`list`].
#[derive(Debug, Clone, Default)]
pub struct FeedbackFilter {
    /// Only these agencies (the caller's scope); `None` = all.
    pub agency_codes: Option<Vec<String>>,
    pub status: Option<String>,
    pub dossier_code: Option<String>,
    pub limit: Option<i64>,
}

/// PAKN, newest first (no access check: callers pass their scope).
pub async fn list(db: &Db, f: &FeedbackFilter) -> Result<Vec<Feedback>, AppError> {
    let mut sql = format!("SELECT {COLUMNS} FROM feedback WHERE 1=1");
    let mut binds: Vec<String> = Vec::new();
    if let Some(codes) = &f.agency_codes {
        if codes.is_empty() {
            return Ok(Vec::new());
        }
        let mut marks = Vec::new();
        for c in codes {
            binds.push(c.clone());
            marks.push(format!("${}", binds.len()));
        }
        sql.push_str(&format!(" AND agency_code IN ({})", marks.join(",")));
    }
    if let Some(s) = f.status.as_deref().filter(|s| !s.is_empty()) {
        binds.push(s.to_string());
        sql.push_str(&format!(" AND status = ${}", binds.len()));
    }
    if let Some(d) = f.dossier_code.as_deref().filter(|s| !s.is_empty()) {
        binds.push(d.trim().to_uppercase());
        sql.push_str(&format!(" AND dossier_code = ${}", binds.len()));
    }
    sql.push_str(&format!(
        " ORDER BY received_at DESC, code DESC LIMIT ${}",
        binds.len() + 1
    ));
    let mut q = sqlx::query(&sql);
    for b in &binds {
        q = q.bind(b);
    }
    let rows = q
        .bind(f.limit.unwrap_or(200).clamp(1, 1000))
        .fetch_all(db.pool())
        .await
        .map_err(db_err)?;
    let names: std::collections::HashMap<String, String> = agencies::list(
        db,
        &agencies::AgencyFilter {
            limit: Some(2000),
            ..Default::default()
        },
    )
    .await?
    .into_iter()
    .map(|a| (a.code, a.name))
    .collect();
    rows.iter()
        .map(|r| {
            let mut f = from_row(r)?;
            f.agency_name = names.get(&f.agency_code).cloned().unwrap_or_default();
            Ok(f)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_by_name_and_number() {
        assert_eq!(Level::parse("rat_hai_long"), Some(Level::RatHaiLong));
        assert_eq!(Level::parse("1"), Some(Level::KhongHaiLong));
        assert_eq!(Level::parse("4"), None);
        assert_eq!(Level::parse(""), None);
    }

    #[test]
    fn finished_dossiers_are_rateable() {
        let yes: Vec<i64> = (1..=10).filter(|s| rateable(*s)).collect();
        assert_eq!(yes, [3, 7, 8, 9, 10]);
    }

    #[test]
    fn feedback_actions_follow_the_life_cycle() {
        let names = |s: &str| -> Vec<&str> {
            FeedbackAction::allowed_from(s)
                .iter()
                .map(|a| a.as_str())
                .collect()
        };
        assert_eq!(names("received"), ["start", "answer", "reject"]);
        assert_eq!(names("processing"), ["answer", "reject"]);
        assert_eq!(names("answered"), ["close"]);
        assert!(names("closed").is_empty() && names("rejected").is_empty());
    }
}
