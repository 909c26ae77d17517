//! Small pieces of the simulation: its RNG, hashing, the event trace, violations, failure
//! reports, and catching panics of the code under test quietly.

use kv::RangeId;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// splitmix64: small, fast, good enough for choosing faults.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next_u64() >> 11) as f64) / ((1u64 << 53) as f64) < p
    }
}

/// FNV-1a over several byte strings, continuing from `h`.
pub fn fnv(h: u64, parts: &[&[u8]]) -> u64 {
    let mut h = if h == 0 { 0xcbf2_9ce4_8422_2325 } else { h };
    for p in parts {
        for b in *p {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Safety violations seen while running (checked at the end with the checkers' findings).
#[derive(Debug, Default, Clone)]
pub struct Violations(pub Vec<String>);

impl Violations {
    pub fn push(&mut self, v: String) {
        if self.0.len() < 100 {
            self.0.push(v);
        }
    }
}

/// The hash of every event, and the last ones for a failure report.
#[derive(Debug, Default)]
pub struct Trace {
    /// Print every event (MERIDIAN_SIM_TRACE=1).
    pub print: bool,
    pub hash: u64,
    pub events: u64,
    tail: VecDeque<String>,
}

impl Trace {
    /// An empty trace; `print` prints every event as it happens.
    pub fn new(print: bool) -> Trace {
        Trace {
            print,
            ..Trace::default()
        }
    }

    pub fn event(&mut self, parts: &[&str]) {
        let line = parts.join(" ");
        if self.print {
            println!("{line}");
        }
        self.hash = fnv(self.hash, &[line.as_bytes()]);
        self.events += 1;
        if self.tail.len() == 80 {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }

    pub fn tail(&self) -> Vec<String> {
        self.tail.iter().cloned().collect()
    }
}

/// A failed run: what went wrong, the last events, and how to replay it.
#[derive(Debug)]
pub struct Failure {
    pub seed: u64,
    pub problems: Vec<String>,
    pub tail: Vec<String>,
}

impl Failure {
    pub fn new(seed: u64, problems: Vec<String>, tail: Vec<String>) -> Failure {
        Failure {
            seed,
            problems,
            tail,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "simulation seed {} failed:", self.seed)?;
        for p in self.problems.iter().take(20) {
            writeln!(f, "  - {p}")?;
        }
        writeln!(f, "last events:")?;
        for l in &self.tail {
            writeln!(f, "    {l}")?;
        }
        writeln!(f, "{}", replay_command(self.seed))
    }
}

/// What `MultiRaft::tick` returns: nothing, or (with quiescence) messages to send. Lets the
/// harness build against both while the replication crate changes.
pub trait TickOutput {
    fn messages(self) -> Vec<(RangeId, raft::prelude::Message)>;
}

impl TickOutput for () {
    fn messages(self) -> Vec<(RangeId, raft::prelude::Message)> {
        Vec::new()
    }
}

impl TickOutput for Vec<(RangeId, raft::prelude::Message)> {
    fn messages(self) -> Vec<(RangeId, raft::prelude::Message)> {
        self
    }
}

thread_local! {
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, catching a panic without printing it (the simulation reports it); panics on
/// other threads, or outside `f`, are printed as usual.
pub fn quiet_panics<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let res = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    res
}

/// The text of a panic payload.
pub fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// The command that replays one seed.
pub fn replay_command(seed: u64) -> String {
    format!(
        "replay: MERIDIAN_SIM_SEED={seed} cargo test -p replication --test simulation -- --nocapture"
    )
}
