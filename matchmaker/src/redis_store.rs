//! [`RedisStore`]: tickets in Redis, shared by several matchmaker instances.
//!
//! Layout (every key under a prefix, `rp:` by default):
//! - `{prefix}t:{id}`: a hash per ticket: `mode`, `player_id`, `skill`, `enqueued_ms`,
//!   `updated_ms`, `party_id`, `party_size`, `state` (the [`StateKind`] name) and `status` (the full status as JSON).
//! - `{prefix}q:{mode}`: a sorted set per mode of queued ticket ids, scored by `enqueued_ms`, so
//!   a requeued ticket keeps its place at the front.
//! - `{prefix}slots:{mode}`: a hash of open slots (places in running matches to fill), id to
//!   JSON; whoever deletes a slot fills it.
//! - `{prefix}matched`: a sorted set of claimed (matched) ticket ids, scored by claim time, so
//!   claims of a matchmaker that died mid-allocation can be found and released.
//! - Cluster records: node adverts (`node:{id}`, see [`nodes`]), rooms and their tickets
//!   (`room:{id}`, `node-rooms:{node}`, see [`rooms`]), and copies of running rooms
//!   (`room-copy:{id}`, see [`room_copies`]).
//! - Finished matches: the capped stream `{prefix}matches` and `{prefix}match:{room}` (see
//!   [`match_records`]).
//!
//! Every state change is one Lua script, so it is atomic on the server: a transition is a
//! compare-and-set on `state` that moves queue membership with it, and a claim moves a whole
//! group from queued to matched or changes nothing. Two instances can race freely; at most one
//! wins each ticket. Terminal tickets get a TTL (the retention), so Redis forgets them itself.

use std::time::Duration;

use protocol::api::{Assignment, OpenSlot, Party, TicketStatus};
use redis::{AsyncCommands, Script, aio::ConnectionManager};

mod match_records;
mod nodes;
mod room_copies;
mod rooms;

pub use room_copies::RoomCopy;
pub use rooms::OrphanedRoom;

use crate::{
    history::TicketEvent,
    store::{StoreError, TicketDepths, TicketStore},
    ticket::{StateKind, Ticket, TicketId, now_ms},
};

fn state_name(kind: StateKind) -> &'static str {
    kind.name()
}

/// Tickets read per round trip when a pass reads its queue.
const QUEUE_READ_CHUNK: usize = 1000;

/// History entries kept at most (approximately); older ones are trimmed.
const HISTORY_MAX: u64 = 1_000_000;

/// Failed Redis operations in this process, for the `rallypoint_redis_errors_total` metric.
/// Process-wide rather than per store: a process's stores share one Redis, and an operator
/// asks whether this process could talk to it.
static REDIS_ERRORS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Failed Redis operations in this process since it started.
pub fn redis_errors() -> u64 {
    REDIS_ERRORS.load(std::sync::atomic::Ordering::Relaxed)
}

fn err(e: redis::RedisError) -> StoreError {
    REDIS_ERRORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    StoreError(format!("redis: {e}"))
}

/// Moves one ticket from state ARGV[1] to ARGV[2] (status JSON ARGV[3], time ARGV[4]); keeps the
/// mode's queue in step; sets a TTL of ARGV[5] ms on terminal states; with a history length
/// ARGV[8], records the move. ARGV[9] is the room of an assignment (kept in the `room` field);
/// a non-empty ARGV[10] makes the move conditional on the ticket's `room` being that, and a
/// non-empty ARGV[11] on that room's record KEYS[2] naming node ARGV[11] (or being gone).
/// Returns the ticket's fields after the move (one round trip), or an empty list if it did not
/// move.
const TRANSITION: &str = r#"
local t = KEYS[1]
if redis.call('HGET', t, 'state') ~= ARGV[1] then return {} end
if ARGV[10] ~= '' and redis.call('HGET', t, 'room') ~= ARGV[10] then return {} end
if ARGV[11] ~= '' then
  local owner = redis.call('HGET', KEYS[2], 'node')
  if owner and owner ~= ARGV[11] then return {} end
end
local mode = redis.call('HGET', t, 'mode')
local queue = ARGV[6] .. 'q:' .. mode
redis.call('HSET', t, 'state', ARGV[2], 'status', ARGV[3], 'updated_ms', ARGV[4], 'room', ARGV[9])
if ARGV[2] == 'queued' then
  redis.call('ZADD', queue, redis.call('HGET', t, 'enqueued_ms'), ARGV[7])
else
  redis.call('ZREM', queue, ARGV[7])
end
if ARGV[1] == 'matched' then
  redis.call('ZREM', ARGV[6] .. 'matched', ARGV[7])
end
if ARGV[2] == 'assigned' or ARGV[2] == 'cancelled' or ARGV[2] == 'no_match' then
  redis.call('PEXPIRE', t, ARGV[5])
else
  redis.call('PERSIST', t)
end
if ARGV[8] ~= '' then
  redis.call('XADD', ARGV[6] .. 'history', 'MAXLEN', '~', ARGV[8], '*',
    't', ARGV[7], 'from', ARGV[1], 'to', ARGV[2], 'room', ARGV[9], 'at', ARGV[4])
end
if ARGV[2] == 'assigned' or ARGV[2] == 'cancelled' or ARGV[2] == 'no_match' then
  redis.call('PUBLISH', ARGV[6] .. 'finished', ARGV[7])
end
return redis.call('HGETALL', t)
"#;

/// Claims every ticket in KEYS (ids in ARGV[4..]) if all are queued: all become matched, or
/// nothing changes. ARGV[1] = time, ARGV[2] = prefix, ARGV[3] = history length ('' for none).
/// Returns 1 on success.
const CLAIM: &str = r#"
for i, t in ipairs(KEYS) do
  if redis.call('HGET', t, 'state') ~= 'queued' then return 0 end
end
for i, t in ipairs(KEYS) do
  local id = ARGV[i + 3]
  local mode = redis.call('HGET', t, 'mode')
  redis.call('HSET', t, 'state', 'matched', 'status', '{"state":"matched"}', 'updated_ms', ARGV[1])
  redis.call('ZREM', ARGV[2] .. 'q:' .. mode, id)
  redis.call('ZADD', ARGV[2] .. 'matched', ARGV[1], id)
  if ARGV[3] ~= '' then
    redis.call('XADD', ARGV[2] .. 'history', 'MAXLEN', '~', ARGV[3], '*',
      't', id, 'from', 'queued', 'to', 'matched', 'room', '', 'at', ARGV[1])
  end
end
return 1
"#;

/// What a ticket's move requires besides the ticket being in the state it leaves.
#[derive(Debug, Clone, Copy)]
enum Fence<'a> {
    /// Nothing more.
    State,
    /// The ticket is assigned to this room.
    Room(u64),
    /// The ticket is assigned to this room, and the room is recorded on this node (or not
    /// recorded at all).
    HostedRoom(u64, &'a str),
}

/// The Redis store. Cheap to clone; clones share one multiplexed, self-reconnecting connection.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    /// For the change feed's own (subscribed) connection.
    client: redis::Client,
    prefix: String,
    retention: Duration,
    transition: Script,
    claim: Script,
    room_tickets: Script,
    forget_room: Script,
    /// Whether every state change is also appended to `{prefix}history`.
    history: bool,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to Redis at `url` (e.g. `redis://127.0.0.1:6379`). Fails with a clear error if
    /// Redis cannot be reached now; once connected, the connection re-establishes itself and
    /// operations fail (the API answers 503) only while Redis is away.
    pub async fn connect(url: &str, prefix: &str, retention: Duration) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|e| StoreError(format!("bad Redis URL {url:?}: {e}")))?;
        // Probe once with short timeouts: an unreachable Redis is a prompt, clear error at start,
        // not a long retry loop.
        let probe = tokio::time::timeout(
            Duration::from_secs(3),
            client.get_multiplexed_async_connection_with_config(
                &redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Duration::from_secs(2))
                    .set_response_timeout(Duration::from_secs(2)),
            ),
        )
        .await;
        match probe {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(StoreError(format!("cannot reach Redis at {url}: {e}"))),
            Err(_) => {
                return Err(StoreError(format!(
                    "cannot reach Redis at {url}: timed out"
                )));
            }
        }
        // Reconnect attempts at most 500 ms apart. The factor is the backoff's multiplier: the
        // default (100) would put the second attempt a minute after the first, so a Redis back
        // after a short outage would stay unused for that long.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_secs(2))
            .set_number_of_retries(2)
            .set_factor(2)
            .set_max_delay(500);
        let mut conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(|e| StoreError(format!("cannot reach Redis at {url}: {e}")))?;
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|e| StoreError(format!("Redis at {url} does not answer: {e}")))?;
        Ok(Self {
            conn,
            client,
            prefix: prefix.to_string(),
            retention,
            transition: Script::new(TRANSITION),
            claim: Script::new(CLAIM),
            room_tickets: Script::new(rooms::ROOM_TICKETS),
            forget_room: Script::new(rooms::FORGET_ROOM),
            history: false,
        })
    }

    /// Also records every state change in the stream `{prefix}history` (one `XADD` each),
    /// for [`crate::history::check`]; every instance sharing the store should do the same.
    pub fn with_history(mut self) -> Self {
        self.history = true;
        self
    }

    /// The recorded history, oldest first (empty unless recording).
    pub async fn history(&self) -> Result<Vec<TicketEvent>, StoreError> {
        let mut conn = self.conn.clone();
        let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
            .arg(format!("{}history", self.prefix))
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .map_err(err)?;
        entries
            .into_iter()
            .map(|(entry, fields)| {
                let field = |name: &str| {
                    fields
                        .chunks(2)
                        .find(|kv| kv[0] == name)
                        .and_then(|kv| kv.get(1))
                        .map(String::as_str)
                        .unwrap_or("")
                };
                let bad = || StoreError(format!("history entry {entry} is malformed"));
                Ok(TicketEvent {
                    ticket: field("t").to_string(),
                    from: match field("from") {
                        "" => None,
                        name => Some(StateKind::from_name(name).ok_or_else(bad)?),
                    },
                    to: StateKind::from_name(field("to")).ok_or_else(bad)?,
                    room: field("room").parse().ok(),
                    at_ms: field("at").parse().map_err(|_| bad())?,
                })
            })
            .collect()
    }

    /// A feed of tickets that reached a terminal state, whichever instance finished them (the
    /// scripts publish each on `{prefix}finished`). Resubscribes by itself after Redis comes
    /// back; a change made while unsubscribed is only seen by re-reading. Ends when the
    /// receiver is dropped.
    pub fn finished_tickets(&self) -> tokio::sync::mpsc::UnboundedReceiver<TicketId> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let client = self.client.clone();
        let channel = format!("{}finished", self.prefix);
        tokio::spawn(async move {
            use futures_util::StreamExt as _;
            while !tx.is_closed() {
                let mut pubsub = match client.get_async_pubsub().await {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::debug!(error = %e, "change feed: cannot connect; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                };
                if let Err(e) = pubsub.subscribe(&channel).await {
                    tracing::debug!(error = %e, "change feed: cannot subscribe; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    let Ok(id) = message.get_payload::<String>() else {
                        continue;
                    };
                    if let Ok(id) = id.parse()
                        && tx.send(id).is_err()
                    {
                        return;
                    }
                }
                tracing::debug!("change feed: connection lost; resubscribing");
            }
        });
        rx
    }

    /// The history length to pass to a script: empty when not recording.
    fn history_arg(&self) -> String {
        if self.history {
            HISTORY_MAX.to_string()
        } else {
            String::new()
        }
    }

    /// One compare-and-set move (the `TRANSITION` script), with what else it requires.
    async fn move_ticket(
        &self,
        id: TicketId,
        from: StateKind,
        to: TicketStatus,
        fence: Fence<'_>,
    ) -> Result<Option<Ticket>, StoreError> {
        let mut conn = self.conn.clone();
        let mut invocation = self.transition.prepare_invoke();
        invocation.key(self.key(id));
        let (room, host) = match fence {
            Fence::State => (None, ""),
            Fence::Room(room) => (Some(room), ""),
            Fence::HostedRoom(room, host) => {
                invocation.key(format!("{}room:{room}", self.prefix));
                (Some(room), host)
            }
        };
        let fields: std::collections::HashMap<String, String> = invocation
            .arg(state_name(from))
            .arg(state_name(StateKind::of(&to)))
            .arg(status_json(&to))
            .arg(now_ms())
            .arg(self.retention.as_millis() as u64)
            .arg(&self.prefix)
            .arg(id.to_string())
            .arg(self.history_arg())
            .arg(match &to {
                TicketStatus::Assigned(a) => a.room_id.to_string(),
                _ => String::new(),
            })
            .arg(room.map_or(String::new(), |r| r.to_string()))
            .arg(host)
            .invoke_async(&mut conn)
            .await
            .map_err(err)?;
        if fields.is_empty() {
            return Ok(None);
        }
        Self::decode(id, &fields).map(Some)
    }

    fn key(&self, id: TicketId) -> String {
        format!("{}t:{id}", self.prefix)
    }

    fn decode(
        id: TicketId,
        fields: &std::collections::HashMap<String, String>,
    ) -> Result<Ticket, StoreError> {
        let field = |name: &str| {
            fields
                .get(name)
                .ok_or_else(|| StoreError(format!("ticket {id} in Redis lacks {name}")))
        };
        let number = |name: &str| -> Result<u64, StoreError> {
            field(name)?
                .parse()
                .map_err(|_| StoreError(format!("ticket {id} in Redis has a bad {name}")))
        };
        Ok(Ticket {
            id,
            mode: field("mode")?.clone(),
            player_id: field("player_id")?.clone(),
            skill: field("skill")?
                .parse()
                .map_err(|_| StoreError(format!("ticket {id} in Redis has a bad skill")))?,
            region: fields.get("region").filter(|r| !r.is_empty()).cloned(),
            party: match (fields.get("party_id"), fields.get("party_size")) {
                (Some(id), Some(size)) if !id.is_empty() => Some(Party {
                    id: id.clone(),
                    size: size.parse().map_err(|_| {
                        StoreError(format!("ticket {id} in Redis has a bad party_size"))
                    })?,
                }),
                _ => None,
            },
            enqueued_ms: number("enqueued_ms")?,
            updated_ms: number("updated_ms")?,
            status: serde_json::from_str(field("status")?)
                .map_err(|e| StoreError(format!("ticket {id} in Redis has a bad status: {e}")))?,
        })
    }

    async fn read(&self, id: TicketId) -> Result<Option<Ticket>, StoreError> {
        let mut conn = self.conn.clone();
        let fields: std::collections::HashMap<String, String> =
            conn.hgetall(self.key(id)).await.map_err(err)?;
        if fields.is_empty() {
            return Ok(None);
        }
        Self::decode(id, &fields).map(Some)
    }
}

fn status_json(status: &TicketStatus) -> String {
    serde_json::to_string(status).expect("a ticket status always serializes")
}

impl TicketStore for RedisStore {
    async fn insert(&self, ticket: Ticket) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let kind = StateKind::of(&ticket.status);
        let key = self.key(ticket.id);
        let mut pipe = redis::pipe();
        pipe.atomic().hset_multiple(
            &key,
            &[
                ("mode", ticket.mode.clone()),
                ("player_id", ticket.player_id.clone()),
                ("skill", ticket.skill.to_string()),
                ("region", ticket.region.clone().unwrap_or_default()),
                (
                    "party_id",
                    ticket
                        .party
                        .as_ref()
                        .map_or(String::new(), |p| p.id.clone()),
                ),
                (
                    "party_size",
                    ticket.party.as_ref().map_or(0, |p| p.size).to_string(),
                ),
                ("enqueued_ms", ticket.enqueued_ms.to_string()),
                ("updated_ms", ticket.updated_ms.to_string()),
                ("state", state_name(kind).to_string()),
                ("status", status_json(&ticket.status)),
            ],
        );
        if kind == StateKind::Queued {
            pipe.zadd(
                format!("{}q:{}", self.prefix, ticket.mode),
                ticket.id.to_string(),
                ticket.enqueued_ms,
            );
        }
        if self.history {
            pipe.cmd("XADD")
                .arg(format!("{}history", self.prefix))
                .arg("MAXLEN")
                .arg("~")
                .arg(HISTORY_MAX)
                .arg("*")
                .arg(&[
                    ("t", ticket.id.to_string()),
                    ("from", String::new()),
                    ("to", state_name(kind).to_string()),
                    ("room", String::new()),
                    ("at", ticket.updated_ms.to_string()),
                ])
                .ignore();
        }
        pipe.query_async::<()>(&mut conn).await.map_err(err)
    }

    async fn get(&self, id: TicketId) -> Result<Option<Ticket>, StoreError> {
        self.read(id).await
    }

    async fn queued(&self, mode: &str, limit: usize) -> Result<Vec<Ticket>, StoreError> {
        let mut conn = self.conn.clone();
        let last = isize::try_from(limit)
            .unwrap_or(isize::MAX)
            .saturating_sub(1);
        let ids: Vec<String> = conn
            .zrange(format!("{}q:{mode}", self.prefix), 0, last)
            .await
            .map_err(err)?;
        let ids: Vec<TicketId> = ids.iter().filter_map(|s| s.parse().ok()).collect();
        let mut tickets = Vec::with_capacity(ids.len());
        // In chunks, so no single reply holds the shared connection for long.
        for chunk in ids.chunks(QUEUE_READ_CHUNK) {
            let mut pipe = redis::pipe();
            for &id in chunk {
                pipe.hgetall(self.key(id));
            }
            let rows: Vec<std::collections::HashMap<String, String>> =
                pipe.query_async(&mut conn).await.map_err(err)?;
            for (&id, fields) in chunk.iter().zip(rows) {
                // A ticket that finished between the two reads is simply not queued any more.
                if !fields.is_empty() {
                    let t = Self::decode(id, &fields)?;
                    if matches!(t.status, TicketStatus::Queued) {
                        tickets.push(t);
                    }
                }
            }
        }
        Ok(tickets)
    }

    async fn claim(&self, ids: &[TicketId]) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let mut invocation = self.claim.prepare_invoke();
        invocation
            .arg(now_ms())
            .arg(&self.prefix)
            .arg(self.history_arg());
        for &id in ids {
            invocation.key(self.key(id)).arg(id.to_string());
        }
        let claimed: i64 = invocation.invoke_async(&mut conn).await.map_err(err)?;
        Ok(claimed == 1)
    }

    async fn transition(
        &self,
        id: TicketId,
        from: StateKind,
        to: TicketStatus,
    ) -> Result<Option<Ticket>, StoreError> {
        self.move_ticket(id, from, to, Fence::State).await
    }

    async fn requeue_from_room(
        &self,
        id: TicketId,
        room_id: u64,
    ) -> Result<Option<Ticket>, StoreError> {
        self.move_ticket(
            id,
            StateKind::Assigned,
            TicketStatus::Queued,
            Fence::Room(room_id),
        )
        .await
    }

    async fn move_assignment(
        &self,
        id: TicketId,
        room_id: u64,
        to: Assignment,
    ) -> Result<Option<Ticket>, StoreError> {
        if to.room_id != room_id {
            return Ok(None);
        }
        self.move_ticket(
            id,
            StateKind::Assigned,
            TicketStatus::Assigned(to),
            Fence::Room(room_id),
        )
        .await
    }

    async fn stale_matched(&self, before_ms: u64) -> Result<Vec<TicketId>, StoreError> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = conn
            .zrangebyscore(
                format!("{}matched", self.prefix),
                "-inf",
                format!("({before_ms}"),
            )
            .await
            .map_err(err)?;
        Ok(ids.iter().filter_map(|s| s.parse().ok()).collect())
    }

    async fn depths(&self, modes: &[String]) -> Result<TicketDepths, StoreError> {
        let mut pipe = redis::pipe();
        for mode in modes {
            pipe.zcard(format!("{}q:{mode}", self.prefix));
        }
        pipe.zcard(format!("{}matched", self.prefix));
        let mut counts: Vec<u64> = pipe
            .query_async(&mut self.conn.clone())
            .await
            .map_err(err)?;
        let matched = counts.pop().unwrap_or(0);
        Ok(TicketDepths {
            queued: counts,
            matched,
        })
    }

    async fn purge_terminal(&self, _before_ms: u64) -> Result<usize, StoreError> {
        // Terminal tickets carry a TTL; Redis removes them itself.
        Ok(0)
    }

    async fn open_slot(&self, slot: OpenSlot) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let json = serde_json::to_string(&slot).expect("a slot always serializes");
        conn.hset(
            format!("{}slots:{}", self.prefix, slot.mode),
            &slot.id,
            json,
        )
        .await
        .map_err(err)
    }

    async fn open_slots(&self, mode: &str) -> Result<Vec<OpenSlot>, StoreError> {
        let mut conn = self.conn.clone();
        let values: Vec<String> = conn
            .hvals(format!("{}slots:{mode}", self.prefix))
            .await
            .map_err(err)?;
        // A slot that does not parse is skipped (and expires with nobody to fill it).
        Ok(values
            .iter()
            .filter_map(|v| serde_json::from_str(v).ok())
            .collect())
    }

    async fn take_slot(&self, mode: &str, id: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let removed: i64 = conn
            .hdel(format!("{}slots:{mode}", self.prefix), id)
            .await
            .map_err(err)?;
        Ok(removed == 1)
    }
}
