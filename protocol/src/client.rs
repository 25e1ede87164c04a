//! [`GameClient`]: one player's connection to a room.
//!
//! The client owns a UDP socket and drives netcode (encryption, connect handshake) and renet
//! (channels, reliability) itself. It is poll-based and never blocks: call [`GameClient::update`]
//! once per frame with the elapsed time, read events and the newest snapshot, send an input,
//! then [`GameClient::flush`].

use std::{
    collections::VecDeque,
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket},
    time::{Duration, Instant},
};

use renetcode::{ClientAuthentication, ConnectToken, NetcodeClient};

use crate::{
    api::Assignment,
    batch_io::{self, RecvBatch, SendBatch},
    bundle, codec,
    game::{GameId, GameProtocol, WireMessage, protocol_id},
    input_clock::InputClock,
    link::{Link, LinkProfile},
    message::{
        Channel, ClientEvent, INPUT_REDUNDANCY, InputFrame, InputPacket, ServerEvent, Snapshot,
        connection_config,
    },
    sync::{SnapshotPacket, SnapshotReceiver},
    token::{TokenError, token_from_base64, unix_now},
};

/// Why a [`GameClient`] could not connect or stopped working.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connect token could not be read.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The assignment is for a room of another game, or another version of this one.
    #[error("the room plays {room}, and this client plays {client}")]
    OtherGame {
        /// The room's game.
        room: GameId,
        /// This client's game.
        client: GameId,
    },
    /// The token was issued for another protocol version than this client speaks.
    #[error(
        "protocol mismatch: token is for protocol id {token:#x}, this client speaks {client:#x} (its game's version and the platform's); update the client"
    )]
    ProtocolMismatch {
        /// Protocol id in the token.
        token: u64,
        /// Protocol id of this build.
        client: u64,
    },
    /// The token names no server address.
    #[error("connect token has no server address")]
    NoServerAddress,
    /// A socket operation failed.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
    /// Netcode refused to start or encrypt.
    #[error("netcode error: {0}")]
    Netcode(String),
    /// A command was not sent: the connection is not up.
    #[error("not connected: the command was not sent")]
    NotConnected,
    /// A command could not be encoded.
    #[error("command does not encode: {0}")]
    Encode(#[from] codec::CodecError),
    /// A command encodes to more than a client may send in one message.
    #[error(
        "command encodes to {0} bytes, more than the {max} a room accepts",
        max = crate::renet_wire::MAX_CLIENT_MESSAGE_BYTES
    )]
    MessageTooLarge(usize),
}

/// Decodes a reliable event from the room and has the game check its own parts.
fn decode_event<G: GameProtocol>(bytes: &[u8]) -> Result<ServerEvent<G>, ()> {
    let event = codec::decode::<ServerEvent<G>>(bytes).map_err(|_| ())?;
    let valid = match &event {
        ServerEvent::Welcome { game, .. } => game.validate().is_ok(),
        ServerEvent::Game(event) => event.validate().is_ok(),
        ServerEvent::MatchEnded(results) => results.game.validate().is_ok(),
        _ => true,
    };
    if valid { Ok(event) } else { Err(()) }
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectCause {
    /// The connect token expired before the handshake finished.
    TokenExpired,
    /// The server stopped answering (handshake or connection timeout).
    TimedOut,
    /// The server refused the connection (full, or the token was not accepted).
    Denied,
    /// The server closed the connection.
    ByServer,
    /// This client closed the connection.
    ByClient,
    /// The reliability layer failed (e.g. a channel overflowed); the text says how.
    Protocol(String),
}

/// Whether the client is connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Handshake in progress.
    Connecting,
    /// Connected: events and snapshots flow.
    Connected,
    /// The connection ended.
    Disconnected(DisconnectCause),
}

/// Traffic counters, at the UDP level (netcode headers and encryption included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// UDP payload bytes received from the server.
    pub bytes_received: u64,
    /// UDP payload bytes sent to the server.
    pub bytes_sent: u64,
    /// Datagrams received from the server.
    pub packets_received: u64,
    /// Datagrams sent to the server.
    pub packets_sent: u64,
    /// Snapshots received.
    pub snapshots_received: u64,
    /// Snapshots that could not be applied (baseline no longer held); the room sends a
    /// keyframe once acknowledgements stop advancing.
    pub snapshots_unusable: u64,
    /// Messages from the server that failed to decode (dropped).
    pub decode_errors: u64,
    /// Times the match moved to another server and this client followed it (a
    /// [`ServerEvent::Migrate`], or [`GameClient::rejoin`] after its server was lost).
    pub migrations: u64,
}

/// A game client connected (or connecting) to one room of the game `G`.
pub struct GameClient<G: GameProtocol> {
    socket: UdpSocket,
    server_addr: SocketAddr,
    netcode: NetcodeClient,
    renet: renet::RenetClient,
    events: VecDeque<ServerEvent<G>>,
    receiver: SnapshotReceiver,
    snapshot: Option<Snapshot>,
    snapshot_is_new: bool,
    next_seq: u32,
    recent_inputs: VecDeque<InputFrame<G::Input>>,
    stats: ClientStats,
    conditioner: Option<Conditioner>,
    recv_batch: RecvBatch<BATCH>,
    send_batch: SendBatch<BATCH>,
    /// Reused to pack renet's packets into bundles.
    bundle: Vec<u8>,
    /// A [`ServerEvent::Migrate`] token received and not yet followed.
    migrate_to: Option<ConnectToken>,
    /// Which room tick the next input is for.
    input_clock: InputClock,
}

/// Most datagrams moved per system call: a frame sends one or two and receives about as many.
const BATCH: usize = 8;

/// Hands a received datagram to netcode and the packets in its payload to renet (a notice's
/// event goes straight to `events`).
fn accept<G: GameProtocol>(
    netcode: &mut NetcodeClient,
    renet: &mut renet::RenetClient,
    stats: &mut ClientStats,
    events: &mut VecDeque<ServerEvent<G>>,
    datagram: &mut [u8],
) {
    if let Some(payload) = netcode.process_packet(datagram) {
        if let Some(body) = bundle::notice_body(payload) {
            match decode_event::<G>(body) {
                Ok(event) => events.push_back(event),
                Err(_) => stats.decode_errors += 1,
            }
            return;
        }
        for packet in bundle::unpack(payload) {
            match packet {
                Ok(packet) => renet.process_packet(packet),
                Err(_) => stats.decode_errors += 1,
            }
        }
    }
}

/// A conditioned link in each direction, on the client's own clock.
struct Conditioner {
    epoch: Instant,
    outgoing: Link<(Vec<u8>, SocketAddr)>,
    incoming: Link<Vec<u8>>,
}

impl<G: GameProtocol> std::fmt::Debug for GameClient<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GameClient")
            .field("server_addr", &self.server_addr)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl<G: GameProtocol> GameClient<G> {
    /// Starts connecting to the room named in a matchmaker assignment.
    ///
    /// # Errors
    /// [`ClientError::OtherGame`] if the assignment is for a room of another game or version,
    /// or as [`GameClient::connect_with_token`].
    pub fn connect(assignment: &Assignment) -> Result<Self, ClientError> {
        same_game::<G>(assignment)?;
        Self::connect_with_token(token_from_base64(&assignment.connect_token)?)
    }

    /// Starts connecting with a netcode connect token.
    pub fn connect_with_token(token: ConnectToken) -> Result<Self, ClientError> {
        let server_addr = token_server::<G>(&token)?;
        let bind_ip = match server_addr.ip() {
            IpAddr::V4(ip) if ip.is_loopback() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(ip) if ip.is_loopback() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let socket = UdpSocket::bind(SocketAddr::new(bind_ip, 0))?;
        socket.set_nonblocking(true)?;
        let (netcode, renet) = connection(token)?;
        Ok(Self {
            socket,
            server_addr,
            netcode,
            renet,
            events: VecDeque::new(),
            receiver: SnapshotReceiver::new(),
            snapshot: None,
            snapshot_is_new: false,
            next_seq: 1,
            recent_inputs: VecDeque::with_capacity(INPUT_REDUNDANCY),
            stats: ClientStats::default(),
            conditioner: None,
            recv_batch: RecvBatch::new(),
            send_batch: SendBatch::new(),
            bundle: Vec::with_capacity(bundle::MAX_PAYLOAD),
            migrate_to: None,
            // The welcome says the room's rate; 30 Hz is the default until then.
            input_clock: InputClock::new(30),
        })
    }

    /// Follows the match to another server: says goodbye to the old one and starts a fresh
    /// connection (netcode, renet, snapshot views) to the new one on the same socket. The
    /// newest snapshot stays readable and input sequence numbers go on, so the game's
    /// prediction carries over; the new room's first snapshot is a keyframe.
    fn migrate(&mut self, token: ConnectToken) -> Result<(), ClientError> {
        let server_addr = token_server::<G>(&token)?;
        let (netcode, renet) = connection(token)?;
        self.send_netcode_disconnect();
        self.netcode = netcode;
        self.renet = renet;
        self.server_addr = server_addr;
        self.receiver = SnapshotReceiver::new();
        self.snapshot_is_new = false;
        // Inputs the old room never applied are stale by now; the new room starts its own
        // count of them, and its clock is found again from its first snapshot.
        self.recent_inputs.clear();
        self.input_clock.reset();
        self.stats.migrations += 1;
        Ok(())
    }

    /// Rejoins the match where it resumed after its server was lost: `assignment` is the
    /// ticket's new assignment (same room, another address), which a client reads from the
    /// matchmaker once its room has gone silent. Like following a
    /// [`ServerEvent::Migrate`], it keeps the socket, the input sequence and the newest
    /// snapshot; the room resumed from a copy a moment older than what this client last saw,
    /// so the next snapshots may step back in time.
    pub fn rejoin(&mut self, assignment: &Assignment) -> Result<(), ClientError> {
        same_game::<G>(assignment)?;
        self.migrate(token_from_base64(&assignment.connect_token)?)
    }

    /// Puts a link conditioner on this client's traffic: `round_trip` describes the whole
    /// round trip (as the presets do); each direction gets its one-way share. For load tests
    /// that want real players' networks on loopback.
    pub fn condition(&mut self, round_trip: LinkProfile, seed: u64) {
        let one_way = round_trip.one_way();
        self.conditioner = Some(Conditioner {
            epoch: Instant::now(),
            outgoing: Link::new(one_way, seed),
            incoming: Link::new(one_way, seed ^ 0x9e37_79b9_7f4a_7c15),
        });
    }

    /// Puts the conditioner's due outgoing datagrams on the wire.
    fn release_outgoing(&mut self) -> Result<(), ClientError> {
        if let Some(c) = &mut self.conditioner {
            for (packet, addr) in c.outgoing.deliver(c.epoch.elapsed()) {
                send_ignoring_refused(&self.socket, &packet, addr)?;
            }
        }
        Ok(())
    }

    /// Advances time by `dt`, receives everything waiting on the socket and decodes it.
    /// Sends handshake and keep-alive packets as netcode needs.
    pub fn update(&mut self, dt: Duration) -> Result<(), ClientError> {
        if let Some(token) = self.migrate_to.take() {
            self.migrate(token)?;
        }
        self.input_clock.advance(dt);
        self.renet.update(dt);
        if self.netcode.is_disconnected() {
            self.renet.disconnect_due_to_transport();
            return Ok(());
        }
        if self.renet.is_disconnected() {
            // The reliability layer gave up; tell the server before going quiet.
            self.send_netcode_disconnect();
            return Ok(());
        }
        loop {
            let n = self.recv_batch.recv(&self.socket)?;
            for i in 0..n {
                let (datagram, from) = self.recv_batch.get_mut(i);
                if from != Some(self.server_addr) {
                    continue;
                }
                self.stats.bytes_received += datagram.len() as u64;
                self.stats.packets_received += 1;
                match &mut self.conditioner {
                    Some(c) => c.incoming.send(c.epoch.elapsed(), datagram.to_vec()),
                    None => accept(
                        &mut self.netcode,
                        &mut self.renet,
                        &mut self.stats,
                        &mut self.events,
                        datagram,
                    ),
                }
            }
            if n < BATCH {
                break;
            }
        }
        if let Some(c) = &mut self.conditioner {
            for mut packet in c.incoming.deliver(c.epoch.elapsed()) {
                accept(
                    &mut self.netcode,
                    &mut self.renet,
                    &mut self.stats,
                    &mut self.events,
                    &mut packet,
                );
            }
        }
        if let Some((packet, addr)) = self.netcode.update(dt) {
            match &mut self.conditioner {
                Some(c) => c.outgoing.send(c.epoch.elapsed(), (packet.to_vec(), addr)),
                None => send_ignoring_refused(&self.socket, packet, addr)?,
            }
            self.stats.bytes_sent += packet.len() as u64;
            self.stats.packets_sent += 1;
        }
        self.release_outgoing()?;
        if self.netcode.is_connected() {
            self.renet.set_connected();
        } else if self.netcode.is_disconnected() {
            self.renet.disconnect_due_to_transport();
        }
        self.drain_messages();
        Ok(())
    }

    fn drain_messages(&mut self) {
        while let Some(bytes) = self.renet.receive_message(Channel::Events) {
            match decode_event::<G>(&bytes) {
                Ok(event) => {
                    if let ServerEvent::Welcome { tick_rate, .. } = &event {
                        self.input_clock = InputClock::new(*tick_rate);
                    }
                    if let ServerEvent::Migrate { connect_token } = &event {
                        // Followed at the next update; a token that cannot be read leaves the
                        // client where it is (the old room then closes the connection).
                        match token_from_base64(connect_token) {
                            Ok(token) => self.migrate_to = Some(token),
                            Err(_) => self.stats.decode_errors += 1,
                        }
                    }
                    self.events.push_back(event);
                }
                Err(_) => self.stats.decode_errors += 1,
            }
        }
        while let Some(bytes) = self.renet.receive_message(Channel::State) {
            let Ok(packet) = codec::decode::<SnapshotPacket>(&bytes) else {
                self.stats.decode_errors += 1;
                continue;
            };
            self.stats.snapshots_received += 1;
            let rtt = Duration::from_secs_f64(self.renet.rtt().max(0.0));
            self.input_clock
                .on_snapshot(packet.tick, packet.input_lead, rtt);
            match self.receiver.receive(&packet) {
                // Unreliable: older snapshots may arrive late; they can serve as baselines,
                // but the newest is what the game sees.
                Ok(true) => {
                    // Into the previous snapshot's buffers: no allocation per snapshot.
                    match &mut self.snapshot {
                        Some(snapshot) => {
                            self.snapshot_is_new = self.receiver.snapshot_into(snapshot);
                        }
                        None => {
                            self.snapshot = self.receiver.snapshot();
                            self.snapshot_is_new = self.snapshot.is_some();
                        }
                    }
                }
                Ok(false) => {}
                Err(_) => self.stats.snapshots_unusable += 1,
            }
        }
    }

    /// How many inputs to send now: one per room tick since the last (see
    /// [`InputClock::due`]). A game that sends this many each frame gives the room exactly one
    /// input per tick, so its prediction steps as the room does; one that sends one per frame
    /// anyway still works (two inputs for one tick are merged by the room).
    pub fn inputs_due(&self) -> u32 {
        self.input_clock.due()
    }

    /// Queues an input for sending, stamped with the room tick it is for (see
    /// [`GameClient::inputs_due`]). Each input packet also repeats the previous
    /// [`INPUT_REDUNDANCY`]` - 1` inputs and acknowledges the newest snapshot. Returns the
    /// input's sequence number.
    pub fn send_input(&mut self, input: G::Input) -> u32 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        if self.recent_inputs.len() == INPUT_REDUNDANCY {
            self.recent_inputs.pop_front();
        }
        let tick = self.input_clock.stamp();
        self.recent_inputs
            .push_back(InputFrame { seq, tick, input });
        if self.renet.is_connected() {
            let packet = InputPacket {
                ack_tick: self.receiver.newest_tick().unwrap_or(0),
                inputs: self.recent_inputs.iter().copied().collect(),
            };
            let bytes = codec::encode(&packet).expect("an input packet is always encodable");
            self.renet.send_message(Channel::State, bytes);
        }
        seq
    }

    /// Tells the room this player leaves on purpose. Keep calling [`GameClient::update`] and
    /// [`GameClient::flush`] briefly so the event is delivered, then [`GameClient::disconnect`].
    pub fn leave(&mut self) {
        self.send_event(&ClientEvent::Leave);
    }

    /// Sends one of the game's commands, reliably and in order; the room hands it to the game
    /// at its next tick, or drops it (and counts it) if the game's validation refuses it.
    ///
    /// # Errors
    /// [`ClientError::NotConnected`] while the connection is not up (connecting, following a
    /// migration, or closed): the command is not sent, so the game can retry it once
    /// [`GameClient::is_connected`]; [`ClientError::Encode`] or
    /// [`ClientError::MessageTooLarge`] if it does not encode within the platform's bounds.
    pub fn send_command(&mut self, command: G::Command) -> Result<(), ClientError> {
        if !self.renet.is_connected() {
            return Err(ClientError::NotConnected);
        }
        let bytes = codec::encode(&ClientEvent::<G>::Command(command))?;
        if bytes.len() > crate::renet_wire::MAX_CLIENT_MESSAGE_BYTES {
            return Err(ClientError::MessageTooLarge(bytes.len()));
        }
        self.renet.send_message(Channel::Events, bytes);
        Ok(())
    }

    fn send_event(&mut self, event: &ClientEvent<G>) {
        if self.renet.is_connected() {
            let bytes = codec::encode(event).expect("a platform event is always encodable");
            self.renet.send_message(Channel::Events, bytes);
        }
    }

    /// Sends everything queued. Call once per frame after sending inputs.
    pub fn flush(&mut self) -> Result<(), ClientError> {
        if !self.netcode.is_connected() {
            return Ok(());
        }
        let packets = self.renet.get_packets_to_send();
        let Self {
            netcode,
            stats,
            conditioner,
            send_batch,
            socket,
            bundle,
            ..
        } = self;
        // The frame's packets share datagrams where they fit, and the datagrams leave together,
        // in one call where the OS allows.
        bundle::pack(&packets, bundle, |payload| {
            let (addr, datagram) = netcode
                .generate_payload_packet(payload)
                .map_err(|e| ClientError::Netcode(e.to_string()))?;
            stats.bytes_sent += datagram.len() as u64;
            stats.packets_sent += 1;
            match conditioner {
                Some(c) => c
                    .outgoing
                    .send(c.epoch.elapsed(), (datagram.to_vec(), addr)),
                None => {
                    if send_batch.push(datagram, addr) {
                        send_batch.send(socket)?;
                    }
                }
            }
            Ok::<_, ClientError>(())
        })?;
        self.send_batch.send(&self.socket)?;
        self.release_outgoing()
    }

    /// Closes the connection now, telling the server.
    pub fn disconnect(&mut self) {
        self.renet.disconnect();
        self.send_netcode_disconnect();
    }

    fn send_netcode_disconnect(&mut self) {
        if self.netcode.is_disconnected() {
            return;
        }
        if let Ok((addr, packet)) = self.netcode.disconnect() {
            let _ = self.socket.send_to(packet, addr);
        }
    }

    /// The next reliable event from the room, in order.
    pub fn poll_event(&mut self) -> Option<ServerEvent<G>> {
        self.events.pop_front()
    }

    /// The newest snapshot, if one arrived since the last call.
    pub fn take_new_snapshot(&mut self) -> Option<&Snapshot> {
        if std::mem::take(&mut self.snapshot_is_new) {
            self.snapshot.as_ref()
        } else {
            None
        }
    }

    /// The newest snapshot received so far.
    pub fn latest_snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// Connection state, with the cause once disconnected.
    pub fn state(&self) -> ConnectionState {
        if let Some(reason) = self.netcode.disconnect_reason() {
            use renetcode::DisconnectReason as N;
            return ConnectionState::Disconnected(match reason {
                N::ConnectTokenExpired => DisconnectCause::TokenExpired,
                N::ConnectionTimedOut
                | N::ConnectionResponseTimedOut
                | N::ConnectionRequestTimedOut => DisconnectCause::TimedOut,
                N::ConnectionDenied => DisconnectCause::Denied,
                N::DisconnectedByClient => DisconnectCause::ByClient,
                N::DisconnectedByServer => DisconnectCause::ByServer,
            });
        }
        if let Some(reason) = self.renet.disconnect_reason() {
            use renet::DisconnectReason as R;
            return ConnectionState::Disconnected(match reason {
                R::DisconnectedByClient => DisconnectCause::ByClient,
                R::DisconnectedByServer => DisconnectCause::ByServer,
                R::Transport => DisconnectCause::TimedOut,
                other => DisconnectCause::Protocol(other.to_string()),
            });
        }
        if self.netcode.is_connected() {
            ConnectionState::Connected
        } else {
            ConnectionState::Connecting
        }
    }

    /// Whether events and snapshots are flowing.
    pub fn is_connected(&self) -> bool {
        self.state() == ConnectionState::Connected
    }

    /// Smoothed round-trip time, as measured by renet's acks.
    pub fn rtt(&self) -> Duration {
        Duration::from_secs_f64(self.renet.rtt().max(0.0))
    }

    /// Estimated packet loss, 0.0 to 1.0.
    pub fn packet_loss(&self) -> f64 {
        self.renet.packet_loss()
    }

    /// Traffic counters.
    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// The room's UDP address.
    pub fn server_addr(&self) -> SocketAddr {
        self.server_addr
    }

    /// This connection's netcode client id.
    pub fn client_id(&self) -> u64 {
        self.netcode.client_id()
    }
}

/// The token's server, once the token is known to be for this game's version.
fn token_server<G: GameProtocol>(token: &ConnectToken) -> Result<SocketAddr, ClientError> {
    if token.protocol_id != protocol_id::<G>() {
        return Err(ClientError::ProtocolMismatch {
            token: token.protocol_id,
            client: protocol_id::<G>(),
        });
    }
    token.server_addresses[0].ok_or(ClientError::NoServerAddress)
}

/// Refuses, by name, an assignment to a room of another game or version.
fn same_game<G: GameProtocol>(assignment: &Assignment) -> Result<(), ClientError> {
    let client = GameId::of::<G>();
    if assignment.game != client {
        return Err(ClientError::OtherGame {
            room: assignment.game.clone(),
            client,
        });
    }
    Ok(())
}

/// A fresh netcode client for `token` and a renet connection waiting on it.
fn connection(token: ConnectToken) -> Result<(NetcodeClient, renet::RenetClient), ClientError> {
    let netcode = NetcodeClient::new(
        unix_now(),
        ClientAuthentication::Secure {
            connect_token: token,
        },
    )
    .map_err(|e| ClientError::Netcode(e.to_string()))?;
    let mut renet = renet::RenetClient::new(connection_config());
    renet.set_connecting();
    Ok((netcode, renet))
}

/// Sends one datagram; an error that only means it was lost is not an error here.
fn send_ignoring_refused(socket: &UdpSocket, packet: &[u8], addr: SocketAddr) -> io::Result<()> {
    match socket.send_to(packet, addr) {
        Ok(_) => Ok(()),
        Err(e) if batch_io::lost_not_broken(&e) => Ok(()),
        Err(e) => Err(e),
    }
}
