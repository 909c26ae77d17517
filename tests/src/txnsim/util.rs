//! Small pieces of the transaction simulation: its RNG and the event trace whose hash proves
//! that a seed replays identically.

use std::collections::VecDeque;

/// splitmix64: small, fast, good enough for choosing steps.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when n is 0).
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

/// Lines of the trace kept for a failure report (`MERIDIAN_TXN_SIM_TAIL` overrides).
const TRACE_TAIL: usize = 60;

fn tail_len() -> usize {
    std::env::var("MERIDIAN_TXN_SIM_TAIL")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(TRACE_TAIL)
}

/// The event trace: a running FNV-1a hash of every line, and the last lines.
#[derive(Debug, Clone)]
pub struct Trace {
    /// Hash of every line so far.
    pub hash: u64,
    /// Lines so far.
    pub lines: u64,
    /// The last [`TRACE_TAIL`] lines.
    pub tail: VecDeque<String>,
}

impl Default for Trace {
    fn default() -> Self {
        Trace {
            hash: 0xcbf2_9ce4_8422_2325,
            lines: 0,
            tail: VecDeque::new(),
        }
    }
}

impl Trace {
    /// Adds a line.
    pub fn event(&mut self, line: String) {
        for b in line.as_bytes().iter().chain([&b'\n']) {
            self.hash ^= *b as u64;
            self.hash = self.hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.lines += 1;
        if self.tail.len() >= tail_len() {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }
}
