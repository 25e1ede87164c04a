//! Connect tokens: how a player proves to a room that the matchmaker sent it there.
//!
//! A token is a netcode connect token, encrypted with the key shared by the matchmaker and the
//! nodes. Its private `user_data` carries [`TokenUserData`] (room, ticket and player ids), so a
//! room can refuse a player that was assigned elsewhere. The protocol version is part of the
//! netcode protocol id, so a client built for another version cannot connect.

use std::{net::SocketAddr, time::Duration};

use base64::Engine as _;
use renetcode::{ConnectToken, NETCODE_KEY_BYTES, NETCODE_USER_DATA_BYTES};
use serde::{Deserialize, Serialize};

use crate::codec;

/// Version of this wire protocol; bump on any incompatible change.
pub const PROTOCOL_VERSION: u16 = 4;

/// Longest a connect token may live. Short, so a leaked token is soon useless.
pub const MAX_TOKEN_EXPIRY: Duration = Duration::from_secs(30);

/// Seconds without packets after which either side drops the connection.
pub const CONNECTION_TIMEOUT_SECONDS: i32 = 10;

/// The key that signs and encrypts connect tokens. Shared by the matchmaker and the nodes only.
pub type TokenKey = [u8; NETCODE_KEY_BYTES];

/// Longest player id accepted anywhere (bytes of UTF-8).
pub const MAX_PLAYER_ID_BYTES: usize = 64;

/// What the matchmaker tells a room about the player holding a token. Travels encrypted inside
/// the token, so the client can neither read nor change it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUserData {
    /// The room the player was assigned to.
    pub room_id: u64,
    /// The ticket that got the player there (hex).
    pub ticket_id: String,
    /// The player's id.
    pub player_id: String,
}

/// Why a token could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The user data does not fit the token's 256 bytes.
    #[error("token user data too large ({0} bytes, at most {max})", max = NETCODE_USER_DATA_BYTES - 2)]
    UserDataTooLarge(usize),
    /// The user data bytes are not a valid [`TokenUserData`].
    #[error("token user data invalid: {0}")]
    UserDataInvalid(#[from] codec::CodecError),
    /// Generation failed in netcode (e.g. no server address).
    #[error("connect token generation failed: {0}")]
    Generate(String),
    /// The token text is not valid base64 or not a netcode token.
    #[error("connect token malformed: {0}")]
    Malformed(String),
}

impl TokenUserData {
    /// Packs into netcode's fixed 256 bytes: a 2-byte length, then the encoded struct.
    pub fn to_bytes(&self) -> Result<[u8; NETCODE_USER_DATA_BYTES], TokenError> {
        let body = codec::encode(self)?;
        if body.len() > NETCODE_USER_DATA_BYTES - 2 {
            return Err(TokenError::UserDataTooLarge(body.len()));
        }
        let mut out = [0u8; NETCODE_USER_DATA_BYTES];
        out[..2].copy_from_slice(&(body.len() as u16).to_le_bytes());
        out[2..2 + body.len()].copy_from_slice(&body);
        Ok(out)
    }

    /// The inverse of [`TokenUserData::to_bytes`].
    pub fn from_bytes(bytes: &[u8; NETCODE_USER_DATA_BYTES]) -> Result<Self, TokenError> {
        let len = usize::from(u16::from_le_bytes([bytes[0], bytes[1]]));
        if len > NETCODE_USER_DATA_BYTES - 2 {
            return Err(TokenError::UserDataTooLarge(len));
        }
        Ok(codec::decode(&bytes[2..2 + len])?)
    }
}

/// Issues a connect token for one client to one room server of the game `game`.
///
/// `now` is the time since the Unix epoch (netcode compares expiry against wall-clock seconds);
/// `expiry` is capped at [`MAX_TOKEN_EXPIRY`].
pub fn issue_token(
    key: &TokenKey,
    game: &crate::GameId,
    now: Duration,
    expiry: Duration,
    client_id: u64,
    server_addr: SocketAddr,
    user_data: &TokenUserData,
) -> Result<ConnectToken, TokenError> {
    let expire_seconds = expiry.min(MAX_TOKEN_EXPIRY).as_secs().max(1);
    ConnectToken::generate(
        now,
        game.protocol_id(),
        expire_seconds,
        client_id,
        CONNECTION_TIMEOUT_SECONDS,
        vec![server_addr],
        Some(&user_data.to_bytes()?),
        key,
    )
    .map_err(|e| TokenError::Generate(e.to_string()))
}

/// Encodes a token as base64 text for JSON.
pub fn token_to_base64(token: &ConnectToken) -> String {
    let mut bytes = Vec::with_capacity(2048);
    token
        .write(&mut bytes)
        .expect("writing to a Vec cannot fail");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes a token from base64 text.
pub fn token_from_base64(text: &str) -> Result<ConnectToken, TokenError> {
    // A netcode token is 2048 bytes; its base64 is 2732 characters. Refuse far larger input
    // before decoding it.
    if text.len() > 4096 {
        return Err(TokenError::Malformed("token text too long".into()));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| TokenError::Malformed(e.to_string()))?;
    ConnectToken::read(&mut bytes.as_slice()).map_err(|e| TokenError::Malformed(e.to_string()))
}

/// Reads a 32-byte key written as 64 hex digits (the cluster secret, a token key).
pub fn key_from_hex(text: &str) -> Result<TokenKey, String> {
    let text = text.trim();
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(
            "a key is 64 hex digits (32 bytes); make one with `openssl rand -hex 32`".into(),
        );
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(key)
}

/// Current time since the Unix epoch, as netcode wants it.
pub fn unix_now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// CPU time this process has used so far (user + system). Servers report it in their health,
/// load generators in their reports, so a run can tell whose CPU ran out.
pub fn process_cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return Duration::ZERO;
        }
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Memory this process holds now (resident set), bytes; 0 where the OS does not say.
pub fn process_rss_bytes() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
            return 0;
        };
        let pages: u64 = statm
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
        pages * page
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

/// The netcode connect token type, re-exported for servers that verify tokens.
pub use renetcode::ConnectToken as NetcodeConnectToken;
