//! The brains of the games that ship with the platform. A studio's game implements
//! [`Brain`](crate::Brain) in its own crate and runs the swarm with it
//! ([`cli::main`](crate::cli::main)).

mod arena;
mod hearts;

pub use arena::ArenaBot;
pub use hearts::HeartsBot;
