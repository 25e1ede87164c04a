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
pub mod scenario;
pub mod threshold;
pub use protocol::link;
mod report;

use std::{sync::Arc, time::Duration};

use protocol::{MatchmakerClient, api::FaultRequest};
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
    /// Bots queue in parties of this many (consecutive bots form a party); 1 queues alone.
    pub party_size: usize,
    /// Inject this fault into a random running room at every interval (chaos runs).
    pub chaos: Option<Chaos>,
}

/// Faults injected into random running rooms during a run, through the admin API.
#[derive(Debug, Clone)]
pub struct Chaos {
    /// Time between two faults.
    pub every: Duration,
    /// The fault.
    pub fault: FaultRequest,
    /// The server's admin token.
    pub admin_token: String,
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
            party_size: 1,
            chaos: None,
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
    let chaos = config.chaos.clone().map(|chaos| {
        tokio::spawn(inject_faults(
            mm.clone(),
            chaos,
            stop_queueing,
            recorder.clone(),
        ))
    });
    while let Some(done) = bots.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "bot task failed");
            recorder.error("bot_panic");
        }
    }
    if let Some(chaos) = chaos {
        chaos.abort();
    }
    recorder.report(config.players, started.elapsed())
}

async fn inject_faults(
    mm: MatchmakerClient,
    chaos: Chaos,
    until: Instant,
    recorder: Arc<Recorder>,
) {
    let mut next = Instant::now() + chaos.every;
    while next < until {
        tokio::time::sleep_until(next).await;
        next += chaos.every;
        let rooms = match mm.rooms().await {
            Ok(rooms) => rooms,
            Err(e) => {
                tracing::warn!(error = %e, "chaos: listing rooms failed");
                recorder.error("chaos_rooms");
                continue;
            }
        };
        let running: Vec<_> = rooms.iter().filter(|r| r.phase == "running").collect();
        if running.is_empty() {
            continue;
        }
        let room = running[rand::random_range(0..running.len())];
        match mm
            .inject_fault(&chaos.admin_token, room.id, &chaos.fault)
            .await
        {
            Ok(()) => recorder.fault_injected(),
            Err(e) => {
                tracing::warn!(room = room.id, error = %e, "chaos: fault injection failed");
                recorder.error("chaos_inject");
            }
        }
    }
}
