//! The file host: events from a file (or stdin), outputs as JSON lines.
//!
//! Input is one JSON event per line, or length-delimited protobuf records (each preceded by its
//! length as a varint). Every line is an event: a blank line is a dirty record, not skipped, so
//! that nothing in the input goes unaccounted for. Each output is one line:
//! `{"sink": NAME, "value": {...}}` (with `"key"` when `emit ... key` set one), or
//! `{"sink": "dirty", "error": REASON, "line": N}` (with `"rule"` naming a failed drop, score or
//! rule). `line` is the line number, or the record number for protobuf input.

use std::io::{self, BufRead, Read, Write};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, TryRecvError};
use std::time::Duration;

use base64::Engine as _;

use evr_compiler::interp::value::Value;
use evr_compiler::ir::{SourceId, WireFormat};

use crate::encode;
use crate::executor::{Executor, Output};

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
    /// Outputs by sink id.
    pub per_sink: Vec<u64>,
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

/// Records read while more input was ready: their bytes end to end, and where each ends.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// Set on the last batch when the input broke off inside a record (protobuf framing).
    broken: Option<String>,
}

/// A batch is sent once it holds this much, or as soon as reading on would wait.
const BATCH: usize = 1 << 16;

/// Runs the program over every record of `input`, writing each output as a JSON line.
///
/// Input is read on a thread of its own in batches of the records that are ready, so that
/// outputs are flushed whenever the input has nothing more ready (`tail -f app.log | evr run`
/// shows each event's outputs as it comes), and a stop request is seen while a read waits.
pub fn run(
    exec: &mut Executor,
    source: SourceId,
    format: InputFormat,
    input: impl Read + Send + 'static,
    out: &mut impl Write,
    progress: &mut impl Progress,
) -> io::Result<Stats> {
    let mut stats = Stats { per_sink: vec![0; exec.program().sinks.len()], ..Stats::default() };
    let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Batch>>(4);
    // Detached: a read may wait forever (stdin), and a stop must not wait for it.
    std::thread::spawn(move || read_batches(format, input, &tx));
    let mut number = 0u64;
    let mut scratch = Vec::new();
    let mut outputs = Vec::new();
    'run: loop {
        let batch = match rx.try_recv() {
            Ok(b) => b,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                out.flush()?;
                loop {
                    if progress.stop_requested() {
                        stats.stopped = true;
                        break 'run;
                    }
                    match rx.recv_timeout(Duration::from_millis(100)) {
                        Ok(b) => break b,
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break 'run,
                    }
                }
            }
        };
        let batch = batch?;
        let mut start = 0;
        for &end in &batch.ends {
            let record = &batch.bytes[start..end];
            progress.advance((end - start) as u64);
            start = end;
            number += 1;
            let bytes = match format {
                // A byte order mark some editors write before the first line is no part of it.
                InputFormat::JsonLines if number == 1 => {
                    trim_line(record.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(record))
                }
                InputFormat::JsonLines => trim_line(record),
                InputFormat::DelimitedProtobuf => record,
            };
            stats.events += 1;
            outputs.clear();
            let processed = exec.process(source, bytes, &mut outputs);
            if processed.dropped_by.is_some() {
                stats.dropped += 1;
            }
            write_outputs(exec, source, bytes, &outputs, number, &mut stats, &mut scratch, out)?;
        }
        if let Some(why) = batch.broken {
            number += 1;
            stats.events += 1;
            stats.dirty += 1;
            write_dirty(out, &why, None, number)?;
        }
        if progress.stop_requested() {
            stats.stopped = true;
            break;
        }
    }
    out.flush()?;
    Ok(stats)
}

/// Reads records into batches until the input ends, fails, or the receiver is gone.
fn read_batches(format: InputFormat, input: impl Read, tx: &SyncSender<io::Result<Batch>>) {
    let mut reader = io::BufReader::with_capacity(BATCH, input);
    let mut batch = Batch::default();
    let mut record = Vec::new();
    loop {
        // Send what is read before a read that may wait: the records still buffered hold no
        // complete one.
        let ready = match format {
            InputFormat::JsonLines => reader.buffer().contains(&b'\n'),
            InputFormat::DelimitedProtobuf => !reader.buffer().is_empty(),
        };
        if ((!ready && !batch.ends.is_empty()) || batch.bytes.len() >= BATCH)
            && tx.send(Ok(std::mem::take(&mut batch))).is_err()
        {
            return;
        }
        record.clear();
        let read = match format {
            InputFormat::JsonLines => reader.read_until(b'\n', &mut record),
            InputFormat::DelimitedProtobuf => match read_delimited(&mut reader, &mut record) {
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    batch.broken = Some(e.to_string());
                    Ok(0)
                }
                r => r,
            },
        };
        match read {
            Ok(0) => {
                let _ = tx.send(Ok(batch));
                return;
            }
            Ok(_) => {
                batch.bytes.extend_from_slice(&record);
                batch.ends.push(batch.bytes.len());
            }
            Err(e) => {
                let _ = tx.send(Ok(std::mem::take(&mut batch)));
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn write_outputs(
    exec: &Executor,
    source: SourceId,
    bytes: &[u8],
    outputs: &[Output],
    number: u64,
    stats: &mut Stats,
    scratch: &mut Vec<u8>,
    out: &mut impl Write,
) -> io::Result<()> {
    for o in outputs {
        match o {
            Output::Dirty { error, unit } => {
                stats.dirty += 1;
                write_dirty(out, error, unit.as_deref(), number)?;
            }
            Output::Record { sink, key, record } => {
                stats.outputs += 1;
                stats.per_sink[sink.0 as usize] += 1;
                scratch.clear();
                encode::json::encode(exec.schema(), record, scratch);
                write_output(out, &exec.program().sinks[sink.0 as usize].name, key.as_ref(), scratch)?;
            }
            Output::Forward { sink } => {
                stats.outputs += 1;
                stats.per_sink[sink.0 as usize] += 1;
                let src_format = exec.program().sources[source.0 as usize].format;
                // JSON in, JSON shown: the original bytes, unknown fields and all.
                let value: &[u8] = if src_format == WireFormat::Json {
                    bytes
                } else {
                    // The event decoded before, so it decodes again (into a value tree).
                    scratch.clear();
                    if let Ok(event) = exec.decode(source, bytes) {
                        encode::json::encode(exec.schema(), &event, scratch);
                    }
                    scratch
                };
                write_output(out, &exec.program().sinks[sink.0 as usize].name, None, value)?;
            }
        }
    }
    Ok(())
}

fn trim_line(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &line[..end]
}

fn write_output(out: &mut impl Write, sink: &str, key: Option<&Value>, value: &[u8]) -> io::Result<()> {
    out.write_all(b"{\"sink\":")?;
    serde_json::to_writer(&mut *out, sink)?;
    if let Some(k) = key {
        out.write_all(b",\"key\":")?;
        // The checker allows string, bytes and int keys; bytes are written as base64, as
        // protobuf's JSON mapping writes bytes, so no key is lost or made invalid UTF-8.
        let text = match k {
            Value::Str(s) => s.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Bytes(b) => base64::engine::general_purpose::STANDARD.encode(b),
            _ => String::new(),
        };
        serde_json::to_writer(&mut *out, &text)?;
    }
    out.write_all(b",\"value\":")?;
    out.write_all(value)?;
    out.write_all(b"}\n")
}

fn write_dirty(out: &mut impl Write, error: &str, unit: Option<&str>, line: u64) -> io::Result<()> {
    out.write_all(b"{\"sink\":\"dirty\",\"error\":")?;
    serde_json::to_writer(&mut *out, error)?;
    if let Some(u) = unit {
        out.write_all(b",\"rule\":")?;
        serde_json::to_writer(&mut *out, u)?;
    }
    writeln!(out, ",\"line\":{line}}}")
}

/// The largest protobuf record accepted; a longer announced length is bad input, not a reason
/// to allocate.
const MAX_RECORD: usize = 64 << 20;

/// Reads one varint-length-prefixed record into `buf`; 0 at a clean end of input.
fn read_delimited(r: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut len: u64 = 0;
    let mut shift = 0;
    let mut prefix = 0;
    loop {
        let mut byte = [0u8; 1];
        if r.read(&mut byte)? == 0 {
            if prefix == 0 {
                return Ok(0);
            }
            return Err(io::Error::new(io::ErrorKind::InvalidData, "input ends inside a record's length"));
        }
        prefix += 1;
        len |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "a record's length is not a valid varint"));
        }
    }
    if len > MAX_RECORD as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a record announces {len} bytes, more than {MAX_RECORD}"),
        ));
    }
    let len = len as usize;
    buf.resize(len, 0);
    r.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            io::Error::new(io::ErrorKind::InvalidData, format!("input ends inside a record of {len} bytes"))
        } else {
            e
        }
    })?;
    Ok(prefix + len)
}
