//! Input timing, sans-IO on a virtual clock: a client stamps each input with the room tick it
//! is for ([`InputClock`]), the room applies it then and tells the client how early its inputs
//! arrive; over links with latency, jitter, loss, duplication and reordering, inputs wait a
//! tick or two in the room (the eight-input queue before made every input wait eight), a room
//! that waited for its players starts without a backlog, and no button press is lost.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use arena::{Arena, ArenaGame, ArenaResults, ArenaWelcome, PlayerInput};
use bevy_ecs::{entity::Entity, schedule::Schedule, world::World};
use protocol::{
    Channel, INPUT_REDUNDANCY, InputClock, InputFrame, InputPacket, NoMessage, SnapshotPacket,
    TokenUserData, codec,
    link::{Link, LinkProfile},
};
use server::{
    Game, Joined, Outcome, Participant, PlayerInfo,
    room::{INPUT_DELAY_BUCKETS, Outbound, Phase, Room, RoomInput, RoomSettings},
};

/// The arena, counting the fire presses the room applies.
#[derive(Debug, Clone, Default)]
struct CountingPresses {
    arena: ArenaGame,
    presses: Arc<AtomicU64>,
}

impl Game for CountingPresses {
    type Protocol = Arena;
    type Checkpoint = <ArenaGame as Game>::Checkpoint;
    fn mode(&self) -> &str {
        self.arena.mode()
    }
    fn welcome(&self) -> ArenaWelcome {
        self.arena.welcome()
    }
    fn setup(&self, world: &mut World, seed: u64) {
        self.arena.setup(world, seed)
    }
    fn add_systems(&self, schedule: &mut Schedule) {
        self.arena.add_systems(schedule)
    }
    fn player_joined(&self, world: &mut World, player: PlayerInfo<'_>) -> Joined {
        self.arena.player_joined(world, player)
    }
    fn player_dropped(&self, world: &mut World, avatar: Entity) {
        self.arena.player_dropped(world, avatar)
    }
    fn player_returned(&self, world: &mut World, avatar: Entity) {
        self.arena.player_returned(world, avatar)
    }
    fn player_left(&self, world: &mut World, avatar: Entity) {
        self.arena.player_left(world, avatar)
    }
    fn apply_input(&self, world: &mut World, avatar: Entity, input: PlayerInput) {
        if input.fire() {
            self.presses.fetch_add(1, Ordering::Relaxed);
        }
        self.arena.apply_input(world, avatar, input)
    }
    fn apply_command(&self, world: &mut World, avatar: Entity, command: NoMessage) {
        self.arena.apply_command(world, avatar, command)
    }
    fn write_snapshot(&self, world: &mut World, out: &mut Vec<server::Replica<arena::ArenaState>>) {
        self.arena.write_snapshot(world, out)
    }
    fn score(&self, world: &World, avatar: Entity) -> i64 {
        self.arena.score(world, avatar)
    }
    fn is_over(&self, world: &mut World) -> bool {
        self.arena.is_over(world)
    }
    fn results(&self, world: &mut World, players: &[Participant<'_>]) -> Outcome<ArenaResults> {
        self.arena.results(world, players)
    }
    fn checkpoint(&self, world: &mut World, players: &[Entity]) -> Self::Checkpoint {
        self.arena.checkpoint(world, players)
    }
    fn restore(&self, world: &mut World, checkpoint: &Self::Checkpoint) -> Vec<Entity> {
        self.arena.restore(world, checkpoint)
    }
}

/// One client on a conditioned link, pacing its input clock by the room's reports, and every
/// `frame` sending the inputs due (`per_frame`: one input a frame regardless, as a game that
/// ignores `inputs_due` does); fire is pressed on every seventh input.
struct Client {
    id: u64,
    clock: InputClock,
    up: Link<Vec<u8>>,
    down: Link<SnapshotPacket>,
    frame: Duration,
    per_frame: bool,
    next_frame: Duration,
    seq: u32,
    recent: Vec<InputFrame<PlayerInput>>,
    rtt: Duration,
    presses_sent: u64,
}

impl Client {
    fn new(id: u64, round_trip: LinkProfile, frame: Duration, per_frame: bool, seed: u64) -> Self {
        let one_way = round_trip.one_way();
        Self {
            id,
            clock: InputClock::new(30),
            up: Link::new(one_way, seed),
            down: Link::new(one_way, seed ^ 0xabcd),
            frame,
            per_frame,
            next_frame: Duration::ZERO,
            seq: 0,
            recent: Vec::new(),
            rtt: round_trip.latency,
            presses_sent: 0,
        }
    }

    /// Everything due at `now`: snapshots in, one frame's input out (pressing fire while
    /// `pressing`).
    fn run(&mut self, now: Duration, dt: Duration, pressing: bool) {
        self.clock.advance(dt);
        for snapshot in self.down.deliver(now) {
            self.clock
                .on_snapshot(snapshot.tick, snapshot.input_lead, self.rtt);
        }
        if now < self.next_frame {
            return;
        }
        // Frames come late now and then, as a busy machine schedules them.
        let late = if self.seq % 10 == 3 {
            Duration::from_millis(20)
        } else {
            Duration::ZERO
        };
        self.next_frame = now + self.frame + late;
        let due = if self.per_frame { 1 } else { self.clock.due() };
        for _ in 0..due {
            self.seq += 1;
            let fire = pressing && self.seq.is_multiple_of(7);
            self.presses_sent += u64::from(fire);
            if self.recent.len() == INPUT_REDUNDANCY {
                self.recent.remove(0);
            }
            self.recent.push(InputFrame {
                seq: self.seq,
                tick: self.clock.stamp(),
                input: PlayerInput::new(0.3, 0.2, 0.0, fire),
            });
        }
        if due == 0 {
            return;
        }
        let packet = InputPacket {
            ack_tick: 0,
            inputs: self.recent.clone(),
        };
        self.up.send(now, codec::encode(&packet).unwrap());
    }
}

struct Run {
    /// Inputs applied after the first second, by ticks waited.
    delays: [u64; INPUT_DELAY_BUCKETS],
    /// Inputs applied in the first second of the match, by ticks waited.
    first_second: [u64; INPUT_DELAY_BUCKETS],
    /// Share of the inputs applied after the first second that came too late for their tick.
    late: f64,
    /// Inputs merged into another after the first second.
    merged: u64,
    presses_sent: u64,
    presses_applied: u64,
}

/// A 2-player room on a virtual clock (1 ms steps) for `seconds`; client 1 joins after
/// `late_join`, so the room waits for it while client 0 already sends.
fn run(
    profile: LinkProfile,
    frame: Duration,
    per_frame: bool,
    late_join: Duration,
    seconds: u64,
) -> Run {
    let game = CountingPresses::default();
    let presses = game.presses.clone();
    let mut settings = RoomSettings::for_players(1, 7, 2);
    settings.join_timeout = Duration::from_secs(10);
    let mut room = Room::new(game, settings);
    let mut clients: Vec<Client> = (0..2)
        .map(|i| Client::new(i, profile, frame, per_frame, 40 + i))
        .collect();
    let user = |i: u64| TokenUserData {
        room_id: 1,
        ticket_id: format!("{i:032x}"),
        player_id: format!("p{i}"),
    };
    room.handle(RoomInput::Connected {
        client: 0,
        user: user(0),
    });
    let tick = Duration::from_nanos(33_333_333);
    let (mut next_tick, mut started_at) = (tick, None);
    let mut first_second = [0; INPUT_DELAY_BUCKETS];
    let (mut late_before, mut merged_before) = (0, 0);
    let end = Duration::from_secs(seconds);
    let step = Duration::from_millis(1);
    let mut now = Duration::ZERO;
    let mut joined = false;
    while now < end {
        now += step;
        if !joined && now >= late_join {
            joined = true;
            room.handle(RoomInput::Connected {
                client: 1,
                user: user(1),
            });
        }
        // Presses stop a second before the end, so none is still on its way.
        let pressing = started_at.is_some() && now + Duration::from_secs(1) < end;
        for c in clients.iter_mut().take(if joined { 2 } else { 1 }) {
            c.run(now, step, pressing);
            for bytes in c.up.deliver(now) {
                room.handle(RoomInput::Message {
                    client: c.id,
                    channel: Channel::State,
                    bytes: &bytes,
                });
            }
        }
        if now >= next_tick {
            next_tick += tick;
            for message in room.tick().drain(..) {
                if let Outbound::Snapshot { client, packet } = message {
                    clients[client as usize].down.send(now, packet);
                }
            }
            let core = room.core();
            if started_at.is_none() && matches!(core.phase(), Phase::Running { .. }) {
                started_at = Some(now);
            }
            if started_at.is_some_and(|s| now - s <= Duration::from_secs(1)) {
                first_second = core.stats().input_delay;
                late_before = core.stats().inputs_late;
                merged_before = core.stats().inputs_merged;
            }
        }
    }
    let all = room.core().stats().input_delay;
    let mut delays = all;
    for (d, f) in delays.iter_mut().zip(first_second) {
        *d -= f;
    }
    let late = (room.core().stats().inputs_late - late_before) as f64
        / delays.iter().sum::<u64>().max(1) as f64;
    eprintln!(
        "delays {delays:?} late {late:.3} merged {} first second {first_second:?}",
        room.core().stats().inputs_merged - merged_before
    );
    Run {
        delays,
        late,
        merged: room.core().stats().inputs_merged - merged_before,
        first_second,
        presses_sent: clients.iter().map(|c| c.presses_sent).sum(),
        presses_applied: presses.load(Ordering::Relaxed),
    }
}

impl Run {
    /// At least `share` of the inputs waited at most `ticks`, at most `late` of them came after
    /// their tick, and every press sent was applied.
    fn check(&self, what: &str, ticks: usize, share: f64, late: f64) {
        assert!(
            within(&self.delays, ticks) >= share,
            "{what}: {:?}",
            self.delays
        );
        assert!(self.late <= late, "{what}: {} late", self.late);
        assert_eq!(self.presses_applied, self.presses_sent, "{what}");
    }
}

/// The share of inputs that waited at most `ticks`.
fn within(delays: &[u64], ticks: usize) -> f64 {
    let total: u64 = delays.iter().sum();
    delays[..=ticks].iter().sum::<u64>() as f64 / total.max(1) as f64
}

const FRAME: Duration = Duration::from_millis(33);

#[test]
fn on_a_clean_link_inputs_wait_a_tick_or_two_and_none_is_late() {
    let clean = LinkProfile {
        latency: Duration::from_millis(40),
        ..LinkProfile::PERFECT
    };
    let run = run(clean, FRAME, false, Duration::ZERO, 8);
    // One input for every tick, none merged: what keeps a client's prediction exact.
    assert_eq!(run.merged, 0);
    assert!(run.delays.iter().sum::<u64>() > 300, "{:?}", run.delays);
    // One tick to spare (TARGET_LEAD), and one more for the frames that come late.
    assert!(within(&run.delays, 2) >= 0.99, "{:?}", run.delays);
    assert!(run.late <= 0.01, "{} late", run.late);
    assert_eq!(run.presses_applied, run.presses_sent);
}

#[test]
fn jitter_loss_duplication_and_reordering_cost_a_tick_or_two_and_no_press() {
    for preset in ["broadband-p50", "broadband-p95", "international-p95"] {
        let profile = LinkProfile::preset(preset).unwrap();
        let run = run(profile, FRAME, false, Duration::ZERO, 10);
        run.check(preset, 3, 0.95, 0.05);
        assert!(
            within(&run.delays, 4) >= 0.999,
            "{preset}: {:?}",
            run.delays
        );
    }
}

#[test]
fn a_client_sending_one_input_a_frame_faster_or_slower_than_the_room_keeps_no_backlog() {
    for frame in [
        Duration::from_millis(16),
        Duration::from_millis(30),
        Duration::from_millis(40),
    ] {
        let run = run(LinkProfile::PERFECT, frame, true, Duration::ZERO, 8);
        run.check(&format!("{frame:?}"), 2, 0.99, 0.02);
    }
}

#[test]
fn a_room_that_waited_for_its_players_starts_without_a_backlog() {
    // Client 0 sends for two seconds before the match can start; the queue of eight inputs
    // this used to build made every input wait eight ticks for the rest of the match.
    let run = run(
        LinkProfile::PERFECT,
        FRAME,
        false,
        Duration::from_secs(2),
        6,
    );
    assert!(
        within(&run.first_second, 2) >= 0.95,
        "{:?}",
        run.first_second
    );
    assert!(within(&run.delays, 2) >= 0.99, "{:?}", run.delays);
}
