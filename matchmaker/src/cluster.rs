//! Placement across nodes: the [`ClusterAllocator`] picks a node from the adverts in Redis and
//! asks it for a room over HTTP, authenticated with the cluster secret.

use std::time::Duration;

use protocol::api::{ErrorBody, NodeAdvert, OpenSlot, RoomGranted, RoomPlayer, RoomRequest};

use crate::{
    allocator::{AllocateError, Allocation, AllocationRequest, Allocator},
    redis_store::RedisStore,
    ticket::now_ms,
};

/// How rooms are spread over nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Fill the busiest node that still has room first, so idle nodes can be scaled away
    /// (the cost-saving default).
    Packed,
    /// Put each room on the least loaded node.
    Spread,
}

impl std::str::FromStr for Placement {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "packed" => Ok(Self::Packed),
            "spread" => Ok(Self::Spread),
            other => Err(format!("placement must be packed or spread, not {other:?}")),
        }
    }
}

/// Orders the nodes that may take a room of `mode` (in `region`, if given), best first. Never a
/// draining node, one without capacity, or one whose heartbeat is older than `stale_after`.
pub fn rank_nodes(
    nodes: &[NodeAdvert],
    mode: &str,
    region: Option<&str>,
    placement: Placement,
    now_ms: u64,
    stale_after: Duration,
) -> Vec<NodeAdvert> {
    let mut fit: Vec<NodeAdvert> = nodes
        .iter()
        .filter(|n| {
            region.is_none_or(|r| n.region == r)
                && !n.draining
                && n.rooms < n.capacity
                && n.modes.iter().any(|m| m == mode)
                && now_ms.saturating_sub(n.heartbeat_ms) <= stale_after.as_millis() as u64
        })
        .cloned()
        .collect();
    let load = |n: &NodeAdvert| n.rooms as f64 / n.capacity.max(1) as f64;
    match placement {
        Placement::Packed => fit.sort_by(|a, b| load(b).total_cmp(&load(a)).then(a.id.cmp(&b.id))),
        Placement::Spread => fit.sort_by(|a, b| load(a).total_cmp(&load(b)).then(a.id.cmp(&b.id))),
    }
    fit
}

/// A room placed (or being placed) on a node by this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reservation {
    node: String,
    at_ms: u64,
    id: u64,
}

/// Allocates rooms on the nodes advertised in Redis.
#[derive(Clone)]
pub struct ClusterAllocator {
    registry: RedisStore,
    http: reqwest::Client,
    secret: String,
    placement: Placement,
    stale_after: Duration,
    /// Rooms this instance placed or is placing, by node, with when: an advert written before
    /// a placement does not count it yet, so the ranking adds it (a burst would otherwise all
    /// land on the node that looked best a second ago). Reserved under the lock when the node
    /// is chosen, so concurrent allocations see each other.
    recent: std::sync::Arc<std::sync::Mutex<Vec<Reservation>>>,
}

impl ClusterAllocator {
    /// An allocator over the nodes in `registry`; `secret` authenticates its requests to them.
    pub fn new(
        registry: RedisStore,
        secret: String,
        placement: Placement,
        stale_after: Duration,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("a client with only a timeout set always builds");
        Self {
            registry,
            http,
            secret,
            placement,
            stale_after,
            recent: Default::default(),
        }
    }

    /// Picks the best node not in `tried`, counting this instance's placements the adverts do
    /// not show yet, and reserves a room on it. `None` when no node fits.
    fn reserve(
        &self,
        mut nodes: Vec<NodeAdvert>,
        request: &AllocationRequest,
        tried: &[String],
    ) -> Option<(NodeAdvert, u64)> {
        let now = now_ms();
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.retain(|r| now.saturating_sub(r.at_ms) < 10_000);
        for node in &mut nodes {
            node.rooms += recent
                .iter()
                .filter(|r| r.node == node.id && r.at_ms >= node.heartbeat_ms)
                .count();
        }
        let node = rank_nodes(
            &nodes,
            &request.mode,
            request.region.as_deref(),
            self.placement,
            now,
            self.stale_after,
        )
        .into_iter()
        .find(|n| !tried.contains(&n.id))?;
        let id = rand::random();
        recent.push(Reservation {
            node: node.id.clone(),
            at_ms: now,
            id,
        });
        Some((node, id))
    }

    fn release(&self, reservation: u64) {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|r| r.id != reservation);
    }

    /// POSTs `request` to `path` on the node's API, with the cluster secret, and reads the
    /// room it grants.
    async fn ask(
        &self,
        node: &NodeAdvert,
        path: &str,
        request: &impl serde::Serialize,
    ) -> Result<Allocation, String> {
        let response = self
            .http
            .post(format!("{}{path}", node.api.trim_end_matches('/')))
            .bearer_auth(&self.secret)
            .json(request)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        read_granted(response).await
    }
}

/// Asks `node` to resume a packed room (a live migration's handoff, or a dead node's copy):
/// `POST /v1/internal/rooms/import` with the cluster `secret`; the room as it runs there.
pub async fn import_room(
    http: &reqwest::Client,
    node: &NodeAdvert,
    secret: &str,
    handoff: Vec<u8>,
) -> Result<Allocation, String> {
    let response = http
        .post(format!(
            "{}/v1/internal/rooms/import",
            node.api.trim_end_matches('/')
        ))
        .bearer_auth(secret)
        .header("content-type", "application/octet-stream")
        .body(handoff)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    read_granted(response).await
}

/// Reads a node's answer to a room request (allocation, backfill, or a room moving in): the
/// room it grants, or why not, in words.
pub async fn read_granted(response: reqwest::Response) -> Result<Allocation, String> {
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        let why = serde_json::from_slice::<ErrorBody>(&bytes)
            .map_or_else(|_| status.to_string(), |b| b.error.message);
        return Err(format!("{status}: {why}"));
    }
    let granted: RoomGranted = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    let addr = granted
        .addr
        .parse()
        .map_err(|e| format!("bad room address {:?}: {e}", granted.addr))?;
    Ok(Allocation {
        room_id: granted.room_id,
        addr,
        game: granted.game,
    })
}

impl Allocator for ClusterAllocator {
    async fn allocate(&self, request: AllocationRequest) -> Result<Allocation, AllocateError> {
        let nodes = self
            .registry
            .nodes()
            .await
            .map_err(|e| AllocateError::Failed(e.to_string()))?;
        let body = RoomRequest {
            mode: request.mode.clone(),
            players: request.players.clone(),
            rules: request.rules,
        };
        let mut tried = Vec::new();
        while let Some((node, reservation)) = self.reserve(nodes.clone(), &request, &tried) {
            tried.push(node.id.clone());
            match self.ask(&node, "/v1/internal/rooms", &body).await {
                Ok(allocation) => {
                    // So the room's tickets can be requeued if its node dies.
                    let tickets: Vec<String> = request
                        .players
                        .iter()
                        .map(|p| p.ticket_id.clone())
                        .collect();
                    if let Err(e) = self
                        .registry
                        .record_room(&node.id, allocation.room_id, &tickets)
                        .await
                    {
                        tracing::warn!(room = allocation.room_id, error = %e, "could not record the room");
                    }
                    return Ok(allocation);
                }
                Err(e) => {
                    self.release(reservation);
                    tracing::warn!(node = %node.id, error = %e, "node refused a room; trying the next")
                }
            }
        }
        Err(AllocateError::NoCapacity)
    }

    async fn backfill(
        &self,
        slot: &OpenSlot,
        player: RoomPlayer,
    ) -> Result<Allocation, AllocateError> {
        let failed = |e: String| AllocateError::Failed(e);
        let nodes = self
            .registry
            .nodes()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let node = nodes
            .iter()
            .find(|n| Some(&n.id) == slot.node.as_ref())
            .ok_or_else(|| {
                failed(format!(
                    "node {:?} of room {} is gone",
                    slot.node, slot.room_id
                ))
            })?;
        let ticket = player.ticket_id.clone();
        let path = format!("/v1/internal/rooms/{}/players", slot.room_id);
        let allocation = self.ask(node, &path, &player).await.map_err(failed)?;
        // So the newcomer's ticket is requeued too if the node dies.
        if let Err(e) = self
            .registry
            .add_room_ticket(&node.id, slot.room_id, &ticket)
            .await
        {
            tracing::warn!(room = slot.room_id, error = %e, "could not record the replacement");
        }
        Ok(allocation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(
        id: &str,
        rooms: usize,
        capacity: usize,
        draining: bool,
        heartbeat_ms: u64,
    ) -> NodeAdvert {
        NodeAdvert {
            id: id.into(),
            region: "eu".into(),
            api: format!("http://{id}"),
            game: protocol::GameId {
                name: "g".into(),
                version: 1,
            },
            modes: vec!["ffa".into()],
            capacity,
            rooms,
            draining,
            heartbeat_ms,
        }
    }

    #[test]
    fn placement_prefers_busy_nodes_when_packed_and_idle_ones_when_spread() {
        let now = 10_000;
        let nodes = vec![
            node("a", 1, 10, false, now),
            node("b", 5, 10, false, now),
            node("full", 10, 10, false, now),
            node("draining", 0, 10, true, now),
            node("stale", 0, 10, false, now - 5_000),
        ];
        let stale = Duration::from_secs(3);
        let ids = |region, p| {
            rank_nodes(&nodes, "ffa", region, p, now, stale)
                .into_iter()
                .map(|n| n.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(None, Placement::Packed), ["b", "a"]);
        assert_eq!(ids(None, Placement::Spread), ["a", "b"]);
        assert!(rank_nodes(&nodes, "chess", None, Placement::Packed, now, stale).is_empty());
        // With a region, only nodes there ("eu" here); none elsewhere.
        assert_eq!(ids(Some("eu"), Placement::Packed), ["b", "a"]);
        assert!(ids(Some("us"), Placement::Packed).is_empty());
    }
}
