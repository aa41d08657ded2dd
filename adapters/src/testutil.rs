//! Fixtures shared by the adapters' tests: one item, one application, the notices about them,
//! and a capture of what `tracing` logs. They live in `tongban_office::testing` (feature
//! `test-support`), shared with the reference core's own tests.

pub(crate) use tongban_office::testing::{
    ID_NUMBER, LogCapture, PHONE, case_id, new_case, sample_application,
};
