//! [`InputClock`]: which room tick a client's next input is for.
//!
//! A room applies each input at the tick it is stamped for, so an input should reach the room
//! just before that tick, neither late (it is applied a tick or more after it was meant) nor
//! early (it waits in the room, and the player feels the wait). The room cannot know the
//! network; the client cannot see the room's clock. So the client keeps its own tick count,
//! running a little ahead of the room's by about the one-way trip, and the room tells it in
//! every snapshot how early its inputs have been arriving at worst over the last second
//! (`SnapshotPacket::input_lead`). The clock then runs a few percent fast or slow until that
//! worst case is [`TARGET_LEAD`] ticks: jitter and loss are absorbed because the *worst*
//! arrival is held at the target, so on a steady link inputs wait about a tick, and on a
//! jittery or lossy one as long as that needs. A large error (the first snapshots, a stall) is corrected in one jump.
//! (The approach of Overwatch's and Rocket League's published netcode.)

use std::time::Duration;

/// How many ticks early the latest input of the last second should reach the room. One would
/// be just in time (it arrived while the room was on the tick before its own); two leaves a
/// tick to spare, so that an input whose packet was lost, and which arrives a frame later in
/// the next packet's repeats, is still in time. Measured with the bots: with one, 3-4 % of
/// inputs came late under the international preset and the 99th percentile of prediction
/// error rose tenfold; with two it is as before this clock (BENCHMARKS.md, "Input timing").
pub const TARGET_LEAD: i32 = 2;

/// Most the clock runs fast or slow while it slews (a fraction of real time).
pub const MAX_PACE_CHANGE: f64 = 0.05;

/// Pace change per tick of error.
const PACE_PER_TICK: f64 = 0.01;

/// Errors at least this large (in ticks) are corrected by a jump rather than by pace.
const JUMP_AT: i32 = 4;

/// Most inputs due at once: a frame that passed two ticks sends two; after a longer stall the
/// inputs skip ahead to the clock rather than catch up tick by tick.
pub const MAX_INPUTS_DUE: u32 = 2;

/// A room tick clock for a client's inputs. Sans-IO: time comes in as arguments.
#[derive(Debug, Clone)]
pub struct InputClock {
    tick_rate: f64,
    /// The tick the next input is for, with its fraction; `None` before the first snapshot.
    now: Option<f64>,
    /// Ticks of the clock per tick of real time.
    pace: f64,
    /// After a jump, the room's reports describe inputs stamped before it until about a second
    /// and a round trip have passed: reports on snapshots up to this tick are not acted on.
    settle_until: u32,
    /// The tick the last input was stamped with.
    last_stamp: Option<u32>,
}

impl InputClock {
    /// A clock for a room ticking `tick_rate` times a second.
    pub fn new(tick_rate: u16) -> Self {
        Self {
            tick_rate: f64::from(tick_rate.max(1)),
            now: None,
            pace: 1.0,
            settle_until: 0,
            last_stamp: None,
        }
    }

    /// Advances the clock by `dt` of real time.
    pub fn advance(&mut self, dt: Duration) {
        if let Some(now) = &mut self.now {
            *now += dt.as_secs_f64() * self.tick_rate * self.pace;
        }
    }

    /// Takes in a snapshot of room tick `tick` and the room's report of how early this client's
    /// inputs have been arriving (`None`: no report yet). `rtt` is the round trip as the
    /// client measures it (zero if unknown).
    pub fn on_snapshot(&mut self, tick: u32, lead: Option<i8>, rtt: Duration) {
        let Some(now) = self.now else {
            // The room is at `tick` plus the snapshot's trip; an input sent now arrives a
            // trip later still.
            let trip = rtt.as_secs_f64() * self.tick_rate;
            self.now = Some(f64::from(tick) + trip + f64::from(TARGET_LEAD) + 1.0);
            self.settle_until = tick + self.tick_rate as u32 * 2;
            return;
        };
        let Some(lead) = lead else { return };
        if tick <= self.settle_until {
            return;
        }
        let error = i32::from(lead) - TARGET_LEAD;
        if error.abs() >= JUMP_AT {
            self.now = Some(now - f64::from(error));
            self.pace = 1.0;
            self.settle_until = tick + self.tick_rate as u32 * 2;
        } else {
            self.pace = (1.0 - PACE_PER_TICK * f64::from(error))
                .clamp(1.0 - MAX_PACE_CHANGE, 1.0 + MAX_PACE_CHANGE);
        }
    }

    /// The room tick the clock stands at (0 before the first snapshot).
    pub fn tick(&self) -> u32 {
        self.now.map_or(0, |t| t.max(0.0) as u32)
    }

    /// How many inputs are due now: one per tick the clock passed since the last
    /// [`InputClock::stamp`] (at most [`MAX_INPUTS_DUE`]), so that the room gets exactly one
    /// input for each tick and a predictor stepping once per input steps as the room does.
    /// Before the first snapshot, one per call.
    pub fn due(&self) -> u32 {
        match (self.now, self.last_stamp) {
            (Some(_), Some(last)) => self.tick().saturating_sub(last).min(MAX_INPUTS_DUE),
            _ => 1,
        }
    }

    /// The tick for the next input: the one after the last stamped, but never more than one
    /// behind the clock (so inputs sent as [`InputClock::due`] says cover consecutive ticks,
    /// and one sent per frame by a slower game trails the clock by at most a tick, which the
    /// pacing absorbs); the last one again if none is due (the room merges the two). 0 before
    /// the first snapshot: "as soon as it arrives".
    pub fn stamp(&mut self) -> u32 {
        if self.now.is_none() {
            return 0;
        }
        let now = self.tick();
        let tick = match self.last_stamp {
            Some(last) if now <= last => last,
            Some(last) => (last + 1).max(now - 1),
            None => now,
        };
        self.last_stamp = Some(tick);
        tick
    }

    /// Ticks of the clock per tick of real time: 1.0 on time, up to 5 % off while it slews.
    pub fn pace(&self) -> f64 {
        self.pace
    }

    /// Starts over (a new room): the next snapshot sets the clock again.
    pub fn reset(&mut self) {
        *self = Self {
            tick_rate: self.tick_rate,
            ..Self::new(1)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_nanos(33_333_333);

    /// A room at 30 Hz and one client whose inputs take `one_way` ticks to arrive; returns the
    /// worst lead the room saw in each second, for `seconds`.
    fn converge(one_way: f64, start_offset: f64, seconds: u32) -> Vec<i32> {
        let mut clock = InputClock::new(30);
        let mut worst = Vec::new();
        let mut reported: Option<i8> = None;
        let mut window_min = i32::MAX;
        for room_tick in 1..=seconds * 30 {
            // The snapshot of `room_tick` reaches the client `one_way` ticks later; modelled
            // by reading it now with the clock already that far along.
            if room_tick == 1 {
                clock.on_snapshot(room_tick, None, TICK.mul_f64(2.0 * one_way));
                clock.now = clock.now.map(|t| t + start_offset);
            } else {
                clock.on_snapshot(room_tick, reported, TICK.mul_f64(2.0 * one_way));
            }
            // The input sent now arrives when the room is at room_tick + 2 * one_way.
            let arrives_at = f64::from(room_tick) + 2.0 * one_way;
            let lead = f64::from(clock.tick()) - arrives_at.floor();
            window_min = window_min.min(lead as i32);
            if room_tick % 30 == 0 {
                reported = Some(window_min as i8);
                worst.push(window_min);
                window_min = i32::MAX;
            }
            clock.advance(TICK);
        }
        worst
    }

    #[test]
    fn the_worst_lead_settles_at_the_target_from_early_late_and_far_off() {
        for (one_way, offset) in [
            (1.0, 0.0),
            (3.5, 0.0),
            (1.0, 20.0),
            (2.0, -15.0),
            (0.2, 6.0),
        ] {
            let worst = converge(one_way, offset, 12);
            let settled = &worst[6..];
            assert!(
                settled
                    .iter()
                    .all(|&w| (TARGET_LEAD - 1..=TARGET_LEAD + 1).contains(&w)),
                "one way {one_way} ticks, offset {offset}: {worst:?}"
            );
        }
    }

    #[test]
    fn the_pace_stays_within_a_few_percent() {
        let mut clock = InputClock::new(30);
        clock.on_snapshot(10, None, Duration::ZERO);
        let t = TARGET_LEAD as i8;
        for (tick, lead) in [(100, t + 2), (200, t - 3), (300, t)] {
            clock.on_snapshot(tick, Some(lead), Duration::ZERO);
            assert!(
                (clock.pace() - 1.0).abs() <= MAX_PACE_CHANGE,
                "{}",
                clock.pace()
            );
        }
        assert_eq!(clock.pace(), 1.0, "on target, on time");
        clock.on_snapshot(400, Some(t + 2), Duration::ZERO);
        assert!(clock.pace() < 1.0, "early: slower");
        clock.on_snapshot(401, Some(t - 2), Duration::ZERO);
        assert!(clock.pace() > 1.0, "late: faster");
    }

    #[test]
    fn before_the_first_snapshot_inputs_are_for_whenever_they_arrive() {
        let mut clock = InputClock::new(30);
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.tick(), 0);
        clock.on_snapshot(50, None, Duration::ZERO);
        assert_eq!(clock.tick(), 50 + TARGET_LEAD as u32 + 1);
        clock.reset();
        assert_eq!(clock.tick(), 0);
        assert_eq!((clock.due(), clock.stamp()), (1, 0));
    }

    #[test]
    fn inputs_sent_when_due_cover_every_tick_once() {
        let mut clock = InputClock::new(30);
        clock.on_snapshot(100, None, Duration::ZERO);
        let mut stamps = Vec::new();
        // Frames of 25, 40 and 33 ms in turn: some pass no tick, some two.
        for ms in [25, 40, 33].into_iter().cycle().take(90) {
            for _ in 0..clock.due() {
                stamps.push(clock.stamp());
            }
            clock.advance(Duration::from_millis(ms));
        }
        assert!(stamps.len() >= 80, "{}", stamps.len());
        assert!(stamps.windows(2).all(|w| w[1] == w[0] + 1), "{stamps:?}");
        // Sent faster than due: the extra input shares the tick (the room merges them).
        let last = clock.stamp();
        assert_eq!(clock.due(), 0);
        assert_eq!(clock.stamp(), last);
        // After a stall the stamps skip ahead rather than catch up tick by tick.
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.due(), MAX_INPUTS_DUE);
        assert_eq!(clock.stamp(), clock.tick() - 1);
        assert_eq!(clock.stamp(), clock.tick());
    }
}
