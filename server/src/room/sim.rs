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
use protocol::{EntityState, PlayerInput};

use crate::game::{Game, RoomClock};

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
#[derive(Debug, Clone, PartialEq)]
pub enum SimCommand {
    /// Spawn this player's avatar, on this team; if it has one already (it dropped and came
    /// back), the game is told it returned.
    Spawn(Slot, u8),
    /// The player dropped and may come back: its avatar stays.
    Drop(Slot),
    /// Remove this player's avatar (it left for good).
    Despawn(Slot),
    /// This player's input for the tick.
    Input(Slot, PlayerInput),
    /// Fire a fault during the tick.
    Fault(Fault),
}

/// What to simulate for one tick.
#[derive(Debug, Clone, PartialEq)]
pub struct TickBatch {
    /// The tick number.
    pub tick: u32,
    /// Whether the match clock runs (gameplay frozen otherwise).
    pub running: bool,
    /// Commands, applied in order before the systems run.
    pub commands: Vec<SimCommand>,
}

impl TickBatch {
    /// The batch without its inputs and faults: what is replayed for a tick that crashed
    /// (Erlang's rule: the message that crashed a process is lost; joins and leaves are not).
    pub fn structural_only(&self) -> Self {
        Self {
            tick: self.tick,
            running: self.running,
            commands: self
                .commands
                .iter()
                .filter(|c| {
                    matches!(
                        c,
                        SimCommand::Spawn(..) | SimCommand::Drop(_) | SimCommand::Despawn(_)
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
    /// Network id of the avatar.
    pub net_id: u32,
    /// Score.
    pub score: u32,
    /// Deaths.
    pub deaths: u32,
}

/// What a tick produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepOutput {
    /// The tick it describes.
    pub tick: u32,
    /// Every replicated entity's state.
    pub entities: Vec<EntityState>,
    /// Every player with an avatar.
    pub standings: Vec<PlayerStanding>,
    /// Whether someone reached the score limit.
    pub score_limit_reached: bool,
}

/// A simulation's state at a tick, from which it can be rebuilt (here after a crash, or on
/// another node after a migration).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound(serialize = "", deserialize = ""))]
pub struct SimCheckpoint<G: Game> {
    /// The last tick included.
    pub tick: u32,
    game: G::Checkpoint,
    avatars: Vec<(Slot, u32)>,
}

impl<G: Game> Clone for SimCheckpoint<G> {
    fn clone(&self) -> Self {
        Self {
            tick: self.tick,
            game: self.game.clone(),
            avatars: self.avatars.clone(),
        }
    }
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

/// A game's world and schedule, and which avatar belongs to which slot.
pub struct Simulation<G: Game> {
    game: G,
    world: World,
    schedule: Schedule,
    /// Each player's avatar and its network id.
    avatars: BTreeMap<Slot, (Entity, u32)>,
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
        game.setup(&mut world, seed);
        let mut schedule = Schedule::default();
        schedule.add_systems(fault_system);
        game.add_systems(&mut schedule);
        Self {
            game,
            world,
            schedule,
            avatars: BTreeMap::new(),
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
        let restored = sim.game.restore(&mut sim.world, &checkpoint.game);
        for &(slot, net_id) in &checkpoint.avatars {
            if let Some(&(_, entity)) = restored.iter().find(|(id, _)| *id == net_id) {
                sim.avatars.insert(slot, (entity, net_id));
            }
        }
        sim.world.resource_mut::<RoomClock>().tick = checkpoint.tick;
        sim
    }

    /// Captures the current state.
    pub fn checkpoint(&mut self) -> SimCheckpoint<G> {
        let avatars = self
            .avatars
            .iter()
            .map(|(&slot, &(_, id))| (slot, id))
            .collect();
        SimCheckpoint {
            tick: self.world.resource::<RoomClock>().tick,
            game: self.game.checkpoint(&mut self.world),
            avatars,
        }
    }

    /// Applies a batch and runs the game's systems for one tick. May panic (game code).
    pub fn step(&mut self, batch: &TickBatch, out: &mut StepOutput) {
        for command in &batch.commands {
            match *command {
                SimCommand::Spawn(slot, team) => match self.avatars.get(&slot) {
                    Some(&(entity, _)) => self.game.player_returned(&mut self.world, entity),
                    None => {
                        let spawned = self.game.spawn_player(&mut self.world, team);
                        self.avatars.insert(slot, spawned);
                    }
                },
                SimCommand::Drop(slot) => {
                    if let Some(&(entity, _)) = self.avatars.get(&slot) {
                        self.game.player_dropped(&mut self.world, entity);
                    }
                }
                SimCommand::Despawn(slot) => {
                    if let Some((entity, _)) = self.avatars.remove(&slot) {
                        self.game.despawn_player(&mut self.world, entity);
                    }
                }
                SimCommand::Input(slot, input) => {
                    if let Some(&(entity, _)) = self.avatars.get(&slot) {
                        self.game.apply_input(&mut self.world, entity, input);
                    }
                }
                SimCommand::Fault(Fault::TransportPanic) => {}
                SimCommand::Fault(fault) => {
                    self.world.resource_mut::<PendingFault>().0 = Some(fault);
                }
            }
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
        for (&slot, &(entity, net_id)) in &self.avatars {
            let (score, deaths) = self.game.score(&self.world, entity);
            out.standings.push(PlayerStanding {
                slot,
                net_id,
                score,
                deaths,
            });
        }
        out.score_limit_reached = self.game.score_limit_reached(&mut self.world);
    }
}
