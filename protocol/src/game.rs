//! What a game declares to the platform: its name and version, and the types its client and
//! its server exchange ([`GameProtocol`]). No bevy and no server here: a game's client and its
//! bots depend on this, its server logic on the engine's `Game` trait, which names one of these.

use std::fmt::Debug;

use serde::{Serialize, de::DeserializeOwned};

/// A message type of a game: serializable, bounded by the platform's decoder, and checked by the
/// game after decoding. A decoded value is only used once [`WireMessage::validate`] accepts it;
/// a room counts and drops one that it refuses, as it does bytes that do not decode.
pub trait WireMessage:
    Serialize + DeserializeOwned + Clone + Debug + PartialEq + Send + Sync + 'static
{
    /// Why a value is refused.
    type Invalid: std::error::Error + Send + Sync + 'static;

    /// Whether the value is one the game accepts (ranges, lengths, known variants). Decoding
    /// already bounds sizes; this is for what bincode cannot know.
    fn validate(&self) -> Result<(), Self::Invalid>;
}

/// The types a game's client and server exchange, declared once on a marker type (for example
/// `struct Hearts;`). Every message of the platform that carries game data is generic over it.
pub trait GameProtocol: Copy + Debug + Default + PartialEq + Eq + Send + Sync + 'static {
    /// The game's name, as in connect tokens' protocol id and node-to-node blobs; a client or a
    /// blob of another game is refused.
    const NAME: &'static str;
    /// The game's wire version: change it whenever these types change incompatibly.
    const VERSION: u16;

    /// A player's intent for one tick: sent unreliably once per tick and repeated for loss.
    type Input: WireMessage + Copy + Default;
    /// A reliable, ordered client-to-room action (play a card, buy an item, chat).
    type Command: WireMessage;
    /// A reliable, ordered room-to-client message of the game's own.
    type Event: WireMessage;
    /// Static match information sent to each player on joining (a map, its size, the rules).
    type Welcome: WireMessage;
    /// The game's own part of a finished match's results (placements are the platform's).
    type Results: WireMessage;
    /// One replicated entity's state, declared with [`replicated!`](crate::replicated): what
    /// snapshots carry, delta-encoded against what each client acknowledged.
    /// [`NoState`](crate::replicate::NoState) for a game that replicates nothing.
    type State: crate::replicate::Replicated;

    /// Folds an input that arrived too late for its tick into the one applied after it, so
    /// nothing that happened once is lost (a button pressed). The default keeps `newer` as is.
    fn merge_late_input(older: &Self::Input, newer: &mut Self::Input) {
        let _ = (older, newer);
    }
}

/// Implements [`WireMessage`] for message types with nothing to check beyond decoding (every
/// value that decodes is valid): `protocol::always_valid!(Step, Seat);`.
#[macro_export]
macro_rules! always_valid {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::WireMessage for $t {
            type Invalid = ::std::convert::Infallible;
            fn validate(&self) -> ::std::result::Result<(), Self::Invalid> {
                Ok(())
            }
        }
    )*};
}

/// A message type with no values, for a game that has no commands or no events of its own.
/// Nothing decodes into it, so a client that sends one is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NoMessage {}

impl WireMessage for NoMessage {
    type Invalid = std::convert::Infallible;

    fn validate(&self) -> Result<(), Self::Invalid> {
        match *self {}
    }
}

/// A game's identity as it travels: in assignments, node adverts, room grants and room
/// blobs. Shown as `name/version`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct GameId {
    /// [`GameProtocol::NAME`].
    pub name: String,
    /// [`GameProtocol::VERSION`].
    pub version: u16,
}

impl GameId {
    /// The identity of the game `G`.
    pub fn of<G: GameProtocol>() -> Self {
        Self {
            name: G::NAME.into(),
            version: G::VERSION,
        }
    }

    /// The netcode protocol id of this game's version: the platform's wire version with the
    /// game's name and version folded in, so netcode itself keeps clients of another game or
    /// version out (their tokens do not decrypt).
    pub fn protocol_id(&self) -> u64 {
        // FNV-1a over the game's identity: stable across builds and platforms, unlike std's
        // hasher.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.name.bytes().chain(self.version.to_le_bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        // The top 16 bits keep the platform's own wire version, so a platform change alone
        // also refuses old clients, and ids of different platform versions never collide.
        (u64::from(crate::PROTOCOL_VERSION) << 48) | (hash & 0x0000_ffff_ffff_ffff)
    }
}

impl std::fmt::Display for GameId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.name, self.version)
    }
}

/// The netcode protocol id of the game `G` ([`GameId::protocol_id`]).
pub fn protocol_id<G: GameProtocol>() -> u64 {
    GameId::of::<G>().protocol_id()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The smallest game: for the platform's own tests.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub(crate) struct Minimal;

    crate::always_valid!(u8);

    impl GameProtocol for Minimal {
        const NAME: &'static str = "minimal";
        const VERSION: u16 = 1;
        type Input = u8;
        type Command = u8;
        type Event = u8;
        type Welcome = u8;
        type Results = u8;
        type State = crate::replicate::NoState;
    }

    #[test]
    fn protocol_ids_differ_by_game_and_version_and_keep_the_platform_version() {
        let id = |name: &str, version| {
            GameId {
                name: name.into(),
                version,
            }
            .protocol_id()
        };
        let a = id("brawl", 1);
        assert_ne!(a, id("brawl", 2));
        assert_ne!(a, id("hearts", 1));
        assert_eq!(a, id("brawl", 1));
        assert_eq!(protocol_id::<Minimal>(), id("minimal", 1));
        assert_eq!(a >> 48, u64::from(crate::PROTOCOL_VERSION));
        assert_eq!(GameId::of::<Minimal>().to_string(), "minimal/1");
    }
}
