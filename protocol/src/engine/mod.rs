//! The node's behaviour as a sans-IO state machine that both the daemon and the simulator
//! drive.

pub mod backoffice;

pub use backoffice::{Notice, Report};
