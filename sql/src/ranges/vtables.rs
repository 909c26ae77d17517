//! `crdb_internal.ranges` and `crdb_internal.gossip_nodes`: the whole key space's ranges and
//! the cluster's nodes, as the [`txn::TxnSource`] reports them, queryable with SQL
//! (`SELECT ... FROM crdb_internal.ranges WHERE lease_holder = 2`).

use super::pretty::KeyPrinter;
use super::show::{int, node_localities, overlapping_ranges};
use crate::context::{Column, ExecContext};
use crate::types::{DataType, Datum, Row};
use crate::Result;

/// The schema of these tables.
pub const SCHEMA: &str = "crdb_internal";

fn int8_array() -> DataType {
    DataType::Array(Box::new(DataType::Int8))
}

/// The columns of `crdb_internal.<name>`, or None when this module has no such table.
pub fn lookup(schema: &str, name: &str) -> Option<Vec<Column>> {
    if !schema.eq_ignore_ascii_case(SCHEMA) {
        return None;
    }
    let cols = match name.to_ascii_lowercase().as_str() {
        "ranges" => vec![
            Column::new("range_id", DataType::Int8),
            Column::new("start_key", DataType::Bytea),
            Column::new("start_pretty", DataType::Text),
            Column::new("end_key", DataType::Bytea),
            Column::new("end_pretty", DataType::Text),
            Column::new("replicas", int8_array()),
            Column::new(
                "replica_localities",
                DataType::Array(Box::new(DataType::Text)),
            ),
            Column::new("lease_holder", DataType::Int8),
        ],
        "gossip_nodes" => vec![
            Column::new("node_id", DataType::Int8),
            Column::new("network", DataType::Text),
            Column::new("address", DataType::Text),
            Column::new("sql_network", DataType::Text),
            Column::new("sql_address", DataType::Text),
            Column::new("locality", DataType::Text),
            Column::new("is_live", DataType::Bool),
            Column::new("is_decommissioning", DataType::Bool),
            Column::new("ranges", DataType::Int8),
            Column::new("leases", DataType::Int8),
        ],
        _ => return None,
    };
    Some(cols)
}

/// The rows of `crdb_internal.<name>` (None when this module has no such table).
pub fn rows(ctx: &ExecContext, schema: &str, name: &str) -> Option<Result<Vec<Row>>> {
    lookup(schema, name)?;
    Some(match name.to_ascii_lowercase().as_str() {
        "gossip_nodes" => gossip_nodes(ctx),
        _ => ranges(ctx),
    })
}

fn ranges(ctx: &ExecContext) -> Result<Vec<Row>> {
    let all = overlapping_ranges(ctx, &[(Vec::new(), None)])?;
    let localities = node_localities(ctx)?;
    let mut printer = KeyPrinter::new(&ctx.txn);
    Ok(all
        .into_iter()
        .map(|r| {
            let start_pretty = printer.start(&r.start);
            let end_pretty = printer.end(r.end.as_deref());
            vec![
                int(r.range_id),
                Datum::Bytes(r.start.clone()),
                Datum::Text(start_pretty),
                r.end.clone().map_or(Datum::Null, Datum::Bytes),
                Datum::Text(end_pretty),
                Datum::Array(r.replicas.iter().map(|n| int(*n)).collect()),
                Datum::Array(
                    r.replicas
                        .iter()
                        .map(|n| localities.get(n).cloned().map_or(Datum::Null, Datum::Text))
                        .collect(),
                ),
                r.leaseholder.map_or(Datum::Null, int),
            ]
        })
        .collect())
}

fn gossip_nodes(ctx: &ExecContext) -> Result<Vec<Row>> {
    let mut nodes = ctx.txns.nodes()?;
    nodes.sort_by_key(|n| n.node_id);
    let count = |v: Option<u64>| v.map_or(Datum::Null, int);
    Ok(nodes
        .into_iter()
        .map(|n| {
            vec![
                int(n.node_id),
                Datum::Text("tcp".into()),
                Datum::Text(n.address),
                Datum::Text("tcp".into()),
                Datum::Text(n.sql_address),
                Datum::Text(n.locality),
                Datum::Bool(n.is_live),
                Datum::Bool(n.decommissioning),
                count(n.ranges),
                count(n.leases),
            ]
        })
        .collect())
}
