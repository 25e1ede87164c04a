//! The Hearts server binary's own defaults, as `--print-config` reports them.

use std::process::Command;

fn print_config(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hearts-server"))
        .arg("--print-config")
        .args(args)
        .env_remove("RALLYPOINT_MODES")
        .env_remove("RALLYPOINT_TICK_RATE")
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn four_players_no_match_clock_and_ten_ticks_a_second_unless_told_otherwise() {
    let config = print_config(&[]);
    assert!(
        config.contains(r#"modes = "name=hearts,players=4,time-limit=none"  # default"#),
        "{config}"
    );
    assert!(
        config.contains(r#"tick-rate = "10"  # default"#),
        "{config}"
    );
    assert!(
        config.contains(r#"target-score = "100"  # default"#),
        "{config}"
    );
    let config = print_config(&["--tick-rate", "20", "--target-score", "50"]);
    assert!(config.contains(r#"tick-rate = "20"  # cli"#), "{config}");
    assert!(config.contains(r#"target-score = "50"  # cli"#), "{config}");
}
