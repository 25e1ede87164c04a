//! [`Room`]: a whole room — shell, supervised simulation, checkpoints — without IO.
//!
//! This is the room as tests and the deterministic harness drive it: events in, ticks, messages
//! out. The node's runner runs the same tick pipeline (`pipeline.rs`) with the shell behind a
//! lock and a socket attached (see `runner.rs`).

use std::sync::{Arc, atomic::AtomicBool};

use super::{
    core::{HandoffError, Outbound, RoomCore, RoomInput, RoomSettings},
    migration::RoomHandoff,
    pipeline::{SimHalf, run_tick},
    sim::{Fault, Simulation, StepOutput},
    supervisor::{SimFactory, supervised_checkpoint},
};
use crate::game::Game;

/// A room without IO. See the module docs.
pub struct Room<G: Game> {
    core: RoomCore<G>,
    half: SimHalf<G>,
    factory: SimFactory<G>,
}

impl<G: Game> Room<G> {
    /// A room waiting for its players, with its first checkpoint taken.
    pub fn new(game: G, settings: RoomSettings) -> Self {
        let factory = SimFactory {
            dt: settings.dt(),
            abandoned: Arc::new(AtomicBool::new(false)),
            game,
        };
        let mut sim = Some(Simulation::new(
            factory.game.clone(),
            settings.seed,
            factory.dt,
            factory.abandoned.clone(),
        ));
        let mut core = RoomCore::new(settings, factory.game.welcome());
        match supervised_checkpoint(&mut sim) {
            Ok(Some(cp)) => core.set_checkpoint(cp),
            Ok(None) => {}
            Err(e) => core.fail(format!("the first checkpoint failed: {e}")),
        }
        Self {
            core,
            half: SimHalf {
                sim,
                step: StepOutput::default(),
            },
            factory,
        }
    }

    /// A room resumed from a [`RoomHandoff`] another node made: the simulation rebuilt from the
    /// handoff's checkpoint, the shell as it was, holding for at most `patience` ticks while
    /// the players who were connected reconnect.
    pub fn resume(game: G, handoff: RoomHandoff<G>, patience: u32) -> Result<Self, HandoffError> {
        let factory = SimFactory {
            dt: handoff.settings.dt(),
            abandoned: Arc::new(AtomicBool::new(false)),
            game,
        };
        let sim = Simulation::restore(
            factory.game.clone(),
            &handoff.sim,
            factory.dt,
            factory.abandoned.clone(),
        );
        let core = RoomCore::resume(
            handoff.settings,
            factory.game.welcome(),
            handoff.core,
            handoff.sim,
            patience,
        )?;
        Ok(Self {
            core,
            half: SimHalf {
                sim: Some(sim),
                step: StepOutput::default(),
            },
            factory,
        })
    }

    /// The room stopped where it is, to resume elsewhere: `None` once the match is over.
    pub fn handoff(&mut self, mode: &str) -> Option<RoomHandoff<G>> {
        handoff(&self.core, &mut self.half.sim, mode)
    }

    /// Applies one event from outside.
    pub fn handle(&mut self, input: RoomInput<'_>) {
        self.core.handle(input);
    }

    /// Queues a fault for the next tick.
    pub fn inject_fault(&mut self, fault: Fault) {
        self.core.inject_fault(fault);
    }

    /// Runs one tick and returns everything to send; the caller drains it.
    pub fn tick(&mut self) -> &mut Vec<Outbound<G::Protocol>> {
        run_tick(
            &mut &mut self.core,
            &mut self.half,
            &self.factory,
            |_, _| {},
        );
        self.core.drain()
    }

    /// The shell, for inspection.
    pub fn core(&self) -> &RoomCore<G> {
        &self.core
    }

    /// The shell, to add players or take its open slots.
    pub fn core_mut(&mut self) -> &mut RoomCore<G> {
        &mut self.core
    }

    /// Everything queued to send (for callers that handled events without ticking).
    pub fn drain(&mut self) -> &mut Vec<Outbound<G::Protocol>> {
        self.core.drain()
    }

    pub(crate) fn into_parts(self) -> (RoomCore<G>, SimHalf<G>, SimFactory<G>) {
        (self.core, self.half, self.factory)
    }

    /// The simulation's last output (tests compare it across runs).
    pub fn last_step(&self) -> &StepOutput<G> {
        &self.half.step
    }
}

/// The room as of its last tick, from its shell and a fresh checkpoint of its simulation.
pub(crate) fn handoff<G: Game>(
    core: &RoomCore<G>,
    sim: &mut Option<Simulation<G>>,
    mode: &str,
) -> Option<RoomHandoff<G>> {
    let shell = core.handoff()?;
    let checkpoint = match supervised_checkpoint(sim) {
        Ok(Some(cp)) => cp,
        // No simulation (it crashed and was not rebuilt) or it panicked: the room stays.
        Ok(None) | Err(_) => return None,
    };
    Some(RoomHandoff {
        mode: mode.to_string(),
        settings: core.settings().clone(),
        core: shell,
        sim: checkpoint,
    })
}
