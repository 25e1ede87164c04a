//! The whole load-testing tool on a command line, for any game: [`main`] parses the swarm's
//! flags ([`SwarmArgs`]), runs it with a [`Brain`] and prints (and writes) the report. The
//! `bots` binary runs it for the games that ship with the platform (`--game`); a studio's own
//! bots binary is a line: `fn main() -> ExitCode { bots::cli::main::<MyBot>() }`.

use std::{io::IsTerminal, path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use protocol::api::{FaultKind, FaultRequest};
use tracing_subscriber::EnvFilter;

use crate::{Brain, Chaos, Percentiles, Report, SwarmConfig, run_swarm, scenario::Scenario};

/// The swarm's flags (every one also an environment variable).
#[derive(Debug, clap::Args)]
pub struct SwarmArgs {
    /// Matchmaker base URL.
    #[arg(
        long,
        env = "RALLYPOINT_MATCHMAKER",
        default_value = "http://127.0.0.1:7350"
    )]
    matchmaker: String,
    /// Bots to run at once.
    #[arg(long, env = "RALLYPOINT_BOTS_PLAYERS", default_value = "10")]
    players: usize,
    /// How long bots keep queueing for matches, e.g. 60s.
    #[arg(long, env = "RALLYPOINT_BOTS_DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// After --duration, how long bots may take to finish their current match.
    #[arg(long, env = "RALLYPOINT_BOTS_GRACE", default_value = "120s", value_parser = humantime::parse_duration)]
    grace: Duration,
    /// Game mode to queue for (default: the game's own).
    #[arg(long, env = "RALLYPOINT_BOTS_MODE")]
    mode: Option<String>,
    /// Prefix of the bots' player ids (give concurrent swarms different ones).
    #[arg(long, env = "RALLYPOINT_BOTS_PLAYER_PREFIX", default_value = "bot")]
    player_prefix: String,
    /// Queue in parties of this many bots (the mode must have teams this large).
    #[arg(long, env = "RALLYPOINT_BOTS_PARTY_SIZE", default_value = "1")]
    party_size: usize,
    /// Spread skill ratings over 1000 ± this.
    #[arg(long, env = "RALLYPOINT_BOTS_SKILL_SPREAD", default_value = "0")]
    skill_spread: f64,
    /// Chaos: inject --fault-kind into a random running room this often (needs --admin-token
    /// and a server started with --enable-fault-injection).
    #[arg(long, env = "RALLYPOINT_BOTS_FAULT_EVERY", value_parser = humantime::parse_duration)]
    fault_every: Option<Duration>,
    /// The fault to inject: panic, hang or slow.
    #[arg(long, env = "RALLYPOINT_BOTS_FAULT_KIND", default_value = "panic")]
    fault_kind: String,
    /// For --fault-kind slow: milliseconds.
    #[arg(long, env = "RALLYPOINT_BOTS_FAULT_MS")]
    fault_ms: Option<u64>,
    /// The server's admin token (for --fault-every).
    #[arg(long, env = "RALLYPOINT_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Write the report as JSON to this file.
    #[arg(long, env = "RALLYPOINT_BOTS_REPORT_JSON")]
    report_json: Option<PathBuf>,
    /// Write a self-contained HTML report with charts to this file.
    #[arg(long, env = "RALLYPOINT_BOTS_REPORT_HTML")]
    report_html: Option<PathBuf>,
    /// Run this scenario (TOML: stages, churn, groups, faults, thresholds) instead of
    /// --players/--duration.
    #[arg(long, env = "RALLYPOINT_BOTS_SCENARIO")]
    scenario: Option<PathBuf>,
    /// A pass/fail threshold, e.g. 'rtt_ms.p99 < 150' (repeatable; added to the scenario's).
    /// A failed threshold makes the exit status 99.
    #[arg(long)]
    threshold: Vec<String>,
    /// Network profile of the bots without a scenario: perfect, broadband-p50,
    /// broadband-p95, international-p95, unplayable.
    #[arg(long, env = "RALLYPOINT_BOTS_NETWORK", default_value = "perfect")]
    network: String,
    /// The region bots without a scenario give as their best.
    #[arg(long, env = "RALLYPOINT_BOTS_REGION")]
    region: Option<String>,
    /// Threads driving the bots; 0 runs them all on this thread.
    #[arg(long, env = "RALLYPOINT_BOTS_WORKERS", default_value = "2")]
    workers: usize,
    /// Server to sample during the run (/v1/health, /v1/rooms); default: the matchmaker's
    /// address, which the embedded server also serves.
    #[arg(long, env = "RALLYPOINT_BOTS_SERVER")]
    server: Option<String>,
    /// No progress line, even on a terminal.
    #[arg(long)]
    quiet: bool,
}

/// A bots binary's command line: the swarm's flags alone.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "Rallypoint bot swarm: bots that queue, connect and play real matches."
)]
struct Cli {
    #[command(flatten)]
    swarm: SwarmArgs,
}

/// Parses the command line and runs the swarm of `B`'s players: a game's bots binary.
pub fn main<B: Brain>() -> ExitCode {
    run_args::<B>(Cli::parse().swarm)
}

/// Runs the swarm of `B`'s players with these flags (logs to standard error; `RUST_LOG`).
pub fn run_args<B: Brain>(args: SwarmArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match args.workers {
        0 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bots: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run::<B>(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bots: {e}");
            ExitCode::from(2)
        }
    }
}

/// Exit status when a threshold failed (as k6 uses).
const THRESHOLDS_FAILED: u8 = 99;

async fn run<B: Brain>(args: SwarmArgs) -> anyhow::Result<ExitCode> {
    let mut scenario = match &args.scenario {
        Some(path) => Scenario::load(path)?,
        None => {
            let mut s = Scenario::steady(args.players, args.duration);
            s.grace = args.grace;
            let group = &mut s.groups[0];
            group.mode = args.mode.clone();
            group.skill_spread = args.skill_spread;
            group.party_size = args.party_size.max(1);
            group.network = args.network.clone();
            group.region = args.region.clone();
            s
        }
    };
    if args.scenario.is_none() {
        scenario.name = "command line".into();
        scenario.validate()?;
    }
    let mut config = SwarmConfig::from_scenario(&args.matchmaker, scenario);
    config.player_prefix = args.player_prefix;
    config.admin_token = args.admin_token.clone();
    config.server = Some(
        args.server
            .clone()
            .unwrap_or_else(|| args.matchmaker.split(',').next().unwrap_or("").to_string()),
    );
    config.progress = std::io::stderr().is_terminal() && !args.quiet;
    config.threads = args.workers.max(1);
    for expr in &args.threshold {
        config.thresholds.push(expr.parse()?);
    }
    if let Some(every) = args.fault_every {
        let kind = match args.fault_kind.as_str() {
            "panic" => FaultKind::Panic,
            "hang" => FaultKind::Hang,
            "slow" => FaultKind::Slow,
            other => anyhow::bail!("--fault-kind must be panic, hang or slow, not {other:?}"),
        };
        let Some(admin_token) = args.admin_token.clone() else {
            anyhow::bail!("--fault-every needs --admin-token");
        };
        config.chaos = Some(Chaos {
            every,
            fault: FaultRequest {
                kind,
                ms: args.fault_ms,
            },
            admin_token,
        });
    }
    let report = run_swarm::<B>(config).await;
    if let Some(path) = &args.report_json {
        let json = serde_json::to_string_pretty(&report).expect("a report always serializes");
        std::fs::write(path, json)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = &args.report_html {
        std::fs::write(path, crate::html::render(&report))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    print_summary(&report);
    Ok(if !report.thresholds_passed() {
        ExitCode::from(THRESHOLDS_FAILED)
    } else if report.is_clean() || !report.thresholds.is_empty() {
        // With thresholds, they decide; without, any error fails the run.
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_summary(report: &Report) {
    println!(
        "bots: {} ({} players, {:.1}s, bots' CPU {:.1}s): {} matches completed ({} per-player), tickets {} created / {} assigned / {} cancelled, {} churned",
        report.scenario,
        report.players,
        report.duration_s,
        report.bots_cpu_seconds,
        report.matches_completed,
        report.player_matches_completed,
        report.tickets_created,
        report.tickets_assigned,
        report.tickets_cancelled,
        report.churned,
    );
    let p = |name: &str, v: &Percentiles| {
        format!("{name} p50 {:.1} p99 {:.1} max {:.1}", v.p50, v.p99, v.max)
    };
    println!(
        "ms: {} | {} | {} | {} | {}",
        p("time to match", &report.time_to_match_ms),
        p("connect", &report.connect_ms),
        p("rtt", &report.rtt_ms),
        p("snapshot jitter", &report.snapshot_jitter_ms),
        p("input ack", &report.input_ack_ms),
    );
    if report.prediction_error.count > 0 {
        println!(
            "prediction error (units): p50 {:.3} p99 {:.3}",
            report.prediction_error.p50, report.prediction_error.p99,
        );
    }
    println!(
        "bytes per player-second: {:.0} received, {:.0} sent",
        report.bytes_received_per_player_per_s, report.bytes_sent_per_player_per_s,
    );
    println!(
        "unexpected disconnects: {} | rooms failed: {} | tickets lost: {} | tickets reassigned: {} | faults injected: {} | errors: {:?}",
        report.disconnects_unexpected,
        report.rooms_failed,
        report.tickets_lost,
        report.tickets_reassigned,
        report.faults_injected,
        report.errors
    );
    if report.migrations > 0 || report.matches_ended_early > 0 {
        println!(
            "matches moved between nodes: {} bots followed ({}) | matches ended early: {}",
            report.migrations,
            p("pause", &report.migration_pause_ms),
            report.matches_ended_early,
        );
    }
    if report.rejoins > 0 {
        println!(
            "matches resumed after their node was lost: {} bots rejoined ({}; ticks lost p50 {:.0} max {:.0})",
            report.rejoins,
            p("pause", &report.rejoin_pause_ms),
            report.rejoin_lost_ticks.p50,
            report.rejoin_lost_ticks.max,
        );
    }
    if report.bots_cpu_utilization > 0.85 {
        println!(
            "warning: the bots used {:.0} % of their threads' CPU: the load generator may have been the bottleneck (add --workers or a second machine)",
            report.bots_cpu_utilization * 100.0
        );
    }
    for v in &report.thresholds {
        println!(
            "threshold {}: {} (actual {})",
            v.threshold,
            if v.passed { "pass" } else { "FAIL" },
            v.actual.map_or("none".to_string(), |a| format!("{a:.3}"))
        );
    }
}
