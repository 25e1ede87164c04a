//! Hearts on the dashboard, in headless Chromium: the room listed under its game and mode, and
//! the spectator view drawn by Hearts' own code from the node (`/v1/game/view.js`): the table,
//! the trick and every hand face up, each hand marked as hidden from all but its owner.

use std::time::Duration;

use bots::{SwarmConfig, games::HeartsBot, run_swarm};
use hearts::HeartsGame;
use testkit::browser::Browser;

const TOKEN: &str = "hearts-dashboard-token";
/// The felt, the cards' faces and the trays that mark hidden hands (`view.js`).
const FELT: [u8; 3] = [0x0b, 0x5d, 0x2a];
const CARD: [u8; 3] = [0xf4, 0xf1, 0xe8];
const TRAY: [u8; 3] = [0xd2, 0xa8, 0xff];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_draws_a_hearts_table_with_every_hand_marked_hidden() {
    let server = server::testing::embedded(
        HeartsGame::new("hearts", 100, 20),
        &[
            "--modes",
            "name=hearts,players=4,time-limit=none",
            "--tick-rate",
            "10",
            "--admin-token",
            TOKEN,
        ],
    )
    .await;
    let url = server.url();
    // Four bots at one table, playing on while the page watches (a game to 100 points lasts
    // a minute and more).
    let swarm = tokio::spawn(run_swarm::<HeartsBot>(SwarmConfig::new(
        &url,
        4,
        Duration::from_millis(500),
    )));

    // Hearts' drawing is served to any origin (a standalone matchmaker's page is elsewhere).
    let view = reqwest::get(format!("{url}/v1/game/view.js"))
        .await
        .unwrap();
    assert_eq!(view.status(), 200);
    assert_eq!(view.headers()["access-control-allow-origin"], "*");
    assert!(
        view.text()
            .await
            .unwrap()
            .contains("rallypoint.view(\"hearts\"")
    );

    let browser = Browser::start().await;
    browser
        .open(&format!("{url}/dashboard#token={TOKEN}"))
        .await;
    browser
        .wait_for(
            "return Number(document.getElementById('players-count').textContent) >= 4",
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(
        browser.row_texts("#modes tr", 4).await,
        serde_json::json!(["hearts/1 hearts 1 4"])
    );

    browser.click(&browser.find("button.watch").await).await;
    browser
        .wait_for(
            "return document.getElementById('spectator').dataset.view === 'hearts' && \
             /· running/.test(document.getElementById('spectator-status').textContent)",
            Duration::from_secs(10),
        )
        .await;
    // Let a few cards fall, so the trick is on the table too.
    browser
        .wait_for(
            "return [...document.querySelectorAll('#entities tr')].some((tr) => \
             JSON.parse(tr.cells[2].textContent).trick?.some((c) => c !== null))",
            Duration::from_secs(20),
        )
        .await;

    // The list: the table and four seats for everyone; four hands, each hidden but from its
    // owner, a bot.
    let listed = browser
        .eval(
            "return [...document.querySelectorAll('#entities tr')].map((tr) => \
             [tr.cells[1].textContent, tr.cells[1].className, JSON.parse(tr.cells[2].textContent)])",
        )
        .await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 9, "{listed:?}");
    let hands: Vec<_> = listed.iter().filter(|e| e[2]["kind"] == "Hand").collect();
    assert_eq!(hands.len(), 4, "{listed:?}");
    for hand in &hands {
        let seen = hand[0].as_str().unwrap();
        assert!(seen.starts_with("hidden: only bot-"), "{seen}");
        assert_eq!(hand[1], "hidden");
        assert!(hand[2]["cards"].is_array());
    }
    let shown: Vec<_> = listed.iter().filter(|e| e[2]["kind"] != "Hand").collect();
    assert!(
        shown.iter().all(|e| e[0] == "everyone" && e[1] == ""),
        "{shown:?}"
    );
    // Cards in hands and on the trick: what was dealt, less whole tricks taken.
    let in_hands: usize = hands
        .iter()
        .map(|h| h[2]["cards"].as_array().unwrap().len())
        .sum();
    assert!(in_hands > 0 && in_hands <= 52, "{in_hands}");

    // The picture: the felt, many card faces (every hand face up), the hidden hands' trays.
    let canvas = browser.find("#spectator").await;
    let drawn = browser.screenshot(&canvas).await;
    let area = (drawn.width * drawn.height) as usize;
    let felt = drawn.count_near(&[FELT], 6);
    let cards = drawn.count_near(&[CARD], 6);
    let trays = drawn.count_near(&[TRAY], 10);
    assert!(felt > area / 2, "{felt} felt pixels of {area}");
    // At least a card and a half per hand shows (each hand's cards overlap: 20 px apart).
    assert!(cards > 4 * 30 * 42, "{cards} card pixels");
    assert!(trays > 4 * 150, "{trays} tray pixels");

    drop(browser);
    swarm.abort();
    server.shutdown().await;
}
