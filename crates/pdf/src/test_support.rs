//! Reading a PDF back in tests (hỗ trợ kiểm thử): its text as a reader's tool extracts it, through
//! `pdftotext` (poppler-utils, installed by `.ci/run`). Not used by the product at run time.

use std::io::Write;
use std::process::{Command, Stdio};

/// The text of `pdf` as `pdftotext` extracts it (`-layout` keeps the columns' lines). Panics
/// when `pdftotext` is missing or refuses the file: a test that reads a PDF cannot go on.
pub fn pdftotext(pdf: &[u8], layout: bool) -> String {
    let mut args = vec!["-", "-"];
    if layout {
        args.insert(0, "-layout");
    }
    let mut child = Command::new("pdftotext")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("pdftotext (poppler-utils) is installed: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(pdf)
            .unwrap_or_else(|e| panic!("pdftotext: write the PDF: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("pdftotext: {e}"));
    assert!(out.status.success(), "pdftotext failed: {}", out.status);
    String::from_utf8(out.stdout).unwrap_or_else(|e| panic!("pdftotext: not UTF-8: {e}"))
}

/// The words of `text`, one space apart (line breaks and the layout's padding gone).
pub fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
