//! What happens to the matches of a node that dies (killed, crashed, cut off).
//!
//! Every second each matchmaker looks for rooms recorded on nodes whose adverts expired. For
//! each such orphan, one matchmaker (the one that wins [`RedisStore::claim_rescue`]) either:
//! - **resumes** it: if the node's latest copy of the room is still in Redis, it sends the copy
//!   to another node of the same region (`POST /v1/internal/rooms/import`, cluster secret),
//!   records the room there, and gives each of the room's tickets a new assignment to the same
//!   room at its new address. Players find it by re-reading their ticket and rejoin as who they
//!   were; what the room did since the copy was taken (at most about a second) is lost;
//! - or **requeues** its tickets at the front of their queue (no copy, or no node took it), and
//!   the players are matched again.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use prometheus_client::{collector::Collector, encoding::DescriptorEncoder};
use protocol::{TokenKey, api::TicketStatus};

use crate::{
    allocator::Allocation,
    cluster::{Placement, import_room, rank_nodes},
    redis_store::{OrphanedRoom, RedisStore},
    service::assignment,
    store::{StoreError, TicketStore},
    ticket::TicketId,
};

/// How long one matchmaker holds the rescue of a room before another may try.
const RESCUE_HOLD: Duration = Duration::from_secs(10);

/// What one pass over the orphaned rooms did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RescueReport {
    /// Rooms resumed on another node from their copies.
    pub resumed: usize,
    /// Tickets that followed a resumed room to its new node.
    pub moved: usize,
    /// Rooms whose players went back to the queue (no copy, or no node took it).
    pub requeued_rooms: usize,
    /// Tickets sent back to the queue.
    pub requeued: usize,
}

/// What this matchmaker's rescues have done since it started, for `/metrics`: the passes'
/// reports added up.
#[derive(Debug, Default)]
struct RescueStats {
    rooms_resumed: AtomicU64,
    rooms_requeued: AtomicU64,
    tickets_moved: AtomicU64,
    tickets_requeued: AtomicU64,
}

impl RescueStats {
    fn add(&self, pass: &RescueReport) {
        for (total, n) in [
            (&self.rooms_resumed, pass.resumed),
            (&self.rooms_requeued, pass.requeued_rooms),
            (&self.tickets_moved, pass.moved),
            (&self.tickets_requeued, pass.requeued),
        ] {
            total.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}

/// Rescues the rooms of dead nodes; see the module documentation.
#[derive(Clone)]
pub struct Rescuer {
    stats: Arc<RescueStats>,
    registry: RedisStore,
    http: reqwest::Client,
    secret: String,
    key: TokenKey,
    token_expiry: Duration,
    stale_after: Duration,
}

impl Rescuer {
    /// A rescuer using `registry` for the cluster's records, `secret` to ask nodes to resume
    /// rooms, and `key` (with `token_expiry`) to sign the new connect tokens. A node whose
    /// advert is older than `stale_after` is not asked.
    pub fn new(
        registry: RedisStore,
        secret: String,
        key: TokenKey,
        token_expiry: Duration,
        stale_after: Duration,
    ) -> Self {
        Self {
            stats: Arc::default(),
            registry,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .expect("a client with only a timeout set always builds"),
            secret,
            key,
            token_expiry,
            stale_after,
        }
    }

    /// One pass: every orphaned room this matchmaker wins is resumed or requeued. Safe to run
    /// in several matchmakers at once.
    pub async fn rescue_orphans(&self) -> Result<RescueReport, StoreError> {
        let mut report = RescueReport::default();
        let done = self.pass(&mut report).await;
        // Counted even when the pass stopped on an error: what it did stays done.
        self.stats.add(&report);
        done.map(|()| report)
    }

    async fn pass(&self, report: &mut RescueReport) -> Result<(), StoreError> {
        let nodes = self.registry.nodes().await?;
        let live: HashSet<String> = nodes.iter().map(|n| n.id.clone()).collect();
        for orphan in self.registry.orphaned_rooms(&live).await? {
            if !self
                .registry
                .claim_rescue(orphan.room_id, RESCUE_HOLD)
                .await?
            {
                continue;
            }
            match self.resume(&orphan, &nodes).await {
                Ok(Some((to, moved))) => {
                    tracing::warn!(from = %orphan.node, %to, room = orphan.room_id, players = moved, "node gone; its room resumed from its copy");
                    report.resumed += 1;
                    report.moved += moved;
                    continue;
                }
                Ok(None) => {}
                Err(why) => {
                    tracing::warn!(node = %orphan.node, room = orphan.room_id, %why, "could not resume a dead node's room; requeueing its players")
                }
            }
            let ids = self
                .registry
                .requeue_hosted_room(&orphan.node, orphan.room_id, &orphan.tickets)
                .await?;
            if !ids.is_empty() {
                tracing::warn!(node = %orphan.node, room = orphan.room_id, requeued = ids.len(), "node gone; its room's players requeued");
            }
            report.requeued_rooms += 1;
            report.requeued += ids.len();
            self.registry
                .forget_room(&orphan.node, orphan.room_id)
                .await?;
        }
        Ok(())
    }

    /// Its series for a metrics registry: rooms of dead nodes and their tickets, by what
    /// became of them.
    pub fn collector(&self) -> impl Collector + 'static {
        RescueCollector(self.stats.clone())
    }

    /// Resumes an orphan from its copy on a live node of its region: the node it went to and
    /// how many tickets followed it, or `None` if there is no copy to resume.
    async fn resume(
        &self,
        orphan: &OrphanedRoom,
        nodes: &[protocol::api::NodeAdvert],
    ) -> Result<Option<(String, usize)>, String> {
        let room_id = orphan.room_id;
        let Some(copy) = self
            .registry
            .room_copy(room_id)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        let ranked = rank_nodes(
            nodes,
            &copy.mode,
            Some(&copy.region),
            Placement::Spread,
            protocol::unix_now().as_millis() as u64,
            self.stale_after,
        );
        let mut refusals = Vec::new();
        for target in ranked {
            match import_room(&self.http, &target, &self.secret, copy.handoff.clone()).await {
                Ok(allocation) => {
                    self.registry
                        .move_room(&orphan.node, &target.id, room_id)
                        .await
                        .map_err(|e| e.to_string())?;
                    let moved = self
                        .follow(&orphan.tickets, allocation)
                        .await
                        .map_err(|e| e.to_string())?;
                    return Ok(Some((target.id, moved)));
                }
                Err(e) => refusals.push(format!("{}: {e}", target.id)),
            }
        }
        Err(if refusals.is_empty() {
            format!(
                "no live node of region {:?} hosts {}",
                copy.region, copy.mode
            )
        } else {
            refusals.join("; ")
        })
    }

    /// Gives every ticket still assigned to the room its new address and a fresh token;
    /// returns how many moved.
    async fn follow(&self, tickets: &[String], to: Allocation) -> Result<usize, StoreError> {
        let mut moved = 0;
        for id in tickets {
            let Ok(id) = id.parse::<TicketId>() else {
                continue;
            };
            let Some(ticket) = self.registry.get(id).await? else {
                continue;
            };
            let TicketStatus::Assigned(old) = &ticket.status else {
                continue;
            };
            if old.room_id != to.room_id {
                continue;
            }
            let new = match assignment(&self.key, self.token_expiry, &to, &ticket, old.team) {
                Ok(new) => new,
                Err(e) => {
                    tracing::error!(room = to.room_id, error = %e, "could not issue a token for a resumed room");
                    continue;
                }
            };
            if self
                .registry
                .move_assignment(id, to.room_id, new)
                .await?
                .is_some()
            {
                moved += 1;
            }
        }
        Ok(moved)
    }
}

#[derive(Debug)]
struct RescueCollector(Arc<RescueStats>);

impl Collector for RescueCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let s = &self.0;
        crate::metrics::counter_family(
            &mut encoder,
            "rallypoint_rooms_rescued",
            "Rooms of dead nodes this matchmaker rescued, by outcome (resumed from their copy elsewhere, or their players requeued)",
            &[
                (&[("outcome", "resumed")], load(&s.rooms_resumed)),
                (&[("outcome", "requeued")], load(&s.rooms_requeued)),
            ],
        )?;
        crate::metrics::counter_family(
            &mut encoder,
            "rallypoint_tickets_rescued",
            "Tickets of dead nodes' rooms, by outcome (moved with their resumed room, or requeued)",
            &[
                (&[("outcome", "moved")], load(&s.tickets_moved)),
                (&[("outcome", "requeued")], load(&s.tickets_requeued)),
            ],
        )
    }
}
