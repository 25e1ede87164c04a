//! Hidden information stays hidden: a game whose entities are scoped to their owner (a hand of
//! cards), to a team (a team's banner) or to everyone (the table), run in a room with real
//! snapshot bytes decoded by each client. No client ever holds an entity outside its scope,
//! through a crash and a restore from checkpoint (which renumbers the world's entities) as
//! well; a spectator sees everything, marked with who players it is hidden from.

use std::{collections::BTreeSet, time::Duration};

use bevy_ecs::{prelude::*, schedule::Schedule};
use protocol::{
    Channel, GameProtocol, InputFrame, InputPacket, NoMessage, ServerEvent, SnapshotReceiver,
    TokenUserData, api::SeenBy, codec, replicate::UInt,
};
use serde::{Deserialize, Serialize};
use server::{
    Game, Joined, Outcome, Participant, PlayerInfo, Relevance, Replica, RoomClock,
    room::{Fault, Outbound, Room, RoomInput, RoomSettings, Supervision},
};

const ROOM: u64 = 21;
/// The table everyone sees.
const TABLE: u32 = 1;
/// Team `t`'s banner.
const fn banner(team: u8) -> u32 {
    1000 + team as u32
}
/// Player `slot`'s hand.
const fn hand(slot: usize) -> u32 {
    100 + slot as u32
}

/// Cards: a hand per player, a banner per team, one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Cards;

/// How many cards to draw this tick.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Draw(u8);

/// The seats at the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Seats(u8);

protocol::always_valid!(Draw, Seats);

protocol::replicated! {
    /// Any of the game's things: what it is, and a number (cards held, points, round).
    struct Thing {
        #[once]
        what: UInt<u8, 2>,
        value: UInt<u16, 12>,
    }
}

impl GameProtocol for Cards {
    const NAME: &'static str = "cards";
    const VERSION: u16 = 1;
    type Input = Draw;
    type Command = NoMessage;
    type Event = NoMessage;
    type Welcome = Seats;
    type Results = NoMessage;
    type State = Thing;
}

/// A player's hand, on the player's entity.
#[derive(Component, Debug, Clone, Serialize, Deserialize)]
struct Hand {
    id: u32,
    team: u8,
    cards: u32,
}

#[derive(Debug, Clone)]
struct CardsGame;

impl Game for CardsGame {
    type Protocol = Cards;
    type Checkpoint = Vec<Hand>;

    fn mode(&self) -> &str {
        "cards"
    }
    fn welcome(&self) -> Seats {
        Seats(4)
    }
    fn setup(&self, _: &mut World, _: u64) {}
    fn add_systems(&self, _: &mut Schedule) {}
    fn player_joined(&self, world: &mut World, player: PlayerInfo<'_>) -> Joined {
        let slot: usize = player.player_id[1..].parse().unwrap();
        let id = hand(slot);
        let entity = world
            .spawn(Hand {
                id,
                team: player.team,
                cards: 0,
            })
            .id();
        Joined {
            entity,
            net_id: Some(id),
        }
    }
    fn player_dropped(&self, _: &mut World, _: Entity) {}
    fn player_returned(&self, _: &mut World, _: Entity) {}
    fn player_left(&self, _: &mut World, _: Entity) {}
    fn apply_input(&self, world: &mut World, player: Entity, input: Draw) {
        if let Some(mut hand) = world.get_mut::<Hand>(player) {
            hand.cards = (hand.cards + u32::from(input.0)) % 4096;
        }
    }
    fn apply_command(&self, _: &mut World, _: Entity, command: NoMessage) {
        match command {}
    }
    fn write_snapshot(&self, world: &mut World, out: &mut Vec<Replica<Thing>>) {
        let round = world.resource::<RoomClock>().tick;
        out.push(Replica {
            id: TABLE,
            state: Thing {
                what: UInt::new(0),
                value: UInt::new(round % 4096),
            },
            relevance: Relevance::everyone(1.0),
        });
        let mut teams = BTreeSet::new();
        for (entity, hand) in world.query::<(Entity, &Hand)>().iter(world) {
            out.push(Replica {
                id: hand.id,
                state: Thing {
                    what: UInt::new(1),
                    value: UInt::new(hand.cards),
                },
                relevance: Relevance::owner(entity, 2.0),
            });
            teams.insert(hand.team);
        }
        for team in teams {
            out.push(Replica {
                id: banner(team),
                state: Thing {
                    what: UInt::new(2),
                    value: UInt::new(u32::from(team)),
                },
                relevance: Relevance::team(team, 1.0),
            });
        }
    }
    fn score(&self, world: &World, player: Entity) -> i64 {
        world.get::<Hand>(player).map_or(0, |h| i64::from(h.cards))
    }
    fn is_over(&self, _: &mut World) -> bool {
        false
    }
    fn results(&self, _: &mut World, players: &[Participant<'_>]) -> Outcome<NoMessage> {
        unreachable!(
            "the match is not played to its end here ({} players)",
            players.len()
        )
    }
    fn checkpoint(&self, world: &mut World, players: &[Entity]) -> Vec<Hand> {
        players
            .iter()
            .filter_map(|&e| world.get::<Hand>(e).cloned())
            .collect()
    }
    fn restore(&self, world: &mut World, hands: &Vec<Hand>) -> Vec<Entity> {
        // Something else first, so the restored hands' entities differ from the originals.
        world.spawn_empty();
        hands.iter().map(|h| world.spawn(h.clone()).id()).collect()
    }
}

#[test]
fn a_client_never_holds_an_entity_outside_its_scope_even_across_a_restart() {
    let teams = [0u8, 1, 0, 1];
    let mut settings = RoomSettings {
        supervision: Supervision {
            checkpoint_interval: Duration::from_millis(500),
            ..Supervision::default()
        },
        ..RoomSettings::for_players(ROOM, 3, teams.len())
    };
    for (player, &team) in settings.expected.iter_mut().zip(&teams) {
        player.team = team;
    }
    let mut room = Room::new(CardsGame, settings);
    for slot in 0..teams.len() {
        room.handle(RoomInput::Connected {
            client: slot as u64,
            user: TokenUserData {
                room_id: ROOM,
                ticket_id: format!("{slot:032x}"),
                player_id: format!("p{slot}"),
            },
        });
    }
    let allowed = |slot: usize| BTreeSet::from([TABLE, hand(slot), banner(teams[slot])]);
    let mut receivers: Vec<SnapshotReceiver<Thing>> =
        teams.iter().map(|_| SnapshotReceiver::new()).collect();
    let mut welcomed = [None; 4];
    let mut snapshots = 0;
    for tick in 1..=90u32 {
        if tick == 40 {
            room.inject_fault(Fault::Panic);
        }
        for (slot, receiver) in receivers.iter().enumerate() {
            let packet = InputPacket {
                ack_tick: receiver.newest_tick().unwrap_or(0),
                inputs: vec![InputFrame {
                    seq: tick,
                    tick: 0,
                    input: Draw(slot as u8 + 1),
                }],
            };
            let bytes = codec::encode(&packet).unwrap();
            room.handle(RoomInput::Message {
                client: slot as u64,
                channel: Channel::State,
                bytes: &bytes,
            });
        }
        for message in room.tick().drain(..) {
            match message {
                Outbound::Snapshot { client, packet } => {
                    let slot = client as usize;
                    receivers[slot].receive(&packet).unwrap();
                    let (_, _, view) = receivers[slot].newest().unwrap();
                    let held: BTreeSet<u32> = view.keys().copied().collect();
                    assert!(
                        held.is_subset(&allowed(slot)),
                        "tick {tick}: p{slot} holds {held:?}, may hold {:?}",
                        allowed(slot)
                    );
                    snapshots += 1;
                }
                Outbound::Event {
                    client,
                    event: ServerEvent::Welcome { entity_id, .. },
                } => welcomed[client as usize] = entity_id,
                _ => {}
            }
        }
    }
    assert_eq!(
        room.core().stats().restarts,
        1,
        "the room was restored once"
    );
    assert!(snapshots > 300, "{snapshots} snapshots");
    for (slot, receiver) in receivers.iter().enumerate() {
        assert_eq!(welcomed[slot], Some(hand(slot)), "p{slot}'s own entity");
        let (_, _, view) = receiver.newest().unwrap();
        let held: BTreeSet<u32> = view.keys().copied().collect();
        assert_eq!(held, allowed(slot), "p{slot} holds all it may");
        // Its own hand as the room has it: slot + 1 cards drawn per tick.
        let cards = view.get(&hand(slot)).unwrap().value.get();
        assert!(
            cards >= 85 * (slot as u32 + 1),
            "p{slot} holds {cards} cards"
        );
    }

    // A spectator sees every entity, marked with whom players it is shown to.
    let frame = room.core().spectator_frame(room.last_step());
    let seen_by = |id: u32| {
        let entity = frame.entities.iter().find(|e| e.id == id).unwrap();
        assert!(entity.fields.contains_key("value"), "{entity:?}");
        entity.seen_by.clone()
    };
    assert_eq!(frame.entities.len(), 1 + 4 + 2);
    assert_eq!(seen_by(TABLE), SeenBy::Everyone);
    for slot in 0..teams.len() {
        assert_eq!(seen_by(hand(slot)), SeenBy::Owner(Some(format!("p{slot}"))));
    }
    assert_eq!(seen_by(banner(1)), SeenBy::Team(1));
}
