//! A node: hosts many rooms at once, within a capacity, on ports from a configured range, and
//! ticks them on a small worker pool.

use std::{
    net::{IpAddr, SocketAddr, UdpSocket},
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use dashmap::DashMap;
use matchmaker::{AllocateError, Allocation, AllocationRequest, Allocator};
use protocol::{
    GameId, TokenKey, TokenUserData,
    api::{Health, MatchRecord, OpenSlot, RoomPlayer, TimeLimit},
};
use tokio::sync::mpsc::UnboundedSender;

use crate::{
    game::Game,
    metrics::NodeMetrics,
    ports::{PortPool, UdpPorts},
    room::{
        AddPlayerError, Backfill, ExpectedPlayer, Fault, HandoffDecodeError, Room, RoomHandoff,
        RoomNotice, RoomProcess, RoomSettings, RoomStatus, RoomTransport, Scheduler, Supervision,
        SyncSettings, Unmovable,
    },
};

/// How a node hosts rooms.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's name in logs (every room's log span carries it).
    pub node_id: String,
    /// IP the room sockets bind to.
    pub udp_bind_ip: IpAddr,
    /// IP clients are told to connect to.
    pub public_ip: IpAddr,
    /// The UDP ports rooms may use.
    pub udp_ports: UdpPorts,
    /// Most rooms at once.
    pub max_rooms: usize,
    /// The modes this node hosts (a room request names one); empty: the game's own
    /// ([`Game::mode`]).
    pub modes: Vec<String>,
    /// Room ticks per second.
    pub tick_rate: u16,
    /// Match length, for a mode that does not set its own time limit.
    pub match_duration: Duration,
    /// How long a room waits for all its players before starting with those present.
    pub join_timeout: Duration,
    /// How long a room stays open after its match ends, so results are delivered.
    pub linger: Duration,
    /// The connect-token key shared with the matchmaker.
    pub token_key: TokenKey,
    /// Worker threads that tick rooms.
    pub workers: usize,
    /// A tick running longer than this is a hang: the room is released and its worker replaced.
    pub hang_timeout: Duration,
    /// Restart intensity and checkpoint interval of every room.
    pub supervision: Supervision,
    /// Interest radius and per-client snapshot budget of every room.
    pub sync: SyncSettings,
    /// When rooms ask for replacements of players who left.
    pub backfill: Option<Backfill>,
}

/// A room gave up; its players' tickets should go back to the front of the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomFailure {
    /// The room.
    pub room_id: u64,
    /// Ticket ids of everyone placed in it.
    pub tickets: Vec<String>,
    /// Why it failed.
    pub reason: String,
}

/// What a node reports about its rooms.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeEvent {
    /// A room gave up; its tickets should go back to the queue.
    RoomFailed(RoomFailure),
    /// A match ended: its results, for the matchmaker to keep.
    MatchEnded(Box<MatchRecord>),
    /// A room closed (finished or failed) and freed its port.
    RoomClosed {
        /// The room.
        room_id: u64,
    },
    /// A player was ejected from a room for breaking the protocol: its ticket stays as it is
    /// (assigned, a final state) and no longer goes with the room if the room fails or moves.
    PlayerEjected {
        /// The room.
        room_id: u64,
        /// The player's ticket.
        ticket: String,
    },
    /// A player left a running match early; the room wants a replacement.
    SlotOpen {
        /// The room.
        room_id: u64,
        /// The room's mode.
        mode: String,
        /// The team to fill.
        team: u8,
        /// The ticket of the player who left.
        left_ticket: String,
        /// Until when a replacement is worth having (ms since the Unix epoch).
        expires_ms: u64,
    },
}

/// There is no room with that id on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no room {0} on this node")]
pub struct NoSuchRoom(pub u64);

/// A replacement player could not join a room.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The room is not (or no longer) on this node.
    #[error(transparent)]
    NoSuchRoom(#[from] NoSuchRoom),
    /// The room refused.
    #[error(transparent)]
    Refused(#[from] AddPlayerError),
}

/// A node. Cheap to clone; clones share the rooms.
pub struct Node<G: Game> {
    inner: Arc<NodeInner<G>>,
}

impl<G: Game> Clone for Node<G> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct NodeInner<G: Game> {
    game: G,
    config: NodeConfig,
    rooms: DashMap<u64, Arc<RoomProcess<G>>>,
    ports: PortPool,
    /// Held from the capacity check until the new room is registered, so two rooms placed at
    /// once cannot both take the last place.
    placing: Mutex<()>,
    scheduler: Scheduler,
    events: Option<UnboundedSender<NodeEvent>>,
    /// Restarts of rooms that have closed (live rooms report their own).
    closed_restarts: AtomicU64,
    rooms_failed: AtomicU64,
    metrics: Arc<NodeMetrics>,
    /// Set by [`Node::drain`]: no new rooms.
    draining: std::sync::atomic::AtomicBool,
    fenced: std::sync::atomic::AtomicBool,
}

impl<G: Game> Node<G> {
    /// A node that hosts `game` rooms. Room failures are sent to `failures`, if given, so their
    /// tickets can be requeued.
    pub fn new(game: G, config: NodeConfig, events: Option<UnboundedSender<NodeEvent>>) -> Self {
        Self {
            inner: Arc::new(NodeInner {
                game,
                ports: PortPool::new(config.udp_bind_ip, config.udp_ports),
                placing: Mutex::new(()),
                scheduler: Scheduler::new(config.workers, config.hang_timeout),
                config,
                rooms: DashMap::new(),
                events,
                closed_restarts: AtomicU64::new(0),
                rooms_failed: AtomicU64::new(0),
                metrics: Arc::default(),
                draining: std::sync::atomic::AtomicBool::new(false),
                fenced: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// The game modes this node hosts.
    pub fn modes(&self) -> Vec<String> {
        match self.inner.config.modes.as_slice() {
            [] => vec![self.inner.game.mode().to_string()],
            modes => modes.to_vec(),
        }
    }

    fn hosts(&self, mode: &str) -> bool {
        match self.inner.config.modes.as_slice() {
            [] => mode == self.inner.game.mode(),
            modes => modes.iter().any(|m| m == mode),
        }
    }

    /// Most rooms this node hosts at once: the configured maximum, or the number of ports if
    /// that is smaller.
    pub fn capacity(&self) -> usize {
        let max = self.inner.config.max_rooms;
        self.inner
            .config
            .udp_ports
            .count()
            .map_or(max, |ports| max.min(ports))
    }

    /// The rooms running now.
    pub fn rooms(&self) -> Vec<Arc<RoomStatus>> {
        let mut rooms: Vec<_> = self
            .inner
            .rooms
            .iter()
            .map(|r| r.value().status().clone())
            .collect();
        rooms.sort_by_key(|r| r.id);
        rooms
    }

    /// This node's name (in logs and on the dashboard).
    pub fn id(&self) -> &str {
        &self.inner.config.node_id
    }

    /// A running room's status.
    pub fn room(&self, room_id: u64) -> Option<Arc<RoomStatus>> {
        self.inner.rooms.get(&room_id).map(|r| r.status().clone())
    }

    /// The counters every room on this node adds to.
    pub fn metrics(&self) -> &NodeMetrics {
        &self.inner.metrics
    }

    /// Liveness and load.
    pub fn health(&self) -> Health {
        let rooms = self.rooms();
        let live_restarts: u64 = rooms.iter().map(|r| r.restarts()).sum();
        let m = &self.inner.metrics;
        Health {
            status: "ok".into(),
            rooms: rooms.len(),
            room_capacity: self.capacity(),
            players: rooms.iter().map(|r| r.connected_players()).sum(),
            restarts: live_restarts + self.inner.closed_restarts.load(Ordering::Relaxed),
            rooms_failed: self.inner.rooms_failed.load(Ordering::Relaxed),
            workers_replaced: self.inner.scheduler.workers_replaced(),
            cpu_ms: protocol::process_cpu_time().as_millis() as u64,
            rss_bytes: protocol::process_rss_bytes(),
            ticks: m.ticks.load(Ordering::Relaxed),
            ticks_skipped: self.inner.scheduler.ticks_skipped(),
            packets_in: m.packets_in.load(Ordering::Relaxed),
            packets_out: m.packets_out.load(Ordering::Relaxed),
            bytes_in: m.bytes_in.load(Ordering::Relaxed),
            bytes_out: m.bytes_out.load(Ordering::Relaxed),
            tick_duration_us: m.tick_duration.read(),
            tick_lag_us: m.tick_lag.read(),
            input_delay_ticks: m.input_delays_read(),
            inputs_late: m.inputs_late.load(Ordering::Relaxed),
            inputs_merged: m.inputs_merged.load(Ordering::Relaxed),
        }
    }

    /// Fences the node off: fails every room (their players are told, and their tickets go
    /// back to the queue) and takes no new rooms until [`Node::unfence`]. For a node that lost
    /// its cluster connection long enough for the cluster to give its players new rooms.
    pub fn fence(&self, reason: &str) {
        self.inner.fenced.store(true, Ordering::SeqCst);
        for room in self.inner.rooms.iter() {
            room.fail(reason);
        }
    }

    /// Takes rooms again after [`Node::fence`].
    pub fn unfence(&self) {
        self.inner.fenced.store(false, Ordering::SeqCst);
    }

    /// Whether the node is fenced off.
    pub fn is_fenced(&self) -> bool {
        self.inner.fenced.load(Ordering::SeqCst)
    }

    /// Stops taking new rooms; running rooms play on to the end.
    pub fn drain(&self) {
        self.inner.draining.store(true, Ordering::SeqCst);
    }

    /// Whether [`Node::drain`] was called.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::SeqCst)
    }

    /// Adds a replacement player to a running room; it connects with a token for the room.
    pub fn add_player(&self, room_id: u64, player: RoomPlayer) -> Result<Allocation, JoinError> {
        let room = self.inner.rooms.get(&room_id).ok_or(NoSuchRoom(room_id))?;
        room.add_player(ExpectedPlayer {
            player_id: player.player_id,
            ticket_id: player.ticket_id,
            team: player.team,
        })?;
        Ok(Allocation {
            room_id,
            addr: room.status().addr,
            game: Self::game_id(),
        })
    }

    /// Queues a fault in a room's next tick (tests and chaos runs).
    pub fn inject_fault(&self, room_id: u64, fault: Fault) -> Result<(), NoSuchRoom> {
        let room = self.inner.rooms.get(&room_id).ok_or(NoSuchRoom(room_id))?;
        room.inject_fault(fault);
        Ok(())
    }

    /// A socket for a new room, unless this node is full, draining or fenced.
    fn bind_port(&self) -> Result<(UdpSocket, u16), AllocateError> {
        if self.is_draining() || self.is_fenced() || self.inner.rooms.len() >= self.capacity() {
            return Err(AllocateError::NoCapacity);
        }
        self.inner.ports.bind().ok_or(AllocateError::NoCapacity)
    }

    fn start_room(&self, request: AllocationRequest) -> Result<Allocation, AllocateError> {
        let config = &self.inner.config;
        if !self.hosts(&request.mode) {
            return Err(AllocateError::UnknownMode(request.mode));
        }
        if request.players.is_empty() {
            return Err(AllocateError::Invalid(
                "a room needs at least one player".into(),
            ));
        }
        let _placing = self.inner.placing.lock().unwrap_or_else(|p| p.into_inner());
        let (socket, port) = self.bind_port()?;
        // Ids stay below 2^53 so JavaScript clients read them exactly.
        let room_id = loop {
            let id = rand::random::<u64>() & ((1 << 53) - 1);
            if id != 0 && !self.inner.rooms.contains_key(&id) {
                break id;
            }
        };
        let settings = RoomSettings {
            room_id,
            tick_rate: config.tick_rate,
            // The mode's rules first; what they leave out, this node's flags.
            match_duration: match request.rules.time_limit {
                None => Some(config.match_duration),
                Some(TimeLimit::Ms(ms)) => Some(Duration::from_millis(ms)),
                Some(TimeLimit::None) => None,
            },
            join_timeout: request
                .rules
                .join_timeout_ms
                .map_or(config.join_timeout, Duration::from_millis),
            min_players: request.rules.min_players.map_or(1, usize::from),
            linger: config.linger,
            seed: rand::random(),
            expected: request
                .players
                .iter()
                .map(|p| ExpectedPlayer {
                    player_id: p.player_id.clone(),
                    ticket_id: p.ticket_id.clone(),
                    team: p.team,
                })
                .collect(),
            supervision: config.supervision,
            sync: config.sync,
            backfill: config.backfill,
        };
        let room = Room::new(self.inner.game.clone(), settings);
        let allocation = self.launch(room, socket, port, &request.mode)?;
        tracing::debug!(room = room_id, addr = %allocation.addr, players = request.players.len(), "room started");
        Ok(allocation)
    }

    /// Runs `room` on the bound `socket`: its transport, its process on the worker pool, its
    /// place in the registry. Gives the port back if the transport cannot start.
    fn launch(
        &self,
        room: Room<G>,
        socket: UdpSocket,
        port: u16,
        mode: &str,
    ) -> Result<Allocation, AllocateError> {
        let config = &self.inner.config;
        let settings = room.core().settings();
        let (room_id, players) = (settings.room_id, settings.expected.len());
        let addr = SocketAddr::new(config.public_ip, port);
        let transport =
            // Twice the players: a player who left may hold its connection until netcode times
            // it out while its replacement connects.
            match RoomTransport::new(socket, addr, config.token_key, &Self::game_id(), 2 * players) {
                Ok(t) => t,
                Err(e) => {
                    self.inner.ports.release(port);
                    return Err(AllocateError::Failed(e.to_string()));
                }
            };
        let status = Arc::new(RoomStatus::new(room_id, mode.to_string(), addr, players));
        let node = Arc::downgrade(&self.inner);
        let process = Arc::new(RoomProcess::new(
            room,
            transport,
            status,
            self.inner.metrics.clone(),
            tracing::info_span!("room", node = %self.inner.config.node_id, room = room_id),
            Box::new(move |exit| on_room_notice(&node, room_id, port, exit)),
        ));
        self.inner.rooms.insert(room_id, process.clone());
        self.inner.scheduler.add(process);
        Ok(Allocation {
            room_id,
            addr,
            game: Self::game_id(),
        })
    }

    /// The game this node's rooms play.
    pub fn game(&self) -> &G {
        &self.inner.game
    }

    /// The game (and version) this node's rooms play.
    pub fn game_id() -> GameId {
        GameId::of::<G::Protocol>()
    }

    /// Stops a room's clock and packs it to move to another node (see
    /// [`RoomHandoff::encode`]). Until [`Node::redirect_room`] or [`Node::thaw_room`], the
    /// room keeps its connections but does not tick.
    pub async fn freeze_room(&self, room_id: u64) -> Result<Vec<u8>, MigrateError> {
        let room = self.process(room_id)?;
        Self::pack_with(room_id, || room.freeze())
            .await
            .inspect_err(|e| {
                if matches!(e, MigrateError::Encode(_)) {
                    room.thaw();
                }
            })
    }

    /// Packs a running room as [`Node::freeze_room`] does, but lets it play on: the copy
    /// another node resumes if this one dies (`Node::import_room` takes both).
    pub async fn copy_room(&self, room_id: u64) -> Result<Vec<u8>, MigrateError> {
        let room = self.process(room_id)?;
        Self::pack_with(room_id, || room.pack()).await
    }

    /// Packs with `pack` between two ticks and encodes the result.
    async fn pack_with(
        room_id: u64,
        pack: impl Fn() -> Result<RoomHandoff<G>, Unmovable>,
    ) -> Result<Vec<u8>, MigrateError> {
        // A tick caught half done is finished within microseconds.
        for _ in 0..100 {
            match pack() {
                Ok(handoff) => {
                    return handoff
                        .encode()
                        .map_err(|e| MigrateError::Encode(e.to_string()));
                }
                Err(Unmovable::Busy) => tokio::time::sleep(Duration::from_millis(1)).await,
                Err(Unmovable::Stays) => return Err(MigrateError::Stays(room_id)),
            }
        }
        Err(MigrateError::Stays(room_id))
    }

    /// Lets a frozen room tick again: its move did not happen.
    pub fn thaw_room(&self, room_id: u64) {
        if let Ok(room) = self.process(room_id) {
            room.thaw();
        }
    }

    /// Tells a frozen room's clients that the room now runs at `addr`: each gets a connect
    /// token for it on the reliable channel, and the room here closes once they have left (at
    /// most `MIGRATION_LINGER` later). Returns how many clients were told.
    pub fn redirect_room(&self, room_id: u64, addr: SocketAddr) -> Result<usize, NoSuchRoom> {
        let room = self.process(room_id)?;
        let key = self.inner.config.token_key;
        let game = Self::game_id();
        let now = protocol::unix_now();
        let told = room.redirect(
            |player| {
                let user = TokenUserData {
                    room_id,
                    ticket_id: player.ticket_id.clone(),
                    player_id: player.player_id.clone(),
                };
                let token = protocol::issue_token(
                    &key,
                    &game,
                    now,
                    MIGRATION_TOKEN_EXPIRY,
                    rand::random(),
                    addr,
                    &user,
                );
                match token {
                    Ok(token) => Some(protocol::token_to_base64(&token)),
                    Err(e) => {
                        tracing::error!(room = room_id, error = %e, "could not issue a migration token");
                        None
                    }
                }
            },
            MIGRATION_LINGER,
        );
        Ok(told)
    }

    /// Resumes a room another node packed ([`Node::freeze_room`]) on a free port here. The
    /// room keeps its id; it holds its clock until its players are back (at most
    /// `RESUME_PATIENCE`).
    pub fn import_room(&self, bytes: &[u8]) -> Result<Allocation, ImportError> {
        let handoff = RoomHandoff::<G>::decode(bytes).map_err(|e| match e {
            HandoffDecodeError::Malformed(why) => ImportError::Malformed(why),
            other @ HandoffDecodeError::OtherGame { .. } => {
                ImportError::OtherGame(other.to_string())
            }
        })?;
        if !self.hosts(&handoff.mode) {
            return Err(ImportError::Refused(AllocateError::UnknownMode(
                handoff.mode,
            )));
        }
        let room_id = handoff.settings.room_id;
        if self.inner.rooms.contains_key(&room_id) {
            return Err(ImportError::AlreadyHere(room_id));
        }
        let patience = handoff.settings.ticks(RESUME_PATIENCE);
        let mode = handoff.mode.clone();
        let room = Room::resume(self.inner.game.clone(), handoff, patience)
            .map_err(|e| ImportError::Malformed(e.to_string()))?;
        let _placing = self.inner.placing.lock().unwrap_or_else(|p| p.into_inner());
        let (socket, port) = self.bind_port().map_err(ImportError::Refused)?;
        let allocation = self
            .launch(room, socket, port, &mode)
            .map_err(ImportError::Refused)?;
        tracing::info!(room = room_id, addr = %allocation.addr, "room resumed here from another node");
        Ok(allocation)
    }

    /// The mode room `room_id` plays.
    pub fn room_mode(&self, room_id: u64) -> Result<String, NoSuchRoom> {
        Ok(self.process(room_id)?.status().mode.clone())
    }

    fn process(&self, room_id: u64) -> Result<Arc<RoomProcess<G>>, NoSuchRoom> {
        self.inner
            .rooms
            .get(&room_id)
            .map(|r| r.value().clone())
            .ok_or(NoSuchRoom(room_id))
    }
}

/// How long a migration token is valid: the client uses it at once.
const MIGRATION_TOKEN_EXPIRY: Duration = Duration::from_secs(10);

/// Longest a room that moved stays open here for its clients to hear where it went.
pub const MIGRATION_LINGER: Duration = Duration::from_secs(3);

/// Longest a resumed room holds its clock for its players to reconnect; whoever is not back by
/// then is away, as after any disconnect.
pub const RESUME_PATIENCE: Duration = Duration::from_secs(2);

/// A room could not be packed to move.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrateError {
    /// The room is not (or no longer) on this node.
    #[error(transparent)]
    NoSuchRoom(#[from] NoSuchRoom),
    /// The room is over, already moving, or has no simulation to pack; it finishes here.
    #[error("room {0} cannot move; it finishes here")]
    Stays(u64),
    /// The room's state could not be encoded.
    #[error("could not encode the room: {0}")]
    Encode(String),
}

/// A room could not be resumed here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The blob is not a room (or not one this build understands).
    #[error("not a room handoff: {0}")]
    Malformed(String),
    /// A room with that id already runs here.
    #[error("room {0} already runs on this node")]
    AlreadyHere(u64),
    /// A room of another game, or of another version of this node's game.
    #[error("{0}")]
    OtherGame(String),
    /// No capacity, draining, or another mode.
    #[error(transparent)]
    Refused(AllocateError),
}

fn on_room_notice<G: Game>(node: &Weak<NodeInner<G>>, room_id: u64, port: u16, exit: RoomNotice) {
    let Some(node) = node.upgrade() else { return };
    match exit {
        RoomNotice::SlotOpen(slot) => {
            if let Some(events) = &node.events {
                let now = protocol::unix_now();
                let mode = node
                    .rooms
                    .get(&room_id)
                    .map(|r| r.status().mode.clone())
                    .unwrap_or_default();
                let _ = events.send(NodeEvent::SlotOpen {
                    room_id,
                    mode,
                    team: slot.team,
                    left_ticket: slot.left_ticket,
                    expires_ms: (now + slot.fill_within).as_millis() as u64,
                });
            }
        }
        RoomNotice::Ended(record) => {
            if let Some(events) = &node.events {
                let _ = events.send(NodeEvent::MatchEnded(record));
            }
        }
        RoomNotice::Ejected { ticket } => {
            if let Some(events) = &node.events {
                let _ = events.send(NodeEvent::PlayerEjected { room_id, ticket });
            }
        }
        RoomNotice::Failed { tickets, reason } => {
            node.rooms_failed.fetch_add(1, Ordering::Relaxed);
            if let Some(events) = &node.events {
                let _ = events.send(NodeEvent::RoomFailed(RoomFailure {
                    room_id,
                    tickets,
                    reason,
                }));
            }
        }
        RoomNotice::Finished | RoomNotice::Moved => {
            // The room's socket is closed by now; its port can be reused.
            if let Some((_, room)) = node.rooms.remove(&room_id) {
                node.closed_restarts
                    .fetch_add(room.status().restarts(), Ordering::Relaxed);
            }
            node.ports.release(port);
            // A room that moved is recorded under its new node now.
            if let Some(events) = &node.events
                && exit == RoomNotice::Finished
            {
                let _ = events.send(NodeEvent::RoomClosed { room_id });
            }
        }
    }
}

impl<G: Game> Allocator for Node<G> {
    async fn allocate(&self, request: AllocationRequest) -> Result<Allocation, AllocateError> {
        self.start_room(request)
    }

    async fn backfill(
        &self,
        slot: &OpenSlot,
        player: RoomPlayer,
    ) -> Result<Allocation, AllocateError> {
        self.add_player(slot.room_id, player)
            .map_err(|e| AllocateError::Failed(e.to_string()))
    }
}
