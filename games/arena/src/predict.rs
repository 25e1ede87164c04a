//! Client-side prediction of the player's own avatar: the arena's movement rule as the
//! platform's [`Predict`], so `protocol::Predictor` replays it exactly as the room moves.

use protocol::Predict;

use crate::{PlayerInput, motion::Motion};

/// The arena's rule for predicting an avatar's position, one tick at a time.
#[derive(Debug, Clone, Copy)]
pub struct AvatarMotion {
    motion: Motion,
    dt: f32,
}

impl AvatarMotion {
    /// The rule of `motion` at `tick_rate` ticks per second.
    pub fn new(motion: Motion, tick_rate: u16) -> Self {
        Self {
            motion,
            dt: 1.0 / f32::from(tick_rate.max(1)),
        }
    }
}

impl Predict for AvatarMotion {
    type Input = PlayerInput;
    /// The avatar's position.
    type State = (f32, f32);

    fn step(&self, &(x, y): &(f32, f32), input: &PlayerInput) -> (f32, f32) {
        self.motion.step(x, y, input, self.dt)
    }

    /// The distance between the two positions.
    fn error(&self, predicted: &(f32, f32), actual: &(f32, f32)) -> f32 {
        (predicted.0 - actual.0).hypot(predicted.1 - actual.1)
    }
}

/// The arena client's predictor of its own avatar.
pub type Predictor = protocol::Predictor<AvatarMotion>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prediction_matches_the_room_when_it_applies_the_same_inputs() {
        let motion = Motion::arena(100.0);
        let mut p = Predictor::new(AvatarMotion::new(motion, 30));
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
            p.state(),
            Some(all),
            "unacknowledged inputs replayed on top"
        );
        // A correction (e.g. the room pushed us back) shows as error and is adopted.
        let err = p.reconcile((server.0 - 1.0, server.1), 7).unwrap();
        assert!(err > 0.5, "{err}");
    }
}
