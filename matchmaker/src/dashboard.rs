//! The operator's dashboard: `GET /dashboard` (one self-contained page, no outside
//! resources) and `GET /v1/overview` (everything it shows, in one JSON read).
//!
//! The page polls the overview every second and draws nodes, queues, rooms and a tick-time
//! chart; its spectator view opens a node's `GET /v1/rooms/{id}/spectate` WebSocket, which the
//! node serves (the matchmaker relays no game traffic). Where node data comes from is a
//! [`NodeSource`]: the embedded server describes itself; a standalone matchmaker asks the nodes
//! advertised in Redis ([`ClusterNodes`]).

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::State,
    http::header,
    response::{Html, IntoResponse, Response},
    routing::get,
};
use protocol::api::{Health, NodeOverview, Overview, QueueDepth, RoomSummary};

use crate::{Allocator, Matchmaker, RedisStore, TicketStore};

/// The page, compiled in: nothing is fetched from outside the process.
const PAGE: &str = include_str!("dashboard.html");

/// A boxed future, so sources can be trait objects.
pub type NodesFuture<'a> = Pin<Box<dyn Future<Output = Vec<NodeOverview>> + Send + 'a>>;

/// Where the dashboard's node data comes from.
pub trait NodeSource: Send + Sync + 'static {
    /// Every node with its health and rooms (a node that does not answer is listed with
    /// its error).
    fn nodes(&self) -> NodesFuture<'_>;
}

struct DashboardState<S, A> {
    mm: Matchmaker<S, A>,
    nodes: Arc<dyn NodeSource>,
    source: &'static str,
}

impl<S, A> Clone for DashboardState<S, A> {
    fn clone(&self) -> Self {
        Self {
            mm: self.mm.clone(),
            nodes: self.nodes.clone(),
            source: self.source,
        }
    }
}

/// `GET /dashboard` and `GET /v1/overview`. `source` names who answers (`"embedded"`,
/// `"matchmaker"`).
pub fn router<S: TicketStore, A: Allocator>(
    mm: Matchmaker<S, A>,
    nodes: Arc<dyn NodeSource>,
    source: &'static str,
) -> Router {
    Router::new()
        .route("/dashboard", get(page))
        .route("/v1/overview", get(overview::<S, A>))
        .with_state(DashboardState { mm, nodes, source })
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The page loads nothing from elsewhere and runs only its own inline code.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' http: https: ws: wss:; img-src 'self' data:",
            ),
        ],
        Html(PAGE),
    )
        .into_response()
}

async fn overview<S: TicketStore, A: Allocator>(
    State(state): State<DashboardState<S, A>>,
) -> Json<Overview> {
    let depths = state.mm.depths();
    let stats = state.mm.stats();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    Json(Overview {
        source: state.source.into(),
        queues: state
            .mm
            .modes()
            .zip(depths.queued.iter().chain(std::iter::repeat(&0)))
            .map(|(mode, &queued)| QueueDepth {
                mode: mode.into(),
                queued,
            })
            .collect(),
        matched: depths.matched,
        tickets_created: load(&stats.tickets_created),
        matches: load(&stats.matches),
        nodes: state.nodes.nodes().await,
    })
}

/// The nodes advertised in Redis, each asked for its health and rooms over HTTP.
#[derive(Debug, Clone)]
pub struct ClusterNodes {
    registry: RedisStore,
    http: reqwest::Client,
}

impl ClusterNodes {
    /// Nodes from `registry`'s adverts.
    pub fn new(registry: RedisStore) -> Self {
        let http = reqwest::Client::builder()
            // A dashboard refresh must not hang on one slow node.
            .timeout(Duration::from_secs(1))
            .build()
            .expect("a client with only a timeout set always builds");
        Self { registry, http }
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, url: String) -> reqwest::Result<T> {
        self.http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }

    async fn describe(&self, advert: protocol::api::NodeAdvert) -> NodeOverview {
        let base = advert.api.trim_end_matches('/');
        let (health, rooms) = tokio::join!(
            self.get::<Health>(format!("{base}/v1/health")),
            self.get::<Vec<RoomSummary>>(format!("{base}/v1/rooms"))
        );
        let error = match (&health, &rooms) {
            (Err(e), _) | (_, Err(e)) => Some(e.to_string()),
            _ => None,
        };
        NodeOverview {
            id: advert.id,
            api: advert.api,
            region: advert.region,
            game: advert.game,
            modes: advert.modes,
            draining: advert.draining,
            health: health.ok(),
            rooms: rooms.unwrap_or_default(),
            error,
        }
    }
}

impl NodeSource for ClusterNodes {
    fn nodes(&self) -> NodesFuture<'_> {
        Box::pin(async move {
            match self.registry.nodes().await {
                Ok(adverts) => {
                    let mut nodes = futures_util::future::join_all(
                        adverts.into_iter().map(|a| self.describe(a)),
                    )
                    .await;
                    nodes.sort_by(|a, b| a.id.cmp(&b.id));
                    nodes
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading node adverts for the dashboard failed");
                    Vec::new()
                }
            }
        })
    }
}
