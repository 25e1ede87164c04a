//! A rolling upgrade under load: three `server --role node --drain-mode migrate` processes on
//! one Redis, 300 bots in 30 matches. Each node in turn gets SIGTERM, moves its matches to the
//! others, exits 0, and a new process takes its place; then the next. No match may end early
//! and no bot may lose its match.

mod support;

use std::{
    process::ExitStatus,
    time::{Duration, Instant},
};

use bots::{SwarmConfig, games::ArenaBot, run_swarm};
use matchmaker::{Placement, RedisStore, Standalone};
use support::{NodeProcess, RedisServer, matchmaker_config, node_process, until_nodes};

const SECRET: &str = "a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7";
const BOTS: usize = 300;
const MATCHES: usize = BOTS / 10;
fn node(redis: &RedisServer) -> NodeProcess {
    node_process(
        &redis.url,
        SECRET,
        &[
            "--drain-mode",
            "migrate",
            "--match-duration",
            "45s",
            "--join-timeout",
            "20s",
            "--workers",
            "1",
        ],
    )
}

/// Running matches per node.
async fn running(nodes: &[NodeProcess]) -> Vec<usize> {
    let mut counts = Vec::new();
    for n in nodes {
        counts.push(
            n.rooms()
                .await
                .iter()
                .filter(|r| r.phase == "running")
                .count(),
        );
    }
    counts
}

/// Waits (bounded) for a signalled node to exit.
async fn exit_of(node: &mut NodeProcess, limit: Duration) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = node.child.try_wait().unwrap() {
            return status;
        }
        assert!(
            started.elapsed() < limit,
            "the node did not exit within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_upgrade_of_every_node_ends_no_match_and_loses_no_player() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url, "rp:", Duration::from_secs(60))
        .await
        .unwrap();
    let mut nodes: Vec<NodeProcess> = (0..3).map(|_| node(&redis)).collect();
    until_nodes(&store, 3).await;
    let mm = Standalone::start(matchmaker_config(&redis, SECRET, Placement::Spread))
        .await
        .unwrap();
    let url = format!("http://{}", mm.http_addr);
    let swarm = tokio::spawn(run_swarm::<ArenaBot>(SwarmConfig::new(
        &url,
        BOTS,
        Duration::from_millis(500),
    )));

    // Every match running before the upgrade starts.
    let started = Instant::now();
    loop {
        let counts = running(&nodes).await;
        if counts.iter().sum::<usize>() == MATCHES {
            println!("matches per node before the upgrade: {counts:?}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "only {counts:?} of {MATCHES} matches running"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for i in 0..nodes.len() {
        let before = running(&nodes).await;
        nodes[i].signal("-TERM");
        let signalled = Instant::now();
        let status = exit_of(&mut nodes[i], Duration::from_secs(15)).await;
        assert!(status.success(), "node {i} exited with {status}");
        let took = signalled.elapsed();
        // The upgraded binary takes the old one's place (and ports).
        nodes[i] = node(&redis);
        until_nodes(&store, 3).await;
        let after = running(&nodes).await;
        println!("node {i}: drained in {took:?}; matches per node {before:?} -> {after:?}");
        assert_eq!(
            after.iter().sum::<usize>(),
            MATCHES,
            "every match still running after node {i} moved its own"
        );
    }

    let report = swarm.await.unwrap();
    println!(
        "migrations {} (pause p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms); {} matches, {} player matches, ended early {}, rooms failed {}, unexpected disconnects {}, errors {:?}",
        report.migrations,
        report.migration_pause_ms.p50,
        report.migration_pause_ms.p99,
        report.migration_pause_ms.max,
        report.matches_completed,
        report.player_matches_completed,
        report.matches_ended_early,
        report.rooms_failed,
        report.disconnects_unexpected,
        report.errors,
    );
    let mut longest: Vec<f64> = report
        .migration_longest_pause_ms
        .values()
        .copied()
        .collect();
    longest.sort_by(f64::total_cmp);
    println!(
        "longest pause per match, over {} matches: min {:.1} ms, median {:.1} ms, max {:.1} ms",
        longest.len(),
        longest.first().copied().unwrap_or_default(),
        longest.get(longest.len() / 2).copied().unwrap_or_default(),
        longest.last().copied().unwrap_or_default(),
    );
    assert_eq!(longest.len(), MATCHES, "every match moved at least once");
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(report.matches_ended_early, 0, "{report:#?}");
    assert_eq!(report.rooms_failed, 0, "{report:#?}");
    assert_eq!(report.matches_completed, MATCHES as u64);
    assert_eq!(report.player_matches_completed, BOTS as u64);
    assert_eq!(report.tickets_created, BOTS as u64, "nobody queued again");
    // Every match lived on at least two nodes; every bot followed each move.
    assert!(
        report.migrations >= BOTS as u64,
        "{} migrations",
        report.migrations
    );
    mm.shutdown().await;
}
