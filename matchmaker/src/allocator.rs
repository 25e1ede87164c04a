//! The seam between the matchmaker and whatever hosts rooms.
//!
//! The matchmaker never depends on the server: a node (in-process for the embedded default,
//! remote in distributed mode) implements [`Allocator`].

use std::{future::Future, net::SocketAddr};

use protocol::{
    GameId,
    api::{OpenSlot, RoomPlayer, RoomRules},
};

/// A request for one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocationRequest {
    /// Game mode.
    pub mode: String,
    /// The players' region, if they gave latencies: the room must be there.
    pub region: Option<String>,
    /// Everyone the match was made for.
    pub players: Vec<RoomPlayer>,
    /// How the mode's rooms run.
    pub rules: RoomRules,
}

/// A room ready for its players.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// The room's id.
    pub room_id: u64,
    /// The UDP address clients connect to.
    pub addr: SocketAddr,
    /// The game the room plays: its players' tokens are for this game's version.
    pub game: GameId,
}

/// Why no room could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocateError {
    /// Every node is full; the players go back to the queue.
    #[error("no capacity for another room")]
    NoCapacity,
    /// The mode is not hosted.
    #[error("no node hosts mode {0:?}")]
    UnknownMode(String),
    /// The request itself is wrong (e.g. no players).
    #[error("invalid room request: {0}")]
    Invalid(String),
    /// The node failed to start the room.
    #[error("room allocation failed: {0}")]
    Failed(String),
}

/// Something that can start rooms.
pub trait Allocator: Send + Sync + 'static {
    /// Starts a room for these players and says where it listens.
    fn allocate(
        &self,
        request: AllocationRequest,
    ) -> impl Future<Output = Result<Allocation, AllocateError>> + Send;

    /// Adds `player` to the running room that opened `slot` (a replacement for one who left)
    /// and says where it listens.
    fn backfill(
        &self,
        slot: &OpenSlot,
        player: RoomPlayer,
    ) -> impl Future<Output = Result<Allocation, AllocateError>> + Send;
}
