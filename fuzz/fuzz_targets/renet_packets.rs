//! Structure-aware fuzzing of the reliability layer as a room receives it: descriptions of
//! renet packets of every type with every field free (`protocol::renet_wire::RenetPacket`,
//! derived with `arbitrary`), bundled or not, several per tick, from three hostile clients,
//! while a fourth plays honestly through a real renet connection; half the inputs run without
//! the packet check in front of renet, so that containment alone is exercised too.
//!
//! Asserts, for every input: no panic escapes the room, the honest client is never ejected or
//! disconnected and keeps getting snapshots, the room neither fails nor restarts, and the heap
//! stays under 256 MiB.
#![no_main]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicUsize, Ordering},
};

use arbitrary::Arbitrary;
use arena::ArenaGame;
use libfuzzer_sys::fuzz_target;
use protocol::{bundle, renet_wire::RenetPacket};
use server::room::{HonestClient, Phase, ReceivePath, RoomSettings};

/// Counts the bytes allocated now, to assert the room's memory stays bounded.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const HEAP_LIMIT: usize = 256 << 20;

#[derive(Debug, Arbitrary)]
struct Step {
    /// Which hostile client (1..=3) sends.
    client: u8,
    /// Packed into bundles as the real clients do, or one payload per packet.
    bundled: bool,
    packets: Vec<RenetPacket>,
    /// Honest ticks to run after this step (1..=4).
    ticks: u8,
}

#[derive(Debug, Arbitrary)]
struct Attack {
    unchecked: bool,
    steps: Vec<Step>,
}

fuzz_target!(|attack: Attack| {
    let settings = RoomSettings::for_players(1, 7, 4);
    let mut path = if attack.unchecked {
        ReceivePath::without_packet_check(ArenaGame::default(), settings)
    } else {
        ReceivePath::new(ArenaGame::default(), settings)
    };
    let mut honest = HonestClient::new(0);
    honest.play(&mut path);
    let mut scratch = Vec::new();
    let mut ticks = 1;
    for step in attack.steps.iter().take(64) {
        let client = 1 + u64::from(step.client % 3);
        let packets: Vec<Vec<u8>> = step
            .packets
            .iter()
            .take(512)
            .map(RenetPacket::to_bytes)
            .collect();
        if step.bundled {
            let _ = bundle::pack(&packets, &mut scratch, |payload| {
                path.payload(client, payload);
                Ok::<_, ()>(())
            });
        } else {
            for p in &packets {
                path.payload(client, p);
            }
        }
        for _ in 0..1 + step.ticks % 4 {
            honest.play(&mut path);
            ticks += 1;
        }
        assert!(
            LIVE.load(Ordering::Relaxed) < HEAP_LIMIT,
            "heap over {HEAP_LIMIT} bytes"
        );
    }
    assert!(
        !path.ejected().contains(&0),
        "the honest client was ejected"
    );
    assert!(honest.is_connected(), "the honest client was disconnected");
    assert!(
        honest.snapshots() + 2 >= ticks,
        "{} snapshots in {ticks} ticks",
        honest.snapshots()
    );
    let core = path.room().core();
    assert!(
        !matches!(core.phase(), Phase::Failed { .. }),
        "the room failed"
    );
    assert_eq!(core.stats().restarts, 0);
});
