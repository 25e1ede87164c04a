//! Moving a node's running matches to other nodes of the cluster (`--drain-mode migrate`).
//!
//! For each room: stop its clock and pack it here ([`Node::freeze_room`]), pick another node
//! from the adverts in Redis (same region and mode, not draining, least loaded first), send it
//! the room over the internal API with the cluster secret, record in Redis that the room now
//! lives there, and tell the room's clients where to go ([`Node::redirect_room`]). A room no
//! node takes is thawed and plays to the end here.

use std::time::Duration;

use matchmaker::{Placement, RedisStore, rank_nodes};
use protocol::api::NodeAdvert;

use crate::{game::Game, node::Node};

/// How a node's rooms fared when it moved them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoveReport {
    /// Rooms now running on another node, with that node's id.
    pub moved: Vec<(u64, String)>,
    /// Rooms that stay here (over, or no node took them), with why.
    pub stayed: Vec<(u64, String)>,
}

/// Moves rooms from one node to the others.
#[derive(Clone)]
pub(crate) struct Mover<G: Game> {
    pub(crate) node: Node<G>,
    pub(crate) node_id: String,
    pub(crate) region: String,
    pub(crate) store: RedisStore,
    pub(crate) secret: String,
    pub(crate) http: reqwest::Client,
    /// An advert older than this is not trusted to be alive.
    pub(crate) stale_after: Duration,
}

impl<G: Game> Mover<G> {
    /// Moves every room that can move, one after another (each room pauses only for its own
    /// move). The node should be draining first, so nothing new arrives.
    pub(crate) async fn move_all(&self) -> MoveReport {
        let mut report = MoveReport::default();
        let mut nodes = match self.store.nodes().await {
            Ok(nodes) => nodes,
            Err(e) => {
                for room in self.node.rooms() {
                    report.stayed.push((room.id, format!("no node list: {e}")));
                }
                return report;
            }
        };
        for room in self.node.rooms() {
            match self.move_room(room.id, &mut nodes).await {
                Ok(to) => report.moved.push((room.id, to)),
                Err(why) => report.stayed.push((room.id, why)),
            }
        }
        report
    }

    /// Moves one room; on success returns the node it went to and counts it in `nodes`, so
    /// the next room's choice sees it before the next advert does.
    async fn move_room(&self, room_id: u64, nodes: &mut [NodeAdvert]) -> Result<String, String> {
        let mode = self.node.room_mode(room_id).map_err(|e| e.to_string())?;
        let blob = self
            .node
            .freeze_room(room_id)
            .await
            .map_err(|e| e.to_string())?;
        let ranked = rank_nodes(
            nodes,
            &mode,
            Some(&self.region),
            Placement::Spread,
            protocol::unix_now().as_millis() as u64,
            self.stale_after,
        );
        let mut refusals = Vec::new();
        for target in ranked.iter().filter(|n| n.id != self.node_id) {
            match self.send(target, blob.clone()).await {
                Ok(addr) => {
                    if let Err(e) = self
                        .store
                        .move_room(&self.node_id, &target.id, room_id)
                        .await
                    {
                        // The room runs there either way; only a later loss of that node
                        // would miss the record.
                        tracing::warn!(room = room_id, error = %e, "could not record the room's move");
                    }
                    let told = self
                        .node
                        .redirect_room(room_id, addr)
                        .map_err(|e| e.to_string())?;
                    if let Some(n) = nodes.iter_mut().find(|n| n.id == target.id) {
                        n.rooms += 1;
                    }
                    tracing::info!(room = room_id, to = %target.id, %addr, clients = told, "room moved");
                    return Ok(target.id.clone());
                }
                Err(e) => {
                    tracing::warn!(room = room_id, node = %target.id, error = %e, "node did not take the room");
                    refusals.push(format!("{}: {e}", target.id));
                }
            }
        }
        self.node.thaw_room(room_id);
        Err(if refusals.is_empty() {
            "no other node can take it".into()
        } else {
            refusals.join("; ")
        })
    }

    /// Sends a packed room to `target`; the address where it resumed.
    async fn send(
        &self,
        target: &NodeAdvert,
        blob: Vec<u8>,
    ) -> Result<std::net::SocketAddr, String> {
        Ok(
            matchmaker::import_room(&self.http, target, &self.secret, blob)
                .await?
                .addr,
        )
    }
}
