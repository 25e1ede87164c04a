//! Hearts' server binary: the engine playing Hearts (an embedded matchmaker and node on
//! loopback by default, `--role node` for a cluster), four players a table, no match clock
//! (the game ends when someone reaches the target score), ten ticks a second.

use clap::Args;
use hearts::HeartsGame;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Hearts' own flags, flattened into the engine's.
#[derive(Debug, Clone, Args)]
struct HeartsArgs {
    /// Points that end the game, after the hand in which someone reaches them.
    #[arg(long, env = "RALLYPOINT_TARGET_SCORE", default_value = "100")]
    target_score: u16,
    /// Seconds a player has to play before the timer plays for them.
    #[arg(long, env = "RALLYPOINT_TURN_SECONDS", default_value = "20")]
    turn_seconds: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    server::run_with_defaults(
        &[
            ("modes", "name=hearts,players=4,time-limit=none"),
            ("tick-rate", "10"),
        ],
        |args: &HeartsArgs| HeartsGame::new("hearts", args.target_score, args.turn_seconds),
    )
    .await
}
