//! What the arena replicates: one state for avatars and projectiles, declared field by field
//! with its quantization, and the same state in world units for the arena's client code.

use protocol::{
    Interpolate, View,
    replicate::{Angle, Point, Tag, UInt, WireEnum},
};

/// What an entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    /// A player's avatar.
    Player,
    /// A projectile.
    Projectile,
}

impl WireEnum for EntityKind {
    const BITS: u32 = 2;
    fn to_bits(self) -> u32 {
        match self {
            Self::Player => 0,
            Self::Projectile => 1,
        }
    }
    fn from_bits(bits: u32) -> Option<Self> {
        match bits {
            0 => Some(Self::Player),
            1 => Some(Self::Projectile),
            _ => None,
        }
    }
}

protocol::replicated! {
    /// An arena entity as it travels. Positions in steps of 1/32 unit over 0..2047 units, a
    /// move of under 2 units per axis in 7 bits each; facing in 256 steps; health 0..127; the
    /// kind sent once. A projectile is sent by its launch state, which never changes (so it
    /// costs one update in its life): its launch point, heading, and launch tick (mod 128) in
    /// `hp` (see [`crate::Ballistics`]).
    pub struct ArenaState {
        #[once]
        /// What it is.
        pub kind: Tag<EntityKind>,
        #[position]
        /// Position.
        pub pos: Point<u16, 2, 0, 2047, 32, 7>,
        /// Facing.
        pub angle: Angle<u8, 8>,
        /// Health; a projectile's launch tag.
        pub hp: UInt<u8, 7>,
    }
}

/// An arena entity in world units: what the arena's client code (the bots' brain, the
/// predictor, ballistics) reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntityState {
    /// Network id.
    pub id: u32,
    /// What it is.
    pub kind: EntityKind,
    /// Position, world units.
    pub x: f32,
    /// Position, world units.
    pub y: f32,
    /// Facing, a whole turn in 16 bits (as [`protocol::quantize_angle`]).
    pub angle: u16,
    /// Health points (0: dead, waiting to respawn); a projectile's launch tag.
    pub hp: u8,
}

impl ArenaState {
    /// Quantizes an entity's state.
    pub fn quantize(e: &EntityState) -> Self {
        Self {
            kind: Tag(e.kind),
            pos: Point::new([e.x, e.y]),
            angle: Angle::from_turn16(e.angle),
            hp: UInt::new(u32::from(e.hp)),
        }
    }

    /// The state in world units.
    pub fn to_entity(self, id: u32) -> EntityState {
        let [x, y] = self.pos.get();
        EntityState {
            id,
            kind: self.kind.0,
            x,
            y,
            angle: self.angle.to_turn16(),
            hp: self.hp.get() as u8,
        }
    }
}

/// Every entity of a view in world units, in id order.
pub fn in_world_units(view: &View<ArenaState>) -> Vec<EntityState> {
    view.iter().map(|(&id, s)| s.to_entity(id)).collect()
}

impl Interpolate for ArenaState {
    /// Positions move in a straight line; facing and health switch halfway.
    fn interpolate(&self, newer: &Self, t: f32) -> Self {
        let ([ax, ay], [bx, by]) = (self.pos.get(), newer.pos.get());
        Self {
            pos: Point::new([ax + (bx - ax) * t, ay + (by - ay) * t]),
            ..if t < 0.5 { *self } else { *newer }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declared_state_is_as_small_to_copy_as_a_hand_written_one() {
        // kind, x and y as u16, angle and hp as u8: views copy 8 bytes per entity.
        assert_eq!(std::mem::size_of::<ArenaState>(), 8);
    }

    #[test]
    fn quantization_is_within_half_a_step() {
        for x in [0.0f32, 0.01, 12.345, 99.99, 2047.0] {
            let e = EntityState {
                id: 1,
                kind: EntityKind::Player,
                x,
                y: x,
                angle: 12345,
                hp: 250,
            };
            let back = ArenaState::quantize(&e).to_entity(1);
            assert!((back.x - x).abs() <= 0.5 / 32.0, "{x} -> {}", back.x);
            assert_eq!(back.hp, 127);
        }
        let e = EntityState {
            id: 1,
            kind: EntityKind::Player,
            x: f32::NAN,
            y: -5.0,
            angle: 0,
            hp: 1,
        };
        assert_eq!(ArenaState::quantize(&e).pos.steps(), [0, 0]);
    }

    #[test]
    fn interpolation_moves_in_a_line_and_switches_the_rest_halfway() {
        let at = |x: f32, hp: u8| {
            ArenaState::quantize(&EntityState {
                id: 1,
                kind: EntityKind::Player,
                x,
                y: 10.0,
                angle: 0,
                hp,
            })
        };
        let (a, b) = (at(0.0, 100), at(8.0, 50));
        assert_eq!(a.interpolate(&b, 0.25).to_entity(1).x, 2.0);
        assert_eq!(a.interpolate(&b, 0.25).hp.get(), 100);
        assert_eq!(a.interpolate(&b, 0.75).hp.get(), 50);
    }
}
