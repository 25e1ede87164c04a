//! Client-side prediction of the player's own avatar, with reconciliation to the room's state.

use std::collections::VecDeque;

use crate::{PlayerInput, motion::Motion};

/// Inputs kept for replay; older unacknowledged inputs are dropped.
const MAX_PENDING: usize = 128;

/// Predicts the client's own avatar: applies each input locally as it is sent, and when a
/// snapshot says which input the room applied last, restarts from the room's position and
/// replays the inputs the room has not applied yet.
#[derive(Debug, Clone)]
pub struct Predictor {
    motion: Motion,
    dt: f32,
    /// Inputs sent, with the predicted position after each.
    pending: VecDeque<(u32, PlayerInput, (f32, f32))>,
    position: Option<(f32, f32)>,
}

impl Predictor {
    /// A predictor for `motion` at `tick_rate` ticks per second.
    pub fn new(motion: Motion, tick_rate: u16) -> Self {
        Self {
            motion,
            dt: 1.0 / f32::from(tick_rate.max(1)),
            pending: VecDeque::new(),
            position: None,
        }
    }

    /// Records an input just sent (sequence `seq`) and advances the prediction.
    pub fn input(&mut self, seq: u32, input: PlayerInput) {
        let Some((x, y)) = self.position else { return };
        let next = self.motion.step(x, y, &input, self.dt);
        self.position = Some(next);
        if self.pending.len() == MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back((seq, input, next));
    }

    /// Reconciles with the room's state of the avatar after input `last_input_seq`. Returns the
    /// prediction error: how far the prediction for that input was from the room's answer.
    pub fn reconcile(&mut self, server: (f32, f32), last_input_seq: u32) -> Option<f32> {
        let error = self
            .pending
            .iter()
            .find(|(seq, _, _)| *seq == last_input_seq)
            .map(|(_, _, (px, py))| (px - server.0).hypot(py - server.1));
        while self
            .pending
            .front()
            .is_some_and(|(seq, _, _)| *seq <= last_input_seq)
        {
            self.pending.pop_front();
        }
        let (mut x, mut y) = server;
        for (_, input, predicted) in self.pending.iter_mut() {
            (x, y) = self.motion.step(x, y, input, self.dt);
            *predicted = (x, y);
        }
        self.position = Some((x, y));
        error
    }

    /// The predicted position, once the first snapshot gave a starting point.
    pub fn position(&self) -> Option<(f32, f32)> {
        self.position
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prediction_matches_the_room_when_it_applies_the_same_inputs() {
        let motion = Motion::arena(100.0);
        let mut p = Predictor::new(motion, 30);
        p.reconcile((50.0, 50.0), 0);
        let inputs: Vec<PlayerInput> = (0..10)
            .map(|i| PlayerInput::new(1.0, (i as f32 * 0.3).sin(), 0.0, false))
            .collect();
        for (i, input) in inputs.iter().enumerate() {
            p.input(i as u32 + 1, *input);
        }
        // The room applied the first 6: its position is the same rule applied 6 times.
        let mut server = (50.0, 50.0);
        for input in &inputs[..6] {
            server = motion.step(server.0, server.1, input, 1.0 / 30.0);
        }
        assert_eq!(p.reconcile(server, 6), Some(0.0));
        let mut all = (50.0, 50.0);
        for input in &inputs {
            all = motion.step(all.0, all.1, input, 1.0 / 30.0);
        }
        assert_eq!(
            p.position(),
            Some(all),
            "unacknowledged inputs replayed on top"
        );
        // A correction (e.g. the room pushed us back) shows as error and is adopted.
        let err = p.reconcile((server.0 - 1.0, server.1), 7).unwrap();
        assert!(err > 0.5, "{err}");
    }
}
