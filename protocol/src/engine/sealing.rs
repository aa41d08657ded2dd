//! Materials at rest, sealed to the parties of their cases ([`crate::seal`]): once a case
//! cites a material, the node keeps it only sealed to the case's intake and handling regions
//! and drops the plaintext; the handling region keeps the sealed form the intake region sends.
//! A node keeps one sealed copy of a material per region it shares it with (keyed by digest
//! and that region; its own region for a local case), each sealed to exactly the two of them,
//! so a material many cases cite is never readable by more than the parties of one of them.
//! Reading a material opens it with the node's keyring: the keys of its current node key and
//! of every node key it held before (kept in [`Table::Keyring`], so a rotation or a restore
//! never locks a node out of its old cases).
//!
//! Sealing needs random bytes, which the core never draws: the driver seeds the engine
//! ([`Engine::seed_randomness`]) and the engine expands the seed (SHA-256 in counter mode).
//! Until it is seeded, the seed is derived from the node's secret key and the time it opened;
//! the seal hedges every draw with the material's digest, so even a repeated draw never
//! reuses a key on two plaintexts.

use sha2::{Digest as _, Sha256};

use super::Engine;
use super::records::CaseRecord;
use crate::case::application::SubmittedMaterial;
use crate::error::{Error, Result};
use crate::ids::{Digest, EncryptionKey, RegionId, Timestamp};
use crate::keyring::{Keyring, OpeningKey};
use crate::seal::SealedMaterial;
use crate::store::{Store, Table};

/// The randomness the engine seals with: a seed expanded in counter mode.
pub(super) struct Randomness {
    seed: [u8; 32],
    counter: u64,
}

impl Randomness {
    /// The seed the engine starts from until the driver gives one: the node's secret seed
    /// and the time it opened, hashed.
    pub(super) fn provisional(secret: &[u8; 32], now: Timestamp) -> Randomness {
        let seed = Sha256::new()
            .chain_update(b"tongban/engine-randomness/v1")
            .chain_update(secret)
            .chain_update(now.0.to_be_bytes())
            .finalize()
            .into();
        Randomness { seed, counter: 0 }
    }

    /// The next 32 bytes.
    fn next(&mut self) -> [u8; 32] {
        self.counter += 1;
        Sha256::new()
            .chain_update(self.seed)
            .chain_update(self.counter.to_be_bytes())
            .finalize()
            .into()
    }
}

impl<S: Store> Engine<S> {
    /// Seeds the randomness materials are sealed with: 32 bytes from the operating system
    /// (the node) or from the run's seed (the simulator), so that a replay seals the same way.
    pub fn seed_randomness(&mut self, seed: [u8; 32]) {
        self.randomness = Randomness { seed, counter: 0 };
    }

    /// At open: the keyring kept in the store, with the current node key's keys added (and
    /// kept, so that they stay after the next rotation).
    pub(super) fn load_keyring(&mut self) -> Result<()> {
        let mut ring = Keyring::default();
        for (public, secret) in self.store.scan_prefix(Table::Keyring, &[])? {
            ring.add(OpeningKey::from_stored(&public, &secret)?);
        }
        for (public, key) in Keyring::of_identity(&self.identity).keys() {
            if ring.find(public).is_none() {
                self.store
                    .put(Table::Keyring, public.as_bytes(), &key.to_bytes())?;
                ring.add(key.clone());
            }
        }
        self.keyring = ring;
        Ok(())
    }

    /// The node's decryption keys, current and retired.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The keys a case's materials are sealed to: its intake and handling regions', as the
    /// roster in force publishes them (a region no longer on the roster is left out).
    fn parties(&self, record: &CaseRecord) -> Result<Vec<(RegionId, EncryptionKey)>> {
        let mut out = Vec::new();
        for region in [&record.intake_region, &record.handling_region] {
            if out.iter().any(|(r, _)| r == region) {
                continue;
            }
            if let Some(member) = self.roster.region(region) {
                out.push((region.clone(), member.sealing_key()?));
            }
        }
        if out.is_empty() {
            return Err(Error::InvalidInput(format!(
                "neither party of case {} is on roster version {}: its materials cannot be \
                 sealed",
                record.case, self.roster.version
            )));
        }
        Ok(out)
    }

    /// `materials` are cited by `record`'s case now: each is kept sealed to the case's parties,
    /// and its plaintext dropped.
    pub(super) fn seal_cited(
        &mut self,
        record: &CaseRecord,
        materials: &[SubmittedMaterial],
    ) -> Result<()> {
        for m in materials.iter().filter(|m| m.licence.is_none()) {
            self.sealed_for(record, &m.digest)?;
        }
        Ok(())
    }

    /// The region this node shares `record`'s case with: the other party, or this node's own
    /// region for a local case.
    fn peer_of<'a>(&self, record: &'a CaseRecord) -> &'a RegionId {
        if record.intake_region == self.me {
            &record.handling_region
        } else {
            &record.intake_region
        }
    }

    /// The sealed copy of `digest` for the parties of `record`'s case, sealing it from what the
    /// node holds (the plaintext, or another copy it opens) when there is none, or none to the
    /// parties' current keys; `None` if the node holds nothing of it.
    pub(super) fn sealed_for(
        &mut self,
        record: &CaseRecord,
        digest: &Digest,
    ) -> Result<Option<Vec<u8>>> {
        let key = copy_key(digest, self.peer_of(record));
        let parties = self.parties(record)?;
        let plaintext = self.store.get(Table::Materials, &digest.0)?;
        if let Some(bytes) = self.store.get(Table::SealedMaterials, &key)? {
            let held = SealedMaterial::decode(&bytes)?;
            let exactly_the_parties = held.recipients.len() == parties.len()
                && parties
                    .iter()
                    .all(|(_, k)| held.recipients.iter().any(|r| &r.key == k));
            if exactly_the_parties {
                if plaintext.is_some() {
                    self.store.delete(Table::Materials, &digest.0)?;
                }
                return Ok(Some(bytes));
            }
        }
        let plaintext = match plaintext {
            Some(p) => p,
            None => match self.open_any(digest)? {
                Some(p) => p,
                None => return Ok(None),
            },
        };
        let random = self.randomness.next();
        let bytes = SealedMaterial::seal(self.suite(), &plaintext, &parties, &random)?.encode()?;
        self.store.put(Table::SealedMaterials, &key, &bytes)?;
        self.store.delete(Table::Materials, &digest.0)?;
        Ok(Some(bytes))
    }

    /// Keeps a sealed material that arrived from `from` for a case: it must be the material
    /// `digest`, sealed so that this node opens it (which checks it whole against its digest).
    pub(super) fn keep_sealed(
        &mut self,
        from: &RegionId,
        digest: &Digest,
        bytes: &[u8],
    ) -> Result<()> {
        let sealed = SealedMaterial::decode(bytes)?;
        if &sealed.digest != digest {
            return Err(Error::SealBroken(format!(
                "material {digest} arrived sealed as material {}",
                sealed.digest
            )));
        }
        sealed.open(self.suite(), &self.keyring)?;
        self.store
            .put(Table::SealedMaterials, &copy_key(digest, from), bytes)
    }

    /// The plaintext of the first sealed copy of `digest` this node opens; `None` if it holds
    /// no copy, and the last copy's error if it opens none.
    fn open_any(&self, digest: &Digest) -> Result<Option<Vec<u8>>> {
        let mut failed = None;
        for (_, bytes) in self.store.scan_prefix(Table::SealedMaterials, &digest.0)? {
            match SealedMaterial::decode(&bytes).and_then(|s| s.open(self.suite(), &self.keyring)) {
                Ok(plain) => return Ok(Some(plain)),
                Err(e) => failed = Some(e),
            }
        }
        failed.map_or(Ok(None), Err)
    }

    /// Whether the node holds material `digest`, plain or sealed.
    pub(super) fn has_material(&self, digest: &Digest) -> Result<bool> {
        Ok(self.store.get(Table::Materials, &digest.0)?.is_some()
            || !self
                .store
                .scan_prefix(Table::SealedMaterials, &digest.0)?
                .is_empty())
    }

    /// A kept material's bytes: an upload not cited yet as it is, a cited one opened with the
    /// node's keyring. [`Error::NotARecipient`] names who can read a sealed one this node
    /// cannot; [`Error::SealBroken`] says what is wrong with one that was altered.
    pub fn material(&self, digest: &Digest) -> Result<Option<Vec<u8>>> {
        if let Some(plain) = self.store.get(Table::Materials, &digest.0)? {
            return Ok(Some(plain));
        }
        self.open_any(digest)
    }

    /// The sealed copies of a cited material the node keeps (CBOR, `seal::SealedMaterial`),
    /// by the region each is shared with: for checks, and for tools that move them unread.
    pub fn sealed_copies(&self, digest: &Digest) -> Result<Vec<(RegionId, Vec<u8>)>> {
        let mut out = Vec::new();
        for (key, bytes) in self.store.scan_prefix(Table::SealedMaterials, &digest.0)? {
            let region = key
                .get(32..)
                .and_then(|r| std::str::from_utf8(r).ok())
                .ok_or_else(|| Error::Storage("a sealed material's key names no region".into()))
                .and_then(RegionId::new)?;
            out.push((region, bytes));
        }
        Ok(out)
    }
}

/// Where the sealed copy of `digest` shared with `peer` is kept: the digest, then the region.
pub(super) fn copy_key(digest: &Digest, peer: &RegionId) -> Vec<u8> {
    [&digest.0[..], peer.as_str().as_bytes()].concat()
}
