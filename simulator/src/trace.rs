//! The simulator's own trace: one line per thing that happened to a case (intake, an event
//! written, a frame delivered or dropped) and per fault. The last lines are kept in a ring so
//! a violation can show what led to it; `tongban-sim replay` prints every line as it happens.

use std::collections::VecDeque;

use tongban_protocol::ids::CaseId;

use crate::duration::show_instant;

/// One trace line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLine {
    /// Simulated time, ms since the epoch.
    pub at: u64,
    /// The node it happened at.
    pub node: String,
    /// The case, if the line is about one.
    pub case: Option<CaseId>,
    /// What happened.
    pub text: String,
}

impl std::fmt::Display for TraceLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}] ", show_instant(self.at), self.node)?;
        if let Some(c) = &self.case {
            write!(f, "{c}: ")?;
        }
        f.write_str(&self.text)
    }
}

/// Where trace lines go, besides the ring.
pub type TraceSink<'a> = Box<dyn FnMut(&TraceLine) + 'a>;

/// The ring of recent lines about cases, and an optional sink that sees every line.
pub struct Trace<'a> {
    ring: VecDeque<TraceLine>,
    capacity: usize,
    sink: Option<TraceSink<'a>>,
}

impl<'a> Trace<'a> {
    /// A trace keeping the last `capacity` case lines.
    pub fn new(capacity: usize, sink: Option<TraceSink<'a>>) -> Trace<'a> {
        Trace {
            ring: VecDeque::with_capacity(capacity.min(1 << 16)),
            capacity,
            sink,
        }
    }

    /// Whether lines about no case are wanted (only when a sink listens).
    pub fn verbose(&self) -> bool {
        self.sink.is_some()
    }

    /// Records a line; `text` is only formatted if someone will read it.
    pub fn line(
        &mut self,
        at: u64,
        node: &str,
        case: Option<&CaseId>,
        text: impl FnOnce() -> String,
    ) {
        if case.is_none() && self.sink.is_none() {
            return;
        }
        let line = TraceLine {
            at,
            node: node.to_string(),
            case: case.cloned(),
            text: text(),
        };
        if let Some(sink) = self.sink.as_mut() {
            sink(&line);
        }
        if line.case.is_some() && self.capacity > 0 {
            if self.ring.len() == self.capacity {
                self.ring.pop_front();
            }
            self.ring.push_back(line);
        }
    }

    /// The kept lines about `case`, oldest first, at most `limit` (the latest).
    pub fn about(&self, case: &CaseId, limit: usize) -> Vec<String> {
        let mut lines: Vec<String> = self
            .ring
            .iter()
            .rev()
            .filter(|l| l.case.as_ref() == Some(case))
            .take(limit)
            .map(std::string::ToString::to_string)
            .collect();
        lines.reverse();
        lines
    }
}
