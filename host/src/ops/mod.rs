//! Kernel operations inside a namespace: plain Rust, no WIT types. Each names its `ip`
//! equivalent.

pub mod address;
pub mod link;
pub mod sysctl;
