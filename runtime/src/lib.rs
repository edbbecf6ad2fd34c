//! The runtime: decoders and encoders, the executor, and the hosts that feed it (the file host
//! and the rule-test runner now; the Kafka host later).
//!
//! Architecture Invariant: a bad event becomes a dirty record with its reason, a failing unit a
//! dirty record naming it; nothing here panics on input, and every input event is accounted for
//! (outputs, dropped, or dirty).
//! API Boundary: [`executor::Executor`] (one per stream or partition; the program is shared),
//! [`decode`], [`encode`], [`file_host::run`], [`rule_tests::run_all`]. Knows nothing of syntax.

pub mod decode;
pub mod encode;
mod engine;
pub mod executor;
pub mod file_host;
pub mod follow;
pub mod index;
mod json_values;
pub mod live;
pub mod loaded;
pub mod rule_tests;
pub mod sink;
pub mod stats;
