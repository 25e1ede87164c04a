//! The matchmaker on its own (the `matchmaker` binary): tickets in Redis, rooms on the nodes
//! advertised there. Several instances can run at once against one Redis.

use std::{net::SocketAddr, time::Duration};

use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::{
    cluster::{ClusterAllocator, Placement},
    redis_store::RedisStore,
    rescue::Rescuer,
    rules::ModeRules,
    service::{Matchmaker, MatchmakerConfig},
};

/// How a standalone matchmaker runs.
#[derive(Debug, Clone)]
pub struct StandaloneConfig {
    /// Redis URL.
    pub redis: String,
    /// HTTP address for the tickets API.
    pub http: SocketAddr,
    /// Cluster secret, 64 hex digits: signs connect tokens, authenticates room requests.
    pub cluster_secret: String,
    /// How rooms are spread over nodes.
    pub placement: Placement,
    /// The modes players may queue for, with their rules.
    pub modes: Vec<ModeRules>,
    /// Record every ticket state change in Redis (`rp:history`), for audits and tests.
    pub record_history: bool,
    /// A node whose heartbeat is older than this gets no new rooms.
    pub node_stale_after: Duration,
    /// Tickets one client IP may create per second (0: no limit).
    pub ticket_rate_per_ip: u32,
}

/// Why a standalone matchmaker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StandaloneError {
    /// The cluster secret is not 64 hex digits.
    #[error("--cluster-secret: {0}")]
    BadSecret(String),
    /// Redis could not be reached.
    #[error("{0}")]
    Redis(String),
    /// The HTTP address could not be bound.
    #[error("cannot listen for HTTP on {0}: {1}")]
    BindHttp(SocketAddr, std::io::Error),
    /// The match rules do not add up.
    #[error("--teams: {0}")]
    Rules(#[from] crate::UnevenTeams),
}

/// A running standalone matchmaker.
pub struct Standalone {
    /// Where the tickets API listens.
    pub http_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Standalone {
    /// Connects to Redis (a clear error if it cannot), starts the API on `config.http` and the
    /// matching loop.
    pub async fn start(config: StandaloneConfig) -> Result<Self, StandaloneError> {
        let listener = TcpListener::bind(config.http)
            .await
            .map_err(|e| StandaloneError::BindHttp(config.http, e))?;
        Self::start_on(listener, config).await
    }

    /// As [`Standalone::start`], with the API on `listener` (bound by the caller, e.g. to port
    /// 0) instead of `config.http`.
    pub async fn start_on(
        listener: TcpListener,
        config: StandaloneConfig,
    ) -> Result<Self, StandaloneError> {
        let key =
            protocol::key_from_hex(&config.cluster_secret).map_err(StandaloneError::BadSecret)?;
        let mut store = RedisStore::connect(&config.redis, "rp:", Duration::from_secs(300))
            .await
            .map_err(|e| StandaloneError::Redis(e.to_string()))?;
        if config.record_history {
            store = store.with_history();
        }
        let registry = store.clone();
        let allocator = ClusterAllocator::new(
            store.clone(),
            config.cluster_secret.clone(),
            config.placement,
            config.node_stale_after,
        );
        let mut mm_config = MatchmakerConfig::new(config.modes.clone(), key);
        // Tickets other instances finish arrive on the change feed; re-reading is the
        // fallback for what the feed misses while it reconnects.
        mm_config.reread_interval = Duration::from_secs(2);
        mm_config.ticket_rate_per_ip = config.ticket_rate_per_ip;
        let rescuer = Rescuer::new(
            store.clone(),
            config.cluster_secret.clone(),
            key,
            mm_config.token_expiry,
            config.node_stale_after,
        );
        let finished = store.finished_tickets();
        let mm = Matchmaker::new(store, allocator, mm_config);
        let http_addr = listener
            .local_addr()
            .map_err(|e| StandaloneError::BindHttp(config.http, e))?;
        let (tx, rx) = oneshot::channel::<()>();
        let nodes = std::sync::Arc::new(crate::dashboard::ClusterNodes::new(registry.clone()));
        let mut metrics_registry = crate::metrics::registry(&mm);
        metrics_registry.register_collector(Box::new(rescuer.collector()));
        let app = crate::http::router(mm.clone())
            .merge(crate::http::probes(mm.clone()))
            .merge(crate::metrics::router(metrics_registry))
            .merge(crate::dashboard::router(mm.clone(), nodes, "matchmaker"));
        let task = tokio::spawn(async move {
            let following = tokio::spawn(mm.clone().follow_finished(finished));
            let matching = tokio::spawn(mm.run(std::future::pending()));
            // Every second: rooms on nodes whose adverts expired resume elsewhere or send
            // their players back.
            let rescue = tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    if let Err(e) = rescuer.rescue_orphans().await {
                        tracing::warn!(error = %e, "checking for rooms of dead nodes failed");
                    }
                }
            });
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            matching.abort();
            rescue.abort();
            following.abort();
        });
        Ok(Self {
            http_addr,
            shutdown: Some(tx),
            task,
        })
    }

    /// Stops the API and the matching loop.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}
