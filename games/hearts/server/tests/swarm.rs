//! A hundred Hearts bots from the swarm (`bots::games::HeartsBot`) play tables on the engine
//! while a random running room panics every two seconds: every panic is restored from its
//! checkpoint and replay and the game goes on, with no error, no lost ticket and no refused
//! play; the node's `/metrics` count the restarts and name the game.

use std::time::Duration;

use bots::{Chaos, SwarmConfig, games::HeartsBot, run_swarm};
use hearts::HeartsGame;
use protocol::{
    MatchmakerClient,
    api::{FaultKind, FaultRequest},
};
use server::EmbeddedServer;

const TOKEN: &str = "hearts-chaos-token";

/// The engine serving Hearts in this process at 10 Hz with `flags` besides; games to
/// `target` points.
async fn hearts_server(flags: &[&str], target: u16) -> EmbeddedServer<HeartsGame> {
    let mut all = vec!["--tick-rate", "10"];
    all.extend_from_slice(flags);
    server::testing::embedded(HeartsGame::new("hearts", target, 20), &all).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_card_bots_play_on_while_a_room_panics_every_two_seconds() {
    // A short game (to 26 points) so tables finish and the bots queue again within the run.
    let server = hearts_server(
        &[
            "--modes",
            "name=hearts,players=4,time-limit=none",
            "--enable-fault-injection",
            "--admin-token",
            TOKEN,
        ],
        26,
    )
    .await;
    let url = server.url();
    let mut config = SwarmConfig::new(&url, 100, Duration::from_secs(20));
    config.chaos = Some(Chaos {
        every: Duration::from_secs(2),
        fault: FaultRequest {
            kind: FaultKind::Panic,
            ms: None,
        },
        admin_token: TOKEN.into(),
    });
    let report = run_swarm::<HeartsBot>(config).await;
    eprintln!("{}", serde_json::to_string(&report).unwrap());
    assert!(report.is_clean(), "{report:#?}");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.faults_injected >= 8, "{}", report.faults_injected);
    assert!(
        report.matches_completed >= 25,
        "{}",
        report.matches_completed
    );
    assert_eq!(report.disconnects_unexpected, 0);
    // The bots acknowledged snapshots with their (empty) inputs all along.
    assert!(report.input_ack_ms.count > 0, "{report:#?}");

    let health = MatchmakerClient::new(&url).health().await.unwrap();
    assert_eq!(health.restarts, report.faults_injected, "{health:?}");
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let restarts = format!("rallypoint_room_restarts_total {}", report.faults_injected);
    assert!(metrics.contains(&restarts), "{metrics}");
    assert!(
        metrics.contains("rallypoint_node_info{game=\"hearts\",version=\"1\"} 1"),
        "{metrics}"
    );
    server.shutdown().await;
}

/// Friends queue together: parties of two in a mode of two teams of two sit at the same table
/// (Hearts scores each seat alone; the teams only seat the party together).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parties_of_two_sit_at_the_same_table() {
    let server = hearts_server(
        &[
            "--modes",
            "name=hearts-friends,players=4,teams=2,time-limit=none",
        ],
        10,
    )
    .await;
    let url = server.url();
    let mut config = SwarmConfig::new(&url, 16, Duration::from_millis(500));
    let group = &mut config.scenario.groups[0];
    group.mode = Some("hearts-friends".into());
    group.party_size = 2;
    let report = run_swarm::<HeartsBot>(config).await;
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(report.matches_completed, 4, "{report:#?}");
    assert_eq!(report.parties_placed, 8, "{report:#?}");
    assert_eq!(report.parties_split, 0);
    server.shutdown().await;
}
