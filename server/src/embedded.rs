//! The embedded single-process server: matchmaker + one node + HTTP API, started in-process.

use std::net::SocketAddr;

use matchmaker::{Matchmaker, MatchmakerConfig, MemoryStore};
use protocol::api::OpenSlot;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use crate::{
    config::ServerArgs,
    game::Game,
    node::{Node, NodeEvent},
};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The HTTP address could not be bound.
    #[error("cannot listen for HTTP on {addr}: {source}")]
    BindHttp {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Fault injection was asked for without an admin token to protect it.
    #[error("--enable-fault-injection needs --admin-token (RALLYPOINT_ADMIN_TOKEN)")]
    AdminTokenRequired,
    /// A flag the role needs is missing.
    #[error("the {role} role needs {flag}")]
    Missing {
        /// The role.
        role: &'static str,
        /// The flag.
        flag: &'static str,
    },
    /// Redis could not be reached.
    #[error("{0}")]
    Redis(String),
    /// The match rules do not add up.
    #[error("--teams: {0}")]
    Rules(#[from] matchmaker::UnevenTeams),
}

/// Binds the HTTP listener; returns it and the address it really got (port 0 picks one).
pub(crate) async fn bind_http(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::BindHttp { addr, source })?;
    let local = bound_addr(&listener, addr)?;
    Ok((listener, local))
}

/// The address a listener the caller bound really got (port 0 picks one); `asked` names it in
/// the error.
pub(crate) fn bound_addr(
    listener: &TcpListener,
    asked: SocketAddr,
) -> Result<SocketAddr, StartError> {
    listener
        .local_addr()
        .map_err(|source| StartError::BindHttp {
            addr: asked,
            source,
        })
}

/// Serves the HTTP API until `stop` fires (or is dropped).
pub(crate) async fn serve_until(
    listener: TcpListener,
    app: axum::Router,
    stop: oneshot::Receiver<()>,
) {
    // Connect info: ticket creation is limited per client IP.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = stop.await;
        })
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, "HTTP server failed");
    }
}

/// A slot for the matchmaker to fill, with a fresh id.
pub(crate) fn open_slot(
    room_id: u64,
    mode: &str,
    team: u8,
    expires_ms: u64,
    region: Option<String>,
    node: Option<String>,
) -> OpenSlot {
    OpenSlot {
        id: format!("{:032x}", rand::random::<u128>()),
        room_id,
        mode: mode.to_string(),
        team,
        region,
        node,
        expires_ms,
    }
}

/// A running embedded server.
pub struct EmbeddedServer<G: Game> {
    /// Where the HTTP API listens (the real port when 0 was asked for).
    pub http_addr: SocketAddr,
    /// The node hosting the rooms.
    pub node: Node<G>,
    /// Whether the token key was generated (not given).
    pub generated_key: bool,
    /// The admin token made for this process when none was given.
    pub generated_admin_token: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl<G: Game> EmbeddedServer<G> {
    /// Starts the matchmaker loop, the node running `game` and the HTTP API on `args.http`.
    pub async fn start(args: &ServerArgs, game: G) -> Result<Self, StartError> {
        let (listener, _) = bind_http(args.http).await?;
        Self::start_on(listener, args, game).await
    }

    /// As [`EmbeddedServer::start`], with the HTTP API on `listener` (bound by the caller, e.g.
    /// to port 0) instead of `args.http`.
    pub async fn start_on(
        listener: TcpListener,
        args: &ServerArgs,
        game: G,
    ) -> Result<Self, StartError> {
        let http_addr = bound_addr(&listener, args.http)?;
        let mut admin = args.admin_config()?;
        let generated_key = args.token_key.is_none();
        // Dev mode only: the dashboard's spectator view needs an admin token, so one is made
        // for this process and shown (the node role never makes one).
        let generated_admin_token = admin.token.is_none().then(|| {
            let token = format!("{:032x}", rand::random::<u128>());
            admin.token = Some(token.clone());
            token
        });
        let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel::<NodeEvent>();
        let token_key = args.token_key.unwrap_or_else(rand::random);
        let modes = args.modes_for(game.mode())?;
        let node = Node::new(
            game,
            args.node_config(token_key, "embedded".into()),
            Some(events_tx),
        );
        let mut mm_config = MatchmakerConfig::new(modes, token_key);
        mm_config.ticket_rate_per_ip = args.ticket_rate_per_ip;
        let mm = Matchmaker::new(MemoryStore::new(), node.clone(), mm_config);
        let app = crate::http::router(mm.clone(), node.clone(), admin, args.region.clone());
        // A failed room's players go back to the front of the queue; a room's open slot goes
        // to the matchmaker to fill.
        let requeuer = mm.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                match event {
                    NodeEvent::RoomFailed(failure) => {
                        match requeuer.requeue(failure.room_id, &failure.tickets).await {
                            Ok(n) => {
                                tracing::info!(room = failure.room_id, requeued = n, reason = %failure.reason, "room failed; players requeued")
                            }
                            Err(e) => {
                                tracing::error!(room = failure.room_id, error = %e, "requeueing a failed room's players failed")
                            }
                        }
                    }
                    NodeEvent::MatchEnded(record) => {
                        let room_id = record.room_id;
                        if let Err(e) = requeuer.record_match(*record).await {
                            tracing::warn!(room = room_id, error = %e, "could not keep a match's results");
                        }
                    }
                    NodeEvent::SlotOpen {
                        room_id,
                        mode,
                        team,
                        expires_ms,
                        ..
                    } => {
                        let slot = open_slot(room_id, &mode, team, expires_ms, None, None);
                        if let Err(e) = requeuer.open_slot(slot).await {
                            tracing::warn!(room = room_id, error = %e, "could not ask for a replacement");
                        }
                    }
                    // Embedded, nothing outlives the process to move or requeue a ticket.
                    NodeEvent::RoomClosed { .. } | NodeEvent::PlayerEjected { .. } => {}
                }
            }
        });
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let (stop_mm_tx, stop_mm_rx) = oneshot::channel::<()>();
            let matching = tokio::spawn(mm.run(async {
                let _ = stop_mm_rx.await;
            }));
            serve_until(listener, app, rx).await;
            let _ = stop_mm_tx.send(());
            let _ = matching.await;
        });
        Ok(Self {
            http_addr,
            node,
            generated_key,
            generated_admin_token,
            shutdown: Some(tx),
            task,
        })
    }

    /// The matchmaker's base URL, e.g. `http://127.0.0.1:7350`.
    pub fn url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Stops accepting requests and the matching loop; running rooms finish on their own.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}
