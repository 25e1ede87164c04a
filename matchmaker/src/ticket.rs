//! Tickets: one player's request for a match, and its life from queued to a terminal state.

use std::{fmt, str::FromStr};

use protocol::api::{Party, TicketStatus, TicketView};

/// A ticket id: 128 random bits, shown as 32 lowercase hex digits. Unguessable, so knowing
/// one's own ticket id says nothing about anyone else's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TicketId(pub u128);

impl TicketId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(rand::random())
    }
}

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// The text is not a ticket id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a ticket id (expected 32 hex digits)")]
pub struct BadTicketId;

impl FromStr for TicketId {
    type Err = BadTicketId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BadTicketId);
        }
        u128::from_str_radix(s, 16)
            .map(Self)
            .map_err(|_| BadTicketId)
    }
}

/// The states a ticket moves through, without their data; used for compare-and-set transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateKind {
    /// Waiting in its mode's queue.
    Queued,
    /// Claimed by a match; a room is being allocated.
    Matched,
    /// Terminal: has a room and a token.
    Assigned,
    /// Terminal: cancelled by the player.
    Cancelled,
    /// Terminal: no match within the mode's maximum wait.
    NoMatch,
}

impl StateKind {
    /// Every kind.
    pub const ALL: [Self; 5] = [
        Self::Queued,
        Self::Matched,
        Self::Assigned,
        Self::Cancelled,
        Self::NoMatch,
    ];

    /// Its name in stores and histories: `queued`, `matched`, `assigned`, `cancelled`,
    /// `no_match`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Matched => "matched",
            Self::Assigned => "assigned",
            Self::Cancelled => "cancelled",
            Self::NoMatch => "no_match",
        }
    }

    /// The kind with this [`StateKind::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind of a full status.
    pub fn of(status: &TicketStatus) -> Self {
        match status {
            TicketStatus::Queued => Self::Queued,
            TicketStatus::Matched => Self::Matched,
            TicketStatus::Assigned(_) => Self::Assigned,
            TicketStatus::Cancelled => Self::Cancelled,
            TicketStatus::NoMatch => Self::NoMatch,
        }
    }
}

/// A ticket as the matchmaker keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    /// Its id.
    pub id: TicketId,
    /// Game mode queued for.
    pub mode: String,
    /// The player's id.
    pub player_id: String,
    /// Skill rating.
    pub skill: f64,
    /// The region it is matched in (its lowest latency), if it gave latencies.
    pub region: Option<String>,
    /// The party it queued with, if any.
    pub party: Option<Party>,
    /// When it entered the queue, milliseconds since the Unix epoch. A ticket put back in the
    /// queue keeps this, so it goes back to the front.
    pub enqueued_ms: u64,
    /// When its status last changed, milliseconds since the Unix epoch.
    pub updated_ms: u64,
    /// Where it stands.
    pub status: TicketStatus,
}

impl Ticket {
    /// The API's view of this ticket.
    pub fn view(&self) -> TicketView {
        TicketView {
            id: self.id.to_string(),
            mode: self.mode.clone(),
            player_id: self.player_id.clone(),
            skill: self.skill,
            region: self.region.clone(),
            party: self.party.clone(),
            status: self.status.clone(),
            results: None,
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    protocol::unix_now().as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_ids_round_trip_and_reject_junk() {
        let id = TicketId::random();
        assert_eq!(id.to_string().parse::<TicketId>(), Ok(id));
        for bad in [
            "",
            "xyz",
            "0123",
            &"g".repeat(32),
            &"0".repeat(33),
            "+0000000000000000000000000000000",
        ] {
            assert_eq!(bad.parse::<TicketId>(), Err(BadTicketId), "{bad:?}");
        }
    }
}
