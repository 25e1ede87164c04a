//! The deterministic sync harness with a 3-D game: drones with signed 3-D positions, yaw and
//! pitch, among mines stacked at different heights, run in a room without IO whose snapshot
//! bytes cross a lossy, duplicating, reordering link each way on a virtual clock. Every view
//! converges to what the room says the client may see: the entities within the interest cube
//! around its drone, height included.

mod support;

use std::time::Duration;

use bevy_ecs::{prelude::*, schedule::Schedule};
use bots::link::{Link, LinkProfile};
use protocol::{
    Channel, GameProtocol, NoMessage, ServerEvent, SnapshotPacket, SnapshotReceiver, TokenUserData,
    codec,
    replicate::{Angle, Point, UInt},
    sync::View,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};
use server::{
    Game, Joined, Outcome, Participant, PlayerInfo, Relevance, Replica, RoomClock,
    room::{Outbound, Room, RoomInput, RoomSettings, SyncSettings},
};
use support::inputs::InputWindow;

const ROOM: u64 = 33;
const TICK: Duration = Duration::from_nanos(33_333_333);
const RADIUS: f32 = 60.0;
/// Mines: columns of them, one every 40 units of height, so most columns have some within a
/// drone's interest cube and some right above or below it, outside.
const MINE_COLUMNS: u32 = 12;
const MINES_PER_COLUMN: u32 = 10;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Drones;

/// Thrust per axis and turn rates, each -127..=127.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Steer {
    thrust: [i8; 3],
    yaw: i8,
    pitch: i8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Airspace;

protocol::always_valid!(Steer, Airspace);

protocol::replicated! {
    /// A drone or a mine: signed 3-D position in ±512 units at 1/16 unit (small moves in 8
    /// bits per axis), yaw and pitch, hull points.
    struct Craft {
        #[once]
        class: UInt<u8, 2>,
        #[position]
        at: Point<u32, 3, -512, 512, 16, 8>,
        yaw: Angle<u16, 10>,
        pitch: Angle<u8, 8>,
        hull: UInt<u8, 7>,
    }
}

impl GameProtocol for Drones {
    const NAME: &'static str = "drones";
    const VERSION: u16 = 1;
    type Input = Steer;
    type Command = NoMessage;
    type Event = NoMessage;
    type Welcome = Airspace;
    type Results = NoMessage;
    type State = Craft;
}

#[derive(Component, Debug, Clone, Serialize, Deserialize)]
struct Body {
    id: u32,
    class: u8,
    at: [f32; 3],
    yaw: f32,
    pitch: f32,
    steer: Steer,
}

#[derive(Resource)]
struct NextId(u32);

#[derive(Debug, Clone)]
struct DronesGame;

fn fly(clock: Res<RoomClock>, mut bodies: Query<&mut Body>) {
    if !clock.running {
        return;
    }
    for mut body in &mut bodies {
        let steer = body.steer;
        for axis in 0..3 {
            let v = f32::from(steer.thrust[axis]) / 127.0 * 20.0 * clock.dt;
            body.at[axis] = (body.at[axis] + v).clamp(-500.0, 500.0);
        }
        body.yaw += f32::from(steer.yaw) / 127.0 * clock.dt;
        body.pitch += f32::from(steer.pitch) / 127.0 * clock.dt;
    }
}

impl Game for DronesGame {
    type Protocol = Drones;
    type Checkpoint = (u32, Vec<Body>);

    fn mode(&self) -> &str {
        "drones"
    }
    fn welcome(&self) -> Airspace {
        Airspace
    }
    fn setup(&self, world: &mut World, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut id = 1000;
        for _ in 0..MINE_COLUMNS {
            let (x, y) = (rng.random_range(-80.0..80.0), rng.random_range(-80.0..80.0));
            for level in 0..MINES_PER_COLUMN {
                world.spawn(Body {
                    id,
                    class: 1,
                    at: [x, y, -200.0 + 40.0 * level as f32],
                    yaw: 0.0,
                    pitch: 0.0,
                    steer: Steer::default(),
                });
                id += 1;
            }
        }
        world.insert_resource(NextId(1));
    }
    fn add_systems(&self, schedule: &mut Schedule) {
        schedule.add_systems(fly);
    }
    fn player_joined(&self, world: &mut World, player: PlayerInfo<'_>) -> Joined {
        let id = {
            let mut next = world.resource_mut::<NextId>();
            next.0 += 1;
            next.0
        };
        let offset = id as f32 * 7.0;
        let entity = world
            .spawn(Body {
                id,
                class: 0,
                at: [offset - 30.0, 20.0 - offset, -100.0 + 13.0 * offset],
                yaw: 0.0,
                pitch: 0.0,
                steer: Steer::default(),
            })
            .id();
        let _ = player;
        Joined {
            entity,
            net_id: Some(id),
        }
    }
    fn player_dropped(&self, _: &mut World, _: Entity) {}
    fn player_returned(&self, _: &mut World, _: Entity) {}
    fn player_left(&self, _: &mut World, _: Entity) {}
    fn apply_input(&self, world: &mut World, player: Entity, input: Steer) {
        if let Some(mut body) = world.get_mut::<Body>(player) {
            body.steer = input;
        }
    }
    fn apply_command(&self, _: &mut World, _: Entity, command: NoMessage) {
        match command {}
    }
    fn write_snapshot(&self, world: &mut World, out: &mut Vec<Replica<Craft>>) {
        for body in world.query::<&Body>().iter(world) {
            out.push(Replica {
                id: body.id,
                state: Craft {
                    class: UInt::new(u32::from(body.class)),
                    at: Point::new(body.at),
                    yaw: Angle::from_radians(body.yaw),
                    pitch: Angle::from_radians(body.pitch),
                    hull: UInt::new(100),
                },
                relevance: Relevance::nearby(if body.class == 0 { 8.0 } else { 1.0 }),
            });
        }
    }
    fn score(&self, _: &World, _: Entity) -> i64 {
        0
    }
    fn is_over(&self, _: &mut World) -> bool {
        false
    }
    fn results(&self, _: &mut World, players: &[Participant<'_>]) -> Outcome<NoMessage> {
        unreachable!(
            "the match is not played to its end here ({} players)",
            players.len()
        )
    }
    fn checkpoint(&self, world: &mut World, players: &[Entity]) -> (u32, Vec<Body>) {
        let mut bodies: Vec<Body> = players
            .iter()
            .filter_map(|&e| world.get::<Body>(e).cloned())
            .collect();
        bodies.extend(
            world
                .query::<&Body>()
                .iter(world)
                .filter(|b| b.class == 1)
                .cloned(),
        );
        (world.resource::<NextId>().0, bodies)
    }
    fn restore(&self, world: &mut World, (next, bodies): &(u32, Vec<Body>)) -> Vec<Entity> {
        world.clear_entities();
        world.insert_resource(NextId(*next));
        let spawned: Vec<(u8, Entity)> = bodies
            .iter()
            .map(|b| (b.class, world.spawn(b.clone()).id()))
            .collect();
        spawned
            .into_iter()
            .filter(|(class, _)| *class == 0)
            .map(|(_, e)| e)
            .collect()
    }
}

struct Client {
    id: u64,
    rx: SnapshotReceiver<Craft>,
    down: Link<Vec<u8>>,
    up: Link<Vec<u8>>,
    rng: StdRng,
    me: Option<u32>,
    inputs: InputWindow<Steer>,
    unusable: u32,
}

struct Harness {
    room: Room<DronesGame>,
    clients: Vec<Client>,
    now: Duration,
    frozen: bool,
}

impl Harness {
    fn new(players: usize, profile: LinkProfile, seed: u64) -> Self {
        let settings = RoomSettings {
            match_duration: Some(Duration::from_secs(600)),
            sync: SyncSettings {
                interest_radius: RADIUS,
                ..SyncSettings::default()
            },
            ..RoomSettings::for_players(ROOM, seed, players)
        };
        let mut room = Room::new(DronesGame, settings);
        let clients = (0..players)
            .map(|slot| {
                let id = slot as u64 + 1;
                room.handle(RoomInput::Connected {
                    client: id,
                    user: TokenUserData {
                        room_id: ROOM,
                        ticket_id: format!("{slot:032x}"),
                        player_id: format!("p{slot}"),
                    },
                });
                let seed = seed * 1000 + id;
                Client {
                    id,
                    rx: SnapshotReceiver::new(),
                    down: Link::new(profile, seed),
                    up: Link::new(profile, seed + 500),
                    rng: StdRng::seed_from_u64(seed),
                    me: None,
                    inputs: InputWindow::default(),
                    unusable: 0,
                }
            })
            .collect();
        Self {
            room,
            clients,
            now: Duration::ZERO,
            frozen: false,
        }
    }

    /// One tick of virtual time: uplinks in, room tick, downlinks out, clients decode and steer.
    fn step(&mut self) {
        self.now += TICK;
        for c in &mut self.clients {
            for bytes in c.up.deliver(self.now) {
                self.room.handle(RoomInput::Message {
                    client: c.id,
                    channel: Channel::State,
                    bytes: &bytes,
                });
            }
        }
        for message in self.room.tick().drain(..) {
            match message {
                Outbound::Snapshot { client, packet } => {
                    let bytes = codec::encode(&packet).unwrap();
                    let c = self.clients.iter_mut().find(|c| c.id == client).unwrap();
                    c.down.send(self.now, bytes);
                }
                Outbound::Event {
                    client,
                    event: ServerEvent::Welcome { entity_id, .. },
                } => {
                    let c = self.clients.iter_mut().find(|c| c.id == client).unwrap();
                    c.me = entity_id;
                }
                _ => {}
            }
        }
        for c in &mut self.clients {
            for bytes in c.down.deliver(self.now) {
                let packet: SnapshotPacket = codec::decode(&bytes).unwrap();
                if c.rx.receive(&packet).is_err() {
                    c.unusable += 1;
                }
            }
            let mut axis = || c.rng.random_range(-127..=127i8);
            let input = if self.frozen {
                Steer::default()
            } else {
                Steer {
                    thrust: [axis(), axis(), axis()],
                    yaw: axis(),
                    pitch: axis(),
                }
            };
            let packet = c.inputs.packet(input, c.rx.newest_tick().unwrap_or(0));
            c.up.send(self.now, codec::encode(&packet).unwrap());
        }
    }

    /// What client `c` should see now: the room's entities within the interest cube around its
    /// drone, and how many were left out by height alone (near in x and y, not in z).
    fn truth_for(&self, c: &Client) -> (View<Craft>, usize) {
        let entities = &self.room.last_step().entities;
        let me = entities.iter().find(|e| Some(e.id) == c.me).expect("drone");
        let centre = me.state.at.get();
        let near = |e: &Replica<Craft>, axes: usize| {
            let at = e.state.at.get();
            (0..axes).all(|axis| (at[axis] - centre[axis]).abs() <= RADIUS)
        };
        let view = entities
            .iter()
            .filter(|e| e.id == me.id || near(e, 3))
            .map(|e| (e.id, e.state))
            .collect();
        let above_or_below = entities
            .iter()
            .filter(|e| near(e, 2) && !near(e, 3))
            .count();
        (view, above_or_below)
    }

    fn converged(&self) -> bool {
        self.clients.iter().all(|c| {
            let newest = c.rx.newest_tick().and_then(|t| c.rx.view(t));
            c.me.is_some() && newest == Some(&self.truth_for(c).0)
        })
    }
}

#[test]
fn a_3d_world_converges_under_loss_duplication_and_reordering_height_included() {
    let hostile = LinkProfile {
        latency: Duration::from_millis(50),
        jitter: Duration::from_millis(10),
        loss: 0.2,
        duplicate: 0.1,
        reorder: 0.1,
    };
    for seed in 0..4 {
        let mut h = Harness::new(8, hostile, seed);
        for _ in 0..300 {
            h.step();
        }
        let dropped: u64 = h
            .clients
            .iter()
            .map(|c| c.down.dropped + c.up.dropped)
            .sum();
        assert!(
            dropped > 500,
            "seed {seed}: the network was hostile ({dropped} lost)"
        );
        let moved = h
            .room
            .last_step()
            .entities
            .iter()
            .filter(|e| e.state.class.get() == 0 && e.state.at.get()[2] != 0.0)
            .count();
        assert_eq!(
            moved, 8,
            "seed {seed}: every drone flew in three dimensions"
        );
        h.frozen = true;
        let ticks = (1..=150).find(|_| {
            h.step();
            h.converged()
        });
        assert!(ticks.is_some(), "seed {seed}: no convergence within 5 s");
        let hidden_by_height: usize = h.clients.iter().map(|c| h.truth_for(c).1).sum();
        assert!(
            hidden_by_height > 0,
            "seed {seed}: some mines stood right above or below a drone, out of its interest"
        );
        for c in &h.clients {
            assert_eq!(c.unusable, 0, "seed {seed}: every baseline was held");
            let (_, _, view) = c.rx.newest().unwrap();
            assert!(view.len() < (MINE_COLUMNS * MINES_PER_COLUMN) as usize);
        }
    }
}
