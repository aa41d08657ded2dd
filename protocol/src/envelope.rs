//! COSE_Sign1 envelopes (RFC 9052, alg EdDSA): every signed thing in the federation.

use serde::{Serialize, de::DeserializeOwned};

/// A payload type that travels signed. `KIND` and `VERSION` go into the envelope's protected
/// content-type header (`tongban/<KIND>; v=<VERSION>`), so a signature over one kind of
/// document can never be passed off as another, and an unknown version is refused by name.
pub trait Signable: Serialize + DeserializeOwned {
    /// Short name of the payload kind, such as `catalog` or `event`.
    const KIND: &'static str;
    /// Version of the payload's schema this code speaks.
    const VERSION: u64;
    /// Largest envelope of this kind a node accepts, in bytes.
    const MAX_SIZE: usize;
}
