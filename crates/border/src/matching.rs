//! Camera plate reads (đọc biển số từ camera) matched to active trips despite misreads: the
//! confusable characters 0/D/O/Q, 8/B, 1/I/L, 5/S, 2/Z, 6/G, missing separators, a lost `·`,
//! one line of a two-line plate, a Chinese province character missing or misread, one
//! character dropped. A read that matches nothing or matches ambiguously is never attached to
//! a truck: the caller sends it to the officers' review queue.
//!
//! The index keeps, for every active plate, its *body* (the Latin letters and digits, without
//! the Chinese province character or `挂`) folded by confusion class ([`fold`]), so a read is
//! matched by a few hash lookups, in tiers; the first tier that finds anything decides:
//!
//! 1. **exact**: the read parses ([`crate::plate::parse`]) to an active plate → [`MatchOutcome::Exact`];
//! 2. **folded**: the read's folded body equals active plates' folded bodies; among them the
//!    fewest differing characters (and the same province character, when the read has one)
//!    wins; a tie is [`MatchOutcome::Ambiguous`];
//! 3. **one character dropped** or **bottom line only** (`123.45` of `12C` / `123.45`, `12345`
//!    of `桂A` / `12345`; only for reads of 4–6 characters without a province character), the
//!    candidates of both taken together (a bottom line `12345` is also `桂A·12345` with its
//!    letter dropped); only when the read is not itself a valid plate (a valid plate that is
//!    not active may be a truck with no declaration: it goes to review); must be unique, or
//!    unique with the read's province character.
//!
//! A plate belongs to one key; inserting a plate again replaces its key.

use std::collections::HashMap;

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use crate::plate;

/// What a read matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchOutcome<K> {
    /// Exactly one active plate, read as written.
    Exact(K),
    /// Exactly one active plate, through misread-tolerant matching.
    Fuzzy(K),
    /// Several active plates fit: an officer decides.
    Ambiguous(Vec<K>),
    /// No active plate fits.
    NoMatch,
}

impl<K> MatchOutcome<K> {
    /// The matched key, if exactly one plate fits.
    pub fn key(&self) -> Option<&K> {
        match self {
            MatchOutcome::Exact(k) | MatchOutcome::Fuzzy(k) => Some(k),
            _ => None,
        }
    }

    /// `exact`, `fuzzy`, `ambiguous`, `no_match`.
    pub fn kind(&self) -> &'static str {
        match self {
            MatchOutcome::Exact(_) => "exact",
            MatchOutcome::Fuzzy(_) => "fuzzy",
            MatchOutcome::Ambiguous(_) => "ambiguous",
            MatchOutcome::NoMatch => "no_match",
        }
    }
}

/// The confusion class of a character (nhóm ký tự dễ đọc nhầm): 0/D/O/Q → `0`, 8/B → `8`,
/// 1/I/L → `1`, 5/S → `5`, 2/Z → `2`, 6/G → `6`; other characters stand for themselves.
pub fn fold_char(c: char) -> char {
    match c.to_ascii_uppercase() {
        'O' | 'Q' | 'D' => '0',
        'B' => '8',
        'I' | 'L' => '1',
        'S' => '5',
        'Z' => '2',
        'G' => '6',
        u => u,
    }
}

/// A string folded by confusion class.
pub fn fold(s: &str) -> String {
    s.chars().map(fold_char).collect()
}

/// A plate or a read split into its province character (Chinese plates) and its body (Latin
/// letters and digits, upper case).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts {
    province: Option<char>,
    body: String,
    /// The trailer mark `挂` after the body (Chinese trailer plates, biển rơ moóc).
    trailer: bool,
}

fn parts(text: &str) -> Parts {
    if text.is_ascii() {
        // Most reads: NFKC leaves ASCII as it is, and there is no province character.
        return Parts {
            province: None,
            body: text
                .bytes()
                .filter(u8::is_ascii_alphanumeric)
                .map(|b| char::from(b.to_ascii_uppercase()))
                .collect(),
            trailer: false,
        };
    }
    let mut province = None;
    let mut trailer = false;
    let mut body = String::with_capacity(text.len());
    for c in text.nfkc() {
        if c.is_ascii_alphanumeric() {
            body.push(c.to_ascii_uppercase());
        } else if body.is_empty() && province.is_none() && c.is_alphabetic() && !c.is_ascii() {
            // A non-Latin letter before the body: the province character, read right or not.
            province = Some(c);
        } else if c == plate::CN_TRAILER && !body.is_empty() {
            trailer = true;
        }
    }
    Parts {
        province,
        body,
        trailer,
    }
}

/// Whether a read with no province character could be a whole Chinese plate that lost it
/// (biển Trung Quốc mất chữ tỉnh): the issuing-office letter, then five characters (six for
/// new energy; four before the trailer mark `挂`). Such a read may be a Chinese truck with no
/// declaration: it is not matched through a lost character to another plate.
fn fits_cn_body(p: &Parts) -> bool {
    let b = p.body.as_bytes();
    p.province.is_none()
        && b.first().is_some_and(u8::is_ascii_uppercase)
        && if p.trailer {
            b.len() == 5
        } else {
            b.len() == 6 || b.len() == 7
        }
}

/// The bottom line of a plate's body: the serial digits of a Vietnamese plate, the characters
/// after the issuing-office letter of a Chinese one.
fn bottom_of(p: &Parts) -> Option<&str> {
    if p.province.is_some() {
        p.body.get(1..)
    } else {
        let lead = p
            .body
            .char_indices()
            .find(|(_, c)| !c.is_ascii_digit())
            .map(|(i, _)| i)?;
        let serial = p.body[lead..].trim_start_matches(|c: char| c.is_ascii_alphabetic());
        Some(serial)
    }
}

/// `12C`, `29LD`: two digits then only letters — the top line of a Vietnamese plate, which is
/// never taken for a bottom line.
fn looks_like_top_line(body: &str) -> bool {
    let b = body.as_bytes();
    b.len() >= 3
        && b[0].is_ascii_digit()
        && b[1].is_ascii_digit()
        && b[2..].iter().all(u8::is_ascii_alphabetic)
}

/// A digit, or a letter a camera reads for a digit.
fn digit_class(c: u8) -> bool {
    c.is_ascii_digit() || b"DOQBILSZG".contains(&c)
}

/// A letter, or a digit a camera reads for a letter.
fn letter_class(c: u8) -> bool {
    c.is_ascii_uppercase() || b"081526".contains(&c)
}

/// Whether a read could be a whole Vietnamese plate with some characters misread (two digits,
/// one or two series letters, four or five digits): then it may be a truck without a
/// declaration, and is not matched by a dropped character or as a bottom line.
fn fits_vn_layout(body: &str) -> bool {
    let b = body.as_bytes();
    [(1, 4), (1, 5), (2, 4), (2, 5)].iter().any(|&(s, n)| {
        b.len() == 2 + s + n
            && b[..2].iter().all(|c| digit_class(*c))
            && b[2..2 + s].iter().all(|c| letter_class(*c))
            && b[2 + s..].iter().all(|c| digit_class(*c))
    })
}

/// Whether a body could be a whole Vietnamese plate with a five-digit serial (two digits, one
/// or two series letters, five digits), some characters misread.
fn fits_vn_five_digit_layout(body: &str) -> bool {
    let b = body.as_bytes();
    [1, 2].iter().any(|&s| {
        b.len() == 2 + s + 5
            && b[..2].iter().all(|c| digit_class(*c))
            && b[2..2 + s].iter().all(|c| letter_class(*c))
            && b[2 + s..].iter().all(|c| digit_class(*c))
    })
}

/// The dot of a Vietnamese five-digit serial as the camera reported it (dấu chấm của dãy số
/// 5 chữ số): a five-digit serial is printed `123.45`, a four-digit one `1234` with no dot. For
/// a read with no province character that starts with a digit, the number of letters and
/// digits after the last `.` that has one before it, when it is one or two (a dot further
/// forward is not the serial's); `None` otherwise.
fn serial_dot(text: &str) -> Option<usize> {
    let mut seen_alnum = false;
    let mut after: Option<usize> = None;
    let mut first = true;
    for c in text.chars() {
        if first && !c.is_whitespace() {
            if !c.is_ascii_digit() {
                return None;
            }
            first = false;
        }
        if c.is_ascii_alphanumeric() {
            seen_alnum = true;
            if let Some(n) = after.as_mut() {
                *n += 1;
            }
        } else if c == '.' && seen_alnum {
            after = Some(0);
        } else if !c.is_ascii() {
            return None;
        }
    }
    // A dot with more than two characters after it is not the serial's (`12.C1234`).
    after.filter(|n| (1..=2).contains(n))
}

/// Whether the read's dot (if any) allows it to be a whole plate: with no dot, any layout;
/// with the dot of a five-digit serial, only a five-digit plate with two characters after the
/// dot. A read like `12C-123.5` or `12C-12.45` is then a five-digit plate that lost a digit,
/// never the four-digit plate `12C-1235`/`12C-1245` (which carries no dot).
fn dot_allows_whole(body: &str, dot: Option<usize>) -> bool {
    match dot {
        None => true,
        Some(2) => fits_vn_five_digit_layout(body),
        Some(_) => false,
    }
}

#[derive(Debug, Clone)]
struct Entry<K> {
    key: K,
    parts: Parts,
}

/// The active plates (canonical form) and the key (trip) each belongs to.
#[derive(Debug, Clone)]
pub struct PlateIndex<K: Clone + Eq> {
    entries: HashMap<String, Entry<K>>,
    /// Folded body → canonical plates.
    folded: HashMap<String, Vec<String>>,
    /// Folded body with one character dropped → canonical plates.
    dropped: HashMap<String, Vec<String>>,
    /// Folded bottom line → canonical plates.
    bottom: HashMap<String, Vec<String>>,
}

impl<K: Clone + Eq> Default for PlateIndex<K> {
    fn default() -> Self {
        Self::new()
    }
}

fn add(map: &mut HashMap<String, Vec<String>>, key: String, canonical: &str) {
    let v = map.entry(key).or_default();
    if !v.iter().any(|c| c == canonical) {
        v.push(canonical.to_string());
    }
}

fn del(map: &mut HashMap<String, Vec<String>>, key: &str, canonical: &str) {
    if let Some(v) = map.get_mut(key) {
        v.retain(|c| c != canonical);
        if v.is_empty() {
            map.remove(key);
        }
    }
}

/// The folded body with each character dropped in turn (distinct).
fn drops(folded: &str) -> Vec<String> {
    let chars: Vec<char> = folded.chars().collect();
    let mut out: Vec<String> = Vec::with_capacity(chars.len());
    for i in 0..chars.len() {
        let s: String = chars
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, c)| *c)
            .collect();
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

impl<K: Clone + Eq> PlateIndex<K> {
    pub fn new() -> Self {
        Self {
            entries: HashMap::new(),
            folded: HashMap::new(),
            dropped: HashMap::new(),
            bottom: HashMap::new(),
        }
    }

    /// Add an active plate (its canonical form) for `key`; a plate already there changes key.
    pub fn insert(&mut self, canonical: &str, key: K) {
        if let Some(e) = self.entries.get_mut(canonical) {
            e.key = key;
            return;
        }
        let p = parts(canonical);
        let f = fold(&p.body);
        for d in drops(&f) {
            add(&mut self.dropped, d, canonical);
        }
        if let Some(b) = bottom_of(&p) {
            add(&mut self.bottom, fold(b), canonical);
        }
        add(&mut self.folded, f, canonical);
        self.entries
            .insert(canonical.to_string(), Entry { key, parts: p });
    }

    /// Remove a plate that is no longer active.
    pub fn remove(&mut self, canonical: &str) {
        let Some(e) = self.entries.remove(canonical) else {
            return;
        };
        let f = fold(&e.parts.body);
        for d in drops(&f) {
            del(&mut self.dropped, &d, canonical);
        }
        if let Some(b) = bottom_of(&e.parts) {
            del(&mut self.bottom, &fold(b), canonical);
        }
        del(&mut self.folded, &f, canonical);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The key of an active plate (canonical form).
    pub fn get(&self, canonical: &str) -> Option<&K> {
        self.entries.get(canonical).map(|e| &e.key)
    }

    /// The canonical plates that a read could be (every tier's candidates, for the review
    /// queue), sorted.
    pub fn candidates(&self, text: &str) -> Vec<String> {
        let r = parts(text);
        let f = fold(&r.body);
        let mut out: Vec<String> = Vec::new();
        for map in [&self.folded, &self.dropped, &self.bottom] {
            if let Some(v) = map.get(&f) {
                out.extend(
                    v.iter()
                        .filter(|c| {
                            !r.trailer
                                || self
                                    .entries
                                    .get(c.as_str())
                                    .is_some_and(|e| e.parts.trailer)
                        })
                        .cloned(),
                );
            }
        }
        out.sort();
        out.dedup();
        out
    }

    fn outcome(&self, mut plates: Vec<&str>) -> MatchOutcome<K> {
        plates.sort_unstable();
        plates.dedup();
        let keys: Vec<K> = plates
            .iter()
            .filter_map(|c| self.entries.get(*c).map(|e| e.key.clone()))
            .collect();
        match keys.len() {
            0 => MatchOutcome::NoMatch,
            1 => MatchOutcome::Fuzzy(keys[0].clone()),
            _ => MatchOutcome::Ambiguous(keys),
        }
    }

    /// The candidates that fit best: when the read has a province character, those with that
    /// province if there are any; otherwise all. (Fewer differing characters is *not* taken as
    /// better: `桂F·92B72` could be `桂F·92872` or `桂F·9287Z` misread twice.)
    fn best<'a>(&self, cands: &'a [String], r: &Parts) -> Vec<&'a str> {
        self.best_narrowed(cands, r).0
    }

    /// [`Self::best`], and whether the read's province character left out a candidate (then
    /// the read may be a province misread of the one left out: it is scored, never attached
    /// by the province alone — seed 1's `粤F.80576`, a read of 桂F·80576).
    fn best_narrowed<'a>(&self, cands: &'a [String], r: &Parts) -> (Vec<&'a str>, bool) {
        // A read that shows the trailer mark `挂` is of a trailer: only trailer plates fit.
        let all: Vec<&str> = cands
            .iter()
            .filter(|c| {
                self.entries
                    .get(c.as_str())
                    .is_some_and(|e| !r.trailer || e.parts.trailer)
            })
            .map(String::as_str)
            .collect();
        if let Some(rp) = r.province {
            let same: Vec<&str> = all
                .iter()
                .copied()
                .filter(|c| self.entries.get(*c).and_then(|e| e.parts.province) == Some(rp))
                .collect();
            if !same.is_empty() {
                let narrowed = same.len() < all.len();
                return (same, narrowed);
            }
        }
        (all, false)
    }

    /// Why a read that matched nothing matched nothing (for the review breakdown):
    /// `too_short` (fewer than four letters and digits), `top_line` (`12C`, `51LD` alone),
    /// `whole_plate` (a valid plate, or a whole plate with misread characters, that no active
    /// trip has: perhaps a truck with no declaration, so no lost character is assumed), or
    /// `no_candidate` (no active plate is one misread away).
    pub fn no_match_cause(&self, text: &str) -> &'static str {
        let r = parts(text);
        if r.body.len() < 4 {
            "too_short"
        } else if looks_like_top_line(&r.body) {
            "top_line"
        } else if (dot_allows_whole(&r.body, serial_dot(text))
            && (plate::parse(text).is_ok() || fits_vn_layout(&r.body)))
            || fits_cn_body(&r)
        {
            "whole_plate"
        } else {
            "no_candidate"
        }
    }

    /// Match a camera's plate text.
    pub fn match_read(&self, text: &str) -> MatchOutcome<K> {
        if text.len() > 256 {
            return MatchOutcome::NoMatch;
        }
        let r = parts(text);
        let f = fold(&r.body);
        // 1. Exact. A read that is exactly an active plate but could also be another active
        // plate with a character dropped (12C-1234 read while 12C-123.45 is active too) is
        // ambiguous: the camera may have lost a digit of the longer plate, and a wrong truck is
        // worse than an officer's look. Clean reads of plates with no such neighbour attach.
        let dot = serial_dot(text);
        let parsed = match plate::parse(text) {
            Ok(p) => {
                if let Some(e) = self.entries.get(&p.canonical) {
                    // Also another active plate that folds alike (a confusable character, or
                    // the same body under another province: `粤F.80576` read of 桂F·80576
                    // while 粤F·80576 is active too, seed 1).
                    let shadows: Vec<&str> = [self.dropped.get(&f), self.folded.get(&f)]
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(String::as_str)
                        .filter(|c| *c != p.canonical.as_str())
                        .filter(|c| {
                            !r.trailer || self.entries.get(*c).is_some_and(|e| e.parts.trailer)
                        })
                        .collect();
                    if shadows.is_empty() {
                        return MatchOutcome::Exact(e.key.clone());
                    }
                    let mut all = shadows;
                    all.push(p.canonical.as_str());
                    return self.outcome(all);
                }
                true
            }
            Err(_) => false,
        };
        // A read that could be a whole plate as printed (a valid plate, or one with misread
        // characters) may be a truck with no declaration.
        let whole_without_dot = parsed || fits_vn_layout(&r.body);
        let whole = dot_allows_whole(&r.body, dot) && whole_without_dot;
        if r.body.len() < 4 {
            return MatchOutcome::NoMatch;
        }
        // Digits alone (a bottom line, `123.45`, or a number that lost its letters) are shared
        // by every plate with those digits, trucks with no declaration included: the officer
        // confirms the one suggested, or the scoring rule weighs it.
        let bare_number = r.province.is_none() && r.body.bytes().all(|c| c.is_ascii_digit());
        // 2. Folded: the fewest differing characters wins; a tie is ambiguous.
        if let Some(cands) = self.folded.get(&f) {
            let (mut best, narrowed) = self.best_narrowed(cands, &r);
            if !best.is_empty() {
                // As for exact reads: another active plate that lost a character reads the
                // same (桂F 1183 of 桂F·1183C, beside the trailer 桂F·1183挂).
                if let Some(shadows) = self.dropped.get(&f) {
                    best.extend(
                        self.best(shadows, &r)
                            .into_iter()
                            .filter(|c| !cands.iter().any(|x| x == c)),
                    );
                }
                // Digits alone may also be a bottom line (`053.16` of 69R-053.16 folds as the
                // body of 粤Q·5316挂 without its province, seed 10): both compete.
                if bare_number && (4..=6).contains(&r.body.len()) {
                    if let Some(b) = self.bottom.get(&f) {
                        best.extend(
                            self.best(b, &r)
                                .into_iter()
                                .filter(|c| !cands.iter().any(|x| x == c)),
                        );
                    }
                }
                return match self.outcome(best) {
                    MatchOutcome::Fuzzy(k) if narrowed || bare_number => {
                        MatchOutcome::Ambiguous(vec![k])
                    }
                    o => o,
                };
            }
        }
        if whole {
            // A valid plate that is not active, or one misread: perhaps a truck with no
            // declaration. Not matched through a dropped character or a bottom line.
            return MatchOutcome::NoMatch;
        }
        // 3 and 4. One character dropped, or the bottom line only: a bottom line can also be a
        // Chinese body without its letter, so the two tiers' candidates are taken together.
        // A top line alone (`12C`, `51LD`) is never enough.
        if looks_like_top_line(&r.body) || fits_cn_body(&r) {
            return MatchOutcome::NoMatch;
        }
        let mut cands: Vec<String> = if r.body.len() >= 5 {
            self.dropped.get(&f).cloned().unwrap_or_default()
        } else {
            Vec::new()
        };
        if r.province.is_none() && (4..=6).contains(&r.body.len()) {
            if let Some(b) = self.bottom.get(&f) {
                cands.extend(b.iter().cloned());
            }
        }
        cands.sort_unstable();
        cands.dedup();
        if cands.is_empty() {
            return MatchOutcome::NoMatch;
        }
        // A read that lost a character or a line is also the read of every plate, active or
        // not, that lost the same (`桂F.5877` of 桂F·59877 with no trip, beside the active
        // 桂F·58771, seed 1): a single candidate is never attached here, the scoring rule
        // weighs the read's confidence and the trip's time first.
        match self.outcome(self.best(&cands, &r)) {
            MatchOutcome::Fuzzy(k) => MatchOutcome::Ambiguous(vec![k]),
            o => o,
        }
    }
}

// ---------------------------------------------------------------- scoring ambiguous reads

/// How a read differs from one candidate plate (các lỗi đọc so với biển ứng viên), in the
/// misread model's terms ([`crate::misread`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Edits {
    /// Characters read as a confusable one (8↔B, 0↔D…).
    pub confusions: u32,
    /// Characters not read (lost).
    pub dropped: u32,
    /// Only the bottom line of a two-line plate read.
    pub line_lost: bool,
    /// The Chinese province character lost or read as another.
    pub province: bool,
}

impl Edits {
    /// How many edits in all.
    pub fn count(&self) -> u32 {
        self.confusions + self.dropped + u32::from(self.line_lost) + u32::from(self.province)
    }
}

/// Characters that differ (the two strings fold alike and have the same length).
fn confusions(a: &str, b: &str) -> Option<u32> {
    if a.len() != b.len() || fold(a) != fold(b) {
        return None;
    }
    Some(a.bytes().zip(b.bytes()).filter(|(x, y)| x != y).count() as u32)
}

/// The fewest edits that turn `canonical` into the read `text`, or `None` when the misread
/// model has no such edit (same length and folding alike; one character lost; the bottom line
/// alone; the province character lost or misread on top of these).
pub fn edits(text: &str, canonical: &str) -> Option<Edits> {
    let r = parts(text);
    let p = parts(canonical);
    let province = match (r.province, p.province) {
        (None, None) => false,
        (Some(a), Some(b)) => a != b,
        _ => true,
    };
    let mut best: Option<Edits> = None;
    let mut consider = |e: Edits| {
        if best.is_none_or(|b| likelihood_key(&e) < likelihood_key(&b)) {
            best = Some(e);
        }
    };
    if let Some(c) = confusions(&r.body, &p.body) {
        consider(Edits {
            confusions: c,
            province,
            ..Edits::default()
        });
    }
    if r.body.len() + 1 == p.body.len() {
        for i in 0..p.body.len() {
            let mut d = p.body.clone();
            d.remove(i);
            if let Some(c) = confusions(&r.body, &d) {
                consider(Edits {
                    confusions: c,
                    dropped: 1,
                    province,
                    ..Edits::default()
                });
            }
        }
    }
    if r.province.is_none() {
        if let Some(b) = bottom_of(&p) {
            if let Some(c) = confusions(&r.body, b) {
                consider(Edits {
                    confusions: c,
                    line_lost: true,
                    ..Edits::default()
                });
            }
        }
    }
    best
}

/// Orders edits from the likeliest: the log-likelihood at a middling confidence, negated
/// (only to pick the likeliest reading of one candidate; the decision uses the read's own
/// confidence).
fn likelihood_key(e: &Edits) -> i64 {
    (-read_log_likelihood(e, 0.8) * 1000.0).round() as i64
}

/// The scoring rule's constants (quy tắc chấm điểm), documented in
/// `docs/border/plates-and-events.md`. They are assumptions to be re-tuned on the gates'
/// camera data, like the misread rates.
pub mod rule {
    /// Weight of one confusable character (8↔B, 0↔D, 1↔I, 5↔S, 2↔Z, 6↔G).
    pub const W_CONFUSION: f64 = 0.5;
    /// Weight of one character lost.
    pub const W_DROPPED: f64 = 0.2;
    /// Weight of a read of the bottom line alone.
    pub const W_LINE_LOST: f64 = 0.2;
    /// Weight of the Chinese province character lost or misread (a fifth of Chinese reads).
    pub const W_PROVINCE: f64 = 1.0;
    /// The chance of an error the camera's confidence `q` leaves: `1 − q`, kept within
    /// these bounds (a camera is never certain; a read below 50% is not evidence of much).
    pub const ERROR_MIN: f64 = 0.02;
    pub const ERROR_MAX: f64 = 0.5;
    /// A trip is *near* in time when the read is at most this before the start of its booked
    /// slot (or its expected arrival, without a booking)…
    pub const NEAR_BEFORE_US: i64 = 2 * 3_600_000_000;
    /// … and at most this after the slot's latest arrival (or the expected arrival).
    pub const NEAR_AFTER_US: i64 = 4 * 3_600_000_000;
    /// Within a day either side of the window: *soon*, weight [`T_SOON`]; beyond: [`T_FAR`].
    pub const SOON_US: i64 = 24 * 3_600_000_000;
    pub const T_SOON: f64 = 0.05;
    pub const T_FAR: f64 = 0.001;
    /// The best candidate must beat the runner-up by this much (natural log: ×20).
    pub const MARGIN: f64 = 3.0;
    /// … and score at least this (natural log: a chance of 1 in 1,100).
    pub const FLOOR: f64 = -7.0;
    /// A read below this confidence is not attached by the score: an officer looks…
    pub const MIN_CONFIDENCE: f64 = 0.5;
    /// … unless it has a single candidate, a trip already at the gate ([`super::Timing::Here`]),
    /// and is at least this sure (the lowest confidence the simulated misreads have, so the
    /// rule is checked on all it attaches). Digits read alone never count as at the gate
    /// ([`super::expected_for_read`]), and still face the unseen truck.
    pub const MIN_CONFIDENCE_HERE: f64 = 0.4;
    /// The chance that digits read alone are of a truck with no trip rather than of a given
    /// candidate (the share of undeclared trucks assumed by the simulation, 2%): the unseen
    /// truck explains the digits as its bottom line with no other misread, and the best
    /// candidate must beat it by [`MARGIN`] too.
    pub const UNSEEN: f64 = 0.02;
}

/// The chance of a misread the camera's confidence leaves.
fn error_chance(confidence: f64) -> f64 {
    (1.0 - confidence).clamp(rule::ERROR_MIN, rule::ERROR_MAX)
}

/// Log-likelihood of the read given the candidate plate and the camera's confidence: each
/// edit costs its weight times the chance of an error (độ tin cậy càng cao, lỗi càng đắt).
pub fn read_log_likelihood(e: &Edits, confidence: f64) -> f64 {
    let eps = error_chance(confidence).ln();
    let mut l = 0.0;
    l += e.confusions as f64 * (rule::W_CONFUSION.ln() + eps);
    l += e.dropped as f64 * (rule::W_DROPPED.ln() + eps);
    if e.line_lost {
        l += rule::W_LINE_LOST.ln() + eps;
    }
    if e.province {
        l += rule::W_PROVINCE.ln() + eps;
    }
    l
}

/// When a candidate trip is expected at the gate (thời điểm dự kiến của chuyến).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Already at the gate (staging or later): any read after it arrived is near.
    Present { since: i64 },
    /// Booked slot `[from, to]` (start of the hour, latest arrival) or the expected arrival
    /// (`from == to`), Unix microseconds.
    Window { from: i64, to: i64 },
    /// Not known (a trip tracked without its times): never attached by the score, but a
    /// full competitor.
    Unknown,
}

/// When to weigh a candidate trip by for this read: [`Expected::Present`] once it is at the gate
/// (`present`: since when), its booked window or expected arrival (`window`) otherwise — and
/// always the window for digits read alone ([`unseen_edits`]): presence keeps a trip near until
/// it crosses, and meanwhile a truck with no trip may show the same digits (`09716`,
/// `275.73`, `57781` attached to a trip in the yard: seeds 4, 5 and 8).
pub fn expected_for_read(text: &str, present: Option<i64>, window: Expected) -> Expected {
    match present {
        Some(since) if unseen_edits(text).is_none() => Expected::Present { since },
        _ => window,
    }
}

/// How near in time a candidate trip is to a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    /// At the gate already (ở cửa khẩu): the trip was read there before (or up to
    /// [`rule::NEAR_BEFORE_US`] after this read). Weighed as near, and the only timing under
    /// which a read of low confidence with no other candidate is attached ([`decide`]).
    Here,
    Near,
    Soon,
    Far,
    Unknown,
}

impl Timing {
    pub fn of(expected: Expected, at: i64) -> Timing {
        match expected {
            Expected::Present { since } => {
                if at >= since.saturating_sub(rule::NEAR_BEFORE_US) {
                    Timing::Here
                } else {
                    Timing::Soon
                }
            }
            Expected::Window { from, to } => {
                if at >= from.saturating_sub(rule::NEAR_BEFORE_US)
                    && at <= to.saturating_add(rule::NEAR_AFTER_US)
                {
                    Timing::Near
                } else if at >= from.saturating_sub(rule::SOON_US)
                    && at <= to.saturating_add(rule::SOON_US)
                {
                    Timing::Soon
                } else {
                    Timing::Far
                }
            }
            Expected::Unknown => Timing::Unknown,
        }
    }

    /// Log of the time weight: here or near 1 (or not known: not held against it), soon 0.05,
    /// far 0.001.
    pub fn log_weight(self) -> f64 {
        match self {
            Timing::Here | Timing::Near | Timing::Unknown => 0.0,
            Timing::Soon => rule::T_SOON.ln(),
            Timing::Far => rule::T_FAR.ln(),
        }
    }
}

/// One candidate scored.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored<T> {
    pub key: T,
    pub edits: Edits,
    pub timing: Timing,
    /// [`read_log_likelihood`] + [`Timing::log_weight`].
    pub score: f64,
}

/// Score one candidate: `None` when the misread model cannot turn its plate into the read.
pub fn score<T>(
    key: T,
    text: &str,
    canonical: &str,
    confidence: f64,
    timing: Timing,
) -> Option<Scored<T>> {
    let e = edits(text, canonical)?;
    Some(Scored {
        key,
        edits: e,
        timing,
        score: read_log_likelihood(&e, confidence) + timing.log_weight(),
    })
}

/// The rule's decision on an ambiguous read, with its reason (for the review queue and the
/// event).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision<T> {
    /// The candidate to attach, when the rule settles it.
    pub attach: Option<T>,
    /// Why: `settled`, or why not: `low_confidence`, `not_near`, `below_floor`, `margin`
    /// (the runner-up too close), `unseen` (a truck with no trip too close), `unscored`,
    /// `no_candidate`.
    pub why: &'static str,
    pub best: Option<T>,
    pub best_score: Option<f64>,
    pub runner_up: Option<T>,
    pub runner_up_score: Option<f64>,
    /// The score of a truck with no trip whose bottom line the read is ([`unseen_edits`]),
    /// for digits read alone.
    pub unseen_score: Option<f64>,
}

/// Decide among scored candidates: the best (highest score; ties by key, so deterministic)
/// is attached only when the read's confidence is at least [`rule::MIN_CONFIDENCE`] (or
/// [`rule::MIN_CONFIDENCE_HERE`] when it is the only candidate and already at the gate), the
/// best is near in time (or at the gate), its score is at least [`rule::FLOOR`] and it beats the runner-up by
/// [`rule::MARGIN`]. Otherwise nothing is attached (the read stays in review).
pub fn decide<T: Clone + Ord>(mut cands: Vec<Scored<T>>, confidence: f64) -> Decision<T> {
    cands.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.key.cmp(&b.key)));
    let best = cands.first();
    let second = cands.get(1);
    let mut d = Decision {
        attach: None,
        why: "no_candidate",
        best: best.map(|b| b.key.clone()),
        best_score: best.map(|b| b.score),
        runner_up: second.map(|b| b.key.clone()),
        runner_up_score: second.map(|b| b.score),
        unseen_score: None,
    };
    let Some(b) = best else {
        return d;
    };
    // Sure enough (a NaN confidence never is): at least the floor, or the lower one for a
    // read whose only candidate is at the gate.
    let sure = confidence >= rule::MIN_CONFIDENCE
        || (second.is_none()
            && b.timing == Timing::Here
            && confidence >= rule::MIN_CONFIDENCE_HERE);
    d.why = if !sure {
        "low_confidence"
    } else if !matches!(b.timing, Timing::Here | Timing::Near) {
        "not_near"
    } else if b.score < rule::FLOOR {
        "below_floor"
    } else if second.is_some_and(|s| b.score - s.score < rule::MARGIN) {
        "margin"
    } else {
        d.attach = Some(b.key.clone());
        "settled"
    };
    d
}

/// Score every candidate (key, canonical plate, timing) of an ambiguous read and decide
/// ([`decide`]). A candidate the misread model cannot explain is not dropped: the read stays
/// in review (`unscored`), so no competitor is ever lost.
pub fn settle<'a, T: Clone + Ord>(
    text: &str,
    confidence: f64,
    cands: impl IntoIterator<Item = (T, &'a str, Timing)>,
) -> Decision<T> {
    let mut scored = Vec::new();
    let mut unscored = false;
    for (key, canonical, timing) in cands {
        match score(key, text, canonical, confidence, timing) {
            Some(s) => scored.push(s),
            None => unscored = true,
        }
    }
    let mut d = decide(scored, confidence);
    if unscored {
        d.attach = None;
        d.why = "unscored";
    }
    if let Some(u) = unseen_edits(text) {
        let u = read_log_likelihood(&u, confidence) + rule::UNSEEN.ln();
        d.unseen_score = Some(u);
        if d.attach.is_some() && d.best_score.is_some_and(|b| b - u < rule::MARGIN) {
            d.attach = None;
            d.why = "unseen";
        }
    }
    d
}

/// How a truck with no trip would most likely give this read, when the read is digits alone
/// (four or five, no province character): as its bottom line, read right. A candidate that
/// needs more misreads than that (`05032` as 桂D·65032 with its province and a `6` lost and
/// `D` read `0`, while it is the bottom line of any 12C-050.32 — seed 8) is not attached.
pub fn unseen_edits(text: &str) -> Option<Edits> {
    let r = parts(text);
    (r.province.is_none()
        && (4..=5).contains(&r.body.len())
        && r.body.bytes().all(|c| c.is_ascii_digit()))
    .then_some(Edits {
        line_lost: true,
        ..Edits::default()
    })
}

impl<K: Clone + Eq> PlateIndex<K> {
    /// The candidate plates the scoring rule weighs for a read the matcher found ambiguous
    /// (every tier's candidates: none is left out). `None` for any other outcome: a read that
    /// matched nothing is a plate no active trip has, read right or misread, and may be a truck
    /// with no declaration — it is never settled by the score (see docs/border).
    pub fn to_score(&self, text: &str, outcome: &MatchOutcome<K>) -> Option<Vec<String>> {
        let r = parts(text);
        if r.body.len() < 4 || looks_like_top_line(&r.body) {
            return None;
        }
        if !matches!(outcome, MatchOutcome::Ambiguous(_)) {
            return None;
        }
        let c = self.candidates(text);
        (!c.is_empty()).then_some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn index(plates: &[&str]) -> PlateIndex<usize> {
        let mut ix = PlateIndex::new();
        for (i, p) in plates.iter().enumerate() {
            let c = plate::parse(p).unwrap().canonical;
            ix.insert(&c, i);
        }
        ix
    }

    #[test]
    fn exact_reads_any_way() {
        let ix = index(&["12C-123.45", "桂A·12345", "29LD-012.34"]);
        assert_eq!(ix.len(), 3);
        assert_eq!(ix.match_read("12C12345"), MatchOutcome::Exact(0));
        assert_eq!(ix.match_read("12c 123 45"), MatchOutcome::Exact(0));
        assert_eq!(ix.match_read("12C\n123.45"), MatchOutcome::Exact(0));
        assert_eq!(ix.match_read("桂A12345"), MatchOutcome::Exact(1));
        assert_eq!(ix.match_read("桂A.12345"), MatchOutcome::Exact(1));
        assert_eq!(ix.match_read("29LD01234"), MatchOutcome::Exact(2));
    }

    #[test]
    fn confusable_characters() {
        let ix = index(&[
            "12C-108.52",
            "98B-066.10",
            "51D-012.34",
            "14LD-505.55",
            "桂A·B8Z20",
        ]);
        assert_eq!(ix.match_read("I2C-1O8.52"), MatchOutcome::Fuzzy(0));
        assert_eq!(ix.match_read("12C-1D8.SZ"), MatchOutcome::Fuzzy(0));
        assert_eq!(ix.match_read("L2C1Q8S2"), MatchOutcome::Fuzzy(0));
        assert_eq!(ix.match_read("988-D66.I0"), MatchOutcome::Fuzzy(1));
        assert_eq!(ix.match_read("5I0-0I2.34"), MatchOutcome::Fuzzy(2));
        assert_eq!(ix.match_read("51O01234"), MatchOutcome::Fuzzy(2));
        assert_eq!(ix.match_read("I4L0-S0S.SS"), MatchOutcome::Fuzzy(3));
        assert_eq!(ix.match_read("桂A 8B2Z0"), MatchOutcome::Fuzzy(4));
    }

    #[test]
    fn chinese_province_missing_or_misread() {
        let ix = index(&["桂A·12345", "桂B·77777", "云B·77777"]);
        assert_eq!(ix.match_read("A12345"), MatchOutcome::Fuzzy(0));
        assert_eq!(ix.match_read("柱A12345"), MatchOutcome::Fuzzy(0));
        assert_eq!(ix.match_read("A·I2345"), MatchOutcome::Fuzzy(0));
        // Two plates differ only by province: without it, an officer decides.
        // (Candidates come in the order of their plates: 云 before 桂.)
        assert_eq!(ix.match_read("B77777"), MatchOutcome::Ambiguous(vec![2, 1]));
        assert_eq!(
            ix.match_read("?B77777"),
            MatchOutcome::Ambiguous(vec![2, 1])
        );
        // With it, the right one is suggested, but the province may itself be misread (seed
        // 1): the scoring rule weighs both.
        assert_eq!(ix.match_read("云B7777"), MatchOutcome::Ambiguous(vec![2]));
        assert_eq!(ix.match_read("B7777"), MatchOutcome::Ambiguous(vec![2, 1]));
        assert_eq!(ix.match_read("云8·77777"), MatchOutcome::Ambiguous(vec![2]));
        assert_eq!(
            ix.to_score("云8·77777", &MatchOutcome::Ambiguous(vec![2])),
            Some(vec!["云B·77777".to_string(), "桂B·77777".to_string()])
        );
    }

    #[test]
    fn an_exact_read_that_may_be_a_longer_plate_with_a_lost_digit_is_ambiguous() {
        let ix = index(&["12C-1234", "12C-123.45", "12C-5678"]);
        assert_eq!(
            ix.match_read("12C-1234"),
            MatchOutcome::Ambiguous(vec![1, 0])
        );
        assert_eq!(ix.match_read("12C-5678"), MatchOutcome::Exact(2));
        // The same through the folded tier: a Chinese trailer and a truck that lost a character.
        let cn = index(&["桂F·1183挂", "桂F·1183C"]);
        assert_eq!(
            cn.match_read("桂F 1183"),
            MatchOutcome::Ambiguous(vec![1, 0])
        );
        assert_eq!(ix.match_read("12C-123.45"), MatchOutcome::Exact(1));
    }

    #[test]
    fn one_line_of_a_two_line_plate() {
        let ix = index(&["12C-123.45", "14C-555.01", "29H-555.01", "桂A·67890"]);
        // A bottom line alone goes to an officer with its one candidate suggested: an
        // undeclared truck may carry the same digits.
        assert_eq!(ix.match_read("123.45"), MatchOutcome::Ambiguous(vec![0]));
        assert_eq!(ix.match_read("I23 4S"), MatchOutcome::Ambiguous(vec![0]));
        assert_eq!(ix.match_read("67890"), MatchOutcome::Ambiguous(vec![3]));
        // Two active plates share the bottom line: never pick one.
        assert_eq!(ix.match_read("555.01"), MatchOutcome::Ambiguous(vec![1, 2]));
        // The top line alone is not enough.
        assert_eq!(ix.match_read("12C"), MatchOutcome::NoMatch);
        assert_eq!(ix.match_read("桂A"), MatchOutcome::NoMatch);
    }

    #[test]
    fn dropped_character() {
        let ix = index(&["12C-123.45", "桂A·67890"]);
        // A lost character is scored (an undeclared truck that lost one may read the same).
        assert_eq!(ix.match_read("1C12345"), MatchOutcome::Ambiguous(vec![0]));
        assert_eq!(ix.match_read("桂6789O"), MatchOutcome::Ambiguous(vec![1]));
        // A dropped digit makes a valid 4-digit plate: it may be an undeclared truck.
        assert_eq!(ix.match_read("12C-1234"), MatchOutcome::NoMatch);
        // So does a dropped series letter read with confusions (12L-2345), or a 4-digit plate
        // misread (99C-8077 read 99C-B077 is not 99C-860.77 with the 6 lost) — unless the
        // read shows the dot of a five-digit serial (`the_dot_of_a_five_digit_serial`).
        assert_eq!(ix.match_read("12-12345"), MatchOutcome::NoMatch);
        let ix2 = index(&["99C-860.77"]);
        assert_eq!(ix2.match_read("99C-B077"), MatchOutcome::NoMatch);
        assert_eq!(
            ix2.match_read("9C-860.77"),
            MatchOutcome::Ambiguous(vec![0])
        );
    }

    #[test]
    fn the_trailer_mark() {
        // A read showing 挂 is of a trailer: a truck plate that would fit with a lost
        // character is not it (an undeclared trailer 桂F·9053挂 with its province lost).
        let ix = index(&["桂F·90530", "桂A·7788挂"]);
        assert_eq!(ix.match_read("F·9053挂"), MatchOutcome::NoMatch);
        assert_eq!(ix.candidates("F9053挂"), Vec::<String>::new());
        // The same with the province character misread as a look-alike.
        assert_eq!(ix.match_read("柱F·9053挂"), MatchOutcome::NoMatch);
        // Without the mark, the lost character stays possible (scored).
        assert_eq!(ix.match_read("桂F·9053"), MatchOutcome::Ambiguous(vec![0]));
        // A trailer read with its mark still matches its plate, province lost or not.
        assert_eq!(ix.match_read("A7788挂"), MatchOutcome::Fuzzy(1));
        assert_eq!(ix.match_read("桂A 7788挂"), MatchOutcome::Exact(1));
        // … and a truck plate that lost a character does not shadow it.
        let both = index(&["桂F·1183挂", "桂F·1183C"]);
        assert_eq!(both.match_read("桂F·1183挂"), MatchOutcome::Exact(0));
    }

    #[test]
    fn a_chinese_plate_that_lost_its_province_is_not_a_lost_character() {
        // `S98548` is a whole Chinese body (letter + five): perhaps an undeclared Chinese
        // truck; not 59B-5483 with a character lost and two misread.
        let ix = index(&["59B-5483", "桂A·12345"]);
        assert_eq!(ix.match_read("S98548"), MatchOutcome::NoMatch);
        assert_eq!(ix.no_match_cause("S98548"), "whole_plate");
        // A declared Chinese truck that lost its province still matches (folded tier).
        assert_eq!(ix.match_read("A12345"), MatchOutcome::Fuzzy(1));
    }

    #[test]
    fn why_nothing_matched() {
        let ix = index(&["12C-123.45"]);
        assert_eq!(ix.no_match_cause("29LD"), "top_line");
        assert_eq!(ix.no_match_cause("12C"), "too_short");
        assert_eq!(ix.no_match_cause("12C-1234"), "whole_plate");
        assert_eq!(ix.no_match_cause("99C-B077"), "whole_plate");
        assert_eq!(ix.no_match_cause("桂A·99999"), "whole_plate");
        assert_eq!(ix.no_match_cause("9C-999.99"), "no_candidate");
    }

    #[test]
    fn the_dot_of_a_five_digit_serial() {
        // Four-digit serials are printed without a dot: a read with the dot of `123.45` that
        // has four digits lost one, and is not the four-digit plate it spells. Its only
        // candidate is offered to the scoring rule (an undeclared five-digit plate that lost a
        // digit reads the same), never attached unscored.
        let ix = index(&["12C-123.45", "29LD-012.34"]);
        assert_eq!(ix.match_read("12C-123.5"), MatchOutcome::Ambiguous(vec![0]));
        assert_eq!(ix.match_read("12C-12.45"), MatchOutcome::Ambiguous(vec![0]));
        assert_eq!(ix.match_read("12c 123.4"), MatchOutcome::Ambiguous(vec![0]));
        assert_eq!(ix.match_read("12-123.45"), MatchOutcome::Ambiguous(vec![0]));
        // A two-letter series that lost a letter is still a whole plate (29L-012.34).
        assert_eq!(ix.match_read("29L-012.34"), MatchOutcome::NoMatch);
        // Without the dot it may be the four-digit plate of a truck with no declaration.
        assert_eq!(ix.match_read("12C-1235"), MatchOutcome::NoMatch);
        assert_eq!(ix.match_read("12C 123 5"), MatchOutcome::NoMatch);
        // A whole five-digit plate with the dot is not one that lost a digit.
        assert_eq!(ix.match_read("12C-123.47"), MatchOutcome::NoMatch);
        assert_eq!(ix.match_read("12C-123.45"), MatchOutcome::Exact(0));
        // A dot that is not the serial's says nothing.
        assert_eq!(serial_dot("12.C1235"), None);
        assert_eq!(serial_dot("桂A.12345"), None);
        assert_eq!(serial_dot("12C-123.45"), Some(2));
        assert_eq!(serial_dot("12C-123.5"), Some(1));
        // An active four-digit plate read exactly still attaches, dot or not.
        let four = index(&["12C-1235"]);
        assert_eq!(four.match_read("12C-1235"), MatchOutcome::Exact(0));
        // The scoring rule settles the lost digit when the trip is near and the read sure
        // enough, as for any ambiguous read.
        let o = ix.match_read("12C-123.5");
        let plates = ix.to_score("12C-123.5", &o).unwrap();
        let d = settle(
            "12C-123.5",
            0.8,
            plates.iter().map(|p| (0, p.as_str(), Timing::Near)),
        );
        assert_eq!((d.attach, d.why), (Some(0), "settled"));
    }

    #[test]
    fn never_the_wrong_truck() {
        let ix = index(&["12C-123.45", "12C-123.46", "12LD-1234", "12L-012.34"]);
        assert_eq!(ix.match_read("12C-123.47"), MatchOutcome::NoMatch);
        assert_eq!(ix.match_read("29C-123.45"), MatchOutcome::NoMatch);
        // The dot shows a lost digit: both plates it may be go to an officer.
        assert_eq!(
            ix.match_read("12C-123.4"),
            MatchOutcome::Ambiguous(vec![0, 1])
        );
        assert_eq!(ix.match_read("12C-1234"), MatchOutcome::NoMatch);
        // 12LD-1234 and 12L-012.34 fold alike: a read of either as printed may be the other
        // with one confusable character, so the scoring rule weighs it (the read's own
        // letters win only with a sure camera).
        assert_eq!(fold("12LD1234"), fold("12L01234"));
        assert_eq!(
            ix.match_read("12LD1234"),
            MatchOutcome::Ambiguous(vec![3, 2])
        );
        assert_eq!(
            ix.match_read("12L01234"),
            MatchOutcome::Ambiguous(vec![3, 2])
        );
        let sure = settle(
            "12LD1234",
            0.98,
            [
                (2, "12LD-1234", Timing::Near),
                (3, "12L-012.34", Timing::Near),
            ],
        );
        assert_eq!(sure.attach, Some(2));
        // Fewer differing characters is not taken as better: misread once or twice.
        assert_eq!(
            ix.match_read("I2L01234"),
            MatchOutcome::Ambiguous(vec![3, 2])
        );
        assert_eq!(
            ix.match_read("I2LD1234"),
            MatchOutcome::Ambiguous(vec![3, 2])
        );
        let ix2 = index(&["桂F·92872", "桂F·9287Z", "98C-9510"]);
        assert_eq!(
            ix2.match_read("桂F·92B72"),
            MatchOutcome::Ambiguous(vec![0, 1])
        );
        // A top line (95LD) is not taken for the bottom line 9510.
        assert_eq!(ix2.match_read("95LD"), MatchOutcome::NoMatch);
        assert_eq!(ix2.match_read("9510"), MatchOutcome::Ambiguous(vec![2]));
        assert_eq!(
            ix.match_read("12LQ1234"),
            MatchOutcome::Ambiguous(vec![3, 2])
        );
        assert_eq!(ix.match_read(""), MatchOutcome::NoMatch);
        assert_eq!(ix.match_read("???"), MatchOutcome::NoMatch);
        assert_eq!(ix.match_read("12"), MatchOutcome::NoMatch);
    }

    /// The wrong and undeclared attachments found by `misread::tests::seeds` on seeds 1–10
    /// (10,000 plates, 100,000 reads; 2026-11-30), each with its exact read.
    #[test]
    fn seeds_1_to_10_regressions() {
        let near_both = |text: &str, conf: f64, plates: &[(usize, &str)]| {
            settle(
                text,
                conf,
                plates.iter().map(|(k, p)| (*k, *p, Timing::Near)),
            )
        };
        // Seed 1, declared: 桂F·80576 read `粤F.80576` (province misread), spelling exactly
        // the active 粤F·80576 — it was attached to it. Now scored: an unsure read stays.
        let ix = index(&["桂F·80576", "粤F·80576"]);
        assert_eq!(
            ix.match_read("粤F.80576"),
            MatchOutcome::Ambiguous(vec![0, 1])
        );
        let d = near_both("粤F.80576", 0.7, &[(0, "桂F·80576"), (1, "粤F·80576")]);
        assert_eq!((d.attach, d.why), (None, "margin"));
        // A misread province with a confusable character too: the province alone does not
        // narrow to one plate.
        assert_eq!(ix.match_read("粤F.8O576"), MatchOutcome::Ambiguous(vec![1]));
        assert_eq!(
            ix.to_score("粤F.8O576", &MatchOutcome::Ambiguous(vec![1])),
            Some(vec!["桂F·80576".to_string(), "粤F·80576".to_string()])
        );

        // Seed 1, undeclared: 桂F·59877 (no trip) read `桂F.5877` (a 9 lost), which is also
        // the active 桂F·58771 with its 1 lost — it was attached directly. Now scored: the
        // time and the confidence must speak for the trip.
        let ix = index(&["桂F·58771"]);
        assert_eq!(ix.match_read("桂F.5877"), MatchOutcome::Ambiguous(vec![0]));
        let d = settle("桂F.5877", 0.8, [(0, "桂F·58771", Timing::Soon)]);
        assert_eq!((d.attach, d.why), (None, "not_near"));

        // Seed 8, undeclared: 12C-050.32 (no trip) read `05032` (its bottom line), matched to
        // 桂D·65032 (province lost, 6 lost, D read 0). Any 12C-050.32 explains the digits with
        // one misread; the candidate needs three.
        let ix = index(&["桂D·65032"]);
        assert_eq!(ix.match_read("05032"), MatchOutcome::Ambiguous(vec![0]));
        let d = near_both("05032", 0.6, &[(0, "桂D·65032")]);
        assert_eq!((d.attach, d.why), (None, "unseen"));
        assert!(d.unseen_score.is_some());
        // The bottom line read right, with the trip near, still attaches.
        let ix = index(&["12C-050.32"]);
        assert_eq!(ix.match_read("050.32"), MatchOutcome::Ambiguous(vec![0]));
        let d = near_both("050.32", 0.8, &[(0, "12C-050.32")]);
        assert_eq!((d.attach, d.why), (Some(0), "settled"));

        // Seed 10, declared: 69R-053.16 read `053.16` (its bottom line), which folds as the
        // body of the trailer 粤Q·5316挂 without its province (Q read 0) — it was attached to
        // the trailer. Now both compete.
        let ix = index(&["粤Q·5316挂", "69R-053.16"]);
        assert_eq!(ix.match_read("053.16"), MatchOutcome::Ambiguous(vec![1, 0]));
        let d = near_both("053.16", 0.7, &[(0, "粤Q·5316挂"), (1, "69R-053.16")]);
        assert_ne!(d.attach, Some(0));
        // Digits alone that fold as one plate's body are never attached unscored.
        let ix = index(&["粤Q·5316挂"]);
        assert_eq!(ix.match_read("05316"), MatchOutcome::Ambiguous(vec![0]));

        // Seeds 4, 5, 8, undeclared: the bottom lines `09716` (粤U·09716), `275.73`
        // (12E-275.73), `57781` (赣W·57781) read while a declared truck with the same digits
        // (51C-097.16, 65V-275.73, 12C-577.81) was already at the gate, far from its booked
        // hour: attached because present. Digits alone are weighed by the window.
        for (read, plate) in [
            ("09716", "51C-097.16"),
            ("275.73", "65V-275.73"),
            ("57781", "12C-577.81"),
        ] {
            let ix = index(&[plate]);
            assert_eq!(
                ix.match_read(read),
                MatchOutcome::Ambiguous(vec![0]),
                "{read}"
            );
            let window = near(0);
            let e = expected_for_read(read, Some(10 * H), window);
            assert_eq!(e, window, "{read}");
            let d = settle(read, 0.8, [(0, plate, Timing::of(e, 12 * H))]);
            assert_eq!((d.attach, d.why), (None, "not_near"), "{read}");
            // Within its window it attaches, as before.
            let d = settle(read, 0.8, [(0, plate, Timing::of(e, H))]);
            assert_eq!(d.attach, Some(0), "{read}");
        }
        // A whole plate read while present still counts the presence.
        assert_eq!(
            expected_for_read("51C-097.16", Some(10 * H), near(0)),
            Expected::Present { since: 10 * H }
        );
    }

    #[test]
    fn remove_and_reinsert() {
        let mut ix = index(&["12C-123.45", "14C-123.45"]);
        assert_eq!(ix.match_read("123.45"), MatchOutcome::Ambiguous(vec![0, 1]));
        ix.remove("14C-123.45");
        assert_eq!(ix.len(), 1);
        assert_eq!(ix.match_read("123.45"), MatchOutcome::Ambiguous(vec![0]));
        assert_eq!(ix.match_read("14C-123.45"), MatchOutcome::NoMatch);
        ix.remove("12C-123.45");
        assert!(ix.is_empty());
        assert_eq!(ix.match_read("12C12345"), MatchOutcome::NoMatch);
        assert!(ix.folded.is_empty() && ix.dropped.is_empty() && ix.bottom.is_empty());
        ix.insert("12C-123.45", 7);
        ix.insert("12C-123.45", 8);
        assert_eq!(ix.len(), 1);
        assert_eq!(ix.match_read("12C12345"), MatchOutcome::Exact(8));
        assert_eq!(ix.get("12C-123.45"), Some(&8));
        assert_eq!(ix.candidates("I2C12345"), vec!["12C-123.45".to_string()]);
    }

    fn near(e: i64) -> Expected {
        Expected::Window { from: e, to: e }
    }

    const H: i64 = 3_600_000_000;

    #[test]
    fn edits_follow_the_misread_model() {
        let e = edits("I2C-1O8.52", "12C-108.52").unwrap();
        assert_eq!(
            (e.confusions, e.dropped, e.line_lost, e.province),
            (2, 0, false, false)
        );
        let e = edits("12C-1234", "12C-123.45").unwrap();
        assert_eq!((e.confusions, e.dropped), (0, 1));
        assert_eq!(edits("123.45", "12C-123.45").unwrap().count(), 1);
        assert!(edits("123.45", "12C-123.45").unwrap().line_lost);
        let e = edits("A77777", "桂A·77777").unwrap();
        assert!(e.province && e.count() == 1);
        assert_eq!(edits("云A77777", "桂A·77777").unwrap().count(), 1);
        assert_eq!(edits("桂A77777", "桂A·77777").unwrap().count(), 0);
        // Not a misread of it at all.
        assert_eq!(edits("12C-123.47", "12C-123.45"), None);
        assert_eq!(edits("29C-123.45", "12C-1234"), None);
    }

    #[test]
    fn confidence_makes_edits_costlier() {
        let one = Edits {
            confusions: 1,
            ..Edits::default()
        };
        assert_eq!(read_log_likelihood(&Edits::default(), 0.99), 0.0);
        assert!(read_log_likelihood(&one, 0.98) < read_log_likelihood(&one, 0.7));
        // Bounded: beyond the bounds, no difference.
        assert_eq!(
            read_log_likelihood(&one, 0.999),
            read_log_likelihood(&one, 1.0)
        );
        assert_eq!(
            read_log_likelihood(&one, 0.1),
            read_log_likelihood(&one, 0.3)
        );
    }

    #[test]
    fn timing_of_a_read() {
        assert_eq!(Timing::of(near(10 * H), 9 * H), Timing::Near);
        assert_eq!(Timing::of(near(10 * H), 14 * H), Timing::Near);
        assert_eq!(Timing::of(near(10 * H), 7 * H), Timing::Soon);
        assert_eq!(Timing::of(near(10 * H), 15 * H), Timing::Soon);
        assert_eq!(Timing::of(near(100 * H), 10 * H), Timing::Far);
        // A booked slot: near from 2 h before its start to 4 h after the latest arrival.
        let slot = Expected::Window {
            from: 10 * H,
            to: 11 * H + H / 2,
        };
        assert_eq!(Timing::of(slot, 15 * H), Timing::Near);
        assert_eq!(
            Timing::of(Expected::Present { since: 5 * H }, 50 * H),
            Timing::Here
        );
        assert_eq!(Timing::of(Expected::Unknown, 5 * H), Timing::Unknown);
    }

    #[test]
    fn the_expected_hour_settles_a_tie() {
        let read = "A77777";
        let both = |at: i64| {
            settle(
                read,
                0.9,
                [
                    ("a", "桂A·77777", Timing::of(near(0), at)),
                    ("b", "云A·77777", Timing::of(near(30 * H), at)),
                ],
            )
        };
        let d = both(H);
        assert_eq!((d.attach, d.why), (Some("a"), "settled"));
        assert_eq!(d.runner_up, Some("b"));
        let d = both(30 * H);
        assert_eq!((d.attach, d.why), (Some("b"), "settled"));
        // Neither near.
        let d = both(14 * H);
        assert_eq!((d.attach, d.why), (None, "not_near"));
        // Both near: equally likely.
        let d = settle(
            read,
            0.9,
            [
                ("a", "桂A·77777", Timing::Near),
                ("b", "云A·77777", Timing::Near),
            ],
        );
        assert_eq!((d.attach, d.why), (None, "margin"));
        assert_eq!(d.best_score, d.runner_up_score);
    }

    #[test]
    fn the_confidence_settles_a_lost_digit() {
        let cands = [
            ("short", "12C-1234", Timing::Near),
            ("long", "12C-123.45", Timing::Near),
        ];
        let d = settle("12C-1234", 0.98, cands);
        assert_eq!((d.attach, d.why), (Some("short"), "settled"));
        let d = settle("12C-1234", 0.6, cands);
        assert_eq!((d.attach, d.why), (None, "margin"));
        // Order of the candidates does not matter.
        let mut rev = cands;
        rev.reverse();
        assert_eq!(settle("12C-1234", 0.98, rev).attach, Some("short"));
    }

    #[test]
    fn unsure_or_unexplained_reads_stay_in_review() {
        let one = [("t", "12C-123.45", Timing::Near)];
        // Below the confidence floor, NaN included.
        assert_eq!(settle("123.45", 0.45, one).why, "low_confidence");
        assert_eq!(settle("123.45", f64::NAN, one).why, "low_confidence");
        assert_eq!(settle("123.45", 0.8, one).attach, Some("t"));
        // A read of low confidence whose only candidate is at the gate is attached (a lost
        // digit: not digits alone, which never count as at the gate)…
        let here = [("t", "12C-123.45", Timing::Here)];
        assert_eq!(settle("12C-12.45", 0.45, here).attach, Some("t"));
        // … not when only near by its window, nor with a second candidate, nor when the camera
        // is barely sure, nor NaN.
        let near = [("t", "12C-123.45", Timing::Near)];
        assert_eq!(settle("12C-12.45", 0.45, near).why, "low_confidence");
        let two = [
            ("t", "12C-123.45", Timing::Here),
            ("u", "12C-124.45", Timing::Soon),
        ];
        assert_eq!(settle("12C-12.45", 0.45, two).why, "low_confidence");
        assert_eq!(settle("12C-12.45", 0.25, here).why, "low_confidence");
        assert_eq!(settle("12C-12.45", f64::NAN, here).why, "low_confidence");
        // A candidate the model cannot explain: nothing attached.
        let d = settle(
            "12C-123.45",
            0.9,
            [
                ("t", "12C-123.45", Timing::Near),
                ("u", "99K-999.99", Timing::Near),
            ],
        );
        assert_eq!((d.attach, d.why), (None, "unscored"));
        let d: Decision<&str> = settle("12C", 0.9, []);
        assert_eq!((d.attach, d.why), (None, "no_candidate"));
        // A trip whose time is not known competes but is never attached.
        let d = settle("123.45", 0.9, [("t", "12C-123.45", Timing::Unknown)]);
        assert_eq!((d.attach, d.why), (None, "not_near"));
    }

    #[test]
    fn to_score_looks_at_reads_the_matcher_left() {
        let ix = index(&["12C-123.45", "14C-555.01", "29H-555.01"]);
        let o = ix.match_read("12C-1234");
        assert_eq!(o, MatchOutcome::NoMatch);
        // A valid plate no trip has: maybe a truck with no declaration, never scored.
        assert_eq!(ix.to_score("12C-1234", &o), None);
        let o = ix.match_read("555.01");
        assert_eq!(
            ix.to_score("555.01", &o),
            Some(vec!["14C-555.01".to_string(), "29H-555.01".to_string()])
        );
        assert_eq!(ix.to_score("12C", &ix.match_read("12C")), None);
        assert_eq!(ix.to_score("12C12345", &ix.match_read("12C12345")), None);
        assert_eq!(ix.to_score("30K99999", &ix.match_read("30K99999")), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Arbitrary text never panics and never matches through a tier it should not.
        #[test]
        fn arbitrary_reads_never_panic(s in any::<String>()) {
            let ix = index(&["12C-123.45", "桂A·12345"]);
            let _ = ix.match_read(&s);
            let _ = ix.candidates(&s);
        }
    }
}
