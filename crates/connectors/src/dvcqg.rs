//! Cổng Dịch vụ công quốc gia (DVCQG) — the national public service portal's dossier
//! synchronisation contract and a typed client for it.
//!
//! The contract as followed here (sources and what could not be confirmed: `docs/connectors.md`):
//! an adapter URL with two endpoints, both `POST` with JSON and a `dstcode` header:
//!
//! * **auth** — `{"username", "password"}` → `{"error_code": 0, "session": "…"}`: the token;
//! * **integration** — `{"session", "madonvi", "service": <name>, …}` → `{"error_code": "00",
//!   "message", "result"}`, where `service` is one of [`service`]: obtain/confirm the dossier
//!   code (`LayMaHoSo`), upload a file (`TaiTepHoSo`), create or update the dossier
//!   (`DongBoHoSoMC`, `isUpdating` `"False"` / `"True"`, `data`: [`HoSo`]), record progress
//!   (`CapNhatTienDoHoSoMC`, `data`: [`TienDo`]) and look a dossier up (`TraCuuHoSo`).
//!
//! Times are `yyyyMMddHHmmss` in Vietnam time ([`portal_time`]). Status codes are the portal's
//! 1–10, the same numbers as [`tinhso_services::status::Status`].
//!
//! [`Client`] adds per-request time-outs, retries with exponential back-off on transient
//! failures (connection errors, time-outs, HTTP 5xx and 429), one re-authentication when the
//! portal refuses the session, and errors that say which step failed ([`DvcqgError`]).

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::fmt;
use std::time::Duration;
use tokio::sync::Mutex;

/// Names of the portal's services (the `service` field of an integration request).
pub mod service {
    /// Lấy / xác nhận mã hồ sơ: reserve the dossier code on the portal.
    pub const LAY_MA_HO_SO: &str = "LayMaHoSo";
    /// Tải tệp hồ sơ: upload one file of the dossier.
    pub const TAI_TEP_HO_SO: &str = "TaiTepHoSo";
    /// Đồng bộ hồ sơ một cửa: create (`isUpdating` = `"False"`) or update the dossier,
    /// including its status `TrangThaiHoSo`.
    pub const DONG_BO_HO_SO: &str = "DongBoHoSoMC";
    /// Cập nhật tiến độ hồ sơ một cửa: one processing step.
    pub const CAP_NHAT_TIEN_DO: &str = "CapNhatTienDoHoSoMC";
    /// Tra cứu hồ sơ: is the dossier on the portal?
    pub const TRA_CUU_HO_SO: &str = "TraCuuHoSo";
}

/// Error codes answered in `error_code` (`"00"`/`0` is success).
pub mod code {
    pub const OK: &str = "00";
    /// The session is missing, unknown or expired (also HTTP 401).
    pub const SESSION: &str = "401";
    /// Wrong user name or password.
    pub const CREDENTIALS: &str = "403";
    /// A required field is missing or malformed.
    pub const FIELD: &str = "02";
    /// Unknown dossier code.
    pub const UNKNOWN_DOSSIER: &str = "03";
    /// The status change is not allowed from the portal's current status.
    pub const ILLEGAL_TRANSITION: &str = "04";
    /// The dossier already exists (create with `isUpdating` = `"False"`).
    pub const EXISTS: &str = "05";
    /// Unknown service name.
    pub const UNKNOWN_SERVICE: &str = "06";
}

/// Where the portal's adapter is and how to sign in.
#[derive(Clone)]
pub struct Config {
    /// The adapter's base URL, e.g. `https://adapter.example.gov.vn`.
    pub base_url: String,
    /// Path of the auth endpoint (default `/api/auth`).
    pub auth_endpoint: String,
    /// Path of the integration endpoint (default `/api/integration`).
    pub integration_endpoint: String,
    pub username: String,
    pub password: String,
    /// The province's unit code on the portal (`madonvi`).
    pub madonvi: String,
    /// The destination code header (`dstcode`) the adapter routes by.
    pub dstcode: String,
    /// Time-out of one HTTP request.
    pub timeout: Duration,
    /// Attempts per call on transient failures (≥ 1).
    pub max_attempts: u32,
    /// First back-off between attempts (doubles each time).
    pub backoff: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("password", &"***")
            .field("madonvi", &self.madonvi)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// A configuration with the default endpoints, time-out (10 s), 3 attempts and 200 ms
    /// first back-off.
    pub fn new(base_url: &str, username: &str, password: &str, madonvi: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            auth_endpoint: "/api/auth".into(),
            integration_endpoint: "/api/integration".into(),
            username: username.into(),
            password: password.into(),
            madonvi: madonvi.into(),
            dstcode: "DVCQG".into(),
            timeout: Duration::from_secs(10),
            max_attempts: 3,
            backoff: Duration::from_millis(200),
        }
    }

    /// From the environment: `TINHSO_DVCQG_URL` (required), `TINHSO_DVCQG_USERNAME`,
    /// `TINHSO_DVCQG_PASSWORD`, `TINHSO_DVCQG_MADONVI`, and optionally
    /// `TINHSO_DVCQG_AUTH_PATH`, `TINHSO_DVCQG_INTEGRATION_PATH`, `TINHSO_DVCQG_DSTCODE`,
    /// `TINHSO_DVCQG_TIMEOUT_SECS`. `None` when the URL is not set.
    pub fn from_env() -> Option<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let url = var("TINHSO_DVCQG_URL")?;
        let mut c = Self::new(
            &url,
            &var("TINHSO_DVCQG_USERNAME").unwrap_or_default(),
            &var("TINHSO_DVCQG_PASSWORD").unwrap_or_default(),
            &var("TINHSO_DVCQG_MADONVI").unwrap_or_default(),
        );
        if let Some(p) = var("TINHSO_DVCQG_AUTH_PATH") {
            c.auth_endpoint = p;
        }
        if let Some(p) = var("TINHSO_DVCQG_INTEGRATION_PATH") {
            c.integration_endpoint = p;
        }
        if let Some(d) = var("TINHSO_DVCQG_DSTCODE") {
            c.dstcode = d;
        }
        if let Some(s) = var("TINHSO_DVCQG_TIMEOUT_SECS").and_then(|s| s.parse::<u64>().ok()) {
            c.timeout = Duration::from_secs(s.clamp(1, 300));
        }
        Some(c)
    }
}

/// Why a call to the portal failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DvcqgError {
    /// The portal could not be reached or answered 5xx/429 on every attempt; worth retrying
    /// later.
    Transient { step: String, detail: String },
    /// The portal refused the credentials or the session.
    Auth { detail: String },
    /// The portal answered with an error code: the request was understood and refused.
    Rejected {
        step: String,
        code: String,
        message: String,
    },
    /// The answer was not what the contract says.
    Protocol { step: String, detail: String },
}

impl DvcqgError {
    /// Whether retrying the same request may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, DvcqgError::Transient { .. })
    }
}

impl fmt::Display for DvcqgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DvcqgError::Transient { step, detail } => {
                write!(f, "{step}: portal unreachable or failing ({detail})")
            }
            DvcqgError::Auth { detail } => write!(f, "auth: portal refused the sign-in ({detail})"),
            DvcqgError::Rejected {
                step,
                code,
                message,
            } => write!(f, "{step}: portal refused, error_code {code}: {message}"),
            DvcqgError::Protocol { step, detail } => {
                write!(f, "{step}: unexpected answer ({detail})")
            }
        }
    }
}

impl std::error::Error for DvcqgError {}

/// Tài liệu nộp: a file of the dossier as the portal knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TaiLieuNop {
    #[serde(rename = "TepDinhKemId", default)]
    pub tep_dinh_kem_id: String,
    #[serde(rename = "TenTepDinhKem", default)]
    pub ten_tep_dinh_kem: String,
    #[serde(rename = "MaThanhPhanHoSo", default)]
    pub ma_thanh_phan_ho_so: String,
    #[serde(rename = "DuongDanTaiTepTin", default)]
    pub duong_dan_tai_tep_tin: String,
}

/// Hồ sơ: one dossier item of `DongBoHoSoMC`. Field names as in the contract; every value a
/// string (times `yyyyMMddHHmmss`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HoSo {
    #[serde(rename = "MaHoSo", default)]
    pub ma_ho_so: String,
    #[serde(rename = "MaTTHC", default)]
    pub ma_tthc: String,
    #[serde(rename = "TenTTHC", default)]
    pub ten_tthc: String,
    #[serde(rename = "MaLinhVuc", default)]
    pub ma_linh_vuc: String,
    #[serde(rename = "TenLinhVuc", default)]
    pub ten_linh_vuc: String,
    #[serde(rename = "ChuHoSo", default)]
    pub chu_ho_so: String,
    /// 1 citizen, 2 organisation/enterprise.
    #[serde(rename = "LoaiDoiTuong", default)]
    pub loai_doi_tuong: String,
    #[serde(rename = "MaDoiTuong", default)]
    pub ma_doi_tuong: String,
    #[serde(rename = "Email", default)]
    pub email: String,
    #[serde(rename = "SoDienThoai", default)]
    pub so_dien_thoai: String,
    #[serde(rename = "TrichYeuHoSo", default)]
    pub trich_yeu_ho_so: String,
    #[serde(rename = "NgayTiepNhan", default)]
    pub ngay_tiep_nhan: String,
    #[serde(rename = "NgayHenTra", default)]
    pub ngay_hen_tra: String,
    /// 1–10.
    #[serde(rename = "TrangThaiHoSo", default)]
    pub trang_thai_ho_so: String,
    #[serde(rename = "NgayTra", default)]
    pub ngay_tra: String,
    /// 0 result handed over directly, 1 by post.
    #[serde(rename = "HinhThuc", default)]
    pub hinh_thuc: String,
    /// 1 in person, 2 online, 3 public post.
    #[serde(rename = "KenhThucHien", default)]
    pub kenh_thuc_hien: String,
    #[serde(rename = "NgayKetThucXuLy", default)]
    pub ngay_ket_thuc_xu_ly: String,
    #[serde(rename = "DonViXuLy", default)]
    pub don_vi_xu_ly: String,
    #[serde(rename = "GhiChu", default)]
    pub ghi_chu: String,
    #[serde(rename = "TaiLieuNop", default)]
    pub tai_lieu_nop: Vec<TaiLieuNop>,
}

/// Tiến độ: one processing step of `CapNhatTienDoHoSoMC`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TienDo {
    #[serde(rename = "MaHoSo", default)]
    pub ma_ho_so: String,
    #[serde(rename = "NguoiXuLy", default)]
    pub nguoi_xu_ly: String,
    #[serde(rename = "ChucDanh", default)]
    pub chuc_danh: String,
    #[serde(rename = "ThoiDiemXuLy", default)]
    pub thoi_diem_xu_ly: String,
    #[serde(rename = "PhongBanXuLy", default)]
    pub phong_ban_xu_ly: String,
    #[serde(rename = "NoiDungXuLy", default)]
    pub noi_dung_xu_ly: String,
    /// 1–10: the status after this step.
    #[serde(rename = "TrangThai", default)]
    pub trang_thai: String,
    #[serde(rename = "NgayBatDau", default)]
    pub ngay_bat_dau: String,
    #[serde(rename = "NgayKetThucTheoQuyDinh", default)]
    pub ngay_ket_thuc_theo_quy_dinh: String,
}

/// A time as the portal writes it: `yyyyMMddHHmmss`, Vietnam time (UTC+7).
pub fn portal_time(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros + 7 * 3_600 * 1_000_000)
        .map(|d| d.naive_utc().format("%Y%m%d%H%M%S").to_string())
        .unwrap_or_default()
}

/// Parse a portal time (`yyyyMMddHHmmss`, Vietnam time) to Unix microseconds.
pub fn parse_portal_time(s: &str) -> Option<i64> {
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S")
        .ok()
        .map(|d| d.and_utc().timestamp_micros() - 7 * 3_600 * 1_000_000)
}

/// The `error_code` of an answer as a string (`0` and `"0"` read as `"00"`).
pub fn error_code_of(v: &Value) -> Option<String> {
    let c = match v.get("error_code")? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Some(if c == "0" { code::OK.to_string() } else { c })
}

/// A client of the portal. Cheap to share behind an `Arc`; the session is cached and renewed
/// when the portal refuses it.
pub struct Client {
    cfg: Config,
    http: reqwest::Client,
    session: Mutex<Option<String>>,
}

impl Client {
    pub fn new(cfg: Config) -> Result<Self, DvcqgError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| DvcqgError::Protocol {
                step: "client".into(),
                detail: e.to_string(),
            })?;
        Ok(Self {
            cfg,
            http,
            session: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// POST JSON with retries on transient failures. Returns the HTTP status and the body.
    async fn post(&self, step: &str, path: &str, body: &Value) -> Result<(u16, Value), DvcqgError> {
        let url = format!("{}{}", self.cfg.base_url, path);
        let attempts = self.cfg.max_attempts.max(1);
        let mut last = String::new();
        for attempt in 0..attempts {
            if attempt > 0 {
                let wait = self.cfg.backoff * 2u32.saturating_pow(attempt - 1);
                tokio::time::sleep(wait.min(Duration::from_secs(30))).await;
            }
            let sent = self
                .http
                .post(&url)
                .header("dstcode", &self.cfg.dstcode)
                .header("Accept", "application/json")
                .json(body)
                .send()
                .await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    last = if e.is_timeout() {
                        format!("time-out after {:?}", self.cfg.timeout)
                    } else {
                        format!("connection: {e}")
                    };
                    continue;
                }
            };
            let status = resp.status().as_u16();
            if status >= 500 || status == 429 {
                last = format!("HTTP {status}");
                continue;
            }
            let text = match resp.text().await {
                Ok(t) => t,
                Err(e) => {
                    last = format!("reading the answer: {e}");
                    continue;
                }
            };
            let v: Value = serde_json::from_str(&text).map_err(|e| DvcqgError::Protocol {
                step: step.into(),
                detail: format!("HTTP {status}, not JSON: {e}"),
            })?;
            return Ok((status, v));
        }
        Err(DvcqgError::Transient {
            step: step.into(),
            detail: format!("{attempts} attempts, last: {last}"),
        })
    }

    /// Lấy token: sign in and cache the session.
    pub async fn get_token(&self) -> Result<String, DvcqgError> {
        let body = json!({"username": self.cfg.username, "password": self.cfg.password});
        let (status, v) = self.post("auth", &self.cfg.auth_endpoint, &body).await?;
        let ok = error_code_of(&v).as_deref() == Some(code::OK);
        let session = v.get("session").and_then(Value::as_str).unwrap_or_default();
        if status != 200 || !ok || session.is_empty() {
            return Err(DvcqgError::Auth {
                detail: format!(
                    "HTTP {status}, error_code {}: {}",
                    error_code_of(&v).unwrap_or_else(|| "?".into()),
                    v.get("message").and_then(Value::as_str).unwrap_or_default()
                ),
            });
        }
        *self.session.lock().await = Some(session.to_string());
        Ok(session.to_string())
    }

    async fn session(&self) -> Result<String, DvcqgError> {
        if let Some(s) = self.session.lock().await.clone() {
            return Ok(s);
        }
        self.get_token().await
    }

    /// One integration call: the envelope (`session`, `madonvi`, `service`) plus `fields`.
    /// A refused session is renewed once. Returns `result` (or `null`).
    pub async fn call(
        &self,
        service: &str,
        fields: Map<String, Value>,
    ) -> Result<Value, DvcqgError> {
        let mut renewed = false;
        loop {
            let session = self.session().await?;
            let mut body = Map::new();
            body.insert("session".into(), Value::String(session));
            body.insert("madonvi".into(), Value::String(self.cfg.madonvi.clone()));
            body.insert("service".into(), Value::String(service.into()));
            for (k, v) in &fields {
                body.insert(k.clone(), v.clone());
            }
            let (status, v) = self
                .post(
                    service,
                    &self.cfg.integration_endpoint,
                    &Value::Object(body),
                )
                .await?;
            let code = error_code_of(&v);
            if status == 401 || code.as_deref() == Some(code::SESSION) {
                *self.session.lock().await = None;
                if renewed {
                    return Err(DvcqgError::Auth {
                        detail: "the portal refused a fresh session".into(),
                    });
                }
                renewed = true;
                continue;
            }
            return match code {
                Some(c) if c == code::OK => Ok(v.get("result").cloned().unwrap_or(Value::Null)),
                Some(c) => Err(DvcqgError::Rejected {
                    step: service.into(),
                    message: v
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    code: c,
                }),
                None => Err(DvcqgError::Protocol {
                    step: service.into(),
                    detail: format!("HTTP {status} without error_code"),
                }),
            };
        }
    }

    /// Lấy mã hồ sơ: obtain (or confirm) the dossier code on the portal. Idempotent: asking
    /// again for the same code answers the same code.
    pub async fn confirm_code(&self, ma_ho_so: &str, ma_tthc: &str) -> Result<String, DvcqgError> {
        let mut f = Map::new();
        f.insert("MaHoSo".into(), json!(ma_ho_so));
        f.insert("MaTTHC".into(), json!(ma_tthc));
        let r = self.call(service::LAY_MA_HO_SO, f).await?;
        r.get("MaHoSo")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| DvcqgError::Protocol {
                step: service::LAY_MA_HO_SO.into(),
                detail: "no MaHoSo in result".into(),
            })
    }

    /// Tải tệp: upload one file of a dossier (content base64 in `NoiDungTep`).
    pub async fn upload_file(
        &self,
        ma_ho_so: &str,
        ma_thanh_phan: &str,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<TaiLieuNop, DvcqgError> {
        let mut f = Map::new();
        f.insert("MaHoSo".into(), json!(ma_ho_so));
        f.insert("MaThanhPhanHoSo".into(), json!(ma_thanh_phan));
        f.insert("TenTepDinhKem".into(), json!(file_name));
        f.insert(
            "NoiDungTep".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(bytes)),
        );
        let r = self.call(service::TAI_TEP_HO_SO, f).await?;
        serde_json::from_value::<TaiLieuNop>(r).map_err(|e| DvcqgError::Protocol {
            step: service::TAI_TEP_HO_SO.into(),
            detail: e.to_string(),
        })
    }

    /// Đồng bộ hồ sơ: create (`updating` false) or update the dossier, its status included.
    pub async fn sync_dossier(&self, ho_so: &HoSo, updating: bool) -> Result<(), DvcqgError> {
        let mut f = Map::new();
        f.insert(
            "isUpdating".into(),
            json!(if updating { "True" } else { "False" }),
        );
        f.insert("data".into(), json!([ho_so]));
        self.call(service::DONG_BO_HO_SO, f).await.map(|_| ())
    }

    /// Cập nhật tiến độ: record one processing step.
    pub async fn update_progress(&self, tien_do: &TienDo) -> Result<(), DvcqgError> {
        let mut f = Map::new();
        f.insert("data".into(), json!([tien_do]));
        self.call(service::CAP_NHAT_TIEN_DO, f).await.map(|_| ())
    }

    /// Tra cứu hồ sơ: whether the portal holds the dossier.
    pub async fn exists(&self, ma_ho_so: &str) -> Result<bool, DvcqgError> {
        let mut f = Map::new();
        f.insert("mahoso".into(), json!(ma_ho_so));
        let r = self.call(service::TRA_CUU_HO_SO, f).await?;
        Ok(r.as_array().is_some_and(|a| !a.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_times_are_vietnam_time() {
        // 2026-11-29 11:25:31 UTC = 18:25:31 in Vietnam.
        let t = 1_795_951_531_000_000;
        assert_eq!(portal_time(t), "20261129182531");
        assert_eq!(parse_portal_time("20261129182531"), Some(t));
        assert_eq!(parse_portal_time("2026112918253"), None);
        assert_eq!(parse_portal_time("2026113218253x"), None);
        assert_eq!(parse_portal_time("20261332182531"), None);
    }

    #[test]
    fn error_codes_read_as_strings() {
        assert_eq!(
            error_code_of(&json!({"error_code": 0})).as_deref(),
            Some("00")
        );
        assert_eq!(
            error_code_of(&json!({"error_code": "00"})).as_deref(),
            Some("00")
        );
        assert_eq!(
            error_code_of(&json!({"error_code": "04"})).as_deref(),
            Some("04")
        );
        assert_eq!(error_code_of(&json!({"x": 1})), None);
    }

    #[test]
    fn field_names_follow_the_contract() {
        let v = serde_json::to_value(HoSo {
            ma_ho_so: "X".into(),
            ..Default::default()
        })
        .unwrap_or_default();
        for k in [
            "MaHoSo",
            "MaTTHC",
            "TenTTHC",
            "LoaiDoiTuong",
            "NgayTiepNhan",
            "NgayHenTra",
            "TrangThaiHoSo",
            "DonViXuLy",
            "TaiLieuNop",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        let v = serde_json::to_value(TienDo::default()).unwrap_or_default();
        for k in [
            "MaHoSo",
            "NguoiXuLy",
            "ThoiDiemXuLy",
            "NoiDungXuLy",
            "TrangThai",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
    }
}
