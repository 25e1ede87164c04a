//! A hundred Hearts bots from the swarm (`bots::games::HeartsBot`) play tables on the engine
//! while a random running room panics every two seconds: every panic is restored from its
//! checkpoint and replay and the game goes on, with no error, no lost ticket and no refused
//! play; the node's `/metrics` count the restarts and name the game.

use std::time::Duration;

use bots::{Chaos, SwarmConfig, games::HeartsBot, run_swarm};
use clap::Parser;
use hearts::HeartsGame;
use protocol::{
    MatchmakerClient,
    api::{FaultKind, FaultRequest},
};
use server::config::ServerArgs;

const TOKEN: &str = "hearts-chaos-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_card_bots_play_on_while_a_room_panics_every_two_seconds() {
    let args = ServerArgs::try_parse_from([
        "server",
        "--udp-ports",
        "0",
        "--modes",
        "name=hearts,players=4,time-limit=none",
        "--tick-rate",
        "10",
        "--enable-fault-injection",
        "--admin-token",
        TOKEN,
    ])
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        // A short game (to 26 points) so tables finish and the bots queue again within the run.
        server::serve(listener, &args, HeartsGame::new("hearts", 26, 20), async {
            let _ = stopped.await;
        })
        .await
    });

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
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
