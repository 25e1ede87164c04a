//! Prometheus metrics: the matchmaker's series, the process's, and the `GET /metrics` route.
//!
//! Every series is read at scrape time from counters the code keeps anyway ([`Collector`]s
//! over [`crate::MatchmakerStats`], the ticket counts, the process's own accounting), so
//! exporting costs nothing between scrapes. A binary builds one [`Registry`], registers what
//! it runs (the embedded server adds its node's collector to the same registry) and serves it
//! with [`router`].

use std::{fmt, sync::Arc, sync::atomic::Ordering};

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};

use crate::{Allocator, Matchmaker, TicketStore};

/// What `GET /metrics` answers with (OpenMetrics text).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `registry` at `GET /metrics`.
pub fn router(registry: Registry) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(Arc::new(registry))
}

async fn scrape(State(registry): State<Arc<Registry>>) -> Response {
    let mut body = String::with_capacity(16 * 1024);
    match prometheus_client::encoding::text::encode(&mut body, &registry) {
        Ok(()) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Writes one counter.
pub fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let c = ConstCounter::new(value);
    c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)
}

/// Writes one gauge.
pub fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> fmt::Result {
    let g = ConstGauge::new(value);
    g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)
}

/// Writes one gauge with a value per label set: `(labels, value)` pairs.
pub fn gauge_family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: &[(&[(&str, &str)], i64)],
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(
        name,
        help,
        None,
        prometheus_client::metrics::MetricType::Gauge,
    )?;
    for (labels, value) in values {
        ConstGauge::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

/// Writes one counter with a value per label set.
pub fn counter_family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: &[(&[(&str, &str)], u64)],
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(
        name,
        help,
        None,
        prometheus_client::metrics::MetricType::Counter,
    )?;
    for (labels, value) in values {
        ConstCounter::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

/// The process's CPU time and resident memory, and Redis errors (zero without Redis).
#[derive(Debug, Default)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let cpu = protocol::process_cpu_time().as_secs_f64();
        let c = ConstCounter::new(cpu);
        c.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "CPU time used by this process (user + system)",
            None,
            c.metric_type(),
        )?)?;
        gauge(
            &mut encoder,
            "process_resident_memory_bytes",
            "Resident memory of this process",
            protocol::process_rss_bytes() as i64,
        )?;
        counter(
            &mut encoder,
            "rallypoint_redis_errors",
            "Redis operations that failed in this process",
            crate::redis_store::redis_errors(),
        )
    }
}

/// The matchmaker's series: tickets by state, outcomes, matches, allocation and wait times.
pub struct MatchmakerCollector<S, A> {
    mm: Matchmaker<S, A>,
}

impl<S, A> MatchmakerCollector<S, A> {
    /// A collector over `mm`.
    pub fn new(mm: Matchmaker<S, A>) -> Self {
        Self { mm }
    }
}

impl<S, A> fmt::Debug for MatchmakerCollector<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MatchmakerCollector")
    }
}

impl<S: TicketStore, A: Allocator> Collector for MatchmakerCollector<S, A> {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let depths = self.mm.depths();
        let modes: Vec<&str> = self.mm.modes().collect();
        let queued: Vec<[(&str, &str); 2]> = modes
            .iter()
            .map(|&mode| [("state", "queued"), ("mode", mode)])
            .collect();
        let mut waiting: Vec<(&[(&str, &str)], i64)> = queued
            .iter()
            .zip(&depths.queued)
            .map(|(labels, &n)| (&labels[..], n as i64))
            .collect();
        let matched = [("state", "matched")];
        waiting.push((&matched[..], depths.matched as i64));
        gauge_family(
            &mut encoder,
            "rallypoint_tickets",
            "Tickets waiting, by state (queued per mode; matched over all modes), counted every second",
            &waiting,
        )?;
        let stats = self.mm.stats();
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        counter_family(
            &mut encoder,
            "rallypoint_tickets_finished",
            "Tickets that reached a final state, by outcome",
            &[
                (&[("outcome", "assigned")], load(&stats.tickets_assigned)),
                (&[("outcome", "cancelled")], load(&stats.tickets_cancelled)),
                (&[("outcome", "no_match")], load(&stats.tickets_expired)),
            ],
        )?;
        counter(
            &mut encoder,
            "rallypoint_tickets_created",
            "Tickets created",
            load(&stats.tickets_created),
        )?;
        counter(
            &mut encoder,
            "rallypoint_matches",
            "Matches made (rooms allocated)",
            load(&stats.matches),
        )?;
        counter(
            &mut encoder,
            "rallypoint_allocation_failures",
            "Room allocations that failed (their players went back to the queue)",
            load(&stats.allocation_failures),
        )?;
        counter(
            &mut encoder,
            "rallypoint_backfills",
            "Players placed into running matches as replacements",
            load(&stats.backfills),
        )?;
        stats.time_to_match.encode(encoder.encode_descriptor(
            "rallypoint_time_to_match_seconds",
            "From a ticket's first entry into the queue to its assignment",
            None,
            stats.time_to_match.metric_type(),
        )?)?;
        stats.allocation_latency.encode(encoder.encode_descriptor(
            "rallypoint_allocation_latency_seconds",
            "How long an allocator took to grant or refuse a room",
            None,
            stats.allocation_latency.metric_type(),
        )?)
    }
}

/// A registry with the process's series and `mm`'s.
pub fn registry<S: TicketStore, A: Allocator>(mm: &Matchmaker<S, A>) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ProcessCollector));
    registry.register_collector(Box::new(MatchmakerCollector::new(mm.clone())));
    registry
}
