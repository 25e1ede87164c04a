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
    /// Largest skill difference accepted from a ticket that has just queued.
    pub skill_window: f64,
    /// How much the accepted difference grows per second of waiting.
    pub window_growth_per_s: f64,
    /// The accepted difference never grows beyond this.
    pub max_window: f64,
    /// A ticket queued longer than this expires with no match.
    pub max_wait: Duration,
}

impl ModeRules {
    /// The free-for-all arena mode: `players` per match, windows that widen from 100 to 1000
    /// rating points over 15 seconds, and a 120 s maximum wait.
    pub fn arena(players: usize) -> Self {
        Self {
            name: "arena".into(),
            players_per_match: players,
            skill_window: 100.0,
            window_growth_per_s: 60.0,
            max_window: 1000.0,
            max_wait: Duration::from_secs(120),
        }
    }

    /// The skill difference a ticket that has waited `waited` accepts.
    pub fn window(&self, waited: Duration) -> f64 {
        (self.skill_window + self.window_growth_per_s * waited.as_secs_f64()).min(self.max_window)
    }
}

/// One queued ticket as the match function sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Skill rating.
    pub skill: f64,
    /// Time spent in the queue so far.
    pub waited: Duration,
}

/// Groups candidates into matches.
///
/// The longest-waiting candidate without a match anchors the next group and takes the nearest
/// ratings around its own; two players are matched only if their difference is within both of
/// their windows. Returns groups of indices into `candidates`, each of exactly
/// `rules.players_per_match`; nobody appears twice.
pub fn find_matches(rules: &ModeRules, candidates: &[Candidate]) -> Vec<Vec<usize>> {
    let n = candidates.len();
    let size = rules.players_per_match;
    if size == 0 || n < size {
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
    let mut group = Vec::with_capacity(size);
    for &anchor in &oldest_first {
        if taken[anchor] {
            continue;
        }
        let skill = candidates[anchor].skill;
        let window = windows[anchor];
        group.clear();
        group.push(anchor);
        let (mut left, mut right) = (prev[rank[anchor]], next[rank[anchor]]);
        while group.len() < size {
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
            if d <= windows[candidate] {
                group.push(candidate);
            }
        }
        if group.len() == size {
            for &i in &group {
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
        Candidate {
            skill,
            waited: Duration::from_secs(waited_s),
        }
    }

    fn rules(size: usize) -> ModeRules {
        ModeRules::arena(size)
    }

    #[test]
    fn groups_players_of_similar_skill() {
        let cands = [c(1000.0, 0), c(1500.0, 0), c(1010.0, 0), c(1490.0, 0)];
        let mut groups = find_matches(&rules(2), &cands);
        groups.iter_mut().for_each(|g| g.sort());
        groups.sort();
        assert_eq!(groups, vec![vec![0, 2], vec![1, 3]]);
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
        assert!(groups[0].contains(&1), "{groups:?}");
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
            for &i in g {
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
}
