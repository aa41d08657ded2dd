//! Materials between regions: the handling region of a case collected elsewhere asks the
//! intake region for every material the case cites, chunk by chunk from where its copy
//! stands; the intake region serves only materials that case cites; each chunk is taken as an
//! upload is, and the whole file checked against its digest.

use super::Engine;
use super::materials::UploadStatus;
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
        let Some(record) = self.cases.get(case).cloned() else {
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
            if self.store.get(Table::Materials, &digest.0)?.is_some() {
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
        let status = match self.take_chunk(None, digest, offset, total, data, now) {
            // Our upload of it was dropped for being too old: ask for it from the start.
            Err(Error::UploadExpired(_)) => UploadStatus {
                digest,
                received: 0,
                total,
                complete: false,
            },
            other => other?,
        };
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
