//! A room on the move: everything a node needs to resume a running match that another node
//! stopped, as one bounded binary blob (sent node to node over the cluster's authenticated
//! internal API).

use serde::{Deserialize, Serialize};

use super::{
    core::{CoreHandoff, RoomSettings},
    sim::SimCheckpoint,
};
use crate::game::Game;

/// A stopped room: its settings, its shell and its simulation, all as of the same tick.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "", deserialize = ""))]
pub struct RoomHandoff<G: Game> {
    /// The game mode (the receiving node must host it).
    pub mode: String,
    /// The room's settings, id included: a room keeps its id wherever it runs.
    pub settings: RoomSettings,
    pub(crate) core: CoreHandoff,
    pub(crate) sim: SimCheckpoint<G>,
}

impl<G: Game> RoomHandoff<G> {
    /// The blob to send (bounded at [`protocol::codec::MAX_BULK_BYTES`]).
    pub fn encode(&self) -> Result<Vec<u8>, protocol::codec::CodecError> {
        protocol::codec::encode_bulk(self)
    }

    /// Reads a blob; bounded whatever the bytes are.
    pub fn decode(bytes: &[u8]) -> Result<Self, protocol::codec::CodecError> {
        protocol::codec::decode_bulk(bytes)
    }
}
