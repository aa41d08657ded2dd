//! The crate's one error type. Every failure says what was wrong in words a node operator,
//! a window clerk or a peer's developer can act on; none of them carries personal data.

/// Everything that can go wrong in the protocol core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- codec (codec.rs) ---
    /// Input longer than the limit for its kind; refused before any parsing.
    #[error("{what} is {size} bytes, over its limit of {limit} bytes")]
    TooLarge {
        /// What was being decoded.
        what: &'static str,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// Input that is not the CBOR we expect (bad syntax, too deep, wrong shape, trailing bytes).
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// What the decoder found.
        detail: String,
    },
    /// A version this node does not speak.
    #[error("unsupported {what} version {found}; this node speaks version {supported}")]
    UnsupportedVersion {
        /// What carried the version.
        what: &'static str,
        /// The version found.
        found: u64,
        /// The version this node speaks.
        supported: u64,
    },

    // --- identifiers (ids.rs) ---
    /// An identifier that breaks its format.
    #[error("invalid {what} {value:?}: {why}")]
    InvalidId {
        /// Which kind of identifier.
        what: &'static str,
        /// The value given (identifiers never carry personal data).
        value: String,
        /// The rule it breaks.
        why: &'static str,
    },
    /// A public key that is not a usable ed25519 point (malformed or of small order).
    #[error("invalid public key {kid}: {why}")]
    InvalidKey {
        /// The key id of the offending key.
        kid: String,
        /// Why it cannot be used.
        why: &'static str,
    },

    // --- crypto suites (suite/) ---
    /// Secret key material that cannot be used in its suite (out of range, wrong length).
    /// The key itself is never part of the message.
    #[error("invalid {suite} secret key: {why}")]
    InvalidSecretKey {
        /// The suite's name.
        suite: &'static str,
        /// What a secret key of the suite must be.
        why: &'static str,
    },
    /// A signature could not be made (SM2 only, with probability about 2^-256: the
    /// deterministic nonce gave r = 0 or s = 0).
    #[error("signing failed under the {suite} suite; sign a different message")]
    SigningFailed {
        /// The suite's name.
        suite: &'static str,
    },

    // --- envelopes (envelope.rs) ---
    /// The bytes are not a COSE_Sign1 structure as RFC 9052 defines it.
    #[error("not a COSE_Sign1 envelope: {0}")]
    NotCoseSign1(String),
    /// A protected header we require is missing or holds the wrong value.
    #[error("envelope header {header}: {why}")]
    BadHeader {
        /// The header's name.
        header: &'static str,
        /// What was wrong with it.
        why: String,
    },
    /// The envelope holds another kind of payload than the one expected.
    #[error("envelope holds a {found:?}, expected a {expected:?}")]
    WrongKind {
        /// The kind expected.
        expected: &'static str,
        /// The kind found.
        found: String,
    },
    /// The signer's key id names no key we trust for this purpose.
    #[error("unknown signer {kid}: no key with this id is trusted here")]
    UnknownSigner {
        /// The key id from the envelope.
        kid: String,
    },
    /// The signature does not verify (strictly) under the signer's key.
    #[error("signature by {kid} does not verify")]
    BadSignature {
        /// The key id from the envelope.
        kid: String,
    },

    // --- roster (roster.rs) ---
    /// A roster that is not well formed on its own.
    #[error("invalid roster: {0}")]
    InvalidRoster(String),
    /// A roster update that the current roster does not allow.
    #[error("roster update refused: {0}")]
    RosterRefused(String),
    /// A sender that is not a member of the federation at the given time.
    #[error("{kid} is not a member of the federation at this time: {why}")]
    NotAMember {
        /// The key id.
        kid: String,
        /// Why not: unknown, revoked, or outside its validity.
        why: String,
    },

    // --- sealed materials (hpke.rs, seal.rs) ---
    /// A sealed material this node holds no key for: it was sealed to the parties of a case
    /// this node is not one of (or to keys this node no longer keeps).
    #[error(
        "this node cannot open the sealed material {digest}: it is sealed to {recipients}, and \
         this node holds none of their keys"
    )]
    NotARecipient {
        /// The material's (plaintext) digest.
        digest: String,
        /// The regions and key ids it is sealed to.
        recipients: String,
    },
    /// A sealed material that does not open: altered, truncated, or its content not the
    /// digest it claims. Nothing of its plaintext is returned.
    #[error("sealed material refused: {0}")]
    SealBroken(String),

    // --- catalog (catalog.rs) ---
    /// A catalog or service item with problems; each entry names the field and the fix.
    #[error("invalid catalog: {}", .0.join("; "))]
    InvalidCatalog(Vec<String>),
    /// A catalog signed by a node that may not publish it.
    #[error("catalog of region {region} signed by {kid}, which is not that region's node key")]
    CatalogNotOwn {
        /// The region the manifest claims.
        region: String,
        /// The signer's key id.
        kid: String,
    },

    // --- cases (case/) ---
    /// An event its writer may not append in the case's current state.
    #[error("refused: {0}")]
    IllegalTransition(String),
    /// An event that does not fit the case's logs (wrong case, wrong writer, sequence gap or conflict).
    #[error("event does not fit the case log: {0}")]
    BadEvent(String),
    /// The writer of a log signed two different histories (a reused sequence number, or an
    /// event that does not chain onto its predecessor): both are kept as evidence.
    #[error("fork: {0}")]
    Fork(String),
    /// An application that breaks its item's rules.
    #[error("invalid application: {}", .0.join("; "))]
    InvalidApplication(Vec<String>),

    // --- calendar (case/calendar.rs) ---
    /// A holiday calendar or date that cannot be used.
    #[error("invalid calendar: {0}")]
    InvalidCalendar(String),

    // --- wire (wire.rs) ---
    /// A frame signed by one region's node but claiming to come from another region.
    #[error(
        "frame claims to come from region {claimed} but is signed by {kid}, not that region's node"
    )]
    Impersonation {
        /// The region the frame claims.
        claimed: String,
        /// The signer's key id.
        kid: String,
    },
    /// A frame addressed to another node, or older than the replay window.
    #[error("frame refused: {0}")]
    FrameRefused(String),

    // --- engine (engine/) ---
    /// Something asked for does not exist here.
    #[error("not found: {0}")]
    NotFound(String),
    /// The caller may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A request that cannot be carried out as given; the text says what to fix.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A chunk of an upload that was dropped for not being completed in time: the upload
    /// starts over from offset 0.
    #[error("upload expired: {0}")]
    UploadExpired(String),
    /// This node was restored from a backup and writes nothing until its peers gave back
    /// what it wrote after the backup (see `engine::recovery`); the text names the peers
    /// it still waits for. Try again later.
    #[error("recovering from a backup: {0}")]
    Recovering(String),
    /// A peer speaks no protocol version this node speaks: the two cannot talk until one of
    /// them is upgraded (or unpinned). The text names both sets.
    #[error("no common protocol version: {0}")]
    NoCommonVersion(String),
    /// Too many requests of a kind that is limited to make fishing visible (licence
    /// requests): the text says the limit and when to try again.
    #[error("rate limited: {0}")]
    RateLimited(String),

    // --- storage (store.rs and its implementations) ---
    /// The store failed; the engine acknowledged nothing that depended on it.
    #[error("storage failed: {0}")]
    Storage(String),

    // --- reconciliation (reconcile.rs) ---
    /// A reconciliation message that breaks the protocol.
    #[error("reconciliation: {0}")]
    Reconcile(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
