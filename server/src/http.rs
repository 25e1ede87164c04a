//! The node's HTTP API: the matchmaker frontend plus `GET /v1/health` and `GET /v1/rooms`.

use axum::{Json, Router, extract::State, http::StatusCode, response::Response, routing::get};
use matchmaker::{Matchmaker, TicketStore, error_response};
use protocol::api::{Health, RoomSummary};

use crate::{game::Game, node::Node};

/// Every route of the embedded server.
pub fn router<S, G>(mm: Matchmaker<S, Node<G>>, node: Node<G>) -> Router
where
    S: TicketStore,
    G: Game + Clone,
{
    let node_routes = Router::new()
        .route("/v1/health", get(health::<G>))
        .route("/v1/rooms", get(rooms::<G>))
        .with_state(node);
    matchmaker::router(mm)
        .merge(node_routes)
        .fallback(not_found)
}

async fn health<G: Game + Clone>(State(node): State<Node<G>>) -> Json<Health> {
    Json(node.health())
}

async fn rooms<G: Game + Clone>(State(node): State<Node<G>>) -> Json<Vec<RoomSummary>> {
    Json(node.rooms().iter().map(|r| r.summary()).collect())
}

async fn not_found(uri: axum::http::Uri) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no route for {}; see /v1/tickets, /v1/health, /v1/rooms",
            uri.path()
        ),
    )
}
