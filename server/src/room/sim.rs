//! The simulation half of a room: the game's [`World`] and [`Schedule`], the crashable part.
//!
//! The shell never touches the world. Each tick it hands the simulation a [`TickBatch`]
//! (structural commands and inputs) and gets back a [`StepOutput`] (entity states and scores).
//! So a panic, or a hang, inside the simulation leaves the shell intact and reachable, and the
//! simulation can be thrown away and rebuilt from a [`SimCheckpoint`] plus the logged batches.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use bevy_ecs::{prelude::*, schedule::Schedule};

use crate::game::{
    CommandOf, EventOf, Game, GameEvents, InputOf, Outcome, Participant, PlayerInfo, Recipient,
    Replica, ResultsOf, RoomClock, StateOf,
};

/// A player's slot: its index in the room's expected-player list, stable for the match.
pub type Slot = u32;

/// A fault injected for tests and chaos runs; it fires inside the schedule, as a system would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The tick panics.
    Panic,
    /// The tick never returns (until the room is abandoned by the watchdog).
    Hang,
    /// The tick burns this much CPU time before going on.
    Slow(Duration),
    /// The room panics in its network receive path, outside the simulation (tests of
    /// containment; not offered by the HTTP endpoint).
    TransportPanic,
}

/// One change the shell asks of the simulation.
#[derive(Debug, Clone)]
pub enum SimCommand<G: Game> {
    /// This player joins: the game makes what exists for them. If the slot has an entity
    /// already (the player dropped, or left, and came back), the game is told it returned
    /// instead.
    Join {
        /// The player's slot.
        slot: Slot,
        /// The player's team.
        team: u8,
        /// The player's id.
        player_id: String,
    },
    /// The player dropped and may come back: its entity stays.
    Drop(Slot),
    /// The player left for good.
    Leave(Slot),
    /// This player's input for the tick.
    Input(Slot, InputOf<G>),
    /// One of this player's commands.
    Command(Slot, CommandOf<G>),
    /// Fire a fault during the tick.
    Fault(Fault),
}

/// What to simulate for one tick.
#[derive(Debug, Clone)]
pub struct TickBatch<G: Game> {
    /// The tick number.
    pub tick: u32,
    /// Whether the match clock runs (gameplay frozen otherwise).
    pub running: bool,
    /// The match ends with this tick: the game is asked for its results.
    pub last: bool,
    /// Commands, applied in order before the systems run.
    pub commands: Vec<SimCommand<G>>,
}

impl<G: Game> TickBatch<G> {
    /// The batch without its inputs, commands and faults: what is replayed for a tick that
    /// crashed (Erlang's rule: the message that crashed a process is lost; joins and leaves
    /// are not).
    pub fn structural_only(&self) -> Self {
        Self {
            tick: self.tick,
            running: self.running,
            last: self.last,
            commands: self
                .commands
                .iter()
                .filter(|c| {
                    matches!(
                        c,
                        SimCommand::Join { .. } | SimCommand::Drop(_) | SimCommand::Leave(_)
                    )
                })
                .cloned()
                .collect(),
        }
    }
}

/// A player's standing after a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayerStanding {
    /// The player's slot.
    pub slot: Slot,
    /// Network id of the entity the player controls, if the game replicates one.
    pub net_id: Option<u32>,
    /// The player's entity in the world (what an owner-only entity names as its owner).
    pub entity: Entity,
    /// Score, as the game counts it.
    pub score: i64,
}

/// What a tick produced.
#[derive(Debug, Clone)]
pub struct StepOutput<G: Game> {
    /// The tick it describes.
    pub tick: u32,
    /// Every replicated entity: its state and who may see it.
    pub entities: Vec<Replica<StateOf<G>>>,
    /// Every player who joined and has not left.
    pub standings: Vec<PlayerStanding>,
    /// The game's events of this tick, for one player (by slot) or for all (`None`).
    pub events: Vec<(Option<Slot>, EventOf<G>)>,
    /// Whether the game declared the match over at this tick.
    pub over: bool,
    /// The match's results, when it ended at this tick (it was over, or the batch was the
    /// last).
    pub outcome: Option<Outcome<ResultsOf<G>>>,
}

// By hand: a derive would ask the game's type itself to be comparable.
impl<G: Game> PartialEq for StepOutput<G> {
    fn eq(&self, other: &Self) -> bool {
        self.tick == other.tick
            && self.entities == other.entities
            && self.standings == other.standings
            && self.events == other.events
            && self.over == other.over
            && self.outcome == other.outcome
    }
}

impl<G: Game> Default for StepOutput<G> {
    fn default() -> Self {
        Self {
            tick: 0,
            entities: Vec::new(),
            standings: Vec::new(),
            events: Vec::new(),
            over: false,
            outcome: None,
        }
    }
}

/// A simulation's state at a tick, from which it can be rebuilt (here after a crash, or on
/// another node after a migration).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound(serialize = "", deserialize = ""))]
pub struct SimCheckpoint<G: Game> {
    /// The last tick included.
    pub tick: u32,
    game: G::Checkpoint,
    /// The players, in the order their entities were given to [`Game::checkpoint`].
    players: Vec<(Slot, SimPlayerRecord)>,
}

impl<G: Game> Clone for SimCheckpoint<G> {
    fn clone(&self) -> Self {
        Self {
            tick: self.tick,
            game: self.game.clone(),
            players: self.players.clone(),
        }
    }
}

/// A player as the simulation keeps it, without its entity (which a restore renews).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct SimPlayerRecord {
    player_id: String,
    team: u8,
    net_id: Option<u32>,
    /// The player left for good; kept for the results.
    left: bool,
}

/// A player in the simulation: its record and its entity.
struct SimPlayer {
    record: SimPlayerRecord,
    entity: Entity,
}

/// Set by the watchdog when it gives up on a hung tick, so an injected hang can end.
#[derive(Resource, Clone, Default)]
pub(crate) struct Abandoned(pub(crate) Arc<AtomicBool>);

#[derive(Resource, Default)]
struct PendingFault(Option<Fault>);

/// Runs first in every tick: fires an injected fault.
fn fault_system(mut fault: ResMut<PendingFault>, abandoned: Res<Abandoned>) {
    match fault.0.take() {
        None => {}
        Some(Fault::Panic) => panic!("injected fault: panic"),
        Some(Fault::Hang) => {
            // Stands for an infinite loop, but sleeps rather than spins so a test does not burn
            // a core, and ends once the watchdog has abandoned the room.
            while !abandoned.0.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(5));
            }
            panic!("injected fault: hung tick abandoned");
        }
        Some(Fault::TransportPanic) => {}
        Some(Fault::Slow(d)) => {
            let start = Instant::now();
            while start.elapsed() < d {
                std::hint::spin_loop();
            }
        }
    }
}

/// A game's world and schedule, and which entity stands for which player.
pub struct Simulation<G: Game> {
    game: G,
    world: World,
    schedule: Schedule,
    /// Every player who joined, by slot; a BTreeMap so the order is deterministic.
    players: BTreeMap<Slot, SimPlayer>,
}

impl<G: Game> Simulation<G> {
    /// A fresh world set up by the game, with its systems scheduled.
    pub fn new(game: G, seed: u64, dt: f32, abandoned: Arc<AtomicBool>) -> Self {
        let mut world = World::new();
        world.insert_resource(RoomClock {
            tick: 0,
            dt,
            running: false,
        });
        world.insert_resource(PendingFault::default());
        world.insert_resource(Abandoned(abandoned));
        world.insert_resource(GameEvents::<EventOf<G>>::default());
        game.setup(&mut world, seed);
        let mut schedule = Schedule::default();
        schedule.add_systems(fault_system);
        game.add_systems(&mut schedule);
        Self {
            game,
            world,
            schedule,
            players: BTreeMap::new(),
        }
    }

    /// A simulation rebuilt from a checkpoint: a fresh world and schedule (never the ones that
    /// panicked), filled from the checkpoint.
    pub fn restore(
        game: G,
        checkpoint: &SimCheckpoint<G>,
        dt: f32,
        abandoned: Arc<AtomicBool>,
    ) -> Self {
        let mut sim = Self::new(game, 0, dt, abandoned);
        let entities = sim.game.restore(&mut sim.world, &checkpoint.game);
        for ((slot, record), entity) in checkpoint.players.iter().zip(entities) {
            sim.players.insert(
                *slot,
                SimPlayer {
                    record: record.clone(),
                    entity,
                },
            );
        }
        sim.world.resource_mut::<RoomClock>().tick = checkpoint.tick;
        sim
    }

    /// Captures the current state.
    pub fn checkpoint(&mut self) -> SimCheckpoint<G> {
        let entities: Vec<Entity> = self.players.values().map(|p| p.entity).collect();
        SimCheckpoint {
            tick: self.world.resource::<RoomClock>().tick,
            game: self.game.checkpoint(&mut self.world, &entities),
            players: self
                .players
                .iter()
                .map(|(&slot, p)| (slot, p.record.clone()))
                .collect(),
        }
    }

    fn entity(&self, slot: Slot) -> Option<Entity> {
        self.players
            .get(&slot)
            .filter(|p| !p.record.left)
            .map(|p| p.entity)
    }

    /// Applies a batch and runs the game's systems for one tick. May panic (game code).
    pub fn step(&mut self, batch: &TickBatch<G>, out: &mut StepOutput<G>) {
        for command in &batch.commands {
            self.apply(command);
        }
        {
            let mut clock = self.world.resource_mut::<RoomClock>();
            clock.tick = batch.tick;
            clock.running = batch.running;
        }
        self.schedule.run(&mut self.world);
        out.tick = batch.tick;
        out.entities.clear();
        self.game.write_snapshot(&mut self.world, &mut out.entities);
        out.standings.clear();
        for (&slot, p) in &self.players {
            if !p.record.left {
                out.standings.push(PlayerStanding {
                    slot,
                    net_id: p.record.net_id,
                    entity: p.entity,
                    score: self.game.score(&self.world, p.entity),
                });
            }
        }
        out.events.clear();
        let players = &self.players;
        let slot_of = |entity: Entity| {
            players
                .iter()
                .find(|(_, p)| p.entity == entity && !p.record.left)
                .map(|(&slot, _)| slot)
        };
        for (to, event) in self.world.resource_mut::<GameEvents<EventOf<G>>>().drain() {
            match to {
                Recipient::All => out.events.push((None, event)),
                Recipient::Player(entity) => {
                    // An event for someone who is not a player (any more) goes nowhere.
                    if let Some(slot) = slot_of(entity) {
                        out.events.push((Some(slot), event));
                    }
                }
            }
        }
        out.over = batch.running && self.game.is_over(&mut self.world);
        out.outcome = (out.over || batch.last).then(|| self.outcome());
    }

    fn apply(&mut self, command: &SimCommand<G>) {
        match command {
            SimCommand::Join {
                slot,
                team,
                player_id,
            } => match self.players.get_mut(slot) {
                // Back after a drop, or even after leaving (while its place was still free):
                // the same entity, state and all.
                Some(p) => {
                    p.record.left = false;
                    self.game.player_returned(&mut self.world, p.entity);
                }
                None => {
                    let joined = self.game.player_joined(
                        &mut self.world,
                        PlayerInfo {
                            player_id,
                            team: *team,
                        },
                    );
                    self.players.insert(
                        *slot,
                        SimPlayer {
                            record: SimPlayerRecord {
                                player_id: player_id.clone(),
                                team: *team,
                                net_id: joined.net_id,
                                left: false,
                            },
                            entity: joined.entity,
                        },
                    );
                }
            },
            SimCommand::Drop(slot) => {
                if let Some(entity) = self.entity(*slot) {
                    self.game.player_dropped(&mut self.world, entity);
                }
            }
            SimCommand::Leave(slot) => {
                if let Some(entity) = self.entity(*slot) {
                    self.game.player_left(&mut self.world, entity);
                    if let Some(p) = self.players.get_mut(slot) {
                        p.record.left = true;
                    }
                }
            }
            SimCommand::Input(slot, input) => {
                if let Some(entity) = self.entity(*slot) {
                    self.game.apply_input(&mut self.world, entity, *input);
                }
            }
            SimCommand::Command(slot, command) => {
                if let Some(entity) = self.entity(*slot) {
                    self.game
                        .apply_command(&mut self.world, entity, command.clone());
                }
            }
            SimCommand::Fault(Fault::TransportPanic) => {}
            SimCommand::Fault(fault) => {
                self.world.resource_mut::<PendingFault>().0 = Some(*fault);
            }
        }
    }

    fn outcome(&mut self) -> Outcome<ResultsOf<G>> {
        let participants: Vec<Participant> = self
            .players
            .values()
            .map(|p| Participant {
                player_id: &p.record.player_id,
                team: p.record.team,
                entity: p.entity,
            })
            .collect();
        self.game.results(&mut self.world, &participants)
    }
}
