//! The arena's wire types: what its clients and its rooms exchange, declared to the platform
//! by [`Arena`].

use protocol::{GameProtocol, NoMessage, WireMessage, dequantize_angle, quantize_angle};
use serde::{Deserialize, Serialize};

/// The arena, as the platform knows it: its name, version and message types.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Arena;

impl GameProtocol for Arena {
    const NAME: &'static str = "arena";
    const VERSION: u16 = 1;

    type Input = PlayerInput;
    type Command = NoMessage;
    type Event = NoMessage;
    type Welcome = ArenaWelcome;
    type Results = ArenaResults;
    type State = crate::ArenaState;

    /// A shot fired in an input that came too late still fires.
    fn merge_late_input(older: &PlayerInput, newer: &mut PlayerInput) {
        newer.buttons |= older.buttons;
    }
}

/// One tick's worth of player intent for a top-down game: a movement stick, an aim angle and
/// buttons. Quantized on the wire, so no value can be NaN or infinite; the few out-of-range
/// encodings left are refused (its [`WireMessage::validate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PlayerInput {
    /// Horizontal movement, -127 (left) to 127 (right).
    pub move_x: i8,
    /// Vertical movement, -127 (down) to 127 (up).
    pub move_y: i8,
    /// Aim angle, a full turn mapped onto 0..=65535 (counter-clockwise from +x).
    pub aim: u16,
    /// Button bits; see [`PlayerInput::FIRE`].
    pub buttons: u8,
}

impl PlayerInput {
    /// The fire button.
    pub const FIRE: u8 = 1;

    /// Builds an input from a movement direction (each component clamped to -1..=1), an aim
    /// angle in radians and whether to fire.
    pub fn new(move_x: f32, move_y: f32, aim_radians: f32, fire: bool) -> Self {
        let stick = |v: f32| {
            if v.is_finite() {
                (v.clamp(-1.0, 1.0) * 127.0).round() as i8
            } else {
                0
            }
        };
        Self {
            move_x: stick(move_x),
            move_y: stick(move_y),
            aim: quantize_angle(aim_radians),
            buttons: if fire { Self::FIRE } else { 0 },
        }
    }

    /// The movement stick as floats in -1..=1.
    pub fn movement(&self) -> (f32, f32) {
        (
            f32::from(self.move_x.max(-127)) / 127.0,
            f32::from(self.move_y.max(-127)) / 127.0,
        )
    }

    /// The aim angle in radians, 0..2π.
    pub fn aim_radians(&self) -> f32 {
        dequantize_angle(self.aim)
    }

    /// Whether the fire button is held.
    pub fn fire(&self) -> bool {
        self.buttons & Self::FIRE != 0
    }
}

/// Why the arena refuses an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    /// A stick at -128: an `i8` holds it, no client makes it.
    #[error("movement stick out of range")]
    Stick,
    /// Button bits the arena does not define.
    #[error("undefined button bits {0:#04x}")]
    Buttons(u8),
}

impl WireMessage for PlayerInput {
    type Invalid = InvalidInput;

    /// Sticks within -127..=127 and no button bits but the defined ones.
    fn validate(&self) -> Result<(), InvalidInput> {
        if self.move_x == i8::MIN || self.move_y == i8::MIN {
            return Err(InvalidInput::Stick);
        }
        match self.buttons & !Self::FIRE {
            0 => Ok(()),
            extra => Err(InvalidInput::Buttons(extra)),
        }
    }
}

/// What a player learns of the match on joining.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArenaWelcome {
    /// The square field's side, world units.
    pub size: u32,
}

/// Why the arena refuses a message from its room.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidArenaMessage {
    /// A field too small to move in, or larger than positions can be sent for.
    #[error("field size {0} outside 8..=2047")]
    FieldSize(u32),
    /// More result lines than a room holds players.
    #[error("{0} result lines, at most {MAX_RESULT_LINES}")]
    TooManyLines(usize),
}

impl WireMessage for ArenaWelcome {
    type Invalid = InvalidArenaMessage;

    fn validate(&self) -> Result<(), InvalidArenaMessage> {
        match self.size {
            8..=2047 => Ok(()),
            size => Err(InvalidArenaMessage::FieldSize(size)),
        }
    }
}

/// Most lines in [`ArenaResults`].
pub const MAX_RESULT_LINES: usize = 256;

/// A player's kills and deaths in a finished match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArenaScore {
    /// The player's id.
    pub player_id: String,
    /// Opponents hit for their last health point.
    pub kills: u32,
    /// Times killed.
    pub deaths: u32,
}

/// The arena's part of a match's results: every player's kills and deaths, in placement order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArenaResults {
    /// One line per player who took part.
    pub scores: Vec<ArenaScore>,
}

impl WireMessage for ArenaResults {
    type Invalid = InvalidArenaMessage;

    fn validate(&self) -> Result<(), InvalidArenaMessage> {
        if self.scores.len() > MAX_RESULT_LINES {
            return Err(InvalidArenaMessage::TooManyLines(self.scores.len()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_quantization_is_bounded_and_rejects_non_finite() {
        let i = PlayerInput::new(f32::NAN, f32::INFINITY, f32::NAN, true);
        assert_eq!((i.move_x, i.move_y, i.aim), (0, 0, 0));
        let i = PlayerInput::new(5.0, -5.0, -std::f32::consts::FRAC_PI_2, false);
        assert_eq!((i.move_x, i.move_y), (127, -127));
        assert!((i.aim_radians() - 3.0 * std::f32::consts::FRAC_PI_2).abs() < 1e-3);
        // -128 on the wire (never produced by `new`) still maps into -1..=1.
        let raw = PlayerInput {
            move_x: -128,
            move_y: 0,
            aim: 0,
            buttons: 0,
        };
        assert_eq!(raw.movement().0, -1.0);
    }

    #[test]
    fn inputs_out_of_range_are_refused_with_the_reason() {
        assert_eq!(PlayerInput::new(1.0, -1.0, 0.5, true).validate(), Ok(()));
        let stick = PlayerInput {
            move_x: i8::MIN,
            ..PlayerInput::default()
        };
        assert_eq!(stick.validate(), Err(InvalidInput::Stick));
        let buttons = PlayerInput {
            buttons: 0x81,
            ..PlayerInput::default()
        };
        assert_eq!(buttons.validate(), Err(InvalidInput::Buttons(0x80)));
    }

    #[test]
    fn the_largest_input_packet_fits_one_client_message() {
        use protocol::{InputFrame, InputPacket, MAX_INPUTS_PER_PACKET, codec, renet_wire};
        let worst = PlayerInput {
            move_x: -127,
            move_y: -127,
            aim: u16::MAX,
            buttons: u8::MAX,
        };
        let packet = InputPacket {
            ack_tick: u32::MAX,
            inputs: vec![
                InputFrame {
                    seq: u32::MAX,
                    tick: u32::MAX,
                    input: worst,
                };
                MAX_INPUTS_PER_PACKET
            ],
        };
        let bytes = codec::encode(&packet).unwrap().len();
        assert!(
            bytes <= renet_wire::MAX_CLIENT_MESSAGE_BYTES,
            "{bytes} bytes"
        );
    }

    #[test]
    fn a_late_press_is_kept_when_merged() {
        let older = PlayerInput::new(0.0, 0.0, 0.0, true);
        let mut newer = PlayerInput::new(1.0, 0.0, 0.0, false);
        Arena::merge_late_input(&older, &mut newer);
        assert!(newer.fire());
        assert_eq!(newer.move_x, 127, "the newer intent otherwise");
    }

    #[test]
    fn the_arenas_wire_types_pass_the_platforms_conformance_checks() {
        use protocol::{
            ClientEvent, InputFrame, InputPacket, codec, conformance::decode_arbitrary,
        };
        use rand::{Rng, SeedableRng, rngs::StdRng};
        let mut rng = StdRng::seed_from_u64(7);
        // Real messages, then every prefix and a flipped byte of each, then noise.
        let packet = InputPacket {
            ack_tick: 9,
            inputs: vec![InputFrame {
                seq: 3,
                tick: 10,
                input: PlayerInput::new(0.5, -1.0, 2.0, true),
            }],
        };
        let leave = ClientEvent::<Arena>::Leave;
        for real in [
            codec::encode(&packet).unwrap(),
            codec::encode(&leave).unwrap(),
        ] {
            for cut in 0..=real.len() {
                decode_arbitrary::<Arena>(&real[..cut]);
            }
            let mut flipped = real.clone();
            let at = rng.random_range(0..flipped.len());
            flipped[at] ^= 0xff;
            decode_arbitrary::<Arena>(&flipped);
        }
        for _ in 0..2_000 {
            let len = rng.random_range(0..48);
            let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            decode_arbitrary::<Arena>(&bytes);
        }
    }
}
