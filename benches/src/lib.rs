//! Rallypoint's benchmarks. The criterion benches live in `benches/`; run them with
//! `cargo bench -p benches`. Shared fixtures live here so every bench measures the same data.

use std::time::Duration;

use arena::{ArenaState, EntityKind, EntityState};
use matchmaker::Candidate;
use protocol::{
    replicate::{Angle, Point, Tag, UInt},
    sync::View,
};

/// A busy 10-player arena: 10 players and 40 projectiles, by network id.
pub fn arena_entities() -> Vec<(u32, ArenaState)> {
    (0..50u32)
        .map(|i| {
            let e = EntityState {
                id: i + 1,
                kind: if i < 10 {
                    EntityKind::Player
                } else {
                    EntityKind::Projectile
                },
                x: (i * 7 % 100) as f32 + 0.25,
                y: (i * 13 % 100) as f32 + 0.75,
                angle: (i * 1311) as u16,
                hp: if i < 10 { 60 } else { 1 },
            };
            (e.id, ArenaState::quantize(&e))
        })
        .collect()
}

/// `n` queued tickets with skills spread over 0..3000 and waits of 0..30 s.
pub fn queue(n: usize) -> Vec<Candidate> {
    (0..n)
        .map(|i| {
            Candidate::solo(
                ((i * 7919) % 3000) as f64,
                Duration::from_millis(((i * 104_729) % 30_000) as u64),
            )
        })
        .collect()
}

/// A baseline of 100 entities and an update moving every one of them a little in x and y: the
/// case the "100 moving entities" byte figure is about.
pub fn hundred_moving() -> (View<ArenaState>, Vec<(u32, ArenaState)>) {
    let base: View<ArenaState> = (1..=100u32)
        .map(|id| {
            let s = ArenaState {
                kind: Tag(EntityKind::Player),
                pos: Point::from_steps([1000 + id * 10, 2000]),
                angle: Angle::from_turn16(0),
                hp: UInt::new(100),
            };
            (id, s)
        })
        .collect();
    let updated = base
        .iter()
        .map(|(&id, s)| {
            let [x, y] = s.pos.steps();
            let moved = ArenaState {
                pos: Point::from_steps([x + 13, y - 7]),
                ..*s
            };
            (id, moved)
        })
        .collect();
    (base, updated)
}
