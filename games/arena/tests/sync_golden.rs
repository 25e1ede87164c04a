//! Parity gate for declared replication: the snapshot body encoder as it was written by hand
//! for the arena's entity state (kind, x, y, angle, hp) is kept here, frozen, and the
//! platform's encoder, generated from the arena's declaration ([`ArenaState`]), must produce
//! the same bytes for the same views, and decode them to the same states, over thousands of
//! random baselines and updates (new entities, small and large moves, turns, damage, removals).

use arena::{ArenaState, EntityKind, EntityState};
use protocol::sync::{View, body_cost_bits, decode_body, encode_body};
use rand::{Rng, SeedableRng, rngs::StdRng};

/// The hand-written encoder, as it was (a bit writer of its own so nothing here is shared with
/// the code under test).
mod frozen {
    use arena::{EntityKind, EntityState};

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub struct Old {
        pub kind: EntityKind,
        pub x: u16,
        pub y: u16,
        pub angle: u8,
        pub hp: u8,
    }

    pub fn quantize(e: &EntityState) -> Old {
        let coord = |v: f32| {
            let v = if v.is_finite() {
                v.clamp(0.0, 2047.0)
            } else {
                0.0
            };
            (v * 32.0).round() as u16
        };
        Old {
            kind: e.kind,
            x: coord(e.x),
            y: coord(e.y),
            angle: (e.angle >> 8) as u8,
            hp: e.hp.min(127),
        }
    }

    #[derive(Default)]
    struct Bits {
        bytes: Vec<u8>,
        acc: u64,
        pending: u32,
    }

    impl Bits {
        fn write(&mut self, value: u32, bits: u32) {
            self.acc |= (u64::from(value) & ((1u64 << bits) - 1)) << self.pending;
            self.pending += bits;
            while self.pending >= 8 {
                self.bytes.push(self.acc as u8);
                self.acc >>= 8;
                self.pending -= 8;
            }
        }
        fn bit(&mut self, on: bool) {
            self.write(u32::from(on), 1);
        }
        fn finish(mut self) -> Vec<u8> {
            if self.pending > 0 {
                self.bytes.push(self.acc as u8);
            }
            self.bytes
        }
    }

    fn write_id(w: &mut Bits, prev: u32, id: u32) {
        match id.wrapping_sub(prev) {
            1 => w.bit(true),
            d @ 2..=17 => {
                w.write(0b10, 2);
                w.write(d - 2, 4);
            }
            _ => {
                w.write(0b00, 2);
                w.write(id, 32);
            }
        }
    }

    fn small(from: u16, to: u16) -> Option<i32> {
        let d = i32::from(to) - i32::from(from);
        (-64..=63).contains(&d).then_some(d)
    }

    pub fn encode(baseline: &[(u32, Old)], removed: &[u32], updated: &[(u32, Old)]) -> Vec<u8> {
        let base = |id: u32| baseline.iter().find(|(i, _)| *i == id).map(|(_, s)| *s);
        let mut w = Bits::default();
        w.write(removed.len() as u32, 10);
        let mut prev = 0;
        for &id in removed {
            write_id(&mut w, prev, id);
            prev = id;
        }
        w.write(updated.len() as u32, 10);
        prev = 0;
        for &(id, new) in updated {
            write_id(&mut w, prev, id);
            prev = id;
            match base(id) {
                None => {
                    w.write(
                        match new.kind {
                            EntityKind::Player => 0,
                            EntityKind::Projectile => 1,
                        },
                        2,
                    );
                    w.write(u32::from(new.x), 16);
                    w.write(u32::from(new.y), 16);
                    w.write(u32::from(new.angle), 8);
                    w.write(u32::from(new.hp), 7);
                }
                Some(b) => {
                    let moved = (b.x, b.y) != (new.x, new.y);
                    w.bit(moved);
                    if moved {
                        match (small(b.x, new.x), small(b.y, new.y)) {
                            (Some(dx), Some(dy)) => {
                                w.bit(true);
                                w.write(dx as u32, 7);
                                w.write(dy as u32, 7);
                            }
                            _ => {
                                w.bit(false);
                                w.write(u32::from(new.x), 16);
                                w.write(u32::from(new.y), 16);
                            }
                        }
                    }
                    w.bit(b.angle != new.angle);
                    if b.angle != new.angle {
                        w.write(u32::from(new.angle), 8);
                    }
                    w.bit(b.hp != new.hp);
                    if b.hp != new.hp {
                        w.write(u32::from(new.hp), 7);
                    }
                }
            }
        }
        w.finish()
    }
}

fn entity(rng: &mut StdRng, id: u32) -> EntityState {
    EntityState {
        id,
        kind: if rng.random_bool(0.7) {
            EntityKind::Player
        } else {
            EntityKind::Projectile
        },
        x: rng.random_range(-10.0..2100.0),
        y: rng.random_range(-10.0..2100.0),
        angle: rng.random(),
        hp: rng.random_range(0..200),
    }
}

/// `e` moved a little, a lot or not at all, maybe turned, maybe hurt (the kind stays).
fn changed(rng: &mut StdRng, e: &EntityState) -> EntityState {
    let mut n = *e;
    match rng.random_range(0..4) {
        0 => {}
        1 => {
            n.x += rng.random_range(-2.0..2.0);
            n.y += rng.random_range(-2.0..2.0);
        }
        2 => {
            n.x = rng.random_range(0.0..2047.0);
            n.y = rng.random_range(0.0..2047.0);
        }
        _ => n.x += rng.random_range(-1.9..1.9),
    }
    if rng.random_bool(0.3) {
        n.angle = rng.random();
    }
    if rng.random_bool(0.2) {
        n.hp = rng.random_range(0..128);
    }
    n
}

#[test]
fn the_declared_state_encodes_exactly_as_the_hand_written_codec_did() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut bodies = 0;
    for round in 0..2_000 {
        let count = rng.random_range(0..40u32);
        // Ids with gaps of every size the id code distinguishes.
        let mut ids = Vec::new();
        let mut id = 0u32;
        for _ in 0..count {
            id += match rng.random_range(0..3) {
                0 => 1,
                1 => rng.random_range(2..18),
                _ => rng.random_range(18..100_000),
            };
            ids.push(id);
        }
        let before: Vec<EntityState> = ids.iter().map(|&i| entity(&mut rng, i)).collect();
        let keyframe = round % 5 == 0;
        let baseline: Vec<&EntityState> = if keyframe {
            Vec::new()
        } else {
            before.iter().filter(|_| rng.random_bool(0.8)).collect()
        };
        // The new tick: some entities gone, the rest changed or not, some new ones.
        let mut removed = Vec::new();
        let mut updated = Vec::new();
        for e in &before {
            let held = baseline.iter().any(|b| b.id == e.id);
            if held && rng.random_bool(0.1) {
                removed.push(e.id);
                continue;
            }
            let now = if held { changed(&mut rng, e) } else { *e };
            let (old_q, new_q) = (frozen::quantize(e), frozen::quantize(&now));
            if !held || old_q != new_q {
                updated.push(now);
            }
        }

        let old_base: Vec<(u32, frozen::Old)> = baseline
            .iter()
            .map(|e| (e.id, frozen::quantize(e)))
            .collect();
        let old_updated: Vec<(u32, frozen::Old)> = updated
            .iter()
            .map(|e| (e.id, frozen::quantize(e)))
            .collect();
        let want = frozen::encode(&old_base, &removed, &old_updated);

        let base: View<ArenaState> = baseline
            .iter()
            .map(|e| (e.id, ArenaState::quantize(e)))
            .collect();
        let new_updated: Vec<(u32, ArenaState)> = updated
            .iter()
            .map(|e| (e.id, ArenaState::quantize(e)))
            .collect();
        let got = encode_body(&base, &removed, &new_updated);
        assert_eq!(got, want, "round {round}: bytes differ");
        assert_eq!(
            body_cost_bits(&base, &removed, &new_updated).div_ceil(8),
            want.len(),
            "round {round}: the cost is the size"
        );

        // And they decode to what was meant: the new view, in world units as before.
        let view = decode_body(&base, &got).unwrap();
        for e in &updated {
            let old = frozen::quantize(e);
            let back = view[&e.id].to_entity(e.id);
            assert_eq!(back.kind, old.kind);
            assert_eq!(
                (back.x, back.y, back.angle, back.hp),
                (
                    f32::from(old.x) / 32.0,
                    f32::from(old.y) / 32.0,
                    u16::from(old.angle) << 8,
                    old.hp
                ),
                "round {round}, entity {}",
                e.id
            );
        }
        for id in &removed {
            assert!(view.get(id).is_none());
        }
        bodies += 1;
    }
    assert_eq!(bodies, 2_000);
}
