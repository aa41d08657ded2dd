//! Engines driven together in memory: the way the simulator will drive them, in small.

use crate::case::events::samples;
use std::collections::BTreeMap;

use super::*;
use crate::case::application::tests::sample_application;
use crate::case::events::Side;
use crate::case::events::{Event, EventKind, Outcome};
use crate::catalog::tests::sample_item;
use crate::ids::{CaseId, Digest};
use crate::roster::{Member, RosterDocument};
use crate::store::MemoryStore;
use crate::store::Table;
use crate::wire::Message;

const T0: u64 = 1_772_413_200_000; // Mon 2026-03-02 09:00 China time
const BJ: &str = "110000";
const TJ: &str = "120000";
const HB: &str = "130000";

fn region(s: &str) -> RegionId {
    RegionId::new(s).unwrap()
}

fn node_identity(r: &str) -> Identity {
    crate::testing::identity_under_test([r.as_bytes()[1]; 32])
}

/// Region `r`'s governance identity: seed 100 plus the region's second digit (101 for
/// Beijing, 102 for Tianjin, 103 for Hebei).
fn governor(r: &str) -> Identity {
    crate::testing::identity_under_test([100 + (r.as_bytes()[1] - b'0'); 32])
}

/// The keys a test member publishes beside its node key: none in an ed25519 roster (so
/// sealing to the node key's X25519 form is tested), its encryption and transport keys in an
/// sm one (an SM2 node key has no X25519 form, and is no libp2p identity).
fn published(node: &Identity) -> crate::roster::NodeKeys {
    let keys = crate::keyring::published_keys(node);
    match crate::testing::suite_under_test() {
        crate::suite::Suite::Sm => keys,
        crate::suite::Suite::Ed25519 => crate::roster::NodeKeys {
            encryption_key: None,
            ..keys
        },
    }
}

/// `roster` with `r`'s node key rotated to `new`'s, publishing the keys a test member
/// publishes ([`published`]).
fn rotated(roster: &Roster, r: &str, new: &Identity, now: Timestamp) -> Roster {
    roster
        .rotate_node_keys(&region(r), published(new), now)
        .unwrap()
}

/// Beijing and Tianjin, two governance signatures needed.
fn roster() -> Roster {
    roster_of(&[BJ, TJ])
}

/// A version 1 roster of `regions`, a strict majority of governance signatures needed.
fn roster_of(regions: &[&str]) -> Roster {
    let member = |r: &str| Member {
        encryption_key: published(&node_identity(r)).encryption_key,
        transport_key: published(&node_identity(r)).transport_key,
        region: region(r),
        name: match r {
            BJ => "北京市",
            TJ => "天津市",
            _ => "河北省",
        }
        .into(),
        node_key: node_identity(r).public_key(),
        governance_key: governor(r).public_key(),
        addresses: vec![],
        valid_from: Timestamp(0),
        valid_until: Timestamp(u64::MAX),
    };
    Roster {
        federation: "test".into(),
        version: 1,
        issued_at: Timestamp(0),
        threshold: (regions.len() / 2 + 1) as u32,
        members: regions.iter().map(|r| member(r)).collect(),
        revoked_keys: vec![],
        retired_keys: vec![],
        suite: crate::testing::suite_under_test(),
        index: Default::default(),
    }
}

fn catalog(r: &str) -> CatalogFile {
    let mut items = vec![
        sample_item(&format!("{r}0001")),
        sample_item(&format!("{r}0002")),
    ];
    items[1].name = "营业执照遗失补领".into();
    // 免提交: the licence may be an 电子证照 fetched from the region that issued it.
    items[1].materials.push(crate::catalog::Material {
        id: "licence".into(),
        name: "营业执照".into(),
        required: false,
        originals: 1,
        copies: 0,
        electronic: true,
        trust: crate::catalog::TrustLevel::A,
        may_follow_later: false,
        pledge_waives: false,
        e_licence: Some("营业执照".into()),
    });
    CatalogFile {
        region: region(r),
        version: 1,
        items,
    }
}

fn setup(r: &str) -> EngineSetup {
    setup_with(r, roster())
}

fn setup_with(r: &str, roster: Roster) -> EngineSetup {
    EngineSetup {
        region: region(r),
        identity: node_identity(r),
        roster,
        calendar: HolidayCalendar::weekdays_only(),
        catalog: catalog(r),
        config: EngineConfig::default(),
    }
}

/// Two (or more) engines and the frames in flight between them.
struct Net {
    nodes: BTreeMap<RegionId, Engine<MemoryStore>>,
    in_flight: Vec<(RegionId, Vec<u8>)>,
    notices: BTreeMap<RegionId, Vec<(u64, Notice)>>,
    now: Timestamp,
    regions: Vec<&'static str>,
}

/// The test network's [`Io`]: frames join those in flight, notices wait for the test to
/// confirm them (or not).
struct Recorder<'a> {
    in_flight: &'a mut Vec<(RegionId, Vec<u8>)>,
    notices: &'a mut Vec<(u64, Notice)>,
}

impl Io for Recorder<'_> {
    fn send(&mut self, to: RegionId, frame: Vec<u8>, _kind: &'static str) {
        self.in_flight.push((to, frame));
    }

    fn gossip(&mut self, _topic: GossipTopic, _message: Vec<u8>) {}

    fn roster(&mut self, _roster: Box<Roster>) {}

    fn notify(&mut self, id: u64, notice: Notice) -> Handover {
        self.notices.push((id, notice));
        Handover::Carried
    }
}

impl Net {
    /// Beijing and Tianjin.
    fn new() -> Net {
        Net::with(&[BJ, TJ])
    }

    /// A node for each of `regions`, all on one roster of exactly them.
    fn with(regions: &[&'static str]) -> Net {
        let mut net = Net {
            nodes: BTreeMap::new(),
            in_flight: Vec::new(),
            notices: BTreeMap::new(),
            now: Timestamp(T0),
            regions: regions.to_vec(),
        };
        for &r in regions {
            let setup = setup_with(r, roster_of(regions));
            let engine = Engine::open(setup, MemoryStore::new(), net.now).unwrap();
            net.nodes.insert(region(r), engine);
            net.commit(r);
        }
        // Catalogs spread before any window works.
        net.run(|_| false);
        net
    }

    /// The regions of `configs`, each opened with its own engine settings on the default
    /// roster, committed and run until quiet.
    fn with_configs(configs: &[(&'static str, EngineConfig)]) -> Net {
        let mut net = Net {
            nodes: BTreeMap::new(),
            in_flight: Vec::new(),
            notices: BTreeMap::new(),
            now: Timestamp(T0),
            regions: configs.iter().map(|(r, _)| *r).collect(),
        };
        for (r, config) in configs {
            let mut setup = setup(r);
            setup.config = config.clone();
            let engine = Engine::open(setup, MemoryStore::new(), net.now).unwrap();
            net.nodes.insert(region(r), engine);
            net.commit(r);
        }
        net.run(|_| false);
        net
    }

    fn node(&mut self, r: &str) -> &mut Engine<MemoryStore> {
        self.nodes.get_mut(&region(r)).unwrap()
    }

    fn commit(&mut self, r: &str) {
        let engine = self.nodes.get_mut(&region(r)).unwrap();
        let mut io = Recorder {
            in_flight: &mut self.in_flight,
            notices: self.notices.entry(region(r)).or_default(),
        };
        engine.commit_to(&mut io).unwrap();
    }

    /// Delivers every frame in flight (and what they cause) until quiet; `drop` decides which
    /// to lose. Honest nodes send only what their peers take: a frame refused fails the test
    /// (where a refusal is the point, use [`Net::run_refusals`] or [`Net::refuse`]).
    fn run(&mut self, drop: impl FnMut(usize) -> bool) {
        let refused = self.run_refusals(drop);
        assert!(
            refused.is_empty(),
            "honest frames were refused: {refused:?}"
        );
    }

    /// As [`Net::run`], but the refusals are returned instead of failing the test: the region
    /// that refused, the kind of frame and the error.
    fn run_refusals(
        &mut self,
        mut drop: impl FnMut(usize) -> bool,
    ) -> Vec<(RegionId, &'static str, Error)> {
        let mut refused = Vec::new();
        let mut n = 0;
        while !self.in_flight.is_empty() {
            let batch = std::mem::take(&mut self.in_flight);
            for (to, frame) in batch {
                n += 1;
                if drop(n) {
                    continue;
                }
                if let Err(e) = self.take_frame(to.as_str(), &frame) {
                    let kind = crate::envelope::read_unverified::<crate::wire::Frame>(&frame)
                        .map_or("unreadable", |f| f.body.name());
                    refused.push((to.clone(), kind, e));
                }
                self.commit(to.as_str());
            }
            assert!(n < 100_000, "the nodes never went quiet");
        }
        refused
    }

    /// As [`Net::run`], losing every frame whose body is of `kind` (such as `audit_ack`).
    fn run_losing(&mut self, kind: &str) {
        let mut n = 0;
        while !self.in_flight.is_empty() {
            for (to, frame) in std::mem::take(&mut self.in_flight) {
                n += 1;
                let lost = crate::envelope::read_unverified::<crate::wire::Frame>(&frame)
                    .is_ok_and(|f| f.body.name() == kind);
                if !lost {
                    self.deliver(to.as_str(), &frame);
                }
            }
            assert!(n < 100_000, "the nodes never went quiet");
        }
    }

    /// Hands `frame` to `to` as a node does: its signatures checked first, as the node's
    /// network task does, against `to`'s roster; the engine takes what was checked (and
    /// checks everything else). Not committed.
    fn take_frame(&mut self, to: &str, frame: &[u8]) -> Result<()> {
        let now = self.now;
        let node = self.node(to);
        let mut pre = crate::wire::precheck_frame(frame, node.roster(), now);
        node.on_prechecked_frame(frame, &mut pre, now)
    }

    /// Delivers `frame` to `to`, which must take it, and commits.
    fn deliver(&mut self, to: &str, frame: &[u8]) {
        if let Err(e) = self.take_frame(to, frame) {
            panic!("region {to} refused an honest frame: {e}");
        }
        self.commit(to);
    }

    /// Delivers `frame` to `to`, which must refuse it and change nothing: every table but the
    /// audit log byte-identical, the engine's indexes as they were, nothing to send, and one
    /// record more in the audit log (the refusal, or the frame received before its content
    /// was refused). Returns the error.
    fn refuse(&mut self, to: &str, frame: &[u8]) -> Error {
        let before = snapshot(self.node(to));
        let audited =
            audit::verify_chain(self.node(to).store(), crate::testing::suite_under_test()).unwrap();
        let err = self
            .take_frame(to, frame)
            .expect_err("the frame is refused");
        let outputs = self.node(to).commit().unwrap();
        assert!(outputs.is_empty(), "{err}: yet it sent {outputs:?}");
        assert_eq!(snapshot(self.node(to)), before, "{err}: yet it changed");
        assert_eq!(
            audit::verify_chain(self.node(to).store(), crate::testing::suite_under_test()).unwrap(),
            audited + 1,
            "{err}: one audit record"
        );
        err
    }

    fn advance(&mut self, ms: u64) {
        self.now = self.now.plus_ms(ms);
        for r in self.regions.clone() {
            let now = self.now;
            self.node(r).tick(now).unwrap();
            self.commit(r);
        }
    }

    fn upload(&mut self, r: &str, content: &[u8]) -> Digest {
        let d = crate::testing::suite_under_test().digest(content);
        let now = self.now;
        self.node(r)
            .upload_chunk(&window(r), d, 0, content.len() as u64, content, now)
            .unwrap();
        self.commit(r);
        d
    }

    fn intake(&mut self, at: &str, item_region: &str, code: &str) -> CaseId {
        let request = self.request(at, item_region, code);
        let now = self.now;
        let receipt = self
            .node(at)
            .intake(&window(at), request, None, now)
            .unwrap();
        self.commit(at);
        receipt.case
    }

    /// Takes `request` at `at`'s window with an idempotency key, and commits.
    fn intake_with_key(&mut self, at: &str, request: IntakeRequest, key: &str) -> IntakeReceipt {
        let now = self.now;
        let receipt = self
            .node(at)
            .intake(&window(at), request, Some(key), now)
            .unwrap();
        self.commit(at);
        receipt
    }

    /// An application for `code` of `item_region`, as a window at `at` prepares it, with its
    /// materials uploaded.
    fn request(&mut self, at: &str, item_region: &str, code: &str) -> IntakeRequest {
        let form = self.upload(at, b"application form");
        let idc = self.upload(at, b"id card scan");
        let app = sample_application("x");
        let mut materials = app.materials.clone();
        materials[0].digest = form;
        materials[0].size = 16;
        materials[1].digest = idc;
        materials[1].size = 12;
        IntakeRequest {
            region: region(item_region),
            impl_code: code.into(),
            catalog_version: Some(1),
            applicant: app.applicant,
            materials,
            form: app.form,
            delivery: app.delivery,
            accept_with_gaps: app.accept_with_gaps,
            pledge: false,
            mode: None,
            step_regions: Default::default(),
            locality: None,
        }
    }

    fn report(&mut self, r: &str, case: &CaseId, event: EventKind) {
        let now = self.now;
        self.node(r)
            .report(
                Report {
                    case: case.clone(),
                    event,
                },
                now,
            )
            .unwrap();
        self.commit(r);
    }

    /// A case taken at Tianjin's window for Beijing's item, and accepted by Beijing's back
    /// office, all delivered.
    fn accepted_case(&mut self) -> CaseId {
        let case = self.intake(TJ, BJ, "1100000001");
        self.run(|_| false);
        self.report(
            BJ,
            &case,
            EventKind::accepted("市场监督管理局", "王受理", "受字1号"),
        );
        self.run(|_| false);
        case
    }

    fn state(&mut self, r: &str, case: &CaseId) -> crate::case::fold::CaseState {
        let now = self.now;
        self.node(r).case_view(case, now).unwrap().state
    }
}

/// A frame from `from`'s node to `to`, signed with `from`'s real node key: what a member that
/// went bad could send.
fn frame_from(from: &str, to: &str, id: u64, body: Message, now: Timestamp) -> Vec<u8> {
    let frame = crate::wire::Frame {
        from: region(from),
        to: region(to),
        id,
        sent_at: now,
        body,
    };
    let version = frame.body.since();
    node_identity(from)
        .sign_version(&frame, version)
        .unwrap()
        .into_parts()
        .0
}

fn receipt_message(receipt: &crate::envelope::Envelope<crate::wire::Receipt>) -> Message {
    Message::Receipt {
        receipt: serde_bytes::ByteBuf::from(receipt.bytes().to_vec()),
    }
}

fn window(r: &str) -> Actor {
    Actor::Window {
        window: WindowId::new(format!("{r}-w1")).unwrap(),
        operator: "OP1".into(),
    }
}

fn approve() -> EventKind {
    EventKind::Concluded {
        outcome: Outcome::Approved {
            licences: vec![samples::licence("营业执照", "N1")],
        },
    }
}

#[test]
fn a_local_case_runs_to_conclusion() {
    let mut net = Net::new();
    let case = net.intake(BJ, BJ, "1100000001");
    assert!(matches!(
        net.notices[&region(BJ)][0].1,
        Notice::NewCase { .. }
    ));
    net.report(
        BJ,
        &case,
        EventKind::accepted("市场监督管理局", "王受理", "受字1号"),
    );
    net.report(BJ, &case, approve());
    let s = net.state(BJ, &case);
    assert_eq!(s.stage, crate::case::fold::Stage::Concluded);
    assert!(net.in_flight.is_empty(), "a local case sends nothing");
}

#[test]
fn a_cross_region_case_keeps_both_sides_in_step() {
    let mut net = Net::new();
    let case = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    let notices = &net.notices[&region(BJ)];
    assert!(matches!(&notices[0].1, Notice::NewCase { case: c, .. } if c == &case));
    // The materials followed the application, chunk by chunk, checked against their digests.
    let view = net.state(BJ, &case);
    let application = view.application.clone().unwrap();
    for m in &application.materials {
        assert!(
            net.node(BJ).material(&m.digest).unwrap().is_some(),
            "material {} not at the handler",
            m.material
        );
    }
    net.report(
        BJ,
        &case,
        EventKind::accepted("市场监督管理局", "王受理", "受字1号"),
    );
    net.run(|_| false);
    let now = net.now;
    net.node(TJ)
        .write_event(
            &window(TJ),
            &case,
            EventKind::WithdrawalRequested {
                reason: "改期".into(),
            },
            now,
        )
        .unwrap();
    net.commit(TJ);
    net.run(|_| false);
    assert!(
        net.notices[&region(BJ)]
            .iter()
            .any(|(_, n)| matches!(n, Notice::IntakeEvent { seq: 2, .. }))
    );
    net.report(BJ, &case, EventKind::WithdrawalConfirmed);
    net.run(|_| false);
    let (a, b) = (net.state(TJ, &case), net.state(BJ, &case));
    assert_eq!(a, b);
    assert_eq!(a.stage, crate::case::fold::Stage::Withdrawn);
    assert!(
        net.node(TJ).outbox_depth().is_empty(),
        "every message was acknowledged"
    );
    assert!(net.node(BJ).outbox_depth().is_empty());
    assert!(
        audit::verify_chain(net.node(TJ).store(), crate::testing::suite_under_test()).unwrap() > 0
    );
}

#[test]
fn lost_frames_are_sent_again_until_acknowledged() {
    let mut net = Net::new();
    let case = net.intake(TJ, BJ, "1100000001");
    // Lose everything for a while.
    net.run(|_| true);
    assert!(net.node(BJ).case_record(&case).unwrap().is_none());
    for _ in 0..5 {
        net.advance(60_000);
        net.run(|n| n % 2 == 0);
    }
    net.advance(600_000);
    net.run(|_| false);
    assert!(net.node(BJ).case_record(&case).unwrap().is_some());
    net.report(
        BJ,
        &case,
        EventKind::accepted("市场监督管理局", "王受理", "受字1号"),
    );
    net.run(|_| true);
    net.advance(600_000);
    net.run(|_| false);
    assert_eq!(net.state(TJ, &case), net.state(BJ, &case));
    assert!(net.node(BJ).metrics().retries > 0);
}

#[test]
fn reconciliation_recovers_what_the_outbox_gave_up_on() {
    let mut net = Net::new();
    let case = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    net.report(
        BJ,
        &case,
        EventKind::accepted("市场监督管理局", "王受理", "受字1号"),
    );
    net.in_flight.clear();
    // Forget the outbox entirely (as if a peer had been removed and re-added): only
    // reconciliation can bring Tianjin the acceptance now.
    let bj = net.node(BJ);
    bj.outbox.clear();
    net.advance(700_000);
    net.run(|_| false);
    assert_eq!(
        net.state(TJ, &case).stage,
        crate::case::fold::Stage::Accepted
    );
}

#[test]
fn a_crash_loses_only_what_was_not_acknowledged() {
    let mut net = Net::new();
    let kept = net.intake(TJ, BJ, "1100000001");
    // A valid intake whose commit never happened: the window got no answer, nothing was sent.
    let request = net.request(TJ, BJ, "1100000001");
    let now = net.now;
    let lost = net
        .node(TJ)
        .intake(&window(TJ), request, None, now)
        .unwrap()
        .case;
    assert_ne!(lost, kept);
    assert!(
        net.node(TJ).case_record(&lost).unwrap().is_some(),
        "taken, not kept"
    );
    let tj = net.nodes.remove(&region(TJ)).unwrap();
    let mut store = tj.into_store();
    assert!(store.crash() > 0, "the intake's writes were not synced");
    assert!(
        store
            .scan_prefix(Table::Events, &super::records::case_prefix(&lost))
            .unwrap()
            .is_empty(),
        "its event is gone"
    );
    let reopened = Engine::open(setup(TJ), store, net.now).unwrap();
    net.nodes.insert(region(TJ), reopened);
    assert!(net.node(TJ).case_record(&kept).unwrap().is_some());
    assert!(net.node(TJ).case_record(&lost).unwrap().is_none());
    assert_eq!(net.node(TJ).outbox_len(), 1, "only the kept case waits");
    // Deliver twice what was in flight: no event is applied twice, and the lost case never
    // reaches Beijing.
    let again = net.in_flight.clone();
    net.in_flight.extend(again);
    net.run(|_| false);
    let now = net.now;
    let view = net.node(BJ).case_view(&kept, now).unwrap();
    assert_eq!(view.handling.len(), 1);
    assert_eq!(view.intake.len(), 1);
    assert!(net.node(BJ).metrics().events_duplicate >= 1);
    assert!(net.node(BJ).case_record(&lost).unwrap().is_none());
}

/// A table's rows.
type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// Every table but the audit log and its head, to show that something changed nothing else.
fn all_but_audit(store: &MemoryStore) -> Vec<(Table, Rows)> {
    Table::ALL
        .into_iter()
        .filter(|t| *t != Table::Audit)
        .map(|t| {
            let mut rows = store.scan_prefix(t, &[]).unwrap();
            rows.retain(|(k, _)| !(t == Table::Meta && k == super::records::META_AUDIT_HEAD));
            (t, rows)
        })
        .collect()
}

/// Everything a refused input must leave as it was.
#[derive(Debug, PartialEq)]
struct Snapshot {
    /// Every table but the audit log and its head, row for row.
    tables: Vec<(Table, Rows)>,
    /// The case counts the engine keeps in memory (the records are in the tables).
    counts: CaseCounts,
    /// What waits for a peer's receipt.
    outbox: Vec<(RegionId, u64)>,
    /// The roster in force.
    roster: Roster,
    /// The catalogs held.
    catalogs: Vec<(RegionId, Digest)>,
}

fn snapshot(engine: &Engine<MemoryStore>) -> Snapshot {
    Snapshot {
        tables: all_but_audit(engine.store()),
        counts: engine.case_counts(),
        outbox: engine.outbox.keys().cloned().collect(),
        roster: engine.roster.clone(),
        catalogs: engine
            .catalogs
            .iter()
            .map(|(r, env)| (r.clone(), env.digest()))
            .collect(),
    }
}

/// The envelope `r` holds of `case`'s `side` event `seq`, and the event in it.
fn held_event(net: &mut Net, r: &str, case: &CaseId, side: Side, seq: u32) -> (Vec<u8>, Event) {
    let bytes = net
        .node(r)
        .store()
        .get(Table::Events, &super::records::event_key(case, side, seq))
        .unwrap()
        .expect("the event is held");
    let event = crate::envelope::read_unverified(&bytes).unwrap();
    (bytes, event)
}

/// Handling event 2, `accepted`, chained onto `received` (handling event 1): the next event a
/// forger would try to slip in.
fn accepted_after(received: &Event, now: Timestamp) -> Event {
    Event {
        case: received.case.clone(),
        side: Side::Handling,
        seq: 2,
        seen: vec![1],
        at: now,
        kind: EventKind::accepted("市场监督管理局", "王受理", "受字1号"),
        prev: Some(received.digest(crate::testing::suite_under_test()).unwrap()),
    }
}

/// `event` signed with `by`, in an events frame from `from`'s node to `to`.
fn events_frame(
    from: &str,
    to: &str,
    id: u64,
    by: &Identity,
    event: &Event,
    now: Timestamp,
) -> Vec<u8> {
    let envelope = by.sign(event).unwrap().into_parts().0;
    let body = Message::Events {
        events: vec![serde_bytes::ByteBuf::from(envelope)],
    };
    frame_from(from, to, id, body, now)
}

/// Tianjin's window withdraws `case`: the event is written and signed, and its frame to
/// Beijing taken out of the network before delivery. Returns the event and that frame.
fn withdrawal_in_flight(net: &mut Net, case: &CaseId) -> (Event, Vec<u8>) {
    withdraw(net, TJ, case);
    let (to, frame) = net.in_flight.pop().expect("the withdrawal is sent");
    assert!(to == region(BJ) && net.in_flight.is_empty());
    let Message::Events { events } = crate::envelope::read_unverified::<crate::wire::Frame>(&frame)
        .unwrap()
        .body
    else {
        panic!("an events frame");
    };
    (crate::envelope::read_unverified(&events[0]).unwrap(), frame)
}

/// Issue 16, item 5: forged frames and forged events, each refused with the store
/// byte-identical afterwards; the genuine event they imitate is then taken.
#[test]
fn strangers_and_forgeries_are_refused_and_change_nothing() {
    let mut net = Net::new();
    let case = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    let (genuine, honest_frame) = withdrawal_in_flight(&mut net, &case);
    let now = net.now;
    let mallory = crate::testing::identity_under_test([66; 32]);

    // Frames: signed by a stranger, by a member in another's name, addressed elsewhere,
    // garbage. Each is refused before its content is looked at, and counted.
    let fetch = Message::CatalogFetch {
        region: region(BJ),
        version: None,
    };
    let stranger = crate::wire::Frame {
        from: region(TJ),
        to: region(BJ),
        id: 1,
        sent_at: now,
        body: fetch.clone(),
    };
    let stranger = mallory.sign(&stranger).unwrap().into_parts().0;
    let impersonation = {
        let frame = crate::wire::Frame {
            from: region(BJ),
            to: region(BJ),
            id: 2,
            sent_at: now,
            body: fetch.clone(),
        };
        node_identity(TJ).sign(&frame).unwrap().into_parts().0
    };
    let elsewhere = frame_from(TJ, HB, 3, fetch, now);
    let refused = net.node(BJ).metrics().frames_refused;
    let err = net.refuse(BJ, &stranger);
    assert!(matches!(err, Error::UnknownSigner { .. }), "{err}");
    let err = net.refuse(BJ, &impersonation);
    assert!(matches!(err, Error::Impersonation { .. }), "{err}");
    let err = net.refuse(BJ, &elsewhere);
    assert!(matches!(err, Error::FrameRefused(_)), "{err}");
    let err = net.refuse(BJ, b"garbage");
    assert!(
        matches!(err, Error::NotCoseSign1(_) | Error::Malformed { .. }),
        "{err}"
    );
    assert_eq!(net.node(BJ).metrics().frames_refused, refused + 4);

    // Events in an honest frame from the writer, but not the writer's: Tianjin's withdrawal
    // signed by a stranger, and by Beijing's own node key.
    for (n, key) in [(10, &mallory), (11, &node_identity(BJ))] {
        let frame = events_frame(TJ, BJ, n, key, &genuine, now);
        let err = net.refuse(BJ, &frame);
        assert!(matches!(err, Error::BadEvent(_)), "{err}");
        assert!(
            err.to_string().contains("not signed by the writer 120000"),
            "{err}"
        );
    }
    // Tianjin's key on an event of the handling side, which Beijing writes.
    let (_, received) = held_event(&mut net, BJ, &case, Side::Handling, 1);
    let accepted = accepted_after(&received, now);
    let err = net.refuse(
        BJ,
        &events_frame(TJ, BJ, 12, &node_identity(TJ), &accepted, now),
    );
    assert!(
        err.to_string().contains("not signed by the writer 110000"),
        "{err}"
    );

    // A case's start that names the wrong case: an application for another case, a case
    // for another region's item, a case id in another region's series.
    let (_, submitted) = held_event(&mut net, BJ, &case, Side::Intake, 1);
    let EventKind::Submitted { application } = &submitted.kind else {
        panic!("event 1 is the application");
    };
    let other = CaseId::new("120000-20260302-000777").unwrap();
    let mut names_another = submitted.clone();
    names_another.case = other.clone();
    let mut not_ours = names_another.clone();
    let mut app = application.clone();
    app.case = other.clone();
    app.item.region = region(TJ);
    not_ours.kind = EventKind::Submitted {
        application: app.clone(),
    };
    let mut wrong_series = submitted.clone();
    wrong_series.case = CaseId::new("110000-20260302-000777").unwrap();
    app.case = wrong_series.case.clone();
    app.item.region = region(BJ);
    wrong_series.kind = EventKind::Submitted { application: app };
    for (n, forged, why) in [
        (13, &names_another, "names another case"),
        (14, &not_ours, "is for region 120000, not this one"),
        (15, &wrong_series, "has an id starting with 120000-"),
    ] {
        let err = net.refuse(
            BJ,
            &events_frame(TJ, BJ, n, &node_identity(TJ), forged, now),
        );
        assert!(err.to_string().contains(why), "{err}");
        assert!(net.node(BJ).case_record(&forged.case).unwrap().is_none());
    }

    // The event they imitated, as Tianjin sent it, is taken.
    net.deliver(BJ, &honest_frame);
    assert_eq!(
        net.node(BJ).case_record(&case).unwrap().unwrap().intake_seq,
        2
    );
}

/// Issue 16, item 6: the writer of a log signing a second, different event under a sequence
/// number it already used is refused; the held event stays in force, and the conflicting
/// one is kept as evidence, once, beside it.
#[test]
fn the_real_writer_equivocating_is_refused_and_kept_as_evidence() {
    let mut net = Net::new();
    let case = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    let (held, submitted) = held_event(&mut net, BJ, &case, Side::Intake, 1);
    let mut second = submitted.clone();
    second.at = second.at.plus_ms(1);
    let forged = node_identity(TJ).sign(&second).unwrap().into_parts().0;
    let frame = |id| {
        let body = Message::Events {
            events: vec![serde_bytes::ByteBuf::from(forged.clone())],
        };
        frame_from(TJ, BJ, id, body, net.now)
    };
    let (first, again) = (frame(20), frame(21));
    let before = snapshot(net.node(BJ));
    let now = net.now;
    let err = net.node(BJ).on_frame(&first, now).unwrap_err();
    assert!(err.to_string().contains("fork"), "{err}");
    assert!(net.node(BJ).commit().unwrap().is_empty());
    // Only the evidence and the case's fork count changed.
    let after = snapshot(net.node(BJ));
    let without = |s: &Snapshot, t: Table| -> Vec<(Table, Rows)> {
        s.tables
            .iter()
            .filter(|(x, _)| *x != t && *x != Table::Cases)
            .cloned()
            .collect()
    };
    assert_eq!(
        without(&after, Table::Forks),
        without(&before, Table::Forks)
    );
    let forks = |s: &Snapshot| {
        s.tables
            .iter()
            .find(|(t, _)| *t == Table::Forks)
            .unwrap()
            .1
            .clone()
    };
    let key = super::records::fork_key(
        &case,
        Side::Intake,
        1,
        &crate::testing::suite_under_test().digest(&forged),
    );
    assert_eq!(forks(&after), vec![(key, forged.clone())]);
    let record = |s: &Snapshot| -> CaseRecord {
        let rows = &s.tables.iter().find(|(t, _)| *t == Table::Cases).unwrap().1;
        let (_, value) = rows
            .iter()
            .find(|(k, _)| k.as_slice() == case.as_str().as_bytes())
            .unwrap();
        crate::codec::from_cbor(value, 1 << 20, "case record").unwrap()
    };
    let mut expected = record(&before);
    expected.forks = 1;
    assert_eq!(record(&after), expected);
    assert_eq!(after.counts, before.counts);
    assert_eq!(net.node(BJ).metrics().forks, 1);
    assert_eq!(held_event(&mut net, BJ, &case, Side::Intake, 1).0, held);
    // The same conflicting event again is refused and not counted twice.
    let now = net.now;
    assert!(net.node(BJ).on_frame(&again, now).is_err());
    net.commit(BJ);
    assert_eq!(snapshot(net.node(BJ)).tables, after.tables);
    assert_eq!(net.node(BJ).metrics().forks, 1);
    let view = net.node(BJ).case_view(&case, now).unwrap();
    assert_eq!((view.forks.len(), view.forks[0].seq), (1, 1));
}

/// Issue 16, item 6: the handling region cannot write the intake log, even to the intake
/// region itself, which takes its own events back from its peer after a restore.
#[test]
fn the_handling_region_cannot_write_the_intake_log() {
    let mut net = Net::new();
    let case = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    let (_, submitted) = held_event(&mut net, TJ, &case, Side::Intake, 1);
    let withdrawal = Event {
        case: case.clone(),
        side: Side::Intake,
        seq: 2,
        seen: vec![0, 1],
        at: net.now,
        kind: EventKind::WithdrawalRequested {
            reason: "改期".into(),
        },
        prev: Some(
            submitted
                .digest(crate::testing::suite_under_test())
                .unwrap(),
        ),
    };
    let now = net.now;
    let frame = events_frame(BJ, TJ, 30, &node_identity(BJ), &withdrawal, now);
    let err = net.refuse(TJ, &frame);
    assert!(
        err.to_string().contains("not signed by the writer 120000"),
        "{err}"
    );
    assert_eq!(
        net.node(TJ).case_record(&case).unwrap().unwrap().intake_seq,
        1
    );
    assert_eq!(net.node(TJ).metrics().events_recovered, 0);
}

/// Issue 16, item 6: a member that is no party of a case cannot add to either of its logs,
/// not even by relaying the writer's genuine event.
#[test]
fn a_region_outside_the_case_cannot_write_to_it() {
    let mut net = Net::with(&[BJ, TJ, HB]);
    let case = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    let (genuine, honest_frame) = withdrawal_in_flight(&mut net, &case);
    let now = net.now;
    let relayed = events_frame(HB, BJ, 40, &node_identity(TJ), &genuine, now);
    let err = net.refuse(BJ, &relayed);
    assert!(
        err.to_string()
            .contains("region 130000 may not write the Intake log"),
        "{err}"
    );
    let own = events_frame(HB, BJ, 41, &node_identity(HB), &genuine, now);
    let err = net.refuse(BJ, &own);
    assert!(err.to_string().contains("may not write"), "{err}");
    let (_, received) = held_event(&mut net, TJ, &case, Side::Handling, 1);
    let accepted = accepted_after(&received, now);
    let err = net.refuse(
        TJ,
        &events_frame(HB, TJ, 42, &node_identity(HB), &accepted, now),
    );
    assert!(
        err.to_string()
            .contains("region 130000 may not write the Handling log"),
        "{err}"
    );
    // Nor may it fetch the case's events.
    let fetch = Message::EventFetch {
        case: case.clone(),
        side: Side::Intake,
        after: 0,
    };
    let err = net.refuse(TJ, &frame_from(HB, TJ, 43, fetch, now));
    assert!(matches!(err, Error::Forbidden(_)), "{err}");
    // The writer's own frame is taken.
    net.deliver(BJ, &honest_frame);
    assert_eq!(
        net.node(BJ).case_record(&case).unwrap().unwrap().intake_seq,
        2
    );
}

/// Issue 16, item 6: roster updates reaching the engine as frames that a quorum of the roster
/// in force did not sign, that are not newer, or that bring back a revoked or retired key:
/// each refused, the roster and store as they were, nothing passed on.
#[test]
fn roster_updates_that_break_the_rules_are_refused_as_frames() {
    let mut net = Net::new();
    let now = net.now;
    let mut id = 50;
    let mut update = |roster: &Roster, by: &[&Identity]| {
        id += 1;
        let document = RosterDocument::sign(roster, by).unwrap();
        frame_from(BJ, TJ, id, Message::RosterUpdate { document }, now)
    };
    let (doc2, _, v3) = roster_chain();
    let v2 = doc2.unverified_roster().unwrap();
    let (bj, tj, hb) = (governor(BJ), governor(TJ), governor(HB));
    let refused = |net: &mut Net, frame: &[u8], why: &str| {
        let err = net.refuse(TJ, frame);
        assert!(matches!(err, Error::RosterRefused(_)), "{err}");
        assert!(err.to_string().contains(why), "{why}: {err}");
    };
    // Below quorum: one governor of two, or one and a node key.
    refused(&mut net, &update(&v2, &[&bj]), "only 1 of the 2");
    let err = net.refuse(TJ, &update(&v2, &[&bj, &node_identity(TJ)]));
    assert!(matches!(err, Error::RosterRefused(_)), "{err}");
    // A quorum's update is taken, and passed on.
    net.deliver(TJ, &update(&v2, &[&bj, &tj]));
    assert_eq!(net.node(TJ).roster(), &v2);
    // Stale, and the same version with other content.
    refused(&mut net, &update(&roster(), &[&bj, &tj]), "not newer");
    let mut twin = v2.clone();
    twin.members[0]
        .addresses
        .push("/ip4/10.0.0.1/udp/1/quic-v1".into());
    refused(&mut net, &update(&twin, &[&bj, &tj]), "not newer");
    // v3 revokes Beijing's governance key; a v4 that drops the revocation is refused.
    net.deliver(TJ, &update(&v3, &[&tj, &hb]));
    assert_eq!(net.node(TJ).roster(), &v3);
    let mut v4 = v3.clone();
    v4.version = 4;
    v4.revoked_keys.clear();
    refused(&mut net, &update(&v4, &[&tj, &hb]), "may not be reinstated");
    // Hebei's node key is rotated out; a v5 that gives it back to Hebei is refused.
    let v4 = rotated(
        &v3,
        HB,
        &crate::testing::identity_under_test([b'h'; 32]),
        now,
    );
    net.deliver(TJ, &update(&v4, &[&tj, &hb]));
    let mut v5 = v4.clone();
    v5.version = 5;
    v5.members[2].node_key = node_identity(HB).public_key();
    v5.retired_keys.clear();
    refused(&mut net, &update(&v5, &[&tj, &hb]), "was retired");
    assert_eq!(net.node(TJ).roster(), &v4);
}

/// Issue 16, item 6: an Idempotency-Key is 1 to [`MAX_IDEMPOTENCY_KEY`] bytes; an empty or
/// longer one is refused before anything is written.
#[test]
fn idempotency_keys_that_are_empty_or_too_long_are_refused() {
    let mut net = Net::new();
    let request = net.request(BJ, BJ, "1100000001");
    let everything = |net: &mut Net| -> Vec<(Table, Rows)> {
        Table::ALL
            .into_iter()
            .map(|t| (t, net.node(BJ).store().scan_prefix(t, &[]).unwrap()))
            .collect()
    };
    let before = everything(&mut net);
    let too_long = "k".repeat(MAX_IDEMPOTENCY_KEY + 1);
    for key in ["", too_long.as_str()] {
        let now = net.now;
        let err = net
            .node(BJ)
            .intake(&window(BJ), request.clone(), Some(key), now)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
        assert!(err.to_string().contains("Idempotency-Key"), "{err}");
        net.commit(BJ);
        assert_eq!(everything(&mut net), before, "key of {} bytes", key.len());
    }
    assert_eq!(net.node(BJ).metrics().intakes, 0);
    // The longest allowed key is taken, and answers its retry with the same case.
    let longest = "k".repeat(MAX_IDEMPOTENCY_KEY);
    let first = net.intake_with_key(BJ, request.clone(), &longest);
    let again = net.intake_with_key(BJ, request, &longest);
    assert!(first.created && !again.created);
    assert_eq!(again.case, first.case);
}

#[test]
fn writers_refuse_what_the_case_forbids() {
    let mut net = Net::new();
    let case = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    let now = net.now;
    let err = net
        .node(BJ)
        .report(
            Report {
                case: case.clone(),
                event: approve(),
            },
            now,
        )
        .unwrap_err();
    assert!(matches!(err, Error::IllegalTransition(_)), "{err}");
    let err = net
        .node(TJ)
        .write_event(
            &window(TJ),
            &case,
            EventKind::accepted("市场监督管理局", "王受理", "受字1号"),
            now,
        )
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err}");
    let err = net
        .node(TJ)
        .report(
            Report {
                case: case.clone(),
                event: EventKind::accepted("市场监督管理局", "王受理", "受字1号"),
            },
            now,
        )
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err}");
    assert_eq!(net.node(BJ).store().unsynced(), 0);
    assert_eq!(net.node(TJ).store().unsynced(), 0);
}

#[test]
fn large_materials_travel_in_chunks() {
    let mut net = Net::new();
    let big: Vec<u8> = (0..2_500_000u32).map(|i| (i % 251) as u8).collect();
    let digest = crate::testing::suite_under_test().digest(&big);
    let now = net.now;
    for (i, chunk) in big.chunks(1 << 20).enumerate() {
        net.node(TJ)
            .upload_chunk(
                &window(TJ),
                digest,
                (i << 20) as u64,
                big.len() as u64,
                chunk,
                now,
            )
            .unwrap();
    }
    net.commit(TJ);
    let case = net.intake(TJ, BJ, "1100000001");
    // Swap the form for the big file: write a supplement that cites it.
    net.run(|_| false);
    net.report(
        BJ,
        &case,
        EventKind::SupplementRequested {
            materials: vec![crate::case::events::MaterialGap {
                material: "premises".into(),
                reason: "缺".into(),
            }],
            deadline: crate::case::clock::TimeLimit {
                days: 5,
                unit: crate::case::clock::DayUnit::WorkingDays,
            },
        },
    );
    net.run(|_| false);
    let mut m = sample_application("x").materials[0].clone();
    m.material = "premises".into();
    m.digest = digest;
    m.size = big.len() as u64;
    let now = net.now;
    net.node(TJ)
        .write_event(
            &window(TJ),
            &case,
            EventKind::SupplementProvided {
                request: 2,
                materials: vec![m],
            },
            now,
        )
        .unwrap();
    net.commit(TJ);
    net.run(|_| false);
    assert_eq!(
        net.node(BJ).material(&digest).unwrap().as_deref(),
        Some(&big[..])
    );
}

#[test]
fn uploads_check_their_digest() {
    let mut net = Net::new();
    let content = vec![7u8; 3000];
    let d = crate::testing::suite_under_test().digest(&content);
    let (now, w) = (net.now, window(BJ));
    let bj = net.node(BJ);
    assert!(
        !bj.upload_chunk(&w, d, 0, 3000, &content[..1000], now)
            .unwrap()
            .complete
    );
    assert!(
        bj.upload_chunk(&w, d, 2000, 3000, &content[2000..], now)
            .is_err(),
        "a gap is refused"
    );
    assert!(
        !bj.upload_chunk(&w, d, 0, 3000, &content[..1000], now)
            .unwrap()
            .complete,
        "a repeat is harmless"
    );
    assert!(
        bj.upload_chunk(&w, d, 1000, 3000, &content[1000..], now)
            .unwrap()
            .complete
    );
    assert_eq!(bj.material(&d).unwrap().unwrap(), content);
    let wrong = crate::testing::suite_under_test().digest(b"other");
    let err = bj.upload_chunk(&w, wrong, 0, 5, b"abcde", now).unwrap_err();
    assert!(err.to_string().contains("upload it again"), "{err}");
    assert!(bj.material(&wrong).unwrap().is_none());
}

#[test]
fn catalogs_spread_and_search_finds_items_everywhere() {
    let mut net = Net::new();
    net.run(|_| false);
    let hits = net.node(TJ).search(
        &CatalogQuery {
            text: Some("补领".into()),
            ..Default::default()
        },
        10,
    );
    let regions: Vec<&str> = hits.iter().map(|h| h.region.as_str()).collect();
    assert_eq!(regions, vec![BJ, TJ]);
    let by_code = net.node(TJ).search(
        &CatalogQuery {
            code: Some("1100".into()),
            ..Default::default()
        },
        10,
    );
    assert_eq!(by_code.len(), 2);
}

/// A session's shared set is kept from the peer's last session with the changes since laid
/// over it (`sync::SharedSnapshot`): it must be what the store holds, whatever moved on in
/// between — the first shared case, a new case, a later event of an old one, on either side.
#[test]
fn a_session_s_shared_set_is_what_the_store_holds_as_cases_move_on() {
    let mut net = Net::new();
    let check = |net: &mut Net| {
        for (a, b) in [(TJ, BJ), (BJ, TJ)] {
            let stored =
                crate::reconcile::ReconSet::new(net.node(a).shared_entries(&region(b)).unwrap());
            let kept = net.node(a).shared_with(&region(b)).unwrap();
            assert_eq!(kept.entries(), stored.entries(), "{a} with {b}");
            assert_eq!(kept.fingerprint(), stored.fingerprint(), "{a} with {b}");
        }
    };
    // Nothing shared yet (no snapshot is kept of an empty set), then a case.
    check(&mut net);
    let first = net.accepted_case();
    check(&mut net);
    let second = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    net.report(
        BJ,
        &first,
        EventKind::Concluded {
            outcome: Outcome::Approved {
                licences: Vec::new(),
            },
        },
    );
    net.run(|_| false);
    check(&mut net);
    net.report(
        BJ,
        &second,
        EventKind::accepted("市场监督管理局", "王受理", "受字2号"),
    );
    net.run(|_| false);
    net.advance(EngineConfig::default().reconcile_every_ms);
    net.run(|_| false);
    check(&mut net);
}

/// A region that leaves the roster takes the shared set kept for its sessions with it.
#[test]
fn a_region_that_leaves_the_roster_leaves_no_shared_set_behind() {
    let mut net = Net::with(&[BJ, TJ, HB]);
    net.accepted_case();
    net.advance(EngineConfig::default().reconcile_every_ms);
    net.run(|_| false);
    assert_eq!(net.node(BJ).kept_shared_sets(), vec![region(TJ)]);
    let now = net.now;
    let mut v2 = net.node(BJ).roster().clone();
    v2.version += 1;
    v2.issued_at = now;
    v2.members.retain(|m| m.region != region(TJ));
    let gov = |n: u8| crate::testing::identity_under_test([n; 32]);
    let doc = RosterDocument::sign(&v2, &[&gov(101), &gov(103)]).unwrap();
    net.node(BJ).accept_roster(&doc, now).unwrap();
    assert!(net.node(BJ).kept_shared_sets().is_empty());
}

#[test]
fn worklists_filter_and_colour() {
    let mut net = Net::new();
    net.accepted_case();
    net.now = net.now.plus_ms(10 * Timestamp::DAY_MS);
    let now = net.now;
    let red = net
        .node(TJ)
        .worklist(
            &WorklistFilter {
                colour: Some(crate::case::clock::Colour::Red),
                ..Default::default()
            },
            now,
        )
        .unwrap();
    assert_eq!(red.cases.len(), 1);
    let none = net
        .node(TJ)
        .worklist(
            &WorklistFilter {
                stage: Some(crate::case::fold::Stage::Concluded),
                ..Default::default()
            },
            now,
        )
        .unwrap();
    assert!(none.cases.is_empty());
}

/// Issue 8, item 1: a window retrying with its Idempotency-Key after the handling region has
/// answered gets the same case and this node's own receipt, not the peer's receipt.
#[test]
fn an_idempotent_retry_after_the_peer_answered_returns_the_same_case_and_receipt() {
    let mut net = Net::new();
    let request = net.request(TJ, BJ, "1100000001");
    let first = net.intake_with_key(TJ, request.clone(), "K");
    assert!(first.created);
    // Beijing receives the case and answers with its receipt; time passes.
    net.run(|_| false);
    net.advance(3_000);
    net.run(|_| false);
    let now = net.now;
    let again = net
        .node(TJ)
        .intake(&window(TJ), request, Some("K"), now)
        .expect("the retry is answered with the first case");
    assert!(!again.created);
    assert_eq!(again.case, first.case);
    assert_eq!(again.receipt.bytes(), first.receipt.bytes());
    assert_eq!(again.receipt.payload().by, region(TJ));
}

/// Issue 8, item 1: only the case's peer may acknowledge this node's events, and only for the
/// side this node writes; a receipt from anyone else settles nothing and is not kept.
#[test]
fn receipts_are_taken_only_from_the_cases_peer() {
    let mut net = Net::new();
    let case = net.intake(TJ, BJ, "1100000001");
    // Hold Beijing's answers: Tianjin's outbox keeps the event until a receipt comes.
    let in_flight = std::mem::take(&mut net.in_flight);
    for (to, frame) in in_flight {
        let now = net.now;
        net.node(to.as_str()).on_frame(&frame, now).unwrap();
    }
    // Beijing signs a receipt for the *handling* side of the case: not a side Tianjin writes.
    let now = net.now;
    let wrong_side = net
        .node(BJ)
        .sign_receipt(&case, Side::Handling, 1, b"x", now)
        .unwrap();
    let frame = frame_from(BJ, TJ, 9_000_001, receipt_message(&wrong_side), now);
    assert!(net.node(TJ).on_frame(&frame, now).is_err());
    assert_eq!(
        net.node(TJ).outbox.len(),
        1,
        "the wrong receipt settled nothing"
    );
    // A receipt for a case Beijing is no party of is refused too.
    let other = CaseId::new("120000-20260302-999999").unwrap();
    let stranger = net
        .node(BJ)
        .sign_receipt(&other, Side::Intake, 1, b"x", now)
        .unwrap();
    let frame = frame_from(BJ, TJ, 9_000_002, receipt_message(&stranger), now);
    assert!(net.node(TJ).on_frame(&frame, now).is_err());
}

/// Roster v1 (Beijing, Tianjin) → v2 adds Hebei → v3 signed by Tianjin's and Hebei's
/// governance keys: a quorum of v2, not of v1. What a restart must not undo.
fn roster_chain() -> (RosterDocument, RosterDocument, Roster) {
    let v1 = roster();
    let mut v2 = v1.clone();
    v2.version = 2;
    v2.issued_at = Timestamp(T0);
    v2.members.push(Member {
        encryption_key: published(&crate::testing::identity_under_test([b'3'; 32])).encryption_key,
        transport_key: published(&crate::testing::identity_under_test([b'3'; 32])).transport_key,
        region: region("130000"),
        name: "河北省".into(),
        node_key: crate::testing::identity_under_test([b'3'; 32]).public_key(),
        governance_key: crate::testing::identity_under_test([103; 32]).public_key(),
        addresses: vec![],
        valid_from: Timestamp(0),
        valid_until: Timestamp(u64::MAX),
    });
    let gov = |n: u8| crate::testing::identity_under_test([n; 32]);
    let doc2 = RosterDocument::sign(&v2, &[&gov(101), &gov(102)]).unwrap();
    let mut v3 = v2.clone();
    v3.version = 3;
    v3.issued_at = Timestamp(T0 + 1_000);
    // Beijing's governance key is replaced: v1's only other governor can no longer vouch.
    let old = std::mem::replace(&mut v3.members[0].governance_key, gov(111).public_key());
    v3.revoked_keys.push(old);
    let doc3 = RosterDocument::sign(&v3, &[&gov(102), &gov(103)]).unwrap();
    (doc2, doc3, v3)
}

/// Issue 8, item 2: after v1 → v2 → v3, a restart configured with v1 never comes up on v1.
#[test]
fn a_restart_never_comes_up_on_an_older_roster_than_one_accepted() {
    let mut net = Net::new();
    let (doc2, doc3, v3) = roster_chain();
    let now = net.now;
    net.node(TJ).accept_roster(&doc2, now).unwrap();
    net.node(TJ).accept_roster(&doc3, now).unwrap();
    net.commit(TJ);
    assert_eq!(net.node(TJ).roster().version, 3);
    let store = net.node(TJ).store.clone();
    // Configured with v1 (the genesis in its config file): refused, with the way out named.
    let err = Engine::open(setup(TJ), store.clone(), now)
        .err()
        .expect("a restart on an older configured roster is refused");
    let text = err.to_string();
    assert!(
        text.contains("version 3") && text.contains("trust-stored-roster"),
        "{text}"
    );
    // The operator says so: it starts on v3, replayed step by step from v1.
    let mut trusting = setup(TJ);
    trusting.config.trust_stored_roster = true;
    let engine = Engine::open(trusting, store.clone(), now).unwrap();
    assert_eq!(engine.roster(), &v3);
    // Configured with v3 itself: starts on v3 without being told.
    let mut current = setup(TJ);
    current.roster = v3.clone();
    let engine = Engine::open(current, store, now).unwrap();
    assert_eq!(engine.roster(), &v3);
}

/// Issue 8, item 2: a kept update that no longer follows from its predecessor (a tampered
/// store, or a configuration naming another federation) stops the start.
#[test]
fn a_kept_roster_chain_that_does_not_verify_stops_the_start() {
    let mut net = Net::new();
    let (doc2, doc3, _) = roster_chain();
    let now = net.now;
    net.node(TJ).accept_roster(&doc2, now).unwrap();
    net.node(TJ).accept_roster(&doc3, now).unwrap();
    net.commit(TJ);
    let mut store = net.node(TJ).store.clone();
    // v2 is lost from the chain: v3 alone is not a quorum-signed update of v1.
    store.delete(Table::Roster, &rosters_chain_key(2)).unwrap();
    store.sync().unwrap();
    let mut trusting = setup(TJ);
    trusting.config.trust_stored_roster = true;
    let err = Engine::open(trusting, store, now)
        .err()
        .expect("a chain with a gap is refused");
    assert!(err.to_string().contains("does not follow"), "{err}");
}

fn rosters_chain_key(version: u64) -> Vec<u8> {
    let mut k = b"chain/".to_vec();
    k.extend_from_slice(&version.to_be_bytes());
    k
}

/// Issue 8, item 9: the round number of a reconciliation frame is the peer's to set; one at
/// the top of the range is refused, not overflowed.
#[test]
fn a_reconciliation_round_past_the_limit_is_refused() {
    let mut net = Net::new();
    let set = crate::reconcile::ReconSet::new(Vec::new());
    let opening = crate::reconcile::Reconciler::new(&set, Default::default()).initiate();
    let now = net.now;
    for round in [u32::MAX, 1_000] {
        let body = Message::Reconcile {
            session: 77,
            round,
            message: serde_bytes::ByteBuf::from(opening.encode().unwrap()),
        };
        let frame = frame_from(BJ, TJ, 9_100_000 + u64::from(round % 1000), body, now);
        let err = net.node(TJ).on_frame(&frame, now).unwrap_err();
        assert!(err.to_string().contains("rounds"), "{err}");
    }
}

/// The ids and cases of the notices `r` handed out since `from`.
fn notices_since(net: &Net, r: &str, from: usize) -> Vec<(u64, CaseId)> {
    net.notices.get(&region(r)).map_or(Vec::new(), |n| {
        n[from..]
            .iter()
            .map(|(id, notice)| (*id, notice.case().clone()))
            .collect()
    })
}

fn withdraw(net: &mut Net, r: &str, case: &CaseId) {
    let now = net.now;
    net.node(r)
        .write_event(
            &window(r),
            case,
            EventKind::WithdrawalRequested {
                reason: "改期".into(),
            },
            now,
        )
        .unwrap();
    net.commit(r);
}

#[test]
fn a_notice_given_up_on_is_parked_with_its_case_and_handed_over_again_on_retry() {
    let mut net = Net::new();
    let a = net.intake(BJ, BJ, "1100000001");
    let b = net.intake(BJ, BJ, "1100000001");
    withdraw(&mut net, BJ, &a);
    let handed = notices_since(&net, BJ, 0);
    let a_ids: Vec<u64> = handed
        .iter()
        .filter(|(_, c)| *c == a)
        .map(|(id, _)| *id)
        .collect();
    let b_id = handed.iter().find(|(_, c)| *c == b).unwrap().0;
    assert_eq!(
        a_ids.len(),
        2,
        "a new-case and an intake-event notice: {handed:?}"
    );

    // The driver gives up on A's first notice: A's later one is parked behind it, B's is not.
    let now = net.now;
    let parked = net
        .node(BJ)
        .notice_failed(a_ids[0], 5, "webhook refused the notice with HTTP 422", now)
        .unwrap();
    net.commit(BJ);
    assert_eq!(parked, a_ids);
    assert_eq!(net.node(BJ).dead_letter_count(), 2);
    assert_eq!(net.node(BJ).metrics().notices_dead_lettered, 2);
    let views = net.node(BJ).dead_letters().unwrap();
    assert_eq!(views.iter().map(|v| v.id).collect::<Vec<_>>(), a_ids);
    assert_eq!(views[0].kind, "new_case");
    assert_eq!((views[0].attempts, views[0].seq), (5, None));
    assert!(views[0].error.contains("HTTP 422"), "{:?}", views[0]);
    assert_eq!(views[1].kind, "intake_event");
    assert_eq!((views[1].attempts, views[1].seq), (0, Some(2)));
    assert!(views[1].error.contains("held behind"), "{:?}", views[1]);
    // Giving up on a notice that is no longer waiting changes nothing.
    let now = net.now;
    assert!(
        net.node(BJ)
            .notice_failed(a_ids[0], 5, "again", now)
            .unwrap()
            .is_empty()
    );
    net.node(BJ).notice_delivered(b_id).unwrap();
    assert!(
        net.node(BJ)
            .notice_failed(b_id, 1, "late", now)
            .unwrap()
            .is_empty()
    );
    net.commit(BJ);
    assert_eq!(net.node(BJ).dead_letter_count(), 2);

    // A case with a parked notice gets its next notices parked as they are made.
    let c = net.intake(BJ, BJ, "1100000001");
    let c_first = notices_since(&net, BJ, handed.len());
    assert_eq!(c_first.len(), 1);
    let now = net.now;
    net.node(BJ)
        .notice_failed(c_first[0].0, 5, "refused", now)
        .unwrap();
    net.commit(BJ);
    let before = net.notices[&region(BJ)].len();
    withdraw(&mut net, BJ, &c);
    assert!(
        notices_since(&net, BJ, before).is_empty(),
        "the withdrawal notice waits behind the parked one"
    );
    assert_eq!(net.node(BJ).dead_letter_count(), 4);

    // Parked notices outlive a restart, and are not handed out again at open.
    let bj = net.nodes.remove(&region(BJ)).unwrap();
    let mut store = bj.into_store();
    store.crash();
    let reopened = Engine::open(setup(BJ), store, net.now).unwrap();
    net.nodes.insert(region(BJ), reopened);
    let before = net.notices[&region(BJ)].len();
    net.commit(BJ);
    assert!(
        notices_since(&net, BJ, before).is_empty(),
        "nothing else was waiting"
    );
    assert_eq!(net.node(BJ).dead_letter_count(), 4);

    // Retrying one of A's notices hands over all of A's, in order, under their ids.
    assert!(matches!(
        net.node(BJ).retry_dead_letters(Some(9_999)),
        Err(Error::NotFound(_))
    ));
    let retried = net.node(BJ).retry_dead_letters(Some(a_ids[1])).unwrap();
    assert_eq!(retried, a_ids);
    let before = net.notices[&region(BJ)].len();
    net.commit(BJ);
    let again = notices_since(&net, BJ, before);
    assert_eq!(again, vec![(a_ids[0], a.clone()), (a_ids[1], a.clone())]);
    assert_eq!(net.node(BJ).dead_letter_count(), 2);
    for id in a_ids {
        net.node(BJ).notice_delivered(id).unwrap();
    }
    // Retrying all hands over the rest.
    let rest = net.node(BJ).retry_dead_letters(None).unwrap();
    assert_eq!(rest.len(), 2);
    net.commit(BJ);
    assert_eq!(net.node(BJ).dead_letter_count(), 0);
    assert!(net.node(BJ).dead_letters().unwrap().is_empty());
}

/// Issue 8, item 4: a routine key rotation keeps what the old key signed. Tianjin collects a
/// case, the federation rotates Tianjin's node key before Beijing has the case, and Tianjin
/// restarts with its new key: the event signed with the old key still reaches Beijing, and a
/// window's retry still gets its receipt.
#[test]
fn a_rotated_key_stays_valid_for_what_it_signed_before() {
    let mut net = Net::new();
    let request = net.request(TJ, BJ, "1100000001");
    let first = net.intake_with_key(TJ, request.clone(), "R");
    net.in_flight.clear(); // Beijing never got it.
    net.advance(60_000);
    let new_identity = crate::testing::identity_under_test([b'n'; 32]);
    let now = net.now;
    let v2 = rotated(&roster(), TJ, &new_identity, now);
    let gov = |n: u8| crate::testing::identity_under_test([n; 32]);
    let doc = RosterDocument::sign(&v2, &[&gov(101), &gov(102)]).unwrap();
    for r in [BJ, TJ] {
        net.node(r).accept_roster(&doc, now).unwrap();
        net.commit(r);
    }
    net.in_flight.clear();
    // Tianjin restarts with its new key, configured with the new roster.
    let store = net.node(TJ).store.clone();
    let mut restarted = setup(TJ);
    restarted.identity = new_identity;
    restarted.roster = v2.clone();
    let engine = Engine::open(restarted, store, now).unwrap();
    net.nodes.insert(region(TJ), engine);
    net.commit(TJ);
    net.run(|_| false);
    net.advance(10 * 60_000);
    net.run(|_| false);
    assert!(
        net.node(BJ).case_record(&first.case).unwrap().is_some(),
        "the event signed before the rotation reached Beijing"
    );
    let now = net.now;
    let again = net
        .node(TJ)
        .intake(&window(TJ), request, Some("R"), now)
        .expect("the retry is answered with the receipt signed by the old key");
    assert_eq!(again.receipt.bytes(), first.receipt.bytes());
    // Tianjin's catalog, re-signed with the new key, is held by Beijing again.
    assert_eq!(net.node(BJ).catalog_version(&region(TJ)), Some(1));
}

/// Tianjin's window records that it sent the originals by courier.
fn dispatch_originals(net: &mut Net, case: &CaseId) {
    let now = net.now;
    net.node(TJ)
        .write_event(
            &window(TJ),
            case,
            EventKind::OriginalsDispatched {
                courier: "顺丰".into(),
                tracking: "SF123".into(),
            },
            now,
        )
        .unwrap();
    net.commit(TJ);
}

/// A Tianjin case whose intake log holds two events at both ends, and Tianjin's store as a
/// backup taken after the first: what a restore from an old backup brings back.
fn restored_writer() -> (Net, CaseId, MemoryStore) {
    let mut net = Net::new();
    let case = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    let backup = net.node(TJ).store.clone();
    withdraw(&mut net, TJ, &case);
    net.run(|_| false);
    assert_eq!(
        net.node(BJ).case_record(&case).unwrap().unwrap().intake_seq,
        2
    );
    (net, case, backup)
}

/// Tianjin, the intake writer, opened again on its old backup, with nothing in flight.
fn restored_writer_back() -> (Net, CaseId) {
    let (mut net, case, backup) = restored_writer();
    let now = net.now;
    let restored = Engine::open(setup(TJ), backup, now).unwrap();
    net.nodes.insert(region(TJ), restored);
    net.commit(TJ);
    net.in_flight.clear();
    (net, case)
}

/// Issue 8, item 5: a writer restored from an old backup that writes again under a sequence
/// number it already used forks its log; the peer keeps the conflicting envelope as evidence,
/// shows it in the case view and counts it, and its own log stays as it was.
#[test]
fn a_fork_by_a_restored_writer_is_kept_as_evidence() {
    let (mut net, case) = restored_writer_back();
    // Before any reconciliation, a window writes again: a second event 2, which Beijing
    // refuses.
    dispatch_originals(&mut net, &case);
    let refused = net.run_refusals(|_| false);
    let [(at, "events", err)] = &refused[..] else {
        panic!("one events frame refused: {refused:?}");
    };
    assert_eq!(at, &region(BJ));
    assert!(err.to_string().contains("fork"), "{err}");
    let bj = net.node(BJ);
    assert_eq!(bj.case_record(&case).unwrap().unwrap().intake_seq, 2);
    assert_eq!(bj.case_record(&case).unwrap().unwrap().forks, 1);
    assert_eq!(bj.metrics().forks, 1);
    let now = net.now;
    let view = net.node(BJ).case_view(&case, now).unwrap();
    assert_eq!(view.forks.len(), 1, "{:?}", view.forks);
    assert_eq!(view.forks[0].seq, 2);
    assert_eq!(view.forks[0].kind, "originals_dispatched");
    assert!(matches!(
        view.intake[1].kind,
        EventKind::WithdrawalRequested { .. }
    ));
}

/// Issue 8, item 5: a writer restored from an old backup takes its own events back from its
/// peer at the first reconciliation, and what it writes next chains onto them: no fork.
#[test]
fn a_restored_writer_recovers_its_own_log_from_its_peer() {
    let (mut net, case) = restored_writer_back();
    let now = net.now;
    net.node(TJ).peer_connected(&region(BJ), now).unwrap();
    net.commit(TJ);
    net.run(|_| false);
    assert_eq!(
        net.node(TJ).case_record(&case).unwrap().unwrap().intake_seq,
        2
    );
    assert_eq!(net.node(TJ).metrics().events_recovered, 1);
    dispatch_originals(&mut net, &case);
    net.run(|_| false);
    assert_eq!(
        net.node(BJ).case_record(&case).unwrap().unwrap().intake_seq,
        3
    );
    assert_eq!(net.node(BJ).metrics().forks, 0);
}

/// Issue 8, item 8: one reconciliation message from a member could make the node sign (and
/// keep in its audit log) one fetch frame per entry it lists that the node lacks. A round now
/// catches up at most `catch_up_per_round` cases; the rest wait for later rounds or the next
/// session, which comes early when a round was cut short.
#[test]
fn one_reconciliation_round_triggers_a_bounded_number_of_fetches() {
    let mut net = Net::new();
    let now = net.now;
    // Beijing lists 1000 cases Tianjin has never heard of, in one range of items.
    let items: Vec<crate::reconcile::Entry> = (1..=1000)
        .map(|n| {
            crate::reconcile::Entry::new(
                CaseId::new(format!("110000-20260302-{n:06}")).unwrap(),
                1,
                0,
            )
        })
        .collect();
    let message = crate::reconcile::ReconMessage {
        ranges: vec![crate::reconcile::Range {
            upper: crate::reconcile::Bound::Infinity,
            mode: crate::reconcile::Mode::Items { items },
        }],
    };
    let body = Message::Reconcile {
        session: 4242,
        round: 0,
        message: serde_bytes::ByteBuf::from(message.encode().unwrap()),
    };
    let frame = frame_from(BJ, TJ, 9_200_000, body, now);
    net.node(TJ).on_frame(&frame, now).unwrap();
    let outputs = net.node(TJ).commit().unwrap();
    let fetches = outputs
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Send {
                    kind: "event_fetch",
                    ..
                }
            )
        })
        .count();
    let cap = EngineConfig::default().catch_up_per_round;
    assert!(cap > 0);
    assert_eq!(fetches, cap, "one round fetches at most {cap} cases");
    // The session itself goes on: Tianjin still answers the round.
    assert!(
        outputs.iter().any(|o| matches!(
            o,
            Output::Send {
                kind: "reconcile" | "reconcile_done",
                ..
            }
        )),
        "the round is answered"
    );
}

/// The cap does not stop convergence: the cases past it come in the next sessions.
#[test]
fn cases_past_the_catch_up_cap_still_arrive_in_later_sessions() {
    let mut net = Net::new();
    let cap = EngineConfig::default().catch_up_per_round;
    let total = cap * 2 + 5;
    let mut cases = Vec::new();
    for _ in 0..total {
        cases.push(net.intake(TJ, BJ, "1100000001"));
    }
    // Every transfer is lost and no timer runs (so the outbox does not send them again):
    // Beijing learns of the cases only by reconciliation, in Tianjin's sessions (Beijing, which
    // shares no case with Tianjin yet, starts none of its own). The clock moves past the first
    // retry delay (without a tick): what was sent just now would count as still on its way.
    net.in_flight.clear();
    net.now = net.now.plus_ms(EngineConfig::default().retry_initial_ms);
    let lacking = |net: &mut Net| {
        let now = net.now;
        cases
            .iter()
            .filter(|c| net.node(BJ).case_view_as(&Actor::Admin, c, now).is_err())
            .count()
    };
    assert_eq!(lacking(&mut net), total);
    let mut sessions = 0;
    while lacking(&mut net) > 0 {
        sessions += 1;
        assert!(sessions <= 10, "Beijing did not get every case");
        let now = net.now;
        net.node(TJ).reconcile_with(&region(BJ), now).unwrap();
        net.commit(TJ);
        net.run(|_| false);
        if sessions == 1 {
            assert_eq!(
                lacking(&mut net),
                total - cap,
                "the first session brings {cap}"
            );
        }
    }
    assert_eq!(sessions, 3);
}

/// The audit records held by `r`'s node, in order.
fn audit_records(net: &mut Net, r: &str) -> Vec<audit::AuditRecord> {
    net.node(r)
        .store()
        .scan_prefix(Table::Audit, &[])
        .unwrap()
        .into_iter()
        .map(|(_, v)| crate::codec::from_cbor(&v, 1 << 16, "audit record").unwrap())
        .collect()
}

#[test]
fn a_refused_frame_leaves_an_audit_record() {
    let mut net = Net::new();
    let before =
        audit::verify_chain(net.node(BJ).store(), crate::testing::suite_under_test()).unwrap();
    let mallory = crate::testing::identity_under_test([66; 32]);
    let forged = crate::wire::Frame {
        from: region(TJ),
        to: region(BJ),
        id: 1,
        sent_at: net.now,
        body: Message::CatalogFetch {
            region: region(BJ),
            version: None,
        },
    };
    let forged = mallory.sign(&forged).unwrap().into_parts().0;
    let now = net.now;
    assert!(net.node(BJ).on_frame(&forged, now).is_err());
    assert!(net.node(BJ).on_frame(b"garbage", now).is_err());
    net.commit(BJ);
    assert_eq!(
        audit::verify_chain(net.node(BJ).store(), crate::testing::suite_under_test()).unwrap(),
        before + 2,
        "both refusals are in the chain"
    );
    let records = audit_records(&mut net, BJ);
    let [.., first, second] = &records[..] else {
        panic!("two records at least");
    };
    assert_eq!(first.direction, audit::Direction::Refused);
    assert_eq!(
        first.envelope,
        crate::testing::suite_under_test().digest(&forged)
    );
    assert_eq!(first.peer, Some(region(TJ)), "the claimed member");
    assert_eq!(first.kind, "catalog_fetch");
    assert!(
        first.reason.as_deref().unwrap().contains("not signed")
            || first.reason.as_deref().unwrap().contains("signer"),
        "{:?}",
        first.reason
    );
    assert_eq!(
        first.sample.as_ref().map(|b| b.as_slice()),
        Some(&forged[..]),
        "a small frame is kept"
    );
    assert_eq!(second.direction, audit::Direction::Refused);
    assert_eq!(
        second.envelope,
        crate::testing::suite_under_test().digest(b"garbage")
    );
    assert_eq!(
        (second.peer.as_ref(), second.kind.as_str()),
        (None, "unreadable")
    );
    assert_eq!(
        second.sample.as_ref().map(|b| b.as_slice()),
        Some(&b"garbage"[..])
    );
}

#[test]
fn a_flood_of_refused_frames_is_recorded_up_to_the_budget_and_counted() {
    let mut net = Net::new();
    let budget = EngineConfig::default().audit_refused_per_peer as usize;
    let before = audit_records(&mut net, BJ).len();
    let now = net.now;
    // A big frame: only its digest is kept.
    let big = vec![0xA5u8; 4096];
    for _ in 0..budget + 10 {
        assert!(net.node(BJ).on_frame(&big, now).is_err());
    }
    net.commit(BJ);
    assert_eq!(audit_records(&mut net, BJ).len(), before + budget);
    assert_eq!(net.node(BJ).metrics().audit_refused_suppressed, 10);
    assert!(audit_records(&mut net, BJ)[before..].iter().all(
        |r| r.sample.is_none() && r.envelope == crate::testing::suite_under_test().digest(&big)
    ));
    // The interval ends: the ten over the budget are counted in one record.
    net.advance(EngineConfig::default().audit_refused_interval_ms);
    let records = audit_records(&mut net, BJ);
    let summary = records
        .iter()
        .find(|r| r.kind == audit::REFUSED_SUPPRESSED)
        .expect("a summary record");
    assert_eq!(summary.suppressed, Some(10));
    assert_eq!(summary.peer, None);
    // A new interval has a new budget.
    let now = net.now;
    let n = audit::verify_chain(net.node(BJ).store(), crate::testing::suite_under_test()).unwrap();
    assert!(net.node(BJ).on_frame(&big, now).is_err());
    assert_eq!(
        audit::verify_chain(net.node(BJ).store(), crate::testing::suite_under_test()).unwrap(),
        n + 1
    );
}

#[test]
fn the_signed_audit_head_verifies_with_the_nodes_key_and_the_chain_checks() {
    let mut net = Net::new();
    let case = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    let now = net.now;
    assert!(net.node(BJ).on_frame(b"garbage", now).is_err());
    net.commit(BJ);
    let signed = net.node(BJ).signed_audit_head(now).unwrap();
    let key = roster().region(&region(BJ)).unwrap().node_key;
    let opened = crate::envelope::open::<audit::SignedAuditHead, _>(signed.bytes(), &key).unwrap();
    let head = opened.payload().clone();
    assert_eq!(head.region, region(BJ));
    let n = audit::verify_chain(net.node(BJ).store(), crate::testing::suite_under_test()).unwrap();
    assert_eq!(head.seq, n);
    assert_eq!(
        audit::verify_chain_against(
            net.node(BJ).store(),
            &head,
            crate::testing::suite_under_test()
        )
        .unwrap(),
        n
    );
    // Not TJ's key.
    let tj = roster().region(&region(TJ)).unwrap().node_key;
    assert!(crate::envelope::open::<audit::SignedAuditHead, _>(signed.bytes(), &tj).is_err());
    // The chain grows: the old head still checks.
    net.report(
        BJ,
        &case,
        EventKind::accepted("市场监督管理局", "王受理", "受字1号"),
    );
    net.run(|_| false);
    assert!(
        audit::verify_chain(net.node(BJ).store(), crate::testing::suite_under_test()).unwrap() > n
    );
    audit::verify_chain_against(
        net.node(BJ).store(),
        &head,
        crate::testing::suite_under_test(),
    )
    .unwrap();
    // A record before the head changed: the chain may still link if the tamperer rewrote
    // every later record, but not to the head the node signed.
    let mut store = net.node(BJ).store().clone();
    let rewritten: Vec<audit::AuditRecord> = audit_records(&mut net, BJ);
    let mut prev = Digest([0; 32]);
    for mut r in rewritten {
        if r.seq == 1 {
            r.at = Timestamp(r.at.0 + 1);
        }
        r.prev = prev;
        prev = r.hash(crate::testing::suite_under_test()).unwrap();
        super::records::put(&mut store, Table::Audit, &r.seq.to_be_bytes(), &r).unwrap();
    }
    let mut tampered_head: audit::AuditHead =
        super::records::get(&store, Table::Meta, super::records::META_AUDIT_HEAD)
            .unwrap()
            .unwrap();
    tampered_head.hash = Some(prev);
    super::records::put(
        &mut store,
        Table::Meta,
        super::records::META_AUDIT_HEAD,
        &tampered_head,
    )
    .unwrap();
    audit::verify_chain(&store, crate::testing::suite_under_test()).unwrap();
    let err =
        audit::verify_chain_against(&store, &head, crate::testing::suite_under_test()).unwrap_err();
    assert!(
        err.to_string().contains("not the one the node signed"),
        "{err}"
    );
}

/// The second window of region `r`.
fn window2(r: &str) -> Actor {
    Actor::Window {
        window: WindowId::new(format!("{r}-w2")).unwrap(),
        operator: "OP2".into(),
    }
}

#[test]
fn a_window_cannot_cite_another_windows_upload() {
    let mut net = Net::new();
    // w1 uploads; w2 prepares an application citing those uploads.
    let request = net.request(BJ, BJ, "1100000001");
    let now = net.now;
    let err = net
        .node(BJ)
        .intake(&window2(BJ), request.clone(), None, now)
        .unwrap_err();
    let Error::InvalidApplication(problems) = &err else {
        panic!("{err}");
    };
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("another window"), "{problems:?}");
    assert_eq!(net.node(BJ).metrics().intakes, 0);
    // A window that holds the same bytes sends them (matched against the kept material, not
    // taken on its word) and may cite them too; wrong bytes are refused.
    let form = request.materials[0].digest;
    let err = net
        .node(BJ)
        .upload_chunk(&window2(BJ), form, 0, 16, b"not the form ...", now)
        .unwrap_err();
    assert!(err.to_string().contains("upload it again"), "{err}");
    let status = net
        .node(BJ)
        .upload_chunk(&window2(BJ), form, 0, 16, b"application form", now)
        .unwrap();
    assert!(status.complete);
    let Error::InvalidApplication(problems) = net
        .node(BJ)
        .intake(&window2(BJ), request.clone(), None, now)
        .unwrap_err()
    else {
        panic!("refused as an invalid application");
    };
    assert_eq!(problems.len(), 1, "only the id card now: {problems:?}");
    // w1 cites them; from then on they belong to the case, as any cited material.
    let receipt = net
        .node(BJ)
        .intake(&window(BJ), request.clone(), None, now)
        .unwrap();
    net.commit(BJ);
    assert!(receipt.created);
    let receipt = net
        .node(BJ)
        .intake(&window2(BJ), request, None, now)
        .unwrap();
    assert!(receipt.created);
    assert_eq!(net.node(BJ).metrics().intakes, 2);
}

#[test]
fn partial_uploads_are_dropped_after_the_limit_and_the_client_is_told_to_start_over() {
    let mut net = Net::new();
    let content = vec![9u8; 3000];
    let d = crate::testing::suite_under_test().digest(&content);
    let other = vec![8u8; 3000];
    let o = crate::testing::suite_under_test().digest(&other);
    let now = net.now;
    let first = net
        .node(BJ)
        .upload_chunk(&window(BJ), d, 0, 3000, &content[..1000], now)
        .unwrap();
    assert!(!first.complete);
    net.commit(BJ);
    net.advance(EngineConfig::default().upload_expiry_ms / 2);
    // Another upload, started later, is not due yet.
    let now = net.now;
    net.node(BJ)
        .upload_chunk(&window(BJ), o, 0, 3000, &other[..1000], now)
        .unwrap();
    net.commit(BJ);
    net.advance(EngineConfig::default().upload_expiry_ms / 2);
    assert!(
        net.node(BJ)
            .store()
            .scan_prefix(Table::Uploads, &d.0)
            .unwrap()
            .is_empty(),
        "the stale chunks are gone"
    );
    assert_eq!(net.node(BJ).metrics().uploads_expired, 1);
    assert_eq!(
        net.node(BJ)
            .store()
            .scan_prefix(Table::Uploads, &o.0)
            .unwrap()
            .len(),
        1,
        "the later upload is kept"
    );
    // The client resumes where it was: told the upload expired and starts over.
    let now = net.now;
    let err = net
        .node(BJ)
        .upload_chunk(&window(BJ), d, 1000, 3000, &content[1000..2000], now)
        .unwrap_err();
    assert!(matches!(err, Error::UploadExpired(_)), "{err}");
    assert!(err.to_string().contains("offset 0"), "{err}");
    let again = net
        .node(BJ)
        .upload_chunk(&window(BJ), d, 0, 3000, &content, now)
        .unwrap();
    assert!(again.complete);
}

mod case_index;
mod complaint;
mod driver;
mod evidence;
mod licences;
mod prechecked;
mod records;
mod recovery;
mod routing;
mod sealing;
mod storm;
mod suites;
mod timers;
mod versions;

#[test]
fn a_supplement_times_out_only_after_its_deadline_and_the_days_left_are_shown() {
    let mut net = Net::new();
    let case = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    net.report(
        BJ,
        &case,
        EventKind::accepted("市场监督管理局", "王受理", "受字1号"),
    );
    net.report(
        BJ,
        &case,
        EventKind::SupplementRequested {
            materials: vec![crate::case::events::MaterialGap {
                material: "form".into(),
                reason: "缺签字".into(),
            }],
            deadline: crate::case::clock::TimeLimit {
                days: 3,
                unit: crate::case::clock::DayUnit::NaturalDays,
            },
        },
    );
    net.run(|_| false);
    let timed_out = || EventKind::Concluded {
        outcome: crate::case::events::Outcome::SupplementTimedOut,
    };
    // Within the deadline: the window sees the days left, and the handler may not end it.
    let now = net.now;
    let view = net.node(TJ).case_view_as(&window(TJ), &case, now).unwrap();
    assert_eq!(view.supplement_days_left, Some(3));
    let listed = net
        .node(TJ)
        .worklist_as(&window(TJ), &WorklistFilter::default(), now)
        .unwrap();
    assert_eq!(listed.cases[0].supplement_days_left, Some(3));
    let refused = net
        .node(BJ)
        .write_event(&Actor::BackOffice, &case, timed_out(), now)
        .unwrap_err();
    assert!(
        refused.to_string().contains("deadline has not passed"),
        "{refused}"
    );
    // Four days on, it has passed: the case ends, at both nodes.
    net.now = net.now.plus_ms(4 * Timestamp::DAY_MS);
    let now = net.now;
    let view = net
        .node(BJ)
        .case_view_as(&Actor::BackOffice, &case, now)
        .unwrap();
    assert_eq!(view.supplement_days_left, Some(-1));
    net.node(BJ)
        .write_event(&Actor::BackOffice, &case, timed_out(), now)
        .unwrap();
    net.commit(BJ);
    net.run(|_| false);
    let now = net.now;
    let view = net.node(TJ).case_view_as(&window(TJ), &case, now).unwrap();
    assert_eq!(
        view.state.outcome,
        Some(crate::case::events::Outcome::SupplementTimedOut)
    );
    assert_eq!(view.supplement_days_left, None);
}

#[test]
fn a_case_received_and_left_unanswered_for_five_working_days_is_flagged() {
    let mut net = Net::new();
    let case = net.intake(TJ, BJ, "1100000001");
    net.run(|_| false);
    let now = net.now;
    assert!(!net.node(BJ).case_view(&case, now).unwrap().late_acceptance);
    // Ten calendar days hold more than five working days, whatever the calendar.
    net.now = net.now.plus_ms(10 * Timestamp::DAY_MS);
    let now = net.now;
    assert!(net.node(BJ).case_view(&case, now).unwrap().late_acceptance);
    // Accepted that late, the flag stays.
    net.report(
        BJ,
        &case,
        EventKind::accepted("市场监督管理局", "王受理", "受字1号"),
    );
    let now = net.now;
    assert!(net.node(BJ).case_view(&case, now).unwrap().late_acceptance);
}

#[test]
fn a_window_cannot_collect_in_the_applicants_own_online_mode() {
    let mut net = Net::new();
    let mut request = net.request(TJ, BJ, "1100000001");
    request.mode = Some(crate::catalog::Mode::FullyOnline);
    let now = net.now;
    let refused = net
        .node(TJ)
        .intake(&window(TJ), request.clone(), None, now)
        .unwrap_err();
    assert!(
        matches!(&refused, Error::InvalidApplication(p) if p.iter().any(|e| e.starts_with("mode:"))),
        "{refused}"
    );
    request.mode = Some(crate::catalog::Mode::ProxyIntake);
    net.node(TJ)
        .intake(&window(TJ), request, None, now)
        .unwrap();
}
