//! Copies of running rooms, so a room outlives its node: each node writes a fresh copy of
//! every running room it hosts (its handoff blob) about once a second; when the node dies, a
//! matchmaker resumes the room from the copy on another node (`crate::rescue`).
//!
//! Layout: `{prefix}room-copy:{room}`, a hash (`node`, `mode`, `region`, `handoff`: the blob)
//! with a TTL, so a copy nobody refreshes goes away by itself; `{prefix}rescue:{room}`, a
//! short-lived claim that lets exactly one matchmaker resume an orphaned room.

use std::{collections::HashMap, time::Duration};

use redis::AsyncCommands;

use super::{RedisStore, err};
use crate::store::StoreError;

/// Deletes the copy KEYS[1] if node ARGV[1] wrote it (a room that ended there), so a node
/// never removes the copy another node now keeps of the same room.
const DROP_OWN_COPY: &str = r#"
if redis.call('HGET', KEYS[1], 'node') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

/// A running room as its node last wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomCopy {
    /// The room (it keeps its id wherever it runs).
    pub room_id: u64,
    /// The node that wrote the copy.
    pub node: String,
    /// The room's game mode.
    pub mode: String,
    /// The region of the node that wrote it.
    pub region: String,
    /// The room's handoff, opaque here: only a node of the same build decodes it.
    pub handoff: Vec<u8>,
}

impl RedisStore {
    pub(super) fn copy_key(&self, room_id: u64) -> String {
        format!("{}room-copy:{room_id}", self.prefix)
    }

    /// Writes fresh copies of running rooms (each lives `ttl` unless written again) and drops
    /// this node's copies of rooms in `ended`, in one round trip.
    pub async fn save_room_copies(
        &self,
        copies: &[RoomCopy],
        node: &str,
        ended: &[u64],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        for copy in copies {
            let key = self.copy_key(copy.room_id);
            pipe.cmd("HSET")
                .arg(&key)
                .arg("node")
                .arg(&copy.node)
                .arg("mode")
                .arg(&copy.mode)
                .arg("region")
                .arg(&copy.region)
                .arg("handoff")
                .arg(copy.handoff.as_slice())
                .ignore()
                .pexpire(&key, ttl.as_millis() as i64)
                .ignore();
        }
        for &room_id in ended {
            pipe.cmd("EVAL")
                .arg(DROP_OWN_COPY)
                .arg(1)
                .arg(self.copy_key(room_id))
                .arg(node)
                .ignore();
        }
        pipe.query_async::<()>(&mut conn).await.map_err(err)
    }

    /// The latest copy of a room, if one is still there.
    pub async fn room_copy(&self, room_id: u64) -> Result<Option<RoomCopy>, StoreError> {
        let mut conn = self.conn.clone();
        let mut fields: HashMap<String, Vec<u8>> =
            conn.hgetall(self.copy_key(room_id)).await.map_err(err)?;
        let mut text = |name: &str| {
            fields
                .remove(name)
                .and_then(|v| String::from_utf8(v).ok())
                .unwrap_or_default()
        };
        let (node, mode, region) = (text("node"), text("mode"), text("region"));
        Ok(fields.remove("handoff").map(|handoff| RoomCopy {
            room_id,
            node,
            mode,
            region,
            handoff,
        }))
    }

    /// Claims the rescue of an orphaned room for `hold`: `true` for exactly one of any number
    /// of matchmakers asking at once, which then resumes or requeues it.
    pub async fn claim_rescue(&self, room_id: u64, hold: Duration) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let set: Option<String> = conn
            .set_options(
                format!("{}rescue:{room_id}", self.prefix),
                1,
                redis::SetOptions::default()
                    .conditional_set(redis::ExistenceCheck::NX)
                    .with_expiration(redis::SetExpiry::PX(hold.as_millis() as u64)),
            )
            .await
            .map_err(err)?;
        Ok(set.is_some())
    }

    /// The node a room is recorded on, if it is recorded.
    pub async fn room_node(&self, room_id: u64) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn.clone();
        conn.hget(format!("{}room:{room_id}", self.prefix), "node")
            .await
            .map_err(err)
    }
}
