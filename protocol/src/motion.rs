//! The arena's movement rule, shared by the room (authoritative) and clients (prediction), so a
//! client predicting its own avatar computes exactly what the room will.

use crate::message::PlayerInput;

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
