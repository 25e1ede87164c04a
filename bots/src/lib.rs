//! Rallypoint's bot swarm: headless players of any game, for load tests.
//!
//! Each bot queues through the matchmaker's HTTP API, connects to its room over UDP with the
//! `protocol` crate's [`protocol::GameClient`] exactly as a game client would (through a link
//! conditioner if its group has a network profile), plays with its game's [`Brain`] until the
//! match ends, and queues again while the [`scenario`] wants it playing. [`run_swarm`] drives
//! the scenario's stages, churn and faults, samples the run every second (and the server's own
//! view of it), and returns a [`Report`]; [`html`] renders one. [`cli`] is the whole tool on a
//! command line, for any brain; [`games`] holds the brains of the games that ship with the
//! platform (the `bots` binary plays them, `--game`).
//!
//! What it is not: it knows nothing of the server's internals; it speaks the public protocol
//! and HTTP API only.
#![warn(missing_docs)]

mod bot;
mod brain;
pub mod cli;
pub mod games;
pub mod scenario;
pub mod threshold;
pub use protocol::link;
pub mod html;
mod report;
mod sampler;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU8, Ordering},
    },
    time::Duration,
};

pub use brain::{Brain, Play, Resumed, Welcome};
use protocol::{MatchmakerClient, api::FaultRequest};
pub use report::{MatchStats, Percentiles, Recorder, Report, Sample, ServerSample};
use scenario::{Scenario, Slot};
use threshold::Threshold;
use tokio::{sync::watch, time::Instant};

/// How a swarm runs.
#[derive(Debug, Clone)]
pub struct SwarmConfig {
    /// Matchmaker base URL, e.g. `http://127.0.0.1:7350`, or several, comma-separated.
    pub matchmaker: String,
    /// Stages, groups, churn, faults and thresholds.
    pub scenario: Scenario,
    /// Thresholds given besides the scenario's (`--threshold`).
    pub thresholds: Vec<Threshold>,
    /// Prefix of the bots' player ids and party ids.
    pub player_prefix: String,
    /// Inject this fault into a random running room at every interval (chaos runs).
    pub chaos: Option<Chaos>,
    /// The server's admin token, for the scenario's faults.
    pub admin_token: Option<String>,
    /// A server whose `/v1/health` and `/v1/rooms` are sampled every second (the embedded
    /// server answers both on the matchmaker's address).
    pub server: Option<String>,
    /// Print a progress line every second (to standard error).
    pub progress: bool,
    /// Threads driving the bots (for the CPU utilization in the report).
    pub threads: usize,
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
    /// `players` bots against `matchmaker`, all at once, for `duration`; then they
    /// finish their matches (within a 120 s grace).
    pub fn new(matchmaker: &str, players: usize, duration: Duration) -> Self {
        Self::from_scenario(matchmaker, Scenario::steady(players, duration))
    }

    /// A swarm that plays `scenario` against `matchmaker`.
    pub fn from_scenario(matchmaker: &str, scenario: Scenario) -> Self {
        Self {
            matchmaker: matchmaker.to_string(),
            scenario,
            thresholds: Vec::new(),
            player_prefix: "bot".into(),
            chaos: None,
            admin_token: None,
            server: None,
            progress: false,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// What a bot is doing, for the controller and the samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Activity {
    Idle = 0,
    Queued = 1,
    Playing = 2,
}

/// What the controller and the bots share.
pub(crate) struct Control {
    /// Bots with an index below this should be playing.
    pub(crate) target: watch::Receiver<usize>,
    activity: Vec<AtomicU8>,
    /// Set to make a playing bot leave its match and queue again.
    churn: Vec<AtomicBool>,
}

impl Control {
    pub(crate) fn set_activity(&self, bot: usize, a: Activity) {
        self.activity[bot].store(a as u8, Ordering::Relaxed);
    }

    /// Takes the bot's churn order, if there is one.
    pub(crate) fn take_churn(&self, bot: usize) -> bool {
        self.churn[bot].swap(false, Ordering::Relaxed)
    }

    /// (queued, playing) bots.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let mut counts = (0, 0);
        for a in &self.activity {
            match a.load(Ordering::Relaxed) {
                1 => counts.0 += 1,
                2 => counts.1 += 1,
                _ => {}
            }
        }
        counts
    }

    fn playing(&self) -> Vec<usize> {
        (0..self.activity.len())
            .filter(|&i| self.activity[i].load(Ordering::Relaxed) == Activity::Playing as u8)
            .collect()
    }
}

/// Runs the swarm of `B`'s players to the end and reports.
pub async fn run_swarm<B: Brain>(config: SwarmConfig) -> Report {
    let config = Arc::new(config);
    let recorder = Arc::new(Recorder::default());
    let mm = MatchmakerClient::new(&config.matchmaker);
    let scenario = &config.scenario;
    let slots: Arc<[Slot]> = scenario.slots(scenario.max_target()).into();
    let (target_tx, target) = watch::channel(0usize);
    let control = Arc::new(Control {
        target,
        activity: (0..slots.len()).map(|_| AtomicU8::new(0)).collect(),
        churn: (0..slots.len()).map(|_| AtomicBool::new(false)).collect(),
    });
    let started = Instant::now();
    let end_of_stages = started + scenario.duration();
    let hard_stop = end_of_stages + scenario.grace;
    let cpu_at_start = protocol::process_cpu_time();
    let delays_at_start = input_delays(&mm).await;
    let sampler = tokio::spawn(sampler::sample(
        config.clone(),
        recorder.clone(),
        control.clone(),
        started,
    ));
    let chaos = config.chaos.clone().map(|chaos| {
        tokio::spawn(inject_faults(
            mm.clone(),
            chaos,
            end_of_stages,
            recorder.clone(),
        ))
    });

    let mut bots = tokio::task::JoinSet::new();
    let mut running = vec![false; slots.len()];
    let mut faults = scenario.faults.clone();
    faults.sort_by_key(|f| f.at);
    let mut faults = faults.into_iter().peekable();
    let mut churn_carry = 0.0f64;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        let elapsed = started.elapsed();
        let target = scenario.target_at(elapsed).min(slots.len());
        target_tx.send_if_modified(|t| std::mem::replace(t, target) != target);
        for index in 0..target {
            if !running[index] {
                running[index] = true;
                let bot = bot::Bot::<B> {
                    index,
                    slot: slots[index],
                    config: config.clone(),
                    mm: mm.clone(),
                    recorder: recorder.clone(),
                    control: control.clone(),
                    brain: std::marker::PhantomData,
                };
                bots.spawn(async move {
                    bot.run(hard_stop).await;
                    index
                });
            }
        }
        while let Some(done) = bots.try_join_next() {
            match done {
                Ok(index) => running[index] = false,
                Err(e) => {
                    tracing::error!(error = %e, "bot task failed");
                    recorder.error("bot_panic");
                }
            }
        }
        // Churn: each tenth of a second, the matching share of playing bots leave.
        if let Some(churn) = scenario.churn {
            let playing = control.playing();
            churn_carry += churn.per_minute / 600.0 * playing.len() as f64;
            while churn_carry >= 1.0 && !playing.is_empty() {
                churn_carry -= 1.0;
                let bot = playing[rand::random_range(0..playing.len())];
                control.churn[bot].store(true, Ordering::Relaxed);
            }
        }
        while faults.peek().is_some_and(|f| f.at <= elapsed) {
            let fault = faults.next().expect("peeked");
            match &config.admin_token {
                Some(token) => {
                    inject_one(&mm, token, &fault.request(), &recorder).await;
                }
                None => recorder.error("fault_without_admin_token"),
            }
        }
        let over = Instant::now() >= end_of_stages;
        if (over && bots.is_empty()) || Instant::now() >= hard_stop + Duration::from_secs(5) {
            break;
        }
    }
    bots.abort_all();
    if let Some(chaos) = chaos {
        chaos.abort();
    }
    sampler::finish(sampler, config.progress).await;
    let mut report = recorder.report(slots.len(), started.elapsed());
    report.scenario = scenario.name.clone();
    report.bots_cpu_seconds = (protocol::process_cpu_time() - cpu_at_start).as_secs_f64();
    let delays = input_delays(&mm).await;
    let during: Vec<u64> = delays
        .0
        .iter()
        .enumerate()
        .map(|(i, n)| n - delays_at_start.0.get(i).copied().unwrap_or(0).min(*n))
        .collect();
    report.input_delay_ticks = Percentiles::of_counts(&during);
    let applied = during.iter().sum::<u64>().max(1) as f64;
    report.inputs_late_share = delays.1.saturating_sub(delays_at_start.1) as f64 / applied;
    report.inputs_merged_share = delays.2.saturating_sub(delays_at_start.2) as f64 / applied;
    report.bots_rss_bytes = protocol::process_rss_bytes();
    report.bots_cpu_utilization =
        report.bots_cpu_seconds / (report.duration_s * config.threads.max(1) as f64).max(1e-9);
    let mut thresholds = scenario.parsed_thresholds();
    thresholds.extend(config.thresholds.iter().cloned());
    let json = serde_json::to_value(&report).expect("a report always serializes");
    report.thresholds = threshold::check(&thresholds, &json);
    report
}

async fn inject_one(
    mm: &MatchmakerClient,
    admin_token: &str,
    fault: &FaultRequest,
    recorder: &Recorder,
) {
    let rooms = match mm.rooms().await {
        Ok(rooms) => rooms,
        Err(e) => {
            tracing::warn!(error = %e, "fault: listing rooms failed");
            recorder.error("fault_rooms");
            return;
        }
    };
    let running: Vec<_> = rooms.iter().filter(|r| r.phase == "running").collect();
    if running.is_empty() {
        return;
    }
    let room = running[rand::random_range(0..running.len())];
    match mm.inject_fault(admin_token, room.id, fault).await {
        Ok(()) => recorder.fault_injected(),
        Err(e) => {
            tracing::warn!(room = room.id, error = %e, "fault injection failed");
            recorder.error("fault_inject");
        }
    }
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
        inject_one(&mm, &chaos.admin_token, &chaos.fault, &recorder).await;
    }
}

/// The server's counts of applied inputs by ticks waited, late and merged inputs
/// (`/v1/health`); nothing if it has none or does not answer.
async fn input_delays(mm: &MatchmakerClient) -> (Vec<u64>, u64, u64) {
    match tokio::time::timeout(Duration::from_secs(2), mm.health()).await {
        Ok(Ok(h)) => (h.input_delay_ticks, h.inputs_late, h.inputs_merged),
        _ => (Vec::new(), 0, 0),
    }
}
