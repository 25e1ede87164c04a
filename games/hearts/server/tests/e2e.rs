//! Hearts end to end: the engine serving Hearts on loopback (HTTP tickets, UDP rooms), four
//! `GameClient<Hearts>`s queueing, playing their lowest legal cards from what their snapshots
//! show them, to the end of the game; an arena client handed a Hearts room refuses it by name.

use std::time::Duration;

use hearts::{Hearts, HeartsEvent, HeartsGame, brain};
use protocol::{
    ClientError, EndReason, GameClient, MatchmakerClient, ServerEvent, api::CreateTicketRequest,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_clients_play_hearts_to_the_end_over_udp() {
    let server = server::testing::embedded(
        HeartsGame::new("hearts", 20, 20),
        &[
            "--modes",
            "name=hearts,players=4,time-limit=none",
            "--tick-rate",
            "30",
        ],
    )
    .await;
    let url = server.url();
    let mm = MatchmakerClient::new(&url);
    let mut assignments = Vec::new();
    for name in ["ann", "bo", "cy", "di"] {
        let ticket = mm
            .create_ticket(&CreateTicketRequest::for_player("hearts", name))
            .await
            .unwrap();
        assignments.push(ticket.id);
    }
    let mut clients = Vec::new();
    for id in &assignments {
        let assignment = mm
            .wait_for_assignment(id, Duration::from_secs(10))
            .await
            .unwrap();
        if clients.is_empty() {
            // A client of another game is refused before a datagram is sent, by name.
            let err = GameClient::<arena::Arena>::connect(&assignment)
                .err()
                .unwrap();
            assert!(matches!(err, ClientError::OtherGame { .. }), "{err}");
            assert!(err.to_string().contains("hearts/1"), "{err}");
        }
        clients.push(GameClient::<Hearts>::connect(&assignment).unwrap());
    }

    let mut heard: Vec<Vec<ServerEvent<Hearts>>> = vec![Vec::new(); 4];
    let mut sent = [None; 4];
    let frame = Duration::from_millis(10);
    let mut ended = false;
    for _ in 0..6_000 {
        for (i, client) in clients.iter_mut().enumerate() {
            client.update(frame).unwrap();
            while let Some(event) = client.poll_event() {
                heard[i].push(event);
            }
            for _ in 0..client.inputs_due() {
                client.send_input(hearts::Idle);
            }
            // Play when the newest snapshot says it is this client's turn; a card once (it
            // leaves the hand when the room applies it).
            let choice = client
                .latest_snapshot()
                .and_then(|snapshot| brain::lowest_legal(&snapshot.entities));
            if let Some(card) = choice
                && sent[i] != Some(card)
            {
                client.send_command(hearts::Play(card)).unwrap();
                sent[i] = Some(card);
            }
            client.flush().unwrap();
        }
        ended = heard
            .iter()
            .all(|h| h.iter().any(|e| matches!(e, ServerEvent::MatchEnded(_))));
        if ended {
            break;
        }
        tokio::time::sleep(frame).await;
    }
    assert!(ended, "the game ended for everyone");
    let results = heard[0]
        .iter()
        .find_map(|e| match e {
            ServerEvent::MatchEnded(results) => Some(results.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(results.reason, EndReason::Finished);
    assert_eq!(results.placements.len(), 4);
    assert!(results.game.scores.iter().any(|(_, s)| *s >= 20));
    let plays = |h: &[ServerEvent<Hearts>]| {
        h.iter()
            .filter(|e| matches!(e, ServerEvent::Game(HeartsEvent::Played { .. })))
            .count()
    };
    // At least a whole hand, all heard by everyone; the players played, not the timer.
    assert!(plays(&heard[0]) >= 52, "{}", plays(&heard[0]));
    assert!(heard.iter().all(|h| plays(h) == plays(&heard[0])));
    let by_timer = heard[0]
        .iter()
        .filter(|e| {
            matches!(
                e,
                ServerEvent::Game(HeartsEvent::Played {
                    for_absent: true,
                    ..
                })
            )
        })
        .count();
    assert_eq!(by_timer, 0);
    // The match's record reached the matchmaker.
    let record = mm.match_results(results_room(&heard[0])).await.unwrap();
    assert_eq!(record.placements, results.placements);
    server.shutdown().await;
}

/// The room the events came from (its welcome names it).
fn results_room(heard: &[ServerEvent<Hearts>]) -> u64 {
    heard
        .iter()
        .find_map(|e| match e {
            ServerEvent::Welcome { room_id, .. } => Some(*room_id),
            _ => None,
        })
        .unwrap()
}
