//! Every failure of distributed mode in one run, with the ticket invariant checked on the
//! store's own recorded history: 2 matchmaker processes, 3 node processes and a persistent
//! `redis-server`, bots playing throughout. Mid-run a node is SIGKILLed, a matchmaker is
//! SIGKILLed, another node drains on SIGTERM and Redis is killed and restarted. Afterwards every
//! ticket must have ended in exactly one terminal state, none lost, none assigned twice.

mod support;

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use bots::{SwarmConfig, games::ArenaBot, run_swarm};
use matchmaker::RedisStore;
use support::{NodeProcess, RedisServer, free_port, node_process, wait_for_port};

const SECRET: &str = "c4a05c4a05c4a05c4a05c4a05c4a05c4a05c4a05c4a05c4a05c4a05c4a05c4a0";

/// The `matchmaker` binary, next to this package's `server` binary. `cargo test --workspace`
/// builds it (the matchmaker package's own tests need it); with `-p server` alone it is built
/// here if missing.
fn matchmaker_binary() -> PathBuf {
    let server = PathBuf::from(env!("CARGO_BIN_EXE_server"));
    let path = server.with_file_name(format!("matchmaker{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "matchmaker", "--bin", "matchmaker"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the matchmaker binary failed");
    }
    path
}

/// A `matchmaker` child process, killed on drop.
struct MatchmakerProcess {
    child: Child,
    url: String,
}

impl MatchmakerProcess {
    fn start(redis: &str) -> Self {
        let port = free_port();
        let child = Command::new(matchmaker_binary())
            .args([
                "--redis",
                redis,
                "--http",
                &format!("127.0.0.1:{port}"),
                "--cluster-secret",
                SECRET,
                "--mode",
                "arena",
                "--record-history",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("the matchmaker binary runs");
        wait_for_port(port);
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for MatchmakerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (bounded) until some node hosts a running match; returns its index.
async fn a_node_with_a_running_match(nodes: &[&NodeProcess], limit: Duration) -> usize {
    let started = Instant::now();
    loop {
        for (i, n) in nodes.iter().enumerate() {
            if n.rooms().await.iter().any(|r| r.phase == "running") {
                return i;
            }
        }
        assert!(started.elapsed() < limit, "no match started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_ticket_is_lost_or_assigned_twice_through_every_failure() {
    let dir = std::env::temp_dir().join(format!("rallypoint-chaos-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut redis = RedisServer::start_persistent(&dir);
    let node_flags = ["--match-duration", "4s", "--record-history"];
    let mut nodes: Vec<Option<NodeProcess>> = (0..3)
        .map(|_| Some(node_process(&redis.url, SECRET, &node_flags)))
        .collect();
    let store = RedisStore::connect(&redis.url, "rp:", Duration::from_secs(60))
        .await
        .unwrap();
    let started = Instant::now();
    while store.nodes().await.unwrap().len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "nodes never advertised"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mm = [
        Some(MatchmakerProcess::start(&redis.url)),
        Some(MatchmakerProcess::start(&redis.url)),
    ];
    let mut mm = mm;
    // Half the bots know the first matchmaker first, half the second; both know both.
    let urls = |first: usize| {
        let urls: Vec<&str> = [first, 1 - first]
            .iter()
            .map(|&i| mm[i].as_ref().unwrap().url.as_str())
            .collect();
        urls.join(",")
    };
    let mut swarms = Vec::new();
    for (first, prefix) in [(0, "left"), (1, "right")] {
        let mut config = SwarmConfig::new(&urls(first), 20, Duration::from_secs(20));
        config.scenario.grace = Duration::from_secs(60);
        config.player_prefix = prefix.into();
        swarms.push(tokio::spawn(run_swarm::<ArenaBot>(config)));
    }

    // 1. A node dies mid-match, and so does a matchmaker.
    let live: Vec<&NodeProcess> = nodes.iter().flatten().collect();
    let victim = a_node_with_a_running_match(&live, Duration::from_secs(30)).await;
    nodes[victim].as_ref().unwrap().signal("-KILL");
    drop(nodes[victim].take());
    drop(mm[0].take());
    let killed_at = Instant::now();

    // 2. Another node with a match drains on SIGTERM and must exit 0 once it is over.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let survivors: Vec<usize> = (0..3).filter(|&i| nodes[i].is_some()).collect();
    let live: Vec<&NodeProcess> = survivors
        .iter()
        .map(|&i| nodes[i].as_ref().unwrap())
        .collect();
    let drained = survivors[a_node_with_a_running_match(&live, Duration::from_secs(20)).await];
    nodes[drained].as_ref().unwrap().signal("-TERM");

    // 3. Redis dies and comes back with its append-only file.
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.restart();
    eprintln!(
        "node killed, matchmaker killed, node draining, Redis restarted within {:?}",
        killed_at.elapsed()
    );

    let mut reports = Vec::new();
    for swarm in swarms {
        reports.push(swarm.await.unwrap());
    }
    let mut draining = nodes[drained].take().unwrap();
    let exit = tokio::task::spawn_blocking(move || draining.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "the drained node exits 0: {exit:?}");

    // The bots' own ticket histories.
    for report in &reports {
        eprintln!("{}", serde_json::to_string(report).unwrap());
        assert_eq!(report.tickets_lost, 0, "{report:#?}");
        assert_eq!(report.tickets_reassigned, 0, "{report:#?}");
        assert!(report.matches_completed > 0, "{report:#?}");
    }
    // The store's: every ticket any process ever wrote.
    let store = RedisStore::connect(&redis.url, "rp:", Duration::from_secs(60))
        .await
        .unwrap();
    let history = matchmaker::check_history(&store.history().await.unwrap());
    eprintln!(
        "history: {} tickets, {} assigned, {} cancelled, {} no_match, {} requeued, {} moved with their room, {} unfinished, {} violations",
        history.tickets,
        history.assigned,
        history.cancelled,
        history.no_match,
        history.requeued,
        history.moved,
        history.unfinished.len(),
        history.violations.len()
    );
    assert!(history.is_clean(), "{history:#?}");
    let created: u64 = reports.iter().map(|r| r.tickets_created).sum();
    assert_eq!(
        history.tickets as u64, created,
        "the store saw every ticket the bots made"
    );
    // Its match resumed on another node from its copy (the tickets moved with it), or, if
    // that could not be done, its players were matched again.
    assert!(
        history.requeued + history.moved > 0,
        "the killed node's players were requeued or followed their room"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
