//! What the engine knows of every case without holding them in memory: the case records live
//! in the store only ([`Table::Cases`]), and three things kept beside them, in the same
//! commits, answer what used to need every record at hand:
//!
//! - [`Table::CaseShares`]: per peer, the sequence numbers of each case shared with it, in
//!   reconciliation's order — a reconciliation session reads one peer's entries and nothing
//!   else;
//! - [`Table::OfficeWork`]: the cases this region's back office still has work in, which a
//!   restart hands over again ([`Engine::open_handling_cases`]);
//! - [`Table::CasesByTime`]: every case by (collection time, case), which worklists read
//!   backwards a page at a time, newest first, stopping when the page is full;
//! - the case counts by stage, in [`Table::Meta`].
//!
//! So a node with a million cases opens in the time it takes to read its outbox and its open
//! work, and holds no memory per case. A store written before these existed is indexed once,
//! when it is first opened ([`Engine::index_cases`]).

use serde::{Deserialize, Serialize};

use super::Engine;
use super::query::CaseCounts;
use super::records::{self, CaseRecord};
use crate::case::fold::Stage;
use crate::error::Result;
use crate::ids::{CaseId, RegionId};
use crate::reconcile::Entry;
use crate::store::{Store, Table};

/// The Meta key of the case counts.
const META_COUNTS: &[u8] = b"case_counts";
/// The Meta key of the index's version: absent in a store written before the index.
const META_VERSION: &[u8] = b"case_index";
/// The index's version.
const VERSION: u32 = 1;

/// What a peer's reconciliation needs of one case: how much of each log is held here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Shared {
    intake_seq: u32,
    handling_seq: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    participant_seqs: Vec<u32>,
}

/// How many cases a worklist reads from the store first; each further page is twice as big,
/// so a filter that matches few cases (one applicant's, one stage's) costs a logarithmic
/// number of store reads, not one per 256 cases.
const PAGE: usize = 256;

/// Whether opening an engine on `store` will index every case first: the store holds cases
/// but was kept before the case index. A driver says so before it opens the engine, because
/// the indexing reads every case's logs once (minutes for a million cases).
pub fn store_needs_case_index<S: Store>(store: &S) -> Result<bool> {
    let version: Option<u32> = records::get(store, Table::Meta, META_VERSION)?;
    Ok(version != Some(VERSION) && !store.scan_back(Table::Cases, &[], None, 1)?.is_empty())
}

/// The key of a case in [`Table::CasesByTime`].
fn time_key(record: &CaseRecord) -> Vec<u8> {
    let mut key = record.submitted_at.0.to_be_bytes().to_vec();
    key.extend_from_slice(record.case.as_str().as_bytes());
    key
}

/// The key of `case`'s entry among those shared with `peer`.
fn share_key(peer: &RegionId, case: &CaseId) -> Vec<u8> {
    let mut key = share_prefix(peer);
    key.extend_from_slice(case.as_str().as_bytes());
    key
}

/// The prefix of every entry shared with `peer`.
fn share_prefix(peer: &RegionId) -> Vec<u8> {
    let mut key = peer.as_str().as_bytes().to_vec();
    key.push(0);
    key
}

impl CaseCounts {
    /// Counts `record` once more (`by` 1) or once less (`by` -1) where `me` stands in it.
    fn count(&mut self, me: &RegionId, record: &CaseRecord, by: isize) {
        let add = |map: &mut std::collections::BTreeMap<Stage, usize>| {
            let n = map.entry(record.stage).or_default();
            *n = n.saturating_add_signed(by);
            if *n == 0 {
                map.remove(&record.stage);
            }
        };
        if &record.intake_region == me {
            add(&mut self.collected);
        }
        if &record.handling_region == me {
            add(&mut self.handled);
        }
    }
}

impl<S: Store> Engine<S> {
    /// A case's record, read from the store.
    pub fn case_record(&self, case: &CaseId) -> Result<Option<CaseRecord>> {
        records::get(&self.store, Table::Cases, case.as_str().as_bytes())
    }

    /// Every case's record, read from the store: for drivers that compare nodes (tests, the
    /// simulator), never for a running node's routine work.
    pub fn case_records(&self) -> Result<Vec<CaseRecord>> {
        self.store
            .scan_prefix(Table::Cases, &[])?
            .into_iter()
            .map(|(_, value)| crate::codec::from_cbor(&value, 1 << 20, "case record"))
            .collect()
    }

    /// Case counts by stage, for health pages and the demo's progress.
    pub fn case_counts(&self) -> CaseCounts {
        self.counts.clone()
    }

    /// Keeps a case's record, with its index entries: its shares with each peer, whether the
    /// back office has work in it, and the counts.
    pub(super) fn save_record(&mut self, record: &CaseRecord) -> Result<()> {
        let before = self.case_record(&record.case)?;
        records::put(
            &mut self.store,
            Table::Cases,
            record.case.as_str().as_bytes(),
            record,
        )?;
        self.index_record(before.as_ref(), record)
    }

    /// The index entries of `record`, replacing those of `before` (the record as it was).
    fn index_record(&mut self, before: Option<&CaseRecord>, record: &CaseRecord) -> Result<()> {
        let shared = Shared {
            intake_seq: record.intake_seq,
            handling_seq: record.handling_seq,
            participant_seqs: record.participant_seqs.clone(),
        };
        let changed = before.is_none_or(|b| {
            (b.intake_seq, b.handling_seq, &b.participant_seqs)
                != (
                    record.intake_seq,
                    record.handling_seq,
                    &record.participant_seqs,
                )
        });
        if changed {
            for peer in record.peers_of(&self.me) {
                records::put(
                    &mut self.store,
                    Table::CaseShares,
                    &share_key(&peer, &record.case),
                    &shared,
                )?;
                self.share_changed(
                    &peer,
                    Entry::new(record.case.clone(), shared.intake_seq, shared.handling_seq)
                        .with_participants(shared.participant_seqs.clone()),
                );
            }
        }
        if before.is_none() {
            self.store.put(Table::CasesByTime, &time_key(record), &[])?;
        }
        let key = record.case.as_str().as_bytes();
        if self.office_has_work(record) {
            if before.is_none_or(|b| !self.office_has_work(b)) {
                self.store.put(Table::OfficeWork, key, &[])?;
            }
        } else if before.is_some_and(|b| self.office_has_work(b)) {
            self.store.delete(Table::OfficeWork, key)?;
        }
        if before.map(|b| b.stage) != Some(record.stage) {
            if let Some(b) = before {
                self.counts.count(&self.me, b, -1);
            }
            self.counts.count(&self.me, record, 1);
            records::put(&mut self.store, Table::Meta, META_COUNTS, &self.counts)?;
        }
        Ok(())
    }

    /// Whether this region's back office may still have work in the case: it handles it or
    /// does one of its steps, the case was not refused or withdrawn, and the record does not
    /// say the work is over.
    pub(super) fn office_has_work(&self, record: &CaseRecord) -> bool {
        (record.handling_region == self.me || record.participants.contains(&self.me))
            && !matches!(record.stage, Stage::Rejected | Stage::Withdrawn)
            && !record.office_done
    }

    /// The cases the back office may still have work in (see [`Table::OfficeWork`]).
    pub(super) fn office_work(&self) -> Result<Vec<CaseRecord>> {
        let mut out = Vec::new();
        for (key, _) in self.store.scan_prefix(Table::OfficeWork, &[])? {
            let case = CaseId::new(String::from_utf8_lossy(&key).into_owned())?;
            if let Some(record) = self.case_record(&case)? {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// Calls `take` with each case collected before `until` (every case when `None`), newest
    /// first, until it answers false: what worklists page through.
    pub(super) fn cases_newest_first(
        &self,
        until: Option<crate::ids::Timestamp>,
        mut take: impl FnMut(CaseRecord) -> Result<bool>,
    ) -> Result<()> {
        let mut below: Option<Vec<u8>> = until.map(|u| u.0.to_be_bytes().to_vec());
        let mut size = PAGE;
        loop {
            let page = self
                .store
                .scan_back(Table::CasesByTime, &[], below.as_deref(), size)?;
            size = size.saturating_mul(2);
            let Some((last, _)) = page.last() else {
                return Ok(());
            };
            below = Some(last.clone());
            for (key, _) in &page {
                let case = CaseId::new(
                    String::from_utf8_lossy(key.get(8..).unwrap_or_default()).into_owned(),
                )?;
                if let Some(record) = self.case_record(&case)?
                    && !take(record)?
                {
                    return Ok(());
                }
            }
        }
    }

    /// The reconciliation entries of the cases shared with `peer`.
    pub(super) fn shared_entries(&self, peer: &RegionId) -> Result<Vec<Entry>> {
        let prefix = share_prefix(peer);
        let mut out = Vec::new();
        for (key, value) in self.store.scan_prefix(Table::CaseShares, &prefix)? {
            let case = CaseId::new(String::from_utf8_lossy(&key[prefix.len()..]).into_owned())?;
            let s: Shared = crate::codec::from_cbor(&value, 1 << 16, "case share")?;
            out.push(
                Entry::new(case, s.intake_seq, s.handling_seq)
                    .with_participants(s.participant_seqs),
            );
        }
        Ok(out)
    }

    /// Loads the counts, indexing every case first if the store was written before the index
    /// (once: a store of a million cases takes some seconds).
    pub(super) fn index_cases(&mut self) -> Result<()> {
        let version: Option<u32> = records::get(&self.store, Table::Meta, META_VERSION)?;
        if version == Some(VERSION) {
            self.counts = records::get(&self.store, Table::Meta, META_COUNTS)?.unwrap_or_default();
            return Ok(());
        }
        self.counts = CaseCounts::default();
        for (key, _) in self.store.scan_prefix(Table::CaseShares, &[])? {
            self.store.delete(Table::CaseShares, &key)?;
        }
        for table in [Table::OfficeWork, Table::CasesByTime] {
            for (key, _) in self.store.scan_prefix(table, &[])? {
                self.store.delete(table, &key)?;
            }
        }
        for mut record in self.case_records()? {
            // Records kept before `office_done` existed: the logs are read once, now, rather
            // than at every restart.
            if !record.office_done {
                let state = self.load_logs(&record.case)?.state();
                if record.office_done_in(&self.me, &state) {
                    record.office_done = true;
                    records::put(
                        &mut self.store,
                        Table::Cases,
                        record.case.as_str().as_bytes(),
                        &record,
                    )?;
                }
            }
            self.index_record(None, &record)?;
        }
        records::put(&mut self.store, Table::Meta, META_COUNTS, &self.counts)?;
        records::put(&mut self.store, Table::Meta, META_VERSION, &VERSION)?;
        Ok(())
    }
}
