//! Client-side prediction of what the player controls, reconciled with the room's state: the
//! bookkeeping is the platform's, the rule that moves things is the game's ([`Predict`]).

use std::collections::VecDeque;

/// Inputs kept for replay; older unacknowledged inputs are dropped.
const MAX_PENDING: usize = 128;

/// A game's rule for what its client predicts: the same rule its room applies each tick, so
/// a prediction matches the room's answer when the room applied the same inputs.
pub trait Predict {
    /// The game's input.
    type Input: Copy;
    /// What is predicted: a position, or the whole state of what the player controls.
    type State: Copy;
    /// `state` one tick later, with `input` applied.
    fn step(&self, state: &Self::State, input: &Self::Input) -> Self::State;
    /// How far a prediction was from the room's answer (reported as the prediction error).
    fn error(&self, predicted: &Self::State, actual: &Self::State) -> f32;
}

/// Predicts what the player controls: applies each input locally as it is sent, and when a
/// snapshot says which input the room applied last, restarts from the room's state and replays
/// the inputs the room has not applied yet.
#[derive(Debug, Clone)]
pub struct Predictor<M: Predict> {
    model: M,
    /// Inputs sent, with the predicted state after each.
    pending: VecDeque<(u32, M::Input, M::State)>,
    state: Option<M::State>,
}

impl<M: Predict> Predictor<M> {
    /// A predictor by the game's rule; it predicts once the first [`Predictor::reconcile`]
    /// gave it a starting state.
    pub fn new(model: M) -> Self {
        Self {
            model,
            pending: VecDeque::new(),
            state: None,
        }
    }

    /// Records an input just sent (sequence `seq`) and advances the prediction.
    pub fn input(&mut self, seq: u32, input: M::Input) {
        let Some(state) = self.state else { return };
        let next = self.model.step(&state, &input);
        self.state = Some(next);
        if self.pending.len() == MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back((seq, input, next));
    }

    /// Reconciles with the room's state after input `last_input_seq`. Returns the prediction
    /// error: how far the prediction for that input was from the room's answer.
    pub fn reconcile(&mut self, actual: M::State, last_input_seq: u32) -> Option<f32> {
        let error = self
            .pending
            .iter()
            .find(|(seq, _, _)| *seq == last_input_seq)
            .map(|(_, _, predicted)| self.model.error(predicted, &actual));
        while self
            .pending
            .front()
            .is_some_and(|(seq, _, _)| *seq <= last_input_seq)
        {
            self.pending.pop_front();
        }
        let mut state = actual;
        for (_, input, predicted) in self.pending.iter_mut() {
            state = self.model.step(&state, input);
            *predicted = state;
        }
        self.state = Some(state);
        error
    }

    /// The predicted state, once the first snapshot gave a starting point.
    pub fn state(&self) -> Option<M::State> {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counter that adds its input each tick.
    struct Adder;

    impl Predict for Adder {
        type Input = i32;
        type State = i32;
        fn step(&self, state: &i32, input: &i32) -> i32 {
            state + input
        }
        fn error(&self, predicted: &i32, actual: &i32) -> f32 {
            (predicted - actual).abs() as f32
        }
    }

    #[test]
    fn prediction_matches_the_room_when_it_applies_the_same_inputs() {
        let mut p = Predictor::new(Adder);
        p.input(1, 5);
        assert_eq!(
            p.state(),
            None,
            "nothing to predict from before the first snapshot"
        );
        p.reconcile(100, 0);
        for seq in 1..=10 {
            p.input(seq, seq as i32);
        }
        assert_eq!(p.state(), Some(155));
        // The room applied the first 6 (100 + 21): the prediction for 6 was right, and the
        // unacknowledged 7..=10 are replayed on top.
        assert_eq!(p.reconcile(121, 6), Some(0.0));
        assert_eq!(p.state(), Some(155));
        // A correction (the room pushed back) shows as error and is adopted.
        assert_eq!(p.reconcile(120, 7), Some(8.0));
        assert_eq!(p.state(), Some(147));
    }
}
