//! Placeholder: the benchmark suite is being written (issue 3).
fn main() {}
