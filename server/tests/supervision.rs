//! Supervision of a room's simulation, modelled on OTP's supervisor suite: restarts under the
//! intensity limit keep the room; one over ends it; state after a restart is the checkpoint
//! plus the replayed inputs. Driven sans-IO, tick by tick.

use std::time::Duration;

use arena::{Arena, ArenaGame, PlayerInput};
use protocol::{Channel, InputFrame, InputPacket, ServerEvent, TokenUserData, codec};
use server::room::{
    Fault, Outbound, Phase, Room, RoomInput, RoomSettings, StepOutput, Supervision,
};

const ROOM: u64 = 5;
const PLAYERS: usize = 4;

fn room(seed: u64) -> Room<ArenaGame> {
    let settings = RoomSettings {
        join_timeout: Duration::from_secs(5),
        supervision: Supervision {
            max_restarts: 3,
            window: Duration::from_secs(10),
            checkpoint_interval: Duration::from_secs(1),
        },
        ..RoomSettings::for_players(ROOM, seed, PLAYERS)
    };
    let mut room = Room::new(ArenaGame::default(), settings);
    for i in 0..PLAYERS {
        room.handle(RoomInput::Connected {
            client: i as u64,
            user: TokenUserData {
                room_id: ROOM,
                ticket_id: format!("{i:032x}"),
                player_id: format!("p{i}"),
            },
        });
    }
    room
}

/// A scripted input for player `i` at `tick`: it changes every tick, so losing one shows.
fn scripted(i: usize, tick: u32) -> PlayerInput {
    let t = tick as f32 * 0.21 + i as f32;
    PlayerInput::new(
        t.cos(),
        t.sin(),
        t * 1.7,
        (tick + i as u32).is_multiple_of(3),
    )
}

fn send_inputs(room: &mut Room<ArenaGame>, tick: u32) {
    for i in 0..PLAYERS {
        let packet = InputPacket {
            ack_tick: tick,
            inputs: vec![InputFrame {
                seq: tick,
                tick: 0,
                input: scripted(i, tick),
            }],
        };
        let bytes = codec::encode(&packet).unwrap();
        room.handle(RoomInput::Message {
            client: i as u64,
            channel: Channel::State,
            bytes: &bytes,
        });
    }
}

/// Runs `ticks` ticks; at each tick in `panics` a panic is injected; at each tick in `silent`
/// no inputs are sent. Returns the simulation output of every tick and all messages.
fn run(
    ticks: u32,
    panics: &[u32],
    silent: &[u32],
) -> (
    Room<ArenaGame>,
    Vec<StepOutput<ArenaGame>>,
    Vec<Outbound<Arena>>,
) {
    let mut room = room(11);
    let mut steps = Vec::new();
    let mut messages = Vec::new();
    for tick in 1..=ticks {
        if !silent.contains(&tick) {
            send_inputs(&mut room, tick);
        }
        if panics.contains(&tick) {
            room.inject_fault(Fault::Panic);
        }
        messages.append(room.tick());
        steps.push(room.last_step().clone());
    }
    (room, steps, messages)
}

fn room_failed_events(messages: &[Outbound<Arena>]) -> Vec<(u64, String)> {
    messages
        .iter()
        .filter_map(|m| match m {
            Outbound::Event {
                client,
                event: ServerEvent::RoomFailed { reason },
            } => Some((*client, reason.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn restarts_just_under_the_intensity_limit_keep_the_room() {
    // Three panics within ten seconds: the limit is "more than 3".
    let (room, steps, messages) = run(300, &[40, 100, 160], &[]);
    assert_eq!(room.core().stats().restarts, 3);
    assert!(
        matches!(room.core().phase(), Phase::Running { .. }),
        "{:?}",
        room.core().phase()
    );
    assert!(room_failed_events(&messages).is_empty());
    // Every tick still produced a snapshot for every client, the crashed ones included.
    assert!(
        steps
            .iter()
            .enumerate()
            .all(|(i, s)| s.tick == i as u32 + 1)
    );
    let snapshots = messages
        .iter()
        .filter(|m| matches!(m, Outbound::Snapshot { .. }))
        .count();
    assert_eq!(snapshots, 300 * PLAYERS);
    assert!(
        !messages
            .iter()
            .any(|m| matches!(m, Outbound::Disconnect { .. })),
        "nobody is disconnected"
    );
}

#[test]
fn one_restart_over_the_limit_fails_the_room_and_says_why() {
    let (room, _, messages) = run(200, &[40, 70, 100, 130], &[]);
    assert_eq!(room.core().phase(), Phase::Failed { at: 130 });
    let failed = room_failed_events(&messages);
    assert_eq!(failed.len(), PLAYERS, "every player is told: {failed:?}");
    assert!(
        failed
            .iter()
            .all(|(_, reason)| reason.contains("4 times") && reason.contains("injected fault")),
        "{failed:?}"
    );
    let mut tickets = room.core().tickets();
    tickets.sort();
    assert_eq!(
        tickets,
        (0..PLAYERS)
            .map(|i| format!("{i:032x}"))
            .collect::<Vec<_>>(),
        "all tickets go back"
    );
    assert!(room.core().is_finished(), "the room closes after lingering");
}

#[test]
fn restarts_spread_wider_than_the_window_are_forgiven() {
    // Five panics, 4 s apart: never more than three inside any 10 s window.
    let (room, _, messages) = run(600, &[30, 150, 270, 390, 510], &[]);
    assert_eq!(room.core().stats().restarts, 5);
    assert!(matches!(room.core().phase(), Phase::Running { .. }));
    assert!(room_failed_events(&messages).is_empty());
}

#[test]
fn state_after_a_restart_equals_checkpoint_plus_replayed_inputs() {
    // Checkpoints fall on ticks 30, 60, ...; a panic at 45 rebuilds from tick 30's checkpoint
    // and replays 31..44, then reruns 45 without its inputs.
    let (crashed, with_crash, _) = run(120, &[45], &[]);
    assert_eq!(crashed.core().stats().restarts, 1);
    // The same match where tick 45's inputs were never sent: identical, tick for tick.
    let (_, without_inputs, _) = run(120, &[], &[45]);
    assert_eq!(with_crash, without_inputs);
    // And tick 45's inputs do matter, so the equality above is not vacuous.
    let (_, undisturbed, _) = run(120, &[], &[]);
    assert_eq!(with_crash[..44], undisturbed[..44]);
    assert_ne!(with_crash[44..], undisturbed[44..]);
}

#[test]
fn a_restart_right_after_a_checkpoint_and_one_long_after_both_converge() {
    for at in [31, 59, 61] {
        let (_, with_crash, _) = run(100, &[at], &[]);
        let (_, without_inputs, _) = run(100, &[], &[at]);
        assert_eq!(with_crash, without_inputs, "panic at tick {at}");
    }
}

#[test]
fn joins_in_the_crashed_tick_are_not_lost() {
    // A player whose spawn is in the batch that crashes still gets its avatar and welcome.
    let mut room = room(3);
    room.tick();
    room.handle(RoomInput::Disconnected { client: 0 });
    room.tick();
    room.handle(RoomInput::Connected {
        client: 99,
        user: TokenUserData {
            room_id: ROOM,
            ticket_id: format!("{:032x}", 0),
            player_id: "p0".into(),
        },
    });
    room.inject_fault(Fault::Panic);
    let out: Vec<_> = room.tick().drain(..).collect();
    assert_eq!(room.core().stats().restarts, 1);
    assert!(
        out.iter().any(|m| matches!(
            m,
            Outbound::Event {
                client: 99,
                event: ServerEvent::Welcome { .. }
            }
        )),
        "{out:?}"
    );
    assert_eq!(room.last_step().standings.len(), PLAYERS);
}
