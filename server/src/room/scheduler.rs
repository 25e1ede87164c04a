//! A small pool of worker threads that run room ticks by earliest deadline, and a watchdog.
//!
//! Rooms are many and cheap; threads are few (about one per core). Each room is one entry in a
//! deadline-ordered heap; a free worker takes the entry whose deadline is earliest once it is
//! due, runs one tick, and puts it back with its next deadline. A room is never in the heap
//! twice, so a slow room occupies at most one worker and the others keep serving everyone else.
//! A room that falls more than a period behind skips the missed ticks rather than bursting.
//!
//! The watchdog notices a worker whose tick has run past the hang timeout, tells the room
//! ([`Task::hung`]), retires the worker (it exits if its tick ever returns) and starts a
//! replacement, so the pool keeps its capacity. Rust cannot stop a thread: a truly infinite
//! loop keeps its thread (and a core) until the process ends; the room is released regardless.

use std::{
    cmp::{Ordering, Reverse},
    collections::BinaryHeap,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        Arc, Condvar, Mutex, MutexGuard, Weak,
        atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering},
    },
    thread,
    time::{Duration, Instant},
};

/// Something the pool ticks.
pub(crate) trait Task: Send + Sync + 'static {
    /// Runs one tick, `lateness` after its deadline. Returns whether to schedule it again.
    fn run(&self, lateness: Duration) -> bool;
    /// Time between two ticks.
    fn period(&self) -> Duration;
    /// The current tick has run past the hang timeout; its worker is being replaced. The task
    /// is scheduled again afterwards, so it can wind down without its stuck tick.
    fn hung(&self, running_for: Duration);
}

struct Entry {
    deadline: Instant,
    seq: u64,
    task: Arc<dyn Task>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

struct Worker {
    /// When the current tick started and whose it is.
    busy: Mutex<Option<(Instant, Arc<dyn Task>)>>,
    retired: AtomicBool,
}

struct State {
    queue: BinaryHeap<Reverse<Entry>>,
    workers: Vec<Arc<Worker>>,
    shutdown: bool,
}

struct Inner {
    state: Mutex<State>,
    wake: Condvar,
    seq: AtomicU64,
    hang_timeout: Duration,
    replaced: AtomicU64,
    /// Ticks skipped by tasks that fell more than a period behind.
    skipped: AtomicU64,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Only this module touches the state, and never panics while holding it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, state: &mut State, deadline: Instant, task: Arc<dyn Task>) {
        let seq = self.seq.fetch_add(1, AtomicOrdering::Relaxed);
        state.queue.push(Reverse(Entry {
            deadline,
            seq,
            task,
        }));
        // A sleeping worker sleeps until the earliest deadline it saw, so it needs waking only
        // when this entry is now the earliest. A room put back after its tick is due a period
        // later, behind the other rooms, and waking a worker for it would only put it back to
        // sleep: one wasted wake-up and context switch per room tick.
        if state
            .queue
            .peek()
            .is_some_and(|Reverse(top)| top.seq == seq)
        {
            self.wake.notify_one();
        }
    }
}

/// The worker pool. Dropping the last handle stops the workers after their current tick.
pub(crate) struct Scheduler {
    inner: Arc<Inner>,
}

impl Scheduler {
    /// Starts `workers` worker threads and the watchdog.
    pub(crate) fn new(workers: usize, hang_timeout: Duration) -> Self {
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                queue: BinaryHeap::new(),
                workers: Vec::new(),
                shutdown: false,
            }),
            wake: Condvar::new(),
            seq: AtomicU64::new(0),
            hang_timeout,
            replaced: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        });
        for _ in 0..workers.max(1) {
            spawn_worker(&inner);
        }
        let weak = Arc::downgrade(&inner);
        thread::Builder::new()
            .name("room-watchdog".into())
            .spawn(move || watchdog(weak))
            .expect("spawning the watchdog thread");
        Self { inner }
    }

    /// Schedules a task's first tick now.
    pub(crate) fn add(&self, task: Arc<dyn Task>) {
        let mut state = self.inner.lock();
        self.inner.push(&mut state, Instant::now(), task);
    }

    /// Workers replaced because their tick hung.
    pub(crate) fn workers_replaced(&self) -> u64 {
        self.inner.replaced.load(AtomicOrdering::Relaxed)
    }

    /// Ticks skipped because a task fell more than a period behind (an overloaded node).
    pub(crate) fn ticks_skipped(&self) -> u64 {
        self.inner.skipped.load(AtomicOrdering::Relaxed)
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.inner.lock().shutdown = true;
        self.inner.wake.notify_all();
    }
}

fn spawn_worker(inner: &Arc<Inner>) {
    let worker = Arc::new(Worker {
        busy: Mutex::new(None),
        retired: AtomicBool::new(false),
    });
    inner.lock().workers.push(worker.clone());
    let inner = inner.clone();
    thread::Builder::new()
        .name("room-worker".into())
        .spawn(move || work(&inner, &worker))
        .expect("spawning a room worker thread");
}

fn work(inner: &Inner, me: &Worker) {
    loop {
        let entry = {
            let mut state = inner.lock();
            loop {
                if state.shutdown || me.retired.load(AtomicOrdering::Relaxed) {
                    return;
                }
                let now = Instant::now();
                match state.queue.peek() {
                    Some(Reverse(top)) if top.deadline <= now => {
                        break state.queue.pop().expect("peeked").0;
                    }
                    Some(Reverse(top)) => {
                        let wait = top.deadline - now;
                        state = inner
                            .wake
                            .wait_timeout(state, wait)
                            .expect("not poisoned")
                            .0;
                    }
                    None => {
                        state = inner
                            .wake
                            .wait_timeout(state, Duration::from_millis(100))
                            .expect("not poisoned")
                            .0;
                    }
                }
            }
        };
        let started = Instant::now();
        let lateness = started.saturating_duration_since(entry.deadline);
        *me.busy.lock().unwrap_or_else(|p| p.into_inner()) = Some((started, entry.task.clone()));
        // Tasks contain their own panics; this is the last line, so a worker never dies.
        let again = catch_unwind(AssertUnwindSafe(|| entry.task.run(lateness))).unwrap_or(false);
        *me.busy.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if me.retired.load(AtomicOrdering::Relaxed) {
            // The watchdog gave this task to the pool again when it retired us.
            return;
        }
        if again {
            let period = entry.task.period();
            let now = Instant::now();
            let mut next = entry.deadline + period;
            if next + period < now {
                // More than a period behind: skip, don't burst.
                let behind = now.duration_since(next).as_nanos() / period.as_nanos().max(1);
                inner
                    .skipped
                    .fetch_add(behind as u64, AtomicOrdering::Relaxed);
                next = now;
            }
            let mut state = inner.lock();
            inner.push(&mut state, next, entry.task);
        }
    }
}

fn watchdog(inner: Weak<Inner>) {
    loop {
        thread::sleep(Duration::from_millis(50));
        let Some(inner) = inner.upgrade() else { return };
        if inner.lock().shutdown {
            return;
        }
        let workers = inner.lock().workers.clone();
        for worker in workers {
            let stuck = {
                let busy = worker.busy.lock().unwrap_or_else(|p| p.into_inner());
                busy.as_ref().and_then(|(since, task)| {
                    let running = since.elapsed();
                    (running > inner.hang_timeout).then(|| (running, task.clone()))
                })
            };
            let Some((running, task)) = stuck else {
                continue;
            };
            worker.retired.store(true, AtomicOrdering::Relaxed);
            inner.lock().workers.retain(|w| !Arc::ptr_eq(w, &worker));
            inner.replaced.fetch_add(1, AtomicOrdering::Relaxed);
            tracing::error!(
                ?running,
                "a room tick hung; releasing the room and replacing its worker"
            );
            task.hung(running);
            spawn_worker(&inner);
            let mut state = inner.lock();
            inner.push(&mut state, Instant::now(), task);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts its ticks and remembers when the first one ran.
    struct Probe {
        period: Duration,
        runs: AtomicU64,
        first: Mutex<Option<Instant>>,
    }

    impl Probe {
        fn new(period: Duration) -> Arc<Self> {
            Arc::new(Self {
                period,
                runs: AtomicU64::new(0),
                first: Mutex::new(None),
            })
        }
    }

    impl Task for Probe {
        fn run(&self, _lateness: Duration) -> bool {
            self.runs.fetch_add(1, AtomicOrdering::Relaxed);
            self.first.lock().unwrap().get_or_insert_with(Instant::now);
            true
        }
        fn period(&self) -> Duration {
            self.period
        }
        fn hung(&self, _running_for: Duration) {}
    }

    #[test]
    fn a_task_due_before_the_sleeping_workers_deadline_wakes_one() {
        let pool = Scheduler::new(1, Duration::from_secs(10));
        // Ticks once, then the only worker sleeps until its next tick, two seconds away.
        let slow = Probe::new(Duration::from_secs(2));
        pool.add(slow.clone());
        let deadline = Instant::now() + Duration::from_secs(1);
        while slow.runs.load(AtomicOrdering::Relaxed) == 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(slow.runs.load(AtomicOrdering::Relaxed), 1);
        thread::sleep(Duration::from_millis(50));
        // Due now, earlier than what the worker sleeps for: it must be woken, not found late.
        let fast = Probe::new(Duration::from_millis(10));
        let added = Instant::now();
        pool.add(fast.clone());
        let deadline = added + Duration::from_secs(1);
        while fast.runs.load(AtomicOrdering::Relaxed) < 5 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        let first = fast.first.lock().unwrap().expect("the new task ran");
        assert!(
            first - added < Duration::from_millis(500),
            "first tick {:?} after it was added",
            first - added
        );
        assert!(fast.runs.load(AtomicOrdering::Relaxed) >= 5);
        assert_eq!(
            slow.runs.load(AtomicOrdering::Relaxed),
            1,
            "the slow task keeps its period while the fast one ticks"
        );
    }
}
