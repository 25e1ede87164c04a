//! The room's simulation: one tick, a checkpoint, and a restore, for a busy 10-player arena;
//! whole room ticks against the entity count; one client's snapshot; a room's copy for Redis.
//! A checkpoint is taken once a second by default, so its cost is spread over 30 ticks.

use std::{
    hint::black_box,
    sync::{Arc, atomic::AtomicBool},
};

use arena::{ArenaGame, ArenaState, EntityKind, EntityState, PlayerInput};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use protocol::{
    Channel, InputFrame, InputPacket, SnapshotPacket, SnapshotReceiver, TokenUserData, codec,
};
use server::{
    Relevance, Replica,
    room::{
        ExpectedPlayer, Outbound, Room, RoomInput, RoomSettings, SimCommand, Simulation,
        StepOutput, Supervision, SyncSettings, TickBatch,
        sync::{ClientSync, Header, Viewer, World},
    },
};

// The allocator the server binary ships with, so allocation costs here are the node's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Ten players who have been running and shooting for three seconds.
fn busy_arena() -> (Simulation<ArenaGame>, u32) {
    let mut sim = Simulation::new(
        ArenaGame::default(),
        7,
        1.0 / 30.0,
        Arc::new(AtomicBool::new(false)),
    );
    let mut out = StepOutput::default();
    let spawn = TickBatch {
        tick: 1,
        running: true,
        last: false,
        commands: (0..10)
            .map(|i| SimCommand::Join {
                slot: i,
                team: i as u8,
                player_id: format!("p{i}"),
            })
            .collect(),
    };
    sim.step(&spawn, &mut out);
    for tick in 2..=90 {
        let commands = (0..10)
            .map(|slot| {
                let a = (tick as f32 * 0.1) + slot as f32;
                SimCommand::Input(slot, PlayerInput::new(a.cos(), a.sin(), a * 2.0, true))
            })
            .collect();
        sim.step(
            &TickBatch {
                tick,
                running: true,
                last: false,
                commands,
            },
            &mut out,
        );
    }
    (sim, 90)
}

fn room(c: &mut Criterion) {
    let (mut sim, mut tick) = busy_arena();
    let mut out = StepOutput::default();
    c.bench_function("arena_step_10_players", |b| {
        b.iter(|| {
            tick += 1;
            sim.step(
                black_box(&TickBatch {
                    tick,
                    running: true,
                    last: false,
                    commands: Vec::new(),
                }),
                &mut out,
            )
        })
    });
    let (mut sim, _) = busy_arena();
    c.bench_function("arena_checkpoint_10_players", |b| {
        b.iter(|| black_box(sim.checkpoint()))
    });
    let checkpoint = sim.checkpoint();
    let abandoned = Arc::new(AtomicBool::new(false));
    c.bench_function("arena_restore_10_players", |b| {
        b.iter(|| {
            Simulation::restore(
                ArenaGame::default(),
                black_box(&checkpoint),
                1.0 / 30.0,
                abandoned.clone(),
            )
        })
    });
}

/// A running room of `players` connected players (an hour-long match, default sync).
fn connected_room(room_id: u64, players: usize, game: ArenaGame) -> Room<ArenaGame> {
    let settings = RoomSettings {
        room_id,
        tick_rate: 30,
        match_duration: Some(std::time::Duration::from_secs(3600)),
        join_timeout: std::time::Duration::from_secs(5),
        min_players: 1,
        linger: std::time::Duration::from_secs(1),
        seed: room_id,
        expected: (0..players)
            .map(|i| ExpectedPlayer {
                player_id: format!("p{i}"),
                ticket_id: format!("t{i}"),
                team: i as u8,
            })
            .collect(),
        supervision: Supervision::default(),
        sync: SyncSettings::default(),
        backfill: None,
    };
    let mut room = Room::new(game, settings);
    for i in 0..players as u64 {
        room.handle(RoomInput::Connected {
            client: i,
            user: TokenUserData {
                room_id,
                ticket_id: format!("t{i}"),
                player_id: format!("p{i}"),
            },
        });
    }
    room
}

/// A room whose connected clients send an input each tick (moving, firing if `fire`) and
/// acknowledge every snapshot (decoded by real receivers, which is part of each step).
struct BusyRoom {
    room: Room<ArenaGame>,
    receivers: Vec<SnapshotReceiver<ArenaState>>,
    seq: u32,
    fire: bool,
}

impl BusyRoom {
    /// A room of `players`, stepped `warm_up` ticks into its match.
    fn new(room_id: u64, players: usize, game: ArenaGame, fire: bool, warm_up: u32) -> Self {
        let mut busy = Self {
            room: connected_room(room_id, players, game),
            receivers: (0..players).map(|_| SnapshotReceiver::new()).collect(),
            seq: 0,
            fire,
        };
        for _ in 0..warm_up {
            busy.step(|_| {});
        }
        busy
    }

    /// The busy 10-player arena most room benches use.
    fn ten_players(room_id: u64) -> Self {
        Self::new(room_id, 10, ArenaGame::default(), true, 90)
    }

    /// One tick; `on_snapshot` sees every snapshot sent.
    fn step(&mut self, mut on_snapshot: impl FnMut(&SnapshotPacket)) {
        self.seq += 1;
        let seq = self.seq;
        for (i, rx) in self.receivers.iter().enumerate() {
            let a = seq as f32 * 0.05 + i as f32;
            let packet = InputPacket {
                ack_tick: rx.newest_tick().unwrap_or(0),
                inputs: vec![InputFrame {
                    seq,
                    tick: 0,
                    input: PlayerInput::new(a.cos(), a.sin(), a * 3.0, self.fire),
                }],
            };
            let b = codec::encode(&packet).unwrap();
            self.room.handle(RoomInput::Message {
                client: i as u64,
                channel: Channel::State,
                bytes: &b,
            });
        }
        for m in self.room.tick().drain(..) {
            if let Outbound::Snapshot { client, packet } = m {
                on_snapshot(&packet);
                let _ = self.receivers[client as usize].receive(&packet);
            }
        }
    }
}

/// A whole room tick with 10 connected clients that acknowledge every snapshot: simulation,
/// interest, priorities and one delta snapshot per client (and the clients decoding them).
fn room_tick(c: &mut Criterion) {
    let mut busy = BusyRoom::ten_players(1);
    let (mut bytes, mut packets) = (0, 0);
    c.bench_function("room_tick_10_clients", |b| {
        b.iter(|| {
            busy.step(|packet| {
                bytes += codec::encode(packet).unwrap().len();
                packets += 1;
            })
        })
    });
    println!(
        "room_tick_10_clients: {:.1} snapshot bytes per client per tick",
        bytes as f64 / packets.max(1) as f64
    );
}

/// The same tick, but each iteration ticks the next of 200 rooms, as a node does: every room
/// starts its tick with whatever the 199 others left in the caches. The gap to
/// `room_tick_10_clients` is what cold caches cost.
fn room_tick_among_200_rooms(c: &mut Criterion) {
    let mut rooms: Vec<BusyRoom> = (1..=200).map(BusyRoom::ten_players).collect();
    let mut next = 0;
    let mut bytes = 0;
    c.bench_function("room_tick_10_clients_among_200_rooms", |b| {
        b.iter(|| {
            next = (next + 1) % rooms.len();
            // Encoded as in `room_tick_10_clients`, so the two compare.
            rooms[next].step(|packet| bytes += codec::encode(packet).unwrap().len())
        })
    });
    black_box(bytes);
}

/// A copy of a running 10-player room for Redis, made once a second per room in a cluster:
/// its shell and a fresh checkpoint packed, then encoded (what `Node::copy_room` does under
/// the room's locks, between two ticks).
fn room_copy(c: &mut Criterion) {
    let mut busy = BusyRoom::ten_players(1);
    let mut bytes = 0;
    c.bench_function("room_copy_10_players", |b| {
        b.iter(|| {
            let handoff = busy.room.handoff("arena").expect("the match is running");
            let blob = handoff.encode().unwrap();
            bytes = blob.len();
            blob
        })
    });
    println!("room_copy_10_players: {bytes} bytes");
}

/// Arena side for `n` players at the 10-player arena's density (100 units for 10).
fn arena_size(n: usize) -> f32 {
    100.0 * (n as f32 / 10.0).sqrt()
}

/// A whole room tick against the number of entities: `n` connected players who move and do not
/// fire, so the world holds exactly `n` entities, in an arena scaled to keep the 10-player
/// density. Every client acknowledges every snapshot.
fn room_tick_entities(c: &mut Criterion) {
    let mut group = c.benchmark_group("room_tick_entities");
    for n in [10usize, 50, 100, 500] {
        let mut room = BusyRoom::new(1, n, ArenaGame::new(arena_size(n), 1_000_000), false, 60);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| room.step(|_| {}))
        });
    }
    group.finish();
}

/// One client's snapshot (interest, priorities, delta encoding) in a world of `n` moving
/// players, every one of which moved since the acknowledged baseline. The world's index is
/// built once per room tick and is not part of it.
fn snapshot_per_client(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot_per_client");
    for n in [10usize, 50, 100, 500] {
        let size = arena_size(n);
        let positions = |t: f32| -> Vec<Replica<ArenaState>> {
            (0..n as u32)
                .map(|i| Replica {
                    id: i + 1,
                    state: ArenaState::quantize(&EntityState {
                        id: i + 1,
                        kind: EntityKind::Player,
                        x: (i as f32 * 37.1 + t).rem_euclid(size),
                        y: (i as f32 * 53.7 + t * 0.5).rem_euclid(size),
                        angle: (i * 1000) as u16,
                        hp: 100,
                    }),
                    relevance: Relevance::nearby(8.0),
                })
                .collect()
        };
        let (a, b) = (positions(0.0), positions(0.7));
        let settings = SyncSettings::default();
        let worlds = [
            World::new(&a, settings.interest_radius),
            World::new(&b, settings.interest_radius),
        ];
        let mut client = ClientSync::default();
        let mut tick = 0u32;
        let mut bytes = 0usize;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |bench, _| {
            bench.iter(|| {
                tick += 1;
                let world = &worlds[tick as usize % 2];
                let viewer = Viewer {
                    own: Some(1),
                    center: world.position(1).expect("player 1 exists"),
                    entity: None,
                    team: 0,
                };
                let header = Header {
                    tick,
                    last_input_seq: tick,
                    input_lead: Some(1),
                };
                let packet = client.snapshot(world, &settings, &viewer, header);
                client.ack(tick, tick);
                bytes = packet.body.len();
                packet
            })
        });
        println!("snapshot_per_client/{n}: {bytes} body bytes");
    }
    group.finish();
}

criterion_group!(
    benches,
    room,
    room_tick,
    room_tick_among_200_rooms,
    room_copy,
    room_tick_entities,
    snapshot_per_client
);
criterion_main!(benches);
