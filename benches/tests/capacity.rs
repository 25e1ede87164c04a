//! The capacity benchmark end to end, at a size the test suite can afford: the echo baseline,
//! a real node process, real bots over loopback UDP, one load step, and the summary line
//! scripts read.

use std::process::Command;

#[test]
fn one_small_step_reports_players_per_core() {
    let out = Command::new(env!("CARGO_BIN_EXE_capacity"))
        .args([
            "--steps",
            "20",
            "--ramp",
            "2s",
            // The step passes on its 99th percentile of tick lag: 6 s is 360 ticks, so two
            // ticks a busy machine delays (a debug build) do not decide it alone, as they did
            // in 3 s (180).
            "--hold",
            "6s",
            "--baseline",
            "1s",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("udp echo baseline:"), "{stdout}");
    let step = stdout
        .lines()
        .find(|l| l.starts_with("step"))
        .unwrap_or_else(|| panic!("no step line in:\n{stdout}"));
    assert!(step.contains("   20 players in    2 rooms"), "{step}");
    assert!(
        step.ends_with(")") && step.contains("| ok ("),
        "the step passed: {step}"
    );

    // capacity: players_per_core=N cpu_us_per_player_s=X udp_baseline_ratio=R
    let last = stdout.lines().last().unwrap();
    let fields: Vec<(&str, f64)> = last
        .strip_prefix("capacity: ")
        .unwrap_or_else(|| panic!("last line: {last}"))
        .split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k, v.parse().unwrap())
        })
        .collect();
    let names: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        names,
        [
            "players_per_core",
            "cpu_us_per_player_s",
            "udp_baseline_ratio"
        ]
    );
    assert!(fields.iter().all(|(_, v)| *v > 0.0), "{last}");
    // Players per core is one core's worth of the measured CPU per player-second.
    let (per_core, per_player) = (fields[0].1, fields[1].1);
    assert!(
        (per_core - (1e6 / per_player).floor()).abs() <= 1.0,
        "{last}"
    );
}
