//! Replacement players: places the room opens when a player is away too long or leaves a
//! running match, and the players the matchmaker sends to fill them.

use std::time::Duration;

use super::{ExpectedPlayer, Phase, Player, RoomCore, SimCommand, Slot};
use crate::game::Game;

/// A place in the running match the room wants filled: a player left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedSlot {
    /// The team to fill.
    pub team: u8,
    /// The ticket of the player who left (no longer the room's to give back).
    pub left_ticket: String,
    /// A replacement arriving later than this from now would play less than the minimum.
    pub fill_within: Duration,
}

/// A replacement player could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddPlayerError {
    /// The match is over (ended or failed).
    #[error("the match is over")]
    Over,
    /// A player with that id is already in the room.
    #[error("that player is already in this room")]
    AlreadyHere,
}

impl<G: Game> RoomCore<G> {
    /// Asks for a replacement for each player away too long from a running match (gone for
    /// the grace, or left), while enough of the match remains; see
    /// [`RoomCore::take_open_slots`].
    pub(super) fn open_slots_of_absent_players(&mut self) {
        let (Some(backfill), Phase::Running { started }) = (self.settings.backfill, self.phase)
        else {
            return;
        };
        let min_remaining = self.settings.ticks(backfill.min_remaining);
        // How long a replacement would still have enough of the match to play; with no clock,
        // the match may go on as long as the game likes, so a replacement is wanted for a
        // `min_remaining` at a time.
        let fill_within = match self.settings.match_duration {
            Some(length) => {
                let end = started + self.settings.ticks(length);
                if end.saturating_sub(self.tick) < min_remaining {
                    return;
                }
                Duration::from_secs_f64(
                    f64::from(end - self.tick - min_remaining)
                        / f64::from(self.settings.tick_rate.max(1)),
                )
            }
            None => backfill.min_remaining,
        };
        let grace = self.settings.ticks(backfill.grace);
        for (slot, player) in self.players.iter_mut().enumerate() {
            if player.client.is_some() || player.replaced {
                continue;
            }
            // Someone who never came counts as away from the start.
            let since = *player.away_since.get_or_insert(started);
            if player.left || self.tick - since >= grace {
                if self.replacements_asked >= self.max_replacements {
                    return; // a room that keeps losing its players plays on short-handed
                }
                self.replacements_asked += 1;
                player.replaced = true;
                self.queued.push(SimCommand::Leave(slot as Slot));
                self.open_slots.push(OpenedSlot {
                    team: player.team,
                    left_ticket: self.settings.expected[slot].ticket_id.clone(),
                    fill_within,
                });
                tracing::debug!(room = self.settings.room_id, player = %player.player_id, "asking for a replacement");
            }
        }
    }

    /// Places opened for replacements since the last call; the caller asks the matchmaker to
    /// fill them.
    pub fn take_open_slots(&mut self) -> Vec<OpenedSlot> {
        std::mem::take(&mut self.open_slots)
    }

    /// Adds a replacement player to a running match, in a new slot; it connects with a token
    /// for this room as anyone else does.
    pub fn add_player(&mut self, expected: ExpectedPlayer) -> Result<(), AddPlayerError> {
        if !matches!(self.phase, Phase::Waiting | Phase::Running { .. }) {
            return Err(AddPlayerError::Over);
        }
        if self
            .settings
            .expected
            .iter()
            .any(|e| e.player_id == expected.player_id)
        {
            return Err(AddPlayerError::AlreadyHere);
        }
        let mut player = Player::new(&expected);
        // Its grace to connect starts now, not when the match did.
        player.away_since = Some(self.tick);
        self.players.push(player);
        self.settings.expected.push(expected);
        Ok(())
    }
}
