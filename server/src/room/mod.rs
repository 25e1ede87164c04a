//! Rooms: one per match, supervised.
//!
//! A room is a shell ([`RoomCore`]: players, connections, inputs, phase, checkpoint and replay
//! log) and a simulation ([`Simulation`]: the ECS world, the crashable part), run under
//! supervision ([`Room`] without IO; the node's runner with a UDP [`RoomTransport`]) on a
//! pool of workers with deadline scheduling.

mod connections;
mod core;
mod hostile;
mod inbound;
mod local;
mod migration;
mod pipeline;
mod receive_path;
mod runner;
mod scheduler;
mod sim;
pub mod spectate;
mod supervisor;
pub mod sync;
#[cfg(test)]
mod test_game;
mod transport;

pub use self::core::{
    AddPlayerError, Backfill, ClientId, CoreHandoff, ExpectedPlayer, HandoffError,
    INPUT_DELAY_BUCKETS, OpenedSlot, Outbound, Phase, Recovery, RoomCore, RoomInput, RoomSettings,
    RoomStats, Supervision,
};
pub use hostile::{
    EJECTED_CODE, EjectionCounts, HostileKind, MAX_DATAGRAMS_PER_CLIENT_SECOND,
    MAX_PACKETS_PER_CLIENT_TICK,
};
pub use inbound::TransportStats;
pub use local::Room;
pub use migration::{HandoffDecodeError, RoomHandoff};
pub use receive_path::{HonestClient, ReceivePath};
pub use runner::RoomStatus;
pub(crate) use runner::{RoomNotice, RoomProcess, Unmovable};
pub(crate) use scheduler::Scheduler;
pub use sim::{
    Fault, PlayerStanding, SimCheckpoint, SimCommand, Simulation, Slot, StepOutput, TickBatch,
};
pub use sync::SyncSettings;
pub use transport::RoomTransport;
