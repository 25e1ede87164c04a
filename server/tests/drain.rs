//! Node processes stopped for real. SIGTERM mid-match: the node stops taking rooms at once, its
//! match plays to the end, new matches go to the other node, and it exits 0. SIGKILL mid-match:
//! within seconds its players' tickets are back at the front of the queue and they finish a
//! match on the other node. Cut off from Redis: the node fences itself (fails its rooms) before
//! the cluster gives its players new rooms, and takes rooms again once it is back. The nodes
//! here write no room copies, so a lost room's players are matched again; `node_loss.rs`
//! resumes lost rooms from their copies.

mod support;

use std::time::{Duration, Instant};

use bots::{SwarmConfig, games::ArenaBot, run_swarm};
use matchmaker::{Placement, RedisStore, Standalone, StandaloneConfig};
use support::{NodeProcess, Partition, RedisServer, matchmaker_config, node_process, until_nodes};

const SECRET: &str = "d2a1d2a1d2a1d2a1d2a1d2a1d2a1d2a1d2a1d2a1d2a1d2a1d2a1d2a1d2a1d2a1";

/// A node that writes no room copies: these tests are about what happens to players whose
/// room is lost (`node_loss.rs` resumes rooms from their copies).
fn node(redis: &RedisServer) -> NodeProcess {
    node_process(
        &redis.url,
        SECRET,
        &["--match-duration", "4s", "--room-copy-interval", "0s"],
    )
}

/// Two node processes and a matchmaker, all on one Redis.
async fn cluster(redis: &RedisServer) -> ([NodeProcess; 2], Standalone) {
    let nodes = [node(redis), node(redis)];
    let store = RedisStore::connect(&redis.url, "rp:", Duration::from_secs(60))
        .await
        .unwrap();
    until_nodes(&store, 2).await;
    (nodes, matchmaker(redis, false).await)
}

/// An in-process matchmaker on `redis`, packing 10-player matches.
async fn matchmaker(redis: &RedisServer, record_history: bool) -> Standalone {
    Standalone::start(StandaloneConfig {
        record_history,
        ..matchmaker_config(redis, SECRET, Placement::Packed)
    })
    .await
    .unwrap()
}

/// Waits (bounded by `limit` from `since`) until the node's readiness reads 503.
async fn until_not_ready(node: &NodeProcess, since: Instant, limit: Duration, what: &str) {
    loop {
        let ready = reqwest::get(format!("{}/v1/ready", node.url))
            .await
            .unwrap()
            .status();
        if ready == 503 {
            return;
        }
        assert!(since.elapsed() < limit, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The index of the node whose room is running, once one is.
async fn host_of_running_match(nodes: &[NodeProcess]) -> usize {
    let started = Instant::now();
    loop {
        for (i, n) in nodes.iter().enumerate() {
            if n.rooms().await.iter().any(|r| r.phase == "running") {
                return i;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no match started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_players_go_back_to_the_queue_and_play_on() {
    let redis = RedisServer::start();
    let (nodes, mm) = cluster(&redis).await;
    let url = format!("http://{}", mm.http_addr);
    let swarm = tokio::spawn(run_swarm::<ArenaBot>(SwarmConfig::new(
        &url,
        10,
        Duration::from_millis(300),
    )));
    let killed = host_of_running_match(&nodes).await;
    nodes[killed].signal("-KILL");
    let at = Instant::now();
    // Noticed within the advert TTL (3 s) and a rescue pass: the players land on the other node.
    loop {
        if !nodes[1 - killed].rooms().await.is_empty() {
            break;
        }
        assert!(
            at.elapsed() < Duration::from_secs(8),
            "players were not placed again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "players placed on the surviving node {:?} after the kill",
        at.elapsed()
    );
    let report = swarm.await.unwrap();
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(
        report.rooms_failed, 10,
        "every player followed its ticket: {report:#?}"
    );
    assert_eq!(report.matches_completed, 1);
    assert_eq!(report.player_matches_completed, 10);
    assert_eq!(report.tickets_created, 10, "the same tickets, not new ones");
    mm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_told_to_stop_drains_its_match_and_exits_cleanly() {
    let redis = RedisServer::start();
    let (mut nodes, mm) = cluster(&redis).await;
    let url = format!("http://{}", mm.http_addr);
    let first = tokio::spawn(run_swarm::<ArenaBot>(SwarmConfig::new(
        &url,
        10,
        Duration::from_millis(300),
    )));
    let draining = host_of_running_match(&nodes).await;
    let other = 1 - draining;
    nodes[draining].signal("-TERM");
    let signalled = Instant::now();
    until_not_ready(
        &nodes[draining],
        signalled,
        Duration::from_secs(2),
        "readiness still true after SIGTERM",
    )
    .await;

    // A new match arrives while the first is still running: it must go to the other node.
    let mut late = SwarmConfig::new(&url, 10, Duration::from_millis(300));
    late.player_prefix = "late".into();
    let second = tokio::spawn(run_swarm::<ArenaBot>(late));
    let mut other_got_it = false;
    while !second.is_finished() {
        assert!(
            nodes[draining].rooms().await.len() <= 1,
            "a draining node took a new room"
        );
        if !nodes[other].rooms().await.is_empty() {
            other_got_it = true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(other_got_it, "the new match went to the other node");
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    for report in [&first, &second] {
        assert!(report.is_clean(), "{report:#?}");
        assert_eq!(report.matches_completed, 1, "{report:#?}");
    }
    // The drained node exits by itself, with status 0, once its match is over.
    let status = loop {
        if let Some(status) = nodes[draining].child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(20),
            "the drained node never exited"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
    mm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_redis_fences_itself_and_its_players_play_on_elsewhere() {
    let redis = RedisServer::start();
    let partition = Partition::start(redis.port).await;
    let through_partition = format!("redis://127.0.0.1:{}", partition.port);
    let flags = [
        "--match-duration",
        "4s",
        "--record-history",
        "--room-copy-interval",
        "0s",
    ];
    let cut_off = node_process(&through_partition, SECRET, &flags);
    let mm = matchmaker(&redis, true).await;
    let url = format!("http://{}", mm.http_addr);
    let mut swarm = SwarmConfig::new(&url, 10, Duration::from_millis(300));
    swarm.scenario.grace = Duration::from_secs(40);
    let swarm = tokio::spawn(run_swarm::<ArenaBot>(swarm));
    host_of_running_match(std::slice::from_ref(&cut_off)).await;
    // A second node, reachable, for the match to move to.
    let other = node_process(&redis.url, SECRET, &flags);

    partition.cut();
    let cut_at = Instant::now();
    // Within the advert TTL the node fences itself: not ready, its room failed.
    until_not_ready(
        &cut_off,
        cut_at,
        Duration::from_secs(6),
        "the cut-off node never fenced itself",
    )
    .await;
    let fenced_after = cut_at.elapsed();
    let report = swarm.await.unwrap();
    eprintln!(
        "fenced {fenced_after:?} after the cut; {}",
        serde_json::to_string(&report).unwrap()
    );
    // The players were told, followed their tickets, and finished on the other node; no
    // ticket was lost or held two rooms.
    assert_eq!(report.rooms_failed, 10, "{report:#?}");
    assert_eq!(report.matches_completed, 1, "{report:#?}");
    assert_eq!(report.player_matches_completed, 10, "{report:#?}");
    assert_eq!((report.tickets_lost, report.tickets_reassigned), (0, 0));
    drop(other);

    // Healed: the node advertises again and takes rooms.
    partition.heal();
    cut_off.until_ready(Duration::from_secs(10)).await;
    let store = RedisStore::connect(&redis.url, "rp:", Duration::from_secs(60))
        .await
        .unwrap();
    let history = matchmaker::check_history(&store.history().await.unwrap());
    assert!(history.is_clean(), "{history:#?}");
    assert_eq!(
        (history.tickets, history.assigned, history.requeued),
        (10, 10, 10)
    );
    mm.shutdown().await;
}
