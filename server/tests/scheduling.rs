//! The worker pool: a hung or slow room must not delay other rooms' ticks. Asserted on the tick
//! times the rooms record themselves (lateness after each deadline), not on sleeps.

mod support;

use std::time::{Duration, Instant};

use arena::ArenaGame;
use matchmaker::{AllocationRequest, Allocator};
use protocol::api::RoomPlayer;
use server::{Node, NodeConfig, room::Fault};

/// These tests measure tick timing on a 2-core machine, so they run one at a time: in parallel
/// they would measure each other's CPU use (a slow fault spins a core), not the scheduler.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A node of two workers and room for up to `max_rooms` rooms.
fn node(max_rooms: usize) -> Node<ArenaGame> {
    Node::new(
        ArenaGame::default(),
        NodeConfig {
            max_rooms,
            match_duration: Duration::from_secs(60),
            // Nobody connects; the rooms keep ticking while they wait.
            join_timeout: Duration::from_secs(60),
            workers: 2,
            hang_timeout: Duration::from_secs(1),
            ..support::node_config("test", [3; 32])
        },
        None,
    )
}

async fn start_rooms(node: &Node<ArenaGame>, n: usize) -> Vec<u64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let request = AllocationRequest {
            mode: "arena".into(),
            rules: Default::default(),
            region: None,
            players: vec![RoomPlayer {
                player_id: format!("p{i}"),
                ticket_id: format!("{i:032x}"),
                team: 0,
            }],
        };
        ids.push(node.allocate(request).await.unwrap().room_id);
    }
    ids
}

/// Waits (bounded) until `cond` holds.
async fn until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn tick_of(node: &Node<ArenaGame>, id: u64) -> u32 {
    node.rooms()
        .iter()
        .find(|r| r.id == id)
        .map_or(0, |r| r.summary().tick)
}

#[tokio::test]
async fn a_hung_room_is_released_and_the_others_keep_ticking_on_time() {
    let _serial = SERIAL.lock().await;
    let node = node(100);
    let ids = start_rooms(&node, 10).await;
    until("rooms ticking", Duration::from_secs(5), || {
        ids.iter().all(|&id| tick_of(&node, id) > 30)
    })
    .await;
    let (hung, bystanders) = (ids[0], &ids[1..]);
    node.inject_fault(hung, Fault::Hang).unwrap();

    until(
        "the hung room to be released",
        Duration::from_secs(5),
        || node.health().rooms_failed == 1,
    )
    .await;
    assert_eq!(
        node.health().workers_replaced,
        1,
        "the stuck worker was replaced"
    );
    // Keep going for two more seconds of bystander ticks after the release.
    let mark = tick_of(&node, bystanders[0]);
    until("bystanders to tick on", Duration::from_secs(10), || {
        tick_of(&node, bystanders[0]) > mark + 60
    })
    .await;

    for &id in bystanders {
        let status = node
            .rooms()
            .into_iter()
            .find(|r| r.id == id)
            .expect("bystander still running");
        assert_eq!(status.phase(), "waiting", "bystander {id} unaffected");
        // One worker was stuck for a second. Had that blocked this room, its ticks would have
        // started about a second late; instead they kept to their 33 ms period. (The bounds
        // leave room for a noisy machine; the quiet-machine figures are in BENCHMARKS.md.)
        assert!(
            status.late_p99_us() < 33_000,
            "room {id}: p99 lateness {} us",
            status.late_p99_us()
        );
        assert!(
            status.late_max_us() < 250_000,
            "room {id}: latest tick {} us late",
            status.late_max_us()
        );
    }
    // The hung room lingers (shell only) and then closes, giving its port back.
    until("the hung room to close", Duration::from_secs(5), || {
        node.rooms().len() == bystanders.len()
    })
    .await;
}

#[tokio::test]
async fn a_slow_room_does_not_delay_the_others() {
    let _serial = SERIAL.lock().await;
    let node = node(100);
    let ids = start_rooms(&node, 10).await;
    until("rooms ticking", Duration::from_secs(5), || {
        ids.iter().all(|&id| tick_of(&node, id) > 30)
    })
    .await;
    for _ in 0..3 {
        node.inject_fault(ids[0], Fault::Slow(Duration::from_millis(400)))
            .unwrap();
        let mark = tick_of(&node, ids[0]);
        until("the slow tick to pass", Duration::from_secs(5), || {
            tick_of(&node, ids[0]) > mark + 2
        })
        .await;
    }
    let mark = tick_of(&node, ids[1]);
    until("bystanders to tick on", Duration::from_secs(10), || {
        tick_of(&node, ids[1]) > mark + 31
    })
    .await;
    let slow = node.rooms().into_iter().find(|r| r.id == ids[0]).unwrap();
    assert!(
        slow.tick_max_us() >= 400_000,
        "the slow room's own ticks were slow: {} us",
        slow.tick_max_us()
    );
    assert_eq!(node.health().rooms_failed, 0, "slow is not hung");
    for &id in &ids[1..] {
        let status = node.rooms().into_iter().find(|r| r.id == id).unwrap();
        // Blocked behind the slow ticks, it would have started 400 ms late.
        assert!(
            status.late_p99_us() < 33_000,
            "room {id}: p99 lateness {} us",
            status.late_p99_us()
        );
        assert!(
            status.late_max_us() < 200_000,
            "room {id}: latest tick {} us late",
            status.late_max_us()
        );
    }
}

#[tokio::test]
async fn a_panic_in_one_room_restarts_only_that_room() {
    let _serial = SERIAL.lock().await;
    let node = node(100);
    let ids = start_rooms(&node, 3).await;
    until("rooms ticking", Duration::from_secs(5), || {
        ids.iter().all(|&id| tick_of(&node, id) > 30)
    })
    .await;
    let before: Vec<u32> = ids.iter().map(|&id| tick_of(&node, id)).collect();
    node.inject_fault(ids[1], Fault::Panic).unwrap();
    until("the restart", Duration::from_secs(5), || {
        node.health().restarts == 1
    })
    .await;
    until("ticks to go on", Duration::from_secs(5), || {
        ids.iter()
            .zip(&before)
            .all(|(&id, &b)| tick_of(&node, id) > b + 30)
    })
    .await;
    let restarts: Vec<u64> = node.rooms().iter().map(|r| r.restarts()).collect();
    assert_eq!(restarts.iter().sum::<u64>(), 1);
    assert_eq!(node.health().rooms_failed, 0);
    assert!(
        node.inject_fault(12345, Fault::Panic).is_err(),
        "unknown rooms are an error"
    );
}

#[tokio::test]
async fn a_panic_in_the_network_path_fails_only_that_room() {
    let _serial = SERIAL.lock().await;
    let node = node(10);
    let ids = start_rooms(&node, 3).await;
    until("rooms ticking", Duration::from_secs(5), || {
        ids.iter().all(|&id| tick_of(&node, id) > 10)
    })
    .await;
    node.inject_fault(ids[0], Fault::TransportPanic).unwrap();
    until("the room to fail", Duration::from_secs(5), || {
        node.health().rooms_failed == 1
    })
    .await;
    until("the room to close", Duration::from_secs(5), || {
        node.rooms().len() == 2
    })
    .await;
    let before: Vec<u32> = ids[1..].iter().map(|&id| tick_of(&node, id)).collect();
    until("the others to tick on", Duration::from_secs(5), || {
        ids[1..]
            .iter()
            .zip(&before)
            .all(|(&id, &b)| tick_of(&node, id) > b + 30)
    })
    .await;
    // The node goes on: its port is free again and new rooms start.
    let more = start_rooms(&node, 8).await;
    assert_eq!(more.len(), 8);
    assert_eq!(node.rooms().len(), 10, "all ten ports in use again");
}
