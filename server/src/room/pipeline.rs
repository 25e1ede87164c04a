//! The tick pipeline, once: the shell builds the batch, the simulation steps under
//! supervision, the shell turns the output into messages, and a checkpoint is taken when due.
//!
//! Both ways a room runs go through [`run_tick`]: the node's runner (`runner.rs`), which locks
//! the shell for each step and never while the simulation runs, and the IO-free [`super::Room`]
//! that tests and the deterministic harness drive.

use super::{
    core::RoomCore,
    sim::{Simulation, StepOutput},
    supervisor::{SimFactory, supervised_checkpoint, supervised_step},
};
use crate::game::Game;

/// How the pipeline reaches a room's shell.
pub(crate) trait ShellAccess<G: Game> {
    /// Runs `f` with the room's core and whether its clock may run at all this tick (a room on
    /// the move keeps it still). The node's runner holds the shell lock for just that long.
    fn with_core<R>(&mut self, f: impl FnOnce(&mut RoomCore<G>, bool) -> R) -> R;
}

/// A shell held directly, whose clock always may run (the IO-free room).
impl<G: Game> ShellAccess<G> for &mut RoomCore<G> {
    fn with_core<R>(&mut self, f: impl FnOnce(&mut RoomCore<G>, bool) -> R) -> R {
        f(self, true)
    }
}

/// The crashable half of a room: the simulation (none once it crashed for good) and the output
/// of its last step.
pub(crate) struct SimHalf<G: Game> {
    pub(crate) sim: Option<Simulation<G>>,
    pub(crate) step: StepOutput<G>,
}

/// One tick of a room's match. Nothing happens while the clock stands still (a room on the
/// move, or resumed and holding for its players) or once the room has failed. `on_output`
/// sees each tick's output with the shell, after the shell took it (the runner publishes a
/// spectator frame there).
pub(crate) fn run_tick<G: Game>(
    shell: &mut impl ShellAccess<G>,
    half: &mut SimHalf<G>,
    factory: &SimFactory<G>,
    on_output: impl FnOnce(&mut RoomCore<G>, &StepOutput<G>),
) {
    let batch = shell.with_core(|core, clock_runs| {
        if !clock_runs || core.holding() {
            return None;
        }
        let batch = core.begin_tick();
        core.wants_simulation().then_some(batch)
    });
    let Some(batch) = batch else { return };
    let stepped = supervised_step(factory, &mut half.sim, &batch, &mut half.step, |msg| {
        shell.with_core(|core, _| core.crashed(msg))
    });
    if !stepped {
        return;
    }
    shell.with_core(|core, _| {
        core.end_tick(&half.step);
        on_output(core, &half.step);
        if core.checkpoint_due() {
            match supervised_checkpoint(&mut half.sim) {
                Ok(Some(cp)) => core.set_checkpoint(cp),
                Ok(None) => {}
                Err(e) => core.fail(format!("checkpoint failed: {e}")),
            }
        }
    });
}
