//! Validators (kiểm tra dữ liệu) for identifiers and common fields: CCCD (căn cước công dân),
//! MST (mã số thuế), phone numbers, e-mail, required and length-limited text.
//!
//! Each returns the canonical value or an [`Invalid`] whose Vietnamese and English messages say
//! what to fix. Separators people commonly type (spaces, dots, dashes) are stripped first.

use crate::error::Invalid;
use crate::text;
use chrono::{Datelike, NaiveDate, Utc};
use serde::Serialize;

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// Remove whitespace and the given separator characters.
fn strip(s: &str, separators: &[char]) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !separators.contains(c))
        .collect()
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn required_error(what_vi: &str, what_en: &str) -> Invalid {
    Invalid::new(
        "required",
        format!("Vui lòng nhập {what_vi}"),
        format!("Please enter {what_en}"),
    )
}

// ---------------------------------------------------------------------------------------------
// CCCD
// ---------------------------------------------------------------------------------------------

/// Giới tính (gender) encoded in a CCCD number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    /// Nam.
    Male,
    /// Nữ.
    Female,
}

/// Số căn cước công dân / số định danh cá nhân: a validated 12-digit personal identification
/// number and what its first six digits encode.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Cccd {
    /// The 12 digits, separators removed.
    pub number: String,
    /// Mã tỉnh nơi đăng ký khai sinh (digits 1–3), e.g. 20 for Lạng Sơn.
    pub province_code: u16,
    /// Giới tính (from digit 4).
    pub gender: Gender,
    /// Năm sinh (century from digit 4, year from digits 5–6).
    pub birth_year: i32,
}

/// Mã tỉnh trên CCCD: the 63 birth-registration province codes (digits 1–3 of a CCCD), from
/// Appendix I of Circular 07/2016/TT-BCA (kept by Circular 59/2021/TT-BCA). These are the
/// pre-2025 provinces; numbers issued after the 2025 merger keep using them.
pub const CCCD_PROVINCES: [(u16, &str); 63] = [
    (1, "Hà Nội"),
    (2, "Hà Giang"),
    (4, "Cao Bằng"),
    (6, "Bắc Kạn"),
    (8, "Tuyên Quang"),
    (10, "Lào Cai"),
    (11, "Điện Biên"),
    (12, "Lai Châu"),
    (14, "Sơn La"),
    (15, "Yên Bái"),
    (17, "Hòa Bình"),
    (19, "Thái Nguyên"),
    (20, "Lạng Sơn"),
    (22, "Quảng Ninh"),
    (24, "Bắc Giang"),
    (25, "Phú Thọ"),
    (26, "Vĩnh Phúc"),
    (27, "Bắc Ninh"),
    (30, "Hải Dương"),
    (31, "Hải Phòng"),
    (33, "Hưng Yên"),
    (34, "Thái Bình"),
    (35, "Hà Nam"),
    (36, "Nam Định"),
    (37, "Ninh Bình"),
    (38, "Thanh Hóa"),
    (40, "Nghệ An"),
    (42, "Hà Tĩnh"),
    (44, "Quảng Bình"),
    (45, "Quảng Trị"),
    (46, "Thừa Thiên Huế"),
    (48, "Đà Nẵng"),
    (49, "Quảng Nam"),
    (51, "Quảng Ngãi"),
    (52, "Bình Định"),
    (54, "Phú Yên"),
    (56, "Khánh Hòa"),
    (58, "Ninh Thuận"),
    (60, "Bình Thuận"),
    (62, "Kon Tum"),
    (64, "Gia Lai"),
    (66, "Đắk Lắk"),
    (67, "Đắk Nông"),
    (68, "Lâm Đồng"),
    (70, "Bình Phước"),
    (72, "Tây Ninh"),
    (74, "Bình Dương"),
    (75, "Đồng Nai"),
    (77, "Bà Rịa - Vũng Tàu"),
    (79, "Hồ Chí Minh"),
    (80, "Long An"),
    (82, "Tiền Giang"),
    (83, "Bến Tre"),
    (84, "Trà Vinh"),
    (86, "Vĩnh Long"),
    (87, "Đồng Tháp"),
    (89, "An Giang"),
    (91, "Kiên Giang"),
    (92, "Cần Thơ"),
    (93, "Hậu Giang"),
    (94, "Sóc Trăng"),
    (95, "Bạc Liêu"),
    (96, "Cà Mau"),
];

/// Tên tỉnh theo mã CCCD: the province name for a CCCD province code.
pub fn cccd_province_name(code: u16) -> Option<&'static str> {
    CCCD_PROVINCES
        .binary_search_by_key(&code, |&(c, _)| c)
        .ok()
        .map(|i| CCCD_PROVINCES[i].1)
}

/// Kiểm tra số CCCD (12 digits) against today's date (UTC). See [`cccd_at`].
pub fn cccd(s: &str) -> Result<Cccd, Invalid> {
    cccd_at(s, Utc::now().date_naive())
}

/// Kiểm tra số CCCD: 12 digits; digits 1–3 a province code from [`CCCD_PROVINCES`]; digit 4
/// century and gender (0/1: 1900s male/female, 2/3: 2000s, 4/5: 2100s, 6/7: 2200s, 8/9: 1800s);
/// digits 5–6 the last two digits of the birth year, which must be neither after `today`'s
/// year nor more than 150 years before it. Spaces, dots and dashes are ignored.
pub fn cccd_at(s: &str, today: NaiveDate) -> Result<Cccd, Invalid> {
    let t = strip(s, &['.', '-']);
    if t.is_empty() {
        return Err(required_error(
            "số căn cước công dân (CCCD) gồm 12 chữ số",
            "the 12-digit citizen ID (CCCD) number",
        ));
    }
    if !all_digits(&t) {
        return Err(Invalid::new(
            "cccd_format",
            "Số CCCD chỉ được gồm chữ số (12 chữ số in trên thẻ căn cước)",
            "The CCCD number may contain digits only (the 12 digits printed on the ID card)",
        ));
    }
    let n = t.len();
    if n != 12 {
        let (hint_vi, hint_en) = if n == 9 {
            (
                "; số chứng minh nhân dân 9 số cũ không dùng được, hãy nhập số CCCD 12 số",
                "; the old 9-digit ID (CMND) is not accepted, enter the 12-digit CCCD number",
            )
        } else {
            ("", "")
        };
        return Err(Invalid::new(
            "cccd_length",
            format!("Số CCCD phải gồm đúng 12 chữ số (bạn nhập {n}){hint_vi}"),
            format!("The CCCD number must have exactly 12 digits (you entered {n}){hint_en}"),
        ));
    }
    let d = t.as_bytes();
    let num = |r: std::ops::Range<usize>| {
        d[r].iter()
            .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'))
    };
    let province_code = num(0..3);
    if cccd_province_name(province_code).is_none() {
        return Err(Invalid::new(
            "cccd_province",
            format!(
                "3 chữ số đầu ({}) không phải mã tỉnh, thành phố nơi đăng ký khai sinh; vui lòng kiểm tra lại số CCCD",
                &t[0..3]
            ),
            format!(
                "The first 3 digits ({}) are not a province code of birth registration; please check the CCCD number",
                &t[0..3]
            ),
        ));
    }
    let century_gender = d[3] - b'0';
    let century = match century_gender {
        0 | 1 => 1900,
        2 | 3 => 2000,
        4 | 5 => 2100,
        6 | 7 => 2200,
        _ => 1800,
    };
    let gender = if century_gender & 1 == 0 {
        Gender::Male
    } else {
        Gender::Female
    };
    let birth_year = century + i32::from(num(4..6));
    let this_year = today.year();
    if birth_year > this_year {
        return Err(Invalid::new(
            "cccd_birth_year",
            format!(
                "Chữ số thứ 4–6 của số CCCD cho năm sinh {birth_year}, sau năm hiện tại; vui lòng kiểm tra lại"
            ),
            format!(
                "Digits 4–6 of the CCCD number give birth year {birth_year}, which is in the future; please check them"
            ),
        ));
    }
    if birth_year < this_year - 150 {
        return Err(Invalid::new(
            "cccd_birth_year",
            format!(
                "Chữ số thứ 4–6 của số CCCD cho năm sinh {birth_year}, cách đây hơn 150 năm; vui lòng kiểm tra lại"
            ),
            format!(
                "Digits 4–6 of the CCCD number give birth year {birth_year}, more than 150 years ago; please check them"
            ),
        ));
    }
    Ok(Cccd {
        number: t,
        province_code,
        gender,
        birth_year,
    })
}

// ---------------------------------------------------------------------------------------------
// MST
// ---------------------------------------------------------------------------------------------

/// Loại mã số thuế (kind of tax code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MstKind {
    /// Mã số thuế 10 số: an enterprise, organisation or (before 1/7/2025) an individual.
    Enterprise,
    /// Mã số thuế 13 số (đơn vị phụ thuộc, chi nhánh): 10 digits + "-" + 3 digits.
    Branch,
    /// Số định danh cá nhân (12-digit CCCD) used as an individual's tax code from 1/7/2025.
    PersonalId,
}

/// Mã số thuế (tax identification number), validated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Mst {
    /// "0101234567", "0101234567-001" or the 12 CCCD digits.
    pub canonical: String,
    /// Kind of tax code.
    pub kind: MstKind,
}

/// Trọng số chữ số kiểm tra MST: weights of digits 1–9 for the check digit.
const MST_WEIGHTS: [u32; 9] = [31, 29, 23, 19, 17, 13, 7, 5, 3];

/// Chữ số kiểm tra mã số thuế (10th digit): `10 - (Σ wᵢ·dᵢ mod 11)` with weights
/// 31, 29, 23, 19, 17, 13, 7, 5, 3. `None` when that is 10 (no valid code has those 9 digits)
/// or when an input is not a digit 0–9.
pub fn mst_check_digit(first9: &[u8; 9]) -> Option<u8> {
    if first9.iter().any(|&d| d > 9) {
        return None;
    }
    let sum: u32 = first9
        .iter()
        .zip(MST_WEIGHTS)
        .map(|(&d, w)| u32::from(d) * w)
        .sum();
    let check = 10 - sum % 11;
    u8::try_from(check).ok().filter(|&c| c <= 9)
}

/// Kiểm tra mã số thuế against today's date (UTC). See [`mst_at`].
pub fn mst(s: &str) -> Result<Mst, Invalid> {
    mst_at(s, Utc::now().date_naive())
}

/// Kiểm tra mã số thuế: 10 digits with a valid check digit (digit 10, see
/// [`mst_check_digit`]); 13 digits for a branch/dependent unit, written "0101234567-001" or
/// plain; or, since 1 July 2025, an individual's 12-digit CCCD number (validated with
/// [`cccd_at`]). Spaces and dots are ignored.
pub fn mst_at(s: &str, today: NaiveDate) -> Result<Mst, Invalid> {
    let t = strip(s, &['.']);
    if t.is_empty() {
        return Err(required_error("mã số thuế", "the tax code (MST)"));
    }
    let (main, branch) = match t.split_once('-') {
        Some((a, b)) => {
            if !(all_digits(a) && all_digits(b) && a.len() == 10 && b.len() == 3) {
                return Err(Invalid::new(
                    "mst_format",
                    "Mã số thuế có gạch ngang phải có dạng 10 chữ số - 3 chữ số, ví dụ 0101234567-001",
                    "A tax code with a dash must be 10 digits, a dash and 3 digits, e.g. 0101234567-001",
                ));
            }
            (a, Some(b))
        }
        None => {
            if !all_digits(&t) {
                return Err(Invalid::new(
                    "mst_format",
                    "Mã số thuế chỉ được gồm chữ số (và một gạch ngang trước 3 số cuối của đơn vị phụ thuộc)",
                    "The tax code may contain digits only (and one dash before a branch's last 3 digits)",
                ));
            }
            match t.len() {
                10 => (t.as_str(), None),
                13 => (&t[..10], Some(&t[10..])),
                12 => {
                    let c = cccd_at(&t, today).map_err(|e| {
                        Invalid::new(
                            e.code,
                            format!("Mã số thuế 12 số là số định danh cá nhân: {}", e.vi),
                            format!("A 12-digit tax code is a personal ID number: {}", e.en),
                        )
                    })?;
                    return Ok(Mst {
                        canonical: c.number,
                        kind: MstKind::PersonalId,
                    });
                }
                n => {
                    return Err(Invalid::new(
                        "mst_length",
                        format!(
                            "Mã số thuế phải gồm 10 chữ số, 13 chữ số (dạng 0101234567-001) hoặc 12 chữ số định danh cá nhân (bạn nhập {n})"
                        ),
                        format!(
                            "The tax code must have 10 digits, 13 digits (as 0101234567-001) or a 12-digit personal ID number (you entered {n})"
                        ),
                    ))
                }
            }
        }
    };
    let d: Vec<u8> = main.bytes().map(|b| b - b'0').collect();
    let mut first9 = [0u8; 9];
    first9.copy_from_slice(&d[..9]);
    if d[2..9].iter().all(|&x| x == 0) {
        return Err(Invalid::new(
            "mst_invalid",
            format!("Mã số thuế {main} không hợp lệ (chữ số thứ 3–9 không thể đều bằng 0)"),
            format!("Tax code {main} is invalid (digits 3–9 cannot all be zero)"),
        ));
    }
    if mst_check_digit(&first9) != Some(d[9]) {
        return Err(Invalid::new(
            "mst_check_digit",
            format!(
                "Mã số thuế {main} không đúng (sai chữ số kiểm tra); vui lòng kiểm tra lại từng chữ số"
            ),
            format!("Tax code {main} is not valid (wrong check digit); please check each digit"),
        ));
    }
    match branch {
        None => Ok(Mst {
            canonical: main.to_owned(),
            kind: MstKind::Enterprise,
        }),
        Some("000") => Err(Invalid::new(
            "mst_branch",
            "3 số cuối của mã số thuế đơn vị phụ thuộc phải từ 001 đến 999",
            "The last 3 digits of a branch tax code must be 001 to 999",
        )),
        Some(b) => Ok(Mst {
            canonical: format!("{main}-{b}"),
            kind: MstKind::Branch,
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Phone
// ---------------------------------------------------------------------------------------------

/// Mobile prefixes (đầu số di động), the two digits after "0" + the third digit: 03[2-9],
/// 05[25689], 07[06-9], 08[1-9], 09x — the 10-digit plan in force since 15/9/2018.
fn mobile_prefix_ok(second: u8, third: u8) -> bool {
    match second {
        b'3' => (b'2'..=b'9').contains(&third),
        b'5' => matches!(third, b'2' | b'5' | b'6' | b'8' | b'9'),
        b'7' => matches!(third, b'0' | b'6'..=b'9'),
        b'8' => (b'1'..=b'9').contains(&third),
        b'9' => third.is_ascii_digit(),
        _ => false,
    }
}

/// Landline area codes (mã vùng) 02xx as listed in libphonenumber's metadata for VN:
/// 2(0[3-9]|1[0-689]|2[0-25-9]|3[2-9]|4[2-8]|5[124-9]|6[0-39]|7[0-7]|8[2-7]|9[0-4679]).
/// Hà Nội (024) and TP HCM (028) have 8-digit subscriber numbers, so the third digit is the
/// subscriber's first.
fn landline_area_ok(third: u8, fourth: u8) -> bool {
    let f = fourth;
    match third {
        b'0' => (b'3'..=b'9').contains(&f),
        b'1' => matches!(f, b'0'..=b'6' | b'8' | b'9'),
        b'2' => matches!(f, b'0'..=b'2' | b'5'..=b'9'),
        b'3' => (b'2'..=b'9').contains(&f),
        b'4' => (b'2'..=b'8').contains(&f),
        b'5' => matches!(f, b'1' | b'2' | b'4'..=b'9'),
        b'6' => matches!(f, b'0'..=b'3' | b'9'),
        b'7' => (b'0'..=b'7').contains(&f),
        b'8' => (b'2'..=b'7').contains(&f),
        b'9' => matches!(f, b'0'..=b'4' | b'6' | b'7' | b'9'),
        _ => false,
    }
}

/// Old 11-digit mobile prefixes converted on 15/9/2018 (chuyển đổi thuê bao 11 số).
const OLD_MOBILE_PREFIXES: [(&str, &str); 21] = [
    ("0162", "032"),
    ("0163", "033"),
    ("0164", "034"),
    ("0165", "035"),
    ("0166", "036"),
    ("0167", "037"),
    ("0168", "038"),
    ("0169", "039"),
    ("0120", "070"),
    ("0121", "079"),
    ("0122", "077"),
    ("0126", "076"),
    ("0128", "078"),
    ("0123", "083"),
    ("0124", "084"),
    ("0125", "085"),
    ("0127", "081"),
    ("0129", "082"),
    ("0186", "056"),
    ("0188", "058"),
    ("0199", "059"),
];

/// Kiểm tra số điện thoại Việt Nam (mobile or landline). Accepts "0912 345 678",
/// "+84912345678", "84912345678", "0084 912 345 678", "(0205) 3812 345"; returns the national
/// form: "0912345678" (mobile, 10 digits) or "02053812345" (landline, 11 digits: 02xx area
/// code — Lạng Sơn is 0205 — and subscriber number).
pub fn phone(s: &str) -> Result<String, Invalid> {
    let t = strip(s, &['.', '-', '(', ')', '/']);
    if t.is_empty() {
        return Err(required_error("số điện thoại", "a phone number"));
    }
    let national = if let Some(rest) = t.strip_prefix('+') {
        match rest.strip_prefix("84") {
            Some(n) => n.strip_prefix('0').unwrap_or(n),
            None => {
                return Err(Invalid::new(
                    "phone_country",
                    "Chỉ nhận số điện thoại Việt Nam (mã quốc gia +84)",
                    "Only Vietnamese phone numbers (country code +84) are accepted",
                ))
            }
        }
    } else if let Some(n) = t.strip_prefix("0084") {
        n.strip_prefix('0').unwrap_or(n)
    } else if t.starts_with("84") && (t.len() == 11 || t.len() == 12) {
        &t[2..]
    } else if let Some(n) = t.strip_prefix('0') {
        n
    } else {
        return Err(Invalid::new(
            "phone_format",
            "Số điện thoại phải bắt đầu bằng 0 hoặc +84, ví dụ 0912 345 678",
            "The phone number must start with 0 or +84, e.g. 0912 345 678",
        ));
    };
    if !all_digits(national) {
        return Err(Invalid::new(
            "phone_format",
            "Số điện thoại chỉ được gồm chữ số (có thể có dấu cách, dấu chấm, gạch ngang, ngoặc và dấu + ở đầu)",
            "The phone number may contain digits only (spaces, dots, dashes, brackets and a leading + are allowed)",
        ));
    }
    let number = format!("0{national}");
    let b = number.as_bytes();
    let n = b.len();
    if n < 4 {
        return Err(Invalid::new(
            "phone_length",
            format!("Số điện thoại quá ngắn (bạn nhập {n} chữ số); số di động có 10 chữ số"),
            format!("The phone number is too short ({n} digits); mobile numbers have 10 digits"),
        ));
    }
    match b[1] {
        b'1' if n == 11 => {
            let (vi, en) = match OLD_MOBILE_PREFIXES
                .iter()
                .find(|(old, _)| number.starts_with(old))
            {
                Some((old, new)) => {
                    let converted = format!("{new}{}", &number[old.len()..]);
                    (
                        format!("Đầu số 11 số {old} đã chuyển thành {new} từ năm 2018; số mới của bạn có thể là {converted}"),
                        format!("The 11-digit prefix {old} became {new} in 2018; your new number may be {converted}"),
                    )
                }
                None => (
                    "Số di động 11 số (đầu 01) đã chuyển sang 10 số từ năm 2018; vui lòng nhập số mới".to_owned(),
                    "11-digit mobile numbers (prefix 01) became 10 digits in 2018; please enter the new number".to_owned(),
                ),
            };
            Err(Invalid::new("phone_old_prefix", vi, en))
        }
        b'2' => {
            if n != 11 {
                return Err(Invalid::new(
                    "phone_length",
                    format!("Số điện thoại cố định phải gồm 11 chữ số, kể cả mã vùng 02xx (bạn nhập {n})"),
                    format!("A landline number must have 11 digits including the 02xx area code (you entered {n})"),
                ));
            }
            if !landline_area_ok(b[2], b[3]) {
                return Err(Invalid::new(
                    "phone_area",
                    format!("Mã vùng {} không tồn tại; mã vùng điện thoại cố định có dạng 02xx, ví dụ Lạng Sơn là 0205", &number[..4]),
                    format!("Area code {} does not exist; landline area codes look like 02xx, e.g. 0205 for Lạng Sơn", &number[..4]),
                ));
            }
            Ok(number)
        }
        b'3' | b'5' | b'7' | b'8' | b'9' => {
            if n != 10 {
                return Err(Invalid::new(
                    "phone_length",
                    format!("Số di động phải gồm 10 chữ số (bạn nhập {n})"),
                    format!("A mobile number must have 10 digits (you entered {n})"),
                ));
            }
            if !mobile_prefix_ok(b[1], b[2]) {
                return Err(Invalid::new(
                    "phone_prefix",
                    format!("Đầu số {} không phải đầu số di động Việt Nam", &number[..3]),
                    format!("{} is not a Vietnamese mobile prefix", &number[..3]),
                ));
            }
            Ok(number)
        }
        _ => Err(Invalid::new(
            "phone_prefix",
            format!(
                "Đầu số {} không hợp lệ; số di động bắt đầu bằng 03, 05, 07, 08, 09, số cố định bằng 02",
                &number[..2]
            ),
            format!(
                "Prefix {} is not valid; mobile numbers start with 03, 05, 07, 08 or 09, landlines with 02",
                &number[..2]
            ),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// E-mail
// ---------------------------------------------------------------------------------------------

fn email_error(vi: impl Into<String>, en: impl Into<String>) -> Invalid {
    Invalid::new("email_format", vi, en)
}

/// Kiểm tra địa chỉ thư điện tử (e-mail), pragmatically (not full RFC 5322): trimmed, exactly
/// one "@", local part of 1–64 ASCII characters (letters, digits and ``!#$%&'*+/=?^_`{|}~.-``,
/// no leading, trailing or double dot), domain of at least two dot-separated labels (letters,
/// digits, hyphens; 1–63 each, no leading/trailing hyphen; top-level label not numeric), whole
/// address ≤ 254 characters. Returns the address with the domain lower-cased (and NFC).
pub fn email(s: &str) -> Result<String, Invalid> {
    let t = text::nfc(s.trim());
    if t.is_empty() {
        return Err(required_error("địa chỉ thư điện tử", "an e-mail address"));
    }
    if t.chars().count() > 254 {
        return Err(Invalid::new(
            "email_too_long",
            "Địa chỉ thư điện tử quá dài (tối đa 254 ký tự)",
            "The e-mail address is too long (at most 254 characters)",
        ));
    }
    let Some((local, domain)) = t.split_once('@') else {
        return Err(email_error(
            "Địa chỉ thư điện tử phải có dấu @, ví dụ ten@langson.gov.vn",
            "The e-mail address needs an @, e.g. name@langson.gov.vn",
        ));
    };
    if domain.contains('@') {
        return Err(email_error(
            "Địa chỉ thư điện tử chỉ được có một dấu @",
            "The e-mail address may contain only one @",
        ));
    }
    if local.is_empty() || local.len() > 64 {
        return Err(email_error(
            "Phần trước dấu @ phải có từ 1 đến 64 ký tự",
            "The part before the @ must have 1 to 64 characters",
        ));
    }
    let local_ok = local
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    if !local_ok {
        return Err(email_error(
            "Phần trước dấu @ chỉ gồm chữ cái không dấu, chữ số và các ký tự . _ - +, không bắt đầu, kết thúc bằng dấu chấm hay có hai dấu chấm liền nhau",
            "The part before the @ may use unaccented letters, digits and . _ - +, and must not start or end with a dot or contain two dots in a row",
        ));
    }
    let domain = domain.to_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let labels_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            let n = l.chars().count();
            (1..=63).contains(&n)
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && labels.last().is_some_and(|tld| {
            tld.chars().count() >= 2 && !tld.chars().all(|c| c.is_ascii_digit())
        });
    if !labels_ok {
        return Err(email_error(
            format!("Tên miền \"{domain}\" không hợp lệ; tên miền có dạng langson.gov.vn hoặc gmail.com"),
            format!("The domain \"{domain}\" is not valid; a domain looks like langson.gov.vn or gmail.com"),
        ));
    }
    Ok(format!("{local}@{domain}"))
}

// ---------------------------------------------------------------------------------------------
// Text fields
// ---------------------------------------------------------------------------------------------

/// Trường bắt buộc (required field): the [`text::clean`]ed value (NFC, trimmed, single
/// spaces), which must not be empty.
pub fn required(s: &str) -> Result<String, Invalid> {
    let c = text::clean(s);
    if c.is_empty() {
        return Err(Invalid::new(
            "required",
            "Trường này bắt buộc, vui lòng nhập nội dung",
            "This field is required; please fill it in",
        ));
    }
    Ok(c)
}

/// Độ dài cho phép (length limit): the value in NFC with surrounding whitespace trimmed
/// (inner whitespace and line breaks kept), whose length in characters — not bytes — must be
/// within `min..=max`.
pub fn length(s: &str, min: usize, max: usize) -> Result<String, Invalid> {
    let v = text::nfc(s.trim());
    let n = v.chars().count();
    if n < min {
        return Err(Invalid::new(
            "too_short",
            format!("Vui lòng nhập ít nhất {min} ký tự (hiện có {n})"),
            format!("Please enter at least {min} characters (currently {n})"),
        ));
    }
    if n > max {
        return Err(Invalid::new(
            "too_long",
            format!(
                "Vui lòng nhập tối đa {max} ký tự (hiện có {n}, cần bớt {})",
                n - max
            ),
            format!(
                "Please enter at most {max} characters (currently {n}, remove {})",
                n - max
            ),
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
    }

    fn code<T: std::fmt::Debug>(r: Result<T, Invalid>) -> &'static str {
        match r {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e.code,
        }
    }

    #[test]
    fn province_table_is_sorted_and_complete() {
        assert!(CCCD_PROVINCES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(cccd_province_name(20), Some("Lạng Sơn"));
        assert_eq!(cccd_province_name(3), None);
        for (_, name) in CCCD_PROVINCES {
            assert_eq!(text::nfc(name), name);
        }
    }

    #[test]
    fn cccd_valid() {
        let c = cccd_at("020 0 95 123456", today()).unwrap();
        assert_eq!(c.number, "020095123456");
        assert_eq!(c.province_code, 20);
        assert_eq!(c.gender, Gender::Male);
        assert_eq!(c.birth_year, 1995);
        let c = cccd_at("001.304.012.345", today()).unwrap();
        assert_eq!((c.gender, c.birth_year), (Gender::Female, 2004));
        let c = cccd_at("096-226-000001", today()).unwrap();
        assert_eq!((c.province_code, c.birth_year), (96, 2026));
        // 1800s, within 150 years.
        assert_eq!(cccd_at("020880000001", today()).unwrap().birth_year, 1880);
    }

    #[test]
    fn cccd_invalid() {
        let cases = [
            ("", "required"),
            ("   ", "required"),
            ("02009512345", "cccd_length"),
            ("0200951234567", "cccd_length"),
            ("123456789", "cccd_length"),
            ("02009512345a", "cccd_format"),
            ("０２００９５１２３４５６", "cccd_format"), // full-width digits
            ("003095123456", "cccd_province"),
            ("000095123456", "cccd_province"),
            ("097095123456", "cccd_province"),
            ("020227123456", "cccd_birth_year"), // 2027 > 2026
            ("020400123456", "cccd_birth_year"), // 2100
            ("020870123456", "cccd_birth_year"), // 1870 < 2026 - 150
        ];
        for (input, want) in cases {
            assert_eq!(code(cccd_at(input, today())), want, "{input:?}");
        }
        let e = cccd_at("02009512345", today()).unwrap_err();
        assert_eq!(e.vi, "Số CCCD phải gồm đúng 12 chữ số (bạn nhập 11)");
        assert!(e.en.contains("you entered 11"));
        assert!(cccd_at("123456789", today())
            .unwrap_err()
            .vi
            .contains("9 số"));
    }

    #[test]
    fn mst_check_digit_known_numbers() {
        // Real tax codes published online (also in python-stdnum's test data).
        for s in [
            "0100233488",
            "01.00.112.437",
            "0314409058-002",
            "0312 68 78 78 - 001",
            "0100112437011",
            "4900224296",
        ] {
            assert!(mst_at(s, today()).is_ok(), "{s}");
        }
        assert_eq!(
            mst_at("0314409058002", today()).unwrap(),
            Mst {
                canonical: "0314409058-002".into(),
                kind: MstKind::Branch
            }
        );
        assert_eq!(
            mst_at("01.00.112.437", today()).unwrap(),
            Mst {
                canonical: "0100112437".into(),
                kind: MstKind::Enterprise
            }
        );
        assert_eq!(mst_check_digit(&[0, 1, 0, 0, 2, 3, 3, 4, 8]), Some(8));
        assert_eq!(mst_check_digit(&[0, 1, 0, 0, 2, 3, 3, 4, 10]), None);
    }

    /// Demo tax codes for Lạng Sơn (tax province prefix 49), generated with the check digit.
    fn demo_mst(seq: u32) -> Option<String> {
        let first9 = format!("49{seq:07}");
        let mut d = [0u8; 9];
        for (i, b) in first9.bytes().enumerate() {
            d[i] = b - b'0';
        }
        mst_check_digit(&d).map(|c| format!("{first9}{c}"))
    }

    #[test]
    fn mst_demo_numbers() {
        let demos: Vec<String> = (1..=20).filter_map(demo_mst).collect();
        assert!(demos.len() >= 15);
        for m in &demos {
            assert_eq!(mst_at(m, today()).unwrap().canonical, *m);
            let branch = format!("{m}-001");
            assert_eq!(mst_at(&branch, today()).unwrap().kind, MstKind::Branch);
        }
    }

    #[test]
    fn mst_invalid() {
        let cases = [
            ("", "required"),
            ("0100233480", "mst_check_digit"),
            ("12345", "mst_length"),
            ("01002334881", "mst_length"),
            ("VV34567890", "mst_format"),
            ("0100233488-01", "mst_format"),
            ("0100233488-001-1", "mst_format"),
            ("0100000008", "mst_invalid"),
            ("0314409058-000", "mst_branch"),
            ("0314409058000", "mst_branch"),
            ("003095123456", "cccd_province"),
        ];
        for (input, want) in cases {
            assert_eq!(code(mst_at(input, today())), want, "{input:?}");
        }
    }

    #[test]
    fn mst_personal_id() {
        let m = mst_at("020 095 123 456", today()).unwrap();
        assert_eq!(m.kind, MstKind::PersonalId);
        assert_eq!(m.canonical, "020095123456");
        let e = mst_at("020227123456", today()).unwrap_err();
        assert!(e.vi.starts_with("Mã số thuế 12 số là số định danh cá nhân"));
    }

    #[test]
    fn phone_valid() {
        let cases = [
            ("0912 345 678", "0912345678"),
            ("+84912345678", "0912345678"),
            ("+84 (0) 912 345 678", "0912345678"),
            ("84912345678", "0912345678"),
            ("0084 912 345 678", "0912345678"),
            ("091.234.5678", "0912345678"),
            ("0326-123-456", "0326123456"),
            ("0592 000 111", "0592000111"),
            ("0703 000 111", "0703000111"),
            ("0868 000 111", "0868000111"),
            ("(0205) 3812 345", "02053812345"),
            ("+84 205 3812 345", "02053812345"),
            ("024 3825 1234", "02438251234"),
            ("028.3829.1234", "02838291234"),
        ];
        for (input, want) in cases {
            assert_eq!(phone(input).as_deref(), Ok(want), "{input:?}");
        }
    }

    #[test]
    fn phone_invalid() {
        let cases = [
            ("", "required"),
            ("091234567", "phone_length"),
            ("09123456789", "phone_length"),
            ("0205381234", "phone_length"),
            ("0312345678", "phone_prefix"),
            ("0512345678", "phone_prefix"),
            ("0612345678", "phone_prefix"),
            ("0412345678", "phone_prefix"),
            ("0712345678", "phone_prefix"),
            ("0802345678", "phone_prefix"),
            ("02003812345", "phone_area"),
            ("912345678", "phone_format"),
            ("+1 202 555 0100", "phone_country"),
            ("0912 345 67x", "phone_format"),
            ("01689123456", "phone_old_prefix"),
            ("01", "phone_length"),
        ];
        for (input, want) in cases {
            assert_eq!(code(phone(input)), want, "{input:?}");
        }
        let e = phone("01689 123 456").unwrap_err();
        assert!(e.vi.contains("0389123456"), "{}", e.vi);
    }

    #[test]
    fn email_cases() {
        assert_eq!(
            email("  Nguyen.Van.A@LangSon.GOV.VN ").as_deref(),
            Ok("Nguyen.Van.A@langson.gov.vn")
        );
        assert_eq!(email("a+tag@gmail.com").as_deref(), Ok("a+tag@gmail.com"));
        let bad = [
            ("", "required"),
            ("nguyenvana", "email_format"),
            ("a@b@c.vn", "email_format"),
            ("@langson.gov.vn", "email_format"),
            ("a@langson", "email_format"),
            ("a@-langson.vn", "email_format"),
            ("a@langson..vn", "email_format"),
            ("a@langson.123", "email_format"),
            (".a@langson.vn", "email_format"),
            ("a..b@langson.vn", "email_format"),
            ("nguyễn@langson.vn", "email_format"),
            ("a b@langson.vn", "email_format"),
        ];
        for (input, want) in bad {
            assert_eq!(code(email(input)), want, "{input:?}");
        }
        let long_local = format!("{}@x.vn", "a".repeat(65));
        assert_eq!(code(email(&long_local)), "email_format");
        let long = format!("a@{}.vn", "b".repeat(260));
        assert_eq!(code(email(&long)), "email_too_long");
    }

    #[test]
    fn required_and_length() {
        assert_eq!(required("  Hữu   Lũng ").as_deref(), Ok("Hữu Lũng"));
        assert_eq!(code(required(" \n\t ")), "required");
        // "Lạng Sơn" is 8 characters but more bytes.
        assert_eq!(length("Lạng Sơn", 8, 8).as_deref(), Ok("Lạng Sơn"));
        let nfd: String = unicode_normalization::UnicodeNormalization::nfd("Lạng Sơn").collect();
        assert_eq!(length(&nfd, 8, 8).as_deref(), Ok("Lạng Sơn"));
        assert_eq!(code(length("ab", 3, 10)), "too_short");
        assert_eq!(code(length("Lạng Sơn", 1, 5)), "too_long");
        assert_eq!(
            length("Lạng Sơn", 1, 5).unwrap_err().vi,
            "Vui lòng nhập tối đa 5 ký tự (hiện có 8, cần bớt 3)"
        );
        assert_eq!(length(" a\nb ", 1, 5).as_deref(), Ok("a\nb"));
    }

    #[test]
    fn messages_are_nfc_and_bilingual() {
        let errors = [
            cccd_at("1", today()).unwrap_err(),
            mst_at("0100233480", today()).unwrap_err(),
            phone("0612345678").unwrap_err(),
            email("x").unwrap_err(),
        ];
        for e in errors {
            assert_eq!(text::nfc(&e.vi), e.vi);
            assert!(!e.vi.is_empty() && !e.en.is_empty());
        }
    }

    proptest! {
        #[test]
        fn validators_never_panic(s in any::<String>()) {
            let _ = cccd_at(&s, today());
            let _ = cccd(&s);
            let _ = mst_at(&s, today());
            let _ = phone(&s);
            let _ = email(&s);
            let _ = required(&s);
            let _ = length(&s, 2, 10);
        }

        #[test]
        fn validators_never_panic_on_digits(s in "[0-9 .+()@-]{0,20}") {
            let _ = cccd_at(&s, today());
            let _ = mst_at(&s, today());
            let _ = phone(&s);
            let _ = email(&s);
        }

        #[test]
        fn cccd_round_trips(s in "[0-9]{12}") {
            if let Ok(c) = cccd_at(&s, today()) {
                prop_assert_eq!(&c.number, &s);
                prop_assert_eq!(cccd_at(&c.number, today()), Ok(c.clone()));
                prop_assert_eq!(format!("{:03}", c.province_code), &s[..3]);
                prop_assert_eq!(i32::from(s.as_bytes()[4] - b'0') * 10 + i32::from(s.as_bytes()[5] - b'0'), c.birth_year % 100);
            }
        }

        #[test]
        fn cccd_with_valid_province_round_trips(p in 0usize..63, c in 0u8..4, rest in "[0-9]{8}") {
            let s = format!("{:03}{c}{rest}", CCCD_PROVINCES[p].0);
            let spaced = format!("{} {} {}", &s[..3], &s[3..6], &s[6..]);
            match cccd_at(&spaced, today()) {
                Ok(v) => {
                    prop_assert_eq!(&v.number, &s);
                    prop_assert_eq!(v.province_code, CCCD_PROVINCES[p].0);
                    prop_assert_eq!(v.gender == Gender::Female, c % 2 == 1);
                }
                // Only a birth year after 2026 can fail here.
                Err(e) => prop_assert_eq!(e.code, "cccd_birth_year"),
            }
        }

        #[test]
        fn generated_mst_accepted_and_check_digit_matters(first9 in proptest::array::uniform9(0u8..10), wrong in 0u8..10) {
            let body: String = first9.iter().map(|d| char::from(b'0' + d)).collect();
            prop_assume!(&body[2..] != "0000000");
            if let Some(c) = mst_check_digit(&first9) {
                let good = format!("{body}{c}");
                prop_assert_eq!(mst_at(&good, today()).map(|m| m.canonical), Ok(good.clone()));
                prop_assert_eq!(
                    mst_at(&format!("{good}-123"), today()).map(|m| m.kind),
                    Ok(MstKind::Branch)
                );
                if wrong != c {
                    let bad = format!("{body}{wrong}");
                    prop_assert_eq!(code(mst_at(&bad, today())), "mst_check_digit");
                }
            } else {
                // No check digit exists: every completion is rejected.
                let bad = format!("{body}{wrong}");
                prop_assert_eq!(code(mst_at(&bad, today())), "mst_check_digit");
            }
        }

        #[test]
        fn phone_is_idempotent(s in "(\\+84|0)[235789][0-9]{8,9}") {
            if let Ok(p) = phone(&s) {
                prop_assert_eq!(phone(&p), Ok(p.clone()));
                prop_assert!(p.len() == 10 || p.len() == 11);
            }
        }

        #[test]
        fn email_is_idempotent(s in "[a-zA-Z0-9._+-]{1,10}@[a-zA-Z0-9-]{1,8}\\.[a-zA-Z]{2,4}") {
            if let Ok(e) = email(&s) {
                prop_assert_eq!(email(&e), Ok(e.clone()));
            }
        }
    }
}
