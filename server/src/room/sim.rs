//! The simulation half of a room: the [`World`] and [`Schedule`], and nothing that must survive
//! a crash. The shell ([`super::RoomCore`]) keeps players, inputs and connections; this half can
//! be thrown away and rebuilt.

use bevy_ecs::{prelude::*, schedule::Schedule};

use crate::game::{Game, RoomClock};

/// A game's world and schedule.
pub(crate) struct Simulation {
    pub(crate) world: World,
    schedule: Schedule,
}

impl Simulation {
    /// A fresh world set up by the game, with its systems scheduled.
    pub(crate) fn new<G: Game>(game: &G, seed: u64, dt: f32) -> Self {
        let mut world = World::new();
        world.insert_resource(RoomClock {
            tick: 0,
            dt,
            running: false,
        });
        game.setup(&mut world, seed);
        let mut schedule = Schedule::default();
        game.add_systems(&mut schedule);
        Self { world, schedule }
    }

    /// Runs one tick of the game's systems.
    pub(crate) fn step(&mut self, tick: u32, running: bool) {
        {
            let mut clock = self.world.resource_mut::<RoomClock>();
            clock.tick = tick;
            clock.running = running;
        }
        self.schedule.run(&mut self.world);
    }
}
