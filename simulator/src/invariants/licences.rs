//! `cited_licences` (免证办): every licence an application cites in place of a scan, in any
//! node's copy of the case, is checked as an auditor holding the federation's rosters would:
//! it verifies against its issuing region's node key on the roster in effect when it was cited
//! (the application's intake), is in force on that day, is of the kind the item names for the
//! material, and is the applicant's.

use tongban_protocol::case::application::{Application, MaterialSource, SubmittedMaterial};
use tongban_protocol::case::calendar::Date;
use tongban_protocol::engine::CaseView;
use tongban_protocol::ids::CaseId;
use tongban_protocol::roster::Roster;

use super::Checker;

impl Checker<'_> {
    /// Every licence the application of `case`, as node `i` holds it (`view`), cites.
    pub(super) fn check_cited_licences(&mut self, i: usize, case: &CaseId, view: &CaseView) {
        let Some(application) = view.state.application.as_ref() else {
            return;
        };
        let cited = application
            .materials
            .iter()
            .filter(|m| m.source == MaterialSource::ELicence);
        for m in cited {
            self.count("cited_licences");
            let fed = &self.world.fed;
            let kind = fed
                .index
                .get(&application.item.region)
                .and_then(|h| fed.spec_of(*h, &application.item.impl_code))
                .and_then(|spec| spec.e_licences.get(&m.material))
                .map(String::as_str);
            // When it was cited, in true time: when the window got its receipt, else the
            // intake node's clock at intake read back.
            let cited_at = self
                .world
                .cases
                .get(case)
                .map(|t| t.submitted_at)
                .or_else(|| {
                    fed.index
                        .get(&application.intake.region)
                        .map(|n| self.world.global_of(*n, application.intake.at))
                });
            let roster = cited_at.and_then(|at| self.world.roster_at(at));
            if let Some(problem) = citation_problem(application, m, roster, kind) {
                let detail = format!(
                    "node {} holds case {case}, whose application {problem}",
                    self.world.fed.id(i)
                );
                self.violate("cited_licences", detail, vec![case.clone()]);
                return;
            }
        }
    }
}

/// What is wrong with material `m` of `application`, an 电子证照 cited in place of a scan, if
/// anything: it must carry the licence it cites (the digest is the licence's), verify against
/// its issuing region's node key on `roster` (the roster in effect when it was cited) at the
/// time of intake, be in force on the day of intake, be of `kind` (what the item names for the
/// material; `None` if it names none), and be the applicant's.
pub(crate) fn citation_problem(
    application: &Application,
    m: &SubmittedMaterial,
    roster: Option<&Roster>,
    kind: Option<&str>,
) -> Option<String> {
    let Some(signed) = &m.licence else {
        return Some(format!(
            "cites licence {} as {} but carries none",
            m.digest, m.material
        ));
    };
    if signed.digest() != m.digest {
        return Some(format!(
            "cites licence {} as {} but carries licence {}",
            m.digest,
            m.material,
            signed.digest()
        ));
    }
    let Some(kind) = kind else {
        return Some(format!(
            "cites a licence as {}, which its item takes no licence for",
            m.material
        ));
    };
    let Some(roster) = roster else {
        return Some("was cited before the federation had a roster".into());
    };
    let at = application.intake.at;
    let on = Date::of(at);
    let verified = match tongban_protocol::licence::verify(&signed.0, roster, on, at) {
        Ok(v) => v,
        Err(e) => {
            return Some(format!(
                "cites licence {} as {}, which does not verify against its issuer's node key on roster version {} at {}: {e}",
                m.digest, m.material, roster.version, at
            ));
        }
    };
    let l = verified.licence.payload();
    if !verified.in_force {
        return Some(format!(
            "cites region {}'s licence {} ({}) as {}, not in force on {on}, the day it was cited",
            l.region, l.number, l.kind, m.material
        ));
    }
    if l.kind != kind {
        return Some(format!(
            "cites region {}'s licence {} of kind {} as {}, which takes a {kind}",
            l.region, l.number, l.kind, m.material
        ));
    }
    let a = &application.applicant;
    if l.holder.id_type != a.id_type || l.holder.id_number != a.id_number {
        return Some(format!(
            "cites region {}'s licence {} ({}) as {}, which is not the applicant's",
            l.region, l.number, l.kind, m.material
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tongban_protocol::case::application::{
        Applicant, DeliveryChoice, IdType, Intake, ItemRef, LICENCE_MEDIA_TYPE,
    };
    use tongban_protocol::catalog::{Delivery, Mode, ServiceTarget};
    use tongban_protocol::envelope::Identity;
    use tongban_protocol::ids::{Timestamp, WindowId};
    use tongban_protocol::licence::{Holder, Licence, SignedLicence};

    use super::*;
    use crate::federation::{Federation, derived_identity};
    use crate::scenario::Scenario;

    const DAY: u64 = 86_400_000;
    /// 2026-03-02, noon in China.
    const AT: Timestamp = Timestamp(1_772_424_000_000);

    fn federation() -> Federation {
        let scenario = Scenario::load("baseline").unwrap();
        Federation::new(&scenario).unwrap()
    }

    fn licence(fed: &Federation) -> Licence {
        Licence {
            kind: "营业执照".into(),
            number: "110000-0-000001".into(),
            holder: Holder {
                name: "持证人".into(),
                id_type: IdType::ResidentIdCard,
                id_number: "900000198500010000X".into(),
            },
            issuer: "北京市市场监督管理局".into(),
            region: fed.id(0).clone(),
            case: None,
            issued_at: Timestamp(AT.0 - 30 * DAY),
            valid_from: Date::of(Timestamp(AT.0 - 30 * DAY)),
            valid_until: None,
            fields: BTreeMap::new(),
        }
    }

    fn signed(by: &Identity, l: &Licence) -> SignedLicence {
        SignedLicence(by.sign(l).unwrap().into_parts().0)
    }

    /// Tianjin's window takes an application for Hebei's 食品经营许可, citing `cited`.
    fn application(fed: &Federation, cited: &SignedLicence) -> Application {
        Application {
            case: CaseId::new("120000-20260302-000001").unwrap(),
            item: ItemRef {
                region: fed.id(2).clone(),
                impl_code: fed.regions[2].codes[3].clone(),
                catalog_version: 1,
                body: None,
            },
            applicant: Applicant {
                kind: ServiceTarget::NaturalPerson,
                name: "持证人".into(),
                id_type: IdType::ResidentIdCard,
                id_number: "900000198500010000X".into(),
                phone: "13800000000".into(),
            },
            intake: Intake {
                region: fed.id(1).clone(),
                window: WindowId::new("120000-w01").unwrap(),
                operator: "SIM001".into(),
                at: AT,
                mode: Mode::ProxyIntake,
            },
            materials: vec![SubmittedMaterial {
                material: "business-licence".into(),
                digest: cited.digest(),
                size: cited.0.len() as u64,
                media_type: LICENCE_MEDIA_TYPE.into(),
                original_checked: false,
                source: MaterialSource::ELicence,
                licence: Some(cited.clone()),
            }],
            form: BTreeMap::new(),
            delivery: DeliveryChoice {
                method: Delivery::ELicence,
                address: None,
            },
            accept_with_gaps: Vec::new(),
            pledge: false,
            steps: Vec::new(),
            locality: None,
        }
    }

    /// What the invariant finds of `app`'s citation, on `roster`, for a material that takes a
    /// 营业执照.
    fn problem(app: &Application, roster: &Roster) -> Option<String> {
        citation_problem(app, &app.materials[0], Some(roster), Some("营业执照"))
    }

    #[test]
    fn the_default_catalog_cites_what_another_item_issues() {
        let fed = federation();
        let kind = fed.spec_of(2, &fed.regions[2].codes[3]).unwrap();
        assert_eq!(kind.e_licences["business-licence"], "营业执照");
        assert!(fed.items.iter().any(|i| i.result_name() == "营业执照"));
        assert_eq!(fed.cited_kinds(), ["营业执照"]);
    }

    #[test]
    fn a_genuine_citation_passes() {
        let fed = federation();
        let app = application(&fed, &signed(&fed.regions[0].identity, &licence(&fed)));
        assert_eq!(problem(&app, &fed.roster), None);
    }

    #[test]
    fn a_licence_a_stranger_signed_is_caught() {
        let fed = federation();
        let stranger = derived_identity(fed.roster.suite, "test/stranger").unwrap();
        let app = application(&fed, &signed(&stranger, &licence(&fed)));
        let p = problem(&app, &fed.roster).unwrap();
        assert!(p.contains("does not verify"), "{p}");
        // Signed by another member's node, claiming Beijing's: caught too.
        let app = application(&fed, &signed(&fed.regions[1].identity, &licence(&fed)));
        let p = problem(&app, &fed.roster).unwrap();
        assert!(p.contains("does not verify"), "{p}");
    }

    #[test]
    fn a_licence_of_a_region_revoked_before_it_was_cited_is_caught() {
        let fed = federation();
        let app = application(&fed, &signed(&fed.regions[0].identity, &licence(&fed)));
        let (revoked, _) = fed
            .revocation(&fed.roster, fed.id(0), Timestamp(AT.0 - DAY))
            .unwrap();
        let p = problem(&app, &revoked).unwrap();
        assert!(p.contains("does not verify"), "{p}");
    }

    #[test]
    fn an_expired_licence_is_caught() {
        let fed = federation();
        let mut l = licence(&fed);
        l.valid_until = Some(Date::of(Timestamp(AT.0 - DAY)));
        let app = application(&fed, &signed(&fed.regions[0].identity, &l));
        let p = problem(&app, &fed.roster).unwrap();
        assert!(p.contains("not in force"), "{p}");
    }

    #[test]
    fn someone_elses_licence_or_another_kind_is_caught() {
        let fed = federation();
        let mut l = licence(&fed);
        l.holder.id_number = "110101199001000001".into();
        let app = application(&fed, &signed(&fed.regions[0].identity, &l));
        let p = problem(&app, &fed.roster).unwrap();
        assert!(p.contains("not the applicant's"), "{p}");
        let mut l = licence(&fed);
        l.kind = "结婚证".into();
        let app = application(&fed, &signed(&fed.regions[0].identity, &l));
        let p = problem(&app, &fed.roster).unwrap();
        assert!(p.contains("takes a 营业执照"), "{p}");
        // A material the item takes no licence for.
        let app = application(&fed, &signed(&fed.regions[0].identity, &licence(&fed)));
        let p = citation_problem(&app, &app.materials[0], Some(&fed.roster), None).unwrap();
        assert!(p.contains("takes no licence"), "{p}");
    }

    #[test]
    fn a_citation_without_its_licence_or_with_another_is_caught() {
        let fed = federation();
        let genuine = signed(&fed.regions[0].identity, &licence(&fed));
        let mut app = application(&fed, &genuine);
        app.materials[0].licence = None;
        let p = problem(&app, &fed.roster).unwrap();
        assert!(p.contains("carries none"), "{p}");
        let mut app = application(&fed, &genuine);
        app.materials[0].digest = tongban_protocol::ids::Digest::of(b"another");
        let p = problem(&app, &fed.roster).unwrap();
        assert!(p.contains("carries licence"), "{p}");
    }
}
