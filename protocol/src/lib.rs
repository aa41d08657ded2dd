//! # tongban-protocol
//!
//! The federation's logic, once, as pure code: no async, no I/O, no clock and no randomness of
//! its own. Time and random bytes are arguments, so the node daemon and the simulator drive the
//! very same code, and any simulated run can be replayed from its seed.
//!
//! | module | job |
//! |---|---|
//! | [`ids`] | identifiers and small values: regions, windows, cases, keys, digests, time |
//! | [`codec`] | bounded CBOR encoding and decoding, the one wire format |
//! | [`engine`] | the node's behaviour: intake, routing, event flow, outbox, catalogs, timers |
//! | [`envelope`] | COSE_Sign1 envelopes: sign, open, verify strictly |
//! | [`roster`] | the federation's membership and the quorum rule for changing it |
//! | [`catalog`] | service items (GB/T 39046) and signed catalog manifests |
//! | [`evidence`] | evidence bundles: a case's envelopes, receipts, roster chain and audit head in one signed file, checked offline |
//! | [`hpke`] | HPKE (RFC 9180) base mode for X25519, HKDF-SHA256 and ChaCha20-Poly1305, its randomness an argument |
//! | [`keyring`] | a node's decryption keys, current and retired: the encryption key derived from its node key, and its node key's X25519 form |
//! | [`licence`] | 电子证照: licences a region issues as signed documents anyone can check offline |
//! | [`case`] | applications, the two event logs of a case, their fold, time limits, calendars |
//! | [`reconcile`] | range-based set reconciliation of the cases two nodes share |
//! | [`seal`] | materials sealed to the parties of a case: encrypted once, the content key sealed with HPKE to each |
//! | [`suite`] | the federation's crypto suite: Ed25519/SHA-256/ChaCha20-Poly1305 or SM2/SM3/SM4-GCM |
//! | [`store`] | the storage trait and the crash-modelling in-memory store |
//! | [`wire`] | the versioned enum of everything nodes say to each other |
//! | [`error`] | the crate's one error type |

pub mod case;
pub mod catalog;
pub mod codec;
pub mod engine;
pub mod envelope;
pub mod error;
pub mod evidence;
pub mod histogram;
pub mod hpke;
pub mod ids;
pub mod keyring;
pub mod licence;
pub mod reconcile;
pub mod roster;
pub mod seal;
pub mod store;
pub mod suite;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod wire;

pub use error::{Error, Result};
