//! What arrives from outside a room: connections, disconnections, ejections and messages,
//! and the events the room sends back to its clients.

use protocol::{
    Channel, ClientEvent, InputPacket, MAX_INPUTS_PER_PACKET, ServerEvent, TokenUserData,
    WireMessage, codec,
};

use super::{
    ClientId, ClientSync, InputBuffer, Outbound, Phase, RoomCore, RoomInput, SimCommand, Slot,
};
use crate::{
    game::{Game, InputOf},
    room::hostile::HostileKind,
};

impl<G: Game> RoomCore<G> {
    /// Applies one event from outside. Anything it wants sent is returned by the next
    /// [`RoomCore::drain`].
    pub fn handle(&mut self, input: RoomInput<'_>) {
        match input {
            RoomInput::Connected { client, user } => self.on_connect(client, user),
            RoomInput::Disconnected { client } => self.on_disconnect(client),
            RoomInput::Ejected { client, kind } => self.on_eject(client, kind),
            RoomInput::Message {
                client,
                channel,
                bytes,
            } => self.on_message(client, channel, bytes),
        }
    }

    fn refuse(&mut self, client: ClientId, code: &str, message: String) {
        self.stats.refused_connections += 1;
        tracing::debug!(
            room = self.settings.room_id,
            client,
            code,
            "connection refused"
        );
        self.out.push(Outbound::Event {
            client,
            event: ServerEvent::Error {
                code: code.into(),
                message,
            },
        });
        self.out.push(Outbound::Disconnect { client });
    }

    fn on_connect(&mut self, client: ClientId, user: TokenUserData) {
        if user.room_id != self.settings.room_id {
            return self.refuse(
                client,
                "wrong_room",
                "this token is for another room".into(),
            );
        }
        let slot = self
            .settings
            .expected
            .iter()
            .position(|e| e.player_id == user.player_id && e.ticket_id == user.ticket_id);
        let Some(slot) = slot else {
            return self.refuse(
                client,
                "not_expected",
                "this player was not placed in this room".into(),
            );
        };
        match self.phase {
            Phase::Ended { .. } => {
                return self.refuse(client, "match_over", "the match is over".into());
            }
            Phase::Failed { .. } => {
                let reason = self.failure.clone().unwrap_or_default();
                return self.refuse(client, "room_failed", reason);
            }
            _ => {}
        }
        let player = &mut self.players[slot];
        if player.ejected {
            return self.refuse(
                client,
                "ejected",
                "you were disconnected for breaking the protocol and cannot return".into(),
            );
        }
        if player.replaced {
            return self.refuse(
                client,
                "replaced",
                "you left the match and your place went to another player".into(),
            );
        }
        if player.client.is_some() {
            return self.refuse(
                client,
                "already_connected",
                "this player is already connected".into(),
            );
        }
        // A new connection starts a new input sequence; the avatar is spawned by the next tick.
        player.client = Some(client);
        player.joined = true;
        player.away_since = None;
        player.welcomed = false;
        player.inputs = InputBuffer::default();
        player.applied_seq = 0;
        // A new connection has no views yet: its first snapshot is a keyframe.
        player.sync = ClientSync::default();
        self.clients.insert(client, slot as Slot);
        let command = SimCommand::Join {
            slot: slot as Slot,
            team: player.team,
            player_id: player.player_id.clone(),
        };
        self.queued.push(command);
    }

    fn on_disconnect(&mut self, client: ClientId) {
        let Some(slot) = self.clients.remove(&client) else {
            return;
        };
        let player = &mut self.players[slot as usize];
        player.client = None;
        player.welcomed = false;
        player.in_world = false;
        player.away_since = Some(self.tick);
        let player_id = player.player_id.clone();
        // One who may come back keeps its state in the game (a reconnect to this room finds
        // it); one who said goodbye or was ejected has left.
        self.queued.push(if player.left {
            SimCommand::Leave(slot)
        } else {
            SimCommand::Drop(slot)
        });
        if !self.migrated && matches!(self.phase, Phase::Waiting | Phase::Running { .. }) {
            self.broadcast_welcomed(ServerEvent::PlayerLeft { player_id });
        }
    }

    fn on_eject(&mut self, client: ClientId, kind: HostileKind) {
        let Some(&slot) = self.clients.get(&client) else {
            return;
        };
        let player = &mut self.players[slot as usize];
        player.ejected = true;
        // Like a player who said goodbye: a replacement is asked for without a grace.
        player.left = true;
        self.ejected_tickets
            .push(self.settings.expected[slot as usize].ticket_id.clone());
        tracing::debug!(
            room = self.settings.room_id,
            client,
            kind = kind.name(),
            "player ejected"
        );
        self.on_disconnect(client);
    }

    fn on_message(&mut self, client: ClientId, channel: Channel, bytes: &[u8]) {
        let Some(&slot) = self.clients.get(&client) else {
            self.stats.rejected_messages += 1;
            return;
        };
        let player = &mut self.players[slot as usize];
        match channel {
            Channel::State => {
                let Ok(packet) = codec::decode::<InputPacket<InputOf<G>>>(bytes) else {
                    self.stats.rejected_messages += 1;
                    return;
                };
                if packet.inputs.len() > MAX_INPUTS_PER_PACKET
                    || !packet.inputs.iter().all(|f| f.input.validate().is_ok())
                {
                    self.stats.rejected_messages += 1;
                    return;
                }
                player.sync.ack(packet.ack_tick, self.tick);
                player.inputs.receive(&packet.inputs, self.tick);
            }
            Channel::Events => match codec::decode::<ClientEvent<G::Protocol>>(bytes) {
                Ok(ClientEvent::Leave) => {
                    player.left = true;
                    self.out.push(Outbound::Disconnect { client });
                }
                // Applied at the next tick the simulation runs, in arrival order with joins and
                // leaves; once the match is over, nothing more happens in it.
                Ok(ClientEvent::Command(command)) if command.validate().is_ok() => {
                    if matches!(self.phase, Phase::Waiting | Phase::Running { .. }) {
                        self.queued.push(SimCommand::Command(slot, command));
                    }
                }
                Ok(ClientEvent::Command(_)) | Err(_) => self.stats.rejected_messages += 1,
            },
        }
    }

    /// Sends to clients that got their welcome (others learn the state with theirs).
    pub(super) fn broadcast_welcomed(&mut self, event: ServerEvent<G::Protocol>) {
        for (&client, &slot) in &self.clients {
            if self.players[slot as usize].welcomed {
                self.out.push(Outbound::Event {
                    client,
                    event: event.clone(),
                });
            }
        }
    }

    pub(super) fn broadcast(&mut self, event: ServerEvent<G::Protocol>) {
        for &client in self.clients.keys() {
            self.out.push(Outbound::Event {
                client,
                event: event.clone(),
            });
        }
    }
}
