//! The client's protocol core with no socket and no clock: a [`Connection`] and a netcode +
//! renet server exchange datagrams through two in-memory queues, one virtual frame at a time.
//! What a socket driver would do (the handshake, a command up, an event down, inputs, the
//! goodbye) works, and the counters account for every datagram it handed out.

use std::{net::SocketAddr, time::Duration};

use protocol::{
    Channel, ClientEvent, Connection, ConnectionState, GameId, GameProtocol, InputPacket,
    ServerEvent, TokenUserData, WireMessage, bundle, codec, connection_config, issue_token,
    protocol_id,
};
use renetcode::{NetcodeServer, ServerAuthentication, ServerConfig, ServerResult};
use serde::{Deserialize, Serialize};

const KEY: [u8; 32] = [9; 32];
const FRAME: Duration = Duration::from_millis(10);

/// A game of the smallest kind: a step as input, a line said as command and as event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Echo;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Step(u8);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Line(String);

#[derive(Debug, thiserror::Error)]
#[error("a line is at most 32 bytes")]
struct TooLong;

protocol::always_valid!(Step);

impl WireMessage for Line {
    type Invalid = TooLong;
    fn validate(&self) -> Result<(), TooLong> {
        if self.0.len() <= 32 {
            Ok(())
        } else {
            Err(TooLong)
        }
    }
}

impl GameProtocol for Echo {
    const NAME: &'static str = "echo";
    const VERSION: u16 = 1;
    type Input = Step;
    type Command = Line;
    type Event = Line;
    type Welcome = Line;
    type Results = Line;
    type State = protocol::NoState;
}

/// A room's transport reduced to what the test needs: netcode and renet, datagrams in queues.
struct Server {
    netcode: NetcodeServer,
    renet: renet::RenetServer,
    addr: SocketAddr,
    client: Option<u64>,
    scratch: Vec<u8>,
    disconnected: bool,
}

impl Server {
    fn new(addr: SocketAddr, now: Duration) -> Self {
        Self {
            netcode: NetcodeServer::new(ServerConfig {
                current_time: now,
                max_clients: 4,
                protocol_id: protocol_id::<Echo>(),
                public_addresses: vec![addr],
                authentication: ServerAuthentication::Secure { private_key: KEY },
            }),
            renet: renet::RenetServer::new(connection_config()),
            addr,
            client: None,
            scratch: Vec::new(),
            disconnected: false,
        }
    }

    /// Takes the client's datagrams, advances time, and returns the datagrams for the client.
    fn step(&mut self, from: SocketAddr, inbox: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.netcode.update(FRAME);
        self.renet.update(FRAME);
        for mut datagram in inbox {
            match self.netcode.process_packet(from, &mut datagram) {
                ServerResult::ClientConnected {
                    client_id, payload, ..
                } => {
                    self.renet.add_connection(client_id);
                    self.client = Some(client_id);
                    out.push(payload.to_vec());
                }
                ServerResult::PacketToSend { payload, .. } => out.push(payload.to_vec()),
                ServerResult::Payload { client_id, payload } => {
                    // The client shares datagrams between reliability-layer packets.
                    for packet in bundle::unpack(payload) {
                        self.renet
                            .process_packet_from(packet.unwrap(), client_id)
                            .unwrap();
                    }
                }
                ServerResult::ClientDisconnected { client_id, .. } => {
                    self.renet.remove_connection(client_id);
                    self.client = None;
                    self.disconnected = true;
                }
                ServerResult::None => {}
            }
        }
        let Some(client) = self.client else {
            return out;
        };
        if let ServerResult::PacketToSend { payload, .. } = self.netcode.update_client(client) {
            out.push(payload.to_vec());
        }
        if let Ok(packets) = self.renet.get_packets_to_send(client) {
            let netcode = &mut self.netcode;
            bundle::pack(&packets, &mut self.scratch, |payload| {
                let (_, datagram) = netcode.generate_payload_packet(client, payload)?;
                out.push(datagram.to_vec());
                Ok::<_, renetcode::NetcodeError>(())
            })
            .unwrap();
        }
        out
    }
}

/// Every datagram the client handed out, checked to be for the server.
#[derive(Default)]
struct Wire {
    to_server: Vec<Vec<u8>>,
    bytes: u64,
    datagrams: u64,
}

impl Wire {
    fn transmit(
        &mut self,
        server: SocketAddr,
    ) -> impl FnMut(&[u8], SocketAddr) -> Result<(), protocol::ClientError> + '_ {
        move |datagram, to| {
            assert_eq!(to, server, "every datagram goes to the token's server");
            self.bytes += datagram.len() as u64;
            self.datagrams += 1;
            self.to_server.push(datagram.to_vec());
            Ok(())
        }
    }
}

/// One virtual frame: the client takes what the server sent, updates, sends; the server the
/// same. Returns what the server sent for the next frame.
fn frame(
    client: &mut Connection<Echo>,
    server: &mut Server,
    wire: &mut Wire,
    from_server: Vec<Vec<u8>>,
) -> Vec<Vec<u8>> {
    let client_addr: SocketAddr = "127.0.0.1:6000".parse().unwrap();
    for mut datagram in from_server {
        client.handle_datagram(&mut datagram);
    }
    client.update(FRAME, wire.transmit(server.addr)).unwrap();
    client.poll_transmit(wire.transmit(server.addr)).unwrap();
    server.step(client_addr, std::mem::take(&mut wire.to_server))
}

#[test]
fn a_connection_plays_over_memory_with_no_socket_and_no_clock() {
    let server_addr: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    // Any time will do: nothing here reads the system's clock.
    let now = Duration::from_secs(1_800_000_000);
    let token = issue_token(
        &KEY,
        &GameId::of::<Echo>(),
        now,
        Duration::from_secs(30),
        1,
        server_addr,
        &TokenUserData {
            room_id: 1,
            ticket_id: format!("{:032x}", 1),
            player_id: "ann".into(),
        },
    )
    .unwrap();
    let mut client = Connection::<Echo>::new(token, now).unwrap();
    let mut server = Server::new(server_addr, now);
    let mut wire = Wire::default();
    assert_eq!(client.state(), ConnectionState::Connecting);
    assert_eq!(
        client
            .send_command(Line("too early".into()))
            .unwrap_err()
            .to_string(),
        "not connected: the command was not sent"
    );

    // The handshake, in virtual frames.
    let mut inbox = Vec::new();
    for _ in 0..100 {
        inbox = frame(&mut client, &mut server, &mut wire, inbox);
        if client.is_connected() && server.client.is_some() {
            break;
        }
    }
    assert!(client.is_connected(), "{:?}", client.state());
    let id = server.client.expect("the server accepted the client");
    assert_eq!(client.client_id(), id);

    // A command and an input up; an event down.
    client.send_command(Line("hello".into())).unwrap();
    client.send_input(Step(3));
    let said = codec::encode(&ServerEvent::<Echo>::Game(Line("hi, ann".into()))).unwrap();
    server.renet.send_message(id, Channel::Events, said);
    let (mut commands, mut inputs, mut events) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..50 {
        inbox = frame(&mut client, &mut server, &mut wire, inbox);
        while let Some(bytes) = server.renet.receive_message(id, Channel::Events) {
            commands.push(codec::decode::<ClientEvent<Echo>>(&bytes).unwrap());
        }
        while let Some(bytes) = server.renet.receive_message(id, Channel::State) {
            let packet = codec::decode::<InputPacket<Step>>(&bytes).unwrap();
            inputs.extend(packet.inputs.iter().map(|f| f.input));
        }
        while let Some(event) = client.poll_event() {
            events.push(event);
        }
        if !commands.is_empty() && !inputs.is_empty() && !events.is_empty() {
            break;
        }
    }
    assert_eq!(commands, [ClientEvent::Command(Line("hello".into()))]);
    assert_eq!(inputs, [Step(3)]);
    assert_eq!(events, [ServerEvent::Game(Line("hi, ann".into()))]);

    // Bytes that are not the server's are dropped without a word and change nothing.
    client.handle_datagram(&mut [0xff; 40]);
    client.handle_datagram(&mut []);
    assert!(client.is_connected());

    // Goodbye: the notice goes out through the driver and the server sees the client leave.
    let mut goodbye = Vec::new();
    client.disconnect(|datagram, to| {
        assert_eq!(to, server_addr);
        goodbye.push(datagram.to_vec());
    });
    assert!(!goodbye.is_empty());
    wire.bytes += goodbye.iter().map(|d| d.len() as u64).sum::<u64>();
    wire.datagrams += goodbye.len() as u64;
    server.step("127.0.0.1:6000".parse().unwrap(), goodbye);
    assert!(server.disconnected, "the server heard the goodbye");
    assert!(matches!(
        client.state(),
        ConnectionState::Disconnected(protocol::DisconnectCause::ByClient)
    ));

    // The counters saw exactly what went through the driver.
    let stats = client.stats();
    assert_eq!(
        (stats.bytes_sent, stats.packets_sent),
        (wire.bytes, wire.datagrams)
    );
    assert!(
        stats.packets_received > 0 && stats.decode_errors == 0,
        "{stats:?}"
    );
}
