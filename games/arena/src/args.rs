//! The arena's own command-line flags, flattened into its server's (see `server::run`).

use crate::ArenaGame;

fn parse_size(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (10.0..=2000.0).contains(&v) => Ok(v),
        _ => Err(format!("arena size must be 10 to 2000 units, got {s:?}")),
    }
}

/// The arena's flags.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct ArenaArgs {
    /// Side of the square arena, world units (e.g. 300 for 100-player rooms).
    #[arg(long, env = "RALLYPOINT_ARENA_SIZE", default_value = "100", value_parser = parse_size)]
    pub arena_size: f32,

    /// Kills that end an arena match early.
    #[arg(long, env = "RALLYPOINT_SCORE_LIMIT", default_value = "25")]
    pub score_limit: u32,
}

impl ArenaArgs {
    /// The arena these flags describe.
    pub fn game(&self) -> ArenaGame {
        ArenaGame::new(self.arena_size, self.score_limit)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        arena: ArenaArgs,
    }

    #[test]
    fn defaults_and_bounds() {
        let cli = Cli::try_parse_from(["server"]).unwrap();
        assert_eq!(cli.arena.game().rules.size, 100.0);
        assert_eq!(cli.arena.score_limit, 25);
        let cli = Cli::try_parse_from(["server", "--arena-size", "300"]).unwrap();
        assert_eq!(cli.arena.game().rules.size, 300.0);
        let err = Cli::try_parse_from(["server", "--arena-size", "5"]).unwrap_err();
        assert!(err.to_string().contains("10 to 2000"), "{err}");
    }
}
