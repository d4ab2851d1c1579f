//! Number plates (biển số xe): Vietnamese and Chinese plates parsed, validated and stored in one
//! canonical form whatever way they were typed (spaces, dots, dashes, lower case, full-width
//! characters, two lines).
//!
//! Vietnamese plates (biển số Việt Nam): a two-digit locality code (mã địa phương, see
//! [`vn_province`]), a series (sê ri: one letter, or a two-letter series such as `LD`), then the
//! serial number (số thứ tự) of 5 digits (`12C-123.45`) or, on older plates, 4 digits
//! (`12C-1234`). Series `R` is a trailer or semi-trailer (rơ moóc, sơ mi rơ moóc). The letters
//! I, J, O, Q and W are not used. Motorbike series (a letter and a digit, `29-C1 123.45`) are
//! refused: motorbikes do not declare border trips.
//!
//! Chinese plates (车牌, biển số Trung Quốc): one of the 31 province abbreviations (省份简称), the
//! issuing-office letter (发牌机关代号, never I or O), then 5 characters (letters other than I and
//! O, or digits): `桂A·12345`; new-energy plates (新能源号牌, GA 36-2018) have 6: `D`/`F` then a
//! letter or digit then 4 digits (small vehicles, `桂A·D12345`), or 5 digits then `D`/`F`
//! (large vehicles, `桂A·12345D`); trailers (挂车) have 4 characters and `挂`: `桂A·1234挂`.
//!
//! | error code | what |
//! |---|---|
//! | `plate_empty` | nothing but separators was typed |
//! | `plate_char` | a character that is neither a letter, a digit nor a separator |
//! | `plate_length` | more than 64 bytes were typed |
//! | `plate_province` | unknown Vietnamese locality code / Chinese province character |
//! | `plate_series` | the series is missing, uses a letter not issued, or is not a known series |
//! | `plate_digits` | too few / too many digits, or letters among the digits |
//! | `plate_cn_letter` | the Chinese issuing-office letter is missing or is I/O |
//! | `plate_cn_serial` | the Chinese serial has the wrong length or characters |

use serde::{Deserialize, Serialize};
use tinhso_kernel::Invalid;
use unicode_normalization::UnicodeNormalization;

/// The country that issued the plate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Country {
    /// Việt Nam.
    Vn,
    /// Trung Quốc (中国).
    Cn,
}

impl Country {
    pub fn as_str(self) -> &'static str {
        match self {
            Country::Vn => "vn",
            Country::Cn => "cn",
        }
    }
}

/// A valid plate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Plate {
    pub country: Country,
    /// The one stored form: Vietnamese `12C-123.45` / `12R-012.34` / `12C-1234`, Chinese
    /// `桂A·12345` / `桂A·D12345` / `桂A·1234挂`.
    pub canonical: String,
    /// A trailer or semi-trailer plate (Vietnamese series `R`, Chinese `挂`).
    pub trailer: bool,
}

impl Plate {
    /// The top line of a two-line (or double-row) plate: `12C` / `桂A`.
    pub fn top_line(&self) -> &str {
        let cut = self
            .canonical
            .find(['-', '·'])
            .unwrap_or(self.canonical.len());
        &self.canonical[..cut]
    }

    /// The bottom line of a two-line plate: `123.45` / `12345`.
    pub fn bottom_line(&self) -> &str {
        match self.canonical.find(['-', '·']) {
            Some(i) => {
                let sep = if self.canonical[i..].starts_with('·') {
                    '·'.len_utf8()
                } else {
                    1
                };
                &self.canonical[i + sep..]
            }
            None => "",
        }
    }
}

/// The Vietnamese locality codes (mã địa phương) issued on plates, with the locality, after
/// the annex of Circular 24/2023/TT-BCA (replaced from 2025 by Circular 79/2024/TT-BCA, which
/// to our knowledge kept the codes — to be confirmed). Codes 13, 42, 44, 45, 46, 87, 91 and 96
/// are not issued; 80 is for the central agencies (registered by the Traffic Police
/// Department). The 2025 merger of provinces left the plates already issued valid; how codes
/// are assigned to new plates after it is to be confirmed.
pub const VN_PROVINCE_CODES: &[(u8, &str)] = &[
    (11, "Cao Bằng"),
    (12, "Lạng Sơn"),
    (14, "Quảng Ninh"),
    (15, "Hải Phòng"),
    (16, "Hải Phòng"),
    (17, "Thái Bình"),
    (18, "Nam Định"),
    (19, "Phú Thọ"),
    (20, "Thái Nguyên"),
    (21, "Yên Bái"),
    (22, "Tuyên Quang"),
    (23, "Hà Giang"),
    (24, "Lào Cai"),
    (25, "Lai Châu"),
    (26, "Sơn La"),
    (27, "Điện Biên"),
    (28, "Hòa Bình"),
    (29, "Hà Nội"),
    (30, "Hà Nội"),
    (31, "Hà Nội"),
    (32, "Hà Nội"),
    (33, "Hà Nội"),
    (34, "Hải Dương"),
    (35, "Ninh Bình"),
    (36, "Thanh Hóa"),
    (37, "Nghệ An"),
    (38, "Hà Tĩnh"),
    (39, "Đồng Nai"),
    (40, "Hà Nội"),
    (41, "Thành phố Hồ Chí Minh"),
    (43, "Đà Nẵng"),
    (47, "Đắk Lắk"),
    (48, "Đắk Nông"),
    (49, "Lâm Đồng"),
    (50, "Thành phố Hồ Chí Minh"),
    (51, "Thành phố Hồ Chí Minh"),
    (52, "Thành phố Hồ Chí Minh"),
    (53, "Thành phố Hồ Chí Minh"),
    (54, "Thành phố Hồ Chí Minh"),
    (55, "Thành phố Hồ Chí Minh"),
    (56, "Thành phố Hồ Chí Minh"),
    (57, "Thành phố Hồ Chí Minh"),
    (58, "Thành phố Hồ Chí Minh"),
    (59, "Thành phố Hồ Chí Minh"),
    (60, "Đồng Nai"),
    (61, "Bình Dương"),
    (62, "Long An"),
    (63, "Tiền Giang"),
    (64, "Vĩnh Long"),
    (65, "Cần Thơ"),
    (66, "Đồng Tháp"),
    (67, "An Giang"),
    (68, "Kiên Giang"),
    (69, "Cà Mau"),
    (70, "Tây Ninh"),
    (71, "Bến Tre"),
    (72, "Bà Rịa – Vũng Tàu"),
    (73, "Quảng Bình"),
    (74, "Quảng Trị"),
    (75, "Thừa Thiên Huế"),
    (76, "Quảng Ngãi"),
    (77, "Bình Định"),
    (78, "Phú Yên"),
    (79, "Khánh Hòa"),
    (80, "Cơ quan trung ương (Cục Cảnh sát giao thông)"),
    (81, "Gia Lai"),
    (82, "Kon Tum"),
    (83, "Sóc Trăng"),
    (84, "Trà Vinh"),
    (85, "Ninh Thuận"),
    (86, "Bình Thuận"),
    (88, "Vĩnh Phúc"),
    (89, "Hưng Yên"),
    (90, "Hà Nam"),
    (92, "Quảng Nam"),
    (93, "Bình Phước"),
    (94, "Bạc Liêu"),
    (95, "Hậu Giang"),
    (97, "Bắc Kạn"),
    (98, "Bắc Giang"),
    (99, "Bắc Ninh"),
];

/// The locality of a Vietnamese plate code (mã địa phương), if the code is issued.
pub fn vn_province(code: u8) -> Option<&'static str> {
    VN_PROVINCE_CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, name)| *name)
}

/// The single letters a Vietnamese car series may use (20 letters, without I, J, O, Q, W), plus
/// `R` for trailers and semi-trailers.
pub const VN_SERIES_LETTERS: &str = "ABCDEFGHKLMNPRSTUVXYZ";

/// Two-letter Vietnamese series (sê ri hai chữ): `LD` foreign-invested enterprises and hired
/// foreign vehicles, `DA` project vehicles, `KT` army enterprises, `MK` tractors, `HC`
/// vehicles limited in range, `NG`/`NN`/`QT`/`CV` diplomatic and foreign bodies (whose serial
/// is a country code and a number, kept here in the same digit layout). The list follows
/// Circular 24/2023/TT-BCA as we read it — to be confirmed against its annex.
pub const VN_TWO_LETTER_SERIES: &[&str] = &["LD", "DA", "KT", "MK", "HC", "NG", "NN", "QT", "CV"];

/// The 31 province abbreviations (省份简称) on Chinese plates, with the province.
pub const CN_PROVINCES: &[(char, &str)] = &[
    ('京', "Beijing"),
    ('津', "Tianjin"),
    ('沪', "Shanghai"),
    ('渝', "Chongqing"),
    ('冀', "Hebei"),
    ('豫', "Henan"),
    ('云', "Yunnan"),
    ('辽', "Liaoning"),
    ('黑', "Heilongjiang"),
    ('湘', "Hunan"),
    ('皖', "Anhui"),
    ('鲁', "Shandong"),
    ('新', "Xinjiang"),
    ('苏', "Jiangsu"),
    ('浙', "Zhejiang"),
    ('赣', "Jiangxi"),
    ('鄂', "Hubei"),
    ('桂', "Guangxi"),
    ('甘', "Gansu"),
    ('晋', "Shanxi"),
    ('蒙', "Inner Mongolia"),
    ('陕', "Shaanxi"),
    ('吉', "Jilin"),
    ('闽', "Fujian"),
    ('贵', "Guizhou"),
    ('粤', "Guangdong"),
    ('青', "Qinghai"),
    ('藏', "Tibet"),
    ('川', "Sichuan"),
    ('宁', "Ningxia"),
    ('琼', "Hainan"),
];

/// The Chinese trailer mark (挂, "trailer").
pub const CN_TRAILER: char = '挂';

/// Whether `c` is one of the 31 Chinese province abbreviations.
pub fn is_cn_province(c: char) -> bool {
    CN_PROVINCES.iter().any(|(p, _)| *p == c)
}

/// Characters accepted between the parts of a plate and dropped: white space and line breaks,
/// dots (`.`, `·`, `•`, `・`, `。`), dashes, underscores and slashes.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '.' | '·' | '•' | '・' | '。' | '-' | '‐' | '‑' | '–' | '—' | '_' | '/' | '\u{200b}'
        )
}

fn err(code: &'static str, vi: impl Into<String>, en: impl Into<String>) -> Invalid {
    Invalid::new(code, vi, en)
}

/// The characters of a typed plate, separators dropped, full-width forms folded (NFKC) and
/// Latin letters upper-cased; `Err` names the first character that does not belong on a plate.
fn compact(input: &str) -> Result<Vec<char>, Invalid> {
    let mut out = Vec::with_capacity(input.len());
    // NFKC leaves ASCII as it is: most camera reads skip the normalisation.
    let chars: Box<dyn Iterator<Item = char> + '_> = if input.is_ascii() {
        Box::new(input.chars())
    } else {
        Box::new(input.nfkc())
    };
    for c in chars {
        if is_separator(c) {
            continue;
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_uppercase());
        } else if is_cn_province(c) || c == CN_TRAILER {
            out.push(c);
        } else {
            return Err(err(
                "plate_char",
                format!("Ký tự «{c}» không có trên biển số"),
                format!("The character “{c}” does not belong on a plate"),
            ));
        }
    }
    Ok(out)
}

/// Parse a plate typed any way (spaces, dots, dashes, lower case, two lines).
pub fn parse(input: &str) -> Result<Plate, Invalid> {
    if input.len() > 64 {
        return Err(err(
            "plate_length",
            "Biển số quá dài",
            "The plate is too long",
        ));
    }
    let chars = compact(input)?;
    match chars.first() {
        None => Err(err(
            "plate_empty",
            "Chưa nhập biển số",
            "No plate was entered",
        )),
        Some(c) if c.is_ascii_digit() => parse_vn(&chars),
        Some(c) if is_cn_province(*c) => parse_cn(&chars),
        Some(c) if *c == CN_TRAILER => Err(err(
            "plate_province",
            "Biển số Trung Quốc phải bắt đầu bằng chữ viết tắt của tỉnh (ví dụ 桂)",
            "A Chinese plate starts with the province character (for example 桂)",
        )),
        Some(_) => Err(err(
            "plate_province",
            "Biển số Việt Nam bắt đầu bằng mã địa phương 2 chữ số (ví dụ 12C-123.45); biển số Trung Quốc bắt đầu bằng chữ viết tắt của tỉnh (ví dụ 桂A·12345)",
            "A Vietnamese plate starts with the 2-digit locality code (e.g. 12C-123.45); a Chinese plate with the province character (e.g. 桂A·12345)",
        )),
    }
}

fn parse_vn(chars: &[char]) -> Result<Plate, Invalid> {
    let lead_digits = chars.iter().take_while(|c| c.is_ascii_digit()).count();
    if chars.iter().any(|c| !c.is_ascii_alphanumeric()) {
        return Err(err(
            "plate_char",
            "Biển số Việt Nam chỉ gồm chữ cái Latinh và chữ số",
            "A Vietnamese plate has only Latin letters and digits",
        ));
    }
    if lead_digits == chars.len() {
        return Err(err(
            "plate_series",
            "Thiếu sê ri (chữ cái sau mã địa phương, ví dụ 12C-123.45)",
            "The series letter after the locality code is missing (e.g. 12C-123.45)",
        ));
    }
    if lead_digits != 2 {
        return Err(err(
            "plate_province",
            "Mã địa phương phải có đúng 2 chữ số (ví dụ 12 của Lạng Sơn)",
            "The locality code has exactly 2 digits (e.g. 12 for Lạng Sơn)",
        ));
    }
    let code = (chars[0] as u8 - b'0') * 10 + (chars[1] as u8 - b'0');
    if vn_province(code).is_none() {
        return Err(err(
            "plate_province",
            format!("Mã địa phương {code:02} không được cấp trên biển số"),
            format!("The locality code {code:02} is not issued on plates"),
        ));
    }
    let rest = &chars[2..];
    let series_len = rest.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    let series: String = rest[..series_len].iter().collect();
    let serial = &rest[series_len..];
    match series_len {
        1 => {
            let l = rest[0];
            if !VN_SERIES_LETTERS.contains(l) {
                return Err(err(
                    "plate_series",
                    format!("Chữ {l} không dùng làm sê ri biển số (không dùng I, J, O, Q, W)"),
                    format!(
                        "The letter {l} is not used as a plate series (I, J, O, Q, W are not used)"
                    ),
                ));
            }
        }
        2 => {
            if !VN_TWO_LETTER_SERIES.contains(&series.as_str()) {
                return Err(err(
                    "plate_series",
                    format!("Sê ri {series} không phải sê ri hai chữ được cấp (LD, DA, KT, …)"),
                    format!("{series} is not an issued two-letter series (LD, DA, KT, …)"),
                ));
            }
        }
        _ => {
            return Err(err(
                "plate_series",
                format!("Sê ri {series} quá dài: sê ri có một hoặc hai chữ cái"),
                format!("The series {series} is too long: a series has one or two letters"),
            ))
        }
    }
    if serial.iter().any(|c| !c.is_ascii_digit()) {
        return Err(err(
            "plate_digits",
            "Sau sê ri chỉ có chữ số",
            "Only digits follow the series",
        ));
    }
    let digits: String = serial.iter().collect();
    match digits.len() {
        4 => {}
        5 => {}
        6 if series_len == 1 => {
            return Err(err(
                "plate_digits",
                "Quá nhiều chữ số (tối đa 5); biển xe máy (sê ri như C1) không dùng cho chuyến qua cửa khẩu",
                "Too many digits (at most 5); motorbike plates (series such as C1) are not used for border trips",
            ))
        }
        n if n < 4 => {
            return Err(err(
                "plate_digits",
                format!("Thiếu chữ số: có {n}, cần 4 hoặc 5"),
                format!("Too few digits: {n}, 4 or 5 are needed"),
            ))
        }
        n => {
            return Err(err(
                "plate_digits",
                format!("Quá nhiều chữ số: có {n}, cần 4 hoặc 5"),
                format!("Too many digits: {n}, 4 or 5 are needed"),
            ))
        }
    }
    let canonical = if digits.len() == 5 {
        format!("{code:02}{series}-{}.{}", &digits[..3], &digits[3..])
    } else {
        format!("{code:02}{series}-{digits}")
    };
    Ok(Plate {
        country: Country::Vn,
        canonical,
        trailer: series == "R",
    })
}

/// A letter or digit allowed in a Chinese serial (letters other than I and O).
fn cn_serial_char(c: char) -> bool {
    c.is_ascii_digit() || (c.is_ascii_uppercase() && c != 'I' && c != 'O')
}

fn parse_cn(chars: &[char]) -> Result<Plate, Invalid> {
    let province = chars[0];
    let letter = match chars.get(1) {
        Some(l) if l.is_ascii_uppercase() && *l != 'I' && *l != 'O' => *l,
        Some(l) if *l == 'I' || *l == 'O' => {
            return Err(err(
                "plate_cn_letter",
                "Chữ cái thứ hai của biển số Trung Quốc không dùng I hoặc O",
                "The letter after the province on a Chinese plate is never I or O",
            ))
        }
        _ => {
            return Err(err(
                "plate_cn_letter",
                "Sau chữ viết tắt của tỉnh phải là một chữ cái Latinh (ví dụ 桂A)",
                "A Latin letter follows the province character (e.g. 桂A)",
            ))
        }
    };
    let serial = &chars[2..];
    if serial.iter().any(|c| is_cn_province(*c)) {
        return Err(err(
            "plate_cn_serial",
            "Chữ viết tắt của tỉnh chỉ đứng ở đầu biển số",
            "The province character stands only at the start of the plate",
        ));
    }
    let trailer = serial.last() == Some(&CN_TRAILER);
    let body = if trailer {
        &serial[..serial.len() - 1]
    } else {
        serial
    };
    if body.contains(&CN_TRAILER) {
        return Err(err(
            "plate_cn_serial",
            "Chữ 挂 (rơ moóc) chỉ đứng ở cuối biển số",
            "The trailer mark 挂 stands only at the end of the plate",
        ));
    }
    if let Some(bad) = body.iter().find(|c| !cn_serial_char(**c)) {
        return Err(err(
            "plate_cn_serial",
            format!("Ký tự {bad} không dùng trong số biển Trung Quốc (không dùng I, O)"),
            format!("{bad} is not used in a Chinese plate number (I and O are not used)"),
        ));
    }
    let s: String = body.iter().collect();
    let ok = match (trailer, body.len()) {
        (true, 4) => true,
        (true, n) => {
            return Err(err(
                "plate_cn_serial",
                format!("Biển rơ moóc Trung Quốc có 4 ký tự trước 挂, ở đây có {n}"),
                format!("A Chinese trailer plate has 4 characters before 挂, here {n}"),
            ))
        }
        (false, 5) => true,
        (false, 6) => {
            // GA 36-2018: small new-energy D/F + letter-or-digit + 4 digits; large: 5 digits + D/F.
            let small = matches!(body[0], 'D' | 'F') && body[2..].iter().all(char::is_ascii_digit);
            let large = matches!(body[5], 'D' | 'F') && body[..5].iter().all(char::is_ascii_digit);
            if !(small || large) {
                return Err(err(
                    "plate_cn_serial",
                    "Biển năng lượng mới 6 ký tự phải có D hoặc F ở đầu (kèm 4 chữ số cuối) hoặc ở cuối (sau 5 chữ số)",
                    "A 6-character new-energy plate has D or F first (and 4 digits last) or last (after 5 digits)",
                ));
            }
            true
        }
        (false, n) if n < 5 => {
            return Err(err(
                "plate_cn_serial",
                format!("Thiếu ký tự: biển Trung Quốc có 5 ký tự sau {province}{letter} (6 với xe năng lượng mới), ở đây có {n}"),
                format!("Too few characters: a Chinese plate has 5 after {province}{letter} (6 for new-energy vehicles), here {n}"),
            ))
        }
        (false, n) => {
            return Err(err(
                "plate_cn_serial",
                format!("Quá nhiều ký tự: biển Trung Quốc có 5 ký tự sau {province}{letter} (6 với xe năng lượng mới), ở đây có {n}"),
                format!("Too many characters: a Chinese plate has 5 after {province}{letter} (6 for new-energy vehicles), here {n}"),
            ))
        }
    };
    debug_assert!(ok);
    let canonical = if trailer {
        format!("{province}{letter}·{s}{CN_TRAILER}")
    } else {
        format!("{province}{letter}·{s}")
    };
    Ok(Plate {
        country: Country::Cn,
        canonical,
        trailer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn canon(s: &str) -> String {
        match parse(s) {
            Ok(p) => p.canonical,
            Err(e) => panic!("{s:?}: {} / {}", e.code, e.en),
        }
    }

    fn code(s: &str) -> &'static str {
        match parse(s) {
            Ok(p) => panic!("{s:?} parsed as {}", p.canonical),
            Err(e) => e.code,
        }
    }

    #[test]
    fn vietnamese_plates_typed_any_way() {
        for typed in [
            "12C-123.45",
            "12C12345",
            "12c12345",
            "12C 123 45",
            "12C\n123.45",
            "12C\r\n123.45",
            " 12-C 123.45 ",
            "12C-12345",
            "１２Ｃ－１２３．４５",
            "12 C 1 2 3 4 5",
            "12C_123/45",
        ] {
            assert_eq!(canon(typed), "12C-123.45", "{typed:?}");
        }
        assert_eq!(canon("12C-1234"), "12C-1234");
        assert_eq!(canon("12c 1234"), "12C-1234");
        assert_eq!(canon("29LD-012.34"), "29LD-012.34");
        assert_eq!(canon("29ld01234"), "29LD-012.34");
        assert_eq!(canon("80NG 123 45"), "80NG-123.45");
        assert_eq!(canon("98H-045.67"), "98H-045.67");
        assert_eq!(canon("51D 99999"), "51D-999.99");
        assert_eq!(canon("14K\n0000"), "14K-0000");
        let r = parse("12R 012.34").unwrap();
        assert_eq!(r.canonical, "12R-012.34");
        assert!(r.trailer);
        assert_eq!(r.country, Country::Vn);
        assert!(!parse("12C-123.45").unwrap().trailer);
    }

    #[test]
    fn vietnamese_errors_name_the_problem() {
        assert_eq!(code(""), "plate_empty");
        assert_eq!(code(" - . "), "plate_empty");
        assert_eq!(code("13C-123.45"), "plate_province");
        assert_eq!(code("42C-123.45"), "plate_province");
        assert_eq!(code("00C-123.45"), "plate_province");
        assert_eq!(code("1C-123.45"), "plate_province");
        assert_eq!(code("123C-123.45"), "plate_province");
        for l in ['I', 'J', 'O', 'Q', 'W'] {
            assert_eq!(code(&format!("12{l}-123.45")), "plate_series", "{l}");
        }
        assert_eq!(code("12CD-123.45"), "plate_series");
        assert_eq!(code("12ABC-123.45"), "plate_series");
        assert_eq!(code("1212345"), "plate_series");
        assert_eq!(code("12C-123"), "plate_digits");
        assert_eq!(code("12C-123456"), "plate_digits");
        assert_eq!(code("29C1-123.45"), "plate_digits");
        assert_eq!(code("12C-12A45"), "plate_digits");
        assert_eq!(code("12C-123#45"), "plate_char");
        assert_eq!(code("ABC"), "plate_province");
        let e = parse("12C-123").unwrap_err();
        assert!(e.vi.contains("Thiếu chữ số"), "{}", e.vi);
        assert!(e.en.contains("Too few digits"), "{}", e.en);
        let e = parse("13C-123.45").unwrap_err();
        assert!(e.vi.contains("13") && e.en.contains("13"));
        let e = parse("12Q-123.45").unwrap_err();
        assert!(e.vi.contains("Q") && e.en.contains("not used"));
    }

    #[test]
    fn province_table_is_the_issued_codes() {
        assert_eq!(vn_province(12), Some("Lạng Sơn"));
        assert_eq!(vn_province(29), Some("Hà Nội"));
        assert_eq!(vn_province(99), Some("Bắc Ninh"));
        for missing in [0, 10, 13, 42, 44, 45, 46, 87, 91, 96, 100] {
            assert_eq!(vn_province(missing), None, "{missing}");
        }
        assert_eq!(VN_PROVINCE_CODES.len(), 81);
        assert_eq!(CN_PROVINCES.len(), 31);
        for (_, name) in VN_PROVINCE_CODES {
            assert_eq!(*name, tinhso_kernel::text::nfc(name), "{name} is NFC");
        }
    }

    #[test]
    fn chinese_plates_typed_any_way() {
        for typed in [
            "桂A·12345",
            "桂A12345",
            "桂a 12345",
            "桂A.12345",
            "桂A-12345",
            "桂A\n12345",
            "桂 A 123 45",
            "桂Ａ１２３４５",
            "桂A•12345",
            "桂A・12345",
        ] {
            assert_eq!(canon(typed), "桂A·12345", "{typed:?}");
        }
        assert_eq!(canon("粤B·A1234"), "粤B·A1234");
        assert_eq!(canon("京A·D12345"), "京A·D12345");
        assert_eq!(canon("桂afx2345"), "桂A·FX2345");
        assert_eq!(canon("桂A12345D"), "桂A·12345D");
        assert_eq!(canon("云A12345F"), "云A·12345F");
        let t = parse("桂A 1234 挂").unwrap();
        assert_eq!(t.canonical, "桂A·1234挂");
        assert!(t.trailer);
        assert_eq!(t.country, Country::Cn);
        assert_eq!(t.top_line(), "桂A");
        assert_eq!(t.bottom_line(), "1234挂");
        let v = parse("12C12345").unwrap();
        assert_eq!(v.top_line(), "12C");
        assert_eq!(v.bottom_line(), "123.45");
    }

    #[test]
    fn chinese_errors_name_the_problem() {
        assert_eq!(code("港A12345"), "plate_char");
        assert_eq!(code("桂I12345"), "plate_cn_letter");
        assert_eq!(code("桂O12345"), "plate_cn_letter");
        assert_eq!(code("桂112345"), "plate_cn_letter");
        assert_eq!(code("桂"), "plate_cn_letter");
        assert_eq!(code("桂A1234"), "plate_cn_serial");
        assert_eq!(code("桂A1234567"), "plate_cn_serial");
        assert_eq!(code("桂A12O45"), "plate_cn_serial");
        assert_eq!(code("桂A123456"), "plate_cn_serial");
        assert_eq!(code("桂A1D3456"), "plate_cn_serial");
        assert_eq!(code("桂A12345挂"), "plate_cn_serial");
        assert_eq!(code("桂A12挂34"), "plate_cn_serial");
        assert_eq!(code("桂A123桂5"), "plate_cn_serial");
        assert_eq!(code("挂A12345"), "plate_province");
        assert_eq!(code("A12345"), "plate_province");
    }

    fn vn_plate() -> impl Strategy<Value = String> {
        let codes: Vec<u8> = VN_PROVINCE_CODES.iter().map(|(c, _)| *c).collect();
        let mut series: Vec<String> = VN_SERIES_LETTERS.chars().map(String::from).collect();
        series.extend(VN_TWO_LETTER_SERIES.iter().map(|s| s.to_string()));
        (
            proptest::sample::select(codes),
            proptest::sample::select(series),
            prop_oneof!["[0-9]{5}", "[0-9]{4}"],
        )
            .prop_map(|(c, s, d)| {
                if d.len() == 5 {
                    format!("{c:02}{s}-{}.{}", &d[..3], &d[3..])
                } else {
                    format!("{c:02}{s}-{d}")
                }
            })
    }

    fn cn_plate() -> impl Strategy<Value = String> {
        let provinces: Vec<char> = CN_PROVINCES.iter().map(|(c, _)| *c).collect();
        (
            proptest::sample::select(provinces),
            "[A-HJ-NP-Z]",
            prop_oneof![
                "[A-HJ-NP-Z0-9]{5}",
                "[DF][A-HJ-NP-Z0-9][0-9]{4}",
                "[0-9]{5}[DF]",
                "[0-9]{4}挂",
            ],
        )
            .prop_map(|(p, l, s)| format!("{p}{l}·{s}"))
    }

    /// Re-type a canonical plate: every separator replaced by a random one (or none), random
    /// extra separators between characters, random case.
    fn retype(canonical: &str, seps: &[u8], cases: &[bool]) -> String {
        const SEPS: [&str; 10] = ["", "", "", " ", "-", ".", "·", "\n", "\r\n", "  "];
        let mut out = String::new();
        for (i, c) in canonical.chars().enumerate() {
            let sep = SEPS[seps.get(i).copied().unwrap_or(0) as usize % SEPS.len()];
            out.push_str(sep);
            if c == '-' || c == '.' || c == '·' {
                continue;
            }
            if cases.get(i).copied().unwrap_or(false) {
                out.extend(c.to_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn canonical_plates_retyped_parse_back(
            plate in prop_oneof![3 => vn_plate(), 1 => cn_plate()],
            seps in proptest::collection::vec(any::<u8>(), 16),
            cases in proptest::collection::vec(any::<bool>(), 16),
        ) {
            let p = parse(&plate).map_err(|e| TestCaseError::fail(format!("{plate}: {}", e.en)))?;
            prop_assert_eq!(&p.canonical, &plate);
            let typed = retype(&plate, &seps, &cases);
            let q = parse(&typed).map_err(|e| TestCaseError::fail(format!("{typed:?}: {}", e.en)))?;
            prop_assert_eq!(q, p);
        }

    }

    fn fuzz_cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5000)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(fuzz_cases()))]

        /// Fuzzing with proptest (cargo-fuzz needs a nightly toolchain): arbitrary Unicode
        /// never panics, and whatever parses is canonical and parses to itself. More cases:
        /// `PROPTEST_CASES=200000 cargo test -p tinhso-border --lib plate::tests::fuzz`.
        #[test]
        fn fuzz_arbitrary_text_never_panics(s in any::<String>()) {
            if let Ok(p) = parse(&s) {
                prop_assert_eq!(parse(&p.canonical), Ok(p.clone()));
            }
        }

        #[test]
        fn fuzz_plate_like_text_never_panics(s in "[0-9A-Za-z桂粤挂京 .·\\-\n]{0,14}") {
            if let Ok(p) = parse(&s) {
                prop_assert_eq!(parse(&p.canonical), Ok(p.clone()));
            }
        }
    }
}
