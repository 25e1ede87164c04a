//! The matchmaker's HTTP/JSON API types (`/v1`), shared by the server and every client.

use serde::{Deserialize, Serialize};

/// `POST /v1/tickets` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTicketRequest {
    /// Game mode to queue for, e.g. `"duel"`.
    pub mode: String,
    /// Skill rating; players are matched with others near it. Defaults to 1000.
    #[serde(default)]
    pub skill: Option<f64>,
    /// The player's id (1..=64 bytes); generated when absent.
    #[serde(default)]
    pub player_id: Option<String>,
    /// Measured round-trip times to regions, in ms (e.g. `{"eu": 30, "us": 120}`). The player
    /// is matched with others whose best region is the same, and placed on a node there.
    #[serde(default)]
    pub latencies: Option<std::collections::BTreeMap<String, u32>>,
    /// The party this player queues with: every member sends the same party, and all of them
    /// land in the same match and on the same team.
    #[serde(default)]
    pub party: Option<Party>,
}

impl CreateTicketRequest {
    /// A request for `mode` with everything else left to the matchmaker's defaults.
    pub fn new(mode: impl Into<String>) -> Self {
        Self {
            mode: mode.into(),
            skill: None,
            player_id: None,
            latencies: None,
            party: None,
        }
    }

    /// A request for `mode` by the player `player_id`.
    pub fn for_player(mode: impl Into<String>, player_id: impl Into<String>) -> Self {
        Self {
            player_id: Some(player_id.into()),
            ..Self::new(mode)
        }
    }
}

/// A party: players who queue together. Each member creates its own ticket naming the party;
/// the party is matched once `size` members with the same `id` and `size` are queued.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    /// Chosen by the party (1..=64 bytes); keep it hard to guess, as anyone who knows it can
    /// join the party's queue.
    pub id: String,
    /// How many members it has (2 to the mode's team size).
    pub size: u8,
}

/// Where a ticket stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TicketStatus {
    /// Waiting in the queue.
    Queued,
    /// Grouped into a match; a room is being allocated.
    Matched,
    /// A room is ready: connect with the token. Terminal.
    Assigned(Assignment),
    /// Cancelled by the player. Terminal.
    Cancelled,
    /// No match was found within the mode's maximum wait (`"no_match"`). Terminal.
    NoMatch,
}

impl TicketStatus {
    /// Whether the ticket can change no more.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Assigned(_) | Self::Cancelled | Self::NoMatch)
    }
}

/// Where to play: a room's address and a connect token for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The room's UDP address.
    pub server_addr: String,
    /// Netcode connect token, base64; see [`crate::token_from_base64`].
    pub connect_token: String,
    /// The room's id.
    pub room_id: u64,
    /// The player's id in that room.
    pub player_id: String,
    /// The player's team in that room.
    #[serde(default)]
    pub team: u8,
    /// The game (and version) the room plays: a client of another refuses to connect, saying
    /// so.
    pub game: crate::GameId,
}

/// A ticket as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketView {
    /// Unguessable ticket id (32 hex digits).
    pub id: String,
    /// Game mode.
    pub mode: String,
    /// The player's id.
    pub player_id: String,
    /// Skill rating.
    pub skill: f64,
    /// The region the player is matched in (its lowest latency), if it gave latencies.
    #[serde(default)]
    pub region: Option<String>,
    /// The party it queued with, if any.
    #[serde(default)]
    pub party: Option<Party>,
    /// Current state: `{"state": "queued"}`, or `{"state": "assigned", "server_addr": ...}`.
    pub status: TicketStatus,
    /// Once the match it was assigned to has ended: its results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<MatchRecord>,
}

/// Most match records a matchmaker keeps in memory, and about how many the cluster's Redis
/// stream keeps; the oldest go first.
pub const MAX_MATCH_RECORDS: usize = 10_000;

/// A finished match as the platform keeps it (`GET /v1/matches/{room_id}`, and on each of its
/// tickets): the platform's placements and the game's own results, as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchRecord {
    /// The room that played it.
    pub room_id: u64,
    /// The game's name.
    pub game: String,
    /// The mode.
    pub mode: String,
    /// When it ended (ms since the Unix epoch).
    pub ended_ms: u64,
    /// Why it ended.
    pub reason: crate::EndReason,
    /// Ticks played while the match ran.
    pub ticks_played: u32,
    /// One per player who took part, best rank first.
    pub placements: Vec<crate::Placement>,
    /// The game's own results (e.g. kills and deaths per player).
    pub results: serde_json::Value,
}

/// Every error body: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong, for programs (`code`) and people (`message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `"unknown_mode"`.
    pub code: String,
    /// What happened and what to do.
    pub message: String,
}

/// `GET /v1/health` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `"ok"` while the process serves.
    pub status: String,
    /// Rooms running on this node.
    pub rooms: usize,
    /// Most rooms this node will host at once.
    pub room_capacity: usize,
    /// Players connected to rooms on this node.
    pub players: usize,
    /// Room simulation restarts since start.
    pub restarts: u64,
    /// Rooms that failed since start (restart intensity exceeded, hung, or broken).
    pub rooms_failed: u64,
    /// Worker threads replaced because a room's tick hung.
    pub workers_replaced: u64,
    /// CPU time the server process has used (user + system), milliseconds.
    #[serde(default)]
    pub cpu_ms: u64,
    /// Memory the server process holds now (resident), bytes.
    #[serde(default)]
    pub rss_bytes: u64,
    /// Room ticks run since start.
    #[serde(default)]
    pub ticks: u64,
    /// Room ticks skipped because a room fell more than a tick behind.
    #[serde(default)]
    pub ticks_skipped: u64,
    /// Datagrams received by room sockets since start.
    #[serde(default)]
    pub packets_in: u64,
    /// Datagrams sent by room sockets since start.
    #[serde(default)]
    pub packets_out: u64,
    /// UDP payload bytes received by room sockets since start.
    #[serde(default)]
    pub bytes_in: u64,
    /// UDP payload bytes sent by room sockets since start.
    #[serde(default)]
    pub bytes_out: u64,
    /// How long room ticks ran: cumulative histogram since start.
    #[serde(default)]
    pub tick_duration_us: Vec<Bucket>,
    /// From each tick's deadline to its end (lateness plus run time): cumulative histogram.
    #[serde(default)]
    pub tick_lag_us: Vec<Bucket>,
    /// Inputs applied since start, by how many ticks each waited in its room (index: ticks;
    /// the last entry counts that many or more).
    #[serde(default)]
    pub input_delay_ticks: Vec<u64>,
    /// Inputs applied after the tick they were for, since start.
    #[serde(default)]
    pub inputs_late: u64,
    /// Inputs merged into a newer one for the same tick, since start.
    #[serde(default)]
    pub inputs_merged: u64,
}

/// One bucket of a cumulative histogram: `count` observations were at most `le_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Upper bound, microseconds (`u64::MAX` for the last bucket).
    pub le_us: u64,
    /// Observations at or below it.
    pub count: u64,
}

/// Between two readings of the same cumulative histogram: the upper bound of the bucket that
/// holds quantile `q` of the observations made in between, or `None` if there were none.
pub fn bucket_quantile(before: &[Bucket], after: &[Bucket], q: f64) -> Option<u64> {
    let window = |i: usize| after[i].count - before.get(i).map_or(0, |b| b.count);
    let total = window(after.len().checked_sub(1)?);
    if total == 0 {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * total as f64).ceil().max(1.0) as u64;
    (0..after.len())
        .find(|&i| window(i) >= rank)
        .map(|i| after[i].le_us)
}

/// Between two readings of the same cumulative histogram: how many observations exceeded
/// `le_us` (which must be one of its bounds).
pub fn bucket_count_above(before: &[Bucket], after: &[Bucket], le_us: u64) -> u64 {
    let window = |i: usize| after[i].count - before.get(i).map_or(0, |b| b.count);
    let Some(last) = after.len().checked_sub(1) else {
        return 0;
    };
    let at = after.iter().position(|b| b.le_us == le_us).unwrap_or(last);
    window(last) - window(at)
}

/// One entry of `GET /v1/rooms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    /// The room's id.
    pub id: u64,
    /// Game mode.
    pub mode: String,
    /// UDP address clients connect to.
    pub addr: String,
    /// `"waiting"`, `"running"` or `"ended"`.
    pub phase: String,
    /// Players the match was made for.
    pub expected_players: usize,
    /// Players connected now.
    pub connected_players: usize,
    /// Current room tick.
    pub tick: u32,
    /// Times the room's simulation was restarted after a panic.
    pub restarts: u64,
    /// 99th percentile of tick run time, microseconds.
    pub tick_p99_us: u64,
    /// 99th percentile of how late ticks started after their deadline, microseconds.
    pub late_p99_us: u64,
}

/// What fault to inject into a room (`POST /v1/admin/rooms/{id}/fault`; tests and chaos runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The room's next tick panics inside the simulation.
    Panic,
    /// The room's next tick never returns.
    Hang,
    /// The room's next tick burns `ms` milliseconds of CPU.
    Slow,
}

/// `POST /v1/admin/rooms/{id}/fault` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    /// The fault.
    pub kind: FaultKind,
    /// Milliseconds, for `slow` (1 to 10000).
    #[serde(default)]
    pub ms: Option<u64>,
}

/// A node as it advertises itself to the matchmakers (heartbeat, every second, with a TTL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAdvert {
    /// Unique per node process.
    pub id: String,
    /// Region, e.g. `"eu"`.
    pub region: String,
    /// Base URL of the node's HTTP API, for allocation requests.
    pub api: String,
    /// The game (and version) its rooms play.
    pub game: crate::GameId,
    /// Game modes it hosts.
    pub modes: Vec<String>,
    /// Most rooms it hosts at once.
    pub capacity: usize,
    /// Rooms running now.
    pub rooms: usize,
    /// Whether it is draining (takes no new rooms).
    pub draining: bool,
    /// When this advert was written, milliseconds since the Unix epoch.
    pub heartbeat_ms: u64,
}

/// A player a room is requested for (`POST /v1/internal/rooms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomPlayer {
    /// The player's id.
    pub player_id: String,
    /// The ticket that placed them.
    pub ticket_id: String,
    /// Their team.
    #[serde(default)]
    pub team: u8,
}

/// `POST /v1/internal/rooms` body: a matchmaker asks a node for a room (cluster secret
/// required).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomRequest {
    /// Game mode.
    pub mode: String,
    /// Everyone the match was made for.
    pub players: Vec<RoomPlayer>,
    /// How the mode's rooms run (what it leaves out, the node decides).
    #[serde(default)]
    pub rules: RoomRules,
}

/// How a mode's rooms run, as the matchmaker's mode says; a node fills in what it leaves out
/// from its own flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRules {
    /// The match clock, once the match starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit: Option<TimeLimit>,
    /// How long a room waits for all its players before starting with those present (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_timeout_ms: Option<u64>,
    /// Fewest players present for a match to start once the join timeout is over (fewer:
    /// the room closes, abandoned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_players: Option<u16>,
}

/// A mode's match clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeLimit {
    /// The match ends this many ms after it starts, if the game has not ended it before.
    Ms(u64),
    /// No clock: only the game ends the match.
    None,
}

/// `POST /v1/internal/rooms` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomGranted {
    /// The room's id.
    pub room_id: u64,
    /// The room's UDP address for clients.
    pub addr: String,
    /// The game the room plays: tokens for it are issued for this game's version.
    pub game: crate::GameId,
}

/// A place in a running match that its room wants filled: a player left early. Rooms open
/// slots; matchmakers fill each with one queued player (`POST
/// /v1/internal/rooms/{room_id}/players` on the room's node).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenSlot {
    /// Unique per slot (32 hex digits); taking it is what keeps two matchmakers from filling
    /// it twice.
    pub id: String,
    /// The room.
    pub room_id: u64,
    /// Its game mode.
    pub mode: String,
    /// The team to join.
    pub team: u8,
    /// The room's region, if it has one: the replacement must be from there.
    #[serde(default)]
    pub region: Option<String>,
    /// The node hosting the room (distributed mode).
    #[serde(default)]
    pub node: Option<String>,
    /// After this (milliseconds since the Unix epoch) the slot is not worth filling.
    pub expires_ms: u64,
}

/// `GET /v1/overview`: what the dashboard shows, in one read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    /// Where this answer came from: `"embedded"` (one process) or `"matchmaker"`.
    pub source: String,
    /// Queued tickets per mode.
    pub queues: Vec<QueueDepth>,
    /// Tickets claimed by a match, not yet assigned.
    pub matched: u64,
    /// Tickets created since this matchmaker started.
    pub tickets_created: u64,
    /// Matches made since this matchmaker started.
    pub matches: u64,
    /// The nodes, each with its health and rooms.
    pub nodes: Vec<NodeOverview>,
}

/// Queued tickets of one mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueDepth {
    /// The mode.
    pub mode: String,
    /// Tickets queued.
    pub queued: u64,
}

/// One node in an [`Overview`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeOverview {
    /// The node's id.
    pub id: String,
    /// Base URL of its HTTP API (where its spectator feeds are); empty for the process that
    /// answered.
    pub api: String,
    /// Its region.
    pub region: String,
    /// The game (and version) its rooms play.
    pub game: crate::GameId,
    /// The modes it hosts.
    pub modes: Vec<String>,
    /// Whether it drains.
    pub draining: bool,
    /// Its health, if it answered.
    pub health: Option<Health>,
    /// Its rooms, if it answered.
    pub rooms: Vec<RoomSummary>,
    /// Why it did not answer.
    pub error: Option<String>,
}

/// One frame of a room's spectator feed (`GET /v1/rooms/{id}/spectate`, a WebSocket of JSON
/// text frames, about 15 per second).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpectatorFrame {
    /// The room.
    pub room_id: u64,
    /// The room tick shown.
    pub tick: u32,
    /// `"waiting"`, `"running"`, `"ended"` or `"failed"`.
    pub phase: String,
    /// The game's name.
    pub game: String,
    /// The game's welcome for this match (its static match information), as JSON: what a
    /// game's drawing code needs to lay out the view (e.g. a field's size).
    pub welcome: serde_json::Value,
    /// Every replicated entity.
    pub entities: Vec<SpectatorEntity>,
    /// Every player placed in the room.
    pub players: Vec<SpectatorPlayer>,
}

/// An entity in a [`SpectatorFrame`], whatever the game: its declared state's fields by name
/// ([`crate::replicate::Replicated::to_json`]) and who may see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpectatorEntity {
    /// Network id.
    pub id: u32,
    /// Its place in world units (x, y, z), if its state declares one.
    pub position: Option<[f32; 3]>,
    /// Which players are sent it. A spectator sees every entity, as an admin would; this
    /// marks what players do not see (another player's hand).
    pub seen_by: SeenBy,
    /// The state's fields by name, in world units where the field has them.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// Which players are sent an entity (the room's relevance scope for it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeenBy {
    /// Players near it (within their interest radius).
    Nearby,
    /// Every player.
    Everyone,
    /// Only the player it belongs to (by player id; `None` if that player is gone).
    Owner(Option<String>),
    /// Only the players of a team.
    Team(u8),
}

/// A player in a [`SpectatorFrame`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpectatorPlayer {
    /// The player's id.
    pub player_id: String,
    /// Team.
    pub team: u8,
    /// Network id of the entity the player controls, if the game gives players one.
    pub avatar: Option<u32>,
    /// Whether connected now.
    pub connected: bool,
    /// Score, as the game counts it.
    pub score: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(counts: &[u64]) -> Vec<Bucket> {
        let bounds = [10, 100, 1000, u64::MAX];
        bounds
            .iter()
            .zip(counts)
            .map(|(&le_us, &count)| Bucket { le_us, count })
            .collect()
    }

    #[test]
    fn quantiles_and_tails_come_from_the_window_between_two_readings() {
        let before = reading(&[5, 5, 5, 5]);
        // In between: 90 at <= 10, 9 in (10, 100], 1 in (100, 1000].
        let after = reading(&[95, 104, 105, 105]);
        assert_eq!(bucket_quantile(&before, &after, 0.5), Some(10));
        assert_eq!(bucket_quantile(&before, &after, 0.95), Some(100));
        assert_eq!(bucket_quantile(&before, &after, 0.999), Some(1000));
        assert_eq!(bucket_count_above(&before, &after, 10), 10);
        assert_eq!(bucket_count_above(&before, &after, 100), 1);
        assert_eq!(bucket_count_above(&before, &after, 1000), 0);
        assert_eq!(bucket_quantile(&after, &after, 0.99), None);
        assert_eq!(bucket_quantile(&[], &[], 0.99), None);
    }
}
