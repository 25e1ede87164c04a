//! The template's two binaries as the guide runs them: `coins-server` (the engine serving
//! Coins on loopback) and `coins-bots` (the swarm playing it) play a whole match over UDP, and
//! the bots' report says so.

use std::process::{Command, Stdio};

use testkit::{free_port, wait_for_port};

/// Kills the server on drop, whatever the test's fate.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn coins_bots_play_a_match_on_coins_server() {
    let port = free_port();
    let http = format!("127.0.0.1:{port}");
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_coins-server"))
            .args(["--http", &http, "--udp-ports", "0", "--goal", "3"])
            .stdout(Stdio::null())
            .spawn()
            .expect("coins-server runs"),
    );
    wait_for_port(port);
    let report = std::env::temp_dir().join(format!("coins-report-{}.json", std::process::id()));
    let bots = Command::new(env!("CARGO_BIN_EXE_coins-bots"))
        .args(["--matchmaker", &format!("http://{http}"), "--players", "4"])
        .args([
            "--duration",
            "1s",
            "--grace",
            "60s",
            "--quiet",
            "--report-json",
        ])
        .arg(&report)
        .output()
        .expect("coins-bots runs");
    let stdout = String::from_utf8_lossy(&bots.stdout);
    assert!(
        bots.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&bots.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let _ = std::fs::remove_file(&report);
    assert_eq!(json["matches_completed"], 1, "{json:#}");
    assert_eq!(json["player_matches_completed"], 4, "{json:#}");
    assert_eq!(json["errors"], serde_json::json!({}), "{json:#}");
    // Someone reached the goal of 3 (the clock is 90 s: the game ended the match).
    let picked = json["game_counts"]["coins_picked"].as_u64().unwrap_or(0);
    assert!(picked >= 3, "{json:#}");
    assert_eq!(json["matches_ended_early"], 0);
}
