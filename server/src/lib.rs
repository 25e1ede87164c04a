//! Rallypoint's engine: the node that hosts rooms of any game, and the embedded
//! single-process mode.
//!
//! What it is:
//! - generic over a [`Game`] (from `game_api`, re-exported here): the game plugs in its
//!   [`protocol::GameProtocol`] types, components and systems, player lifecycle, input,
//!   command and snapshot mappings and results; the engine knows no game (each lives in its
//!   own crate under `games/`);
//! - [`run`]: a game's whole server binary in one call, with its flags flattened in;
//!   [`serve`]: a role on a listener the caller bound, until a shutdown future resolves;
//! - [`room`]: one room per match, a sans-IO [`room::RoomCore`] (shell state + the ECS
//!   simulation) driven on a fixed tick by a UDP transport (renet over netcode, secure tokens);
//! - [`Node`]: many rooms at once within a capacity, one UDP port each; it is the matchmaker's
//!   [`matchmaker::Allocator`];
//! - [`http::router`]: the HTTP API (with `/metrics`, the dashboard and the spectator feed);
//!   [`EmbeddedServer`]: everything in one process;
//! - [`testing`]: for a game's own tests, its room and players with no network
//!   ([`testing::TestRoom`]) and the whole server on loopback ([`testing::embedded`]).
//!
//! What it is not: it defines no wire format (that is `protocol`) and no match rules (that is
//! `matchmaker`).
#![warn(missing_docs)]

mod cluster_node;
pub mod config;
mod embedded;
pub mod http;
pub mod metrics;
pub mod migration;
mod node;
mod ports;
pub mod room;
mod run;
pub mod testing;
mod watch;

// The game-facing API, under the path the engine's modules use for it.
use game_api as game;

pub use cluster_node::{ADVERT_TTL, ClusterNode, HEARTBEAT};
pub use embedded::{EmbeddedServer, StartError};
pub use game_api::{
    CommandOf, EventOf, Game, GameEvents, InputOf, Joined, Outcome, Participant, PlayerInfo,
    Recipient, Relevance, Replica, ResultsOf, RoomClock, Scope, StateOf, WelcomeOf, placements_by,
};
pub use node::{
    ImportError, JoinError, MigrateError, NoSuchRoom, Node, NodeConfig, NodeEvent, RoomFailure,
};
pub use ports::UdpPorts;
pub use run::{run, run_with_defaults, serve};
