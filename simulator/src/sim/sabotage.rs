//! The test-only sabotage (`[sabotage]`): one named defect put into one node, which one
//! invariant — and no other — must catch. A defect in the store is made behind the engine's
//! back, and the node restarts over it; the others act on its traffic from then on.

use tongban_protocol::case::application::MaterialSource;
use tongban_protocol::case::events::{EventKind, Side};
use tongban_protocol::ids::CaseId;
use tongban_protocol::licence::SignedLicence;
use tongban_protocol::store::MemoryStore;

use super::Sim;
use crate::error::{Result, engine_error};
use crate::inspect;
use crate::invariants::Checker;
use crate::scenario::SabotageKind;
use crate::world::accumulate;

impl Sim<'_> {
    /// Node `i`'s engine setup, with the sabotage's wrong calendar if it is the node.
    pub(super) fn setup(&self, i: usize) -> Result<tongban_protocol::engine::EngineSetup> {
        let mut setup = self.world.fed.setup(
            i,
            self.world.nodes[i].catalog_version,
            self.scenario.catalog.version,
        )?;
        if self.sabotage_on(SabotageKind::WrongCalendar, i) {
            setup.calendar = tongban_protocol::case::calendar::HolidayCalendar::weekdays_only();
        }
        Ok(setup)
    }

    /// Whether the test-only sabotage of `kind` is at work in node `i` (`wrong_calendar`
    /// from the start, the others once they struck).
    pub(super) fn sabotage_on(&self, kind: SabotageKind, i: usize) -> bool {
        self.scenario.sabotage.as_ref().is_some_and(|s| {
            s.kind == kind
                && self.world.fed.id(i).as_str() == s.node
                && (self.sabotaged || kind == SabotageKind::WrongCalendar)
        })
    }

    /// The test-only sabotage strikes once node `to` has taken in its `after_events`-th event:
    /// a defect put into its store behind the engine's back (the node then restarts over it,
    /// and is checked as after any restart), or one that acts from now on.
    pub(super) fn sabotage(
        &mut self,
        to: usize,
        case: &CaseId,
        side: Side,
        before: u32,
        after: u32,
    ) -> Result<()> {
        let Some(s) = self.scenario.sabotage.clone() else {
            return Ok(());
        };
        if self.sabotaged || self.world.fed.id(to).as_str() != s.node {
            return Ok(());
        }
        let node = &mut self.world.nodes[to];
        node.received_events += after - before;
        if node.received_events < s.after_events || s.kind == SabotageKind::WrongCalendar {
            return Ok(());
        }
        // A forged licence needs an application citing one, just taken in from its writer.
        if s.kind == SabotageKind::ForgeCitedLicence && !self.cites_from_peer(to, case, side) {
            return Ok(());
        }
        self.sabotaged = true;
        let id = self.world.fed.id(to).clone();
        if matches!(
            s.kind,
            SabotageKind::IgnoreCatalogs | SabotageKind::MuteOutbox
        ) {
            self.trace.line(self.world.now, id.as_str(), None, || {
                format!("SABOTAGE: {} from now on", s.kind.name())
            });
            return Ok(());
        }
        let node = &mut self.world.nodes[to];
        let Some(engine) = node.engine.take() else {
            return Ok(());
        };
        accumulate(&mut node.metrics, engine.metrics());
        let mut store = engine.into_store();
        let (what, about) = self
            .spoil_store(&mut store, s.kind, to, case, side, after)
            .map_err(|e| engine_error(&id, self.world.now, e))?;
        self.trace
            .line(self.world.now, id.as_str(), about.as_ref(), || {
                format!("SABOTAGE: {what}")
            });
        self.reopen(to, store, false)?;
        self.check_kept(to);
        if let (SabotageKind::ForgeCitedLicence, Some(case), None) =
            (s.kind, about.as_ref(), self.violation.as_ref())
        {
            // As after any restart, the node's copy of the case it holds is checked.
            let local = self.world.local(to);
            let mut checker = Checker::new(&self.world, &mut self.stats.checks);
            checker.check_case(to, case, local)?;
            let found = checker.found;
            self.record(found);
        }
        Ok(())
    }

    /// Whether node `i` just took in the application of `case` from the peer that wrote it,
    /// and holds no more of its intake log, and the application cites a licence.
    fn cites_from_peer(&self, i: usize, case: &CaseId, side: Side) -> bool {
        let Some(engine) = self.world.nodes[i].engine.as_ref() else {
            return false;
        };
        let from_peer = engine.case_record(case).ok().flatten().is_some_and(|r| {
            r.intake_seq == 1 && r.writer(Side::Intake) != Some(self.world.fed.id(i))
        });
        if side != Side::Intake || !from_peer {
            return false;
        }
        engine
            .case_view(case, self.world.local(i))
            .ok()
            .and_then(|v| v.state.application)
            .is_some_and(|a| {
                a.materials
                    .iter()
                    .any(|m| m.source == MaterialSource::ELicence && m.licence.is_some())
            })
    }

    /// Puts the sabotage's defect into node `i`'s store; what it did, and the case it hit.
    pub(super) fn spoil_store(
        &self,
        store: &mut MemoryStore,
        kind: SabotageKind,
        i: usize,
        case: &CaseId,
        side: Side,
        seq: u32,
    ) -> std::result::Result<(String, Option<CaseId>), tongban_protocol::Error> {
        use tongban_protocol::store::{Store as _, Table};
        let mut event_key = case.as_str().as_bytes().to_vec();
        event_key.push(0);
        match side {
            Side::Intake => event_key.push(b'i'),
            Side::Handling => event_key.push(b'h'),
            Side::Participant(n) => event_key.extend_from_slice(&[b'p', n]),
        }
        event_key.extend_from_slice(&seq.to_be_bytes());
        let done = match kind {
            SabotageKind::DropReceivedEvent => {
                store.delete(Table::Events, &event_key)?;
                (
                    format!("{side:?} event {seq} deleted from the store after its receipt"),
                    Some(case.clone()),
                )
            }
            SabotageKind::ForgeReceivedEvent => {
                let bytes = store.get(Table::Events, &event_key)?.unwrap_or_default();
                let event = inspect::event(&bytes).ok_or_else(|| {
                    tongban_protocol::Error::NotFound("the event the sabotage forges".into())
                })?;
                let stranger = crate::federation::derived_identity(
                    self.world.fed.roster.suite,
                    "sabotage/stranger",
                )
                .map_err(|e| tongban_protocol::Error::InvalidInput(e.to_string()))?;
                let forged = stranger.sign(&event)?.into_parts().0;
                store.put(Table::Events, &event_key, &forged)?;
                (
                    format!("{side:?} event {seq} replaced by the same event signed by a stranger"),
                    Some(case.clone()),
                )
            }
            SabotageKind::ForgetIdempotency => {
                let keys = store.scan_prefix(Table::Idempotency, &[])?;
                for (k, _) in &keys {
                    store.delete(Table::Idempotency, k)?;
                }
                (format!("{} idempotency keys forgotten", keys.len()), None)
            }
            SabotageKind::TamperAudit => {
                let records = store.scan_prefix(Table::Audit, &[])?;
                let Some((k, mut v)) = records.into_iter().nth(1) else {
                    return Ok(("no audit record to alter".into(), None));
                };
                if let Some(last) = v.last_mut() {
                    *last ^= 1;
                }
                store.put(Table::Audit, &k, &v)?;
                ("one audit record altered in place".into(), None)
            }
            SabotageKind::RewriteAudit => {
                let n = rewrite_audit(store, self.world.fed.roster.suite)?;
                (
                    format!("audit history rewritten: record 2 altered, {n} records relinked"),
                    None,
                )
            }
            SabotageKind::LoseSyncedCase => {
                let newest = self
                    .world
                    .cases
                    .iter()
                    .filter(|(_, t)| t.intake == i && t.acked[0] > 0)
                    .max_by_key(|(c, t)| (t.submitted_at, (*c).clone()))
                    .map(|(c, _)| c.clone());
                let Some(lost) = newest else {
                    return Ok(("no acknowledged case to lose".into(), None));
                };
                let mut prefix = lost.as_str().as_bytes().to_vec();
                prefix.push(0);
                for (k, _) in store.scan_prefix(Table::Events, &prefix)? {
                    store.delete(Table::Events, &k)?;
                }
                store.delete(Table::Cases, lost.as_str().as_bytes())?;
                (format!("case {lost} lost from the disk"), Some(lost))
            }
            SabotageKind::ForgeCitedLicence => {
                let mut key = case.as_str().as_bytes().to_vec();
                key.extend_from_slice(b"\0i");
                key.extend_from_slice(&1u32.to_be_bytes());
                let bytes = store.get(Table::Events, &key)?.unwrap_or_default();
                let mut event = inspect::event(&bytes).ok_or_else(|| {
                    tongban_protocol::Error::NotFound("the application the sabotage forges".into())
                })?;
                let EventKind::Submitted { application } = &mut event.kind else {
                    return Ok(("intake event 1 is not an application".into(), None));
                };
                let stranger = crate::federation::derived_identity(
                    self.world.fed.roster.suite,
                    "sabotage/stranger",
                )
                .map_err(|e| tongban_protocol::Error::InvalidInput(e.to_string()))?;
                for m in &mut application.materials {
                    let Some(signed) = m.licence.as_ref() else {
                        continue;
                    };
                    let forged = SignedLicence(stranger.sign(&signed.read()?)?.into_parts().0);
                    m.digest = forged.digest();
                    m.size = forged.0.len() as u64;
                    m.licence = Some(forged);
                }
                let writer = self.world.cases.get(case).map_or(i, |t| t.intake);
                let resigned = self.world.fed.regions[writer]
                    .identity
                    .sign(&event)?
                    .into_parts()
                    .0;
                store.put(Table::Events, &key, &resigned)?;
                (
                    "the licence the application cites replaced by one a stranger signed".into(),
                    Some(case.clone()),
                )
            }
            SabotageKind::WrongCalendar
            | SabotageKind::IgnoreCatalogs
            | SabotageKind::MuteOutbox => (String::new(), None),
        };
        store.sync()?;
        Ok(done)
    }
}

/// Rewrites a node's audit chain from record 2 on as a node hiding what it did would: record 2
/// altered, every later record's link and the head recomputed, so the chain verifies on its
/// own. Returns how many records were relinked.
fn rewrite_audit(
    store: &mut MemoryStore,
    suite: tongban_protocol::suite::Suite,
) -> tongban_protocol::Result<usize> {
    use tongban_protocol::engine::audit::AuditRecord;
    use tongban_protocol::ids::Digest;
    use tongban_protocol::store::{Store, Table};
    /// The head as the engine keeps it in its meta table (`engine::audit::AuditHead`).
    #[derive(serde::Serialize)]
    struct Head {
        seq: u64,
        hash: Option<Digest>,
    }
    let mut prev = Digest([0; 32]);
    let mut relinked = 0;
    let mut last = None;
    for (key, value) in store.scan_prefix(Table::Audit, &[])? {
        let mut record: AuditRecord =
            tongban_protocol::codec::from_cbor(&value, 1 << 16, "audit record")?;
        if record.seq >= 2 {
            if record.seq == 2 {
                record.kind = "nothing_to_see".into();
            }
            record.prev = prev;
            store.put(
                Table::Audit,
                &key,
                &tongban_protocol::codec::to_cbor(&record)?,
            )?;
            relinked += 1;
        }
        prev = record.hash(suite)?;
        last = Some(record.seq);
    }
    if let Some(seq) = last {
        store.put(
            Table::Meta,
            b"audit_head",
            &tongban_protocol::codec::to_cbor(&Head {
                seq,
                hash: Some(prev),
            })?,
        )?;
    }
    Ok(relinked)
}
