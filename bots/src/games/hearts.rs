//! Hearts' bot: plays its lowest legal card when its turn comes, from what its client sees.

use hearts::{Hearts, HeartsEvent, HeartsState, brain, rules::Card};
use protocol::Snapshot;

use crate::{Brain, MatchStats, Play, Welcome};

/// A Hearts player for the swarm. It never plays an illegal card or out of turn, so a play the
/// room refuses is counted as an error (`hearts_refused`).
#[derive(Default)]
pub struct HeartsBot {
    /// The card the newest snapshot asks this bot to play, not yet sent.
    to_play: Option<Card>,
    /// The card sent for the turn under way: sent once (it leaves the hand when the room
    /// applies it).
    sent: Option<Card>,
}

impl Brain for HeartsBot {
    type Game = Hearts;

    fn new(_seed: u64) -> Self {
        Self::default()
    }

    fn welcome(&mut self, _welcome: &Welcome<'_, Hearts>) {}

    fn snapshot(&mut self, snapshot: &Snapshot<HeartsState>, _stats: &mut MatchStats) {
        match brain::lowest_legal(&snapshot.entities) {
            Some(card) if self.sent != Some(card) => self.to_play = Some(card),
            Some(_) => {}
            None => (self.to_play, self.sent) = (None, None),
        }
    }

    fn event(&mut self, event: &HeartsEvent, stats: &mut MatchStats) {
        if let HeartsEvent::Refused { reason } = event {
            tracing::warn!(%reason, "the room refused a bot's play");
            stats.error("hearts_refused");
        }
    }

    fn resumed(&mut self) {
        // A play sent just before the match moved or its node was lost may not have been
        // applied: the next snapshot decides.
        self.sent = None;
    }

    fn act(&mut self, play: &mut Play<'_, Hearts>) {
        play.send_default_inputs();
        if let Some(card) = self.to_play.take() {
            play.send_command(hearts::Play(card));
            self.sent = Some(card);
        }
    }
}
