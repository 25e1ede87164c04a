//! The arena's server side: its rules as ECS components and systems, and [`ArenaGame`], its
//! [`Game`] for the engine. Top-down 2D free-for-all: players move, aim, shoot projectiles,
//! take damage, die, respawn after a delay, and score a point per kill.

mod systems;

use bevy_ecs::{prelude::*, schedule::Schedule};
use game_api::{Game, Joined, Outcome, Participant, PlayerInfo, Relevance, Replica, placements_by};
use protocol::{
    NoMessage, quantize_angle,
    replicate::{Angle, Point, Tag, UInt},
};
use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;
use serde::{Deserialize, Serialize};

use crate::{
    Arena, ArenaResults, ArenaScore, ArenaState, ArenaWelcome, Ballistics, EntityKind, Motion,
    PlayerInput,
};

/// Tunable rules of the arena.
#[derive(Resource, Debug, Clone, PartialEq)]
pub struct ArenaRules {
    /// Side of the square field, world units.
    pub size: f32,
    /// Player speed, units per second.
    pub player_speed: f32,
    /// Player radius, units.
    pub player_radius: f32,
    /// Health on (re)spawn.
    pub max_health: u8,
    /// Seconds between two shots.
    pub fire_interval: f32,
    /// Projectile speed, units per second.
    pub projectile_speed: f32,
    /// Projectile lifetime, seconds.
    pub projectile_lifetime: f32,
    /// Damage per hit.
    pub damage: u8,
    /// Seconds from death to respawn.
    pub respawn_delay: f32,
    /// Kills that end the match.
    pub score_limit: u32,
}

impl Default for ArenaRules {
    fn default() -> Self {
        Self {
            size: 100.0,
            // Shared with clients' prediction and extrapolation.
            player_speed: Motion::arena(100.0).speed,
            player_radius: 1.0,
            max_health: 100,
            fire_interval: 0.3,
            projectile_speed: Ballistics::ARENA.speed,
            projectile_lifetime: 0.8,
            damage: 20,
            respawn_delay: 2.0,
            score_limit: 25,
        }
    }
}

/// Network id, stable for an entity's life.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetId(pub u32);

/// Position in world units.
#[derive(Component, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// x
    pub x: f32,
    /// y
    pub y: f32,
}

/// A player's avatar.
#[derive(Component, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Avatar {
    /// Team; projectiles do not hurt teammates.
    pub team: u8,
    /// Facing, radians.
    pub facing: f32,
    /// Health; 0 while dead.
    pub health: u8,
    /// Seconds until the weapon can fire again.
    pub cooldown: f32,
    /// Seconds until respawn while dead.
    pub respawn_in: f32,
    /// Kills.
    pub kills: u32,
    /// Deaths.
    pub deaths: u32,
    /// The player dropped and may come back: the avatar keeps its place and score but is out
    /// of play (not moved, not hit, not replicated) until then.
    pub away: bool,
}

/// What the player wants this tick.
#[derive(Component, Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent(pub PlayerInput);

/// A projectile in flight.
#[derive(Component, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Projectile {
    /// Who fired it (gets the kill).
    // Entities do not survive a restore; checkpoints record the owner by network id.
    #[serde(skip, default = "no_owner")]
    pub owner: Entity,
    /// Velocity, units per second.
    pub vx: f32,
    /// Velocity, units per second.
    pub vy: f32,
    /// Seconds left to live.
    pub ttl: f32,
    /// Where it was at `launch_tick` (replicated once; clients extrapolate).
    pub launch: (f32, f32),
    /// The tick it was at `launch`.
    pub launch_tick: u32,
    /// Heading, quantized to the wire's 256 steps so clients extrapolate exactly.
    pub heading: u16,
}

/// Source of network ids.
#[derive(Resource, Debug, Default, Clone, Serialize, Deserialize)]
pub struct NetIds(u32);

impl NetIds {
    /// The next id (1, 2, ...).
    pub fn allocate(&mut self) -> u32 {
        self.0 += 1;
        self.0
    }
}

/// The match's random source, seeded per room so a match is reproducible.
#[derive(Resource, Debug, Clone, Serialize, Deserialize)]
pub struct ArenaRng(pub ChaCha12Rng);

/// A projectile as checkpointed: its owner by network id, since entities change on restore.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectileRecord {
    id: NetId,
    position: Position,
    owner: Option<u32>,
    flight: Projectile,
}

/// The arena's checkpoint: every entity in its archetype's iteration order, the id counter and
/// the random source, so a restored world replays exactly like the original.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArenaCheckpoint {
    ids: NetIds,
    rng: ArenaRng,
    avatars: Vec<(NetId, Position, Avatar, Intent)>,
    projectiles: Vec<ProjectileRecord>,
    /// The room's players' avatars, in the order the room gave them.
    players: Vec<u32>,
}

/// Avatars: sent to players near them, before projectiles when a client's budget is short.
const AVATAR: Relevance = Relevance::nearby(8.0);
/// Projectiles: sent to players near them.
const PROJECTILE: Relevance = Relevance::nearby(4.0);

/// Every replicated entity, avatars first.
fn write_entities(world: &World, queries: &mut Queries, out: &mut Vec<Replica<ArenaState>>) {
    for (id, pos, avatar) in queries.avatars.iter(world) {
        if avatar.away {
            continue;
        }
        out.push(Replica {
            id: id.0,
            state: ArenaState {
                kind: Tag(EntityKind::Player),
                pos: Point::new([pos.x, pos.y]),
                angle: Angle::from_turn16(quantize_angle(avatar.facing)),
                hp: UInt::new(u32::from(avatar.health)),
            },
            relevance: AVATAR,
        });
    }
    // Projectiles are sent by launch state, which never changes: one update each.
    for (id, p) in queries.projectiles.iter(world) {
        out.push(Replica {
            id: id.0,
            state: ArenaState {
                kind: Tag(EntityKind::Projectile),
                pos: Point::new([p.launch.0, p.launch.1]),
                angle: Angle::from_turn16(p.heading),
                hp: UInt::new(u32::from(Ballistics::tag(p.launch_tick))),
            },
            relevance: PROJECTILE,
        });
    }
}

/// The queries the room runs on the world from outside the schedule, every tick. Systems keep
/// their query state from tick to tick; `World::query` builds one afresh each call (working
/// out its access and matching every archetype), which cost as much as the arena's systems.
#[derive(Resource)]
struct Queries {
    avatars: QueryState<(&'static NetId, &'static Position, &'static Avatar)>,
    projectiles: QueryState<(&'static NetId, &'static Projectile)>,
    scores: QueryState<&'static Avatar>,
}

impl Queries {
    fn new(world: &mut World) -> Self {
        Self {
            avatars: world.query(),
            projectiles: world.query(),
            scores: world.query(),
        }
    }
}

fn no_owner() -> Entity {
    Entity::PLACEHOLDER
}

/// The arena game.
#[derive(Debug, Clone, Default)]
pub struct ArenaGame {
    /// Its rules.
    pub rules: ArenaRules,
}

impl ArenaGame {
    /// The arena with default rules and the given score limit.
    pub fn with_score_limit(score_limit: u32) -> Self {
        Self::new(ArenaRules::default().size, score_limit)
    }

    /// An arena of `size` units square (100 for 10 players; about 300 for 100).
    pub fn new(size: f32, score_limit: u32) -> Self {
        Self {
            rules: ArenaRules {
                size,
                score_limit,
                ..ArenaRules::default()
            },
        }
    }

    /// The movement rule clients predict with.
    pub fn motion(&self) -> Motion {
        Motion {
            speed: self.rules.player_speed,
            radius: self.rules.player_radius,
            size: self.rules.size,
        }
    }
}

impl Game for ArenaGame {
    type Protocol = Arena;
    type Checkpoint = ArenaCheckpoint;

    fn mode(&self) -> &str {
        "arena"
    }

    fn welcome(&self) -> ArenaWelcome {
        ArenaWelcome {
            size: self.rules.size as u32,
        }
    }

    fn setup(&self, world: &mut World, seed: u64) {
        world.insert_resource(self.rules.clone());
        world.insert_resource(NetIds::default());
        world.insert_resource(ArenaRng(ChaCha12Rng::seed_from_u64(seed)));
        let queries = Queries::new(world);
        world.insert_resource(queries);
    }

    fn add_systems(&self, schedule: &mut Schedule) {
        schedule.add_systems(
            (
                systems::move_players,
                systems::fire_weapons,
                systems::move_projectiles,
                systems::resolve_hits,
                systems::respawn,
            )
                .chain(),
        );
    }

    fn player_joined(&self, world: &mut World, player: PlayerInfo<'_>) -> Joined {
        let id = world.resource_mut::<NetIds>().allocate();
        let (x, y) = systems::spawn_point(world);
        let entity = world
            .spawn((
                NetId(id),
                Position { x, y },
                Avatar {
                    team: player.team,
                    facing: 0.0,
                    health: self.rules.max_health,
                    cooldown: 0.0,
                    respawn_in: 0.0,
                    kills: 0,
                    deaths: 0,
                    away: false,
                },
                Intent::default(),
            ))
            .id();
        Joined {
            entity,
            net_id: Some(id),
        }
    }

    fn player_dropped(&self, world: &mut World, avatar: Entity) {
        if let Some(mut a) = world.get_mut::<Avatar>(avatar) {
            a.away = true;
        }
        if let Some(mut intent) = world.get_mut::<Intent>(avatar) {
            *intent = Intent::default();
        }
    }

    fn player_returned(&self, world: &mut World, avatar: Entity) {
        if let Some(mut a) = world.get_mut::<Avatar>(avatar) {
            a.away = false;
        }
    }

    /// A player who left keeps their line in the results: the avatar stays out of play for
    /// the rest of the match, as if away for good.
    fn player_left(&self, world: &mut World, avatar: Entity) {
        self.player_dropped(world, avatar);
    }

    fn apply_input(&self, world: &mut World, avatar: Entity, input: PlayerInput) {
        if let Some(mut intent) = world.get_mut::<Intent>(avatar) {
            intent.0 = input;
        }
    }

    fn apply_command(&self, _: &mut World, _: Entity, command: NoMessage) {
        match command {}
    }

    fn write_snapshot(&self, world: &mut World, out: &mut Vec<Replica<ArenaState>>) {
        world.resource_scope(|world, mut queries: Mut<Queries>| {
            write_entities(world, &mut queries, out);
        });
    }

    fn score(&self, world: &World, avatar: Entity) -> i64 {
        world
            .get::<Avatar>(avatar)
            .map_or(0, |a| i64::from(a.kills))
    }

    fn is_over(&self, world: &mut World) -> bool {
        let limit = self.rules.score_limit;
        world.resource_scope(|world, mut queries: Mut<Queries>| {
            queries.scores.iter(world).any(|a| a.kills >= limit)
        })
    }

    /// Most kills first; fewer deaths break a tie.
    fn results(&self, world: &mut World, players: &[Participant<'_>]) -> Outcome<ArenaResults> {
        let tally = |p: &Participant<'_>| {
            world
                .get::<Avatar>(p.entity)
                .map_or((0, 0), |a| (a.kills, a.deaths))
        };
        let ranked = placements_by(players, |p| {
            let (kills, deaths) = tally(p);
            (kills, std::cmp::Reverse(deaths))
        });
        let scores = ranked
            .iter()
            .map(|(placement, i)| {
                let (kills, deaths) = tally(&players[*i]);
                ArenaScore {
                    player_id: placement.player_id.clone(),
                    kills,
                    deaths,
                }
            })
            .collect();
        Outcome {
            placements: ranked.into_iter().map(|(p, _)| p).collect(),
            results: ArenaResults { scores },
        }
    }

    fn checkpoint(&self, world: &mut World, players: &[Entity]) -> ArenaCheckpoint {
        let avatars: Vec<_> = world
            .query::<(&NetId, &Position, &Avatar, &Intent)>()
            .iter(world)
            .map(|(id, p, a, i)| (*id, *p, *a, *i))
            .collect();
        let mut projectiles = Vec::new();
        let mut query = world.query::<(&NetId, &Position, &Projectile)>();
        for (id, position, p) in query.iter(world) {
            projectiles.push(ProjectileRecord {
                id: *id,
                position: *position,
                owner: world.get::<NetId>(p.owner).map(|n| n.0),
                flight: *p,
            });
        }
        ArenaCheckpoint {
            ids: world.resource::<NetIds>().clone(),
            rng: world.resource::<ArenaRng>().clone(),
            avatars,
            projectiles,
            players: players
                .iter()
                .map(|&e| world.get::<NetId>(e).map_or(0, |n| n.0))
                .collect(),
        }
    }

    fn restore(&self, world: &mut World, checkpoint: &ArenaCheckpoint) -> Vec<Entity> {
        world.insert_resource(checkpoint.ids.clone());
        world.insert_resource(checkpoint.rng.clone());
        // Spawning in the recorded order rebuilds each table in the same iteration order.
        let avatars: Vec<(u32, Entity)> = checkpoint
            .avatars
            .iter()
            .map(|&(id, position, avatar, intent)| {
                (id.0, world.spawn((id, position, avatar, intent)).id())
            })
            .collect();
        let entity_of = |id: u32| avatars.iter().find(|(n, _)| *n == id).map(|&(_, e)| e);
        for p in &checkpoint.projectiles {
            let owner = p.owner.and_then(entity_of).unwrap_or(Entity::PLACEHOLDER);
            world.spawn((p.id, p.position, Projectile { owner, ..p.flight }));
        }
        checkpoint
            .players
            .iter()
            .map(|&id| entity_of(id).unwrap_or(Entity::PLACEHOLDER))
            .collect()
    }

    /// The field from above: avatars in team colours facing their aim, grey while dead;
    /// projectiles small (`view.js`).
    fn spectator_view(&self) -> Option<&'static str> {
        Some(include_str!("../view.js"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use game_api::RoomClock;

    /// A player joins on `team`: its avatar and network id.
    fn join(game: &ArenaGame, world: &mut World, team: u8) -> (Entity, u32) {
        let joined = game.player_joined(
            world,
            PlayerInfo {
                player_id: "p",
                team,
            },
        );
        (joined.entity, joined.net_id.unwrap())
    }

    /// An arena whose match clock runs, and its schedule.
    fn running_arena(seed: u64) -> (ArenaGame, World, Schedule) {
        let game = ArenaGame::default();
        let mut world = World::new();
        world.insert_resource(RoomClock {
            tick: 0,
            dt: 1.0 / 30.0,
            running: true,
        });
        game.setup(&mut world, seed);
        let mut schedule = Schedule::default();
        game.add_systems(&mut schedule);
        (game, world, schedule)
    }

    #[test]
    fn clients_extrapolate_projectiles_to_where_the_room_has_them() {
        let (game, mut world, mut schedule) = running_arena(3);
        let shooters: Vec<Entity> = (0..4).map(|team| join(&game, &mut world, team).0).collect();
        let mut checked = 0;
        for tick in 1..=60u32 {
            for (i, &e) in shooters.iter().enumerate() {
                let aim = tick as f32 * 0.37 + i as f32;
                game.apply_input(&mut world, e, PlayerInput::new(0.0, 0.0, aim, true));
            }
            world.resource_mut::<RoomClock>().tick = tick;
            schedule.run(&mut world);
            let mut sent = Vec::new();
            game.write_snapshot(&mut world, &mut sent);
            let mut actual = world.query::<(&NetId, &Position, &Projectile)>();
            for (id, pos, _) in actual.iter(&world) {
                let e = sent.iter().find(|e| e.id == id.0).expect("replicated");
                // What a client computes from the (quantized) launch state.
                let q = e.state.to_entity(e.id);
                let (x, y) = Ballistics::ARENA.position(&q, tick, 30);
                assert!(
                    (x - pos.x).abs() < 0.05 && (y - pos.y).abs() < 0.05,
                    "tick {tick}: client ({x}, {y}) vs room ({}, {})",
                    pos.x,
                    pos.y
                );
                checked += 1;
            }
        }
        assert!(checked > 100, "{checked}");
    }

    /// Health of a target standing 6 units east of a shooter who fires east for a second.
    fn target_health_after_fire(shooter_team: u8, target_team: u8) -> u8 {
        let (game, mut world, mut schedule) = running_arena(5);
        let (shooter, _) = join(&game, &mut world, shooter_team);
        let (target, _) = join(&game, &mut world, target_team);
        *world.get_mut::<Position>(shooter).unwrap() = Position { x: 40.0, y: 50.0 };
        *world.get_mut::<Position>(target).unwrap() = Position { x: 46.0, y: 50.0 };
        for tick in 1..=30u32 {
            game.apply_input(&mut world, shooter, PlayerInput::new(0.0, 0.0, 0.0, true));
            world.resource_mut::<RoomClock>().tick = tick;
            schedule.run(&mut world);
        }
        world.get::<Avatar>(target).unwrap().health
    }

    #[test]
    fn an_avatar_away_keeps_its_score_and_place_out_of_play() {
        let (game, mut world, mut schedule) = running_arena(5);
        let (shooter, _) = join(&game, &mut world, 0);
        let (target, target_id) = join(&game, &mut world, 1);
        *world.get_mut::<Position>(shooter).unwrap() = Position { x: 40.0, y: 50.0 };
        *world.get_mut::<Position>(target).unwrap() = Position { x: 46.0, y: 50.0 };
        world.get_mut::<Avatar>(target).unwrap().kills = 3;
        game.apply_input(&mut world, target, PlayerInput::new(1.0, 0.0, 0.0, false));
        game.player_dropped(&mut world, target);
        for tick in 1..=30u32 {
            game.apply_input(&mut world, shooter, PlayerInput::new(0.0, 0.0, 0.0, true));
            world.resource_mut::<RoomClock>().tick = tick;
            schedule.run(&mut world);
        }
        let away = *world.get::<Avatar>(target).unwrap();
        assert_eq!(
            (away.kills, away.health),
            (3, ArenaRules::default().max_health)
        );
        assert_eq!(
            world.get::<Position>(target),
            Some(&Position { x: 46.0, y: 50.0 })
        );
        let mut out = Vec::new();
        game.write_snapshot(&mut world, &mut out);
        assert!(
            out.iter().all(|e| e.id != target_id),
            "not replicated while away"
        );

        game.player_returned(&mut world, target);
        let mut out = Vec::new();
        game.write_snapshot(&mut world, &mut out);
        assert!(out.iter().any(|e| e.id == target_id));
        assert_eq!(game.score(&world, target), 3);
    }

    #[test]
    fn shots_hurt_opponents_but_not_teammates() {
        let full = ArenaRules::default().max_health;
        assert!(target_health_after_fire(0, 1) < full);
        assert_eq!(target_health_after_fire(1, 1), full);
    }
}
