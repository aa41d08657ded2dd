//! The floor: what this machine can do at best for one signed event, measured piece by piece
//! in the same run as the federation (ed25519 signing and strict verifying, CBOR encoding and
//! decoding, the signed envelope made and opened, a grouped durable commit in redb), and from
//! those pieces the most signed events a second the machine could write.

use std::path::Path;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer as _, SigningKey};
use tongban_protocol::case::events::Event;
use tongban_protocol::codec::{from_cbor, to_cbor};
use tongban_protocol::envelope::{self, Identity, Signable as _};
use tongban_protocol::store::{Store as _, Table};

use super::report::{Commit, Floor, SuiteCost};
use super::sample;
use crate::error::NodeError;
use crate::store::RedbStore;

/// Signatures per batch in the batch-verification measure: a frame's worth of events.
const BATCH: usize = 64;

/// What the batch figure is, for the report: its equation is not `verify_strict`'s.
pub const BATCH_NOTE: &str = "ed25519_dalek::verify_batch over 64 signatures by 64 keys, per \
                              signature; unlike verify_strict its equation does not refuse a \
                              small-order R or key, so a node could use it only beside those checks";

/// How each operation is timed: repeated for at least `spent` of wall time.
#[derive(Debug, Clone, Copy)]
pub struct Effort {
    /// Least time spent on each measure.
    pub spent: Duration,
    /// Commits timed for each group size of the redb measure.
    pub commits: usize,
    /// The size of the material the suites' seal measure seals and opens.
    pub material_bytes: usize,
}

/// Calls `op` until `spent` has passed (checking the clock every 16 calls) and returns the
/// calls per second.
fn per_second(
    spent: Duration,
    mut op: impl FnMut(u64) -> Result<(), NodeError>,
) -> Result<f64, NodeError> {
    let start = Instant::now();
    let mut n: u64 = 0;
    loop {
        for _ in 0..16 {
            op(n)?;
            n += 1;
        }
        let elapsed = start.elapsed();
        if elapsed >= spent {
            return Ok(n as f64 / elapsed.as_secs_f64());
        }
    }
}

/// Measures the floor, printing each figure as it comes (`row` prints one table line); the
/// redb store is made in `dir`.
pub fn measure(
    dir: &Path,
    effort: Effort,
    cores: usize,
    row: &mut dyn FnMut(&str, String),
) -> Result<Floor, NodeError> {
    let event = sample::event(0)?;
    let identity = Identity::from_seed([0x42; 32]);
    let public = identity.public_key();
    let key = SigningKey::from_bytes(&[0x42; 32]);
    let cbor = to_cbor(&event)?;
    let signed = identity.sign(&event)?;
    let envelope_bytes = signed.bytes().to_vec();
    row(
        "typical event (Submitted, 2 materials)",
        format!("{} B CBOR, {} B signed", cbor.len(), envelope_bytes.len()),
    );

    let sign = per_second(effort.spent, |_| {
        std::hint::black_box(key.sign(&envelope_bytes));
        Ok(())
    })?;
    row("ed25519 sign", rate(sign));
    let signature = key.sign(&envelope_bytes);
    let verifying = key.verifying_key();
    let verify = per_second(effort.spent, |_| {
        verifying
            .verify_strict(&envelope_bytes, &signature)
            .map_err(|e| NodeError::Refused(format!("verify_strict: {e}")))
    })?;
    row("ed25519 verify_strict", rate(verify));
    let keys: Vec<SigningKey> = (0..BATCH as u8)
        .map(|i| SigningKey::from_bytes(&[i.wrapping_add(1); 32]))
        .collect();
    let messages: Vec<Vec<u8>> = (0..BATCH)
        .map(|i| {
            let mut m = envelope_bytes.clone();
            m.extend_from_slice(&(i as u64).to_be_bytes());
            m
        })
        .collect();
    let signatures: Vec<_> = keys.iter().zip(&messages).map(|(k, m)| k.sign(m)).collect();
    let verifying_keys: Vec<_> = keys.iter().map(SigningKey::verifying_key).collect();
    let message_refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let batches = per_second(effort.spent, |_| {
        ed25519_dalek::verify_batch(&message_refs, &signatures, &verifying_keys)
            .map_err(|e| NodeError::Refused(format!("verify_batch: {e}")))
    })?;
    let batch = batches * BATCH as f64;
    row(
        &format!("ed25519 batch verify ({BATCH} a batch)"),
        format!("{}, {:.2}× verify_strict", rate(batch), batch / verify),
    );

    let encode = per_second(effort.spent, |_| {
        std::hint::black_box(to_cbor(&event)?);
        Ok(())
    })?;
    row("CBOR encode (event)", rate(encode));
    let decode = per_second(effort.spent, |_| {
        std::hint::black_box(from_cbor::<Event>(&cbor, Event::MAX_SIZE, "event")?);
        Ok(())
    })?;
    row("CBOR decode (event)", rate(decode));
    let envelope_sign = per_second(effort.spent, |_| {
        std::hint::black_box(identity.sign(&event)?);
        Ok(())
    })?;
    row("envelope sign (Identity::sign)", rate(envelope_sign));
    let envelope_open = per_second(effort.spent, |_| {
        std::hint::black_box(envelope::open::<Event, _>(&envelope_bytes, &public)?);
        Ok(())
    })?;
    row("envelope open (envelope::open)", rate(envelope_open));
    let suites = suites(&event, effort, row)?;

    let mut store = RedbStore::open(&dir.join("floor.redb"))?;
    let mut commits = Vec::new();
    let mut next_key: u64 = 0;
    for group in [1usize, 100, 1000] {
        // Fewer commits of the large groups: the same order of puts for each.
        let rounds = (effort.commits * 100 / group.max(100)).max(3);
        let start = Instant::now();
        for _ in 0..rounds {
            for _ in 0..group {
                next_key += 1;
                store.put(Table::Events, &next_key.to_be_bytes(), &envelope_bytes)?;
            }
            store.sync()?;
        }
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        let commit = Commit {
            puts_per_commit: group,
            commits: rounds,
            commits_per_s: rounds as f64 / secs,
            puts_per_s: (rounds * group) as f64 / secs,
        };
        row(
            &format!("redb commit, {group} puts of {} B", envelope_bytes.len()),
            format!(
                "{} commits/s, {} puts/s",
                figure(commit.commits_per_s),
                figure(commit.puts_per_s)
            ),
        );
        commits.push(commit);
    }
    drop(store);

    let puts = commits.last().map_or(1.0, |c| c.puts_per_s).max(1e-9);
    // One event: signed once, opened once, written at both ends in a grouped commit.
    let per_event = 1.0 / envelope_sign + 1.0 / envelope_open + 2.0 / puts;
    let per_core = 1.0 / per_event;
    row("floor: signed events/s, one core", rate(per_core));
    row(
        &format!("floor: signed events/s, {cores} cores"),
        rate(per_core * cores as f64),
    );
    Ok(Floor {
        event_cbor_bytes: cbor.len(),
        event_signed_bytes: envelope_bytes.len(),
        ed25519_sign_per_s: sign,
        ed25519_verify_strict_per_s: verify,
        ed25519_batch_verify_per_s: Some(batch),
        ed25519_batch_verify_note: BATCH_NOTE.to_string(),
        cbor_encode_per_s: encode,
        cbor_decode_per_s: decode,
        envelope_sign_per_s: envelope_sign,
        envelope_open_per_s: envelope_open,
        redb_commits: commits,
        signed_events_per_s_per_core: per_core,
        cores,
        signed_events_per_s_all_cores: per_core * cores as f64,
        suites,
    })
}

/// The size of the material the full run's seal measure seals and opens: a scanned page.
pub const MATERIAL_BYTES: usize = 256 << 10;

/// What each crypto suite costs: the event's envelope signed and opened, and a material of
/// `effort.material_bytes` (256 KiB, a scanned page, but for `--quick`) sealed to two parties
/// and opened by one, in each suite (SM2, SM3 and SM4-GCM against
/// Ed25519, SHA-256, X25519 and ChaCha20-Poly1305).
fn suites(
    event: &Event,
    effort: Effort,
    row: &mut dyn FnMut(&str, String),
) -> Result<Vec<SuiteCost>, NodeError> {
    use tongban_protocol::ids::RegionId;
    use tongban_protocol::keyring::{Keyring, encryption_key};
    use tongban_protocol::seal::SealedMaterial;
    use tongban_protocol::suite::Suite;

    let material: Vec<u8> = (0..effort.material_bytes)
        .map(|i| (i % 251) as u8)
        .collect();
    let mut out = Vec::new();
    for suite in Suite::ALL {
        let id = |seed: u8| Identity::from_secret(suite, [seed; 32]);
        let (node, peer) = (id(0x42)?, id(0x43)?);
        let signed = node.sign(event)?;
        let bytes = signed.bytes().to_vec();
        let public = node.public_key();
        let sign = per_second(effort.spent, |_| {
            std::hint::black_box(node.sign(event)?);
            Ok(())
        })?;
        let open = per_second(effort.spent, |_| {
            std::hint::black_box(envelope::open::<Event, _>(&bytes, &public)?);
            Ok(())
        })?;
        let to = [
            (RegionId::new("110000")?, encryption_key(&node).public_key()),
            (RegionId::new("120000")?, encryption_key(&peer).public_key()),
        ];
        let sealed = SealedMaterial::seal(suite, &material, &to, &[7; 32])?;
        let ring = Keyring::of_identity(&node);
        let seal = per_second(effort.spent, |n| {
            let random = [n as u8; 32];
            std::hint::black_box(SealedMaterial::seal(suite, &material, &to, &random)?);
            Ok(())
        })?;
        let unseal = per_second(effort.spent, |_| {
            std::hint::black_box(sealed.open(suite, &ring)?);
            Ok(())
        })?;
        row(
            &format!("{suite} suite: envelope sign / open"),
            format!("{} / {}", rate(sign), rate(open)),
        );
        let mib = effort.material_bytes as f64 / f64::from(1u32 << 20);
        row(
            &format!(
                "{suite} suite: {} KiB material seal / open",
                effort.material_bytes >> 10
            ),
            format!("{:.0} / {:.0} MiB/s", seal * mib, unseal * mib),
        );
        out.push(SuiteCost {
            suite: suite.name().to_string(),
            envelope_sign_per_s: sign,
            envelope_open_per_s: open,
            material_bytes: effort.material_bytes,
            material_seal_per_s: seal,
            material_open_per_s: unseal,
        });
    }
    Ok(out)
}

/// A rate for the table, such as `12,345/s`.
pub fn rate(per_second: f64) -> String {
    format!("{}/s", figure(per_second))
}

/// A whole number with thousands separated by commas, for the table.
pub fn figure(value: f64) -> String {
    let whole = value.round().max(0.0) as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
