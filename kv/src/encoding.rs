//! Order-preserving key encoding.
//!
//! PLACEHOLDER being completed (ints, floats, decimals, strings, bytes, bools, NULL, ASC/DESC,
//! property tests). Only the unsigned id encoding is here so far.

/// Appends an unsigned integer so that byte order equals numeric order.
pub fn encode_u64_asc(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_be_bytes());
}
