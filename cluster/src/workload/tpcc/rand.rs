//! TPC-C input generation (spec clause 2.1.6 and 4.3.2): a small seeded PRNG, NURand, customer
//! last names from the syllable table, random a-strings/n-strings, zip codes and the "ORIGINAL"
//! data fields.
//!
//! Everything here is pure and deterministic given a seed, so the loader can be split across
//! connections without coordination and the unit tests can check the spec's ranges.

/// The ten syllables customer last names are built from (clause 4.3.2.3).
const SYLLABLES: [&str; 10] = [
    "BAR", "OUGHT", "ABLE", "PRI", "PRES", "ESE", "ANTI", "CALLY", "ATION", "EING",
];

/// The C constant used for `c_last` at load time (clause 2.1.6). The run-time constant is drawn
/// so that its distance to this one satisfies clause 2.1.6.1.
pub const C_LAST_LOAD: u64 = 157;

/// A fast, seedable xorshift64* generator (the workload needs speed and reproducibility, not
/// cryptographic quality).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (any value; zero is remapped).
    pub fn new(seed: u64) -> Self {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A uniform integer in `[lo, hi]` (inclusive; `hi < lo` yields `lo`).
    pub fn uniform(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo) as u64 + 1;
        lo + (self.next_u64() % span) as i64
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// NURand(A, x, y) with constant `c` (clause 2.1.6):
    /// `(((random(0, A) | random(x, y)) + C) % (y - x + 1)) + x`.
    pub fn nurand(&mut self, a: i64, x: i64, y: i64, c: i64) -> i64 {
        let span = (y - x + 1).max(1);
        (((self.uniform(0, a) | self.uniform(x, y)) + c) % span) + x
    }

    /// A random string of `lo..=hi` alphanumeric characters (an "a-string").
    pub fn a_string(&mut self, lo: usize, hi: usize) -> String {
        const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let n = self.uniform(lo as i64, hi as i64) as usize;
        (0..n)
            .map(|_| CHARS[(self.next_u64() % CHARS.len() as u64) as usize] as char)
            .collect()
    }

    /// A random string of `lo..=hi` digits (an "n-string").
    pub fn n_string(&mut self, lo: usize, hi: usize) -> String {
        let n = self.uniform(lo as i64, hi as i64) as usize;
        (0..n)
            .map(|_| (b'0' + (self.next_u64() % 10) as u8) as char)
            .collect()
    }

    /// A zip code: four random digits followed by "11111" (clause 4.3.2.7).
    pub fn zip(&mut self) -> String {
        format!("{}11111", self.n_string(4, 4))
    }

    /// `i_data` / `s_data`: an a-string of `lo..=hi` characters that in 10% of the rows contains
    /// "ORIGINAL" at a random position (clause 4.3.3.1).
    pub fn data_with_original(&mut self, lo: usize, hi: usize) -> String {
        let mut s = self.a_string(lo, hi);
        if self.uniform(1, 10) == 1 && s.len() >= 8 {
            let at = self.uniform(0, (s.len() - 8) as i64) as usize;
            s.replace_range(at..at + 8, "ORIGINAL");
        }
        s
    }

    /// A random customer last name for the run: NURand(255, 0, 999) over the names that exist
    /// (`max_name` is 999 unless fewer than 1000 customers per district were loaded).
    pub fn run_last_name(&mut self, c: &Constants, max_name: i64) -> String {
        last_name(self.nurand(255, 0, max_name, c.c_last) as u32)
    }
}

/// The last name numbered `n` (0..=999): the syllables of its three decimal digits.
pub fn last_name(n: u32) -> String {
    let n = n % 1000;
    let mut s = String::with_capacity(15);
    for digit in [n / 100, (n / 10) % 10, n % 10] {
        s.push_str(SYLLABLES[digit as usize]);
    }
    s
}

/// The NURand C constants of one run (clause 2.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Constants {
    /// C for customer last names, NURand(255, ..).
    pub c_last: i64,
    /// C for customer ids, NURand(1023, ..).
    pub c_id: i64,
    /// C for item ids, NURand(8191, ..).
    pub ol_i_id: i64,
}

impl Constants {
    /// The constants used while loading.
    pub fn load(rng: &mut Rng) -> Self {
        Constants {
            c_last: C_LAST_LOAD as i64,
            c_id: rng.uniform(0, 1023),
            ol_i_id: rng.uniform(0, 8191),
        }
    }

    /// Run-time constants: `c_last` differs from the load value by 65..=119, never 96 or 112
    /// (clause 2.1.6.1); the others are free.
    pub fn run(rng: &mut Rng) -> Self {
        let c_last = loop {
            let c = rng.uniform(0, 255);
            let delta = (c - C_LAST_LOAD as i64).abs();
            if (65..=119).contains(&delta) && delta != 96 && delta != 112 {
                break c;
            }
        };
        Constants {
            c_last,
            c_id: rng.uniform(0, 1023),
            ol_i_id: rng.uniform(0, 8191),
        }
    }
}

/// Formats an amount in cents as a decimal literal ("1234" -> "12.34").
pub fn cents_to_decimal(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{sign}{}.{:02}", c / 100, c % 100)
}

/// Parses a decimal's text ("-12.3", "7", "0.05") into cents, rounding beyond two places.
pub fn decimal_to_cents(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let int: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut f = frac
        .bytes()
        .map(|b| (b - b'0') as i64)
        .chain(std::iter::repeat(0));
    let (d1, d2, d3) = (f.next()?, f.next()?, f.next()?);
    let cents = int.checked_mul(100)? + d1 * 10 + d2 + i64::from(d3 >= 5);
    Some(if neg { -cents } else { cents })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nurand_stays_in_range_and_is_skewed() {
        let mut r = Rng::new(7);
        let mut hist = vec![0u32; 3000];
        for _ in 0..200_000 {
            let v = r.nurand(1023, 1, 3000, 259);
            assert!((1..=3000).contains(&v), "{v}");
            hist[(v - 1) as usize] += 1;
        }
        let max = *hist.iter().max().unwrap();
        let min = *hist.iter().min().unwrap();
        // Non-uniform: the most popular id is drawn far more often than the least popular.
        assert!(max > 4 * min.max(1), "max {max} min {min}");
        for _ in 0..100_000 {
            let v = r.nurand(8191, 1, 100_000, 5000);
            assert!((1..=100_000).contains(&v));
            let n = r.nurand(255, 0, 999, 100);
            assert!((0..=999).contains(&n));
        }
    }

    #[test]
    fn last_names_follow_the_syllable_table() {
        assert_eq!(last_name(0), "BARBARBAR");
        assert_eq!(last_name(371), "PRICALLYOUGHT");
        assert_eq!(last_name(999), "EINGEINGEING");
        assert_eq!(last_name(40), "BARPRESBAR");
        // All 1000 names are distinct and at most 16 characters (c_last is VARCHAR(16)).
        let names: std::collections::HashSet<_> = (0..1000).map(last_name).collect();
        assert_eq!(names.len(), 1000);
        assert!(names.iter().all(|n| n.len() <= 16));
    }

    #[test]
    fn run_constant_respects_the_delta_rule() {
        let mut r = Rng::new(3);
        for _ in 0..1000 {
            let c = Constants::run(&mut r);
            let delta = (c.c_last - C_LAST_LOAD as i64).abs();
            assert!((65..=119).contains(&delta) && delta != 96 && delta != 112);
            assert!((0..=1023).contains(&c.c_id) && (0..=8191).contains(&c.ol_i_id));
        }
    }

    #[test]
    fn strings_have_the_requested_shapes() {
        let mut r = Rng::new(11);
        let mut original = 0;
        for _ in 0..10_000 {
            let s = r.a_string(8, 16);
            assert!((8..=16).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric()));
            let z = r.zip();
            assert_eq!(z.len(), 9);
            assert!(z.ends_with("11111"));
            let d = r.data_with_original(26, 50);
            assert!((26..=50).contains(&d.len()));
            original += usize::from(d.contains("ORIGINAL"));
        }
        assert!((700..1300).contains(&original), "{original}");
    }

    #[test]
    fn cents_round_trip() {
        assert_eq!(cents_to_decimal(1234), "12.34");
        assert_eq!(cents_to_decimal(-5), "-0.05");
        assert_eq!(decimal_to_cents("12.34"), Some(1234));
        assert_eq!(decimal_to_cents("-0.05"), Some(-5));
        assert_eq!(decimal_to_cents("300000"), Some(30_000_000));
        assert_eq!(decimal_to_cents("1.5"), Some(150));
        assert_eq!(decimal_to_cents("1.2350000"), Some(124));
        assert_eq!(decimal_to_cents("x"), None);
    }
}
