//! The matchmaker's and the node's HTTP bodies through their real routers: ticket creation,
//! the cluster's add-player request, a room moving in from another node (a binary handoff) and
//! the admin fault request. Whatever the body, the answer is a 2xx or a 4xx, never a panic or
//! a 5xx (except `503 no_capacity` for a handoff that is a real room once the node's few
//! ports are taken).
#![no_main]

use std::sync::OnceLock;

use axum::{
    Router,
    body::Body,
    http::{Request, header},
};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

struct Apps {
    runtime: tokio::runtime::Runtime,
    node: Router,
}

/// Refuses every room: the bodies are what is fuzzed, not placement.
#[derive(Clone)]
struct NoRooms;

impl matchmaker::Allocator for NoRooms {
    async fn allocate(
        &self,
        _: matchmaker::AllocationRequest,
    ) -> Result<matchmaker::Allocation, matchmaker::AllocateError> {
        Err(matchmaker::AllocateError::NoCapacity)
    }

    async fn backfill(
        &self,
        _: &protocol::api::OpenSlot,
        _: protocol::api::RoomPlayer,
    ) -> Result<matchmaker::Allocation, matchmaker::AllocateError> {
        Err(matchmaker::AllocateError::NoCapacity)
    }
}

const SECRET: &str = "fuzz-secret";

fn apps() -> &'static Apps {
    static APPS: OnceLock<Apps> = OnceLock::new();
    APPS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let args = <server::config::ServerArgs as clap::Parser>::try_parse_from([
            "server",
            "--udp-ports",
            "47950-47959",
        ])
        .unwrap();
        let node = server::Node::new(
            arena::ArenaGame::default(),
            args.node_config([7; 32], "fuzz".into()),
            None,
        );
        let admin = server::http::AdminConfig {
            fault_injection: true,
            token: Some(SECRET.into()),
        };
        Apps {
            node: server::http::node_router(node, admin, Some(SECRET.into())),
            runtime,
        }
    })
}

/// A fresh matchmaker per input, so tickets from earlier inputs do not pile up.
fn tickets() -> Router {
    matchmaker::router(matchmaker::Matchmaker::new(
        matchmaker::MemoryStore::new(),
        NoRooms,
        matchmaker::MatchmakerConfig::new(
            vec![matchmaker::ModeRules::free_for_all("arena", 10)],
            [7; 32],
        ),
    ))
}

fuzz_target!(|data: &[u8]| {
    let apps = apps();
    let check = |app: &Router, uri: &str, allowed_5xx: Option<u16>| {
        let request = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {SECRET}"))
            .body(Body::from(data.to_vec()))
            .unwrap();
        let status = apps
            .runtime
            .block_on(app.clone().oneshot(request))
            .unwrap()
            .status();
        assert!(
            !status.is_server_error() || Some(status.as_u16()) == allowed_5xx,
            "{uri} answered {status} to {:?}",
            String::from_utf8_lossy(data)
        );
    };
    check(&tickets(), "/v1/tickets", None);
    check(&apps.node, "/v1/internal/rooms/12345/players", None);
    check(&apps.node, "/v1/internal/rooms/import", Some(503));
    check(&apps.node, "/v1/admin/rooms/12345/fault", None);
});
