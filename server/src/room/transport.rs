//! The transport driver: moves bytes between one room's UDP socket and its [`RoomCore`].
//!
//! One netcode server (secure connect tokens only) and one set of renet connections per room,
//! on the room's own port: a netcode server finds a client by scanning its slots, so small
//! per-room servers keep that cheap, and a room's traffic never touches another room's state.

use std::{
    cell::RefCell,
    collections::HashSet,
    io,
    net::{SocketAddr, UdpSocket},
    time::Duration,
};

use protocol::{
    GameId, GameProtocol, TokenKey, TokenUserData,
    batch_io::{RecvBatch, SendBatch},
    bundle, unix_now,
};
use renetcode::{NetcodeServer, ServerAuthentication, ServerConfig, ServerResult};

use super::{
    core::{ClientId, Outbound, RoomCore},
    hostile::{HostileKind, contain},
    inbound::{Inbound, TransportStats, notice},
};
use crate::game::Game;

/// Most datagrams moved per system call: a 10-player room's tick receives and sends one or
/// two per player.
const BATCH: usize = 32;

/// Most receive calls per tick (so at most 512 datagrams): a flood cannot keep a tick reading
/// forever; what is left waits in the socket buffer, and the kernel drops the excess.
const MAX_RECEIVES_PER_TICK: usize = 16;

/// Copies of the notice an ejected client is sent (datagrams get lost; it gets no other).
const NOTICE_COPIES: usize = 2;

thread_local! {
    /// Datagram buffers, per worker thread rather than per room: a room only needs them while
    /// it is being ticked, and keeping them out of the room keeps an idle room small.
    static BUFFERS: RefCell<(RecvBatch<BATCH>, SendBatch<BATCH>)> =
        RefCell::new((RecvBatch::new(), SendBatch::new()));
}

/// Netcode's packet type for a connection response (low four bits of a packet's first byte,
/// which travels in clear).
const NETCODE_RESPONSE: u8 = 3;

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

/// The socket, the handshake's loose ends, and the clients' side of the room.
struct Link {
    socket: UdpSocket,
    inbound: Inbound,
    /// Clients whose token's user data could not be read, to be let go.
    refused: Vec<ClientId>,
    /// Connected clients still sending connection responses: the keep-alive that completes their
    /// handshake was lost. Netcode only sends keep-alives to a client that has had no packet for
    /// a while, and a client that is still connecting drops payloads, so while a client is in
    /// here it gets no payloads until a keep-alive has gone out; otherwise the room's 30 Hz
    /// snapshots would starve the handshake until the connection timed out.
    keepalive_lost: HashSet<ClientId>,
}

impl RoomTransport {
    /// Wraps a bound socket. `public_addr` is the address clients were given (it must match the
    /// one in their tokens), `game` the game whose tokens it takes; `max_clients` bounds
    /// connections.
    pub fn new(
        socket: UdpSocket,
        public_addr: SocketAddr,
        key: TokenKey,
        game: &GameId,
        max_clients: usize,
    ) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        let netcode = NetcodeServer::new(ServerConfig {
            current_time: unix_now(),
            max_clients: max_clients.clamp(1, 1024),
            protocol_id: game.protocol_id(),
            public_addresses: vec![public_addr],
            authentication: ServerAuthentication::Secure { private_key: key },
        });
        Ok(Self {
            addr: public_addr,
            netcode,
            bundle: Vec::new(),
            link: Link {
                socket,
                inbound: Inbound::new(true),
                refused: Vec::new(),
                keepalive_lost: HashSet::new(),
            },
        })
    }

    /// The same transport without the packet check in front of renet: renet sees whatever a
    /// client sends, and only containment stands between a client's bytes and the room. For
    /// tests that show containment holds on its own.
    #[doc(hidden)]
    pub fn without_packet_check(mut self) -> Self {
        self.link.inbound = Inbound::new(false);
        self
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Traffic counters.
    pub fn stats(&self) -> TransportStats {
        self.link.inbound.stats
    }

    /// Advances time by `dt`, drains the socket and hands connections and messages to `core`.
    pub fn receive<G: Game>(&mut self, dt: Duration, core: &mut RoomCore<G>) {
        self.netcode.update(dt);
        self.link.inbound.advance(dt);
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
            self.link.inbound.renet.disconnect(client);
        }
        for client in self.link.inbound.closed_by_renet() {
            let result = self.netcode.disconnect(client);
            self.link.on_netcode_result(result);
        }
        // Ejected before delivery, so nothing reads a connection whose state a panic left
        // half-changed; and after, for a panic while delivering.
        self.eject(core);
        self.link.inbound.deliver(core);
        self.eject(core);
    }

    fn receive_datagram(&mut self, datagram: &mut [u8], from: SocketAddr) {
        let stats = &mut self.link.inbound.stats;
        stats.packets_in += 1;
        stats.bytes_in += datagram.len() as u64;
        let response = datagram
            .first()
            .is_some_and(|b| b & 0x0f == NETCODE_RESPONSE);
        // A response that connects a client yields `ClientConnected`; an authentic one from a
        // client already connected means that client never got its keep-alive.
        let responder = response.then(|| self.connected_client_at(from)).flatten();
        let quiet_before = responder.and_then(|c| self.netcode.time_since_last_received_packet(c));
        // Netcode decrypts a connected client's packets with that client's key, so a panic in
        // it is that client's doing: the datagram is dropped and the client (if any is at that
        // address) ejected.
        let Self { netcode, link, .. } = self;
        let handled = contain(|| {
            let result = netcode.process_packet(from, datagram);
            let unanswered = matches!(result, ServerResult::None);
            link.on_netcode_result(result);
            unanswered
        });
        let unanswered = match handled {
            Ok(unanswered) => unanswered,
            Err(panic) => {
                self.link.inbound.stats.bad_packets += 1;
                match self.connected_client_at(from) {
                    Some(client) => {
                        self.link.inbound.hostile(client, HostileKind::Panic, panic);
                    }
                    None => {
                        tracing::warn!(%from, %panic, "datagram from an unconnected address panicked; dropped")
                    }
                }
                return;
            }
        };
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

    /// Ejects the clients marked since the last call: each is sent its notice, then closed at
    /// the netcode level.
    fn eject<G: Game>(&mut self, core: &mut RoomCore<G>) {
        for ejection in self.link.inbound.eject(core) {
            let client = ejection.client;
            self.link.keepalive_lost.remove(&client);
            if let Some(payload) = notice::<G::Protocol>(ejection.kind) {
                for _ in 0..NOTICE_COPIES {
                    match self.netcode.generate_payload_packet(client, &payload) {
                        Ok((addr, datagram)) => self.link.send_to(datagram, addr),
                        Err(_) => break,
                    }
                }
            }
            let result = self.netcode.disconnect(client);
            self.link.on_netcode_result(result);
        }
    }

    /// The connected client at `addr`, if any.
    fn connected_client_at(&self, addr: SocketAddr) -> Option<ClientId> {
        self.netcode
            .clients_id_iter()
            .find(|&c| self.netcode.client_addr(c) == Some(addr))
    }

    /// Queues the core's outbound messages on their channels and sends every packet due.
    pub fn send<P: GameProtocol>(&mut self, out: &mut Vec<Outbound<P>>) {
        for message in out.drain(..) {
            self.link.inbound.queue(message);
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
                inbound,
                keepalive_lost,
                ..
            } = link;
            let mut sent = (0u64, 0u64);
            inbound.packets_to_send(|client, packets| {
                if keepalive_lost.contains(&client) {
                    // Dropped as if lost on the way: reliable messages are resent once the
                    // client is connected, and the silence lets netcode send the keep-alive it
                    // needs.
                    return;
                }
                // A client's packets share datagrams where they fit; all clients' datagrams
                // leave in as few calls as the batch allows.
                let packed = bundle::pack(&packets, bundle, |payload| {
                    let (addr, datagram) = netcode.generate_payload_packet(client, payload)?;
                    sent.0 += 1;
                    sent.1 += datagram.len() as u64;
                    if batch.push(datagram, addr) {
                        flush(batch, socket);
                    }
                    Ok::<_, renetcode::NetcodeError>(())
                });
                if let Err(e) = packed {
                    tracing::debug!(client, error = %e, "could not encrypt packet");
                }
            });
            flush(batch, socket);
            inbound.stats.packets_out += sent.0;
            inbound.stats.bytes_out += sent.1;
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

impl Link {
    /// Sends one datagram now, counted.
    fn send_to(&mut self, payload: &[u8], addr: SocketAddr) {
        let stats = &mut self.inbound.stats;
        stats.packets_out += 1;
        stats.bytes_out += payload.len() as u64;
        if let Err(e) = self.socket.send_to(payload, addr) {
            tracing::debug!(%addr, error = %e, "send failed");
        }
    }

    fn on_netcode_result(&mut self, result: ServerResult<'_, '_>) {
        match result {
            ServerResult::None => {}
            ServerResult::PacketToSend { addr, payload } => self.send_to(payload, addr),
            ServerResult::Payload { client_id, payload } => {
                // A payload from the client proves it finished the handshake.
                if !self.keepalive_lost.is_empty() {
                    self.keepalive_lost.remove(&client_id);
                }
                self.inbound.payload(client_id, payload);
            }
            ServerResult::ClientConnected {
                client_id,
                addr,
                user_data,
                payload,
            } => {
                self.inbound.renet.add(client_id);
                self.send_to(payload, addr);
                match TokenUserData::from_bytes(&user_data) {
                    Ok(user) => {
                        self.inbound.joining.insert(client_id, user);
                    }
                    Err(e) => {
                        // Only the matchmaker can mint tokens, so this means a key or version mix-up.
                        tracing::warn!(client = client_id, error = %e, "token user data unreadable; refusing");
                        self.refused.push(client_id);
                    }
                }
            }
            ServerResult::ClientDisconnected {
                client_id,
                addr,
                payload,
            } => {
                self.inbound.renet.remove(client_id);
                self.keepalive_lost.remove(&client_id);
                if let Some(payload) = payload {
                    self.send_to(payload, addr);
                }
            }
        }
    }
}
