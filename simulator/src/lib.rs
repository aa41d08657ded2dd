//! # tongban-simulator
//!
//! Many tongban nodes in one thread, on a virtual clock and a simulated network, driven by a
//! seed: the *real* engine (`tongban_protocol::engine::Engine` over the crash-modelling
//! `MemoryStore`) and the reference back office, never a copy of their logic. Testers write a
//! scenario (TOML), run it with a seed, and get a report; the same scenario and seed give the
//! same report, byte for byte, so any failure can be replayed.
//!
//! | module | job |
//! |---|---|
//! | [`scenario`] | the scenario file: schema, defaults, validation that names the field |
//! | [`federation`] | keys, roster, catalogs and engine settings of a scenario's regions |
//! | [`sim`] | the loop: queue of timed events, nodes, delivery, back offices, phases; it owns the world and asks the jobs below |
//! | `world` | the federation as the run keeps it: nodes, acknowledged cases, the clock |
//! | [`network`] | latency, loss, duplication, reordering, bandwidth, partitions |
//! | `workload` | applications arriving at windows, and the windows' later work (decided from a read-only world) |
//! | `faults` | the schedule of crashes and restarts, partitions, skew, revocation; misbehaving senders' frames |
//! | [`invariants`] | what must hold, checked during and after the run over a read-only world |
//! | [`report`] | the report: human text and JSON |
//! | [`svg`] | the report's chart |
//! | [`rng`] | the seeded random generator |
//! | [`duration`] | `1h30m`-style durations |
//! | [`inspect`] | reading frames as a network tap would |
//! | [`trace`] | the trace of what happened to each case |
//!
//! Imports go one way: `sim` uses `faults`, `workload` and `invariants`, which use `world`
//! and the modules below it, never `sim` or each other.

pub mod duration;
pub mod error;
mod faults;
pub mod federation;
pub mod inspect;
pub mod invariants;
pub mod network;
pub mod reference;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod svg;
pub mod trace;
mod workload;
mod world;

pub use error::{Result, SimError};
pub use report::Report;
pub use scenario::Scenario;
pub use sim::{Progress, RunOptions, Sim};

/// Runs `scenario` with `options` and returns the report (quietly: no trace, no progress).
pub fn run(scenario: &Scenario, options: RunOptions) -> Result<Report> {
    Sim::new(scenario, options, None)?.run(&mut |_| {})
}
