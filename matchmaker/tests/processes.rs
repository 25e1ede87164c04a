//! Matchmaker processes killed for real: tickets live in Redis, so when the instance a player
//! queued with dies, another instance matches and assigns them.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use axum::{Json, Router, http::StatusCode, routing::post};
use matchmaker::RedisStore;
use protocol::{
    MatchmakerClient,
    api::{CreateTicketRequest, NodeAdvert, RoomGranted, TicketStatus},
};
use testkit::{RedisServer, free_port, wait_for_port};

const SECRET: &str = "77aa77aa77aa77aa77aa77aa77aa77aa77aa77aa77aa77aa77aa77aa77aa77aa";

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn matchmaker_process(redis: &str, port: u16) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_matchmaker"))
        .args([
            "--redis",
            redis,
            "--http",
            &format!("127.0.0.1:{port}"),
            "--cluster-secret",
            SECRET,
            "--mode",
            "arena",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("the matchmaker binary runs");
    wait_for_port(port);
    Proc(child)
}

/// A stand-in node: grants every room request that carries the secret, and keeps its advert
/// fresh in Redis.
async fn stand_in_node(store: RedisStore) {
    let app = Router::new().route(
        "/v1/internal/rooms",
        post(|headers: axum::http::HeaderMap| async move {
            let ok = headers.get("authorization").and_then(|v| v.to_str().ok())
                == Some(&format!("Bearer {SECRET}"));
            if !ok {
                return Err(StatusCode::UNAUTHORIZED);
            }
            Ok((
                StatusCode::CREATED,
                Json(RoomGranted {
                    room_id: rand::random::<u64>() >> 12,
                    addr: "127.0.0.1:9".into(),
                    game: protocol::GameId {
                        name: "arena".into(),
                        version: 1,
                    },
                }),
            ))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    tokio::spawn(async move {
        loop {
            let advert = NodeAdvert {
                id: "stand-in".into(),
                region: "eu".into(),
                api: api.clone(),
                game: protocol::GameId {
                    name: "arena".into(),
                    version: 1,
                },
                modes: vec!["arena".into()],
                capacity: 100,
                rooms: 0,
                draining: false,
                heartbeat_ms: protocol::unix_now().as_millis() as u64,
            };
            store
                .advertise(&advert, Duration::from_secs(3))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_matchmaker_process_dies_another_matches_its_tickets() {
    let redis_server = RedisServer::start();
    let redis = redis_server.url.clone();
    stand_in_node(
        RedisStore::connect(&redis, "rp:", Duration::from_secs(60))
            .await
            .unwrap(),
    )
    .await;
    let (port_a, port_b) = (free_port(), free_port());
    let a = matchmaker_process(&redis, port_a);
    let _b = matchmaker_process(&redis, port_b);
    let (via_a, via_b) = (
        MatchmakerClient::new(&format!("http://127.0.0.1:{port_a}")),
        MatchmakerClient::new(&format!("http://127.0.0.1:{port_b}")),
    );
    let request = |p: String| CreateTicketRequest::for_player("arena", p);

    // Nine players queue with A; a match needs ten, so they wait.
    let mut tickets = Vec::new();
    for i in 0..9 {
        tickets.push(
            via_a
                .create_ticket(&request(format!("a{i}")))
                .await
                .unwrap()
                .id,
        );
    }
    drop(a); // SIGKILL
    // The tenth queues with B, which sees A's nine in the shared queue.
    tickets.push(via_b.create_ticket(&request("b0".into())).await.unwrap().id);
    let mut rooms = std::collections::HashSet::new();
    for id in &tickets {
        let assignment = via_b
            .wait_for_assignment(id, Duration::from_secs(10))
            .await
            .unwrap();
        rooms.insert(assignment.room_id);
    }
    assert_eq!(rooms.len(), 1, "all ten in one match");
    // And A is really gone.
    assert!(via_a.get_ticket(&tickets[0], Duration::ZERO).await.is_err());
    let view = via_b.get_ticket(&tickets[0], Duration::ZERO).await.unwrap();
    assert!(matches!(view.status, TicketStatus::Assigned(_)));
}

#[test]
fn the_matchmaker_binary_names_no_game_of_its_own() {
    // Without --mode or --modes it does not guess one: it says what it needs.
    let out = Command::new(env!("CARGO_BIN_EXE_matchmaker"))
        .args(["--redis", "redis://127.0.0.1:1", "--cluster-secret", SECRET])
        .output()
        .expect("the matchmaker binary runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--mode"), "{err}");
}
