//! The ticket API: create (and wait), read with a long poll, cancel, requeue; and the waiters
//! each ticket's readers share.

use super::*;

impl<S: TicketStore, A: Allocator> Matchmaker<S, A> {
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

    pub(super) async fn read(&self, id: TicketId) -> Result<TicketView, MatchmakerError> {
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
    pub(super) async fn settle(
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
    pub(super) fn watch(&self, id: TicketId) -> watch::Receiver<Option<TicketView>> {
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
    pub(super) fn notify(&self, id: TicketId) {
        if let Some(w) = self.inner.watchers.get(&id) {
            w.0.send_replace(None);
        }
    }

    /// Hands a finished ticket's waiters its final view and forgets its channel.
    pub(super) fn finish(&self, id: TicketId, view: TicketView) {
        if let Some((_, (tx, _))) = self.inner.watchers.remove(&id) {
            tx.send_replace(Some(view));
        }
    }
}
