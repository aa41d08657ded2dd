//! The decryption keys a node opens sealed materials with: those of its current node key, and
//! those of the node keys it rotated out, so that a rotation never locks a node out of its
//! old cases.
//!
//! An ed25519 node key gives two X25519 secret keys: the *encryption key*, derived from the
//! seed with HKDF-SHA256 (info `tongban/encryption-key/v1`) and published in the roster beside
//! the node key ([`crate::roster::Member::encryption_key`]); and, for a member whose roster
//! entry publishes none, the X25519 form of the node key itself (the ed25519 secret scalar, as
//! libsodium's `crypto_sign_ed25519_sk_to_curve25519`). An SM2 node key gives one SM2
//! encryption key, derived the same way and then to a scalar
//! ([`crate::suite::sm2_pke::Sm2DecryptionKey::derive`]). A keyring holds them for every
//! secret it was given.
//!
//! The same secret also gives the node's ed25519 transport key ([`transport_seed`]), which an
//! `sm` member publishes because libp2p cannot use its SM2 key.

use hkdf::Hkdf;
use sha2::Sha256;

use crate::envelope::Identity;
use crate::error::{Error, Result};
use crate::hpke::DecryptionKey;
use crate::ids::{EncryptionKey, PublicKey};
use crate::roster::NodeKeys;
use crate::suite::Suite;
use crate::suite::sm2_pke::Sm2DecryptionKey;

/// A secret key the content keys of sealed materials are opened with: an X25519 key (HPKE,
/// the `ed25519` suite) or an SM2 encryption key (the `sm` suite).
#[derive(Debug, Clone)]
pub enum OpeningKey {
    /// An X25519 secret key.
    X25519(DecryptionKey),
    /// An SM2 secret key.
    Sm2(Sm2DecryptionKey),
}

impl OpeningKey {
    /// The public key the roster publishes for it.
    pub fn public_key(&self) -> EncryptionKey {
        match self {
            OpeningKey::X25519(key) => key.public_key(),
            OpeningKey::Sm2(key) => EncryptionKey::Sm2(key.public_key()),
        }
    }

    /// The 32 secret bytes, as the node's store keeps them (beside the public key, whose
    /// length tells the kind).
    pub fn to_bytes(&self) -> [u8; 32] {
        match self {
            OpeningKey::X25519(key) => key.to_bytes(),
            OpeningKey::Sm2(key) => key.to_bytes(),
        }
    }

    /// The key stored as `secret` under `public` (see [`OpeningKey::to_bytes`]).
    pub fn from_stored(public: &[u8], secret: &[u8]) -> Result<OpeningKey> {
        let bytes: [u8; 32] = secret.try_into().map_err(|_| {
            Error::Storage(format!("a keyring entry is {} bytes, not 32", secret.len()))
        })?;
        let key = match EncryptionKey::from_slice(public)? {
            EncryptionKey::X25519(_) => OpeningKey::X25519(DecryptionKey::from_bytes(bytes)),
            EncryptionKey::Sm2(_) => OpeningKey::Sm2(Sm2DecryptionKey::from_bytes(&bytes)?),
        };
        if key.public_key().as_bytes() != public {
            return Err(Error::Storage(
                "a keyring entry's secret is not its public key's".into(),
            ));
        }
        Ok(key)
    }
}

/// HKDF's info for the encryption key derived from a node key's seed.
const ENCRYPTION_KEY_INFO: &[u8] = b"tongban/encryption-key/v1";

/// The encryption key a node with `identity` publishes in the roster: derived from its seed,
/// so that every node has one and rotating the node key rotates it too. An X25519 key in the
/// `ed25519` suite; in `sm` an SM2 key of its own, apart from the SM2 signing key.
pub fn encryption_key(identity: &Identity) -> OpeningKey {
    let mut ikm = [0u8; 32];
    // 32 bytes is far under HKDF-SHA256's limit of 255·32: the expand cannot fail.
    let _ = Hkdf::<Sha256>::new(None, &identity.seed()).expand(ENCRYPTION_KEY_INFO, &mut ikm);
    match identity.suite() {
        Suite::Ed25519 => OpeningKey::X25519(DecryptionKey::derive(&ikm)),
        Suite::Sm => OpeningKey::Sm2(Sm2DecryptionKey::derive(&ikm)),
    }
}

/// HKDF's info for the transport key derived from an SM2 node key's secret.
const TRANSPORT_KEY_INFO: &[u8] = b"tongban/transport-key/v1";

/// The ed25519 seed of the libp2p identity a node with `identity` is known by on the peer
/// transport: the node key's own seed in the ed25519 suite, and in the `sm` suite a key
/// derived from the SM2 secret with HKDF-SHA256 (info `tongban/transport-key/v1`), since
/// libp2p has no SM2 identities. Rotating the node key rotates it too.
pub fn transport_seed(identity: &Identity) -> [u8; 32] {
    match identity.suite() {
        Suite::Ed25519 => identity.seed(),
        Suite::Sm => {
            let mut seed = [0u8; 32];
            // 32 bytes is far under HKDF-SHA256's limit: the expand cannot fail.
            let _ =
                Hkdf::<Sha256>::new(None, &identity.seed()).expand(TRANSPORT_KEY_INFO, &mut seed);
            seed
        }
    }
}

/// The public half of [`transport_seed`], as an ed25519 [`PublicKey`].
pub fn transport_key(identity: &Identity) -> PublicKey {
    let signing = ed25519_dalek::SigningKey::from_bytes(&transport_seed(identity));
    PublicKey::Ed25519(signing.verifying_key().to_bytes())
}

/// What a member entry publishes for a node with `identity` ([`NodeKeys`]): its node key, its
/// encryption key, and in the `sm` suite its transport key (an ed25519 node key is its own).
pub fn published_keys(identity: &Identity) -> NodeKeys {
    NodeKeys {
        node_key: identity.public_key(),
        encryption_key: Some(encryption_key(identity).public_key()),
        transport_key: (identity.suite() == Suite::Sm).then(|| transport_key(identity)),
    }
}

/// The X25519 form of `identity`'s node key: what a member that publishes no encryption key
/// is sealed to ([`EncryptionKey::of_node_key`]).
pub fn node_key_as_x25519(identity: &Identity) -> DecryptionKey {
    let signing = ed25519_dalek::SigningKey::from_bytes(&identity.seed());
    DecryptionKey::from_bytes(signing.to_scalar_bytes())
}

/// Every decryption key a node holds, current and retired, found by its public key.
///
/// Each key is kept beside its public half: deriving that is a scalar multiplication (an
/// X25519 or SM2 point), and every material opened looks its recipients up here.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<(EncryptionKey, OpeningKey)>,
}

impl Keyring {
    /// The keys of one node key: its encryption key and, for an ed25519 one, its X25519 form.
    pub fn of_identity(identity: &Identity) -> Keyring {
        let mut ring = Keyring::default();
        ring.add_identity(identity);
        ring
    }

    /// Adds the keys of a node key (a retired one, say).
    pub fn add_identity(&mut self, identity: &Identity) {
        self.add(encryption_key(identity));
        if identity.suite() == Suite::Ed25519 {
            self.add(OpeningKey::X25519(node_key_as_x25519(identity)));
        }
    }

    /// Adds one key, once.
    pub fn add(&mut self, key: OpeningKey) {
        let public = key.public_key();
        if self.find(&public).is_none() {
            self.keys.push((public, key));
        }
    }

    /// The secret key of `public`, if held.
    pub fn find(&self, public: &EncryptionKey) -> Option<&OpeningKey> {
        self.keys
            .iter()
            .find_map(|(held, key)| (held == public).then_some(key))
    }

    /// Every key held, each with its public key, in the order added.
    pub fn keys(&self) -> impl Iterator<Item = (&EncryptionKey, &OpeningKey)> {
        self.keys.iter().map(|(public, key)| (public, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each suite's keyring finds every key it holds by the public key the roster publishes,
    /// holds each once, and finds nothing for another node's key.
    #[test]
    fn a_keyring_finds_its_keys_by_their_public_keys_and_holds_each_once() {
        for suite in [Suite::Ed25519, Suite::Sm] {
            let node = Identity::from_secret(suite, [1; 32]).expect("a valid secret");
            let other = Identity::from_secret(suite, [2; 32]).expect("a valid secret");
            let mut ring = Keyring::of_identity(&node);
            let held = ring.keys().count();
            assert_eq!(held, if suite == Suite::Ed25519 { 2 } else { 1 });
            ring.add_identity(&node);
            assert_eq!(ring.keys().count(), held, "{suite}: a key is held once");
            for (public, key) in ring.keys() {
                assert_eq!(
                    &key.public_key(),
                    public,
                    "{suite}: kept beside its own key"
                );
            }
            let mine = encryption_key(&node).public_key();
            let found = ring.find(&mine).map(OpeningKey::to_bytes);
            assert_eq!(found, Some(encryption_key(&node).to_bytes()), "{suite}");
            assert!(
                ring.find(&encryption_key(&other).public_key()).is_none(),
                "{suite}"
            );
            ring.add_identity(&other);
            assert!(
                ring.find(&encryption_key(&other).public_key()).is_some(),
                "{suite}: a retired key added later is found"
            );
        }
    }
}
