//! Where an executor's outputs go, as bytes: the interface between the engine and a host.
//! Emitted records come encoded (into a buffer the executor reuses) in the format the sink
//! asks for; routed events come as the input bytes when the formats match (no copy, no
//! re-encoding) and transcoded otherwise; dirty records carry the reason, the failing unit
//! and the original bytes. Every call hands back the host's [`Envelope`] of the event, so a
//! host that needs the key, headers or timestamp of the event that caused an output has them.

use std::io;

use evr_compiler::ir::{Sink, SinkId, WireFormat};

/// What a host knows of an event besides its bytes (for Kafka: the record's key, headers and
/// timestamp). `time_ms` is the event time when the source names no time field.
#[derive(Clone, Copy, Debug, Default)]
pub struct Envelope<'e> {
    pub key: Option<&'e [u8]>,
    pub headers: &'e [(&'e str, &'e [u8])],
    pub time_ms: i64,
}

/// The key `emit ... key` gave a record: text (a string, or an int in decimal) or bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key<'a> {
    Text(&'a str),
    Bytes(&'a [u8]),
}

impl Key<'_> {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Text(t) => t.as_bytes(),
            Key::Bytes(b) => b,
        }
    }
}

/// A sink of the running version: its id (hosts keep per-sink tables by it; ids change only
/// with a new version) and its declaration.
#[derive(Clone, Copy, Debug)]
pub struct SinkRef<'a> {
    pub id: SinkId,
    pub sink: &'a Sink,
}

impl std::ops::Deref for SinkRef<'_> {
    type Target = Sink;

    fn deref(&self) -> &Sink {
        self.sink
    }
}

/// What a host does with outputs. An error stops the event's outputs and is returned by
/// [`Executor::process_into`](crate::executor::Executor::process_into).
pub trait Outputs {
    /// The format records for `sink` are encoded in: by default the one the sink declares.
    fn format(&self, sink: SinkRef<'_>) -> WireFormat {
        sink.format
    }

    /// A record built by `emit`, encoded in [`format`](Self::format).
    fn record(&mut self, sink: SinkRef<'_>, key: Option<Key<'_>>, bytes: &[u8], event: &Envelope) -> io::Result<()>;

    /// The input event, sent on by `route`, in [`format`](Self::format).
    fn route(&mut self, sink: SinkRef<'_>, bytes: &[u8], event: &Envelope) -> io::Result<()>;

    /// An event that did not decode (`unit` is `None`), or a unit that failed on it.
    fn dirty(&mut self, reason: &str, unit: Option<&str>, input: &[u8], event: &Envelope) -> io::Result<()>;
}
