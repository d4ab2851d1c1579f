//! Simulated plates and camera misreads (biển số và lỗi đọc mô phỏng), to measure the matcher
//! ([`crate::matching`]) before real camera data exists. Deterministic: a seeded `StdRng`.
//!
//! ASSUMPTIONS, not measurements (to be replaced by figures from the cameras at the gates):
//! - traffic: 80% Vietnamese plates, 20% Chinese; Vietnamese plates weighted towards Lạng Sơn
//!   (12) and the northern provinces on the route to Hà Nội, series `C` (trucks) most common,
//!   15% trailers (`R`), 15% old 4-digit plates; Chinese plates mostly Guangxi (桂, letter F =
//!   Chongzuo, which includes Pingxiang across the border), 5% new-energy, 10% trailers (挂);
//! - misreads ([`VN_RATES`], [`CN_RATES`]): most reads clean, then confusable characters, the
//!   Chinese province character lost or misread, one line of a two-line plate, one character
//!   dropped; every read is also re-typed (separators lost, line breaks, lower case);
//! - 2% of the reads are of trucks with no active trip (undeclared), which must not be
//!   attached to anyone;
//! - the camera's confidence ([`read_confidence`]): 0.85–1.0 for a clean read, 0.4–0.9 for a
//!   misread (as the traffic simulator); the reads' times ([`evaluate`]): the active trips are
//!   expected uniformly over three days, 90% of the trucks are read between 1 h before and 3 h
//!   after their expected arrival, 10% 3–12 h late; undeclared trucks at any time.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::matching::{self, Expected, MatchOutcome, PlateIndex, Timing};
use crate::plate::{CN_PROVINCES, CN_TRAILER, VN_PROVINCE_CODES};

/// How a read differs from the plate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MisreadKind {
    /// Read right (separators and line breaks may still be lost).
    Clean,
    /// One character read as a confusable one (0/D/O/Q, 8/B, 1/I/L, 5/S, 2/Z, 6/G).
    Confusable1,
    /// Two characters read as confusable ones.
    Confusable2,
    /// The Chinese province character not read.
    ProvinceMissing,
    /// The Chinese province character read as another character.
    ProvinceMisread,
    /// Only the bottom line of a two-line plate read.
    BottomLine,
    /// Only the top line of a two-line plate read (must go to review).
    TopLine,
    /// One character not read.
    Dropped,
}

impl MisreadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MisreadKind::Clean => "clean",
            MisreadKind::Confusable1 => "confusable_1",
            MisreadKind::Confusable2 => "confusable_2",
            MisreadKind::ProvinceMissing => "province_missing",
            MisreadKind::ProvinceMisread => "province_misread",
            MisreadKind::BottomLine => "bottom_line",
            MisreadKind::TopLine => "top_line",
            MisreadKind::Dropped => "dropped",
        }
    }
}

/// Assumed misread rates for Vietnamese plates (per read).
pub const VN_RATES: &[(MisreadKind, f64)] = &[
    (MisreadKind::Clean, 0.868),
    (MisreadKind::Confusable1, 0.08),
    (MisreadKind::Confusable2, 0.02),
    (MisreadKind::BottomLine, 0.01),
    (MisreadKind::TopLine, 0.002),
    (MisreadKind::Dropped, 0.01),
];

/// Assumed misread rates for Chinese plates (per read): the province character is the hardest.
pub const CN_RATES: &[(MisreadKind, f64)] = &[
    (MisreadKind::Clean, 0.648),
    (MisreadKind::Confusable1, 0.08),
    (MisreadKind::Confusable2, 0.02),
    (MisreadKind::ProvinceMissing, 0.18),
    (MisreadKind::ProvinceMisread, 0.05),
    (MisreadKind::BottomLine, 0.01),
    (MisreadKind::TopLine, 0.002),
    (MisreadKind::Dropped, 0.01),
];

/// Share of reads of trucks with no active trip.
pub const UNDECLARED_RATE: f64 = 0.02;

/// The assumed camera confidence of a read of this kind: 0.85–1.0 when read right, 0.4–0.9
/// when misread (an assumption, like the rates).
pub fn read_confidence(kind: MisreadKind, rng: &mut StdRng) -> f64 {
    if kind == MisreadKind::Clean {
        rng.gen_range(0.85..1.0)
    } else {
        rng.gen_range(0.4..0.9)
    }
}

const HOUR_US: i64 = 3_600_000_000;
/// The span over which the simulated active trips are expected.
const HORIZON_US: i64 = 72 * HOUR_US;

fn pick<T: Copy>(rng: &mut StdRng, table: &[(T, f64)]) -> T {
    let total: f64 = table.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen::<f64>() * total;
    for (v, w) in table {
        if x < *w {
            return *v;
        }
        x -= w;
    }
    table[table.len() - 1].0
}

const LETTERS_CN: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &[u8] = b"0123456789";

fn digit(rng: &mut StdRng) -> char {
    DIGITS[rng.gen_range(0..DIGITS.len())] as char
}

fn digits(rng: &mut StdRng, n: usize) -> String {
    (0..n).map(|_| digit(rng)).collect()
}

/// A Vietnamese truck, tractor or trailer plate (canonical).
pub fn vn_plate(rng: &mut StdRng) -> String {
    let code: u8 = match rng.gen_range(0..100) {
        0..=34 => 12,
        35..=39 => 29,
        40..=44 => 30,
        45..=49 => 98,
        50..=53 => 99,
        54..=57 => 14,
        58..=60 => 15,
        61..=62 => 16,
        63..=65 => 20,
        66..=67 => 11,
        68..=69 => 51,
        _ => VN_PROVINCE_CODES[rng.gen_range(0..VN_PROVINCE_CODES.len())].0,
    };
    let series = match rng.gen_range(0..100) {
        0..=49 => "C".to_string(),
        50..=59 => "H".to_string(),
        60..=64 => "LD".to_string(),
        65..=79 => "R".to_string(),
        _ => {
            const OTHER: &[u8] = b"ABDEFGKLMNPSTUVXYZ";
            (OTHER[rng.gen_range(0..OTHER.len())] as char).to_string()
        }
    };
    if rng.gen_bool(0.85) {
        let d = digits(rng, 5);
        format!("{code:02}{series}-{}.{}", &d[..3], &d[3..])
    } else {
        format!("{code:02}{series}-{}", digits(rng, 4))
    }
}

/// A Chinese truck, tractor or trailer plate (canonical).
pub fn cn_plate(rng: &mut StdRng) -> String {
    let province = match rng.gen_range(0..100) {
        0..=69 => '桂',
        70..=79 => '粤',
        _ => CN_PROVINCES[rng.gen_range(0..CN_PROVINCES.len())].0,
    };
    let letter = if province == '桂' && rng.gen_bool(0.5) {
        'F'
    } else {
        LETTERS_CN[rng.gen_range(0..LETTERS_CN.len())] as char
    };
    let r = rng.gen_range(0..100);
    let serial = if r < 5 {
        if rng.gen_bool(0.5) {
            let second = if rng.gen_bool(0.5) {
                digit(rng)
            } else {
                LETTERS_CN[rng.gen_range(0..LETTERS_CN.len())] as char
            };
            format!(
                "{}{second}{}",
                if rng.gen_bool(0.7) { 'D' } else { 'F' },
                digits(rng, 4)
            )
        } else {
            format!(
                "{}{}",
                digits(rng, 5),
                if rng.gen_bool(0.7) { 'D' } else { 'F' }
            )
        }
    } else if r < 15 {
        format!("{}{CN_TRAILER}", digits(rng, 4))
    } else {
        let mut s: Vec<char> = digits(rng, 5).chars().collect();
        if rng.gen_bool(0.2) {
            let i = rng.gen_range(0..5);
            s[i] = LETTERS_CN[rng.gen_range(0..LETTERS_CN.len())] as char;
        }
        s.into_iter().collect()
    };
    format!("{province}{letter}·{serial}")
}

/// A plate of the border traffic: 80% Vietnamese, 20% Chinese.
pub fn random_plate(rng: &mut StdRng) -> String {
    if rng.gen_bool(0.8) {
        vn_plate(rng)
    } else {
        cn_plate(rng)
    }
}

/// `n` distinct plates.
pub fn plates(n: usize, rng: &mut StdRng) -> Vec<String> {
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let p = random_plate(rng);
        if seen.insert(p.clone()) {
            out.push(p);
        }
    }
    out
}

fn confusables(c: char) -> &'static [char] {
    match c {
        '0' => &['D', 'O', 'Q'],
        'D' => &['0', 'O'],
        '8' => &['B'],
        'B' => &['8'],
        '1' => &['I', 'L'],
        'L' => &['1', 'I'],
        '5' => &['S'],
        'S' => &['5'],
        '2' => &['Z'],
        'Z' => &['2'],
        '6' => &['G'],
        'G' => &['6'],
        _ => &[],
    }
}

/// Characters a camera may read instead of a province character: look-alikes and other
/// provinces.
const PROVINCE_MISREADS: &[char] = &['挂', '柱', '佳', '桔', '杜', '粤', '贵', '云', '津', '?'];

/// Re-type a plate as a camera might report it: separators kept, lost or replaced, sometimes a
/// line break between the lines, sometimes lower case.
fn retype(text: &str, rng: &mut StdRng) -> String {
    let style = rng.gen_range(0..6);
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        match (style, c) {
            (0, _) => out.push(c),
            (1, '-' | '.' | '·') => {}
            (2, '-' | '·') => out.push('\n'),
            (2, '.') => {}
            (3, '-' | '.' | '·') => out.push(' '),
            (4, '·') => out.push('.'),
            (5, c) => out.extend(c.to_lowercase()),
            _ => out.push(c),
        }
    }
    out
}

/// A camera's read of `canonical` with a misread of `kind` (re-typed at random).
pub fn misread(canonical: &str, kind: MisreadKind, rng: &mut StdRng) -> String {
    let mut chars: Vec<char> = canonical.chars().collect();
    let is_cn = chars.first().is_some_and(|c| !c.is_ascii());
    let sep = chars
        .iter()
        .position(|c| *c == '-' || *c == '·')
        .unwrap_or(chars.len());
    match kind {
        MisreadKind::Clean => {}
        MisreadKind::Confusable1 | MisreadKind::Confusable2 => {
            let n = if kind == MisreadKind::Confusable1 {
                1
            } else {
                2
            };
            let mut positions: Vec<usize> = (0..chars.len())
                .filter(|i| !confusables(chars[*i]).is_empty())
                .collect();
            for _ in 0..n {
                if positions.is_empty() {
                    break;
                }
                let p = positions.swap_remove(rng.gen_range(0..positions.len()));
                let alts = confusables(chars[p]);
                chars[p] = alts[rng.gen_range(0..alts.len())];
            }
        }
        MisreadKind::ProvinceMissing => {
            if is_cn {
                chars.remove(0);
            }
        }
        MisreadKind::ProvinceMisread => {
            if is_cn {
                let others: Vec<char> = PROVINCE_MISREADS
                    .iter()
                    .copied()
                    .filter(|c| *c != chars[0])
                    .collect();
                chars[0] = others[rng.gen_range(0..others.len())];
            }
        }
        MisreadKind::BottomLine => {
            chars = chars[(sep + 1).min(chars.len())..].to_vec();
            chars.retain(|c| *c != CN_TRAILER);
        }
        MisreadKind::TopLine => chars.truncate(sep),
        MisreadKind::Dropped => {
            let alnum: Vec<usize> = (0..chars.len())
                .filter(|i| chars[*i].is_ascii_alphanumeric())
                .collect();
            if !alnum.is_empty() {
                chars.remove(alnum[rng.gen_range(0..alnum.len())]);
            }
        }
    }
    let s: String = chars.into_iter().collect();
    retype(&s, rng)
}

/// Results for one kind of read.
#[derive(Debug, Clone, Serialize)]
pub struct KindReport {
    pub kind: &'static str,
    pub reads: usize,
    pub right: usize,
    pub wrong: usize,
    pub review: usize,
    /// Why those in review stayed there (as [`AccuracyReport::review_why`]).
    pub review_why: BTreeMap<&'static str, usize>,
    /// Reads of this kind of trucks with no active trip.
    pub undeclared_reads: usize,
    /// … attached to an active plate anyway.
    pub undeclared_attached: usize,
}

/// How the matcher did on simulated reads ([`evaluate`]).
#[derive(Debug, Clone, Serialize)]
pub struct AccuracyReport {
    pub seed: u64,
    /// Active plates in the index.
    pub active: usize,
    /// All reads, declared and undeclared trucks.
    pub reads: usize,
    /// Reads of trucks with an active trip.
    pub declared_reads: usize,
    /// … matched to the right plate.
    pub right: usize,
    /// … matched to another plate (must be 0).
    pub wrong: usize,
    /// … sent to the officers' review queue (ambiguous or no match).
    pub review: usize,
    /// … of the `right`, those the matcher alone found ambiguous and the scoring rule
    /// ([`crate::matching::settle`]) settled (the rest the matcher attached by itself).
    pub settled: usize,
    /// … of the `wrong`, those the scoring rule attached.
    pub settled_wrong: usize,
    /// Why the declared trucks' reads in review stayed there: `no_match`, or the scoring
    /// rule's reason for an ambiguous read (`margin`, `not_near`, `low_confidence`…).
    pub review_why: BTreeMap<&'static str, usize>,
    /// The same reads by cause, finer: a read that matched nothing by why
    /// (`no_match: top_line`, `no_match: whole_plate` — a plate no trip has, perhaps an
    /// undeclared truck —, `no_match: no_candidate`, `no_match: too_short`), an ambiguous one
    /// by the scoring rule's reason and its number of candidate plates.
    pub review_cause: BTreeMap<String, usize>,
    /// The same reads by number of candidate plates the scoring rule weighed (0: none).
    pub review_candidates: BTreeMap<usize, usize>,
    /// How the reads met the index.
    pub timeline: Timeline,
    /// Plates in the index when a read came, on average (all of them on the static timeline).
    pub active_mean: f64,
    /// Trips that left the index after their last read.
    pub crossed: usize,
    /// `right / declared_reads`.
    pub right_rate: f64,
    /// Reads of trucks with no active trip.
    pub undeclared_reads: usize,
    /// … attached to an active plate anyway (a wrong truck).
    pub undeclared_attached: usize,
    /// … of which by the scoring rule.
    pub undeclared_settled: usize,
    pub by_kind: Vec<KindReport>,
    /// Up to 20 reads attached to a wrong truck: (`declared` or `undeclared`, plate, kind,
    /// read, plate attached to).
    pub wrong_examples: Vec<(&'static str, String, &'static str, String, String)>,
    /// Time to build the index of `active` plates, milliseconds.
    pub index_build_ms: f64,
    /// Time per read (match only), nanoseconds.
    pub read_ns_mean: f64,
    pub read_ns_p50: u64,
    pub read_ns_p99: u64,
    pub read_ns_max: u64,
}

const KINDS: [MisreadKind; 8] = [
    MisreadKind::Clean,
    MisreadKind::Confusable1,
    MisreadKind::Confusable2,
    MisreadKind::ProvinceMissing,
    MisreadKind::ProvinceMisread,
    MisreadKind::BottomLine,
    MisreadKind::TopLine,
    MisreadKind::Dropped,
];

/// One generated camera read.
struct GenRead {
    /// The active trip (index) it is of, `None` for an undeclared truck.
    truth: Option<usize>,
    plate: String,
    kind: MisreadKind,
    text: String,
    at: i64,
    confidence: f64,
}

/// How [`evaluate_with`] runs the reads against the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timeline {
    /// Reads in time order, as the gate sees them: a trip attached once is at the gate
    /// (present, as the ingestor marks it), and a trip leaves the index after its last read
    /// (it crossed: the crossing lane's camera, QR reader and officers record it and the
    /// ingestor drops crossed trips).
    Gate,
    /// Every trip a candidate for every read, whenever it is expected, and never present (the
    /// evaluation before 2026-11-30: trips that crossed days ago still compete).
    Static,
}

/// [`evaluate_with`] on the gate's timeline ([`Timeline::Gate`]).
pub fn evaluate(active: usize, reads: usize, seed: u64) -> AccuracyReport {
    evaluate_with(active, reads, seed, Timeline::Gate)
}

/// Build an index of `active` simulated plates and match `reads` simulated camera reads
/// against it (seeded, deterministic apart from the timings). Reads the matcher finds
/// ambiguous go through the scoring rule ([`crate::matching::settle`]) with the read's
/// confidence and the candidates' expected arrivals (or the time they were first read, once
/// present), as the ingestor does. The reads' times and confidences come from a second
/// generator, so the plates and misreads of a seed are those of the matcher without the rule;
/// the two timelines see the same reads.
pub fn evaluate_with(active: usize, reads: usize, seed: u64, timeline: Timeline) -> AccuracyReport {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut trng = StdRng::seed_from_u64(seed ^ 0x7469_6d65);
    // The undeclared trucks are drawn with the active ones so that they are distinct from them.
    let pool = plates(active + active / 10 + 10, &mut rng);
    let (active_plates, undeclared) = pool.split_at(active);
    let t0 = Instant::now();
    let mut ix: PlateIndex<usize> = PlateIndex::new();
    for (i, p) in active_plates.iter().enumerate() {
        ix.insert(p, i);
    }
    let index_build_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let expected: Vec<i64> = (0..active).map(|_| trng.gen_range(0..HORIZON_US)).collect();
    let (mut settled, mut settled_wrong, mut undeclared_settled) = (0, 0, 0);
    let mut review_why: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut review_cause: BTreeMap<String, usize> = BTreeMap::new();
    let mut review_candidates: BTreeMap<usize, usize> = BTreeMap::new();

    let mut by_kind: Vec<KindReport> = KINDS
        .iter()
        .map(|k| KindReport {
            kind: k.as_str(),
            reads: 0,
            right: 0,
            wrong: 0,
            review: 0,
            review_why: BTreeMap::new(),
            undeclared_reads: 0,
            undeclared_attached: 0,
        })
        .collect();
    // The reads, drawn in the same order as before the timeline existed (same plates,
    // misreads, times and confidences for a seed).
    let mut gen: Vec<GenRead> = Vec::with_capacity(reads);
    for _ in 0..reads {
        let is_undeclared =
            active == 0 || (!undeclared.is_empty() && rng.gen_bool(UNDECLARED_RATE));
        let (truth, plate) = if is_undeclared {
            (None, &undeclared[rng.gen_range(0..undeclared.len().max(1))])
        } else {
            let i = rng.gen_range(0..active);
            (Some(i), &active_plates[i])
        };
        let rates = if plate.is_ascii() { VN_RATES } else { CN_RATES };
        let kind = pick(&mut rng, rates);
        let text = misread(plate, kind, &mut rng);
        let at = match truth {
            Some(i) if trng.gen_bool(0.9) => expected[i] + trng.gen_range(-HOUR_US..3 * HOUR_US),
            Some(i) => expected[i] + trng.gen_range(3 * HOUR_US..12 * HOUR_US),
            None => trng.gen_range(0..HORIZON_US),
        };
        let confidence = read_confidence(kind, &mut trng);
        gen.push(GenRead {
            truth,
            plate: plate.clone(),
            kind,
            text,
            at,
            confidence,
        });
    }
    // Reads left per trip: a trip leaves the index after its last one (it crossed).
    let mut left: Vec<u32> = vec![0; active];
    for g in &gen {
        if let Some(i) = g.truth {
            left[i] += 1;
        }
    }
    let mut order: Vec<usize> = (0..gen.len()).collect();
    if timeline == Timeline::Gate {
        order.sort_by_key(|&k| (gen[k].at, k));
    }
    // When each trip was first attached (present at the gate from then on).
    let mut present: Vec<Option<i64>> = vec![None; active];
    let mut index_sizes: u64 = 0;
    let mut crossed = 0;
    let mut times: Vec<u64> = Vec::with_capacity(reads);
    let (mut right, mut wrong, mut review) = (0, 0, 0);
    let (mut undeclared_reads, mut undeclared_attached) = (0, 0);
    let mut wrong_examples = Vec::new();
    for k in order {
        let GenRead {
            truth,
            plate,
            kind,
            text,
            at,
            confidence,
        } = &gen[k];
        let (truth, kind, at, confidence) = (*truth, *kind, *at, *confidence);
        index_sizes += ix.len() as u64;
        let t = Instant::now();
        let mut outcome = ix.match_read(text);
        let mut by_score = false;
        let mut why = "no_match";
        let mut n_cands = 0;
        if let Some(plates) = ix.to_score(text, &outcome) {
            n_cands = plates.len();
            let d = matching::settle(
                text,
                confidence,
                plates.iter().filter_map(|p| {
                    let j = *ix.get(p)?;
                    let e = matching::expected_for_read(
                        text,
                        present[j],
                        Expected::Window {
                            from: expected[j],
                            to: expected[j],
                        },
                    );
                    Some((j, p.as_str(), Timing::of(e, at)))
                }),
            );
            why = d.why;
            if let Some(j) = d.attach {
                outcome = MatchOutcome::Fuzzy(j);
                by_score = true;
            }
        }
        times.push(t.elapsed().as_nanos() as u64);
        if timeline == Timeline::Gate {
            if let Some(j) = outcome.key() {
                present[*j].get_or_insert(at);
            }
        }
        let ki = KINDS.iter().position(|x| *x == kind).unwrap_or(0);
        match truth {
            None => {
                undeclared_reads += 1;
                by_kind[ki].undeclared_reads += 1;
                if let Some(j) = outcome.key() {
                    if wrong_examples.len() < 20 {
                        wrong_examples.push((
                            "undeclared",
                            plate.clone(),
                            kind.as_str(),
                            text.clone(),
                            active_plates[*j].clone(),
                        ));
                    }
                    undeclared_attached += 1;
                    undeclared_settled += usize::from(by_score);
                    by_kind[ki].undeclared_attached += 1;
                }
            }
            Some(i) => {
                by_kind[ki].reads += 1;
                match &outcome {
                    MatchOutcome::Exact(j) | MatchOutcome::Fuzzy(j) if *j == i => {
                        right += 1;
                        settled += usize::from(by_score);
                        by_kind[ki].right += 1;
                    }
                    MatchOutcome::Exact(j) | MatchOutcome::Fuzzy(j) => {
                        if wrong_examples.len() < 20 {
                            wrong_examples.push((
                                "declared",
                                plate.clone(),
                                kind.as_str(),
                                text.clone(),
                                active_plates[*j].clone(),
                            ));
                        }
                        wrong += 1;
                        settled_wrong += usize::from(by_score);
                        by_kind[ki].wrong += 1;
                    }
                    MatchOutcome::Ambiguous(_) | MatchOutcome::NoMatch => {
                        *review_why.entry(why).or_default() += 1;
                        *by_kind[ki].review_why.entry(why).or_default() += 1;
                        let cause = if n_cands > 0 {
                            format!("{why} ({} candidates)", n_cands.min(3))
                                .replace("(3 candidates)", "(3+ candidates)")
                                .replace("(1 candidates)", "(1 candidate)")
                        } else if matches!(outcome, MatchOutcome::NoMatch) {
                            format!("no_match: {}", ix.no_match_cause(text))
                        } else {
                            "ambiguous, not scored".to_string()
                        };
                        *review_cause.entry(cause).or_default() += 1;
                        *review_candidates.entry(n_cands).or_default() += 1;
                        review += 1;
                        by_kind[ki].review += 1;
                    }
                }
                if timeline == Timeline::Gate {
                    left[i] -= 1;
                    if left[i] == 0 {
                        ix.remove(&active_plates[i]);
                        crossed += 1;
                    }
                }
            }
        }
    }
    times.sort_unstable();
    let q = |p: f64| -> u64 {
        if times.is_empty() {
            0
        } else {
            times[((times.len() - 1) as f64 * p).round() as usize]
        }
    };
    let declared_reads = reads - undeclared_reads;
    AccuracyReport {
        seed,
        active,
        reads,
        declared_reads,
        right,
        wrong,
        review,
        settled,
        settled_wrong,
        review_why,
        review_cause,
        review_candidates,
        timeline,
        active_mean: if reads == 0 {
            0.0
        } else {
            index_sizes as f64 / reads as f64
        },
        crossed,
        right_rate: if declared_reads == 0 {
            0.0
        } else {
            right as f64 / declared_reads as f64
        },
        undeclared_reads,
        undeclared_attached,
        undeclared_settled,
        by_kind,
        wrong_examples,
        index_build_ms,
        read_ns_mean: if times.is_empty() {
            0.0
        } else {
            times.iter().sum::<u64>() as f64 / times.len() as f64
        },
        read_ns_p50: q(0.5),
        read_ns_p99: q(0.99),
        read_ns_max: times.last().copied().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plate;

    #[test]
    fn generated_plates_are_valid_and_canonical() {
        let mut rng = StdRng::seed_from_u64(1);
        let ps = plates(5000, &mut rng);
        let cn = ps.iter().filter(|p| !p.is_ascii()).count();
        assert!((700..1300).contains(&cn), "{cn} Chinese plates of 5000");
        for p in &ps {
            let parsed = plate::parse(p).unwrap_or_else(|e| panic!("{p}: {}", e.en));
            assert_eq!(&parsed.canonical, p);
        }
        // Deterministic.
        assert_eq!(
            plates(50, &mut StdRng::seed_from_u64(9)),
            plates(50, &mut StdRng::seed_from_u64(9))
        );
    }

    #[test]
    fn misreads_are_of_their_kind() {
        let mut rng = StdRng::seed_from_u64(2);
        let r = misread("12C-108.52", MisreadKind::Confusable1, &mut rng);
        let folded = crate::matching::fold(&r.replace(['-', '.', ' ', '\n'], "").to_uppercase());
        assert_eq!(folded, crate::matching::fold("12C10852"), "{r}");
        assert_ne!(
            r.replace(['-', '.', ' ', '\n'], "").to_uppercase(),
            "12C10852"
        );
        let r = misread("桂A·12345", MisreadKind::ProvinceMissing, &mut rng);
        assert!(!r.contains('桂') && r.contains("12345"), "{r}");
        let r = misread("12C-123.45", MisreadKind::BottomLine, &mut rng);
        assert!(!r.to_uppercase().contains('C') && r.contains("45"), "{r}");
        let r = misread("12C-123.45", MisreadKind::TopLine, &mut rng);
        assert_eq!(r.to_uppercase(), "12C");
        let r = misread("12C-123.45", MisreadKind::Dropped, &mut rng);
        assert_eq!(
            r.chars().filter(char::is_ascii_alphanumeric).count(),
            7,
            "{r}"
        );
    }

    /// The threshold the matcher is held to: on a fixed seed, 10,000 active plates and 20,000
    /// reads, no read goes to a wrong truck (declared or not) and at least 98.5% of the
    /// declared trucks' reads go to the right one without an officer (96% before the scoring
    /// rule; the aim is 99%: top lines alone, unsure reads and late trucks go to an
    /// officer — never the wrong truck comes first; see docs/border).
    #[test]
    fn matcher_accuracy_on_simulated_reads() {
        let r = evaluate(10_000, 20_000, 20261129);
        eprintln!("{}", serde_json::to_string_pretty(&r).unwrap());
        assert_eq!(r.declared_reads + r.undeclared_reads, 20_000);
        assert_eq!(r.right + r.wrong + r.review, r.declared_reads);
        assert_eq!(r.wrong, 0, "reads attached to the wrong truck");
        assert_eq!(
            r.undeclared_attached, 0,
            "undeclared trucks attached to a trip"
        );
        // With the scoring rule (confidence, expected hour or present at the gate), the dot of
        // a five-digit serial and the gate's timeline: 98.94% on this seed and size after the
        // rules that cleared seeds 1–10 of wrong and undeclared attachments; 99.01% since a
        // read of low confidence whose one candidate is at the gate is attached (99.13% on
        // the benchmark's 100,000 reads; the aim is 99%, never the wrong truck first).
        assert!(r.right_rate >= 0.99, "right rate {}", r.right_rate);
        assert!(r.crossed > 0 && r.active_mean < 10_000.0);
        assert_eq!(r.settled_wrong + r.undeclared_settled, 0);
        assert!(r.settled > 0, "the scoring rule settled nothing");
        // Every kind of misread occurs and the top line alone never attaches.
        for k in &r.by_kind {
            assert!(k.reads > 0, "{}", k.kind);
        }
        let top = r.by_kind.iter().find(|k| k.kind == "top_line").unwrap();
        assert_eq!(top.right + top.wrong, 0);
    }

    /// Seeds 1–10 and the benchmark's at the benchmark's size (10,000 plates, 100,000 reads),
    /// every wrong or undeclared attachment printed (not a threshold):
    /// `cargo test -p tinhso-border --lib misread::tests::seeds -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn seeds() {
        for seed in (1..=10).chain([20261129]) {
            let r = evaluate(10_000, 100_000, seed);
            eprintln!(
                "seed {seed}: right {:.2}% wrong {} review {} ({:.2}%) undeclared attached {} of {}",
                r.right_rate * 100.0,
                r.wrong,
                r.review,
                r.review as f64 * 100.0 / r.declared_reads as f64,
                r.undeclared_attached,
                r.undeclared_reads
            );
            for w in &r.wrong_examples {
                eprintln!("  wrong: {w:?}");
            }
        }
    }

    /// Other seeds and sizes, to see the spread (not a threshold):
    /// `cargo test -p tinhso-border --lib misread::tests::spread -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn spread() {
        for (active, seed) in [
            (1_000, 1),
            (10_000, 2),
            (10_000, 3),
            (10_000, 4),
            (20_000, 5),
        ] {
            let r = evaluate(active, 50_000, seed);
            let attach: Vec<(&str, usize, usize)> = r
                .by_kind
                .iter()
                .map(|k| (k.kind, k.undeclared_attached, k.undeclared_reads))
                .collect();
            eprintln!(
                "active {active} seed {seed}: right {:.4} wrong {} review {} undeclared attached {}/{} {:?} read p50 {} ns p99 {} ns",
                r.right_rate, r.wrong, r.review, r.undeclared_attached, r.undeclared_reads, attach, r.read_ns_p50, r.read_ns_p99
            );
            for w in &r.wrong_examples {
                eprintln!("  wrong: {w:?}");
            }
        }
    }
}
