//! Checks of what every node keeps: each event a node took from a peer verifies against its
//! writer's real key, and every live node holds every live region's catalog as scheduled.

use tongban_protocol::case::events::Event;
use tongban_protocol::envelope::open;
use tongban_protocol::ids::CaseId;
use tongban_protocol::store::{Store, Table};

use super::Checker;
use crate::error::{Result, engine_error};
use crate::inspect;

impl Checker<'_> {
    /// Every event a node took from a peer verifies against its writer's real key.
    pub(super) fn check_signatures(&mut self) -> Result<()> {
        for i in 0..self.world.nodes.len() {
            let Some(engine) = self.world.nodes[i].engine.as_ref() else {
                continue;
            };
            let me = self.world.fed.id(i);
            let all = engine
                .store()
                .scan_prefix(Table::Events, &[])
                .map_err(|e| engine_error(me, self.world.now, e))?;
            let mut checks = 0u64;
            let mut bad: Option<(Option<CaseId>, String)> = None;
            for (_, bytes) in all {
                let Some(event) = inspect::event(&bytes) else {
                    bad = Some((
                        None,
                        format!("node {me} keeps an event envelope that does not decode"),
                    ));
                    break;
                };
                let Some(record) = engine.case_record(&event.case).ok().flatten() else {
                    bad = Some((
                        Some(event.case.clone()),
                        format!(
                            "node {me} keeps {:?} event {} of case {}, of which it has no case record",
                            event.side, event.seq, event.case
                        ),
                    ));
                    break;
                };
                let Some(writer) = record.writer(event.side) else {
                    bad = Some((
                        Some(event.case.clone()),
                        format!(
                            "node {me} keeps {:?} event {} of case {}, a log the case does not have",
                            event.side, event.seq, event.case
                        ),
                    ));
                    break;
                };
                if writer == me {
                    continue;
                }
                checks += 1;
                let ok = self.world.fed.node_keys.get(writer).is_some_and(|keys| {
                    keys.iter().any(|key| open::<Event, _>(&bytes, key).is_ok())
                });
                if !ok {
                    bad = Some((
                        Some(event.case.clone()),
                        format!(
                            "node {me} keeps {:?} event {} of case {} that does not verify against {writer}'s node key",
                            event.side, event.seq, event.case
                        ),
                    ));
                    break;
                }
            }
            *self.tally.entry("no_forgery").or_default() += checks;
            if let Some((case, detail)) = bad {
                self.violate("no_forgery", detail, case.into_iter().collect());
                return Ok(());
            }
        }
        Ok(())
    }

    /// Every live node holds every live region's catalog at the version the scenario's
    /// schedule gives (its first version plus the updates that fired), signed as the
    /// publisher signed it.
    pub(super) fn check_catalogs(&mut self) {
        let live: Vec<usize> = (0..self.world.nodes.len())
            .filter(|i| self.world.nodes[*i].revoked_at.is_none())
            .collect();
        let mut checks = 0u64;
        let mut wrong: Option<String> = None;
        'nodes: for &i in &live {
            let Some(engine) = self.world.nodes[i].engine.as_ref() else {
                continue;
            };
            for &r in &live {
                checks += 1;
                let scheduled = self.world.nodes[r].catalog_version;
                let region = self.world.fed.id(r);
                let held = engine.catalog_version(region);
                let publisher = self.world.nodes[r]
                    .engine
                    .as_ref()
                    .and_then(|e| e.catalog(region))
                    .map(tongban_protocol::envelope::Envelope::digest);
                let same_bytes = publisher.is_none()
                    || engine
                        .catalog(region)
                        .map(tongban_protocol::envelope::Envelope::digest)
                        == publisher;
                if held != Some(scheduled) || !same_bytes {
                    wrong = Some(format!(
                        "node {} holds catalog version {held:?} of {region}, whose schedule says version {scheduled}{}",
                        self.world.fed.id(i),
                        if same_bytes {
                            ""
                        } else {
                            " (and not the manifest its publisher signed)"
                        }
                    ));
                    break 'nodes;
                }
            }
        }
        *self.tally.entry("catalogs").or_default() += checks;
        if let Some(detail) = wrong {
            self.violate("catalogs", detail, Vec::new());
        }
    }
}
