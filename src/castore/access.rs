//! What a server knows of the client behind a call ([`Client`]: who it
//! is, whether it is trusted) and the limits it serves every client
//! under ([`Limits`], [`Uploads`]). The daemon (`store::daemon`) decides
//! who a connection's client is and puts a [`Client`] into each request's
//! extensions; the servers of [`super::grpc`] and `store::grpc` read it
//! with [`client_of`]. A request without one (a server used outside the
//! daemon) counts as an untrusted, anonymous client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tonic::{Status, Streaming};

/// The client of a call, as the daemon authenticated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Who, for messages and for the per-client limits: `user NAME`
    /// (`uid N` when the user has no name), `token` or `anonymous`.
    pub who: String,
    /// Whether it may register what the server cannot verify (C++ Nix's
    /// trusted users) and delete paths.
    pub trusted: bool,
}

impl Client {
    /// A client nobody vouched for.
    pub fn anonymous() -> Client {
        Client {
            who: "anonymous".into(),
            trusted: false,
        }
    }
}

/// The client of a request: the [`Client`] the daemon put into its
/// extensions, or an anonymous untrusted one.
pub fn client_of<T>(req: &tonic::Request<T>) -> Client {
    req.extensions()
        .get::<Client>()
        .cloned()
        .unwrap_or_else(Client::anonymous)
}

/// What the servers allow one call and one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest wait for the next message of a client's stream.
    pub idle_timeout: Duration,
    /// Longest a call may take from start to end.
    pub call_timeout: Duration,
    /// Uploads (blob and directory `Put` streams) in progress at once, all
    /// clients together.
    pub max_uploads: usize,
    /// Uploads in progress at once for one client (per user, or for the
    /// token's holders together).
    pub max_uploads_per_client: usize,
    /// Largest message either side accepts.
    pub max_message_size: usize,
    /// Most entries one directory may have.
    pub max_directory_entries: usize,
    /// Most directories one closure `Put` may carry.
    pub max_closure: usize,
    /// Most signatures one path info may carry, and the longest one.
    pub max_signatures: usize,
    pub max_signature_len: usize,
    /// Streams one connection may have open at once (HTTP/2).
    pub max_streams_per_connection: u32,
    /// Connections open at once, all clients together, and for one client
    /// (one user; over TCP with a token, one peer address): more are
    /// closed as they come.
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    /// Pieces of the backend's work (on its thread pool) one client may
    /// have running or queued at once; more wait, holding no thread, so
    /// one client's expensive calls leave threads for others.
    pub max_busy_per_client: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle_timeout: Duration::from_secs(60),
            call_timeout: Duration::from_secs(3600),
            max_uploads: 512,
            max_uploads_per_client: 128,
            max_message_size: super::grpc::MAX_MESSAGE_SIZE,
            max_directory_entries: 1 << 20,
            max_closure: super::grpc::MAX_CLOSURE,
            max_signatures: 64,
            max_signature_len: 1024,
            max_streams_per_connection: 256,
            max_connections: 1024,
            max_connections_per_client: 128,
            max_busy_per_client: 8,
        }
    }
}

/// Counts the uploads in progress, in total and per client; shared by
/// the blob and directory servers of one daemon.
#[derive(Clone, Default)]
pub struct Uploads {
    state: Arc<Mutex<UploadCounts>>,
}

#[derive(Default)]
struct UploadCounts {
    total: usize,
    per_client: HashMap<String, usize>,
}

/// One upload slot, given back when dropped.
pub struct UploadSlot {
    uploads: Uploads,
    who: String,
}

impl Uploads {
    pub fn new() -> Self {
        Self::default()
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, UploadCounts> {
        // A poisoned lock: the counts are still counts.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for `client`'s upload, or RESOURCE_EXHAUSTED at once when
    /// the client or everyone together has the most allowed in progress
    /// (so a client holding many open streams fails its own uploads, not
    /// those of others).
    pub fn acquire(&self, client: &Client, limits: &Limits) -> Result<UploadSlot, Status> {
        let mut c = self.counts();
        let mine = c.per_client.get(&client.who).copied().unwrap_or(0);
        if mine >= limits.max_uploads_per_client {
            return Err(Status::resource_exhausted(format!(
                "{} has {mine} uploads in progress, the most allowed (--max-uploads-per-client)",
                client.who
            )));
        }
        if c.total >= limits.max_uploads {
            return Err(Status::resource_exhausted(format!(
                "the daemon has {} uploads in progress, the most allowed (--max-uploads)",
                c.total
            )));
        }
        c.total += 1;
        *c.per_client.entry(client.who.clone()).or_default() += 1;
        Ok(UploadSlot {
            uploads: self.clone(),
            who: client.who.clone(),
        })
    }

    /// Uploads in progress.
    pub fn in_progress(&self) -> usize {
        self.counts().total
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut c = self.uploads.counts();
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_client.get_mut(&self.who) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_client.remove(&self.who);
            }
        }
    }
}

/// Runs the backend's work for clients on tokio's blocking pool, at most
/// [`Limits::max_busy_per_client`] pieces of one client's at a time;
/// shared by a daemon's servers.
#[derive(Clone, Default)]
pub struct Busy {
    per_client: Arc<Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>>,
}

impl Busy {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` for `client` on the blocking pool, waiting (on the
    /// runtime) while the client has the most allowed under way.
    pub async fn run<T: Send + 'static>(
        &self,
        client: &Client,
        limits: &Limits,
        f: impl FnOnce() -> Result<T, Status> + Send + 'static,
    ) -> Result<T, Status> {
        let sem = {
            let mut m = self.per_client.lock().unwrap_or_else(|e| e.into_inner());
            m.entry(client.who.clone())
                .or_insert_with(|| {
                    Arc::new(tokio::sync::Semaphore::new(
                        limits.max_busy_per_client.max(1),
                    ))
                })
                .clone()
        };
        let _permit = sem
            .acquire_owned()
            .await
            .map_err(|_| Status::unavailable("the daemon is shutting down"))?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| Status::internal(format!("server task failed: {e}")))?
    }
}

/// The next message of a client's stream, waiting at most the idle
/// timeout and never past `deadline`: DEADLINE_EXCEEDED otherwise. Waits
/// on the runtime, holding no thread.
pub async fn next_message<T>(
    stream: &mut Streaming<T>,
    limits: &Limits,
    deadline: Instant,
) -> Result<Option<T>, Status> {
    let now = Instant::now();
    let left = deadline.saturating_duration_since(now);
    if left.is_zero() {
        return Err(call_too_long(limits));
    }
    let wait = limits.idle_timeout.min(left);
    match tokio::time::timeout(wait, stream.message()).await {
        Ok(m) => m,
        Err(_) if wait < limits.idle_timeout => Err(call_too_long(limits)),
        Err(_) => Err(Status::deadline_exceeded(format!(
            "no message from the client for {} s (--idle-timeout)",
            limits.idle_timeout.as_secs()
        ))),
    }
}

fn call_too_long(limits: &Limits) -> Status {
    Status::deadline_exceeded(format!(
        "the call took longer than {} s (--call-timeout)",
        limits.call_timeout.as_secs()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_slots_are_bounded_per_client_and_in_total() {
        let limits = Limits {
            max_uploads: 3,
            max_uploads_per_client: 2,
            ..Limits::default()
        };
        let u = Uploads::new();
        let a = Client {
            who: "user a".into(),
            trusted: false,
        };
        let b = Client {
            who: "user b".into(),
            trusted: false,
        };
        let a1 = u.acquire(&a, &limits).expect("a1");
        let _a2 = u.acquire(&a, &limits).expect("a2");
        let e = u.acquire(&a, &limits).err().expect("a3 refused");
        assert_eq!(e.code(), tonic::Code::ResourceExhausted);
        let _b1 = u.acquire(&b, &limits).expect("b1");
        let e = u.acquire(&b, &limits).err().expect("total reached");
        assert_eq!(e.code(), tonic::Code::ResourceExhausted);
        drop(a1);
        assert_eq!(u.in_progress(), 2);
        let _b2 = u.acquire(&b, &limits).expect("b2 after a1 went");
    }

    #[test]
    fn a_busy_client_waits_for_itself_not_others() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let limits = Limits {
            max_busy_per_client: 1,
            ..Limits::default()
        };
        let busy = Busy::new();
        let a = Client {
            who: "user a".into(),
            trusted: false,
        };
        let b = Client {
            who: "user b".into(),
            trusted: false,
        };
        rt.block_on(async {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            // a's first piece of work blocks until told to end.
            let (busy2, a2, l2) = (busy.clone(), a.clone(), limits.clone());
            let first = tokio::spawn(async move {
                busy2
                    .run(&a2, &l2, move || {
                        let _ = rx.recv();
                        Ok(())
                    })
                    .await
            });
            tokio::time::sleep(Duration::from_millis(50)).await;
            // a's second waits; b's runs.
            let second = busy.run(&a, &limits, || Ok(()));
            let second = tokio::time::timeout(Duration::from_millis(100), second).await;
            assert!(second.is_err(), "a's second piece ran beside its first");
            busy.run(&b, &limits, || Ok(())).await.expect("b runs");
            let _ = tx.send(());
            first.await.expect("join").expect("first");
            busy.run(&a, &limits, || Ok(())).await.expect("a again");
        });
    }
}
