//! The seam between the node and the SQL layer: catalog bootstrap and the pgwire server.
//!
//! Everything the node needs from `sql` goes through these two functions, so the rest of the
//! crate does not change when the SQL layer's entry points do.
//!
//! IMPLEMENTATION CAVEATS
//! - TEMPORARY: until `sql::server` lands, `serve` accepts connections and answers every startup
//!   with a pgwire ErrorResponse (SQLSTATE 0A000), and `bootstrap` does nothing.

use crate::status::{Metrics, NodeInfo};
use anyhow::Result;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use txn::TxnSource;

/// Creates the system descriptors and default databases on a fresh store (idempotent).
pub fn bootstrap(_txns: &dyn TxnSource) -> Result<()> {
    Ok(())
}

/// Serves pgwire on `listener` until `shutdown` becomes true.
pub async fn serve(
    listener: TcpListener,
    _txns: Arc<dyn TxnSource>,
    info: Arc<NodeInfo>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            accepted = listener.accept() => {
                let (mut stream, _) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!("sql accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                Metrics::inc(&info.metrics.sql_conns_accepted);
                tokio::spawn(async move {
                    let _ = stream.write_all(&error_response("SQL layer not built yet")).await;
                });
            }
        }
    }
}

fn error_response(msg: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for (tag, val) in [(b'S', "FATAL"), (b'C', "0A000"), (b'M', msg)] {
        body.push(tag);
        body.extend_from_slice(val.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = vec![b'E'];
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(&body);
    out
}
