//! [`ReceivePath`]: a room's receive path without a network, for fuzzing and tests.

use std::time::Duration;

use protocol::{Channel, InputFrame, InputPacket, TokenUserData, bundle, codec, connection_config};

use super::{
    Room, RoomSettings,
    core::ClientId,
    inbound::{Inbound, TransportStats},
};
use crate::game::Game;

/// The room's receive path without a network, from a decrypted netcode payload on: the
/// allowances, the bundle, the packet check, renet, message caps, the game's message decoder,
/// ejections and the room's ticks. The same code the transport runs; the fuzz targets and the
/// tests drive it with arbitrary payloads.
#[doc(hidden)]
pub struct ReceivePath<G: Game> {
    inbound: Inbound,
    room: Room<G>,
    /// Clients ejected so far (the transport would have closed them at the netcode level).
    ejected: Vec<ClientId>,
}

impl<G: Game> ReceivePath<G> {
    /// A room with `players` connected clients (ids `0..players`).
    pub fn new(game: G, settings: RoomSettings) -> Self {
        Self::build(game, settings, true)
    }

    /// The same without the packet check in front of renet: only containment protects the
    /// room.
    pub fn without_packet_check(game: G, settings: RoomSettings) -> Self {
        Self::build(game, settings, false)
    }

    fn build(game: G, settings: RoomSettings, check_packets: bool) -> Self {
        let mut inbound = Inbound::new(check_packets);
        for (i, p) in settings.expected.iter().enumerate() {
            let client = i as ClientId;
            inbound.renet.add(client);
            inbound.joining.insert(
                client,
                TokenUserData {
                    room_id: settings.room_id,
                    ticket_id: p.ticket_id.clone(),
                    player_id: p.player_id.clone(),
                },
            );
        }
        let mut room = Room::new(game, settings);
        inbound.deliver(room.core_mut());
        Self {
            inbound,
            room,
            ejected: Vec::new(),
        }
    }

    /// One payload from `client`, as the transport hands it over after netcode decrypted it.
    pub fn payload(&mut self, client: ClientId, payload: &[u8]) {
        if !self.ejected.contains(&client) {
            self.inbound.payload(client, payload);
        }
    }

    /// One tick: renet's clocks, the payloads' messages into the room, the room's tick, and
    /// its messages back into renet as the transport would queue them. Returns each
    /// connected client's packets, as they would be sent.
    pub fn tick(&mut self) -> Vec<(ClientId, Vec<Vec<u8>>)> {
        let core = self.room.core_mut();
        // What netcode does for the transport once renet lets a client go.
        for client in self.inbound.closed_by_renet() {
            self.inbound.renet.remove(client);
        }
        self.ejected
            .extend(self.inbound.eject(core).into_iter().map(|e| e.client));
        self.inbound.deliver(core);
        self.ejected
            .extend(self.inbound.eject(core).into_iter().map(|e| e.client));
        for message in self.room.tick().drain(..) {
            self.inbound.queue(message);
        }
        let mut out = Vec::new();
        self.inbound
            .packets_to_send(|client, packets| out.push((client, packets)));
        self.inbound.advance(Duration::from_millis(33));
        out
    }

    /// One payload from `client`, then one tick whose packets are dropped.
    pub fn payload_and_tick(&mut self, client: ClientId, payload: &[u8]) {
        self.payload(client, payload);
        self.tick();
    }

    /// Clients ejected so far, in order.
    pub fn ejected(&self) -> &[ClientId] {
        &self.ejected
    }

    /// Datagram-level refusals and ejections so far.
    pub fn stats(&self) -> TransportStats {
        self.inbound.stats
    }

    /// The room.
    pub fn room(&self) -> &Room<G> {
        &self.room
    }
}

/// A well-behaved client on the other end of a [`ReceivePath`]: a real renet connection that
/// sends one input per tick and reads (and so acknowledges) what the room sends it.
#[doc(hidden)]
pub struct HonestClient {
    id: ClientId,
    renet: renet::RenetClient,
    seq: u32,
    snapshots: u32,
    scratch: Vec<u8>,
}

impl HonestClient {
    /// The client with id `id` in the path's room.
    pub fn new(id: ClientId) -> Self {
        let mut renet = renet::RenetClient::new(connection_config());
        renet.set_connected();
        Self {
            id,
            renet,
            seq: 0,
            snapshots: 0,
            scratch: Vec::new(),
        }
    }

    /// Sends this tick's input, runs the path's tick and takes in the room's packets.
    pub fn play<G: Game>(&mut self, path: &mut ReceivePath<G>) {
        self.seq += 1;
        let input = InputPacket {
            ack_tick: 0,
            inputs: vec![InputFrame {
                seq: self.seq,
                tick: 0,
                input: crate::game::InputOf::<G>::default(),
            }],
        };
        if let Ok(bytes) = codec::encode(&input) {
            self.renet.send_message(Channel::State, bytes);
        }
        self.renet.update(Duration::from_millis(33));
        let mut payloads = Vec::new();
        let _ = bundle::pack(&self.renet.get_packets_to_send(), &mut self.scratch, |p| {
            payloads.push(p.to_vec());
            Ok::<_, ()>(())
        });
        for p in payloads {
            path.payload(self.id, &p);
        }
        for (client, packets) in path.tick() {
            if client == self.id {
                for p in packets {
                    self.renet.process_packet(&p);
                }
            }
        }
        while self.renet.receive_message(Channel::State).is_some() {
            self.snapshots += 1;
        }
        while self.renet.receive_message(Channel::Events).is_some() {}
    }

    /// Snapshots received so far.
    pub fn snapshots(&self) -> u32 {
        self.snapshots
    }

    /// Whether its connection is still up at the reliability layer.
    pub fn is_connected(&self) -> bool {
        self.renet.is_connected()
    }
}
