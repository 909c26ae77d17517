//! The operator commands that talk to a running cluster over its internal RPC: `meridian
//! init`, `meridian node status` and `meridian node decommission`.

use crate::desc;
use crate::rpc::{NodeRequest, NodeResponse, NodeStatusRow, WireError};
use crate::shell::format::{render, ResultTable};
use crate::transport::{GrpcTransport, Target, Transport};
use anyhow::{anyhow, Result};
use kv::NodeId;
use std::time::Duration;

/// How long one operator call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How often `decommission` reports progress.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

fn call(addr: &str, req: NodeRequest) -> Result<NodeResponse> {
    let t = GrpcTransport::new(NodeId(0), tokio::runtime::Handle::current());
    let raw = t
        .call(
            &Target::Addr(addr.to_string()),
            desc::encode(&req),
            CALL_TIMEOUT,
        )
        .map_err(|e| anyhow!("cannot reach the node at {addr}: {e}"))?;
    desc::decode(&raw).map_err(|e| anyhow!("bad answer from {addr}: {e}"))
}

fn wire(e: WireError) -> anyhow::Error {
    anyhow!("{}", e.into_txn())
}

/// `meridian init --host=<addr>`.
pub fn init(addr: &str) -> Result<()> {
    match call(addr, NodeRequest::Init)? {
        NodeResponse::Done(Ok(())) => Ok(()),
        NodeResponse::Done(Err(e)) => Err(wire(e)),
        other => Err(anyhow!("unexpected answer: {other:?}")),
    }
}

/// Every node's status, via the node at `addr`.
pub fn status(addr: &str) -> Result<Vec<NodeStatusRow>> {
    match call(addr, NodeRequest::Status)? {
        NodeResponse::Status(Ok(rows)) => Ok(rows),
        NodeResponse::Status(Err(e)) => Err(wire(e)),
        other => Err(anyhow!("unexpected answer: {other:?}")),
    }
}

/// Renders `meridian node status` like CockroachDB's table.
pub fn render_status(rows: &[NodeStatusRow]) -> String {
    let table = ResultTable {
        columns: [
            "id",
            "address",
            "sql_address",
            "locality",
            "is_live",
            "replicas",
            "is_decommissioning",
        ]
        .map(String::from)
        .to_vec(),
        rows: rows
            .iter()
            .map(|r| {
                [
                    r.record.node_id.0.to_string(),
                    r.record.addr.clone(),
                    r.record.sql_addr.clone(),
                    r.record
                        .locality
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(","),
                    r.is_live.to_string(),
                    r.replicas.to_string(),
                    r.record.decommissioning.to_string(),
                ]
                .map(Some)
                .to_vec()
            })
            .collect(),
    };
    render(&table)
}

/// `meridian node decommission <id> --host=<addr>`: marks the node and waits until it holds
/// no replicas, printing progress; `wait=false` returns after marking.
pub fn decommission(addr: &str, node: u64, wait: bool) -> Result<()> {
    match call(addr, NodeRequest::Decommission { node: NodeId(node) })? {
        NodeResponse::Done(Ok(())) => {}
        NodeResponse::Done(Err(e)) => return Err(wire(e)),
        other => return Err(anyhow!("unexpected answer: {other:?}")),
    }
    if !wait {
        return Ok(());
    }
    loop {
        let rows = status(addr)?;
        let left = rows
            .iter()
            .find(|r| r.record.node_id.0 == node)
            .map_or(0, |r| r.replicas);
        println!("node {node}: {left} replicas left to move");
        if left == 0 {
            println!("No more data reported on target nodes. Please verify cluster health before removing the nodes.");
            return Ok(());
        }
        std::thread::sleep(PROGRESS_INTERVAL);
    }
}
