//! The netcode handshake over real UDP on loopback, through a relay that loses chosen packets.
//!
//! The room binds 127.0.0.1 and tells clients 127.0.0.2 (the node's public IP); the relay
//! listens on 127.0.0.2 and forwards both ways, so a test decides exactly which datagram is lost.

mod support;

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use arena::{Arena, ArenaGame};
use matchmaker::{AllocationRequest, Allocator};
use protocol::{
    ConnectionState, GameClient, ServerEvent, TokenUserData, api::RoomPlayer, issue_token, unix_now,
};
use server::{Node, NodeConfig};

const KEY: [u8; 32] = [7; 32];
const PUBLIC_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// Netcode's keep-alive packet type (low four bits of the first byte, sent in clear).
const KEEPALIVE: u8 = 4;

/// A node whose clients are told to connect to [`PUBLIC_IP`], where the relay listens on the
/// room's port.
fn node() -> Node<ArenaGame> {
    Node::new(
        ArenaGame::default(),
        NodeConfig {
            public_ip: IpAddr::V4(PUBLIC_IP),
            max_rooms: 1,
            join_timeout: Duration::from_secs(20),
            linger: Duration::from_millis(200),
            ..support::node_config("test", KEY)
        },
        None,
    )
}

/// What a test asks of the relay.
#[derive(Default)]
struct RelayControl {
    /// Server-to-client keep-alives still to lose.
    drop_keepalives: AtomicU32,
    /// While set, sends the room a forged connection response every millisecond from the client's
    /// address (the relay's): what an attacker spoofing the client's address can do.
    forge: AtomicBool,
    stop: AtomicBool,
}

/// Netcode's connection response packet type.
const RESPONSE: u8 = 3;

/// Forwards datagrams between one client and the room as `control` says. Returns how many
/// keep-alives it lost.
fn relay(
    public: SocketAddr,
    room: SocketAddr,
    control: Arc<RelayControl>,
) -> thread::JoinHandle<u32> {
    let front = UdpSocket::bind(public).expect("bind the relay's public side");
    let back = UdpSocket::bind("127.0.0.1:0").unwrap();
    back.connect(room).unwrap();
    front.set_nonblocking(true).unwrap();
    back.set_nonblocking(true).unwrap();
    thread::spawn(move || {
        let mut client = None;
        let mut dropped = 0;
        let mut buf = [0u8; 2048];
        let mut forged_at = Instant::now();
        let mut forged = 0u8;
        while !control.stop.load(Ordering::Relaxed) {
            let mut idle = true;
            if control.forge.load(Ordering::Relaxed)
                && forged_at.elapsed() >= Duration::from_millis(1)
            {
                forged_at = Instant::now();
                forged = forged.wrapping_add(1);
                // A response's type byte (one sequence byte), then junk a MAC cannot match.
                let mut fake = [forged; 300];
                fake[0] = RESPONSE | (1 << 4);
                let _ = back.send(&fake);
            }
            while let Ok((n, from)) = front.recv_from(&mut buf) {
                idle = false;
                client = Some(from);
                let _ = back.send(&buf[..n]);
            }
            while let Ok(n) = back.recv(&mut buf) {
                idle = false;
                let keepalive = n > 0 && buf[0] & 0x0f == KEEPALIVE;
                if keepalive
                    && control
                        .drop_keepalives
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| d.checked_sub(1))
                        .is_ok()
                {
                    dropped += 1;
                    continue;
                }
                if let Some(client) = client {
                    let _ = front.send_to(&buf[..n], client);
                }
            }
            if idle {
                thread::sleep(Duration::from_millis(1));
            }
        }
        dropped
    })
}

/// How a connection through the relay went.
struct Outcome {
    /// How long until the room's welcome, if it came within the limit.
    welcomed: Option<Duration>,
    /// Snapshots received during the forging period after the welcome.
    snapshots_while_forging: u64,
}

/// Connects one client through a relay that loses the first `lost` keep-alives; once welcomed,
/// keeps playing for `forging` while the relay forges connection responses.
async fn connect_through_relay(lost: u32, limit: Duration, forging: Duration) -> Outcome {
    let node = node();
    let request = AllocationRequest {
        mode: "arena".into(),
        rules: Default::default(),
        region: None,
        players: vec![RoomPlayer {
            player_id: "p0".into(),
            ticket_id: format!("{:032x}", 1),
            team: 0,
        }],
    };
    let allocation = node.allocate(request).await.expect("room starts");
    assert_eq!(allocation.addr.ip(), IpAddr::V4(PUBLIC_IP));
    let room_addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), allocation.addr.port());
    let control = Arc::new(RelayControl::default());
    control.drop_keepalives.store(lost, Ordering::Relaxed);
    let relay = relay(allocation.addr, room_addr, control.clone());

    let user = TokenUserData {
        room_id: allocation.room_id,
        ticket_id: format!("{:032x}", 1),
        player_id: "p0".into(),
    };
    let token = issue_token(
        &KEY,
        &protocol::GameId::of::<arena::Arena>(),
        unix_now(),
        Duration::from_secs(30),
        1,
        allocation.addr,
        &user,
    )
    .unwrap();
    let mut client = GameClient::<Arena>::connect_with_token(token).unwrap();
    let started = Instant::now();
    let mut last = started;
    let mut welcomed = None;
    let mut forging_since: Option<(Instant, u64)> = None;
    while started.elapsed() < limit + forging {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = Instant::now();
        client.update(now - last).unwrap();
        last = now;
        client.flush().unwrap();
        while let Some(event) = client.poll_event() {
            if matches!(event, ServerEvent::Welcome { .. }) {
                welcomed = Some(started.elapsed());
                control.forge.store(true, Ordering::Relaxed);
                forging_since = Some((now, client.stats().snapshots_received));
            }
        }
        assert!(
            !matches!(client.state(), ConnectionState::Disconnected(_)),
            "client gave up: {:?}",
            client.state()
        );
        match forging_since {
            None if started.elapsed() >= limit => break,
            Some((since, _)) if since.elapsed() >= forging => break,
            _ => {}
        }
    }
    control.stop.store(true, Ordering::Relaxed);
    let dropped = relay.join().unwrap();
    assert_eq!(dropped, lost, "the relay lost as many keep-alives as asked");
    Outcome {
        welcomed,
        snapshots_while_forging: forging_since
            .map_or(0, |(_, before)| client.stats().snapshots_received - before),
    }
}

#[tokio::test]
async fn a_client_whose_handshake_keepalive_is_lost_still_connects() {
    // Netcode's first keep-alive completes the handshake; when it is lost the client keeps
    // sending connection responses while the room already streams snapshots at it.
    let outcome = connect_through_relay(1, Duration::from_secs(5), Duration::ZERO).await;
    let took = outcome
        .welcomed
        .expect("client welcomed within 5 s despite a lost handshake keep-alive");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[tokio::test]
async fn a_client_connects_when_several_keepalives_in_a_row_are_lost() {
    let outcome = connect_through_relay(3, Duration::from_secs(8), Duration::ZERO).await;
    let took = outcome
        .welcomed
        .expect("client welcomed within 8 s despite three lost keep-alives");
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[tokio::test]
async fn forged_connection_responses_do_not_starve_a_connected_client() {
    // Only an authentic response (one that decrypts with the client's key) means the client is
    // stuck in the handshake; forged ones from its address must not stop its snapshots.
    let forging = Duration::from_secs(2);
    let outcome = connect_through_relay(0, Duration::from_secs(5), forging).await;
    assert!(outcome.welcomed.is_some(), "client connected");
    // 30 Hz for 2 s is 60 snapshots; starved, it would get almost none.
    assert!(
        outcome.snapshots_while_forging >= 40,
        "{} snapshots in 2 s of forged responses",
        outcome.snapshots_while_forging
    );
}
