//! A player who drops mid-hand and comes back gets its hand back: while it is away the turn
//! timer plays for its seat, and when it reconnects with its token its first snapshots hold
//! its hand as the table has it now, and it plays on. Played in `server::testing::TestRoom`.

use hearts::{HeartsEvent, HeartsGame, HeartsState, Kind, brain};
use protocol::View;
use server::{room::RoomSettings, testing::TestRoom};

/// A seat's hand as a view holds it.
fn hand(view: &View<HeartsState>, seat: u32) -> Option<Vec<String>> {
    view.iter()
        .map(|(_, s)| s)
        .find(|s| s.kind.0 == Kind::Hand && s.seat.get() == seat)
        .map(|s| s.cards.0.iter().map(|c| c.to_string()).collect())
}

/// A seat's hand as the room has it (a spectator sees every hand).
fn table_hand(room: &TestRoom<HeartsGame>, seat: u64) -> Vec<String> {
    let frame = room.spectate();
    let hand = frame
        .entities
        .iter()
        .find(|e| e.fields["kind"] == "Hand" && e.fields["seat"] == seat)
        .expect("the seat's hand");
    serde_json::from_value(hand.fields["cards"].clone()).unwrap()
}

/// One tick: each connected player whose turn it is plays its lowest legal card.
fn tick(room: &mut TestRoom<HeartsGame>) {
    for i in 0..4 {
        let client = room.client(i);
        let card = client
            .is_connected()
            .then(|| client.view().and_then(brain::lowest_legal))
            .flatten();
        if let Some(card) = card {
            room.command(i, hearts::Play(card));
        }
        room.input(i, hearts::Idle);
    }
    room.tick();
}

fn plays_for_absent(room: &TestRoom<HeartsGame>, seat: u8) -> usize {
    room.client(0)
        .game_events()
        .filter(
            |e| matches!(e, HeartsEvent::Played { seat: s, for_absent: true, .. } if *s == seat),
        )
        .count()
}

#[test]
fn a_player_who_drops_and_rejoins_gets_its_hand_back_and_plays_on() {
    let settings = RoomSettings {
        tick_rate: 10,
        match_duration: None,
        ..RoomSettings::for_players(1, 8, 4)
    };
    let mut room =
        TestRoom::<HeartsGame>::with_settings(HeartsGame::new("hearts", 30, 20), settings);
    for _ in 0..4 {
        room.join();
    }
    for _ in 0..30 {
        tick(&mut room);
    }
    let seat = brain::my_seat(room.client(2).view().unwrap()).unwrap();
    let before = hand(room.client(2).view().unwrap(), seat as u32).unwrap();

    room.disconnect(2);
    // Away long enough for the timer to play for it twice, the others playing on.
    let mut ticks = 0;
    while plays_for_absent(&room, seat as u8) < 2 {
        tick(&mut room);
        ticks += 1;
        assert!(ticks < 600, "the timer plays for the absent seat");
    }
    let now = table_hand(&room, seat as u64);
    assert!(now.len() < before.len(), "{before:?} -> {now:?}");

    room.reconnect(2);
    assert!(
        room.client(2).view().is_none(),
        "a fresh client holds nothing yet"
    );
    tick(&mut room);
    let back = hand(
        room.client(2).view().expect("a snapshot after rejoining"),
        seat as u32,
    );
    assert_eq!(
        back,
        Some(table_hand(&room, seat as u64)),
        "its hand, as the table has it"
    );
    assert_eq!(brain::my_seat(room.client(2).view().unwrap()), Some(seat));

    // It plays on: the game ends with no play of its refused, and once back (after the turn
    // under way), the timer no longer plays for it.
    let absent_before = plays_for_absent(&room, seat as u8);
    let mut ticks = 0;
    while room.results().is_none() {
        tick(&mut room);
        ticks += 1;
        assert!(ticks < 20_000, "the game ends");
    }
    assert!(plays_for_absent(&room, seat as u8) <= absent_before + 1);
    assert!(
        !room
            .client(2)
            .game_events()
            .any(|e| matches!(e, HeartsEvent::Refused { .. })),
        "no play of the returning player was refused"
    );
    let results = room.results().unwrap();
    assert!(
        results
            .placements
            .iter()
            .any(|p| p.player_id == room.client(2).player_id)
    );
}
