//! Supervision of a room's simulation: run a step, and if it panics, rebuild the simulation
//! from the last checkpoint and replay (Erlang's restart, within the same tick), as the shell
//! decides.

use std::{
    any::Any,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Arc, atomic::AtomicBool},
};

use super::{
    core::Recovery,
    sim::{SimCheckpoint, Simulation, StepOutput, TickBatch},
};
use crate::game::Game;

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-text panic payload".to_string()
    }
}

/// What a simulation needs to be rebuilt.
pub(crate) struct SimFactory<G: Game> {
    pub(crate) game: G,
    pub(crate) dt: f32,
    pub(crate) abandoned: Arc<AtomicBool>,
}

impl<G: Game> SimFactory<G> {
    fn rebuild(
        &self,
        checkpoint: &SimCheckpoint<G>,
        replay: &[TickBatch<G>],
        retry: &TickBatch<G>,
        out: &mut StepOutput<G>,
    ) -> Simulation<G> {
        let mut sim = Simulation::restore(
            self.game.clone(),
            checkpoint,
            self.dt,
            self.abandoned.clone(),
        );
        let mut scratch = StepOutput::default();
        for batch in replay {
            sim.step(batch, &mut scratch);
        }
        sim.step(retry, out);
        sim
    }
}

/// Runs one step of `sim` under supervision. On a panic the simulation is dropped (a world
/// or schedule that panicked is never reused) and `crashed` (the shell) decides: restart from
/// a checkpoint, replaying the logged batches and the crashed tick without its inputs, or give
/// up. A panic during the rebuild counts as another crash. Returns whether `out` holds this
/// tick's output.
pub(crate) fn supervised_step<G: Game>(
    factory: &SimFactory<G>,
    sim: &mut Option<Simulation<G>>,
    batch: &TickBatch<G>,
    out: &mut StepOutput<G>,
    mut crashed: impl FnMut(&str) -> Recovery<G>,
) -> bool {
    let Some(running) = sim.as_mut() else {
        return false;
    };
    let mut failure = match catch_unwind(AssertUnwindSafe(|| running.step(batch, out))) {
        Ok(()) => return true,
        Err(payload) => panic_message(payload.as_ref()),
    };
    *sim = None;
    loop {
        match crashed(&failure) {
            Recovery::GiveUp => return false,
            Recovery::Restart {
                checkpoint,
                replay,
                retry,
            } => match catch_unwind(AssertUnwindSafe(|| {
                factory.rebuild(&checkpoint, &replay, &retry, out)
            })) {
                Ok(rebuilt) => {
                    *sim = Some(rebuilt);
                    return true;
                }
                Err(payload) => failure = panic_message(payload.as_ref()),
            },
        }
    }
}

/// Takes a checkpoint, treating a panic in the game's checkpoint code like any other crash of
/// the simulation (the simulation is dropped; the shell's next tick restarts it).
pub(crate) fn supervised_checkpoint<G: Game>(
    sim: &mut Option<Simulation<G>>,
) -> Result<Option<SimCheckpoint<G>>, String> {
    let Some(running) = sim.as_mut() else {
        return Ok(None);
    };
    match catch_unwind(AssertUnwindSafe(|| running.checkpoint())) {
        Ok(cp) => Ok(Some(cp)),
        Err(payload) => {
            *sim = None;
            Err(panic_message(payload.as_ref()))
        }
    }
}
