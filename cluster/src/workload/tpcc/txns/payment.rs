//! Payment (clause 2.5): add the amount to the warehouse's and the district's year-to-date
//! totals, charge the customer (selected by last name 60% of the time), prepend the payment to a
//! bad-credit customer's `c_data`, and record a history row.
//!
//! The customer is in the home warehouse 85% of the time and in a random other warehouse 15% of
//! the time when W > 1 (clause 2.5.1.2).

use super::{now, Conn, Ctx, CustomerRef, Outcome};
use crate::workload::tpcc::rand::{cents_to_decimal, Rng};
use tokio_postgres::types::ToSql;
use tokio_postgres::Error;

/// A Payment's input (clause 2.5.1).
#[derive(Debug, Clone)]
pub struct Input {
    /// Home warehouse.
    pub w_id: i32,
    /// District, 1..=10.
    pub d_id: i32,
    /// The customer's warehouse.
    pub c_w_id: i32,
    /// The customer's district.
    pub c_d_id: i32,
    /// The customer.
    pub customer: CustomerRef,
    /// Amount in cents, 1.00..=5000.00.
    pub amount_cents: i64,
}

/// Generates a Payment input for a terminal of warehouse `w_id`.
pub fn generate(rng: &mut Rng, ctx: &Ctx, w_id: i32) -> Input {
    let d_id = rng.uniform(1, 10) as i32;
    let (c_w_id, c_d_id) = if ctx.warehouses > 1 && rng.uniform(1, 100) > 85 {
        (ctx.other_warehouse(rng, w_id), rng.uniform(1, 10) as i32)
    } else {
        (w_id, d_id)
    };
    Input {
        w_id,
        d_id,
        c_w_id,
        c_d_id,
        customer: CustomerRef::generate(rng, ctx),
        amount_cents: rng.uniform(100, 500_000),
    }
}

/// Fixed statements (name, SQL).
pub const STMTS: &[(&str, &str)] = &[
    (
        "pay_warehouse",
        "UPDATE warehouse SET w_ytd = w_ytd + CAST($1::TEXT AS DECIMAL(12,2)) WHERE w_id = $2 \
         RETURNING w_name, w_street_1, w_street_2, w_city, w_state, w_zip",
    ),
    (
        "pay_district",
        "UPDATE district SET d_ytd = d_ytd + CAST($1::TEXT AS DECIMAL(12,2)) \
         WHERE d_w_id = $2 AND d_id = $3 \
         RETURNING d_name, d_street_1, d_street_2, d_city, d_state, d_zip",
    ),
    (
        "pay_customer",
        "UPDATE customer SET c_balance = c_balance - CAST($1::TEXT AS DECIMAL(12,2)), \
         c_ytd_payment = c_ytd_payment + CAST($1::TEXT AS DECIMAL(12,2)), \
         c_payment_cnt = c_payment_cnt + 1, \
         c_data = CASE c_credit WHEN 'BC' THEN substr($2::TEXT || c_data, 1, 500) ELSE c_data END \
         WHERE c_w_id = $3 AND c_d_id = $4 AND c_id = $5 \
         RETURNING c_first, c_middle, c_last, c_street_1, c_street_2, c_city, c_state, c_zip, \
         c_phone, c_since, c_credit, c_credit_lim::TEXT, c_discount::FLOAT8, c_balance::TEXT",
    ),
    (
        "pay_history",
        "INSERT INTO history (h_c_id, h_c_d_id, h_c_w_id, h_d_id, h_w_id, h_date, h_amount, \
         h_data) VALUES ($1, $2, $3, $4, $5, $6, CAST($7::TEXT AS DECIMAL(6,2)), $8)",
    ),
];

/// With regions: the history insert naming `crdb_region` (the home warehouse's, `$9`).
pub const REGIONAL_STMTS: &[(&str, &str)] = &[(
    "pay_history",
    "INSERT INTO history (h_c_id, h_c_d_id, h_c_w_id, h_d_id, h_w_id, h_date, h_amount, \
     h_data, crdb_region) VALUES ($1, $2, $3, $4, $5, $6, CAST($7::TEXT AS DECIMAL(6,2)), $8, $9)",
)];

/// Runs the Payment body (inside the caller's transaction).
pub async fn execute(conn: &mut Conn, input: &Input) -> Result<Outcome, Error> {
    let amount = cents_to_decimal(input.amount_cents);
    let (w, d) = (input.w_id, input.d_id);
    let wp: [&(dyn ToSql + Sync); 2] = [&amount, &w];
    let dp: [&(dyn ToSql + Sync); 3] = [&amount, &w, &d];
    let (warehouse, district, c_id) = tokio::join!(
        conn.client.query_one(conn.stmt("pay_warehouse"), &wp),
        conn.client.query_one(conn.stmt("pay_district"), &dp),
        conn.customer_id(input.c_w_id, input.c_d_id, &input.customer),
    );
    let (warehouse, district, c_id) = (warehouse?, district?, c_id?);
    let Some(c_id) = c_id else {
        // Only possible with a reduced test scale; nothing was charged.
        return Ok(Outcome::Committed);
    };
    let w_name: String = warehouse.try_get(0)?;
    let d_name: String = district.try_get(0)?;
    let h_data = format!("{w_name}    {d_name}");
    let prefix = format!(
        "{c_id} {} {} {d} {w} {amount} | ",
        input.c_d_id, input.c_w_id
    );
    let (cw, cd) = (input.c_w_id, input.c_d_id);
    let cp: [&(dyn ToSql + Sync); 5] = [&amount, &prefix, &cw, &cd, &c_id];
    let date = now();
    let region = conn.region(w).cloned();
    let mut hp: Vec<&(dyn ToSql + Sync)> = vec![&c_id, &cd, &cw, &d, &w, &date, &amount, &h_data];
    if let Some(r) = &region {
        hp.push(r);
    }
    let (customer, history) = tokio::join!(
        conn.client.query_opt(conn.stmt("pay_customer"), &cp),
        conn.client.execute(conn.stmt("pay_history"), &hp),
    );
    let (customer, _) = (customer?, history?);
    if customer.is_none() {
        tracing::warn!("payment: customer {cw}/{cd}/{c_id} not found");
    }
    Ok(Outcome::Committed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::tpcc::rand::Constants;
    use crate::workload::tpcc::Scale;

    #[test]
    fn fifteen_percent_remote_customers() {
        let ctx = Ctx {
            warehouses: 5,
            scale: Scale::spec(),
            consts: Constants::run(&mut Rng::new(1)),
        };
        let mut rng = Rng::new(4);
        let n = 100_000;
        let mut remote = 0;
        for _ in 0..n {
            let i = generate(&mut rng, &ctx, 3);
            assert!((100..=500_000).contains(&i.amount_cents));
            if i.c_w_id != 3 {
                remote += 1;
            } else {
                assert_eq!(i.c_d_id, i.d_id);
            }
        }
        let pct = remote as f64 * 100.0 / n as f64;
        assert!((14.0..16.0).contains(&pct), "{pct}");
    }
}
