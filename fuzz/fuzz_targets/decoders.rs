//! Every decoder of bytes from the network, picked by the first byte: game messages both ways,
//! snapshot packets and bodies (and the client's receiver), renet bundles, token user data and
//! base64 connect tokens, and the conformance checks a game runs on its own types
//! (`protocol::conformance`) on every shipped game's: the arena's, Hearts' and the template's
//! (a game of your own adds its line here). None may panic, whatever the bytes.
#![no_main]

use arena::{Arena, ArenaState, PlayerInput};
use libfuzzer_sys::fuzz_target;
use protocol::{
    ClientEvent, InputPacket, NETCODE_USER_DATA_BYTES, ServerEvent, SnapshotPacket,
    SnapshotReceiver, TokenUserData, bundle, codec,
    sync::{View, decode_body},
    token_from_base64,
};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 11 {
        0 => drop(codec::decode::<ClientEvent<Arena>>(rest)),
        1 => drop(codec::decode::<InputPacket<PlayerInput>>(rest)),
        2 => drop(codec::decode::<ServerEvent<Arena>>(rest)),
        3 => {
            // What a client does with a snapshot datagram: decode, then apply (the keyframe
            // first, then the same packet again as a delta against it).
            if let Ok(packet) = codec::decode::<SnapshotPacket>(rest) {
                let mut receiver = SnapshotReceiver::<ArenaState>::default();
                let _ = receiver.receive(&packet);
                let _ = receiver.receive(&packet);
            }
        }
        4 => {
            // A body against the empty view, then against what it decoded to.
            if let Ok(view) = decode_body(&View::<ArenaState>::new(), rest) {
                let _ = decode_body(&view, rest);
            }
        }
        5 => bundle::unpack(rest).for_each(drop),
        6 => {
            let mut bytes = [0u8; NETCODE_USER_DATA_BYTES];
            let n = rest.len().min(bytes.len());
            bytes[..n].copy_from_slice(&rest[..n]);
            let _ = TokenUserData::from_bytes(&bytes);
        }
        7 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                let _ = token_from_base64(text);
            }
        }
        // The platform's checks for any game, on each game's types: every decoder, and round
        // trips of whatever decodes.
        8 => protocol::conformance::decode_arbitrary::<Arena>(rest),
        9 => protocol::conformance::decode_arbitrary::<hearts::Hearts>(rest),
        _ => protocol::conformance::decode_arbitrary::<template::Coins>(rest),
    }
});
