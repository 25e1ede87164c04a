//! The `matchmaker` binary: tickets in Redis, rooms on the cluster's nodes.

use std::{net::SocketAddr, time::Duration};

use clap::Parser;
use matchmaker::{Placement, Standalone, StandaloneConfig};

/// Rallypoint matchmaker for a cluster: several instances may share one Redis.
#[derive(Debug, Parser)]
#[command(name = "matchmaker", version, about)]
struct Args {
    /// Redis URL.
    #[arg(long, env = "RALLYPOINT_REDIS")]
    redis: String,
    /// Address of the tickets API.
    #[arg(long, env = "RALLYPOINT_HTTP", default_value = "127.0.0.1:7350")]
    http: SocketAddr,
    /// Cluster secret, 64 hex digits, the same on every matchmaker and node. No default.
    #[arg(long, env = "RALLYPOINT_CLUSTER_SECRET", hide_env_values = true)]
    cluster_secret: String,
    /// Room placement: packed (fill nodes first) or spread.
    #[arg(long, env = "RALLYPOINT_PLACEMENT", default_value = "packed")]
    placement: Placement,
    /// Tickets one client IP may create per second, in bursts of up to ten seconds' worth;
    /// over it, `429 rate_limited`. 0 turns the limit off (e.g. a load test from one machine).
    #[arg(long, env = "RALLYPOINT_TICKET_RATE_PER_IP", default_value = "100")]
    ticket_rate_per_ip: u32,
    /// A game mode, e.g. `name=duel,players=2,teams=2,time-limit=3m` (repeatable; in the config
    /// file, a `[[modes]]` table each; keys: name, players, teams, min-players, time-limit — a
    /// duration or `none` —, join-timeout, max-wait). Without any, one mode: --mode with
    /// --players-per-match and --teams.
    #[arg(long, env = "RALLYPOINT_MODES", value_delimiter = ';', action = clap::ArgAction::Append)]
    modes: Vec<matchmaker::ModeRules>,
    /// The one mode's name when no --modes are given (a node's game hosts the mode its
    /// `Game::mode` names unless told otherwise).
    #[arg(long, env = "RALLYPOINT_MODE", required_unless_present = "modes")]
    mode: Option<String>,
    /// Players per match of that one mode.
    #[arg(long, env = "RALLYPOINT_PLAYERS_PER_MATCH", default_value = "10")]
    players_per_match: usize,
    /// Teams per match of that one mode (parties play on one team); free-for-all when absent.
    #[arg(long, env = "RALLYPOINT_TEAMS")]
    teams: Option<usize>,
    /// Record every ticket state change in the Redis stream `rp:history` (one XADD each), for
    /// audits and invariant checks. Give it to every matchmaker and node sharing the Redis.
    #[arg(long, env = "RALLYPOINT_RECORD_HISTORY")]
    record_history: bool,
    /// A node whose heartbeat is older than this gets no new rooms.
    #[arg(long, env = "RALLYPOINT_NODE_STALE_AFTER", default_value = "3s", value_parser = humantime::parse_duration)]
    node_stale_after: Duration,
    /// A TOML file of these flags (keys are the long names, e.g. `placement = "spread"`); the
    /// command line and the environment win over it.
    #[arg(long, env = "RALLYPOINT_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// Print the effective configuration, where each value came from and with secrets masked,
    /// and exit.
    #[arg(long)]
    print_config: bool,
    /// Log lines as `pretty` text or `json` objects (`RUST_LOG` filters what is logged).
    #[arg(
        long,
        env = "RALLYPOINT_LOG_FORMAT",
        value_enum,
        default_value = "pretty"
    )]
    log_format: matchmaker::cli::LogFormat,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Args = matchmaker::cli::parse();
    matchmaker::cli::init_logging(args.log_format);
    let mm = Standalone::start(StandaloneConfig {
        redis: args.redis.clone(),
        http: args.http,
        cluster_secret: args.cluster_secret,
        placement: args.placement,
        modes: match &args.mode {
            Some(mode) if args.modes.is_empty() => vec![matchmaker::ModeRules::in_teams(
                mode,
                args.players_per_match,
                args.teams,
            )?],
            _ => args.modes.clone(),
        },
        record_history: args.record_history,
        node_stale_after: args.node_stale_after,
        ticket_rate_per_ip: args.ticket_rate_per_ip,
    })
    .await?;
    println!(
        "rallypoint matchmaker listening: http://{} (tickets API), Redis {}",
        mm.http_addr, args.redis
    );
    tokio::signal::ctrl_c().await?;
    mm.shutdown().await;
    Ok(())
}
