//! The matchmaker service: ticket requests in, assignments out, and the loop that matches.
//! This file holds the service's state, configuration and counters and the assignment a
//! ticket gets; `tickets.rs` the ticket API, `matching.rs` the loop, `slots.rs` replacements.

mod matching;
mod slots;
mod tickets;

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use dashmap::DashMap;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use protocol::{
    MAX_PLAYER_ID_BYTES, TokenKey, TokenUserData,
    api::{Assignment, CreateTicketRequest, OpenSlot, RoomPlayer, TicketStatus, TicketView},
    issue_token, token_to_base64, unix_now,
};
use tokio::sync::{Notify, watch};

use crate::{
    allocator::{AllocateError, Allocation, AllocationRequest, Allocator},
    error::MatchmakerError,
    party,
    rules::{Candidate, ModeRules, find_matches},
    store::{StoreError, TicketDepths, TicketStore},
    ticket::{StateKind, Ticket, TicketId, now_ms},
};

/// Puts assigned tickets straight back in their queue, at the front, in the store itself (a
/// failed room's players; in distributed mode the node uses
/// [`crate::RedisStore::requeue_hosted_room`], which also checks where the room is recorded).
/// Only tickets still assigned to `room_id` move (the room id fences off a late requeue); ids
/// that are malformed or not assigned there are skipped. Returns the ids that went back.
pub(crate) async fn requeue_tickets<S: TicketStore>(
    store: &S,
    room_id: u64,
    ticket_ids: &[String],
) -> Result<Vec<TicketId>, StoreError> {
    requeue_each(ticket_ids, |id| store.requeue_from_room(id, room_id)).await
}

/// Runs `requeue` for every well-formed id; the ids it moved.
pub(crate) async fn requeue_each<F: Future<Output = Result<Option<Ticket>, StoreError>>>(
    ticket_ids: &[String],
    mut requeue: impl FnMut(TicketId) -> F,
) -> Result<Vec<TicketId>, StoreError> {
    let mut requeued = Vec::new();
    for id in ticket_ids {
        let Ok(id) = id.parse::<TicketId>() else {
            continue;
        };
        if requeue(id).await?.is_some() {
            requeued.push(id);
        }
    }
    Ok(requeued)
}

/// A ticket's assignment to a room on `team`: the room's address and a fresh connect token
/// (signed with `key`, valid for `expiry`) naming the room, the ticket and its player.
pub(crate) fn assignment(
    key: &TokenKey,
    expiry: Duration,
    allocation: &Allocation,
    ticket: &Ticket,
    team: u8,
) -> Result<Assignment, AllocateError> {
    let user_data = TokenUserData {
        room_id: allocation.room_id,
        ticket_id: ticket.id.to_string(),
        player_id: ticket.player_id.clone(),
    };
    let token = issue_token(
        key,
        &allocation.game,
        unix_now(),
        expiry,
        rand::random(),
        allocation.addr,
        &user_data,
    )
    .map_err(|e| AllocateError::Failed(e.to_string()))?;
    Ok(Assignment {
        server_addr: allocation.addr.to_string(),
        connect_token: token_to_base64(&token),
        room_id: allocation.room_id,
        player_id: ticket.player_id.clone(),
        team,
        game: allocation.game.clone(),
    })
}

/// Most regions a ticket may list.
const MAX_REGIONS: usize = 16;

/// The region with the lowest latency, after checking the map is sane.
fn best_region(
    latencies: Option<&std::collections::BTreeMap<String, u32>>,
) -> Result<Option<String>, MatchmakerError> {
    let Some(latencies) = latencies else {
        return Ok(None);
    };
    if latencies.is_empty() || latencies.len() > MAX_REGIONS {
        return Err(MatchmakerError::InvalidRequest(format!(
            "latencies must name 1 to {MAX_REGIONS} regions"
        )));
    }
    if let Some((name, _)) = latencies.iter().find(|(name, ms)| {
        name.is_empty() || name.len() > 32 || name.chars().any(|c| c.is_control()) || **ms > 10_000
    }) {
        return Err(MatchmakerError::InvalidRequest(format!(
            "latencies: region {name:?} must be 1 to 32 bytes with a latency of at most 10000 ms"
        )));
    }
    Ok(latencies
        .iter()
        .min_by_key(|(_, ms)| **ms)
        .map(|(name, _)| name.clone()))
}

/// Skill assumed when a ticket gives none.
pub const DEFAULT_SKILL: f64 = 1000.0;

/// Longest a `GET /v1/tickets/{id}` long-poll waits.
pub const MAX_LONG_POLL: Duration = Duration::from_secs(30);

/// How the matchmaker runs.
#[derive(Debug, Clone)]
pub struct MatchmakerConfig {
    /// The modes players may queue for.
    pub modes: Vec<ModeRules>,
    /// Key that signs and encrypts connect tokens; the rooms hold the same key.
    pub token_key: TokenKey,
    /// How long an issued connect token stays valid (capped at 30 s).
    pub token_expiry: Duration,
    /// Longest pause between two matching passes.
    pub match_interval: Duration,
    /// After a ticket arrives, wait this long before matching, so a burst of arrivals is
    /// matched in one pass (each pass reads the whole queue from the store).
    pub coalesce: Duration,
    /// How long finished tickets stay readable.
    pub ticket_retention: Duration,
    /// A claimed (matched) ticket not assigned within this goes back to the queue: its
    /// matchmaker probably died mid-allocation. Longer than any allocation takes.
    pub claim_lease: Duration,
    /// Most tickets of one mode a pass considers, longest-waiting first: a deep queue is
    /// worked through over several passes, each short, instead of one long one.
    pub max_pass_tickets: usize,
    /// How often a long-poll re-reads its ticket to see a change another instance made.
    /// With a change feed ([`Matchmaker::follow_finished`]) this is only a fallback.
    pub reread_interval: Duration,
    /// Tickets one client IP may create per second (bursts of ten seconds' worth); 0 turns
    /// the limit off.
    pub ticket_rate_per_ip: u32,
}

impl MatchmakerConfig {
    /// Defaults around one mode list and key.
    pub fn new(modes: Vec<ModeRules>, token_key: TokenKey) -> Self {
        Self {
            modes,
            token_key,
            token_expiry: Duration::from_secs(30),
            match_interval: Duration::from_millis(20),
            coalesce: Duration::from_millis(5),
            ticket_retention: Duration::from_secs(300),
            claim_lease: Duration::from_secs(10),
            max_pass_tickets: 10_000,
            reread_interval: Duration::from_millis(250),
            ticket_rate_per_ip: 100,
        }
    }
}

/// Counters and histograms since start (exported by [`crate::metrics`]).
#[derive(Debug)]
pub struct MatchmakerStats {
    /// Tickets created.
    pub tickets_created: AtomicU64,
    /// Tickets assigned to a room.
    pub tickets_assigned: AtomicU64,
    /// Matches made (rooms allocated).
    pub matches: AtomicU64,
    /// Allocation attempts that failed (players went back to the queue).
    pub allocation_failures: AtomicU64,
    /// Players placed into running matches as replacements.
    pub backfills: AtomicU64,
    /// Tickets cancelled by their player.
    pub tickets_cancelled: AtomicU64,
    /// Tickets that waited past their mode's longest wait.
    pub tickets_expired: AtomicU64,
    /// Seconds from a ticket's first entry into the queue to its assignment.
    pub time_to_match: Histogram,
    /// Seconds an allocator took to grant (or refuse) a room.
    pub allocation_latency: Histogram,
}

impl Default for MatchmakerStats {
    fn default() -> Self {
        Self {
            tickets_created: AtomicU64::new(0),
            tickets_assigned: AtomicU64::new(0),
            matches: AtomicU64::new(0),
            allocation_failures: AtomicU64::new(0),
            backfills: AtomicU64::new(0),
            tickets_cancelled: AtomicU64::new(0),
            tickets_expired: AtomicU64::new(0),
            // 5 ms to ~5 min: a match in one pass up to the longest sensible wait.
            time_to_match: Histogram::new(exponential_buckets(0.005, 2.0, 17)),
            // 100 us (in process) to ~3 s (a node across a slow network).
            allocation_latency: Histogram::new(exponential_buckets(0.0001, 2.0, 15)),
        }
    }
}

/// The matchmaker. Cheap to clone; clones share everything.
pub struct Matchmaker<S, A> {
    inner: Arc<Inner<S, A>>,
}

impl<S, A> Clone for Matchmaker<S, A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<S, A> {
    store: S,
    allocator: A,
    config: MatchmakerConfig,
    /// Per live ticket, a channel long-polls wait on, and when it was made; the store stays the
    /// source of truth. `None` means "changed, re-read"; the ticket's final view is sent once
    /// this instance finishes it, and the channel is dropped.
    watchers: DashMap<TicketId, (watch::Sender<Option<TicketView>>, tokio::time::Instant)>,
    wake: Notify,
    stats: MatchmakerStats,
    /// The store's ticket counts, refreshed every second by the matching loop.
    depths: std::sync::Mutex<TicketDepths>,
}

impl<S: TicketStore, A: Allocator> Matchmaker<S, A> {
    /// A matchmaker over a store and an allocator.
    pub fn new(store: S, allocator: A, config: MatchmakerConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                allocator,
                config,
                watchers: DashMap::new(),
                wake: Notify::new(),
                stats: MatchmakerStats::default(),
                depths: Default::default(),
            }),
        }
    }

    /// How it runs.
    pub fn config(&self) -> &MatchmakerConfig {
        &self.inner.config
    }

    /// Counters since start.
    pub fn stats(&self) -> &MatchmakerStats {
        &self.inner.stats
    }

    /// Tickets waiting as of the matching loop's last count (once a second): queued per mode
    /// in [`Matchmaker::modes`] order, and matched.
    pub fn depths(&self) -> TicketDepths {
        self.inner
            .depths
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Counts the store's waiting tickets now (see [`Matchmaker::depths`]).
    pub async fn refresh_depths(&self) -> Result<TicketDepths, MatchmakerError> {
        let modes: Vec<String> = self.modes().map(String::from).collect();
        let depths = self.inner.store.depths(&modes).await?;
        *self.inner.depths.lock().unwrap_or_else(|p| p.into_inner()) = depths.clone();
        Ok(depths)
    }

    /// The mode names players may queue for.
    pub fn modes(&self) -> impl Iterator<Item = &str> {
        self.inner.config.modes.iter().map(|m| m.name.as_str())
    }

    /// The store, for the modules that add to the service (results).
    pub(crate) fn store(&self) -> &S {
        &self.inner.store
    }
}
