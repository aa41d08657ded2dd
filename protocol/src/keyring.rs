//! The decryption keys a node opens sealed materials with: those of its current node key, and
//! those of the node keys it rotated out, so that a rotation never locks a node out of its
//! old cases.
//!
//! A node key (an ed25519 seed) gives two X25519 secret keys: the *encryption key*, derived
//! from the seed with HKDF-SHA256 (info `tongban/encryption-key/v1`) and published in the
//! roster beside the node key ([`crate::roster::Member::encryption_key`]); and, for a member
//! whose roster entry publishes none, the X25519 form of the node key itself (the ed25519
//! secret scalar, as libsodium's `crypto_sign_ed25519_sk_to_curve25519`). A keyring holds
//! both for every seed it was given.

use hkdf::Hkdf;
use sha2::Sha256;

use crate::envelope::Identity;
use crate::hpke::DecryptionKey;
use crate::ids::EncryptionKey;

/// HKDF's info for the encryption key derived from a node key's seed.
const ENCRYPTION_KEY_INFO: &[u8] = b"tongban/encryption-key/v1";

/// The encryption key a node with `identity` publishes in the roster: derived from its seed,
/// so that every node has one and rotating the node key rotates it too.
pub fn encryption_key(identity: &Identity) -> DecryptionKey {
    let mut ikm = [0u8; 32];
    // 32 bytes is far under HKDF-SHA256's limit of 255·32: the expand cannot fail.
    let _ = Hkdf::<Sha256>::new(None, &identity.seed()).expand(ENCRYPTION_KEY_INFO, &mut ikm);
    DecryptionKey::derive(&ikm)
}

/// The X25519 form of `identity`'s node key: what a member that publishes no encryption key
/// is sealed to ([`EncryptionKey::of_node_key`]).
pub fn node_key_as_x25519(identity: &Identity) -> DecryptionKey {
    let signing = ed25519_dalek::SigningKey::from_bytes(&identity.seed());
    DecryptionKey::from_bytes(signing.to_scalar_bytes())
}

/// Every decryption key a node holds, current and retired, found by its public key.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<DecryptionKey>,
}

impl Keyring {
    /// The keys of one node key: its encryption key and its X25519 form.
    pub fn of_identity(identity: &Identity) -> Keyring {
        let mut ring = Keyring::default();
        ring.add_identity(identity);
        ring
    }

    /// Adds both keys of a node key (a retired one, say).
    pub fn add_identity(&mut self, identity: &Identity) {
        self.add(encryption_key(identity));
        self.add(node_key_as_x25519(identity));
    }

    /// Adds one key, once.
    pub fn add(&mut self, key: DecryptionKey) {
        let public = key.public_key();
        if self.find(&public).is_none() {
            self.keys.push(key);
        }
    }

    /// The secret key of `public`, if held.
    pub fn find(&self, public: &EncryptionKey) -> Option<&DecryptionKey> {
        self.keys.iter().find(|k| &k.public_key() == public)
    }

    /// Every key held, in the order added.
    pub fn keys(&self) -> &[DecryptionKey] {
        &self.keys
    }
}
