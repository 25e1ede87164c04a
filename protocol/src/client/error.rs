//! Why a client could not connect or stopped working.

use std::io;

use crate::{codec, game::GameId, token::TokenError};

/// Why a [`GameClient`](crate::GameClient) or [`Connection`](crate::Connection) could not
/// connect or stopped working.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connect token could not be read.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The assignment is for a room of another game, or another version of this one.
    #[error("the room plays {room}, and this client plays {client}")]
    OtherGame {
        /// The room's game.
        room: GameId,
        /// This client's game.
        client: GameId,
    },
    /// The token was issued for another protocol version than this client speaks.
    #[error(
        "protocol mismatch: token is for protocol id {token:#x}, this client speaks {client:#x} (its game's version and the platform's); update the client"
    )]
    ProtocolMismatch {
        /// Protocol id in the token.
        token: u64,
        /// Protocol id of this build.
        client: u64,
    },
    /// The token names no server address.
    #[error("connect token has no server address")]
    NoServerAddress,
    /// A socket operation failed.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
    /// Netcode refused to start or encrypt.
    #[error("netcode error: {0}")]
    Netcode(String),
    /// A command was not sent: the connection is not up.
    #[error("not connected: the command was not sent")]
    NotConnected,
    /// A command could not be encoded.
    #[error("command does not encode: {0}")]
    Encode(#[from] codec::CodecError),
    /// A command encodes to more than a client may send in one message.
    #[error(
        "command encodes to {0} bytes, more than the {max} a room accepts",
        max = crate::renet_wire::MAX_CLIENT_MESSAGE_BYTES
    )]
    MessageTooLarge(usize),
}
