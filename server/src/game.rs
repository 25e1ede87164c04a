//! The [`Game`] trait: what a game must provide for a room to run it.
//!
//! A game is ECS components and systems plus two mappings: wire input to components
//! ([`Game::apply_input`]) and components to wire state ([`Game::write_snapshot`]). The room
//! owns the world, the tick, the players and the network; the game never sees a socket or a
//! clock, only [`RoomClock`].

use bevy_ecs::{prelude::*, schedule::Schedule};
use protocol::{EntityState, PlayerInput};
use serde::{Serialize, de::DeserializeOwned};

/// The room's clock as the game's systems see it. Updated by the room before every tick.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct RoomClock {
    /// Current tick number (starts at 1).
    pub tick: u32,
    /// Seconds per tick (1 / tick rate).
    pub dt: f32,
    /// Whether the match is running; before the start and after the end, gameplay is frozen.
    pub running: bool,
}

/// A game a room can run. One value per node; it is shared by all of the node's rooms, so all
/// per-match state lives in the [`World`].
pub trait Game: Clone + Send + Sync + 'static {
    /// Everything needed to rebuild a match's world: taken every checkpoint interval, restored
    /// after a crash. Must restore a world that behaves exactly as the one it was taken from
    /// (same iteration order, same random state), so a replay from it is deterministic. It is
    /// serializable so a running match can move to another node (live migration) or be kept
    /// in the cluster's store.
    type Checkpoint: Clone + Send + Serialize + DeserializeOwned + 'static;

    /// The mode name players queue for.
    fn mode(&self) -> &str;

    /// The playing field's width and height in world units (sent to clients on join).
    fn arena_size(&self) -> u32;

    /// Inserts the game's resources into a fresh world. `seed` makes the match reproducible.
    fn setup(&self, world: &mut World, seed: u64);

    /// Adds the game's systems; they run once per tick, in the order given.
    fn add_systems(&self, schedule: &mut Schedule);

    /// Spawns a player's avatar on `team`; returns the entity and its network id.
    fn spawn_player(&self, world: &mut World, team: u8) -> (Entity, u32);

    /// Removes a player's avatar (the player left, was replaced or was ejected).
    fn despawn_player(&self, world: &mut World, avatar: Entity);

    /// The player dropped and may come back to the same match: its avatar stays (with its
    /// score) and the game decides what it does meanwhile (the arena takes it out of play).
    fn player_dropped(&self, world: &mut World, avatar: Entity);

    /// The player who dropped is back: the same avatar is theirs again.
    fn player_returned(&self, world: &mut World, avatar: Entity);

    /// Input mapping: makes `input` the avatar's intent for this tick.
    fn apply_input(&self, world: &mut World, avatar: Entity, input: PlayerInput);

    /// Snapshot mapping: appends the state of every replicated entity to `out`.
    fn write_snapshot(&self, world: &mut World, out: &mut Vec<EntityState>);

    /// The avatar's (score, deaths), for results.
    fn score(&self, world: &World, avatar: Entity) -> (u32, u32);

    /// Whether someone has reached the score limit, which ends the match.
    fn score_limit_reached(&self, world: &mut World) -> bool;

    /// Captures the world's state.
    fn checkpoint(&self, world: &mut World) -> Self::Checkpoint;

    /// Fills a fresh world (already [`Game::setup`]) from a checkpoint. Returns each avatar's
    /// network id and its new entity.
    fn restore(&self, world: &mut World, checkpoint: &Self::Checkpoint) -> Vec<(u32, Entity)>;
}
