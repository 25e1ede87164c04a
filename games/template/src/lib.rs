//! Coins, a template game for Rallypoint: up to a few runners on a 200-unit field pick up
//! coins; the first to hold the goal wins, or the one with most when the clock runs out.
//! How many coins a runner holds is its player's secret until the end.
//!
//! It is small on purpose, and uses every part a game has, each in its own file, to copy and
//! make your own (the guide: `docs/writing-a-game.md`):
//! - [`wire`](Coins): what clients and rooms share, on `protocol` alone — the per-tick input
//!   ([`Stick`]), a reliable command ([`Shout`]), the game's events ([`CoinsEvent`]), welcome
//!   and results, and the replicated state ([`CoinsState`]) declared with
//!   `protocol::replicated!`;
//! - [`CoinsGame`]: the server side (`game_api::Game`): ECS components and systems, the
//!   players' lifecycle, input and commands, the snapshot with its scopes (runners and coins
//!   for players nearby, each purse for its owner alone), results, and checkpoints that
//!   restore the world exactly;
//! - [`CoinsBot`]: its player for the bot swarm (`bots::Brain`);
//! - `src/bin/coins-server.rs` and `src/bin/coins-bots.rs`: the engine serving Coins, and the
//!   load-testing tool playing it, a few lines each;
//! - `tests/`: the game in a room without IO (`server::testing::TestRoom`), and a match
//!   played to its end over UDP by bots.
#![warn(missing_docs)]

mod bot;
mod game;
mod wire;

pub use bot::CoinsBot;
pub use game::{CoinsCheckpoint, CoinsGame};
pub use wire::{
    Coins, CoinsEvent, CoinsResults, CoinsState, CoinsWelcome, FIELD, InvalidCoinsMessage, Kind,
    Shout, Stick,
};
