//! A game's server binary, whole ([`run`]: the engine's flags and the game's own, logging, the
//! role, signals, draining on the way out), and the role without the process around it
//! ([`serve`]: a listener and a shutdown future in, as tests and embedders want).
//!
//! A studio's `main` is a few lines: `server::run(|args: &MyArgs| args.game()).await`, where
//! `MyArgs` is the game's `clap::Args` struct (its own flags, flattened into the engine's) and
//! `game()` builds its [`Game`] value from them; `server/src/main.rs` is the one the `server`
//! package ships.

use clap::Parser;
use tokio::net::TcpListener;

use crate::{
    ClusterNode, EmbeddedServer, StartError,
    config::{DrainMode, ServerArgs},
    embedded::bind_http,
    game::Game,
};

/// The command line: the engine's flags with the game's flattened in.
#[derive(Debug, Clone, Parser)]
#[command(name = "server", version, about)]
struct Cli<A: clap::Args> {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    game: A,
}

/// Runs a server for the game `make_game` builds from its flags `A` (a `clap::Args` struct,
/// flattened into the engine's; `--config FILE` and `--print-config` cover both): an
/// embedded matchmaker and node by default, or a cluster node with `--role node`. Returns once
/// a signal (Ctrl-C, SIGTERM) has stopped it; a node drains first, so a rolling upgrade drops
/// no match.
///
/// # Errors
/// When the server cannot start (a port taken, Redis unreachable, flags that do not add up).
pub async fn run<A, G>(make_game: impl FnOnce(&A) -> G) -> anyhow::Result<()>
where
    A: clap::Args + Clone + std::fmt::Debug,
    G: Game,
{
    run_with_defaults(&[], make_game).await
}

/// [`run`], with the game's own defaults for the engine's flags: `(long name, value)` pairs
/// such as `("tick-rate", "10")` or `("modes", "name=hearts,players=4,time-limit=none")`, which
/// the command line, the environment and a `--config` file still override.
///
/// # Errors
/// As [`run`].
pub async fn run_with_defaults<A, G>(
    defaults: &[(&str, &'static str)],
    make_game: impl FnOnce(&A) -> G,
) -> anyhow::Result<()>
where
    A: clap::Args + Clone + std::fmt::Debug,
    G: Game,
{
    let cli: Cli<A> = matchmaker::cli::parse_with_defaults(defaults);
    let args = cli.server;
    let game = make_game(&cli.game);
    matchmaker::cli::init_logging(args.log_format);
    let (listener, _) = bind_http(args.http).await?;
    serve(listener, &args, game, shutdown_signal()).await?;
    Ok(())
}

/// Runs the role `args.role` names for `game`, its HTTP API on `listener` (rooms on
/// `args.udp_ports`; `0` lets the system pick), until `shutdown` resolves. A node then drains as
/// `--drain-mode` says and returns once its matches have left or ended; the embedded server
/// stops taking tickets and returns at once (running rooms end with the process).
///
/// # Errors
/// When the role cannot start (Redis unreachable, flags that do not add up).
pub async fn serve<G: Game>(
    listener: TcpListener,
    args: &ServerArgs,
    game: G,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    if args.role == "node" {
        let node = ClusterNode::start_on(listener, args, game).await?;
        println!(
            "rallypoint node {} listening: http://{} (rooms API for matchmakers), rooms on udp {} ports {}, region {}",
            node.id, node.http_addr, args.udp_bind, args.udp_ports, args.region
        );
        shutdown.await;
        match args.drain_mode {
            DrainMode::Finish => tracing::info!(
                rooms = node.node.rooms().len(),
                "draining: no new rooms; waiting for running matches to end"
            ),
            DrainMode::Migrate => {
                tracing::info!(
                    rooms = node.node.rooms().len(),
                    "draining: no new rooms; moving running matches to other nodes"
                );
                let report = node.migrate().await;
                for (room, why) in &report.stayed {
                    tracing::warn!(room, %why, "match stays here and plays to its end");
                }
                tracing::info!(
                    moved = report.moved.len(),
                    stayed = report.stayed.len(),
                    "waiting for moved matches' players to leave and staying matches to end"
                );
            }
        }
        node.drain().await;
        tracing::info!("drained; exiting");
        node.shutdown().await;
        return Ok(());
    }
    let server = EmbeddedServer::start_on(listener, args, game).await?;
    if server.generated_key {
        tracing::warn!(
            "no --token-key given: generated a random connect-token key for this process (embedded dev mode)"
        );
    }
    if let Some(token) = &server.generated_admin_token {
        tracing::warn!(
            "no --admin-token given: generated one for this process (embedded dev mode); dashboard with spectating: http://{}/dashboard#token={token}",
            server.http_addr
        );
    }
    println!(
        "rallypoint server listening: http://{} (matchmaker, /v1/health, /v1/rooms, /metrics, /dashboard), rooms on udp {} ports {}, tick {} Hz, matches {:?} of {} players",
        server.http_addr,
        args.udp_bind,
        args.udp_ports,
        args.tick_rate,
        args.match_duration,
        args.players_per_match,
    );
    shutdown.await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
