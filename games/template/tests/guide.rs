//! The guide (`docs/writing-a-game.md`) runs its commands as written: every `coins-server`
//! command line in it is accepted by the binary (checked with `--print-config`, which parses
//! every flag and exits), and the flags of its `coins-bots` command lines are the swarm's.

use std::process::Command;

const GUIDE: &str = include_str!("../../../docs/writing-a-game.md");

/// The arguments after `--` of every guide line running `bin`, `$S` given a value.
fn command_lines(bin: &str) -> Vec<Vec<String>> {
    let prefix = format!("cargo run --release -p template --bin {bin}");
    GUIDE
        .lines()
        .filter_map(|line| line.trim().strip_prefix(&prefix))
        .map(|rest| {
            let rest = rest.trim().trim_end_matches('&').trim();
            let rest = rest.strip_prefix("--").unwrap_or(rest);
            rest.split_whitespace()
                .map(|word| word.replace("$S", &"ab".repeat(32)))
                .collect()
        })
        .collect()
}

#[test]
fn every_coins_server_command_in_the_guide_is_accepted() {
    let lines = command_lines("coins-server");
    assert!(lines.len() >= 4, "{lines:?}");
    for args in lines {
        let mut command = Command::new(env!("CARGO_BIN_EXE_coins-server"));
        command.args(&args);
        if !args.iter().any(|a| a == "--print-config") {
            command.arg("--print-config");
        }
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "coins-server {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let config = String::from_utf8_lossy(&out.stdout);
        // Each flag given is in the effective configuration, from the command line.
        for flag in args.iter().filter_map(|a| a.strip_prefix("--")) {
            if flag != "print-config" {
                assert!(config.contains(&format!("{flag} = ")), "{flag}: {config}");
            }
        }
    }
}

#[test]
fn every_coins_bots_flag_in_the_guide_is_the_swarms() {
    let lines = command_lines("coins-bots");
    assert!(lines.len() >= 2, "{lines:?}");
    let help = Command::new(env!("CARGO_BIN_EXE_coins-bots"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for args in lines {
        for flag in args.iter().filter(|a| a.starts_with("--")) {
            assert!(
                help.contains(&format!("{flag} ")),
                "coins-bots has no {flag}:\n{help}"
            );
        }
    }
}
