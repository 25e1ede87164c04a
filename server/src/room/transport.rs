//! The transport driver: moves bytes between one room's UDP socket and its [`RoomCore`].
//!
//! One netcode server (secure connect tokens only) and one set of renet connections per room,
//! on the room's own port: a netcode server finds a client by scanning its slots, so small
//! per-room servers keep that cheap, and a room's traffic never touches another room's state.

use std::{
    cell::RefCell,
    collections::{HashMap, HashSet},
    io,
    net::{SocketAddr, UdpSocket},
    time::Duration,
};

use protocol::{
    Channel, TokenKey, TokenUserData,
    batch_io::{RecvBatch, SendBatch},
    bundle, codec, connection_config, unix_now,
};
use renet::ServerEvent as RenetEvent;
use renetcode::{NetcodeServer, ServerAuthentication, ServerConfig, ServerResult};

use super::{
    connections::Connections,
    core::{ClientId, Outbound, RoomCore, RoomInput},
};
use crate::game::Game;

/// Most messages taken from one client per channel per tick; the rest wait (bounds the work a
/// flooding client can cause).
const MAX_MESSAGES_PER_TICK: usize = 32;

/// Most datagrams one client may send per second. A client sends one per frame it renders
/// (its inputs ride together, and renet's acknowledgements share the datagram); 300 leaves room
/// for fast displays and bursts after a stall. A client over it is disconnected: it is either
/// broken or attacking, and either way it costs other players their tick budget.
pub const MAX_DATAGRAMS_PER_CLIENT_SECOND: u32 = 300;

/// Most datagrams moved per system call: a 10-player room's tick receives and sends one or
/// two per player.
const BATCH: usize = 32;

/// Most receive calls per tick (so at most 512 datagrams): a flood cannot keep a tick reading
/// forever; what is left waits in the socket buffer, and the kernel drops the excess.
const MAX_RECEIVES_PER_TICK: usize = 16;

thread_local! {
    /// Datagram buffers, per worker thread rather than per room: a room only needs them while
    /// it is being ticked, and keeping them out of the room keeps an idle room small.
    static BUFFERS: RefCell<(RecvBatch<BATCH>, SendBatch<BATCH>)> =
        RefCell::new((RecvBatch::new(), SendBatch::new()));
}

/// Netcode's packet type for a connection response (low four bits of a packet's first byte,
/// which travels in clear).
const NETCODE_RESPONSE: u8 = 3;

/// Traffic counters for one room, at the UDP level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Datagrams received.
    pub packets_in: u64,
    /// Datagrams sent.
    pub packets_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Datagrams netcode rejected or the reliability layer could not use.
    pub bad_packets: u64,
    /// Clients disconnected for sending over [`MAX_DATAGRAMS_PER_CLIENT_SECOND`].
    pub flooders: u64,
}

/// One room's socket, netcode server and renet connections.
pub struct RoomTransport {
    addr: SocketAddr,
    netcode: NetcodeServer,
    /// Reused to pack renet's packets into bundles.
    bundle: Vec<u8>,
    /// Everything a netcode result acts on, apart from netcode itself (whose buffer the
    /// result borrows).
    link: Link,
}

/// The socket and the reliability layer, and what the room has yet to hear about.
struct Link {
    socket: UdpSocket,
    renet: Connections,
    /// Token user data of clients connected at the netcode level, until the room hears of them.
    joining: HashMap<ClientId, TokenUserData>,
    refused: Vec<ClientId>,
    /// Connected clients still sending connection responses: the keep-alive that completes their
    /// handshake was lost. Netcode only sends keep-alives to a client that has had no packet for
    /// a while, and a client that is still connecting drops payloads, so while a client is in
    /// here it gets no payloads until a keep-alive has gone out; otherwise the room's 30 Hz
    /// snapshots would starve the handshake until the connection timed out.
    keepalive_lost: HashSet<ClientId>,
    /// Datagrams per client in the current second.
    flood: FloodCounter,
    stats: TransportStats,
}

/// Counts each client's datagrams per one-second window.
#[derive(Default)]
struct FloodCounter {
    window: Duration,
    counts: HashMap<ClientId, u32>,
}

impl FloodCounter {
    fn advance(&mut self, dt: Duration) {
        self.window += dt;
        if self.window >= Duration::from_secs(1) {
            self.window = Duration::ZERO;
            self.counts.clear();
        }
    }

    /// Counts one datagram: `Some(true)` within the allowance, `Some(false)` for the one that
    /// goes over it (the client is to be disconnected), `None` for every one after (dropped).
    fn allow(&mut self, client: ClientId) -> Option<bool> {
        let n = self.counts.entry(client).or_default();
        *n = n.saturating_add(1);
        match *n {
            n if n <= MAX_DATAGRAMS_PER_CLIENT_SECOND => Some(true),
            n if n == MAX_DATAGRAMS_PER_CLIENT_SECOND + 1 => Some(false),
            _ => None,
        }
    }
}

impl RoomTransport {
    /// Wraps a bound socket. `public_addr` is the address clients were given (it must match the
    /// one in their tokens); `max_clients` bounds connections.
    pub fn new(
        socket: UdpSocket,
        public_addr: SocketAddr,
        key: TokenKey,
        max_clients: usize,
    ) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        let netcode = NetcodeServer::new(ServerConfig {
            current_time: unix_now(),
            max_clients: max_clients.clamp(1, 1024),
            protocol_id: protocol::PROTOCOL_ID,
            public_addresses: vec![public_addr],
            authentication: ServerAuthentication::Secure { private_key: key },
        });
        Ok(Self {
            addr: public_addr,
            netcode,
            bundle: Vec::new(),
            link: Link::new(socket),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Traffic counters.
    pub fn stats(&self) -> TransportStats {
        self.link.stats
    }

    /// Advances time by `dt`, drains the socket and hands connections and messages to `core`.
    pub fn receive<G: Game>(&mut self, dt: Duration, core: &mut RoomCore<G>) {
        self.netcode.update(dt);
        self.link.renet.update(dt);
        self.link.flood.advance(dt);
        BUFFERS.with_borrow_mut(|(batch, _)| {
            for _ in 0..MAX_RECEIVES_PER_TICK {
                let n = match batch.recv(&self.link.socket) {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(addr = %self.addr, error = %e, "room socket receive failed");
                        break;
                    }
                };
                for i in 0..n {
                    let (datagram, from) = batch.get_mut(i);
                    let Some(from) = from else { continue };
                    self.receive_datagram(datagram, from);
                }
                if n < BATCH {
                    break;
                }
            }
        });
        for client in self.netcode.clients_id() {
            let result = self.netcode.update_client(client);
            if matches!(result, ServerResult::PacketToSend { .. }) {
                // A keep-alive: it lets a client stuck in the handshake finish it.
                self.link.keepalive_lost.remove(&client);
            }
            self.link.on_netcode_result(result);
        }
        for client in std::mem::take(&mut self.link.refused) {
            self.link.renet.disconnect(client);
        }
        for client in self.link.renet.disconnected() {
            let result = self.netcode.disconnect(client);
            self.link.on_netcode_result(result);
        }
        self.link.deliver(core);
    }

    fn receive_datagram(&mut self, datagram: &mut [u8], from: SocketAddr) {
        self.link.stats.packets_in += 1;
        self.link.stats.bytes_in += datagram.len() as u64;
        let response = datagram
            .first()
            .is_some_and(|b| b & 0x0f == NETCODE_RESPONSE);
        // A response that connects a client yields `ClientConnected`; an authentic one from a
        // client already connected means that client never got its keep-alive.
        let responder = response.then(|| self.connected_client_at(from)).flatten();
        let quiet_before = responder.and_then(|c| self.netcode.time_since_last_received_packet(c));
        let result = self.netcode.process_packet(from, datagram);
        let unanswered = matches!(result, ServerResult::None);
        self.link.on_netcode_result(result);
        if let Some(client) = responder
            && unanswered
            && authenticated_now(
                quiet_before,
                self.netcode.time_since_last_received_packet(client),
            )
        {
            tracing::debug!(addr = %self.addr, client, "handshake keep-alive lost; resending");
            self.link.keepalive_lost.insert(client);
        }
    }

    /// The connected client at `addr`, if any.
    fn connected_client_at(&self, addr: SocketAddr) -> Option<ClientId> {
        self.netcode
            .clients_id_iter()
            .find(|&c| self.netcode.client_addr(c) == Some(addr))
    }

    /// Queues the core's outbound messages on their channels and sends every packet due.
    pub fn send(&mut self, out: &mut Vec<Outbound>) {
        for message in out.drain(..) {
            queue(&mut self.link.renet, message);
        }
        BUFFERS.with_borrow_mut(|(_, batch)| {
            let Self {
                netcode,
                bundle,
                link,
                ..
            } = self;
            let Link {
                socket,
                renet,
                keepalive_lost,
                stats,
                ..
            } = link;
            for (client, connection) in renet.connected() {
                let packets = connection.get_packets_to_send();
                if keepalive_lost.contains(&client) {
                    // Dropped as if lost on the way: reliable messages are resent once the
                    // client is connected, and the silence lets netcode send the keep-alive it
                    // needs.
                    continue;
                }
                // A client's packets share datagrams where they fit; all clients' datagrams
                // leave in as few calls as the batch allows.
                let packed = bundle::pack(&packets, bundle, |payload| {
                    let (addr, datagram) = netcode.generate_payload_packet(client, payload)?;
                    stats.packets_out += 1;
                    stats.bytes_out += datagram.len() as u64;
                    if batch.push(datagram, addr) {
                        flush(batch, socket);
                    }
                    Ok::<_, renetcode::NetcodeError>(())
                });
                if let Err(e) = packed {
                    tracing::debug!(client, error = %e, "could not encrypt packet");
                }
            }
            flush(batch, socket);
        });
    }

    /// Tells every client the room is closing (netcode disconnect packets, sent now).
    pub fn disconnect_all(&mut self) {
        for client in self.netcode.clients_id() {
            let result = self.netcode.disconnect(client);
            self.link.on_netcode_result(result);
        }
    }

    /// Clients connected at the netcode level.
    pub fn connected_clients(&self) -> usize {
        self.netcode.connected_clients()
    }
}

/// Whether the packet just processed from a connected client passed netcode's authentication:
/// netcode stamps a client's last-received time only after decrypting its packet, and time
/// stands still within one receive. Anyone can put a response's type byte on a datagram from a
/// spoofed address; only the client can make one that authenticates. (If the client was
/// already heard from in this receive, it is not stuck in the handshake.)
fn authenticated_now(quiet_before: Option<Duration>, quiet_after: Option<Duration>) -> bool {
    quiet_before.is_some_and(|d| !d.is_zero()) && quiet_after == Some(Duration::ZERO)
}

/// Sends a batch; a failure loses its datagrams, as the network might have.
fn flush(batch: &mut SendBatch<BATCH>, socket: &UdpSocket) {
    if let Err(e) = batch.send(socket) {
        tracing::debug!(error = %e, "send failed");
    }
}

/// One message from the room onto its client's renet channel (or a disconnect).
fn queue(renet: &mut Connections, message: Outbound) {
    let (client, channel, bytes) = match message {
        Outbound::Event { client, event } => (client, Channel::Events, codec::encode(&event)),
        Outbound::Snapshot { client, packet } => (client, Channel::State, codec::encode(&packet)),
        Outbound::Disconnect { client } => {
            renet.disconnect(client);
            return;
        }
    };
    match (bytes, renet.get_mut(client)) {
        // Encoded once, into the buffer renet keeps.
        (Ok(bytes), Some(connection)) => connection.send_message(channel, bytes),
        (Ok(_), None) => tracing::debug!(client, "message for a client no longer connected"),
        (Err(e), _) => tracing::error!(error = %e, "could not encode an outbound message"),
    }
}

/// A decrypted netcode payload from a connected client: its bundle of renet packets into renet.
fn take_payload(
    renet: &mut Connections,
    stats: &mut TransportStats,
    client_id: ClientId,
    payload: &[u8],
) {
    let mut connection = renet.get_mut(client_id);
    for packet in bundle::unpack(payload) {
        let accepted = match (packet, connection.as_deref_mut()) {
            (Ok(packet), Some(connection)) => {
                connection.process_packet(packet);
                true
            }
            _ => false,
        };
        if !accepted {
            stats.bad_packets += 1;
        }
    }
}

impl Link {
    fn new(socket: UdpSocket) -> Self {
        Self {
            socket,
            renet: Connections::new(connection_config()),
            joining: HashMap::new(),
            refused: Vec::new(),
            keepalive_lost: HashSet::new(),
            flood: FloodCounter::default(),
            stats: TransportStats::default(),
        }
    }

    /// Hands renet's connection events and each client's messages (at most
    /// [`MAX_MESSAGES_PER_TICK`] per channel) to the room.
    fn deliver<G: Game>(&mut self, core: &mut RoomCore<G>) {
        while let Some(event) = self.renet.next_event() {
            match event {
                RenetEvent::ClientConnected { client_id } => {
                    if let Some(user) = self.joining.remove(&client_id) {
                        core.handle(RoomInput::Connected {
                            client: client_id,
                            user,
                        });
                    }
                }
                RenetEvent::ClientDisconnected { client_id, reason } => {
                    tracing::debug!(client = client_id, %reason, "client disconnected");
                    self.joining.remove(&client_id);
                    core.handle(RoomInput::Disconnected { client: client_id });
                }
            }
        }
        for (client, connection) in self.renet.connected() {
            for channel in [Channel::Events, Channel::State] {
                for _ in 0..MAX_MESSAGES_PER_TICK {
                    let Some(bytes) = connection.receive_message(channel) else {
                        break;
                    };
                    core.handle(RoomInput::Message {
                        client,
                        channel,
                        bytes: &bytes,
                    });
                }
            }
        }
    }

    fn on_netcode_result(&mut self, result: ServerResult<'_, '_>) {
        let Self {
            socket,
            renet,
            joining,
            refused,
            keepalive_lost,
            flood,
            stats,
        } = self;
        let mut send = |payload: &[u8], addr: SocketAddr| {
            stats.packets_out += 1;
            stats.bytes_out += payload.len() as u64;
            if let Err(e) = socket.send_to(payload, addr) {
                tracing::debug!(%addr, error = %e, "send failed");
            }
        };
        match result {
            ServerResult::None => {}
            ServerResult::PacketToSend { addr, payload } => send(payload, addr),
            ServerResult::Payload { client_id, payload } => {
                // A payload from the client proves it finished the handshake.
                if !keepalive_lost.is_empty() {
                    keepalive_lost.remove(&client_id);
                }
                match flood.allow(client_id) {
                    Some(true) => take_payload(renet, stats, client_id, payload),
                    Some(false) => {
                        tracing::warn!(
                            client = client_id,
                            limit = MAX_DATAGRAMS_PER_CLIENT_SECOND,
                            "client sent over its datagram allowance in one second; disconnecting it"
                        );
                        stats.flooders += 1;
                        refused.push(client_id);
                    }
                    None => {}
                }
            }
            ServerResult::ClientConnected {
                client_id,
                addr,
                user_data,
                payload,
            } => {
                renet.add(client_id);
                send(payload, addr);
                match TokenUserData::from_bytes(&user_data) {
                    Ok(user) => {
                        joining.insert(client_id, user);
                    }
                    Err(e) => {
                        // Only the matchmaker can mint tokens, so this means a key or version mix-up.
                        tracing::warn!(client = client_id, error = %e, "token user data unreadable; refusing");
                        refused.push(client_id);
                    }
                }
            }
            ServerResult::ClientDisconnected {
                client_id,
                addr,
                payload,
            } => {
                renet.remove(client_id);
                keepalive_lost.remove(&client_id);
                if let Some(payload) = payload {
                    send(payload, addr);
                }
            }
        }
    }
}

/// The room's receive path without a network, from a decrypted netcode payload on: bundle,
/// renet, message caps, the game's message decoder, and the room's ticks. The same code the
/// transport runs; the fuzz target and the tests drive it with arbitrary payloads.
#[doc(hidden)]
pub struct ReceivePath<G: Game> {
    link: Link,
    room: super::Room<G>,
}

impl<G: Game> ReceivePath<G> {
    /// A room with `players` connected clients (ids `0..players`).
    pub fn new(game: G, settings: super::RoomSettings) -> io::Result<Self> {
        let mut link = Link::new(UdpSocket::bind("127.0.0.1:0")?);
        for (i, p) in settings.expected.iter().enumerate() {
            let client = i as ClientId;
            link.renet.add(client);
            link.joining.insert(
                client,
                TokenUserData {
                    room_id: settings.room_id,
                    ticket_id: p.ticket_id.clone(),
                    player_id: p.player_id.clone(),
                },
            );
        }
        let mut room = super::Room::new(game, settings);
        link.deliver(room.core_mut());
        Ok(Self { link, room })
    }

    /// One payload from `client`, delivered; then one room tick, whose messages go back into
    /// renet as the transport would queue them.
    pub fn payload(&mut self, client: ClientId, payload: &[u8]) {
        take_payload(&mut self.link.renet, &mut self.link.stats, client, payload);
        self.link.renet.update(Duration::from_millis(33));
        // What netcode does for the transport once renet lets a client go.
        for client in self.link.renet.disconnected() {
            self.link.renet.remove(client);
        }
        self.link.deliver(self.room.core_mut());
        for message in self.room.tick().drain(..) {
            queue(&mut self.link.renet, message);
        }
        for (_, connection) in self.link.renet.connected() {
            let _ = connection.get_packets_to_send();
        }
    }

    /// Datagram-level refusals so far.
    pub fn stats(&self) -> TransportStats {
        self.link.stats
    }

    /// The room.
    pub fn room(&self) -> &super::Room<G> {
        &self.room
    }
}
