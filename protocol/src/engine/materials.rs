//! Material uploads: a window sends a file in chunks, named by the SHA-256 the application
//! will cite; the node keeps the chunks until the file is whole, checks the digest, and then
//! keeps the file content-addressed. A file whose bytes do not match its digest is refused
//! and nothing of it is kept.

use serde::{Deserialize, Serialize};

use super::records::{self, upload_key};
use super::{Actor, Engine};
use crate::case::application::{MAX_MATERIAL_SIZE, SubmittedMaterial};
use crate::error::{Error, Result};
use crate::ids::{Digest, Timestamp, WindowId};
use crate::store::{Store, Table};

/// Largest chunk one upload call may carry.
pub(super) const MAX_UPLOAD_CHUNK: usize = 1 << 20;

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
    /// Takes one chunk of the material `digest` of `total` bytes, starting at `offset`, from
    /// `actor` (a window, or an admin). Chunks must come in order; a repeated chunk is
    /// harmless. A material a window uploaded is that window's to cite until an application
    /// cites it; another window that holds the same bytes uploads them too (they are matched
    /// against the kept material) and may then cite it as well. An upload not completed
    /// within `upload_expiry_ms` of its first chunk is dropped; a later chunk of it is
    /// answered [`Error::UploadExpired`] and the upload starts over.
    pub fn upload_chunk(
        &mut self,
        actor: &Actor,
        digest: Digest,
        offset: u64,
        total: u64,
        data: &[u8],
        now: Timestamp,
    ) -> Result<UploadStatus> {
        let by = match actor {
            Actor::Window { window, .. } => Some(window),
            Actor::Admin => None,
            Actor::BackOffice | Actor::ApplicantApp => {
                return Err(Error::Forbidden("materials are uploaded by windows".into()));
            }
        };
        self.take_chunk(by, digest, offset, total, data, now)
    }

    /// Takes one chunk from a window (`by`), an admin or a peer (`None`).
    pub(super) fn take_chunk(
        &mut self,
        by: Option<&WindowId>,
        digest: Digest,
        offset: u64,
        total: u64,
        data: &[u8],
        now: Timestamp,
    ) -> Result<UploadStatus> {
        let mut claim = self.upload_claim(&digest)?;
        if let Some(held) = self.store.get(Table::Materials, &digest.0)? {
            match by {
                Some(window) if !claim.owners.is_empty() && !claim.owners.contains(window) => {
                    return self
                        .prove_chunk(window, claim, &held, digest, offset, total, data, now);
                }
                _ => {
                    let total = held.len() as u64;
                    return Ok(UploadStatus {
                        digest,
                        received: total,
                        total,
                        complete: true,
                    });
                }
            }
        }
        check_chunk(total, data)?;
        let prefix = digest.0.to_vec();
        let chunks = self.store.scan_prefix(Table::Uploads, &prefix)?;
        let received: u64 = chunks.iter().map(|(_, v)| v.len() as u64).sum();
        let end = chunk_end(offset, total, data)?;
        if received == 0 {
            if offset > 0 {
                return Err(self.start_over(&claim, digest, offset));
            }
        } else if claim.partial.as_ref().is_some_and(|p| p.by.as_ref() != by) {
            return Err(Error::Forbidden(format!(
                "material {digest} is being uploaded by another window or the node itself; \
                 upload it once that upload is complete (or dropped after {} hours)",
                self.config.upload_expiry_ms / 3_600_000
            )));
        }
        if let Some(repeat) = next_chunk(digest, offset, received, total)? {
            return Ok(repeat);
        }
        if received == 0 {
            claim.partial = Some(Partial {
                by: by.cloned(),
                started: now,
            });
            claim.expired_at = None;
        }
        self.store
            .put(Table::Uploads, &upload_key(&digest, offset), data)?;
        if end < total {
            self.put_claim(&digest, &claim)?;
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
        claim.partial = None;
        let actual = self.suite().digest(&whole);
        if actual != digest {
            self.put_claim(&digest, &claim)?;
            return Err(Error::InvalidInput(format!(
                "the material's {} digest is {actual}, not {digest}: upload it again, \
                 addressed by its {} (the federation's suite is {})",
                self.suite().digest_name(),
                self.suite().digest_name(),
                self.suite()
            )));
        }
        if let Some(window) = by {
            claim.owners.push(window.clone());
        }
        self.put_claim(&digest, &claim)?;
        self.store.put(Table::Materials, &digest.0, &whole)?;
        Ok(UploadStatus {
            digest,
            received: total,
            total,
            complete: true,
        })
    }

    /// A chunk from `window` of a material already kept here and another window's to cite:
    /// matched against the kept bytes; once all of them matched, `window` may cite it too.
    #[allow(clippy::too_many_arguments)]
    fn prove_chunk(
        &mut self,
        window: &WindowId,
        mut claim: UploadClaim,
        held: &[u8],
        digest: Digest,
        offset: u64,
        total: u64,
        data: &[u8],
        now: Timestamp,
    ) -> Result<UploadStatus> {
        check_chunk(total, data)?;
        if total != held.len() as u64 {
            return Err(Error::InvalidInput(format!(
                "total: material {digest} is {} bytes, not {total}",
                held.len()
            )));
        }
        let end = chunk_end(offset, total, data)?;
        let position = claim.proving.iter().position(|p| &p.window == window);
        let (received, started) = position.map_or((0, now), |i| {
            (claim.proving[i].received, claim.proving[i].started)
        });
        if position.is_none() && offset > 0 {
            return Err(self.start_over(&claim, digest, offset));
        }
        if let Some(repeat) = next_chunk(digest, offset, received, total)? {
            return Ok(repeat);
        }
        let matches = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(a, b)| held.get(a..b))
            == Some(data);
        if let Some(i) = position {
            claim.proving.remove(i);
        }
        if !matches {
            self.put_claim(&digest, &claim)?;
            return Err(Error::InvalidInput(format!(
                "the bytes at offset {offset} are not material {digest}'s: upload it again \
                 from offset 0"
            )));
        }
        let complete = end == total;
        if complete {
            claim.owners.push(window.clone());
        } else {
            claim.proving.push(Proof {
                window: window.clone(),
                received: end,
                started,
            });
        }
        self.put_claim(&digest, &claim)?;
        Ok(UploadStatus {
            digest,
            received: end,
            total,
            complete,
        })
    }

    /// The error for a chunk past offset 0 of an upload not in progress.
    fn start_over(&self, claim: &UploadClaim, digest: Digest, offset: u64) -> Error {
        match claim.expired_at {
            Some(at) => Error::UploadExpired(format!(
                "the upload of material {digest} was not completed within {} hours of its first \
                 chunk and was dropped at {} ms: start over from offset 0",
                self.config.upload_expiry_ms / 3_600_000,
                at.0
            )),
            None => Error::InvalidInput(format!("offset {offset}: the next chunk must start at 0")),
        }
    }

    /// Who may cite `digest` and how its upload stands (empty if nothing is recorded).
    fn upload_claim(&self, digest: &Digest) -> Result<UploadClaim> {
        Ok(records::get(&self.store, Table::UploadClaims, &digest.0)?.unwrap_or_default())
    }

    fn put_claim(&mut self, digest: &Digest, claim: &UploadClaim) -> Result<()> {
        if claim.is_empty() {
            self.store.delete(Table::UploadClaims, &digest.0)
        } else {
            records::put(&mut self.store, Table::UploadClaims, &digest.0, claim)
        }
    }

    /// The problems with `window` citing `materials`: each one another window uploaded and no
    /// application cited yet.
    pub(super) fn uncitable(
        &self,
        window: &WindowId,
        materials: &[SubmittedMaterial],
    ) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        for m in materials {
            let claim = self.upload_claim(&m.digest)?;
            if !claim.owners.is_empty() && !claim.owners.contains(window) {
                problems.push(format!(
                    "materials: {} ({}) was uploaded at another window, and a material is the \
                     uploading window's to cite until an application cites it: upload it from \
                     this window (PUT /api/v1/materials/{})",
                    m.material, m.digest, m.digest
                ));
            }
        }
        Ok(problems)
    }

    /// `materials` are cited by `record`'s case now: they belong to it, no longer to a window,
    /// and are kept sealed to the case's parties (see `sealing`).
    pub(super) fn release_claims(
        &mut self,
        record: &super::records::CaseRecord,
        materials: &[SubmittedMaterial],
    ) -> Result<()> {
        self.seal_cited(record, materials)?;
        for m in materials {
            let mut claim = self.upload_claim(&m.digest)?;
            if claim.owners.is_empty() && claim.proving.is_empty() {
                continue;
            }
            claim.owners.clear();
            claim.proving.clear();
            self.put_claim(&m.digest, &claim)?;
        }
        Ok(())
    }

    /// Drops every upload whose first chunk is older than `upload_expiry_ms` (at most once
    /// per 1/24 of it), and forgets expiries older than that again.
    pub(super) fn expire_uploads(&mut self, now: Timestamp) -> Result<()> {
        let limit = self.config.upload_expiry_ms;
        if self.last_upload_sweep.is_some() && now < self.upload_sweep_deadline() {
            return Ok(());
        }
        self.last_upload_sweep = Some(now);
        let due = |t: Timestamp| now.0 >= t.0.saturating_add(limit);
        for (key, value) in self.store.scan_prefix(Table::UploadClaims, &[])? {
            let digest = Digest(<[u8; 32]>::try_from(key.as_slice()).map_err(|_| {
                Error::Storage(format!("an upload claim has a key of {} bytes", key.len()))
            })?);
            let mut claim: UploadClaim = crate::codec::from_cbor(&value, 1 << 20, "upload claim")?;
            let mut expired = 0;
            if claim.partial.as_ref().is_some_and(|p| due(p.started)) {
                for (chunk, _) in self.store.scan_prefix(Table::Uploads, &digest.0)? {
                    self.store.delete(Table::Uploads, &chunk)?;
                }
                claim.partial = None;
                expired += 1;
            }
            let proving = claim.proving.len();
            claim.proving.retain(|p| !due(p.started));
            expired += proving - claim.proving.len();
            if expired > 0 {
                claim.expired_at = Some(now);
                self.metrics.uploads_expired += expired as u64;
            } else if claim.expired_at.is_some_and(due) {
                claim.expired_at = None;
            } else {
                continue;
            }
            self.put_claim(&digest, &claim)?;
        }
        Ok(())
    }

    /// At open: gives every upload in progress that has no record of when it began (kept by
    /// an older version) one that begins now, so that it expires too.
    pub(super) fn adopt_unclaimed_uploads(&mut self, now: Timestamp) -> Result<()> {
        let mut digests: Vec<Digest> = Vec::new();
        for (key, _) in self.store.scan_prefix(Table::Uploads, &[])? {
            if let Some(Ok(d)) = key.get(..32).map(<[u8; 32]>::try_from)
                && digests.last() != Some(&Digest(d))
            {
                digests.push(Digest(d));
            }
        }
        for digest in digests {
            let mut claim = self.upload_claim(&digest)?;
            if claim.partial.is_none() {
                claim.partial = Some(Partial {
                    by: None,
                    started: now,
                });
                self.put_claim(&digest, &claim)?;
            }
        }
        Ok(())
    }
}

/// What is recorded of one material's uploads (in [`Table::UploadClaims`], by digest).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct UploadClaim {
    /// The upload in progress, if any.
    #[serde(default)]
    partial: Option<Partial>,
    /// The windows that sent the whole material and may cite it until an application does.
    /// Empty: anyone may (uploaded by an admin, fetched from a peer, or cited by a case).
    #[serde(default)]
    owners: Vec<WindowId>,
    /// Windows sending the bytes of the kept material to be allowed to cite it too.
    #[serde(default)]
    proving: Vec<Proof>,
    /// When an upload in progress was last dropped for being too old, so that the client that
    /// resumes it is told to start over.
    #[serde(default)]
    expired_at: Option<Timestamp>,
}

impl UploadClaim {
    fn is_empty(&self) -> bool {
        self.partial.is_none()
            && self.owners.is_empty()
            && self.proving.is_empty()
            && self.expired_at.is_none()
    }
}

/// An upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Partial {
    /// The window that sent its first chunk (`None`: an admin, or a fetch from a peer).
    by: Option<WindowId>,
    /// When.
    started: Timestamp,
}

/// A window matching its bytes against a kept material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Proof {
    window: WindowId,
    /// Bytes matched so far, from the start.
    received: u64,
    /// When its first chunk came.
    started: Timestamp,
}

/// A chunk's own limits, and the material's.
fn check_chunk(total: u64, data: &[u8]) -> Result<()> {
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
    Ok(())
}

/// Where a chunk at `offset` ends, if within `total`.
fn chunk_end(offset: u64, total: u64, data: &[u8]) -> Result<u64> {
    offset
        .checked_add(data.len() as u64)
        .filter(|e| *e <= total)
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "a chunk of {} bytes at offset {offset} runs past the total of {total} bytes",
                data.len()
            ))
        })
}

/// Where a chunk at `offset` stands against the `received` bytes of an upload: a repeat of
/// one already taken (a client's retry) is answered with the status and nothing else; one
/// past a gap is refused; the next one (`Ok(None)`) is to be taken.
fn next_chunk(
    digest: Digest,
    offset: u64,
    received: u64,
    total: u64,
) -> Result<Option<UploadStatus>> {
    if offset < received {
        return Ok(Some(UploadStatus {
            digest,
            received,
            total,
            complete: false,
        }));
    }
    if offset > received {
        return Err(Error::InvalidInput(format!(
            "offset {offset}: the next chunk must start at {received}"
        )));
    }
    Ok(None)
}
