//! [`Connection`]: one player's connection to a room without I/O (the quinn-proto half of the
//! client). Datagrams go in through [`Connection::handle_datagram`] and come out through a
//! `transmit` callback; time goes in as arguments. It runs netcode (encryption, the connect
//! handshake), renet (channels, reliability), snapshot deltas and the input clock, and never
//! touches a socket or reads a clock, so tests and other drivers (a browser bridge, a
//! simulated network) run it as they like. [`GameClient`](crate::GameClient) is the driver
//! that gives it a UDP socket and the system's clock.

use std::{collections::VecDeque, net::SocketAddr, time::Duration};

use renetcode::{ClientAuthentication, ConnectToken, NetcodeClient};

use super::ClientError;
use crate::{
    bundle, codec,
    game::{GameProtocol, WireMessage, protocol_id},
    input_clock::InputClock,
    message::{
        Channel, ClientEvent, INPUT_REDUNDANCY, InputFrame, InputPacket, ServerEvent,
        connection_config,
    },
    sync::{Snapshot, SnapshotPacket, SnapshotReceiver},
    token::token_from_base64,
};

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

/// Traffic counters, at the datagram level (netcode headers and encryption included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Datagram bytes received from the server (handed to [`Connection::handle_datagram`]).
    pub bytes_received: u64,
    /// Datagram bytes sent to the server.
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
    /// [`ServerEvent::Migrate`], or a rejoin after its server was lost).
    pub migrations: u64,
}

/// One player's connection to a room of the game `G`, without I/O.
///
/// A driver, each frame: hands it every datagram from [`Connection::server_addr`], calls
/// [`Connection::update`] with the time passed, reads events and the newest snapshot, sends
/// inputs and commands, then [`Connection::poll_transmit`]. Whatever it has to send leaves
/// through the driver's `transmit(datagram, to)` callback.
pub struct Connection<G: GameProtocol> {
    server_addr: SocketAddr,
    netcode: NetcodeClient,
    renet: renet::RenetClient,
    /// Time since the Unix epoch, the tokens' clock: moved on by each update.
    now: Duration,
    events: VecDeque<ServerEvent<G>>,
    receiver: SnapshotReceiver<G::State>,
    snapshot: Option<Snapshot<G::State>>,
    snapshot_is_new: bool,
    next_seq: u32,
    recent_inputs: VecDeque<InputFrame<G::Input>>,
    stats: ClientStats,
    /// Reused to pack renet's packets into bundles.
    bundle: Vec<u8>,
    /// A [`ServerEvent::Migrate`] token received and not yet followed.
    migrate_to: Option<ConnectToken>,
    /// Which room tick the next input is for.
    input_clock: InputClock,
}

impl<G: GameProtocol> std::fmt::Debug for Connection<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("server_addr", &self.server_addr)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl<G: GameProtocol> Connection<G> {
    /// Starts the handshake with the server `token` names; `now` is the time since the Unix
    /// epoch (the token's expiry is checked against it).
    ///
    /// # Errors
    /// [`ClientError::ProtocolMismatch`] if the token is for another game or version,
    /// [`ClientError::NoServerAddress`], or [`ClientError::Netcode`].
    pub fn new(token: ConnectToken, now: Duration) -> Result<Self, ClientError> {
        let server_addr = token_server::<G>(&token)?;
        let (netcode, renet) = handshake(token, now)?;
        Ok(Self {
            server_addr,
            netcode,
            renet,
            now,
            events: VecDeque::new(),
            receiver: SnapshotReceiver::new(),
            snapshot: None,
            snapshot_is_new: false,
            next_seq: 1,
            recent_inputs: VecDeque::with_capacity(INPUT_REDUNDANCY),
            stats: ClientStats::default(),
            bundle: Vec::with_capacity(bundle::MAX_PAYLOAD),
            migrate_to: None,
            // The welcome says the room's rate; 30 Hz is the default until then.
            input_clock: InputClock::new(30),
        })
    }

    /// The room's address: the driver hands over datagrams from it and no other.
    pub fn server_addr(&self) -> SocketAddr {
        self.server_addr
    }

    /// One datagram from the server. Anything that does not decrypt or decode is dropped (and
    /// counted in [`ClientStats::decode_errors`] when it decrypted).
    pub fn handle_datagram(&mut self, datagram: &mut [u8]) {
        self.stats.bytes_received += datagram.len() as u64;
        self.stats.packets_received += 1;
        let Some(payload) = self.netcode.process_packet(datagram) else {
            return;
        };
        if let Some(body) = bundle::notice_body(payload) {
            match decode_event::<G>(body) {
                Ok(event) => self.events.push_back(event),
                Err(_) => self.stats.decode_errors += 1,
            }
            return;
        }
        for packet in bundle::unpack(payload) {
            match packet {
                Ok(packet) => self.renet.process_packet(packet),
                Err(_) => self.stats.decode_errors += 1,
            }
        }
    }

    /// Advances time by `dt`: follows a migration the room asked for, runs the timers, hands
    /// handshake and keep-alive datagrams to `transmit`, and decodes what arrived since the
    /// last update into events and the newest snapshot.
    ///
    /// # Errors
    /// What `transmit` returns, or a token or netcode error while following a migration.
    pub fn update(
        &mut self,
        dt: Duration,
        mut transmit: impl FnMut(&[u8], SocketAddr) -> Result<(), ClientError>,
    ) -> Result<(), ClientError> {
        self.now += dt;
        if let Some(token) = self.migrate_to.take() {
            self.migrate(token, &mut transmit)?;
        }
        self.input_clock.advance(dt);
        self.renet.update(dt);
        if self.netcode.is_disconnected() {
            self.renet.disconnect_due_to_transport();
            return Ok(());
        }
        if self.renet.is_disconnected() {
            // The reliability layer gave up; tell the server before going quiet.
            self.send_netcode_disconnect(&mut transmit);
            return Ok(());
        }
        if let Some((packet, addr)) = self.netcode.update(dt) {
            self.stats.bytes_sent += packet.len() as u64;
            self.stats.packets_sent += 1;
            transmit(packet, addr)?;
        }
        if self.netcode.is_connected() {
            self.renet.set_connected();
        } else if self.netcode.is_disconnected() {
            self.renet.disconnect_due_to_transport();
        }
        self.drain_messages();
        Ok(())
    }

    /// Follows the match to another server: says goodbye to the old one and starts a fresh
    /// handshake (netcode, renet, snapshot views) with the one `token` names. The newest
    /// snapshot stays readable and input sequence numbers go on, so the game's prediction
    /// carries over; the new room's first snapshot is a keyframe.
    ///
    /// # Errors
    /// As [`Connection::new`], or what `transmit` returns.
    pub fn migrate(
        &mut self,
        token: ConnectToken,
        mut transmit: impl FnMut(&[u8], SocketAddr) -> Result<(), ClientError>,
    ) -> Result<(), ClientError> {
        let server_addr = token_server::<G>(&token)?;
        let (netcode, renet) = handshake(token, self.now)?;
        self.send_netcode_disconnect(&mut transmit);
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
                    let snapshot = self.snapshot.get_or_insert_with(Snapshot::default);
                    self.snapshot_is_new = self.receiver.newest_into(snapshot);
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

    /// Queues an input, stamped with the room tick it is for (see
    /// [`Connection::inputs_due`]). Each input packet also repeats the previous
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

    /// Tells the room this player leaves on purpose (delivered by the next few updates and
    /// transmits).
    pub fn leave(&mut self) {
        if self.renet.is_connected() {
            let bytes = codec::encode(&ClientEvent::<G>::Leave)
                .expect("a platform event is always encodable");
            self.renet.send_message(Channel::Events, bytes);
        }
    }

    /// Queues one of the game's commands, reliably and in order; the room hands it to the
    /// game at its next tick, or drops it (and counts it) if the game's validation refuses it.
    ///
    /// # Errors
    /// [`ClientError::NotConnected`] while the connection is not up (connecting, following a
    /// migration, or closed): the command is not queued, so the game can retry it once
    /// [`Connection::is_connected`]; [`ClientError::Encode`] or
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

    /// Hands everything queued (inputs, commands, acknowledgements and resends) to `transmit`,
    /// several reliability-layer packets per datagram where they fit.
    ///
    /// # Errors
    /// What `transmit` returns, or a netcode error.
    pub fn poll_transmit(
        &mut self,
        mut transmit: impl FnMut(&[u8], SocketAddr) -> Result<(), ClientError>,
    ) -> Result<(), ClientError> {
        if !self.netcode.is_connected() {
            return Ok(());
        }
        let packets = self.renet.get_packets_to_send();
        let Self {
            netcode,
            stats,
            bundle,
            ..
        } = self;
        bundle::pack(&packets, bundle, |payload| {
            let (addr, datagram) = netcode
                .generate_payload_packet(payload)
                .map_err(|e| ClientError::Netcode(e.to_string()))?;
            stats.bytes_sent += datagram.len() as u64;
            stats.packets_sent += 1;
            transmit(datagram, addr)
        })
    }

    /// Closes the connection now, handing the server its notice to `transmit`.
    pub fn disconnect(&mut self, mut transmit: impl FnMut(&[u8], SocketAddr)) {
        self.renet.disconnect();
        self.send_netcode_disconnect(&mut |d: &[u8], a| {
            transmit(d, a);
            Ok(())
        });
    }

    /// Netcode's disconnect notice to the current server, unless it is gone already. A notice
    /// that cannot be sent is not an error: the server times the connection out.
    fn send_netcode_disconnect(
        &mut self,
        transmit: &mut impl FnMut(&[u8], SocketAddr) -> Result<(), ClientError>,
    ) {
        if self.netcode.is_disconnected() {
            return;
        }
        if let Ok((addr, packet)) = self.netcode.disconnect() {
            self.stats.bytes_sent += packet.len() as u64;
            self.stats.packets_sent += 1;
            let _ = transmit(packet, addr);
        }
    }

    /// The next reliable event from the room, in order.
    pub fn poll_event(&mut self) -> Option<ServerEvent<G>> {
        self.events.pop_front()
    }

    /// The newest snapshot, if one arrived since the last call.
    pub fn take_new_snapshot(&mut self) -> Option<&Snapshot<G::State>> {
        if std::mem::take(&mut self.snapshot_is_new) {
            self.snapshot.as_ref()
        } else {
            None
        }
    }

    /// The newest snapshot received so far.
    pub fn latest_snapshot(&self) -> Option<&Snapshot<G::State>> {
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

    /// This connection's netcode client id.
    pub fn client_id(&self) -> u64 {
        self.netcode.client_id()
    }
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

/// A fresh netcode client for `token` at `now` and a renet connection waiting on it.
fn handshake(
    token: ConnectToken,
    now: Duration,
) -> Result<(NetcodeClient, renet::RenetClient), ClientError> {
    let netcode = NetcodeClient::new(
        now,
        ClientAuthentication::Secure {
            connect_token: token,
        },
    )
    .map_err(|e| ClientError::Netcode(e.to_string()))?;
    let mut renet = renet::RenetClient::new(connection_config());
    renet.set_connecting();
    Ok((netcode, renet))
}
