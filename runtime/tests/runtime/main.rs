//! The runtime's integration tests, one binary: codecs, the rule index.

mod codec;
mod index;
