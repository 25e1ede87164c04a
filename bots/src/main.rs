//! The `bots` binary: run a swarm against a matchmaker and report.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use bots::{Chaos, SwarmConfig, run_swarm};
use clap::Parser;
use protocol::api::{FaultKind, FaultRequest};
use tracing_subscriber::EnvFilter;

/// Rallypoint bot swarm: arena bots that queue, connect and play real matches.
#[derive(Debug, Parser)]
#[command(name = "bots", version, about)]
struct Args {
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
    /// Game mode to queue for.
    #[arg(long, env = "RALLYPOINT_BOTS_MODE", default_value = "arena")]
    mode: String,
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
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if args.party_size > 1 && !args.players.is_multiple_of(args.party_size) {
        eprintln!(
            "bots: --players {} is not a whole number of parties of --party-size {}",
            args.players, args.party_size
        );
        return ExitCode::from(2);
    }
    let mut config = SwarmConfig::new(&args.matchmaker, args.players, args.duration);
    config.grace = args.grace;
    config.mode = args.mode;
    config.skill_spread = args.skill_spread;
    config.player_prefix = args.player_prefix;
    config.party_size = args.party_size.max(1);
    if let Some(every) = args.fault_every {
        let kind = match args.fault_kind.as_str() {
            "panic" => FaultKind::Panic,
            "hang" => FaultKind::Hang,
            "slow" => FaultKind::Slow,
            other => {
                eprintln!("--fault-kind must be panic, hang or slow, not {other:?}");
                return ExitCode::from(2);
            }
        };
        let Some(admin_token) = args.admin_token else {
            eprintln!("--fault-every needs --admin-token");
            return ExitCode::from(2);
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
    let report = run_swarm(config).await;
    let json = serde_json::to_string_pretty(&report).expect("a report always serializes");
    if let Some(path) = &args.report_json
        && let Err(e) = std::fs::write(path, &json)
    {
        eprintln!("cannot write report to {}: {e}", path.display());
        return ExitCode::from(2);
    }
    println!(
        "bots: {} players, {:.1}s, {} matches completed ({} per-player), tickets {} created / {} assigned / {} cancelled",
        report.players,
        report.duration_s,
        report.matches_completed,
        report.player_matches_completed,
        report.tickets_created,
        report.tickets_assigned,
        report.tickets_cancelled,
    );
    println!(
        "time to match ms: p50 {:.1} p99 {:.1} max {:.1} | rtt ms: p50 {:.2} p99 {:.2} | {:.0} B/s received per player, {:.0} B/s sent",
        report.time_to_match_ms.p50,
        report.time_to_match_ms.p99,
        report.time_to_match_ms.max,
        report.rtt_ms.p50,
        report.rtt_ms.p99,
        report.bytes_received_per_player_per_s,
        report.bytes_sent_per_player_per_s,
    );
    println!(
        "prediction error (units): p50 {:.3} p99 {:.3} max {:.3} over {} snapshots",
        report.prediction_error.p50,
        report.prediction_error.p99,
        report.prediction_error.max,
        report.prediction_error.count,
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
    if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
