//! The matchmaker's HTTP frontend: `/v1/tickets`.

use std::time::Duration;

use axum::{
    Json, Router,
    extract::{Path, Query, State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use protocol::api::CreateTicketRequest;
use serde::Deserialize;

use crate::{
    allocator::Allocator,
    error::{MatchmakerError, error_response},
    service::Matchmaker,
    store::TicketStore,
};

/// Largest request body accepted on these routes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The tickets API: `POST /v1/tickets[?wait_ms=N]`, `GET /v1/tickets/{id}?wait_ms=N`,
/// `DELETE /v1/tickets/{id}`, and finished matches' results: `GET /v1/matches/{room_id}`
/// (also on each of the match's tickets once it ended). Ticket creation is limited per client IP
/// ([`MatchmakerConfig::ticket_rate_per_ip`](crate::MatchmakerConfig)) when the router is
/// served with connect info (`into_make_service_with_connect_info::<SocketAddr>()`).
pub fn router<S: TicketStore, A: Allocator>(mm: Matchmaker<S, A>) -> Router {
    let mut create = post(create::<S, A>);
    if let Some(per_second) = std::num::NonZeroU32::new(mm.config().ticket_rate_per_ip) {
        create = create.layer(axum::middleware::from_fn_with_state(
            crate::rate_limit::TicketRateLimit::new(per_second),
            crate::rate_limit::limit_tickets,
        ));
    }
    Router::new()
        .route("/v1/tickets", create)
        .route("/v1/tickets/{id}", get(read::<S, A>).delete(cancel::<S, A>))
        .route("/v1/matches/{room_id}", get(match_results::<S, A>))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(mm)
}

/// A standalone matchmaker's probes: `GET /v1/health` (liveness: the process serves) and
/// `GET /v1/ready` (readiness: its store answers within a second). The embedded server has
/// its node's instead.
pub fn probes<S: TicketStore, A: Allocator>(mm: Matchmaker<S, A>) -> Router {
    Router::new()
        .route(
            "/v1/health",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/v1/ready", get(ready::<S, A>))
        .with_state(mm)
}

async fn ready<S: TicketStore, A: Allocator>(State(mm): State<Matchmaker<S, A>>) -> Response {
    let reason = match tokio::time::timeout(Duration::from_secs(1), mm.refresh_depths()).await {
        Ok(Ok(_)) => return Json(serde_json::json!({"ready": true})).into_response(),
        Ok(Err(e)) => format!("the ticket store failed: {e}"),
        Err(_) => "the ticket store did not answer within 1 s".to_string(),
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({"ready": false, "reason": reason})),
    )
        .into_response()
}

/// Turns a JSON body rejection into the standard error body, saying what was wrong.
pub fn json_rejection(rejection: JsonRejection) -> Response {
    let status = rejection.status();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "invalid_json",
    };
    error_response(status, code, rejection.body_text())
}

async fn create<S: TicketStore, A: Allocator>(
    State(mm): State<Matchmaker<S, A>>,
    query: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<Json<CreateTicketRequest>, JsonRejection>,
) -> Response {
    let wait = match query {
        Ok(Query(q)) => Duration::from_millis(q.wait_ms),
        Err(e) => {
            return MatchmakerError::InvalidRequest(format!("wait_ms: {}", e.body_text()))
                .into_response();
        }
    };
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => return json_rejection(rejection),
    };
    // With `?wait_ms=N`, answer once the ticket is assigned (or the wait is over): one request
    // instead of a create and a long-poll.
    match mm.create_ticket_and_wait(request, wait).await {
        Ok(view) => (StatusCode::CREATED, Json(view)).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct WaitQuery {
    #[serde(default)]
    wait_ms: u64,
}

async fn read<S: TicketStore, A: Allocator>(
    State(mm): State<Matchmaker<S, A>>,
    Path(id): Path<String>,
    query: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let wait = match query {
        Ok(Query(q)) => Duration::from_millis(q.wait_ms),
        Err(e) => {
            return MatchmakerError::InvalidRequest(format!("wait_ms: {}", e.body_text()))
                .into_response();
        }
    };
    match mm.ticket(&id, wait).await {
        Ok(view) => Json(view).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn match_results<S: TicketStore, A: Allocator>(
    State(mm): State<Matchmaker<S, A>>,
    Path(room_id): Path<String>,
) -> Response {
    let Ok(room_id) = room_id.parse::<u64>() else {
        return MatchmakerError::InvalidRequest(format!(
            "room id must be a decimal number, got {room_id:?}"
        ))
        .into_response();
    };
    match mm.match_record(room_id).await {
        Ok(record) => Json(record).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn cancel<S: TicketStore, A: Allocator>(
    State(mm): State<Matchmaker<S, A>>,
    Path(id): Path<String>,
) -> Response {
    match mm.cancel(&id).await {
        Ok(view) => Json(view).into_response(),
        Err(e) => e.into_response(),
    }
}
