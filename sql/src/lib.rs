//! The SQL layer: parsing, planning, execution, the catalog, and the pgwire server.
//!
//! A statement flows: pgwire message -> [`session`] -> parser (sqlparser, PostgreSQL dialect
//! extended with CockroachDB statements) -> binder/planner -> optimizer -> executor, which reads
//! and writes through the [`txn::Transaction`] trait. The catalog lives in the KV keyspace.
//! This crate never depends on `cluster`: it sees the KV layer only through txn's traits.

pub mod catalog;
pub mod context;
pub mod ddl;
pub mod error;
pub mod exec;
pub mod func;
pub mod multiregion;
pub mod parser;
pub mod plan;
pub mod ranges;
pub mod server;
pub mod session;
pub mod storage;
#[cfg(test)]
mod testutil;
pub mod types;
pub mod vtable;

pub use error::{Error, Result};
