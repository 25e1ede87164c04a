//! The `server` binary: the arena on the engine, embedded matchmaker + node on loopback by
//! default. A game of one's own has a binary just like it (see `server::run`).

use arena::ArenaArgs;

// Every room tick allocates and frees small buffers (messages, packets, per-client views);
// with the system allocator that was about a fifth of the server's CPU under load
// (BENCHMARKS.md, capacity).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    server::run(|args: &ArenaArgs| args.game()).await
}
