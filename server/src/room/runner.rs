//! Drives one room on its fixed tick: receive, tick, send, publish status.

use std::{
    net::SocketAddr,
    sync::atomic::{AtomicU8, AtomicU32, AtomicUsize, Ordering},
    time::Duration,
};

use protocol::api::RoomSummary;
use tokio::time::{Instant, MissedTickBehavior};

use super::{
    core::{Phase, RoomCore},
    transport::RoomTransport,
};
use crate::game::Game;

/// What the rest of the node may read about a running room, updated every tick.
#[derive(Debug)]
pub struct RoomStatus {
    /// The room's id.
    pub id: u64,
    /// Game mode.
    pub mode: String,
    /// Clients' address for it.
    pub addr: SocketAddr,
    /// Players the match was made for.
    pub expected_players: usize,
    phase: AtomicU8,
    connected: AtomicUsize,
    tick: AtomicU32,
}

impl RoomStatus {
    pub(crate) fn new(id: u64, mode: String, addr: SocketAddr, expected_players: usize) -> Self {
        Self {
            id,
            mode,
            addr,
            expected_players,
            phase: AtomicU8::new(0),
            connected: AtomicUsize::new(0),
            tick: AtomicU32::new(0),
        }
    }

    fn publish<G: Game>(&self, core: &RoomCore<G>) {
        let phase = match core.phase() {
            Phase::Waiting => 0,
            Phase::Running { .. } => 1,
            Phase::Ended { .. } => 2,
        };
        self.phase.store(phase, Ordering::Relaxed);
        self.connected
            .store(core.connected_players(), Ordering::Relaxed);
        self.tick.store(core.current_tick(), Ordering::Relaxed);
    }

    /// Players connected at the last tick.
    pub fn connected_players(&self) -> usize {
        self.connected.load(Ordering::Relaxed)
    }

    /// The API's view of the room.
    pub fn summary(&self) -> RoomSummary {
        RoomSummary {
            id: self.id,
            mode: self.mode.clone(),
            addr: self.addr.to_string(),
            phase: match self.phase.load(Ordering::Relaxed) {
                0 => "waiting",
                1 => "running",
                _ => "ended",
            }
            .into(),
            expected_players: self.expected_players,
            connected_players: self.connected_players(),
            tick: self.tick.load(Ordering::Relaxed),
        }
    }
}

/// Runs a room until its match is over and it has lingered, then tells its clients it closes.
/// The socket closes when this returns.
pub(crate) async fn run_room<G: Game>(
    mut core: RoomCore<G>,
    mut transport: RoomTransport,
    tick_rate: u16,
    status: std::sync::Arc<RoomStatus>,
) {
    let period = Duration::from_secs_f64(1.0 / f64::from(tick_rate.max(1)));
    let mut interval = tokio::time::interval(period);
    // A late tick is run once, not in a burst: snapshots describe the present, not a backlog.
    interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut last = Instant::now();
    loop {
        interval.tick().await;
        let now = Instant::now();
        let dt = now - last;
        last = now;
        transport.receive(dt, &mut core);
        transport.send(core.tick());
        status.publish(&core);
        if core.is_finished() {
            transport.disconnect_all();
            break;
        }
    }
    tracing::info!(
        room = core.id(),
        ticks = core.current_tick(),
        stats = ?core.stats(),
        traffic = ?transport.stats(),
        "room closed"
    );
}
