//! End to end: the embedded server in-process on loopback, bots matched into rooms over real
//! HTTP and real UDP, matches played to the end.

mod support;

use std::time::Duration;

use arena::ArenaGame;
use bots::{SwarmConfig, games::ArenaBot, run_swarm};
use clap::Parser;
use protocol::MatchmakerClient;
use server::{EmbeddedServer, config::ServerArgs};
use support::embedded;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_bots_play_two_ten_player_matches_to_the_end() {
    let server = embedded(&["--match-duration", "5s"]).await;
    let url = server.url();

    // Watch the node while the bots play: both rooms must show up with 10 players each.
    let watcher = tokio::spawn({
        let url = url.clone();
        async move {
            let mm = MatchmakerClient::new(&url);
            let mut most = 0;
            for _ in 0..100 {
                let rooms = mm.rooms().await.unwrap();
                let full = rooms
                    .iter()
                    .filter(|r| r.connected_players == 10 && r.phase == "running")
                    .count();
                most = most.max(full);
                if most == 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            most
        }
    });

    // A short run: every bot queues once, then finishes its match.
    let mut swarm = SwarmConfig::new(&url, 20, Duration::from_millis(300));
    swarm.scenario.grace = Duration::from_secs(30);
    let report = run_swarm::<ArenaBot>(swarm).await;

    assert_eq!(
        watcher.await.unwrap(),
        2,
        "two rooms ran at once with 10 connected players each"
    );
    assert_eq!(report.errors, Default::default(), "{report:#?}");
    assert_eq!(report.disconnects_unexpected, 0, "{report:#?}");
    assert_eq!(report.tickets_created, 20);
    assert_eq!(report.tickets_assigned, 20);
    assert_eq!(report.matches_completed, 2, "{report:#?}");
    assert_eq!(
        report.player_matches_completed, 20,
        "every bot received results"
    );
    assert!(
        report.rtt_ms.count > 0 && report.rtt_ms.p50 > 0.0,
        "{report:#?}"
    );
    assert!(
        report.bytes_received_per_player_per_s > 1000.0,
        "{report:#?}"
    );

    // After the match and its linger, the rooms close and give their ports back.
    let mm = MatchmakerClient::new(&url);
    let mut health = mm.health().await.unwrap();
    for _ in 0..100 {
        if health.rooms == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        health = mm.health().await.unwrap();
    }
    assert_eq!(health.rooms, 0, "rooms close after their match");
    assert_eq!(
        health.room_capacity, 600,
        "--max-rooms; any free port, so no port limit"
    );

    // The node's counters saw the two 5 s matches at 30 Hz, and at least a datagram each way
    // per player per tick while they ran.
    assert!(health.ticks >= 2 * 150, "{health:?}");
    assert_eq!(health.ticks_skipped, 0, "{health:?}");
    assert!(health.packets_in >= 20 * 150, "{health:?}");
    assert!(health.packets_out >= 20 * 150, "{health:?}");
    assert!(
        health.bytes_out > report.bytes_received_per_player_per_s as u64 * 20,
        "{health:?}"
    );
    for histogram in [&health.tick_duration_us, &health.tick_lag_us] {
        let last = histogram.last().expect("buckets");
        assert_eq!(
            last.count, health.ticks,
            "every tick counted once: {histogram:?}"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_node_keeps_players_queued_until_a_room_frees_up() {
    // One room at a time. 20 bots need two rooms, one after the other.
    let server = embedded(&["--match-duration", "2s", "--max-rooms", "1"]).await;
    // Watch the node: never two rooms at once, and at least two rooms one after the other.
    let watcher = tokio::spawn({
        let url = server.url();
        async move {
            let mm = MatchmakerClient::new(&url);
            let (mut most_at_once, mut seen) = (0, std::collections::HashSet::new());
            for _ in 0..300 {
                let rooms = mm.rooms().await.unwrap();
                most_at_once = most_at_once.max(rooms.len());
                seen.extend(rooms.iter().map(|r| r.id));
                if seen.len() >= 2 && rooms.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (most_at_once, seen.len())
        }
    });
    let mut swarm = SwarmConfig::new(&server.url(), 20, Duration::from_secs(5));
    swarm.scenario.grace = Duration::from_secs(30);
    let report = run_swarm::<ArenaBot>(swarm).await;
    let (most_at_once, rooms) = watcher.await.unwrap();
    assert_eq!(most_at_once, 1, "one port, one room at a time");
    assert!(rooms >= 2, "{rooms} rooms");
    assert!(report.is_clean(), "{report:#?}");
    assert!(report.matches_completed >= 2, "{report:#?}");
    assert_eq!(
        report.player_matches_completed,
        10 * report.matches_completed
    );
    // Every ticket ended assigned or, once the run was over, cancelled: none lost.
    assert_eq!(
        report.tickets_created,
        report.tickets_assigned + report.tickets_cancelled
    );
    // The second ten waited for the first match (2 s) before being placed.
    assert!(report.time_to_match_ms.max > 2000.0, "{report:#?}");
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_get_a_json_404() {
    let server = embedded(&[]).await;
    let response = reqwest::get(format!("{}/v2/nothing", server.url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: protocol::api::ErrorBody = response.json().await.unwrap();
    assert_eq!(body.error.code, "not_found");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parties_play_together_on_one_team() {
    // Two teams of five; twenty bots in parties of five make two matches of two parties each.
    let server = embedded(&["--match-duration", "3s", "--teams", "2"]).await;
    let mut swarm = SwarmConfig::new(&server.url(), 20, Duration::from_millis(300));
    swarm.scenario.grace = Duration::from_secs(30);
    swarm.scenario.groups[0].party_size = 5;
    let report = run_swarm::<ArenaBot>(swarm).await;
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(report.tickets_assigned, 20, "{report:#?}");
    assert_eq!(report.matches_completed, 2, "{report:#?}");
    assert_eq!(report.parties_placed, 4, "{report:#?}");
    assert_eq!(report.parties_split, 0, "{report:#?}");
    server.shutdown().await;
}

#[tokio::test]
async fn uneven_teams_are_refused_at_start() {
    let argv = ["server", "--http", "127.0.0.1:0", "--teams", "3"];
    let error = EmbeddedServer::start(
        &ServerArgs::try_parse_from(argv).unwrap(),
        ArenaGame::default(),
    )
    .await
    .err()
    .expect("10 players do not split into 3 teams");
    assert!(error.to_string().contains("3 equal teams"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_who_leaves_is_replaced_from_the_queue_on_the_same_team() {
    let server = embedded(&["--players-per-match", "2", "--match-duration", "30s"]).await;
    support::replace_a_leaver(&server.url()).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_leave_the_room_for_the_ticket_and_the_matches_api() {
    use protocol::{EndReason, GameClient, MatchmakerError, ServerEvent, api::CreateTicketRequest};
    let server = embedded(&["--players-per-match", "2", "--match-duration", "2s"]).await;
    let mm = MatchmakerClient::new(&server.url());
    let wait = Duration::from_secs(5);
    let a = mm
        .create_ticket(&CreateTicketRequest::for_player("arena", "a"))
        .await
        .unwrap();
    let b = mm
        .create_ticket(&CreateTicketRequest::for_player("arena", "b"))
        .await
        .unwrap();
    let at_a = mm.wait_for_assignment(&a.id, wait).await.unwrap();
    let at_b = mm.wait_for_assignment(&b.id, wait).await.unwrap();
    let room = at_a.room_id;
    // While the match plays, it has no results.
    match mm.match_results(room).await {
        Err(MatchmakerError::Api { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (404, "match_not_found"))
        }
        other => panic!("results before the end: {other:?}"),
    }
    let (mut ca, mut cb) = (
        GameClient::<arena::Arena>::connect(&at_a).unwrap(),
        GameClient::<arena::Arena>::connect(&at_b).unwrap(),
    );
    let mut events = vec![Vec::new(), Vec::new()];
    let ended = support::pump(
        &mut [&mut ca, &mut cb],
        &mut events,
        Duration::from_secs(8),
        |ev| {
            ev.iter()
                .all(|e| e.iter().any(|e| matches!(e, ServerEvent::MatchEnded(_))))
        },
    )
    .await;
    assert!(ended, "both players get the results");
    let Some(ServerEvent::MatchEnded(sent)) = events[0]
        .iter()
        .find(|e| matches!(e, ServerEvent::MatchEnded(_)))
    else {
        unreachable!()
    };

    // The same results reach the matchmaker: at /v1/matches/{room} and on both tickets.
    let record = support::reported_results(&mm, room).await;
    assert_eq!(record.room_id, room);
    assert_eq!(
        (record.game.as_str(), record.mode.as_str()),
        ("arena", "arena")
    );
    assert_eq!(record.reason, EndReason::TimeLimit);
    assert_eq!(record.placements, sent.placements);
    let mut players: Vec<&str> = record
        .placements
        .iter()
        .map(|p| p.player_id.as_str())
        .collect();
    players.sort();
    assert_eq!(players, ["a", "b"]);
    assert_eq!(record.results, serde_json::to_value(&sent.game).unwrap());
    assert_eq!(record.results["scores"].as_array().map(Vec::len), Some(2));
    for ticket in [&a.id, &b.id] {
        let view = mm.get_ticket(ticket, Duration::ZERO).await.unwrap();
        assert_eq!(view.results.as_ref(), Some(&record), "ticket {ticket}");
    }
    server.shutdown().await;
}
