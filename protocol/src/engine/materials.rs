//! Material uploads: a window sends a file in chunks, named by the SHA-256 the application
//! will cite; the node keeps the chunks until the file is whole, checks the digest, and then
//! keeps the file content-addressed. A file whose bytes do not match its digest is refused
//! and nothing of it is kept.

use serde::Serialize;

use super::Engine;
use super::records::upload_key;
use crate::case::application::MAX_MATERIAL_SIZE;
use crate::case::events::{Event, EventKind, Side};
use crate::error::{Error, Result};
use crate::ids::{CaseId, Digest, RegionId, Timestamp};
use crate::store::{Store, Table};
use crate::wire::{MAX_CHUNK, Message};

/// Largest chunk one upload call may carry.
pub const MAX_UPLOAD_CHUNK: usize = 1 << 20;

/// How an upload stands after a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadStatus {
    /// The material's digest.
    pub digest: Digest,
    /// Bytes received so far, from the start without gaps.
    pub received: u64,
    /// The material's total size.
    pub total: u64,
    /// Whether the material is whole, checked and kept.
    pub complete: bool,
}

impl<S: Store> Engine<S> {
    /// Takes one chunk of the material `digest` of `total` bytes, starting at `offset`.
    /// Chunks must come in order; a repeated chunk is harmless.
    pub fn upload_chunk(
        &mut self,
        digest: Digest,
        offset: u64,
        total: u64,
        data: &[u8],
    ) -> Result<UploadStatus> {
        if self.store.get(Table::Materials, &digest.0)?.is_some() {
            return Ok(UploadStatus {
                digest,
                received: total,
                total,
                complete: true,
            });
        }
        if total == 0 || total > MAX_MATERIAL_SIZE {
            return Err(Error::InvalidInput(format!(
                "total: a material is 1 to {MAX_MATERIAL_SIZE} bytes, not {total}"
            )));
        }
        if data.is_empty() || data.len() > MAX_UPLOAD_CHUNK {
            return Err(Error::InvalidInput(format!(
                "a chunk is 1 to {MAX_UPLOAD_CHUNK} bytes, not {}",
                data.len()
            )));
        }
        let prefix = digest.0.to_vec();
        let chunks = self.store.scan_prefix(Table::Uploads, &prefix)?;
        let received: u64 = chunks.iter().map(|(_, v)| v.len() as u64).sum();
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|e| *e <= total)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "a chunk of {} bytes at offset {offset} runs past the total of {total} bytes",
                    data.len()
                ))
            })?;
        if offset < received {
            // A repeat of a chunk already taken (a retry): nothing to do.
            return Ok(UploadStatus {
                digest,
                received,
                total,
                complete: false,
            });
        }
        if offset > received {
            return Err(Error::InvalidInput(format!(
                "offset {offset}: the next chunk must start at {received}"
            )));
        }
        self.store
            .put(Table::Uploads, &upload_key(&digest, offset), data)?;
        if end < total {
            return Ok(UploadStatus {
                digest,
                received: end,
                total,
                complete: false,
            });
        }
        let mut whole = Vec::with_capacity(total as usize);
        for (_, chunk) in &chunks {
            whole.extend_from_slice(chunk);
        }
        whole.extend_from_slice(data);
        for (key, _) in &chunks {
            self.store.delete(Table::Uploads, key)?;
        }
        self.store
            .delete(Table::Uploads, &upload_key(&digest, offset))?;
        let actual = Digest::of(&whole);
        if actual != digest {
            return Err(Error::InvalidInput(format!(
                "the material's SHA-256 is {actual}, not {digest}: upload it again"
            )));
        }
        self.store.put(Table::Materials, &digest.0, &whole)?;
        Ok(UploadStatus {
            digest,
            received: total,
            total,
            complete: true,
        })
    }

    /// A kept material's bytes.
    pub fn material(&self, digest: &Digest) -> Result<Option<Vec<u8>>> {
        self.store.get(Table::Materials, &digest.0)
    }
}

/// The materials a case's intake log cites: the application's and every supplement's.
fn cited(events: &[Event]) -> Vec<Digest> {
    let mut out = Vec::new();
    for e in events {
        let materials = match &e.kind {
            EventKind::Submitted { application } => &application.materials,
            EventKind::SupplementProvided { materials, .. } => materials,
            _ => continue,
        };
        for m in materials {
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
        let Some(record) = self.cases.get(case).cloned() else {
            return Ok(());
        };
        if record.handling_region != self.me || record.intake_region == self.me {
            return Ok(());
        }
        let logs = self.load_logs(case)?;
        for digest in cited(logs.log(Side::Intake)) {
            if self.store.get(Table::Materials, &digest.0)?.is_some() {
                continue;
            }
            let offset: u64 = self
                .store
                .scan_prefix(Table::Uploads, &digest.0)?
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
            .cases
            .get(case)
            .ok_or_else(|| Error::NotFound(format!("case {case}")))?;
        if record.peer_of(&self.me) != Some(to) || record.intake_region != self.me {
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
        let bytes = self
            .store
            .get(Table::Materials, &digest.0)?
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
    /// material against its digest when complete, and asks for the next chunk if any.
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
            .cases
            .get(case)
            .ok_or_else(|| Error::NotFound(format!("case {case}")))?;
        if record.intake_region != *from || record.handling_region != self.me {
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
        let status = self.upload_chunk(digest, offset, total, data)?;
        if !status.complete {
            let body = Message::MaterialFetch {
                case: case.clone(),
                digest,
                offset: status.received,
            };
            self.send(from, body, now)?;
        }
        Ok(())
    }
}
