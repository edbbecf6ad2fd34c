//! Decoding events into values, by the source's message type and wire format. A failure is a
//! reason for the dirty stream, never a panic.

pub mod fast;
pub mod json;
pub mod plan;
pub mod protobuf;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use evr_compiler::ir::WireFormat;
use evr_compiler::schema::{MessageId, Schema};
use evr_compiler::value::Value;

#[derive(Clone, Debug, PartialEq)]
pub struct DecodeError {
    pub reason: String,
}

impl DecodeError {
    pub fn new(reason: impl Into<String>) -> DecodeError {
        DecodeError { reason: reason.into() }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// One decoded scalar. Strings and bytes borrow the input when they can be used as they are.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar<'i> {
    Bool(bool),
    Int(i64),
    Float(f64),
    Enum(i32),
    /// Milliseconds.
    Duration(i64),
    Str(Cow<'i, str>),
    Bytes(Cow<'i, [u8]>),
}

impl Scalar<'_> {
    pub fn into_value(self) -> Value {
        match self {
            Scalar::Bool(b) => Value::Bool(b),
            Scalar::Int(i) => Value::Int(i),
            Scalar::Float(f) => Value::Float(f),
            Scalar::Enum(e) => Value::Enum(e),
            Scalar::Duration(d) => Value::Duration(d),
            Scalar::Str(s) => Value::Str(Arc::from(&*s)),
            Scalar::Bytes(b) => Value::Bytes(Arc::from(&*b)),
        }
    }
}

/// Where in the event a value sits, for messages: `user.user_id`, `items[2].price`.
pub(crate) struct Path<'a> {
    pub parent: Option<&'a Path<'a>>,
    pub segment: Segment<'a>,
}

pub(crate) enum Segment<'a> {
    Root,
    Field(&'a str),
    Index(usize),
    Key(&'a str),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.parent {
            write!(f, "{p}")?;
        }
        match self.segment {
            Segment::Root => Ok(()),
            Segment::Field(name) if matches!(self.parent.map(|p| &p.segment), Some(Segment::Root) | None) => {
                f.write_str(name)
            }
            Segment::Field(name) => write!(f, ".{name}"),
            Segment::Index(i) => write!(f, "[{i}]"),
            Segment::Key(k) => write!(f, "[{k:?}]"),
        }
    }
}

impl Path<'_> {
    pub const ROOT: Path<'static> = Path { parent: None, segment: Segment::Root };

    /// `what` said of this place.
    pub fn says(&self, what: impl fmt::Display) -> String {
        if matches!(self.segment, Segment::Root) { what.to_string() } else { format!("{self}: {what}") }
    }
}

/// The field a JSON key names (its proto name or its JSON name); every JSON decoder finds
/// fields here, so that all of them agree.
pub(crate) fn field_index(msg: &evr_compiler::schema::Message, key: &str) -> Option<usize> {
    // Keys are short: comparing bytes inline beats a call to `memcmp` per field.
    let same = |name: &str| name.len() == key.len() && name.bytes().zip(key.bytes()).all(|(a, b)| a == b);
    msg.fields.iter().position(|f| same(&f.name) || same(&f.json_name))
}

/// Decodes an event into a value tree.
pub fn decode(schema: &Schema, ty: MessageId, format: WireFormat, bytes: &[u8]) -> Result<Value, DecodeError> {
    match format {
        WireFormat::Json => json::decode(schema, ty, bytes),
        WireFormat::Protobuf => protobuf::decode(schema, ty, bytes),
    }
}

/// Decodes an event into its frame: the slots `plan` names are filled, everything else is
/// checked exactly as [`decode`] checks it, so both fail on the same events with the same reasons.
pub fn decode_into(
    schema: &Schema,
    ty: MessageId,
    format: WireFormat,
    bytes: &[u8],
    out: &mut plan::FrameOut,
) -> Result<(), DecodeError> {
    out.reset();
    match format {
        WireFormat::Json if fast::decode_into(schema, ty, bytes, out) => {}
        WireFormat::Json => {
            // Not plain enough for the fast path: the serde path decides, from a clean frame.
            out.reset();
            json::decode_into(schema, ty, bytes, out)?
        }
        WireFormat::Protobuf => protobuf::decode_into(schema, ty, bytes, out)?,
    }
    out.finish();
    Ok(())
}
