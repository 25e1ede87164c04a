//! Match rules and the match function.
//!
//! The match function is pure: given the queued candidates of one mode and how long each has
//! waited, it returns groups to play together. It never touches a store or a clock, so it can be
//! tested and benchmarked on its own.

use std::time::Duration;

/// How one game mode makes matches.
#[derive(Debug, Clone, PartialEq)]
pub struct ModeRules {
    /// The mode's name, as clients send it.
    pub name: String,
    /// Players in one match.
    pub players_per_match: usize,
    /// Teams in one match, each of `players_per_match / teams` players; a party always plays
    /// on one team. As many teams as players is free-for-all.
    pub teams: usize,
    /// Largest skill difference accepted from a ticket that has just queued.
    pub skill_window: f64,
    /// How much the accepted difference grows per second of waiting.
    pub window_growth_per_s: f64,
    /// The accepted difference never grows beyond this.
    pub max_window: f64,
    /// A ticket queued longer than this expires with no match.
    pub max_wait: Duration,
    /// How the mode's rooms run (sent with each room request).
    pub room: protocol::api::RoomRules,
}

impl ModeRules {
    /// A free-for-all mode named `name`: `players` per match, windows that widen from 100 to
    /// 1000 rating points over 15 seconds, and a 120 s maximum wait.
    pub fn free_for_all(name: &str, players: usize) -> Self {
        Self {
            name: name.into(),
            players_per_match: players,
            teams: players,
            skill_window: 100.0,
            window_growth_per_s: 60.0,
            max_window: 1000.0,
            max_wait: Duration::from_secs(120),
            room: protocol::api::RoomRules::default(),
        }
    }

    /// The same mode played in `teams` teams (`players_per_match` must divide evenly).
    pub fn with_teams(mut self, teams: usize) -> Self {
        self.teams = teams;
        self
    }

    /// The mode `name` for `players`, free-for-all or in `teams` equal teams.
    pub fn in_teams(name: &str, players: usize, teams: Option<usize>) -> Result<Self, UnevenTeams> {
        let Some(teams) = teams else {
            return Ok(Self::free_for_all(name, players));
        };
        if teams == 0 || teams > players || !players.is_multiple_of(teams) || teams > 256 {
            return Err(UnevenTeams { players, teams });
        }
        Ok(Self::free_for_all(name, players).with_teams(teams))
    }

    /// Players per team.
    pub fn team_size(&self) -> usize {
        self.players_per_match / self.teams.max(1)
    }

    /// The skill difference a ticket that has waited `waited` accepts.
    pub fn window(&self, waited: Duration) -> f64 {
        (self.skill_window + self.window_growth_per_s * waited.as_secs_f64()).min(self.max_window)
    }
}

/// The players of a match cannot be split into that many equal teams.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{players} players per match cannot be split into {teams} equal teams (at most 256)")]
pub struct UnevenTeams {
    /// Players per match.
    pub players: usize,
    /// Teams asked for.
    pub teams: usize,
}

/// One queued unit as the match function sees it: a solo player or a whole party.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Skill rating (a party's mean).
    pub skill: f64,
    /// Time spent in the queue so far (a party's longest).
    pub waited: Duration,
    /// Players in the unit: 1, or the party's size.
    pub players: usize,
}

impl Candidate {
    /// A solo player.
    pub fn solo(skill: f64, waited: Duration) -> Self {
        Self {
            skill,
            waited,
            players: 1,
        }
    }
}

/// A candidate placed in a match, on a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Placed {
    /// Index into the candidates.
    pub candidate: usize,
    /// Team number, `0..rules.teams`.
    pub team: u8,
}

/// Groups candidates into matches and teams.
///
/// The longest-waiting candidate without a match anchors the next group and takes the nearest
/// ratings around its own; two candidates are matched only if their difference is within both
/// of their windows. A candidate joins the fullest team it fits in whole, so parties stay
/// together; one that fits nowhere is passed over. Returns groups whose players add up to
/// exactly `rules.players_per_match`, with every team full; nobody appears twice.
pub fn find_matches(rules: &ModeRules, candidates: &[Candidate]) -> Vec<Vec<Placed>> {
    let n = candidates.len();
    let size = rules.players_per_match;
    let team_size = rules.team_size();
    if size == 0 || rules.teams == 0 || team_size * rules.teams != size || n == 0 {
        return Vec::new();
    }
    if candidates.iter().map(|c| c.players).sum::<usize>() < size {
        return Vec::new();
    }
    let windows: Vec<f64> = candidates.iter().map(|c| rules.window(c.waited)).collect();

    // Candidates in skill order, as a doubly linked list so taken ones unlink in O(1).
    let mut by_skill: Vec<usize> = (0..n).collect();
    by_skill.sort_by(|&a, &b| candidates[a].skill.total_cmp(&candidates[b].skill));
    let mut rank = vec![0usize; n];
    for (r, &i) in by_skill.iter().enumerate() {
        rank[i] = r;
    }
    const NONE: usize = usize::MAX;
    let mut prev: Vec<usize> = (0..n).map(|r| if r == 0 { NONE } else { r - 1 }).collect();
    let mut next: Vec<usize> = (0..n)
        .map(|r| if r + 1 == n { NONE } else { r + 1 })
        .collect();
    let mut taken = vec![false; n];

    let mut oldest_first: Vec<usize> = (0..n).collect();
    oldest_first.sort_by(|&a, &b| candidates[b].waited.cmp(&candidates[a].waited));

    let mut groups = Vec::new();
    let mut group: Vec<Placed> = Vec::with_capacity(size);
    let mut fill = vec![0usize; rules.teams];
    for &anchor in &oldest_first {
        if taken[anchor] || candidates[anchor].players > team_size {
            continue;
        }
        let skill = candidates[anchor].skill;
        let window = windows[anchor];
        group.clear();
        fill.iter_mut().for_each(|f| *f = 0);
        let mut players = 0;
        // The fullest team the unit fits in whole, if any.
        let place = |fill: &[usize], unit: usize| {
            (0..fill.len())
                .filter(|&t| fill[t] + unit <= team_size)
                .max_by_key(|&t| (fill[t], std::cmp::Reverse(t)))
        };
        let team = place(&fill, candidates[anchor].players).expect("checked above");
        fill[team] += candidates[anchor].players;
        players += candidates[anchor].players;
        group.push(Placed {
            candidate: anchor,
            team: team as u8,
        });
        let (mut left, mut right) = (prev[rank[anchor]], next[rank[anchor]]);
        while players < size {
            let dist = |r: usize| {
                if r == NONE {
                    f64::INFINITY
                } else {
                    (candidates[by_skill[r]].skill - skill).abs()
                }
            };
            let (dl, dr) = (dist(left), dist(right));
            let (r, d) = if dl <= dr { (left, dl) } else { (right, dr) };
            if d > window {
                break; // everything further out is further still
            }
            if r == left {
                left = prev[left];
            } else {
                right = next[right];
            }
            let candidate = by_skill[r];
            if d > windows[candidate] {
                continue;
            }
            if let Some(team) = place(&fill, candidates[candidate].players) {
                fill[team] += candidates[candidate].players;
                players += candidates[candidate].players;
                group.push(Placed {
                    candidate,
                    team: team as u8,
                });
            }
        }
        if players == size {
            for &Placed { candidate: i, .. } in &group {
                taken[i] = true;
                let r = rank[i];
                if prev[r] != NONE {
                    next[prev[r]] = next[r];
                }
                if next[r] != NONE {
                    prev[next[r]] = prev[r];
                }
            }
            groups.push(group.clone());
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(skill: f64, waited_s: u64) -> Candidate {
        Candidate::solo(skill, Duration::from_secs(waited_s))
    }

    fn party(skill: f64, waited_s: u64, players: usize) -> Candidate {
        Candidate {
            players,
            ..c(skill, waited_s)
        }
    }

    /// Candidate indices of each group, sorted.
    fn members(groups: &[Vec<Placed>]) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = groups
            .iter()
            .map(|g| {
                let mut m: Vec<usize> = g.iter().map(|p| p.candidate).collect();
                m.sort();
                m
            })
            .collect();
        out.sort();
        out
    }

    fn rules(size: usize) -> ModeRules {
        ModeRules::free_for_all("ffa", size)
    }

    #[test]
    fn groups_players_of_similar_skill() {
        let cands = [c(1000.0, 0), c(1500.0, 0), c(1010.0, 0), c(1490.0, 0)];
        let groups = find_matches(&rules(2), &cands);
        assert_eq!(members(&groups), vec![vec![0, 2], vec![1, 3]]);
        // Free-for-all: everyone on a team of their own.
        for g in &groups {
            assert_ne!(g[0].team, g[1].team);
        }
    }

    #[test]
    fn far_apart_players_wait_until_windows_widen() {
        let r = rules(2);
        assert!(find_matches(&r, &[c(1000.0, 0), c(1400.0, 0)]).is_empty());
        // After 10 s both windows are 100 + 600 = 700 >= 400.
        assert_eq!(find_matches(&r, &[c(1000.0, 10), c(1400.0, 10)]).len(), 1);
        // Both windows must accept: a fresh ticket's narrow window refuses the veteran.
        assert!(find_matches(&r, &[c(1000.0, 10), c(1400.0, 0)]).is_empty());
    }

    #[test]
    fn oldest_ticket_is_served_first_and_nobody_twice() {
        // Three candidates for one 2-player slot: the one who waited longest gets in.
        let cands = [c(1000.0, 1), c(1001.0, 5), c(1002.0, 0)];
        let groups = find_matches(&rules(2), &cands);
        assert_eq!(groups.len(), 1);
        assert!(members(&groups)[0].contains(&1), "{groups:?}");
    }

    #[test]
    fn many_candidates_every_group_full_and_disjoint() {
        let cands: Vec<_> = (0..1000)
            .map(|i| c(f64::from(i % 300) * 3.0, i as u64 % 20))
            .collect();
        let groups = find_matches(&rules(10), &cands);
        let mut seen = vec![false; cands.len()];
        for g in &groups {
            assert_eq!(g.len(), 10);
            for &Placed { candidate: i, .. } in g {
                assert!(!seen[i], "candidate {i} matched twice");
                seen[i] = true;
            }
        }
        assert!(groups.len() >= 90, "only {} groups", groups.len());
    }

    #[test]
    fn too_few_candidates_make_no_match() {
        assert!(find_matches(&rules(10), &vec![c(1000.0, 100); 9]).is_empty());
        assert_eq!(find_matches(&rules(10), &vec![c(1000.0, 100); 10]).len(), 1);
    }

    #[test]
    fn parties_play_together_on_one_team_and_teams_fill_exactly() {
        let r = ModeRules::free_for_all("ffa", 6).with_teams(2);
        // A party of 3, a party of 2 and four solos; all near in skill.
        let cands = [
            party(1000.0, 5, 3),
            party(1010.0, 4, 2),
            c(970.0, 3),
            c(1040.0, 2),
            c(1030.0, 1),
            c(960.0, 0),
        ];
        let groups = find_matches(&r, &cands);
        assert_eq!(groups.len(), 1, "{groups:?}");
        let g = &groups[0];
        let players: usize = g.iter().map(|p| cands[p.candidate].players).sum();
        assert_eq!(players, 6);
        for team in 0..2u8 {
            let on_team: usize = g
                .iter()
                .filter(|p| p.team == team)
                .map(|p| cands[p.candidate].players)
                .sum();
            assert_eq!(on_team, 3, "team {team} in {g:?}");
        }
        // The party of 3 fills a team; the party of 2 shares the other with one solo.
        assert!(g.iter().any(|p| p.candidate == 0));
        assert!(g.iter().any(|p| p.candidate == 1));
    }

    #[test]
    fn a_party_larger_than_a_team_or_one_that_cannot_fit_is_passed_over() {
        // Free-for-all: teams of one; a party of two never plays.
        let ffa = rules(2);
        assert!(find_matches(&ffa, &[party(1000.0, 9, 2)]).is_empty());
        assert!(find_matches(&ffa, &[party(1000.0, 9, 2), c(1000.0, 0)]).is_empty());
        // Teams of 2: two parties of 2 make a match; a party of 2 with one solo does not.
        let teams = ModeRules::free_for_all("ffa", 4).with_teams(2);
        assert_eq!(
            find_matches(&teams, &[party(1000.0, 1, 2), party(1000.0, 0, 2)]).len(),
            1
        );
        assert!(find_matches(&teams, &[party(1000.0, 1, 2), c(1000.0, 0)]).is_empty());
    }
}
