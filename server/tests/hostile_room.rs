//! Hostile game input, sans-IO: the receive path from a decrypted payload on (the fuzz target's
//! harness, checked here with a real client's payloads and with garbage), out-of-range inputs,
//! and a client trying to move faster or fire more often than the rules allow.

use std::{collections::HashMap, time::Duration};

use arena::{Arena, ArenaGame, ArenaRules, EntityKind, PlayerInput};
use protocol::{
    Channel, ClientEvent, InputFrame, InputPacket, TokenUserData, bundle, codec, connection_config,
};
use server::room::{HonestClient, HostileKind, Phase, ReceivePath, Room, RoomInput, RoomSettings};

fn settings(players: usize) -> RoomSettings {
    RoomSettings::for_players(1, 7, players)
}

/// A real renet client's payloads (bundled as the game client bundles them): `ticks` frames
/// of one input each, and a leave at the end.
fn client_payloads(ticks: u32) -> Vec<Vec<u8>> {
    let mut renet = renet::RenetClient::new(connection_config());
    renet.set_connected();
    let mut payloads = Vec::new();
    let mut scratch = Vec::new();
    for seq in 1..=ticks {
        let packet = InputPacket {
            ack_tick: 0,
            inputs: vec![InputFrame {
                seq,
                tick: 0,
                input: PlayerInput::new(1.0, 0.5, 0.3, seq % 4 == 0),
            }],
        };
        renet.send_message(Channel::State, codec::encode(&packet).unwrap());
        if seq == ticks {
            renet.send_message(
                Channel::Events,
                codec::encode(&ClientEvent::<Arena>::Leave).unwrap(),
            );
        }
        renet.update(Duration::from_millis(33));
        bundle::pack(&renet.get_packets_to_send(), &mut scratch, |p| {
            payloads.push(p.to_vec());
            Ok::<_, ()>(())
        })
        .unwrap();
    }
    payloads
}

/// The fuzz target's input format: `[client, len_lo, len_hi, bytes...]` per payload.
fn as_fuzz_input(client: u8, payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        out.push(client);
        out.extend_from_slice(&(p.len() as u16).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

#[test]
fn the_receive_path_takes_a_real_clients_payloads_and_drops_garbage() {
    let payloads = client_payloads(60);
    // `RALLYPOINT_FUZZ_SEEDS=fuzz/corpus/room_receive` refreshes the fuzz target's seed.
    if let Ok(dir) = std::env::var("RALLYPOINT_FUZZ_SEEDS") {
        std::fs::write(
            format!("{dir}/real-client"),
            as_fuzz_input(0, &payloads[..20]),
        )
        .unwrap();
    }
    let mut path = ReceivePath::new(ArenaGame::default(), settings(2));
    let (leave, play) = payloads.split_last().unwrap();
    for p in play {
        path.payload_and_tick(0, p);
    }
    let stats = path.room().core().stats();
    assert!(stats.inputs_applied >= 50, "{stats:?}");
    assert_eq!(stats.rejected_messages, 0);
    assert_eq!(path.stats().bad_packets, 0);

    let garbage: [&[u8]; 6] = [
        &[],
        &[0xfe],
        &[0xfe, 0xff, 0xff, 1, 2],
        &[0; 1200],
        &[0xff; 64],
        &payloads[3][..payloads[3].len() / 2],
    ];
    // Garbage can only come from the client whose key decrypted it: client 1 sends it (and
    // a client the room does not know, to be sure); renet drops that connection.
    for g in garbage {
        path.payload_and_tick(1, g);
        path.payload_and_tick(9, g);
    }
    assert!(path.stats().bad_packets > 0, "{:?}", path.stats());
    assert_eq!(path.room().core().connected_players(), 1);
    assert!(matches!(path.room().core().phase(), Phase::Running { .. }));
    // Client 0 is untouched: its leave still gets through.
    path.payload_and_tick(0, leave);
    path.payload_and_tick(0, &[]);
    assert_eq!(path.room().core().connected_players(), 0);
}

/// Player `i` of [`settings`]'s room, as its token names it.
fn user(i: u64) -> TokenUserData {
    TokenUserData {
        room_id: 1,
        ticket_id: format!("{i:032x}"),
        player_id: format!("p{i}"),
    }
}

fn connected_room(players: usize) -> Room<ArenaGame> {
    let mut room = Room::new(ArenaGame::default(), settings(players));
    for i in 0..players {
        room.handle(RoomInput::Connected {
            client: i as u64,
            user: user(i as u64),
        });
    }
    room.tick();
    room
}

fn send(room: &mut Room<ArenaGame>, client: u64, inputs: Vec<InputFrame<PlayerInput>>) {
    let bytes = codec::encode(&InputPacket {
        ack_tick: 0,
        inputs,
    })
    .unwrap();
    room.handle(RoomInput::Message {
        client,
        channel: Channel::State,
        bytes: &bytes,
    });
}

#[test]
fn out_of_range_inputs_are_refused_and_counted() {
    let mut room = connected_room(1);
    let frame = |seq, input| InputFrame {
        seq,
        tick: 0,
        input,
    };
    let bad = [
        PlayerInput {
            move_x: i8::MIN,
            ..PlayerInput::default()
        },
        PlayerInput {
            move_y: i8::MIN,
            ..PlayerInput::default()
        },
        PlayerInput {
            buttons: 0x80,
            ..PlayerInput::default()
        },
    ];
    for (i, input) in bad.into_iter().enumerate() {
        // A bad input spoils its whole packet, good inputs with it included.
        send(
            &mut room,
            0,
            vec![
                frame(2 * i as u32 + 1, PlayerInput::default()),
                frame(2 * i as u32 + 2, input),
            ],
        );
        room.tick();
    }
    let stats = room.core().stats();
    assert_eq!(stats.rejected_messages, 3);
    assert_eq!(stats.inputs_applied, 0);
    send(
        &mut room,
        0,
        vec![frame(10, PlayerInput::new(1.0, 0.0, 0.0, false))],
    );
    room.tick();
    assert_eq!(room.core().stats().inputs_applied, 1);
}

#[test]
fn a_client_cannot_move_faster_or_fire_more_often_than_the_rules_allow() {
    let rules = ArenaRules::default();
    let dt = 1.0 / 30.0;
    // Two players far enough apart to never meet; player 0 floods.
    let mut room = connected_room(2);
    let avatar = |room: &Room<ArenaGame>| {
        room.last_step()
            .entities
            .iter()
            .find(|e| e.state.kind.0 == EntityKind::Player)
            .map(|e| {
                let [x, y] = e.state.pos.get();
                (e.id, x, y)
            })
    };
    let mut seq = 0;
    let mut positions = Vec::new();
    let mut projectiles_seen: HashMap<u32, ()> = HashMap::new();
    let ticks = 90;
    for _ in 0..ticks {
        // Eight full-stick, firing inputs per tick (the most a packet may carry), diagonal so
        // an unnormalized stick would move faster.
        let frames = (0..8)
            .map(|_| {
                seq += 1;
                InputFrame {
                    seq,
                    tick: 0,
                    input: PlayerInput::new(1.0, 1.0, 0.0, true),
                }
            })
            .collect();
        send(&mut room, 0, frames);
        room.tick();
        positions.push(avatar(&room).unwrap());
        for e in &room.last_step().entities {
            if e.state.kind.0 == EntityKind::Projectile {
                projectiles_seen.insert(e.id, ());
            }
        }
    }
    // Positions as replicated: each within half a step (1/32 unit) per axis of the room's.
    let quantization = 2.0 * (0.5f32 / 32.0) * std::f32::consts::SQRT_2;
    let max_step = rules.player_speed * dt * 1.001 + quantization;
    for w in positions.windows(2) {
        let ((_, x0, y0), (_, x1, y1)) = (w[0], w[1]);
        let moved = ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt();
        assert!(
            moved <= max_step,
            "moved {moved} in a tick; at most {max_step}"
        );
    }
    let (_, x0, y0) = positions[0];
    let (_, x1, y1) = positions[positions.len() - 1];
    assert!((x1 - x0).abs() + (y1 - y0).abs() > 1.0, "it did move");
    // Shots at most once per fire interval (and the other player fired none).
    let most_shots = (ticks as f32 * dt / rules.fire_interval).ceil() as usize + 1;
    assert!(
        (2..=most_shots).contains(&projectiles_seen.len()),
        "{} projectiles in {ticks} ticks; at most {most_shots}",
        projectiles_seen.len()
    );
}

/// Packets that make renet 2.0 panic or misbehave when it trusts them: a slice whose index is
/// not below its count (an index out of bounds), and two slices of one message that disagree
/// on the count (its memory accounting underflows).
fn renet_breakers() -> Vec<Vec<Vec<u8>>> {
    use protocol::renet_wire::RenetPacket;
    let slice = |reliable, index, count, len| RenetPacket::Slice {
        reliable,
        sequence: 5,
        channel: if reliable {
            Channel::Events
        } else {
            Channel::State
        }
        .into(),
        message_id: 0,
        slice_index: index,
        num_slices: count,
        payload: vec![1; len],
    };
    vec![
        vec![slice(true, 3, 2, 1200).to_bytes()],
        vec![slice(false, 7, 1, 1200).to_bytes()],
        vec![
            slice(false, 0, 3, 1200).to_bytes(),
            slice(false, 1, 3, 1200).to_bytes(),
            slice(false, 1, 2, 10).to_bytes(),
        ],
    ]
}

/// Runs a 4-player room where client 0 plays honestly and clients 1..=3 each send one of
/// [`renet_breakers`] at tick 10; returns the path after 60 ticks and the honest client.
fn attacked(path: &mut ReceivePath<ArenaGame>) -> HonestClient {
    let mut honest = HonestClient::new(0);
    for tick in 0..60 {
        if tick == 10 {
            for (i, packets) in renet_breakers().into_iter().enumerate() {
                for p in packets {
                    path.payload(1 + i as u64, &p);
                }
            }
        }
        honest.play(path);
    }
    honest
}

#[test]
fn a_client_whose_packets_make_renet_panic_costs_only_its_own_connection() {
    // Without the packet check, renet processes the slices and panics; containment alone
    // keeps the room and the honest player going.
    let mut path = ReceivePath::without_packet_check(ArenaGame::default(), settings(4));
    let honest = attacked(&mut path);
    let core = path.room().core();
    assert!(
        matches!(core.phase(), Phase::Running { .. }),
        "{:?}",
        core.phase()
    );
    assert_eq!(core.stats().restarts, 0);
    assert_eq!(
        core.connected_players(),
        1,
        "only the honest player is left"
    );
    let mut ejected = path.ejected().to_vec();
    ejected.sort();
    assert_eq!(ejected, [1, 2, 3]);
    let counts = path.stats().ejected;
    assert!(counts.get(HostileKind::Panic) >= 2, "{counts:?}");
    assert_eq!(counts.total(), 3);
    // Snapshots kept coming to the honest player, one a tick.
    assert!(honest.snapshots() >= 58, "{} snapshots", honest.snapshots());
    // The ejected players' tickets are not the room's to give back.
    assert_eq!(core.tickets(), [format!("{:032x}", 0)]);
}

#[test]
fn the_packet_check_refuses_them_before_renet_sees_them() {
    let mut path = ReceivePath::new(ArenaGame::default(), settings(4));
    let honest = attacked(&mut path);
    let counts = path.stats().ejected;
    assert_eq!(counts.get(HostileKind::Malformed), 3, "{counts:?}");
    assert_eq!(counts.get(HostileKind::Panic), 0, "{counts:?}");
    assert_eq!(path.room().core().connected_players(), 1);
    assert!(honest.snapshots() >= 58, "{} snapshots", honest.snapshots());
}

#[test]
fn an_ejected_player_cannot_come_back() {
    let mut path = ReceivePath::new(ArenaGame::default(), settings(2));
    let mut honest = HonestClient::new(0);
    honest.play(&mut path);
    path.payload(1, &[9, 9, 9]);
    honest.play(&mut path);
    assert_eq!(path.ejected(), [1]);

    // The same player with a new connection (its token is still good for a while).
    let mut room = Room::new(ArenaGame::default(), settings(2));
    room.handle(RoomInput::Connected {
        client: 1,
        user: user(1),
    });
    room.handle(RoomInput::Ejected {
        client: 1,
        kind: HostileKind::Malformed,
    });
    assert_eq!(
        room.core_mut().take_ejected_tickets(),
        [format!("{:032x}", 1)]
    );
    room.drain().clear();
    room.handle(RoomInput::Connected {
        client: 5,
        user: user(1),
    });
    let refused = room.drain().iter().any(|m| {
        matches!(m, server::room::Outbound::Event { client: 5, event: protocol::ServerEvent::Error { code, .. } } if code == "ejected")
    });
    assert!(refused, "{:?}", room.drain());
    assert_eq!(room.core().tickets(), [format!("{:032x}", 0)]);
}

#[test]
fn an_ejected_players_place_goes_to_backfill() {
    let mut settings = settings(2);
    settings.backfill = Some(server::room::Backfill::default());
    let mut room = Room::new(ArenaGame::default(), settings);
    for i in 0..2u64 {
        room.handle(RoomInput::Connected {
            client: i,
            user: user(i),
        });
    }
    room.tick();
    assert!(matches!(room.core().phase(), Phase::Running { .. }));
    room.handle(RoomInput::Ejected {
        client: 1,
        kind: HostileKind::Panic,
    });
    room.tick();
    let opened = room.core_mut().take_open_slots();
    assert_eq!(opened.len(), 1, "no grace, as for a player who left");
    assert_eq!(opened[0].left_ticket, format!("{:032x}", 1));
    assert_eq!(room.core().connected_players(), 1);
}
