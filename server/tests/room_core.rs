//! The room core driven sans-IO: no sockets, no clock, hundreds of ticks in milliseconds.

use std::{collections::BTreeMap, time::Duration};

use arena::{Arena, ArenaBrain, ArenaGame, ArenaState, PlayerInput, in_world_units};
use protocol::{
    Channel, ClientEvent, EndReason, InputFrame, InputPacket, ServerEvent, Snapshot,
    SnapshotReceiver, TokenUserData, codec,
};
use server::room::{
    Backfill, ExpectedPlayer, Outbound, Phase, Room, RoomInput, RoomSettings, Supervision,
    SyncSettings,
};

const ROOM: u64 = 77;

fn settings(players: usize, seed: u64, match_secs: u64) -> RoomSettings {
    RoomSettings {
        room_id: ROOM,
        tick_rate: 30,
        match_duration: Some(Duration::from_secs(match_secs)),
        join_timeout: Duration::from_secs(2),
        min_players: 1,
        linger: Duration::from_secs(1),
        seed,
        expected: (0..players).map(expected).collect(),
        supervision: Supervision::default(),
        sync: SyncSettings::default(),
        backfill: None,
    }
}

fn expected(i: usize) -> ExpectedPlayer {
    ExpectedPlayer {
        player_id: format!("p{i}"),
        ticket_id: format!("{i:032x}"),
        team: i as u8,
    }
}

fn user(i: usize) -> TokenUserData {
    TokenUserData {
        room_id: ROOM,
        ticket_id: format!("{i:032x}"),
        player_id: format!("p{i}"),
    }
}

fn client(i: usize) -> u64 {
    1000 + i as u64
}

/// A client as the core sees it: its newest snapshot, its avatar, a brain, an input sequence.
struct FakeClient {
    me: Option<u32>,
    rx: SnapshotReceiver<ArenaState>,
    snapshot: Option<Snapshot<ArenaState>>,
    brain: ArenaBrain,
    seq: u32,
    events: Vec<ServerEvent<Arena>>,
}

/// Every outbound message per tick, the room, and its clients.
type Played = (
    Vec<Vec<Outbound<Arena>>>,
    Room<ArenaGame>,
    BTreeMap<u64, FakeClient>,
);

/// Runs a full match of `players` brain-driven clients.
fn play(players: usize, seed: u64, ticks: u32) -> Played {
    let mut core = Room::new(ArenaGame::default(), settings(players, seed, 10));
    let mut clients: BTreeMap<u64, FakeClient> = BTreeMap::new();
    for i in 0..players {
        core.handle(RoomInput::Connected {
            client: client(i),
            user: user(i),
        });
        clients.insert(
            client(i),
            FakeClient {
                me: None,
                rx: SnapshotReceiver::new(),
                snapshot: None,
                brain: ArenaBrain::new(i as u64),
                seq: 0,
                events: Vec::new(),
            },
        );
    }
    let mut history = Vec::new();
    for _ in 0..ticks {
        // Each client thinks on its newest snapshot and sends its input, as a bot would.
        for (&id, c) in clients.iter_mut() {
            let (Some(me), Some(snap)) = (c.me, c.snapshot.as_ref()) else {
                continue;
            };
            let input = c.brain.think(&in_world_units(&snap.entities), me);
            c.seq += 1;
            let packet = InputPacket {
                ack_tick: snap.tick,
                inputs: vec![InputFrame {
                    seq: c.seq,
                    tick: 0,
                    input,
                }],
            };
            let bytes = codec::encode(&packet).unwrap();
            core.handle(RoomInput::Message {
                client: id,
                channel: Channel::State,
                bytes: &bytes,
            });
        }
        let out: Vec<Outbound<Arena>> = core.tick().drain(..).collect();
        for message in &out {
            match message {
                Outbound::Snapshot { client, packet } => {
                    let c = clients.get_mut(client).unwrap();
                    assert_eq!(
                        c.rx.receive(packet),
                        Ok(true),
                        "every delta applies in order"
                    );
                    c.snapshot = c.rx.snapshot();
                }
                Outbound::Event { client, event } => {
                    let c = clients.get_mut(client).unwrap();
                    if let ServerEvent::Welcome { entity_id, .. } = event {
                        c.me = *entity_id;
                    }
                    c.events.push(event.clone());
                }
                Outbound::Disconnect { .. } => {}
            }
        }
        history.push(out);
    }
    (history, core, clients)
}

#[test]
fn a_full_match_runs_to_the_time_limit_and_everyone_gets_results() {
    let (_, core, clients) = play(10, 1, 400);
    // 10 s at 30 Hz from the first tick, then 1 s of linger.
    assert!(
        matches!(core.core().phase(), Phase::Ended { at: 301 }),
        "{:?}",
        core.core().phase()
    );
    assert!(core.core().is_finished());
    let results = core.core().results().expect("results");
    assert_eq!(results.reason, EndReason::TimeLimit);
    assert_eq!(results.ticks_played, 300);
    assert_eq!(results.placements.len(), 10);
    let scores = &results.game.scores;
    assert_eq!(scores.len(), 10);
    let kills: u32 = scores.iter().map(|p| p.kills).sum();
    let deaths: u32 = scores.iter().map(|p| p.deaths).sum();
    assert!(kills > 0, "bots that seek and shoot for 10 s kill someone");
    assert_eq!(kills, deaths, "every kill is somebody's death");
    assert!(
        scores.windows(2).all(|w| w[0].kills >= w[1].kills),
        "best first"
    );
    for (placement, line) in results.placements.iter().zip(scores) {
        assert_eq!(
            placement.player_id, line.player_id,
            "lines in placement order"
        );
    }
    assert_eq!(results.placements[0].rank, 1);
    assert!(
        results
            .placements
            .windows(2)
            .all(|w| w[0].rank <= w[1].rank),
        "ranks rise down the list"
    );
    for c in clients.values() {
        assert!(matches!(c.events[0], ServerEvent::Welcome { .. }));
        assert_eq!(
            c.events
                .iter()
                .filter(|e| matches!(e, ServerEvent::MatchStarted { .. }))
                .count(),
            1
        );
        assert_eq!(
            c.events.last(),
            Some(&ServerEvent::MatchEnded(results.clone()))
        );
    }
    assert!(
        core.core().stats().inputs_applied > 2500,
        "{:?}",
        core.core().stats()
    );
    assert_eq!(core.core().stats().rejected_messages, 0);
}

#[test]
fn the_same_seed_and_inputs_give_the_same_match_and_another_seed_does_not() {
    let (a, ..) = play(10, 42, 350);
    let (b, ..) = play(10, 42, 350);
    assert_eq!(
        a, b,
        "replaying the same match must produce identical output"
    );
    let (c, ..) = play(10, 43, 350);
    assert_ne!(
        a, c,
        "the seed must matter, or the comparison above proves nothing"
    );
}

#[test]
fn snapshots_acknowledge_inputs_once_each_in_order_despite_redundancy() {
    let mut core = Room::new(ArenaGame::default(), settings(1, 1, 10));
    core.handle(RoomInput::Connected {
        client: client(0),
        user: user(0),
    });
    let frames = |range: std::ops::RangeInclusive<u32>| InputPacket {
        ack_tick: 0,
        inputs: range
            .map(|seq| InputFrame {
                seq,
                tick: seq,
                input: PlayerInput::new(1.0, 0.0, 0.0, false),
            })
            .collect(),
    };
    // The second packet repeats 3 and 4, as redundancy does; they must not be applied twice.
    for packet in [frames(1..=4), frames(3..=6)] {
        let bytes = codec::encode(&packet).unwrap();
        core.handle(RoomInput::Message {
            client: client(0),
            channel: Channel::State,
            bytes: &bytes,
        });
    }
    let mut acked = Vec::new();
    for _ in 0..8 {
        for message in core.tick().drain(..) {
            if let Outbound::Snapshot { packet, .. } = message {
                acked.push(packet.last_input_seq);
            }
        }
    }
    assert_eq!(acked, vec![1, 2, 3, 4, 5, 6, 6, 6]);
    assert_eq!(core.core().stats().inputs_applied, 6);
}

/// One input from `client`, for whenever it arrives, acknowledging snapshot `ack_tick`.
fn send_input(
    core: &mut Room<ArenaGame>,
    client: u64,
    seq: u32,
    ack_tick: u32,
    input: PlayerInput,
) {
    let bytes = codec::encode(&InputPacket {
        ack_tick,
        inputs: vec![InputFrame {
            seq,
            tick: 0,
            input,
        }],
    })
    .unwrap();
    core.handle(RoomInput::Message {
        client,
        channel: Channel::State,
        bytes: &bytes,
    });
}

fn refusal(core: &mut Room<ArenaGame>, id: u64, user: TokenUserData) -> Option<String> {
    core.handle(RoomInput::Connected { client: id, user });
    let out: Vec<_> = core.drain().drain(..).collect();
    let code = out.iter().find_map(|m| match m {
        Outbound::Event {
            client,
            event: ServerEvent::Error { code, .. },
        } if *client == id => Some(code.clone()),
        _ => None,
    });
    if code.is_some() {
        assert!(
            out.contains(&Outbound::Disconnect { client: id }),
            "a refused client is disconnected"
        );
    }
    code
}

#[test]
fn players_not_placed_in_this_room_are_refused() {
    let mut core = Room::new(ArenaGame::default(), settings(2, 1, 10));
    let wrong_room = TokenUserData {
        room_id: ROOM + 1,
        ..user(0)
    };
    assert_eq!(
        refusal(&mut core, 1, wrong_room).as_deref(),
        Some("wrong_room")
    );
    let stranger = TokenUserData {
        player_id: "intruder".into(),
        ..user(0)
    };
    assert_eq!(
        refusal(&mut core, 2, stranger).as_deref(),
        Some("not_expected")
    );
    let wrong_ticket = TokenUserData {
        ticket_id: "f".repeat(32),
        ..user(0)
    };
    assert_eq!(
        refusal(&mut core, 3, wrong_ticket).as_deref(),
        Some("not_expected")
    );
    assert_eq!(refusal(&mut core, 4, user(0)), None);
    assert_eq!(
        refusal(&mut core, 5, user(0)).as_deref(),
        Some("already_connected")
    );
    assert_eq!(core.core().stats().refused_connections, 4);
    assert_eq!(core.core().connected_players(), 1);
}

#[test]
fn hostile_messages_are_counted_and_dropped() {
    let mut core = Room::new(ArenaGame::default(), settings(2, 1, 10));
    core.handle(RoomInput::Connected {
        client: client(0),
        user: user(0),
    });
    let too_many = InputPacket {
        ack_tick: 0,
        inputs: (1..=9)
            .map(|seq| InputFrame {
                seq,
                tick: 0,
                input: PlayerInput::default(),
            })
            .collect(),
    };
    let too_many = codec::encode(&too_many).unwrap();
    let garbage: [&[u8]; 5] = [
        &[],
        &[0xff; 40],
        &[0, 253, 255, 255, 255, 255, 255, 255, 255, 255],
        &too_many,
        &[7],
    ];
    for bytes in garbage {
        core.handle(RoomInput::Message {
            client: client(0),
            channel: Channel::State,
            bytes,
        });
        core.handle(RoomInput::Message {
            client: client(0),
            channel: Channel::Events,
            bytes,
        });
    }
    // From a connection the room does not know.
    core.handle(RoomInput::Message {
        client: 999,
        channel: Channel::State,
        bytes: &[1, 2, 3],
    });
    assert_eq!(core.core().stats().rejected_messages, 11);
    assert_eq!(core.core().stats().inputs_applied, 0);
    for _ in 0..100 {
        core.tick();
    }
    assert!(
        matches!(core.core().phase(), Phase::Running { .. }),
        "the room keeps going"
    );
}

#[test]
fn a_leave_disconnects_and_the_last_leaver_ends_the_match() {
    let mut core = Room::new(ArenaGame::default(), settings(2, 1, 10));
    core.handle(RoomInput::Connected {
        client: client(0),
        user: user(0),
    });
    core.handle(RoomInput::Connected {
        client: client(1),
        user: user(1),
    });
    core.tick();
    assert!(matches!(core.core().phase(), Phase::Running { .. }));
    let leave = codec::encode(&ClientEvent::<Arena>::Leave).unwrap();
    core.handle(RoomInput::Message {
        client: client(0),
        channel: Channel::Events,
        bytes: &leave,
    });
    assert!(
        core.drain()
            .contains(&Outbound::Disconnect { client: client(0) })
    );
    core.handle(RoomInput::Disconnected { client: client(0) });
    let left: Vec<_> = core.drain().drain(..).collect();
    assert!(left.contains(&Outbound::Event {
        client: client(1),
        event: ServerEvent::PlayerLeft {
            player_id: "p0".into()
        }
    }));
    core.handle(RoomInput::Disconnected { client: client(1) });
    core.tick();
    assert_eq!(
        core.core().results().map(|r| r.reason),
        Some(EndReason::Abandoned)
    );
    assert_eq!(
        core.core().results().unwrap().placements.len(),
        2,
        "leavers keep their line in the results"
    );
}

#[test]
fn nobody_showing_up_closes_the_room_and_some_showing_up_starts_it() {
    let mut empty = Room::new(ArenaGame::default(), settings(2, 1, 10));
    for _ in 0..61 {
        empty.tick();
    }
    assert_eq!(
        empty.core().results().map(|r| r.reason),
        Some(EndReason::Abandoned)
    );
    let mut half = Room::new(ArenaGame::default(), settings(2, 1, 10));
    half.handle(RoomInput::Connected {
        client: client(0),
        user: user(0),
    });
    for _ in 0..59 {
        half.tick();
    }
    assert_eq!(
        half.core().phase(),
        Phase::Waiting,
        "waits for the missing player up to the join timeout"
    );
    half.tick();
    assert_eq!(half.core().phase(), Phase::Running { started: 60 });

    // A mode's minimum: with 2 of 3 needed, one player alone is an abandoned match at the
    // join timeout, two start it.
    for (present, started) in [(1, false), (2, true)] {
        let mut room = Room::new(
            ArenaGame::default(),
            RoomSettings {
                min_players: 2,
                ..settings(3, 1, 10)
            },
        );
        for i in 0..present {
            room.handle(RoomInput::Connected {
                client: client(i),
                user: user(i),
            });
        }
        for _ in 0..61 {
            room.tick();
        }
        match started {
            true => assert!(matches!(room.core().phase(), Phase::Running { .. })),
            false => assert_eq!(
                room.core().results().map(|r| r.reason),
                Some(EndReason::Abandoned),
                "{present} present"
            ),
        }
    }
}

#[test]
fn a_match_without_a_clock_is_not_ended_by_time() {
    let mut room = Room::new(
        ArenaGame::default(),
        RoomSettings {
            match_duration: None,
            ..settings(1, 1, 10)
        },
    );
    room.handle(RoomInput::Connected {
        client: client(0),
        user: user(0),
    });
    // Twice as long as any clock in these tests: still running, and the welcome said so.
    let mut welcome = None;
    for _ in 0..(30 * 20) {
        for message in room.tick().drain(..) {
            if let Outbound::Event {
                event:
                    ServerEvent::Welcome {
                        match_duration_ms, ..
                    },
                ..
            } = message
            {
                welcome = Some(match_duration_ms);
            }
        }
    }
    assert_eq!(welcome, Some(None), "no match length in the welcome");
    assert!(matches!(room.core().phase(), Phase::Running { .. }));
    assert_eq!(room.core().results(), None);
}

#[test]
fn the_score_limit_ends_the_match_early() {
    let mut core = Room::new(ArenaGame::with_score_limit(1), settings(2, 5, 600));
    core.handle(RoomInput::Connected {
        client: client(0),
        user: user(0),
    });
    core.handle(RoomInput::Connected {
        client: client(1),
        user: user(1),
    });
    let mut brains = [ArenaBrain::new(1), ArenaBrain::new(2)];
    let mut me = [0u32; 2];
    let mut snaps: [Option<Snapshot<ArenaState>>; 2] = [None, None];
    let mut rx = [SnapshotReceiver::new(), SnapshotReceiver::new()];
    for seq in 1..=30 * 120 {
        for i in 0..2 {
            if let Some(s) = &snaps[i] {
                let input = brains[i].think(&in_world_units(&s.entities), me[i]);
                send_input(&mut core, client(i), seq, s.tick, input);
            }
        }
        for m in core.tick().drain(..) {
            match m {
                Outbound::Snapshot { client: c, packet } => {
                    let i = (c - 1000) as usize;
                    rx[i].receive(&packet).unwrap();
                    snaps[i] = rx[i].snapshot();
                }
                Outbound::Event {
                    client: c,
                    event: ServerEvent::Welcome { entity_id, .. },
                } => me[(c - 1000) as usize] = entity_id.unwrap_or_default(),
                _ => {}
            }
        }
        if core.core().results().is_some() {
            break;
        }
    }
    let results = core
        .core()
        .results()
        .expect("someone scores within two minutes");
    assert_eq!(
        results.reason,
        EndReason::Finished,
        "the game declared it over"
    );
    assert_eq!(results.game.scores[0].kills, 1);
    assert_eq!(results.placements[0].rank, 1);
}

fn with_backfill(players: usize) -> RoomSettings {
    RoomSettings {
        backfill: Some(Backfill {
            grace: Duration::from_secs(1),
            min_remaining: Duration::from_secs(3),
        }),
        ..settings(players, 5, 10)
    }
}

fn connect_all(room: &mut Room<ArenaGame>, players: usize) {
    for i in 0..players {
        room.handle(RoomInput::Connected {
            client: client(i),
            user: user(i),
        });
    }
    room.tick();
    assert!(matches!(room.core().phase(), Phase::Running { .. }));
}

fn leave(room: &mut Room<ArenaGame>, i: usize) {
    let bytes = codec::encode(&ClientEvent::<Arena>::Leave).unwrap();
    room.handle(RoomInput::Message {
        client: client(i),
        channel: Channel::Events,
        bytes: &bytes,
    });
    // What the transport does with the disconnect the room asks for.
    room.handle(RoomInput::Disconnected { client: client(i) });
}

#[test]
fn a_player_who_leaves_is_replaced_at_once_and_one_who_drops_after_a_grace() {
    let mut room = Room::new(ArenaGame::default(), with_backfill(3));
    connect_all(&mut room, 3);
    for _ in 0..10 {
        room.tick();
    }
    leave(&mut room, 0);
    room.tick();
    let opened = room.core_mut().take_open_slots();
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(opened[0].team, 0);
    assert_eq!(opened[0].left_ticket, format!("{:032x}", 0));
    // 10 s match, 12 ticks played, 3 s minimum: about 6.6 s to fill it.
    let within = opened[0].fill_within.as_secs_f64();
    assert!((6.4..6.8).contains(&within), "{within}");

    // A dropped player gets the grace (1 s = 30 ticks) to come back first.
    room.handle(RoomInput::Disconnected { client: client(1) });
    for _ in 0..29 {
        room.tick();
        assert!(room.core_mut().take_open_slots().is_empty());
    }
    room.tick();
    let opened = room.core_mut().take_open_slots();
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].team, 1);
    // Their tickets are no longer the room's to give back.
    assert_eq!(room.core().tickets(), vec![format!("{:032x}", 2)]);

    // The player who left cannot take its place back...
    assert_eq!(refusal(&mut room, 50, user(0)).as_deref(), Some("replaced"));
    // ...but a replacement can, on the team of the one who left.
    room.core_mut()
        .add_player(ExpectedPlayer {
            player_id: "newcomer".into(),
            ticket_id: format!("{:032x}", 99),
            team: 0,
        })
        .unwrap();
    room.handle(RoomInput::Connected {
        client: 60,
        user: TokenUserData {
            room_id: ROOM,
            ticket_id: format!("{:032x}", 99),
            player_id: "newcomer".into(),
        },
    });
    let out: Vec<Outbound<Arena>> = (0..3)
        .flat_map(|_| room.tick().drain(..).collect::<Vec<_>>())
        .collect();
    let welcome = out.iter().find_map(|o| match o {
        Outbound::Event {
            client: 60,
            event: ServerEvent::Welcome { team, .. },
        } => Some(*team),
        _ => None,
    });
    assert_eq!(welcome, Some(0));
    assert!(room.core().tickets().contains(&format!("{:032x}", 99)));
    // The same player cannot be added twice.
    assert!(
        room.core_mut()
            .add_player(ExpectedPlayer {
                player_id: "newcomer".into(),
                ticket_id: format!("{:032x}", 99),
                team: 0,
            })
            .is_err()
    );
}

#[test]
fn no_replacement_is_asked_for_near_the_end_or_when_backfill_is_off() {
    // 10 s match, 3 s minimum: leaving after 8 s opens nothing.
    let mut room = Room::new(ArenaGame::default(), with_backfill(2));
    connect_all(&mut room, 2);
    for _ in 0..240 {
        room.tick();
    }
    leave(&mut room, 0);
    for _ in 0..60 {
        room.tick();
        assert!(room.core_mut().take_open_slots().is_empty());
    }
    // Backfill off: nothing, ever.
    let mut room = Room::new(ArenaGame::default(), settings(2, 5, 10));
    connect_all(&mut room, 2);
    leave(&mut room, 0);
    for _ in 0..60 {
        room.tick();
        assert!(room.core_mut().take_open_slots().is_empty());
    }
    assert_eq!(room.core().tickets().len(), 2);
}

#[test]
fn a_late_replacement_gets_its_own_grace_and_replacements_are_bounded() {
    // 10 s match, 1 s grace, 3 s minimum left.
    let mut room = Room::new(ArenaGame::default(), with_backfill(2));
    connect_all(&mut room, 2);
    // Well past the grace into the match, a player leaves and a replacement is added.
    for _ in 0..90 {
        room.tick();
    }
    leave(&mut room, 0);
    room.tick();
    assert_eq!(room.core_mut().take_open_slots().len(), 1);
    let newcomer = |n: usize| ExpectedPlayer {
        player_id: format!("new{n}"),
        ticket_id: format!("{:032x}", 100 + n),
        team: 0,
    };
    room.core_mut().add_player(newcomer(0)).unwrap();
    // Not connected yet, but within its own grace: its place is not given away.
    for _ in 0..20 {
        room.tick();
        assert!(room.core_mut().take_open_slots().is_empty());
    }
    let user = |n: usize| TokenUserData {
        room_id: ROOM,
        ticket_id: format!("{:032x}", 100 + n),
        player_id: format!("new{n}"),
    };
    assert_eq!(refusal(&mut room, 70, user(0)), None, "it may still come");
    // Replacements that never come: at most as many as the match had players are asked for.
    let mut asked = 1;
    for n in 1..10 {
        room.handle(RoomInput::Disconnected { client: 70 });
        for _ in 0..31 {
            room.tick();
        }
        let opened = room.core_mut().take_open_slots();
        asked += opened.len();
        if opened.is_empty() {
            break;
        }
        room.core_mut().add_player(newcomer(n)).unwrap();
    }
    assert_eq!(asked, 2, "two players, so two replacements at most");
}

#[test]
fn a_player_who_drops_and_comes_back_keeps_its_avatar_and_score() {
    let mut core = Room::new(ArenaGame::with_score_limit(1000), settings(2, 5, 600));
    for i in 0..2 {
        core.handle(RoomInput::Connected {
            client: client(i),
            user: user(i),
        });
    }
    let mut brains = [ArenaBrain::new(1), ArenaBrain::new(2)];
    let mut me = [0u32; 2];
    let mut snaps: [Option<Snapshot<ArenaState>>; 2] = [None, None];
    let mut rx = [SnapshotReceiver::new(), SnapshotReceiver::new()];
    let mut connection = [client(0), client(1)];
    let score = |core: &Room<ArenaGame>, slot: u32| {
        let s = core.last_step().standings.iter().find(|s| s.slot == slot);
        s.map(|s| (s.net_id, s.score))
    };
    // Fight until the first player has scored; then it drops for two seconds and returns on a
    // new connection (as after a network change).
    let mut dropped_at = None;
    let mut before = None;
    let mut seen_while_away = 0;
    for seq in 1..=30 * 240 {
        for i in 0..2 {
            let away = i == 0 && dropped_at.is_some();
            if let (Some(s), false) = (&snaps[i], away) {
                let input = brains[i].think(&in_world_units(&s.entities), me[i]);
                send_input(&mut core, connection[i], seq, s.tick, input);
            }
        }
        for m in core.tick().drain(..) {
            match m {
                Outbound::Snapshot { client: c, packet } => {
                    let i = connection.iter().position(|&k| k == c).unwrap();
                    rx[i].receive(&packet).unwrap();
                    snaps[i] = rx[i].snapshot();
                }
                Outbound::Event {
                    client: c,
                    event: ServerEvent::Welcome { entity_id, .. },
                } => {
                    me[connection.iter().position(|&k| k == c).unwrap()] =
                        entity_id.unwrap_or_default()
                }
                _ => {}
            }
        }
        let (id, kills) = score(&core, 0).unwrap();
        let id = id.unwrap();
        match dropped_at {
            None if kills > 0 => {
                before = score(&core, 0);
                core.handle(RoomInput::Disconnected {
                    client: connection[0],
                });
                dropped_at = Some(seq);
            }
            Some(at) if seq < at + 60 => {
                let others_view = snaps[1].as_ref().unwrap();
                seen_while_away += usize::from(others_view.entities.get(&id).is_some());
            }
            Some(at) if seq == at + 60 => {
                connection[0] = client(5);
                rx[0] = SnapshotReceiver::new();
                snaps[0] = None;
                core.handle(RoomInput::Connected {
                    client: connection[0],
                    user: user(0),
                });
            }
            Some(at) if seq == at + 90 => break,
            _ => {}
        }
    }
    let before = before.expect("the first player scores within four minutes");
    let (id, kills) = score(&core, 0).unwrap();
    assert_eq!(Some(me[0]), before.0, "welcomed back to the same avatar");
    assert_eq!(id, before.0);
    assert!(kills >= before.1, "{before:?} -> {kills}");
    // Not in the other player's view while away (it left the view within a tick or two).
    assert!(
        seen_while_away <= 2,
        "seen {seen_while_away} times while away"
    );
    assert!(
        snaps[0]
            .as_ref()
            .unwrap()
            .entities
            .keys()
            .any(|&e| Some(e) == id)
    );
}
