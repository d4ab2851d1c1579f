//! Payment of fees and charges (phí, lệ phí) for dossiers.
//!
//! When a dossier has a fee due — status 6 (payment requested) or, after acceptance, a fee
//! above what was paid — the applicant asks for a payment: a `payments` row (pending) and a
//! dynamic VietQR code for the amount due, to the province's collection account, with the
//! dossier code as purpose.
//!
//! The payment platform (PayGov, or a bank intermediary) confirms a payment with a callback:
//! `POST /api/v1/payments/callback`, JSON body [`Callback`], headers
//! `X-Timestamp: <unix seconds>` and `X-Signature: hex(HMAC-SHA256(shared secret, body))`.
//! The callback is refused — recorded in the audit trail as `payment.callback_rejected`,
//! nothing else changed — when the timestamp is more than 5 minutes off, the signature is
//! wrong, the payment is unknown or not pending, or the amount differs from the pending
//! amount. A replayed callback (same `txn_id`) returns the first result and changes nothing.
//! Otherwise, in one transaction: the payment is marked paid, an electronic receipt number
//! (biên lai điện tử, `BL-<yyyy>-<nnnnnn>`) is issued, the dossier's `paid_vnd` goes up and,
//! when the dossier was waiting for payment (status 6), it moves back to processing (status 4)
//! with a `payment_received` event by the system, an audit entry and an outbox event.
//!
//! The shared secret: `TINHSO_PAYGOV_SECRET` when set (what the platform operator agreed with
//! the gateway); otherwise derived from the master key with
//! `tinhso_identity::keys::mac("paygov-callback", …)`, which suits the demo and the simulator.

use crate::dossier;
use crate::status::{Action, Status};
use crate::vietqr;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use sqlx::Row;
use tinhso_kernel::{AppError, ErrorCode};
use tinhso_store::audit::Ctx;
use tinhso_store::native::Param;
use tinhso_store::{now_micros, Db, DbError, Exec, Journal};

/// DEMO collection account — not a real account of the province. Bank BIN of BIDV.
pub const DEMO_BANK_BIN: &str = "970418";
/// DEMO: the bank's name as shown to the applicant.
pub const DEMO_BANK_NAME: &str = "BIDV (Ngân hàng TMCP Đầu tư và Phát triển Việt Nam)";
/// DEMO account number (fictitious).
pub const DEMO_ACCOUNT: &str = "8880012026";
/// DEMO account name (fictitious).
pub const DEMO_ACCOUNT_NAME: &str = "TINH SO LANG SON - TAI KHOAN DEMO";
/// The gateway recorded on payments confirmed by callback.
pub const GATEWAY: &str = "paygov";
/// Largest accepted clock difference for a callback, in seconds.
pub const MAX_SKEW_SECS: i64 = 300;

/// A payment request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Payment {
    pub id: String,
    pub dossier_code: String,
    pub agency_code: String,
    pub amount_vnd: i64,
    pub purpose: String,
    /// `pending`, `paid` or `failed`.
    pub status: String,
    pub gateway: String,
    pub gateway_txn_id: Option<String>,
    /// The VietQR payload (EMVCo) for the transfer.
    pub qr_payload: String,
    pub created_at: i64,
    pub paid_at: Option<i64>,
    /// The electronic receipt number, once paid.
    pub receipt_no: Option<String>,
    pub bank_bin: String,
    pub bank_name: String,
    pub account: String,
    pub account_name: String,
}

/// The callback the payment platform sends.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Callback {
    pub payment_id: String,
    /// The gateway's transaction id (unique).
    pub txn_id: String,
    pub amount_vnd: i64,
    /// `paid` or `failed`.
    pub status: String,
    /// When the payment was made, RFC 3339.
    pub paid_at: String,
}

/// What a callback did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CallbackResult {
    pub payment: Payment,
    /// True when the same transaction had already been processed (nothing changed).
    pub replayed: bool,
}

/// The secret shared with the payment platform.
pub fn shared_secret() -> Vec<u8> {
    match std::env::var("TINHSO_PAYGOV_SECRET") {
        Ok(s) if !s.is_empty() => s.into_bytes(),
        _ => tinhso_identity::keys::mac("paygov-callback", b"shared-secret").to_vec(),
    }
}

/// HMAC-SHA256 (RFC 2104), through the `hmac` crate.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    // HMAC accepts keys of any length, so construction cannot fail.
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(data);
            m.finalize().into_bytes().into()
        }
        Err(_) => [0u8; 32],
    }
}

/// The `X-Signature` of a body.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    hex::encode(hmac_sha256(secret, body))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const COLUMNS: &str =
    "id, dossier_code, agency_code, amount_vnd, purpose, status, gateway, gateway_txn_id, \
    qr_payload, created_at, paid_at, receipt_no";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Payment, AppError> {
    let g = |e: sqlx::Error| AppError::internal(e);
    Ok(Payment {
        id: r.try_get(0).map_err(g)?,
        dossier_code: r.try_get(1).map_err(g)?,
        agency_code: r.try_get(2).map_err(g)?,
        amount_vnd: r.try_get(3).map_err(g)?,
        purpose: r.try_get(4).map_err(g)?,
        status: r.try_get(5).map_err(g)?,
        gateway: r.try_get(6).map_err(g)?,
        gateway_txn_id: r.try_get(7).map_err(g)?,
        qr_payload: r.try_get(8).map_err(g)?,
        created_at: r.try_get(9).map_err(g)?,
        paid_at: r.try_get(10).map_err(g)?,
        receipt_no: r.try_get(11).map_err(g)?,
        bank_bin: DEMO_BANK_BIN.into(),
        bank_name: DEMO_BANK_NAME.into(),
        account: DEMO_ACCOUNT.into(),
        account_name: DEMO_ACCOUNT_NAME.into(),
    })
}

/// A payment by id.
pub async fn get(db: &Db, id: &str) -> Result<Option<Payment>, AppError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await
        .map_err(DbError::from)?;
    row.as_ref().map(from_row).transpose()
}

/// The payments of a dossier, newest first.
pub async fn for_dossier(db: &Db, code: &str) -> Result<Vec<Payment>, AppError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE dossier_code = $1 ORDER BY created_at DESC, id"
    ))
    .bind(code)
    .fetch_all(db.pool())
    .await
    .map_err(DbError::from)?;
    rows.iter().map(from_row).collect()
}

/// The amount due on a dossier now (0 when nothing can be paid).
pub fn amount_due(d: &dossier::Dossier) -> i64 {
    let open = !matches!(
        Status::from_code(d.status),
        Some(Status::Returned) | Some(Status::Withdrawn) | Some(Status::Stopped) | None
    ) && d.finished_at.is_none();
    let due = d.fee_vnd - d.paid_vnd;
    if open && due > 0 && (d.status == Status::PaymentRequested.code() || d.accepted_at.is_some()) {
        due
    } else {
        0
    }
}

/// Ask for a payment of what is due on a dossier (the caller has checked who may). A pending
/// request for the same amount is returned rather than a second one created.
pub async fn request(db: &Db, ctx: &Ctx, code: &str) -> Result<Payment, AppError> {
    let d = dossier::get(db, code)
        .await?
        .ok_or_else(AppError::not_found)?;
    let due = amount_due(&d);
    if due <= 0 {
        return Err(AppError::conflict(
            "Hồ sơ không có khoản phí, lệ phí nào phải nộp lúc này",
            "Nothing is due on this dossier now",
        ));
    }
    if let Some(p) = for_dossier(db, code)
        .await?
        .into_iter()
        .find(|p| p.status == "pending" && p.amount_vnd == due)
    {
        return Ok(p);
    }
    let qr = vietqr::payload(DEMO_BANK_BIN, DEMO_ACCOUNT, due, &d.code)
        .map_err(|e| AppError::internal(e.en))?;
    let id = format!("TT-{}", uuid::Uuid::new_v4().simple());
    let now = now_micros();
    let entry = ctx.entry(
        "payment.requested",
        "payment",
        &id,
        &d.agency_code,
        serde_json::json!({"dossier": d.code, "amount_vnd": due}),
    );
    let (pid, dossier_code, agency_code) = (id.clone(), d.code.clone(), d.agency_code.clone());
    // Group commit: one insert and its audit entry, checked above.
    db.write_grouped_native(move |tx| {
        Box::pin(async move {
            tx.execute(
                "INSERT INTO payments (id, dossier_code, agency_code, amount_vnd, purpose, status, gateway, \
                 gateway_txn_id, qr_payload, created_at, paid_at, receipt_no) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6, NULL, $7, $8, NULL, NULL)",
                &[
                    Param::Text(&pid),
                    Param::Text(&dossier_code),
                    Param::Text(&agency_code),
                    Param::Int(due),
                    Param::Text(&dossier_code),
                    Param::Text(GATEWAY),
                    Param::Text(&qr),
                    Param::Int(now),
                ],
            )
            .await?;
            tx.audit(&entry).await?;
            Ok::<_, AppError>(())
        })
    })
    .await?;
    get(db, &id).await?.ok_or_else(AppError::not_found)
}

/// Why a callback was refused.
fn refused(code: ErrorCode, vi: &str, en: &str) -> AppError {
    AppError::new(code).with_detail(vi, en)
}

async fn reject(db: &Db, ctx: &Ctx, reason: &str, payment_id: &str, err: AppError) -> AppError {
    let entry = ctx.entry(
        "payment.callback_rejected",
        "payment",
        payment_id,
        "",
        serde_json::json!({"reason": reason}),
    );
    if let Err(e) = tinhso_store::audit::append(db, &entry).await {
        tracing::error!(error = %e, "could not record a rejected payment callback");
    }
    tracing::warn!(reason, payment_id, "payment callback rejected");
    err
}

/// Check a payment gateway's callback before any record is read: `X-Timestamp` within
/// [`MAX_SKEW_SECS`] of `now_secs`, `X-Signature` the hex HMAC-SHA256 of the body with the
/// [`shared_secret`], a well-formed [`Callback`] body. Returns the payment id the body claims
/// (to label the audit entry of a refusal, at most 64 characters) and the callback, or the
/// refusal's reason code and error. Shared by every module the gateway calls back.
pub fn authenticate_callback(
    body: &[u8],
    signature: Option<&str>,
    timestamp: Option<&str>,
    now_secs: i64,
) -> (String, Result<Callback, (&'static str, AppError)>) {
    let claimed = serde_json::from_slice::<Callback>(body).ok();
    let label = claimed
        .as_ref()
        .map(|c| c.payment_id.chars().take(64).collect::<String>())
        .unwrap_or_default();
    let ts = timestamp.and_then(|t| t.trim().parse::<i64>().ok());
    if ts.is_none_or(|t| (now_secs - t).abs() > MAX_SKEW_SECS) {
        let e = refused(
            ErrorCode::Unauthenticated,
            "Thời điểm gửi (X-Timestamp) thiếu hoặc lệch quá 5 phút",
            "X-Timestamp is missing or more than 5 minutes off",
        );
        return (label, Err(("stale_timestamp", e)));
    }
    let expected = hmac_sha256(&shared_secret(), body);
    let given = signature
        .and_then(|s| hex::decode(s.trim()).ok())
        .unwrap_or_default();
    if !constant_time_eq(&given, &expected) {
        let e = refused(
            ErrorCode::Unauthenticated,
            "Chữ ký (X-Signature) không hợp lệ",
            "The X-Signature is not valid",
        );
        return (label, Err(("bad_signature", e)));
    }
    match claimed {
        Some(cb) => (label, Ok(cb)),
        None => (
            label,
            Err((
                "bad_body",
                refused(
                    ErrorCode::BadRequest,
                    "Nội dung thông báo thanh toán không đúng định dạng",
                    "The callback body is malformed",
                ),
            )),
        ),
    }
}

/// A payment request as the gateway's callback is judged against it.
pub trait Claimed {
    fn claim_id(&self) -> &str;
    fn claim_amount(&self) -> i64;
    fn claim_status(&self) -> &str;
}

impl Claimed for Payment {
    fn claim_id(&self) -> &str {
        &self.id
    }
    fn claim_amount(&self) -> i64 {
        self.amount_vnd
    }
    fn claim_status(&self) -> &str {
        &self.status
    }
}

/// What an authenticated callback may do.
#[derive(Debug)]
pub enum Judged<P> {
    /// The same transaction was already processed: answer with the record, change nothing.
    Replay(P),
    /// A pending request for exactly this amount: settle it.
    Settle(P),
}

/// Judge an authenticated callback against the payment already holding its transaction id
/// (`prior`) and the request it names (`request`, looked up when there is no `prior`): a
/// replay, a request to settle, or the refusal's reason code and error (the transaction id
/// used for another payment, an unknown request, one no longer pending, a wrong amount).
/// Shared by every module the gateway calls back.
pub fn judge_callback<P: Claimed>(
    cb: &Callback,
    prior: Option<P>,
    request: Option<P>,
) -> Result<Judged<P>, (&'static str, AppError)> {
    if let Some(p) = prior {
        if p.claim_id() == cb.payment_id && p.claim_amount() == cb.amount_vnd {
            return Ok(Judged::Replay(p));
        }
        return Err((
            "txn_conflict",
            refused(
                ErrorCode::Conflict,
                "Mã giao dịch đã được dùng cho một khoản thanh toán khác",
                "The transaction id was already used for another payment",
            ),
        ));
    }
    let Some(p) = request else {
        return Err((
            "unknown_payment",
            refused(
                ErrorCode::NotFound,
                "Không có yêu cầu thanh toán này",
                "No such payment request",
            ),
        ));
    };
    if p.claim_status() != "pending" {
        return Err((
            "not_pending",
            refused(
                ErrorCode::Conflict,
                "Yêu cầu thanh toán này đã được xử lý hoặc đã huỷ",
                "This payment request was already settled or cancelled",
            ),
        ));
    }
    if cb.amount_vnd != p.claim_amount() {
        let due = p.claim_amount();
        return Err((
            "amount_mismatch",
            refused(
                ErrorCode::Conflict,
                &format!("Số tiền không khớp: cần {due} đồng"),
                &format!("The amount does not match: {due} VND is due"),
            ),
        ));
    }
    Ok(Judged::Settle(p))
}

/// Process a callback from the payment platform. `now_secs` is the current Unix time.
pub async fn callback(
    db: &Db,
    ctx: &Ctx,
    body: &[u8],
    signature: Option<&str>,
    timestamp: Option<&str>,
    now_secs: i64,
) -> Result<CallbackResult, AppError> {
    let (label, auth) = authenticate_callback(body, signature, timestamp, now_secs);
    let cb = match auth {
        Ok(cb) => cb,
        Err((reason, e)) => return Err(reject(db, ctx, reason, &label, e).await),
    };
    // A replay (the same transaction already processed), or the request it settles.
    let prior = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payments WHERE gateway_txn_id = $1"
    ))
    .bind(&cb.txn_id)
    .fetch_optional(db.pool())
    .await
    .map_err(DbError::from)?
    .map(|row| from_row(&row))
    .transpose()?;
    let request = match prior {
        Some(_) => None,
        None => get(db, &cb.payment_id).await?,
    };
    let p = match judge_callback(&cb, prior, request) {
        Ok(Judged::Replay(p)) => {
            return Ok(CallbackResult {
                payment: p,
                replayed: true,
            })
        }
        Ok(Judged::Settle(p)) => p,
        Err((reason, e)) => return Err(reject(db, ctx, reason, &label, e).await),
    };
    let paid_at = chrono::DateTime::parse_from_rfc3339(&cb.paid_at)
        .map(|t| t.timestamp_micros())
        .ok();
    let (Some(paid_at), true) = (paid_at, cb.status == "paid" || cb.status == "failed") else {
        return Err(reject(
            db,
            ctx,
            "bad_body",
            &label,
            refused(
                ErrorCode::BadRequest,
                "Trạng thái hoặc thời điểm thanh toán không hợp lệ",
                "The status or paid_at is not valid",
            ),
        )
        .await);
    };
    if cb.status == "failed" {
        let entry = ctx.entry(
            "payment.failed",
            "payment",
            &p.id,
            &p.agency_code,
            serde_json::json!({"dossier": p.dossier_code, "txn_id": cb.txn_id}),
        );
        let (txn_id, pid) = (cb.txn_id.clone(), p.id.clone());
        db.write_grouped_native(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "UPDATE payments SET status = 'failed', gateway_txn_id = $1 WHERE id = $2 AND status = 'pending'",
                    &[Param::Text(&txn_id), Param::Text(&pid)],
                )
                .await?;
                tx.audit(&entry).await?;
                Ok::<_, AppError>(())
            })
        })
        .await?;
        let payment = get(db, &p.id).await?.ok_or_else(AppError::not_found)?;
        return Ok(CallbackResult {
            payment,
            replayed: false,
        });
    }
    settle(db, ctx, &p, &cb.txn_id, paid_at).await?;
    let payment = get(db, &p.id).await?.ok_or_else(AppError::not_found)?;
    Ok(CallbackResult {
        payment,
        replayed: false,
    })
}

/// Mark a payment paid, issue the receipt, credit the dossier and — when it was waiting for
/// payment — apply `payment_received` as the system, all in one transaction.
async fn settle(
    db: &Db,
    ctx: &Ctx,
    p: &Payment,
    txn_id: &str,
    paid_at: i64,
) -> Result<(), AppError> {
    let now = now_micros();
    let year = i64::from(dossier::today_local().year());
    let (ctx, p, txn_id) = (ctx.clone(), p.clone(), txn_id.to_string());
    // Group commit: the receipt number, the payment, the dossier and its event are written in
    // this item's savepoint; a payment settled meanwhile undoes only this item (409).
    db.write_grouped_native(move |tx| {
        Box::pin(async move { settle_in(tx, &ctx, &p, &txn_id, paid_at, now, year).await })
    })
    .await
}

/// The writes of [`settle`], in the caller's transaction or savepoint (a native or a sqlx one).
async fn settle_in(
    tx: &mut impl Journal,
    ctx: &Ctx,
    p: &Payment,
    txn_id: &str,
    paid_at: i64,
    now: i64,
    year: i64,
) -> Result<(), AppError> {
    let n = tx
        .row(
            "INSERT INTO payment_receipt_counters (year, n) VALUES ($1, 1) \
             ON CONFLICT (year) DO UPDATE SET n = payment_receipt_counters.n + 1 RETURNING n",
            &[Param::Int(year)],
            |r| r.int(0),
        )
        .await?
        .ok_or_else(|| DbError::Invalid("receipt counter: no number returned".into()))?;
    let receipt = format!("BL-{year}-{n:06}");
    let updated = tx
        .execute(
            "UPDATE payments SET status = 'paid', gateway_txn_id = $1, paid_at = $2, receipt_no = $3 \
             WHERE id = $4 AND status = 'pending'",
            &[
                Param::Text(txn_id),
                Param::Int(paid_at),
                Param::Text(&receipt),
                Param::Text(&p.id),
            ],
        )
        .await?;
    if updated == 0 {
        return Err(AppError::conflict(
            "Yêu cầu thanh toán vừa được xử lý",
            "The payment request was just settled",
        ));
    }
    let (status, step, paid) = tx
        .row(
            "SELECT status, step, paid_vnd FROM dossiers WHERE code = $1",
            &[Param::Text(&p.dossier_code)],
            |r| Ok((r.int(0)?, r.text(1)?, r.int(2)?)),
        )
        .await?
        .ok_or_else(|| {
            DbError::Invalid(format!("payment {}: no dossier {}", p.id, p.dossier_code))
        })?;
    let new_paid = paid + p.amount_vnd;
    let waiting = status == Status::PaymentRequested.code();
    let to = if waiting {
        Action::PaymentReceived.to(None).code()
    } else {
        status
    };
    tx.execute(
        "UPDATE dossiers SET paid_vnd = $1, status = $2, updated_at = $3 WHERE code = $4 AND status = $5",
        &[
            Param::Int(new_paid),
            Param::Int(to),
            Param::Int(now),
            Param::Text(&p.dossier_code),
            Param::Int(status),
        ],
    )
    .await?;
    if waiting {
        let seq = tx
            .row(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM dossier_events WHERE dossier_code = $1",
                &[Param::Text(&p.dossier_code)],
                |r| r.int(0),
            )
            .await?
            .ok_or_else(|| DbError::Invalid("dossier events: no next number".into()))?;
        let reason = format!("Đã nộp {} đồng, biên lai {receipt}", p.amount_vnd);
        let payload = serde_json::json!({
            "dossier": p.dossier_code, "seq": seq, "action": Action::PaymentReceived.as_str(),
            "from": status, "to": to, "step": step, "reason": reason, "at": now,
            "actor": serde_json::Value::Null,
        })
        .to_string();
        tx.execute(
            "INSERT INTO dossier_events (dossier_code, seq, at, action, from_status, to_status, step, \
             actor_user_id, actor_name, holder_user_id, reason, signed_payload, signature, public_key) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,NULL,$8,NULL,$9,$10,NULL,NULL)",
            &[
                Param::Text(&p.dossier_code),
                Param::Int(seq),
                Param::Int(now),
                Param::Text(Action::PaymentReceived.as_str()),
                Param::Int(status),
                Param::Int(to),
                Param::Text(&step),
                Param::Text("Cổng thanh toán (PayGov)"),
                Param::Text(&reason),
                Param::Text(&payload),
            ],
        )
        .await?;
        tx.audit(&ctx.entry(
            "dossier.payment_received",
            "dossier",
            &p.dossier_code,
            &p.agency_code,
            serde_json::json!({"before": {"status": status, "step": step}, "after": {"status": to, "step": step}, "reason": reason}),
        ))
        .await?;
        tx.emit(
            "dossier.status_changed",
            &serde_json::json!({"code": p.dossier_code, "agency": p.agency_code, "from": status, "to": to, "action": Action::PaymentReceived.as_str()}),
        )
        .await?;
    }
    tx.audit(&ctx.entry(
        "payment.paid",
        "payment",
        &p.id,
        &p.agency_code,
        serde_json::json!({"dossier": p.dossier_code, "amount_vnd": p.amount_vnd, "txn_id": txn_id, "receipt_no": receipt}),
    ))
    .await?;
    tx.emit(
        "payment.paid",
        &serde_json::json!({"id": p.id, "dossier": p.dossier_code, "agency": p.agency_code, "amount_vnd": p.amount_vnd, "receipt_no": receipt}),
    )
    .await?;
    Ok(())
}

/// Paid payments of one agency on one (local) day.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Reconciliation {
    pub date: String,
    pub agency_code: String,
    pub count: i64,
    pub total_vnd: i64,
}

/// Count and sum of paid payments per agency on a local day, for `agencies` (`None` = all).
pub async fn reconciliation(
    db: &Db,
    date: NaiveDate,
    agencies: Option<&[String]>,
) -> Result<Vec<Reconciliation>, AppError> {
    let start = date
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_micros() - 7 * 3600 * 1_000_000)
        .ok_or_else(|| AppError::internal("bad date"))?;
    let end = start + 24 * 3600 * 1_000_000;
    let rows = sqlx::query(
        "SELECT agency_code, COUNT(*), CAST(COALESCE(SUM(amount_vnd), 0) AS BIGINT) FROM payments \
         WHERE status = 'paid' AND paid_at >= $1 AND paid_at < $2 GROUP BY agency_code ORDER BY agency_code",
    )
    .bind(start)
    .bind(end)
    .fetch_all(db.pool())
    .await
    .map_err(DbError::from)?;
    let g = |e: sqlx::Error| AppError::internal(e);
    let mut out = Vec::new();
    for r in &rows {
        let agency_code: String = r.try_get(0).map_err(g)?;
        if agencies.is_some_and(|a| !a.contains(&agency_code)) {
            continue;
        }
        out.push(Reconciliation {
            date: date.format("%Y-%m-%d").to_string(),
            agency_code,
            count: r.try_get(1).map_err(g)?,
            total_vnd: r.try_get(2).map_err(g)?,
        });
    }
    Ok(out)
}

/// A stand-in for the payment platform, for the demo and tests only: it "pays" a pending
/// payment by sending a correctly signed callback to the platform's callback endpoint.
pub mod simulator {
    use super::{shared_secret, sign, Callback, Payment};

    /// The body and headers of a signed callback paying `p` in full.
    pub fn signed_callback(
        p: &Payment,
        txn_id: &str,
        now_secs: i64,
    ) -> (Vec<u8>, Vec<(String, String)>) {
        let cb = Callback {
            payment_id: p.id.clone(),
            txn_id: txn_id.to_string(),
            amount_vnd: p.amount_vnd,
            status: "paid".into(),
            paid_at: chrono::DateTime::from_timestamp(now_secs, 0)
                .unwrap_or_default()
                .to_rfc3339(),
        };
        let body = serde_json::to_vec(&cb).unwrap_or_default();
        let headers = vec![
            ("X-Timestamp".to_string(), now_secs.to_string()),
            ("X-Signature".to_string(), sign(&shared_secret(), &body)),
            ("Content-Type".to_string(), "application/json".to_string()),
        ];
        (body, headers)
    }

    /// What the platform answered to a simulated callback.
    #[derive(Debug, Clone)]
    pub struct HttpAnswer {
        pub status: u16,
        pub body: String,
    }

    /// Pay `p` in full: send the signed callback to `base` (`http://host:port`, plain HTTP:
    /// the demo runs on loopback) at `/api/v1/payments/callback`, over a blocking socket with
    /// a 10-second timeout. Call it off the async runtime (e.g. `spawn_blocking`).
    pub fn pay_over_http(base: &str, p: &Payment, txn_id: &str) -> std::io::Result<HttpAnswer> {
        use std::io::{Read, Write};
        let host = base
            .strip_prefix("http://")
            .ok_or_else(|| std::io::Error::other("the simulator speaks plain http:// only"))?
            .trim_end_matches('/');
        let now = chrono::Utc::now().timestamp();
        let (body, headers) = signed_callback(p, txn_id, now);
        let mut req = format!("POST /api/v1/payments/callback HTTP/1.1\r\nHost: {host}\r\n");
        for (k, v) in &headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ));
        let mut stream = std::net::TcpStream::connect(host)?;
        let timeout = Some(std::time::Duration::from_secs(10));
        stream.set_read_timeout(timeout)?;
        stream.set_write_timeout(timeout)?;
        stream.write_all(req.as_bytes())?;
        stream.write_all(&body)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| std::io::Error::other("no HTTP status in the answer"))?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok(HttpAnswer { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231, test case 2.
    #[test]
    fn hmac_rfc4231() {
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
