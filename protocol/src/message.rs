//! Messages exchanged between a game client and a room, and the channels that carry them.
//!
//! Two channels in each direction:
//! - [`Channel::Events`], reliable and ordered: [`ServerEvent`] from the room, [`ClientEvent`]
//!   from the client. Structural things: welcome, joins, leaves, match start and end.
//! - [`Channel::State`], unreliable: [`Snapshot`] from the room, [`InputPacket`] from the client.
//!   Each input packet repeats the last few inputs so one lost packet loses no input, and carries
//!   the newest snapshot tick the client has seen (its ack).

use serde::{Deserialize, Serialize};

use crate::game::GameProtocol;

/// Most inputs one [`InputPacket`] may carry; a packet with more is rejected by the room.
pub const MAX_INPUTS_PER_PACKET: usize = 8;

/// How many recent inputs a client repeats in each [`InputPacket`].
pub const INPUT_REDUNDANCY: usize = 4;

/// A renet channel. The numeric ids are part of the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Reliable, ordered: events in both directions.
    Events,
    /// Unreliable: snapshots (server to client) and inputs (client to server).
    State,
}

impl From<Channel> for u8 {
    fn from(channel: Channel) -> u8 {
        match channel {
            Channel::Events => 0,
            Channel::State => 1,
        }
    }
}

/// Maps an angle in radians onto 16 bits (precision 2π/65536 ≈ 0.0055°). Non-finite input maps to 0.
pub fn quantize_angle(radians: f32) -> u16 {
    if !radians.is_finite() {
        return 0;
    }
    let turns = (radians / std::f32::consts::TAU).rem_euclid(1.0);
    ((turns * 65536.0) as u32 & 0xffff) as u16
}

/// The inverse of [`quantize_angle`].
pub fn dequantize_angle(q: u16) -> f32 {
    f32::from(q) / 65536.0 * std::f32::consts::TAU
}

/// A game's input tagged with the client's sequence number (1, 2, 3, ... per connection) and
/// the room tick it is meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFrame<I> {
    /// Sequence number, increasing by one per input.
    pub seq: u32,
    /// The room tick this input is for (see [`crate::InputClock`]). The room applies it at that
    /// tick, or at once if that tick has passed; 0 means "as soon as it arrives".
    pub tick: u32,
    /// The input.
    pub input: I,
}

/// Client to room, unreliable: the newest inputs (oldest first) and the newest snapshot tick seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputPacket<I> {
    /// Tick of the newest snapshot the client has received (0 before the first).
    pub ack_tick: u32,
    /// Up to [`MAX_INPUTS_PER_PACKET`] inputs, oldest first.
    pub inputs: Vec<InputFrame<I>>,
}

/// Client to room, reliable and ordered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
pub enum ClientEvent<G: GameProtocol> {
    /// The player leaves on purpose; the room treats the disconnect that follows as expected.
    Leave,
    /// One of the game's own actions; the room validates it and hands it to the game at the
    /// next tick.
    Command(G::Command),
}

/// Why a match ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The match clock ran out.
    TimeLimit,
    /// The game declared the match over (a score reached, the last trick played).
    Finished,
    /// Too few players were left to go on.
    Abandoned,
}

/// One player's place in a finished match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// The player's id as given when it queued.
    pub player_id: String,
    /// The player's team.
    pub team: u8,
    /// 1 for the winner(s); players who tie share a rank.
    pub rank: u32,
}

/// The results of a finished match: the platform's placements and the game's own payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchResults<R> {
    /// Why it ended.
    pub reason: EndReason,
    /// Ticks played while the match ran.
    pub ticks_played: u32,
    /// One entry per player who took part, best rank first.
    pub placements: Vec<Placement>,
    /// What the game reports beyond placements (scores, a replay seed, statistics).
    pub game: R,
}

/// Room to client, reliable and ordered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound = "")]
pub enum ServerEvent<G: GameProtocol> {
    /// First event after connecting: who you are in this room.
    Welcome {
        /// The room's id.
        room_id: u64,
        /// Your player id.
        player_id: String,
        /// Your team (players with the same team do not hurt each other).
        team: u8,
        /// Network id in snapshots of the entity you control, if the game gives players one.
        entity_id: Option<u32>,
        /// Room ticks per second.
        tick_rate: u16,
        /// Match length in milliseconds; `None` when only the game ends the match.
        match_duration_ms: Option<u32>,
        /// The game's static match information.
        game: G::Welcome,
    },
    /// Another player joined.
    PlayerJoined {
        /// Their player id.
        player_id: String,
        /// Their team.
        team: u8,
        /// Network id of the entity they control, if any.
        entity_id: Option<u32>,
    },
    /// A player left.
    PlayerLeft {
        /// Their player id.
        player_id: String,
    },
    /// The match clock started.
    MatchStarted {
        /// The tick at which it started.
        tick: u32,
    },
    /// One of the game's own events.
    Game(G::Event),
    /// The match is over; the room closes shortly after sending this.
    MatchEnded(MatchResults<G::Results>),
    /// The room failed (it kept crashing, or hung) and closes; the player's ticket is back at
    /// the front of the matchmaker's queue, so keep polling it for a new assignment.
    RoomFailed {
        /// What happened.
        reason: String,
    },
    /// The room refuses or drops this client, and says why.
    Error {
        /// A stable machine-readable code.
        code: String,
        /// A sentence for humans.
        message: String,
    },
    /// The match is moving to another server (its node is draining or being upgraded): the
    /// room has stopped and will resume there, where this player is expected. [`GameClient`]
    /// reconnects with the token by itself and passes the event on for the game to show.
    ///
    /// [`GameClient`]: crate::GameClient
    Migrate {
        /// A netcode connect token for the new server, base64 as in an assignment.
        connect_token: String,
    },
}

/// The renet connection configuration both ends must share.
pub fn connection_config() -> renet::ConnectionConfig {
    use renet::{ChannelConfig, SendType};
    let channels = vec![
        ChannelConfig {
            channel_id: Channel::Events.into(),
            max_memory_usage_bytes: 1024 * 1024,
            send_type: SendType::ReliableOrdered {
                resend_time: std::time::Duration::from_millis(200),
            },
        },
        ChannelConfig {
            channel_id: Channel::State.into(),
            max_memory_usage_bytes: 256 * 1024,
            send_type: SendType::Unreliable,
        },
    ];
    renet::ConnectionConfig {
        available_bytes_per_tick: 60_000,
        server_channels_config: channels.clone(),
        client_channels_config: channels,
    }
}
