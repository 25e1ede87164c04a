//! Coins' server side for the engine ([`Game`]): runners moved by their players' sticks,
//! coins scattered by a seeded random source, a coin picked by the first runner to reach it,
//! and each runner's purse replicated to its owner alone.
//!
//! Two rules make a restart exact (the room replays the ticks since its last checkpoint and
//! must reach the same world): every random draw comes from the checkpointed [`Field`]
//! resource, never from `rand::random`; and nothing depends on the order a query yields
//! entities in (it changes as entities come and go), so systems sort by network id.

use bevy_ecs::{prelude::*, schedule::Schedule};
use game_api::{
    Game, GameEvents, Joined, Outcome, Participant, PlayerInfo, Recipient, Relevance, Replica,
    RoomClock, placements_by,
};
use protocol::replicate::{Point, Tag, UInt};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{Coins, CoinsEvent, CoinsResults, CoinsState, CoinsWelcome, FIELD, Kind, Shout, Stick};

/// Coins on the field at any time: a picked one is replaced at once.
const COINS_ON_FIELD: usize = 30;
/// Units a second a runner moves.
const SPEED: f32 = 10.0;
/// How close a runner must come to pick a coin up.
const REACH: f32 = 1.5;
/// A purse's network id is its runner's plus this.
const PURSE: u32 = 1 << 20;

/// Coins, as a node runs it.
#[derive(Debug, Clone)]
pub struct CoinsGame {
    mode: String,
    goal: u16,
}

impl CoinsGame {
    /// Matches of `mode`, won by the first runner to hold `goal` coins (or by the most coins
    /// when the match clock runs out).
    pub fn new(mode: impl Into<String>, goal: u16) -> Self {
        Self {
            mode: mode.into(),
            goal: goal.max(1),
        }
    }
}

/// A player's runner, on the player's entity.
#[derive(Component, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Runner {
    id: u32,
    pos: [f32; 2],
    stick: Stick,
    coins: u16,
}

/// A coin on the field.
#[derive(Component, Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Coin {
    id: u32,
    pos: [f32; 2],
}

/// The match's random source and next network id: checkpointed, so a replay draws the same.
#[derive(Resource, Debug, Clone, Serialize, Deserialize)]
struct Field {
    rng: ChaCha8Rng,
    next_id: u32,
}

impl Field {
    fn next_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    fn place(&mut self) -> [f32; 2] {
        [
            self.rng.random_range(0.0..FIELD),
            self.rng.random_range(0.0..FIELD),
        ]
    }

    fn coin(&mut self) -> Coin {
        Coin {
            id: self.next_id(),
            pos: self.place(),
        }
    }
}

/// Everything a Coins match is, to restore it exactly: the field's random source, each
/// player's runner (in the room's order of players) and the coins, by id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CoinsCheckpoint {
    field: Field,
    runners: Vec<Option<Runner>>,
    coins: Vec<Coin>,
}

/// Moves every runner by its stick.
fn run(clock: Res<RoomClock>, mut runners: Query<&mut Runner>) {
    if !clock.running {
        return;
    }
    for mut runner in &mut runners {
        let step = SPEED * clock.dt;
        let [x, y] = runner.pos;
        runner.pos = [
            (x + f32::from(runner.stick.x) * step).clamp(0.0, FIELD),
            (y + f32::from(runner.stick.y) * step).clamp(0.0, FIELD),
        ];
    }
}

/// Each coin in reach goes to the first runner (by id) that reaches it, and a new one appears.
fn pick(
    mut commands: Commands,
    clock: Res<RoomClock>,
    mut field: ResMut<Field>,
    mut runners: Query<(Entity, &mut Runner)>,
    coins: Query<(Entity, &Coin)>,
    mut events: ResMut<GameEvents<CoinsEvent>>,
) {
    if !clock.running {
        return;
    }
    // Sorted by id: the order a query yields entities in is not part of the checkpoint.
    let mut coins: Vec<(Entity, Coin)> = coins.iter().map(|(e, c)| (e, *c)).collect();
    coins.sort_by_key(|(_, c)| c.id);
    let mut runners: Vec<_> = runners.iter_mut().collect();
    runners.sort_by_key(|(_, r)| r.id);
    for (player, runner) in &mut runners {
        let [rx, ry] = runner.pos;
        let reached = coins.iter().position(|(_, c)| {
            let [cx, cy] = c.pos;
            (cx - rx).powi(2) + (cy - ry).powi(2) <= REACH * REACH
        });
        if let Some(index) = reached {
            let (coin, _) = coins.remove(index);
            commands.entity(coin).despawn();
            runner.coins += 1;
            events.send(
                Recipient::Player(*player),
                CoinsEvent::Picked { runner: runner.id },
            );
            commands.spawn(field.coin());
        }
    }
}

fn runner(world: &World, player: Entity) -> Option<Runner> {
    world.get::<Runner>(player).copied()
}

impl Game for CoinsGame {
    type Protocol = Coins;
    type Checkpoint = CoinsCheckpoint;

    fn mode(&self) -> &str {
        &self.mode
    }

    fn welcome(&self) -> CoinsWelcome {
        CoinsWelcome { goal: self.goal }
    }

    fn setup(&self, world: &mut World, seed: u64) {
        let mut field = Field {
            rng: ChaCha8Rng::seed_from_u64(seed),
            next_id: 0,
        };
        for _ in 0..COINS_ON_FIELD {
            world.spawn(field.coin());
        }
        world.insert_resource(field);
    }

    fn add_systems(&self, schedule: &mut Schedule) {
        schedule.add_systems((run, pick).chain());
    }

    fn player_joined(&self, world: &mut World, _: PlayerInfo<'_>) -> Joined {
        let mut field = world.resource_mut::<Field>();
        let runner = Runner {
            id: field.next_id(),
            pos: field.place(),
            stick: Stick::default(),
            coins: 0,
        };
        let entity = world.spawn(runner).id();
        Joined {
            entity,
            net_id: Some(runner.id),
        }
    }

    /// A runner whose player is away stands still (and keeps its coins).
    fn player_dropped(&self, world: &mut World, player: Entity) {
        if let Some(mut runner) = world.get_mut::<Runner>(player) {
            runner.stick = Stick::default();
        }
    }

    fn player_returned(&self, _: &mut World, _: Entity) {}

    /// A runner whose player left stays on the field, still, with its coins for the results.
    fn player_left(&self, world: &mut World, player: Entity) {
        self.player_dropped(world, player);
    }

    fn apply_input(&self, world: &mut World, player: Entity, stick: Stick) {
        if let Some(mut runner) = world.get_mut::<Runner>(player) {
            runner.stick = stick;
        }
    }

    fn apply_command(&self, world: &mut World, player: Entity, shout: Shout) {
        if let Some(runner) = runner(world, player) {
            world.resource_mut::<GameEvents<CoinsEvent>>().send(
                Recipient::All,
                CoinsEvent::Shouted {
                    runner: runner.id,
                    shout,
                },
            );
        }
    }

    fn write_snapshot(&self, world: &mut World, out: &mut Vec<Replica<CoinsState>>) {
        let mut runners = world.query::<(Entity, &Runner)>();
        for (player, runner) in runners.iter(world) {
            out.push(Replica {
                id: runner.id,
                state: CoinsState {
                    kind: Tag(Kind::Runner),
                    pos: Point::new(runner.pos),
                    count: UInt::new(0),
                },
                relevance: Relevance::nearby(2.0),
            });
            // How many coins a runner holds is its player's secret.
            out.push(Replica {
                id: runner.id + PURSE,
                state: CoinsState {
                    kind: Tag(Kind::Purse),
                    pos: Point::default(),
                    count: UInt::new(u32::from(runner.coins)),
                },
                relevance: Relevance::owner(player, 1.0),
            });
        }
        let mut coins = world.query::<&Coin>();
        for coin in coins.iter(world) {
            out.push(Replica {
                id: coin.id,
                state: CoinsState {
                    kind: Tag(Kind::Coin),
                    pos: Point::new(coin.pos),
                    count: UInt::new(0),
                },
                relevance: Relevance::nearby(1.0),
            });
        }
    }

    fn score(&self, world: &World, player: Entity) -> i64 {
        runner(world, player).map_or(0, |r| i64::from(r.coins))
    }

    fn is_over(&self, world: &mut World) -> bool {
        let mut runners = world.query::<&Runner>();
        runners.iter(world).any(|r| r.coins >= self.goal)
    }

    fn results(&self, world: &mut World, players: &[Participant<'_>]) -> Outcome<CoinsResults> {
        let coins = |p: &Participant<'_>| runner(world, p.entity).map_or(0, |r| r.coins);
        let ranked = placements_by(players, coins);
        let coins = ranked
            .iter()
            .map(|(placement, i)| (placement.player_id.clone(), coins(&players[*i])))
            .collect();
        Outcome {
            placements: ranked.into_iter().map(|(p, _)| p).collect(),
            results: CoinsResults { coins },
        }
    }

    fn checkpoint(&self, world: &mut World, players: &[Entity]) -> CoinsCheckpoint {
        let mut coins: Vec<Coin> = world.query::<&Coin>().iter(world).copied().collect();
        coins.sort_by_key(|c| c.id);
        CoinsCheckpoint {
            field: world.resource::<Field>().clone(),
            runners: players.iter().map(|&p| runner(world, p)).collect(),
            coins,
        }
    }

    fn restore(&self, world: &mut World, checkpoint: &CoinsCheckpoint) -> Vec<Entity> {
        // `setup` scattered a fresh field's coins: the checkpoint's replace them.
        let fresh: Vec<Entity> = world
            .query_filtered::<Entity, With<Coin>>()
            .iter(world)
            .collect();
        for coin in fresh {
            world.despawn(coin);
        }
        world.insert_resource(checkpoint.field.clone());
        for coin in &checkpoint.coins {
            world.spawn(*coin);
        }
        checkpoint
            .runners
            .iter()
            .map(|runner| match runner {
                Some(runner) => world.spawn(*runner).id(),
                None => world.spawn_empty().id(),
            })
            .collect()
    }
}
