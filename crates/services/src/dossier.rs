//! Dossiers (hồ sơ) and the one-stop workflow (quy trình một cửa).
//!
//! A dossier is submitted online (status 1) or entered at the counter (status 2), accepted by
//! the one-stop desk, processed step by step along the procedure's workflow, approved, and its
//! result returned. Every transition is checked against [`crate::status`], recorded in
//! `dossier_events` with the actor and reason and — for staff — signed with the actor's key,
//! written to the audit trail and announced on the outbox, all in one transaction.
//!
//! Dossier code: `<agency code>-<yymmdd>-<nnnn>`, e.g. `000.00.23.H37-261129-0007`: the
//! receiving agency's identifier, the local submission date and a per-agency daily counter
//! allocated under a row lock, so it is unique across nodes sharing the database and sorts by
//! agency and date. The lookup code (mã tra cứu) is 8 characters derived from the dossier code
//! with a keyed digest under the platform's master key: nothing to store, nothing to guess.

use crate::catalogue::{self, Procedure, TimeUnit};
use crate::status::{Action, Actor, Status};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::BTreeMap;
use std::time::Instant;
use tinhso_identity::{authorize, Permission, Principal, ResourceScope};
use tinhso_kernel::{text, validate, AppError, ErrorCode, FieldErrors, Invalid};
use tinhso_refdata::agencies;
use tinhso_store::audit::Ctx;
use tinhso_store::files::{FileRef, FileStore, MediaType};
use tinhso_store::native::{Param, RowRead};
use tinhso_store::{now_micros, Db, DbError, Exec, Journal};

/// Channel (kênh thực hiện), with the national portal's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// 1 — trực tiếp (at the counter).
    InPerson = 1,
    /// 2 — trực tuyến.
    Online = 2,
    /// 3 — dịch vụ bưu chính công ích.
    Post = 3,
}

impl Channel {
    pub fn code(self) -> i64 {
        self as i64
    }
}

/// The applicant (người nộp hồ sơ), with the national portal's applicant kind.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Applicant {
    /// 0 citizen, 1 enterprise, 2 household business.
    pub kind: i64,
    pub name: String,
    /// CCCD, or MST for enterprises and household businesses.
    pub id_number: String,
    pub phone: String,
    #[serde(default)]
    pub email: String,
}

/// What an applicant (or an officer at the counter) submits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submission {
    pub procedure_code: String,
    /// The commune whose People's Committee handles a commune-level procedure.
    #[serde(default)]
    pub commune_code: Option<String>,
    pub applicant: Applicant,
    /// E-form values as typed.
    #[serde(default)]
    pub form: BTreeMap<String, String>,
    pub channel: Channel,
    /// A retried submission with the same key returns the first dossier.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// A recorded transition.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub seq: i64,
    pub at: i64,
    pub action: String,
    pub from_status: i64,
    pub to_status: i64,
    pub step: String,
    pub actor_name: String,
    pub reason: String,
    pub signed: bool,
    pub signed_payload: String,
    pub signature: Option<String>,
    pub public_key: Option<String>,
}

/// A dossier as shown to officers (the public tracking view is built from it in `web`).
#[derive(Debug, Clone, Serialize)]
pub struct Dossier {
    pub code: String,
    pub procedure_code: String,
    pub procedure_version: i64,
    pub procedure_name: String,
    pub agency_code: String,
    pub agency_name: String,
    pub commune_code: Option<String>,
    pub applicant_user_id: Option<String>,
    pub applicant: Applicant,
    pub channel: i64,
    pub status: i64,
    pub status_vi: String,
    pub status_en: String,
    pub step: String,
    pub step_name: String,
    pub holder_user_id: Option<String>,
    pub form: serde_json::Value,
    pub submitted_at: i64,
    pub accepted_at: Option<i64>,
    pub due_date: Option<String>,
    pub finished_at: Option<i64>,
    pub returned_at: Option<i64>,
    pub paused_working_days: i64,
    pub supplement_count: i64,
    pub fee_vnd: i64,
    pub paid_vnd: i64,
    /// Actions legal now.
    pub allowed_actions: Vec<String>,
    pub events: Vec<Event>,
    /// Bytes and number of the attached files (kept on the row; the upload limits' input).
    #[serde(skip)]
    pub files_bytes: i64,
    #[serde(skip)]
    pub files_count: i64,
}

/// What [`submit`] returns: form 01's content. The lookup code is shown to the applicant.
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    pub dossier: Dossier,
    pub lookup_code: String,
    /// True when an earlier submission with the same idempotency key was returned.
    pub replayed: bool,
    /// The files attached to the dossier (with a submission that carried files, or a replay).
    pub files: Vec<Attachment>,
}

const LOOKUP_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// The lookup code of a dossier.
pub fn lookup_code(dossier_code: &str) -> String {
    let mac = tinhso_identity::keys::mac("dossier-lookup", dossier_code.as_bytes());
    mac.iter()
        .take(8)
        .map(|b| LOOKUP_ALPHABET[(*b as usize) % LOOKUP_ALPHABET.len()] as char)
        .collect()
}

/// Today's date in Vietnam (UTC+7).
pub fn today_local() -> NaiveDate {
    (Utc::now() + chrono::Duration::hours(7)).date_naive()
}

fn local_date_of(micros: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_micros(micros + 7 * 3600 * 1_000_000)
        .map(|d| d.date_naive())
        .unwrap_or_else(today_local)
}

/// The promised return date for a limit starting at `start` (local), on `calendar`.
pub fn due_date(
    calendar: &tinhso_kernel::calendar::WorkingCalendar,
    start_micros: i64,
    limit: catalogue::TimeLimit,
) -> NaiveDate {
    match limit.unit {
        TimeUnit::WorkingDays => {
            calendar.add_working_days(local_date_of(start_micros), limit.value)
        }
        TimeUnit::WorkingHours => {
            let local =
                chrono::DateTime::from_timestamp_micros(start_micros + 7 * 3600 * 1_000_000)
                    .map(|d| d.naive_utc())
                    .unwrap_or_default();
            calendar.add_working_hours(local, limit.value).date()
        }
    }
}

/// Resolve the agency that handles a procedure for a commune.
async fn handling_agency(
    db: &Db,
    p: &Procedure,
    commune_code: Option<&str>,
) -> Result<agencies::Agency, AppError> {
    if p.agency.kind.as_deref() == Some("ubnd_xa") {
        let commune = commune_code.ok_or_else(|| {
            AppError::field(
                "commune_code",
                Invalid::new(
                    "required",
                    "Vui lòng chọn xã, phường nơi nộp hồ sơ",
                    "Choose the commune or ward where you file the dossier",
                ),
            )
        })?;
        return agencies::for_admin_unit(db, "ubnd_xa", commune)
            .await?
            .ok_or_else(|| {
                AppError::field(
                    "commune_code",
                    Invalid::new(
                        "commune_unknown",
                        "Xã, phường đã chọn không thuộc tỉnh hoặc chưa có trên hệ thống",
                        "The chosen commune is not in the province or not on the platform",
                    ),
                )
            });
    }
    let name = p.agency.name.as_deref().unwrap_or_default();
    agencies::by_name(db, name).await?.ok_or_else(|| {
        AppError::internal(format!(
            "procedure {} names unknown agency {name:?}",
            p.code
        ))
    })
}

fn validate_applicant(a: &Applicant, errs: &mut FieldErrors) -> Applicant {
    let name = errs
        .check("applicant.name", validate::length(&a.name, 2, 200))
        .unwrap_or_default();
    let id_number = match a.kind {
        0 => errs.check(
            "applicant.id_number",
            validate::cccd(&a.id_number).map(|c| c.number),
        ),
        1 | 2 => errs.check(
            "applicant.id_number",
            validate::mst(&a.id_number).map(|m| m.canonical),
        ),
        _ => {
            errs.push(
                "applicant.kind",
                Invalid::new(
                    "applicant_kind",
                    "Loại người nộp: 0 công dân, 1 doanh nghiệp, 2 hộ kinh doanh",
                    "Applicant kind: 0 citizen, 1 enterprise, 2 household business",
                ),
            );
            None
        }
    }
    .unwrap_or_default();
    let phone = errs
        .check("applicant.phone", validate::phone(&a.phone))
        .unwrap_or_default();
    let email = if a.email.trim().is_empty() {
        String::new()
    } else {
        errs.check("applicant.email", validate::email(&a.email))
            .unwrap_or_default()
    };
    Applicant {
        kind: a.kind,
        name,
        id_number,
        phone,
        email,
    }
}

/// The earlier dossier submitted with idempotency key `key`, if any: replayed when `s` is the
/// same request, an idempotency conflict when it is a different one.
async fn replay(db: &Db, key: &str, s: &Submission) -> Result<Option<Receipt>, AppError> {
    // Every keyed submission asks this first: a short indexed read, natively on a SQLite file.
    let row = db
        .read_rows(
            "SELECT code, request_hash FROM dossiers WHERE idempotency_key = $1",
            &[Param::Text(key)],
            |r| Ok((r.text(0)?, r.text(1)?)),
        )
        .await?
        .into_iter()
        .next();
    let Some((code, hash)) = row else {
        return Ok(None);
    };
    if hash != request_hash(s) {
        return Err(AppError::new(ErrorCode::IdempotencyConflict));
    }
    let dossier = get(db, &code).await?.ok_or_else(AppError::not_found)?;
    let files = if dossier.files_count > 0 {
        files(db, &code).await?
    } else {
        Vec::new()
    };
    Ok(Some(Receipt {
        lookup_code: lookup_code(&code),
        dossier,
        replayed: true,
        files,
    }))
}

fn request_hash(s: &Submission) -> String {
    hex::encode(Sha256::digest(serde_json::to_vec(s).unwrap_or_default()))
}

async fn next_code(
    tx: &mut impl Exec,
    agency_code: &str,
    day: NaiveDate,
) -> Result<String, AppError> {
    let d = day.format("%y%m%d").to_string();
    let n = tx
        .row(
            "INSERT INTO dossier_counters (agency_code, day, n) VALUES ($1, $2, 1) \
             ON CONFLICT (agency_code, day) DO UPDATE SET n = dossier_counters.n + 1 RETURNING n",
            &[Param::Text(agency_code), Param::Text(&d)],
            |r| r.int(0),
        )
        .await?
        .ok_or_else(|| DbError::Invalid("dossier counter: no number returned".into()))?;
    Ok(format!("{agency_code}-{d}-{n:04}"))
}

/// Submit a dossier. Validates everything first (applicant, commune, e-form) and reports
/// every problem at once; writes nothing on any error. Online submissions start at status 1;
/// counter entries (an officer entering a paper dossier) are accepted at once (status 2).
pub async fn submit(
    db: &Db,
    ctx: &Ctx,
    by: Option<&Principal>,
    s: &Submission,
) -> Result<Receipt, AppError> {
    submit_in(db, ctx, by, s, None, Vec::new()).await
}

/// What [`submit_with_files`] has already read and checked, so that [`submit_in`] does not
/// do it again: the idempotency key (no earlier dossier), the procedure's current version and
/// the submission's validated parts.
struct Prechecked {
    gens: crate::read_cache::Generations,
    current: catalogue::SharedVersion,
    valid: ValidSubmission,
}

/// A submission's parts as validated ([`check_submission`]): the applicant and the e-form
/// normalised, and the handling agency (`None` when the commune was wrong).
struct ValidSubmission {
    applicant: Applicant,
    form: serde_json::Map<String, serde_json::Value>,
    agency: Option<agencies::Agency>,
}

/// The earlier dossier of `s`'s idempotency key, if any (see [`replay`]); a key over 100
/// characters is a field error.
async fn replay_of(db: &Db, s: &Submission) -> Result<Option<Receipt>, AppError> {
    let Some(key) = s.idempotency_key.as_deref().filter(|k| !k.is_empty()) else {
        return Ok(None);
    };
    if key.len() > 100 {
        return Err(AppError::field(
            "idempotency_key",
            Invalid::new(
                "too_long",
                "Khóa chống trùng tối đa 100 ký tự",
                "The idempotency key has at most 100 characters",
            ),
        ));
    }
    replay(db, key, s).await
}

/// [`submit`], with what the caller has already read and checked (`None`: read it here, the
/// idempotency key included) and the files to record with the dossier, in the same
/// group-commit item (checked and written to the file store by the caller).
async fn submit_in(
    db: &Db,
    ctx: &Ctx,
    by: Option<&Principal>,
    s: &Submission,
    pre: Option<Prechecked>,
    files: Vec<NewFile>,
) -> Result<Receipt, AppError> {
    if pre.is_none() {
        if let Some(r) = replay_of(db, s).await? {
            return Ok(r);
        }
    }
    let (gens, current, valid) = match pre {
        Some(Prechecked {
            gens,
            current,
            valid,
        }) => (gens, current, Some(valid)),
        None => {
            let gens = crate::read_cache::generations(db).await?;
            let current = catalogue::current_cached(db, gens, &s.procedure_code)
                .await?
                .filter(|v| v.active)
                .ok_or_else(|| {
                    AppError::field(
                        "procedure_code",
                        Invalid::new(
                            "procedure_unknown",
                            "Không có thủ tục này hoặc thủ tục đã ngừng áp dụng",
                            "No such procedure, or it is no longer offered",
                        ),
                    )
                })?;
            (gens, current, None)
        }
    };
    let p = &*current.procedure;
    let mut errs = FieldErrors::new();
    let ValidSubmission {
        applicant,
        form,
        agency,
    } = match valid {
        Some(v) => v,
        None => check_submission(db, p, s, &mut errs).await?,
    };
    let officer_entry = s.channel != Channel::Online;
    if officer_entry && by.is_none_or(|b| !b.is_staff()) {
        return Err(AppError::forbidden().with_detail(
            "Chỉ cán bộ một cửa mới nhập hồ sơ nộp trực tiếp hoặc qua bưu chính",
            "Only one-stop officers enter dossiers filed in person or by post",
        ));
    }
    errs.into_result()?;
    let agency = agency.ok_or_else(|| AppError::internal("agency missing after validation"))?;
    if officer_entry {
        let scope = agency_scope(db, &agency).await?;
        authorize(by, Permission::DossierProcess, &scope)?;
    }
    let now = now_micros();
    let calendar = crate::read_cache::working_calendar(db, gens).await?;
    let first_step = p
        .workflow
        .first()
        .map(|w| w.step.clone())
        .unwrap_or_default();
    let (status, accepted_at, due) = if officer_entry {
        (
            Status::Accepted,
            Some(now),
            Some(due_date(&calendar, now, p.time_limit)),
        )
    } else {
        (
            Status::Submitted,
            None,
            Some(due_date(&calendar, now, p.time_limit)),
        )
    };
    let fee = if officer_entry || p.fee_timing == "on_submit" {
        p.total_fee()
    } else {
        0
    };
    let commune_code = s
        .commune_code
        .as_deref()
        .or(agency.admin_unit_code.as_deref())
        // The commune of a commune People's Committee's dossier; none for provincial agencies.
        .filter(|c| c.len() == 5)
        .map(str::to_string);
    let applicant_user_id = by.filter(|b| !b.is_staff()).map(|b| b.user_id.clone());
    let holder_user_id = if officer_entry {
        by.map(|b| b.user_id.clone())
    } else {
        None
    };
    let actor_name = by
        .map(|b| b.display_name.clone())
        .unwrap_or_else(|| applicant.name.clone());
    let action = if officer_entry {
        "receive_at_counter"
    } else {
        "submit"
    };
    let form = serde_json::Value::Object(form);
    let due_date = due.map(|d| d.format("%Y-%m-%d").to_string());
    let files_bytes: i64 = files.iter().map(|f| f.file.size).sum();
    let files_count = files.len() as i64;
    let new = NewDossier {
        db: db.clone(),
        ctx: ctx.clone(),
        signer: by.filter(|b| b.is_staff()).cloned(),
        agency_code: agency.code.clone(),
        day: local_date_of(now),
        procedure_code: p.code.clone(),
        procedure_version: current.version,
        commune_code: commune_code.clone(),
        applicant_user_id: applicant_user_id.clone(),
        applicant: applicant.clone(),
        channel: s.channel.code(),
        status: status.code(),
        step: first_step.clone(),
        holder_user_id: holder_user_id.clone(),
        form: form.to_string(),
        submitted_at: now,
        accepted_at,
        due_date: due_date.clone(),
        fee,
        idempotency_key: s.idempotency_key.clone().filter(|k| !k.is_empty()),
        request_hash: request_hash(s),
        actor_name,
        action,
        files,
        files_bytes,
        files_count,
    };
    // Group commit: this submission (with its files) shares its transaction with those that
    // arrive meanwhile.
    // The item notes when it ran, for the submission's time per step (`crate::timing`).
    crate::timing::mark(crate::timing::Mark::Queued);
    let written = db
        .write_grouped_native(move |tx| {
            Box::pin(async move {
                let start = Instant::now();
                let w = write_submission(tx, &new).await?;
                Ok((w, start, Instant::now()))
            })
        })
        .await;
    crate::timing::mark(crate::timing::Mark::Answered);
    let (code, event, mut attached) = match written {
        Ok((w, start, end)) => {
            crate::timing::item_ran(start, end);
            w
        }
        Err(SubmitFail::Error(e)) => return Err(e),
        Err(SubmitFail::DuplicateKey) => {
            // A request with the same idempotency key committed first (a retry racing the
            // original, possibly in the same transaction): answer as if this one came second.
            let key = s.idempotency_key.as_deref().unwrap_or_default();
            return match replay(db, key, s).await? {
                Some(r) => Ok(r),
                None => Err(AppError::new(ErrorCode::IdempotencyConflict)),
            };
        }
    };
    // The receipt from what was written (the same as `get` reads back; tested).
    let dossier = Dossier {
        code: code.clone(),
        procedure_code: p.code.clone(),
        procedure_version: current.version,
        procedure_name: p.name.clone(),
        agency_code: agency.code.clone(),
        agency_name: agency.name.clone(),
        commune_code,
        applicant_user_id,
        applicant,
        channel: s.channel.code(),
        status: status.code(),
        status_vi: status.name_vi().into(),
        status_en: status.name_en().into(),
        step: first_step,
        step_name: p
            .workflow
            .first()
            .map(|w| w.name.clone())
            .unwrap_or_default(),
        holder_user_id,
        form,
        submitted_at: now,
        accepted_at,
        due_date,
        finished_at: None,
        returned_at: None,
        paused_working_days: 0,
        supplement_count: 0,
        fee_vnd: fee,
        paid_vnd: 0,
        allowed_actions: Action::allowed_from(status)
            .iter()
            .map(|a| a.as_str().to_string())
            .collect(),
        events: vec![event],
        files_bytes,
        files_count,
    };
    name_components(p, &mut attached);
    Ok(Receipt {
        lookup_code: lookup_code(&code),
        dossier,
        replayed: false,
        files: attached,
    })
}

/// A validated submission, as the group writer records it ([`write_submission`]).
struct NewDossier {
    /// For an officer's signature on the event.
    db: Db,
    ctx: Ctx,
    signer: Option<Principal>,
    agency_code: String,
    day: NaiveDate,
    procedure_code: String,
    procedure_version: i64,
    commune_code: Option<String>,
    applicant_user_id: Option<String>,
    applicant: Applicant,
    channel: i64,
    status: i64,
    step: String,
    holder_user_id: Option<String>,
    form: String,
    submitted_at: i64,
    accepted_at: Option<i64>,
    due_date: Option<String>,
    fee: i64,
    idempotency_key: Option<String>,
    request_hash: String,
    actor_name: String,
    action: &'static str,
    /// Files recorded with the dossier (already in the file store), and their totals.
    files: Vec<NewFile>,
    files_bytes: i64,
    files_count: i64,
}

/// Why a submission's write was undone.
enum SubmitFail {
    Error(AppError),
    /// Its idempotency key is already taken (by a committed dossier or one earlier in the same
    /// transaction): nothing of it is kept, not even its number.
    DuplicateKey,
}

impl From<AppError> for SubmitFail {
    fn from(e: AppError) -> Self {
        SubmitFail::Error(e)
    }
}

impl From<DbError> for SubmitFail {
    fn from(e: DbError) -> Self {
        SubmitFail::Error(e.into())
    }
}

/// Write a validated submission: its number, the dossier with its files' totals, its first
/// event, its files (each audited as `dossier.attach`), the audit entry and the outbox event (in
/// the caller's transaction or savepoint). Returns the code, the event and the files recorded.
async fn write_submission(
    tx: &mut impl Journal,
    n: &NewDossier,
) -> Result<(String, Event, Vec<Attachment>), SubmitFail> {
    let code = next_code(tx, &n.agency_code, n.day).await?;
    let inserted = tx.execute(
        "INSERT INTO dossiers (code, procedure_code, procedure_version, agency_code, commune_code, \
         applicant_user_id, applicant_kind, applicant_name, applicant_id_number, applicant_phone, applicant_email, \
         channel, status, step, holder_user_id, form_data, submitted_at, accepted_at, due_date, fee_vnd, \
         idempotency_key, request_hash, updated_at, files_bytes, files_count) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$17,$23,$24) \
         ON CONFLICT (idempotency_key) DO NOTHING",
        &[
            Param::Text(&code),
            Param::Text(&n.procedure_code),
            Param::Int(n.procedure_version),
            Param::Text(&n.agency_code),
            Param::OptText(n.commune_code.as_deref()),
            Param::OptText(n.applicant_user_id.as_deref()),
            Param::Int(n.applicant.kind),
            Param::Text(&n.applicant.name),
            Param::Text(&n.applicant.id_number),
            Param::Text(&n.applicant.phone),
            Param::Text(&n.applicant.email),
            Param::Int(n.channel),
            Param::Int(n.status),
            Param::Text(&n.step),
            Param::OptText(n.holder_user_id.as_deref()),
            Param::Text(&n.form),
            Param::Int(n.submitted_at),
            Param::OptInt(n.accepted_at),
            Param::OptText(n.due_date.as_deref()),
            Param::Int(n.fee),
            Param::OptText(n.idempotency_key.as_deref()),
            Param::Text(&n.request_hash),
            Param::Int(n.files_bytes),
            Param::Int(n.files_count),
        ],
    ).await?;
    if inserted == 0 {
        return Err(SubmitFail::DuplicateKey);
    }
    let event = record_event(
        tx,
        &n.db,
        &EventFacts {
            code: &code,
            action: n.action,
            from: 0,
            to: n.status,
            step: &n.step,
            signer: n.signer.as_ref(),
            actor_name: &n.actor_name,
            reason: "",
            seq: 1,
        },
    )
    .await?;
    tx.audit(&n.ctx.entry(
        &format!("dossier.{}", n.action),
        "dossier",
        &code,
        &n.agency_code,
        serde_json::json!({"after": {"status": n.status, "procedure": n.procedure_code, "channel": n.channel}}),
    ))
    .await?;
    let on = FileOwner {
        ctx: &n.ctx,
        code: &code,
        agency_code: &n.agency_code,
        owner: n.applicant_user_id.as_deref(),
        now: n.submitted_at,
    };
    let mut attached = Vec::with_capacity(n.files.len());
    for f in &n.files {
        attached.extend(record_file(tx, &on, f).await?);
    }
    tx.emit(
        "dossier.status_changed",
        &serde_json::json!({"code": code, "agency": n.agency_code, "from": 0, "to": n.status, "action": n.action, "channel": n.channel}),
    )
    .await?;
    Ok((code, event, attached))
}

/// What a dossier event records: the `seq`-th step of dossier `code`, `action` from status
/// `from` to `to` (at workflow step `step`), by `signer` (staff; `None`: the applicant) shown
/// as `actor_name`, with its reason.
#[derive(Clone, Copy)]
struct EventFacts<'a> {
    code: &'a str,
    action: &'a str,
    from: i64,
    to: i64,
    step: &'a str,
    signer: Option<&'a Principal>,
    actor_name: &'a str,
    reason: &'a str,
    seq: i64,
}

/// [`draft_event`] and [`insert_event`] in one, inside `tx`.
async fn record_event(tx: &mut impl Exec, db: &Db, f: &EventFacts<'_>) -> Result<Event, AppError> {
    let e = draft_event(db, f).await?;
    insert_event(tx, f.code, f.signer.map(|s| s.user_id.as_str()), &e).await?;
    Ok(e)
}

/// A dossier event made and signed ahead of its write (the signature reads the signer's key,
/// which belongs before a group-commit item, not inside it); [`insert_event`] writes it.
async fn draft_event(db: &Db, f: &EventFacts<'_>) -> Result<Event, AppError> {
    draft_event_with(db, f, None).await
}

/// [`draft_event`], signed with `key` when the caller has already read and unsealed the
/// signer's key (an approval that signs its result with it too).
async fn draft_event_with(
    db: &Db,
    f: &EventFacts<'_>,
    key: Option<&tinhso_identity::keys::LoadedKey>,
) -> Result<Event, AppError> {
    let EventFacts {
        code,
        action,
        from,
        to,
        step,
        signer,
        actor_name,
        reason,
        seq,
    } = *f;
    let at = now_micros();
    let payload = serde_json::json!({
        "dossier": code, "seq": seq, "action": action, "from": from, "to": to,
        "step": step, "reason": reason, "at": at,
        "actor": signer.map(|s| s.user_id.clone()),
    })
    .to_string();
    let sig = match (signer, key) {
        (Some(_), Some(k)) => Some(k.sign(payload.as_bytes())),
        (Some(p), None) => {
            Some(tinhso_identity::keys::sign(db, &p.user_id, payload.as_bytes()).await?)
        }
        (None, _) => None,
    };
    Ok(Event {
        seq,
        at,
        action: action.to_string(),
        from_status: from,
        to_status: to,
        step: step.to_string(),
        actor_name: actor_name.to_string(),
        reason: reason.to_string(),
        signed: sig.is_some(),
        signed_payload: payload,
        signature: sig.as_ref().map(|s| s.signature.clone()),
        public_key: sig.map(|s| s.public_key),
    })
}

/// Write an event made by [`draft_event`].
async fn insert_event(
    tx: &mut impl Exec,
    code: &str,
    actor_user_id: Option<&str>,
    e: &Event,
) -> Result<(), AppError> {
    tx.execute(
        "INSERT INTO dossier_events (dossier_code, seq, at, action, from_status, to_status, step, actor_user_id, \
         actor_name, holder_user_id, reason, signed_payload, signature, public_key) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)",
        &[
            Param::Text(code),
            Param::Int(e.seq),
            Param::Int(e.at),
            Param::Text(&e.action),
            Param::Int(e.from_status),
            Param::Int(e.to_status),
            Param::Text(&e.step),
            Param::OptText(actor_user_id),
            Param::Text(&e.actor_name),
            Param::OptText(None),
            Param::Text(&e.reason),
            Param::Text(&e.signed_payload),
            Param::OptText(e.signature.as_deref()),
            Param::OptText(e.public_key.as_deref()),
        ],
    )
    .await?;
    Ok(())
}

struct Row0 {
    d: Dossier,
    status_before_pause: Option<i64>,
    paused_since: Option<i64>,
}

fn from_row(r: &dyn RowRead) -> Result<Row0, DbError> {
    let status: i64 = r.int(12)?;
    let st = Status::from_code(status)
        .ok_or_else(|| DbError::Invalid(format!("dossier: bad status {status}")))?;
    let form: String = r.text(15)?;
    Ok(Row0 {
        d: Dossier {
            code: r.text(0)?,
            procedure_code: r.text(1)?,
            procedure_version: r.int(2)?,
            procedure_name: String::new(),
            agency_code: r.text(3)?,
            agency_name: String::new(),
            commune_code: r.opt_text(4)?,
            applicant_user_id: r.opt_text(5)?,
            applicant: Applicant {
                kind: r.int(6)?,
                name: r.text(7)?,
                id_number: r.text(8)?,
                phone: r.text(9)?,
                email: r.text(10)?,
            },
            channel: r.int(11)?,
            status,
            status_vi: st.name_vi().into(),
            status_en: st.name_en().into(),
            step: r.text(13)?,
            step_name: String::new(),
            holder_user_id: r.opt_text(14)?,
            form: serde_json::from_str(&form).unwrap_or(serde_json::Value::Null),
            submitted_at: r.int(16)?,
            accepted_at: r.opt_int(17)?,
            due_date: r.opt_text(18)?,
            finished_at: r.opt_int(19)?,
            returned_at: r.opt_int(20)?,
            paused_working_days: r.int(21)?,
            supplement_count: r.int(22)?,
            fee_vnd: r.int(23)?,
            paid_vnd: r.int(24)?,
            allowed_actions: Action::allowed_from(st)
                .iter()
                .map(|a| a.as_str().to_string())
                .collect(),
            events: Vec::new(),
            files_bytes: r.int(27)?,
            files_count: r.int(28)?,
        },
        status_before_pause: r.opt_int(25)?,
        paused_since: r.opt_int(26)?,
    })
}

/// The columns [`from_row`] reads, of `dossiers d`, then the agency's name, then the event
/// columns (NULL when the dossier has no event yet): a dossier with its history in one query.
const LOAD_SQL: &str = "SELECT d.code, d.procedure_code, d.procedure_version, d.agency_code, \
    d.commune_code, d.applicant_user_id, d.applicant_kind, d.applicant_name, d.applicant_id_number, \
    d.applicant_phone, d.applicant_email, d.channel, d.status, d.step, d.holder_user_id, d.form_data, \
    d.submitted_at, d.accepted_at, d.due_date, d.finished_at, d.returned_at, d.paused_working_days, \
    d.supplement_count, d.fee_vnd, d.paid_vnd, d.status_before_pause, d.paused_since, \
    d.files_bytes, d.files_count, a.name, \
    e.seq, e.at, e.action, e.from_status, e.to_status, e.step, e.actor_name, e.reason, \
    e.signed_payload, e.signature, e.public_key \
    FROM dossiers d LEFT JOIN agencies a ON a.code = d.agency_code \
    LEFT JOIN dossier_events e ON e.dossier_code = d.code \
    WHERE d.code = $1 ORDER BY e.seq";

/// Where the agency's name and the event columns start in [`LOAD_SQL`].
const LOAD_AGENCY: usize = 29;
const LOAD_EVENT: usize = 30;

/// One row of [`LOAD_SQL`]: the dossier (read from the first row only), the agency's name and
/// one event (none when the dossier has no event yet).
type LoadRow = (Option<Row0>, Option<String>, Option<Event>);

/// The event columns of a [`LOAD_SQL`] row, `None` when the join found no event.
fn event_of(e: &dyn RowRead) -> Result<Option<Event>, DbError> {
    let k = LOAD_EVENT;
    let Some(seq) = e.opt_int(k)? else {
        return Ok(None);
    };
    let signature = e.opt_text(k + 9)?;
    Ok(Some(Event {
        seq,
        at: e.int(k + 1)?,
        action: e.text(k + 2)?,
        from_status: e.int(k + 3)?,
        to_status: e.int(k + 4)?,
        step: e.text(k + 5)?,
        actor_name: e.text(k + 6)?,
        reason: e.text(k + 7)?,
        signed: signature.is_some(),
        signed_payload: e.text(k + 8)?,
        signature,
        public_key: e.opt_text(k + 10)?,
    }))
}

/// A dossier with its history, in one query: on a SQLite file it runs natively on this thread
/// (`Db::read_rows`), the look-ups' hot path.
async fn load(db: &Db, code: &str) -> Result<Option<Row0>, AppError> {
    let mut first = true;
    let rows: Vec<LoadRow> = db
        .read_rows(LOAD_SQL, &[Param::Text(code)], |row| {
            let head = if std::mem::take(&mut first) {
                Some(from_row(row)?)
            } else {
                None
            };
            Ok((head, row.opt_text(LOAD_AGENCY)?, event_of(row)?))
        })
        .await?;
    let mut rows = rows.into_iter();
    let Some((Some(mut r), agency, event)) = rows.next() else {
        return Ok(None);
    };
    if let Some(p) = catalogue::version_arc(db, &r.d.procedure_code, r.d.procedure_version).await? {
        r.d.procedure_name = p.name.clone();
        r.d.step_name = p
            .workflow
            .iter()
            .find(|s| s.step == r.d.step)
            .map(|s| s.name.clone())
            .unwrap_or_default();
    }
    if let Some(name) = agency {
        r.d.agency_name = name;
    }
    r.d.events
        .extend(event.into_iter().chain(rows.filter_map(|(_, _, e)| e)));
    Ok(Some(r))
}

/// A dossier with its history (no access check: callers check).
pub async fn get(db: &Db, code: &str) -> Result<Option<Dossier>, AppError> {
    Ok(load(db, code).await?.map(|r| r.d))
}

/// Track a dossier without signing in. A wrong lookup code gives exactly the same answer as
/// an unknown dossier.
pub async fn track(db: &Db, code: &str, lookup: &str) -> Result<Dossier, AppError> {
    let typed: String = lookup
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_uppercase();
    // Codes are printed in upper case; accept them typed in any case.
    let code = code.trim().to_uppercase();
    let expected = lookup_code(&code);
    let same = typed.len() == expected.len()
        && typed
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err(AppError::not_found());
    }
    get(db, &code).await?.ok_or_else(AppError::not_found)
}

/// Whether an agency is the provincial public administration service centre (Trung tâm Phục
/// vụ hành chính công tỉnh), the one-stop desk of every provincial-level procedure.
pub fn is_one_stop_centre(a: &agencies::Agency) -> bool {
    a.kind == "trung_tam" && text::fold(&a.name).contains("phuc vu hanh chinh cong")
}

/// Whether dossiers of an agency are received and returned at the provincial one-stop centre:
/// those of the provincial departments and boards (not of a commune's People's Committee,
/// whose own one-stop desk receives them, nor of central agencies located in the province).
pub fn received_at_centre(a: &agencies::Agency) -> bool {
    a.kind != "ubnd_xa" && a.kind != "trung_uong"
}

/// Where dossiers handled by `a` sit, for authorization: the agency's chain and its commune
/// (commune People's Committees only); a provincial agency's dossiers also sit at the
/// one-stop centre, whose officers receive them and return their results.
pub async fn agency_scope(db: &Db, a: &agencies::Agency) -> Result<ResourceScope, AppError> {
    let mut s = agencies::scope_of(db, a).await?;
    if received_at_centre(a) {
        let centres = agencies::list(
            db,
            &agencies::AgencyFilter {
                kind: Some("trung_tam".into()),
                ..Default::default()
            },
        )
        .await?;
        s.agencies.extend(
            centres
                .into_iter()
                .filter(is_one_stop_centre)
                .map(|c| c.code)
                .filter(|c| *c != a.code),
        );
    }
    Ok(s)
}

/// The scope of a dossier, for authorization: [`agency_scope`] of its agency and its owner.
pub async fn scope_of(db: &Db, d: &Dossier) -> Result<ResourceScope, AppError> {
    Ok(scope_and_agency(db, d).await?.0)
}

/// [`scope_of`], with the dossier's agency it read (`None`: unknown agency, province scope).
async fn scope_and_agency(
    db: &Db,
    d: &Dossier,
) -> Result<(ResourceScope, Option<agencies::Agency>), AppError> {
    let agency = agencies::get(db, &d.agency_code).await?;
    let mut scope = match &agency {
        Some(a) => agency_scope(db, a).await?,
        None => ResourceScope::province(),
    };
    scope.owner_user_id = d.applicant_user_id.clone();
    Ok((scope, agency))
}

/// Input to [`transition`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TransitionInput {
    pub action: String,
    #[serde(default)]
    pub reason: String,
    /// Supplement answers: e-form values to update.
    #[serde(default)]
    pub form: BTreeMap<String, String>,
}

/// Who is acting on a dossier.
#[derive(Debug, Clone, Copy)]
pub enum ActingAs<'a> {
    Staff(&'a Principal),
    /// The applicant, signed in as the owner, or proven by the lookup code.
    Applicant {
        principal: Option<&'a Principal>,
        name: &'a str,
    },
}

/// Apply an action to a dossier: checks the actor's right on the dossier's agency, the
/// legality of the transition (409 naming the legal actions otherwise), the reason; then
/// updates the dossier, records the signed event, the audit entry and the outbox event in one
/// transaction — shared with other writers through group commit. An approval that issues an
/// electronic result builds and signs its PDF first, then writes it with the approval in the
/// same group-commit item.
pub async fn transition(
    db: &Db,
    issuing: crate::results::Issuing<'_>,
    ctx: &Ctx,
    code: &str,
    who: ActingAs<'_>,
    input: &TransitionInput,
) -> Result<Dossier, AppError> {
    let action = Action::parse(&input.action).ok_or_else(|| {
        AppError::field(
            "action",
            Invalid::new(
                "action_unknown",
                format!("Không có thao tác \"{}\"", input.action),
                format!("Unknown action \"{}\"", input.action),
            ),
        )
    })?;
    let row = load(db, code).await?.ok_or_else(AppError::not_found)?;
    let d = &row.d;
    let status = Status::from_code(d.status).ok_or_else(|| AppError::internal("bad status"))?;
    // Who may do this. The agency read for the officer's scope serves the result's heading.
    let mut agency = None;
    match (action.actor(), who) {
        (Actor::Officer, ActingAs::Staff(p)) => {
            let (scope, a) = scope_and_agency(db, d).await?;
            agency = a;
            let perm = if action == Action::Approve {
                Permission::DossierApprove
            } else {
                Permission::DossierProcess
            };
            authorize(Some(p), perm, &scope)?;
        }
        (Actor::Applicant, ActingAs::Applicant { .. }) => {}
        (Actor::Applicant, ActingAs::Staff(p)) => {
            // Staff may record an applicant's request made at the counter.
            let scope = scope_of(db, d).await?;
            authorize(Some(p), Permission::DossierProcess, &scope)?;
        }
        (Actor::Officer, ActingAs::Applicant { .. }) => return Err(AppError::forbidden()),
    }
    if !action.from().contains(&status) {
        let allowed: Vec<&str> = Action::allowed_from(status)
            .iter()
            .map(|a| a.as_str())
            .collect();
        return Err(AppError::new(ErrorCode::Conflict).with_detail(
            format!(
                "Không thể \"{}\" khi hồ sơ đang ở trạng thái \"{}\". Thao tác hợp lệ: {}",
                action.name_vi(),
                status.name_vi(),
                if allowed.is_empty() {
                    "không có (hồ sơ đã kết thúc)".to_string()
                } else {
                    allowed.join(", ")
                }
            ),
            format!(
                "Cannot {} a dossier that is \"{}\". Allowed: {}",
                action.as_str(),
                status.name_en(),
                if allowed.is_empty() {
                    "none (the dossier is closed)".to_string()
                } else {
                    allowed.join(", ")
                }
            ),
        ));
    }
    let reason = text::clean(&input.reason);
    if action.needs_reason() && reason.chars().filter(|c| !c.is_whitespace()).count() < 5 {
        return Err(AppError::field(
            "reason",
            Invalid::new(
                "reason_required",
                "Vui lòng ghi rõ lý do (ít nhất 5 ký tự)",
                "Please give the reason (at least 5 characters)",
            ),
        ));
    }
    let p = catalogue::version_arc(db, &d.procedure_code, d.procedure_version)
        .await?
        .ok_or_else(|| AppError::internal("procedure version missing"))?;
    // What changes.
    let now = now_micros();
    let calendar = tinhso_refdata::calendar::working_calendar(db).await?;
    let mut step = d.step.clone();
    let mut due = d.due_date.clone();
    let mut accepted_at = d.accepted_at;
    let mut finished_at = d.finished_at;
    let mut returned_at = d.returned_at;
    let mut paused_since = row.paused_since;
    let mut paused_days = d.paused_working_days;
    let mut supplements = d.supplement_count;
    let mut before_pause = row.status_before_pause;
    let mut fee = d.fee_vnd;
    let mut paid = d.paid_vnd;
    let mut form = d.form.clone();
    // Working days a supplement kept the dossier with the applicant (moves the promised dates).
    let mut paused_added = 0;
    let before = Status::from_code(row.status_before_pause.unwrap_or(0));
    let to = action.to(before);
    match action {
        Action::Accept => {
            accepted_at = Some(now);
            due = Some(
                due_date(&calendar, now, p.time_limit)
                    .format("%Y-%m-%d")
                    .to_string(),
            );
            fee = p.total_fee();
        }
        Action::RequestSupplement => {
            paused_since = Some(now);
            supplements += 1;
            before_pause = Some(status.code());
        }
        Action::Supplement => {
            let mut errs = FieldErrors::new();
            if !input.form.is_empty() {
                let mut merged: BTreeMap<String, String> = d
                    .form
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| {
                                (
                                    k.clone(),
                                    v.as_str()
                                        .map(str::to_string)
                                        .unwrap_or_else(|| v.to_string()),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                merged.extend(input.form.clone());
                form =
                    serde_json::Value::Object(crate::eform::validate(&p.eform, &merged, &mut errs));
            }
            errs.into_result()?;
            // The clock stopped while the applicant had the dossier: push the due date out
            // by the working days it was paused.
            if let Some(since) = paused_since.take() {
                let days = calendar
                    .working_days_between(local_date_of(since), local_date_of(now))
                    .max(0);
                paused_days += days;
                paused_added = days;
                if let Some(dd) = due
                    .as_deref()
                    .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                {
                    due = Some(
                        calendar
                            .add_working_days(dd, days as u32)
                            .format("%Y-%m-%d")
                            .to_string(),
                    );
                }
            }
            before_pause = None;
        }
        Action::Forward => {
            if status == Status::Processing {
                let idx = p.workflow.iter().position(|s| s.step == step).unwrap_or(0);
                // The last step before returning is approval; forward stops there.
                if idx + 2 >= p.workflow.len() {
                    return Err(AppError::new(ErrorCode::Conflict).with_detail(
                        "Hồ sơ đã ở bước phê duyệt: dùng thao tác approve",
                        "The dossier is at the approval step: use approve",
                    ));
                }
                step = p.workflow[idx + 1].step.clone();
            } else if let Some(s) = p.workflow.get(1) {
                step = s.step.clone();
            }
        }
        Action::RequestPayment => {
            if fee <= paid {
                return Err(AppError::new(ErrorCode::Conflict).with_detail(
                    "Hồ sơ không còn khoản phí, lệ phí nào phải nộp",
                    "Nothing is left to pay on this dossier",
                ));
            }
        }
        Action::PaymentReceived => paid = fee,
        Action::Approve => {
            // Approval is the step before returning: the dossier must have been forwarded
            // there (no skipping the appraisal).
            let idx = p.workflow.iter().position(|s| s.step == step).unwrap_or(0);
            if idx + 2 < p.workflow.len() {
                return Err(AppError::new(ErrorCode::Conflict).with_detail(
                    "Hồ sơ chưa đến bước phê duyệt: dùng thao tác forward",
                    "The dossier is not at the approval step yet: use forward",
                ));
            }
            finished_at = Some(now);
            if let Some(last) = p.workflow.last() {
                step = last.step.clone();
            }
        }
        Action::ReturnResult => returned_at = Some(now),
        Action::Refuse | Action::Withdraw | Action::Stop => finished_at = Some(now),
    }
    let (signer, actor_name) = match who {
        ActingAs::Staff(p) => (Some(p), p.display_name.clone()),
        ActingAs::Applicant { name, .. } => (None, name.to_string()),
    };
    // Approval issues the electronic result in the same transaction; what needs writes of
    // its own (the agency's key on first use) happens before it opens.
    let result_prep = match (action, signer) {
        (Action::Approve, Some(leader)) if p.result.electronic => {
            let prep = match agency {
                Some(a) => crate::results::prepare_for(db, a).await?,
                None => crate::results::prepare(db, &d.agency_code).await?,
            };
            // The leader's key, read and unsealed once: it signs the event and the result.
            let key = tinhso_identity::keys::person_key(db, &leader.user_id).await?;
            Some((prep, key))
        }
        _ => None,
    };
    let seq = d.events.len() as i64 + 1;
    // Signed before the write (the signature reads the officer's key).
    let event = draft_event_with(
        db,
        &EventFacts {
            code,
            action: action.as_str(),
            from: status.code(),
            to: to.code(),
            step: &step,
            signer,
            actor_name: &actor_name,
            reason: &reason,
            seq,
        },
        result_prep.as_ref().map(|(_, key)| key),
    )
    .await?;
    let w = TransitionWrite {
        code: code.to_string(),
        to: to.code(),
        from: status.code(),
        from_step: d.step.clone(),
        step: step.clone(),
        due,
        accepted_at,
        finished_at,
        returned_at,
        paused_since,
        paused_days,
        supplements,
        before_pause,
        fee,
        paid,
        form: form.to_string(),
        now,
        calendar,
        paused_added,
        actor_user_id: signer.map(|s| s.user_id.clone()),
        event,
        audit: ctx.entry(
            &format!("dossier.{}", action.as_str()),
            "dossier",
            code,
            &d.agency_code,
            serde_json::json!({"before": {"status": status.code(), "step": d.step}, "after": {"status": to.code(), "step": step}, "reason": reason}),
        ),
        status_changed: serde_json::json!({"code": code, "agency": d.agency_code, "from": status.code(), "to": to.code(), "action": action.as_str()}),
    };
    // The dossier as this transition leaves it (its row is written only if unchanged since it
    // was loaded, so this is what a read after the commit finds; tested).
    let after = dossier_after(d, &w, &p, form);
    match (&result_prep, signer) {
        (Some((prep, leader_key)), Some(leader)) => {
            // Approval with an electronic result: the result is built, signed and — with a
            // TSA — time-stamped before anything is queued (a slow TSA holds up no writer),
            // then written with the approval in one group-commit item (native on a SQLite
            // file). Its number is taken there if still free; if another approval of the
            // agency took it meanwhile, the item writes nothing and the result is built again
            // with the next one. A refusal under the lock undoes only this item.
            let w = std::sync::Arc::new(w);
            let mut attempts = 0;
            loop {
                attempts += 1;
                let built = crate::results::build(
                    db, ctx, issuing, prep, d, &p, leader, leader_key, &reason, now,
                )
                .await?;
                let (w, leader_id) = (w.clone(), leader.user_id.clone());
                let recorded = db
                    .write_grouped_native(move |tx| {
                        Box::pin(async move {
                            if !crate::results::take_number(tx, &built).await? {
                                return Ok(false);
                            }
                            write_transition(tx, &w).await?;
                            crate::results::record_in(tx, &built, &leader_id).await?;
                            emit_transition(tx, &w).await?;
                            Ok::<_, AppError>(true)
                        })
                    })
                    .await?;
                if recorded {
                    break;
                }
                if attempts >= RESULT_NUMBER_ATTEMPTS {
                    return Err(AppError::conflict(
                        "Nhiều kết quả của cơ quan đang được ban hành cùng lúc, vui lòng thử lại",
                        "Many results of the agency are being issued at once; try again",
                    ));
                }
            }
        }
        _ => {
            // Group commit: short, checked above; a refusal under the lock (someone moved the
            // dossier meanwhile) undoes only this item.
            db.write_grouped_native(move |tx| {
                Box::pin(async move {
                    write_transition(tx, &w).await?;
                    emit_transition(tx, &w).await
                })
            })
            .await?;
        }
    }
    Ok(after)
}

/// `d` after the transition `w` (of procedure version `p`) is written: its new status, step,
/// dates, counters, amounts and `form` (what `w.form` holds, parsed), and the new event.
fn dossier_after(
    d: &Dossier,
    w: &TransitionWrite,
    p: &Procedure,
    form: serde_json::Value,
) -> Dossier {
    let mut a = d.clone();
    let status = Status::from_code(w.to);
    a.status = w.to;
    if let Some(st) = status {
        a.status_vi = st.name_vi().into();
        a.status_en = st.name_en().into();
        a.allowed_actions = Action::allowed_from(st)
            .iter()
            .map(|x| x.as_str().to_string())
            .collect();
    }
    if a.step != w.step {
        a.step_name = p
            .workflow
            .iter()
            .find(|s| s.step == w.step)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        a.step = w.step.clone();
    }
    a.due_date = w.due.clone();
    a.accepted_at = w.accepted_at;
    a.finished_at = w.finished_at;
    a.returned_at = w.returned_at;
    a.paused_working_days = w.paused_days;
    a.supplement_count = w.supplements;
    a.fee_vnd = w.fee;
    a.paid_vnd = w.paid;
    a.form = form;
    a.events.push(w.event.clone());
    a
}

/// The name of a dossier for [`changed_meanwhile`], in Vietnamese and in English.
pub(crate) const DOSSIER: (&str, &str) = ("Hồ sơ", "dossier");

/// The 409 of a write guarded on the state as loaded (`UPDATE … WHERE status = <as loaded>`)
/// that found it changed: someone else acted meanwhile; reload. `what`: the thing's name in
/// Vietnamese and in English (e.g. [`DOSSIER`]).
pub(crate) fn changed_meanwhile((vi, en): (&str, &str)) -> AppError {
    AppError::conflict(
        format!("{vi} vừa được người khác xử lý, vui lòng tải lại"),
        format!("The {en} was just changed by someone else; reload it"),
    )
}

/// `Ok` when a guarded update (see [`changed_meanwhile`]) changed a row.
pub(crate) fn updated_as_loaded(rows: u64, what: (&str, &str)) -> Result<(), AppError> {
    if rows == 0 {
        return Err(changed_meanwhile(what));
    }
    Ok(())
}

/// Times an approval builds its result again when the number it read was taken meanwhile.
const RESULT_NUMBER_ATTEMPTS: u32 = 10;

/// A checked transition, as its transaction (shared or its own) writes it.
struct TransitionWrite {
    code: String,
    to: i64,
    /// Status and step as loaded: the update applies only if they are unchanged.
    from: i64,
    from_step: String,
    step: String,
    due: Option<String>,
    accepted_at: Option<i64>,
    finished_at: Option<i64>,
    returned_at: Option<i64>,
    paused_since: Option<i64>,
    paused_days: i64,
    supplements: i64,
    before_pause: Option<i64>,
    fee: i64,
    paid: i64,
    form: String,
    now: i64,
    calendar: tinhso_kernel::calendar::WorkingCalendar,
    paused_added: i64,
    actor_user_id: Option<String>,
    event: Event,
    audit: tinhso_store::audit::NewAuditEntry,
    status_changed: serde_json::Value,
}

/// The dossier's row (on the status and step as loaded, else a 409), a paused first promised
/// date, the signed event and the audit entry of a transition.
async fn write_transition(tx: &mut impl Journal, w: &TransitionWrite) -> Result<(), AppError> {
    let n = tx.execute(
        "UPDATE dossiers SET status = $1, step = $2, due_date = $3, accepted_at = $4, finished_at = $5, \
         returned_at = $6, paused_since = $7, paused_working_days = $8, supplement_count = $9, \
         status_before_pause = $10, fee_vnd = $11, paid_vnd = $12, form_data = $13, updated_at = $14 \
         WHERE code = $15 AND status = $16 AND step = $17",
        &[
            Param::Int(w.to),
            Param::Text(&w.step),
            Param::OptText(w.due.as_deref()),
            Param::OptInt(w.accepted_at),
            Param::OptInt(w.finished_at),
            Param::OptInt(w.returned_at),
            Param::OptInt(w.paused_since),
            Param::Int(w.paused_days),
            Param::Int(w.supplements),
            Param::OptInt(w.before_pause),
            Param::Int(w.fee),
            Param::Int(w.paid),
            Param::Text(&w.form),
            Param::Int(w.now),
            Param::Text(&w.code),
            Param::Int(w.from),
            // Forward keeps the status and moves the step: both must be as loaded.
            Param::Text(&w.from_step),
        ],
    ).await?;
    updated_as_loaded(n, DOSSIER)?;
    // An apologised dossier's first promised date (form 04) moves with the pause too.
    crate::forms::shift_original_due(tx, &w.calendar, &w.code, w.paused_added).await?;
    insert_event(tx, &w.code, w.actor_user_id.as_deref(), &w.event).await?;
    tx.audit(&w.audit).await?;
    Ok(())
}

/// The outbox event of a transition (after the result's, on approval).
async fn emit_transition(tx: &mut impl Journal, w: &TransitionWrite) -> Result<(), AppError> {
    tx.emit("dossier.status_changed", &w.status_changed).await?;
    Ok(())
}

/// Filter for [`list`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DossierFilter {
    /// Only these agencies (the caller's scope); `None` = all.
    #[serde(skip)]
    pub agency_codes: Option<Vec<String>>,
    pub status: Option<i64>,
    pub applicant_user_id: Option<String>,
    pub procedure_code: Option<String>,
    /// Only dossiers whose promised date is before today and that are still open.
    #[serde(default)]
    pub overdue: bool,
    pub limit: Option<i64>,
    pub before_code: Option<String>,
}

/// A row of a dossier list.
#[derive(Debug, Clone, Serialize)]
pub struct DossierRow {
    pub code: String,
    pub procedure_code: String,
    pub applicant_name: String,
    pub agency_code: String,
    pub status: i64,
    pub status_vi: String,
    pub step: String,
    pub submitted_at: i64,
    pub due_date: Option<String>,
    pub channel: i64,
}

/// List dossiers, newest first.
pub async fn list(db: &Db, f: &DossierFilter) -> Result<Vec<DossierRow>, AppError> {
    let mut sql = String::from(
        "SELECT code, procedure_code, applicant_name, agency_code, status, step, submitted_at, due_date, channel FROM dossiers WHERE 1=1",
    );
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
    if let Some(u) = &f.applicant_user_id {
        binds.push(u.clone());
        sql.push_str(&format!(" AND applicant_user_id = ${}", binds.len()));
    }
    if let Some(p) = &f.procedure_code {
        binds.push(p.clone());
        sql.push_str(&format!(" AND procedure_code = ${}", binds.len()));
    }
    if let Some(b) = &f.before_code {
        // Keyset paging in the list's own order (newest first, then code).
        binds.push(b.clone());
        let n = binds.len();
        sql.push_str(&format!(
            " AND (submitted_at < (SELECT submitted_at FROM dossiers WHERE code = ${n}) \
             OR (submitted_at = (SELECT submitted_at FROM dossiers WHERE code = ${n}) AND code < ${n}))"
        ));
    }
    if f.overdue {
        binds.push(today_local().format("%Y-%m-%d").to_string());
        sql.push_str(&format!(
            " AND due_date < ${} AND status IN (1, 2, 4, 6)",
            binds.len()
        ));
    }
    let status_bind = f.status;
    if status_bind.is_some() {
        sql.push_str(&format!(" AND status = ${}", binds.len() + 1));
    }
    let limit_pos = binds.len() + usize::from(status_bind.is_some()) + 1;
    sql.push_str(&format!(
        " ORDER BY submitted_at DESC, code DESC LIMIT ${limit_pos}"
    ));
    let mut q = sqlx::query(&sql);
    for b in &binds {
        q = q.bind(b);
    }
    if let Some(s) = status_bind {
        q = q.bind(s);
    }
    let rows = q
        .bind(f.limit.unwrap_or(100).clamp(1, 1000))
        .fetch_all(db.pool())
        .await
        .map_err(DbError::from)?;
    rows.iter()
        .map(|r| {
            let status: i64 = r.try_get(4)?;
            Ok(DossierRow {
                code: r.try_get(0)?,
                procedure_code: r.try_get(1)?,
                applicant_name: r.try_get(2)?,
                agency_code: r.try_get(3)?,
                status,
                status_vi: Status::from_code(status)
                    .map(|s| s.name_vi().to_string())
                    .unwrap_or_default(),
                step: r.try_get(5)?,
                submitted_at: r.try_get(6)?,
                due_date: r.try_get(7)?,
                channel: r.try_get(8)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| DbError::from(e).into())
}

// ---------------------------------------------------------------- attachments

/// The largest attachment accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// The largest total of a dossier's attachments, in bytes.
pub const MAX_DOSSIER_BYTES: i64 = 50 * 1024 * 1024;
/// The most attachments one dossier holds.
pub const MAX_DOSSIER_FILES: i64 = 50;
/// Media types accepted as attachments (sniffed from the bytes, never from the name).
pub const ATTACHMENT_TYPES: &[MediaType] = &[MediaType::Pdf, MediaType::Jpeg, MediaType::Png];

/// One file to attach to a component (thành phần hồ sơ).
#[derive(Debug, Clone)]
pub struct Upload {
    pub component_id: String,
    /// The name the file had on the sender's device (shown, never used as a path).
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// A file attached to a dossier.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Attachment {
    pub component_id: String,
    /// The component's name in the procedure version the dossier was filed under.
    pub component_name: String,
    pub sha256: String,
    pub media_type: String,
    pub size: i64,
    pub file_name: String,
    pub added_at: i64,
}

/// The form field of a component's file input and of its errors: `files.<component id>`.
pub fn file_field(component_id: &str) -> String {
    format!("files.{component_id}")
}

/// Whether an online applicant must upload a component with the e-form. The declaration
/// itself (`electronic`) is the e-form; an `original` is shown at the counter when the result
/// is returned (a scan is welcome, not required); a required `copy` or `original_or_copy`
/// must be uploaded.
pub fn upload_required(c: &catalogue::Component) -> bool {
    c.required && (c.form == "copy" || c.form == "original_or_copy")
}

/// What the bytes look like, for messages: the accepted types by their magic numbers, and the
/// usual suspects (programs, archives, office documents, web pages) named so the applicant
/// understands why a file was refused.
pub fn describe_content(bytes: &[u8]) -> &'static str {
    if let Some(m) = tinhso_store::files::sniff(bytes) {
        return m.mime();
    }
    let starts = |p: &[u8]| bytes.starts_with(p);
    if starts(b"MZ") {
        "application/x-msdownload"
    } else if starts(b"\x7fELF") {
        "application/x-executable"
    } else if starts(b"PK\x03\x04") {
        "application/zip"
    } else if starts(&[0xD0, 0xCF, 0x11, 0xE0]) {
        "application/x-ole-storage"
    } else if starts(b"GIF8") {
        "image/gif"
    } else if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        "image/webp"
    } else if bytes.get(4..12).is_some_and(|b| b.starts_with(b"ftyp")) {
        "image/heic"
    } else if starts(b"{\\rtf") {
        "application/rtf"
    } else {
        let head = &bytes[..bytes.len().min(512)];
        match std::str::from_utf8(head) {
            Ok(t) if t.trim_start().starts_with('<') => "text/html",
            Ok(_) if !head.is_empty() => "text/plain",
            _ => "application/octet-stream",
        }
    }
}

/// A file name fit to show and to offer on download: its last path segment, without control
/// characters or quotes, at most 150 characters; a name by type when nothing is left.
fn clean_file_name(name: &str, kind: MediaType) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = text::clean(
        &base
            .chars()
            .map(|c| if c.is_control() || c == '"' { ' ' } else { c })
            .collect::<String>(),
    )
    .chars()
    .take(150)
    .collect();
    if cleaned.trim_matches('.').is_empty() {
        let ext = match kind {
            MediaType::Pdf => "pdf",
            MediaType::Png => "png",
            MediaType::Jpeg => "jpg",
        };
        format!("tep-dinh-kem.{ext}")
    } else {
        cleaned
    }
}

/// Check one upload against the procedure (known component, not empty, size, sniffed type)
/// without writing anything. Errors go to the component's field ([`file_field`]), or to
/// `component_id` for an unknown component.
fn check_upload(p: &Procedure, u: &Upload, errs: &mut FieldErrors) -> Option<MediaType> {
    let Some(c) = p.components.iter().find(|c| c.id == u.component_id) else {
        errs.push(
            "component_id",
            Invalid::new(
                "component_unknown",
                format!(
                    "Thủ tục {} không có thành phần hồ sơ \"{}\"",
                    p.code, u.component_id
                ),
                format!(
                    "Procedure {} has no dossier component \"{}\"",
                    p.code, u.component_id
                ),
            ),
        );
        return None;
    };
    let field = file_field(&c.id);
    let shown = text::clean(u.file_name.rsplit(['/', '\\']).next().unwrap_or_default());
    if u.bytes.is_empty() {
        errs.push(
            &field,
            Invalid::new(
                "file_empty",
                format!("{}: tệp \"{shown}\" rỗng", c.name),
                format!("{}: the file \"{shown}\" is empty", c.name),
            ),
        );
        return None;
    }
    if u.bytes.len() > MAX_FILE_BYTES {
        errs.push(
            &field,
            Invalid::new(
                "file_too_large",
                format!(
                    "{}: tệp \"{shown}\" nặng {}, tối đa {}",
                    c.name,
                    size_text(u.bytes.len() as i64),
                    size_text(MAX_FILE_BYTES as i64)
                ),
                format!(
                    "{}: the file \"{shown}\" is {}, at most {}",
                    c.name,
                    size_text(u.bytes.len() as i64),
                    size_text(MAX_FILE_BYTES as i64)
                ),
            ),
        );
        return None;
    }
    match tinhso_store::files::sniff(&u.bytes).filter(|k| ATTACHMENT_TYPES.contains(k)) {
        Some(k) => Some(k),
        None => {
            let seen = describe_content(&u.bytes);
            errs.push(
                &field,
                Invalid::new(
                    "file_type",
                    format!(
                        "{}: tệp \"{shown}\" có nội dung {seen}; chỉ nhận PDF, JPEG hoặc PNG",
                        c.name
                    ),
                    format!(
                        "{}: the file \"{shown}\" contains {seen}; only PDF, JPEG or PNG are accepted",
                        c.name
                    ),
                ),
            );
            None
        }
    }
}

/// A size for people: `850 KB`, `2.4 MB`.
pub fn size_text(bytes: i64) -> String {
    if bytes < 1024 * 1024 {
        format!("{} KB", (bytes + 1023) / 1024)
    } else {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    }
}

/// An upload checked and ready to store.
struct Checked<'a> {
    upload: &'a Upload,
    kind: MediaType,
    sha256: String,
}

/// Check every upload (nothing written); totals include `existing` (bytes, files) already on
/// the dossier. Duplicate (component, content) pairs count once.
fn check_uploads<'a>(
    p: &Procedure,
    uploads: &'a [Upload],
    existing: (i64, i64),
    errs: &mut FieldErrors,
) -> Vec<Checked<'a>> {
    let mut out: Vec<Checked<'a>> = Vec::new();
    for u in uploads {
        if let Some(kind) = check_upload(p, u, errs) {
            let sha256 = hex::encode(Sha256::digest(&u.bytes));
            if !out
                .iter()
                .any(|c| c.sha256 == sha256 && c.upload.component_id == u.component_id)
            {
                out.push(Checked {
                    upload: u,
                    kind,
                    sha256,
                });
            }
        }
    }
    let bytes: i64 = existing.0 + out.iter().map(|c| c.upload.bytes.len() as i64).sum::<i64>();
    let count = existing.1 + out.len() as i64;
    if let Some(last) = out.last() {
        if bytes > MAX_DOSSIER_BYTES || count > MAX_DOSSIER_FILES {
            errs.push(
                &file_field(&last.upload.component_id),
                Invalid::new(
                    "files_total_too_large",
                    format!(
                        "Tổng các tệp đính kèm của hồ sơ tối đa {} và {} tệp (đang là {}, {} tệp)",
                        size_text(MAX_DOSSIER_BYTES),
                        MAX_DOSSIER_FILES,
                        size_text(bytes),
                        count
                    ),
                    format!(
                        "A dossier's attachments total at most {} and {} files (now {}, {} files)",
                        size_text(MAX_DOSSIER_BYTES),
                        MAX_DOSSIER_FILES,
                        size_text(bytes),
                        count
                    ),
                ),
            );
        }
    }
    out
}

/// An upload ready to record: where it is (its address, size and type) and, when it is small
/// enough to be kept in the database ([`FileStore::keeps_inline`]), its bytes.
struct Stored {
    file: FileRef,
    content: Option<Vec<u8>>,
}

/// Write checked uploads to the file store, without the database (content-addressed: writing
/// twice is harmless, and a blob no dossier references is never served); [`link`] records
/// them. A small upload is not written: its bytes go with its `dossier_files` row, in the
/// transaction that records it.
async fn store_all(store: &FileStore, checked: &[Checked<'_>]) -> Result<Vec<Stored>, AppError> {
    let mut out = Vec::with_capacity(checked.len());
    for c in checked {
        let bytes = &c.upload.bytes;
        if store.keeps_inline(bytes.len()) {
            out.push(Stored {
                file: FileRef {
                    sha256: c.sha256.clone(),
                    size: bytes.len() as i64,
                    media_type: c.kind.mime().to_string(),
                },
                content: Some(bytes.clone()),
            });
            continue;
        }
        let r = store
            .write_checked(&file_field(&c.upload.component_id), bytes, ATTACHMENT_TYPES)
            .await?;
        if r.sha256 != c.sha256 {
            return Err(AppError::internal(
                "file store address differs from the digest",
            ));
        }
        out.push(Stored {
            file: r,
            content: None,
        });
    }
    Ok(out)
}

/// Files to record on a dossier, as the group writer records them ([`write_links`]).
struct NewLinks {
    ctx: Ctx,
    code: String,
    agency_code: String,
    owner: Option<String>,
    statuses: Vec<i64>,
    files: Vec<NewFile>,
    now: i64,
}

/// A stored file to record on a dossier.
struct NewFile {
    component_id: String,
    /// The component's name: the paper's title in the applicant's data store.
    title: String,
    /// The file name as cleaned for showing.
    file_name: String,
    file: FileRef,
    /// The bytes of a small file, kept on its `dossier_files` row; `None`: in the file store.
    content: Option<Vec<u8>>,
}

/// Checked uploads and where they are kept ([`store_all`]), as [`record_file`] takes them.
fn new_files(p: &Procedure, checked: &[Checked<'_>], stored: Vec<Stored>) -> Vec<NewFile> {
    checked
        .iter()
        .zip(stored)
        .map(|(c, s)| NewFile {
            component_id: c.upload.component_id.clone(),
            title: component_title(p, &c.upload.component_id),
            file_name: clean_file_name(&c.upload.file_name, c.kind),
            file: s.file,
            content: s.content,
        })
        .collect()
}

/// The dossier a file is recorded on, and by whom.
struct FileOwner<'a> {
    ctx: &'a Ctx,
    code: &'a str,
    agency_code: &'a str,
    /// The signed-in applicant, whose data store keeps a copy.
    owner: Option<&'a str>,
    now: i64,
}

/// Record one file on a dossier: the file store's `files` row (a file in the store; a small
/// file's bytes go on its `dossier_files` row instead), the `dossier_files` row, the
/// applicant's data-store copy and a `dossier.attach` audit entry. `None` when this content
/// was already attached to the component (a retry: nothing new). The dossier's totals are the
/// caller's.
async fn record_file(
    tx: &mut impl Journal,
    on: &FileOwner<'_>,
    f: &NewFile,
) -> Result<Option<Attachment>, AppError> {
    let r = &f.file;
    if f.content.is_none() {
        tinhso_store::files::record_in(tx, r).await?;
    }
    let added = tx.execute(
        "INSERT INTO dossier_files (dossier_code, component_id, sha256, media_type, size, file_name, added_at, content) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dossier_code, component_id, sha256) DO NOTHING",
        &[
            Param::Text(on.code),
            Param::Text(&f.component_id),
            Param::Text(&r.sha256),
            Param::Text(&r.media_type),
            Param::Int(r.size),
            Param::Text(&f.file_name),
            Param::Int(on.now),
            Param::OptBytes(f.content.as_deref()),
        ],
    ).await?;
    if added == 0 {
        return Ok(None);
    }
    // The signed-in applicant's papers go into their data store for reuse (Decree 45/2020):
    // the component's name is the document's title.
    if let Some(owner) = on.owner {
        crate::results::remember_in(tx, owner, &f.title, r, on.code, on.now).await?;
    }
    tx.audit(&on.ctx.entry(
        "dossier.attach",
        "dossier",
        on.code,
        on.agency_code,
        serde_json::json!({"after": {"component": f.component_id, "sha256": r.sha256,
            "media_type": r.media_type, "size": r.size, "file_name": f.file_name}}),
    ))
    .await?;
    Ok(Some(Attachment {
        component_id: f.component_id.clone(),
        component_name: String::new(),
        sha256: r.sha256.clone(),
        media_type: r.media_type.clone(),
        size: r.size,
        file_name: f.file_name.clone(),
        added_at: on.now,
    }))
}

/// Record stored files on a dossier (group commit), with one `dossier.attach` audit entry per
/// file newly recorded: the dossier's row is locked (and must still be in one of `statuses`),
/// and the totals are checked again under the lock.
async fn link(
    db: &Db,
    ctx: &Ctx,
    p: &Procedure,
    d: &Dossier,
    statuses: &[Status],
    checked: &[Checked<'_>],
    stored: Vec<Stored>,
) -> Result<Vec<Attachment>, AppError> {
    let new = NewLinks {
        ctx: ctx.clone(),
        code: d.code.clone(),
        agency_code: d.agency_code.clone(),
        owner: d.applicant_user_id.clone(),
        statuses: statuses.iter().map(|s| s.code()).collect(),
        files: new_files(p, checked, stored),
        now: now_micros(),
    };
    db.write_grouped_native(move |tx| Box::pin(async move { write_links(tx, &new).await }))
        .await
}

async fn write_links(tx: &mut impl Journal, n: &NewLinks) -> Result<Vec<Attachment>, AppError> {
    let on = FileOwner {
        ctx: &n.ctx,
        code: &n.code,
        agency_code: &n.agency_code,
        owner: n.owner.as_deref(),
        now: n.now,
    };
    let mut out = Vec::new();
    for f in &n.files {
        out.extend(record_file(tx, &on, f).await?);
    }
    // One statement locks the dossier, checks it is still in one of `statuses` and moves its
    // totals; anything above the limits is an error, which undoes this item's writes.
    let in_list = n
        .statuses
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let add_bytes: i64 = out.iter().map(|a| a.size).sum();
    let add_count = out.len() as i64;
    let row = tx
        .row(
            &format!(
                "UPDATE dossiers SET updated_at = $1, files_bytes = files_bytes + $3, \
                 files_count = files_count + $4 WHERE code = $2 AND status IN ({in_list}) \
                 RETURNING files_bytes, files_count"
            ),
            &[
                Param::Int(n.now),
                Param::Text(&n.code),
                Param::Int(add_bytes),
                Param::Int(add_count),
            ],
            |r| Ok((r.int(0)?, r.int(1)?)),
        )
        .await?;
    let Some((total_bytes, total_count)) = row else {
        return Err(changed_meanwhile(DOSSIER));
    };
    // The first new file that takes the dossier over a limit names the field.
    let (mut bytes, mut count) = (total_bytes - add_bytes, total_count - add_count);
    for a in &out {
        bytes += a.size;
        count += 1;
        if bytes > MAX_DOSSIER_BYTES || count > MAX_DOSSIER_FILES {
            return Err(AppError::field(
                file_field(&a.component_id),
                Invalid::new(
                    "files_total_too_large",
                    format!(
                        "Tổng các tệp đính kèm của hồ sơ tối đa {} và {} tệp",
                        size_text(MAX_DOSSIER_BYTES),
                        MAX_DOSSIER_FILES
                    ),
                    format!(
                        "A dossier's attachments total at most {} and {} files",
                        size_text(MAX_DOSSIER_BYTES),
                        MAX_DOSSIER_FILES
                    ),
                ),
            ));
        }
    }
    Ok(out)
}

/// The title a component's paper takes in the data store: the component's name.
fn component_title(p: &Procedure, component_id: &str) -> String {
    p.components
        .iter()
        .find(|c| c.id == component_id)
        .map(|c| c.name.clone())
        .unwrap_or_else(|| component_id.to_string())
}

/// The statuses in which `who` may attach files to `d`, after checking an officer's right.
async fn attach_statuses(
    db: &Db,
    d: &Dossier,
    who: ActingAs<'_>,
) -> Result<&'static [Status], AppError> {
    match who {
        // The applicant adds files while the dossier awaits acceptance or answers a request
        // to supplement it.
        ActingAs::Applicant { .. } => Ok(&[Status::Submitted, Status::SupplementRequested]),
        // The handling officers (the dossier's agency, or the one-stop desk receiving it), on
        // an open dossier: scanning papers handed in at the counter.
        ActingAs::Staff(p) => {
            let scope = scope_of(db, d).await?;
            authorize(Some(p), Permission::DossierProcess, &scope)?;
            Ok(&[
                Status::Submitted,
                Status::Accepted,
                Status::Processing,
                Status::SupplementRequested,
                Status::PaymentRequested,
            ])
        }
    }
}

/// Attach files to a dossier: every file is checked first (component, type sniffed from the
/// bytes, size, the dossier's totals) and nothing is written unless all pass; then the files
/// are stored and recorded in one transaction, each audited as `dossier.attach`. The
/// applicant (proven by the caller: lookup code or owner) may attach while the dossier is
/// submitted (1) or answering a supplement request (5); officers with the processing right
/// on the dossier while it is open. Attaching the same content to the same component again
/// changes nothing.
pub async fn attach_all(
    db: &Db,
    store: &FileStore,
    ctx: &Ctx,
    code: &str,
    who: ActingAs<'_>,
    uploads: &[Upload],
) -> Result<Vec<Attachment>, AppError> {
    let d = get(db, code).await?.ok_or_else(AppError::not_found)?;
    attach_all_to(db, store, ctx, &d, who, uploads).await
}

/// [`attach_all`] to a dossier the caller has just loaded (its status and totals are checked
/// again when the files are recorded).
pub async fn attach_all_to(
    db: &Db,
    store: &FileStore,
    ctx: &Ctx,
    d: &Dossier,
    who: ActingAs<'_>,
    uploads: &[Upload],
) -> Result<Vec<Attachment>, AppError> {
    let statuses = attach_statuses(db, d, who).await?;
    let status = Status::from_code(d.status).ok_or_else(|| AppError::internal("bad status"))?;
    if !statuses.contains(&status) {
        return Err(AppError::new(ErrorCode::Conflict).with_detail(
            format!(
                "Không thể đính kèm tệp khi hồ sơ đang ở trạng thái \"{}\"",
                status.name_vi()
            ),
            format!(
                "Files cannot be attached to a dossier that is \"{}\"",
                status.name_en()
            ),
        ));
    }
    let p = catalogue::version_arc(db, &d.procedure_code, d.procedure_version)
        .await?
        .ok_or_else(|| AppError::internal("procedure version missing"))?;
    // The totals as loaded with the dossier (checked again under the lock when recorded).
    let existing_totals = (d.files_bytes, d.files_count);
    let mut errs = FieldErrors::new();
    if uploads.is_empty() {
        errs.push(
            "file",
            Invalid::new("required", "Chưa chọn tệp", "No file chosen"),
        );
    }
    let checked = check_uploads(&p, uploads, existing_totals, &mut errs);
    errs.into_result()?;
    let stored = store_all(store, &checked).await?;
    let mut out = link(db, ctx, &p, d, statuses, &checked, stored).await?;
    name_components(&p, &mut out);
    Ok(out)
}

/// Attach one file: [`attach_all`] with one upload. Returns the attachment (the existing one
/// when this content was already attached to the component).
pub async fn attach(
    db: &Db,
    store: &FileStore,
    ctx: &Ctx,
    code: &str,
    who: ActingAs<'_>,
    upload: &Upload,
) -> Result<Attachment, AppError> {
    let d = get(db, code).await?.ok_or_else(AppError::not_found)?;
    attach_to(db, store, ctx, &d, who, upload).await
}

/// [`attach`] to a dossier the caller has just loaded.
pub async fn attach_to(
    db: &Db,
    store: &FileStore,
    ctx: &Ctx,
    d: &Dossier,
    who: ActingAs<'_>,
    upload: &Upload,
) -> Result<Attachment, AppError> {
    let added = attach_all_to(db, store, ctx, d, who, std::slice::from_ref(upload)).await?;
    if let Some(a) = added.into_iter().next() {
        return Ok(a);
    }
    let sha = hex::encode(Sha256::digest(&upload.bytes));
    files(db, &d.code)
        .await?
        .into_iter()
        .find(|a| a.sha256 == sha && a.component_id == upload.component_id)
        .ok_or_else(|| AppError::internal("attachment vanished"))
}

fn name_components(p: &Procedure, list: &mut [Attachment]) {
    for a in list {
        a.component_name = p
            .components
            .iter()
            .find(|c| c.id == a.component_id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| a.component_id.clone());
    }
}

/// Validate a submission (applicant, e-form, commune) without writing: every problem goes to
/// `errs`; the parts come back normalised, with the handling agency when the commune is right.
async fn check_submission(
    db: &Db,
    p: &Procedure,
    s: &Submission,
    errs: &mut FieldErrors,
) -> Result<ValidSubmission, AppError> {
    let applicant = validate_applicant(&s.applicant, errs);
    let form = crate::eform::validate(&p.eform, &s.form, errs);
    let agency = match handling_agency(db, p, s.commune_code.as_deref()).await {
        Ok(a) => Some(a),
        Err(e) if e.code == ErrorCode::ValidationFailed => {
            for f in e.fields {
                errs.push(&f.field, Invalid::new(f.code, f.message_vi, f.message_en));
            }
            None
        }
        Err(e) => return Err(e),
    };
    Ok(ValidSubmission {
        applicant,
        form,
        agency,
    })
}

/// Submit a dossier with its files in one transaction (one group-commit item): the submission
/// and every file are validated first (component, type sniffed from the bytes, size, totals,
/// and — online — every component the applicant must upload, see [`upload_required`]), all
/// problems reported at once, and nothing is written on any of them. Then the files are
/// written to the file store (content-addressed; a blob no row references is never served)
/// and the dossier, its first event and its files are recorded together, or not at all. A
/// retry with the same idempotency key returns the first dossier with its files and writes
/// nothing, not even to the file store.
pub async fn submit_with_files(
    db: &Db,
    store: &FileStore,
    ctx: &Ctx,
    by: Option<&Principal>,
    s: &Submission,
    uploads: &[Upload],
) -> Result<Receipt, AppError> {
    if let Some(r) = replay_of(db, s).await? {
        return Ok(r);
    }
    let gens = crate::read_cache::generations(db).await?;
    let Some(current) = catalogue::current_cached(db, gens, &s.procedure_code)
        .await?
        .filter(|v| v.active)
    else {
        // Unknown or withdrawn procedure: `submit` says so.
        return submit(db, ctx, by, s).await;
    };
    let procedure = current.procedure.clone();
    let p = &*procedure;
    let mut errs = FieldErrors::new();
    let valid = check_submission(db, p, s, &mut errs).await?;
    let checked = check_uploads(p, uploads, (0, 0), &mut errs);
    if s.channel == Channel::Online {
        for c in p.components.iter().filter(|c| upload_required(c)) {
            let given = uploads.iter().any(|u| u.component_id == c.id);
            if !given {
                errs.push(
                    &file_field(&c.id),
                    Invalid::new(
                        "file_required",
                        format!("Vui lòng đính kèm {}", c.name),
                        format!("Please attach: {}", c.name),
                    ),
                );
            }
        }
    }
    errs.into_result()?;
    let stored = store_all(store, &checked).await?;
    // What was read and checked is not read or checked again.
    let pre = Prechecked {
        gens,
        current,
        valid,
    };
    submit_in(db, ctx, by, s, Some(pre), new_files(p, &checked, stored)).await
}

/// The files attached to a dossier, oldest first (no access check: callers check).
pub async fn files(db: &Db, code: &str) -> Result<Vec<Attachment>, AppError> {
    let rows = sqlx::query(
        "SELECT f.component_id, f.sha256, f.media_type, f.size, f.file_name, f.added_at, \
         d.procedure_code, d.procedure_version \
         FROM dossier_files f JOIN dossiers d ON d.code = f.dossier_code \
         WHERE f.dossier_code = $1 ORDER BY f.added_at, f.component_id, f.sha256",
    )
    .bind(code)
    .fetch_all(db.pool())
    .await
    .map_err(DbError::from)?;
    let mut out = Vec::with_capacity(rows.len());
    let mut procedure: Option<(String, i64)> = None;
    for r in &rows {
        let g = |e: sqlx::Error| AppError::from(DbError::from(e));
        procedure = Some((r.try_get(6).map_err(g)?, r.try_get(7).map_err(g)?));
        out.push(Attachment {
            component_id: r.try_get(0).map_err(g)?,
            component_name: String::new(),
            sha256: r.try_get(1).map_err(g)?,
            media_type: r.try_get(2).map_err(g)?,
            size: r.try_get(3).map_err(g)?,
            file_name: r.try_get(4).map_err(g)?,
            added_at: r.try_get(5).map_err(g)?,
        });
    }
    if let Some((pc, pv)) = procedure {
        if let Some(p) = catalogue::version_arc(db, &pc, pv).await? {
            name_components(&p, &mut out);
        }
    }
    Ok(out)
}

/// One attached file and its bytes, by its SHA-256 (no access check: callers check). A file
/// not attached to this dossier is not found, even when stored for another.
pub async fn read_file(
    db: &Db,
    store: &FileStore,
    code: &str,
    sha256: &str,
) -> Result<(Attachment, Vec<u8>), AppError> {
    let a = files(db, code)
        .await?
        .into_iter()
        .find(|a| a.sha256 == sha256)
        .ok_or_else(AppError::not_found)?;
    let bytes = file_bytes(db, store, code, &a.sha256).await?;
    Ok((a, bytes))
}

/// The bytes of file `sha256` attached to dossier `code` (nội dung tệp đính kèm; no access
/// check): from its `dossier_files` row when it was small enough to be kept there, else from
/// the file store; checked against its address either way.
pub async fn file_bytes(
    db: &Db,
    store: &FileStore,
    code: &str,
    sha256: &str,
) -> Result<Vec<u8>, AppError> {
    let kept: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT content FROM dossier_files \
         WHERE dossier_code = $1 AND sha256 = $2 AND content IS NOT NULL LIMIT 1",
    )
    .bind(code)
    .bind(sha256)
    .fetch_optional(db.pool())
    .await
    .map_err(DbError::from)?;
    match kept {
        Some(bytes) => {
            tinhso_store::files::check_address(sha256, &bytes)?;
            Ok(bytes)
        }
        None => store.get(sha256).await,
    }
}
