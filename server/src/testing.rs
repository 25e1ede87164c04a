//! What a game's own tests need from the engine: [`TestRoom`], a room and its players with no
//! network, and [`embedded`], the whole server on loopback for tests over real UDP.
//!
//! Each player is a client as far as the room can tell: it joins with a token's user data,
//! sends real input and command bytes on the room's channels, and decodes the real snapshot
//! packets the room makes for it (deltas against what it acknowledged, with its interest and
//! scopes applied) into a [`SnapshotReceiver`]. Nothing sleeps and nothing is lost: a test
//! ticks the room itself, so a match of any length runs in milliseconds and exactly the same
//! every time for the same seed. What it leaves out is the network (loss, reordering, the
//! netcode handshake); the bots over real UDP cover that.

use clap::Parser;
use protocol::{
    Channel, ClientEvent, GameProtocol, INPUT_REDUNDANCY, InputFrame, InputPacket, MatchResults,
    ServerEvent, SnapshotReceiver, TokenUserData, View, api::SpectatorFrame, codec,
};

use crate::{
    EmbeddedServer, Game,
    config::ServerArgs,
    room::{Fault, Outbound, Room, RoomHandoff, RoomInput, RoomSettings},
};

/// The embedded server (matchmaker and node in this process) playing `game`, its HTTP API and
/// rooms on ports the system picks: `server --http 127.0.0.1:0 --udp-ports 0` and `flags`
/// (`--modes`, `--tick-rate`, `--admin-token`...). Stop it with
/// [`EmbeddedServer::shutdown`].
///
/// # Panics
///
/// When `flags` are not the server's, or it cannot start: a test cannot go on either way.
pub async fn embedded<G: Game>(game: G, flags: &[&str]) -> EmbeddedServer<G> {
    let argv = ["server", "--http", "127.0.0.1:0", "--udp-ports", "0"];
    let args = match ServerArgs::try_parse_from(argv.iter().chain(flags)) {
        Ok(args) => args,
        Err(e) => panic!("not the server's flags {flags:?}: {e}"),
    };
    match EmbeddedServer::start(&args, game).await {
        Ok(server) => server,
        Err(e) => panic!("the embedded server did not start: {e}"),
    }
}

type P<G> = <G as Game>::Protocol;

/// One player of a [`TestRoom`]: what it has decoded and what it was told.
pub struct TestClient<G: Game> {
    /// The player's id, as its token says.
    pub player_id: String,
    /// The snapshots it decoded: [`SnapshotReceiver::newest`] is what it holds now.
    pub snapshots: SnapshotReceiver<<P<G> as GameProtocol>::State>,
    /// Every event the room sent it, in order.
    pub events: Vec<ServerEvent<P<G>>>,
    connected: bool,
    /// Its last few inputs, repeated in each packet as a real client does.
    recent: Vec<InputFrame<<P<G> as GameProtocol>::Input>>,
    seq: u32,
}

impl<G: Game> TestClient<G> {
    /// The entities it holds now, by network id (`None` before its first snapshot).
    pub fn view(&self) -> Option<&View<<P<G> as GameProtocol>::State>> {
        self.snapshots.newest().map(|(_, _, view)| view)
    }

    /// Whether it is connected.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The game's own events it was sent, in order.
    pub fn game_events(&self) -> impl Iterator<Item = &<P<G> as GameProtocol>::Event> {
        self.events.iter().filter_map(|e| match e {
            ServerEvent::Game(event) => Some(event),
            _ => None,
        })
    }
}

/// A room of game `G` and its players, driven tick by tick by a test. See the module docs.
pub struct TestRoom<G: Game> {
    game: G,
    room: Room<G>,
    clients: Vec<TestClient<G>>,
}

impl<G: Game> TestRoom<G> {
    /// A room of `game` made for `players` players, `p0`, `p1`, ... (the match starts once
    /// they have all joined), with the engine's defaults (30 Hz, a 60 s clock; see
    /// [`RoomSettings::for_players`]) and `seed`; [`TestRoom::with_settings`] for others.
    pub fn new(game: G, players: usize, seed: u64) -> Self {
        Self::with_settings(game, RoomSettings::for_players(1, seed, players))
    }

    /// A room with these settings (tick rate, match duration, join timeout, sync...).
    pub fn with_settings(game: G, settings: RoomSettings) -> Self {
        Self {
            room: Room::new(game.clone(), settings),
            game,
            clients: Vec::new(),
        }
    }

    /// The next player the match was made for joins (as if it had just completed the
    /// handshake with its token); returns its index.
    ///
    /// # Panics
    ///
    /// When every expected player has joined already.
    pub fn join(&mut self) -> usize {
        let index = self.clients.len();
        let expected = &self.room.core().settings().expected;
        assert!(
            index < expected.len(),
            "the match was made for {} players",
            expected.len()
        );
        let player_id = expected[index].player_id.clone();
        self.clients.push(TestClient {
            player_id,
            snapshots: SnapshotReceiver::new(),
            events: Vec::new(),
            connected: false,
            recent: Vec::new(),
            seq: 0,
        });
        self.connect(index);
        index
    }

    /// Player `index`'s connection drops (the room keeps its place for it a while).
    pub fn disconnect(&mut self, index: usize) {
        self.clients[index].connected = false;
        self.room.handle(RoomInput::Disconnected {
            client: index as u64,
        });
    }

    /// Player `index` connects again with its token, as after a drop.
    pub fn reconnect(&mut self, index: usize) {
        self.clients[index].snapshots = SnapshotReceiver::new();
        self.connect(index);
    }

    fn connect(&mut self, index: usize) {
        let expected = &self.room.core().settings().expected[index];
        let user = TokenUserData {
            room_id: self.room.core().id(),
            ticket_id: expected.ticket_id.clone(),
            player_id: expected.player_id.clone(),
        };
        self.clients[index].connected = true;
        self.room.handle(RoomInput::Connected {
            client: index as u64,
            user,
        });
    }

    /// Player `index` sends this tick's input (with its last few, acknowledging its newest
    /// snapshot), as a client does once per tick.
    pub fn input(&mut self, index: usize, input: <P<G> as GameProtocol>::Input) {
        let client = &mut self.clients[index];
        client.seq += 1;
        if client.recent.len() == INPUT_REDUNDANCY {
            client.recent.remove(0);
        }
        client.recent.push(InputFrame {
            seq: client.seq,
            tick: 0,
            input,
        });
        let packet = InputPacket {
            ack_tick: client.snapshots.newest_tick().unwrap_or(0),
            inputs: client.recent.clone(),
        };
        let bytes = codec::encode(&packet).expect("an input packet encodes");
        self.send(index, Channel::State, &bytes);
    }

    /// Player `index` sends a reliable command.
    pub fn command(&mut self, index: usize, command: <P<G> as GameProtocol>::Command) {
        let bytes =
            codec::encode(&ClientEvent::<P<G>>::Command(command)).expect("a command encodes");
        self.send(index, Channel::Events, &bytes);
    }

    /// Player `index` sends raw bytes on a channel (what a broken or hostile client might).
    pub fn send(&mut self, index: usize, channel: Channel, bytes: &[u8]) {
        self.room.handle(RoomInput::Message {
            client: index as u64,
            channel,
            bytes,
        });
    }

    /// One room tick; each connected player decodes what it was sent.
    pub fn tick(&mut self) {
        for message in self.room.tick().drain(..) {
            match message {
                Outbound::Snapshot { client, packet } => {
                    let client = &mut self.clients[client as usize];
                    if client.connected {
                        client
                            .snapshots
                            .receive(&packet)
                            .expect("the room's snapshots decode");
                    }
                }
                Outbound::Event { client, event } => {
                    self.clients[client as usize].events.push(event);
                }
                Outbound::Disconnect { client } => self.clients[client as usize].connected = false,
            }
        }
    }

    /// Ticks until `done` says so or `limit` ticks have passed; returns the ticks run, or
    /// `None` at the limit.
    pub fn tick_until(&mut self, limit: u32, mut done: impl FnMut(&Self) -> bool) -> Option<u32> {
        for ticks in 0..limit {
            if done(self) {
                return Some(ticks);
            }
            self.tick();
        }
        done(self).then_some(limit)
    }

    /// Player `index`.
    pub fn client(&self, index: usize) -> &TestClient<G> {
        &self.clients[index]
    }

    /// Every player, in the order they joined.
    pub fn clients(&self) -> &[TestClient<G>] {
        &self.clients
    }

    /// The whole room as a spectator sees it (every entity, as an admin) after the last tick:
    /// what no player may be shown, for a test to compare against.
    pub fn spectate(&self) -> SpectatorFrame {
        self.room.core().spectator_frame(self.room.last_step())
    }

    /// The match's results, once it has ended.
    pub fn results(&self) -> Option<&MatchResults<<P<G> as GameProtocol>::Results>> {
        self.room.core().results()
    }

    /// Makes the room's next tick fail as a bug would (a panic in a system); the room restores
    /// its last checkpoint and replays the ticks since, as on a node.
    pub fn inject_fault(&mut self, fault: Fault) {
        self.room.inject_fault(fault);
    }

    /// Moves the match to another node as a rolling upgrade does: the room's handoff is encoded
    /// to the bytes a node sends, decoded, and resumed in a new room, and every connected
    /// player reconnects to it with its token (what each heard so far is kept). The new room
    /// holds its clock until they are back, for at most two seconds of ticks.
    ///
    /// # Panics
    ///
    /// When the room cannot move (its match is not running) or the handoff does not survive
    /// its own bytes: either fails the test.
    pub fn migrate(&mut self) {
        let mode = self.game.mode().to_owned();
        let Some(handoff) = self.room.handoff(&mode) else {
            panic!("only a running match moves");
        };
        let bytes = match handoff.encode() {
            Ok(bytes) => bytes,
            Err(e) => panic!("the handoff encodes: {e}"),
        };
        let handoff = match RoomHandoff::<G>::decode(&bytes) {
            Ok(handoff) => handoff,
            Err(e) => panic!("the handoff decodes: {e}"),
        };
        let patience = 2 * u32::from(self.room.core().settings().tick_rate);
        self.room = match Room::resume(self.game.clone(), handoff, patience) {
            Ok(room) => room,
            Err(e) => panic!("the handoff resumes: {e}"),
        };
        for index in 0..self.clients.len() {
            if self.clients[index].connected {
                self.reconnect(index);
            }
        }
    }

    /// The room itself (its core, handoffs for migration).
    pub fn room(&mut self) -> &mut Room<G> {
        &mut self.room
    }
}
