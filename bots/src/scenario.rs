//! Load-test scenarios, written in TOML:
//!
//! ```toml
//! name = "smoke"
//! grace = "30s"                 # after the last stage, how long matches may take to finish
//! thresholds = ["rtt_ms.p99 < 150", "errors.rate < 0.001"]
//!
//! [[stages]]                    # ramp linearly from the previous target to this one
//! duration = "10s"
//! target = 20
//!
//! [churn]
//! per_minute = 0.2              # share of playing bots that leave and queue again, per minute
//!
//! [[groups]]                    # who the bots are; bots are dealt to groups by weight
//! name = "home"
//! weight = 3
//! network = "broadband-p50"     # a link-conditioner preset
//! party_size = 1
//! region = "eu"                 # optional: the bots report this region as their best
//!
//! [[faults]]                    # through the server's fault-injection endpoint
//! at = "15s"
//! kind = "panic"                # panic | hang | slow (with ms)
//! ```

use std::{path::Path, time::Duration};

use protocol::{
    api::{FaultKind, FaultRequest},
    link::LinkProfile,
};
use serde::{Deserialize, Deserializer};

use crate::threshold::{BadThreshold, Threshold};

/// A scenario could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML does not describe a scenario.
    #[error("bad scenario: {0}")]
    Parse(#[from] toml::de::Error),
    /// It parses but does not make sense.
    #[error("bad scenario: {0}")]
    Invalid(String),
    /// A threshold does not parse.
    #[error(transparent)]
    Threshold(#[from] BadThreshold),
}

/// One stage: ramp linearly from the previous stage's target (0 at the start) to `target`
/// over `duration`; a stage that keeps the target holds it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// How long the stage lasts (`"30s"`, `"2m"`).
    #[serde(deserialize_with = "duration")]
    pub duration: Duration,
    /// Bots playing at the end of the stage.
    pub target: usize,
}

/// Churn: players leaving running matches early and queueing again.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Churn {
    /// Share of playing bots that leave (and queue again) per minute, e.g. 0.1.
    pub per_minute: f64,
}

/// A kind of bot.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Its name in reports.
    #[serde(default = "default_group_name")]
    pub name: String,
    /// Bots are dealt to groups in proportion to their weights.
    #[serde(default = "one")]
    pub weight: u32,
    /// Link-conditioner preset: `perfect`, `broadband-p50`, `broadband-p95`,
    /// `international-p95`, `unplayable`.
    #[serde(default = "default_network")]
    pub network: String,
    /// Game mode to queue for; absent, the game's own ([`Brain::MODE`](crate::Brain::MODE)).
    #[serde(default)]
    pub mode: Option<String>,
    /// Bots queue in parties of this many (the mode must have teams this large).
    #[serde(default = "one_usize")]
    pub party_size: usize,
    /// The region the bots give as their best (a latency of 20 ms to it); none if absent.
    #[serde(default)]
    pub region: Option<String>,
    /// Skill ratings spread over 1000 ± this.
    #[serde(default)]
    pub skill_spread: f64,
}

impl Default for Group {
    fn default() -> Self {
        Self {
            name: default_group_name(),
            weight: 1,
            network: default_network(),
            mode: None,
            party_size: 1,
            region: None,
            skill_spread: 0.0,
        }
    }
}

impl Group {
    /// The group's link profile (checked by [`Scenario::validate`]).
    pub fn link(&self) -> Option<LinkProfile> {
        LinkProfile::preset(&self.network).filter(|p| *p != LinkProfile::PERFECT)
    }
}

/// A fault injected into a random running room at a point of the run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultStep {
    /// When, from the start of the run.
    #[serde(deserialize_with = "duration")]
    pub at: Duration,
    /// `panic`, `hang` or `slow`.
    pub kind: FaultKind,
    /// For `slow`: milliseconds.
    #[serde(default)]
    pub ms: Option<u64>,
}

impl FaultStep {
    /// The request for the server's fault endpoint.
    pub fn request(&self) -> FaultRequest {
        FaultRequest {
            kind: self.kind,
            ms: self.ms,
        }
    }
}

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name, for reports.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// The load over time.
    pub stages: Vec<Stage>,
    /// After the last stage, how long running matches may take to finish.
    #[serde(default = "default_grace", deserialize_with = "duration")]
    pub grace: Duration,
    /// Players leaving and rejoining.
    #[serde(default)]
    pub churn: Option<Churn>,
    /// The bots' mix; one default group if absent.
    #[serde(default)]
    pub groups: Vec<Group>,
    /// Faults to inject.
    #[serde(default)]
    pub faults: Vec<FaultStep>,
    /// Pass/fail thresholds (see [`crate::threshold`]).
    #[serde(default)]
    pub thresholds: Vec<String>,
}

impl Scenario {
    /// `players` bots of one default group, all at once, for `duration`.
    pub fn steady(players: usize, duration: Duration) -> Self {
        Self {
            name: "steady".into(),
            description: String::new(),
            stages: vec![
                Stage {
                    duration: Duration::ZERO,
                    target: players,
                },
                Stage {
                    duration,
                    target: players,
                },
            ],
            grace: default_grace(),
            churn: None,
            groups: vec![Group::default()],
            faults: Vec::new(),
            thresholds: Vec::new(),
        }
    }

    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses and checks a scenario.
    pub fn parse(text: &str) -> Result<Self, ScenarioError> {
        let mut scenario: Self = toml::from_str(text)?;
        if scenario.groups.is_empty() {
            scenario.groups.push(Group::default());
        }
        scenario.validate()?;
        Ok(scenario)
    }

    /// Checks that the scenario makes sense (presets exist, sizes and shares in range,
    /// thresholds parse).
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let invalid = |m: String| Err(ScenarioError::Invalid(m));
        if self.stages.is_empty() {
            return invalid("a scenario needs at least one stage".into());
        }
        if self.max_target() > 100_000 {
            return invalid("at most 100000 bots".into());
        }
        for g in &self.groups {
            if LinkProfile::preset(&g.network).is_none() {
                return invalid(format!(
                    "group {:?}: unknown network {:?} (perfect, broadband-p50, broadband-p95, international-p95, unplayable)",
                    g.name, g.network
                ));
            }
            if g.weight == 0 || g.party_size == 0 || g.party_size > 64 {
                return invalid(format!(
                    "group {:?}: weight must be positive and party_size 1 to 64",
                    g.name
                ));
            }
        }
        if let Some(churn) = self.churn
            && !(0.0..=1.0).contains(&churn.per_minute)
        {
            return invalid("churn.per_minute is a share, 0 to 1".into());
        }
        for t in &self.thresholds {
            t.parse::<Threshold>()?;
        }
        Ok(())
    }

    /// The thresholds, parsed.
    pub fn parsed_thresholds(&self) -> Vec<Threshold> {
        self.thresholds
            .iter()
            .filter_map(|t| t.parse().ok())
            .collect()
    }

    /// The length of all stages together.
    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// The most bots any stage asks for.
    pub fn max_target(&self) -> usize {
        self.stages.iter().map(|s| s.target).max().unwrap_or(0)
    }

    /// Bots that should be playing `elapsed` into the run; 0 once the stages are over.
    pub fn target_at(&self, elapsed: Duration) -> usize {
        let mut from = 0usize;
        let mut start = Duration::ZERO;
        for stage in &self.stages {
            let end = start + stage.duration;
            if elapsed < end {
                let done = (elapsed - start).as_secs_f64() / stage.duration.as_secs_f64();
                let span = stage.target as f64 - from as f64;
                return (from as f64 + span * done).round() as usize;
            }
            from = stage.target;
            start = end;
        }
        0
    }

    /// Deals bot indices `0..n` to groups by weight, a party at a time, interleaved so any
    /// prefix of the bots (a ramp) has about the scenario's mix.
    pub fn slots(&self, n: usize) -> Vec<Slot> {
        let total: f64 = self.groups.iter().map(|g| f64::from(g.weight)).sum();
        let mut dealt = vec![0usize; self.groups.len()];
        let mut slots = Vec::with_capacity(n);
        let mut party = 0usize;
        while slots.len() < n {
            // The group furthest behind its share gets the next party.
            let next = slots.len() + 1;
            let g = (0..self.groups.len())
                .max_by(|&a, &b| {
                    let behind = |g: usize| {
                        next as f64 * f64::from(self.groups[g].weight) / total - dealt[g] as f64
                    };
                    behind(a).total_cmp(&behind(b)).then(b.cmp(&a))
                })
                .expect("at least one group");
            let size = self.groups[g].party_size;
            party += 1;
            for _ in 0..size.min(n - slots.len()) {
                slots.push(Slot {
                    group: g,
                    party: (size > 1).then_some(party),
                });
                dealt[g] += 1;
            }
        }
        slots
    }
}

/// Where one bot belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Index into the scenario's groups.
    pub group: usize,
    /// Its party's number, if its group plays in parties.
    pub party: Option<usize>,
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(serde::de::Error::custom)
}

fn default_group_name() -> String {
    "default".into()
}
fn default_network() -> String {
    "perfect".into()
}
fn default_grace() -> Duration {
    Duration::from_secs(120)
}
fn one() -> u32 {
    1
}
fn one_usize() -> usize {
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
        name = "mix"
        thresholds = ["rtt_ms.p99 < 150"]
        [[stages]]
        duration = "10s"
        target = 100
        [[stages]]
        duration = "20s"
        target = 100
        [[stages]]
        duration = "10s"
        target = 0
        [churn]
        per_minute = 0.1
        [[groups]]
        name = "home"
        weight = 3
        network = "broadband-p50"
        [[groups]]
        name = "squads"
        weight = 1
        network = "international-p95"
        party_size = 5
        [[faults]]
        at = "15s"
        kind = "panic"
    "#;

    #[test]
    fn stages_ramp_hold_and_ramp_down() {
        let s = Scenario::parse(EXAMPLE).unwrap();
        assert_eq!(s.duration(), Duration::from_secs(40));
        let at = |secs: f64| s.target_at(Duration::from_secs_f64(secs));
        assert_eq!((at(0.0), at(5.0), at(10.0), at(25.0)), (0, 50, 100, 100));
        assert_eq!((at(35.0), at(40.0), at(99.0)), (50, 0, 0));
        assert_eq!(s.faults[0].request().kind, FaultKind::Panic);
        assert_eq!(s.parsed_thresholds().len(), 1);
    }

    #[test]
    fn bots_are_dealt_by_weight_in_whole_parties_and_every_prefix_is_mixed() {
        let s = Scenario::parse(EXAMPLE).unwrap();
        let slots = s.slots(80);
        let squads: Vec<&Slot> = slots.iter().filter(|s| s.group == 1).collect();
        assert_eq!(squads.len(), 20, "a quarter of the bots");
        // Whole parties of five, numbered consecutively.
        for party in squads.chunks(5) {
            assert!(
                party
                    .iter()
                    .all(|s| s.party == party[0].party && s.party.is_some())
            );
        }
        // The first 20 bots already hold both groups.
        assert!(slots[..20].iter().any(|s| s.group == 1));
        assert!(slots[..20].iter().any(|s| s.group == 0));
    }

    #[test]
    fn mistakes_are_reported_clearly() {
        for (bad, says) in [
            ("name = 'x'\nstages = []", "at least one stage"),
            (
                "name = 'x'\n[[stages]]\nduration = '1s'\ntarget = 1\n[[groups]]\nnetwork = 'dial-up'",
                "unknown network",
            ),
            (
                "name = 'x'\nthresholds = ['p99 fast']\n[[stages]]\nduration = '1s'\ntarget = 1",
                "bad threshold",
            ),
            (
                "name = 'x'\n[[stages]]\nduration = 'soon'\ntarget = 1",
                "bad scenario",
            ),
            (
                "name = 'x'\nbogus = 1\n[[stages]]\nduration = '1s'\ntarget = 1",
                "bogus",
            ),
        ] {
            let e = Scenario::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn the_shipped_scenarios_are_valid() {
        for (name, text) in [
            ("smoke", include_str!("../scenarios/smoke.toml")),
            ("soak", include_str!("../scenarios/soak.toml")),
            (
                "capacity-ramp",
                include_str!("../scenarios/capacity-ramp.toml"),
            ),
            ("chaos", include_str!("../scenarios/chaos.toml")),
        ] {
            let s = Scenario::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(s.name, name);
            assert!(!s.thresholds.is_empty(), "{name} has thresholds");
        }
    }
}
