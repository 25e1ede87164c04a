//! Rooms and their tickets: `{prefix}room:{id}` (its node and its players' tickets) and
//! `{prefix}node-rooms:{node}`, so a dead node's rooms are found and their players requeued or
//! moved, fenced by where each room is recorded.

use protocol::api::TicketStatus;
use redis::AsyncCommands;

use super::{Fence, RedisStore, err};
use crate::{
    store::StoreError,
    ticket::{StateKind, TicketId},
};

/// Adds ARGV[2] to (ARGV[3] = "add") or removes it from the ticket list of the room record
/// KEYS[1], if that room is recorded on node ARGV[1].
pub(super) const ROOM_TICKETS: &str = r#"
if redis.call('HGET', KEYS[1], 'node') ~= ARGV[1] then return 0 end
local tickets = cjson.decode(redis.call('HGET', KEYS[1], 'tickets'))
local kept = {}
for _, t in ipairs(tickets) do
  if t ~= ARGV[2] then table.insert(kept, t) end
end
if ARGV[3] == 'add' then table.insert(kept, ARGV[2]) end
local json = '[]'
if #kept > 0 then json = cjson.encode(kept) end
redis.call('HSET', KEYS[1], 'tickets', json)
return 1
"#;

/// Forgets room ARGV[2] on node ARGV[1]: drops it from the node's set KEYS[2] and, if the
/// record KEYS[1] names that node (or is gone), the record and the room's copy KEYS[3].
pub(super) const FORGET_ROOM: &str = r#"
redis.call('SREM', KEYS[2], ARGV[2])
local owner = redis.call('HGET', KEYS[1], 'node')
if owner == false or owner == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[3])
end
return 0
"#;

/// A room whose node is gone, with the tickets placed in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanedRoom {
    /// The node that hosted it.
    pub node: String,
    /// The room.
    pub room_id: u64,
    /// Its players' tickets.
    pub tickets: Vec<String>,
}

impl RedisStore {
    /// Records that `node` hosts `room_id` for these tickets, so they can be requeued if the
    /// node dies.
    pub async fn record_room(
        &self,
        node: &str,
        room_id: u64,
        tickets: &[String],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let p = &self.prefix;
        redis::pipe()
            .atomic()
            .hset_multiple(
                format!("{p}room:{room_id}"),
                &[
                    ("node", node.to_string()),
                    (
                        "tickets",
                        serde_json::to_string(tickets).expect("strings serialize"),
                    ),
                ],
            )
            .sadd(format!("{p}node-rooms:{node}"), room_id)
            .sadd(format!("{p}room-nodes"), node)
            .query_async::<()>(&mut conn)
            .await
            .map_err(err)
    }

    /// Adds a ticket to a recorded room (a replacement player), or removes one with
    /// `remove` (a player who left, whose ticket is no longer the room's to give back).
    async fn edit_room_tickets(
        &self,
        node: &str,
        room_id: u64,
        ticket: &str,
        remove: bool,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        self.room_tickets
            .key(format!("{}room:{room_id}", self.prefix))
            .arg(node)
            .arg(ticket)
            .arg(if remove { "remove" } else { "add" })
            .invoke_async::<()>(&mut conn)
            .await
            .map_err(err)
    }

    /// Adds a replacement player's ticket to a recorded room.
    pub async fn add_room_ticket(
        &self,
        node: &str,
        room_id: u64,
        ticket: &str,
    ) -> Result<(), StoreError> {
        self.edit_room_tickets(node, room_id, ticket, false).await
    }

    /// Removes the ticket of a player who left from a recorded room.
    pub async fn remove_room_ticket(
        &self,
        node: &str,
        room_id: u64,
        ticket: &str,
    ) -> Result<(), StoreError> {
        self.edit_room_tickets(node, room_id, ticket, true).await
    }

    /// Forgets a room that closed on `node` (or whose tickets were requeued): its record and
    /// its copy, unless the room is recorded on another node by now (it was resumed there
    /// while this node was cut off), which keeps both.
    pub async fn forget_room(&self, node: &str, room_id: u64) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let p = &self.prefix;
        self.forget_room
            .key(format!("{p}room:{room_id}"))
            .key(format!("{p}node-rooms:{node}"))
            .key(self.copy_key(room_id))
            .arg(node)
            .arg(room_id)
            .invoke_async::<()>(&mut conn)
            .await
            .map_err(err)
    }

    /// What a node does with a room of its own that failed: its tickets back to the queue,
    /// each only while it is still assigned to the room and the room is still recorded on
    /// `node` (or no longer recorded at all), both checked in the script that moves it. A room
    /// resumed elsewhere while this node was cut off keeps its players. Malformed ids are
    /// skipped; returns the ids that went back.
    pub async fn requeue_hosted_room(
        &self,
        node: &str,
        room_id: u64,
        ticket_ids: &[String],
    ) -> Result<Vec<TicketId>, StoreError> {
        crate::service::requeue_each(ticket_ids, |id| {
            self.move_ticket(
                id,
                StateKind::Assigned,
                TicketStatus::Queued,
                Fence::HostedRoom(room_id, node),
            )
        })
        .await
    }

    /// Records that a room moved from node `from` to node `to` (live migration): if `to` dies,
    /// the room's tickets are its to give back.
    pub async fn move_room(&self, from: &str, to: &str, room_id: u64) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let p = &self.prefix;
        redis::pipe()
            .atomic()
            .hset(format!("{p}room:{room_id}"), "node", to)
            .srem(format!("{p}node-rooms:{from}"), room_id)
            .sadd(format!("{p}node-rooms:{to}"), room_id)
            .sadd(format!("{p}room-nodes"), to)
            .query_async::<()>(&mut conn)
            .await
            .map_err(err)
    }

    /// Rooms recorded on nodes that are not in `live` (their adverts expired).
    pub async fn orphaned_rooms(
        &self,
        live: &std::collections::HashSet<String>,
    ) -> Result<Vec<OrphanedRoom>, StoreError> {
        let mut conn = self.conn.clone();
        let p = &self.prefix;
        let nodes: Vec<String> = conn.smembers(format!("{p}room-nodes")).await.map_err(err)?;
        let mut orphans = Vec::new();
        for node in nodes.into_iter().filter(|n| !live.contains(n)) {
            let rooms: Vec<u64> = conn
                .smembers(format!("{p}node-rooms:{node}"))
                .await
                .map_err(err)?;
            if rooms.is_empty() {
                let _: i64 = conn
                    .srem(format!("{p}room-nodes"), &node)
                    .await
                    .map_err(err)?;
                continue;
            }
            for room_id in rooms {
                let tickets: Option<String> = conn
                    .hget(format!("{p}room:{room_id}"), "tickets")
                    .await
                    .map_err(err)?;
                let tickets = tickets
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or_default();
                orphans.push(OrphanedRoom {
                    node: node.clone(),
                    room_id,
                    tickets,
                });
            }
        }
        Ok(orphans)
    }
}
