//! A real `redis-server` for a test.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
};

use crate::{free_port, wait_for_port};

/// A `redis-server` child process on a free loopback port, killed on drop.
pub struct RedisServer {
    child: Child,
    /// `redis://127.0.0.1:PORT`.
    pub url: String,
    /// Its port (stays the same across [`RedisServer::restart`]).
    pub port: u16,
    args: Vec<String>,
}

impl RedisServer {
    /// Nothing persisted: a kill loses everything.
    pub fn start() -> Self {
        Self::spawn(free_port(), &["--save", "", "--appendonly", "no"])
    }

    /// Every write synced to an append-only file in `dir` before it is acknowledged, so a
    /// [`RedisServer::restart`] after a kill loses nothing.
    pub fn start_persistent(dir: &Path) -> Self {
        let dir = dir.to_str().expect("a UTF-8 temporary directory");
        Self::spawn(
            free_port(),
            &[
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                dir,
            ],
        )
    }

    /// Kills the process (SIGKILL); [`RedisServer::restart`] brings it back.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the process (SIGKILL) if it runs and starts it again on the same port with the
    /// same flags.
    pub fn restart(&mut self) {
        self.stop();
        let args: Vec<String> = std::mem::take(&mut self.args);
        *self = Self::spawn(
            self.port,
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }

    fn spawn(port: u16, extra: &[&str]) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (.ci/run installs it)");
        wait_for_port(port);
        Self {
            child,
            url: format!("redis://127.0.0.1:{port}"),
            port,
            args: extra.iter().map(|a| a.to_string()).collect(),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
