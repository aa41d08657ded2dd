//! The peer transport: libp2p over QUIC, the node's ed25519 key as its libp2p identity.
//!
//! Only roster members may connect: the allow-list holds exactly the node keys of the roster
//! in force, so a stranger's connection is closed before any protocol runs. Every frame is one
//! request of the `/tongban/frame/1` request-response protocol (a length-prefixed signed
//! envelope, at most [`MAX_FRAME_SIZE`](tongban_protocol::wire::MAX_FRAME_SIZE)); the answer is
//! an empty acknowledgement of transport only — what a frame achieved comes back as frames of
//! its own (receipts, replies), because the engine verifies everything before it counts.
//! Frames that fail to go out are not retried here: the engine's outbox does that.

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::gossipsub;
use libp2p::identity::{Keypair, ed25519};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, allow_block_list};
use tokio::sync::mpsc;
use tongban_protocol::engine::GossipTopic;
use tongban_protocol::ids::{PublicKey, RegionId};
use tongban_protocol::roster::Roster;
use tongban_protocol::wire::MAX_FRAME_SIZE;
use tracing::{debug, info, warn};

use crate::daemon::{Command, EngineHandle};
use crate::error::NodeError;

/// The protocol every frame travels on.
pub const FRAME_PROTOCOL: StreamProtocol = StreamProtocol::new("/tongban/frame/1");

/// Length-prefixed byte strings, bounded on read.
#[derive(Debug, Clone, Default)]
pub struct FrameCodec;

async fn read_bounded<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    limit: usize,
) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame of {len} bytes is over the limit of {limit}"),
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
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
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        read_bounded(io, MAX_FRAME_SIZE).await
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
        req: Vec<u8>,
    ) -> io::Result<()> {
        write_prefixed(io, &req).await
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
pub struct Behaviour {
    allow: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    frames: request_response::Behaviour<FrameCodec>,
    gossip: gossipsub::Behaviour,
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

/// The libp2p peer id of a roster node key.
pub fn peer_id(key: &PublicKey) -> Result<PeerId, NodeError> {
    let ed = ed25519::PublicKey::try_from_bytes(&key.0).map_err(|e| {
        NodeError::Refused(format!(
            "node key {} is not usable by libp2p: {e}",
            key.kid()
        ))
    })?;
    Ok(PeerId::from_public_key(&libp2p::identity::PublicKey::from(
        ed,
    )))
}

/// Who is who on the roster, for the transport.
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
            let Ok(pid) = peer_id(&m.node_key) else {
                warn!(region = %m.region, "a roster member's node key is not usable by libp2p");
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

/// Starts listening on `listen` and runs the transport until the command channel closes.
/// Returns the listen address actually bound, once it is known.
pub async fn start(
    seed: [u8; 32],
    listen: &str,
    roster: Roster,
    me: RegionId,
    engine: EngineHandle,
    mut commands: mpsc::UnboundedReceiver<NetCommand>,
) -> Result<Multiaddr, NodeError> {
    let listen: Multiaddr = listen.parse().map_err(|e| {
        NodeError::Refused(format!("peer.listen {listen:?} is not a multiaddr: {e}"))
    })?;
    let mut secret = seed;
    let keypair = Keypair::ed25519_from_bytes(&mut secret)
        .map_err(|e| NodeError::Refused(format!("the node key is not usable by libp2p: {e}")))?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_quic()
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
            Ok(Behaviour {
                allow: allow_block_list::Behaviour::default(),
                gossip,
                frames: request_response::Behaviour::new(
                    [(FRAME_PROTOCOL, ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(30))
                        .with_max_concurrent_streams(1024),
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
    tokio::spawn(async move {
        loop {
            tokio::select! {
                cmd = commands.recv() => {
                    let Some(cmd) = cmd else { return };
                    match cmd {
                        NetCommand::Send { to, frame } => {
                            let Some((pid, addrs)) = directory.by_region.get(&to) else {
                                debug!(%to, "no such peer on the roster; frame dropped");
                                continue;
                            };
                            swarm.behaviour_mut().frames.send_request_with_addresses(pid, frame, addrs.clone());
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
                        }
                    }
                }
                event = swarm.select_next_some() => match event {
                    SwarmEvent::Behaviour(BehaviourEvent::Frames(request_response::Event::Message { peer, message, .. })) => {
                        match message {
                            request_response::Message::Request { request, channel, .. } => {
                                if directory.by_peer.contains_key(&peer) {
                                    engine.tell(Command::Frame(request));
                                }
                                let _ = swarm.behaviour_mut().frames.send_response(channel, Vec::new());
                            }
                            request_response::Message::Response { .. } => {}
                        }
                    }
                    SwarmEvent::Behaviour(BehaviourEvent::Frames(request_response::Event::OutboundFailure { peer, error, .. })) => {
                        debug!(%peer, %error, "a frame did not go out; the outbox will retry");
                    }
                    SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::Message { message, .. })) => {
                        let topic = GossipTopic::ALL
                            .into_iter()
                            .find(|t| gossipsub::IdentTopic::new(t.name()).hash() == message.topic);
                        let from_member = message.source.is_some_and(|p| directory.by_peer.contains_key(&p));
                        if let (Some(topic), true) = (topic, from_member) {
                            engine.tell(Command::Gossip(topic, message.data));
                        }
                    }
                    SwarmEvent::ConnectionEstablished { peer_id, num_established, .. } => {
                        if let Some(region) = directory.by_peer.get(&peer_id) {
                            if num_established.get() == 1 {
                                info!(%region, "peer connected");
                                engine.tell(Command::PeerConnected(region.clone()));
                            }
                        } else {
                            let _ = swarm.disconnect_peer_id(peer_id);
                        }
                    }
                    SwarmEvent::ConnectionClosed { peer_id, num_established, .. } => {
                        if num_established == 0 && let Some(region) = directory.by_peer.get(&peer_id) {
                            info!(%region, "peer disconnected");
                        }
                    }
                    _ => {}
                },
            }
        }
    });
    Ok(bound_out)
}
