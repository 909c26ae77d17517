//! Order-Status (clause 2.6), read-only: a customer's balance (selected by last name 60% of the
//! time), their most recent order and its lines.

use super::{Conn, Ctx, CustomerRef, Outcome};
use crate::workload::tpcc::rand::Rng;
use tokio_postgres::types::ToSql;
use tokio_postgres::Error;

/// An Order-Status input (clause 2.6.1).
#[derive(Debug, Clone)]
pub struct Input {
    /// Home warehouse.
    pub w_id: i32,
    /// District, 1..=10.
    pub d_id: i32,
    /// The customer.
    pub customer: CustomerRef,
}

/// Generates an Order-Status input for a terminal of warehouse `w_id`.
pub fn generate(rng: &mut Rng, ctx: &Ctx, w_id: i32) -> Input {
    Input {
        w_id,
        d_id: rng.uniform(1, 10) as i32,
        customer: CustomerRef::generate(rng, ctx),
    }
}

/// Fixed statements (name, SQL).
pub const STMTS: &[(&str, &str)] = &[
    (
        "os_customer",
        "SELECT c_balance::TEXT, c_first, c_middle, c_last FROM customer \
         WHERE c_w_id = $1 AND c_d_id = $2 AND c_id = $3",
    ),
    (
        "os_order",
        "SELECT o_id, o_entry_d, o_carrier_id FROM \"order\" \
         WHERE o_w_id = $1 AND o_d_id = $2 AND o_c_id = $3 ORDER BY o_id DESC LIMIT 1",
    ),
    (
        "os_lines",
        "SELECT ol_i_id, ol_supply_w_id, ol_quantity, ol_amount::TEXT, ol_delivery_d \
         FROM order_line WHERE ol_w_id = $1 AND ol_d_id = $2 AND ol_o_id = $3",
    ),
];

/// Runs the Order-Status body (inside the caller's transaction).
pub async fn execute(conn: &mut Conn, input: &Input) -> Result<Outcome, Error> {
    let (w, d) = (input.w_id, input.d_id);
    let Some(c_id) = conn.customer_id(w, d, &input.customer).await? else {
        return Ok(Outcome::Committed); // only with a reduced test scale
    };
    let p: [&(dyn ToSql + Sync); 3] = [&w, &d, &c_id];
    let (customer, order) = tokio::join!(
        conn.client.query_opt(conn.stmt("os_customer"), &p),
        conn.client.query_opt(conn.stmt("os_order"), &p),
    );
    let (_, order) = (customer?, order?);
    if let Some(order) = order {
        let o_id: i32 = order.try_get(0)?;
        let lp: [&(dyn ToSql + Sync); 3] = [&w, &d, &o_id];
        conn.client.query(conn.stmt("os_lines"), &lp).await?;
    }
    Ok(Outcome::Committed)
}
