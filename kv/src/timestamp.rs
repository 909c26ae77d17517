//! HLC timestamps and the clock that issues them.
//!
//! A [`Timestamp`] is an hlc-gen reading packed in a u64: 42 bits of milliseconds since
//! 2024-01-01 and a 22-bit logical counter. Packed values order like the (physical, logical)
//! pairs, so timestamps compare as plain integers and encode big-endian into keys.
//!
//! HAZARD: if a node's clock runs further ahead of its peers than the maximum offset, reads may
//! miss writes that happened before them. `Clock::update` refuses such remote readings.

use hlc_gen::source::ManualClock;
use hlc_gen::{HlcGenerator, HlcTimestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An HLC timestamp: physical milliseconds plus a logical counter, packed into a u64.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(u64);

/// Bits of the packed value used by the logical counter.
const LOGICAL_BITS: u32 = 22;
/// Unix milliseconds of hlc-gen's epoch (2024-01-01T00:00:00Z).
const EPOCH_UNIX_MS: i64 = 1_704_067_200_000;

impl Timestamp {
    /// The zero timestamp, older than every real reading.
    pub const ZERO: Timestamp = Timestamp(0);
    /// The largest timestamp: a read at MAX sees every committed version.
    pub const MAX: Timestamp = Timestamp(u64::MAX);

    /// Builds a timestamp from its packed representation.
    pub const fn from_u64(v: u64) -> Self {
        Timestamp(v)
    }

    /// The packed representation (what is stored in keys and sent over the wire).
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Builds a timestamp from milliseconds since hlc-gen's epoch and a logical counter.
    pub const fn from_parts(physical_ms: u64, logical: u32) -> Self {
        Timestamp((physical_ms << LOGICAL_BITS) | (logical as u64 & ((1 << LOGICAL_BITS) - 1)))
    }

    /// Milliseconds since hlc-gen's epoch (2024-01-01).
    pub const fn physical_ms(self) -> u64 {
        self.0 >> LOGICAL_BITS
    }

    /// The logical counter.
    pub const fn logical(self) -> u32 {
        (self.0 & ((1 << LOGICAL_BITS) - 1)) as u32
    }

    /// Unix time in milliseconds of the physical part.
    pub fn unix_ms(self) -> i64 {
        self.physical_ms() as i64 + EPOCH_UNIX_MS
    }

    /// Builds a timestamp at the given Unix milliseconds with logical 0.
    pub fn from_unix_ms(unix_ms: i64) -> Self {
        Self::from_parts((unix_ms - EPOCH_UNIX_MS).max(0) as u64, 0)
    }

    /// The next timestamp (logical + 1).
    pub const fn next(self) -> Self {
        Timestamp(self.0.saturating_add(1))
    }

    /// The previous timestamp, saturating at zero.
    pub const fn prev(self) -> Self {
        Timestamp(self.0.saturating_sub(1))
    }

    /// This timestamp plus the given milliseconds of physical time.
    pub const fn add_ms(self, ms: u64) -> Self {
        Timestamp(self.0.saturating_add(ms << LOGICAL_BITS))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.physical_ms(), self.logical())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

enum Source {
    System(HlcGenerator),
    Manual(HlcGenerator<ManualClock>),
}

/// A hybrid logical clock. Readings are strictly increasing on one clock, and `update` keeps
/// the clock ahead of every timestamp it has seen from elsewhere.
pub struct Clock {
    source: Source,
    max_offset_ms: u64,
}

impl Clock {
    /// Default maximum clock offset between nodes (CockroachDB's default).
    pub const DEFAULT_MAX_OFFSET_MS: u64 = 500;

    /// A clock driven by the system's wall time.
    pub fn system(max_offset_ms: u64) -> Self {
        Clock {
            source: Source::System(HlcGenerator::new(max_offset_ms as usize)),
            max_offset_ms,
        }
    }

    /// A clock whose physical time only moves when a test sets it, starting at `physical_ms`
    /// milliseconds after hlc-gen's epoch.
    pub fn manual(physical_ms: u64, max_offset_ms: u64) -> Self {
        let hlc = HlcGenerator::<ManualClock>::manual(max_offset_ms as usize);
        hlc.set_current_timestamp(physical_ms as i64 + EPOCH_UNIX_MS);
        // The generator captured its state at construction; move it to the requested time.
        let _ = hlc.next_timestamp();
        Clock {
            source: Source::Manual(hlc),
            max_offset_ms,
        }
    }

    /// Sets a manual clock's physical time (milliseconds after hlc-gen's epoch).
    /// Does nothing on a system clock.
    pub fn set_physical_ms(&self, physical_ms: u64) {
        if let Source::Manual(hlc) = &self.source {
            hlc.set_current_timestamp(physical_ms as i64 + EPOCH_UNIX_MS);
        }
    }

    /// The configured maximum clock offset.
    pub fn max_offset_ms(&self) -> u64 {
        self.max_offset_ms
    }

    /// A new reading, strictly greater than every earlier reading of this clock.
    pub fn now(&self) -> Timestamp {
        let ts = match &self.source {
            Source::System(hlc) => hlc.next_timestamp(),
            Source::Manual(hlc) => hlc.next_timestamp(),
        };
        // next_timestamp fails only when the logical counter overflows 22 bits within one
        // millisecond; fall back to the last reading plus one, which keeps monotonicity.
        match ts {
            Some(ts) => Timestamp(ts.as_u64()),
            None => Timestamp(self.peek().as_u64() + 1),
        }
    }

    /// The latest reading, without advancing the clock.
    pub fn peek(&self) -> Timestamp {
        let ts = match &self.source {
            Source::System(hlc) => hlc.timestamp(),
            Source::Manual(hlc) => hlc.timestamp(),
        };
        Timestamp(ts.as_u64())
    }

    /// Moves the clock past a timestamp received from another node. Fails if the remote
    /// reading is ahead of local physical time by more than the maximum offset.
    pub fn update(&self, remote: Timestamp) -> crate::Result<Timestamp> {
        let remote_hlc = HlcTimestamp::from_parts(remote.unix_ms(), remote.logical() as u64)
            .map_err(|e| crate::Error::Decode(format!("bad remote timestamp: {e}")))?;
        let res = match &self.source {
            Source::System(hlc) => hlc.update(&remote_hlc),
            Source::Manual(hlc) => hlc.update(&remote_hlc),
        };
        match res {
            Ok(ts) => Ok(Timestamp(ts.as_u64())),
            Err(_) => Err(crate::Error::ClockOffset {
                offset_ms: remote
                    .unix_ms()
                    .saturating_sub(self.peek().unix_ms())
                    .max(0) as u64,
                max_offset_ms: self.max_offset_ms,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip_and_order() {
        let a = Timestamp::from_parts(10, 5);
        assert_eq!((a.physical_ms(), a.logical()), (10, 5));
        assert!(Timestamp::from_parts(10, 6) > a);
        assert!(Timestamp::from_parts(11, 0) > Timestamp::from_parts(10, 1000));
    }

    #[test]
    fn manual_clock_is_monotonic_and_driven_by_hand() {
        let clock = Clock::manual(1000, 500);
        let a = clock.now();
        let b = clock.now();
        assert!(b > a);
        assert_eq!(a.physical_ms(), 1000);
        clock.set_physical_ms(2000);
        let c = clock.now();
        assert_eq!((c.physical_ms(), c.logical()), (2000, 0));
    }

    #[test]
    fn update_rejects_remote_clock_too_far_ahead() {
        let clock = Clock::manual(1000, 500);
        assert!(clock.update(Timestamp::from_parts(1400, 0)).is_ok());
        assert!(clock.now() > Timestamp::from_parts(1400, 0));
        assert!(matches!(
            clock.update(Timestamp::from_parts(5000, 0)),
            Err(crate::Error::ClockOffset { .. })
        ));
    }
}
