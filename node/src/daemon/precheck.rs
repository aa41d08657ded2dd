//! A peer's frame has its signatures checked on tokio's blocking pool while it waits in the
//! engine's queue, so the engine's one thread does not spend its time on them: it takes what
//! was checked ([`tongban_protocol::engine::Engine::on_prechecked_frame`]) and checks the rest
//! itself.

use std::sync::Arc;
use std::sync::mpsc;

use tongban_protocol::envelope::Prechecked;
use tongban_protocol::roster::Roster;
use tongban_protocol::wire::precheck_frame;

/// A frame whose signatures are being checked; [`Precheck::wait`] gives it back with them.
pub struct Precheck(mpsc::Receiver<(Vec<u8>, Prechecked)>);

impl Precheck {
    /// Starts checking `frame` against `roster` (the network task's copy of it: one a little
    /// behind the engine's costs a check made again, never a check skipped).
    pub fn start(frame: Vec<u8>, roster: Arc<Roster>) -> Precheck {
        let (tx, rx) = mpsc::sync_channel(1);
        tokio::task::spawn_blocking(move || {
            let checked = precheck_frame(&frame, &roster, super::now());
            // The engine may have stopped and dropped the receiver: nothing to hand over.
            let _ = tx.send((frame, checked));
        });
        Precheck(rx)
    }

    /// The frame and its checked signatures, once checked. `None` if the check was lost (its
    /// task panicked, or the runtime is shutting down): the frame is then dropped, and the
    /// peer's outbox sends it again.
    pub fn wait(self) -> Option<(Vec<u8>, Prechecked)> {
        self.0.recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tongban_protocol::envelope::Identity;
    use tongban_protocol::ids::{RegionId, Timestamp};
    use tongban_protocol::roster::Member;
    use tongban_protocol::wire::{Frame, Message};

    fn region(r: &str) -> RegionId {
        RegionId::new(r).unwrap()
    }

    /// A roster of Beijing and Tianjin, nodes signing with `bj` and `tj`.
    fn roster(bj: &Identity, tj: &Identity) -> Roster {
        let member = |r: &str, node: &Identity| Member {
            encryption_key: None,
            transport_key: None,
            region: region(r),
            name: r.into(),
            node_key: node.public_key(),
            governance_key: node.public_key(),
            addresses: vec![],
            valid_from: Timestamp(0),
            valid_until: Timestamp(u64::MAX),
        };
        Roster {
            federation: "t".into(),
            version: 1,
            issued_at: Timestamp(0),
            threshold: 1,
            members: vec![member("110000", bj), member("120000", tj)],
            revoked_keys: vec![],
            retired_keys: vec![],
            suite: tongban_protocol::suite::Suite::Ed25519,
            index: Default::default(),
        }
    }

    /// The check runs off the caller's thread and gives the frame back as it came, with its
    /// signature checked; bytes that are no frame come back with nothing checked.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_frame_comes_back_with_what_was_checked() {
        let (bj, tj) = (Identity::from_seed([1; 32]), Identity::from_seed([2; 32]));
        let roster = Arc::new(roster(&bj, &tj));
        let signed = tj
            .sign(&Frame {
                from: region("120000"),
                to: region("110000"),
                id: 1,
                sent_at: super::super::now(),
                body: Message::ReconcileDone { session: 1 },
            })
            .unwrap()
            .into_parts()
            .0;
        for (bytes, held) in [(signed, 1), (b"not a frame".to_vec(), 0)] {
            let pending = Precheck::start(bytes.clone(), roster.clone());
            let (frame, checked) = tokio::task::spawn_blocking(move || pending.wait())
                .await
                .unwrap()
                .expect("the check finishes");
            assert_eq!(frame, bytes);
            assert_eq!(checked.len(), held);
        }
    }
}
