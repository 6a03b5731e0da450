//! What garbage collection of the castore needs from it: [`CollectLock`],
//! which keeps writes and a collection apart within a process, and
//! [`Stored`], one stored object (blob or directory) with its size and the
//! time it was last written.
//!
//! The rules a collector follows (see `store::gc`, which drives it) rest on
//! two facts the services guarantee:
//! - every write of an object, also one that finds it stored already,
//!   records the time of the write ([`Stored::written`]): a blob's file
//!   gets its modification time set, a directory its entry in a table of
//!   write times;
//! - writers hold [`CollectLock::writing`] while they write (a blob's
//!   close, a closure of directories, an add from its first blob to its path
//!   info), and the collector holds [`CollectLock::collecting`] for the
//!   whole collection, so no write happens between the collector's marking
//!   and its sweeping.

use std::cell::Cell;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::SystemTime;

use super::B3Digest;

/// One stored object: its digest, its size in bytes (a blob's length; a
/// directory's is 0) and when it was last written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub digest: B3Digest,
    pub size: u64,
    pub written: SystemTime,
}

/// The lock that keeps writers of a store and its garbage collector apart
/// within one process (between processes, the store's directory lock
/// does). Cheap to clone: clones share the lock.
#[derive(Clone, Default)]
pub struct CollectLock(Arc<RwLock<()>>);

thread_local! {
    /// How many [`WriteGuard`]s this thread holds: a nested
    /// [`CollectLock::writing`] takes nothing more, so that it cannot wait
    /// behind a waiting collector while this thread holds the lock.
    static WRITING: Cell<usize> = const { Cell::new(0) };
}

/// Held while writing; see [`CollectLock::writing`].
pub struct WriteGuard<'a> {
    _guard: Option<RwLockReadGuard<'a, ()>>,
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        WRITING.with(|w| w.set(w.get().saturating_sub(1)));
    }
}

impl CollectLock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Shared among writers; waits while a collection runs. A thread that
    /// holds one already gets a guard that takes nothing more.
    pub fn writing(&self) -> WriteGuard<'_> {
        let nested = WRITING.with(|w| {
            let n = w.get();
            w.set(n + 1);
            n > 0
        });
        let guard = if nested {
            None
        } else {
            // A poisoned lock guards no data: go on.
            Some(self.0.read().unwrap_or_else(|e| e.into_inner()))
        };
        WriteGuard { _guard: guard }
    }

    /// Exclusive: waits for the writers under way, and keeps new ones
    /// waiting until dropped.
    pub fn collecting(&self) -> RwLockWriteGuard<'_, ()> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Nanoseconds since the epoch, as write times are stored (big endian, so
/// that they sort).
pub(crate) fn encode_time(t: SystemTime) -> [u8; 8] {
    let n = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    n.to_be_bytes()
}

pub(crate) fn decode_time(b: &[u8]) -> SystemTime {
    let n = <[u8; 8]>::try_from(b).map(u64::from_be_bytes).unwrap_or(0);
    SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_writing_does_not_deadlock_behind_a_collector() {
        let lock = CollectLock::new();
        let outer = lock.writing();
        let l2 = lock.clone();
        let collector = std::thread::spawn(move || {
            let _c = l2.collecting();
        });
        // Give the collector time to queue up behind `outer`.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let inner = lock.writing();
        drop(inner);
        drop(outer);
        collector.join().expect("collector");
    }

    #[test]
    fn times_round_trip() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(1_234_567_890_123);
        assert_eq!(decode_time(&encode_time(t)), t);
    }
}
