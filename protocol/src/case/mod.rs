//! A case (办件) from intake to result: the application, the two event logs (intake side and
//! handling side), the pure fold of both logs into one state, and the time-limit clock with
//! its working-day calendar.

pub mod calendar;
pub mod clock;
