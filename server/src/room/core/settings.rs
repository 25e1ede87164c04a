//! How a room is set up: the players it expects, its rules and its supervision.

use std::time::Duration;

use super::super::sync::SyncSettings;

/// A player the match was made for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExpectedPlayer {
    /// The player's id.
    pub player_id: String,
    /// The ticket that placed them.
    pub ticket_id: String,
    /// Their team.
    pub team: u8,
}

/// When a room asks the matchmaker for a replacement player.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Backfill {
    /// A player who dropped (rather than left) gets this long to reconnect first.
    pub grace: Duration,
    /// No replacement is asked for with less than this left to play.
    pub min_remaining: Duration,
}

impl Default for Backfill {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(5),
            min_remaining: Duration::from_secs(10),
        }
    }
}

/// How a room is supervised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Supervision {
    /// More than this many restarts within `window` fails the room.
    pub max_restarts: u32,
    /// The restart-intensity window.
    pub window: Duration,
    /// How often the simulation is checkpointed.
    pub checkpoint_interval: Duration,
}

impl Default for Supervision {
    fn default() -> Self {
        Self {
            max_restarts: 3,
            window: Duration::from_secs(10),
            checkpoint_interval: Duration::from_secs(1),
        }
    }
}

/// How a room runs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RoomSettings {
    /// The room's id (also in every connect token for it).
    pub room_id: u64,
    /// Ticks per second.
    pub tick_rate: u16,
    /// Length of the match once it starts; `None`: no clock, only the game ends it.
    pub match_duration: Option<Duration>,
    /// How long to wait for every expected player before starting with those present (or
    /// closing if fewer than `min_players` came).
    pub join_timeout: Duration,
    /// Fewest players present for the match to start once the join timeout is over.
    pub min_players: usize,
    /// How long the room stays open after the match ends, so results are delivered.
    pub linger: Duration,
    /// Seed for the game's random source.
    pub seed: u64,
    /// Everyone the match was made for; a player's index here is its [`Slot`](crate::room::Slot).
    pub expected: Vec<ExpectedPlayer>,
    /// Restart limits and checkpoint interval.
    pub supervision: Supervision,
    /// Interest radius and per-client snapshot budget.
    pub sync: SyncSettings,
    /// Replacements for players who leave a running match; `None` plays on short-handed.
    pub backfill: Option<Backfill>,
}

impl RoomSettings {
    /// A match of `players` at 30 Hz with the defaults (60 s, 2 s to join, 1 s linger, no
    /// backfill): what tests, benchmarks and fuzz targets adjust from. Player `i` is
    /// `p{i}` on team `i` with ticket `{i:032x}`.
    pub fn for_players(room_id: u64, seed: u64, players: usize) -> Self {
        Self {
            room_id,
            tick_rate: 30,
            match_duration: Some(Duration::from_secs(60)),
            join_timeout: Duration::from_secs(2),
            min_players: 1,
            linger: Duration::from_secs(1),
            seed,
            expected: (0..players)
                .map(|i| ExpectedPlayer {
                    player_id: format!("p{i}"),
                    ticket_id: format!("{i:032x}"),
                    team: i as u8,
                })
                .collect(),
            supervision: Supervision::default(),
            sync: SyncSettings::default(),
            backfill: None,
        }
    }

    /// Ticks in `d`, rounded up.
    pub fn ticks(&self, d: Duration) -> u32 {
        (d.as_secs_f64() * f64::from(self.tick_rate)).ceil() as u32
    }

    /// Seconds per tick.
    pub fn dt(&self) -> f32 {
        1.0 / f32::from(self.tick_rate.max(1))
    }
}
