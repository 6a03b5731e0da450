//! The castore services over gRPC (tonic): [`GrpcConnection`] (a channel to
//! a daemon over TCP or a unix socket, with the tokio runtime that drives
//! it), the clients [`GrpcBlobService`] and [`GrpcDirectoryService`] that
//! implement the synchronous service traits by blocking on that runtime,
//! and the servers [`BlobServer`] and [`DirectoryServer`] that serve any
//! synchronous backend from tokio's blocking thread pool.
//!
//! The clients must not be called from async code (they block on their own
//! runtime); plain threads and `spawn_blocking` threads are fine.
//!
//! Everything received is validated as from an untrusted peer: digests must
//! be 32 bytes, directories are re-validated and must have the digest they
//! were asked for, a written blob must come back with the digest the client
//! computed itself.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status, Streaming};

use super::access::{client_of, next_message, Busy, Client, Limits, Uploads};
use super::directory_service::{check_closure, check_closure_sized};
use super::proto::blob_service_client::BlobServiceClient;
use super::proto::blob_service_server;
use super::proto::directory_service_client::DirectoryServiceClient;
use super::proto::directory_service_server;
use super::proto::{
    BlobChunk, GetDirectoryRequest, PutBlobChunk, PutBlobResponse, PutDirectoryResponse,
    ReadBlobRequest, StatBlobRequest, StatBlobResponse, SyncBlobsRequest, SyncBlobsResponse,
};
use super::DirectoryService;
use super::Stored;
use super::{directory, B3Digest, BlobService, BlobWriter, CastoreError, CollectLock, Directory};

/// Pieces of blobs on the wire.
pub const CHUNK_SIZE: usize = 256 * 1024;

/// The largest message either side accepts (a directory of many entries).
pub const MAX_MESSAGE_SIZE: usize = 64 << 20;

/// Where a daemon listens, as clients reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrpcEndpoint {
    /// `host:port`.
    Tcp(String),
    /// A unix socket.
    Unix(PathBuf),
    /// `host:port` over TLS, the daemon's certificate checked against the
    /// certificate authority `ca_pem` (PEM).
    Tls { host_port: String, ca_pem: Vec<u8> },
}

impl std::fmt::Display for GrpcEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GrpcEndpoint::Tcp(a) => write!(f, "grpc+http://{a}"),
            GrpcEndpoint::Unix(p) => write!(f, "grpc+unix://{}", p.display()),
            GrpcEndpoint::Tls { host_port, .. } => write!(f, "grpc+https://{host_port}"),
        }
    }
}

/// A connection to a store daemon: the channel and the runtime driving it.
#[derive(Clone)]
pub struct GrpcConnection {
    rt: Arc<Runtime>,
    channel: Channel,
    bearer: Bearer,
}

/// Adds the daemon's token to every call (`authorization: Bearer …`),
/// when there is one.
#[derive(Clone, Default)]
pub struct Bearer(Option<tonic::metadata::AsciiMetadataValue>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// The channel the clients use: calls carry the token, if any.
pub type AuthChannel = tonic::service::interceptor::InterceptedService<Channel, Bearer>;

impl GrpcConnection {
    /// Connects (eagerly, so that an unreachable daemon is reported here).
    pub fn connect(endpoint: &GrpcEndpoint) -> Result<GrpcConnection, CastoreError> {
        Self::connect_with_token(endpoint, None)
    }

    /// Connects, presenting `token` (the daemon's bearer token) with
    /// every call.
    pub fn connect_with_token(
        endpoint: &GrpcEndpoint,
        token: Option<&str>,
    ) -> Result<GrpcConnection, CastoreError> {
        let fail = |message: String| CastoreError::Connect {
            address: endpoint.to_string(),
            message,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("oxnix-grpc-client")
            .enable_all()
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let channel = match endpoint {
            GrpcEndpoint::Tcp(hostport) => {
                let ep = Endpoint::from_shared(format!("http://{hostport}"))
                    .map_err(|e| fail(e.to_string()))?;
                rt.block_on(ep.connect())
                    .map_err(|e| fail(error_chain(&e)))?
            }
            GrpcEndpoint::Tls { host_port, ca_pem } => {
                let host = host_port
                    .rsplit_once(':')
                    .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
                    .unwrap_or(host_port);
                let tls = tonic::transport::ClientTlsConfig::new()
                    .ca_certificate(tonic::transport::Certificate::from_pem(ca_pem))
                    .domain_name(host.to_owned());
                let ep = Endpoint::from_shared(format!("https://{host_port}"))
                    .map_err(|e| fail(e.to_string()))?
                    .tls_config(tls)
                    .map_err(|e| fail(error_chain(&e)))?;
                rt.block_on(ep.connect())
                    .map_err(|e| fail(error_chain(&e)))?
            }
            GrpcEndpoint::Unix(path) => {
                let path = path.clone();
                // The URI is not used: the connector dials the socket.
                let ep = Endpoint::from_static("http://localhost");
                rt.block_on(ep.connect_with_connector(tower::service_fn(
                    move |_: tonic::transport::Uri| {
                        let path = path.clone();
                        async move {
                            let s = tokio::net::UnixStream::connect(path).await?;
                            Ok::<_, io::Error>(hyper_util::rt::TokioIo::new(s))
                        }
                    },
                )))
                .map_err(|e| fail(error_chain(&e)))?
            }
        };
        let bearer = match token {
            None => Bearer(None),
            Some(t) => {
                Bearer(Some(format!("Bearer {t}").parse().map_err(|_| {
                    fail("the token is not printable ASCII".into())
                })?))
            }
        };
        Ok(GrpcConnection {
            rt: Arc::new(rt),
            channel,
            bearer,
        })
    }

    /// The runtime the clients block on.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.rt
    }

    /// The channel, for the generated clients: calls carry the token.
    pub fn channel(&self) -> AuthChannel {
        tonic::service::interceptor::InterceptedService::new(
            self.channel.clone(),
            self.bearer.clone(),
        )
    }
}

/// An error and its sources, as one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// A status from the daemon as an error.
pub fn remote(s: Status) -> CastoreError {
    let msg = s.message();
    if msg.is_empty() {
        CastoreError::Remote(format!("{:?}", s.code()))
    } else {
        CastoreError::Remote(msg.to_owned())
    }
}

/// A castore error as the status a server answers.
pub fn status(e: CastoreError) -> Status {
    match e {
        CastoreError::InvalidDirectory(_)
        | CastoreError::WrongSize { .. }
        | CastoreError::EmptyClosure => Status::invalid_argument(e.to_string()),
        CastoreError::MissingChild { .. } => Status::failed_precondition(e.to_string()),
        CastoreError::MissingBlob(_) | CastoreError::MissingDirectory(_) => {
            Status::not_found(e.to_string())
        }
        CastoreError::BlobDamaged { .. } => Status::data_loss(e.to_string()),
        e => Status::internal(e.to_string()),
    }
}

fn digest_arg(bytes: &[u8]) -> Result<B3Digest, Status> {
    B3Digest::from_slice(bytes).ok_or_else(|| {
        Status::invalid_argument(format!("digest of {} bytes (32 expected)", bytes.len()))
    })
}

// ---------------------------------------------------------------------------
// Clients.

/// [`BlobService`] of a daemon.
#[derive(Clone)]
pub struct GrpcBlobService {
    rt: Arc<Runtime>,
    client: BlobServiceClient<AuthChannel>,
}

impl GrpcBlobService {
    pub fn new(conn: &GrpcConnection) -> Self {
        GrpcBlobService {
            rt: conn.rt.clone(),
            client: BlobServiceClient::new(conn.channel())
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
        }
    }
}

impl BlobService for GrpcBlobService {
    fn list(&self) -> Result<Vec<Stored>, CastoreError> {
        Err(not_through_daemon())
    }

    fn delete(&self, _digest: &B3Digest) -> Result<bool, CastoreError> {
        Err(not_through_daemon())
    }

    fn has(&self, digest: &B3Digest) -> Result<bool, CastoreError> {
        Ok(self.size(digest)?.is_some())
    }

    fn size(&self, digest: &B3Digest) -> Result<Option<u64>, CastoreError> {
        let mut c = self.client.clone();
        let req = StatBlobRequest {
            digest: digest.as_bytes().to_vec(),
        };
        match self.rt.block_on(c.stat(req)) {
            Ok(r) => Ok(Some(r.into_inner().size)),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(remote(s)),
        }
    }

    fn open_read(&self, digest: &B3Digest) -> Result<Option<Box<dyn Read + Send>>, CastoreError> {
        let mut c = self.client.clone();
        let req = ReadBlobRequest {
            digest: digest.as_bytes().to_vec(),
        };
        match self.rt.block_on(c.read(req)) {
            Ok(r) => Ok(Some(Box::new(GrpcBlobReader {
                digest: *digest,
                rt: self.rt.clone(),
                stream: r.into_inner(),
                buf: Vec::new(),
                pos: 0,
                done: false,
            }))),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(remote(s)),
        }
    }

    fn open_write(&self) -> Result<Box<dyn BlobWriter>, CastoreError> {
        let (tx, rx) = mpsc::channel::<PutBlobChunk>(4);
        let mut c = self.client.clone();
        let call = self
            .rt
            .spawn(async move { c.put(ReceiverStream::new(rx)).await });
        Ok(Box::new(GrpcBlobWriter {
            rt: self.rt.clone(),
            tx: Some(tx),
            call: Some(call),
            buf: Vec::with_capacity(CHUNK_SIZE),
            hasher: blake3::Hasher::new(),
        }))
    }

    fn sync(&self) -> Result<(), CastoreError> {
        let mut c = self.client.clone();
        self.rt
            .block_on(c.sync(SyncBlobsRequest {}))
            .map(|_| ())
            .map_err(remote)
    }
}

struct GrpcBlobReader {
    digest: B3Digest,
    rt: Arc<Runtime>,
    stream: Streaming<BlobChunk>,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Drop for GrpcBlobReader {
    /// A reader that took the whole blob (the usual case: readers stop at
    /// the size they know) has the stream's end still to come: wait for it
    /// briefly, so the call ends cleanly instead of being reset. A server
    /// sees thousands of resets as an attack and ends the connection
    /// ("h2 protocol error"). A reader dropped part way resets its call.
    fn drop(&mut self) {
        if self.done || self.pos != self.buf.len() {
            return;
        }
        let stream = &mut self.stream;
        let _ = self.rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_millis(200), stream.message()).await
        });
    }
}

impl Read for GrpcBlobReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.done {
                return Ok(0);
            }
            match self.rt.block_on(self.stream.message()) {
                Ok(Some(chunk)) => {
                    self.buf = chunk.data;
                    self.pos = 0;
                }
                Ok(None) => self.done = true,
                // The daemon found the blob damaged (see `BlobServer::read`).
                Err(s) if s.code() == tonic::Code::DataLoss => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        CastoreError::BlobDamaged {
                            digest: self.digest,
                            damage: super::BlobDamage::Digest,
                        },
                    ))
                }
                Err(s) => return Err(io::Error::other(remote(s))),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

type PutCall = tokio::task::JoinHandle<Result<Response<PutBlobResponse>, Status>>;

struct GrpcBlobWriter {
    rt: Arc<Runtime>,
    tx: Option<mpsc::Sender<PutBlobChunk>>,
    call: Option<PutCall>,
    buf: Vec<u8>,
    hasher: blake3::Hasher,
}

impl GrpcBlobWriter {
    /// The error that ended the call (after the stream broke).
    fn call_error(&mut self) -> CastoreError {
        self.tx = None;
        match self.call.take() {
            Some(call) => match self.rt.block_on(call) {
                Ok(Err(s)) => remote(s),
                Ok(Ok(_)) => CastoreError::BadAnswer("blob stored before its last piece".into()),
                Err(e) => CastoreError::Remote(e.to_string()),
            },
            None => CastoreError::Remote("blob write already failed".into()),
        }
    }

    fn send(&mut self, last: bool) -> Result<(), CastoreError> {
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_SIZE));
        let Some(tx) = &self.tx else {
            return Err(self.call_error());
        };
        let sent = self.rt.block_on(tx.send(PutBlobChunk { data, last }));
        if sent.is_err() {
            return Err(self.call_error());
        }
        Ok(())
    }
}

impl Write for GrpcBlobWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK_SIZE - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.hasher.update(&data[..n]);
        if self.buf.len() == CHUNK_SIZE {
            self.send(false).map_err(io::Error::other)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl BlobWriter for GrpcBlobWriter {
    fn close(mut self: Box<Self>) -> Result<B3Digest, CastoreError> {
        self.send(true)?;
        self.tx = None;
        let call = self
            .call
            .take()
            .ok_or_else(|| CastoreError::Remote("blob write already failed".into()))?;
        let answer = match self.rt.block_on(call) {
            Ok(Ok(r)) => r.into_inner(),
            Ok(Err(s)) => return Err(remote(s)),
            Err(e) => return Err(CastoreError::Remote(e.to_string())),
        };
        let ours = B3Digest::from(self.hasher.finalize());
        match B3Digest::from_slice(&answer.digest) {
            Some(d) if d == ours => Ok(d),
            _ => Err(CastoreError::BadAnswer(format!(
                "blob stored as {:?}, but its digest is {ours}",
                data_encoding::HEXLOWER.encode(&answer.digest)
            ))),
        }
    }
}

impl Drop for GrpcBlobWriter {
    fn drop(&mut self) {
        // Ending the stream without a last piece stores nothing; the
        // server's answer (an error) is not waited for.
        self.tx = None;
        if let Some(call) = self.call.take() {
            call.abort();
        }
    }
}

/// [`DirectoryService`] of a daemon.
#[derive(Clone)]
pub struct GrpcDirectoryService {
    rt: Arc<Runtime>,
    client: DirectoryServiceClient<AuthChannel>,
}

impl GrpcDirectoryService {
    pub fn new(conn: &GrpcConnection) -> Self {
        GrpcDirectoryService {
            rt: conn.rt.clone(),
            client: DirectoryServiceClient::new(conn.channel())
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
        }
    }

    /// The directories the daemon answers for `root`, checked: each valid,
    /// the first with digest `root`, every other named by one before it and
    /// not sent twice.
    fn fetch(&self, root: &B3Digest, recursive: bool) -> Result<Vec<Directory>, CastoreError> {
        let mut c = self.client.clone();
        let req = GetDirectoryRequest {
            digest: root.as_bytes().to_vec(),
            recursive,
        };
        let mut stream = match self.rt.block_on(c.get(req)) {
            Ok(r) => r.into_inner(),
            Err(s) if s.code() == tonic::Code::NotFound => return Ok(Vec::new()),
            Err(s) => return Err(remote(s)),
        };
        let bad = |m: String| CastoreError::BadAnswer(m);
        // Directories named so far and not yet received.
        let mut expected = HashSet::from([*root]);
        let mut received = HashSet::new();
        let mut out = Vec::new();
        while let Some(dir) = self.rt.block_on(stream.message()).map_err(remote)? {
            directory::validate(&dir)?;
            let d = directory::digest(&dir);
            if !expected.remove(&d) {
                return Err(bad(format!("directory {d} was not asked for")));
            }
            received.insert(d);
            if !recursive && !out.is_empty() {
                return Err(bad("more than one directory".into()));
            }
            if recursive {
                for child in &dir.directories {
                    let cd = B3Digest::from_slice(&child.digest)
                        .ok_or_else(|| bad("child digest of wrong length".into()))?;
                    if !received.contains(&cd) {
                        expected.insert(cd);
                    }
                }
            }
            out.push(dir);
        }
        if out.is_empty() {
            return Err(bad(format!("no directory for {root}")));
        }
        if recursive && !expected.is_empty() {
            return Err(bad(format!(
                "{} directories below {root} missing",
                expected.len()
            )));
        }
        Ok(out)
    }
}

/// Garbage collection lists and removes castore objects, which the
/// daemon's services do not offer.
fn not_through_daemon() -> CastoreError {
    CastoreError::NotSupported(
        "collecting garbage through a store daemon (stop the daemon and collect on the store itself)"
            .into(),
    )
}

impl DirectoryService for GrpcDirectoryService {
    fn list(&self) -> Result<Vec<Stored>, CastoreError> {
        Err(not_through_daemon())
    }

    fn delete_many(&self, _digests: &[B3Digest]) -> Result<(), CastoreError> {
        Err(not_through_daemon())
    }

    fn get(&self, digest: &B3Digest) -> Result<Option<Directory>, CastoreError> {
        Ok(self.fetch(digest, false)?.into_iter().next())
    }

    fn put_closure(&self, dirs: Vec<Directory>) -> Result<B3Digest, CastoreError> {
        // Checked here first, so that a bad closure fails with the error a
        // local service gives (the daemon checks again); only subdirectories
        // outside the closure cost a round trip.
        let checked = check_closure(&dirs, &|d| self.get(d))?;
        let root = checked
            .last()
            .map(|(d, _)| *d)
            .ok_or(CastoreError::EmptyClosure)?;
        let mut c = self.client.clone();
        let answer = self
            .rt
            .block_on(c.put(tokio_stream::iter(dirs)))
            .map_err(remote)?
            .into_inner();
        match B3Digest::from_slice(&answer.root_digest) {
            Some(d) if d == root => Ok(d),
            _ => Err(CastoreError::BadAnswer(format!(
                "closure stored under another root than {root}"
            ))),
        }
    }

    fn get_recursive(&self, root: &B3Digest) -> Result<Vec<Directory>, CastoreError> {
        self.fetch(root, true)
    }
}

// ---------------------------------------------------------------------------
// Servers.
//
// Every call runs the synchronous backend on tokio's blocking pool, but a
// stream from the client is read on the runtime: a client that opens an
// upload and goes quiet holds no thread, only its slot among the uploads
// ([`Uploads`]), and only until the idle timeout ([`Limits`]).

/// Serves a [`BlobService`]. Each blob is hashed by the server as it
/// arrives (the digest answered is the server's), and stored holding
/// [`CollectLock::writing`] (of the store served, see
/// [`BlobServer::with_lock`]).
pub struct BlobServer {
    blobs: Arc<dyn BlobService>,
    lock: CollectLock,
    limits: Arc<Limits>,
    uploads: Uploads,
    busy: Busy,
}

impl BlobServer {
    pub fn new(blobs: Arc<dyn BlobService>) -> Self {
        BlobServer {
            blobs,
            lock: CollectLock::new(),
            limits: Arc::new(Limits::default()),
            uploads: Uploads::new(),
            busy: Busy::new(),
        }
    }

    /// Writes under `lock`, the lock a garbage collector of the same
    /// store takes.
    pub fn with_lock(mut self, lock: CollectLock) -> Self {
        self.lock = lock;
        self
    }

    /// Serves under `limits`, counting uploads in `uploads` and running
    /// clients' work through `busy` (both shared with the daemon's other
    /// servers).
    pub fn with_limits(mut self, limits: Arc<Limits>, uploads: Uploads, busy: Busy) -> Self {
        self.limits = limits;
        self.uploads = uploads;
        self.busy = busy;
        self
    }

    /// The tonic service.
    pub fn service(self) -> blob_service_server::BlobServiceServer<BlobServer> {
        let max = self.limits.max_message_size;
        blob_service_server::BlobServiceServer::new(self)
            .max_decoding_message_size(max)
            .max_encoding_message_size(max)
    }
}

/// Fills `buf` as far as the reader goes.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[tonic::async_trait]
impl blob_service_server::BlobService for BlobServer {
    async fn stat(
        &self,
        req: Request<StatBlobRequest>,
    ) -> Result<Response<StatBlobResponse>, Status> {
        let client = client_of(&req);
        let d = digest_arg(&req.get_ref().digest)?;
        let blobs = self.blobs.clone();
        let size = self
            .busy
            .run(&client, &self.limits, move || {
                blobs.size(&d).map_err(status)
            })
            .await?;
        match size {
            Some(size) => Ok(Response::new(StatBlobResponse { size })),
            None => Err(Status::not_found(format!("blob {d} is not in the store"))),
        }
    }

    type ReadStream = ReceiverStream<Result<BlobChunk, Status>>;

    async fn read(
        &self,
        req: Request<ReadBlobRequest>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let client = client_of(&req);
        let d = digest_arg(&req.get_ref().digest)?;
        let blobs = self.blobs.clone();
        // Checked as it is sent: a damaged blob ends its stream with
        // DATA_LOSS instead of its last piece (the client checks too).
        let reader = self
            .busy
            .run(&client, &self.limits, move || {
                super::open_verified(&*blobs, &d, None).map_err(status)
            })
            .await?;
        let Some(reader) = reader else {
            return Err(Status::not_found(format!("blob {d} is not in the store")));
        };
        let (tx, rx) = mpsc::channel(4);
        // One piece at a time on the blocking pool, each sent from the
        // runtime: a client that stops reading holds no thread, and one
        // that does not read within the idle timeout loses its call.
        let idle = self.limits.idle_timeout;
        let (busy, limits) = (self.busy.clone(), self.limits.clone());
        tokio::spawn(async move {
            let mut reader = Some(reader);
            while let Some(mut r) = reader.take() {
                let read = busy
                    .run(&client, &limits, move || {
                        let mut buf = vec![0u8; CHUNK_SIZE];
                        let got = read_full(&mut r, &mut buf).map(|n| {
                            buf.truncate(n);
                            buf
                        });
                        Ok((r, got))
                    })
                    .await;
                let item = match read {
                    Err(e) => Err(e),
                    Ok((_, Ok(data))) if data.is_empty() => break,
                    Ok((r, Ok(data))) => {
                        reader = Some(r);
                        Ok(BlobChunk { data })
                    }
                    Ok((_, Err(e))) => Err(match super::damage_of(&e) {
                        Some((d, damage)) => {
                            Status::data_loss(format!("blob {d} is damaged ({damage})"))
                        }
                        None => Status::internal(format!("reading blob {d}: {e}")),
                    }),
                };
                match tokio::time::timeout(idle, tx.send(item)).await {
                    Ok(Ok(())) => {}
                    // The client gone, or not reading.
                    _ => break,
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn put(
        &self,
        req: Request<Streaming<PutBlobChunk>>,
    ) -> Result<Response<PutBlobResponse>, Status> {
        let client = client_of(&req);
        let _slot = self.uploads.acquire(&client, &self.limits)?;
        let deadline = Instant::now() + self.limits.call_timeout;
        let mut stream = req.into_inner();
        // Opened with the first piece: a stream that never sends one costs
        // no temporary file.
        let mut writer: Option<Box<dyn BlobWriter>> = None;
        loop {
            let Some(chunk) = next_message(&mut stream, &self.limits, deadline).await? else {
                return Err(Status::aborted(
                    "blob stream ended before its last piece; nothing stored",
                ));
            };
            let w = match writer.take() {
                Some(w) => w,
                None => {
                    let blobs = self.blobs.clone();
                    self.busy
                        .run(&client, &self.limits, move || {
                            blobs.open_write().map_err(status)
                        })
                        .await?
                }
            };
            let last = chunk.last;
            writer = Some(
                self.busy
                    .run(&client, &self.limits, move || {
                        let mut w = w;
                        w.write_all(&chunk.data)
                            .map_err(|e| Status::internal(format!("writing blob: {e}")))?;
                        Ok(w)
                    })
                    .await?,
            );
            if last {
                if next_message(&mut stream, &self.limits, deadline)
                    .await?
                    .is_some()
                {
                    return Err(Status::invalid_argument("blob data after the last piece"));
                }
                break;
            }
        }
        let Some(w) = writer else {
            return Err(Status::internal("blob writer lost"));
        };
        let lock = self.lock.clone();
        let d = self
            .busy
            .run(&client, &self.limits, move || {
                let _writing = lock.writing();
                w.close().map_err(status)
            })
            .await?;
        Ok(Response::new(PutBlobResponse {
            digest: d.as_bytes().to_vec(),
        }))
    }

    async fn sync(
        &self,
        req: Request<SyncBlobsRequest>,
    ) -> Result<Response<SyncBlobsResponse>, Status> {
        let client = client_of(&req);
        let blobs = self.blobs.clone();
        self.busy
            .run(&client, &self.limits, move || blobs.sync().map_err(status))
            .await?;
        Ok(Response::new(SyncBlobsResponse {}))
    }
}

/// Serves a [`DirectoryService`]; closures are checked against the
/// castore (subdirectories and blobs stored, sizes right) and stored in
/// batches as they arrive, each holding [`CollectLock::writing`] (see
/// [`DirectoryServer::with_lock`]).
pub struct DirectoryServer {
    dirs: Arc<dyn DirectoryService>,
    blobs: Option<Arc<dyn BlobService>>,
    lock: CollectLock,
    limits: Arc<Limits>,
    uploads: Uploads,
    busy: Busy,
}

/// The most directories one `Put` may carry (by default; see
/// [`Limits::max_closure`]).
pub const MAX_CLOSURE: usize = 4 << 20;

/// A closure `Put` stores what it received once it holds this many
/// directories, or this many bytes of them.
const PUT_BATCH: usize = 1024;
const PUT_BATCH_BYTES: usize = 8 << 20;

impl DirectoryServer {
    pub fn new(dirs: Arc<dyn DirectoryService>) -> Self {
        DirectoryServer {
            dirs,
            blobs: None,
            lock: CollectLock::new(),
            limits: Arc::new(Limits::default()),
            uploads: Uploads::new(),
            busy: Busy::new(),
        }
    }

    /// Checks that the blobs a directory's files name are stored in
    /// `blobs`, with the sizes the directory gives them.
    pub fn with_blobs(mut self, blobs: Arc<dyn BlobService>) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// Writes under `lock`, the lock a garbage collector of the same
    /// store takes.
    pub fn with_lock(mut self, lock: CollectLock) -> Self {
        self.lock = lock;
        self
    }

    /// Serves under `limits`, counting uploads in `uploads` and running
    /// clients' work through `busy`.
    pub fn with_limits(mut self, limits: Arc<Limits>, uploads: Uploads, busy: Busy) -> Self {
        self.limits = limits;
        self.uploads = uploads;
        self.busy = busy;
        self
    }

    /// The tonic service.
    pub fn service(self) -> directory_service_server::DirectoryServiceServer<DirectoryServer> {
        let max = self.limits.max_message_size;
        directory_service_server::DirectoryServiceServer::new(self)
            .max_decoding_message_size(max)
            .max_encoding_message_size(max)
    }

    /// Checks and stores one batch of a closure; `sizes` holds the sizes
    /// of the closure's directories stored so far (and gets this batch's).
    /// Answers the digest of the batch's last directory.
    async fn store_batch(
        &self,
        client: &Client,
        batch: Vec<Directory>,
        sizes: HashMap<B3Digest, u64>,
    ) -> Result<(B3Digest, HashMap<B3Digest, u64>), Status> {
        let dirs = self.dirs.clone();
        let blobs = self.blobs.clone();
        let lock = self.lock.clone();
        self.busy
            .run(client, &self.limits, move || {
                let mut sizes = sizes;
                let _writing = lock.writing();
                let checked = check_closure_sized(&batch, &|d| match sizes.get(d) {
                    Some(s) => Ok(Some(*s)),
                    None => match dirs.get(d)? {
                        Some(dir) => Ok(Some(directory::size(&dir)?)),
                        None => Ok(None),
                    },
                })
                .map_err(status)?;
                if let Some(blobs) = &blobs {
                    check_files(&**blobs, &batch, &checked)?;
                }
                for ((digest, _), dir) in checked.iter().zip(&batch) {
                    let size = directory::size(dir)
                        .map_err(CastoreError::from)
                        .map_err(status)?;
                    sizes.insert(*digest, size);
                }
                // Checked above, against this closure's earlier batches too.
                let root = dirs.put_checked(checked, batch).map_err(status)?;
                Ok((root, sizes))
            })
            .await
    }
}

/// Every file of `batch` names a stored blob of the size it gives.
fn check_files(
    blobs: &dyn BlobService,
    batch: &[Directory],
    checked: &[(B3Digest, Vec<u8>)],
) -> Result<(), Status> {
    let mut known: HashMap<B3Digest, Option<u64>> = HashMap::new();
    for (dir, (dir_digest, _)) in batch.iter().zip(checked) {
        for f in &dir.files {
            // Validated: 32 bytes.
            let Some(d) = B3Digest::from_slice(&f.digest) else {
                return Err(Status::invalid_argument("file digest of wrong length"));
            };
            let size = match known.get(&d) {
                Some(s) => *s,
                None => {
                    let s = blobs.size(&d).map_err(status)?;
                    known.insert(d, s);
                    s
                }
            };
            let name = bstr::BStr::new(&f.name);
            match size {
                None => {
                    return Err(Status::failed_precondition(format!(
                        "directory {dir_digest}: file {name:?} names blob {d}, which is not in the store"
                    )))
                }
                Some(s) if s != f.size => {
                    return Err(Status::invalid_argument(format!(
                        "directory {dir_digest}: file {name:?} gives blob {d} the size {}, but it has {s} bytes",
                        f.size
                    )))
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

#[tonic::async_trait]
impl directory_service_server::DirectoryService for DirectoryServer {
    type GetStream = ReceiverStream<Result<Directory, Status>>;

    async fn get(
        &self,
        req: Request<GetDirectoryRequest>,
    ) -> Result<Response<Self::GetStream>, Status> {
        let client = client_of(&req);
        let d = digest_arg(&req.get_ref().digest)?;
        let recursive = req.get_ref().recursive;
        let dirs = self.dirs.clone();
        let found = self
            .busy
            .run(&client, &self.limits, move || {
                if recursive {
                    dirs.get_recursive(&d)
                } else {
                    dirs.get(&d).map(|d| d.into_iter().collect())
                }
                .map_err(status)
            })
            .await?;
        if found.is_empty() {
            return Err(Status::not_found(format!(
                "directory {d} is not in the store"
            )));
        }
        let (tx, rx) = mpsc::channel(found.len());
        for dir in found {
            // The channel has room for all of them.
            let _ = tx.try_send(Ok(dir));
        }
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn put(
        &self,
        req: Request<Streaming<Directory>>,
    ) -> Result<Response<PutDirectoryResponse>, Status> {
        let client = client_of(&req);
        let _slot = self.uploads.acquire(&client, &self.limits)?;
        let deadline = Instant::now() + self.limits.call_timeout;
        let mut stream = req.into_inner();
        let mut sizes = HashMap::new();
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        let mut received = 0usize;
        let mut root = None;
        loop {
            let next = next_message(&mut stream, &self.limits, deadline).await?;
            let done = next.is_none();
            if let Some(dir) = next {
                received += 1;
                if received > self.limits.max_closure {
                    return Err(Status::resource_exhausted(format!(
                        "more than {} directories in one closure (--max-closure)",
                        self.limits.max_closure
                    )));
                }
                let entries = dir.directories.len() + dir.files.len() + dir.symlinks.len();
                if entries > self.limits.max_directory_entries {
                    return Err(Status::resource_exhausted(format!(
                        "a directory of {entries} entries (at most {} allowed, --max-directory-entries)",
                        self.limits.max_directory_entries
                    )));
                }
                batch_bytes += prost::Message::encoded_len(&dir);
                batch.push(dir);
                if batch.len() < PUT_BATCH && batch_bytes < PUT_BATCH_BYTES {
                    continue;
                }
            } else if batch.is_empty() {
                break;
            }
            let (r, s) = self
                .store_batch(&client, std::mem::take(&mut batch), sizes)
                .await?;
            batch_bytes = 0;
            sizes = s;
            root = Some(r);
            if done {
                break;
            }
        }
        let Some(root) = root else {
            return Err(status(CastoreError::EmptyClosure));
        };
        Ok(Response::new(PutDirectoryResponse {
            root_digest: root.as_bytes().to_vec(),
        }))
    }
}
