//! Between netcode and the room's core: what a room does with its clients' bytes once netcode
//! has decrypted them, and with its own messages until renet makes packets of them.
//!
//! Per client, in order: the datagram allowance, the bundle, the packet check and per-tick
//! packet allowance, renet, the message caps, the core's decoder; every step that touches a
//! client's bytes or its connection's state runs under [`contain`] (see `hostile.rs`). A client
//! that trips any of them is ejected: its connection is dropped at once (its renet state is not
//! trusted again), the core is told ([`RoomInput::Ejected`]) and the transport sends it a
//! notice and closes it at the netcode level. The transport ([`super::RoomTransport`]) and the
//! socket-free [`super::ReceivePath`] both run this code.

use std::collections::HashMap;

use protocol::{
    Channel, GameProtocol, ServerEvent, TokenUserData, bundle, codec, connection_config,
    renet_wire::check_client_packet,
};
use renet::{RenetClient, ServerEvent as RenetEvent};

use super::{
    connections::Connections,
    core::{ClientId, Outbound, RoomCore, RoomInput},
    hostile::{Allowance, EJECTED_CODE, Ejection, EjectionCounts, HostileKind, contain},
};
use crate::game::Game;

/// Most messages taken from one client per channel per tick. Reliable messages beyond it wait
/// for the next tick; unreliable ones (inputs, each repeating the ones before) are dropped.
const MAX_MESSAGES_PER_TICK: usize = 32;

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
    /// Clients ejected, by kind.
    pub ejected: EjectionCounts,
}

/// The room's renet connections and everything between them and the core.
pub(super) struct Inbound {
    pub(super) renet: Connections,
    /// Token user data of clients connected at the netcode level, until the room hears of them.
    pub(super) joining: HashMap<ClientId, TokenUserData>,
    allowance: Allowance,
    /// Whether packets are checked before renet sees them (tests turn it off to show that
    /// containment alone still protects the room).
    check_packets: bool,
    /// Clients to eject, found since the last [`Inbound::eject`].
    ejections: Vec<Ejection>,
    pub(super) stats: TransportStats,
}

impl Inbound {
    pub(super) fn new(check_packets: bool) -> Self {
        Self {
            renet: Connections::new(connection_config()),
            joining: HashMap::new(),
            allowance: Allowance::default(),
            check_packets,
            ejections: Vec::new(),
            stats: TransportStats::default(),
        }
    }

    /// Marks `client` for ejection (once).
    pub(super) fn hostile(&mut self, client: ClientId, kind: HostileKind, detail: String) {
        if !self.is_ejecting(client) {
            self.ejections.push(Ejection {
                client,
                kind,
                detail,
            });
        }
    }

    fn is_ejecting(&self, client: ClientId) -> bool {
        !self.ejections.is_empty() && self.ejections.iter().any(|e| e.client == client)
    }

    /// A new tick, `dt` after the last: allowances roll over and every connection's clock
    /// advances.
    pub(super) fn advance(&mut self, dt: std::time::Duration) {
        self.allowance.advance(dt);
        let mut panicked = Vec::new();
        self.renet
            .update(dt, |client, message| panicked.push((client, message)));
        for (client, message) in panicked {
            self.hostile(client, HostileKind::Panic, message);
        }
    }

    /// A decrypted netcode payload from a connected client: its bundle of renet packets into
    /// renet, each checked first.
    pub(super) fn payload(&mut self, client: ClientId, payload: &[u8]) {
        if self.is_ejecting(client) {
            return;
        }
        match self.allowance.datagram(client) {
            Some(true) => {}
            Some(false) => {
                return self.hostile(
                    client,
                    HostileKind::Flood,
                    format!(
                        "over {} datagrams in a second",
                        super::hostile::MAX_DATAGRAMS_PER_CLIENT_SECOND
                    ),
                );
            }
            None => return,
        }
        let Self {
            renet,
            allowance,
            check_packets,
            stats,
            ..
        } = self;
        let Some(connection) = renet.get_mut(client) else {
            stats.bad_packets += 1;
            return;
        };
        let outcome = contain(|| -> Result<(), (HostileKind, String)> {
            for packet in bundle::unpack(payload) {
                let Ok(packet) = packet else {
                    stats.bad_packets += 1;
                    break;
                };
                if *check_packets && let Err(violation) = check_client_packet(packet) {
                    return Err((HostileKind::Malformed, violation.to_string()));
                }
                if !allowance.packet(client) {
                    stats.bad_packets += 1;
                    continue;
                }
                connection.process_packet(packet);
            }
            Ok(())
        });
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err((kind, detail))) => self.hostile(client, kind, detail),
            Err(panic) => self.hostile(client, HostileKind::Panic, panic),
        }
    }

    /// Connections renet closed by itself: those it closed on the client's protocol error are
    /// ejected; the others (returned) are to be let go at the netcode level.
    pub(super) fn closed_by_renet(&mut self) -> Vec<ClientId> {
        let mut quiet = Vec::new();
        for (client, fault) in self.renet.disconnected() {
            match fault {
                Some(reason) => self.hostile(client, HostileKind::Protocol, reason.to_string()),
                None => quiet.push(client),
            }
        }
        quiet
    }

    /// Hands renet's connection events and each client's messages (at most
    /// [`MAX_MESSAGES_PER_TICK`] per channel) to the room.
    pub(super) fn deliver<G: Game>(&mut self, core: &mut RoomCore<G>) {
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
        let mut panicked = Vec::new();
        for (client, connection) in self.renet.connected() {
            if let Err(message) = contain(|| deliver_messages(client, connection, core)) {
                panicked.push((client, message));
            }
        }
        for (client, message) in panicked {
            self.hostile(client, HostileKind::Panic, message);
        }
    }

    /// One message from the room onto its client's renet channel (or a disconnect).
    pub(super) fn queue<P: GameProtocol>(&mut self, message: Outbound<P>) {
        let (client, channel, bytes) = match message {
            Outbound::Event { client, event } => (client, Channel::Events, codec::encode(&event)),
            Outbound::Snapshot { client, packet } => {
                (client, Channel::State, codec::encode(&packet))
            }
            Outbound::Disconnect { client } => {
                self.renet.disconnect(client);
                return;
            }
        };
        match (bytes, self.renet.get_mut(client)) {
            // Encoded once, into the buffer renet keeps.
            (Ok(bytes), Some(connection)) => connection.send_message(channel, bytes),
            (Ok(_), None) => tracing::debug!(client, "message for a client no longer connected"),
            (Err(e), _) => tracing::error!(error = %e, "could not encode an outbound message"),
        }
    }

    /// Each connected client's packets due now, to `send` (with the client); a connection that
    /// panics making them is ejected.
    pub(super) fn packets_to_send(&mut self, mut send: impl FnMut(ClientId, Vec<Vec<u8>>)) {
        let mut panicked = Vec::new();
        for (client, connection) in self.renet.connected() {
            match contain(|| connection.get_packets_to_send()) {
                Ok(packets) => send(client, packets),
                Err(message) => panicked.push((client, message)),
            }
        }
        for (client, message) in panicked {
            self.hostile(client, HostileKind::Panic, message);
        }
    }

    /// Ejects every client marked since the last call: its connection is dropped, the core is
    /// told, and the count and a log line record it. Returns them, for the transport to send
    /// each its [`notice`] and close it at the netcode level.
    pub(super) fn eject<G: Game>(&mut self, core: &mut RoomCore<G>) -> Vec<Ejection> {
        let ejections = std::mem::take(&mut self.ejections);
        for e in &ejections {
            self.renet.drop_connection(e.client);
            if let Some(user) = self.joining.remove(&e.client) {
                // Ejected before the core heard it connect: it joins first, so the ejection
                // lands on its player (who then cannot come back).
                core.handle(RoomInput::Connected {
                    client: e.client,
                    user,
                });
            }
            self.stats.ejected.add(e.kind);
            tracing::warn!(
                room = core.id(),
                client = e.client,
                kind = e.kind.name(),
                detail = %e.detail,
                "client ejected; the room plays on without it"
            );
            core.handle(RoomInput::Ejected {
                client: e.client,
                kind: e.kind,
            });
        }
        ejections
    }
}

/// One client's waiting messages into the core, within the caps.
fn deliver_messages<G: Game>(
    client: ClientId,
    connection: &mut RenetClient,
    core: &mut RoomCore<G>,
) {
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
    // Inputs past the cap are stale before the next tick; left queued, a client sending more
    // than the cap every tick would fill renet's channel memory.
    while connection.receive_message(Channel::State).is_some() {}
}

/// The payload that tells an ejected client why (a notice, outside renet: its connection is
/// what broke).
pub(super) fn notice<P: GameProtocol>(kind: HostileKind) -> Option<Vec<u8>> {
    let event = ServerEvent::<P>::Error {
        code: EJECTED_CODE.into(),
        message: kind.message().into(),
    };
    codec::encode(&event).ok().map(|body| bundle::notice(&body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::{
        RoomSettings,
        test_game::{Idle, Still},
    };

    #[test]
    fn a_client_ejected_before_the_room_heard_it_connect_still_loses_its_place() {
        let settings = RoomSettings::for_players(1, 7, 2);
        let mut core = RoomCore::<Idle>::new(settings.clone(), Still);
        let mut inbound = Inbound::new(true);
        // Connected at the netcode level, its first payload breaks the protocol, all in one
        // receive: the room has not been told of it yet.
        inbound.renet.add(4);
        inbound.joining.insert(
            4,
            TokenUserData {
                room_id: 1,
                ticket_id: settings.expected[1].ticket_id.clone(),
                player_id: settings.expected[1].player_id.clone(),
            },
        );
        inbound.payload(4, &[9, 9]);
        let ejected = inbound.eject(&mut core);
        assert_eq!(ejected.len(), 1);
        assert_eq!(
            core.take_ejected_tickets(),
            [settings.expected[1].ticket_id.clone()]
        );
        assert_eq!(core.tickets(), [settings.expected[0].ticket_id.clone()]);
        inbound.deliver(&mut core);
        assert_eq!(core.connected_players(), 0, "not connected twice");
    }
}
