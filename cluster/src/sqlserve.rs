//! The seam between the node and the SQL layer: catalog bootstrap and the pgwire server.
//!
//! Everything the node needs from `sql` goes through these two functions, so the rest of the
//! crate does not change when the SQL layer's entry points do.
//!
//! IMPLEMENTATION CAVEATS
//! - At shutdown the server stops accepting; connections already open are not drained with a
//!   57P01 error, they end when the process exits.

use crate::status::NodeInfo;
use anyhow::{anyhow, Result};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use txn::TxnSource;

/// Creates the system descriptors and default databases on a fresh store (idempotent).
pub fn bootstrap(txns: &dyn TxnSource) -> Result<()> {
    sql::catalog::bootstrap(txns).map_err(|e| anyhow!("{e}"))
}

/// Serves pgwire on `listener` until `shutdown` becomes true.
pub async fn serve(
    listener: TcpListener,
    txns: Arc<dyn TxnSource>,
    _info: Arc<NodeInfo>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let node = sql::server::Node::new(txns);
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    sql::server::serve_until(listener, node, stop).await?;
    Ok(())
}
