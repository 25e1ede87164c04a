//! The room's whole receive path, from a decrypted netcode payload on: bundle → renet → message
//! caps → game message decoder → room ticks (simulation, snapshots). Each input is a sequence of
//! payloads, each `[client, len_lo, len_hi, bytes...]`, into a fresh 2-player arena room.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::Duration;

use server::{
    arena::ArenaGame,
    room::{ExpectedPlayer, ReceivePath, RoomSettings, Supervision, SyncSettings},
};

fn settings() -> RoomSettings {
    RoomSettings {
        room_id: 1,
        tick_rate: 30,
        match_duration: Duration::from_secs(60),
        join_timeout: Duration::from_secs(2),
        linger: Duration::from_secs(1),
        seed: 7,
        expected: (0..2)
            .map(|i| ExpectedPlayer {
                player_id: format!("p{i}"),
                ticket_id: format!("{i:032x}"),
                team: i as u8,
            })
            .collect(),
        supervision: Supervision::default(),
        sync: SyncSettings::default(),
        backfill: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut path) = ReceivePath::new(ArenaGame::default(), settings()) else {
        return;
    };
    let mut rest = data;
    while let [client, lo, hi, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(tail.len());
        let (payload, next) = tail.split_at(len);
        path.payload(u64::from(*client % 3), payload);
        rest = next;
    }
});
