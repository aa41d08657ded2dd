//! A case (办件) from intake to result: the application, the two event logs (intake side and
//! handling side), the pure fold of both logs into one state, and the time-limit clock with
//! its working-day calendar and the dates it counts in.
//!
//! | module | job |
//! |---|---|
//! | [`application`] | what the window collects, and its check against the item |
//! | [`events`] | the events of both logs |
//! | [`log`] | one replica of both logs: dedupe, gaps, equivocation, the writer's check |
//! | [`complaint`] | 好差评: an evaluation's reasons and channel, and the complaint a 差评 opens |
//! | [`fold`] | the pure fold of both logs into the case state, and the transition rules |
//! | [`steps`] | 多地联办: the steps an item names, the plan an application carries, each step's state |
//! | [`records`] | the GB/T 39046 records the state keeps: 受理, 特别程序, a complete 办结 |
//! | [`clock`] | the statutory clock and its colour |
//! | [`calendar`] | working days, holidays and make-up days |
//! | [`date`] | civil dates in China time, weekdays, day arithmetic, `YYYY-MM-DD` |

pub mod application;
pub mod calendar;
pub mod clock;
pub mod complaint;
pub mod date;
pub mod events;
pub mod fold;
pub mod log;
pub mod records;
pub mod steps;
