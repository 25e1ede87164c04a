//! Shared by the server's integration tests: servers and nodes on ports the system picks, and
//! game-client scenarios; the workspace's test kit ([`testkit`]) re-exported beside them. Each
//! test binary uses a part of it.
#![allow(dead_code, unused_imports)]

pub mod inputs;

use std::{
    net::{IpAddr, Ipv4Addr},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use arena::{Arena, ArenaGame, PlayerInput};
use clap::Parser;
use protocol::{
    GameClient, MatchmakerClient, ServerEvent,
    api::{CreateTicketRequest, RoomSummary},
};
use server::{
    EmbeddedServer, NodeConfig, UdpPorts,
    config::ServerArgs,
    room::{Supervision, SyncSettings},
};
pub use testkit::{
    NodeProcess, Partition, RedisServer, browser, eventually, free_port, reported_results,
    wait_for_port,
};

/// An embedded arena server on loopback, its HTTP API and rooms on ports the system picks,
/// with `flags` on top of `server --http 127.0.0.1:0 --udp-ports 0`.
pub async fn embedded(flags: &[&str]) -> EmbeddedServer<ArenaGame> {
    server::testing::embedded(ArenaGame::default(), flags).await
}

/// A node's configuration for in-process tests: named `id`, on loopback, rooms on any free
/// ports, no events, one worker; tests set what they look at with `..node_config(..)`.
pub fn node_config(id: &str, token_key: [u8; 32]) -> NodeConfig {
    NodeConfig {
        node_id: id.into(),
        udp_bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        public_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        udp_ports: UdpPorts::Any,
        max_rooms: 4,
        tick_rate: 30,
        modes: Vec::new(),
        match_duration: Duration::from_secs(30),
        join_timeout: Duration::from_secs(5),
        linger: Duration::from_millis(500),
        token_key,
        workers: 1,
        hang_timeout: Duration::from_secs(2),
        supervision: Supervision::default(),
        sync: SyncSettings::default(),
        backfill: None,
    }
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

/// A `server --role node` child process (the arena's), killed on drop: see
/// [`NodeProcess::start`].
pub fn node_process(redis: &str, secret: &str, extra: &[&str]) -> NodeProcess {
    NodeProcess::start(env!("CARGO_BIN_EXE_server"), redis, secret, extra)
}
