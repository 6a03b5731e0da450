//! The store daemon: serves a [`Store`]'s three services over gRPC on a TCP
//! address or a unix socket ([`Listen`]), on a tokio runtime of its own.
//! [`Daemon::start`] returns once the listener is bound, so a caller (the
//! `oxnix store daemon` command, or a test) can connect at once; the
//! daemon shuts down gracefully on [`Daemon::stop`] or drop, and removes
//! its socket.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};

use super::grpc::PathInfoServer;
use super::{Store, StoreAddress, StoreError};
use crate::castore::grpc::{BlobServer, DirectoryServer};

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// `HOST:PORT` or `grpc+http://HOST:PORT` (port 0: any free port).
    Tcp(String),
    /// `grpc+unix:///ABSOLUTE/PATH`.
    Unix(PathBuf),
}

impl Listen {
    pub fn parse(s: &str) -> Result<Listen, StoreError> {
        let bad = || StoreError::BadListen(s.to_owned());
        if let Some(p) = s.strip_prefix("grpc+unix://") {
            if !p.starts_with('/') {
                return Err(bad());
            }
            return Ok(Listen::Unix(PathBuf::from(p)));
        }
        let hp = s.strip_prefix("grpc+http://").unwrap_or(s);
        let hp = hp.strip_suffix('/').unwrap_or(hp);
        // HOST:PORT with a numeric port; the host may be a name.
        match hp.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(Listen::Tcp(hp.to_owned()))
            }
            _ => Err(bad()),
        }
    }
}

/// How long [`Daemon::stop`] lets calls under way finish.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// A running daemon.
pub struct Daemon {
    rt: Option<Runtime>,
    address: StoreAddress,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), tonic::transport::Error>>>,
    socket: Option<PathBuf>,
}

fn io_err(context: String) -> impl FnOnce(io::Error) -> StoreError {
    move |source| StoreError::Io { context, source }
}

/// Binds a unix socket, replacing a stale one (a socket file nobody
/// listens on any more).
fn bind_unix(path: &Path) -> Result<tokio::net::UnixListener, StoreError> {
    let ctx = || format!("listening on '{}'", path.display());
    match tokio::net::UnixListener::bind(path) {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            match std::os::unix::net::UnixStream::connect(path) {
                Err(c) if c.kind() == io::ErrorKind::ConnectionRefused => {
                    std::fs::remove_file(path).map_err(io_err(ctx()))?;
                    tokio::net::UnixListener::bind(path).map_err(io_err(ctx()))
                }
                _ => Err(io_err(ctx())(e)),
            }
        }
        Err(e) => Err(io_err(ctx())(e)),
    }
}

impl Daemon {
    /// Binds `listen` and serves `store` in the background.
    pub fn start(store: &Store, listen: &Listen) -> Result<Daemon, StoreError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("oxnix-daemon")
            .enable_all()
            .build()
            .map_err(io_err("starting the daemon's runtime".into()))?;
        let router = tonic::transport::Server::builder()
            .add_service(
                BlobServer::new(store.blobs.clone())
                    .with_lock(store.collect_lock.clone())
                    .service(),
            )
            .add_service(
                DirectoryServer::new(store.directories.clone())
                    .with_lock(store.collect_lock.clone())
                    .service(),
            )
            .add_service(
                PathInfoServer::new(
                    store.path_infos.clone(),
                    store.blobs.clone(),
                    store.directories.clone(),
                )
                .with_lock(store.collect_lock.clone())
                .service(),
            );
        let (tx, rx) = oneshot::channel::<()>();
        let signal = async {
            let _ = rx.await;
        };
        let (address, socket, task) = match listen {
            Listen::Tcp(hp) => {
                let listener = rt
                    .block_on(tokio::net::TcpListener::bind(hp.as_str()))
                    .map_err(io_err(format!("listening on '{hp}'")))?;
                let local: SocketAddr = listener
                    .local_addr()
                    .map_err(io_err(format!("listening on '{hp}'")))?;
                let incoming = TcpListenerStream::new(listener);
                let task = rt.spawn(router.serve_with_incoming_shutdown(incoming, signal));
                (StoreAddress::GrpcHttp(local.to_string()), None, task)
            }
            Listen::Unix(path) => {
                let listener = {
                    let _guard = rt.enter();
                    bind_unix(path)?
                };
                let incoming = UnixListenerStream::new(listener);
                let task = rt.spawn(router.serve_with_incoming_shutdown(incoming, signal));
                (
                    StoreAddress::GrpcUnix(path.clone()),
                    Some(path.clone()),
                    task,
                )
            }
        };
        Ok(Daemon {
            rt: Some(rt),
            address,
            shutdown: Some(tx),
            task: Some(task),
            socket,
        })
    }

    /// The address clients use (with the port actually bound).
    pub fn address(&self) -> &StoreAddress {
        &self.address
    }

    /// Blocks until SIGINT or SIGTERM arrives (or the server fails).
    pub fn wait_for_signal(&mut self) -> Result<(), StoreError> {
        let (Some(rt), Some(task)) = (&self.rt, &mut self.task) else {
            return Ok(());
        };
        let (finished, result) = rt.block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            let signals = signal(SignalKind::terminate())
                .and_then(|t| signal(SignalKind::interrupt()).map(|i| (t, i)));
            let (mut term, mut int) = match signals {
                Ok(s) => s,
                Err(e) => return (false, Err(io_err("waiting for signals".into())(e))),
            };
            tokio::select! {
                _ = term.recv() => (false, Ok(())),
                _ = int.recv() => (false, Ok(())),
                r = task => (true, match r {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(StoreError::Serve(e.to_string())),
                    Err(e) => Err(StoreError::Serve(e.to_string())),
                }),
            }
        });
        if finished {
            self.task = None;
        }
        result
    }

    /// Stops serving (letting calls under way finish) and removes the
    /// socket.
    pub fn stop(mut self) -> Result<(), StoreError> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Result<(), StoreError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let mut result = Ok(());
        if let (Some(rt), Some(task)) = (&self.rt, self.task.take()) {
            // Calls under way get a few seconds to finish.
            let waited = rt.block_on(async { tokio::time::timeout(SHUTDOWN_GRACE, task).await });
            result = match waited {
                Ok(Ok(Ok(()))) | Err(_) => Ok(()),
                Ok(Ok(Err(e))) => Err(StoreError::Serve(e.to_string())),
                Ok(Err(e)) => Err(StoreError::Serve(e.to_string())),
            };
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
        if let Some(p) = self.socket.take() {
            let _ = std::fs::remove_file(p);
        }
        result
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}
