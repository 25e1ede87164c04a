//! A node dies mid-match and its match goes on elsewhere: two `server --role node` processes
//! on one Redis, each hosting one 10-player match, each writing copies of its rooms to Redis
//! every second. One is SIGKILLed; a matchmaker resumes its room from the last copy on the
//! other node, the tickets follow the room, and every bot rejoins as the same player and plays
//! the match to its end. What the room did after its last copy is lost: measured here. And
//! a node cut off from Redis, declared dead while it still plays: its match resumes elsewhere,
//! its players follow, and once healed it leaves the moved room and its tickets alone.

mod support;

use std::time::{Duration, Instant};

use bots::{SwarmConfig, games::ArenaBot, run_swarm};
use matchmaker::{Placement, RedisStore, Standalone, StandaloneConfig};
use support::{NodeProcess, Partition, RedisServer, matchmaker_config, node_process, until_nodes};

const SECRET: &str = "d1ed1ed1ed1ed1ed1ed1ed1ed1ed1ed1ed1ed1ed1ed1ed1ed1ed1ed1ed1ed1ed";

fn node(redis_url: &str) -> NodeProcess {
    node_process(
        redis_url,
        SECRET,
        &[
            "--match-duration",
            "20s",
            "--record-history",
            "--workers",
            "1",
        ],
    )
}

/// Waits (bounded) until each node runs one match at least `ticks` old; returns their ids.
async fn one_match_each(nodes: &[&NodeProcess], ticks: u32) -> Vec<u64> {
    let started = Instant::now();
    loop {
        let mut rooms = Vec::new();
        for n in nodes {
            rooms.push(n.rooms().await);
        }
        let ready: Vec<u64> = rooms
            .iter()
            .filter_map(|r| match r.as_slice() {
                [room] if room.phase == "running" && room.tick >= ticks => Some(room.id),
                _ => None,
            })
            .collect();
        if ready.len() == nodes.len() {
            return ready;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "matches never ran one per node: {rooms:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A matchmaker recording the ticket history (spread placement), and `bots` bots that each
/// queue once and play their match to the end.
async fn matchmaker_and_bots(
    redis: &RedisServer,
    bots: usize,
) -> (Standalone, tokio::task::JoinHandle<bots::Report>) {
    let mm = Standalone::start(StandaloneConfig {
        record_history: true,
        ..matchmaker_config(redis, SECRET, Placement::Spread)
    })
    .await
    .unwrap();
    let swarm = tokio::spawn(run_swarm::<ArenaBot>(SwarmConfig::new(
        &format!("http://{}", mm.http_addr),
        bots,
        Duration::from_millis(500),
    )));
    (mm, swarm)
}

/// Waits (bounded) until `node` runs `room`; how long after `since` that was.
async fn until_room_on(node: &NodeProcess, room: u64, since: Instant) -> Duration {
    loop {
        let here: Vec<u64> = node.rooms().await.iter().map(|r| r.id).collect();
        if here.contains(&room) {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(15),
            "room {room} never resumed; the node runs {here:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The swarm's report, once it has finished (bounded).
async fn finished(swarm: tokio::task::JoinHandle<bots::Report>) -> bots::Report {
    tokio::time::timeout(Duration::from_secs(60), swarm)
        .await
        .expect("the bots finish")
        .unwrap()
}

/// The store's ticket history, checked clean: (tickets, assigned, requeued, moved).
async fn history_counts(store: &RedisStore) -> (usize, usize, usize, usize) {
    let history = matchmaker::check_history(&store.history().await.unwrap());
    assert!(history.is_clean(), "{history:#?}");
    println!("{history:#?}");
    (
        history.tickets,
        history.assigned,
        history.requeued,
        history.moved,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_match_on_a_killed_node_resumes_on_another_and_every_player_finishes_it() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url, "rp:", Duration::from_secs(60))
        .await
        .unwrap();
    let mut victim = Some(node(&redis.url));
    let survivor = node(&redis.url);
    until_nodes(&store, 2).await;
    let (mm, swarm) = matchmaker_and_bots(&redis, 20).await;

    // Three seconds into both matches (three copies written), the first node dies, at a
    // random moment between two copies: what is lost is whatever the room did since its last.
    let rooms = one_match_each(&[victim.as_ref().unwrap(), &survivor], 90).await;
    let lost_room = rooms[0];
    tokio::time::sleep(Duration::from_millis(rand::random_range(0..1000))).await;
    victim.as_ref().unwrap().signal("-KILL");
    drop(victim.take());
    let killed_at = Instant::now();

    // Its room resumes on the survivor under the same id.
    let resumed = until_room_on(&survivor, lost_room, killed_at).await;
    println!("room {lost_room} resumed on the other node {resumed:?} after the kill");

    let report = finished(swarm).await;
    println!(
        "rejoins {}: pause p50 {:.0} ms, max {:.0} ms; ticks lost p50 {:.0}, max {:.0}",
        report.rejoins,
        report.rejoin_pause_ms.p50,
        report.rejoin_pause_ms.max,
        report.rejoin_lost_ticks.p50,
        report.rejoin_lost_ticks.max
    );
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(report.rejoins, 10, "every player of the lost node rejoined");
    assert_eq!(
        report.rooms_failed, 0,
        "no player was sent back to the queue"
    );
    assert_eq!(report.matches_ended_early, 0);
    assert_eq!(report.matches_completed, 2, "{report:#?}");
    assert_eq!(report.player_matches_completed, 20);
    assert_eq!(report.tickets_created, 20, "nobody needed a second ticket");
    // About the copy interval (1 s = 30 ticks) at most, with room for a copy written late.
    assert!(
        report.rejoin_lost_ticks.max <= 45.0,
        "{:?}",
        report.rejoin_lost_ticks
    );

    // The store's own history: each of the lost room's tickets moved with it, none was
    // requeued, every ticket ended assigned exactly once.
    assert_eq!(history_counts(&store).await, (20, 20, 0, 10));
    // And the operator sees it in the matchmaker's metrics.
    let metrics = reqwest::get(format!("http://{}/metrics", mm.http_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "rallypoint_rooms_rescued_total{outcome=\"resumed\"} 1",
        "rallypoint_rooms_rescued_total{outcome=\"requeued\"} 0",
        "rallypoint_tickets_rescued_total{outcome=\"moved\"} 10",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line} in\n{metrics}"
        );
    }
    mm.shutdown().await;
}

/// A node cut off from Redis is declared dead while it still plays: its match resumes from its
/// copy on the other node, the cut-off node fences itself and fails its room, and its players,
/// told so, follow their tickets to the resumed room. Once healed, the node neither requeues
/// those tickets nor forgets the room that now runs elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_match_on_a_node_cut_off_from_redis_resumes_elsewhere_and_its_players_follow() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url, "rp:", Duration::from_secs(60))
        .await
        .unwrap();
    let partition = Partition::start(redis.port).await;
    let cut_off = node(&format!("redis://127.0.0.1:{}", partition.port));
    until_nodes(&store, 1).await;
    let (mm, swarm) = matchmaker_and_bots(&redis, 10).await;
    let room = one_match_each(&[&cut_off], 60).await[0];
    // A second node, reachable, for the match to resume on.
    let other = node(&redis.url);
    until_nodes(&store, 2).await;

    partition.cut();
    let cut_at = Instant::now();
    let resumed = until_room_on(&other, room, cut_at).await;
    println!("resumed on the reachable node {resumed:?} after the cut");
    let report = finished(swarm).await;
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(report.matches_completed, 1, "{report:#?}");
    assert_eq!(report.player_matches_completed, 10, "{report:#?}");
    assert_eq!(report.tickets_created, 10, "{report:#?}");

    // Healed: the node's late requeue and its closing of the failed room leave the resumed
    // room's tickets and record alone.
    partition.heal();
    cut_off.until_ready(Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(history_counts(&store).await, (10, 10, 0, 10));
    mm.shutdown().await;
}
