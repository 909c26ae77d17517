//! `--partitions`, `--partition-affinity` and `--regions`: CockroachDB's way of running TPC-C
//! across regions.
//!
//! The warehouses are cut into N contiguous partitions of (nearly) equal size: with W
//! warehouses, partition `p` (0-based) holds warehouses `p*W/N + 1 ..= (p+1)*W/N`. With
//! `--regions=r1,...,rN` partition `p` is homed in region `r{p+1}`: `init` makes the database
//! multi-region (primary region r1, the others added), every warehouse-keyed table REGIONAL BY
//! ROW with each row's `crdb_region` set to its warehouse's region, and `item` GLOBAL. `run`
//! gives every terminal a home warehouse of an active partition (all, or those named by
//! `--partition-affinity`) and a connection to a gateway of that partition: the URLs are spread
//! evenly over the partitions in order (one URL per region: URL `i` is region `i`'s gateway), or
//! all belong to the single affinity partition. Remote warehouses (1% of New-Order lines, 15% of
//! Payments) are still drawn from all warehouses, so those transactions cross partitions as the
//! spec requires.
//!
//! Without `--regions`, `init --partitions` splits the warehouse-keyed tables' ranges at the
//! partition boundaries (Meridian and CockroachDB; a server without `SPLIT AT` is skipped) and
//! `run --partitions` only groups terminals and connections by partition.

use anyhow::{bail, Result};

/// How the warehouses are partitioned (and, with regions, where each partition lives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partitioning {
    /// Total warehouses.
    pub warehouses: i32,
    /// Number of partitions (1: unpartitioned).
    pub partitions: i32,
    /// One region per partition, or empty.
    pub regions: Vec<String>,
}

impl Partitioning {
    /// Validates the flags: `--regions` implies `--partitions` = the number of regions (an
    /// explicit different value is an error); 1 <= partitions <= warehouses.
    pub fn new(warehouses: i32, partitions: Option<i32>, regions: &[String]) -> Result<Self> {
        check_regions(regions)?;
        let partitions = match (partitions, regions.len()) {
            (None, 0) => 1,
            (None, n) => n as i32,
            (Some(p), 0) => p,
            (Some(p), n) if p as usize == n => p,
            (Some(p), n) => {
                bail!("--partitions={p} but {n} --regions: give one region per partition")
            }
        };
        if partitions < 1 {
            bail!("--partitions must be at least 1, got {partitions}");
        }
        if partitions > warehouses {
            bail!("--partitions={partitions} exceeds --warehouses={warehouses}");
        }
        Ok(Partitioning {
            warehouses,
            partitions,
            regions: regions.to_vec(),
        })
    }

    /// Whether the tables are REGIONAL BY ROW (`--regions` was given).
    pub fn multi_region(&self) -> bool {
        !self.regions.is_empty()
    }

    /// The first warehouse id of partition `p` (0-based); `p = partitions` gives W + 1.
    pub fn first_warehouse(&self, p: i32) -> i32 {
        (p as i64 * self.warehouses as i64 / self.partitions as i64) as i32 + 1
    }

    /// The warehouses of partition `p`.
    pub fn warehouses_of(&self, p: i32) -> std::ops::RangeInclusive<i32> {
        self.first_warehouse(p)..=self.first_warehouse(p + 1) - 1
    }

    /// The partition of warehouse `w` (1-based ids; out-of-range ids clamp to the ends).
    pub fn partition_of(&self, w: i32) -> i32 {
        let z = (w.clamp(1, self.warehouses) - 1) as i64;
        // The largest p with first_warehouse(p) - 1 <= z.
        let mut p = (z * self.partitions as i64 / self.warehouses as i64) as i32;
        while p + 1 < self.partitions && self.first_warehouse(p + 1) <= w {
            p += 1;
        }
        while p > 0 && self.first_warehouse(p) > w {
            p -= 1;
        }
        p
    }

    /// The region warehouse `w` is homed in (None without `--regions`).
    pub fn region_of(&self, w: i32) -> Option<&str> {
        self.regions
            .get(self.partition_of(w) as usize)
            .map(String::as_str)
    }

    /// The first warehouse of every partition but the first: where ranges are split.
    pub fn split_points(&self) -> Vec<i32> {
        (1..self.partitions)
            .map(|p| self.first_warehouse(p))
            .collect()
    }
}

/// Checks `--regions` (non-empty names, no duplicates).
fn check_regions(regions: &[String]) -> Result<()> {
    for (i, r) in regions.iter().enumerate() {
        if r.trim().is_empty() {
            bail!("--regions has an empty region name");
        }
        if regions[..i].contains(r) {
            bail!("--regions names {r:?} twice");
        }
    }
    Ok(())
}

/// Which partitions a run drives and which URLs serve each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Active partitions, ascending.
    pub active: Vec<i32>,
    /// Per partition (indexed by partition number): the URLs its connections use.
    pub urls: Vec<Vec<String>>,
}

impl Plan {
    /// CockroachDB's rule: with one affinity partition every URL belongs to it; otherwise the
    /// URLs are spread evenly over all partitions in order (their number must be 1 or a
    /// multiple of the partitions); a single URL serves every partition.
    pub fn new(part: &Partitioning, affinity: &[i32], urls: &[String]) -> Result<Self> {
        let n = part.partitions;
        if urls.is_empty() {
            bail!("no connection URL given");
        }
        if let Some(bad) = affinity.iter().find(|p| **p < 0) {
            bail!("--partition-affinity takes 0-based partition numbers, got {bad}");
        }
        let mut active: Vec<i32> = if affinity.is_empty() {
            (0..n).collect()
        } else {
            affinity.to_vec()
        };
        active.sort_unstable();
        active.dedup();
        if let Some(bad) = active.iter().find(|p| **p >= n) {
            bail!("--partition-affinity={bad} but there are {n} partitions (numbered from 0)");
        }
        let mut per: Vec<Vec<String>> = vec![Vec::new(); n as usize];
        if urls.len() == 1 || active.len() == 1 && !affinity.is_empty() {
            for p in &active {
                per[*p as usize] = urls.to_vec();
            }
        } else if urls.len().is_multiple_of(n as usize) {
            let k = urls.len() / n as usize;
            for (i, u) in urls.iter().enumerate() {
                per[i / k].push(u.clone());
            }
        } else {
            bail!(
                "{} URLs for {n} partitions: give one URL, or the same number of URLs for \
                 every partition, in partition order",
                urls.len()
            );
        }
        Ok(Plan { active, urls: per })
    }

    /// The active warehouses in partition order.
    pub fn warehouses(&self, part: &Partitioning) -> Vec<i32> {
        self.active
            .iter()
            .flat_map(|p| part.warehouses_of(*p))
            .collect()
    }
}

/// A SQL identifier in double quotes.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The statements that make database `db` multi-region: the first region primary, the others
/// added (IF NOT EXISTS, so a reload keeps a database that already has them), the survival goal.
pub fn database_statements(db: &str, regions: &[String], survival: &str) -> Vec<String> {
    let db = quote_ident(db);
    let mut out = Vec::new();
    if let Some((primary, rest)) = regions.split_first() {
        out.push(format!(
            "ALTER DATABASE {db} SET PRIMARY REGION {}",
            quote_ident(primary)
        ));
        for r in rest {
            out.push(format!(
                "ALTER DATABASE {db} ADD REGION IF NOT EXISTS {}",
                quote_ident(r)
            ));
        }
        out.push(format!(
            "ALTER DATABASE {db} SURVIVE {} FAILURE",
            survival.to_uppercase()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions(s: &str) -> Vec<String> {
        s.split(',').map(str::to_string).collect()
    }

    #[test]
    fn contiguous_partitions_cover_every_warehouse_once() {
        for w in 1..=40 {
            for n in 1..=w.min(7) {
                let p = Partitioning::new(w, Some(n), &[]).unwrap();
                let mut seen = Vec::new();
                for part in 0..n {
                    let ws = p.warehouses_of(part);
                    assert!(!ws.is_empty(), "W={w} N={n} partition {part} empty");
                    for x in ws {
                        assert_eq!(p.partition_of(x), part, "W={w} N={n} w={x}");
                        seen.push(x);
                    }
                }
                assert_eq!(seen, (1..=w).collect::<Vec<_>>());
            }
        }
        let p = Partitioning::new(10, Some(3), &[]).unwrap();
        assert_eq!(p.split_points(), [4, 7]);
        assert_eq!(p.warehouses_of(2), 7..=10);
    }

    #[test]
    fn regions_set_the_partitions() {
        let r = regions("us-east1,us-west1,europe-west1");
        let p = Partitioning::new(3, None, &r).unwrap();
        assert_eq!(p.partitions, 3);
        assert_eq!(
            (1..=3).map(|w| p.region_of(w).unwrap()).collect::<Vec<_>>(),
            ["us-east1", "us-west1", "europe-west1"]
        );
        assert!(Partitioning::new(3, Some(2), &r).is_err());
        assert!(
            Partitioning::new(2, None, &r).is_err(),
            "more partitions than warehouses"
        );
        assert!(Partitioning::new(3, None, &regions("a,,b")).is_err());
        assert!(Partitioning::new(3, None, &regions("a,b,a")).is_err());
        assert_eq!(Partitioning::new(5, None, &[]).unwrap().region_of(1), None);
    }

    #[test]
    fn urls_are_spread_over_partitions() {
        let p = Partitioning::new(6, Some(3), &[]).unwrap();
        let urls: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let plan = Plan::new(&p, &[], &urls).unwrap();
        assert_eq!(plan.active, [0, 1, 2]);
        assert_eq!(plan.urls, [["a"], ["b"], ["c"]]);
        assert_eq!(plan.warehouses(&p), [1, 2, 3, 4, 5, 6]);
        let one = Plan::new(&p, &[1], &urls).unwrap();
        assert_eq!(one.urls[1], urls);
        assert!(one.urls[0].is_empty());
        assert_eq!(one.warehouses(&p), [3, 4]);
        let single = Plan::new(&p, &[0, 2], &urls[..1]).unwrap();
        assert_eq!(single.urls, [vec!["a"], vec![], vec!["a"]]);
        assert!(Plan::new(&p, &[], &urls[..2]).is_err());
        assert!(Plan::new(&p, &[3], &urls).is_err());
        assert!(Plan::new(&p, &[-1], &urls).is_err());
    }

    #[test]
    fn database_statements_name_the_primary_first() {
        let s = database_statements("tpcc", &regions("a,b"), "zone");
        assert_eq!(
            s,
            [
                "ALTER DATABASE \"tpcc\" SET PRIMARY REGION \"a\"",
                "ALTER DATABASE \"tpcc\" ADD REGION IF NOT EXISTS \"b\"",
                "ALTER DATABASE \"tpcc\" SURVIVE ZONE FAILURE",
            ]
        );
    }
}
