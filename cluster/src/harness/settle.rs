//! Waiting for placement to settle before the harness measures anything.
//!
//! Right after `CREATE TABLE ... LOCALITY ...` a table's ranges still sit where the cluster
//! first put them: the span configs take up to a refresh interval to reach every node, and
//! the allocator then moves replicas and leases one step at a time. Measuring before that
//! ends reports placement in progress (GLOBAL writes that commit in the present, reads that
//! cross regions), not the steady state the table promises. This module polls `SHOW RANGES`
//! for every harness table, as an operator would, until each range has the replica count its
//! survival goal asks for and its lease in the region its locality names, and the answer has
//! stopped changing.

use super::schema::{Locality, Survival};
use super::sqlutil::short_error;
use anyhow::Result;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// Replicas per range under either survival goal: ZONE is three voters at home plus a
/// non-voter in each of the two other regions; REGION is five voters.
const REPLICAS: usize = 5;

/// How often `SHOW RANGES` is polled.
const POLL: Duration = Duration::from_millis(500);

/// Consecutive identical, fully placed answers that count as settled (the allocator acts
/// in passes; one good answer may be a moment between two steps).
const STABLE_POLLS: usize = 3;

/// Waits until every harness table's ranges are placed (or `limit` passes); returns how
/// many ranges were still misplaced at the end (0: settled).
pub async fn wait_for_placement(client: &Client, primary: &str, limit: Duration) -> Result<usize> {
    let deadline = Instant::now() + limit;
    let mut last = None;
    let mut stable = 0;
    loop {
        let (misplaced, answer) = survey(client, primary).await?;
        if misplaced == 0 && last.as_ref() == Some(&answer) {
            stable += 1;
        } else {
            stable = 0;
        }
        if stable >= STABLE_POLLS {
            return Ok(0);
        }
        if Instant::now() >= deadline {
            return Ok(misplaced.max(1));
        }
        last = Some(answer);
        tokio::time::sleep(POLL).await;
    }
}

/// One poll: the number of misplaced ranges over every table, and the raw answer (to tell
/// whether anything still moves).
async fn survey(client: &Client, primary: &str) -> Result<(usize, Vec<String>)> {
    let mut misplaced = 0;
    let mut answer = Vec::new();
    for goal in Survival::ALL {
        super::schema::use_database(client, &goal.database()).await?;
        for loc in Locality::ALL {
            let stmt = format!("SHOW RANGES FROM TABLE {}", loc.table());
            let rows = match client.query(stmt.as_str(), &[]).await {
                Ok(rows) => rows,
                Err(e) => {
                    // Not placed as far as anyone can tell: keep waiting (bounded).
                    misplaced += 1;
                    answer.push(short_error(&e));
                    continue;
                }
            };
            for row in rows {
                let start: Option<String> = row.try_get("start_key").ok().flatten();
                let count = |col: &str| -> usize {
                    let ids: Option<Vec<i64>> = row.try_get(col).ok().flatten();
                    ids.map_or(0, |v| v.len())
                };
                let replicas = count("voting_replicas") + count("non_voting_replicas");
                let lease: Option<String> = row.try_get("lease_holder_locality").ok().flatten();
                let start = start.unwrap_or_default();
                let lease = lease.unwrap_or_default();
                if !placed(loc, primary, &start, replicas, &lease) {
                    misplaced += 1;
                }
                answer.push(format!("{start} {replicas} {lease}"));
            }
        }
    }
    Ok((misplaced, answer))
}

/// Whether one range is where its table's locality puts it: five replicas, and the lease in
/// the primary region (REGIONAL BY TABLE, GLOBAL) or in the region that starts the range's
/// keys (a REGIONAL BY ROW partition; a range before the first partition has no home).
fn placed(loc: Locality, primary: &str, start_key: &str, replicas: usize, lease: &str) -> bool {
    if replicas != REPLICAS {
        return false;
    }
    let home = match loc {
        Locality::RegionalByRow => match partition_region(start_key) {
            Some(r) => r,
            None => return true,
        },
        _ => primary,
    };
    lease
        .split(',')
        .any(|tier| tier == format!("region={home}"))
}

/// The region a REGIONAL BY ROW range's start key begins with (`/"us-east1"/...` or
/// `…/"us-east1"/...` after the table and index prefix), if any.
fn partition_region(start_key: &str) -> Option<&str> {
    let open = start_key.find('"')?;
    let rest = &start_key[open + 1..];
    let close = rest.find('"')?;
    Some(&rest[..close])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_placed_with_five_replicas_and_its_lease_at_home() {
        let east = "region=us-east1,zone=us-east1-b";
        assert!(placed(Locality::Global, "us-east1", "…", 5, east));
        assert!(!placed(Locality::Global, "us-east1", "…", 3, east));
        assert!(!placed(Locality::RegionalByTable, "us-west1", "…", 5, east));
        assert!(placed(
            Locality::RegionalByRow,
            "us-west1",
            "/\"us-east1\"/5",
            5,
            east
        ));
        assert!(!placed(
            Locality::RegionalByRow,
            "us-east1",
            "/\"europe-west1\"",
            5,
            east
        ));
        assert!(placed(Locality::RegionalByRow, "us-east1", "…/1", 5, ""));
    }
}
