//! A room's reliability-layer connections: one renet [`RenetClient`] per client, in a vector.
//!
//! renet's `RenetServer` is this plus a SipHash map from client id to connection, and it hands
//! out a fresh `Vec` of ids for every walk over its clients. A room has a handful of clients,
//! so a scan of a short vector finds one sooner than a hash does, a walk allocates nothing, and
//! the room's connections sit in one allocation instead of a map's scattered buckets (each
//! room tick starts with its memory out of cache). What happens on each connection is renet's,
//! unchanged: acknowledgements, resends, channels.

use std::{collections::VecDeque, time::Duration};

use renet::{ConnectionConfig, DisconnectReason, RenetClient, ServerEvent};

use super::{core::ClientId, hostile::contain};

struct Connection {
    id: ClientId,
    renet: RenetClient,
    /// The room disconnected it (renet's own `disconnect` records the client as the one who
    /// left).
    kicked: bool,
}

/// The connections of one room, and the connect and disconnect events not yet taken.
pub(super) struct Connections {
    /// Seen from the server: it sends on the server's channels and receives on the client's.
    config: ConnectionConfig,
    list: Vec<Connection>,
    events: VecDeque<ServerEvent>,
}

impl Connections {
    /// No connections yet; each one added uses `config` (as both ends share it).
    pub(super) fn new(config: ConnectionConfig) -> Self {
        let config = ConnectionConfig {
            available_bytes_per_tick: config.available_bytes_per_tick,
            server_channels_config: config.client_channels_config,
            client_channels_config: config.server_channels_config,
        };
        Self {
            config,
            list: Vec::new(),
            events: VecDeque::new(),
        }
    }

    /// Adds a connected client (netcode finished its handshake); a client already here is
    /// left as it is.
    pub(super) fn add(&mut self, id: ClientId) {
        if self.list.iter().any(|c| c.id == id) {
            return;
        }
        // `RenetClient::new` takes the client's channels as its send channels; the config
        // above is already turned around.
        let mut renet = RenetClient::new(self.config.clone());
        renet.set_connected();
        self.list.push(Connection {
            id,
            renet,
            kicked: false,
        });
        self.events
            .push_back(ServerEvent::ClientConnected { client_id: id });
    }

    /// Removes a client netcode let go, with its disconnect event.
    pub(super) fn remove(&mut self, id: ClientId) {
        let Some(at) = self.list.iter().position(|c| c.id == id) else {
            return;
        };
        let gone = self.list.swap_remove(at);
        let reason = match gone.renet.disconnect_reason() {
            Some(_) if gone.kicked => DisconnectReason::DisconnectedByServer,
            Some(reason) => reason,
            None => DisconnectReason::Transport,
        };
        self.events.push_back(ServerEvent::ClientDisconnected {
            client_id: id,
            reason,
        });
    }

    /// Forgets a client's connection at once, with no event: its state is not to be trusted
    /// (handling its bytes panicked) and the room is told of the client another way.
    pub(super) fn drop_connection(&mut self, id: ClientId) {
        if let Some(at) = self.list.iter().position(|c| c.id == id) {
            self.list.swap_remove(at);
        }
    }

    /// Disconnects a client at the reliability layer; netcode is told on the next receive.
    pub(super) fn disconnect(&mut self, id: ClientId) {
        if let Some(c) = self.list.iter_mut().find(|c| c.id == id)
            && !c.renet.is_disconnected()
        {
            c.renet.disconnect();
            c.kicked = true;
        }
    }

    /// The next connect or disconnect event.
    pub(super) fn next_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// A client's connection, connected or not yet removed.
    pub(super) fn get_mut(&mut self, id: ClientId) -> Option<&mut RenetClient> {
        self.list
            .iter_mut()
            .find(|c| c.id == id)
            .map(|c| &mut c.renet)
    }

    /// Advances every connection's clock; a connection whose update panics is reported to
    /// `panicked` (the others still advance).
    pub(super) fn update(&mut self, dt: Duration, mut panicked: impl FnMut(ClientId, String)) {
        for c in &mut self.list {
            if let Err(message) = contain(|| c.renet.update(dt)) {
                panicked(c.id, message);
            }
        }
    }

    /// The connected clients, with their connections.
    pub(super) fn connected(&mut self) -> impl Iterator<Item = (ClientId, &mut RenetClient)> {
        self.list
            .iter_mut()
            .filter(|c| c.renet.is_connected())
            .map(|c| (c.id, &mut c.renet))
    }

    /// Clients disconnected at this layer but not yet removed (normally none), each with the
    /// reason when renet closed the connection itself on a protocol error of the client's
    /// (a packet it could not read, an unknown channel, a channel out of memory).
    pub(super) fn disconnected(&self) -> Vec<(ClientId, Option<DisconnectReason>)> {
        if self.list.iter().all(|c| !c.renet.is_disconnected()) {
            return Vec::new();
        }
        self.list
            .iter()
            .filter(|c| c.renet.is_disconnected())
            .map(|c| {
                let fault = c.renet.disconnect_reason().filter(|r| {
                    !c.kicked
                        && !matches!(
                            r,
                            DisconnectReason::Transport
                                | DisconnectReason::DisconnectedByClient
                                | DisconnectReason::DisconnectedByServer
                        )
                });
                (c.id, fault)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Channel, connection_config};

    #[test]
    fn connections_come_and_go_with_their_events_and_reasons() {
        let mut conns = Connections::new(connection_config());
        conns.add(7);
        conns.add(9);
        conns.add(7);
        assert_eq!(
            conns.next_event(),
            Some(ServerEvent::ClientConnected { client_id: 7 })
        );
        assert_eq!(
            conns.next_event(),
            Some(ServerEvent::ClientConnected { client_id: 9 })
        );
        assert_eq!(conns.next_event(), None, "adding twice is one connection");
        let ids: Vec<_> = conns.connected().map(|(id, _)| id).collect();
        assert_eq!(ids, [7, 9]);
        assert!(conns.disconnected().is_empty());

        conns.disconnect(7);
        assert_eq!(conns.connected().map(|(id, _)| id).collect::<Vec<_>>(), [9]);
        assert_eq!(conns.disconnected(), [(7, None)]);
        conns.remove(7);
        conns.remove(9);
        assert_eq!(
            conns.next_event(),
            Some(ServerEvent::ClientDisconnected {
                client_id: 7,
                reason: DisconnectReason::DisconnectedByServer
            })
        );
        assert_eq!(
            conns.next_event(),
            Some(ServerEvent::ClientDisconnected {
                client_id: 9,
                reason: DisconnectReason::Transport
            })
        );
        assert!(conns.get_mut(9).is_none());

        // A connection renet closed on the client's protocol error says so; one dropped goes
        // without an event.
        conns.add(3);
        conns.add(4);
        conns.get_mut(3).unwrap().process_packet(&[200]);
        assert!(matches!(
            conns.disconnected()[..],
            [(3, Some(DisconnectReason::PacketDeserialization(_)))]
        ));
        conns.drop_connection(4);
        conns.next_event();
        conns.next_event();
        assert_eq!(conns.next_event(), None);
        assert!(conns.get_mut(4).is_none());
    }

    #[test]
    fn messages_cross_between_a_room_connection_and_a_client() {
        let mut conns = Connections::new(connection_config());
        conns.add(1);
        let mut client = RenetClient::new(connection_config());
        client.set_connected();
        client.send_message(Channel::State, vec![1u8, 2, 3]);
        for packet in client.get_packets_to_send() {
            conns.get_mut(1).unwrap().process_packet(&packet);
        }
        let room_side = conns.get_mut(1).unwrap();
        assert_eq!(
            room_side.receive_message(Channel::State).as_deref(),
            Some(&[1u8, 2, 3][..])
        );
        room_side.send_message(Channel::Events, vec![4u8]);
        for packet in room_side.get_packets_to_send() {
            client.process_packet(&packet);
        }
        assert_eq!(
            client.receive_message(Channel::Events).as_deref(),
            Some(&[4u8][..])
        );
    }
}
