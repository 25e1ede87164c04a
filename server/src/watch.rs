//! What operators watch on a node: the spectator WebSocket
//! (`GET /v1/rooms/{id}/spectate?token=ADMIN_TOKEN`), the game's drawing for it
//! (`GET /v1/game/view.js`, [`Game::spectator_view`]) and this node's entry on the dashboard.
//!
//! A spectator sees every entity, so the feed needs the admin token (browsers cannot put
//! headers on a WebSocket, hence the query parameter). It sends the room's latest
//! [`SpectatorFrame`](protocol::api::SpectatorFrame) as JSON about 15 times a second and closes
//! when the room does; the room never waits for it (see [`crate::room::spectate`]).

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{
        Path, Query, State,
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
    },
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use matchmaker::{
    dashboard::{NodeSource, NodesFuture},
    error_response,
};
use protocol::api::NodeOverview;
use serde::Deserialize;

use crate::{
    game::Game,
    http::authorized_token,
    node::Node,
    room::{RoomStatus, spectate::MAX_SPECTATORS_PER_ROOM},
};

/// How often a watcher looks for a new frame.
const POLL: Duration = Duration::from_millis(66);

#[derive(Clone)]
struct WatchState<G: Game> {
    node: Node<G>,
    admin_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// `GET /v1/rooms/{id}/spectate`, allowed with `admin_token`; without one, spectating is off.
pub fn router<G: Game>(node: Node<G>, admin_token: Option<String>) -> Router {
    Router::new()
        .route("/v1/rooms/{id}/spectate", get(spectate::<G>))
        .route("/v1/game/view.js", get(view::<G>))
        .with_state(WatchState { node, admin_token })
}

/// The game's drawing code, if it ships one. Code, not data: no token, and any origin may
/// read it (the dashboard of a standalone matchmaker is served from another origin).
async fn view<G: Game>(State(state): State<WatchState<G>>) -> Response {
    match state.node.game().spectator_view() {
        Some(script) => (
            [
                (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            ],
            script,
        )
            .into_response(),
        None => error_response(
            StatusCode::NOT_FOUND,
            "no_view",
            "this game ships no drawing of its own: the dashboard draws it generically",
        ),
    }
}

async fn spectate<G: Game>(
    State(state): State<WatchState<G>>,
    Path(room_id): Path<u64>,
    Query(query): Query<TokenQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(token) = state.admin_token.as_deref() else {
        return error_response(
            StatusCode::FORBIDDEN,
            "spectating_disabled",
            "spectating needs the server started with --admin-token",
        );
    };
    if !authorized_token(&query.token, token) {
        return error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "pass the admin token as ?token=TOKEN",
        );
    }
    let Some(room) = state.node.room(room_id) else {
        return error_response(
            StatusCode::NOT_FOUND,
            "no_such_room",
            format!("no room {room_id} on this node"),
        );
    };
    if room.spectators.watchers() >= MAX_SPECTATORS_PER_ROOM {
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_spectators",
            format!("room {room_id} has {MAX_SPECTATORS_PER_ROOM} spectators already"),
        );
    }
    let node = state.node.clone();
    upgrade
        .max_message_size(1024)
        .on_upgrade(move |socket| stream_frames(socket, node, room))
}

/// Sends each new frame until the room closes or the watcher goes.
async fn stream_frames<G: Game>(mut socket: WebSocket, node: Node<G>, room: Arc<RoomStatus>) {
    let Ok(_watching) = room.spectators.watch() else {
        let _ = socket.send(close("too many spectators")).await;
        return;
    };
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_tick = None;
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                // Watchers have nothing to say; pings are answered by the library.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = poll.tick() => {
                if node.room(room.id).is_none() {
                    let _ = socket.send(close("the room closed")).await;
                    return;
                }
                let Some(frame) = room.spectators.latest() else { continue };
                if last_tick == Some(frame.tick) {
                    continue;
                }
                last_tick = Some(frame.tick);
                let Ok(json) = serde_json::to_string(&*frame) else { continue };
                if socket.send(Message::Text(json.into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn close(reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code: axum::extract::ws::close_code::NORMAL,
        reason: reason.into(),
    }))
}

/// The embedded server's node, as the dashboard lists it.
pub struct LocalNode<G: Game> {
    node: Node<G>,
    region: String,
}

impl<G: Game> LocalNode<G> {
    /// `node`, in `region`.
    pub fn new(node: Node<G>, region: String) -> Self {
        Self { node, region }
    }
}

impl<G: Game> NodeSource for LocalNode<G> {
    fn nodes(&self) -> NodesFuture<'_> {
        let node = &self.node;
        let overview = NodeOverview {
            id: node.id().to_string(),
            api: String::new(),
            region: self.region.clone(),
            game: Node::<G>::game_id(),
            modes: node.modes(),
            draining: node.is_draining(),
            health: Some(node.health()),
            rooms: node.rooms().iter().map(|r| r.summary()).collect(),
            error: None,
        };
        Box::pin(std::future::ready(vec![overview]))
    }
}
