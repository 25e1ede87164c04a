//! The `server` binary: embedded matchmaker + node on loopback by default.

use server::{
    ClusterNode, EmbeddedServer,
    config::{DrainMode, ServerArgs},
};

// Every room tick allocates and frees small buffers (messages, packets, per-client views);
// with the system allocator that was about a fifth of the server's CPU under load
// (BENCHMARKS.md, capacity).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: ServerArgs = matchmaker::cli::parse();
    matchmaker::cli::init_logging(args.log_format);
    if args.role == "node" {
        let node = ClusterNode::start(&args).await?;
        println!(
            "rallypoint node {} listening: http://{} (rooms API for matchmakers), rooms on udp {}:{}-{}, region {}",
            node.id,
            node.http_addr,
            args.udp_bind,
            args.udp_ports.first,
            args.udp_ports.last,
            args.region
        );
        // SIGTERM or Ctrl-C: drain, so a rolling upgrade drops no match.
        shutdown_signal().await;
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
    let server = EmbeddedServer::start(&args).await?;
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
        "rallypoint server listening: http://{} (matchmaker, /v1/health, /v1/rooms, /metrics, /dashboard), rooms on udp {}:{}-{}, tick {} Hz, matches {:?} of {} players",
        server.http_addr,
        args.udp_bind,
        args.udp_ports.first,
        args.udp_ports.last,
        args.tick_rate,
        args.match_duration,
        args.players_per_match,
    );
    shutdown_signal().await;
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
