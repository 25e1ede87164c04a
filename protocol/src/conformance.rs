//! Checks any game's wire types the way the platform checks its own, for a game's tests and
//! fuzz targets: its replicated state through whole and delta round trips and every cut of
//! their encodings ([`check_replicated`]), and arbitrary bytes through every decoder a room or
//! a client runs on what arrives ([`decode_arbitrary`]). Each function panics with the reason
//! when a check fails, which is what a test or a fuzzer wants.
//!
//! ```
//! use protocol::{conformance, replicate::{Flag, UInt}};
//!
//! protocol::replicated! {
//!     pub struct Seat { #[once] pub number: UInt<u8, 2>, pub ready: Flag }
//! }
//! let seats: Vec<Seat> = (0..4u32)
//!     .flat_map(|n| [false, true].map(|r| Seat { number: UInt::new(n), ready: Flag(r) }))
//!     .collect();
//! conformance::check_replicated(&seats);
//! ```

use crate::{
    bits::{BitReader, BitWriter},
    codec,
    game::{GameProtocol, WireMessage},
    message::{ClientEvent, InputPacket, ServerEvent},
    replicate::Replicated,
    sync::{SnapshotPacket, View, decode_body},
};

/// Every state of `states` round trips whole, and as a change from every other with the same
/// `#[once]` fields (the same entity); each encoding is exactly as many bits as its declared
/// cost, and every cut of it is an error, not a panic or a wrong value.
///
/// # Panics
/// When a check fails: the message names the state and the check.
pub fn check_replicated<S: Replicated>(states: &[S]) {
    for a in states {
        let mut w = BitWriter::default();
        a.write_full(&mut w);
        assert_eq!(
            w.len_bits(),
            a.full_bits(),
            "{a:?}: the whole form's length is its declared cost"
        );
        let whole = w.finish();
        assert_eq!(
            S::read_full(&mut BitReader::new(&whole)).as_ref(),
            Ok(a),
            "{a:?}: the whole form round trips"
        );
        for cut in 0..whole.len() {
            assert!(
                S::read_full(&mut BitReader::new(&whole[..cut])).is_err(),
                "{a:?}: the whole form cut to {cut} bytes is an error"
            );
        }
        for base in states.iter().filter(|base| base.same_once(a)) {
            let mut w = BitWriter::default();
            a.write_delta(base, &mut w);
            assert_eq!(
                w.len_bits(),
                a.delta_bits(base),
                "{a:?} from {base:?}: the delta's length is its declared cost"
            );
            let delta = w.finish();
            assert_eq!(
                S::read_delta(base, &mut BitReader::new(&delta)).as_ref(),
                Ok(a),
                "{a:?} from {base:?}: the delta round trips"
            );
            for cut in 0..delta.len() {
                assert!(
                    S::read_delta(base, &mut BitReader::new(&delta[..cut])).is_err(),
                    "{a:?} from {base:?}: the delta cut to {cut} bytes is an error"
                );
            }
        }
    }
}

/// Decodes `bytes` as every message of the game `G` a room or a client decodes (client events,
/// input packets, server events, snapshot packets) and as a snapshot body of the state `S`
/// against an empty view and then against what it gave. Nothing may panic; whatever decodes
/// and passes the game's validation encodes and decodes back to the same bytes; a state that
/// decodes passes [`check_replicated`].
///
/// # Panics
/// When a check fails (a decoder that panics panics here too).
pub fn decode_arbitrary<G: GameProtocol>(bytes: &[u8]) {
    if let Ok(event) = codec::decode::<ClientEvent<G>>(bytes) {
        let valid = match &event {
            ClientEvent::Command(command) => command.validate().is_ok(),
            _ => true,
        };
        if valid {
            stable(&event);
        }
    }
    if let Ok(packet) = codec::decode::<InputPacket<G::Input>>(bytes)
        && packet.inputs.iter().all(|f| f.input.validate().is_ok())
    {
        stable(&packet);
    }
    if let Ok(event) = codec::decode::<ServerEvent<G>>(bytes) {
        let valid = match &event {
            ServerEvent::Welcome { game, .. } => game.validate().is_ok(),
            ServerEvent::Game(event) => event.validate().is_ok(),
            ServerEvent::MatchEnded(results) => results.game.validate().is_ok(),
            _ => true,
        };
        if valid {
            stable(&event);
        }
    }
    if let Ok(packet) = codec::decode::<SnapshotPacket>(bytes) {
        stable(&packet);
    }
    if let Ok(view) = decode_body(&View::<G::State>::new(), bytes) {
        let _ = decode_body(&view, bytes);
        let states: Vec<G::State> = view.iter().map(|(_, s)| *s).take(8).collect();
        check_replicated(&states);
    }
    if let Ok(state) = G::State::read_full(&mut BitReader::new(bytes)) {
        check_replicated(&[state]);
    }
}

/// A decoded value encodes, and that encoding decodes to a value that encodes the same.
fn stable<T: serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug>(value: &T) {
    let once = codec::encode(value)
        .unwrap_or_else(|e| panic!("{value:?} decoded but does not encode: {e}"));
    let back: T = codec::decode(&once)
        .unwrap_or_else(|e| panic!("{value:?} encoded but does not decode: {e}"));
    let twice = codec::encode(&back).expect("encoded once already");
    assert_eq!(
        once, twice,
        "{value:?}: not stable through encode and decode"
    );
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng, rngs::StdRng};

    use super::*;
    use crate::{
        replicate::{Angle, Field, Point, UInt},
        sync::{SyncError, encode_body},
    };

    crate::replicated! {
        /// A state of the common shape: a kind sent once, a signed 3-D position, a facing, a
        /// small number.
        struct Drone {
            #[once]
            kind: UInt<u8, 2>,
            #[position]
            at: Point<u16, 3, -1000, 1000, 16, 7>,
            yaw: Angle<u8, 8>,
            charge: UInt<u8, 7>,
        }
    }

    /// A game whose messages are bytes and whose entities are drones.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    struct Drones;

    impl GameProtocol for Drones {
        const NAME: &'static str = "drones";
        const VERSION: u16 = 1;
        type Input = u8;
        type Command = u8;
        type Event = u8;
        type Welcome = u8;
        type Results = u8;
        type State = Drone;
    }

    fn drone(rng: &mut StdRng) -> Drone {
        Drone {
            kind: UInt::new(rng.random_range(0..4)),
            at: Point::new([0; 3].map(|_| rng.random_range(-1000.0..1000.0))),
            yaw: Angle::from_radians(rng.random_range(0.0..7.0)),
            charge: UInt::new(rng.random_range(0..128)),
        }
    }

    #[test]
    fn a_declared_state_passes() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut states: Vec<Drone> = (0..20).map(|_| drone(&mut rng)).collect();
        // Small moves too, for the delta's small form.
        let nudged = Drone {
            at: Point::from_steps(states[0].at.steps().map(|c| c + 3)),
            ..states[0]
        };
        states.push(nudged);
        check_replicated(&states);
    }

    #[test]
    fn arbitrary_bytes_and_real_snapshots_pass_every_decoder() {
        let mut rng = StdRng::seed_from_u64(2);
        for _ in 0..3_000 {
            let len = rng.random_range(0..64);
            let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            decode_arbitrary::<Drones>(&bytes);
        }
        // And bodies that do decode, so the state checks run on what a room sends.
        for _ in 0..200 {
            let updated: Vec<(u32, Drone)> = (1..=rng.random_range(1..10u32))
                .map(|id| (id, drone(&mut rng)))
                .collect();
            decode_arbitrary::<Drones>(&encode_body(&View::new(), &[], &updated));
        }
    }

    /// A field that claims seven bits and writes eight.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Liar(u8);

    impl Field for Liar {
        const FULL_BITS: usize = 7;
        fn write_full(&self, w: &mut BitWriter) {
            w.write(u32::from(self.0), 8);
        }
        fn read_full(r: &mut BitReader<'_>) -> Result<Self, SyncError> {
            Ok(Self(r.read(8)? as u8))
        }
    }

    crate::replicated! {
        struct Wrong {
            #[once]
            id: UInt<u8, 3>,
            value: Liar,
        }
    }

    #[test]
    #[should_panic(expected = "the whole form's length is its declared cost")]
    fn a_field_that_misstates_its_cost_is_caught() {
        check_replicated(&[Wrong {
            id: UInt::new(1),
            value: Liar(200),
        }]);
    }
}
