//! The room core: the shell of a room, without IO.
//!
//! It owns what must survive a crash of the simulation: players and their connections, input
//! queues, the match phase, the last checkpoint and the batches run since it. Each tick it
//! builds a [`TickBatch`] for the simulation ([`RoomCore::begin_tick`]) and turns the
//! simulation's [`StepOutput`] into messages ([`RoomCore::end_tick`]). When the simulation
//! panics, [`RoomCore::crashed`] decides: rebuild from the checkpoint and replay, or, past the
//! restart intensity, fail the room. It never reads a clock or a socket; time is the tick count.
//!
//! This file holds the shell's state and the tick; its other jobs have files of their own:
//! `settings.rs` (how a room is set up), `clients.rs` (what arrives from outside, and the
//! events sent back), `inputs.rs` (inputs waiting for their tick), `recovery.rs` (checkpoints
//! and panics), `backfill.rs` (replacement players), `handoff.rs` (a room on the move).

use std::collections::{BTreeMap, VecDeque};

use protocol::{
    Channel, EndReason, GameProtocol, MatchResults, Replicated, ServerEvent, SnapshotPacket,
    TokenUserData,
    api::{SeenBy, SpectatorEntity, SpectatorFrame, SpectatorPlayer},
};

use super::{
    hostile::HostileKind,
    sim::{Fault, SimCheckpoint, SimCommand, Slot, StepOutput, TickBatch},
    sync::{ClientSync, Header, Viewer, World, WorldBuffers},
};
use crate::game::{Game, Outcome, ResultsOf, Scope};

mod backfill;
mod clients;
mod handoff;
mod inputs;
mod recovery;
mod settings;

pub use backfill::{AddPlayerError, OpenedSlot};
pub use handoff::{CoreHandoff, HandoffError};
pub use inputs::INPUT_DELAY_BUCKETS;
use inputs::InputBuffer;
pub use recovery::Recovery;
pub use settings::{Backfill, ExpectedPlayer, RoomSettings, Supervision};

/// A netcode client id: one connection.
pub type ClientId = u64;

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
    /// A client broke the protocol and was cut off (see `hostile.rs`): it leaves, its place
    /// is given up and its ticket is not the room's to give back.
    Ejected {
        /// The connection.
        client: ClientId,
        /// What it did.
        kind: HostileKind,
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
pub enum Outbound<P: GameProtocol> {
    /// A reliable event to one client.
    Event {
        /// The connection.
        client: ClientId,
        /// The event.
        event: ServerEvent<P>,
    },
    /// An unreliable snapshot (a delta against the client's acknowledged view) to one client.
    Snapshot {
        /// The connection.
        client: ClientId,
        /// The snapshot.
        packet: SnapshotPacket,
    },
    /// Close this connection.
    Disconnect {
        /// The connection.
        client: ClientId,
    },
}

/// Where the match stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// The room gave up (restart intensity exceeded, hung, or broken); players were told and
    /// their tickets go back to the queue. The room closes after lingering.
    Failed {
        /// Tick at which it failed.
        at: u32,
    },
}

impl Phase {
    /// `"waiting"`, `"running"`, `"ended"` or `"failed"`.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Waiting => "waiting",
            Phase::Running { .. } => "running",
            Phase::Ended { .. } => "ended",
            Phase::Failed { .. } => "failed",
        }
    }
}

/// Counters a room keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomStats {
    /// Messages that failed to decode or broke a rule (dropped, never applied).
    pub rejected_messages: u64,
    /// Connections refused (token for another room, unknown or duplicate player).
    pub refused_connections: u64,
    /// Inputs applied to the simulation.
    pub inputs_applied: u64,
    /// Inputs that arrived after the tick they were for (applied at a later one, or merged into
    /// a newer input there).
    pub inputs_late: u64,
    /// Inputs not applied on their own: another input stamped for the same tick, or arriving
    /// with it after their tick had passed, was applied in their place (with their presses).
    pub inputs_merged: u64,
    /// Inputs applied, by how many ticks each waited in the room between arriving and being
    /// applied (index: ticks, the last bucket: that many or more). An input that arrives late
    /// waits zero.
    pub input_delay: [u64; INPUT_DELAY_BUCKETS],
    /// Times the simulation was rebuilt after a panic.
    pub restarts: u64,
}

#[derive(Debug)]
struct Player<P: GameProtocol> {
    player_id: String,
    team: u8,
    /// Tick since which the player has been away (left, dropped, or never came) while the
    /// match ran; `None` while connected.
    away_since: Option<u32>,
    /// The player said goodbye (no grace before a replacement is asked for).
    left: bool,
    /// A replacement was asked for: this player's place is given away and it cannot return.
    replaced: bool,
    /// Cut off for breaking the protocol: it cannot return and its ticket is not given back.
    ejected: bool,
    client: Option<ClientId>,
    /// Network id of the entity the player controls, if the game gave it one.
    net_id: Option<u32>,
    /// The player's entity in the world, as of the last tick (a restored world renumbers
    /// entities, so it is taken afresh every tick).
    entity: Option<bevy_ecs::entity::Entity>,
    /// The simulation made the player's entity (it has played a tick in the world).
    in_world: bool,
    /// Whether this connection got its welcome.
    welcomed: bool,
    /// Whether the player ever connected (it then has a line in the results).
    joined: bool,
    /// This connection's inputs waiting for their tick.
    inputs: InputBuffer<P>,
    /// The newest input applied.
    applied_seq: u32,
    /// The score the game gave the player after the last tick it was in the world.
    score: i64,
    /// This connection's views, acknowledgement and priorities.
    sync: ClientSync<P::State>,
    /// Where the player's entity was last seen: the centre of this player's interest.
    center: [f32; 3],
}

/// A room's shell. See the module docs.
pub struct RoomCore<G: Game> {
    settings: RoomSettings,
    /// The game's welcome, the same for every player of the match.
    welcome: crate::game::WelcomeOf<G>,
    tick: u32,
    phase: Phase,
    /// Indexed by slot.
    players: Vec<Player<G::Protocol>>,
    /// Connection to slot; a BTreeMap so iteration, and so the simulation, is deterministic.
    clients: BTreeMap<ClientId, Slot>,
    /// Structural commands and faults for the next batch.
    queued: Vec<SimCommand<G>>,
    /// The match ends with the current tick, for this reason (decided as the tick began; the
    /// simulation then reports the results).
    ending: Option<EndReason>,
    checkpoint: Option<SimCheckpoint<G>>,
    /// Batches run since the checkpoint, the current tick's last.
    log: Vec<TickBatch<G>>,
    /// Ticks of recent restarts, for the intensity limit.
    recent_restarts: VecDeque<u32>,
    failure: Option<String>,
    out: Vec<Outbound<G::Protocol>>,
    stats: RoomStats,
    results: Option<MatchResults<ResultsOf<G>>>,
    /// The results were handed out to be reported (they leave the room once).
    results_reported: bool,
    /// Places opened for replacements, until the runner takes them.
    open_slots: Vec<OpenedSlot>,
    /// Tickets of ejected players, until the runner takes them.
    ejected_tickets: Vec<String>,
    /// Replacements asked for so far this match, and the most it may ask for (as many as
    /// the match was made for).
    replacements_asked: usize,
    max_replacements: usize,
    /// Set on a room resumed on this node after a migration, until its players are back.
    resume: Option<handoff::Resume>,
    /// The room told its clients to follow it to another node.
    migrated: bool,
    /// Where each tick's interest index is built: the last tick's, reused.
    world_buffers: WorldBuffers<<G::Protocol as GameProtocol>::State>,
}

impl<P: GameProtocol> Player<P> {
    fn new(expected: &ExpectedPlayer) -> Self {
        Self {
            player_id: expected.player_id.clone(),
            team: expected.team,
            away_since: None,
            left: false,
            replaced: false,
            ejected: false,
            client: None,
            net_id: None,
            entity: None,
            in_world: false,
            welcomed: false,
            joined: false,
            inputs: InputBuffer::default(),
            applied_seq: 0,
            score: 0,
            sync: ClientSync::default(),
            center: [0.0; 3],
        }
    }
}

impl<G: Game> RoomCore<G> {
    /// A room waiting for its players; `welcome` is the game's part of each player's welcome.
    pub fn new(settings: RoomSettings, welcome: crate::game::WelcomeOf<G>) -> Self {
        let players: Vec<Player<G::Protocol>> = settings.expected.iter().map(Player::new).collect();
        let max_replacements = players.len();
        Self {
            settings,
            welcome,
            tick: 0,
            phase: Phase::Waiting,
            players,
            clients: BTreeMap::new(),
            queued: Vec::new(),
            ending: None,
            checkpoint: None,
            log: Vec::new(),
            recent_restarts: VecDeque::new(),
            failure: None,
            out: Vec::new(),
            stats: RoomStats::default(),
            results: None,
            results_reported: false,
            open_slots: Vec::new(),
            ejected_tickets: Vec::new(),
            replacements_asked: 0,
            max_replacements,
            resume: None,
            migrated: false,
            world_buffers: WorldBuffers::default(),
        }
    }

    /// Queues a fault to fire during the next tick's simulation step.
    pub fn inject_fault(&mut self, fault: Fault) {
        self.queued.push(SimCommand::Fault(fault));
    }

    /// Starts a tick: phase changes, then the batch for the simulation (queued joins and
    /// leaves, and while the match runs each player's input for this tick). The batch is logged
    /// for replay.
    ///
    /// A player's input for this tick is the newest of those stamped for it or before, with
    /// every press of those (see `inputs.rs`). While the room waits for its players, inputs
    /// whose tick has come are dropped, so the match does not start with a backlog.
    pub fn begin_tick(&mut self) -> TickBatch<G> {
        self.tick += 1;
        self.advance_phase();
        self.open_slots_of_absent_players();
        // A match ending with this tick is frozen for it: the game only reports its results.
        let running = matches!(self.phase, Phase::Running { .. }) && self.ending.is_none();
        let mut commands = std::mem::take(&mut self.queued);
        let roll = self
            .tick
            .is_multiple_of(u32::from(self.settings.tick_rate.max(1)));
        for &slot in self.clients.values() {
            let player = &mut self.players[slot as usize];
            if roll {
                player.inputs.roll_window();
            }
            // No input due: the avatar keeps its last intent, as a held key would. While the
            // room waits for its players, due inputs are dropped.
            if let (Some(due), true) = (player.inputs.take_due(self.tick), running) {
                player.applied_seq = due.seq;
                self.stats.inputs_applied += 1;
                self.stats.inputs_late += u64::from(due.late);
                self.stats.inputs_merged += u64::from(due.merged);
                self.stats.input_delay[(due.waited as usize).min(INPUT_DELAY_BUCKETS - 1)] += 1;
                commands.push(SimCommand::Input(slot, due.input));
            }
        }
        let batch = TickBatch {
            tick: self.tick,
            running,
            last: self.ending.is_some(),
            commands,
        };
        self.log.push(batch.clone());
        batch
    }

    /// Whether this tick needs the simulation (not once the room has failed).
    pub fn wants_simulation(&self) -> bool {
        !matches!(self.phase, Phase::Failed { .. })
    }

    /// Finishes a tick with the simulation's output: welcomes, the game's events, snapshots,
    /// and the end of the match when the game or the clock says so.
    pub fn end_tick(&mut self, step: &StepOutput<G>) {
        for standing in &step.standings {
            let player = &mut self.players[standing.slot as usize];
            player.score = standing.score;
            player.net_id = standing.net_id;
            player.entity = Some(standing.entity);
            player.in_world = true;
        }
        self.welcome_new_players();
        self.send_game_events(step);
        let reason = match self.ending.take() {
            Some(reason) => Some(reason),
            None if step.over && matches!(self.phase, Phase::Running { .. }) => {
                Some(EndReason::Finished)
            }
            None => None,
        };
        if let Some(reason) = reason {
            match &step.outcome {
                Some(outcome) => self.end(reason, outcome.clone()),
                None => self.fail(format!(
                    "the match ended ({reason:?}) and the game reported no results"
                )),
            }
        }
        let buffers = std::mem::take(&mut self.world_buffers);
        let world = World::build(&step.entities, self.settings.sync.interest_radius, buffers);
        for (&client, &slot) in &self.clients {
            let player = &mut self.players[slot as usize];
            if !player.welcomed {
                continue;
            }
            if let Some(center) = player.net_id.and_then(|id| world.position(id)) {
                player.center = center;
            }
            let viewer = Viewer {
                own: player.net_id,
                center: player.center,
                entity: player.entity,
                team: player.team,
            };
            let packet = player.sync.snapshot(
                &world,
                &self.settings.sync,
                &viewer,
                Header {
                    tick: self.tick,
                    last_input_seq: player.applied_seq,
                    input_lead: player.inputs.lead(),
                },
            );
            self.out.push(Outbound::Snapshot { client, packet });
        }
        self.world_buffers = world.into_buffers();
    }

    /// Sends the game's events of the tick to welcomed players (one not yet welcomed learns
    /// the state from the game's welcome and snapshots).
    fn send_game_events(&mut self, step: &StepOutput<G>) {
        for (to, event) in &step.events {
            match to {
                None => self.broadcast_welcomed(ServerEvent::Game(event.clone())),
                Some(slot) => {
                    let player = &self.players[*slot as usize];
                    if let (Some(client), true) = (player.client, player.welcomed) {
                        self.out.push(Outbound::Event {
                            client,
                            event: ServerEvent::Game(event.clone()),
                        });
                    }
                }
            }
        }
    }

    fn welcome_new_players(&mut self) {
        let joiners: Vec<(ClientId, Slot)> = self
            .clients
            .iter()
            .filter(|&(_, &slot)| {
                let p = &self.players[slot as usize];
                !p.welcomed && p.in_world
            })
            .map(|(&c, &s)| (c, s))
            .collect();
        for (client, slot) in joiners {
            let (player_id, team, net_id) = {
                let p = &mut self.players[slot as usize];
                p.welcomed = true;
                (p.player_id.clone(), p.team, p.net_id)
            };
            self.out.push(Outbound::Event {
                client,
                event: ServerEvent::Welcome {
                    room_id: self.settings.room_id,
                    player_id: player_id.clone(),
                    team,
                    entity_id: net_id,
                    tick_rate: self.settings.tick_rate,
                    match_duration_ms: self
                        .settings
                        .match_duration
                        .map(|d| d.as_millis().min(u128::from(u32::MAX)) as u32),
                    game: self.welcome.clone(),
                },
            });
            for (&other, &other_slot) in &self.clients {
                let p = &self.players[other_slot as usize];
                if other == client || !p.welcomed {
                    continue;
                }
                let other_net_id = p.net_id;
                // Tell the newcomer about each player already here, and each of them about it.
                self.out.push(Outbound::Event {
                    client,
                    event: ServerEvent::PlayerJoined {
                        player_id: p.player_id.clone(),
                        team: p.team,
                        entity_id: other_net_id,
                    },
                });
                self.out.push(Outbound::Event {
                    client: other,
                    event: ServerEvent::PlayerJoined {
                        player_id: player_id.clone(),
                        team,
                        entity_id: net_id,
                    },
                });
            }
            if let Phase::Running { started } = self.phase {
                self.out.push(Outbound::Event {
                    client,
                    event: ServerEvent::MatchStarted { tick: started },
                });
            }
        }
    }

    /// Ticket ids of everyone the room holds a place for (not those whose place was given
    /// away, nor those ejected).
    pub fn tickets(&self) -> Vec<String> {
        self.settings
            .expected
            .iter()
            .zip(&self.players)
            .filter(|(_, p)| !p.replaced && !p.ejected)
            .map(|(e, _)| e.ticket_id.clone())
            .collect()
    }

    /// Tickets of players ejected since the last call: no longer the room's (should the room
    /// fail or its node die, they are not requeued or moved with it).
    pub fn take_ejected_tickets(&mut self) -> Vec<String> {
        std::mem::take(&mut self.ejected_tickets)
    }

    /// Everything queued to send; the caller drains it.
    pub fn drain(&mut self) -> &mut Vec<Outbound<G::Protocol>> {
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
                let enough = self.connected() >= self.settings.min_players.max(1);
                if all_here || (timed_out && enough) {
                    self.phase = Phase::Running { started: self.tick };
                    self.broadcast_welcomed(ServerEvent::MatchStarted { tick: self.tick });
                } else if timed_out {
                    self.ending = Some(EndReason::Abandoned);
                }
            }
            Phase::Running { started } => {
                let time_up = self
                    .settings
                    .match_duration
                    .is_some_and(|d| self.tick - started >= self.settings.ticks(d));
                if time_up {
                    self.ending = Some(EndReason::TimeLimit);
                } else if self.connected() == 0 {
                    self.ending = Some(EndReason::Abandoned);
                }
            }
            Phase::Ended { .. } | Phase::Failed { .. } => {}
        }
    }

    fn end(&mut self, reason: EndReason, outcome: Outcome<ResultsOf<G>>) {
        let ticks_played = match self.phase {
            Phase::Running { started } => self.tick - started,
            _ => 0,
        };
        let results = MatchResults {
            reason,
            ticks_played,
            placements: outcome.placements,
            game: outcome.results,
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

    /// Whether the room is done: the match ended (or the room failed) and the linger passed.
    pub fn is_finished(&self) -> bool {
        match self.phase {
            Phase::Ended { at } | Phase::Failed { at } => {
                self.tick - at >= self.settings.ticks(self.settings.linger)
            }
            _ => false,
        }
    }

    /// The room's id.
    pub fn id(&self) -> u64 {
        self.settings.room_id
    }

    /// The room's settings.
    pub fn settings(&self) -> &RoomSettings {
        &self.settings
    }

    /// Current tick.
    pub fn current_tick(&self) -> u32 {
        self.tick
    }

    /// Current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// What a spectator sees of a tick's output: every entity, and every placed player.
    pub fn spectator_frame(&self, step: &StepOutput<G>) -> SpectatorFrame {
        SpectatorFrame {
            room_id: self.settings.room_id,
            tick: step.tick,
            phase: self.phase.name().into(),
            game: <G::Protocol as GameProtocol>::NAME.into(),
            welcome: serde_json::to_value(&self.welcome).unwrap_or_default(),
            entities: step
                .entities
                .iter()
                .map(|e| SpectatorEntity {
                    id: e.id,
                    position: e.state.position(),
                    seen_by: match e.relevance.scope {
                        Scope::Nearby => SeenBy::Nearby,
                        Scope::Everyone => SeenBy::Everyone,
                        Scope::Owner(owner) => SeenBy::Owner(
                            self.players
                                .iter()
                                .find(|p| p.entity == Some(owner))
                                .map(|p| p.player_id.clone()),
                        ),
                        Scope::Team(team) => SeenBy::Team(team),
                    },
                    fields: e.state.to_json(),
                })
                .collect(),
            players: self
                .players
                .iter()
                .filter(|p| !p.replaced)
                .map(|p| SpectatorPlayer {
                    player_id: p.player_id.clone(),
                    team: p.team,
                    avatar: p.net_id,
                    connected: p.client.is_some(),
                    score: p.score,
                })
                .collect(),
        }
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
    pub fn results(&self) -> Option<&MatchResults<ResultsOf<G>>> {
        self.results.as_ref()
    }

    /// The results, the first time this is asked after the match ended: the runner reports
    /// them to the node, which sends them on to the matchmaker.
    pub fn take_results_to_report(&mut self) -> Option<MatchResults<ResultsOf<G>>> {
        if self.results_reported {
            return None;
        }
        let results = self.results.clone()?;
        self.results_reported = true;
        Some(results)
    }

    /// Why the room failed, if it did.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Counters.
    pub fn stats(&self) -> RoomStats {
        self.stats
    }
}
