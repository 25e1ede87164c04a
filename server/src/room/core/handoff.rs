//! A running match's shell, packed on the node it leaves and unpacked on the node that resumes
//! it (live migration).
//!
//! What moves is what a client would notice missing: the tick, the phase, each player's place,
//! score and whether they were connected. What does not move is per-connection state (netcode,
//! renet, snapshot views, queued inputs): every client reconnects with a new token, and its
//! first snapshot from the new node is a keyframe.

use serde::{Deserialize, Serialize};

use super::{ExpectedPlayer, Phase, RoomCore, RoomSettings};
use crate::{game::Game, room::sim::SimCheckpoint};

/// The shell's part of a room on the move.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CoreHandoff {
    tick: u32,
    phase: Phase,
    players: Vec<PlayerHandoff>,
    replacements_asked: usize,
    max_replacements: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PlayerHandoff {
    away_since: Option<u32>,
    left: bool,
    replaced: bool,
    ejected: bool,
    joined: bool,
    score: i64,
    /// Connected when the room stopped: the resumed room waits for this player.
    connected: bool,
}

/// A handoff that does not fit the room it claims to describe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandoffError {
    /// The shell and the simulation were taken at different ticks.
    #[error("the checkpoint is of tick {checkpoint}, the room stopped at tick {room}")]
    TickMismatch {
        /// The room's tick.
        room: u32,
        /// The checkpoint's tick.
        checkpoint: u32,
    },
    /// Players in the shell do not match the players in the settings.
    #[error("{players} player records for {expected} expected players")]
    PlayerMismatch {
        /// Records in the shell.
        players: usize,
        /// Players in the settings.
        expected: usize,
    },
    /// Only a match that is waiting or running can move.
    #[error("a room in phase {0} does not move")]
    Over(&'static str),
}

/// A resumed room holds its tick until the players who were connected when it stopped are
/// back, or until its patience runs out.
#[derive(Debug)]
pub(super) struct Resume {
    waiting_for: Vec<usize>,
    ticks_left: u32,
}

impl<G: Game> RoomCore<G> {
    /// The shell's state to move, as of the last completed tick; `None` once the match is over
    /// (an ended or failed room finishes where it is).
    pub fn handoff(&self) -> Option<CoreHandoff> {
        if !matches!(self.phase, Phase::Waiting | Phase::Running { .. }) {
            return None;
        }
        Some(CoreHandoff {
            tick: self.tick,
            phase: self.phase,
            players: self
                .players
                .iter()
                .map(|p| PlayerHandoff {
                    away_since: p.away_since,
                    left: p.left,
                    replaced: p.replaced,
                    ejected: p.ejected,
                    joined: p.joined,
                    score: p.score,
                    connected: p.client.is_some(),
                })
                .collect(),
            replacements_asked: self.replacements_asked,
            max_replacements: self.max_replacements,
        })
    }

    /// A room resumed from a handoff: the tick, phase and players as they were, nobody
    /// connected yet, and `checkpoint` (the simulation at the same tick) as its last
    /// checkpoint. It holds (see [`RoomCore::holding`]) for at most `patience` ticks while the
    /// players who were connected come back.
    pub fn resume(
        settings: RoomSettings,
        welcome: crate::game::WelcomeOf<G>,
        handoff: CoreHandoff,
        checkpoint: SimCheckpoint<G>,
        patience: u32,
    ) -> Result<Self, HandoffError> {
        if handoff.tick != checkpoint.tick {
            return Err(HandoffError::TickMismatch {
                room: handoff.tick,
                checkpoint: checkpoint.tick,
            });
        }
        if handoff.players.len() != settings.expected.len() {
            return Err(HandoffError::PlayerMismatch {
                players: handoff.players.len(),
                expected: settings.expected.len(),
            });
        }
        if !matches!(handoff.phase, Phase::Waiting | Phase::Running { .. }) {
            return Err(HandoffError::Over(handoff.phase.name()));
        }
        let mut core = Self::new(settings, welcome);
        let mut waiting_for = Vec::new();
        for (slot, (player, moved)) in core.players.iter_mut().zip(&handoff.players).enumerate() {
            player.away_since = moved.away_since;
            player.left = moved.left;
            player.replaced = moved.replaced;
            player.ejected = moved.ejected;
            player.joined = moved.joined;
            player.score = moved.score;
            if moved.connected {
                waiting_for.push(slot);
                // Away only if it does not come back while the room holds.
                player.away_since = Some(handoff.tick);
            }
        }
        core.tick = handoff.tick;
        core.phase = handoff.phase;
        core.replacements_asked = handoff.replacements_asked;
        core.max_replacements = handoff.max_replacements;
        core.set_checkpoint(checkpoint);
        core.resume = Some(Resume {
            waiting_for,
            ticks_left: patience,
        });
        Ok(core)
    }

    /// Whether a resumed room should hold its tick now (players it waits for are still
    /// reconnecting). Call once per scheduled tick, before [`RoomCore::begin_tick`]; each call
    /// while holding spends one tick of patience.
    pub fn holding(&mut self) -> bool {
        let Some(resume) = &mut self.resume else {
            return false;
        };
        let players = &self.players;
        let all_back = resume
            .waiting_for
            .iter()
            .all(|&slot| players[slot].client.is_some());
        if all_back || resume.ticks_left == 0 {
            tracing::debug!(
                room = self.settings.room_id,
                tick = self.tick,
                all_back,
                "resumed room plays on"
            );
            self.resume = None;
            return false;
        }
        resume.ticks_left -= 1;
        true
    }

    /// Sends every connected client a [`protocol::ServerEvent::Migrate`] with the token
    /// `token_for` makes for its player (the room's new address), and stops telling clients
    /// about each other's departures: from now on they leave to follow the room. Returns how
    /// many clients were told.
    pub fn redirect(
        &mut self,
        mut token_for: impl FnMut(&ExpectedPlayer) -> Option<String>,
    ) -> usize {
        self.migrated = true;
        let mut told = 0;
        for (&client, &slot) in &self.clients {
            let Some(connect_token) = token_for(&self.settings.expected[slot as usize]) else {
                continue;
            };
            self.out.push(super::Outbound::Event {
                client,
                event: protocol::ServerEvent::Migrate { connect_token },
            });
            told += 1;
        }
        told
    }
}
