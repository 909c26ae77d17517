//! What the two simulation test binaries (tests/tests/txn_simulation.rs and
//! full_simulation.rs) share: reading their environment knobs, choosing the seeds, and
//! turning a panic inside a run into a failure that names the seed and the replay command.

use super::{Report, SimConfig};
use std::ops::RangeInclusive;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The number in environment variable `name`, if set and valid.
pub fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The seeds to run: `{prefix}_SEED=s` one seed, `{prefix}_SEEDS=n` seeds 1..=n, else `ci`.
pub fn seeds(prefix: &str, ci: RangeInclusive<u64>) -> Vec<u64> {
    if let Some(s) = env_u64(&format!("{prefix}_SEED")) {
        vec![s]
    } else if let Some(n) = env_u64(&format!("{prefix}_SEEDS")) {
        (1..=n).collect()
    } else {
        ci.collect()
    }
}

/// Runs `cfg`; a panic inside the run fails with `what`, the seed, the panic message and
/// `replay` (the command that replays the seed).
pub fn run_reporting(cfg: SimConfig, what: &str, replay: &str) -> Report {
    let seed = cfg.seed;
    match catch_unwind(AssertUnwindSafe(|| super::run(cfg))) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{what} seed {seed} panicked: {msg}\n{replay}")
        }
    }
}
