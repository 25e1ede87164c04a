//! The run's timeline: once a second, what the bots are doing, this second's latencies, and
//! the server's own view of the load; optionally a progress line on the terminal.

use std::{sync::Arc, time::Duration};

use protocol::MatchmakerClient;
use tokio::{task::JoinHandle, time::Instant};

use crate::{Control, Recorder, Sample, ServerSample, SwarmConfig};

/// Samples until aborted.
pub(crate) async fn sample(
    config: Arc<SwarmConfig>,
    recorder: Arc<Recorder>,
    control: Arc<Control>,
    started: Instant,
) {
    let server = config.server.as_deref().map(MatchmakerClient::new);
    let mut tick =
        tokio::time::interval_at(started + Duration::from_secs(1), Duration::from_secs(1));
    loop {
        tick.tick().await;
        let (queued, playing) = control.counts();
        let server = match &server {
            Some(client) => server_view(client).await,
            None => None,
        };
        let sample = recorder.push_sample(Sample {
            t_s: started.elapsed().as_secs_f64(),
            target: *control.target.borrow(),
            queued,
            playing,
            server,
            ..Sample::default()
        });
        if config.progress {
            eprint!("\r{}", progress_line(&sample));
        }
    }
}

/// Stops the sampler (ending the progress line).
pub(crate) async fn finish(sampler: JoinHandle<()>, progress: bool) {
    sampler.abort();
    let _ = sampler.await;
    if progress {
        eprintln!();
    }
}

/// The server's `/v1/health` and `/v1/rooms`, or nothing if it does not answer promptly.
async fn server_view(client: &MatchmakerClient) -> Option<ServerSample> {
    let limit = Duration::from_millis(500);
    let health = tokio::time::timeout(limit, client.health())
        .await
        .ok()?
        .ok()?;
    let rooms = tokio::time::timeout(limit, client.rooms())
        .await
        .ok()?
        .ok()?;
    Some(ServerSample {
        players: health.players,
        rooms: health.rooms,
        tick_p99_us: rooms.iter().map(|r| r.tick_p99_us).max().unwrap_or(0),
        cpu_ms: health.cpu_ms,
        rss_bytes: health.rss_bytes,
    })
}

fn progress_line(s: &Sample) -> String {
    let server = s.server.as_ref().map_or(String::new(), |v| {
        format!(
            " | server: {} players, {} rooms, tick p99 {:.1} ms",
            v.players,
            v.rooms,
            v.tick_p99_us as f64 / 1000.0
        )
    });
    format!(
        "[{:>5.0}s] bots {:>5}/{:<5} queued {:>5} playing {:>5} matches {:>5} rtt p99 {:>5.0} ms match p99 {:>6.0} ms errors {}{server}   ",
        s.t_s,
        s.queued + s.playing,
        s.target,
        s.queued,
        s.playing,
        s.matches_completed,
        s.rtt_p99_ms,
        s.time_to_match_p99_ms,
        s.errors,
    )
}
