//! The Chinese words the pages show for the protocol's codes: stages, event kinds, colours,
//! modes, delivery methods and the like. One table each, so every page says the same thing.

use tongban_protocol::case::application::IdType;
use tongban_protocol::case::clock::{Colour, DayUnit, TimeLimit};
use tongban_protocol::case::events::{Side, SpecialProcedure};
use tongban_protocol::case::fold::Stage;
use tongban_protocol::catalog::{Delivery, Mode, ServiceTarget, TrustLevel};

pub(super) fn stage(s: Stage) -> &'static str {
    match s {
        Stage::Empty => "待同步",
        Stage::Submitted => "已收件，待办理地接收",
        Stage::Received => "办理地已接收，待受理",
        Stage::Accepted => "已受理",
        Stage::InReview => "审查中",
        Stage::Concluded => "已办结",
        Stage::Rejected => "不予受理",
        Stage::Withdrawn => "已撤回",
    }
}

/// The stages a worklist filters by, with their codes.
pub(super) const STAGES: [(&str, Stage); 7] = [
    ("submitted", Stage::Submitted),
    ("received", Stage::Received),
    ("accepted", Stage::Accepted),
    ("in_review", Stage::InReview),
    ("concluded", Stage::Concluded),
    ("rejected", Stage::Rejected),
    ("withdrawn", Stage::Withdrawn),
];

pub(super) fn event(kind: &str) -> &'static str {
    match kind {
        "submitted" => "收件",
        "originals_dispatched" => "原件已寄出",
        "supplement_provided" => "已补正",
        "withdrawal_requested" => "申请撤回",
        "result_collected" => "结果已交付申请人",
        "evaluated" => "好差评",
        "complaint_followed_up" => "差评回访",
        "complaint_verified" => "差评核实",
        "complaint_rectified" => "差评整改",
        "complaint_answered" => "差评反馈",
        "received" => "办理地接收",
        "accepted" => "受理",
        "rejected" => "不予受理",
        "supplement_requested" => "一次性告知补正",
        "originals_received" => "原件已收到",
        "in_review" => "审查",
        "suspended" => "挂起（特别程序）",
        "resumed" => "恢复办理",
        "extended" => "延长审批",
        "result_delivered" => "已送达",
        "concluded" => "办结",
        "result_dispatched" => "结果已送出",
        "withdrawal_confirmed" => "确认撤回",
        "step_completed" => "联办步骤完成",
        _ => "其他",
    }
}

/// 特别程序 types as the forms offer them: (form value, procedure).
pub(super) const PROCEDURES: [(&str, SpecialProcedure); 6] = [
    ("field_check", SpecialProcedure::FieldCheck),
    ("expert_review", SpecialProcedure::ExpertReview),
    ("hearing", SpecialProcedure::Hearing),
    ("inspection", SpecialProcedure::Inspection),
    ("public_notice", SpecialProcedure::PublicNotice),
    ("other", SpecialProcedure::Other),
];

/// 办结 outcomes as the form offers them (补正超时 has its own form): (value, label).
pub(super) const OUTCOMES: [(&str, &str); 5] = [
    ("approved", "准予"),
    ("denied", "不予许可"),
    ("returned", "退回"),
    ("voided", "作废"),
    ("forwarded", "转报"),
];

/// How a limit's days are counted, as a suffix: 个工作日 or 个自然日.
pub(super) fn day_unit(u: tongban_protocol::case::clock::DayUnit) -> &'static str {
    match u {
        tongban_protocol::case::clock::DayUnit::WorkingDays => "个工作日",
        tongban_protocol::case::clock::DayUnit::NaturalDays => "个自然日",
    }
}

pub(super) fn colour(c: Colour) -> (&'static str, &'static str) {
    match c {
        Colour::Green => ("green", "正常"),
        Colour::Yellow => ("yellow", "临近时限"),
        Colour::Red => ("red", "已超期"),
    }
}

pub(super) fn side(s: Side) -> &'static str {
    match s {
        Side::Intake => "收件地",
        Side::Handling => "办理地",
        Side::Participant(_) => "联办地",
    }
}

pub(super) fn mode(m: Mode) -> &'static str {
    match m {
        Mode::FullyOnline => "全程网办",
        Mode::ProxyIntake => "异地代收代办",
        Mode::MultiSite => "多地联办",
    }
}

pub(super) const MODES: [(&str, Mode); 3] = [
    ("fully_online", Mode::FullyOnline),
    ("proxy_intake", Mode::ProxyIntake),
    ("multi_site", Mode::MultiSite),
];

pub(super) fn delivery(d: Delivery) -> &'static str {
    match d {
        Delivery::Mail => "邮寄送达",
        Delivery::IntakeWindowPickup => "收件窗口领取",
        Delivery::ELicence => "电子证照",
    }
}

pub(super) const DELIVERIES: [(&str, Delivery); 3] = [
    ("mail", Delivery::Mail),
    ("intake_window_pickup", Delivery::IntakeWindowPickup),
    ("e_licence", Delivery::ELicence),
];

pub(super) fn target(t: ServiceTarget) -> &'static str {
    match t {
        ServiceTarget::NaturalPerson => "自然人",
        ServiceTarget::LegalPerson => "法人",
        ServiceTarget::OtherOrganisation => "其他组织",
    }
}

pub(super) const TARGETS: [(&str, ServiceTarget); 3] = [
    ("natural_person", ServiceTarget::NaturalPerson),
    ("legal_person", ServiceTarget::LegalPerson),
    ("other_organisation", ServiceTarget::OtherOrganisation),
];

pub(super) const ID_TYPES: [(&str, IdType, &str); 5] = [
    ("resident_id_card", IdType::ResidentIdCard, "居民身份证"),
    ("passport", IdType::Passport, "护照"),
    (
        "hong_kong_macao_permit",
        IdType::HongKongMacaoPermit,
        "港澳居民来往内地通行证",
    ),
    (
        "taiwan_permit",
        IdType::TaiwanPermit,
        "台湾居民来往大陆通行证",
    ),
    ("credit_code", IdType::CreditCode, "统一社会信用代码"),
];

pub(super) fn trust(t: TrustLevel) -> &'static str {
    match t {
        TrustLevel::A => "A级（政府部门签发、电子签章，可直接使用）",
        TrustLevel::B => "B级（窗口已核验，可复用）",
        TrustLevel::C => "C级（申请人提供，须核验原件）",
        TrustLevel::D => "D级（申请人自制，签署真实性承诺）",
    }
}

pub(super) fn limit(l: TimeLimit) -> String {
    if l.days == 0 {
        return "即办".into();
    }
    let unit = match l.unit {
        DayUnit::WorkingDays => "个工作日",
        DayUnit::NaturalDays => "个自然日",
    };
    format!("{}{unit}", l.days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_list_names_each_value_once() {
        // The tables and the serde codes agree: a renamed variant shows up here.
        for (code, s) in STAGES {
            assert_eq!(serde_json::to_value(s).unwrap(), code);
        }
        for (code, m) in MODES {
            assert_eq!(serde_json::to_value(m).unwrap(), code);
        }
        for (code, d) in DELIVERIES {
            assert_eq!(serde_json::to_value(d).unwrap(), code);
        }
        for (code, t) in TARGETS {
            assert_eq!(serde_json::to_value(t).unwrap(), code);
        }
        for (code, t, _) in ID_TYPES {
            assert_eq!(serde_json::to_value(t).unwrap(), code);
        }
        assert_eq!(event("accepted"), "受理");
        assert_eq!(
            limit(TimeLimit {
                days: 0,
                unit: DayUnit::WorkingDays
            }),
            "即办"
        );
    }
}
