//! EVR's syntax: tokens, the grammar and the tree it builds.
//!
//! Architecture Invariant: parsing never fails as a whole and never panics; [`parse`] returns a
//! tree (with `Error` nodes where the text made no sense) and every error it found.
//! API Boundary: this crate knows nothing of types, schemas, codegen or the LSP protocol.

pub mod ast;
mod format;
mod generated;
pub mod lexer;
mod parse;
mod reparse;

pub use format::{WIDTH, format};
pub use parse::{Parsed, SyntaxError, SyntaxErrorKind, duration_value, parse};
pub use reparse::{Reparsed, Shift, reparse};
