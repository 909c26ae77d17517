//! Delivery (clause 2.7), run as one transaction per call as CockroachDB's workload does: for
//! each of the warehouse's ten districts, take the oldest undelivered order (locking its
//! new-order row), delete that row, set the order's carrier, stamp its lines' delivery date and
//! credit the customer with the lines' total. A district without undelivered orders is skipped.

use super::{now, Conn, Outcome};
use crate::workload::tpcc::rand::{cents_to_decimal, decimal_to_cents, Rng};
use tokio_postgres::types::ToSql;
use tokio_postgres::Error;

/// A Delivery input (clause 2.7.1).
#[derive(Debug, Clone)]
pub struct Input {
    /// Home warehouse.
    pub w_id: i32,
    /// Carrier, 1..=10.
    pub carrier_id: i32,
}

/// Generates a Delivery input for a terminal of warehouse `w_id`.
pub fn generate(rng: &mut Rng, w_id: i32) -> Input {
    Input {
        w_id,
        carrier_id: rng.uniform(1, 10) as i32,
    }
}

/// Fixed statements (name, SQL).
pub const STMTS: &[(&str, &str)] = &[
    (
        "dl_oldest",
        "SELECT no_o_id FROM new_order WHERE no_w_id = $1 AND no_d_id = $2 \
         ORDER BY no_o_id LIMIT 1 FOR UPDATE",
    ),
    (
        "dl_delete",
        "DELETE FROM new_order WHERE no_w_id = $1 AND no_d_id = $2 AND no_o_id = $3",
    ),
    (
        "dl_order",
        "UPDATE \"order\" SET o_carrier_id = $4 WHERE o_w_id = $1 AND o_d_id = $2 AND o_id = $3 \
         RETURNING o_c_id",
    ),
    (
        "dl_lines",
        "UPDATE order_line SET ol_delivery_d = $4 \
         WHERE ol_w_id = $1 AND ol_d_id = $2 AND ol_o_id = $3 RETURNING ol_amount::TEXT",
    ),
    (
        "dl_customer",
        "UPDATE customer SET c_balance = c_balance + CAST($1::TEXT AS DECIMAL(12,2)), \
         c_delivery_cnt = c_delivery_cnt + 1 WHERE c_w_id = $2 AND c_d_id = $3 AND c_id = $4",
    ),
];

/// Runs the Delivery body (inside the caller's transaction).
pub async fn execute(conn: &mut Conn, input: &Input) -> Result<Outcome, Error> {
    let w = input.w_id;
    let date = now();
    for d in 1..=10i32 {
        let dp: [&(dyn ToSql + Sync); 2] = [&w, &d];
        let Some(row) = conn.client.query_opt(conn.stmt("dl_oldest"), &dp).await? else {
            continue;
        };
        let o_id: i32 = row.try_get(0)?;
        let np: [&(dyn ToSql + Sync); 3] = [&w, &d, &o_id];
        let op: [&(dyn ToSql + Sync); 4] = [&w, &d, &o_id, &input.carrier_id];
        let lp: [&(dyn ToSql + Sync); 4] = [&w, &d, &o_id, &date];
        let (deleted, order, lines) = tokio::join!(
            conn.client.execute(conn.stmt("dl_delete"), &np),
            conn.client.query_opt(conn.stmt("dl_order"), &op),
            conn.client.query(conn.stmt("dl_lines"), &lp),
        );
        let (_, order, lines) = (deleted?, order?, lines?);
        let Some(order) = order else { continue };
        let c_id: i32 = order.try_get(0)?;
        let mut total = 0i64;
        for l in &lines {
            let a: String = l.try_get(0)?;
            total += decimal_to_cents(&a).unwrap_or(0);
        }
        let amount = cents_to_decimal(total);
        let cp: [&(dyn ToSql + Sync); 4] = [&amount, &w, &d, &c_id];
        conn.client.execute(conn.stmt("dl_customer"), &cp).await?;
    }
    Ok(Outcome::Committed)
}
