//! A minimal spreadsheet writer (bảng tính .xlsx, Office Open XML SpreadsheetML): sheets of
//! text and number cells, texts inline (no shared-strings table), a bold header row, the
//! package written as a ZIP with DEFLATE (`miniz_oxide`, already in the tree through the PDF
//! crate) and CRC-32 computed here. No new dependency: see the workspace Cargo.toml for why
//! not `rust_xlsxwriter`. The same rows give the same bytes (fixed file times).

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Number(f64),
}

impl Cell {
    pub fn text(s: &str) -> Cell {
        Cell::Text(tinhso_kernel::text::nfc(s))
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The column letters of a 0-based index: 0 → A, 25 → Z, 26 → AA.
pub fn column(mut i: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

fn sheet_xml(rows: &[Vec<Cell>]) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
         <worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">\
         <sheetViews><sheetView workbookViewId=\"0\"><pane ySplit=\"1\" topLeftCell=\"A2\" \
         activePane=\"bottomLeft\" state=\"frozen\"/></sheetView></sheetViews><sheetData>",
    );
    for (r, row) in rows.iter().enumerate() {
        x.push_str(&format!("<row r=\"{}\">", r + 1));
        for (c, cell) in row.iter().enumerate() {
            let at = format!("{}{}", column(c), r + 1);
            // Style 1: bold (the header row).
            let s = if r == 0 { " s=\"1\"" } else { "" };
            match cell {
                Cell::Empty => {}
                Cell::Text(t) => x.push_str(&format!(
                    "<c r=\"{at}\" t=\"inlineStr\"{s}><is><t xml:space=\"preserve\">{}</t></is></c>",
                    escape(t)
                )),
                Cell::Number(n) if n.is_finite() => {
                    x.push_str(&format!("<c r=\"{at}\"{s}><v>{n}</v></c>"))
                }
                Cell::Number(_) => {}
            }
        }
        x.push_str("</row>");
    }
    x.push_str("</sheetData></worksheet>");
    x
}

const CONTENT_TYPES_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
<Default Extension=\"xml\" ContentType=\"application/xml\"/>\
<Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>\
<Override PartName=\"/xl/styles.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml\"/>";

const ROOT_RELS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/>\
</Relationships>";

const STYLES: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
<styleSheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">\
<fonts count=\"2\"><font><sz val=\"11\"/><name val=\"Calibri\"/></font><font><b/><sz val=\"11\"/><name val=\"Calibri\"/></font></fonts>\
<fills count=\"2\"><fill><patternFill patternType=\"none\"/></fill><fill><patternFill patternType=\"gray125\"/></fill></fills>\
<borders count=\"1\"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
<cellStyleXfs count=\"1\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\"/></cellStyleXfs>\
<cellXfs count=\"2\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\"/>\
<xf numFmtId=\"0\" fontId=\"1\" fillId=\"0\" borderId=\"0\" xfId=\"0\" applyFont=\"1\"/></cellXfs>\
</styleSheet>";

/// A workbook of one sheet named `sheet` (at most 31 characters, no `[]:*?/\\`).
pub fn workbook(sheet: &str, rows: &[Vec<Cell>]) -> Vec<u8> {
    workbook_of(&[(sheet, rows)])
}

/// A workbook of several sheets (trang tính), in order; names as in [`workbook`].
pub fn workbook_of(sheets: &[(&str, &[Vec<Cell>])]) -> Vec<u8> {
    let mut types = String::from(CONTENT_TYPES_HEAD);
    let mut rels = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
         <Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">",
    );
    let mut list = String::new();
    let mut parts: Vec<(String, String)> = Vec::new();
    for (i, (sheet, rows)) in sheets.iter().enumerate() {
        let n = i + 1;
        let name: String = sheet
            .chars()
            .filter(|c| !"[]:*?/\\".contains(*c))
            .take(31)
            .collect();
        types.push_str(&format!(
            "<Override PartName=\"/xl/worksheets/sheet{n}.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>"
        ));
        rels.push_str(&format!(
            "<Relationship Id=\"rId{n}\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" Target=\"worksheets/sheet{n}.xml\"/>"
        ));
        list.push_str(&format!(
            "<sheet name=\"{}\" sheetId=\"{n}\" r:id=\"rId{n}\"/>",
            escape(&name)
        ));
        parts.push((format!("xl/worksheets/sheet{n}.xml"), sheet_xml(rows)));
    }
    types.push_str("</Types>");
    rels.push_str(&format!(
        "<Relationship Id=\"rId{}\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles\" Target=\"styles.xml\"/></Relationships>",
        sheets.len() + 1
    ));
    let book = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
         <workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" \
         xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">\
         <sheets>{list}</sheets></workbook>"
    );
    let mut files: Vec<(&str, &[u8])> = vec![
        ("[Content_Types].xml", types.as_bytes()),
        ("_rels/.rels", ROOT_RELS.as_bytes()),
        ("xl/workbook.xml", book.as_bytes()),
        ("xl/_rels/workbook.xml.rels", rels.as_bytes()),
        ("xl/styles.xml", STYLES.as_bytes()),
    ];
    for (path, xml) in &parts {
        files.push((path.as_str(), xml.as_bytes()));
    }
    zip(&files)
}

/// CRC-32 (IEEE 802.3, as ZIP uses).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A ZIP archive of (name, content), DEFLATE-compressed, UTF-8 names, file times 1 Jan 1980.
/// Sizes must stay below 4 GiB (no ZIP64): spreadsheets of a few hundred rows.
pub fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    let u16le = |v: &mut Vec<u8>, x: u16| v.extend_from_slice(&x.to_le_bytes());
    let u32le = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
    for (name, data) in files {
        let packed = miniz_oxide::deflate::compress_to_vec(data, 6);
        let crc = crc32(data);
        let offset = out.len() as u32;
        // Local file header.
        u32le(&mut out, 0x0403_4b50);
        u16le(&mut out, 20); // version needed
        u16le(&mut out, 0x0800); // UTF-8 names
        u16le(&mut out, 8); // deflate
        u16le(&mut out, 0); // time
        u16le(&mut out, 0x0021); // date: 1980-01-01
        u32le(&mut out, crc);
        u32le(&mut out, packed.len() as u32);
        u32le(&mut out, data.len() as u32);
        u16le(&mut out, name.len() as u16);
        u16le(&mut out, 0);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&packed);
        // Central directory entry.
        u32le(&mut central, 0x0201_4b50);
        u16le(&mut central, 20); // made by
        u16le(&mut central, 20);
        u16le(&mut central, 0x0800);
        u16le(&mut central, 8);
        u16le(&mut central, 0);
        u16le(&mut central, 0x0021);
        u32le(&mut central, crc);
        u32le(&mut central, packed.len() as u32);
        u32le(&mut central, data.len() as u32);
        u16le(&mut central, name.len() as u16);
        u16le(&mut central, 0); // extra
        u16le(&mut central, 0); // comment
        u16le(&mut central, 0); // disk
        u16le(&mut central, 0); // internal attributes
        u32le(&mut central, 0); // external attributes
        u32le(&mut central, offset);
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    let cd_size = central.len() as u32;
    out.extend_from_slice(&central);
    u32le(&mut out, 0x0605_4b50);
    u16le(&mut out, 0);
    u16le(&mut out, 0);
    u16le(&mut out, files.len() as u16);
    u16le(&mut out, files.len() as u16);
    u32le(&mut out, cd_size);
    u32le(&mut out, cd_offset);
    u16le(&mut out, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_and_columns() {
        // The standard check value of CRC-32.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(column(0), "A");
        assert_eq!(column(25), "Z");
        assert_eq!(column(26), "AA");
        assert_eq!(column(14), "O");
    }

    #[test]
    fn the_archive_unpacks() {
        let rows = vec![
            vec![Cell::text("Mục tiêu"), Cell::text("Giá trị")],
            vec![Cell::text("Tỷ lệ <hồ sơ> & \"số\""), Cell::Number(82.5)],
        ];
        let bytes = workbook("Năm 2026", &rows);
        let dir = std::env::temp_dir().join(format!("xlsx-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.xlsx");
        std::fs::write(&file, &bytes).unwrap();
        // `unzip -t` checks every CRC; skip quietly where unzip is not installed.
        if let Ok(out) = std::process::Command::new("unzip")
            .arg("-p")
            .arg(&file)
            .arg("xl/worksheets/sheet1.xml")
            .output()
        {
            let xml = String::from_utf8(out.stdout).unwrap();
            assert!(xml.contains("<c r=\"B2\"><v>82.5</v></c>"), "{xml}");
            assert!(
                xml.contains("Tỷ lệ &lt;hồ sơ&gt; &amp; &quot;số&quot;"),
                "{xml}"
            );
            let t = std::process::Command::new("unzip")
                .arg("-tq")
                .arg(&file)
                .output()
                .unwrap();
            assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stdout));
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
