//! Distributed mode: a real redis-server, nodes and a matchmaker sharing it, bots playing over
//! real UDP on loopback.

mod support;

use std::{
    net::TcpListener,
    time::{Duration, Instant},
};

use arena::ArenaGame;
use bots::{SwarmConfig, games::ArenaBot, run_swarm};
use clap::Parser;
use matchmaker::{Placement, RedisStore, Standalone, StandaloneConfig};
use server::{ClusterNode, config::ServerArgs};
use support::RedisServer;

const SECRET: &str = "5ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2";

async fn node(redis: &RedisServer, region: &str) -> ClusterNode<ArenaGame> {
    node_with_matches_of(redis, region, "3s").await
}

/// A node started the way an embedder would: on a listener it bound itself (port 0), rooms on
/// whatever UDP ports the system gives.
async fn node_with_matches_of(
    redis: &RedisServer,
    region: &str,
    match_duration: &str,
) -> ClusterNode<ArenaGame> {
    let args = ServerArgs::try_parse_from([
        "server",
        "--role",
        "node",
        "--redis",
        &redis.url,
        "--cluster-secret",
        SECRET,
        "--udp-ports",
        "0",
        "--match-duration",
        match_duration,
        "--region",
        region,
    ])
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ClusterNode::start_on(listener, &args, ArenaGame::default())
        .await
        .expect("node starts")
}

async fn matchmaker(redis: &RedisServer, placement: Placement) -> Standalone {
    matchmaker_for(redis, placement, 10).await
}

async fn matchmaker_for(
    redis: &RedisServer,
    placement: Placement,
    players_per_match: usize,
) -> Standalone {
    Standalone::start(StandaloneConfig {
        modes: vec![matchmaker::ModeRules::free_for_all(
            "arena",
            players_per_match,
        )],
        ..support::matchmaker_config(redis, SECRET, placement)
    })
    .await
    .expect("matchmaker starts")
}

async fn wait_for_nodes(redis: &RedisServer, n: usize) {
    let store = RedisStore::connect(&redis.url, "rp:", Duration::from_secs(60))
        .await
        .unwrap();
    let started = Instant::now();
    while store.nodes().await.unwrap().len() != n {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nodes never advertised"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs 20 bots (two matches) and returns the most rooms seen at once on each node.
async fn play_two_matches(url: String, nodes: &[&ClusterNode<ArenaGame>]) -> Vec<usize> {
    let swarm = tokio::spawn(run_swarm::<ArenaBot>(SwarmConfig::new(
        &url,
        20,
        Duration::from_millis(300),
    )));
    let mut most = vec![0; nodes.len()];
    let mut rooms = std::collections::BTreeSet::new();
    while !swarm.is_finished() {
        for (i, n) in nodes.iter().enumerate() {
            let here = n.node.rooms();
            most[i] = most[i].max(here.len());
            rooms.extend(here.iter().map(|r| r.id));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let report = swarm.await.unwrap();
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(report.matches_completed, 2, "{report:#?}");
    assert_eq!(report.player_matches_completed, 20);
    // Each node sent its match's results to Redis; the matchmaker serves them.
    let mm = protocol::MatchmakerClient::new(&url);
    assert_eq!(rooms.len(), 2, "{rooms:?}");
    for room in rooms {
        let record = support::reported_results(&mm, room).await;
        assert_eq!(record.placements.len(), 10, "{record:?}");
    }
    most
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packed_placement_fills_one_node_and_spread_uses_both() {
    let redis = RedisServer::start();
    let a = node(&redis, "eu").await;
    let b = node(&redis, "eu").await;
    wait_for_nodes(&redis, 2).await;

    let packed = matchmaker(&redis, Placement::Packed).await;
    let most = play_two_matches(format!("http://{}", packed.http_addr), &[&a, &b]).await;
    assert_eq!(
        most.iter().max(),
        Some(&2),
        "both rooms on one node: {most:?}"
    );
    packed.shutdown().await;

    // Let the rooms close and the adverts catch up.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let spread = matchmaker(&redis, Placement::Spread).await;
    let most = play_two_matches(format!("http://{}", spread.http_addr), &[&a, &b]).await;
    assert_eq!(most, vec![1, 1], "one room on each node");
    spread.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_heartbeating_gets_no_new_rooms() {
    let redis = RedisServer::start();
    let a = node(&redis, "eu").await;
    let b = node(&redis, "eu").await;
    wait_for_nodes(&redis, 2).await;
    let gone = a.http_addr;
    a.shutdown().await;
    // Its advert expires within the TTL; then only b is offered.
    wait_for_nodes(&redis, 1).await;
    let mm = matchmaker(&redis, Placement::Spread).await;
    let most = play_two_matches(format!("http://{}", mm.http_addr), &[&b]).await;
    assert_eq!(most, vec![2]);
    assert!(
        reqwest::get(format!("http://{gone}/v1/health"))
            .await
            .is_err(),
        "the stopped node is gone"
    );
    mm.shutdown().await;
}

#[tokio::test]
async fn rooms_are_only_allocated_with_the_cluster_secret() {
    let redis = RedisServer::start();
    let n = node(&redis, "eu").await;
    let url = format!("http://{}/v1/internal/rooms", n.http_addr);
    let body =
        serde_json::json!({"mode": "arena", "players": [{"player_id": "p", "ticket_id": "t"}]});
    let http = reqwest::Client::new();
    for auth in [None, Some("wrong"), Some(&SECRET[1..])] {
        let mut request = http.post(&url).json(&body);
        if let Some(token) = auth {
            request = request.bearer_auth(token);
        }
        assert_eq!(request.send().await.unwrap().status(), 401, "{auth:?}");
    }
    let granted = http
        .post(&url)
        .bearer_auth(SECRET)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 201);
    let granted: protocol::api::RoomGranted = granted.json().await.unwrap();
    assert!(granted.addr.starts_with("127.0.0.1:"), "{granted:?}");
    let bad = http
        .post(&url)
        .bearer_auth(SECRET)
        .json(&serde_json::json!({"mode": "chess", "players": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let empty = http
        .post(&url)
        .bearer_auth(SECRET)
        .json(&serde_json::json!({"mode": "arena", "players": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 400, "a room with nobody is a bad request");
    // Adding a replacement player takes the secret too, and a room that exists.
    let player = serde_json::json!({"player_id": "r", "ticket_id": "t2", "team": 0});
    let add = |room: u64, secret: Option<&str>| {
        let mut request = http.post(format!("{url}/{room}/players")).json(&player);
        if let Some(secret) = secret {
            request = request.bearer_auth(secret);
        }
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(add(granted.room_id, None).await, 401);
    assert_eq!(add(12345, Some(SECRET)).await, 404);
    assert_eq!(add(granted.room_id, Some(SECRET)).await, 201);
    assert_eq!(
        add(granted.room_id, Some(SECRET)).await,
        409,
        "the same player twice"
    );
    // Missing flags and an unreachable Redis are clear start-up errors.
    let no_secret =
        ServerArgs::try_parse_from(["server", "--role", "node", "--redis", &redis.url]).unwrap();
    assert!(
        ClusterNode::start(&no_secret, ArenaGame::default())
            .await
            .unwrap_err()
            .to_string()
            .contains("--cluster-secret")
    );
    let dead = format!(
        "redis://127.0.0.1:{}",
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    let unreachable = ServerArgs::try_parse_from([
        "server",
        "--role",
        "node",
        "--redis",
        &dead,
        "--cluster-secret",
        SECRET,
    ])
    .unwrap();
    assert!(
        ClusterNode::start(&unreachable, ArenaGame::default())
            .await
            .unwrap_err()
            .to_string()
            .contains("cannot reach Redis")
    );
    assert!(
        ServerArgs::try_parse_from(["server", "--role", "node", "--cluster-secret", "short"])
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaver_is_replaced_through_redis_on_the_node_hosting_the_match() {
    let redis = RedisServer::start();
    let node = node_with_matches_of(&redis, "eu", "30s").await;
    wait_for_nodes(&redis, 1).await;
    let mm = matchmaker_for(&redis, Placement::Packed, 2).await;
    support::replace_a_leaver(&format!("http://{}", mm.http_addr)).await;
    mm.shutdown().await;
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_matchmakers_overview_metrics_and_probes_see_the_whole_cluster() {
    let mut redis = RedisServer::start();
    let a = node_with_matches_of(&redis, "eu", "30s").await;
    let b = node_with_matches_of(&redis, "us", "30s").await;
    let mm = matchmaker_for(&redis, Placement::Packed, 2).await;
    wait_for_nodes(&redis, 2).await;
    let url = format!("http://{}", mm.http_addr);
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{url}{path}")).send();

    // One 2-player match, held open (no one leaves) while the overview is read.
    let client = protocol::MatchmakerClient::new(&url);
    let request = |p: &str| protocol::api::CreateTicketRequest::for_player("arena", p);
    let t1 = client.create_ticket(&request("p1")).await.unwrap();
    let t2 = client.create_ticket(&request("p2")).await.unwrap();
    let wait = Duration::from_secs(10);
    let room = client
        .wait_for_assignment(&t1.id, wait)
        .await
        .unwrap()
        .room_id;
    client.wait_for_assignment(&t2.id, wait).await.unwrap();

    let overview: protocol::api::Overview =
        get("/v1/overview").await.unwrap().json().await.unwrap();
    assert_eq!(overview.source, "matchmaker");
    let ids: Vec<&str> = overview.nodes.iter().map(|n| n.id.as_str()).collect();
    let mut expected = vec![a.id.as_str(), b.id.as_str()];
    expected.sort();
    assert_eq!(ids, expected, "{overview:#?}");
    for n in &overview.nodes {
        assert!(n.error.is_none() && n.health.is_some(), "{n:#?}");
        assert!(n.api.starts_with("http://127.0.0.1:"), "{n:#?}");
        // What each node plays, for the dashboard's rooms per game and mode.
        assert_eq!(n.game, protocol::GameId::of::<arena::Arena>(), "{n:#?}");
        assert_eq!(n.modes, ["arena"], "{n:#?}");
    }
    let hosting: Vec<_> = overview
        .nodes
        .iter()
        .filter(|n| n.rooms.iter().any(|r| r.id == room))
        .collect();
    assert_eq!(hosting.len(), 1, "{overview:#?}");
    assert_eq!(overview.matches, 1);
    assert_eq!(overview.tickets_created, 2);

    let page = get("/dashboard").await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("id=\"spectator\""));

    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    for series in [
        "rallypoint_matches_total 1",
        "rallypoint_tickets_finished_total{outcome=\"assigned\"} 2",
        "rallypoint_time_to_match_seconds_count 2",
        "rallypoint_allocation_latency_seconds_count 1",
        "rallypoint_redis_errors_total ",
        "process_resident_memory_bytes ",
    ] {
        assert!(metrics.contains(series), "no {series:?} in\n{metrics}");
    }
    // A node's own /metrics carries its room.
    let node_metrics = reqwest::get(format!("{}/metrics", hosting[0].api))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        node_metrics.contains("rallypoint_rooms{state=\"waiting\"} 1"),
        "{node_metrics}"
    );

    assert_eq!(get("/v1/health").await.unwrap().status(), 200);
    assert_eq!(get("/v1/ready").await.unwrap().status(), 200);
    // Without Redis the matchmaker is alive but not ready, and counts the failures (the
    // counter is per process, and other tests share this one: compare before and after).
    let redis_errors = |metrics: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("rallypoint_redis_errors_total "))
            .unwrap()
            .parse()
            .unwrap()
    };
    let errors_before = redis_errors(&metrics);
    redis.stop();
    let not_ready = get("/v1/ready").await.unwrap();
    assert_eq!(not_ready.status(), 503);
    assert!(not_ready.text().await.unwrap().contains("ticket store"));
    assert_eq!(get("/v1/health").await.unwrap().status(), 200);
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(redis_errors(&metrics) > errors_before, "{metrics}");
}
