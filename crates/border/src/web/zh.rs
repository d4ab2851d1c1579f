//! Chinese (simplified) wording of the errors a driver meets on the border pages (thông báo lỗi
//! tiếng Trung): the declaration, the correction and the slot booking. The modules give their
//! field errors in Vietnamese and English under a stable reason code; this table says each
//! rule in Chinese, and the page adds the English message, which carries the specifics (the
//! gate's hours, the suggested HS code, the weights). Written by the team; a native reviewer
//! should read it before wide use (docs/border/README.md).

use tinhso_kernel::{AppError, ErrorCode, FieldError};

/// The rule behind a reason code, in Chinese; `None` for a code not in the table.
pub fn rule_zh(code: &str) -> Option<&'static str> {
    Some(match code {
        // Every form.
        "required" => "此项必填",
        "too_short" => "内容太短",
        "too_long" => "内容太长",
        "number" | "quantity" => "请输入有效的数字",
        "datetime" | "date" | "at" => "日期或时间格式不正确",
        "reason" | "reason_required" => "请填写原因",
        "reason_length" => "原因太长",
        // The declaration: gate, direction, arrival.
        "gate" | "gate_unknown" => "没有该口岸",
        "gate_fixed" => "已申报的口岸不能更改，请取消后重新申报",
        "gate_closed" => "预计到达时间不在口岸开放时间内",
        "direction" => "类型必须是出口、进口、过境或转口",
        "direction_at_gate" | "direction_not_taken" => "该口岸不办理此类型",
        "arrival_past" => "预计到达时间已过",
        "arrival_far" => "预计到达时间不能超过30天以后",
        // Goods.
        "goods_count" => "货物行数不正确",
        "hs_code" => "HS编码必须是8位数字（东盟统一税则目录）",
        "hs_unknown" => "目录中没有该HS编码",
        "weight" => "重量必须大于零",
        "overweight" => "货物重量超过车辆和挂车的载重量",
        "quarantine_at_gate" => "该口岸没有此货物所需的检疫机构",
        "customs_declaration" | "customs_declaration_other" => "海关申报单号格式不正确",
        // Vehicle, trailer and plates.
        "plate_empty" => "请填写车牌号",
        "plate_char" => "车牌号含有无效字符",
        "plate_length" => "车牌号长度不正确",
        "plate_digits" => "车牌号的数字部分不正确",
        "plate_series" => "越南车牌的系列字母不正确",
        "plate_province" => "越南车牌的地区代码不存在",
        "plate_cn_letter" => "中国车牌的发牌机关字母不正确",
        "plate_cn_serial" => "中国车牌的序号不正确",
        "plate_colour" => "车牌颜色不正确",
        "is_trailer" => "这是挂车车牌，不能作为牵引车或货车",
        "not_trailer" => "挂车栏请填写挂车车牌",
        "payload" => "载重量必须大于零",
        // Driver and enterprise.
        "id_kind" => "证件类型必须是越南公民身份证或护照",
        "passport" => "护照号码格式不正确",
        "nationality" => "国籍代码不正确",
        "cccd_format" | "cccd_length" | "cccd_province" | "cccd_birth_year" => {
            "越南公民身份证号码不正确"
        }
        "phone_international" => "国际电话号码请以+和国家代码开头",
        "phone_format" | "phone_length" | "phone_country" | "phone_area" | "phone_old_prefix" => {
            "电话号码不正确"
        }
        "mst_format" | "mst_length" | "mst_invalid" | "mst_check_digit" | "mst_branch" => {
            "企业税号不正确"
        }
        // Booking a slot.
        "hour_start" | "slot_past" => "该时段已过，请选择以后的时段",
        "slot_too_far" => "该时段太远，暂不能预约",
        "slot_same" => "新时段与原时段相同",
        "slot_closed" => "该时段不开放",
        "capacity" => "通行能力必须是零或正整数",
        "trip_gate" => "该车次申报的是另一个口岸",
        "trip_direction" => "该车次申报的是另一种类型",
        _ => return None,
    })
}

/// A field error as a Chinese page shows it: the rule in Chinese, then the English message
/// with its specifics; the English message alone for a code not in the table.
pub fn field_message_zh(f: &FieldError) -> String {
    match rule_zh(f.code) {
        Some(rule) => format!("{rule}（{}）", f.message_en),
        None => f.message_en.clone(),
    }
}

/// An error without field errors (a full hour, an active trip, a stale version) as a Chinese
/// page shows it: what kind of refusal it is, then the English detail.
pub fn detail_zh(e: &AppError) -> String {
    let kind = match e.code {
        ErrorCode::Conflict => "无法完成：与现有记录冲突",
        ErrorCode::NotFound => "未找到",
        ErrorCode::Forbidden | ErrorCode::Unauthenticated => "没有权限",
        ErrorCode::ValidationFailed | ErrorCode::BadRequest => "请检查填写的内容",
        _ => "系统暂时无法处理，请稍后再试",
    };
    match e.detail_en.as_deref() {
        Some(d) => format!("{kind}（{d}）"),
        None => kind.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reason code the driver-facing modules raise has a Chinese rule: a new code without
    /// one fails here, so the table cannot silently fall behind.
    #[test]
    fn every_driver_facing_code_has_chinese() {
        let sources = [
            include_str!("../declaration.rs"),
            include_str!("../plate.rs"),
            include_str!("../registry.rs"),
            include_str!("../hs.rs"),
            include_str!("../slots/booking.rs"),
            include_str!("../slots/capacity.rs"),
        ];
        let mut missing = Vec::new();
        for src in sources {
            // `Invalid::new(` then, on the same or the next line, the quoted code.
            let mut rest = src;
            while let Some(i) = rest.find("Invalid::new(") {
                rest = &rest[i + "Invalid::new(".len()..];
                let Some(q) = rest.find('"') else { break };
                let after = &rest[q + 1..];
                let Some(end) = after.find('"') else { break };
                let code = &after[..end];
                if code.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    && rule_zh(code).is_none()
                {
                    missing.push(code.to_string());
                }
            }
        }
        missing.sort();
        missing.dedup();
        assert!(missing.is_empty(), "codes without Chinese: {missing:?}");
    }

    #[test]
    fn the_english_specifics_follow_the_chinese_rule() {
        let f = FieldError {
            field: "goods[0].hs_code".into(),
            code: "hs_unknown",
            message_vi: "Không có mã HS 08109099".into(),
            message_en: "No HS code 08109099; did you mean 08109094?".into(),
        };
        assert_eq!(
            field_message_zh(&f),
            "目录中没有该HS编码（No HS code 08109099; did you mean 08109094?）"
        );
        let unknown = FieldError {
            code: "some_new_rule",
            ..f
        };
        assert_eq!(field_message_zh(&unknown), unknown.message_en);
    }
}
