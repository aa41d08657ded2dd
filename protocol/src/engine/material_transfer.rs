//! Materials between regions: the handling region of a case collected elsewhere asks the
//! intake region for every material the case cites, chunk by chunk from where its copy
//! stands; the intake region serves only materials that case cites, and only sealed to the
//! case's parties (see `sealing`): the bytes that cross the federation are ciphertext. The
//! handling region checks the whole sealed material by opening it (which checks it against
//! its digest) and keeps it sealed. A whole plaintext whose digest matches (from a node of a
//! version before sealing) is taken too, and sealed here.

use super::Engine;
use super::materials::MAX_UPLOAD_CHUNK;
use crate::case::events::{Event, EventKind, Side};
use crate::error::{Error, Result};
use crate::ids::{CaseId, Digest, RegionId, Timestamp};
use crate::store::{Store, Table};
use crate::wire::{MAX_CHUNK, Message};

/// The materials a case's intake log cites: the application's and every supplement's.
fn cited(events: &[Event]) -> Vec<Digest> {
    let mut out = Vec::new();
    for e in events {
        let materials = match &e.kind {
            EventKind::Submitted { application } => &application.materials,
            EventKind::SupplementProvided { materials, .. } => materials,
            _ => continue,
        };
        // A cited licence travels inside the application itself.
        for m in materials.iter().filter(|m| m.licence.is_none()) {
            if !out.contains(&m.digest) {
                out.push(m.digest);
            }
        }
    }
    out
}

impl<S: Store> Engine<S> {
    /// As the handling region of a case collected elsewhere: asks the intake region for every
    /// material the case cites that is not held here yet, from where its upload stands.
    pub(super) fn fetch_materials(&mut self, case: &CaseId, now: Timestamp) -> Result<()> {
        let Some(record) = self.case_record(case)? else {
            return Ok(());
        };
        if !record.fetches_materials(&self.me) {
            return Ok(());
        }
        let logs = self.load_logs(case)?;
        let recent = self.config.retry_initial_ms;
        if self.material_asks.len() > 4096 {
            self.material_asks
                .retain(|_, at| now.0 < at.0.saturating_add(recent));
        }
        for digest in cited(logs.log(Side::Intake)) {
            if self.has_material(&digest)? {
                self.material_asks.remove(&digest);
                continue;
            }
            // Many cases of one batch may cite the same material: one ask is on its way.
            if self
                .material_asks
                .get(&digest)
                .is_some_and(|at| now.0 < at.0.saturating_add(recent))
            {
                continue;
            }
            self.material_asks.insert(digest, now);
            let offset: u64 = self
                .store
                .scan_prefix(Table::SealedTransfers, &digest.0)?
                .iter()
                .map(|(_, v)| v.len() as u64)
                .sum();
            let body = Message::MaterialFetch {
                case: case.clone(),
                digest,
                offset,
            };
            self.send(&record.intake_region, body, now)?;
        }
        Ok(())
    }

    /// As the intake region: sends `to` one chunk of a material its case cites.
    pub(super) fn serve_material(
        &mut self,
        to: &RegionId,
        case: &CaseId,
        digest: Digest,
        offset: u64,
        now: Timestamp,
    ) -> Result<()> {
        let record = self
            .case_record(case)?
            .ok_or_else(|| Error::NotFound(format!("case {case}")))?;
        if !record.serves_materials_to(&self.me, to) {
            return Err(Error::Forbidden(format!(
                "case {case} is not collected here for region {to}"
            )));
        }
        let logs = self.load_logs(case)?;
        if !cited(logs.log(Side::Intake)).contains(&digest) {
            return Err(Error::Forbidden(format!(
                "case {case} cites no material {digest}"
            )));
        }
        let record = record.clone();
        let bytes = self
            .sealed_for(&record, &digest)?
            .ok_or_else(|| Error::NotFound(format!("material {digest}")))?;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let end = (start + MAX_CHUNK).min(bytes.len());
        let body = Message::MaterialChunk {
            case: case.clone(),
            digest,
            offset: start as u64,
            total: bytes.len() as u64,
            data: serde_bytes::ByteBuf::from(bytes[start..end].to_vec()),
        };
        self.send(to, body, now)
    }

    /// As the handling region: takes one chunk from the intake region, checks the whole
    /// sealed material when complete, and asks for the next chunk if any.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn take_material_chunk(
        &mut self,
        from: &RegionId,
        case: &CaseId,
        digest: Digest,
        offset: u64,
        total: u64,
        data: &[u8],
        now: Timestamp,
    ) -> Result<()> {
        let record = self
            .case_record(case)?
            .ok_or_else(|| Error::NotFound(format!("case {case}")))?;
        if !record.takes_materials_from(&self.me, from) {
            return Err(Error::Forbidden(format!(
                "region {from} sends no materials for case {case}"
            )));
        }
        let logs = self.load_logs(case)?;
        if !cited(logs.log(Side::Intake)).contains(&digest) {
            return Err(Error::Forbidden(format!(
                "case {case} cites no material {digest}"
            )));
        }
        let received = self.take_sealed_chunk(from, case, digest, offset, total, data)?;
        if let Some(received) = received {
            let body = Message::MaterialFetch {
                case: case.clone(),
                digest,
                offset: received,
            };
            self.send(from, body, now)?;
        }
        Ok(())
    }
}

/// Where a sealed transfer's chunks are kept: the digest, then the offset.
fn transfer_key(digest: &Digest, offset: u64) -> Vec<u8> {
    [&digest.0[..], &offset.to_be_bytes()].concat()
}

impl<S: Store> Engine<S> {
    /// Takes one chunk of the sealed material `digest` of `total` bytes: `Some(offset)` of
    /// the next chunk to ask for, `None` once the material is whole and kept (or was already).
    /// A whole material that does not open here is dropped and refused, to be asked again.
    fn take_sealed_chunk(
        &mut self,
        from: &RegionId,
        case: &CaseId,
        digest: Digest,
        offset: u64,
        total: u64,
        data: &[u8],
    ) -> Result<Option<u64>> {
        if self.has_material(&digest)? {
            return Ok(None);
        }
        if total == 0 || total > crate::seal::MAX_SEALED_SIZE as u64 {
            return Err(Error::InvalidInput(format!(
                "total: a sealed material is 1 to {} bytes, not {total}",
                crate::seal::MAX_SEALED_SIZE
            )));
        }
        if data.is_empty() || data.len() > MAX_UPLOAD_CHUNK {
            return Err(Error::InvalidInput(format!(
                "a chunk is 1 to {MAX_UPLOAD_CHUNK} bytes, not {}",
                data.len()
            )));
        }
        let chunks = self.store.scan_prefix(Table::SealedTransfers, &digest.0)?;
        let received: u64 = chunks.iter().map(|(_, v)| v.len() as u64).sum();
        let end = offset.saturating_add(data.len() as u64);
        if offset != received || end > total {
            // A repeat, or past a gap: ask again from where the copy stands.
            return Ok(Some(received));
        }
        if end < total {
            self.store
                .put(Table::SealedTransfers, &transfer_key(&digest, offset), data)?;
            return Ok(Some(end));
        }
        let mut whole = Vec::with_capacity(usize::try_from(total).unwrap_or_default());
        for (key, chunk) in &chunks {
            whole.extend_from_slice(chunk);
            self.store.delete(Table::SealedTransfers, key)?;
        }
        whole.extend_from_slice(data);
        if self.suite().digest(&whole) == digest {
            // The plaintext itself, from a node of a version before sealing.
            let record = self
                .case_record(case)?
                .ok_or_else(|| Error::NotFound(format!("case {case}")))?;
            self.store.put(Table::Materials, &digest.0, &whole)?;
            self.sealed_for(&record, &digest)?;
            return Ok(None);
        }
        self.keep_sealed(from, &digest, &whole)?;
        Ok(None)
    }
}
