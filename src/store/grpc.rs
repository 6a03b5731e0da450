//! The path info service over gRPC: the client [`GrpcPathInfoService`]
//! (a synchronous [`PathInfoService`] blocking on the connection's runtime,
//! see [`crate::castore::grpc`]) and the server [`PathInfoServer`], which
//! refuses a path info whose tree (every directory and blob of it) is not
//! stored, so a remote client cannot make a path valid before its tree is
//! complete. The check and the write hold the store's
//! [`crate::castore::CollectLock::writing`], so no garbage collection in the
//! daemon's process comes between them (see [`super::gc`]).

use std::sync::Arc;

use tokio::runtime::Runtime;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use super::proto::path_info_service_client::PathInfoServiceClient;
use super::proto::path_info_service_server;
use super::proto::{
    self as pb, DeletePathInfoRequest, DeletePathInfoResponse, GetPathInfoRequest,
    ListPathInfoRequest, PutPathInfoResponse,
};
use super::{PathInfo, PathInfoService, StoreError};
use crate::castore::grpc::{remote, GrpcConnection, MAX_MESSAGE_SIZE};
use crate::castore::{BlobService, CastoreError, CollectLock, DirectoryService};
use crate::store_path::StorePath;

/// [`PathInfoService`] of a daemon.
#[derive(Clone)]
pub struct GrpcPathInfoService {
    rt: Arc<Runtime>,
    client: PathInfoServiceClient<Channel>,
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
        let req = DeletePathInfoRequest {
            base_name: path.base_name().to_owned(),
        };
        self.rt
            .block_on(c.delete(req))
            .map(|r| r.get_ref().deleted)
            .map_err(rpc)
    }
}

/// Serves a [`PathInfoService`], checking trees against the castore.
pub struct PathInfoServer {
    infos: Arc<dyn PathInfoService>,
    blobs: Arc<dyn BlobService>,
    directories: Arc<dyn DirectoryService>,
    lock: CollectLock,
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
        }
    }

    /// Checks and writes under `lock`, the lock a garbage collector of
    /// the same store takes.
    pub fn with_lock(mut self, lock: CollectLock) -> Self {
        self.lock = lock;
        self
    }

    /// The tonic service.
    pub fn service(self) -> path_info_service_server::PathInfoServiceServer<PathInfoServer> {
        path_info_service_server::PathInfoServiceServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE)
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

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("server task failed: {e}")))?
        .map_err(store_status)
}

#[tonic::async_trait]
impl path_info_service_server::PathInfoService for PathInfoServer {
    async fn get(
        &self,
        req: Request<GetPathInfoRequest>,
    ) -> Result<Response<pb::PathInfo>, Status> {
        let path = path_arg(&req.get_ref().base_name)?;
        let infos = self.infos.clone();
        let p = path.clone();
        match blocking(move || infos.get(&p)).await? {
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
        let info = PathInfo::from_proto(req.get_ref())
            .map_err(|e| Status::invalid_argument(format!("path info: {e}")))?;
        let (infos, blobs, dirs, lock) = (
            self.infos.clone(),
            self.blobs.clone(),
            self.directories.clone(),
            self.lock.clone(),
        );
        let base = info.store_path.base_name().to_owned();
        let stored = blocking(move || {
            let _writing = lock.writing();
            match super::check_tree(&*blobs, &*dirs, &info.node) {
                Ok(()) => {}
                Err(StoreError::Castore(
                    CastoreError::MissingBlob(_) | CastoreError::MissingDirectory(_),
                )) => return Ok(false),
                Err(e) => return Err(e),
            }
            infos.put(info)?;
            Ok(true)
        })
        .await?;
        if !stored {
            return Err(Status::failed_precondition(format!(
                "the tree of '{base}' is not in the store"
            )));
        }
        Ok(Response::new(PutPathInfoResponse {}))
    }

    type ListStream = ReceiverStream<Result<pb::PathInfo, Status>>;

    async fn list(
        &self,
        _req: Request<ListPathInfoRequest>,
    ) -> Result<Response<Self::ListStream>, Status> {
        let infos = self.infos.clone();
        let all = blocking(move || infos.list()).await?;
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
        let path = path_arg(&req.get_ref().base_name)?;
        let infos = self.infos.clone();
        let deleted = blocking(move || infos.delete(&path)).await?;
        Ok(Response::new(DeletePathInfoResponse { deleted }))
    }
}
