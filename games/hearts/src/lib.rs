//! Hearts, Rallypoint's second game: four players, thirteen tricks a hand, no avatars, no
//! positions, and every hand hidden from everyone but its owner. Built only on the platform's
//! public API, as the arena is.
//!
//! - [`rules`]: the game itself, with no platform in it: cards, hands, legal plays, tricks,
//!   points and the end of the game.
#![warn(missing_docs)]

pub mod rules;
