//! Material uploads: a window sends a file in chunks, named by the SHA-256 the application
//! will cite; the node keeps the chunks until the file is whole, checks the digest, and then
//! keeps the file content-addressed. A file whose bytes do not match its digest is refused
//! and nothing of it is kept.

use serde::Serialize;

use super::Engine;
use super::records::upload_key;
use crate::case::application::MAX_MATERIAL_SIZE;
use crate::error::{Error, Result};
use crate::ids::Digest;
use crate::store::{Store, Table};

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
