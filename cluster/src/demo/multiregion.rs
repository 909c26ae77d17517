//! Making `movr` multi-region, as CockroachDB's multi-region movr tutorial does: the first
//! region becomes the primary region, the others are added, users/vehicles/rides become
//! `REGIONAL BY ROW` with each row homed in its city's region, and `promo_codes` (read
//! everywhere, rarely written) becomes `GLOBAL`.
//!
//! Every statement is tried and its outcome recorded ([`Outcome`]); one the SQL layer does not
//! support yet is logged and skips only the statements that depend on it, so the demo still
//! starts (serving movr single-region).

use super::movr::CITIES;
use crate::harness::sqlutil::{try_statements, Outcome};
use tokio_postgres::Client;

/// The statements, in dependency groups: the database's regions first (nothing else applies
/// without them), then one group per table.
pub fn statements(regions: &[String]) -> Vec<Vec<String>> {
    let Some((primary, others)) = regions.split_first() else {
        return Vec::new();
    };
    let mut db = vec![format!(
        "ALTER DATABASE movr SET PRIMARY REGION \"{primary}\""
    )];
    db.extend(
        others
            .iter()
            .map(|r| format!("ALTER DATABASE movr ADD REGION \"{r}\"")),
    );
    let mut groups = vec![db];
    let case = region_case(regions);
    for table in ["users", "vehicles", "rides"] {
        groups.push(vec![
            format!("ALTER TABLE {table} SET LOCALITY REGIONAL BY ROW"),
            format!("UPDATE {table} SET crdb_region = {case}"),
        ]);
    }
    groups.push(vec!["ALTER TABLE promo_codes SET LOCALITY GLOBAL".into()]);
    groups
}

/// `CASE WHEN city IN (...) THEN '<region>' ... ELSE '<primary>' END` over the cities of
/// the regions in the cluster.
fn region_case(regions: &[String]) -> String {
    let mut s = String::from("CASE");
    for r in regions {
        let cities: Vec<String> = CITIES
            .iter()
            .filter(|(_, cr)| cr == r)
            .map(|(c, _)| format!("'{c}'"))
            .collect();
        if !cities.is_empty() {
            s.push_str(&format!(" WHEN city IN ({}) THEN '{r}'", cities.join(", ")));
        }
    }
    let primary = regions.first().map(String::as_str).unwrap_or_default();
    s.push_str(&format!(" ELSE '{primary}' END"));
    s
}

/// Runs [`statements`] through `client` (connected to database `movr`).
pub async fn apply(client: &Client, regions: &[String]) -> Vec<Outcome> {
    let outcomes = try_statements(client, &statements(regions), true).await;
    let failed = outcomes.iter().filter(|o| !o.ok()).count();
    if failed > 0 {
        tracing::warn!(
            failed,
            total = outcomes.len(),
            "movr is not fully multi-region: the SQL layer rejected some statements"
        );
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_home_rows_by_city() {
        let regions: Vec<String> = ["us-east1", "us-west1", "europe-west1"]
            .map(String::from)
            .to_vec();
        let groups = statements(&regions);
        assert_eq!(
            groups[0],
            vec![
                "ALTER DATABASE movr SET PRIMARY REGION \"us-east1\"",
                "ALTER DATABASE movr ADD REGION \"us-west1\"",
                "ALTER DATABASE movr ADD REGION \"europe-west1\"",
            ]
        );
        let update = &groups[1][1];
        assert!(
            update.contains("WHEN city IN ('amsterdam', 'paris', 'rome') THEN 'europe-west1'"),
            "{update}"
        );
        assert!(update.ends_with("ELSE 'us-east1' END"), "{update}");
        assert_eq!(
            groups.last().unwrap(),
            &vec!["ALTER TABLE promo_codes SET LOCALITY GLOBAL".to_string()]
        );
        assert!(statements(&[]).is_empty());
    }
}
