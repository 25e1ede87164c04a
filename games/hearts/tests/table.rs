//! Hearts played in a room without IO (`server::testing::TestRoom`), by four clients that
//! decode real snapshot bytes and send real command bytes: a whole game to its end, hands seen
//! only by their owners, refused plays, a player who drops (the timer plays for them), a crash
//! restored mid-trick, and a match moved to another node mid-hand.

use std::collections::BTreeMap;

use hearts::{
    Hearts, HeartsEvent, HeartsGame, HeartsState, Kind, Play, brain,
    rules::{Card, Cards, SEATS},
};
use protocol::{Channel, EndReason, MatchResults, ServerEvent};
use server::{
    room::{Fault, RoomSettings},
    testing::{TestClient, TestRoom},
};

/// A table of four in a room without IO; `acting[i]` says whether player `i` plays its turns.
struct Match {
    room: TestRoom<HeartsGame>,
    acting: [bool; SEATS],
}

impl Match {
    fn new(seed: u64, target: u16) -> Self {
        let settings = RoomSettings {
            tick_rate: 10,
            match_duration: None,
            ..RoomSettings::for_players(52, seed, SEATS)
        };
        let mut room = TestRoom::with_settings(HeartsGame::new("hearts", target, 20), settings);
        for _ in 0..SEATS {
            room.join();
        }
        Self {
            room,
            acting: [true; SEATS],
        }
    }

    /// One tick: each acting, connected player whose turn it is plays its lowest legal card
    /// (as a bot would, from what it holds), then the room ticks.
    fn tick(&mut self) {
        for slot in 0..SEATS {
            let client = self.room.client(slot);
            let card = (self.acting[slot] && client.is_connected())
                .then(|| client.view().and_then(brain::lowest_legal))
                .flatten();
            if let Some(card) = card {
                self.room.command(slot, Play(card));
            }
        }
        self.room.tick();
    }

    fn player(&self, slot: usize) -> &TestClient<HeartsGame> {
        self.room.client(slot)
    }

    fn results(&self) -> Option<&MatchResults<hearts::HeartsResults>> {
        self.room.results()
    }
}

/// The entities a player holds, by network id.
fn held(player: &TestClient<HeartsGame>) -> BTreeMap<u32, HeartsState> {
    player
        .view()
        .map(|view| view.iter().map(|(&id, &s)| (id, s)).collect())
        .unwrap_or_default()
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
        for slot in 0..SEATS {
            let player = m.player(slot);
            let hands: Vec<u32> = held(player)
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
    let plays = played(&m.player(0).events);
    assert!(plays.len() >= 52, "at least a hand: {}", plays.len());
    assert!(plays.iter().all(|&(_, _, for_absent)| !for_absent));
    // The tricks of each hand carry its 26 points between them.
    let mut in_hand = 0;
    let mut hands = 0;
    for event in &m.player(0).events {
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
    for player in m.room.clients() {
        assert_eq!(played(&player.events), plays);
        assert!(
            player
                .events
                .iter()
                .any(|e| matches!(e, ServerEvent::MatchEnded(_)))
        );
    }
}

fn seat_of(player: &TestClient<HeartsGame>) -> usize {
    held(player)
        .values()
        .find(|s| s.kind.0 == Kind::Hand)
        .map(|s| s.seat.get() as usize)
        .expect("a seated player holds its hand")
}

#[test]
fn a_refused_play_is_told_to_its_player_alone_and_changes_nothing() {
    let mut m = Match::new(3, 100);
    m.acting = [false; SEATS];
    for _ in 0..3 {
        m.tick();
    }
    // Whoever is not on turn tries to play their lowest card.
    let turn = held(m.player(0))
        .values()
        .find(|s| s.kind.0 == Kind::Table)
        .map(|t| t.turn.get() as usize)
        .unwrap();
    let slot = (0..SEATS).find(|&s| seat_of(m.player(s)) != turn).unwrap();
    let hand = held(m.player(slot))[&(20 + seat_of(m.player(slot)) as u32)];
    let before = held(m.player((slot + 1) % SEATS));
    m.room
        .command(slot, Play(hand.cards.0.iter().next().unwrap()));
    m.tick();
    let refused = |p: &TestClient<HeartsGame>| {
        p.events
            .iter()
            .filter(|e| matches!(e, ServerEvent::Game(HeartsEvent::Refused { .. })))
            .count()
    };
    assert_eq!(refused(m.player(slot)), 1);
    assert_eq!(
        (0..SEATS).map(|s| refused(m.player(s))).sum::<usize>(),
        1,
        "the others hear nothing of it"
    );
    assert!(played(&m.player(slot).events).is_empty());
    assert_eq!(held(m.player((slot + 1) % SEATS)), before);
    // A card that is not in the hand at all, and bytes that are not a card.
    let elsewhere = Cards::from_bits(!hand.cards.0.bits())
        .iter()
        .next()
        .unwrap();
    m.room.command(slot, Play(elsewhere));
    m.room.send(slot, Channel::Events, &[1, 60]);
    m.tick();
    assert_eq!(
        refused(m.player(slot)),
        2,
        "the bogus card never reached the rules"
    );
    assert_eq!(m.room.room().core().stats().rejected_messages, 1);
}

#[test]
fn the_timer_plays_for_a_player_who_dropped_and_the_game_goes_on() {
    let mut m = Match::new(5, 30);
    for _ in 0..30 {
        m.tick();
    }
    let seat = seat_of(m.player(2)) as u8;
    m.room.disconnect(2);
    let mut ticks = 0;
    while m.results().is_none() {
        m.tick();
        ticks += 1;
        assert!(ticks < 20_000, "the game ends without the absent player");
    }
    let plays = played(&m.player(0).events);
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
    assert_eq!(crashed.room.room().core().stats().restarts, 1);
    // The same plays, in the same order, and the same table.
    assert_eq!(
        played(&crashed.player(1).events),
        played(&steady.player(1).events)
    );
    assert_eq!(held(crashed.player(1)), held(steady.player(1)));
}

#[test]
fn a_match_moved_to_another_node_mid_hand_loses_no_card_and_plays_none_twice() {
    let mut stays = Match::new(21, 40);
    let mut moving = Match::new(21, 40);
    for _ in 0..60 {
        stays.tick();
        moving.tick();
    }
    assert!(!played(&moving.player(0).events).is_empty(), "mid-game");
    // Packed through the bytes another node would receive, resumed there, every player
    // reconnecting with what it had heard so far.
    moving.room.migrate();
    let mut ticks = 0;
    while stays.results().is_none() || moving.results().is_none() {
        stays.tick();
        moving.tick();
        ticks += 1;
        assert!(ticks < 20_000, "both games end");
    }
    // The same cards in the same order, each once, and the same results.
    let (here, there) = (
        played(&stays.player(0).events),
        played(&moving.player(0).events),
    );
    assert_eq!(there, here);
    assert_eq!(
        moving.results().unwrap().game,
        stays.results().unwrap().game
    );
}
