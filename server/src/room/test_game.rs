//! A game with nothing in it, for the engine's unit tests: each player is an empty entity,
//! inputs and commands change nothing, and only the clock ends a match. Tests of the room's
//! own machinery use it so they depend on no real game.

use bevy_ecs::{prelude::*, schedule::Schedule};
use protocol::{GameProtocol, NoMessage, NoState};
use serde::{Deserialize, Serialize};

use crate::game::{
    CommandOf, Game, InputOf, Joined, Outcome, Participant, PlayerInfo, Replica, placements_by,
};

/// The protocol of [`Idle`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct IdleProtocol;

/// Its input, welcome and results: nothing to say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Still;

protocol::always_valid!(Still);

impl GameProtocol for IdleProtocol {
    const NAME: &'static str = "idle";
    const VERSION: u16 = 1;
    type Input = Still;
    type Command = NoMessage;
    type Event = NoMessage;
    type Welcome = Still;
    type Results = Still;
    type State = NoState;
}

/// The game.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Idle;

impl Game for Idle {
    type Protocol = IdleProtocol;
    /// How many players there were.
    type Checkpoint = usize;

    fn mode(&self) -> &str {
        "idle"
    }
    fn welcome(&self) -> Still {
        Still
    }
    fn setup(&self, _: &mut World, _: u64) {}
    fn add_systems(&self, _: &mut Schedule) {}
    fn player_joined(&self, world: &mut World, _: PlayerInfo<'_>) -> Joined {
        Joined {
            entity: world.spawn_empty().id(),
            net_id: None,
        }
    }
    fn player_dropped(&self, _: &mut World, _: Entity) {}
    fn player_returned(&self, _: &mut World, _: Entity) {}
    fn player_left(&self, _: &mut World, _: Entity) {}
    fn apply_input(&self, _: &mut World, _: Entity, _: InputOf<Self>) {}
    fn apply_command(&self, _: &mut World, _: Entity, command: CommandOf<Self>) {
        match command {}
    }
    fn write_snapshot(&self, _: &mut World, _: &mut Vec<Replica<NoState>>) {}
    fn score(&self, _: &World, _: Entity) -> i64 {
        0
    }
    fn is_over(&self, _: &mut World) -> bool {
        false
    }
    fn results(&self, _: &mut World, players: &[Participant<'_>]) -> Outcome<Still> {
        Outcome {
            placements: placements_by(players, |_| 0)
                .into_iter()
                .map(|(p, _)| p)
                .collect(),
            results: Still,
        }
    }
    fn checkpoint(&self, _: &mut World, players: &[Entity]) -> usize {
        players.len()
    }
    fn restore(&self, world: &mut World, players: &usize) -> Vec<Entity> {
        (0..*players).map(|_| world.spawn_empty().id()).collect()
    }
}
