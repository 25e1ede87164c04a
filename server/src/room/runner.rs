//! A room as the node runs it: the shell (core + socket) behind one lock, the simulation
//! behind another, ticked by the worker pool through the tick pipeline (`pipeline.rs`).
//!
//! The shell lock is never held while the simulation steps, so when a tick hangs in game code
//! the watchdog can still reach the shell, fail the room and tell its players. Lock order is
//! simulation, then shell.

use std::{
    net::SocketAddr,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use protocol::{
    GameProtocol, MatchResults,
    api::{MatchRecord, RoomSummary},
};

use super::{
    core::{AddPlayerError, ExpectedPlayer, INPUT_DELAY_BUCKETS, OpenedSlot, Phase, RoomCore},
    inbound::TransportStats,
    local,
    migration::RoomHandoff,
    pipeline::{ShellAccess, SimHalf, run_tick},
    scheduler::Task,
    sim::Fault,
    spectate::SpectatorFeed,
    supervisor::{SimFactory, panic_message},
    transport::RoomTransport,
};
use crate::{
    game::{Game, ResultsOf},
    metrics::NodeMetrics,
};

/// What the rest of the node may read about a running room, updated as it ticks.
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
    restarts: AtomicU64,
    tick_p99_us: AtomicU64,
    tick_max_us: AtomicU64,
    late_p99_us: AtomicU64,
    late_max_us: AtomicU64,
    /// Spectators and the frame they see.
    pub spectators: SpectatorFeed,
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
            restarts: AtomicU64::new(0),
            tick_p99_us: AtomicU64::new(0),
            tick_max_us: AtomicU64::new(0),
            late_p99_us: AtomicU64::new(0),
            late_max_us: AtomicU64::new(0),
            spectators: SpectatorFeed::default(),
        }
    }

    fn publish<G: Game>(&self, core: &RoomCore<G>) {
        let phase = match core.phase() {
            Phase::Waiting => 0,
            Phase::Running { .. } => 1,
            Phase::Ended { .. } => 2,
            Phase::Failed { .. } => 3,
        };
        self.phase.store(phase, Ordering::Relaxed);
        self.connected
            .store(core.connected_players(), Ordering::Relaxed);
        self.tick.store(core.current_tick(), Ordering::Relaxed);
        self.restarts
            .store(core.stats().restarts, Ordering::Relaxed);
    }

    fn publish_timing(&self, timing: &TickTiming) {
        self.tick_p99_us
            .store(timing.duration.value_at_quantile(0.99), Ordering::Relaxed);
        self.tick_max_us
            .store(timing.duration.max(), Ordering::Relaxed);
        self.late_p99_us
            .store(timing.lateness.value_at_quantile(0.99), Ordering::Relaxed);
        self.late_max_us
            .store(timing.lateness.max(), Ordering::Relaxed);
    }

    /// Players connected at the last tick.
    pub fn connected_players(&self) -> usize {
        self.connected.load(Ordering::Relaxed)
    }

    /// Simulation restarts so far.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// 99th percentile of how late ticks started after their deadline, microseconds.
    pub fn late_p99_us(&self) -> u64 {
        self.late_p99_us.load(Ordering::Relaxed)
    }

    /// Latest any tick started after its deadline, microseconds.
    pub fn late_max_us(&self) -> u64 {
        self.late_max_us.load(Ordering::Relaxed)
    }

    /// Longest tick run time, microseconds.
    pub fn tick_max_us(&self) -> u64 {
        self.tick_max_us.load(Ordering::Relaxed)
    }

    /// 99th percentile of tick run time, microseconds.
    pub fn tick_p99_us(&self) -> u64 {
        self.tick_p99_us.load(Ordering::Relaxed)
    }

    /// The phase name.
    pub fn phase(&self) -> &'static str {
        match self.phase.load(Ordering::Relaxed) {
            0 => "waiting",
            1 => "running",
            2 => "ended",
            _ => "failed",
        }
    }

    /// The API's view of the room.
    pub fn summary(&self) -> RoomSummary {
        RoomSummary {
            id: self.id,
            mode: self.mode.clone(),
            addr: self.addr.to_string(),
            phase: self.phase().into(),
            expected_players: self.expected_players,
            connected_players: self.connected_players(),
            tick: self.tick.load(Ordering::Relaxed),
            restarts: self.restarts(),
            tick_p99_us: self.tick_p99_us(),
            late_p99_us: self.late_p99_us(),
        }
    }
}

/// What a room tells its node: a place to fill, its results, or how it ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RoomNotice {
    /// The match ended with these results (the room lingers a little before it closes).
    Ended(Box<MatchRecord>),
    /// A player left the running match; a replacement on this team is wanted.
    SlotOpen(OpenedSlot),
    /// A player was ejected for breaking the protocol; its ticket is no longer the room's.
    Ejected {
        /// The player's ticket.
        ticket: String,
    },
    /// The match ended normally.
    Finished,
    /// The room moved to another node and closed here; its players and tickets went with it.
    Moved,
    /// The room failed; these tickets should go back to the queue.
    Failed {
        /// Ticket ids of the room's players.
        tickets: Vec<String>,
        /// Why.
        reason: String,
    },
}

/// Where a room stands in a move to another node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Migration {
    /// Not moving: the room ticks.
    Staying,
    /// Packed for a move: the clock stands still (connections are still served) until the
    /// room is either redirected or thawed.
    Frozen,
    /// Resumed elsewhere: clients were told where; the room closes once they have left or at
    /// `until`, whichever is first.
    Leaving { until: Instant },
}

/// Why a room cannot be packed to move now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unmovable {
    /// A tick is half done (its shell moved on, its simulation not yet): try again shortly.
    #[error("the room is mid-tick")]
    Busy,
    /// The match is over, the room is already moving, or it has no simulation to pack.
    #[error("the room cannot move")]
    Stays,
}

struct TickTiming {
    duration: Histogram<u64>,
    lateness: Histogram<u64>,
}

struct Shell<G: Game> {
    core: RoomCore<G>,
    transport: Option<RoomTransport>,
    /// Traffic already added to the node's metrics.
    counted: TransportStats,
    /// Rejected messages already added to the node's metrics.
    counted_rejected: u64,
    /// Input delays, late and merged inputs already added to the node's metrics.
    counted_delays: [u64; INPUT_DELAY_BUCKETS],
    counted_late_merged: (u64, u64),
    /// An injected [`Fault::TransportPanic`] waiting for the next receive.
    transport_panic: bool,
    last_tick: Instant,
    timing: TickTiming,
    migration: Migration,
}

/// The shell as the pipeline reaches it: locked for each step, never while simulating.
struct Locked<'a, G: Game>(&'a Mutex<Shell<G>>);

impl<G: Game> ShellAccess<G> for Locked<'_, G> {
    fn with_core<R>(&mut self, f: impl FnOnce(&mut RoomCore<G>, bool) -> R) -> R {
        let mut shell = lock(self.0);
        // A room on the move, or resumed and waiting for its players, keeps its clock.
        let clock_runs = shell.migration == Migration::Staying;
        f(&mut shell.core, clock_runs)
    }
}

/// A room ticked by the worker pool. See the module docs.
pub(crate) struct RoomProcess<G: Game> {
    shell: Mutex<Shell<G>>,
    sim: Mutex<SimHalf<G>>,
    factory: SimFactory<G>,
    status: Arc<RoomStatus>,
    metrics: Arc<NodeMetrics>,
    /// Entered for every tick: log lines from a room carry its node and room ids (and, at
    /// debug level, the tick).
    span: tracing::Span,
    period: Duration,
    failure_reported: AtomicBool,
    exited: AtomicBool,
    on_notice: Box<dyn Fn(RoomNotice) + Send + Sync>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a room lock is contained by the room (it fails); the data is
    // only read afterwards to say goodbye, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<G: Game> RoomProcess<G> {
    pub(crate) fn new(
        room: local::Room<G>,
        transport: RoomTransport,
        status: Arc<RoomStatus>,
        metrics: Arc<NodeMetrics>,
        span: tracing::Span,
        on_notice: Box<dyn Fn(RoomNotice) + Send + Sync>,
    ) -> Self {
        let (core, sim, factory) = room.into_parts();
        let period = Duration::from_secs_f64(1.0 / f64::from(core.settings().tick_rate.max(1)));
        let histogram = || Histogram::new_with_bounds(1, 60_000_000, 2).expect("valid bounds");
        Self {
            shell: Mutex::new(Shell {
                core,
                transport: Some(transport),
                counted: TransportStats::default(),
                counted_rejected: 0,
                counted_delays: [0; INPUT_DELAY_BUCKETS],
                counted_late_merged: (0, 0),
                transport_panic: false,
                last_tick: Instant::now(),
                migration: Migration::Staying,
                timing: TickTiming {
                    duration: histogram(),
                    lateness: histogram(),
                },
            }),
            sim: Mutex::new(sim),
            factory,
            status,
            metrics,
            span,
            period,
            failure_reported: AtomicBool::new(false),
            exited: AtomicBool::new(false),
            on_notice,
        }
    }

    pub(crate) fn status(&self) -> &Arc<RoomStatus> {
        &self.status
    }

    /// Adds a replacement player to the match (see [`RoomCore::add_player`]).
    pub(crate) fn add_player(&self, player: ExpectedPlayer) -> Result<(), AddPlayerError> {
        lock(&self.shell).core.add_player(player)
    }

    /// Gives up on the room from outside (see [`RoomCore::fail`]); it closes after lingering.
    pub(crate) fn fail(&self, reason: &str) {
        lock(&self.shell).core.fail(reason.to_string());
    }

    /// Stops the room's clock and packs it to resume on another node. Until
    /// [`RoomProcess::redirect`] or [`RoomProcess::thaw`], the room serves its connections
    /// but does not tick.
    pub(crate) fn freeze(&self) -> Result<RoomHandoff<G>, Unmovable> {
        self.pack_then(|migration| *migration = Migration::Frozen)
    }

    /// Packs the room as [`RoomProcess::freeze`] does, but lets it play on: a copy of the
    /// match as of its last tick, for another node to resume should this one die.
    pub(crate) fn pack(&self) -> Result<RoomHandoff<G>, Unmovable> {
        self.pack_then(|_| {})
    }

    /// Packs the room between two ticks and, with both locks still held, lets `then` change
    /// its migration state.
    fn pack_then(&self, then: impl FnOnce(&mut Migration)) -> Result<RoomHandoff<G>, Unmovable> {
        // Lock order: simulation, then shell.
        let mut slot = lock(&self.sim);
        let mut shell = lock(&self.shell);
        if shell.migration != Migration::Staying || self.exited.load(Ordering::SeqCst) {
            return Err(Unmovable::Stays);
        }
        let handoff = local::handoff(&shell.core, &mut slot.sim, &self.status.mode)
            .ok_or(Unmovable::Stays)?;
        if handoff.sim.tick != shell.core.current_tick() {
            return Err(Unmovable::Busy);
        }
        then(&mut shell.migration);
        Ok(handoff)
    }

    /// Lets a frozen room tick again (its move did not happen).
    pub(crate) fn thaw(&self) {
        let mut shell = lock(&self.shell);
        if shell.migration == Migration::Frozen {
            shell.migration = Migration::Staying;
        }
    }

    /// Tells a frozen room's clients where it resumed (a token each, from `token_for`); the
    /// room closes once they have left, or after `linger`. Returns how many were told.
    pub(crate) fn redirect(
        &self,
        token_for: impl FnMut(&ExpectedPlayer) -> Option<String>,
        linger: Duration,
    ) -> usize {
        let mut shell = lock(&self.shell);
        let told = shell.core.redirect(token_for);
        shell.migration = Migration::Leaving {
            until: Instant::now() + linger,
        };
        told
    }

    pub(crate) fn inject_fault(&self, fault: Fault) {
        let mut shell = lock(&self.shell);
        match fault {
            Fault::TransportPanic => shell.transport_panic = true,
            other => shell.core.inject_fault(other),
        }
    }

    /// One tick: receive, simulate (supervised), send. Returns whether the room goes on.
    fn tick(&self, lateness: Duration) -> bool {
        let started = Instant::now();
        {
            let mut shell = lock(&self.shell);
            let shell = &mut *shell;
            let dt = started - shell.last_tick;
            shell.last_tick = started;
            if std::mem::take(&mut shell.transport_panic) {
                panic!("injected fault: panic in the network receive path");
            }
            if let Some(transport) = shell.transport.as_mut() {
                transport.receive(dt, &mut shell.core);
            }
        }
        {
            // Lock order: simulation, then shell.
            let mut half = lock(&self.sim);
            run_tick(
                &mut Locked(&self.shell),
                &mut half,
                &self.factory,
                |core, step| {
                    if self.status.spectators.wants_frame(step.tick) {
                        self.status.spectators.publish(core.spectator_frame(step));
                    }
                },
            );
        }
        let mut shell = lock(&self.shell);
        let shell = &mut *shell;
        if let Some(transport) = shell.transport.as_mut() {
            transport.send(shell.core.drain());
        }
        self.status.publish(&shell.core);
        let us = |d: Duration| d.as_micros().clamp(1, 60_000_000) as u64;
        let (ran, late) = (us(started.elapsed()), us(lateness));
        shell.timing.duration.saturating_record(ran);
        shell.timing.lateness.saturating_record(late);
        let traffic = shell
            .transport
            .as_ref()
            .map_or(shell.counted, |t| t.stats());
        let counted = std::mem::replace(&mut shell.counted, traffic);
        self.metrics.ejected(counted.ejected, traffic.ejected);
        let stats = shell.core.stats();
        self.metrics
            .input_delays(&shell.counted_delays, &stats.input_delay);
        shell.counted_delays = stats.input_delay;
        let (late, merged) = shell.counted_late_merged;
        self.metrics
            .inputs_late
            .fetch_add(stats.inputs_late - late, Ordering::Relaxed);
        self.metrics
            .inputs_merged
            .fetch_add(stats.inputs_merged - merged, Ordering::Relaxed);
        shell.counted_late_merged = (stats.inputs_late, stats.inputs_merged);
        let rejected = shell.core.stats().rejected_messages;
        let counted_rejected = std::mem::replace(&mut shell.counted_rejected, rejected);
        self.metrics.tick(
            [
                traffic.packets_in - counted.packets_in,
                traffic.packets_out - counted.packets_out,
                traffic.bytes_in - counted.bytes_in,
                traffic.bytes_out - counted.bytes_out,
            ],
            [
                traffic.bad_packets - counted.bad_packets,
                rejected - counted_rejected,
            ],
            ran,
            late,
        );
        if shell.core.current_tick().is_multiple_of(30) {
            self.status.publish_timing(&shell.timing);
        }
        if let Some(results) = shell.core.take_results_to_report() {
            (self.on_notice)(RoomNotice::Ended(Box::new(
                self.record(shell.core.id(), results),
            )));
        }
        for ticket in shell.core.take_ejected_tickets() {
            (self.on_notice)(RoomNotice::Ejected { ticket });
        }
        for slot in shell.core.take_open_slots() {
            (self.on_notice)(RoomNotice::SlotOpen(slot));
        }
        self.report_failure(&shell.core);
        if shell.core.is_finished() {
            self.close(shell, RoomNotice::Finished);
            return false;
        }
        if let Migration::Leaving { until } = shell.migration
            && (shell.core.connected_players() == 0 || Instant::now() >= until)
        {
            self.close(shell, RoomNotice::Moved);
            return false;
        }
        true
    }

    /// A finished match as the platform keeps it: the game's payload becomes JSON, which the
    /// matchmaker stores without knowing the game.
    fn record(&self, room_id: u64, results: MatchResults<ResultsOf<G>>) -> MatchRecord {
        MatchRecord {
            room_id,
            game: <G::Protocol as GameProtocol>::NAME.into(),
            mode: self.factory.game.mode().into(),
            ended_ms: protocol::unix_now().as_millis() as u64,
            reason: results.reason,
            ticks_played: results.ticks_played,
            placements: results.placements,
            results: serde_json::to_value(&results.game).unwrap_or_else(|e| {
                tracing::warn!(room = room_id, error = %e, "the game's results do not serialize to JSON");
                serde_json::Value::Null
            }),
        }
    }

    fn report_failure(&self, core: &RoomCore<G>) {
        if let Some(reason) = core.failure()
            && !self.failure_reported.swap(true, Ordering::SeqCst)
        {
            (self.on_notice)(RoomNotice::Failed {
                tickets: core.tickets(),
                reason: reason.to_string(),
            });
        }
    }

    fn close(&self, shell: &mut Shell<G>, notice: RoomNotice) {
        if self.exited.swap(true, Ordering::SeqCst) {
            return;
        }
        self.status.publish_timing(&shell.timing);
        if let Some(mut transport) = shell.transport.take() {
            transport.disconnect_all();
            tracing::info!(
                room = shell.core.id(),
                ticks = shell.core.current_tick(),
                phase = shell.core.phase().name(),
                stats = ?shell.core.stats(),
                traffic = ?transport.stats(),
                tick_p99_us = shell.timing.duration.value_at_quantile(0.99),
                late_p99_us = shell.timing.lateness.value_at_quantile(0.99),
                late_max_us = shell.timing.lateness.max(),
                "room closed"
            );
        }
        (self.on_notice)(notice);
    }
}

impl<G: Game> Task for RoomProcess<G> {
    fn run(&self, lateness: Duration) -> bool {
        let _room = self.span.enter();
        // Off unless debug logging is on, when it costs next to nothing.
        let _tick = tracing::debug_span!("tick", n = self.status.tick.load(Ordering::Relaxed) + 1)
            .entered();
        match catch_unwind(AssertUnwindSafe(|| self.tick(lateness))) {
            Ok(again) => again,
            Err(payload) => {
                // A panic outside the simulation: in the transport, the network library or the
                // shell. The shell cannot be trusted to go on; fail the room, say goodbye as
                // far as possible, and close it. The node and other rooms are untouched.
                let message = panic_message(payload.as_ref());
                let mut shell = lock(&self.shell);
                tracing::error!(room = shell.core.id(), tick = shell.core.current_tick(), panic = %message, "room shell panicked");
                shell.core.fail(format!("internal error: {message}"));
                let shell = &mut *shell;
                let _ = catch_unwind(AssertUnwindSafe(|| {
                    if let Some(t) = shell.transport.as_mut() {
                        t.send(shell.core.drain());
                    }
                }));
                self.report_failure(&shell.core);
                self.close(shell, RoomNotice::Finished);
                false
            }
        }
    }

    fn period(&self) -> Duration {
        self.period
    }

    fn hung(&self, running_for: Duration) {
        let _room = self.span.enter();
        self.factory.abandoned.store(true, Ordering::SeqCst);
        let mut shell = lock(&self.shell);
        shell.core.fail(format!(
            "a tick ran {:.1} s, past the hang timeout; the room was stopped",
            running_for.as_secs_f64()
        ));
        self.report_failure(&shell.core);
    }
}
