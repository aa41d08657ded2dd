//! # tongban-office
//!
//! The reference back office's core: a region's approval system in miniature that decides
//! every case by itself, after configurable delays and with a configurable mix of outcomes,
//! so demos and the simulator have a handling side without a real one.
//!
//! It is sans-IO and deterministic, like `tongban-protocol`: it never reads a clock, draws a
//! random number or touches a socket or a disk, so it depends on neither an async runtime nor
//! an HTTP client. The node's reference adapter (`tongban_adapters::reference`) runs it on the
//! wall clock; the simulator runs the very same core on its virtual clock.
//!
//! | module | job |
//! |---|---|
//! | [`config`] | the settings: delays per step, the outcome mix, the seed, and their checks |
//! | [`reference`](mod@reference) | [`ReferenceCore`]: notices in, reports due out, the schedule rebuilt after a restart; [`decision_hash`] |
//! | [`error`] | the crate's one error type |
//! | `testing` | fixtures shared with the adapters' tests (feature `test-support`) |

#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod reference;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

pub use config::{DelayRange, Delays, OutcomeMix, ReferenceConfig};
pub use error::OfficeError;
pub use reference::{ReferenceCore, decision_hash};
