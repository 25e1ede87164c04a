//! Coins' bot swarm: the whole load-testing tool (`bots --help`) playing Coins.

use std::process::ExitCode;

fn main() -> ExitCode {
    bots::cli::main::<template::CoinsBot>()
}
