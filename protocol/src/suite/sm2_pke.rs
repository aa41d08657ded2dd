//! SM2 public-key encryption (GB/T 32918.4-2016), what a federation of the `sm` suite seals
//! each party's copy of a material's content key with ([`crate::seal`]): the ciphertext is
//! C1 ‖ C3 ‖ C2 (C1 the ephemeral point, uncompressed; C3 = SM3(x2 ‖ M ‖ y2); C2 the message
//! under the SM3 KDF's stream), as the `sm2` crate's `pke` computes it.
//!
//! The core draws no randomness of its own: the ephemeral scalar comes from 32 bytes the
//! caller gives (the sealer's, hedged with the material's digest), expanded with SM3 in
//! counter mode. A node's SM2 encryption key is derived from its node key's secret
//! ([`crate::keyring::encryption_key`]), apart from the signing key, as GB/T 32918 keeps
//! signing and encryption keys apart.

use std::convert::Infallible;

use sm2::elliptic_curve::rand_core::{TryCryptoRng, TryRng};
use sm2::elliptic_curve::sec1::ToSec1Point as _;
use sm2::pke::{DecryptingKey, EncryptingKey};
use sm3::Digest as _;

use crate::error::{Error, Result};

/// Length of an SM2 encryption public key: a compressed SEC1 point.
pub const PUBLIC_LEN: usize = 33;
/// What encryption adds to a message: C1 (an uncompressed point, 65 bytes) and C3 (32 bytes).
pub const OVERHEAD: usize = 65 + 32;

/// An SM2 secret key a node decrypts the content keys sealed to it with.
#[derive(Clone)]
pub struct Sm2DecryptionKey(DecryptingKey);

impl std::fmt::Debug for Sm2DecryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sm2DecryptionKey({})", hex::encode(self.public_key()))
    }
}

impl Sm2DecryptionKey {
    /// The key whose secret scalar is `bytes` (big-endian, in [1, n-1]), as stored.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Sm2DecryptionKey> {
        DecryptingKey::from_slice(bytes)
            .map(Sm2DecryptionKey)
            .map_err(|_| Error::InvalidKey {
                kid: "an SM2 encryption key".into(),
                why: "its secret is not a scalar in [1, n-1]",
            })
    }

    /// A key derived from 32 or more secret bytes: the first SM3(label ‖ ikm ‖ counter) that
    /// is a valid scalar (all but about one in 2^32 are, at the first counter).
    pub fn derive(ikm: &[u8]) -> Sm2DecryptionKey {
        let mut counter: u32 = 0;
        loop {
            let candidate: [u8; 32] = sm3::Sm3::new()
                .chain_update(b"tongban/sm2-encryption-key/v1")
                .chain_update(ikm)
                .chain_update(counter.to_be_bytes())
                .finalize()
                .into();
            if let Ok(key) = Sm2DecryptionKey::from_bytes(&candidate) {
                return key;
            }
            counter = counter.wrapping_add(1);
        }
    }

    /// The 32 secret bytes, for keeping the key in the node's store.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes().into()
    }

    /// The public key the roster publishes: the compressed point.
    pub fn public_key(&self) -> [u8; PUBLIC_LEN] {
        let point = self.0.encrypting_key().as_affine().to_sec1_point(true);
        let mut out = [0u8; PUBLIC_LEN];
        out.copy_from_slice(point.as_bytes());
        out
    }

    /// The message of `ciphertext` (C1 ‖ C3 ‖ C2), or [`Error::SealBroken`] when it was not
    /// encrypted to this key, or was altered (C3 does not match).
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>> {
        self.0.decrypt(ciphertext).map_err(|_| {
            Error::SealBroken(
                "the sealed key does not open with this node's SM2 key: altered, or sealed to \
                 another key"
                    .into(),
            )
        })
    }
}

/// Whether `public` is an SM2 point an encryption can be made to.
pub fn is_usable(public: &[u8; PUBLIC_LEN]) -> bool {
    EncryptingKey::from_sec1_bytes(public).is_ok()
}

/// `message` encrypted to `to` (C1 ‖ C3 ‖ C2), with the ephemeral scalar drawn from `seed`.
pub fn encrypt(to: &[u8; PUBLIC_LEN], seed: &[u8; 32], message: &[u8]) -> Result<Vec<u8>> {
    let key = EncryptingKey::from_sec1_bytes(to).map_err(|_| Error::InvalidKey {
        kid: hex::encode(to),
        why: "not a point of the SM2 curve",
    })?;
    key.encrypt(&mut Expanded::new(seed), message)
        .map_err(|_| Error::SealBroken("SM2 encryption failed: an empty message".into()))
}

/// 32 seed bytes expanded with SM3 in counter mode: the only "random" source the encryption
/// sees, so that the same seed gives the same ciphertext.
struct Expanded {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl Expanded {
    fn new(seed: &[u8; 32]) -> Expanded {
        Expanded {
            seed: *seed,
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    fn next_byte(&mut self) -> u8 {
        if self.used == self.block.len() {
            self.counter += 1;
            self.block = sm3::Sm3::new()
                .chain_update(b"tongban/sm2-encryption-nonce/v1")
                .chain_update(self.seed)
                .chain_update(self.counter.to_be_bytes())
                .finalize()
                .into();
            self.used = 0;
        }
        self.used += 1;
        self.block[self.used - 1]
    }
}

impl TryRng for Expanded {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> std::result::Result<u32, Infallible> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> std::result::Result<u64, Infallible> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> std::result::Result<(), Infallible> {
        for byte in dst {
            *byte = self.next_byte();
        }
        Ok(())
    }
}

impl TryCryptoRng for Expanded {}

#[cfg(test)]
mod tests {
    use super::*;

    /// GB/T 32918.5-2017 (GM/T 0003.5-2012), the encryption example over the recommended
    /// curve: the message "encryption standard", the secret key dB and the ciphertext
    /// C1 ‖ C3 ‖ C2 it gives.
    const D_B: &str = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8";
    const C1: &str = "0404ebfc718e8d1798620432268e77feb6415e2ede0e073c0f4f640ecd2e149a73\
                      e858f9d81e5430a57b36daab8f950a3c64e6ee6a63094d99283aff767e124df0";
    const C3: &str = "59983c18f809e262923c53aec295d30383b54e39d609d160afcb1908d0bd8766";
    const C2: &str = "21886ca989ca9c7d58087307ca93092d651efa";

    fn standard_key() -> Sm2DecryptionKey {
        let mut secret = [0u8; 32];
        hex::decode_to_slice(D_B, &mut secret).unwrap();
        Sm2DecryptionKey::from_bytes(&secret).unwrap()
    }

    #[test]
    fn the_standard_s_ciphertext_decrypts_to_its_message() {
        let ciphertext = hex::decode(format!("{C1}{C3}{C2}")).unwrap();
        assert_eq!(
            standard_key().decrypt(&ciphertext).unwrap(),
            b"encryption standard"
        );
        // One bit of C2 changed: C3 no longer matches.
        let mut altered = ciphertext.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(standard_key().decrypt(&altered).is_err());
    }

    #[test]
    fn a_message_encrypts_and_decrypts_the_same_way_for_the_same_seed() {
        let key = standard_key();
        let message = [7u8; 48];
        let a = encrypt(&key.public_key(), &[1; 32], &message).unwrap();
        assert_eq!(a.len(), message.len() + OVERHEAD);
        assert_eq!(a[0], 0x04, "C1 is uncompressed");
        assert_eq!(key.decrypt(&a).unwrap(), message);
        assert_eq!(encrypt(&key.public_key(), &[1; 32], &message).unwrap(), a);
        let b = encrypt(&key.public_key(), &[2; 32], &message).unwrap();
        assert_ne!(a, b, "another seed, another ephemeral point");
        assert_eq!(key.decrypt(&b).unwrap(), message);
        // Another key cannot decrypt it.
        let other = Sm2DecryptionKey::derive(b"another");
        assert!(other.decrypt(&a).is_err());
    }

    #[test]
    fn derived_keys_are_stable_distinct_and_round_trip_through_their_bytes() {
        let a = Sm2DecryptionKey::derive(&[9; 32]);
        assert_eq!(
            a.public_key(),
            Sm2DecryptionKey::derive(&[9; 32]).public_key()
        );
        assert_ne!(
            a.public_key(),
            Sm2DecryptionKey::derive(&[8; 32]).public_key()
        );
        let again = Sm2DecryptionKey::from_bytes(&a.to_bytes()).unwrap();
        assert_eq!(again.public_key(), a.public_key());
        assert!(is_usable(&a.public_key()));
        assert!(!is_usable(&[0x05; PUBLIC_LEN]), "no such SEC1 tag");
        assert!(Sm2DecryptionKey::from_bytes(&[0; 32]).is_err());
        assert!(Sm2DecryptionKey::from_bytes(&[0xff; 32]).is_err());
    }
}
