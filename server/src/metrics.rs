//! Node-wide counters that rooms add to as they tick: traffic and tick timing.
//!
//! Everything here only grows (counters and cumulative histogram buckets), so a reader takes
//! the difference between two readings to get a rate or a distribution over a window; that is
//! how the capacity benchmark reads a load step and how a metrics scraper reads a scrape.

use std::sync::atomic::{AtomicU64, Ordering};

use protocol::api::Bucket;

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
}

impl Default for Buckets {
    fn default() -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Buckets {
    /// Counts one observation.
    pub fn record(&self, us: u64) {
        let i = TICK_BUCKETS_US.partition_point(|&bound| bound < us);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
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
    /// Ticks run.
    pub ticks: AtomicU64,
    /// How long each tick ran.
    pub tick_duration: Buckets,
    /// From each tick's deadline to its end (lateness plus run time): what a player waits
    /// beyond the schedule.
    pub tick_lag: Buckets,
}

impl NodeMetrics {
    /// Adds one tick's traffic (deltas) and timing.
    pub(crate) fn tick(&self, traffic: [u64; 4], duration_us: u64, lateness_us: u64) {
        let [packets_in, packets_out, bytes_in, bytes_out] = traffic;
        self.packets_in.fetch_add(packets_in, Ordering::Relaxed);
        self.packets_out.fetch_add(packets_out, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes_in, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes_out, Ordering::Relaxed);
        self.ticks.fetch_add(1, Ordering::Relaxed);
        self.tick_duration.record(duration_us);
        self.tick_lag.record(duration_us + lateness_us);
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
