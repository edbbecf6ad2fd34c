//! The lalrpop parser, generated into OUT_DIR. Nothing else in the crate includes generated code.
#![allow(clippy::all, unused_parens, unused_imports, dead_code)]

include!(concat!(env!("OUT_DIR"), "/grammar.rs"));
