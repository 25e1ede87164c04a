//! A 3-D state, declared with `replicated!` (signed coordinates, yaw and pitch, a hull class sent
//! once), through the delta-snapshot chain under loss, duplication and reordering in both
//! directions, on a seeded virtual network: every view the client takes as its newest is
//! exactly the view the sender had for that tick, and once the network calms down the client
//! holds the sender's newest view.

use std::collections::VecDeque;

use protocol::{
    SnapshotPacket, SnapshotReceiver,
    replicate::{Angle, Point, UInt},
    sync::{View, encode_body},
};
use rand::{Rng, SeedableRng, rngs::StdRng};

protocol::replicated! {
    /// A ship in a 8 km cube centred on the origin, at 1/16 unit.
    pub struct Ship {
        #[once]
        pub hull: UInt<u8, 3>,
        pub at: Point<u32, 3, -4096, 4096, 16, 8>,
        pub yaw: Angle<u16, 10>,
        pub pitch: Angle<u8, 8>,
    }
}

/// The sender's side, as a room keeps it per client: the views it sent by tick, and the
/// newest tick the client acknowledged.
#[derive(Default)]
struct Sender {
    sent: VecDeque<(u32, View<Ship>)>,
    acked: Option<u32>,
}

impl Sender {
    fn snapshot(&mut self, tick: u32, now: &View<Ship>) -> SnapshotPacket {
        let empty = View::new();
        let (baseline, age) = match self
            .acked
            .and_then(|a| self.sent.iter().find(|(t, _)| *t == a))
        {
            Some((t, view)) if tick - t < 200 => (view, (tick - t) as u8),
            _ => (&empty, 0),
        };
        let removed: Vec<u32> = baseline
            .keys()
            .filter(|id| now.get(id).is_none())
            .copied()
            .collect();
        let updated: Vec<(u32, Ship)> = now
            .iter()
            .filter(|(id, s)| baseline.get(id) != Some(*s))
            .map(|(id, s)| (*id, *s))
            .collect();
        let body = encode_body(baseline, &removed, &updated);
        self.sent.push_back((tick, now.clone()));
        if self.sent.len() > 64 {
            self.sent.pop_front();
        }
        SnapshotPacket {
            tick,
            baseline_age: age,
            last_input_seq: 0,
            input_lead: None,
            body,
        }
    }
}

/// One direction of a bad network: each message is lost, delivered once or twice, each copy
/// after 0 to 3 ticks (so copies overtake each other).
struct Wire<T> {
    in_flight: Vec<(u32, T)>,
    loss: f64,
    rng: StdRng,
}

impl<T: Clone> Wire<T> {
    fn new(seed: u64, loss: f64) -> Self {
        Self {
            in_flight: Vec::new(),
            loss,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    fn send(&mut self, now: u32, message: T) {
        if self.rng.random_bool(self.loss) {
            return;
        }
        let copies = if self.rng.random_bool(0.1) { 2 } else { 1 };
        for _ in 0..copies {
            let at = now + self.rng.random_range(0..4);
            self.in_flight.push((at, message.clone()));
        }
    }

    fn deliver(&mut self, now: u32) -> Vec<T> {
        let (due, later): (Vec<_>, Vec<_>) =
            self.in_flight.drain(..).partition(|(at, _)| *at <= now);
        self.in_flight = later;
        due.into_iter().map(|(_, m)| m).collect()
    }
}

/// The world at `tick`: ships spawn and leave, fly anywhere in the cube (also across the
/// origin, so coordinates change sign), turn and pitch.
fn world(rng: &mut StdRng, ships: &mut Vec<(u32, [f32; 3], f32, f32, u32)>, next_id: &mut u32) {
    if ships.len() < 30 && rng.random_bool(0.3) {
        *next_id += rng.random_range(1..40);
        ships.push((
            *next_id,
            [
                rng.random_range(-4096.0..4096.0),
                rng.random_range(-4096.0..4096.0),
                rng.random_range(-50.0..50.0),
            ],
            0.0,
            0.0,
            rng.random_range(0..8),
        ));
    }
    if !ships.is_empty() && rng.random_bool(0.05) {
        let at = rng.random_range(0..ships.len());
        ships.remove(at);
    }
    for (_, at, yaw, pitch, _) in ships.iter_mut() {
        for c in at.iter_mut() {
            // Mostly small moves (the small form), sometimes a jump (the whole form).
            *c += if rng.random_bool(0.05) {
                rng.random_range(-3000.0..3000.0)
            } else {
                rng.random_range(-5.0..5.0)
            };
        }
        *yaw += rng.random_range(-0.2..0.2);
        *pitch = (*pitch + rng.random_range(-0.1..0.1)).clamp(-1.5, 1.5);
    }
}

fn quantized(ships: &[(u32, [f32; 3], f32, f32, u32)]) -> View<Ship> {
    ships
        .iter()
        .map(|&(id, at, yaw, pitch, hull)| {
            let ship = Ship {
                hull: UInt::new(hull),
                at: Point::new(at),
                yaw: Angle::from_radians(yaw),
                pitch: Angle::from_radians(pitch),
            };
            (id, ship)
        })
        .collect()
}

#[test]
fn a_3d_state_converges_under_loss_duplication_and_reordering() {
    let mut rng = StdRng::seed_from_u64(3);
    let (mut ships, mut next_id) = (Vec::new(), 0);
    let mut sender = Sender::default();
    let mut receiver = SnapshotReceiver::<Ship>::new();
    let mut down = Wire::new(11, 0.2);
    let mut up = Wire::new(12, 0.2);
    let mut history = Vec::new();
    let (mut accepted, mut checked) = (0, 0);
    for tick in 1..=1_500u32 {
        if tick == 1_200 {
            // The network calms down for the last part.
            (down.loss, up.loss) = (0.0, 0.0);
        }
        world(&mut rng, &mut ships, &mut next_id);
        let now = quantized(&ships);
        down.send(tick, sender.snapshot(tick, &now));
        history.push((tick, now));
        for packet in down.deliver(tick) {
            // A packet whose baseline the client no longer holds is refused, never misapplied.
            if receiver.receive(&packet) == Ok(true) {
                accepted += 1;
                let (newest, _, view) = receiver.newest().unwrap();
                let sent = &history[(newest - 1) as usize].1;
                assert_eq!(
                    view, sent,
                    "tick {newest}: the client's view is the sender's"
                );
                checked += 1;
            }
        }
        if let Some(ack) = receiver.newest_tick() {
            up.send(tick, ack);
        }
        for ack in up.deliver(tick) {
            sender.acked = Some(sender.acked.map_or(ack, |a| a.max(ack)));
        }
    }
    // With the network calm, the last snapshots arrive: the client holds the newest view.
    for tick in 1_501..=1_505 {
        for packet in down.deliver(tick) {
            let _ = receiver.receive(&packet);
        }
    }
    let (newest, _, view) = receiver.newest().unwrap();
    assert_eq!(newest, 1_500);
    assert_eq!(view, &history[1_499].1);
    assert!(
        accepted > 900 && checked == accepted,
        "{accepted} accepted, {checked} checked"
    );
    // The run exercised what it is about: negative coordinates and ships that came and went.
    assert!(
        history
            .iter()
            .any(|(_, v)| v.iter().any(|(_, s)| s.at.get()[0] < 0.0))
    );
    assert!(next_id > 100);
}
