//! Coins' server: the engine playing Coins (an embedded matchmaker and node on loopback by
//! default, `--role node` for a cluster; every engine flag works), four runners a match,
//! 20 ticks a second, a 90 s clock.

use clap::Args;
use template::CoinsGame;

/// Coins' own flags, flattened into the engine's.
#[derive(Debug, Clone, Args)]
struct CoinsArgs {
    /// Coins that win a match.
    #[arg(long, env = "RALLYPOINT_COINS_GOAL", default_value = "10")]
    goal: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    server::run_with_defaults(
        &[
            ("modes", "name=coins,players=4,time-limit=90s"),
            ("tick-rate", "20"),
        ],
        |args: &CoinsArgs| CoinsGame::new("coins", args.goal),
    )
    .await
}
