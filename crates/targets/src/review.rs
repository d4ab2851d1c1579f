//! The plan's annual review (báo cáo đánh giá kết quả thực hiện kế hoạch): for a plan and a
//! year, the consolidated provincial report built from the board ([`crate::board::board_for`]
//! over the Decree 09 year window of that year: live indicators, and the current version of
//! the latest reported period ending by its end), as a PDF ([`pdf`]) and as a spreadsheet
//! ([`xlsx`]) of the same table.
//!
//! The annual review also says where its reported figures come from: section IV lists each
//! value taken from an agency's approved report (agency, regime, period, version, approved
//! when and by whom) and an annex the state of every agency's yearly report
//! ([`crate::review_reports`]); the spreadsheet carries both as two more sheets.
//!
//! The PDF follows the heading of a Vietnamese administrative document (Decree 30/2020): the
//! issuing body (UBND tỉnh Lạng Sơn), the number left blank for the records office to fill
//! when it registers the report, place and date; then the title, a summary (on track / at risk
//! / off track / no data per pillar), a table per pillar and the targets without data.

use crate::board::{self, Line, Status};
use crate::engine::{Direction, Registry, Source};
use crate::period::Period;
use crate::plan::{self, StoredPlan, PILLARS};
use crate::review_reports::{self, when, Reporting};
use crate::web::{pillar_title, with_unit};
use chrono::{Datelike, NaiveDate};
use tinhso_http::Lang;
use tinhso_kernel::{AppError, FieldErrors, Invalid};
use tinhso_pdf::{Align, Document, Margins, Meta, Para, Style, MM};
use tinhso_services::documents::{heading, Issuer};
use tinhso_store::Db;

/// The issuing body of the provincial report.
pub const ISSUER_PARENT: &str = "";
pub const ISSUER: &str = "Ủy ban nhân dân tỉnh Lạng Sơn";
pub const PLACE: &str = "Lạng Sơn";

/// Years a review can be asked for.
pub const YEARS: std::ops::RangeInclusive<i32> = 2020..=2100;

/// The review of one plan for one year.
#[derive(Debug, Clone)]
pub struct Review {
    /// The plan reviewed (the weekly digest: every imported plan).
    pub plans: Vec<StoredPlan>,
    pub year: i32,
    /// The Decree 09 year window the live values are computed over.
    pub period: Period,
    /// The date the statuses are computed for (the window's last day, or today if earlier).
    pub as_of: NaiveDate,
    /// The date the report is made.
    pub made_on: NaiveDate,
    pub lines: Vec<Line>,
    /// The agencies' reports behind the review (the annual review only; the digest: none).
    pub reporting: Option<Reporting>,
}

/// Counts of one pillar (or of the whole plan).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub pillar: String,
    pub targets: usize,
    pub on_track: usize,
    pub at_risk: usize,
    pub off_track: usize,
    pub no_data: usize,
}

impl Counts {
    fn add(&mut self, s: Status) {
        self.targets += 1;
        match s {
            Status::OnTrack => self.on_track += 1,
            Status::AtRisk => self.at_risk += 1,
            Status::OffTrack => self.off_track += 1,
            Status::NoData => self.no_data += 1,
        }
    }
}

impl Review {
    /// Counts per pillar (in the plan's pillar order, pillars with targets only) and the total.
    pub fn counts(&self) -> (Vec<Counts>, Counts) {
        counts(&self.lines)
    }

    /// The lines of one pillar.
    pub fn pillar(&self, p: &str) -> Vec<&Line> {
        self.lines.iter().filter(|l| l.target.pillar == p).collect()
    }
}

/// Counts per pillar and in total, of board lines.
pub fn counts(lines: &[Line]) -> (Vec<Counts>, Counts) {
    let mut total = Counts {
        pillar: "all".into(),
        ..Default::default()
    };
    let mut per = Vec::new();
    for p in PILLARS {
        let mut c = Counts {
            pillar: p.to_string(),
            ..Default::default()
        };
        for l in lines.iter().filter(|l| l.target.pillar == *p) {
            c.add(l.status);
            total.add(l.status);
        }
        if c.targets > 0 {
            per.push(c);
        }
    }
    (per, total)
}

fn invalid_year() -> Invalid {
    Invalid::new(
        "year",
        format!(
            "Năm báo cáo là một số từ {} đến {}, ví dụ 2026",
            YEARS.start(),
            YEARS.end()
        ),
        format!(
            "The year is a number from {} to {}, e.g. 2026",
            YEARS.start(),
            YEARS.end()
        ),
    )
}

/// Check the query: the year (required) and the plan (default: the latest plan made by that
/// year, else the first one). All problems together, as field errors.
pub async fn resolve(
    db: &Db,
    year: Option<&str>,
    plan_code: Option<&str>,
) -> Result<(StoredPlan, i32), AppError> {
    let mut errs = FieldErrors::new();
    let year = match year.map(str::trim).filter(|y| !y.is_empty()) {
        None => {
            errs.push(
                "year",
                Invalid::new(
                    "required",
                    "Chọn năm báo cáo, ví dụ ?year=2026",
                    "Choose the year, e.g. ?year=2026",
                ),
            );
            None
        }
        Some(y) => match y.parse::<i32>() {
            Ok(y) if YEARS.contains(&y) => Some(y),
            _ => {
                errs.push("year", invalid_year());
                None
            }
        },
    };
    let plans = plan::plans(db).await?;
    let plan = match plan_code.map(str::trim).filter(|p| !p.is_empty()) {
        Some(code) => {
            let p = plans.iter().find(|p| p.code == code).cloned();
            if p.is_none() {
                errs.push(
                    "plan",
                    Invalid::new(
                        "plan_unknown",
                        format!("Không có kế hoạch số «{code}»"),
                        format!("There is no plan “{code}”"),
                    ),
                );
            }
            p
        }
        None => {
            let by_year = plans
                .iter()
                .rfind(|p| year.is_none_or(|y| p.year <= y))
                .or(plans.first())
                .cloned();
            if by_year.is_none() {
                errs.push(
                    "plan",
                    Invalid::new(
                        "plan_none",
                        "Chưa có kế hoạch nào được nạp",
                        "No plan has been imported",
                    ),
                );
            }
            by_year
        }
    };
    errs.into_result()?;
    match (plan, year) {
        (Some(p), Some(y)) => Ok((p, y)),
        _ => Err(AppError::internal("review: unchecked input")),
    }
}

/// The review of `plan` for `year`, made on `today`.
pub async fn review(
    db: &Db,
    registry: &Registry,
    plan: StoredPlan,
    year: i32,
    today: NaiveDate,
) -> Result<Review, AppError> {
    let period = Period::Year { year };
    let window = period
        .window()
        .ok_or_else(|| AppError::internal(format!("period {period} has no window")))?;
    let lines: Vec<Line> = board::board_for(db, registry, today, period)
        .await?
        .into_iter()
        .filter(|l| l.target.plan_code == plan.code)
        .collect();
    let reported: std::collections::BTreeSet<String> = lines
        .iter()
        .filter(|l| l.source == Source::Reported)
        .map(|l| l.target.indicator_key.clone())
        .collect();
    let reporting = review_reports::reporting(db, year, &reported, today).await?;
    Ok(Review {
        plans: vec![plan],
        year,
        period,
        as_of: today.min(window.last_day()),
        made_on: today,
        lines,
        reporting: Some(reporting),
    })
}

// ---------------------------------------------------------------- cells shared by both forms

/// "tối thiểu 80%", "tối đa hạng 10": in words, since the documents' Noto Sans faces have no
/// glyph for ≥ and ≤ (they would print as empty boxes).
pub fn target_text(l: &Line, lang: Lang) -> String {
    let t = &l.target;
    let sign = match t.direction {
        Direction::AtLeast => lang.s("tối thiểu", "at least"),
        Direction::AtMost => lang.s("tối đa", "at most"),
    };
    format!("{sign} {}", with_unit(t.target_value, t.kind, lang))
}

/// The base value, or "—".
pub fn base_text(l: &Line, lang: Lang) -> String {
    l.target
        .base_value
        .map(|v| with_unit(v, l.target.kind, lang))
        .unwrap_or_else(|| "—".into())
}

/// The current value, or "chưa có".
pub fn current_text(l: &Line, lang: Lang) -> String {
    match l.current.as_ref().and_then(|c| c.value) {
        Some(v) => with_unit(v, l.target.kind, lang),
        None => lang.s("chưa có", "none yet").to_string(),
    }
}

/// "Đo trực tiếp, năm 2026" / "Báo cáo, năm 2025 (v2)".
pub fn source_text(l: &Line, lang: Lang) -> String {
    let what = match l.source {
        Source::Live => lang.s("Đo trực tiếp", "Measured live"),
        Source::Reported => lang.s("Báo cáo", "Reported"),
    };
    match &l.current {
        Some(c) if c.value.is_some() => {
            let label = Period::parse(&c.period)
                .map(|p| {
                    let (vi, en) = p.label();
                    lang.s(&vi, &en).to_string()
                })
                .unwrap_or_else(|| c.period.clone());
            let v = c.version.map(|v| format!(" (v{v})")).unwrap_or_default();
            let cov = c
                .coverage
                .as_ref()
                .map(|k| format!(", {}", k.label(!lang.is_en())))
                .unwrap_or_default();
            format!("{what}, {label}{v}{cov}")
        }
        _ => what.to_string(),
    }
}

pub fn status_text(s: Status, lang: Lang) -> String {
    let (vi, en) = s.name();
    lang.s(vi, en).to_string()
}

// ---------------------------------------------------------------- PDF

fn cell(text: &str) -> Para {
    Para::new(text, Style::Regular, 8.5).after(0.0)
}

fn head(text: &str) -> Para {
    Para::new(text, Style::Bold, 8.5)
        .align(Align::Center)
        .after(0.0)
}

/// What a document built from board lines says about itself.
#[derive(Debug, Clone)]
pub struct Doc {
    /// The line under "BÁO CÁO" (or the digest's title).
    pub title: String,
    /// The first heading line ("BÁO CÁO"; the digest: "BẢN TIN").
    pub kind: String,
    /// The number printed under the issuer, when the document is registered (báo cáo).
    pub number: Option<String>,
    pub subject: String,
}

/// The annual review's own document description.
pub fn annual_doc(r: &Review) -> Doc {
    let code = r.plans.first().map(|p| p.code.as_str()).unwrap_or_default();
    Doc {
        title: format!("Kết quả thực hiện Kế hoạch số {code} năm {}", r.year),
        kind: "BÁO CÁO".into(),
        // Left blank for the records office to fill when it registers the report.
        number: Some("        /BC-UBND".into()),
        subject: r
            .plans
            .first()
            .map(|p| p.title_vi.clone())
            .unwrap_or_default(),
    }
}

/// The review as PDF (Vietnamese).
pub fn pdf(r: &Review) -> Vec<u8> {
    document(r, &annual_doc(r))
}

/// A document of board lines: heading, title, summary per pillar, a table per pillar and the
/// targets without data.
pub fn document(r: &Review, doc: &Doc) -> Vec<u8> {
    let lang = Lang::Vi;
    let title = doc.title.clone();
    let mut d = Document::with_margins(
        Meta {
            title: format!("{} {title}", doc.kind.to_lowercase()),
            author: ISSUER.into(),
            subject: doc.subject.clone(),
            keywords: format!(
                "{} {} báo cáo đánh giá",
                r.plans
                    .iter()
                    .map(|p| p.code.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                r.year
            ),
            footer: format!(
                "{title} · số liệu tính đến ngày {}",
                r.as_of.format("%d/%m/%Y")
            ),
            ..Default::default()
        },
        Margins {
            top: 20.0 * MM,
            bottom: 20.0 * MM,
            left: 25.0 * MM,
            right: 15.0 * MM,
        },
    );
    let issuer = Issuer {
        parent_name: ISSUER_PARENT.into(),
        name: ISSUER.into(),
        place: PLACE.into(),
    };
    let date = (r.made_on.day(), r.made_on.month(), r.made_on.year());
    d.columns(heading(&issuer, doc.number.as_deref(), date));
    d.space(8.0);
    d.para(
        Para::new(&doc.kind, Style::Bold, 14.0)
            .align(Align::Center)
            .after(0.0),
    );
    d.para(
        Para::new(&title, Style::Bold, 12.0)
            .align(Align::Center)
            .after(2.0),
    );
    for p in &r.plans {
        d.para(
            Para::new(&p.title_vi, Style::Italic, 10.5)
                .align(Align::Center)
                .after(2.0),
        );
    }
    d.space(6.0);
    let (vi, _) = r.period.label();
    let window = r.period.window();
    d.para(Para::new(
        &format!(
            "Số liệu đo trực tiếp trên nền tảng Tỉnh số tính trong kỳ báo cáo {vi} theo Nghị định 09/2019/NĐ-CP{}; số liệu do các cơ quan báo cáo lấy phiên bản mới nhất của kỳ gần nhất kết thúc trong kỳ này. Trạng thái đánh giá tính đến ngày {} theo tiến độ tuyến tính từ năm cơ sở {} đến năm đích của từng mục tiêu.",
            window
                .map(|w| format!(
                    " (từ {} đến {})",
                    w.start.format("%d/%m/%Y"),
                    w.last_day().format("%d/%m/%Y")
                ))
                .unwrap_or_default(),
            r.as_of.format("%d/%m/%Y"),
            r.plans
                .iter()
                .map(|p| p.base_year.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Style::Regular,
        10.5,
    ).after(6.0));

    // I. Summary.
    let (per, total) = r.counts();
    d.para(Para::new("I. TỔNG HỢP", Style::Bold, 11.5).after(4.0));
    let shares = [3.0, 1.2, 1.3, 1.4, 1.3, 1.3];
    let header = vec![
        head("Trụ cột"),
        head("Số mục tiêu"),
        head(&status_text(Status::OnTrack, lang)),
        head(&status_text(Status::AtRisk, lang)),
        head(&status_text(Status::OffTrack, lang)),
        head(&status_text(Status::NoData, lang)),
    ];
    let row = |name: &str, c: &Counts, style: Style| {
        let n = |v: usize| {
            Para::new(&v.to_string(), style, 9.0)
                .align(Align::Center)
                .after(0.0)
        };
        vec![
            Para::new(name, style, 9.0).after(0.0),
            n(c.targets),
            n(c.on_track),
            n(c.at_risk),
            n(c.off_track),
            n(c.no_data),
        ]
    };
    let mut rows: Vec<Vec<Para>> = per
        .iter()
        .map(|c| row(&pillar_title(&c.pillar, lang), c, Style::Regular))
        .collect();
    rows.push(row("Tổng cộng", &total, Style::Bold));
    d.table(&shares, Some(header), rows);
    d.space(8.0);

    // II. A table per pillar.
    d.para(Para::new("II. KẾT QUẢ THEO TRỤ CỘT", Style::Bold, 11.5).after(4.0));
    let shares = [0.5, 3.8, 1.0, 1.7, 1.3, 2.2, 1.5];
    for (i, c) in per.iter().enumerate() {
        d.para(
            Para::new(
                &format!("{}. {}", i + 1, pillar_title(&c.pillar, lang)),
                Style::Bold,
                10.5,
            )
            .before(4.0)
            .after(3.0),
        );
        let header = vec![
            head("TT"),
            head("Mục tiêu"),
            head("Cơ sở"),
            head("Chỉ tiêu"),
            head("Hiện tại"),
            head("Nguồn số liệu"),
            head("Trạng thái"),
        ];
        let rows = r
            .pillar(&c.pillar)
            .into_iter()
            .enumerate()
            .map(|(j, l)| {
                vec![
                    cell(&(j + 1).to_string()).align(Align::Center),
                    cell(&format!(
                        "{} (năm {})",
                        l.target.name_vi, l.target.horizon_year
                    )),
                    cell(&base_text(l, lang)).align(Align::Center),
                    cell(&target_text(l, lang)).align(Align::Center),
                    cell(&current_text(l, lang)).align(Align::Center),
                    cell(&source_text(l, lang)),
                    cell(&status_text(l.status, lang)),
                ]
            })
            .collect();
        d.table(&shares, Some(header), rows);
    }
    d.space(8.0);

    // III. Targets without data.
    d.para(Para::new("III. MỤC TIÊU CHƯA CÓ SỐ LIỆU", Style::Bold, 11.5).after(4.0));
    let missing: Vec<&Line> = r
        .lines
        .iter()
        .filter(|l| l.status == Status::NoData)
        .collect();
    if missing.is_empty() {
        d.para(Para::new(
            "Tất cả mục tiêu đều đã có số liệu.",
            Style::Regular,
            10.5,
        ));
    }
    for l in missing {
        let how = match l.source {
            Source::Live => "đo trực tiếp, chưa có dữ liệu trong kỳ",
            Source::Reported => "cần cơ quan báo cáo",
        };
        d.para(
            Para::new(
                &format!(
                    "– {} (năm {}): {} — chỉ số {}",
                    l.target.name_vi, l.target.horizon_year, how, l.target.indicator_key
                ),
                Style::Regular,
                10.0,
            )
            .indent(0.0),
        );
    }
    if let Some(rep) = &r.reporting {
        reporting_sections(&mut d, r, rep);
    }
    d.finish()
}

/// The targets (names) wired to an indicator, for the sources table.
fn targets_of(r: &Review, indicator: &str) -> String {
    r.lines
        .iter()
        .filter(|l| l.target.indicator_key == indicator)
        .map(|l| format!("{} (năm {})", l.target.name_vi, l.target.horizon_year))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The value of a source in the unit of the targets wired to its indicator.
fn source_value(r: &Review, indicator: &str, v: f64) -> String {
    r.lines
        .iter()
        .find(|l| l.target.indicator_key == indicator)
        .map(|l| with_unit(v, l.target.kind, Lang::Vi))
        .unwrap_or_else(|| v.to_string())
}

/// The report a source came from: "KH226-NAM, năm 2027, phiên bản 4".
fn report_text(s: &review_reports::Source) -> String {
    let label = Period::parse(&s.period)
        .map(|p| p.label().0)
        .unwrap_or_else(|| s.period.clone());
    format!("{}, {label}, phiên bản {}", s.regime_code, s.report_version)
}

/// IV. the values taken from the agencies' approved reports; annex: each agency's report.
fn reporting_sections(d: &mut Document, r: &Review, rep: &Reporting) {
    d.space(8.0);
    d.para(
        Para::new(
            "IV. SỐ LIỆU TỪ BÁO CÁO CỦA CÁC CƠ QUAN (ĐÃ DUYỆT)",
            Style::Bold,
            11.5,
        )
        .after(4.0),
    );
    if rep.sources.is_empty() {
        d.para(Para::new(
            "Chưa có báo cáo nào được duyệt có số liệu cho các chỉ tiêu do cơ quan báo cáo trong năm.",
            Style::Regular,
            10.5,
        ));
    } else {
        d.para(
            Para::new(
                "Chỉ báo cáo đã được cơ quan nhận báo cáo duyệt mới được dùng làm số liệu.",
                Style::Italic,
                10.0,
            )
            .after(3.0),
        );
        let shares = [0.5, 2.6, 2.2, 1.1, 2.0, 1.5, 1.9];
        let header = vec![
            head("TT"),
            head("Mục tiêu"),
            head("Cơ quan báo cáo"),
            head("Giá trị"),
            head("Báo cáo"),
            head("Duyệt lúc"),
            head("Người duyệt"),
        ];
        let rows = rep
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| {
                vec![
                    cell(&(i + 1).to_string()).align(Align::Center),
                    cell(&targets_of(r, &s.indicator)),
                    cell(&s.agency_name),
                    cell(&source_value(r, &s.indicator, s.value)).align(Align::Center),
                    cell(&report_text(s)),
                    cell(&when(s.approved_at)),
                    cell(&s.approver()),
                ]
            })
            .collect();
        d.table(&shares, Some(header), rows);
    }
    d.space(8.0);
    d.para(
        Para::new(
            "PHỤ LỤC. TÌNH HÌNH BÁO CÁO CỦA CÁC CƠ QUAN",
            Style::Bold,
            11.5,
        )
        .align(Align::Center)
        .after(2.0),
    );
    d.para(
        Para::new(
            &format!(
                "Báo cáo {} năm {} (hạn gửi theo chế độ báo cáo), tính đến ngày {}",
                rep.regime,
                rep.period,
                r.made_on.format("%d/%m/%Y")
            ),
            Style::Italic,
            10.0,
        )
        .align(Align::Center)
        .after(4.0),
    );
    if rep.agencies.is_empty() {
        d.para(Para::new(
            "Chưa mở nhiệm vụ báo cáo nào cho năm này.",
            Style::Regular,
            10.5,
        ));
        return;
    }
    let tally = rep
        .tally()
        .into_iter()
        .map(|(s, n)| format!("{}: {n}", s.name().0))
        .collect::<Vec<_>>()
        .join("; ");
    d.para(
        Para::new(
            &format!("{} cơ quan phải báo cáo. {tally}.", rep.agencies.len()),
            Style::Regular,
            10.5,
        )
        .after(4.0),
    );
    if rep
        .agencies
        .iter()
        .any(|a| a.standing == review_reports::Standing::Withheld)
    {
        d.para(
            Para::new(
                "Trước khi được duyệt, tình hình báo cáo của một cơ quan chỉ cơ quan báo cáo và cơ quan nhận báo cáo xem được.",
                Style::Italic,
                10.0,
            )
            .after(4.0),
        );
    }
    let shares = [0.5, 3.0, 1.6, 1.7, 1.6, 1.6, 2.0];
    let header = vec![
        head("TT"),
        head("Cơ quan"),
        head("Tình hình"),
        head("Hạn gửi"),
        head("Gửi lúc"),
        head("Duyệt / trả lại lúc"),
        head("Ghi chú"),
    ];
    let rows = rep
        .agencies
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let due = NaiveDate::parse_from_str(&a.due_date, "%Y-%m-%d")
                .map(|d| d.format("%d/%m/%Y").to_string())
                .unwrap_or_else(|_| a.due_date.clone());
            vec![
                cell(&(i + 1).to_string()).align(Align::Center),
                cell(&a.agency_name),
                cell(a.standing.name().0),
                cell(&due).align(Align::Center),
                cell(&a.submitted_at.map(when).unwrap_or_else(|| "—".into())),
                cell(&a.decided_at.map(when).unwrap_or_else(|| "—".into())),
                cell(&agency_note(a)),
            ]
        })
        .collect();
    d.table(&shares, Some(header), rows);
}

/// "Gửi muộn; đã báo quá hạn ngày 24/11/2027".
fn agency_note(a: &review_reports::AgencyReport) -> String {
    let mut notes = Vec::new();
    if a.submitted_late {
        notes.push("Gửi muộn".to_string());
    }
    if let Some(e) = &a.escalated_on {
        let e = NaiveDate::parse_from_str(e, "%Y-%m-%d")
            .map(|d| d.format("%d/%m/%Y").to_string())
            .unwrap_or_else(|_| e.clone());
        notes.push(format!("đã báo quá hạn ngày {e}"));
    }
    notes.join("; ")
}

// ---------------------------------------------------------------- spreadsheet

/// The column headers of the spreadsheet (Vietnamese, English in brackets).
pub const XLSX_HEADER: &[&str] = &[
    "Trụ cột (pillar)",
    "Mã mục tiêu (target id)",
    "Mục tiêu (target)",
    "Năm đích (horizon)",
    "Đơn vị (unit)",
    "Chiều (direction)",
    "Giá trị cơ sở (base)",
    "Chỉ tiêu (target value)",
    "Giá trị hiện tại (current value)",
    "Giá trị kỳ vọng (expected now)",
    "Nguồn (source)",
    "Kỳ số liệu (period)",
    "Phiên bản (version)",
    "Chỉ số (indicator)",
    "Trạng thái (status)",
];

/// The review as a spreadsheet (.xlsx): one row per target, numbers as numbers.
pub fn xlsx(r: &Review) -> Vec<u8> {
    use crate::xlsx::Cell;
    let lang = Lang::Vi;
    let mut rows: Vec<Vec<Cell>> = vec![XLSX_HEADER.iter().map(|h| Cell::text(h)).collect()];
    for l in &r.lines {
        let t = &l.target;
        let c = l.current.as_ref();
        rows.push(vec![
            Cell::text(&pillar_title(&t.pillar, lang)),
            Cell::text(&t.id),
            Cell::text(&t.name_vi),
            Cell::Number(f64::from(t.horizon_year)),
            Cell::text(&t.unit),
            Cell::text(t.direction.as_str()),
            t.base_value.map(Cell::Number).unwrap_or(Cell::Empty),
            Cell::Number(t.target_value),
            c.and_then(|c| c.value)
                .map(Cell::Number)
                .unwrap_or(Cell::Empty),
            Cell::Number(l.expected),
            Cell::text(match l.source {
                Source::Live => "live",
                Source::Reported => "reported",
            }),
            c.filter(|c| c.value.is_some())
                .map(|c| Cell::text(&c.period))
                .unwrap_or(Cell::Empty),
            c.and_then(|c| c.version)
                .map(|v| Cell::Number(v as f64))
                .unwrap_or(Cell::Empty),
            Cell::text(&t.indicator_key),
            Cell::text(&status_text(l.status, lang)),
        ]);
    }
    let Some(rep) = &r.reporting else {
        return crate::xlsx::workbook(&format!("Năm {}", r.year), &rows);
    };
    let mut sources: Vec<Vec<Cell>> = vec![SOURCES_HEADER.iter().map(|h| Cell::text(h)).collect()];
    for s in &rep.sources {
        sources.push(vec![
            Cell::text(&s.indicator),
            Cell::text(&targets_of(r, &s.indicator)),
            Cell::text(&s.agency_code),
            Cell::text(&s.agency_name),
            Cell::Number(s.value),
            Cell::Number(s.value_version as f64),
            Cell::text(&s.regime_code),
            Cell::text(&s.period),
            Cell::Number(s.report_version as f64),
            Cell::text(&s.task_id),
            Cell::text(&when(s.approved_at)),
            Cell::text(&s.approver()),
        ]);
    }
    let mut agencies: Vec<Vec<Cell>> =
        vec![AGENCIES_HEADER.iter().map(|h| Cell::text(h)).collect()];
    let opt = |t: Option<i64>| t.map(|t| Cell::text(&when(t))).unwrap_or(Cell::Empty);
    for a in &rep.agencies {
        agencies.push(vec![
            Cell::text(&a.agency_code),
            Cell::text(&a.agency_name),
            Cell::text(a.standing.name().0),
            Cell::text(&a.due_date),
            opt(a.submitted_at),
            opt(a.decided_at),
            Cell::text(if a.submitted_late { "có" } else { "" }),
            a.escalated_on
                .as_deref()
                .map(Cell::text)
                .unwrap_or(Cell::Empty),
            Cell::text(&a.task_id),
        ]);
    }
    crate::xlsx::workbook_of(&[
        (&format!("Năm {}", r.year), &rows),
        ("Nguồn báo cáo", &sources),
        ("Tình hình báo cáo", &agencies),
    ])
}

/// The columns of the sheet of values taken from approved reports.
pub const SOURCES_HEADER: &[&str] = &[
    "Chỉ số (indicator)",
    "Mục tiêu (targets)",
    "Mã cơ quan (agency code)",
    "Cơ quan báo cáo (reporting agency)",
    "Giá trị (value)",
    "Phiên bản giá trị (value version)",
    "Chế độ báo cáo (regime)",
    "Kỳ báo cáo (period)",
    "Phiên bản báo cáo (report version)",
    "Mã nhiệm vụ (task id)",
    "Duyệt lúc (approved at)",
    "Người duyệt (approved by)",
];

/// The columns of the sheet of each agency's report of the year.
pub const AGENCIES_HEADER: &[&str] = &[
    "Mã cơ quan (agency code)",
    "Cơ quan (agency)",
    "Tình hình (standing)",
    "Hạn gửi (due date)",
    "Gửi lúc (submitted at)",
    "Duyệt / trả lại lúc (approved or returned at)",
    "Gửi muộn (late)",
    "Báo quá hạn ngày (escalated on)",
    "Mã nhiệm vụ (task id)",
];
