//! Coins as the platform knows it: its name and version, its messages, and the state it
//! replicates. Everything here is shared by the game's clients and its rooms, so it depends on
//! `protocol` alone (no ECS, no engine): a game client links this and nothing of the server.

use protocol::{
    GameProtocol, WireMessage,
    replicate::{Point, Tag, UInt, WireEnum},
};
use serde::{Deserialize, Serialize};

/// The field is this many units on a side.
pub const FIELD: f32 = 200.0;

/// Coins, as the platform knows it. Clients and rooms of another game (or another version of
/// this one) refuse each other by this name and version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Coins;

impl GameProtocol for Coins {
    const NAME: &'static str = "coins";
    const VERSION: u16 = 1;

    type Input = Stick;
    type Command = Shout;
    type Event = CoinsEvent;
    type Welcome = CoinsWelcome;
    type Results = CoinsResults;
    type State = CoinsState;
}

/// A runner's stick for one tick: sent unreliably every tick (and repeated, so a lost packet
/// loses nothing). Each axis is -1, 0 or 1; anything else is refused by [`WireMessage::validate`]
/// before the game sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stick {
    /// Left (-1) or right (1).
    pub x: i8,
    /// Up (-1) or down (1).
    pub y: i8,
}

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCoinsMessage {
    /// A stick axis outside -1..=1.
    #[error("a stick axis is -1, 0 or 1, not {0}")]
    Stick(i8),
    /// A list longer than a match can have.
    #[error("{0} is too long")]
    TooLong(&'static str),
}

impl WireMessage for Stick {
    type Invalid = InvalidCoinsMessage;
    fn validate(&self) -> Result<(), InvalidCoinsMessage> {
        match [self.x, self.y].into_iter().find(|a| !(-1..=1).contains(a)) {
            Some(bad) => Err(InvalidCoinsMessage::Stick(bad)),
            None => Ok(()),
        }
    }
}

/// A quick message to everyone: a reliable, ordered command (it must arrive, once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shout {
    /// "Hello!"
    Hello,
    /// "Nice one!"
    Nice,
}

/// What happened, sent reliably by the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CoinsEvent {
    /// A coin was picked up, by the runner with this network id. Only that runner is told:
    /// how many coins each runner holds is secret until the end.
    Picked {
        /// The runner.
        runner: u32,
    },
    /// A runner shouted (to everyone).
    Shouted {
        /// The runner.
        runner: u32,
        /// What.
        shout: Shout,
    },
}

/// The match's rules, sent to each player on joining.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoinsWelcome {
    /// Coins that win the match.
    pub goal: u16,
}

/// The game's part of the results: each player's coins (the platform adds placements).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoinsResults {
    /// (player id, coins), best first.
    pub coins: Vec<(String, u16)>,
}

protocol::always_valid!(Shout, CoinsEvent, CoinsWelcome);

impl WireMessage for CoinsResults {
    type Invalid = InvalidCoinsMessage;
    fn validate(&self) -> Result<(), InvalidCoinsMessage> {
        if self.coins.len() > 64 {
            return Err(InvalidCoinsMessage::TooLong("the results"));
        }
        match self
            .coins
            .iter()
            .any(|(p, _)| p.len() > protocol::MAX_PLAYER_ID_BYTES)
        {
            true => Err(InvalidCoinsMessage::TooLong("a player id")),
            false => Ok(()),
        }
    }
}

/// What a replicated entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A player's runner: seen by players near it.
    Runner,
    /// A coin on the field: seen by players near it.
    Coin,
    /// A player's purse (how many coins it holds): seen by its owner alone.
    Purse,
}

impl WireEnum for Kind {
    const BITS: u32 = 2;
    fn to_bits(self) -> u32 {
        self as u32
    }
    fn from_bits(bits: u32) -> Option<Self> {
        [Kind::Runner, Kind::Coin, Kind::Purse]
            .get(bits as usize)
            .copied()
    }
}

protocol::replicated! {
    /// Any of Coins' entities: a kind sent once, a place on the field (1/16 unit; a move of
    /// less than two units is sent in 6 bits an axis), and a count (a purse's coins).
    pub struct CoinsState {
        #[once]
        /// What it is.
        pub kind: Tag<Kind>,
        #[position]
        /// Where (a purse stays at 0, 0).
        pub pos: Point<u16, 2, 0, 200, 16, 6>,
        /// A purse's coins.
        pub count: UInt<u16, 10>,
    }
}

#[cfg(test)]
mod tests {
    use protocol::conformance::{check_replicated, decode_arbitrary};

    use super::*;

    #[test]
    fn the_state_round_trips_and_any_bytes_decode_or_are_refused() {
        let state = |kind, x, count| CoinsState {
            kind: Tag(kind),
            pos: Point::new([x, 200.0 - x]),
            count: UInt::new(count),
        };
        check_replicated(&[
            state(Kind::Runner, 0.0, 0),
            state(Kind::Coin, 199.9, 0),
            state(Kind::Purse, 0.0, 1023),
        ]);
        for seed in 0..2_000u32 {
            let bytes: Vec<u8> = (0..64)
                .map(|i| (seed.wrapping_mul(2654435761) >> (i % 24)) as u8)
                .collect();
            decode_arbitrary::<Coins>(&bytes);
        }
    }

    #[test]
    fn a_stick_past_one_is_refused() {
        assert_eq!(Stick { x: 1, y: -1 }.validate(), Ok(()));
        assert_eq!(
            Stick { x: 2, y: 0 }.validate(),
            Err(InvalidCoinsMessage::Stick(2))
        );
    }
}
