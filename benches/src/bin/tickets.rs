//! Ticket throughput: tickets created, matched and assigned per second end to end through the
//! HTTP API, and the time from creating a ticket to holding its assignment.
//!
//! `cargo run --release -p benches --bin tickets -- --store memory|redis [--tickets N]`
//!
//! The matchmaker runs in this process with an allocator that answers at once, so what is
//! measured is the matchmaker (HTTP, store, match function, token issuing), not room start-up.
//! The load generator (HTTP clients creating tickets and long-polling them) shares the same
//! two cores, so the figures are a floor for the matchmaker alone. With `--store redis` a
//! `redis-server` is started on a free loopback port.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Parser;
use hdrhistogram::Histogram;
use matchmaker::{
    AllocateError, Allocation, AllocationRequest, Allocator, Matchmaker, MatchmakerConfig,
    MemoryStore, ModeRules, RedisStore, TicketStore,
};
use protocol::{
    MatchmakerClient,
    api::{CreateTicketRequest, OpenSlot, RoomPlayer},
};
use tokio::sync::Mutex;

#[derive(Parser)]
struct Args {
    /// `memory` or `redis`.
    #[arg(long, default_value = "memory")]
    store: String,
    /// Tickets to push through.
    #[arg(long, default_value = "20000")]
    tickets: usize,
    /// Use this Redis instead of starting one (e.g. redis://127.0.0.1:6379).
    #[arg(long)]
    redis_url: Option<String>,
    /// The matchmaker's coalescing delay, milliseconds.
    #[arg(long, default_value = "5")]
    coalesce_ms: u64,
    /// Concurrent clients (each creates a ticket, waits for its assignment, repeats).
    #[arg(long, default_value = "500")]
    concurrency: usize,
    /// First queue this many tickets with matching stopped (a full queue, as after an outage
    /// or a spike), then start matching and report how long each waited for its assignment.
    #[arg(long, default_value = "0")]
    backlog: usize,
}

#[derive(Clone)]
struct Instant_;

impl Allocator for Instant_ {
    async fn allocate(&self, _: AllocationRequest) -> Result<Allocation, AllocateError> {
        Ok(Allocation {
            room_id: rand::random::<u64>() >> 12,
            addr: "127.0.0.1:7400".parse().unwrap(),
            game: protocol::GameId {
                name: "arena".into(),
                version: 1,
            },
        })
    }

    async fn backfill(&self, slot: &OpenSlot, _: RoomPlayer) -> Result<Allocation, AllocateError> {
        Ok(Allocation {
            room_id: slot.room_id,
            addr: "127.0.0.1:7400".parse().unwrap(),
            game: protocol::GameId {
                name: "arena".into(),
                version: 1,
            },
        })
    }
}

struct RedisChild(Child);

impl Drop for RedisChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The matchmaker under test behind its HTTP API. With a change feed (Redis), long-polls
/// re-read only every 2 s, as the `matchmaker` binary does.
async fn serve<S: TicketStore>(
    store: S,
    coalesce: Duration,
    backlog: usize,
    feed: Option<tokio::sync::mpsc::UnboundedReceiver<matchmaker::TicketId>>,
) -> String {
    let mut config = MatchmakerConfig::new(vec![ModeRules::free_for_all("arena", 10)], [9; 32]);
    config.coalesce = coalesce;
    if feed.is_some() {
        config.reread_interval = Duration::from_secs(2);
    }
    let mm = Matchmaker::new(store, Instant_, config);
    if let Some(feed) = feed {
        tokio::spawn(mm.clone().follow_finished(feed));
    }
    let mut queued = Vec::with_capacity(backlog);
    for i in 0..backlog {
        let ticket = mm
            .create_ticket(CreateTicketRequest {
                skill: Some(1000.0 + (i % 500) as f64),
                ..CreateTicketRequest::for_player("arena", format!("backlog-{i}"))
            })
            .await
            .expect("queued");
        queued.push(ticket.id);
    }
    let started = Instant::now();
    tokio::spawn(mm.clone().run(std::future::pending()));
    if backlog > 0 {
        let waits: Vec<_> = queued
            .into_iter()
            .map(|id| {
                let mm = mm.clone();
                tokio::spawn(async move {
                    let mut failed_reads = 0u32;
                    loop {
                        match mm.ticket(&id, Duration::from_secs(30)).await {
                            Ok(view) if view.status.is_terminal() => return started.elapsed(),
                            Ok(_) => {}
                            // A store that cannot keep up with every waiter's re-reads: the
                            // run reports it instead of a latency.
                            Err(e) => {
                                failed_reads += 1;
                                assert!(failed_reads < 20, "waiting for {id}: {e}");
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        }
                    }
                })
            })
            .collect();
        let mut h = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap();
        for w in waits {
            h.record(w.await.unwrap().as_micros().max(1) as u64)
                .unwrap();
        }
        println!(
            "backlog: tickets={backlog} queued before matching started; assigned after p50={:.1}ms p99={:.1}ms max={:.1}ms ({:.0} assigned/s)",
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0,
            h.max() as f64 / 1000.0,
            backlog as f64 / (h.max() as f64 / 1e6),
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, matchmaker::router(mm)).await.unwrap() });
    url
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut _redis = None;
    let coalesce = Duration::from_millis(args.coalesce_ms);
    let url = match args.store.as_str() {
        "memory" => serve(MemoryStore::new(), coalesce, args.backlog, None).await,
        "redis" if args.redis_url.is_some() => {
            let url = args.redis_url.clone().unwrap();
            let store = RedisStore::connect(&url, "bench:", Duration::from_secs(60))
                .await
                .expect("redis");
            let feed = store.finished_tickets();
            serve(store, coalesce, args.backlog, Some(feed)).await
        }
        "redis" => {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server installed");
            _redis = Some(RedisChild(child));
            let redis_url = format!("redis://127.0.0.1:{port}");
            let started = Instant::now();
            let store = loop {
                match RedisStore::connect(&redis_url, "bench:", Duration::from_secs(60)).await {
                    Ok(store) => break store,
                    Err(e) if started.elapsed() > Duration::from_secs(10) => panic!("{e}"),
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            };
            let feed = store.finished_tickets();
            serve(store, coalesce, args.backlog, Some(feed)).await
        }
        other => panic!("--store must be memory or redis, not {other}"),
    };

    let latencies = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap(),
    ));
    let remaining = Arc::new(std::sync::atomic::AtomicUsize::new(args.tickets));
    let client = MatchmakerClient::new(&url);
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..args.concurrency {
        let (client, latencies, remaining) = (client.clone(), latencies.clone(), remaining.clone());
        workers.push(tokio::spawn(async move {
            let mut n = 0;
            while remaining
                .fetch_update(
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                    |r| r.checked_sub(1),
                )
                .is_ok()
            {
                let t0 = Instant::now();
                let request = CreateTicketRequest::for_player("arena", format!("w{w}-{n}"));
                // One request: created, matched and assigned (long-polling after if needed).
                client
                    .queue(&request, Duration::from_secs(60))
                    .await
                    .expect("assigned");
                latencies
                    .lock()
                    .await
                    .record(t0.elapsed().as_micros().max(1) as u64)
                    .unwrap();
                n += 1;
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let elapsed = started.elapsed();
    let h = latencies.lock().await;
    println!(
        "tickets: store={} coalesce_ms={} tickets={} concurrency={} elapsed={:.2}s assigned_per_s={:.0} create_to_assigned_ms p50={:.2} p99={:.2} max={:.2}",
        args.store,
        args.coalesce_ms,
        h.len(),
        args.concurrency,
        elapsed.as_secs_f64(),
        h.len() as f64 / elapsed.as_secs_f64(),
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0,
    );
}
