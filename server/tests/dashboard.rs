//! The operator's view of a real server binary while bots play: the dashboard in headless
//! Chromium (nodes, rooms, players, tick chart, and a spectated room drawn on its canvas), the
//! spectator feed's authentication, and every Prometheus series.

mod support;

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use support::{browser::Browser, free_port, wait_for_port};

/// The dashboard's team colours and projectile colour (`dashboard.html`).
const ENTITY_COLORS: [[u8; 3]; 9] = [
    [0x4f, 0xc3, 0xf7],
    [0xff, 0x8a, 0x65],
    [0xae, 0xd5, 0x81],
    [0xba, 0x68, 0xc8],
    [0xff, 0xf1, 0x76],
    [0x4d, 0xb6, 0xac],
    [0xf0, 0x62, 0x92],
    [0x90, 0xa4, 0xae],
    [0xff, 0xd5, 0x4f],
];
/// The tick chart's p50 and p99 lines (one hides the other where they are equal).
const CHART_LINES: [[u8; 3]; 2] = [[0x58, 0xa6, 0xff], [0xf0, 0x88, 0x3e]];

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(token: &str) -> Server {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--http", &format!("127.0.0.1:{port}")])
        .args(["--udp-ports", "0", "--admin-token", token])
        .args(["--match-duration", "40s"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port);
    Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// One sample's value from an OpenMetrics text: `name{labels}` exactly as written.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}

/// The status a WebSocket handshake for a room's feed gets with `token`.
async fn handshake_status(url: &str, room: u64, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{url}/v1/rooms/{room}/spectate?token={token}"))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_shows_the_cluster_and_spectates_a_room_while_bots_play() {
    let token = "dashboard-test-token";
    let server = start_server(token);
    let swarm = tokio::spawn(bots::run_swarm::<bots::games::ArenaBot>(
        bots::SwarmConfig::new(&server.url, 10, Duration::from_secs(25)),
    ));

    let browser = Browser::start().await;
    browser
        .open(&format!("{}/dashboard#token={token}", server.url))
        .await;
    // Nodes, rooms and players as the bots join.
    browser
        .wait_for(
            "return Number(document.getElementById('players-count').textContent) >= 10",
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(
        browser
            .eval("return document.getElementById('nodes-count').textContent")
            .await,
        "1"
    );
    assert_eq!(
        browser
            .eval("return document.querySelectorAll('#rooms tr').length")
            .await,
        1
    );
    // Rooms per game and mode: the node's game, its one mode, that room and its players.
    assert_eq!(
        browser.row_texts("#modes tr", 4).await,
        serde_json::json!(["arena/1 arena 1 10"])
    );
    assert_eq!(
        browser
            .eval("return document.querySelector('#rooms tr').cells[3].textContent")
            .await,
        "arena"
    );

    // The canvas is empty until a room is watched: what counts as an entity below is drawn
    // only from the feed.
    let canvas = browser.find("#spectator").await;
    let before = browser.screenshot(&canvas).await;
    assert_eq!(before.count_near(&ENTITY_COLORS, 12), 0);

    // A wrong token is refused; the status says so.
    browser
        .eval("document.getElementById('token').value = 'wrong'")
        .await;
    browser.click(&browser.find("button.watch").await).await;
    browser
        .wait_for(
            "return document.getElementById('spectator-status').textContent.includes('closed')",
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(
        browser
            .screenshot(&canvas)
            .await
            .count_near(&ENTITY_COLORS, 12),
        0
    );

    browser
        .eval(&format!(
            "document.getElementById('token').value = '{token}'"
        ))
        .await;
    browser.click(&browser.find("button.watch").await).await;
    let status = browser
        .wait_for(
            "const s = document.getElementById('spectator-status').textContent; \
             return /tick \\d+ · [1-9]\\d* entities · running/.test(s) && s",
            Duration::from_secs(10),
        )
        .await;
    // Frames keep coming: the tick shown advances.
    let tick_of = |s: &str| -> u64 {
        s.split("tick ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let first = tick_of(status.as_str().unwrap());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = browser
        .eval("return document.getElementById('spectator-status').textContent")
        .await;
    assert!(tick_of(later.as_str().unwrap()) > first, "{later}");

    // The arena's own drawing, loaded from the node (`/v1/game/view.js`), draws the room.
    browser
        .wait_for(
            "return document.getElementById('spectator').dataset.view === 'arena'",
            Duration::from_secs(5),
        )
        .await;
    let drawn = browser.screenshot(&canvas).await;
    assert_eq!((drawn.width, drawn.height), (512, 512));
    // Ten avatars of at least 6 px radius: well over a thousand pixels in team colours.
    let entity_pixels = drawn.count_near(&ENTITY_COLORS, 12);
    assert!(entity_pixels > 500, "{entity_pixels} entity pixels");
    assert_eq!(
        browser
            .eval("return document.querySelectorAll('#scoreboard tr').length")
            .await,
        10
    );
    // Every entity is listed with its fields by name; the arena hides none from players.
    let listed = browser
        .eval(
            "return [...document.querySelectorAll('#entities tr')].map((tr) => \
             [tr.cells[1].textContent, JSON.parse(tr.cells[2].textContent)])",
        )
        .await;
    let listed = listed.as_array().unwrap();
    assert!(listed.len() >= 10, "{listed:?}");
    assert!(
        listed.iter().all(|e| e[0] == "players nearby"
            && e[1]["kind"].is_string()
            && e[1]["hp"].is_number()),
        "{listed:?}"
    );
    // The tick chart has plotted its lines: once they span a few seconds (one point a
    // second), they are long enough to count.
    browser
        .wait_for(
            "return Number(document.getElementById('tick-chart').dataset.points) >= 8",
            Duration::from_secs(20),
        )
        .await;
    let chart = browser.screenshot(&browser.find("#tick-chart").await).await;
    let line_pixels = chart.count_near(&CHART_LINES, 20);
    assert!(line_pixels > 20, "{line_pixels} line pixels");
    if let Ok(path) = std::env::var("DASHBOARD_SCREENSHOT") {
        std::fs::write(path, browser.page_png().await).unwrap();
    }

    // The feed's door: no token, a wrong one, and an unknown room are refused; the right
    // token opens it.
    let room: u64 = browser
        .eval("return Number(document.querySelector('button.watch').dataset.room)")
        .await
        .as_u64()
        .unwrap();
    assert_eq!(handshake_status(&server.url, room, "").await, 401);
    assert_eq!(handshake_status(&server.url, room, "nope").await, 401);
    assert_eq!(handshake_status(&server.url, room + 1, token).await, 404);
    assert_eq!(handshake_status(&server.url, room, token).await, 101);

    // Every series, with the values a running match implies.
    let metrics = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at_least = |series: &str, min: f64| {
        let v = sample(&metrics, series).unwrap_or_else(|| panic!("no {series} in\n{metrics}"));
        assert!(v >= min, "{series} = {v}, expected at least {min}");
    };
    at_least("rallypoint_rooms{state=\"running\"}", 1.0);
    at_least("rallypoint_rooms{state=\"waiting\"}", 0.0);
    at_least("rallypoint_players", 10.0);
    at_least("rallypoint_room_restarts_total", 0.0);
    at_least("rallypoint_rooms_failed_total", 0.0);
    at_least("rallypoint_ticks_total", 30.0);
    at_least("rallypoint_ticks_skipped_total", 0.0);
    at_least("rallypoint_packets_total{direction=\"in\"}", 100.0);
    at_least("rallypoint_packets_total{direction=\"out\"}", 100.0);
    at_least("rallypoint_bytes_total{direction=\"in\"}", 1000.0);
    at_least("rallypoint_bytes_total{direction=\"out\"}", 1000.0);
    at_least("rallypoint_decode_errors_total{layer=\"packet\"}", 0.0);
    at_least("rallypoint_decode_errors_total{layer=\"message\"}", 0.0);
    at_least("rallypoint_tick_duration_seconds_count", 30.0);
    at_least("rallypoint_tick_duration_seconds_bucket{le=\"+Inf\"}", 30.0);
    at_least("rallypoint_tick_lag_seconds_count", 30.0);
    at_least("rallypoint_tickets{state=\"queued\",mode=\"arena\"}", 0.0);
    at_least("rallypoint_tickets{state=\"matched\"}", 0.0);
    at_least(
        "rallypoint_tickets_finished_total{outcome=\"assigned\"}",
        10.0,
    );
    at_least("rallypoint_tickets_created_total", 10.0);
    at_least("rallypoint_matches_total", 1.0);
    at_least("rallypoint_time_to_match_seconds_count", 10.0);
    at_least("rallypoint_allocation_latency_seconds_count", 1.0);
    at_least("rallypoint_redis_errors_total", 0.0);
    at_least("process_cpu_seconds_total", 0.001);
    at_least("process_resident_memory_bytes", 1_000_000.0);

    drop(browser);
    swarm.abort();
}
