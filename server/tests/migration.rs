//! Live migration: a running match stops on one node and resumes on another, and its players
//! follow with new tokens.
//!
//! Sans-IO: a migrated room plays on exactly as the room it was taken from would have.
//! Two nodes in one process over real UDP: real `GameClient`s follow the room, keep their
//! avatars and scores, and the match ends by its time limit on the new node.

mod support;

use std::time::{Duration, Instant};

use arena::{Arena, ArenaGame, EntityKind, PlayerInput};
use matchmaker::{AllocationRequest, Allocator};
use protocol::{
    Channel, EndReason, GameClient, InputFrame, InputPacket, ServerEvent, TokenUserData,
    api::RoomPlayer, codec, issue_token, token_to_base64,
};
use server::{
    Node, NodeConfig,
    room::{Phase, Room, RoomHandoff, RoomInput, RoomSettings, StepOutput},
};

const KEY: [u8; 32] = [9; 32];

fn user(settings: &RoomSettings, i: usize) -> TokenUserData {
    let p = &settings.expected[i];
    TokenUserData {
        room_id: settings.room_id,
        ticket_id: p.ticket_id.clone(),
        player_id: p.player_id.clone(),
    }
}

/// Player `i`'s input at tick `t`: every player circles and fires in its own rhythm.
fn input(i: usize, t: u32) -> PlayerInput {
    let angle = (t as f32 * 0.05) + i as f32;
    PlayerInput::new(
        angle.cos(),
        angle.sin(),
        angle * 1.7,
        (t + i as u32).is_multiple_of(7),
    )
}

/// Player `i`'s input at tick `t` in a room whose last step was `step`: walk to the middle,
/// aim at the nearest other player and fire often, so players die and respawn.
fn fighting_input(step: &StepOutput<ArenaGame>, i: usize, t: u32) -> PlayerInput {
    let me = step.standings.iter().find(|s| s.slot as usize == i);
    let position = |id: u32| {
        step.entities
            .iter()
            .find(|e| e.id == id && e.state.kind.0 == EntityKind::Player)
            .map(|e| e.state.pos.get().into())
    };
    let Some((x, y)) = me.and_then(|m| m.net_id).and_then(position) else {
        return input(i, t);
    };
    let target = step
        .standings
        .iter()
        .filter(|s| s.slot as usize != i)
        .filter_map(|s| s.net_id.and_then(position))
        .min_by(|a, b| {
            let d = |p: &(f32, f32)| (p.0 - x).powi(2) + (p.1 - y).powi(2);
            d(a).total_cmp(&d(b))
        });
    let aim = target.map_or(0.0, |(tx, ty)| (ty - y).atan2(tx - x));
    PlayerInput::new(
        (50.0 - x) / 50.0,
        (50.0 - y) / 50.0,
        aim,
        t.is_multiple_of(3),
    )
}

/// Every player of `settings` connects, as clients `first_client`, `first_client + 1`, ...
fn connect_all(room: &mut Room<ArenaGame>, settings: &RoomSettings, first_client: u64) {
    for i in 0..settings.expected.len() {
        room.handle(RoomInput::Connected {
            client: first_client + i as u64,
            user: user(settings, i),
        });
    }
}

/// Every player's input at tick `t`, as they fight in `room`.
fn fighting_inputs(room: &Room<ArenaGame>, t: u32) -> Vec<PlayerInput> {
    let players = room.core().settings().expected.len();
    (0..players)
        .map(|i| fighting_input(room.last_step(), i, t))
        .collect()
}

/// `inputs[i]` from client `first_client + i`, as input number `t`.
fn send_inputs(room: &mut Room<ArenaGame>, first_client: u64, inputs: &[PlayerInput], t: u32) {
    for (i, &input) in inputs.iter().enumerate() {
        let packet = InputPacket {
            ack_tick: 0,
            inputs: vec![InputFrame {
                seq: t,
                tick: 0,
                input,
            }],
        };
        room.handle(RoomInput::Message {
            client: first_client + i as u64,
            channel: Channel::State,
            bytes: &codec::encode(&packet).unwrap(),
        });
    }
}

#[test]
fn a_migrated_room_plays_on_exactly_as_the_room_it_left() {
    let settings = RoomSettings::for_players(41, 1234, 6);
    let mut stays = Room::new(ArenaGame::default(), settings.clone());
    connect_all(&mut stays, &settings, 100);
    let mut t = 1;
    while t <= 200 {
        let inputs = fighting_inputs(&stays, t);
        send_inputs(&mut stays, 100, &inputs, t);
        stays.tick();
        t += 1;
    }
    assert!(matches!(stays.core().phase(), Phase::Running { .. }));

    // Packed mid-match, through the bytes another node would receive.
    let blob = stays
        .handoff("arena")
        .expect("a running room moves")
        .encode()
        .unwrap();
    let handoff = RoomHandoff::<ArenaGame>::decode(&blob).unwrap();
    let mut moved = Room::resume(ArenaGame::default(), handoff, 60).unwrap();
    assert_eq!(moved.core().current_tick(), stays.core().current_tick());
    assert_eq!(moved.core().phase(), stays.core().phase());

    // Nobody is back yet: the moved room holds its clock.
    moved.tick();
    assert_eq!(moved.core().current_tick(), stays.core().current_tick());
    // Everyone reconnects (new connections, new client ids), then both rooms get the same
    // inputs.
    connect_all(&mut moved, &settings, 500);
    let mut kills = 0;
    while t <= 500 {
        let inputs = fighting_inputs(&stays, t);
        send_inputs(&mut stays, 100, &inputs, t);
        send_inputs(&mut moved, 500, &inputs, t);
        stays.tick();
        moved.tick();
        assert_eq!(
            moved.last_step().entities,
            stays.last_step().entities,
            "tick {t}: the moved room diverged"
        );
        // Every arena kill is somebody's death.
        kills = stays
            .last_step()
            .standings
            .iter()
            .map(|s| s.score)
            .sum::<i64>();
        t += 1;
    }
    // Entities are the world's own (a restored world numbers them afresh): compare the rest.
    let standings = |room: &Room<ArenaGame>| -> Vec<(u32, Option<u32>, i64)> {
        room.last_step()
            .standings
            .iter()
            .map(|s| (s.slot, s.net_id, s.score))
            .collect()
    };
    assert_eq!(standings(&moved), standings(&stays));
    // Deaths mean respawns, which draw from the game's random source: it moved too.
    assert!(kills > 0, "the script should make players hit each other");
}

#[test]
fn a_handoff_is_refused_when_it_does_not_hold_together() {
    let settings = RoomSettings::for_players(42, 7, 2);
    let mut room = Room::new(ArenaGame::default(), settings.clone());
    for i in 0..2 {
        room.handle(RoomInput::Connected {
            client: i as u64,
            user: user(&settings, i),
        });
    }
    for _ in 0..10 {
        room.tick();
    }
    let blob = room.handoff("arena").unwrap().encode().unwrap();
    // Truncated or padded bytes are an error, not a panic.
    assert!(RoomHandoff::<ArenaGame>::decode(&blob[..blob.len() - 3]).is_err());
    let mut padded = blob.clone();
    padded.push(0);
    assert!(RoomHandoff::<ArenaGame>::decode(&padded).is_err());
    // A shell and a simulation from different ticks do not make a room.
    let early = room.handoff("arena").unwrap();
    room.tick();
    let mut late = room.handoff("arena").unwrap();
    late.settings.expected.pop();
    let err = Room::resume(ArenaGame::default(), late, 30).err().unwrap();
    assert!(err.to_string().contains("player records"), "{err}");
    let blob_early = early.encode().unwrap();
    let mut mixed = RoomHandoff::<ArenaGame>::decode(&blob_early).unwrap();
    mixed.settings = room.core().settings().clone();
    assert!(Room::resume(ArenaGame::default(), mixed, 30).is_ok());

    // A match that is over finishes where it is.
    let mut over = Room::new(ArenaGame::default(), RoomSettings::for_players(43, 7, 1));
    for _ in 0..200 {
        over.tick(); // nobody came: abandoned after the join timeout
    }
    assert!(matches!(over.core().phase(), Phase::Ended { .. }));
    assert!(over.handoff("arena").is_none());
}

fn node(id: &str) -> Node<ArenaGame> {
    Node::new(
        ArenaGame::default(),
        NodeConfig {
            match_duration: Duration::from_secs(6),
            ..support::node_config(id, KEY)
        },
        None,
    )
}

/// What one client saw.
#[derive(Default)]
struct Seen {
    events: Vec<ServerEvent<Arena>>,
    /// Snapshot ticks with when each arrived.
    snapshots: Vec<(u32, Instant)>,
    /// Own avatar's entity id per welcome.
    welcomes: Vec<u32>,
}

fn frame(clients: &mut [GameClient<Arena>], seen: &mut [Seen], t: u32) {
    for (i, (c, s)) in clients.iter_mut().zip(seen.iter_mut()).enumerate() {
        c.update(Duration::from_millis(10)).unwrap();
        while let Some(e) = c.poll_event() {
            if let ServerEvent::Welcome { entity_id, .. } = e {
                s.welcomes.push(entity_id.unwrap_or_default());
            }
            s.events.push(e);
        }
        if let Some(snapshot) = c.take_new_snapshot() {
            s.snapshots.push((snapshot.tick, Instant::now()));
        }
        c.send_input(input(i, t));
        c.flush().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_follow_a_running_match_to_another_node_and_finish_it_there() {
    let (a, b) = (node("a"), node("b"));
    let players: Vec<RoomPlayer> = (0..3)
        .map(|i| RoomPlayer {
            player_id: format!("p{i}"),
            ticket_id: format!("{i:032x}"),
            team: i,
        })
        .collect();
    let allocation = a
        .allocate(AllocationRequest {
            mode: "arena".into(),
            rules: Default::default(),
            region: None,
            players: players.clone(),
        })
        .await
        .unwrap();
    let mut clients: Vec<GameClient<Arena>> = players
        .iter()
        .map(|p| {
            let token = issue_token(
                &KEY,
                &protocol::GameId::of::<arena::Arena>(),
                protocol::unix_now(),
                Duration::from_secs(10),
                rand::random(),
                allocation.addr,
                &TokenUserData {
                    room_id: allocation.room_id,
                    ticket_id: p.ticket_id.clone(),
                    player_id: p.player_id.clone(),
                },
            )
            .unwrap();
            GameClient::<Arena>::connect_with_token(
                protocol::token_from_base64(&token_to_base64(&token)).unwrap(),
            )
            .unwrap()
        })
        .collect();
    let mut seen: Vec<Seen> = (0..3).map(|_| Seen::default()).collect();
    let mut t = 0;
    // Two seconds of play on node a.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        t += 1;
        frame(&mut clients, &mut seen, t);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let room = a.room(allocation.room_id).unwrap();
    assert_eq!(room.phase(), "running");
    assert_eq!(room.connected_players(), 3);
    let welcomed: Vec<u32> = seen.iter().map(|s| s.welcomes[0]).collect();

    // The move, as a draining node makes it.
    let moving = Instant::now();
    let blob = a.freeze_room(allocation.room_id).await.unwrap();
    println!("handoff of a 3-player room: {} bytes", blob.len());
    let resumed = b.import_room(&blob).unwrap();
    assert_eq!(resumed.room_id, allocation.room_id, "a room keeps its id");
    assert_ne!(resumed.addr, allocation.addr);
    assert_eq!(
        a.redirect_room(allocation.room_id, resumed.addr).unwrap(),
        3
    );
    let frozen_at = a.room(allocation.room_id).map(|r| r.summary().tick);

    // Play on until the match ends (6 s of match time in all).
    let mut ended = false;
    let deadline = Instant::now() + Duration::from_secs(12);
    while !ended && Instant::now() < deadline {
        t += 1;
        frame(&mut clients, &mut seen, t);
        ended = seen.iter().all(|s| {
            s.events
                .iter()
                .any(|e| matches!(e, ServerEvent::MatchEnded(_)))
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ended, "the match did not end on the new node");

    for (i, (client, s)) in clients.iter().zip(&seen).enumerate() {
        assert_eq!(client.stats().migrations, 1, "client {i}");
        assert_eq!(client.server_addr(), resumed.addr, "client {i}");
        assert!(
            s.events
                .iter()
                .any(|e| matches!(e, ServerEvent::Migrate { .. })),
            "client {i} was told"
        );
        // Same player, same avatar on the new node.
        assert_eq!(s.welcomes.len(), 2, "client {i}: {:?}", s.welcomes);
        assert_eq!(s.welcomes[1], welcomed[i], "client {i} kept its avatar");
        let results = s
            .events
            .iter()
            .find_map(|e| match e {
                ServerEvent::MatchEnded(r) => Some(r),
                _ => None,
            })
            .unwrap();
        assert_eq!(results.reason, EndReason::TimeLimit, "client {i}");
        assert_eq!(results.placements.len(), 3);
        assert!(
            matches!(s.events.last(), Some(ServerEvent::MatchEnded(_))),
            "client {i}: nothing after the results: {:?}",
            s.events.last()
        );
        // Snapshot ticks never go back, and the longest gap is the move.
        let ticks: Vec<u32> = s.snapshots.iter().map(|&(t, _)| t).collect();
        assert!(
            ticks.windows(2).all(|w| w[0] < w[1]),
            "client {i}: {ticks:?}"
        );
        let pause = s
            .snapshots
            .windows(2)
            .filter(|w| w[1].1 > moving)
            .map(|w| w[1].1 - w[0].1)
            .max()
            .unwrap();
        println!("client {i}: pause across the move {pause:?} (frozen at tick {frozen_at:?})");
        assert!(
            pause < Duration::from_secs(1),
            "client {i}: paused {pause:?}"
        );
    }
    // The old room closes once its clients left; the new one closes after the match.
    let closing = Instant::now();
    while !(a.rooms().is_empty() && b.rooms().is_empty()) {
        assert!(
            closing.elapsed() < Duration::from_secs(5),
            "rooms left open: a {:?}, b {:?}",
            a.rooms(),
            b.rooms()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_refuses_a_room_it_cannot_take() {
    let (a, b) = (node("a"), node("b"));
    let players = vec![RoomPlayer {
        player_id: "solo".into(),
        ticket_id: format!("{:032x}", 1),
        team: 0,
    }];
    let allocation = a
        .allocate(AllocationRequest {
            mode: "arena".into(),
            rules: Default::default(),
            region: None,
            players,
        })
        .await
        .unwrap();
    let blob = a.freeze_room(allocation.room_id).await.unwrap();
    // Frozen once; not twice.
    assert!(a.freeze_room(allocation.room_id).await.is_err());
    // Garbage is refused with a reason.
    let err = b.import_room(&blob[..blob.len() / 2]).unwrap_err();
    assert!(err.to_string().contains("not a room handoff"), "{err}");
    // A draining node takes nothing.
    b.drain();
    assert!(b.import_room(&blob).is_err());
    // The same room twice on one node is refused.
    let c = node("c");
    c.import_room(&blob).unwrap();
    let err = c.import_room(&blob).unwrap_err();
    assert!(err.to_string().contains("already runs"), "{err}");
    // The move did not happen: the room thaws and ticks on where it was.
    a.thaw_room(allocation.room_id);
    let tick = a.room(allocation.room_id).unwrap().summary().tick;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(a.room(allocation.room_id).unwrap().summary().tick > tick);
}
