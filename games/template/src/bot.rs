//! Coins' bot for the swarm: runs at the nearest coin it can see, says hello once, and checks
//! that the room keeps every runner's purse secret.

use bots::{Brain, MatchStats, Play, Welcome};
use protocol::Snapshot;

use crate::{Coins, CoinsEvent, CoinsState, FIELD, Kind, Shout, Stick};

/// A Coins player for `bots::run_swarm` and the `coins-bots` binary. It counts the coins it
/// picked (`coins_picked`); it sees its own purse and no other, and hears of its own pickups
/// only: anything else is an error (`coins_secret_leaked`).
#[derive(Debug, Default)]
pub struct CoinsBot {
    me: Option<u32>,
    stick: Stick,
    greeted: bool,
}

impl Brain for CoinsBot {
    type Game = Coins;

    fn new(_seed: u64) -> Self {
        Self::default()
    }

    fn welcome(&mut self, welcome: &Welcome<'_, Coins>) {
        self.me = welcome.entity;
    }

    fn snapshot(&mut self, snapshot: &Snapshot<CoinsState>, stats: &mut MatchStats) {
        let entities = &snapshot.entities;
        if entities
            .iter()
            .filter(|(_, s)| s.kind.0 == Kind::Purse)
            .count()
            > 1
        {
            stats.error("coins_secret_leaked");
        }
        let Some(me) = self.me.and_then(|id| entities.get(&id)) else {
            return;
        };
        let [x, y] = me.pos.get();
        let nearest = entities
            .iter()
            .filter(|(_, s)| s.kind.0 == Kind::Coin)
            .map(|(_, s)| s.pos.get())
            .min_by(|a, b| distance(*a, [x, y]).total_cmp(&distance(*b, [x, y])));
        // No coin in sight: head for the middle of the field.
        let [tx, ty] = nearest.unwrap_or([FIELD / 2.0, FIELD / 2.0]);
        self.stick = Stick {
            x: axis(tx - x),
            y: axis(ty - y),
        };
    }

    fn event(&mut self, event: &CoinsEvent, stats: &mut MatchStats) {
        if let CoinsEvent::Picked { runner } = event {
            if Some(*runner) == self.me {
                stats.count("coins_picked");
            } else {
                stats.error("coins_secret_leaked");
            }
        }
    }

    fn act(&mut self, play: &mut Play<'_, Coins>) {
        if !self.greeted {
            play.send_command(Shout::Hello);
            self.greeted = true;
        }
        for _ in 0..play.inputs_due() {
            play.send_input(self.stick);
        }
    }
}

fn distance([ax, ay]: [f32; 2], [bx, by]: [f32; 2]) -> f32 {
    (ax - bx).powi(2) + (ay - by).powi(2)
}

/// -1, 0 or 1 toward a target `d` units away on one axis (0 when close enough).
fn axis(d: f32) -> i8 {
    if d > 0.3 {
        1
    } else if d < -0.3 {
        -1
    } else {
        0
    }
}
