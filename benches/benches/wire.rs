//! Hot paths of the wire and the matchmaker: snapshot encode/decode, the match function,
//! connect-token issuing, netcode's per-packet encryption.

use std::{hint::black_box, net::SocketAddr};

use benches::{arena_entities, hundred_moving, queue};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use matchmaker::{ModeRules, find_matches};
use protocol::{
    TokenUserData, issue_token,
    sync::{View, decode_body, encode_body},
    unix_now,
};
use renetcode::{
    ClientAuthentication, NetcodeClient, NetcodeServer, ServerAuthentication, ServerConfig,
    ServerResult,
};

fn keyframe_codec(c: &mut Criterion) {
    // A whole snapshot (a keyframe: every entity new to the client), for comparison with the
    // delta body.
    let entities = arena_entities();
    let empty = View::new();
    let body = encode_body(&empty, &[], &entities);
    c.bench_function("keyframe_encode_50_entities", |b| {
        b.iter(|| encode_body(black_box(&empty), &[], black_box(&entities)))
    });
    c.bench_function("keyframe_decode_50_entities", |b| {
        b.iter(|| decode_body(black_box(&empty), black_box(&body)).unwrap())
    });
}

fn delta_codec(c: &mut Criterion) {
    let (base, updated) = hundred_moving();
    let body = encode_body(&base, &[], &updated);
    c.bench_function("delta_encode_100_moving_entities", |b| {
        b.iter(|| encode_body(black_box(&base), &[], black_box(&updated)))
    });
    c.bench_function("delta_decode_100_moving_entities", |b| {
        b.iter(|| decode_body(black_box(&base), black_box(&body)).unwrap())
    });
}

fn match_function(c: &mut Criterion) {
    let rules = ModeRules::free_for_all("arena", 10);
    let mut group = c.benchmark_group("find_matches");
    for n in [1_000, 10_000, 100_000] {
        let candidates = queue(n);
        group.bench_with_input(
            BenchmarkId::from_parameter(n),
            &candidates,
            |b, candidates| b.iter(|| find_matches(&rules, black_box(candidates))),
        );
    }
    group.finish();
}

fn connect_tokens(c: &mut Criterion) {
    let user = TokenUserData {
        room_id: 1 << 40,
        ticket_id: "0123456789abcdef0123456789abcdef".into(),
        player_id: "player-0123456789".into(),
    };
    let addr = "127.0.0.1:7400".parse().unwrap();
    c.bench_function("connect_token_issue", |b| {
        b.iter(|| {
            issue_token(
                &[7; 32],
                &protocol::GameId::of::<arena::Arena>(),
                unix_now(),
                std::time::Duration::from_secs(30),
                1,
                addr,
                black_box(&user),
            )
            .unwrap()
        })
    });
}

/// One datagram's netcode work: the sender encrypts and authenticates it
/// (ChaCha20-Poly1305), the receiver checks and decrypts it. Every packet of a connected client
/// costs this once at each end, so its cost sets a floor under the server's cost per player.
fn netcode_packets(c: &mut Criterion) {
    let (mut client, mut server, client_addr) = connected_pair();
    let mut group = c.benchmark_group("netcode_seal_open");
    for size in [64usize, 256, 1024] {
        let payload = vec![0x5a; size];
        let mut wire = Vec::with_capacity(1400);
        group.bench_with_input(BenchmarkId::from_parameter(size), &payload, |b, payload| {
            b.iter(|| {
                let (_, packet) = client.generate_payload_packet(black_box(payload)).unwrap();
                wire.clear();
                wire.extend_from_slice(packet);
                match server.process_packet(client_addr, &mut wire) {
                    ServerResult::Payload { payload, .. } => payload.len(),
                    _ => panic!("payload not accepted"),
                }
            })
        });
    }
    group.finish();
}

/// A netcode client and server connected in memory (the handshake's datagrams handed over
/// directly).
fn connected_pair() -> (NetcodeClient, NetcodeServer, SocketAddr) {
    let key = [7; 32];
    let server_addr: SocketAddr = "127.0.0.1:7400".parse().unwrap();
    let client_addr: SocketAddr = "127.0.0.1:50000".parse().unwrap();
    let user = TokenUserData {
        room_id: 1,
        ticket_id: "0123456789abcdef0123456789abcdef".into(),
        player_id: "p".into(),
    };
    let now = unix_now();
    let token = issue_token(
        &key,
        &protocol::GameId::of::<arena::Arena>(),
        now,
        std::time::Duration::from_secs(30),
        1,
        server_addr,
        &user,
    )
    .unwrap();
    let mut client = NetcodeClient::new(
        now,
        ClientAuthentication::Secure {
            connect_token: token,
        },
    )
    .unwrap();
    let mut server = NetcodeServer::new(ServerConfig {
        current_time: now,
        max_clients: 16,
        protocol_id: protocol::protocol_id::<arena::Arena>(),
        public_addresses: vec![server_addr],
        authentication: ServerAuthentication::Secure { private_key: key },
    });
    let step = std::time::Duration::from_millis(300);
    for _ in 0..10 {
        if client.is_connected() {
            break;
        }
        let Some((packet, _)) = client.update(step) else {
            continue;
        };
        let mut request = packet.to_vec();
        server.update(step);
        let reply = match server.process_packet(client_addr, &mut request) {
            ServerResult::PacketToSend { payload, .. } => payload.to_vec(),
            ServerResult::ClientConnected { payload, .. } => payload.to_vec(),
            _ => continue,
        };
        let mut reply = reply;
        client.process_packet(&mut reply);
    }
    assert!(client.is_connected(), "in-memory handshake completed");
    (client, server, client_addr)
}

criterion_group!(
    benches,
    keyframe_codec,
    delta_codec,
    match_function,
    connect_tokens,
    netcode_packets
);
criterion_main!(benches);
