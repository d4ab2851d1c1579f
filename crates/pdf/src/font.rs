//! The embedded fonts (phông chữ nhúng): Noto Sans regular, bold and italic, cut down to the
//! characters Vietnamese documents use by `scripts/fonts/generate.sh` (SIL OFL 1.1, see
//! `fonts/OFL.txt`). Each is parsed once; text is measured and encoded as glyph ids.

use std::collections::HashMap;
use std::sync::OnceLock;

/// A face of the embedded family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Style {
    Regular,
    Bold,
    Italic,
}

impl Style {
    pub const ALL: [Style; 3] = [Style::Regular, Style::Bold, Style::Italic];

    /// The font's resource name in a page's resources.
    pub(crate) fn resource(self) -> &'static [u8] {
        match self {
            Style::Regular => b"F1",
            Style::Bold => b"F2",
            Style::Italic => b"F3",
        }
    }

    pub(crate) fn postscript_name(self) -> &'static [u8] {
        match self {
            Style::Regular => b"TSNOTO+NotoSans-Regular",
            Style::Bold => b"TSNOTO+NotoSans-Bold",
            Style::Italic => b"TSNOTO+NotoSans-Italic",
        }
    }

    fn bytes(self) -> &'static [u8] {
        match self {
            Style::Regular => include_bytes!("../fonts/NotoSans-Regular.ttf"),
            Style::Bold => include_bytes!("../fonts/NotoSans-Bold.ttf"),
            Style::Italic => include_bytes!("../fonts/NotoSans-Italic.ttf"),
        }
    }

    /// The parsed face (parsed on first use).
    pub fn font(self) -> &'static Font {
        static FONTS: OnceLock<[Font; 3]> = OnceLock::new();
        let fonts = FONTS.get_or_init(|| Style::ALL.map(Font::load));
        &fonts[self as usize]
    }
}

/// What the PDF needs of a font: glyphs by character, advance widths, metrics, the file.
#[derive(Debug)]
pub struct Font {
    glyphs: HashMap<char, u16>,
    /// Advance widths in thousandths of the em (PDF glyph space), by glyph id.
    pub(crate) widths: Vec<f32>,
    pub(crate) ascent: f32,
    pub(crate) descent: f32,
    pub(crate) cap_height: f32,
    pub(crate) bbox: [f32; 4],
    pub(crate) italic_angle: f32,
    /// (glyph, character) for the ToUnicode map, lowest code point first per glyph.
    pub(crate) to_unicode: Vec<(u16, char)>,
    /// That map as a zlib-compressed CMap stream (made once, embedded in every document).
    pub(crate) to_unicode_cmap: Vec<u8>,
    /// The font file, zlib-compressed, and its uncompressed length.
    pub(crate) compressed: Vec<u8>,
    pub(crate) length: usize,
}

impl Font {
    fn load(style: Style) -> Font {
        let data = style.bytes();
        // The files are part of the build and checked by the tests: a parse failure is a
        // broken build, not a runtime condition.
        #[allow(clippy::expect_used)]
        let face = ttf_parser::Face::parse(data, 0).expect("embedded font parses");
        let upem = f32::from(face.units_per_em());
        let scale = |v: f32| v * 1000.0 / upem;
        let mut glyphs = HashMap::new();
        let mut to_unicode = Vec::new();
        let mut seen = std::collections::HashSet::new();
        if let Some(cmap) = face.tables().cmap {
            let mut chars = Vec::new();
            for sub in cmap.subtables {
                if sub.is_unicode() {
                    sub.codepoints(|cp| chars.push(cp));
                }
            }
            chars.sort_unstable();
            chars.dedup();
            for cp in chars {
                let Some(c) = char::from_u32(cp) else {
                    continue;
                };
                let Some(g) = face.glyph_index(c) else {
                    continue;
                };
                glyphs.insert(c, g.0);
                if seen.insert(g.0) {
                    to_unicode.push((g.0, c));
                }
            }
        }
        let widths = (0..face.number_of_glyphs())
            .map(|g| {
                scale(f32::from(
                    face.glyph_hor_advance(ttf_parser::GlyphId(g)).unwrap_or(0),
                ))
            })
            .collect();
        let b = face.global_bounding_box();
        let mut map = pdf_writer::types::UnicodeCmap::<u16>::new(
            pdf_writer::Name(b"Tinhso-UCS"),
            pdf_writer::types::SystemInfo {
                registry: pdf_writer::Str(b"Adobe"),
                ordering: pdf_writer::Str(b"UCS"),
                supplement: 0,
            },
        );
        for (g, c) in &to_unicode {
            map.pair(*g, *c);
        }
        let to_unicode_cmap = miniz_oxide::deflate::compress_to_vec_zlib(&map.finish(), 6);
        Font {
            to_unicode_cmap,
            glyphs,
            widths,
            ascent: scale(f32::from(face.ascender())),
            descent: scale(f32::from(face.descender())),
            cap_height: scale(f32::from(face.capital_height().unwrap_or(face.ascender()))),
            bbox: [
                scale(f32::from(b.x_min)),
                scale(f32::from(b.y_min)),
                scale(f32::from(b.x_max)),
                scale(f32::from(b.y_max)),
            ],
            italic_angle: face.italic_angle(),
            to_unicode,
            compressed: miniz_oxide::deflate::compress_to_vec_zlib(data, 9),
            length: data.len(),
        }
    }

    /// The glyph for `c`, if the font has one.
    pub fn glyph(&self, c: char) -> Option<u16> {
        self.glyphs.get(&c).copied()
    }

    /// The character a glyph stands for in extracted text (the ToUnicode map).
    pub fn char_of(&self, glyph: u16) -> Option<char> {
        self.to_unicode
            .iter()
            .find(|(g, _)| *g == glyph)
            .map(|(_, c)| *c)
    }

    /// Characters of `text` the font cannot show (they would print as an empty box).
    pub fn missing(&self, text: &str) -> Vec<char> {
        let mut out: Vec<char> = text
            .chars()
            .filter(|c| !c.is_control() && self.glyph(*c).is_none())
            .collect();
        out.dedup();
        out
    }

    /// Width of `text` at `size` points.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        text.chars()
            .map(|c| self.advance(self.glyph(c).unwrap_or(0)))
            .sum::<f32>()
            * size
            / 1000.0
    }

    fn advance(&self, glyph: u16) -> f32 {
        self.widths.get(usize::from(glyph)).copied().unwrap_or(0.0)
    }

    /// `text` as two-byte glyph ids (Identity-H encoding); unknown characters show `.notdef`.
    pub(crate) fn encode(&self, text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() * 2);
        for c in text.chars() {
            out.extend(self.glyph(c).unwrap_or(0).to_be_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every letter of the Vietnamese alphabet with every tone, both cases, in NFC.
    fn vietnamese_letters() -> String {
        let bases = "aăâeêioôơuưy";
        let tones = ['\u{0300}', '\u{0301}', '\u{0303}', '\u{0309}', '\u{0323}'];
        let mut s = String::from("đĐ");
        for b in bases.chars() {
            s.push(b);
            for t in tones {
                let composed = tinhso_kernel::text::nfc(&format!("{b}{t}"));
                s.push_str(&composed);
            }
        }
        let upper = s.to_uppercase();
        s + &upper + "₫–—“”‘’…№"
    }

    #[test]
    fn every_face_shows_all_of_vietnamese() {
        let letters = vietnamese_letters();
        assert!(letters.chars().count() > 140);
        for style in Style::ALL {
            let f = style.font();
            assert_eq!(f.missing(&letters), Vec::<char>::new(), "{style:?}");
        }
    }

    #[test]
    fn widths_are_sane_and_bold_is_wider() {
        let r = Style::Regular.font();
        let b = Style::Bold.font();
        let w = r.width("Ủy ban nhân dân tỉnh Lạng Sơn", 12.0);
        assert!(w > 100.0 && w < 250.0, "{w}");
        assert!(b.width("Ủy ban nhân dân", 12.0) > r.width("Ủy ban nhân dân", 12.0));
        assert_eq!(r.width("", 12.0), 0.0);
    }

    #[test]
    fn chinese_is_reported_missing_not_silently_dropped() {
        assert_eq!(Style::Regular.font().missing("Xe 凭祥"), vec!['凭', '祥']);
    }

    #[test]
    fn to_unicode_maps_space_not_no_break_space() {
        let f = Style::Regular.font();
        let g = f.glyph(' ').unwrap();
        assert_eq!(f.char_of(g), Some(' '));
        assert_eq!(f.char_of(f.glyph('ệ').unwrap()), Some('ệ'));
    }
}
