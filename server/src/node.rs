//! A node: hosts many rooms at once, within a capacity, on ports from a configured range.

use std::{
    collections::VecDeque,
    net::{IpAddr, SocketAddr, UdpSocket},
    sync::{Arc, Mutex},
    time::Duration,
};

use dashmap::DashMap;
use matchmaker::{AllocateError, Allocation, AllocationRequest, Allocator};
use protocol::{TokenKey, api::Health};

use crate::{
    game::Game,
    room::{ExpectedPlayer, RoomCore, RoomSettings, RoomStatus, RoomTransport, run_room},
};

/// How a node hosts rooms.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// IP the room sockets bind to.
    pub udp_bind_ip: IpAddr,
    /// IP clients are told to connect to.
    pub public_ip: IpAddr,
    /// First and last UDP port rooms may use.
    pub udp_ports: (u16, u16),
    /// Most rooms at once.
    pub max_rooms: usize,
    /// Room ticks per second.
    pub tick_rate: u16,
    /// Match length.
    pub match_duration: Duration,
    /// How long a room waits for all its players before starting with those present.
    pub join_timeout: Duration,
    /// How long a room stays open after its match ends, so results are delivered.
    pub linger: Duration,
    /// The connect-token key shared with the matchmaker.
    pub token_key: TokenKey,
}

/// A node. Cheap to clone; clones share the rooms.
pub struct Node<G> {
    inner: Arc<NodeInner<G>>,
}

impl<G> Clone for Node<G> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct NodeInner<G> {
    game: G,
    config: NodeConfig,
    rooms: DashMap<u64, Arc<RoomStatus>>,
    free_ports: Mutex<VecDeque<u16>>,
}

impl<G: Game + Clone> Node<G> {
    /// A node that hosts `game` rooms.
    pub fn new(game: G, config: NodeConfig) -> Self {
        let (first, last) = config.udp_ports;
        Self {
            inner: Arc::new(NodeInner {
                game,
                free_ports: Mutex::new((first..=last).collect()),
                config,
                rooms: DashMap::new(),
            }),
        }
    }

    /// Most rooms this node hosts at once: the configured maximum, or the number of ports if
    /// that is smaller.
    pub fn capacity(&self) -> usize {
        let (first, last) = self.inner.config.udp_ports;
        let ports = usize::from(last.saturating_sub(first)) + 1;
        self.inner.config.max_rooms.min(ports)
    }

    /// The rooms running now.
    pub fn rooms(&self) -> Vec<Arc<RoomStatus>> {
        let mut rooms: Vec<_> = self.inner.rooms.iter().map(|r| r.value().clone()).collect();
        rooms.sort_by_key(|r| r.id);
        rooms
    }

    /// Liveness and load.
    pub fn health(&self) -> Health {
        let rooms = self.rooms();
        Health {
            status: "ok".into(),
            rooms: rooms.len(),
            room_capacity: self.capacity(),
            players: rooms.iter().map(|r| r.connected_players()).sum(),
        }
    }

    fn free_ports(&self) -> std::sync::MutexGuard<'_, VecDeque<u16>> {
        self.inner
            .free_ports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a free port from the range and binds it. A port taken by another process goes to
    /// the back of the pool and the next is tried.
    fn bind_port(&self) -> Result<(UdpSocket, u16), AllocateError> {
        let mut free = self.free_ports();
        if self.inner.rooms.len() >= self.capacity() {
            return Err(AllocateError::NoCapacity);
        }
        for _ in 0..free.len() {
            let Some(port) = free.pop_front() else { break };
            match UdpSocket::bind(SocketAddr::new(self.inner.config.udp_bind_ip, port)) {
                Ok(socket) => return Ok((socket, port)),
                Err(e) => {
                    tracing::debug!(port, error = %e, "port unavailable, trying the next");
                    free.push_back(port);
                }
            }
        }
        Err(AllocateError::NoCapacity)
    }

    fn start_room(&self, request: AllocationRequest) -> Result<Allocation, AllocateError> {
        let config = &self.inner.config;
        if request.mode != self.inner.game.mode() {
            return Err(AllocateError::UnknownMode(request.mode));
        }
        if request.players.is_empty() {
            return Err(AllocateError::Failed(
                "a room needs at least one player".into(),
            ));
        }
        let (socket, port) = self.bind_port()?;
        // Ids stay below 2^53 so JavaScript clients read them exactly.
        let room_id = loop {
            let id = rand::random::<u64>() & ((1 << 53) - 1);
            if id != 0 && !self.inner.rooms.contains_key(&id) {
                break id;
            }
        };
        let addr = SocketAddr::new(config.public_ip, port);
        let transport =
            match RoomTransport::new(socket, addr, config.token_key, request.players.len()) {
                Ok(t) => t,
                Err(e) => {
                    self.free_ports().push_back(port);
                    return Err(AllocateError::Failed(e.to_string()));
                }
            };
        let settings = RoomSettings {
            room_id,
            tick_rate: config.tick_rate,
            match_duration: config.match_duration,
            join_timeout: config.join_timeout,
            linger: config.linger,
            seed: rand::random(),
            expected: request
                .players
                .iter()
                .map(|p| ExpectedPlayer {
                    player_id: p.player_id.clone(),
                    ticket_id: p.ticket_id.clone(),
                })
                .collect(),
        };
        let core = RoomCore::new(self.inner.game.clone(), settings);
        let status = Arc::new(RoomStatus::new(
            room_id,
            request.mode.clone(),
            addr,
            request.players.len(),
        ));
        self.inner.rooms.insert(room_id, status.clone());
        let node = self.clone();
        let tick_rate = config.tick_rate;
        tokio::spawn(async move {
            let room = tokio::spawn(run_room(core, transport, tick_rate, status));
            if let Err(e) = room.await {
                tracing::error!(room = room_id, error = %e, "room task failed");
            }
            // The room's socket is closed by now; its port can be reused.
            node.inner.rooms.remove(&room_id);
            node.free_ports().push_back(port);
        });
        tracing::debug!(room = room_id, %addr, players = request.players.len(), "room started");
        Ok(Allocation { room_id, addr })
    }
}

impl<G: Game + Clone> Allocator for Node<G> {
    async fn allocate(&self, request: AllocationRequest) -> Result<Allocation, AllocateError> {
        self.start_room(request)
    }
}
