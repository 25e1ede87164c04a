//! Hearts' server side for the engine ([`Game`]): the table as a resource, each player a seat
//! (no avatar, no position), plays checked by the rules, and a turn timer that plays for a
//! player who is away or too slow, so the table never waits on anyone for long.

use bevy_ecs::{prelude::*, schedule::Schedule};
use game_api::{
    Game, GameEvents, Joined, Outcome, Participant, PlayerInfo, Recipient, Relevance, Replica,
    RoomClock, placements_by,
};
use protocol::replicate::{Flag, Tag, UInt};
use serde::{Deserialize, Serialize};

use crate::{
    CardSet, Hearts, HeartsEvent, HeartsResults, HeartsState, HeartsWelcome, Kind, Play, Trick,
    rules::{Card, IllegalPlay, Played, SEATS, Table},
};

/// Network ids: the table, then the seats, then the hands.
const TABLE_ID: u32 = 1;
const SEAT_IDS: u32 = 10;
const HAND_IDS: u32 = 20;

/// How long the timer waits before playing for a player who is away.
const ABSENT_SECONDS: f32 = 0.5;

/// The table and the rules a match plays by.
#[derive(Debug, Clone)]
pub struct HeartsGame {
    mode: String,
    target: u16,
    turn_seconds: u16,
}

impl HeartsGame {
    /// A game of `mode`, played to `target` points, `turn_seconds` a turn.
    pub fn new(mode: impl Into<String>, target: u16, turn_seconds: u16) -> Self {
        Self {
            mode: mode.into(),
            target: target.max(1),
            turn_seconds: turn_seconds.max(1),
        }
    }
}

impl Default for HeartsGame {
    /// Hearts to 100 points, 20 seconds a turn.
    fn default() -> Self {
        Self::new("hearts", 100, 20)
    }
}

/// A player's seat, on the player's entity.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Seat {
    index: u8,
    /// Dropped or left: the timer plays for them.
    away: bool,
    /// Left for good: the seat is free for a replacement.
    left: bool,
}

/// The table, and when the current turn began.
#[derive(Resource, Debug, Clone, Serialize, Deserialize)]
struct TableState {
    table: Table,
    turn_since: u32,
    turn_seconds: u16,
}

/// Which player sits where.
#[derive(Resource, Debug, Default)]
struct Seated([Option<Entity>; SEATS]);

/// Everything a Hearts match is: the table, and each player's seat (in the room's order).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeartsCheckpoint {
    table: TableState,
    players: Vec<Option<Seat>>,
}

/// Plays `card` for `seat`, telling everyone what happened.
fn play(
    state: &mut TableState,
    events: &mut GameEvents<HeartsEvent>,
    seat: usize,
    card: Card,
    for_absent: bool,
    tick: u32,
) -> Result<(), IllegalPlay> {
    let played = state.table.play(seat, card)?;
    state.turn_since = tick;
    events.send(
        Recipient::All,
        HeartsEvent::Played {
            seat: seat as u8,
            card,
            for_absent,
        },
    );
    match played {
        Played::Next { .. } => {}
        Played::Trick { winner, points } => events.send(
            Recipient::All,
            HeartsEvent::Trick {
                seat: winner as u8,
                points: points as u8,
            },
        ),
        Played::Hand {
            winner,
            points,
            scored,
        } => {
            let trick = HeartsEvent::Trick {
                seat: winner as u8,
                points: points as u8,
            };
            events.send(Recipient::All, trick);
            events.send(
                Recipient::All,
                HeartsEvent::HandScored {
                    scored: scored.map(|p| p as u8),
                },
            );
        }
    }
    Ok(())
}

/// Plays the lowest legal card for a player who is away, or who let the turn run out.
fn turn_timer(
    clock: Res<RoomClock>,
    mut state: ResMut<TableState>,
    seated: Res<Seated>,
    seats: Query<&Seat>,
    mut events: ResMut<GameEvents<HeartsEvent>>,
) {
    if !clock.running || state.table.is_over() {
        return;
    }
    if state.turn_since == 0 {
        state.turn_since = clock.tick;
    }
    let seat = state.table.turn();
    let away = seated.0[seat]
        .and_then(|e| seats.get(e).ok())
        .is_none_or(|s| s.away);
    let seconds = if away {
        ABSENT_SECONDS
    } else {
        f32::from(state.turn_seconds)
    };
    let limit = (seconds / clock.dt.max(1e-3)).ceil() as u32;
    if clock.tick.saturating_sub(state.turn_since) < limit {
        return;
    }
    let card = state.table.legal(seat).iter().next();
    if let Some(card) = card {
        let tick = clock.tick;
        play(&mut state, &mut events, seat, card, true, tick).expect("a legal card");
    }
}

fn seat_of(world: &World, player: Entity) -> Option<Seat> {
    world.get::<Seat>(player).copied()
}

fn set_away(world: &mut World, player: Entity, away: bool) {
    if let Some(mut seat) = world.get_mut::<Seat>(player) {
        seat.away = away;
    }
}

impl Game for HeartsGame {
    type Protocol = Hearts;
    type Checkpoint = HeartsCheckpoint;

    fn mode(&self) -> &str {
        &self.mode
    }

    fn welcome(&self) -> HeartsWelcome {
        HeartsWelcome {
            target: self.target,
            turn_seconds: self.turn_seconds,
        }
    }

    fn setup(&self, world: &mut World, seed: u64) {
        world.insert_resource(TableState {
            table: Table::new(seed, u32::from(self.target)),
            turn_since: 0,
            turn_seconds: self.turn_seconds,
        });
        world.insert_resource(Seated::default());
    }

    fn add_systems(&self, schedule: &mut Schedule) {
        schedule.add_systems(turn_timer);
    }

    fn player_joined(&self, world: &mut World, _: PlayerInfo<'_>) -> Joined {
        let free = world
            .resource::<Seated>()
            .0
            .iter()
            .position(Option::is_none);
        let entity = match free {
            Some(index) => {
                let entity = world
                    .spawn(Seat {
                        index: index as u8,
                        away: false,
                        left: false,
                    })
                    .id();
                world.resource_mut::<Seated>().0[index] = Some(entity);
                entity
            }
            // A fifth player (the match is made for four): it watches; its plays are refused.
            None => world.spawn_empty().id(),
        };
        Joined {
            entity,
            net_id: None,
        }
    }

    fn player_dropped(&self, world: &mut World, player: Entity) {
        set_away(world, player, true);
    }

    fn player_returned(&self, world: &mut World, player: Entity) {
        set_away(world, player, false);
    }

    /// The seat is given up: the timer plays for it until a replacement sits down.
    fn player_left(&self, world: &mut World, player: Entity) {
        set_away(world, player, true);
        if let Some(mut seat) = world.get_mut::<Seat>(player) {
            seat.left = true;
        }
        if let Some(seat) = seat_of(world, player) {
            let mut seated = world.resource_mut::<Seated>();
            if seated.0[usize::from(seat.index)] == Some(player) {
                seated.0[usize::from(seat.index)] = None;
            }
        }
    }

    fn apply_input(&self, _: &mut World, _: Entity, _: crate::Idle) {}

    fn apply_command(&self, world: &mut World, player: Entity, Play(card): Play) {
        let tick = world.resource::<RoomClock>().tick;
        let seated = seat_of(world, player)
            .filter(|s| world.resource::<Seated>().0[usize::from(s.index)] == Some(player));
        let result = match seated {
            Some(seat) => world.resource_scope(|world, mut state: Mut<TableState>| {
                let mut events = world.resource_mut::<GameEvents<HeartsEvent>>();
                play(
                    &mut state,
                    &mut events,
                    usize::from(seat.index),
                    card,
                    false,
                    tick,
                )
                .map_err(|e| e.to_string())
            }),
            None => Err("you have no seat at this table".to_owned()),
        };
        if let Err(reason) = result {
            world
                .resource_mut::<GameEvents<HeartsEvent>>()
                .send(Recipient::Player(player), HeartsEvent::Refused { reason });
        }
    }

    fn write_snapshot(&self, world: &mut World, out: &mut Vec<Replica<HeartsState>>) {
        let table = &world.resource::<TableState>().table;
        let blank = HeartsState {
            kind: Tag(Kind::Table),
            seat: UInt::new(0),
            cards: CardSet::default(),
            trick: Trick::default(),
            turn: UInt::new(0),
            hearts_broken: Flag(false),
            hand_number: UInt::new(0),
            score: UInt::new(0),
            taken: UInt::new(0),
            cards_left: UInt::new(0),
        };
        let mut trick = [None; SEATS];
        for (offset, &card) in table.trick().iter().enumerate() {
            trick[(table.leader() + offset) % SEATS] = Some(card);
        }
        out.push(Replica {
            id: TABLE_ID,
            state: HeartsState {
                trick: Trick(trick),
                turn: UInt::new(table.turn() as u32),
                hearts_broken: Flag(table.hearts_broken()),
                hand_number: UInt::new(table.hand_number()),
                ..blank
            },
            relevance: Relevance::everyone(1.0),
        });
        let seated = world.resource::<Seated>();
        for seat in 0..SEATS {
            out.push(Replica {
                id: SEAT_IDS + seat as u32,
                state: HeartsState {
                    kind: Tag(Kind::Seat),
                    seat: UInt::new(seat as u32),
                    score: UInt::new(table.scores()[seat]),
                    taken: UInt::new(table.taken()[seat]),
                    cards_left: UInt::new(table.hand(seat).len() as u32),
                    ..blank
                },
                relevance: Relevance::everyone(1.0),
            });
            // A hand is its owner's alone; an empty seat's hand is nobody's to see.
            if let Some(owner) = seated.0[seat] {
                out.push(Replica {
                    id: HAND_IDS + seat as u32,
                    state: HeartsState {
                        kind: Tag(Kind::Hand),
                        seat: UInt::new(seat as u32),
                        cards: CardSet(table.hand(seat)),
                        ..blank
                    },
                    relevance: Relevance::owner(owner, 2.0),
                });
            }
        }
    }

    /// Lower is better in Hearts: the score is the points, negated.
    fn score(&self, world: &World, player: Entity) -> i64 {
        seat_of(world, player).map_or(0, |seat| {
            -i64::from(world.resource::<TableState>().table.scores()[usize::from(seat.index)])
        })
    }

    fn is_over(&self, world: &mut World) -> bool {
        world.resource::<TableState>().table.is_over()
    }

    fn results(&self, world: &mut World, players: &[Participant<'_>]) -> Outcome<HeartsResults> {
        let scores = world.resource::<TableState>().table.scores();
        let points = |p: &Participant<'_>| {
            seat_of(world, p.entity).map_or(u32::MAX, |s| scores[usize::from(s.index)])
        };
        let ranked = placements_by(players, |p| std::cmp::Reverse(points(p)));
        let scores = ranked
            .iter()
            .map(|(placement, i)| {
                let p = points(&players[*i]).min(u32::from(u16::MAX)) as u16;
                (placement.player_id.clone(), p)
            })
            .collect();
        Outcome {
            placements: ranked.into_iter().map(|(p, _)| p).collect(),
            results: HeartsResults { scores },
        }
    }

    fn checkpoint(&self, world: &mut World, players: &[Entity]) -> HeartsCheckpoint {
        HeartsCheckpoint {
            table: world.resource::<TableState>().clone(),
            players: players.iter().map(|&p| seat_of(world, p)).collect(),
        }
    }

    fn restore(&self, world: &mut World, checkpoint: &HeartsCheckpoint) -> Vec<Entity> {
        world.insert_resource(checkpoint.table.clone());
        let mut seated = Seated::default();
        let entities = checkpoint
            .players
            .iter()
            .map(|seat| match seat {
                Some(seat) => {
                    let entity = world.spawn(*seat).id();
                    // A player who left gave the seat up; one who dropped keeps it.
                    if !seat.left {
                        seated.0[usize::from(seat.index)] = Some(entity);
                    }
                    entity
                }
                None => world.spawn_empty().id(),
            })
            .collect();
        world.insert_resource(seated);
        entities
    }

    /// The table from above with every hand face up, each marked hidden but from its owner
    /// (`view.js`).
    fn spectator_view(&self) -> Option<&'static str> {
        Some(include_str!("view.js"))
    }
}
