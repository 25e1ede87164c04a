//! Shared by the integration tests: a real `redis-server`, and game-client scenarios. Each
//! test binary uses a part of it.
#![allow(dead_code)]

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use protocol::{GameClient, MatchmakerClient, PlayerInput, ServerEvent, api::CreateTicketRequest};

/// A `redis-server` child process on a free loopback port, killed on drop.
pub struct RedisServer {
    child: Child,
    /// `redis://127.0.0.1:PORT`.
    pub url: String,
}

impl RedisServer {
    pub fn start() -> Self {
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (.ci/run installs it)");
        wait_for_port(port);
        Self {
            child,
            url: format!("redis://127.0.0.1:{port}"),
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

/// Runs the clients' frames for up to `limit`, until `done` says so; returns every event each
/// got, in order.
async fn pump(
    clients: &mut [&mut GameClient],
    events: &mut [Vec<ServerEvent>],
    limit: Duration,
    mut done: impl FnMut(&[Vec<ServerEvent>]) -> bool,
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
    let request = |p: &str| CreateTicketRequest {
        mode: "arena".into(),
        skill: None,
        player_id: Some(p.into()),
        latencies: None,
        party: None,
    };
    let a = mm.create_ticket(&request("a")).await.unwrap();
    let b = mm.create_ticket(&request("b")).await.unwrap();
    let wait = Duration::from_secs(5);
    let at_a = mm.wait_for_assignment(&a.id, wait).await.unwrap();
    let at_b = mm.wait_for_assignment(&b.id, wait).await.unwrap();
    assert_eq!(at_a.room_id, at_b.room_id);
    let mut ca = GameClient::connect(&at_a).unwrap();
    let mut cb = GameClient::connect(&at_b).unwrap();
    let mut events = vec![Vec::new(), Vec::new()];
    let started = |e: &[ServerEvent]| {
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
    let mut cc = GameClient::connect(&at_c).unwrap();
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
