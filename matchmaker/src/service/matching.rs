//! The matching loop: each mode's queue grouped into matches by its rules, claimed, placed on
//! a node and assigned; expired tickets purged.

use super::*;

impl<S: TicketStore, A: Allocator> Matchmaker<S, A> {
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

    pub(super) async fn purge(&self) {
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

    pub(super) async fn match_mode(&self, rules: &ModeRules) -> Result<usize, MatchmakerError> {
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

    /// Claims one group and gives it a room; a group someone else took first is skipped, and
    /// one whose allocation fails goes back to the queue. Returns whether a match was made.
    pub(super) async fn claim_and_assign(
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
    pub(super) fn count_assigned(&self, ticket: &Ticket) {
        let stats = &self.inner.stats;
        stats.tickets_assigned.fetch_add(1, Ordering::Relaxed);
        let waited_ms = now_ms().saturating_sub(ticket.enqueued_ms);
        stats.time_to_match.observe(waited_ms as f64 / 1000.0);
    }

    /// A ticket's assignment to a room: its address and a fresh connect token.
    pub(super) fn assignment(
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

    pub(super) async fn assign(
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
