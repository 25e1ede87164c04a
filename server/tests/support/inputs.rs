//! A sans-IO client's input packets, for harnesses that play a room without `GameClient`.

use std::collections::VecDeque;

use protocol::{INPUT_REDUNDANCY, InputFrame, InputPacket};

/// The inputs a client sent last, repeated in each packet as `GameClient` does
/// ([`INPUT_REDUNDANCY`]), so one lost packet loses no input.
#[derive(Debug)]
pub struct InputWindow<I> {
    seq: u32,
    recent: VecDeque<InputFrame<I>>,
}

impl<I> Default for InputWindow<I> {
    fn default() -> Self {
        Self {
            seq: 0,
            recent: VecDeque::new(),
        }
    }
}

impl<I: Copy> InputWindow<I> {
    /// The packet carrying `input` (for as soon as it arrives) after the last few, and
    /// acknowledging snapshot `ack_tick`.
    pub fn packet(&mut self, input: I, ack_tick: u32) -> InputPacket<I> {
        self.seq += 1;
        if self.recent.len() == INPUT_REDUNDANCY {
            self.recent.pop_front();
        }
        self.recent.push_back(InputFrame {
            seq: self.seq,
            tick: 0,
            input,
        });
        InputPacket {
            ack_tick,
            inputs: self.recent.iter().copied().collect(),
        }
    }
}
