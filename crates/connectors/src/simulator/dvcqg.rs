//! A local conformance simulator of the national public service portal's (DVCQG) dossier
//! synchronisation adapter — **for tests and `tinhso serve --demo` only**; it is not the
//! portal. It serves the contract of [`crate::dvcqg`] on a loopback port and enforces it
//! strictly: unknown credentials and sessions are refused (401), a dossier must have its code
//! confirmed (`LayMaHoSo`) before files or the dossier itself are sent, required fields must be
//! present and well formed, progress and status changes must follow the legal transitions of
//! the status codes 1–10 ([`legal`]), and creating an existing dossier is refused. It keeps
//! everything it accepted, and can be told to fail the next N requests with HTTP 503 (to test
//! retries) or to hold a dossier at a given status (to test divergence).

use crate::dvcqg::{self, code, service, HoSo, TaiLieuNop, TienDo};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The portal's view of legal status changes (codes 1–10). Re-sending the current status is
/// always accepted (idempotent updates).
///
/// 1 Mới đăng ký → 2 tiếp nhận, 3 không tiếp nhận, 5 bổ sung, 7 rút;
/// 2 Được tiếp nhận → 4, 5, 6, 7, 8; 4 Đang xử lý → 4, 5, 6, 7, 8, 9;
/// 5 Yêu cầu bổ sung → 1, 2, 4 (back where it was), 7, 8; 6 Nghĩa vụ tài chính → 4, 7, 8;
/// 9 Đã xử lý xong → 10; 3, 7, 8, 10 are final.
pub fn legal(from: i64, to: i64) -> bool {
    if from == to {
        return (1..=10).contains(&from);
    }
    let next: &[i64] = match from {
        1 => &[2, 3, 5, 7],
        2 => &[4, 5, 6, 7, 8],
        4 => &[4, 5, 6, 7, 8, 9],
        5 => &[1, 2, 4, 7, 8],
        6 => &[4, 7, 8],
        9 => &[10],
        _ => &[],
    };
    next.contains(&to)
}

/// Statuses a dossier may be created with: submitted online (1) or received at a counter (2).
pub const INITIAL: [i64; 2] = [1, 2];

/// What the simulated portal holds.
#[derive(Debug, Default)]
struct Portal {
    username: String,
    password: String,
    madonvi: String,
    sessions: BTreeSet<String>,
    /// Confirmed dossier codes → MaTTHC.
    codes: BTreeMap<String, String>,
    dossiers: BTreeMap<String, HoSo>,
    progress: BTreeMap<String, Vec<TienDo>>,
    files: BTreeMap<String, Vec<(TaiLieuNop, usize)>>,
    fail_next: u32,
    requests: u64,
    refusals: Vec<String>,
}

/// A running simulator. Dropping it stops the server.
pub struct DvcqgSimulator {
    addr: SocketAddr,
    portal: Arc<Mutex<Portal>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DvcqgSimulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(p: &Mutex<Portal>) -> MutexGuard<'_, Portal> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

impl DvcqgSimulator {
    /// Start on `127.0.0.1`, a free port, accepting these credentials and unit code.
    pub async fn start(username: &str, password: &str, madonvi: &str) -> std::io::Result<Self> {
        let portal = Arc::new(Mutex::new(Portal {
            username: username.into(),
            password: password.into(),
            madonvi: madonvi.into(),
            ..Default::default()
        }));
        let app = Router::new()
            .route("/api/auth", post(auth))
            .route("/api/integration", post(integration))
            .with_state(portal.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, portal, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client configuration pointing at this simulator with its credentials (short time-out
    /// and back-off, for tests).
    pub fn config(&self) -> dvcqg::Config {
        let p = lock(&self.portal);
        let mut c = dvcqg::Config::new(&self.url(), &p.username, &p.password, &p.madonvi);
        c.timeout = Duration::from_secs(5);
        c.backoff = Duration::from_millis(20);
        c
    }

    /// Answer the next `n` requests (auth or integration) with HTTP 503.
    pub fn fail_next(&self, n: u32) {
        lock(&self.portal).fail_next = n;
    }

    /// Set the status the portal holds for a dossier (as if another system had changed it).
    pub fn force_status(&self, ma_ho_so: &str, status: i64) {
        if let Some(d) = lock(&self.portal).dossiers.get_mut(ma_ho_so) {
            d.trang_thai_ho_so = status.to_string();
        }
    }

    /// Forget every session (as if they had expired).
    pub fn expire_sessions(&self) {
        lock(&self.portal).sessions.clear();
    }

    /// The dossier as the portal holds it.
    pub fn dossier(&self, ma_ho_so: &str) -> Option<HoSo> {
        lock(&self.portal).dossiers.get(ma_ho_so).cloned()
    }

    /// Every dossier code the portal holds.
    pub fn dossier_codes(&self) -> Vec<String> {
        lock(&self.portal).dossiers.keys().cloned().collect()
    }

    /// The progress steps received for a dossier, in order.
    pub fn progress(&self, ma_ho_so: &str) -> Vec<TienDo> {
        lock(&self.portal)
            .progress
            .get(ma_ho_so)
            .cloned()
            .unwrap_or_default()
    }

    /// The files received for a dossier (metadata and size in bytes).
    pub fn files(&self, ma_ho_so: &str) -> Vec<(TaiLieuNop, usize)> {
        lock(&self.portal)
            .files
            .get(ma_ho_so)
            .cloned()
            .unwrap_or_default()
    }

    /// Requests received (including the failed ones).
    pub fn requests(&self) -> u64 {
        lock(&self.portal).requests
    }

    /// The refusals answered so far (`<service> <error_code>: <message>`).
    pub fn refusals(&self) -> Vec<String> {
        lock(&self.portal).refusals.clone()
    }
}

fn answer(code: &str, message: &str, result: Value) -> Response {
    let status = if code == code::SESSION {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    (
        status,
        Json(json!({"error_code": code, "message": message, "result": result})),
    )
        .into_response()
}

/// Takes one failure off the counter when failures are due.
fn injected_failure(p: &mut Portal) -> Option<Response> {
    p.requests += 1;
    if p.fail_next > 0 {
        p.fail_next -= 1;
        return Some(
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "simulated failure (DvcqgSimulator::fail_next)",
            )
                .into_response(),
        );
    }
    None
}

async fn auth(State(portal): State<Arc<Mutex<Portal>>>, body: Bytes) -> Response {
    let mut p = lock(&portal);
    if let Some(r) = injected_failure(&mut p) {
        return r;
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return answer(code::FIELD, "body is not JSON", Value::Null);
    };
    let user = v
        .get("username")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let pass = v
        .get("password")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if user.is_empty() || user != p.username || pass != p.password {
        return (
            StatusCode::OK,
            Json(json!({"error_code": code::CREDENTIALS, "message": "Sai tên đăng nhập hoặc mật khẩu"})),
        )
            .into_response();
    }
    let session = uuid::Uuid::new_v4().simple().to_string();
    p.sessions.insert(session.clone());
    (
        StatusCode::OK,
        Json(json!({"error_code": 0, "message": "OK", "session": session})),
    )
        .into_response()
}

fn s<'a>(o: &'a Map<String, Value>, k: &str) -> &'a str {
    o.get(k).and_then(Value::as_str).unwrap_or_default()
}

async fn integration(State(portal): State<Arc<Mutex<Portal>>>, body: Bytes) -> Response {
    let mut p = lock(&portal);
    if let Some(r) = injected_failure(&mut p) {
        return r;
    }
    let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(&body) else {
        return answer(code::FIELD, "body is not a JSON object", Value::Null);
    };
    if !p.sessions.contains(s(&o, "session")) {
        return answer(code::SESSION, "Phiên làm việc không hợp lệ", Value::Null);
    }
    if s(&o, "madonvi") != p.madonvi {
        return refuse(&mut p, "envelope", code::FIELD, "madonvi không đúng");
    }
    let svc = s(&o, "service").to_string();
    match svc.as_str() {
        service::LAY_MA_HO_SO => lay_ma_ho_so(&mut p, &o),
        service::TAI_TEP_HO_SO => tai_tep(&mut p, &o),
        service::DONG_BO_HO_SO => dong_bo(&mut p, &o),
        service::CAP_NHAT_TIEN_DO => tien_do(&mut p, &o),
        service::TRA_CUU_HO_SO => {
            let code = s(&o, "mahoso");
            let found: Vec<&HoSo> = p.dossiers.get(code).into_iter().collect();
            answer(code::OK, "OK", json!(found))
        }
        other => refuse(
            &mut p,
            "envelope",
            code::UNKNOWN_SERVICE,
            &format!("Không có dịch vụ {other:?}"),
        ),
    }
}

fn refuse(p: &mut Portal, svc: &str, code: &str, message: &str) -> Response {
    p.refusals.push(format!("{svc} {code}: {message}"));
    answer(code, message, Value::Null)
}

fn status_of(s: &str) -> Option<i64> {
    s.parse::<i64>().ok().filter(|n| (1..=10).contains(n))
}

fn lay_ma_ho_so(p: &mut Portal, o: &Map<String, Value>) -> Response {
    let (code_, tthc) = (s(o, "MaHoSo").trim(), s(o, "MaTTHC").trim());
    if code_.is_empty() || tthc.is_empty() {
        return refuse(
            p,
            service::LAY_MA_HO_SO,
            code::FIELD,
            "Thiếu MaHoSo hoặc MaTTHC",
        );
    }
    match p.codes.get(code_) {
        Some(t) if t != tthc => refuse(
            p,
            service::LAY_MA_HO_SO,
            code::EXISTS,
            "Mã hồ sơ đã cấp cho thủ tục khác",
        ),
        _ => {
            p.codes.insert(code_.to_string(), tthc.to_string());
            answer(code::OK, "OK", json!({"MaHoSo": code_}))
        }
    }
}

fn tai_tep(p: &mut Portal, o: &Map<String, Value>) -> Response {
    let code_ = s(o, "MaHoSo").to_string();
    if !p.codes.contains_key(&code_) {
        return refuse(
            p,
            service::TAI_TEP_HO_SO,
            code::UNKNOWN_DOSSIER,
            "Mã hồ sơ chưa được cấp (LayMaHoSo)",
        );
    }
    let (name, part) = (s(o, "TenTepDinhKem"), s(o, "MaThanhPhanHoSo"));
    let content = base64::engine::general_purpose::STANDARD.decode(s(o, "NoiDungTep"));
    let bytes = match content {
        Ok(b) if !b.is_empty() => b,
        _ => {
            return refuse(
                p,
                service::TAI_TEP_HO_SO,
                code::FIELD,
                "NoiDungTep phải là base64, không rỗng",
            )
        }
    };
    if name.trim().is_empty() || part.trim().is_empty() {
        return refuse(
            p,
            service::TAI_TEP_HO_SO,
            code::FIELD,
            "Thiếu TenTepDinhKem hoặc MaThanhPhanHoSo",
        );
    }
    let files = p.files.entry(code_.clone()).or_default();
    // The same file of the same component again is the same upload (idempotent).
    let id = format!("{code_}-{part}-{}", files.len() + 1);
    if let Some((t, _)) = files.iter().find(|(t, n)| {
        t.ten_tep_dinh_kem == name && t.ma_thanh_phan_ho_so == part && *n == bytes.len()
    }) {
        let t = t.clone();
        return answer(code::OK, "OK", json!(t));
    }
    let t = TaiLieuNop {
        tep_dinh_kem_id: id.clone(),
        ten_tep_dinh_kem: name.into(),
        ma_thanh_phan_ho_so: part.into(),
        duong_dan_tai_tep_tin: format!("/files/{id}"),
    };
    files.push((t.clone(), bytes.len()));
    answer(code::OK, "OK", json!(t))
}

/// Every missing or malformed field of a dossier item.
fn dossier_problems(h: &HoSo) -> Vec<String> {
    let mut v = Vec::new();
    for (name, value) in [
        ("MaHoSo", &h.ma_ho_so),
        ("MaTTHC", &h.ma_tthc),
        ("TenTTHC", &h.ten_tthc),
        ("TrichYeuHoSo", &h.trich_yeu_ho_so),
        ("DonViXuLy", &h.don_vi_xu_ly),
    ] {
        if value.trim().is_empty() {
            v.push(format!("thiếu {name}"));
        }
    }
    if !matches!(h.loai_doi_tuong.as_str(), "1" | "2") {
        v.push("LoaiDoiTuong phải là 1 hoặc 2".into());
    }
    if !matches!(h.hinh_thuc.as_str(), "0" | "1") {
        v.push("HinhThuc phải là 0 hoặc 1".into());
    }
    if !matches!(h.kenh_thuc_hien.as_str(), "1" | "2" | "3") {
        v.push("KenhThucHien phải là 1, 2 hoặc 3".into());
    }
    if dvcqg::parse_portal_time(&h.ngay_tiep_nhan).is_none() {
        v.push("NgayTiepNhan phải theo yyyyMMddHHmmss".into());
    }
    for (name, value) in [
        ("NgayHenTra", &h.ngay_hen_tra),
        ("NgayTra", &h.ngay_tra),
        ("NgayKetThucXuLy", &h.ngay_ket_thuc_xu_ly),
    ] {
        if !value.is_empty() && dvcqg::parse_portal_time(value).is_none() {
            v.push(format!("{name} phải theo yyyyMMddHHmmss"));
        }
    }
    if status_of(&h.trang_thai_ho_so).is_none() {
        v.push("TrangThaiHoSo phải là mã 1–10".into());
    }
    v
}

fn dong_bo(p: &mut Portal, o: &Map<String, Value>) -> Response {
    let svc = service::DONG_BO_HO_SO;
    let updating = match s(o, "isUpdating") {
        "True" => true,
        "False" => false,
        _ => {
            return refuse(
                p,
                svc,
                code::FIELD,
                "isUpdating phải là \"True\" hoặc \"False\"",
            )
        }
    };
    let items = match o.get("data") {
        Some(Value::Array(a)) if !a.is_empty() => a.clone(),
        _ => return refuse(p, svc, code::FIELD, "data phải là mảng hồ sơ, không rỗng"),
    };
    // Check every item first: nothing is kept unless all are accepted.
    let mut accepted = Vec::with_capacity(items.len());
    for item in items {
        let h: HoSo = match serde_json::from_value(item) {
            Ok(h) => h,
            Err(e) => {
                return refuse(
                    p,
                    svc,
                    code::FIELD,
                    &format!("hồ sơ không đúng cấu trúc: {e}"),
                )
            }
        };
        let problems = dossier_problems(&h);
        if !problems.is_empty() {
            return refuse(
                p,
                svc,
                code::FIELD,
                &format!("{}: {}", h.ma_ho_so, problems.join("; ")),
            );
        }
        if !p.codes.contains_key(&h.ma_ho_so) {
            return refuse(
                p,
                svc,
                code::UNKNOWN_DOSSIER,
                &format!("{}: mã hồ sơ chưa được cấp (LayMaHoSo)", h.ma_ho_so),
            );
        }
        let to = status_of(&h.trang_thai_ho_so).unwrap_or_default();
        match (updating, p.dossiers.get(&h.ma_ho_so)) {
            (false, Some(_)) => {
                return refuse(
                    p,
                    svc,
                    code::EXISTS,
                    &format!("{}: hồ sơ đã có, gửi isUpdating = True", h.ma_ho_so),
                )
            }
            (false, None) if !INITIAL.contains(&to) => {
                return refuse(
                    p,
                    svc,
                    code::ILLEGAL_TRANSITION,
                    &format!(
                        "{}: hồ sơ mới phải ở trạng thái 1 hoặc 2, không phải {to}",
                        h.ma_ho_so
                    ),
                )
            }
            (true, None) => {
                return refuse(
                    p,
                    svc,
                    code::UNKNOWN_DOSSIER,
                    &format!("{}: chưa có hồ sơ để cập nhật", h.ma_ho_so),
                )
            }
            (true, Some(held)) => {
                let from = status_of(&held.trang_thai_ho_so).unwrap_or_default();
                if !legal(from, to) {
                    return refuse(
                        p,
                        svc,
                        code::ILLEGAL_TRANSITION,
                        &format!("{}: không được chuyển trạng thái {from} → {to}", h.ma_ho_so),
                    );
                }
            }
            (false, None) => {}
        }
        accepted.push(h);
    }
    for h in accepted {
        p.dossiers.insert(h.ma_ho_so.clone(), h);
    }
    answer(code::OK, "OK", Value::Null)
}

fn tien_do(p: &mut Portal, o: &Map<String, Value>) -> Response {
    let svc = service::CAP_NHAT_TIEN_DO;
    let items = match o.get("data") {
        Some(Value::Array(a)) if !a.is_empty() => a.clone(),
        _ => return refuse(p, svc, code::FIELD, "data phải là mảng tiến độ, không rỗng"),
    };
    let mut accepted = Vec::with_capacity(items.len());
    for item in items {
        let t: TienDo = match serde_json::from_value(item) {
            Ok(t) => t,
            Err(e) => {
                return refuse(
                    p,
                    svc,
                    code::FIELD,
                    &format!("tiến độ không đúng cấu trúc: {e}"),
                )
            }
        };
        let mut problems = Vec::new();
        if t.nguoi_xu_ly.trim().is_empty() {
            problems.push("thiếu NguoiXuLy");
        }
        if t.noi_dung_xu_ly.trim().is_empty() {
            problems.push("thiếu NoiDungXuLy");
        }
        if dvcqg::parse_portal_time(&t.thoi_diem_xu_ly).is_none() {
            problems.push("ThoiDiemXuLy phải theo yyyyMMddHHmmss");
        }
        let Some(to) = status_of(&t.trang_thai) else {
            return refuse(
                p,
                svc,
                code::FIELD,
                &format!("{}: TrangThai phải là mã 1–10", t.ma_ho_so),
            );
        };
        if !problems.is_empty() {
            return refuse(
                p,
                svc,
                code::FIELD,
                &format!("{}: {}", t.ma_ho_so, problems.join("; ")),
            );
        }
        let Some(held) = p.dossiers.get(&t.ma_ho_so) else {
            return refuse(
                p,
                svc,
                code::UNKNOWN_DOSSIER,
                &format!("{}: không có hồ sơ trên Cổng", t.ma_ho_so),
            );
        };
        let from = status_of(&held.trang_thai_ho_so).unwrap_or_default();
        let already = p
            .progress
            .get(&t.ma_ho_so)
            .is_some_and(|v| v.iter().any(|x| x == &t));
        if !already && !legal(from, to) {
            return refuse(
                p,
                svc,
                code::ILLEGAL_TRANSITION,
                &format!("{}: không được chuyển trạng thái {from} → {to}", t.ma_ho_so),
            );
        }
        accepted.push((already, t));
    }
    for (already, t) in accepted {
        if !already {
            p.progress.entry(t.ma_ho_so.clone()).or_default().push(t);
        }
    }
    answer(code::OK, "OK", Value::Null)
}

#[cfg(test)]
mod tests {
    use super::{dossier_problems, legal};
    use crate::dvcqg::HoSo;
    use proptest::prelude::*;

    fn good() -> HoSo {
        HoSo {
            ma_ho_so: "000.00.23.H37-261129-0001".into(),
            ma_tthc: "1.001193".into(),
            ten_tthc: "Đăng ký khai sinh".into(),
            loai_doi_tuong: "1".into(),
            trich_yeu_ho_so: "Đăng ký khai sinh".into(),
            ngay_tiep_nhan: "20261129182531".into(),
            trang_thai_ho_so: "1".into(),
            hinh_thuc: "0".into(),
            kenh_thuc_hien: "2".into(),
            don_vi_xu_ly: "UBND phường Tam Thanh".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_complete_dossier_has_no_problem_and_each_gap_is_named() {
        assert!(dossier_problems(&good()).is_empty());
        let mut h = good();
        h.ten_tthc.clear();
        h.trang_thai_ho_so = "11".into();
        h.ngay_hen_tra = "2026-11-30".into();
        let p = dossier_problems(&h);
        assert_eq!(p.len(), 3, "{p:?}");
    }

    proptest! {
        /// Whatever arrives in the fields, the portal's checks answer (never panic), and a
        /// dossier they accept has a status 1–10 and a well-formed reception time.
        #[test]
        fn dossier_checks_never_panic(status in ".{0,4}", received in ".{0,16}", kind in ".{0,2}",
                                      due in ".{0,16}", name in ".{0,20}") {
            let mut h = good();
            h.trang_thai_ho_so = status;
            h.ngay_tiep_nhan = received;
            h.loai_doi_tuong = kind;
            h.ngay_hen_tra = due;
            h.ten_tthc = name;
            if dossier_problems(&h).is_empty() {
                let s: i64 = h.trang_thai_ho_so.parse().unwrap_or(0);
                prop_assert!((1..=10).contains(&s));
                prop_assert!(crate::dvcqg::parse_portal_time(&h.ngay_tiep_nhan).is_some());
            }
        }

        #[test]
        fn portal_times_round_trip(secs in 0i64..4_102_444_800) {
            let micros = secs * 1_000_000;
            prop_assert_eq!(crate::dvcqg::parse_portal_time(&crate::dvcqg::portal_time(micros)), Some(micros));
        }

        #[test]
        fn any_dossier_item_is_answered(values in proptest::collection::vec(".{0,16}", 10),
                                        keys in proptest::collection::vec(0usize..12, 10)) {
            // A dossier item as JSON with arbitrary strings under the contract's keys (and
            // unknown ones): it deserialises and is checked or named — never a panic.
            const KEYS: [&str; 12] = ["MaHoSo", "MaTTHC", "TenTTHC", "LoaiDoiTuong", "NgayTiepNhan",
                "NgayHenTra", "TrangThaiHoSo", "HinhThuc", "KenhThucHien", "DonViXuLy", "TrichYeuHoSo", "Khac"];
            let mut o = serde_json::Map::new();
            for (k, v) in keys.iter().zip(values) {
                o.insert(KEYS[*k].to_string(), serde_json::Value::String(v));
            }
            let parsed = serde_json::from_value::<HoSo>(serde_json::Value::Object(o));
            prop_assert!(parsed.is_ok(), "{parsed:?}");
            let h = parsed.unwrap_or_default();
            let problems = dossier_problems(&h);
            prop_assert!(problems.iter().all(|p| !p.is_empty()));
        }
    }

    #[test]
    fn final_statuses_are_final_and_repeats_are_accepted() {
        for s in [3, 7, 8, 10] {
            for t in 1..=10 {
                assert_eq!(legal(s, t), s == t, "{s} → {t}");
            }
        }
        assert!(legal(1, 2) && legal(2, 4) && legal(4, 9) && legal(9, 10));
        assert!(!legal(1, 4) && !legal(2, 9) && !legal(10, 4) && !legal(0, 0) && !legal(11, 11));
    }

    #[test]
    fn the_portal_accepts_every_move_the_platform_makes() {
        use tinhso_services::status::{Action, Status};
        for a in Action::ALL {
            for from in a.from() {
                let tos: Vec<Status> = if a == Action::Supplement {
                    vec![Status::Submitted, Status::Accepted, Status::Processing]
                } else {
                    vec![a.to(None)]
                };
                for to in tos {
                    assert!(legal(from.code(), to.code()), "{a:?}: {from:?} → {to:?}");
                }
            }
        }
    }
}
