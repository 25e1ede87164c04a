//! Hearts, Rallypoint's second game: four players, thirteen tricks a hand, no avatars, no
//! positions, and every hand hidden from everyone but its owner. Built only on the platform's
//! public API, as the arena is.
//!
//! - [`rules`]: the game itself, with no platform in it: cards, hands, legal plays, tricks,
//!   points and the end of the game;
//! - [`Hearts`]: its messages and the state it replicates ([`HeartsState`]: the table and the
//!   seats for everyone, each hand for its owner alone), with fields of its own for a set of
//!   cards ([`CardSet`]) and a trick ([`Trick`]);
//! - [`HeartsGame`]: its server side for the engine (`game_api::Game`): seats, plays checked
//!   by the rules, a turn timer that plays for an absent or slow player, checkpoints;
//! - [`brain`]: a player for bots and tests (its lowest legal card, from what a client sees).
#![warn(missing_docs)]

pub mod brain;
mod game;
pub mod rules;
mod wire;

pub use game::{HeartsCheckpoint, HeartsGame};

pub use wire::{
    CardSet, Hearts, HeartsEvent, HeartsResults, HeartsState, HeartsWelcome, Idle,
    InvalidHeartsMessage, Kind, Play, Trick,
};
