//! The Redis store against a real `redis-server` on a free loopback port: the same contract as
//! the memory store, several matchmaker instances sharing it without ever assigning a ticket
//! twice, and Redis going away and coming back.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use matchmaker::{
    AllocateError, Allocation, AllocationRequest, Allocator, Matchmaker, MatchmakerConfig,
    MemoryStore, ModeRules, RedisStore, RoomCopy, StateKind, Ticket, TicketId, TicketStore,
};
use protocol::{
    EndReason, Placement,
    api::{
        Assignment, CreateTicketRequest, MatchRecord, OpenSlot, Party, RoomPlayer, TicketStatus,
    },
};
use testkit::RedisServer;

fn ticket(mode: &str, enqueued_ms: u64) -> Ticket {
    Ticket {
        id: TicketId::random(),
        mode: mode.into(),
        player_id: format!("p{enqueued_ms}"),
        skill: 1000.0,
        region: None,
        party: None,
        enqueued_ms,
        updated_ms: enqueued_ms,
        status: TicketStatus::Queued,
    }
}

fn arena() -> protocol::GameId {
    protocol::GameId {
        name: "arena".into(),
        version: 1,
    }
}

fn assignment(room_id: u64) -> TicketStatus {
    TicketStatus::Assigned(Assignment {
        server_addr: "127.0.0.1:7400".into(),
        connect_token: "token".into(),
        room_id,
        player_id: "p".into(),
        team: 1,
        game: arena(),
    })
}

/// The contract every store keeps.
async fn conformance(store: impl TicketStore) {
    // Stores keep a party as they keep every other field.
    let a = Ticket {
        party: Some(Party {
            id: "crew".into(),
            size: 2,
        }),
        ..ticket("arena", 3)
    };
    let b = ticket("arena", 1);
    let c = ticket("arena", 2);
    let other = ticket("duel", 1);
    for t in [&a, &b, &c, &other] {
        store.insert(t.clone()).await.unwrap();
    }
    assert_eq!(store.get(a.id).await.unwrap().as_ref(), Some(&a));
    assert_eq!(store.get(TicketId::random()).await.unwrap(), None);
    let queue: Vec<TicketId> = store
        .queued("arena", usize::MAX)
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(queue, vec![b.id, c.id, a.id], "longest waiting first");
    let oldest: Vec<TicketId> = store
        .queued("arena", 2)
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(
        oldest,
        vec![b.id, c.id],
        "a limit keeps the longest waiting"
    );

    // A claim is all or nothing.
    assert!(
        store
            .transition(c.id, StateKind::Queued, TicketStatus::Cancelled)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        !store.claim(&[a.id, b.id, c.id]).await.unwrap(),
        "c is cancelled, so nobody is claimed"
    );
    assert_eq!(
        store.get(a.id).await.unwrap().unwrap().status,
        TicketStatus::Queued
    );
    assert!(store.claim(&[a.id, b.id]).await.unwrap());
    assert!(!store.claim(&[a.id]).await.unwrap(), "claimed twice");
    assert!(store.queued("arena", usize::MAX).await.unwrap().is_empty());

    // Transitions are compare-and-set.
    assert!(
        store
            .transition(a.id, StateKind::Queued, TicketStatus::Cancelled)
            .await
            .unwrap()
            .is_none()
    );
    let assigned = store
        .transition(a.id, StateKind::Matched, assignment(7))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(assigned.status, assignment(7));
    assert!(
        store
            .transition(a.id, StateKind::Matched, assignment(8))
            .await
            .unwrap()
            .is_none(),
        "assigned twice"
    );
    // A room resumed on another node takes its tickets along, and only its own.
    let resumed = Assignment {
        server_addr: "127.0.0.1:7500".into(),
        connect_token: "token2".into(),
        room_id: 7,
        player_id: "p".into(),
        team: 1,
        game: arena(),
    };
    let elsewhere = Assignment {
        room_id: 8,
        ..resumed.clone()
    };
    assert!(
        store
            .move_assignment(a.id, 8, elsewhere.clone())
            .await
            .unwrap()
            .is_none(),
        "another room's move"
    );
    assert!(
        store
            .move_assignment(a.id, 7, elsewhere)
            .await
            .unwrap()
            .is_none(),
        "a move into another room"
    );
    assert!(
        store
            .move_assignment(b.id, 7, resumed.clone())
            .await
            .unwrap()
            .is_none(),
        "b is not assigned"
    );
    let moved = store
        .move_assignment(a.id, 7, resumed.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(moved.status, TicketStatus::Assigned(resumed));
    // Requeue after a failed room: back in the queue at its old place.
    store
        .transition(b.id, StateKind::Matched, TicketStatus::Queued)
        .await
        .unwrap()
        .unwrap();
    let late = ticket("arena", 10);
    store.insert(late.clone()).await.unwrap();
    // A requeue is fenced by the room: one naming another room changes nothing.
    assert!(store.requeue_from_room(a.id, 8).await.unwrap().is_none());
    store.requeue_from_room(a.id, 7).await.unwrap().unwrap();
    let queue: Vec<TicketId> = store
        .queued("arena", usize::MAX)
        .await
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(queue, vec![b.id, a.id, late.id]);
    assert_eq!(
        store.queued("duel", usize::MAX).await.unwrap().len(),
        1,
        "modes are separate queues"
    );

    // Open slots: listed per mode, and taken by exactly one caller.
    let slot = OpenSlot {
        id: "5107".into(),
        room_id: 9,
        mode: "arena".into(),
        team: 1,
        region: Some("eu".into()),
        node: Some("eu-1".into()),
        expires_ms: 123,
    };
    store.open_slot(slot.clone()).await.unwrap();
    assert_eq!(store.open_slots("arena").await.unwrap(), vec![slot]);
    assert!(store.open_slots("duel").await.unwrap().is_empty());
    let takes =
        futures_util::future::join_all((0..4).map(|_| store.take_slot("arena", "5107"))).await;
    assert_eq!(takes.iter().filter(|t| *t.as_ref().unwrap()).count(), 1);
    assert!(store.open_slots("arena").await.unwrap().is_empty());

    // Finished matches: kept by room, a second report replaces the first, JSON kept as is.
    assert_eq!(store.match_record(77).await.unwrap(), None);
    let mut record = MatchRecord {
        room_id: 77,
        game: "cards".into(),
        mode: "hearts".into(),
        ended_ms: 1_700_000_000_000,
        reason: EndReason::Finished,
        ticks_played: 4321,
        placements: vec![
            Placement {
                player_id: "ann".into(),
                team: 0,
                rank: 1,
            },
            Placement {
                player_id: "bo".into(),
                team: 1,
                rank: 2,
            },
        ],
        results: serde_json::json!({"points": [26, 0], "moon": true}),
    };
    store.record_match(record.clone()).await.unwrap();
    assert_eq!(store.match_record(77).await.unwrap(), Some(record.clone()));
    record.ticks_played = 4322;
    store.record_match(record.clone()).await.unwrap();
    assert_eq!(store.match_record(77).await.unwrap(), Some(record));
    assert_eq!(store.match_record(78).await.unwrap(), None);
}

#[tokio::test]
async fn the_memory_store_keeps_the_contract() {
    conformance(MemoryStore::new()).await;
}

#[tokio::test]
async fn the_redis_store_keeps_the_contract() {
    let redis = RedisServer::start();
    conformance(
        RedisStore::connect(&redis.url, "t1:", Duration::from_secs(60))
            .await
            .unwrap(),
    )
    .await;
}

#[tokio::test]
async fn room_copies_are_kept_dropped_only_by_their_writer_and_rescued_once() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url, "t5:", Duration::from_secs(60))
        .await
        .unwrap();
    let copy = |room_id, node: &str, handoff: &[u8]| RoomCopy {
        room_id,
        node: node.into(),
        mode: "arena".into(),
        region: "eu".into(),
        handoff: handoff.to_vec(),
    };
    // Binary blobs survive as they are, zero bytes included.
    let a = copy(1, "n1", &[0, 159, 255, 0, 7]);
    let b = copy(2, "n1", b"second");
    let ttl = Duration::from_secs(60);
    store
        .save_room_copies(&[a.clone(), b], "n1", &[], ttl)
        .await
        .unwrap();
    assert_eq!(store.room_copy(1).await.unwrap(), Some(a));
    assert_eq!(store.room_copy(3).await.unwrap(), None);

    // Room 2 resumed on n2, which writes its own copy; n1 dropping its copy of an ended room 2
    // must leave n2's alone, and dropping its own room 1 removes it.
    let on_n2 = copy(2, "n2", b"newer");
    store
        .save_room_copies(std::slice::from_ref(&on_n2), "n2", &[], ttl)
        .await
        .unwrap();
    store
        .save_room_copies(&[], "n1", &[1, 2], ttl)
        .await
        .unwrap();
    assert_eq!(store.room_copy(1).await.unwrap(), None);
    assert_eq!(store.room_copy(2).await.unwrap(), Some(on_n2.clone()));

    // A copy nobody writes again expires.
    store
        .save_room_copies(
            &[copy(4, "n1", b"x")],
            "n1",
            &[],
            Duration::from_millis(200),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.room_copy(4).await.unwrap(), None);

    // Forgetting a room on the node it is recorded on drops the record and the copy; the
    // node it was resumed away from cannot.
    store.record_room("n2", 2, &["t".into()]).await.unwrap();
    store.forget_room("n1", 2).await.unwrap();
    assert_eq!(store.room_node(2).await.unwrap().as_deref(), Some("n2"));
    assert_eq!(store.room_copy(2).await.unwrap(), Some(on_n2));
    store.forget_room("n2", 2).await.unwrap();
    assert_eq!(store.room_copy(2).await.unwrap(), None);
    assert_eq!(store.room_node(2).await.unwrap(), None);

    // Exactly one of several rescuers wins a room, until the claim lapses.
    let claims = futures_util::future::join_all(
        (0..5).map(|_| store.claim_rescue(9, Duration::from_millis(300))),
    )
    .await;
    assert_eq!(claims.iter().filter(|c| *c.as_ref().unwrap()).count(), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(store.claim_rescue(9, Duration::from_secs(5)).await.unwrap());
}

/// A new ticket, claimed and assigned to `room`.
async fn assigned_ticket(store: &RedisStore, room: u64) -> TicketId {
    let t = ticket("arena", 1);
    store.insert(t.clone()).await.unwrap();
    assert!(store.claim(&[t.id]).await.unwrap());
    store
        .transition(t.id, StateKind::Matched, assignment(room))
        .await
        .unwrap()
        .unwrap();
    t.id
}

#[tokio::test]
async fn a_node_requeues_a_failed_room_only_while_the_room_is_recorded_on_it() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url, "t6:", Duration::from_secs(60))
        .await
        .unwrap();
    let a = assigned_ticket(&store, 5).await;
    let ids = [a.to_string()];
    store.record_room("n1", 5, &ids).await.unwrap();
    // Resumed on n2 while n1 was cut off: n1's late requeue changes nothing.
    store.move_room("n1", "n2", 5).await.unwrap();
    assert!(
        store
            .requeue_hosted_room("n1", 5, &ids)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        store.get(a).await.unwrap().unwrap().status,
        TicketStatus::Assigned(_)
    ));
    // The node it is recorded on can; so can any node once the record is gone.
    assert_eq!(store.requeue_hosted_room("n2", 5, &ids).await.unwrap(), [a]);
    let b = assigned_ticket(&store, 6).await;
    let ids = [b.to_string(), "not-a-ticket".to_string()];
    assert_eq!(store.requeue_hosted_room("n3", 6, &ids).await.unwrap(), [b]);
}

#[tokio::test]
async fn finished_tickets_expire_from_redis_after_the_retention() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url, "t2:", Duration::from_millis(300))
        .await
        .unwrap();
    let t = ticket("arena", 1);
    store.insert(t.clone()).await.unwrap();
    store
        .transition(t.id, StateKind::Queued, TicketStatus::Cancelled)
        .await
        .unwrap()
        .unwrap();
    assert!(store.get(t.id).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(store.get(t.id).await.unwrap(), None);
}

#[tokio::test]
async fn an_unreachable_redis_is_a_clear_error_at_start() {
    let port = testkit::free_port();
    let err = RedisStore::connect(
        &format!("redis://127.0.0.1:{port}"),
        "x:",
        Duration::from_secs(1),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("cannot reach Redis"), "{err}");
    assert!(
        RedisStore::connect("not a url", "x:", Duration::from_secs(1))
            .await
            .is_err()
    );
}

/// Hands out rooms and remembers which tickets it placed.
#[derive(Clone, Default)]
struct Recording {
    placed: Arc<Mutex<Vec<String>>>,
}

impl Allocator for Recording {
    async fn allocate(&self, request: AllocationRequest) -> Result<Allocation, AllocateError> {
        let mut placed = self.placed.lock().unwrap();
        placed.extend(request.players.iter().map(|p| p.ticket_id.clone()));
        Ok(Allocation {
            room_id: rand::random::<u64>() >> 12,
            addr: "127.0.0.1:7400".parse().unwrap(),
            game: protocol::GameId {
                name: "arena".into(),
                version: 1,
            },
        })
    }

    async fn backfill(
        &self,
        slot: &OpenSlot,
        player: RoomPlayer,
    ) -> Result<Allocation, AllocateError> {
        self.placed.lock().unwrap().push(player.ticket_id);
        Ok(Allocation {
            room_id: slot.room_id,
            addr: "127.0.0.1:7400".parse().unwrap(),
            game: protocol::GameId {
                name: "arena".into(),
                version: 1,
            },
        })
    }
}

/// One arena matchmaker per allocator, all on the same Redis keys (`prefix`), recording ticket
/// history if `history`.
async fn sharing_redis(
    redis: &RedisServer,
    prefix: &str,
    allocators: &[Recording],
    history: bool,
) -> Vec<Matchmaker<RedisStore, Recording>> {
    let mut instances = Vec::new();
    for allocator in allocators {
        let mut store = RedisStore::connect(&redis.url, prefix, Duration::from_secs(60))
            .await
            .unwrap();
        if history {
            store = store.with_history();
        }
        instances.push(Matchmaker::new(
            store,
            allocator.clone(),
            MatchmakerConfig::new(vec![ModeRules::free_for_all("arena", 10)], [1; 32]),
        ));
    }
    instances
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_matchmakers_sharing_redis_never_assign_a_ticket_twice() {
    let redis = RedisServer::start();
    let allocators = [Recording::default(), Recording::default()];
    let instances = sharing_redis(&redis, "mm:", &allocators, true).await;
    for mm in &instances {
        tokio::spawn(mm.clone().run(std::future::pending()));
    }
    // 400 players queue through either instance, within a few tens of milliseconds.
    let mut tasks = Vec::new();
    for i in 0..400 {
        let mm = instances[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            // In waves of 20, so both instances' passes find work while the other's run.
            tokio::time::sleep(Duration::from_millis(3 * (i / 20) as u64)).await;
            let t = mm
                .create_ticket(CreateTicketRequest::for_player("arena", format!("p{i}")))
                .await
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let view = mm.ticket(&t.id, Duration::from_secs(5)).await.unwrap();
                if let TicketStatus::Assigned(a) = view.status {
                    return (t.id, a.room_id);
                }
                assert!(Instant::now() < deadline, "ticket {} never assigned", t.id);
            }
        }));
    }
    let mut rooms: HashMap<u64, usize> = HashMap::new();
    let mut tickets = HashSet::new();
    for task in tasks {
        let (ticket, room) = task.await.unwrap();
        assert!(tickets.insert(ticket));
        *rooms.entry(room).or_default() += 1;
    }
    assert_eq!(rooms.len(), 40);
    assert!(rooms.values().all(|&n| n == 10), "{rooms:?}");
    // Each ticket was placed by exactly one instance, exactly once.
    let mut placed: Vec<String> = allocators
        .iter()
        .flat_map(|a| a.placed.lock().unwrap().clone())
        .collect();
    let total = placed.len();
    placed.sort();
    placed.dedup();
    assert_eq!((total, placed.len()), (400, 400), "no ticket placed twice");

    // The store's own history says the same, ticket by ticket.
    let store = RedisStore::connect(&redis.url, "mm:", Duration::from_secs(60))
        .await
        .unwrap();
    let history = matchmaker::check_history(&store.history().await.unwrap());
    assert!(history.is_clean(), "{history:?}");
    assert_eq!((history.tickets, history.assigned), (400, 400));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_down_requests_fail_cleanly_and_recover_when_it_returns() {
    let mut redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url, "down:", Duration::from_secs(60))
        .await
        .unwrap();
    let mm = Matchmaker::new(
        store,
        Recording::default(),
        MatchmakerConfig::new(vec![ModeRules::free_for_all("arena", 2)], [1; 32]),
    );
    let app = matchmaker::router(mm.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/tickets", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    let body = serde_json::json!({"mode": "arena"});
    assert_eq!(
        http.post(&url).json(&body).send().await.unwrap().status(),
        201
    );

    redis.stop(); // killed
    let response = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let error: protocol::api::ErrorBody = response.json().await.unwrap();
    assert_eq!(error.error.code, "store_unavailable");
    assert!(
        error.error.message.contains("redis"),
        "{}",
        error.error.message
    );

    redis.restart();
    let started = Instant::now();
    loop {
        let status = http.post(&url).json(&body).send().await.unwrap().status();
        if status == 201 {
            break;
        }
        assert_eq!(status, 503);
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "never recovered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_of_a_matchmaker_that_died_mid_allocation_are_released_and_assigned() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url, "lease:", Duration::from_secs(60))
        .await
        .unwrap();
    // A matchmaker claimed two tickets and died before assigning them.
    let (a, b) = (ticket("arena", 1), ticket("arena", 2));
    store.insert(a.clone()).await.unwrap();
    store.insert(b.clone()).await.unwrap();
    assert!(store.claim(&[a.id, b.id]).await.unwrap());
    // Another instance takes over: once the lease runs out, they are matched and assigned.
    let mut config = MatchmakerConfig::new(vec![ModeRules::free_for_all("arena", 2)], [1; 32]);
    config.claim_lease = Duration::from_millis(300);
    let mm = Matchmaker::new(store.clone(), Recording::default(), config);
    tokio::spawn(mm.clone().run(std::future::pending()));
    let started = Instant::now();
    for t in [&a, &b] {
        loop {
            if let Some(TicketStatus::Assigned(_)) =
                store.get(t.id).await.unwrap().map(|t| t.status)
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "claim never released"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_with_persistence_loses_no_ticket() {
    let dir = std::env::temp_dir().join(format!("rallypoint-aof-{}", TicketId::random()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut redis = RedisServer::start_persistent(&dir);
    let store = RedisStore::connect(&redis.url, "aof:", Duration::from_secs(60))
        .await
        .unwrap();
    let mm = Matchmaker::new(
        store,
        Recording::default(),
        MatchmakerConfig::new(vec![ModeRules::free_for_all("arena", 2)], [1; 32]),
    );
    tokio::spawn(mm.clone().run(std::future::pending()));
    let request = |p: &str| CreateTicketRequest::for_player("arena", p);
    let alice = mm.create_ticket(request("alice")).await.unwrap();

    redis.stop(); // SIGKILL: no chance to save anything but what was already synced
    assert!(
        mm.create_ticket(request("nobody")).await.is_err(),
        "no store, no ticket"
    );
    redis.restart();

    // Alice's ticket survived; once a partner arrives, both are matched.
    let started = Instant::now();
    let bob = loop {
        match mm.create_ticket(request("bob")).await {
            Ok(t) => break t,
            Err(_) if started.elapsed() < Duration::from_secs(15) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("Redis never came back: {e}"),
        }
    };
    for id in [&alice.id, &bob.id] {
        let view = mm.ticket(id, Duration::from_secs(5)).await.unwrap();
        assert!(matches!(view.status, TicketStatus::Assigned(_)), "{view:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_hears_at_once_when_another_instance_finishes_its_ticket() {
    let redis = RedisServer::start();
    let store = || async {
        RedisStore::connect(&redis.url, "feed:", Duration::from_secs(60))
            .await
            .unwrap()
    };
    // A takes tickets but never matches; it re-reads so rarely that only the feed can wake it.
    let a_store = store().await;
    let finished = a_store.finished_tickets();
    let mut config = MatchmakerConfig::new(vec![ModeRules::free_for_all("arena", 2)], [1; 32]);
    config.reread_interval = Duration::from_secs(60);
    let a = Matchmaker::new(a_store, Recording::default(), config);
    tokio::spawn(a.clone().follow_finished(finished));
    // B matches.
    let b = Matchmaker::new(
        store().await,
        Recording::default(),
        MatchmakerConfig::new(vec![ModeRules::free_for_all("arena", 2)], [1; 32]),
    );
    // Let A's subscription settle before anything is published.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let request = |p: &str| CreateTicketRequest::for_player("arena", p);
    let first = a.create_ticket(request("x")).await.unwrap();
    let _second = a.create_ticket(request("y")).await.unwrap();
    let started = Instant::now();
    let waiting = tokio::spawn({
        let a = a.clone();
        async move { a.ticket(&first.id, Duration::from_secs(10)).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(b.match_once().await.unwrap(), 1);
    let view = waiting.await.unwrap();
    assert!(matches!(view.status, TicketStatus::Assigned(_)), "{view:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "woken by the feed, not by the 60 s re-read: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_passes_over_the_same_queue_at_once_place_each_ticket_once() {
    let redis = RedisServer::start();
    let allocators = [Recording::default(), Recording::default()];
    let instances = sharing_redis(&redis, "race:", &allocators, false).await;
    for i in 0..200 {
        instances[i % 2]
            .create_ticket(CreateTicketRequest::for_player("arena", format!("p{i}")))
            .await
            .unwrap();
    }
    // Both instances read the same full queue and claim the same groups at the same time.
    let (a, b) = tokio::join!(instances[0].match_once(), instances[1].match_once());
    let made = a.unwrap() + b.unwrap();
    let mut placed: Vec<String> = allocators
        .iter()
        .flat_map(|a| a.placed.lock().unwrap().clone())
        .collect();
    let total = placed.len();
    placed.sort();
    placed.dedup();
    assert_eq!(total, placed.len(), "a ticket placed twice");
    assert_eq!(total, made * 10);
    assert_eq!(made, 20, "every group placed by one pass or the other");
}
