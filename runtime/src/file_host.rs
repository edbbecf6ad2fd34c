//! The file host: events from a file (or stdin), outputs as JSON lines.
//!
//! Input is one JSON event per line, or length-delimited protobuf records (each preceded by its
//! length as a varint). Every line is an event: a blank line is a dirty record, not skipped, so
//! that nothing in the input goes unaccounted for. Each output is one line:
//! `{"sink": NAME, "value": {...}}` (with `"key"` when `emit ... key` set one), or
//! `{"sink": "dirty", "error": REASON, "line": N}` (with `"rule"` naming a failed drop, score or
//! rule). `line` is the line number, or the record number for protobuf input.

use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::Duration;

use base64::Engine as _;

use evr_compiler::ir::{SinkId, SourceId, WireFormat};

use crate::executor::Executor;
use crate::sink::{Envelope, Key, Outputs, SinkRef};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    JsonLines,
    DelimitedProtobuf,
}

/// Counts for a summary at the end of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub events: u64,
    pub outputs: u64,
    /// Outputs by sink name, in the order the sinks were declared (sinks a reload added last).
    pub per_sink: Vec<(String, u64)>,
    pub dirty: u64,
    pub dropped: u64,
    /// Whether the run stopped on request before the end of its input.
    pub stopped: bool,
}

/// The host's hooks into a run: progress reporting and a request to stop, so that the loop
/// stays free of terminal and signal concerns.
pub trait Progress {
    fn advance(&mut self, bytes: u64);

    /// Checked between events and while waiting for input: true ends the run after the
    /// outputs so far are flushed.
    fn stop_requested(&mut self) -> bool {
        false
    }
}

impl Progress for () {
    fn advance(&mut self, _: u64) {}
}

/// How much the reader asks for at a time.
const CHUNK: usize = 1 << 16;

/// Runs the program over every record of `input`, writing each output as a JSON line.
///
/// Input is read on a thread of its own, in chunks of what the input has ready; records are
/// cut from them here. Outputs are flushed whenever no more input is ready (`tail -f app.log |
/// evr run` shows each event's outputs as it comes), and a stop request is seen while a read
/// waits.
///
/// `source` names the source the events are for. An executor that follows reloads takes a new
/// version between two events; each output line then tells the version that made it.
pub fn run(
    exec: &mut Executor,
    source: &str,
    format: InputFormat,
    input: impl Read + Send + 'static,
    out: &mut impl Write,
    progress: &mut impl Progress,
) -> io::Result<Stats> {
    let mut stats = Stats::default();
    let mut counted = Counted::default();
    let mut source_id = counted.update(exec, source, &mut stats);
    let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(4);
    // Detached: a read may wait forever (stdin), and a stop must not wait for it.
    std::thread::spawn(move || read_chunks(input, &tx));
    let mut number = 0u64;
    // Input read and not yet cut into records: `pending[at..]`, whose first `clean` bytes are
    // known to hold no line end (so a long line is searched once, not once per chunk).
    let (mut pending, mut at, mut clean) = (Vec::new(), 0usize, 0usize);
    let mut ended = false;
    while !ended {
        let chunk = match rx.try_recv() {
            Ok(c) => Some(c),
            Err(TryRecvError::Disconnected) => None,
            Err(TryRecvError::Empty) => {
                out.flush()?;
                wait(&rx, progress)
            }
        };
        match chunk {
            Some(c) => {
                pending.drain(..at);
                at = 0;
                pending.extend_from_slice(&c?);
            }
            None if progress.stop_requested() => {
                stats.stopped = true;
                break;
            }
            None => ended = true,
        }
        loop {
            let rest = &pending[at..];
            let (record, used) = match next_record(format, rest, clean, ended) {
                Next::Record(range, used) => (&rest[range], used),
                Next::More => {
                    clean = rest.len();
                    break;
                }
                Next::Broken(why) => {
                    number += 1;
                    stats.events += 1;
                    stats.dirty += 1;
                    write_dirty(out, &why, None, Line { number, version: None })?;
                    ended = true;
                    break;
                }
            };
            progress.advance(used as u64);
            number += 1;
            // A byte order mark some editors write before the first line is no part of it.
            let record = match format {
                InputFormat::JsonLines if number == 1 => record.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(record),
                _ => record,
            };
            stats.events += 1;
            if exec.refresh() {
                source_id = counted.update(exec, source, &mut stats);
            }
            // The host's time for the event: when it was read.
            let envelope = Envelope { time_ms: evr_stdlib::time::now_ms(), ..Envelope::default() };
            let version = exec.follows().then(|| exec.loaded().version());
            let mut lines =
                JsonLines { out: &mut *out, line: Line { number, version }, stats: &mut stats, counted: &counted };
            match source_id {
                Some(id) => {
                    if exec.process_into(id, record, &envelope, &mut lines)?.dropped_by.is_some() {
                        lines.stats.dropped += 1;
                    }
                }
                None => {
                    let why = format!("version {} has no source `{source}`", exec.loaded().version());
                    lines.dirty(&why, None, record, &envelope)?;
                }
            }
            at += used;
            clean = 0;
        }
        if progress.stop_requested() {
            stats.stopped = true;
            break;
        }
    }
    out.flush()?;
    Ok(stats)
}

/// The next chunk of input, waiting for one; `None` at the end of the input or on a stop
/// request.
fn wait(rx: &Receiver<io::Result<Vec<u8>>>, progress: &mut impl Progress) -> Option<io::Result<Vec<u8>>> {
    loop {
        if progress.stop_requested() {
            return None;
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(c) => return Some(c),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// Reads the input in chunks, each sent as soon as a read returns, until the input ends, fails,
/// or the receiver is gone.
fn read_chunks(mut input: impl Read, tx: &SyncSender<io::Result<Vec<u8>>>) {
    loop {
        let mut chunk = vec![0; CHUNK];
        match input.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                chunk.truncate(n);
                if tx.send(Ok(chunk)).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}

/// What the input read so far holds next.
enum Next {
    /// A record (the range of its bytes) and how many bytes it takes, framing included.
    Record(std::ops::Range<usize>, usize),
    /// Nothing whole yet: more input is needed.
    More,
    /// The input cannot go on (protobuf framing that is broken, or ends inside a record).
    Broken(String),
}

/// Cuts the next record from `rest`, whose first `clean` bytes hold no line end; `ended` says
/// no more input will come.
fn next_record(format: InputFormat, rest: &[u8], clean: usize, ended: bool) -> Next {
    match format {
        // Every line is an event, its `\n` (and a `\r` before it) not part of it; the last
        // line needs no `\n`.
        InputFormat::JsonLines => match memchr::memchr(b'\n', &rest[clean.min(rest.len())..]) {
            Some(i) => {
                let i = clean + i;
                Next::Record(0..trim_line(&rest[..i]).len(), i + 1)
            }
            None if ended && !rest.is_empty() => Next::Record(0..trim_line(rest).len(), rest.len()),
            None => Next::More,
        },
        InputFormat::DelimitedProtobuf => {
            let mut len: u64 = 0;
            let mut prefix = 0;
            loop {
                let Some(&byte) = rest.get(prefix) else {
                    return match (ended, prefix) {
                        (false, _) => Next::More,
                        (true, 0) => Next::More,
                        (true, _) => Next::Broken("input ends inside a record's length".into()),
                    };
                };
                if prefix == 10 {
                    return Next::Broken("a record's length is not a valid varint".into());
                }
                len |= u64::from(byte & 0x7f) << (7 * prefix);
                prefix += 1;
                if byte & 0x80 == 0 {
                    break;
                }
            }
            if len > MAX_RECORD as u64 {
                return Next::Broken(format!("a record announces {len} bytes, more than {MAX_RECORD}"));
            }
            let end = prefix + len as usize;
            match rest.len() >= end {
                true => Next::Record(prefix..end, end),
                false if ended => Next::Broken(format!("input ends inside a record of {len} bytes")),
                false => Next::More,
            }
        }
    }
}

/// Where the sinks of the running version are counted in [`Stats::per_sink`].
#[derive(Default)]
struct Counted {
    /// By sink id of the running version.
    slots: Vec<usize>,
}

impl Counted {
    /// Follows a new version: its sinks' places in `stats`, and the id of `source` in it.
    fn update(&mut self, exec: &Executor, source: &str, stats: &mut Stats) -> Option<SourceId> {
        let program = exec.program();
        self.slots = program
            .sinks
            .iter()
            .map(|s| match stats.per_sink.iter().position(|(name, _)| *name == s.name) {
                Some(at) => at,
                None => {
                    stats.per_sink.push((s.name.clone(), 0));
                    stats.per_sink.len() - 1
                }
            })
            .collect();
        program.sources.iter().position(|s| s.name == source).map(|i| SourceId(i as u32))
    }

    fn count(&self, stats: &mut Stats, sink: SinkId) {
        stats.outputs += 1;
        if let Some(&at) = self.slots.get(sink.0 as usize) {
            stats.per_sink[at].1 += 1;
        }
    }
}

/// Which input line (or record) an output comes from, and the version that made it when the
/// run follows reloads.
#[derive(Clone, Copy)]
struct Line {
    number: u64,
    version: Option<u64>,
}

/// Outputs as JSON lines, whatever their sinks' formats (people read them), counted.
struct JsonLines<'a, W: Write> {
    out: &'a mut W,
    line: Line,
    stats: &'a mut Stats,
    counted: &'a Counted,
}

impl<W: Write> Outputs for JsonLines<'_, W> {
    fn format(&self, _: SinkRef<'_>) -> WireFormat {
        WireFormat::Json
    }

    fn record(&mut self, sink: SinkRef<'_>, key: Option<Key<'_>>, bytes: &[u8], _: &Envelope) -> io::Result<()> {
        self.counted.count(self.stats, sink.id);
        write_output(self.out, &sink.name, key, bytes, self.line)
    }

    fn route(&mut self, sink: SinkRef<'_>, bytes: &[u8], _: &Envelope) -> io::Result<()> {
        self.counted.count(self.stats, sink.id);
        // JSON in, JSON shown: the original bytes, unknown fields and all.
        write_output(self.out, &sink.name, None, bytes, self.line)
    }

    fn dirty(&mut self, reason: &str, unit: Option<&str>, _: &[u8], _: &Envelope) -> io::Result<()> {
        self.stats.dirty += 1;
        write_dirty(self.out, reason, unit, self.line)
    }
}

fn trim_line(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &line[..end]
}

fn write_output(out: &mut impl Write, sink: &str, key: Option<Key<'_>>, value: &[u8], line: Line) -> io::Result<()> {
    out.write_all(b"{\"sink\":")?;
    serde_json::to_writer(&mut *out, sink)?;
    if let Some(k) = key {
        out.write_all(b",\"key\":")?;
        // The checker allows string, bytes and int keys; bytes are written as base64, as
        // protobuf's JSON mapping writes bytes, so no key is lost or made invalid UTF-8.
        match k {
            Key::Text(t) => serde_json::to_writer(&mut *out, t)?,
            Key::Bytes(b) => serde_json::to_writer(&mut *out, &base64::engine::general_purpose::STANDARD.encode(b))?,
        }
    }
    if let Some(v) = line.version {
        write!(out, ",\"version\":{v}")?;
    }
    out.write_all(b",\"value\":")?;
    out.write_all(value)?;
    out.write_all(b"}\n")
}

fn write_dirty(out: &mut impl Write, error: &str, unit: Option<&str>, line: Line) -> io::Result<()> {
    out.write_all(b"{\"sink\":\"dirty\",\"error\":")?;
    serde_json::to_writer(&mut *out, error)?;
    if let Some(u) = unit {
        out.write_all(b",\"rule\":")?;
        serde_json::to_writer(&mut *out, u)?;
    }
    if let Some(v) = line.version {
        write!(out, ",\"version\":{v}")?;
    }
    writeln!(out, ",\"line\":{}}}", line.number)
}

/// The largest protobuf record accepted; a longer announced length is bad input, not a reason
/// to allocate.
const MAX_RECORD: usize = 64 << 20;
