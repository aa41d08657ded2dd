//! The driver contract: the one shape in which the node's daemon and the simulator (and the
//! engine's own tests) drive an engine, in the manner of `quinn-proto`'s `Connection`.
//!
//! ```text
//!  inputs, each with the time            outputs, after the commit
//!  ─────────────────────────             ─────────────────────────
//!  on_frame, on_gossip, peer_connected   commit_to(io) ─► io.send      frames to peers
//!  intake, write_event, upload_chunk,                 ─► io.gossip    signed documents
//!  report, notice_failed, ...                         ─► io.roster    the transport's allow-list
//!  tick ◄── when poll_timeout() says                  ─► io.notify    notices to the back office
//! ```
//!
//! The driver hands the engine each input with the time, ticks it when
//! [`Engine::poll_timeout`] says, and after each input (or batch of them) calls
//! [`Engine::commit_to`]: the store is synced once, and only then is every output handed to the
//! driver's [`Io`]. A notice goes round a loop: [`Io::notify`] hands it to the back office,
//! which takes it at once ([`Handover::Taken`], and the engine forgets it) or later (the
//! driver then calls [`Engine::notice_delivered`], or [`Engine::notice_failed`] once it gives
//! up); the back office answers with reports, which the driver hands back to
//! [`Engine::report`] like any other input.

use super::{Engine, GossipTopic, Notice, Output};
use crate::error::Result;
use crate::ids::RegionId;
use crate::roster::Roster;
use crate::store::Store;

/// The I/O a driver performs for its engine: what each [`Output`] becomes. The daemon puts
/// frames on the network and notices on the back office's queue; the simulator puts them on
/// its virtual network and into its in-process back office.
pub trait Io {
    /// Sends a signed frame to a peer region (`kind` names the message, for metrics and logs).
    /// Delivery may fail: the outbox or the next reconciliation makes good what mattered.
    fn send(&mut self, to: RegionId, frame: Vec<u8>, kind: &'static str);

    /// Publishes a self-signed document to every member by gossip; direct messages cover the
    /// same ground, so a driver without gossip may drop it.
    fn gossip(&mut self, topic: GossipTopic, message: Vec<u8>);

    /// The roster changed: the transport must admit exactly its members from now on.
    fn roster(&mut self, roster: Box<Roster>);

    /// Hands notice `id` to the back office, and says whether it was taken at once.
    fn notify(&mut self, id: u64, notice: Notice) -> Handover;
}

/// What became of a notice handed to [`Io::notify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handover {
    /// The back office took it now: [`Engine::commit_to`] marks it delivered.
    Taken,
    /// The driver carries it on (a queue, retries): it calls [`Engine::notice_delivered`] or
    /// [`Engine::notice_failed`] itself once it knows.
    Carried,
}

impl<S: Store> Engine<S> {
    /// Commits (see [`Engine::commit`]) and hands every output to `io`, in order. Notices the
    /// back office took at once are marked delivered, and that is committed too, so that on
    /// return nothing is left undone or unsynced.
    pub fn commit_to(&mut self, io: &mut impl Io) -> Result<()> {
        loop {
            let mut taken = false;
            for output in self.commit()? {
                match output {
                    Output::Send { to, frame, kind } => io.send(to, frame, kind),
                    Output::Gossip { topic, message } => io.gossip(topic, message),
                    Output::Roster(roster) => io.roster(roster),
                    Output::Notify { id, notice } => {
                        if io.notify(id, notice) == Handover::Taken {
                            self.notice_delivered(id)?;
                            taken = true;
                        }
                    }
                }
            }
            if !taken {
                return Ok(());
            }
        }
    }
}
