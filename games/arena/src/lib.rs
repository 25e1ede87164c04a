//! The arena, Rallypoint's reference game: a top-down free-for-all where players move, aim and
//! shoot, die, respawn and score a point per kill.
//!
//! It is built only on the platform's public API, as a studio's game would be:
//! - [`Arena`] declares its wire types to the platform ([`protocol::GameProtocol`]): the
//!   [`PlayerInput`] stick, aim and fire button, the [`ArenaWelcome`] and [`ArenaResults`],
//!   and the [`ArenaState`] it replicates for avatars and projectiles;
//! - [`ArenaGame`] is its server side for the engine ([`game_api::Game`]): components and
//!   systems (move → fire → fly → hit → respawn), lifecycle, results, checkpoints;
//! - [`Motion`] and [`Ballistics`]: how avatars and projectiles move, shared by the room and
//!   clients so predictions match;
//! - [`AvatarMotion`]: the movement rule as the platform's `protocol::Predict`, and
//!   [`Predictor`], the client's prediction of its own avatar by it;
//! - [`ArenaBrain`]: the bots' player;
//! - [`ArenaArgs`]: its flags on the server's command line.
#![warn(missing_docs)]

mod args;
mod brain;
pub mod game;
mod motion;
mod predict;
mod state;
mod wire;

pub use args::ArenaArgs;
pub use brain::ArenaBrain;
pub use game::{ArenaGame, ArenaRules};
pub use motion::{Ballistics, Motion};
pub use predict::{AvatarMotion, Predictor};
pub use state::{ArenaState, EntityKind, EntityState, in_world_units};
pub use wire::{
    Arena, ArenaResults, ArenaScore, ArenaWelcome, InvalidArenaMessage, InvalidInput,
    MAX_RESULT_LINES, PlayerInput,
};
