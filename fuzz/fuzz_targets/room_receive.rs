//! The room's whole receive path, from a decrypted netcode payload on: bundle → packet check →
//! renet → message caps → game message decoder → room ticks (simulation, snapshots). Each input
//! is a sequence of payloads, each `[client, len_lo, len_hi, bytes...]`, into a fresh 2-player
//! arena room, one tick after each.
#![no_main]

use arena::ArenaGame;
use libfuzzer_sys::fuzz_target;
use server::room::{ReceivePath, RoomSettings};

fuzz_target!(|data: &[u8]| {
    let mut path = ReceivePath::new(ArenaGame::default(), RoomSettings::for_players(1, 7, 2));
    let mut rest = data;
    while let [client, lo, hi, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(tail.len());
        let (payload, next) = tail.split_at(len);
        path.payload_and_tick(u64::from(*client % 3), payload);
        rest = next;
    }
});
