//! The `/v1/tickets` API over real HTTP, with an allocator that hands out fixed addresses.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use matchmaker::{
    AllocateError, Allocation, AllocationRequest, Allocator, Matchmaker, MatchmakerConfig,
    MemoryStore, ModeRules,
};
use protocol::{
    GameId, MatchmakerClient, MatchmakerError,
    api::{CreateTicketRequest, ErrorBody, OpenSlot, Party, RoomPlayer, TicketStatus},
    token_from_base64,
};
use serde_json::json;

#[derive(Clone, Default)]
struct TestAllocator {
    full: Arc<AtomicBool>,
    rooms: Arc<AtomicU64>,
    requests: Arc<std::sync::Mutex<Vec<AllocationRequest>>>,
    backfills: Arc<std::sync::Mutex<Vec<(OpenSlot, RoomPlayer)>>>,
}

impl Allocator for TestAllocator {
    async fn allocate(&self, request: AllocationRequest) -> Result<Allocation, AllocateError> {
        if self.full.load(Ordering::SeqCst) {
            return Err(AllocateError::NoCapacity);
        }
        self.requests.lock().unwrap().push(request);
        let room_id = self.rooms.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Allocation {
            room_id,
            addr: "127.0.0.1:40000".parse().unwrap(),
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
        if slot.room_id == CLOSED_ROOM {
            return Err(AllocateError::Failed("the match is over".into()));
        }
        self.backfills.lock().unwrap().push((slot.clone(), player));
        Ok(Allocation {
            room_id: slot.room_id,
            addr: "127.0.0.1:40000".parse().unwrap(),
            game: protocol::GameId {
                name: "arena".into(),
                version: 1,
            },
        })
    }
}

/// A room id the test allocator treats as already closed.
const CLOSED_ROOM: u64 = 999;

struct Harness {
    engine: Matchmaker<MemoryStore, TestAllocator>,
    url: String,
    allocator: TestAllocator,
    mm: MatchmakerClient,
    http: reqwest::Client,
}

async fn start(rules: ModeRules) -> Harness {
    let allocator = TestAllocator::default();
    let mm = Matchmaker::new(
        MemoryStore::new(),
        allocator.clone(),
        MatchmakerConfig::new(vec![rules], [7; 32]),
    );
    let app = matchmaker::router(mm.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    tokio::spawn(mm.clone().run(std::future::pending()));
    Harness {
        engine: mm,
        mm: MatchmakerClient::new(&url),
        url,
        allocator,
        http: reqwest::Client::new(),
    }
}

fn arena(players: usize) -> ModeRules {
    ModeRules::free_for_all("arena", players)
}

fn ticket(player: &str) -> CreateTicketRequest {
    CreateTicketRequest::for_player("arena", player)
}

/// Posts a raw body and returns (status, error code, message).
async fn post_raw(
    h: &Harness,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, String, String) {
    let response = h
        .http
        .post(format!("{}/v1/tickets", h.url))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: ErrorBody = response.json().await.expect("error bodies are JSON");
    (status, body.error.code, body.error.message)
}

#[tokio::test]
async fn malformed_requests_get_4xx_with_a_json_error_that_says_what_is_wrong() {
    let h = start(arena(2)).await;
    let cases: Vec<(&str, String, u16, &str, &str)> = vec![
        (
            "application/json",
            "{not json".into(),
            400,
            "invalid_json",
            "JSON",
        ),
        (
            "application/json",
            json!({"skill": 5}).to_string(),
            422,
            "invalid_json",
            "mode",
        ),
        (
            "application/json",
            json!({"mode": "arena", "colour": 1}).to_string(),
            422,
            "invalid_json",
            "colour",
        ),
        (
            "application/json",
            json!({"mode": "arena", "skill": "high"}).to_string(),
            422,
            "invalid_json",
            "skill",
        ),
        (
            "text/plain",
            json!({"mode": "arena"}).to_string(),
            415,
            "unsupported_media_type",
            "application/json",
        ),
        (
            "application/json",
            json!({"mode": "chess"}).to_string(),
            400,
            "unknown_mode",
            "arena",
        ),
        (
            "application/json",
            json!({"mode": "arena", "skill": -1}).to_string(),
            400,
            "invalid_request",
            "skill",
        ),
        (
            "application/json",
            json!({"mode": "arena", "player_id": ""}).to_string(),
            400,
            "invalid_request",
            "player_id",
        ),
        (
            "application/json",
            json!({"mode": "arena", "player_id": "x".repeat(65)}).to_string(),
            400,
            "invalid_request",
            "player_id",
        ),
        (
            "application/json",
            json!({"mode": "arena", "player_id": "a\nb"}).to_string(),
            400,
            "invalid_request",
            "player_id",
        ),
        (
            "application/json",
            format!("{{\"mode\": \"{}\"}}", "a".repeat(20_000)),
            413,
            "body_too_large",
            "length limit",
        ),
    ];
    for (content_type, body, status, code, mentions) in cases {
        let (got_status, got_code, message) = post_raw(&h, content_type, body.clone()).await;
        assert_eq!(
            (got_status, got_code.as_str()),
            (status, code),
            "body {body:.80}: {message}"
        );
        assert!(
            message.contains(mentions),
            "{message:?} should mention {mentions:?}"
        );
    }
    // Ticket ids: malformed is 400, well-formed but unknown is 404; room ids likewise.
    for (path, status, code) in [
        ("tickets/nope", 400, "invalid_ticket_id"),
        (
            &format!("tickets/{}", "0".repeat(32)),
            404,
            "ticket_not_found",
        ),
        ("matches/-1", 400, "invalid_request"),
        ("matches/99999999999999999999", 400, "invalid_request"),
        ("matches/12", 404, "match_not_found"),
    ] {
        let r = h
            .http
            .get(format!("{}/v1/{path}", h.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status);
        assert_eq!(r.json::<ErrorBody>().await.unwrap().error.code, code);
    }
    let r = h
        .http
        .get(format!(
            "{}/v1/tickets/{}?wait_ms=soon",
            h.url,
            "0".repeat(32)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn a_ticket_can_be_cancelled_once_and_then_reads_as_cancelled() {
    let h = start(arena(2)).await;
    let t = h.mm.create_ticket(&ticket("alice")).await.unwrap();
    assert_eq!(t.status, TicketStatus::Queued);
    assert_eq!(t.id.len(), 32);
    assert_eq!(
        h.mm.cancel(&t.id).await.unwrap().status,
        TicketStatus::Cancelled
    );
    match h.mm.cancel(&t.id).await {
        Err(MatchmakerError::Api {
            status: 409,
            code,
            message,
        }) => {
            assert_eq!(code, "ticket_not_cancellable");
            assert!(message.contains("cancelled"), "{message}");
        }
        other => panic!("second cancel: {other:?}"),
    }
    assert_eq!(
        h.mm.get_ticket(&t.id, Duration::ZERO).await.unwrap().status,
        TicketStatus::Cancelled
    );
    assert!(matches!(
        h.mm.wait_for_assignment(&t.id, Duration::from_secs(1))
            .await,
        Err(MatchmakerError::NotAssigned(TicketStatus::Cancelled))
    ));
}

#[tokio::test]
async fn a_long_poll_returns_the_moment_a_match_is_made() {
    let h = start(arena(2)).await;
    let a = h.mm.create_ticket(&ticket("alice")).await.unwrap();
    // Alice's long-poll is waiting when Bob arrives; it must answer at once, not at its timeout.
    let waiting = tokio::spawn({
        let mm = h.mm.clone();
        let id = a.id.clone();
        async move {
            let start = Instant::now();
            (
                mm.get_ticket(&id, Duration::from_secs(10)).await.unwrap(),
                start.elapsed(),
            )
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let b = h.mm.create_ticket(&ticket("bob")).await.unwrap();
    let (view, waited) = waiting.await.unwrap();
    assert!(waited < Duration::from_secs(2), "long-poll took {waited:?}");
    let TicketStatus::Assigned(assignment) = view.status else {
        panic!("{view:?}")
    };
    assert_eq!(assignment.server_addr, "127.0.0.1:40000");
    assert_eq!(assignment.player_id, "alice");
    let token = token_from_base64(&assignment.connect_token).unwrap();
    // The token is for the game the room plays, as the allocator said.
    let arena = GameId {
        name: "arena".into(),
        version: 1,
    };
    assert_eq!(token.protocol_id, arena.protocol_id());
    assert_eq!(assignment.game, arena);
    assert!(
        token.expire_timestamp - token.create_timestamp <= 30,
        "tokens expire within 30 s"
    );
    let b_assignment =
        h.mm.wait_for_assignment(&b.id, Duration::from_secs(5))
            .await
            .unwrap();
    assert_eq!(b_assignment.room_id, assignment.room_id);
    let requests = h.allocator.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let mut players: Vec<_> = requests[0]
        .players
        .iter()
        .map(|p| p.player_id.as_str())
        .collect();
    players.sort();
    assert_eq!(players, ["alice", "bob"]);
    // An assigned ticket cannot be cancelled.
    assert!(matches!(
        h.mm.cancel(&b.id).await,
        Err(MatchmakerError::Api { status: 409, .. })
    ));
}

#[tokio::test]
async fn a_long_poll_with_nothing_to_report_returns_the_queued_ticket_after_its_wait() {
    let h = start(arena(2)).await;
    let t = h.mm.create_ticket(&ticket("alice")).await.unwrap();
    let start = Instant::now();
    let view =
        h.mm.get_ticket(&t.id, Duration::from_millis(400))
            .await
            .unwrap();
    assert_eq!(view.status, TicketStatus::Queued);
    assert!(
        start.elapsed() >= Duration::from_millis(390),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn without_capacity_players_stay_queued_and_are_placed_once_it_returns() {
    let h = start(arena(2)).await;
    h.allocator.full.store(true, Ordering::SeqCst);
    let a = h.mm.create_ticket(&ticket("alice")).await.unwrap();
    let b = h.mm.create_ticket(&ticket("bob")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for id in [&a.id, &b.id] {
        assert_eq!(
            h.mm.get_ticket(id, Duration::ZERO).await.unwrap().status,
            TicketStatus::Queued
        );
    }
    h.allocator.full.store(false, Ordering::SeqCst);
    let assigned_a =
        h.mm.wait_for_assignment(&a.id, Duration::from_secs(5))
            .await
            .unwrap();
    let assigned_b =
        h.mm.wait_for_assignment(&b.id, Duration::from_secs(5))
            .await
            .unwrap();
    assert_eq!(assigned_a.room_id, assigned_b.room_id);
    assert_eq!(
        h.allocator.rooms.load(Ordering::SeqCst),
        1,
        "placed exactly once"
    );
}

#[tokio::test]
async fn a_ticket_past_the_maximum_wait_ends_in_no_match() {
    let h = start(ModeRules {
        max_wait: Duration::from_millis(300),
        ..arena(2)
    })
    .await;
    let t = h.mm.create_ticket(&ticket("alone")).await.unwrap();
    let result =
        h.mm.wait_for_assignment(&t.id, Duration::from_secs(5))
            .await;
    assert!(
        matches!(
            result,
            Err(MatchmakerError::NotAssigned(TicketStatus::NoMatch))
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn many_concurrent_tickets_are_each_assigned_exactly_once() {
    let h = start(arena(10)).await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let mm = h.mm.clone();
        tasks.push(tokio::spawn(async move {
            let t = mm.create_ticket(&ticket(&format!("p{i}"))).await.unwrap();
            mm.wait_for_assignment(&t.id, Duration::from_secs(10))
                .await
                .unwrap()
        }));
    }
    let mut per_room = std::collections::HashMap::new();
    for task in tasks {
        *per_room.entry(task.await.unwrap().room_id).or_insert(0) += 1;
    }
    assert_eq!(per_room.len(), 20);
    assert!(per_room.values().all(|&n| n == 10), "{per_room:?}");
    let placed: usize = h
        .allocator
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.players.len())
        .sum();
    assert_eq!(placed, 200, "nobody placed twice");
}

#[tokio::test]
async fn a_requeued_ticket_goes_to_the_front_with_a_fresh_wait() {
    let allocator = TestAllocator::default();
    let rules = ModeRules {
        max_wait: Duration::from_millis(600),
        ..arena(2)
    };
    let mm = Matchmaker::new(
        MemoryStore::new(),
        allocator.clone(),
        MatchmakerConfig::new(vec![rules], [7; 32]),
    );
    tokio::spawn(mm.clone().run(std::future::pending()));
    let old_a = mm.create_ticket(ticket("old-a")).await.unwrap();
    let old_b = mm.create_ticket(ticket("old-b")).await.unwrap();
    let first = mm.ticket(&old_a.id, Duration::from_secs(2)).await.unwrap();
    let TicketStatus::Assigned(first) = first.status else {
        panic!("{first:?}")
    };
    // Their room ran for longer than the maximum wait, then failed.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let newcomer = mm.create_ticket(ticket("new")).await.unwrap();
    let failed_room = first.room_id;
    // A requeue naming another room is fenced off: the tickets are not in that room.
    assert_eq!(
        mm.requeue(failed_room + 1, &[old_a.id.clone(), old_b.id.clone()])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        mm.requeue(
            failed_room,
            &[old_a.id.clone(), old_b.id.clone(), "not-a-ticket".into()]
        )
        .await
        .unwrap(),
        2
    );
    // Not expired, and placed again before the newcomer: the front of the queue.
    let again = mm.ticket(&old_a.id, Duration::from_secs(2)).await.unwrap();
    let TicketStatus::Assigned(a) = again.status else {
        panic!("{again:?}")
    };
    let b = mm.ticket(&old_b.id, Duration::from_secs(2)).await.unwrap();
    let TicketStatus::Assigned(b) = b.status else {
        panic!("{b:?}")
    };
    assert_eq!(a.room_id, b.room_id);
    assert_eq!(
        mm.ticket(&newcomer.id, Duration::ZERO)
            .await
            .unwrap()
            .status,
        TicketStatus::Queued
    );
    // A ticket that is not assigned is not requeued, and a late requeue from the failed
    // room does not move tickets that have a new room by now.
    assert_eq!(
        mm.requeue(failed_room, std::slice::from_ref(&newcomer.id))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        mm.requeue(failed_room, &[old_a.id.clone(), old_b.id.clone()])
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_create_can_wait_for_its_assignment_in_the_same_request() {
    let h = start(arena(2)).await;
    let alice = tokio::spawn({
        let mm = h.mm.clone();
        async move { mm.queue(&ticket("alice"), Duration::from_secs(5)).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (bob_id, bob) =
        h.mm.queue(&ticket("bob"), Duration::from_secs(5))
            .await
            .unwrap();
    let (alice_id, alice) = alice.await.unwrap().unwrap();
    assert_eq!(alice.room_id, bob.room_id);
    assert_ne!(alice_id, bob_id);
    // Without a partner, the wait ends and the ticket is still queued (201 either way).
    let r = h
        .http
        .post(format!("{}/v1/tickets?wait_ms=200", h.url))
        .json(&ticket("carol"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let view: protocol::api::TicketView = r.json().await.unwrap();
    assert_eq!(view.status, TicketStatus::Queued);
    let r = h
        .http
        .post(format!("{}/v1/tickets?wait_ms=soon", h.url))
        .json(&ticket("dave"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn players_are_matched_and_placed_within_their_best_region() {
    let h = start(arena(2)).await;
    let with = |player: &str, eu: u32, us: u32| CreateTicketRequest {
        latencies: Some([("eu".to_string(), eu), ("us".to_string(), us)].into()),
        party: None,
        ..ticket(player)
    };
    // Alternate regions so that queue order alone would pair them across regions.
    let tickets = [
        with("e1", 30, 140),
        with("u1", 150, 25),
        with("e2", 40, 120),
        with("u2", 130, 20),
    ];
    let mut ids = Vec::new();
    for t in &tickets {
        let view = h.mm.create_ticket(t).await.unwrap();
        assert_eq!(
            view.region.as_deref(),
            Some(if t.player_id.as_deref().unwrap().starts_with('e') {
                "eu"
            } else {
                "us"
            })
        );
        ids.push(view.id);
    }
    for id in &ids {
        h.mm.wait_for_assignment(id, Duration::from_secs(5))
            .await
            .unwrap();
    }
    let requests = h.allocator.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        let players: Vec<&str> = r.players.iter().map(|p| p.player_id.as_str()).collect();
        let region = r.region.as_deref().unwrap();
        assert!(
            players.iter().all(|p| p.starts_with(&region[..1])),
            "{region}: {players:?}"
        );
    }
    // Nonsense latency maps are refused, saying why.
    for bad in [
        serde_json::json!({}),
        serde_json::json!({"": 10}),
        serde_json::json!({"eu": 99999}),
    ] {
        let body = serde_json::json!({"mode": "arena", "latencies": bad});
        let (status, code, message) = post_raw(&h, "application/json", body.to_string()).await;
        assert_eq!(
            (status, code.as_str()),
            (400, "invalid_request"),
            "{message}"
        );
        assert!(message.contains("latencies"), "{message}");
    }
}

fn party_ticket(player: &str, party: &str, size: u8) -> CreateTicketRequest {
    CreateTicketRequest {
        party: Some(Party {
            id: party.into(),
            size,
        }),
        ..ticket(player)
    }
}

#[tokio::test]
async fn a_party_lands_in_one_match_on_one_team_and_waits_for_all_its_members() {
    // Four players in two teams of two.
    let h = start(arena(4).with_teams(2)).await;
    // One member of the party and two solos: no match may split the party or leave it out
    // while solos fill its place.
    let a =
        h.mm.create_ticket(&party_ticket("a", "crew-1", 2))
            .await
            .unwrap();
    let c = h.mm.create_ticket(&ticket("c")).await.unwrap();
    let d = h.mm.create_ticket(&ticket("d")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for t in [&a, &c, &d] {
        let view = h.mm.get_ticket(&t.id, Duration::ZERO).await.unwrap();
        assert_eq!(view.status, TicketStatus::Queued, "{}", view.player_id);
    }
    // The second member arrives: one match, the party together on one team.
    let b =
        h.mm.create_ticket(&party_ticket("b", "crew-1", 2))
            .await
            .unwrap();
    let mut placed = Vec::new();
    for t in [&a, &b, &c, &d] {
        let assignment =
            h.mm.wait_for_assignment(&t.id, Duration::from_secs(5))
                .await
                .unwrap();
        placed.push((assignment.room_id, assignment.team));
    }
    assert!(placed.iter().all(|p| p.0 == placed[0].0), "{placed:?}");
    assert_eq!(placed[0].1, placed[1].1, "the party split: {placed:?}");
    assert_eq!(placed[2].1, placed[3].1, "{placed:?}");
    assert_ne!(placed[0].1, placed[2].1, "{placed:?}");
    // The room was asked for with the same teams.
    let request = h.allocator.requests.lock().unwrap()[0].clone();
    let team_of = |p: &str| {
        request
            .players
            .iter()
            .find(|r| r.player_id == p)
            .unwrap()
            .team
    };
    assert_eq!(team_of("a"), team_of("b"));
    assert_ne!(team_of("a"), team_of("c"));
    // The ticket shows its party.
    let view = h.mm.get_ticket(&a.id, Duration::ZERO).await.unwrap();
    assert_eq!(view.party.map(|p| p.id), Some("crew-1".to_string()));
}

#[tokio::test]
async fn a_party_that_cannot_fit_a_team_is_refused() {
    let ffa = start(arena(4)).await;
    match ffa.mm.create_ticket(&party_ticket("a", "p", 2)).await {
        Err(MatchmakerError::Api {
            status: 400,
            message,
            ..
        }) => {
            assert!(message.contains("party.size"), "{message}");
        }
        other => panic!("expected 400, got {other:?}"),
    }
    let teams = start(arena(4).with_teams(2)).await;
    assert!(
        teams
            .mm
            .create_ticket(&party_ticket("a", "p", 3))
            .await
            .is_err()
    );
    assert!(
        teams
            .mm
            .create_ticket(&party_ticket("a", "", 2))
            .await
            .is_err()
    );
}

fn slot(room_id: u64, team: u8, expires_in_ms: i64) -> OpenSlot {
    let now = protocol::unix_now().as_millis() as i64;
    OpenSlot {
        id: format!("{:032x}", rand::random::<u128>()),
        room_id,
        mode: "arena".into(),
        team,
        region: None,
        node: None,
        expires_ms: (now + expires_in_ms) as u64,
    }
}

#[tokio::test]
async fn an_open_slot_is_filled_once_with_the_longest_waiting_solo_player() {
    let h = start(arena(4).with_teams(2)).await;
    // Too few for a new match: they wait (queued a few ms apart, so their order is known).
    let old = h.mm.create_ticket(&ticket("old")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let party =
        h.mm.create_ticket(&party_ticket("p", "crew", 2))
            .await
            .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let new = h.mm.create_ticket(&ticket("new")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.engine.open_slot(slot(7, 1, 30_000)).await.unwrap();
    let assignment =
        h.mm.wait_for_assignment(&old.id, Duration::from_secs(5))
            .await
            .unwrap();
    assert_eq!((assignment.room_id, assignment.team), (7, 1));
    let backfills = h.allocator.backfills.lock().unwrap().clone();
    assert_eq!(backfills.len(), 1);
    assert_eq!(backfills[0].1.ticket_id, old.id);
    assert_eq!(backfills[0].1.team, 1);
    // The slot is gone: nobody else is placed in room 7.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for t in [&party, &new] {
        let view = h.mm.get_ticket(&t.id, Duration::ZERO).await.unwrap();
        assert_eq!(view.status, TicketStatus::Queued, "{}", view.player_id);
    }
    assert_eq!(h.engine.stats().backfills.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn expired_slots_and_slots_of_closed_rooms_lose_no_ticket() {
    let h = start(arena(4)).await;
    let waiting = h.mm.create_ticket(&ticket("w")).await.unwrap();
    h.engine.open_slot(slot(8, 0, -1)).await.unwrap();
    h.engine
        .open_slot(slot(CLOSED_ROOM, 0, 30_000))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The expired slot was dropped; the closed room refused; the player is queued still,
    // and nothing was placed.
    let view = h.mm.get_ticket(&waiting.id, Duration::ZERO).await.unwrap();
    assert_eq!(view.status, TicketStatus::Queued);
    assert!(h.allocator.backfills.lock().unwrap().is_empty());
    // And it still makes a normal match.
    for p in ["x", "y", "z"] {
        h.mm.create_ticket(&ticket(p)).await.unwrap();
    }
    let a =
        h.mm.wait_for_assignment(&waiting.id, Duration::from_secs(5))
            .await
            .unwrap();
    assert_ne!(a.room_id, 8);
}
