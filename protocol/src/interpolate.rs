//! Interpolation between snapshots: other entities drawn smoothly a little in the past.

use std::collections::VecDeque;

use crate::message::{EntityState, Snapshot};

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
