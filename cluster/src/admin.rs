//! The `meridian.Admin` gRPC service (proto/admin.proto), served on the node's listen
//! address, and a client helper for `meridian node status`.
//!
//! This is the seed of inter-node gRPC: later issues add the Raft transport, KV batches and
//! liveness as further services on the same tonic server.

use crate::status::{Metrics, NodeInfo, BUILD_VERSION};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

/// Code generated from proto/admin.proto.
pub mod proto {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("meridian");
}

pub use proto::admin_client::AdminClient;
pub use proto::admin_server::AdminServer;
pub use proto::{NodeStatusRequest, NodeStatusResponse};

/// The Admin service of one node.
pub struct AdminService {
    info: Arc<NodeInfo>,
}

impl AdminService {
    /// A service answering for the node described by `info`.
    pub fn new(info: Arc<NodeInfo>) -> Self {
        AdminService { info }
    }
}

#[tonic::async_trait]
impl proto::admin_server::Admin for AdminService {
    async fn node_status(
        &self,
        _req: Request<NodeStatusRequest>,
    ) -> Result<Response<NodeStatusResponse>, Status> {
        Metrics::inc(&self.info.metrics.admin_rpcs);
        let i = &self.info;
        Ok(Response::new(NodeStatusResponse {
            node_id: i.node_id(),
            address: i.listen_addr.to_string(),
            sql_address: i.sql_addr.to_string(),
            http_address: i.http_addr.to_string(),
            build_version: BUILD_VERSION.to_string(),
            started_at_unix_ms: i.started_at_unix_ms(),
            draining: i.is_draining(),
        }))
    }
}

/// Serves the gRPC services on `listener` until `shutdown` becomes true.
pub async fn serve(
    listener: TcpListener,
    info: Arc<NodeInfo>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), tonic::transport::Error> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tonic::transport::Server::builder()
        .add_service(AdminServer::new(AdminService::new(info)))
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}

/// Asks the node at `addr` (host:port of its listen address) for its status.
pub async fn node_status(addr: &str) -> anyhow::Result<NodeStatusResponse> {
    let endpoint = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    let mut client = AdminClient::connect(endpoint.clone())
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach node at {endpoint}: {e}"))?;
    let resp = client.node_status(NodeStatusRequest {}).await?;
    Ok(resp.into_inner())
}
