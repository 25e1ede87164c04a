//! The `bots` binary as a user runs it: the shipped smoke scenario against a real embedded
//! server, its HTML report rendered in headless Chromium, and thresholds deciding the exit
//! status.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use arena::ArenaGame;
use server::EmbeddedServer;

async fn server() -> EmbeddedServer<ArenaGame> {
    server::testing::embedded(ArenaGame::default(), &["--match-duration", "3s"]).await
}

/// Runs the bots binary to completion (off the test's runtime threads).
async fn bots(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_bots"))
            .args(&args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("the bots binary runs")
    })
    .await
    .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rallypoint-bots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The DOM after the page's scripts ran, from headless Chromium.
fn rendered_dom(page: &Path) -> String {
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium must be installed (.ci/run installs it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs the shipped smoke scenario against `url` with `extra` flags, writing both reports
/// under `name`; the run must succeed. Returns what it printed, the JSON report and the HTML
/// report's path.
async fn smoke(url: String, name: &str, extra: &[&str]) -> (String, serde_json::Value, PathBuf) {
    let (json, html) = (
        scratch(&format!("{name}.json")),
        scratch(&format!("{name}.html")),
    );
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml");
    let mut args: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
    args.extend([
        "--matchmaker".into(),
        url,
        "--scenario".into(),
        scenario.display().to_string(),
        "--report-json".into(),
        json.display().to_string(),
        "--report-html".into(),
        html.display().to_string(),
    ]);
    let out = bots(args).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (stdout, report, html)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smoke_scenario_passes_and_its_report_renders_in_chromium() {
    let server = server().await;
    let (stdout, report, html) = smoke(server.url(), "smoke", &[]).await;
    assert_eq!(report["scenario"], "smoke");
    assert!(
        report["matches_completed"].as_u64().unwrap() >= 2,
        "{stdout}"
    );
    let thresholds = report["thresholds"].as_array().unwrap();
    assert_eq!(thresholds.len(), 5);
    assert!(
        thresholds.iter().all(|t| t["passed"] == true),
        "{thresholds:?}"
    );
    // A second per sample, with the server's own view in it.
    let timeline = report["timeline"].as_array().unwrap();
    assert!(timeline.len() >= 6, "{}", timeline.len());
    assert!(
        timeline
            .iter()
            .any(|s| s["server"]["players"].as_u64() > Some(0))
    );
    assert!(timeline.iter().any(|s| s["playing"].as_u64() == Some(20)));
    // Memory on both sides, for soaks.
    assert!(
        timeline
            .iter()
            .all(|s| s["server"]["rss_bytes"].as_u64() > Some(1_000_000))
    );
    assert!(report["bots_rss_bytes"].as_u64() > Some(1_000_000));
    for metric in ["connect_ms", "snapshot_jitter_ms", "input_ack_ms", "rtt_ms"] {
        assert!(report[metric]["count"].as_u64() > Some(0), "{metric}");
    }
    // The broadband group's conditioned link shows in its round trips (66 ms preset).
    assert!(
        report["rtt_ms"]["max"].as_f64() > Some(60.0),
        "{}",
        report["rtt_ms"]
    );

    // The report draws its charts with no network, in a real browser.
    let dom = rendered_dom(&html);
    assert!(dom.matches("<svg class=\"chart\"").count() >= 5, "{dom}");
    assert!(dom.contains("<polyline"), "charts have lines");
    assert!(
        dom.contains("class=\"pass\""),
        "threshold verdicts are shown"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_threshold_fails_the_run_and_a_malformed_one_is_refused() {
    let server = server().await;
    let base = |threshold: &str| {
        vec![
            "--matchmaker".to_string(),
            server.url(),
            "--players".into(),
            "10".into(),
            "--duration".into(),
            "500ms".into(),
            "--quiet".into(),
            "--threshold".into(),
            threshold.to_string(),
        ]
    };
    let failed = bots(base("rtt_ms.p99 < 0.001")).await;
    assert_eq!(
        failed.status.code(),
        Some(99),
        "{}",
        String::from_utf8_lossy(&failed.stdout)
    );
    assert!(String::from_utf8_lossy(&failed.stdout).contains("threshold rtt_ms.p99 < 0.001: FAIL"));
    let passed = bots(base("matches_completed >= 1")).await;
    assert_eq!(passed.status.code(), Some(0));
    let malformed = bots(base("rtt is fast")).await;
    assert_eq!(malformed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&malformed.stderr).contains("bad threshold"));
    server.shutdown().await;
}

/// The same tool for the second game: `--game hearts` runs the shipped smoke scenario (ramp,
/// hold, churn, a conditioned network) against a Hearts server, with a threshold on the
/// game's own count, and writes both reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smoke_scenario_plays_hearts_with_its_own_thresholds() {
    // Games to 10 points: one hand or two, so every table finishes within the grace.
    let server = server::testing::embedded(
        hearts::HeartsGame::new("hearts", 10, 20),
        &[
            "--modes",
            "name=hearts,players=4,time-limit=none",
            "--tick-rate",
            "10",
        ],
    )
    .await;
    let (stdout, report, html) = smoke(
        server.url(),
        "hearts",
        &[
            "--game",
            "hearts",
            "--threshold",
            "game_counts.hearts_cards_played > 100",
        ],
    )
    .await;
    assert!(report["matches_completed"].as_u64() >= Some(4), "{stdout}");
    assert_eq!(report["errors"], serde_json::json!({}), "{stdout}");
    let thresholds = report["thresholds"].as_array().unwrap();
    assert_eq!(thresholds.len(), 6);
    assert!(
        thresholds.iter().all(|t| t["passed"] == true),
        "{thresholds:?}"
    );
    assert!(
        report["rtt_ms"]["max"].as_f64() > Some(60.0),
        "the broadband group's link"
    );
    assert!(
        std::fs::read_to_string(&html)
            .unwrap()
            .contains("hearts_cards_played")
    );
    server.shutdown().await;
}
