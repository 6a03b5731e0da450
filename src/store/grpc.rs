//! The path info service over gRPC: the client [`GrpcPathInfoService`]
//! (a synchronous [`PathInfoService`] blocking on the connection's runtime,
//! see [`crate::castore::grpc`]) and the server [`PathInfoServer`], which
//! refuses a path info whose tree (every directory and blob of it) is not
//! stored, so a remote client cannot make a path valid before its tree is
//! complete, and checks everything else a client sends as
//! [`super::admission`] says (an untrusted client's paths are verified;
//! only trusted clients delete). The check and the write hold the store's
//! [`crate::castore::CollectLock::writing`], so no garbage collection in the
//! daemon's process comes between them (see [`super::gc`]).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::runtime::Runtime;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::admission::{admit, check_deletable, Admission, Refusal};
use super::proto::path_info_service_client::PathInfoServiceClient;
use super::proto::path_info_service_server;
use super::proto::{
    self as pb, DeletePathInfoRequest, DeletePathInfoResponse, GetPathInfoRequest,
    ListPathInfoRequest, PutPathInfoResponse,
};
use super::{PathInfo, PathInfoService, StoreError};
use crate::castore::access::{client_of, Busy, Limits};
use crate::castore::grpc::{remote, AuthChannel, GrpcConnection, MAX_MESSAGE_SIZE};
use crate::castore::{BlobService, CastoreError, CollectLock, DirectoryService};
use crate::store_path::{StoreDir, StorePath};

/// [`PathInfoService`] of a daemon.
#[derive(Clone)]
pub struct GrpcPathInfoService {
    rt: Arc<Runtime>,
    client: PathInfoServiceClient<AuthChannel>,
}

impl GrpcPathInfoService {
    pub fn new(conn: &GrpcConnection) -> Self {
        GrpcPathInfoService {
            rt: conn.runtime().clone(),
            client: PathInfoServiceClient::new(conn.channel())
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
        }
    }
}

fn rpc(s: Status) -> StoreError {
    StoreError::Castore(remote(s))
}

fn bad_answer(e: impl std::fmt::Display) -> StoreError {
    StoreError::Castore(CastoreError::BadAnswer(e.to_string()))
}

impl PathInfoService for GrpcPathInfoService {
    fn get(&self, path: &StorePath) -> Result<Option<PathInfo>, StoreError> {
        let mut c = self.client.clone();
        let req = GetPathInfoRequest {
            base_name: path.base_name().to_owned(),
        };
        match self.rt.block_on(c.get(req)) {
            Ok(r) => {
                let info = PathInfo::from_proto(r.get_ref()).map_err(bad_answer)?;
                if info.store_path != *path {
                    return Err(bad_answer(format!(
                        "asked for {}, got {}",
                        path.base_name(),
                        info.store_path.base_name()
                    )));
                }
                Ok(Some(info))
            }
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(rpc(s)),
        }
    }

    fn put(&self, info: PathInfo) -> Result<(), StoreError> {
        let mut c = self.client.clone();
        self.rt
            .block_on(c.put(info.to_proto()))
            .map(|_| ())
            .map_err(rpc)
    }

    fn list(&self) -> Result<Vec<PathInfo>, StoreError> {
        let mut c = self.client.clone();
        let mut stream = self
            .rt
            .block_on(c.list(ListPathInfoRequest {}))
            .map_err(rpc)?
            .into_inner();
        let mut v = Vec::new();
        while let Some(p) = self.rt.block_on(stream.message()).map_err(rpc)? {
            v.push(PathInfo::from_proto(&p).map_err(bad_answer)?);
        }
        v.sort_by(|a, b| a.store_path.cmp(&b.store_path));
        Ok(v)
    }

    fn delete(&self, path: &StorePath) -> Result<bool, StoreError> {
        let mut c = self.client.clone();
        // The trait's delete forgets the path as asked (the daemon lets
        // only trusted clients do so); `Store::delete` checks liveness.
        let req = DeletePathInfoRequest {
            base_name: path.base_name().to_owned(),
            ignore_liveness: true,
        };
        self.rt
            .block_on(c.delete(req))
            .map(|r| r.get_ref().deleted)
            .map_err(rpc)
    }
}

/// Serves a [`PathInfoService`], checking what clients send against the
/// castore (see [`super::admission`]).
pub struct PathInfoServer {
    infos: Arc<dyn PathInfoService>,
    blobs: Arc<dyn BlobService>,
    directories: Arc<dyn DirectoryService>,
    lock: CollectLock,
    limits: Arc<Limits>,
    busy: Busy,
    store_dir: StoreDir,
    /// The store's state directory, whose garbage collector roots keep
    /// paths from `Delete`.
    roots: Option<PathBuf>,
}

impl PathInfoServer {
    pub fn new(
        infos: Arc<dyn PathInfoService>,
        blobs: Arc<dyn BlobService>,
        directories: Arc<dyn DirectoryService>,
    ) -> Self {
        PathInfoServer {
            infos,
            blobs,
            directories,
            lock: CollectLock::new(),
            limits: Arc::new(Limits::default()),
            busy: Busy::new(),
            store_dir: StoreDir::default(),
            roots: None,
        }
    }

    /// Checks and writes under `lock`, the lock a garbage collector of
    /// the same store takes.
    pub fn with_lock(mut self, lock: CollectLock) -> Self {
        self.lock = lock;
        self
    }

    /// Serves under `limits`, running clients' work through `busy`.
    pub fn with_limits(mut self, limits: Arc<Limits>, busy: Busy) -> Self {
        self.limits = limits;
        self.busy = busy;
        self
    }

    /// The store directory paths are computed in (for content addresses).
    pub fn with_store_dir(mut self, store_dir: StoreDir) -> Self {
        self.store_dir = store_dir;
        self
    }

    /// The state directory whose `gcroots/` keep paths from `Delete`.
    pub fn with_roots(mut self, state_dir: Option<PathBuf>) -> Self {
        self.roots = state_dir;
        self
    }

    /// The tonic service.
    pub fn service(self) -> path_info_service_server::PathInfoServiceServer<PathInfoServer> {
        let max = self.limits.max_message_size;
        path_info_service_server::PathInfoServiceServer::new(self)
            .max_decoding_message_size(max)
            .max_encoding_message_size(max)
    }
}

fn store_status(e: StoreError) -> Status {
    match e {
        StoreError::Castore(c) => crate::castore::grpc::status(c),
        e => Status::internal(e.to_string()),
    }
}

fn path_arg(base_name: &str) -> Result<StorePath, Status> {
    StorePath::parse_base_name(base_name)
        .map_err(|e| Status::invalid_argument(format!("store path {base_name:?}: {e}")))
}

#[tonic::async_trait]
impl path_info_service_server::PathInfoService for PathInfoServer {
    async fn get(
        &self,
        req: Request<GetPathInfoRequest>,
    ) -> Result<Response<pb::PathInfo>, Status> {
        let client = client_of(&req);
        let path = path_arg(&req.get_ref().base_name)?;
        let infos = self.infos.clone();
        let p = path.clone();
        let found = self
            .busy
            .run(&client, &self.limits, move || {
                infos.get(&p).map_err(store_status)
            })
            .await?;
        match found {
            Some(info) => Ok(Response::new(info.to_proto())),
            None => Err(Status::not_found(format!(
                "path '{}' is not valid",
                path.base_name()
            ))),
        }
    }

    async fn put(
        &self,
        req: Request<pb::PathInfo>,
    ) -> Result<Response<PutPathInfoResponse>, Status> {
        let client = client_of(&req);
        let mut info = PathInfo::from_proto(req.get_ref())
            .map_err(|e| Status::invalid_argument(format!("path info: {e}")))?;
        let (infos, blobs, dirs, lock, limits, store_dir) = (
            self.infos.clone(),
            self.blobs.clone(),
            self.directories.clone(),
            self.lock.clone(),
            self.limits.clone(),
            self.store_dir.clone(),
        );
        let busy_limits = self.limits.clone();
        self.busy
            .run(&client.clone(), &busy_limits, move || {
                let _writing = lock.writing();
                let a = Admission {
                    infos: &*infos,
                    blobs: &*blobs,
                    directories: &*dirs,
                    store_dir: &store_dir,
                    limits: &limits,
                };
                if admit(&a, &mut info, client.trusted).map_err(Refusal::status)? {
                    infos.put(info).map_err(store_status)?;
                }
                Ok(())
            })
            .await?;
        Ok(Response::new(PutPathInfoResponse {}))
    }

    type ListStream = ReceiverStream<Result<pb::PathInfo, Status>>;

    async fn list(
        &self,
        req: Request<ListPathInfoRequest>,
    ) -> Result<Response<Self::ListStream>, Status> {
        let client = client_of(&req);
        let infos = self.infos.clone();
        let all = self
            .busy
            .run(&client, &self.limits, move || {
                infos.list().map_err(store_status)
            })
            .await?;
        let (tx, rx) = tokio::sync::mpsc::channel(all.len().max(1));
        for i in all {
            // The channel has room for all of them.
            let _ = tx.try_send(Ok(i.to_proto()));
        }
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn delete(
        &self,
        req: Request<DeletePathInfoRequest>,
    ) -> Result<Response<DeletePathInfoResponse>, Status> {
        let client = client_of(&req);
        let path = path_arg(&req.get_ref().base_name)?;
        if !client.trusted {
            return Err(Status::permission_denied(format!(
                "{} may not delete paths: only trusted users (trusted-users) may; the daemon's garbage collector deletes what nothing keeps alive",
                client.who
            )));
        }
        let ignore_liveness = req.get_ref().ignore_liveness;
        let (infos, lock, store_dir, state) = (
            self.infos.clone(),
            self.lock.clone(),
            self.store_dir.clone(),
            self.roots.clone(),
        );
        let deleted = self
            .busy
            .run(&client, &self.limits, move || {
                // Exclusive: no add that names the path as a reference comes
                // between the check and the deletion.
                let _collecting = lock.collecting();
                if !ignore_liveness {
                    let roots = state.map(|s| {
                        let mut is_valid = |p: &StorePath| infos.get(p).ok().flatten().is_some();
                        super::gc_roots::find_roots(&s, &store_dir, &mut is_valid, &mut |_| {})
                            .into_keys()
                            .collect::<BTreeSet<_>>()
                    });
                    check_deletable(&*infos, &store_dir, &path, roots.as_ref())
                        .map_err(Refusal::status)?;
                }
                infos.delete(&path).map_err(store_status)
            })
            .await?;
        Ok(Response::new(DeletePathInfoResponse { deleted }))
    }
}
