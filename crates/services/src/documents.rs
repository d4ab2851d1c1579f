//! Printable documents of the one-stop workflow as PDF (văn bản, biểu mẫu): form 01, the
//! receipt and appointment slip (giấy tiếp nhận hồ sơ và hẹn trả kết quả, Circular
//! 01/2018/TT-VPCP), and the electronic result (kết quả giải quyết thủ tục hành chính) with its
//! verification QR code and signature block. Layout follows Decree 30/2020/NĐ-CP (heading in
//! two columns, national motto, place and date), set in Noto Sans rather than Times New Roman,
//! which we may not redistribute.
//!
//! The builders are pure: the same data gives the same bytes.

use tinhso_pdf::{Align, Block, Document, Meta, Para, Qr, Style};

/// Side of the QR codes, in points (about 28 mm).
const QR_SIZE: f32 = 80.0;

/// A labelled value printed as "Nhãn: giá trị".
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    pub value: String,
}

impl Line {
    pub fn new(label: &str, value: &str) -> Line {
        Line {
            label: label.to_string(),
            value: value.to_string(),
        }
    }
}

/// The issuing body as printed in the heading.
#[derive(Debug, Clone)]
pub struct Issuer {
    /// The governing body (cơ quan chủ quản), e.g. "UBND TỈNH LẠNG SƠN"; may be empty.
    pub parent_name: String,
    pub name: String,
    /// Where the document is made (địa danh), e.g. "Lạng Sơn".
    pub place: String,
}

/// Form 01: what the applicant gets when the dossier is received.
#[derive(Debug, Clone)]
pub struct ReceiptDoc {
    pub issuer: Issuer,
    pub dossier_code: String,
    pub lookup_code: String,
    pub procedure: String,
    pub applicant: Vec<Line>,
    /// (document, form, state) per component.
    pub components: Vec<(String, String, String)>,
    pub time_limit: String,
    pub received_at: String,
    /// "dd/mm/yyyy", or a note when the date is not fixed yet.
    pub due: String,
    pub fee: String,
    pub channel: String,
    pub tracking_url: String,
    /// The officer who received it, when at the counter or accepted.
    pub officer: Option<String>,
    /// Day, month, year of the slip.
    pub date: (u32, u32, i32),
}

/// An electronic result, as signed.
#[derive(Debug, Clone)]
pub struct ResultDoc {
    pub issuer: Issuer,
    pub number: String,
    pub title: String,
    pub date: (u32, u32, i32),
    pub procedure: String,
    pub procedure_code: String,
    pub dossier_code: String,
    pub holder: String,
    pub submitted: String,
    /// The decision, as the approving leader wrote it (or the standard sentence).
    pub decision: String,
    pub details: Vec<Line>,
    /// Signer's position line, e.g. "TM. ỦY BAN NHÂN DÂN".
    pub signer_heading: String,
    pub signer_name: String,
    pub signed_at: String,
    pub agency_key: String,
    pub signer_key: String,
    pub verify_url: String,
    pub verify_code: String,
    /// Custom PDF entries carrying the signed payload and signatures.
    pub embedded: Vec<(String, String)>,
}

pub fn heading(
    issuer: &Issuer,
    number: Option<&str>,
    date: (u32, u32, i32),
) -> Vec<(f32, Vec<Block>)> {
    let mut left = Vec::new();
    if !issuer.parent_name.is_empty() {
        left.push(Block::Para(
            Para::new(&issuer.parent_name.to_uppercase(), Style::Regular, 11.0)
                .align(Align::Center)
                .after(0.0),
        ));
    }
    left.push(Block::Para(
        Para::new(&issuer.name.to_uppercase(), Style::Bold, 11.0)
            .align(Align::Center)
            .after(1.0),
    ));
    left.push(Block::Rule {
        width: 60.0,
        align: Align::Center,
        after: 4.0,
    });
    if let Some(n) = number {
        left.push(Block::Para(
            Para::new(&format!("Số: {n}"), Style::Regular, 11.0).align(Align::Center),
        ));
    }
    let right = vec![
        Block::Para(
            Para::new("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", Style::Bold, 11.0)
                .align(Align::Center)
                .after(0.0),
        ),
        Block::Para(
            Para::new("Độc lập - Tự do - Hạnh phúc", Style::Bold, 12.0)
                .align(Align::Center)
                .after(4.0),
        ),
        Block::Rule {
            width: 150.0,
            align: Align::Center,
            after: 4.0,
        },
        Block::Para(
            Para::new(
                &format!(
                    "{}, ngày {:02} tháng {:02} năm {}",
                    issuer.place, date.0, date.1, date.2
                ),
                Style::Italic,
                11.0,
            )
            .align(Align::Center),
        ),
    ];
    vec![(1.15, left), (1.35, right)]
}

pub(crate) fn labelled(l: &Line, size: f32) -> Para {
    Para::new(&format!("{}: ", l.label), Style::Regular, size).then(&l.value, Style::Bold)
}

/// Form 01 as PDF.
pub fn receipt_pdf(r: &ReceiptDoc) -> Vec<u8> {
    let mut d = Document::new(Meta {
        title: format!("Giấy tiếp nhận hồ sơ và hẹn trả kết quả {}", r.dossier_code),
        author: r.issuer.name.clone(),
        subject: r.procedure.clone(),
        keywords: format!("{} {}", r.dossier_code, "Mẫu số 01"),
        footer: format!(
            "Mã hồ sơ {} · Mẫu số 01, Thông tư 01/2018/TT-VPCP",
            r.dossier_code
        ),
        ..Default::default()
    });
    d.columns(heading(&r.issuer, None, r.date));
    d.space(10.0);
    d.para(
        Para::new("GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ", Style::Bold, 14.0)
            .align(Align::Center)
            .after(2.0),
    );
    d.para(
        Para::new("Mã hồ sơ: ", Style::Regular, 12.0)
            .then(&r.dossier_code, Style::Bold)
            .align(Align::Center)
            .after(10.0),
    );
    d.para(Para::new(
        &format!("{} tiếp nhận hồ sơ của:", r.issuer.name),
        Style::Regular,
        12.0,
    ));
    for l in &r.applicant {
        d.para(labelled(l, 12.0).indent(14.0));
    }
    d.para(
        Para::new("Nội dung yêu cầu giải quyết: ", Style::Regular, 12.0)
            .then(&r.procedure, Style::Bold)
            .before(4.0),
    );
    d.para(Para::new("1. Thành phần hồ sơ nộp gồm:", Style::Regular, 12.0).before(4.0));
    let rows = r
        .components
        .iter()
        .enumerate()
        .map(|(i, (name, form, state))| {
            vec![
                Para::new(&(i + 1).to_string(), Style::Regular, 10.5).align(Align::Center),
                Para::new(name, Style::Regular, 10.5),
                Para::new(form, Style::Regular, 10.5),
                Para::new(state, Style::Regular, 10.5),
            ]
        })
        .collect();
    d.table(
        &[0.5, 4.0, 1.6, 2.2],
        Some(vec![
            Para::new("TT", Style::Bold, 10.5).align(Align::Center),
            Para::new("Tên giấy tờ", Style::Bold, 10.5),
            Para::new("Hình thức", Style::Bold, 10.5),
            Para::new("Tình trạng", Style::Bold, 10.5),
        ]),
        rows,
    );
    let numbered = [
        ("2. Số lượng hồ sơ", "01 (bộ)".to_string()),
        (
            "3. Thời gian giải quyết hồ sơ theo quy định",
            r.time_limit.clone(),
        ),
        ("4. Thời gian nhận hồ sơ", r.received_at.clone()),
        ("5. Thời gian trả kết quả giải quyết hồ sơ", r.due.clone()),
        ("6. Phí, lệ phí", r.fee.clone()),
        ("7. Kênh nộp hồ sơ", r.channel.clone()),
    ];
    for (label, value) in numbered {
        d.para(
            Para::new(&format!("{label}: "), Style::Regular, 12.0)
                .then(&value, Style::Bold)
                .after(3.0),
        );
    }
    d.para(
        Para::new("Mã tra cứu: ", Style::Regular, 12.0)
            .then(&r.lookup_code, Style::Bold)
            .then(
                " (giữ mã này để tra cứu, bổ sung, thanh toán hoặc rút hồ sơ)",
                Style::Italic,
            )
            .before(4.0)
            .after(8.0),
    );
    let mut qr_col = Vec::new();
    if let Ok(qr) = Qr::new(&r.tracking_url, QR_SIZE) {
        qr_col.push(Block::Qr {
            qr,
            align: Align::Left,
        });
    }
    qr_col.push(Block::Para(
        Para::new("Quét mã để tra cứu hồ sơ", Style::Italic, 9.0).gray(0.3),
    ));
    qr_col.push(Block::Para(
        Para::new(&r.tracking_url, Style::Regular, 8.0).gray(0.3),
    ));
    let officer = vec![
        Block::Para(Para::new("NGƯỜI TIẾP NHẬN HỒ SƠ", Style::Bold, 11.0).align(Align::Center)),
        Block::Para(
            Para::new("(Ký và ghi rõ họ tên)", Style::Italic, 10.0)
                .align(Align::Center)
                .after(30.0),
        ),
        Block::Para(
            Para::new(
                r.officer
                    .as_deref()
                    .unwrap_or("Hệ thống tiếp nhận trực tuyến"),
                Style::Bold,
                11.0,
            )
            .align(Align::Center),
        ),
    ];
    d.columns(vec![(1.0, qr_col), (1.2, officer)]);
    d.finish()
}

/// The electronic result as PDF, with the signed payload embedded.
pub fn result_pdf(r: &ResultDoc) -> Vec<u8> {
    result_document(r).finish()
}

/// The electronic result laid out, before it is written (to be signed with a certificate,
/// see [`crate::pades::sign_pdf`]).
pub fn result_document(r: &ResultDoc) -> Document {
    let mut d = Document::new(Meta {
        title: format!("{} số {}", r.title, r.number),
        author: r.issuer.name.clone(),
        subject: r.procedure.clone(),
        keywords: format!("{} {}", r.dossier_code, r.verify_code),
        custom: r.embedded.clone(),
        footer: format!(
            "Văn bản điện tử có chữ ký số · Mã xác thực {}",
            r.verify_code
        ),
        ..Default::default()
    });
    d.columns(heading(&r.issuer, Some(&r.number), r.date));
    d.space(14.0);
    d.para(
        Para::new(&r.title.to_uppercase(), Style::Bold, 14.0)
            .align(Align::Center)
            .after(10.0),
    );
    d.para(
        Para::new(
            &format!(
                "Căn cứ thủ tục hành chính \"{}\" (mã {});",
                r.procedure, r.procedure_code
            ),
            Style::Italic,
            12.0,
        )
        .indent(28.0),
    );
    d.para(
        Para::new(
            &format!(
                "Xét hồ sơ số {} của {} nộp ngày {},",
                r.dossier_code, r.holder, r.submitted
            ),
            Style::Italic,
            12.0,
        )
        .indent(28.0)
        .after(8.0),
    );
    d.para(
        Para::new(&r.issuer.name.to_uppercase(), Style::Bold, 12.0)
            .align(Align::Center)
            .after(0.0),
    );
    d.para(
        Para::new("QUYẾT ĐỊNH / XÁC NHẬN:", Style::Bold, 12.0)
            .align(Align::Center)
            .after(6.0),
    );
    d.para(
        Para::new(&r.decision, Style::Regular, 12.0)
            .indent(28.0)
            .after(6.0),
    );
    if !r.details.is_empty() {
        d.para(Para::new("Thông tin chi tiết:", Style::Bold, 12.0).after(3.0));
        let rows = r
            .details
            .iter()
            .map(|l| {
                vec![
                    Para::new(&l.label, Style::Regular, 10.5),
                    Para::new(&l.value, Style::Bold, 10.5),
                ]
            })
            .collect();
        d.table(&[2.2, 3.0], None, rows);
    }
    d.space(10.0);
    let mut qr_col = Vec::new();
    if let Ok(qr) = Qr::new(&r.verify_url, QR_SIZE) {
        qr_col.push(Block::Qr {
            qr,
            align: Align::Left,
        });
    }
    qr_col.push(Block::Para(
        Para::new("Quét mã để xác thực văn bản", Style::Italic, 9.0).gray(0.3),
    ));
    qr_col.push(Block::Para(
        Para::new("Mã xác thực: ", Style::Regular, 9.0)
            .then(&r.verify_code, Style::Bold)
            .gray(0.3),
    ));
    qr_col.push(Block::Para(
        Para::new(&r.verify_url, Style::Regular, 7.5).gray(0.3),
    ));
    let sign = vec![
        Block::Para(
            Para::new(&r.signer_heading.to_uppercase(), Style::Bold, 11.0)
                .align(Align::Center)
                .after(6.0),
        ),
        Block::Para(
            Para::new("(Đã ký số)", Style::Italic, 10.0)
                .align(Align::Center)
                .after(18.0),
        ),
        Block::Para(Para::new(&r.signer_name, Style::Bold, 12.0).align(Align::Center)),
    ];
    d.columns(vec![(1.0, qr_col), (1.2, sign)]);
    d.space(8.0);
    d.para(Para::new("Thông tin chữ ký số", Style::Bold, 9.0).gray(0.3));
    for l in [
        Line::new(
            "Cơ quan ký",
            &format!("{} — khóa {}", r.issuer.name, r.agency_key),
        ),
        Line::new(
            "Người ký",
            &format!("{} — khóa {}", r.signer_name, r.signer_key),
        ),
        Line::new("Thời điểm ký", &r.signed_at),
    ] {
        d.para(
            Para::new(&format!("{}: {}", l.label, l.value), Style::Regular, 8.5)
                .gray(0.3)
                .after(0.5),
        );
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer() -> Issuer {
        Issuer {
            parent_name: "UBND thành phố Lạng Sơn".into(),
            name: "Ủy ban nhân dân xã Tam Thanh".into(),
            place: "Lạng Sơn".into(),
        }
    }

    #[test]
    fn receipt_is_a_pdf_and_deterministic() {
        let r = ReceiptDoc {
            issuer: issuer(),
            dossier_code: "H37.23-261129-0001".into(),
            lookup_code: "7KQ2MX".into(),
            procedure: "Đăng ký khai sinh".into(),
            applicant: vec![Line::new("Họ và tên", "Nguyễn Thị Hương")],
            components: vec![(
                "Tờ khai đăng ký khai sinh".into(),
                "Bản điện tử".into(),
                "Đã nộp".into(),
            )],
            time_limit: "01 ngày làm việc".into(),
            received_at: "08 giờ 30 phút, ngày 30/11/2026".into(),
            due: "01/12/2026".into(),
            fee: "Không thu phí".into(),
            channel: "Trực tuyến".into(),
            tracking_url: "https://dichvucong.example/tra-cuu?ma=X".into(),
            officer: None,
            date: (30, 11, 2026),
        };
        let a = receipt_pdf(&r);
        assert!(a.starts_with(b"%PDF-"));
        assert_eq!(a, receipt_pdf(&r));
        if let Ok(path) = std::env::var("TINHSO_DUMP_RECEIPT") {
            std::fs::write(path, &a).unwrap();
        }
    }
}
