//! Attacks sent for real over loopback UDP to a running embedded server's rooms: tokens that do
//! not fit, garbage and connection-request floods while a match is played, and a valid client
//! sending inputs far faster than allowed. Nothing is ever answered with more bytes than it
//! sent (no amplification).

mod support;

use std::{
    net::{SocketAddr, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use arena::{Arena, ArenaGame, PlayerInput};
use protocol::{
    GameClient, MatchmakerClient, TokenUserData,
    api::{Assignment, CreateTicketRequest},
    issue_token, token_from_base64, unix_now,
};
use renetcode::{ConnectToken, NetcodeClient};
use server::EmbeddedServer;

/// The attacks run one at a time: each floods the two cores it shares with its room.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const KEY_HEX: &str = "a77ac4a77ac4a77ac4a77ac4a77ac4a77ac4a77ac4a77ac4a77ac4a77ac4a77a";

async fn start(players: &str) -> EmbeddedServer<ArenaGame> {
    support::embedded(&[
        "--token-key",
        KEY_HEX,
        "--players-per-match",
        players,
        "--match-duration",
        "30s",
    ])
    .await
}

/// One match's assignments.
async fn a_match(url: &str, players: usize, tag: &str) -> Vec<Assignment> {
    let mm = MatchmakerClient::new(url);
    let mut tickets = Vec::new();
    for i in 0..players {
        let request = CreateTicketRequest::for_player("arena", format!("{tag}{i}"));
        tickets.push(mm.create_ticket(&request).await.unwrap());
    }
    let mut out = Vec::new();
    for t in tickets {
        out.push(
            mm.wait_for_assignment(&t.id, Duration::from_secs(10))
                .await
                .unwrap(),
        );
    }
    out
}

/// What a raw netcode client got with a token, from its own socket.
#[derive(Debug)]
struct Attempt {
    connected: bool,
    sent: u64,
    received: u64,
}

/// Tries to connect with `token` from `socket` for `limit`; `connected` is the state at the end
/// (a connection the room refuses after netcode let it in counts as refused).
fn try_connect(token: ConnectToken, socket: &UdpSocket, limit: Duration) -> Attempt {
    socket.set_nonblocking(true).unwrap();
    let mut client = NetcodeClient::new(
        unix_now(),
        renetcode::ClientAuthentication::Secure {
            connect_token: token,
        },
    )
    .unwrap();
    let (mut sent, mut received) = (0, 0);
    let mut buf = [0u8; 2048];
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some((packet, addr)) = client.update(Duration::from_millis(10)) {
            sent += packet.len() as u64;
            let _ = socket.send_to(packet, addr);
        }
        while let Ok(n) = socket.recv(&mut buf) {
            received += n as u64;
            client.process_packet(&mut buf[..n]);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Attempt {
        connected: client.is_connected(),
        sent,
        received,
    }
}

fn key() -> [u8; 32] {
    protocol::key_from_hex(KEY_HEX).unwrap()
}

fn user(a: &Assignment) -> TokenUserData {
    TokenUserData {
        room_id: a.room_id,
        ticket_id: "not-a-placed-ticket".into(),
        player_id: a.player_id.clone(),
    }
}

fn generate(
    now: Duration,
    protocol_id: u64,
    addr: SocketAddr,
    user: &TokenUserData,
    key: &[u8; 32],
) -> ConnectToken {
    ConnectToken::generate(
        now,
        protocol_id,
        30,
        rand::random(),
        5,
        vec![addr],
        Some(&user.to_bytes().unwrap()),
        key,
    )
    .unwrap()
}

fn loopback_socket() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_that_do_not_fit_are_refused() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let server = start("2").await;
    let room_a = a_match(&server.url(), 2, "a").await;
    let room_b = a_match(&server.url(), 2, "b").await;
    let addr = |a: &Assignment| a.server_addr.parse::<SocketAddr>().unwrap();
    let (a0, a1, b0) = (&room_a[0], &room_a[1], &room_b[0]);
    assert_ne!(a0.room_id, b0.room_id);
    let now = unix_now();

    let cases: Vec<(&str, ConnectToken, Option<SocketAddr>)> = vec![
        (
            "expired",
            generate(
                now - Duration::from_secs(120),
                protocol::protocol_id::<arena::Arena>(),
                addr(a0),
                &user(a0),
                &key(),
            ),
            None,
        ),
        (
            "another protocol version",
            generate(
                now,
                protocol::protocol_id::<arena::Arena>() ^ 1,
                addr(a0),
                &user(a0),
                &key(),
            ),
            None,
        ),
        (
            "forged (another key)",
            generate(
                now,
                protocol::protocol_id::<arena::Arena>(),
                addr(a0),
                &user(a0),
                &rand::random(),
            ),
            None,
        ),
        (
            "another room's address, sent to this room",
            token_from_base64(&b0.connect_token).unwrap(),
            Some(addr(a0)),
        ),
        (
            // Signed with the real key for this room's address, naming a player the room was
            // not made for: netcode lets it in, the room turns it away.
            "a player not placed in this room",
            issue_token(
                &key(),
                &protocol::GameId::of::<arena::Arena>(),
                now,
                Duration::from_secs(30),
                rand::random(),
                addr(a0),
                &user(a0),
            )
            .unwrap(),
            None,
        ),
    ];
    for (what, mut token, send_to) in cases {
        if let Some(to) = send_to {
            // The token names another room; the client sends to this one anyway.
            token.server_addresses[0] = Some(to);
        }
        let socket = loopback_socket();
        let attempt = tokio::task::spawn_blocking(move || {
            try_connect(token, &socket, Duration::from_millis(1500))
        })
        .await
        .unwrap();
        assert!(!attempt.connected, "{what}: {attempt:?}");
        assert!(attempt.sent > 0, "{what}: {attempt:?}");
        assert!(
            attempt.received <= attempt.sent,
            "{what}: amplified {attempt:?}"
        );
    }

    // Replayed from another address: the real token, used by its player, then by someone else.
    let token = token_from_base64(&a1.connect_token).unwrap();
    let replay = token.clone();
    let owner = tokio::task::spawn_blocking(move || {
        let socket = loopback_socket();
        try_connect(token, &socket, Duration::from_millis(1500))
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let thief = tokio::task::spawn_blocking(move || {
        let socket = loopback_socket();
        try_connect(replay, &socket, Duration::from_millis(1500))
    })
    .await
    .unwrap();
    let owner = owner.await.unwrap();
    assert!(owner.connected, "the owner connects: {owner:?}");
    assert!(!thief.connected, "the replay is refused: {thief:?}");
    assert!(thief.received <= thief.sent, "amplified {thief:?}");
}

/// Pumps clients every 10 ms for `limit`; returns snapshots each got.
async fn play(clients: &mut [&mut GameClient<Arena>], limit: Duration) -> Vec<usize> {
    let mut snapshots = vec![0; clients.len()];
    let started = Instant::now();
    while started.elapsed() < limit {
        for (c, n) in clients.iter_mut().zip(&mut snapshots) {
            let _ = c.update(Duration::from_millis(10));
            while c.poll_event().is_some() {}
            if c.take_new_snapshot().is_some() {
                *n += 1;
            }
            c.send_input(PlayerInput::new(0.5, 0.5, 0.0, false));
            let _ = c.flush();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    snapshots
}

async fn connect_all(clients: &mut [&mut GameClient<Arena>]) {
    let started = Instant::now();
    while !clients.iter().all(|c| c.is_connected()) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "clients connect"
        );
        play(clients, Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_neither_stall_the_room_nor_get_answered() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let server = start("2").await;
    let room = a_match(&server.url(), 2, "p").await;
    let room_addr: SocketAddr = room[0].server_addr.parse().unwrap();
    let mut a = GameClient::<Arena>::connect(&room[0]).unwrap();
    let mut b = GameClient::<Arena>::connect(&room[1]).unwrap();
    connect_all(&mut [&mut a, &mut b]).await;
    play(&mut [&mut a, &mut b], Duration::from_millis(500)).await;
    let before = server.node.health();

    // The attacker: garbage of every size, and connection requests (packet type 0) carrying
    // random "tokens", as fast as one thread sends, for 3 s.
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, answered) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let attacker = {
        let (stop, sent, answered) = (stop.clone(), sent.clone(), answered.clone());
        std::thread::spawn(move || {
            let socket = loopback_socket();
            socket.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 2048];
            let mut datagram = vec![0u8; 1200];
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) && i < 2_000_000 {
                i += 1;
                let len = if i.is_multiple_of(2) {
                    // netcode connection request: type 0, version, protocol id, expiry,
                    // nonce, then 1024 bytes that are not a valid private token.
                    datagram[0] = 0;
                    datagram[1..14].copy_from_slice(b"NETCODE 1.02\0");
                    datagram[14..22]
                        .copy_from_slice(&protocol::protocol_id::<arena::Arena>().to_le_bytes());
                    datagram[22..30].copy_from_slice(&(unix_now().as_secs() + 30).to_le_bytes());
                    rand::fill(&mut datagram[30..1078]);
                    1078
                } else {
                    let len = 1 + (i as usize * 7919) % 1199;
                    rand::fill(&mut datagram[..len]);
                    len
                };
                if socket.send_to(&datagram[..len], room_addr).is_ok() {
                    sent.fetch_add(len as u64, Ordering::Relaxed);
                }
                while let Ok(n) = socket.recv(&mut buf) {
                    answered.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
        })
    };
    let snapshots = play(&mut [&mut a, &mut b], Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    attacker.join().unwrap();
    let after = server.node.health();

    let (sent, answered) = (
        sent.load(Ordering::Relaxed),
        answered.load(Ordering::Relaxed),
    );
    eprintln!("flood: {sent} bytes in 3 s");
    assert!(sent > 1_000_000, "the flood was real: {sent} bytes");
    assert_eq!(answered, 0, "the room answered the attacker");
    // The players played on: connected, and snapshots kept coming (30 Hz for 3 s = 90).
    assert!(a.is_connected() && b.is_connected());
    assert!(snapshots.iter().all(|&n| n >= 60), "{snapshots:?}");
    // The room kept its tick: none skipped, none whose own work ran past the 30 Hz budget.
    // Lag (deadline to done) also counts waiting for a core, and here the attacker, the
    // players and the room share two: a few late ticks are the machine's, not the room's.
    assert_eq!(after.ticks_skipped, before.ticks_skipped);
    let ticks = after.ticks - before.ticks;
    let over = |b: &[protocol::api::Bucket], a: &[protocol::api::Bucket]| {
        protocol::api::bucket_count_above(b, a, 33_333)
    };
    assert!(ticks >= 80, "{ticks} ticks in 3 s");
    let slow = over(&before.tick_duration_us, &after.tick_duration_us);
    assert_eq!(slow, 0, "{slow} of {ticks} ticks ran past the budget");
    let late = over(&before.tick_lag_us, &after.tick_lag_us);
    assert!(
        late * 20 <= ticks,
        "{late} of {ticks} ticks ended past the budget"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_flooding_inputs_is_disconnected_and_the_others_play_on() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let server = start("3").await;
    let room = a_match(&server.url(), 3, "f").await;
    let mut a = GameClient::<Arena>::connect(&room[0]).unwrap();
    let mut b = GameClient::<Arena>::connect(&room[1]).unwrap();
    let mut abuser = GameClient::<Arena>::connect(&room[2]).unwrap();
    connect_all(&mut [&mut a, &mut b, &mut abuser]).await;

    // 1000 times the allowed rate (30 inputs a second): 30,000 a second, each flushed as its
    // own datagram, for at most 2 s or until the room cuts it off.
    let flood = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut sent = 0u64;
        while started.elapsed() < Duration::from_secs(2) && abuser.is_connected() {
            for _ in 0..30 {
                abuser.send_input(PlayerInput::new(1.0, 0.0, 0.0, true));
                let _ = abuser.flush();
                sent += 1;
            }
            let _ = abuser.update(Duration::from_millis(1));
            std::thread::sleep(Duration::from_millis(1));
        }
        (abuser, sent, started.elapsed())
    });
    let snapshots = play(&mut [&mut a, &mut b], Duration::from_millis(2500)).await;
    let (mut abuser, sent, took) = flood.await.unwrap();
    // Let the disconnect reach it if it has not yet.
    for _ in 0..50 {
        let _ = abuser.update(Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("input flood: {sent} inputs in {took:?} before the cut");
    // Cut off within the first second, having gone over the per-second allowance.
    assert!(
        sent > u64::from(server::room::MAX_DATAGRAMS_PER_CLIENT_SECOND)
            && took < Duration::from_secs(1),
        "the abuser sent {sent} inputs in {took:?}"
    );
    assert!(
        !abuser.is_connected(),
        "the abuser was disconnected after {sent} inputs"
    );
    assert!(a.is_connected() && b.is_connected());
    assert!(snapshots.iter().all(|&n| n >= 50), "{snapshots:?}");
}

/// A client with a real token that completes the handshake, then sends whatever payloads it
/// likes, and notes what the room tells it.
struct RawClient {
    netcode: NetcodeClient,
    socket: UdpSocket,
    /// The code of the notice the room sent it, if any.
    told: Option<String>,
}

impl RawClient {
    fn new(token: ConnectToken) -> Self {
        let netcode = NetcodeClient::new(
            unix_now(),
            renetcode::ClientAuthentication::Secure {
                connect_token: token,
            },
        )
        .unwrap();
        let socket = loopback_socket();
        socket.set_nonblocking(true).unwrap();
        Self {
            netcode,
            socket,
            told: None,
        }
    }

    /// Moves netcode along by `dt`: its own packets out, the room's in (payloads other than a
    /// notice are dropped; netcode acknowledges nothing).
    fn pump(&mut self, dt: Duration) {
        if let Some((packet, addr)) = self.netcode.update(dt) {
            let _ = self.socket.send_to(packet, addr);
        }
        let mut buf = [0u8; 2048];
        while let Ok(n) = self.socket.recv(&mut buf) {
            if let Some(payload) = self.netcode.process_packet(&mut buf[..n])
                && let Some(body) = protocol::bundle::notice_body(payload)
                && let Ok(protocol::ServerEvent::Error { code, .. }) =
                    protocol::codec::decode::<protocol::ServerEvent<Arena>>(body)
            {
                self.told = Some(code);
            }
        }
    }

    fn send(&mut self, payload: &[u8]) {
        let (addr, packet) = self.netcode.generate_payload_packet(payload).unwrap();
        let _ = self.socket.send_to(packet, addr);
    }
}

/// The reliability-layer attacks, one per hostile client: the payloads each sends, one every
/// 10 ms.
fn reliability_attacks() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    use protocol::{Channel, renet_wire::RenetPacket};
    let (events, state) = (u8::from(Channel::Events), u8::from(Channel::State));
    let slice = |reliable: bool, index, count, len| {
        RenetPacket::Slice {
            reliable,
            sequence: 1,
            channel: if reliable { events } else { state },
            message_id: 0,
            slice_index: index,
            num_slices: count,
            payload: vec![1; len],
        }
        .to_bytes()
    };
    vec![
        (
            "slice index past its count, reliable",
            vec![slice(true, 3, 2, 1200)],
        ),
        (
            "slice index past its count, unreliable",
            vec![slice(false, 9, 1, 1200)],
        ),
        (
            "slices disagreeing on their count",
            vec![slice(false, 0, 3, 1200), slice(false, 1, 2, 10)],
        ),
        ("a million slices", vec![slice(true, 0, 1_000_000, 1200)]),
        ("unknown packet type", vec![vec![9, 1, 1, 1]]),
        (
            "reliable packet on the unreliable channel",
            vec![
                RenetPacket::SmallReliable {
                    sequence: 1,
                    channel: state,
                    messages: vec![(0, vec![1])],
                }
                .to_bytes(),
            ],
        ),
        (
            "thousand empty messages",
            vec![
                RenetPacket::SmallUnreliable {
                    sequence: 1,
                    channel: state,
                    messages: vec![vec![]; 1000],
                }
                .to_bytes(),
            ],
        ),
        (
            "oversized message",
            vec![
                RenetPacket::SmallReliable {
                    sequence: 1,
                    channel: events,
                    messages: vec![(0, vec![7; 1100])],
                }
                .to_bytes(),
            ],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_reliability_packets_cost_only_their_senders_connection() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let attacks = reliability_attacks();
    let players = 1 + attacks.len();
    let server = start(&players.to_string()).await;
    let room = a_match(&server.url(), players, "r").await;
    let mut honest = GameClient::<Arena>::connect(&room[0]).unwrap();
    let mut hostile: Vec<RawClient> = room[1..]
        .iter()
        .map(|a| RawClient::new(token_from_base64(&a.connect_token).unwrap()))
        .collect();
    let started = Instant::now();
    while !(honest.is_connected() && hostile.iter().all(|h| h.netcode.is_connected())) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "everyone connects"
        );
        for h in &mut hostile {
            h.pump(Duration::from_millis(10));
        }
        play(&mut [&mut honest], Duration::from_millis(10)).await;
    }
    play(&mut [&mut honest], Duration::from_millis(500)).await;
    let before = server.node.health();

    // Each hostile client sends its attack's payloads, then listens; the honest client plays
    // throughout.
    let (stop, hostile) = (Arc::new(AtomicBool::new(false)), hostile);
    let attackers = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut hostile = hostile;
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                for (h, (_, payloads)) in hostile.iter_mut().zip(&attacks) {
                    if let Some(p) = payloads.get(round) {
                        h.send(p);
                    }
                    h.pump(Duration::from_millis(10));
                }
                round += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            hostile
                .into_iter()
                .zip(attacks)
                .map(|(h, (what, _))| (what, h.told, h.netcode.is_connected()))
                .collect::<Vec<_>>()
        })
    };
    let snapshots = play(&mut [&mut honest], Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let outcomes = attackers.join().unwrap();
    let after = server.node.health();

    for (what, told, connected) in &outcomes {
        assert_eq!(told.as_deref(), Some(server::room::EJECTED_CODE), "{what}");
        assert!(!connected, "{what}: still connected");
    }
    // The honest player played on, and the room neither failed nor restarted.
    assert!(honest.is_connected());
    assert!(snapshots[0] >= 60, "{snapshots:?}");
    let rooms = server.node.rooms();
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0].phase(), "running");
    assert_eq!(rooms[0].restarts(), 0);
    assert_eq!(after.rooms_failed, before.rooms_failed);
    // Its ticks kept within budget while it was attacked.
    let ticks = after.ticks - before.ticks;
    let slow = protocol::api::bucket_count_above(
        &before.tick_duration_us,
        &after.tick_duration_us,
        33_333,
    );
    assert!(ticks >= 80, "{ticks} ticks in 3 s");
    assert_eq!(slow, 0, "{slow} of {ticks} ticks ran past the budget");
    // The counters say so, by kind.
    let metrics = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |kind: &str| -> u64 {
        let prefix = format!("rallypoint_hostile_disconnects_total{{kind=\"{kind}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} in /metrics"))
            .trim()
            .parse()
            .unwrap()
    };
    let (malformed, protocol) = (count("malformed"), count("protocol"));
    eprintln!(
        "ejected: malformed {malformed}, protocol {protocol}, panic {}",
        count("panic")
    );
    assert_eq!(malformed + protocol, outcomes.len() as u64);
    assert_eq!(
        count("panic"),
        0,
        "the packet check kept renet from panicking"
    );
}

#[test]
fn a_panic_inside_renet_costs_only_the_senders_connection() {
    // A room driven by hand over real UDP, without the packet check in front of renet: the
    // slice makes renet index out of bounds, and only containment stands between it and the
    // room.
    use server::room::{HostileKind, Room, RoomSettings, RoomTransport};
    let socket = loopback_socket();
    let addr = socket.local_addr().unwrap();
    let settings = RoomSettings::for_players(77, 7, 2);
    let token = |i: usize| {
        let user = TokenUserData {
            room_id: 77,
            ticket_id: settings.expected[i].ticket_id.clone(),
            player_id: settings.expected[i].player_id.clone(),
        };
        issue_token(
            &key(),
            &protocol::GameId::of::<arena::Arena>(),
            unix_now(),
            Duration::from_secs(30),
            i as u64 + 1,
            addr,
            &user,
        )
        .unwrap()
    };
    let (honest_token, hostile_token) = (token(0), token(1));
    let mut transport =
        RoomTransport::new(socket, addr, key(), &protocol::GameId::of::<Arena>(), 4)
            .unwrap()
            .without_packet_check();
    let mut room = Room::new(ArenaGame::default(), settings);
    let stop = Arc::new(AtomicBool::new(false));
    let runner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let period = Duration::from_millis(33);
            let mut next = Instant::now();
            for _ in 0..300 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                transport.receive(period, room.core_mut());
                transport.send(room.tick());
                next += period;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            (room, transport.stats())
        })
    };

    let mut honest = GameClient::<Arena>::connect_with_token(honest_token).unwrap();
    let mut hostile = RawClient::new(hostile_token);
    let started = Instant::now();
    while !(honest.is_connected() && hostile.netcode.is_connected()) {
        assert!(started.elapsed() < Duration::from_secs(5), "both connect");
        hostile.pump(Duration::from_millis(10));
        step(&mut honest);
    }
    let slice = protocol::renet_wire::RenetPacket::Slice {
        reliable: true,
        sequence: 1,
        channel: protocol::Channel::Events.into(),
        message_id: 0,
        slice_index: 3,
        num_slices: 2,
        payload: vec![1; 1200],
    };
    hostile.send(&slice.to_bytes());
    let mut snapshots = 0;
    let attacked = Instant::now();
    while attacked.elapsed() < Duration::from_secs(2) {
        hostile.pump(Duration::from_millis(10));
        snapshots += step(&mut honest);
    }
    stop.store(true, Ordering::Relaxed);
    let (room, stats) = runner.join().unwrap();

    assert_eq!(stats.ejected.get(HostileKind::Panic), 1, "{stats:?}");
    assert_eq!(hostile.told.as_deref(), Some(server::room::EJECTED_CODE));
    assert!(!hostile.netcode.is_connected());
    assert!(honest.is_connected());
    assert!(snapshots >= 40, "{snapshots} snapshots in 2 s");
    assert_eq!(room.core().connected_players(), 1);
    assert_eq!(room.core().stats().restarts, 0);
    assert!(room.core().failure().is_none());
}

/// One frame of a client: receive, read, send an input. Returns 1 if a snapshot came.
fn step(client: &mut GameClient<Arena>) -> usize {
    let _ = client.update(Duration::from_millis(10));
    while client.poll_event().is_some() {}
    let got = client.take_new_snapshot().is_some();
    client.send_input(PlayerInput::new(0.5, 0.5, 0.0, false));
    let _ = client.flush();
    std::thread::sleep(Duration::from_millis(10));
    usize::from(got)
}
