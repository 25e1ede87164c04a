//! Node adverts: each node's `{prefix}node:{id}` key, renewed every heartbeat with a TTL, so a
//! node that stops is out of placement by itself.

use std::time::Duration;

use redis::AsyncCommands;

use super::{RedisStore, err};
use crate::store::StoreError;

impl RedisStore {
    /// Publishes a node's advert for `ttl`; a node that stops renewing it disappears.
    pub async fn advertise(
        &self,
        advert: &protocol::api::NodeAdvert,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let json = serde_json::to_string(advert).expect("an advert always serializes");
        redis::pipe()
            .atomic()
            .set_options(
                format!("{}node:{}", self.prefix, advert.id),
                json,
                redis::SetOptions::default()
                    .with_expiration(redis::SetExpiry::PX(ttl.as_millis() as u64)),
            )
            .sadd(format!("{}nodes", self.prefix), &advert.id)
            .query_async::<()>(&mut conn)
            .await
            .map_err(err)
    }

    /// Every node whose advert has not expired.
    pub async fn nodes(&self) -> Result<Vec<protocol::api::NodeAdvert>, StoreError> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = conn
            .smembers(format!("{}nodes", self.prefix))
            .await
            .map_err(err)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids
            .iter()
            .map(|id| format!("{}node:{id}", self.prefix))
            .collect();
        let adverts: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .map_err(err)?;
        let mut nodes = Vec::new();
        for (id, advert) in ids.iter().zip(adverts) {
            match advert.and_then(|a| serde_json::from_str(&a).ok()) {
                Some(node) => nodes.push(node),
                None => {
                    // Expired: the node stopped heartbeating.
                    let _: i64 = conn
                        .srem(format!("{}nodes", self.prefix), id)
                        .await
                        .map_err(err)?;
                }
            }
        }
        Ok(nodes)
    }
}
