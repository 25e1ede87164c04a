//! A game that is not the arena, on the engine through the public API only: no avatars, no
//! replicated entities, a reliable command validated by the game, the game's own events, a
//! match the game ends, and results of its own. Played end to end over real HTTP and UDP by
//! `GameClient`s, including a player who drops and comes back to find its state kept.

mod support;

use std::time::Duration;

use bevy_ecs::{prelude::*, schedule::Schedule};
use clap::Parser;
use protocol::{
    ClientError, EndReason, GameClient, GameProtocol, MatchmakerClient, ServerEvent, WireMessage,
    api::CreateTicketRequest,
};
use serde::{Deserialize, Serialize};
use server::{
    Game, GameEvents, Joined, Outcome, Participant, PlayerInfo, Recipient, config::ServerArgs,
    placements_by,
};

/// "Tally": each player adds to their own count by command; the first to reach the target
/// ends the match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tally;

/// The target every match plays to.
const TARGET: u32 = 10;

/// Nothing to say each tick.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Idle;

/// Add 1 to 5 to one's count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Add(u8);

/// A player's count changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Counted {
    player: String,
    count: u32,
}

/// What a match plays to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PlaysTo(u32);

/// Every player's final count, best first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Counts(Vec<(String, u32)>);

#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("one adds 1 to 5, not {0}")]
    OutOfRange(u8),
}

impl WireMessage for Add {
    type Invalid = Refused;
    fn validate(&self) -> Result<(), Refused> {
        match self.0 {
            1..=5 => Ok(()),
            n => Err(Refused::OutOfRange(n)),
        }
    }
}

protocol::always_valid!(Idle, Counted, PlaysTo, Counts);

impl GameProtocol for Tally {
    const NAME: &'static str = "tally";
    const VERSION: u16 = 1;
    type Input = Idle;
    type Command = Add;
    type Event = Counted;
    type Welcome = PlaysTo;
    type Results = Counts;
    type State = protocol::NoState;
}

/// A player's seat: their count, kept while they are away.
#[derive(Component, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Seat {
    player: String,
    count: u32,
    away: bool,
}

#[derive(Debug, Clone, Default)]
struct TallyGame;

impl Game for TallyGame {
    type Protocol = Tally;
    type Checkpoint = Vec<Seat>;

    fn mode(&self) -> &str {
        "tally"
    }
    fn welcome(&self) -> PlaysTo {
        PlaysTo(TARGET)
    }
    fn setup(&self, _: &mut World, _: u64) {}
    fn add_systems(&self, _: &mut Schedule) {}
    fn player_joined(&self, world: &mut World, player: PlayerInfo<'_>) -> Joined {
        let seat = Seat {
            player: player.player_id.to_owned(),
            count: 0,
            away: false,
        };
        Joined {
            entity: world.spawn(seat).id(),
            net_id: None,
        }
    }
    fn player_dropped(&self, world: &mut World, player: Entity) {
        if let Some(mut seat) = world.get_mut::<Seat>(player) {
            seat.away = true;
        }
    }
    fn player_returned(&self, world: &mut World, player: Entity) {
        if let Some(mut seat) = world.get_mut::<Seat>(player) {
            seat.away = false;
        }
    }
    fn player_left(&self, world: &mut World, player: Entity) {
        self.player_dropped(world, player);
    }
    fn apply_input(&self, _: &mut World, _: Entity, _: Idle) {}
    fn apply_command(&self, world: &mut World, player: Entity, Add(n): Add) {
        let Some(mut seat) = world.get_mut::<Seat>(player) else {
            return;
        };
        seat.count += u32::from(n);
        let event = Counted {
            player: seat.player.clone(),
            count: seat.count,
        };
        world
            .resource_mut::<GameEvents<Counted>>()
            .send(Recipient::All, event);
    }
    fn write_snapshot(&self, _: &mut World, _: &mut Vec<server::Replica<protocol::NoState>>) {}
    fn score(&self, world: &World, player: Entity) -> i64 {
        world.get::<Seat>(player).map_or(0, |s| i64::from(s.count))
    }
    fn is_over(&self, world: &mut World) -> bool {
        world
            .query::<&Seat>()
            .iter(world)
            .any(|s| s.count >= TARGET)
    }
    fn results(&self, world: &mut World, players: &[Participant<'_>]) -> Outcome<Counts> {
        let count = |p: &Participant<'_>| world.get::<Seat>(p.entity).map_or(0, |s| s.count);
        let ranked = placements_by(players, count);
        let counts = ranked
            .iter()
            .map(|(placement, i)| (placement.player_id.clone(), count(&players[*i])))
            .collect();
        Outcome {
            placements: ranked.into_iter().map(|(p, _)| p).collect(),
            results: Counts(counts),
        }
    }
    fn checkpoint(&self, world: &mut World, players: &[Entity]) -> Vec<Seat> {
        players
            .iter()
            .filter_map(|&e| world.get::<Seat>(e).cloned())
            .collect()
    }
    fn restore(&self, world: &mut World, seats: &Vec<Seat>) -> Vec<Entity> {
        seats.iter().map(|s| world.spawn(s.clone()).id()).collect()
    }
}

/// Plays one frame for each client: receive, keep what each heard, send what is due.
fn frame(clients: &mut [&mut GameClient<Tally>], heard: &mut [Vec<ServerEvent<Tally>>]) {
    for (client, heard) in clients.iter_mut().zip(heard.iter_mut()) {
        client.update(Duration::from_millis(10)).unwrap();
        while let Some(event) = client.poll_event() {
            heard.push(event);
        }
        for _ in 0..client.inputs_due() {
            client.send_input(Idle);
        }
        client.flush().unwrap();
    }
}

/// Plays frames until `done` holds for what the clients heard, for at most 5 s.
async fn play_until(
    clients: &mut [&mut GameClient<Tally>],
    heard: &mut [Vec<ServerEvent<Tally>>],
    mut done: impl FnMut(&[Vec<ServerEvent<Tally>>]) -> bool,
) -> bool {
    for _ in 0..500 {
        frame(clients, heard);
        if done(heard) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// The newest count `player` was told of for `who`.
fn count_of(heard: &[ServerEvent<Tally>], who: &str) -> Option<u32> {
    heard.iter().rev().find_map(|e| match e {
        ServerEvent::Game(Counted { player, count }) if player == who => Some(*count),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_that_is_not_the_arena_plays_end_to_end_and_its_results_leave_the_room() {
    let args = ServerArgs::try_parse_from([
        "server",
        "--udp-ports",
        "0",
        // Two modes of the game: no match clock in either (the game ends its matches).
        "--modes",
        "name=tally,players=2,time-limit=none",
        "--modes",
        "name=tally-solo,players=1,time-limit=none,max-wait=30s",
    ])
    .unwrap();
    // Served the way an embedder (or mini-redis's `server::run`) would: a listener bound to
    // port 0 and a shutdown future.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        server::serve(listener, &args, TallyGame, async {
            let _ = stopped.await;
        })
        .await
    });
    let mm = MatchmakerClient::new(&url);
    // Tally ships no drawing of its own: the dashboard draws it generically.
    let view = reqwest::get(format!("{url}/v1/game/view.js"))
        .await
        .unwrap();
    assert_eq!(view.status(), 404);
    assert!(view.text().await.unwrap().contains("no_view"));
    let wait = Duration::from_secs(5);
    let (a, b) = (
        mm.create_ticket(&CreateTicketRequest::for_player("tally", "ann"))
            .await
            .unwrap(),
        mm.create_ticket(&CreateTicketRequest::for_player("tally", "bo"))
            .await
            .unwrap(),
    );
    let at_a = mm.wait_for_assignment(&a.id, wait).await.unwrap();
    let at_b = mm.wait_for_assignment(&b.id, wait).await.unwrap();
    assert_eq!(at_a.room_id, at_b.room_id);
    let room = at_a.room_id;
    let mut ann = GameClient::<Tally>::connect(&at_a).unwrap();
    let mut bo = GameClient::<Tally>::connect(&at_b).unwrap();
    let mut heard = vec![Vec::new(), Vec::new()];

    // Welcomed with the game's own welcome and no entity; the match starts.
    let started = play_until(&mut [&mut ann, &mut bo], &mut heard, |h| {
        h.iter().all(|h| {
            h.iter()
                .any(|e| matches!(e, ServerEvent::MatchStarted { .. }))
        })
    })
    .await;
    assert!(started, "{heard:?}");
    for h in &heard {
        assert!(
            h.iter().any(|e| matches!(
                e,
                ServerEvent::Welcome {
                    entity_id: None,
                    game: PlaysTo(TARGET),
                    match_duration_ms: None,
                    ..
                }
            )),
            "{h:?}"
        );
    }
    // The other mode is matched and placed on its own terms: a room of one.
    let solo = mm
        .create_ticket(&CreateTicketRequest::for_player("tally-solo", "cy"))
        .await
        .unwrap();
    let at_solo = mm.wait_for_assignment(&solo.id, wait).await.unwrap();
    let rooms = mm.rooms().await.unwrap();
    let solo_room = rooms.iter().find(|r| r.id == at_solo.room_id).unwrap();
    assert_eq!(
        (solo_room.mode.as_str(), solo_room.expected_players),
        ("tally-solo", 1)
    );
    let tally_room = rooms.iter().find(|r| r.id == room).unwrap();
    assert_eq!(
        (tally_room.mode.as_str(), tally_room.expected_players),
        ("tally", 2)
    );

    // Commands are applied in order and their events reach both players; one the game
    // refuses (7 is out of range) changes nothing.
    for n in [3, 7, 2] {
        ann.send_command(Add(n)).unwrap();
    }
    let told = play_until(&mut [&mut ann, &mut bo], &mut heard, |h| {
        h.iter().all(|h| count_of(h, "ann") == Some(5))
    })
    .await;
    assert!(told, "{heard:?}");
    let seen: Vec<u32> = heard[1]
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Game(Counted { player, count }) if player == "ann" => Some(*count),
            _ => None,
        })
        .collect();
    assert_eq!(seen, [3, 5], "the refused command was dropped");

    // Ann drops; Bo hears she left; she comes back on the same socket with her token and
    // finds her count kept: 5 more reach the target of 10.
    ann.disconnect();
    let left = play_until(&mut [&mut bo], &mut heard[1..], |h| {
        h[0].iter()
            .any(|e| matches!(e, ServerEvent::PlayerLeft { player_id } if player_id == "ann"))
    })
    .await;
    assert!(left, "{heard:?}");
    ann.rejoin(&at_a).unwrap();
    let back = play_until(&mut [&mut ann, &mut bo], &mut heard, |h| {
        h[1].iter()
            .any(|e| matches!(e, ServerEvent::PlayerJoined { player_id, .. } if player_id == "ann"))
    })
    .await;
    assert!(back, "{heard:?}");
    // Until her client has finished its handshake too, a command is refused, not lost: she
    // sends it once it is accepted.
    let mut sent = false;
    for _ in 0..500 {
        match ann.send_command(Add(5)) {
            Ok(()) => {
                sent = true;
                break;
            }
            Err(ClientError::NotConnected) => {}
            Err(e) => panic!("{e}"),
        }
        frame(&mut [&mut ann, &mut bo], &mut heard);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(sent, "{heard:?}");

    // The game ends the match when she reaches the target: results of its own, ranked.
    let ended = play_until(&mut [&mut ann, &mut bo], &mut heard, |h| {
        h.iter()
            .all(|h| h.iter().any(|e| matches!(e, ServerEvent::MatchEnded(_))))
    })
    .await;
    assert!(ended, "{heard:?}");
    let Some(ServerEvent::MatchEnded(results)) = heard[1]
        .iter()
        .find(|e| matches!(e, ServerEvent::MatchEnded(_)))
    else {
        unreachable!()
    };
    assert_eq!(results.reason, EndReason::Finished, "the game ended it");
    assert_eq!(
        results.game,
        Counts(vec![("ann".into(), 10), ("bo".into(), 0)]),
        "her count survived the drop"
    );
    let ranks: Vec<(&str, u32)> = results
        .placements
        .iter()
        .map(|p| (p.player_id.as_str(), p.rank))
        .collect();
    assert_eq!(ranks, [("ann", 1), ("bo", 2)]);

    // The results leave the room: the matchmaker shows them, the game's part as JSON.
    let record = support::reported_results(&mm, room).await;
    assert_eq!(
        (record.game.as_str(), record.mode.as_str()),
        ("tally", "tally")
    );
    assert_eq!(record.reason, EndReason::Finished);
    assert_eq!(record.placements, results.placements);
    assert_eq!(record.results, serde_json::json!([["ann", 10], ["bo", 0]]));
    stop.send(()).unwrap();
    server.await.unwrap().expect("served until told to stop");
    assert!(
        reqwest::get(format!("{url}/v1/health")).await.is_err(),
        "nothing listens once it stopped"
    );
}

#[test]
fn a_node_refuses_a_room_of_another_game_by_name() {
    use arena::ArenaGame;
    use protocol::TokenUserData;
    use server::{
        Node,
        room::{HandoffDecodeError, Room, RoomHandoff, RoomInput, RoomSettings},
    };
    // A running arena room, packed for a move.
    let settings = RoomSettings::for_players(5, 1, 2);
    let mut room = Room::new(ArenaGame::default(), settings.clone());
    for (i, expected) in settings.expected.iter().enumerate() {
        room.handle(RoomInput::Connected {
            client: i as u64 + 1,
            user: TokenUserData {
                room_id: settings.room_id,
                ticket_id: expected.ticket_id.clone(),
                player_id: expected.player_id.clone(),
            },
        });
    }
    room.tick();
    let blob = room.handoff("arena").unwrap().encode().unwrap();

    // Read as a Tally room, it is refused by name before any of it is decoded.
    match RoomHandoff::<TallyGame>::decode(&blob) {
        Err(HandoffDecodeError::OtherGame { blob, node }) => {
            assert_eq!((blob.as_str(), node.as_str()), ("arena/1", "tally/1"))
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("an arena room decoded as a tally room"),
    }
    // And a Tally node says so when asked to resume it.
    let args = ServerArgs::try_parse_from(["server", "--udp-ports", "0"]).unwrap();
    let node = Node::new(TallyGame, args.node_config([3; 32], "t".into()), None);
    let refused = node.import_room(&blob).unwrap_err().to_string();
    assert_eq!(refused, "a room of arena/1, and this node runs tally/1");
    // The arena itself reads it back.
    assert!(RoomHandoff::<ArenaGame>::decode(&blob).is_ok());
}
