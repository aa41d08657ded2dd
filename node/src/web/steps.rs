//! 多地联办 on the pages: the intake form's choice of the region for each role of an item's
//! steps other than the handler's own (转出地, 协办地), and the case page's steps with their
//! clocks.

use std::collections::BTreeMap;

use maud::{Markup, html};
use tongban_protocol::case::clock::ClockReading;
use tongban_protocol::case::steps::{StepRole, StepState};
use tongban_protocol::catalog::ServiceItem;
use tongban_protocol::ids::RegionId;

use super::form::{FieldErrors, Fields};
use super::labels;

/// The roles of `item`'s steps that the window assigns a region to, once each, in plan order.
fn roles(item: &ServiceItem) -> Vec<StepRole> {
    let mut out = Vec::new();
    for step in &item.steps {
        if step.role != StepRole::TransferIn && !out.contains(&step.role) {
            out.push(step.role);
        }
    }
    out
}

/// The form field of a role's region.
fn field(role: StepRole) -> String {
    format!("step_region.{}", role.key())
}

/// The intake form's fieldset: the plan's steps, and a select of the federation's members for
/// each role another region plays. Nothing for an item without steps.
pub(super) fn form_fieldset(
    item: &ServiceItem,
    handling: &RegionId,
    members: &[(RegionId, String)],
    f: &Fields,
    e: &FieldErrors,
) -> Markup {
    if item.steps.is_empty() {
        return html! {};
    }
    html! {
        fieldset.card #steps-box {
            legend { h2 { "多地联办" } }
            p.muted { "本事项分步在多地办理，每步有各自的时限：" }
            ol {
                @for s in &item.steps {
                    li { (s.role.label()) "：" (s.action) "（" (s.limit.days) (labels::day_unit(s.limit.unit)) "）" }
                }
            }
            @for role in roles(item) {
                @let id = field(role);
                label for=(id) { (role.label()) span.flag { " *" } }
                select id=(id) name=(id) required
                    class=[e.get(&id).map(|_| "invalid")]
                    aria-describedby=(format!("{id}-err")) aria-invalid=[e.get(&id).map(|_| "true")] {
                    option value="" selected[f.get(&id).is_empty()] { "请选择" }
                    @for (region, name) in members.iter().filter(|(r, _)| r != handling) {
                        option value=(region) selected[f.get(&id) == region.as_str()] { (name) "（" (region) "）" }
                    }
                }
                (super::layout::field_error(&id, e.get(&id)))
            }
        }
    }
}

/// The regions the form names for the item's roles; a role left unchosen is an error beside
/// its select.
pub(super) fn from_form(
    item: &ServiceItem,
    f: &Fields,
    errors: &mut FieldErrors,
) -> BTreeMap<StepRole, RegionId> {
    let mut out = BTreeMap::new();
    for role in roles(item) {
        let id = field(role);
        match RegionId::new(f.get(&id)) {
            Ok(region) => {
                out.insert(role, region);
            }
            Err(_) => errors.add(
                &id,
                format!("请选择{}：本事项的这一步由该地办理", role.label()),
            ),
        }
    }
    out
}

/// The select an engine refusal of `step_regions` belongs beside: the role it names, else the
/// first role's.
pub(super) fn error_field(item: &ServiceItem, problem: &str) -> String {
    let roles = roles(item);
    let role = roles
        .iter()
        .find(|r| problem.contains(r.key()) || problem.contains(r.label()))
        .or(roles.first())
        .copied()
        .unwrap_or(StepRole::TransferOut);
    field(role)
}

/// The case page's table of steps: who does what, and each step's clock.
pub(super) fn case_table(steps: &[StepState], clocks: &[Option<ClockReading>]) -> Markup {
    if steps.is_empty() {
        return html! {};
    }
    html! {
        section.card #steps {
            h2 { "多地联办 · 各步办理" }
            table {
                thead { tr { th { "步骤" } th { "办理地" } th { "事项" } th { "时限" } th { "状态" } } }
                tbody {
                    @for (i, s) in steps.iter().enumerate() {
                        tr {
                            td { (i + 1) }
                            td { (s.role.label()) " " (s.region) }
                            td { (s.action) }
                            td { (s.limit.days) (labels::day_unit(s.limit.unit)) }
                            td {
                                @match (&s.result, clocks.get(i).and_then(Option::as_ref)) {
                                    (Some((result, number)), _) => {
                                        "已完成：" (result)
                                        @if !number.is_empty() { "（" (number) "）" }
                                    }
                                    (None, Some(c)) => {
                                        @let (class, words) = labels::colour(c.colour);
                                        span class=(class) { (words) } " · 已用 " (c.used_days) " 天"
                                        @if s.paused() { " · 暂停中" }
                                    }
                                    (None, None) => @if s.stopped_at.is_some() { "未进行（办件已终结）" } @else { "等待上一步" },
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
