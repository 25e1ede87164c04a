//! Hearts' bot: plays its lowest legal card when its turn comes, from what its client sees, and
//! keeps a ledger of the table's plays to prove none was lost or made twice.

use hearts::{
    Hearts, HeartsEvent, HeartsState, brain,
    rules::{Card, Cards, POINTS_PER_HAND, SEATS},
};
use protocol::Snapshot;

use crate::{Brain, MatchStats, Play, Resumed, Welcome};

/// A Hearts player for the swarm. It never plays an illegal card or out of turn, so a play the
/// room refuses is an error (`hearts_refused`). From the table's events it checks every hand it
/// heard whole: each card played once (`hearts_card_played_twice`), all 52 before the hand is
/// scored (`hearts_hand_short`), and 26 points scored, or 78 after a moon shot
/// (`hearts_points`). It counts the cards it played (`hearts_cards_played`) and the hands it
/// checked (`hearts_hands_checked`).
pub struct HeartsBot {
    /// The card the newest snapshot asks this bot to play, not yet sent.
    to_play: Option<Card>,
    /// The card sent for the turn under way: sent once (it leaves the hand when the room
    /// applies it).
    sent: Option<Card>,
    /// The cards played so far in this hand.
    played: Cards,
    /// Whether this bot heard the hand from its first card: not when it joined mid-hand or
    /// the match resumed from a copy (which replays some plays).
    whole: bool,
}

impl Brain for HeartsBot {
    type Game = Hearts;

    fn new(_seed: u64) -> Self {
        Self {
            to_play: None,
            sent: None,
            played: Cards::EMPTY,
            whole: false,
        }
    }

    fn welcome(&mut self, _welcome: &Welcome<'_, Hearts>) {}

    fn snapshot(&mut self, snapshot: &Snapshot<HeartsState>, _stats: &mut MatchStats) {
        if !self.whole && self.played.is_empty() && dealt_untouched(snapshot) {
            self.whole = true;
        }
        match brain::lowest_legal(&snapshot.entities) {
            Some(card) if self.sent != Some(card) => self.to_play = Some(card),
            Some(_) => {}
            None => (self.to_play, self.sent) = (None, None),
        }
    }

    fn event(&mut self, event: &HeartsEvent, stats: &mut MatchStats) {
        match event {
            HeartsEvent::Refused { reason } => {
                tracing::warn!(%reason, "the room refused a bot's play");
                stats.error("hearts_refused");
            }
            HeartsEvent::Played { card, .. } => {
                if self.whole && self.played.contains(*card) {
                    tracing::warn!(%card, "a card was played twice in a hand");
                    stats.error("hearts_card_played_twice");
                }
                self.played = self.played.with(*card);
            }
            HeartsEvent::HandScored { scored } => {
                let points: u32 = scored.iter().map(|&p| u32::from(p)).sum();
                if self.whole && self.played.len() != 52 {
                    tracing::warn!(heard = self.played.len(), "a hand was scored short");
                    stats.error("hearts_hand_short");
                }
                if self.whole && points != POINTS_PER_HAND && points != 3 * POINTS_PER_HAND {
                    tracing::warn!(?scored, "a hand scored the wrong points");
                    stats.error("hearts_points");
                }
                if self.whole {
                    stats.count("hearts_hands_checked");
                }
                // The next hand is dealt now: heard from its first card.
                (self.played, self.whole) = (Cards::EMPTY, true);
            }
            HeartsEvent::Trick { .. } => {}
        }
    }

    fn resumed(&mut self, how: Resumed) {
        // A play sent just before the gap may not have been applied: the next snapshot decides.
        self.sent = None;
        if how == Resumed::FromCopy {
            // The copy is behind what was heard: its plays since are made (and heard) again.
            self.whole = false;
        }
    }

    fn act(&mut self, play: &mut Play<'_, Hearts>) {
        play.send_default_inputs();
        if let Some(card) = self.to_play.take() {
            play.send_command(hearts::Play(card));
            play.stats().count("hearts_cards_played");
            self.sent = Some(card);
        }
    }
}

/// Whether the snapshot shows a hand just dealt: every seat holds 13 cards.
fn dealt_untouched(snapshot: &Snapshot<HeartsState>) -> bool {
    let seats = snapshot
        .entities
        .iter()
        .filter(|(_, s)| s.kind.0 == hearts::Kind::Seat);
    let mut count = 0;
    for (_, seat) in seats {
        if seat.cards_left.get() != 13 {
            return false;
        }
        count += 1;
    }
    count == SEATS
}
