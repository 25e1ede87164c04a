//! Rallypoint's bot swarm: headless arena players for load tests.
//!
//! Each bot queues through the matchmaker's HTTP API, connects to its room over UDP with the
//! `protocol` crate's [`protocol::GameClient`] exactly as a game client would, plays with a
//! simple brain (approach, strafe, shoot) until the match ends, and queues again until the run's
//! duration is over. [`run_swarm`] returns a [`Report`] of what was measured.
//!
//! What it is not: it knows nothing of the server's internals; it depends on `protocol` only.
#![warn(missing_docs)]

mod bot;
pub mod brain;
mod report;

use std::{sync::Arc, time::Duration};

use protocol::MatchmakerClient;
pub use report::{Percentiles, Recorder, Report};
use tokio::time::Instant;

/// What a swarm does.
#[derive(Debug, Clone)]
pub struct SwarmConfig {
    /// Matchmaker base URL, e.g. `http://127.0.0.1:7350`.
    pub matchmaker: String,
    /// Bots to run at once.
    pub players: usize,
    /// How long bots keep queueing for new matches.
    pub duration: Duration,
    /// After `duration`, how long bots may take to finish the match they are in.
    pub grace: Duration,
    /// Mode to queue for.
    pub mode: String,
    /// Skill ratings spread evenly over 1000 ± this.
    pub skill_spread: f64,
    /// Prefix of the bots' player ids.
    pub player_prefix: String,
}

impl SwarmConfig {
    /// A swarm of `players` arena bots against `matchmaker` for `duration`.
    pub fn new(matchmaker: &str, players: usize, duration: Duration) -> Self {
        Self {
            matchmaker: matchmaker.to_string(),
            players,
            duration,
            grace: Duration::from_secs(120),
            mode: "arena".into(),
            skill_spread: 0.0,
            player_prefix: "bot".into(),
        }
    }
}

/// Runs the swarm to the end and reports.
pub async fn run_swarm(config: SwarmConfig) -> Report {
    let config = Arc::new(config);
    let recorder = Arc::new(Recorder::default());
    let mm = MatchmakerClient::new(&config.matchmaker);
    let started = Instant::now();
    let stop_queueing = started + config.duration;
    let hard_stop = stop_queueing + config.grace;
    let mut bots = tokio::task::JoinSet::new();
    for index in 0..config.players {
        let bot = bot::Bot {
            index,
            config: config.clone(),
            mm: mm.clone(),
            recorder: recorder.clone(),
        };
        bots.spawn(bot.run(stop_queueing, hard_stop));
    }
    while let Some(done) = bots.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "bot task failed");
            recorder.error("bot_panic");
        }
    }
    recorder.report(config.players, started.elapsed())
}
