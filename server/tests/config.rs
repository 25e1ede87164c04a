//! The `server` binary's configuration: flags, environment and a `--config` file, shown by
//! `--print-config` (a real process each time).

use std::process::Command;

fn config_file(text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "rp-server-config-{}-{}.toml",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn print_config_shows_each_value_and_its_source_with_secrets_masked() {
    let path = config_file(
        "tick-rate = 60\nmatch_duration = \"90s\"\nplayers-per-match = 6\nadmin-token = \"file-secret\"\nredis = \"redis://rp:hunter2@127.0.0.1:6379\"\nno-backfill = true\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .args([
            "--config",
            path.to_str().unwrap(),
            "--players-per-match",
            "4",
            "--print-config",
        ])
        .env("RALLYPOINT_TICK_RATE", "20")
        .env("RALLYPOINT_TOKEN_KEY", "ab".repeat(32))
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{shown}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "tick-rate = \"20\"  # env",
        "match-duration = \"90s\"  # file",
        "players-per-match = \"4\"  # cli",
        "no-backfill = \"true\"  # file",
        "admin-token = \"********\"  # file",
        "token-key = \"********\"  # env",
        "redis = \"redis://rp:********@127.0.0.1:6379\"  # file",
        "http = \"127.0.0.1:7350\"  # default",
        // The game's own flags are part of the same command line.
        "arena-size = \"100\"  # default",
    ] {
        assert!(shown.contains(line), "missing {line:?} in:\n{shown}");
    }
    assert!(
        !shown.contains("hunter2") && !shown.contains("file-secret") && !shown.contains("abab")
    );
}

#[test]
fn modes_come_from_the_config_files_tables() {
    let path = config_file(
        "[[modes]]\nname = \"duel\"\nplayers = 2\nteams = 2\ntime-limit = \"90s\"\n\n[[modes]]\nname = \"marathon\"\nplayers = 4\ntime-limit = \"none\"\nmin-players = 3\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--config", path.to_str().unwrap(), "--print-config"])
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    let line = shown
        .lines()
        .find(|l| l.starts_with("modes = "))
        .unwrap_or_else(|| panic!("no modes in:\n{shown}"));
    assert!(line.ends_with("# file"), "{line}");
    for part in [
        "name=duel",
        "players=2",
        "teams=2",
        "time-limit=90s",
        ";",
        "name=marathon",
        "time-limit=none",
        "min-players=3",
    ] {
        assert!(line.contains(part), "{part:?} missing from {line}");
    }
    // A mode that does not add up is refused, saying why.
    let (code, stderr) = refused("[[modes]]\nname = \"trio\"\nplayers = 3\nteams = 2\n");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("equal teams"), "{stderr}");
}

/// Runs the server with only a config file of `text`; returns its exit code and stderr.
fn refused(text: &str) -> (Option<i32>, String) {
    let path = config_file(text);
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_config_file_is_refused_with_a_reason() {
    let (code, err) = refused("tick-rat = 60\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("unknown key \"tick-rat\"") && err.contains("tick-rate"),
        "{err}"
    );

    let (code, err) = refused("tick-rate = 0\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("tick rate must be 1 to 128 Hz"), "{err}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    // The embedded server logs a warning about its generated token key at start-up, before
    // it prints where it listens.
    let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
        .args([
            "--http",
            "127.0.0.1:0",
            "--udp-ports",
            "0",
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let mut json_lines = Vec::new();
    for _ in 0..20 {
        let Some(Ok(line)) = lines.next() else { break };
        if line.starts_with("rallypoint server listening") {
            break;
        }
        json_lines.push(line);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !json_lines.is_empty(),
        "the embedded server warns about its generated key"
    );
    for line in &json_lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["fields"]["message"].is_string(),
            "{line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_log_lines_carry_the_node_and_the_room() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--http", &format!("127.0.0.1:{port}"), "--udp-ports", "0"])
        .args(["--match-duration", "2s", "--log-format", "json"])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let listening = rx
        .iter()
        .take(50)
        .any(|line| line.starts_with("rallypoint server listening"));
    assert!(listening, "the server started");

    let mut swarm = bots::SwarmConfig::new(
        &format!("http://127.0.0.1:{port}"),
        10,
        std::time::Duration::from_millis(300),
    );
    swarm.scenario.grace = std::time::Duration::from_secs(20);
    let report = bots::run_swarm::<bots::games::ArenaBot>(swarm).await;
    assert_eq!(report.matches_completed, 1, "{report:#?}");

    // The room logs its closing from inside its tick, so inside its span.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut closed = None;
    while closed.is_none() && std::time::Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(200)) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if v["fields"]["message"] == "room closed" {
            closed = Some(v);
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let closed = closed.expect("a \"room closed\" log line");
    assert_eq!(closed["span"]["name"], "room", "{closed}");
    assert_eq!(closed["span"]["node"], "embedded", "{closed}");
    assert!(closed["span"]["room"].is_u64(), "{closed}");
}
