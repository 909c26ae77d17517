//! What `meridian demo` prints once the cluster serves: how to connect (one line per region
//! with `--global`, exactly `region <name>: postgresql://...`, so scripts can pick them up),
//! what data is loaded, and whether movr became multi-region.

use super::{Demo, DEMO_PROMO_CODES, DEMO_RIDES, DEMO_USERS, DEMO_VEHICLES};
use std::fmt::Write as _;

impl Demo {
    /// The text printed to stdout after startup.
    pub fn welcome(&self) -> String {
        let mut s = String::new();
        let n = self.cluster.len();
        let _ = writeln!(s, "#\n# Welcome to the Meridian demo database!\n#");
        if n == 1 {
            let _ = writeln!(
                s,
                "# A temporary single node in memory; its data is deleted when you exit."
            );
        } else {
            let regions = self.cluster.regions();
            let _ = writeln!(
                s,
                "# A temporary cluster of {n} nodes in {} region(s), in memory; its data is deleted when you exit.",
                regions.len()
            );
        }
        if self.global {
            let lines = self.cluster.latency.describe();
            let _ = writeln!(s, "# Simulated round trips: {}.", lines.join(", "));
        }
        if self.database == "movr" {
            let _ = writeln!(
                s,
                "# Database movr holds {DEMO_USERS} users, {DEMO_VEHICLES} vehicles, {DEMO_RIDES} rides and {DEMO_PROMO_CODES} promo codes."
            );
        }
        self.multi_region_summary(&mut s);
        if self.global {
            let _ = writeln!(s, "#\n# Connect to a region (a gateway node there):");
            for line in self.region_lines() {
                let _ = writeln!(s, "{line}");
            }
        } else if n > 1 {
            let _ = writeln!(s, "#\n# Nodes:");
            for i in 0..n {
                let url = self.cluster.url(i, &self.database).unwrap_or_default();
                let (r, z) = (self.cluster.region(i), self.cluster.zone(i));
                let _ = writeln!(s, "#   node {} ({r}, {z}): {url}", i + 1);
            }
        }
        if let Some(node) = self.cluster.node(0) {
            let addr = node.handle.sql_addr();
            let db = &self.database;
            let _ = writeln!(
                s,
                "#\n# Connect with psql:\n#   psql -h {} -p {} -U root -d {db}",
                addr.ip(),
                addr.port()
            );
            let url = self.url();
            let _ = writeln!(s, "# or with any PostgreSQL client:\n#   {url}");
            let _ = writeln!(
                s,
                "# or with the built-in shell:\n#   meridian sql --url '{url}'"
            );
            let _ = writeln!(
                s,
                "#\n# HTTP status: http://{}/_status/vars",
                node.handle.http_addr()
            );
        }
        let _ = writeln!(s, "# Press Ctrl-C to stop.");
        s
    }

    fn multi_region_summary(&self, s: &mut String) {
        if self.multi_region.is_empty() {
            return;
        }
        let failed: Vec<_> = self.multi_region.iter().filter(|o| !o.ok()).collect();
        if failed.is_empty() {
            let regions = self.cluster.regions();
            let _ = writeln!(
                s,
                "# movr is multi-region: primary region {}; users, vehicles and rides are REGIONAL BY ROW (homed by city), promo_codes is GLOBAL.",
                regions.first().map(String::as_str).unwrap_or("?")
            );
            return;
        }
        let _ = writeln!(
            s,
            "# movr is not fully multi-region: {} of {} statements were not applied (the SQL layer does not support them yet):",
            failed.len(),
            self.multi_region.len()
        );
        let mut skipped = 0;
        for o in failed {
            let err = o.error.as_deref().unwrap_or_default();
            if err.starts_with("skipped") {
                skipped += 1;
            } else {
                let _ = writeln!(s, "#   {}: {err}", o.statement);
            }
        }
        if skipped > 0 {
            let _ = writeln!(s, "#   ({skipped} dependent statements skipped)");
        }
    }
}
