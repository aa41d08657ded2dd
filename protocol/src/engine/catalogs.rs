//! This region's catalog and the latest valid catalog of every other region, and the
//! federation-wide search windows use to find an item.

use serde::{Deserialize, Serialize};

use super::Engine;
use crate::catalog::{CatalogFile, CatalogManifest, Mode, ServiceItem, open_manifest};
use crate::envelope::Envelope;
use crate::error::Result;
use crate::ids::{RegionId, Timestamp};
use crate::store::{Store, Table};
use crate::wire::Message;

/// A catalog search, as a window types it; every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogQuery {
    /// Words in the item's name (all must occur).
    pub text: Option<String>,
    /// A 基本编码 or 实施编码, or its beginning.
    pub code: Option<String>,
    /// The department (主管部门), such as 市场监管.
    pub department: Option<String>,
    /// A mode the item must support.
    pub mode: Option<Mode>,
    /// The handling region.
    pub region: Option<RegionId>,
}

/// One search hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ItemHit {
    /// The handling region.
    pub region: RegionId,
    /// Its display name.
    pub region_name: String,
    /// The catalog version the item is from; an application names it.
    pub catalog_version: u64,
    /// The item.
    pub item: ServiceItem,
}

impl<S: Store> Engine<S> {
    pub(super) fn load_catalogs(&mut self, now: Timestamp) -> Result<()> {
        for (_, bytes) in self.store.scan_prefix(Table::Catalogs, &[])? {
            // A stored catalog whose signer left the roster is dropped from view.
            if let Ok(env) = open_manifest(&bytes, &self.roster, now) {
                self.catalogs.insert(env.payload().region.clone(), env);
            }
        }
        Ok(())
    }

    /// Signs and keeps this region's catalog if its version is newer than the one held, and
    /// announces it to every peer. Returns whether it was new.
    pub fn publish_catalog(&mut self, file: &CatalogFile, now: Timestamp) -> Result<bool> {
        if file.region != self.me {
            return Err(crate::error::Error::InvalidInput(format!(
                "the catalog is for region {}, this node serves {}",
                file.region, self.me
            )));
        }
        let held = self.catalogs.get(&self.me).map(|e| e.payload().version);
        if held.is_some_and(|v| v >= file.version) {
            return Ok(false);
        }
        let env = file.manifest(now).publish(&self.identity)?;
        self.store
            .put(Table::Catalogs, self.me.as_str().as_bytes(), env.bytes())?;
        self.catalogs.insert(self.me.clone(), env);
        self.announce_catalog(now)?;
        Ok(true)
    }

    /// Tells every peer our catalog's version and digest.
    pub(super) fn announce_catalog(&mut self, now: Timestamp) -> Result<()> {
        let Some(env) = self.catalogs.get(&self.me) else {
            return Ok(());
        };
        let body = Message::CatalogAnnounce {
            region: self.me.clone(),
            version: env.payload().version,
            digest: env.digest(),
        };
        let manifest = env.bytes().to_vec();
        for peer in self.peers(now) {
            self.send(&peer, body.clone(), now)?;
        }
        self.out.push(super::Output::Gossip {
            topic: super::GossipTopic::Catalog,
            message: manifest,
        });
        self.last_announce = Some(now);
        Ok(())
    }

    /// Takes a signed manifest from a peer: kept if valid, the signer's own, and newer.
    pub(super) fn accept_catalog(&mut self, bytes: &[u8], now: Timestamp) -> Result<bool> {
        let env = open_manifest(bytes, &self.roster, now)?;
        let region = env.payload().region.clone();
        if region == self.me {
            return Ok(false);
        }
        let newer = self
            .catalogs
            .get(&region)
            .is_none_or(|held| held.payload().version < env.payload().version);
        if newer {
            self.store
                .put(Table::Catalogs, region.as_str().as_bytes(), env.bytes())?;
            self.catalogs.insert(region.clone(), env);
        }
        // Held now: no longer asked for as missing. A version announced while the ask was on
        // its way, newer than what came, is fetched now.
        self.catalog_asks.remove(&region);
        if let Some(wanted) = self.catalog_wanted.remove(&region) {
            self.want_catalog(&region, &region, wanted, now)?;
        }
        Ok(newer)
    }

    /// The version of `region`'s catalog held here.
    pub fn catalog_version(&self, region: &RegionId) -> Option<u64> {
        self.catalogs.get(region).map(|e| e.payload().version)
    }

    /// The catalog of `region` held here.
    pub fn catalog(&self, region: &RegionId) -> Option<&Envelope<CatalogManifest>> {
        self.catalogs.get(region)
    }

    /// An item of `region`'s catalog, with the catalog version.
    pub fn item(&self, region: &RegionId, impl_code: &str) -> Option<(u64, &ServiceItem)> {
        let env = self.catalogs.get(region)?;
        env.payload()
            .item(impl_code)
            .map(|item| (env.payload().version, item))
    }

    /// Searches every catalog held; hits come by region, then in catalog order.
    pub fn search(&self, q: &CatalogQuery, limit: usize) -> Vec<ItemHit> {
        let words: Vec<&str> = q
            .text
            .as_deref()
            .map(|t| t.split_whitespace().collect())
            .unwrap_or_default();
        let mut hits = Vec::new();
        for (region, env) in &self.catalogs {
            if q.region.as_ref().is_some_and(|r| r != region) {
                continue;
            }
            let region_name = self
                .roster
                .region(region)
                .map(|m| m.name.clone())
                .unwrap_or_default();
            for item in &env.payload().items {
                let text_ok = words.iter().all(|w| item.name.contains(w));
                let code_ok = q.code.as_deref().is_none_or(|c| {
                    item.basic_code.starts_with(c) || item.impl_code.starts_with(c)
                });
                let dept_ok = q
                    .department
                    .as_deref()
                    .is_none_or(|d| item.department.contains(d));
                let mode_ok = q.mode.is_none_or(|m| item.modes.contains(&m));
                if text_ok && code_ok && dept_ok && mode_ok {
                    hits.push(ItemHit {
                        region: region.clone(),
                        region_name: region_name.clone(),
                        catalog_version: env.payload().version,
                        item: item.clone(),
                    });
                    if hits.len() >= limit {
                        return hits;
                    }
                }
            }
        }
        hits
    }

    /// Answers a catalog fetch with the manifest held for the region, if any.
    pub(super) fn serve_catalog(
        &mut self,
        to: &RegionId,
        region: &RegionId,
        now: Timestamp,
    ) -> Result<()> {
        if let Some(env) = self.catalogs.get(region) {
            let body = Message::Catalog {
                manifest: serde_bytes::ByteBuf::from(env.bytes().to_vec()),
            };
            self.send(to, body, now)?;
        }
        Ok(())
    }

    /// Asks `to` for `region`'s catalog if `version` is newer than the one held. Not while a
    /// direct ask of `region` for its missing catalog is on its way (at start-up every
    /// member both asks each peer and hears each peer announce): that answer brings the
    /// catalog `region` holds when it answers, and if it is older than `version` the newer
    /// one is asked for when it arrives.
    pub(super) fn want_catalog(
        &mut self,
        to: &RegionId,
        region: &RegionId,
        version: u64,
        now: Timestamp,
    ) -> Result<()> {
        if region != &self.me && self.catalog_version(region).is_none_or(|v| v < version) {
            if to == region
                && self
                    .catalog_asks
                    .get(region)
                    .is_some_and(|(next_at, _)| now < *next_at)
            {
                let wanted = self.catalog_wanted.entry(region.clone()).or_insert(version);
                *wanted = (*wanted).max(version);
                return Ok(());
            }
            let body = Message::CatalogFetch {
                region: region.clone(),
                version: Some(version),
            };
            self.send(to, body, now)?;
        }
        Ok(())
    }

    /// The signed manifests held, for a driver that gossips them.
    pub fn catalogs(&self) -> impl Iterator<Item = &Envelope<CatalogManifest>> {
        self.catalogs.values()
    }
}
