//! Signatures checked ahead of the engine, on another thread.
//!
//! Checking signatures is most of the work of taking a frame, and the engine does its work on
//! one thread. A node may check a frame's signatures beforehand, on any thread, and hand the
//! result to the engine with the frame: the engine then trusts a signature it finds here
//! instead of checking it again, and nothing else.
//!
//! It still decides itself which key must have signed each envelope (the roster at its own
//! time, the writer's key at the event's time, a revocation since), and uses an entry only for
//! the same key and the very same envelope bytes: a [`Prechecked`] made with a
//! stale roster, or for other bytes, can make the engine check a signature it could have
//! skipped, never accept one it would have refused.

use std::cell::Cell;
use std::collections::HashMap;

use coset::CoseSign1;

use super::{Envelope, KeyLookup, Signable, opened, verify};
use crate::error::Result;
use crate::ids::PublicKey;

/// Envelopes whose signature was checked, by signature, each with the key that checked it and
/// the envelope's bytes (the same bytes parse to the same signed bytes, signer and signature).
#[derive(Debug, Default)]
pub struct Prechecked {
    checked: HashMap<Vec<u8>, (PublicKey, Vec<u8>)>,
    used: Cell<usize>,
}

impl Prechecked {
    /// Opens `bytes` as an envelope of kind `T`, as [`super::open`] does, and remembers its
    /// signature as checked.
    pub fn open<T: Signable, K: KeyLookup + ?Sized>(
        &mut self,
        bytes: &[u8],
        keys: &K,
    ) -> Result<Envelope<T>> {
        let (sign1, signer, version, suite, public) = verify::<T, K>(bytes, keys, None)?;
        let envelope = opened(bytes, &sign1, signer, version, suite)?;
        self.remember(bytes, &sign1, public);
        Ok(envelope)
    }

    /// Checks the signature of `bytes`, an envelope of kind `T`, and remembers it if it holds;
    /// the payload is not decoded. Whether it held.
    pub fn check<T: Signable, K: KeyLookup + ?Sized>(&mut self, bytes: &[u8], keys: &K) -> bool {
        match verify::<T, K>(bytes, keys, None) {
            Ok((sign1, _, _, _, public)) => {
                self.remember(bytes, &sign1, public);
                true
            }
            Err(_) => false,
        }
    }

    fn remember(&mut self, bytes: &[u8], sign1: &CoseSign1, public: PublicKey) {
        self.checked
            .insert(sign1.signature.clone(), (public, bytes.to_vec()));
    }

    /// Whether `public` was found to have made `sign1`'s signature in these very envelope
    /// `bytes`; counted in [`Prechecked::used`] when so.
    pub(super) fn holds(&self, bytes: &[u8], public: &PublicKey, sign1: &CoseSign1) -> bool {
        if self.checked.is_empty() {
            return false;
        }
        let hit = self
            .checked
            .get(sign1.signature.as_slice())
            .is_some_and(|(key, held)| key == public && held == bytes);
        if hit {
            self.used.set(self.used.get() + 1);
        }
        hit
    }

    /// How many signatures are held.
    pub fn len(&self) -> usize {
        self.checked.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.checked.is_empty()
    }

    /// How many times a signature held here was taken instead of being checked again: what a
    /// test reads to see the engine used the work done ahead.
    pub fn used(&self) -> usize {
        self.used.get()
    }
}
