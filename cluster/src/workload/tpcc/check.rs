//! `meridian workload check tpcc`: the spec's consistency conditions 1-4 (clause 3.3.2), each
//! evaluated per warehouse or district with GROUP BY queries whose results are compared in the
//! client (the same SQL on PostgreSQL and Meridian):
//!
//! 1. `W_YTD = sum(D_YTD)` for every warehouse.
//! 2. `D_NEXT_O_ID - 1 = max(O_ID) = max(NO_O_ID)` for every district.
//! 3. `max(NO_O_ID) - min(NO_O_ID) + 1 = count(new_order rows)` for every district.
//! 4. `sum(O_OL_CNT) = count(order_line rows)` for every district.
//!
//! A district without undelivered orders has no `new_order` rows; conditions 2 and 3 then only
//! compare what exists (clause 3.3.2.2 applies to districts with new orders).

use super::parse_warehouses;
use super::rand::decimal_to_cents;
use crate::workload::connect;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use tokio_postgres::{Client, SimpleQueryMessage};

/// Options of `meridian workload check tpcc`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckOpts {
    /// Number of warehouses loaded.
    #[arg(long, default_value = "1", value_parser = parse_warehouses)]
    pub warehouses: i32,
    /// Connection URL (postgresql://user@host:port/db).
    pub url: String,
}

/// One condition's verdict.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Condition {
    /// "1" .. "4".
    pub number: u32,
    /// What it states.
    pub name: &'static str,
    /// Violations found (empty: the condition holds).
    pub violations: Vec<String>,
}

/// Rows of a query as text, keyed by the first `key_cols` columns.
async fn keyed(
    client: &Client,
    sql: &str,
    key_cols: usize,
) -> Result<BTreeMap<Vec<i64>, Vec<String>>> {
    let msgs = client
        .simple_query(sql)
        .await
        .with_context(|| sql.to_string())?;
    let mut out = BTreeMap::new();
    for m in msgs {
        if let SimpleQueryMessage::Row(r) = m {
            let mut key = Vec::with_capacity(key_cols);
            for i in 0..key_cols {
                let v = r.get(i).unwrap_or("");
                key.push(v.parse().with_context(|| format!("{sql}: key {v:?}"))?);
            }
            let rest = (key_cols..r.len())
                .map(|i| r.get(i).unwrap_or("").to_string())
                .collect();
            out.insert(key, rest);
        }
    }
    Ok(out)
}

fn cents(s: &str) -> Option<i64> {
    decimal_to_cents(s)
}

/// Condition 1: W_YTD = sum(D_YTD).
async fn condition_1(c: &Client) -> Result<Vec<String>> {
    let w = keyed(c, "SELECT w_id, w_ytd FROM warehouse", 1).await?;
    let d = keyed(
        c,
        "SELECT d_w_id, sum(d_ytd) FROM district GROUP BY d_w_id",
        1,
    )
    .await?;
    let mut bad = Vec::new();
    for (k, v) in &w {
        let dsum = d.get(k).and_then(|r| cents(&r[0]));
        if cents(&v[0]).is_none() || cents(&v[0]) != dsum {
            bad.push(format!(
                "warehouse {}: w_ytd {} but sum(d_ytd) {:?}",
                k[0],
                v[0],
                d.get(k)
            ));
        }
    }
    Ok(bad)
}

/// Conditions 2 and 3 (they read the same aggregates).
async fn conditions_2_3(c: &Client) -> Result<(Vec<String>, Vec<String>)> {
    let d = keyed(c, "SELECT d_w_id, d_id, d_next_o_id FROM district", 2).await?;
    let o = keyed(
        c,
        "SELECT o_w_id, o_d_id, max(o_id) FROM \"order\" GROUP BY o_w_id, o_d_id",
        2,
    )
    .await?;
    let no = keyed(
        c,
        "SELECT no_w_id, no_d_id, max(no_o_id), min(no_o_id), count(*) FROM new_order \
         GROUP BY no_w_id, no_d_id",
        2,
    )
    .await?;
    let (mut bad2, mut bad3) = (Vec::new(), Vec::new());
    let int = |s: &str| s.parse::<i64>().ok();
    for (k, v) in &d {
        let next = int(&v[0]);
        let max_o = o.get(k).and_then(|r| int(&r[0]));
        let n = no.get(k);
        let max_no = n.and_then(|r| int(&r[0]));
        let ok = next.map(|x| x - 1) == max_o && (n.is_none() || max_no == max_o);
        if !ok {
            bad2.push(format!(
                "district {}/{}: d_next_o_id - 1 = {:?}, max(o_id) = {max_o:?}, max(no_o_id) = {max_no:?}",
                k[0],
                k[1],
                next.map(|x| x - 1)
            ));
        }
        if let Some(r) = n {
            let (max, min, count) = (int(&r[0]), int(&r[1]), int(&r[2]));
            if max.zip(min).map(|(a, b)| a - b + 1) != count {
                bad3.push(format!(
                    "district {}/{}: max(no_o_id) - min(no_o_id) + 1 = {:?} but count = {count:?}",
                    k[0],
                    k[1],
                    max.zip(min).map(|(a, b)| a - b + 1)
                ));
            }
        }
    }
    Ok((bad2, bad3))
}

/// Condition 4: sum(O_OL_CNT) = count(order_line).
async fn condition_4(c: &Client) -> Result<Vec<String>> {
    let o = keyed(
        c,
        "SELECT o_w_id, o_d_id, sum(o_ol_cnt) FROM \"order\" GROUP BY o_w_id, o_d_id",
        2,
    )
    .await?;
    let ol = keyed(
        c,
        "SELECT ol_w_id, ol_d_id, count(*) FROM order_line GROUP BY ol_w_id, ol_d_id",
        2,
    )
    .await?;
    let mut bad = Vec::new();
    for (k, v) in &o {
        let lines = ol.get(k).map(|r| r[0].as_str()).unwrap_or("0");
        if v[0].parse::<i64>().ok() != lines.parse::<i64>().ok() {
            bad.push(format!(
                "district {}/{}: sum(o_ol_cnt) = {} but {lines} order lines",
                k[0], k[1], v[0]
            ));
        }
    }
    Ok(bad)
}

/// Evaluates conditions 1-4. Errors only for failed queries; violations are in the result.
pub async fn check(opts: &CheckOpts) -> Result<Vec<Condition>> {
    let c = connect(&opts.url).await?;
    let w = keyed(&c, "SELECT count(*) FROM warehouse", 1)
        .await
        .context("reading warehouse (did you run `meridian workload init tpcc`?)")?;
    let count = w.keys().next().map(|k| k[0]).unwrap_or(0);
    let mut counted = Vec::new();
    if count != opts.warehouses as i64 {
        counted.push(format!(
            "{count} warehouses loaded but --warehouses={}",
            opts.warehouses
        ));
    }
    let (c2, c3) = conditions_2_3(&c).await?;
    let mut c1 = condition_1(&c).await?;
    c1.extend(counted);
    Ok(vec![
        Condition {
            number: 1,
            name: "W_YTD = sum(D_YTD)",
            violations: c1,
        },
        Condition {
            number: 2,
            name: "D_NEXT_O_ID - 1 = max(O_ID) = max(NO_O_ID)",
            violations: c2,
        },
        Condition {
            number: 3,
            name: "max(NO_O_ID) - min(NO_O_ID) + 1 = count(NEW_ORDER)",
            violations: c3,
        },
        Condition {
            number: 4,
            name: "sum(O_OL_CNT) = count(ORDER_LINE)",
            violations: condition_4(&c).await?,
        },
    ])
}

/// Prints the verdicts; returns whether all hold.
pub fn print_check(conditions: &[Condition]) -> bool {
    let mut ok = true;
    for c in conditions {
        if c.violations.is_empty() {
            println!("check {}: {}: ok", c.number, c.name);
        } else {
            ok = false;
            println!(
                "check {}: {}: FAILED ({} violations)",
                c.number,
                c.name,
                c.violations.len()
            );
            for v in c.violations.iter().take(10) {
                println!("  {v}");
            }
        }
    }
    ok
}
