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

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fmt;
use std::time::Duration;
use tinhso_kernel::error::Invalid;
use tinhso_kernel::{text, validate, AppError, FieldErrors};
use tinhso_store::audit::Ctx;
use tinhso_store::Db;
use utoipa::ToSchema;

/// Where the population database's verification service is.
#[derive(Clone)]
pub struct Config {
    pub base_url: String,
    /// Path of the verification service (default `/api/v1/cong-dan/xac-thuc`).
    pub path: String,
    /// Bearer key issued to the province.
    pub api_key: String,
    pub timeout: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("path", &self.path)
            .field("api_key", &"***")
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn new(base_url: &str, api_key: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            path: "/api/v1/cong-dan/xac-thuc".into(),
            api_key: api_key.into(),
            timeout: Duration::from_secs(10),
        }
    }

    /// From `TINHSO_POPULATION_URL` (required), `TINHSO_POPULATION_KEY`,
    /// `TINHSO_POPULATION_PATH`. `None` when the URL is not set.
    pub fn from_env() -> Option<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let mut c = Self::new(
            &var("TINHSO_POPULATION_URL")?,
            &var("TINHSO_POPULATION_KEY").unwrap_or_default(),
        );
        if let Some(p) = var("TINHSO_POPULATION_PATH") {
            c.path = p;
        }
        Some(c)
    }
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

impl Client {
    pub fn new(cfg: Config) -> Result<Self, AppError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(AppError::internal)?;
        Ok(Self { cfg, http })
    }

    /// Ask the population database about one checked request.
    pub async fn lookup(&self, c: &Checked) -> Verification {
        let mut body = json!({"SoDinhDanh": c.cccd, "HoVaTen": c.full_name});
        if let Some(d) = c.date_of_birth {
            body["NgayThangNamSinh"] = json!(d.format("%d/%m/%Y").to_string());
        }
        let url = format!("{}{}", self.cfg.base_url, self.cfg.path);
        let unavailable = |reason: String| Verification::Unavailable { reason };
        let resp = match self
            .http
            .post(&url)
            .bearer_auth(&self.cfg.api_key)
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_timeout() => {
                return unavailable(format!("time-out after {:?}", self.cfg.timeout))
            }
            Err(e) => return unavailable(format!("connection: {e}")),
        };
        let status = resp.status().as_u16();
        if status != 200 {
            return unavailable(format!("HTTP {status}"));
        }
        let v: Value = match resp.json().await {
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
    let result = match client {
        Some(client) => client.lookup(&c).await,
        None => Verification::Unavailable {
            reason: "the population database connector is not configured".into(),
        },
    };
    let mut summary = json!({"result": result.as_str(), "purpose": c.purpose});
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
