//! What a game implements to run on Rallypoint: the [`Game`] trait, and what its systems
//! see of the room ([`RoomClock`], [`GameEvents`]).
//!
//! This crate is the API boundary between the engine (the `server` crate: rooms, nodes,
//! supervision, migration, the network) and a game: both depend on it, neither on the other's
//! insides. The game's wire types are declared in `protocol` ([`protocol::GameProtocol`]);
//! this crate adds the server side, which needs bevy.
//!
//! A game is ECS components and systems plus lifecycle hooks and mappings: each player is an
//! entity the game spawns when the player joins (an avatar, a seat, a hand), wire input and
//! commands become components or resources, the world becomes wire state, and the game says
//! when the match is over and with what results. The room owns the world, the tick, the
//! players and the network; the game never sees a socket or a clock, only [`RoomClock`], and
//! sends its own events through [`GameEvents`].

#![warn(missing_docs)]

use bevy_ecs::{prelude::*, schedule::Schedule};
use protocol::{GameProtocol, Placement};
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

/// Who a game event is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    /// Every player in the room.
    All,
    /// The player whose entity this is.
    Player(Entity),
}

/// The game's outbox of events for this tick, a resource in every room's world: systems push,
/// the room sends them reliably after the tick. Events of a tick replayed after a restart are
/// not sent again.
#[derive(Resource, Debug)]
pub struct GameEvents<E> {
    pending: Vec<(Recipient, E)>,
}

impl<E> Default for GameEvents<E> {
    fn default() -> Self {
        Self {
            pending: Vec::new(),
        }
    }
}

impl<E: Send + Sync + 'static> GameEvents<E> {
    /// Sends `event` to `to` at the end of this tick.
    pub fn send(&mut self, to: Recipient, event: E) {
        self.pending.push((to, event));
    }

    /// Takes this tick's events out, oldest first (the room does, after each tick).
    pub fn drain(&mut self) -> std::vec::Drain<'_, (Recipient, E)> {
        self.pending.drain(..)
    }
}

/// A player as the game learns of it when it joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayerInfo<'a> {
    /// The player's id, as queued.
    pub player_id: &'a str,
    /// The player's team.
    pub team: u8,
}

/// What the game made for a joining player.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Joined {
    /// The entity that stands for the player in the world: the room hands it back with the
    /// player's inputs, commands and lifecycle.
    pub entity: Entity,
    /// The network id of the entity the player controls, if the game replicates one: sent in
    /// the welcome, and the centre of the player's interest.
    pub net_id: Option<u32>,
}

/// A player who took part, as the game ranks them at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Participant<'a> {
    /// The player's id.
    pub player_id: &'a str,
    /// The player's team.
    pub team: u8,
    /// The player's entity (still there unless the game despawned it when the player left).
    pub entity: Entity,
}

/// A finished match as the game reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome<R> {
    /// One per participant, best first.
    pub placements: Vec<Placement>,
    /// The game's own results.
    pub results: R,
}

/// The game's input type.
pub type InputOf<G> = <<G as Game>::Protocol as GameProtocol>::Input;
/// The game's command type.
pub type CommandOf<G> = <<G as Game>::Protocol as GameProtocol>::Command;
/// The game's event type.
pub type EventOf<G> = <<G as Game>::Protocol as GameProtocol>::Event;
/// The game's welcome type.
pub type WelcomeOf<G> = <<G as Game>::Protocol as GameProtocol>::Welcome;
/// The game's results type.
pub type ResultsOf<G> = <<G as Game>::Protocol as GameProtocol>::Results;
/// The game's replicated entity state.
pub type StateOf<G> = <<G as Game>::Protocol as GameProtocol>::State;

/// Which players are sent an entity. Declared by the game with each entity it replicates,
/// usually one per kind (`const SHOT: Relevance = Relevance::nearby(4.0);`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scope {
    /// Players whose interest (a cube of the room's interest radius around the entity they
    /// control) holds the entity's `#[position]`. An entity whose state declares no position
    /// is sent to every player.
    Nearby,
    /// Every player (a flag, a scoreboard, the cards on the table).
    Everyone,
    /// Only the player whose entity this is (the one the game made in
    /// [`Game::player_joined`]): a hand of cards.
    Owner(Entity),
    /// Only the players of a team: a team's fog of war.
    Team(u8),
}

/// Who is sent an entity, and how much it matters when a client's byte budget cannot carry
/// every change in one snapshot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Relevance {
    /// Who is sent it. A client is never sent an entity outside its scope.
    pub scope: Scope,
    /// Priority weight: a changed entity's claim on the budget grows by this much per tick it
    /// waits (less with distance from the player); the entity a player controls always comes
    /// first.
    pub weight: f32,
}

impl Relevance {
    /// Sent to players near it, with this weight.
    pub const fn nearby(weight: f32) -> Self {
        Self {
            scope: Scope::Nearby,
            weight,
        }
    }

    /// Sent to every player, with this weight.
    pub const fn everyone(weight: f32) -> Self {
        Self {
            scope: Scope::Everyone,
            weight,
        }
    }

    /// Sent only to the player whose entity `owner` is, with this weight.
    pub const fn owner(owner: Entity, weight: f32) -> Self {
        Self {
            scope: Scope::Owner(owner),
            weight,
        }
    }

    /// Sent only to the players of `team`, with this weight.
    pub const fn team(team: u8, weight: f32) -> Self {
        Self {
            scope: Scope::Team(team),
            weight,
        }
    }
}

/// One replicated entity at a tick, as the game hands it to the room.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Replica<S> {
    /// Network id: stable for the entity's life in the room, unique among its entities.
    pub id: u32,
    /// Its state, quantized as the game declared it.
    pub state: S,
    /// Who is sent it, and its priority.
    pub relevance: Relevance,
}

/// A game a room can run. One value per node; it is shared by all of the node's rooms, so all
/// per-match state lives in the [`World`].
pub trait Game: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// The types the game's clients and rooms exchange.
    type Protocol: GameProtocol;

    /// Everything needed to rebuild a match's world: taken every checkpoint interval, restored
    /// after a crash. Must restore a world that behaves exactly as the one it was taken from
    /// (same iteration order, same random state), so a replay from it is deterministic. It is
    /// serializable so a running match can move to another node (live migration) or be kept
    /// in the cluster's store.
    type Checkpoint: Clone + Send + Serialize + DeserializeOwned + 'static;

    /// The mode name players queue for.
    fn mode(&self) -> &str;

    /// The static match information every player gets on joining.
    fn welcome(&self) -> WelcomeOf<Self>;

    /// Inserts the game's resources into a fresh world. `seed` makes the match reproducible.
    fn setup(&self, world: &mut World, seed: u64);

    /// Adds the game's systems; they run once per tick, in the order given.
    fn add_systems(&self, schedule: &mut Schedule);

    /// A player joins the match: the game makes what exists for them.
    fn player_joined(&self, world: &mut World, player: PlayerInfo<'_>) -> Joined;

    /// The player dropped and may come back to the same match: its entity stays, and the game
    /// decides what it does meanwhile (a shooter might take its avatar out of play).
    fn player_dropped(&self, world: &mut World, player: Entity);

    /// The player who dropped is back: the same entity is theirs again, state and all.
    fn player_returned(&self, world: &mut World, player: Entity);

    /// The player left for good (left, was replaced or was ejected). The entity is handed back
    /// in [`Game::results`], so a game that despawns it must tolerate that.
    fn player_left(&self, world: &mut World, player: Entity);

    /// Input mapping: makes `input` the player's intent for this tick.
    fn apply_input(&self, world: &mut World, player: Entity, input: InputOf<Self>);

    /// Applies one of the player's commands (already validated), before this tick's systems.
    fn apply_command(&self, world: &mut World, player: Entity, command: CommandOf<Self>);

    /// Snapshot mapping: appends every replicated entity (its id, declared state and
    /// relevance) to `out`, in any order.
    fn write_snapshot(&self, world: &mut World, out: &mut Vec<Replica<StateOf<Self>>>);

    /// The player's score as it stands, for the dashboard (higher is better).
    fn score(&self, world: &World, player: Entity) -> i64;

    /// Whether the match is over by the game's rules (checked after every tick it runs).
    fn is_over(&self, world: &mut World) -> bool;

    /// The results: asked once, when the match ends for any reason (over by the game's rules,
    /// out of time, abandoned).
    fn results(&self, world: &mut World, players: &[Participant<'_>]) -> Outcome<ResultsOf<Self>>;

    /// Captures the world's state; `players` are the players' entities, in an order
    /// [`Game::restore`] must give back.
    fn checkpoint(&self, world: &mut World, players: &[Entity]) -> Self::Checkpoint;

    /// Fills a fresh world (already [`Game::setup`]) from a checkpoint. Returns the new entity
    /// of each player given to [`Game::checkpoint`], in the same order.
    fn restore(&self, world: &mut World, checkpoint: &Self::Checkpoint) -> Vec<Entity>;

    /// The game's own drawing for the dashboard's spectator view, as JavaScript: the node
    /// serves it at `GET /v1/game/view.js` and the page runs it, so it is code of the
    /// operator's own, like the node. It registers a function that draws a
    /// `protocol::api::SpectatorFrame` (as JSON) on a canvas:
    /// `rallypoint.view("arena", (canvas, frame, teamColor) => { ... })`, under the game's
    /// `GameProtocol::NAME`. `None` (the default): the page draws any game's placed entities
    /// generically, and lists every entity's fields either way.
    fn spectator_view(&self) -> Option<&'static str> {
        None
    }
}

/// Ranks players by a key, best first; players with equal keys share a rank (1, 1, 3, ...).
/// A helper for [`Game::results`].
pub fn placements_by<K: Ord>(
    players: &[Participant<'_>],
    mut key: impl FnMut(&Participant<'_>) -> K,
) -> Vec<(Placement, usize)> {
    let mut keyed: Vec<(K, usize)> = players
        .iter()
        .enumerate()
        .map(|(i, p)| (key(p), i))
        .collect();
    // Stable: equal keys keep the players' order.
    keyed.sort_by(|a, b| b.0.cmp(&a.0));
    let mut out = Vec::with_capacity(keyed.len());
    let mut rank = 0;
    for (position, (k, i)) in keyed.iter().enumerate() {
        if position == 0 || keyed[position - 1].0 != *k {
            rank = position as u32 + 1;
        }
        let p = &players[*i];
        out.push((
            Placement {
                player_id: p.player_id.to_owned(),
                team: p.team,
                rank,
            },
            *i,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_share_a_rank_and_the_next_rank_skips() {
        let e = Entity::PLACEHOLDER;
        let players: Vec<Participant> = ["a", "b", "c", "d"]
            .iter()
            .map(|id| Participant {
                player_id: id,
                team: 0,
                entity: e,
            })
            .collect();
        let scores = [3, 5, 3, 1];
        let ranked = placements_by(&players, |p| {
            scores[players.iter().position(|q| q == p).unwrap()]
        });
        let got: Vec<(&str, u32)> = ranked
            .iter()
            .map(|(p, _)| (p.player_id.as_str(), p.rank))
            .collect();
        assert_eq!(got, [("b", 1), ("a", 2), ("c", 2), ("d", 4)]);
    }
}
