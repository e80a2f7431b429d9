//! # gradflow
//!
//! The integration crate: it re-exports every concept crate under one name and holds the
//! experiments and the `gradflow` command-line tool.

pub use gradflow_tensor as tensor;

pub mod data;
