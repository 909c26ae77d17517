//! Meridian's bottom layer: keys, timestamps, the storage engine and MVCC.
//!
//! Everything above (transactions, SQL, the cluster) sees the keyspace as one ordered byte space.
//! This crate provides:
//! - [`Timestamp`] and [`Clock`]: hybrid logical clock readings (hlc-gen underneath) behind our own
//!   newtypes, with a manual clock for tests.
//! - [`engine::Engine`]: a small synchronous storage trait, implemented by RocksDB
//!   ([`engine::RocksEngine`]) and by an in-memory B-tree ([`engine::MemoryEngine`]); both pass
//!   the same test suite.
//! - [`mvcc::Mvcc`]: multi-version storage on top of an engine: every write is a version at an HLC
//!   timestamp, deletes are tombstones, reads and scans see the newest version at or below a
//!   timestamp.
//! - [`encoding`]: the order-preserving key encoding that turns SQL values into byte strings whose
//!   byte order is the values' order (ascending or descending, NULLs last ascending and first
//!   descending, as in PostgreSQL); property-tested for order and round trips.
//! - [`keys`]: the layout of the keyspace (local keys, system keys, then table data).
//!
//! Data flows down: the transaction layer reads and writes user keys at timestamps through
//! [`mvcc::Mvcc`], which turns each into an engine key `escaped(key) 0x00 0x01 !ts` and an engine
//! scan or batch. Both the MVCC layout and the key encoding are on-disk formats: golden files under
//! `kv/tests/testdata` pin their bytes, so a format change shows up in review.
//!
//! Write intents (provisional writes of running transactions) live under each key's meta key,
//! just before its versions ([`mvcc::intent`]); transactional reads report them as conflicts
//! ([`mvcc::read`]). What to do about a conflict is the transaction layer's business.

pub mod encoding;
pub mod engine;
pub mod error;
pub mod ids;
pub mod keys;
pub mod mvcc;
pub mod timestamp;

pub use error::{Error, Result};
pub use ids::{NodeId, RangeId, ReplicaId};
pub use timestamp::{Clock, Timestamp};
