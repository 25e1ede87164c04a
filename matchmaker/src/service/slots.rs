//! Replacements: places running matches opened for players who left, filled from the queue.

use super::*;

impl<S: TicketStore, A: Allocator> Matchmaker<S, A> {
    /// Records a place a running room wants filled; the next pass fills it.
    pub async fn open_slot(&self, slot: OpenSlot) -> Result<(), MatchmakerError> {
        self.inner.store.open_slot(slot).await?;
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Fills the mode's open slots, each with the longest-waiting solo player (a party needs
    /// more than one place) from the room's region, before new matches are made from the rest
    /// of `queued`. Slots past their expiry are dropped.
    pub(super) async fn fill_slots(
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
}
