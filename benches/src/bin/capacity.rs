//! Capacity: how many players one node serves at 30 Hz in 10-player arena rooms, and what each
//! costs.
//!
//! `cargo run --release -p benches --bin capacity [-- --steps 500,1000,1500 --hold 20s]`
//!
//! 1. A raw UDP echo (one `recv_from` and one `send_to` per datagram, on loopback) gives the
//!    machine's floor cost per datagram, measured on the echo thread's own CPU clock.
//! 2. A node (this binary re-run as `capacity serve`, the embedded server with the server
//!    binary's allocator) and the bots (this process) ramp through the steps. In each step's
//!    hold the node's own counters are read at the start and the end: CPU, ticks, skipped
//!    ticks, tick lag (deadline to done) histogram, datagrams and bytes, resident memory.
//! 3. A step passes when every player is connected, no tick was skipped and the 99th
//!    percentile of tick lag is within the tick's budget. The run stops after the first step
//!    that fails.
//!
//! The bots and the node share this machine's cores, so the highest passing step is a floor
//! set by the machine; the report says when the bots or the machine were saturated, and
//! `players_per_core` is extrapolated from the node's own CPU per player-second only, at the
//! highest passing step where the bots kept up (at least 95 % of the nominal two datagrams
//! per player-tick; a step where they fell behind sent fewer inputs and reads cheap). The
//! last line is for scripts:
//! `capacity: players_per_core=N cpu_us_per_player_s=X udp_baseline_ratio=R`.

use std::{
    net::{SocketAddr, TcpListener, UdpSocket},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use bots::{SwarmConfig, games::ArenaBot, run_swarm, scenario::Scenario, scenario::Stage};
use clap::{Parser, Subcommand};
use protocol::{
    MatchmakerClient,
    api::{Health, bucket_count_above, bucket_quantile},
};

// As the server binary and the bots binary do: the node must be measured with the allocator
// it ships with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    role: Option<Role>,
    /// Concurrent players at each step.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "500,1000,1500,2000,2500,3000"
    )]
    steps: Vec<usize>,
    /// How long each step holds its players (measured after a settling second).
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    hold: Duration,
    /// How long each ramp to the next step takes.
    #[arg(long, default_value = "6s", value_parser = humantime::parse_duration)]
    ramp: Duration,
    /// Room ticks per second.
    #[arg(long, default_value = "30")]
    tick_rate: u16,
    /// Bots' worker threads (0: one thread, the bots' own).
    #[arg(long, default_value = "0")]
    bot_threads: usize,
    /// How long the UDP echo baseline runs.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    baseline: Duration,
    /// Room worker threads on the node (default: one per core).
    #[arg(long)]
    node_workers: Option<usize>,
}

#[derive(Subcommand)]
enum Role {
    /// Runs the node (embedded server) with these server flags; used by the benchmark itself.
    #[command(hide = true)]
    Serve {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() {
    let args = Args::parse();
    if let Some(Role::Serve { args }) = args.role {
        serve(args);
        return;
    }
    let baseline = udp_echo_baseline(args.baseline);
    println!(
        "udp echo baseline: {:.2} us CPU per datagram ({} datagrams echoed on one thread)",
        baseline.us_per_datagram, baseline.echoed
    );
    let runtime = if args.bot_threads == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.bot_threads)
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    let summary = runtime.block_on(ramp(&args, baseline.us_per_datagram));
    summary.print(baseline.us_per_datagram);
}

fn serve(args: Vec<String>) {
    let mut argv = vec!["server".to_string()];
    argv.extend(args);
    let server_args = <server::config::ServerArgs as Parser>::parse_from(argv);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let server = server::EmbeddedServer::start(&server_args, arena::ArenaGame::default())
            .await
            .expect("node starts");
        // Runs until the benchmark kills this process.
        std::future::pending::<()>().await;
        drop(server);
    });
}

struct Baseline {
    us_per_datagram: f64,
    echoed: u64,
}

/// Echoes datagrams on one thread with one system call per datagram each way, and returns
/// that thread's CPU per datagram handled (a receive or a send).
fn udp_echo_baseline(duration: Duration) -> Baseline {
    let echo = UdpSocket::bind("127.0.0.1:0").expect("bind echo");
    echo.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let echo_addr = echo.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let echo_thread = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 1500];
            let mut echoed = 0u64;
            let cpu_start = thread_cpu();
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, from)) = echo.recv_from(&mut buf)
                    && echo.send_to(&buf[..n], from).is_ok()
                {
                    echoed += 1;
                }
            }
            (thread_cpu() - cpu_start, echoed)
        })
    };
    // One sender keeps a window of datagrams in flight, sized like a game packet.
    let client = UdpSocket::bind("127.0.0.1:0").expect("bind client");
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let payload = [0x42u8; 120];
    let mut buf = [0u8; 1500];
    let started = Instant::now();
    let window = 32;
    while started.elapsed() < duration {
        for _ in 0..window {
            let _ = client.send_to(&payload, echo_addr);
        }
        for _ in 0..window {
            if client.recv_from(&mut buf).is_err() {
                break;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (cpu, echoed) = echo_thread.join().expect("echo thread");
    Baseline {
        us_per_datagram: cpu.as_secs_f64() * 1e6 / (2 * echoed.max(1)) as f64,
        echoed,
    }
}

/// This thread's CPU time.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the one we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Busy and total jiffies of the whole machine (`/proc/stat`).
fn machine_cpu() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The node process; killed when dropped.
struct NodeProcess(Child);

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Step {
    target: usize,
    players: usize,
    rooms: usize,
    window_s: f64,
    cpu_us_per_player_s: f64,
    node_cores: f64,
    bots_cores: f64,
    machine_busy: f64,
    packets_per_s: f64,
    bytes_per_s: f64,
    us_per_datagram: f64,
    lag_p99_us: Option<u64>,
    over_budget: u64,
    ticks: u64,
    skipped: u64,
    rss_per_room: f64,
    rss_per_player: f64,
    passed: bool,
    why: String,
}

struct Summary {
    steps: Vec<Step>,
    cores: usize,
    budget_us: u64,
    tick_rate: u16,
}

/// Below this share of the nominal datagram rate the bots fell behind in a step (their players
/// sent fewer inputs than one per tick), and the node's cost per player-second reads low.
const FULL_RATE: f64 = 0.95;

async fn ramp(args: &Args, baseline_us: f64) -> Summary {
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let max_players = args.steps.iter().copied().max().unwrap_or(0);
    let rooms_needed = max_players / 10 + 10;
    // Below Linux's ephemeral range (32768 and up), where the bots' own sockets get their
    // ports, so a room never finds its port taken; offset by process so runs can overlap.
    let first_udp = 12_000 + (std::process::id() % 16) as u16 * 1_000;
    if usize::from(first_udp) + rooms_needed >= 32_768 {
        eprintln!(
            "error: {max_players} players need {rooms_needed} room ports, more than fit below \
             the ephemeral port range; use smaller --steps"
        );
        std::process::exit(2);
    }
    let run_length = (args.ramp + args.hold + Duration::from_secs(1)) * args.steps.len() as u32;
    let mut node_args = vec![
        "--http".to_string(),
        http.to_string(),
        "--udp-ports".into(),
        format!("{first_udp}-{}", first_udp as usize + rooms_needed),
        "--max-rooms".into(),
        rooms_needed.to_string(),
        "--tick-rate".into(),
        args.tick_rate.to_string(),
        "--match-duration".into(),
        format!("{}s", run_length.as_secs() + 600),
        "--no-backfill".into(),
        // Every bot queues from this one machine.
        "--ticket-rate-per-ip".into(),
        "0".into(),
    ];
    if let Some(w) = args.node_workers {
        node_args.extend(["--workers".into(), w.to_string()]);
    }
    let exe = std::env::current_exe().expect("own path");
    let _node = NodeProcess(
        Command::new(exe)
            .arg("serve")
            .args(&node_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the node"),
    );
    let url = format!("http://{http}");
    let mm = MatchmakerClient::new(&url);
    let health = async || mm.health().await.expect("node health");
    for _ in 0..100 {
        if mm.health().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let idle = health().await;
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let budget_us = 1_000_000 / u64::from(args.tick_rate.max(1));
    // The histogram bound at the budget (33,333 us at 30 Hz), so ticks over it are counted
    // exactly.
    let budget_bound = server::metrics::TICK_BUCKETS_US
        .iter()
        .copied()
        .find(|&bound| bound + 1 >= budget_us)
        .unwrap_or(u64::MAX);

    let mut scenario = Scenario::steady(max_players, Duration::from_secs(1));
    scenario.name = "capacity".into();
    scenario.grace = Duration::from_secs(5);
    scenario.stages = args
        .steps
        .iter()
        .flat_map(|&target| {
            [
                Stage {
                    duration: args.ramp,
                    target,
                },
                Stage {
                    duration: args.hold + Duration::from_secs(1),
                    target,
                },
            ]
        })
        .collect();
    let mut config = SwarmConfig::from_scenario(&url, scenario);
    config.threads = args.bot_threads.max(1);
    config.player_prefix = format!("cap{}", std::process::id());
    let swarm = tokio::spawn(run_swarm::<ArenaBot>(config));

    let started = Instant::now();
    let mut steps = Vec::new();
    let mut at = Duration::ZERO;
    for &target in &args.steps {
        at += args.ramp + Duration::from_secs(1);
        tokio::time::sleep_until((started + at).into()).await;
        let (a, bots_a, machine_a) = (health().await, protocol::process_cpu_time(), machine_cpu());
        let t0 = Instant::now();
        tokio::time::sleep(args.hold).await;
        let (b, bots_b, machine_b) = (health().await, protocol::process_cpu_time(), machine_cpu());
        at += args.hold;
        let window_s = t0.elapsed().as_secs_f64();
        let step = measure(
            target,
            (&a, &b, &idle),
            window_s,
            (bots_b - bots_a).as_secs_f64() / window_s,
            (machine_b.0 - machine_a.0) as f64 / (machine_b.1 - machine_a.1).max(1) as f64,
            budget_bound,
            baseline_us,
        );
        step.print(cores, args.tick_rate);
        let passed = step.passed;
        steps.push(step);
        if !passed {
            break;
        }
    }
    swarm.abort();
    Summary {
        steps,
        cores,
        budget_us: budget_bound,
        tick_rate: args.tick_rate,
    }
}

fn measure(
    target: usize,
    (a, b, idle): (&Health, &Health, &Health),
    window_s: f64,
    bots_cores: f64,
    machine_busy: f64,
    budget_us: u64,
    baseline_us: f64,
) -> Step {
    let players = b.players.min(a.players);
    let cpu_us = (b.cpu_ms - a.cpu_ms) as f64 * 1000.0;
    let datagrams = (b.packets_in + b.packets_out - a.packets_in - a.packets_out) as f64;
    let skipped = b.ticks_skipped - a.ticks_skipped;
    let over_budget = bucket_count_above(&a.tick_lag_us, &b.tick_lag_us, budget_us);
    let ticks = b.ticks - a.ticks;
    let lag_p99_us = bucket_quantile(&a.tick_lag_us, &b.tick_lag_us, 0.99);
    let rss_growth = b.rss_bytes.saturating_sub(idle.rss_bytes) as f64;
    let mut why = Vec::new();
    if players < target {
        why.push(format!("{players} of {target} players connected"));
    }
    if skipped > 0 {
        why.push(format!("{skipped} ticks skipped"));
    }
    // p99 within budget: at most 1 % of the window's ticks over it.
    if over_budget * 100 > ticks {
        why.push(format!(
            "{over_budget} of {ticks} ticks ended past the budget"
        ));
    }
    Step {
        target,
        players,
        rooms: b.rooms,
        window_s,
        cpu_us_per_player_s: cpu_us / window_s / players.max(1) as f64,
        node_cores: cpu_us / 1e6 / window_s,
        bots_cores,
        machine_busy,
        packets_per_s: datagrams / window_s,
        bytes_per_s: (b.bytes_in + b.bytes_out - a.bytes_in - a.bytes_out) as f64 / window_s,
        us_per_datagram: cpu_us / datagrams.max(1.0),
        lag_p99_us,
        over_budget,
        ticks,
        skipped,
        rss_per_room: rss_growth / b.rooms.max(1) as f64,
        rss_per_player: rss_growth / players.max(1) as f64,
        passed: why.is_empty(),
        why: if why.is_empty() {
            format!(
                "ok ({:.2}x the UDP echo per datagram)",
                cpu_us / datagrams.max(1.0) / baseline_us
            )
        } else {
            why.join(", ")
        },
    }
}

impl Step {
    /// Datagrams per player-second over the nominal two per player-tick (an input bundle in, a
    /// snapshot out).
    fn rate_share(&self, tick_rate: u16) -> f64 {
        self.packets_per_s / self.players.max(1) as f64 / (2.0 * f64::from(tick_rate.max(1)))
    }

    fn print(&self, cores: usize, tick_rate: u16) {
        println!(
            "step {:>5}: {:>5} players in {:>4} rooms | node {:.2} cores, {:.0} us/player-s, {:.2} us/datagram | \
             bots {:.2} cores | machine {:.0} % of {cores} cores | {:.0} datagrams/s ({:.0} % of nominal), {:.0} KB/s | \
             tick lag p99 <= {} us, {} over budget, {} skipped of {} | rss {:.0} KB/room, {:.1} KB/player | {}",
            self.target,
            self.players,
            self.rooms,
            self.node_cores,
            self.cpu_us_per_player_s,
            self.us_per_datagram,
            self.bots_cores,
            self.machine_busy * 100.0,
            self.packets_per_s,
            self.rate_share(tick_rate) * 100.0,
            self.bytes_per_s / 1000.0,
            self.lag_p99_us.map_or("-".into(), |v| v.to_string()),
            self.over_budget,
            self.skipped,
            self.ticks,
            self.rss_per_room / 1024.0,
            self.rss_per_player / 1024.0,
            self.why,
        );
    }
}

impl Summary {
    fn print(&self, baseline_us: f64) {
        let passing: Vec<&Step> = self.steps.iter().filter(|s| s.passed).collect();
        let Some(best) = passing.iter().max_by_key(|s| s.players) else {
            println!("no step passed: nothing to extrapolate from");
            println!("capacity: players_per_core=0 cpu_us_per_player_s=NaN udp_baseline_ratio=NaN");
            return;
        };
        let failed = self.steps.iter().find(|s| !s.passed);
        // Past ~85 % of the machine, a tick's lateness is the machine's (both processes and
        // whatever else runs) as much as the node's.
        let bots_bound = |s: &Step| s.bots_cores > 0.85 || s.machine_busy > 0.85;
        println!(
            "highest passing step: {} players (window {:.0} s, tick budget {} us)",
            best.players, best.window_s, self.budget_us
        );
        match failed {
            Some(f) if bots_bound(f) => println!(
                "the next step failed ({}) with the machine saturated (bots {:.2} cores, machine {:.0} % of {} cores): \
                 the limit measured here is this machine running both, not the node",
                f.why,
                f.bots_cores,
                f.machine_busy * 100.0,
                self.cores
            ),
            Some(f) => println!("the next step failed on the node: {}", f.why),
            None if bots_bound(best) => println!(
                "every step passed; the last ran with the machine saturated, so higher steps would measure the bots"
            ),
            None => println!("every step passed; add higher steps to find the node's limit"),
        }
        // A step whose bots fell behind sent the node fewer inputs per player: its cost per
        // player-second reads low, so the extrapolation comes from the highest passing step at
        // the full rate.
        let full_rate = |s: &&&Step| s.rate_share(self.tick_rate) >= FULL_RATE;
        let basis = passing
            .iter()
            .filter(full_rate)
            .max_by_key(|s| s.players)
            .unwrap_or(best);
        if !full_rate(&best) {
            println!(
                "at {} players the bots kept {:.0} % of the nominal datagram rate (they fell behind), which flatters \
                 the node's cost per player; extrapolating from {} players instead",
                best.players,
                best.rate_share(self.tick_rate) * 100.0,
                basis.players
            );
        }
        let per_player = basis.cpu_us_per_player_s;
        let players_per_core = (1e6 / per_player).floor();
        println!(
            "extrapolated from the node's own CPU at {} players: {:.0} us per player-second -> {players_per_core} players per core \
             (a core's worth of CPU per second, spent the way this step spent it)",
            basis.players, per_player
        );
        println!(
            "capacity: players_per_core={players_per_core} cpu_us_per_player_s={per_player:.0} udp_baseline_ratio={:.2}",
            basis.us_per_datagram / baseline_us
        );
    }
}
