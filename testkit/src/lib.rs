//! The workspace's test kit: what the integration tests of `matchmaker`, `server`, `bots` and
//! the games share. Real parts only: a real `redis-server` child process on a port the system
//! gave, a game's server binary as a node process, headless Chromium driven over WebDriver, a TCP proxy that can cut a connection for
//! real, and [`eventually`] to wait on a condition with
//! a bound rather than sleep and hope.
//!
//! Not a test framework and not for production code: helpers panic with a reason when the
//! machine cannot give them what a test needs (no `redis-server`, no free port).

pub mod browser;
mod node;
mod partition;
mod redis;

use std::{
    net::TcpListener,
    time::{Duration, Instant},
};

pub use node::NodeProcess;
pub use partition::Partition;
pub use redis::RedisServer;

/// A loopback TCP port nobody listens on right now (for a child process that must be told its
/// port; in-process servers bind port 0 themselves).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("the system gives a free loopback port")
        .port()
}

/// Waits (at most 15 s, then panics) until something accepts TCP connections on the loopback
/// port.
pub fn wait_for_port(port: u16) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "nothing listened on {port} within 15 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asks `probe` every 20 ms until it gives a value or `limit` has passed (then `None`).
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    limit: Duration,
    mut probe: impl FnMut() -> F,
) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return Some(value);
        }
        if started.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The results of room `room`'s match, once its node has reported them to the matchmaker
/// (within 3 s; panics otherwise).
pub async fn reported_results(
    mm: &protocol::MatchmakerClient,
    room: u64,
) -> protocol::api::MatchRecord {
    eventually(Duration::from_secs(3), || async {
        mm.match_results(room).await.ok()
    })
    .await
    .unwrap_or_else(|| panic!("no results reported for room {room}"))
}
