//! The room core: everything a room does, without IO.
//!
//! It takes connection events and client messages ([`RoomInput`]) and a call to
//! [`RoomCore::tick`], and returns what to send ([`Outbound`]). It never reads a clock or a
//! socket; time is the tick count. That is what lets tests drive hundreds of ticks in
//! milliseconds, deterministically.
//!
//! Tick pipeline: inputs were decoded (bounded) as they arrived → pick one input per player →
//! run the schedule → map the world to one snapshot per client.

use std::{
    collections::{BTreeMap, VecDeque},
    time::Duration,
};

use bevy_ecs::entity::Entity;
use protocol::{
    Channel, ClientEvent, EndReason, EntityState, InputPacket, MAX_INPUTS_PER_PACKET, MatchResults,
    PlayerInput, PlayerResult, ServerEvent, Snapshot, TokenUserData, codec,
};

use super::sim::Simulation;
use crate::game::Game;

/// A netcode client id: one connection.
pub type ClientId = u64;

/// Inputs buffered per player beyond which the oldest are dropped (bounds memory and lag).
const MAX_PENDING_INPUTS: usize = 8;

/// Most entities in one snapshot, so it fits one UDP packet (players first).
pub const MAX_SNAPSHOT_ENTITIES: usize = 64;

/// A player the match was made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedPlayer {
    /// The player's id.
    pub player_id: String,
    /// The ticket that placed them.
    pub ticket_id: String,
}

/// How a room runs.
#[derive(Debug, Clone)]
pub struct RoomSettings {
    /// The room's id (also in every connect token for it).
    pub room_id: u64,
    /// Ticks per second.
    pub tick_rate: u16,
    /// Length of the match once it starts.
    pub match_duration: Duration,
    /// How long to wait for every expected player before starting with those present (or
    /// closing if none came).
    pub join_timeout: Duration,
    /// How long the room stays open after the match ends, so results are delivered.
    pub linger: Duration,
    /// Seed for the game's random source.
    pub seed: u64,
    /// Everyone the match was made for.
    pub expected: Vec<ExpectedPlayer>,
}

impl RoomSettings {
    fn ticks(&self, d: Duration) -> u32 {
        (d.as_secs_f64() * f64::from(self.tick_rate)).ceil() as u32
    }
}

/// Something that happened to the room from outside.
#[derive(Debug)]
pub enum RoomInput<'a> {
    /// A client completed the netcode handshake; `user` is its token's user data.
    Connected {
        /// The connection.
        client: ClientId,
        /// Who the token says it is.
        user: TokenUserData,
    },
    /// A client's connection ended.
    Disconnected {
        /// The connection.
        client: ClientId,
    },
    /// A message arrived from a client.
    Message {
        /// The connection.
        client: ClientId,
        /// Which channel it came on.
        channel: Channel,
        /// The undecoded message.
        bytes: &'a [u8],
    },
}

/// Something the room wants sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound {
    /// A reliable event to one client.
    Event {
        /// The connection.
        client: ClientId,
        /// The event.
        event: ServerEvent,
    },
    /// An unreliable snapshot to one client.
    Snapshot {
        /// The connection.
        client: ClientId,
        /// The snapshot.
        snapshot: Snapshot,
    },
    /// Close this connection.
    Disconnect {
        /// The connection.
        client: ClientId,
    },
}

/// Where the match stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the expected players.
    Waiting,
    /// The match clock runs.
    Running {
        /// Tick at which it started.
        started: u32,
    },
    /// Over; results were sent. The room closes after lingering.
    Ended {
        /// Tick at which it ended.
        at: u32,
    },
}

impl Phase {
    /// `"waiting"`, `"running"` or `"ended"`.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Waiting => "waiting",
            Phase::Running { .. } => "running",
            Phase::Ended { .. } => "ended",
        }
    }
}

/// Counters a room keeps about what its clients sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomStats {
    /// Messages that failed to decode or broke a rule (dropped, never applied).
    pub rejected_messages: u64,
    /// Connections refused (token for another room, unknown or duplicate player).
    pub refused_connections: u64,
    /// Inputs applied to the simulation.
    pub inputs_applied: u64,
}

#[derive(Debug)]
struct Player {
    player_id: String,
    avatar: Option<Entity>,
    net_id: u32,
    client: Option<ClientId>,
    pending: VecDeque<(u32, PlayerInput)>,
    newest_seq: u32,
    applied_seq: u32,
    last_input: PlayerInput,
    /// Score kept after the avatar is gone.
    final_score: Option<(u32, u32)>,
}

/// A room's sans-IO core. See the module docs.
pub struct RoomCore<G: Game> {
    game: G,
    settings: RoomSettings,
    sim: Simulation,
    tick: u32,
    phase: Phase,
    /// Keyed by player id; a BTreeMap so iteration order, and so the simulation, is deterministic.
    players: BTreeMap<String, Player>,
    clients: BTreeMap<ClientId, String>,
    out: Vec<Outbound>,
    entities: Vec<EntityState>,
    stats: RoomStats,
    results: Option<MatchResults>,
}

impl<G: Game> RoomCore<G> {
    /// A room waiting for its players.
    pub fn new(game: G, settings: RoomSettings) -> Self {
        let dt = 1.0 / f32::from(settings.tick_rate.max(1));
        let sim = Simulation::new(&game, settings.seed, dt);
        Self {
            game,
            settings,
            sim,
            tick: 0,
            phase: Phase::Waiting,
            players: BTreeMap::new(),
            clients: BTreeMap::new(),
            out: Vec::new(),
            entities: Vec::new(),
            stats: RoomStats::default(),
            results: None,
        }
    }

    /// Applies one event from outside. Anything it wants sent is returned by the next
    /// [`RoomCore::tick`] (or [`RoomCore::drain`]).
    pub fn handle(&mut self, input: RoomInput<'_>) {
        match input {
            RoomInput::Connected { client, user } => self.on_connect(client, user),
            RoomInput::Disconnected { client } => self.on_disconnect(client),
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
        let expected = self
            .settings
            .expected
            .iter()
            .any(|e| e.player_id == user.player_id && e.ticket_id == user.ticket_id);
        if !expected {
            return self.refuse(
                client,
                "not_expected",
                "this player was not placed in this room".into(),
            );
        }
        if matches!(self.phase, Phase::Ended { .. }) {
            return self.refuse(client, "match_over", "the match is over".into());
        }
        if let Some(p) = self.players.get(&user.player_id)
            && p.client.is_some()
        {
            return self.refuse(
                client,
                "already_connected",
                "this player is already connected".into(),
            );
        }
        let player = match self.players.get_mut(&user.player_id) {
            Some(p) => p, // rejoining after a disconnect
            None => {
                let (avatar, net_id) = self.game.spawn_player(&mut self.sim.world);
                self.players
                    .entry(user.player_id.clone())
                    .or_insert(Player {
                        player_id: user.player_id.clone(),
                        avatar: Some(avatar),
                        net_id,
                        client: None,
                        pending: VecDeque::new(),
                        newest_seq: 0,
                        applied_seq: 0,
                        last_input: PlayerInput::default(),
                        final_score: None,
                    })
            }
        };
        if player.avatar.is_none() {
            let (avatar, net_id) = self.game.spawn_player(&mut self.sim.world);
            player.avatar = Some(avatar);
            player.net_id = net_id;
            player.final_score = None;
        }
        // A new connection starts a new input sequence.
        player.client = Some(client);
        player.pending.clear();
        player.newest_seq = 0;
        player.applied_seq = 0;
        let (player_id, net_id) = (player.player_id.clone(), player.net_id);
        self.clients.insert(client, player_id.clone());
        self.out.push(Outbound::Event {
            client,
            event: ServerEvent::Welcome {
                room_id: self.settings.room_id,
                player_id: player_id.clone(),
                entity_id: net_id,
                tick_rate: self.settings.tick_rate,
                match_duration_ms: self.settings.match_duration.as_millis() as u32,
                arena_size: self.game.arena_size(),
            },
        });
        for other in self.players.values().filter(|p| p.player_id != player_id) {
            if other.client.is_some() {
                self.out.push(Outbound::Event {
                    client,
                    event: ServerEvent::PlayerJoined {
                        player_id: other.player_id.clone(),
                        entity_id: other.net_id,
                    },
                });
            }
        }
        self.broadcast_except(
            client,
            ServerEvent::PlayerJoined {
                player_id: player_id.clone(),
                entity_id: net_id,
            },
        );
        if let Phase::Running { started } = self.phase {
            self.out.push(Outbound::Event {
                client,
                event: ServerEvent::MatchStarted { tick: started },
            });
        }
    }

    fn on_disconnect(&mut self, client: ClientId) {
        let Some(player_id) = self.clients.remove(&client) else {
            return;
        };
        let Some(player) = self.players.get_mut(&player_id) else {
            return;
        };
        player.client = None;
        if let Some(avatar) = player.avatar.take() {
            player.final_score = Some(self.game.score(&self.sim.world, avatar));
            self.game.despawn_player(&mut self.sim.world, avatar);
        }
        if !matches!(self.phase, Phase::Ended { .. }) {
            self.broadcast_except(client, ServerEvent::PlayerLeft { player_id });
        }
    }

    fn on_message(&mut self, client: ClientId, channel: Channel, bytes: &[u8]) {
        let Some(player) = self
            .clients
            .get(&client)
            .and_then(|id| self.players.get_mut(id))
        else {
            self.stats.rejected_messages += 1;
            return;
        };
        match channel {
            Channel::State => {
                let Ok(packet) = codec::decode::<InputPacket>(bytes) else {
                    self.stats.rejected_messages += 1;
                    return;
                };
                if packet.inputs.len() > MAX_INPUTS_PER_PACKET {
                    self.stats.rejected_messages += 1;
                    return;
                }
                for frame in packet.inputs {
                    if frame.seq > player.newest_seq {
                        player.newest_seq = frame.seq;
                        if player.pending.len() == MAX_PENDING_INPUTS {
                            player.pending.pop_front();
                        }
                        player.pending.push_back((frame.seq, frame.input));
                    }
                }
            }
            Channel::Events => match codec::decode::<ClientEvent>(bytes) {
                Ok(ClientEvent::Leave) => self.out.push(Outbound::Disconnect { client }),
                Err(_) => self.stats.rejected_messages += 1,
            },
        }
    }

    fn broadcast_except(&mut self, except: ClientId, event: ServerEvent) {
        for &client in self.clients.keys() {
            if client != except {
                self.out.push(Outbound::Event {
                    client,
                    event: event.clone(),
                });
            }
        }
    }

    fn broadcast(&mut self, event: ServerEvent) {
        for &client in self.clients.keys() {
            self.out.push(Outbound::Event {
                client,
                event: event.clone(),
            });
        }
    }

    /// Advances one tick: phase changes, inputs, the game's systems, snapshots. Returns
    /// everything to send, in order; the caller drains it.
    pub fn tick(&mut self) -> &mut Vec<Outbound> {
        self.tick += 1;
        self.advance_phase();
        let running = matches!(self.phase, Phase::Running { .. });
        if running {
            for player in self.players.values_mut() {
                let Some(avatar) = player.avatar else {
                    continue;
                };
                if let Some((seq, input)) = player.pending.pop_front() {
                    player.applied_seq = seq;
                    player.last_input = input;
                    self.stats.inputs_applied += 1;
                }
                // No new input this tick: hold the last one, as a client holding a key would.
                self.game
                    .apply_input(&mut self.sim.world, avatar, player.last_input);
            }
        }
        self.sim.step(self.tick, running);
        self.snapshots();
        &mut self.out
    }

    /// Everything queued to send (for callers that handled events without ticking).
    pub fn drain(&mut self) -> &mut Vec<Outbound> {
        &mut self.out
    }

    fn connected(&self) -> usize {
        self.clients.len()
    }

    fn advance_phase(&mut self) {
        match self.phase {
            Phase::Waiting => {
                let all_here = self.connected() == self.settings.expected.len();
                let timed_out = self.tick >= self.settings.ticks(self.settings.join_timeout);
                if all_here || (timed_out && self.connected() > 0) {
                    self.phase = Phase::Running { started: self.tick };
                    self.broadcast(ServerEvent::MatchStarted { tick: self.tick });
                } else if timed_out {
                    self.end(EndReason::Abandoned);
                }
            }
            Phase::Running { started } => {
                if self.tick - started >= self.settings.ticks(self.settings.match_duration) {
                    self.end(EndReason::TimeLimit);
                } else if self.game.score_limit_reached(&mut self.sim.world) {
                    self.end(EndReason::ScoreLimit);
                } else if self.connected() == 0 {
                    self.end(EndReason::Abandoned);
                }
            }
            Phase::Ended { .. } => {}
        }
    }

    fn end(&mut self, reason: EndReason) {
        let ticks_played = match self.phase {
            Phase::Running { started } => self.tick - started,
            _ => 0,
        };
        let mut players: Vec<PlayerResult> = self
            .players
            .values()
            .map(|p| {
                let (score, deaths) = match (p.avatar, p.final_score) {
                    (Some(avatar), _) => self.game.score(&self.sim.world, avatar),
                    (None, Some(s)) => s,
                    (None, None) => (0, 0),
                };
                PlayerResult {
                    player_id: p.player_id.clone(),
                    score,
                    deaths,
                }
            })
            .collect();
        players.sort_by(|a, b| b.score.cmp(&a.score).then(a.deaths.cmp(&b.deaths)));
        let results = MatchResults {
            reason,
            ticks_played,
            players,
        };
        self.phase = Phase::Ended { at: self.tick };
        self.broadcast(ServerEvent::MatchEnded(results.clone()));
        self.results = Some(results);
        tracing::debug!(
            room = self.settings.room_id,
            ?reason,
            ticks_played,
            "match ended"
        );
    }

    fn snapshots(&mut self) {
        self.entities.clear();
        self.game
            .write_snapshot(&mut self.sim.world, &mut self.entities);
        self.entities.truncate(MAX_SNAPSHOT_ENTITIES);
        let time_left_ms = match self.phase {
            Phase::Running { started } => {
                let total = self.settings.ticks(self.settings.match_duration);
                let left = total.saturating_sub(self.tick - started);
                (u64::from(left) * 1000 / u64::from(self.settings.tick_rate.max(1))) as u32
            }
            _ => 0,
        };
        for (&client, player_id) in &self.clients {
            let applied = self.players.get(player_id).map_or(0, |p| p.applied_seq);
            self.out.push(Outbound::Snapshot {
                client,
                snapshot: Snapshot {
                    tick: self.tick,
                    last_input_seq: applied,
                    time_left_ms,
                    entities: self.entities.clone(),
                },
            });
        }
    }

    /// Whether the room is done: the match ended and the linger time passed.
    pub fn is_finished(&self) -> bool {
        match self.phase {
            Phase::Ended { at } => self.tick - at >= self.settings.ticks(self.settings.linger),
            _ => false,
        }
    }

    /// The room's id.
    pub fn id(&self) -> u64 {
        self.settings.room_id
    }

    /// Current tick.
    pub fn current_tick(&self) -> u32 {
        self.tick
    }

    /// Current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Players connected now.
    pub fn connected_players(&self) -> usize {
        self.connected()
    }

    /// Players the match was made for.
    pub fn expected_players(&self) -> usize {
        self.settings.expected.len()
    }

    /// The results, once the match ended.
    pub fn results(&self) -> Option<&MatchResults> {
        self.results.as_ref()
    }

    /// Counters about client traffic.
    pub fn stats(&self) -> RoomStats {
        self.stats
    }
}
