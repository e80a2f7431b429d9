//! The `gradflow` command-line tool.
fn main() {}
