//! PDF documents with correct Vietnamese text (văn bản điện tử dạng PDF).
//!
//! A [`Document`] is filled top to bottom with paragraphs, column groups, tables and QR codes
//! ([`layout`]), then written as PDF 1.7 with the embedded Noto Sans faces ([`font`]): every
//! glyph is in the file, text is selectable and searchable (ToUnicode maps), content and fonts
//! are compressed. The same input gives the same bytes, so a document's hash identifies it.
//!
//! Custom metadata entries (ASCII) can carry what a verifier needs, e.g. a signed payload;
//! [`custom_entry`] reads them back from a document this crate wrote.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod font;
pub mod layout;
pub mod sign;
pub mod test_support;

pub use font::Style;
pub use layout::{Align, Block, Margins, Para, Qr, A4, MM};

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo};
use pdf_writer::Finish;
use pdf_writer::{Date, Filter, Name, Pdf, Rect, Ref, Str, TextStr};

/// A QR code of `text` as an inline SVG element for web pages (no XML declaration), at least
/// 180 px wide, error correction level M, labelled for screen readers.
pub fn qr_svg(text: &str, label: &str) -> Result<String, qrcode::types::QrError> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(180, 180)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    let start = image.find("<svg").unwrap_or(0);
    let label = label
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    Ok(image[start..].replacen(
        "<svg",
        &format!("<svg role=\"img\" aria-label=\"{label}\" class=\"qr\""),
        1,
    ))
}

/// Document information (thông tin tài liệu).
#[derive(Debug, Clone, Default)]
pub struct Meta {
    pub title: String,
    pub author: String,
    pub subject: String,
    pub keywords: String,
    /// Creation time (local, with the UTC offset in hours).
    pub created: Option<(chrono::NaiveDateTime, i8)>,
    /// Extra entries of the information dictionary: ASCII names and printable ASCII values
    /// (base64 for anything else). Other entries are dropped.
    pub custom: Vec<(String, String)>,
    /// A line printed at the foot of every page, left of the page number.
    pub footer: String,
}

/// A document being laid out.
pub struct Document {
    meta: Meta,
    flow: layout::Flow,
}

impl Document {
    pub fn new(meta: Meta) -> Document {
        Document::with_margins(meta, Margins::default())
    }

    pub fn with_margins(meta: Meta, margins: Margins) -> Document {
        Document {
            meta,
            flow: layout::Flow::new(margins),
        }
    }

    /// The width text can use, in points.
    pub fn width(&self) -> f32 {
        self.flow.width()
    }

    pub fn para(&mut self, p: Para) -> &mut Self {
        self.flow.para(&p);
        self
    }

    pub fn block(&mut self, b: Block) -> &mut Self {
        self.flow.block(&b);
        self
    }

    pub fn space(&mut self, points: f32) -> &mut Self {
        self.flow.block(&Block::Space(points));
        self
    }

    /// Columns side by side: (share of the width, blocks).
    pub fn columns(&mut self, columns: Vec<(f32, Vec<Block>)>) -> &mut Self {
        self.flow.columns(&columns);
        self
    }

    /// A ruled table with an optional header row repeated on every page it spans.
    pub fn table(
        &mut self,
        shares: &[f32],
        header: Option<Vec<Para>>,
        rows: Vec<Vec<Para>>,
    ) -> &mut Self {
        self.flow.table(shares, header.as_deref(), &rows);
        self
    }

    pub fn new_page(&mut self) -> &mut Self {
        self.flow.new_page();
        self
    }

    /// Write the PDF.
    pub fn finish(self) -> Vec<u8> {
        self.write(None)
    }

    /// Write the PDF with an invisible signature field on the first page and a signature
    /// dictionary whose `/Contents` is filled by `sign` (chữ ký số nhúng trong PDF, PAdES): it
    /// is given the two signed byte ranges — the whole file except the `/Contents` value — and
    /// returns the DER CMS signature, at most `slot.capacity` bytes. See [`sign`].
    pub fn finish_signed<E>(
        self,
        slot: &sign::SignatureSlot,
        signer: impl FnOnce(&[&[u8]; 2]) -> Result<Vec<u8>, E>,
    ) -> Result<Vec<u8>, sign::SignError<E>> {
        let pdf = self.write(Some(slot));
        sign::fill(pdf, slot.capacity, signer)
    }

    /// Write the PDF with the signature field of [`Document::finish_signed`] and its byte range,
    /// and return it waiting for its signature ([`sign::Prepared::insert`]). `None` only on a
    /// bug in this crate (placeholders not found).
    pub fn finish_for_signing(self, slot: &sign::SignatureSlot) -> Option<sign::Prepared> {
        let pdf = self.write(Some(slot));
        sign::Prepared::new(pdf, slot.capacity)
    }

    fn write(self, slot: Option<&sign::SignatureSlot>) -> Vec<u8> {
        let Document { meta, flow } = self;
        let margins = flow.margins;
        let width = flow.width();
        let mut pages = flow.pages;
        let total = pages.len();
        // Footer: the line and "Trang i/n".
        for (i, c) in pages.iter_mut().enumerate() {
            let y = margins.bottom - 12.0;
            let number = Para::new(&format!("Trang {}/{}", i + 1, total), Style::Regular, 8.0)
                .align(Align::Right)
                .gray(0.35)
                .after(0.0);
            let foot = Para::new(&meta.footer, Style::Regular, 8.0)
                .gray(0.35)
                .after(0.0);
            foot.draw(c, margins.left, y, width - 60.0);
            number.draw(c, margins.left, y, width);
        }

        let mut pdf = Pdf::new();
        let mut next = 1;
        let mut alloc = || {
            let r = Ref::new(next);
            next += 1;
            r
        };
        let catalog = alloc();
        let tree = alloc();
        let info = alloc();
        let fonts: Vec<(Style, [Ref; 5])> = Style::ALL
            .iter()
            .map(|s| (*s, [alloc(), alloc(), alloc(), alloc(), alloc()]))
            .collect();
        let page_refs: Vec<(Ref, Ref)> = (0..total).map(|_| (alloc(), alloc())).collect();
        // The signature field (a widget on the first page) and its value.
        let sig_refs = slot.map(|_| (alloc(), alloc()));

        {
            let mut c = pdf.catalog(catalog);
            c.pages(tree);
            if let Some((field, _)) = sig_refs {
                let mut form = c.insert(Name(b"AcroForm")).dict();
                form.insert(Name(b"Fields")).array().item(field);
                // SignaturesExist | AppendOnly.
                form.pair(Name(b"SigFlags"), 3);
            }
        }
        pdf.pages(tree)
            .kids(page_refs.iter().map(|p| p.0))
            .count(total as i32);
        for (i, ((page, content), c)) in page_refs.iter().zip(pages).enumerate() {
            let mut p = pdf.page(*page);
            p.media_box(Rect::new(0.0, 0.0, A4.0, A4.1))
                .parent(tree)
                .contents(*content);
            if let (0, Some((field, _))) = (i, sig_refs) {
                p.annotations([field]);
            }
            let mut res = p.resources();
            let mut f = res.fonts();
            for (style, refs) in &fonts {
                f.pair(Name(style.resource()), refs[0]);
            }
            f.finish();
            res.finish();
            p.finish();
            let raw = c.finish();
            let packed = miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6);
            pdf.stream(*content, &packed).filter(Filter::FlateDecode);
        }
        for (style, [type0, cid, descriptor, file, cmap]) in &fonts {
            write_font(&mut pdf, *style, *type0, *cid, *descriptor, *file, *cmap);
        }
        if let (Some(slot), Some((field, value)), Some((first, _))) =
            (slot, sig_refs, page_refs.first())
        {
            sign::write_field(&mut pdf, slot, field, value, *first);
        }
        {
            let mut d = pdf.document_info(info);
            d.title(TextStr(&meta.title))
                .author(TextStr(&meta.author))
                .subject(TextStr(&meta.subject))
                .keywords(TextStr(&meta.keywords))
                .creator(TextStr("Tỉnh số"))
                .producer(TextStr("tinhso-pdf"));
            if let Some((t, offset)) = meta.created {
                d.creation_date(pdf_date(t, offset));
            }
            for (k, v) in &meta.custom {
                if is_name(k) && is_plain(v) {
                    d.pair(Name(k.as_bytes()), Str(v.as_bytes()));
                }
            }
        }
        pdf.finish()
    }
}

/// A PDF date from a local time and its UTC offset in hours.
fn pdf_date(t: chrono::NaiveDateTime, offset: i8) -> Date {
    use chrono::{Datelike, Timelike};
    Date::new(t.year().clamp(0, 9999) as u16)
        .month(t.month() as u8)
        .day(t.day() as u8)
        .hour(t.hour() as u8)
        .minute(t.minute() as u8)
        .second(t.second() as u8)
        .utc_offset_hour(offset)
}

fn is_name(k: &str) -> bool {
    !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_plain(v: &str) -> bool {
    v.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'(' && b != b')' && b != b'\\')
}

fn write_font(
    pdf: &mut Pdf,
    style: Style,
    type0: Ref,
    cid: Ref,
    descriptor: Ref,
    file: Ref,
    cmap: Ref,
) {
    let font = style.font();
    let name = Name(style.postscript_name());
    let info = SystemInfo {
        registry: Str(b"Adobe"),
        ordering: Str(b"Identity"),
        supplement: 0,
    };
    pdf.type0_font(type0)
        .base_font(name)
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid)
        .to_unicode(cmap);
    {
        let mut c = pdf.cid_font(cid);
        c.subtype(CidFontType::Type2)
            .base_font(name)
            .system_info(info)
            .font_descriptor(descriptor)
            .default_width(0.0)
            .cid_to_gid_map_predefined(Name(b"Identity"));
        c.widths().consecutive(0, font.widths.iter().copied());
    }
    let mut flags = FontFlags::NON_SYMBOLIC;
    if style == Style::Italic {
        flags |= FontFlags::ITALIC;
    }
    pdf.font_descriptor(descriptor)
        .name(name)
        .flags(flags)
        .bbox(Rect::new(
            font.bbox[0],
            font.bbox[1],
            font.bbox[2],
            font.bbox[3],
        ))
        .italic_angle(font.italic_angle)
        .ascent(font.ascent)
        .descent(font.descent)
        .cap_height(font.cap_height)
        .stem_v(if style == Style::Bold { 140.0 } else { 80.0 })
        .font_file2(file);
    pdf.stream(file, &font.compressed)
        .filter(Filter::FlateDecode)
        .pair(Name(b"Length1"), font.length as i32);
    pdf.cmap(cmap, &font.to_unicode_cmap)
        .filter(Filter::FlateDecode);
}

/// Read back a custom information entry from a PDF this crate wrote (values are written as
/// literal strings of plain ASCII, so no parsing beyond finding the key is needed). `None`
/// when the entry is absent.
pub fn custom_entry(pdf: &[u8], key: &str) -> Option<String> {
    let needle = format!("/{key} (");
    let start = find(pdf, needle.as_bytes())? + needle.len();
    let len = pdf[start..].iter().position(|b| *b == b')')?;
    String::from_utf8(pdf[start..start + len].to_vec()).ok()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut d = Document::new(Meta {
            title: "Giấy tiếp nhận hồ sơ".into(),
            footer: "Mã hồ sơ H37.23-261129-0001".into(),
            custom: vec![
                ("TinhSoPayload".into(), "eyJhIjoxfQ==".into()),
                ("Bad Key".into(), "x".into()),
                ("Paren".into(), "a)b".into()),
            ],
            ..Default::default()
        });
        d.columns(vec![
            (
                1.0,
                vec![Block::Para(
                    Para::new("ỦY BAN NHÂN DÂN\nXÃ TAM THANH", Style::Bold, 12.0)
                        .align(Align::Center),
                )],
            ),
            (
                1.4,
                vec![Block::Para(
                    Para::new("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", Style::Bold, 12.0)
                        .align(Align::Center),
                )],
            ),
        ]);
        for i in 0..80 {
            d.para(Para::new(
                &format!("Dòng thứ {i}: tiếng Việt có dấu đầy đủ."),
                Style::Regular,
                12.0,
            ));
        }
        d.table(
            &[1.0, 4.0],
            Some(vec![
                Para::new("TT", Style::Bold, 11.0),
                Para::new("Tên giấy tờ", Style::Bold, 11.0),
            ]),
            (0..30)
                .map(|i| {
                    vec![
                        Para::new(&i.to_string(), Style::Regular, 11.0),
                        Para::new("Tờ khai đăng ký khai sinh", Style::Italic, 11.0),
                    ]
                })
                .collect(),
        );
        d.block(Block::Qr {
            qr: Qr::new("https://example.invalid/x", 72.0).unwrap(),
            align: Align::Right,
        });
        d.finish()
    }

    #[test]
    fn writes_a_pdf_with_the_fonts_pages_and_metadata() {
        let pdf = sample();
        assert!(pdf.starts_with(b"%PDF-1.7"));
        assert!(pdf.ends_with(b"%%EOF") || pdf.ends_with(b"%%EOF\n"));
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/Identity-H"));
        assert!(text.contains("/FontFile2"));
        assert!(text.contains("/ToUnicode"));
        // Eighty lines and a thirty-row table need more than one page.
        let pages = text.matches("/Type /Page\n").count()
            + text.matches("/Type /Page ").count()
            + text.matches("/Type /Page/").count();
        assert!(
            text.contains("/Count 3") || text.contains("/Count 4"),
            "pages: {pages}"
        );
        assert_eq!(
            custom_entry(&pdf, "TinhSoPayload").as_deref(),
            Some("eyJhIjoxfQ==")
        );
        assert_eq!(custom_entry(&pdf, "Paren"), None);
        assert_eq!(custom_entry(&pdf, "Missing"), None);
    }

    #[test]
    fn the_same_document_gives_the_same_bytes() {
        assert_eq!(sample(), sample());
    }
}
