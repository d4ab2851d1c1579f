//! VietQR (NAPAS) payment codes: the EMVCo merchant-presented QR format as profiled for Vietnam.
//!
//! A payload is a flat sequence of TLV fields (two-digit tag, two-digit length, value):
//! `00` payload format "01"; `01` "12" (dynamic: one amount for one payment); `38` merchant
//! account information with GUID `A000000727`, sub-tag `01` the beneficiary organisation
//! (`00` bank BIN, `01` account number) and sub-tag `02` the service code `QRIBFTTA`
//! (transfer to an account); `53` currency "704" (VND); `54` amount; `58` country "VN";
//! `62` additional data with `08` the purpose; `63` the CRC-16/CCITT-FALSE of everything
//! before it, including the "6304" of the CRC field itself, in four upper-case hex digits.

use tinhso_kernel::{text, Invalid};

/// The NAPAS application identifier of VietQR.
pub const GUID: &str = "A000000727";
/// Service code: fast transfer to an account.
pub const SERVICE_TO_ACCOUNT: &str = "QRIBFTTA";

/// CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection, no final xor.
pub fn crc16_ccitt_false(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn tlv(out: &mut String, tag: &str, value: &str) {
    out.push_str(tag);
    out.push_str(&format!("{:02}", value.len()));
    out.push_str(value);
}

fn bad(code: &'static str, vi: &str, en: &str) -> Invalid {
    Invalid::new(code, vi, en)
}

/// The purpose text as carried in the QR: accents folded, upper case, only letters, digits,
/// spaces, `-` and `.`, at most 25 characters (a dossier code fits exactly).
pub fn clean_purpose(purpose: &str) -> Result<String, Invalid> {
    let folded: String = text::fold(purpose)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == ' ' || c == '-' || c == '.' {
                c.to_ascii_uppercase()
            } else {
                ' '
            }
        })
        .collect();
    let p = folded.split_whitespace().collect::<Vec<_>>().join(" ");
    if p.is_empty() {
        return Err(bad(
            "purpose_required",
            "Thiếu nội dung chuyển khoản",
            "The payment purpose is missing",
        ));
    }
    if p.len() > 25 {
        return Err(bad(
            "purpose_too_long",
            "Nội dung chuyển khoản tối đa 25 ký tự",
            "The payment purpose is at most 25 characters",
        ));
    }
    Ok(p)
}

/// A dynamic VietQR payload for a transfer of `amount_vnd` to `account` at the bank with
/// `bin`, with `purpose` (folded to ASCII, ≤ 25 characters).
pub fn payload(
    bin: &str,
    account: &str,
    amount_vnd: i64,
    purpose: &str,
) -> Result<String, Invalid> {
    if bin.len() != 6 || !bin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            "bin_format",
            "Mã ngân hàng (BIN) gồm 6 chữ số",
            "The bank BIN is 6 digits",
        ));
    }
    if account.is_empty()
        || account.len() > 19
        || !account.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(bad(
            "account_format",
            "Số tài khoản gồm tối đa 19 chữ số hoặc chữ cái",
            "The account number is at most 19 letters or digits",
        ));
    }
    if amount_vnd <= 0 || amount_vnd > 9_999_999_999_999 {
        return Err(bad(
            "amount_range",
            "Số tiền phải là số nguyên dương (đồng)",
            "The amount must be a positive whole number of đồng",
        ));
    }
    let purpose = clean_purpose(purpose)?;
    let mut org = String::new();
    tlv(&mut org, "00", bin);
    tlv(&mut org, "01", account);
    let mut mai = String::new();
    tlv(&mut mai, "00", GUID);
    tlv(&mut mai, "01", &org);
    tlv(&mut mai, "02", SERVICE_TO_ACCOUNT);
    let mut add = String::new();
    tlv(&mut add, "08", &purpose);
    let mut out = String::new();
    tlv(&mut out, "00", "01");
    tlv(&mut out, "01", "12");
    tlv(&mut out, "38", &mai);
    tlv(&mut out, "53", "704");
    tlv(&mut out, "54", &amount_vnd.to_string());
    tlv(&mut out, "58", "VN");
    tlv(&mut out, "62", &add);
    out.push_str("6304");
    let crc = crc16_ccitt_false(out.as_bytes());
    out.push_str(&format!("{crc:04X}"));
    Ok(out)
}

/// What [`parse`] reads from a VietQR payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// True for a dynamic ("12") code, false for a static ("11") one.
    pub dynamic: bool,
    pub bin: String,
    pub account: String,
    pub service: String,
    pub currency: String,
    pub amount_vnd: Option<i64>,
    pub country: String,
    pub purpose: Option<String>,
}

/// Split a TLV string into (tag, value) pairs.
fn fields(s: &str) -> Result<Vec<(&str, &str)>, Invalid> {
    let malformed = || {
        bad(
            "qr_malformed",
            "Mã QR không đúng cấu trúc",
            "The QR payload is malformed",
        )
    };
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let tag = rest.get(0..2).ok_or_else(malformed)?;
        let len = rest.get(2..4).ok_or_else(malformed)?;
        if !tag.bytes().all(|b| b.is_ascii_digit()) || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        let n: usize = len.parse().map_err(|_| malformed())?;
        let value = rest.get(4..4 + n).ok_or_else(malformed)?;
        out.push((tag, value));
        rest = rest.get(4 + n..).ok_or_else(malformed)?;
    }
    Ok(out)
}

fn get<'a>(f: &[(&'a str, &'a str)], tag: &str) -> Option<&'a str> {
    f.iter().find(|(t, _)| *t == tag).map(|(_, v)| *v)
}

/// Read a VietQR payload, checking its CRC and TLV structure.
pub fn parse(payload: &str) -> Result<Parsed, Invalid> {
    let malformed = || {
        bad(
            "qr_malformed",
            "Mã QR không đúng cấu trúc",
            "The QR payload is malformed",
        )
    };
    if !payload.is_ascii() || payload.len() < 8 {
        return Err(malformed());
    }
    let (body, crc) = payload.split_at(payload.len() - 4);
    if !body.ends_with("6304") {
        return Err(malformed());
    }
    let want = u16::from_str_radix(crc, 16).map_err(|_| malformed())?;
    if !crc.bytes().all(|b| b.is_ascii_hexdigit()) || crc16_ccitt_false(body.as_bytes()) != want {
        return Err(bad(
            "qr_crc",
            "Mã QR sai mã kiểm tra (CRC)",
            "The QR payload's CRC does not match",
        ));
    }
    let top = fields(payload)?;
    if top.last().map(|(t, _)| *t) != Some("63") {
        return Err(malformed());
    }
    if get(&top, "00") != Some("01") {
        return Err(malformed());
    }
    let dynamic = match get(&top, "01") {
        Some("12") => true,
        Some("11") => false,
        _ => return Err(malformed()),
    };
    let mai = fields(get(&top, "38").ok_or_else(malformed)?)?;
    if get(&mai, "00") != Some(GUID) {
        return Err(malformed());
    }
    let org = fields(get(&mai, "01").ok_or_else(malformed)?)?;
    let bin = get(&org, "00").ok_or_else(malformed)?.to_string();
    let account = get(&org, "01").ok_or_else(malformed)?.to_string();
    let amount_vnd = match get(&top, "54") {
        Some(a) => Some(a.parse::<i64>().map_err(|_| malformed())?),
        None => None,
    };
    let purpose = match get(&top, "62") {
        Some(v) => get(&fields(v)?, "08").map(str::to_string),
        None => None,
    };
    Ok(Parsed {
        dynamic,
        bin,
        account,
        service: get(&mai, "02").unwrap_or_default().to_string(),
        currency: get(&top, "53").unwrap_or_default().to_string(),
        amount_vnd,
        country: get(&top, "58").unwrap_or_default().to_string(),
        purpose,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc_check_value() {
        assert_eq!(crc16_ccitt_false(b"123456789"), 0x29B1);
    }

    #[test]
    fn round_trip() {
        let p = payload(
            "970418",
            "1234567890",
            75_000,
            "Hồ sơ 000.00.23.H37-261129-0007",
        )
        .unwrap_err();
        assert_eq!(p.code, "purpose_too_long");
        let s = payload("970418", "1234567890", 75_000, "H37-261129-0007").unwrap();
        assert!(s.starts_with("000201010212"));
        assert!(s.contains("0010A000000727"));
        assert!(s.contains("5303704"));
        assert!(s.contains("540575000"));
        assert!(s.contains("5802VN"));
        let got = parse(&s).unwrap();
        assert_eq!(
            got,
            Parsed {
                dynamic: true,
                bin: "970418".into(),
                account: "1234567890".into(),
                service: "QRIBFTTA".into(),
                currency: "704".into(),
                amount_vnd: Some(75_000),
                country: "VN".into(),
                purpose: Some("H37-261129-0007".into()),
            }
        );
        // One changed character breaks the CRC.
        let tampered = s.replacen("75000", "75001", 1);
        assert_eq!(parse(&tampered).unwrap_err().code, "qr_crc");
    }

    /// The example in the README of github.com/subiz/vietqr (a Go VietQR generator): 120 000 đ
    /// to account 0011001932418 at VietinBank (BIN 970415), purpose "ung ho lu lut".
    #[test]
    fn known_example_parses() {
        let s = "00020101021238570010A00000072701270006970415011300110019324180208QRIBFTTA530370454061200005802VN62170813ung ho lu lut6304C15C";
        let p = parse(s).unwrap();
        assert_eq!(p.bin, "970415");
        assert_eq!(p.account, "0011001932418");
        assert_eq!(p.amount_vnd, Some(120_000));
        assert_eq!(p.purpose.as_deref(), Some("ung ho lu lut"));
        assert!(p.dynamic);
        // Our builder produces the same fields (with the purpose upper-cased).
        let ours = payload("970415", "0011001932418", 120_000, "ủng hộ lũ lụt").unwrap();
        assert_eq!(&ours[..ours.len() - 8 - 21], &s[..s.len() - 8 - 21]);
    }

    #[test]
    fn dossier_code_fits_the_purpose() {
        assert_eq!(
            clean_purpose("000.00.23.H37-261129-0007").unwrap(),
            "000.00.23.H37-261129-0007"
        );
    }

    #[test]
    fn purpose_is_folded() {
        assert_eq!(clean_purpose("Lệ phí  đăng ký").unwrap(), "LE PHI DANG KY");
    }

    #[test]
    fn rejects_bad_inputs() {
        assert_eq!(
            payload("97041", "1", 1, "x").unwrap_err().code,
            "bin_format"
        );
        assert_eq!(
            payload("970418", "12-3", 1, "x").unwrap_err().code,
            "account_format"
        );
        assert_eq!(
            payload("970418", "12345678901234567890", 1, "x")
                .unwrap_err()
                .code,
            "account_format"
        );
        assert_eq!(
            payload("970418", "123", 0, "x").unwrap_err().code,
            "amount_range"
        );
        assert_eq!(
            payload("970418", "123", -5, "x").unwrap_err().code,
            "amount_range"
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn parse_never_panics_on_tlv_like(s in "[0-9A-F]{0,120}") {
            let _ = parse(&s);
            let _ = parse(&format!("{s}6304ABCD"));
        }

        #[test]
        fn payload_round_trips(
            bin in "[0-9]{6}",
            account in "[0-9A-Za-z]{1,19}",
            amount in 1i64..9_999_999_999,
            purpose in "[A-Za-z0-9 ]{0,25}",
        ) {
            match payload(&bin, &account, amount, &purpose) {
                Ok(s) => {
                    let p = parse(&s).unwrap();
                    prop_assert_eq!(p.bin, bin);
                    prop_assert_eq!(p.account, account);
                    prop_assert_eq!(p.amount_vnd, Some(amount));
                    prop_assert_eq!(p.purpose, Some(clean_purpose(&purpose).unwrap()));
                }
                Err(e) => prop_assert_eq!(e.code, "purpose_required"),
            }
        }
    }
}
