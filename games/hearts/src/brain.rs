//! A Hearts player for bots and tests: it reads what a client may see (its own hand, the
//! table, the seats) and plays its lowest legal card when it is its turn.

use protocol::View;

use crate::{
    HeartsState, Kind,
    rules::{Card, SEATS, legal_plays},
};

/// The seat whose hand this view holds (a client holds its own hand only).
pub fn my_seat(view: &View<HeartsState>) -> Option<usize> {
    view.iter()
        .map(|(_, s)| s)
        .find(|s| s.kind.0 == Kind::Hand)
        .map(|s| s.seat.get() as usize)
}

/// The card to play now, if it is this client's turn: the lowest legal one, worked out from
/// the hand, the trick on the table, whether hearts are broken and whether it is the hand's
/// first trick (every card still in a hand or on the table).
pub fn lowest_legal(view: &View<HeartsState>) -> Option<Card> {
    let states = || view.iter().map(|(_, s)| s);
    let hand = states().find(|s| s.kind.0 == Kind::Hand)?;
    let table = states().find(|s| s.kind.0 == Kind::Table)?;
    let seat = hand.seat.get() as usize;
    if table.turn.get() as usize != seat || table.trick.0[seat].is_some() {
        return None;
    }
    let cards_left: u32 = states()
        .filter(|s| s.kind.0 == Kind::Seat)
        .map(|s| s.cards_left.get())
        .sum();
    let on_table = table.trick.0.iter().flatten().count() as u32;
    let first_trick = cards_left + on_table == 52;
    // The card led: the first of the played seats going back from this one.
    let led = (1..SEATS)
        .map(|back| (seat + SEATS - back) % SEATS)
        .take_while(|&s| table.trick.0[s].is_some())
        .last()
        .and_then(|s| table.trick.0[s]);
    legal_plays(hand.cards.0, led, table.hearts_broken.0, first_trick)
        .iter()
        .next()
}
