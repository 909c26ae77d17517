//! The plan cache of a prepared statement: the optimized plan, reused by later executions.
//!
//! Why: binding and optimizing on every Execute was a fifth of a node's CPU under TPC-C, whose
//! statements are all prepared once per connection and executed thousands of times.
//!
//! A [`PlanSlot`] belongs to one prepared statement (one per Parse). It holds the last plan
//! with the key it was made under, and reuses it when the key is unchanged:
//! - the schema generation the executing transaction reads (see
//!   [`crate::catalog::generation`]: any DDL anywhere in the cluster changes it, and reading it
//!   puts it in the transaction's read set, so a reused plan is exactly as serializable as
//!   one planned from descriptors read in the transaction);
//! - the current database (names resolve against it);
//! - `enable_implicit_select_for_update` (decides the row locking of UPDATE/DELETE/UPSERT);
//! - the parameter types the plan was typed with.
//!
//! Nothing else the planner reads varies: it never sees parameter values (they are bound into
//! the execution state, [`crate::exec::Env`]), functions such as now() are evaluated at
//! execution from the transaction's time, and the results of uncorrelated subqueries are kept
//! in the execution state, not in the plan. The read-only check (25006) runs at every
//! execution, because it depends on the transaction, not the plan.
//!
//! When the key changes the statement is planned again. Like PostgreSQL, a prepared
//! statement's result columns are fixed when it is prepared (clients decode rows by the
//! RowDescription they got then): if re-planning after a schema change yields other result
//! columns (names or types), execution fails with 0A000 `cached plan must not change result
//! type`; the client must prepare the statement again. A re-plan that fails (the table was
//! dropped) reports the planner's error (42P01).
//!
//! IMPLEMENTATION CAVEATS
//! - Without a generation key (a store not yet bootstrapped by this version) nothing is
//!   cached and every execution plans.
//! - Any DDL re-plans every prepared statement of every session (one generation for the
//!   whole catalog), not only those using the changed table.
//! - The result-type check compares against the columns described at Parse only when the
//!   generation changed since Parse; without a schema change the executed columns are
//!   whatever planning gives, as before (they agree with Describe).

use crate::catalog::{Catalog, Generation};
use crate::context::{Column, ExecContext};
use crate::error::code;
use crate::plan::describe::{result_columns, Planned};
use crate::types::DataType;
use crate::{Error, Result};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What a cached plan depends on besides the statement text.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanKey {
    /// The schema generation it was planned under.
    pub generation: Generation,
    /// The current database.
    pub database: String,
    /// `enable_implicit_select_for_update`.
    pub implicit_for_update: bool,
    /// Parameter types.
    pub param_types: Vec<DataType>,
}

/// The cached plan of one prepared statement. See the module docs.
#[derive(Debug)]
pub struct PlanSlot {
    /// The generation at Parse (None: unknown, no result-type check).
    parse_generation: Option<Generation>,
    /// The result columns described at Parse.
    parse_columns: Vec<Column>,
    state: Mutex<SlotState>,
    hits: AtomicU64,
    plans: AtomicU64,
}

#[derive(Debug, Default)]
struct SlotState {
    cached: Option<(PlanKey, Arc<Planned>)>,
}

impl PlanSlot {
    /// A slot for a statement described at Parse under `generation` with `columns`.
    pub fn new(parse_generation: Option<Generation>, parse_columns: Vec<Column>) -> Self {
        PlanSlot {
            parse_generation,
            parse_columns,
            state: Mutex::new(SlotState::default()),
            hits: AtomicU64::new(0),
            plans: AtomicU64::new(0),
        }
    }

    /// How many executions reused the cached plan, and how many planned.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.plans.load(Ordering::Relaxed),
        )
    }

    /// The plan for executing in `ctx`: the cached one when its key matches, else the one
    /// `plan` makes (cached for the next execution).
    pub fn get_or_plan(
        &self,
        ctx: &ExecContext,
        implicit_for_update: bool,
        param_types: &[DataType],
        plan: impl FnOnce() -> Result<Planned>,
    ) -> Result<Arc<Planned>> {
        let generation = Catalog::generation(&ctx.txn)?;
        let key = generation.map(|generation| PlanKey {
            generation,
            database: ctx.database.clone(),
            implicit_for_update,
            param_types: param_types.to_vec(),
        });
        if let Some(k) = &key {
            if let Some((cached_key, planned)) = &self.state.lock().cached {
                if cached_key == k {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(planned.clone());
                }
            }
        }
        self.plans.fetch_add(1, Ordering::Relaxed);
        let planned = Arc::new(plan()?);
        self.check_result_type(generation, &planned)?;
        self.state.lock().cached = key.map(|k| (k, planned.clone()));
        Ok(planned)
    }

    /// 0A000 when a schema change since Parse changed the result columns.
    fn check_result_type(&self, now: Option<Generation>, planned: &Planned) -> Result<()> {
        let Some(at_parse) = self.parse_generation else {
            return Ok(());
        };
        if now == Some(at_parse) {
            return Ok(());
        }
        if result_columns(planned) != self.parse_columns {
            return Err(Error::new(
                code::FEATURE_NOT_SUPPORTED,
                "cached plan must not change result type",
            ));
        }
        Ok(())
    }
}
