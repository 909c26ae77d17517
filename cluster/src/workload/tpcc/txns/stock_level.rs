//! Stock-Level (clause 2.8), read-only: how many distinct items of the district's last 20 orders
//! are below a stock threshold. The terminal's district is fixed (clause 2.8.1.1).

use super::{Conn, Outcome};
use crate::workload::tpcc::rand::Rng;
use tokio_postgres::types::ToSql;
use tokio_postgres::Error;

/// A Stock-Level input (clause 2.8.1).
#[derive(Debug, Clone)]
pub struct Input {
    /// Home warehouse.
    pub w_id: i32,
    /// The terminal's district.
    pub d_id: i32,
    /// Threshold, 10..=20.
    pub threshold: i32,
}

/// Generates a Stock-Level input for the terminal at (`w_id`, `d_id`).
pub fn generate(rng: &mut Rng, w_id: i32, d_id: i32) -> Input {
    Input {
        w_id,
        d_id,
        threshold: rng.uniform(10, 20) as i32,
    }
}

/// Fixed statements (name, SQL).
pub const STMTS: &[(&str, &str)] = &[
    (
        "sl_district",
        "SELECT d_next_o_id FROM district WHERE d_w_id = $1 AND d_id = $2",
    ),
    (
        "sl_count",
        "SELECT count(DISTINCT s_i_id) FROM order_line \
         JOIN stock ON s_w_id = ol_w_id AND s_i_id = ol_i_id \
         WHERE ol_w_id = $1 AND ol_d_id = $2 AND ol_o_id >= $3 AND ol_o_id < $4 \
         AND s_quantity < $5",
    ),
];

/// Runs the Stock-Level body (inside the caller's transaction).
pub async fn execute(conn: &mut Conn, input: &Input) -> Result<Outcome, Error> {
    let (w, d) = (input.w_id, input.d_id);
    let dp: [&(dyn ToSql + Sync); 2] = [&w, &d];
    let next: i32 = conn
        .client
        .query_one(conn.stmt("sl_district"), &dp)
        .await?
        .try_get(0)?;
    let low = next - 20;
    let cp: [&(dyn ToSql + Sync); 5] = [&w, &d, &low, &next, &input.threshold];
    let _count: i64 = conn
        .client
        .query_one(conn.stmt("sl_count"), &cp)
        .await?
        .try_get(0)?;
    Ok(Outcome::Committed)
}
