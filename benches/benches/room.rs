//! The room's simulation: one tick, a checkpoint, and a restore, for a busy 10-player arena.
//! A checkpoint is taken once a second by default, so its cost is spread over 30 ticks.

use std::{
    hint::black_box,
    sync::{Arc, atomic::AtomicBool},
};

use criterion::{Criterion, criterion_group, criterion_main};
use protocol::PlayerInput;
use server::{
    arena::ArenaGame,
    room::{SimCommand, Simulation, StepOutput, TickBatch},
};

/// Ten players who have been running and shooting for three seconds.
fn busy_arena() -> (Simulation<ArenaGame>, u32) {
    let mut sim = Simulation::new(
        ArenaGame::default(),
        7,
        1.0 / 30.0,
        Arc::new(AtomicBool::new(false)),
    );
    let mut out = StepOutput::default();
    let spawn = TickBatch {
        tick: 1,
        running: true,
        commands: (0..10).map(SimCommand::Spawn).collect(),
    };
    sim.step(&spawn, &mut out);
    for tick in 2..=90 {
        let commands = (0..10)
            .map(|slot| {
                let a = (tick as f32 * 0.1) + slot as f32;
                SimCommand::Input(slot, PlayerInput::new(a.cos(), a.sin(), a * 2.0, true))
            })
            .collect();
        sim.step(
            &TickBatch {
                tick,
                running: true,
                commands,
            },
            &mut out,
        );
    }
    (sim, 90)
}

fn room(c: &mut Criterion) {
    let (mut sim, mut tick) = busy_arena();
    let mut out = StepOutput::default();
    c.bench_function("arena_step_10_players", |b| {
        b.iter(|| {
            tick += 1;
            sim.step(
                black_box(&TickBatch {
                    tick,
                    running: true,
                    commands: Vec::new(),
                }),
                &mut out,
            )
        })
    });
    let (mut sim, _) = busy_arena();
    c.bench_function("arena_checkpoint_10_players", |b| {
        b.iter(|| black_box(sim.checkpoint()))
    });
    let checkpoint = sim.checkpoint();
    let abandoned = Arc::new(AtomicBool::new(false));
    c.bench_function("arena_restore_10_players", |b| {
        b.iter(|| {
            Simulation::restore(
                ArenaGame::default(),
                black_box(&checkpoint),
                1.0 / 30.0,
                abandoned.clone(),
            )
        })
    });
}

criterion_group!(benches, room);
criterion_main!(benches);
