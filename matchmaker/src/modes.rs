//! Modes as configuration: `--modes "name=duel,players=2,teams=2,time-limit=3m"` (repeatable),
//! or in the config file a `[[modes]]` table each (the loader turns each table into one
//! `--modes` value). Without any, a binary runs one mode from `--players-per-match` and
//! `--teams`.
//!
//! Keys: `name` and `players` (required); `teams` (free-for-all without), `min-players` (to
//! start once the join timeout is over), `time-limit` (a duration, or `none`: only the game
//! ends the match), `join-timeout` and `max-wait` (durations). The room's rules go to the node
//! with each room request; what a mode leaves out, the node decides from its own flags.

use std::str::FromStr;

use protocol::api::{RoomRules, TimeLimit};

use crate::rules::ModeRules;

/// Why a mode's description was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeSpecError {
    /// A part is not `key=value`.
    #[error("{0:?} is not key=value")]
    NotKeyValue(String),
    /// A key no mode has.
    #[error(
        "unknown key {0:?}; known: name, players, teams, min-players, time-limit, join-timeout, max-wait"
    )]
    UnknownKey(String),
    /// A value that does not parse.
    #[error("{key}: {why}")]
    BadValue {
        /// The key.
        key: String,
        /// What is wrong.
        why: String,
    },
    /// `name` or `players` missing.
    #[error("a mode needs {0}")]
    Missing(&'static str),
    /// Players that do not split into the teams, or a minimum above the players.
    #[error(transparent)]
    Rules(#[from] crate::UnevenTeams),
    /// More players to start than the match holds.
    #[error("min-players {min} is more than the {players} players of a match")]
    MinAbovePlayers {
        /// The minimum.
        min: usize,
        /// Players per match.
        players: usize,
    },
}

/// Most players one match may hold.
const MAX_PLAYERS: usize = 256;

impl FromStr for ModeRules {
    type Err = ModeSpecError;

    fn from_str(spec: &str) -> Result<Self, ModeSpecError> {
        let (mut name, mut players, mut teams) = (None, None, None);
        let (mut room, mut max_wait) = (RoomRules::default(), None);
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| ModeSpecError::NotKeyValue(part.into()))?;
            let (key, value) = (key.trim().replace('_', "-"), value.trim());
            let bad = |why: String| ModeSpecError::BadValue {
                key: key.clone(),
                why,
            };
            let count = |v: &str| match v.parse::<usize>() {
                Ok(n @ 1..=MAX_PLAYERS) => Ok(n),
                _ => Err(bad(format!("{v:?} is not 1 to {MAX_PLAYERS}"))),
            };
            let duration = |v: &str| humantime::parse_duration(v).map_err(|e| bad(e.to_string()));
            match key.as_str() {
                "name" if !value.is_empty() && value.len() <= 64 => name = Some(value.to_string()),
                "name" => return Err(bad("1 to 64 characters".into())),
                "players" => players = Some(count(value)?),
                "teams" => teams = Some(count(value)?),
                "min-players" => room.min_players = Some(count(value)? as u16),
                "time-limit" if value == "none" => room.time_limit = Some(TimeLimit::None),
                "time-limit" => {
                    room.time_limit = Some(TimeLimit::Ms(duration(value)?.as_millis() as u64))
                }
                "join-timeout" => room.join_timeout_ms = Some(duration(value)?.as_millis() as u64),
                "max-wait" => max_wait = Some(duration(value)?),
                _ => return Err(ModeSpecError::UnknownKey(key)),
            }
        }
        let name = name.ok_or(ModeSpecError::Missing("a name"))?;
        let players = players.ok_or(ModeSpecError::Missing("players"))?;
        if let Some(min) = room.min_players.map(usize::from)
            && min > players
        {
            return Err(ModeSpecError::MinAbovePlayers { min, players });
        }
        let mut rules = ModeRules::in_teams(&name, players, teams)?;
        rules.room = room;
        if let Some(wait) = max_wait {
            rules.max_wait = wait;
        }
        Ok(rules)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The time limit a mode asks for: `None` when it leaves it to the node.
    fn time_limit(rules: &ModeRules) -> Option<Option<Duration>> {
        rules.room.time_limit.map(|limit| match limit {
            TimeLimit::Ms(ms) => Some(Duration::from_millis(ms)),
            TimeLimit::None => None,
        })
    }

    #[test]
    fn a_mode_spec_sets_what_it_names_and_leaves_the_rest() {
        let duel: ModeRules = "name=duel, players=2, teams=2, time-limit=90s, max-wait=30s"
            .parse()
            .unwrap();
        assert_eq!(
            (duel.name.as_str(), duel.players_per_match, duel.teams),
            ("duel", 2, 2)
        );
        assert_eq!(time_limit(&duel), Some(Some(Duration::from_secs(90))));
        assert_eq!(duel.max_wait, Duration::from_secs(30));
        assert_eq!(duel.room.join_timeout_ms, None, "left to the node");
        let cards: ModeRules =
            "name=hearts,players=4,time-limit=none,min-players=4,join-timeout=20s"
                .parse()
                .unwrap();
        assert_eq!(cards.teams, 4, "free-for-all");
        assert_eq!(time_limit(&cards), Some(None));
        assert_eq!(cards.room.min_players, Some(4));
        assert_eq!(cards.room.join_timeout_ms, Some(20_000));
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, says) in [
            ("players=2", "needs a name"),
            ("name=x", "needs players"),
            ("name=x,players=0", "not 1 to 256"),
            ("name=x,players=3,teams=2", "equal teams"),
            ("name=x,players=2,min-players=3", "more than the 2 players"),
            ("name=x,players=2,colour=red", "unknown key \"colour\""),
            ("name=x,players=2,time-limit=soon", "time-limit"),
            ("name=x,players", "is not key=value"),
        ] {
            let err = spec.parse::<ModeRules>().unwrap_err().to_string();
            assert!(err.contains(says), "{spec}: {err}");
        }
    }
}
