//! The file host: events from a file (or stdin), outputs as JSON lines.
//!
//! Input is one JSON event per line, or length-delimited protobuf records (each preceded by its
//! length as a varint). Every line is an event: a blank line is a dirty record, not skipped, so
//! that nothing in the input goes unaccounted for. Each output is one line:
//! `{"sink": NAME, "value": {...}}` (with `"key"` when `emit ... key` set one), or
//! `{"sink": "dirty", "error": REASON, "line": N}` (with `"rule"` naming a failed drop, score or
//! rule). `line` is the line number, or the record number for protobuf input.

use std::io::{self, BufRead, Read, Write};

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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub events: u64,
    pub outputs: u64,
    pub dirty: u64,
    pub dropped: u64,
}

/// Progress reporting, so that the host stays free of terminal concerns.
pub trait Progress {
    fn advance(&mut self, bytes: u64);
}

impl Progress for () {
    fn advance(&mut self, _: u64) {}
}

pub fn run(
    exec: &mut Executor,
    source: SourceId,
    format: InputFormat,
    input: impl Read,
    out: &mut impl Write,
    progress: &mut impl Progress,
) -> io::Result<Stats> {
    let mut stats = Stats::default();
    let mut outputs = Vec::new();
    let mut line = Vec::new();
    let mut reader = io::BufReader::with_capacity(1 << 16, input);
    let mut number = 0u64;
    let mut scratch = Vec::new();
    loop {
        line.clear();
        let read = match format {
            InputFormat::JsonLines => reader.read_until(b'\n', &mut line)?,
            InputFormat::DelimitedProtobuf => match read_delimited(&mut reader, &mut line) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    number += 1;
                    stats.events += 1;
                    stats.dirty += 1;
                    write_dirty(out, &e.to_string(), None, number)?;
                    break;
                }
                Err(e) => return Err(e),
            },
        };
        if read == 0 {
            break;
        }
        progress.advance(read as u64);
        number += 1;
        let bytes = match format {
            InputFormat::JsonLines => trim_line(&line),
            InputFormat::DelimitedProtobuf => &line[..],
        };
        stats.events += 1;
        outputs.clear();
        let processed = exec.process(source, bytes, &mut outputs);
        if processed.dropped_by.is_some() {
            stats.dropped += 1;
        }
        for o in &outputs {
            match o {
                Output::Dirty { error, unit } => {
                    stats.dirty += 1;
                    write_dirty(out, error, unit.as_deref(), number)?;
                }
                Output::Record { sink, key, record } => {
                    stats.outputs += 1;
                    scratch.clear();
                    encode::json::encode(exec.schema(), record, &mut scratch);
                    write_output(out, &exec.program().sinks[sink.0 as usize].name, key.as_ref(), &scratch)?;
                }
                Output::Forward { sink } => {
                    stats.outputs += 1;
                    let src_format = exec.program().sources[source.0 as usize].format;
                    // JSON in, JSON shown: the original bytes, unknown fields and all.
                    let value: &[u8] = if src_format == WireFormat::Json {
                        bytes
                    } else {
                        // The event decoded before, so it decodes again (into a value tree).
                        scratch.clear();
                        if let Ok(event) = exec.decode(source, bytes) {
                            encode::json::encode(exec.schema(), &event, &mut scratch);
                        }
                        &scratch
                    };
                    write_output(out, &exec.program().sinks[sink.0 as usize].name, None, value)?;
                }
            }
        }
    }
    out.flush()?;
    Ok(stats)
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
