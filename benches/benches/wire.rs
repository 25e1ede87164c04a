//! Hot paths of the wire and the matchmaker: snapshot encode/decode, the match function,
//! connect-token issuing.

use std::hint::black_box;

use benches::{arena_snapshot, hundred_moving, queue};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use matchmaker::{ModeRules, find_matches};
use protocol::{
    Snapshot, TokenUserData, codec, issue_token,
    sync::{decode_body, encode_body},
    unix_now,
};

fn snapshot_codec(c: &mut Criterion) {
    let snapshot = arena_snapshot();
    let bytes = codec::encode(&snapshot).unwrap();
    let mut buf = Vec::with_capacity(2048);
    // The decoded form a client works with (bincode), for comparison with the delta body.
    c.bench_function("snapshot_encode_50_entities", |b| {
        b.iter(|| codec::encode_into(black_box(&snapshot), &mut buf).unwrap())
    });
    c.bench_function("snapshot_decode_50_entities", |b| {
        b.iter(|| codec::decode::<Snapshot>(black_box(&bytes)).unwrap())
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
    let rules = ModeRules::arena(10);
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

criterion_group!(
    benches,
    snapshot_codec,
    delta_codec,
    match_function,
    connect_tokens
);
criterion_main!(benches);
