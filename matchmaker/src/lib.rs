//! Rallypoint's matchmaker: tickets in, rooms and connect tokens out.
//!
//! What it is:
//! - [`Matchmaker`]: creates, reads (long-poll) and cancels tickets, and runs the matching loop
//!   that groups queued tickets by [`ModeRules`], asks an [`Allocator`] for a room, and assigns
//!   each ticket an address and a connect token;
//! - [`find_matches`]: the pure match function (skill windows that widen with waiting);
//! - [`TicketStore`]: where tickets live, with [`MemoryStore`] for the single-process default
//!   and [`RedisStore`] for several instances sharing state (atomic claims in Lua);
//! - [`router`]: the `/v1/tickets` HTTP API (axum), with JSON error bodies;
//! - [`metrics`]: Prometheus series and the `GET /metrics` route;
//! - [`dashboard`]: the operator's web page and the `GET /v1/overview` it reads.
//!
//! What it is not: it hosts no rooms and never depends on the server crate; whatever hosts
//! rooms implements [`Allocator`].
//!
//! Invariant: every ticket ends in exactly one terminal state (assigned, cancelled, no_match);
//! state changes are compare-and-set in the store, so none is assigned twice.
#![warn(missing_docs)]

mod allocator;
pub mod cli;
mod cluster;
pub mod dashboard;
mod error;
mod history;
mod http;
pub mod metrics;
mod modes;
mod party;
mod rate_limit;
mod redis_store;
mod rescue;
mod results;
mod rules;
mod service;
mod standalone;
mod store;
mod ticket;

pub use allocator::{AllocateError, Allocation, AllocationRequest, Allocator};
pub use cluster::{ClusterAllocator, Placement, import_room, rank_nodes, read_granted};
pub use error::{MatchmakerError, error_response};
pub use history::{HistoryCheck, TicketEvent, check as check_history};
pub use http::{MAX_BODY_BYTES, json_rejection, router};
pub use modes::ModeSpecError;
pub use redis_store::{OrphanedRoom, RedisStore, RoomCopy, redis_errors};
pub use rescue::{RescueReport, Rescuer};
pub use results::MatchStore;
pub use rules::{Candidate, ModeRules, Placed, UnevenTeams, find_matches};
pub use service::{DEFAULT_SKILL, MAX_LONG_POLL, Matchmaker, MatchmakerConfig, MatchmakerStats};
pub use standalone::{Standalone, StandaloneConfig, StandaloneError};
pub use store::{MemoryStore, StoreError, TicketDepths, TicketStore};
pub use ticket::{BadTicketId, StateKind, Ticket, TicketId};
