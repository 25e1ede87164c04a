//! Ticket histories and the invariant checker.
//!
//! A store built with history recording (`MemoryStore::with_history`,
//! `RedisStore::with_history`) appends one [`TicketEvent`] per state change, in the order the
//! store applied them (in Redis, a stream written by the same scripts that change the tickets).
//! [`check`] replays them the way Jepsen checks a history: every ticket must start queued,
//! move only along the state machine, end in exactly one terminal state, and never hold two
//! assignments at once.

use std::collections::HashMap;

use crate::ticket::StateKind;

/// One state change of one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketEvent {
    /// The ticket (32 hex digits).
    pub ticket: String,
    /// The state it left; `None` when it was created.
    pub from: Option<StateKind>,
    /// The state it entered.
    pub to: StateKind,
    /// The room, for an assignment.
    pub room: Option<u64>,
    /// When, milliseconds since the Unix epoch.
    pub at_ms: u64,
}

/// What a history shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryCheck {
    /// Tickets seen.
    pub tickets: usize,
    /// Tickets that ended assigned.
    pub assigned: usize,
    /// Tickets that ended cancelled.
    pub cancelled: usize,
    /// Tickets that ended with no match.
    pub no_match: usize,
    /// Tickets still queued or matched at the end: lost, unless the run is still going.
    pub unfinished: Vec<String>,
    /// Times an assigned ticket went back to the queue (its room failed or its node died).
    pub requeued: usize,
    /// Times an assigned ticket followed its room to another node (the room resumed there
    /// from a copy after its node died): same room, new address.
    pub moved: usize,
    /// Broken rules, one line each.
    pub violations: Vec<String>,
}

impl HistoryCheck {
    /// Every ticket ended in exactly one terminal state and no rule was broken.
    pub fn is_clean(&self) -> bool {
        self.unfinished.is_empty() && self.violations.is_empty()
    }
}

/// Whether the state machine allows `from` → `to` (assigned → assigned is a room that moved;
/// [`check`] also asks that it be the same room).
fn allowed(from: StateKind, to: StateKind) -> bool {
    use StateKind::*;
    matches!(
        (from, to),
        (Queued, Matched | Cancelled | NoMatch)
            | (Matched, Assigned | Queued)
            | (Assigned, Queued | Assigned)
    )
}

/// Replays a history (in the order the store applied it) and reports what it shows.
pub fn check(events: &[TicketEvent]) -> HistoryCheck {
    struct Life {
        state: StateKind,
        /// Assignments not withdrawn by a requeue.
        live_assignments: u32,
        /// The room of the latest assignment.
        room: Option<u64>,
    }
    let mut lives: HashMap<&str, Life> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    let mut report = HistoryCheck::default();
    for event in events {
        let id = event.ticket.as_str();
        match (lives.get_mut(id), event.from) {
            (None, None) if event.to == StateKind::Queued => {
                order.push(id);
                lives.insert(
                    id,
                    Life {
                        state: StateKind::Queued,
                        live_assignments: 0,
                        room: None,
                    },
                );
            }
            (None, _) => report.violations.push(format!(
                "ticket {id}: first event {:?} -> {:?} is not a creation",
                event.from, event.to
            )),
            (Some(_), None) => report
                .violations
                .push(format!("ticket {id}: created twice")),
            (Some(life), Some(from)) => {
                if from != life.state {
                    report.violations.push(format!(
                        "ticket {id}: moved from {from:?} while it was {:?} (a lost update)",
                        life.state
                    ));
                }
                if !allowed(from, event.to) {
                    report.violations.push(format!(
                        "ticket {id}: {from:?} -> {:?} is not a legal move",
                        event.to
                    ));
                }
                match (from, event.to) {
                    (StateKind::Assigned, StateKind::Assigned) => {
                        if event.room != life.room {
                            report.violations.push(format!(
                                "ticket {id}: moved from room {:?} to room {:?} without a requeue",
                                life.room, event.room
                            ));
                        }
                        report.moved += 1;
                    }
                    (_, StateKind::Assigned) => {
                        life.room = event.room;
                        life.live_assignments += 1;
                        if life.live_assignments > 1 {
                            report.violations.push(format!(
                                "ticket {id}: assigned to room {:?} while still assigned elsewhere",
                                event.room
                            ));
                        }
                    }
                    (StateKind::Assigned, StateKind::Queued) => {
                        life.live_assignments = life.live_assignments.saturating_sub(1);
                        report.requeued += 1;
                    }
                    _ => {}
                }
                life.state = event.to;
            }
        }
    }
    report.tickets = order.len();
    for id in order {
        match lives[id].state {
            StateKind::Assigned => report.assigned += 1,
            StateKind::Cancelled => report.cancelled += 1,
            StateKind::NoMatch => report.no_match += 1,
            StateKind::Queued | StateKind::Matched => report.unfinished.push(id.to_string()),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use StateKind::*;

    fn ev(ticket: &str, from: Option<StateKind>, to: StateKind) -> TicketEvent {
        TicketEvent {
            ticket: ticket.into(),
            from,
            to,
            room: (to == Assigned).then_some(1),
            at_ms: 0,
        }
    }

    #[test]
    fn a_clean_history_with_a_requeue_passes() {
        let h = [
            ev("a", None, Queued),
            ev("b", None, Queued),
            ev("a", Some(Queued), Matched),
            ev("a", Some(Matched), Assigned),
            ev("a", Some(Assigned), Queued), // its room failed
            ev("a", Some(Queued), Matched),
            ev("a", Some(Matched), Assigned),
            ev("a", Some(Assigned), Assigned), // its room resumed on another node
            ev("b", Some(Queued), Cancelled),
            ev("c", None, Queued),
            ev("c", Some(Queued), NoMatch),
        ];
        let r = check(&h);
        assert!(r.is_clean(), "{r:?}");
        assert_eq!(
            (
                r.tickets,
                r.assigned,
                r.cancelled,
                r.no_match,
                r.requeued,
                r.moved
            ),
            (3, 1, 1, 1, 1, 1)
        );
    }

    #[test]
    fn lost_tickets_double_assignments_and_illegal_moves_are_caught() {
        let lost = check(&[ev("a", None, Queued), ev("a", Some(Queued), Matched)]);
        assert_eq!(lost.unfinished, vec!["a".to_string()]);
        assert!(!lost.is_clean());

        let twice = check(&[
            ev("a", None, Queued),
            ev("a", Some(Queued), Matched),
            ev("a", Some(Matched), Assigned),
            ev("a", Some(Queued), Matched), // from a state it was not in
            ev("a", Some(Matched), Assigned),
        ]);
        assert!(
            twice.violations.iter().any(|v| v.contains("lost update")),
            "{twice:?}"
        );
        assert!(
            twice
                .violations
                .iter()
                .any(|v| v.contains("still assigned")),
            "{twice:?}"
        );

        let illegal = check(&[ev("a", None, Queued), ev("a", Some(Queued), Assigned)]);
        assert!(
            illegal
                .violations
                .iter()
                .any(|v| v.contains("not a legal move"))
        );
        let cancelled_after_assignment = check(&[
            ev("a", None, Queued),
            ev("a", Some(Queued), Matched),
            ev("a", Some(Matched), Assigned),
            ev("a", Some(Assigned), Cancelled),
        ]);
        assert!(!cancelled_after_assignment.is_clean());
        let jumped = check(&[
            ev("a", None, Queued),
            ev("a", Some(Queued), Matched),
            ev("a", Some(Matched), Assigned),
            TicketEvent {
                room: Some(2),
                ..ev("a", Some(Assigned), Assigned)
            },
        ]);
        assert!(
            jumped
                .violations
                .iter()
                .any(|v| v.contains("without a requeue")),
            "{jumped:?}"
        );
        let orphan = check(&[ev("z", Some(Queued), Matched)]);
        assert!(orphan.violations[0].contains("not a creation"));
    }
}
