//! Money in Vietnamese đồng (tiền đồng Việt Nam, VND): integer đồng only, never floats.
//!
//! The đồng has no subunit in use, so amounts are whole `i64` đồng. Arithmetic is checked
//! (returns `None` on overflow); percentages are in basis points with documented rounding.

use crate::error::Invalid;
use crate::text;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Số tiền bằng đồng (an amount in whole đồng). Serialised as a plain JSON integer.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Vnd(pub i64);

impl Vnd {
    /// Không đồng (zero).
    pub const ZERO: Vnd = Vnd(0);

    /// Cộng (add), `None` on overflow.
    pub fn checked_add(self, other: Vnd) -> Option<Vnd> {
        self.0.checked_add(other.0).map(Vnd)
    }

    /// Trừ (subtract), `None` on overflow.
    pub fn checked_sub(self, other: Vnd) -> Option<Vnd> {
        self.0.checked_sub(other.0).map(Vnd)
    }

    /// Nhân với số nguyên (multiply by a whole number, e.g. a quantity), `None` on overflow.
    pub fn checked_mul(self, factor: i64) -> Option<Vnd> {
        self.0.checked_mul(factor).map(Vnd)
    }

    /// Tổng (sum of amounts), `None` on overflow.
    pub fn checked_sum(amounts: impl IntoIterator<Item = Vnd>) -> Option<Vnd> {
        amounts
            .into_iter()
            .try_fold(Vnd::ZERO, |acc, a| acc.checked_add(a))
    }

    /// Tính theo phần trăm (a percentage of the amount) in basis points: 1 bp = 0,01 %, so
    /// 10 % VAT is `percent(1000)` and 0,5 % is `percent(50)`.
    ///
    /// Rounding (làm tròn): to the nearest đồng, halves rounded up in magnitude — 0,5 đồng
    /// becomes 1 đồng, and −0,5 đồng becomes −1 đồng, so that `(-a).percent(p) ==
    /// -(a.percent(p))`. Computed exactly in 128-bit integers; `None` if the result does not
    /// fit in `i64`.
    pub fn percent(self, basis_points: i64) -> Option<Vnd> {
        let product = i128::from(self.0) * i128::from(basis_points);
        let q = product / 10_000;
        let r = product % 10_000;
        let rounded = if r.abs() * 2 >= 10_000 {
            q + product.signum()
        } else {
            q
        };
        i64::try_from(rounded).ok().map(Vnd)
    }

    /// Đọc số tiền (parse an amount typed by a person). Accepts "1.234.567", "1234567",
    /// "1 234 567", "1,234,567", "1.234.567 đ", "1.234.567 ₫", "1,234,567 VND", "VNĐ 500.000",
    /// a leading minus sign, and a zero decimal part ("1.234.567,00"). Group separators (dot,
    /// comma or space) must separate groups of three digits; the đồng has no decimals.
    pub fn parse(s: &str) -> Result<Vnd, Invalid> {
        let t = text::clean(s);
        let t = strip_currency(&t);
        if t.is_empty() {
            return Err(Invalid::new(
                "required",
                "Vui lòng nhập số tiền, ví dụ 1.500.000",
                "Please enter an amount, e.g. 1.500.000",
            ));
        }
        let (negative, body) = match t.strip_prefix(['-', '\u{2212}']) {
            Some(rest) => (true, rest.trim_start()),
            None => (false, t.strip_prefix('+').unwrap_or(t).trim_start()),
        };
        let format_error = || {
            Invalid::new(
                "vnd_format",
                "Số tiền không đúng định dạng; hãy nhập số đồng, ví dụ 1.500.000 hoặc 1500000",
                "The amount is not in a valid format; enter whole đồng, e.g. 1.500.000 or 1500000",
            )
        };
        if body.is_empty() || !body.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format_error());
        }
        let is_sep = |c: char| matches!(c, '.' | ',' | ' ' | '\u{a0}' | '\u{202f}');
        if body.chars().any(|c| !c.is_ascii_digit() && !is_sep(c)) {
            return Err(format_error());
        }
        // A last separator followed by other than exactly 3 digits is a decimal separator.
        let mut integer = body;
        if let Some(pos) = body.rfind(is_sep) {
            let tail = &body[pos..];
            let sep_len = tail.chars().next().map_or(1, char::len_utf8);
            let decimals = &tail[sep_len..];
            if decimals.len() != 3 || !decimals.bytes().all(|b| b.is_ascii_digit()) {
                if decimals.is_empty() || !decimals.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format_error());
                }
                if decimals.bytes().any(|b| b != b'0') {
                    return Err(Invalid::new(
                        "vnd_fraction",
                        "Tiền đồng không có phần lẻ thập phân; vui lòng nhập số đồng chẵn, ví dụ 1.500.000",
                        "The đồng has no decimal part; please enter whole đồng, e.g. 1.500.000",
                    ));
                }
                integer = &body[..pos];
            }
        }
        // Grouping: either no separators, or one kind of separator between groups of three.
        let seps: Vec<char> = integer.chars().filter(|&c| is_sep(c)).collect();
        let digits: String = if seps.is_empty() {
            integer.to_owned()
        } else {
            let first = seps[0];
            if seps.iter().any(|&c| c != first) {
                return Err(format_error());
            }
            let groups: Vec<&str> = integer.split(first).collect();
            let ok = groups.first().is_some_and(|g| (1..=3).contains(&g.len()))
                && groups[1..].iter().all(|g| g.len() == 3);
            if !ok {
                return Err(format_error());
            }
            groups.concat()
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format_error());
        }
        // Accumulate negatively so that i64::MIN parses.
        let mut value: i64 = 0;
        for b in digits.bytes() {
            let d = i64::from(b - b'0');
            value = match value.checked_mul(10).and_then(|v| v.checked_sub(d)) {
                Some(v) => v,
                None => {
                    return Err(Invalid::new(
                        "vnd_too_large",
                        "Số tiền quá lớn",
                        "The amount is too large",
                    ))
                }
            };
        }
        if negative {
            Ok(Vnd(value))
        } else {
            value.checked_neg().map(Vnd).ok_or_else(|| {
                Invalid::new(
                    "vnd_too_large",
                    "Số tiền quá lớn",
                    "The amount is too large",
                )
            })
        }
    }
}

/// Currency words and signs accepted after the number (lower case, longest first).
const SUFFIXES: [&str; 7] = ["đồng", "dong", "vnđ", "vnd", "₫", "đ", "d"];
/// Currency words and signs accepted before the number.
const PREFIXES: [&str; 3] = ["vnđ", "vnd", "₫"];

/// Remove one currency word or sign after, or else before, the number (case-insensitive).
fn strip_currency(t: &str) -> &str {
    let s = t.trim();
    for u in SUFFIXES {
        let n = u.chars().count();
        if let Some((i, _)) = s.char_indices().rev().nth(n - 1) {
            if s[i..].to_lowercase() == u {
                return s[..i].trim_end();
            }
        }
    }
    for u in PREFIXES {
        let n = u.chars().count();
        let i = s.char_indices().nth(n).map_or(s.len(), |(i, _)| i);
        if s[..i].to_lowercase() == u {
            return s[i..].trim_start();
        }
    }
    s
}

impl fmt::Display for Vnd {
    /// "1.234.567 ₫" (dots between groups of three, as written in Vietnam); "-1.500 ₫".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.unsigned_abs().to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 6);
        if self.0 < 0 {
            out.push('-');
        }
        // Digits before the first dot: 1–3.
        let mut until_dot = match digits.len() % 3 {
            0 => 3,
            r => r,
        };
        for c in digits.chars() {
            if until_dot == 0 {
                out.push('.');
                until_dot = 3;
            }
            out.push(c);
            until_dot -= 1;
        }
        out.push_str(" ₫");
        f.write_str(&out)
    }
}

impl Vnd {
    /// Số tiền bằng chữ (the amount in words), as written on a receipt under the figure:
    /// "Một trăm năm mươi nghìn đồng". Northern usage, as in Lạng Sơn's documents: "nghìn",
    /// "linh" (105: một trăm linh năm), "mốt" after twenty (21: hai mươi mốt), "lăm" after ten
    /// (15, 25: mười lăm, hai mươi lăm), and a group after a larger one read in full
    /// (1.005.000: một triệu không trăm linh năm nghìn). Above a thousand tỷ the tỷ repeats
    /// (10^12: một nghìn tỷ). Negative amounts start with "Âm".
    pub fn in_words(self) -> String {
        let n = self.0.unsigned_abs();
        let mut words = if n == 0 {
            "không".to_owned()
        } else {
            number_words(n, false)
        };
        words.push_str(" đồng");
        if self.0 < 0 {
            words.insert_str(0, "âm ");
        }
        let mut chars = words.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => words,
        }
    }
}

/// Chữ số (the digits' names).
const DIGIT_WORDS: [&str; 10] = [
    "không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín",
];

/// A positive number in words; `full` when a larger part was read before it, so that its
/// leading zeros are read ("không trăm linh …").
fn number_words(n: u64, full: bool) -> String {
    const BILLION: u64 = 1_000_000_000;
    if n >= BILLION {
        let mut out = number_words(n / BILLION, full);
        out.push_str(" tỷ");
        let rest = n % BILLION;
        if rest > 0 {
            out.push(' ');
            out.push_str(&number_words(rest, true));
        }
        return out;
    }
    let groups = [
        (n / 1_000_000, " triệu"),
        (n / 1_000 % 1_000, " nghìn"),
        (n % 1_000, ""),
    ];
    let mut parts: Vec<String> = Vec::with_capacity(3);
    let mut read_before = full;
    for (group, scale) in groups {
        if group == 0 {
            continue;
        }
        // `group < 1000` by construction.
        let mut part = group_words(group as u16, read_before);
        part.push_str(scale);
        parts.push(part);
        read_before = true;
    }
    parts.join(" ")
}

/// One group of three digits (1–999) in words; `full` reads its hundreds and "linh" even when
/// they are zero.
fn group_words(g: u16, full: bool) -> String {
    let (h, t, u) = (
        usize::from(g / 100),
        usize::from(g / 10 % 10),
        usize::from(g % 10),
    );
    let mut words: Vec<&str> = Vec::with_capacity(5);
    let hundreds_read = full || h > 0;
    if hundreds_read {
        words.extend([DIGIT_WORDS[h], "trăm"]);
    }
    match t {
        0 if u > 0 && hundreds_read => words.push("linh"),
        0 => {}
        1 => words.push("mười"),
        _ => words.extend([DIGIT_WORDS[t], "mươi"]),
    }
    match (u, t) {
        (0, _) => {}
        (1, 2..) => words.push("mốt"),
        (5, 1..) => words.push("lăm"),
        _ => words.push(DIGIT_WORDS[u]),
    }
    words.join(" ")
}

impl FromStr for Vnd {
    type Err = Invalid;

    /// Same as [`Vnd::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Vnd::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn in_words() {
        let cases: [(i64, &str); 22] = [
            (0, "Không đồng"),
            (1, "Một đồng"),
            (10, "Mười đồng"),
            (15, "Mười lăm đồng"),
            (21, "Hai mươi mốt đồng"),
            (25, "Hai mươi lăm đồng"),
            (11, "Mười một đồng"),
            (105, "Một trăm linh năm đồng"),
            (110, "Một trăm mười đồng"),
            (1_000, "Một nghìn đồng"),
            (1_005, "Một nghìn không trăm linh năm đồng"),
            (1_050, "Một nghìn không trăm năm mươi đồng"),
            (15_000, "Mười lăm nghìn đồng"),
            (150_000, "Một trăm năm mươi nghìn đồng"),
            (250_000, "Hai trăm năm mươi nghìn đồng"),
            (1_005_000, "Một triệu không trăm linh năm nghìn đồng"),
            (2_000_021, "Hai triệu không trăm hai mươi mốt đồng"),
            (1_000_000_000, "Một tỷ đồng"),
            (1_000_000_005, "Một tỷ không trăm linh năm đồng"),
            (3_400_000_000_000, "Ba nghìn bốn trăm tỷ đồng"),
            (-500_000, "Âm năm trăm nghìn đồng"),
            (
                i64::MIN,
                "Âm chín tỷ hai trăm hai mươi ba triệu ba trăm bảy mươi hai nghìn không trăm ba mươi sáu tỷ tám trăm năm mươi bốn triệu bảy trăm bảy mươi lăm nghìn tám trăm linh tám đồng",
            ),
        ];
        for (n, words) in cases {
            assert_eq!(Vnd(n).in_words(), words, "{n}");
        }
    }

    #[test]
    fn display() {
        assert_eq!(Vnd(1_234_567).to_string(), "1.234.567 ₫");
        assert_eq!(Vnd(0).to_string(), "0 ₫");
        assert_eq!(Vnd(999).to_string(), "999 ₫");
        assert_eq!(Vnd(1000).to_string(), "1.000 ₫");
        assert_eq!(Vnd(-1500).to_string(), "-1.500 ₫");
        assert_eq!(Vnd(i64::MIN).to_string(), "-9.223.372.036.854.775.808 ₫");
    }

    #[test]
    fn parse_accepted() {
        let cases = [
            ("1.234.567", 1_234_567),
            ("1234567", 1_234_567),
            ("1.234.567 đ", 1_234_567),
            ("1.234.567đ", 1_234_567),
            ("1.234.567 ₫", 1_234_567),
            ("1,234,567 VND", 1_234_567),
            ("1 234 567 vnđ", 1_234_567),
            ("VNĐ 500.000", 500_000),
            ("500.000 đồng", 500_000),
            ("1.234.567,00", 1_234_567),
            ("1,234,567.00 VND", 1_234_567),
            ("1.000", 1000),
            ("-1.500 ₫", -1500),
            ("  0 ", 0),
            ("007", 7),
        ];
        for (input, want) in cases {
            assert_eq!(Vnd::parse(input), Ok(Vnd(want)), "{input:?}");
        }
        assert_eq!("2.000.000".parse::<Vnd>(), Ok(Vnd(2_000_000)));
    }

    #[test]
    fn parse_rejected() {
        let cases = [
            ("", "required"),
            ("đ", "required"),
            ("1.5", "vnd_fraction"),
            ("1.234,5", "vnd_fraction"),
            ("12.34.567", "vnd_format"),
            ("1.234,567", "vnd_format"),
            ("1234.567.890", "vnd_format"),
            ("abc", "vnd_format"),
            ("1.234.567 USD", "vnd_format"),
            ("1.", "vnd_format"),
            ("99.999.999.999.999.999.999", "vnd_too_large"),
        ];
        for (input, want) in cases {
            assert_eq!(
                Vnd::parse(input).map_err(|e| e.code),
                Err(want),
                "{input:?}"
            );
        }
    }

    #[test]
    fn arithmetic() {
        assert_eq!(Vnd(100).checked_add(Vnd(50)), Some(Vnd(150)));
        assert_eq!(Vnd(100).checked_sub(Vnd(150)), Some(Vnd(-50)));
        assert_eq!(Vnd(i64::MAX).checked_add(Vnd(1)), None);
        assert_eq!(Vnd(25_000).checked_mul(3), Some(Vnd(75_000)));
        assert_eq!(Vnd(i64::MAX).checked_mul(2), None);
        assert_eq!(Vnd::checked_sum([Vnd(1), Vnd(2), Vnd(3)]), Some(Vnd(6)));
        assert_eq!(Vnd::checked_sum([Vnd(i64::MAX), Vnd(1)]), None);
    }

    #[test]
    fn percent_rounding() {
        // 10 % VAT.
        assert_eq!(Vnd(1_234_567).percent(1000), Some(Vnd(123_457))); // 123456,7
        assert_eq!(Vnd(15).percent(1000), Some(Vnd(2))); // 1,5 → 2
        assert_eq!(Vnd(14).percent(1000), Some(Vnd(1))); // 1,4 → 1
        assert_eq!(Vnd(-15).percent(1000), Some(Vnd(-2)));
        assert_eq!(Vnd(1).percent(5000), Some(Vnd(1))); // 0,5 → 1
        assert_eq!(Vnd(1).percent(4999), Some(Vnd(0)));
        assert_eq!(Vnd(200_000).percent(50), Some(Vnd(1000))); // 0,5 %
        assert_eq!(Vnd(i64::MAX).percent(20_000), None);
        assert_eq!(Vnd(i64::MAX).percent(10_000), Some(Vnd(i64::MAX)));
    }

    #[test]
    fn serde_is_an_integer() {
        assert_eq!(serde_json::to_string(&Vnd(1_500_000)).unwrap(), "1500000");
        assert_eq!(serde_json::from_str::<Vnd>("-20").unwrap(), Vnd(-20));
        assert!(serde_json::from_str::<Vnd>("1.5").is_err());
    }

    /// Reads [`Vnd::in_words`] back (test only): digits, "trăm", "mươi", "mười", "linh",
    /// "nghìn", "triệu" and "tỷ" (which multiplies everything read before it).
    fn words_back(words: &str) -> i128 {
        let body = words
            .strip_suffix(" đồng")
            .expect("ends in đồng")
            .to_lowercase();
        let (negative, body) = match body.strip_prefix("âm ") {
            Some(rest) => (true, rest.to_owned()),
            None => (false, body),
        };
        let (mut before_ty, mut below_billion, mut group, mut pending) =
            (0i128, 0i128, 0i128, 0i128);
        for w in body.split(' ') {
            if let Some(d) = DIGIT_WORDS.iter().position(|x| *x == w) {
                pending = d as i128;
                continue;
            }
            match w {
                "mốt" => pending = 1,
                "lăm" => pending = 5,
                "linh" => {}
                "mười" => group += 10,
                "mươi" => (group, pending) = (group + pending * 10, 0),
                "trăm" => (group, pending) = (group + pending * 100, 0),
                "nghìn" | "triệu" => {
                    let scale = if w == "nghìn" { 1_000 } else { 1_000_000 };
                    below_billion += (group + pending) * scale;
                    (group, pending) = (0, 0);
                }
                "tỷ" => {
                    before_ty = (before_ty + below_billion + group + pending) * 1_000_000_000;
                    (below_billion, group, pending) = (0, 0, 0);
                }
                other => panic!("unknown word {other:?} in {words:?}"),
            }
        }
        let n = before_ty + below_billion + group + pending;
        if negative {
            -n
        } else {
            n
        }
    }

    proptest! {
        #[test]
        fn in_words_reads_back(v in any::<i64>()) {
            let words = Vnd(v).in_words();
            prop_assert_eq!(words.clone(), crate::text::nfc(&words));
            prop_assert!(words.starts_with(char::is_uppercase));
            prop_assert_eq!(words_back(&words), i128::from(v), "{}", words);
        }

        #[test]
        fn in_words_reads_back_small(v in 0i64..2_000_000) {
            prop_assert_eq!(words_back(&Vnd(v).in_words()), i128::from(v));
        }

        #[test]
        fn display_parse_round_trip(v in any::<i64>()) {
            prop_assert_eq!(Vnd::parse(&Vnd(v).to_string()), Ok(Vnd(v)));
            prop_assert_eq!(Vnd::parse(&v.to_string()), Ok(Vnd(v)));
        }

        #[test]
        fn percent_is_symmetric(v in any::<i64>(), bp in -100_000i64..100_000) {
            if let (Some(a), Some(b)) = (Vnd(v).percent(bp), v.checked_neg().and_then(|n| Vnd(n).percent(bp))) {
                prop_assert_eq!(a.0, -b.0);
            }
        }

        #[test]
        fn percent_is_nearest(v in -1_000_000_000_000i64..1_000_000_000_000, bp in 0i64..20_000) {
            let p = Vnd(v).percent(bp).unwrap().0;
            let exact = i128::from(v) * i128::from(bp);
            // |p·10000 − exact| ≤ 5000.
            prop_assert!((i128::from(p) * 10_000 - exact).abs() <= 5_000);
        }

        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = Vnd::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_amount_like(s in "[-+ ]?[0-9., ]{0,30}( ?(đ|₫|VND|vnđ|Đ|d))?") {
            let _ = Vnd::parse(&s);
        }
    }
}
