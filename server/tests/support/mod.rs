//! Shared by the integration tests: a real `redis-server`, and game-client scenarios. Each
//! test binary uses a part of it.
#![allow(dead_code)]

pub mod browser;

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use arena::{Arena, PlayerInput};
use protocol::{
    GameClient, MatchmakerClient, ServerEvent,
    api::{CreateTicketRequest, RoomSummary},
};

/// A `redis-server` child process on a free loopback port, killed on drop.
pub struct RedisServer {
    child: Child,
    /// `redis://127.0.0.1:PORT`.
    pub url: String,
    pub port: u16,
    args: Vec<String>,
}

impl RedisServer {
    pub fn start() -> Self {
        Self::spawn(free_port(), &["--save", "", "--appendonly", "no"])
    }

    /// Every write synced to an append-only file in `dir` before it is acknowledged, so a
    /// [`RedisServer::restart`] loses nothing.
    pub fn start_persistent(dir: &std::path::Path) -> Self {
        let dir = dir.to_str().unwrap();
        Self::spawn(
            free_port(),
            &[
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                dir,
            ],
        )
    }

    /// Kills the process (SIGKILL); [`RedisServer::restart`] brings it back.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the process (SIGKILL) and starts it again on the same port with the same flags.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        *self = Self::spawn(
            self.port,
            &self.args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }

    fn spawn(port: u16, extra: &[&str]) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (.ci/run installs it)");
        wait_for_port(port);
        Self {
            child,
            url: format!("redis://127.0.0.1:{port}"),
            port,
            args: extra.iter().map(|a| a.to_string()).collect(),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (bounded) until something accepts connections on the port.
pub fn wait_for_port(port: u16) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "nothing listened on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asks `probe` every 20 ms until it gives a value or `limit` has passed.
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    limit: Duration,
    mut probe: impl FnMut() -> F,
) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return Some(value);
        }
        if started.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The results of room `room`'s match, once its node has reported them (within 3 s).
pub async fn reported_results(mm: &MatchmakerClient, room: u64) -> protocol::api::MatchRecord {
    eventually(Duration::from_secs(3), || async {
        mm.match_results(room).await.ok()
    })
    .await
    .unwrap_or_else(|| panic!("no results reported for room {room}"))
}

/// Runs the clients' frames for up to `limit`, until `done` says so; returns every event each
/// got, in order.
pub async fn pump(
    clients: &mut [&mut GameClient<Arena>],
    events: &mut [Vec<ServerEvent<Arena>>],
    limit: Duration,
    mut done: impl FnMut(&[Vec<ServerEvent<Arena>>]) -> bool,
) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        for (c, seen) in clients.iter_mut().zip(events.iter_mut()) {
            c.update(Duration::from_millis(10)).unwrap();
            while let Some(e) = c.poll_event() {
                seen.push(e);
            }
            c.send_input(PlayerInput::new(0.0, 0.0, 0.0, false));
            c.flush().unwrap();
        }
        if done(events) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Two players start a 2-player match at `url`; one leaves; a third, queued after, must be
/// placed in that running match on the leaver's team, be welcomed there, and be seen by the
/// other player.
pub async fn replace_a_leaver(url: &str) {
    let mm = MatchmakerClient::new(url);
    let request = |p: &str| CreateTicketRequest::for_player("arena", p);
    let a = mm.create_ticket(&request("a")).await.unwrap();
    let b = mm.create_ticket(&request("b")).await.unwrap();
    let wait = Duration::from_secs(5);
    let at_a = mm.wait_for_assignment(&a.id, wait).await.unwrap();
    let at_b = mm.wait_for_assignment(&b.id, wait).await.unwrap();
    assert_eq!(at_a.room_id, at_b.room_id);
    let mut ca = GameClient::<Arena>::connect(&at_a).unwrap();
    let mut cb = GameClient::<Arena>::connect(&at_b).unwrap();
    let mut events = vec![Vec::new(), Vec::new()];
    let started = |e: &[ServerEvent<Arena>]| {
        e.iter()
            .any(|e| matches!(e, ServerEvent::MatchStarted { .. }))
    };
    assert!(
        pump(&mut [&mut ca, &mut cb], &mut events, wait, |ev| ev
            .iter()
            .all(|e| started(e)))
        .await,
        "the match starts"
    );

    // A leaves; the room opens its place; C, queued now, gets it.
    ca.leave();
    pump(
        &mut [&mut ca, &mut cb],
        &mut events,
        Duration::from_millis(300),
        |_| false,
    )
    .await;
    ca.disconnect();
    let c = mm.create_ticket(&request("c")).await.unwrap();
    let at_c = mm.wait_for_assignment(&c.id, wait).await.unwrap();
    assert_eq!(at_c.room_id, at_a.room_id, "placed in the running match");
    assert_eq!(at_c.team, at_a.team, "on the team of the one who left");

    // C plays: welcomed on that team, and B hears of it.
    let mut cc = GameClient::<Arena>::connect(&at_c).unwrap();
    let mut events = vec![Vec::new(), Vec::new()];
    let joined = pump(&mut [&mut cb, &mut cc], &mut events, wait, |ev| {
        ev[0]
            .iter()
            .any(|e| matches!(e, ServerEvent::PlayerJoined { player_id, .. } if player_id == "c"))
            && ev[1]
                .iter()
                .any(|e| matches!(e, ServerEvent::Welcome { team, .. } if *team == at_a.team))
    })
    .await;
    assert!(joined, "{events:?}");
}

/// A standalone matchmaker's configuration on `redis` with the cluster `secret`: an HTTP port
/// of its own, 10-player free-for-all matches, a 3 s node staleness, no rate limit.
pub fn matchmaker_config(
    redis: &RedisServer,
    secret: &str,
    placement: matchmaker::Placement,
) -> matchmaker::StandaloneConfig {
    matchmaker::StandaloneConfig {
        redis: redis.url.clone(),
        http: "127.0.0.1:0".parse().unwrap(),
        cluster_secret: secret.into(),
        placement,
        modes: vec![matchmaker::ModeRules::free_for_all("arena", 10)],
        record_history: false,
        node_stale_after: Duration::from_secs(3),
        ticket_rate_per_ip: 0,
    }
}

/// Waits (bounded) until `count` live, non-draining adverts are in Redis.
pub async fn until_nodes(store: &matchmaker::RedisStore, count: usize) {
    let started = Instant::now();
    loop {
        let live = store
            .nodes()
            .await
            .unwrap()
            .iter()
            .filter(|n| !n.draining)
            .count();
        if live == count {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{live} of {count} nodes advertised"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `server --role node` child process, killed on drop.
pub struct NodeProcess {
    pub child: Child,
    /// Its HTTP API.
    pub url: String,
}

impl NodeProcess {
    /// Starts a node on `redis` with the cluster `secret`, rooms on the `udp` port range, and
    /// `extra` flags.
    pub fn start(redis: &str, secret: &str, udp: &str, extra: &[&str]) -> Self {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_server"))
            .args([
                "--role",
                "node",
                "--redis",
                redis,
                "--cluster-secret",
                secret,
                "--http",
                &format!("127.0.0.1:{port}"),
                "--udp-ports",
                udp,
            ])
            .args(extra)
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

    pub async fn rooms(&self) -> Vec<RoomSummary> {
        match reqwest::get(format!("{}/v1/rooms", self.url)).await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => Vec::new(), // stopped
        }
    }

    /// Waits (bounded by `limit`) until its `/v1/ready` answers 200.
    pub async fn until_ready(&self, limit: Duration) {
        let started = Instant::now();
        while reqwest::get(format!("{}/v1/ready", self.url))
            .await
            .map_or(true, |r| r.status() != 200)
        {
            assert!(started.elapsed() < limit, "never ready within {limit:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
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

/// A TCP proxy on loopback in front of a port that can cut every connection through it and
/// refuse new ones (a network partition between one process and, say, Redis), then heal.
pub struct Partition {
    /// Where to connect instead of the target.
    pub port: u16,
    cut: tokio::sync::watch::Sender<bool>,
}

impl Partition {
    /// Starts proxying to `target` (a loopback port).
    pub async fn start(target: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, watch) = tokio::sync::watch::channel(false);
        tokio::spawn(Self::serve(listener, target, watch));
        Self { port, cut }
    }

    /// Accepts and proxies until cut; while cut, nothing listens (connections are refused);
    /// once healed, listens on the same port again.
    async fn serve(
        mut listener: tokio::net::TcpListener,
        target: u16,
        mut watch: tokio::sync::watch::Receiver<bool>,
    ) {
        let port = listener.local_addr().unwrap().port();
        let connections = watch.clone();
        loop {
            let cut = tokio::select! {
                accepted = listener.accept() => {
                    let Ok((mut inbound, _)) = accepted else { return };
                    let mut watch = connections.clone();
                    tokio::spawn(async move {
                        let Ok(mut outbound) =
                            tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                        else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            _ = watch.wait_for(|cut| *cut) => {}
                        }
                    });
                    false
                }
                _ = watch.wait_for(|cut| *cut) => true,
            };
            if cut {
                drop(listener);
                if watch.wait_for(|cut| !*cut).await.is_err() {
                    return;
                }
                listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                    .await
                    .unwrap();
            }
        }
    }

    /// Drops every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Lets connections through again.
    pub fn heal(&self) {
        self.cut.send_replace(false);
    }
}
