//! Electronic results (kết quả giải quyết thủ tục hành chính điện tử).
//!
//! When the leader approves a dossier whose procedure issues an electronic result, the result
//! is built before the approval's transaction ([`build`]: signing and, with a TSA, the
//! time-stamp — network calls that must not hold a writer) and recorded in it ([`take_number`],
//! [`record_in`]: only writes, in the approval's group-commit item), so the approval and the
//! result commit or fail together:
//!
//! 1. a number (số văn bản): the agency's counter for the year is read when building and taken
//!    in the transaction only if still unchanged (else another approval took that number
//!    meanwhile, and the result is built again with the next one — numbers have no gaps);
//! 2. a payload — every fact the document shows, as canonical JSON — is signed with the
//!    agency's key and with the approving leader's own key (ed25519, keys sealed under the
//!    platform master key, see `tinhso_identity::keys`);
//! 3. the PDF is made ([`crate::documents::result_pdf`]) with the payload and both signatures
//!    embedded in its information dictionary and a QR code to the public verification page
//!    `/xac-thuc/{id}`, where `id` is an unguessable 20-character code;
//! 4. the PDF goes to the file store, the record to `dossier_results`, and — when the
//!    applicant was signed in — a copy to their personal data store (kho dữ liệu).
//!
//! [`verify`] checks both signatures against the key registry, whether a key was revoked
//! before the result was issued, and whether the result itself was revoked ([`revoke`]). The
//! verification page shows only what the document itself shows.

use crate::catalogue::Procedure;
use crate::documents::{self, Issuer, Line, ResultDoc};
use crate::dossier::Dossier;
use crate::pades::{self, PadesReport, SigningIdentity};
use crate::signing_certs::{self, StoredCertificate};
use chrono::{Datelike, NaiveDateTime};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use tinhso_identity::keys;
use tinhso_identity::Principal;
use tinhso_kernel::{text, AppError, ErrorCode};
use tinhso_refdata::agencies::{self, Agency};
use tinhso_store::audit::Ctx;
use tinhso_store::files::{FileRef, FileStore, MediaType};
use tinhso_store::native::Param;
use tinhso_store::{now_micros, Db, DbError, Exec, Journal};

/// Where generated results go and how their QR codes reach the verification page.
#[derive(Debug, Clone, Copy)]
pub struct Issuing<'a> {
    pub files: &'a FileStore,
    /// The portal's public address, e.g. `https://dichvucong.langson.gov.vn`.
    pub public_url: &'a str,
    /// The time-stamp authority for PAdES-B-T (`[pades] tsa_url`); `None`: PAdES-B-B.
    pub tsa: Option<&'a tinhso_tsa::TsaClient>,
}

/// The verification path of a result.
pub fn verify_path(id: &str) -> String {
    format!("/xac-thuc/{id}")
}

/// What is signed: every fact the document shows, in a fixed order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Payload {
    /// Format version.
    pub v: u32,
    pub id: String,
    pub number: String,
    pub title: String,
    pub dossier: String,
    pub procedure_code: String,
    pub procedure: String,
    pub agency_code: String,
    pub agency: String,
    pub holder: String,
    /// Local time of signing, `YYYY-MM-DDTHH:MM:SS+07:00`.
    pub issued_at: String,
    pub signer: String,
    pub decision: String,
    pub details: Vec<(String, String)>,
}

/// A stored result.
#[derive(Debug, Clone, Serialize)]
pub struct ResultRecord {
    pub id: String,
    pub dossier_code: String,
    pub agency_code: String,
    pub number: String,
    pub title: String,
    pub holder_name: String,
    #[serde(skip)]
    pub holder_user_id: Option<String>,
    pub issued_at: i64,
    pub signer_name: String,
    pub payload: String,
    pub agency_key_id: String,
    pub agency_public_key: String,
    pub agency_signature: String,
    pub signer_key_id: String,
    pub signer_public_key: String,
    pub signer_signature: String,
    pub file_sha256: String,
    pub file_size: i64,
    pub first_downloaded_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
    /// The agency certificate whose PAdES signature the PDF carries, if any.
    pub pades_certificate_id: Option<String>,
}

const ID_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ID_LEN: usize = 20;

/// A new verification code: 20 Crockford base-32 characters (100 random bits).
fn new_id() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..ID_LEN)
        .map(|_| char::from(ID_ALPHABET[rng.gen_range(0..ID_ALPHABET.len())]))
        .collect()
}

/// Whether `s` looks like a verification code (cheap check before touching the database).
pub fn is_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| ID_ALPHABET.contains(&b))
}

/// The verification code grouped for reading aloud: `ABCDE-FGHJK-…`.
pub fn grouped(id: &str) -> String {
    id.as_bytes()
        .chunks(5)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// The document title from the procedure's result description: the part before any
/// parenthesis, semicolon or slash ("Giấy khai sinh (bản chính, bản điện tử); …" → "Giấy khai
/// sinh").
pub fn title_of(p: &Procedure) -> String {
    let name = p.result.name.as_str();
    let cut = name
        .find([';', '(', '/'])
        .map(|i| &name[..i])
        .unwrap_or(name)
        .trim();
    if cut.is_empty() {
        "Kết quả giải quyết thủ tục hành chính".to_string()
    } else {
        cut.to_string()
    }
}

fn local(micros: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp_micros(micros + 7 * 3600 * 1_000_000)
        .map(|d| d.naive_utc())
        .unwrap_or_default()
}

/// Facts printed under "Thông tin chi tiết": the e-form's fields with their labels, select
/// values shown by their option labels; empty values left out.
fn details(d: &Dossier, p: &Procedure) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in &p.eform {
        let Some(v) = d.form.get(&f.name) else {
            continue;
        };
        let raw = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => continue,
            // Whole numbers print without ".0"; others as typed.
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", x as i64),
                _ => n.to_string(),
            },
            other => other.to_string(),
        };
        if raw.trim().is_empty() {
            continue;
        }
        let shown = f
            .options
            .as_ref()
            .and_then(|o| o.iter().find(|o| o.value == raw))
            .map(|o| o.label.clone())
            .unwrap_or(raw);
        out.push((f.label.clone(), shown));
    }
    out
}

fn signer_heading(a: &Agency) -> String {
    if a.kind.starts_with("ubnd") {
        "TM. Ủy ban nhân dân".to_string()
    } else {
        "Thủ trưởng cơ quan".to_string()
    }
}

/// The heading of a document issued by `agency_code`: the agency, its name and its parent's.
pub async fn issuer_of(db: &Db, agency_code: &str) -> Result<(Agency, Issuer), AppError> {
    let agency = agencies::get(db, agency_code)
        .await?
        .ok_or_else(AppError::not_found)?;
    issuer_for(db, agency).await
}

/// [`issuer_of`] an agency the caller has already read (only its parent's name is read).
async fn issuer_for(db: &Db, agency: Agency) -> Result<(Agency, Issuer), AppError> {
    let parent_name = match &agency.parent_code {
        Some(pc) => agencies::get(db, pc)
            .await?
            .map(|a| a.name)
            .unwrap_or_default(),
        None => String::new(),
    };
    let issuer = Issuer {
        parent_name,
        name: agency.name.clone(),
        place: "Lạng Sơn".to_string(),
    };
    Ok((agency, issuer))
}

/// What approval needs ready before its transaction: the agency and its heading, and the
/// agency's signing key (created on first use in its own transaction).
pub struct Prepared {
    agency: Agency,
    issuer: Issuer,
    /// The agency's certificate valid now, when it has one: the PDF then also carries a
    /// PAdES signature ([`crate::pades`]).
    certificate: Option<(StoredCertificate, std::sync::Arc<SigningIdentity>)>,
    /// The agency's platform signing key, read and unsealed once (created on first use).
    agency_key: keys::LoadedKey,
}

pub async fn prepare(db: &Db, agency_code: &str) -> Result<Prepared, AppError> {
    let agency = agencies::get(db, agency_code)
        .await?
        .ok_or_else(AppError::not_found)?;
    prepare_for(db, agency).await
}

/// [`prepare`] for an agency the caller has already read (the approval read it for the
/// officer's scope).
pub(crate) async fn prepare_for(db: &Db, agency: Agency) -> Result<Prepared, AppError> {
    let agency_key = keys::agency_key(db, &agency.code).await?;
    let certificate = signing_certs::active(db, &agency.code, now_micros()).await?;
    let (agency, issuer) = issuer_for(db, agency).await?;
    Ok(Prepared {
        agency,
        issuer,
        certificate,
        agency_key,
    })
}

/// A result built, signed and (with a TSA) time-stamped ahead of the approval's transaction,
/// under the number its agency's counter would give next; [`record_in`] writes it.
pub struct Built {
    /// The counter's value this result's number was read after (the number is `claimed + 1`).
    claimed: i64,
    year: i64,
    /// The PDF, already in the file store (content-addressed: unreferenced until
    /// [`record_in`] records it).
    file: FileRef,
    certificate_id: Option<String>,
    timestamping: pades::Timestamping,
    record: ResultRecord,
    /// The request's audit context (actor, request id).
    ctx: Ctx,
    /// The time-stamp authority's address when one was configured ([`Issuing::tsa`]).
    tsa_url: Option<String>,
}

/// Build the result of `d`: its number (the agency's next, read — not yet taken), payload, the
/// platform's two signatures, the PDF with its PAdES signature and, with a TSA, its time-stamp,
/// and the PDF written to the file store (hashing and writing ~100 KB). Nothing is written to
/// the database: this is what may take long (the TSA), so it runs before the approval's
/// transaction. `decision` is what the leader wrote (the standard sentence when empty).
#[allow(clippy::too_many_arguments)]
pub async fn build(
    db: &Db,
    ctx: &Ctx,
    issuing: Issuing<'_>,
    prep: &Prepared,
    d: &Dossier,
    p: &Procedure,
    signer: &Principal,
    signer_key: &keys::LoadedKey,
    decision: &str,
    now: i64,
) -> Result<Built, AppError> {
    let at = local(now);
    let year = i64::from(at.year());
    let claimed: i64 =
        sqlx::query_scalar("SELECT n FROM result_counters WHERE agency_code = $1 AND year = $2")
            .bind(&d.agency_code)
            .bind(year)
            .fetch_optional(db.pool())
            .await
            .map_err(DbError::from)?
            .unwrap_or(0);
    let n = claimed + 1;
    let number = format!("{n:05}/{year}/KQĐT");
    let id = new_id();
    let title = title_of(p);
    let decision = match text::clean(decision) {
        s if s.chars().filter(|c| !c.is_whitespace()).count() >= 5 => s,
        _ => format!(
            "Chấp thuận đề nghị của {} theo hồ sơ số {}. Kết quả: {}.",
            d.applicant.name, d.code, p.result.name
        ),
    };
    let payload = Payload {
        v: 1,
        id: id.clone(),
        number: number.clone(),
        title: title.clone(),
        dossier: d.code.clone(),
        procedure_code: p.code.clone(),
        procedure: p.name.clone(),
        agency_code: d.agency_code.clone(),
        agency: prep.agency.name.clone(),
        holder: d.applicant.name.clone(),
        issued_at: at.format("%Y-%m-%dT%H:%M:%S+07:00").to_string(),
        signer: signer.display_name.clone(),
        decision,
        details: details(d, p),
    };
    let payload_json = serde_json::to_string(&payload).map_err(AppError::internal)?;
    // Both keys were read and unsealed once, before (the agency's by `prepare`, the leader's
    // for the approval's event too).
    let agency_sig = prep.agency_key.sign(payload_json.as_bytes());
    let signer_sig = signer_key.sign(payload_json.as_bytes());
    let verify_url = format!(
        "{}{}",
        issuing.public_url.trim_end_matches('/'),
        verify_path(&id)
    );
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let submitted = local(d.submitted_at).format("%d/%m/%Y").to_string();
    let doc = ResultDoc {
        issuer: prep.issuer.clone(),
        number: number.clone(),
        title: title.clone(),
        date: (at.day(), at.month(), at.year()),
        procedure: p.name.clone(),
        procedure_code: p.code.clone(),
        dossier_code: d.code.clone(),
        holder: d.applicant.name.clone(),
        submitted,
        decision: payload.decision.clone(),
        details: payload
            .details
            .iter()
            .map(|(l, v)| Line::new(l, v))
            .collect(),
        signer_heading: signer_heading(&prep.agency),
        signer_name: signer.display_name.clone(),
        signed_at: at.format("%H:%M:%S ngày %d/%m/%Y (UTC+7)").to_string(),
        agency_key: short_key(&agency_sig.public_key),
        signer_key: short_key(&signer_sig.public_key),
        verify_url,
        verify_code: grouped(&id),
        embedded: vec![
            ("TinhSoResultId".into(), id.clone()),
            ("TinhSoPayload".into(), b64(&payload_json)),
            ("TinhSoAgencyKey".into(), agency_sig.key_id.clone()),
            ("TinhSoAgencySignature".into(), agency_sig.signature.clone()),
            ("TinhSoSignerKey".into(), signer_sig.key_id.clone()),
            ("TinhSoSignerSignature".into(), signer_sig.signature.clone()),
        ],
    };
    // With a certificate valid now, the PDF also carries a PAdES signature any PDF reader
    // checks; without one, only the platform's signatures above.
    //
    // With a TSA configured, the signature is also time-stamped (PAdES-B-T). This runs before
    // the approval's transaction opens, so a slow TSA (up to `[pades] tsa_timeout_ms`) holds
    // up no writer; a TSA that fails never blocks the result: it is issued PAdES-B-B and the
    // failure is recorded (`pades_result_timestamps`).
    let (pdf, certificate_id, timestamping) = match &prep.certificate {
        Some((cert, identity)) if !cert.expired(now) && !cert.not_yet_valid(now) => {
            let (signed, ts) = pades::sign_pdf_timestamped(
                documents::result_document(&doc),
                identity,
                &format!("Ban hành {title} số {number}"),
                &prep.issuer.place,
                u64::try_from(now / 1_000_000).unwrap_or(0),
                issuing.tsa,
            )
            .await
            .map_err(AppError::internal)?;
            (signed, Some(cert.id.clone()), ts)
        }
        _ => (
            documents::result_pdf(&doc),
            None,
            pades::Timestamping::NotConfigured,
        ),
    };
    // The file before the transaction, as an attachment's: a rollback (or a number taken
    // meanwhile) leaves an unreferenced content-addressed file, never a record without its file.
    let file = issuing
        .files
        .write_checked("result", &pdf, &[MediaType::Pdf])
        .await?;
    Ok(Built {
        claimed,
        year,
        file,
        certificate_id: certificate_id.clone(),
        timestamping,
        ctx: ctx.clone(),
        tsa_url: issuing.tsa.map(|t| t.url().to_string()),
        record: ResultRecord {
            id,
            dossier_code: d.code.clone(),
            agency_code: d.agency_code.clone(),
            number,
            title,
            holder_name: d.applicant.name.clone(),
            holder_user_id: d.applicant_user_id.clone(),
            issued_at: now,
            signer_name: signer.display_name.clone(),
            payload: payload_json,
            agency_key_id: agency_sig.key_id,
            agency_public_key: agency_sig.public_key,
            agency_signature: agency_sig.signature,
            signer_key_id: signer_sig.key_id,
            signer_public_key: signer_sig.public_key,
            signer_signature: signer_sig.signature,
            file_sha256: String::new(),
            file_size: 0,
            first_downloaded_at: None,
            revoked_at: None,
            revoked_reason: None,
            pades_certificate_id: certificate_id,
        },
    })
}

/// Take a [`Built`] result's number in the approval's transaction (or its group-commit item):
/// `false`, with nothing written, when another approval of the agency took it meanwhile —
/// build again. Then [`record_in`] writes the rest.
pub async fn take_number(tx: &mut impl Exec, b: &Built) -> Result<bool, AppError> {
    let r = &b.record;
    let taken = if b.claimed == 0 {
        tx.execute(
            "INSERT INTO result_counters (agency_code, year, n) VALUES ($1, $2, 1) \
             ON CONFLICT (agency_code, year) DO NOTHING",
            &[Param::Text(&r.agency_code), Param::Int(b.year)],
        )
        .await?
    } else {
        tx.execute(
            "UPDATE result_counters SET n = n + 1 WHERE agency_code = $1 AND year = $2 AND n = $3",
            &[
                Param::Text(&r.agency_code),
                Param::Int(b.year),
                Param::Int(b.claimed),
            ],
        )
        .await?
    };
    Ok(taken > 0)
}

/// Write a [`Built`] result whose number [`take_number`] took, in the same transaction (only
/// writes: it may run in a group-commit item): record its PDF (written to the file store by
/// [`build`]), the `dossier_results` row, the holder's data-store copy, the time-stamp's
/// outcome, audit `result.issue` and outbox `result.issued`. `signer_user_id` is the approving
/// leader's.
pub async fn record_in(
    tx: &mut impl Journal,
    b: &Built,
    signer_user_id: &str,
) -> Result<(), AppError> {
    let r = &b.record;
    let (file, certificate_id, timestamping, now) =
        (&b.file, &b.certificate_id, &b.timestamping, r.issued_at);
    let (id, number, title) = (&r.id, &r.number, &r.title);
    tinhso_store::files::record_in(tx, file).await?;
    tx.execute(
        "INSERT INTO dossier_results (id, dossier_code, agency_code, number, title, holder_name, holder_user_id, \
         issued_at, signer_user_id, signer_name, payload, agency_key_id, agency_public_key, agency_signature, \
         signer_key_id, signer_public_key, signer_signature, file_sha256, file_size, pades_certificate_id) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20)",
        &[
            Param::Text(id),
            Param::Text(&r.dossier_code),
            Param::Text(&r.agency_code),
            Param::Text(number),
            Param::Text(title),
            Param::Text(&r.holder_name),
            Param::OptText(r.holder_user_id.as_deref()),
            Param::Int(now),
            Param::Text(signer_user_id),
            Param::Text(&r.signer_name),
            Param::Text(&r.payload),
            Param::Text(&r.agency_key_id),
            Param::Text(&r.agency_public_key),
            Param::Text(&r.agency_signature),
            Param::Text(&r.signer_key_id),
            Param::Text(&r.signer_public_key),
            Param::Text(&r.signer_signature),
            Param::Text(&file.sha256),
            Param::Int(file.size),
            Param::OptText(certificate_id.as_deref()),
        ],
    )
    .await?;
    if let Some(owner) = &r.holder_user_id {
        tx.execute(
            "INSERT INTO personal_documents (id, owner_user_id, title, kind, file_sha256, media_type, size, \
             source_dossier, result_id, created_at) VALUES ($1,$2,$3,'result',$4,$5,$6,$7,$8,$9) \
             ON CONFLICT (owner_user_id, file_sha256) DO NOTHING",
            &[
                Param::Text(&uuid::Uuid::now_v7().to_string()),
                Param::Text(owner),
                Param::Text(&format!("{title} số {number}")),
                Param::Text(&file.sha256),
                Param::Text(&file.media_type),
                Param::Int(file.size),
                Param::Text(&r.dossier_code),
                Param::Text(id),
                Param::Int(now),
            ],
        )
        .await?;
    }
    let (ts_status, ts_row) = match (timestamping, b.tsa_url.as_deref()) {
        (pades::Timestamping::Stamped(stamp), Some(url)) => (
            "stamped",
            Some((
                url,
                Some(stamp.tsa_name.as_str()),
                Some(stamp.gen_time),
                None,
            )),
        ),
        (pades::Timestamping::Failed(e), Some(url)) => (
            "failed",
            Some((url, None, None, Some(format!("{} [{}]", e.en, e.code)))),
        ),
        _ => ("none", None),
    };
    if let Some((url, tsa_name, gen_time, error)) = ts_row {
        tx.execute(
            "INSERT INTO pades_result_timestamps (result_id, status, tsa_url, tsa_name, gen_time, error, attempted_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7)",
            &[
                Param::Text(id),
                Param::Text(ts_status),
                Param::Text(url),
                Param::OptText(tsa_name),
                Param::OptInt(gen_time),
                Param::OptText(error.as_deref()),
                Param::Int(now),
            ],
        )
        .await?;
    }
    tx.audit(&b.ctx.entry(
        "result.issue",
        "dossier",
        &r.dossier_code,
        &r.agency_code,
        serde_json::json!({"result": id, "number": number, "sha256": file.sha256,
            "agency_key": r.agency_key_id, "signer_key": r.signer_key_id,
            "pades_certificate": certificate_id, "pades_timestamp": ts_status}),
    ))
    .await?;
    tx.emit(
        "result.issued",
        &serde_json::json!({"dossier": r.dossier_code, "agency": r.agency_code, "result": id, "number": number}),
    )
    .await?;
    Ok(())
}

/// A public key as printed: its first 16 hex digits.
fn short_key(hex: &str) -> String {
    hex.chars().take(16).collect::<String>().to_uppercase()
}

const COLUMNS: &str = "id, dossier_code, agency_code, number, title, holder_name, holder_user_id, issued_at, \
    signer_name, payload, agency_key_id, agency_public_key, agency_signature, signer_key_id, signer_public_key, \
    signer_signature, file_sha256, file_size, first_downloaded_at, revoked_at, revoked_reason, pades_certificate_id";

fn from_row(r: &sqlx::any::AnyRow) -> Result<ResultRecord, AppError> {
    let g = |e| AppError::from(DbError::from(e));
    Ok(ResultRecord {
        id: r.try_get(0).map_err(g)?,
        dossier_code: r.try_get(1).map_err(g)?,
        agency_code: r.try_get(2).map_err(g)?,
        number: r.try_get(3).map_err(g)?,
        title: r.try_get(4).map_err(g)?,
        holder_name: r.try_get(5).map_err(g)?,
        holder_user_id: r.try_get(6).map_err(g)?,
        issued_at: r.try_get(7).map_err(g)?,
        signer_name: r.try_get(8).map_err(g)?,
        payload: r.try_get(9).map_err(g)?,
        agency_key_id: r.try_get(10).map_err(g)?,
        agency_public_key: r.try_get(11).map_err(g)?,
        agency_signature: r.try_get(12).map_err(g)?,
        signer_key_id: r.try_get(13).map_err(g)?,
        signer_public_key: r.try_get(14).map_err(g)?,
        signer_signature: r.try_get(15).map_err(g)?,
        file_sha256: r.try_get(16).map_err(g)?,
        file_size: r.try_get(17).map_err(g)?,
        first_downloaded_at: r.try_get(18).map_err(g)?,
        revoked_at: r.try_get(19).map_err(g)?,
        revoked_reason: r.try_get(20).map_err(g)?,
        pades_certificate_id: r.try_get(21).map_err(g)?,
    })
}

/// The result of a dossier, if one was issued.
pub async fn of_dossier(db: &Db, dossier_code: &str) -> Result<Option<ResultRecord>, AppError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM dossier_results WHERE dossier_code = $1"
    ))
    .bind(dossier_code)
    .fetch_optional(db.pool())
    .await
    .map_err(DbError::from)?;
    row.as_ref().map(from_row).transpose()
}

/// A result by its verification code; anything that is not a well-formed code is simply not
/// found.
pub async fn by_id(db: &Db, id: &str) -> Result<Option<ResultRecord>, AppError> {
    let id = id.trim().replace('-', "").to_uppercase();
    if !is_id(&id) {
        return Ok(None);
    }
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM dossier_results WHERE id = $1"
    ))
    .bind(&id)
    .fetch_optional(db.pool())
    .await
    .map_err(DbError::from)?;
    row.as_ref().map(from_row).transpose()
}

/// The PDF of a result, checked against its recorded digest by the file store.
pub async fn pdf(files: &FileStore, r: &ResultRecord) -> Result<Vec<u8>, AppError> {
    files.get(&r.file_sha256).await
}

/// Note the first download by the applicant (the result reached them electronically).
pub async fn mark_downloaded(db: &Db, r: &ResultRecord) -> Result<(), AppError> {
    if r.first_downloaded_at.is_some() {
        return Ok(());
    }
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE dossier_results SET first_downloaded_at = $1 WHERE id = $2 AND first_downloaded_at IS NULL",
    )
    .bind(now_micros())
    .bind(&r.id)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.commit().await?;
    Ok(())
}

/// The verdict on a result.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Verification {
    /// Both signatures check out with registered keys of the right owners, valid when signed,
    /// and the result is not revoked.
    pub valid: bool,
    pub agency_signature_ok: bool,
    pub signer_signature_ok: bool,
    pub revoked: bool,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
    /// What went wrong, in Vietnamese and English, when not valid.
    pub problems: Vec<(String, String)>,
    /// The facts the document shows (from the signed payload).
    pub payload: Option<Payload>,
}

fn key_problem(
    k: &Option<keys::RegisteredKey>,
    public_key: &str,
    owner_kind: &str,
    owner: &str,
    issued_at: i64,
) -> Option<(String, String)> {
    match k {
        None => Some((
            "khóa ký không có trong sổ đăng ký khóa".into(),
            "the signing key is not registered".into(),
        )),
        Some(k) if k.public_key != public_key || k.owner_kind != owner_kind || k.owner != owner => {
            Some((
                "khóa ký không thuộc về người ký hoặc cơ quan ghi trên văn bản".into(),
                "the signing key does not belong to the named signer or agency".into(),
            ))
        }
        Some(k) if k.revoked_at.is_some_and(|r| r <= issued_at) => Some((
            "khóa ký đã bị thu hồi trước khi ký".into(),
            "the signing key was revoked before signing".into(),
        )),
        Some(_) => None,
    }
}

/// Check a result's signatures and status.
pub async fn verify(db: &Db, r: &ResultRecord) -> Result<Verification, AppError> {
    let mut problems = Vec::new();
    let payload: Option<Payload> = serde_json::from_str(&r.payload).ok();
    let consistent = payload.as_ref().is_some_and(|p| {
        p.id == r.id
            && p.dossier == r.dossier_code
            && p.number == r.number
            && p.agency_code == r.agency_code
    });
    if !consistent {
        problems.push((
            "nội dung đã ký không khớp với bản ghi".into(),
            "the signed content does not match the record".into(),
        ));
    }
    let agency_ok = keys::verify(
        &r.agency_public_key,
        r.payload.as_bytes(),
        &r.agency_signature,
    );
    let signer_ok = keys::verify(
        &r.signer_public_key,
        r.payload.as_bytes(),
        &r.signer_signature,
    );
    if !agency_ok {
        problems.push((
            "chữ ký số của cơ quan không hợp lệ".into(),
            "the agency's signature is invalid".into(),
        ));
    }
    if !signer_ok {
        problems.push((
            "chữ ký số của người ký không hợp lệ".into(),
            "the signer's signature is invalid".into(),
        ));
    }
    let agency_key = keys::registered(db, &r.agency_key_id).await?;
    if let Some(p) = key_problem(
        &agency_key,
        &r.agency_public_key,
        "agency",
        &r.agency_code,
        r.issued_at,
    ) {
        problems.push(p);
    }
    let signer_user: Option<String> =
        sqlx::query_scalar("SELECT signer_user_id FROM dossier_results WHERE id = $1")
            .bind(&r.id)
            .fetch_optional(db.pool())
            .await
            .map_err(DbError::from)?;
    let signer_key = keys::registered(db, &r.signer_key_id).await?;
    if let Some(p) = key_problem(
        &signer_key,
        &r.signer_public_key,
        "person",
        signer_user.as_deref().unwrap_or_default(),
        r.issued_at,
    ) {
        problems.push(p);
    }
    let revoked = r.revoked_at.is_some();
    if revoked {
        problems.push((
            "văn bản đã bị thu hồi".into(),
            "the result was revoked".into(),
        ));
    }
    Ok(Verification {
        valid: problems.is_empty(),
        agency_signature_ok: agency_ok,
        signer_signature_ok: signer_ok,
        revoked,
        revoked_at: r.revoked_at,
        revoked_reason: r.revoked_reason.clone(),
        problems,
        payload,
    })
}

/// Revoke a result (thu hồi kết quả): the approving authority of the dossier's agency, with a
/// reason; audited. A revoked result stays verifiable and says so.
pub async fn revoke(
    db: &Db,
    ctx: &Ctx,
    dossier_code: &str,
    by: &Principal,
    reason: &str,
) -> Result<ResultRecord, AppError> {
    let d = crate::dossier::get(db, dossier_code)
        .await?
        .ok_or_else(AppError::not_found)?;
    let scope = crate::dossier::scope_of(db, &d).await?;
    tinhso_identity::authorize(
        Some(by),
        tinhso_identity::Permission::DossierApprove,
        &scope,
    )?;
    let reason = text::clean(reason);
    if reason.chars().filter(|c| !c.is_whitespace()).count() < 5 {
        return Err(AppError::field(
            "reason",
            tinhso_kernel::Invalid::new(
                "reason_required",
                "Vui lòng ghi rõ lý do thu hồi (ít nhất 5 ký tự)",
                "Please give the reason for revoking (at least 5 characters)",
            ),
        ));
    }
    let r = of_dossier(db, dossier_code)
        .await?
        .ok_or_else(AppError::not_found)?;
    if r.revoked_at.is_some() {
        return Err(AppError::new(ErrorCode::Conflict).with_detail(
            "Kết quả này đã bị thu hồi",
            "This result has already been revoked",
        ));
    }
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(
        "UPDATE dossier_results SET revoked_at = $1, revoked_reason = $2, revoked_by = $3 \
         WHERE id = $4 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(&reason)
    .bind(&by.user_id)
    .bind(&r.id)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?
    .rows_affected();
    if n == 0 {
        return Err(AppError::new(ErrorCode::Conflict).with_detail(
            "Kết quả này đã bị thu hồi",
            "This result has already been revoked",
        ));
    }
    tx.audit(&ctx.entry(
        "result.revoke",
        "dossier",
        dossier_code,
        &r.agency_code,
        serde_json::json!({"result": r.id, "number": r.number, "reason": reason}),
    ))
    .await?;
    tx.emit(
        "result.revoked",
        &serde_json::json!({"dossier": dossier_code, "agency": r.agency_code, "result": r.id}),
    )
    .await?;
    tx.commit().await?;
    of_dossier(db, dossier_code)
        .await?
        .ok_or_else(AppError::not_found)
}

/// Does `bytes` carry the given result's embedded code, and is it byte for byte the issued
/// file? (For the upload check on the verification page.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileCheck {
    /// Identical to the issued original.
    Identical,
    /// Carries this result's code but differs from the original: altered.
    Altered,
    /// Not this result's document.
    Other,
}

pub fn check_file(r: &ResultRecord, bytes: &[u8]) -> FileCheck {
    use sha2::Digest;
    if hex::encode(sha2::Sha256::digest(bytes)) == r.file_sha256 {
        return FileCheck::Identical;
    }
    match tinhso_pdf::custom_entry(bytes, "TinhSoResultId") {
        Some(id) if id == r.id => FileCheck::Altered,
        _ => FileCheck::Other,
    }
}

/// Check the PAdES signature embedded in a PDF (the issued file or an upload) against the
/// trust list (the imported CAs' roots and, in demo and tests, the provincial test CA), its
/// time-stamp against `tsa_trust` and the trust list, and the signer certificate against the
/// stored CRLs — fetching one from the certificate's distribution point first when none of
/// its issuer is current and the point is reachable ([`crate::revocation`]).
pub async fn check_pades(
    db: &Db,
    bytes: &[u8],
    tsa_trust: &tinhso_tsa::TrustedTsa,
) -> Result<PadesReport, AppError> {
    let anchors = signing_certs::trust_anchors(db).await?;
    let mut ctx = pades::VerifyContext {
        anchors,
        tsa_trust: tsa_trust.clone(),
        crls: crate::revocation::all(db).await?,
    };
    if let Some((leaf, issuer)) = pades::signer_and_issuer(bytes, &ctx.anchors) {
        if crate::revocation::fetch_for(db, &leaf, &issuer, now_micros()).await? {
            ctx.crls = crate::revocation::all(db).await?;
        }
    }
    Ok(pades::verify_pdf_with(bytes, &ctx))
}

/// Whether a result's signature was time-stamped when issued: `stamped` or `failed` (a TSA
/// was configured and failed: issued PAdES-B-B), with the TSA's address, name, time and the
/// error; `None` when no TSA was configured.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IssueTimestamp {
    pub status: String,
    pub tsa_url: String,
    pub tsa_name: Option<String>,
    pub gen_time: Option<i64>,
    pub error: Option<String>,
}

pub async fn issue_timestamp(db: &Db, result_id: &str) -> Result<Option<IssueTimestamp>, AppError> {
    let row = sqlx::query(
        "SELECT status, tsa_url, tsa_name, gen_time, error FROM pades_result_timestamps WHERE result_id = $1",
    )
    .bind(result_id)
    .fetch_optional(db.pool())
    .await
    .map_err(DbError::from)?;
    let g = |e| AppError::from(DbError::from(e));
    row.map(|r| {
        Ok(IssueTimestamp {
            status: r.try_get(0).map_err(g)?,
            tsa_url: r.try_get(1).map_err(g)?,
            tsa_name: r.try_get(2).map_err(g)?,
            gen_time: r.try_get(3).map_err(g)?,
            error: r.try_get(4).map_err(g)?,
        })
    })
    .transpose()
}

/// Put a stored file into `owner`'s data store inside the caller's transaction (a paper they
/// uploaded); the same file twice is kept once.
pub async fn remember_in(
    tx: &mut impl Exec,
    owner: &str,
    title: &str,
    file: &tinhso_store::files::FileRef,
    dossier_code: &str,
    now: i64,
) -> Result<(), AppError> {
    tx.execute(
        "INSERT INTO personal_documents (id, owner_user_id, title, kind, file_sha256, media_type, size, \
         source_dossier, result_id, created_at) VALUES ($1,$2,$3,'upload',$4,$5,$6,$7,NULL,$8) \
         ON CONFLICT (owner_user_id, file_sha256) DO NOTHING",
        &[
            Param::Text(&uuid::Uuid::now_v7().to_string()),
            Param::Text(owner),
            Param::Text(title),
            Param::Text(&file.sha256),
            Param::Text(&file.media_type),
            Param::Int(file.size),
            Param::Text(dossier_code),
            Param::Int(now),
        ],
    )
    .await?;
    Ok(())
}

/// A document in a personal data store.
#[derive(Debug, Clone, Serialize)]
pub struct PersonalDocument {
    pub id: String,
    pub title: String,
    pub kind: String,
    pub file_sha256: String,
    pub media_type: String,
    pub size: i64,
    pub source_dossier: Option<String>,
    pub result_id: Option<String>,
    pub created_at: i64,
}

/// The bytes of a data-store document (nội dung giấy tờ trong kho dữ liệu): a paper uploaded
/// with a dossier is read like that dossier's attachment (kept on its row when small), a result
/// from the file store.
pub async fn document_bytes(
    db: &Db,
    files: &FileStore,
    d: &PersonalDocument,
) -> Result<Vec<u8>, AppError> {
    match &d.source_dossier {
        Some(code) => crate::dossier::file_bytes(db, files, code, &d.file_sha256).await,
        None => files.get(&d.file_sha256).await,
    }
}

/// The documents in `owner`'s data store, newest first.
pub async fn personal_documents(db: &Db, owner: &str) -> Result<Vec<PersonalDocument>, AppError> {
    let rows = sqlx::query(
        "SELECT id, title, kind, file_sha256, media_type, size, source_dossier, result_id, created_at \
         FROM personal_documents WHERE owner_user_id = $1 ORDER BY created_at DESC, id DESC LIMIT 500",
    )
    .bind(owner)
    .fetch_all(db.pool())
    .await
    .map_err(DbError::from)?;
    let g = |e| AppError::from(DbError::from(e));
    rows.iter()
        .map(|r| {
            Ok(PersonalDocument {
                id: r.try_get(0).map_err(g)?,
                title: r.try_get(1).map_err(g)?,
                kind: r.try_get(2).map_err(g)?,
                file_sha256: r.try_get(3).map_err(g)?,
                media_type: r.try_get(4).map_err(g)?,
                size: r.try_get(5).map_err(g)?,
                source_dossier: r.try_get(6).map_err(g)?,
                result_id: r.try_get(7).map_err(g)?,
                created_at: r.try_get(8).map_err(g)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_well_formed_and_distinct() {
        let a = new_id();
        let b = new_id();
        assert!(is_id(&a) && is_id(&b));
        assert_ne!(a, b);
        assert!(!is_id("ABC"));
        assert!(!is_id(&"I".repeat(20)), "I is not in the alphabet");
        assert_eq!(grouped("ABCDEFGHJKMNPQRSTVWX"), "ABCDE-FGHJK-MNPQR-STVWX");
    }
}
