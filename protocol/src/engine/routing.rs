//! The routing rule, in one place: which region handles an application and which may collect
//! it, who writes each log of a case and who is whose peer for it, where an event goes once
//! this node wrote it, who may hand this node a log's events, and which way a case's
//! materials and receipts travel. The rest of the engine asks these questions here instead of
//! answering them itself, so the rule can be read (and changed) in one file.
//!
//! A case has two regions: the intake region (收件地), whose window collected the application
//! and which writes the intake log, and the handling region (办理地), whose catalog holds the
//! item and which writes the handling log. A 多地联办 case has more: each other region with a
//! step of the plan writes a participant log. Every region of a case is every other's peer
//! for it, and each log's events travel from their writer to all the others (and may be
//! relayed by any of them: the writer's signature is checked, not the sender). When all the
//! regions are one, the case never leaves the node.
//!
//! Inside the handling region, an item that each city or county handles for its own people
//! names its bodies by area (`ServiceItem::bodies`); the body that decides a case is picked
//! here from the applicant's locality ([`pick_body`]). A region of several cities (the Wuhan
//! metro's nine) serves them all from one node: a case collected in one city for another
//! city's body is a local case of that node, written and clocked like any other, and only
//! the case view tells it apart ([`Span`]).

use serde::{Deserialize, Serialize};

use super::records::CaseRecord;
use crate::case::application::{Application, Intake, ItemRef, Locality};
use crate::case::events::{Event, EventKind, Side};
use crate::catalog::{Collectors, HandlingBody, Mode, ServiceItem, is_area_code};
use crate::ids::{RegionId, WindowId};

// ------------------------------------------------------------------------------------------
// Who handles an application, who may collect it
// ------------------------------------------------------------------------------------------

/// The region that handles (decides) an application: the region whose catalog holds the item
/// it names (办理地). It writes the case's handling log.
pub(crate) fn handling_region(item: &ItemRef) -> &RegionId {
    &item.region
}

/// How an application comes in when the window does not say: 多地联办 for an item handled only
/// that way; proxy intake (异地代收代办) for another region's item, or for another city's body
/// of this region's (a 孝感 window collecting for a 武汉 body: `cross_city`) where the item
/// takes it; else the item's first mode (fully online if it lists none).
pub(crate) fn default_mode(
    me: &RegionId,
    handling: &RegionId,
    item: &ServiceItem,
    cross_city: bool,
) -> Mode {
    if item.modes.contains(&Mode::MultiSite) && !item.modes.contains(&Mode::ProxyIntake) {
        Mode::MultiSite
    } else if cross_city && item.modes.contains(&Mode::ProxyIntake) {
        Mode::ProxyIntake
    } else if handling == me {
        item.modes.first().copied().unwrap_or(Mode::FullyOnline)
    } else {
        Mode::ProxyIntake
    }
}

impl Collectors {
    /// Whether `region` may collect for the item.
    pub fn allows(&self, region: &RegionId) -> bool {
        match self {
            Collectors::AllMembers => true,
            Collectors::Regions(list) => list.contains(region),
        }
    }
}

/// Whether the intake region may collect this application for `item`: a proxy intake only
/// where the item's collectors allow that region; the other modes are not limited here.
pub(crate) fn may_collect(item: &ServiceItem, intake: &Intake) -> bool {
    intake.mode != Mode::ProxyIntake || item.collectors.allows(&intake.region)
}

// ------------------------------------------------------------------------------------------
// Which body handles it, inside the handling region
// ------------------------------------------------------------------------------------------

/// The city an area belongs to (first four digits and `00`): `420902` 孝南区 → `420900`
/// 孝感市. A county-level unit the province administers directly (third and fourth digits
/// `90`: `429004` 仙桃市) belongs to no city and is its own.
pub fn city_of(area: &str) -> String {
    match area.get(..4) {
        Some(head) if area.len() == 6 && &area[2..4] != "90" => format!("{head}00"),
        _ => area.to_string(),
    }
}

/// The province an area belongs to (first two digits and `0000`): `420902` → `420000`.
pub fn province_of(area: &str) -> String {
    match area.get(..2) {
        Some(head) if area.len() == 6 => format!("{head}0000"),
        _ => area.to_string(),
    }
}

/// The body of `item` that handles an applicant of `area`: the body of exactly that area,
/// else of its city, else of its province; `None` if the item lists none of them (or no
/// bodies at all). A county's applicant goes to the county's own body where the catalog
/// names one, and to the city's otherwise.
pub fn pick_body<'a>(item: &'a ServiceItem, area: &str) -> Option<&'a HandlingBody> {
    if !is_area_code(area) {
        return None;
    }
    [area.to_string(), city_of(area), province_of(area)]
        .iter()
        .find_map(|level| item.bodies.iter().find(|b| &b.area == level))
}

/// The areas an item's bodies serve, for errors and forms: `420100 武汉市, 420900 孝感市`.
pub fn areas_served(item: &ServiceItem) -> String {
    item.bodies
        .iter()
        .map(|b| format!("{} {}", b.area, b.place))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The applicant's locality and the body it picks, for an intake of `item` with the
/// window's `locality` (an area code): `None` for an item one body handles (its
/// `authority`), which takes no locality; an error naming the basis and the areas served
/// when an item with bodies gets none, a malformed one or one no body serves.
pub(crate) fn route_to_body(
    item: &ServiceItem,
    locality: Option<&str>,
) -> Result<Option<(Locality, HandlingBody)>, String> {
    let Some(basis) = item.locality.filter(|_| !item.bodies.is_empty()) else {
        return match locality {
            None => Ok(None),
            Some(area) => Err(format!(
                "locality: item {} is handled by {} for every applicant, so it takes no \
                 locality ({area} given); leave locality out",
                item.impl_code, item.authority
            )),
        };
    };
    let label = basis.label();
    let area = locality.map(str::trim).unwrap_or_default();
    if area.is_empty() {
        return Err(format!(
            "locality: item {} is handled by the body of the applicant's {label} ({basis:?}); \
             give locality, the 6-digit 行政区划代码 of the applicant's {label}: its bodies \
             serve {}",
            item.impl_code,
            areas_served(item)
        ));
    }
    if !is_area_code(area) {
        return Err(format!(
            "locality: {area:?} is not a 6-digit 行政区划代码; give the applicant's {label} \
             as one, such as {}",
            item.bodies.first().map_or("420100", |b| b.area.as_str())
        ));
    }
    let body = pick_body(item, area).ok_or_else(|| {
        format!(
            "locality: no body handles item {} for an applicant whose {label} is {area}: it \
             is handled only for {}; an applicant of another place applies for the item of \
             the region that serves it",
            item.impl_code,
            areas_served(item)
        )
    })?;
    Ok(Some((
        Locality {
            basis,
            area: area.to_string(),
        },
        body.clone(),
    )))
}

/// What is wrong with an application's locality and body against `item` as the handling
/// region holds it: the body must be the one `item` picks for the signed locality (checked
/// by the intake window's node, and again by the handling node, whose catalog may have moved
/// on); an item one body handles takes neither. Empty when they agree.
pub fn body_problems(item: &ServiceItem, application: &Application) -> Vec<String> {
    let area = application.locality.as_ref().map(|l| l.area.as_str());
    let picked = match route_to_body(item, area) {
        Ok(picked) => picked,
        Err(problem) => return vec![problem],
    };
    let signed = (application.locality.clone(), application.item.body.clone());
    if picked.clone().unzip() == signed {
        return Vec::new();
    }
    let name = |b: Option<&HandlingBody>| {
        b.map_or_else(
            || format!("no body ({})", item.authority),
            |b| format!("{} ({})", b.name, b.area),
        )
    };
    let mut p = Vec::new();
    if let (Some((want, _)), Some(given)) = (&picked, &application.locality)
        && want.basis != given.basis
    {
        p.push(format!(
            "locality: the item's bodies are picked by the applicant's {}, not {}",
            want.basis.label(),
            given.basis.label()
        ));
    }
    p.push(format!(
        "item.body: the application names {}, but the catalog picks {} for locality {}",
        name(application.item.body.as_ref()),
        name(picked.as_ref().map(|(_, b)| b)),
        area.unwrap_or("(none)")
    ));
    p
}

/// The item a handling region takes a new case for, or why it refuses it (不予受理): it no
/// longer serves the item, or its catalog picks another body for the applicant's locality
/// than the one the intake signed (the window collects again, naming the right body).
pub(crate) fn serves<'a>(
    me: &RegionId,
    item: Option<&'a ServiceItem>,
    application: &Application,
) -> Result<&'a ServiceItem, String> {
    let code = &application.item.impl_code;
    let item = item.ok_or_else(|| {
        format!("region {me} no longer serves item {code}: search the catalog again")
    })?;
    let problems = body_problems(item, application);
    if problems.is_empty() {
        Ok(item)
    } else {
        Err(format!(
            "region {me}'s catalog routes item {code} to another body: {}; collect the \
             application again",
            problems.join("; ")
        ))
    }
}

/// The 6-digit area a window id starts with (`420900-xiaogan-01` → `420900`), if it has
/// one: windows are named after their city or county's 行政区划代码, which is how the case
/// view tells a cross-city case from a same-city one.
pub fn window_area(window: &WindowId) -> Option<&str> {
    let head = window.as_str().get(..6)?;
    let next = window.as_str()[6..].chars().next();
    (is_area_code(head) && matches!(next, None | Some('-'))).then_some(head)
}

/// How far a case reaches, for the case view: within one city, across cities of one
/// region's node (跨市), or across regions' nodes. Every kind has the same lifecycle, clock,
/// records and evidence; the span only says where the applicant was served and who decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Span {
    /// Collected and handled in one region, in the same city as far as is known (the window
    /// or the body has no area, or both are of one city).
    Local,
    /// Collected and handled by one region's node, but the window is in another city than
    /// the handling body (a 孝感 window for a 武汉 body).
    CrossCity,
    /// Collected in one region and handled by another region's node.
    CrossRegion,
}

/// The span of a case collected at `window` of `intake` for `handling`, decided by `body`
/// (if the item names bodies by area).
pub fn span(
    intake: &RegionId,
    handling: &RegionId,
    window: &WindowId,
    body: Option<&HandlingBody>,
) -> Span {
    if intake != handling {
        return Span::CrossRegion;
    }
    match (window_area(window), body) {
        (Some(at), Some(body)) if city_of(at) != city_of(&body.area) => Span::CrossCity,
        _ => Span::Local,
    }
}

// ------------------------------------------------------------------------------------------
// Who writes, who is whose peer
// ------------------------------------------------------------------------------------------

impl CaseRecord {
    /// The region that writes `side`, if the case has that side.
    pub fn writer(&self, side: Side) -> Option<&RegionId> {
        match side {
            Side::Intake => Some(&self.intake_region),
            Side::Handling => Some(&self.handling_region),
            Side::Participant(n) => self.participants.get(usize::from(n).checked_sub(1)?),
        }
    }

    /// Whether `region` writes `side` of the case.
    pub fn writes(&self, region: &RegionId, side: Side) -> bool {
        self.writer(side) == Some(region)
    }

    /// Every side of the case: intake, handling, then the participants.
    pub fn sides(&self) -> Vec<Side> {
        let mut out = vec![Side::Intake, Side::Handling];
        out.extend(
            (1..=self.participants.len())
                .filter_map(|n| u8::try_from(n).ok().map(Side::Participant)),
        );
        out
    }

    /// Events held of `side`'s log.
    pub fn held(&self, side: Side) -> u32 {
        match side {
            Side::Intake => self.intake_seq,
            Side::Handling => self.handling_seq,
            Side::Participant(n) => usize::from(n)
                .checked_sub(1)
                .and_then(|i| self.participant_seqs.get(i))
                .copied()
                .unwrap_or(0),
        }
    }

    /// The case's other regions, seen from `me`: everyone who writes one of its logs, once
    /// each. Empty when the case never leaves this node.
    pub fn peers_of(&self, me: &RegionId) -> Vec<RegionId> {
        let mut out: Vec<RegionId> = Vec::new();
        for region in [&self.intake_region, &self.handling_region]
            .into_iter()
            .chain(&self.participants)
        {
            if region != me && !out.contains(region) {
                out.push(region.clone());
            }
        }
        out
    }

    /// Whether `peer` is one of the case's other regions, seen from `me`: the case's events,
    /// receipts and reconciliation entries are exchanged with it and with no one else.
    pub(crate) fn is_shared_with(&self, me: &RegionId, peer: &RegionId) -> bool {
        peer != me && self.peers_of(me).contains(peer)
    }

    /// Whether `from` may acknowledge this node's events of `side`: only the case's peers
    /// acknowledge, and only the log this node writes.
    pub(crate) fn takes_receipt_from(&self, me: &RegionId, from: &RegionId, side: Side) -> bool {
        self.is_shared_with(me, from) && self.writes(me, side)
    }
}

// ------------------------------------------------------------------------------------------
// Where an event goes
// ------------------------------------------------------------------------------------------

/// Where an event this node just wrote goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    /// To each of the case's other regions, through the outbox.
    pub peers: Vec<RegionId>,
    /// To this node's own handling side as well: the case is handled here, and the event is
    /// of a log this node does not write as handler (the intake log of a case collected here).
    pub local_handler: bool,
}

impl CaseRecord {
    /// Where an event of `side` that `me` wrote goes: to every other region of the case; and
    /// an intake-side event of a case this node also handles goes to its handling side.
    pub(crate) fn route_written(&self, me: &RegionId, side: Side) -> Route {
        Route {
            peers: self.peers_of(me),
            local_handler: side == Side::Intake && &self.handling_region == me,
        }
    }

    /// Whether an event of `side` taken in from a peer goes on to this node's handling side
    /// (a new case to the back office, later intake events passed on): it does when it is of
    /// the intake log and this node handles the case.
    pub(crate) fn goes_to_handler_here(&self, me: &RegionId, side: Side) -> bool {
        side == Side::Intake && &self.handling_region == me
    }
}

// ------------------------------------------------------------------------------------------
// Who may hand this node a log's events
// ------------------------------------------------------------------------------------------

/// The region that writes the log an incoming `event` belongs to: the case's writer of that
/// side if the case is held (`existing`); for a case not held yet, the collecting region its
/// application names, if the event is intake event 1 (the application); `None` for any other
/// event of a case not held, whose start must be asked for first.
pub(crate) fn writer_of_incoming(existing: Option<&CaseRecord>, event: &Event) -> Option<RegionId> {
    match (existing, &event.kind) {
        (Some(record), _) => record.writer(event.side).cloned(),
        (None, EventKind::Submitted { application }) if event.seq == 1 => {
            Some(application.intake.region.clone())
        }
        (None, _) => None,
    }
}

/// On what ground events of a log are taken from the region that sent them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sender {
    /// The sender writes the log.
    Writer,
    /// The log is this node's own, sent back by the case's peer: a node restored from an
    /// older backup recovers what it had written (still checked against its own keys).
    Recovery,
}

/// Whether events of the log `writer` writes are taken from `from` by `me`, and on what
/// ground: from their writer, or relayed by another region of the case (a 多地联办
/// participant may hear of the case from the handler first), or — this node's own log — from
/// a peer of a case held here, as recovery. `None`: `from` may not send them. Whoever sends
/// them, each event is checked against its writer's key.
pub(crate) fn sender_of(
    writer: &RegionId,
    from: &RegionId,
    me: &RegionId,
    existing: Option<&CaseRecord>,
    event: &Event,
) -> Option<Sender> {
    // A case not held here is taken, or recovered, by its start from any region it names.
    let shared = match existing {
        Some(r) => r.is_shared_with(me, from),
        None => match &event.kind {
            EventKind::Submitted { application } => {
                let regions = regions_of(application);
                from != me && regions.contains(from) && regions.contains(me)
            }
            _ => false,
        },
    };
    if writer == me {
        shared.then_some(Sender::Recovery)
    } else if writer == from || shared {
        Some(Sender::Writer)
    } else {
        None
    }
}

/// Every region an application names: intake, handling, and the participants of its plan.
pub(crate) fn regions_of(application: &Application) -> Vec<RegionId> {
    let mut out = vec![
        application.intake.region.clone(),
        application.item.region.clone(),
    ];
    out.extend(application.participants());
    out
}

// ------------------------------------------------------------------------------------------
// Which way materials travel
// ------------------------------------------------------------------------------------------

impl CaseRecord {
    /// Whether `me` fetches the case's materials: it handles a case another region collected
    /// (materials travel from the intake region to the handling region, never back).
    pub(crate) fn fetches_materials(&self, me: &RegionId) -> bool {
        &self.handling_region == me && &self.intake_region != me
    }

    /// Whether `me` serves the case's materials to `to`: `me` collected the case and `to` is
    /// its peer, the handling region.
    pub(crate) fn serves_materials_to(&self, me: &RegionId, to: &RegionId) -> bool {
        self.is_shared_with(me, to) && &self.intake_region == me
    }

    /// Whether `me` takes the case's materials from `from`: `from` collected the case and `me`
    /// handles it.
    pub(crate) fn takes_materials_from(&self, me: &RegionId, from: &RegionId) -> bool {
        &self.intake_region == from && &self.handling_region == me
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::LocalityBasis;
    use crate::catalog::tests::sample_item;
    use proptest::prelude::*;

    fn body(area: &str, name: &str) -> HandlingBody {
        HandlingBody {
            area: area.into(),
            place: name.chars().take(3).collect(),
            name: name.into(),
        }
    }

    /// An item the body of the applicant's 参保地 handles: two cities, one county of one of
    /// them with its own body, a county-level city under the province, and the province.
    fn by_insured_place() -> ServiceItem {
        let mut item = sample_item("420100200700500001");
        item.locality = Some(LocalityBasis::InsuredPlace);
        item.bodies = vec![
            body("420100", "武汉市人力资源和社会保障局"),
            body("420900", "孝感市人力资源和社会保障局"),
            body("420902", "孝南区人力资源和社会保障局"),
            body("429004", "仙桃市人力资源和社会保障局"),
            body("420000", "湖北省人力资源和社会保障厅"),
        ];
        item
    }

    #[test]
    fn the_county_then_the_city_then_the_province_is_picked() {
        let item = by_insured_place();
        let name = |area: &str| pick_body(&item, area).map(|b| b.name.as_str());
        assert_eq!(name("420902"), Some("孝南区人力资源和社会保障局"));
        assert_eq!(
            name("420921"),
            Some("孝感市人力资源和社会保障局"),
            "孝昌县: its city"
        );
        assert_eq!(name("420100"), Some("武汉市人力资源和社会保障局"));
        assert_eq!(name("420106"), Some("武汉市人力资源和社会保障局"), "武昌区");
        assert_eq!(name("429004"), Some("仙桃市人力资源和社会保障局"));
        // 潜江 has no body of its own and, directly under the province, no city: the province.
        assert_eq!(name("429005"), Some("湖北省人力资源和社会保障厅"));
        assert_eq!(name("421100"), Some("湖北省人力资源和社会保障厅"));
        assert_eq!(
            name("110105"),
            None,
            "Beijing's 朝阳区 is served by no body here"
        );
        assert_eq!(name("4201"), None, "not an area code");
        assert_eq!(name("42010a"), None);
    }

    #[test]
    fn cities_and_provinces_of_area_codes() {
        assert_eq!(city_of("420902"), "420900");
        assert_eq!(city_of("420100"), "420100");
        assert_eq!(
            city_of("429004"),
            "429004",
            "仙桃 is directly under the province"
        );
        assert_eq!(province_of("429004"), "420000");
        assert_eq!(province_of("110105"), "110000");
    }

    #[test]
    fn intake_needs_a_locality_a_body_serves_and_names_the_basis_and_areas() {
        let item = by_insured_place();
        let err = route_to_body(&item, None).unwrap_err();
        assert!(err.starts_with("locality:"), "{err}");
        assert!(
            err.contains("参保地") && err.contains("420900 孝感"),
            "{err}"
        );
        let err = route_to_body(&item, Some("42090")).unwrap_err();
        assert!(err.contains("not a 6-digit 行政区划代码"), "{err}");
        let mut only_cities = item.clone();
        only_cities.bodies.retain(|b| b.area != "420000");
        let err = route_to_body(&only_cities, Some("421100")).unwrap_err();
        assert!(
            err.contains("no body handles") && err.contains("421100") && err.contains("420100"),
            "{err}"
        );
        let (locality, body) = route_to_body(&item, Some("420100")).unwrap().unwrap();
        assert_eq!(locality.basis, LocalityBasis::InsuredPlace);
        assert_eq!(locality.area, "420100");
        assert_eq!(body.area, "420100");
        // An item one body handles takes no locality: refused, not silently dropped.
        let plain = sample_item("1100000001");
        assert_eq!(route_to_body(&plain, None), Ok(None));
        let err = route_to_body(&plain, Some("420100")).unwrap_err();
        assert!(err.contains("takes no locality"), "{err}");
    }

    #[test]
    fn the_handler_checks_the_signed_body_against_its_own_catalog() {
        let item = by_insured_place();
        let mut app = crate::case::application::tests::sample_application("120000-1");
        let (locality, picked) = route_to_body(&item, Some("420902")).unwrap().unwrap();
        app.locality = Some(locality);
        app.item.body = Some(picked);
        assert!(body_problems(&item, &app).is_empty());
        // The catalog moved the county to its city's body: the signed pick no longer holds.
        let mut moved = item.clone();
        moved.bodies.retain(|b| b.area != "420902");
        let p = body_problems(&moved, &app).join("; ");
        assert!(
            p.contains("item.body") && p.contains("孝南区") && p.contains("孝感市"),
            "{p}"
        );
        // A body no locality picked, or a body for an item that names none, is refused.
        app.locality = None;
        assert!(!body_problems(&item, &app).is_empty());
        let plain = sample_item("1100000001");
        assert!(!body_problems(&plain, &app).is_empty());
        app.item.body = None;
        assert!(body_problems(&plain, &app).is_empty());
    }

    #[test]
    fn windows_named_after_their_area_show_cross_city_cases() {
        let w = |s: &str| WindowId::new(s).unwrap();
        let metro = RegionId::new("wuhan-metro").unwrap();
        let tj = RegionId::new("120000").unwrap();
        assert_eq!(window_area(&w("420900-xiaogan-01")), Some("420900"));
        assert_eq!(window_area(&w("120000-w1")), Some("120000"));
        assert_eq!(window_area(&w("wuhan-metro-w1")), None);
        assert_eq!(window_area(&w("4209001-x")), None);
        let wuhan = body("420100", "武汉市人力资源和社会保障局");
        let xiaonan = body("420902", "孝南区人力资源和社会保障局");
        let xiaogan = w("420900-xiaogan-01");
        assert_eq!(
            span(&metro, &metro, &xiaogan, Some(&wuhan)),
            Span::CrossCity
        );
        assert_eq!(span(&metro, &metro, &xiaogan, Some(&xiaonan)), Span::Local);
        assert_eq!(span(&metro, &metro, &xiaogan, None), Span::Local);
        assert_eq!(
            span(&tj, &metro, &w("120101-heping-01"), Some(&wuhan)),
            Span::CrossRegion
        );
        let xiantao = w("429004-xiantao-01");
        let qianjiang = body("429005", "潜江市人力资源和社会保障局");
        assert_eq!(
            span(&metro, &metro, &xiantao, Some(&qianjiang)),
            Span::CrossCity,
            "two county-level cities under the province are two cities"
        );
    }

    proptest! {
        /// Whatever the locality, the picked body serves exactly it, its city or its
        /// province, and the most specific of those the item lists; or none is listed.
        #[test]
        fn the_picked_body_is_the_most_specific_level_listed(
            area in "[1-6][0-9](0[0-9]|90)[0-9]{2}",
            listed in proptest::collection::btree_set("[1-6][0-9](0[0-9]|90)[0-9]{2}", 0..12),
            with_levels in any::<bool>(),
        ) {
            let mut item = by_insured_place();
            let mut areas: Vec<String> = listed.into_iter().collect();
            if with_levels {
                areas.push(city_of(&area));
                areas.push(province_of(&area));
            }
            areas.sort();
            areas.dedup();
            item.bodies = areas.iter().map(|a| body(a, &format!("{a}局"))).collect();
            prop_assert!(
                areas.is_empty() || item.problems().is_empty(),
                "{:?}",
                item.problems()
            );
            let levels = [area.clone(), city_of(&area), province_of(&area)];
            match pick_body(&item, &area) {
                Some(b) => {
                    let at = levels.iter().position(|l| l == &b.area);
                    prop_assert!(at.is_some(), "{} picked for {}", b.area, area);
                    let at = at.unwrap_or(0);
                    for finer in &levels[..at] {
                        prop_assert!(!areas.contains(finer), "{} listed, yet {} picked", finer, b.area);
                    }
                }
                None => {
                    for level in &levels {
                        prop_assert!(!areas.contains(level), "{} listed, none picked", level);
                    }
                }
            }
        }
    }
}
