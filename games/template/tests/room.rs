//! Coins in a room without IO (`server::testing::TestRoom`): players that decode the room's
//! real snapshot bytes and send real input and command bytes, ticked by the test. Whole matches
//! in milliseconds, exactly the same every run.

use protocol::{EndReason, ServerEvent, View};
use server::{room::Fault, testing::TestRoom};
use template::{Coins, CoinsEvent, CoinsGame, CoinsState, Kind, Shout, Stick};

/// A room of `players` runners playing to `goal` coins.
fn room(players: usize, goal: u16, seed: u64) -> TestRoom<CoinsGame> {
    let mut room = TestRoom::new(CoinsGame::new("coins", goal), players, seed);
    for _ in 0..players {
        room.join();
    }
    room
}

/// The network id of the runner the room gave a player (its welcome says).
fn runner_of(events: &[ServerEvent<Coins>]) -> Option<u32> {
    events.iter().find_map(|e| match e {
        ServerEvent::Welcome { entity_id, .. } => *entity_id,
        _ => None,
    })
}

/// The stick toward the nearest coin a player can see (as the bots play).
fn chase(view: &View<CoinsState>, me: u32) -> Stick {
    let Some(runner) = view.get(&me) else {
        return Stick::default();
    };
    let [x, y] = runner.pos.get();
    let Some([cx, cy]) = view
        .iter()
        .filter(|(_, s)| s.kind.0 == Kind::Coin)
        .map(|(_, s)| s.pos.get())
        .min_by(|a, b| {
            let d = |[px, py]: [f32; 2]| (px - x).powi(2) + (py - y).powi(2);
            d(*a).total_cmp(&d(*b))
        })
    else {
        return Stick { x: 1, y: 1 };
    };
    let axis = |d: f32| {
        if d > 0.3 {
            1
        } else if d < -0.3 {
            -1
        } else {
            0
        }
    };
    Stick {
        x: axis(cx - x),
        y: axis(cy - y),
    }
}

/// One tick: every connected player steers toward its nearest coin, then the room ticks.
fn play_tick(room: &mut TestRoom<CoinsGame>) {
    for i in 0..room.clients().len() {
        let client = room.client(i);
        if !client.is_connected() {
            continue;
        }
        let stick = match (client.view(), runner_of(&client.events)) {
            (Some(view), Some(me)) => chase(view, me),
            _ => Stick::default(),
        };
        room.input(i, stick);
    }
    room.tick();
}

fn picked(room: &TestRoom<CoinsGame>, i: usize) -> usize {
    room.client(i)
        .game_events()
        .filter(|e| matches!(e, CoinsEvent::Picked { .. }))
        .count()
}

#[test]
fn runners_pick_coins_and_the_first_to_the_goal_wins() {
    let mut room = room(3, 4, 7);
    let mut ticks = 0;
    while room.results().is_none() {
        play_tick(&mut room);
        ticks += 1;
        assert!(ticks < 30 * 60, "someone reaches 4 coins within the minute");
    }
    let results = room.results().unwrap().clone();
    assert_eq!(
        results.reason,
        EndReason::Finished,
        "the game ended it, not the clock"
    );
    let winner = &results.placements[0];
    assert_eq!(winner.rank, 1);
    // The results' coins are what each player was told it picked, and the winner has 4.
    for (player, coins) in &results.game.coins {
        let i = room
            .clients()
            .iter()
            .position(|c| &c.player_id == player)
            .unwrap();
        assert_eq!(usize::from(*coins), picked(&room, i), "{player}");
    }
    assert_eq!(results.game.coins[0], (winner.player_id.clone(), 4));
}

#[test]
fn each_purse_is_seen_by_its_owner_alone_and_pickups_are_told_only_to_the_picker() {
    let mut room = room(3, 6, 21);
    room.command(0, Shout::Hello);
    for _ in 0..30 * 20 {
        play_tick(&mut room);
        for i in 0..3 {
            let client = room.client(i);
            let Some(view) = client.view() else { continue };
            let purses: Vec<&CoinsState> = view
                .iter()
                .map(|(_, s)| s)
                .filter(|s| s.kind.0 == Kind::Purse)
                .collect();
            // One purse, its own, holding what it was told it picked.
            assert_eq!(purses.len(), 1, "player {i} holds {} purses", purses.len());
            assert!(purses[0].count.get() as usize <= picked(&room, i));
            let me = runner_of(&client.events).unwrap();
            assert!(client.game_events().all(|e| match e {
                CoinsEvent::Picked { runner } => *runner == me,
                CoinsEvent::Shouted { .. } => true,
            }));
        }
        if room.results().is_some() {
            break;
        }
    }
    // Some coins were picked, and the shout reached everyone.
    assert!((0..3).map(|i| picked(&room, i)).sum::<usize>() > 0);
    let shouter = runner_of(&room.client(0).events).unwrap();
    for client in room.clients() {
        assert!(client.game_events().any(|e| *e
            == CoinsEvent::Shouted {
                runner: shouter,
                shout: Shout::Hello
            }));
    }
}

#[test]
fn a_room_that_panics_twice_plays_on_exactly_as_one_that_did_not() {
    let mut calm = room(2, 8, 5);
    let mut crashing = room(2, 8, 5);
    for tick in 0..30 * 30 {
        if tick == 100 || tick == 250 {
            crashing.inject_fault(Fault::Panic);
        }
        play_tick(&mut calm);
        play_tick(&mut crashing);
        for i in 0..2 {
            assert_eq!(
                calm.client(i).view(),
                crashing.client(i).view(),
                "player {i}'s view at tick {tick}"
            );
        }
        if calm.results().is_some() {
            break;
        }
    }
    assert!(calm.results().is_some(), "the match ended");
    assert_eq!(calm.results(), crashing.results());
    for i in 0..2 {
        assert_eq!(calm.client(i).events, crashing.client(i).events);
    }
}

#[test]
fn a_stick_past_one_is_refused_and_an_absent_runner_stands_still() {
    let mut room = room(2, 50, 3);
    for _ in 0..30 {
        play_tick(&mut room);
    }
    let me = runner_of(&room.client(0).events).unwrap();
    // Where the room has player 0's runner (a spectator sees every entity).
    let at = |room: &TestRoom<CoinsGame>| {
        room.spectate()
            .entities
            .iter()
            .find(|e| e.id == me)
            .and_then(|e| e.position)
            .unwrap()
    };
    // Standing still, then what a hacked client might send: a stick of 5 decodes, and the
    // game's validation refuses it before the game sees it (it would run five times as fast).
    for _ in 0..5 {
        room.input(0, Stick::default());
        room.input(1, Stick::default());
        room.tick();
    }
    let still = at(&room);
    let rejected = room.room().core().stats().rejected_messages;
    for _ in 0..30 {
        room.input(0, Stick { x: 5, y: 0 });
        room.input(1, Stick::default());
        room.tick();
    }
    assert_eq!(at(&room), still, "no refused stick moved the runner");
    assert_eq!(room.room().core().stats().rejected_messages, rejected + 30);

    // Running, then the player's connection drops: its runner stops where it is.
    for _ in 0..10 {
        room.input(0, Stick { x: 1, y: 1 });
        room.tick();
    }
    assert_ne!(at(&room), still, "it runs");
    room.disconnect(0);
    room.tick();
    let dropped = at(&room);
    for _ in 0..30 {
        room.input(1, Stick::default());
        room.tick();
    }
    assert_eq!(
        at(&room),
        dropped,
        "the runner of an absent player stands still"
    );
    room.reconnect(0);
    for _ in 0..30 {
        play_tick(&mut room);
    }
    assert_ne!(at(&room), dropped, "back, it runs again");
}
