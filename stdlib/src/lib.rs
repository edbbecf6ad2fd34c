//! The standard library: every builtin's signature (for the checker), documentation (for the
//! LSP and `evr explain`) and, with the interpreter, its one implementation.
//!
//! Architecture Invariant: one definition per builtin; the checker, the interpreter and JIT code
//! all go through [`Builtin`]. Constant arguments (patterns, JSON paths, CIDR blocks) are parsed
//! by [`constant`] both when checking and when loading, so both agree on what is valid.
//! API Boundary: knows nothing of parsing, IR or hosts.

mod catalog;
pub mod constant;
pub mod signature;

pub use catalog::Builtin;
