//! A link conditioner: latency, jitter, loss, duplication and reordering.
//!
//! Deterministic for a given seed, so a test that fails can be replayed exactly. The caller
//! owns time: packets go in with [`Link::send`] at a time, and come out with [`Link::deliver`]
//! once their delivery time has passed. [`crate::GameClient::condition`] puts one in each
//! direction of a real client's traffic; tests drive it on a virtual clock.

use std::{cmp::Reverse, collections::BinaryHeap, time::Duration};

use rand::{Rng, SeedableRng, rngs::SmallRng};

/// What a network does to packets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkProfile {
    /// One-way delay.
    pub latency: Duration,
    /// Up to this much extra delay, uniformly.
    pub jitter: Duration,
    /// Share of packets dropped, 0..1.
    pub loss: f64,
    /// Share of packets delivered twice.
    pub duplicate: f64,
    /// Share of packets held back an extra latency, so later ones overtake them.
    pub reorder: f64,
}

impl LinkProfile {
    /// A perfect link.
    pub const PERFECT: Self = Self {
        latency: Duration::ZERO,
        jitter: Duration::ZERO,
        loss: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
    };
    /// Median home broadband: 66 ms, 11 ms jitter, 3 % loss.
    pub const BROADBAND_P50: Self = Self::new(66, 11, 0.03);
    /// 95th-percentile broadband: 151 ms, 11 ms jitter, 4 % loss.
    pub const BROADBAND_P95: Self = Self::new(151, 11, 0.04);
    /// 95th-percentile international: 201 ms, 16 ms jitter, 6 % loss.
    pub const INTERNATIONAL_P95: Self = Self::new(201, 16, 0.06);
    /// Barely playable: 300 ms, 400 ms jitter, 30 % loss.
    pub const UNPLAYABLE: Self = Self::new(300, 400, 0.30);

    const fn new(latency_ms: u64, jitter_ms: u64, loss: f64) -> Self {
        Self {
            latency: Duration::from_millis(latency_ms),
            jitter: Duration::from_millis(jitter_ms),
            loss,
            duplicate: 0.0,
            reorder: 0.0,
        }
    }

    /// One direction's share of this profile, when the profile describes a round trip: half the
    /// delay and jitter, and the loss that compounds to the profile's over both directions.
    pub fn one_way(self) -> Self {
        let compound = |p: f64| 1.0 - (1.0 - p.clamp(0.0, 1.0)).sqrt();
        Self {
            latency: self.latency / 2,
            jitter: self.jitter / 2,
            loss: compound(self.loss),
            duplicate: compound(self.duplicate),
            reorder: compound(self.reorder),
        }
    }

    /// A named preset: `broadband-p50`, `broadband-p95`, `international-p95`, `unplayable`,
    /// `perfect`.
    pub fn preset(name: &str) -> Option<Self> {
        Some(match name {
            "perfect" => Self::PERFECT,
            "broadband-p50" => Self::BROADBAND_P50,
            "broadband-p95" => Self::BROADBAND_P95,
            "international-p95" => Self::INTERNATIONAL_P95,
            "unplayable" => Self::UNPLAYABLE,
            _ => return None,
        })
    }
}

/// One direction of a conditioned link.
#[derive(Debug)]
pub struct Link<T> {
    profile: LinkProfile,
    rng: SmallRng,
    seq: u64,
    queue: BinaryHeap<Reverse<(Duration, u64, Slot<T>)>>,
    /// Packets dropped so far.
    pub dropped: u64,
    /// Packets duplicated so far.
    pub duplicated: u64,
}

/// A queued packet; ordered by delivery time and sequence only.
#[derive(Debug)]
struct Slot<T>(T);

impl<T> PartialEq for Slot<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<T> Eq for Slot<T> {}
impl<T> PartialOrd for Slot<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Slot<T> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<T: Clone> Link<T> {
    /// A link with this profile and random seed.
    pub fn new(profile: LinkProfile, seed: u64) -> Self {
        Self {
            profile,
            rng: SmallRng::seed_from_u64(seed),
            seq: 0,
            queue: BinaryHeap::new(),
            dropped: 0,
            duplicated: 0,
        }
    }

    fn delay(&mut self) -> Duration {
        let p = self.profile;
        let jitter = if p.jitter.is_zero() {
            Duration::ZERO
        } else {
            p.jitter.mul_f64(self.rng.random::<f64>())
        };
        let held = if self.rng.random_bool(p.reorder.clamp(0.0, 1.0)) {
            p.latency.max(Duration::from_millis(20))
        } else {
            Duration::ZERO
        };
        p.latency + jitter + held
    }

    /// Puts a packet on the link at time `now`.
    pub fn send(&mut self, now: Duration, packet: T) {
        if self.rng.random_bool(self.profile.loss.clamp(0.0, 1.0)) {
            self.dropped += 1;
            return;
        }
        if self.rng.random_bool(self.profile.duplicate.clamp(0.0, 1.0)) {
            self.duplicated += 1;
            let at = now + self.delay();
            self.push(at, packet.clone());
        }
        let at = now + self.delay();
        self.push(at, packet);
    }

    fn push(&mut self, at: Duration, packet: T) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, Slot(packet))));
    }

    /// Every packet due by `now`, in delivery order.
    pub fn deliver(&mut self, now: Duration) -> Vec<T> {
        let mut out = Vec::new();
        while self
            .queue
            .peek()
            .is_some_and(|Reverse((at, _, _))| *at <= now)
        {
            let Reverse((_, _, Slot(packet))) = self.queue.pop().expect("peeked");
            out.push(packet);
        }
        out
    }

    /// Packets in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_duplication_and_reordering_happen_at_about_the_configured_rates() {
        let profile = LinkProfile {
            latency: Duration::from_millis(50),
            jitter: Duration::from_millis(10),
            loss: 0.05,
            duplicate: 0.05,
            reorder: 0.05,
        };
        let mut link = Link::new(profile, 7);
        for i in 0..10_000u32 {
            link.send(Duration::from_millis(u64::from(i)), i);
        }
        assert!(
            link.deliver(Duration::from_millis(49)).is_empty(),
            "nothing arrives before its latency"
        );
        let mut got = link.deliver(Duration::from_millis(5_000));
        got.extend(link.deliver(Duration::from_secs(3600)));
        assert_eq!(link.in_flight(), 0);
        assert!((400..600).contains(&link.dropped), "{}", link.dropped);
        assert!((400..600).contains(&link.duplicated), "{}", link.duplicated);
        let late = got.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(late > 300, "reordered: {late}");
        // Same seed, same story.
        let mut again = Link::new(profile, 7);
        for i in 0..10_000u32 {
            again.send(Duration::from_millis(u64::from(i)), i);
        }
        assert_eq!(again.dropped, link.dropped);
    }

    #[test]
    fn presets_have_the_documented_numbers() {
        let p = LinkProfile::preset("broadband-p95").unwrap();
        assert_eq!(
            (p.latency.as_millis(), p.jitter.as_millis(), p.loss),
            (151, 11, 0.04)
        );
        assert!(LinkProfile::preset("dial-up").is_none());
    }
}
