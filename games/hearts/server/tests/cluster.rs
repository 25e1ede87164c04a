//! Hearts on a cluster of `hearts-server --role node` processes sharing a real Redis, card bots
//! from the swarm at the tables: a rolling upgrade of three nodes moves every table live and
//! loses no card (each bot checks every hand it hears: each card once, 52 of them, the points
//! right); and a node killed mid-game has its table resumed from its copy on another node,
//! every player rejoining and finishing the game.

use std::time::{Duration, Instant};

use bots::{SwarmConfig, games::HeartsBot, run_swarm};
use matchmaker::{ModeRules, Placement, RedisStore, Standalone, StandaloneConfig};
use protocol::api::{RoomRules, TimeLimit};
use testkit::{NodeProcess, RedisServer, eventually};

const SECRET: &str = "c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4c4";

/// A Hearts node: games to `target` points, one worker, and `extra` flags.
fn node(redis: &RedisServer, target: &str, extra: &[&str]) -> NodeProcess {
    let mut flags = vec!["--target-score", target, "--workers", "1"];
    flags.extend_from_slice(extra);
    NodeProcess::start(
        env!("CARGO_BIN_EXE_hearts-server"),
        &redis.url,
        SECRET,
        &flags,
    )
}

/// Waits (bounded) until `count` live, non-draining nodes are advertised.
async fn until_nodes(store: &RedisStore, count: usize) {
    let advertised = eventually(Duration::from_secs(15), || async {
        let nodes = store.nodes().await.ok()?;
        (nodes.iter().filter(|n| !n.draining).count() == count).then_some(())
    })
    .await;
    assert!(advertised.is_some(), "{count} nodes never advertised");
}

/// A matchmaker for four-seat Hearts tables with no match clock, placing rooms across nodes.
async fn matchmaker(redis: &RedisServer) -> Standalone {
    let mut hearts = ModeRules::free_for_all("hearts", 4);
    hearts.room = RoomRules {
        time_limit: Some(TimeLimit::None),
        ..RoomRules::default()
    };
    Standalone::start(StandaloneConfig {
        redis: redis.url.clone(),
        http: "127.0.0.1:0".parse().unwrap(),
        cluster_secret: SECRET.into(),
        placement: Placement::Spread,
        modes: vec![hearts],
        record_history: false,
        node_stale_after: Duration::from_secs(3),
        ticket_rate_per_ip: 0,
    })
    .await
    .unwrap()
}

/// `bots` Hearts bots that each queue once and play their game to the end.
fn swarm(mm: &Standalone, bots: usize) -> tokio::task::JoinHandle<bots::Report> {
    tokio::spawn(run_swarm::<HeartsBot>(SwarmConfig::new(
        &format!("http://{}", mm.http_addr),
        bots,
        Duration::from_millis(500),
    )))
}

/// The swarm's report once every bot has finished its game (bounded), printed for the record.
async fn finished(swarm: tokio::task::JoinHandle<bots::Report>) -> bots::Report {
    let report = tokio::time::timeout(Duration::from_secs(180), swarm)
        .await
        .expect("the bots finish their games")
        .unwrap();
    println!("{}", serde_json::to_string(&report).unwrap());
    report
}

/// Running tables per node.
async fn running(nodes: &[NodeProcess]) -> Vec<usize> {
    let mut counts = Vec::new();
    for n in nodes {
        counts.push(n.running().await);
    }
    counts
}

/// Waits (bounded) until `tables` tables are running over `nodes`.
async fn until_running(nodes: &[NodeProcess], tables: usize) -> Vec<usize> {
    let started = Instant::now();
    loop {
        let counts = running(nodes).await;
        if counts.iter().sum::<usize>() == tables {
            return counts;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "only {counts:?} of {tables} tables running"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_upgrade_of_three_hearts_nodes_ends_no_game_and_loses_no_card() {
    const BOTS: usize = 48;
    const TABLES: usize = BOTS / 4;
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url, "rp:", Duration::from_secs(60))
        .await
        .unwrap();
    let upgraded = |redis: &RedisServer| node(redis, "60", &["--drain-mode", "migrate"]);
    let mut nodes: Vec<NodeProcess> = (0..3).map(|_| upgraded(&redis)).collect();
    until_nodes(&store, 3).await;
    let mm = matchmaker(&redis).await;
    let swarm = swarm(&mm, BOTS);
    println!(
        "tables per node before: {:?}",
        until_running(&nodes, TABLES).await
    );

    for i in 0..nodes.len() {
        // Mid-hand: let some cards fall on every table first.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        nodes[i].signal("-TERM");
        let status = nodes[i].exit(Duration::from_secs(15)).await;
        assert!(status.success(), "node {i} exited with {status}");
        nodes[i] = upgraded(&redis);
        until_nodes(&store, 3).await;
        let after = running(&nodes).await;
        println!("node {i} upgraded; tables per node {after:?}");
        assert_eq!(
            after.iter().sum::<usize>(),
            TABLES,
            "every table still playing"
        );
    }

    let report = finished(swarm).await;
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(
        report.migration_longest_pause_ms.len(),
        TABLES,
        "every table moved at least once"
    );
    assert_eq!(report.matches_ended_early, 0);
    assert_eq!(report.rooms_failed, 0);
    assert_eq!(report.rejoins, 0, "live moves, not resumptions from a copy");
    assert_eq!(report.matches_completed, TABLES as u64);
    assert_eq!(report.player_matches_completed, BOTS as u64);
    // Every bot checked the hands it heard across the moves (each card once, 52, 26 points).
    let hands = report.game_counts.get("hearts_hands_checked").copied();
    assert!(
        hands.unwrap_or(0) >= 2 * BOTS as u64,
        "{:?}",
        report.game_counts
    );
    mm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hearts_table_on_a_killed_node_resumes_from_its_copy_and_every_player_finishes() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url, "rp:", Duration::from_secs(60))
        .await
        .unwrap();
    let mut victim = Some(node(&redis, "40", &[]));
    let survivor = node(&redis, "40", &[]);
    until_nodes(&store, 2).await;
    let mm = matchmaker(&redis).await;
    let swarm = swarm(&mm, 8);

    // A table on each node, both well into their first hand (the copies are written every
    // second), then the first node dies.
    let mut rooms = Vec::new();
    let started = Instant::now();
    while rooms.len() < 2 {
        rooms.clear();
        for n in [victim.as_ref().unwrap(), &survivor] {
            if let [room] = n.rooms().await.as_slice()
                && room.phase == "running"
                && room.tick >= 30
            {
                rooms.push(room.id);
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no table on each node"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(rand::random_range(0..1000))).await;
    victim.as_ref().unwrap().signal("-KILL");
    drop(victim.take());

    let lost = rooms[0];
    let resumed = eventually(Duration::from_secs(15), || async {
        survivor
            .rooms()
            .await
            .iter()
            .any(|r| r.id == lost)
            .then_some(())
    })
    .await;
    assert!(
        resumed.is_some(),
        "table {lost} never resumed on the survivor"
    );

    let report = finished(swarm).await;
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(report.rejoins, 4, "every player of the lost table rejoined");
    assert_eq!(report.rooms_failed, 0);
    assert_eq!(report.matches_ended_early, 0);
    assert_eq!(report.matches_completed, 2);
    assert_eq!(report.player_matches_completed, 8);
    assert_eq!(report.tickets_created, 8, "nobody needed a second ticket");
    mm.shutdown().await;
}
