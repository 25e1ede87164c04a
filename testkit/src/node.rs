//! A node of a game's server binary as a child process, for cluster tests that kill, drain
//! and replace nodes for real.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use protocol::api::RoomSummary;

use crate::{free_port, wait_for_port};

/// A `<binary> --role node` child process, killed on drop.
pub struct NodeProcess {
    /// The process.
    pub child: Child,
    /// Its HTTP API.
    pub url: String,
}

impl NodeProcess {
    /// Starts `binary` (a game's server binary, e.g. `env!("CARGO_BIN_EXE_server")`) as a
    /// node on `redis` with the cluster `secret`, rooms on any free UDP ports, and `extra`
    /// flags; returns once its HTTP port accepts connections.
    pub fn start(binary: impl AsRef<Path>, redis: &str, secret: &str, extra: &[&str]) -> Self {
        let port = free_port();
        let binary = binary.as_ref();
        let child = Command::new(binary)
            .args([
                "--role",
                "node",
                "--redis",
                redis,
                "--cluster-secret",
                secret,
                "--http",
                &format!("127.0.0.1:{port}"),
                "--udp-ports",
                "0",
            ])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} runs: {e}", binary.display()));
        wait_for_port(port);
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Its rooms (none once it has stopped).
    pub async fn rooms(&self) -> Vec<RoomSummary> {
        match reqwest::get(format!("{}/v1/rooms", self.url)).await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => Vec::new(), // stopped
        }
    }

    /// Its rooms whose match is running.
    pub async fn running(&self) -> usize {
        self.rooms()
            .await
            .iter()
            .filter(|r| r.phase == "running")
            .count()
    }

    /// Waits (bounded by `limit`) until its `/v1/ready` answers 200.
    pub async fn until_ready(&self, limit: Duration) {
        let started = Instant::now();
        while reqwest::get(format!("{}/v1/ready", self.url))
            .await
            .map_or(true, |r| r.status() != 200)
        {
            assert!(started.elapsed() < limit, "never ready within {limit:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends it a signal (`"-TERM"`, `"-KILL"`) with `kill`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (bounded by `limit`) for it to exit after a signal.
    pub async fn exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "the node did not exit within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
