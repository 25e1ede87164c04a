//! Node-wide counters that rooms add to as they tick: traffic and tick timing.
//!
//! Everything here only grows (counters and cumulative histogram buckets), so a reader takes
//! the difference between two readings to get a rate or a distribution over a window; that is
//! how the capacity benchmark reads a load step and how a metrics scraper reads a scrape.
//! [`NodeCollector`] exports them, with the rooms' states, to Prometheus.

use std::{
    fmt,
    sync::atomic::{AtomicU64, Ordering},
};

use matchmaker::metrics::{counter, counter_family, gauge, gauge_family};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, NoLabelSet},
    metrics::MetricType,
};
use protocol::{GameProtocol, api::Bucket};

use crate::{
    game::Game,
    node::Node,
    room::{EjectionCounts, HostileKind, INPUT_DELAY_BUCKETS},
};

/// Upper bounds of the tick histograms' buckets, microseconds. 33,333 is the budget of a
/// 30 Hz tick, so "ticks over budget" is read exactly rather than estimated.
pub const TICK_BUCKETS_US: [u64; 16] = [
    25, 50, 100, 200, 400, 700, 1_000, 2_000, 4_000, 7_000, 10_000, 16_667, 25_000, 33_333, 50_000,
    100_000,
];

/// A histogram with fixed buckets and atomic counts.
#[derive(Debug)]
pub struct Buckets {
    /// One count per bound in [`TICK_BUCKETS_US`], plus one for everything above.
    counts: [AtomicU64; TICK_BUCKETS_US.len() + 1],
    /// Sum of all observations, microseconds.
    sum_us: AtomicU64,
}

impl Default for Buckets {
    fn default() -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
        }
    }
}

impl Buckets {
    /// Counts one observation.
    pub fn record(&self, us: u64) {
        let i = TICK_BUCKETS_US.partition_point(|&bound| bound < us);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Sum of all observations, microseconds.
    pub fn sum_us(&self) -> u64 {
        self.sum_us.load(Ordering::Relaxed)
    }

    /// Cumulative counts: for each bound, the observations at or below it; the last bucket's
    /// bound is `u64::MAX` (everything).
    pub fn read(&self) -> Vec<Bucket> {
        let mut total = 0;
        self.counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                total += c.load(Ordering::Relaxed);
                Bucket {
                    le_us: TICK_BUCKETS_US.get(i).copied().unwrap_or(u64::MAX),
                    count: total,
                }
            })
            .collect()
    }
}

/// What every room on a node adds to.
#[derive(Debug, Default)]
pub struct NodeMetrics {
    /// Datagrams received by room sockets.
    pub packets_in: AtomicU64,
    /// Datagrams sent by room sockets.
    pub packets_out: AtomicU64,
    /// UDP payload bytes received by room sockets.
    pub bytes_in: AtomicU64,
    /// UDP payload bytes sent by room sockets.
    pub bytes_out: AtomicU64,
    /// Datagrams netcode rejected (bad encryption, bad token, unknown peer) or renet could not
    /// use.
    pub bad_packets: AtomicU64,
    /// Game messages that failed to decode or broke a rule (dropped, never applied).
    pub rejected_messages: AtomicU64,
    /// Clients ejected for breaking the protocol, by [`HostileKind`] (in its order).
    pub ejected: [AtomicU64; HostileKind::ALL.len()],
    /// Inputs applied, by ticks they waited in the room (index; the last: that many or more).
    pub input_delay: [AtomicU64; INPUT_DELAY_BUCKETS],
    /// Inputs applied after the tick they were for.
    pub inputs_late: AtomicU64,
    /// Inputs merged into a newer one for the same tick (see `RoomStats::inputs_merged`).
    pub inputs_merged: AtomicU64,
    /// Ticks run.
    pub ticks: AtomicU64,
    /// How long each tick ran.
    pub tick_duration: Buckets,
    /// From each tick's deadline to its end (lateness plus run time): what a player waits
    /// beyond the schedule.
    pub tick_lag: Buckets,
}

impl NodeMetrics {
    /// Adds one tick's traffic and refusals (deltas) and timing.
    pub(crate) fn tick(
        &self,
        traffic: [u64; 4],
        refused: [u64; 2],
        duration_us: u64,
        lateness_us: u64,
    ) {
        let [packets_in, packets_out, bytes_in, bytes_out] = traffic;
        let [bad_packets, rejected_messages] = refused;
        self.bad_packets.fetch_add(bad_packets, Ordering::Relaxed);
        self.rejected_messages
            .fetch_add(rejected_messages, Ordering::Relaxed);
        self.packets_in.fetch_add(packets_in, Ordering::Relaxed);
        self.packets_out.fetch_add(packets_out, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes_in, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes_out, Ordering::Relaxed);
        self.ticks.fetch_add(1, Ordering::Relaxed);
        self.tick_duration.record(duration_us);
        self.tick_lag.record(duration_us + lateness_us);
    }

    /// Adds ejections: `now` counted by a room, of which `before` were added already.
    pub(crate) fn ejected(&self, before: EjectionCounts, now: EjectionCounts) {
        for kind in HostileKind::ALL {
            let n = now.get(kind) - before.get(kind);
            if n > 0 {
                self.ejected[kind as usize].fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Adds input delays: `now` counted by a room, of which `before` were added already.
    pub(crate) fn input_delays(
        &self,
        before: &[u64; INPUT_DELAY_BUCKETS],
        now: &[u64; INPUT_DELAY_BUCKETS],
    ) {
        for ((total, b), n) in self.input_delay.iter().zip(before).zip(now) {
            if n > b {
                total.fetch_add(n - b, Ordering::Relaxed);
            }
        }
    }

    /// Inputs applied so far, by ticks waited (see [`NodeMetrics::input_delay`]).
    pub fn input_delays_read(&self) -> Vec<u64> {
        self.input_delay
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }

    /// Ejections of `kind` so far.
    pub fn ejections(&self, kind: HostileKind) -> u64 {
        self.ejected[kind as usize].load(Ordering::Relaxed)
    }
}

/// A registry with the process's series and `node`'s; the embedded server adds its
/// matchmaker's.
pub fn registry<G: Game>(node: &Node<G>) -> prometheus_client::registry::Registry {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(matchmaker::metrics::ProcessCollector));
    registry.register_collector(Box::new(NodeCollector::new(node.clone())));
    registry
}

/// Writes a [`Buckets`] histogram in seconds.
fn histogram(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    buckets: &Buckets,
) -> fmt::Result {
    // The encoder wants per-bucket (not cumulative) counts; the last bound is +Inf.
    let counts: Vec<(f64, u64)> = buckets
        .counts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let bound = TICK_BUCKETS_US
                .get(i)
                .map_or(f64::MAX, |&us| us as f64 / 1e6);
            (bound, c.load(Ordering::Relaxed))
        })
        .collect();
    let total = counts.iter().map(|(_, c)| c).sum();
    encoder
        .encode_descriptor(name, help, None, MetricType::Histogram)?
        .encode_histogram::<NoLabelSet>(buckets.sum_us() as f64 / 1e6, total, &counts, None)
}

/// A node's series, read from its rooms and [`NodeMetrics`] at scrape time.
pub struct NodeCollector<G: Game> {
    node: Node<G>,
}

impl<G: Game> NodeCollector<G> {
    /// A collector over `node`.
    pub fn new(node: Node<G>) -> Self {
        Self { node }
    }
}

impl<G: Game> fmt::Debug for NodeCollector<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NodeCollector")
    }
}

impl<G: Game> Collector for NodeCollector<G> {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let node = &self.node;
        let version = <G::Protocol as GameProtocol>::VERSION.to_string();
        gauge_family(
            &mut encoder,
            "rallypoint_node_info",
            "The game this node plays and its wire version (always 1)",
            &[(
                &[
                    ("game", <G::Protocol as GameProtocol>::NAME),
                    ("version", &version),
                ],
                1,
            )],
        )?;
        let rooms = node.rooms();
        let in_phase = |phase: &str| rooms.iter().filter(|r| r.phase() == phase).count() as i64;
        gauge_family(
            &mut encoder,
            "rallypoint_rooms",
            "Rooms on this node, by match phase",
            &[
                (&[("state", "waiting")], in_phase("waiting")),
                (&[("state", "running")], in_phase("running")),
                (&[("state", "ended")], in_phase("ended")),
                (&[("state", "failed")], in_phase("failed")),
            ],
        )?;
        let health = node.health();
        gauge(
            &mut encoder,
            "rallypoint_room_capacity",
            "Most rooms this node hosts at once",
            health.room_capacity as i64,
        )?;
        gauge(
            &mut encoder,
            "rallypoint_players",
            "Players connected to rooms on this node (CCU)",
            health.players as i64,
        )?;
        gauge(
            &mut encoder,
            "rallypoint_draining",
            "1 while the node drains (takes no new rooms)",
            i64::from(node.is_draining()),
        )?;
        counter(
            &mut encoder,
            "rallypoint_room_restarts",
            "Room simulations restarted after a panic",
            health.restarts,
        )?;
        counter(
            &mut encoder,
            "rallypoint_rooms_failed",
            "Rooms that failed (restart intensity exceeded, hung, or broken)",
            health.rooms_failed,
        )?;
        counter(
            &mut encoder,
            "rallypoint_workers_replaced",
            "Worker threads replaced because a room's tick hung",
            health.workers_replaced,
        )?;
        counter(
            &mut encoder,
            "rallypoint_ticks",
            "Room ticks run",
            health.ticks,
        )?;
        counter(
            &mut encoder,
            "rallypoint_ticks_skipped",
            "Room ticks skipped because a room fell more than a tick behind",
            health.ticks_skipped,
        )?;
        let m = node.metrics();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        counter_family(
            &mut encoder,
            "rallypoint_packets",
            "UDP datagrams through room sockets",
            &[
                (&[("direction", "in")], load(&m.packets_in)),
                (&[("direction", "out")], load(&m.packets_out)),
            ],
        )?;
        counter_family(
            &mut encoder,
            "rallypoint_bytes",
            "UDP payload bytes through room sockets",
            &[
                (&[("direction", "in")], load(&m.bytes_in)),
                (&[("direction", "out")], load(&m.bytes_out)),
            ],
        )?;
        counter_family(
            &mut encoder,
            "rallypoint_decode_errors",
            "Input dropped as undecodable: packets the reliability layer could not use, game messages that failed to decode or broke a rule",
            &[
                (&[("layer", "packet")], load(&m.bad_packets)),
                (&[("layer", "message")], load(&m.rejected_messages)),
            ],
        )?;
        let kinds = HostileKind::ALL.map(|k| [("kind", k.name())]);
        let ejected: Vec<_> = kinds
            .iter()
            .zip(HostileKind::ALL)
            .map(|(label, kind)| (&label[..], m.ejections(kind)))
            .collect();
        counter_family(
            &mut encoder,
            "rallypoint_hostile_disconnects",
            "Clients disconnected for breaking the protocol (their place given up, their ticket not requeued), by kind: flood, malformed, protocol, panic",
            &ejected,
        )?;
        let delays = m.input_delays_read();
        let buckets: Vec<(f64, u64)> = delays
            .iter()
            .enumerate()
            .map(|(ticks, &n)| {
                let bound = if ticks + 1 < delays.len() {
                    ticks as f64
                } else {
                    f64::MAX
                };
                (bound, n)
            })
            .collect();
        let sum = delays
            .iter()
            .enumerate()
            .map(|(t, &n)| t as f64 * n as f64)
            .sum();
        encoder
            .encode_descriptor(
                "rallypoint_input_delay_ticks",
                "Ticks each applied input waited in its room between arriving and being applied (the last bucket counts 16 or more as 16)",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<NoLabelSet>(sum, delays.iter().sum(), &buckets, None)?;
        counter(
            &mut encoder,
            "rallypoint_inputs_late",
            "Inputs that reached their room after the tick they were for (applied at the next)",
            load(&m.inputs_late),
        )?;
        counter(
            &mut encoder,
            "rallypoint_inputs_merged",
            "Inputs applied together with a newer one for the same tick (their presses kept)",
            load(&m.inputs_merged),
        )?;
        histogram(
            &mut encoder,
            "rallypoint_tick_duration_seconds",
            "How long room ticks ran",
            &m.tick_duration,
        )?;
        histogram(
            &mut encoder,
            "rallypoint_tick_lag_seconds",
            "From each tick's deadline to its end (lateness plus run time)",
            &m.tick_lag,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_bounds_inclusive() {
        let b = Buckets::default();
        for us in [1, 25, 26, 33_333, 33_334, 1_000_000] {
            b.record(us);
        }
        let read = b.read();
        let at = |le: u64| read.iter().find(|b| b.le_us == le).unwrap().count;
        assert_eq!(at(25), 2);
        assert_eq!(at(50), 3);
        assert_eq!(at(33_333), 4);
        assert_eq!(at(100_000), 5);
        assert_eq!(
            read.last().unwrap(),
            &Bucket {
                le_us: u64::MAX,
                count: 6
            }
        );
    }
}
