//! CockroachDB's region functions: `gateway_region()` and
//! `default_to_database_primary_region(region)`, the default of REGIONAL BY ROW tables'
//! `crdb_region` column.
//!
//! Both read the session's view of the cluster through [`RegionInfo`]: the gateway node's
//! locality (known when the statement starts) and the current database's regions, loaded
//! lazily through the statement's transaction the first time a function needs them (most
//! statements never call these functions, so they cost nothing there).

use super::Call;
use crate::catalog::RegionConfig;
use crate::error::code;
use crate::types::{DataType, Datum};
use crate::{Error, Result};
use std::sync::{Arc, OnceLock};

/// The names this module implements.
pub(crate) const NAMES: &[&str] = &["gateway_region", "default_to_database_primary_region"];

/// Loads the current database's regions (None: it has none).
pub type RegionLoader = Arc<dyn Fn() -> Result<Option<RegionConfig>> + Send + Sync>;

/// What the region functions know of the session: the gateway's region and, lazily, the
/// current database's regions.
#[derive(Clone, Default)]
pub struct RegionInfo {
    /// The gateway node's region.
    pub gateway: Option<String>,
    /// Reads the current database's regions (None: no catalog available, e.g. unit tests).
    pub loader: Option<RegionLoader>,
    loaded: Arc<OnceLock<std::result::Result<Option<RegionConfig>, Error>>>,
}

impl std::fmt::Debug for RegionInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegionInfo")
            .field("gateway", &self.gateway)
            .finish_non_exhaustive()
    }
}

impl RegionInfo {
    /// Region information with a gateway region and a loader of the database's regions.
    pub fn new(gateway: Option<String>, loader: Option<RegionLoader>) -> Self {
        RegionInfo {
            gateway,
            loader,
            loaded: Arc::new(OnceLock::new()),
        }
    }

    fn database(&self) -> Result<Option<RegionConfig>> {
        self.loaded
            .get_or_init(|| match &self.loader {
                Some(l) => l(),
                None => Ok(None),
            })
            .clone()
    }
}

pub(crate) fn resolve(name: &str, a: &[DataType]) -> Option<Result<DataType>> {
    match (name, a.len()) {
        ("gateway_region", 0) => Some(Ok(DataType::Text)),
        ("default_to_database_primary_region", 1) => Some(Ok(DataType::Text)),
        _ => None,
    }
}

pub(crate) fn eval(c: &Call) -> Option<Result<Datum>> {
    if !NAMES.contains(&c.name) {
        return None;
    }
    Some(eval_inner(c))
}

fn eval_inner(c: &Call) -> Result<Datum> {
    let info = &c.ctx.regions;
    match c.name {
        "gateway_region" => match &info.gateway {
            Some(r) => Ok(Datum::Text(r.clone())),
            None => Err(Error::new(
                code::INVALID_PARAMETER_VALUE,
                "no region set on the locality flag on this node",
            )),
        },
        _ => {
            let region = c.text(0)?;
            let Some(rc) = info.database()? else {
                return Err(crate::multiregion::not_multi_region(&c.ctx.database));
            };
            Ok(Datum::Text(if rc.regions.contains(&region) {
                region
            } else {
                rc.primary
            }))
        }
    }
}
