//! Hearts as the platform knows it: its messages ([`Hearts`]) and the state it replicates
//! ([`HeartsState`]), with a field of its own for a set of cards and one for a trick.

use protocol::{
    GameProtocol, WireMessage,
    replicate::{BitReader, BitWriter, Field, Flag, Tag, UInt, WireEnum},
    sync::SyncError,
};
use serde::{Deserialize, Serialize};

use crate::rules::{Card, Cards, SEATS};

/// Hearts, as the platform knows it: its name, version, messages and state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hearts;

impl GameProtocol for Hearts {
    const NAME: &'static str = "hearts";
    const VERSION: u16 = 1;

    type Input = Idle;
    type Command = Play;
    type Event = HeartsEvent;
    type Welcome = HeartsWelcome;
    type Results = HeartsResults;
    type State = HeartsState;
}

/// Hearts has no per-tick input: everything a player does is a [`Play`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Idle;

/// Play a card (reliable; the rules decide whether it may be played now).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Play(pub Card);

/// What happened at the table, sent to every player.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeartsEvent {
    /// A seat played a card; `for_absent` when the turn timer played it.
    Played {
        /// Who.
        seat: u8,
        /// What.
        card: Card,
        /// The timer played it for a player who was away or too slow.
        for_absent: bool,
    },
    /// A trick was taken.
    Trick {
        /// By whom.
        seat: u8,
        /// Its points.
        points: u8,
    },
    /// A hand ended: what each seat scored in it.
    HandScored {
        /// Points per seat.
        scored: [u8; SEATS],
    },
    /// A play of this player's was refused (sent to that player only).
    Refused {
        /// Why, as the rules say it.
        reason: String,
    },
}

/// The table's rules, sent to each player on joining.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartsWelcome {
    /// The game ends after the hand in which someone reaches this score.
    pub target: u16,
    /// Seconds a player has to play before the timer plays for them.
    pub turn_seconds: u16,
}

/// The final scores, best (lowest) first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartsResults {
    /// (player, score), best first.
    pub scores: Vec<(String, u16)>,
}

/// Why a Hearts message is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidHeartsMessage {
    /// A card number past the deck.
    #[error("card {0} is not in the deck")]
    NoSuchCard(u8),
    /// A seat past the table.
    #[error("seat {0} is not at the table")]
    NoSuchSeat(u8),
    /// A text or a list longer than the game ever sends.
    #[error("{0} is too long")]
    TooLong(&'static str),
    /// Points no hand can score.
    #[error("{0} points cannot be scored in a hand")]
    Points(u8),
}

/// Longest refusal reason sent.
const MAX_REASON_BYTES: usize = 200;

fn check_card(card: Card) -> Result<(), InvalidHeartsMessage> {
    Card::from_index(card.index())
        .map(|_| ())
        .ok_or(InvalidHeartsMessage::NoSuchCard(card.index()))
}

fn check_seat(seat: u8) -> Result<(), InvalidHeartsMessage> {
    if usize::from(seat) < SEATS {
        Ok(())
    } else {
        Err(InvalidHeartsMessage::NoSuchSeat(seat))
    }
}

protocol::always_valid!(Idle, HeartsWelcome);

impl WireMessage for Play {
    type Invalid = InvalidHeartsMessage;
    fn validate(&self) -> Result<(), InvalidHeartsMessage> {
        check_card(self.0)
    }
}

impl WireMessage for HeartsEvent {
    type Invalid = InvalidHeartsMessage;
    fn validate(&self) -> Result<(), InvalidHeartsMessage> {
        match self {
            Self::Played { seat, card, .. } => check_seat(*seat).and(check_card(*card)),
            Self::Trick { seat, points } => {
                check_seat(*seat)?;
                match points {
                    0..=26 => Ok(()),
                    &p => Err(InvalidHeartsMessage::Points(p)),
                }
            }
            Self::HandScored { scored } => match scored.iter().find(|&&p| p > 26) {
                Some(&p) => Err(InvalidHeartsMessage::Points(p)),
                None => Ok(()),
            },
            Self::Refused { reason } if reason.len() > MAX_REASON_BYTES => {
                Err(InvalidHeartsMessage::TooLong("a refusal's reason"))
            }
            Self::Refused { .. } => Ok(()),
        }
    }
}

impl WireMessage for HeartsResults {
    type Invalid = InvalidHeartsMessage;
    fn validate(&self) -> Result<(), InvalidHeartsMessage> {
        if self.scores.len() > SEATS {
            return Err(InvalidHeartsMessage::TooLong("the scores"));
        }
        match self
            .scores
            .iter()
            .find(|(p, _)| p.len() > protocol::MAX_PLAYER_ID_BYTES)
        {
            Some(_) => Err(InvalidHeartsMessage::TooLong("a player id")),
            None => Ok(()),
        }
    }
}

/// What a replicated Hearts entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The table: the trick on it, whose turn, whether hearts are broken. Everyone sees it.
    Table,
    /// A seat: its score, the points it took this hand, cards left. Everyone sees it.
    Seat,
    /// A seat's hand: its cards. Only its owner sees it.
    Hand,
}

impl WireEnum for Kind {
    const BITS: u32 = 2;
    fn to_bits(self) -> u32 {
        self as u32
    }
    fn from_bits(bits: u32) -> Option<Self> {
        [Kind::Table, Kind::Seat, Kind::Hand]
            .get(bits as usize)
            .copied()
    }
}

/// A set of cards as a replicated field: 52 bits, one per card.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CardSet(pub Cards);

impl Field for CardSet {
    const FULL_BITS: usize = 52;
    fn write_full(&self, w: &mut BitWriter) {
        let bits = self.0.bits();
        w.write((bits & 0x3ff_ffff) as u32, 26);
        w.write((bits >> 26) as u32, 26);
    }
    fn read_full(r: &mut BitReader<'_>) -> Result<Self, SyncError> {
        let low = u64::from(r.read(26)?);
        let high = u64::from(r.read(26)?);
        Ok(Self(Cards::from_bits(low | high << 26)))
    }
    /// The cards, as players write them.
    fn to_json(&self) -> serde_json::Value {
        self.0
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .into()
    }
}

/// The trick on the table as a replicated field: the card each seat played to it, if any
/// (6 bits a seat; 63 for none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trick(pub [Option<Card>; SEATS]);

const NO_CARD: u32 = 63;

impl Field for Trick {
    const FULL_BITS: usize = 6 * SEATS;
    fn write_full(&self, w: &mut BitWriter) {
        for card in self.0 {
            w.write(card.map_or(NO_CARD, |c| u32::from(c.index())), 6);
        }
    }
    fn read_full(r: &mut BitReader<'_>) -> Result<Self, SyncError> {
        let mut trick = [None; SEATS];
        for slot in &mut trick {
            let bits = r.read(6)?;
            *slot = match bits {
                NO_CARD => None,
                b => Some(Card::from_index(b as u8).ok_or(SyncError::Malformed("no such card"))?),
            };
        }
        Ok(Self(trick))
    }
    /// Each seat's card, as players write them, or null.
    fn to_json(&self) -> serde_json::Value {
        self.0
            .iter()
            .map(|c| c.map(|c| c.to_string()))
            .collect::<Vec<_>>()
            .into()
    }
}

protocol::replicated! {
    /// Any of Hearts' entities ([`Kind`]); the fields a kind does not use stay at zero, which
    /// costs one bit per field in an update.
    pub struct HeartsState {
        #[once]
        /// What it is.
        pub kind: Tag<Kind>,
        #[once]
        /// The seat it belongs to (a seat or a hand); 0 for the table.
        pub seat: UInt<u8, 2>,
        /// A hand's cards.
        pub cards: CardSet,
        /// The table's trick, by seat.
        pub trick: Trick,
        /// The table: whose turn it is.
        pub turn: UInt<u8, 2>,
        /// The table: whether a heart has been played this hand.
        pub hearts_broken: Flag,
        /// The table: hands dealt so far.
        pub hand_number: UInt<u8, 6>,
        /// A seat: its score.
        pub score: UInt<u16, 10>,
        /// A seat: points taken this hand.
        pub taken: UInt<u8, 5>,
        /// A seat: cards left in its hand.
        pub cards_left: UInt<u8, 4>,
    }
}

#[cfg(test)]
mod tests {
    use protocol::conformance::{check_replicated, decode_arbitrary};

    use super::*;
    use crate::rules::Suit;

    fn state(kind: Kind, cards: u64) -> HeartsState {
        HeartsState {
            kind: Tag(kind),
            seat: UInt::new(2),
            cards: CardSet(Cards::from_bits(cards)),
            trick: Trick([
                Card::new(Suit::Hearts, 12),
                None,
                Some(Card::QUEEN_OF_SPADES),
                Some(Card::TWO_OF_CLUBS),
            ]),
            turn: UInt::new(1),
            hearts_broken: Flag(true),
            hand_number: UInt::new(3),
            score: UInt::new(99),
            taken: UInt::new(14),
            cards_left: UInt::new(12),
        }
    }

    #[test]
    fn hearts_types_pass_the_platforms_conformance_checks() {
        check_replicated(&[
            state(Kind::Table, 0),
            state(Kind::Hand, (1 << 52) - 1),
            state(Kind::Seat, 0x5_5555_5555_5555),
            HeartsState {
                trick: Trick([None; SEATS]),
                ..state(Kind::Hand, 1)
            },
        ]);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len % 40)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            decode_arbitrary::<Hearts>(&bytes);
        }
    }

    #[test]
    fn a_card_past_the_deck_is_refused() {
        let bogus: Play = protocol::codec::decode(&[60]).unwrap();
        assert_eq!(bogus.validate(), Err(InvalidHeartsMessage::NoSuchCard(60)));
        assert_eq!(Play(Card::QUEEN_OF_SPADES).validate(), Ok(()));
        // 6 bits of 60 in a trick: no such card.
        let mut w = BitWriter::default();
        w.write(60, 6);
        w.write(0, 18);
        let bytes = w.finish();
        assert!(Trick::read_full(&mut BitReader::new(&bytes)).is_err());
    }

    #[test]
    fn a_spectator_reads_the_cards_as_players_write_them() {
        let hand = state(Kind::Hand, 0).cards.to_json();
        assert_eq!(hand, serde_json::json!([]));
        let json = protocol::Replicated::to_json(&state(Kind::Table, 1 | 1 << 36));
        assert_eq!(json["cards"], serde_json::json!(["2♣", "Q♠"]));
        assert_eq!(json["trick"], serde_json::json!(["A♥", null, "Q♠", "2♣"]));
        assert_eq!(json["kind"], "Table");
    }
}
