//! What the binaries share: configuration (every flag from the command line, the environment
//! or a TOML file, and the effective result printed on request) and log output.
//!
//! Precedence: command line, then environment variable, then the `--config` file, then the
//! flag's default. A file's keys are the flags' long names (`match-duration` or
//! `match_duration`); an unknown key is an error that lists the known ones. `--print-config`
//! prints every flag's effective value and where it came from, with secrets masked (flags whose
//! environment values clap hides, and passwords inside URLs).
//!
//! The `matchmaker` and `server` binaries both use it (the server depends on this crate).

use std::{
    collections::HashSet,
    ffi::{OsStr, OsString},
    fmt::Write as _,
    path::PathBuf,
};

use clap::{CommandFactory, FromArgMatches, parser::ValueSource};

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// For people: one readable line per event, coloured on a terminal.
    #[default]
    Pretty,
    /// For log pipelines: one JSON object per line, with the event's fields and its spans.
    Json,
}

/// Installs the global log subscriber (writing to standard output): `RUST_LOG` chooses what is
/// logged (default `info`), `format` how.
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().with_current_span(true).init(),
    }
}

/// Flags this module handles itself; the binaries declare them so `--help` shows them.
const OWN_FLAGS: [&str; 2] = ["config", "print-config"];

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A key names no flag.
    #[error("config file {path}: unknown key {key:?}; known keys: {known}")]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// Every accepted key.
        known: String,
    },
    /// A value of a type no flag takes (tables, dates).
    #[error("config file {path}: key {key:?} must be a string, number, boolean or array")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
    /// The flags themselves are wrong (clap's own message, usage included).
    #[error("{0}")]
    Flags(#[from] clap::Error),
    /// A default given by the program (a game's) names no flag.
    #[error("a default for {0:?}, which is no flag")]
    UnknownDefault(String),
}

/// The parsed flags and where each value came from.
#[derive(Debug)]
pub struct Loaded<C> {
    /// The flags.
    pub args: C,
    /// `--print-config` was given.
    pub print: bool,
    /// Each flag's effective value, masked where secret, and its source.
    pub effective: Vec<Setting>,
}

/// One flag's effective value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The flag's long name.
    pub key: String,
    /// Its value as given (comma-joined if several), masked if secret; `None` if unset.
    pub value: Option<String>,
    /// `"cli"`, `"env"`, `"file"`, `"default"` or `"unset"`.
    pub source: &'static str,
}

/// Parses `C` from the process's arguments, environment and `--config` file; prints the
/// effective configuration and exits with `--print-config`; prints the error and exits with
/// status 2 on bad configuration.
pub fn parse<C: CommandFactory + FromArgMatches>() -> C {
    parse_with_defaults::<C>(&[])
}

/// [`parse`], with `defaults` in place of the flags' own defaults: `(long name, value)`
/// pairs, below the command line, the environment and the file (a game's server binary sets
/// its number of players or its tick rate this way). `--print-config` shows them as
/// `default`.
pub fn parse_with_defaults<C: CommandFactory + FromArgMatches>(
    defaults: &[(&str, &'static str)],
) -> C {
    match load_with_defaults::<C>(std::env::args_os().collect(), defaults) {
        Ok(loaded) if loaded.print => {
            print!("{}", render(&loaded.effective));
            let _ = std::io::Write::flush(&mut std::io::stdout());
            std::process::exit(0);
        }
        Ok(loaded) => loaded.args,
        Err(ConfigError::Flags(e)) => e.exit(),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

/// [`parse`] without touching the process: `argv` includes the program name.
pub fn load<C: CommandFactory + FromArgMatches>(
    argv: Vec<OsString>,
) -> Result<Loaded<C>, ConfigError> {
    load_with_defaults(argv, &[])
}

/// [`parse_with_defaults`] without touching the process.
pub fn load_with_defaults<C: CommandFactory + FromArgMatches>(
    argv: Vec<OsString>,
    defaults: &[(&str, &'static str)],
) -> Result<Loaded<C>, ConfigError> {
    let mut command = C::command();
    for &(long, value) in defaults {
        let id = command
            .get_arguments()
            .find(|a| a.get_long() == Some(long))
            .map(|a| a.get_id().clone())
            .ok_or_else(|| ConfigError::UnknownDefault(long.to_owned()))?;
        command = command.mut_arg(id, |arg| arg.default_value(value));
    }
    // What the command line itself sets (errors such as a missing required flag are left for
    // the final parse, where the file may have supplied it).
    let first = command
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(&argv)?;
    let mut argv = argv;
    let mut from_file = HashSet::new();
    if let Some(path) = config_path(&argv) {
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Toml {
                path: path.clone(),
                message: e.message().to_string(),
            })?;
        for (key, value) in &table {
            let name = key.replace('_', "-");
            let arg = command
                .get_arguments()
                .find(|a| {
                    a.get_long() == Some(name.as_str()) && !OWN_FLAGS.contains(&name.as_str())
                })
                .ok_or_else(|| ConfigError::UnknownKey {
                    path: path.clone(),
                    key: key.clone(),
                    known: known_keys(&command),
                })?;
            let id = arg.get_id().as_str();
            let on_command_line = first.value_source(id) == Some(ValueSource::CommandLine);
            let in_environment = arg
                .get_env()
                .is_some_and(|env| std::env::var_os(env).is_some());
            if on_command_line || in_environment {
                continue;
            }
            let bad = || ConfigError::BadValue {
                path: path.clone(),
                key: key.clone(),
            };
            // An array of tables (`[[modes]]`): one value of the flag per table, its keys as
            // `key=value,...`.
            if let toml::Value::Array(items) = value
                && !items.is_empty()
                && items.iter().all(toml::Value::is_table)
            {
                for item in items {
                    let text = item
                        .as_table()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| match v {
                            toml::Value::String(s) if !s.contains(',') => Ok(format!("{k}={s}")),
                            toml::Value::Integer(i) => Ok(format!("{k}={i}")),
                            toml::Value::Float(f) => Ok(format!("{k}={f}")),
                            toml::Value::Boolean(b) => Ok(format!("{k}={b}")),
                            _ => Err(bad()),
                        })
                        .collect::<Result<Vec<_>, _>>()?
                        .join(",");
                    argv.push(format!("--{name}={text}").into());
                }
                from_file.insert(id.to_string());
                continue;
            }
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) if !arg.get_action().takes_values() => {
                    // A switch: present or absent.
                    if *b {
                        argv.push(format!("--{name}").into());
                        from_file.insert(id.to_string());
                    }
                    continue;
                }
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Array(items) => items
                    .iter()
                    .map(|item| match item {
                        toml::Value::String(s) => Ok(s.clone()),
                        toml::Value::Integer(i) => Ok(i.to_string()),
                        toml::Value::Float(f) => Ok(f.to_string()),
                        _ => Err(bad()),
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .join(","),
                _ => return Err(bad()),
            };
            argv.push(format!("--{name}={text}").into());
            from_file.insert(id.to_string());
        }
    }
    let matches = command.clone().try_get_matches_from(&argv)?;
    let print = matches.get_flag("print_config");
    let effective = command
        .get_arguments()
        .filter(|a| a.get_long().is_some_and(|l| !OWN_FLAGS.contains(&l)))
        .map(|arg| {
            let id = arg.get_id().as_str();
            let value = matches.get_raw(id).map(|values| {
                // Joined as they would be given in the environment.
                let delimiter = arg.get_value_delimiter().unwrap_or(',').to_string();
                let joined = values
                    .map(OsStr::to_string_lossy)
                    .collect::<Vec<_>>()
                    .join(&delimiter);
                if arg.is_hide_env_values_set() {
                    "********".to_string()
                } else {
                    mask_url_password(&joined)
                }
            });
            let source = match matches.value_source(id) {
                Some(ValueSource::CommandLine) if from_file.contains(id) => "file",
                Some(ValueSource::CommandLine) => "cli",
                Some(ValueSource::EnvVariable) => "env",
                Some(ValueSource::DefaultValue) => "default",
                _ => "unset",
            };
            Setting {
                key: arg.get_long().unwrap_or(id).to_string(),
                value,
                source,
            }
        })
        .collect();
    let args = C::from_arg_matches(&matches)?;
    Ok(Loaded {
        args,
        print,
        effective,
    })
}

/// The effective configuration as TOML a `--config` file accepts, each line noting its source.
pub fn render(settings: &[Setting]) -> String {
    let mut out = String::new();
    for s in settings {
        match &s.value {
            Some(v) => {
                let _ = writeln!(out, "{} = {:?}  # {}", s.key, v, s.source);
            }
            None => {
                let _ = writeln!(out, "# {} is unset", s.key);
            }
        }
    }
    out
}

/// `--config PATH`, `--config=PATH`, or `RALLYPOINT_CONFIG`.
fn config_path(argv: &[OsString]) -> Option<PathBuf> {
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        let arg = arg.to_string_lossy();
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("RALLYPOINT_CONFIG").map(PathBuf::from)
}

fn known_keys(command: &clap::Command) -> String {
    command
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| !OWN_FLAGS.contains(l))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `redis://user:secret@host` → `redis://user:********@host`.
fn mask_url_password(value: &str) -> String {
    let Some(scheme_end) = value.find("://") else {
        return value.to_string();
    };
    let rest = &value[scheme_end + 3..];
    let Some(at) = rest.find('@') else {
        return value.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}://{}:********{}",
            &value[..scheme_end],
            &rest[..colon],
            &rest[at..]
        ),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Flags {
        #[arg(long, env = "RP_TEST_CFG_UNSET_REDIS")]
        redis: String,
        #[arg(long, env = "RP_TEST_CFG_UNSET_PLAYERS", default_value = "10")]
        players: usize,
        #[arg(long, env = "RP_TEST_CFG_UNSET_WAIT", default_value = "3s", value_parser = humantime::parse_duration)]
        wait: Duration,
        #[arg(long, env = "RP_TEST_CFG_UNSET_SECRET", hide_env_values = true)]
        secret: Option<String>,
        #[arg(long, env = "RP_TEST_CFG_UNSET_HISTORY")]
        history: bool,
        #[arg(long, env = "RP_TEST_CFG_UNSET_PATH")]
        config: Option<PathBuf>,
        #[arg(long)]
        print_config: bool,
    }

    /// A file in the temp directory, removed when dropped.
    struct TempFile(PathBuf);

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn file(text: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!(
            "rp-config-test-{}-{}.toml",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }

    fn argv(args: &[&str]) -> Vec<OsString> {
        std::iter::once("prog")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn a_file_supplies_flags_and_the_command_line_wins() {
        let f = file(
            "redis = \"redis://app:hunter2@10.0.0.5:6379\"\nplayers = 12\nwait = \"5s\"\nsecret = \"s3cret\"\nhistory = true\n",
        );
        let path = f.0.to_str().unwrap();
        let loaded = load::<Flags>(argv(&["--config", path, "--players", "8"])).unwrap();
        assert_eq!(loaded.args.redis, "redis://app:hunter2@10.0.0.5:6379");
        assert_eq!(
            loaded.args.players, 8,
            "the command line wins over the file"
        );
        assert_eq!(loaded.args.wait, Duration::from_secs(5));
        assert_eq!(loaded.args.secret.as_deref(), Some("s3cret"));
        assert!(loaded.args.history);
        let shown = render(&loaded.effective);
        assert!(shown.contains("players = \"8\"  # cli"), "{shown}");
        assert!(shown.contains("wait = \"5s\"  # file"), "{shown}");
        assert!(shown.contains("secret = \"********\"  # file"), "{shown}");
        assert!(
            shown.contains("redis = \"redis://app:********@10.0.0.5:6379\"  # file"),
            "{shown}"
        );
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn defaults_apply_where_nothing_is_given() {
        let loaded = load::<Flags>(argv(&["--redis", "redis://x", "--print-config"])).unwrap();
        assert!(loaded.print);
        let shown = render(&loaded.effective);
        assert!(shown.contains("players = \"10\"  # default"), "{shown}");
        assert!(shown.contains("# secret is unset"), "{shown}");
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let f = file("redis = \"x\"\nplayrs = 3\n");
        let err = load::<Flags>(argv(&["--config", f.0.to_str().unwrap()])).unwrap_err();
        assert!(
            matches!(&err, ConfigError::UnknownKey { key, known, .. } if key == "playrs" && known.contains("players")),
            "{err}"
        );
        let f = file("redis = [\n");
        let err = load::<Flags>(argv(&["--config", f.0.to_str().unwrap()])).unwrap_err();
        assert!(matches!(err, ConfigError::Toml { .. }), "{err}");
        let f = file("[redis]\nurl = \"x\"\n");
        let err = load::<Flags>(argv(&["--config", f.0.to_str().unwrap()])).unwrap_err();
        assert!(matches!(err, ConfigError::BadValue { .. }), "{err}");
        let err = load::<Flags>(argv(&["--config", "/nonexistent/rp.toml"])).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
        // A required flag missing everywhere is clap's error.
        let err = load::<Flags>(argv(&[])).unwrap_err();
        assert!(matches!(err, ConfigError::Flags(_)), "{err}");
        // A value the flag's parser refuses, from the file, is refused too.
        let f = file("redis = \"x\"\nwait = \"soon\"\n");
        assert!(load::<Flags>(argv(&["--config", f.0.to_str().unwrap()])).is_err());
    }

    #[test]
    fn a_programs_defaults_stand_below_the_command_line() {
        let argv = |args: &[&str]| -> Vec<OsString> {
            ["prog", "--redis", "r"]
                .iter()
                .chain(args)
                .map(OsString::from)
                .collect()
        };
        let defaults = [("players", "4"), ("wait", "1s")];
        let loaded = load_with_defaults::<Flags>(argv(&[]), &defaults).unwrap();
        assert_eq!(
            (loaded.args.players, loaded.args.wait),
            (4, Duration::from_secs(1))
        );
        let players = loaded
            .effective
            .iter()
            .find(|s| s.key == "players")
            .unwrap();
        assert_eq!(
            (players.value.as_deref(), players.source),
            (Some("4"), "default")
        );
        let loaded = load_with_defaults::<Flags>(argv(&["--players", "6"]), &defaults).unwrap();
        assert_eq!(loaded.args.players, 6, "the command line wins");
        assert!(matches!(
            load_with_defaults::<Flags>(argv(&[]), &[("seats", "4")]),
            Err(ConfigError::UnknownDefault(key)) if key == "seats"
        ));
    }
}
