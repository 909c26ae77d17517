//! New-Order (clause 2.4): take the district's next order id, read the warehouse tax, the
//! customer's discount and credit, the items and their stock (locked), then write the order, the
//! new-order row, one order line per item and the stock updates.
//!
//! 1% of orders carry an unused item id as their last item (clause 2.4.1.4): the item read
//! comes back short and the transaction rolls back, which the spec counts as a completed
//! New-Order. Each line's supplying warehouse is remote with probability 1% when W > 1.
//! Items within one order are distinct, so every stock row is read and updated once.

use super::{now, placeholders, Conn, Ctx, Outcome};
use crate::workload::tpcc::rand::{cents_to_decimal, Rng};
use futures::future::{join_all, BoxFuture};
use std::collections::BTreeMap;
use tokio_postgres::types::ToSql;
use tokio_postgres::Error;

/// One order line's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Item id (`items + 1` for the rollback case).
    pub i_id: i32,
    /// Supplying warehouse.
    pub supply_w_id: i32,
    /// Quantity, 1..=10.
    pub quantity: i32,
}

/// A New-Order's input (clause 2.4.1).
#[derive(Debug, Clone)]
pub struct Input {
    /// Home warehouse.
    pub w_id: i32,
    /// District, 1..=10.
    pub d_id: i32,
    /// Customer, NURand(1023, 1, 3000).
    pub c_id: i32,
    /// 5..=15 lines.
    pub lines: Vec<Line>,
}

/// Generates a New-Order input for a terminal of warehouse `w_id`.
pub fn generate(rng: &mut Rng, ctx: &Ctx, w_id: i32) -> Input {
    let d_id = rng.uniform(1, 10) as i32;
    let c_id = ctx.customer_id(rng);
    let ol_cnt = rng.uniform(5, 15) as usize;
    let rollback = rng.uniform(1, 100) == 1;
    let items = ctx.scale.items as i64;
    let mut lines: Vec<Line> = Vec::with_capacity(ol_cnt);
    for n in 0..ol_cnt {
        let i_id = if rollback && n == ol_cnt - 1 {
            items as i32 + 1
        } else {
            loop {
                let id = rng.nurand(8191, 1, items, ctx.consts.ol_i_id) as i32;
                if lines.iter().all(|l| l.i_id != id) || items < 16 {
                    break id;
                }
            }
        };
        let supply_w_id = if ctx.warehouses > 1 && rng.uniform(1, 100) == 1 {
            ctx.other_warehouse(rng, w_id)
        } else {
            w_id
        };
        let quantity = rng.uniform(1, 10) as i32;
        lines.push(Line {
            i_id,
            supply_w_id,
            quantity,
        });
    }
    Input {
        w_id,
        d_id,
        c_id,
        lines,
    }
}

/// Fixed statements (name, SQL).
pub const STMTS: &[(&str, &str)] = &[
    (
        "no_district",
        "UPDATE district SET d_next_o_id = d_next_o_id + 1 \
         WHERE d_w_id = $1 AND d_id = $2 RETURNING d_tax::FLOAT8, d_next_o_id",
    ),
    (
        "no_warehouse",
        "SELECT w_tax::FLOAT8 FROM warehouse WHERE w_id = $1",
    ),
    (
        "no_customer",
        "SELECT c_discount::FLOAT8, c_last, c_credit FROM customer \
         WHERE c_w_id = $1 AND c_d_id = $2 AND c_id = $3",
    ),
    (
        "no_stock_update",
        "UPDATE stock SET s_quantity = $1, s_ytd = s_ytd + $2, s_order_cnt = s_order_cnt + 1, \
         s_remote_cnt = s_remote_cnt + $3 WHERE s_w_id = $4 AND s_i_id = $5",
    ),
    (
        "no_order",
        "INSERT INTO \"order\" (o_id, o_d_id, o_w_id, o_c_id, o_entry_d, o_ol_cnt, o_all_local) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    ),
    (
        "no_new_order",
        "INSERT INTO new_order (no_o_id, no_d_id, no_w_id) VALUES ($1, $2, $3)",
    ),
];

/// With regions: the inserts that name `crdb_region` (its value the last parameter).
pub const REGIONAL_STMTS: &[(&str, &str)] = &[
    (
        "no_order",
        "INSERT INTO \"order\" (o_id, o_d_id, o_w_id, o_c_id, o_entry_d, o_ol_cnt, o_all_local, \
         crdb_region) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    ),
    (
        "no_new_order",
        "INSERT INTO new_order (no_o_id, no_d_id, no_w_id, crdb_region) VALUES ($1, $2, $3, $4)",
    ),
];

fn items_sql(n: usize) -> String {
    format!(
        "SELECT i_id, i_price::TEXT FROM item WHERE i_id IN ({})",
        placeholders(1, n)
    )
}

/// Stock of `n` items of one warehouse, locked; `s_dist_XX` of district `d` comes from the name.
fn stock_sql(d_id: usize, n: usize) -> String {
    format!(
        "SELECT s_i_id, s_quantity, s_dist_{d_id:02} FROM stock \
         WHERE s_w_id = $1 AND s_i_id IN ({}) ORDER BY s_i_id FOR UPDATE",
        placeholders(2, n)
    )
}

/// One multi-row INSERT for all lines: $1..$3 are (o_id, d_id, w_id), then six per line;
/// `regional` adds `crdb_region`, the last parameter, to every row.
fn order_lines_sql(n: usize, regional: bool) -> String {
    let region = if regional {
        format!(", ${}", 4 + n * 6)
    } else {
        String::new()
    };
    let rows: Vec<String> = (0..n)
        .map(|i| {
            let b = 4 + i * 6;
            format!(
                "($1, $2, $3, ${}, ${}, ${}, ${}, CAST(${}::TEXT AS DECIMAL(6,2)), ${}{region})",
                b,
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5
            )
        })
        .collect();
    format!(
        "INSERT INTO order_line (ol_o_id, ol_d_id, ol_w_id, ol_number, ol_i_id, ol_supply_w_id, \
         ol_quantity, ol_amount, ol_dist_info{}) VALUES {}",
        if regional { ", crdb_region" } else { "" },
        rows.join(", ")
    )
}

/// Stock rows read for the order: item id -> (quantity, dist info), per supplying warehouse.
type StockRows = BTreeMap<(i32, i32), (i32, String)>;

async fn read_stock(conn: &mut Conn, input: &Input) -> Result<StockRows, Error> {
    let mut by_w: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for l in &input.lines {
        by_w.entry(l.supply_w_id).or_default().push(l.i_id);
    }
    let mut out = StockRows::new();
    let d = input.d_id as usize;
    for (w, mut ids) in by_w {
        ids.sort_unstable();
        ids.dedup();
        let st = conn
            .by_arity("no_stock", d * 100 + ids.len(), |_| stock_sql(d, ids.len()))
            .await?;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&w];
        params.extend(ids.iter().map(|i| i as &(dyn ToSql + Sync)));
        for r in conn.client.query(&st, &params).await? {
            out.insert((w, r.try_get(0)?), (r.try_get(1)?, r.try_get(2)?));
        }
    }
    Ok(out)
}

/// Runs the New-Order body (inside the caller's transaction).
pub async fn execute(conn: &mut Conn, input: &Input) -> Result<Outcome, Error> {
    let (w, d, c) = (input.w_id, input.d_id, input.c_id);
    let (wd, wdc): ([&(dyn ToSql + Sync); 2], [&(dyn ToSql + Sync); 3]) = ([&w, &d], [&w, &d, &c]);
    let (district, warehouse, customer) = tokio::join!(
        conn.client.query_one(conn.stmt("no_district"), &wd),
        conn.client.query_one(conn.stmt("no_warehouse"), &wd[..1]),
        conn.client.query_one(conn.stmt("no_customer"), &wdc),
    );
    let (district, _, _) = (district?, warehouse?, customer?);
    let o_id: i32 = district.try_get::<_, i32>(1)? - 1;

    let mut ids: Vec<i32> = input.lines.iter().map(|l| l.i_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let st = conn.by_arity("no_items", ids.len(), items_sql).await?;
    let params: Vec<&(dyn ToSql + Sync)> = ids.iter().map(|i| i as &(dyn ToSql + Sync)).collect();
    let items = conn.client.query(&st, &params).await?;
    if items.len() < ids.len() {
        return Ok(Outcome::RolledBack); // an unused item id: clause 2.4.2.3
    }
    let mut price = BTreeMap::new();
    for r in &items {
        let p: String = r.try_get(1)?;
        price.insert(
            r.try_get::<_, i32>(0)?,
            super::super::rand::decimal_to_cents(&p).unwrap_or(0),
        );
    }
    let stock = read_stock(conn, input).await?;
    write_order(conn, input, o_id, &price, &stock).await?;
    Ok(Outcome::Committed)
}

/// The pipelined writes: stock updates, the order, the new-order row and the order lines.
async fn write_order(
    conn: &mut Conn,
    input: &Input,
    o_id: i32,
    price: &BTreeMap<i32, i64>,
    stock: &StockRows,
) -> Result<(), Error> {
    let (w, d) = (input.w_id, input.d_id);
    let n = input.lines.len();
    let regional = conn.regional();
    let lines_st = conn
        .by_arity("no_lines", n, |n| order_lines_sql(n, regional))
        .await?;
    let region = conn.region(w).cloned();
    let all_local = i32::from(input.lines.iter().all(|l| l.supply_w_id == w));
    let ol_cnt = n as i32;
    let entry = now();
    // Per line: new stock quantity, remote flag, number, amount text, dist info.
    let mut per_line = Vec::with_capacity(n);
    for (k, l) in input.lines.iter().enumerate() {
        let (qty, dist) = stock
            .get(&(l.supply_w_id, l.i_id))
            .cloned()
            .unwrap_or((0, String::new()));
        let new_qty = if qty >= l.quantity + 10 {
            qty - l.quantity
        } else {
            qty - l.quantity + 91
        };
        let amount = price.get(&l.i_id).copied().unwrap_or(0) * l.quantity as i64;
        let remote = i32::from(l.supply_w_id != w);
        per_line.push((
            new_qty,
            remote,
            k as i32 + 1,
            cents_to_decimal(amount),
            dist,
        ));
    }
    let stock_params: Vec<[&(dyn ToSql + Sync); 5]> = input
        .lines
        .iter()
        .zip(&per_line)
        .map(|(l, (new_qty, remote, ..))| {
            [
                new_qty as &(dyn ToSql + Sync),
                &l.quantity,
                remote,
                &l.supply_w_id,
                &l.i_id,
            ]
        })
        .collect();
    let mut order_params: Vec<&(dyn ToSql + Sync)> =
        vec![&o_id, &d, &w, &input.c_id, &entry, &ol_cnt, &all_local];
    let mut new_order_params: Vec<&(dyn ToSql + Sync)> = vec![&o_id, &d, &w];
    let mut line_params: Vec<&(dyn ToSql + Sync)> = vec![&o_id, &d, &w];
    for (l, (_, _, number, amount, dist)) in input.lines.iter().zip(&per_line) {
        line_params.extend([
            number as &(dyn ToSql + Sync),
            &l.i_id,
            &l.supply_w_id,
            &l.quantity,
            amount,
            dist,
        ]);
    }
    if let Some(r) = &region {
        order_params.push(r);
        new_order_params.push(r);
        line_params.push(r);
    }
    let c = &conn.client;
    let mut writes: Vec<BoxFuture<'_, Result<u64, Error>>> = Vec::new();
    let stock_up = conn.stmt("no_stock_update");
    for p in &stock_params {
        writes.push(Box::pin(c.execute(stock_up, p)));
    }
    writes.push(Box::pin(c.execute(conn.stmt("no_order"), &order_params)));
    writes.push(Box::pin(
        c.execute(conn.stmt("no_new_order"), &new_order_params),
    ));
    writes.push(Box::pin(c.execute(&lines_st, &line_params)));
    // In statement order: the first failure aborted the transaction and hides behind later 25P02s.
    for r in join_all(writes).await {
        r?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::tpcc::rand::Constants;
    use crate::workload::tpcc::Scale;

    #[test]
    fn inputs_follow_the_spec() {
        let ctx = Ctx {
            warehouses: 4,
            scale: Scale::spec(),
            consts: Constants::run(&mut Rng::new(1)),
        };
        let mut rng = Rng::new(2);
        let (mut rollbacks, mut lines, mut remote) = (0, 0, 0);
        let n = 20_000;
        for _ in 0..n {
            let i = generate(&mut rng, &ctx, 2);
            assert!((5..=15).contains(&i.lines.len()) && (1..=10).contains(&i.d_id));
            assert!((1..=3000).contains(&i.c_id));
            let mut ids: Vec<i32> = i.lines.iter().map(|l| l.i_id).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), i.lines.len(), "items are distinct");
            rollbacks += usize::from(i.lines.iter().any(|l| l.i_id == 100_001));
            for l in &i.lines {
                assert!((1..=10).contains(&l.quantity) && (1..=4).contains(&l.supply_w_id));
                remote += usize::from(l.supply_w_id != 2);
                lines += 1;
            }
        }
        assert!((140..260).contains(&rollbacks), "{rollbacks} of {n}");
        let pct = remote as f64 * 100.0 / lines as f64;
        assert!((0.8..1.2).contains(&pct), "{pct}% remote lines");
    }

    #[test]
    fn order_line_insert_numbers_parameters() {
        let sql = order_lines_sql(2, false);
        assert!(sql.contains("($1, $2, $3, $4, $5, $6, $7, CAST($8::TEXT AS DECIMAL(6,2)), $9)"));
        assert!(sql.ends_with("CAST($14::TEXT AS DECIMAL(6,2)), $15)"));
        let sql = order_lines_sql(2, true);
        assert!(sql.contains("ol_dist_info, crdb_region) VALUES"), "{sql}");
        assert!(sql.contains("AS DECIMAL(6,2)), $9, $16), ($1"), "{sql}");
        assert!(
            sql.ends_with("CAST($14::TEXT AS DECIMAL(6,2)), $15, $16)"),
            "{sql}"
        );
    }
}
