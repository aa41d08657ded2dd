//! The files a node config names, read and checked as the daemon starts: the node key, the
//! signed genesis roster (and its pin), the region's own catalog and the holiday calendar;
//! and the bounded file reading every loader of the node uses.

use std::path::Path;

use tongban_protocol::case::calendar::HolidayCalendar;
use tongban_protocol::catalog::{CatalogFile, MAX_CATALOG_SIZE};
use tongban_protocol::envelope::Identity;
use tongban_protocol::ids::Timestamp;
use tongban_protocol::roster::{MAX_ROSTER_DOCUMENT, Roster, RosterDocument};

use super::{LoadedRoster, NodeConfig};
use crate::error::NodeError;

/// The largest holiday calendar file read.
const MAX_CALENDAR_FILE: u64 = 1 << 20;

impl NodeConfig {
    /// Reads the node's identity from `key_file` (see [`crate::keys::read_key_file`]).
    pub fn load_identity(&self) -> Result<Identity, NodeError> {
        crate::keys::read_key_file(&self.key_file)
    }

    /// Reads the roster document and accepts it as the genesis roster at `now`: valid, signed
    /// by a quorum of its own governance keys, and matching `roster_digest` when pinned; then
    /// applies `roster_updates` in order, each signed by a quorum of the roster before it.
    pub fn load_roster(&self, now: Timestamp) -> Result<LoadedRoster, NodeError> {
        let path = &self.roster;
        let content = |source| NodeError::Content {
            what: "roster document",
            path: path.clone(),
            source,
        };
        let bytes = read_limited(path, "roster document", MAX_ROSTER_DOCUMENT as u64)?;
        let document = RosterDocument::decode(&bytes).map_err(content)?;
        let roster = Roster::accept_genesis(&document, now).map_err(content)?;
        if let Some(pin) = self.roster_digest {
            let digest = roster.digest().map_err(content)?;
            if digest != pin {
                return Err(NodeError::Refused(format!(
                    "{}: roster_digest pins {pin}, but {} holds roster version {} with digest \
                     {digest}; check that the file is the federation's roster, or correct the pin",
                    self.source.display(),
                    path.display(),
                    roster.version
                )));
            }
        }
        let (mut document, mut roster) = (document, roster);
        for update in &self.roster_updates {
            let content = |source| NodeError::Content {
                what: "roster update (roster_updates)",
                path: update.clone(),
                source,
            };
            let bytes = read_limited(update, "roster update", MAX_ROSTER_DOCUMENT as u64)?;
            let next = RosterDocument::decode(&bytes).map_err(content)?;
            roster = roster.accept_update(&next, now).map_err(content)?;
            document = next;
        }
        Ok(LoadedRoster { document, roster })
    }

    /// The roster documents the config names, the genesis first, then `roster_updates`: what
    /// an evidence bundle carries to vouch for its signers (unchecked here; the bundle's
    /// checker checks the chain).
    pub fn roster_documents(&self) -> Result<Vec<RosterDocument>, NodeError> {
        let mut out = Vec::new();
        for path in std::iter::once(&self.roster).chain(&self.roster_updates) {
            let bytes = read_limited(path, "roster document", MAX_ROSTER_DOCUMENT as u64)?;
            out.push(
                RosterDocument::decode(&bytes).map_err(|source| NodeError::Content {
                    what: "roster document",
                    path: path.clone(),
                    source,
                })?,
            );
        }
        Ok(out)
    }

    /// Checks that `identity` is this region's node key on `roster` and a member at `now`, so
    /// a node with the wrong key file stops at start instead of being refused by every peer.
    pub fn check_identity(
        &self,
        roster: &Roster,
        identity: &Identity,
        now: Timestamp,
    ) -> Result<(), NodeError> {
        let member = roster.region(&self.region).ok_or_else(|| {
            NodeError::Refused(format!(
                "region {} is not a member on roster version {}; the federation must add it \
                 with a roster update first",
                self.region, roster.version
            ))
        })?;
        if member.node_key != identity.public_key() {
            return Err(NodeError::Refused(format!(
                "key_file {} holds key {}, but roster version {} lists key {} as region {}'s \
                 node key; use the right key file, or have the roster updated",
                self.key_file.display(),
                identity.kid(),
                roster.version,
                member.node_key.kid(),
                self.region
            )));
        }
        let transport = tongban_protocol::keyring::transport_key(identity);
        if member.transport_identity() != transport {
            return Err(NodeError::Refused(format!(
                "roster version {} lists transport key {} for region {}, but this node key's \
                 is {}: peers would refuse its connections. Publish the transport key \
                 `tongban keygen` printed for this node key",
                roster.version,
                member.transport_identity().kid(),
                self.region,
                transport.kid()
            )));
        }
        roster.node(&identity.kid(), now)?;
        Ok(())
    }

    /// Reads this region's catalog file and checks that it is for this region.
    pub fn load_catalog(&self) -> Result<CatalogFile, NodeError> {
        let path = &self.catalog;
        let text = read_text(path, "catalog", MAX_CATALOG_SIZE as u64)?;
        let file = CatalogFile::from_toml(&text).map_err(|source| NodeError::Content {
            what: "catalog",
            path: path.clone(),
            source,
        })?;
        if file.region != self.region {
            return Err(NodeError::Refused(format!(
                "catalog {} is for region {}, but this node speaks for region {}; a node \
                 publishes only its own region's catalog",
                path.display(),
                file.region,
                self.region
            )));
        }
        Ok(file)
    }

    /// Reads the holiday calendar file.
    pub fn load_calendar(&self) -> Result<HolidayCalendar, NodeError> {
        let parts = self
            .calendar
            .iter()
            .map(|path| load_calendar_file(path))
            .collect::<Result<Vec<_>, _>>()?;
        HolidayCalendar::combine(parts).map_err(|source| NodeError::Content {
            what: "holiday calendars",
            path: self.calendar.first().cloned().unwrap_or_default(),
            source,
        })
    }
}

/// Reads and checks one holiday calendar file (`tongban calendar check` and the node's load).
pub fn load_calendar_file(path: &Path) -> Result<HolidayCalendar, NodeError> {
    let text = read_text(path, "holiday calendar", MAX_CALENDAR_FILE)?;
    HolidayCalendar::from_toml(&text).map_err(|source| NodeError::Content {
        what: "holiday calendar",
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a file of at most `limit` bytes, naming it in every error.
pub(crate) fn read_limited(
    path: &Path,
    what: &'static str,
    limit: u64,
) -> Result<Vec<u8>, NodeError> {
    let io = |source| NodeError::Io {
        what,
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > limit {
        return Err(NodeError::Content {
            what,
            path: path.to_path_buf(),
            source: tongban_protocol::Error::TooLarge {
                what,
                size: usize::try_from(size).unwrap_or(usize::MAX),
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            },
        });
    }
    std::fs::read(path).map_err(io)
}

/// Reads a UTF-8 text file of at most `limit` bytes.
pub(crate) fn read_text(path: &Path, what: &'static str, limit: u64) -> Result<String, NodeError> {
    let bytes = read_limited(path, what, limit)?;
    String::from_utf8(bytes).map_err(|e| NodeError::Io {
        what,
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 (bad byte at {}); save it as UTF-8",
                e.utf8_error().valid_up_to()
            ),
        ),
    })
}
