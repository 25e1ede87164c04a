//! A room on the move: everything a node needs to resume a running match that another node
//! stopped, as one bounded binary blob (sent node to node over the cluster's authenticated
//! internal API).

use protocol::GameProtocol;
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

/// What a blob holds before anything of the game is read: whose room it is. A node reads this
/// first and refuses a room of another game, or of another version of its game, by name.
#[derive(Serialize, Deserialize)]
struct Envelope {
    game: String,
    version: u16,
    /// The [`RoomHandoff`], encoded.
    room: Vec<u8>,
}

/// A blob a node cannot resume.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandoffDecodeError {
    /// The bytes are not a room handoff (or not one this build understands).
    #[error("not a room handoff: {0}")]
    Malformed(String),
    /// A room of another game, or of another version of this one.
    #[error("a room of {blob}, and this node runs {node}")]
    OtherGame {
        /// `name/version` of the blob's game.
        blob: String,
        /// `name/version` of this node's game.
        node: String,
    },
}

fn identity(name: &str, version: u16) -> String {
    format!("{name}/{version}")
}

impl<G: Game> RoomHandoff<G> {
    /// The blob to send (bounded at [`protocol::codec::MAX_BULK_BYTES`]), marked with the
    /// game's name and version.
    pub fn encode(&self) -> Result<Vec<u8>, protocol::codec::CodecError> {
        protocol::codec::encode_bulk(&Envelope {
            game: <G::Protocol as GameProtocol>::NAME.into(),
            version: <G::Protocol as GameProtocol>::VERSION,
            room: protocol::codec::encode_bulk(self)?,
        })
    }

    /// Reads a blob; bounded whatever the bytes are. A room of another game or version is
    /// refused before its state is read.
    pub fn decode(bytes: &[u8]) -> Result<Self, HandoffDecodeError> {
        let malformed =
            |e: protocol::codec::CodecError| HandoffDecodeError::Malformed(e.to_string());
        let envelope: Envelope = protocol::codec::decode_bulk(bytes).map_err(malformed)?;
        let (name, version) = (
            <G::Protocol as GameProtocol>::NAME,
            <G::Protocol as GameProtocol>::VERSION,
        );
        if envelope.game != name || envelope.version != version {
            return Err(HandoffDecodeError::OtherGame {
                blob: identity(&envelope.game, envelope.version),
                node: identity(name, version),
            });
        }
        protocol::codec::decode_bulk(&envelope.room).map_err(malformed)
    }
}
