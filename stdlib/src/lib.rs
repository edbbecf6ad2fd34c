//! The standard library: every builtin's signature (for the checker), documentation (for the
//! LSP and `evr explain`) and its one implementation, called by the interpreter and by native
//! code alike.
//!
//! Architecture Invariant: one declaration per builtin. The checker reads [`Builtin`]'s
//! overloads; both evaluators run the bodies declared with them through [`Builtin::invoke`]
//! (the interpreter over values, native code through one C ABI helper over words), so a
//! builtin's behaviour is written once. Bodies work on plain Rust values (`&str`, `i64`,
//! `f64`). Constant arguments (patterns, JSON paths, CIDR blocks) are parsed by [`constant`]
//! both when checking and when loading, so both agree on what is valid. Builtins never panic
//! and never unwind: failures are [`RuntimeError`] values or null results.
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
