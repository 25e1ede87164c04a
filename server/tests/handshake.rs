//! The netcode handshake over real UDP on loopback, through a relay that loses chosen packets.
//!
//! The room binds 127.0.0.1 and tells clients 127.0.0.2 (the node's public IP); the relay
//! listens on 127.0.0.2 and forwards both ways, so a test decides exactly which datagram is lost.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use matchmaker::{AllocationRequest, Allocator};
use protocol::{
    ConnectionState, GameClient, ServerEvent, TokenUserData, api::RoomPlayer, issue_token, unix_now,
};
use server::{
    Node, NodeConfig,
    arena::ArenaGame,
    room::{Supervision, SyncSettings},
};

const KEY: [u8; 32] = [7; 32];
const PUBLIC_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// Netcode's keep-alive packet type (low four bits of the first byte, sent in clear).
const KEEPALIVE: u8 = 4;

fn node(port: u16) -> Node<ArenaGame> {
    Node::new(
        ArenaGame::default(),
        NodeConfig {
            udp_bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            public_ip: IpAddr::V4(PUBLIC_IP),
            udp_ports: (port, port),
            max_rooms: 1,
            tick_rate: 30,
            match_duration: Duration::from_secs(30),
            join_timeout: Duration::from_secs(20),
            linger: Duration::from_millis(200),
            token_key: KEY,
            workers: 1,
            hang_timeout: Duration::from_secs(2),
            supervision: Supervision::default(),
            sync: SyncSettings::default(),
            backfill: None,
        },
        None,
    )
}

/// Forwards datagrams between one client and the room, dropping server-to-client keep-alives
/// while `drop_keepalives` is above zero. Stops when `stop` is set.
fn relay(
    public: SocketAddr,
    room: SocketAddr,
    drop_keepalives: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
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
        while !stop.load(Ordering::Relaxed) {
            let mut idle = true;
            while let Ok((n, from)) = front.recv_from(&mut buf) {
                idle = false;
                client = Some(from);
                let _ = back.send(&buf[..n]);
            }
            while let Ok(n) = back.recv(&mut buf) {
                idle = false;
                let keepalive = n > 0 && buf[0] & 0x0f == KEEPALIVE;
                if keepalive
                    && drop_keepalives
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

/// Connects one client through a relay that loses the first `lost` keep-alives and returns how
/// long the client took to be welcomed, or `None` if it was not within `limit`.
async fn connect_losing_keepalives(port: u16, lost: u32, limit: Duration) -> Option<Duration> {
    let node = node(port);
    let request = AllocationRequest {
        mode: "arena".into(),
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
    let drops = Arc::new(AtomicU32::new(lost));
    let stop = Arc::new(AtomicBool::new(false));
    let relay = relay(allocation.addr, room_addr, drops.clone(), stop.clone());

    let user = TokenUserData {
        room_id: allocation.room_id,
        ticket_id: format!("{:032x}", 1),
        player_id: "p0".into(),
    };
    let token = issue_token(
        &KEY,
        unix_now(),
        Duration::from_secs(30),
        1,
        allocation.addr,
        &user,
    )
    .unwrap();
    let mut client = GameClient::connect_with_token(token).unwrap();
    let started = Instant::now();
    let mut last = started;
    let mut welcomed = None;
    while started.elapsed() < limit && welcomed.is_none() {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = Instant::now();
        client.update(now - last).unwrap();
        last = now;
        client.flush().unwrap();
        while let Some(event) = client.poll_event() {
            if matches!(event, ServerEvent::Welcome { .. }) {
                welcomed = Some(started.elapsed());
            }
        }
        assert!(
            !matches!(client.state(), ConnectionState::Disconnected(_)),
            "client gave up: {:?}",
            client.state()
        );
    }
    stop.store(true, Ordering::Relaxed);
    let dropped = relay.join().unwrap();
    assert_eq!(dropped, lost, "the relay lost as many keep-alives as asked");
    welcomed
}

#[tokio::test]
async fn a_client_whose_handshake_keepalive_is_lost_still_connects() {
    // Netcode's first keep-alive completes the handshake; when it is lost the client keeps
    // sending connection responses while the room already streams snapshots at it.
    let took = connect_losing_keepalives(44400, 1, Duration::from_secs(5)).await;
    let took = took.expect("client welcomed within 5 s despite a lost handshake keep-alive");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[tokio::test]
async fn a_client_connects_when_several_keepalives_in_a_row_are_lost() {
    let took = connect_losing_keepalives(44401, 3, Duration::from_secs(8)).await;
    let took = took.expect("client welcomed within 8 s despite three lost keep-alives");
    assert!(took < Duration::from_secs(4), "took {took:?}");
}
