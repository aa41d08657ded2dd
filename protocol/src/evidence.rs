//! Evidence bundles: one file holding everything needed to check a case without trusting any
//! node — every signed envelope of its logs, the receipts, the roster chain that vouches for
//! the signers, the exporting node's signed audit head and its peers' signed acknowledgements
//! of its heads — signed as a whole by the exporting node (`tongban/evidence; v=1`).
//!
//! [`verify`] checks a bundle offline, with no node running: the roster chain from its genesis
//! (each update signed by a quorum of the roster before it), the bundle's signature, every
//! event against its writer's key at the time it was written and the logs' hash chains, every
//! receipt against its signer and the event it names, the licences a dispatch carries, and the
//! audit head and acknowledgements. Anything that does not check is a problem, named.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::case::events::Event;
use crate::case::log::CaseLogs;
use crate::engine::audit::{AuditAck, SignedAuditHead};
use crate::envelope::{Signable, open, peek_signer, read_unverified};
use crate::error::{Error, Result};
use crate::ids::{CaseId, Digest, RegionId, Timestamp};
use crate::roster::{Roster, RosterDocument};
use crate::wire::Receipt;

/// Largest bundle: a case's events (at most a few hundred, each at most 256 KiB in theory, a
/// few KiB in practice), its receipts and the roster chain.
pub const MAX_BUNDLE_SIZE: usize = 64 << 20;

/// What the exporting node signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceBundle {
    /// The case.
    pub case: CaseId,
    /// The exporting region.
    pub region: RegionId,
    /// When it was exported, by the exporting node's clock.
    pub exported_at: Timestamp,
    /// The roster documents from the genesis on, each with its governance signatures.
    pub rosters: Vec<ByteBuf>,
    /// Every event envelope of every log of the case, as the node holds them.
    pub events: Vec<ByteBuf>,
    /// Signed receipts for the case's events: the node's own and its peers'.
    pub receipts: Vec<ByteBuf>,
    /// The exporting node's audit head, signed at the export.
    pub audit_head: ByteBuf,
    /// Its peers' signed acknowledgements of its earlier audit heads.
    pub audit_acks: Vec<ByteBuf>,
}

impl Signable for EvidenceBundle {
    const KIND: &'static str = "evidence";
    const VERSION: u64 = 1;
    const MAX_SIZE: usize = MAX_BUNDLE_SIZE;
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceReport {
    /// The case.
    pub case: CaseId,
    /// The exporting region.
    pub region: RegionId,
    /// The genesis roster's digest: compare it with the federation's published pin.
    pub genesis: Digest,
    /// The roster version the chain ends at.
    pub roster_version: u64,
    /// Events checked, per log (intake, handling, participants).
    pub events: Vec<(String, u32)>,
    /// Receipts checked.
    pub receipts: usize,
    /// Licences a dispatch carries, checked.
    pub licences: usize,
    /// The stage the logs fold to.
    pub stage: String,
    /// The exporting node's audit chain length at the export, by its signed head.
    pub audit_seq: u64,
    /// Peers' acknowledgements of its heads checked.
    pub audit_acks: usize,
    /// Every problem found; empty when the bundle checks.
    pub problems: Vec<String>,
}

impl EvidenceReport {
    /// Whether everything checked.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks a bundle offline (see the module doc). `now` is the time of the check; the roster
/// chain and the signatures are checked as of the export. An error when the bundle cannot be
/// read at all or its signature does not check; otherwise a report listing every problem.
pub fn verify(bytes: &[u8], now: Timestamp) -> Result<EvidenceReport> {
    let claimed: EvidenceBundle = read_unverified(bytes)?;
    let at = claimed.exported_at;
    let (genesis, roster) = roster_chain(&claimed.rosters, at)?;
    let kid = peek_signer(bytes, EvidenceBundle::MAX_SIZE)?;
    let key = roster
        .event_key(&kid, &claimed.region, at, at.max(now))
        .map_err(|e| {
            Error::BadEvent(format!(
                "the bundle is not signed by region {}'s node: {e}",
                claimed.region
            ))
        })?;
    let bundle = open::<EvidenceBundle, _>(bytes, &key)?.into_parts().1;
    let mut problems = Vec::new();
    // Events: each against its writer's key, then the logs' chains.
    let mut logs = CaseLogs::new(bundle.case.clone(), roster.suite);
    let mut digests = Vec::new();
    let mut writers: Option<Vec<RegionId>> = None;
    let mut parsed: Vec<(Vec<u8>, Event)> = Vec::new();
    for env in &bundle.events {
        match read_unverified::<Event>(env) {
            Ok(e) => parsed.push((env.to_vec(), e)),
            Err(e) => problems.push(format!("an event envelope: {e}")),
        }
    }
    // The application names who writes each log.
    for (_, e) in &parsed {
        if let crate::case::events::EventKind::Submitted { application } = &e.kind {
            let mut w = vec![
                application.intake.region.clone(),
                application.item.region.clone(),
            ];
            w.extend(application.participants());
            writers = Some(w);
        }
    }
    let Some(writers) = writers else {
        return Err(Error::BadEvent(
            "the bundle holds no application (intake event 1)".into(),
        ));
    };
    let mut counts = vec![0u32; writers.len()];
    for (env, e) in &parsed {
        if e.case != bundle.case {
            problems.push(format!(
                "an event of case {} in case {}'s bundle",
                e.case, bundle.case
            ));
            continue;
        }
        let i = e.side.index();
        let Some(writer) = writers.get(i) else {
            problems.push(format!("{} event {}: no such log", e.side.name(), e.seq));
            continue;
        };
        let checked = peek_signer(env, Event::MAX_SIZE)
            .and_then(|kid| roster.event_key(&kid, writer, e.at, at.max(now)))
            .and_then(|key| open::<Event, _>(env, &key));
        match checked {
            Ok(_) => {
                if let Err(err) = logs.insert(e.clone()) {
                    problems.push(format!("{} event {}: {err}", e.side.name(), e.seq));
                } else if let Some(c) = counts.get_mut(i) {
                    *c += 1;
                }
                digests.push(roster.suite.digest(env));
            }
            Err(err) => problems.push(format!(
                "{} event {}: not signed by region {writer}'s node: {err}",
                e.side.name(),
                e.seq
            )),
        }
    }
    let mut licences = 0;
    for (_, e) in &parsed {
        if let crate::case::events::EventKind::ResultDispatched { licences: ls, .. } = &e.kind {
            for l in ls {
                match crate::licence::verify(&l.0, &roster, crate::case::date::Date::of(at), at) {
                    Ok(_) => licences += 1,
                    Err(err) => problems.push(format!("licence {}: {err}", l.digest())),
                }
            }
        }
    }
    // Receipts: each by a member, of an event in the bundle.
    let mut receipts = 0;
    for env in &bundle.receipts {
        let checked = read_unverified::<Receipt>(env).and_then(|r| {
            let kid = peek_signer(env, Receipt::MAX_SIZE)?;
            let key = roster.event_key(&kid, &r.by, r.at, at.max(now))?;
            open::<Receipt, _>(env, &key).map(|_| r)
        });
        match checked {
            Ok(r) if !digests.contains(&r.event_digest) => problems.push(format!(
                "a receipt by {} names an event that is not in the bundle",
                r.by
            )),
            Ok(_) => receipts += 1,
            Err(err) => problems.push(format!("a receipt: {err}")),
        }
    }
    // The exporting node's audit head and its peers' acknowledgements.
    let audit_seq = match open::<SignedAuditHead, _>(&bundle.audit_head, &key) {
        Ok(h) if h.payload().region == bundle.region => h.payload().seq,
        Ok(_) => {
            problems.push("the audit head is another region's".into());
            0
        }
        Err(err) => {
            problems.push(format!("the audit head: {err}"));
            0
        }
    };
    let mut audit_acks = 0;
    for env in &bundle.audit_acks {
        let checked = read_unverified::<AuditAck>(env).and_then(|a| {
            let kid = peek_signer(env, AuditAck::MAX_SIZE)?;
            let key = roster.event_key(&kid, &a.witness, a.at, at.max(now))?;
            open::<AuditAck, _>(env, &key).map(|_| a)
        });
        match checked {
            Ok(a) if a.region == bundle.region && a.seq <= audit_seq => audit_acks += 1,
            Ok(a) => problems.push(format!(
                "an acknowledgement by {} of region {}'s head at record {}, past the exported \
                 head or another region's",
                a.witness, a.region, a.seq
            )),
            Err(err) => problems.push(format!("an audit acknowledgement: {err}")),
        }
    }
    let state = logs.state();
    let names = ["intake".to_string(), "handling".to_string()];
    let events = counts
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let name = names
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("participant {}", i - 1));
            (name, *n)
        })
        .collect();
    Ok(EvidenceReport {
        case: bundle.case,
        region: bundle.region,
        genesis,
        roster_version: roster.version,
        events,
        receipts,
        licences,
        stage: format!("{:?}", state.stage),
        audit_seq,
        audit_acks,
        problems,
    })
}

/// The roster chain from its genesis, each update accepted by the roster before it, as of
/// `at`; the genesis digest and the roster it ends at.
fn roster_chain(documents: &[ByteBuf], at: Timestamp) -> Result<(Digest, Roster)> {
    let Some(first) = documents.first() else {
        return Err(Error::InvalidRoster(
            "the bundle holds no roster: nothing vouches for its signers".into(),
        ));
    };
    let mut roster = Roster::accept_genesis(&RosterDocument::decode(first)?, at)?;
    let genesis = roster.digest()?;
    for doc in &documents[1..] {
        let doc = RosterDocument::decode(doc)?;
        roster = roster.accept_update(&doc, at)?;
    }
    Ok((genesis, roster))
}

/// The roster documents a bundle carries: `known` (the genesis first, then the updates the
/// node was configured with and those it accepted since, in any order and with repeats), each
/// kept only if the roster so far accepts it as of `at`: the chain a checker replays.
pub fn roster_chain_of(known: &[RosterDocument], at: Timestamp) -> Result<Vec<ByteBuf>> {
    let Some(first) = known.first() else {
        return Err(Error::InvalidRoster("no genesis roster".into()));
    };
    let mut roster = Roster::accept_genesis(first, at)?;
    let mut out = vec![ByteBuf::from(first.encode()?)];
    let mut rest: Vec<(u64, &RosterDocument)> = known[1..]
        .iter()
        .filter_map(|d| d.unverified_roster().ok().map(|r| (r.version, d)))
        .collect();
    rest.sort_by_key(|(v, _)| *v);
    for (version, doc) in rest {
        if version <= roster.version {
            continue;
        }
        roster = roster.accept_update(doc, at)?;
        out.push(ByteBuf::from(doc.encode()?));
    }
    Ok(out)
}
