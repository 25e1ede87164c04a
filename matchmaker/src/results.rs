//! Finished matches' results, kept beside the tickets: nodes report each match as it ends;
//! players read them on their ticket and at `GET /v1/matches/{room_id}`.
//!
//! [`MatchStore`] is the seam: [`crate::MemoryStore`] keeps the newest
//! [`MAX_MATCH_RECORDS`] in memory ([`MatchLog`]); [`crate::RedisStore`] appends each to a
//! capped stream and keeps it for lookup for a day (`redis_store/match_records.rs`).

use std::{
    collections::{HashMap, VecDeque},
    future::Future,
};

use protocol::api::{MAX_MATCH_RECORDS, MatchRecord};

use crate::{Matchmaker, MatchmakerError, MemoryStore, store::StoreError};

/// Where finished matches are kept.
pub trait MatchStore: Send + Sync + 'static {
    /// Keeps a finished match's record (a second record for the same room replaces the first).
    fn record_match(
        &self,
        record: MatchRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The record of the match room `room_id` played, if it ended and is still kept.
    fn match_record(
        &self,
        room_id: u64,
    ) -> impl Future<Output = Result<Option<MatchRecord>, StoreError>> + Send;
}

impl<S: crate::TicketStore, A: crate::Allocator> Matchmaker<S, A> {
    /// Keeps the results of a match that ended (the node that ran it reports them).
    pub async fn record_match(&self, record: MatchRecord) -> Result<(), MatchmakerError> {
        tracing::debug!(room = record.room_id, reason = ?record.reason, "match results recorded");
        Ok(self.store().record_match(record).await?)
    }

    /// The results of the match room `room_id` played.
    pub async fn match_record(&self, room_id: u64) -> Result<MatchRecord, MatchmakerError> {
        self.store()
            .match_record(room_id)
            .await?
            .ok_or(MatchmakerError::MatchNotFound(room_id))
    }
}

/// The newest match records by room, oldest dropped first past `capacity`.
#[derive(Debug)]
pub(crate) struct MatchLog {
    records: HashMap<u64, MatchRecord>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl Default for MatchLog {
    fn default() -> Self {
        Self::with_capacity(MAX_MATCH_RECORDS)
    }
}

impl MatchLog {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            records: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn insert(&mut self, record: MatchRecord) {
        if self
            .records
            .insert(record.room_id, record.clone())
            .is_none()
        {
            self.order.push_back(record.room_id);
        }
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.records.remove(&oldest);
            }
        }
    }

    pub(crate) fn get(&self, room_id: u64) -> Option<MatchRecord> {
        self.records.get(&room_id).cloned()
    }
}

impl MatchStore for MemoryStore {
    async fn record_match(&self, record: MatchRecord) -> Result<(), StoreError> {
        self.matches().insert(record);
        Ok(())
    }

    async fn match_record(&self, room_id: u64) -> Result<Option<MatchRecord>, StoreError> {
        Ok(self.matches().get(room_id))
    }
}

#[cfg(test)]
mod tests {
    use protocol::{EndReason, Placement};

    use super::*;

    fn record(room_id: u64) -> MatchRecord {
        MatchRecord {
            room_id,
            game: "g".into(),
            mode: "m".into(),
            ended_ms: 1,
            reason: EndReason::Finished,
            ticks_played: 10,
            placements: vec![Placement {
                player_id: "p".into(),
                team: 0,
                rank: 1,
            }],
            results: serde_json::json!({"points": [3]}),
        }
    }

    #[test]
    fn the_log_keeps_the_newest_and_a_repeat_replaces() {
        let mut log = MatchLog::with_capacity(2);
        log.insert(record(1));
        log.insert(record(2));
        let mut again = record(1);
        again.ticks_played = 11;
        log.insert(again);
        assert_eq!(log.get(1).map(|r| r.ticks_played), Some(11));
        log.insert(record(3));
        assert_eq!(log.get(1), None, "the oldest went first");
        assert!(log.get(2).is_some() && log.get(3).is_some());
    }
}
