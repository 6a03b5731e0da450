//! A hasher that runs on its own thread: writes are batched into buffers
//! and handed over a bounded channel, so reading the input (system calls,
//! copies) and hashing it overlap on two cores. Buffers are recycled, so
//! memory stays at a few batches whatever the input size.

use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use crate::hash::{Hash, HashAlgo, Hasher};

/// Size of one batch: small enough to stay in the L2 cache.
const BATCH: usize = 64 * 1024;
/// Batches in flight at once.
const IN_FLIGHT: usize = 8;

/// See the module documentation. Call [`PipelinedHasher::finish`] for the hash.
pub struct PipelinedHasher {
    current: Vec<u8>,
    to_worker: Option<SyncSender<Vec<u8>>>,
    recycled: Receiver<Vec<u8>>,
    worker: Option<JoinHandle<Hash>>,
}

impl PipelinedHasher {
    pub fn new(algo: HashAlgo) -> PipelinedHasher {
        let (to_worker, work) = sync_channel::<Vec<u8>>(IN_FLIGHT);
        let (give_back, recycled) = sync_channel::<Vec<u8>>(IN_FLIGHT + 1);
        let worker = std::thread::spawn(move || {
            let mut h = Hasher::new(algo);
            for mut buf in work {
                h.update(&buf);
                buf.clear();
                // The writer may be gone already; a lost buffer is harmless.
                let _ = give_back.try_send(buf);
            }
            h.finish()
        });
        PipelinedHasher {
            current: Vec::with_capacity(BATCH),
            to_worker: Some(to_worker),
            recycled,
            worker: Some(worker),
        }
    }

    fn ship(&mut self) -> io::Result<()> {
        let fresh = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let full = std::mem::replace(&mut self.current, fresh);
        let sender = self.to_worker.as_ref().ok_or_else(worker_gone)?;
        sender.send(full).map_err(|_| worker_gone())
    }

    /// Hashes what is still batched and returns the digest.
    pub fn finish(mut self) -> io::Result<Hash> {
        if !self.current.is_empty() {
            self.ship()?;
        }
        drop(self.to_worker.take());
        let worker = self.worker.take().ok_or_else(worker_gone)?;
        worker.join().map_err(|_| worker_gone())
    }
}

fn worker_gone() -> io::Error {
    io::Error::other("the hashing thread stopped unexpectedly")
}

impl Write for PipelinedHasher {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let n = data.len();
        while !data.is_empty() {
            let room = BATCH - self.current.len();
            let take = room.min(data.len());
            self.current.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.current.len() == BATCH {
                self.ship()?;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for PipelinedHasher {
    fn drop(&mut self) {
        // Unfinished: stop the worker and wait for it.
        drop(self.to_worker.take());
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_digest_as_the_plain_hasher() {
        let data: Vec<u8> = (0..1_000_003u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for algo in HashAlgo::ALL {
            let mut p = PipelinedHasher::new(algo);
            // Odd write sizes across batch boundaries.
            for chunk in data.chunks(9_999) {
                p.write_all(chunk).unwrap();
            }
            assert_eq!(p.finish().unwrap(), Hash::of_bytes(algo, &data));
        }
        assert_eq!(
            PipelinedHasher::new(HashAlgo::Sha256).finish().unwrap(),
            Hash::of_bytes(HashAlgo::Sha256, b"")
        );
    }
}
