//! Supervision of a room's simulation: checkpoints, and what happens when the simulation
//! panics (rebuild and replay, or past the restart intensity, fail the room).

use protocol::ServerEvent;

use super::{Phase, RoomCore, SimCheckpoint, TickBatch};
use crate::game::Game;

/// What to do after the simulation panicked.
pub enum Recovery<G: Game> {
    /// Rebuild from `checkpoint`, step through `replay`, then run `retry` (the crashed tick
    /// without its inputs) and hand its output to [`RoomCore::end_tick`].
    Restart {
        /// The last checkpoint.
        checkpoint: SimCheckpoint<G>,
        /// The batches run since it, before the crashed one.
        replay: Vec<TickBatch<G>>,
        /// The crashed tick's batch, inputs and faults removed.
        retry: TickBatch<G>,
    },
    /// The room has failed; stop simulating.
    GiveUp,
}

impl<G: Game> RoomCore<G> {
    /// Whether a checkpoint should be taken after this tick.
    pub fn checkpoint_due(&self) -> bool {
        let every = self
            .settings
            .ticks(self.settings.supervision.checkpoint_interval)
            .max(1);
        self.wants_simulation() && (self.checkpoint.is_none() || self.tick.is_multiple_of(every))
    }

    /// Stores a checkpoint of the simulation as of the current tick; the replay log restarts.
    pub fn set_checkpoint(&mut self, checkpoint: SimCheckpoint<G>) {
        self.checkpoint = Some(checkpoint);
        self.log.clear();
    }

    /// The simulation panicked during this tick. Counts the restart and says how to recover.
    pub fn crashed(&mut self, message: &str) -> Recovery<G> {
        if !self.wants_simulation() {
            // Already failed (e.g. the watchdog gave up on a hung tick that has now unwound).
            return Recovery::GiveUp;
        }
        self.stats.restarts += 1;
        tracing::error!(
            room = self.settings.room_id,
            tick = self.tick,
            panic = message,
            "room simulation panicked"
        );
        let window = self.settings.ticks(self.settings.supervision.window);
        self.recent_restarts.push_back(self.tick);
        while self
            .recent_restarts
            .front()
            .is_some_and(|&t| self.tick - t >= window)
        {
            self.recent_restarts.pop_front();
        }
        let limit = self.settings.supervision.max_restarts;
        if self.recent_restarts.len() as u32 > limit {
            self.fail(format!(
                "the room crashed {} times within {:?} (limit {limit}); last: {message}",
                self.recent_restarts.len(),
                self.settings.supervision.window
            ));
            return Recovery::GiveUp;
        }
        let Some(checkpoint) = self.checkpoint.clone() else {
            self.fail(format!(
                "the room crashed before its first checkpoint: {message}"
            ));
            return Recovery::GiveUp;
        };
        let Some(crashed) = self.log.pop() else {
            self.fail(format!("the room crashed outside a tick: {message}"));
            return Recovery::GiveUp;
        };
        let retry = crashed.structural_only();
        let replay = self.log.clone();
        // Clients' views are not trusted across a restart: each gets a keyframe next.
        for player in &mut self.players {
            player.sync.force_keyframe();
        }
        self.log.push(retry.clone());
        Recovery::Restart {
            checkpoint,
            replay,
            retry,
        }
    }

    /// Gives up on the room: every client gets a reliable [`ServerEvent::RoomFailed`]; the
    /// room closes after lingering. Its tickets should go back to the matchmaker
    /// ([`RoomCore::tickets`]).
    pub fn fail(&mut self, reason: String) {
        if matches!(self.phase, Phase::Failed { .. } | Phase::Ended { .. }) {
            return;
        }
        tracing::warn!(room = self.settings.room_id, tick = self.tick, %reason, "room failed");
        self.phase = Phase::Failed { at: self.tick };
        self.broadcast(ServerEvent::RoomFailed {
            reason: reason.clone(),
        });
        self.failure = Some(reason);
    }
}
