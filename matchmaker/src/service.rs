//! The matchmaker service: ticket requests in, assignments out, and the loop that matches.

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

    /// Validates a request and queues a ticket.
    pub async fn create_ticket(
        &self,
        request: CreateTicketRequest,
    ) -> Result<TicketView, MatchmakerError> {
        self.create_ticket_and_wait(request, Duration::ZERO).await
    }

    /// Queues a ticket, then waits up to `wait` for it to finish, as [`Matchmaker::ticket`]
    /// does, without reading back what it has just written.
    pub async fn create_ticket_and_wait(
        &self,
        request: CreateTicketRequest,
        wait: Duration,
    ) -> Result<TicketView, MatchmakerError> {
        let Some(rules) = self
            .inner
            .config
            .modes
            .iter()
            .find(|m| m.name == request.mode)
        else {
            return Err(MatchmakerError::UnknownMode {
                mode: request.mode.chars().take(64).collect(),
                known: self.modes().map(String::from).collect(),
            });
        };
        if let Some(party) = &request.party {
            party::validate(party, rules)?;
        }
        let skill = request.skill.unwrap_or(DEFAULT_SKILL);
        if !skill.is_finite() || !(0.0..=100_000.0).contains(&skill) {
            return Err(MatchmakerError::InvalidRequest(
                "skill must be a finite number between 0 and 100000".into(),
            ));
        }
        let region = best_region(request.latencies.as_ref())?;
        let id = TicketId::random();
        let player_id = match request.player_id {
            Some(p) => {
                if p.is_empty()
                    || p.len() > MAX_PLAYER_ID_BYTES
                    || p.chars().any(|c| c.is_control())
                {
                    return Err(MatchmakerError::InvalidRequest(format!(
                        "player_id must be 1 to {MAX_PLAYER_ID_BYTES} bytes with no control characters"
                    )));
                }
                p
            }
            None => format!("player-{}", &id.to_string()[..12]),
        };
        let now = now_ms();
        let ticket = Ticket {
            id,
            mode: request.mode,
            player_id,
            skill,
            region,
            party: request.party,
            enqueued_ms: now,
            updated_ms: now,
            status: TicketStatus::Queued,
        };
        let view = ticket.view();
        let changes = self.watch(id);
        self.inner.store.insert(ticket).await?;
        self.inner
            .stats
            .tickets_created
            .fetch_add(1, Ordering::Relaxed);
        self.inner.wake.notify_one();
        self.settle(id, view, Some(changes), wait).await
    }

    /// Reads a ticket; while it is queued or matched, waits up to `wait` for it to change.
    pub async fn ticket(&self, id: &str, wait: Duration) -> Result<TicketView, MatchmakerError> {
        let id: TicketId = id.parse().map_err(|_| MatchmakerError::BadTicketId)?;
        // Subscribe before reading, so a change between the two is not missed. A ticket made
        // through another instance gets a channel here too, which its finish (here, or
        // another instance's through the change feed) then wakes.
        let changes = self.watch(id);
        let mut view = self.read(id).await?;
        if view.status.is_terminal() {
            self.inner.watchers.remove(&id);
            if let TicketStatus::Assigned(assignment) = &view.status {
                view.results = self.inner.store.match_record(assignment.room_id).await?;
            }
            return Ok(view);
        }
        self.settle(id, view, Some(changes), wait).await
    }

    async fn read(&self, id: TicketId) -> Result<TicketView, MatchmakerError> {
        Ok(self
            .inner
            .store
            .get(id)
            .await?
            .ok_or(MatchmakerError::TicketNotFound)?
            .view())
    }

    /// Waits up to `wait` for a ticket last seen as `view` to reach a terminal state. A ticket
    /// this instance finishes arrives through its channel with no store read; changes made by
    /// another instance sharing the store are found by re-reading now and then.
    async fn settle(
        &self,
        id: TicketId,
        mut view: TicketView,
        mut changes: Option<watch::Receiver<Option<TicketView>>>,
        wait: Duration,
    ) -> Result<TicketView, MatchmakerError> {
        let deadline = tokio::time::Instant::now() + wait.min(MAX_LONG_POLL);
        loop {
            if view.status.is_terminal() || tokio::time::Instant::now() >= deadline {
                return Ok(view);
            }
            let poll = tokio::time::sleep_until(
                deadline.min(tokio::time::Instant::now() + self.inner.config.reread_interval),
            );
            if let Some(rx) = changes.as_mut() {
                tokio::select! {
                    changed = rx.changed() => {
                        if let Some(last) = rx.borrow_and_update().clone() {
                            return Ok(last);
                        }
                        if changed.is_err() {
                            changes = None; // finished without a view: re-read from now on
                        }
                    }
                    _ = poll => {}
                }
            } else {
                poll.await;
            }
            view = self.read(id).await?;
        }
    }

    /// Cancels a queued ticket. A ticket already matched or finished cannot be cancelled.
    pub async fn cancel(&self, id: &str) -> Result<TicketView, MatchmakerError> {
        let id: TicketId = id.parse().map_err(|_| MatchmakerError::BadTicketId)?;
        match self
            .inner
            .store
            .transition(id, StateKind::Queued, TicketStatus::Cancelled)
            .await?
        {
            Some(ticket) => {
                self.inner
                    .stats
                    .tickets_cancelled
                    .fetch_add(1, Ordering::Relaxed);
                let view = ticket.view();
                self.finish(id, view.clone());
                Ok(view)
            }
            None => match self.inner.store.get(id).await? {
                None => Err(MatchmakerError::TicketNotFound),
                Some(ticket) => Err(MatchmakerError::NotCancellable(Box::new(ticket.view()))),
            },
        }
    }

    /// Puts tickets assigned to `room_id` back in the queue, at the front (they keep their
    /// original queue time), because that room failed. Tickets assigned elsewhere by now are
    /// left alone. Returns how many went back.
    pub async fn requeue(
        &self,
        room_id: u64,
        ticket_ids: &[String],
    ) -> Result<usize, MatchmakerError> {
        let requeued = requeue_tickets(&self.inner.store, room_id, ticket_ids).await?;
        for &id in &requeued {
            self.watch(id);
            self.notify(id);
        }
        self.inner.wake.notify_one();
        Ok(requeued.len())
    }

    /// The ticket's change channel, made if missing; returns a receiver.
    fn watch(&self, id: TicketId) -> watch::Receiver<Option<TicketView>> {
        self.inner
            .watchers
            .entry(id)
            .or_insert_with(|| (watch::channel(None).0, tokio::time::Instant::now()))
            .0
            .subscribe()
    }

    /// Wakes the local waiters of tickets another instance finished, as they arrive (see
    /// [`crate::RedisStore::finished_tickets`]); they re-read and return. Runs until the feed
    /// ends.
    pub async fn follow_finished(
        self,
        mut finished: tokio::sync::mpsc::UnboundedReceiver<TicketId>,
    ) {
        while let Some(id) = finished.recv().await {
            self.notify(id);
        }
    }

    /// Tells a ticket's waiters it changed (they re-read it).
    fn notify(&self, id: TicketId) {
        if let Some(w) = self.inner.watchers.get(&id) {
            w.0.send_replace(None);
        }
    }

    /// Hands a finished ticket's waiters its final view and forgets its channel.
    fn finish(&self, id: TicketId, view: TicketView) {
        if let Some((_, (tx, _))) = self.inner.watchers.remove(&id) {
            tx.send_replace(Some(view));
        }
    }

    /// Runs matching passes until `shutdown` resolves: whenever a ticket arrives, and at least
    /// every `match_interval` so waiting tickets' windows widen and old ones expire.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut last_purge = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.inner.wake.notified() => {
                    tokio::time::sleep(self.inner.config.coalesce).await;
                }
                _ = tokio::time::sleep(self.inner.config.match_interval) => {}
            }
            if let Err(e) = self.match_once().await {
                tracing::warn!(error = %e, "matching pass failed");
            }
            if last_purge.elapsed() >= Duration::from_secs(1) {
                last_purge = tokio::time::Instant::now();
                self.purge().await;
                if let Err(e) = self.refresh_depths().await {
                    tracing::warn!(error = %e, "counting tickets failed");
                }
            }
        }
    }

    async fn purge(&self) {
        // Release claims nobody finished (a matchmaker died between claim and assignment).
        let lease = self.inner.config.claim_lease.as_millis() as u64;
        match self
            .inner
            .store
            .stale_matched(now_ms().saturating_sub(lease))
            .await
        {
            Ok(stale) => {
                for id in stale {
                    if let Ok(Some(_)) = self
                        .inner
                        .store
                        .transition(id, StateKind::Matched, TicketStatus::Queued)
                        .await
                    {
                        tracing::warn!(ticket = %id, "claim expired unassigned; ticket back in the queue");
                        self.watch(id);
                        self.notify(id);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "looking for expired claims failed"),
        }
        let retention = self.inner.config.ticket_retention.as_millis() as u64;
        let before = now_ms().saturating_sub(retention);
        if let Err(e) = self.inner.store.purge_terminal(before).await {
            tracing::warn!(error = %e, "purging old tickets failed");
        }
        // Safety net for channels of tickets this instance never saw finish (another instance
        // finished them): forget them after the retention. Purely local; no store reads.
        let cutoff = self.inner.config.ticket_retention;
        self.inner
            .watchers
            .retain(|_, (_, made)| made.elapsed() < cutoff);
    }

    /// One matching pass over every mode: expires tickets past the mode's maximum wait, groups
    /// the rest, allocates rooms and assigns tickets. Returns how many matches it made.
    pub async fn match_once(&self) -> Result<usize, MatchmakerError> {
        let mut made = 0;
        for rules in &self.inner.config.modes {
            made += self.match_mode(rules).await?;
        }
        Ok(made)
    }

    async fn match_mode(&self, rules: &ModeRules) -> Result<usize, MatchmakerError> {
        let now = now_ms();
        let mut queued = self
            .inner
            .store
            .queued(&rules.name, self.inner.config.max_pass_tickets)
            .await?;
        let max_wait = rules.max_wait.as_millis() as u64;
        let mut kept = Vec::with_capacity(queued.len());
        for ticket in queued.drain(..) {
            // Expiry counts from when the ticket last entered the queue (a requeued ticket gets
            // a fresh wait), while its place in the queue keeps its first enqueue time.
            if now.saturating_sub(ticket.updated_ms) > max_wait {
                if let Some(ended) = self
                    .inner
                    .store
                    .transition(ticket.id, StateKind::Queued, TicketStatus::NoMatch)
                    .await?
                {
                    self.inner
                        .stats
                        .tickets_expired
                        .fetch_add(1, Ordering::Relaxed);
                    self.finish(ticket.id, ended.view());
                }
            } else {
                kept.push(ticket);
            }
        }
        self.fill_slots(rules, &mut kept).await?;
        // Players are matched within their region (those without latencies among themselves);
        // a party goes where its longest-waiting member's region is.
        let mut by_region: std::collections::BTreeMap<Option<String>, Vec<Vec<Ticket>>> =
            Default::default();
        for unit in party::units(kept) {
            by_region
                .entry(unit[0].region.clone())
                .or_default()
                .push(unit);
        }
        let mut made = 0;
        for (region, units) in by_region {
            let candidates: Vec<Candidate> = units
                .iter()
                .map(|unit| Candidate {
                    skill: unit.iter().map(|t| t.skill).sum::<f64>() / unit.len() as f64,
                    waited: Duration::from_millis(now.saturating_sub(unit[0].enqueued_ms)),
                    players: unit.len(),
                })
                .collect();
            // Groups are claimed and allocated concurrently: with a networked store each step
            // is a round trip, and one pass must not wait for them one group at a time.
            let groups = find_matches(rules, &candidates);
            let outcomes = futures_util::future::join_all(groups.iter().map(|group| {
                let tickets: Vec<(&Ticket, u8)> = group
                    .iter()
                    .flat_map(|p| units[p.candidate].iter().map(move |t| (t, p.team)))
                    .collect();
                self.claim_and_assign(rules, region.clone(), tickets)
            }))
            .await;
            for outcome in outcomes {
                made += usize::from(outcome?);
            }
        }
        Ok(made)
    }

    /// The store, for the modules that add to the service (results).
    pub(crate) fn store(&self) -> &S {
        &self.inner.store
    }

    /// Records a place a running room wants filled; the next pass fills it.
    pub async fn open_slot(&self, slot: OpenSlot) -> Result<(), MatchmakerError> {
        self.inner.store.open_slot(slot).await?;
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Fills the mode's open slots, each with the longest-waiting solo player (a party needs
    /// more than one place) from the room's region, before new matches are made from the rest
    /// of `queued`. Slots past their expiry are dropped.
    async fn fill_slots(
        &self,
        rules: &ModeRules,
        queued: &mut Vec<Ticket>,
    ) -> Result<(), MatchmakerError> {
        let store = &self.inner.store;
        let slots = store.open_slots(&rules.name).await?;
        let now = now_ms();
        for slot in slots {
            if slot.expires_ms <= now {
                store.take_slot(&rules.name, &slot.id).await?;
                continue;
            }
            let Some(at) = queued.iter().position(|t| {
                t.party.is_none()
                    && (slot.region.is_none() || t.region.is_none() || t.region == slot.region)
            }) else {
                continue;
            };
            if !store.take_slot(&rules.name, &slot.id).await? {
                continue; // another instance is filling it
            }
            let ticket = queued.remove(at);
            if !store.claim(&[ticket.id]).await? {
                store.open_slot(slot).await?; // the ticket went meanwhile; next pass
                continue;
            }
            let player = RoomPlayer {
                player_id: ticket.player_id.clone(),
                ticket_id: ticket.id.to_string(),
                team: slot.team,
            };
            let asked = std::time::Instant::now();
            let granted = self.inner.allocator.backfill(&slot, player).await;
            self.inner
                .stats
                .allocation_latency
                .observe(asked.elapsed().as_secs_f64());
            let assignment = match granted {
                Ok(allocation) => self.assignment(&allocation, &ticket, slot.team),
                Err(e) => Err(e),
            };
            match assignment {
                Ok(assignment) => {
                    let assigned = store
                        .transition(
                            ticket.id,
                            StateKind::Matched,
                            TicketStatus::Assigned(assignment),
                        )
                        .await?;
                    if let Some(assigned) = assigned {
                        self.inner.stats.backfills.fetch_add(1, Ordering::Relaxed);
                        self.count_assigned(&ticket);
                        self.finish(ticket.id, assigned.view());
                    }
                }
                Err(e) => {
                    // The room is probably over: the slot is dropped, the player queues on.
                    tracing::info!(room = slot.room_id, error = %e, "slot could not be filled");
                    store
                        .transition(ticket.id, StateKind::Matched, TicketStatus::Queued)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Claims one group and gives it a room; a group someone else took first is skipped, and
    /// one whose allocation fails goes back to the queue. Returns whether a match was made.
    async fn claim_and_assign(
        &self,
        rules: &ModeRules,
        region: Option<String>,
        tickets: Vec<(&Ticket, u8)>,
    ) -> Result<bool, MatchmakerError> {
        let ids: Vec<TicketId> = tickets.iter().map(|(t, _)| t.id).collect();
        if !self.inner.store.claim(&ids).await? {
            return Ok(false); // someone cancelled meanwhile; the rest wait for the next pass
        }
        match self.assign(rules, region.clone(), &tickets).await {
            Ok(()) => Ok(true),
            Err(e) => {
                self.inner
                    .stats
                    .allocation_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(mode = %rules.name, ?region, error = %e, "allocation failed; players requeued");
                for &id in &ids {
                    self.inner
                        .store
                        .transition(id, StateKind::Matched, TicketStatus::Queued)
                        .await?;
                    self.notify(id);
                }
                Ok(false)
            }
        }
    }

    /// Counts an assignment and how long the ticket waited for it, from its first entry into
    /// the queue (a requeued ticket's wait includes its failed room).
    fn count_assigned(&self, ticket: &Ticket) {
        let stats = &self.inner.stats;
        stats.tickets_assigned.fetch_add(1, Ordering::Relaxed);
        let waited_ms = now_ms().saturating_sub(ticket.enqueued_ms);
        stats.time_to_match.observe(waited_ms as f64 / 1000.0);
    }

    /// A ticket's assignment to a room: its address and a fresh connect token.
    fn assignment(
        &self,
        allocation: &Allocation,
        ticket: &Ticket,
        team: u8,
    ) -> Result<Assignment, AllocateError> {
        let config = &self.inner.config;
        assignment(
            &config.token_key,
            config.token_expiry,
            allocation,
            ticket,
            team,
        )
    }

    async fn assign(
        &self,
        rules: &ModeRules,
        region: Option<String>,
        tickets: &[(&Ticket, u8)],
    ) -> Result<(), AllocateError> {
        let request = AllocationRequest {
            mode: rules.name.clone(),
            rules: rules.room,
            region,
            players: tickets
                .iter()
                .map(|&(t, team)| RoomPlayer {
                    player_id: t.player_id.clone(),
                    ticket_id: t.id.to_string(),
                    team,
                })
                .collect(),
        };
        let asked = std::time::Instant::now();
        let allocation = self.inner.allocator.allocate(request).await;
        self.inner
            .stats
            .allocation_latency
            .observe(asked.elapsed().as_secs_f64());
        let allocation = allocation?;
        self.inner.stats.matches.fetch_add(1, Ordering::Relaxed);
        let assignments = tickets
            .iter()
            .map(|&(ticket, team)| Ok((ticket.id, self.assignment(&allocation, ticket, team)?)))
            .collect::<Result<Vec<_>, AllocateError>>()?;
        // All of a match's assignments at once: with a networked store they share round trips.
        let store = &self.inner.store;
        let results =
            futures_util::future::join_all(assignments.into_iter().map(|(id, a)| async move {
                (
                    id,
                    store
                        .transition(id, StateKind::Matched, TicketStatus::Assigned(a))
                        .await,
                )
            }))
            .await;
        for ((ticket, _), (id, result)) in tickets.iter().zip(results) {
            match result.map_err(|e| AllocateError::Failed(e.to_string()))? {
                Some(assigned) => {
                    self.count_assigned(ticket);
                    self.finish(id, assigned.view());
                }
                // Its claim lapsed and someone else has it now: its waiters re-read.
                None => self.notify(id),
            }
        }
        Ok(())
    }
}
