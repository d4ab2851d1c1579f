//! Vietnamese text (văn bản tiếng Việt): Unicode normalisation, diacritic-insensitive folding
//! for search (tìm kiếm không dấu) and Vietnamese dictionary order (thứ tự từ điển).
//!
//! All text stored by the platform is NFC ([`nfc`] / [`clean`]). Search compares [`fold`]ed
//! keys, so "Đồng Đăng", "dong dang" and "ĐỒNG ĐĂNG" all match. Lists shown to people are
//! sorted with [`cmp_vi`]: base letters first (a ă â b c d đ e ê g h i k l m n o ô ơ p q r s t
//! u ư v x y), then tones (none, huyền, hỏi, ngã, sắc, nặng), then case.

use std::cmp::Ordering;
use unicode_normalization::char::{decompose_canonical, is_combining_mark};
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// Chuẩn hoá NFC (Unicode Normalization Form C). Only normalises: no trimming.
pub fn nfc(s: &str) -> String {
    if is_nfc_quick(s.chars()) == IsNormalized::Yes {
        return s.to_owned();
    }
    s.nfc().collect()
}

/// Làm sạch chuỗi (clean): NFC, trim, and collapse every run of whitespace to one space.
/// Use for names, titles and other one-line fields before storing them.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_collapsed(&mut out, s.split_whitespace());
    if is_nfc_quick(out.chars()) == IsNormalized::Yes {
        out
    } else {
        out.nfc().collect()
    }
}

fn push_collapsed<'a>(out: &mut String, words: impl Iterator<Item = &'a str>) {
    for (i, w) in words.enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(w);
    }
}

/// Khoá tìm kiếm không dấu (search key): canonical decomposition, combining marks dropped,
/// đ/Đ → d, lower case, whitespace collapsed and trimmed.
///
/// `fold("Đăng ký  KHAI SINH") == "dang ky khai sinh"`. One allocation; ASCII takes a fast path.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // `pending_space`: a whitespace run was seen after some output.
    let mut pending_space = false;
    for c in s.chars() {
        if c.is_ascii() {
            if c.is_whitespace() {
                pending_space = !out.is_empty();
            } else {
                if pending_space {
                    out.push(' ');
                    pending_space = false;
                }
                out.push(c.to_ascii_lowercase());
            }
            continue;
        }
        decompose_canonical(c, |d| {
            if is_combining_mark(d) {
                return;
            }
            if d.is_whitespace() {
                pending_space = !out.is_empty();
                return;
            }
            for l in d.to_lowercase() {
                // A lower-case mapping may itself decompose (rare); fold it the same way.
                decompose_canonical(l, |e| {
                    if is_combining_mark(e) {
                        return;
                    }
                    if pending_space {
                        out.push(' ');
                        pending_space = false;
                    }
                    out.push(fold_letter(e));
                });
            }
        });
    }
    out
}

/// đ, Đ and the look-alike Ð/ð (U+00D0/U+00F0, often typed for Đ/đ) fold to `d`.
fn fold_letter(c: char) -> char {
    match c {
        'đ' | 'Đ' | 'Ð' | 'ð' => 'd',
        _ => c,
    }
}

/// Tìm chuỗi không dấu: does `haystack` contain `needle`, ignoring diacritics, case and extra
/// whitespace? An empty needle matches everything.
pub fn contains_folded(haystack: &str, needle: &str) -> bool {
    let needle = fold(needle);
    if needle.is_empty() {
        return true;
    }
    fold(haystack).contains(&needle)
}

// ---------------------------------------------------------------------------------------------
// Collation (sắp xếp theo thứ tự tiếng Việt)
// ---------------------------------------------------------------------------------------------

/// Level separator in a sort key; lower than every weight.
const SEP: u32 = 0;
/// Primary weight of a whitespace run.
const W_SPACE: u32 = 1;
/// ASCII punctuation and symbols: `W_PUNCT + code point`.
const W_PUNCT: u32 = 2;
/// A run of digits: `W_NUMBER + significant length`, then one `W_DIGIT + d` per digit, so that
/// "Thôn 2" sorts before "Thôn 10".
const W_NUMBER: u32 = 0x200;
const W_DIGIT: u32 = 0x300;
/// Latin letters in Vietnamese order (a ă â b c d đ e ê f g h i j k l m n o ô ơ p q r s t u ư v
/// w x y z; f, j, w, z are foreign letters at their Latin place): `W_LETTER + index`.
const W_LETTER: u32 = 0x400;
/// Everything else (other scripts, other symbols): `W_OTHER + code point` of its lower case.
const W_OTHER: u32 = 0x1000;

/// Tones (thanh điệu) in dictionary order; the index + 1 is the secondary weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tone {
    Ngang = 0,
    Huyen = 1,
    Hoi = 2,
    Nga = 3,
    Sac = 4,
    Nang = 5,
}

fn tone_of(mark: char) -> Option<Tone> {
    match mark {
        '\u{300}' => Some(Tone::Huyen),
        '\u{309}' => Some(Tone::Hoi),
        '\u{303}' => Some(Tone::Nga),
        '\u{301}' => Some(Tone::Sac),
        '\u{323}' => Some(Tone::Nang),
        _ => None,
    }
}

/// Alphabet index (see `W_LETTER`) of an ASCII lower-case base letter with an optional Vietnamese
/// modifier mark (breve U+0306, circumflex U+0302, horn U+031B).
fn letter_index(base: char, modifier: Option<char>) -> Option<u32> {
    let i = match (base, modifier) {
        ('a', None) => 0,
        ('a', Some('\u{306}')) => 1,
        ('a', Some('\u{302}')) => 2,
        ('b', None) => 3,
        ('c', None) => 4,
        ('d', None) => 5,
        ('đ', None) => 6,
        ('e', None) => 7,
        ('e', Some('\u{302}')) => 8,
        ('f', None) => 9,
        ('g', None) => 10,
        ('h', None) => 11,
        ('i', None) => 12,
        ('j', None) => 13,
        ('k', None) => 14,
        ('l', None) => 15,
        ('m', None) => 16,
        ('n', None) => 17,
        ('o', None) => 18,
        ('o', Some('\u{302}')) => 19,
        ('o', Some('\u{31b}')) => 20,
        ('p', None) => 21,
        ('q', None) => 22,
        ('r', None) => 23,
        ('s', None) => 24,
        ('t', None) => 25,
        ('u', None) => 26,
        ('u', Some('\u{31b}')) => 27,
        ('v', None) => 28,
        ('w', None) => 29,
        ('x', None) => 30,
        ('y', None) => 31,
        ('z', None) => 32,
        _ => return None,
    };
    Some(i)
}

fn is_modifier(c: char) -> bool {
    matches!(c, '\u{306}' | '\u{302}' | '\u{31b}')
}

/// One analysed character: base (lower case), Vietnamese modifier, tone, case.
struct Analysed {
    base: char,
    modifier: Option<char>,
    tone: Option<Tone>,
    upper: bool,
}

fn analyse(c: char) -> Analysed {
    let mut base = None;
    let mut modifier = None;
    let mut tone = None;
    decompose_canonical(c, |d| {
        if base.is_none() && !is_combining_mark(d) {
            base = Some(d);
        } else if let Some(t) = tone_of(d) {
            tone = tone.or(Some(t));
        } else if is_modifier(d) && modifier.is_none() {
            modifier = Some(d);
        }
    });
    let base = base.unwrap_or(c);
    let upper = base.is_uppercase();
    let base = match base {
        'Đ' | 'Ð' | 'đ' => 'đ',
        b => b.to_lowercase().next().unwrap_or(b),
    };
    Analysed {
        base,
        modifier,
        tone,
        upper,
    }
}

/// Khoá sắp xếp tiếng Việt (Vietnamese sort key). Comparing two keys with `Ord` gives
/// [`cmp_vi`]. Layout: primary weights (letters, digits, punctuation; whitespace runs as one
/// weight), `0`, one tone weight per word, `0`, one case weight per letter, `0`, then the NFC
/// code points as a final tie-break so that only canonically equal strings compare equal.
///
/// The tone of a word is its first tone mark, wherever it is placed, so "hoà" and "hòa" sort
/// together.
pub fn sort_key(s: &str) -> Vec<u32> {
    let s = nfc(s.trim());
    let mut primary: Vec<u32> = Vec::with_capacity(s.len() + 4);
    let mut secondary: Vec<u32> = Vec::new();
    let mut tertiary: Vec<u32> = Vec::with_capacity(s.len());
    let mut word_tone: Option<Option<Tone>> = None; // Some(_) while inside a word
    let mut digits: Vec<u32> = Vec::new();
    let mut in_space = false;

    let flush_word = |word_tone: &mut Option<Option<Tone>>, secondary: &mut Vec<u32>| {
        if let Some(t) = word_tone.take() {
            secondary.push(t.unwrap_or(Tone::Ngang) as u32 + 1);
        }
    };
    let flush_digits = |digits: &mut Vec<u32>, primary: &mut Vec<u32>| {
        if digits.is_empty() {
            return;
        }
        let first_sig = digits.iter().position(|&d| d != 0).unwrap_or(digits.len());
        let sig = &digits[first_sig..];
        let len = u32::try_from(sig.len()).unwrap_or(u32::MAX).min(0xFF);
        primary.push(W_NUMBER + len);
        primary.extend(sig.iter().map(|d| W_DIGIT + d));
        digits.clear();
    };

    for c in s.chars() {
        if c.is_whitespace() {
            flush_word(&mut word_tone, &mut secondary);
            flush_digits(&mut digits, &mut primary);
            if !in_space {
                primary.push(W_SPACE);
                tertiary.push(1);
                in_space = true;
            }
            continue;
        }
        in_space = false;
        if let Some(d) = c.to_digit(10).filter(|_| c.is_ascii_digit()) {
            flush_word(&mut word_tone, &mut secondary);
            digits.push(d);
            tertiary.push(1);
            continue;
        }
        flush_digits(&mut digits, &mut primary);
        let a = analyse(c);
        let letter = if a.base.is_ascii_lowercase() || a.base == 'đ' {
            letter_index(a.base, a.modifier).or_else(|| letter_index(a.base, None))
        } else {
            None
        };
        match letter {
            Some(i) => {
                primary.push(W_LETTER + i);
                let t = word_tone.get_or_insert(None);
                if t.is_none() {
                    *t = a.tone;
                }
            }
            None => {
                flush_word(&mut word_tone, &mut secondary);
                if a.base.is_ascii() {
                    primary.push(W_PUNCT + a.base as u32);
                } else {
                    primary.push(W_OTHER + a.base as u32);
                }
            }
        }
        tertiary.push(if a.upper { 2 } else { 1 });
    }
    flush_word(&mut word_tone, &mut secondary);
    flush_digits(&mut digits, &mut primary);

    let mut key = primary;
    key.push(SEP);
    key.extend_from_slice(&secondary);
    key.push(SEP);
    key.extend_from_slice(&tertiary);
    key.push(SEP);
    key.extend(s.chars().map(|c| c as u32 + 1));
    key
}

/// So sánh theo thứ tự từ điển tiếng Việt (Vietnamese dictionary order). A total order:
/// `Equal` only for canonically equal strings (after trimming).
pub fn cmp_vi(a: &str, b: &str) -> Ordering {
    sort_key(a).cmp(&sort_key(b))
}

/// Sắp xếp danh sách theo tiếng Việt (sort a list in Vietnamese order), computing each key once.
pub fn sort_vi(v: &mut [String]) {
    v.sort_by_cached_key(|s| sort_key(s));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nfc_and_clean() {
        let nfd: String = "Lộc Bình".nfd().collect();
        assert_ne!(nfd, "Lộc Bình");
        assert_eq!(nfc(&nfd), "Lộc Bình");
        assert_eq!(nfc("  a  b "), "  a  b ");
        assert_eq!(clean("  Hữu \t Lũng\n "), "Hữu Lũng");
        assert_eq!(clean(&format!(" {nfd}  ")), "Lộc Bình");
        assert_eq!(clean(""), "");
        assert_eq!(clean("   "), "");
    }

    #[test]
    fn fold_examples() {
        assert_eq!(fold("Đăng ký  KHAI SINH"), "dang ky khai sinh");
        assert_eq!(fold("Đồng Đăng"), "dong dang");
        assert_eq!(fold("Lộc Bình"), "loc binh");
        assert_eq!(fold("Hữu Lũng"), "huu lung");
        assert_eq!(fold("  Tràng   Định "), "trang dinh");
        assert_eq!(fold("ĐẠI HỌC Ngoại thương"), "dai hoc ngoai thuong");
        assert_eq!(fold("Ðồng Ðăng"), "dong dang"); // U+00D0 typed for Đ
        let nfd: String = "Tràng Định".nfd().collect();
        assert_eq!(fold(&nfd), "trang dinh");
        assert_eq!(fold(""), "");
        assert_eq!(fold(" \u{301} "), "");
    }

    #[test]
    fn contains_examples() {
        assert!(contains_folded("Xã Đồng Đăng, tỉnh Lạng Sơn", "dong dang"));
        assert!(contains_folded("Xã Đồng Đăng", "ĐỒNG   ĐĂNG"));
        assert!(contains_folded("Hữu Lũng", ""));
        assert!(!contains_folded("Lộc Bình", "tràng"));
    }

    fn sorted(v: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        sort_vi(&mut v);
        v
    }

    #[test]
    fn full_alphabet() {
        let letters = [
            "a", "ă", "â", "b", "c", "d", "đ", "e", "ê", "f", "g", "h", "i", "j", "k", "l", "m",
            "n", "o", "ô", "ơ", "p", "q", "r", "s", "t", "u", "ư", "v", "w", "x", "y", "z",
        ];
        let mut shuffled = letters.to_vec();
        shuffled.sort(); // code point order differs from Vietnamese order
        assert_ne!(shuffled, letters);
        assert_eq!(sorted(&shuffled), letters);
        let upper: Vec<String> = letters.iter().map(|l| l.to_uppercase()).collect();
        let mut u = upper.clone();
        u.reverse();
        sort_vi(&mut u);
        assert_eq!(u, upper);
    }

    #[test]
    fn alphabet_order() {
        let want = [
            "An",
            "Ăn",
            "Ân",
            "Bắc",
            "Dương",
            "Đà",
            "Đông",
            "Ê",
            "Gia",
            "Ích",
            "Lộc Bình",
            "Ơn",
            "Ưng",
            "Yên",
        ];
        let mut shuffled = want.to_vec();
        shuffled.reverse();
        shuffled.rotate_left(5);
        assert_eq!(sorted(&shuffled), want);
        assert_eq!(cmp_vi("Dương", "Đà"), Ordering::Less);
        assert_eq!(cmp_vi("Zeta", "Yên"), Ordering::Greater);
    }

    #[test]
    fn tones_are_secondary() {
        // Same letters: tone order ngang, huyền, hỏi, ngã, sắc, nặng.
        let want = ["ma", "mà", "mả", "mã", "má", "mạ"];
        assert_eq!(sorted(&["mạ", "má", "mã", "mả", "mà", "ma"]), want);
        // Base letters win over tones: "mạ" < "mai".
        assert_eq!(cmp_vi("mạ", "mai"), Ordering::Less);
        // Tone placement variants sort together, before the next tone.
        assert!(cmp_vi("hoà", "hòa").is_ne());
        assert_eq!(cmp_vi("hoà", "hoả"), Ordering::Less);
        assert_eq!(cmp_vi("hòa", "hoả"), Ordering::Less);
    }

    #[test]
    fn case_is_tertiary() {
        assert_eq!(cmp_vi("an", "An"), Ordering::Less);
        assert_eq!(cmp_vi("An", "àn"), Ordering::Less);
        assert_eq!(cmp_vi("An", "an"), Ordering::Greater);
    }

    #[test]
    fn communes_of_lang_son() {
        let want = [
            "Bắc Sơn",
            "Cao Lộc",
            "Chi Lăng",
            "Đình Lập",
            "Đồng Đăng",
            "Hữu Lũng",
            "Lộc Bình",
            "Tràng Định",
            "Văn Lãng",
            "Văn Quan",
        ];
        let input = [
            "Văn Quan",
            "Tràng Định",
            "Đồng Đăng",
            "Lộc Bình",
            "Hữu Lũng",
            "Văn Lãng",
            "Chi Lăng",
            "Đình Lập",
            "Cao Lộc",
            "Bắc Sơn",
        ];
        assert_eq!(sorted(&input), want);
    }

    #[test]
    fn words_and_numbers() {
        // Word by word: a shorter word sorts before a longer one.
        assert_eq!(sorted(&["Anh", "An Bình", "An"]), ["An", "An Bình", "Anh"]);
        assert_eq!(
            sorted(&["Thôn 10", "Thôn 2", "Thôn 1", "Thôn 02"]),
            ["Thôn 1", "Thôn 2", "Thôn 02", "Thôn 10"]
        );
        // NFD input sorts with its NFC form.
        let nfd: String = "Đồng Đăng".nfd().collect();
        assert_eq!(cmp_vi(&nfd, "Đồng Đăng"), Ordering::Equal);
    }

    fn viet_word() -> impl Strategy<Value = String> {
        proptest::string::string_regex(
            "[a-zA-ZàáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵĐÂĂÊÔƠƯÀÁ0-9 ]{0,12}",
        )
        .unwrap()
    }

    proptest! {
        #[test]
        fn fold_idempotent(s in any::<String>()) {
            let f = fold(&s);
            prop_assert_eq!(fold(&f), f);
        }

        #[test]
        fn fold_ignores_normal_form(s in any::<String>()) {
            let d: String = s.nfd().collect();
            prop_assert_eq!(fold(&nfc(&s)), fold(&d));
        }

        #[test]
        fn fold_output_is_plain(s in any::<String>()) {
            let f = fold(&s);
            for c in f.chars() {
                prop_assert!(!is_combining_mark(c), "mark {:?} in {:?}", c, f);
                // No character with a lower-case mapping other than itself.
                prop_assert!(c.to_lowercase().eq(std::iter::once(c)), "{:?} in {:?}", c, f);
            }
            prop_assert_eq!(f.trim(), f.as_str());
            prop_assert!(!f.contains("  "));
        }

        #[test]
        fn fold_vietnamese_is_ascii_lowercase(s in viet_word()) {
            let f = fold(&s);
            prop_assert!(f.chars().all(|c| c.is_ascii() && !c.is_uppercase()), "{:?}", f);
        }

        #[test]
        fn nfc_idempotent(s in any::<String>()) {
            let once = nfc(&s);
            prop_assert_eq!(nfc(&once), once.clone());
            let c = clean(&s);
            prop_assert_eq!(clean(&c), c);
        }

        #[test]
        fn cmp_vi_total_order(a in viet_word(), b in viet_word(), c in viet_word()) {
            let ab = cmp_vi(&a, &b);
            prop_assert_eq!(ab, cmp_vi(&b, &a).reverse());
            prop_assert_eq!(ab == Ordering::Equal, nfc(a.trim()) == nfc(b.trim()));
            let bc = cmp_vi(&b, &c);
            if ab != Ordering::Greater && bc != Ordering::Greater {
                prop_assert_ne!(cmp_vi(&a, &c), Ordering::Greater);
            }
            prop_assert_eq!(cmp_vi(&a, &a), Ordering::Equal);
        }

        #[test]
        fn cmp_vi_arbitrary_is_antisymmetric(a in any::<String>(), b in any::<String>()) {
            prop_assert_eq!(cmp_vi(&a, &b), cmp_vi(&b, &a).reverse());
        }
    }
}
