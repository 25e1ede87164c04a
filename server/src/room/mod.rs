//! Rooms: one per match. A room is a sans-IO core ([`RoomCore`], holding the shell state and the
//! [`sim`] half with the ECS world), a transport driver ([`RoomTransport`]) that owns the UDP
//! socket, and a runner that ticks them.

mod core;
mod runner;
mod sim;
mod transport;

pub use self::core::{
    ClientId, ExpectedPlayer, MAX_SNAPSHOT_ENTITIES, Outbound, Phase, RoomCore, RoomInput,
    RoomSettings, RoomStats,
};
pub use runner::RoomStatus;
pub(crate) use runner::run_room;
pub use transport::{RoomTransport, TransportStats};
