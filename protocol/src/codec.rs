//! The one place that turns wire messages into bytes and back.
//!
//! Every decode is bounded: bincode is configured with a byte limit so a hostile length prefix
//! cannot make it allocate more than [`MAX_MESSAGE_BYTES`], and a message must consume its whole
//! buffer (trailing bytes are an error, not ignored). Without the limit a 9-byte payload can make
//! bincode try to allocate terabytes and abort the process, which no `catch_unwind` stops.

use serde::{Serialize, de::DeserializeOwned};

/// Largest encoded message accepted or produced. Snapshots and inputs stay far below this; the
/// reliable channel may carry results of up to a few hundred players.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

type Config = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_MESSAGE_BYTES>,
>;

const CONFIG: Config = bincode::config::standard().with_limit::<MAX_MESSAGE_BYTES>();

/// Largest state transfer between nodes (a room moving to another node): bigger than any
/// message to a client, still bounded, since a node decodes what another sent it.
pub const MAX_BULK_BYTES: usize = 4 * 1024 * 1024;

type BulkConfig = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_BULK_BYTES>,
>;

const BULK_CONFIG: BulkConfig = bincode::config::standard().with_limit::<MAX_BULK_BYTES>();

/// Why bytes could not be turned into a message, or a message into bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    /// The buffer ended before the message did.
    #[error("message truncated")]
    Truncated,
    /// A length or the message as a whole exceeds [`MAX_MESSAGE_BYTES`].
    #[error(
        "message exceeds its byte limit ({MAX_MESSAGE_BYTES} on the wire, {MAX_BULK_BYTES} between nodes)"
    )]
    TooLarge,
    /// The message decoded but bytes were left over.
    #[error("{0} trailing bytes after message")]
    TrailingBytes(usize),
    /// The bytes do not form a valid message (bad tag, bad utf-8, ...).
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Encodes a wire message.
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, CodecError> {
    let mut buf = Vec::new();
    encode_into(message, &mut buf)?;
    Ok(buf)
}

/// Encodes a wire message into `buf`, replacing its contents, so hot paths can reuse a buffer.
pub fn encode_into<T: Serialize>(message: &T, buf: &mut Vec<u8>) -> Result<(), CodecError> {
    buf.clear();
    bincode::serde::encode_into_std_write(message, buf, CONFIG)
        .map(|_| ())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if buf.len() > MAX_MESSAGE_BYTES {
        buf.clear();
        return Err(CodecError::TooLarge);
    }
    Ok(())
}

/// Decodes exactly one message from `bytes`. Never panics and never allocates more than the
/// limit, whatever the bytes are.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_limited(bytes, CONFIG, MAX_MESSAGE_BYTES)
}

/// Encodes a state transfer between nodes (up to [`MAX_BULK_BYTES`]).
pub fn encode_bulk<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let bytes = bincode::serde::encode_to_vec(value, BULK_CONFIG)
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if bytes.len() > MAX_BULK_BYTES {
        return Err(CodecError::TooLarge);
    }
    Ok(bytes)
}

/// Decodes a state transfer between nodes, bounded as [`decode`] is, at [`MAX_BULK_BYTES`].
pub fn decode_bulk<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    decode_limited(bytes, BULK_CONFIG, MAX_BULK_BYTES)
}

fn decode_limited<T: DeserializeOwned, C: bincode::config::Config>(
    bytes: &[u8],
    config: C,
    limit: usize,
) -> Result<T, CodecError> {
    if bytes.len() > limit {
        return Err(CodecError::TooLarge);
    }
    let (message, read) =
        bincode::serde::decode_from_slice::<T, _>(bytes, config).map_err(|e| match e {
            bincode::error::DecodeError::UnexpectedEnd { .. } => CodecError::Truncated,
            bincode::error::DecodeError::LimitExceeded => CodecError::TooLarge,
            other => CodecError::Malformed(other.to_string()),
        })?;
    if read != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - read));
    }
    Ok(message)
}
