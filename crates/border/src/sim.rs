//! The border traffic simulator (mô phỏng giao thông cửa khẩu): seeded, deterministic traffic
//! at the road gates of Lạng Sơn, written through the module's own functions on a simulated
//! clock — declarations checked by [`declaration::check_with`] and written in bulk (same rows as
//! [`declaration::declare`]), corrections by [`declaration::correct_at`], slot bookings by
//! [`booking::book_many`], cancellations and reschedules by [`booking::cancel`] and
//! [`booking::reschedule`] (the cancelled trip by [`declaration::cancel_at`]), camera, QR and
//! GPS events by [`Ingestor::ingest_batch`], the agencies' checks by [`checks::start`],
//! [`checks::decide`] (pass, hold, reject) and [`checks::receive_release`] (customs), the fee by
//! [`fee_payment::assess_at`], [`fee_payment::request_payment_at`] and a signed gateway
//! [`fee_payment::callback`], every hour the queue job [`queue::tick`] as `tinhso serve` runs it
//! (no-shows to standby by [`booking::sweep_no_shows`], standby seating, the queue's calls
//! forward by [`queue::call_forward`]), refunds of prepaid fees of trips that never crossed
//! by [`fee_refund::open_due`], [`fee_refund::approve`] and [`fee_refund::mark_paid`], and the
//! crisis capacity cut by [`capacity::set_override`]. A truck leaves the yard only when the platform says it may
//! ([`cleared_to_cross`]); the run ends by checking its invariants ([`check_invariants`]).
//!
//! Volumes: the 2023 average of 1,100–1,350 vehicles a day (we use 1,250 at `scale = 1` and
//! month factor 1.0) split between the gates by their July 2025 shares (Hữu Nghị ~870, Tân
//! Thanh ~583, Chi Ma ~230, Cốc Nam ~76 a day, i.e. 49.5 %, 33.1 %, 13.1 %, 4.3 %); exports
//! follow the harvest calendar [`MONTH_FACTOR`], so a July day is ~1,550–1,650. The Đồng Đăng
//! railway station is not simulated (wagons, not trucks). Every other figure (direction mix,
//! hourly profile, weekday effect, lead times, no-show and misread rates, service times) is an
//! assumption documented next to it and in `NOTES-sim.md`.

use crate::checks::{
    self, CheckDone, CheckOp, CustomsDecision, Decision, DecisionInput, ReleaseInput,
};
use crate::declaration::{self, Checked, DeclarationInput, GoodsLineInput};
use crate::events::{self, EventBody, Ingestor, NewEvent};
use crate::fee_payment::{self, AssessInput};
use crate::fee_refund;
use crate::gates::{self, CheckKind, Direction, Gate};
use crate::misread::{self, MisreadKind};
use crate::registry::DriverInput;
use crate::slots::queue::{self, QueueCall, QueueSnapshot};

mod end_checks;
use crate::slots::{self, booking, capacity, Policy, Queues, HOUR};
use chrono::{Datelike, NaiveDate, Weekday};
pub use end_checks::{
    check_grace, check_invariants, check_prepaid, check_queue_calls, check_refunds, check_standby,
};
use end_checks::{
    check_grace_on, check_invariants_on, check_prepaid_on, check_queue_calls_on, check_refunds_on,
    check_standby_on,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Instant;
use tinhso_identity::authz::{AuthMethod, RoleAssignment};
use tinhso_identity::{Principal, Role, Scope};
use tinhso_kernel::{AppError, FieldErrors, Invalid};
use tinhso_store::audit::Ctx;
use tinhso_store::native::Param;
use tinhso_store::{sql_profile, Db, DbError};

const MINUTE: i64 = 60_000_000;

/// Vehicles a day over the simulated gates at `scale = 1` and month factor 1.0 (the middle of
/// the 2023 average, 1,100–1,350).
pub const BASE_VEHICLES_PER_DAY: f64 = 1_250.0;

/// The simulated gates and their share of the traffic (July 2025 daily averages: 870, 583,
/// 230, 76 of 1,759).
pub const GATE_SHARES: [(&str, f64); 4] = [
    ("HN", 870.0 / 1759.0),
    ("TT", 583.0 / 1759.0),
    ("CM", 230.0 / 1759.0),
    ("CN", 76.0 / 1759.0),
];

/// Direction mix per gate (assumed; export-heavy as the gates' reports describe).
fn direction_mix(gate: &str) -> &'static [(Direction, f64)] {
    use Direction::*;
    match gate {
        "HN" => &[
            (Export, 0.64),
            (Import, 0.28),
            (Transit, 0.03),
            (Transshipment, 0.05),
        ],
        "TT" => &[(Export, 0.70), (Import, 0.18), (Transshipment, 0.12)],
        "CM" => &[(Export, 0.62), (Import, 0.38)],
        _ => &[(Export, 0.70), (Import, 0.30)],
    }
}

/// Mùa vụ: the factor of export arrivals by month (index 0 = January), 1.0 = the yearly
/// average. Jan 1.10: shipments before the Lunar New Year (Chinese Spring Festival demand for
/// dragon fruit, jackfruit, watermelon); Feb 0.75: Tết, gates close some days; May–Aug: lychee
/// (Bắc Giang, late May–July), longan (July–August), the southern durian main crop (May–August)
/// and the dragon fruit main season (April/May–August) — July highest, matching July 2025's
/// ~1,759 a day against the 2023 average; Sep 1.15: Central Highlands durian (Aug–Oct); Dec
/// 1.15: pre-Tết orders and off-season (lit) dragon fruit. Assumed shape, not measured data.
pub const MONTH_FACTOR: [f64; 12] = [
    1.10, 0.75, 0.90, 0.95, 1.10, 1.30, 1.40, 1.30, 1.15, 1.00, 1.00, 1.15,
];

/// The month factor of a local date for exports (imports and other directions: 1.0).
pub fn season_factor(date: NaiveDate, direction: Direction) -> f64 {
    if direction == Direction::Export {
        MONTH_FACTOR[date.month0() as usize]
    } else {
        1.0
    }
}

/// Weekday effect (assumed): more trucks early in the week, fewer at the weekend.
pub fn weekday_factor(date: NaiveDate) -> f64 {
    match date.weekday() {
        Weekday::Mon => 1.08,
        Weekday::Tue => 1.05,
        Weekday::Wed | Weekday::Thu => 1.0,
        Weekday::Fri => 1.02,
        Weekday::Sat => 0.95,
        Weekday::Sun => 0.88,
    }
}

/// Hourly arrival weight (local hour), before prorating by the gate's open minutes: trucks
/// that drove overnight arrive in the morning.
fn hour_weight(hour: i64) -> f64 {
    match hour {
        0..=8 => 1.6,
        9..=11 => 1.3,
        12..=13 => 0.8,
        14..=17 => 1.0,
        _ => 0.6,
    }
}

/// The scenario (kịch bản).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Ordinary traffic with the month's harvest factor.
    Normal,
    /// A fruit glut: perishable exports ×[`FRUIT_PEAK_EXTRA`] on top of the month factor.
    FruitPeak,
    /// December 2021: the Chinese side cuts export and transshipment capacity to
    /// [`CRISIS_CAPACITY_SHARE`] for [`CRISIS_DAYS`] days from day 2; arrivals continue.
    Crisis,
}

/// Perishable exports' extra factor in the `fruit_peak` scenario.
pub const FRUIT_PEAK_EXTRA: f64 = 1.5;
/// Share of the hourly export capacity the Chinese side accepts during the crisis.
pub const CRISIS_CAPACITY_SHARE: f64 = 0.15;
/// How long the crisis cut lasts.
pub const CRISIS_DAYS: i64 = 7;

impl Scenario {
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Normal => "normal",
            Scenario::FruitPeak => "fruit_peak",
            Scenario::Crisis => "crisis",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "normal" => Some(Scenario::Normal),
            "fruit_peak" | "fruit-peak" => Some(Scenario::FruitPeak),
            "crisis" => Some(Scenario::Crisis),
            _ => None,
        }
    }

    /// The default first day: a July 2025 day for normal traffic and the fruit peak (the
    /// month of the published daily averages), mid-December 2025 for the crisis.
    pub fn default_start(self) -> NaiveDate {
        match self {
            Scenario::Crisis => NaiveDate::from_ymd_opt(2025, 12, 15),
            _ => NaiveDate::from_ymd_opt(2025, 7, 1),
        }
        .unwrap_or_default()
    }
}

/// How often what happens besides arriving and crossing (all assumed; the reasons are in
/// `docs/border/simulation-and-forecast.md`). Shares are probabilities per trip unless said.
#[derive(Debug, Clone, Serialize)]
pub struct Rates {
    /// Declarations corrected once before the truck arrives (driver, weight and quantity).
    pub correction: f64,
    /// Bookings cancelled by the enterprise before their hour (the trip is cancelled too).
    pub booking_cancel: f64,
    /// Bookings moved to a later hour (the truck is 1–4 hours late leaving; it arrives later).
    pub reschedule: f64,
    /// Fees paid online by VietQR from the trip page right after the checks; the others at the
    /// gate's fee counter.
    pub fee_online: f64,
    /// Payment attempts the bank declines (the payer pays again).
    pub payment_failure: f64,
    /// Border guard (biên phòng): trucks held over the driver's or vehicle's papers.
    pub guard_hold: f64,
    /// Plant quarantine: consignments held for a laboratory test.
    pub quarantine_hold: f64,
    /// Plant quarantine: consignments refused (pests found): the truck turns back.
    pub quarantine_reject: f64,
    /// Customs: consignments held for physical inspection (red channel), then released.
    pub customs_hold: f64,
    /// Customs: release refused: the truck turns back.
    pub customs_reject: f64,
    /// Booked trucks late past their arrival deadline (slot end + the automatic grace) that
    /// ask for their one extension (gia hạn) before it and arrive within it.
    pub late_grace: f64,
    /// Booked trips whose enterprise pays the fee when booking (nộp phí trước), before the
    /// truck leaves; the gate does not ask again.
    pub prepay: f64,
    /// Prepaid trips whose order then falls through: the booking and the trip are cancelled
    /// after the payment, before the truck leaves, and the fee is refunded (hoàn phí).
    pub prepaid_cancel: f64,
    /// Trucks arriving without a slot whose driver joins the standby queue (hàng chờ dự
    /// phòng) for a free seat.
    pub standby_join: f64,
}

impl Default for Rates {
    fn default() -> Self {
        Self {
            correction: 0.08,
            booking_cancel: 0.03,
            reschedule: 0.08,
            fee_online: 0.6,
            payment_failure: 0.02,
            guard_hold: 0.005,
            quarantine_hold: 0.03,
            quarantine_reject: 0.003,
            customs_hold: 0.07,
            customs_reject: 0.002,
            late_grace: 0.02,
            prepay: 0.25,
            prepaid_cancel: 0.06,
            standby_join: 0.05,
        }
    }
}

impl Rates {
    fn all(&self) -> [(&'static str, f64); 14] {
        [
            ("correction", self.correction),
            ("booking_cancel", self.booking_cancel),
            ("reschedule", self.reschedule),
            ("fee_online", self.fee_online),
            ("payment_failure", self.payment_failure),
            ("guard_hold", self.guard_hold),
            ("quarantine_hold", self.quarantine_hold),
            ("quarantine_reject", self.quarantine_reject),
            ("customs_hold", self.customs_hold),
            ("customs_reject", self.customs_reject),
            ("late_grace", self.late_grace),
            ("prepay", self.prepay),
            ("prepaid_cancel", self.prepaid_cancel),
            ("standby_join", self.standby_join),
        ]
    }
}

/// What to simulate.
#[derive(Debug, Clone, Serialize)]
pub struct Options {
    pub days: u32,
    /// First local day.
    pub start: NaiveDate,
    pub scenario: Scenario,
    pub seed: u64,
    /// Volume multiplier (1.0 = the figures above).
    pub scale: f64,
    /// Share of trips that book a slot (perishables: twice that, at most 0.9).
    pub booking_share: f64,
    /// Only these gates (codes); empty: Hữu Nghị, Tân Thanh, Chi Ma and Cốc Nam.
    pub gates: Vec<String>,
    pub rates: Rates,
    /// Stop the simulated clock here (Unix µs, rounded down to the hour) when it is before the
    /// last day's end: what is declared by then for later stays declared (the demo's history
    /// up to now, with tomorrow's declarations for the forecast).
    pub until: Option<i64>,
}

impl Options {
    pub fn new(scenario: Scenario) -> Self {
        Self {
            days: 30,
            start: scenario.default_start(),
            scenario,
            seed: 20_251_217,
            scale: 1.0,
            booking_share: 0.3,
            gates: Vec::new(),
            rates: Rates::default(),
            until: None,
        }
    }

    /// Field errors (vi + en) for bad options.
    pub fn check(&self) -> Result<(), AppError> {
        let mut errs = FieldErrors::new();
        if !(1..=366).contains(&self.days) {
            errs.push(
                "days",
                Invalid::new(
                    "days",
                    "Số ngày mô phỏng từ 1 đến 366",
                    "Simulate 1 to 366 days",
                ),
            );
        }
        if !(self.scale.is_finite() && self.scale > 0.0 && self.scale <= 10.0) {
            errs.push(
                "scale",
                Invalid::new(
                    "scale",
                    "Hệ số quy mô lớn hơn 0 và không quá 10",
                    "The scale is above 0 and at most 10",
                ),
            );
        }
        if !(0.0..=1.0).contains(&self.booking_share) {
            errs.push(
                "booking_share",
                Invalid::new(
                    "booking_share",
                    "Tỷ lệ đặt chỗ từ 0 đến 1",
                    "The booking share is from 0 to 1",
                ),
            );
        }
        for g in &self.gates {
            if !GATE_SHARES.iter().any(|s| s.0 == g) {
                errs.push(
                    "gates",
                    Invalid::new(
                        "gate",
                        format!("Cửa khẩu {g} không được mô phỏng; chọn HN, TT, CM hoặc CN"),
                        format!("Gate {g} is not simulated; choose HN, TT, CM or CN"),
                    ),
                );
            }
        }
        for (name, r) in self.rates.all() {
            if !(0.0..=1.0).contains(&r) {
                errs.push(
                    &format!("rates.{name}"),
                    Invalid::new(
                        "rate",
                        format!("Tỷ lệ {name} từ 0 đến 1"),
                        format!("The {name} rate is from 0 to 1"),
                    ),
                );
            }
        }
        if slots::hour_start_of(self.start, 0).is_none() {
            errs.push(
                "start",
                Invalid::new("start", "Ngày bắt đầu không hợp lệ", "Invalid start date"),
            );
        }
        errs.into_result()
    }
}

/// One gate's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GateReport {
    pub gate: String,
    pub declared: usize,
    pub arrived: usize,
    pub crossed: usize,
    /// Arrived, not crossed at the end.
    pub waiting_at_end: usize,
    /// Most trucks waiting (arrived, not crossed) at an hour's end, and when.
    pub peak_queue: usize,
    pub peak_queue_at: String,
    /// Yards plus staging areas.
    pub yard_capacity: i64,
    pub mean_dwell_min: f64,
    pub p90_dwell_min: f64,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub scenario: String,
    pub start: String,
    pub days: u32,
    pub seed: u64,
    pub scale: f64,
    pub declared: usize,
    /// Declarations refused by the checks (none expected; a bug if not 0).
    pub declare_refused: usize,
    pub booked: usize,
    /// Bookings refused (hour or day full, held seats): those trucks come without a slot.
    pub booking_refused: usize,
    pub no_shows: usize,
    pub no_shows_swept: usize,
    /// No-show trips the enterprise cancelled after their slot went to standby.
    pub no_shows_cancelled: usize,
    /// Trucks without a slot that joined the standby queue, and standby trucks given a free
    /// seat (by [`booking::seat_standby`]).
    pub standby_joined: usize,
    pub standby_seated: usize,
    pub arrived: usize,
    pub checked: usize,
    pub crossed: usize,
    /// Events sent (including re-sent duplicates and reads of undeclared trucks).
    pub events_sent: usize,
    pub events_attached: usize,
    pub events_review: usize,
    pub events_duplicate: usize,
    pub events_unknown: usize,
    /// Events the simulation delivered late (10–120 min after they happened).
    pub events_late: usize,
    /// Attached to another trip than the one the simulation knows — must be 0.
    pub events_wrong_trip: usize,
    /// Reads of undeclared trucks attached to a trip — must be 0.
    pub undeclared_attached: usize,
    pub capacity_overrides: usize,
    /// Declarations corrected (a new version), and corrections refused (must be 0).
    pub corrected: usize,
    pub correction_refused: usize,
    /// Bookings cancelled (their trips cancelled too).
    pub bookings_cancelled: usize,
    pub trips_cancelled: usize,
    /// Bookings moved to a later hour, and moves refused (the new hour full or closed: the
    /// truck keeps its slot and comes late).
    pub rescheduled: usize,
    pub reschedule_refused: usize,
    /// Late trucks given their one grace extension, and second extensions asked for (each
    /// must be refused).
    pub grace_extended: usize,
    pub grace_second_refused: usize,
    /// Fees assessed, paid (online / at the gate), declined payment attempts, total paid.
    pub fees_assessed: usize,
    pub fees_paid_online: usize,
    pub fees_paid_at_gate: usize,
    pub payments_failed: usize,
    pub fees_paid_vnd: i64,
    /// Fees paid at booking time, before the truck arrived (among those paid online).
    pub fees_prepaid: usize,
    /// Prepaid trips cancelled after their payment (their fee to be refunded).
    pub prepaid_cancelled: usize,
    /// Refunds of prepaid fees (hoàn phí) opened for trips over without crossing, paid back
    /// by the fee officer, and the amount paid back.
    pub refunds_opened: usize,
    pub refunds_paid: usize,
    pub refunded_vnd: i64,
    /// Trucks called forward by the queue job (`border.queue_call`).
    pub queue_calls: usize,
    /// Agency checks: per kind (`border_guard`, `plant_quarantine`, `customs`, …) the number
    /// passed, held and rejected.
    pub checks: BTreeMap<String, CheckCounts>,
    /// Trucks turned back by a refusal.
    pub returned: usize,
    /// Service calls refused that should not be (checks, fees): must be 0.
    pub calls_refused: usize,
    /// The first refusals' messages (for the failure message).
    #[serde(skip)]
    pub refusal_samples: Vec<String>,
    /// Trip-hours a truck the simulation thought ready waited because the platform did not
    /// clear it yet (its checks or fee not recorded): a discrepancy if it stays above 0 long.
    pub barrier_waits: usize,
    /// Invariants checked at the end (see [`check_invariants`]).
    pub invariants: Option<Invariants>,
    /// Most trucks waiting over all gates at an hour's end, and when.
    pub peak_total_queue: usize,
    pub peak_total_queue_at: String,
    pub mean_dwell_min: f64,
    pub p90_dwell_min: f64,
    pub gates: Vec<GateReport>,
    /// Wall time per part, seconds.
    pub secs_declare: f64,
    pub secs_book: f64,
    pub secs_ingest: f64,
    pub secs_checks: f64,
    pub secs_fees: f64,
    pub secs_changes: f64,
    /// The hourly queue job (sweep, standby seats, snapshot, calls) and the no-show
    /// cancellations that follow it (part of `secs_other` before they were split out).
    pub secs_queue: f64,
    /// The invariants checked at the end.
    pub secs_invariants: f64,
    pub secs_other: f64,
    /// Wall time per simulated day (the end-of-run delivery and invariants not included):
    /// flat when nothing grows with the history.
    pub secs_per_day: Vec<f64>,
    /// Per simulated day: the process's CPU time and the wall time of the main parts
    /// ([`DayTimes`]). On a loaded machine the CPU time is the figure to compare.
    pub days_detail: Vec<DayTimes>,
    /// The process's peak resident memory (`VmHWM`, KiB) when the simulated days were over,
    /// and after the end checks; `None` where `/proc/self/status` is not readable. It counts
    /// pages of the SQLite file mapped by each connection (`PRAGMA mmap_size`) once per
    /// connection that read them.
    pub peak_rss_days_kib: Option<u64>,
    pub peak_rss_end_kib: Option<u64>,
    pub elapsed_s: f64,
}

/// A `kB` field of `/proc/self/status` (`VmHWM`, `RssAnon`, `RssFile`, …).
pub fn proc_status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn peak_rss_kib() -> Option<u64> {
    proc_status_kib("VmHWM")
}

/// One simulated day's cost: the process's CPU time (user + system, all threads; `None`
/// where `/proc/self/stat` is not readable) and the wall time of the parts that grow when a
/// statement reads history instead of what is active.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DayTimes {
    pub wall: f64,
    pub cpu: Option<f64>,
    pub checks: f64,
    pub fees: f64,
    pub queue: f64,
    pub ingest: f64,
    pub other: f64,
    /// Resident memory at the day's end, KiB: the process's own (`RssAnon`) and mapped files
    /// (`RssFile`: mostly the database, once per connection that read a page).
    pub rss_anon_kib: Option<u64>,
    pub rss_file_kib: Option<u64>,
}

/// The process's CPU time so far (user + system, every thread), seconds, from
/// `/proc/self/stat` (fields 14 and 15, in the kernel's USER_HZ ticks, 100 a second on
/// Linux); `None` elsewhere.
pub fn process_cpu_secs() -> Option<f64> {
    const USER_HZ: f64 = 100.0;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// One check kind's decisions in a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckCounts {
    pub started: usize,
    pub passed: usize,
    pub held: usize,
    pub rejected: usize,
}

/// What [`check_invariants`] looked at (every figure is a count of things checked, not of
/// violations: a violation fails the run).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Invariants {
    /// Trips the simulation let cross, each with a paid fee before its crossing and every
    /// required check passed before it.
    pub crossed_trips: usize,
    /// Slot hours whose seat counter equals their live bookings and is within capacity.
    pub slots: usize,
    /// Slot days whose counter equals their live bookings.
    pub slot_days: usize,
    /// Trips with bookings, each with at most one active one.
    pub booked_trips: usize,
    /// Trips given a grace extension: one booking with the extension, its deadline moved by
    /// the policy's extension, the truck recorded arriving by it.
    pub grace_trips: usize,
    /// Prepaid trips: paid before the truck was recorded arriving, no payment asked after
    /// that, and (when checked) on to "fee paid" no earlier than the checks cleared.
    pub prepaid_trips: usize,
    /// Standby: no-shows swept (booking `no_show`, trip on standby), trucks that joined, and
    /// the seats given from it (one booking from standby each, in an hour from when it joined).
    pub standby_trips: usize,
    /// Trips the database shows crossed without a paid fee or with a check not passed (by a
    /// camera read attached to the wrong truck, see `events_wrong_trip`): reported, not failed.
    pub db_crossed_uncleared: usize,
    /// Trips over without crossing whose fee was paid: each refunded in full, once, with its
    /// assessment `refunded`; and paid − refunded = the fees of crossed trips + those of trips
    /// still under way ([`check_refunds`]).
    pub refunded_trips: usize,
    /// Queue calls: each called truck was waiting (arrived, not crossed) in its queue at a
    /// position within the policy's call position, the queue in the rule's order, every truck
    /// within that position called once ([`check_calls`], [`check_queue_calls`]).
    pub queue_calls: usize,
    /// Of those, trucks that had crossed but whose crossing reads had not reached the platform
    /// yet (delivered late): reported, not failed.
    pub queue_calls_exit_unseen: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "simulation {} from {} for {} days (seed {}, scale {})",
            self.scenario, self.start, self.days, self.seed, self.scale
        )?;
        writeln!(
            f,
            "trips: declared {} (refused {}), booked {} (refused {}), arrived {}, checked {}, crossed {}, no-shows {} (swept to standby {}, then cancelled {}); standby joined {}, seated {}",
            self.declared,
            self.declare_refused,
            self.booked,
            self.booking_refused,
            self.arrived,
            self.checked,
            self.crossed,
            self.no_shows,
            self.no_shows_swept,
            self.no_shows_cancelled,
            self.standby_joined,
            self.standby_seated
        )?;
        writeln!(
            f,
            "events: sent {}, attached {}, review {}, duplicate {}, unknown {}, late {}; wrong trip {}, undeclared attached {}",
            self.events_sent,
            self.events_attached,
            self.events_review,
            self.events_duplicate,
            self.events_unknown,
            self.events_late,
            self.events_wrong_trip,
            self.undeclared_attached
        )?;
        writeln!(
            f,
            "peak queue, all gates: {} at {}; dwell arrival→crossing mean {:.0} min, p90 {:.0} min",
            self.peak_total_queue,
            self.peak_total_queue_at,
            self.mean_dwell_min,
            self.p90_dwell_min
        )?;
        writeln!(
            f,
            "{:<4} {:>8} {:>8} {:>8} {:>8} {:>10} {:<17} {:>9} {:>10} {:>9}",
            "gate",
            "declared",
            "arrived",
            "crossed",
            "waiting",
            "peak queue",
            "at",
            "yard cap",
            "mean dwell",
            "p90 dwell"
        )?;
        for g in &self.gates {
            writeln!(
                f,
                "{:<4} {:>8} {:>8} {:>8} {:>8} {:>10} {:<17} {:>9} {:>10.0} {:>9.0}",
                g.gate,
                g.declared,
                g.arrived,
                g.crossed,
                g.waiting_at_end,
                g.peak_queue,
                g.peak_queue_at,
                g.yard_capacity,
                g.mean_dwell_min,
                g.p90_dwell_min
            )?;
        }
        writeln!(
            f,
            "changes: corrected {} (refused {}), bookings cancelled {} (trips cancelled {}), rescheduled {} (refused {}), grace extensions {} (second asks refused {})",
            self.corrected,
            self.correction_refused,
            self.bookings_cancelled,
            self.trips_cancelled,
            self.rescheduled,
            self.reschedule_refused,
            self.grace_extended,
            self.grace_second_refused
        )?;
        writeln!(
            f,
            "fees: assessed {}, paid {} (online {}, at the gate {}; prepaid at booking {}), declined attempts {}, paid {} VND; prepaid then cancelled {}, refunds opened {}, paid back {} ({} VND); queue calls {}",
            self.fees_assessed,
            self.fees_paid_online + self.fees_paid_at_gate,
            self.fees_paid_online,
            self.fees_paid_at_gate,
            self.fees_prepaid,
            self.payments_failed,
            self.fees_paid_vnd,
            self.prepaid_cancelled,
            self.refunds_opened,
            self.refunds_paid,
            self.refunded_vnd,
            self.queue_calls
        )?;
        let checks: Vec<String> = self
            .checks
            .iter()
            .map(|(k, c)| {
                format!(
                    "{k} started {} passed {} held {} rejected {}",
                    c.started, c.passed, c.held, c.rejected
                )
            })
            .collect();
        writeln!(
            f,
            "checks: {}; turned back {}; calls refused {}; barrier waits {}",
            checks.join("; "),
            self.returned,
            self.calls_refused,
            self.barrier_waits
        )?;
        if let Some(i) = &self.invariants {
            writeln!(
                f,
                "invariants hold: {} crossed trips paid and cleared before crossing; {} slot hours and {} slot days match their bookings within capacity; {} booked trips with at most one active booking; {} late trucks with one extension, arrived by it; {} prepaid trips not asked again; {} standby trips; {} trips refunded in full; {} queue calls of waiting trucks in order ({} with the crossing not yet seen); db-crossed uncleared {}",
                i.crossed_trips, i.slots, i.slot_days, i.booked_trips, i.grace_trips, i.prepaid_trips, i.standby_trips, i.refunded_trips, i.queue_calls, i.queue_calls_exit_unseen, i.db_crossed_uncleared
            )?;
        }
        write!(
            f,
            "wall time {:.2} s (declare {:.2}, book {:.2}, changes {:.2}, ingest {:.2}, checks {:.2}, fees {:.2}, queue job {:.2}, invariants {:.2}, other {:.2}); capacity overrides {}",
            self.elapsed_s,
            self.secs_declare,
            self.secs_book,
            self.secs_changes,
            self.secs_ingest,
            self.secs_checks,
            self.secs_fees,
            self.secs_queue,
            self.secs_invariants,
            self.secs_other,
            self.capacity_overrides
        )?;
        if !self.secs_per_day.is_empty() {
            let days: Vec<String> = self
                .secs_per_day
                .iter()
                .map(|s| format!("{s:.1}"))
                .collect();
            write!(f, "\nwall time per simulated day, s: {}", days.join(" "))?;
        }
        if self.days_detail.iter().any(|d| d.cpu.is_some()) {
            let days: Vec<String> = self
                .days_detail
                .iter()
                .map(|d| d.cpu.map_or("?".into(), |c| format!("{c:.1}")))
                .collect();
            write!(f, "\nCPU time per simulated day, s: {}", days.join(" "))?;
        }
        type Part = fn(&DayTimes) -> f64;
        let parts: [(&str, Part); 5] = [
            ("checks", |d| d.checks),
            ("fees", |d| d.fees),
            ("queue job", |d| d.queue),
            ("ingest", |d| d.ingest),
            ("other", |d| d.other),
        ];
        let mib = |k: Option<u64>| k.map_or("?".into(), |k| format!("{:.0}", k as f64 / 1024.0));
        if self.days_detail.iter().any(|d| d.rss_anon_kib.is_some()) {
            let days: Vec<String> = self
                .days_detail
                .iter()
                .map(|d| format!("{}+{}", mib(d.rss_anon_kib), mib(d.rss_file_kib)))
                .collect();
            write!(
                f,
                "\nresident memory at each day's end, MiB (own + mapped files): {}",
                days.join(" ")
            )?;
        }
        if self.peak_rss_days_kib.is_some() {
            write!(
                f,
                "\npeak resident memory, MiB: {} after the days, {} after the end checks",
                mib(self.peak_rss_days_kib),
                mib(self.peak_rss_end_kib)
            )?;
        }
        if !self.days_detail.is_empty() {
            for (name, part) in parts {
                let days: Vec<String> = self
                    .days_detail
                    .iter()
                    .map(|d| format!("{:.1}", part(d)))
                    .collect();
                write!(f, "\n  {name} per day, s: {}", days.join(" "))?;
            }
        }
        Ok(())
    }
}

/// The running totals a day's [`DayTimes`] are the difference of.
struct DayMark {
    cpu: Option<f64>,
    checks: f64,
    fees: f64,
    queue: f64,
    ingest: f64,
    rest: f64,
}

impl DayMark {
    fn of(r: &Report) -> Self {
        Self {
            cpu: process_cpu_secs(),
            checks: r.secs_checks,
            fees: r.secs_fees,
            queue: r.secs_queue,
            ingest: r.secs_ingest,
            rest: r.secs_declare + r.secs_book + r.secs_changes + r.secs_other,
        }
    }

    fn since(&self, before: &DayMark, wall: f64) -> DayTimes {
        DayTimes {
            wall,
            cpu: self.cpu.zip(before.cpu).map(|(a, b)| a - b),
            checks: self.checks - before.checks,
            fees: self.fees - before.fees,
            queue: self.queue - before.queue,
            ingest: self.ingest - before.ingest,
            other: self.rest - before.rest,
            rss_anon_kib: proc_status_kib("RssAnon"),
            rss_file_kib: proc_status_kib("RssFile"),
        }
    }
}

/// A simulated trip and what the simulation knows about it.
#[derive(Debug, Clone)]
struct SimTrip {
    gate: usize,
    direction: Direction,
    perishable: bool,
    plate: String,
    declare_at: i64,
    expected: i64,
    book: bool,
    /// None: a no-show.
    arrive_at: Option<i64>,
    id: String,
    code: String,
    yard_at: Option<i64>,
    checked_at: Option<i64>,
    crossed_at: Option<i64>,
    /// The declaration as sent and its version (for a correction).
    input: Option<DeclarationInput>,
    version: i64,
    quarantine: String,
    /// The fee's settlement time.
    paid_at: Option<i64>,
    /// Turned back by a refusal.
    returned_at: Option<i64>,
    /// Cancelled by the enterprise.
    cancelled: bool,
    /// The booking's arrival deadline before an extension (a late truck that takes its grace).
    grace_from: Option<i64>,
    /// The platform granted the extension.
    graced: bool,
    /// A correction is planned (such trips do not prepay: the fee is priced on the final
    /// declaration).
    correcting: bool,
    /// The enterprise pays the fee when booking.
    prepaid: bool,
    /// Cancelled after prepaying (the fee is to be refunded).
    prepaid_cancel: bool,
    /// Holds a slot (booked, or seated from standby).
    booked: bool,
    /// Joined the standby queue at this time.
    standby_at: Option<i64>,
    /// The sweep sent its booking to standby as a no-show.
    swept: bool,
}

/// Something the simulation does at a time through a service function.
#[derive(Debug, Clone)]
enum Act {
    Correct,
    CancelBooking,
    /// Move the booking `delay` minutes later (the truck arrives that much later).
    Reschedule {
        delay: i64,
    },
    /// The late truck asks for its one extension of the arrival deadline.
    Grace,
    /// A truck without a slot joins the standby queue.
    JoinStandby,
    /// An officer starts the check.
    Start(CheckKind),
    Decide(CheckKind, Decision),
    Customs(CustomsDecision),
    Assess,
    /// Pay the fee (online or at the gate).
    Pay {
        online: bool,
    },
}

/// A fee payment the simulation makes: the first attempt at `at` settled at `paid_at`, and
/// when it is declined the second one (requested, settled).
#[derive(Debug, Clone)]
struct PayPlan {
    trip: usize,
    online: bool,
    at: i64,
    paid_at: i64,
    retry: Option<(i64, i64)>,
}

/// One attempt of a [`PayPlan`].
#[derive(Debug, Clone)]
struct PayAttempt {
    trip: usize,
    online: bool,
    at: i64,
    paid_at: i64,
    declined: bool,
    attempt: u32,
}

/// An event to deliver.
#[derive(Debug, Clone)]
struct Pending {
    deliver_at: i64,
    event: NewEvent,
    /// The trip the event is about (None: an undeclared truck).
    truth: Option<usize>,
}

struct GateState {
    gate: Gate,
    window: Option<(i64, i64)>,
    staging: Option<String>,
    yard: String,
    yard_capacity: i64,
    alert_capacity: i64,
    /// Arrived, waiting to enter the yard (trip indexes, arrival order).
    waiting: VecDeque<usize>,
    /// In the yard.
    in_yard: Vec<usize>,
}

fn pick_kind(rng: &mut StdRng, table: &[(MisreadKind, f64)]) -> MisreadKind {
    let total: f64 = table.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen::<f64>() * total;
    for (v, w) in table {
        if x < *w {
            return *v;
        }
        x -= w;
    }
    MisreadKind::Clean
}

/// A Poisson draw (Knuth for small means, a rounded normal above 60).
fn poisson(rng: &mut StdRng, mean: f64) -> usize {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 60.0 {
        let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
        let u2: f64 = rng.gen();
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        return (mean + z * mean.sqrt()).round().max(0.0) as usize;
    }
    let l = (-mean).exp();
    let mut k = 0;
    let mut p = 1.0;
    loop {
        p *= rng.gen::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// A valid 10-digit MST from 9 random digits.
fn random_mst(rng: &mut StdRng) -> String {
    loop {
        let mut d = [0u8; 9];
        d[0] = 0;
        d[1] = rng.gen_range(1..=9);
        for x in d.iter_mut().skip(2) {
            *x = rng.gen_range(0..=9);
        }
        if let Some(c) = tinhso_kernel::validate::mst_check_digit(&d) {
            let mut s: String = d.iter().map(|x| char::from(b'0' + x)).collect();
            s.push(char::from(b'0' + c));
            return s;
        }
    }
}

struct Goods {
    hs: &'static str,
    unit: &'static str,
}

const EXPORT_FRESH: &[Goods] = &[
    Goods {
        hs: "08109092",
        unit: "thùng",
    },
    Goods {
        hs: "08106000",
        unit: "thùng",
    },
    Goods {
        hs: "08109050",
        unit: "kg",
    },
    Goods {
        hs: "08071100",
        unit: "kg",
    },
    Goods {
        hs: "08109010",
        unit: "thùng",
    },
    Goods {
        hs: "08109020",
        unit: "thùng",
    },
];
const EXPORT_DRY: &[Goods] = &[
    Goods {
        hs: "07141011",
        unit: "tấn",
    },
    Goods {
        hs: "40012210",
        unit: "tấn",
    },
    Goods {
        hs: "09011110",
        unit: "bao",
    },
    Goods {
        hs: "08013200",
        unit: "bao",
    },
];
const IMPORT_FRESH: &[Goods] = &[
    Goods {
        hs: "08081000",
        unit: "thùng",
    },
    Goods {
        hs: "08052100",
        unit: "thùng",
    },
    Goods {
        hs: "07032090",
        unit: "bao",
    },
];
const IMPORT_DRY: &[Goods] = &[
    Goods {
        hs: "31052000",
        unit: "tấn",
    },
    Goods {
        hs: "72142031",
        unit: "tấn",
    },
    Goods {
        hs: "54075200",
        unit: "kiện",
    },
];

/// The plan of every trip, before anything is written (deterministic from the seed).
fn plan_trips(opts: &Options, gates: &[GateState], rng: &mut StdRng) -> Vec<SimTrip> {
    let mut trips = Vec::new();
    let start = slots::hour_start_of(opts.start, 0).unwrap_or_default();
    let mut plates_seen: HashSet<String> = HashSet::new();
    for day in 0..i64::from(opts.days) {
        let date = opts.start + chrono::Duration::days(day);
        let day_start = start + day * slots::DAY;
        // Day-to-day variation the calendar does not explain (weather, orders, inspections).
        let day_noise: f64 = rng.gen_range(0.85..1.15);
        for (gi, g) in gates.iter().enumerate() {
            let share = GATE_SHARES
                .iter()
                .find(|(c, _)| *c == g.gate.code)
                .map_or(0.0, |s| s.1);
            let weights: Vec<(i64, f64)> = (0..24)
                .map(|h| {
                    let open = capacity::open_minutes_in(g.window, day_start + h * HOUR);
                    (h, hour_weight(h) * open as f64 / 60.0)
                })
                .collect();
            let wsum: f64 = weights.iter().map(|w| w.1).sum();
            if wsum <= 0.0 {
                continue;
            }
            for (dir, dshare) in direction_mix(&g.gate.code) {
                let season = season_factor(date, *dir);
                let fresh_share = if *dir == Direction::Export {
                    (0.45 * season).clamp(0.25, 0.75)
                } else {
                    0.15
                };
                let mut daily = BASE_VEHICLES_PER_DAY
                    * opts.scale
                    * share
                    * dshare
                    * season
                    * weekday_factor(date)
                    * day_noise;
                if opts.scenario == Scenario::FruitPeak && *dir == Direction::Export {
                    daily *= 1.0 + fresh_share * (FRUIT_PEAK_EXTRA - 1.0);
                }
                for (h, w) in &weights {
                    let n = poisson(rng, daily * w / wsum);
                    let hour_start = day_start + h * HOUR;
                    let open = capacity::open_minutes_in(g.window, hour_start);
                    let first_open = 60 - open;
                    for _ in 0..n {
                        let minute = rng.gen_range(first_open..60);
                        let expected = hour_start + minute * MINUTE;
                        let perishable = rng.gen_bool(fresh_share);
                        let lead = if rng.gen_bool(0.7) {
                            rng.gen_range(8 * 60..30 * 60)
                        } else {
                            rng.gen_range(90..6 * 60)
                        } * MINUTE;
                        let declare_at = (expected - lead).max(start);
                        let plate = loop {
                            let p = misread::random_plate(rng);
                            let trailer = crate::plate::parse(&p).map_or(true, |x| x.trailer);
                            if !trailer && plates_seen.insert(p.clone()) {
                                break p;
                            }
                        };
                        let book_p = if perishable {
                            (opts.booking_share * 2.0).min(0.9)
                        } else {
                            opts.booking_share
                        };
                        // 3 % no-shows; the others within about ±20 min of the declared time.
                        let arrive_at = if rng.gen_bool(0.03) {
                            None
                        } else {
                            Some(expected + rng.gen_range(-20..25) * MINUTE)
                        };
                        trips.push(SimTrip {
                            gate: gi,
                            direction: *dir,
                            perishable,
                            plate,
                            declare_at,
                            expected,
                            book: rng.gen_bool(book_p),
                            arrive_at,
                            id: String::new(),
                            code: String::new(),
                            yard_at: None,
                            checked_at: None,
                            crossed_at: None,
                            input: None,
                            version: 1,
                            quarantine: String::new(),
                            paid_at: None,
                            returned_at: None,
                            cancelled: false,
                            grace_from: None,
                            graced: false,
                            correcting: false,
                            prepaid: false,
                            prepaid_cancel: false,
                            booked: false,
                            standby_at: None,
                            swept: false,
                        });
                    }
                }
            }
        }
    }
    trips.sort_by_key(|t| (t.declare_at, t.expected));
    trips
}

/// The declaration a trip's enterprise would send.
fn input_for(
    t: &SimTrip,
    gate: &str,
    enterprises: &[(String, String)],
    drivers: &[DriverInput],
    rng: &mut StdRng,
) -> DeclarationInput {
    let (mst, name) = &enterprises[rng.gen_range(0..enterprises.len())];
    let driver = drivers[rng.gen_range(0..drivers.len())].clone();
    let table = match (t.direction, t.perishable) {
        (Direction::Import, true) => IMPORT_FRESH,
        (Direction::Import, false) => IMPORT_DRY,
        (_, true) => EXPORT_FRESH,
        (_, false) => EXPORT_DRY,
    };
    let g = &table[rng.gen_range(0..table.len())];
    let weight = rng.gen_range(8_000..24_000);
    DeclarationInput {
        enterprise_mst: mst.clone(),
        enterprise_name: name.clone(),
        enterprise_phone: String::new(),
        gate: gate.to_string(),
        direction: t.direction.as_str().to_string(),
        expected_arrival: declaration::local(t.expected)
            .format("%Y-%m-%dT%H:%M")
            .to_string(),
        vehicle_plate: t.plate.clone(),
        vehicle_plate_colour: "yellow".into(),
        vehicle_payload_kg: 25_000,
        trailer_plate: String::new(),
        trailer_payload_kg: 0,
        driver,
        customs_declaration: format!("{:012}", rng.gen_range(100_000_000_000u64..999_999_999_999)),
        goods: vec![GoodsLineInput {
            hs_code: g.hs.to_string(),
            description: String::new(),
            quantity: (weight / 20) as f64,
            unit: g.unit.to_string(),
            weight_kg: weight,
        }],
    }
}

fn db_err(e: sqlx::Error) -> AppError {
    DbError::from(e).into()
}

/// Write checked declarations in one transaction: the same rows as
/// [`declaration::declare`] (registries, trip, goods, version 1, the `declared` stage, audit
/// `border.trip.declare`, outbox `border.trip.declared`) with `now` as the declaration time.
/// Returns (id, code) per declaration. A vehicle with an active trip fails the whole batch.
/// One transaction, natively on a SQLite file ([`Db::begin_native`]).
pub async fn declare_checked_many(
    db: &Db,
    ctx: &Ctx,
    user_id: &str,
    checked: &[Checked],
    now: i64,
) -> Result<Vec<(String, String)>, AppError> {
    use crate::bulk::{rows_sql, Col};
    use std::collections::BTreeMap;
    use tinhso_store::Exec;
    if checked.is_empty() {
        return Ok(Vec::new());
    }
    // Native on SQLite: the statements run on this thread (see `tinhso_store::exec`).
    let mut tx = db.begin_native().await?;
    let backend = tx.backend();
    let day = declaration::local(now).format("%y%m%d").to_string();
    // Each table in one statement: the batch is one JSON parameter (see `bulk`). Keys repeated
    // in the batch are written once (the last wins, as one-by-one upserts would leave them).
    let mut enterprises: BTreeMap<&str, serde_json::Value> = BTreeMap::new();
    let mut drivers: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut vehicles: BTreeMap<&str, serde_json::Value> = BTreeMap::new();
    for c in checked {
        enterprises.insert(
            &c.enterprise_mst,
            serde_json::json!([
                c.enterprise_mst,
                c.enterprise_name,
                tinhso_kernel::text::fold(&c.enterprise_name),
                c.enterprise_phone,
                user_id,
                now
            ]),
        );
        let d = &c.driver;
        drivers.insert(
            d.id(),
            serde_json::json!([
                d.id(),
                d.id_kind.as_str(),
                d.id_number,
                d.full_name,
                d.phone,
                d.nationality,
                now
            ]),
        );
        for v in std::iter::once(&c.vehicle).chain(c.trailer.as_ref()) {
            vehicles.insert(
                &v.plate.canonical,
                serde_json::json!([
                    v.plate.canonical,
                    v.plate.country.as_str(),
                    v.kind.as_str(),
                    v.plate_colour,
                    c.enterprise_mst,
                    v.payload_kg,
                    now
                ]),
            );
        }
    }
    let json =
        |rows: Vec<serde_json::Value>| serde_json::to_string(&rows).map_err(AppError::internal);
    let statements: [(String, String); 3] = [
        (
            format!(
                "INSERT INTO border_enterprises (mst, name, name_folded, phone, created_by, created_at) {} WHERE true \
                 ON CONFLICT (mst) DO UPDATE SET name = excluded.name, name_folded = excluded.name_folded, \
                 phone = excluded.phone",
                rows_sql(backend, 1, &[("mst", Col::Text), ("name", Col::Text), ("name_folded", Col::Text),
                    ("phone", Col::Text), ("created_by", Col::Text), ("created_at", Col::Int)])
            ),
            json(enterprises.into_values().collect())?,
        ),
        (
            format!(
                "INSERT INTO border_drivers (id, id_kind, id_number, full_name, phone, nationality, created_at) {} \
                 WHERE true ON CONFLICT (id) DO UPDATE SET full_name = excluded.full_name, phone = excluded.phone, \
                 nationality = excluded.nationality",
                rows_sql(backend, 1, &[("id", Col::Text), ("id_kind", Col::Text), ("id_number", Col::Text),
                    ("full_name", Col::Text), ("phone", Col::Text), ("nationality", Col::Text), ("created_at", Col::Int)])
            ),
            json(drivers.into_values().collect())?,
        ),
        (
            format!(
                "INSERT INTO border_vehicles (plate, country, vehicle_kind, plate_colour, owner_mst, payload_kg, created_at) {} \
                 WHERE true ON CONFLICT (plate) DO UPDATE SET plate_colour = excluded.plate_colour, \
                 owner_mst = excluded.owner_mst, payload_kg = excluded.payload_kg",
                rows_sql(backend, 1, &[("plate", Col::Text), ("country", Col::Text), ("vehicle_kind", Col::Text),
                    ("plate_colour", Col::Text), ("owner_mst", Col::Text), ("payload_kg", Col::Int), ("created_at", Col::Int)])
            ),
            json(vehicles.into_values().collect())?,
        ),
    ];
    for (sql, body) in statements {
        tx.execute(&sql, &[Param::Text(&body)]).await?;
    }
    // Codes: one counter update per gate reserves the batch's numbers.
    let mut per_gate: BTreeMap<&str, i64> = BTreeMap::new();
    for c in checked {
        *per_gate.entry(&c.gate.code).or_default() += 1;
    }
    let mut next: BTreeMap<&str, i64> = BTreeMap::new();
    for (gate, n) in &per_gate {
        let last = crate::bulk::take_numbers(&mut tx, &format!("trip:{gate}:{day}"), *n).await?;
        next.insert(gate, last - n + 1);
    }
    let mut out = Vec::with_capacity(checked.len());
    let (mut trips, mut goods, mut versions, mut stages) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut audits = Vec::with_capacity(checked.len());
    let mut events = Vec::with_capacity(checked.len());
    for c in checked {
        let n = next
            .get_mut(c.gate.code.as_str())
            .ok_or_else(|| AppError::internal("gate counter"))?;
        let code = format!("{}-{day}-{:05}", c.gate.code, *n);
        *n += 1;
        let id = uuid::Uuid::now_v7().to_string();
        trips.push(serde_json::json!([
            id,
            code,
            c.enterprise_mst,
            c.gate.code,
            c.direction.as_str(),
            c.vehicle.plate.canonical,
            c.trailer.as_ref().map(|t| t.plate.canonical.clone()),
            c.driver.id(),
            c.expected_arrival,
            c.customs_declaration,
            c.total_weight_kg,
            i64::from(c.perishable),
            c.quarantine,
            now,
            user_id
        ]));
        for (i, g) in c.goods.iter().enumerate() {
            goods.push(serde_json::json!([
                id,
                i as i64 + 1,
                g.hs_code,
                g.description,
                g.quantity,
                g.unit,
                g.weight_kg,
                i64::from(g.perishable),
                g.quarantine
            ]));
        }
        let snapshot =
            serde_json::to_string(&declaration::flatten(c)).map_err(AppError::internal)?;
        versions.push(serde_json::json!([id, snapshot, user_id, now]));
        stages.push(serde_json::json!([id, now]));
        audits.push(ctx.entry(
            "border.trip.declare",
            "border_trip",
            &code,
            &c.gate.code,
            serde_json::json!({"after": {"gate": c.gate.code, "direction": c.direction.as_str(),
                "vehicle": c.vehicle.plate.canonical, "goods_lines": c.goods.len(),
                "total_weight_kg": c.total_weight_kg}}),
        ));
        events.push(
            serde_json::json!({"code": code, "gate": c.gate.code, "direction": c.direction.as_str(),
            "expected_arrival": c.expected_arrival, "perishable": c.perishable}),
        );
        out.push((id, code));
    }
    let trips_sql = format!(
        "INSERT INTO border_trips (id, code, version, enterprise_mst, gate_code, direction, vehicle_plate, \
         trailer_plate, driver_id, expected_arrival, customs_declaration, total_weight_kg, perishable, \
         quarantine, stage, stage_at, created_by, created_at, updated_at) \
         SELECT id, code, 1, mst, gate, direction, plate, trailer, driver, arrival, customs, weight, \
         perishable, quarantine, 'declared', now, who, now, now FROM ({}) AS j",
        rows_sql(backend, 1, &[("id", Col::Text), ("code", Col::Text), ("mst", Col::Text), ("gate", Col::Text),
            ("direction", Col::Text), ("plate", Col::Text), ("trailer", Col::Text), ("driver", Col::Text),
            ("arrival", Col::Int), ("customs", Col::Text), ("weight", Col::Int), ("perishable", Col::Int),
            ("quarantine", Col::Text), ("now", Col::Int), ("who", Col::Text)])
    );
    let inserted = tx.execute(&trips_sql, &[Param::Text(&json(trips)?)]).await;
    if let Err(e) = inserted {
        return Err(if e.is_unique_violation() {
            AppError::conflict(
                "Một xe trong lô đang có một chuyến chưa kết thúc",
                "A vehicle of the batch has a trip that is not over",
            )
        } else {
            e.into()
        });
    }
    let rest: [(String, String); 3] = [
        (
            format!(
                "INSERT INTO border_goods_lines (trip_id, line_no, hs_code, description, quantity, unit, \
                 weight_kg, perishable, quarantine) SELECT * FROM ({}) AS j",
                rows_sql(backend, 1, &[("trip_id", Col::Text), ("line_no", Col::Int), ("hs_code", Col::Text),
                    ("description", Col::Text), ("quantity", Col::Real), ("unit", Col::Text),
                    ("weight_kg", Col::Int), ("perishable", Col::Int), ("quarantine", Col::Text)])
            ),
            json(goods)?,
        ),
        (
            format!(
                "INSERT INTO border_trip_versions (trip_id, version, snapshot, changes, reason, changed_by, changed_at) \
                 SELECT trip_id, 1, snapshot, '{{}}', '', who, at FROM ({}) AS j",
                rows_sql(backend, 1, &[("trip_id", Col::Text), ("snapshot", Col::Text), ("who", Col::Text),
                    ("at", Col::Int)])
            ),
            json(versions)?,
        ),
        (
            format!(
                "INSERT INTO border_trip_stages (trip_id, stage, at, source) \
                 SELECT trip_id, 'declared', at, 'declaration' FROM ({}) AS j",
                rows_sql(backend, 1, &[("trip_id", Col::Text), ("at", Col::Int)])
            ),
            json(stages)?,
        ),
    ];
    for (sql, body) in rest {
        tx.execute(&sql, &[Param::Text(&body)]).await?;
    }
    tx.emit_many("border.trip.declared", &events).await?;
    tx.audit_many(&audits).await?;
    tx.commit().await?;
    Ok(out)
}

/// A gate without a staging area (Cốc Nam) gets a camera `CAM-<gate>-R` and a geofence
/// `GEO-<gate>-R` on the approach road (stage `staging`), where trucks queue when the yard is
/// full: placeholders like the seeded sensors, so the platform sees the road queue.
async fn road_sensors(db: &Db, gs: &[GateState]) -> Result<(), AppError> {
    let mut tx = db.begin_write().await?;
    for g in gs.iter().filter(|g| g.staging.is_none()) {
        for (id, kind, name) in [
            (
                format!("CAM-{}-R", g.gate.code),
                "camera",
                "Camera đường vào",
            ),
            (
                format!("GEO-{}-R", g.gate.code),
                "geofence",
                "Vùng GPS đường vào",
            ),
        ] {
            sqlx::query(
                "INSERT INTO border_sensors (id, kind, gate_code, stage, name_vi, created_at) \
                 VALUES ($1, $2, $3, 'staging', $4, $5) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&id)
            .bind(kind)
            .bind(&g.gate.code)
            .bind(format!("{name} {}", g.gate.name_vi))
            .bind(tinhso_store::now_micros())
            .execute(tx.conn())
            .await
            .map_err(db_err)?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Events per `ingest_batch` call.
const EVENT_BATCH: usize = 2_000;

struct Sim<'a> {
    db: &'a Db,
    ctx: Ctx,
    rng: StdRng,
    trips: Vec<SimTrip>,
    pending: Vec<Pending>,
    event_seq: u64,
    report: Report,
    /// The draws of corrections, booking changes, checks and fees (apart from `rng`, so the
    /// traffic itself does not change with these rates).
    ops: StdRng,
    rates: Rates,
    /// Service calls due, by (time, sequence).
    acts: BTreeMap<(i64, u64), (usize, Act)>,
    act_seq: u64,
    /// An officer of each agency (by agency code).
    officers: HashMap<String, Principal>,
}

/// An officer of `agency` (border officer, scope the agency): who records that agency's checks.
pub fn officer_of(agency: &str) -> Principal {
    Principal {
        user_id: format!("sim-officer-{agency}"),
        username: format!("sim.officer.{agency}"),
        display_name: "Cán bộ (mô phỏng)".into(),
        kind: "staff".into(),
        agency_code: Some(agency.into()),
        roles: vec![RoleAssignment {
            role: Role::BorderOfficer,
            scope: Scope::Agency(agency.into()),
        }],
        method: AuthMethod::Cli,
    }
}

fn minutes(rng: &mut StdRng, from: i64, to: i64) -> i64 {
    rng.gen_range(from..to) * MINUTE
}

/// Reasons officers give (1–500 characters).
fn hold_reason(kind: CheckKind) -> &'static str {
    match kind {
        CheckKind::BorderGuard => "Giấy tờ của lái xe cần xác minh thêm",
        CheckKind::Customs => "Kiểm tra thực tế hàng hoá (luồng đỏ)",
        _ => "Lấy mẫu gửi phòng thử nghiệm",
    }
}

fn reject_reason(kind: CheckKind) -> &'static str {
    match kind {
        CheckKind::BorderGuard => "Lái xe không đủ giấy tờ xuất cảnh",
        CheckKind::Customs => "Hàng hoá không đúng khai báo",
        _ => "Phát hiện sinh vật gây hại thuộc diện kiểm dịch",
    }
}

/// The decisions of one truck's checks from its arrival in the yard at `at`: per check kind a
/// list of (time, act), when it is clear (every check passed) or turned back (a refusal; no
/// decision after it).
fn plan_checks(
    rng: &mut StdRng,
    rates: &Rates,
    required: &[checks::Required],
    at: i64,
    perishable: bool,
) -> (Vec<(i64, Act)>, Option<i64>, Option<i64>) {
    let mut acts: Vec<(i64, Act)> = Vec::new();
    let mut cleared = at;
    let mut rejected: Option<i64> = None;
    for r in required {
        if r.agency.is_none() {
            // Nobody can pass it: the truck would wait for an officer's override. The simulated
            // goods never need such a check (tested), so this is not reached.
            return (Vec::new(), None, None);
        }
        let (service, hold, reject, hold_len) = match r.kind {
            CheckKind::Customs => (
                (15, 50),
                rates.customs_hold,
                rates.customs_reject,
                (60, 180),
            ),
            CheckKind::BorderGuard | CheckKind::HealthQuarantine => {
                ((3, 10), rates.guard_hold, 0.0, (30, 90))
            }
            _ => (
                if perishable { (20, 45) } else { (15, 35) },
                rates.quarantine_hold,
                rates.quarantine_reject,
                (120, 360),
            ),
        };
        let start = at + minutes(rng, 0, 15);
        let decided = start + minutes(rng, service.0, service.1);
        let x: f64 = rng.gen();
        let customs = r.kind == CheckKind::Customs;
        if !customs {
            acts.push((start, Act::Start(r.kind)));
        }
        if x < reject {
            acts.push((
                decided,
                if customs {
                    Act::Customs(CustomsDecision::Rejected)
                } else {
                    Act::Decide(r.kind, Decision::Reject)
                },
            ));
            rejected = Some(rejected.map_or(decided, |t: i64| t.min(decided)));
            continue;
        }
        let passed = if x < reject + hold {
            acts.push((
                decided,
                if customs {
                    Act::Customs(CustomsDecision::Held)
                } else {
                    Act::Decide(r.kind, Decision::Hold)
                },
            ));
            decided + minutes(rng, hold_len.0, hold_len.1)
        } else {
            decided
        };
        acts.push((
            passed,
            if customs {
                Act::Customs(CustomsDecision::Released)
            } else {
                Act::Decide(r.kind, Decision::Pass)
            },
        ));
        cleared = cleared.max(passed);
    }
    match rejected {
        // Nothing is decided after the refusal (the trip is over), nor at the same time.
        Some(t) => {
            acts.retain(|(at, a)| {
                *at < t
                    || (*at == t
                        && matches!(
                            a,
                            Act::Decide(_, Decision::Reject)
                                | Act::Customs(CustomsDecision::Rejected)
                        ))
            });
            let mut first = true;
            acts.retain(|(at, a)| {
                let reject = matches!(
                    a,
                    Act::Decide(_, Decision::Reject) | Act::Customs(CustomsDecision::Rejected)
                );
                if !reject {
                    return true;
                }
                let keep = *at == t && first;
                if keep {
                    first = false;
                }
                keep
            });
            (acts, None, Some(t))
        }
        None => (acts, Some(cleared), None),
    }
}

/// The trips the platform lets out of the yard now: stage `checked` or `paid`, every check
/// their goods need at their gate passed (customs released), and the fee paid (no top-up
/// due). The
/// simulator's barrier: a truck crosses only when this says so.
pub async fn cleared_to_cross(db: &Db, gates: &[Gate]) -> Result<HashSet<String>, AppError> {
    let mut rows = Vec::new();
    // Per gate, so that the (gate, stage) index finds the few trucks at these stages; natively
    // on a SQLite file (`Db::read_rows`: short, indexed, no hand-over to sqlx's thread).
    for g in gates {
        rows.extend(
            db.read_rows(
                "SELECT t.id, t.gate_code, t.quarantine, \
                 (SELECT COUNT(*) FROM border_checks c WHERE c.trip_id = t.id AND c.status = 'passed') \
                 FROM border_trips t JOIN border_fee_assessments a ON a.trip_id = t.id \
                 AND a.status = 'paid' AND a.topup_of IS NULL \
                 WHERE t.gate_code = $1 AND t.stage IN ('checked', 'paid') \
                 AND NOT EXISTS (SELECT 1 FROM border_fee_assessments d WHERE d.trip_id = t.id \
                   AND d.status = 'due' AND d.topup_of IS NOT NULL)",
                &[Param::Text(&g.code)],
                |r| Ok((r.text(0)?, r.text(1)?, r.text(2)?, r.int(3)?)),
            )
            .await
            .map_err(crate::slots::store_err)?,
        );
    }
    let mut out = HashSet::new();
    for (id, gate, quarantine, passed) in rows {
        let Some(g) = gates.iter().find(|g| g.code == gate) else {
            continue;
        };
        let required = checks::required_for(g, &quarantine);
        // A check row exists only for a required kind, so all passed ⇔ as many as required.
        if required.iter().all(|r| r.agency.is_some()) && passed == required.len() as i64 {
            out.insert(id);
        }
    }
    Ok(out)
}

/// `Ok(value)` when nothing is `broken`, else an internal error naming `what` and the first
/// 20 violations (vi phạm) of `broken`, with their count.
fn verdict<T>(what: &str, mut broken: Vec<String>, value: T) -> Result<T, AppError> {
    if broken.is_empty() {
        return Ok(value);
    }
    let n = broken.len();
    broken.truncate(20);
    Err(AppError::internal(format!(
        "{what} broken ({n}): {}",
        broken.join("; ")
    )))
}

/// Check one round of queue calls against the snapshot they were made from, failing with every
/// violation listed: each queue is in the rule's order (slot hour, trucks without a slot
/// last; perishables first within a slot hour when the policy says so; then arrival) with
/// positions 1..n; each call names a truck of that queue at its position, within
/// `Policy::call_position`, not called before, and one the simulation saw arrive
/// (`arrived(trip id)`) — a called truck was waiting; every truck within the call position
/// has been called (now or before). `called` gathers the trips called so far. Returns the
/// number of calls.
pub fn check_calls(
    snap: &QueueSnapshot,
    calls: &[QueueCall],
    called: &mut HashSet<String>,
    policy: &Policy,
    arrived: impl Fn(&str) -> bool,
) -> Result<usize, AppError> {
    let mut broken = Vec::new();
    let n = policy.call_position.max(0);
    for c in calls {
        let q = snap.queue(&c.gate_code, c.direction);
        match q.iter().find(|e| e.trip_id == c.trip_id) {
            None => broken.push(format!("{} called but not in its queue", c.trip_code)),
            Some(e) if e.position != c.position => broken.push(format!(
                "{} called at position {} but is {}",
                c.trip_code, c.position, e.position
            )),
            Some(_) => {}
        }
        if c.position > n || c.position < 1 {
            broken.push(format!(
                "{} called at position {} (> {n})",
                c.trip_code, c.position
            ));
        }
        if !called.insert(c.trip_id.clone()) {
            broken.push(format!("{} called twice", c.trip_code));
        }
        if !arrived(&c.trip_id) {
            broken.push(format!(
                "{} called but the truck had not arrived",
                c.trip_code
            ));
        }
    }
    let key = |e: &queue::QueueEntry| {
        (
            e.slot_hour.unwrap_or(i64::MAX),
            !(policy.perishable_first_in_slot && e.perishable),
            e.arrived_at,
        )
    };
    let mut keys: Vec<_> = snap.keys().cloned().collect();
    keys.sort_by(|a, b| (a.0.as_str(), a.1.as_str()).cmp(&(b.0.as_str(), b.1.as_str())));
    for (gate, dir) in keys {
        let q = snap.queue(&gate, dir);
        for (i, e) in q.iter().enumerate() {
            if e.position != i as i64 + 1 {
                broken.push(format!(
                    "{gate} {}: {} at index {i} has position {}",
                    dir.as_str(),
                    e.trip_code,
                    e.position
                ));
            }
            if e.position <= n && !called.contains(&e.trip_id) {
                broken.push(format!(
                    "{} at position {} was never called",
                    e.trip_code, e.position
                ));
            }
        }
        for w in q.windows(2) {
            if key(&w[0]) > key(&w[1]) {
                broken.push(format!(
                    "{gate} {}: {} ahead of {} against the order",
                    dir.as_str(),
                    w[0].trip_code,
                    w[1].trip_code
                ));
            }
        }
    }
    verdict("queue calls", broken, calls.len())
}

impl Sim<'_> {
    /// The fee officer's round at `now`: refunds due opened ([`fee_refund::open_due`]), the
    /// approved ones paid back, the requested ones approved (paid at the next round); `all`:
    /// approve and pay everything still open (the end of the run).
    async fn settle_refunds(&mut self, now: i64, all: bool) -> Result<(), AppError> {
        let t0 = Instant::now();
        let opened = fee_refund::open_due_since(
            self.db,
            &self.ctx,
            now,
            now - fee_refund::OPEN_DUE_LOOKBACK,
        )
        .await?;
        self.report.refunds_opened += opened.len();
        // Another officer than the one who asked approves and pays (four eyes).
        let officer = Ctx {
            actor: "sim:fee-officer".into(),
            request_id: self.ctx.request_id.clone(),
        };
        let rounds: &[&str] = if all {
            &["requested", "approved"]
        } else {
            &["approved", "requested"]
        };
        for status in rounds {
            loop {
                let open = fee_refund::list(self.db, Some(status), None, 1000).await?;
                let n = open.len();
                for r in open {
                    if *status == "requested" {
                        fee_refund::approve(self.db, &officer, &r.id, now).await?;
                    } else {
                        let reference = format!("SIM-HP-{}-{}", self.report.seed, r.trip_code);
                        let paid = fee_refund::mark_paid(self.db, &officer, &r.id, &reference, now)
                            .await?;
                        self.report.refunds_paid += 1;
                        self.report.refunded_vnd += paid.amount_vnd;
                    }
                }
                if n < 1000 {
                    break;
                }
            }
        }
        self.report.secs_fees += t0.elapsed().as_secs_f64();
        Ok(())
    }

    fn emit_event(&mut self, trip: Option<usize>, at: i64, body: EventBody) {
        self.event_seq += 1;
        let tag = trip.map_or("U".to_string(), |i| self.trips[i].code.clone());
        let event_id = format!("sim-{}-{}-{}", self.report.seed, tag, self.event_seq);
        // Delivery: most within 30 s; 5 % late by 10–120 min; 3 % re-sent 1–60 min later.
        let late = self.rng.gen_bool(0.05);
        let delay = if late {
            self.report.events_late += 1;
            self.rng.gen_range(10..120) * MINUTE
        } else {
            self.rng.gen_range(0..30_000_000)
        };
        let event = NewEvent { event_id, at, body };
        if self.rng.gen_bool(0.03) {
            self.pending.push(Pending {
                deliver_at: at + delay + self.rng.gen_range(1..60) * MINUTE,
                event: event.clone(),
                truth: trip,
            });
        }
        self.pending.push(Pending {
            deliver_at: at + delay,
            event,
            truth: trip,
        });
    }

    fn camera(&mut self, trip: usize, camera: &str, at: i64) {
        let plate = self.trips[trip].plate.clone();
        let table = if plate.is_ascii() {
            misread::VN_RATES
        } else {
            misread::CN_RATES
        };
        let kind = pick_kind(&mut self.rng, table);
        let text = misread::misread(&plate, kind, &mut self.rng);
        let confidence = misread::read_confidence(kind, &mut self.rng);
        self.emit_event(
            Some(trip),
            at,
            EventBody::Camera {
                camera_id: camera.to_string(),
                plate_text: text,
                confidence,
            },
        );
    }

    fn qr(&mut self, trip: usize, reader: &str, at: i64, p: f64) {
        if self.rng.gen_bool(p) {
            let code = self.trips[trip].code.clone();
            let at = at + self.rng.gen_range(5_000_000..90_000_000);
            self.emit_event(
                Some(trip),
                at,
                // Readers that verify the pass themselves send its trip code.
                EventBody::Qr {
                    reader_id: reader.to_string(),
                    trip_code: code,
                    pass: None,
                },
            );
        }
    }

    fn gps(&mut self, trip: usize, fence: &str, at: i64, p: f64) {
        if self.rng.gen_bool(p) {
            let id = self.trips[trip].id.clone();
            let at = at + self.rng.gen_range(0..60_000_000);
            self.emit_event(
                Some(trip),
                at,
                EventBody::Gps {
                    geofence_id: fence.to_string(),
                    trip_id: id,
                },
            );
        }
    }

    fn schedule(&mut self, at: i64, trip: usize, act: Act) {
        self.act_seq += 1;
        self.acts.insert((at, self.act_seq), (trip, act));
    }

    fn officer(&mut self, agency: &str) -> Principal {
        self.officers
            .entry(agency.to_string())
            .or_insert_with(|| officer_of(agency))
            .clone()
    }

    fn refused(&mut self, what: &str, trip: usize, e: &AppError) {
        tracing::warn!(what, trip = %self.trips[trip].code, error = ?e, "simulated call refused");
        self.report.calls_refused += 1;
        self.sample_refusal(what, trip, e);
    }

    fn sample_refusal(&mut self, what: &str, trip: usize, e: &AppError) {
        if self.report.refusal_samples.len() < 10 {
            let detail = e
                .detail_en
                .clone()
                .or_else(|| e.fields.first().map(|f| f.message_en.clone()))
                .unwrap_or_else(|| format!("{e:?}"));
            self.report
                .refusal_samples
                .push(format!("{what} {}: {detail}", self.trips[trip].code));
        }
    }

    fn turned_back(&mut self, gs: &mut [GateState], i: usize, at: i64) {
        self.trips[i].returned_at = Some(at);
        self.trips[i].checked_at = None;
        self.report.returned += 1;
        gs[self.trips[i].gate].in_yard.retain(|&x| x != i);
    }

    /// Run every service call due before `until`. Corrections and booking changes run one by
    /// one, in time order; the agencies' checks, the fee assessments and the fee payments due
    /// in the window go as batches ([`checks::record_many`], [`fee_payment::assess_many`],
    /// [`fee_payment::request_payment_many`], [`fee_payment::callback_many`]): one transaction
    /// each instead of one per call. A trip's own calls keep their order: its booking changes
    /// come before it arrives, its assessment when it enters the yard (before its checks, which
    /// go in time order within their batch), its payment after its checks. The random draws
    /// are made in time order, as when every call was made one by one.
    async fn run_acts(
        &mut self,
        gs: &mut [GateState],
        by_arrival: &mut Vec<usize>,
        policy: &Policy,
        until: i64,
    ) -> Result<(), AppError> {
        let mut assess: Vec<(usize, i64)> = Vec::new();
        let mut check_acts: Vec<(usize, i64, Act)> = Vec::new();
        let mut pays: Vec<PayPlan> = Vec::new();
        while let Some(((at, _), _)) = self.acts.first_key_value() {
            let at = *at;
            if at >= until {
                break;
            }
            let Some((_, (i, act))) = self.acts.pop_first() else {
                break;
            };
            match act {
                Act::Correct
                | Act::CancelBooking
                | Act::Reschedule { .. }
                | Act::Grace
                | Act::JoinStandby => {
                    self.run_single(gs, by_arrival, policy, i, at, act).await?;
                }
                Act::Assess => assess.push((i, at)),
                Act::Start(_) | Act::Decide(..) | Act::Customs(_) => {
                    if self.trips[i].returned_at.is_none() {
                        check_acts.push((i, at, act));
                    }
                }
                Act::Pay { online } => {
                    if self.trips[i].returned_at.is_some() {
                        continue;
                    }
                    // A declined attempt first now and then; the payer pays again.
                    let declined = self.ops.gen_bool(self.rates.payment_failure);
                    let paid_at = at + minutes(&mut self.ops, 1, 4);
                    let retry = if declined {
                        let again = paid_at + minutes(&mut self.ops, 1, 5);
                        Some((again, again + minutes(&mut self.ops, 1, 4)))
                    } else {
                        None
                    };
                    pays.push(PayPlan {
                        trip: i,
                        online,
                        at,
                        paid_at,
                        retry,
                    });
                }
            }
        }
        if !assess.is_empty() {
            let t0 = Instant::now();
            let items: Vec<(AssessInput, i64)> = assess
                .iter()
                .map(|&(i, at)| {
                    (
                        AssessInput {
                            trip_code: self.trips[i].code.clone(),
                            ..AssessInput::default()
                        },
                        at,
                    )
                })
                .collect();
            let results = fee_payment::assess_many(self.db, &self.ctx, &items).await?;
            for (r, &(i, _)) in results.iter().zip(&assess) {
                match r {
                    Ok(_) => self.report.fees_assessed += 1,
                    Err(e) => self.refused("fee assessment", i, e),
                }
            }
            self.report.secs_fees += t0.elapsed().as_secs_f64();
        }
        if !check_acts.is_empty() {
            let t0 = Instant::now();
            self.run_checks(gs, check_acts).await?;
            self.report.secs_checks += t0.elapsed().as_secs_f64();
        }
        if !pays.is_empty() {
            let t0 = Instant::now();
            let first: Vec<PayAttempt> = pays
                .iter()
                .map(|p| PayAttempt {
                    trip: p.trip,
                    online: p.online,
                    at: p.at,
                    paid_at: p.paid_at,
                    declined: p.retry.is_some(),
                    attempt: 1,
                })
                .collect();
            self.pay_round(&first).await?;
            let again: Vec<PayAttempt> = pays
                .iter()
                .filter_map(|p| {
                    p.retry.map(|(at, paid_at)| PayAttempt {
                        trip: p.trip,
                        online: p.online,
                        at,
                        paid_at,
                        declined: false,
                        attempt: 2,
                    })
                })
                .collect();
            self.pay_round(&again).await?;
            self.report.secs_fees += t0.elapsed().as_secs_f64();
        }
        Ok(())
    }

    /// A correction, a booking cancellation or a reschedule, through its service function.
    async fn run_single(
        &mut self,
        gs: &[GateState],
        by_arrival: &mut Vec<usize>,
        policy: &Policy,
        i: usize,
        at: i64,
        act: Act,
    ) -> Result<(), AppError> {
        let t0 = Instant::now();
        let db = self.db;
        let ctx = self.ctx.clone();
        let code = self.trips[i].code.clone();
        let id = self.trips[i].id.clone();
        match act {
            Act::Correct => {
                let Some(mut input) = self.trips[i].input.clone() else {
                    return Ok(());
                };
                if self.trips[i].cancelled {
                    return Ok(());
                }
                // Re-weighed at the loading site: weight and quantity change.
                for g in &mut input.goods {
                    // 100–2,000 kg more or less (less when more would pass 24 t).
                    let delta = self.ops.gen_range(100..2_000);
                    g.weight_kg = if self.ops.gen_bool(0.5) && g.weight_kg + delta <= 24_000 {
                        g.weight_kg + delta
                    } else {
                        g.weight_kg - delta
                    };
                    g.quantity = (g.weight_kg / 20) as f64;
                }
                let version = self.trips[i].version;
                // The gates the simulator holds (the registry does not change during a run).
                let gate = gs
                    .iter()
                    .find(|g| g.gate.code == input.gate.trim())
                    .map(|g| g.gate.clone());
                let correction = declaration::Correction {
                    user_id: "sim",
                    code: &code,
                    version,
                    input: &input,
                    reason: "Cân lại hàng tại nơi xếp: sửa trọng lượng và số lượng",
                };
                match declaration::correct_with(db, &ctx, &correction, at, gate).await {
                    Ok(t) => {
                        self.trips[i].version = t.version;
                        self.trips[i].input = Some(input);
                        self.report.corrected += 1;
                    }
                    Err(e) if e.status() < 500 => {
                        tracing::warn!(trip = %code, error = ?e, "simulated correction refused");
                        self.report.correction_refused += 1;
                        self.sample_refusal("correction", i, &e);
                    }
                    Err(e) => return Err(e),
                }
                self.report.secs_changes += t0.elapsed().as_secs_f64();
            }
            Act::CancelBooking => {
                if self.trips[i].yard_at.is_some() || self.trips[i].arrive_at.is_none() {
                    return Ok(());
                }
                match booking::cancel(db, &ctx, &id, at).await {
                    Ok(_) => self.report.bookings_cancelled += 1,
                    Err(e) if e.status() < 500 => {
                        self.refused("booking cancel", i, &e);
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                }
                match declaration::cancel_at(db, &ctx, &code, "Đơn hàng của đối tác bị huỷ", at)
                    .await
                {
                    Ok(_) => {
                        self.report.trips_cancelled += 1;
                        if self.trips[i].prepaid_cancel {
                            self.report.prepaid_cancelled += 1;
                        }
                        self.trips[i].cancelled = true;
                        self.trips[i].arrive_at = None;
                        by_arrival.retain(|&x| x != i);
                    }
                    Err(e) if e.status() < 500 => self.refused("trip cancel", i, &e),
                    Err(e) => return Err(e),
                }
                self.report.secs_changes += t0.elapsed().as_secs_f64();
            }
            Act::Reschedule { delay } => {
                let new_hour = slots::floor_hour(self.trips[i].expected + delay * MINUTE);
                match booking::reschedule(db, &ctx, policy, &id, new_hour, at).await {
                    Ok(_) => {
                        self.report.rescheduled += 1;
                        self.trips[i].expected += delay * MINUTE;
                    }
                    Err(e) if matches!(e.status(), 409 | 422) => {
                        self.report.reschedule_refused += 1;
                    }
                    Err(e) => return Err(e),
                }
                // Late either way: with the new slot, or with the old one.
                if let Some(a) = self.trips[i].arrive_at.as_mut() {
                    *a += delay * MINUTE;
                }
                self.report.secs_changes += t0.elapsed().as_secs_f64();
            }
            Act::JoinStandby => {
                match booking::join_standby(db, &ctx, &id, at).await {
                    Ok(()) => {
                        self.report.standby_joined += 1;
                        self.trips[i].standby_at = Some(at);
                    }
                    Err(e) if e.status() < 500 => self.refused("standby join", i, &e),
                    Err(e) => return Err(e),
                }
                self.report.secs_changes += t0.elapsed().as_secs_f64();
            }
            Act::Grace => {
                if self.trips[i].cancelled {
                    return Ok(());
                }
                match booking::extend_grace(db, &ctx, policy, &id, at).await {
                    Ok(_) => {
                        self.report.grace_extended += 1;
                        self.trips[i].graced = true;
                    }
                    Err(e) if e.status() < 500 => {
                        self.refused("grace extension", i, &e);
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                }
                // The one extension: asking again is refused.
                match booking::extend_grace(db, &ctx, policy, &id, at + MINUTE).await {
                    Err(e) if e.status() == 409 => self.report.grace_second_refused += 1,
                    Err(e) if e.status() >= 500 => return Err(e),
                    other => {
                        let e = AppError::internal(format!(
                            "a second grace extension was not refused: {:?}",
                            other.map(|b| b.arrive_by)
                        ));
                        self.refused("second grace extension", i, &e);
                    }
                }
                self.report.secs_changes += t0.elapsed().as_secs_f64();
            }
            _ => {}
        }
        Ok(())
    }

    /// The agencies' check starts, decisions and customs releases of a window, in time order,
    /// in one batch ([`checks::record_many`]).
    async fn run_checks(
        &mut self,
        gs: &mut [GateState],
        acts: Vec<(usize, i64, Act)>,
    ) -> Result<(), AppError> {
        let kind_of = |a: &Act| match a {
            Act::Start(k) | Act::Decide(k, _) => Some(*k),
            Act::Customs(_) => Some(CheckKind::Customs),
            _ => None,
        };
        for (i, _, act) in &acts {
            if let Some(k) = kind_of(act) {
                let agency = gs[self.trips[*i].gate]
                    .gate
                    .agency_for(k)
                    .unwrap_or_default()
                    .to_string();
                self.officer(&agency);
            }
        }
        let officers = self.officers.clone();
        let nobody = officer_of("");
        let who = |gate: &Gate, k: CheckKind| {
            officers
                .get(gate.agency_for(k).unwrap_or_default())
                .unwrap_or(&nobody)
        };
        let mut ops: Vec<CheckOp> = Vec::with_capacity(acts.len());
        for (i, at, act) in &acts {
            let t = &self.trips[*i];
            let gate = &gs[t.gate].gate;
            ops.push(match act {
                Act::Start(k) => CheckOp::Start {
                    principal: who(gate, *k),
                    trip_code: t.code.clone(),
                    kind: *k,
                    at: *at,
                },
                Act::Decide(k, d) => {
                    let reason = match d {
                        Decision::Pass => "",
                        Decision::Hold => hold_reason(*k),
                        Decision::Reject => reject_reason(*k),
                    };
                    CheckOp::Decide {
                        principal: who(gate, *k),
                        trip_code: t.code.clone(),
                        kind: *k,
                        input: DecisionInput::new(d.as_str(), reason),
                        at: *at,
                    }
                }
                Act::Customs(d) => CheckOp::Release {
                    principal: who(gate, CheckKind::Customs),
                    input: ReleaseInput {
                        customs_declaration: t
                            .input
                            .as_ref()
                            .map(|x| x.customs_declaration.clone())
                            .unwrap_or_default(),
                        trip_code: t.code.clone(),
                        decision: d.as_str().into(),
                        decided_at: declaration::local(*at).to_rfc3339(),
                        officer_ref: format!("HQ-{}-MP", gate.code),
                    },
                    now: *at,
                },
                _ => return Err(AppError::internal("not a check")),
            });
        }
        let results = checks::record_many(self.db, &self.ctx, &ops).await?;
        drop(ops);
        for ((i, at, act), r) in acts.into_iter().zip(results) {
            match (act, r) {
                (Act::Start(k), Ok(CheckDone::Started(_))) => {
                    self.report
                        .checks
                        .entry(k.as_str().into())
                        .or_default()
                        .started += 1;
                }
                (Act::Decide(k, d), Ok(CheckDone::Decided(o))) => {
                    let c = self.report.checks.entry(k.as_str().into()).or_default();
                    match d {
                        Decision::Pass => c.passed += 1,
                        Decision::Hold => c.held += 1,
                        Decision::Reject => c.rejected += 1,
                    }
                    if o.all_clear && d == Decision::Pass {
                        self.report.checked += 1;
                    }
                    if d == Decision::Reject {
                        self.turned_back(gs, i, at);
                    }
                }
                (Act::Customs(d), Ok(CheckDone::Released(o))) if o.outcome == "recorded" => {
                    let c = self.report.checks.entry("customs".into()).or_default();
                    match d {
                        CustomsDecision::Released => c.passed += 1,
                        CustomsDecision::Held => c.held += 1,
                        CustomsDecision::Rejected => c.rejected += 1,
                    }
                    if o.all_clear && d == CustomsDecision::Released {
                        self.report.checked += 1;
                    }
                    if d == CustomsDecision::Rejected {
                        self.turned_back(gs, i, at);
                    }
                }
                (_, Ok(CheckDone::Released(o))) => {
                    let e = AppError::internal(format!("customs release {}", o.outcome));
                    self.refused("customs release", i, &e);
                }
                (_, Ok(_)) => {
                    let e = AppError::internal("a check answered as another kind of item");
                    self.refused("check", i, &e);
                }
                (Act::Start(_), Err(e)) => self.refused("check start", i, &e),
                (Act::Decide(..), Err(e)) => self.refused("check decision", i, &e),
                (_, Err(e)) => self.refused("customs release", i, &e),
            }
        }
        Ok(())
    }

    /// One round of fee payments: the VietQR requests ([`fee_payment::request_payment_many`])
    /// and the gateway's signed callbacks ([`fee_payment::callback_many`]), declined or paid.
    async fn pay_round(&mut self, round: &[PayAttempt]) -> Result<(), AppError> {
        use tinhso_services::payment::{shared_secret, sign, Callback};
        if round.is_empty() {
            return Ok(());
        }
        let requests: Vec<(String, i64)> = round
            .iter()
            .map(|p| (self.trips[p.trip].code.clone(), p.at))
            .collect();
        let asked = fee_payment::request_payment_many(self.db, &self.ctx, &requests).await?;
        let mut calls = Vec::with_capacity(round.len());
        let mut sent: Vec<(&PayAttempt, i64)> = Vec::with_capacity(round.len());
        // The gateway signs with the real clock (the callback's freshness check).
        let now_secs = tinhso_store::now_micros() / 1_000_000;
        for (p, r) in round.iter().zip(asked) {
            let req = match r {
                Ok(req) => req,
                Err(e) => {
                    self.refused("fee payment", p.trip, &e);
                    continue;
                }
            };
            let code = &self.trips[p.trip].code;
            let cb = Callback {
                payment_id: req.id.clone(),
                txn_id: format!("SIM-{}-{code}-{}", self.report.seed, p.attempt),
                amount_vnd: req.amount_vnd,
                status: if p.declined { "failed" } else { "paid" }.into(),
                paid_at: declaration::local(p.paid_at).to_rfc3339(),
            };
            let body = serde_json::to_vec(&cb).map_err(AppError::internal)?;
            let signature = sign(&shared_secret(), &body);
            calls.push(fee_payment::GatewayCall {
                body,
                signature: Some(signature),
                timestamp: Some(now_secs.to_string()),
            });
            sent.push((p, req.amount_vnd));
        }
        let results = fee_payment::callback_many(self.db, &self.ctx, &calls, now_secs).await?;
        for ((p, amount), r) in sent.into_iter().zip(results) {
            match r {
                Ok(_) if p.declined => self.report.payments_failed += 1,
                Ok(r) if r.payment.status == "paid" => {
                    self.trips[p.trip].paid_at = Some(p.paid_at);
                    if self.trips[p.trip].prepaid {
                        self.report.fees_prepaid += 1;
                    }
                    if p.online {
                        self.report.fees_paid_online += 1;
                    } else {
                        self.report.fees_paid_at_gate += 1;
                    }
                    self.report.fees_paid_vnd += amount;
                }
                Ok(r) => {
                    let e = AppError::internal(format!(
                        "payment of {} is {}",
                        self.trips[p.trip].code, r.payment.status
                    ));
                    self.refused("fee payment", p.trip, &e);
                }
                Err(e) => self.refused("fee payment", p.trip, &e),
            }
        }
        Ok(())
    }

    /// Deliver the events due by `until`, shuffled (out of order), in batches.
    async fn deliver(&mut self, ing: &Ingestor, until: i64) -> Result<(), AppError> {
        let (mut due, rest): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.deliver_at < until);
        self.pending = rest;
        due.shuffle(&mut self.rng);
        for chunk in due.chunks(EVENT_BATCH) {
            let events: Vec<NewEvent> = chunk.iter().map(|p| p.event.clone()).collect();
            let r = ing.ingest_batch(self.db, &events).await?;
            self.report.events_sent += r.received;
            self.report.events_attached += r.attached;
            self.report.events_review += r.review;
            self.report.events_duplicate += r.duplicates;
            self.report.events_unknown += r.unknown;
            for (res, p) in r.results.iter().zip(chunk) {
                if let Some(t) = &res.trip_id {
                    match p.truth {
                        Some(i) if self.trips[i].id == *t => {}
                        Some(_) => self.report.events_wrong_trip += 1,
                        None => self.report.undeclared_attached += 1,
                    }
                }
            }
        }
        Ok(())
    }
}

/// Run the simulation on `db` (migrated; gates and sensors are seeded if missing). Writes
/// simulated trips, bookings, events and capacity overrides: use a scratch or demo database.
pub async fn run(db: &Db, opts: &Options) -> Result<Report, AppError> {
    opts.check()?;
    let t0 = Instant::now();
    gates::seed(db).await?;
    events::seed_sensors(db).await?;
    let policy = Policy::default();
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let all = gates::list(db).await?;
    let mut gs: Vec<GateState> = Vec::new();
    for (code, _) in GATE_SHARES {
        if !opts.gates.is_empty() && !opts.gates.iter().any(|g| g == code) {
            continue;
        }
        let Some(g) = all.iter().find(|g| g.code == code) else {
            continue;
        };
        let staging = g
            .yards
            .iter()
            .find(|y| y.kind == "staging")
            .map(|y| y.code.clone());
        let yard = g
            .yards
            .iter()
            .find(|y| y.kind != "staging")
            .map(|y| y.code.clone())
            .ok_or_else(|| AppError::internal(format!("gate {code} has no yard")))?;
        let yard_capacity = g
            .yards
            .iter()
            .filter(|y| y.kind != "staging")
            .map(|y| y.capacity)
            .sum();
        gs.push(GateState {
            window: capacity::open_window(g),
            staging,
            yard,
            yard_capacity,
            alert_capacity: g.yards.iter().map(|y| y.capacity).sum(),
            gate: g.clone(),
            waiting: VecDeque::new(),
            in_yard: Vec::new(),
        });
    }
    road_sensors(db, &gs).await?;
    let trips = plan_trips(opts, &gs, &mut rng);
    let enterprises: Vec<(String, String)> = (0..80)
        .map(|i| {
            (
                random_mst(&mut rng),
                format!("Công ty TNHH Xuất nhập khẩu Mô phỏng {i:02}"),
            )
        })
        .collect();
    let drivers: Vec<DriverInput> = (0..600)
        .map(|i| {
            if i % 5 == 4 {
                DriverInput {
                    id_kind: "passport".into(),
                    id_number: format!("E{:08}", rng.gen_range(10_000_000..99_999_999)),
                    full_name: format!("Lý Văn Mô Phỏng {i}"),
                    phone: format!(
                        "+86 138 {:04} {:04}",
                        rng.gen_range(0..9999),
                        rng.gen_range(0..9999)
                    ),
                    nationality: "CN".into(),
                }
            } else {
                DriverInput {
                    id_kind: "cccd".into(),
                    id_number: format!(
                        "020{}{:02}{:06}",
                        rng.gen_range(0..2),
                        rng.gen_range(60..99),
                        rng.gen_range(0..999_999)
                    ),
                    full_name: format!("Nguyễn Văn Mô Phỏng {i}"),
                    phone: format!("09{:08}", rng.gen_range(10_000_000..99_999_999)),
                    nationality: String::new(),
                }
            }
        })
        .collect();
    let mut sim = Sim {
        db,
        ctx: Ctx {
            actor: "sim".into(),
            request_id: format!("sim-{}", opts.seed),
        },
        rng,
        trips,
        pending: Vec::new(),
        event_seq: 0,
        ops: StdRng::seed_from_u64(opts.seed ^ 0x0b0d_e25e_ed00_0001),
        rates: opts.rates.clone(),
        acts: BTreeMap::new(),
        act_seq: 0,
        officers: HashMap::new(),
        report: Report {
            scenario: opts.scenario.as_str().into(),
            start: opts.start.to_string(),
            days: opts.days,
            seed: opts.seed,
            scale: opts.scale,
            ..Report::default()
        },
    };
    let start = slots::hour_start_of(opts.start, 0).unwrap_or_default();
    let end = start + i64::from(opts.days) * slots::DAY;
    // The simulated clock stops at the end of the last day, or earlier at `until`.
    let stop = opts
        .until
        .map_or(end, |u| slots::floor_hour(u).clamp(start, end));
    let gate_list: Vec<Gate> = gs.iter().map(|g| g.gate.clone()).collect();
    let mut crossed_trips: Vec<(String, i64)> = Vec::new();
    // The crisis: overrides written through the slots module, so bookings and the forecast
    // see the cut as the board would enter it.
    let mut cut: HashMap<(usize, Direction, i64), i64> = HashMap::new();
    if opts.scenario == Scenario::Crisis {
        let from = start + slots::DAY;
        // The whole announced cut, also past the last simulated day (the board enters what
        // the Chinese side announces; the forecast reads it).
        let to = from + CRISIS_DAYS * slots::DAY;
        let mut h = from;
        while h < to {
            for (gi, g) in gs.iter().enumerate() {
                for d in [Direction::Export, Direction::Transshipment] {
                    let nominal = capacity::nominal_capacity(&g.gate, d, h);
                    if nominal <= 0 {
                        continue;
                    }
                    let c = (nominal as f64 * CRISIS_CAPACITY_SHARE).round() as i64;
                    capacity::set_override(
                        db,
                        &sim.ctx,
                        &g.gate.code,
                        d.as_str(),
                        h,
                        Some(c),
                        "Mô phỏng: phía Trung Quốc giảm tiếp nhận (kịch bản tháng 12/2021)",
                    )
                    .await?;
                    sim.report.capacity_overrides += 1;
                    cut.insert((gi, d, h), c);
                }
            }
            h += HOUR;
        }
    }
    let ing = Ingestor::load(db).await?;
    let mut next_decl = 0usize;
    let mut by_arrival: Vec<usize> = Vec::new();
    let mut queue_peak: Vec<(usize, i64)> = vec![(0, 0); gs.len()];
    let mut crossed_today: HashMap<(usize, Direction), (i64, i64)> = HashMap::new();
    // The queue snapshot holder, as the server keeps one, and the trips called so far.
    let queues = Queues::new(policy.clone());
    let mut called: HashSet<String> = HashSet::new();
    // Trip id → index of the declared trips, kept as they are declared (rebuilding it every
    // hour walked every trip declared so far: a cost that grew with the days).
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut h = start;
    let mut day_started = Instant::now();
    let mut day_mark = DayMark::of(&sim.report);
    // The SQL profile (`TINHSO_SQL_PROFILE`, off by default) keeps one bucket per day.
    sql_profile::mark("day 1");
    while h < stop {
        let h_end = h + HOUR;
        // 1. Declarations of this hour, checked with the hour's end as `now`, in one batch.
        let td = Instant::now();
        let mut batch: Vec<usize> = Vec::new();
        while next_decl < sim.trips.len() && sim.trips[next_decl].declare_at < h_end {
            batch.push(next_decl);
            next_decl += 1;
        }
        if !batch.is_empty() {
            let mut checked = Vec::with_capacity(batch.len());
            let mut ok_idx = Vec::with_capacity(batch.len());
            let mut inputs_sent = Vec::with_capacity(batch.len());
            for &i in &batch {
                let input = {
                    let t = &sim.trips[i];
                    input_for(
                        t,
                        &gs[t.gate].gate.code,
                        &enterprises,
                        &drivers,
                        &mut sim.rng,
                    )
                };
                let gate = Some(gs[sim.trips[i].gate].gate.clone());
                match declaration::check_with(gate, &input, h_end) {
                    Ok(c) => {
                        checked.push(c);
                        ok_idx.push(i);
                        inputs_sent.push(input);
                    }
                    Err(e) if e.status() == 422 => {
                        tracing::warn!(trip = i, error = ?e, "simulated declaration refused");
                        sim.report.declare_refused += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
            let written = declare_checked_many(db, &sim.ctx, "sim", &checked, h_end).await?;
            for (((&i, (id, code)), input), c) in
                ok_idx.iter().zip(written).zip(inputs_sent).zip(&checked)
            {
                by_id.insert(id.clone(), i);
                let t = &mut sim.trips[i];
                t.id = id;
                t.code = code;
                t.input = Some(input);
                t.quarantine = c.quarantine.clone();
                ing.track_expected(
                    &t.id,
                    &gs[t.gate].gate.code,
                    vec![t.plate.clone()],
                    t.expected,
                )?;
                sim.report.declared += 1;
                if t.arrive_at.is_some() {
                    by_arrival.push(i);
                } else {
                    sim.report.no_shows += 1;
                }
                // A correction before the truck leaves (re-weighed at the loading site).
                let (declared_at, expected) = (h_end, t.expected);
                if sim.ops.gen_bool(sim.rates.correction) {
                    let latest = expected - HOUR;
                    if latest > declared_at + MINUTE {
                        let at = sim.ops.gen_range(declared_at + MINUTE..latest);
                        sim.trips[i].correcting = true;
                        sim.schedule(at, i, Act::Correct);
                    }
                }
            }
            sim.report.secs_declare += td.elapsed().as_secs_f64();
            // 2. Bookings through the slots module.
            let tb = Instant::now();
            let booking_idx: Vec<usize> = ok_idx
                .iter()
                .copied()
                .filter(|&i| sim.trips[i].book)
                .collect();
            let inputs: Vec<booking::BookingInput> = booking_idx
                .iter()
                .map(|&i| &sim.trips[i])
                .map(|t| booking::BookingInput {
                    trip_id: t.id.clone(),
                    gate_code: gs[t.gate].gate.code.clone(),
                    direction: t.direction.as_str().into(),
                    hour_start: slots::floor_hour(t.expected),
                })
                .collect();
            let results = booking::book_many(db, &sim.ctx, &policy, &inputs, h_end).await?;
            for (r, &i) in results.into_iter().zip(&booking_idx) {
                let arrive_by = match r {
                    Ok(b) => {
                        sim.report.booked += 1;
                        sim.trips[i].booked = true;
                        b.arrive_by
                    }
                    Err(e) if matches!(e.status(), 409 | 422) => {
                        sim.report.booking_refused += 1;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                // Changes before the slot: a cancellation, or a later hour (the truck is late
                // leaving), decided 2–6 hours ahead, never before the booking; or a truck late
                // past its arrival deadline that asks for its one extension 5–25 minutes
                // before the deadline and arrives within the extension.
                let slot = slots::floor_hour(sim.trips[i].expected);
                let x: f64 = sim.ops.gen();
                let ahead = sim.ops.gen_range(2 * 60..6 * 60) * MINUTE;
                let at = (slot - ahead).max(h_end + MINUTE);
                if at + HOUR > slot || sim.trips[i].arrive_at.is_none() {
                    continue;
                }
                if x < sim.rates.booking_cancel {
                    sim.schedule(at, i, Act::CancelBooking);
                } else if x < sim.rates.booking_cancel + sim.rates.reschedule {
                    let delay = sim.ops.gen_range(60..240);
                    sim.schedule(at, i, Act::Reschedule { delay });
                } else if x < sim.rates.booking_cancel + sim.rates.reschedule + sim.rates.late_grace
                {
                    let ask = arrive_by - sim.ops.gen_range(5..25) * MINUTE;
                    let late = sim.ops.gen_range(5..(policy.extension_minutes - 5).max(6));
                    sim.trips[i].grace_from = Some(arrive_by);
                    sim.trips[i].arrive_at = Some(arrive_by + late * MINUTE);
                    sim.schedule(ask, i, Act::Grace);
                } else if !sim.trips[i].correcting && sim.ops.gen_bool(sim.rates.prepay) {
                    // Prepaid from the booking page: assessed, then paid by VietQR.
                    let assess_at = h_end + minutes(&mut sim.ops, 1, 10);
                    let pay_at = assess_at + minutes(&mut sim.ops, 2, 8);
                    sim.trips[i].prepaid = true;
                    sim.schedule(assess_at, i, Act::Assess);
                    sim.schedule(pay_at, i, Act::Pay { online: true });
                    // Now and then the order falls through after the payment: the booking and
                    // the trip are cancelled before the truck leaves (the fee is refunded).
                    // (In a later hour than the payment: an hour's service calls run in
                    // batches after its single changes.)
                    let cancel_at = slots::floor_hour(pay_at) + HOUR + minutes(&mut sim.ops, 5, 50);
                    if sim.ops.gen_bool(sim.rates.prepaid_cancel) && cancel_at + HOUR <= slot {
                        sim.trips[i].prepaid_cancel = true;
                        sim.schedule(cancel_at, i, Act::CancelBooking);
                    }
                }
            }
            sim.report.secs_book += tb.elapsed().as_secs_f64();
        }
        let to = Instant::now();
        // 3. Arrivals of this hour.
        by_arrival.sort_by_key(|&i| std::cmp::Reverse(sim.trips[i].arrive_at));
        while let Some(&i) = by_arrival.last() {
            let at = sim.trips[i].arrive_at.unwrap_or(i64::MAX);
            if at >= h_end {
                break;
            }
            by_arrival.pop();
            let gi = sim.trips[i].gate;
            sim.report.arrived += 1;
            if let Some(s) = gs[gi].staging.clone() {
                sim.camera(i, &format!("CAM-{s}"), at);
                sim.qr(i, &format!("QR-{s}"), at, 0.6);
                sim.gps(i, &format!("GEO-{s}"), at, 0.4);
            } else {
                let g = gs[gi].gate.code.clone();
                sim.camera(i, &format!("CAM-{g}-R"), at);
                sim.gps(i, &format!("GEO-{g}-R"), at, 0.4);
            }
            gs[gi].waiting.push_back(i);
            // Without a slot: now and then the driver joins the standby queue.
            if !sim.trips[i].booked && sim.ops.gen_bool(sim.rates.standby_join) {
                let join = at + minutes(&mut sim.ops, 0, 10);
                sim.schedule(join, i, Act::JoinStandby);
            }
            // A read of an undeclared truck now and then (1 % of arrivals).
            if sim.rng.gen_bool(0.01) {
                let cam = gs[gi]
                    .staging
                    .clone()
                    .unwrap_or_else(|| gs[gi].yard.clone());
                // Not the plate of a declared truck: a read of that plate *is* that truck (a
                // declared truck that never came would be seen arriving weeks late).
                let p = loop {
                    let p = misread::random_plate(&mut sim.rng);
                    if !sim.trips.iter().any(|t| t.plate == p) {
                        break p;
                    }
                };
                sim.emit_event(
                    None,
                    at,
                    EventBody::Camera {
                        camera_id: format!("CAM-{cam}"),
                        plate_text: p,
                        confidence: 0.9,
                    },
                );
            }
        }
        // 4. Into the yard while it has room (gate open or not: the yard works when trucks
        //    come), perishables first among those waiting. Outbound trucks (export,
        //    transshipment) share the yard; inbound ones (import, transit) come from the
        //    Chinese side into the import area and do not wait behind them (assumed).
        for g in gs.iter_mut() {
            let outbound = |d: Direction| matches!(d, Direction::Export | Direction::Transshipment);
            let used = g
                .in_yard
                .iter()
                .filter(|&&i| outbound(sim.trips[i].direction))
                .count() as i64;
            let mut room = (g.yard_capacity - used).max(0) as usize;
            if g.waiting.is_empty() {
                continue;
            }
            let mut w: Vec<usize> = g.waiting.drain(..).collect();
            w.sort_by_key(|&i| (!sim.trips[i].perishable, sim.trips[i].arrive_at));
            let mut admit = Vec::new();
            for i in w {
                if !outbound(sim.trips[i].direction) {
                    admit.push(i);
                } else if room > 0 {
                    room -= 1;
                    admit.push(i);
                } else {
                    g.waiting.push_back(i);
                }
            }
            let yard = g.yard.clone();
            let has_staging = g.staging.is_some();
            for i in admit {
                let arrived = sim.trips[i].arrive_at.unwrap_or(h);
                let after = if has_staging {
                    sim.rng.gen_range(10..40)
                } else {
                    sim.rng.gen_range(3..10)
                };
                let at = (arrived + after * MINUTE).max(h + sim.rng.gen_range(0..50) * MINUTE);
                sim.trips[i].yard_at = Some(at);
                sim.camera(i, &format!("CAM-{yard}"), at);
                sim.qr(i, &format!("QR-{yard}"), at, 0.5);
                g.in_yard.push(i);
                // The agencies' checks and the fee, as service calls at their times: the fee is
                // assessed on arrival in the yard and paid once the checks are done.
                let required = checks::required_for(&g.gate, &sim.trips[i].quarantine);
                let (acts, cleared, _rejected) = plan_checks(
                    &mut sim.ops,
                    &sim.rates,
                    &required,
                    at,
                    sim.trips[i].perishable,
                );
                sim.trips[i].checked_at = cleared;
                let prepaid = sim.trips[i].prepaid;
                if !prepaid {
                    sim.schedule(at, i, Act::Assess);
                }
                for (t, a) in acts {
                    sim.schedule(t, i, a);
                }
                if let (Some(c), false) = (cleared, prepaid) {
                    let online = sim.ops.gen_bool(sim.rates.fee_online);
                    let after = if online {
                        minutes(&mut sim.ops, 2, 15)
                    } else {
                        minutes(&mut sim.ops, 10, 40)
                    };
                    sim.schedule(c + after, i, Act::Pay { online });
                }
            }
        }
        sim.report.secs_other += to.elapsed().as_secs_f64();
        // 5. The service calls due this hour: corrections, booking changes, the agencies'
        //    checks, fees.
        sim.run_acts(&mut gs, &mut by_arrival, &policy, h_end)
            .await?;
        let to = Instant::now();
        // 6. Crossings at the hour's capacity (and the day's cap): trucks the platform has
        //    cleared (checks passed, fee paid), in order.
        let cleared = if gs.iter().any(|g| !g.in_yard.is_empty()) {
            cleared_to_cross(db, &gate_list).await?
        } else {
            HashSet::new()
        };
        let day = slots::local_day(h);
        for (gi, g) in gs.iter_mut().enumerate() {
            for cap in g.gate.capacity.clone() {
                let d = cap.direction;
                let hour_cap = cut
                    .get(&(gi, d, h))
                    .copied()
                    .unwrap_or_else(|| capacity::nominal_capacity(&g.gate, d, h));
                let done = crossed_today.entry((gi, d)).or_insert((day, 0));
                if done.0 != day {
                    *done = (day, 0);
                }
                let c = hour_cap.min(cap.per_day - done.1).max(0);
                if c == 0 {
                    continue;
                }
                let ready_at = |t: &SimTrip| match (t.checked_at, t.paid_at) {
                    (Some(c), Some(p)) => Some(c.max(p)),
                    _ => None,
                };
                let mut ready: Vec<usize> = g
                    .in_yard
                    .iter()
                    .copied()
                    .filter(|&i| {
                        sim.trips[i].direction == d
                            && ready_at(&sim.trips[i]).is_some_and(|t| t < h_end)
                    })
                    .collect();
                let before = ready.len();
                ready.retain(|&i| cleared.contains(&sim.trips[i].id));
                sim.report.barrier_waits += before - ready.len();
                ready.sort_by_key(|&i| (!sim.trips[i].perishable, ready_at(&sim.trips[i])));
                let mut k = 0i64;
                let mut crossed = Vec::new();
                for i in ready {
                    if k >= c {
                        break;
                    }
                    let slot = h + (k * 60 / c) * MINUTE + sim.rng.gen_range(0..50_000_000);
                    let at = slot.max(ready_at(&sim.trips[i]).unwrap_or(h) + 5 * MINUTE);
                    if at >= h_end {
                        continue;
                    }
                    sim.trips[i].crossed_at = Some(at);
                    crossed.push(i);
                    k += 1;
                }
                done.1 += k;
                g.in_yard.retain(|i| !crossed.contains(i));
                let code = g.gate.code.clone();
                for i in crossed {
                    let at = sim.trips[i].crossed_at.unwrap_or(h);
                    crossed_trips.push((sim.trips[i].id.clone(), at));
                    sim.camera(i, &format!("CAM-{code}-X"), at);
                    sim.qr(i, &format!("QR-{code}-X"), at, 0.8);
                    sim.report.crossed += 1;
                }
            }
        }
        sim.report.secs_other += to.elapsed().as_secs_f64();
        // 7. Events delivered by the hour's end.
        let ti = Instant::now();
        sim.deliver(&ing, h_end).await?;
        sim.report.secs_ingest += ti.elapsed().as_secs_f64();
        let to = Instant::now();
        // 8. The queue at the hour's end.
        let mut total = 0;
        for (gi, g) in gs.iter().enumerate() {
            let q = g.waiting.len() + g.in_yard.len();
            total += q;
            if q > queue_peak[gi].0 {
                queue_peak[gi] = (q, h_end);
            }
        }
        if total > sim.report.peak_total_queue {
            sim.report.peak_total_queue = total;
            sim.report.peak_total_queue_at = slots::local_label(h_end);
        }
        // 9. Every hour, the queue job as `tinhso serve` runs it ([`queue::tick`]): no-shows to
        //    standby, standby trucks seated, trucks called forward; the enterprises of trucks
        //    that never came cancel those trips; refunds of fees paid for trips that never
        //    crossed opened, approved and paid back by the fee officer.
        let tick = queue::tick(db, &sim.ctx, &queues, h_end).await?;
        let snap = queues.current();
        sim.report.queue_calls += check_calls(&snap, &tick.calls, &mut called, &policy, |id| {
            by_id
                .get(id)
                .map(|&i| &sim.trips[i])
                .is_some_and(|t| t.arrive_at.is_some_and(|a| a < h_end) && !t.cancelled)
        })?;
        let mut gone = Vec::new();
        for r in tick.released.iter().filter(|r| r.status == "no_show") {
            sim.report.no_shows_swept += 1;
            if let Some(&i) = by_id.get(&r.booking.trip_id) {
                sim.trips[i].swept = true;
                sim.trips[i].booked = false;
                if sim.trips[i].arrive_at.is_none() && !sim.trips[i].cancelled {
                    gone.push(i);
                }
            }
        }
        for b in &tick.seated {
            sim.report.standby_seated += 1;
            if let Some(&i) = by_id.get(&b.trip_id) {
                sim.trips[i].booked = true;
            }
        }
        for i in gone {
            let code = sim.trips[i].code.clone();
            match declaration::cancel_at(
                db,
                &sim.ctx,
                &code,
                "Xe không đến; đơn hàng bị huỷ",
                h_end,
            )
            .await
            {
                Ok(_) => {
                    sim.trips[i].cancelled = true;
                    sim.report.no_shows_cancelled += 1;
                }
                Err(e) if e.status() < 500 => sim.refused("no-show cancel", i, &e),
                Err(e) => return Err(e),
            }
        }
        sim.report.secs_queue += to.elapsed().as_secs_f64();
        sim.settle_refunds(h_end, false).await?;
        h = h_end;
        if (h - start) % slots::DAY == 0 || h >= stop {
            let wall = day_started.elapsed().as_secs_f64();
            sim.report.secs_per_day.push(wall);
            let now = DayMark::of(&sim.report);
            sim.report.days_detail.push(now.since(&day_mark, wall));
            day_mark = now;
            if sql_profile::is_on() {
                let next = sim.report.days_detail.len() + 1;
                sql_profile::mark(&if h < stop {
                    format!("day {next}")
                } else {
                    "end".to_string()
                });
                sql_profile::dump()?;
            }
            day_started = Instant::now();
        }
    }
    // Whatever is still in flight is delivered (late events after the last hour).
    let ti = Instant::now();
    sim.deliver(&ing, i64::MAX).await?;
    sim.report.secs_ingest += ti.elapsed().as_secs_f64();
    // The invariants: a broken one fails the run, loudly.
    if sim.report.calls_refused > 0 || sim.report.correction_refused > 0 {
        return Err(AppError::internal(format!(
            "simulation: {} service calls and {} corrections refused that should not be: {}",
            sim.report.calls_refused,
            sim.report.correction_refused,
            sim.report.refusal_samples.join("; ")
        )));
    }
    // The fee officer settles every refund still open (the run's books closed).
    sim.settle_refunds(stop, true).await?;
    let to = Instant::now();
    sim.report.peak_rss_days_kib = peak_rss_kib();
    // Every end check on one connection (see [`check_invariants_on`]), set-based.
    let mut conn = db.read_conn().await?;
    let backend = db.backend();
    let mut inv = check_invariants_on(&mut conn, backend, &gate_list, &crossed_trips).await?;
    inv.refunded_trips = check_refunds_on(&mut conn).await?;
    (inv.queue_calls, inv.queue_calls_exit_unseen) = check_queue_calls_on(&mut conn).await?;
    if inv.queue_calls != sim.report.queue_calls {
        return Err(AppError::internal(format!(
            "simulation: {} queue calls recorded, {} made",
            inv.queue_calls, sim.report.queue_calls
        )));
    }
    let graced: Vec<(String, i64)> = sim
        .trips
        .iter()
        .filter(|t| t.graced)
        .filter_map(|t| Some((t.id.clone(), t.grace_from?)))
        .collect();
    inv.grace_trips = check_grace_on(
        &mut conn,
        backend,
        &graced,
        policy.extension_minutes * MINUTE,
    )
    .await?;
    let prepaid: Vec<String> = sim
        .trips
        .iter()
        .filter(|t| t.prepaid && t.paid_at.is_some())
        .map(|t| t.id.clone())
        .collect();
    inv.prepaid_trips = check_prepaid_on(&mut conn, backend, &prepaid).await?;
    let joined: Vec<(String, i64)> = sim
        .trips
        .iter()
        .filter_map(|t| Some((t.id.clone(), t.standby_at?)))
        .collect();
    let swept: Vec<String> = sim
        .trips
        .iter()
        .filter(|t| t.swept)
        .map(|t| t.id.clone())
        .collect();
    inv.standby_trips = check_standby_on(
        &mut conn,
        backend,
        &swept,
        &joined,
        sim.report.standby_seated,
    )
    .await?;
    drop(conn);
    sim.report.peak_rss_end_kib = peak_rss_kib();
    sim.report.invariants = Some(inv);
    sim.report.secs_invariants += to.elapsed().as_secs_f64();
    // Figures per gate.
    let mut all_dwell = Vec::new();
    for (gi, g) in gs.iter().enumerate() {
        let mine: Vec<&SimTrip> = sim
            .trips
            .iter()
            .filter(|t| t.gate == gi && !t.id.is_empty())
            .collect();
        let mut dwell: Vec<f64> = mine
            .iter()
            .filter_map(|t| Some((t.crossed_at? - t.arrive_at?) as f64 / MINUTE as f64))
            .collect();
        dwell.sort_by(f64::total_cmp);
        all_dwell.extend(dwell.iter().copied());
        sim.report.gates.push(GateReport {
            gate: g.gate.code.clone(),
            declared: mine.len(),
            arrived: mine
                .iter()
                .filter(|t| t.arrive_at.is_some_and(|a| a < stop))
                .count(),
            crossed: dwell.len(),
            waiting_at_end: g.waiting.len() + g.in_yard.len(),
            peak_queue: queue_peak[gi].0,
            peak_queue_at: if queue_peak[gi].1 > 0 {
                slots::local_label(queue_peak[gi].1)
            } else {
                String::new()
            },
            yard_capacity: g.alert_capacity,
            mean_dwell_min: mean(&dwell),
            p90_dwell_min: pct(&dwell, 0.9),
        });
    }
    all_dwell.sort_by(f64::total_cmp);
    sim.report.mean_dwell_min = mean(&all_dwell);
    sim.report.p90_dwell_min = pct(&all_dwell, 0.9);
    sim.report.elapsed_s = t0.elapsed().as_secs_f64();
    sql_profile::dump()?;
    Ok(sim.report)
}

/// The local start of the day after the simulation's last day (where a forecast would start).
pub fn end_of(opts: &Options) -> i64 {
    slots::hour_start_of(opts.start, 0).unwrap_or_default() + i64::from(opts.days) * slots::DAY
}

/// Per-gate counts as a map, for tests and the CLI.
pub fn by_gate(r: &Report) -> BTreeMap<String, GateReport> {
    r.gates
        .iter()
        .map(|g| (g.gate.clone(), g.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_has_its_mean() {
        let mut rng = StdRng::seed_from_u64(7);
        for mean in [0.5, 4.0, 30.0, 120.0] {
            let n = 20_000;
            let sum: usize = (0..n).map(|_| poisson(&mut rng, mean)).sum();
            let m = sum as f64 / n as f64;
            assert!(
                (m - mean).abs() < 0.05 * mean + 0.05,
                "mean {mean}: got {m}"
            );
        }
        assert_eq!(poisson(&mut rng, 0.0), 0);
    }

    #[test]
    fn bad_options_are_field_errors() {
        let o = Options {
            days: 0,
            scale: f64::NAN,
            booking_share: 2.0,
            gates: vec!["DD".into()],
            ..Options::new(Scenario::Normal)
        };
        let e = o.check().unwrap_err();
        let fields: Vec<&str> = e.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["days", "scale", "booking_share", "gates"]);
        assert!(e
            .fields
            .iter()
            .all(|f| !f.message_vi.is_empty() && !f.message_en.is_empty()));
        assert!(Options::new(Scenario::Crisis).check().is_ok());
        assert_eq!(Scenario::parse("fruit-peak"), Some(Scenario::FruitPeak));
        assert_eq!(Scenario::parse("storm"), None);
    }

    #[test]
    fn shares_and_mst_are_valid() {
        let total: f64 = GATE_SHARES.iter().map(|s| s.1).sum();
        assert!((total - 1.0).abs() < 1e-9);
        for (g, _) in GATE_SHARES {
            let mix: f64 = direction_mix(g).iter().map(|d| d.1).sum();
            assert!((mix - 1.0).abs() < 1e-9, "{g}");
        }
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..200 {
            assert!(tinhso_kernel::validate::mst(&random_mst(&mut rng)).is_ok());
        }
        // July (harvest) is above the year's mean, February (Tết) below.
        let mean: f64 = MONTH_FACTOR.iter().sum::<f64>() / 12.0;
        assert!(MONTH_FACTOR[6] > mean && MONTH_FACTOR[1] < mean);
    }
}
