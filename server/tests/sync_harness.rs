//! Deterministic state-sync harness: the room without IO, clients decoding real snapshot bytes,
//! and a link conditioner (latency, jitter, loss, duplication, reordering) each way, all on a
//! virtual clock. Properties are checked over many seeds.

mod support;

use std::time::Duration;

use arena::{Arena, ArenaBrain, ArenaGame, ArenaState, PlayerInput, in_world_units};
use bots::link::{Link, LinkProfile};
use protocol::{
    Channel, ServerEvent, SnapshotPacket, SnapshotReceiver, TokenUserData, codec, sync::View,
};
use server::room::{Outbound, Room, RoomInput, RoomSettings, SyncSettings};
use support::inputs::InputWindow;

const ROOM: u64 = 9;

/// Largest snapshot message: with renet's and netcode's headers (under 40 bytes) it must stay
/// inside one 1200-byte datagram, so a lost fragment can never cost a whole snapshot.
const MAX_SNAPSHOT_MESSAGE: usize = 1150;
const TICK: Duration = Duration::from_nanos(33_333_333);

fn hostile_network() -> LinkProfile {
    LinkProfile {
        latency: Duration::from_millis(50),
        jitter: Duration::from_millis(10),
        loss: 0.05,
        duplicate: 0.05,
        reorder: 0.05,
    }
}

struct Client {
    id: u64,
    slot: usize,
    rx: SnapshotReceiver<ArenaState>,
    down: Link<Vec<u8>>,
    up: Link<Vec<u8>>,
    brain: ArenaBrain,
    me: Option<u32>,
    inputs: InputWindow<PlayerInput>,
    keyframes: u32,
    /// Tick of the newest keyframe received.
    last_keyframe: u32,
    unusable: u32,
}

struct Harness {
    room: Room<ArenaGame>,
    clients: Vec<Client>,
    now: Duration,
    frozen: bool,
    sync: SyncSettings,
    profile: LinkProfile,
    seed: u64,
    /// Snapshot messages sent, and their bytes.
    sent_packets: usize,
    sent_bytes: usize,
}

fn user(slot: usize) -> TokenUserData {
    TokenUserData {
        room_id: ROOM,
        ticket_id: format!("{slot:032x}"),
        player_id: format!("p{slot}"),
    }
}

impl Harness {
    fn new(players: usize, size: f32, sync: SyncSettings, profile: LinkProfile, seed: u64) -> Self {
        let settings = RoomSettings {
            match_duration: Some(Duration::from_secs(600)),
            join_timeout: Duration::from_secs(5),
            min_players: 1,
            sync,
            ..RoomSettings::for_players(ROOM, seed, players)
        };
        let mut h = Self {
            room: Room::new(ArenaGame::new(size, 1000), settings),
            clients: Vec::new(),
            now: Duration::ZERO,
            frozen: false,
            sync,
            profile,
            seed,
            sent_packets: 0,
            sent_bytes: 0,
        };
        for slot in 0..players {
            h.connect(slot, slot as u64 + 1);
        }
        h
    }

    fn connect(&mut self, slot: usize, id: u64) {
        let seed = self.seed * 1000 + id;
        self.room.handle(RoomInput::Connected {
            client: id,
            user: user(slot),
        });
        self.clients.push(Client {
            id,
            slot,
            rx: SnapshotReceiver::new(),
            down: Link::new(self.profile, seed),
            up: Link::new(self.profile, seed + 500),
            brain: ArenaBrain::new(seed),
            me: None,
            inputs: InputWindow::default(),
            keyframes: 0,
            last_keyframe: 0,
            unusable: 0,
        });
    }

    fn disconnect(&mut self, slot: usize) {
        let i = self.clients.iter().position(|c| c.slot == slot).unwrap();
        let c = self.clients.remove(i);
        self.room.handle(RoomInput::Disconnected { client: c.id });
    }

    /// One tick of virtual time: uplinks in, room tick, downlinks out, clients decode and act.
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
        let out: Vec<Outbound<Arena>> = self.room.tick().drain(..).collect();
        for message in out {
            match message {
                Outbound::Snapshot { client, packet } => {
                    let bytes = codec::encode(&packet).unwrap();
                    assert!(
                        bytes.len() <= MAX_SNAPSHOT_MESSAGE,
                        "a {}-byte snapshot",
                        bytes.len()
                    );
                    self.sent_packets += 1;
                    self.sent_bytes += bytes.len();
                    if let Some(c) = self.clients.iter_mut().find(|c| c.id == client) {
                        c.down.send(self.now, bytes);
                    }
                }
                // Reliable events are renet's job to deliver; the harness hands them over.
                Outbound::Event {
                    client,
                    event: ServerEvent::Welcome { entity_id, .. },
                } => {
                    if let Some(c) = self.clients.iter_mut().find(|c| c.id == client) {
                        c.me = entity_id;
                    }
                }
                _ => {}
            }
        }
        for c in &mut self.clients {
            for bytes in c.down.deliver(self.now) {
                let packet: SnapshotPacket =
                    codec::decode(&bytes).expect("the room's packets decode");
                if packet.baseline_age == 0 {
                    c.keyframes += 1;
                    c.last_keyframe = c.last_keyframe.max(packet.tick);
                }
                if c.rx.receive(&packet).is_err() {
                    c.unusable += 1;
                }
            }
            let (Some(me), Some(snapshot)) = (c.me, c.rx.snapshot()) else {
                continue;
            };
            let input = if self.frozen {
                PlayerInput::default()
            } else {
                c.brain.think(&in_world_units(&snapshot.entities), me)
            };
            let packet = c.inputs.packet(input, c.rx.newest_tick().unwrap_or(0));
            c.up.send(self.now, codec::encode(&packet).unwrap());
        }
    }

    /// What client `c` should see now: the room's entities within its interest, quantized.
    fn truth_for(&self, c: &Client) -> View<ArenaState> {
        let entities = &self.room.last_step().entities;
        let me =
            c.me.and_then(|id| entities.iter().find(|e| e.id == id))
                .expect("avatar");
        let r = self.sync.interest_radius;
        let [mx, my] = me.state.pos.get();
        entities
            .iter()
            .filter(|e| {
                let [x, y] = e.state.pos.get();
                e.id == me.id || ((x - mx).abs() <= r && (y - my).abs() <= r)
            })
            .map(|e| (e.id, e.state))
            .collect()
    }

    fn converged(&self) -> bool {
        self.clients.iter().all(|c| {
            let newest = c.rx.newest_tick().and_then(|t| c.rx.view(t));
            c.me.is_some() && newest == Some(&self.truth_for(c))
        })
    }

    /// Stops all play (neutral inputs, so avatars stand still and stop firing) and returns how
    /// many ticks it takes until every client's view equals the room's state, if within `limit`.
    fn freeze_and_converge(&mut self, limit: u32) -> Option<u32> {
        self.frozen = true;
        (1..=limit).find(|_| {
            self.step();
            self.converged()
        })
    }
}

#[test]
fn under_loss_duplication_and_reordering_every_view_converges() {
    let mut worst = 0;
    for seed in 0..8 {
        let mut h = Harness::new(10, 100.0, SyncSettings::default(), hostile_network(), seed);
        for _ in 0..300 {
            h.step();
        }
        let dropped: u64 = h
            .clients
            .iter()
            .map(|c| c.down.dropped + c.up.dropped)
            .sum();
        let duplicated: u64 = h
            .clients
            .iter()
            .map(|c| c.down.duplicated + c.up.duplicated)
            .sum();
        assert!(
            dropped > 100 && duplicated > 100,
            "seed {seed}: the network was hostile ({dropped} lost, {duplicated} doubled)"
        );
        // Respawns take 2 s and projectiles live 0.8 s; after that the world stands still.
        let ticks = h
            .freeze_and_converge(150)
            .unwrap_or_else(|| panic!("seed {seed}: no convergence within 5 s"));
        worst = worst.max(ticks);
        for c in &h.clients {
            assert_eq!(
                c.unusable, 0,
                "seed {seed}: every delta's baseline was held by its client"
            );
            // Keyframes only until the first acknowledgement comes back (a round trip), then
            // deltas only, despite the losses.
            assert!(
                c.last_keyframe <= 15,
                "seed {seed}: keyframe at tick {}",
                c.last_keyframe
            );
        }
    }
    println!("worst convergence after the world stopped: {worst} ticks");
}

#[test]
fn a_client_that_reconnects_gets_a_keyframe_and_converges() {
    for seed in 0..4 {
        let mut h = Harness::new(10, 100.0, SyncSettings::default(), hostile_network(), seed);
        for _ in 0..150 {
            h.step();
        }
        h.disconnect(3);
        for _ in 0..30 {
            h.step();
        }
        h.connect(3, 103);
        for _ in 0..150 {
            h.step();
        }
        let back = h.clients.iter().find(|c| c.id == 103).unwrap();
        assert!(
            back.keyframes >= 1,
            "seed {seed}: the new connection started from a keyframe"
        );
        assert!(back.rx.newest_tick().is_some());
        assert!(
            h.freeze_and_converge(150).is_some(),
            "seed {seed}: no convergence after the reconnect"
        );
    }
}

#[test]
fn a_restart_sends_keyframes_and_views_still_converge() {
    let mut h = Harness::new(10, 100.0, SyncSettings::default(), hostile_network(), 77);
    for _ in 0..100 {
        h.step();
    }
    h.room.inject_fault(server::room::Fault::Panic);
    for _ in 0..100 {
        h.step();
    }
    assert_eq!(h.room.core().stats().restarts, 1);
    assert!(
        h.clients.iter().all(|c| c.keyframes >= 2),
        "a keyframe after the restart"
    );
    assert!(h.freeze_and_converge(150).is_some());
}

#[test]
fn a_tight_budget_still_delivers_every_entity_eventually() {
    // 200 bytes a tick cannot carry everything at once; priorities decide the order, and the
    // accumulators make sure nothing waits forever.
    let sync = SyncSettings {
        interest_radius: 60.0,
        budget_bytes: 200,
    };
    let mut h = Harness::new(10, 100.0, sync, LinkProfile::PERFECT, 5);
    let mut largest = 0;
    for _ in 0..200 {
        h.step();
    }
    let out: Vec<_> = h.room.tick().drain(..).collect();
    for m in &out {
        if let Outbound::Snapshot { packet, .. } = m {
            largest = largest.max(packet.body.len());
        }
    }
    assert!(largest <= 200, "{largest}");
    assert!(
        h.freeze_and_converge(200).is_some(),
        "everything arrives in the end"
    );
}

/// Bytes of snapshot message per client per tick in a room of `players` on a `size` field,
/// measured after everyone has joined and is moving.
fn bytes_per_client_tick(players: usize, size: f32) -> f64 {
    let mut h = Harness::new(
        players,
        size,
        SyncSettings::default(),
        LinkProfile::PERFECT,
        3,
    );
    for _ in 0..150 {
        h.step();
    }
    let (bytes, packets) = (h.sent_bytes, h.sent_packets);
    for _ in 0..300 {
        h.step();
    }
    (h.sent_bytes - bytes) as f64 / (h.sent_packets - packets) as f64
}

#[test]
fn bytes_per_client_grow_sub_linearly_with_room_size() {
    let ten = bytes_per_client_tick(10, 100.0);
    let hundred = bytes_per_client_tick(100, 300.0);
    println!("snapshot bytes per client per tick: 10 players {ten:.1}, 100 players {hundred:.1}");
    // Ten times the players on nine times the area: interest keeps each client's share far
    // below ten times.
    assert!(
        hundred < ten * 3.0,
        "10 players: {ten:.1} B, 100 players: {hundred:.1} B"
    );
    assert!(
        ten * 30.0 < 4000.0,
        "10-player snapshots at 30 Hz within 4 KB/s: {:.0} B/s",
        ten * 30.0
    );
}
