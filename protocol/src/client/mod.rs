//! The client SDK's socket half: [`GameClient`], one player's connection to a room over UDP.
//!
//! [`Connection`] (in `connection.rs`) is the protocol without I/O: netcode, renet, snapshots,
//! the input clock, datagrams in and out, time as arguments. `GameClient` is its driver, the
//! quinn to its quinn-proto: it owns a nonblocking UDP socket (datagrams moved in batches), an
//! optional link conditioner on the system's clock, and hands the connection what arrives. It
//! is poll-based and never blocks: call [`GameClient::update`] once per frame with the elapsed
//! time, read events and the newest snapshot, send an input, then [`GameClient::flush`].

mod connection;
mod error;

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket},
    time::{Duration, Instant},
};

pub use connection::{ClientStats, Connection, ConnectionState, DisconnectCause};
pub use error::ClientError;
use renetcode::ConnectToken;

use crate::{
    api::Assignment,
    batch_io::{self, RecvBatch, SendBatch},
    game::{GameId, GameProtocol},
    link::{Link, LinkProfile},
    message::ServerEvent,
    sync::Snapshot,
    token::{token_from_base64, unix_now},
};

/// A game client connected (or connecting) to one room of the game `G`: a [`Connection`]
/// driven over a UDP socket.
pub struct GameClient<G: GameProtocol> {
    socket: UdpSocket,
    connection: Connection<G>,
    conditioner: Option<Conditioner>,
    recv_batch: RecvBatch<BATCH>,
    send_batch: SendBatch<BATCH>,
}

/// Most datagrams moved per system call: a frame sends one or two and receives about as many.
const BATCH: usize = 8;

/// A conditioned link in each direction, on the client's own clock.
struct Conditioner {
    epoch: Instant,
    outgoing: Link<(Vec<u8>, SocketAddr)>,
    incoming: Link<Vec<u8>>,
}

impl<G: GameProtocol> std::fmt::Debug for GameClient<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GameClient")
            .field("server_addr", &self.server_addr())
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
    ///
    /// # Errors
    /// As [`Connection::new`], or [`ClientError::Io`] if no socket can be bound.
    pub fn connect_with_token(token: ConnectToken) -> Result<Self, ClientError> {
        let connection = Connection::new(token, unix_now())?;
        let bind_ip = match connection.server_addr().ip() {
            IpAddr::V4(ip) if ip.is_loopback() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(ip) if ip.is_loopback() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let socket = UdpSocket::bind(SocketAddr::new(bind_ip, 0))?;
        socket.set_nonblocking(true)?;
        Ok(Self {
            socket,
            connection,
            conditioner: None,
            recv_batch: RecvBatch::new(),
            send_batch: SendBatch::new(),
        })
    }

    /// The protocol without I/O that this client drives.
    pub fn connection(&self) -> &Connection<G> {
        &self.connection
    }

    /// Rejoins the match where it resumed after its server was lost: `assignment` is the
    /// ticket's new assignment (same room, another address), which a client reads from the
    /// matchmaker once its room has gone silent. Like following a
    /// [`ServerEvent::Migrate`], it keeps the socket, the input sequence and the newest
    /// snapshot; the room resumed from a copy a moment older than what this client last saw,
    /// so the next snapshots may step back in time.
    ///
    /// # Errors
    /// [`ClientError::OtherGame`], or as [`Connection::migrate`].
    pub fn rejoin(&mut self, assignment: &Assignment) -> Result<(), ClientError> {
        same_game::<G>(assignment)?;
        let token = token_from_base64(&assignment.connect_token)?;
        let Self {
            connection,
            socket,
            conditioner,
            ..
        } = self;
        connection.migrate(token, |datagram, to| {
            send(socket, conditioner, datagram, to)
        })
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
    ///
    /// # Errors
    /// [`ClientError::Io`] when the socket fails, or as [`Connection::update`].
    pub fn update(&mut self, dt: Duration) -> Result<(), ClientError> {
        loop {
            let n = self.recv_batch.recv(&self.socket)?;
            let server = self.connection.server_addr();
            for i in 0..n {
                let (datagram, from) = self.recv_batch.get_mut(i);
                if from != Some(server) {
                    continue;
                }
                match &mut self.conditioner {
                    Some(c) => c.incoming.send(c.epoch.elapsed(), datagram.to_vec()),
                    None => self.connection.handle_datagram(datagram),
                }
            }
            if n < BATCH {
                break;
            }
        }
        if let Some(c) = &mut self.conditioner {
            for mut datagram in c.incoming.deliver(c.epoch.elapsed()) {
                self.connection.handle_datagram(&mut datagram);
            }
        }
        let Self {
            connection,
            socket,
            conditioner,
            ..
        } = self;
        connection.update(dt, |datagram, to| send(socket, conditioner, datagram, to))?;
        self.release_outgoing()
    }

    /// How many inputs to send now (see [`Connection::inputs_due`]).
    pub fn inputs_due(&self) -> u32 {
        self.connection.inputs_due()
    }

    /// Queues an input for sending (see [`Connection::send_input`]). Returns the input's
    /// sequence number.
    pub fn send_input(&mut self, input: G::Input) -> u32 {
        self.connection.send_input(input)
    }

    /// Tells the room this player leaves on purpose. Keep calling [`GameClient::update`] and
    /// [`GameClient::flush`] briefly so the event is delivered, then [`GameClient::disconnect`].
    pub fn leave(&mut self) {
        self.connection.leave();
    }

    /// Sends one of the game's commands, reliably and in order (see
    /// [`Connection::send_command`]).
    ///
    /// # Errors
    /// As [`Connection::send_command`].
    pub fn send_command(&mut self, command: G::Command) -> Result<(), ClientError> {
        self.connection.send_command(command)
    }

    /// Sends everything queued. Call once per frame after sending inputs.
    ///
    /// # Errors
    /// [`ClientError::Io`] when the socket fails, or a netcode error.
    pub fn flush(&mut self) -> Result<(), ClientError> {
        let Self {
            connection,
            socket,
            conditioner,
            send_batch,
            ..
        } = self;
        // The frame's datagrams leave together, in one call where the OS allows.
        connection.poll_transmit(|datagram, to| match conditioner {
            Some(c) => {
                c.outgoing.send(c.epoch.elapsed(), (datagram.to_vec(), to));
                Ok(())
            }
            None => {
                if send_batch.push(datagram, to) {
                    send_batch.send(socket)?;
                }
                Ok(())
            }
        })?;
        self.send_batch.send(&self.socket)?;
        self.release_outgoing()
    }

    /// Closes the connection now, telling the server.
    pub fn disconnect(&mut self) {
        let socket = &self.socket;
        self.connection.disconnect(|datagram, to| {
            let _ = socket.send_to(datagram, to);
        });
    }

    /// The next reliable event from the room, in order.
    pub fn poll_event(&mut self) -> Option<ServerEvent<G>> {
        self.connection.poll_event()
    }

    /// The newest snapshot, if one arrived since the last call.
    pub fn take_new_snapshot(&mut self) -> Option<&Snapshot<G::State>> {
        self.connection.take_new_snapshot()
    }

    /// The newest snapshot received so far.
    pub fn latest_snapshot(&self) -> Option<&Snapshot<G::State>> {
        self.connection.latest_snapshot()
    }

    /// Connection state, with the cause once disconnected.
    pub fn state(&self) -> ConnectionState {
        self.connection.state()
    }

    /// Whether events and snapshots are flowing.
    pub fn is_connected(&self) -> bool {
        self.connection.is_connected()
    }

    /// Smoothed round-trip time, as measured by renet's acks.
    pub fn rtt(&self) -> Duration {
        self.connection.rtt()
    }

    /// Estimated packet loss, 0.0 to 1.0.
    pub fn packet_loss(&self) -> f64 {
        self.connection.packet_loss()
    }

    /// Traffic counters.
    pub fn stats(&self) -> ClientStats {
        self.connection.stats()
    }

    /// The room's UDP address.
    pub fn server_addr(&self) -> SocketAddr {
        self.connection.server_addr()
    }

    /// This connection's netcode client id.
    pub fn client_id(&self) -> u64 {
        self.connection.client_id()
    }
}

/// One datagram out now, through the conditioner if there is one.
fn send(
    socket: &UdpSocket,
    conditioner: &mut Option<Conditioner>,
    datagram: &[u8],
    to: SocketAddr,
) -> Result<(), ClientError> {
    match conditioner {
        Some(c) => c.outgoing.send(c.epoch.elapsed(), (datagram.to_vec(), to)),
        None => send_ignoring_refused(socket, datagram, to)?,
    }
    Ok(())
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

/// Sends one datagram; an error that only means it was lost is not an error here.
fn send_ignoring_refused(socket: &UdpSocket, packet: &[u8], addr: SocketAddr) -> io::Result<()> {
    match socket.send_to(packet, addr) {
        Ok(_) => Ok(()),
        Err(e) if batch_io::lost_not_broken(&e) => Ok(()),
        Err(e) => Err(e),
    }
}
