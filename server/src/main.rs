//! The `server` binary: embedded matchmaker + node on loopback by default.

use clap::Parser;
use server::{ClusterNode, EmbeddedServer, config::ServerArgs};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = ServerArgs::parse();
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
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("shutting down"),
        }
        node.shutdown().await;
        return Ok(());
    }
    let server = EmbeddedServer::start(&args).await?;
    if server.generated_key {
        tracing::warn!(
            "no --token-key given: generated a random connect-token key for this process (embedded dev mode)"
        );
    }
    println!(
        "rallypoint server listening: http://{} (matchmaker + /v1/health + /v1/rooms), rooms on udp {}:{}-{}, tick {} Hz, matches {:?} of {} players",
        server.http_addr,
        args.udp_bind,
        args.udp_ports.first,
        args.udp_ports.last,
        args.tick_rate,
        args.match_duration,
        args.players_per_match,
    );
    let stop = tokio::spawn(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    tokio::select! {
        _ = stop => tracing::info!("shutting down"),
    }
    server.shutdown().await;
    Ok(())
}
