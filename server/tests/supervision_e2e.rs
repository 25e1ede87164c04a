//! Supervision end to end: bots over real UDP on loopback while rooms panic and hang, with
//! faults injected through the admin API.

mod support;

use std::time::{Duration, Instant};

use arena::ArenaGame;
use bots::{SwarmConfig, games::ArenaBot, run_swarm};
use clap::Parser;
use protocol::{
    MatchmakerClient, MatchmakerError,
    api::{FaultKind, FaultRequest, Health, RoomSummary},
};
use server::{EmbeddedServer, StartError, config::ServerArgs};
use support::embedded;

const TOKEN: &str = "test-admin-token";

async fn running_rooms(mm: &MatchmakerClient, want: usize) -> Vec<RoomSummary> {
    let start = Instant::now();
    loop {
        let rooms: Vec<_> = mm
            .rooms()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.phase == "running" && r.connected_players == r.expected_players)
            .collect();
        if rooms.len() >= want {
            return rooms;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "rooms never filled: {rooms:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn health(url: &str) -> Health {
    reqwest::get(format!("{url}/v1/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn fault(kind: FaultKind) -> FaultRequest {
    FaultRequest { kind, ms: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_stay_connected_across_restarts() {
    let server = embedded(&[
        "--match-duration",
        "4s",
        "--enable-fault-injection",
        "--admin-token",
        TOKEN,
    ])
    .await;
    let url = server.url();
    let mm = MatchmakerClient::new(&url);
    let swarm = tokio::spawn(run_swarm::<ArenaBot>(SwarmConfig::new(
        &url,
        10,
        Duration::from_millis(300),
    )));
    let room = running_rooms(&mm, 1).await[0].id;
    for _ in 0..2 {
        mm.inject_fault(TOKEN, room, &fault(FaultKind::Panic))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let report = swarm.await.unwrap();
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(report.matches_completed, 1);
    assert_eq!(
        report.player_matches_completed, 10,
        "every bot stayed and got results"
    );
    assert_eq!(report.rooms_failed, 0);
    let health = health(&url).await;
    assert_eq!((health.restarts, health.rooms_failed), (2, 0), "{health:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_over_its_restart_limit_sends_its_players_back_to_the_queue() {
    let server = embedded(&[
        "--match-duration",
        "3s",
        "--max-restarts",
        "1",
        "--enable-fault-injection",
        "--admin-token",
        TOKEN,
    ])
    .await;
    let url = server.url();
    let mm = MatchmakerClient::new(&url);
    let swarm = tokio::spawn(run_swarm::<ArenaBot>(SwarmConfig::new(
        &url,
        10,
        Duration::from_millis(300),
    )));
    let room = running_rooms(&mm, 1).await[0].id;
    for _ in 0..2 {
        mm.inject_fault(TOKEN, room, &fault(FaultKind::Panic))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let report = swarm.await.unwrap();
    // The ten were told, requeued at the front, placed together again and finished there.
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(report.rooms_failed, 10, "{report:#?}");
    assert_eq!(report.matches_completed, 1, "{report:#?}");
    assert_eq!(report.player_matches_completed, 10);
    assert_eq!(report.tickets_created, 10, "the same tickets, not new ones");
    assert_eq!(health(&url).await.rooms_failed, 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_room_releases_its_players_while_the_other_room_plays_on() {
    let server = embedded(&[
        "--match-duration",
        "4s",
        "--workers",
        "2",
        "--enable-fault-injection",
        "--admin-token",
        TOKEN,
    ])
    .await;
    let url = server.url();
    let mm = MatchmakerClient::new(&url);
    let swarm = tokio::spawn(run_swarm::<ArenaBot>(SwarmConfig::new(
        &url,
        20,
        Duration::from_millis(300),
    )));
    let rooms = running_rooms(&mm, 2).await;
    let (hung, bystander) = (rooms[0].id, rooms[1].id);
    let injected = Instant::now();
    mm.inject_fault(TOKEN, hung, &fault(FaultKind::Hang))
        .await
        .unwrap();
    // The hung room's players are released within about a second of the hang.
    loop {
        let h = health(&url).await;
        if h.rooms_failed == 1 {
            assert_eq!(h.workers_replaced, 1);
            break;
        }
        assert!(
            injected.elapsed() < Duration::from_secs(3),
            "hang not detected: {h:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let detected = injected.elapsed();
    assert!(
        detected < Duration::from_millis(2000),
        "detected after {detected:?}"
    );
    let report = swarm.await.unwrap();
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(
        report.rooms_failed, 10,
        "the hung room's ten went back to the queue"
    );
    // The bystander's match, and the hung room's players' second match, both completed.
    assert_eq!(report.matches_completed, 2, "{report:#?}");
    assert_eq!(report.player_matches_completed, 20);
    assert_ne!(hung, bystander);
    server.shutdown().await;
}

#[tokio::test]
async fn the_fault_endpoint_needs_to_be_enabled_and_the_admin_token() {
    let off = embedded(&[]).await;
    let mm = MatchmakerClient::new(&off.url());
    match mm.inject_fault(TOKEN, 1, &fault(FaultKind::Panic)).await {
        Err(MatchmakerError::Api {
            status: 403, code, ..
        }) => assert_eq!(code, "fault_injection_disabled"),
        other => panic!("{other:?}"),
    }
    off.shutdown().await;

    let args = ServerArgs::try_parse_from([
        "server",
        "--http",
        "127.0.0.1:0",
        "--enable-fault-injection",
    ])
    .unwrap();
    assert!(matches!(
        EmbeddedServer::start(&args, ArenaGame::default()).await,
        Err(StartError::AdminTokenRequired)
    ));

    let on = embedded(&["--enable-fault-injection", "--admin-token", TOKEN]).await;
    let mm = MatchmakerClient::new(&on.url());
    for token in ["", "wrong", "test-admin-toke", "test-admin-token2"] {
        match mm.inject_fault(token, 1, &fault(FaultKind::Panic)).await {
            Err(MatchmakerError::Api {
                status: 401, code, ..
            }) => assert_eq!(code, "unauthorized"),
            other => panic!("token {token:?}: {other:?}"),
        }
    }
    match mm.inject_fault(TOKEN, 1, &fault(FaultKind::Panic)).await {
        Err(MatchmakerError::Api {
            status: 404, code, ..
        }) => assert_eq!(code, "room_not_found"),
        other => panic!("{other:?}"),
    }
    match mm.inject_fault(TOKEN, 1, &fault(FaultKind::Slow)).await {
        Err(MatchmakerError::Api {
            status: 400,
            message,
            ..
        }) => assert!(message.contains("ms"), "{message}"),
        other => panic!("{other:?}"),
    }
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/v1/admin/rooms/1/fault", on.url()))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"kind": "explode"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    on.shutdown().await;
}
