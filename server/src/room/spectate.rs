//! A room's spectator feed: the latest [`SpectatorFrame`], made only while someone watches.
//!
//! The room never waits for a spectator: every other tick, if anyone watches, it puts a fresh
//! frame in the slot (replacing the last), and each watcher reads the slot at its own pace.
//! A slow watcher misses frames; it cannot slow the room.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use protocol::api::SpectatorFrame;

/// Most watchers of one room at once.
pub const MAX_SPECTATORS_PER_ROOM: usize = 8;

/// Ticks between frames: 15 frames per second at 30 Hz is smooth enough for a top-down view.
const FRAME_EVERY: u32 = 2;

/// Watchers and the latest frame.
#[derive(Debug, Default)]
pub struct SpectatorFeed {
    watchers: AtomicUsize,
    frame: Mutex<Option<Arc<SpectatorFrame>>>,
}

/// The room has as many watchers as it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the room has {MAX_SPECTATORS_PER_ROOM} spectators already")]
pub struct TooManySpectators;

/// One watcher; dropping it stops counting it.
#[derive(Debug)]
pub struct Watching<'a>(&'a SpectatorFeed);

impl Drop for Watching<'_> {
    fn drop(&mut self) {
        self.0.watchers.fetch_sub(1, Ordering::SeqCst);
    }
}

impl SpectatorFeed {
    /// Starts watching, within [`MAX_SPECTATORS_PER_ROOM`].
    pub fn watch(&self) -> Result<Watching<'_>, TooManySpectators> {
        self.watchers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < MAX_SPECTATORS_PER_ROOM).then_some(n + 1)
            })
            .map(|_| Watching(self))
            .map_err(|_| TooManySpectators)
    }

    /// Watchers now.
    pub fn watchers(&self) -> usize {
        self.watchers.load(Ordering::Relaxed)
    }

    /// The newest frame, if any was made.
    pub fn latest(&self) -> Option<Arc<SpectatorFrame>> {
        self.slot().clone()
    }

    /// Whether the room should make a frame for `tick`.
    pub(crate) fn wants_frame(&self, tick: u32) -> bool {
        tick.is_multiple_of(FRAME_EVERY) && self.watchers() > 0
    }

    pub(crate) fn publish(&self, frame: SpectatorFrame) {
        *self.slot() = Some(Arc::new(frame));
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<SpectatorFrame>>> {
        self.frame.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchers_are_counted_and_capped_and_frames_wanted_only_while_watched() {
        let feed = SpectatorFeed::default();
        assert!(!feed.wants_frame(2));
        let watching: Vec<_> = (0..MAX_SPECTATORS_PER_ROOM)
            .map(|_| feed.watch().unwrap())
            .collect();
        assert_eq!(feed.watch().unwrap_err(), TooManySpectators);
        assert!(feed.wants_frame(2));
        assert!(!feed.wants_frame(3));
        drop(watching);
        assert_eq!(feed.watchers(), 0);
        assert!(feed.watch().is_ok());
    }
}
