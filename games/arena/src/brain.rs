//! The arena bot's brain: approach the nearest enemy, strafe around it, shoot when in range.

use crate::{EntityKind, EntityState, PlayerInput};
use rand::{Rng, SeedableRng, rngs::SmallRng};

/// Range at which a bot stops approaching and starts circling.
const ENGAGE_RANGE: f32 = 18.0;
/// Range at which a bot opens fire.
const FIRE_RANGE: f32 = 35.0;

/// One bot's decision state.
#[derive(Debug)]
pub struct ArenaBrain {
    rng: SmallRng,
    strafe: f32,
    frames_to_switch: u32,
    center: f32,
}

impl ArenaBrain {
    /// A brain with its own random source (strafe direction changes).
    pub fn new(seed: u64) -> Self {
        Self {
            rng: SmallRng::seed_from_u64(seed),
            strafe: 1.0,
            frames_to_switch: 30,
            center: 50.0,
        }
    }

    /// Tells the brain the field's size (from the room's welcome).
    pub fn set_arena_size(&mut self, size: u32) {
        self.center = size as f32 / 2.0;
    }

    /// Decides this frame's input from what the bot sees (in world units); `me` is the bot's
    /// entity id.
    pub fn think(&mut self, entities: &[EntityState], me: u32) -> PlayerInput {
        self.frames_to_switch = self.frames_to_switch.saturating_sub(1);
        if self.frames_to_switch == 0 {
            self.strafe = if self.rng.random_bool(0.5) { 1.0 } else { -1.0 };
            self.frames_to_switch = self.rng.random_range(30..90);
        }
        let players = || entities.iter().filter(|e| e.kind == EntityKind::Player);
        let Some(me) = players().find(|e| e.id == me) else {
            return PlayerInput::default();
        };
        if me.hp == 0 {
            return PlayerInput::default();
        }
        let target = players()
            .filter(|e| e.id != me.id && e.hp > 0)
            .map(|e| (e, (e.x - me.x).hypot(e.y - me.y)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let Some((target, dist)) = target else {
            // Nobody to fight: drift to the middle.
            return PlayerInput::new(self.center - me.x, self.center - me.y, 0.0, false);
        };
        let (dx, dy) = (
            (target.x - me.x) / dist.max(0.01),
            (target.y - me.y) / dist.max(0.01),
        );
        let aim = dy.atan2(dx);
        let (mx, my) = if dist > ENGAGE_RANGE {
            (dx, dy)
        } else {
            // Circle the target: perpendicular, drifting in or out to hold the range.
            let radial = if dist < ENGAGE_RANGE * 0.5 { -0.5 } else { 0.1 };
            (
                -dy * self.strafe + dx * radial,
                dx * self.strafe + dy * radial,
            )
        };
        PlayerInput::new(mx, my, aim, dist < FIRE_RANGE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn player(id: u32, x: f32, y: f32, hp: u8) -> EntityState {
        EntityState {
            id,
            kind: EntityKind::Player,
            x,
            y,
            angle: 0,
            hp,
        }
    }

    #[test]
    fn approaches_a_far_enemy_without_firing_and_shoots_a_near_one() {
        let mut brain = ArenaBrain::new(1);
        let far = brain.think(&[player(1, 10.0, 50.0, 100), player(2, 90.0, 50.0, 100)], 1);
        assert!(far.move_x > 100 && !far.fire(), "{far:?}");
        let near = brain.think(&[player(1, 10.0, 50.0, 100), player(2, 30.0, 50.0, 100)], 1);
        assert!(near.fire(), "{near:?}");
        assert!(
            near.aim < 200 || near.aim > 65_300,
            "aims along +x: {near:?}"
        );
    }

    #[test]
    fn ignores_dead_enemies_and_does_nothing_while_dead() {
        let mut brain = ArenaBrain::new(1);
        let input = brain.think(&[player(1, 10.0, 50.0, 100), player(2, 20.0, 50.0, 0)], 1);
        assert!(!input.fire());
        let dead = brain.think(&[player(1, 10.0, 50.0, 0), player(2, 20.0, 50.0, 100)], 1);
        assert_eq!(dead, PlayerInput::default());
    }
}
