//! Materials at rest, sealed to the parties of their cases ([`crate::seal`]): once a case
//! cites a material, the node keeps it only sealed to the case's intake and handling regions
//! and drops the plaintext; the handling region keeps the sealed form the intake region sends.
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
use crate::hpke::DecryptionKey;
use crate::ids::{Digest, EncryptionKey, RegionId, Timestamp};
use crate::keyring::Keyring;
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
        for (_, secret) in self.store.scan_prefix(Table::Keyring, &[])? {
            let bytes: [u8; 32] = secret.as_slice().try_into().map_err(|_| {
                Error::Storage(format!("a keyring entry is {} bytes, not 32", secret.len()))
            })?;
            ring.add(DecryptionKey::from_bytes(bytes));
        }
        for key in Keyring::of_identity(&self.identity).keys() {
            let public = key.public_key();
            if ring.find(&public).is_none() {
                self.store.put(Table::Keyring, &public.0, &key.to_bytes())?;
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

    /// `materials` are cited by `record`'s case now: each is kept sealed to the case's parties
    /// (and to those of the cases that cited it before), and its plaintext dropped.
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

    /// The sealed form of `digest` that the parties of `record`'s case can open, sealing (or
    /// sealing again, to more parties) what the node holds; `None` if it holds nothing of it.
    pub(super) fn sealed_for(
        &mut self,
        record: &CaseRecord,
        digest: &Digest,
    ) -> Result<Option<Vec<u8>>> {
        let plaintext = self.store.get(Table::Materials, &digest.0)?;
        let sealed = self.store.get(Table::SealedMaterials, &digest.0)?;
        let parties = self.parties(record)?;
        let existing = sealed.as_deref().map(SealedMaterial::decode).transpose()?;
        if let (Some(bytes), Some(existing)) = (&sealed, &existing)
            && parties
                .iter()
                .all(|(_, key)| existing.recipients.iter().any(|r| &r.key == key))
        {
            if plaintext.is_some() {
                self.store.delete(Table::Materials, &digest.0)?;
            }
            return Ok(Some(bytes.clone()));
        }
        let plaintext = match (plaintext, &existing) {
            (Some(p), _) => p,
            (None, Some(existing)) => existing.open(&self.keyring)?,
            (None, None) => return Ok(None),
        };
        let mut to: Vec<(RegionId, EncryptionKey)> = existing
            .iter()
            .flat_map(|e| e.recipients.iter().map(|r| (r.region.clone(), r.key)))
            .collect();
        to.extend(parties);
        let random = self.randomness.next();
        let bytes = SealedMaterial::seal(&plaintext, &to, &random)?.encode()?;
        self.store.put(Table::SealedMaterials, &digest.0, &bytes)?;
        self.store.delete(Table::Materials, &digest.0)?;
        Ok(Some(bytes))
    }

    /// Keeps a sealed material that arrived for a case: it must be the material `digest`,
    /// sealed so that this node opens it (which checks it whole against its digest).
    pub(super) fn keep_sealed(&mut self, digest: &Digest, bytes: &[u8]) -> Result<()> {
        let sealed = SealedMaterial::decode(bytes)?;
        if &sealed.digest != digest {
            return Err(Error::SealBroken(format!(
                "material {digest} arrived sealed as material {}",
                sealed.digest
            )));
        }
        sealed.open(&self.keyring)?;
        self.store.put(Table::SealedMaterials, &digest.0, bytes)
    }

    /// Whether the node holds material `digest`, plain or sealed.
    pub(super) fn has_material(&self, digest: &Digest) -> Result<bool> {
        Ok(self.store.get(Table::Materials, &digest.0)?.is_some()
            || self.store.get(Table::SealedMaterials, &digest.0)?.is_some())
    }

    /// A kept material's bytes: an upload not cited yet as it is, a cited one opened with the
    /// node's keyring. [`Error::NotARecipient`] names who can read a sealed one this node
    /// cannot; [`Error::SealBroken`] says what is wrong with one that was altered.
    pub fn material(&self, digest: &Digest) -> Result<Option<Vec<u8>>> {
        if let Some(plain) = self.store.get(Table::Materials, &digest.0)? {
            return Ok(Some(plain));
        }
        match self.store.get(Table::SealedMaterials, &digest.0)? {
            Some(bytes) => SealedMaterial::decode(&bytes)?
                .open(&self.keyring)
                .map(Some),
            None => Ok(None),
        }
    }

    /// A cited material as the node keeps it, sealed (CBOR, `seal::SealedMaterial`), for
    /// checks and for tools that move it without reading it.
    pub fn sealed_material(&self, digest: &Digest) -> Result<Option<Vec<u8>>> {
        self.store.get(Table::SealedMaterials, &digest.0)
    }
}
