//! Flowing layout on A4 pages (trình bày văn bản): paragraphs that wrap, column groups (the
//! two-column heading of a Vietnamese administrative document, a QR code beside a signature
//! block), ruled tables that break across pages, and page numbers.

use crate::font::Style;
use pdf_writer::{Content, Name, Str};

/// A4 in points.
pub const A4: (f32, f32) = (595.28, 841.89);

/// One millimetre in points.
pub const MM: f32 = 72.0 / 25.4;

/// Horizontal alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Center,
    Right,
}

/// A run of text in one face.
#[derive(Debug, Clone)]
pub struct Span {
    pub text: String,
    pub style: Style,
}

/// A paragraph (đoạn văn): spans that wrap to the width they are given.
#[derive(Debug, Clone)]
pub struct Para {
    pub spans: Vec<Span>,
    pub size: f32,
    pub align: Align,
    /// Indent of the first line, in points.
    pub first_indent: f32,
    pub space_before: f32,
    pub space_after: f32,
    /// Line height as a multiple of the size.
    pub leading: f32,
    /// Grey level of the text, 0 = black.
    pub gray: f32,
}

impl Para {
    /// A paragraph of one span; the text is put in NFC so every tone mark finds its glyph.
    pub fn new(text: &str, style: Style, size: f32) -> Para {
        Para {
            spans: vec![Span {
                text: tinhso_kernel::text::nfc(text),
                style,
            }],
            size,
            align: Align::Left,
            first_indent: 0.0,
            space_before: 0.0,
            space_after: 2.0,
            leading: 1.35,
            gray: 0.0,
        }
    }

    /// Append a span.
    pub fn then(mut self, text: &str, style: Style) -> Para {
        self.spans.push(Span {
            text: tinhso_kernel::text::nfc(text),
            style,
        });
        self
    }

    pub fn align(mut self, align: Align) -> Para {
        self.align = align;
        self
    }

    pub fn indent(mut self, points: f32) -> Para {
        self.first_indent = points;
        self
    }

    pub fn before(mut self, points: f32) -> Para {
        self.space_before = points;
        self
    }

    pub fn after(mut self, points: f32) -> Para {
        self.space_after = points;
        self
    }

    pub fn gray(mut self, level: f32) -> Para {
        self.gray = level;
        self
    }

    fn line_height(&self) -> f32 {
        self.size * self.leading
    }

    /// The paragraph broken into lines no wider than `width`.
    pub(crate) fn lines(&self, width: f32) -> Vec<Line> {
        let mut lines = Vec::new();
        let mut cur = Line::default();
        let mut limit = (width - self.first_indent).max(self.size);
        let push_line = |cur: &mut Line, lines: &mut Vec<Line>, limit: &mut f32| {
            cur.trim_end();
            lines.push(std::mem::take(cur));
            *limit = width.max(self.size);
        };
        for span in &self.spans {
            let font = span.style.font();
            for token in tokens(&span.text) {
                if token == "\n" {
                    push_line(&mut cur, &mut lines, &mut limit);
                    continue;
                }
                let w = font.width(token, self.size);
                if token == " " {
                    if !cur.runs.is_empty() {
                        cur.push(span.style, token, w);
                    }
                    continue;
                }
                if cur.width + w > limit && !cur.runs.is_empty() {
                    push_line(&mut cur, &mut lines, &mut limit);
                }
                if w <= limit {
                    cur.push(span.style, token, w);
                    continue;
                }
                // A word wider than the line (a long code, a URL): break it between characters.
                for c in token.chars() {
                    let mut buf = [0u8; 4];
                    let piece = c.encode_utf8(&mut buf);
                    let cw = font.width(piece, self.size);
                    if cur.width + cw > limit && !cur.runs.is_empty() {
                        push_line(&mut cur, &mut lines, &mut limit);
                    }
                    cur.push(span.style, piece, cw);
                }
            }
        }
        if !cur.runs.is_empty() || lines.is_empty() {
            cur.trim_end();
            lines.push(cur);
        }
        lines
    }

    /// Height of the paragraph laid out at `width`, spacing included.
    pub fn height(&self, width: f32) -> f32 {
        self.space_before + self.lines(width).len() as f32 * self.line_height() + self.space_after
    }

    /// Draw at (x, top) within `width`; returns the height used.
    pub(crate) fn draw(&self, c: &mut Content, x: f32, top: f32, width: f32) -> f32 {
        let lh = self.line_height();
        let mut y = top - self.space_before;
        c.set_fill_gray(self.gray);
        for (i, line) in self.lines(width).iter().enumerate() {
            let indent = if i == 0 { self.first_indent } else { 0.0 };
            let free = (width - indent - line.width).max(0.0);
            let start = x
                + indent
                + match self.align {
                    Align::Left => 0.0,
                    Align::Center => free / 2.0,
                    Align::Right => free,
                };
            // Baseline: the text's ascent below the top of its line box, centred in the leading.
            let baseline = y - (lh - self.size) / 2.0 - self.size * 0.9;
            line.draw(c, start, baseline, self.size);
            y -= lh;
        }
        c.set_fill_gray(0.0);
        top - y + self.space_after
    }
}

/// Words, single spaces and line breaks.
fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, ch) in text.char_indices() {
        if ch == ' ' || ch == '\n' {
            if let Some(s) = start.take() {
                out.push(&text[s..i]);
            }
            out.push(&text[i..i + 1]);
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

/// A laid-out line: runs of one face each.
#[derive(Debug, Default, Clone)]
pub(crate) struct Line {
    pub(crate) runs: Vec<(Style, String, f32)>,
    pub(crate) width: f32,
}

impl Line {
    fn push(&mut self, style: Style, text: &str, width: f32) {
        match self.runs.last_mut() {
            Some((s, t, w)) if *s == style => {
                t.push_str(text);
                *w += width;
            }
            _ => self.runs.push((style, text.to_string(), width)),
        }
        self.width += width;
    }

    fn trim_end(&mut self) {
        while let Some((style, text, w)) = self.runs.last_mut() {
            if text.ends_with(' ') {
                let sw =
                    style.font().width(" ", 1.0) * (*w / style.font().width(text, 1.0).max(0.001));
                text.pop();
                *w -= sw;
                self.width -= sw;
                if text.is_empty() {
                    self.runs.pop();
                }
            } else {
                break;
            }
        }
    }

    /// The text of the line, for tests.
    #[cfg(test)]
    pub(crate) fn text(&self) -> String {
        self.runs.iter().map(|r| r.1.as_str()).collect()
    }

    fn draw(&self, c: &mut Content, x: f32, baseline: f32, size: f32) {
        if self.runs.is_empty() {
            return;
        }
        c.begin_text();
        let mut at = x;
        for (style, text, w) in &self.runs {
            c.set_font(Name(style.resource()), size);
            c.set_text_matrix([1.0, 0.0, 0.0, 1.0, at, baseline]);
            c.show(Str(&style.font().encode(text)));
            at += w;
        }
        c.end_text();
    }
}

/// A QR code (mã QR) as a module matrix, drawn as filled squares.
#[derive(Debug, Clone)]
pub struct Qr {
    modules: Vec<bool>,
    width: usize,
    /// Side in points, quiet zone included.
    pub size: f32,
}

impl Qr {
    /// Encode `data` (error correction level M). Fails only when the data is too long for a
    /// QR code.
    pub fn new(data: &str, size: f32) -> Result<Qr, qrcode::types::QrError> {
        let code =
            qrcode::QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::M)?;
        let width = code.width();
        let modules = code
            .to_colors()
            .into_iter()
            .map(|c| c == qrcode::Color::Dark)
            .collect();
        Ok(Qr {
            modules,
            width,
            size,
        })
    }

    fn draw(&self, c: &mut Content, x: f32, top: f32) {
        // Four modules of quiet zone on each side.
        let n = self.width as f32 + 8.0;
        let m = self.size / n;
        c.set_fill_gray(0.0);
        for row in 0..self.width {
            let mut col = 0;
            while col < self.width {
                if !self.modules[row * self.width + col] {
                    col += 1;
                    continue;
                }
                let start = col;
                while col < self.width && self.modules[row * self.width + col] {
                    col += 1;
                }
                c.rect(
                    x + (start as f32 + 4.0) * m,
                    top - (row as f32 + 5.0) * m,
                    (col - start) as f32 * m,
                    m,
                );
            }
        }
        c.fill_nonzero();
    }
}

/// Something placed in the flow or in a column.
#[derive(Debug, Clone)]
pub enum Block {
    Para(Para),
    /// A horizontal rule of the given width, aligned like text, with space after.
    Rule {
        width: f32,
        align: Align,
        after: f32,
    },
    Space(f32),
    Qr {
        qr: Qr,
        align: Align,
    },
}

impl Block {
    fn height(&self, width: f32) -> f32 {
        match self {
            Block::Para(p) => p.height(width),
            Block::Rule { after, .. } => 1.0 + after,
            Block::Space(h) => *h,
            Block::Qr { qr, .. } => qr.size,
        }
    }

    fn draw(&self, c: &mut Content, x: f32, top: f32, width: f32) -> f32 {
        let offset = |w: f32, align: Align| match align {
            Align::Left => 0.0,
            Align::Center => (width - w).max(0.0) / 2.0,
            Align::Right => (width - w).max(0.0),
        };
        match self {
            Block::Para(p) => p.draw(c, x, top, width),
            Block::Rule {
                width: w,
                align,
                after,
            } => {
                let x0 = x + offset(*w, *align);
                c.set_line_width(0.6);
                c.move_to(x0, top - 0.5);
                c.line_to(x0 + w, top - 0.5);
                c.stroke();
                1.0 + after
            }
            Block::Space(h) => *h,
            Block::Qr { qr, align } => {
                qr.draw(c, x + offset(qr.size, *align), top);
                qr.size
            }
        }
    }
}

/// Margins in points (Decree 30/2020 asks 20–25 mm top and bottom, 30–35 mm left, 15–20 mm
/// right for administrative documents).
#[derive(Debug, Clone, Copy)]
pub struct Margins {
    pub top: f32,
    pub bottom: f32,
    pub left: f32,
    pub right: f32,
}

impl Default for Margins {
    fn default() -> Self {
        Margins {
            top: 20.0 * MM,
            bottom: 20.0 * MM,
            left: 30.0 * MM,
            right: 15.0 * MM,
        }
    }
}

/// Pages being filled top to bottom.
pub(crate) struct Flow {
    pub(crate) pages: Vec<Content>,
    pub(crate) margins: Margins,
    y: f32,
}

impl Flow {
    pub(crate) fn new(margins: Margins) -> Flow {
        Flow {
            pages: vec![Content::new()],
            margins,
            y: A4.1 - margins.top,
        }
    }

    pub(crate) fn width(&self) -> f32 {
        A4.0 - self.margins.left - self.margins.right
    }

    fn remaining(&self) -> f32 {
        self.y - self.margins.bottom
    }

    pub(crate) fn new_page(&mut self) {
        self.pages.push(Content::new());
        self.y = A4.1 - self.margins.top;
    }

    fn page(&mut self) -> &mut Content {
        if self.pages.is_empty() {
            self.pages.push(Content::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// A paragraph in the full width, broken across pages line by line.
    pub(crate) fn para(&mut self, p: &Para) {
        let width = self.width();
        let lines = p.lines(width);
        let lh = p.line_height();
        self.y -= p.space_before;
        for (i, line) in lines.into_iter().enumerate() {
            if self.remaining() < lh {
                self.new_page();
            }
            // One line as a paragraph of its own keeps the alignment rules in one place.
            let one = Para {
                spans: line
                    .runs
                    .into_iter()
                    .map(|(style, text, _)| Span { text, style })
                    .collect(),
                first_indent: if i == 0 { p.first_indent } else { 0.0 },
                space_before: 0.0,
                space_after: 0.0,
                ..p.clone()
            };
            let (x, y) = (self.margins.left, self.y);
            let h = one.draw(self.page(), x, y, width);
            self.y -= h;
        }
        self.y -= p.space_after;
    }

    /// Any block in the full width; a block that does not fit starts a new page.
    pub(crate) fn block(&mut self, b: &Block) {
        if let Block::Para(p) = b {
            return self.para(p);
        }
        let width = self.width();
        if b.height(width) > self.remaining() {
            self.new_page();
        }
        let (x, y) = (self.margins.left, self.y);
        let h = b.draw(self.page(), x, y, width);
        self.y -= h;
    }

    /// Columns side by side, each a list of blocks; `shares` of the width. The group is kept
    /// on one page.
    pub(crate) fn columns(&mut self, columns: &[(f32, Vec<Block>)]) {
        let width = self.width();
        let total: f32 = columns.iter().map(|c| c.0).sum::<f32>().max(f32::EPSILON);
        let height = columns
            .iter()
            .map(|(share, blocks)| {
                let w = width * share / total;
                blocks.iter().map(|b| b.height(w)).sum::<f32>()
            })
            .fold(0.0, f32::max);
        if height > self.remaining() {
            self.new_page();
        }
        let (mut x, top) = (self.margins.left, self.y);
        for (share, blocks) in columns {
            let w = width * share / total;
            let mut y = top;
            for b in blocks {
                let h = b.draw(self.page(), x, y, w);
                y -= h;
            }
            x += w;
        }
        self.y = top - height;
    }

    /// A ruled table: `shares` of the width per column, an optional header repeated on each
    /// page, rows kept whole.
    pub(crate) fn table(&mut self, shares: &[f32], header: Option<&[Para]>, rows: &[Vec<Para>]) {
        const PAD: f32 = 4.0;
        let width = self.width();
        let total: f32 = shares.iter().sum::<f32>().max(f32::EPSILON);
        let widths: Vec<f32> = shares.iter().map(|s| width * s / total).collect();
        let row_height = |cells: &[Para]| {
            cells
                .iter()
                .zip(&widths)
                .map(|(p, w)| p.height(w - 2.0 * PAD))
                .fold(0.0, f32::max)
                + 2.0 * PAD
        };
        let draw_row = |flow: &mut Flow, cells: &[Para], fill: bool| {
            let h = row_height(cells);
            let (mut x, top) = (flow.margins.left, flow.y);
            let c = flow.page();
            if fill {
                c.set_fill_gray(0.92);
                c.rect(x, top - h, width, h);
                c.fill_nonzero();
                c.set_fill_gray(0.0);
            }
            c.set_line_width(0.5);
            for (p, w) in cells.iter().zip(&widths) {
                c.rect(x, top - h, *w, h);
                c.stroke();
                p.draw(c, x + PAD, top - PAD, w - 2.0 * PAD);
                x += w;
            }
            flow.y -= h;
        };
        let header_h = header.map(row_height).unwrap_or(0.0);
        if let Some(h) = header {
            if header_h + rows.first().map(|r| row_height(r)).unwrap_or(0.0) > self.remaining() {
                self.new_page();
            }
            draw_row(self, h, true);
        }
        for row in rows {
            if row_height(row) > self.remaining() {
                self.new_page();
                if let Some(h) = header {
                    draw_row(self, h, true);
                }
            }
            draw_row(self, row, false);
        }
        self.y -= 6.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_wrap_within_the_width_and_keep_every_word() {
        let text = "Giấy tiếp nhận hồ sơ và hẹn trả kết quả cho thủ tục đăng ký khai sinh tại Ủy ban nhân dân xã Tam Thanh, thành phố Lạng Sơn";
        let p = Para::new(text, Style::Regular, 12.0);
        let lines = p.lines(200.0);
        assert!(lines.len() >= 3, "{}", lines.len());
        for l in &lines {
            assert!(l.width <= 200.0 + 0.01, "{} is {} wide", l.text(), l.width);
            assert!(!l.text().starts_with(' ') && !l.text().ends_with(' '));
        }
        let joined: Vec<String> = lines.iter().map(|l| l.text()).collect();
        assert_eq!(joined.join(" "), text);
    }

    #[test]
    fn a_word_longer_than_the_line_is_broken_not_lost() {
        let code = "000.00.23.H37-261129-0001-ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let lines = Para::new(code, Style::Bold, 12.0).lines(80.0);
        assert!(lines.len() > 1);
        assert_eq!(lines.iter().map(|l| l.text()).collect::<String>(), code);
    }

    #[test]
    fn newlines_break_lines_and_styles_mix_on_one_line() {
        let p = Para::new("Họ và tên: ", Style::Regular, 11.0)
            .then("Nguyễn Văn A\nĐịa chỉ", Style::Bold);
        let lines = p.lines(400.0);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].runs.len(), 2);
        assert_eq!(lines[0].text(), "Họ và tên: Nguyễn Văn A");
        assert_eq!(lines[1].text(), "Địa chỉ");
    }

    #[test]
    fn text_is_composed_to_nfc() {
        // "ệ" typed as e + combining circumflex + combining dot below.
        let p = Para::new("Vie\u{0302}\u{0323}t", Style::Regular, 12.0);
        assert_eq!(p.spans[0].text, "Việt");
    }

    #[test]
    fn qr_codes_encode_and_refuse_what_does_not_fit() {
        let qr = Qr::new("https://dichvucong.langson.gov.vn/xac-thuc/ABC", 80.0).unwrap();
        assert!(qr.width >= 21 && qr.modules.iter().any(|m| *m));
        assert!(Qr::new(&"x".repeat(5000), 80.0).is_err());
    }
}
