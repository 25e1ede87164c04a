//! Client-side prediction with server reconciliation, and interpolation between snapshots.

use std::collections::VecDeque;

use crate::{
    message::{EntityState, PlayerInput, Snapshot},
    motion::Motion,
};

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

/// Keeps recent snapshots and renders the world a little in the past, interpolating positions
/// between the two snapshots around the render time, so other entities move smoothly despite
/// jitter and loss.
#[derive(Debug, Clone, Default)]
pub struct Interpolator {
    snapshots: VecDeque<Snapshot>,
}

impl Interpolator {
    /// Snapshots kept.
    const CAPACITY: usize = 32;

    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a copy of a snapshot, reusing the buffers of the one it evicts once full.
    pub fn push_copy(&mut self, snapshot: &Snapshot) {
        if self.snapshots.len() < Self::CAPACITY {
            return self.push(snapshot.clone());
        }
        if self
            .snapshots
            .front()
            .is_some_and(|oldest| snapshot.tick <= oldest.tick)
        {
            return; // older than everything kept: it would be evicted at once
        }
        let mut reused = self.snapshots.pop_front().expect("full");
        reused.tick = snapshot.tick;
        reused.last_input_seq = snapshot.last_input_seq;
        reused.entities.clear();
        reused.entities.extend_from_slice(&snapshot.entities);
        self.push(reused);
    }

    /// Adds a snapshot (late ones are placed in order; duplicates ignored).
    pub fn push(&mut self, snapshot: Snapshot) {
        let at = self.snapshots.partition_point(|s| s.tick < snapshot.tick);
        if self
            .snapshots
            .get(at)
            .is_some_and(|s| s.tick == snapshot.tick)
        {
            return;
        }
        self.snapshots.insert(at, snapshot);
        if self.snapshots.len() > Self::CAPACITY {
            self.snapshots.pop_front();
        }
    }

    /// The newest tick held.
    pub fn newest_tick(&self) -> Option<u32> {
        self.snapshots.back().map(|s| s.tick)
    }

    /// The world at `tick` (fractional), interpolated. Entities present in only one of the two
    /// snapshots are taken from the newer one.
    pub fn sample(&self, tick: f32) -> Vec<EntityState> {
        let mut out = Vec::new();
        self.sample_into(tick, &mut out);
        out
    }

    /// [`Interpolator::sample`] into a buffer the caller reuses frame after frame.
    pub fn sample_into(&self, tick: f32, out: &mut Vec<EntityState>) {
        out.clear();
        let Some(last) = self.snapshots.back() else {
            return;
        };
        let after = self.snapshots.partition_point(|s| (s.tick as f32) < tick);
        if after == 0 {
            return out.extend_from_slice(&self.snapshots[0].entities);
        }
        if after >= self.snapshots.len() {
            return out.extend_from_slice(&last.entities);
        }
        let (a, b) = (&self.snapshots[after - 1], &self.snapshots[after]);
        let t = ((tick - a.tick as f32) / (b.tick - a.tick) as f32).clamp(0.0, 1.0);
        out.extend(
            b.entities
                .iter()
                .map(|eb| match a.entities.iter().find(|ea| ea.id == eb.id) {
                    Some(ea) => EntityState {
                        x: ea.x + (eb.x - ea.x) * t,
                        y: ea.y + (eb.y - ea.y) * t,
                        ..if t < 0.5 { *ea } else { *eb }
                    },
                    None => *eb,
                }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::EntityKind;

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

    fn snap(tick: u32, x: f32) -> Snapshot {
        Snapshot {
            tick,
            last_input_seq: 0,
            entities: vec![EntityState {
                id: 1,
                kind: EntityKind::Player,
                x,
                y: 0.0,
                angle: 0,
                hp: 100,
            }],
        }
    }

    #[test]
    fn interpolation_is_linear_between_snapshots_and_tolerates_gaps() {
        let mut b = Interpolator::new();
        b.push(snap(10, 0.0));
        b.push(snap(14, 8.0)); // 11..13 lost
        b.push(snap(12, 2.0)); // one arrives late
        assert_eq!(b.sample(11.0)[0].x, 1.0);
        assert_eq!(b.sample(13.0)[0].x, 5.0);
        assert_eq!(b.sample(20.0)[0].x, 8.0, "past the newest: hold it");
        assert_eq!(b.sample(5.0)[0].x, 0.0);
    }

    #[test]
    fn copies_pushed_into_a_full_buffer_keep_the_newest_in_order() {
        let snap = |tick: u32| Snapshot {
            tick,
            last_input_seq: tick,
            entities: vec![EntityState {
                id: 1,
                kind: EntityKind::Player,
                x: tick as f32,
                y: 0.0,
                angle: 0,
                hp: 100,
            }],
        };
        let mut by_copy = Interpolator::new();
        let mut by_value = Interpolator::new();
        // Out of order, with a duplicate and one too old to keep, past the capacity.
        let ticks: Vec<u32> = (1..=40).chain([35, 2, 41]).collect();
        for &t in &ticks {
            by_copy.push_copy(&snap(t));
            by_value.push(snap(t));
        }
        assert_eq!(by_copy.newest_tick(), Some(41));
        for t in [10.0, 20.5, 40.0, 41.0] {
            assert_eq!(by_copy.sample(t), by_value.sample(t), "at {t}");
        }
    }
}
