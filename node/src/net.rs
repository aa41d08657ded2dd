//! The peer transport: libp2p over QUIC, the node's transport key as its libp2p identity: its
//! ed25519 node key, or in an `sm` federation the ed25519 key derived from its SM2 secret and
//! published in the roster (`transport_key`).
//!
//! Only roster members may connect: the allow-list holds exactly the transport keys of the
//! roster in force, so a stranger's connection is closed before any protocol runs. Every frame is one
//! request of a `/tongban/frame/<n>` request-response protocol (`n` the protocol version) (a length-prefixed signed
//! envelope, at most [`MAX_FRAME_SIZE`]); the answer is
//! an empty acknowledgement of transport only — what a frame achieved comes back as frames of
//! its own (receipts, replies), because the engine verifies everything before it counts.
//! Frames that fail to go out are not retried here: the engine's outbox does that.
//!
//! One member cannot flood the node ([`crate::limits`] has the numbers): it may hold
//! [`MAX_CONNECTIONS_PER_PEER`](crate::limits::MAX_CONNECTIONS_PER_PEER) connections (a newer one closes the oldest: see
//! [`NewestConnections`]) of [`MAX_STREAMS_PER_CONNECTION`] streams each; a
//! frame's length prefix is checked against [`MAX_FRAME_SIZE`] before any of it is read, and
//! the frame is read as it arrives rather than into a buffer of the declared size; each peer's
//! frames (and the gossip it publishes) pass a token bucket and take a place in the peer's
//! share of the engine's queue. A frame refused for any of these is answered with the reason
//! and counted per peer; the transport never waits for room in the engine's queue.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::gossipsub;
use libp2p::identify;
use libp2p::identity::{Keypair, ed25519};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{ListenError, NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, allow_block_list};
use tokio::sync::mpsc;
use tongban_protocol::engine::GossipTopic;
use tongban_protocol::ids::{PublicKey, RegionId};
use tongban_protocol::roster::Roster;
use tongban_protocol::wire::{MAX_FRAME_SIZE, agree};
use tracing::{debug, error, info, warn};

use crate::daemon::{Command, EngineHandle, Precheck};
use crate::error::NodeError;
use crate::in_flight::InFlight;
use crate::limits::{
    MAX_OUTBOUND_PER_PEER, MAX_OUTBOUND_WAITING, MAX_STREAMS_PER_CONNECTION, NewestConnections,
    QueueShares, Refusal, TokenBucket,
};
use crate::pacing::{Paced, Pacer};
use crate::peers::Protocol;

/// The prefix of the frame protocols: `/tongban/frame/<n>` for each protocol version `n` a
/// node speaks. Every version travels the same way (one length-prefixed signed frame per
/// request); the frame's own envelope names its version.
pub const FRAME_PROTOCOL_PREFIX: &str = "/tongban/frame/";

/// The frame protocol of version `n`.
pub fn frame_protocol(n: u64) -> Option<StreamProtocol> {
    StreamProtocol::try_from_owned(format!("{FRAME_PROTOCOL_PREFIX}{n}")).ok()
}

/// The versions a peer serves, read from the protocols it lists.
fn versions_served<'a>(protocols: impl IntoIterator<Item = &'a StreamProtocol>) -> Vec<u64> {
    let mut versions: Vec<u64> = protocols
        .into_iter()
        .filter_map(|p| p.as_ref().strip_prefix(FRAME_PROTOCOL_PREFIX)?.parse().ok())
        .collect();
    versions.sort_unstable();
    versions.dedup();
    versions
}

/// Length-prefixed byte strings, bounded on read.
#[derive(Debug, Clone, Default)]
pub struct FrameCodec;

/// A request on the frame protocol: a frame, or (inbound only) the length prefix of one over
/// the limit, whose bytes were never read, so that the transport can answer and count it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameRequest {
    /// A frame's bytes.
    Frame(Vec<u8>),
    /// A frame refused on its declared length.
    TooLarge {
        /// The length its prefix declared.
        len: usize,
    },
}

/// Reads a length prefix.
async fn read_prefix<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<usize> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    Ok(u32::from_be_bytes(len) as usize)
}

async fn read_bounded<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    limit: usize,
) -> io::Result<Vec<u8>> {
    let len = read_prefix(io).await?;
    if len > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("an answer of {len} bytes is over the limit of {limit}"),
        ));
    }
    read_body(io, len).await
}

/// Reads `len` bytes, growing the buffer as they arrive: a peer that declares a large frame
/// and sends little holds little memory.
async fn read_body<T: AsyncRead + Unpin + Send>(io: &mut T, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(len.min(64 << 10));
    (&mut *io).take(len as u64).read_to_end(&mut buf).await?;
    if buf.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("a frame declared {len} bytes and ended after {}", buf.len()),
        ));
    }
    Ok(buf)
}

async fn write_prefixed<T: AsyncWrite + Unpin + Send>(io: &mut T, data: &[u8]) -> io::Result<()> {
    let len = u32::try_from(data.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(data).await?;
    io.close().await
}

impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = FrameRequest;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<FrameRequest> {
        let len = read_prefix(io).await?;
        if len > MAX_FRAME_SIZE {
            // Answered and counted by the transport; the body is never read.
            return Ok(FrameRequest::TooLarge { len });
        }
        Ok(FrameRequest::Frame(read_body(io, len).await?))
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        read_bounded(io, 1024).await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: FrameRequest,
    ) -> io::Result<()> {
        match req {
            FrameRequest::Frame(frame) => write_prefixed(io, &frame).await,
            FrameRequest::TooLarge { .. } => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a frame over the limit is not sent",
            )),
        }
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()> {
        write_prefixed(io, &res).await
    }
}

/// The node's libp2p behaviour: the roster allow-list, the frame protocol, and gossip of
/// self-signed documents (catalogs, rosters).
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    allow: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    frames: request_response::Behaviour<FrameCodec>,
    gossip: gossipsub::Behaviour,
    /// Each side states the protocols it serves on connecting: the frame versions come from
    /// there.
    identify: identify::Behaviour,
}

/// What the daemon asks of the transport.
#[derive(Debug)]
pub enum NetCommand {
    /// Send a signed frame to a region's node.
    Send {
        /// The region.
        to: RegionId,
        /// The frame's envelope.
        frame: Vec<u8>,
    },
    /// The roster changed: allow exactly its members.
    Roster(Box<Roster>),
    /// Publish a self-signed document on a gossip topic.
    Gossip {
        /// The topic.
        topic: GossipTopic,
        /// The document.
        message: Vec<u8>,
    },
}

/// The libp2p peer id of a member's transport key (`Member::transport_identity`). Only an
/// ed25519 key can be one: libp2p has no SM2 identities, so an `sm` member publishes an
/// ed25519 transport key beside its SM2 node key.
pub fn peer_id(key: &PublicKey) -> Result<PeerId, NodeError> {
    let PublicKey::Ed25519(bytes) = key else {
        return Err(NodeError::Refused(format!(
            "transport key {} is an SM2 key, and libp2p identities are ed25519 only: an sm \
             member publishes an ed25519 transport_key in the roster",
            key.kid()
        )));
    };
    let ed = ed25519::PublicKey::try_from_bytes(bytes).map_err(|e| {
        NodeError::Refused(format!(
            "transport key {} is not usable by libp2p: {e}",
            key.kid()
        ))
    })?;
    Ok(PeerId::from_public_key(&libp2p::identity::PublicKey::from(
        ed,
    )))
}

/// Who is who on the roster, for the transport.
/// A frame to `peer` was answered or failed: the next one waiting for it goes now.
fn send_next(
    swarm: &mut libp2p::Swarm<Behaviour>,
    pacer: &mut Pacer<PeerId, Vec<u8>>,
    in_flight: &mut InFlight<request_response::OutboundRequestId, PeerId>,
    directory: &Directory,
    peer: &PeerId,
) {
    if let Some(frame) = pacer.done(peer) {
        send_frame(swarm, in_flight, directory, peer, frame, false);
    }
}

/// Sleeps until `at` (never, if `None`: the branch that waits on it is off then).
async fn parked_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Sends `frame` to `peer` at the roster's addresses, kept until answered (see
/// [`InFlight`]); `again` when it goes a second time.
fn send_frame(
    swarm: &mut libp2p::Swarm<Behaviour>,
    in_flight: &mut InFlight<request_response::OutboundRequestId, PeerId>,
    directory: &Directory,
    peer: &PeerId,
    frame: Vec<u8>,
    again: bool,
) {
    let addrs = directory
        .by_peer
        .get(peer)
        .and_then(|region| directory.by_region.get(region))
        .map(|(_, addrs)| addrs.clone())
        .unwrap_or_default();
    let id = swarm.behaviour_mut().frames.send_request_with_addresses(
        peer,
        FrameRequest::Frame(frame.clone()),
        addrs,
    );
    in_flight.sent(id, *peer, frame, again);
}

struct Directory {
    by_region: HashMap<RegionId, (PeerId, Vec<Multiaddr>)>,
    by_peer: HashMap<PeerId, RegionId>,
}

impl Directory {
    fn new(roster: &Roster, me: &RegionId) -> Directory {
        let mut by_region = HashMap::new();
        let mut by_peer = HashMap::new();
        for m in &roster.members {
            if &m.region == me {
                continue;
            }
            let Ok(pid) = peer_id(&m.transport_identity()) else {
                warn!(region = %m.region, "a roster member's transport key is not usable by libp2p");
                continue;
            };
            let addrs: Vec<Multiaddr> = m
                .addresses
                .iter()
                .filter_map(|a| match a.parse() {
                    Ok(addr) => Some(addr),
                    Err(e) => {
                        warn!(region = %m.region, address = %a, error = %e, "a roster address is not a multiaddr");
                        None
                    }
                })
                .collect();
            by_region.insert(m.region.clone(), (pid, addrs));
            by_peer.insert(pid, m.region.clone());
        }
        Directory { by_region, by_peer }
    }
}

/// What the transport keeps about one peer's inbound frames.
struct Inbound {
    bucket: TokenBucket,
    /// The peer's frames in the engine's queue now.
    queued: Arc<AtomicUsize>,
    /// When a refusal of this peer's frames was last logged.
    warned: Option<Instant>,
}

/// The gate every inbound frame and gossiped document passes before the engine's queue.
struct Gate {
    peers: HashMap<PeerId, Inbound>,
    shares: QueueShares,
    engine: EngineHandle,
}

impl Gate {
    /// Hands the frame (or document) `make` builds to the engine, or says why not; counts and
    /// logs (at most every ten seconds per peer) a refusal.
    fn admit(
        &mut self,
        peer: PeerId,
        region: &RegionId,
        len: usize,
        make: impl FnOnce(crate::limits::Ticket) -> Command,
    ) -> Result<(), Refusal> {
        let now = Instant::now();
        let inbound = self.peers.entry(peer).or_insert_with(|| Inbound {
            bucket: TokenBucket::new(now),
            queued: Arc::new(AtomicUsize::new(0)),
            warned: None,
        });
        let result = if inbound.bucket.take(len, now) {
            match self.shares.ticket(&inbound.queued) {
                None => Err(Refusal::Queue),
                Some(ticket) => self.engine.offer(make(ticket)),
            }
        } else {
            Err(Refusal::Rate)
        };
        if let Err(reason) = result {
            self.refused(peer, region, reason, now);
        }
        result
    }

    fn refused(&mut self, peer: PeerId, region: &RegionId, reason: Refusal, now: Instant) {
        let count = self.engine.refusals().peer(region, reason);
        let inbound = self.peers.entry(peer).or_insert_with(|| Inbound {
            bucket: TokenBucket::new(now),
            queued: Arc::new(AtomicUsize::new(0)),
            warned: None,
        });
        if inbound
            .warned
            .is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_secs(10))
        {
            inbound.warned = Some(now);
            warn!(%region, reason = reason.label(), refused = count, "refusing a peer's frames");
        }
    }
}

/// Starts listening on `listen` and runs the transport until the command channel closes.
/// Returns the listen address actually bound, once it is known.
pub async fn start(
    transport_seed: [u8; 32],
    listen: &str,
    versions: &[u64],
    roster: Roster,
    me: RegionId,
    engine: EngineHandle,
    mut commands: mpsc::Receiver<NetCommand>,
) -> Result<Multiaddr, NodeError> {
    // Newest first: multistream-select takes the first the other side also serves.
    let mut ours = versions.to_vec();
    ours.sort_unstable();
    ours.dedup();
    let protocols: Vec<(StreamProtocol, ProtocolSupport)> = ours
        .iter()
        .rev()
        .filter_map(|n| frame_protocol(*n))
        .map(|p| (p, ProtocolSupport::Full))
        .collect();
    if protocols.is_empty() {
        return Err(NodeError::Refused(
            "peer.protocol_versions names no version this node speaks".into(),
        ));
    }
    let listen: Multiaddr = listen.parse().map_err(|e| {
        NodeError::Refused(format!("peer.listen {listen:?} is not a multiaddr: {e}"))
    })?;
    let mut secret = transport_seed;
    let keypair = Keypair::ed25519_from_bytes(&mut secret).map_err(|e| {
        NodeError::Refused(format!("the transport key is not usable by libp2p: {e}"))
    })?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        // A connection whose peer died (killed, machine lost) is found dead after 4 s without
        // an answer to the keep-alives sent each second, not the default 10 s: until then
        // libp2p spreads requests over it and the restarted peer's new connection alike, and
        // those sent on it wait for the timeout.
        .with_quic_config(|mut c| {
            c.max_idle_timeout = 4_000;
            c.keep_alive_interval = Duration::from_secs(1);
            c
        })
        .with_behaviour(|key| {
            // Catalogs are the largest documents gossiped; each carries its own signature, and
            // gossipsub signs its messages too, so relays can change nothing.
            let config = gossipsub::ConfigBuilder::default()
                .max_transmit_size(tongban_protocol::catalog::MAX_CATALOG_SIZE + (64 << 10))
                .validation_mode(gossipsub::ValidationMode::Strict)
                .build()
                .map_err(|e| io::Error::other(e.to_string()))?;
            let gossip = gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Signed(key.clone()),
                config,
            )
            .map_err(io::Error::other)?;
            let identify = identify::Behaviour::new(identify::Config::new(
                "/tongban/id/1".into(),
                key.public(),
            ));
            Ok(Behaviour {
                allow: allow_block_list::Behaviour::default(),
                gossip,
                identify,
                frames: request_response::Behaviour::new(
                    protocols,
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(30))
                        .with_max_concurrent_streams(MAX_STREAMS_PER_CONNECTION),
                ),
            })
        })
        .map_err(|e| NodeError::Refused(format!("building the libp2p behaviour: {e}")))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(24 * 3600)))
        .build();
    for topic in GossipTopic::ALL {
        swarm
            .behaviour_mut()
            .gossip
            .subscribe(&gossipsub::IdentTopic::new(topic.name()))
            .map_err(|e| NodeError::Refused(format!("subscribing to {}: {e}", topic.name())))?;
    }
    let mut directory = Directory::new(&roster, &me);
    // What peers' frames are checked against before the engine takes them (see
    // `daemon::Precheck`); kept as the engine's roster changes.
    let mut checking = Arc::new(roster);
    for pid in directory.by_peer.keys() {
        swarm.behaviour_mut().allow.allow_peer(*pid);
    }
    swarm
        .listen_on(listen.clone())
        .map_err(|e| NodeError::Refused(format!("listening on {listen}: {e}")))?;
    // Wait for the bound address (a port 0 becomes a real port).
    let bound = loop {
        match swarm.select_next_some().await {
            SwarmEvent::NewListenAddr { address, .. } => break address,
            SwarmEvent::ListenerError { error, .. } => {
                return Err(NodeError::Refused(format!(
                    "listening on {listen}: {error}"
                )));
            }
            _ => {}
        }
    };
    info!(%bound, peer = %swarm.local_peer_id(), "peer transport listening");
    let bound_out = bound.clone();
    let mut connections = NewestConnections::default();
    let mut pacer: Pacer<PeerId, Vec<u8>> = Pacer::new(MAX_OUTBOUND_PER_PEER, MAX_OUTBOUND_WAITING);
    let mut in_flight: InFlight<request_response::OutboundRequestId, PeerId> = InFlight::default();
    let mut gate = Gate {
        peers: HashMap::new(),
        shares: QueueShares::default(),
        engine: engine.clone(),
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                cmd = commands.recv() => {
                    let Some(cmd) = cmd else { return };
                    match cmd {
                        NetCommand::Send { to, frame } => {
                            let Some((pid, _)) = directory.by_region.get(&to) else {
                                debug!(%to, "no such peer on the roster; frame dropped");
                                continue;
                            };
                            match pacer.send(pid, frame) {
                                Paced::Now(frame) => {
                                    let pid = *pid;
                                    send_frame(&mut swarm, &mut in_flight, &directory, &pid, frame, false);
                                }
                                Paced::Waits => {}
                                Paced::Dropped => {
                                    engine.refusals().outbound_failed();
                                    debug!(%to, "too many frames waiting for this peer; dropped, the outbox will retry");
                                }
                            }
                        }
                        NetCommand::Gossip { topic, message } => {
                            // Fails until a peer's subscription is seen; the engine announces
                            // again periodically and on every connect.
                            if let Err(e) = swarm.behaviour_mut().gossip.publish(gossipsub::IdentTopic::new(topic.name()), message) {
                                debug!(topic = topic.name(), error = %e, "gossip not published now");
                            }
                        }
                        NetCommand::Roster(roster) => {
                            let next = Directory::new(&roster, &me);
                            for pid in directory.by_peer.keys() {
                                if !next.by_peer.contains_key(pid) {
                                    swarm.behaviour_mut().allow.disallow_peer(*pid);
                                }
                            }
                            for pid in next.by_peer.keys() {
                                swarm.behaviour_mut().allow.allow_peer(*pid);
                            }
                            directory = next;
                            checking = Arc::from(roster);
                        }
                    }
                }
                () = parked_until(in_flight.parked_until()), if in_flight.parked_until().is_some() => {
                    for (peer, frame) in in_flight.unpark(None) {
                        send_frame(&mut swarm, &mut in_flight, &directory, &peer, frame, true);
                    }
                }
                event = swarm.select_next_some() => match event {
                    SwarmEvent::Behaviour(BehaviourEvent::Frames(request_response::Event::Message { peer, message, .. })) => {
                        match message {
                            request_response::Message::Request { request, channel, .. } => {
                                let answer = match (directory.by_peer.get(&peer), request) {
                                    (Some(region), FrameRequest::Frame(frame)) => match gate.admit(peer, region, frame.len(), |ticket| Command::Frame { frame: Precheck::start(frame, checking.clone()), ticket }) {
                                        Ok(()) => Vec::new(),
                                        Err(reason) => reason.message().into_bytes(),
                                    },
                                    (Some(region), FrameRequest::TooLarge { len }) => {
                                        debug!(%region, len, "a frame over the size limit");
                                        gate.refused(peer, region, Refusal::Size, Instant::now());
                                        Refusal::Size.message().into_bytes()
                                    }
                                    (None, _) => Vec::new(),
                                };
                                let _ = swarm.behaviour_mut().frames.send_response(channel, answer);
                            }
                            request_response::Message::Response { request_id, response } => {
                                in_flight.settled(&request_id);
                                send_next(&mut swarm, &mut pacer, &mut in_flight, &directory, &peer);
                                if !response.is_empty() {
                                    engine.refusals().refused_by_peer();
                                    debug!(%peer, answer = %String::from_utf8_lossy(&response), "a peer refused a frame; the outbox will retry");
                                }
                            }
                        }
                    }
                    SwarmEvent::Behaviour(BehaviourEvent::Frames(request_response::Event::OutboundFailure { peer, request_id, error, .. })) => {
                        // Lost with its connection (a restarted peer's old one, say): it goes
                        // once more when that connection is gone, keeping its place in the
                        // peer's pace (see `in_flight`).
                        let lost = matches!(error, request_response::OutboundFailure::ConnectionClosed | request_response::OutboundFailure::Io(_));
                        if lost && in_flight.park(&request_id, Instant::now()) {
                            debug!(%peer, %error, "a frame lost with its connection goes again");
                        } else {
                            in_flight.settled(&request_id);
                            send_next(&mut swarm, &mut pacer, &mut in_flight, &directory, &peer);
                            engine.refusals().outbound_failed();
                            debug!(%peer, %error, "a frame did not go out; the outbox will retry");
                        }
                    }
                    SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::Message { message, .. })) => {
                        let topic = GossipTopic::ALL
                            .into_iter()
                            .find(|t| gossipsub::IdentTopic::new(t.name()).hash() == message.topic);
                        let from_member = message.source.is_some_and(|p| directory.by_peer.contains_key(&p));
                        let region = message.source.and_then(|p| directory.by_peer.get(&p).map(|r| (p, r)));
                        if let (Some(topic), true, Some((source, region))) = (topic, from_member, region) {
                            let data = message.data;
                            // A refusal is counted; the document is announced again later.
                            let _ = gate.admit(source, region, data.len(), |ticket| Command::Gossip { topic, message: data, ticket });
                        }
                    }
                    SwarmEvent::ConnectionEstablished { peer_id, connection_id, num_established, .. } => {
                        if let Some(region) = directory.by_peer.get(&peer_id) {
                            let replaced = connections.opened(&peer_id, connection_id);
                            for old in &replaced {
                                swarm.close_connection(*old);
                            }
                            // A first connection, or one that replaced old ones (the peer
                            // restarted while we held its dead connections): the engine
                            // reconciles.
                            if num_established.get() == 1 || !replaced.is_empty() {
                                info!(%region, "peer connected");
                                engine.peers().set(region, true);
                                if engine.offer(Command::PeerConnected { region: region.clone() }).is_err() {
                                    debug!(%region, "the engine's queue is full; the timer reconciles later");
                                }
                            }
                        } else {
                            engine.refusals().connection_denied();
                            let _ = swarm.disconnect_peer_id(peer_id);
                        }
                    }
                    SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                        let Some(region) = directory.by_peer.get(&peer_id) else { continue };
                        let theirs = versions_served(&info.protocols);
                        match agree(&ours, &theirs) {
                            Some(version) => {
                                engine.peers().set_protocol(region, Protocol::Agreed(version));
                                if engine.offer(Command::PeerSpeaks { region: region.clone(), versions: theirs }).is_err() {
                                    debug!(%region, "the engine's queue is full; the versions are stated again on the next connection");
                                }
                            }
                            None => {
                                error!(%region, ours = ?ours, theirs = ?theirs, "no protocol version in common with this member's node: the link is refused; upgrade the older node, or unpin [peer] protocol_versions");
                                engine.peers().set_protocol(region, Protocol::NoneInCommon);
                                let _ = swarm.disconnect_peer_id(peer_id);
                            }
                        }
                    }
                    SwarmEvent::IncomingConnectionError { error: ListenError::Denied { .. }, .. } => {
                        engine.refusals().connection_denied();
                        debug!("a connection from a peer off the roster refused");
                    }
                    SwarmEvent::ConnectionClosed { peer_id, connection_id, num_established, .. } => {
                        connections.closed(&peer_id, &connection_id);
                        for (peer, frame) in in_flight.unpark(Some(&peer_id)) {
                            send_frame(&mut swarm, &mut in_flight, &directory, &peer, frame, true);
                        }
                        if num_established == 0 && let Some(region) = directory.by_peer.get(&peer_id) {
                            info!(%region, "peer disconnected");
                            engine.peers().set(region, false);
                        }
                    }
                    _ => {}
                },
            }
        }
    });
    Ok(bound_out)
}
