//! Hearts played in a room without IO, by four clients that decode real snapshot bytes and
//! send real command bytes: a whole game to its end, hands seen only by their owners, refused
//! plays, a player who drops (the timer plays for them) and a crash restored mid-trick.

use std::collections::BTreeMap;

use hearts::{
    Hearts, HeartsEvent, HeartsGame, HeartsState, Kind, Play, brain,
    rules::{Card, Cards, SEATS},
};
use protocol::{
    Channel, ClientEvent, EndReason, MatchResults, ServerEvent, SnapshotReceiver, TokenUserData,
    codec,
};
use server::room::{Fault, Outbound, Room, RoomHandoff, RoomInput, RoomSettings};

const ROOM: u64 = 52;

/// One player: what it has decoded, and what it was told.
struct Player {
    rx: SnapshotReceiver<HeartsState>,
    events: Vec<ServerEvent<Hearts>>,
    /// Whether it is connected (and plays).
    here: bool,
}

impl Player {
    /// The entities it holds, by kind.
    fn held(&self) -> BTreeMap<u32, HeartsState> {
        self.rx
            .newest()
            .map(|(_, _, view)| view.iter().map(|(&id, &s)| (id, s)).collect())
            .unwrap_or_default()
    }

    /// The card it plays now, if it is its turn: the lowest legal one, as a bot would.
    fn choose(&self) -> Option<Card> {
        let (_, _, view) = self.rx.newest()?;
        brain::lowest_legal(view)
    }
}

struct Match {
    room: Room<HeartsGame>,
    players: Vec<Player>,
}

impl Match {
    fn new(seed: u64, target: u16) -> Self {
        let settings = RoomSettings {
            tick_rate: 10,
            match_duration: None,
            ..RoomSettings::for_players(ROOM, seed, SEATS)
        };
        let mut room = Room::new(HeartsGame::new("hearts", target, 20), settings);
        for slot in 0..SEATS {
            room.handle(RoomInput::Connected {
                client: slot as u64,
                user: user(slot),
            });
        }
        let players = (0..SEATS)
            .map(|_| Player {
                rx: SnapshotReceiver::new(),
                events: Vec::new(),
                here: true,
            })
            .collect();
        Self { room, players }
    }

    fn command(&mut self, slot: usize, card: Card) {
        let bytes = codec::encode(&ClientEvent::<Hearts>::Command(Play(card))).unwrap();
        self.room.handle(RoomInput::Message {
            client: slot as u64,
            channel: Channel::Events,
            bytes: &bytes,
        });
    }

    /// One tick: each present player whose turn it is plays, then the room ticks.
    fn tick(&mut self) {
        for slot in 0..SEATS {
            if let Some(card) = self.players[slot]
                .here
                .then(|| self.players[slot].choose())
                .flatten()
            {
                self.command(slot, card);
            }
        }
        for message in self.room.tick().drain(..) {
            match message {
                Outbound::Snapshot { client, packet } => {
                    let player = &mut self.players[client as usize];
                    player.rx.receive(&packet).expect("every snapshot applies");
                }
                Outbound::Event { client, event } => {
                    self.players[client as usize].events.push(event);
                }
                _ => {}
            }
        }
    }

    fn results(&self) -> Option<&MatchResults<hearts::HeartsResults>> {
        self.room.core().results()
    }
}

fn user(slot: usize) -> TokenUserData {
    TokenUserData {
        room_id: ROOM,
        ticket_id: format!("{slot:032x}"),
        player_id: format!("p{slot}"),
    }
}

fn played(events: &[ServerEvent<Hearts>]) -> Vec<(u8, Card, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Game(HeartsEvent::Played {
                seat,
                card,
                for_absent,
            }) => Some((*seat, *card, *for_absent)),
            _ => None,
        })
        .collect()
}

#[test]
fn four_players_play_a_whole_game_and_each_sees_only_its_own_hand() {
    let mut m = Match::new(11, 40);
    let mut ticks = 0;
    while m.results().is_none() {
        m.tick();
        ticks += 1;
        assert!(ticks < 20_000, "the game ends");
        for (slot, player) in m.players.iter().enumerate() {
            let hands: Vec<u32> = player
                .held()
                .iter()
                .filter(|(_, s)| s.kind.0 == Kind::Hand)
                .map(|(&id, s)| {
                    assert_eq!(s.seat.get() as usize, seat_of(player), "only its own hand");
                    id
                })
                .collect();
            assert!(hands.len() <= 1, "p{slot} holds {hands:?}");
        }
    }
    let results = m.results().unwrap().clone();
    assert_eq!(results.reason, EndReason::Finished);
    // Lowest score first, and someone reached the target.
    let scores: Vec<u16> = results.game.scores.iter().map(|(_, s)| *s).collect();
    assert!(scores.windows(2).all(|w| w[0] <= w[1]), "{scores:?}");
    assert!(*scores.last().unwrap() >= 40, "{scores:?}");
    assert_eq!(results.placements[0].rank, 1);
    assert_eq!(results.placements[0].player_id, results.game.scores[0].0);
    // Every card a player played was one the timer did not need to play for it.
    let plays = played(&m.players[0].events);
    assert!(plays.len() >= 52, "at least a hand: {}", plays.len());
    assert!(plays.iter().all(|&(_, _, for_absent)| !for_absent));
    // The tricks of each hand carry its 26 points between them.
    let mut in_hand = 0;
    let mut hands = 0;
    for event in &m.players[0].events {
        match event {
            ServerEvent::Game(HeartsEvent::Trick { points, .. }) => in_hand += u32::from(*points),
            ServerEvent::Game(HeartsEvent::HandScored { .. }) => {
                assert_eq!(in_hand, 26, "hand {hands}");
                in_hand = 0;
                hands += 1;
            }
            _ => {}
        }
    }
    assert!(hands >= 1);
    // Every player heard the same plays and the end.
    for player in &m.players {
        assert_eq!(played(&player.events), plays);
        assert!(
            player
                .events
                .iter()
                .any(|e| matches!(e, ServerEvent::MatchEnded(_)))
        );
    }
}

fn seat_of(player: &Player) -> usize {
    player
        .held()
        .values()
        .find(|s| s.kind.0 == Kind::Hand)
        .map(|s| s.seat.get() as usize)
        .expect("a seated player holds its hand")
}

#[test]
fn a_refused_play_is_told_to_its_player_alone_and_changes_nothing() {
    let mut m = Match::new(3, 100);
    for _ in 0..3 {
        m.players.iter_mut().for_each(|p| p.here = false);
        m.tick();
    }
    // Whoever is not on turn tries to play their lowest card.
    let turn = m.players[0]
        .held()
        .values()
        .find(|s| s.kind.0 == Kind::Table)
        .map(|t| t.turn.get() as usize)
        .unwrap();
    let slot = (0..SEATS)
        .find(|&s| seat_of(&m.players[s]) != turn)
        .unwrap();
    let hand = m.players[slot].held()[&(20 + seat_of(&m.players[slot]) as u32)];
    let before = m.players[(slot + 1) % SEATS].held();
    m.command(slot, hand.cards.0.iter().next().unwrap());
    m.tick();
    let refused = |p: &Player| {
        p.events
            .iter()
            .filter(|e| matches!(e, ServerEvent::Game(HeartsEvent::Refused { .. })))
            .count()
    };
    assert_eq!(refused(&m.players[slot]), 1);
    assert_eq!(
        (0..SEATS).map(|s| refused(&m.players[s])).sum::<usize>(),
        1,
        "the others hear nothing of it"
    );
    assert!(played(&m.players[slot].events).is_empty());
    assert_eq!(m.players[(slot + 1) % SEATS].held(), before);
    // A card that is not in the hand at all, and bytes that are not a card.
    let elsewhere = Cards::from_bits(!hand.cards.0.bits())
        .iter()
        .next()
        .unwrap();
    m.command(slot, elsewhere);
    m.room.handle(RoomInput::Message {
        client: slot as u64,
        channel: Channel::Events,
        bytes: &[1, 60],
    });
    m.tick();
    assert_eq!(
        refused(&m.players[slot]),
        2,
        "the bogus card never reached the rules"
    );
    assert_eq!(m.room.core().stats().rejected_messages, 1);
}

#[test]
fn the_timer_plays_for_a_player_who_dropped_and_the_game_goes_on() {
    let mut m = Match::new(5, 30);
    for _ in 0..30 {
        m.tick();
    }
    m.room.handle(RoomInput::Disconnected { client: 2 });
    m.players[2].here = false;
    let seat = seat_of(&m.players[2]) as u8;
    let mut ticks = 0;
    while m.results().is_none() {
        m.tick();
        ticks += 1;
        assert!(ticks < 20_000, "the game ends without the absent player");
    }
    let plays = played(&m.players[0].events);
    let for_absent: Vec<_> = plays.iter().filter(|p| p.2).collect();
    assert!(!for_absent.is_empty());
    assert!(
        for_absent.iter().all(|p| p.0 == seat),
        "only the absent seat is played for"
    );
}

#[test]
fn a_crash_mid_trick_is_restored_and_the_game_plays_on_exactly() {
    let mut crashed = Match::new(9, 30);
    let mut steady = Match::new(9, 30);
    for tick in 1..=400 {
        if tick == 77 {
            crashed.room.inject_fault(Fault::Panic);
        }
        crashed.tick();
        steady.tick();
        if crashed.results().is_some() {
            break;
        }
    }
    assert_eq!(crashed.room.core().stats().restarts, 1);
    // The same plays, in the same order, and the same table.
    assert_eq!(
        played(&crashed.players[1].events),
        played(&steady.players[1].events)
    );
    assert_eq!(crashed.players[1].held(), steady.players[1].held());
}

#[test]
fn a_match_moved_to_another_node_mid_hand_loses_no_card_and_plays_none_twice() {
    let mut stays = Match::new(21, 40);
    let mut moving = Match::new(21, 40);
    for _ in 0..60 {
        stays.tick();
        moving.tick();
    }
    assert!(!played(&moving.players[0].events).is_empty(), "mid-game");
    // Packed through the bytes another node would receive, and resumed there.
    let blob = moving
        .room
        .handoff("hearts")
        .expect("a running room moves")
        .encode()
        .unwrap();
    let handoff = RoomHandoff::<HeartsGame>::decode(&blob).unwrap();
    let mut moved = Match {
        room: Room::resume(HeartsGame::new("hearts", 40, 20), handoff, 60).unwrap(),
        players: Vec::new(),
    };
    // Every player reconnects to it, with what it had heard so far.
    for (slot, player) in moving.players.drain(..).enumerate() {
        moved.room.handle(RoomInput::Connected {
            client: slot as u64,
            user: user(slot),
        });
        moved.players.push(Player {
            rx: SnapshotReceiver::new(),
            events: player.events,
            here: true,
        });
    }
    let mut ticks = 0;
    while stays.results().is_none() || moved.results().is_none() {
        stays.tick();
        moved.tick();
        ticks += 1;
        assert!(ticks < 20_000, "both games end");
    }
    // The same cards in the same order, each once, and the same results.
    let (here, there) = (
        played(&stays.players[0].events),
        played(&moved.players[0].events),
    );
    assert_eq!(there, here);
    assert_eq!(moved.results().unwrap().game, stays.results().unwrap().game);
}
