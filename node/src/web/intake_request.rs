//! The intake form's fields read into an application (`intake_request`: every field checked,
//! each problem in Chinese beside its field) and filled in from a licence a window fetched
//! (`prefilled`, 免证办).

use std::collections::BTreeMap;

use tongban_protocol::case::application::{Applicant, DeliveryChoice, SubmittedMaterial};
use tongban_protocol::catalog::ServiceItem;
use tongban_protocol::engine::IntakeRequest;
use tongban_protocol::ids::{Digest, RegionId};

use super::form::{self, FieldErrors, Fields};
use super::labels;

/// The intake form's fields from a licence found: the holder as the applicant, the licence
/// cited for `material`, and its fields as the form's first four entries.
pub(super) fn prefilled(
    view: &tongban_protocol::engine::LicenceRequestView,
    material: &str,
) -> Fields {
    let mut pairs = Vec::new();
    if let Some(found) = &view.licence {
        let l = &found.licence;
        let id_type = labels::ID_TYPES
            .iter()
            .find(|(_, t, _)| *t == l.holder.id_type)
            .map_or("resident_id_card", |(c, _, _)| *c);
        pairs.push(("name".to_string(), l.holder.name.clone()));
        pairs.push(("id_type".to_string(), id_type.to_string()));
        pairs.push(("id_number".to_string(), l.holder.id_number.clone()));
        pairs.push((format!("m.{material}.licence"), found.digest.to_string()));
        for (i, (k, v)) in l.fields.iter().take(4).enumerate() {
            pairs.push((format!("form_k{}", i + 1), k.clone()));
            pairs.push((format!("form_v{}", i + 1), v.clone()));
        }
    }
    Fields::from_pairs(pairs)
}

/// The application the form describes, and every error found in it (in Chinese, by field).
pub(super) fn intake_request(
    region: &RegionId,
    item: &ServiceItem,
    f: &Fields,
) -> (IntakeRequest, FieldErrors) {
    let mut errors = FieldErrors::default();
    let kind = labels::TARGETS
        .iter()
        .find(|(c, _)| *c == f.get("kind"))
        .map(|(_, t)| *t)
        .or_else(|| item.targets.first().copied())
        .unwrap_or(tongban_protocol::catalog::ServiceTarget::NaturalPerson);
    let id_type = labels::ID_TYPES
        .iter()
        .find(|(c, _, _)| *c == f.get("id_type"))
        .map_or(
            tongban_protocol::case::application::IdType::ResidentIdCard,
            |(_, t, _)| *t,
        );
    if f.get("name").is_empty() {
        errors.add("name", "请填写申请人姓名或单位名称");
    }
    let id_number = f.get("id_number").to_ascii_uppercase();
    if id_number.is_empty() {
        errors.add("id_number", "请填写证件号码");
    } else if id_type == tongban_protocol::case::application::IdType::ResidentIdCard
        && let Err(what) = form::check_resident_id(&id_number)
    {
        errors.add("id_number", what);
    }
    if f.get("phone").is_empty() {
        errors.add("phone", "请填写联系电话，办理地需要时会联系申请人");
    } else if let Err(what) = form::check_phone(f.get("phone")) {
        errors.add("phone", what);
    }
    let mut form_fields = BTreeMap::new();
    for i in 1..=4 {
        let (k, v) = (f.get(&format!("form_k{i}")), f.get(&format!("form_v{i}")));
        match (k.is_empty(), v.is_empty()) {
            (false, false) => {
                form_fields.insert(k.to_string(), v.to_string());
            }
            (false, true) => errors.add(
                &format!("form_v{i}"),
                format!("请填写“{k}”的内容，或清空栏目名"),
            ),
            (true, false) => errors.add(&format!("form_v{i}"), "请填写这一栏的栏目名"),
            (true, true) => {}
        }
    }
    let gaps: Vec<String> = f.all("gaps").into_iter().map(str::to_string).collect();
    let pledge = item.pledge && f.ticked("pledge");
    let mut materials = Vec::new();
    for m in &item.materials {
        // 免提交: a licence fetched from its issuing region, cited by its digest.
        let licence = f.get(&format!("m.{}.licence", m.id)).trim();
        if m.e_licence.is_some() && !licence.is_empty() {
            match Digest::from_hex(licence) {
                Ok(d) => materials.push(SubmittedMaterial {
                    material: m.id.clone(),
                    digest: d,
                    size: 0,
                    media_type: String::new(),
                    original_checked: false,
                    source: tongban_protocol::case::application::MaterialSource::ELicence,
                    licence: None,
                }),
                Err(_) => errors.add(
                    &format!("m-{}", m.id),
                    format!("“{}”的电子证照摘要应为64位十六进制数：请重新调取", m.name),
                ),
            }
            continue;
        }
        let digest = f.get(&format!("m.{}.digest", m.id));
        let gap = gaps.contains(&m.id);
        if digest.is_empty() {
            if m.required && !gap && !(pledge && m.pledge_waives) {
                errors.add(
                    &format!("m-{}", m.id),
                    if m.may_follow_later {
                        format!("请上传“{}”，或勾选容缺受理后补", m.name)
                    } else {
                        format!("请上传“{}”：这是必要材料，不能容缺", m.name)
                    },
                );
            }
            continue;
        }
        if gap {
            errors.add(
                &format!("m-{}", m.id),
                format!("“{}”已上传，不是容缺材料：请取消容缺勾选", m.name),
            );
        }
        let Ok(d) = Digest::from_hex(digest) else {
            errors.add(
                &format!("m-{}", m.id),
                format!("“{}”上传未完成，请重新选择文件", m.name),
            );
            continue;
        };
        let checked = f.ticked(&format!("m.{}.original_checked", m.id));
        if m.trust == tongban_protocol::catalog::TrustLevel::C && m.originals > 0 && !checked {
            errors.add(
                &format!("m-{}", m.id),
                format!(
                    "“{}”是C级材料：请核验申请人出示的原件后勾选“已核验原件”",
                    m.name
                ),
            );
        }
        materials.push(SubmittedMaterial {
            material: m.id.clone(),
            digest: d,
            size: f.get(&format!("m.{}.size", m.id)).parse().unwrap_or(0),
            media_type: match f.get(&format!("m.{}.media_type", m.id)) {
                "" => "application/octet-stream".into(),
                t => t.to_string(),
            },
            original_checked: checked,
            source: Default::default(),
            licence: None,
        });
    }
    let method = labels::DELIVERIES
        .iter()
        .find(|(c, _)| *c == f.get("delivery"))
        .map(|(_, d)| *d)
        .or_else(|| item.result.delivery.first().copied())
        .unwrap_or(tongban_protocol::catalog::Delivery::IntakeWindowPickup);
    let address = Some(f.get("address").to_string()).filter(|a| !a.is_empty());
    if method == tongban_protocol::catalog::Delivery::Mail && address.is_none() {
        errors.add("address", "选择邮寄送达时请填写邮寄地址");
    }
    let locality = Some(f.get("locality").to_string()).filter(|l| !l.is_empty());
    if let (Some(basis), false, None) = (item.locality, item.bodies.is_empty(), &locality) {
        errors.add(
            "locality",
            format!(
                "请选择申请人的{}：本事项由该地的实施主体办理",
                basis.label()
            ),
        );
    }
    let request = IntakeRequest {
        region: region.clone(),
        impl_code: item.impl_code.clone(),
        catalog_version: f.get("catalog_version").parse().ok(),
        applicant: Applicant {
            kind,
            name: f.get("name").to_string(),
            id_type,
            id_number,
            phone: f.get("phone").to_string(),
        },
        materials,
        form: form_fields,
        delivery: DeliveryChoice { method, address },
        accept_with_gaps: gaps,
        pledge,
        mode: None,
        step_regions: super::steps::from_form(item, f, &mut errors),
        locality,
    };
    (request, errors)
}
