//! Command-line and environment configuration of the `server` binary.

use std::{net::SocketAddr, time::Duration};

use clap::Parser;

/// What a draining node does with its running matches (`--drain-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DrainMode {
    /// Let them play to the end, then exit.
    #[default]
    Finish,
    /// Move them to other nodes of the cluster, then exit.
    Migrate,
}

fn parse_tick_rate(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(hz @ 1..=128) => Ok(hz),
        _ => Err(format!("tick rate must be 1 to 128 Hz, got {s:?}")),
    }
}

fn parse_key(s: &str) -> Result<[u8; 32], String> {
    protocol::key_from_hex(s)
}

fn parse_secret(s: &str) -> Result<String, String> {
    protocol::key_from_hex(s).map(|_| s.trim().to_string())
}

impl ServerArgs {
    /// Who may use the admin endpoints. Fault injection without an admin token is refused.
    pub fn admin_config(&self) -> Result<crate::http::AdminConfig, crate::StartError> {
        let token = self.admin_token.clone().filter(|t| !t.is_empty());
        if self.enable_fault_injection && token.is_none() {
            return Err(crate::StartError::AdminTokenRequired);
        }
        Ok(crate::http::AdminConfig {
            fault_injection: self.enable_fault_injection,
            token,
        })
    }

    /// The modes this process's matchmaker offers: `--modes`, or else one named `default`
    /// (the game's) from `--players-per-match` and `--teams`.
    pub fn modes_for(
        &self,
        default: &str,
    ) -> Result<Vec<matchmaker::ModeRules>, matchmaker::UnevenTeams> {
        if !self.modes.is_empty() {
            return Ok(self.modes.clone());
        }
        Ok(vec![matchmaker::ModeRules::in_teams(
            default,
            usize::from(self.players_per_match),
            self.teams.map(usize::from),
        )?])
    }

    /// How this process's node hosts rooms, with `token_key` for connect tokens; `node_id`
    /// names it in logs.
    pub fn node_config(&self, token_key: [u8; 32], node_id: String) -> crate::NodeConfig {
        crate::NodeConfig {
            node_id,
            udp_bind_ip: self.udp_bind,
            public_ip: self.public_ip.unwrap_or(self.udp_bind),
            udp_ports: self.udp_ports,
            modes: self.modes.iter().map(|m| m.name.clone()).collect(),
            max_rooms: self.max_rooms,
            tick_rate: self.tick_rate,
            match_duration: self.match_duration,
            join_timeout: self.join_timeout,
            linger: Duration::from_secs(2),
            token_key,
            workers: self
                .workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            hang_timeout: self.hang_timeout,
            supervision: crate::room::Supervision {
                max_restarts: self.max_restarts,
                window: self.restart_window,
                checkpoint_interval: self.checkpoint_interval,
            },
            sync: crate::room::SyncSettings {
                interest_radius: self.interest_radius.max(1.0),
                budget_bytes: usize::from(self.snapshot_budget),
            },
            backfill: (!self.no_backfill).then_some(crate::room::Backfill {
                grace: self.backfill_grace,
                min_remaining: self.backfill_min_remaining,
            }),
        }
    }
}

/// Rallypoint server: rooms, matchmaker and HTTP API in one process (the embedded default).
#[derive(Debug, Clone, Parser)]
#[command(name = "server", version, about)]
pub struct ServerArgs {
    /// `embedded`: matchmaker and node in one process (the default). `node`: a node of a
    /// cluster; matchmakers find it through Redis (needs --redis and --cluster-secret).
    #[arg(long, env = "RALLYPOINT_ROLE", default_value = "embedded", value_parser = ["embedded", "node"])]
    pub role: String,

    /// Redis URL, for the node role, e.g. redis://127.0.0.1:6379.
    #[arg(long, env = "RALLYPOINT_REDIS")]
    pub redis: Option<String>,

    /// Node role: record every ticket state change this node makes (requeues) in the Redis
    /// stream `rp:history`, as the matchmakers do with the same flag.
    #[arg(long, env = "RALLYPOINT_RECORD_HISTORY")]
    pub record_history: bool,

    /// Cluster secret, 64 hex digits, for the node role: signs connect tokens and authenticates
    /// matchmakers' room requests. No default.
    #[arg(long, env = "RALLYPOINT_CLUSTER_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub cluster_secret: Option<String>,

    /// What a node does on SIGTERM, for the node role: `finish` lets its matches play to the
    /// end; `migrate` moves each running match to another node (players follow with new
    /// tokens) and exits as soon as they have left, falling back to finishing any match no
    /// other node would take.
    #[arg(
        long,
        env = "RALLYPOINT_DRAIN_MODE",
        value_enum,
        default_value = "finish"
    )]
    pub drain_mode: DrainMode,

    /// How often a node writes a copy of each running room to Redis, for the node role: if
    /// the node dies, a matchmaker resumes the room from its copy on another node and the
    /// players rejoin; what happened since the copy is lost. `0s` turns copies off (the
    /// players of a dead node's rooms are matched again instead).
    #[arg(long, env = "RALLYPOINT_ROOM_COPY_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub room_copy_interval: Duration,

    /// Region this node serves, for the node role.
    #[arg(long, env = "RALLYPOINT_REGION", default_value = "default")]
    pub region: String,

    /// Address of the HTTP API (matchmaker frontend, health, rooms).
    #[arg(long, env = "RALLYPOINT_HTTP", default_value = "127.0.0.1:7350")]
    pub http: SocketAddr,

    /// UDP ports rooms may use, FIRST-LAST, one port per room; or `0`: any free port the
    /// system picks for each room (tests, hosts without firewall rules to match).
    #[arg(long, env = "RALLYPOINT_UDP_PORTS", default_value = "7400-7999")]
    pub udp_ports: crate::UdpPorts,

    /// IP the room sockets bind to.
    #[arg(long, env = "RALLYPOINT_UDP_BIND", default_value = "127.0.0.1")]
    pub udp_bind: std::net::IpAddr,

    /// IP clients (and, in the node role, matchmakers) are told to connect to (defaults to
    /// --udp-bind).
    #[arg(long, env = "RALLYPOINT_PUBLIC_IP", visible_alias = "public-addr")]
    pub public_ip: Option<std::net::IpAddr>,

    /// Room ticks per second (1-128).
    #[arg(long, env = "RALLYPOINT_TICK_RATE", default_value = "30", value_parser = parse_tick_rate)]
    pub tick_rate: u16,

    /// Length of a match, e.g. 60s or 5m.
    #[arg(long, env = "RALLYPOINT_MATCH_DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub match_duration: Duration,

    /// Tickets one client IP may create per second, in bursts of up to ten seconds' worth;
    /// over it, `429 rate_limited`. 0 turns the limit off (e.g. a load test from one machine).
    #[arg(long, env = "RALLYPOINT_TICKET_RATE_PER_IP", default_value = "100")]
    pub ticket_rate_per_ip: u32,

    /// A game mode, e.g. `name=duel,players=2,teams=2,time-limit=3m` (repeatable; in the config
    /// file, a `[[modes]]` table each; keys: name, players, teams, min-players, time-limit — a
    /// duration or `none` —, join-timeout, max-wait). Without any, one mode: the game's, with
    /// --players-per-match and --teams. A node hosts the modes it is given (their names).
    #[arg(long, env = "RALLYPOINT_MODES", value_delimiter = ';', action = clap::ArgAction::Append)]
    pub modes: Vec<matchmaker::ModeRules>,

    /// Players per match of the one mode, when no --modes are given.
    #[arg(long, env = "RALLYPOINT_PLAYERS_PER_MATCH", default_value = "10", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub players_per_match: u16,

    /// Teams per match of the one mode (parties play on one team); free-for-all when absent.
    #[arg(long, env = "RALLYPOINT_TEAMS", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub teams: Option<u16>,

    /// A client sees entities within this distance of its avatar (interest management).
    #[arg(long, env = "RALLYPOINT_INTEREST_RADIUS", default_value = "60")]
    pub interest_radius: f32,

    /// Most snapshot bytes per client per tick; lower-priority changes wait.
    #[arg(long, env = "RALLYPOINT_SNAPSHOT_BUDGET", default_value = "1000", value_parser = clap::value_parser!(u16).range(64..=1100))]
    pub snapshot_budget: u16,

    /// Most rooms at once (also limited by the number of UDP ports).
    #[arg(long, env = "RALLYPOINT_MAX_ROOMS", default_value = "600")]
    pub max_rooms: usize,

    /// How long a room waits for all its players before starting with those present.
    #[arg(long, env = "RALLYPOINT_JOIN_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub join_timeout: Duration,

    /// A player who drops from a running match gets this long to reconnect before the room
    /// asks the matchmaker for a replacement (one who leaves is replaced at once).
    #[arg(long, env = "RALLYPOINT_BACKFILL_GRACE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub backfill_grace: Duration,

    /// No replacement is asked for with less than this of the match left.
    #[arg(long, env = "RALLYPOINT_BACKFILL_MIN_REMAINING", default_value = "10s", value_parser = humantime::parse_duration)]
    pub backfill_min_remaining: Duration,

    /// Never ask for replacements: matches play on short-handed.
    #[arg(long, env = "RALLYPOINT_NO_BACKFILL")]
    pub no_backfill: bool,

    /// Worker threads that tick rooms (default: one per core).
    #[arg(long, env = "RALLYPOINT_WORKERS")]
    pub workers: Option<usize>,

    /// A room tick running longer than this is a hang: the room is released and its worker
    /// replaced.
    #[arg(long, env = "RALLYPOINT_HANG_TIMEOUT", default_value = "1s", value_parser = humantime::parse_duration)]
    pub hang_timeout: Duration,

    /// More than this many simulation restarts within --restart-window fails a room.
    #[arg(long, env = "RALLYPOINT_MAX_RESTARTS", default_value = "3")]
    pub max_restarts: u32,

    /// The restart-intensity window.
    #[arg(long, env = "RALLYPOINT_RESTART_WINDOW", default_value = "10s", value_parser = humantime::parse_duration)]
    pub restart_window: Duration,

    /// How often a room's simulation is checkpointed (restarts replay from the last one).
    #[arg(long, env = "RALLYPOINT_CHECKPOINT_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub checkpoint_interval: Duration,

    /// Serve POST /v1/admin/rooms/{id}/fault (tests and chaos runs); needs --admin-token.
    #[arg(long, env = "RALLYPOINT_ENABLE_FAULT_INJECTION")]
    pub enable_fault_injection: bool,

    /// Bearer token for the admin endpoints.
    #[arg(long, env = "RALLYPOINT_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Connect-token key, 64 hex digits. In this embedded mode a random key is generated when
    /// absent (tokens then only work for this process's lifetime).
    #[arg(long, env = "RALLYPOINT_TOKEN_KEY", value_parser = parse_key, hide_env_values = true)]
    pub token_key: Option<[u8; 32]>,

    /// A TOML file of these flags (keys are the long names, e.g. `tick-rate = 30`); the command
    /// line and the environment win over it.
    #[arg(long, env = "RALLYPOINT_CONFIG")]
    pub config: Option<std::path::PathBuf>,

    /// Print the effective configuration, where each value came from and with secrets masked,
    /// and exit.
    #[arg(long)]
    pub print_config: bool,

    /// Log lines as `pretty` text or `json` objects (`RUST_LOG` filters what is logged).
    #[arg(
        long,
        env = "RALLYPOINT_LOG_FORMAT",
        value_enum,
        default_value = "pretty"
    )]
    pub log_format: matchmaker::cli::LogFormat,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UdpPorts;

    #[test]
    fn port_ranges_parse_or_say_why_not() {
        assert_eq!(
            "7400-7999".parse(),
            Ok(UdpPorts::Range {
                first: 7400,
                last: 7999
            })
        );
        assert_eq!("9-9".parse(), Ok(UdpPorts::Range { first: 9, last: 9 }));
        assert_eq!("0".parse(), Ok(UdpPorts::Any));
        for bad in ["7400", "7999-7400", "0-10", "a-b", "1-70000", "00"] {
            assert!(bad.parse::<UdpPorts>().is_err(), "{bad}");
        }
        for ports in ["7400-7999", "9-9", "0"] {
            assert_eq!(ports.parse::<UdpPorts>().unwrap().to_string(), ports);
        }
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let args = ServerArgs::try_parse_from(["server"]).unwrap();
        assert_eq!(args.http, "127.0.0.1:7350".parse().unwrap());
        assert_eq!(
            args.udp_ports,
            UdpPorts::Range {
                first: 7400,
                last: 7999
            }
        );
        assert_eq!(args.tick_rate, 30);
        assert_eq!(args.match_duration, Duration::from_secs(60));
        assert!(ServerArgs::try_parse_from(["server", "--tick-rate", "0"]).is_err());
        assert!(ServerArgs::try_parse_from(["server", "--tick-rate", "129"]).is_err());
        let args = ServerArgs::try_parse_from(["server", "--match-duration", "5s"]).unwrap();
        assert_eq!(args.match_duration, Duration::from_secs(5));
        assert!(ServerArgs::try_parse_from(["server", "--token-key", "abc"]).is_err());
    }
}
