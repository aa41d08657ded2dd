//! `no_forgery`, as a bad frame is delivered: what a node keeps that no bad frame may change
//! — its records, events and receipts of the case (every case's, if the frame names none), its
//! catalogs and roster — read before and after, and the first difference that breaks it.

use std::collections::BTreeMap;

use tongban_protocol::ids::CaseId;

use crate::error::{Result, engine_error};
use crate::world::World;

/// What node `i` keeps that no bad frame may change: the case's records, events and
/// receipts (every case's, if the frame names none), the catalogs and the roster.
pub(crate) fn kept_rows(
    world: &World,
    i: usize,
    case: Option<&CaseId>,
) -> Result<BTreeMap<KeptRow, Vec<u8>>> {
    use tongban_protocol::store::{Store as _, Table};
    let mut rows = BTreeMap::new();
    let Some(engine) = world.nodes[i].engine.as_ref() else {
        return Ok(rows);
    };
    let store = engine.store();
    let prefix: Vec<u8> = case
        .map(|c| c.as_str().as_bytes().to_vec())
        .unwrap_or_default();
    let tables: [(Table, &[u8]); 7] = [
        (Table::Cases, &prefix),
        (Table::Events, &prefix),
        (Table::Receipts, &prefix),
        (Table::PeerReceipts, &prefix),
        (Table::Forks, &prefix),
        (Table::Catalogs, &[]),
        (Table::Roster, &[]),
    ];
    for (table, prefix) in tables {
        let scanned = store
            .scan_prefix(table, prefix)
            .map_err(|e| engine_error(world.fed.id(i), world.now, e))?;
        for (k, v) in scanned {
            rows.insert(KeptRow(table, k), v);
        }
    }
    Ok(rows)
}

/// A row of a node's store, by table and key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct KeptRow(tongban_protocol::store::Table, Vec<u8>);

impl KeptRow {
    /// Whether a genuine replay may change the row: a case record grows as events arrive,
    /// and a receipt is replaced by a newer one.
    fn may_grow(&self) -> bool {
        use tongban_protocol::store::Table;
        matches!(self.0, Table::Cases | Table::PeerReceipts | Table::Receipts)
    }
}

/// The first row that differs, for the violation.
fn first_difference(
    before: &BTreeMap<KeptRow, Vec<u8>>,
    after: &BTreeMap<KeptRow, Vec<u8>>,
    any: bool,
) -> String {
    for (k, v) in before {
        match after.get(k) {
            None => {
                return format!(
                    "{} row {} removed",
                    k.0.name(),
                    String::from_utf8_lossy(&k.1)
                );
            }
            Some(w) if w != v && (any || !k.may_grow()) => {
                return format!(
                    "{} row {} altered",
                    k.0.name(),
                    String::from_utf8_lossy(&k.1)
                );
            }
            _ => {}
        }
    }
    for k in after.keys() {
        if !before.contains_key(k) {
            return format!("{} row {} added", k.0.name(), String::from_utf8_lossy(&k.1));
        }
    }
    "rows differ".into()
}

/// What a bad frame of a behaviour that `must_be_refused` (or not: a replay of a genuine frame
/// may add what was genuinely signed) changed of the rows kept, if anything it may not.
pub(crate) fn forgery_change(
    before: &BTreeMap<KeptRow, Vec<u8>>,
    after: &BTreeMap<KeptRow, Vec<u8>>,
    must_be_refused: bool,
) -> Option<String> {
    if must_be_refused {
        (before != after).then(|| first_difference(before, after, true))
    } else {
        let altered = before
            .iter()
            .any(|(k, v)| after.get(k).is_none_or(|w| w != v && !k.may_grow()));
        altered.then(|| first_difference(before, after, false))
    }
}
