//! The runtime's integration tests, one binary: codecs, decoding into frames, the rule index.

mod codec;
mod frames;
mod index;
