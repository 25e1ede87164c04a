//! Finished matches' records in Redis: each is appended to `{prefix}matches`, a stream capped
//! at about [`MAX_MATCH_RECORDS`] entries (for whoever consumes results: ratings, webhooks),
//! and kept for lookup by room under `{prefix}match:{room}` for [`RECORD_TTL`].

use std::time::Duration;

use protocol::api::{MAX_MATCH_RECORDS, MatchRecord};
use redis::AsyncCommands;

use super::{RedisStore, err};
use crate::{results::MatchStore, store::StoreError};

/// How long a match's record stays readable by room.
pub const RECORD_TTL: Duration = Duration::from_secs(24 * 3600);

impl RedisStore {
    fn match_key(&self, room_id: u64) -> String {
        format!("{}match:{room_id}", self.prefix)
    }
}

impl MatchStore for RedisStore {
    async fn record_match(&self, record: MatchRecord) -> Result<(), StoreError> {
        let json = serde_json::to_string(&record)
            .map_err(|e| StoreError(format!("a match record does not encode: {e}")))?;
        let mut conn = self.conn.clone();
        redis::pipe()
            .atomic()
            .cmd("XADD")
            .arg(format!("{}matches", self.prefix))
            .arg("MAXLEN")
            .arg("~")
            .arg(MAX_MATCH_RECORDS)
            .arg("*")
            .arg("room")
            .arg(record.room_id)
            .arg("record")
            .arg(&json)
            .ignore()
            .set_ex(self.match_key(record.room_id), &json, RECORD_TTL.as_secs())
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(err)
    }

    async fn match_record(&self, room_id: u64) -> Result<Option<MatchRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let json: Option<String> = conn.get(self.match_key(room_id)).await.map_err(err)?;
        json.map(|json| {
            serde_json::from_str(&json)
                .map_err(|e| StoreError(format!("match {room_id}'s record does not decode: {e}")))
        })
        .transpose()
    }
}
