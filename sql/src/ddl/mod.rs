//! DDL and SHOW statements.
