//! Drain on SIGTERM, with real processes: a node process is sent SIGTERM mid-match; it stops
//! taking rooms at once, its match plays to the end, new matches go to the other node, and it
//! exits 0.

mod support;

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use bots::{SwarmConfig, run_swarm};
use matchmaker::{Placement, RedisStore, Standalone, StandaloneConfig};
use protocol::api::RoomSummary;
use support::{RedisServer, free_port, wait_for_port};

const SECRET: &str = "d2a1d2a1d2a1d2a1d2a1d2a1d2a1d2a1d2a1d2a1d2a1d2a1d2a1d2a1d2a1d2a1";

struct NodeProcess {
    child: Child,
    url: String,
}

impl NodeProcess {
    fn start(redis: &RedisServer, udp: &str) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_server"))
            .args([
                "--role",
                "node",
                "--redis",
                &redis.url,
                "--cluster-secret",
                SECRET,
                "--http",
                &format!("127.0.0.1:{port}"),
                "--udp-ports",
                udp,
                "--match-duration",
                "4s",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("the server binary runs");
        wait_for_port(port);
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn rooms(&self) -> Vec<RoomSummary> {
        reqwest::get(format!("{}/v1/rooms", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_told_to_stop_drains_its_match_and_exits_cleanly() {
    let redis = RedisServer::start();
    let mut nodes = [
        NodeProcess::start(&redis, "46000-46049"),
        NodeProcess::start(&redis, "46050-46099"),
    ];
    let store = RedisStore::connect(&redis.url, "rp:", Duration::from_secs(60))
        .await
        .unwrap();
    let started = Instant::now();
    while store.nodes().await.unwrap().len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nodes never advertised"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mm = Standalone::start(StandaloneConfig {
        redis: redis.url.clone(),
        http: "127.0.0.1:0".parse().unwrap(),
        cluster_secret: SECRET.into(),
        placement: Placement::Packed,
        players_per_match: 10,
        node_stale_after: Duration::from_secs(3),
    })
    .await
    .unwrap();
    let url = format!("http://{}", mm.http_addr);

    let first = tokio::spawn(run_swarm(SwarmConfig::new(
        &url,
        10,
        Duration::from_millis(300),
    )));
    // Find the node hosting the first match, once it runs.
    let draining = loop {
        let mut host = None;
        for (i, n) in nodes.iter().enumerate() {
            if n.rooms().await.iter().any(|r| r.phase == "running") {
                host = Some(i);
            }
        }
        if let Some(i) = host {
            break i;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the first match never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let other = 1 - draining;
    nodes[draining].terminate();
    let signalled = Instant::now();
    loop {
        let ready = reqwest::get(format!("{}/v1/ready", nodes[draining].url))
            .await
            .unwrap()
            .status();
        if ready == 503 {
            break;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(2),
            "readiness still true after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A new match arrives while the first is still running: it must go to the other node.
    let mut late = SwarmConfig::new(&url, 10, Duration::from_millis(300));
    late.player_prefix = "late".into();
    let second = tokio::spawn(run_swarm(late));
    let mut other_got_it = false;
    while !second.is_finished() {
        assert!(
            nodes[draining].child.try_wait().unwrap().is_none() || first.is_finished(),
            "exited before its match ended"
        );
        if let Ok(rooms) = reqwest::get(format!("{}/v1/rooms", nodes[draining].url)).await {
            let rooms: Vec<RoomSummary> = rooms.json().await.unwrap_or_default();
            assert!(
                rooms.len() <= 1,
                "a draining node took a new room: {rooms:?}"
            );
        }
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
