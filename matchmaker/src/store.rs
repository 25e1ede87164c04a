//! Where tickets live. [`TicketStore`] is the seam between the matchmaker and its storage:
//! [`MemoryStore`] for the single-process default; a shared store for several instances
//! implements the same trait.
//!
//! Every state change is a compare-and-set on the ticket's [`StateKind`], so concurrent callers
//! (the match loop, a cancel request, expiry) can never both win.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    future::Future,
    sync::Mutex,
};

use protocol::api::{Assignment, OpenSlot, TicketStatus};

use crate::{
    history::TicketEvent,
    results::{MatchLog, MatchStore},
    ticket::{StateKind, Ticket, TicketId, now_ms},
};

/// The store failed; the operation did not happen.
#[derive(Debug, Clone, thiserror::Error)]
#[error("ticket store unavailable: {0}")]
pub struct StoreError(pub String);

/// Storage for tickets and per-mode queues (and, beside them, the results of the matches they
/// were placed in).
pub trait TicketStore: MatchStore + Send + Sync + 'static {
    /// Adds a new ticket; if queued, it joins its mode's queue.
    fn insert(&self, ticket: Ticket) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Reads one ticket.
    fn get(&self, id: TicketId) -> impl Future<Output = Result<Option<Ticket>, StoreError>> + Send;

    /// The `limit` longest-waiting queued tickets of a mode, longest-waiting first.
    fn queued(
        &self,
        mode: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Ticket>, StoreError>> + Send;

    /// Atomically moves every listed ticket from queued to matched. If any of them is no longer
    /// queued, nothing changes and the result is `false`.
    fn claim(&self, ids: &[TicketId]) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Sets a ticket's status if it is currently in state `from`; returns the updated ticket,
    /// or `None` (and changes nothing) if the ticket is missing or in another state.
    fn transition(
        &self,
        id: TicketId,
        from: StateKind,
        to: TicketStatus,
    ) -> impl Future<Output = Result<Option<Ticket>, StoreError>> + Send;

    /// Puts an assigned ticket back in its queue (keeping its place), but only if it is still
    /// assigned to `room_id`: the room id fences off a late requeue from a room the ticket has
    /// already left. Returns the updated ticket, or `None` if nothing changed.
    fn requeue_from_room(
        &self,
        id: TicketId,
        room_id: u64,
    ) -> impl Future<Output = Result<Option<Ticket>, StoreError>> + Send;

    /// Gives a ticket assigned to `room_id` the assignment `to` (the same room, resumed on
    /// another node after its own died: a new address and connect token). Only a ticket still
    /// assigned to that room moves; returns the updated ticket, or `None` if nothing changed.
    fn move_assignment(
        &self,
        id: TicketId,
        room_id: u64,
        to: Assignment,
    ) -> impl Future<Output = Result<Option<Ticket>, StoreError>> + Send;

    /// Tickets matched (claimed) before `before_ms` and not assigned since: their claimer
    /// probably died mid-allocation.
    fn stale_matched(
        &self,
        before_ms: u64,
    ) -> impl Future<Output = Result<Vec<TicketId>, StoreError>> + Send;

    /// Forgets terminal tickets whose last change is older than `before_ms`; returns how many.
    fn purge_terminal(
        &self,
        before_ms: u64,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// How many tickets wait: queued per mode (in `modes`' order), and matched (claimed, not
    /// yet assigned) over all modes. Read for metrics and the dashboard; one cheap query.
    fn depths(
        &self,
        modes: &[String],
    ) -> impl Future<Output = Result<TicketDepths, StoreError>> + Send;

    /// Records a place a running room wants filled.
    fn open_slot(&self, slot: OpenSlot) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The open slots of a mode.
    fn open_slots(
        &self,
        mode: &str,
    ) -> impl Future<Output = Result<Vec<OpenSlot>, StoreError>> + Send;

    /// Removes a slot; `true` for exactly one of any number of concurrent callers, which then
    /// owns filling it.
    fn take_slot(
        &self,
        mode: &str,
        id: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// How many tickets wait, from [`TicketStore::depths`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketDepths {
    /// Queued tickets per mode, in the order the modes were asked for.
    pub queued: Vec<u64>,
    /// Claimed by a match, not yet assigned a room.
    pub matched: u64,
}

/// The in-memory store: one mutex over a map and per-mode ordered queues.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    matches: Mutex<MatchLog>,
}

#[derive(Debug, Default)]
struct Inner {
    tickets: HashMap<TicketId, Ticket>,
    /// Per mode: (enqueued_ms, id), so iteration is longest-waiting first.
    queues: HashMap<String, BTreeSet<(u64, TicketId)>>,
    /// Per mode: open slots by id.
    slots: HashMap<String, BTreeMap<String, OpenSlot>>,
    /// Every state change, when recording.
    history: Option<Vec<TicketEvent>>,
}

impl Inner {
    fn record(&mut self, ticket: &Ticket, from: Option<StateKind>) {
        if let Some(history) = &mut self.history {
            history.push(TicketEvent {
                ticket: ticket.id.to_string(),
                from,
                to: StateKind::of(&ticket.status),
                room: match &ticket.status {
                    TicketStatus::Assigned(a) => Some(a.room_id),
                    _ => None,
                },
                at_ms: ticket.updated_ms,
            });
        }
    }

    fn set_status(&mut self, id: TicketId, to: TicketStatus) -> Option<Ticket> {
        let ticket = self.tickets.get_mut(&id)?;
        let from = StateKind::of(&ticket.status);
        let key = (ticket.enqueued_ms, id);
        let queue = self.queues.entry(ticket.mode.clone()).or_default();
        if matches!(to, TicketStatus::Queued) {
            queue.insert(key);
        } else {
            queue.remove(&key);
        }
        ticket.status = to;
        ticket.updated_ms = now_ms();
        let ticket = ticket.clone();
        self.record(&ticket, Some(from));
        Some(ticket)
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store that records every state change, for [`crate::history::check`].
    pub fn with_history() -> Self {
        let store = Self::default();
        store.lock().history = Some(Vec::new());
        store
    }

    /// The recorded history, oldest first (empty unless recording).
    pub fn history(&self) -> Vec<TicketEvent> {
        self.lock().history.clone().unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the maps consistent (every mutation above is
        // complete before anything can panic), so a poisoned lock is still safe to use.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn matches(&self) -> std::sync::MutexGuard<'_, MatchLog> {
        // As above: an insert is complete before anything can panic.
        self.matches.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl TicketStore for MemoryStore {
    async fn insert(&self, ticket: Ticket) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if matches!(ticket.status, TicketStatus::Queued) {
            inner
                .queues
                .entry(ticket.mode.clone())
                .or_default()
                .insert((ticket.enqueued_ms, ticket.id));
        }
        inner.record(&ticket, None);
        inner.tickets.insert(ticket.id, ticket);
        Ok(())
    }

    async fn get(&self, id: TicketId) -> Result<Option<Ticket>, StoreError> {
        Ok(self.lock().tickets.get(&id).cloned())
    }

    async fn queued(&self, mode: &str, limit: usize) -> Result<Vec<Ticket>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .queues
            .get(mode)
            .map(|q| {
                q.iter()
                    .take(limit)
                    .filter_map(|(_, id)| inner.tickets.get(id).cloned())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn claim(&self, ids: &[TicketId]) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let all_queued = ids.iter().all(|id| {
            inner
                .tickets
                .get(id)
                .is_some_and(|t| matches!(t.status, TicketStatus::Queued))
        });
        if !all_queued {
            return Ok(false);
        }
        for &id in ids {
            inner.set_status(id, TicketStatus::Matched);
        }
        Ok(true)
    }

    async fn transition(
        &self,
        id: TicketId,
        from: StateKind,
        to: TicketStatus,
    ) -> Result<Option<Ticket>, StoreError> {
        let mut inner = self.lock();
        match inner.tickets.get(&id) {
            Some(t) if StateKind::of(&t.status) == from => Ok(inner.set_status(id, to)),
            _ => Ok(None),
        }
    }

    async fn requeue_from_room(
        &self,
        id: TicketId,
        room_id: u64,
    ) -> Result<Option<Ticket>, StoreError> {
        let mut inner = self.lock();
        match inner.tickets.get(&id).map(|t| &t.status) {
            Some(TicketStatus::Assigned(a)) if a.room_id == room_id => {
                Ok(inner.set_status(id, TicketStatus::Queued))
            }
            _ => Ok(None),
        }
    }

    async fn move_assignment(
        &self,
        id: TicketId,
        room_id: u64,
        to: Assignment,
    ) -> Result<Option<Ticket>, StoreError> {
        let mut inner = self.lock();
        match inner.tickets.get(&id).map(|t| &t.status) {
            Some(TicketStatus::Assigned(a)) if a.room_id == room_id && to.room_id == room_id => {
                Ok(inner.set_status(id, TicketStatus::Assigned(to)))
            }
            _ => Ok(None),
        }
    }

    async fn stale_matched(&self, before_ms: u64) -> Result<Vec<TicketId>, StoreError> {
        Ok(self
            .lock()
            .tickets
            .values()
            .filter(|t| matches!(t.status, TicketStatus::Matched) && t.updated_ms < before_ms)
            .map(|t| t.id)
            .collect())
    }

    async fn depths(&self, modes: &[String]) -> Result<TicketDepths, StoreError> {
        let inner = self.lock();
        Ok(TicketDepths {
            queued: modes
                .iter()
                .map(|m| inner.queues.get(m).map_or(0, |q| q.len() as u64))
                .collect(),
            matched: inner
                .tickets
                .values()
                .filter(|t| matches!(t.status, TicketStatus::Matched))
                .count() as u64,
        })
    }

    async fn purge_terminal(&self, before_ms: u64) -> Result<usize, StoreError> {
        let mut inner = self.lock();
        let before = inner.tickets.len();
        inner
            .tickets
            .retain(|_, t| !(t.status.is_terminal() && t.updated_ms < before_ms));
        Ok(before - inner.tickets.len())
    }

    async fn open_slot(&self, slot: OpenSlot) -> Result<(), StoreError> {
        self.lock()
            .slots
            .entry(slot.mode.clone())
            .or_default()
            .insert(slot.id.clone(), slot);
        Ok(())
    }

    async fn open_slots(&self, mode: &str) -> Result<Vec<OpenSlot>, StoreError> {
        Ok(self
            .lock()
            .slots
            .get(mode)
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn take_slot(&self, mode: &str, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .slots
            .get_mut(mode)
            .is_some_and(|s| s.remove(id).is_some()))
    }
}
