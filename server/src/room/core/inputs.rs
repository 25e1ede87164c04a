//! One player's inputs on their way into the simulation: each is stamped with the tick it is
//! for, waits until then, and is applied at that tick; the room measures how early they
//! arrive, which the client paces its input clock by (see `protocol::InputClock`).

use std::collections::VecDeque;

use protocol::{GameProtocol, InputFrame};

/// Inputs held per player waiting for their tick; beyond it the oldest is merged into the next
/// (bounds memory; the game's merge keeps what must not be lost, such as presses).
const MAX_PENDING_INPUTS: usize = 32;

/// Furthest ahead of the room an input may be stamped (half a second at 30 Hz); one stamped
/// further is taken as for this far, so a client's clock cannot make its inputs wait longer.
const MAX_INPUT_LEAD: u32 = 15;

/// Buckets of [`super::RoomStats::input_delay`]: 0 to 15 ticks waited, and 16 or more.
pub const INPUT_DELAY_BUCKETS: usize = 17;

/// An input waiting in the room for its tick.
#[derive(Debug, Clone, Copy)]
struct PendingInput<I> {
    seq: u32,
    /// The tick it is for.
    tick: u32,
    input: I,
    /// The room's tick when it arrived.
    arrived: u32,
}

/// An input taken for a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DueInput<I> {
    /// The input to apply: the newest due, with the older ones it stands for merged in by the
    /// game ([`GameProtocol::merge_late_input`]).
    pub(super) input: I,
    /// Its sequence number (what the client's predictor reconciles on).
    pub(super) seq: u32,
    /// Of the inputs it stands for (itself and those merged into it), how many arrived after
    /// the tick they were for.
    pub(super) late: u32,
    /// Ticks it waited in the room between arriving and being applied.
    pub(super) waited: u32,
    /// Older inputs it stands for (stamped for the same tick or one already passed).
    pub(super) merged: u32,
}

/// One connection's inputs: those waiting for their tick, and how early they arrive.
#[derive(Debug)]
pub(super) struct InputBuffer<P: GameProtocol> {
    pending: VecDeque<PendingInput<P::Input>>,
    newest_seq: u32,
    /// The worst lead (ticks between arrival and the tick an input is for) in this window.
    window_worst: Option<i32>,
    /// The worst lead of the last complete window.
    reported: Option<i8>,
}

impl<P: GameProtocol> Default for InputBuffer<P> {
    fn default() -> Self {
        Self {
            pending: VecDeque::new(),
            newest_seq: 0,
            window_worst: None,
            reported: None,
        }
    }
}

impl<P: GameProtocol> InputBuffer<P> {
    /// Takes in the frames of one input packet, which arrived while the room was at `now`.
    /// Frames already seen (repeats, for loss) are skipped.
    pub(super) fn receive(&mut self, frames: &[InputFrame<P::Input>], now: u32) {
        for frame in frames {
            if frame.seq <= self.newest_seq {
                continue;
            }
            self.newest_seq = frame.seq;
            if frame.tick != 0 {
                // (0: sent before the client knew the room's clock.)
                let lead = (i64::from(frame.tick) - i64::from(now)).clamp(-1000, 1000) as i32;
                self.window_worst = Some(self.window_worst.map_or(lead, |w| w.min(lead)));
            }
            if self.pending.len() == MAX_PENDING_INPUTS
                && let Some(oldest) = self.pending.pop_front()
                && let Some(next) = self.pending.front_mut()
            {
                P::merge_late_input(&oldest.input, &mut next.input);
            }
            self.pending.push_back(PendingInput {
                seq: frame.seq,
                tick: frame.tick.min(now + MAX_INPUT_LEAD),
                input: frame.input,
                arrived: now,
            });
        }
    }

    /// The input for tick `now`: the newest of those stamped for it or before (the ones a late
    /// or bursty link delivered together), with the older ones merged into it by the game.
    /// Inputs for later ticks stay. `None` when none is due.
    pub(super) fn take_due(&mut self, now: u32) -> Option<DueInput<P::Input>> {
        let mut due: Option<PendingInput<P::Input>> = None;
        let (mut taken, mut late) = (0, 0);
        while self.pending.front().is_some_and(|p| p.tick <= now) {
            let Some(mut next) = self.pending.pop_front() else {
                break;
            };
            if let Some(older) = &due {
                P::merge_late_input(&older.input, &mut next.input);
            }
            taken += 1;
            late += u32::from(next.tick < now);
            due = Some(next);
        }
        due.map(|p| DueInput {
            input: p.input,
            seq: p.seq,
            late,
            waited: now.saturating_sub(p.arrived + 1),
            merged: taken - 1,
        })
    }

    /// Closes a window of leads: the worst of it is what [`InputBuffer::lead`] reports until
    /// the next.
    pub(super) fn roll_window(&mut self) {
        if let Some(worst) = self.window_worst.take() {
            self.reported = Some(worst.clamp(i32::from(i8::MIN), i32::from(i8::MAX)) as i8);
        }
    }

    /// How early this connection's inputs arrived at worst in the last complete window
    /// (negative: late); `None` before any.
    pub(super) fn lead(&self) -> Option<i8> {
        self.reported
    }
}

#[cfg(test)]
mod tests {
    use protocol::{GameProtocol, NoMessage};
    use serde::{Deserialize, Serialize};

    use super::*;

    /// A game whose input is one button; a late press merged into a newer input is kept.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    struct Pad;

    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
    struct Press {
        fire: bool,
    }

    protocol::always_valid!(Press);

    impl GameProtocol for Pad {
        const NAME: &'static str = "pad";
        const VERSION: u16 = 1;
        type Input = Press;
        type Command = NoMessage;
        type Event = NoMessage;
        type Welcome = NoMessage;
        type Results = NoMessage;
        type State = protocol::NoState;

        fn merge_late_input(older: &Press, newer: &mut Press) {
            newer.fire |= older.fire;
        }
    }

    fn frame(seq: u32, tick: u32, fire: bool) -> InputFrame<Press> {
        InputFrame {
            seq,
            tick,
            input: Press { fire },
        }
    }

    #[test]
    fn inputs_wait_for_their_tick_and_late_ones_merge_keeping_presses() {
        let mut b = InputBuffer::<Pad>::default();
        // Arrive at tick 10: two late (for 8 and 9, the first pressing fire), one on time
        // (11), one early (13); the repeat of seq 1 is ignored.
        b.receive(&[frame(1, 8, true), frame(2, 9, false)], 10);
        b.receive(
            &[frame(1, 8, true), frame(3, 11, false), frame(4, 13, false)],
            10,
        );
        let due = b.take_due(11).unwrap();
        assert_eq!((due.seq, due.late, due.waited, due.merged), (3, 2, 0, 2));
        assert!(due.input.fire, "the press of seq 1 is kept");
        assert_eq!(b.take_due(12), None, "nothing for 12: the last input holds");
        let due = b.take_due(13).unwrap();
        assert_eq!((due.seq, due.waited), (4, 2));
        assert!(!due.input.fire, "a press is merged once, not carried on");
        b.roll_window();
        assert_eq!(b.lead(), Some(-2), "the worst: seq 1, two ticks late");
    }

    #[test]
    fn a_flood_of_future_inputs_is_bounded_and_keeps_its_presses() {
        let mut b = InputBuffer::<Pad>::default();
        let frames: Vec<_> = (1..=100).map(|s| frame(s, 1_000_000, s == 1)).collect();
        b.receive(&frames, 5);
        assert_eq!(b.pending.len(), MAX_PENDING_INPUTS);
        let due = b.take_due(5 + MAX_INPUT_LEAD).unwrap();
        assert_eq!(
            due.seq, 100,
            "stamped far ahead, taken as for the furthest allowed"
        );
        assert!(due.input.fire);
    }
}
