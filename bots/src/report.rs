//! What a swarm measured, and the JSON report it writes.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Mutex,
    time::Duration,
};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Percentiles of a latency, milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
}

impl Percentiles {
    /// Like [`Percentiles::of`] for histograms recorded as value + 1 (thousandths).
    fn of_offset(h: &Histogram<u64>) -> Self {
        let p = Self::of(h);
        let minus = |v: f64| {
            if p.count == 0 {
                0.0
            } else {
                (v - 0.001).max(0.0)
            }
        };
        Self {
            p50: minus(p.p50),
            p99: minus(p.p99),
            max: minus(p.max),
            ..p
        }
    }

    /// Percentiles of counts per value (`counts[v]` samples of value `v`; the last entry holds
    /// everything at or above it, read as its index).
    pub fn of_counts(counts: &[u64]) -> Self {
        let count: u64 = counts.iter().sum();
        if count == 0 {
            return Self::default();
        }
        let at = |q: f64| {
            let rank = ((q * count as f64).ceil() as u64).max(1);
            let mut seen = 0;
            counts
                .iter()
                .position(|&n| {
                    seen += n;
                    seen >= rank
                })
                .unwrap_or(0) as f64
        };
        Self {
            count,
            p50: at(0.5),
            p99: at(0.99),
            max: counts.iter().rposition(|&n| n > 0).unwrap_or(0) as f64,
        }
    }

    fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.5)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

/// One second of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sample {
    /// Seconds since the start.
    pub t_s: f64,
    /// Bots the scenario wanted playing.
    pub target: usize,
    /// Bots waiting in the queue.
    pub queued: usize,
    /// Bots in a room.
    pub playing: usize,
    /// Matches completed so far.
    pub matches_completed: u64,
    /// Errors so far.
    pub errors: u64,
    /// RTT p99 over this second's samples, ms (0 without samples).
    pub rtt_p99_ms: f64,
    /// Time-to-match p99 of the tickets assigned this second, ms (0 without any).
    pub time_to_match_p99_ms: f64,
    /// The server's own view, when one was given to sample.
    pub server: Option<ServerSample>,
}

/// The server's own view at a sample (its `/v1/health` and `/v1/rooms`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerSample {
    /// Players connected (CCU).
    pub players: usize,
    /// Rooms running.
    pub rooms: usize,
    /// The worst room's tick-time p99, µs.
    pub tick_p99_us: u64,
    /// The server process's CPU time so far, ms.
    pub cpu_ms: u64,
    /// The server process's resident memory, bytes (a soak's leak shows here).
    pub rss_bytes: u64,
}

/// The swarm's report (also the `--report-json` file).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// Bots run (the most the scenario asked for at once).
    pub players: usize,
    /// Wall time of the run, seconds.
    pub duration_s: f64,
    /// Distinct matches whose results at least one bot received.
    pub matches_completed: u64,
    /// Matches played to the end, counted per bot.
    pub player_matches_completed: u64,
    /// Tickets created.
    pub tickets_created: u64,
    /// Tickets that got a room.
    pub tickets_assigned: u64,
    /// Tickets cancelled because the run ended while they queued.
    pub tickets_cancelled: u64,
    /// From creating a ticket to holding an assignment.
    pub time_to_match_ms: Percentiles,
    /// Round-trip time, sampled once a second per connected bot.
    pub rtt_ms: Percentiles,
    /// From holding an assignment to the room's welcome.
    pub connect_ms: Percentiles,
    /// How far the gap between two new snapshots strays from the tick interval.
    pub snapshot_jitter_ms: Percentiles,
    /// From sending an input to a snapshot that acknowledges it.
    pub input_ack_ms: Percentiles,
    /// Ticks each input waited in its room between arriving and being applied, from the
    /// room's own counts over the run (the server's `/v1/health`; empty when the bots' URL is
    /// a standalone matchmaker, which runs no rooms). Not milliseconds: ticks.
    pub input_delay_ticks: Percentiles,
    /// Share of the inputs applied in the run that reached the room after their tick (the
    /// room's own count, as `input_delay_ticks`).
    pub inputs_late_share: f64,
    /// Share of the inputs applied in the run that were merged with a newer one for the same
    /// tick.
    pub inputs_merged_share: f64,
    /// Distance between where a bot predicted its avatar after an input and where the room
    /// put it, world units (a player is 2 units wide).
    pub prediction_error: Percentiles,
    /// Connections that ended before the match did, not by the bot's choice.
    pub disconnects_unexpected: u64,
    /// Times a bot's room failed and it was placed again from the queue (not an error).
    pub rooms_failed: u64,
    /// Times a bot followed its running match to another node (live migration).
    pub migrations: u64,
    /// Per migration, from the last snapshot the old node sent to the first the new node sent:
    /// the pause a player sees.
    pub migration_pause_ms: Percentiles,
    /// Per match (room id) that moved, the longest pause any of its bots saw, milliseconds.
    pub migration_longest_pause_ms: BTreeMap<u64, f64>,
    /// Times a bot rejoined its match where it resumed after the match's node was lost.
    pub rejoins: u64,
    /// Per rejoin, from the last snapshot the lost node sent to the first the new node sent.
    pub rejoin_pause_ms: Percentiles,
    /// Per rejoin, the ticks of play lost: the newest tick the bot had seen minus the tick
    /// the room resumed from (its last copy).
    pub rejoin_lost_ticks: Percentiles,
    /// Results a bot received for a match that ended before its time or score limit.
    pub matches_ended_early: u64,
    /// Tickets that reached no terminal state (assigned, cancelled, no_match) as far as their bot
    /// could tell by the end of the run.
    pub tickets_lost: u64,
    /// Tickets that, after their match was played, named another room: assigned twice.
    pub tickets_reassigned: u64,
    /// Times a party (`--party-size`) was placed in a room.
    pub parties_placed: u64,
    /// Party placements where the members did not all land in one room on one team.
    pub parties_split: u64,
    /// Faults injected into rooms during the run (`--fault-every`).
    pub faults_injected: u64,
    /// Errors by class.
    pub errors: BTreeMap<String, u64>,
    /// The game's own counts, by name, as its brain recorded them
    /// ([`MatchStats::count`]).
    #[serde(default)]
    pub game_counts: BTreeMap<String, u64>,
    /// UDP bytes received per connected bot per second.
    pub bytes_received_per_player_per_s: f64,
    /// UDP bytes sent per connected bot per second.
    pub bytes_sent_per_player_per_s: f64,
    /// Times a bot left a running match on purpose (churn) and queued again.
    pub churned: u64,
    /// CPU the bots process used during the run, seconds.
    pub bots_cpu_seconds: f64,
    /// `bots_cpu_seconds` as a share of what the bots' threads could use over the run (0 to
    /// 1): near 1, the load generator itself was the limit, not the server.
    pub bots_cpu_utilization: f64,
    /// The bots process's resident memory at the end, bytes.
    pub bots_rss_bytes: u64,
    /// One entry per second.
    pub timeline: Vec<Sample>,
    /// Each threshold, checked.
    pub thresholds: Vec<crate::threshold::Verdict>,
}

impl Report {
    /// Whether the run was clean: no error and no unexpected disconnect.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
            && self.disconnects_unexpected == 0
            && self.tickets_lost == 0
            && self.tickets_reassigned == 0
            && self.parties_split == 0
    }

    /// Whether every threshold held.
    pub fn thresholds_passed(&self) -> bool {
        self.thresholds.iter().all(|v| v.passed)
    }
}

/// A bot's per-frame measurements, buffered and handed to the recorder about once a second:
/// a swarm's bots must not queue on one lock every frame, and a histogram per bot would cost
/// hundreds of kilobytes each. A [`Brain`](crate::Brain) records its game's own here.
#[derive(Debug, Default)]
pub struct MatchStats {
    snapshot_jitter: Vec<u64>,
    input_ack: Vec<u64>,
    prediction_error: Vec<u64>,
    errors: Vec<&'static str>,
    counts: Vec<&'static str>,
}

impl MatchStats {
    pub(crate) fn snapshot_jitter(&mut self, d: Duration) {
        self.snapshot_jitter.push(micros(d));
    }

    pub(crate) fn input_ack(&mut self, d: Duration) {
        self.input_ack.push(micros(d));
    }

    /// How far the bot's prediction of its own entity was from the room's, in world units
    /// (the report's `prediction_error`).
    pub fn prediction_error(&mut self, units: f32) {
        let milli = (f64::from(units.max(0.0)) * 1000.0).round() as u64;
        // Recorded as value + 1 so an exact prediction (0) fits the histogram's lower bound.
        self.prediction_error.push(milli + 1);
    }

    /// One more of something the game counts (the report's `game_counts`).
    pub fn count(&mut self, name: &'static str) {
        self.counts.push(name);
    }

    /// Something went wrong that a correct bot never sees (the report's `errors`, by class;
    /// any error fails a run).
    pub fn error(&mut self, class: &'static str) {
        self.errors.push(class);
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros().max(1) as u64
}

/// Shared sink the bots record into.
#[derive(Debug)]
pub struct Recorder {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    time_to_match: Histogram<u64>,
    rtt: Histogram<u64>,
    /// In thousandths of a world unit.
    prediction_error: Histogram<u64>,
    rooms_completed: HashSet<u64>,
    player_matches_completed: u64,
    tickets_created: u64,
    tickets_assigned: u64,
    tickets_cancelled: u64,
    disconnects_unexpected: u64,
    rooms_failed: u64,
    migrations: u64,
    migration_pause: Histogram<u64>,
    migration_longest_pause: BTreeMap<u64, Duration>,
    rejoins: u64,
    rejoin_pause: Histogram<u64>,
    rejoin_lost_ticks: Histogram<u64>,
    matches_ended_early: u64,
    tickets_lost: u64,
    tickets_reassigned: u64,
    /// Per party: its size, and (room, team) of each member's every placement.
    party_placements: BTreeMap<String, (usize, Vec<(u64, u8)>)>,
    connect: Histogram<u64>,
    snapshot_jitter: Histogram<u64>,
    input_ack: Histogram<u64>,
    /// This second's samples, for the timeline.
    window_rtt: Histogram<u64>,
    window_time_to_match: Histogram<u64>,
    churned: u64,
    timeline: Vec<Sample>,
    faults_injected: u64,
    errors: BTreeMap<String, u64>,
    game_counts: BTreeMap<String, u64>,
    bytes_received: u64,
    bytes_sent: u64,
    connected_time: Duration,
}

impl Inner {
    /// Per (party, room) it was placed in, the teams its members were given there. A party held
    /// together has exactly its size of entries per room, all one team.
    fn party_rooms(&self) -> impl Iterator<Item = (usize, Vec<u8>)> + '_ {
        self.party_placements
            .values()
            .flat_map(|(size, placements)| {
                let mut rooms: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
                for &(room, team) in placements {
                    rooms.entry(room).or_default().push(team);
                }
                rooms.into_values().map(move |teams| (*size, teams))
            })
    }
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 1 hour at 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                time_to_match: histogram(),
                rtt: histogram(),
                prediction_error: histogram(),
                rooms_completed: HashSet::new(),
                player_matches_completed: 0,
                tickets_created: 0,
                tickets_assigned: 0,
                tickets_cancelled: 0,
                disconnects_unexpected: 0,
                rooms_failed: 0,
                migrations: 0,
                migration_pause: histogram(),
                migration_longest_pause: BTreeMap::new(),
                rejoins: 0,
                rejoin_pause: histogram(),
                rejoin_lost_ticks: histogram(),
                matches_ended_early: 0,
                tickets_lost: 0,
                tickets_reassigned: 0,
                party_placements: BTreeMap::new(),
                connect: histogram(),
                snapshot_jitter: histogram(),
                input_ack: histogram(),
                window_rtt: histogram(),
                window_time_to_match: histogram(),
                churned: 0,
                timeline: Vec::new(),
                faults_injected: 0,
                errors: BTreeMap::new(),
                game_counts: BTreeMap::new(),
                bytes_received: 0,
                bytes_sent: 0,
                connected_time: Duration::ZERO,
            }),
        }
    }
}

impl Recorder {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn ticket_created(&self) {
        self.with(|i| i.tickets_created += 1);
    }

    pub(crate) fn ticket_cancelled(&self) {
        self.with(|i| i.tickets_cancelled += 1);
    }

    pub(crate) fn ticket_assigned(&self, waited: Duration) {
        self.with(|i| {
            i.tickets_assigned += 1;
            i.time_to_match.saturating_record(micros(waited));
            i.window_time_to_match.saturating_record(micros(waited));
        });
    }

    pub(crate) fn rtt(&self, rtt: Duration) {
        self.with(|i| {
            i.rtt.saturating_record(micros(rtt));
            i.window_rtt.saturating_record(micros(rtt));
        });
    }

    pub(crate) fn match_completed(&self, room_id: u64) {
        self.with(|i| {
            i.player_matches_completed += 1;
            i.rooms_completed.insert(room_id);
        });
    }

    pub(crate) fn unexpected_disconnect(&self) {
        self.with(|i| i.disconnects_unexpected += 1);
    }

    pub(crate) fn room_failed(&self) {
        self.with(|i| i.rooms_failed += 1);
    }

    /// The bot's match (`room_id`) moved to another node; `pause` is the gap in snapshots it
    /// saw.
    pub(crate) fn migrated(&self, room_id: u64, pause: Duration) {
        self.with(|i| {
            i.migrations += 1;
            i.migration_pause.saturating_record(micros(pause));
            let longest = i.migration_longest_pause.entry(room_id).or_default();
            *longest = (*longest).max(pause);
        });
    }

    /// The bot rejoined its match on another node after its own was lost;
    /// `pause` is the gap in snapshots it saw, `lost_ticks` how far the match stepped back.
    pub(crate) fn rejoined(&self, pause: Duration, lost_ticks: u32) {
        self.with(|i| {
            i.rejoins += 1;
            i.rejoin_pause.saturating_record(micros(pause));
            // As thousandths plus one (see `Percentiles::of_offset`): zero ticks is common.
            i.rejoin_lost_ticks
                .saturating_record(u64::from(lost_ticks) * 1000 + 1);
        });
    }

    pub(crate) fn match_ended_early(&self) {
        self.with(|i| i.matches_ended_early += 1);
    }

    pub(crate) fn ticket_lost(&self) {
        self.with(|i| i.tickets_lost += 1);
    }

    pub(crate) fn ticket_reassigned(&self) {
        self.with(|i| i.tickets_reassigned += 1);
    }

    /// A party member was placed in `room_id` on `team`.
    pub(crate) fn party_placed(&self, party: &str, size: usize, room_id: u64, team: u8) {
        self.with(|i| {
            i.party_placements
                .entry(party.to_string())
                .or_insert_with(|| (size, Vec::new()))
                .1
                .push((room_id, team));
        });
    }

    pub(crate) fn connected(&self, took: Duration) {
        self.with(|i| i.connect.saturating_record(micros(took)));
    }

    pub(crate) fn churned(&self) {
        self.with(|i| i.churned += 1);
    }

    /// Takes a bot's buffered measurements (leaving its buffers empty, for reuse).
    pub(crate) fn merge(&self, stats: &mut MatchStats) {
        self.with(|i| {
            for (from, into) in [
                (&mut stats.snapshot_jitter, &mut i.snapshot_jitter),
                (&mut stats.input_ack, &mut i.input_ack),
                (&mut stats.prediction_error, &mut i.prediction_error),
            ] {
                for v in from.drain(..) {
                    into.saturating_record(v);
                }
            }
        });
        for class in stats.errors.drain(..) {
            self.error(class);
        }
        if !stats.counts.is_empty() {
            self.with(|i| {
                for name in stats.counts.drain(..) {
                    *i.game_counts.entry(name.to_string()).or_default() += 1;
                }
            });
        }
    }

    /// Closes a second of the timeline: fills in the recorder's own figures (matches, errors,
    /// this second's p99s) and keeps the sample.
    pub(crate) fn push_sample(&self, mut sample: Sample) -> Sample {
        self.with(|i| {
            let p99 = |h: &Histogram<u64>| {
                if h.is_empty() {
                    0.0
                } else {
                    h.value_at_quantile(0.99) as f64 / 1000.0
                }
            };
            sample.matches_completed = i.rooms_completed.len() as u64;
            sample.errors = i.errors.values().sum();
            sample.rtt_p99_ms = p99(&i.window_rtt);
            sample.time_to_match_p99_ms = p99(&i.window_time_to_match);
            i.window_rtt.reset();
            i.window_time_to_match.reset();
            i.timeline.push(sample.clone());
            sample
        })
    }

    pub(crate) fn fault_injected(&self) {
        self.with(|i| i.faults_injected += 1);
    }

    pub(crate) fn error(&self, class: &str) {
        self.with(|i| *i.errors.entry(class.to_string()).or_default() += 1);
    }

    pub(crate) fn traffic(&self, received: u64, sent: u64, connected: Duration) {
        self.with(|i| {
            i.bytes_received += received;
            i.bytes_sent += sent;
            i.connected_time += connected;
        });
    }

    /// The report so far.
    pub fn report(&self, players: usize, duration: Duration) -> Report {
        self.with(|i| {
            let secs = i.connected_time.as_secs_f64().max(f64::MIN_POSITIVE);
            Report {
                scenario: String::new(),
                players,
                duration_s: duration.as_secs_f64(),
                matches_completed: i.rooms_completed.len() as u64,
                player_matches_completed: i.player_matches_completed,
                tickets_created: i.tickets_created,
                tickets_assigned: i.tickets_assigned,
                tickets_cancelled: i.tickets_cancelled,
                time_to_match_ms: Percentiles::of(&i.time_to_match),
                rtt_ms: Percentiles::of(&i.rtt),
                connect_ms: Percentiles::of(&i.connect),
                snapshot_jitter_ms: Percentiles::of(&i.snapshot_jitter),
                input_ack_ms: Percentiles::of(&i.input_ack),
                input_delay_ticks: Percentiles::default(),
                inputs_late_share: 0.0,
                inputs_merged_share: 0.0,
                prediction_error: Percentiles::of_offset(&i.prediction_error),
                disconnects_unexpected: i.disconnects_unexpected,
                rooms_failed: i.rooms_failed,
                migrations: i.migrations,
                migration_pause_ms: Percentiles::of(&i.migration_pause),
                migration_longest_pause_ms: i
                    .migration_longest_pause
                    .iter()
                    .map(|(&room, d)| (room, d.as_secs_f64() * 1000.0))
                    .collect(),
                rejoins: i.rejoins,
                rejoin_pause_ms: Percentiles::of(&i.rejoin_pause),
                rejoin_lost_ticks: Percentiles::of_offset(&i.rejoin_lost_ticks),
                matches_ended_early: i.matches_ended_early,
                tickets_lost: i.tickets_lost,
                tickets_reassigned: i.tickets_reassigned,
                parties_placed: i.party_rooms().count() as u64,
                parties_split: i
                    .party_rooms()
                    .filter(|(size, teams)| {
                        teams.len() != *size || teams.iter().any(|&t| t != teams[0])
                    })
                    .count() as u64,
                faults_injected: i.faults_injected,
                errors: i.errors.clone(),
                game_counts: i.game_counts.clone(),
                bytes_received_per_player_per_s: if i.connected_time.is_zero() {
                    0.0
                } else {
                    i.bytes_received as f64 / secs
                },
                bytes_sent_per_player_per_s: if i.connected_time.is_zero() {
                    0.0
                } else {
                    i.bytes_sent as f64 / secs
                },
                churned: i.churned,
                bots_cpu_seconds: 0.0,
                bots_cpu_utilization: 0.0,
                bots_rss_bytes: 0,
                timeline: i.timeline.clone(),
                thresholds: Vec::new(),
            }
        })
    }
}

#[cfg(test)]
mod count_tests {
    use super::Percentiles;

    #[test]
    fn percentiles_of_counts_per_value() {
        let p = Percentiles::of_counts(&[10, 80, 9, 1, 0]);
        assert_eq!((p.count, p.p50, p.p99, p.max), (100, 1.0, 2.0, 3.0));
        assert_eq!(Percentiles::of_counts(&[0, 0]), Percentiles::default());
    }
}
