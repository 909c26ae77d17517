//! Waiting for placement to settle before the harness measures anything.
//!
//! Right after `CREATE TABLE ... LOCALITY ...` a table's ranges still sit where the cluster
//! first put them: the span configs take up to a refresh interval to reach every node, and
//! the allocator then moves replicas and leases one step at a time. Measuring before that
//! ends reports placement in progress (GLOBAL writes that commit in the present, reads that
//! cross regions), not the steady state the table promises. This module polls `SHOW RANGES`
//! for every harness table, as an operator would, until each range has the replica count its
//! survival goal asks for, a replica in every region (both goals place one everywhere, so
//! that follower and GLOBAL reads are local), and its lease in the region its locality names,
//! and the answer has stopped changing.

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
/// many ranges were still misplaced at the end (0: settled). `regions[0]` is the primary.
pub async fn wait_for_placement(
    client: &Client,
    regions: &[String],
    limit: Duration,
) -> Result<usize> {
    let deadline = Instant::now() + limit;
    let mut last = None;
    let mut stable = 0;
    loop {
        let (misplaced, answer) = survey(client, regions).await?;
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
async fn survey(client: &Client, regions: &[String]) -> Result<(usize, Vec<String>)> {
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
                let lease: Option<String> = row.try_get("lease_holder_locality").ok().flatten();
                let localities: Option<Vec<String>> =
                    row.try_get("replica_localities").ok().flatten();
                let r = RangeRow {
                    start: start.unwrap_or_default(),
                    replicas: count("voting_replicas") + count("non_voting_replicas"),
                    localities: localities.unwrap_or_default(),
                    lease: lease.unwrap_or_default(),
                };
                if !placed(loc, regions, &r) {
                    misplaced += 1;
                }
                answer.push(format!(
                    "{} {} {:?} {}",
                    r.start, r.replicas, r.localities, r.lease
                ));
            }
        }
    }
    Ok((misplaced, answer))
}

/// One range as `SHOW RANGES` lists it.
struct RangeRow {
    start: String,
    /// Voters and non-voters.
    replicas: usize,
    /// Each replica's locality (`region=..,zone=..`).
    localities: Vec<String>,
    /// The leaseholder's locality.
    lease: String,
}

/// Whether one range is where its table's locality puts it: five replicas, one at least in
/// every region, and the lease in the primary region (`regions[0]`; REGIONAL BY TABLE,
/// GLOBAL) or in the region that starts the range's keys (a REGIONAL BY ROW partition; a
/// range before the first partition has no home).
fn placed(loc: Locality, regions: &[String], r: &RangeRow) -> bool {
    let in_region = |locality: &str, region: &str| {
        locality
            .split(',')
            .any(|tier| tier.strip_prefix("region=") == Some(region))
    };
    let everywhere = regions
        .iter()
        .all(|g| r.localities.iter().any(|l| in_region(l, g)));
    if r.replicas != REPLICAS || !everywhere {
        return false;
    }
    let primary = regions.first().map_or("", String::as_str);
    let home = match loc {
        Locality::RegionalByRow => match partition_region(&r.start) {
            Some(h) => h,
            None => return true,
        },
        _ => primary,
    };
    in_region(&r.lease, home)
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

    fn row(start: &str, regions: &[&str], lease: &str) -> RangeRow {
        RangeRow {
            start: start.into(),
            replicas: regions.len(),
            localities: regions
                .iter()
                .map(|r| format!("region={r},zone={r}-b"))
                .collect(),
            lease: lease.into(),
        }
    }

    #[test]
    fn a_range_is_placed_with_five_replicas_everywhere_and_its_lease_at_home() {
        let regions: Vec<String> = ["us-east1", "us-west1", "europe-west1"]
            .map(String::from)
            .to_vec();
        let west_first: Vec<String> = ["us-west1", "us-east1", "europe-west1"]
            .map(String::from)
            .to_vec();
        let east = "region=us-east1,zone=us-east1-b";
        let spread = [
            "us-east1",
            "us-east1",
            "us-east1",
            "us-west1",
            "europe-west1",
        ];
        let no_europe = ["us-east1", "us-east1", "us-east1", "us-west1", "us-west1"];
        assert!(placed(Locality::Global, &regions, &row("…", &spread, east)));
        assert!(!placed(
            Locality::Global,
            &regions,
            &row("…", &spread[..3], east)
        ));
        assert!(!placed(
            Locality::Global,
            &regions,
            &row("…", &no_europe, east)
        ));
        assert!(!placed(
            Locality::RegionalByTable,
            &west_first,
            &row("…", &spread, east)
        ));
        let rbr = |start| row(start, &spread, east);
        assert!(placed(
            Locality::RegionalByRow,
            &west_first,
            &rbr("/\"us-east1\"/5")
        ));
        assert!(!placed(
            Locality::RegionalByRow,
            &regions,
            &rbr("/\"europe-west1\"")
        ));
        assert!(placed(
            Locality::RegionalByRow,
            &regions,
            &row("…/1", &spread, "")
        ));
    }
}
