//! E-forms (biểu mẫu điện tử): a procedure defines typed fields; [`validate`] checks what an
//! applicant typed against them and reports every problem at once, in Vietnamese and English,
//! under the field's name (`form.<name>`), so the page can show each message beside its field
//! and keep what was typed.

use crate::catalogue::Field;
use chrono::NaiveDate;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use tinhso_kernel::{text, validate, FieldErrors, Invalid};

/// Field types the e-form understands.
pub const KNOWN_TYPES: &[&str] = &[
    "text",
    "textarea",
    "date",
    "number",
    "select",
    "checkbox",
    "cccd",
    "mst",
    "phone",
    "email",
    "admin_unit",
];

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(s, "%d/%m/%Y"))
        .ok()
}

fn check_one(f: &Field, raw: &str) -> Result<Value, Invalid> {
    let v = text::clean(raw);
    match f.kind.as_str() {
        "text" | "textarea" => {
            let max = f
                .max_length
                .unwrap_or(if f.kind == "text" { 500 } else { 4000 });
            let s = validate::length(&v, f.min_length.unwrap_or(0), max)?;
            Ok(Value::String(if f.kind == "textarea" {
                text::nfc(raw.trim())
            } else {
                s
            }))
        }
        "date" => parse_date(&v)
            .map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
            .ok_or_else(|| {
                Invalid::new(
                    "date_format",
                    format!(
                        "\"{v}\" không phải ngày hợp lệ: nhập dạng NN/TT/NNNN, ví dụ 05/03/2026"
                    ),
                    format!("\"{v}\" is not a valid date: use DD/MM/YYYY, e.g. 05/03/2026"),
                )
            }),
        "number" => {
            let n: f64 = v.replace(',', ".").parse().map_err(|_| {
                Invalid::new(
                    "number_format",
                    format!("\"{v}\" không phải là số"),
                    format!("\"{v}\" is not a number"),
                )
            })?;
            if let Some(min) = f.min.filter(|m| n < *m) {
                return Err(Invalid::new(
                    "number_min",
                    format!("Giá trị tối thiểu là {min}"),
                    format!("The minimum is {min}"),
                ));
            }
            if let Some(max) = f.max.filter(|m| n > *m) {
                return Err(Invalid::new(
                    "number_max",
                    format!("Giá trị tối đa là {max}"),
                    format!("The maximum is {max}"),
                ));
            }
            serde_json::Number::from_f64(n)
                .map(Value::Number)
                .ok_or_else(|| Invalid::new("number_format", "Số không hợp lệ", "Invalid number"))
        }
        "select" => {
            let options = f.options.as_deref().unwrap_or_default();
            if options.iter().any(|o| o.value == v) {
                Ok(Value::String(v))
            } else {
                let labels: Vec<&str> = options.iter().map(|o| o.label.as_str()).collect();
                Err(Invalid::new(
                    "select_option",
                    format!("Vui lòng chọn một trong: {}", labels.join(", ")),
                    format!("Choose one of: {}", labels.join(", ")),
                ))
            }
        }
        "checkbox" => Ok(Value::Bool(matches!(
            v.as_str(),
            "on" | "true" | "1" | "yes"
        ))),
        "cccd" => validate::cccd(&v).map(|c| Value::String(c.number)),
        "mst" => validate::mst(&v).map(|m| Value::String(m.canonical)),
        "phone" => validate::phone(&v).map(Value::String),
        "email" => validate::email(&v).map(Value::String),
        "admin_unit" => tinhso_refdata::units::units()
            .commune(&v)
            .map(|c| Value::String(c.code.clone()))
            .ok_or_else(|| {
                Invalid::new(
                    "admin_unit_unknown",
                    "Vui lòng chọn xã, phường trong danh mục",
                    "Choose a commune or ward from the list",
                )
            }),
        other => Err(Invalid::new(
            "field_type",
            format!("Kiểu trường \"{other}\" không được hỗ trợ"),
            format!("Unsupported field type \"{other}\""),
        )),
    }
}

/// Validate `values` (as typed) against `fields`. Unknown keys are ignored; every error is
/// collected under `form.<name>`. Returns the normalised values.
pub fn validate(
    fields: &[Field],
    values: &BTreeMap<String, String>,
    errs: &mut FieldErrors,
) -> Map<String, Value> {
    let mut out = Map::new();
    for f in fields {
        let key = format!("form.{}", f.name);
        let raw = values.get(&f.name).map(String::as_str).unwrap_or("");
        let empty = raw.trim().is_empty();
        if empty {
            if f.required {
                let msg = if f.kind == "checkbox" {
                    Invalid::new(
                        "required",
                        format!("Vui lòng xác nhận: {}", f.label),
                        format!("Please confirm: {}", f.label),
                    )
                } else {
                    Invalid::new(
                        "required",
                        format!("Vui lòng nhập {}", lower_first(&f.label)),
                        format!("Please fill in \"{}\"", f.label),
                    )
                };
                errs.push(&key, msg);
            } else if f.kind == "checkbox" {
                out.insert(f.name.clone(), Value::Bool(false));
            }
            continue;
        }
        match check_one(f, raw) {
            Ok(Value::Bool(false)) if f.required => errs.push(
                &key,
                Invalid::new(
                    "required",
                    format!("Vui lòng xác nhận: {}", f.label),
                    format!("Please confirm: {}", f.label),
                ),
            ),
            Ok(v) => {
                out.insert(f.name.clone(), v);
            }
            Err(e) => errs.push(&key, e),
        }
    }
    out
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::SelectOption;

    fn field(name: &str, kind: &str, required: bool) -> Field {
        Field {
            name: name.into(),
            label: "Họ và tên".into(),
            kind: kind.into(),
            required,
            min_length: None,
            max_length: None,
            min: None,
            max: None,
            options: None,
            help: None,
        }
    }

    #[test]
    fn every_problem_is_reported_under_its_field() {
        let mut sel = field("gioi_tinh", "select", true);
        sel.options = Some(vec![
            SelectOption {
                value: "nam".into(),
                label: "Nam".into(),
            },
            SelectOption {
                value: "nu".into(),
                label: "Nữ".into(),
            },
        ]);
        let fields = vec![
            field("ho_ten", "text", true),
            field("ngay_sinh", "date", true),
            sel,
            field("cccd", "cccd", false),
            field("dong_y", "checkbox", true),
        ];
        let values: BTreeMap<String, String> = [
            ("ngay_sinh", "31/02/2026"),
            ("gioi_tinh", "khac"),
            ("cccd", "123"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let mut errs = FieldErrors::new();
        validate(&fields, &values, &mut errs);
        let e = errs.into_result().unwrap_err();
        let names: Vec<&str> = e.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            names,
            [
                "form.ho_ten",
                "form.ngay_sinh",
                "form.gioi_tinh",
                "form.cccd",
                "form.dong_y"
            ]
        );
        assert!(e.fields[0].message_vi.contains("họ và tên"));
    }

    #[test]
    fn valid_values_are_normalised() {
        let fields = vec![
            field("ngay", "date", true),
            field("sdt", "phone", true),
            field("ten", "text", true),
        ];
        let values: BTreeMap<String, String> = [
            ("ngay", "05/03/2026"),
            ("sdt", "+84 912 345 678"),
            ("ten", "  Nguyễn   Văn  A "),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let mut errs = FieldErrors::new();
        let out = validate(&fields, &values, &mut errs);
        assert!(errs.is_empty());
        assert_eq!(out["ngay"], "2026-03-05");
        assert_eq!(out["sdt"], "0912345678");
        assert_eq!(out["ten"], "Nguyễn Văn A");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(kind in proptest::sample::select(KNOWN_TYPES.to_vec()), raw in "\\PC{0,40}") {
            let fields = vec![field("x", kind, true)];
            let values: BTreeMap<String, String> = [("x".to_string(), raw)].into_iter().collect();
            let mut errs = FieldErrors::new();
            let _ = validate(&fields, &values, &mut errs);
        }
    }
}
