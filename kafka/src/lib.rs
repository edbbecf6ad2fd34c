//! The Kafka host: a bundle run over Kafka topics, at least once, reloading live.
//!
//! Architecture Invariant: an input offset is committed only after every output of its message
//! and of every earlier message of its partition was acknowledged ([`offsets`]); every message
//! is evaluated wholly by one version (executors switch versions between messages).
//! API Boundary: [`run`] with [`Settings`], a [`Live`](evr_runtime::live::Live) bundle and a
//! stop flag; librdkafka (through rdkafka) is used here and nowhere else.

pub mod control;
mod host;
pub mod offsets;
mod settings;

pub use host::{Counters, TALLY_EVERY, Tally, VERSION_HEADER, run};
pub use settings::{Settings, pair};
