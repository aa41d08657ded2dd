//! The run's queue of timed events: what can happen at a simulated instant, in the order of
//! its time and then of its scheduling, so a run is the same every time.

use tongban_protocol::ids::CaseId;

use crate::faults::FaultEv;
use crate::scenario::Behaviour;
use crate::workload::{LicencePlan, WindowAction};

/// The run's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Applications arrive, back offices and windows work, faults strike.
    Workload,
    /// Traffic stopped, faults lifted: the federation must converge by `deadline`.
    Settle { since: u64, deadline: u64 },
    /// Quiet: the final checks run next.
    Checking,
    /// Finished.
    Done,
}

/// Who made a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// An engine, through the network.
    Honest,
    /// A misbehaving sender.
    Byzantine(Behaviour),
}

/// Something that happens at a simulated instant.
#[derive(Debug)]
pub(super) enum Ev {
    Deliver {
        from: usize,
        to: usize,
        frame: Vec<u8>,
        kind: &'static str,
        origin: Origin,
    },
    Tick {
        node: usize,
        epoch: u64,
    },
    BackOffice {
        node: usize,
        epoch: u64,
    },
    ArrivalHour {
        node: usize,
    },
    Arrival {
        node: usize,
    },
    Window {
        node: usize,
        case: CaseId,
        action: WindowAction,
    },
    /// A window looks whether its licence request was answered (the `polls`-th look).
    LicenceAnswer {
        node: usize,
        request: u64,
        plan: Box<LicencePlan>,
        polls: u32,
    },
    Fault(FaultEv),
    Byzantine {
        plan: usize,
    },
    Check,
    Sample,
    EndWorkload,
    SettleCheck,
    FinalChecks,
}

pub(super) struct Scheduled {
    /// When, in simulated ms.
    pub at: u64,
    /// The order it was scheduled in, among events at the same time.
    pub seq: u64,
    /// What happens.
    pub ev: Ev,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}
