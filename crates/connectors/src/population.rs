//! Cơ sở dữ liệu quốc gia về dân cư (CSDLQG về dân cư) — verifying a citizen's personal
//! identification number (số định danh cá nhân / CCCD) and name (+ date of birth).
//!
//! The request goes to the population database's verification service (through the national
//! data exchange platform in production): `POST {base}{path}` with `Authorization: Bearer
//! <key>` and `{"SoDinhDanh", "HoVaTen", "NgayThangNamSinh"?}`; the answer is
//! `{"MaKetQua": "00", "CongDan": {"SoDinhDanh", "HoVaTen", "NgayThangNamSinh"}}` for a known
//! number, `{"MaKetQua": "01"}` for an unknown one. The published specification of this
//! service is not public; the field names are this project's (see `docs/connectors.md`).
//!
//! The comparison is ours: the CCCD is checked with the kernel's validator first (12 digits,
//! a real province code, a plausible birth year) so a malformed number never leaves the
//! platform; the names are compared in NFC, whitespace collapsed, case-insensitive and
//! diacritics-exact ("Nguyễn Văn An" = "NGUYỄN VĂN AN" ≠ "Nguyen Van An"); the date of birth
//! (`dd/mm/yyyy` or `yyyy-mm-dd`) when given.
//!
//! Every verification is audited (`connectors.population.verify`): who checked, a keyed
//! digest of the number (not the number), the result and the purpose; never the name or the
//! date of birth.

use crate::endpoint::Endpoint;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fmt;
use tinhso_kernel::error::Invalid;
use tinhso_kernel::{text, validate, AppError, FieldErrors};
use tinhso_store::audit::Ctx;
use tinhso_store::Db;
use utoipa::ToSchema;

/// Path of the verification service (default of `TINHSO_POPULATION_PATH`).
pub const PATH: &str = "/api/v1/cong-dan/xac-thuc";

/// Where the population database's verification service is: the database itself (the direct
/// adapter: `TINHSO_POPULATION_URL`, `TINHSO_POPULATION_KEY`, `TINHSO_POPULATION_PATH`), the
/// service as registered on the data exchange hub (`TINHSO_POPULATION_HUB_*`, [`HubRoute`]),
/// or both: then every check goes through the hub, and directly only when the hub fails and
/// [`HubRoute::fallback_direct`] allows it.
#[derive(Clone, Debug)]
pub struct Config {
    /// The direct adapter; `None`: only through the hub.
    pub direct: Option<Endpoint>,
    /// Through the hub (qua trục LGSP).
    pub hub: Option<HubRoute>,
}

/// The population service on the data exchange hub (dịch vụ dân cư trên trục LGSP): each
/// check is a signed exchange of this platform's member, access-checked and written in the
/// hub's message log; the hub's answer is accepted only with the hub's signature.
#[derive(Clone)]
pub struct HubRoute {
    /// The hub's base URL (`TINHSO_POPULATION_HUB_URL`, e.g. `http://127.0.0.1:8080`).
    pub hub_url: String,
    /// This platform's member code on the hub (`TINHSO_POPULATION_HUB_MEMBER`).
    pub member: String,
    /// The service's provider member and code (`TINHSO_POPULATION_HUB_SERVICE`:
    /// `provider/service`); the verification path below it is [`PATH`] (or
    /// `TINHSO_POPULATION_PATH`).
    pub provider: String,
    pub service: String,
    pub path: String,
    /// The member's signing key: derived from the master key for `member`, its public half
    /// printed by `tinhso exchange member-key` for the hub's registry.
    pub key: ed25519_dalek::SigningKey,
    /// The key the hub's answers must verify with (`TINHSO_POPULATION_HUB_PUBLIC_KEY`;
    /// default: this platform's own hub, whose key derives from the same master key).
    pub hub_public_key: String,
    /// Ask the database directly when the hub cannot be reached or fails (5xx, time-out)
    /// (`TINHSO_POPULATION_FALLBACK_DIRECT=1`); never when it refuses (4xx: no right, bad
    /// signature), which would bypass its access check.
    pub fallback_direct: bool,
    pub timeout: std::time::Duration,
}

impl fmt::Debug for HubRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubRoute")
            .field("hub_url", &self.hub_url)
            .field("member", &self.member)
            .field("provider", &self.provider)
            .field("service", &self.service)
            .field("fallback_direct", &self.fallback_direct)
            .finish_non_exhaustive()
    }
}

impl HubRoute {
    /// Through the hub at `hub_url` as `member` (its key derived from the master key) to
    /// `provider`/`service`, answers signed by this platform's own hub, no fallback.
    pub fn new(hub_url: &str, member: &str, provider: &str, service: &str) -> Self {
        Self {
            hub_url: hub_url.trim_end_matches('/').to_string(),
            member: member.into(),
            provider: provider.into(),
            service: service.into(),
            path: PATH.into(),
            key: tinhso_exchange::direct::member_key(member),
            hub_public_key: tinhso_exchange::signing::public_key_b64(
                &tinhso_exchange::hub::hub_key(),
            ),
            fallback_direct: false,
            timeout: std::time::Duration::from_secs(10),
        }
    }
}

impl Config {
    /// The direct adapter only.
    pub fn new(base_url: &str, api_key: &str) -> Self {
        Self {
            direct: Some(Endpoint::new(base_url, PATH, api_key)),
            hub: None,
        }
    }

    /// From the environment; `None` when neither `TINHSO_POPULATION_URL` nor
    /// `TINHSO_POPULATION_HUB_URL` is set. The hub route needs `TINHSO_POPULATION_HUB_MEMBER`
    /// and `TINHSO_POPULATION_HUB_SERVICE` too (else it is left off, with a warning).
    pub fn from_env() -> Option<Self> {
        let direct = Endpoint::from_env("TINHSO_POPULATION", PATH);
        let hub = crate::endpoint::env_var("TINHSO_POPULATION_HUB_URL").and_then(|url| {
            let member = crate::endpoint::env_var("TINHSO_POPULATION_HUB_MEMBER");
            let service = crate::endpoint::env_var("TINHSO_POPULATION_HUB_SERVICE");
            let Some((member, (provider, service))) = member.zip(
                service
                    .as_deref()
                    .and_then(|s| s.split_once('/'))
                    .map(|(p, s)| (p.trim().to_string(), s.trim().to_string())),
            ) else {
                tracing::warn!("TINHSO_POPULATION_HUB_URL is set without TINHSO_POPULATION_HUB_MEMBER and TINHSO_POPULATION_HUB_SERVICE (provider/service): population checks do not go through the hub");
                return None;
            };
            let mut h = HubRoute::new(&url, &member, &provider, &service);
            if let Some(k) = crate::endpoint::env_var("TINHSO_POPULATION_HUB_PUBLIC_KEY") {
                h.hub_public_key = k.trim().to_string();
            }
            if let Some(p) = crate::endpoint::env_var("TINHSO_POPULATION_PATH") {
                h.path = p;
            }
            h.fallback_direct = fallback_direct_from_env();
            Some(h)
        });
        (direct.is_some() || hub.is_some()).then_some(Self { direct, hub })
    }
}

/// `TINHSO_POPULATION_FALLBACK_DIRECT` (`1`, `true`, `yes`, `on`): ask the database directly
/// when the hub fails ([`HubRoute::fallback_direct`]).
pub fn fallback_direct_from_env() -> bool {
    crate::endpoint::env_var("TINHSO_POPULATION_FALLBACK_DIRECT")
        .is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"))
}

/// The verification service's OpenAPI document, as registered on the data exchange hub (the
/// one operation `POST` [`PATH`]; a right can be limited to it).
pub fn openapi() -> Value {
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {"title": "Xác thực công dân (CSDLQG về dân cư)", "version": "1"},
        "paths": {}
    });
    doc["paths"][PATH] = json!({"post": {"responses": {"200": {"description": "MaKetQua 00: khớp số định danh; 01: không có"}}}});
    doc
}

/// What an officer asks (`POST /api/v1/connectors/population/verifications`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct VerifyInput {
    /// Số CCCD / số định danh cá nhân (12 digits; spaces and dots allowed).
    #[serde(default)]
    pub cccd: String,
    /// Họ và tên as the citizen gave it.
    #[serde(default)]
    pub full_name: String,
    /// Ngày sinh, `dd/mm/yyyy` or `yyyy-mm-dd` (optional).
    #[serde(default)]
    pub date_of_birth: String,
    /// Why (e.g. the dossier code); kept in the audit entry. At most 100 characters.
    #[serde(default)]
    pub purpose: String,
}

/// The checked request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub cccd: String,
    pub full_name: String,
    pub date_of_birth: Option<NaiveDate>,
    pub purpose: String,
}

/// Parse `dd/mm/yyyy` or `yyyy-mm-dd`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    NaiveDate::parse_from_str(s, "%d/%m/%Y")
        .or_else(|_| NaiveDate::parse_from_str(s, "%Y-%m-%d"))
        .ok()
}

/// Check every field (all errors at once, in Vietnamese and English).
pub fn check(input: &VerifyInput) -> Result<Checked, AppError> {
    let mut errs = FieldErrors::new();
    let cccd = errs.check("cccd", validate::cccd(&input.cccd));
    let name = text::clean(&input.full_name);
    if name.is_empty() || name.chars().count() > 100 {
        errs.push(
            "full_name",
            Invalid::new(
                "full_name",
                "Cần họ và tên (tối đa 100 ký tự)",
                "The full name is required (at most 100 characters)",
            ),
        );
    }
    let dob = if input.date_of_birth.trim().is_empty() {
        None
    } else {
        match parse_date(&input.date_of_birth) {
            Some(d) if d <= chrono::Utc::now().date_naive() => Some(d),
            _ => {
                errs.push(
                    "date_of_birth",
                    Invalid::new(
                        "date_of_birth",
                        "Ngày sinh theo dạng dd/mm/yyyy, không ở tương lai",
                        "The date of birth as dd/mm/yyyy, not in the future",
                    ),
                );
                None
            }
        }
    };
    let purpose = text::clean(&input.purpose);
    if purpose.chars().count() > 100 {
        errs.push(
            "purpose",
            Invalid::new(
                "purpose",
                "Mục đích tối đa 100 ký tự",
                "The purpose has at most 100 characters",
            ),
        );
    }
    errs.into_result()?;
    let cccd = cccd.ok_or_else(|| AppError::internal("cccd checked"))?;
    // The birth year the number encodes must agree with a given date of birth.
    if let Some(d) = dob {
        use chrono::Datelike;
        if d.year() != cccd.birth_year {
            return Err(AppError::field(
                "date_of_birth",
                Invalid::new(
                    "date_of_birth_cccd",
                    format!("Số CCCD này mã hoá năm sinh {}", cccd.birth_year),
                    format!("This CCCD encodes the birth year {}", cccd.birth_year),
                ),
            ));
        }
    }
    Ok(Checked {
        cccd: cccd.number,
        full_name: name,
        date_of_birth: dob,
        purpose,
    })
}

/// Names equal for the population database: NFC, whitespace collapsed, case-insensitive,
/// diacritics exact.
pub fn same_name(a: &str, b: &str) -> bool {
    text::clean(a).to_lowercase() == text::clean(b).to_lowercase()
}

/// A record of the population database as answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citizen {
    #[serde(rename = "SoDinhDanh")]
    pub so_dinh_danh: String,
    #[serde(rename = "HoVaTen")]
    pub ho_va_ten: String,
    /// `dd/mm/yyyy`.
    #[serde(rename = "NgayThangNamSinh", default)]
    pub ngay_thang_nam_sinh: String,
}

/// The result of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Verification {
    /// Khớp: the number exists and every given field matches.
    Match,
    /// Không khớp: the number exists; these fields differ (`full_name`, `date_of_birth`).
    Mismatch { fields: Vec<String> },
    /// Không tìm thấy số định danh.
    NotFound,
    /// The population database could not be asked (time-out, error, not configured).
    Unavailable { reason: String },
}

impl Verification {
    pub fn as_str(&self) -> &'static str {
        match self {
            Verification::Match => "match",
            Verification::Mismatch { .. } => "mismatch",
            Verification::NotFound => "not_found",
            Verification::Unavailable { .. } => "unavailable",
        }
    }
}

/// Compare a checked request with the record answered.
pub fn compare(c: &Checked, record: &Citizen) -> Verification {
    let mut fields = Vec::new();
    if !same_name(&c.full_name, &record.ho_va_ten) {
        fields.push("full_name".to_string());
    }
    if let Some(d) = c.date_of_birth {
        if parse_date(&record.ngay_thang_nam_sinh) != Some(d) {
            fields.push("date_of_birth".to_string());
        }
    }
    if fields.is_empty() {
        Verification::Match
    } else {
        Verification::Mismatch { fields }
    }
}

/// A client of the verification service.
pub struct Client {
    cfg: Config,
    http: reqwest::Client,
}

/// One check as asked: the verdict, the way it went (`hub`, `direct`, or `direct` after the
/// hub failed: `hub_failed_direct`) and the hub's exchange id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    pub verification: Verification,
    pub via: &'static str,
    pub exchange_id: Option<String>,
}

/// What the hub route got.
enum HubAnswer {
    /// The population database's answer (status 200 or not), signed by the hub.
    Answered(Verification, String),
    /// The hub refused the exchange (4xx of its own), or its answer is not signed by it: no
    /// fallback.
    Refused(String, Option<String>),
    /// The hub could not be reached or failed (5xx, time-out): the fallback may be tried.
    Failed(String, Option<String>),
}

impl Client {
    pub fn new(cfg: Config) -> Result<Self, AppError> {
        let timeout = match (&cfg.direct, &cfg.hub) {
            (_, Some(h)) => h.timeout,
            (Some(d), None) => d.timeout,
            (None, None) => std::time::Duration::from_secs(10),
        };
        let http = crate::endpoint::http_client(timeout)?;
        Ok(Self { cfg, http })
    }

    /// Ask the population database about one checked request.
    pub async fn lookup(&self, c: &Checked) -> Verification {
        self.ask(c).await.verification
    }

    /// [`Client::lookup`], saying which way it went.
    pub async fn ask(&self, c: &Checked) -> Asked {
        let body = request_body(c);
        let Some(hub) = &self.cfg.hub else {
            return Asked {
                verification: self.direct(c, &body).await,
                via: "direct",
                exchange_id: None,
            };
        };
        let (verification, exchange_id) = match self.via_hub(hub, c, &body).await {
            HubAnswer::Answered(v, id) => (v, Some(id)),
            HubAnswer::Refused(reason, id) => (Verification::Unavailable { reason }, id),
            HubAnswer::Failed(reason, id) => {
                if hub.fallback_direct && self.cfg.direct.is_some() {
                    tracing::warn!(reason = %reason, "the hub failed; population check made directly (fallback)");
                    return Asked {
                        verification: self.direct(c, &body).await,
                        via: "hub_failed_direct",
                        exchange_id: id,
                    };
                }
                (Verification::Unavailable { reason }, id)
            }
        };
        Asked {
            verification,
            via: "hub",
            exchange_id,
        }
    }

    /// The direct adapter (`Unavailable` when there is none).
    async fn direct(&self, c: &Checked, body: &[u8]) -> Verification {
        let Some(ep) = &self.cfg.direct else {
            return Verification::Unavailable {
                reason: "the population database is configured only through the hub".into(),
            };
        };
        let sent = self
            .http
            .post(ep.url())
            .timeout(ep.timeout)
            .bearer_auth(&ep.api_key)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return Verification::Unavailable {
                    reason: format!("time-out after {:?}", ep.timeout),
                }
            }
            Err(e) => {
                return Verification::Unavailable {
                    reason: format!("connection: {e}"),
                }
            }
        };
        let status = resp.status().as_u16();
        match resp.bytes().await {
            Ok(b) => interpret(c, status, &b),
            Err(e) => Verification::Unavailable {
                reason: format!("answer not read: {e}"),
            },
        }
    }

    /// A signed exchange through the hub; the answer checked against the hub's key.
    async fn via_hub(&self, h: &HubRoute, c: &Checked, body: &[u8]) -> HubAnswer {
        use tinhso_exchange::signing;
        let path = format!("/lgsp/v1/{}/{}{}", h.provider, h.service, h.path);
        let ts = tinhso_store::now_micros() / 1_000_000;
        let nonce = signing::new_nonce();
        let request_sha256 = signing::sha256_hex(
            signing::request_text("POST", &path, ts, &nonce, &signing::sha256_hex(body)).as_bytes(),
        );
        let mut req = self
            .http
            .post(format!("{}{path}", h.hub_url))
            .timeout(h.timeout)
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (k, v) in signing::client_headers(&h.key, &h.member, "POST", &path, body, ts, &nonce) {
            req = req.header(k, v);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return HubAnswer::Failed(format!("hub: {e}"), None),
        };
        let status = resp.status().as_u16();
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let exchange_id = header(signing::H_EXCHANGE_ID);
        let signature = header(signing::H_HUB_SIGNATURE);
        let id = (!exchange_id.is_empty()).then(|| exchange_id.clone());
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return HubAnswer::Failed(format!("hub: answer not read: {e}"), id),
        };
        let text = signing::response_text(
            &exchange_id,
            status,
            &request_sha256,
            &signing::sha256_hex(&bytes),
        );
        if exchange_id.is_empty() || !signing::verify(&h.hub_public_key, &text, &signature) {
            // Not the hub's answer (or not over this request): nothing in it is believed.
            let reason = format!("hub: HTTP {status} not signed by the hub's key");
            return if status >= 500 {
                HubAnswer::Failed(reason, id)
            } else {
                HubAnswer::Refused(reason, id)
            };
        }
        // The hub's own refusals are problems with an `lgsp_` code; anything else is the
        // provider's answer, forwarded.
        let code = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_string))
            .filter(|c| c.starts_with("lgsp_"));
        match code {
            Some(code) if status < 500 => {
                HubAnswer::Refused(format!("hub: HTTP {status} {code}"), id)
            }
            Some(code) => HubAnswer::Failed(format!("hub: HTTP {status} {code}"), id),
            None => HubAnswer::Answered(interpret(c, status, &bytes), exchange_id),
        }
    }
}

/// The request the verification service takes.
fn request_body(c: &Checked) -> Vec<u8> {
    let mut body = json!({"SoDinhDanh": c.cccd, "HoVaTen": c.full_name});
    if let Some(d) = c.date_of_birth {
        body["NgayThangNamSinh"] = json!(d.format("%d/%m/%Y").to_string());
    }
    body.to_string().into_bytes()
}

/// The verification service's answer (`status`, `body`) read against the request.
fn interpret(c: &Checked, status: u16, body: &[u8]) -> Verification {
    let unavailable = |reason: String| Verification::Unavailable { reason };
    if status != 200 {
        return unavailable(format!("HTTP {status}"));
    }
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return unavailable(format!("answer not JSON: {e}")),
    };
    match v.get("MaKetQua").and_then(Value::as_str) {
        Some("00") => match v
            .get("CongDan")
            .cloned()
            .map(serde_json::from_value::<Citizen>)
        {
            Some(Ok(rec)) if rec.so_dinh_danh == c.cccd => compare(c, &rec),
            Some(Ok(_)) => unavailable("the answer is about another number".into()),
            _ => unavailable("answer without CongDan".into()),
        },
        Some("01") => Verification::NotFound,
        other => unavailable(format!("MaKetQua {other:?}")),
    }
}

/// A keyed digest of a CCCD (what the audit keeps instead of the number): the first 16 hex
/// digits of HMAC-SHA-256 with the platform's master key.
pub fn cccd_digest(cccd: &str) -> String {
    hex::encode(&tinhso_identity::keys::mac("population-verify", cccd.as_bytes())[..8])
}

/// Verify and audit (`client`: `None` when the connector is not configured → unavailable).
/// `Err` only for bad input (422) or a local failure.
pub async fn verify(
    db: &Db,
    ctx: &Ctx,
    client: Option<&Client>,
    input: &VerifyInput,
) -> Result<Verification, AppError> {
    let c = check(input)?;
    let asked = match client {
        Some(client) => client.ask(&c).await,
        None => Asked {
            verification: Verification::Unavailable {
                reason: "the population database connector is not configured".into(),
            },
            via: "none",
            exchange_id: None,
        },
    };
    let result = asked.verification;
    let mut summary = json!({"result": result.as_str(), "purpose": c.purpose, "via": asked.via});
    if let Some(id) = &asked.exchange_id {
        summary["exchange_id"] = json!(id);
    }
    if let Verification::Mismatch { fields } = &result {
        summary["fields"] = json!(fields);
    }
    if let Verification::Unavailable { reason } = &result {
        summary["reason"] = json!(reason);
    }
    let mut tx = db.begin_write().await?;
    tx.audit(&ctx.entry(
        "connectors.population.verify",
        "citizen",
        &format!("cccd-digest:{}", cccd_digest(&c.cccd)),
        "",
        summary,
    ))
    .await?;
    tx.commit().await?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_nfc_case_insensitive_diacritics_exact() {
        // "Nguyễn" decomposed (e + combining circumflex + combining tilde).
        let decomposed = "Nguye\u{0302}\u{0303}n  Văn   An";
        assert!(same_name("Nguyễn Văn An", decomposed));
        assert!(same_name("Nguyễn Văn An", "NGUYỄN VĂN AN"));
        assert!(same_name("Đặng Thị Hoa", "đặng thị hoa"));
        assert!(!same_name("Nguyễn Văn An", "Nguyen Van An"));
        assert!(!same_name("Đặng Thị Hoa", "Dặng Thị Hoa"));
        assert!(!same_name("Nguyễn Văn An", "Nguyễn Văn Ân"));
    }

    #[test]
    fn every_bad_field_is_named_in_both_languages() {
        let e = check(&VerifyInput {
            cccd: "12345".into(),
            full_name: "  ".into(),
            date_of_birth: "31/02/1990".into(),
            purpose: "x".repeat(101),
        })
        .err()
        .unwrap_or_else(|| AppError::internal("expected an error"));
        let fields: Vec<&str> = e.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["cccd", "full_name", "date_of_birth", "purpose"]);
        assert!(e
            .fields
            .iter()
            .all(|f| !f.message_vi.is_empty() && !f.message_en.is_empty()));
    }

    #[test]
    fn the_birth_year_must_agree_with_the_number() {
        // 020 Lạng Sơn, 1 = woman born in the 1900s, 90 → 1990.
        let ok = check(&VerifyInput {
            cccd: "020 190 001 234".into(),
            full_name: "Hoàng Thị Mai".into(),
            date_of_birth: "05/03/1990".into(),
            purpose: String::new(),
        });
        assert_eq!(ok.map(|c| c.cccd).unwrap_or_default(), "020190001234");
        let bad = check(&VerifyInput {
            cccd: "020190001234".into(),
            full_name: "Hoàng Thị Mai".into(),
            date_of_birth: "05/03/1991".into(),
            purpose: String::new(),
        });
        assert_eq!(
            bad.err().map(|e| e.fields[0].code),
            Some("date_of_birth_cccd")
        );
    }
}
