//! The goods nomenclature (danh mục hàng hoá, AHTN/HS 8-digit codes) of the goods that cross
//! Lạng Sơn's gates, searchable by Vietnamese words with or without diacritics, by English or
//! Chinese words, or by code prefix.
//!
//! A curated catalogue (`data/hs.tsv`), not the whole tariff: fresh fruit and vegetables,
//! cassava, rice, coffee, seafood, rubber and wood going out; machinery, electronics,
//! fertilisers, fabrics, steel, vehicle parts and Chinese fruit coming in; ores. Each line says
//! whether the goods are perishable (tươi sống), which quarantine (kiểm dịch) they need and the
//! fee category (loại hàng tính phí, see [`crate::fees`]) a goods line with that code pays.
//! Rows marked `confirmed = false` are to be confirmed against the AHTN 2022 tariff.

use serde::Serialize;
use std::sync::OnceLock;
use tinhso_kernel::text::fold;

/// The catalogue file shipped with the crate.
pub const HS_TSV: &str = include_str!("../data/hs.tsv");

/// One 8-digit code.
#[derive(Debug, Clone, Serialize)]
pub struct HsEntry {
    /// `08106000` (stored and compared without dots).
    pub code: String,
    pub name_vi: String,
    pub name_en: String,
    pub name_zh: String,
    /// Fresh goods that spoil (hàng tươi sống): priority in the queue.
    pub perishable: bool,
    /// `plant`, `animal` or empty: which quarantine (kiểm dịch) the goods need.
    pub quarantine: String,
    /// The fee schedule's goods category (loại hàng) a line with this code pays.
    pub fee_category: String,
    /// The code and wording were checked against a published table (else: to be confirmed).
    pub confirmed: bool,
    #[serde(skip)]
    folded_vi: String,
    #[serde(skip)]
    folded_all: String,
}

impl HsEntry {
    /// `0810.60.00`, as codes are written on declarations.
    pub fn dotted(&self) -> String {
        dotted(&self.code)
    }

    pub fn name(&self, lang: &str) -> &str {
        match lang {
            "en" => &self.name_en,
            "zh" => &self.name_zh,
            _ => &self.name_vi,
        }
    }
}

/// `08106000` → `0810.60.00`; anything not 8 digits is returned unchanged.
pub fn dotted(code: &str) -> String {
    if code.len() == 8 && code.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}.{}.{}", &code[..4], &code[4..6], &code[6..])
    } else {
        code.to_string()
    }
}

/// A code as typed (`0810.60.00`, `0810 60 00`, `08106000`) without its separators.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| !matches!(c, '.' | ' ' | '-' | '\t'))
        .collect()
}

/// Parse and check a catalogue file: every error names its line.
pub fn parse(tsv: &str) -> Result<Vec<HsEntry>, String> {
    let mut out: Vec<HsEntry> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut header = false;
    for (i, line) in tsv.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        if !header {
            if cols.first() != Some(&"code") {
                return Err(format!("line {n}: the header row is missing"));
            }
            header = true;
            continue;
        }
        if cols.len() != 8 {
            return Err(format!("line {n}: {} columns, 8 expected", cols.len()));
        }
        let code = cols[0].trim();
        if code.len() != 8 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("line {n}: code {code:?} is not 8 digits"));
        }
        if !seen.insert(code.to_string()) {
            return Err(format!("line {n}: code {code} appears twice"));
        }
        let flag = |s: &str, what: &str| match s.trim() {
            "1" => Ok(true),
            "0" => Ok(false),
            other => Err(format!("line {n}: {what} {other:?} is not 0 or 1")),
        };
        let quarantine = cols[5].trim();
        if !matches!(quarantine, "" | "plant" | "animal") {
            return Err(format!(
                "line {n}: quarantine {quarantine:?} is not plant, animal or empty"
            ));
        }
        for (what, v) in [
            ("name_vi", cols[1]),
            ("name_en", cols[2]),
            ("name_zh", cols[3]),
        ] {
            if v.trim().is_empty() {
                return Err(format!("line {n}: {what} is empty"));
            }
        }
        let (name_vi, name_en, name_zh) = (
            cols[1].trim().to_string(),
            cols[2].trim().to_string(),
            cols[3].trim().to_string(),
        );
        let folded_vi = fold(&name_vi);
        let folded_all = format!("{folded_vi} | {} | {}", fold(&name_en), fold(&name_zh));
        out.push(HsEntry {
            code: code.to_string(),
            perishable: flag(cols[4], "perishable")?,
            quarantine: quarantine.to_string(),
            fee_category: cols[6].trim().to_string(),
            confirmed: flag(cols[7], "confirmed")?,
            name_vi,
            name_en,
            name_zh,
            folded_vi,
            folded_all,
        });
    }
    if !header {
        return Err("the header row is missing".into());
    }
    out.sort_by(|a, b| a.code.cmp(&b.code));
    Ok(out)
}

/// The shipped catalogue, sorted by code. A broken file (which the unit tests rule out) is
/// logged and gives an empty catalogue, so a look-up says "unknown code" rather than panic.
pub fn entries() -> &'static [HsEntry] {
    static ALL: OnceLock<Vec<HsEntry>> = OnceLock::new();
    ALL.get_or_init(|| match parse(HS_TSV) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "data/hs.tsv does not parse");
            Vec::new()
        }
    })
}

/// The entry for an 8-digit code (dots and spaces ignored).
pub fn lookup(code: &str) -> Option<&'static HsEntry> {
    let code = normalize_code(code);
    let all = entries();
    all.binary_search_by(|e| e.code.as_str().cmp(&code))
        .ok()
        .and_then(|i| all.get(i))
}

fn is_word_start(hay: &str, at: usize) -> bool {
    at == 0
        || hay[..at]
            .chars()
            .next_back()
            .is_some_and(|c| !c.is_alphanumeric())
}

/// How well one folded query word fits a folded text: 3 a whole word, 2 a word's start, 1
/// inside a word (Chinese, written without spaces, always matches this way), 0 not at all.
fn word_score(hay: &str, word: &str) -> u32 {
    let mut best = 0;
    for (at, _) in hay.match_indices(word) {
        let end = at + word.len();
        let starts = is_word_start(hay, at);
        // A whole word, allowing an English plural ("durian" finds "durians").
        let rest = &hay[end..];
        let rest = rest
            .strip_prefix("es")
            .or_else(|| rest.strip_prefix('s'))
            .filter(|r| r.chars().next().is_none_or(|c| !c.is_alphanumeric()))
            .unwrap_or(rest);
        let ends = rest.chars().next().is_none_or(|c| !c.is_alphanumeric());
        let s = match (starts, ends) {
            (true, true) => 3,
            (true, false) => 2,
            _ if !word.is_ascii() => 2,
            _ => 0,
        };
        best = best.max(s);
        if best == 3 {
            break;
        }
    }
    best
}

/// Entries whose name contains every word of `query` (diacritics optional; Vietnamese,
/// English or Chinese), or whose code starts with its digits (`0810`, `0810.60`); best first,
/// at most `limit`.
pub fn search(query: &str, limit: usize) -> Vec<&'static HsEntry> {
    let all = entries();
    let digits = normalize_code(query);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return all
            .iter()
            .filter(|e| e.code.starts_with(&digits))
            .take(limit)
            .collect();
    }
    let q = fold(query);
    let words: Vec<&str> = q.split_whitespace().collect();
    if words.is_empty() || limit == 0 {
        return Vec::new();
    }
    let mut hits: Vec<(u32, usize, &HsEntry)> = Vec::new();
    for e in all {
        let mut score = 0;
        let mut all_words = true;
        for w in &words {
            // Words found in the Vietnamese name count double.
            let s = (word_score(&e.folded_vi, w) * 2).max(word_score(&e.folded_all, w));
            if s == 0 {
                all_words = false;
                break;
            }
            score += s;
        }
        if !all_words {
            continue;
        }
        // The whole phrase, in order, in the Vietnamese name: the strongest sign.
        let phrase_at = e.folded_vi.find(q.as_str());
        if phrase_at.is_some() {
            score += 10;
        }
        hits.push((score, phrase_at.unwrap_or(usize::MAX), e));
    }
    // Best score, then the phrase earliest in the name, then fresh goods (the commonest
    // declarations at these gates: "xoài" means fresh mangoes before dried ones), then the
    // shorter name, then the code.
    hits.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then(b.2.perishable.cmp(&a.2.perishable))
            .then(a.2.folded_vi.len().cmp(&b.2.folded_vi.len()))
            .then(a.2.code.cmp(&b.2.code))
    });
    hits.into_iter().take(limit).map(|h| h.2).collect()
}

/// The fee categories of a trip's goods lines, from their codes; an unknown code is reported
/// by its position so the form can point at the line.
pub fn fee_categories(codes: &[&str]) -> Result<Vec<String>, tinhso_kernel::AppError> {
    let mut errs = tinhso_kernel::FieldErrors::new();
    let mut out = Vec::with_capacity(codes.len());
    for (i, c) in codes.iter().enumerate() {
        match lookup(c) {
            Some(e) => out.push(e.fee_category.clone()),
            None => errs.push(
                &format!("goods[{i}].hs_code"),
                tinhso_kernel::Invalid::new(
                    "hs_unknown",
                    format!(
                        "Mã hàng «{}» không có trong danh mục (cần mã AHTN 8 số, ví dụ 0810.60.00)",
                        c.trim()
                    ),
                    format!(
                        "Goods code {:?} is not in the catalogue (an 8-digit AHTN code is needed, e.g. 0810.60.00)",
                        c.trim()
                    ),
                ),
            ),
        }
    }
    errs.into_result()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(v: &[&HsEntry]) -> Vec<String> {
        v.iter().map(|e| e.code.clone()).collect()
    }

    #[test]
    fn the_shipped_catalogue_parses_and_has_a_few_hundred_lines_at_most() {
        let all = parse(HS_TSV).unwrap();
        assert!(all.len() >= 100, "{}", all.len());
        assert_eq!(entries().len(), all.len());
    }

    #[test]
    fn every_code_is_8_digits_and_unique() {
        let all = entries();
        let mut seen = std::collections::HashSet::new();
        for e in all {
            assert_eq!(e.code.len(), 8, "{}", e.code);
            assert!(e.code.bytes().all(|b| b.is_ascii_digit()), "{}", e.code);
            assert!(seen.insert(&e.code), "{} twice", e.code);
        }
    }

    #[test]
    fn every_category_exists_in_every_fee_schedule() {
        for s in crate::fees::schedules().unwrap() {
            for e in entries() {
                assert!(
                    s.category(&e.fee_category).is_some(),
                    "{} maps to {:?}, not in schedule {}",
                    e.code,
                    e.fee_category,
                    s.id
                );
            }
        }
    }

    #[test]
    fn names_are_nfc_and_vietnamese_names_carry_diacritics() {
        // Diacritics not stripped: a few names are plain ASCII in Vietnamese too ("Than bitum").
        let plain = entries().iter().filter(|e| e.name_vi.is_ascii()).count();
        assert!(
            plain * 20 < entries().len(),
            "{plain} names without diacritics"
        );
        for e in entries() {
            for s in [&e.name_vi, &e.name_en, &e.name_zh] {
                assert_eq!(&tinhso_kernel::text::nfc(s), s, "{} not NFC", e.code);
            }
            assert!(
                e.name_zh
                    .chars()
                    .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{} has no Chinese name",
                e.code
            );
        }
    }

    #[test]
    fn lookup_ignores_dots_and_spaces() {
        let d = lookup("0810.60.00").unwrap();
        assert_eq!(d.name_en, "Durians, fresh");
        assert!(d.perishable);
        assert_eq!(d.quarantine, "plant");
        assert_eq!(d.fee_category, "fresh_produce");
        assert_eq!(d.dotted(), "0810.60.00");
        assert_eq!(lookup("08106000").unwrap().code, "08106000");
        assert_eq!(lookup(" 0810 60 00 ").unwrap().code, "08106000");
        assert_eq!(lookup("0810-60-00").unwrap().code, "08106000");
    }

    #[test]
    fn unknown_or_malformed_codes_are_none() {
        assert!(lookup("9999.99.99").is_none());
        assert!(lookup("0810.60").is_none());
        assert!(lookup("").is_none());
        assert!(lookup("sầu riêng").is_none());
    }

    #[test]
    fn search_finds_vietnamese_words_with_or_without_diacritics() {
        assert_eq!(search("sau rieng", 5)[0].code, "08106000");
        assert_eq!(search("sầu riêng", 5)[0].code, "08106000");
        assert_eq!(search("SẦU RIÊNG", 5)[0].code, "08106000");
        assert_eq!(search("thanh long", 5)[0].code, "08109092");
        assert_eq!(search("mit", 5)[0].code, "08109050");
        assert_eq!(search("xoai", 5)[0].code, "08045021");
        assert_eq!(search("san lat kho", 5)[0].code, "07141011");
        assert_eq!(search("tinh bot san", 5)[0].code, "11081400");
        assert_eq!(search("toi", 5)[0].code, "07032090");
        assert_eq!(search("quang sat", 5)[0].code, "26011100");
        assert_eq!(search("phân urê", 5)[0].code, "31021000");
    }

    #[test]
    fn search_finds_english_and_chinese_words() {
        assert_eq!(search("durian", 5)[0].code, "08106000");
        assert_eq!(search("dragon fruit", 5)[0].code, "08109092");
        assert_eq!(search("榴莲", 5)[0].code, "08106000");
        assert_eq!(search("火龙果", 5)[0].code, "08109092");
        assert_eq!(search("apples", 5)[0].code, "08081000");
    }

    #[test]
    fn search_by_code_prefix_lists_in_code_order() {
        let r = search("0810", 50);
        assert!(r.len() > 10);
        assert!(r.iter().all(|e| e.code.starts_with("0810")));
        assert!(r.windows(2).all(|w| w[0].code < w[1].code));
        assert_eq!(codes(&search("0810.60", 5)), ["08106000"]);
        assert_eq!(codes(&search("0810.90.9", 2)), ["08109091", "08109092"]);
    }

    #[test]
    fn search_needs_every_word_and_respects_the_limit() {
        assert!(search("sau rieng tao", 5).is_empty());
        assert!(search("khong co hang nay", 5).is_empty());
        assert!(search("", 5).is_empty());
        assert!(search("   ", 5).is_empty());
        assert_eq!(search("tuoi", 3).len(), 3);
        assert!(search("quả", 0).is_empty());
    }

    #[test]
    fn fee_categories_come_from_the_codes_and_unknown_codes_name_the_line() {
        assert_eq!(
            fee_categories(&["0810.60.00", "2601.11.00"]).unwrap(),
            ["fresh_produce", "ore"]
        );
        let e = fee_categories(&["0810.60.00", "1234"]).unwrap_err();
        assert_eq!(e.fields.len(), 1);
        assert_eq!(e.fields[0].field, "goods[1].hs_code");
        assert!(e.fields[0].message_vi.contains("1234"));
    }

    /// Timing of searches and look-ups (debug build unless run with --release):
    /// `cargo test -p tinhso-border --lib -- --ignored --nocapture measure_`.
    #[test]
    #[ignore]
    fn measure_search_and_lookup() {
        let queries = [
            "sau rieng",
            "thanh long",
            "0810",
            "quặng",
            "apples",
            "火龙果",
        ];
        let n = 2_000;
        let t = std::time::Instant::now();
        let mut hits = 0;
        for i in 0..n {
            hits += search(queries[i % queries.len()], 10).len();
        }
        let per_search = t.elapsed() / n as u32;
        let t = std::time::Instant::now();
        let mut found = 0;
        for i in 0..n {
            found += usize::from(lookup(&entries()[i % entries().len()].code).is_some());
        }
        let per_lookup = t.elapsed() / n as u32;
        assert_eq!(found, n);
        println!(
            "hs: {} entries; search {per_search:?} each ({hits} hits over {n}); lookup {per_lookup:?} each",
            entries().len()
        );
    }

    #[test]
    fn bad_files_name_the_line() {
        let head =
            "code\tname_vi\tname_en\tname_zh\tperishable\tquarantine\tfee_category\tconfirmed\n";
        let row = "08106000\tSầu riêng\tDurian\t榴莲\t1\tplant\tfresh_produce\t1\n";
        assert!(parse(&format!("{head}{row}")).is_ok());
        assert!(parse(&format!("{head}{row}{row}"))
            .unwrap_err()
            .contains("twice"));
        assert!(
            parse(&format!("{head}{}", row.replace("08106000", "0810600")))
                .unwrap_err()
                .contains("line 2")
        );
        assert!(parse(&format!("{head}{}", row.replace("plant", "fungus")))
            .unwrap_err()
            .contains("quarantine"));
        assert!(parse(row).unwrap_err().contains("header"));
    }
}
