//! The rules of Hearts, with no platform in them: a deal, the legal plays, tricks, points, the
//! end of the game. Deterministic: a deal is made from a seed, so a table replays exactly.
//!
//! The rules played: four seats, 13 cards each; the 2 of clubs leads the first trick; players
//! follow suit if they can; no points (a heart, the queen of spades) on the first trick unless
//! a player has nothing else; hearts cannot be led until one has been played (unless the leader
//! holds nothing but hearts); the highest card of the suit led takes the trick and leads the
//! next. Each heart taken is a point and the queen of spades 13; a player who takes all 26
//! ("shoots the moon") scores 0 and everyone else 26. The game ends after the hand in which
//! someone reaches the target score; the lowest score wins. Cards are not passed between
//! hands.

use rand::{SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha12Rng;
use serde::{Deserialize, Serialize};

/// Seats at the table.
pub const SEATS: usize = 4;
/// Cards in a hand at the deal.
pub const HAND: usize = 13;
/// Points in a hand: 13 hearts and the queen of spades.
pub const POINTS_PER_HAND: u32 = 26;

/// A suit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Suit {
    /// ♣
    Clubs,
    /// ♦
    Diamonds,
    /// ♠
    Spades,
    /// ♥
    Hearts,
}

impl Suit {
    const ALL: [Suit; 4] = [Suit::Clubs, Suit::Diamonds, Suit::Spades, Suit::Hearts];
}

/// A card: `suit * 13 + rank`, rank 0 the two and 12 the ace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Card(u8);

impl Card {
    /// The two of clubs, which leads the first trick.
    pub const TWO_OF_CLUBS: Card = Card(0);
    /// The queen of spades: 13 points.
    pub const QUEEN_OF_SPADES: Card = Card(2 * 13 + 10);

    /// The card of `suit` and `rank` (0 the two, 12 the ace), if the rank is one.
    pub fn new(suit: Suit, rank: u8) -> Option<Card> {
        (rank < 13).then(|| Card(suit as u8 * 13 + rank))
    }

    /// The card numbered `index` (0..52), if it is one.
    pub fn from_index(index: u8) -> Option<Card> {
        (index < 52).then_some(Card(index))
    }

    /// Its number, 0..52.
    pub fn index(self) -> u8 {
        self.0
    }

    /// Its suit.
    pub fn suit(self) -> Suit {
        Suit::ALL[usize::from(self.0 / 13)]
    }

    /// Its rank, 0 (the two) to 12 (the ace).
    pub fn rank(self) -> u8 {
        self.0 % 13
    }

    /// Points it costs whoever takes it.
    pub fn points(self) -> u32 {
        match self {
            Card::QUEEN_OF_SPADES => 13,
            c if c.suit() == Suit::Hearts => 1,
            _ => 0,
        }
    }
}

impl std::fmt::Display for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const RANKS: &[u8; 13] = b"23456789TJQKA";
        let suit = ['♣', '♦', '♠', '♥'][self.suit() as usize];
        write!(f, "{}{suit}", RANKS[usize::from(self.rank())] as char)
    }
}

/// A set of cards (a hand, the cards played so far), one bit per card.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cards(u64);

impl Cards {
    /// No cards.
    pub const EMPTY: Cards = Cards(0);
    const ALL: u64 = (1 << 52) - 1;

    /// From its bits (bit `i` is card `i`); bits past the 52nd are dropped.
    pub fn from_bits(bits: u64) -> Cards {
        Cards(bits & Self::ALL)
    }

    /// Its bits.
    pub fn bits(self) -> u64 {
        self.0
    }

    /// Whether it holds `card`.
    pub fn contains(self, card: Card) -> bool {
        self.0 & (1 << card.0) != 0
    }

    /// With `card` added.
    pub fn with(self, card: Card) -> Cards {
        Cards(self.0 | 1 << card.0)
    }

    /// With `card` taken out.
    pub fn without(self, card: Card) -> Cards {
        Cards(self.0 & !(1 << card.0))
    }

    /// How many cards.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether it holds none.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Its cards of `suit`.
    pub fn of_suit(self, suit: Suit) -> Cards {
        Cards(self.0 & (0x1fff << (suit as u8 * 13)))
    }

    /// Its cards, lowest first (clubs, diamonds, spades, hearts; two to ace).
    pub fn iter(self) -> impl Iterator<Item = Card> {
        (0..52u8).filter(move |&i| self.0 & (1 << i) != 0).map(Card)
    }

    /// Its points.
    pub fn points(self) -> u32 {
        self.iter().map(Card::points).sum()
    }
}

/// Why a play is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IllegalPlay {
    /// It is not this seat's turn.
    #[error("it is seat {turn}'s turn, not seat {seat}'s")]
    NotYourTurn {
        /// Whose turn it is.
        turn: usize,
        /// Who tried to play.
        seat: usize,
    },
    /// The card is not in the player's hand.
    #[error("{0} is not in your hand")]
    NotInHand(Card),
    /// The player holds a card of the suit led.
    #[error("you must follow {0:?}")]
    MustFollow(Suit),
    /// The first trick is led with the two of clubs.
    #[error("the first trick is led with the two of clubs")]
    TwoOfClubsLeads,
    /// No points on the first trick while the player has something else.
    #[error("no points on the first trick")]
    NoPointsOnFirstTrick,
    /// Hearts are not broken, and the leader has something else.
    #[error("hearts are not broken yet")]
    HeartsNotBroken,
    /// The game is over.
    #[error("the game is over")]
    GameOver,
}

/// What a legal play did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Played {
    /// The trick goes on; `next` plays.
    Next {
        /// The seat to play.
        next: usize,
    },
    /// The trick is complete: `winner` takes it (and its `points`) and leads the next.
    Trick {
        /// Who took it.
        winner: usize,
        /// Points in it.
        points: u32,
    },
    /// The trick completed the hand: the hand's points are added to the scores (after a
    /// shot moon, 26 to everyone else), and a new hand is dealt unless the game is over.
    Hand {
        /// Who took the last trick.
        winner: usize,
        /// Points in the last trick.
        points: u32,
        /// What each seat scored in the hand.
        scored: [u32; SEATS],
    },
}

/// The cards of `hand` that may be played to a trick led with `led` (`None`: this player
/// leads), as much as a player knows: whether hearts are broken and whether this is the
/// hand's first trick. What [`Table::legal`] answers, and what a client or a bot can work out
/// from its own hand and the table.
pub fn legal_plays(
    hand: Cards,
    led: Option<Card>,
    hearts_broken: bool,
    first_trick: bool,
) -> Cards {
    let Some(led) = led else {
        if first_trick && hand.contains(Card::TWO_OF_CLUBS) {
            return Cards::EMPTY.with(Card::TWO_OF_CLUBS);
        }
        let not_hearts = Cards(hand.0 & !hand.of_suit(Suit::Hearts).0);
        return if hearts_broken || not_hearts.is_empty() {
            hand
        } else {
            not_hearts
        };
    };
    let following = hand.of_suit(led.suit());
    if !following.is_empty() {
        return following;
    }
    if first_trick {
        let pointless = Cards::from_bits(
            hand.0 & !hand.of_suit(Suit::Hearts).0 & !(1 << Card::QUEEN_OF_SPADES.0),
        );
        if !pointless.is_empty() {
            return pointless;
        }
    }
    hand
}

/// A table of Hearts: the hands, the trick on the table, the scores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    hands: [Cards; SEATS],
    /// Cards on the table in this trick, in the order played, the leader's first.
    trick: Vec<Card>,
    leader: usize,
    /// Points each seat took this hand.
    taken: [u32; SEATS],
    scores: [u32; SEATS],
    hearts_broken: bool,
    /// Tricks played this hand.
    tricks: u8,
    /// Hands dealt.
    hand_number: u32,
    seed: u64,
    target: u32,
    over: bool,
}

impl Table {
    /// A table playing to `target` points, its first hand dealt from `seed`.
    pub fn new(seed: u64, target: u32) -> Table {
        let mut table = Table {
            hands: [Cards::EMPTY; SEATS],
            trick: Vec::with_capacity(SEATS),
            leader: 0,
            taken: [0; SEATS],
            scores: [0; SEATS],
            hearts_broken: false,
            tricks: 0,
            hand_number: 0,
            seed,
            target: target.max(1),
            over: false,
        };
        table.deal();
        table
    }

    /// Deals the next hand (each hand from the table's seed and its number).
    fn deal(&mut self) {
        let mut deck: Vec<u8> = (0..52).collect();
        let mut rng = ChaCha12Rng::seed_from_u64(self.seed ^ (u64::from(self.hand_number) << 32));
        deck.shuffle(&mut rng);
        self.hands = [Cards::EMPTY; SEATS];
        for (i, &card) in deck.iter().enumerate() {
            self.hands[i % SEATS] = self.hands[i % SEATS].with(Card(card));
        }
        self.leader = (0..SEATS)
            .find(|&s| self.hands[s].contains(Card::TWO_OF_CLUBS))
            .expect("the two of clubs is dealt");
        self.trick.clear();
        self.taken = [0; SEATS];
        self.hearts_broken = false;
        self.tricks = 0;
        self.hand_number += 1;
    }

    /// Whose turn it is.
    pub fn turn(&self) -> usize {
        (self.leader + self.trick.len()) % SEATS
    }

    /// A seat's hand.
    pub fn hand(&self, seat: usize) -> Cards {
        self.hands[seat % SEATS]
    }

    /// The cards on the table, the leader's first.
    pub fn trick(&self) -> &[Card] {
        &self.trick
    }

    /// Who led the trick on the table.
    pub fn leader(&self) -> usize {
        self.leader
    }

    /// The scores so far (lower is better).
    pub fn scores(&self) -> [u32; SEATS] {
        self.scores
    }

    /// Points each seat took in the hand being played.
    pub fn taken(&self) -> [u32; SEATS] {
        self.taken
    }

    /// Hands dealt so far (1 during the first).
    pub fn hand_number(&self) -> u32 {
        self.hand_number
    }

    /// Whether a heart has been played this hand.
    pub fn hearts_broken(&self) -> bool {
        self.hearts_broken
    }

    /// Whether the game is over (someone reached the target at the end of a hand).
    pub fn is_over(&self) -> bool {
        self.over
    }

    /// The cards `seat` may play now (none if it is not its turn).
    pub fn legal(&self, seat: usize) -> Cards {
        if self.over || seat != self.turn() {
            return Cards::EMPTY;
        }
        legal_plays(
            self.hands[seat],
            self.trick.first().copied(),
            self.hearts_broken,
            self.tricks == 0,
        )
    }

    /// `seat` plays `card`.
    ///
    /// # Errors
    /// Why the play is refused; the table is unchanged.
    pub fn play(&mut self, seat: usize, card: Card) -> Result<Played, IllegalPlay> {
        if self.over {
            return Err(IllegalPlay::GameOver);
        }
        let turn = self.turn();
        if seat != turn {
            return Err(IllegalPlay::NotYourTurn { turn, seat });
        }
        if !self.hands[seat].contains(card) {
            return Err(IllegalPlay::NotInHand(card));
        }
        if !self.legal(seat).contains(card) {
            // A card in hand that may not be played: off the suit led while holding it, points
            // on the first trick while holding something else, or a lead the rules forbid.
            return Err(match self.trick.first() {
                Some(led) if self.hands[seat].of_suit(led.suit()).is_empty() => {
                    IllegalPlay::NoPointsOnFirstTrick
                }
                Some(led) => IllegalPlay::MustFollow(led.suit()),
                None if self.tricks == 0 => IllegalPlay::TwoOfClubsLeads,
                None => IllegalPlay::HeartsNotBroken,
            });
        }
        self.hands[seat] = self.hands[seat].without(card);
        if card.suit() == Suit::Hearts {
            self.hearts_broken = true;
        }
        self.trick.push(card);
        if self.trick.len() < SEATS {
            return Ok(Played::Next { next: self.turn() });
        }
        // The highest card of the suit led takes the trick.
        let led = self.trick[0].suit();
        let (offset, _) = self
            .trick
            .iter()
            .enumerate()
            .filter(|(_, c)| c.suit() == led)
            .max_by_key(|(_, c)| c.rank())
            .expect("the lead follows its own suit");
        let winner = (self.leader + offset) % SEATS;
        let points: u32 = self.trick.iter().map(|c| c.points()).sum();
        self.taken[winner] += points;
        self.trick.clear();
        self.leader = winner;
        self.tricks += 1;
        if usize::from(self.tricks) < HAND {
            return Ok(Played::Trick { winner, points });
        }
        let scored = match self.taken.iter().position(|&t| t == POINTS_PER_HAND) {
            Some(moon) => std::array::from_fn(|s| if s == moon { 0 } else { POINTS_PER_HAND }),
            None => self.taken,
        };
        for (score, add) in self.scores.iter_mut().zip(scored) {
            *score += add;
        }
        if self.scores.iter().any(|&s| s >= self.target) {
            self.over = true;
        } else {
            self.deal();
        }
        Ok(Played::Hand {
            winner,
            points,
            scored,
        })
    }

    /// Seats ranked by score, lowest first, with their rank (ties share one: 1, 1, 3, ...).
    pub fn standings(&self) -> [(usize, u32); SEATS] {
        let mut seats: [usize; SEATS] = std::array::from_fn(|s| s);
        seats.sort_by_key(|&s| (self.scores[s], s));
        let mut out = [(0, 0); SEATS];
        for (i, &seat) in seats.iter().enumerate() {
            let rank = if i > 0 && self.scores[seat] == self.scores[seats[i - 1]] {
                out[i - 1].1
            } else {
                i as u32 + 1
            };
            out[i] = (seat, rank);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(s: &str) -> Card {
        let suit = match s.chars().last().unwrap() {
            'C' => Suit::Clubs,
            'D' => Suit::Diamonds,
            'S' => Suit::Spades,
            _ => Suit::Hearts,
        };
        let rank = b"23456789TJQKA"
            .iter()
            .position(|&r| r == s.as_bytes()[0])
            .unwrap();
        Card::new(suit, rank as u8).unwrap()
    }

    fn cards(list: &str) -> Cards {
        list.split_whitespace()
            .fold(Cards::EMPTY, |set, c| set.with(card(c)))
    }

    /// A table in the middle of a hand, set up by hand.
    fn table(hands: [&str; 4], leader: usize, tricks: u8, hearts_broken: bool) -> Table {
        let mut t = Table::new(1, 100);
        t.hands = hands.map(cards);
        t.leader = leader;
        t.tricks = tricks;
        t.hearts_broken = hearts_broken;
        t
    }

    #[test]
    fn a_deal_gives_thirteen_different_cards_to_each_and_the_two_of_clubs_leads() {
        let t = Table::new(7, 100);
        let all = t.hands.iter().fold(0u64, |acc, h| {
            assert_eq!(h.len(), HAND);
            assert_eq!(acc & h.bits(), 0, "no card dealt twice");
            acc | h.bits()
        });
        assert_eq!(all, (1 << 52) - 1);
        assert!(t.hand(t.turn()).contains(Card::TWO_OF_CLUBS));
        assert_eq!(t.legal(t.turn()), Cards::EMPTY.with(Card::TWO_OF_CLUBS));
        assert_eq!(Table::new(7, 100), t, "a seed deals the same hands");
        assert_ne!(Table::new(8, 100).hands, t.hands);
    }

    #[test]
    fn players_follow_suit_and_the_highest_of_the_suit_led_takes_the_trick() {
        let mut t = table(["5D 9S", "KD 2S", "AS 3S", "7D 4S"], 0, 3, false);
        assert_eq!(
            t.play(1, card("KD")),
            Err(IllegalPlay::NotYourTurn { turn: 0, seat: 1 })
        );
        assert_eq!(t.play(0, card("5D")), Ok(Played::Next { next: 1 }));
        assert_eq!(
            t.play(1, card("2S")),
            Err(IllegalPlay::MustFollow(Suit::Diamonds))
        );
        assert_eq!(t.play(1, card("KD")), Ok(Played::Next { next: 2 }));
        // Seat 2 has no diamond: anything goes, and its ace of spades does not win.
        assert_eq!(t.legal(2), cards("AS 3S"));
        t.play(2, card("AS")).unwrap();
        assert_eq!(
            t.play(3, card("7D")),
            Ok(Played::Trick {
                winner: 1,
                points: 0
            })
        );
        assert_eq!(t.turn(), 1, "the winner leads");
    }

    #[test]
    fn no_points_on_the_first_trick_unless_there_is_nothing_else() {
        let mut t = table(["2C 3D", "QS 4H", "5H 6H", "AC KC"], 0, 0, false);
        assert_eq!(t.play(0, card("3D")), Err(IllegalPlay::TwoOfClubsLeads));
        t.play(0, card("2C")).unwrap();
        // No club: seat 1 may not drop the queen or a heart... but holds only those.
        assert_eq!(t.legal(1), cards("QS 4H"));
        t.play(1, card("QS")).unwrap();
        t.play(2, card("5H")).unwrap();
        assert_eq!(
            t.play(3, card("KC")),
            Ok(Played::Trick {
                winner: 3,
                points: 14
            })
        );
        let mut t = table(["2C", "QS 4D", "", ""], 0, 0, false);
        t.play(0, card("2C")).unwrap();
        assert_eq!(
            t.play(1, card("QS")),
            Err(IllegalPlay::NoPointsOnFirstTrick)
        );
    }

    #[test]
    fn hearts_cannot_be_led_until_broken_unless_nothing_else_is_held() {
        let mut t = table(["4H 5C", "", "", ""], 0, 2, false);
        assert_eq!(t.play(0, card("4H")), Err(IllegalPlay::HeartsNotBroken));
        assert_eq!(t.legal(0), cards("5C"));
        t.hearts_broken = true;
        assert_eq!(t.legal(0), cards("4H 5C"));
        let t = table(["4H 9H", "", "", ""], 0, 2, false);
        assert_eq!(t.legal(0), cards("4H 9H"), "only hearts: a heart may lead");
    }

    #[test]
    fn a_refused_play_changes_nothing() {
        let mut t = Table::new(3, 100);
        let before = t.clone();
        let seat = t.turn();
        let other = t
            .hand(seat)
            .iter()
            .find(|&c| c != Card::TWO_OF_CLUBS)
            .unwrap();
        assert!(t.play(seat, other).is_err());
        assert!(t.play((seat + 1) % SEATS, Card::TWO_OF_CLUBS).is_err());
        let elsewhere = t.hand((seat + 1) % SEATS).iter().next().unwrap();
        assert_eq!(
            t.play(seat, elsewhere),
            Err(IllegalPlay::NotInHand(elsewhere))
        );
        assert_eq!(t, before);
    }

    /// Plays the lowest legal card for whoever's turn it is until the game ends.
    fn play_out(t: &mut Table) -> Vec<Played> {
        let mut results = Vec::new();
        while !t.is_over() {
            let seat = t.turn();
            let card = t.legal(seat).iter().next().expect("a legal card");
            results.push(t.play(seat, card).expect("legal"));
            assert!(results.len() < 52 * 40, "the game ends");
        }
        results
    }

    #[test]
    fn whole_games_end_at_the_target_with_every_hand_scoring_26() {
        for seed in 0..20 {
            let mut t = Table::new(seed, 100);
            let played = play_out(&mut t);
            let hands: Vec<[u32; SEATS]> = played
                .iter()
                .filter_map(|p| match p {
                    Played::Hand { scored, .. } => Some(*scored),
                    _ => None,
                })
                .collect();
            for scored in &hands {
                let total: u32 = scored.iter().sum();
                // 26 points a hand, or 78 after a moon shot.
                assert!(total == 26 || total == 78, "seed {seed}: {scored:?}");
            }
            assert_eq!(
                played.len(),
                hands.len() * 52,
                "seed {seed}: 52 plays a hand"
            );
            assert!(t.scores().iter().any(|&s| s >= 100));
            assert_eq!(t.legal(t.turn()), Cards::EMPTY);
            assert_eq!(t.play(0, Card::TWO_OF_CLUBS), Err(IllegalPlay::GameOver));
            let standings = t.standings();
            assert_eq!(standings[0].1, 1);
            assert!(t.scores()[standings[0].0] <= t.scores()[standings[3].0]);
        }
    }

    #[test]
    fn shooting_the_moon_gives_everyone_else_26() {
        // The last trick of a hand: seat 0 took every point so far but the heart in it.
        let mut t = table(["AH", "2C", "3C", "4C"], 0, 12, true);
        t.taken = [25, 0, 0, 0];
        assert_eq!(
            t.play(0, card("AH")).and_then(|_| t.play(1, card("2C"))),
            Ok(Played::Next { next: 2 })
        );
        t.play(2, card("3C")).unwrap();
        assert_eq!(
            t.play(3, card("4C")),
            Ok(Played::Hand {
                winner: 0,
                points: 1,
                scored: [0, 26, 26, 26]
            })
        );
        assert_eq!(t.scores(), [0, 26, 26, 26]);
        assert_eq!(t.hand_number(), 2, "the next hand is dealt");
        assert_eq!(t.hand(0).len() + t.hand(1).len(), 26);
    }

    #[test]
    fn cards_show_as_players_write_them() {
        assert_eq!(Card::QUEEN_OF_SPADES.to_string(), "Q♠");
        assert_eq!(card("TH").to_string(), "T♥");
        assert_eq!(Card::TWO_OF_CLUBS.points(), 0);
        assert_eq!(cards("QS 2H 3H").points(), 15);
    }
}
