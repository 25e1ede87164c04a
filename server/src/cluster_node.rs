//! The node role: a node of a cluster. It advertises itself in Redis (a heartbeat every second
//! with a 3 s TTL, so a dead node vanishes from placement within about 3 s), serves room
//! allocation to matchmakers that hold the cluster secret, and sends a failed room's tickets
//! back to the front of their queue in Redis itself.

use std::{future::Future, net::SocketAddr, time::Duration};

use matchmaker::{MatchStore, RedisStore, RoomCopy, StoreError, TicketStore};
use protocol::api::NodeAdvert;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::{
    config::ServerArgs,
    embedded::{StartError, bind_http, bound_addr, open_slot, serve_until},
    game::Game,
    http::node_router,
    migration::{MoveReport, Mover},
    node::{Node, NodeEvent},
};

/// How often a node renews its advert, and how long an advert lives.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// An advert not renewed for this long expires (the node is considered gone).
pub const ADVERT_TTL: Duration = Duration::from_secs(3);

/// A running cluster node.
pub struct ClusterNode<G: Game> {
    /// Where its HTTP API listens.
    pub http_addr: SocketAddr,
    /// Its id in the cluster.
    pub id: String,
    /// The node.
    pub node: Node<G>,
    mover: Mover<G>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl<G: Game> std::fmt::Debug for ClusterNode<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterNode")
            .field("id", &self.id)
            .field("http_addr", &self.http_addr)
            .finish_non_exhaustive()
    }
}

impl<G: Game> ClusterNode<G> {
    /// Joins the cluster with `game`: connects to Redis (a clear error if it cannot), starts
    /// the HTTP API and the heartbeat.
    pub async fn start(args: &ServerArgs, game: G) -> Result<Self, StartError> {
        let (listener, _) = bind_http(args.http).await?;
        Self::start_on(listener, args, game).await
    }

    /// As [`ClusterNode::start`], with the HTTP API on `listener` (bound by the caller, e.g. to
    /// port 0) instead of `args.http`.
    pub async fn start_on(
        listener: TcpListener,
        args: &ServerArgs,
        game: G,
    ) -> Result<Self, StartError> {
        let http_addr = bound_addr(&listener, args.http)?;
        let redis = args.redis.as_deref().ok_or(StartError::Missing {
            role: "node",
            flag: "--redis",
        })?;
        let secret = args.cluster_secret.clone().ok_or(StartError::Missing {
            role: "node",
            flag: "--cluster-secret",
        })?;
        let key = protocol::key_from_hex(&secret).map_err(StartError::Redis)?;
        let admin = args.admin_config()?;
        let mut store = RedisStore::connect(redis, "rp:", Duration::from_secs(300))
            .await
            .map_err(|e| StartError::Redis(e.to_string()))?;
        if args.record_history {
            store = store.with_history();
        }
        let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel::<NodeEvent>();
        let id = format!("{}-{:08x}", args.region, rand::random::<u32>());
        let node = Node::new(game, args.node_config(key, id.clone()), Some(events_tx));
        let public_ip = args.public_ip.unwrap_or(args.udp_bind);
        let app = node_router(node.clone(), admin, Some(secret.clone()))
            .merge(matchmaker::metrics::router(crate::metrics::registry(&node)));
        let advert = NodeAdvert {
            id: id.clone(),
            region: args.region.clone(),
            api: format!("http://{public_ip}:{}", http_addr.port()),
            game: Node::<G>::game_id(),
            modes: node.modes(),
            capacity: node.capacity(),
            rooms: 0,
            draining: false,
            heartbeat_ms: 0,
        };
        let mover = Mover {
            node: node.clone(),
            node_id: id.clone(),
            region: args.region.clone(),
            store: store.clone(),
            secret,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .expect("a client with only a timeout set always builds"),
            stale_after: ADVERT_TTL,
        };
        let (tx, rx) = oneshot::channel::<()>();
        let advert_id = id.clone();
        let region = args.region.clone();
        let copier = (!args.room_copy_interval.is_zero()).then(|| Copier {
            store: store.clone(),
            node: node.clone(),
            node_id: id.clone(),
            region: args.region.clone(),
            every: args.room_copy_interval,
        });
        let task = tokio::spawn({
            let node = node.clone();
            async move {
                let copies = copier.map(|c| tokio::spawn(c.run()));
                let heartbeat = tokio::spawn(heartbeat(store.clone(), node, advert));
                let node_id = advert_id.clone();
                let requeue = tokio::spawn(async move {
                    while let Some(event) = events.recv().await {
                        match event {
                            // Both retried while Redis is away: a requeue is fenced by the room
                            // id, so a late one cannot move a ticket that has left the room.
                            NodeEvent::RoomFailed(f) => {
                                let (store, node_id) = (store.clone(), node_id.clone());
                                tokio::spawn(async move {
                                    // Not if the room was resumed elsewhere meanwhile (this
                                    // node cut off and declared dead): its players are there.
                                    let requeued = retry("requeue a failed room's players", || {
                                        store.requeue_hosted_room(&node_id, f.room_id, &f.tickets)
                                    })
                                    .await;
                                    if let Some(ids) = requeued {
                                        tracing::info!(room = f.room_id, requeued = ids.len(), reason = %f.reason, "room failed; players requeued");
                                    }
                                });
                            }
                            NodeEvent::MatchEnded(record) => {
                                // Results leave the node at once: a matchmaker shows them on
                                // the match's tickets and at /v1/matches/{room}.
                                let store = store.clone();
                                tokio::spawn(async move {
                                    retry("keep a match's results", || {
                                        store.record_match((*record).clone())
                                    })
                                    .await;
                                });
                            }
                            NodeEvent::RoomClosed { room_id } => {
                                let (store, node_id) = (store.clone(), node_id.clone());
                                tokio::spawn(async move {
                                    retry("forget a closed room", || {
                                        store.forget_room(&node_id, room_id)
                                    })
                                    .await;
                                });
                            }
                            NodeEvent::PlayerEjected { room_id, ticket } => {
                                // Should this node die, the rescue neither moves nor requeues
                                // the ejected player's ticket.
                                let (store, node_id) = (store.clone(), node_id.clone());
                                tokio::spawn(async move {
                                    retry("forget an ejected player's ticket", || {
                                        store.remove_room_ticket(&node_id, room_id, &ticket)
                                    })
                                    .await;
                                });
                            }
                            NodeEvent::SlotOpen {
                                room_id,
                                mode,
                                team,
                                left_ticket,
                                expires_ms,
                            } => {
                                // The leaver's ticket is no longer the room's to give back if
                                // this node dies.
                                let slot = open_slot(
                                    room_id,
                                    &mode,
                                    team,
                                    expires_ms,
                                    Some(region.clone()),
                                    Some(node_id.clone()),
                                );
                                let done = match store
                                    .remove_room_ticket(&node_id, room_id, &left_ticket)
                                    .await
                                {
                                    Ok(()) => store.open_slot(slot).await,
                                    Err(e) => Err(e),
                                };
                                if let Err(e) = done {
                                    tracing::warn!(room = room_id, error = %e, "could not ask for a replacement");
                                }
                            }
                        }
                    }
                });
                serve_until(listener, app, rx).await;
                heartbeat.abort();
                requeue.abort();
                if let Some(copies) = copies {
                    copies.abort();
                }
            }
        });
        Ok(Self {
            http_addr,
            id,
            node,
            mover,
            shutdown: Some(tx),
            task,
        })
    }

    /// Drains: readiness turns false and the advert says draining, so no new rooms come; the
    /// running matches play to the end. Returns once the last room has closed.
    pub async fn drain(&self) {
        self.node.drain();
        while !self.node.rooms().is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Drains by moving: no new rooms come, and every running match moves to another node
    /// of the cluster (see [`crate::migration`]). Matches that cannot move stay and play on;
    /// [`ClusterNode::drain`] afterwards waits for them and for moved rooms' clients to leave.
    pub async fn migrate(&self) -> MoveReport {
        self.node.drain();
        self.mover.move_all().await
    }

    /// Stops serving and heartbeating (the advert expires within its TTL).
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Longest a store operation is retried while Redis is away.
const RETRY_FOR: Duration = Duration::from_secs(600);

/// Runs `op` until it succeeds, every 500 ms, for up to [`RETRY_FOR`].
async fn retry<T, F: Future<Output = Result<T, StoreError>>>(
    what: &str,
    mut op: impl FnMut() -> F,
) -> Option<T> {
    let started = tokio::time::Instant::now();
    loop {
        match op().await {
            Ok(v) => return Some(v),
            Err(e) if started.elapsed() < RETRY_FOR => {
                tracing::warn!(error = %e, "could not {what} yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "gave up trying to {what}");
                return None;
            }
        }
    }
}

/// How long a room's copy stays in Redis unless its node writes it again: long enough for the
/// matchmakers to notice the node is gone ([`ADVERT_TTL`]) and resume the room.
const COPY_TTL: Duration = Duration::from_secs(10);

/// Writes a copy of every running room to Redis (see [`matchmaker::Rescuer`]).
struct Copier<G: Game> {
    store: RedisStore,
    node: Node<G>,
    node_id: String,
    region: String,
    every: Duration,
}

impl<G: Game> Copier<G> {
    /// Every `every`: packs each running room between two of its ticks (a room pauses for
    /// microseconds) and writes all the copies in one round trip; the copies of rooms that
    /// ended, or moved away, are dropped.
    async fn run(self) {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Rooms whose copy this node wrote last time.
        let mut copied: std::collections::HashSet<u64> = Default::default();
        loop {
            tick.tick().await;
            if self.node.is_fenced() {
                // Its rooms failed; whatever copies are left are the cluster's to use.
                copied.clear();
                continue;
            }
            let mut copies = Vec::new();
            for room in self.node.rooms() {
                // Over, frozen for a move, or gone: no copy (and the old one is dropped).
                if let Ok(handoff) = self.node.copy_room(room.id).await {
                    copies.push(RoomCopy {
                        room_id: room.id,
                        node: self.node_id.clone(),
                        mode: room.mode.clone(),
                        region: self.region.clone(),
                        handoff,
                    });
                }
            }
            let now: std::collections::HashSet<u64> = copies.iter().map(|c| c.room_id).collect();
            let ended: Vec<u64> = copied.difference(&now).copied().collect();
            let saved = tokio::time::timeout(
                self.every,
                self.store
                    .save_room_copies(&copies, &self.node_id, &ended, COPY_TTL),
            )
            .await;
            match saved {
                Ok(Ok(())) => copied = now,
                Ok(Err(e)) => tracing::warn!(error = %e, "could not write room copies"),
                Err(_) => tracing::warn!("writing room copies timed out"),
            }
        }
    }
}

/// Advertises the node every [`HEARTBEAT`]. If no advert has been written for [`ADVERT_TTL`],
/// the matchmakers may have seen it expire and given its players new rooms, so the node fences
/// itself: it fails its rooms (their players are told and follow their tickets) and takes no
/// new ones until an advert is written again.
async fn heartbeat<G: Game>(store: RedisStore, node: Node<G>, mut advert: NodeAdvert) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    // When the last advert that was written was sent: it expires no sooner than this + TTL.
    let mut last_written = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        advert.rooms = node.rooms().len();
        advert.draining = node.is_draining();
        advert.heartbeat_ms = protocol::unix_now().as_millis() as u64;
        let sent = tokio::time::Instant::now();
        match tokio::time::timeout(HEARTBEAT, store.advertise(&advert, ADVERT_TTL)).await {
            Ok(Ok(())) => {
                last_written = sent;
                if node.is_fenced() {
                    tracing::warn!("cluster connection back; taking rooms again");
                    node.unfence();
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "heartbeat to Redis failed"),
            Err(_) => tracing::warn!("heartbeat to Redis timed out"),
        }
        if last_written.elapsed() >= ADVERT_TTL && !node.is_fenced() {
            tracing::error!("no heartbeat reached Redis for {ADVERT_TTL:?}; failing every room");
            node.fence("the node lost its connection to the cluster");
        }
    }
}
