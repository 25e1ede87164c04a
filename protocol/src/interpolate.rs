//! Interpolation between snapshots: other entities drawn smoothly a little in the past.

use std::collections::VecDeque;

use crate::{
    replicate::Replicated,
    sync::{Snapshot, View},
};

/// How a game's state is drawn between two snapshots: the game says which fields move
/// smoothly (positions, facings) and which switch (health, a card's face).
pub trait Interpolate: Replicated {
    /// The state a fraction `t` (0..=1) of the way from `self` to `newer`.
    fn interpolate(&self, newer: &Self, t: f32) -> Self;
}

/// Keeps recent snapshots and renders the world a little in the past, interpolating each
/// entity between the two snapshots around the render time, so other entities move smoothly
/// despite jitter and loss.
#[derive(Debug, Clone)]
pub struct Interpolator<S> {
    snapshots: VecDeque<Snapshot<S>>,
}

impl<S> Default for Interpolator<S> {
    fn default() -> Self {
        Self {
            snapshots: VecDeque::new(),
        }
    }
}

impl<S: Interpolate> Interpolator<S> {
    /// Snapshots kept.
    const CAPACITY: usize = 32;

    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a copy of a snapshot, reusing the buffers of the one it evicts once full.
    pub fn push_copy(&mut self, snapshot: &Snapshot<S>) {
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
        reused.entities.copy_from(&snapshot.entities);
        self.push(reused);
    }

    /// Adds a snapshot (late ones are placed in order; duplicates ignored).
    pub fn push(&mut self, snapshot: Snapshot<S>) {
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
    pub fn sample(&self, tick: f32) -> View<S> {
        let mut out = View::new();
        self.sample_into(tick, &mut out);
        out
    }

    /// [`Interpolator::sample`] into a view the caller reuses frame after frame.
    pub fn sample_into(&self, tick: f32, out: &mut View<S>) {
        out.0.clear();
        let Some(last) = self.snapshots.back() else {
            return;
        };
        let after = self.snapshots.partition_point(|s| (s.tick as f32) < tick);
        if after == 0 {
            return out.copy_from(&self.snapshots[0].entities);
        }
        if after >= self.snapshots.len() {
            return out.copy_from(&last.entities);
        }
        let (a, b) = (&self.snapshots[after - 1], &self.snapshots[after]);
        let t = ((tick - a.tick as f32) / (b.tick - a.tick) as f32).clamp(0.0, 1.0);
        // Both in id order: the output is too.
        out.0.extend(b.entities.iter().map(|(&id, newer)| {
            let state = match a.entities.get(&id) {
                Some(older) => older.interpolate(newer, t),
                None => *newer,
            };
            (id, state)
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replicate::{Coord, UInt};

    crate::replicated! {
        struct Dot {
            x: Coord<u16, 0, 100, 4>,
            hp: UInt<u8, 7>,
        }
    }

    impl Interpolate for Dot {
        fn interpolate(&self, newer: &Self, t: f32) -> Self {
            let (a, b) = (self.x.get(), newer.x.get());
            Self {
                x: Coord::new(a + (b - a) * t),
                ..if t < 0.5 { *self } else { *newer }
            }
        }
    }

    fn snap(tick: u32, x: f32) -> Snapshot<Dot> {
        Snapshot {
            tick,
            last_input_seq: tick,
            entities: View::from([(
                1,
                Dot {
                    x: Coord::new(x),
                    hp: UInt::new(tick),
                },
            )]),
        }
    }

    fn x_at(b: &Interpolator<Dot>, tick: f32) -> f32 {
        b.sample(tick)[&1].x.get()
    }

    #[test]
    fn interpolation_is_the_games_between_snapshots_and_tolerates_gaps() {
        let mut b = Interpolator::new();
        b.push(snap(10, 0.0));
        b.push(snap(14, 8.0)); // 11..13 lost
        b.push(snap(12, 2.0)); // one arrives late
        assert_eq!(x_at(&b, 11.0), 1.0);
        assert_eq!(x_at(&b, 13.0), 5.0);
        assert_eq!(
            b.sample(10.5)[&1].hp.get(),
            10,
            "switches at the half, as the game says"
        );
        assert_eq!(b.sample(13.5)[&1].hp.get(), 14);
        assert_eq!(x_at(&b, 20.0), 8.0, "past the newest: hold it");
        assert_eq!(x_at(&b, 5.0), 0.0);
    }

    #[test]
    fn copies_pushed_into_a_full_buffer_keep_the_newest_in_order() {
        let mut by_copy = Interpolator::new();
        let mut by_value = Interpolator::new();
        // Out of order, with a duplicate and one too old to keep, past the capacity.
        let ticks: Vec<u32> = (1..=40).chain([35, 2, 41]).collect();
        for &t in &ticks {
            by_copy.push_copy(&snap(t, t as f32));
            by_value.push(snap(t, t as f32));
        }
        assert_eq!(by_copy.newest_tick(), Some(41));
        for t in [10.0, 20.5, 40.0, 41.0] {
            assert_eq!(by_copy.sample(t), by_value.sample(t), "at {t}");
        }
    }
}
