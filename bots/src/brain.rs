//! What a bot does in a match, for one game: the [`Brain`] a game gives the swarm.
//!
//! The swarm does everything that is the same for every game: queueing, connecting, following
//! a match that moves or resumes on another node, measuring, reporting. A brain sees what the
//! bot's client sees (the welcome, each new snapshot, the game's events) and decides what it
//! sends ([`Brain::act`]): one input per room tick and any commands.

use std::collections::VecDeque;

use protocol::{GameClient, GameProtocol, Snapshot};
use tokio::time::Instant;

use crate::report::MatchStats;

/// A bot's player for one game. The swarm makes one per bot and match ([`Brain::new`]).
pub trait Brain: Send + 'static {
    /// The game it plays.
    type Game: GameProtocol;

    /// The mode bots queue for when neither `--mode` nor the scenario names one.
    const MODE: &'static str = <Self::Game as GameProtocol>::NAME;

    /// A brain for one match; `seed` is the bot's own, for any randomness.
    fn new(seed: u64) -> Self;

    /// The room welcomed the bot (again after its match moved to another node).
    fn welcome(&mut self, welcome: &Welcome<'_, Self::Game>);

    /// A snapshot newer than any before arrived.
    fn snapshot(
        &mut self,
        snapshot: &Snapshot<<Self::Game as GameProtocol>::State>,
        stats: &mut MatchStats,
    );

    /// One of the game's own events arrived.
    fn event(&mut self, event: &<Self::Game as GameProtocol>::Event, stats: &mut MatchStats) {
        let _ = (event, stats);
    }

    /// The match carries on after a gap (the first snapshot after it is next).
    fn resumed(&mut self, how: Resumed) {
        let _ = how;
    }

    /// Each frame once welcomed: send what the bot does now. A client acknowledges snapshots
    /// with its inputs, so a brain sends [`Play::inputs_due`] inputs every frame, even a game's
    /// empty one.
    fn act(&mut self, play: &mut Play<'_, Self::Game>);
}

/// How a match carried on after snapshots stopped for a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resumed {
    /// It moved to another node whole (live migration): nothing it did was lost, and what
    /// the bot sent arrives once.
    Moved,
    /// Its node was lost and it resumed elsewhere from its last copy: it may be a little
    /// behind what the bot last saw, and what the bot sent since may not have been applied.
    FromCopy,
}

/// The room's welcome, as a brain needs it.
#[derive(Debug)]
pub struct Welcome<'a, G: GameProtocol> {
    /// The network id of the entity the bot controls, if the game gives players one.
    pub entity: Option<u32>,
    /// The bot's team.
    pub team: u8,
    /// Room ticks per second.
    pub tick_rate: u16,
    /// The game's own welcome.
    pub game: &'a G::Welcome,
}

/// What a brain may send this frame.
pub struct Play<'a, G: GameProtocol> {
    pub(crate) client: &'a mut GameClient<G>,
    /// Inputs sent and not yet acknowledged by a snapshot, oldest first, for the input
    /// acknowledgement times.
    pub(crate) unacked: &'a mut VecDeque<(u32, Instant)>,
    pub(crate) stats: &'a mut MatchStats,
    pub(crate) now: Instant,
}

/// At most this many inputs wait for their acknowledgement; older ones count as lost.
const UNACKED: usize = 64;

impl<G: GameProtocol> Play<'_, G> {
    /// How many inputs to send now: one per room tick since the last frame.
    pub fn inputs_due(&self) -> u32 {
        self.client.inputs_due()
    }

    /// Sends one tick's input; returns its sequence number (for a prediction).
    pub fn send_input(&mut self, input: G::Input) -> u32 {
        let seq = self.client.send_input(input);
        if self.unacked.len() == UNACKED {
            self.unacked.pop_front();
        }
        self.unacked.push_back((seq, self.now));
        seq
    }

    /// Sends the game's default input for every tick due (a game whose players act by
    /// commands only).
    pub fn send_default_inputs(&mut self) {
        for _ in 0..self.inputs_due() {
            self.send_input(G::Input::default());
        }
    }

    /// Sends a reliable command; a command the client cannot queue is counted as an error.
    pub fn send_command(&mut self, command: G::Command) {
        if let Err(e) = self.client.send_command(command) {
            tracing::warn!(error = %e, "a command could not be sent");
            self.stats.error("command");
        }
    }

    /// Where the brain records what it measures.
    pub fn stats(&mut self) -> &mut MatchStats {
        self.stats
    }
}

/// The acknowledgement times of `unacked` inputs a snapshot acknowledged (up to
/// `last_input_seq`), recorded and removed.
pub(crate) fn acknowledge(
    unacked: &mut VecDeque<(u32, Instant)>,
    last_input_seq: u32,
    now: Instant,
    stats: &mut MatchStats,
) {
    while unacked
        .front()
        .is_some_and(|&(seq, _)| seq <= last_input_seq)
    {
        let (_, sent) = unacked.pop_front().expect("checked");
        stats.input_ack(now - sent);
    }
}
