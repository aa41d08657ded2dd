//! The crate's one error type: what can be wrong with the reference back office, in words an
//! operator can act on.

/// Everything that can go wrong in the reference back office: only its settings can, since it
/// does no I/O.
#[derive(Debug, thiserror::Error)]
pub enum OfficeError {
    /// A setting that cannot work; the message names the key and the fix. Shown as the
    /// adapters' config errors are, so the node reports it the same way.
    #[error("back-office config: {0}")]
    InvalidConfig(String),
}
