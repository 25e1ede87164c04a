//! The arena's systems, run in this order every tick: move, fire, fly, hit, respawn.

use bevy_ecs::prelude::*;
use rand::Rng;

use super::{ArenaRng, ArenaRules, Avatar, Intent, NetId, NetIds, Position, Projectile};
use game_api::RoomClock;

/// Radius of a projectile, world units.
const PROJECTILE_RADIUS: f32 = 0.3;

/// A random point at least 10 % of the field away from the walls.
pub(super) fn spawn_point(world: &mut World) -> (f32, f32) {
    let size = world.resource::<ArenaRules>().size;
    let mut rng = world.resource_mut::<ArenaRng>();
    let margin = size * 0.1;
    (
        rng.0.random_range(margin..size - margin),
        rng.0.random_range(margin..size - margin),
    )
}

pub(super) fn move_players(
    clock: Res<RoomClock>,
    rules: Res<ArenaRules>,
    mut players: Query<(&Intent, &mut Position, &mut Avatar)>,
) {
    if !clock.running {
        return;
    }
    // The same rule clients predict with (`crate::Motion`), so predictions match.
    let motion = crate::Motion {
        speed: rules.player_speed,
        radius: rules.player_radius,
        size: rules.size,
    };
    for (intent, mut pos, mut avatar) in &mut players {
        if avatar.health == 0 || avatar.away {
            continue;
        }
        (pos.x, pos.y) = motion.step(pos.x, pos.y, &intent.0, clock.dt);
        avatar.facing = intent.0.aim_radians();
    }
}

pub(super) fn fire_weapons(
    mut commands: Commands,
    clock: Res<RoomClock>,
    rules: Res<ArenaRules>,
    mut ids: ResMut<NetIds>,
    mut players: Query<(Entity, &Intent, &Position, &mut Avatar)>,
) {
    if !clock.running {
        return;
    }
    for (entity, intent, pos, mut avatar) in &mut players {
        avatar.cooldown = (avatar.cooldown - clock.dt).max(0.0);
        if avatar.health == 0 || avatar.away || !intent.0.fire() || avatar.cooldown > 0.0 {
            continue;
        }
        avatar.cooldown = rules.fire_interval;
        // 256 headings, as the wire carries them, so clients extrapolate the exact path.
        let heading = protocol::quantize_angle(avatar.facing).wrapping_add(0x80) & 0xff00;
        let (dy, dx) = protocol::dequantize_angle(heading).sin_cos();
        let muzzle = rules.player_radius + PROJECTILE_RADIUS + 0.1;
        let start = (pos.x + dx * muzzle, pos.y + dy * muzzle);
        commands.spawn((
            NetId(ids.allocate()),
            Position {
                x: start.0,
                y: start.1,
            },
            Projectile {
                owner: entity,
                vx: dx * rules.projectile_speed,
                vy: dy * rules.projectile_speed,
                ttl: rules.projectile_lifetime,
                // It is at the muzzle before this tick's move: that is the previous tick.
                launch: start,
                launch_tick: clock.tick.wrapping_sub(1),
                heading,
            },
        ));
    }
}

pub(super) fn move_projectiles(
    mut commands: Commands,
    clock: Res<RoomClock>,
    rules: Res<ArenaRules>,
    mut projectiles: Query<(Entity, &mut Position, &mut Projectile)>,
) {
    for (entity, mut pos, mut p) in &mut projectiles {
        pos.x += p.vx * clock.dt;
        pos.y += p.vy * clock.dt;
        p.ttl -= clock.dt;
        let outside = pos.x < 0.0 || pos.y < 0.0 || pos.x > rules.size || pos.y > rules.size;
        if p.ttl <= 0.0 || outside || !clock.running {
            commands.entity(entity).despawn();
        }
    }
}

pub(super) fn resolve_hits(
    mut commands: Commands,
    clock: Res<RoomClock>,
    rules: Res<ArenaRules>,
    projectiles: Query<(Entity, &Position, &Projectile)>,
    mut players: Query<(Entity, &Position, &mut Avatar), Without<Projectile>>,
) {
    if !clock.running {
        return;
    }
    let reach = rules.player_radius + PROJECTILE_RADIUS;
    let mut kills: Vec<Entity> = Vec::new();
    for (shot, shot_pos, projectile) in &projectiles {
        // An owner who left has no team; its shots still hurt everyone.
        let owner_team = players.get(projectile.owner).ok().map(|(_, _, a)| a.team);
        for (target, pos, mut avatar) in &mut players {
            if target == projectile.owner
                || avatar.health == 0
                || avatar.away
                || owner_team == Some(avatar.team)
            {
                continue;
            }
            let (dx, dy) = (pos.x - shot_pos.x, pos.y - shot_pos.y);
            if dx * dx + dy * dy > reach * reach {
                continue;
            }
            avatar.health = avatar.health.saturating_sub(rules.damage);
            if avatar.health == 0 {
                avatar.deaths += 1;
                avatar.respawn_in = rules.respawn_delay;
                kills.push(projectile.owner);
            }
            commands.entity(shot).despawn();
            break;
        }
    }
    for killer in kills {
        if let Ok((_, _, mut avatar)) = players.get_mut(killer) {
            avatar.kills += 1;
        }
    }
}

pub(super) fn respawn(
    clock: Res<RoomClock>,
    rules: Res<ArenaRules>,
    mut rng: ResMut<ArenaRng>,
    mut players: Query<(&mut Position, &mut Avatar)>,
) {
    if !clock.running {
        return;
    }
    let margin = rules.size * 0.1;
    for (mut pos, mut avatar) in &mut players {
        if avatar.health > 0 {
            continue;
        }
        avatar.respawn_in -= clock.dt;
        if avatar.respawn_in <= 0.0 {
            avatar.health = rules.max_health;
            avatar.cooldown = 0.0;
            pos.x = rng.0.random_range(margin..rules.size - margin);
            pos.y = rng.0.random_range(margin..rules.size - margin);
        }
    }
}
