//! The standard library: every builtin's signature (for the checker), documentation (for the
//! LSP and `evr explain`) and its one implementation, called by the interpreter and by native
//! code alike.
//!
//! Architecture Invariant: one definition per builtin. The checker reads [`Builtin`]'s
//! overloads; both evaluators call the functions of the modules below, which work on plain Rust
//! values (`&str`, `i64`, `f64`) so that JIT code can reach them through a C ABI. Constant
//! arguments (patterns, JSON paths, CIDR blocks) are parsed by [`constant`] both when checking
//! and when loading, so both agree on what is valid. Builtins never panic and never unwind:
//! failures are [`RuntimeError`] values or null results.
//! API Boundary: knows nothing of parsing, IR or hosts.

mod catalog;
pub mod constant;
mod error;
pub mod hash;
pub mod json;
pub mod native;
pub mod number;
pub mod signature;
mod sketch;
pub mod text;
pub mod time;
pub mod velocity;
pub mod web;

pub use catalog::Builtin;
pub use error::RuntimeError;
