//! The node's HTTP endpoint: health checks for load balancers and orchestrators, and metrics
//! for Prometheus.
//!
//! - `GET /health` -> 200 `ok` while the node runs (liveness).
//! - `GET /health?ready=1` -> 200 `ok`, or 503 once the node is draining (readiness).
//! - `GET /_status/vars` -> the counters of [`crate::status::NodeInfo`] in Prometheus text format.
//!
//! A deliberately tiny HTTP/1.1 responder on tokio: one request per connection
//! (`Connection: close`), GET and HEAD only, request heads bounded by [`MAX_HEAD_BYTES`] and
//! [`HEAD_TIMEOUT`] so a slow or hostile client cannot hold memory or a task for long.
//!
//! IMPLEMENTATION CAVEATS
//! - No keep-alive, no TLS, no request bodies; the DB console of CockroachDB is not served.

use crate::status::{Metrics, NodeInfo};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Largest request head read before answering 431.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// How long a client may take to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves HTTP on `listener` until `shutdown` becomes true.
pub async fn serve(
    listener: TcpListener,
    info: Arc<NodeInfo>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let info = info.clone();
                    tokio::spawn(async move {
                        if let Err(e) = handle(stream, &info).await {
                            tracing::debug!("http connection: {e}");
                        }
                    });
                }
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!("http accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// One request, one response.
async fn handle(mut stream: TcpStream, info: &NodeInfo) -> std::io::Result<()> {
    let head = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) => {
            return respond(&mut stream, 431, "text/plain", "request too large\n", false).await
        }
        Ok(Err(e)) => return Err(e),
        Err(_) => return respond(&mut stream, 408, "text/plain", "request timeout\n", false).await,
    };
    Metrics::inc(&info.metrics.http_requests);
    let request_line = head.lines().next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return respond(
            &mut stream,
            405,
            "text/plain",
            "method not allowed\n",
            head_only,
        )
        .await;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match path {
        "/health" => {
            let ready = query
                .split('&')
                .any(|kv| kv == "ready=1" || kv == "ready=true");
            if ready && info.is_draining() {
                respond(
                    &mut stream,
                    503,
                    "text/plain",
                    "node is draining\n",
                    head_only,
                )
                .await
            } else {
                respond(&mut stream, 200, "text/plain", "ok\n", head_only).await
            }
        }
        "/_status/vars" => {
            let body = info.prometheus_text();
            respond(
                &mut stream,
                200,
                "text/plain; version=0.0.4",
                &body,
                head_only,
            )
            .await
        }
        _ => respond(&mut stream, 404, "text/plain", "not found\n", head_only).await,
    }
}

/// Reads up to the blank line ending the head; None if it exceeds [`MAX_HEAD_BYTES`].
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            break;
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Ok(None);
        }
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
    head_only: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    if !head_only {
        out.push_str(body);
    }
    stream.write_all(out.as_bytes()).await?;
    stream.shutdown().await
}
