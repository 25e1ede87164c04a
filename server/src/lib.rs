//! Rallypoint's server: the node that hosts rooms, and the embedded single-process mode.
//!
//! What it is:
//! - [`Game`]: how a game plugs in (its [`protocol::GameProtocol`] types, components and
//!   systems, player lifecycle, input, command and snapshot mappings, results), with
//!   [`arena::ArenaGame`] as the reference game;
//! - [`room`]: one room per match, a sans-IO [`room::RoomCore`] (shell state + the ECS
//!   simulation) driven on a fixed tick by a UDP transport (renet over netcode, secure tokens);
//! - [`Node`]: many rooms at once within a capacity, one UDP port each; it is the matchmaker's
//!   [`matchmaker::Allocator`];
//! - [`http::router`]: the HTTP API (with `/metrics`, the dashboard and the spectator feed);
//!   [`EmbeddedServer`]: everything in one process.
//!
//! What it is not: it defines no wire format (that is `protocol`) and no match rules (that is
//! `matchmaker`).
#![warn(missing_docs)]

pub mod arena;
mod cluster_node;
pub mod config;
mod embedded;
mod game;
pub mod http;
pub mod metrics;
pub mod migration;
mod node;
pub mod room;
mod watch;

pub use cluster_node::{ADVERT_TTL, ClusterNode, HEARTBEAT};
pub use embedded::{EmbeddedServer, StartError};
pub use game::{
    CommandOf, EventOf, Game, GameEvents, InputOf, Joined, Outcome, Participant, PlayerInfo,
    Recipient, ResultsOf, RoomClock, WelcomeOf, placements_by,
};
pub use node::{
    ImportError, JoinError, MigrateError, NoSuchRoom, Node, NodeConfig, NodeEvent, RoomFailure,
};
