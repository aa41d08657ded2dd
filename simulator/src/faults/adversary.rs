//! A misbehaving sender: a member gone bad, or a stranger outside the federation, making bad
//! frames of every kind the scenario names — forged and bit-flipped signatures, impersonation,
//! replays and misaddressed copies of genuine frames it saw, garbage, events of a side the
//! member does not write, events signed off the roster. It reads the world (and the genuine
//! frames it was shown) and draws from the seed's `byzantine` stream; the loop delivers what
//! it makes.

use std::collections::VecDeque;

use serde_bytes::ByteBuf;
use tongban_protocol::case::events::{Event, EventKind, Side};
use tongban_protocol::envelope::Identity;
use tongban_protocol::ids::{CaseId, Digest, RegionId};
use tongban_protocol::wire::{Frame, Message};

use crate::duration::Dur;
use crate::error::{Result, SimError};
use crate::federation::derived_identity;
use crate::network::sample;
use crate::rng::Rng;
use crate::scenario::{Behaviour, Latency};
use crate::world::World;

/// A misbehaving sender's plan.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ByzantinePlan {
    /// The member gone bad, if any (else a stranger).
    pub node: Option<usize>,
    /// When it stops.
    pub until: u64,
    /// Bad frames per hour.
    pub per_hour: f64,
    /// What it does.
    pub behaviours: Vec<Behaviour>,
    /// Bad frames it made so far.
    pub sent: u64,
}

/// A region outside the federation.
const STRANGER: &str = "zz-stranger";

/// A bad frame on its way: from whom (for the network's view), to whom, when it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    /// The sender it claims (the member gone bad, or the receiver for a stranger).
    pub from: usize,
    /// The receiver.
    pub to: usize,
    /// The bytes.
    pub frame: Vec<u8>,
    /// The behaviour it shows.
    pub behaviour: Behaviour,
    /// When it arrives.
    pub at: u64,
}

/// Every misbehaving sender of the run, with what it saw of the network.
pub(crate) struct Adversary {
    plans: Vec<ByzantinePlan>,
    rng: Rng,
    /// Genuine frames seen on the network (the last 64), to replay or tamper with.
    captured: VecDeque<(usize, usize, Vec<u8>)>,
    /// Whether any plan needs the captured frames.
    capture: bool,
    /// Recent cross-region cases (the last 64), to forge events of.
    recent_cases: VecDeque<CaseId>,
}

impl Adversary {
    /// No sender yet, drawing from the seed's `byzantine` stream.
    pub(crate) fn new(seed: u64) -> Adversary {
        Adversary {
            plans: Vec::new(),
            rng: Rng::new(seed, "byzantine"),
            captured: VecDeque::new(),
            capture: false,
            recent_cases: VecDeque::new(),
        }
    }

    /// Adds a sender's plan: its index, and the time to its first frame.
    pub(crate) fn add(&mut self, plan: ByzantinePlan) -> (usize, u64) {
        self.plans.push(plan);
        self.capture = true;
        let p = self.plans.len() - 1;
        (p, self.gap(p))
    }

    /// How many plans there are.
    pub(crate) fn plans(&self) -> usize {
        self.plans.len()
    }

    /// Bad frames plan `p` made so far.
    pub(crate) fn sent(&self, p: usize) -> u64 {
        self.plans.get(p).map_or(0, |b| b.sent)
    }

    /// A genuine frame went from `from` to `to`: kept to replay, if any plan needs it.
    pub(crate) fn observe(&mut self, from: usize, to: usize, frame: Vec<u8>) {
        if self.capture && self.captured.len() < 64 {
            self.captured.push_back((from, to, frame));
        } else if self.capture {
            self.captured.pop_front();
            self.captured.push_back((from, to, frame));
        }
    }

    /// A cross-region case was acknowledged: a candidate to forge events of.
    pub(crate) fn note_case(&mut self, case: &CaseId) {
        self.recent_cases.push_back(case.clone());
        if self.recent_cases.len() > 64 {
            self.recent_cases.pop_front();
        }
    }

    /// Time to a misbehaving sender's next frame: exponential at its rate.
    fn gap(&mut self, p: usize) -> u64 {
        let rate = self.plans[p].per_hour;
        if rate <= 0.0 {
            return u64::MAX / 4;
        }
        let u = 1.0 - self.rng.unit();
        ((-u.ln() / rate) * Dur::HOUR as f64) as u64
    }

    /// Plan `p`'s sender strikes at `now`: when it strikes next, and the bad frame it sends
    /// now (with when it arrives), if it found one to make. `None`: the plan is over (its end,
    /// or the end of the workload).
    pub(crate) fn strike(
        &mut self,
        p: usize,
        world: &World,
        workload: bool,
        latency: &Latency,
    ) -> Result<Option<(u64, Option<Hit>)>> {
        let plan = self.plans[p].clone();
        let now = world.now;
        if !workload || now >= plan.until || plan.behaviours.is_empty() {
            return Ok(None);
        }
        let next = now.saturating_add(self.gap(p));
        let n = world.nodes.len();
        let targets: Vec<usize> = (0..n)
            .filter(|j| Some(*j) != plan.node && world.nodes[*j].revoked_at.is_none())
            .collect();
        if targets.is_empty() {
            return Ok(Some((next, None)));
        }
        let b = plan.behaviours[self.rng.below(plan.behaviours.len() as u64) as usize];
        let target = targets[self.rng.below(targets.len() as u64) as usize];
        let Some((to, frame, b)) = self.bad_frame(world, b, plan.node, target)? else {
            return Ok(Some((next, None)));
        };
        self.plans[p].sent += 1;
        let latency = sample(latency, &mut self.rng);
        Ok(Some((
            next,
            Some(Hit {
                from: plan.node.unwrap_or(to),
                to,
                frame,
                behaviour: b,
                at: now + latency,
            }),
        )))
    }

    fn sign(identity: &Identity, frame: &Frame) -> Result<Vec<u8>> {
        Ok(identity
            .sign(frame)
            .map_err(|e| SimError::Setup(format!("signing a bad frame: {e}")))?
            .into_parts()
            .0)
    }

    fn frame_to(&mut self, world: &World, from: RegionId, to: usize, body: Message) -> Frame {
        Frame {
            from,
            to: world.fed.id(to).clone(),
            id: self.rng.next_u64() >> 1,
            sent_at: world.local(to),
            body,
        }
    }

    /// A recent cross-region case, if any, chosen at random.
    fn recent_case(&mut self) -> Option<CaseId> {
        if self.recent_cases.is_empty() {
            return None;
        }
        let k = self.rng.below(self.recent_cases.len() as u64) as usize;
        self.recent_cases.get(k).cloned()
    }

    /// A bad frame of behaviour `b` for `target`: (receiver, bytes, behaviour actually used).
    fn bad_frame(
        &mut self,
        world: &World,
        b: Behaviour,
        member: Option<usize>,
        target: usize,
    ) -> Result<Option<(usize, Vec<u8>, Behaviour)>> {
        let n = world.nodes.len();
        let some_member = |adv: &mut Adversary, not: &[usize]| -> Option<usize> {
            let choices: Vec<usize> = (0..n).filter(|j| !not.contains(j)).collect();
            if choices.is_empty() {
                None
            } else {
                Some(choices[adv.rng.below(choices.len() as u64) as usize])
            }
        };
        match b {
            Behaviour::ForgedSignature => {
                let claimed = some_member(self, &[target]).unwrap_or(target);
                let from = world.fed.id(claimed).clone();
                let body = Message::CatalogFetch {
                    region: world.fed.id(target).clone(),
                    version: None,
                };
                let frame = self.frame_to(world, from, target, body);
                let bytes =
                    Self::sign(&derived_identity(world.fed.roster.suite, "forger")?, &frame)?;
                Ok(Some((target, bytes, b)))
            }
            Behaviour::Stranger => {
                let from = RegionId::new(STRANGER)
                    .map_err(|e| SimError::Setup(format!("the stranger's region: {e}")))?;
                let body = Message::CatalogAnnounce {
                    region: from.clone(),
                    version: 1,
                    digest: Digest::of(b"stranger catalog"),
                };
                let frame = self.frame_to(world, from, target, body);
                let bytes = Self::sign(
                    &derived_identity(world.fed.roster.suite, "stranger")?,
                    &frame,
                )?;
                Ok(Some((target, bytes, b)))
            }
            Behaviour::Impersonation => {
                let Some(m) = member else {
                    return self.bad_frame(world, Behaviour::ForgedSignature, member, target);
                };
                let Some(claimed) = some_member(self, &[m, target]) else {
                    return self.bad_frame(world, Behaviour::ForgedSignature, member, target);
                };
                let from = world.fed.id(claimed).clone();
                let body = Message::CatalogFetch {
                    region: world.fed.id(target).clone(),
                    version: None,
                };
                let frame = self.frame_to(world, from, target, body);
                let identity = crate::federation::same_identity(&world.fed.regions[m].identity)?;
                let bytes = Self::sign(&identity, &frame)?;
                Ok(Some((target, bytes, b)))
            }
            Behaviour::Replay | Behaviour::Misaddressed | Behaviour::BitFlip => {
                if self.captured.is_empty() {
                    return self.garbage(target);
                }
                let k = self.rng.below(self.captured.len() as u64) as usize;
                let Some((from, to, bytes)) = self.captured.get(k).cloned() else {
                    return self.garbage(target);
                };
                match b {
                    Behaviour::Replay => Ok(Some((to, bytes, b))),
                    Behaviour::Misaddressed => {
                        match some_member(self, &[to, from]).or_else(|| some_member(self, &[to])) {
                            Some(other) => Ok(Some((other, bytes, b))),
                            None => self.garbage(target),
                        }
                    }
                    _ => {
                        let mut bytes = bytes;
                        let len = bytes.len();
                        if len < 64 {
                            return self.garbage(target);
                        }
                        let at = len - 1 - self.rng.below(64) as usize;
                        let bit = 1u8 << self.rng.below(8);
                        bytes[at] ^= bit;
                        Ok(Some((to, bytes, b)))
                    }
                }
            }
            Behaviour::Garbage => self.garbage(target),
            Behaviour::WrongWriter | Behaviour::ForgedEvent => {
                let Some(m) = member else {
                    return self.bad_frame(world, Behaviour::ForgedSignature, member, target);
                };
                let Some(case) = self.recent_case() else {
                    return self.bad_frame(world, Behaviour::Impersonation, member, target);
                };
                let Some(t) = world.cases.get(&case).cloned() else {
                    return self.bad_frame(world, Behaviour::Impersonation, member, target);
                };
                let (to, side, signer) = if b == Behaviour::WrongWriter {
                    // M signs an event of a side it does not write, and sends it to a party.
                    let (to, side) = if m == t.intake {
                        (t.handling, Side::Handling)
                    } else if m == t.handling {
                        (t.intake, Side::Intake)
                    } else {
                        (t.intake, Side::Handling)
                    };
                    (
                        to,
                        side,
                        crate::federation::same_identity(&world.fed.regions[m].identity)?,
                    )
                } else {
                    // M relays, as its own, an event signed by a key off the roster.
                    let (to, side) = if m == t.intake {
                        (t.handling, Side::Intake)
                    } else {
                        (t.intake, Side::Handling)
                    };
                    (
                        to,
                        side,
                        derived_identity(world.fed.roster.suite, "forger")?,
                    )
                };
                if to == m {
                    return self.bad_frame(world, Behaviour::Impersonation, member, target);
                }
                let held = world.held(to, &case, side);
                let mut seen = vec![0; 2];
                seen[side.other().index()] = world.held(to, &case, side.other());
                let kind = match side {
                    Side::Handling | Side::Participant(_) => EventKind::InReview {
                        step: "伪造".into(),
                    },
                    Side::Intake => EventKind::WithdrawalRequested {
                        reason: "伪造".into(),
                    },
                };
                let event = Event {
                    case,
                    side,
                    seq: held + 1,
                    seen,
                    at: world.local(to),
                    kind,
                    prev: None,
                };
                let env = signer
                    .sign(&event)
                    .map_err(|e| SimError::Setup(format!("signing a bad event: {e}")))?;
                let body = Message::Events {
                    events: vec![ByteBuf::from(env.into_parts().0)],
                };
                let from = world.fed.id(m).clone();
                let frame = self.frame_to(world, from, to, body);
                let identity = crate::federation::same_identity(&world.fed.regions[m].identity)?;
                let bytes = Self::sign(&identity, &frame)?;
                Ok(Some((to, bytes, b)))
            }
        }
    }

    fn garbage(&mut self, target: usize) -> Result<Option<(usize, Vec<u8>, Behaviour)>> {
        let len = 1 + self.rng.below(256) as usize;
        let bytes = (0..len).map(|_| self.rng.next_u64() as u8).collect();
        Ok(Some((target, bytes, Behaviour::Garbage)))
    }
}
