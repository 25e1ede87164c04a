//! Codec round trips, and hostile bytes that must give error values, never a panic or an abort.

use protocol::{
    ClientEvent, EndReason, GameProtocol, InputFrame, InputPacket, MatchResults, Placement,
    ServerEvent, SnapshotPacket, TokenUserData, WireMessage,
    codec::{self, CodecError, MAX_MESSAGE_BYTES},
};
use serde::{Deserialize, Serialize};

/// A game of the tests' own, with a message of each kind the platform carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Table;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Pass(bool);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Play {
    Card(u8),
    Say(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Seats(u8);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Points(Vec<u32>);

#[derive(Debug, thiserror::Error)]
#[error("refused")]
struct Refused;

macro_rules! valid {
    ($($t:ty),*) => {$(
        impl WireMessage for $t {
            type Invalid = Refused;
            fn validate(&self) -> Result<(), Refused> {
                Ok(())
            }
        }
    )*};
}
valid!(Pass, Play, Seats, Points);

impl GameProtocol for Table {
    const NAME: &'static str = "table";
    const VERSION: u16 = 1;
    type Input = Pass;
    type Command = Play;
    type Event = Play;
    type Welcome = Seats;
    type Results = Points;
    type State = protocol::NoState;
}

fn snapshot(n: u32) -> SnapshotPacket {
    SnapshotPacket {
        tick: 12_345,
        baseline_age: 2,
        last_input_seq: 77,
        input_lead: Some(-1),
        body: (0..n * 7).map(|i| i as u8).collect(),
    }
}

fn events() -> Vec<ServerEvent<Table>> {
    vec![
        ServerEvent::Welcome {
            room_id: 1 << 52,
            player_id: "ümlaut-player".into(),
            team: 4,
            entity_id: Some(3),
            tick_rate: 30,
            match_duration_ms: Some(60_000),
            game: Seats(4),
        },
        ServerEvent::PlayerJoined {
            player_id: "a".into(),
            team: 1,
            entity_id: None,
        },
        ServerEvent::Game(Play::Say("hi".into())),
        ServerEvent::PlayerLeft {
            player_id: "a".into(),
        },
        ServerEvent::MatchStarted { tick: 4 },
        ServerEvent::MatchEnded(MatchResults {
            reason: EndReason::Finished,
            ticks_played: 900,
            placements: vec![Placement {
                player_id: "a".into(),
                team: 1,
                rank: 1,
            }],
            game: Points(vec![25, 3]),
        }),
        ServerEvent::Error {
            code: "wrong_room".into(),
            message: "no".into(),
        },
    ]
}

#[test]
fn every_message_round_trips() {
    for n in [0, 1, 64] {
        let s = snapshot(n);
        assert_eq!(
            codec::decode::<SnapshotPacket>(&codec::encode(&s).unwrap()),
            Ok(s)
        );
    }
    for e in events() {
        assert_eq!(
            codec::decode::<ServerEvent<Table>>(&codec::encode(&e).unwrap()),
            Ok(e)
        );
    }
    let input = InputPacket {
        ack_tick: 99,
        inputs: (1..=4)
            .map(|seq| InputFrame {
                seq,
                tick: 0,
                input: Pass(seq % 2 == 0),
            })
            .collect(),
    };
    assert_eq!(
        codec::decode::<InputPacket<Pass>>(&codec::encode(&input).unwrap()),
        Ok(input)
    );
    for event in [
        ClientEvent::<Table>::Leave,
        ClientEvent::Command(Play::Card(51)),
    ] {
        assert_eq!(
            codec::decode::<ClientEvent<Table>>(&codec::encode(&event).unwrap()),
            Ok(event)
        );
    }
}

#[test]
fn every_truncation_is_an_error() {
    for message in events() {
        let bytes = codec::encode(&message).unwrap();
        for cut in 0..bytes.len() {
            assert!(
                codec::decode::<ServerEvent<Table>>(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
    }
    let bytes = codec::encode(&snapshot(20)).unwrap();
    for cut in 0..bytes.len() {
        assert!(
            codec::decode::<SnapshotPacket>(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut bytes = codec::encode(&ClientEvent::<Table>::Leave).unwrap();
    bytes.push(0);
    assert_eq!(
        codec::decode::<ClientEvent<Table>>(&bytes),
        Err(CodecError::TrailingBytes(1))
    );
    let mut bytes = codec::encode(&snapshot(3)).unwrap();
    bytes.extend_from_slice(&[1, 2, 3]);
    assert_eq!(
        codec::decode::<SnapshotPacket>(&bytes),
        Err(CodecError::TrailingBytes(3))
    );
}

#[test]
fn absurd_length_prefixes_are_refused_without_allocating() {
    // A string length of 2^32-1 inside an event (PlayerLeft's player_id): the byte limit
    // refuses it before any allocation.
    let mut bytes = vec![2]; // variant PlayerLeft
    bytes.push(252); // varint marker: u32 follows
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        codec::decode::<ServerEvent<Table>>(&bytes),
        Err(CodecError::TooLarge)
    );
    // A snapshot whose body claims u64::MAX bytes: refused before any allocation. (A huge
    // allocation would abort this test process.)
    let mut bytes = vec![1, 1, 1, 0]; // tick, baseline age, last_input_seq, no input lead
    bytes.push(253); // varint marker: u64 follows
    bytes.extend_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(
        codec::decode::<SnapshotPacket>(&bytes),
        Err(CodecError::Truncated)
    );
    // 2^40 inputs claimed in an 11-byte input packet: the same.
    let mut bytes = vec![0, 253];
    bytes.extend_from_slice(&(1u64 << 40).to_le_bytes());
    assert_eq!(
        codec::decode::<InputPacket<Pass>>(&bytes),
        Err(CodecError::Truncated)
    );
}

#[test]
fn oversized_buffers_are_refused_up_front() {
    let big = vec![0u8; MAX_MESSAGE_BYTES + 1];
    assert_eq!(
        codec::decode::<SnapshotPacket>(&big),
        Err(CodecError::TooLarge)
    );
}

#[test]
fn bad_tags_and_bad_utf8_are_errors() {
    assert!(codec::decode::<ClientEvent<Table>>(&[9]).is_err());
    assert!(codec::decode::<ServerEvent<Table>>(&[200]).is_err());
    // PlayerLeft with a 2-byte id that is not UTF-8.
    assert!(matches!(
        codec::decode::<ServerEvent<Table>>(&[2, 2, 0xff, 0xfe]),
        Err(CodecError::Malformed(_))
    ));
}

#[test]
fn pseudo_random_garbage_never_panics() {
    // A small deterministic fuzz: xorshift bytes of every length up to 300.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as u8
    };
    for len in 0..300 {
        for _ in 0..20 {
            let bytes: Vec<u8> = (0..len).map(|_| next()).collect();
            let _ = codec::decode::<SnapshotPacket>(&bytes);
            let _ = codec::decode::<ServerEvent<Table>>(&bytes);
            let _ = codec::decode::<InputPacket<Pass>>(&bytes);
            let _ = codec::decode::<ClientEvent<Table>>(&bytes);
            let _ = codec::decode::<TokenUserData>(&bytes);
        }
    }
}

#[test]
fn token_user_data_round_trips_and_rejects_bad_lengths() {
    let user = TokenUserData {
        room_id: 42,
        ticket_id: "0123456789abcdef0123456789abcdef".into(),
        player_id: "p".repeat(64),
    };
    let bytes = user.to_bytes().unwrap();
    assert_eq!(TokenUserData::from_bytes(&bytes).unwrap(), user);
    let mut bad = bytes;
    bad[0] = 0xff;
    bad[1] = 0xff;
    assert!(TokenUserData::from_bytes(&bad).is_err());
    let too_big = TokenUserData {
        player_id: "x".repeat(300),
        ..user
    };
    assert!(too_big.to_bytes().is_err());
}

#[test]
fn a_token_or_an_assignment_for_another_game_or_version_is_refused_with_a_clear_error() {
    use protocol::{
        ClientError, GameClient, GameId, NetcodeConnectToken, api::Assignment, protocol_id,
        token_to_base64, unix_now,
    };
    let user = TokenUserData {
        room_id: 1,
        ticket_id: "t".into(),
        player_id: "p".into(),
    };
    let addr = "127.0.0.1:9".parse().unwrap();
    let table = GameId::of::<Table>();
    // A token of another version of the game (or of the platform): netcode's id differs.
    let old = NetcodeConnectToken::generate(
        unix_now(),
        protocol_id::<Table>() - 1,
        30,
        1,
        10,
        vec![addr],
        Some(&user.to_bytes().unwrap()),
        &[1; 32],
    )
    .unwrap();
    match GameClient::<Table>::connect_with_token(old) {
        Err(ClientError::ProtocolMismatch { token, client }) => {
            assert_eq!(
                (token, client),
                (protocol_id::<Table>() - 1, protocol_id::<Table>())
            )
        }
        other => panic!("expected a protocol mismatch, got {other:?}"),
    }
    let current = protocol::issue_token(
        &[1; 32],
        &table,
        unix_now(),
        std::time::Duration::from_secs(60),
        1,
        addr,
        &user,
    )
    .unwrap();
    assert!(
        current.expire_timestamp - current.create_timestamp <= 30,
        "expiry is capped at 30 s"
    );
    let text = token_to_base64(&current);
    assert!(protocol::token_from_base64(&text).is_ok());
    assert!(protocol::token_from_base64("!!!").is_err());
    assert!(protocol::token_from_base64(&"A".repeat(5000)).is_err());
    // An assignment to a room of another game: refused by name before anything is sent.
    let assignment = Assignment {
        server_addr: addr.to_string(),
        connect_token: text,
        room_id: 1,
        player_id: "p".into(),
        team: 0,
        game: GameId {
            name: "arena".into(),
            version: 1,
        },
    };
    let refused = GameClient::<Table>::connect(&assignment).unwrap_err();
    assert!(matches!(refused, ClientError::OtherGame { .. }));
    assert_eq!(
        refused.to_string(),
        "the room plays arena/1, and this client plays table/1"
    );
    let ours = Assignment {
        game: table,
        ..assignment
    };
    assert!(GameClient::<Table>::connect(&ours).is_ok());
}
