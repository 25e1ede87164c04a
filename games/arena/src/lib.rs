//! The arena, Rallypoint's reference game: a top-down free-for-all where players move, aim and
//! shoot, die, respawn and score a point per kill.
//!
//! It is built only on the platform's public API, as a studio's game would be:
//! - [`Arena`] declares its wire types to the platform ([`protocol::GameProtocol`]): the
//!   [`PlayerInput`] stick, aim and fire button, the [`ArenaWelcome`] and [`ArenaResults`];
//! - [`Motion`] and [`Ballistics`]: how avatars and projectiles move, shared by the room and
//!   clients so predictions match;
//! - [`Predictor`]: the client's prediction of its own avatar.
#![warn(missing_docs)]

mod motion;
mod predict;
mod wire;

pub use motion::{Ballistics, Motion};
pub use predict::Predictor;
pub use wire::{
    Arena, ArenaResults, ArenaScore, ArenaWelcome, InvalidArenaMessage, InvalidInput,
    MAX_RESULT_LINES, PlayerInput,
};
