//! The node role: a node of a cluster. It advertises itself in Redis (a heartbeat every second
//! with a 3 s TTL, so a dead node vanishes from placement within about 3 s), serves room
//! allocation to matchmakers that hold the cluster secret, and sends a failed room's tickets
//! back to the front of their queue in Redis itself.

use std::{net::SocketAddr, time::Duration};

use matchmaker::{RedisStore, TicketStore, requeue_tickets};
use protocol::api::NodeAdvert;
use tokio::{sync::oneshot, task::JoinHandle};

use crate::{
    arena::ArenaGame,
    config::ServerArgs,
    embedded::{StartError, bind_http, open_slot},
    http::node_router,
    node::{Node, NodeEvent},
};

/// How often a node renews its advert, and how long an advert lives.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// An advert not renewed for this long expires (the node is considered gone).
pub const ADVERT_TTL: Duration = Duration::from_secs(3);

/// A running cluster node.
pub struct ClusterNode {
    /// Where its HTTP API listens.
    pub http_addr: SocketAddr,
    /// Its id in the cluster.
    pub id: String,
    /// The node.
    pub node: Node<ArenaGame>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for ClusterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterNode")
            .field("id", &self.id)
            .field("http_addr", &self.http_addr)
            .finish_non_exhaustive()
    }
}

impl ClusterNode {
    /// Joins the cluster: connects to Redis (a clear error if it cannot), starts the HTTP API
    /// and the heartbeat.
    pub async fn start(args: &ServerArgs) -> Result<Self, StartError> {
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
        let node = Node::new(args.game(), args.node_config(key), Some(events_tx));
        let (listener, http_addr) = bind_http(args.http).await?;
        let public_ip = args.public_ip.unwrap_or(args.udp_bind);
        let id = format!("{}-{:08x}", args.region, rand::random::<u32>());
        let app = node_router(node.clone(), admin, Some(secret));
        let advert = NodeAdvert {
            id: id.clone(),
            region: args.region.clone(),
            api: format!("http://{public_ip}:{}", http_addr.port()),
            modes: vec![node.mode().to_string()],
            capacity: node.capacity(),
            rooms: 0,
            draining: false,
            heartbeat_ms: 0,
        };
        let (tx, rx) = oneshot::channel::<()>();
        let advert_id = id.clone();
        let mode = node.mode().to_string();
        let region = args.region.clone();
        let task = tokio::spawn({
            let node = node.clone();
            async move {
                let heartbeat = tokio::spawn(heartbeat(store.clone(), node, advert));
                let node_id = advert_id.clone();
                let requeue = tokio::spawn(async move {
                    while let Some(event) = events.recv().await {
                        match event {
                            NodeEvent::RoomFailed(f) => {
                                match requeue_tickets(&store, &f.tickets).await {
                                    Ok(ids) => {
                                        tracing::info!(room = f.room_id, requeued = ids.len(), reason = %f.reason, "room failed; players requeued")
                                    }
                                    Err(e) => {
                                        tracing::error!(room = f.room_id, error = %e, "requeueing a failed room's players failed")
                                    }
                                }
                            }
                            NodeEvent::RoomClosed { room_id } => {
                                if let Err(e) = store.forget_room(&node_id, room_id).await {
                                    tracing::warn!(room = room_id, error = %e, "could not forget a closed room");
                                }
                            }
                            NodeEvent::SlotOpen {
                                room_id,
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
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "HTTP server failed");
                }
                heartbeat.abort();
                requeue.abort();
            }
        });
        Ok(Self {
            http_addr,
            id,
            node,
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

    /// Stops serving and heartbeating (the advert expires within its TTL).
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

async fn heartbeat(store: RedisStore, node: Node<ArenaGame>, mut advert: NodeAdvert) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tick.tick().await;
        advert.rooms = node.rooms().len();
        advert.draining = node.is_draining();
        advert.heartbeat_ms = protocol::unix_now().as_millis() as u64;
        if let Err(e) = store.advertise(&advert, ADVERT_TTL).await {
            tracing::warn!(error = %e, "heartbeat to Redis failed");
        }
    }
}
