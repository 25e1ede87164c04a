//! The arena's bot: predicts its own avatar from its inputs, draws the others two ticks in the
//! past, and plays [`ArenaBrain`] (approach, strafe, shoot) on what it sees.

use arena::{
    Arena, ArenaBrain, ArenaState, AvatarMotion, EntityKind, EntityState, Motion, Predictor,
};
use protocol::{Interpolator, Snapshot, View};

use crate::{Brain, MatchStats, Play, Welcome};

/// An arena player for the swarm; it measures how far its prediction was from the room.
pub struct ArenaBot {
    brain: ArenaBrain,
    me: Option<u32>,
    /// Own avatar: predicted from inputs, reconciled with each snapshot.
    predictor: Option<Predictor>,
    /// Others: rendered two ticks in the past, interpolated.
    interpolator: Interpolator<ArenaState>,
    /// What the brain sees each frame, reused: the interpolated states, then in world units.
    sampled: View<ArenaState>,
    seen: Vec<EntityState>,
    alive_before: bool,
}

impl Brain for ArenaBot {
    type Game = Arena;

    fn new(seed: u64) -> Self {
        Self {
            brain: ArenaBrain::new(seed),
            me: None,
            predictor: None,
            interpolator: Interpolator::new(),
            sampled: View::new(),
            seen: Vec::new(),
            alive_before: false,
        }
    }

    fn welcome(&mut self, welcome: &Welcome<'_, Arena>) {
        self.me = welcome.entity;
        self.brain.set_arena_size(welcome.game.size);
        self.predictor = Some(Predictor::new(AvatarMotion::new(
            Motion::arena(welcome.game.size as f32),
            welcome.tick_rate,
        )));
    }

    fn snapshot(&mut self, snapshot: &Snapshot<ArenaState>, stats: &mut MatchStats) {
        let (Some(me), Some(predictor)) = (self.me, self.predictor.as_mut()) else {
            return;
        };
        let own = snapshot
            .entities
            .get(&me)
            .map(|s| s.to_entity(me))
            .filter(|e| e.kind == EntityKind::Player);
        let alive = own.is_some_and(|e| e.hp > 0);
        if let Some(own) = own {
            let error = predictor.reconcile((own.x, own.y), snapshot.last_input_seq);
            // Deaths and respawns are teleports, not prediction errors.
            if alive
                && self.alive_before
                && let Some(error) = error
            {
                stats.prediction_error(error);
            }
        }
        self.alive_before = alive;
        self.interpolator.push_copy(snapshot);
    }

    fn act(&mut self, play: &mut Play<'_, Arena>) {
        let (Some(me), Some(predictor), Some(newest)) = (
            self.me,
            self.predictor.as_mut(),
            self.interpolator.newest_tick(),
        ) else {
            return;
        };
        self.interpolator
            .sample_into(newest as f32 - 2.0, &mut self.sampled);
        self.seen.clear();
        self.seen
            .extend(self.sampled.iter().map(|(&id, s)| s.to_entity(id)));
        if let (Some(own), Some((x, y))) =
            (self.seen.iter_mut().find(|e| e.id == me), predictor.state())
        {
            (own.x, own.y) = (x, y);
        }
        // One input per room tick (none if this frame passed no tick, two if it passed two),
        // so the prediction steps as the room does.
        for _ in 0..play.inputs_due() {
            let input = self.brain.think(&self.seen, me);
            let seq = play.send_input(input);
            predictor.input(seq, input);
        }
    }
}
