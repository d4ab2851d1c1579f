//! Signature fields (trường chữ ký số) for PAdES: the PDF side of an embedded signature.
//!
//! [`crate::Document::finish_signed`] writes an invisible signature widget on the first page,
//! the form (`/AcroForm`, `/SigFlags 3`) and a signature dictionary (`/Filter /Adobe.PPKLite
//! /SubFilter /ETSI.CAdES.detached`) whose `/ByteRange` and `/Contents` are placeholders of
//! fixed width. [`fill`] then computes the byte ranges — the whole file except the
//! `/Contents` hex string — has them signed, and writes the numbers and the DER signature in
//! place, padded, so no offset in the cross-reference table moves.
//!
//! [`signed_parts`] reads the last signature of any PDF back (for verifiers): the byte range,
//! whether it covers the whole file, and the DER bytes of `/Contents`. It never panics on
//! malformed input; it just finds nothing.

use crate::pdf_date;
use pdf_writer::{Name, Pdf, Rect, Ref, Str, TextStr};

/// What the signature dictionary says besides the signature itself.
#[derive(Debug, Clone)]
pub struct SignatureSlot {
    /// The field's name (`/T`), e.g. `Chu ky co quan`.
    pub field: String,
    /// The signer as named in the dictionary (`/Name`).
    pub name: String,
    /// `/Reason`.
    pub reason: String,
    /// `/Location`.
    pub location: String,
    /// `/M`: local signing time and its UTC offset in hours.
    pub signed_at: Option<(chrono::NaiveDateTime, i8)>,
    /// Bytes reserved for the DER signature (the hex string is twice as long).
    pub capacity: usize,
}

/// Why a document could not be signed.
#[derive(Debug)]
pub enum SignError<E> {
    /// The signer failed.
    Signer(E),
    /// The signature is larger than the reserved room.
    TooLarge { needed: usize, capacity: usize },
    /// The placeholders were not found (a bug in this crate).
    Placeholder,
}

impl<E: std::fmt::Display> std::fmt::Display for SignError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignError::Signer(e) => write!(f, "signing failed: {e}"),
            SignError::TooLarge { needed, capacity } => write!(
                f,
                "the signature needs {needed} bytes, {capacity} were reserved"
            ),
            SignError::Placeholder => f.write_str("signature placeholders not found"),
        }
    }
}

/// The placeholder of each `/ByteRange` number: wide enough for any file below 2 GiB.
const RANGE_PLACEHOLDER: i32 = i32::MAX;

pub(crate) fn write_field(pdf: &mut Pdf, slot: &SignatureSlot, field: Ref, value: Ref, page: Ref) {
    {
        let mut w = pdf.indirect(field).dict();
        w.pair(Name(b"Type"), Name(b"Annot"));
        w.pair(Name(b"Subtype"), Name(b"Widget"));
        w.pair(Name(b"FT"), Name(b"Sig"));
        w.pair(Name(b"T"), TextStr(&slot.field));
        w.pair(Name(b"V"), value);
        w.pair(Name(b"Rect"), Rect::new(0.0, 0.0, 0.0, 0.0));
        // Print | Locked.
        w.pair(Name(b"F"), 132);
        w.pair(Name(b"P"), page);
    }
    let mut s = pdf.indirect(value).dict();
    s.pair(Name(b"Type"), Name(b"Sig"));
    s.pair(Name(b"Filter"), Name(b"Adobe.PPKLite"));
    s.pair(Name(b"SubFilter"), Name(b"ETSI.CAdES.detached"));
    s.insert(Name(b"ByteRange")).array().items([
        0,
        RANGE_PLACEHOLDER,
        RANGE_PLACEHOLDER,
        RANGE_PLACEHOLDER,
    ]);
    // Non-ASCII bytes make pdf-writer write a hex string: `<FFFF…>`.
    s.pair(Name(b"Contents"), Str(&vec![0xFF; slot.capacity]));
    if !slot.name.is_empty() {
        s.pair(Name(b"Name"), TextStr(&slot.name));
    }
    if !slot.reason.is_empty() {
        s.pair(Name(b"Reason"), TextStr(&slot.reason));
    }
    if !slot.location.is_empty() {
        s.pair(Name(b"Location"), TextStr(&slot.location));
    }
    if let Some((t, offset)) = slot.signed_at {
        s.pair(Name(b"M"), pdf_date(t, offset));
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// A document whose `/ByteRange` is written and whose `/Contents` still waits for the
/// signature: the first phase of [`fill`], kept apart so a caller can do asynchronous work
/// between computing the signature and writing it (a PAdES-B-T time-stamp token is asked of a
/// TSA over the network and added to the CMS before it is written).
#[derive(Debug, Clone)]
pub struct Prepared {
    pdf: Vec<u8>,
    /// Offsets of the `<…>` hex string of `/Contents`.
    start: usize,
    end: usize,
    capacity: usize,
}

impl Prepared {
    /// Find the placeholders of a document written with a signature slot of `capacity` bytes
    /// and write the byte range. `None` when they are not there (a bug in this crate).
    pub fn new(mut pdf: Vec<u8>, capacity: usize) -> Option<Prepared> {
        let mut hole = Vec::with_capacity(2 * capacity + 2);
        hole.push(b'<');
        hole.extend(std::iter::repeat_n(b'F', 2 * capacity));
        hole.push(b'>');
        let start = find(&pdf, &hole)?;
        let end = start + hole.len();
        let range_key = b"/ByteRange [";
        let range_at = find(&pdf, range_key)? + range_key.len();
        let range_len = pdf[range_at..].iter().position(|b| *b == b']')?;
        let numbers = format!("0 {start} {end} {}", pdf.len() - end);
        if numbers.len() > range_len {
            return None;
        }
        let mut text = numbers.into_bytes();
        text.resize(range_len, b' ');
        pdf[range_at..range_at + range_len].copy_from_slice(&text);
        Some(Prepared {
            pdf,
            start,
            end,
            capacity,
        })
    }

    /// The two signed byte ranges: the whole file except the `/Contents` value.
    pub fn parts(&self) -> [&[u8]; 2] {
        [&self.pdf[..self.start], &self.pdf[self.end..]]
    }

    /// Bytes reserved for the DER signature.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Write the DER signature (zero-padded) into `/Contents`; `Err((needed, capacity))` when
    /// it is larger than the room.
    pub fn insert(mut self, der: &[u8]) -> Result<Vec<u8>, (usize, usize)> {
        if der.len() > self.capacity {
            return Err((der.len(), self.capacity));
        }
        let mut hex = Vec::with_capacity(2 * self.capacity);
        for b in der {
            hex.extend(format!("{b:02X}").bytes());
        }
        hex.resize(2 * self.capacity, b'0');
        self.pdf[self.start + 1..self.end - 1].copy_from_slice(&hex);
        Ok(self.pdf)
    }
}

/// Fill the placeholders of a document written with a signature slot of `capacity` bytes.
pub fn fill<E>(
    pdf: Vec<u8>,
    capacity: usize,
    signer: impl FnOnce(&[&[u8]; 2]) -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, SignError<E>> {
    let prepared = Prepared::new(pdf, capacity).ok_or(SignError::Placeholder)?;
    let der = signer(&prepared.parts()).map_err(SignError::Signer)?;
    prepared
        .insert(&der)
        .map_err(|(needed, capacity)| SignError::TooLarge { needed, capacity })
}

/// The last signature of a PDF as a verifier sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedParts {
    /// `/ByteRange`: offset and length of the two signed parts.
    pub byte_range: [usize; 4],
    /// The ranges start at 0, leave out exactly the `/Contents` hex string and end at the
    /// end of the file: nothing outside the signature can be changed or appended unseen.
    pub covers_whole_file: bool,
    /// The decoded `/Contents` (DER, possibly followed by zero padding).
    pub contents: Vec<u8>,
}

impl SignedParts {
    /// The signed bytes of `pdf`, when the ranges lie inside it.
    pub fn ranges<'a>(&self, pdf: &'a [u8]) -> Option<[&'a [u8]; 2]> {
        let [a, b, c, d] = self.byte_range;
        let first = pdf.get(a..a.checked_add(b)?)?;
        let second = pdf.get(c..c.checked_add(d)?)?;
        Some([first, second])
    }
}

/// Read the last signature of `pdf` (see the module documentation). `None` when there is no
/// `/ByteRange` or it cannot be read; a `/Contents` that is not hex gives empty contents.
pub fn signed_parts(pdf: &[u8]) -> Option<SignedParts> {
    let key = b"/ByteRange";
    let at = rfind(pdf, key)? + key.len();
    let rest = pdf.get(at..)?;
    let open = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    if rest.get(open) != Some(&b'[') {
        return None;
    }
    let close = rest
        .get(open..)?
        .iter()
        .take(200)
        .position(|b| *b == b']')?
        + open;
    let inner = std::str::from_utf8(rest.get(open + 1..close)?).ok()?;
    let numbers: Vec<usize> = inner
        .split_ascii_whitespace()
        .map(|n| n.parse::<usize>())
        .collect::<Result<_, _>>()
        .ok()?;
    let byte_range: [usize; 4] = numbers.try_into().ok()?;
    let [a, b, c, d] = byte_range;
    let hole_start = a.checked_add(b)?;
    let covers_whole_file = a == 0
        && hole_start < c
        && c.checked_add(d) == Some(pdf.len())
        && pdf.get(hole_start) == Some(&b'<')
        && c >= 1
        && pdf.get(c - 1) == Some(&b'>');
    let contents = match pdf.get(hole_start..c) {
        Some(h) if h.len() >= 2 && h[0] == b'<' && h[h.len() - 1] == b'>' => {
            decode_hex(&h[1..h.len() - 1]).unwrap_or_default()
        }
        _ => Vec::new(),
    };
    Some(SignedParts {
        byte_range,
        covers_whole_file,
        contents,
    })
}

fn decode_hex(h: &[u8]) -> Option<Vec<u8>> {
    let digits: Vec<u8> = h
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(digits.len() / 2 + 1);
    for pair in digits.chunks(2) {
        let hi = (pair[0] as char).to_digit(16)?;
        // An odd last digit is followed by an implied 0 (PDF 32000-1, 7.3.4.3).
        let lo = match pair.get(1) {
            Some(b) => (*b as char).to_digit(16)?,
            None => 0,
        };
        out.push((hi * 16 + lo) as u8);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Document, Meta, Para, Style};

    fn slot() -> SignatureSlot {
        SignatureSlot {
            field: "Chu ky".into(),
            name: "Ủy ban nhân dân xã Tam Thanh".into(),
            reason: "Ký kết quả".into(),
            location: "Lạng Sơn".into(),
            signed_at: None,
            capacity: 64,
        }
    }

    fn doc() -> Document {
        let mut d = Document::new(Meta::default());
        d.para(Para::new("Giấy khai sinh", Style::Bold, 14.0));
        d
    }

    #[test]
    fn the_ranges_cover_everything_but_the_signature_and_it_reads_back() {
        let mut seen = Vec::new();
        let pdf = doc()
            .finish_signed(&slot(), |parts| {
                seen = [parts[0], parts[1]].concat();
                Ok::<_, String>(vec![0x30, 0x03, 0x02, 0x01, 0x07])
            })
            .unwrap();
        let parts = signed_parts(&pdf).unwrap();
        assert!(parts.covers_whole_file, "{:?}", parts.byte_range);
        assert_eq!(&parts.contents[..5], &[0x30, 0x03, 0x02, 0x01, 0x07]);
        assert!(parts.contents[5..].iter().all(|b| *b == 0));
        let [a, b] = parts.ranges(&pdf).unwrap();
        assert_eq!([a, b].concat(), seen);
        assert_eq!(seen.len() + 2 * 64 + 2, pdf.len());
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/SubFilter /ETSI.CAdES.detached"));
        assert!(text.contains("/FT /Sig"));
        assert!(text.contains("/SigFlags 3"));
        // Appending anything breaks the coverage.
        let mut longer = pdf.clone();
        longer.extend(b"\n% appended\n");
        assert!(!signed_parts(&longer).unwrap().covers_whole_file);
    }

    #[test]
    fn a_signature_larger_than_the_room_is_refused() {
        let r = doc().finish_signed(&slot(), |_| Ok::<_, String>(vec![1; 65]));
        assert!(matches!(
            r,
            Err(SignError::TooLarge {
                needed: 65,
                capacity: 64
            })
        ));
        let r = doc().finish_signed(&slot(), |_| Err::<Vec<u8>, _>("no key"));
        assert!(matches!(r, Err(SignError::Signer("no key"))));
    }

    #[test]
    fn garbage_never_panics() {
        assert_eq!(signed_parts(b""), None);
        assert_eq!(signed_parts(b"/ByteRange"), None);
        assert_eq!(signed_parts(b"/ByteRange [0 1 2"), None);
        let p = signed_parts(b"/ByteRange [0 99999999999 3 4]").unwrap();
        assert!(!p.covers_whole_file);
        let p = signed_parts(b"/ByteRange [0 18446744073709551615 3 4]").unwrap();
        assert!(!p.covers_whole_file);
        assert_eq!(p.ranges(b"abc"), None);
        assert_eq!(signed_parts(b"/ByteRange [0 1 2 3 4]"), None);
        let p = signed_parts(b"x/ByteRange [0 13 16 0]<z>").unwrap();
        assert!(p.contents.is_empty());
        for cut in 0..40 {
            let s = b"%PDF /ByteRange [0 10 20 5] <0A0B> trailing";
            let _ = signed_parts(&s[..cut.min(s.len())]);
        }
    }
}
