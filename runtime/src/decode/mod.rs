//! Decoding events into values, by the source's message type and wire format. A failure is a
//! reason for the dirty stream, never a panic.

pub mod json;
pub mod protobuf;

use std::fmt;

use evr_compiler::interp::value::Value;
use evr_compiler::ir::WireFormat;
use evr_compiler::schema::{MessageId, Schema};

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

pub fn decode(schema: &Schema, ty: MessageId, format: WireFormat, bytes: &[u8]) -> Result<Value, DecodeError> {
    match format {
        WireFormat::Json => json::decode(schema, ty, bytes),
        WireFormat::Protobuf => protobuf::decode(schema, ty, bytes),
    }
}
