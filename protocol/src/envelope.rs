//! COSE_Sign1 envelopes (RFC 9052): every signed thing in the federation.
//!
//! An envelope is `COSE_Sign1 = #6.18([protected, unprotected, payload, signature])` with
//!
//! * protected: `{1: alg, 3: "tongban/<kind>; v=<version>" (content type), 4: kid}`, the alg
//!   that of the signer's suite: EdDSA (-8), or the private-use SM2 id
//!   [`crate::suite::COSE_ALG_SM2_SM3`],
//! * unprotected: `{}` (we refuse anything there: it is not covered by the signature),
//! * payload: the CBOR encoding of the document,
//! * signature: ed25519 or SM2 (64 bytes, `r || s`) over the RFC 9052 `Sig_structure` with
//!   empty external AAD.
//!
//! The envelope's bytes are kept exactly as received and verified as they are — never
//! re-encoded — so evidence can be checked again later by any COSE implementation.
//! Verification is strict (ed25519's `verify_strict`, weak keys refused; SM2 keys canonical),
//! and an envelope whose alg is not its signer key's suite is refused.

use std::fmt;

use coset::{
    CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable,
    iana::{self, EnumI64},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::codec::{count_items, from_cbor, to_cbor};
use crate::error::{Error, Result};
use crate::ids::{Digest, KeyId, PublicKey};
use crate::suite::{SigningKey, Suite};

/// Most CBOR items an envelope may have outside its payload and signature (tags, arrays, maps
/// and their elements, byte strings counted as one item each), and most in its protected
/// header. A tongban envelope has six outside and seven in its protected header.
const MAX_HEADER_ITEMS: usize = 64;

/// A payload type that travels signed. `KIND` and `VERSION` go into the envelope's protected
/// content-type header (`tongban/<KIND>; v=<VERSION>`), so a signature over one kind of
/// document can never be passed off as another, and an unknown version is refused by name.
pub trait Signable: Serialize + DeserializeOwned {
    /// Short name of the payload kind, such as `catalog` or `event`.
    const KIND: &'static str;
    /// Version of the payload's schema this code signs by default.
    const VERSION: u64;
    /// Largest envelope of this kind a node accepts, in bytes.
    const MAX_SIZE: usize;
    /// Every version of this kind this code reads, oldest first (frames speak several, see
    /// [`crate::wire::PROTOCOL_VERSIONS`]).
    const VERSIONS: &'static [u64] = &[Self::VERSION];
}

/// Finds the public key for a key id. Implemented by whatever decides whom to trust: a single
/// key, a list of keys, or the roster at a given time.
pub trait KeyLookup {
    /// The key with this id, if it is trusted for the envelope at hand.
    fn lookup(&self, kid: &KeyId) -> Option<PublicKey>;
}

impl KeyLookup for PublicKey {
    fn lookup(&self, kid: &KeyId) -> Option<PublicKey> {
        (self.kid() == *kid).then_some(*self)
    }
}

impl KeyLookup for [PublicKey] {
    fn lookup(&self, kid: &KeyId) -> Option<PublicKey> {
        self.iter().find(|k| k.kid() == *kid).copied()
    }
}

/// A node's or a governance body's signing key, of either suite. The secret comes in as 32
/// bytes (from a key file or a seeded generator): this crate never draws randomness itself.
pub struct Identity {
    key: SigningKey,
    public: PublicKey,
}

impl Identity {
    /// The identity whose ed25519 secret key is `seed`.
    pub fn from_seed(seed: [u8; 32]) -> Identity {
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let public = PublicKey::Ed25519(key.verifying_key().to_bytes());
        Identity {
            key: SigningKey::Ed25519(Box::new(key)),
            public,
        }
    }

    /// The identity of `suite` whose secret key is `secret`: any 32 bytes for ed25519 (as
    /// [`Identity::from_seed`]); for SM2 a scalar in [1, n-2], anything else refused.
    pub fn from_secret(suite: Suite, secret: [u8; 32]) -> Result<Identity> {
        let key = SigningKey::from_secret(suite, &secret)?;
        let public = PublicKey::from_slice(&key.public_bytes())?;
        Ok(Identity { key, public })
    }

    /// The 32 secret bytes, for writing a key file.
    pub fn seed(&self) -> [u8; 32] {
        self.key.secret()
    }

    /// The crypto suite the identity signs in.
    pub fn suite(&self) -> Suite {
        self.key.suite()
    }

    /// The public key others verify with.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The key id that goes into every envelope this identity signs.
    pub fn kid(&self) -> KeyId {
        self.public.kid()
    }

    /// Signs `payload` into an envelope. Refuses a payload whose envelope would exceed the
    /// kind's size limit, because every receiver would refuse it.
    pub fn sign<T: Signable + Clone>(&self, payload: &T) -> Result<Envelope<T>> {
        self.sign_version(payload, T::VERSION)
    }

    /// Signs `payload` as `version` of its kind (one of [`Signable::VERSIONS`]): a frame goes
    /// to each peer in the version the two agreed on.
    pub fn sign_version<T: Signable + Clone>(
        &self,
        payload: &T,
        version: u64,
    ) -> Result<Envelope<T>> {
        if !T::VERSIONS.contains(&version) {
            return Err(Error::UnsupportedVersion {
                what: T::KIND,
                found: version,
                supported: T::VERSION,
            });
        }
        let body = to_cbor(payload)?;
        let mut protected = HeaderBuilder::new()
            .content_type(format!("tongban/{}; v={version}", T::KIND))
            .key_id(self.kid().0.to_vec())
            .build();
        protected.alg = Some(cose_alg(self.suite()));
        let sign1 = CoseSign1Builder::new()
            .protected(protected)
            .payload(body)
            .try_create_signature(b"", |tbs| self.key.sign(tbs).map(|sig| sig.to_vec()))?
            .build();
        let bytes = sign1.to_tagged_vec().map_err(|e| Error::Malformed {
            what: "envelope to encode",
            detail: e.to_string(),
        })?;
        if bytes.len() > T::MAX_SIZE {
            return Err(Error::TooLarge {
                what: T::KIND,
                size: bytes.len(),
                limit: T::MAX_SIZE,
            });
        }
        Ok(Envelope {
            bytes,
            payload: payload.clone(),
            signer: self.kid(),
            version,
            suite: self.suite(),
        })
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.kid())
    }
}

/// A verified envelope: the exact bytes, the decoded payload and who signed it. The only ways
/// to get one are [`Identity::sign`] and [`open`], so holding one means the signature checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<T> {
    bytes: Vec<u8>,
    payload: T,
    signer: KeyId,
    version: u64,
    suite: Suite,
}

impl<T> Envelope<T> {
    /// The envelope exactly as signed and sent.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The signed document.
    pub fn payload(&self) -> &T {
        &self.payload
    }

    /// The key id of the signer.
    pub fn signer(&self) -> KeyId {
        self.signer
    }

    /// The version of its kind the envelope was signed as (the `v=` of its content type).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The suite's digest of the envelope's bytes (SHA-256, or SM3 in an `sm` federation):
    /// its identity in audit logs and for deduplication.
    pub fn digest(&self) -> Digest {
        self.suite.digest(&self.bytes)
    }

    /// The crypto suite it is signed in (its `alg`).
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The bytes and the payload, taken apart.
    pub fn into_parts(self) -> (Vec<u8>, T, KeyId) {
        (self.bytes, self.payload, self.signer)
    }
}

/// Reads the signer's key id without verifying anything, so a caller can decide which keys to
/// trust (for example, the roster in force at the message's time) before calling [`open`].
pub fn peek_signer(bytes: &[u8], limit: usize) -> Result<KeyId> {
    let sign1 = parse(bytes, limit, "envelope")?;
    signer_of(&sign1)
}

/// Decodes and verifies an envelope of kind `T`, trusting the keys `keys` returns. Fails with
/// a typed error for oversized input, malformed COSE, wrong algorithm or kind, unknown
/// version, unknown signer, bad signature, or a payload that does not decode.
pub fn open<T: Signable, K: KeyLookup + ?Sized>(bytes: &[u8], keys: &K) -> Result<Envelope<T>> {
    open_prechecked(bytes, keys, None)
}

/// [`open`], taking a signature found in `pre` as checked instead of checking it again (see
/// [`Prechecked`]): the same key must still be the one `keys` trusts.
pub fn open_prechecked<T: Signable, K: KeyLookup + ?Sized>(
    bytes: &[u8],
    keys: &K,
    pre: Option<&Prechecked>,
) -> Result<Envelope<T>> {
    let (sign1, signer, version, suite, _) = verify::<T, K>(bytes, keys, pre)?;
    opened(bytes, &sign1, signer, version, suite)
}

/// The envelope of `bytes`, whose signature is verified, with its payload decoded.
fn opened<T: Signable>(
    bytes: &[u8],
    sign1: &CoseSign1,
    signer: KeyId,
    version: u64,
    suite: Suite,
) -> Result<Envelope<T>> {
    Ok(Envelope {
        bytes: bytes.to_vec(),
        payload: decode_payload::<T>(sign1)?,
        signer,
        version,
        suite,
    })
}

/// [`open`] without decoding the payload: its verified bytes and the signer, for a caller that
/// holds many signatures over one payload (a roster document's quorum) and compares bytes
/// rather than decode the same large payload once per signature.
pub(crate) fn open_payload_bytes<T: Signable, K: KeyLookup + ?Sized>(
    bytes: &[u8],
    keys: &K,
) -> Result<(Vec<u8>, KeyId)> {
    let (sign1, signer, _, _, _) = verify::<T, K>(bytes, keys, None)?;
    let payload = sign1.payload.ok_or_else(|| {
        Error::NotCoseSign1("the payload is detached (nil); tongban envelopes carry it".into())
    })?;
    Ok((payload, signer))
}

/// Parses an envelope of kind `T`, checks its headers and its signature by a key `keys`
/// trusts (unless `pre` holds that key's signature over the same bytes); the payload is left
/// undecoded. Returns the key too.
fn verify<T: Signable, K: KeyLookup + ?Sized>(
    bytes: &[u8],
    keys: &K,
    pre: Option<&Prechecked>,
) -> Result<(CoseSign1, KeyId, u64, Suite, PublicKey)> {
    let sign1 = parse(bytes, T::MAX_SIZE, T::KIND)?;
    let signer = signer_of(&sign1)?;
    let (version, suite) = check_headers::<T>(&sign1)?;
    let public = keys.lookup(&signer).ok_or_else(|| Error::UnknownSigner {
        kid: signer.to_string(),
    })?;
    if public.suite() != suite {
        return Err(Error::BadHeader {
            header: "alg",
            why: format!(
                "the envelope is signed as {suite} ({}), but its signer {signer} holds a {} \
                 key: suites are never mixed",
                suite.cose_alg(),
                public.suite()
            ),
        });
    }
    if pre.is_some_and(|p| p.holds(bytes, &public, &sign1)) {
        return Ok((sign1, signer, version, suite, public));
    }
    let verifying = public.verifying_key()?;
    let bad = || Error::BadSignature {
        kid: signer.to_string(),
    };
    sign1.verify_signature(b"", |sig, tbs| {
        if verifying.verify(tbs, sig) {
            Ok(())
        } else {
            Err(bad())
        }
    })?;
    Ok((sign1, signer, version, suite, public))
}

/// The suite an envelope's `alg` names, without verifying anything: what a digest of bytes
/// that travel as an envelope (a signed licence inside an event) is taken in. `None` when the
/// bytes are no COSE_Sign1 or name neither suite.
pub fn suite_of(bytes: &[u8]) -> Option<Suite> {
    let sign1 = parse(bytes, bytes.len(), "envelope").ok()?;
    match &sign1.protected.header.alg {
        Some(coset::Algorithm::Assigned(iana::Algorithm::EdDSA)) => Some(Suite::Ed25519),
        Some(coset::Algorithm::PrivateUse(crate::suite::COSE_ALG_SM2_SM3)) => Some(Suite::Sm),
        _ => None,
    }
}

/// Decodes the payload of an envelope of kind `T` *without verifying the signature*, for a
/// caller that must see a claim before it can choose the keys to check it with (a roster
/// document's quorum). Never act on the result before verifying it with [`open`].
pub(crate) fn read_unverified<T: Signable>(bytes: &[u8]) -> Result<T> {
    let sign1 = parse(bytes, T::MAX_SIZE, T::KIND)?;
    check_headers::<T>(&sign1)?;
    decode_payload::<T>(&sign1)
}

fn decode_payload<T: Signable>(sign1: &CoseSign1) -> Result<T> {
    let body = sign1.payload.as_deref().ok_or_else(|| {
        Error::NotCoseSign1("the payload is detached (nil); tongban envelopes carry it".into())
    })?;
    from_cbor(body, T::MAX_SIZE, T::KIND)
}

fn parse(bytes: &[u8], limit: usize, what: &'static str) -> Result<CoseSign1> {
    if bytes.len() > limit {
        return Err(Error::TooLarge {
            what,
            size: bytes.len(),
            limit,
        });
    }
    // The COSE library builds a tree of every CBOR item of the envelope and of its protected
    // header, tens of bytes per input byte, before it looks at any: count them first.
    let (items, protected) = count_items(bytes, MAX_HEADER_ITEMS);
    let protected_items = protected.map_or(0, |p| count_items(&p, MAX_HEADER_ITEMS).0);
    if items > MAX_HEADER_ITEMS || protected_items > MAX_HEADER_ITEMS {
        return Err(Error::NotCoseSign1(format!(
            "more than {MAX_HEADER_ITEMS} CBOR items {}; a tongban envelope has about a dozen",
            if items > MAX_HEADER_ITEMS {
                "outside its payload and signature"
            } else {
                "in its protected header"
            }
        )));
    }
    // Tagged (#6.18) is what we send; an untagged COSE_Sign1 is accepted as RFC 9052 allows
    // when the context says what it is.
    CoseSign1::from_tagged_slice(bytes)
        .or_else(|_| CoseSign1::from_slice(bytes))
        .map_err(|e| Error::NotCoseSign1(e.to_string()))
}

fn signer_of(sign1: &CoseSign1) -> Result<KeyId> {
    let kid = &sign1.protected.header.key_id;
    if kid.is_empty() {
        return Err(Error::BadHeader {
            header: "kid",
            why: "missing from the protected header".into(),
        });
    }
    KeyId::from_slice(kid).map_err(|e| Error::BadHeader {
        header: "kid",
        why: e.to_string(),
    })
}

/// The COSE `alg` header of `suite`'s signatures.
fn cose_alg(suite: Suite) -> coset::Algorithm {
    match suite {
        Suite::Ed25519 => coset::Algorithm::Assigned(iana::Algorithm::EdDSA),
        Suite::Sm => coset::Algorithm::PrivateUse(crate::suite::COSE_ALG_SM2_SM3),
    }
}

/// Checks the protected header; returns the version of the kind the envelope is signed as,
/// and the suite its alg names.
fn check_headers<T: Signable>(sign1: &CoseSign1) -> Result<(u64, Suite)> {
    let header = &sign1.protected.header;
    let suite = match &header.alg {
        Some(coset::Algorithm::Assigned(iana::Algorithm::EdDSA)) => Suite::Ed25519,
        Some(coset::Algorithm::PrivateUse(crate::suite::COSE_ALG_SM2_SM3)) => Suite::Sm,
        Some(other) => {
            return Err(Error::BadHeader {
                header: "alg",
                why: format!(
                    "{other:?} is neither EdDSA ({}) nor tongban's SM2 ({})",
                    iana::Algorithm::EdDSA.to_i64(),
                    crate::suite::COSE_ALG_SM2_SM3
                ),
            });
        }
        None => {
            return Err(Error::BadHeader {
                header: "alg",
                why: "missing from the protected header".into(),
            });
        }
    };
    if !header.crit.is_empty() {
        return Err(Error::BadHeader {
            header: "crit",
            why: "critical headers are not understood here".into(),
        });
    }
    if !sign1.unprotected.is_empty() {
        return Err(Error::BadHeader {
            header: "unprotected",
            why: "must be empty: nothing outside the signature is trusted".into(),
        });
    }
    let found = match &header.content_type {
        Some(coset::ContentType::Text(text)) => text.as_str(),
        Some(other) => {
            return Err(Error::BadHeader {
                header: "content type",
                why: format!("{other:?} is not a tongban content type"),
            });
        }
        None => {
            return Err(Error::BadHeader {
                header: "content type",
                why: "missing from the protected header".into(),
            });
        }
    };
    let (kind, version) = found
        .strip_prefix("tongban/")
        .and_then(|rest| rest.split_once("; v="))
        .ok_or_else(|| Error::BadHeader {
            header: "content type",
            why: format!("{found:?} is not of the form tongban/<kind>; v=<version>"),
        })?;
    if kind != T::KIND {
        return Err(Error::WrongKind {
            expected: T::KIND,
            found: kind.to_string(),
        });
    }
    let version: u64 = version.parse().map_err(|_| Error::BadHeader {
        header: "content type",
        why: format!("version {version:?} is not a number"),
    })?;
    if !T::VERSIONS.contains(&version) {
        return Err(Error::UnsupportedVersion {
            what: T::KIND,
            found: version,
            supported: T::VERSIONS.last().copied().unwrap_or(T::VERSION),
        });
    }
    Ok((version, suite))
}

mod prechecked;
pub use prechecked::Prechecked;

#[cfg(test)]
mod tests;
