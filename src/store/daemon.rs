//! The store daemon: serves a [`Store`]'s three services over gRPC on a TCP
//! address or a unix socket ([`Listen`]), on a tokio runtime of its own.
//! [`Daemon::start`] returns once the listener is bound, so a caller (the
//! `oxnix store daemon` command, or a test) can connect at once; the
//! daemon shuts down gracefully on [`Daemon::stop`] or drop, and removes
//! its socket.
//!
//! Trust ([`DaemonConfig`], [`super::trust`]): every connection's user is
//! known (unix socket: `SO_PEERCRED`; loopback TCP: the kernel's socket
//! table) and checked against `allowed-users`/`trusted-users` as C++ Nix's
//! daemon does, or, over TCP with a token configured, every call must
//! carry the token, whose bearer is trusted. The servers read the
//! resulting [`Client`] from each request: untrusted clients add only
//! what the daemon can verify and delete nothing (see `super::grpc`).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TlsConnectInfo};
use tonic::Status;

use super::grpc::PathInfoServer;
use super::trust::{is_loopback, loopback_peer_uid, Token, TrustConfig};
use super::{HttpAddress, Store, StoreAddress, StoreError};
use crate::castore::access::{Busy, Client, Limits, Uploads};
use crate::castore::grpc::{BlobServer, DirectoryServer};

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// `HOST:PORT`, `grpc+http://HOST:PORT` or `grpc+https://HOST:PORT`
    /// (port 0: any free port; TLS when [`DaemonConfig::tls`] is set).
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
        let hp = s
            .strip_prefix("grpc+http://")
            .or_else(|| s.strip_prefix("grpc+https://"))
            .unwrap_or(s);
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

/// Threads running the backend's (synchronous) work.
const MAX_BLOCKING_THREADS: usize = 32;

/// How long [`Daemon::stop`] lets calls under way finish.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// How a daemon serves: who may connect and who is trusted, the limits,
/// the unix socket's mode, and where the store's garbage collector roots
/// are (so that `Delete` keeps what they keep alive).
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub trust: TrustConfig,
    pub limits: Limits,
    /// Permissions of the unix socket (C++ Nix's socket is 0666: whether
    /// a user may connect is `allowed-users`' decision).
    pub socket_mode: u32,
    /// The store's state directory (its `gcroots/`), when it has one.
    pub state_dir: Option<PathBuf>,
    /// Serve TCP with TLS: this certificate chain and private key (PEM).
    pub tls: Option<TlsIdentity>,
    /// Catch SIGINT and SIGTERM from before the listener is bound, for
    /// [`Daemon::wait_for_signal`]: once the socket exists, a signal
    /// stops the daemon cleanly instead of killing it.
    pub catch_signals: bool,
}

/// A server certificate chain and its private key, in PEM.
#[derive(Clone)]
pub struct TlsIdentity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsIdentity(..)")
    }
}

impl TlsIdentity {
    /// Reads the certificate chain and key files.
    pub fn read(cert: &Path, key: &Path) -> Result<TlsIdentity, StoreError> {
        let read =
            |p: &Path| std::fs::read(p).map_err(io_err(format!("reading '{}'", p.display())));
        Ok(TlsIdentity {
            cert_pem: read(cert)?,
            key_pem: read(key)?,
        })
    }
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            trust: TrustConfig::default(),
            limits: Limits::default(),
            socket_mode: 0o666,
            state_dir: None,
            tls: None,
            catch_signals: false,
        }
    }
}

/// A running daemon.
pub struct Daemon {
    rt: Option<Runtime>,
    address: StoreAddress,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), tonic::transport::Error>>>,
    socket: Option<PathBuf>,
    /// SIGTERM and SIGINT, caught since before binding
    /// (`DaemonConfig::catch_signals`).
    signals: Option<(Signal, Signal)>,
}

pub type Signal = tokio::signal::unix::Signal;

/// Streams of SIGTERM and SIGINT, on runtime `rt`: from now on neither
/// kills the process.
pub fn catch_signals(rt: &Runtime) -> Result<(Signal, Signal), StoreError> {
    use tokio::signal::unix::{signal, SignalKind};
    let _guard = rt.enter();
    signal(SignalKind::terminate())
        .and_then(|t| signal(SignalKind::interrupt()).map(|i| (t, i)))
        .map_err(io_err("catching signals".into()))
}

fn io_err(context: String) -> impl FnOnce(io::Error) -> StoreError {
    move |source| StoreError::Io { context, source }
}

/// Binds a unix socket, replacing a stale one (a socket file nobody
/// listens on any more), and gives it `mode`.
///
/// The socket appears at `path` only once it listens with its mode set:
/// it is bound under a temporary name beside `path` and then linked into
/// place, so a client (or a script waiting for the file) that sees it can
/// connect at once, and two daemons starting together cannot both take it.
fn bind_unix(path: &Path, mode: u32) -> Result<tokio::net::UnixListener, StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let ctx = || format!("listening on '{}'", path.display());
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => {
            return Err(io_err(ctx())(io::Error::new(
                io::ErrorKind::AddrInUse,
                "another process listens there",
            )))
        }
        // Stale: nobody listens on it any more.
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            std::fs::remove_file(path).map_err(io_err(ctx()))?;
        }
        Err(_) => {}
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(
        ".{}.{}",
        name.as_deref().unwrap_or("socket"),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    let mode_of = |p: &Path| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
            .map_err(io_err(format!("setting the mode of '{}'", p.display())))
    };
    let std_listener = match std::os::unix::net::UnixListener::bind(&tmp) {
        Ok(l) => {
            // Moved into place without replacing a file that appeared
            // meanwhile (another daemon starting), in one step, so that
            // no temporary name is left once the socket shows.
            let placed = mode_of(&tmp).and_then(|()| {
                crate::nar::fs::rename_no_replace(&tmp, path).map_err(io_err(ctx()))
            });
            if placed.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            placed?;
            l
        }
        // The temporary name is too long for a socket address where
        // `path` is not: bind in place (the file then shows a moment
        // before the socket listens).
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
            let l = std::os::unix::net::UnixListener::bind(path).map_err(io_err(ctx()))?;
            mode_of(path)?;
            l
        }
        Err(e) => return Err(io_err(ctx())(e)),
    };
    std_listener.set_nonblocking(true).map_err(io_err(ctx()))?;
    tokio::net::UnixListener::from_std(std_listener).map_err(io_err(ctx()))
}

/// What the daemon knows of a connection from its start: the client the
/// connection's user is (or why the user may not connect), and whether
/// it came over TCP (where a configured token decides instead).
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub decided: Result<Client, String>,
    pub tcp: bool,
}

/// An accepted connection with what is known of its client.
struct Conn<S> {
    io: S,
    info: ConnectionInfo,
    _slot: ConnSlot,
}

impl<S> Connected for Conn<S> {
    type ConnectInfo = ConnectionInfo;
    fn connect_info(&self) -> ConnectionInfo {
        self.info.clone()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Conn<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Conn<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Checks every call: the client its connection's user is (refused with
/// PERMISSION_DENIED when not allowed), or over TCP with a token
/// configured, the token (UNAUTHENTICATED without it); puts the
/// [`Client`] into the request for the servers.
#[derive(Clone)]
struct Gate {
    token: Option<Arc<Token>>,
}

impl tonic::service::Interceptor for Gate {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        let info = req
            .extensions()
            .get::<ConnectionInfo>()
            .cloned()
            .or_else(|| {
                req.extensions()
                    .get::<TlsConnectInfo<ConnectionInfo>>()
                    .map(|t| t.get_ref().clone())
            });
        let Some(info) = info else {
            return Err(Status::permission_denied("connection of unknown origin"));
        };
        let client = match (&self.token, info.tcp) {
            (Some(token), true) => {
                let given = req.metadata().get("authorization").map(|v| v.as_bytes());
                if !given.is_some_and(|g| token.accepts(g)) {
                    return Err(Status::unauthenticated(
                        "this daemon needs its token: 'authorization: Bearer TOKEN' (a store address grpc+http://HOST:PORT?token-file=PATH, or OXNIX_DAEMON_TOKEN_FILE)",
                    ));
                }
                Client {
                    who: "token".into(),
                    trusted: true,
                }
            }
            _ => info.decided.map_err(Status::permission_denied)?,
        };
        req.extensions_mut().insert(client);
        Ok(req)
    }
}

/// Open connections, in total and per client (the key
/// [`ConnectionInfo::key`] gives).
#[derive(Clone, Default)]
struct Connections(Arc<std::sync::Mutex<(usize, HashMap<String, usize>)>>);

/// One open connection's place among [`Connections`], given back when
/// the connection is dropped.
struct ConnSlot {
    conns: Connections,
    key: String,
}

impl Connections {
    /// A place for a connection of `key`, unless it or everyone together
    /// has the most allowed open.
    fn admit(&self, key: String, limits: &Limits) -> Option<ConnSlot> {
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mine = c.1.get(&key).copied().unwrap_or(0);
        if mine >= limits.max_connections_per_client || c.0 >= limits.max_connections {
            return None;
        }
        c.0 += 1;
        *c.1.entry(key.clone()).or_default() += 1;
        Some(ConnSlot {
            conns: self.clone(),
            key,
        })
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut c = self.conns.0.lock().unwrap_or_else(|e| e.into_inner());
        c.0 = c.0.saturating_sub(1);
        if let Some(n) = c.1.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.1.remove(&self.key);
            }
        }
    }
}

impl ConnectionInfo {
    /// Whose connection it is, for the per-client limit: the client, or
    /// the reason it was refused (which names the user), or `tcp_peer`.
    fn key(&self, tcp_peer: Option<SocketAddr>) -> String {
        match (&self.decided, tcp_peer) {
            (Ok(c), _) => c.who.clone(),
            (Err(_), Some(peer)) => format!("tcp {}", peer.ip()),
            (Err(reason), None) => reason.clone(),
        }
    }
}

/// Accepts connections from `accept` and hands them, with what is known
/// of their client, to the server through the channel returned. Each
/// connection's client is found (`identify`) in a task of its own, so a
/// slow lookup never holds up the next accept; a connection over the
/// limits ([`Limits::max_connections`], per client
/// [`Limits::max_connections_per_client`]) is closed at once.
fn accepting<S, A, AF, I>(
    rt: &Runtime,
    limits: Arc<Limits>,
    mut accept: A,
    identify: I,
) -> ReceiverStream<Result<Conn<S>, io::Error>>
where
    S: Send + 'static,
    A: FnMut() -> AF + Send + 'static,
    AF: std::future::Future<Output = io::Result<(S, Option<SocketAddr>)>> + Send,
    I: Fn(&S, Option<SocketAddr>) -> ConnectionInfo + Send + Sync + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let identify = Arc::new(identify);
    let conns = Connections::default();
    rt.spawn(async move {
        loop {
            match accept().await {
                Ok((io, peer)) => {
                    let (tx, identify, conns, limits) =
                        (tx.clone(), identify.clone(), conns.clone(), limits.clone());
                    tokio::spawn(async move {
                        // Lookups of users and groups may block (NSS).
                        let info = tokio::task::block_in_place(|| identify(&io, peer));
                        let Some(slot) = conns.admit(info.key(peer), &limits) else {
                            return; // closed: too many connections
                        };
                        let _ = tx
                            .send(Ok(Conn {
                                io,
                                info,
                                _slot: slot,
                            }))
                            .await;
                    });
                }
                Err(e) => {
                    if tx.send(Err(e)).await.is_err() {
                        break;
                    }
                    // As the listener streams do: a failing accept (out
                    // of descriptors, say) is retried after a pause.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
            if tx.is_closed() {
                break;
            }
        }
    });
    ReceiverStream::new(rx)
}

impl Daemon {
    /// Binds `listen` and serves `store` in the background, with the
    /// default [`DaemonConfig`] (root and the daemon's user trusted,
    /// everyone allowed, no token: loopback TCP only).
    pub fn start(store: &Store, listen: &Listen) -> Result<Daemon, StoreError> {
        Self::start_with(store, listen, &DaemonConfig::default())
    }

    /// Binds `listen` and serves `store` in the background as `config`
    /// says.
    pub fn start_with(
        store: &Store,
        listen: &Listen,
        config: &DaemonConfig,
    ) -> Result<Daemon, StoreError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            // The backend's work; no call waits on a client there (streams
            // are read on the runtime), so a burst of calls queues for
            // these instead of starting a thread each.
            .max_blocking_threads(MAX_BLOCKING_THREADS)
            .thread_name("oxnix-daemon")
            .enable_all()
            .build()
            .map_err(io_err("starting the daemon's runtime".into()))?;
        let signals = if config.catch_signals {
            Some(catch_signals(&rt)?)
        } else {
            None
        };
        let limits = Arc::new(config.limits.clone());
        let uploads = Uploads::new();
        let busy = Busy::new();
        let gate = Gate {
            token: config.trust.token.clone().map(Arc::new),
        };
        let mut server = tonic::transport::Server::builder();
        if let (Some(tls), Listen::Tcp(_)) = (&config.tls, listen) {
            let identity = tonic::transport::Identity::from_pem(&tls.cert_pem, &tls.key_pem);
            server = server
                .tls_config(
                    tonic::transport::ServerTlsConfig::new()
                        .identity(identity)
                        .timeout(limits.idle_timeout),
                )
                .map_err(|e| StoreError::Serve(format!("TLS: {e}")))?;
        }
        let router = server
            .max_concurrent_streams(limits.max_streams_per_connection)
            .timeout(limits.call_timeout)
            .http2_keepalive_interval(Some(std::time::Duration::from_secs(60)))
            .http2_keepalive_timeout(Some(std::time::Duration::from_secs(20)))
            .layer(tonic::service::InterceptorLayer::new(gate))
            .add_service(
                BlobServer::new(store.blobs.clone())
                    .with_lock(store.collect_lock.clone())
                    .with_limits(limits.clone(), uploads.clone(), busy.clone())
                    .service(),
            )
            .add_service(
                DirectoryServer::new(store.directories.clone())
                    .with_blobs(store.blobs.clone())
                    .with_lock(store.collect_lock.clone())
                    .with_limits(limits.clone(), uploads.clone(), busy.clone())
                    .service(),
            )
            .add_service(
                PathInfoServer::new(
                    store.path_infos.clone(),
                    store.blobs.clone(),
                    store.directories.clone(),
                )
                .with_lock(store.collect_lock.clone())
                .with_limits(limits.clone(), busy.clone())
                .with_store_dir(store.store_dir.clone())
                .with_roots(config.state_dir.clone())
                .service(),
            );
        let (tx, rx) = oneshot::channel::<()>();
        let signal = async {
            let _ = rx.await;
        };
        let trust = Arc::new(config.trust.clone());
        let (address, socket, task) = match listen {
            Listen::Tcp(hp) => {
                let listener = rt
                    .block_on(tokio::net::TcpListener::bind(hp.as_str()))
                    .map_err(io_err(format!("listening on '{hp}'")))?;
                let local: SocketAddr = listener
                    .local_addr()
                    .map_err(io_err(format!("listening on '{hp}'")))?;
                if trust.token.is_none() && !is_loopback(&local.ip()) {
                    return Err(StoreError::Serve(format!(
                        "refusing to listen on {local}, which is not a loopback address, without authentication (give --token-file)"
                    )));
                }
                let listener = Arc::new(listener);
                let incoming = accepting(
                    &rt,
                    limits.clone(),
                    move || {
                        let listener = listener.clone();
                        async move {
                            let (stream, peer) = listener.accept().await?;
                            let _ = stream.set_nodelay(true);
                            Ok((stream, Some(peer)))
                        }
                    },
                    move |_, peer| {
                        let decided = match (&trust.token, peer) {
                            // The token decides, call by call.
                            (Some(_), _) => Err("no token".to_owned()),
                            (None, Some(peer)) => tcp_client(&trust, local, peer),
                            (None, None) => Err("no peer address".to_owned()),
                        };
                        ConnectionInfo { decided, tcp: true }
                    },
                );
                let task = rt.spawn(router.serve_with_incoming_shutdown(incoming, signal));
                let mut address = HttpAddress::new(local.to_string());
                address.tls = config.tls.is_some();
                (StoreAddress::GrpcHttp(address), None, task)
            }
            Listen::Unix(path) => {
                let listener = {
                    let _guard = rt.enter();
                    bind_unix(path, config.socket_mode)?
                };
                let listener = Arc::new(listener);
                let incoming = accepting(
                    &rt,
                    limits.clone(),
                    move || {
                        let listener = listener.clone();
                        async move {
                            let (stream, _) = listener.accept().await?;
                            Ok((stream, None))
                        }
                    },
                    move |stream: &tokio::net::UnixStream, _| {
                        let decided = match stream.peer_cred() {
                            Ok(cred) => trust.decide(cred.uid(), cred.gid()),
                            Err(e) => Err(format!("cannot tell which user connected: {e}")),
                        };
                        ConnectionInfo {
                            decided,
                            tcp: false,
                        }
                    },
                );
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
            signals,
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
        let signals = match self.signals.take() {
            Some(s) => Ok(s),
            None => catch_signals(rt),
        };
        let (finished, result) = rt.block_on(async {
            let (mut term, mut int) = match signals {
                Ok(s) => s,
                Err(e) => return (false, Err(e)),
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

/// The client of a loopback TCP connection: the user owning its socket.
fn tcp_client(trust: &TrustConfig, local: SocketAddr, peer: SocketAddr) -> Result<Client, String> {
    if !is_loopback(&peer.ip()) {
        return Err(format!(
            "{peer} is not a loopback address, and the daemon has no token"
        ));
    }
    match loopback_peer_uid(local, peer) {
        Ok(Some(uid)) => {
            // The primary group comes from the user database.
            let gid = primary_gid(uid).unwrap_or(u32::MAX);
            trust.decide(uid, gid)
        }
        Ok(None) => Err(format!("cannot tell which user connected from {peer}")),
        Err(e) => Err(format!("cannot tell which user connected from {peer}: {e}")),
    }
}

/// The primary group of user `uid`.
fn primary_gid(uid: u32) -> Option<u32> {
    let mut buf = vec![0 as libc::c_char; 16384];
    // SAFETY: an all-zero passwd is a valid value to be filled in.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf` outlives it.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut result) };
    (rc == 0 && !result.is_null()).then_some(pw.pw_gid)
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}
