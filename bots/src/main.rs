//! The `bots` binary: the swarm for the games that ship with the platform (`--game arena` or
//! `--game hearts`); everything else is [`bots::cli`].

use std::process::ExitCode;

use bots::{
    cli::{SwarmArgs, run_args},
    games::{ArenaBot, HeartsBot},
};
use clap::{Parser, ValueEnum};

// Thousands of bots allocate and free small buffers every frame (packets, snapshots); mimalloc
// takes a measured share of the load generator's CPU off (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Rallypoint bot swarm: bots that queue, connect and play real matches of a game.
#[derive(Debug, Parser)]
#[command(name = "bots", version, about)]
struct Args {
    /// The game the bots play.
    #[arg(long, env = "RALLYPOINT_BOTS_GAME", value_enum, default_value_t = Game::Arena)]
    game: Game,
    #[command(flatten)]
    swarm: SwarmArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Game {
    Arena,
    Hearts,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.game {
        Game::Arena => run_args::<ArenaBot>(args.swarm),
        Game::Hearts => run_args::<HeartsBot>(args.swarm),
    }
}
