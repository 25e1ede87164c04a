//! The arena's movement rule, shared by the room (authoritative) and clients (prediction), so a
//! client predicting its own avatar computes exactly what the room will.

use crate::PlayerInput;

/// How avatars move: speed, size, and the square field they stay in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Motion {
    /// Units per second at full stick.
    pub speed: f32,
    /// Avatar radius; avatars stay this far from the walls.
    pub radius: f32,
    /// Side of the square field.
    pub size: f32,
}

impl Motion {
    /// The arena's default: 12 units/s, radius 1, on a field of `size`.
    pub fn arena(size: f32) -> Self {
        Self {
            speed: 12.0,
            radius: 1.0,
            size,
        }
    }

    /// Where an avatar at (x, y) ends up after one tick of `input`.
    pub fn step(&self, x: f32, y: f32, input: &PlayerInput, dt: f32) -> (f32, f32) {
        let (mut mx, mut my) = input.movement();
        let len = (mx * mx + my * my).sqrt();
        if len > 1.0 {
            mx /= len;
            my /= len;
        }
        let step = self.speed * dt;
        (
            (x + mx * step).clamp(self.radius, self.size - self.radius),
            (y + my * step).clamp(self.radius, self.size - self.radius),
        )
    }
}

/// How arena projectiles fly. A projectile never changes course, so a snapshot carries only its
/// launch state, sent once: `x`, `y` = where it was at its launch tick, `angle` = heading
/// (multiples of 256, i.e. 256 headings), `hp` = launch tick modulo 128. Clients place it with
/// [`Ballistics::position`]; the room moves it by the same rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ballistics {
    /// Units per second.
    pub speed: f32,
}

impl Ballistics {
    /// The arena's projectiles: 45 units per second.
    pub const ARENA: Self = Self { speed: 45.0 };

    /// The launch-tick tag carried in `hp`.
    pub fn tag(tick: u32) -> u8 {
        (tick % 128) as u8
    }

    /// Where a projectile described by `e` is at `tick`.
    pub fn position(&self, e: &crate::EntityState, tick: u32, tick_rate: u16) -> (f32, f32) {
        let age = (tick % 128 + 128 - u32::from(e.hp) % 128) % 128;
        let t = age as f32 / f32::from(tick_rate.max(1));
        let heading = protocol::dequantize_angle(e.angle);
        (
            e.x + heading.cos() * self.speed * t,
            e.y + heading.sin() * self.speed * t,
        )
    }
}
