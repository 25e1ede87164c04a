//! The node's HTTP API: the matchmaker frontend, `GET /v1/health`, `GET /v1/rooms`,
//! `GET /metrics`, and the admin endpoint `POST /v1/admin/rooms/{id}/fault`.

use axum::{
    Json, Router,
    extract::{Path, State, rejection::JsonRejection},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use matchmaker::{Matchmaker, TicketStore, error_response, json_rejection};
use protocol::api::{
    FaultKind, FaultRequest, Health, RoomGranted, RoomPlayer, RoomRequest, RoomSummary,
};

use crate::{
    game::Game,
    node::{ImportError, JoinError, Node},
    room::Fault,
};

/// Who may use the admin endpoints.
#[derive(Debug, Clone, Default)]
pub struct AdminConfig {
    /// Whether `POST /v1/admin/rooms/{id}/fault` is served.
    pub fault_injection: bool,
    /// The bearer token admin requests must carry.
    pub token: Option<String>,
}

#[derive(Clone)]
struct AdminState<G: Game> {
    node: Node<G>,
    config: AdminConfig,
}

#[derive(Clone)]
struct ClusterState<G: Game> {
    node: Node<G>,
    secret: String,
}

/// Every route of the embedded server: the matchmaker's, the node's, `/metrics` with both's
/// series, and the dashboard (this node listed in `region`).
pub fn router<S, G>(
    mm: Matchmaker<S, Node<G>>,
    node: Node<G>,
    admin: AdminConfig,
    region: String,
) -> Router
where
    S: TicketStore,
    G: Game,
{
    let mut registry = crate::metrics::registry(&node);
    registry.register_collector(Box::new(matchmaker::metrics::MatchmakerCollector::new(
        mm.clone(),
    )));
    let local = std::sync::Arc::new(crate::watch::LocalNode::new(node.clone(), region));
    matchmaker::router(mm.clone())
        .merge(matchmaker::metrics::router(registry))
        .merge(matchmaker::dashboard::router(mm, local, "embedded"))
        .merge(node_router(node, admin, None))
}

/// A node's routes: health, rooms, the spectator feed and the admin fault endpoint (both with
/// the admin token), and, with a cluster secret, `POST /v1/internal/rooms` for matchmakers to
/// allocate rooms.
pub fn node_router<G: Game>(
    node: Node<G>,
    admin: AdminConfig,
    cluster_secret: Option<String>,
) -> Router {
    let mut routes = Router::new()
        .route("/v1/health", get(health::<G>))
        .route("/v1/ready", get(ready::<G>))
        .route("/v1/rooms", get(rooms::<G>))
        .with_state(node.clone())
        .merge(crate::watch::router(node.clone(), admin.token.clone()))
        .merge(
            Router::new()
                .route("/v1/admin/rooms/{id}/fault", post(inject_fault::<G>))
                .layer(axum::extract::DefaultBodyLimit::max(4096))
                .with_state(AdminState {
                    node: node.clone(),
                    config: admin,
                }),
        );
    if let Some(secret) = cluster_secret {
        routes = routes.merge(
            Router::new()
                .route("/v1/internal/rooms", post(allocate_room::<G>))
                .route("/v1/internal/rooms/{id}/players", post(add_player::<G>))
                .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
                .with_state(ClusterState {
                    node: node.clone(),
                    secret: secret.clone(),
                })
                .merge(
                    Router::new()
                        .route("/v1/internal/rooms/import", post(import_room::<G>))
                        .layer(axum::extract::DefaultBodyLimit::max(
                            protocol::codec::MAX_BULK_BYTES,
                        ))
                        .with_state(ClusterState { node, secret }),
                ),
        );
    }
    routes.fallback(not_found)
}

/// The refusal for a request without the cluster secret, if it lacks it.
fn refuse_without_secret(headers: &HeaderMap, secret: &str, what: &str) -> Option<Response> {
    (!authorized(headers, Some(secret))).then(|| {
        error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("{what} needs the cluster secret as `Authorization: Bearer SECRET`"),
        )
    })
}

/// `201` with where the room listens.
fn granted(allocation: matchmaker::Allocation) -> Response {
    (
        StatusCode::CREATED,
        Json(RoomGranted {
            room_id: allocation.room_id,
            addr: allocation.addr.to_string(),
            game: allocation.game,
        }),
    )
        .into_response()
}

/// `POST /v1/internal/rooms/{id}/players`: a matchmaker fills a room's open slot.
async fn add_player<G: Game>(
    State(state): State<ClusterState<G>>,
    Path(room_id): Path<u64>,
    headers: HeaderMap,
    body: Result<Json<RoomPlayer>, JsonRejection>,
) -> Response {
    if let Some(refused) = refuse_without_secret(&headers, &state.secret, "adding players") {
        return refused;
    }
    let Json(player) = match body {
        Ok(body) => body,
        Err(rejection) => return json_rejection(rejection),
    };
    match state.node.add_player(room_id, player) {
        Ok(a) => granted(a),
        Err(e @ JoinError::NoSuchRoom(_)) => {
            error_response(StatusCode::NOT_FOUND, "no_such_room", e.to_string())
        }
        Err(e @ JoinError::Refused(_)) => {
            error_response(StatusCode::CONFLICT, "refused", e.to_string())
        }
    }
}

/// `POST /v1/internal/rooms/import`: another node moves a running room here (body: a
/// `RoomHandoff` blob). `201` with where it resumed.
async fn import_room<G: Game>(
    State(state): State<ClusterState<G>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refused) = refuse_without_secret(&headers, &state.secret, "moving rooms") {
        return refused;
    }
    use matchmaker::AllocateError;
    match state.node.import_room(&body) {
        Ok(a) => granted(a),
        Err(e @ ImportError::Malformed(_)) => {
            error_response(StatusCode::BAD_REQUEST, "invalid_handoff", e.to_string())
        }
        Err(e @ ImportError::OtherGame(_)) => {
            error_response(StatusCode::BAD_REQUEST, "other_game", e.to_string())
        }
        Err(e @ ImportError::AlreadyHere(_)) => {
            error_response(StatusCode::CONFLICT, "already_here", e.to_string())
        }
        Err(ImportError::Refused(AllocateError::NoCapacity)) => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_capacity",
            "this node is full or draining",
        ),
        Err(ImportError::Refused(AllocateError::UnknownMode(m))) => error_response(
            StatusCode::BAD_REQUEST,
            "unknown_mode",
            format!("this node does not host {m:?}"),
        ),
        Err(ImportError::Refused(e)) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "import_failed",
            e.to_string(),
        ),
    }
}

async fn allocate_room<G: Game>(
    State(state): State<ClusterState<G>>,
    headers: HeaderMap,
    body: Result<Json<RoomRequest>, JsonRejection>,
) -> Response {
    if let Some(refused) = refuse_without_secret(&headers, &state.secret, "room allocation") {
        return refused;
    }
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => return json_rejection(rejection),
    };
    let request = matchmaker::AllocationRequest {
        mode: request.mode,
        // The matchmaker chose this node for its region already.
        region: None,
        players: request.players,
        rules: request.rules,
    };
    use matchmaker::{AllocateError, Allocator};
    match state.node.allocate(request).await {
        Ok(a) => granted(a),
        Err(AllocateError::NoCapacity) => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_capacity",
            "this node is full or draining",
        ),
        Err(AllocateError::UnknownMode(m)) => error_response(
            StatusCode::BAD_REQUEST,
            "unknown_mode",
            format!("this node does not host {m:?}"),
        ),
        Err(AllocateError::Invalid(why)) => {
            error_response(StatusCode::BAD_REQUEST, "invalid_request", why)
        }
        Err(e) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "allocation_failed",
            e.to_string(),
        ),
    }
}

async fn health<G: Game>(State(node): State<Node<G>>) -> Json<Health> {
    Json(node.health())
}

/// Readiness: 200 while the node takes new rooms, 503 while it drains or is fenced off.
async fn ready<G: Game>(State(node): State<Node<G>>) -> Response {
    let reason = if node.is_draining() {
        "draining"
    } else if node.is_fenced() {
        "fenced: no connection to the cluster"
    } else {
        return Json(serde_json::json!({"ready": true})).into_response();
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({"ready": false, "reason": reason})),
    )
        .into_response()
}

async fn rooms<G: Game>(State(node): State<Node<G>>) -> Json<Vec<RoomSummary>> {
    Json(node.rooms().iter().map(|r| r.summary()).collect())
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(headers: &HeaderMap, token: Option<&str>) -> bool {
    let Some(token) = token else { return false };
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| authorized_token(given, token))
}

/// Whether `given` is `token` (an empty token authorizes nothing).
pub(crate) fn authorized_token(given: &str, token: &str) -> bool {
    !token.is_empty() && same_secret(given.as_bytes(), token.as_bytes())
}

async fn inject_fault<G: Game>(
    State(state): State<AdminState<G>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<FaultRequest>, JsonRejection>,
) -> Response {
    if !state.config.fault_injection {
        return error_response(
            StatusCode::FORBIDDEN,
            "fault_injection_disabled",
            "fault injection is off; start the server with --enable-fault-injection and --admin-token",
        );
    }
    if !authorized(&headers, state.config.token.as_deref()) {
        return error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the admin token as `Authorization: Bearer TOKEN`",
        );
    }
    let Ok(room_id) = id.parse::<u64>() else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "invalid_room_id",
            "room id must be a number",
        );
    };
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => return json_rejection(rejection),
    };
    let fault = match (request.kind, request.ms) {
        (FaultKind::Panic, None) => Fault::Panic,
        (FaultKind::Hang, None) => Fault::Hang,
        (FaultKind::Slow, Some(ms @ 1..=10_000)) => {
            Fault::Slow(std::time::Duration::from_millis(ms))
        }
        (FaultKind::Slow, _) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "slow needs \"ms\" between 1 and 10000",
            );
        }
        (_, Some(_)) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "\"ms\" is only for slow",
            );
        }
    };
    match state.node.inject_fault(room_id, fault) {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "room_id": room_id, "fault": format!("{fault:?}") })),
        )
            .into_response(),
        Err(e) => error_response(StatusCode::NOT_FOUND, "room_not_found", e.to_string()),
    }
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
